//! The response envelope: `{"data", "links", "meta", "included"}` and collection pagination.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Uri, header};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::ListQuery;
use crate::state::AppState;

/// `scheme://host` of this server as the client addressed it, for `links`. Taken from the
/// configured public URL, else from `X-Forwarded-Proto` (else `https` on a TLS connection) and
/// `Host` (HTTP/2: the request's authority).
#[derive(Debug, Clone)]
pub struct Origin(pub String);

/// Marks a request that arrived over TLS (set by the server's connection layer).
#[derive(Debug, Clone, Copy)]
pub struct Https;

impl Origin {
    pub fn from_parts(parts: &Parts, configured: Option<&str>) -> Self {
        if let Some(url) = configured {
            return Origin(url.trim_end_matches('/').to_owned());
        }
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let scheme = header("x-forwarded-proto").unwrap_or(match parts.extensions.get::<Https>() {
            Some(_) => "https",
            None => "http",
        });
        let host = header(header::HOST.as_str())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        Origin(format!("{scheme}://{host}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }
}

impl FromRequestParts<AppState> for Origin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Origin::from_parts(parts, state.config.public_url.as_deref()))
    }
}

/// `{"data": …}` plus `links.self` when given.
pub fn single<T: Serialize>(data: T) -> Value {
    json!({ "data": data })
}

/// A collection page with Elastic Path's `links` and `meta.page` / `meta.results`, as a `Value`
/// (for the callers that add to it); see [`CollectionDocument`].
pub fn collection<T: Serialize>(
    items: Vec<T>,
    total: u64,
    query: &ListQuery,
    origin: &Origin,
    uri: &Uri,
) -> Value {
    let page = CollectionDocument::<T>::new(items, None, total, query, origin, uri);
    serde_json::to_value(page).expect("a collection page serializes")
}

/// A collection page: `data`, `included` (when given), Elastic Path's `links` and
/// `meta.page` / `meta.results`. `meta.page.current` is 1-based and `meta.page.total` counts
/// pages (at least 1). Fields are in alphabetical order, the order of the `BTreeMap` of the
/// `Value` this rendering replaced, so the bytes stay the same.
#[derive(Serialize)]
pub struct CollectionDocument<T, I = ()> {
    data: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    included: Option<I>,
    links: PageLinks,
    meta: PageMeta,
}

/// A page's links; the absent ones are `null`.
#[derive(Serialize)]
struct PageLinks {
    current: String,
    first: String,
    last: Option<String>,
    next: Option<String>,
    prev: Option<String>,
}

#[derive(Serialize)]
struct PageMeta {
    page: PageNumbers,
    results: Results,
}

#[derive(Serialize)]
struct PageNumbers {
    current: u64,
    limit: u64,
    offset: u64,
    total: u64,
}

#[derive(Serialize)]
struct Results {
    total: u64,
}

impl<T, I> CollectionDocument<T, I> {
    pub fn new(
        items: Vec<T>,
        included: Option<I>,
        total: u64,
        query: &ListQuery,
        origin: &Origin,
        uri: &Uri,
    ) -> Self {
        let limit = query.page.limit.max(1);
        let offset = query.page.offset;
        let pages = total.div_ceil(limit).max(1);
        let page_url = |offset: u64| page_link(origin, uri, limit, offset);
        let last_offset = (pages - 1) * limit;
        Self {
            data: items,
            included,
            links: PageLinks {
                current: page_url(offset),
                first: page_url(0),
                last: (pages > 1).then(|| page_url(last_offset)),
                next: (offset + limit < total).then(|| page_url(offset + limit)),
                prev: (offset > 0).then(|| page_url(offset.saturating_sub(limit))),
            },
            meta: PageMeta {
                page: PageNumbers {
                    current: offset / limit + 1,
                    limit,
                    offset,
                    total: pages,
                },
                results: Results { total },
            },
        }
    }
}

/// The request's URL with its `page[…]` parameters replaced.
fn page_link(origin: &Origin, uri: &Uri, limit: u64, offset: u64) -> String {
    let mut query: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            !(pair.is_empty() || key.starts_with("page[") || key.to_ascii_lowercase().starts_with("page%5b"))
        })
        .collect();
    let page = format!("page[offset]={offset}&page[limit]={limit}");
    query.push(&page);
    format!("{}{}?{}", origin.0, uri.path(), query.join("&"))
}

/// `meta.timestamps` in RFC 3339.
pub fn timestamps(created_at: i64, updated_at: i64) -> Value {
    json!({
        "created_at": kassa_core::time::rfc3339(created_at),
        "updated_at": kassa_core::time::rfc3339(updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(total: u64, limit: &str, offset: &str) -> Value {
        let raw = format!("page[limit]={limit}&page[offset]={offset}&filter=eq(a,b)");
        let query = ListQuery::parse(Some(&raw)).unwrap();
        let uri: Uri = format!("/v2/things?{raw}").parse().unwrap();
        collection(Vec::<u8>::new(), total, &query, &Origin("http://h".into()), &uri)
    }

    #[test]
    fn links_and_meta_follow_the_offset() {
        let v = page(45, "20", "20");
        assert_eq!(
            v["meta"]["page"],
            json!({"limit": 20, "offset": 20, "current": 2, "total": 3})
        );
        assert_eq!(v["meta"]["results"]["total"], 45);
        assert_eq!(
            v["links"]["current"],
            "http://h/v2/things?filter=eq(a,b)&page[offset]=20&page[limit]=20"
        );
        assert_eq!(
            v["links"]["first"],
            "http://h/v2/things?filter=eq(a,b)&page[offset]=0&page[limit]=20"
        );
        assert_eq!(
            v["links"]["last"],
            "http://h/v2/things?filter=eq(a,b)&page[offset]=40&page[limit]=20"
        );
        assert_eq!(
            v["links"]["next"],
            "http://h/v2/things?filter=eq(a,b)&page[offset]=40&page[limit]=20"
        );
        assert_eq!(
            v["links"]["prev"],
            "http://h/v2/things?filter=eq(a,b)&page[offset]=0&page[limit]=20"
        );
    }

    #[test]
    fn one_page_has_no_last_next_or_prev() {
        for total in [0, 1, 20] {
            let v = page(total, "20", "0");
            assert_eq!(v["meta"]["page"]["total"], 1);
            assert_eq!(v["meta"]["page"]["current"], 1);
            assert!(
                v["links"]["last"].is_null() && v["links"]["next"].is_null() && v["links"]["prev"].is_null()
            );
            assert!(v["links"]["first"].is_string() && v["links"]["current"].is_string());
        }
    }
}
