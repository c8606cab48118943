//! The `Idempotency-Key` record: claiming a key, completing it with the response (inside the
//! creating use-case's job, so the resource and its replay commit together), giving it up, and
//! dropping expired keys.

use async_trait::async_trait;
use kassa_core::Error;
use kassa_core::Result;
use kassa_core::conflicts;
use kassa_core::orders::{
    ClaimOutcome, IDEMPOTENCY_LEASE_MS, IDEMPOTENCY_TTL_MS, IdempotencyClaim, IdempotentResponse,
};
use kassa_core::store::IdempotencyStore;
use kassa_core::time::Millis;
use rusqlite::{Connection, OptionalExtension, params};

use crate::SqliteStore;
use crate::db::DbResult;

pub(crate) fn complete_key(conn: &Connection, r: &IdempotentResponse) -> DbResult<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE idempotency_keys SET state = 'done', response_status = ?4, response_body = ?5
             WHERE scope = ?1 AND key = ?2 AND request_hash = ?3 AND state = 'in_flight'",
        )?
        .execute(params![r.scope, r.key, r.request_hash, r.status, r.body])?;
    if changed == 0 {
        return Err(Error::Conflict(conflicts::IDEMPOTENCY_KEY_LOST.into()).into());
    }
    Ok(())
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim_idempotency_key(&self, c: IdempotencyClaim) -> Result<ClaimOutcome> {
        self.db
            .write(move |conn| {
                type Found = (String, String, Option<u16>, Option<String>, Millis, Millis);
                let found: Option<Found> = conn
                    .prepare_cached(
                        "SELECT request_hash, state, response_status, response_body, locked_at, expires_at
                         FROM idempotency_keys WHERE scope = ?1 AND key = ?2",
                    )?
                    .query_row(params![c.scope, c.key], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                    })
                    .optional()?;
                let claim = |conn: &Connection| -> DbResult<ClaimOutcome> {
                    conn.prepare_cached(
                        "INSERT OR REPLACE INTO idempotency_keys
                           (scope, key, request_hash, state, response_status, response_body, locked_at, created_at, expires_at)
                         VALUES (?1, ?2, ?3, 'in_flight', NULL, NULL, ?4, ?4, ?5)",
                    )?
                    .execute(params![c.scope, c.key, c.request_hash, c.now, c.now + IDEMPOTENCY_TTL_MS])?;
                    Ok(ClaimOutcome::Claimed)
                };
                match found {
                    None => claim(conn),
                    Some((.., expires_at)) if expires_at <= c.now => claim(conn),
                    Some((hash, ..)) if hash != c.request_hash => Ok(ClaimOutcome::Mismatch),
                    Some((_, state, status, body, ..)) if state == "done" => Ok(ClaimOutcome::Done {
                        status: status.unwrap_or(200),
                        body: body.unwrap_or_default(),
                    }),
                    Some((.., locked_at, _)) if locked_at + IDEMPOTENCY_LEASE_MS <= c.now => {
                        conn.prepare_cached(
                            "UPDATE idempotency_keys SET locked_at = ?3 WHERE scope = ?1 AND key = ?2",
                        )?
                        .execute(params![c.scope, c.key, c.now])?;
                        Ok(ClaimOutcome::Claimed)
                    }
                    Some(_) => Ok(ClaimOutcome::InFlight),
                }
            })
            .await
    }

    async fn complete_idempotency_key(&self, response: IdempotentResponse) -> Result<()> {
        self.db.write(move |conn| complete_key(conn, &response)).await
    }

    async fn release_idempotency_key(&self, scope: &str, key: &str) -> Result<()> {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "DELETE FROM idempotency_keys WHERE scope = ?1 AND key = ?2 AND state = 'in_flight'",
                )?
                .execute(params![scope, key])?;
                Ok(())
            })
            .await
    }

    async fn delete_expired_idempotency_keys(&self, now: Millis) -> Result<u64> {
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached("DELETE FROM idempotency_keys WHERE expires_at <= ?1")?
                    .execute([now])?;
                Ok(n as u64)
            })
            .await
    }
}
