//! A product's variations and children: `/pcm/products/{id}/relationships/variations` (the
//! variations attached, in order), `POST /pcm/products/{id}/build` (builds the children missing
//! for the combinations of their options, at once rather than as a queued job) and
//! `GET /pcm/products/{id}/children`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use kassa_core::query::check_filters;
use kassa_core::store::VariationsChange;
use kassa_core::time::{now_millis, rfc3339};
use kassa_core::{Error, Validator};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Admin;
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::product::render as render_product;

/// The most variations one request attaches.
const MAX_VARIATIONS: usize = 100;

pub(crate) fn routes() -> Routes {
    Routes::new()
        .route(
            "/pcm/products/{id}/relationships/variations",
            get(variations)
                .post(add_variations)
                .put(replace_variations)
                .delete(remove_variations),
        )
        .route("/pcm/products/{id}/build", post(build))
        .route("/pcm/products/{id}/children", get(children))
}

fn product_not_found() -> ApiError {
    ApiError::not_found("Product not found", "No product with this id")
}

/// The variation ids of a `{"data": [{"type": "product-variation", "id"}]}` body, in order,
/// each problem at its item.
fn variation_list(body: &Value) -> Result<Vec<Uuid>, Error> {
    let mut v = Validator::new();
    let mut ids = Vec::new();
    match body.get("data") {
        Some(Value::Array(items)) if items.len() > MAX_VARIATIONS => v.push(
            "data",
            "invalid",
            format!("At most {MAX_VARIATIONS} variations at once"),
        ),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("data[{i}]");
                match item.get("type").and_then(Value::as_str) {
                    Some("product-variation") => {}
                    Some(_) => v.push(format!("{at}.type"), "invalid", "type must be product-variation"),
                    None => v.push(format!("{at}.type"), "required", "type is required"),
                }
                match item.get("id").and_then(Value::as_str).map(Uuid::parse_str) {
                    Some(Ok(id)) if !ids.contains(&id) => ids.push(id),
                    Some(Ok(_)) => {}
                    Some(Err(_)) => v.push(format!("{at}.id"), "invalid", "id must be the id of a variation"),
                    None => v.push(format!("{at}.id"), "required", "id is required"),
                }
            }
        }
        Some(_) => v.push(
            "data",
            "invalid",
            "data must be an array of {\"type\": \"product-variation\", \"id\"}",
        ),
        None => {
            v.required(None::<()>, "data");
        }
    }
    v.finish()?;
    Ok(ids)
}

async fn variations(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, product_not_found)?;
    let attached = state
        .store
        .product_variations(id)
        .await?
        .ok_or_else(product_not_found)?;
    let data: Vec<Value> = attached
        .iter()
        .map(|v| json!({ "type": "product-variation", "id": v }))
        .collect();
    Ok(Json(json!({
        "data": data,
        "links": { "self": origin.url(&format!("/pcm/products/{id}/relationships/variations")) },
    })))
}

async fn change(
    state: &AppState,
    id: &str,
    body: &Value,
    make: fn(Vec<Uuid>) -> VariationsChange,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(id, product_not_found)?;
    let ids = variation_list(body)?;
    if !state.store.change_product_variations(id, make(ids)).await? {
        return Err(product_not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn add_variations(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<StatusCode> {
    change(&state, &id, &body, VariationsChange::Add).await
}

async fn replace_variations(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<StatusCode> {
    change(&state, &id, &body, VariationsChange::Replace).await
}

async fn remove_variations(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<StatusCode> {
    change(&state, &id, &body, VariationsChange::Remove).await
}

/// Builds the product's missing children. Elastic Path queues a `pim-job`; kassa builds at once
/// and answers the job already complete, with what it did in `meta`.
async fn build(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = parse_uuid(&id, product_not_found)?;
    let now = now_millis();
    let outcome = state
        .store
        .build_children(id, now)
        .await?
        .ok_or_else(product_not_found)?;
    let at = rfc3339(now);
    let done = rfc3339(now_millis());
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "data": {
                "type": "pim-job",
                "id": kassa_core::ids::new_id(),
                "attributes": {
                    "type": "child-products",
                    "status": "success",
                    "created_at": at,
                    "started_at": at,
                    "completed_at": done,
                    "updated_at": done,
                },
                "meta": {
                    "product_id": id,
                    "children_created": outcome.created,
                    "children_total": outcome.children,
                },
            },
        })),
    ))
}

async fn children(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    check_filters(&query.filters, &[])?;
    let id = parse_uuid(&id, product_not_found)?;
    let page = state
        .store
        .children(id, query.page)
        .await?
        .ok_or_else(product_not_found)?;
    let items = page.items.iter().map(|p| render_product(p, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}
