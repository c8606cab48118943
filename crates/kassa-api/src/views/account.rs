//! Accounts, their memberships and account members.

use kassa_core::account::{Account, Member, Membership};
use serde_json::{Value, json};

use crate::envelope::{self, Origin};
use crate::error::ApiError;

pub(crate) fn account_not_found() -> ApiError {
    ApiError::not_found("Not Found", "account not found")
}

pub(crate) fn render_account(a: &Account, origin: &Origin) -> Value {
    let mut v = json!({
        "type": "account",
        "id": a.id,
        "name": a.name,
        "legal_name": a.legal_name,
        "registration_id": a.registration_id,
        "external_ref": a.external_ref,
        "meta": { "timestamps": envelope::timestamps(a.created_at, a.updated_at) },
        "links": { "self": origin.url(&format!("/v2/accounts/{}", a.id)) },
    });
    if let Some(parent) = a.parent_id {
        v["parent_id"] = json!(parent);
        v["relationships"] = json!({ "parent": { "data": { "type": "account", "id": parent } } });
    }
    v
}

pub(crate) fn render_membership(m: &Membership, origin: &Origin) -> Value {
    json!({
        "type": "account_membership",
        "id": m.id,
        "account_member_id": m.member_id,
        "relationships": {
            "account_member": { "data": { "type": "account_member", "id": m.member_id } },
            "account": { "data": { "type": "account", "id": m.account_id } },
        },
        "meta": { "timestamps": envelope::timestamps(m.created_at, m.updated_at) },
        "links": { "self": origin.url(&format!("/v2/accounts/{}/account-memberships/{}", m.account_id, m.id)) },
    })
}

pub(crate) fn render_member(m: &Member, origin: &Origin) -> Value {
    json!({
        "type": "account_member",
        "id": m.id,
        "name": m.name,
        "email": m.email,
        "meta": { "timestamps": envelope::timestamps(m.created_at, m.updated_at) },
        "links": { "self": origin.url(&format!("/v2/account-members/{}", m.id)) },
    })
}
