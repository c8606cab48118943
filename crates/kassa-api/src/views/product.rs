//! A PCM product (`/pcm/products`, and a hierarchy node's products).

use kassa_core::catalog::Product;
use serde_json::{Value, json};

use crate::envelope::Origin;
use crate::views::pcm::{compact, meta};

pub(crate) fn render(p: &Product, origin: &Origin) -> Value {
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
        })),
        "relationships": {
            "files": {
                "data": p.files.iter().map(|f| json!({ "type": "file", "id": f })).collect::<Vec<_>>(),
                "links": { "self": origin.url(&format!("/pcm/products/{}/relationships/files", p.id)) },
            },
            "main_image": { "data": p.main_image.map(|f| json!({ "type": "file", "id": f })) },
        },
        "meta": meta(p.created_at, p.updated_at, json!({"product_types": ["standard"]})),
        "links": { "self": origin.url(&format!("/pcm/products/{}", p.id)) },
    })
}
