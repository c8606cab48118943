//! `/_kassa/`: kassa's own endpoints for test suites (not Elastic Path's API), registered only
//! when the server runs with the emulator (`--emulator`); otherwise each is an unknown path (404).
//! Admin only. Per store: the request journal, fault rules and emulated rate limit
//! (`crate::emulator`), the reset, and the test clock (`kassa_core::time`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use std::collections::HashMap;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, post};
use kassa_core::context::StoreContext;
use kassa_core::snapshot::Fixture;
use kassa_core::time::rfc3339;
use serde_json::{Map, Value, json};

use crate::auth::Admin;
use crate::emulator::{
    Captured, DEVELOPMENT_RATE, Emulator, FaultRule, FaultSpec, JournalEntry, JournalFilter,
    MAX_FAULT_LATENCY_MS, MAX_FAULT_RULES, MAX_RATE, PRODUCTION_RATE, StatusFilter, Trigger,
};
use crate::envelope;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, data_of, parse_uuid, read_body_up_to};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::state::TestStoreDirectory;

/// The largest fixture a request may carry (`kassa import` reads a file of any size).
pub const MAX_FIXTURE_BYTES: usize = 256 * 1024 * 1024;

/// Most journal entries one read returns.
const MAX_PAGE: usize = 1000;
const DEFAULT_PAGE: usize = 100;

pub fn router() -> Routes {
    Routes::new()
        .route(
            "/_kassa/stores",
            get(stores)
                .post(create_store)
                .layer(DefaultBodyLimit::max(MAX_FIXTURE_BYTES)),
        )
        .route("/_kassa/stores/{id}", get(store).delete(delete_store))
        .route(
            "/_kassa/stores/{id}/requests",
            get(requests).delete(clear_requests),
        )
        .route(
            "/_kassa/stores/{id}/faults",
            get(faults).post(add_fault).delete(clear_faults),
        )
        .route(
            "/_kassa/stores/{id}/faults/{fault_id}",
            get(fault).delete(remove_fault),
        )
        .route(
            "/_kassa/stores/{id}/rate-limit",
            get(rate_limit).put(set_rate_limit),
        )
        .route("/_kassa/stores/{id}/reset", post(reset))
        .route("/_kassa/stores/{id}/export", get(export))
        .route(
            "/_kassa/stores/{id}/import",
            post(import).layer(DefaultBodyLimit::max(MAX_FIXTURE_BYTES)),
        )
        .route(
            "/_kassa/stores/{id}/clock",
            get(clock).post(move_clock).delete(real_clock),
        )
}

/// The 404 of a store id that is not one (or not one the caller may see).
fn no_store(uri: &Uri) -> ApiError {
    ApiError::not_found("Not Found", format!("There is no store at {}", uri.path()))
}

/// The store a `/_kassa/stores/{id}/…` path names, with its emulator, for an admin caller: its
/// own store (`default` for the server's, or a per-test store's id), or, for the server's own
/// admin, any per-test store. A per-test store's admin sees no other store.
struct StoreEmulator(Arc<Emulator>, AppState);

impl FromRequestParts<AppState> for StoreEmulator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Admin::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        let id = params.get("id").map(String::as_str).unwrap_or_default();
        let target = if *id == *state.store_id {
            state.clone()
        } else {
            let test_store = state.test_stores.as_ref().and_then(|stores| stores.get(id));
            test_store.ok_or_else(|| no_store(&parts.uri))?.0
        };
        let emulator = target.emulator.clone().ok_or_else(|| no_store(&parts.uri))?;
        Ok(StoreEmulator(emulator, target))
    }
}

fn render_store(state: &AppState) -> Value {
    json!({
        "type": "kassa-store",
        "id": &*state.store_id,
        "seed": state.context.current_seed(),
        "clock": render_clock(&state.context),
        "resets_to": match state.emulator.as_ref().is_some_and(|e| e.resets_to_fixture()) {
            true => "fixture",
            false => "empty",
        },
    })
}

/// The server's own store, then the per-test stores, oldest first (a per-test store's admin
/// sees its own only).
async fn stores(State(state): State<AppState>, _: Admin) -> ApiResult<Json<Value>> {
    let mut data = vec![render_store(&state)];
    if let Some(stores) = &state.test_stores {
        data.extend(stores.list().iter().map(render_store));
    }
    let total = data.len();
    Ok(Json(
        json!({ "data": data, "meta": { "results": { "total": total } } }),
    ))
}

async fn store(StoreEmulator(_, target): StoreEmulator) -> ApiResult<Json<Value>> {
    Ok(Json(envelope::single(render_store(&target))))
}

/// The per-test stores of the server's own admin: others may not make or remove stores.
fn test_stores_of(state: &AppState) -> ApiResult<&Arc<dyn TestStoreDirectory>> {
    state.test_stores.as_ref().ok_or_else(|| {
        ApiError::forbidden("Only the server's own admin (not a test store's) makes and deletes stores")
    })
}

/// `POST /_kassa/stores` `{"data": {"seed": 42, "fixture": {…}}}` (the body and both fields
/// optional): a new store, empty or holding the fixture (which its resets then go back to),
/// answered with its admin `client_id` and `client_secret` (shown only here).
async fn create_store(
    State(state): State<AppState>,
    _: Admin,
    req: Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let stores = test_stores_of(&state)?;
    let body = read_body_up_to(req, &state, MAX_FIXTURE_BYTES).await?;
    let body: Option<Value> = match body.trim_ascii() {
        [] => None,
        _ => Some(
            off_the_runtime(move || serde_json::from_slice(body.trim_ascii()))
                .await?
                .map_err(|e| ApiError::bad_request(format!("The body is not valid JSON: {e}")))?,
        ),
    };
    // Taken out of the body rather than copied: a fixture may be large.
    let mut data = match body {
        Some(mut body) => {
            data_of(&body)?;
            match body.get_mut("data").map(Value::take) {
                Some(Value::Object(data)) => data,
                _ => Map::new(),
            }
        }
        None => Map::new(),
    };
    let seed = match data.get("seed") {
        None | Some(Value::Null) => None,
        Some(seed) => Some(seed.as_u64().ok_or_else(|| {
            invalid(
                "seed",
                "seed must be a whole number from 0 to 18446744073709551615",
            )
        })?),
    };
    let fixture = match data.remove("fixture") {
        None | Some(Value::Null) => None,
        Some(fixture) => Some(
            serde_json::from_value::<Fixture>(fixture)
                .map_err(|e| invalid("fixture", format!("not a kassa fixture: {e}")))?,
        ),
    };
    let (store, client_id, client_secret) = stores.create(seed).await?;
    if let Some(fixture) = fixture {
        if let Some(emulator) = &store.emulator {
            emulator.set_reset_fixture(Some(&fixture));
        }
        if let Err(e) = crate::load_fixture(&store, fixture).await {
            stores.delete(&store.store_id).await?;
            return Err(in_fixture(e));
        }
    }
    let mut data = render_store(&store);
    data["client_id"] = json!(client_id);
    data["client_secret"] = json!(client_secret);
    Ok((StatusCode::CREATED, Json(envelope::single(data))))
}

/// Runs `parse` (of a body of up to [`MAX_FIXTURE_BYTES`]: a tenth of a second and more) on a
/// blocking thread, not on one of the few that serve every request.
async fn off_the_runtime<T: Send + 'static>(parse: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(parse)
        .await
        .map_err(|e| kassa_core::Error::internal(e).into())
}

/// A fixture's problems, named by their path under `data.fixture`.
fn in_fixture(e: kassa_core::Error) -> ApiError {
    match e {
        kassa_core::Error::Validation(mut problems) => {
            for p in &mut problems {
                p.source = format!("data.fixture.{}", p.source);
            }
            kassa_core::Error::Validation(problems).into()
        }
        e => e.into(),
    }
}

/// Removes a per-test store and all its data.
async fn delete_store(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    let stores = test_stores_of(&state)?;
    if *id == *state.store_id {
        return Err(ApiError::bad_request(
            "The server's own store cannot be deleted (reset it instead)",
        ));
    }
    if stores.delete(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_store(&uri))
    }
}

// ---------------------------------------------------------------------------------------------
// The journal

fn render_captured(c: &Captured) -> Value {
    let shown = c.shown();
    let mut headers = Map::new();
    for (name, value) in shown.headers {
        match headers.get_mut(&name) {
            Some(Value::String(kept)) => {
                kept.push_str(", ");
                kept.push_str(&value);
            }
            _ => {
                headers.insert(name, Value::String(value));
            }
        }
    }
    json!({ "headers": headers, "body": shown.body, "body_bytes": shown.body_bytes, "truncated": shown.truncated })
}

fn render_entry(e: &JournalEntry) -> Value {
    json!({
        "type": "kassa-request",
        "id": e.id.to_string(),
        "method": e.method.as_str(),
        "route": e.route(),
        "path": e.path(),
        "status": e.status,
        "latency_ms": e.latency_us as f64 / 1000.0,
        "fault_id": e.fault,
        "rate_limited": e.rate_limited,
        "request": render_captured(&e.request),
        "response": render_captured(&e.response),
        "meta": { "timestamps": { "created_at": rfc3339(e.at) } },
    })
}

/// The query of a journal read: `method`, `status` (`404` or `4xx`), `route`, `path` (a
/// substring), `page[limit]`, `page[offset]`.
fn journal_query(uri: &Uri) -> ApiResult<(JournalFilter, usize, usize)> {
    let mut filter = JournalFilter::default();
    let (mut limit, mut offset) = (DEFAULT_PAGE, 0);
    let number = |name: &str, v: &str, max: usize| {
        v.parse::<usize>().ok().filter(|n| *n <= max).ok_or_else(|| {
            ApiError::bad_request(format!("{name} must be a whole number up to {max}"))
                .with_source(name.to_owned())
        })
    };
    for (key, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "method" => {
                filter.method = Some(Method::from_bytes(value.to_ascii_uppercase().as_bytes()).map_err(
                    |_| ApiError::bad_request(format!("{value} is not an HTTP method")).with_source("method"),
                )?)
            }
            "status" => {
                filter.status = Some(StatusFilter::parse(&value).ok_or_else(|| {
                    ApiError::bad_request("status must be a status (404) or a class (4xx)")
                        .with_source("status")
                })?)
            }
            "route" => filter.route = Some(value.into_owned()),
            "path" => filter.path = Some(value.into_owned()),
            "page[limit]" => limit = number("page[limit]", &value, MAX_PAGE)?.max(1),
            "page[offset]" => offset = number("page[offset]", &value, usize::MAX)?,
            other => {
                return Err(ApiError::bad_request(format!(
                    "Unknown parameter {other}: use method, status, route, path, page[limit] or page[offset]"
                ))
                .with_source(other.to_owned()));
            }
        }
    }
    Ok((filter, limit, offset))
}

/// The store's requests, newest first (the last [`crate::emulator::JOURNAL_CAPACITY`]).
async fn requests(StoreEmulator(emulator, _): StoreEmulator, uri: Uri) -> ApiResult<Json<Value>> {
    let (filter, limit, offset) = journal_query(&uri)?;
    let (total, page) = emulator.journal.read(&filter, offset, limit);
    Ok(Json(json!({
        "data": page.iter().map(|e| render_entry(e)).collect::<Vec<_>>(),
        "meta": { "results": { "total": total }, "page": { "limit": limit, "offset": offset } },
    })))
}

async fn clear_requests(StoreEmulator(emulator, _): StoreEmulator) -> ApiResult<StatusCode> {
    emulator.journal.clear();
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Fault rules

fn render_fault(r: &FaultRule) -> Value {
    let s = &r.spec;
    let (probability, every) = match s.trigger {
        Trigger::Always => (None, None),
        Trigger::Probability(p) => (Some(p), None),
        Trigger::EveryNth(n) => (None, Some(n)),
    };
    json!({
        "type": "kassa-fault",
        "id": r.id,
        "route": s.route,
        "method": s.method.as_ref().map(Method::as_str),
        "probability": probability,
        "every": every,
        "status": s.status,
        "latency_ms": s.latency_ms,
        "drop_connection": s.drop_connection,
        "times": s.times,
        "meta": {
            "matched": r.matched.load(Ordering::Relaxed),
            "fired": r.fired.load(Ordering::Relaxed),
            "timestamps": { "created_at": rfc3339(r.created_at) },
        },
    })
}

fn invalid(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Failed Validation", detail)
        .with_source(format!("data.{field}"))
}

/// Which of the fields `a` and `b` is given (not null), with its value: both or neither is a
/// 422 naming `b` or `a`.
fn one_of<'a>(
    data: &'a Map<String, Value>,
    a: &'static str,
    b: &'static str,
) -> ApiResult<(&'static str, &'a Value)> {
    let given = |k: &str| data.get(k).filter(|v| !v.is_null());
    match (given(a), given(b)) {
        (Some(_), Some(_)) => Err(invalid(b, format!("Give {a} or {b}, not both"))),
        (Some(v), None) => Ok((a, v)),
        (None, Some(v)) => Ok((b, v)),
        (None, None) => Err(invalid(a, format!("Give {a} or {b}"))),
    }
}

/// A fault rule from `data`: `route` (required), `method`, at most one of `probability` and
/// `every`, and at least one effect among `status` (400–599), `latency_ms` and `drop_connection`.
pub fn parse_fault(data: &Map<String, Value>) -> ApiResult<FaultSpec> {
    const FIELDS: &[&str] = &[
        "type",
        "route",
        "method",
        "probability",
        "every",
        "status",
        "latency_ms",
        "drop_connection",
        "times",
    ];
    if let Some(unknown) = data.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(invalid(unknown, format!("Unknown field {unknown}")));
    }
    let present = |k: &str| data.get(k).filter(|v| !v.is_null());
    let whole = |k: &str, min: u64, max: u64| -> ApiResult<Option<u64>> {
        match present(k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| (min..=max).contains(n))
                .map(Some)
                .ok_or_else(|| invalid(k, format!("{k} must be a whole number from {min} to {max}"))),
        }
    };
    let route = match present("route").map(|v| v.as_str()) {
        Some(Some(r)) if r.starts_with('/') && r.len() <= 512 => r.to_owned(),
        _ => {
            return Err(invalid(
                "route",
                "route is required: a path pattern starting with /",
            ));
        }
    };
    let method = match present("method") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
                .ok_or_else(|| invalid("method", "method must be an HTTP method, such as POST"))?,
        ),
    };
    let trigger = match (present("probability"), whole("every", 1, u64::from(u32::MAX))?) {
        (Some(_), Some(_)) => return Err(invalid("every", "Give probability or every, not both")),
        (Some(p), None) => match p.as_f64().filter(|p| *p > 0.0 && *p <= 1.0) {
            Some(p) => Trigger::Probability(p),
            None => {
                return Err(invalid(
                    "probability",
                    "probability must be a number above 0 and at most 1",
                ));
            }
        },
        (None, Some(n)) => Trigger::EveryNth(n),
        (None, None) => Trigger::Always,
    };
    let status = whole("status", 400, 599)?.map(|s| s as u16);
    let latency_ms = whole("latency_ms", 0, MAX_FAULT_LATENCY_MS)?.unwrap_or(0);
    let drop_connection = match present("drop_connection") {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| invalid("drop_connection", "drop_connection must be true or false"))?,
    };
    if drop_connection && status.is_some() {
        return Err(invalid(
            "status",
            "A dropped connection answers no status: give one of them",
        ));
    }
    if status.is_none() && latency_ms == 0 && !drop_connection {
        return Err(invalid(
            "status",
            "A fault rule needs an effect: a status, a latency_ms or drop_connection",
        ));
    }
    Ok(FaultSpec {
        route,
        method,
        trigger,
        status,
        latency_ms,
        drop_connection,
        times: whole("times", 1, u64::MAX)?,
    })
}

async fn faults(StoreEmulator(emulator, _): StoreEmulator) -> ApiResult<Json<Value>> {
    let rules = emulator.faults.list();
    Ok(Json(json!({
        "data": rules.iter().map(|r| render_fault(r)).collect::<Vec<_>>(),
        "meta": { "results": { "total": rules.len() } },
    })))
}

async fn add_fault(
    StoreEmulator(emulator, _): StoreEmulator,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let spec = parse_fault(data_of(&body)?)?;
    let rule = emulator.faults.add(spec).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Too Many Fault Rules",
            format!("A store holds at most {MAX_FAULT_RULES} fault rules; delete some first"),
        )
    })?;
    Ok((StatusCode::CREATED, Json(envelope::single(render_fault(&rule)))))
}

async fn clear_faults(StoreEmulator(emulator, _): StoreEmulator) -> ApiResult<StatusCode> {
    emulator.faults.clear();
    Ok(StatusCode::NO_CONTENT)
}

fn fault_not_found() -> ApiError {
    ApiError::not_found("Not Found", "No fault rule found")
}

async fn fault(
    StoreEmulator(emulator, _): StoreEmulator,
    ApiPath((_, fault_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let rule = emulator
        .faults
        .get(parse_uuid(&fault_id, fault_not_found)?)
        .ok_or_else(fault_not_found)?;
    Ok(Json(envelope::single(render_fault(&rule))))
}

async fn remove_fault(
    StoreEmulator(emulator, _): StoreEmulator,
    ApiPath((_, fault_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    if emulator.faults.remove(parse_uuid(&fault_id, fault_not_found)?) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(fault_not_found())
    }
}

// ---------------------------------------------------------------------------------------------
// Elastic Path's rate limit

fn render_rate_limit(per_second: Option<u32>) -> Value {
    let store_type = match per_second {
        None => "off",
        Some(DEVELOPMENT_RATE) => "development",
        Some(PRODUCTION_RATE) => "production",
        Some(_) => "custom",
    };
    json!({ "type": "kassa-rate-limit", "store_type": store_type, "requests_per_second": per_second })
}

async fn rate_limit(StoreEmulator(emulator, _): StoreEmulator) -> ApiResult<Json<Value>> {
    Ok(Json(envelope::single(render_rate_limit(
        emulator.rate_limit.per_second(),
    ))))
}

/// `{"store_type": "development" | "production" | "off"}` (Elastic Path's 25 and 100 requests a
/// second) or `{"requests_per_second": n}`.
async fn set_rate_limit(
    StoreEmulator(emulator, _): StoreEmulator,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let per_second = match one_of(data_of(&body)?, "store_type", "requests_per_second")? {
        ("store_type", t) => match t.as_str() {
            Some("development") => Some(DEVELOPMENT_RATE),
            Some("production") => Some(PRODUCTION_RATE),
            Some("off") => None,
            _ => {
                return Err(invalid(
                    "store_type",
                    "store_type must be development (25 requests/s), production (100/s) or off",
                ));
            }
        },
        (_, n) => Some(
            n.as_u64()
                .filter(|n| (1..=u64::from(MAX_RATE)).contains(n))
                .map(|n| n as u32)
                .ok_or_else(|| {
                    invalid(
                        "requests_per_second",
                        format!("requests_per_second must be a whole number from 1 to {MAX_RATE}"),
                    )
                })?,
        ),
    };
    emulator.rate_limit.set(per_second);
    Ok(Json(envelope::single(render_rate_limit(per_second))))
}

// ---------------------------------------------------------------------------------------------
// Reset

/// Back to empty, or to the fixture the store was made from: every resource of the store goes
/// (its application keys stay, and tokens stay valid), the account realm is made again as at a
/// first start where the fixture has none, and the store's journal, fault rules and rate limit
/// are cleared. With `--seed`, ids start again from the seed, so each test that begins with a
/// reset sees the same ids.
async fn reset(StoreEmulator(emulator, state): StoreEmulator) -> ApiResult<StatusCode> {
    let fixture = emulator.reset_fixture()?;
    if let Some(seed) = state.context.current_seed() {
        state.context.seed(Some(seed));
    }
    state.context.set_clock(None);
    crate::load_fixture(&state, fixture).await?;
    emulator.journal.clear();
    emulator.faults.clear();
    emulator.rate_limit.set(None);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /_kassa/stores/{id}/export`: the store's data as one fixture file (every table but its
/// credentials, rows in key order, secrets redacted), the same bytes on either backend.
async fn export(
    StoreEmulator(_, state): StoreEmulator,
) -> ApiResult<([(axum::http::HeaderName, String); 2], Vec<u8>)> {
    let fixture = state.store.export().await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/json".to_owned()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"kassa-{}.json\"", state.store_id),
            ),
        ],
        fixture.to_bytes(),
    ))
}

/// `POST /_kassa/stores/{id}/import` with a fixture file as the body: the store's data becomes
/// the fixture's, in one transaction (its credentials, journal, faults, clock and the fixture
/// its resets go back to stay). A fixture that does not fit changes nothing.
async fn import(StoreEmulator(_, state): StoreEmulator, req: Request) -> ApiResult<StatusCode> {
    let body = read_body_up_to(req, &state, MAX_FIXTURE_BYTES).await?;
    let fixture = off_the_runtime(move || Fixture::parse(&body)).await??;
    crate::load_fixture(&state, fixture).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// The test clock

/// The longest a clock may be moved at once: ten years.
const MAX_ADVANCE_SECS: i64 = 10 * 365 * 24 * 3600;

fn render_clock(clock: &StoreContext) -> Value {
    let offset = clock.clock_offset_ms();
    json!({
        "type": "kassa-clock",
        "now": rfc3339(clock.now_millis()),
        "offset_secs": offset as f64 / 1000.0,
        "real_time": offset == 0,
    })
}

async fn clock(StoreEmulator(_, target): StoreEmulator) -> ApiResult<Json<Value>> {
    Ok(Json(envelope::single(render_clock(&target.context))))
}

/// `{"advance_secs": n}` moves the store's clock on by n seconds (from where it is); `{"set":
/// "2030-01-01T00:00:00Z"}` makes it that time. Either way it runs on from there.
async fn move_clock(
    StoreEmulator(_, target): StoreEmulator,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let clock = &target.context;
    let at = match one_of(data_of(&body)?, "advance_secs", "set")? {
        ("advance_secs", secs) => {
            let secs = secs
                .as_i64()
                .filter(|s| (0..=MAX_ADVANCE_SECS).contains(s))
                .ok_or_else(|| {
                    invalid(
                        "advance_secs",
                        format!(
                            "advance_secs must be a whole number of seconds from 0 to {MAX_ADVANCE_SECS}"
                        ),
                    )
                })?;
            clock.now_millis() + secs * 1000
        }
        (_, at) => at
            .as_str()
            .and_then(kassa_core::time::parse_rfc3339)
            .ok_or_else(|| {
                invalid(
                    "set",
                    "set must be an RFC 3339 date-time, such as 2030-01-01T00:00:00Z",
                )
            })?,
    };
    clock.set_clock(Some(at));
    Ok(Json(envelope::single(render_clock(clock))))
}

/// Back to real time.
async fn real_clock(StoreEmulator(_, target): StoreEmulator) -> ApiResult<StatusCode> {
    target.context.set_clock(None);
    Ok(StatusCode::NO_CONTENT)
}
