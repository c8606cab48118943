//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::routes::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up and serving HTTP.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers.
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(json!({ "status": "ok" }))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "The database is not reachable",
            ))
        }
    }
}
