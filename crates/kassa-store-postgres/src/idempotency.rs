//! The `Idempotency-Key` record: claiming a key (a concurrent claim of the same key waits on its
//! row), completing it with the response inside the creating use-case's transaction, giving it
//! up, and dropping expired keys.

use async_trait::async_trait;
use kassa_core::conflicts;
use kassa_core::orders::{
    ClaimOutcome, IDEMPOTENCY_LEASE_MS, IDEMPOTENCY_TTL_MS, IdempotencyClaim, IdempotentResponse,
};
use kassa_core::store::IdempotencyStore;
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use sqlx::{Executor, Postgres, Row};

use crate::{PgStore, sql_error};

pub(crate) async fn complete_key<'e>(
    db: impl Executor<'e, Database = Postgres>,
    r: &IdempotentResponse,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', response_status = $4, response_body = $5
         WHERE scope = $1 AND key = $2 AND request_hash = $3 AND state = 'in_flight'",
    )
    .bind(&r.scope)
    .bind(&r.key)
    .bind(&r.request_hash)
    .bind(i32::from(r.status))
    .bind(&r.body)
    .execute(db)
    .await
    .map_err(sql_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::Conflict(conflicts::IDEMPOTENCY_KEY_LOST.into()));
    }
    Ok(())
}

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn claim_idempotency_key(&self, c: IdempotencyClaim) -> Result<ClaimOutcome> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // A concurrent claim of the same key waits here until the first one commits.
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys
               (scope, key, request_hash, state, locked_at, created_at, expires_at)
             VALUES ($1, $2, $3, 'in_flight', $4, $4, $5)
             ON CONFLICT (scope, key) DO NOTHING",
        )
        .bind(&c.scope)
        .bind(&c.key)
        .bind(&c.request_hash)
        .bind(c.now)
        .bind(c.now + IDEMPOTENCY_TTL_MS)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        if inserted.rows_affected() == 1 {
            tx.commit().await.map_err(sql_error)?;
            return Ok(ClaimOutcome::Claimed);
        }
        let row = sqlx::query(
            "SELECT request_hash, state, response_status, response_body, locked_at, expires_at
             FROM idempotency_keys WHERE scope = $1 AND key = $2 FOR UPDATE",
        )
        .bind(&c.scope)
        .bind(&c.key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(sql_error)?;
        let outcome = match row {
            // Released between the insert and the read: the caller may simply retry.
            None => ClaimOutcome::InFlight,
            Some(r) => {
                let hash: String = r.get(0);
                let state: String = r.get(1);
                let status: Option<i32> = r.get(2);
                let body: Option<String> = r.get(3);
                let locked_at: Millis = r.get(4);
                let expires_at: Millis = r.get(5);
                if expires_at <= c.now
                    || (state == "in_flight"
                        && hash == c.request_hash
                        && locked_at + IDEMPOTENCY_LEASE_MS <= c.now)
                {
                    sqlx::query(
                        "UPDATE idempotency_keys SET request_hash = $3, state = 'in_flight', response_status = NULL,
                           response_body = NULL, locked_at = $4,
                           created_at = CASE WHEN expires_at <= $4 THEN $4 ELSE created_at END,
                           expires_at = CASE WHEN expires_at <= $4 THEN $5 ELSE expires_at END
                         WHERE scope = $1 AND key = $2",
                    )
                    .bind(&c.scope)
                    .bind(&c.key)
                    .bind(&c.request_hash)
                    .bind(c.now)
                    .bind(c.now + IDEMPOTENCY_TTL_MS)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql_error)?;
                    ClaimOutcome::Claimed
                } else if hash != c.request_hash {
                    ClaimOutcome::Mismatch
                } else if state == "done" {
                    ClaimOutcome::Done {
                        status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                        body: body.unwrap_or_default(),
                    }
                } else {
                    ClaimOutcome::InFlight
                }
            }
        };
        tx.commit().await.map_err(sql_error)?;
        Ok(outcome)
    }

    async fn complete_idempotency_key(&self, response: IdempotentResponse) -> Result<()> {
        complete_key(&self.pool, &response).await
    }

    async fn release_idempotency_key(&self, scope: &str, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_flight'")
            .bind(scope)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(())
    }

    async fn delete_expired_idempotency_keys(&self, now: Millis) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(done.rows_affected())
    }
}
