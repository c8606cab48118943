//! kassa's HTTP API: Elastic Path's wire contract on axum. Handlers parse and authorize, call
//! the store's use-case, and render; the rules live in `kassa-core`.

pub mod auth;
pub mod catalog_view;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod idempotency;
mod middleware;
pub mod routes;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tower_http::catch_panic::CatchPanicLayer;

pub use middleware::normalize_path;
pub use state::{ApiConfig, AppState};

use crate::error::ApiError;

/// The whole API. Serve it behind [`normalize_path`], which must run before routing.
pub fn app(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    Router::new()
        // The table of contents: one router per resource.
        .merge(routes::health::router())
        .merge(routes::oauth::router())
        .merge(routes::application_keys::router())
        .merge(routes::realms::router())
        .merge(routes::accounts::router())
        .merge(routes::account_members::router())
        .merge(routes::customers::router())
        .merge(routes::carts::router())
        .merge(routes::cart_taxes::router())
        .merge(routes::orders::router())
        .merge(routes::order_updates::router())
        .merge(routes::payments::router())
        .merge(routes::gateways::router())
        .merge(routes::settings::router())
        .merge(routes::products::router())
        .merge(routes::hierarchies::router())
        .merge(routes::pricebooks::router())
        .merge(routes::currencies::router())
        .merge(routes::inventories::router())
        .merge(routes::catalogs::router())
        .merge(routes::shopper_catalog::router())
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
        })
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(middleware::observe))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
}
