//! The transactional outbox: the events of a change, written by the change's own transaction
//! (a change that rolls back emits nothing). One statement, whatever the number of events.

use kassa_core::Result;
use kassa_core::integrations::Event;
use sqlx::PgConnection;

use crate::sql_error;

/// One `integration_jobs` row per event and enabled integration observing its kind, due now.
/// The observers are read in the writing transaction, so an integration committed by any node
/// before it is seen.
pub(crate) async fn write(conn: &mut PgConnection, events: &[Event]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let payloads: Vec<&str> = events.iter().map(|e| e.payload.as_str()).collect();
    let at: Vec<i64> = events.iter().map(|e| e.at).collect();
    sqlx::query(
        "INSERT INTO integration_jobs (id, integration_id, event, payload, status, attempts, next_at, created_at,
           updated_at)
         SELECT gen_random_uuid(), o.integration_id, e.event, e.payload, 'pending', 0, e.at, e.at, e.at
         FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS e (event, payload, at)
         JOIN integration_observes o ON o.event = e.event
         JOIN integrations i ON i.id = o.integration_id AND i.enabled",
    )
    .bind(kinds)
    .bind(payloads)
    .bind(at)
    .execute(conn)
    .await
    .map_err(sql_error)?;
    Ok(())
}
