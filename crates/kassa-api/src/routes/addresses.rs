//! Address books: `/v2/accounts/{id}/addresses` and `/v2/customers/{id}/addresses`, with their
//! `/{address_id}` items.
//!
//! Who may use them: a client_credentials token, every address book; an implicit token with an
//! `EP-Account-Management-Authentication-Token`, the book of the token's account (any other
//! account is 404, as everywhere in Account Management); an implicit token with an
//! `X-Moltin-Customer-Token`, that customer's book (another customer is 404). An implicit token
//! alone gets 403. The fields follow checkout's address rules (`kassa_core::address`); a create
//! past the store's `shopper_address_limit` is refused inside the store's write transaction.
//! Errors carry a numeric `status`, as `account-addresses.yaml` defines it.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use kassa_core::Validator;
use kassa_core::address::{self, ADDRESS_FILTER_FIELDS, Address, AddressFields, AddressOwner, AddressUse};
use kassa_core::integrations::{EventKind, deleted_payload};
use kassa_core::query;
use kassa_core::store::Edit;
use kassa_core::time::now_millis;
use serde_json::{Map, Value, json};

use crate::auth::{Caller, CustomerScope, CustomerToken, Shopper};
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::account::account_not_found;
use crate::views::customer::customer_not_found;

pub fn router() -> Routes {
    Routes::new()
        .route(
            "/v2/accounts/{id}/addresses",
            get(list_account).post(create_account),
        )
        .route(
            "/v2/accounts/{id}/addresses/{address_id}",
            get(read_account).put(update_account).delete(remove_account),
        )
        .route(
            "/v2/customers/{id}/addresses",
            get(list_customer).post(create_customer),
        )
        .route(
            "/v2/customers/{id}/addresses/{address_id}",
            get(read_customer).put(update_customer).delete(remove_customer),
        )
}

fn address_not_found() -> ApiError {
    ApiError::not_found("Not Found", "address not found")
}

/// The account whose book the caller addresses: admins any, a member only their token's.
fn account_owner(shopper: &Shopper, raw: &str) -> ApiResult<AddressOwner> {
    shopper.visible_account(raw).map(AddressOwner::Account)
}

/// The customer whose book the caller addresses: admins any, a customer only their own.
fn customer_owner(caller: &Caller, token: &CustomerToken, raw: &str) -> ApiResult<AddressOwner> {
    CustomerScope::of(caller, token)?
        .target(raw)
        .map(AddressOwner::Customer)
}

pub(crate) fn render(a: &Address, origin: &Origin) -> Value {
    let (path, relationship, kind) = match a.owner {
        AddressOwner::Account(id) => (format!("/v2/accounts/{id}/addresses/{}", a.id), "account", id),
        AddressOwner::Customer(id) => (format!("/v2/customers/{id}/addresses/{}", a.id), "customer", id),
    };
    let mut out = Map::new();
    out.insert("type".into(), json!("address"));
    out.insert("id".into(), json!(a.id));
    out.extend(a.fields.to_json());
    out.insert(
        "meta".into(),
        json!({ "timestamps": envelope::timestamps(a.created_at, a.updated_at) }),
    );
    out.insert("links".into(), json!({ "self": origin.url(&path) }));
    // As `account-addresses.yaml` shapes it: the related resource's id and type, unwrapped.
    out.insert(
        "relationships".into(),
        json!({ relationship: { "id": kind, "type": relationship } }),
    );
    Value::Object(out)
}

/// `data` of a body, which must be an object, and its `type`, which must be `address`.
fn address_data(v: &mut Validator, body: Value) -> Map<String, Value> {
    let data = match body {
        Value::Object(mut o) => o.remove("data"),
        _ => None,
    };
    let data = match data {
        Some(Value::Object(data)) => data,
        None | Some(Value::Null) => {
            v.push("data", "required", "data is required");
            return Map::new();
        }
        Some(_) => {
            v.push("data", "type", "data must be an object");
            return Map::new();
        }
    };
    match data.get("type") {
        None | Some(Value::Null) => v.resource_type(None, "address"),
        Some(Value::String(t)) => v.resource_type(Some(t), "address"),
        Some(_) => v.push("data.type", "invalid", "type must be address"),
    }
    data
}

async fn list(
    state: &AppState,
    owner: AddressOwner,
    origin: &Origin,
    query: &ListQuery,
    uri: &Uri,
) -> ApiResult<Json<Value>> {
    let conditions = query::conditions(&query.filters, ADDRESS_FILTER_FIELDS)?;
    let page = state
        .store
        .addresses(owner, &conditions, query.page)
        .await?
        .ok_or_else(|| owner_not_found(owner))?;
    let items = page.items.iter().map(|a| render(a, origin)).collect();
    Ok(Json(envelope::collection(items, page.total, query, origin, uri)))
}

fn owner_not_found(owner: AddressOwner) -> ApiError {
    match owner {
        AddressOwner::Account(_) => account_not_found(),
        AddressOwner::Customer(_) => customer_not_found(),
    }
}

async fn create(
    state: &AppState,
    owner: AddressOwner,
    origin: &Origin,
    body: Value,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut v = Validator::new();
    let data = address_data(&mut v, body);
    let fields = address::check(&mut v, &data, "data", AddressUse::Saved);
    v.finish()?;
    let now = now_millis();
    let address = Address {
        id: kassa_core::ids::new_id(),
        owner,
        fields,
        created_at: now,
        updated_at: now,
    };
    let events = state.integrations.events(EventKind::AddressCreated, || {
        envelope::single(render(&address, origin)).to_string()
    });
    let emitted = !events.is_empty();
    let created = state.store.create_address(address, events).await?;
    if emitted {
        state.integrations.committed();
    }
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render(&created, origin))),
    ))
}

async fn read(state: &AppState, owner: AddressOwner, raw: &str, origin: &Origin) -> ApiResult<Json<Value>> {
    let id = parse_uuid(raw, address_not_found)?;
    let found = state
        .store
        .address(owner, id)
        .await?
        .ok_or_else(address_not_found)?;
    Ok(Json(envelope::single(render(&found, origin))))
}

/// A partial update: fields left out keep their value, `null` clears an optional one; the
/// result must again be a complete address. Applied to the stored address inside the write.
async fn update(
    state: &AppState,
    owner: AddressOwner,
    raw: &str,
    origin: &Origin,
    body: Value,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(raw, address_not_found)?;
    let mut v = Validator::new();
    let patch = address_data(&mut v, body);
    v.finish()?;
    let edit: Edit<AddressFields> = Box::new(move |fields| {
        let merged = address::merge(fields, &patch);
        let mut v = Validator::new();
        let checked = address::check(&mut v, &merged, "data", AddressUse::Saved);
        v.finish()?;
        *fields = checked;
        Ok(())
    });
    let shown = origin.clone();
    let emit = state
        .integrations
        .emit(EventKind::AddressUpdated, move |a: &Address| {
            envelope::single(render(a, &shown)).to_string()
        });
    let emitted = emit.is_some();
    let updated = state
        .store
        .update_address(owner, id, edit, now_millis(), emit)
        .await?
        .ok_or_else(address_not_found)?;
    if emitted {
        state.integrations.committed();
    }
    Ok(Json(envelope::single(render(&updated, origin))))
}

async fn remove(state: &AppState, owner: AddressOwner, raw: &str) -> ApiResult<StatusCode> {
    let id = parse_uuid(raw, address_not_found)?;
    let events = state
        .integrations
        .events(EventKind::AddressDeleted, || deleted_payload("address", id));
    let emitted = !events.is_empty();
    if state.store.delete_address(owner, id, events).await? {
        if emitted {
            state.integrations.committed();
        }
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(address_not_found())
    }
}

// ---- accounts ----------------------------------------------------------------------------

async fn list_account(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let owner = account_owner(&shopper, &id)?;
    list(&state, owner, &origin, &query, &uri).await
}

async fn create_account(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let owner = account_owner(&shopper, &id)?;
    create(&state, owner, &origin, body).await
}

async fn read_account(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath((id, address_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let owner = account_owner(&shopper, &id)?;
    read(&state, owner, &address_id, &origin).await
}

async fn update_account(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath((id, address_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let owner = account_owner(&shopper, &id)?;
    update(&state, owner, &address_id, &origin, body).await
}

async fn remove_account(
    State(state): State<AppState>,
    shopper: Shopper,
    ApiPath((id, address_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let owner = account_owner(&shopper, &id)?;
    remove(&state, owner, &address_id).await
}

// ---- customers ---------------------------------------------------------------------------

async fn list_customer(
    State(state): State<AppState>,
    caller: Caller,
    token: CustomerToken,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let owner = customer_owner(&caller, &token, &id)?;
    list(&state, owner, &origin, &query, &uri).await
}

async fn create_customer(
    State(state): State<AppState>,
    caller: Caller,
    token: CustomerToken,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let owner = customer_owner(&caller, &token, &id)?;
    create(&state, owner, &origin, body).await
}

async fn read_customer(
    State(state): State<AppState>,
    caller: Caller,
    token: CustomerToken,
    origin: Origin,
    ApiPath((id, address_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let owner = customer_owner(&caller, &token, &id)?;
    read(&state, owner, &address_id, &origin).await
}

async fn update_customer(
    State(state): State<AppState>,
    caller: Caller,
    token: CustomerToken,
    origin: Origin,
    ApiPath((id, address_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let owner = customer_owner(&caller, &token, &id)?;
    update(&state, owner, &address_id, &origin, body).await
}

async fn remove_customer(
    State(state): State<AppState>,
    caller: Caller,
    token: CustomerToken,
    ApiPath((id, address_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let owner = customer_owner(&caller, &token, &id)?;
    remove(&state, owner, &address_id).await
}
