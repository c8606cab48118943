//! The transactional outbox: the events of a change, written by the change's own transaction
//! (a change that rolls back emits nothing). One statement, whatever the number of events.

use kassa_core::Result;
use kassa_core::integrations::Event;
use sqlx::PgConnection;

use crate::sql_error;

/// The outbox write as a CTE named `outbox` over three array parameters (the events' kinds,
/// payloads and times, as [`columns`] makes them), for a use-case that folds it into its own
/// statement (checkout's order insert).
#[macro_export]
macro_rules! outbox_cte {
    ($kinds:literal, $payloads:literal, $at:literal) => {
        concat!(
            "outbox AS (INSERT INTO integration_jobs (id, integration_id, event, payload, status, attempts, next_at,
               created_at, updated_at)
             SELECT gen_random_uuid(), o.integration_id, e.event, e.payload, 'pending', 0, e.at, e.at, e.at
             FROM UNNEST(",
            $kinds,
            "::text[], ",
            $payloads,
            "::text[], ",
            $at,
            "::bigint[]) AS e (event, payload, at)
             JOIN integration_observes o ON o.event = e.event
             JOIN integrations i ON i.id = o.integration_id AND i.enabled)"
        )
    };
}

/// The events as the outbox statement's three array parameters.
pub(crate) fn columns(events: &[Event]) -> (Vec<&str>, Vec<&str>, Vec<i64>) {
    (
        events.iter().map(|e| e.kind.as_str()).collect(),
        events.iter().map(|e| e.payload.as_str()).collect(),
        events.iter().map(|e| e.at).collect(),
    )
}

/// One `integration_jobs` row per event and enabled integration observing its kind, due now.
/// The observers are read in the writing transaction, so an integration committed by any node
/// before it is seen.
pub(crate) async fn write(conn: &mut PgConnection, events: &[Event]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let (kinds, payloads, at) = columns(events);
    sqlx::query(concat!(
        "WITH ",
        crate::outbox_cte!("$1", "$2", "$3"),
        " SELECT 1"
    ))
    .bind(kinds)
    .bind(payloads)
    .bind(at)
    .execute(conn)
    .await
    .map_err(sql_error)?;
    Ok(())
}
