//! `/v2/application-keys`: administrator credentials (client_credentials only). The secret is
//! shown once, at creation; only its Argon2id hash is stored.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{delete, get};
use kassa_core::store::ApplicationKey;
use kassa_core::time::now_millis;
use kassa_core::{Validator, secret};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Admin;
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/application-keys", get(list).post(create))
        .route("/v2/application-keys/{id}", delete(remove))
}

#[derive(Deserialize)]
struct CreateBody {
    data: CreateData,
}

#[derive(Deserialize)]
struct CreateData {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    reserved_rate_limit: Option<i64>,
}

fn render(key: &ApplicationKey, origin: &Origin, secret: Option<&str>) -> Value {
    let mut v = json!({
        "type": "application_key",
        "id": key.id,
        "name": key.name,
        "client_id": key.client_id,
        "reserved_rate_limit": key.reserved_rate_limit,
        "links": { "self": origin.url(&format!("/v2/application-keys/{}", key.id)) },
        "meta": { "timestamps": envelope::timestamps(key.created_at, key.updated_at) },
    });
    if let Some(secret) = secret {
        v["client_secret"] = json!(secret);
    }
    v
}

async fn create(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiJson(body): ApiJson<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut v = Validator::new();
    v.resource_type(body.data.kind.as_deref(), "application_key");
    let name = v.text(body.data.name, "data.name", 255);
    let rate = body.data.reserved_rate_limit.unwrap_or(0);
    if rate < 0 {
        v.push(
            "data.reserved_rate_limit",
            "minimum",
            "reserved_rate_limit must not be negative",
        );
    }
    v.finish()?;
    let client_secret = secret::generate_client_secret();
    let to_hash = client_secret.clone();
    let secret_hash = state.hash_blocking(move || secret::hash_secret(&to_hash)).await?;
    let now = now_millis();
    let key = ApplicationKey {
        id: kassa_core::ids::new_id(),
        name: name.unwrap_or_default(),
        client_id: secret::generate_client_id(),
        secret_hash,
        reserved_rate_limit: rate,
        created_at: now,
        updated_at: now,
    };
    let key = state.store.create_application_key(key).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render(&key, &origin, Some(&client_secret)))),
    ))
}

async fn list(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    if !query.filters.is_empty() {
        return Err(ApiError::bad_request("Application keys cannot be filtered").with_source("filter"));
    }
    let page = state.store.application_keys(query.page).await?;
    let items = page.items.iter().map(|k| render(k, &origin, None)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let not_found = || ApiError::not_found("Not Found", "Application key not found");
    let id = parse_uuid(&id, not_found)?;
    if !state.store.delete_application_key(id, now_millis()).await? {
        return Err(not_found());
    }
    state.tokens.revoke(id);
    Ok(StatusCode::NO_CONTENT)
}
