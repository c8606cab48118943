//! The transactional outbox: the events of a change, written by the change's own use-case on the
//! writer thread (so inside its savepoint: a change that rolls back emits nothing).

use kassa_core::integrations::Event;
use rusqlite::{Connection, params};
use uuid::Uuid;

use crate::db::DbResult;

/// One `integration_jobs` row per event and enabled integration observing its kind, due now.
pub(crate) fn write(conn: &Connection, events: &[Event]) -> DbResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut observers = conn.prepare_cached(
        "SELECT o.integration_id FROM integration_observes o JOIN integrations i ON i.id = o.integration_id
         WHERE o.event = ?1 AND i.enabled",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO integration_jobs (id, integration_id, event, payload, status, attempts, next_at, created_at,
           updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?5)",
    )?;
    for e in events {
        let ids: Vec<String> = observers
            .query_map([e.kind.as_str()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for integration in ids {
            insert.execute(params![
                Uuid::now_v7().to_string(),
                integration,
                e.kind.as_str(),
                e.payload,
                e.at
            ])?;
        }
    }
    Ok(())
}
