//! `meta.timestamps`.

use kassa_core::time::{Millis, rfc3339};
use serde::Serialize;

/// `meta.timestamps`, in RFC 3339; only a cart expires, only a paid order has `fully_paid_at`.
#[derive(Serialize, Clone)]
pub(crate) struct TimestampsView {
    pub(crate) created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fully_paid_at: Option<String>,
    pub(crate) updated_at: String,
}

impl TimestampsView {
    /// `created_at` and `updated_at` only.
    pub(crate) fn of(created_at: Millis, updated_at: Millis) -> Self {
        Self {
            created_at: rfc3339(created_at),
            expires_at: None,
            fully_paid_at: None,
            updated_at: rfc3339(updated_at),
        }
    }
}
