//! `/v2/inventories`: stock per product and the transactions that move it (Elastic Path's basic,
//! single-location inventory API, with flattened attributes).
//!
//! Who may do what: a client_credentials token manages stock. An implicit token may read it
//! (every `GET`, and `POST /v2/inventories/multiple`, which only reads), per the shopper-token
//! permission matrix; any write is 403. Products are referenced by id only: stock can be created
//! for any UUID, and a product without a stock record is simply not stock-managed.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use kassa_core::Validator;
use kassa_core::inventory::{MAX_MULTIPLE, Stock, StockLevels, StockTransaction};
use kassa_core::query::check_filters;
use kassa_core::time::now_millis;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{Admin, Caller};
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, parse_uuid};
use crate::routes::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/inventories", get(list))
        .route("/v2/inventories/multiple", post(multiple))
        .route(
            "/v2/inventories/{product_id}",
            get(read).post(create).delete(remove),
        )
        .route(
            "/v2/inventories/{product_id}/transactions",
            get(transactions).post(create_transaction),
        )
        .route("/v2/inventories/{product_id}/transactions/{id}", get(transaction))
}

#[derive(Deserialize)]
struct Body<T> {
    data: T,
}

/// Numbers are taken as raw JSON so `"2"` or `2.5` is a validation problem naming the field.
#[derive(Deserialize)]
struct StockData {
    #[serde(rename = "type")]
    kind: Option<String>,
    quantity: Option<Value>,
}

#[derive(Deserialize)]
struct TransactionData {
    #[serde(rename = "type")]
    kind: Option<String>,
    action: Option<Value>,
    quantity: Option<Value>,
}

#[derive(Deserialize)]
struct ProductRef {
    id: Option<Value>,
}

fn render(s: &Stock, origin: &Origin) -> Value {
    json!({
        "type": "stock",
        "id": s.product_id,
        "total": s.levels.total(),
        "available": s.levels.available,
        "allocated": s.levels.allocated,
        "meta": { "timestamps": envelope::timestamps(s.created_at, s.updated_at) },
        "links": { "self": origin.url(&format!("/v2/inventories/{}", s.product_id)) },
    })
}

fn render_transaction(t: &StockTransaction, origin: &Origin) -> Value {
    json!({
        "type": "stock-transaction",
        "id": t.id,
        "action": t.action.as_str(),
        "product_id": t.product_id,
        "quantity": t.quantity,
        // A transaction never changes after it is recorded.
        "meta": { "timestamps": envelope::timestamps(t.created_at, t.created_at) },
        "links": {
            "self": origin.url(&format!("/v2/inventories/{}/transactions/{}", t.product_id, t.id)),
        },
    })
}

fn stock_not_found(product_id: &str) -> ApiError {
    ApiError::not_found("Not Found", format!("No stock found for product {product_id}"))
}

fn product_id(raw: &str) -> ApiResult<Uuid> {
    parse_uuid(raw, || stock_not_found(raw))
}

async fn create(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(raw_id): ApiPath<String>,
    ApiJson(body): ApiJson<Body<StockData>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Ok(product_id) = Uuid::parse_str(&raw_id) else {
        return Err(
            ApiError::bad_request(format!("The product id {raw_id} is not a valid UUID"))
                .with_source("product_id"),
        );
    };
    let d = body.data;
    let mut v = Validator::new();
    // The classic js-sdk's `Inventories.Create` sends `{"data":{"quantity":n}}` with no type:
    // a missing type is accepted, a wrong one is not.
    if d.kind.is_some() {
        v.resource_type(d.kind.as_deref(), "stock");
    }
    let quantity = v.quantity(d.quantity.as_ref(), "data.quantity", 0);
    v.finish()?;
    let now = now_millis();
    let stock = Stock {
        product_id,
        levels: StockLevels {
            available: quantity.unwrap_or_default(),
            allocated: 0,
        },
        created_at: now,
        updated_at: now,
    };
    let stock = state.store.create_stock(stock).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render(&stock, &origin))),
    ))
}

async fn read(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    ApiPath(raw_id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let stock = state
        .store
        .stock(product_id(&raw_id)?)
        .await?
        .ok_or_else(|| stock_not_found(&raw_id))?;
    Ok(Json(envelope::single(render(&stock, &origin))))
}

async fn list(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    check_filters(&query.filters, &[])?;
    let page = state.store.stocks(query.page).await?;
    let items = page.items.iter().map(|s| render(s, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn multiple(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    ApiJson(body): ApiJson<Body<Vec<ProductRef>>>,
) -> ApiResult<Json<Value>> {
    let mut v = Validator::new();
    if body.data.len() > MAX_MULTIPLE {
        v.push(
            "data",
            "max_items",
            format!("At most {MAX_MULTIPLE} products can be asked for at once"),
        );
    }
    let mut ids: Vec<Uuid> = Vec::with_capacity(body.data.len());
    for (i, item) in body.data.iter().enumerate() {
        let source = format!("data[{i}].id");
        let id = v.required(item.id.as_ref().filter(|id| !id.is_null()), &source);
        let Some(id) = id else { continue };
        match id.as_str().map(Uuid::parse_str) {
            Some(Ok(id)) if ids.contains(&id) => {}
            Some(Ok(id)) => ids.push(id),
            _ => v.push(&source, "format", "id must be a UUID"),
        }
    }
    v.finish()?;
    let found = state.store.stock_levels(&ids).await?;
    // In the order asked for; products without stock are left out.
    let items: Vec<Value> = ids
        .iter()
        .filter_map(|id| found.iter().find(|s| s.product_id == *id))
        .map(|s| render(s, &origin))
        .collect();
    Ok(Json(json!({ "data": items })))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(raw_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if !state.store.delete_stock(product_id(&raw_id)?).await? {
        return Err(stock_not_found(&raw_id));
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn create_transaction(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(raw_id): ApiPath<String>,
    ApiJson(body): ApiJson<Body<TransactionData>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let product_id = product_id(&raw_id)?;
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "stock-transaction");
    let action = v.stock_action(d.action.as_ref(), "data.action");
    let quantity = v.quantity(d.quantity.as_ref(), "data.quantity", 1);
    v.finish()?;
    // The validator reported any missing field, so both are present here.
    let (Some(action), Some(quantity)) = (action, quantity) else {
        return Err(ApiError::bad_request("Invalid stock transaction"));
    };
    let transaction = StockTransaction {
        id: Uuid::now_v7(),
        product_id,
        action,
        quantity,
        created_at: now_millis(),
    };
    state.store.create_stock_transaction(transaction.clone()).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render_transaction(&transaction, &origin))),
    ))
}

async fn transactions(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiPath(raw_id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let product_id = product_id(&raw_id)?;
    check_filters(&query.filters, &[])?;
    if state.store.stock(product_id).await?.is_none() {
        return Err(stock_not_found(&raw_id));
    }
    let page = state.store.stock_transactions(product_id, query.page).await?;
    let items = page
        .items
        .iter()
        .map(|t| render_transaction(t, &origin))
        .collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn transaction(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    ApiPath((raw_id, raw_transaction)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let not_found = || ApiError::not_found("Not Found", "Stock transaction not found");
    let product_id = product_id(&raw_id)?;
    let id = parse_uuid(&raw_transaction, not_found)?;
    let transaction = state
        .store
        .stock_transaction(product_id, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(envelope::single(render_transaction(&transaction, &origin))))
}
