//! `/v2/integrations`: webhooks and STOMP queues that observe the store's events, their jobs (one
//! per event delivered to an integration) and the log of every delivery attempt. Admin only.
//!
//! A change of an integration takes effect at once on this node (the observed set is re-read
//! before answering) and within [`crate::integrations::OBSERVED_REFRESH`] on the others. The
//! integration's own events (`integration.created`, …) are written in the same transaction.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use kassa_core::integrations::{
    self, Emit, Event, EventKind, Integration, IntegrationJob, IntegrationLog, deleted_payload, parse_fields,
    shown_configuration,
};
use kassa_core::time::{now_millis, rfc3339};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Admin;
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, data_of, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/integrations", get(list).post(create))
        .route("/v2/integrations/logs", get(store_logs))
        .route("/v2/integrations/{id}", get(read).put(update).delete(remove))
        .route("/v2/integrations/{id}/logs", get(integration_logs))
        .route("/v2/integrations/{id}/jobs", get(jobs))
        .route("/v2/integrations/{id}/jobs/{job_id}/logs", get(job_logs))
}

fn not_found() -> ApiError {
    ApiError::not_found("Not Found", "No integration found")
}

fn job_not_found() -> ApiError {
    ApiError::not_found("Not Found", "No job of this integration found")
}

fn render(i: &Integration, origin: &Origin) -> Value {
    json!({
        "type": "integration",
        "id": i.id,
        "name": i.name,
        "description": i.description,
        "enabled": i.enabled,
        "integration_type": i.integration_type.as_str(),
        "observes": i.observes,
        "configuration": shown_configuration(&i.configuration),
        "links": { "self": origin.url(&format!("/v2/integrations/{}", i.id)) },
        "meta": { "timestamps": envelope::timestamps(i.created_at, i.updated_at) },
    })
}

fn render_log(l: &IntegrationLog) -> Value {
    json!({
        "type": "integration-log",
        "id": l.id,
        "succeeded": l.succeeded,
        "attempt": l.attempt,
        "body": l.body,
        "status_code": l.status_code,
        "error_detail": l.error_detail,
        "duration_ms": l.duration_ms,
        "relationships": {
            "integration": { "data": { "type": "integration", "id": l.integration_id } },
            "job": { "data": { "type": "integration-job", "id": l.job_id } },
        },
        "meta": { "timestamps": { "created_at": rfc3339(l.created_at) } },
    })
}

fn render_job(j: &IntegrationJob) -> Value {
    json!({
        "type": "integration-job",
        "id": j.id,
        "triggered_by": j.event,
        "status": j.status.as_str(),
        "attempts": j.attempts,
        "relationships": {
            "integration": { "data": { "type": "integration", "id": j.integration_id } },
        },
        "meta": {
            "timestamps": {
                "created_at": rfc3339(j.created_at),
                "updated_at": rfc3339(j.updated_at),
                "next_attempt_at": (j.status == integrations::JobStatus::Pending).then(|| rfc3339(j.next_at)),
            }
        },
    })
}

fn no_filters(query: &ListQuery) -> ApiResult<()> {
    if query.filters.is_empty() {
        Ok(())
    } else {
        Err(
            ApiError::bad_request("Integrations and their logs and jobs cannot be filtered")
                .with_source("filter"),
        )
    }
}

/// The integration's own event, rendered as the answer renders it.
fn own_event(state: &AppState, kind: EventKind, document: &Value) -> Vec<Event> {
    state
        .integrations
        .event(kind, || document.to_string())
        .into_iter()
        .collect()
}

/// Makes the change visible to this node's requests before answering, and wakes the worker.
async fn changed(state: &AppState) {
    if let Err(e) = state.integrations.reload(&*state.store).await {
        tracing::warn!(error = %e, "could not re-read the observed events (retried within a second)");
    }
    state.integrations.committed();
}

async fn create(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let fields = parse_fields(data_of(&body)?, true)?;
    let integration = integrations::create(fields, kassa_core::ids::new_id(), now_millis())?;
    let document = envelope::single(render(&integration, &origin));
    let events = own_event(&state, EventKind::IntegrationCreated, &document);
    state.store.create_integration(integration, events).await?;
    changed(&state).await;
    Ok((StatusCode::CREATED, Json(document)))
}

async fn list(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    no_filters(&query)?;
    let page = state.store.integrations(query.page).await?;
    let items = page.items.iter().map(|i| render(i, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn read(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let integration = state.store.integration(id).await?.ok_or_else(not_found)?;
    Ok(Json(envelope::single(render(&integration, &origin))))
}

async fn update(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let fields = parse_fields(data_of(&body)?, false)?;
    let now = now_millis();
    let observed = state.integrations.observes(EventKind::IntegrationUpdated);
    let event_origin = origin.clone();
    let emit: Emit<Integration> = Box::new(move |i: &Integration| {
        if observed {
            vec![Event {
                kind: EventKind::IntegrationUpdated,
                payload: envelope::single(render(i, &event_origin)).to_string(),
                at: i.updated_at,
            }]
        } else {
            Vec::new()
        }
    });
    let integration = state
        .store
        .update_integration(id, Box::new(move |i| integrations::apply(i, fields, now)), emit)
        .await?
        .ok_or_else(not_found)?;
    changed(&state).await;
    Ok(Json(envelope::single(render(&integration, &origin))))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, not_found)?;
    let events: Vec<Event> = state
        .integrations
        .event(EventKind::IntegrationDeleted, || {
            deleted_payload("integration", id)
        })
        .into_iter()
        .collect();
    if !state.store.delete_integration(id, events).await? {
        return Err(not_found());
    }
    changed(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn logs_page(
    state: &AppState,
    integration: Option<Uuid>,
    job: Option<Uuid>,
    query: &ListQuery,
    origin: &Origin,
    uri: &Uri,
) -> ApiResult<Json<Value>> {
    no_filters(query)?;
    let page = state.store.integration_logs(integration, job, query.page).await?;
    let items = page.items.iter().map(render_log).collect();
    Ok(Json(envelope::collection(items, page.total, query, origin, uri)))
}

async fn store_logs(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    logs_page(&state, None, None, &query, &origin, &uri).await
}

/// The integration with this id, or 404.
async fn existing(state: &AppState, id: &str) -> ApiResult<Uuid> {
    let id = parse_uuid(id, not_found)?;
    state.store.integration(id).await?.ok_or_else(not_found)?;
    Ok(id)
}

async fn integration_logs(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let id = existing(&state, &id).await?;
    logs_page(&state, Some(id), None, &query, &origin, &uri).await
}

async fn jobs(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let id = existing(&state, &id).await?;
    no_filters(&query)?;
    let page = state.store.integration_jobs(id, query.page).await?;
    let items = page.items.iter().map(render_job).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn job_logs(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((id, job)): ApiPath<(String, String)>,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let id = existing(&state, &id).await?;
    let job = parse_uuid(&job, job_not_found)?;
    logs_page(&state, Some(id), Some(job), &query, &origin, &uri).await
}
