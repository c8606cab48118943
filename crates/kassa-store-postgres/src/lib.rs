//! The PostgreSQL store: the production backend, shared by any number of stateless kassa nodes.
//! Races are settled by the database (constraints, conditional updates, row locks), never by a
//! check in Rust followed by a write.

mod accounts;
mod addresses;
mod auth;
mod carts;
mod catalog;
mod connect;
mod currency;
mod customers;
mod files;
mod idempotency;
mod integrations;
mod inventories;
mod list;
mod orders;
mod outbox;
mod payments;
mod promotions;
mod releases;
mod snapshot;
mod sql;
mod stock_moves;
mod variations;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use kassa_core::conflicts::{self, UniqueRule};
use kassa_core::snapshot::{Fixture, TableShape};
use kassa_core::stats::{PoolStats, StoreStats};
use kassa_core::store::Store;
use kassa_core::{Error, Result};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub struct PgStore {
    pool: PgPool,
    /// Whether `migrate` takes sqlx's advisory lock: nodes sharing a schema need it; a per-test
    /// store's own new schema does not, and the lock (one per database) would make stores being
    /// made at once migrate one after another.
    lock_migrations: bool,
}

/// Pool size: measured on 2 cores, 16 connections let more commits share a WAL flush than 8.
const DEFAULT_POOL_SIZE: u32 = 16;

impl PgStore {
    /// Connects to `url` (`postgres://…`), failing fast if the server cannot be reached: one
    /// first connection, whose error says what is wrong in one line (see `connect.rs`).
    pub async fn connect(url: &str) -> Result<Self> {
        let options = Self::options(url)?;
        connect::check(&options).await.map_err(Error::Internal)?;
        let pool = PgPoolOptions::new().max_connections(DEFAULT_POOL_SIZE);
        Self::pool(options, pool, true).await
    }

    fn options(url: &str) -> Result<PgConnectOptions> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| Error::internal(format!("invalid PostgreSQL URL: {e}")))?;
        // kassa's statements are prepared once per connection and their plans do not depend on
        // the values bound (the listing shapes are checked by `plan_tests`). By default
        // PostgreSQL plans each execution anew for a while and keeps doing so where it guesses a
        // custom plan pays; planning was ~13 % of its CPU in a checkout. A URL that sets
        // `plan_cache_mode` itself keeps its choice.
        if !url.contains("plan_cache_mode") {
            options = options.options([("plan_cache_mode", "force_generic_plan")]);
        }
        Ok(options)
    }

    async fn pool(options: PgConnectOptions, pool: PgPoolOptions, lock_migrations: bool) -> Result<Self> {
        let pool = pool
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await
            .map_err(|e| Error::Internal(connect::describe(&options, &e)))?;
        Ok(Self {
            pool,
            lock_migrations,
        })
    }

    /// Runs one statement of `url`'s database on a connection of its own (a schema's DDL,
    /// outside any store's pool).
    async fn execute_alone(url: &str, sql: String) -> Result<()> {
        let options = Self::options(url)?;
        let mut conn = sqlx::ConnectOptions::connect(&options)
            .await
            .map_err(|e| Error::Internal(connect::describe(&options, &e)))?;
        let done = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
        let _ = sqlx::Connection::close(conn).await;
        done.map(|_| ()).map_err(sql_error)
    }

    /// A store of its own in schema `schema` (made if missing; `migrate` makes its tables) of
    /// the database at `url`, with a pool of [`SCHEMA_POOL_SIZE`] whose idle connections close
    /// soon: a per-test store, many of which share one server. Its migrations take no lock.
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Self> {
        let name = schema_name(schema)?;
        Self::execute_alone(url, format!("CREATE SCHEMA IF NOT EXISTS {name}")).await?;
        let options = Self::options(url)?.options([("search_path", name)]);
        let pool = PgPoolOptions::new()
            .max_connections(SCHEMA_POOL_SIZE)
            .min_connections(0)
            .idle_timeout(Duration::from_secs(10));
        Self::pool(options, pool, false).await
    }

    /// Drops schema `schema` of the database at `url` with everything in it.
    pub async fn drop_schema(url: &str, schema: &str) -> Result<()> {
        let name = schema_name(schema)?;
        Self::execute_alone(url, format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await
    }
}

/// Connections of a per-test store's pool ([`PgStore::connect_in_schema`]).
pub const SCHEMA_POOL_SIZE: u32 = 4;

/// `schema`, if it is a plain lower-case identifier (it is put in SQL as it is).
fn schema_name(schema: &str) -> Result<&str> {
    let plain = !schema.is_empty()
        && schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Ok(schema)
    } else {
        Err(Error::internal(format!("not a plain schema name: {schema:?}")))
    }
}

pub(crate) fn sql_error(e: sqlx::Error) -> Error {
    if unavailable(&e) {
        Error::unavailable(format!("postgres: {e}"))
    } else {
        Error::internal(format!("postgres: {e}"))
    }
}

/// Whether a statement failed because the server cannot be reached or is going away, rather
/// than because of the statement: no connection within the pool's acquire timeout, a connection
/// that broke, or the server's own "shutting down" / "not accepting connections" / "read-only"
/// answers. The request may succeed once the server is back.
fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P01–57P05: admin/crash shutdown, cannot connect now,
            // database dropped, idle session timeout; 53300: too many connections; 25006: a
            // read-only transaction (a standby, or the primary in recovery).
            code.starts_with("08") || code.starts_with("57P") || code == "53300" || code == "25006"
        }),
        _ => false,
    }
}

/// The name of the unique constraint a statement violated, if that is why it failed.
pub(crate) fn unique_violation(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Some(db.constraint().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<()> {
        // sqlx takes an advisory lock, so nodes starting together apply each migration once.
        let mut migrator = sqlx::migrate!("./migrations");
        migrator
            .set_locking(self.lock_migrations)
            .run(&self.pool)
            .await
            .map_err(|e| Error::internal(format!("migration failed: {e}")))
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(())
    }

    /// Ends the pool's sessions politely rather than by a dropped socket.
    async fn close(&self) -> Result<()> {
        self.pool.close().await;
        Ok(())
    }

    async fn fixture_shapes(&self) -> Result<Vec<TableShape>> {
        snapshot::shapes(&self.pool).await
    }

    async fn export(&self) -> Result<Fixture> {
        snapshot::export(&self.pool).await
    }

    async fn import(&self, fixture: Fixture) -> Result<()> {
        snapshot::import(&self.pool, fixture).await
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            sqlite_writer: None,
            postgres_pool: Some(PoolStats {
                max: self.pool.options().get_max_connections(),
                open: self.pool.size(),
                idle: self.pool.num_idle() as u32,
            }),
        }
    }
}

/// Maps a unique violation of one of `rules` (by constraint name) to `Conflict`.
pub(crate) fn conflict_on(e: sqlx::Error, rules: &[UniqueRule]) -> Error {
    if let Some(name) = unique_violation(&e)
        && let Some(rule) = conflicts::broken(rules, |r| r.postgres == name)
    {
        return rule.error();
    }
    sql_error(e)
}

/// Whether a statement failed on a foreign key.
pub(crate) fn foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}
