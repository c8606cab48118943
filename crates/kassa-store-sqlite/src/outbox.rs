//! The transactional outbox: the events of a change, written by the change's own use-case on the
//! writer thread (so inside its savepoint: a change that rolls back emits nothing).

use kassa_core::integrations::Event;
use rusqlite::{Connection, params};

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
    let mut event = conn.prepare_cached(
        "INSERT INTO integration_events (id, event, payload, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut job = conn.prepare_cached(
        "INSERT INTO integration_jobs (id, event_id, integration_id, event, status, attempts, next_at, created_at,
           updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?5)",
    )?;
    for e in events {
        let ids: Vec<String> = observers
            .query_map([e.kind.as_str()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if ids.is_empty() {
            continue;
        }
        let event_id = kassa_core::ids::new_id().to_string();
        event.execute(params![event_id, e.kind.as_str(), e.payload, e.at])?;
        for integration in ids {
            job.execute(params![
                kassa_core::ids::new_id().to_string(),
                event_id,
                integration,
                e.kind.as_str(),
                e.at
            ])?;
        }
    }
    Ok(())
}
