//! The storage interface. Each method is one use-case and one transaction, so a backend can tune
//! its SQL freely and callers never see a transaction. Two implementations: the embedded SQLite
//! store and the PostgreSQL store; one behaviour suite runs against both.

use async_trait::async_trait;
use uuid::Uuid;

use crate::Result;
use crate::account::{
    Account, AccountSettings, Credential, Member, Membership, PasswordProfile, Realm, SelfSignup,
};
use crate::address::{Address, AddressFields, AddressOwner};
use crate::carts::{
    Cart, CartContents, CartItem, CartScope, CartStock, CartTaxItem, StockOf, TaxItemKey, TaxRefusal,
};
use crate::catalog::{Catalog, Hierarchy, Node, Pricebook, Product, ProductPrice};
use crate::catalog_rule::CatalogRule;
use crate::customer::CustomerQuery;
use crate::file::{File, FileContent, FilesChange, MediaChange};
use crate::integrations::{
    Attempt, DueJob, Emit, Event, Integration, IntegrationJob, IntegrationLog, JobHandoff,
};
use crate::inventory::{Location, Stock, StockAction, StockRefusal, StockTransaction};
use crate::money::Currency;
use crate::orders::{ClaimOutcome, IdempotencyClaim, IdempotentResponse, OrderItem, OrderQuery, PlacedOrder};
use crate::promotions::{PromotionCode, PromotionUsage, Redemption, RulePromotion};
use crate::query::{Condition, Filter, Page, PageRequest, Sort};
use crate::release::{PublishedCatalog, Release, ReleaseSource, Snapshot, SnapshotDocument};
use crate::settings::StoreSettings;
use crate::snapshot::{Fixture, TableShape};
use crate::time::Millis;
use crate::token::SigningKey;
use crate::variations::{BuildRules, Modifier, Variation, VariationOption, VariationTree};

/// Everything kassa persists. Split by aggregate so each part stays small.
#[async_trait]
pub trait Store:
    AuthStore
    + AccountStore
    + AddressStore
    + CustomerStore
    + CatalogStore
    + VariationStore
    + FileStore
    + CurrencyStore
    + InventoryStore
    + CartStore
    + SettingsStore
    + ReleaseStore
    + OrderStore
    + IdempotencyStore
    + PaymentStore
    + PromotionStore
    + IntegrationStore
    + Send
    + Sync
    + 'static
{
    /// Applies pending schema migrations (safe to run from several nodes at once).
    async fn migrate(&self) -> Result<()>;
    /// Cheap liveness check of the database, for `/readyz`.
    async fn ping(&self) -> Result<()>;
    /// Called once at a clean stop, after the last request has been answered.
    async fn close(&self) -> Result<()>;
    /// The tables a fixture holds, as this backend stores them ([`crate::snapshot`]).
    async fn fixture_shapes(&self) -> Result<Vec<TableShape>>;
    /// Everything the store holds but its credentials, read in one consistent snapshot: the
    /// emulator's export (`/_kassa/stores/{id}/export`, `kassa export`).
    async fn export(&self) -> Result<Fixture>;
    /// Replaces everything the store holds but its credentials (application keys and token
    /// signing keys, so tokens stay valid) with `fixture`'s data in one transaction, and moves
    /// the promotions' version stamp on so every node's cache reloads. A fixture that does not
    /// fit the schema, or whose rows the database refuses, changes nothing (`Validation`,
    /// `BadRequest`).
    async fn import(&self, fixture: Fixture) -> Result<()>;
    /// Deletes all of the store's data in one transaction, keeping its credentials: the store is
    /// as migrations leave a new one (its default currency and settings). The emulator's reset.
    async fn reset(&self) -> Result<()> {
        self.import(Fixture::empty()).await
    }
    /// The backend's own numbers for `GET /metrics` (writer batches, pool use), read from
    /// memory: cheap, and never a database round trip.
    fn stats(&self) -> crate::stats::StoreStats {
        crate::stats::StoreStats::default()
    }
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

/// Accounts, their members and memberships, and the realm members log in through.
#[async_trait]
pub trait AccountStore {
    /// Creates the account authentication settings and their realm unless they exist.
    async fn ensure_account_realm(&self, settings: AccountSettings, realm: Realm) -> Result<()>;
    async fn account_settings(&self) -> Result<AccountSettings>;
    async fn update_account_settings(&self, settings: AccountSettings) -> Result<()>;

    async fn realms(&self) -> Result<Vec<Realm>>;
    async fn realm(&self, id: Uuid) -> Result<Option<Realm>>;
    /// Replaces the realm's editable fields; false if there is no such realm.
    async fn update_realm(&self, realm: Realm) -> Result<bool>;

    async fn create_password_profile(&self, profile: PasswordProfile) -> Result<()>;
    async fn password_profile(&self, realm_id: Uuid, id: Uuid) -> Result<Option<PasswordProfile>>;
    async fn password_profiles(&self, realm_id: Uuid, page: PageRequest) -> Result<Page<PasswordProfile>>;
    async fn update_password_profile(&self, profile: PasswordProfile) -> Result<bool>;
    /// Also deletes the credentials under it.
    async fn delete_password_profile(&self, realm_id: Uuid, id: Uuid) -> Result<bool>;

    async fn create_member(&self, member: Member, events: Vec<Event>) -> Result<()>;
    async fn member(&self, id: Uuid) -> Result<Option<Member>>;
    async fn members(&self, filter: &[Condition], page: PageRequest) -> Result<Page<Member>>;
    /// False if there is none (then `events` are not written).
    async fn update_member(&self, member: Member, events: Vec<Event>) -> Result<bool>;
    /// Also deletes the member's credentials and memberships.
    async fn delete_member(&self, id: Uuid, events: Vec<Event>) -> Result<bool>;

    /// `Conflict` if the username is taken under the profile, or the member already has a
    /// credential there.
    async fn create_credential(&self, credential: Credential) -> Result<()>;
    async fn credential(&self, member_id: Uuid, id: Uuid) -> Result<Option<Credential>>;
    async fn credentials(&self, member_id: Uuid) -> Result<Vec<Credential>>;
    async fn update_credential(&self, credential: Credential) -> Result<bool>;
    async fn delete_credential(&self, member_id: Uuid, id: Uuid) -> Result<bool>;
    /// The credential for a login, by normalized username.
    async fn credential_by_username(&self, profile_id: Uuid, username: &str) -> Result<Option<Credential>>;

    /// `Conflict` on a duplicate registration_id; `NotFound` for an unknown parent.
    async fn create_account(&self, account: Account, events: Vec<Event>) -> Result<()>;
    async fn account(&self, id: Uuid) -> Result<Option<Account>>;
    async fn accounts(
        &self,
        filter: &[Condition],
        sort: Option<&Sort>,
        page: PageRequest,
    ) -> Result<Page<Account>>;
    async fn update_account(&self, account: Account, events: Vec<Event>) -> Result<bool>;
    /// Also deletes its memberships and addresses.
    async fn delete_account(&self, id: Uuid, events: Vec<Event>) -> Result<bool>;

    /// `Conflict` if the member already belongs to the account; `BadRequest` (`Membership limit
    /// reached`) if the member already belongs to `membership_limit` accounts, decided in the
    /// write's transaction, so parallel creates never exceed the limit.
    async fn create_membership(&self, membership: Membership, events: Vec<Event>) -> Result<()>;
    /// `membership_limit` (`/v2/settings/account-membership`).
    async fn membership_limit(&self) -> Result<i64>;
    async fn set_membership_limit(&self, limit: i64) -> Result<()>;
    async fn membership(&self, account_id: Uuid, id: Uuid) -> Result<Option<Membership>>;
    /// Whether the account exists, and whether this member belongs to it, in one read.
    async fn account_membership(&self, account_id: Uuid, member_id: Uuid) -> Result<(bool, bool)>;
    /// Touches `updated_at`; false if there is no such membership.
    async fn touch_membership(&self, account_id: Uuid, id: Uuid, now: crate::time::Millis) -> Result<bool>;
    async fn delete_membership(&self, account_id: Uuid, id: Uuid, events: Vec<Event>) -> Result<bool>;
    /// An account's memberships with their members, oldest first.
    async fn account_memberships(
        &self,
        account_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<(Membership, Member)>>;
    /// A member's memberships with their accounts, oldest first.
    async fn member_memberships(
        &self,
        member_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<(Membership, Account)>>;
    /// Members that do not belong to the account.
    async fn unassigned_members(&self, account_id: Uuid, page: PageRequest) -> Result<Page<Member>>;

    /// Creates the member, the credential and optionally an account with the membership, all or
    /// nothing.
    async fn self_signup(&self, signup: SelfSignup) -> Result<()>;
}

/// The saved addresses of accounts and customers (`…/addresses`).
#[async_trait]
pub trait AddressStore {
    /// Stores the address. `NotFound` if the owner does not exist; `BadRequest` (`Address limit
    /// reached`) if the owner already has the store's `shopper_address_limit` addresses, decided
    /// in the write's own transaction (the owner's row is locked, or the writer is single), so
    /// parallel creates never exceed it. A refused create stores nothing.
    async fn create_address(&self, address: Address, events: Vec<Event>) -> Result<Address>;
    /// The owner's address with this id; `None` for an unknown address or another owner's.
    async fn address(&self, owner: AddressOwner, id: Uuid) -> Result<Option<Address>>;
    /// One page of the owner's addresses, oldest first, with the filtered total; `None` if the
    /// owner does not exist. Conditions name the columns of [`crate::address::ADDRESS_FILTER_FIELDS`].
    async fn addresses(
        &self,
        owner: AddressOwner,
        filter: &[Condition],
        page: PageRequest,
    ) -> Result<Option<Page<Address>>>;
    /// Applies `edit` to the current fields inside the write's transaction and stores them with
    /// `updated_at = now`; `None` if there is no such address of this owner. A refused edit
    /// changes nothing.
    async fn update_address(
        &self,
        owner: AddressOwner,
        id: Uuid,
        edit: Edit<AddressFields>,
        now: Millis,
        emit: Option<Emit<Address>>,
    ) -> Result<Option<Address>>;
    /// False if there is no such address of this owner (then `events` are not written).
    async fn delete_address(&self, owner: AddressOwner, id: Uuid, events: Vec<Event>) -> Result<bool>;
}

/// A legacy customer. The password is only ever stored hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: Uuid,
    pub name: String,
    /// As given; uniqueness and lookups use [`crate::customer::normalize_email`] of it.
    pub email: String,
    pub password_hash: Option<String>,
    pub external_ref: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A partial update: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    /// `Some(None)` clears it.
    pub external_ref: Option<Option<String>>,
}

/// Customers (the identity model checkout also accepts).
#[async_trait]
pub trait CustomerStore {
    /// Fails with `Conflict` if another customer has the same email, ignoring case. `events` go
    /// to the outbox in the same transaction (as in every use-case that takes them).
    async fn create_customer(&self, customer: Customer, events: Vec<Event>) -> Result<Customer>;
    async fn customer(&self, id: Uuid) -> Result<Option<Customer>>;
    /// Looks up by email, ignoring case.
    async fn customer_by_email(&self, email: &str) -> Result<Option<Customer>>;
    /// Oldest first.
    async fn customers(&self, query: CustomerQuery) -> Result<Page<Customer>>;
    /// Applies `patch`; `None` if there is no such customer, `Conflict` on a taken email.
    /// `emit` renders the events of the customer after the change.
    async fn update_customer(
        &self,
        id: Uuid,
        patch: CustomerPatch,
        now: Millis,
        emit: Option<Emit<Customer>>,
    ) -> Result<Option<Customer>>;
    /// Also deletes the customer's addresses. False if there was none with this id (and then
    /// `events` are not written).
    async fn delete_customer(&self, id: Uuid, events: Vec<Event>) -> Result<bool>;
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
    /// Also takes the product out of every node, and deletes its children. Refused, deleting
    /// nothing, when a bundle names it or one of its children as an option: the store's foreign
    /// key from a bundle's options to products decides, also against a bundle written at the
    /// same time.
    async fn delete_product(&self, id: Uuid) -> Result<ProductDeletion>;

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

/// How `/pcm/products/{id}/relationships/variations` changes a product's variations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariationsChange {
    /// Attaches these (after those attached; one already attached stays where it is).
    Add(Vec<Uuid>),
    /// Detaches these (one not attached is no change).
    Remove(Vec<Uuid>),
    /// Attaches exactly these, in this order.
    Replace(Vec<Uuid>),
}

/// What `delete_product` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductDeletion {
    Deleted,
    NotFound,
    /// The bundle `bundle` names `product` (the product, or one of its children) as an option.
    /// `None` when the database refused the delete for a bundle written meanwhile and the
    /// bundle could not be read again.
    InBundle {
        bundle: Option<Uuid>,
        product: Uuid,
    },
}

/// What a build did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOutcome {
    /// Children this build added.
    pub created: usize,
    /// The parent's children after it.
    pub children: usize,
}

/// Variations, their options and modifiers (`/pcm/variations`), the variations attached to a
/// product, and the children built from them. `update_*` returns `None` when there is no such
/// record (an option or modifier also when it is not under the variation and option in the
/// path); `delete_*` returns false.
#[async_trait]
pub trait VariationStore {
    async fn create_variation(&self, variation: Variation) -> Result<Variation>;
    /// The variation with its options and their modifiers.
    async fn variation(&self, id: Uuid) -> Result<Option<VariationTree>>;
    /// Oldest first.
    async fn variations(&self, page: PageRequest) -> Result<Page<Variation>>;
    async fn update_variation(&self, id: Uuid, edit: Edit<Variation>) -> Result<Option<Variation>>;
    /// Deletes its options and their modifiers, and detaches it from every product.
    async fn delete_variation(&self, id: Uuid) -> Result<bool>;

    /// `NotFound` if there is no variation `option.variation_id`.
    async fn create_option(&self, option: VariationOption) -> Result<VariationOption>;
    async fn option(&self, variation_id: Uuid, id: Uuid) -> Result<Option<VariationOption>>;
    /// Oldest first.
    async fn options(&self, variation_id: Uuid, page: PageRequest) -> Result<Page<VariationOption>>;
    async fn update_option(
        &self,
        variation_id: Uuid,
        id: Uuid,
        edit: Edit<VariationOption>,
    ) -> Result<Option<VariationOption>>;
    async fn delete_option(&self, variation_id: Uuid, id: Uuid) -> Result<bool>;

    /// `NotFound` if there is no option `modifier.option_id` of the variation.
    async fn create_modifier(&self, variation_id: Uuid, modifier: Modifier) -> Result<Modifier>;
    async fn modifier(&self, variation_id: Uuid, option_id: Uuid, id: Uuid) -> Result<Option<Modifier>>;
    /// Oldest first.
    async fn modifiers(
        &self,
        variation_id: Uuid,
        option_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<Modifier>>;
    async fn update_modifier(
        &self,
        variation_id: Uuid,
        option_id: Uuid,
        id: Uuid,
        edit: Edit<Modifier>,
    ) -> Result<Option<Modifier>>;
    async fn delete_modifier(&self, variation_id: Uuid, option_id: Uuid, id: Uuid) -> Result<bool>;

    /// The variations attached to the product, in order; `None` if there is no such product.
    async fn product_variations(&self, product_id: Uuid) -> Result<Option<Vec<Uuid>>>;
    /// False if there is no such product. A validation error naming `data` when a variation to
    /// attach does not exist, `BadRequest` for a child product; then nothing changes.
    async fn change_product_variations(&self, product_id: Uuid, change: VariationsChange) -> Result<bool>;
    /// Builds the product's missing children ([`crate::variations::plan_build`]) in one
    /// transaction; `None` if there is no such product. A child already built for a combination
    /// (also by a build running at the same time) is never built again: the store's uniqueness
    /// of (parent, options) decides, not a read before the write. `Conflict` if a child's sku or
    /// slug is taken.
    async fn build_children(&self, product_id: Uuid, now: Millis) -> Result<Option<BuildOutcome>>;
    /// The product's children, oldest first; `None` if there is no such product.
    async fn children(&self, product_id: Uuid, page: PageRequest) -> Result<Option<Page<Product>>>;
    /// The build rules of those of `product_ids` that have them.
    async fn build_rules(&self, product_ids: &[Uuid]) -> Result<std::collections::HashMap<Uuid, BuildRules>>;
    /// Changes the product with `edit` and sets its build rules (`None` clears them), in one
    /// transaction; `None` if there is no such product. `build_children` reads them in its own.
    async fn update_product_rules(
        &self,
        product_id: Uuid,
        rules: Option<BuildRules>,
        edit: Edit<Product>,
    ) -> Result<Option<Product>>;
}

/// The store's currencies (`/v2/currencies`). Exactly one is the default at all times.
/// Files (`/v2/files`) and the products' main images and files. A file's bytes live apart from
/// its metadata, so listings never read them.
#[async_trait]
pub trait FileStore {
    /// Stores the file and, for an upload, its bytes, in one transaction.
    async fn create_file(&self, file: File, content: Option<Vec<u8>>, events: Vec<Event>) -> Result<()>;
    async fn file(&self, id: Uuid) -> Result<Option<File>>;
    /// Oldest first. `filter` was checked by `file::file_conditions`.
    async fn files(&self, filter: &[Condition], page: PageRequest) -> Result<Page<File>>;
    /// The stored content of an upload, without its bytes when its hash is one of `known` (the
    /// client's `If-None-Match`); `None` for an unknown id or a file kept elsewhere.
    async fn file_content(&self, id: Uuid, known: Vec<String>) -> Result<Option<FileContent>>;
    /// Deletes the file and its bytes; products that showed it lose it (their main image becomes
    /// none, their file list shrinks). False if there was no such file.
    async fn delete_file(&self, id: Uuid, events: Vec<Event>) -> Result<bool>;
    /// Sets or clears a product's main image, and its `updated_at`.
    async fn set_main_image(&self, product_id: Uuid, file: Option<Uuid>, now: Millis) -> Result<MediaChange>;
    /// Changes a product's files (see [`FilesChange`]), and its `updated_at`.
    async fn change_product_files(
        &self,
        product_id: Uuid,
        change: FilesChange,
        files: Vec<Uuid>,
        now: Millis,
    ) -> Result<MediaChange>;
}

#[async_trait]
pub trait CurrencyStore {
    /// `Conflict` if the code is taken; `BadRequest` beyond [`crate::money::MAX_CURRENCIES`].
    /// A new default takes the default from the old one in the same transaction.
    async fn create_currency(&self, currency: Currency, emit: Option<Emit<Currency>>) -> Result<Currency>;
    async fn currency(&self, id: Uuid) -> Result<Option<Currency>>;
    /// Oldest first.
    async fn currencies(&self, page: PageRequest) -> Result<Page<Currency>>;
    /// As `create_currency`; taking the default away from the default currency is refused.
    async fn update_currency(
        &self,
        id: Uuid,
        edit: Edit<Currency>,
        emit: Option<Emit<Currency>>,
    ) -> Result<Option<Currency>>;
    /// `Conflict` for the default currency.
    async fn delete_currency(&self, id: Uuid, events: Vec<Event>) -> Result<bool>;
}

/// Stock records, their positions at stock locations, the locations, and the transaction
/// history. Products are referenced by id only; a product without a stock record is not
/// stock-managed. A record's own levels are the position kept outside any location; its
/// `locations` are its positions at locations (see [`crate::inventory`]). Every change of a
/// position is one conditional update that refuses to take a level below zero, so no
/// interleaving of callers can oversell.
#[async_trait]
pub trait InventoryStore {
    /// `Conflict` if the product already has a stock record. The positions in `stock.locations`
    /// name their location by slug (their `location_id` is not read): an unknown slug is a
    /// validation error naming `data.attributes.locations.{slug}`, and then nothing is created.
    /// Returns the record as stored.
    async fn create_stock(&self, stock: Stock) -> Result<Stock>;
    /// With all its positions.
    async fn stock(&self, product_id: Uuid) -> Result<Option<Stock>>;
    /// Oldest first, each with all its positions.
    async fn stocks(&self, page: PageRequest) -> Result<Page<Stock>>;
    /// The records of those of `product_ids` that have one, by product id, each with all its
    /// positions; the others are not stock-managed.
    async fn stock_levels(&self, product_ids: &[Uuid]) -> Result<Vec<Stock>>;
    /// Also deletes its positions and transactions; false if there was none.
    async fn delete_stock(&self, product_id: Uuid) -> Result<bool>;
    /// `PUT /v2/inventories/{id}`: for each `(slug, Some(available))` sets the available level of
    /// the product's position at that location (creating it; what is allocated there stays), for
    /// each `(slug, None)` removes the position (`Conflict` while stock is allocated there; a
    /// position that does not exist is left alone), recording a `set` transaction of the new
    /// total for each. All or nothing: an unknown slug is a validation error naming
    /// `data.attributes.locations.{slug}`, a total past [`crate::inventory::MAX_TOTAL`] a
    /// refusal. Returns the record after it; `None` if there is none.
    async fn set_stock_positions(
        &self,
        product_id: Uuid,
        changes: Vec<(String, Option<i64>)>,
        now: Millis,
    ) -> Result<Option<Stock>>;

    /// Applies the transaction to the position it names (`location`: a slug; none for the
    /// position outside locations) and records it, all or nothing. `NotFound` without a stock
    /// record; an unknown location is a validation error naming `data.attributes.location`; a
    /// refusal (a [`StockRefusal`] as `BadRequest`) changes and records nothing. An `increment`
    /// or `set` at a location the product is not stocked at yet creates its position there.
    /// `events` are written only if the transaction is applied.
    async fn create_stock_transaction(&self, transaction: StockTransaction, events: Vec<Event>)
    -> Result<()>;
    async fn stock_transaction(&self, product_id: Uuid, id: Uuid) -> Result<Option<StockTransaction>>;
    /// Newest first.
    async fn stock_transactions(&self, product_id: Uuid, page: PageRequest)
    -> Result<Page<StockTransaction>>;

    /// Applies `action` to several products at once, recording one transaction per product:
    /// all or nothing. Products without a stock record are skipped. Repeated products are summed.
    /// The outer error is a storage failure or bad input (a quantity not in
    /// `1..=MAX_QUANTITY`); the inner one names the first product that was short, and then
    /// nothing changed.
    async fn adjust_stock(
        &self,
        action: StockAction,
        items: &[(Uuid, i64)],
        now: Millis,
    ) -> Result<Result<(), StockRefusal>>;

    /// Reserves stock for several products, all or nothing (see [`InventoryStore::adjust_stock`]).
    async fn allocate_stock(&self, items: &[(Uuid, i64)]) -> Result<Result<(), StockRefusal>> {
        self.adjust_stock(StockAction::Allocate, items, crate::time::now_millis())
            .await
    }

    /// `Conflict` if the slug is taken.
    async fn create_location(&self, location: Location) -> Result<Location>;
    async fn location(&self, id: Uuid) -> Result<Option<Location>>;
    /// Oldest first.
    async fn locations(&self, page: PageRequest) -> Result<Page<Location>>;
    /// As `create_location`.
    async fn update_location(&self, id: Uuid, edit: Edit<Location>) -> Result<Option<Location>>;
    /// `Conflict` while any product's position there holds stock (available or allocated);
    /// empty positions go with it. False if there was none.
    async fn delete_location(&self, id: Uuid) -> Result<bool>;
}

/// Carts and their lines. Every use-case that changes a cart's lines is one transaction that
/// serializes with other writers of the same cart, so parallel adds never lose an update.
#[async_trait]
pub trait CartStore {
    /// The cart with this id; an expired cart counts as gone.
    async fn cart(&self, id: &str, now: Millis) -> Result<Option<Cart>>;
    /// The cart with this id, created from `empty` if there is none (or it expired).
    async fn ensure_cart(&self, empty: Cart) -> Result<Cart>;
    /// `Conflict` if the id is taken.
    async fn create_cart(&self, cart: Cart) -> Result<()>;
    /// Replaces the cart's own fields (not its lines); false if there is none (then `events`
    /// are not written).
    async fn update_cart(&self, cart: Cart, events: Vec<Event>) -> Result<bool>;
    /// False if there was none (then `events` are not written).
    async fn delete_cart(&self, id: &str, events: Vec<Event>) -> Result<bool>;
    /// Newest `updated_at` first.
    async fn carts(&self, scope: CartScope, page: PageRequest, now: Millis) -> Result<Page<Cart>>;
    /// Oldest line first.
    async fn cart_items(&self, cart_id: &str) -> Result<Vec<CartItem>>;
    /// The live cart with its lines and tax items, and the stock levels asked for (those of
    /// products without a stock record are absent; positions only at the asked locations, and
    /// which of those locations exist), from one consistent read: the request paths that need
    /// several of these pay one hand-off to the database instead of one each.
    async fn cart_contents(
        &self,
        id: &str,
        now: Millis,
        stock: StockOf,
    ) -> Result<(Option<CartContents>, CartStock)>;
    /// [`Self::cart_contents`] for an add that names promotion codes, with, from the same read
    /// where the backend can, the codes each lower-cased name in `code_keys` finds (as
    /// [`PromotionStore::promotion_codes_by_key`], one list per key): the add pays one hand-off.
    async fn cart_contents_and_codes(
        &self,
        id: &str,
        now: Millis,
        stock: StockOf,
        code_keys: Vec<String>,
    ) -> Result<(Option<CartContents>, CartStock, Vec<Vec<PromotionCode>>)>;
    /// Adds lines to the cart `seen` (as the caller read it), creating it from `seen` if it is
    /// gone, so the first add to an unknown id is one write. A line whose `line_key` exists gets
    /// the quantity added (and the new unit price, and the item's location if it names one);
    /// others are inserted. Fixes the cart's
    /// currency if unset, bumps `updated_at`/`expires_at`. `BadRequest` past
    /// [`crate::carts::MAX_CART_ITEMS`] lines, `Conflict` if the cart changed owner since `seen`;
    /// then nothing changes. Returns the cart with all its lines and tax items; `emit` renders
    /// the events of the cart after the add, in its transaction.
    async fn add_cart_items(
        &self,
        seen: &Cart,
        currency: &str,
        items: Vec<CartItem>,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<CartContents> {
        self.add_cart_items_and_codes(seen, currency, items, Vec::new(), expires_at, emit)
            .await
    }
    /// [`CartStore::add_cart_items`] that also keeps promotion codes (by
    /// [`crate::promotions::code_key`]) on the cart, in the same transaction (a bulk add's
    /// `promotion_item`s). The answer's `codes` are those the cart held before.
    async fn add_cart_items_and_codes(
        &self,
        seen: &Cart,
        currency: &str,
        items: Vec<CartItem>,
        code_keys: Vec<String>,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<CartContents>;
    /// Sets quantities (0 removes the line) and the prices given with them, all or nothing:
    /// `NotFound` for an unknown line, then nothing changes. Returns the cart with all its lines
    /// and tax items; `emit` renders the events of the cart after the change, in its transaction.
    async fn set_cart_item_quantities(
        &self,
        cart_id: &str,
        changes: Vec<crate::carts::QuantityChange>,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<CartContents>;
    /// Removes every line (the cart and its associations stay); `emit` renders the cart after
    /// the change (its `cart.updated` event, in the change's transaction).
    async fn clear_cart_items(
        &self,
        cart_id: &str,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<()>;
    /// Deletes carts whose `expires_at` has passed; returns how many.
    async fn delete_expired_carts(&self, now: Millis) -> Result<u64>;

    /// Every tax item of the cart's lines, oldest first, in one query.
    async fn cart_tax_items(&self, cart_id: &str) -> Result<Vec<CartTaxItem>>;
    /// The lines and tax items of several carts in one read (a cart listing renders each cart's
    /// totals without a query per cart). Oldest first within each cart.
    async fn carts_contents(&self, cart_ids: &[String]) -> Result<(Vec<CartItem>, Vec<CartTaxItem>)>;
    /// Adds tax items (each naming its line by `item_id`) to a live cart in one transaction that
    /// serializes with the cart's other writers, and bumps `updated_at`/`expires_at` if anything
    /// was added. Each item is checked in order: its line must be in the cart and hold fewer than
    /// [`crate::carts::MAX_TAX_ITEMS_PER_ITEM`] tax items (counting those added before it). With
    /// `all_or_nothing`, one refusal means nothing is added. Returns one outcome per item.
    /// `NotFound` if the cart is gone.
    async fn add_cart_tax_items(
        &self,
        cart_id: &str,
        items: Vec<CartTaxItem>,
        all_or_nothing: bool,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<Vec<std::result::Result<CartTaxItem, TaxRefusal>>>;
    /// Replaces a tax item's name, code, jurisdiction and rate/amount, found by cart, line and id;
    /// false if there is none.
    async fn update_cart_tax_item(
        &self,
        tax: CartTaxItem,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<bool>;
    /// False if there was none.
    async fn delete_cart_tax_item(
        &self,
        key: TaxItemKey,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<bool>;
    /// Deletes every tax item of the cart; returns how many. Each of these tax item changes that
    /// changes something writes `emit`'s events (the cart after it) in its transaction.
    async fn delete_cart_tax_items(
        &self,
        cart_id: &str,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<u64>;

    /// Adds custom discounts (each on the cart, or on the line its `item_id` names) to a live
    /// cart in one transaction that serializes with the cart's other writers, deciding each by
    /// [`crate::custom_discounts::plan`] on the cart as it is there (its flag, lines and custom
    /// discounts); bumps `updated_at`/`expires_at` if anything was added. Returns one outcome
    /// per discount. `NotFound` if the cart is gone.
    async fn add_custom_discounts(
        &self,
        cart_id: &str,
        discounts: Vec<crate::custom_discounts::CustomDiscount>,
        all_or_nothing: bool,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<
        Vec<std::result::Result<crate::custom_discounts::CustomDiscount, crate::custom_discounts::Refusal>>,
    >;
    /// Replaces a custom discount's fields, found by cart, line (`None`: the cart's own) and id;
    /// false if there is none.
    async fn update_custom_discount(
        &self,
        discount: crate::custom_discounts::CustomDiscount,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<bool>;
    /// Deletes one custom discount, found by cart, line (`None`: the cart's own) and id; false
    /// if there was none.
    async fn delete_custom_discount(
        &self,
        cart_id: &str,
        item_id: Option<Uuid>,
        id: Uuid,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<bool>;
    /// Deletes every custom discount of the cart and its lines; returns how many. Each of these
    /// custom discount changes that changes something writes `emit`'s events (the cart after
    /// it) in its transaction.
    async fn delete_custom_discounts(
        &self,
        cart_id: &str,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<u64>;
    /// The custom discounts of several carts (and their lines) in one read, oldest first within
    /// each cart (a cart listing).
    async fn carts_custom_discounts(
        &self,
        cart_ids: &[String],
    ) -> Result<Vec<crate::custom_discounts::CustomDiscount>>;
}

/// The store-wide settings record (there is always one; defaults until first changed).
#[async_trait]
pub trait SettingsStore {
    async fn store_settings(&self) -> Result<StoreSettings>;
    async fn update_store_settings(&self, settings: StoreSettings, events: Vec<Event>) -> Result<()>;
}

/// Catalogs, their published releases and the catalog rules (`/catalogs...`), and what the
/// shopper catalog reads.
#[async_trait]
pub trait ReleaseStore {
    /// A validation error naming `data.attributes.hierarchy_ids` or `data.attributes.pricebook_ids`
    /// when one of them does not exist.
    async fn create_catalog(&self, catalog: Catalog) -> Result<Catalog>;
    async fn catalog(&self, id: Uuid) -> Result<Option<Catalog>>;
    /// Oldest first.
    async fn catalogs(&self, page: PageRequest) -> Result<Page<Catalog>>;
    /// As `create_catalog`.
    async fn update_catalog(&self, id: Uuid, edit: Edit<Catalog>) -> Result<Option<Catalog>>;
    /// Deletes its releases and rules too.
    async fn delete_catalog(&self, id: Uuid) -> Result<bool>;

    /// Everything a publish of the catalog needs, read in one transaction (a consistent view);
    /// `None` if there is no such catalog. The store may leave out draft products and prices
    /// of skus that are not placed.
    async fn release_source(&self, catalog_id: Uuid) -> Result<Option<ReleaseSource>>;
    /// Stores the release with its snapshot and, in the same transaction, deletes all but the
    /// newest [`crate::release::RELEASES_KEPT`] releases of its catalog. `NotFound` if the
    /// catalog is gone.
    async fn publish_release(
        &self,
        release: Release,
        snapshot: SnapshotDocument,
        events: Vec<Event>,
    ) -> Result<Release>;
    /// Newest first.
    async fn releases(&self, catalog_id: Uuid) -> Result<Vec<Release>>;
    async fn release(&self, catalog_id: Uuid, id: Uuid) -> Result<Option<Release>>;
    async fn release_snapshot(&self, id: Uuid) -> Result<Option<Snapshot>>;

    /// A validation error naming `data.attributes.catalog_id` if there is no such catalog.
    async fn create_catalog_rule(&self, rule: CatalogRule, events: Vec<Event>) -> Result<CatalogRule>;
    async fn catalog_rule(&self, id: Uuid) -> Result<Option<CatalogRule>>;
    /// Oldest first.
    async fn catalog_rules(&self, page: PageRequest) -> Result<Page<CatalogRule>>;
    /// As `create_catalog_rule`.
    async fn update_catalog_rule(
        &self,
        id: Uuid,
        edit: Edit<CatalogRule>,
        emit: Option<Emit<CatalogRule>>,
    ) -> Result<Option<CatalogRule>>;
    /// False if there was none (then `events` are not written).
    async fn delete_catalog_rule(&self, id: Uuid, events: Vec<Event>) -> Result<bool>;

    /// Every rule and the newest release of every published catalog, in one read: what
    /// choosing a shopper's catalog needs.
    async fn shopper_catalogs(&self) -> Result<(Vec<CatalogRule>, Vec<PublishedCatalog>)>;
}

/// Orders, written once by checkout.
#[async_trait]
pub trait OrderStore {
    /// Stores the order with its items and, when given, completes the idempotency key the
    /// request claimed, all in one transaction: afterwards either all of it exists or none.
    /// `Conflict` if the key is no longer claimed in flight (it completed elsewhere).
    ///
    /// Each redemption adds to its code's uses in the same transaction, only while that stays
    /// within `max_uses` (else [`crate::promotions::code_used_up`]) and, with a per-shopper limit,
    /// within the usages of the order's customer, account or guest email
    /// ([`crate::promotions::shopper_limit_reached`]); it records a usage. A refusal places
    /// nothing and counts nothing.
    async fn place_order(
        &self,
        order: PlacedOrder,
        items: Vec<OrderItem>,
        redemptions: Vec<Redemption>,
        idempotency: Option<IdempotentResponse>,
        events: Vec<Event>,
    ) -> Result<()>;
    /// The order and its items (in cart order), read together.
    async fn order(&self, id: Uuid) -> Result<Option<(PlacedOrder, Vec<OrderItem>)>>;
    /// One page of the orders in `query.scope` matching its conditions, in its order, with the
    /// filtered total; with `with_items`, each order's items (read for the whole page at once,
    /// in the same snapshot), else empty item lists.
    async fn orders(&self, query: OrderQuery) -> Result<Page<(PlacedOrder, Vec<OrderItem>)>>;
}

/// Idempotency keys (`Idempotency-Key`): one record per (scope, key), kept for
/// [`crate::orders::IDEMPOTENCY_TTL_MS`].
#[async_trait]
pub trait IdempotencyStore {
    /// Claims the key in flight unless a live record exists, and reports what it found. An
    /// expired record, or an in-flight one past its lease, is replaced.
    async fn claim_idempotency_key(&self, claim: IdempotencyClaim) -> Result<ClaimOutcome>;
    /// Stores the response of a claimed key (for use-cases that have no transaction of their own
    /// to do it in). `Conflict` if the key is not claimed in flight.
    async fn complete_idempotency_key(&self, response: IdempotentResponse) -> Result<()>;
    /// Gives up an in-flight claim (the request failed; a retry may run it again).
    async fn release_idempotency_key(&self, scope: &str, key: &str) -> Result<()>;
    /// Deletes records past their expiry; returns how many.
    async fn delete_expired_idempotency_keys(&self, now: Millis) -> Result<u64>;
}

/// Renders the response an idempotency key remembers from the outcome of an order change.
pub type RememberResponse = Box<dyn FnOnce(&crate::payments::ChangedOrder) -> IdempotentResponse + Send>;

/// Payment gateways and the changes an order goes through after checkout.
#[async_trait]
pub trait PaymentStore {
    /// The stored `enabled` flags, `(slug, enabled)`; a gateway never set is not listed.
    async fn gateway_settings(&self) -> Result<Vec<(String, bool)>>;
    async fn set_gateway_enabled(
        &self,
        slug: &str,
        enabled: bool,
        now: Millis,
        events: Vec<Event>,
    ) -> Result<()>;
    /// The order's transactions, oldest first.
    async fn order_transactions(&self, order_id: Uuid) -> Result<Vec<crate::payments::PaymentTransaction>>;
    /// Applies one change in one transaction that serializes with every other change of the
    /// order: loads the order and its transactions, runs [`crate::payments::plan`], writes the
    /// transaction, moves the stock of the order's stock-managed products and updates the
    /// order's statuses and amounts. A refusal (as [`crate::payments::refusal_error`]) or short
    /// stock (`Insufficient stock`) changes nothing. `None` if there is no such order or
    /// `access` does not allow changing it (the caller answers 404 for both).
    /// With `remember`, the response it renders from the outcome completes the request's
    /// idempotency key in the same transaction (`Conflict` if the key is no longer claimed).
    async fn change_order(
        &self,
        order_id: Uuid,
        access: crate::orders::OrderAccess,
        change: crate::payments::OrderChange,
        now: Millis,
        remember: Option<RememberResponse>,
        emit: Option<Emit<crate::payments::ChangedOrder>>,
    ) -> Result<Option<crate::payments::ChangedOrder>>;
}

/// Rule promotions, their codes and usages, and the codes added to carts.
#[async_trait]
pub trait PromotionStore {
    /// A number that changes with every promotion write (create, update, delete): what a node
    /// compares to know whether its compiled promotions are current. One indexed read.
    async fn promotions_version(&self) -> Result<i64>;
    /// Every promotion with the version it was read at (one snapshot).
    async fn all_promotions(&self) -> Result<(i64, Vec<RulePromotion>)>;
    /// `BadRequest` past [`crate::promotions::MAX_PROMOTIONS`].
    async fn create_promotion(&self, promotion: RulePromotion) -> Result<()>;
    async fn promotion(&self, id: Uuid) -> Result<Option<RulePromotion>>;
    /// Oldest first.
    async fn promotions(&self, page: PageRequest) -> Result<Page<RulePromotion>>;
    /// Replaces the promotion; false if there is none.
    async fn update_promotion(&self, promotion: RulePromotion) -> Result<bool>;
    /// With its codes (usages stay, as order history); false if there was none.
    async fn delete_promotion(&self, id: Uuid) -> Result<bool>;

    /// Inserts the codes, all or nothing: `Conflict` naming the codes whose (case-insensitive)
    /// name the promotion has already, `NotFound` if there is no such promotion.
    async fn create_promotion_codes(&self, promotion_id: Uuid, codes: Vec<PromotionCode>) -> Result<()>;
    /// Oldest first.
    async fn promotion_codes(&self, promotion_id: Uuid, page: PageRequest) -> Result<Page<PromotionCode>>;
    /// The codes with this lower-cased name ([`crate::promotions::code_key`]), one per
    /// promotion that has it.
    async fn promotion_codes_by_key(&self, key: &str) -> Result<Vec<PromotionCode>>;
    /// Deletes the promotion's codes with these ids, or all of them when `ids` is empty;
    /// answers how many.
    async fn delete_promotion_codes(&self, promotion_id: Uuid, ids: Vec<Uuid>) -> Result<u64>;
    /// Newest first; only of the code with this key when given.
    async fn promotion_usages(
        &self,
        promotion_id: Uuid,
        code_key: Option<String>,
        page: PageRequest,
    ) -> Result<Page<PromotionUsage>>;
    /// Blanks the customer, account and email of these usages; answers the ids it changed.
    async fn anonymize_usages(&self, ids: Vec<Uuid>, now: Millis) -> Result<Vec<Uuid>>;

    /// Adds a code (by key) to a live cart, bumping its `updated_at`/`expires_at`; adding it
    /// again changes nothing. `NotFound` if the cart is gone. `emit` renders the cart after the
    /// change (its `cart.updated` event, in the change's transaction).
    async fn add_cart_code(
        &self,
        cart_id: &str,
        code_key: &str,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<()>;
    /// False if the cart did not hold the code (then nothing is emitted).
    async fn remove_cart_code(
        &self,
        cart_id: &str,
        code_key: &str,
        now: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<bool>;

    /// Keeps a job (it goes with its promotion).
    async fn create_promotion_job(&self, job: crate::promotion_jobs::PromotionJob) -> Result<()>;
    /// The promotion's jobs, newest first, without their files.
    async fn promotion_jobs(&self, promotion_id: Uuid) -> Result<Vec<crate::promotion_jobs::PromotionJob>>;
    /// One job of the promotion, with its file.
    async fn promotion_job(
        &self,
        promotion_id: Uuid,
        id: Uuid,
    ) -> Result<Option<crate::promotion_jobs::PromotionJob>>;
    /// The file of the export job whose link names `token`.
    async fn promotion_job_file(&self, token: &str) -> Result<Option<String>>;
}

/// Integrations, the outbox of their events and the log of every delivery attempt.
///
/// Every use-case of another part of the store that takes `events` writes them with the
/// backend's `outbox` module in its own transaction: one job per event and enabled integration
/// that observes the event's kind, read in that transaction (so a change on any node sees every
/// committed integration).
#[async_trait]
pub trait IntegrationStore {
    async fn create_integration(&self, integration: Integration, events: Vec<Event>) -> Result<()>;
    async fn integration(&self, id: Uuid) -> Result<Option<Integration>>;
    /// Oldest first.
    async fn integrations(&self, page: PageRequest) -> Result<Page<Integration>>;
    /// Applies `edit` to the current version in the write's transaction; `None` if there is none.
    async fn update_integration(
        &self,
        id: Uuid,
        edit: Edit<Integration>,
        emit: Emit<Integration>,
    ) -> Result<Option<Integration>>;
    /// Also deletes its jobs and logs. False if there was none.
    async fn delete_integration(&self, id: Uuid, events: Vec<Event>) -> Result<bool>;
    /// The event names that some enabled integration observes.
    async fn observed_events(&self) -> Result<Vec<String>>;

    /// Takes up to `limit` due jobs of enabled integrations for one attempt each: jobs that are
    /// pending, due by `now` and not leased (or whose lease ended), oldest due first. Each gets
    /// its next attempt number and a lease for `node` until `lease_until`; two callers never
    /// get the same job while its lease lasts (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite:
    /// its single writer).
    async fn lease_jobs(
        &self,
        node: Uuid,
        now: crate::time::Millis,
        lease_until: crate::time::Millis,
        limit: usize,
    ) -> Result<Vec<DueJob>>;
    /// Offers `handoff` the jobs this store's writes make from now on (see [`JobHandoff`]); false
    /// when the backend does not hand jobs over and the worker must poll for every job.
    async fn hand_over_jobs(&self, _handoff: JobHandoff) -> Result<bool> {
        Ok(false)
    }
    /// Logs each attempt and settles its job (delivered, failed, or due again at `retry_at`),
    /// all in one transaction. A job whose lease `node` no longer holds for that attempt (it
    /// ended and another node took the job) keeps its state; the attempt is still logged.
    async fn record_attempts(&self, node: Uuid, attempts: Vec<Attempt>) -> Result<()>;
    /// Newest first: every integration's, one integration's, or one job's logs.
    async fn integration_logs(
        &self,
        integration: Option<Uuid>,
        job: Option<Uuid>,
        page: PageRequest,
    ) -> Result<Page<IntegrationLog>>;
    /// An integration's jobs, newest first.
    async fn integration_jobs(&self, integration: Uuid, page: PageRequest) -> Result<Page<IntegrationJob>>;
    /// Deletes delivered and failed jobs (and their logs) last changed before `before`; returns how
    /// many jobs.
    async fn delete_finished_jobs(&self, before: crate::time::Millis) -> Result<u64>;
}
