//! Product catalog administration: products, hierarchies with their nodes, and price books.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::pricing::PriceSheet;
use crate::time::Millis;

/// A product's `extensions`, kept as given as compact JSON text (members sorted by name, as
/// `serde_json::Value` writes them) rather than as a parsed tree: for the bench's one-attribute
/// extensions the tree costs ~1.3 KB a product (two `BTreeMap` nodes), which a release of
/// 100,000 products keeps in memory. Parsed only where it is taken apart (the search index).
#[derive(Debug, Clone)]
pub struct Extensions(Box<RawValue>);

impl Extensions {
    pub fn new(value: &Value) -> Self {
        // Serialising a `Value` cannot fail: its map keys are strings.
        Self(serde_json::value::to_raw_value(value).expect("a JSON value serialises"))
    }

    /// Extensions as a database keeps them, written again in kassa's form (PostgreSQL's `jsonb`
    /// text has spaces and its own member order). `None` for text that is not JSON.
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_str::<Value>(text).ok().map(|v| Self::new(&v))
    }

    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }

    pub fn is_null(&self) -> bool {
        self.0.get() == "null"
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for Extensions {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for Extensions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Taken as it is written: what kassa deserialises (a release snapshot) it wrote itself.
impl<'de> Deserialize<'de> for Extensions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Self)
    }
}

wire_enum!(
    /// Whether shoppers may see a product (once published). Kept as an enum, not a `String`: a
    /// released product holds two such values, as strings ~60 bytes and two allocations.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    ProductStatus { Live => "live", Draft => "draft" }
);

wire_enum!(
    /// Whether a product is shipped.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    CommodityType { Physical => "physical", Digital => "digital" }
);

/// The names of [`ProductStatus`] and [`CommodityType`], as validation errors list them.
pub const PRODUCT_STATUSES: &[&str] = &["live", "draft"];
pub const COMMODITY_TYPES: &[&str] = &["physical", "digital"];

/// A product of the catalog (PCM). Its texts are `Box<str>` and its lists boxed slices, not
/// `String`s and `Vec`s: a product's values are replaced, never grown, and a published release
/// keeps every product in memory, where a capacity word costs 8 bytes a product per field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: Uuid,
    pub name: Box<str>,
    /// Unique among products when present.
    pub sku: Option<Box<str>>,
    /// Unique among products when present.
    pub slug: Option<Box<str>>,
    pub description: Option<Box<str>>,
    pub status: ProductStatus,
    pub commodity_type: CommodityType,
    pub upc_ean: Option<Box<str>>,
    pub mpn: Option<Box<str>>,
    pub external_ref: Option<Box<str>>,
    /// Kept as given.
    pub extensions: Option<Extensions>,
    /// The file shown as the product's picture (`relationships.main_image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_image: Option<Uuid>,
    /// The product's other files (`relationships.files`), in the order they were attached.
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub files: Box<[Uuid]>,
    /// A child product's parent: the product it was built from (`POST /pcm/products/{id}/build`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Uuid>,
    /// A child product's variation options, one per variation, sorted by id: with `parent_id`,
    /// unique among products ([`crate::variations`]).
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub child_options: Box<[Uuid]>,
    /// Whether children have been built from the product (read with it; never written).
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_parent: bool,
    /// A bundle's components by key ([`crate::bundles`]); empty for any other product.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub components: crate::bundles::Components,
    pub created_at: Millis,
    pub updated_at: Millis,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl Product {
    /// Whether the product is a bundle: it has components.
    pub fn is_bundle(&self) -> bool {
        !self.components.is_empty()
    }

    /// Elastic Path's product type: `parent` once children are built, `child` for one of them,
    /// else `standard`.
    pub fn product_type(&self) -> &'static str {
        if self.is_bundle() {
            "bundle"
        } else if self.parent_id.is_some() {
            "child"
        } else if self.is_parent {
            "parent"
        } else {
            "standard"
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// A catalog's price book and its priority: of the books that price a sku, the highest
/// priority decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrioritizedPricebook {
    pub id: Uuid,
    pub priority: i64,
}

/// A catalog at most this many price books (Elastic Path's `prioritized-pricebooks`).
pub const MAX_CATALOG_PRICEBOOKS: usize = 5;

/// What shoppers may see: hierarchies and prioritized price books. Shoppers see a catalog only
/// through its published releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// In the order given.
    pub hierarchy_ids: Vec<Uuid>,
    /// In the order given; at most [`MAX_CATALOG_PRICEBOOKS`].
    pub pricebooks: Vec<PrioritizedPricebook>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A published release keeps every product in memory (100,000 of them in the benchmark).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_product_stays_small() {
        let size = std::mem::size_of::<Product>();
        assert!(size <= 256, "a product is {size} bytes");
    }

    #[test]
    fn product_keywords_are_written_and_listed_by_their_wire_names() {
        let names = |all: &[&str], of: Vec<&'static str>| assert_eq!(all, of.as_slice());
        names(
            PRODUCT_STATUSES,
            ProductStatus::ALL.iter().map(|s| s.as_str()).collect(),
        );
        names(
            COMMODITY_TYPES,
            CommodityType::ALL.iter().map(|c| c.as_str()).collect(),
        );
        for status in ProductStatus::ALL {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str(), "a release snapshot keeps the wire name");
            assert_eq!(serde_json::from_value::<ProductStatus>(json).unwrap(), *status);
        }
        for commodity in CommodityType::ALL {
            let json = serde_json::to_value(commodity).unwrap();
            assert_eq!(json, commodity.as_str());
            assert_eq!(serde_json::from_value::<CommodityType>(json).unwrap(), *commodity);
        }
        assert_eq!(ProductStatus::parse("Live"), None, "names are case-sensitive");
    }

    #[test]
    fn extensions_are_kept_as_compact_json_with_sorted_members() {
        // PostgreSQL's `jsonb` text: spaces, and members by length before name.
        let stored =
            Extensions::parse(r#"{"shirt": {"fit": "slim", "colour": "red"}, "a": [1, true, null]}"#)
                .unwrap();
        assert_eq!(
            stored.as_str(),
            r#"{"a":[1,true,null],"shirt":{"colour":"red","fit":"slim"}}"#
        );
        assert_eq!(stored, Extensions::new(&stored.to_value()));
        assert_eq!(serde_json::to_string(&stored).unwrap(), stored.as_str());
        assert!(Extensions::parse("not json").is_none());
        assert!(Extensions::parse("null").unwrap().is_null());
        assert!(!stored.is_null());
        // A product read back from a release snapshot keeps them as written.
        let product: serde_json::Value = serde_json::json!({"extensions": stored, "id": "x"});
        let read: Extensions = serde_json::from_value(product["extensions"].clone()).unwrap();
        assert_eq!(read, stored);
        let read: Extensions = serde_json::from_str(stored.as_str()).unwrap();
        assert_eq!(read, stored);
    }
}
