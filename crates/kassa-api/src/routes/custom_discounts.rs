//! `/v2/carts/{id}/custom-discounts[/{discountID}]` and
//! `/v2/carts/{id}/items/{itemID}/custom-discounts[/{discountID}]`: custom discounts on a cart
//! and on its lines, admin only. What a body may say is `kassa_core::custom_discounts::parse`,
//! whether an add fits the cart `kassa_core::custom_discounts::plan` (decided again by the store
//! in the transaction that writes it); the cart totals include them on every read while the cart's
//! `discount_settings.custom_discounts_enabled` is true.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{post, put};
use kassa_core::cart_totals::CalculationMethod;
use kassa_core::carts::{CartContents, StockOf, is_valid_cart_id};
use kassa_core::custom_discounts::{self, CustomDiscount, MAX_PER_CART, Refusal};
use kassa_core::money::MoneyFormat;
use kassa_core::settings::StoreSettings;
use kassa_core::time::{Millis, now_millis};
use kassa_core::{Error, FieldError};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Admin;
use crate::envelope::Origin;
use crate::error::{ApiError, ApiResult, ErrorObject};
use crate::extract::{ApiJson, ApiPath, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::cart::cart_emit;
use crate::views::custom_discount::render_custom_discount;
use crate::views::money::money_formats;

pub fn router() -> Routes {
    Routes::new()
        .route(
            "/v2/carts/{id}/custom-discounts",
            post(bulk_add).delete(bulk_delete),
        )
        .route(
            "/v2/carts/{id}/custom-discounts/{discount_id}",
            put(update_on_cart).delete(remove_from_cart),
        )
        .route(
            "/v2/carts/{id}/items/{item_id}/custom-discounts",
            post(add_to_item),
        )
        .route(
            "/v2/carts/{id}/items/{item_id}/custom-discounts/{discount_id}",
            put(update_on_item).delete(remove_from_item),
        )
}

fn cart_not_found() -> ApiError {
    ApiError::not_found("Not Found", "Cart not found")
}

fn item_not_found() -> ApiError {
    ApiError::not_found("Not Found", "Item was not found in the cart")
}

fn discount_not_found() -> ApiError {
    ApiError::not_found("Not Found", "Custom discount not found")
}

/// What a cart must be for a custom discount to be added or changed: one that uses them, in a
/// store whose calculation method supports them.
fn may_use(contents: &CartContents, settings: &StoreSettings) -> ApiResult<()> {
    if !contents.cart.custom_discounts_enabled {
        return Err(to_api_error(refusal_error(Refusal::NotEnabled, None)));
    }
    if settings.calculation_method == CalculationMethod::Simple {
        return Err(ApiError::bad_request(
            "Custom discounts are not supported with the simple calculation method",
        ));
    }
    Ok(())
}

/// The live cart with its lines and custom discounts in effect, the store settings, the money
/// formats and the expiry a change to it gets. Never creates a cart.
async fn open(
    state: &AppState,
    id: &str,
    now: Millis,
) -> ApiResult<(
    CartContents,
    StoreSettings,
    HashMap<String, MoneyFormat>,
    String,
    Millis,
)> {
    if !is_valid_cart_id(id) {
        return Err(cart_not_found());
    }
    let settings = state.catalog_view.store_settings(&*state.store).await?;
    let contents = state
        .store
        .cart_contents(id, now, StockOf::Nothing)
        .await?
        .0
        .ok_or_else(cart_not_found)?;
    let (formats, default) = money_formats(state).await?;
    let currency = contents.cart.currency.clone().unwrap_or(default);
    let expires_at = settings.cart_expiry(now);
    Ok((contents, settings, formats, currency, expires_at))
}

fn refusal_error(refusal: Refusal, item_id: Option<Uuid>) -> ErrorObject {
    let (status, title, detail) = match refusal {
        Refusal::NotEnabled => (
            400,
            "Bad Request",
            "Custom discounts not enabled for this cart".to_owned(),
        ),
        Refusal::EmptyCart => (
            400,
            "Bad Request",
            "Custom discounts cannot be added to an empty cart".to_owned(),
        ),
        Refusal::UnknownItem => (404, "Not Found", "Item was not found in the cart".to_owned()),
        Refusal::CartLimit => (
            422,
            "Custom discount not added to cart",
            format!("Cannot exceed custom discount limit of ({MAX_PER_CART}) at the cart level."),
        ),
        Refusal::ItemLimit => (
            422,
            "Limit Reached",
            "Custom discount limit reached for this cart item".to_owned(),
        ),
    };
    ErrorObject {
        status,
        title: title.into(),
        detail: Some(detail),
        source: None,
        meta: item_id.map(|id| json!({ "id": id })),
    }
}

fn to_api_error(e: ErrorObject) -> ApiError {
    ApiError {
        status: StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        errors: vec![e],
    }
}

/// The line a bulk discount names (`relationships.item.data.{type,id}`), if it names one.
fn related_item(raw: &Value, prefix: &str) -> Result<Option<Uuid>, FieldError> {
    let Some(rel) = raw.get("relationships").filter(|r| !r.is_null()) else {
        return Ok(None);
    };
    let data = &rel["item"]["data"];
    let source = format!("{prefix}.relationships.item.data");
    let kind = data["type"].as_str().unwrap_or_default();
    if kind != "cart_item" && kind != "custom_item" {
        return Err(FieldError::new(
            format!("{source}.type"),
            "invalid",
            "The related item's type must be cart_item or custom_item",
        ));
    }
    data["id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .map(Some)
        .ok_or_else(|| {
            FieldError::new(
                format!("{source}.id"),
                "invalid",
                "The related item's id must be the id of an item in the cart",
            )
        })
}

fn item_of(contents: &CartContents, item_id: Option<Uuid>) -> Option<(Uuid, &str)> {
    let id = item_id?;
    contents
        .lines
        .iter()
        .find(|l| l.id == id)
        .map(|l| (l.id, l.kind.as_str()))
}

fn field_errors(problems: Vec<FieldError>) -> Vec<ErrorObject> {
    problems
        .into_iter()
        .map(|p| ErrorObject {
            status: 400,
            title: p.title,
            detail: Some(p.detail),
            source: Some(p.source),
            meta: None,
        })
        .collect()
}

/// `POST /v2/carts/{id}/custom-discounts`: `data` is one custom discount (answered as one) or an
/// array of them (answered as an array, with `errors` for those refused); each may name a line in
/// `relationships.item`. `options.add_all_or_nothing` refuses all when one is refused.
async fn bulk_add(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let now = now_millis();
    let (contents, settings, formats, currency, expires_at) = open(&state, &id, now).await?;
    may_use(&contents, &settings)?;
    let (raws, single): (Vec<&Value>, bool) = match body.get("data") {
        Some(Value::Array(list)) if !list.is_empty() => (list.iter().collect(), false),
        Some(Value::Array(_)) => {
            return Err(
                ApiError::bad_request("data must list at least one custom discount").with_source("data"),
            );
        }
        Some(raw @ Value::Object(_)) => (vec![raw], true),
        _ => {
            return Err(ApiError::bad_request(
                "data must be a custom discount or an array of custom discounts",
            )
            .with_source("data"));
        }
    };
    let all_or_nothing = body["options"]["add_all_or_nothing"].as_bool().unwrap_or(false);
    let cart_id = contents.cart.id.clone();
    let mut good = Vec::new();
    let mut problems = Vec::new();
    for (i, raw) in raws.iter().enumerate() {
        let prefix = if single {
            "data".to_owned()
        } else {
            format!("data[{i}]")
        };
        let fields = custom_discounts::parse(raw, &prefix, None, Some(&currency));
        let item = related_item(raw, &prefix);
        match (fields, item) {
            (Ok(fields), Ok(item)) => good.push(fields.into_discount(&cart_id, item, now)),
            (fields, item) => {
                problems.extend(fields.err().unwrap_or_default());
                problems.extend(item.err());
            }
        }
    }
    if !problems.is_empty() && (all_or_nothing || good.is_empty() || single) {
        return Err(Error::Validation(problems).into());
    }
    if contents.lines.is_empty() {
        return Err(to_api_error(refusal_error(Refusal::EmptyCart, None)));
    }
    let emit = cart_emit(&state, &settings, &origin, &contents).await?;
    let emitted = emit.is_some();
    let outcomes = state
        .store
        .add_custom_discounts(&cart_id, good, all_or_nothing, expires_at, emit)
        .await?;
    if emitted {
        state.integrations.committed();
    }
    // The lines as read name the related items (a line deleted since refuses its discount).
    let mut added = Vec::new();
    let mut errors = field_errors(problems);
    for outcome in outcomes {
        match outcome {
            Ok(d) => added.push(render_custom_discount(
                &d,
                item_of(&contents, d.item_id),
                &currency,
                &formats,
            )),
            Err(refusal) => errors.push(refusal_error(refusal, None)),
        }
    }
    if all_or_nothing && !errors.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Add all or nothing.",
            "Add all or nothing set to (true). Could not bulk add custom discounts to cart.",
        ));
    }
    if added.is_empty() {
        let status = StatusCode::from_u16(errors[0].status).unwrap_or(StatusCode::BAD_REQUEST);
        return Err(ApiError { status, errors });
    }
    let mut response = if single {
        json!({ "data": added.remove(0) })
    } else {
        json!({ "data": added })
    };
    if !errors.is_empty() {
        response["errors"] = json!(errors);
    }
    Ok((StatusCode::CREATED, Json(response)))
}

/// `DELETE /v2/carts/{id}/custom-discounts`: every custom discount of the cart and its lines;
/// 204 also when there were none.
async fn bulk_delete(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let now = now_millis();
    let (contents, settings, _, _, expires_at) = open(&state, &id, now).await?;
    let emit = cart_emit(&state, &settings, &origin, &contents).await?;
    let emitted = emit.is_some();
    state
        .store
        .delete_custom_discounts(&contents.cart.id, now, expires_at, emit)
        .await?;
    if emitted {
        state.integrations.committed();
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v2/carts/{id}/items/{itemID}/custom-discounts`: one custom discount on the line.
async fn add_to_item(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, item_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let now = now_millis();
    let (contents, settings, formats, currency, expires_at) = open(&state, &id, now).await?;
    let item_id = parse_uuid(&item_id, item_not_found)?;
    may_use(&contents, &settings)?;
    // The SDK wraps the discount in `data`; the spec's example sends it bare.
    let raw = body.get("data").unwrap_or(&body);
    let prefix = if body.get("data").is_some() { "data" } else { "" };
    let fields = custom_discounts::parse(raw, prefix, None, Some(&currency)).map_err(Error::Validation)?;
    if contents.lines.is_empty() {
        return Err(to_api_error(refusal_error(Refusal::EmptyCart, None)));
    }
    if !contents.lines.iter().any(|l| l.id == item_id) {
        return Err(item_not_found());
    }
    let discount = fields.into_discount(&contents.cart.id, Some(item_id), now);
    let emit = cart_emit(&state, &settings, &origin, &contents).await?;
    let emitted = emit.is_some();
    let outcome = state
        .store
        .add_custom_discounts(&contents.cart.id, vec![discount], true, expires_at, emit)
        .await?
        .pop()
        .ok_or_else(|| ApiError::from(Error::internal("no outcome for the custom discount")))?;
    if emitted {
        state.integrations.committed();
    }
    match outcome {
        Ok(d) => Ok((
            StatusCode::CREATED,
            Json(
                json!({ "data": render_custom_discount(&d, item_of(&contents, d.item_id), &currency, &formats) }),
            ),
        )),
        Err(refusal) => Err(to_api_error(refusal_error(refusal, Some(item_id)))),
    }
}

/// `PUT …/custom-discounts/{discountID}` on the cart (`item_id: None`) or on a line: the fields
/// given replace the discount's.
async fn update(
    state: &AppState,
    origin: &Origin,
    id: &str,
    item_id: Option<Uuid>,
    discount_id: &str,
    body: &Value,
) -> ApiResult<Json<Value>> {
    let now = now_millis();
    let (contents, settings, formats, currency, expires_at) = open(state, id, now).await?;
    let discount_id = parse_uuid(discount_id, discount_not_found)?;
    if let Some(item) = item_id
        && !contents.lines.iter().any(|l| l.id == item)
    {
        return Err(item_not_found());
    }
    may_use(&contents, &settings)?;
    let current = contents
        .custom_discounts
        .iter()
        .find(|d| d.id == discount_id && d.item_id == item_id)
        .ok_or_else(discount_not_found)?;
    let raw = body.get("data").unwrap_or(body);
    let prefix = if body.get("data").is_some() { "data" } else { "" };
    let fields =
        custom_discounts::parse(raw, prefix, Some(current), Some(&currency)).map_err(Error::Validation)?;
    let changed = CustomDiscount {
        external_id: fields.external_id,
        discount_engine: fields.discount_engine,
        description: fields.description,
        discount_code: fields.discount_code,
        amount: fields.amount,
        updated_at: now,
        ..current.clone()
    };
    let emit = cart_emit(state, &settings, origin, &contents).await?;
    let emitted = emit.is_some();
    if !state
        .store
        .update_custom_discount(changed.clone(), expires_at, emit)
        .await?
    {
        return Err(discount_not_found());
    }
    if emitted {
        state.integrations.committed();
    }
    Ok(Json(json!({
        "data": render_custom_discount(&changed, item_of(&contents, changed.item_id), &currency, &formats)
    })))
}

async fn update_on_cart(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, discount_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    update(&state, &origin, &id, None, &discount_id, &body).await
}

async fn update_on_item(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, item_id, discount_id)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let item_id = parse_uuid(&item_id, item_not_found)?;
    update(&state, &origin, &id, Some(item_id), &discount_id, &body).await
}

/// `DELETE …/custom-discounts/{discountID}` on the cart or on a line; allowed also while the
/// cart does not use custom discounts (removing one changes nothing it shows).
async fn remove(
    state: &AppState,
    origin: &Origin,
    id: &str,
    item_id: Option<Uuid>,
    discount_id: &str,
) -> ApiResult<StatusCode> {
    let now = now_millis();
    let (contents, settings, _, _, expires_at) = open(state, id, now).await?;
    let discount_id = parse_uuid(discount_id, discount_not_found)?;
    let emit = cart_emit(state, &settings, origin, &contents).await?;
    let emitted = emit.is_some();
    if !state
        .store
        .delete_custom_discount(&contents.cart.id, item_id, discount_id, now, expires_at, emit)
        .await?
    {
        return Err(discount_not_found());
    }
    if emitted {
        state.integrations.committed();
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_from_cart(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, discount_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    remove(&state, &origin, &id, None, &discount_id).await
}

async fn remove_from_item(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, item_id, discount_id)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let item_id = parse_uuid(&item_id, item_not_found)?;
    remove(&state, &origin, &id, Some(item_id), &discount_id).await
}
