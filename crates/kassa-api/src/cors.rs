//! Cross-origin requests: which web origins may call the API from a browser.
//!
//! Elastic Path's storefronts call the API from the browser with a bearer token (never a cookie),
//! so an allowed origin may send any request header a client sends (the SDKs add
//! `X-MOLTIN-SDK-*`, `X-MOLTIN-CURRENCY`, `EP-Channel`, … and per-call headers) and credentials
//! are not needed. Preflights are answered by tower-http's `CorsLayer` before routing, on every
//! route; other responses, errors included, carry the headers.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// The origins a browser may call the API from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// No cross-origin access: responses carry no `Access-Control-*` headers.
    #[default]
    None,
    /// Any origin (`*`): for development (`kassa serve --demo`).
    Any,
    /// Exactly these origins (`scheme://host[:port]`).
    List(Vec<HeaderValue>),
}

impl AllowedOrigins {
    /// Parses configured values: `*` alone allows any origin; otherwise each must be an origin,
    /// `scheme://host[:port]` without a path, as a browser sends it in `Origin`.
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Result<Self, String> {
        let values: Vec<&str> = values
            .iter()
            .map(|v| v.as_ref().trim())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            return Ok(Self::None);
        }
        if values.contains(&"*") {
            return match values.len() {
                1 => Ok(Self::Any),
                _ => Err("`*` allows every origin and cannot be combined with others".into()),
            };
        }
        values
            .into_iter()
            .map(|origin| {
                origin_header(origin).ok_or_else(|| {
                    format!(
                        "invalid CORS origin {origin:?}: expected scheme://host[:port], e.g. http://localhost:3000"
                    )
                })
            })
            .collect::<Result<_, _>>()
            .map(Self::List)
    }

    /// The layer that answers preflights and adds the headers; `None` when nothing is allowed.
    pub fn layer(&self) -> Option<CorsLayer> {
        let origin = match self {
            Self::None => return None,
            Self::Any => AllowOrigin::any(),
            Self::List(list) => AllowOrigin::list(list.iter().cloned()),
        };
        Some(
            CorsLayer::new()
                .allow_origin(origin)
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers(AllowHeaders::mirror_request())
                .expose_headers(EXPOSED.map(HeaderName::from_static))
                .max_age(Duration::from_secs(3600)),
        )
    }
}

/// Response headers a browser client may read besides the CORS-safelisted ones.
const EXPOSED: [&str; 4] = ["x-request-id", "idempotent-replayed", "etag", "location"];

/// `scheme://host[:port]`, lower-cased scheme and host, no path, query or user info.
fn origin_header(origin: &str) -> Option<HeaderValue> {
    let (scheme, rest) = origin.split_once("://")?;
    let valid_scheme = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (host, Some(port)),
        _ => (rest, None),
    };
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '[' | ']' | ':'));
    let valid_port = port.is_none_or(|p| p.parse::<u16>().is_ok());
    if !(valid_scheme && valid_host && valid_port) {
        return None;
    }
    HeaderValue::from_str(&origin.to_ascii_lowercase()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_configured_origins() {
        assert_eq!(AllowedOrigins::parse::<&str>(&[]), Ok(AllowedOrigins::None));
        assert_eq!(AllowedOrigins::parse(&[" "]), Ok(AllowedOrigins::None));
        assert_eq!(AllowedOrigins::parse(&["*"]), Ok(AllowedOrigins::Any));
        assert_eq!(
            AllowedOrigins::parse(&["http://localhost:3000", "https://Shop.example.com"]),
            Ok(AllowedOrigins::List(vec![
                HeaderValue::from_static("http://localhost:3000"),
                HeaderValue::from_static("https://shop.example.com"),
            ]))
        );
        assert!(AllowedOrigins::parse(&["http://[::1]:3000"]).is_ok());
        for bad in [
            "localhost:3000",
            "http://",
            "http://shop.example.com/",
            "http://shop.example.com/path",
            "http://user@shop.example.com",
            "http://shop.example.com:99999",
            "http://shop.example.com?x",
        ] {
            assert!(AllowedOrigins::parse(&[bad]).is_err(), "{bad}");
        }
        assert!(AllowedOrigins::parse(&["*", "http://localhost:3000"]).is_err());
    }
}
