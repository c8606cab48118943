//! `/v2/accounts` and their memberships, and `/v2/settings/account-membership`. Admins manage
//! everything; a shopper holding an account token reads their own account and its memberships,
//! renames their own account, and gets 404 for any other account.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use kassa_core::Validator;
use kassa_core::account::{Account, MAX_MEMBERSHIP_LIMIT, Member, Membership};
use kassa_core::integrations::{Event, EventKind, deleted_payload};
use kassa_core::query::{self, FieldKind, FieldSpec, TEXT_OPS, TIME_OPS};
use kassa_core::time::now_millis;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{AccountScope, Admin, Shopper};
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, nullable, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::account::{account_not_found, render_account, render_member, render_membership};

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/accounts", get(list).post(create))
        .route("/v2/accounts/{id}", get(read).put(update).delete(remove))
        .route(
            "/v2/accounts/{id}/account-memberships",
            get(list_memberships).post(create_membership),
        )
        .route(
            "/v2/accounts/{id}/account-memberships/unassigned-account-members",
            get(unassigned),
        )
        .route(
            "/v2/accounts/{id}/account-memberships/{membership_id}",
            get(read_membership)
                .put(update_membership)
                .delete(remove_membership),
        )
        .route(
            "/v2/settings/account-membership",
            get(read_membership_settings).put(update_membership_settings),
        )
        .string_status()
}

const ACCOUNT_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "id",
        column: "a.id",
        kind: FieldKind::Text,
        ops: TEXT_OPS,
    },
    FieldSpec {
        name: "name",
        column: "a.name",
        kind: FieldKind::Text,
        ops: TEXT_OPS,
    },
    FieldSpec {
        name: "legal_name",
        column: "a.legal_name",
        kind: FieldKind::Text,
        ops: TEXT_OPS,
    },
    FieldSpec {
        name: "registration_id",
        column: "a.registration_id",
        kind: FieldKind::Text,
        ops: TEXT_OPS,
    },
    FieldSpec {
        name: "external_ref",
        column: "a.external_ref",
        kind: FieldKind::Text,
        ops: TEXT_OPS,
    },
    FieldSpec {
        name: "created_at",
        column: "a.created_at",
        kind: FieldKind::Time,
        ops: TIME_OPS,
    },
    FieldSpec {
        name: "updated_at",
        column: "a.updated_at",
        kind: FieldKind::Time,
        ops: TIME_OPS,
    },
];
const ACCOUNT_SORTS: &[&str] = &["created_at", "id", "name", "updated_at"];

#[derive(Deserialize)]
struct AccountBody {
    data: AccountData,
}

#[derive(Deserialize)]
struct AccountData {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    legal_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    registration_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    external_ref: Option<Option<String>>,
    parent_id: Option<String>,
}

/// Validates the optional text fields shared by create and update.
fn optional_fields(v: &mut Validator, d: &mut AccountData) {
    for (field, value, max) in [
        ("data.legal_name", &mut d.legal_name, 255),
        ("data.registration_id", &mut d.registration_id, 255),
        ("data.external_ref", &mut d.external_ref, 2048),
    ] {
        *value = match value.take() {
            // Blank clears the field, like null.
            Some(Some(text)) => Some(v.optional_text_or_blank(Some(text), field, max)),
            absent_or_null => absent_or_null,
        };
    }
}

async fn create(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiJson(mut body): ApiJson<AccountBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut v = Validator::new();
    v.resource_type(body.data.kind.as_deref(), "account");
    let name = v.text(body.data.name.take(), "data.name", 255);
    optional_fields(&mut v, &mut body.data);
    let parent_id = match body.data.parent_id.as_deref() {
        None => None,
        Some(raw) => match Uuid::parse_str(raw) {
            Ok(id) => Some(id),
            Err(_) => {
                v.push("data.parent_id", "format", "parent_id must be a UUID");
                None
            }
        },
    };
    v.finish()?;
    let now = now_millis();
    let d = body.data;
    let account = Account {
        id: kassa_core::ids::new_id(),
        name: name.unwrap_or_default(),
        legal_name: d.legal_name.flatten(),
        registration_id: d.registration_id.flatten(),
        external_ref: d.external_ref.flatten(),
        parent_id,
        created_at: now,
        updated_at: now,
    };
    let rendered = render_account(&account, &origin);
    let events: Vec<Event> = state
        .integrations
        .event(EventKind::AccountCreated, || {
            envelope::single(&rendered).to_string()
        })
        .into_iter()
        .collect();
    let emitted = !events.is_empty();
    state.store.create_account(account.clone(), events).await?;
    if emitted {
        state.integrations.committed();
    }
    let links = json!({ "self": rendered["links"]["self"] });
    Ok((
        StatusCode::CREATED,
        Json(json!({ "data": rendered, "links": links })),
    ))
}

async fn list(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let mut conditions = query::conditions(&query.filters, ACCOUNT_FIELDS)?;
    let sort = query.sort(ACCOUNT_SORTS)?;
    if let AccountScope::Account { account_id, .. } = shopper.account_scope()? {
        // A shopper lists exactly the account their token is for.
        conditions.push(query::Condition {
            column: "a.id",
            op: query::FilterOp::Eq,
            values: vec![query::SqlValue::Text(account_id.to_string())],
        });
    }
    let page = state
        .store
        .accounts(&conditions, sort.as_ref(), query.page)
        .await?;
    let items = page.items.iter().map(|a| render_account(a, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn read(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = shopper.visible_account(&id)?;
    let account = state.store.account(id).await?.ok_or_else(account_not_found)?;
    Ok(Json(envelope::single(render_account(&account, &origin))))
}

/// Fields only an admin may change: `registration_id` is unique across accounts (a member trying
/// values would learn other accounts' ids from the 409) and `external_ref` links the account to
/// the merchant's own systems.
const ADMIN_ONLY_FIELDS: &[&str] = &["registration_id", "external_ref"];

/// An admin changes any field but `parent_id`; a member, with their account token, their own
/// account's `name` and `legal_name` (what a storefront's account page edits). Another account
/// is 404, as for reads.
async fn update(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(mut body): ApiJson<AccountBody>,
) -> ApiResult<Json<Value>> {
    let id = shopper.visible_account(&id)?;
    if matches!(shopper.account_scope()?, AccountScope::Account { .. }) {
        let d = &body.data;
        let sent = [d.registration_id.is_some(), d.external_ref.is_some()];
        if let Some((field, _)) = ADMIN_ONLY_FIELDS.iter().zip(sent).find(|(_, sent)| *sent) {
            return Err(ApiError::forbidden(format!(
                "An account member may change only the account's name and legal_name, not {field}"
            ))
            .with_source(format!("data.{field}")));
        }
    }
    let mut v = Validator::new();
    v.resource_type(body.data.kind.as_deref(), "account");
    let name = body
        .data
        .name
        .take()
        .and_then(|n| v.optional_text(Some(n), "data.name", 255));
    optional_fields(&mut v, &mut body.data);
    if body.data.parent_id.is_some() {
        v.push(
            "data.parent_id",
            "read_only",
            "parent_id can only be set when the account is created",
        );
    }
    v.finish()?;
    let mut account = state.store.account(id).await?.ok_or_else(account_not_found)?;
    let d = body.data;
    if let Some(name) = name {
        account.name = name;
    }
    if let Some(value) = d.legal_name {
        account.legal_name = value;
    }
    if let Some(value) = d.registration_id {
        account.registration_id = value;
    }
    if let Some(value) = d.external_ref {
        account.external_ref = value;
    }
    account.updated_at = now_millis();
    let document = envelope::single(render_account(&account, &origin));
    let events: Vec<Event> = state
        .integrations
        .event(EventKind::AccountUpdated, || document.to_string())
        .into_iter()
        .collect();
    let emitted = !events.is_empty();
    if !state.store.update_account(account.clone(), events).await? {
        return Err(account_not_found());
    }
    if emitted {
        state.integrations.committed();
    }
    Ok(Json(document))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, account_not_found)?;
    let events: Vec<Event> = state
        .integrations
        .event(EventKind::AccountDeleted, || deleted_payload("account", id))
        .into_iter()
        .collect();
    let emitted = !events.is_empty();
    if state.store.delete_account(id, events).await? {
        if emitted {
            state.integrations.committed();
        }
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(account_not_found())
    }
}

#[derive(Deserialize)]
struct MembershipBody {
    data: MembershipData,
}

#[derive(Deserialize)]
struct MembershipData {
    #[serde(rename = "type")]
    kind: Option<String>,
    account_member_id: Option<String>,
}

fn membership_not_found() -> ApiError {
    ApiError::not_found("Not Found", "account membership not found")
}

async fn create_membership(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MembershipBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let account_id = parse_uuid(&id, account_not_found)?;
    let mut v = Validator::new();
    v.resource_type(body.data.kind.as_deref(), "account_membership");
    let member_id = v.required(body.data.account_member_id, "data.account_member_id");
    let member_id = member_id.and_then(|raw| match Uuid::parse_str(&raw) {
        Ok(id) => Some(id),
        Err(_) => {
            v.push(
                "data.account_member_id",
                "format",
                "account_member_id must be a UUID",
            );
            None
        }
    });
    v.finish()?;
    state
        .store
        .account(account_id)
        .await?
        .ok_or_else(account_not_found)?;
    let now = now_millis();
    let membership = Membership {
        id: kassa_core::ids::new_id(),
        account_id,
        member_id: member_id.unwrap_or_default(),
        created_at: now,
        updated_at: now,
    };
    let events = state
        .integrations
        .events(EventKind::AccountMembershipCreated, || {
            envelope::single(render_membership(&membership, &origin)).to_string()
        });
    let emitted = !events.is_empty();
    state.store.create_membership(membership.clone(), events).await?;
    if emitted {
        state.integrations.committed();
    }
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render_membership(&membership, &origin))),
    ))
}

async fn list_memberships(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let account_id = shopper.visible_account(&id)?;
    if !query.filters.is_empty() {
        return Err(ApiError::bad_request("Account memberships cannot be filtered").with_source("filter"));
    }
    state
        .store
        .account(account_id)
        .await?
        .ok_or_else(account_not_found)?;
    let page = state.store.account_memberships(account_id, query.page).await?;
    let items = page
        .items
        .iter()
        .map(|(m, _)| render_membership(m, &origin))
        .collect();
    let mut body = envelope::collection(items, page.total, &query, &origin, &uri);
    if query.include.iter().any(|i| i == "account_member") {
        let members: Vec<Value> = page
            .items
            .iter()
            .map(|(_, m)| render_member(m, &origin))
            .collect();
        body["included"] = json!({ "account_members": members });
    }
    Ok(Json(body))
}

async fn read_membership(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath((id, membership_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let account_id = shopper.visible_account(&id)?;
    let membership_id = parse_uuid(&membership_id, membership_not_found)?;
    let m = state
        .store
        .membership(account_id, membership_id)
        .await?
        .ok_or_else(membership_not_found)?;
    Ok(Json(envelope::single(render_membership(&m, &origin))))
}

/// A membership has nothing to change but its timestamp; accepted for compatibility.
async fn update_membership(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, membership_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<MembershipBody>,
) -> ApiResult<Json<Value>> {
    let account_id = parse_uuid(&id, account_not_found)?;
    let membership_id = parse_uuid(&membership_id, membership_not_found)?;
    let mut v = Validator::new();
    v.resource_type(body.data.kind.as_deref(), "account_membership");
    v.finish()?;
    if !state
        .store
        .touch_membership(account_id, membership_id, now_millis())
        .await?
    {
        return Err(membership_not_found());
    }
    let m = state
        .store
        .membership(account_id, membership_id)
        .await?
        .ok_or_else(membership_not_found)?;
    Ok(Json(envelope::single(render_membership(&m, &origin))))
}

async fn remove_membership(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((id, membership_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let account_id = parse_uuid(&id, account_not_found)?;
    let membership_id = parse_uuid(&membership_id, membership_not_found)?;
    let events = state
        .integrations
        .events(EventKind::AccountMembershipDeleted, || {
            deleted_payload("account_membership", membership_id)
        });
    let emitted = !events.is_empty();
    if state
        .store
        .delete_membership(account_id, membership_id, events)
        .await?
    {
        if emitted {
            state.integrations.committed();
        }
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(membership_not_found())
    }
}

async fn unassigned(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let account_id = parse_uuid(&id, account_not_found)?;
    state
        .store
        .account(account_id)
        .await?
        .ok_or_else(account_not_found)?;
    let page = state.store.unassigned_members(account_id, query.page).await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|m: &Member| render_member(m, &origin))
        .collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

// ---- /v2/settings/account-membership -----------------------------------------------------

fn render_membership_settings(limit: i64) -> Value {
    json!({ "data": { "type": "account_membership_setting", "membership_limit": limit } })
}

async fn read_membership_settings(State(state): State<AppState>, _: Admin) -> ApiResult<Json<Value>> {
    Ok(Json(render_membership_settings(
        state.store.membership_limit().await?,
    )))
}

#[derive(Deserialize)]
struct MembershipSettingsBody {
    data: MembershipSettingsData,
}

#[derive(Deserialize)]
struct MembershipSettingsData {
    #[serde(rename = "type")]
    kind: Option<String>,
    membership_limit: Option<i64>,
}

/// `membership_limit`: how many accounts one member may belong to, 1 to 10,000 (EP: "any number
/// up to 10,000"). It applies to memberships created from then on; existing ones stay.
async fn update_membership_settings(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<MembershipSettingsBody>,
) -> ApiResult<Json<Value>> {
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "account_membership_setting");
    if let Some(limit) = d.membership_limit
        && !(1..=MAX_MEMBERSHIP_LIMIT).contains(&limit)
    {
        v.push(
            "data.membership_limit",
            "range",
            format!("membership_limit must be between 1 and {MAX_MEMBERSHIP_LIMIT}"),
        );
    }
    v.finish()?;
    if let Some(limit) = d.membership_limit {
        state.store.set_membership_limit(limit).await?;
    }
    Ok(Json(render_membership_settings(
        state.store.membership_limit().await?,
    )))
}
