//! `POST /catalog/multi-search`: Typesense's multi-search request and response over the search
//! index of the release the shopper sees (see [`crate::search`]). Any access token may search;
//! what it finds is what `/catalog/products` would show the same request, priced in its currency.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kassa_core::money::Currency;
use kassa_search::highlight::{Highlight, highlight};
use kassa_search::request::{MAX_SEARCHES, RawSearch};
use kassa_search::{FacetCount, SearchError, SearchKind, SearchOutcome, SearchParams};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::ShopperRequest;
use crate::envelope::Origin;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::route_table::Routes;
use crate::search::ReleaseSearch;
use crate::state::AppState;
use crate::views::catalog_product::{self, CatalogProduct};
use crate::views::document::EmptyObject;

pub fn router() -> Routes {
    Routes::new()
        .route("/catalog/multi-search", post(multi_search))
        .string_status()
}

#[derive(Deserialize)]
struct MultiSearch {
    searches: Option<Vec<RawSearch>>,
}

fn refused(e: SearchError, index: usize) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, e.title(), e.to_string()).with_source(format!("searches[{index}]"))
}

/// Seconds a client should wait before asking again while the first index of its catalog builds.
const RETRY_AFTER_SECS: &str = "1";

async fn multi_search(
    State(state): State<AppState>,
    request: ShopperRequest,
    origin: Origin,
    ApiJson(body): ApiJson<MultiSearch>,
) -> ApiResult<Response> {
    let searches = body.searches.unwrap_or_default();
    if searches.is_empty() || searches.len() > MAX_SEARCHES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Invalid Search",
            format!("searches must hold 1 to {MAX_SEARCHES} searches"),
        )
        .with_source("searches"));
    }
    let settings = state.catalog_view.store_settings(&*state.store).await?;
    let default_per_page = u64::try_from(settings.page_length).unwrap_or(1);
    let checked: Vec<SearchParams> = searches
        .iter()
        .enumerate()
        .map(|(i, s)| s.check(default_per_page).map_err(|e| refused(e, i)))
        .collect::<Result<_, _>>()?;
    let release = state
        .catalog_view
        .shopper_release(&*state.store, &request.context)
        .await?
        .ok_or_else(|| ApiError::not_found("Catalog not found", "No catalog is published"))?;
    let currency = state
        .catalog_view
        .currency(&*state.store, request.currency.as_deref())
        .await?;
    let Some(index) = state.search.for_release(state.search_sources(), &release).await else {
        let mut response = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Search Index Building",
            "The catalog was just published and its search index is being built; try again shortly",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
        return Ok(response);
    };
    let mut results = Vec::with_capacity(checked.len());
    for (i, params) in checked.iter().enumerate() {
        let started = Instant::now();
        let outcome = index
            .index
            .search(params, &currency.code)
            .map_err(|e| refused(e, i))?;
        results.push(render_result(
            &index,
            params,
            &searches[i],
            outcome,
            &currency,
            request.context.now,
            &origin,
            started,
        ));
    }
    Ok(Json(MultiSearchResults { results }).into_response())
}

#[derive(Serialize)]
struct MultiSearchResults<'a> {
    results: Vec<SearchResult<'a>>,
}

/// One search's answer, Typesense's shape. Members in alphabetical order, as in every kassa
/// response (docs/ARCHITECTURE.md, "Responses are typed").
#[derive(Serialize)]
struct SearchResult<'a> {
    facet_counts: Vec<FacetCount>,
    found: usize,
    hits: Vec<Hit<'a>>,
    out_of: usize,
    page: u64,
    request_params: RequestParams,
    search_cutoff: bool,
    search_time_ms: u64,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Hit<'a> {
    document: HitDocument<'a>,
    highlight: EmptyObject,
    highlights: Vec<Highlight>,
    text_match: u64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum HitDocument<'a> {
    Product(Box<CatalogProduct<'a>>),
    /// An autocomplete suggestion: a product name and how many products carry it.
    Suggestion {
        count: u64,
        id: String,
        q: String,
    },
}

#[derive(Serialize)]
struct RequestParams {
    collection_name: &'static str,
    first_q: Value,
    per_page: u64,
    q: Value,
}

/// Typesense's `text_match`: a whole number, higher for a better match.
fn text_match(score: f32) -> u64 {
    (f64::from(score.max(0.0)) * 1_000_000.0) as u64
}

/// Whether `field` is one of the search's `highlight_full_fields` (by short or document name).
fn full(params: &SearchParams, field: &str) -> bool {
    params
        .highlight_full_fields
        .iter()
        .any(|f| f == field || field.strip_prefix("attributes.") == Some(f.as_str()))
}

#[allow(clippy::too_many_arguments)]
fn render_result<'a>(
    index: &'a Arc<ReleaseSearch>,
    params: &SearchParams,
    raw: &RawSearch,
    outcome: SearchOutcome,
    currency: &'a Currency,
    now: kassa_core::time::Millis,
    origin: &Origin,
    started: Instant,
) -> SearchResult<'a> {
    let release = &index.release;
    let products = &release.snapshot.products;
    let (found, hits) = match params.kind {
        SearchKind::Search => {
            let hits: Vec<Hit> = outcome
                .hits
                .iter()
                .map(|&(ord, score)| {
                    let p = &products[ord];
                    let highlights: Vec<Highlight> = [
                        ("attributes.name", Some(&*p.product.name)),
                        ("attributes.sku", p.product.sku.as_deref()),
                        ("attributes.description", p.product.description.as_deref()),
                    ]
                    .into_iter()
                    .filter_map(|(field, value)| {
                        highlight(field, value?, &outcome.tokens, true, full(params, field))
                    })
                    .collect();
                    Hit {
                        document: HitDocument::Product(Box::new(catalog_product::render(
                            release, p, currency, now, origin,
                        ))),
                        highlights,
                        highlight: EmptyObject {},
                        text_match: text_match(score),
                    }
                })
                .collect();
            (outcome.found, hits)
        }
        SearchKind::Autocomplete => {
            // One suggestion per distinct name, best match first; `count` products carry it.
            let mut suggestions: Vec<(String, String, u64, f32)> = Vec::new();
            for &(ord, score) in &outcome.hits {
                let name = &products[ord].product.name;
                let key = name.to_lowercase();
                match suggestions.iter_mut().find(|s| s.0 == key) {
                    Some(s) => s.2 += 1,
                    None => suggestions.push((key, name.to_string(), 1, score)),
                }
            }
            let found = suggestions.len();
            let skip = ((params.page - 1) * params.per_page) as usize;
            let hits = suggestions
                .into_iter()
                .skip(skip)
                .take(params.per_page as usize)
                .map(|(id, q, count, score)| {
                    let highlights: Vec<Highlight> = highlight(
                        "q",
                        &q,
                        &outcome.tokens,
                        true,
                        full(params, "q") || full(params, "name"),
                    )
                    .into_iter()
                    .collect();
                    Hit {
                        document: HitDocument::Suggestion { count, id, q },
                        highlights,
                        highlight: EmptyObject {},
                        text_match: text_match(score),
                    }
                })
                .collect();
            (found, hits)
        }
    };
    let q = raw.q.clone().unwrap_or_else(|| json!("*"));
    SearchResult {
        kind: params.kind.as_str(),
        found,
        out_of: index.index.len(),
        page: params.page,
        hits,
        facet_counts: outcome.facets,
        search_cutoff: false,
        search_time_ms: started.elapsed().as_millis() as u64,
        request_params: RequestParams {
            collection_name: params.kind.as_str(),
            q: q.clone(),
            per_page: params.per_page,
            first_q: q,
        },
    }
}
