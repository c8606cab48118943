//! `/v2/inventories`: stock per product, its positions at stock locations, the locations, and the
//! transactions that move stock.
//!
//! Two shapes of the same stock, chosen per request by `EP-Inventories-Multi-Location: true`
//! (Elastic Path's storefront sends it on every request): without it, Elastic Path's basic API
//! with the fields at the top level of `data`, exactly as it always was (the totals over all of
//! a product's positions); with it, the multi-location API, which nests them under `attributes`
//! and adds `attributes.locations`, keyed by location slug (absent for a product stocked at no
//! location, which is what the storefront checks). The routes only the multi-location API has
//! (`POST /v2/inventories`, `PUT /v2/inventories/{id}`, the locations) read its bodies whatever
//! the header says, and answer in the shape the header chooses.
//!
//! Who may do what: a client_credentials token manages stock and locations. An implicit token
//! may read them (every `GET`, and `POST /v2/inventories/multiple`, which only reads), per the
//! shopper-token permission matrix; any write is 403. Products are referenced by id only: stock
//! can be created for any UUID, and a product without a stock record is not stock-managed.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use kassa_core::Validator;
use kassa_core::bundles::LineBundle;
use kassa_core::integrations::EventKind;
use kassa_core::inventory::{
    Location, MAX_MULTIPLE, Position, Stock, StockLevels, StockTransaction, edit_location, is_valid_slug,
};
use kassa_core::query::check_filters;
use kassa_core::time::now_millis;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::auth::{Admin, Caller};
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/inventories", get(list).post(create_multi_location))
        .route("/v2/inventories/multiple", post(multiple))
        .route(
            "/v2/inventories/locations",
            get(list_locations).post(create_location),
        )
        .route(
            "/v2/inventories/locations/{id}",
            get(read_location).put(update_location).delete(remove_location),
        )
        .route(
            "/v2/inventories/{product_id}",
            get(read).post(create).put(update).delete(remove),
        )
        .route(
            "/v2/inventories/{product_id}/transactions",
            get(transactions).post(create_transaction),
        )
        .route("/v2/inventories/{product_id}/transactions/{id}", get(transaction))
}

/// The header that selects the multi-location shapes.
pub const MULTI_LOCATION_HEADER: &str = "EP-Inventories-Multi-Location";

/// Whether the request asked for the multi-location API (`EP-Inventories-Multi-Location: true`,
/// in any letter case); anything else, or no header, is the basic API.
pub struct MultiLocation(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for MultiLocation {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let on = parts
            .headers
            .get(MULTI_LOCATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Ok(MultiLocation(on))
    }
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
    /// The multi-location body.
    attributes: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct ProductRef {
    id: Option<Value>,
}

/// `{"data": {"type", "id", "attributes"}}` of the multi-location writes, every field raw.
#[derive(Deserialize)]
struct Resource {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<Value>,
    attributes: Option<Value>,
}

fn levels_json(l: StockLevels) -> Value {
    json!({ "available": l.available, "allocated": l.allocated, "total": l.total() })
}

fn render(s: &Stock, origin: &Origin, multi_location: bool) -> Value {
    let totals = s.totals();
    let timestamps = envelope::timestamps(s.created_at, s.updated_at);
    let links = json!({ "self": origin.url(&format!("/v2/inventories/{}", s.product_id)) });
    if !multi_location {
        return json!({
            "type": "stock",
            "id": s.product_id,
            "total": totals.total(),
            "available": totals.available,
            "allocated": totals.allocated,
            "meta": { "timestamps": timestamps },
            "links": links,
        });
    }
    let mut attributes = levels_json(totals);
    // Absent, not `{}`, for a product stocked at no location: Elastic Path's storefront shows a
    // location selector whenever the member is there.
    if !s.locations.is_empty() {
        let locations: Map<String, Value> = s
            .locations
            .iter()
            .map(|p| (p.slug.clone(), levels_json(p.levels)))
            .collect();
        attributes["locations"] = Value::Object(locations);
    }
    json!({
        "type": "stock",
        "id": s.product_id,
        "attributes": attributes,
        // No separate stock id: a product has one stock record, named by the product's id.
        "meta": { "stock_id": s.product_id, "timestamps": timestamps },
        "links": links,
    })
}

fn render_transaction(t: &StockTransaction, origin: &Origin, multi_location: bool) -> Value {
    // A transaction never changes after it is recorded.
    let meta = json!({ "timestamps": envelope::timestamps(t.created_at, t.created_at) });
    let links = json!({
        "self": origin.url(&format!("/v2/inventories/{}/transactions/{}", t.product_id, t.id)),
    });
    let mut fields = json!({
        "action": t.action.as_str(),
        "product_id": t.product_id,
        "quantity": t.quantity,
    });
    if let Some(location) = &t.location {
        fields["location"] = json!(location);
    }
    if multi_location {
        return json!({
            "type": "stock-transaction",
            "id": t.id,
            "attributes": fields,
            "meta": meta,
            "links": links,
        });
    }
    let mut v = json!({ "type": "stock-transaction", "id": t.id, "meta": meta, "links": links });
    if let (Some(v), Value::Object(fields)) = (v.as_object_mut(), fields) {
        v.extend(fields);
    }
    v
}

fn render_location(l: &Location, origin: &Origin) -> Value {
    let mut attributes = json!({ "name": l.name, "slug": l.slug });
    let optional = [
        ("external_ref", l.external_ref.as_ref().map(|s| json!(s))),
        ("description", l.description.as_ref().map(|s| json!(s))),
        ("address", l.address.as_ref().map(|a| json!(a))),
        (
            "geolocation",
            l.geolocation.map(|g| json!({ "lat": g.lat, "lon": g.lon })),
        ),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            attributes[name] = value;
        }
    }
    json!({
        "type": "inventory_location",
        "id": l.id,
        "attributes": attributes,
        "meta": { "timestamps": envelope::timestamps(l.created_at, l.updated_at) },
        "links": { "self": origin.url(&format!("/v2/inventories/locations/{}", l.id)) },
    })
}

fn stock_not_found(product_id: &str) -> ApiError {
    ApiError::not_found("Not Found", format!("No stock found for product {product_id}"))
}

fn location_not_found() -> ApiError {
    ApiError::not_found("Not Found", "No location found")
}

fn product_id(raw: &str) -> ApiResult<Uuid> {
    parse_uuid(raw, || stock_not_found(raw))
}

/// A location slug a body names (a key of `locations`, or `location`), checked.
fn check_slug(v: &mut Validator, slug: &str, source: &str) -> bool {
    let ok = is_valid_slug(slug);
    if !ok {
        v.push(
            source,
            "invalid",
            "A location slug is 1 to 128 characters of A-Z, a-z, 0-9, hyphen, underscore and period",
        );
    }
    ok
}

/// `attributes.locations` of a create (`{slug: {available}}`) or, with `nullable`, of an update
/// (`{slug: {available} | null}`): `(slug, available)` pairs, `None` removing the position.
fn parse_locations(
    v: &mut Validator,
    value: &Value,
    source: &str,
    nullable: bool,
) -> Vec<(String, Option<i64>)> {
    let Value::Object(map) = value else {
        v.push(
            source,
            "type",
            "locations must be an object keyed by location slug",
        );
        return Vec::new();
    };
    if map.len() > MAX_MULTIPLE {
        v.push(
            source,
            "max_properties",
            format!("At most {MAX_MULTIPLE} locations can be given at once"),
        );
    }
    let mut out = Vec::with_capacity(map.len());
    for (slug, position) in map {
        let at = format!("{source}.{slug}");
        if !check_slug(v, slug, &at) {
            continue;
        }
        match position {
            Value::Null if nullable => out.push((slug.clone(), None)),
            Value::Object(p) => {
                if let Some(available) = v.quantity(p.get("available"), &format!("{at}.available"), 0) {
                    out.push((slug.clone(), Some(available)));
                }
            }
            _ => v.push(
                &at,
                "type",
                if nullable {
                    "a location's stock must be {\"available\": n} or null"
                } else {
                    "a location's stock must be {\"available\": n}"
                },
            ),
        }
    }
    out
}

/// `data.type`, `data.id` (the product, matching the path when there is one) and
/// `data.attributes` of a multi-location stock write.
fn stock_resource(
    v: &mut Validator,
    data: Resource,
    path_id: Option<Uuid>,
) -> (Option<Uuid>, Option<Map<String, Value>>) {
    v.resource_type(data.kind.as_deref(), "stock");
    let id = match (&data.id, path_id) {
        (None, None) => {
            v.push("data.id", "required", "id (the product's id) is required");
            None
        }
        (None, Some(path)) => Some(path),
        (Some(raw), path) => match raw.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
            Some(id) if path.is_none_or(|p| p == id) => Some(id),
            Some(_) => {
                v.push("data.id", "invalid", "id must match the product id in the path");
                None
            }
            None => {
                v.push("data.id", "format", "id must be the product's id (a UUID)");
                None
            }
        },
    };
    let attributes = match data.attributes {
        Some(Value::Object(a)) => Some(a),
        Some(_) => {
            v.push("data.attributes", "type", "attributes must be an object");
            None
        }
        None => {
            v.required(None::<()>, "data.attributes");
            None
        }
    };
    (id, attributes)
}

async fn create(
    State(state): State<AppState>,
    _: Admin,
    MultiLocation(ml): MultiLocation,
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
    let levels = StockLevels {
        available: quantity.unwrap_or_default(),
        allocated: 0,
    };
    let stock = state
        .store
        .create_stock(Stock::unlocated(product_id, levels, now_millis()))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render(&stock, &origin, ml))),
    ))
}

/// `POST /v2/inventories` (the multi-location create): `{"data": {"type": "stock", "id":
/// <product>, "attributes": {"available": n}}}` for stock outside locations, or `"attributes":
/// {"locations": {<slug>: {"available": n}}}` for stock at locations.
async fn create_multi_location(
    State(state): State<AppState>,
    _: Admin,
    MultiLocation(ml): MultiLocation,
    origin: Origin,
    ApiJson(body): ApiJson<Body<Resource>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut v = Validator::new();
    let (product_id, attributes) = stock_resource(&mut v, body.data, None);
    let attributes = attributes.unwrap_or_default();
    let available = attributes
        .get("available")
        .filter(|a| !a.is_null())
        .and_then(|a| v.quantity(Some(a), "data.attributes.available", 0));
    let locations = attributes
        .get("locations")
        .filter(|l| !l.is_null())
        .map(|l| parse_locations(&mut v, l, "data.attributes.locations", false))
        .unwrap_or_default();
    if available.is_some() && !locations.is_empty() {
        v.push(
            "data.attributes.available",
            "invalid",
            "Give the stock kept outside locations (available) or the stock at each location \
             (locations), not both",
        );
    }
    v.finish()?;
    let Some(product_id) = product_id else {
        return Err(ApiError::bad_request("id is required").with_source("data.id"));
    };
    let now = now_millis();
    let mut stock = Stock::unlocated(
        product_id,
        StockLevels {
            available: available.unwrap_or_default(),
            allocated: 0,
        },
        now,
    );
    stock.locations = locations
        .into_iter()
        .map(|(slug, available)| Position {
            location_id: Uuid::nil(),
            slug,
            levels: StockLevels {
                available: available.unwrap_or_default(),
                allocated: 0,
            },
        })
        .collect();
    let stock = state.store.create_stock(stock).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render(&stock, &origin, ml))),
    ))
}

/// `PUT /v2/inventories/{product_id}`: `{"data": {"type": "stock", "id", "attributes":
/// {"locations": {<slug>: {"available": n} | null}}}}` sets the available stock at each named
/// location (what is allocated there stays) or, for `null`, removes the product's stock there.
async fn update(
    State(state): State<AppState>,
    _: Admin,
    MultiLocation(ml): MultiLocation,
    origin: Origin,
    ApiPath(raw_id): ApiPath<String>,
    ApiJson(body): ApiJson<Body<Resource>>,
) -> ApiResult<Json<Value>> {
    let product_id = product_id(&raw_id)?;
    let mut v = Validator::new();
    let (_, attributes) = stock_resource(&mut v, body.data, Some(product_id));
    let present = attributes.is_some();
    let attributes = attributes.unwrap_or_default();
    let changes = match attributes.get("locations") {
        Some(l) => parse_locations(&mut v, l, "data.attributes.locations", true),
        None => {
            if present {
                v.push(
                    "data.attributes.locations",
                    "required",
                    "locations is required: {<slug>: {\"available\": n} | null}",
                );
            }
            Vec::new()
        }
    };
    if let Some(key) = attributes.keys().find(|k| *k != "locations") {
        v.push(
            format!("data.attributes.{key}"),
            "invalid",
            format!("{key} cannot be updated; set the stock at each location, or use a transaction"),
        );
    }
    v.finish()?;
    let stock = state
        .store
        .set_stock_positions(product_id, changes, now_millis())
        .await?
        .ok_or_else(|| stock_not_found(&raw_id))?;
    Ok(Json(envelope::single(render(&stock, &origin, ml))))
}

async fn read(
    State(state): State<AppState>,
    _: Caller,
    MultiLocation(ml): MultiLocation,
    origin: Origin,
    ApiPath(raw_id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = product_id(&raw_id)?;
    let stock = match state.store.stock(id).await? {
        Some(stock) => stock,
        None => bundle_stock(&state, id)
            .await?
            .ok_or_else(|| stock_not_found(&raw_id))?,
    };
    Ok(Json(envelope::single(render(&stock, &origin, ml))))
}

/// A bundle has no stock record of its own: it shows how many whole bundles of its default
/// selection its components' stock makes ([`kassa_core::inventory::bundle_stock`]), so a
/// storefront that reads a product's stock before offering it can offer a bundle. Read only
/// when the product has no record.
async fn bundle_stock(state: &AppState, id: Uuid) -> ApiResult<Option<Stock>> {
    let Some(product) = state.store.product(id).await?.filter(|p| p.is_bundle()) else {
        return Ok(None);
    };
    let selection = kassa_core::bundles::default_selection(&product.components);
    let components = LineBundle::of(&product.components, &selection, Default::default()).products(1);
    let ids: Vec<Uuid> = components.iter().map(|(id, _)| *id).collect();
    let stocks = state.store.stock_levels(&ids).await?;
    Ok(kassa_core::inventory::bundle_stock(id, &components, &stocks))
}

async fn list(
    State(state): State<AppState>,
    _: Caller,
    MultiLocation(ml): MultiLocation,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    check_filters(&query.filters, &[])?;
    let page = state.store.stocks(query.page).await?;
    let items = page.items.iter().map(|s| render(s, &origin, ml)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn multiple(
    State(state): State<AppState>,
    _: Caller,
    MultiLocation(ml): MultiLocation,
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
        .map(|s| render(s, &origin, ml))
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
    MultiLocation(ml): MultiLocation,
    origin: Origin,
    ApiPath(raw_id): ApiPath<String>,
    ApiJson(body): ApiJson<Body<TransactionData>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let product_id = product_id(&raw_id)?;
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "stock-transaction");
    let (action, quantity, location) = if ml {
        // `{"type", "attributes": {"action", "quantity", "location"?, "product_id"?}}`.
        let Some(a) = v.required(d.attributes, "data.attributes") else {
            v.finish()?;
            return Err(ApiError::bad_request("attributes is required").with_source("data.attributes"));
        };
        let action = v.stock_action(a.get("action"), "data.attributes.action", true);
        let min = action.map_or(1, |a| a.min_quantity());
        let quantity = v.quantity(a.get("quantity"), "data.attributes.quantity", min);
        if let Some(id) = a.get("product_id").filter(|id| !id.is_null())
            && id.as_str().and_then(|s| Uuid::parse_str(s).ok()) != Some(product_id)
        {
            v.push(
                "data.attributes.product_id",
                "invalid",
                "product_id must be the product id in the path",
            );
        }
        let location = match a.get("location") {
            None | Some(Value::Null) => None,
            Some(Value::String(slug)) => {
                check_slug(&mut v, slug, "data.attributes.location").then(|| slug.clone())
            }
            Some(_) => {
                v.push(
                    "data.attributes.location",
                    "type",
                    "location must be a location's slug",
                );
                None
            }
        };
        (action, quantity, location)
    } else {
        let action = v.stock_action(d.action.as_ref(), "data.action", false);
        let quantity = v.quantity(d.quantity.as_ref(), "data.quantity", 1);
        (action, quantity, None)
    };
    v.finish()?;
    // The validator reported any missing field, so both are present here.
    let (Some(action), Some(quantity)) = (action, quantity) else {
        return Err(ApiError::bad_request("Invalid stock transaction"));
    };
    let transaction = StockTransaction {
        id: kassa_core::ids::new_id(),
        product_id,
        action,
        quantity,
        location,
        created_at: now_millis(),
    };
    let document = envelope::single(render_transaction(&transaction, &origin, ml));
    let events = state
        .integrations
        .events(EventKind::StockTransactionCreated, || document.to_string());
    let emitted = !events.is_empty();
    state.store.create_stock_transaction(transaction, events).await?;
    if emitted {
        state.integrations.committed();
    }
    Ok((StatusCode::CREATED, Json(document)))
}

async fn transactions(
    State(state): State<AppState>,
    _: Caller,
    MultiLocation(ml): MultiLocation,
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
        .map(|t| render_transaction(t, &origin, ml))
        .collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn transaction(
    State(state): State<AppState>,
    _: Caller,
    MultiLocation(ml): MultiLocation,
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
    Ok(Json(envelope::single(render_transaction(
        &transaction,
        &origin,
        ml,
    ))))
}

// ---- locations ----

/// `type` (required on update, optional on create, as Elastic Path's schemas say), `id` (on
/// update, matching the path) and `attributes` of a location write.
fn location_resource(v: &mut Validator, data: Resource, path_id: Option<Uuid>) -> Option<Map<String, Value>> {
    match (data.kind.as_deref(), path_id) {
        (None, None) => {}
        (kind, _) => v.resource_type(kind, "inventory_location"),
    }
    if let (Some(path), Some(raw)) = (path_id, &data.id)
        && raw.as_str().and_then(|s| Uuid::parse_str(s).ok()) != Some(path)
    {
        v.push("data.id", "invalid", "id must match the location id in the path");
    }
    match data.attributes {
        Some(Value::Object(a)) => Some(a),
        Some(_) => {
            v.push("data.attributes", "type", "attributes must be an object");
            None
        }
        None => {
            v.required(None::<()>, "data.attributes");
            None
        }
    }
}

fn location_id(raw: &str) -> ApiResult<Uuid> {
    parse_uuid(raw, location_not_found)
}

async fn create_location(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiJson(body): ApiJson<Body<Resource>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut v = Validator::new();
    let attributes = location_resource(&mut v, body.data, None);
    let mut location = Location::new(kassa_core::ids::new_id(), now_millis());
    // Every problem at once: the envelope's and the attributes'.
    let mut problems = match v.finish() {
        Err(kassa_core::Error::Validation(p)) => p,
        Err(e) => return Err(e.into()),
        Ok(()) => Vec::new(),
    };
    if let Some(attributes) = attributes {
        match edit_location(&mut location, &attributes, true) {
            Err(kassa_core::Error::Validation(p)) => problems.extend(p),
            Err(e) => return Err(e.into()),
            Ok(()) => {}
        }
    }
    if !problems.is_empty() {
        return Err(kassa_core::Error::Validation(problems).into());
    }
    let location = state.store.create_location(location).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render_location(&location, &origin))),
    ))
}

async fn read_location(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    ApiPath(raw_id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let location = state
        .store
        .location(location_id(&raw_id)?)
        .await?
        .ok_or_else(location_not_found)?;
    Ok(Json(envelope::single(render_location(&location, &origin))))
}

async fn list_locations(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    check_filters(&query.filters, &[])?;
    let page = state.store.locations(query.page).await?;
    let items = page.items.iter().map(|l| render_location(l, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn update_location(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(raw_id): ApiPath<String>,
    ApiJson(body): ApiJson<Body<Resource>>,
) -> ApiResult<Json<Value>> {
    let id = location_id(&raw_id)?;
    let mut v = Validator::new();
    let attributes = location_resource(&mut v, body.data, Some(id));
    v.finish()?;
    let attributes = attributes.unwrap_or_default();
    let now = now_millis();
    let location = state
        .store
        .update_location(
            id,
            Box::new(move |location: &mut Location| {
                edit_location(location, &attributes, false)?;
                location.updated_at = now;
                Ok(())
            }),
        )
        .await?
        .ok_or_else(location_not_found)?;
    Ok(Json(envelope::single(render_location(&location, &origin))))
}

async fn remove_location(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(raw_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if !state.store.delete_location(location_id(&raw_id)?).await? {
        return Err(location_not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
