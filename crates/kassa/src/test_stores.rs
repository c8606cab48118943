//! The backends' side of per-test stores (`POST /_kassa/stores`, see `kassa_api::stores`): on
//! SQLite (and in memory) a database in RAM copied from a migrated template, on PostgreSQL a
//! schema of its own in the server's database. Either way a store lives as long as the process
//! that made it, or until it is deleted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use kassa_api::AppState;
use kassa_api::stores::StoreMaker;
use kassa_core::store::Store;
use kassa_core::{Error, Result};
use kassa_store_postgres::PgStore;
use kassa_store_sqlite::SqliteStore;
use tokio::sync::{OnceCell, watch};

/// Starts a per-test store's integration worker. It sleeps until the store has an enabled
/// integration (nothing can be due before), so a thousand idle stores poll nothing.
fn start_delivery(state: &AppState, mut stop: watch::Receiver<()>) {
    let (store, integrations) = (Arc::clone(&state.store), Arc::clone(&state.integrations));
    kassa_core::context::spawn(async move {
        while !integrations.observes_any() {
            tokio::select! {
                _ = stop.changed() => return,
                () = integrations.next_commit() => {}
            }
        }
        crate::delivery::run(store, integrations, async move {
            let _ = stop.changed().await;
        })
        .await;
    });
}

/// SQLite stores in `parent` (RAM where it can), each a copy of one migrated template.
pub struct SqliteMaker {
    parent: PathBuf,
    template: OnceCell<PathBuf>,
}

impl SqliteMaker {
    pub fn new(parent: PathBuf) -> Self {
        Self {
            parent,
            template: OnceCell::new(),
        }
    }

    /// The template, written at the first store.
    async fn template(&self) -> Result<&Path> {
        let path = self
            .template
            .get_or_try_init(|| async {
                let path = self
                    .parent
                    .join(format!("kassa-template-{}.db", uuid::Uuid::new_v4().simple()));
                SqliteStore::write_template(&path).await?;
                Ok::<_, Error>(path)
            })
            .await?;
        Ok(path)
    }
}

#[async_trait]
impl StoreMaker for SqliteMaker {
    async fn open(&self, _id: &str) -> Result<Arc<dyn Store>> {
        let template = self.template().await?;
        Ok(Arc::new(SqliteStore::open_temporary_copy(
            &self.parent,
            template,
        )?))
    }

    async fn remove(&self, _id: &str, store: Arc<dyn Store>) -> Result<()> {
        store.close().await
    }

    fn start(&self, state: &AppState, stop: watch::Receiver<()>) {
        start_delivery(state, stop);
    }

    async fn close(&self) {
        if let Some(path) = self.template.get() {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

/// PostgreSQL stores: schema `kassa_store_{id}` each, in the server's database.
pub struct PgMaker {
    url: String,
}

impl PgMaker {
    pub fn new(url: String) -> Self {
        Self { url }
    }

    fn schema(id: &str) -> String {
        format!("kassa_store_{id}")
    }
}

#[async_trait]
impl StoreMaker for PgMaker {
    async fn open(&self, id: &str) -> Result<Arc<dyn Store>> {
        let store = PgStore::connect_in_schema(&self.url, &Self::schema(id)).await?;
        if let Err(e) = store.migrate().await {
            let _ = store.close().await;
            let _ = PgStore::drop_schema(&self.url, &Self::schema(id)).await;
            return Err(e);
        }
        Ok(Arc::new(store))
    }

    async fn remove(&self, id: &str, store: Arc<dyn Store>) -> Result<()> {
        store.close().await?;
        PgStore::drop_schema(&self.url, &Self::schema(id)).await
    }

    fn start(&self, state: &AppState, stop: watch::Receiver<()>) {
        start_delivery(state, stop);
    }
}
