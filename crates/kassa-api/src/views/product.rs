//! A PCM product (`/pcm/products`, and a hierarchy node's products).

use kassa_core::catalog::Product;
use serde_json::{Value, json};

use crate::envelope::Origin;
use crate::views::pcm::{compact, meta};

/// A product as `/pcm/products` shows it, with its build rules (`attributes.build_rules`).
pub(crate) fn render_with_rules(
    p: &Product,
    rules: Option<&kassa_core::variations::BuildRules>,
    origin: &Origin,
) -> Value {
    let mut product = render(p, origin);
    if let Some(rules) = rules {
        product["attributes"]["build_rules"] = json!(rules);
    }
    product
}

pub(crate) fn render(p: &Product, origin: &Origin) -> Value {
    let mut relationships = json!({
        "files": {
            "data": p.files.iter().map(|f| json!({ "type": "file", "id": f })).collect::<Vec<_>>(),
            "links": { "self": origin.url(&format!("/pcm/products/{}/relationships/files", p.id)) },
        },
        "main_image": { "data": p.main_image.map(|f| json!({ "type": "file", "id": f })) },
    });
    if p.is_bundle() {
        relationships["component_products"] = json!({
            "data": kassa_core::bundles::option_ids(&p.components)
                .into_iter()
                .map(|id| json!({ "type": "product", "id": id }))
                .collect::<Vec<_>>(),
            "links": { "self": origin.url(&format!("/pcm/products/{}/relationships/component_products", p.id)) },
        });
    }
    if let Some(parent) = p.parent_id {
        relationships["base_product"] = json!({ "data": { "type": "product", "id": parent } });
    }
    let mut extra = json!({ "product_types": [p.product_type()] });
    if !p.child_options.is_empty() {
        extra["child_option_ids"] = json!(p.child_options);
    }
    json!({
        "type": "product",
        "id": p.id,
        "attributes": compact(json!({
            "name": p.name,
            "sku": p.sku,
            "slug": p.slug,
            "description": p.description,
            "status": p.status,
            "commodity_type": p.commodity_type,
            "upc_ean": p.upc_ean,
            "mpn": p.mpn,
            "external_ref": p.external_ref,
            "extensions": p.extensions,
            "components": p.is_bundle().then_some(&p.components),
        })),
        "relationships": relationships,
        "meta": meta(p.created_at, p.updated_at, extra),
        "links": { "self": origin.url(&format!("/pcm/products/{}", p.id)) },
    })
}
