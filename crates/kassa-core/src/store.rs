//! The storage interface. Each method is one use-case and one transaction, so a backend can tune
//! its SQL freely and callers never see a transaction. Two implementations: the embedded SQLite
//! store and the PostgreSQL store; one behaviour suite runs against both.

use async_trait::async_trait;
use uuid::Uuid;

use crate::Result;
use crate::catalog::{Hierarchy, Node, Pricebook, Product, ProductPrice};
use crate::money::Currency;
use crate::query::{Filter, Page, PageRequest};
use crate::time::Millis;
use crate::token::SigningKey;

/// Everything kassa persists. Split by aggregate so each part stays small.
#[async_trait]
pub trait Store: AuthStore + CatalogStore + CurrencyStore + Send + Sync + 'static {
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

/// A change to a stored record, applied inside the store's transaction to the current version
/// (so concurrent updates never lose each other's fields). It may refuse with an error.
pub type Edit<T> = Box<dyn FnOnce(&mut T) -> Result<()> + Send>;

/// Products, hierarchies and nodes, price books and their prices (`/pcm/...`).
///
/// Lists take filters already checked against the endpoint's supported fields and operators;
/// the field names are the wire names (`sku`, `parent_id`, …). Uniqueness rules are enforced by
/// the database and reported as `Conflict`. `update_*` returns `None` when there is no such
/// record; `delete_*` returns false.
#[async_trait]
pub trait CatalogStore {
    /// `Conflict` if the sku or slug is taken.
    async fn create_product(&self, product: Product) -> Result<Product>;
    async fn product(&self, id: Uuid) -> Result<Option<Product>>;
    /// Oldest first. Filters: `name`, `sku`, `slug`, `status`, `commodity_type`, `upc_ean`,
    /// `external_ref` with `eq`, `like`, `in`.
    async fn products(&self, filters: &[Filter], page: PageRequest) -> Result<Page<Product>>;
    async fn update_product(&self, id: Uuid, edit: Edit<Product>) -> Result<Option<Product>>;
    /// Also takes the product out of every node.
    async fn delete_product(&self, id: Uuid) -> Result<bool>;

    async fn create_hierarchy(&self, hierarchy: Hierarchy) -> Result<Hierarchy>;
    async fn hierarchy(&self, id: Uuid) -> Result<Option<Hierarchy>>;
    async fn hierarchies(&self, page: PageRequest) -> Result<Page<Hierarchy>>;
    async fn update_hierarchy(&self, id: Uuid, edit: Edit<Hierarchy>) -> Result<Option<Hierarchy>>;
    /// Deletes its nodes too.
    async fn delete_hierarchy(&self, id: Uuid) -> Result<bool>;

    /// `NotFound` if the parent is not a node of the same hierarchy; `Conflict` if a sibling has
    /// the same name or slug.
    async fn create_node(&self, node: Node) -> Result<Node>;
    async fn node(&self, hierarchy_id: Uuid, id: Uuid) -> Result<Option<Node>>;
    /// Every node of the hierarchy, at any depth. Filters: `parent_id` with `eq`.
    async fn nodes(&self, hierarchy_id: Uuid, filters: &[Filter], page: PageRequest) -> Result<Page<Node>>;
    /// As `create_node`, and `BadRequest` when the new parent is the node or one of its
    /// descendants.
    async fn update_node(&self, hierarchy_id: Uuid, id: Uuid, edit: Edit<Node>) -> Result<Option<Node>>;
    /// Deletes its descendants too.
    async fn delete_node(&self, hierarchy_id: Uuid, id: Uuid) -> Result<bool>;
    /// Places products in a node (placing one twice is no change). `NotFound` naming the first
    /// product that does not exist, and then nothing changes.
    async fn add_node_products(&self, node_id: Uuid, products: Vec<Uuid>, now: Millis) -> Result<()>;
    async fn remove_node_products(&self, node_id: Uuid, products: Vec<Uuid>) -> Result<()>;
    async fn node_products(&self, node_id: Uuid, page: PageRequest) -> Result<Page<Product>>;

    /// `Conflict` if the name is taken.
    async fn create_pricebook(&self, pricebook: Pricebook) -> Result<Pricebook>;
    async fn pricebook(&self, id: Uuid) -> Result<Option<Pricebook>>;
    /// Filters: `external_ref` with `eq`.
    async fn pricebooks(&self, filters: &[Filter], page: PageRequest) -> Result<Page<Pricebook>>;
    async fn update_pricebook(&self, id: Uuid, edit: Edit<Pricebook>) -> Result<Option<Pricebook>>;
    /// Deletes its prices too. `Conflict` while a catalog uses the price book: whatever refers to
    /// a price book does so by a foreign key that restricts deletion, and the store reports that
    /// violation as the conflict.
    async fn delete_pricebook(&self, id: Uuid) -> Result<bool>;

    /// `Conflict` if the price book already prices the sku.
    async fn create_price(&self, price: ProductPrice) -> Result<ProductPrice>;
    async fn price(&self, pricebook_id: Uuid, id: Uuid) -> Result<Option<ProductPrice>>;
    /// Filters: `sku` with `eq` and `in`, `external_ref` with `eq`.
    async fn prices(
        &self,
        pricebook_id: Uuid,
        filters: &[Filter],
        page: PageRequest,
    ) -> Result<Page<ProductPrice>>;
    async fn update_price(
        &self,
        pricebook_id: Uuid,
        id: Uuid,
        edit: Edit<ProductPrice>,
    ) -> Result<Option<ProductPrice>>;
    async fn delete_price(&self, pricebook_id: Uuid, id: Uuid) -> Result<bool>;
}

/// The store's currencies (`/v2/currencies`). Exactly one is the default at all times.
#[async_trait]
pub trait CurrencyStore {
    /// `Conflict` if the code is taken; `BadRequest` beyond [`crate::money::MAX_CURRENCIES`].
    /// A new default takes the default from the old one in the same transaction.
    async fn create_currency(&self, currency: Currency) -> Result<Currency>;
    async fn currency(&self, id: Uuid) -> Result<Option<Currency>>;
    /// Oldest first.
    async fn currencies(&self, page: PageRequest) -> Result<Page<Currency>>;
    /// As `create_currency`; taking the default away from the default currency is refused.
    async fn update_currency(&self, id: Uuid, edit: Edit<Currency>) -> Result<Option<Currency>>;
    /// `Conflict` for the default currency.
    async fn delete_currency(&self, id: Uuid) -> Result<bool>;
}
