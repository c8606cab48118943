//! `GET /metrics`: Prometheus's text format (see [`crate::metrics`]).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;

use crate::route_table::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    crate::metrics::respond(
        &state.metrics,
        state.config.metrics_token.as_deref(),
        &headers,
        &state.store.stats(),
    )
}
