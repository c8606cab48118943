//! The parts every PCM resource shares: attributes without their null members, and PCM's `meta`.

use serde_json::{Map, Value};

/// An object without its null members, as Elastic Path leaves out absent attributes.
pub(crate) fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

/// PCM's `meta`: `created_at`, `updated_at` and `owner`, plus the members of `extra`.
pub(crate) fn meta(created_at: i64, updated_at: i64, extra: Value) -> Value {
    let mut meta = Map::new();
    meta.insert("created_at".into(), kassa_core::time::rfc3339(created_at).into());
    meta.insert("updated_at".into(), kassa_core::time::rfc3339(updated_at).into());
    meta.insert("owner".into(), "store".into());
    if let Value::Object(extra) = extra {
        meta.extend(extra);
    }
    Value::Object(meta)
}
