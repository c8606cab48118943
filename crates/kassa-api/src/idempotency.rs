//! `Idempotency-Key` for creating POSTs, with Stripe's semantics (beyond Elastic Path).
//!
//! A request with a key first claims it ([`begin`]): the store records the key in flight, bound
//! to a hash of the method, path and body, under the caller's scope (client id plus the shopper
//! token's subject, so one caller can never read another's replay). The handler then runs and
//! hands [`Claim::response`] to the store use-case that creates the resource, which stores the
//! response in the same transaction, so a crash leaves both or neither. Later requests with the
//! key:
//! - same body, first finished → the first response replayed (same status and body), with
//!   `Idempotent-Replayed: true`, nothing created;
//! - different body → 422;
//! - first still running → wait up to [`IN_FLIGHT_WAIT`] for it to finish and replay it, else 409.
//!
//! A failed request gives its claim up (a retry runs it again); an abandoned claim (a node died)
//! lapses after [`kassa_core::orders::IDEMPOTENCY_LEASE_MS`]. Keys are kept 24 hours.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kassa_core::orders::{ClaimOutcome, IdempotencyClaim, IdempotentResponse, request_hash};
use kassa_core::store::Store;
use kassa_core::time::now_millis;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
pub const MAX_KEY_LENGTH: usize = 255;
/// How long a request waits for an in-flight twin before answering 409.
pub const IN_FLIGHT_WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(20);

/// A claimed key. Dropped without [`Claim::completed`], it gives the claim up in the background.
pub struct Claim {
    store: Arc<dyn Store>,
    scope: String,
    key: String,
    hash: String,
    /// When the claim was made: a claim given up in the background is given up only while its
    /// lease lasts (see [`give_up_in_background`]).
    claimed_at: Instant,
    armed: bool,
}

impl Claim {
    /// What the creating use-case stores with the resource: `body` is the exact JSON sent.
    pub fn response(&self, status: StatusCode, body: String) -> IdempotentResponse {
        IdempotentResponse {
            scope: self.scope.clone(),
            key: self.key.clone(),
            request_hash: self.hash.clone(),
            status: status.as_u16(),
            body,
        }
    }

    /// Gives the claim up: the request failed with `failed` and a retry may run it again. Done
    /// before the answer, so a refusal leaves nothing behind; but when the database is not
    /// available (a 503) the answer does not wait for it, and the claim is given up in the
    /// background as soon as the database is back.
    pub async fn release(mut self, failed: &ApiError) {
        self.armed = false;
        let (store, scope, key) = (
            self.store.clone(),
            std::mem::take(&mut self.scope),
            std::mem::take(&mut self.key),
        );
        if failed.status != StatusCode::SERVICE_UNAVAILABLE
            && store.release_idempotency_key(&scope, &key).await.is_ok()
        {
            return;
        }
        give_up_in_background(store, scope, key, self.claimed_at);
    }

    /// The response was stored; the claim is settled.
    pub fn completed(mut self) {
        self.armed = false;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.armed {
            give_up_in_background(
                self.store.clone(),
                std::mem::take(&mut self.scope),
                std::mem::take(&mut self.key),
                self.claimed_at,
            );
        }
    }
}

/// Gives a claim up from a background task, trying again (100 ms, doubling to 1 s) while the
/// database is not available, until a few seconds before the claim's lease would lapse anyway:
/// a retry after a database outage then runs at once instead of waiting out the lease, and a
/// claim made by a retry after the lease lapsed is never the one given up. Only a claim still in
/// flight is deleted, never a completed one, so a request whose commit was in doubt keeps its
/// replay.
fn give_up_in_background(store: Arc<dyn Store>, scope: String, key: String, claimed_at: Instant) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let lease = Duration::from_millis(kassa_core::orders::IDEMPOTENCY_LEASE_MS as u64);
    let until = claimed_at + lease.saturating_sub(Duration::from_secs(5));
    rt.spawn(async move {
        let mut wait = Duration::from_millis(100);
        loop {
            match store.release_idempotency_key(&scope, &key).await {
                Ok(()) => return,
                Err(e) if Instant::now() + wait >= until => {
                    tracing::warn!(error = %e, "could not release an idempotency key; its lease will lapse");
                    return;
                }
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
            }
        }
    });
}

/// What to do with a request.
pub enum Begin {
    /// Run it; with a key, complete the claim when storing the result.
    Run(Option<Claim>),
    /// Answer with the first response.
    Replay(Response),
}

/// Claims the request's `Idempotency-Key`, if it has one.
pub async fn begin(
    state: &AppState,
    headers: &HeaderMap,
    scope: String,
    method: &str,
    path: &str,
    body: &Value,
) -> ApiResult<Begin> {
    let Some(raw) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(Begin::Run(None));
    };
    let key = raw.to_str().map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > MAX_KEY_LENGTH {
        return Err(ApiError::bad_request(format!(
            "The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"
        ))
        .with_source("Idempotency-Key"));
    }
    let hash = request_hash(method, path, body);
    let claim = IdempotencyClaim {
        scope: scope.clone(),
        key: key.to_owned(),
        request_hash: hash.clone(),
        now: now_millis(),
    };
    let deadline = Instant::now() + IN_FLIGHT_WAIT;
    loop {
        let outcome = state
            .store
            .claim_idempotency_key(IdempotencyClaim {
                now: now_millis(),
                ..claim.clone()
            })
            .await?;
        match outcome {
            ClaimOutcome::Claimed => {
                return Ok(Begin::Run(Some(Claim {
                    store: state.store.clone(),
                    scope,
                    key: key.to_owned(),
                    hash,
                    claimed_at: Instant::now(),
                    armed: true,
                })));
            }
            ClaimOutcome::Mismatch => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Unprocessable Entity",
                    "Keys for idempotent requests can only be used with the same request they were first used with",
                )
                .with_source("Idempotency-Key"));
            }
            ClaimOutcome::Done { status, body } => return Ok(Begin::Replay(replay(status, &body))),
            ClaimOutcome::InFlight if Instant::now() < deadline => tokio::time::sleep(POLL).await,
            ClaimOutcome::InFlight => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "Conflict",
                    "A request with this Idempotency-Key is still being processed; retry later",
                )
                .with_source("Idempotency-Key"));
            }
        }
    }
}

fn replay(status: u16, body: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_owned(),
    )
        .into_response();
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}
