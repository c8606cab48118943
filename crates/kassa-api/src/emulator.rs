//! The emulator's per-store state (`/_kassa/`, on with `--emulator`): the request journal, the
//! fault rules and the emulated rate limit, and the middleware that applies them to every Elastic
//! Path request. None of it
//! changes the Elastic Path API; it is what a storefront's test suite uses to see what its client
//! sent and to test its retries. The routes are in `routes::emulator`.
//!
//! A server holds one store today, named [`STORE_ID`]; the paths already name it
//! (`/_kassa/stores/{id}/…`) so that a server of several stores keeps them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use kassa_core::snapshot::Fixture;
use kassa_core::time::{Millis, now_millis};
use serde_json::Value;
use uuid::Uuid;

use crate::error::ApiError;

/// The one store of this server, as `/_kassa/stores/{id}` names it.
pub const STORE_ID: &str = "default";
/// The prefix of kassa's own endpoints; requests to them are neither journaled nor faulted.
pub const PREFIX: &str = "/_kassa/";
/// Requests the journal keeps (the oldest go first).
pub const JOURNAL_CAPACITY: usize = 1000;
/// The part of each body the journal keeps, in bytes; the rest is cut (and the entry says so).
pub const JOURNAL_BODY_BYTES: usize = 16 * 1024;
/// Bodies larger than this are not read for the journal (a file upload): only their size is kept.
const CAPTURE_LIMIT: usize = 256 * 1024;
/// What a secret or token reads as in the journal.
pub const REDACTED: &str = "[redacted]";
/// Fault rules a store may hold.
pub const MAX_FAULT_RULES: usize = 100;
/// The longest latency a fault rule may add.
pub const MAX_FAULT_LATENCY_MS: u64 = 60_000;

/// Headers whose values are credentials (lower-case, as `HeaderName`s are; written out rather
/// than taken from `crate::auth`, which depends on the state that holds this module's types).
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "ep-account-management-authentication-token",
    "x-moltin-customer-token",
    "x-moltin-secret-key",
];
/// Body fields (JSON keys or form names, at any depth) whose values are secrets or tokens.
const SECRET_FIELDS: &[&str] = &[
    "client_secret",
    "password",
    "current_password",
    "access_token",
    "refresh_token",
    "token",
    "secret",
    "secret_key",
    "api_key",
];

#[derive(Default)]
pub struct Emulator {
    pub journal: Journal,
    pub faults: Faults,
    pub rate_limit: RateLimit,
    /// What a reset brings the store back to: the fixture it was made from (`kassa serve
    /// --fixture`, `POST /_kassa/stores` with one), or none (empty). Kept as its JSON text, a
    /// fraction of the parsed document's memory, and parsed at each reset.
    fixture: Mutex<Option<Arc<[u8]>>>,
}

impl Emulator {
    /// The fixture a reset goes back to; an empty one if there is none.
    pub fn reset_fixture(&self) -> kassa_core::Result<Fixture> {
        let kept = self.fixture.lock().unwrap_or_else(|e| e.into_inner()).clone();
        kept.map_or_else(|| Ok(Fixture::empty()), |bytes| Fixture::parse(&bytes))
    }

    pub fn resets_to_fixture(&self) -> bool {
        self.fixture.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    pub fn set_reset_fixture(&self, fixture: Option<&Fixture>) {
        let bytes = fixture.map(|f| Arc::from(serde_json::to_vec(f).expect("a fixture is plain JSON")));
        *self.fixture.lock().unwrap_or_else(|e| e.into_inner()) = bytes;
    }
}

// ---------------------------------------------------------------------------------------------
// Elastic Path's rate limit

/// Elastic Path's documented store limits (`rate-limits.md`), requests per second.
pub const PRODUCTION_RATE: u32 = 100;
pub const DEVELOPMENT_RATE: u32 = 25;
/// The highest rate a store may be limited to.
pub const MAX_RATE: u32 = 100_000;

/// "Emulate Elastic Path's limits": a token bucket of one second's requests, refilled
/// continuously; a request that finds it empty is answered 429 before kassa handles it.
#[derive(Default)]
pub struct RateLimit {
    on: std::sync::atomic::AtomicBool,
    bucket: Mutex<Bucket>,
}

#[derive(Default)]
struct Bucket {
    per_second: u32,
    tokens: f64,
    refilled: Option<Instant>,
}

impl RateLimit {
    /// Limits the store to `per_second` requests a second, or lifts the limit (`None`).
    pub fn set(&self, per_second: Option<u32>) {
        let mut b = self.bucket.lock().expect("rate limit lock");
        *b = Bucket {
            per_second: per_second.unwrap_or(0),
            tokens: f64::from(per_second.unwrap_or(0)),
            refilled: Some(Instant::now()),
        };
        self.on.store(per_second.is_some(), Ordering::Release);
    }

    /// The limit in requests per second, if one is set.
    pub fn per_second(&self) -> Option<u32> {
        self.on
            .load(Ordering::Acquire)
            .then(|| self.bucket.lock().expect("rate limit lock").per_second)
    }

    /// Takes a request's token: false when the store is over its limit.
    fn admit(&self) -> bool {
        if !self.on.load(Ordering::Acquire) {
            return true;
        }
        let mut b = self.bucket.lock().expect("rate limit lock");
        let now = Instant::now();
        let rate = f64::from(b.per_second);
        if let Some(then) = b.refilled {
            b.tokens = (b.tokens + now.duration_since(then).as_secs_f64() * rate).min(rate);
        }
        b.refilled = Some(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn rate_limited() -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
        "This store's rate limit is reached (kassa emulates Elastic Path's limits)",
    )
    .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(crate::error::RETRY_AFTER_SECS),
    );
    response
}

// ---------------------------------------------------------------------------------------------
// The journal

/// A request as the journal keeps it: its parts as they were (headers and bodies are shared
/// with the request and response, not copied), redacted and cut only when read
/// ([`Captured::shown`]), so that journaling costs a request a few clones.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub id: u64,
    pub at: Millis,
    pub method: Method,
    /// The matched route (`/v2/carts/{id}`), if any.
    pub route: Option<MatchedPath>,
    /// The path and query as sent.
    pub uri: axum::http::Uri,
    pub status: u16,
    pub latency_us: u64,
    pub request: Captured,
    pub response: Captured,
    /// The fault rule that answered instead of kassa, if one did.
    pub fault: Option<Uuid>,
    /// Whether the store's emulated rate limit answered 429 instead of kassa.
    pub rate_limited: bool,
}

impl JournalEntry {
    pub fn route(&self) -> Option<&str> {
        self.route.as_ref().map(MatchedPath::as_str)
    }

    pub fn path(&self) -> &str {
        self.uri
            .path_and_query()
            .map_or(self.uri.path(), |pq| pq.as_str())
    }
}

#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub headers: HeaderMap,
    body: Kept,
}

/// A body as kept.
#[derive(Debug, Clone, Default)]
enum Kept {
    #[default]
    None,
    /// Whole, up to [`JOURNAL_BODY_BYTES`]: redacted when read.
    Whole(Packed),
    /// A longer one, redacted and cut when it was kept (its whole size beside it).
    Cut(Packed, usize),
    /// Not read (too large, or of unknown length): its declared size.
    Unread(usize),
}

/// Bytes kept LZ4-compressed: a journal full of catalog and search answers (cut to 16 KiB) took
/// ~19 MiB of resident memory as they were, ~6 MiB packed (BENCHMARKS.md, session 30). Packing
/// a 16 KiB body takes microseconds; a journal read unpacks what it shows.
#[derive(Debug, Clone)]
struct Packed(Box<[u8]>);

impl Packed {
    fn new(bytes: &[u8]) -> Self {
        Self(lz4_flex::compress_prepend_size(bytes).into_boxed_slice())
    }

    fn unpack(&self) -> Vec<u8> {
        // Only what `new` packed is ever read: this cannot fail.
        lz4_flex::decompress_size_prepended(&self.0).unwrap_or_default()
    }
}

/// What a journal read shows of a request's or a response's side.
pub struct Shown {
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub body_bytes: usize,
    pub truncated: bool,
}

impl Captured {
    fn new(headers: &HeaderMap) -> Self {
        Self {
            headers: headers.clone(),
            body: Kept::None,
        }
    }

    /// Headers and body as a journal read shows them, secrets redacted.
    pub fn shown(&self) -> Shown {
        let (body, body_bytes, truncated) = match &self.body {
            Kept::None => (None, 0, false),
            Kept::Whole(packed) => {
                let bytes = packed.unpack();
                (
                    Some(redacted_body(content_type(&self.headers).as_deref(), &bytes).0),
                    bytes.len(),
                    false,
                )
            }
            Kept::Cut(packed, size) => (
                Some(String::from_utf8_lossy(&packed.unpack()).into_owned()),
                *size,
                true,
            ),
            Kept::Unread(size) => (None, *size, true),
        };
        Shown {
            headers: captured_headers(&self.headers),
            body,
            body_bytes,
            truncated,
        }
    }
}

#[derive(Default)]
pub struct Journal {
    entries: Mutex<VecDeque<Arc<JournalEntry>>>,
    next_id: AtomicU64,
}

/// Which entries a journal read wants.
#[derive(Debug, Default)]
pub struct JournalFilter {
    pub method: Option<Method>,
    /// An exact status, or a class: `4` for 4xx.
    pub status: Option<StatusFilter>,
    /// The matched route, exactly (`/v2/carts/{id}/items`).
    pub route: Option<String>,
    /// A substring of the path.
    pub path: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Exact(u16),
    Class(u16),
}

impl StatusFilter {
    /// `404`, or `4xx`.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim().to_ascii_lowercase();
        if let Some(class) = raw.strip_suffix("xx") {
            return class
                .parse()
                .ok()
                .filter(|c| (1..=5).contains(c))
                .map(StatusFilter::Class);
        }
        raw.parse()
            .ok()
            .filter(|s| (100..=599).contains(s))
            .map(StatusFilter::Exact)
    }

    fn holds(self, status: u16) -> bool {
        match self {
            StatusFilter::Exact(s) => s == status,
            StatusFilter::Class(c) => status / 100 == c,
        }
    }
}

impl JournalFilter {
    fn holds(&self, e: &JournalEntry) -> bool {
        self.method.as_ref().is_none_or(|m| *m == e.method)
            && self.status.is_none_or(|s| s.holds(e.status))
            && self.route.as_ref().is_none_or(|r| e.route() == Some(r.as_str()))
            && self.path.as_ref().is_none_or(|p| e.path().contains(p.as_str()))
    }
}

impl Journal {
    fn push(&self, mut entry: JournalEntry) {
        entry.id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut entries = self.entries.lock().expect("journal lock");
        if entries.len() == JOURNAL_CAPACITY {
            entries.pop_front();
        }
        entries.push_back(Arc::new(entry));
    }

    /// The entries `filter` keeps, newest first: how many there are, and the page asked for.
    pub fn read(
        &self,
        filter: &JournalFilter,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<Arc<JournalEntry>>) {
        let entries = self.entries.lock().expect("journal lock");
        let matching = entries.iter().rev().filter(|e| filter.holds(e));
        let total = matching.clone().count();
        (total, matching.skip(offset).take(limit).cloned().collect())
    }

    pub fn clear(&self) {
        self.entries.lock().expect("journal lock").clear();
    }
}

fn captured_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if SECRET_HEADERS.contains(&name.as_str()) {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect()
}

/// A body as the journal shows it: JSON and forms with their secret fields redacted, other text
/// as it is, bytes as their size; cut at [`JOURNAL_BODY_BYTES`].
pub fn redacted_body(content_type: Option<&str>, bytes: &[u8]) -> (String, bool) {
    let kind = content_type.unwrap_or("").to_ascii_lowercase();
    let text = if kind.contains("json") || (kind.is_empty() && bytes.first() == Some(&b'{')) {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(mut v) => {
                redact_json(&mut v);
                v.to_string()
            }
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }
    } else if kind.starts_with("application/x-www-form-urlencoded") {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form_urlencoded::parse(bytes).map(|(k, v)| {
                let shown = if SECRET_FIELDS.contains(&k.as_ref()) {
                    REDACTED.into()
                } else {
                    v
                };
                (k, shown)
            }))
            .finish()
    } else if kind.starts_with("text/")
        || std::str::from_utf8(bytes).is_ok() && !kind.starts_with("multipart/")
    {
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        format!(
            "({} bytes of {})",
            bytes.len(),
            if kind.is_empty() { "binary" } else { &kind }
        )
    };
    cut(text)
}

fn cut(mut text: String) -> (String, bool) {
    if text.len() <= JOURNAL_BODY_BYTES {
        return (text, false);
    }
    let mut end = JOURNAL_BODY_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

fn redact_json(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if SECRET_FIELDS.contains(&key.as_str()) && !value.is_null() {
                    *value = Value::String(REDACTED.to_owned());
                } else {
                    redact_json(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Fault rules

/// A fault rule as created: which requests it matches, how often it fires, what it does.
#[derive(Debug, Clone)]
pub struct FaultSpec {
    /// A path pattern: literal segments, `*` or `{name}` for any one segment, `**` (last) for
    /// any rest; a trailing query is ignored.
    pub route: String,
    pub method: Option<Method>,
    pub trigger: Trigger,
    /// The status answered instead of kassa's (an Elastic Path error body).
    pub status: Option<u16>,
    /// Waited before answering (or before kassa answers, without a status).
    pub latency_ms: u64,
    /// The connection is closed without an answer.
    pub drop_connection: bool,
    /// Fires at most this many times.
    pub times: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    Always,
    /// Each matching request with this probability.
    Probability(f64),
    /// Every nth matching request (the nth, 2nth, …).
    EveryNth(u64),
}

#[derive(Debug)]
pub struct FaultRule {
    pub id: Uuid,
    pub spec: FaultSpec,
    pub created_at: Millis,
    /// Requests that matched the route and method.
    pub matched: AtomicU64,
    /// Times it fired.
    pub fired: AtomicU64,
}

#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<Arc<FaultRule>>>,
    /// Whether any rule exists: the request path reads one atomic when none does.
    any: std::sync::atomic::AtomicBool,
}

impl Faults {
    /// Adds a rule; `None` when the store holds [`MAX_FAULT_RULES`] already.
    pub fn add(&self, spec: FaultSpec) -> Option<Arc<FaultRule>> {
        let mut rules = self.rules.lock().expect("fault rules lock");
        if rules.len() >= MAX_FAULT_RULES {
            return None;
        }
        let rule = Arc::new(FaultRule {
            id: kassa_core::ids::new_id(),
            spec,
            created_at: now_millis(),
            matched: AtomicU64::new(0),
            fired: AtomicU64::new(0),
        });
        rules.push(Arc::clone(&rule));
        self.any.store(true, Ordering::Release);
        Some(rule)
    }

    pub fn list(&self) -> Vec<Arc<FaultRule>> {
        self.rules.lock().expect("fault rules lock").clone()
    }

    pub fn get(&self, id: Uuid) -> Option<Arc<FaultRule>> {
        self.list().into_iter().find(|r| r.id == id)
    }

    pub fn remove(&self, id: Uuid) -> bool {
        let mut rules = self.rules.lock().expect("fault rules lock");
        let before = rules.len();
        rules.retain(|r| r.id != id);
        self.any.store(!rules.is_empty(), Ordering::Release);
        rules.len() < before
    }

    pub fn clear(&self) {
        self.rules.lock().expect("fault rules lock").clear();
        self.any.store(false, Ordering::Release);
    }

    /// The first rule (oldest first) that fires for this request, counted.
    fn firing(&self, method: &Method, path: &str) -> Option<Arc<FaultRule>> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let rules = self.list();
        rules.into_iter().find(|r| r.fires(method, path))
    }
}

impl FaultRule {
    fn fires(&self, method: &Method, path: &str) -> bool {
        if self.spec.method.as_ref().is_some_and(|m| m != method) || !route_matches(&self.spec.route, path) {
            return false;
        }
        let n = self.matched.fetch_add(1, Ordering::Relaxed) + 1;
        let triggered = match self.spec.trigger {
            Trigger::Always => true,
            Trigger::EveryNth(every) => n.is_multiple_of(every),
            Trigger::Probability(p) => rand::random::<f64>() < p,
        };
        if !triggered {
            return false;
        }
        // `times` is a budget shared by concurrent requests: taken atomically.
        let fired = self
            .fired
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| match self.spec.times {
                Some(max) if f >= max => None,
                _ => Some(f + 1),
            });
        fired.is_ok()
    }
}

/// Whether `path` (no query) matches `pattern` (see [`FaultSpec::route`]).
pub fn route_matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.split('?').next().unwrap_or("");
    let mut want = pattern.split('/').filter(|s| !s.is_empty());
    let mut have = path.split('/').filter(|s| !s.is_empty());
    loop {
        match (want.next(), have.next()) {
            (Some("**"), _) => return true,
            (None, None) => return true,
            (Some(w), Some(h)) => {
                let any = w == "*" || (w.starts_with('{') && w.ends_with('}'));
                if !any && w != h {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// The fault's answer: its status as an Elastic Path error (429 with `Retry-After`), or a body
/// that fails at once, which makes the server close the connection without a complete answer.
fn fault_response(rule: &FaultRule) -> Response {
    if rule.spec.drop_connection {
        let failing = futures_util::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("kassa fault: connection dropped"))
        });
        let mut response = Response::new(Body::from_stream(failing));
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let status = rule
        .spec
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let title = status.canonical_reason().unwrap_or("Error");
    let mut response =
        ApiError::new(status, title, format!("Injected by kassa fault rule {}", rule.id)).into_response();
    if matches!(status.as_u16(), 429 | 503) {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(crate::error::RETRY_AFTER_SECS),
        );
    }
    response
}

// ---------------------------------------------------------------------------------------------
// The middleware

/// Applies the fault rules, then records the request in the journal. Only layered when the
/// emulator is on; kassa's own `/_kassa/` requests pass untouched.
pub(crate) async fn emulate(State(emulator): State<Arc<Emulator>>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with(PREFIX) || req.extensions().get::<crate::InternalRequest>().is_some() {
        return next.run(req).await;
    }
    let started = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let (parts, body) = req.into_parts();
    let mut request = Captured::new(&parts.headers);
    let body = capture(body, &mut request).await;
    let req = Request::from_parts(parts, body);
    let admitted = emulator.rate_limit.admit();
    let rule = if admitted {
        emulator.faults.firing(&method, uri.path())
    } else {
        None
    };
    if let Some(rule) = &rule
        && rule.spec.latency_ms > 0
    {
        tokio::time::sleep(Duration::from_millis(rule.spec.latency_ms)).await;
    }
    // A rule with only a latency lets kassa answer after it.
    let fault = rule.filter(|r| r.spec.status.is_some() || r.spec.drop_connection);
    let mut response = match &fault {
        Some(rule) => fault_response(rule),
        None if !admitted => rate_limited(),
        None => next.run(req).await,
    };
    let mut captured = Captured::new(response.headers());
    // A dropped connection's body is the failure itself: not read.
    if !fault.as_ref().is_some_and(|r| r.spec.drop_connection) {
        let (parts, body) = response.into_parts();
        let body = capture(body, &mut captured).await;
        response = Response::from_parts(parts, body);
    }
    emulator.journal.push(JournalEntry {
        id: 0,
        at: now_millis(),
        method,
        route,
        uri,
        status: response.status().as_u16(),
        latency_us: started.elapsed().as_micros() as u64,
        request,
        response: captured,
        fault: fault.map(|r| r.id),
        rate_limited: !admitted,
    });
    response
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Reads a body of a known size up to [`CAPTURE_LIMIT`] (a `Full` body, as kassa's answers are,
/// without a copy) and gives it back whole, keeping it in `into`; a larger or streamed one passes
/// on unread (`into` keeps its declared size).
async fn capture(body: Body, into: &mut Captured) -> Body {
    let size = axum::body::HttpBody::size_hint(&body).exact();
    match size {
        Some(0) => body,
        Some(n) if n as usize <= CAPTURE_LIMIT => match body.collect().await {
            Ok(collected) => {
                let bytes = collected.to_bytes();
                into.body = if bytes.len() <= JOURNAL_BODY_BYTES {
                    // Packed into a buffer of its own: the body shares the one it was read or
                    // written into (hyper's read buffer of 8 KiB or more for a request, a
                    // serialiser's doubled `Vec` for an answer), which would stay whole.
                    Kept::Whole(Packed::new(&bytes))
                } else {
                    // Cut now (redacting the whole first), so that the journal never holds
                    // more than its share of a large body nor leaks a secret cut in half.
                    let (text, _) = redacted_body(content_type(&into.headers).as_deref(), &bytes);
                    Kept::Cut(Packed::new(text.as_bytes()), bytes.len())
                };
                Body::from(bytes)
            }
            Err(_) => Body::empty(),
        },
        other => {
            into.body = Kept::Unread(other.unwrap_or(0) as usize);
            body
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_patterns() {
        let cases = [
            ("/v2/carts/{id}/checkout", "/v2/carts/abc/checkout", true),
            ("/v2/carts/*/checkout", "/v2/carts/abc/checkout", true),
            ("/v2/carts/*/checkout", "/v2/carts/abc/items", false),
            ("/v2/carts/*", "/v2/carts/abc/items", false),
            ("/v2/carts/**", "/v2/carts/abc/items", true),
            ("/v2/carts/**", "/v2/carts", true),
            ("/**", "/catalog/products", true),
            ("/v2/carts", "/v2/carts", true),
            ("/v2/carts", "/v2/carts/x", false),
            ("/v2/carts/x", "/v2/carts", false),
            ("/v2/carts?x=1", "/v2/carts", true),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(route_matches(pattern, path), want, "{pattern} against {path}");
        }
    }

    #[test]
    fn status_filters() {
        assert_eq!(StatusFilter::parse("404"), Some(StatusFilter::Exact(404)));
        assert_eq!(StatusFilter::parse("4xx"), Some(StatusFilter::Class(4)));
        assert_eq!(StatusFilter::parse("9xx"), None);
        assert_eq!(StatusFilter::parse("42"), None);
        assert!(StatusFilter::Class(4).holds(429));
        assert!(!StatusFilter::Exact(404).holds(400));
    }

    #[test]
    fn secrets_are_redacted_in_json_and_forms() {
        let (json, cut) = redacted_body(
            Some("application/json"),
            br#"{"data":{"password":"hunter2","name":"x","nested":[{"token":"t","id":1}]},"access_token":"abc"}"#,
        );
        assert!(!cut);
        assert!(
            !json.contains("hunter2") && !json.contains("\"t\"") && !json.contains("abc"),
            "{json}"
        );
        assert!(json.contains("\"name\":\"x\"") && json.contains(REDACTED));
        let (form, _) = redacted_body(
            Some("application/x-www-form-urlencoded"),
            b"grant_type=client_credentials&client_id=id&client_secret=s3cret",
        );
        assert_eq!(
            form,
            "grant_type=client_credentials&client_id=id&client_secret=%5Bredacted%5D"
        );
        let (bytes, _) = redacted_body(Some("image/png"), &[0x89, b'P', b'N', b'G', 0xff]);
        assert_eq!(bytes, "(5 bytes of image/png)");
    }

    #[test]
    fn kept_bodies_are_packed_and_read_back_whole() {
        let body = serde_json::json!({"data": (0..200).map(|i| serde_json::json!({
            "type": "product", "id": i, "attributes": {"name": format!("Lamp {i}"), "sku": format!("L-{i}")}
        })).collect::<Vec<_>>()})
        .to_string();
        let packed = Packed::new(body.as_bytes());
        assert!(
            packed.0.len() * 3 < body.len(),
            "{} of {}",
            packed.0.len(),
            body.len()
        );
        assert_eq!(packed.unpack(), body.as_bytes());
        assert_eq!(Packed::new(b"").unpack(), b"");
    }

    #[test]
    fn long_bodies_are_cut_on_a_character() {
        let long = "é".repeat(JOURNAL_BODY_BYTES);
        let (text, cut) = redacted_body(Some("text/plain"), long.as_bytes());
        assert!(cut && text.len() <= JOURNAL_BODY_BYTES && text.chars().all(|c| c == 'é'));
    }

    fn spec(trigger: Trigger, times: Option<u64>) -> FaultSpec {
        FaultSpec {
            route: "/v2/carts/{id}".into(),
            method: Some(Method::GET),
            trigger,
            status: Some(503),
            latency_ms: 0,
            drop_connection: false,
            times,
        }
    }

    #[test]
    fn the_rate_limit_admits_a_seconds_worth_then_refills() {
        let limit = RateLimit::default();
        assert!((0..1000).all(|_| limit.admit()), "no limit set");
        limit.set(Some(25));
        assert_eq!(limit.per_second(), Some(25));
        let admitted = (0..100).filter(|_| limit.admit()).count();
        assert_eq!(admitted, 25, "a burst of one second's requests");
        let slept = Instant::now();
        std::thread::sleep(Duration::from_millis(200));
        let refilled = (slept.elapsed().as_secs_f64() * 25.0).ceil() as usize;
        let later = (0..100).filter(|_| limit.admit()).count();
        assert!(
            (4..=refilled).contains(&later),
            "{refilled} tokens refilled at most, got {later}"
        );
        limit.set(None);
        assert_eq!(limit.per_second(), None);
        assert!((0..1000).all(|_| limit.admit()));
    }

    #[test]
    fn rules_fire_as_configured() {
        let faults = Faults::default();
        let every = faults.add(spec(Trigger::EveryNth(3), None)).unwrap();
        let fired: Vec<bool> = (0..6)
            .map(|_| faults.firing(&Method::GET, "/v2/carts/c").is_some())
            .collect();
        assert_eq!(fired, [false, false, true, false, false, true]);
        assert!(
            faults.firing(&Method::POST, "/v2/carts/c").is_none(),
            "another method"
        );
        assert_eq!(every.matched.load(Ordering::Relaxed), 6);
        assert!(faults.remove(every.id));

        let twice = faults.add(spec(Trigger::Always, Some(2))).unwrap();
        let fired = (0..5)
            .filter(|_| faults.firing(&Method::GET, "/v2/carts/c").is_some())
            .count();
        assert_eq!(fired, 2);
        assert_eq!(twice.fired.load(Ordering::Relaxed), 2);
        faults.clear();

        faults.add(spec(Trigger::Probability(0.5), None)).unwrap();
        let fired = (0..2000)
            .filter(|_| faults.firing(&Method::GET, "/v2/carts/c").is_some())
            .count();
        assert!((800..1200).contains(&fired), "{fired} of 2000 at p = 0.5");
    }
}
