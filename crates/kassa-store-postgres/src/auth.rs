use async_trait::async_trait;
use kassa_core::conflicts;
use kassa_core::query::{Page, PageRequest};
use kassa_core::store::{ApplicationKey, AuthStore};
use kassa_core::time::Millis;
use kassa_core::token::SigningKey;
use kassa_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{Executor, Postgres, Row};
use uuid::Uuid;

use crate::{PgStore, sql_error, unique_violation};

macro_rules! key_columns {
    () => {
        "id, name, client_id, secret_hash, reserved_rate_limit, created_at, updated_at"
    };
}

fn key_from_row(row: &PgRow) -> ApplicationKey {
    ApplicationKey {
        id: row.get(0),
        name: row.get(1),
        client_id: row.get(2),
        secret_hash: row.get(3),
        reserved_rate_limit: row.get(4),
        created_at: row.get(5),
        updated_at: row.get(6),
    }
}

async fn insert_key<'e>(db: impl Executor<'e, Database = Postgres>, key: &ApplicationKey) -> Result<()> {
    sqlx::query(
        "INSERT INTO application_keys (id, name, client_id, secret_hash, reserved_rate_limit, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(key.id)
    .bind(&key.name)
    .bind(&key.client_id)
    .bind(&key.secret_hash)
    .bind(key.reserved_rate_limit)
    .bind(key.created_at)
    .bind(key.updated_at)
    .execute(db)
    .await
    .map_err(|e| match unique_violation(&e) {
        Some(_) => Error::Conflict(conflicts::APPLICATION_KEY_CLIENT_ID.into()),
        None => sql_error(e),
    })?;
    Ok(())
}

#[async_trait]
impl AuthStore for PgStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKey>> {
        let rows = sqlx::query("SELECT id, secret, created_at FROM signing_keys")
            .fetch_all(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(rows
            .iter()
            .map(|r| SigningKey {
                id: r.get(0),
                secret: r.get(1),
                created_at: r.get(2),
            })
            .collect())
    }

    async fn insert_signing_key_if_none(&self, key: SigningKey) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // Serialize concurrent first starts so exactly one key is created.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('kassa.signing_keys'))")
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        sqlx::query(
            "INSERT INTO signing_keys (id, secret, created_at)
             SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
        )
        .bind(&key.id)
        .bind(&key.secret)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        tx.commit().await.map_err(sql_error)
    }

    async fn create_application_key(&self, key: ApplicationKey) -> Result<ApplicationKey> {
        insert_key(&self.pool, &key).await?;
        Ok(key)
    }

    async fn create_first_application_key(&self, key: ApplicationKey) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('kassa.application_keys'))")
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        let live: i64 = sqlx::query_scalar("SELECT count(*) FROM application_keys WHERE deleted_at IS NULL")
            .fetch_one(&mut *tx)
            .await
            .map_err(sql_error)?;
        if live > 0 {
            return Ok(false);
        }
        insert_key(&mut *tx, &key).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(true)
    }

    async fn application_key_by_client_id(&self, client_id: &str) -> Result<Option<ApplicationKey>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM application_keys WHERE client_id = $1 AND deleted_at IS NULL"
        ))
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.as_ref().map(key_from_row))
    }

    async fn application_keys(&self, page: PageRequest) -> Result<Page<ApplicationKey>> {
        // One statement: the page and the total, via a window count.
        let rows = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            ", count(*) OVER () AS total FROM application_keys
             WHERE deleted_at IS NULL ORDER BY created_at, id LIMIT $1 OFFSET $2"
        ))
        .bind(page.limit as i64)
        .bind(page.offset as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)?;
        let total = match rows.first() {
            Some(row) => row.get::<i64, _>("total") as u64,
            // An offset past the end returns no rows, so count separately.
            None => {
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM application_keys WHERE deleted_at IS NULL")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(sql_error)? as u64
            }
        };
        Ok(Page {
            items: rows.iter().map(key_from_row).collect(),
            total,
        })
    }

    async fn set_application_key_secret(&self, id: Uuid, secret_hash: String, now: Millis) -> Result<()> {
        sqlx::query("UPDATE application_keys SET secret_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(secret_hash)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(())
    }

    async fn delete_application_key(&self, id: Uuid, now: Millis) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE application_keys SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn deleted_application_keys(&self, since: Millis) -> Result<Vec<Uuid>> {
        sqlx::query_scalar("SELECT id FROM application_keys WHERE deleted_at >= $1")
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .map_err(sql_error)
    }
}
