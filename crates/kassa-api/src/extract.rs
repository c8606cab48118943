//! Request extractors whose every failure is an Elastic Path error envelope, and the body field
//! parsers several resources share (`data`, optional text, addresses).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use kassa_core::Validator;
use kassa_core::address::AddressUse;
use kassa_core::query::{self, Filter, PageRequest, Sort};
use kassa_core::time::parse_rfc3339;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A JSON body. Wrong content type → 415, too large → 413, malformed JSON → 400, a value of the
/// wrong type → 400 naming its path in `source` (`data.quantity`).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if !has_content_type(req.headers(), is_json) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
                "Expected a body with Content-Type: application/json",
            ));
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be absent: an empty body is `None` (the SDKs send no body to create an
/// unnamed cart), anything else is checked exactly as [`ApiJson`].
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let json = has_content_type(req.headers(), is_json);
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
                "Expected a body with Content-Type: application/json",
            ));
        }
        parse_json(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("The request body is empty; expected JSON").with_source("request"));
    }
    // PostgreSQL can store no NUL character in text or jsonb, so one would fail deep in the
    // store as a 500 (found by the contract fuzzer). Refused here, for every body and both
    // backends alike.
    if has_escaped_nul(bytes) {
        return Err(ApiError::bad_request(
            "Text in the request body may not contain the NUL character (\\u0000)",
        )
        .with_source("request"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("The request body is not valid JSON: {inner}"))
                .with_source("request")
        } else {
            let source = if path == "." { "request".to_owned() } else { path };
            ApiError::bad_request(inner.to_string()).with_source(source)
        }
    })
}

/// A query or form value may not hold a NUL character: PostgreSQL cannot take one as a query
/// parameter, so it would fail in the store as a 500.
pub(crate) fn refuse_nul(text: &str, source: &str) -> Result<(), ApiError> {
    if text.contains('\0') {
        return Err(
            ApiError::bad_request(format!("{source} may not contain the NUL character")).with_source(source),
        );
    }
    Ok(())
}

/// Whether JSON text holds the escape `\u0000`. (A raw NUL byte is not valid JSON at all, and
/// `\\u0000` is a backslash followed by text, not a NUL.)
fn has_escaped_nul(bytes: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\\' {
            backslashes += 1;
            continue;
        }
        if b == b'u' && backslashes % 2 == 1 && bytes[i + 1..].starts_with(b"0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// The raw body, with the size limit answered as 413 — at once when `Content-Length` already
/// says so, without waiting for the body.
pub(crate) async fn read_body(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    read_body_up_to(req, state, state.config.max_body_bytes).await
}

/// [`read_body`] with a limit of its own, for a route that takes larger bodies (its
/// `DefaultBodyLimit` must allow `limit` too).
pub(crate) async fn read_body_up_to(req: Request, state: &AppState, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
            format!("The request body is larger than the {limit} bytes this server accepts"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(format!("The request body could not be read: {rejection}"))
        }
    })
}

fn is_json(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

pub(crate) fn has_content_type(headers: &axum::http::HeaderMap, accept: impl Fn(&str) -> bool) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|m| accept(&m))
}

/// The query-string conventions every collection shares. Accepts both the raw form the classic
/// clients send (`page[limit]=5&filter=eq(a,b)`) and the percent-encoded form of the generated
/// clients (`page%5Blimit%5D=5&filter=eq(a%2Cb)`), and both `include=a,b` and repeated `include`.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub page: PageRequest,
    pub filters: Vec<Filter>,
    sort: Option<String>,
    pub include: Vec<String>,
    /// Every other parameter, decoded.
    pub params: Vec<(String, String)>,
}

impl ListQuery {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut limit = None;
        let mut offset = None;
        let mut filter = String::new();
        let mut sort = None;
        let mut include = Vec::new();
        let mut params = Vec::new();
        for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            refuse_nul(&key, "query")?;
            refuse_nul(&value, &key)?;
            match key.as_ref() {
                "page[limit]" => limit = Some(value.into_owned()),
                "page[offset]" => offset = Some(value.into_owned()),
                "filter" => {
                    if !filter.is_empty() {
                        filter.push(':');
                    }
                    filter.push_str(&value);
                }
                "sort" => sort = Some(value.into_owned()),
                "include" => include.extend(
                    value
                        .split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty()),
                ),
                _ => params.push((key.into_owned(), value.into_owned())),
            }
        }
        let page = PageRequest::parse(limit.as_deref(), offset.as_deref(), query::DEFAULT_PAGE_LIMIT)?;
        let filters = query::parse_filter(&filter)?;
        Ok(Self {
            page,
            filters,
            sort,
            include,
            params,
        })
    }

    /// The requested sort, checked against what the endpoint supports.
    pub fn sort(&self, supported: &[&str]) -> Result<Option<Sort>, ApiError> {
        self.sort
            .as_deref()
            .map(|s| query::parse_sort(s, supported))
            .transpose()
            .map_err(ApiError::from)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        ListQuery::parse(parts.uri.query())
    }
}

/// A path parameter; a malformed one is a 404 (nothing by that id), never a plain-text 400.
pub fn parse_uuid(raw: &str, not_found: impl FnOnce() -> ApiError) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| not_found())
}

#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        ApiError::bad_request(rejection.body_text())
    }
}

/// For optional fields of a partial update: absent → `None` (keep), `null` → `Some(None)`
/// (clear), a value → `Some(Some(v))`. Use with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// `data` of a body, which must be an object.
pub(crate) fn data_of(body: &Value) -> ApiResult<&Map<String, Value>> {
    body.get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("data is required and must be an object").with_source("data"))
}

/// An optional string field of `obj`, reporting a non-string value or excess length. Blank
/// (`""`, as a form sends an empty input) counts as not given.
pub(crate) fn text(
    v: &mut Validator,
    obj: &Map<String, Value>,
    name: &str,
    base: &str,
    max: usize,
) -> Option<String> {
    let source = format!("{base}.{name}");
    match obj.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => v.optional_text_or_blank(Some(s.clone()), &source, max),
        Some(_) => {
            v.push(source, "type", format!("{name} must be a string"));
            None
        }
    }
}

/// The object at `data.{name}`, reporting anything else.
pub(crate) fn object<'a>(
    v: &mut Validator,
    data: &'a Map<String, Value>,
    name: &str,
) -> Option<&'a Map<String, Value>> {
    match data.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(o),
        Some(_) => {
            v.push(
                format!("data.{name}"),
                "type",
                format!("{name} must be an object"),
            );
            None
        }
    }
}

/// A billing or shipping address at `data.{name}`, checked by the rules every address follows
/// (`kassa_core::address`: the official spec's required fields, `region` or `county`, lengths).
/// Returns the address as stored and rendered (the fields its use allows, blank ones left out).
pub(crate) fn address(v: &mut Validator, data: &Map<String, Value>, name: &str, shipping: bool) -> Value {
    let base = format!("data.{name}");
    let Some(obj) = object(v, data, name) else {
        if !data.contains_key(name) || data[name].is_null() {
            v.push(base, "required", format!("{name} is required"));
        }
        return Value::Null;
    };
    let address_use = if shipping {
        AddressUse::Shipping
    } else {
        AddressUse::Billing
    };
    Value::Object(kassa_core::address::check(v, obj, &base, address_use).to_json())
}

/// An optional RFC 3339 date-time at `source`, reporting anything else.
pub(crate) fn moment(v: &mut Validator, text: Option<String>, source: &str) -> Option<i64> {
    let text = text?;
    let parsed = parse_rfc3339(&text);
    if parsed.is_none() {
        v.push(
            source,
            "invalid",
            "Expected an RFC 3339 date-time such as 2026-12-24T09:00:00Z",
        );
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::has_escaped_nul;

    #[test]
    fn finds_only_real_nul_escapes() {
        assert!(has_escaped_nul(br#"{"name":"a\u0000b"}"#));
        assert!(has_escaped_nul(br#"{"a\u0000":1}"#));
        assert!(
            has_escaped_nul(br#"{"name":"\\\u0000"}"#),
            "an escaped backslash, then a NUL"
        );
        assert!(
            !has_escaped_nul(br#"{"name":"\\u0000"}"#),
            "a backslash and the text u0000"
        );
        assert!(!has_escaped_nul(br#"{"name":"\u0001 \u1000 u0000"}"#));
    }
}
