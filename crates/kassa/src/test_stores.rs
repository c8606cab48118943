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

/// SQLite stores in a directory of this server's own in `parent` (RAM where it can),
/// `kassa-stores-{pid}-{random}/`, each a copy of one migrated template kept there. The directory
/// goes when the server stops; one a process left behind (`kill -9`, a test process that exited
/// before its servers stopped) is removed by the next server that starts on this machine.
pub struct SqliteMaker {
    dir: PathBuf,
    template: OnceCell<PathBuf>,
}

/// The start of a maker directory's name.
const DIR_PREFIX: &str = "kassa-stores-";

impl SqliteMaker {
    pub fn new(parent: &Path) -> Self {
        remove_abandoned(parent);
        let name = format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        Self {
            dir: parent.join(name),
            template: OnceCell::new(),
        }
    }

    /// The template, written (with the directory) at the first store.
    async fn template(&self) -> Result<&Path> {
        let path = self
            .template
            .get_or_try_init(|| async {
                std::fs::create_dir_all(&self.dir)
                    .map_err(|e| Error::internal(format!("cannot create {}: {e}", self.dir.display())))?;
                let path = self.dir.join("template.db");
                SqliteStore::write_template(&path).await?;
                Ok::<_, Error>(path)
            })
            .await?;
        Ok(path)
    }
}

/// Removes the maker directories in `parent` of processes that are gone (Linux: `/proc/{pid}`).
fn remove_abandoned(parent: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[async_trait]
impl StoreMaker for SqliteMaker {
    async fn open(&self, _id: &str) -> Result<Arc<dyn Store>> {
        let template = self.template().await?;
        Ok(Arc::new(SqliteStore::open_temporary_copy(&self.dir, template)?))
    }

    async fn remove(&self, _id: &str, store: Arc<dyn Store>) -> Result<()> {
        store.close().await
    }

    fn start(&self, state: &AppState, stop: watch::Receiver<()>) {
        start_delivery(state, stop);
    }

    async fn close(&self) {
        if self.template.get().is_some() {
            let _ = std::fs::remove_dir_all(&self.dir);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_of_processes_that_are_gone_are_removed() {
        let parent = std::env::temp_dir().join(format!("kassa-makers-{}", uuid::Uuid::new_v4().simple()));
        let (gone, alive, other) = (
            parent.join(format!("{DIR_PREFIX}{}-abc", u32::MAX - 1)),
            parent.join(format!("{DIR_PREFIX}{}-def", std::process::id())),
            parent.join("kassa-memory-xyz"),
        );
        for dir in [&gone, &alive, &other] {
            std::fs::create_dir_all(dir).unwrap();
        }
        let maker = SqliteMaker::new(&parent);
        assert!(!gone.exists());
        assert!(alive.exists() && other.exists());
        assert!(maker.dir.starts_with(&parent));
        std::fs::remove_dir_all(&parent).unwrap();
    }
}
