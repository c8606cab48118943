use async_trait::async_trait;
use kassa_core::conflicts;
use kassa_core::query::{Page, PageRequest};
use kassa_core::store::{ApplicationKey, AuthStore};
use kassa_core::time::Millis;
use kassa_core::token::SigningKey;
use kassa_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::{DbResult, unique_violation};

macro_rules! key_columns {
    () => {
        "id, name, client_id, secret_hash, reserved_rate_limit, created_at, updated_at"
    };
}

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<ApplicationKey> {
    Ok(ApplicationKey {
        id: parse_uuid(row.get_ref(0)?.as_str()?),
        name: row.get(1)?,
        client_id: row.get(2)?,
        secret_hash: row.get(3)?,
        reserved_rate_limit: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

/// Ids are written by kassa as canonical UUID text; anything else is corruption, mapped to nil
/// rather than a panic.
pub(crate) fn parse_uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap_or_default()
}

fn insert_key(conn: &Connection, key: &ApplicationKey) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO application_keys (id, name, client_id, secret_hash, reserved_rate_limit, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        key.id.to_string(),
        key.name,
        key.client_id,
        key.secret_hash,
        key.reserved_rate_limit,
        key.created_at,
        key.updated_at
    ])
    .map_err(|e| match unique_violation(&e) {
        Some(_) => Error::Conflict(conflicts::APPLICATION_KEY_CLIENT_ID.into()).into(),
        None => e.into(),
    })
    .map(|_| ())
}

#[async_trait]
impl AuthStore for SqliteStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKey>> {
        self.db
            .read(|conn| {
                let mut stmt = conn.prepare_cached("SELECT id, secret, created_at FROM signing_keys")?;
                let keys = stmt
                    .query_map([], |r| {
                        Ok(SigningKey {
                            id: r.get(0)?,
                            secret: r.get(1)?,
                            created_at: r.get(2)?,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(keys)
            })
            .await
    }

    async fn insert_signing_key_if_none(&self, key: SigningKey) -> Result<()> {
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO signing_keys (id, secret, created_at)
                     SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
                )?
                .execute(params![key.id, key.secret, key.created_at])?;
                Ok(())
            })
            .await
    }

    async fn create_application_key(&self, key: ApplicationKey) -> Result<ApplicationKey> {
        self.db
            .write(move |conn| {
                insert_key(conn, &key)?;
                Ok(key)
            })
            .await
    }

    async fn create_first_application_key(&self, key: ApplicationKey) -> Result<bool> {
        self.db
            .write(move |conn| {
                let live: i64 = conn
                    .prepare_cached("SELECT count(*) FROM application_keys WHERE deleted_at IS NULL")?
                    .query_row([], |r| r.get(0))?;
                if live > 0 {
                    return Ok(false);
                }
                insert_key(conn, &key)?;
                Ok(true)
            })
            .await
    }

    async fn application_key_by_client_id(&self, client_id: &str) -> Result<Option<ApplicationKey>> {
        let client_id = client_id.to_owned();
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        key_columns!(),
                        " FROM application_keys WHERE client_id = ?1 AND deleted_at IS NULL"
                    ))?
                    .query_row([client_id], key_from_row)
                    .optional()?)
            })
            .await
    }

    async fn application_keys(&self, page: PageRequest) -> Result<Page<ApplicationKey>> {
        self.db
            .read(move |conn| {
                let total: i64 = conn
                    .prepare_cached("SELECT count(*) FROM application_keys WHERE deleted_at IS NULL")?
                    .query_row([], |r| r.get(0))?;
                let items = conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        key_columns!(),
                        " FROM application_keys WHERE deleted_at IS NULL
                         ORDER BY created_at, id LIMIT ?1 OFFSET ?2"
                    ))?
                    .query_map(params![page.limit as i64, page.offset as i64], key_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(Page {
                    items,
                    total: total as u64,
                })
            })
            .await
    }

    async fn set_application_key_secret(&self, id: Uuid, secret_hash: String, now: Millis) -> Result<()> {
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE application_keys SET secret_hash = ?2, updated_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id.to_string(), secret_hash, now])?;
                Ok(())
            })
            .await
    }

    async fn delete_application_key(&self, id: Uuid, now: Millis) -> Result<bool> {
        self.db
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE application_keys SET deleted_at = ?2, updated_at = ?2
                         WHERE id = ?1 AND deleted_at IS NULL",
                    )?
                    .execute(params![id.to_string(), now])?;
                Ok(changed == 1)
            })
            .await
    }

    async fn deleted_application_keys(&self, since: Millis) -> Result<Vec<Uuid>> {
        self.db
            .read(move |conn| {
                let ids = conn
                    .prepare_cached("SELECT id FROM application_keys WHERE deleted_at >= ?1")?
                    .query_map([since], |r| Ok(parse_uuid(r.get_ref(0)?.as_str()?)))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(ids)
            })
            .await
    }
}
