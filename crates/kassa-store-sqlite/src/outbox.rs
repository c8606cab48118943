//! The transactional outbox: the events of a change, written by the change's own use-case on the
//! writer thread (so inside its savepoint: a change that rolls back emits nothing). While this
//! node's worker takes jobs handed over, they are written leased to it (see `handoff`).

use kassa_core::integrations::{DueJob, Event, HandedJob};
use rusqlite::{Connection, params};
use uuid::Uuid;

use crate::db::DbResult;
use crate::handoff;
use crate::sql::uuid_at;

/// One `integration_jobs` row (with the event's payload) per event and enabled integration
/// observing its kind: leased to this node and staged while the worker's channel has room, else
/// due now for any node's poll. The job's id is the event id its receiver sees.
pub(crate) fn write(conn: &Connection, events: &[Event]) -> DbResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut observers = conn.prepare_cached(
        "SELECT o.integration_id, i.updated_at FROM integration_observes o
         JOIN integrations i ON i.id = o.integration_id WHERE o.event = ?1 AND i.enabled",
    )?;
    let mut job = conn.prepare_cached(
        "INSERT INTO integration_jobs (id, integration_id, event, payload, status, attempts, next_at, leased_by,
           created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8, ?8)",
    )?;
    let now = kassa_core::time::now_millis();
    for e in events {
        let observing: Vec<(Uuid, i64)> = observers
            .query_map([e.kind.as_str()], |r| Ok((uuid_at(r, 0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (integration, version) in observing {
            let id = kassa_core::ids::new_id();
            // Leased to this node (its first attempt under way) or due now (none yet).
            let reserved = handoff::reserve(now);
            let (attempts, next_at, leased_by) = match &reserved {
                Some((_, node, lease_until)) => (1, *lease_until, Some(node.to_string())),
                None => (0, e.at, None),
            };
            job.execute(params![
                id.to_string(),
                integration.to_string(),
                e.kind.as_str(),
                e.payload,
                attempts,
                next_at,
                leased_by,
                e.at
            ])?;
            if let Some((permit, _, lease_until)) = reserved {
                let job = DueJob {
                    id,
                    event: e.kind.as_str().to_owned(),
                    payload: e.payload.clone(),
                    created_at: e.at,
                    attempt: 1,
                    integration_id: integration,
                    integration_version: version,
                };
                handoff::stage(permit, HandedJob { job, lease_until });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use kassa_core::integrations::{EventKind, Integration, IntegrationType, JobHandoff};
    use kassa_core::store::{IntegrationStore, Store};
    use kassa_core::time::now_millis;
    use uuid::Uuid;

    use super::*;
    use crate::SqliteStore;

    async fn store_observing_accounts() -> (SqliteStore, Uuid) {
        let dir = std::env::temp_dir().join(format!("kassa-outbox-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(&dir.join("kassa.db")).unwrap();
        store.migrate().await.unwrap();
        let integration = Integration {
            id: Uuid::new_v4(),
            name: "erp".into(),
            description: String::new(),
            enabled: true,
            integration_type: IntegrationType::Webhook,
            observes: vec!["account.created".into()],
            configuration: serde_json::json!({"url": "http://127.0.0.1:9/"}),
            created_at: 1,
            updated_at: 2,
        };
        let id = integration.id;
        store.create_integration(integration, Vec::new()).await.unwrap();
        (store, id)
    }

    fn events(n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| Event {
                kind: EventKind::AccountCreated,
                payload: format!(r#"{{"data":{{"n":{i}}}}}"#),
                at: now_millis(),
            })
            .collect()
    }

    /// Jobs are handed over while the channel has room and only once committed; the rest are
    /// due for a poll, and a rolled-back write hands over nothing.
    #[tokio::test]
    async fn jobs_are_handed_over_while_there_is_room_and_only_once_committed() {
        let (store, integration) = store_observing_accounts().await;
        let (jobs, mut handed) = tokio::sync::mpsc::channel(2);
        let node = Uuid::new_v4();
        let handoff = JobHandoff {
            node,
            lease_ms: 60_000,
            jobs,
        };
        assert!(store.hand_over_jobs(handoff).await.unwrap());

        let failed = store
            .db
            .write(|conn| {
                write(conn, &events(2))?;
                Err::<(), _>(kassa_core::Error::bad_request("No", "rolled back").into())
            })
            .await;
        assert!(failed.is_err());
        assert!(
            handed.try_recv().is_err(),
            "a rolled-back write hands nothing over"
        );

        store.db.write(|conn| write(conn, &events(3))).await.unwrap();
        let mut got = Vec::new();
        while let Ok(job) = handed.try_recv() {
            got.push(job);
        }
        assert_eq!(got.len(), 2, "as many as the channel has room for");
        for (n, h) in got.iter().enumerate() {
            assert_eq!(h.job.attempt, 1);
            assert_eq!(h.job.integration_id, integration);
            assert_eq!(h.job.integration_version, 2);
            assert_eq!(h.job.payload, format!(r#"{{"data":{{"n":{n}}}}}"#));
            assert!(h.lease_until >= now_millis() + 50_000);
        }
        // Another node's poll finds the one written due, not the two leased to this node.
        let now = now_millis();
        let due = store
            .lease_jobs(Uuid::new_v4(), now, now + 120_000, 10)
            .await
            .unwrap();
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(due[0].payload, r#"{"data":{"n":2}}"#);
        assert!(got.iter().all(|h| h.job.id != due[0].id));
        // Once their lease ends they are due for any node, with their next attempt.
        let later = now + 61_000;
        let due = store
            .lease_jobs(Uuid::new_v4(), later, later + 1_000, 10)
            .await
            .unwrap();
        assert_eq!(due.len(), 2, "{due:?}");
        assert!(due.iter().all(|j| j.attempt == 2));
    }
}
