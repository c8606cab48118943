//! A variation (`product-variation`), its options (`product-variation-option`) and their
//! modifiers (`product-variation-modifier`), as `pim.yaml` shapes them.

use kassa_core::time::rfc3339;
use kassa_core::variations::{Modifier, Variation, VariationOption, VariationTree};
use serde_json::{Value, json};

use crate::envelope::Origin;
use crate::views::pcm::{compact, meta};

/// A variation; with its options (`meta.options`) when read alone.
pub(crate) fn render(v: &Variation, options: Option<&[&VariationOption]>, origin: &Origin) -> Value {
    let extra = match options {
        Some(options) => json!({
            "options": options.iter().map(|o| compact(json!({
                "id": o.id,
                "name": o.name,
                "description": o.description,
                "sort_order": o.sort_order,
                "created_at": rfc3339(o.created_at),
                "updated_at": rfc3339(o.updated_at),
            }))).collect::<Vec<_>>(),
        }),
        None => Value::Null,
    };
    json!({
        "type": "product-variation",
        "id": v.id,
        "attributes": compact(json!({ "name": v.name, "sort_order": v.sort_order })),
        "meta": meta(v.created_at, v.updated_at, extra),
        "links": { "self": origin.url(&format!("/pcm/variations/{}", v.id)) },
    })
}

pub(crate) fn render_tree(tree: &VariationTree, origin: &Origin) -> Value {
    let options: Vec<&VariationOption> = tree.options.iter().map(|o| &o.option).collect();
    render(&tree.variation, Some(&options), origin)
}

pub(crate) fn render_option(o: &VariationOption, origin: &Origin) -> Value {
    json!({
        "type": "product-variation-option",
        "id": o.id,
        "attributes": compact(json!({
            "name": o.name,
            "description": o.description,
            "sort_order": o.sort_order,
        })),
        "meta": meta(o.created_at, o.updated_at, Value::Null),
        "links": {
            "self": origin.url(&format!("/pcm/variations/{}/options/{}", o.variation_id, o.id)),
        },
    })
}

pub(crate) fn render_modifier(m: &Modifier) -> Value {
    json!({
        "type": "product-variation-modifier",
        "id": m.id,
        "attributes": compact(json!({
            "type": m.kind,
            "value": m.value,
            "seek": m.seek,
            "set": m.set,
            "reference_name": m.reference_name,
        })),
        "meta": meta(m.created_at, m.updated_at, Value::Null),
    })
}
