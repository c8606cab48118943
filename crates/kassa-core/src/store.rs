//! The storage interface. Each method is one use-case and one transaction, so a backend can tune
//! its SQL freely and callers never see a transaction. Two implementations: the embedded SQLite
//! store and the PostgreSQL store; one behaviour suite runs against both.

use async_trait::async_trait;
use uuid::Uuid;

use crate::Result;
use crate::query::{Page, PageRequest};
use crate::time::Millis;
use crate::token::SigningKey;

/// Everything kassa persists. Split by aggregate so each part stays small.
#[async_trait]
pub trait Store: AuthStore + Send + Sync + 'static {
    /// Applies pending schema migrations (safe to run from several nodes at once).
    async fn migrate(&self) -> Result<()>;
    /// Cheap liveness check of the database, for `/readyz`.
    async fn ping(&self) -> Result<()>;
}

/// An administrator credential pair. The secret is only ever stored hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationKey {
    pub id: Uuid,
    pub name: String,
    pub client_id: String,
    pub secret_hash: String,
    pub reserved_rate_limit: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Signing keys and application keys: what `POST /oauth/access_token` needs.
#[async_trait]
pub trait AuthStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKey>>;
    /// Stores `key` unless some signing key already exists.
    async fn insert_signing_key_if_none(&self, key: SigningKey) -> Result<()>;

    /// Fails with `Conflict` if the client_id is taken.
    async fn create_application_key(&self, key: ApplicationKey) -> Result<ApplicationKey>;
    /// Creates `key` only if the store has no live application key at all; true if it did.
    async fn create_first_application_key(&self, key: ApplicationKey) -> Result<bool>;
    /// A live (not deleted) key.
    async fn application_key_by_client_id(&self, client_id: &str) -> Result<Option<ApplicationKey>>;
    /// Live keys, oldest first.
    async fn application_keys(&self, page: PageRequest) -> Result<Page<ApplicationKey>>;
    async fn set_application_key_secret(&self, id: Uuid, secret_hash: String, now: Millis) -> Result<()>;
    /// Deletes a live key; false if there was none with this id.
    async fn delete_application_key(&self, id: Uuid, now: Millis) -> Result<bool>;
    /// Ids of keys deleted at or after `since`, whose tokens must no longer be accepted.
    async fn deleted_application_keys(&self, since: Millis) -> Result<Vec<Uuid>>;
}
