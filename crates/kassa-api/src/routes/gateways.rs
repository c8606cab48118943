//! `GET /v2/gateways`, `GET /v2/gateways/{slug}`, `PUT /v2/gateways/{slug}` (client_credentials
//! only). The enabled flags are stored in the database, so every node sees the same gateways.
//! Errors carry a string `status`, like EP's payments examples.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use kassa_core::integrations::EventKind;
use kassa_core::payments::{Gateway, gateways};
use kassa_core::time::now_millis;
use kassa_core::{Error, Validator};
use serde_json::{Value, json};

use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::route_table::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/gateways", get(list))
        .route("/v2/gateways/{slug}", get(read).put(update))
        .string_status()
}

fn render(g: &Gateway) -> Value {
    json!({ "type": "gateway", "slug": g.slug, "name": g.name, "enabled": g.enabled })
}

fn gateway_not_found() -> ApiError {
    ApiError::not_found("Not Found", "Gateway not found")
}

async fn find(state: &AppState, slug: &str) -> ApiResult<Gateway> {
    gateways(&state.store.gateway_settings().await?)
        .into_iter()
        .find(|g| g.slug == slug)
        .ok_or_else(gateway_not_found)
}

async fn list(State(state): State<AppState>, _: Admin) -> ApiResult<Json<Value>> {
    let all = gateways(&state.store.gateway_settings().await?);
    Ok(Json(
        json!({ "data": all.iter().map(render).collect::<Vec<_>>() }),
    ))
}

async fn read(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "data": render(&find(&state, &slug).await?) })))
}

/// Only `enabled` can be set (the manual gateway has no credentials). EP allows one manual
/// gateway enabled at a time; kassa has exactly one.
async fn update(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut gateway = find(&state, &slug).await?;
    let data = body
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("data is required and must be an object").with_source("data"))?;
    let mut v = Validator::new();
    let enabled = match data.get("enabled") {
        Some(Value::Bool(b)) => Some(*b),
        None | Some(Value::Null) => {
            v.push("enabled", "required", "enabled is required");
            None
        }
        Some(_) => {
            v.push("enabled", "type", "enabled must be a boolean");
            None
        }
    };
    v.finish()?;
    let enabled =
        enabled.ok_or_else(|| ApiError::from(Error::field("enabled", "required", "enabled is required")))?;
    gateway.enabled = enabled;
    let document = json!({ "data": render(&gateway) });
    let events = state
        .integrations
        .events(EventKind::PaymentGatewayUpdated, || document.to_string());
    let emitted = !events.is_empty();
    state
        .store
        .set_gateway_enabled(gateway.slug, enabled, now_millis(), events)
        .await?;
    if emitted {
        state.integrations.committed();
    }
    Ok(Json(document))
}
