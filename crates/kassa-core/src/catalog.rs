//! Product catalog administration: products, hierarchies with their nodes, and price books.

use serde_json::Value;
use uuid::Uuid;

use crate::pricing::PriceSheet;
use crate::time::Millis;

pub const PRODUCT_STATUSES: &[&str] = &["live", "draft"];
pub const COMMODITY_TYPES: &[&str] = &["physical", "digital"];

#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: Uuid,
    pub name: String,
    /// Unique among products when present.
    pub sku: Option<String>,
    /// Unique among products when present.
    pub slug: Option<String>,
    pub description: Option<String>,
    /// `live` or `draft`.
    pub status: String,
    /// `physical` or `digital`.
    pub commodity_type: String,
    pub upc_ean: Option<String>,
    pub mpn: Option<String>,
    pub external_ref: Option<String>,
    /// Kept as given.
    pub extensions: Option<Value>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub slug: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A node of a hierarchy; `parent_id: None` is a top-level node. Names and slugs are unique
/// among siblings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: Uuid,
    pub hierarchy_id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub description: Option<String>,
    pub slug: Option<String>,
    pub sort_order: Option<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricebook {
    pub id: Uuid,
    /// Unique among price books.
    pub name: String,
    pub description: Option<String>,
    pub external_ref: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A `product-price`: one per sku per price book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPrice {
    pub id: Uuid,
    pub pricebook_id: Uuid,
    pub sku: String,
    pub external_ref: Option<String>,
    pub prices: PriceSheet,
    pub created_at: Millis,
    pub updated_at: Millis,
}
