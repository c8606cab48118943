//! Cross-cutting request handling: path normalization, request ids, one log line and the
//! metrics per request, and panics turned into error envelopes.

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Level;

use crate::error::ApiError;
use crate::metrics::Metrics;

const REQUEST_ID: &str = "x-request-id";

/// A request extension marking a request kassa sends itself, in process (the `--demo` seed):
/// it is neither logged nor counted in the metrics.
#[derive(Debug, Clone, Copy)]
pub struct InternalRequest;

/// Collapses repeated slashes and drops a trailing one, so `/v2/carts/x//items/` routes like
/// `/v2/carts/x/items` (one classic client call really sends `//`).
pub fn normalize_path(mut req: Request) -> Request {
    let path = req.uri().path();
    if !(path.contains("//") || (path.len() > 1 && path.ends_with('/'))) {
        return req;
    }
    let mut clean = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        clean.push('/');
        clean.push_str(segment);
    }
    if clean.is_empty() {
        clean.push('/');
    }
    if let Some(query) = req.uri().query() {
        clean.push('?');
        clean.push_str(query);
    }
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = clean.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// Echoes a sane `X-Request-Id` or makes one, logs one structured line per request — method,
/// matched route (never the raw path, which may carry ids), status, latency, request id, and for
/// an error the title of its (first) error object — and records the request's metrics.
pub(crate) async fn observe(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    if req.extensions().get::<InternalRequest>().is_some() {
        return next.run(req).await;
    }
    let started = Instant::now();
    let _in_flight = metrics.in_flight();
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let mut response = next.run(req).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let elapsed = started.elapsed();
    let route = route.as_deref().unwrap_or("(unmatched)");
    metrics.request(&method, route, response.status(), elapsed);
    let status = response.status().as_u16();
    let latency_us = elapsed.as_micros() as u64;
    // `None` (a success) records no `error` field at all.
    let error = crate::error::rendered_title(&response);
    match log_level(response.status()) {
        Level::ERROR => {
            tracing::error!(target: "kassa::http", %method, route, status, latency_us, request_id, error, "request")
        }
        Level::WARN => {
            tracing::warn!(target: "kassa::http", %method, route, status, latency_us, request_id, error, "request")
        }
        _ => {
            tracing::info!(target: "kassa::http", %method, route, status, latency_us, request_id, error, "request")
        }
    }
    response
}

/// A request's log level by its answer: a server error at ERROR, except a 503, which asks the
/// client to come back shortly (a search index being built, storage busy): WARN, so that a
/// client polling through a large catalog's index build does not fill the log with errors.
fn log_level(status: StatusCode) -> Level {
    if status == StatusCode::SERVICE_UNAVAILABLE {
        Level::WARN
    } else if status.is_server_error() {
        Level::ERROR
    } else {
        Level::INFO
    }
}

pub(crate) fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal Server Error",
        "Something went wrong on our side",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_log_at_error_but_a_come_back_later_at_warn() {
        for (status, level) in [
            (StatusCode::OK, Level::INFO),
            (StatusCode::NOT_FOUND, Level::INFO),
            (StatusCode::TOO_MANY_REQUESTS, Level::INFO),
            (StatusCode::INTERNAL_SERVER_ERROR, Level::ERROR),
            (StatusCode::BAD_GATEWAY, Level::ERROR),
            (StatusCode::SERVICE_UNAVAILABLE, Level::WARN),
        ] {
            assert_eq!(log_level(status), level, "{status}");
        }
    }
}
