//! `/pcm/pricebooks` and their `product-price`s: list prices, volume tiers and sales per sku.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use kassa_core::catalog::{Pricebook, ProductPrice};
use kassa_core::pricing::{Currencies, CurrencyPrice, PriceSheet, Sale, Schedule, Tier, check_sheet};
use kassa_core::query::{FilterOp, check_filters};
use kassa_core::time::{now_millis, rfc3339};
use kassa_core::{Error, Validator};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::pcm::{self, Body, Patch, check_required_text, check_text, present, present_text, set};
use crate::auth::Admin;
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, moment, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    pcm::router(
        Routes::new()
            .route("/pcm/pricebooks", get(list).post(create))
            .route("/pcm/pricebooks/{id}", get(show).put(update).delete(remove))
            .route("/pcm/pricebooks/{id}/prices", get(list_prices).post(create_price))
            .route(
                "/pcm/pricebooks/{id}/prices/{price}",
                get(show_price).put(update_price).delete(remove_price),
            ),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Attributes {
    #[serde(default, deserialize_with = "present")]
    name: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    description: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    external_ref: Patch<String>,
}

fn parse(body: Body<Attributes>, path_id: Option<Uuid>) -> Result<Attributes, Error> {
    let mut v = Validator::new();
    let a = body.data.checked(&mut v, "pricebook", path_id);
    if let Some(a) = &a {
        check_required_text(&mut v, &a.name, "data.attributes.name", 255, path_id.is_none());
        check_text(&mut v, &a.description, "data.attributes.description", 10_000);
        check_text(&mut v, &a.external_ref, "data.attributes.external_ref", 2048);
    }
    v.finish()?;
    a.ok_or_else(|| Error::internal("validated attributes missing"))
}

fn render(b: &Pricebook, origin: &Origin) -> Value {
    json!({
        "type": "pricebook",
        "id": b.id,
        "attributes": pcm::compact(json!({
            "name": b.name,
            "description": b.description,
            "external_ref": b.external_ref,
            "created_at": rfc3339(b.created_at),
            "updated_at": rfc3339(b.updated_at),
        })),
        "meta": { "owner": "store" },
        "links": { "self": origin.url(&format!("/pcm/pricebooks/{}", b.id)) },
    })
}

fn not_found() -> ApiError {
    ApiError::not_found("Price book not found", "No price book with this id")
}

fn price_not_found() -> ApiError {
    ApiError::not_found("Price not found", "No price with this id in this price book")
}

async fn create(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiJson(body): ApiJson<Body<Attributes>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let a = parse(body, None)?;
    let now = now_millis();
    let book = Pricebook {
        id: kassa_core::ids::new_id(),
        name: a.name.flatten().unwrap_or_default(),
        description: a.description.flatten(),
        external_ref: a.external_ref.flatten(),
        created_at: now,
        updated_at: now,
    };
    let book = state.store.create_pricebook(book).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render(&book, &origin))),
    ))
}

async fn show(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let book = state.store.pricebook(id).await?.ok_or_else(not_found)?;
    Ok(Json(envelope::single(render(&book, &origin))))
}

async fn list(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    check_filters(&query.filters, &[("external_ref", &[FilterOp::Eq])])?;
    let page = state.store.pricebooks(&query.filters, query.page).await?;
    let items = page.items.iter().map(|b| render(b, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn update(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Body<Attributes>>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let a = parse(body, Some(id))?;
    let now = now_millis();
    let book = state
        .store
        .update_pricebook(
            id,
            Box::new(move |b| {
                set!(b.name, a.name.flatten());
                set!(b.description, a.description);
                set!(b.external_ref, a.external_ref);
                b.updated_at = now;
                Ok(())
            }),
        )
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(envelope::single(render(&book, &origin))))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, not_found)?;
    if !state.store.delete_pricebook(id).await? {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- prices ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceAttributes {
    #[serde(default, deserialize_with = "present")]
    sku: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    external_ref: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    currencies: Patch<BTreeMap<String, CurrencyIn>>,
    #[serde(default, deserialize_with = "present")]
    sales: Patch<BTreeMap<String, SaleIn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CurrencyIn {
    amount: Option<i64>,
    includes_tax: Option<bool>,
    tiers: Option<BTreeMap<String, TierIn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierIn {
    minimum_quantity: Option<i64>,
    amount: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaleIn {
    schedule: Option<ScheduleIn>,
    currencies: Option<BTreeMap<String, CurrencyIn>>,
    bundle_ids: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleIn {
    valid_from: Option<String>,
    valid_to: Option<String>,
}

fn currencies(v: &mut Validator, input: BTreeMap<String, CurrencyIn>, source: &str) -> Currencies {
    input
        .into_iter()
        .map(|(code, c)| {
            let source = format!("{source}.{code}");
            let amount = v
                .required(c.amount, &format!("{source}.amount"))
                .unwrap_or_default();
            let tiers = c
                .tiers
                .unwrap_or_default()
                .into_iter()
                .map(|(name, t)| {
                    let source = format!("{source}.tiers.{name}");
                    let tier = Tier {
                        minimum_quantity: v
                            .required(t.minimum_quantity, &format!("{source}.minimum_quantity"))
                            .unwrap_or(1),
                        amount: v
                            .required(t.amount, &format!("{source}.amount"))
                            .unwrap_or_default(),
                    };
                    (name, tier)
                })
                .collect();
            let price = CurrencyPrice {
                amount,
                includes_tax: c.includes_tax.unwrap_or(false),
                tiers,
            };
            (code, price)
        })
        .collect()
}

fn sales(v: &mut Validator, input: BTreeMap<String, SaleIn>) -> BTreeMap<String, Sale> {
    input
        .into_iter()
        .map(|(name, s)| {
            let source = format!("data.attributes.sales.{name}");
            if s.bundle_ids.as_ref().is_some_and(|b| !b.is_null()) {
                v.push(
                    format!("{source}.bundle_ids"),
                    "Not Supported",
                    "Bundle sale prices are not supported by this server",
                );
            }
            let schedule = s.schedule.and_then(|sch| {
                let valid_from = moment(v, sch.valid_from, &format!("{source}.schedule.valid_from"));
                let valid_to = moment(v, sch.valid_to, &format!("{source}.schedule.valid_to"));
                (valid_from.is_some() || valid_to.is_some()).then_some(Schedule { valid_from, valid_to })
            });
            let currencies = currencies(
                v,
                s.currencies.unwrap_or_default(),
                &format!("{source}.currencies"),
            );
            (name, Sale { schedule, currencies })
        })
        .collect()
}

/// A validated price body: the new sku and external_ref, if given, and the new price sheet
/// parts, if given.
struct PriceChange {
    sku: Option<String>,
    external_ref: Patch<String>,
    currencies: Option<Currencies>,
    sales: Option<BTreeMap<String, Sale>>,
}

impl PriceChange {
    fn apply(self, p: &mut ProductPrice) {
        set!(p.sku, self.sku);
        set!(p.external_ref, self.external_ref);
        set!(p.prices.currencies, self.currencies);
        set!(p.prices.sales, self.sales);
    }
}

fn parse_price(body: Body<PriceAttributes>, path_id: Option<Uuid>) -> Result<PriceChange, Error> {
    let create = path_id.is_none();
    let mut v = Validator::new();
    let Some(a) = body.data.checked(&mut v, "product-price", path_id) else {
        v.finish()?;
        return Err(Error::internal("validated attributes missing"));
    };
    check_required_text(&mut v, &a.sku, "data.attributes.sku", 255, create);
    check_text(&mut v, &a.external_ref, "data.attributes.external_ref", 2048);
    let currencies = match a.currencies {
        None if !create => None,
        Some(Some(c)) if !c.is_empty() => Some(currencies(&mut v, c, "data.attributes.currencies")),
        _ => {
            v.push(
                "data.attributes.currencies",
                "required",
                "currencies needs a price in at least one currency",
            );
            None
        }
    };
    let sales = a.sales.map(|s| sales(&mut v, s.unwrap_or_default()));
    // The rules over the whole sheet, on what it will be (unchanged parts are already valid).
    let sheet = PriceSheet {
        currencies: currencies.clone().unwrap_or_default(),
        sales: sales.clone().unwrap_or_default(),
    };
    check_sheet(&sheet, &mut v, "data.attributes");
    v.finish()?;
    Ok(PriceChange {
        sku: a.sku.flatten(),
        external_ref: a.external_ref,
        currencies,
        sales,
    })
}

fn render_currencies(currencies: &Currencies) -> Value {
    serde_json::to_value(currencies).unwrap_or_default()
}

fn render_price(p: &ProductPrice, origin: &Origin) -> Value {
    let sales: serde_json::Map<String, Value> = p
        .prices
        .sales
        .iter()
        .map(|(name, s)| {
            let mut sale = json!({ "currencies": render_currencies(&s.currencies) });
            if let Some(schedule) = s.schedule {
                sale["schedule"] = json!({
                    "valid_from": schedule.valid_from.map(rfc3339),
                    "valid_to": schedule.valid_to.map(rfc3339),
                });
            }
            (name.clone(), sale)
        })
        .collect();
    json!({
        "type": "product-price",
        "id": p.id,
        "attributes": pcm::compact(json!({
            "sku": p.sku,
            "currencies": render_currencies(&p.prices.currencies),
            "sales": (!sales.is_empty()).then_some(sales),
            "external_ref": p.external_ref,
            "created_at": rfc3339(p.created_at),
            "updated_at": rfc3339(p.updated_at),
        })),
        "meta": { "owner": "store", "pricebook_id": p.pricebook_id },
        "links": { "self": origin.url(&format!("/pcm/pricebooks/{}/prices/{}", p.pricebook_id, p.id)) },
    })
}

/// The price book id of the path, which must exist.
async fn existing_pricebook(state: &AppState, id: &str) -> ApiResult<Uuid> {
    let id = parse_uuid(id, not_found)?;
    state.store.pricebook(id).await?.ok_or_else(not_found)?;
    Ok(id)
}

async fn create_price(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(book): ApiPath<String>,
    ApiJson(body): ApiJson<Body<PriceAttributes>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let pricebook_id = existing_pricebook(&state, &book).await?;
    let change = parse_price(body, None)?;
    let now = now_millis();
    let mut price = ProductPrice {
        id: kassa_core::ids::new_id(),
        pricebook_id,
        sku: String::new(),
        external_ref: None,
        prices: PriceSheet::default(),
        created_at: now,
        updated_at: now,
    };
    change.apply(&mut price);
    let price = state.store.create_price(price).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render_price(&price, &origin))),
    ))
}

async fn show_price(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((book, price)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let pricebook_id = existing_pricebook(&state, &book).await?;
    let id = parse_uuid(&price, price_not_found)?;
    let price = state
        .store
        .price(pricebook_id, id)
        .await?
        .ok_or_else(price_not_found)?;
    Ok(Json(envelope::single(render_price(&price, &origin))))
}

async fn list_prices(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiPath(book): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    check_filters(
        &query.filters,
        &[
            ("sku", &[FilterOp::Eq, FilterOp::In]),
            ("external_ref", &[FilterOp::Eq]),
        ],
    )?;
    let pricebook_id = existing_pricebook(&state, &book).await?;
    let page = state
        .store
        .prices(pricebook_id, &query.filters, query.page)
        .await?;
    let items = page.items.iter().map(|p| render_price(p, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn update_price(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((book, price)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Body<PriceAttributes>>,
) -> ApiResult<Json<Value>> {
    let pricebook_id = existing_pricebook(&state, &book).await?;
    let id = parse_uuid(&price, price_not_found)?;
    let change = parse_price(body, Some(id))?;
    let now = now_millis();
    let price = state
        .store
        .update_price(
            pricebook_id,
            id,
            Box::new(move |p| {
                change.apply(p);
                p.updated_at = now;
                // A new sales map may not fit the old currencies and the other way round.
                let mut v = Validator::new();
                check_sheet(&p.prices, &mut v, "data.attributes");
                v.finish()
            }),
        )
        .await?
        .ok_or_else(price_not_found)?;
    Ok(Json(envelope::single(render_price(&price, &origin))))
}

async fn remove_price(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((book, price)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let pricebook_id = existing_pricebook(&state, &book).await?;
    let id = parse_uuid(&price, price_not_found)?;
    if !state.store.delete_price(pricebook_id, id).await? {
        return Err(price_not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
