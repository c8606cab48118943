//! Integrations, their outbox (`integration_jobs`) and delivery logs. Leasing is one statement:
//! the due jobs are locked `FOR UPDATE SKIP LOCKED` and pushed past the lease's end, so any
//! number of nodes poll at once and each job goes to one of them per attempt.

use async_trait::async_trait;
use kassa_core::Result;
use kassa_core::integrations::{
    Attempt, DueJob, Emit, Event, Integration, IntegrationJob, IntegrationLog, IntegrationType, JobStatus,
};
use kassa_core::query::{Page, PageRequest};
use kassa_core::store::{Edit, IntegrationStore};
use kassa_core::time::Millis;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use crate::{PgStore, outbox, sql_error};

macro_rules! integration_columns {
    () => {
        "i.id, i.name, i.description, i.enabled, i.integration_type, i.observes, i.configuration, \
         i.created_at, i.updated_at"
    };
}

fn integration_at(r: &PgRow, at: usize) -> Integration {
    let kind: String = r.get(at + 4);
    let observes: String = r.get(at + 5);
    let configuration: String = r.get(at + 6);
    Integration {
        id: r.get(at),
        name: r.get(at + 1),
        description: r.get(at + 2),
        enabled: r.get(at + 3),
        integration_type: IntegrationType::parse(&kind).unwrap_or(IntegrationType::Webhook),
        observes: serde_json::from_str(&observes).unwrap_or_default(),
        configuration: serde_json::from_str(&configuration).unwrap_or_default(),
        created_at: r.get(at + 7),
        updated_at: r.get(at + 8),
    }
}

async fn write_integration(conn: &mut PgConnection, i: &Integration, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO integrations (id, name, description, enabled, integration_type, observes, configuration,
           created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    } else {
        "UPDATE integrations SET name = $2, description = $3, enabled = $4, integration_type = $5, observes = $6,
           configuration = $7, created_at = $8, updated_at = $9 WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(i.id)
        .bind(&i.name)
        .bind(&i.description)
        .bind(i.enabled)
        .bind(i.integration_type.as_str())
        .bind(serde_json::to_string(&i.observes).unwrap_or_default())
        .bind(i.configuration.to_string())
        .bind(i.created_at)
        .bind(i.updated_at)
        .execute(&mut *conn)
        .await
        .map_err(sql_error)?;
    sqlx::query(
        "WITH gone AS (DELETE FROM integration_observes WHERE integration_id = $1 AND event <> ALL($2))
         INSERT INTO integration_observes (event, integration_id) SELECT e, $1 FROM UNNEST($2::text[]) AS e
         ON CONFLICT DO NOTHING",
    )
    .bind(i.id)
    .bind(&i.observes)
    .execute(&mut *conn)
    .await
    .map_err(sql_error)?;
    Ok(())
}

fn log_row(r: &PgRow) -> IntegrationLog {
    let attempt: i32 = r.get(3);
    let status: Option<i32> = r.get(5);
    IntegrationLog {
        id: r.get(0),
        job_id: r.get(1),
        integration_id: r.get(2),
        attempt: attempt as u32,
        succeeded: r.get(4),
        status_code: status.and_then(|s| u16::try_from(s).ok()),
        body: r.get(6),
        error_detail: r.get(7),
        duration_ms: r.get(8),
        created_at: r.get(9),
    }
}

fn job_row(r: &PgRow) -> IntegrationJob {
    let status: String = r.get(3);
    let attempts: i32 = r.get(4);
    IntegrationJob {
        id: r.get(0),
        integration_id: r.get(1),
        event: r.get(2),
        status: JobStatus::parse(&status).unwrap_or(JobStatus::Pending),
        attempts: attempts as u32,
        next_at: r.get(5),
        created_at: r.get(6),
        updated_at: r.get(7),
    }
}

#[async_trait]
impl IntegrationStore for PgStore {
    async fn create_integration(&self, integration: Integration, events: Vec<Event>) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // Creates queue on one lock, so two cannot both count 99 and both insert; the count is
        // a statement of its own, so its snapshot sees what the lock's last holder committed.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('kassa.integrations'))")
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM integrations")
            .fetch_one(&mut *tx)
            .await
            .map_err(sql_error)?;
        if count >= kassa_core::integrations::MAX_INTEGRATIONS {
            return Err(kassa_core::integrations::limit_reached());
        }
        write_integration(&mut tx, &integration, true).await?;
        outbox::write(&mut tx, &events).await?;
        tx.commit().await.map_err(sql_error)
    }

    async fn integration(&self, id: Uuid) -> Result<Option<Integration>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            integration_columns!(),
            " FROM integrations i WHERE i.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.map(|r| integration_at(&r, 0)))
    }

    async fn integrations(&self, page: PageRequest) -> Result<Page<Integration>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM integrations")
            .fetch_one(&mut *tx)
            .await
            .map_err(sql_error)?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            integration_columns!(),
            " FROM integrations i ORDER BY i.created_at, i.id LIMIT $1 OFFSET $2"
        ))
        .bind(page.limit as i64)
        .bind(page.offset as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql_error)?;
        tx.commit().await.map_err(sql_error)?;
        Ok(Page {
            items: rows.iter().map(|r| integration_at(r, 0)).collect(),
            total: total as u64,
        })
    }

    async fn update_integration(
        &self,
        id: Uuid,
        edit: Edit<Integration>,
        emit: Emit<Integration>,
    ) -> Result<Option<Integration>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let Some(row) = sqlx::query(concat!(
            "SELECT ",
            integration_columns!(),
            " FROM integrations i WHERE i.id = $1 FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(sql_error)?
        else {
            return Ok(None);
        };
        let mut integration = integration_at(&row, 0);
        edit(&mut integration)?;
        write_integration(&mut tx, &integration, false).await?;
        outbox::write(&mut tx, &emit(&integration)).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(Some(integration))
    }

    async fn delete_integration(&self, id: Uuid, events: Vec<Event>) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let deleted = sqlx::query("DELETE FROM integrations WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?
            .rows_affected()
            == 1;
        if deleted {
            outbox::write(&mut tx, &events).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(deleted)
    }

    async fn observed_events(&self) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT o.event FROM integration_observes o
             JOIN integrations i ON i.id = o.integration_id WHERE i.enabled",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)
    }

    async fn lease_jobs(
        &self,
        node: Uuid,
        now: Millis,
        lease_until: Millis,
        limit: usize,
    ) -> Result<Vec<DueJob>> {
        let rows = sqlx::query(
            "WITH due AS (
               SELECT j.id FROM integration_jobs j JOIN integrations i ON i.id = j.integration_id
               WHERE j.status = 'pending' AND j.next_at <= $1 AND i.enabled
               ORDER BY j.next_at LIMIT $2
               FOR UPDATE OF j SKIP LOCKED)
             UPDATE integration_jobs j SET attempts = j.attempts + 1, next_at = $3, leased_by = $4, updated_at = $1
             FROM due, integrations i, integration_events e
             WHERE j.id = due.id AND i.id = j.integration_id AND e.id = j.event_id
             RETURNING j.id, j.event, e.payload, j.created_at, j.attempts, j.integration_id, i.updated_at",
        )
        .bind(now)
        .bind(limit as i64)
        .bind(lease_until)
        .bind(node)
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(rows
            .iter()
            .map(|r| {
                let attempt: i32 = r.get(4);
                DueJob {
                    id: r.get(0),
                    event: r.get(1),
                    payload: r.get(2),
                    created_at: r.get(3),
                    attempt: attempt as u32,
                    integration_id: r.get(5),
                    integration_version: r.get(6),
                }
            })
            .collect())
    }

    async fn record_attempts(&self, node: Uuid, attempts: Vec<Attempt>) -> Result<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::new();
        let mut jobs = Vec::new();
        let mut integrations = Vec::new();
        let mut numbers = Vec::new();
        let mut succeeded = Vec::new();
        let mut codes = Vec::new();
        let mut bodies = Vec::new();
        let mut errors = Vec::new();
        let mut durations = Vec::new();
        let mut at = Vec::new();
        let mut statuses = Vec::new();
        let mut next = Vec::new();
        for a in &attempts {
            let (status, next_at) = a.settles();
            ids.push(kassa_core::ids::new_id());
            jobs.push(a.job_id);
            integrations.push(a.integration_id);
            numbers.push(a.attempt as i32);
            succeeded.push(a.succeeded);
            codes.push(a.status_code.map(i32::from));
            bodies.push(a.body.clone());
            errors.push(a.error_detail.clone());
            durations.push(a.duration_ms);
            at.push(a.at);
            statuses.push(status.as_str());
            next.push(next_at);
        }
        // One statement: the logs of the attempts whose job still exists, and each job settled
        // if this node still holds its lease for that attempt.
        sqlx::query(
            "WITH a AS (
               SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::boolean[], $6::int[],
                 $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::text[], $12::bigint[])
               AS a (id, job_id, integration_id, attempt, succeeded, status_code, body, error_detail, duration_ms,
                 created_at, status, next_at)),
             settled AS (
               UPDATE integration_jobs j SET status = a.status, next_at = a.next_at, leased_by = NULL,
                 updated_at = a.created_at
               FROM a WHERE j.id = a.job_id AND j.leased_by = $13 AND j.attempts = a.attempt)
             INSERT INTO integration_logs (id, job_id, integration_id, attempt, succeeded, status_code, body,
               error_detail, duration_ms, created_at)
             SELECT a.id, a.job_id, a.integration_id, a.attempt, a.succeeded, a.status_code, a.body, a.error_detail,
               a.duration_ms, a.created_at
             FROM a WHERE EXISTS (SELECT 1 FROM integration_jobs j WHERE j.id = a.job_id)",
        )
        .bind(ids)
        .bind(jobs)
        .bind(integrations)
        .bind(numbers)
        .bind(succeeded)
        .bind(codes)
        .bind(bodies)
        .bind(errors)
        .bind(durations)
        .bind(at)
        .bind(statuses)
        .bind(next)
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(())
    }

    async fn integration_logs(
        &self,
        integration: Option<Uuid>,
        job: Option<Uuid>,
        page: PageRequest,
    ) -> Result<Page<IntegrationLog>> {
        let filter = "($1::uuid IS NULL OR integration_id = $1) AND ($2::uuid IS NULL OR job_id = $2)";
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM integration_logs WHERE {filter}"
        )))
        .bind(integration)
        .bind(job)
        .fetch_one(&mut *tx)
        .await
        .map_err(sql_error)?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, job_id, integration_id, attempt, succeeded, status_code, body, error_detail, duration_ms,
               created_at FROM integration_logs WHERE {filter}
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
        )))
        .bind(integration)
        .bind(job)
        .bind(page.limit as i64)
        .bind(page.offset as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql_error)?;
        tx.commit().await.map_err(sql_error)?;
        Ok(Page {
            items: rows.iter().map(log_row).collect(),
            total: total as u64,
        })
    }

    async fn integration_jobs(&self, integration: Uuid, page: PageRequest) -> Result<Page<IntegrationJob>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let total: i64 =
            sqlx::query_scalar("SELECT count(*) FROM integration_jobs WHERE integration_id = $1")
                .bind(integration)
                .fetch_one(&mut *tx)
                .await
                .map_err(sql_error)?;
        let rows = sqlx::query(
            "SELECT id, integration_id, event, status, attempts, next_at, created_at, updated_at
             FROM integration_jobs WHERE integration_id = $1
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        )
        .bind(integration)
        .bind(page.limit as i64)
        .bind(page.offset as i64)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql_error)?;
        tx.commit().await.map_err(sql_error)?;
        Ok(Page {
            items: rows.iter().map(job_row).collect(),
            total: total as u64,
        })
    }

    async fn delete_finished_jobs(&self, before: Millis) -> Result<u64> {
        let jobs = sqlx::query("DELETE FROM integration_jobs WHERE status <> 'pending' AND updated_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?
            .rows_affected();
        // Events no job refers to any more (their jobs finished, or their integration went).
        sqlx::query(
            "DELETE FROM integration_events e WHERE e.created_at < $1
               AND NOT EXISTS (SELECT 1 FROM integration_jobs j WHERE j.event_id = e.id)",
        )
        .bind(before)
        .execute(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(jobs)
    }
}
