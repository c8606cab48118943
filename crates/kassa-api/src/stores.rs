//! A store per test (`POST /_kassa/stores`, emulator only): isolated stores in one server, each
//! with its own database (a SQLite file in RAM, or a PostgreSQL schema), application key, realm,
//! caches, journal, fault rules, test clock and ids. Nothing is shared but the process.
//!
//! A request reaches its store by its credentials alone, so unchanged Elastic Path clients work:
//! every client id and signing key id a per-test store makes is `{store id}.{random}` (see
//! `kassa_core::context`), so `POST /oauth/access_token` names the store by its `client_id`,
//! and every later request by its token's `kid`. Anything else goes to the server's own store. A
//! forged prefix gains nothing: the store it names checks the secret or the signature itself.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::task::Poll;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::future::{BoxFuture, Either};
use kassa_core::context::{self, StoreContext};
use kassa_core::store::{ApplicationKey, Store};
use kassa_core::time::{Millis, now_millis};
use kassa_core::{Error, Result, secret};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::metrics::Metrics;
use crate::state::{ApiConfig, AppState, TestStoreDirectory};
use crate::token_service::TokenService;

/// Most per-test stores one server holds at once.
pub const MAX_STORES: usize = 10_000;

/// What a backend does for per-test stores.
#[async_trait]
pub trait StoreMaker: Send + Sync {
    /// A new, empty, migrated store for store `id` (called inside the store's context).
    async fn open(&self, id: &str) -> Result<Arc<dyn Store>>;
    /// Closes `store` and removes all its data.
    async fn remove(&self, id: &str, store: Arc<dyn Store>) -> Result<()>;
    /// Starts the store's background work (integration delivery), which ends when `stop` changes
    /// or is dropped.
    fn start(&self, state: &AppState, stop: watch::Receiver<()>);
    /// Removes what the maker itself keeps (a template), once every store is gone.
    async fn close(&self) {}
}

/// One per-test store.
struct TestStore {
    state: AppState,
    /// The store's whole API, its own journal and faults included.
    router: Router,
    created_at: Millis,
    /// Dropped (with the store), it stops the store's background work.
    _stop: watch::Sender<()>,
}

/// The server's per-test stores.
pub struct TestStores {
    maker: Arc<dyn StoreMaker>,
    routes: crate::ApiRoutes,
    config: ApiConfig,
    metrics: Arc<Metrics>,
    customer_token_ttl: Duration,
    delivery: kassa_core::integrations::RetryPolicy,
    stores: RwLock<HashMap<String, Arc<TestStore>>>,
    /// How many there are and are being made, read on every request without the lock.
    count: AtomicUsize,
}

impl TestStores {
    /// Per-test stores made by `maker`, configured as the server's own store `main` is.
    pub fn new(maker: Arc<dyn StoreMaker>, main: &AppState) -> Self {
        Self {
            maker,
            routes: crate::ApiRoutes::new(true),
            config: ApiConfig::clone(&main.config),
            metrics: Arc::clone(&main.metrics),
            customer_token_ttl: main.tokens.customer_ttl(),
            delivery: main.integrations.policy,
            stores: RwLock::default(),
            count: AtomicUsize::new(0),
        }
    }

    /// The store's credentials, realm, state and router (inside its context).
    /// Answers the store with its admin key's `client_id` and `client_secret` (the secret exists
    /// in plain text only here).
    async fn start(&self, id: &str, store: Arc<dyn Store>) -> Result<(TestStore, String, String)> {
        let now = now_millis();
        let client_id = secret::generate_client_id();
        let client_secret = secret::generate_client_secret();
        store
            .create_application_key(ApplicationKey {
                id: kassa_core::ids::new_id(),
                name: "admin (test store)".into(),
                client_id: client_id.clone(),
                secret_hash: secret::hash_generated_secret(&client_secret),
                reserved_rate_limit: 0,
                created_at: now,
                updated_at: now,
            })
            .await?;
        let (settings, realm) = kassa_core::account::first_realm(now);
        store.ensure_account_realm(settings, realm).await?;
        let tokens = TokenService::load(Arc::clone(&store), self.config.access_token_ttl)
            .await?
            .with_customer_ttl(self.customer_token_ttl);
        let mut state =
            AppState::new(store, Arc::new(tokens), self.config.clone()).with_delivery_policy(self.delivery);
        state.metrics = Arc::clone(&self.metrics);
        state.store_id = Arc::from(id);
        state.integrations.reload(&*state.store).await?;
        let router = crate::app_with(&self.routes, state.clone());
        let (stop, stopped) = watch::channel(());
        self.maker.start(&state, stopped);
        let store = TestStore {
            state,
            router,
            created_at: now,
            _stop: stop,
        };
        Ok((store, client_id, client_secret))
    }
}

#[async_trait]
impl TestStoreDirectory for TestStores {
    fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    fn get(&self, id: &str) -> Option<(AppState, Router)> {
        let stores = self.stores.read().expect("stores lock");
        stores.get(id).map(|s| (s.state.clone(), s.router.clone()))
    }

    fn list(&self) -> Vec<AppState> {
        let mut all: Vec<_> = self
            .stores
            .read()
            .expect("stores lock")
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| (a.created_at, &a.state.store_id).cmp(&(b.created_at, &b.state.store_id)));
        all.into_iter().map(|s| s.state.clone()).collect()
    }

    /// Migrated, with an admin application key, the account realm and the default settings, as
    /// a first start makes them.
    async fn create(&self, seed: Option<u64>) -> Result<(AppState, String, String)> {
        // A place is taken before the store is made, so racing creations cannot pass the limit.
        if self.count.fetch_add(1, Ordering::Relaxed) >= MAX_STORES {
            self.count.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::Conflict(format!(
                "This server already holds {MAX_STORES} stores: delete some first"
            )));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let context = Arc::new(StoreContext::for_store(&id, seed));
        let created = context::scope(Arc::clone(&context), async {
            let store = self.maker.open(&id).await?;
            let started = self.start(&id, Arc::clone(&store)).await;
            if started.is_err() {
                let _ = self.maker.remove(&id, store).await;
            }
            started
        })
        .await;
        match created {
            Ok((store, client_id, client_secret)) => {
                let state = store.state.clone();
                self.stores
                    .write()
                    .expect("stores lock")
                    .insert(id, Arc::new(store));
                Ok((state, client_id, client_secret))
            }
            Err(e) => {
                self.count.fetch_sub(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Requests already under way in the store finish first.
    async fn delete(&self, id: &str) -> Result<bool> {
        let removed = self.stores.write().expect("stores lock").remove(id);
        let Some(removed) = removed else {
            return Ok(false);
        };
        self.count.fetch_sub(1, Ordering::Relaxed);
        let store = Arc::clone(&removed.state.store);
        drop(removed);
        self.maker.remove(id, store).await?;
        Ok(true)
    }

    /// Removes every store and the maker's own files.
    async fn close(&self) {
        let ids: Vec<String> = self.stores.read().expect("stores lock").keys().cloned().collect();
        for id in ids {
            if let Err(e) = self.delete(&id).await {
                tracing::warn!(store = %id, error = %e, "could not remove a test store");
            }
        }
        self.maker.close().await;
    }
}

/// The store id in `{store id}.{random}` (a client id or a signing key id).
fn store_prefix(name: &str) -> Option<&str> {
    name.split_once('.').map(|(store, _)| store)
}

/// The `kid` of a bearer token's JWT header, without checking anything else (the store it
/// names does that).
fn token_kid(req: &Request) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Header {
        kid: String,
    }
    let value = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    let header = token.trim().split('.').next()?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    serde_json::from_slice::<Header>(&json).ok().map(|h| h.kid)
}

/// The `client_id` of a token request's form body.
fn form_client_id(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(key, _)| key == "client_id")
        .map(|(_, value)| value.into_owned())
}

/// The server's own API behind the per-test stores' dispatch: a request whose credentials name a
/// per-test store goes to that store's whole API, inside its context (clock, ids); any other to
/// the server's own. With no per-test store (or the emulator off) it costs one branch: no
/// allocation, no second router.
#[derive(Clone)]
pub struct Dispatch {
    api: Router,
    stores: Option<Arc<dyn TestStoreDirectory>>,
    limit: usize,
}

impl Dispatch {
    /// `api` (the server's own store's, [`crate::app`] of `state`) behind `state`'s test stores.
    pub fn new(state: &AppState, api: Router) -> Self {
        Self {
            api,
            stores: state.test_stores.clone(),
            limit: state.config.max_body_bytes,
        }
    }
}

impl tower::Service<Request> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future =
        Either<<Router as tower::Service<Request>>::Future, BoxFuture<'static, Result<Response, Infallible>>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match &self.stores {
            Some(stores) if !stores.is_empty() => {
                let (stores, api) = (Arc::clone(stores), self.api.clone());
                Either::Right(Box::pin(dispatch(stores, self.limit, api, req)))
            }
            _ => Either::Left(self.api.call(req)),
        }
    }
}

async fn dispatch(
    stores: Arc<dyn TestStoreDirectory>,
    limit: usize,
    api: Router,
    req: Request,
) -> Result<Response, Infallible> {
    let (owner, req) = if req.uri().path() == "/oauth/access_token" {
        // The client id is in the body: read it (within the body limit) and put it back.
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
            return Ok(crate::error::ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "Payload Too Large",
                format!("The request body is larger than {limit} bytes"),
            )
            .into_response());
        };
        let owner = form_client_id(&bytes)
            .as_deref()
            .and_then(store_prefix)
            .and_then(|id| stores.get(id));
        (owner, Request::from_parts(parts, Body::from(bytes)))
    } else {
        let owner = token_kid(&req)
            .as_deref()
            .and_then(store_prefix)
            .and_then(|id| stores.get(id));
        (owner, req)
    };
    match owner {
        Some((state, router)) => {
            let context = Arc::clone(&state.context);
            drop(state);
            context::scope(context, router.oneshot(req)).await
        }
        None => api.oneshot(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_name_their_store_by_prefix() {
        assert_eq!(store_prefix("0a1b.Zm9v"), Some("0a1b"));
        assert_eq!(
            store_prefix("Zm9vYmFy-_"),
            None,
            "the server's own client ids have no dot"
        );
        assert_eq!(
            form_client_id(b"grant_type=implicit&client_id=ab.cd"),
            Some("ab.cd".into())
        );
        assert_eq!(form_client_id(b"grant_type=implicit"), None);

        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"HS256","typ":"JWT","kid":"st.k1"}"#);
        let req = Request::builder()
            .header("authorization", format!("Bearer {header}.e30.sig"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(token_kid(&req).as_deref(), Some("st.k1"));
        let req = Request::builder()
            .header("authorization", "Bearer not-a-jwt")
            .body(Body::empty())
            .unwrap();
        assert_eq!(token_kid(&req), None);
    }
}
