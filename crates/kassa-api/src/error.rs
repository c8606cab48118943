//! Every error leaves kassa as Elastic Path's envelope,
//! `{"errors":[{"status","title","detail","source"?,"meta"?}]}`, mapped from the domain error in
//! one place. Internal details are logged, never returned.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kassa_core::Error;
use serde::Serialize;
use serde_json::Value;

/// Fields in alphabetical order: the error responses render through a `Value` (whose maps sort
/// their keys) but a bulk add-to-cart serializes its `errors` directly, and this order keeps both
/// the same bytes.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorObject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub status: u16,
    pub title: String,
}

/// An HTTP error: one status and one or more error objects.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub errors: Vec<ErrorObject>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            status,
            errors: vec![ErrorObject {
                status: status.as_u16(),
                title: title.into(),
                detail: Some(detail.into()).filter(|d: &String| !d.is_empty()),
                source: None,
                meta: None,
            }],
        }
    }

    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        if let Some(e) = self.errors.first_mut() {
            e.source = Some(source.into());
        }
        self
    }

    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unable to validate access token", "")
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", detail)
    }

    pub fn not_found(title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, title, detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad Request", detail)
    }

    /// 503: the database cannot be reached or written now; retrying later may succeed (with the
    /// same `Idempotency-Key`, a retried checkout or payment happens once). Sent with
    /// `Retry-After`.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "The database is not available just now; try again shortly",
        )
    }
}

/// What a 503 tells a client to wait before retrying, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Validation(problems) => Self {
                status: StatusCode::BAD_REQUEST,
                errors: problems
                    .into_iter()
                    .map(|p| ErrorObject {
                        status: 400,
                        title: p.title,
                        detail: Some(p.detail),
                        source: Some(p.source),
                        meta: None,
                    })
                    .collect(),
            },
            Error::BadRequest { title, detail } => Self::new(StatusCode::BAD_REQUEST, title, detail),
            Error::NotFound { title, detail } => Self::new(StatusCode::NOT_FOUND, title, detail),
            Error::Conflict(detail) => Self::new(StatusCode::CONFLICT, "Conflict", detail),
            Error::Unauthenticated => Self::unauthenticated(),
            Error::Forbidden(detail) => Self::forbidden(detail),
            Error::Unavailable(cause) => {
                tracing::warn!(error = %cause, "storage unavailable");
                Self::unavailable()
            }
            Error::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                    "Something went wrong on our side; the request id in X-Request-Id identifies it in the logs",
                )
            }
        }
    }
}

/// Kept on the response so a layer can re-render the body (see [`string_status`]) and the
/// request log can name the error.
#[derive(Debug, Clone)]
struct RenderedErrors(Vec<ErrorObject>);

/// The title of an error response's first error object, for the request's log line.
pub(crate) fn rendered_title(response: &Response) -> Option<&str> {
    response
        .extensions()
        .get::<RenderedErrors>()
        .and_then(|e| e.0.first())
        .map(|e| e.title.as_str())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "errors": &self.errors });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, RETRY_AFTER_SECS.into());
        }
        // A body refused for its size is answered before it is read, so the connection cannot
        // carry another request: saying so keeps a client from sending its next request on a
        // connection the server is closing (HTTP/2 drops the header; its streams are unaffected).
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response.extensions_mut().insert(RenderedErrors(self.errors));
        response
    }
}

/// Elastic Path's account, authentication and settings services write `status` as a string
/// (`"400"`) where carts and orders write a number. Routers of those services pass their
/// responses through this.
pub async fn string_status(response: Response) -> Response {
    let Some(RenderedErrors(errors)) = response.extensions().get::<RenderedErrors>().cloned() else {
        return response;
    };
    let errors: Vec<Value> = errors
        .into_iter()
        .map(|e| {
            let mut v = serde_json::to_value(&e).unwrap_or_default();
            v["status"] = Value::String(e.status.to_string());
            v
        })
        .collect();
    let (parts, _) = response.into_parts();
    let mut response = (parts.status, Json(serde_json::json!({ "errors": errors }))).into_response();
    *response.headers_mut() = parts.headers;
    *response.extensions_mut() = parts.extensions;
    response
}

/// How a route writes the `status` of its error objects: Elastic Path's account, auth,
/// settings and PCM services write a string (`"400"`), carts and orders a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusStyle {
    Number,
    String,
}
