//! `/v2/currencies`: the store's currencies (at most 10, exactly one default, USD at first). Any
//! token reads them; only an admin writes.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use kassa_core::integrations::{EventKind, deleted_payload};
use kassa_core::money::{Currency, MAX_DECIMAL_PLACES, MoneyFormat, PRICE_PLACEHOLDER, is_currency_code};
use kassa_core::time::now_millis;
use kassa_core::{Error, Validator};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::pcm::set;
use crate::auth::{Admin, Caller};
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/currencies", get(list).post(create))
        .route("/v2/currencies/{id}", get(show).put(update).delete(remove))
}

#[derive(Deserialize)]
struct Body {
    data: Data,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Data {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    code: Option<String>,
    exchange_rate: Option<f64>,
    format: Option<String>,
    decimal_point: Option<String>,
    thousand_separator: Option<String>,
    decimal_places: Option<i64>,
    default: Option<bool>,
    enabled: Option<bool>,
}

impl Data {
    /// Checks what is given; on create, `code` and `format` are required.
    fn check(&self, create: bool, path_id: Option<Uuid>) -> Result<(), Error> {
        let mut v = Validator::new();
        v.resource_type(self.kind.as_deref(), "currency");
        if let (Some(path_id), Some(id)) = (path_id, self.id.as_deref())
            && Uuid::parse_str(id).ok() != Some(path_id)
        {
            v.push("data.id", "invalid", "id must match the id in the path");
        }
        if create {
            v.required(self.code.as_ref(), "data.code");
            v.required(self.format.as_ref(), "data.format");
        }
        if let Some(code) = &self.code
            && !is_currency_code(code)
        {
            v.push(
                "data.code",
                "invalid",
                "code must be a three-letter ISO 4217 code in capitals, such as USD",
            );
        }
        if let Some(format) = &self.format
            && (!format.contains(PRICE_PLACEHOLDER) || format.chars().count() > 64)
        {
            v.push(
                "data.format",
                "invalid",
                "format must contain {price} and be at most 64 characters",
            );
        }
        for (value, source) in [
            (&self.decimal_point, "data.decimal_point"),
            (&self.thousand_separator, "data.thousand_separator"),
        ] {
            if value.as_ref().is_some_and(|s| s.chars().count() > 8) {
                v.push(source, "max_length", "at most 8 characters");
            }
        }
        if self
            .decimal_places
            .is_some_and(|d| !(0..=i64::from(MAX_DECIMAL_PLACES)).contains(&d))
        {
            v.push(
                "data.decimal_places",
                "invalid",
                format!("decimal_places must be an integer from 0 to {MAX_DECIMAL_PLACES}"),
            );
        }
        if self.exchange_rate.is_some_and(|r| !r.is_finite() || r < 0.0) {
            v.push(
                "data.exchange_rate",
                "minimum",
                "exchange_rate must not be negative",
            );
        }
        v.finish()
    }

    fn apply(self, c: &mut Currency) {
        set!(c.code, self.code);
        set!(c.exchange_rate, self.exchange_rate);
        set!(c.money.format, self.format);
        set!(c.money.decimal_point, self.decimal_point);
        set!(c.money.thousand_separator, self.thousand_separator);
        set!(c.money.decimal_places, self.decimal_places.map(|d| d as u32));
        set!(c.default, self.default);
        set!(c.enabled, self.enabled);
    }
}

fn render(c: &Currency, origin: &Origin) -> Value {
    json!({
        "type": "currency",
        "id": c.id,
        "code": c.code,
        "exchange_rate": c.exchange_rate,
        "format": c.money.format,
        "decimal_point": c.money.decimal_point,
        "thousand_separator": c.money.thousand_separator,
        "decimal_places": c.money.decimal_places,
        "default": c.default,
        "enabled": c.enabled,
        "links": { "self": origin.url(&format!("/v2/currencies/{}", c.id)) },
        "meta": { "owner": "store", "timestamps": envelope::timestamps(c.created_at, c.updated_at) },
    })
}

fn not_found() -> ApiError {
    ApiError::not_found("Currency not found", "No currency with this id")
}

async fn create(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiJson(body): ApiJson<Body>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    body.data.check(true, None)?;
    let now = now_millis();
    let mut currency = Currency {
        id: kassa_core::ids::new_id(),
        code: String::new(),
        exchange_rate: 1.0,
        money: MoneyFormat {
            format: String::new(),
            decimal_point: ".".into(),
            thousand_separator: ",".into(),
            decimal_places: 2,
        },
        default: false,
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    body.data.apply(&mut currency);
    let shown = origin.clone();
    let emit = state
        .integrations
        .emit(EventKind::CurrencyCreated, move |c: &Currency| {
            envelope::single(render(c, &shown)).to_string()
        });
    let emitted = emit.is_some();
    let currency = state.store.create_currency(currency, emit).await?;
    if emitted {
        state.integrations.committed();
    }
    // Shopper views and carts format money from the node's cached currencies.
    state.catalog_view.invalidate();
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render(&currency, &origin))),
    ))
}

/// Any token may read currencies: Elastic Path's permissions give implicit tokens read access
/// to `/currencies`, and storefronts list them for their currency picker.
async fn show(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let currency = state.store.currency(id).await?.ok_or_else(not_found)?;
    Ok(Json(envelope::single(render(&currency, &origin))))
}

async fn list(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    kassa_core::query::check_filters(&query.filters, &[])?;
    let page = state.store.currencies(query.page).await?;
    let items = page.items.iter().map(|c| render(c, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn update(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Body>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    body.data.check(false, Some(id))?;
    let now = now_millis();
    let data = body.data;
    let shown = origin.clone();
    let emit = state
        .integrations
        .emit(EventKind::CurrencyUpdated, move |c: &Currency| {
            envelope::single(render(c, &shown)).to_string()
        });
    let emitted = emit.is_some();
    let currency = state
        .store
        .update_currency(
            id,
            Box::new(move |c| {
                data.apply(c);
                c.updated_at = now;
                Ok(())
            }),
            emit,
        )
        .await?
        .ok_or_else(not_found)?;
    if emitted {
        state.integrations.committed();
    }
    state.catalog_view.invalidate();
    Ok(Json(envelope::single(render(&currency, &origin))))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, not_found)?;
    let events = state
        .integrations
        .events(EventKind::CurrencyDeleted, || deleted_payload("currency", id));
    let emitted = !events.is_empty();
    if !state.store.delete_currency(id, events).await? {
        return Err(not_found());
    }
    if emitted {
        state.integrations.committed();
    }
    state.catalog_view.invalidate();
    Ok(StatusCode::NO_CONTENT)
}
