//! `/v2/customers`: the legacy customer identity that checkout also accepts, and
//! `POST /v2/customers/tokens`, which signs a customer in.
//!
//! Who may do what: a client_credentials token manages every customer. An implicit token alone
//! may only sign up (`POST /v2/customers`) and sign in (`POST /v2/customers/tokens`). An implicit
//! token with an `X-Moltin-Customer-Token` may read and update that customer only; any other id
//! is 404, so nothing leaks about which customers exist. Passwords are stored as Argon2id hashes
//! and rendered only as `"password": true|false`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use kassa_core::customer::{CustomerFilter, CustomerQuery, MAX_EXTERNAL_REF, MAX_NAME};
use kassa_core::integrations::{Emit, Event, EventKind, deleted_payload};
use kassa_core::store::{Customer, CustomerPatch};
use kassa_core::time::now_millis;
use kassa_core::{Validator, secret};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Admin, Caller, CustomerScope, CustomerToken};
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, nullable, parse_uuid};
use crate::metrics::Login;
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::customer::customer_not_found;

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/customers", get(list).post(create))
        .route("/v2/customers/tokens", post(token))
        .route("/v2/customers/{id}", get(read).put(update).delete(remove))
        .string_status()
}

#[derive(Deserialize)]
struct Body<T> {
    data: T,
}

/// Every field is `None` when absent and `Some(None)` when `null`, so a partial update can tell
/// "leave it" from "clear it".
#[derive(Deserialize)]
struct CustomerData {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    password: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    external_ref: Option<Option<String>>,
}

#[derive(Deserialize)]
struct TokenData {
    #[serde(rename = "type")]
    kind: Option<String>,
    email: Option<String>,
    password: Option<String>,
    authentication_mechanism: Option<String>,
}

fn render(c: &Customer, origin: &Origin) -> Value {
    json!({
        "type": "customer",
        "id": c.id,
        "name": c.name,
        "email": c.email,
        "external_ref": c.external_ref,
        "password": c.password_hash.is_some(),
        "meta": { "timestamps": envelope::timestamps(c.created_at, c.updated_at) },
        "links": { "self": origin.url(&format!("/v2/customers/{}", c.id)) },
    })
}

/// A field that may be left out of an update but not set to `null`.
fn not_null<T>(v: &mut Validator, value: Option<Option<T>>, source: &str) -> Option<T> {
    match value {
        Some(None) => {
            let field = source.rsplit('.').next().unwrap_or(source);
            v.push(source, "invalid", format!("{field} must not be null"));
            None
        }
        other => other.flatten(),
    }
}

async fn hash_password(state: &AppState, password: Option<String>) -> ApiResult<Option<String>> {
    match password {
        Some(password) => Ok(Some(
            state
                .hash_blocking(move || secret::hash_secret(&password))
                .await?,
        )),
        None => Ok(None),
    }
}

async fn create(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    ApiJson(body): ApiJson<Body<CustomerData>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "customer");
    let name = v.text(d.name.flatten(), "data.name", MAX_NAME);
    let email = v.email(d.email.flatten(), "data.email");
    let password = v.password(d.password.flatten(), "data.password");
    let external_ref =
        v.optional_text_or_blank(d.external_ref.flatten(), "data.external_ref", MAX_EXTERNAL_REF);
    v.finish()?;
    let now = now_millis();
    let customer = Customer {
        id: kassa_core::ids::new_id(),
        name: name.unwrap_or_default(),
        email: email.unwrap_or_default(),
        password_hash: hash_password(&state, password).await?,
        external_ref,
        created_at: now,
        updated_at: now,
    };
    let document = envelope::single(render(&customer, &origin));
    let events: Vec<Event> = state
        .integrations
        .event(EventKind::CustomerCreated, || document.to_string())
        .into_iter()
        .collect();
    let emitted = !events.is_empty();
    state.store.create_customer(customer, events).await?;
    if emitted {
        state.integrations.committed();
    }
    Ok((StatusCode::CREATED, Json(document)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    token: CustomerToken,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let scope = CustomerScope::of(&caller, &token)?;
    let filters = CustomerFilter::from_filters(&query.filters)?;
    let page = state
        .store
        .customers(CustomerQuery {
            filters,
            only: match scope {
                CustomerScope::All => None,
                CustomerScope::Own(id) => Some(id),
            },
            page: query.page,
        })
        .await?;
    let items = page.items.iter().map(|c| render(c, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    token: CustomerToken,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = CustomerScope::of(&caller, &token)?.target(&id)?;
    let customer = state.store.customer(id).await?.ok_or_else(customer_not_found)?;
    Ok(Json(envelope::single(render(&customer, &origin))))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    token: CustomerToken,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Body<CustomerData>>,
) -> ApiResult<Json<Value>> {
    let id = CustomerScope::of(&caller, &token)?.target(&id)?;
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "customer");
    let name = not_null(&mut v, d.name, "data.name");
    let name = v.optional_text(name, "data.name", MAX_NAME);
    let email = not_null(&mut v, d.email, "data.email");
    let email = email.and_then(|e| v.email(Some(e), "data.email"));
    let password = not_null(&mut v, d.password, "data.password");
    let password = v.password(password, "data.password");
    let external_ref = match d.external_ref {
        // Blank clears it, like null.
        Some(Some(r)) if r.trim().is_empty() => Some(None),
        Some(Some(r)) => v
            .optional_text(Some(r), "data.external_ref", MAX_EXTERNAL_REF)
            .map(Some),
        Some(None) => Some(None),
        None => None,
    };
    v.finish()?;
    let patch = CustomerPatch {
        name,
        email,
        password_hash: hash_password(&state, password).await?,
        external_ref,
    };
    // The event renders the customer as this answer does, from the row the update returned.
    let emit = state.integrations.observes(EventKind::CustomerUpdated).then(|| {
        let origin = origin.clone();
        Box::new(move |c: &Customer| {
            vec![Event {
                kind: EventKind::CustomerUpdated,
                payload: envelope::single(render(c, &origin)).to_string(),
                at: c.updated_at,
            }]
        }) as Emit<Customer>
    });
    let emitted = emit.is_some();
    let customer = state
        .store
        .update_customer(id, patch, now_millis(), emit)
        .await?
        .ok_or_else(customer_not_found)?;
    if emitted {
        state.integrations.committed();
    }
    Ok(Json(envelope::single(render(&customer, &origin))))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, customer_not_found)?;
    let events: Vec<Event> = state
        .integrations
        .event(EventKind::CustomerDeleted, || deleted_payload("customer", id))
        .into_iter()
        .collect();
    let emitted = !events.is_empty();
    if !state.store.delete_customer(id, events).await? {
        return Err(customer_not_found());
    }
    if emitted {
        state.integrations.committed();
    }
    Ok(StatusCode::NO_CONTENT)
}

fn bad_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Invalid email or password",
    )
}

async fn token(
    State(state): State<AppState>,
    _: Caller,
    ApiJson(body): ApiJson<Body<TokenData>>,
) -> ApiResult<Json<Value>> {
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "token");
    let email = v.required(d.email, "data.email");
    let password = v.required(d.password, "data.password");
    if d.authentication_mechanism
        .as_deref()
        .is_some_and(|m| m != "password")
    {
        v.push(
            "data.authentication_mechanism",
            "invalid",
            "authentication_mechanism must be password",
        );
    }
    v.finish()?;
    let (email, password) = (email.unwrap_or_default(), password.unwrap_or_default());
    let customer = state.store.customer_by_email(&email).await?;
    // Verify even for an unknown email (or a customer without a password), against a decoy
    // hash, so the answer and its timing are the same as for a wrong password.
    let hash = customer
        .as_ref()
        .and_then(|c| c.password_hash.clone())
        .unwrap_or_else(|| secret::decoy_hash().to_owned());
    let valid = state
        .hash_blocking(move || secret::verify_secret(&password, &hash))
        .await?;
    let customer = customer.filter(|c| valid && c.password_hash.is_some());
    state.metrics.login(Login::Customer, customer.is_some());
    let customer = customer.ok_or_else(bad_credentials)?;
    let (token, expires) = state.tokens.issue_customer(customer.id);
    Ok(Json(json!({
        "data": {
            "type": "token",
            "id": kassa_core::ids::new_id(),
            "customer_id": customer.id,
            "token": token,
            "expires": expires,
        }
    })))
}
