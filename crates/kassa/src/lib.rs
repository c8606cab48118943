//! The kassa server: configuration, choice of storage backend, start-up and shutdown.

pub mod config;
pub mod delivery;
pub mod demo;
pub mod drain;
pub mod listen;
pub mod stomp;
pub mod test_stores;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use kassa_api::auth::TokenService;
use kassa_api::{ApiConfig, AppState};
use kassa_core::snapshot::Fixture;
use kassa_core::store::{ApplicationKey, Store};
use kassa_core::time::now_millis;
use kassa_core::{Error, secret};
use kassa_store_postgres::PgStore;
use kassa_store_sqlite::SqliteStore;
use tokio::net::TcpListener;
use tower::Layer;

use crate::config::{Database, ServeConfig};

/// Opens the store the URL names. Does not migrate.
pub async fn open_store(database: &Database) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match database {
        Database::Sqlite(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                anyhow::ensure!(
                    parent.is_dir(),
                    "cannot open SQLite database {}: directory {} does not exist",
                    path.display(),
                    parent.display()
                );
            }
            Arc::new(SqliteStore::open(path).map_err(start_error)?)
        }
        // The store's message names the server and what is wrong, without the password.
        Database::Postgres(url) => Arc::new(PgStore::connect(url).await.map_err(start_error)?),
        Database::Memory => Arc::new(SqliteStore::open_temporary(&memory_parent()).map_err(start_error)?),
    })
}

/// Where an in-memory store's files go: `/dev/shm` (RAM) where it can be written, else the temporary
/// directory.
fn memory_parent() -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let writable = shm.is_dir() && std::fs::metadata(shm).is_ok_and(|m| !m.permissions().readonly());
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// A store's error as one line for a person: without the "internal error" of a request's log.
fn start_error(e: Error) -> anyhow::Error {
    match e {
        Error::Internal(message) | Error::Unavailable(message) => anyhow!(message),
        other => anyhow!("{other}"),
    }
}

/// Opens and migrates.
pub async fn prepare_store(database: &Database) -> anyhow::Result<Arc<dyn Store>> {
    let store = open_store(database).await?;
    store.migrate().await.map_err(start_error)?;
    Ok(store)
}

/// A new application key with a fresh secret; returns it with the plain secret.
pub async fn create_key(store: &dyn Store, name: &str) -> anyhow::Result<(ApplicationKey, String)> {
    let key = new_key(
        name,
        secret::generate_client_id(),
        &secret::generate_client_secret(),
    )
    .await?;
    let secret = key.1;
    let key = store
        .create_application_key(key.0)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    Ok((key, secret))
}

pub(crate) async fn new_key(
    name: &str,
    client_id: String,
    client_secret: &str,
) -> anyhow::Result<(ApplicationKey, String)> {
    let plain = client_secret.to_owned();
    let hash = tokio::task::spawn_blocking(move || secret::hash_secret(&plain)).await?;
    let now = now_millis();
    let key = ApplicationKey {
        id: kassa_core::ids::new_id(),
        name: name.to_owned(),
        client_id,
        secret_hash: hash,
        reserved_rate_limit: 0,
        created_at: now,
        updated_at: now,
    };
    Ok((key, client_secret.to_owned()))
}

/// Makes sure an admin key with exactly these credentials exists (idempotent across restarts
/// and safe when several nodes start at once).
pub async fn ensure_admin_key(store: &dyn Store, client_id: &str, client_secret: &str) -> anyhow::Result<()> {
    for _ in 0..2 {
        if let Some(key) = store
            .application_key_by_client_id(client_id)
            .await
            .map_err(|e| anyhow!("{e}"))?
        {
            let (plain, hash) = (client_secret.to_owned(), key.secret_hash.clone());
            if !tokio::task::spawn_blocking(move || secret::verify_secret(&plain, &hash)).await? {
                let plain = client_secret.to_owned();
                let hash = tokio::task::spawn_blocking(move || secret::hash_secret(&plain)).await?;
                store
                    .set_application_key_secret(key.id, hash, now_millis())
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
            }
            return Ok(());
        }
        let (key, _) = new_key("admin (KASSA_CLIENT_ID)", client_id.to_owned(), client_secret).await?;
        match store.create_application_key(key).await {
            Ok(_) => return Ok(()),
            // Another node created it first, or a deleted key holds this client_id.
            Err(Error::Conflict(_)) => continue,
            Err(e) => return Err(anyhow!("{e}")),
        }
    }
    Err(anyhow!(
        "KASSA_CLIENT_ID {client_id:?} belongs to a deleted application key; choose another client id"
    ))
}

/// Start-up up to the point of serving: migrate, make sure an admin can log in, load the token
/// keys. Returns the application state.
pub async fn prepare(config: &ServeConfig) -> anyhow::Result<AppState> {
    if config.seed.is_some() {
        // Before anything is made: the realm and the admin key's ids come from the seed too.
        kassa_core::ids::seed(config.seed);
    }
    let store = prepare_store(&config.database).await?;
    let fixture = match &config.fixture {
        Some(path) => Some(import_fixture(&*store, path).await?),
        None => None,
    };
    match &config.admin_credentials {
        Some((id, secret)) => ensure_admin_key(&*store, id, secret).await?,
        None => {
            let (key, secret) = new_key(
                "admin (first start)",
                secret::generate_client_id(),
                &secret::generate_client_secret(),
            )
            .await?;
            let client_id = key.client_id.clone();
            if store
                .create_first_application_key(key)
                .await
                .map_err(|e| anyhow!("{e}"))?
            {
                // Printed to stdout once, never logged: this is the only time the secret exists
                // in plain text.
                println!("kassa: created an admin application key (shown only this once):");
                println!("  client_id:     {client_id}");
                println!("  client_secret: {secret}");
            }
        }
    }
    ensure_account_realm(&*store).await?;
    let tokens = TokenService::load(Arc::clone(&store), config.access_token_ttl)
        .await
        .map_err(|e| anyhow!("{e}"))?
        .with_customer_ttl(config.customer_token_ttl);
    let api = ApiConfig {
        public_url: config.public_url.clone(),
        access_token_ttl: config.access_token_ttl,
        max_file_bytes: config.max_file_bytes,
        cors: config.cors.clone(),
        metrics_token: config.metrics_token.clone(),
        emulator: config.emulator,
        ..ApiConfig::default()
    };
    let mut state = AppState::new(store, Arc::new(tokens), api).with_delivery_policy(config.delivery);
    if let Some(emulator) = &state.emulator {
        emulator.set_reset_fixture(fixture.as_ref());
    }
    if config.emulator {
        let maker: Arc<dyn kassa_api::stores::StoreMaker> = match &config.database {
            Database::Sqlite(_) | Database::Memory => {
                Arc::new(test_stores::SqliteMaker::new(&memory_parent()))
            }
            Database::Postgres(url) => Arc::new(test_stores::PgMaker::new(url.clone())),
        };
        state.test_stores = Some(Arc::new(kassa_api::stores::TestStores::new(maker, &state)));
    }
    // Which events integrations observe, before the first request.
    state
        .integrations
        .reload(&*state.store)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let state = match &config.database {
        Database::Sqlite(path) => state.with_search_dir(search_dir(path)),
        // In memory, the search indexes are too (the state's default).
        Database::Postgres(_) | Database::Memory => state,
    };
    // The search indexes open or build in the background: serving starts at once.
    let indexing = state.clone();
    tokio::spawn(async move { indexing.search.refresh(indexing.search_sources()).await });
    Ok(state)
}

/// Replaces the store's data with the fixture file at `path`'s (`kassa import`, `kassa serve
/// --fixture`) and returns the fixture.
pub async fn import_fixture(store: &dyn Store, path: &std::path::Path) -> anyhow::Result<Fixture> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the fixture {}", path.display()))?;
    let fixture = Fixture::parse(&bytes).map_err(|e| fixture_error(path, e))?;
    store
        .import(fixture.clone())
        .await
        .map_err(|e| fixture_error(path, e))?;
    Ok(fixture)
}

/// What is wrong with a fixture file, a problem a line.
fn fixture_error(path: &std::path::Path, e: Error) -> anyhow::Error {
    let problems = match e {
        Error::Validation(problems) => problems
            .iter()
            .map(|p| format!("\n  {}: {}: {}", p.source, p.title, p.detail))
            .collect(),
        e => format!(" {e}"),
    };
    anyhow!("the fixture {} cannot be imported:{problems}", path.display())
}

/// Where a SQLite database keeps its search indexes: beside it, `<file>.search/`.
pub fn search_dir(database: &std::path::Path) -> std::path::PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".search");
    name.into()
}

/// Every store has one account authentication realm, made on first start.
async fn ensure_account_realm(store: &dyn Store) -> anyhow::Result<()> {
    let (settings, realm) = kassa_core::account::first_realm(now_millis());
    store
        .ensure_account_realm(settings, realm)
        .await
        .map_err(|e| anyhow!("{e}"))
}

/// The bound listeners (the `--listen` address first, HTTPS when TLS is configured, then any
/// plain HTTP one) and the limits their connections are served under.
pub struct Bound {
    pub listeners: Vec<listen::Listener>,
    pub limits: listen::Limits,
    /// The development CA of `--tls self-signed`, for the start-up banner.
    pub dev_ca: Option<tls::DevCa>,
    /// With TLS: the `SIGHUP`s that reload the certificate.
    pub hangups: Option<tls::Hangups>,
}

impl Bound {
    /// The `--listen` address.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listeners[0].local_addr()
    }

    /// `http://…` or `https://…` of the `--listen` address.
    pub fn base_url(&self) -> String {
        let main = &self.listeners[0];
        match main.local_addr() {
            Ok(addr) => format!("{}://{addr}", main.scheme()),
            Err(_) => String::new(),
        }
    }
}

/// The certificate `--listen` serves, read and checked (the development one made first if asked).
pub struct Certificate {
    pub tls: Option<tls::Tls>,
    pub dev_ca: Option<tls::DevCa>,
}

/// Loads the configured certificate and key: a missing, unreadable or mismatched one is a clear
/// error, found before the database is touched.
pub fn load_certificate(config: &ServeConfig) -> anyhow::Result<Certificate> {
    Ok(match &config.net.tls {
        None => Certificate {
            tls: None,
            dev_ca: None,
        },
        Some(listen::TlsSetting::Files { cert, key }) => Certificate {
            tls: Some(tls::Tls::load(cert, key)?),
            dev_ca: None,
        },
        Some(listen::TlsSetting::SelfSigned { dir, names }) => {
            let ca = tls::dev_ca(dir, names)?;
            Certificate {
                tls: Some(tls::Tls::load(&ca.cert, &ca.key)?),
                dev_ca: Some(ca),
            }
        }
    })
}

/// Loads the certificate and binds the configured addresses; a taken port is a clear error.
pub async fn bind(config: &ServeConfig) -> anyhow::Result<Bound> {
    bind_with(config, load_certificate(config)?).await
}

/// Binds the configured addresses, serving `certificate` on `--listen`.
pub async fn bind_with(config: &ServeConfig, certificate: Certificate) -> anyhow::Result<Bound> {
    let Certificate { tls, dev_ca } = certificate;
    let hangups = tls.as_ref().map(|_| tls::Hangups::listen()).transpose()?;
    let main = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let mut listeners = vec![listen::Listener { tcp: main, tls }];
    if let Some(addr) = config.net.listen_http {
        let tcp = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        listeners.push(listen::Listener { tcp, tls: None });
    }
    let limits = config.net.limits.clone();
    if let Some(files) = listen::open_files_limit()
        && files < limits.max_connections as u64 + 256
    {
        tracing::warn!(
            open_files = files,
            max_connections = limits.max_connections,
            "the open-file limit is below the connection limit: raise it (ulimit -n) or lower --max-connections"
        );
    }
    Ok(Bound {
        listeners,
        limits,
        dev_ca,
        hangups,
    })
}

/// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish
/// for at most [`drain::DEFAULT_DRAIN`].
pub async fn serve(
    bound: Bound,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with_drain(bound, state, shutdown, drain::DEFAULT_DRAIN).await
}

/// [`serve`], letting in-flight requests finish for at most `drain` after `shutdown` resolves.
pub async fn serve_with_drain(
    bound: Bound,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let mut sweep_stop = stop_tx.subscribe();
    let mut reload_stop = stop_tx.subscribe();
    let mut delivery_stop = stop_tx.subscribe();
    let worker = tokio::spawn(delivery::run(
        Arc::clone(&state.store),
        Arc::clone(&state.integrations),
        async move {
            let _ = delivery_stop.changed().await;
        },
    ));
    let refresher = tokio::spawn(Arc::clone(&state.tokens).refresh_until(async move {
        let mut rx = stop_rx;
        let _ = rx.changed().await;
    }));
    let sweeper = tokio::spawn(sweep_expired_carts(
        Arc::clone(&state.store),
        CART_SWEEP_INTERVAL,
        async move {
            let _ = sweep_stop.changed().await;
        },
    ));
    let certificates: Vec<tls::Tls> = bound.listeners.iter().filter_map(|l| l.tls.clone()).collect();
    let reloader = bound.hangups.map(|hangups| {
        tokio::spawn(tls::reload_on_sighup(certificates, hangups, async move {
            let _ = reload_stop.changed().await;
        }))
    });
    let store = Arc::clone(&state.store);
    let test_stores = state.test_stores.clone();
    let app = tower::util::MapRequestLayer::new(kassa_api::normalize_path).layer(kassa_api::served(state));
    let (shutdown, draining) = drain::observe(shutdown);
    drain::bounded(
        listen::serve(bound.listeners, app, bound.limits, shutdown),
        draining,
        drain,
    )
    .await;
    drop(stop_tx);
    let _ = refresher.await;
    let _ = sweeper.await;
    let _ = worker.await;
    if let Some(reloader) = reloader {
        let _ = reloader.await;
    }
    if let Some(test_stores) = test_stores {
        test_stores.close().await;
    }
    if let Err(e) = store.close().await {
        tracing::warn!(error = %e, "closing the store failed");
    }
    Ok(())
}

/// How long finished integration jobs and their logs are kept (`/logs`, `/jobs`): 7 days.
pub const INTEGRATION_JOBS_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;

/// How often each node deletes expired carts.
pub const CART_SWEEP_INTERVAL: Duration = Duration::from_secs(300);

/// Deletes expired carts (and expired idempotency keys) at once and then every `interval` until `stop` resolves. Reads already
/// treat an expired cart as gone, so this only reclaims space; the DELETE is idempotent, so any
/// number of nodes may sweep at once.
pub async fn sweep_expired_carts(store: Arc<dyn Store>, interval: Duration, stop: impl Future<Output = ()>) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {
                match store.delete_expired_carts(now_millis()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(carts = n, "deleted expired carts"),
                    Err(e) => tracing::warn!(error = %e, "could not delete expired carts"),
                }
                // Idempotency keys past their 24 hours go the same way.
                if let Err(e) = store.delete_expired_idempotency_keys(now_millis()).await {
                    tracing::warn!(error = %e, "could not delete expired idempotency keys");
                }
                // And integration jobs finished (delivered or failed) more than a week ago, with their logs.
                if let Err(e) = store.delete_finished_jobs(now_millis() - INTEGRATION_JOBS_KEPT_MS).await {
                    tracing::warn!(error = %e, "could not delete finished integration jobs");
                }
            }
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
