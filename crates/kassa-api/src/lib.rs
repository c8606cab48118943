//! kassa's HTTP API: Elastic Path's wire contract on axum. Handlers parse and authorize, call
//! the store's use-case, and render; the rules live in `kassa-core`.
// The OpenAPI schema table is one large `json!` literal.
#![recursion_limit = "256"]

pub mod auth;
pub mod background;
pub mod catalog_view;
pub mod cors;
pub mod emulator;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod integrations;
pub mod metrics;
mod middleware;
pub mod openapi;
pub mod promotion_cache;
pub mod route_table;
pub mod routes;
pub mod search;
pub mod state;
pub mod stores;
pub mod token_service;
mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tower_http::catch_panic::CatchPanicLayer;

pub use middleware::{InternalRequest, normalize_path};
pub use state::{ApiConfig, AppState};

use crate::error::ApiError;

/// The API's routes before a store's state is given to them, with the OpenAPI document of what
/// they serve: built once and shared by every store of a server (a per-test store's API costs a
/// clone, not a build).
#[derive(Clone)]
pub struct ApiRoutes {
    router: Router<AppState>,
    document: std::sync::Arc<openapi::ApiDocument>,
}

impl ApiRoutes {
    /// Elastic Path's API, and `/_kassa/` with the emulator.
    pub fn new(emulator: bool) -> Self {
        let mut routes = routes::all();
        if emulator {
            routes = routes.merge(routes::emulator::router());
        }
        let document = std::sync::Arc::new(openapi::ApiDocument::new(
            routes.paths().iter().map(|p| (p.path.as_str(), p.style)),
        ));
        let router = routes
            .into_router()
            .fallback(|method: axum::http::Method, uri: axum::http::Uri| async move {
                ApiError::not_found(
                    "Not Found",
                    format!("There is no endpoint {method} {}", uri.path()),
                )
            })
            .method_not_allowed_fallback(|method: axum::http::Method, uri: axum::http::Uri| async move {
                ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Method Not Allowed",
                    format!("{method} is not supported on {}", uri.path()),
                )
            });
        Self { router, document }
    }
}

/// The whole API. Serve it behind [`normalize_path`], which must run before routing.
pub fn app(state: AppState) -> Router {
    app_with(&ApiRoutes::new(state.emulator.is_some()), state)
}

/// [`app`] on routes already built.
pub fn app_with(routes: &ApiRoutes, mut state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let cors = state.config.cors.layer();
    let metrics = std::sync::Arc::clone(&state.metrics);
    let emulator = state.emulator.clone();
    state.api_document = std::sync::Arc::clone(&routes.document);
    routes
        .router
        .clone()
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        // A panic becomes a 500 envelope inside `observe`, so it is logged, counted and carries
        // its X-Request-Id like any other answer.
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        // The emulator's faults and journal: outside the panic catcher (a 500 is journaled too),
        // inside `observe` (a fault's answer is logged and counted like kassa's own).
        .layer(tower::util::option_layer(
            emulator.map(|e| axum::middleware::from_fn_with_state(e, emulator::emulate)),
        ))
        .layer(axum::middleware::from_fn_with_state(metrics, middleware::observe))
        // Outermost: preflights are answered before routing, and every response (an error or
        // a caught panic too) carries the headers a browser needs to read it.
        .layer(tower::util::option_layer(cors))
}

/// What a server serves: its own store's API ([`app`]) behind the per-test stores' dispatch.
/// Serve it behind [`normalize_path`].
pub fn served(state: AppState) -> stores::Dispatch {
    let api = app(state.clone());
    stores::Dispatch::new(&state, api)
}

/// Replaces the store's data with `fixture`'s (its credentials stay; the account realm is made
/// as at a first start where the fixture has none) and brings this node's caches,
/// integrations and search indexes up to it: the emulator's reset and import, and a store made
/// from a fixture. Runs in the store's own context (its ids and clock), whichever store's admin
/// asked.
pub async fn load_fixture(
    state: &AppState,
    fixture: kassa_core::snapshot::Fixture,
) -> kassa_core::Result<()> {
    let state = state.clone();
    kassa_core::context::scope(std::sync::Arc::clone(&state.context), async move {
        state.store.import(fixture).await?;
        let (settings, realm) = kassa_core::account::first_realm(kassa_core::time::now_millis());
        state.store.ensure_account_realm(settings, realm).await?;
        // This node's caches: none may answer from the store as it was.
        state.catalog_view.invalidate();
        state.promotions.invalidate();
        state.integrations.reload(&*state.store).await?;
        let search = state.clone();
        kassa_core::context::spawn(async move { search.search.refresh(search.search_sources()).await });
        Ok(())
    })
    .await
}
