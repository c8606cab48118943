//! `/v2/carts/{id}/taxes`, `/v2/carts/{id}/items/{itemID}/taxes[/{taxID}]` and
//! `/v2/carts/{id}/items/{itemID}/components/{productID}/taxes[/{taxID}]`: tax items on cart lines
//! and on bundle lines' component products, admin only (Elastic Path lets only
//! `client_credentials` tokens set tax). A tax item is a `rate` (a decimal, kept exactly as parts
//! per million) **or** a fixed `amount` in minor units; the cart totals include them on every
//! read. A component's rate taxes that component's share of its bundle line
//! ([`kassa_core::bundles::LineBundle::tax_on_line`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{post, put};
use kassa_core::cart_totals::{MAX_AMOUNT, TaxItem, TaxRate};
use kassa_core::carts::{
    CartContents, CartSize, CartTaxItem, MAX_TAX_ITEMS_PER_ITEM, StockOf, TaxItemKey, TaxRefusal,
};
use kassa_core::settings::StoreSettings;
use kassa_core::time::{Millis, now_millis};
use kassa_core::{Error, FieldError};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Admin;
use crate::envelope::Origin;
use crate::error::{ApiError, ApiResult, ErrorObject};
use crate::extract::{ApiJson, ApiPath, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::cart::cart_emit;
use crate::views::tax_item::render_tax_item;

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/carts/{id}/taxes", post(bulk_add).delete(bulk_delete))
        .route("/v2/carts/{id}/items/{item_id}/taxes", post(add))
        .route(
            "/v2/carts/{id}/items/{item_id}/taxes/{tax_id}",
            put(update).delete(remove),
        )
        .route(
            "/v2/carts/{id}/items/{item_id}/components/{product_id}/taxes",
            post(add_to_component),
        )
        .route(
            "/v2/carts/{id}/items/{item_id}/components/{product_id}/taxes/{tax_id}",
            put(update_component).delete(remove_component),
        )
}

const MAX_TEXT: usize = 255;

fn cart_not_found() -> ApiError {
    ApiError::not_found("Not Found", "Cart not found")
}

fn item_not_found() -> ApiError {
    ApiError::not_found("Not Found", "Item was not found in the cart")
}

fn tax_not_found() -> ApiError {
    ApiError::not_found("Not Found", "Tax item not found")
}

fn component_not_found(component: Uuid) -> ErrorObject {
    ErrorObject {
        status: 404,
        title: "Not Found".into(),
        detail: Some(format!(
            "The product {component} is not a component of this cart item's bundle"
        )),
        source: None,
        meta: Some(json!({ "component_product_id": component })),
    }
}

/// Whether the cart's line `item_id` is a bundle line with the component product `component`
/// (`None`: any line will do): a line that is not there is for the store to refuse.
fn check_component(
    contents: &CartContents,
    item_id: Uuid,
    component: Option<Uuid>,
) -> Result<(), ErrorObject> {
    let (Some(component), Some(line)) = (component, contents.lines.iter().find(|l| l.id == item_id)) else {
        return Ok(());
    };
    let has = line
        .bundle
        .as_ref()
        .is_some_and(|b| b.products(1).iter().any(|(id, _)| *id == component));
    if has {
        Ok(())
    } else {
        Err(component_not_found(component))
    }
}

/// The live cart with its lines and tax items (what a new tax is decided on), the store's
/// settings, and the expiry a change to it gets.
async fn contents_and_expiry(
    state: &AppState,
    id: &str,
    now: Millis,
) -> ApiResult<(CartContents, StoreSettings, Millis)> {
    if !kassa_core::carts::is_valid_cart_id(id) {
        return Err(cart_not_found());
    }
    let settings = state.catalog_view.store_settings(&*state.store).await?;
    let contents = state
        .store
        .cart_contents(id, now, StockOf::Nothing)
        .await?
        .0
        .ok_or_else(cart_not_found)?;
    let expires_at = settings.cart_expiry(now);
    Ok((contents, settings, expires_at))
}

/// The field of a tax body a too-large total is blamed on: its rate or its amount.
fn tax_field(tax: TaxItem) -> &'static str {
    match tax {
        TaxItem::Rate(_) => "rate",
        TaxItem::Amount(_) => "amount",
    }
}

/// One field of a tax body: absent, `null`, or a value.
fn field<'a>(raw: &'a Value, name: &str) -> Option<&'a Value> {
    raw.as_object().and_then(|o| o.get(name))
}

/// Reads a tax item body over `base` (the stored item on update, else empty), reporting every
/// problem with its source under `prefix`. `rate: null` clears a rate so that an `amount` can
/// take its place, and vice versa.
fn read_tax(raw: &Value, prefix: &str, base: Option<&CartTaxItem>) -> Result<Fields, Vec<FieldError>> {
    let mut v = kassa_core::Validator::new();
    let src = |name: &str| format!("{prefix}.{name}");
    match field(raw, "type").map(Value::as_str) {
        Some(Some("tax_item")) => {}
        Some(_) => v.push(src("type"), "invalid", "type must be tax_item"),
        None => v.push(src("type"), "required", "type is required"),
    }
    let mut text = |name: &str, current: Option<&String>| -> Option<String> {
        match field(raw, name) {
            None => current.cloned(),
            Some(Value::Null) => None,
            Some(Value::String(s)) => v.optional_text_or_blank(Some(s.clone()), &src(name), MAX_TEXT),
            Some(_) => {
                v.push(src(name), "type", format!("{name} must be a string"));
                None
            }
        }
    };
    let name = text("name", base.and_then(|b| b.name.as_ref()));
    let code = text("code", base.and_then(|b| b.code.as_ref()));
    let jurisdiction = text("jurisdiction", base.and_then(|b| b.jurisdiction.as_ref()));
    // A malformed rate or amount is reported as such, not also as missing.
    let mut malformed = false;
    let rate = match field(raw, "rate") {
        None => base.and_then(|b| match b.tax {
            TaxItem::Rate(r) => Some(r),
            TaxItem::Amount(_) => None,
        }),
        Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64().map(TaxRate::from_f64) {
            Some(Ok(rate)) => Some(rate),
            Some(Err(e)) => {
                malformed = true;
                v.push(src("rate"), "invalid", e.to_string());
                None
            }
            None => {
                malformed = true;
                v.push(
                    src("rate"),
                    "invalid",
                    "rate must be a decimal number such as 0.2",
                );
                None
            }
        },
        Some(_) => {
            malformed = true;
            v.push(src("rate"), "type", "rate must be a decimal number such as 0.2");
            None
        }
    };
    let amount = match field(raw, "amount") {
        None => base.and_then(|b| match b.tax {
            TaxItem::Amount(a) => Some(a),
            TaxItem::Rate(_) => None,
        }),
        Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(a) if a.unsigned_abs() > MAX_AMOUNT.unsigned_abs() => {
                malformed = true;
                v.push(
                    src("amount"),
                    "number_lte",
                    format!("amount must be between -{MAX_AMOUNT} and {MAX_AMOUNT} (minor units)"),
                );
                None
            }
            Some(a) => Some(a),
            None => {
                malformed = true;
                v.push(src("amount"), "type", "amount must be an integer in minor units");
                None
            }
        },
        Some(_) => {
            malformed = true;
            v.push(src("amount"), "type", "amount must be an integer in minor units");
            None
        }
    };
    let tax = match (rate, amount) {
        (Some(_), Some(_)) => {
            v.push(
                src("amount"),
                "invalid",
                "A tax item has either a rate or an amount, not both",
            );
            None
        }
        (Some(rate), None) => Some(TaxItem::Rate(rate)),
        (None, Some(amount)) => Some(TaxItem::Amount(amount)),
        (None, None) => {
            if !malformed {
                v.push(src("rate"), "required", "A tax item needs a rate or an amount");
            }
            None
        }
    };
    if let Err(Error::Validation(problems)) = v.finish() {
        return Err(problems);
    }
    Ok(Fields {
        name,
        code,
        jurisdiction,
        tax: tax.unwrap_or(TaxItem::Amount(0)),
    })
}

struct Fields {
    name: Option<String>,
    code: Option<String>,
    jurisdiction: Option<String>,
    tax: TaxItem,
}

impl Fields {
    fn into_tax_item(
        self,
        cart_id: &str,
        item_id: Uuid,
        component: Option<Uuid>,
        now: Millis,
    ) -> CartTaxItem {
        CartTaxItem {
            id: kassa_core::ids::new_id(),
            cart_id: cart_id.to_owned(),
            item_id,
            name: self.name,
            code: self.code,
            jurisdiction: self.jurisdiction,
            tax: self.tax,
            component_product_id: component,
            created_at: now,
            updated_at: now,
        }
    }
}

fn refusal_error(refusal: TaxRefusal, item_id: Uuid, component: Option<Uuid>) -> ErrorObject {
    let on = if component.is_some() {
        "bundle component"
    } else {
        "cart item"
    };
    let (status, title, detail) = match refusal {
        TaxRefusal::UnknownItem => (404, "Not Found", "Item was not found in the cart".to_owned()),
        TaxRefusal::LimitReached => (
            400,
            "Tax item not added to cart item.",
            format!("Cannot exceed tax item limit of ({MAX_TAX_ITEMS_PER_ITEM}) on {on}."),
        ),
    };
    ErrorObject {
        status,
        title: title.into(),
        detail: Some(detail),
        source: None,
        meta: Some(json!({ "id": item_id })),
    }
}

fn to_api_error(e: ErrorObject) -> ApiError {
    ApiError {
        status: StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        errors: vec![e],
    }
}

#[derive(Deserialize)]
struct TaxBody {
    data: Value,
}

async fn add(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, item_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<TaxBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    add_tax(&state, &origin, &id, &item_id, None, body).await
}

async fn add_to_component(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, item_id, product_id)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<TaxBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let component = parse_component(&product_id)?;
    add_tax(&state, &origin, &id, &item_id, Some(component), body).await
}

fn parse_component(product_id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(product_id).map_err(|_| {
        ApiError::not_found(
            "Not Found",
            "The component product is not a component of this cart item's bundle",
        )
    })
}

/// Adds a tax item to the line `item_id` or to one of its bundle's component products.
async fn add_tax(
    state: &AppState,
    origin: &Origin,
    id: &str,
    item_id: &str,
    component: Option<Uuid>,
    body: TaxBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let now = now_millis();
    let (contents, settings, expires_at) = contents_and_expiry(state, id, now).await?;
    let cart_id = contents.cart.id.clone();
    let item_id = parse_uuid(item_id, item_not_found)?;
    let fields = read_tax(&body.data, "data", None).map_err(Error::Validation)?;
    check_component(&contents, item_id, component).map_err(to_api_error)?;
    let tax = fields.into_tax_item(&cart_id, item_id, component, now);
    // Decided on the cart as read; the store decides again on what it writes.
    CartSize::of(&contents.lines, &contents.taxes)
        .try_tax(item_id, tax.tax)
        .map_err(|limit| limit.error(&format!("data.{}", tax_field(tax.tax))))?;
    let emit = cart_emit(state, &settings, origin, &contents).await?;
    let emitted = emit.is_some();
    let outcome = state
        .store
        .add_cart_tax_items(&cart_id, vec![tax], true, expires_at, emit)
        .await?
        .pop()
        .ok_or_else(|| ApiError::from(Error::internal("no outcome for the tax item")))?;
    if emitted {
        state.integrations.committed();
    }
    match outcome {
        Ok(tax) => Ok((
            StatusCode::CREATED,
            Json(json!({ "data": render_tax_item(&tax) })),
        )),
        Err(refusal) => Err(to_api_error(refusal_error(refusal, item_id, component))),
    }
}

#[derive(Deserialize)]
struct BulkBody {
    data: Vec<Value>,
    #[serde(default)]
    options: BulkOptions,
}

#[derive(Deserialize, Default)]
struct BulkOptions {
    #[serde(default)]
    add_all_or_nothing: bool,
}

/// The bundle component a bulk tax item names, if any: `meta.component_product_id`.
fn related_component(raw: &Value, prefix: &str) -> Result<Option<Uuid>, FieldError> {
    match &raw["meta"]["component_product_id"] {
        Value::Null => Ok(None),
        value => value
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .map(Some)
            .ok_or_else(|| {
                FieldError::new(
                    format!("{prefix}.meta.component_product_id"),
                    "invalid",
                    "component_product_id must be the id of a component product of the item's bundle",
                )
            }),
    }
}

/// The line a bulk tax item names: `relationships.item.data.{type,id}`.
fn related_item(raw: &Value, prefix: &str) -> Result<(Uuid, String), FieldError> {
    let data = &raw["relationships"]["item"]["data"];
    let source = format!("{prefix}.relationships.item.data");
    let kind = data["type"].as_str().unwrap_or_default();
    if kind != "cart_item" && kind != "custom_item" {
        return Err(FieldError::new(
            format!("{source}.type"),
            "invalid",
            "The related item's type must be cart_item or custom_item",
        ));
    }
    let id = data["id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| {
            FieldError::new(
                format!("{source}.id"),
                "invalid",
                "The related item's id must be the id of an item in the cart",
            )
        })?;
    Ok((id, kind.to_owned()))
}

async fn bulk_add(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<BulkBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let now = now_millis();
    let (contents, settings, expires_at) = contents_and_expiry(&state, &id, now).await?;
    let cart_id = contents.cart.id.clone();
    let mut size = CartSize::of(&contents.lines, &contents.taxes);
    let mut good = Vec::new();
    let mut kinds = Vec::new();
    let mut problems = Vec::new();
    // Tax items for a component the item's bundle lacks: reported as the store's refusals are.
    let mut later: Vec<ErrorObject> = Vec::new();
    for (i, raw) in body.data.iter().enumerate() {
        let prefix = format!("data[{i}]");
        let fields = read_tax(raw, &prefix, None);
        let item = related_item(raw, &prefix);
        let component = related_component(raw, &prefix);
        match (fields, item, component) {
            (Ok(fields), Ok((item_id, kind)), Ok(component)) => {
                if let Err(refused) = check_component(&contents, item_id, component) {
                    later.push(refused);
                    continue;
                }
                // Each tax item is decided on the cart as read with those before it; one that
                // would make the cart too large to total is refused on its own.
                let tax = fields.into_tax_item(&cart_id, item_id, component, now);
                match size.try_tax(item_id, tax.tax) {
                    Ok(()) => {
                        good.push(tax);
                        kinds.push(kind);
                    }
                    Err(limit) => {
                        if let Error::Validation(p) = limit.error(&format!("{prefix}.{}", tax_field(tax.tax)))
                        {
                            problems.extend(p);
                        }
                    }
                }
            }
            (fields, item, component) => {
                problems.extend(fields.err().unwrap_or_default());
                problems.extend(item.err());
                problems.extend(component.err());
            }
        }
    }
    let all_or_nothing = body.options.add_all_or_nothing;
    if body.data.is_empty() {
        return Err(ApiError::bad_request("data must list at least one tax item").with_source("data"));
    }
    if !problems.is_empty() && (all_or_nothing || good.is_empty()) {
        return Err(Error::Validation(problems).into());
    }
    if all_or_nothing && !later.is_empty() {
        return Err(all_or_nothing_refused());
    }
    let targets: Vec<(Uuid, Option<Uuid>)> =
        good.iter().map(|t| (t.item_id, t.component_product_id)).collect();
    let emit = cart_emit(&state, &settings, &origin, &contents).await?;
    let emitted = emit.is_some();
    let outcomes = state
        .store
        .add_cart_tax_items(&cart_id, good, all_or_nothing, expires_at, emit)
        .await?;
    if emitted {
        state.integrations.committed();
    }
    let mut added = Vec::new();
    let mut errors: Vec<ErrorObject> = problems
        .into_iter()
        .map(|p| ErrorObject {
            status: 400,
            title: p.title,
            detail: Some(p.detail),
            source: Some(p.source),
            meta: None,
        })
        .chain(later)
        .collect();
    for ((outcome, (item_id, component)), kind) in outcomes.into_iter().zip(targets).zip(kinds) {
        match outcome {
            Ok(tax) => {
                let mut v = json!(render_tax_item(&tax));
                v["relationships"] = json!({ "item": { "data": { "type": kind, "id": item_id } } });
                added.push(v);
            }
            Err(refusal) => errors.push(refusal_error(refusal, item_id, component)),
        }
    }
    if all_or_nothing && !errors.is_empty() {
        return Err(all_or_nothing_refused());
    }
    if added.is_empty() {
        let status = StatusCode::from_u16(errors[0].status).unwrap_or(StatusCode::BAD_REQUEST);
        return Err(ApiError { status, errors });
    }
    let mut response = json!({ "data": added });
    if !errors.is_empty() {
        response["errors"] = json!(errors);
    }
    Ok((StatusCode::CREATED, Json(response)))
}

fn all_or_nothing_refused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Add all or nothing.",
        "Add all or nothing set to (true). Could not bulk add tax items to cart.",
    )
}

async fn bulk_delete(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let now = now_millis();
    let (contents, settings, expires_at) = contents_and_expiry(&state, &id, now).await?;
    let emit = cart_emit(&state, &settings, &origin, &contents).await?;
    let emitted = emit.is_some();
    let deleted = state
        .store
        .delete_cart_tax_items(&contents.cart.id, now, expires_at, emit)
        .await?;
    if emitted {
        state.integrations.committed();
    }
    if deleted == 0 {
        return Err(ApiError::not_found(
            "Resource Not Found",
            "No tax items exist in the cart",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn update(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, item_id, tax_id)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<TaxBody>,
) -> ApiResult<Json<Value>> {
    update_tax(&state, &origin, &id, &item_id, None, &tax_id, body).await
}

async fn update_component(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, item_id, product_id, tax_id)): ApiPath<(String, String, String, String)>,
    ApiJson(body): ApiJson<TaxBody>,
) -> ApiResult<Json<Value>> {
    let component = Uuid::parse_str(&product_id).map_err(|_| tax_not_found())?;
    update_tax(&state, &origin, &id, &item_id, Some(component), &tax_id, body).await
}

/// Changes a tax item of the line `item_id` (of its bundle's `component`, if given).
async fn update_tax(
    state: &AppState,
    origin: &Origin,
    id: &str,
    item_id: &str,
    component: Option<Uuid>,
    tax_id: &str,
    body: TaxBody,
) -> ApiResult<Json<Value>> {
    let now = now_millis();
    let (contents, settings, expires_at) = contents_and_expiry(state, id, now).await?;
    let item_id = parse_uuid(item_id, item_not_found)?;
    let tax_id = parse_uuid(tax_id, tax_not_found)?;
    let current = contents
        .taxes
        .iter()
        .find(|t| t.id == tax_id && t.item_id == item_id && t.component_product_id == component)
        .ok_or_else(tax_not_found)?;
    let fields = read_tax(&body.data, "data", Some(current)).map_err(Error::Validation)?;
    let tax = CartTaxItem {
        name: fields.name,
        code: fields.code,
        jurisdiction: fields.jurisdiction,
        tax: fields.tax,
        updated_at: now,
        ..current.clone()
    };
    // Decided on the cart as read, with this tax item changed; the store decides again.
    let taxes: Vec<CartTaxItem> = contents
        .taxes
        .iter()
        .map(|t| if t.id == tax.id { tax.clone() } else { t.clone() })
        .collect();
    CartSize::of(&contents.lines, &taxes)
        .check()
        .map_err(|limit| limit.error(&format!("data.{}", tax_field(tax.tax))))?;
    let emit = cart_emit(state, &settings, origin, &contents).await?;
    let emitted = emit.is_some();
    if !state
        .store
        .update_cart_tax_item(tax.clone(), expires_at, emit)
        .await?
    {
        return Err(tax_not_found());
    }
    if emitted {
        state.integrations.committed();
    }
    Ok(Json(json!({ "data": render_tax_item(&tax) })))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, item_id, tax_id)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    remove_tax(&state, &origin, &id, &item_id, None, &tax_id).await
}

async fn remove_component(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, item_id, product_id, tax_id)): ApiPath<(String, String, String, String)>,
) -> ApiResult<StatusCode> {
    let component = Uuid::parse_str(&product_id).map_err(|_| tax_not_found())?;
    remove_tax(&state, &origin, &id, &item_id, Some(component), &tax_id).await
}

/// Deletes a tax item of the line `item_id` (of its bundle's `component`, if given).
async fn remove_tax(
    state: &AppState,
    origin: &Origin,
    id: &str,
    item_id: &str,
    component: Option<Uuid>,
    tax_id: &str,
) -> ApiResult<StatusCode> {
    let now = now_millis();
    let (contents, settings, expires_at) = contents_and_expiry(state, id, now).await?;
    let item_id = parse_uuid(item_id, item_not_found)?;
    let tax_id = parse_uuid(tax_id, tax_not_found)?;
    let emit = cart_emit(state, &settings, origin, &contents).await?;
    let emitted = emit.is_some();
    let key = TaxItemKey {
        cart_id: contents.cart.id.clone(),
        item_id,
        component_product_id: component,
        id: tax_id,
    };
    if !state
        .store
        .delete_cart_tax_item(key, now, expires_at, emit)
        .await?
    {
        return Err(tax_not_found());
    }
    if emitted {
        state.integrations.committed();
    }
    Ok(StatusCode::NO_CONTENT)
}
