use std::sync::Arc;
use std::time::Duration;

use kassa_core::store::Store;
use tokio::sync::Semaphore;

use crate::catalog_view::CatalogView;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::openapi::ApiDocument;
use crate::search::{SearchIndexes, Sources};
use crate::token_service::TokenService;

/// Settings the HTTP layer needs.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The URL clients reach this server at, for `links`; derived from `Host` when unset.
    pub public_url: Option<String>,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Largest file `POST /v2/files` accepts (its own limit: uploads are larger than JSON).
    pub max_file_bytes: usize,
    /// The web origins browsers may call the API from.
    pub cors: crate::cors::AllowedOrigins,
    /// When set, `GET /metrics` needs `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
    /// Serve `/_kassa/` (the request journal and fault rules) and journal every request.
    pub emulator: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            access_token_ttl: Duration::from_secs(3600),
            max_body_bytes: 1024 * 1024,
            max_file_bytes: kassa_core::file::DEFAULT_MAX_FILE_BYTES,
            cors: crate::cors::AllowedOrigins::None,
            metrics_token: None,
            emulator: false,
        }
    }
}

/// The server's per-test stores as a store's handlers and the request path use them
/// (`crate::stores::TestStores` is the one implementation; a trait, so the state needs nothing
/// of that module, which holds states).
#[async_trait::async_trait]
pub trait TestStoreDirectory: Send + Sync {
    /// Whether there is none: read on every request.
    fn is_empty(&self) -> bool;
    /// A store's state and its whole API.
    fn get(&self, id: &str) -> Option<(AppState, axum::Router)>;
    /// Every store's state, oldest first.
    fn list(&self) -> Vec<AppState>;
    /// Makes an empty store (with `seed`, its ids come from it): its state, and the `client_id`
    /// and `client_secret` of its admin key.
    async fn create(&self, seed: Option<u64>) -> kassa_core::Result<(AppState, String, String)>;
    /// Removes a store and all its data; `false` if there is none.
    async fn delete(&self, id: &str) -> kassa_core::Result<bool>;
    /// Removes every store (the server is stopping).
    async fn close(&self);
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub tokens: Arc<TokenService>,
    pub config: Arc<ApiConfig>,
    /// The shopper catalog's per-process caches.
    pub catalog_view: Arc<CatalogView>,
    /// This server's `GET /metrics` series.
    pub metrics: Arc<Metrics>,
    /// `GET /openapi.json`, made by [`crate::app`] from the routes it serves.
    pub api_document: Arc<ApiDocument>,
    /// The catalog search indexes.
    pub search: Arc<SearchIndexes>,
    /// The compiled rule promotions.
    pub promotions: Arc<crate::promotion_cache::PromotionCache>,
    /// Which events integrations observe, and the wake-up of this node's delivery worker.
    pub integrations: Arc<crate::integrations::Integrations>,
    /// The emulator's journal and fault rules, when `config.emulator` is on.
    pub emulator: Option<Arc<crate::emulator::Emulator>>,
    /// Which store this is: [`crate::emulator::STORE_ID`] for the server's own, or a per-test
    /// store's id.
    pub store_id: Arc<str>,
    /// This store's test clock and id generator.
    pub context: Arc<kassa_core::context::StoreContext>,
    /// The per-test stores (`/_kassa/stores`), held by the server's own store's state when the
    /// emulator is on.
    pub test_stores: Option<Arc<dyn TestStoreDirectory>>,
    /// Bounds concurrent password hashing so a burst of logins cannot starve other requests.
    hashing: Arc<Semaphore>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, tokens: Arc<TokenService>, config: ApiConfig) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            store,
            tokens,
            emulator: config.emulator.then(Arc::default),
            store_id: Arc::from(crate::emulator::STORE_ID),
            context: kassa_core::context::current(),
            test_stores: None,
            config: Arc::new(config),
            catalog_view: Arc::default(),
            metrics: Arc::default(),
            api_document: Arc::default(),
            search: Arc::new(SearchIndexes::in_memory()),
            promotions: Arc::default(),
            integrations: Arc::default(),
            hashing: Arc::new(Semaphore::new(cores)),
        }
    }

    /// Delivers integration events with `policy` (tests shorten its delays).
    pub fn with_delivery_policy(mut self, policy: kassa_core::integrations::RetryPolicy) -> Self {
        self.integrations = Arc::new(crate::integrations::Integrations::new(policy));
        self
    }

    /// What the search indexes are built from.
    pub fn search_sources(&self) -> Sources<'_> {
        Sources {
            store: &*self.store,
            catalog_view: &self.catalog_view,
        }
    }

    /// Keeps the search indexes in `dir` (reopened at the next start) rather than in memory.
    pub fn with_search_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.search = Arc::new(SearchIndexes::with_dir(Some(dir)));
        self
    }

    /// Runs CPU-heavy secret hashing on the blocking pool, at most one per core at a time.
    pub async fn hash_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(kassa_core::Error::internal)?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| kassa_core::Error::internal(e).into())
    }
}
