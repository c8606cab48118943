//! The embedded SQLite store.
//!
//! Measured on the target machine (`machine-limits.md`), SQLite through an async pool manages
//! ~2k checkout-shaped transactions/s because every statement is a hand-off between threads,
//! while one OS thread owning a connection and committing *groups* of use-cases reaches ~20k/s.
//! So: all writes go through [`Db::write`] to one writer thread, which runs each use-case inside a
//! `SAVEPOINT` (a failing use-case rolls back only itself) and commits the whole batch at once.
//! A syncer thread flushes the WAL and only then replies to the batch's callers, while the writer
//! already runs the next batch; a checkpointer thread copies the WAL into the database file.
//! Reads go to a few reader threads with their own connections; WAL lets them run beside the
//! writer.

mod accounts;
mod addresses;
mod auth;
mod carts;
mod catalog;
mod currency;
mod customers;
mod db;
mod files;
mod handoff;
mod idempotency;
mod integrations;
mod inventories;
mod list;
mod migrations;
mod orders;
mod outbox;
mod payments;
mod promotion_codes;
mod promotions;
mod releases;
mod snapshot;
mod sql;
mod stock_moves;
mod variations;

use std::path::Path;

use async_trait::async_trait;
use kassa_core::Result;
use kassa_core::snapshot::{Fixture, TableShape};
use kassa_core::stats::StoreStats;
use kassa_core::store::Store;

use db::Db;

pub struct SqliteStore {
    db: Db,
    /// A directory of this store's own, removed when it closes ([`SqliteStore::open_temporary`]).
    temporary: Option<std::path::PathBuf>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file. Fails if it cannot be opened or written.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            db: Db::open(path, db::DEFAULT_READERS)?,
            temporary: None,
        })
    }

    /// A new database in a new directory inside `parent` (a RAM-backed one such as `/dev/shm`
    /// makes an in-memory store that still has WAL's readers beside its writer), removed with
    /// everything in it when the store closes.
    pub fn open_temporary(parent: &Path) -> Result<Self> {
        Self::temporary_in(parent, None, false)
    }

    /// Writes a migrated, empty database to `path`, folded into that one file: the template
    /// [`SqliteStore::open_temporary_copy`] copies (a copy takes far less than migrating).
    pub async fn write_template(path: &Path) -> Result<()> {
        let store = Self {
            db: Db::open(path, 1)?,
            temporary: None,
        };
        store.migrate().await?;
        store.close().await
    }

    /// [`SqliteStore::open_temporary`], starting as a copy of `template` (a
    /// [`SqliteStore::write_template`] file), with one reader and no checkpointer thread: a
    /// per-test store, made in a few milliseconds, most of them the connections' parse of the
    /// schema.
    pub fn open_temporary_copy(parent: &Path, template: &Path) -> Result<Self> {
        Self::temporary_in(parent, Some(template), true)
    }

    fn temporary_in(parent: &Path, template: Option<&Path>, small: bool) -> Result<Self> {
        let dir = parent.join(format!("kassa-memory-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir)
            .map_err(|e| kassa_core::Error::internal(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join("kassa.db");
        let copied = template.map_or(Ok(0), |template| std::fs::copy(template, &path));
        let opened = copied
            .map_err(|e| kassa_core::Error::internal(format!("cannot copy the template store: {e}")))
            .and_then(|_| {
                if small {
                    Db::open_with(&path, 1, false)
                } else {
                    Db::open(&path, db::DEFAULT_READERS)
                }
            });
        match opened {
            Ok(db) => Ok(Self {
                db,
                temporary: Some(dir),
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<()> {
        self.db.write(migrations::apply).await?;
        releases::delete_abandoned_parts(&self.db).await
    }

    async fn ping(&self) -> Result<()> {
        self.db
            .read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    /// Folds the WAL into the database file, so a stopped server's data is all in that one file
    /// and the next start has no WAL to read back.
    async fn close(&self) -> Result<()> {
        match &self.temporary {
            // Nothing to keep: the files go, folded in or not.
            Some(dir) => std::fs::remove_dir_all(dir)
                .map_err(|e| kassa_core::Error::internal(format!("cannot remove {}: {e}", dir.display()))),
            None => self.db.checkpoint_all().await,
        }
    }

    async fn fixture_shapes(&self) -> Result<Vec<TableShape>> {
        self.db.read(snapshot::shapes).await
    }

    async fn export(&self) -> Result<Fixture> {
        self.db.read(snapshot::export).await
    }

    async fn import(&self, fixture: Fixture) -> Result<()> {
        self.db.write(move |conn| snapshot::import(conn, fixture)).await
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            sqlite_writer: Some(self.db.stats()),
            postgres_pool: None,
        }
    }
}
