//! Integrations, their outbox (`integration_jobs`) and delivery logs. Leasing runs on the writer
//! thread like every write, so two workers can never take the same job: the single writer is
//! SQLite's `SKIP LOCKED`.

use async_trait::async_trait;
use kassa_core::Result;
use kassa_core::integrations::{
    Attempt, DueJob, Emit, Event, Integration, IntegrationJob, IntegrationLog, IntegrationType, JobHandoff,
    JobStatus,
};
use kassa_core::query::{Page, PageRequest};
use kassa_core::store::{Edit, IntegrationStore};
use kassa_core::time::Millis;
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::DbResult;
use crate::outbox;
use crate::sql::uuid_at;

macro_rules! integration_columns {
    () => {
        "i.id, i.name, i.description, i.enabled, i.integration_type, i.observes, i.configuration, \
         i.created_at, i.updated_at"
    };
}

/// An integration from the 9 columns of `integration_columns!` starting at `at`.
fn integration_at(r: &Row<'_>, at: usize) -> rusqlite::Result<Integration> {
    let kind: String = r.get(at + 4)?;
    let observes: String = r.get(at + 5)?;
    let configuration: String = r.get(at + 6)?;
    Ok(Integration {
        id: uuid_at(r, at)?,
        name: r.get(at + 1)?,
        description: r.get(at + 2)?,
        enabled: r.get(at + 3)?,
        integration_type: IntegrationType::parse(&kind).unwrap_or(IntegrationType::Webhook),
        observes: serde_json::from_str(&observes).unwrap_or_default(),
        configuration: serde_json::from_str(&configuration).unwrap_or_default(),
        created_at: r.get(at + 7)?,
        updated_at: r.get(at + 8)?,
    })
}

fn integration_row(r: &Row<'_>) -> rusqlite::Result<Integration> {
    integration_at(r, 0)
}

fn read_integration(conn: &Connection, id: Uuid) -> DbResult<Option<Integration>> {
    Ok(conn
        .prepare_cached(concat!(
            "SELECT ",
            integration_columns!(),
            " FROM integrations i WHERE i.id = ?1"
        ))?
        .query_row([id.to_string()], integration_row)
        .optional()?)
}

/// Writes the integration's row and its `integration_observes` rows (replacing any).
fn write_integration(conn: &Connection, i: &Integration, insert: bool) -> DbResult<()> {
    let observes = serde_json::to_string(&i.observes).unwrap_or_default();
    let sql = if insert {
        "INSERT INTO integrations (id, name, description, enabled, integration_type, observes, configuration,
           created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    } else {
        "UPDATE integrations SET name = ?2, description = ?3, enabled = ?4, integration_type = ?5, observes = ?6,
           configuration = ?7, created_at = ?8, updated_at = ?9 WHERE id = ?1"
    };
    conn.prepare_cached(sql)?.execute(params![
        i.id.to_string(),
        i.name,
        i.description,
        i.enabled,
        i.integration_type.as_str(),
        observes,
        i.configuration.to_string(),
        i.created_at,
        i.updated_at
    ])?;
    conn.prepare_cached("DELETE FROM integration_observes WHERE integration_id = ?1")?
        .execute([i.id.to_string()])?;
    let mut observe =
        conn.prepare_cached("INSERT INTO integration_observes (event, integration_id) VALUES (?1, ?2)")?;
    for event in &i.observes {
        observe.execute(params![event, i.id.to_string()])?;
    }
    Ok(())
}

fn log_row(r: &Row<'_>) -> rusqlite::Result<IntegrationLog> {
    let status: Option<i64> = r.get(5)?;
    Ok(IntegrationLog {
        id: uuid_at(r, 0)?,
        job_id: uuid_at(r, 1)?,
        integration_id: uuid_at(r, 2)?,
        attempt: r.get(3)?,
        succeeded: r.get(4)?,
        status_code: status.and_then(|s| u16::try_from(s).ok()),
        body: r.get(6)?,
        error_detail: r.get(7)?,
        duration_ms: r.get(8)?,
        created_at: r.get(9)?,
    })
}

fn job_row(r: &Row<'_>) -> rusqlite::Result<IntegrationJob> {
    let status: String = r.get(3)?;
    Ok(IntegrationJob {
        id: uuid_at(r, 0)?,
        integration_id: uuid_at(r, 1)?,
        event: r.get(2)?,
        status: JobStatus::parse(&status).unwrap_or(JobStatus::Pending),
        attempts: r.get(4)?,
        next_at: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

fn lease(
    conn: &Connection,
    node: Uuid,
    now: Millis,
    lease_until: Millis,
    limit: usize,
) -> DbResult<Vec<DueJob>> {
    let mut jobs = conn
        .prepare_cached(
            "SELECT j.id, j.event, j.payload, j.created_at, j.attempts, j.integration_id, i.updated_at
             FROM integration_jobs j JOIN integrations i ON i.id = j.integration_id
             WHERE j.status = 'pending' AND j.next_at <= ?1 AND i.enabled
             ORDER BY j.next_at LIMIT ?2",
        )?
        .query_map(params![now, limit as i64], |r| {
            let attempts: u32 = r.get(4)?;
            Ok(DueJob {
                id: uuid_at(r, 0)?,
                event: r.get(1)?,
                payload: r.get(2)?,
                created_at: r.get(3)?,
                attempt: attempts + 1,
                integration_id: uuid_at(r, 5)?,
                integration_version: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // Until its lease ends the job is not due: a node that dies mid-attempt leaves it due again
    // then, for any node.
    let mut take = conn.prepare_cached(
        "UPDATE integration_jobs SET attempts = ?2, next_at = ?3, leased_by = ?4, updated_at = ?5 WHERE id = ?1",
    )?;
    for job in &mut jobs {
        take.execute(params![
            job.id.to_string(),
            job.attempt,
            lease_until,
            node.to_string(),
            now
        ])?;
    }
    Ok(jobs)
}

fn record(conn: &Connection, node: Uuid, attempts: &[Attempt]) -> DbResult<()> {
    let mut log = conn.prepare_cached(
        "INSERT INTO integration_logs (id, job_id, integration_id, attempt, succeeded, status_code, body,
           error_detail, duration_ms, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 WHERE EXISTS (SELECT 1 FROM integration_jobs WHERE id = ?2)",
    )?;
    let mut settle = conn.prepare_cached(
        "UPDATE integration_jobs SET status = ?4, next_at = ?5, leased_by = NULL, updated_at = ?6
         WHERE id = ?1 AND leased_by = ?2 AND attempts = ?3",
    )?;
    for a in attempts {
        log.execute(params![
            kassa_core::ids::new_id().to_string(),
            a.job_id.to_string(),
            a.integration_id.to_string(),
            a.attempt,
            a.succeeded,
            a.status_code,
            a.body,
            a.error_detail,
            a.duration_ms,
            a.at
        ])?;
        let (status, next_at) = a.settles();
        settle.execute(params![
            a.job_id.to_string(),
            node.to_string(),
            a.attempt,
            status.as_str(),
            next_at,
            a.at
        ])?;
    }
    Ok(())
}

#[async_trait]
impl IntegrationStore for SqliteStore {
    async fn create_integration(&self, integration: Integration, events: Vec<Event>) -> Result<()> {
        self.db
            .write(move |conn| {
                // The single writer: nothing can come between the count and the insert.
                let count: i64 = conn
                    .prepare_cached("SELECT count(*) FROM integrations")?
                    .query_row([], |r| r.get(0))?;
                if count >= kassa_core::integrations::MAX_INTEGRATIONS {
                    return Err(kassa_core::integrations::limit_reached().into());
                }
                write_integration(conn, &integration, true)?;
                outbox::write(conn, &events)
            })
            .await
    }

    async fn integration(&self, id: Uuid) -> Result<Option<Integration>> {
        self.db.read(move |conn| read_integration(conn, id)).await
    }

    async fn integrations(&self, page: PageRequest) -> Result<Page<Integration>> {
        self.db
            .read(move |conn| {
                let total: i64 = conn
                    .prepare_cached("SELECT count(*) FROM integrations")?
                    .query_row([], |r| r.get(0))?;
                let items = conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        integration_columns!(),
                        " FROM integrations i ORDER BY i.created_at, i.id LIMIT ?1 OFFSET ?2"
                    ))?
                    .query_map(params![page.limit as i64, page.offset as i64], integration_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(Page {
                    items,
                    total: total as u64,
                })
            })
            .await
    }

    async fn update_integration(
        &self,
        id: Uuid,
        edit: Edit<Integration>,
        emit: Emit<Integration>,
    ) -> Result<Option<Integration>> {
        self.db
            .write(move |conn| {
                let Some(mut integration) = read_integration(conn, id)? else {
                    return Ok(None);
                };
                edit(&mut integration)?;
                write_integration(conn, &integration, false)?;
                outbox::write(conn, &emit(&integration))?;
                Ok(Some(integration))
            })
            .await
    }

    async fn delete_integration(&self, id: Uuid, events: Vec<Event>) -> Result<bool> {
        self.db
            .write(move |conn| {
                let deleted = conn
                    .prepare_cached("DELETE FROM integrations WHERE id = ?1")?
                    .execute([id.to_string()])?
                    == 1;
                if deleted {
                    outbox::write(conn, &events)?;
                }
                Ok(deleted)
            })
            .await
    }

    async fn observed_events(&self) -> Result<Vec<String>> {
        self.db
            .read(|conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT DISTINCT o.event FROM integration_observes o
                         JOIN integrations i ON i.id = o.integration_id WHERE i.enabled",
                    )?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn lease_jobs(
        &self,
        node: Uuid,
        now: Millis,
        lease_until: Millis,
        limit: usize,
    ) -> Result<Vec<DueJob>> {
        self.db
            .write(move |conn| lease(conn, node, now, lease_until, limit))
            .await
    }

    async fn hand_over_jobs(&self, handoff: JobHandoff) -> Result<bool> {
        self.db
            .write(move |_| {
                crate::handoff::hand_over_to(handoff);
                Ok(true)
            })
            .await
    }

    async fn record_attempts(&self, node: Uuid, attempts: Vec<Attempt>) -> Result<()> {
        self.db.write(move |conn| record(conn, node, &attempts)).await
    }

    async fn integration_logs(
        &self,
        integration: Option<Uuid>,
        job: Option<Uuid>,
        page: PageRequest,
    ) -> Result<Page<IntegrationLog>> {
        // Newest recorded first (the rowid), each list through its own index.
        let (filter, key) = match (job, integration) {
            (Some(job), _) => ("job_id = ?1", Some(job)),
            (None, Some(integration)) => ("integration_id = ?1", Some(integration)),
            (None, None) => ("?1 IS NULL", None),
        };
        // A job's logs are also its integration's: the job filter alone finds them.
        let within = match (job, integration) {
            (Some(_), Some(i)) => Some(i.to_string()),
            _ => None,
        };
        self.db
            .read(move |conn| {
                let key = key.map(|u| u.to_string());
                let both = format!("{filter} AND (?2 IS NULL OR integration_id = ?2)");
                let total: i64 = conn
                    .prepare_cached(&format!("SELECT count(*) FROM integration_logs WHERE {both}"))?
                    .query_row(params![key, within], |r| r.get(0))?;
                let items = conn
                    .prepare_cached(&format!(
                        "SELECT id, job_id, integration_id, attempt, succeeded, status_code, body, error_detail,
                           duration_ms, created_at FROM integration_logs WHERE {both}
                         ORDER BY rowid DESC LIMIT ?3 OFFSET ?4"
                    ))?
                    .query_map(params![key, within, page.limit as i64, page.offset as i64], log_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(Page {
                    items,
                    total: total as u64,
                })
            })
            .await
    }

    async fn integration_jobs(&self, integration: Uuid, page: PageRequest) -> Result<Page<IntegrationJob>> {
        self.db
            .read(move |conn| {
                let id = integration.to_string();
                let total: i64 = conn
                    .prepare_cached("SELECT count(*) FROM integration_jobs WHERE integration_id = ?1")?
                    .query_row([&id], |r| r.get(0))?;
                let items = conn
                    .prepare_cached(
                        "SELECT id, integration_id, event, status, attempts, next_at, created_at, updated_at
                         FROM integration_jobs WHERE integration_id = ?1
                         ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3",
                    )?
                    .query_map(params![id, page.limit as i64, page.offset as i64], job_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(Page {
                    items,
                    total: total as u64,
                })
            })
            .await
    }

    async fn delete_finished_jobs(&self, before: Millis) -> Result<u64> {
        self.db
            .write(move |conn| {
                // Through each integration's jobs by creation time (a job finishes after it was
                // made): no index of finished jobs to keep up on every delivery. Their logs go
                // with them.
                Ok(conn
                    .prepare_cached(
                        "DELETE FROM integration_jobs WHERE integration_id IN (SELECT id FROM integrations)
                           AND created_at < ?1 AND status <> 'pending' AND updated_at < ?1",
                    )?
                    .execute([before])? as u64)
            })
            .await
    }
}
