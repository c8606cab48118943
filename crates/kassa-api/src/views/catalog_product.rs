//! A product of the shopper catalog (`/catalog/products`, and the hits of
//! `/catalog/multi-search`): the released product priced for one unit at a moment in the
//! shopper's currency.

use std::collections::BTreeMap;

use kassa_core::catalog_filter::product_types;
use kassa_core::money::Currency;
use kassa_core::pricing::CurrencyPrice;
use kassa_core::release::ReleasedProduct;
use kassa_core::time::{Millis, rfc3339};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::catalog_view::{ShopperRelease, price_product};
use crate::envelope::Origin;

/// A product of the shopper catalog, serialised straight from the release it borrows from: a
/// search page renders twenty of these, so no text or extension is copied into a `Value` tree.
#[derive(Serialize)]
pub(crate) struct CatalogProduct<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: Uuid,
    attributes: Attributes<'a>,
    meta: Meta<'a>,
    links: SelfLink,
    #[serde(skip_serializing_if = "Option::is_none")]
    relationships: Option<Value>,
}

/// The product's attributes; absent values are left out, as Elastic Path does.
#[derive(Serialize)]
struct Attributes<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sku: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slug: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    status: &'a str,
    commodity_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    upc_ean: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mpn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_ref: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extensions: Option<&'a Value>,
    /// The deciding price book's prices, every currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<&'a BTreeMap<String, CurrencyPrice>>,
    published_at: String,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize)]
struct Meta<'a> {
    catalog_id: Uuid,
    release_id: Uuid,
    catalog_source: &'static str,
    bread_crumb_nodes: &'a [Uuid],
    /// Storefronts choose the product page's layout by the first type.
    product_types: &'static [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    pricebook_id: Option<Uuid>,
    #[serde(flatten)]
    price: Option<PriceMeta<'a>>,
}

/// The product's price for one unit at a moment, in the shopper's currency.
#[derive(Serialize)]
struct PriceMeta<'a> {
    display_price: Display<'a>,
    #[serde(flatten)]
    sale: Option<SaleMeta<'a>>,
    /// The tiers of the price that applies: the sale's while a sale runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    tiers: Option<BTreeMap<&'a str, TierMeta<'a>>>,
}

/// While a sale runs: the list price it replaces, and the sale.
#[derive(Serialize)]
struct SaleMeta<'a> {
    original_price: BTreeMap<&'a str, Amount>,
    original_display_price: Display<'a>,
    sale_id: Option<String>,
    sale_expires: Option<String>,
}

#[derive(Serialize)]
struct TierMeta<'a> {
    minimum_quantity: i64,
    price: BTreeMap<&'a str, Amount>,
    display_price: Display<'a>,
}

#[derive(Serialize)]
struct Amount {
    amount: i64,
    includes_tax: bool,
}

/// `with_tax` and `without_tax`: the same amount, as there is no tax engine.
#[derive(Serialize)]
struct Display<'a> {
    with_tax: Formatted<'a>,
    without_tax: Formatted<'a>,
}

#[derive(Serialize, Clone)]
struct Formatted<'a> {
    amount: i64,
    currency: &'a str,
    formatted: String,
    float_price: f64,
}

#[derive(Serialize)]
struct SelfLink {
    #[serde(rename = "self")]
    self_: String,
}

fn display(currency: &Currency, amount: i64) -> Display<'_> {
    let formatted = Formatted {
        amount,
        currency: &currency.code,
        formatted: currency.money.format(amount),
        float_price: currency.money.float(amount),
    };
    Display {
        with_tax: formatted.clone(),
        without_tax: formatted,
    }
}

/// A product priced for one unit at `now`.
pub(crate) fn render<'a>(
    r: &'a ShopperRelease,
    p: &'a ReleasedProduct,
    currency: &'a Currency,
    now: Millis,
    origin: &Origin,
) -> CatalogProduct<'a> {
    let product = &p.product;
    let sheet = product.sku.as_deref().and_then(|sku| r.deciding_sheet(sku));
    let price = sheet.and_then(|(_, sheet)| {
        let resolved = price_product(r, product.sku.as_deref()?, &currency.code, 1, now).ok()?;
        let applying = match &resolved.sale_id {
            Some(sale) => sheet
                .sales
                .get(sale)
                .and_then(|s| s.currencies.get(&currency.code)),
            None => sheet.currencies.get(&currency.code),
        };
        let code = currency.code.as_str();
        let sale = resolved.original.as_ref().map(|original| SaleMeta {
            original_price: BTreeMap::from([(
                code,
                Amount {
                    amount: original.amount,
                    includes_tax: original.includes_tax,
                },
            )]),
            original_display_price: display(currency, original.amount),
            sale_id: resolved.sale_id.clone(),
            sale_expires: resolved.sale_expires.map(rfc3339),
        });
        let tiers = applying.filter(|a| !a.tiers.is_empty()).map(|applying| {
            applying
                .tiers
                .iter()
                .map(|(name, t)| {
                    let tier = TierMeta {
                        minimum_quantity: t.minimum_quantity,
                        price: BTreeMap::from([(
                            code,
                            Amount {
                                amount: t.amount,
                                includes_tax: applying.includes_tax,
                            },
                        )]),
                        display_price: display(currency, t.amount),
                    };
                    (name.as_str(), tier)
                })
                .collect()
        });
        Some(PriceMeta {
            display_price: display(currency, resolved.amount),
            sale,
            tiers,
        })
    });
    CatalogProduct {
        kind: "product",
        id: product.id,
        attributes: Attributes {
            name: &product.name,
            sku: product.sku.as_deref(),
            slug: product.slug.as_deref(),
            description: product.description.as_deref(),
            status: &product.status,
            commodity_type: &product.commodity_type,
            upc_ean: product.upc_ean.as_deref(),
            mpn: product.mpn.as_deref(),
            external_ref: product.external_ref.as_deref(),
            extensions: product.extensions.as_ref().filter(|e| !e.is_null()),
            price: sheet.map(|(_, sheet)| &sheet.currencies),
            published_at: rfc3339(r.release.published_at),
            created_at: rfc3339(product.created_at),
            updated_at: rfc3339(product.updated_at),
        },
        meta: Meta {
            catalog_id: r.catalog_id(),
            release_id: r.release.id,
            catalog_source: "pim",
            bread_crumb_nodes: &p.node_ids,
            product_types: product_types(product),
            pricebook_id: sheet.map(|(id, _)| id),
            price,
        },
        links: SelfLink {
            self_: origin.url(&format!("/catalog/products/{}", product.id)),
        },
        relationships: media_relationships(r, p),
    }
}

fn media_relationships(r: &ShopperRelease, p: &ReleasedProduct) -> Option<Value> {
    let product = &p.product;
    if product.main_image.is_none() && product.files.is_empty() {
        return None;
    }
    let mut relationships = Map::new();
    if let Some(id) = product.main_image {
        relationships.insert(
            "main_image".into(),
            json!({ "data": { "type": "main_image", "id": id } }),
        );
    }
    if !product.files.is_empty() {
        let data: Vec<Value> = product
            .files
            .iter()
            .map(|id| {
                let mut reference = json!({ "type": "file", "id": id });
                if let Some(f) = r.file(*id) {
                    reference["created_at"] = json!(rfc3339(f.created_at));
                }
                reference
            })
            .collect();
        relationships.insert("files".into(), json!({ "data": data }));
    }
    Some(Value::Object(relationships))
}
