//! The transactional outbox: the events of a change, written by the change's own transaction
//! (a change that rolls back emits nothing). One statement, whatever the number of events.

use kassa_core::Result;
use kassa_core::integrations::Event;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, PgPool, Postgres};
use uuid::Uuid;

use crate::sql_error;

/// The outbox write as two CTEs (`outbox_events`, `outbox`) over four array parameters (the
/// events' ids, kinds, payloads and times, as [`columns`] makes them), for a use-case that folds
/// it into its own statement (checkout's order insert). An event is stored only if some enabled
/// integration observes it; the jobs' foreign key to it is checked at the statement's end.
#[macro_export]
macro_rules! outbox_cte {
    ($ids:literal, $kinds:literal, $payloads:literal, $at:literal) => {
        concat!(
            "outbox_events AS (INSERT INTO integration_events (id, event, payload, created_at)
             SELECT e.id, e.event, e.payload, e.at
             FROM UNNEST(", $ids, "::uuid[], ", $kinds, "::text[], ", $payloads, "::text[], ", $at, "::bigint[])
               AS e (id, event, payload, at)
             WHERE EXISTS (SELECT 1 FROM integration_observes o JOIN integrations i ON i.id = o.integration_id
               WHERE o.event = e.event AND i.enabled)),
             outbox AS (INSERT INTO integration_jobs (id, event_id, integration_id, event, status, attempts, next_at,
               created_at, updated_at)
             SELECT gen_random_uuid(), e.id, o.integration_id, e.event, 'pending', 0, e.at, e.at, e.at
             FROM UNNEST(", $ids, "::uuid[], ", $kinds, "::text[], ", $at, "::bigint[]) AS e (id, event, at)
             JOIN integration_observes o ON o.event = e.event
             JOIN integrations i ON i.id = o.integration_id AND i.enabled)"
        )
    };
}

/// The events as the outbox statement's four array parameters (a new id for each).
pub(crate) fn columns(events: &[Event]) -> (Vec<Uuid>, Vec<&str>, Vec<&str>, Vec<i64>) {
    (
        events.iter().map(|_| kassa_core::ids::new_id()).collect(),
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
    let (ids, kinds, payloads, at) = columns(events);
    sqlx::query(concat!(
        "WITH ",
        crate::outbox_cte!("$1", "$2", "$3", "$4"),
        " SELECT 1"
    ))
    .bind(ids)
    .bind(kinds)
    .bind(payloads)
    .bind(at)
    .execute(conn)
    .await
    .map_err(sql_error)?;
    Ok(())
}

/// Runs `statement` and, if it changed a row, writes `events` in the same transaction. Without
/// events (nothing observes the change), one statement and no transaction of its own. Whether
/// the statement changed a row.
pub(crate) async fn execute_emitting(
    pool: &PgPool,
    statement: Query<'_, Postgres, PgArguments>,
    events: &[Event],
) -> Result<bool> {
    if events.is_empty() {
        let done = statement.execute(pool).await.map_err(sql_error)?;
        return Ok(done.rows_affected() > 0);
    }
    let mut tx = pool.begin().await.map_err(sql_error)?;
    let changed = statement
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?
        .rows_affected()
        > 0;
    if changed {
        write(&mut tx, events).await?;
    }
    tx.commit().await.map_err(sql_error)?;
    Ok(changed)
}
