//! A product of the shopper catalog (`/catalog/products`, and the hits of
//! `/catalog/multi-search`): the released product priced for one unit at a moment in the
//! shopper's currency.

use kassa_core::catalog_filter::product_types;
use kassa_core::money::Currency;
use kassa_core::pricing::CurrencyPrice;
use kassa_core::release::ReleasedProduct;
use kassa_core::time::{Millis, rfc3339};
use serde_json::{Map, Value, json};

use crate::catalog_view::{ShopperRelease, price_product};
use crate::envelope::Origin;
use crate::views::pcm::compact;

fn formatted(currency: &Currency, amount: i64) -> Value {
    json!({
        "amount": amount,
        "currency": currency.code,
        "formatted": currency.money.format(amount),
        "float_price": currency.money.float(amount),
    })
}

/// `with_tax` and `without_tax`: the same amount, as there is no tax engine.
fn display(currency: &Currency, amount: i64) -> Value {
    json!({ "with_tax": formatted(currency, amount), "without_tax": formatted(currency, amount) })
}

fn amount(price: &CurrencyPrice) -> Value {
    json!({ "amount": price.amount, "includes_tax": price.includes_tax })
}

/// A product priced for one unit at `now`.
pub(crate) fn render(
    r: &ShopperRelease,
    p: &ReleasedProduct,
    currency: &Currency,
    now: Millis,
    origin: &Origin,
) -> Value {
    let product = &p.product;
    let mut meta = Map::new();
    meta.insert("catalog_id".into(), json!(r.catalog_id()));
    meta.insert("release_id".into(), json!(r.release.id));
    meta.insert("catalog_source".into(), json!("pim"));
    meta.insert("bread_crumb_nodes".into(), json!(p.node_ids));
    // Storefronts choose the product page's layout by the first type.
    meta.insert("product_types".into(), json!(product_types(product)));
    let mut price = None;
    if let Some(sku) = product.sku.as_deref()
        && let Some((pricebook_id, sheet)) = r.deciding_sheet(sku)
    {
        price = Some(serde_json::to_value(&sheet.currencies).unwrap_or_default());
        meta.insert("pricebook_id".into(), json!(pricebook_id));
        if let Ok(resolved) = price_product(r, sku, &currency.code, 1, now) {
            meta.insert("display_price".into(), display(currency, resolved.amount));
            // The tiers of the price that applies: the sale's while a sale runs.
            let applying = match &resolved.sale_id {
                Some(sale) => sheet
                    .sales
                    .get(sale)
                    .and_then(|s| s.currencies.get(&currency.code)),
                None => sheet.currencies.get(&currency.code),
            };
            if let Some(original) = &resolved.original {
                let list = json!({ currency.code.clone(): { "amount": original.amount, "includes_tax": original.includes_tax } });
                meta.insert("original_price".into(), list);
                meta.insert(
                    "original_display_price".into(),
                    display(currency, original.amount),
                );
                meta.insert("sale_id".into(), json!(resolved.sale_id));
                meta.insert("sale_expires".into(), json!(resolved.sale_expires.map(rfc3339)));
            }
            if let Some(applying) = applying.filter(|a| !a.tiers.is_empty()) {
                let tiers: Map<String, Value> = applying
                    .tiers
                    .iter()
                    .map(|(name, t)| {
                        let price = CurrencyPrice {
                            amount: t.amount,
                            includes_tax: applying.includes_tax,
                            tiers: Default::default(),
                        };
                        (
                            name.clone(),
                            json!({
                                "minimum_quantity": t.minimum_quantity,
                                "price": { currency.code.clone(): amount(&price) },
                                "display_price": display(currency, t.amount),
                            }),
                        )
                    })
                    .collect();
                meta.insert("tiers".into(), Value::Object(tiers));
            }
        }
    }
    let mut rendered = json!({
        "type": "product",
        "id": product.id,
        "attributes": compact(json!({
            "name": product.name,
            "sku": product.sku,
            "slug": product.slug,
            "description": product.description,
            "status": product.status,
            "commodity_type": product.commodity_type,
            "upc_ean": product.upc_ean,
            "mpn": product.mpn,
            "external_ref": product.external_ref,
            "extensions": product.extensions,
            "price": price,
            "published_at": rfc3339(r.release.published_at),
            "created_at": rfc3339(product.created_at),
            "updated_at": rfc3339(product.updated_at),
        })),
        "meta": meta,
        "links": { "self": origin.url(&format!("/catalog/products/{}", product.id)) },
    });
    if let Some(relationships) = media_relationships(r, p) {
        rendered["relationships"] = relationships;
    }
    rendered
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
