//! Liveness and readiness probes.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::route_table::Routes;
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

/// How long `/readyz` waits for the database before saying it is not ready: a probe must answer
/// sooner than a request would wait for a connection.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The database answers, within [`READY_TIMEOUT`].
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let ping = tokio::time::timeout(READY_TIMEOUT, state.store.ping())
        .await
        .unwrap_or_else(|_| {
            Err(kassa_core::Error::unavailable(
                "no answer within the readiness timeout",
            ))
        });
    match ping {
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
