//! The shopper's catalog: which published release a request sees, and what a product costs in
//! it. The shopper catalog routes and carts share this, so a cart prices an item exactly as
//! `/catalog/products/{id}` shows it.
//!
//! Speed: a release never changes, so each process keeps parsed releases by id (at most
//! [`RELEASE_CACHE_SIZE`], and only the newest of each catalog: a publish's release replaces
//! its catalog's previous one); a shopper read neither re-reads nor re-parses its snapshot. Which
//! release a shopper gets (the rules, the newest release of each catalog, the currencies), with the
//! store settings every cart request needs, is
//! cached for [`CHOICE_TTL`] and dropped at once on this node by a publish or a change to a
//! catalog or a rule; other nodes see such a change within [`CHOICE_TTL`].

use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kassa_core::cart_change::CartCatalog;
use kassa_core::carts::LineImage;
use kassa_core::catalog::Product;
use kassa_core::catalog_filter;
use kassa_core::catalog_rule::{CatalogRule, ShopperContext, resolve_catalog};
use kassa_core::money::Currency;
use kassa_core::pricing::{
    NoPrice, PriceSheet, RankedPricebook, ResolvedPrice, deciding_book, resolve_price,
};
use kassa_core::query::{Filter, FilterOp, PageRequest};
use kassa_core::release::{PublishedCatalog, Release, ReleasedProduct, Snapshot};
use kassa_core::settings::StoreSettings;
use kassa_core::store::Store;
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use uuid::Uuid;

/// How long a node may serve a release choice without asking the database again.
pub const CHOICE_TTL: Duration = Duration::from_secs(1);
/// Parsed releases kept per process.
pub const RELEASE_CACHE_SIZE: usize = 32;

pub const CHANNEL_HEADER: &str = "ep-channel";
pub const CONTEXT_TAG_HEADER: &str = "ep-context-tag";
pub const CURRENCY_HEADER: &str = "x-moltin-currency";

/// A published release, parsed and indexed for shopper reads.
#[derive(Debug)]
pub struct ShopperRelease {
    pub release: Release,
    pub snapshot: Snapshot,
    /// Each node's parent node (if any) and hierarchy: a product's categories, ancestors
    /// included, for the promotions' `item_category`.
    node_parents: HashMap<Uuid, (Option<Uuid>, Uuid)>,
    products: KeyIndex,
    skus: KeyIndex,
    slugs: KeyIndex,
    files: HashMap<Uuid, usize>,
    /// Each published parent's published children, in catalog order.
    children: HashMap<Uuid, Vec<usize>>,
}

fn id_of(p: &ReleasedProduct) -> Option<&[u8]> {
    Some(p.product.id.as_bytes())
}

fn sku_of(p: &ReleasedProduct) -> Option<&[u8]> {
    p.product.sku.as_deref().map(str::as_bytes)
}

fn slug_of(p: &ReleasedProduct) -> Option<&[u8]> {
    p.product.slug.as_deref().map(str::as_bytes)
}

/// The release's products by a unique key of theirs (id, sku, slug): a hash table of positions,
/// hashed and compared through the products' own keys, rather than a map owning a copy of every
/// key (~6 MB for 100,000 skus; 5 bytes a product here). A repeated key finds its last product.
#[derive(Debug)]
struct KeyIndex {
    key: fn(&ReleasedProduct) -> Option<&[u8]>,
    hasher: std::hash::RandomState,
    positions: hashbrown::HashTable<u32>,
}

impl KeyIndex {
    fn new(products: &[ReleasedProduct], key: fn(&ReleasedProduct) -> Option<&[u8]>) -> Self {
        let hasher = std::hash::RandomState::new();
        let mut positions = hashbrown::HashTable::with_capacity(products.len());
        let hash_of = |i: &u32| hasher.hash_one(key(&products[*i as usize]));
        for (i, p) in products.iter().enumerate() {
            let Some(value) = key(p) else { continue };
            let hash = hasher.hash_one(Some(value));
            let same = |j: &u32| key(&products[*j as usize]) == Some(value);
            match positions.entry(hash, same, hash_of) {
                hashbrown::hash_table::Entry::Occupied(mut e) => *e.get_mut() = i as u32,
                hashbrown::hash_table::Entry::Vacant(e) => {
                    e.insert(i as u32);
                }
            }
        }
        Self {
            key,
            hasher,
            positions,
        }
    }

    /// The position of the product whose key is `value`.
    fn get(&self, products: &[ReleasedProduct], value: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(Some(value));
        self.positions
            .find(hash, |&j| (self.key)(&products[j as usize]) == Some(value))
            .map(|&j| j as usize)
    }
}

impl ShopperRelease {
    pub fn new(release: Release, mut snapshot: Snapshot) -> Self {
        // A snapshot read from JSON grew its product list by doubling: for 100,000 products
        // ~30 % of it (13 MB) is spare room this release keeps for as long as it is served.
        snapshot.products.shrink_to_fit();
        let products = KeyIndex::new(&snapshot.products, id_of);
        let skus = KeyIndex::new(&snapshot.products, sku_of);
        let slugs = KeyIndex::new(&snapshot.products, slug_of);
        let files = snapshot
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id, i))
            .collect();
        let node_parents = snapshot
            .nodes
            .iter()
            .map(|n| (n.id, (n.parent_id, n.hierarchy_id)))
            .collect();
        let mut children: HashMap<Uuid, Vec<usize>> = HashMap::new();
        for (i, p) in snapshot.products.iter().enumerate() {
            if let Some(parent) = p.product.parent_id {
                children.entry(parent).or_default().push(i);
            }
        }
        Self {
            release,
            snapshot,
            node_parents,
            products,
            skus,
            slugs,
            files,
            children,
        }
    }

    /// The published children of a published parent, in catalog order.
    pub fn children_of(&self, parent: Uuid) -> impl Iterator<Item = &ReleasedProduct> {
        self.children
            .get(&parent)
            .into_iter()
            .flatten()
            .map(|&i| &self.snapshot.products[i])
    }

    /// The nodes a published product sits in, their ancestors and their hierarchies, as strings
    /// (what `item_category` names). Empty for a product not in this release.
    pub fn categories_of(&self, product_id: Uuid) -> Vec<String> {
        let Some(p) = self.product(product_id) else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for &node in &p.node_ids {
            let mut at = Some(node);
            // Bounded: a hierarchy is a tree, and a broken one stops after as many steps as nodes.
            for _ in 0..=self.node_parents.len() {
                let Some(id) = at else { break };
                let text = id.to_string();
                if out.contains(&text) {
                    break;
                }
                out.push(text);
                match self.node_parents.get(&id) {
                    Some((parent, hierarchy)) => {
                        let h = hierarchy.to_string();
                        if !out.contains(&h) {
                            out.push(h);
                        }
                        at = *parent;
                    }
                    None => at = None,
                }
            }
        }
        out
    }

    /// A file a published product shows (its main image or one of its files), as published.
    pub fn file(&self, id: Uuid) -> Option<&kassa_core::file::File> {
        self.files.get(&id).map(|&i| &self.snapshot.files[i])
    }

    /// The products that pass `filters` (checked against [`catalog_filter::PRODUCT_FILTERS`]),
    /// in catalog order. A term on `id`, `sku` or `slug` with `eq` or `in` narrows through the
    /// release's indexes first, so the storefront's lookups by id (`in(id,…)`) or slug cost the
    /// same whatever the size of the catalog.
    pub fn products_matching(&self, filters: &[Filter]) -> Vec<&ReleasedProduct> {
        let passes = |p: &&ReleasedProduct| catalog_filter::product_matches(&p.product, filters);
        match filters.iter().find_map(|f| self.indexed(f)) {
            Some(mut found) => {
                found.sort_unstable();
                found.dedup();
                found
                    .into_iter()
                    .map(|i| &self.snapshot.products[i])
                    .filter(passes)
                    .collect()
            }
            None => self.snapshot.products.iter().filter(passes).collect(),
        }
    }

    /// The positions of the products an `eq`/`in` term on an indexed field can match.
    fn indexed(&self, f: &Filter) -> Option<Vec<usize>> {
        if !matches!(f.op, FilterOp::Eq | FilterOp::In) {
            return None;
        }
        let found = match f.field.as_str() {
            "id" => f
                .values
                .iter()
                .filter_map(|v| Uuid::parse_str(v).ok())
                .filter_map(|id| self.products.get(&self.snapshot.products, id.as_bytes()))
                .collect(),
            "sku" => f
                .values
                .iter()
                .filter_map(|v| self.skus.get(&self.snapshot.products, v.as_bytes()))
                .collect(),
            "slug" => f
                .values
                .iter()
                .filter_map(|v| self.slugs.get(&self.snapshot.products, v.as_bytes()))
                .collect(),
            _ => return None,
        };
        Some(found)
    }

    /// A published (live) product of the release, by sku.
    pub fn product_by_sku(&self, sku: &str) -> Option<&ReleasedProduct> {
        self.skus
            .get(&self.snapshot.products, sku.as_bytes())
            .map(|i| &self.snapshot.products[i])
    }

    pub fn catalog_id(&self) -> Uuid {
        self.snapshot.catalog_id
    }

    /// A published (live) product of the release.
    pub fn product(&self, id: Uuid) -> Option<&ReleasedProduct> {
        self.products
            .get(&self.snapshot.products, id.as_bytes())
            .map(|i| &self.snapshot.products[i])
    }

    fn books(&self) -> Vec<RankedPricebook<'_>> {
        self.snapshot
            .pricebooks
            .iter()
            .map(|b| RankedPricebook {
                pricebook_id: b.id,
                priority: b.priority,
                prices: &b.prices,
            })
            .collect()
    }

    /// The price book that decides the price of `sku`, and its price sheet for it.
    pub fn deciding_sheet(&self, sku: &str) -> Option<(Uuid, &PriceSheet)> {
        let books = self.books();
        deciding_book(&books, sku).map(|(b, sheet)| (b.pricebook_id, sheet))
    }
}

/// The shopper's release is the catalog a cart change prices from.
impl CartCatalog for ShopperRelease {
    fn find_product(&self, id: Option<Uuid>, sku: Option<&str>) -> Option<&Product> {
        let released = match (id, sku) {
            (Some(id), _) => self.product(id),
            (None, Some(sku)) => self.product_by_sku(sku),
            (None, None) => None,
        };
        released.map(|r| &r.product)
    }

    fn unit_price(
        &self,
        sku: &str,
        currency: &str,
        quantity: u64,
        now: Millis,
    ) -> std::result::Result<ResolvedPrice, NoPrice> {
        price_product(self, sku, currency, quantity, now)
    }

    fn catalog_id(&self) -> Uuid {
        ShopperRelease::catalog_id(self)
    }

    fn line_image(&self, file_id: Uuid) -> Option<LineImage> {
        self.file(file_id).map(LineImage::of)
    }
}

/// The unit price of `quantity` units of `sku` in `currency` (an ISO code) at `now`, from the
/// release's price books: the one pricing function the shopper catalog and carts use.
pub fn price_product(
    release: &ShopperRelease,
    sku: &str,
    currency: &str,
    quantity: u64,
    now: Millis,
) -> std::result::Result<ResolvedPrice, NoPrice> {
    resolve_price(&release.books(), sku, currency, quantity, now)
}

/// What choosing a shopper's release and currency needs.
struct Choice {
    rules: Vec<CatalogRule>,
    published: Vec<PublishedCatalog>,
    currencies: Vec<Currency>,
    /// The store settings every cart request and checkout needs: cached with the rest, so
    /// they cost no database round trip per request either.
    settings: StoreSettings,
}

/// A release being read and parsed: every request that needs it meanwhile waits for this one
/// load instead of reading and parsing its own copy.
type Loading = Arc<tokio::sync::OnceCell<Option<Arc<ShopperRelease>>>>;

#[derive(Default)]
struct Releases {
    entries: HashMap<Uuid, (Arc<ShopperRelease>, u64)>,
    loading: HashMap<Uuid, Loading>,
    clock: u64,
}

impl Releases {
    /// `release` if it is cached, else a newer release of its catalog if one is: a choice that
    /// is a little stale (another node's publish, or one this node's choice has not seen yet)
    /// then gets the catalog's newest release rather than parsing a superseded one again.
    fn get(&mut self, release: &Release) -> Option<Arc<ShopperRelease>> {
        self.clock += 1;
        let clock = self.clock;
        let id = match self.entries.get(&release.id) {
            Some(_) => release.id,
            None => self
                .entries
                .iter()
                .filter(|(_, (r, _))| {
                    r.release.catalog_id == release.catalog_id && newer(&r.release, release)
                })
                .max_by_key(|(_, (r, _))| (r.release.published_at, r.release.id))
                .map(|(id, _)| *id)?,
        };
        let (found, used) = self.entries.get_mut(&id)?;
        *used = clock;
        Some(Arc::clone(found))
    }

    /// Caches `parsed`, dropping the releases of its catalog it supersedes (requests still
    /// holding one keep it until they finish); the least recently used release goes when full.
    /// A release older than one of its catalog's already cached is not cached.
    fn insert(&mut self, parsed: &Arc<ShopperRelease>) {
        let catalog = parsed.release.catalog_id;
        if self
            .entries
            .values()
            .any(|(r, _)| r.release.catalog_id == catalog && newer(&r.release, &parsed.release))
        {
            return;
        }
        self.entries.retain(|_, (r, _)| r.release.catalog_id != catalog);
        if self.entries.len() >= RELEASE_CACHE_SIZE
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| *id)
        {
            self.entries.remove(&oldest);
        }
        self.entries
            .insert(parsed.release.id, (Arc::clone(parsed), self.clock));
    }
}

/// Removes a release [`CatalogView::publish`] offered from the loads under way, unless a load
/// of its own replaced the offer.
struct Withdraw<'a> {
    releases: &'a Mutex<Releases>,
    id: Uuid,
    offered: Loading,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        let mut cache = self.releases.lock().expect("release cache lock");
        if cache
            .loading
            .get(&self.id)
            .is_some_and(|l| Arc::ptr_eq(l, &self.offered))
        {
            cache.loading.remove(&self.id);
        }
    }
}

/// Whether `a` was published after `b` (ties broken by id, as the store orders releases).
fn newer(a: &Release, b: &Release) -> bool {
    (a.published_at, a.id) > (b.published_at, b.id)
}

/// Per-process caches of the shopper catalog; see the module documentation.
#[derive(Default)]
pub struct CatalogView {
    choice: Mutex<Option<(Instant, Arc<Choice>)>>,
    /// Bumped by every invalidation, so a read that began before one is not cached.
    generation: AtomicU64,
    releases: Mutex<Releases>,
}

impl CatalogView {
    /// Forgets the cached choice so the next shopper read sees a publish or a rule or catalog
    /// change at once (on this node).
    pub fn invalidate(&self) {
        let mut cached = self.choice.lock().expect("catalog choice lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        *cached = None;
    }

    async fn choice(&self, store: &dyn Store) -> Result<Arc<Choice>> {
        if let Some((at, choice)) = &*self.choice.lock().expect("catalog choice lock")
            && at.elapsed() < CHOICE_TTL
        {
            return Ok(Arc::clone(choice));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let started = Instant::now();
        let (rules, published) = store.shopper_catalogs().await?;
        let currencies = store
            .currencies(PageRequest {
                limit: kassa_core::money::MAX_CURRENCIES,
                offset: 0,
            })
            .await?
            .items;
        let settings = store.store_settings().await?;
        let choice = Arc::new(Choice {
            rules,
            published,
            currencies,
            settings,
        });
        let mut cached = self.choice.lock().expect("catalog choice lock");
        // A read that an invalidation overtook is used once but not cached.
        if self.generation.load(Ordering::SeqCst) == generation
            && cached.as_ref().is_none_or(|(at, _)| *at < started)
        {
            *cached = Some((started, Arc::clone(&choice)));
        }
        Ok(choice)
    }

    /// The parsed release, from the cache or the store; `None` if it is no longer stored. A
    /// newer release of the same catalog, when one is cached, answers for an older one (see
    /// [`Releases::get`]).
    ///
    /// A release is read and parsed once however many requests need it at the same moment (all
    /// of them do, right after a publish), and parsed on the blocking pool: a 100,000-product
    /// release takes seconds of CPU that must not stall the requests sharing a runtime thread.
    pub async fn release(&self, store: &dyn Store, release: &Release) -> Result<Option<Arc<ShopperRelease>>> {
        self.release_read_by(release, || store.release_snapshot(release.id))
            .await
    }

    /// [`Self::release`], reading the snapshot with `read` when it is not cached.
    async fn release_read_by<F, R>(&self, release: &Release, read: F) -> Result<Option<Arc<ShopperRelease>>>
    where
        F: FnOnce() -> R,
        R: Future<Output = Result<Option<Snapshot>>>,
    {
        let loading = {
            let mut cache = self.releases.lock().expect("release cache lock");
            if let Some(found) = cache.get(release) {
                return Ok(Some(found));
            }
            Arc::clone(cache.loading.entry(release.id).or_default())
        };
        // If the request that is loading is dropped, a waiting one takes over.
        let loaded = loading
            .get_or_try_init(|| async {
                let Some(snapshot) = read().await? else {
                    return Ok::<_, Error>(None);
                };
                let release = release.clone();
                let parsed = tokio::task::spawn_blocking(move || ShopperRelease::new(release, snapshot))
                    .await
                    .map_err(Error::internal)?;
                Ok(Some(Arc::new(parsed)))
            })
            .await;
        let mut cache = self.releases.lock().expect("release cache lock");
        if cache
            .loading
            .get(&release.id)
            .is_some_and(|l| Arc::ptr_eq(l, &loading))
        {
            cache.loading.remove(&release.id);
        }
        let parsed = loaded?.clone();
        if let Some(parsed) = &parsed {
            cache.insert(parsed);
        }
        Ok(parsed)
    }

    /// Stores, with `write`, a release this node is publishing, and offers `parsed` (the
    /// snapshot it was made from, already parsed) to this node's shoppers: requests that choose
    /// the release once the write has committed take this copy instead of reading and parsing
    /// the stored snapshot again (seconds of CPU for a large catalog, while every request waits
    /// for it). Then forgets the cached choice, so the next shopper read sees the release at once
    /// on this node.
    pub async fn publish<F, R>(&self, parsed: Arc<ShopperRelease>, write: F) -> Result<Release>
    where
        F: FnOnce() -> R,
        R: Future<Output = Result<Release>>,
    {
        let id = parsed.release.id;
        // Offered before the write, as a load already done: no request can ask for this id
        // before the write commits, and one that asks at once after finds it ready.
        let offered: Loading = Arc::new(tokio::sync::OnceCell::new_with(Some(Some(Arc::clone(&parsed)))));
        self.releases
            .lock()
            .expect("release cache lock")
            .loading
            .insert(id, Arc::clone(&offered));
        // Withdrawn however this ends, the publish's future dropped included: if the write did
        // commit, a request then reads the release from the store as any other node does.
        let _withdraw = Withdraw {
            releases: &self.releases,
            id,
            offered,
        };
        let written = write().await?;
        self.releases.lock().expect("release cache lock").insert(&parsed);
        self.invalidate();
        Ok(written)
    }

    /// The release `ctx` sees: the newest release of the catalog the rules choose. `None` when no
    /// catalog is published.
    pub async fn shopper_release(
        &self,
        store: &dyn Store,
        ctx: &ShopperContext,
    ) -> Result<Option<Arc<ShopperRelease>>> {
        // A cached choice may name a release that a newer publish elsewhere has deleted: then
        // choose again from the database.
        for _ in 0..2 {
            let choice = self.choice(store).await?;
            let Some(published) = resolve_catalog(&choice.rules, &choice.published, ctx) else {
                return Ok(None);
            };
            if let Some(release) = self.release(store, &published.release).await? {
                return Ok(Some(release));
            }
            self.invalidate();
        }
        Err(Error::internal(
            "the chosen release vanished twice while being read",
        ))
    }

    /// The newest release of a published catalog (what a cart line's `catalog_id` names), from
    /// the cached choice and the release cache; `None` when the catalog has none.
    pub async fn newest_release_of(
        &self,
        store: &dyn Store,
        catalog_id: Uuid,
    ) -> Result<Option<Arc<ShopperRelease>>> {
        let choice = self.choice(store).await?;
        let Some(published) = choice.published.iter().find(|p| p.catalog_id == catalog_id) else {
            return Ok(None);
        };
        self.release(store, &published.release).await
    }

    /// The store settings, from the cached choice: a change made on this node is seen at once
    /// (its handler invalidates), one made on another node within [`CHOICE_TTL`].
    pub async fn store_settings(&self, store: &dyn Store) -> Result<StoreSettings> {
        Ok(self.choice(store).await?.settings.clone())
    }

    /// Every currency of the store (at most ten), from the cached choice: formatting money needs
    /// no database round trip per request.
    pub async fn currencies(&self, store: &dyn Store) -> Result<Vec<Currency>> {
        Ok(self.choice(store).await?.currencies.clone())
    }

    /// The enabled currency with this code, or the store's default currency without one.
    pub async fn currency(&self, store: &dyn Store, code: Option<&str>) -> Result<Currency> {
        let choice = self.choice(store).await?;
        let found = match code {
            Some(code) => choice
                .currencies
                .iter()
                .find(|c| c.enabled && c.code.eq_ignore_ascii_case(code)),
            None => choice.currencies.iter().find(|c| c.default),
        };
        found.cloned().ok_or_else(|| {
            Error::bad_request(
                "Currency not found",
                format!(
                    "The store has no enabled currency {}",
                    code.unwrap_or("marked as default")
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn release(catalog_id: Uuid, published_at: Millis) -> Release {
        Release {
            id: Uuid::new_v4(),
            catalog_id,
            published_at,
            total_products: 0,
            total_nodes: 0,
        }
    }

    fn snapshot(catalog_id: Uuid) -> Snapshot {
        Snapshot {
            catalog_id,
            catalog_name: "Tools".into(),
            hierarchies: Vec::new(),
            nodes: Vec::new(),
            products: Vec::new(),
            pricebooks: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Reads `release` through `view`, counting the snapshot reads in `reads`.
    async fn read(view: &CatalogView, release: &Release, reads: &AtomicUsize) -> Arc<ShopperRelease> {
        view.release_read_by(release, || async {
            reads.fetch_add(1, Ordering::SeqCst);
            // Slow enough that every concurrent caller arrives while it is being read.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(Some(snapshot(release.catalog_id)))
        })
        .await
        .unwrap()
        .unwrap()
    }

    fn product(i: u128, sku: Option<&str>, slug: Option<&str>) -> ReleasedProduct {
        ReleasedProduct {
            product: Product {
                id: Uuid::from_u128(i),
                name: format!("Product {i}").into(),
                sku: sku.map(Into::into),
                slug: slug.map(Into::into),
                description: None,
                status: kassa_core::catalog::ProductStatus::Live,
                commodity_type: kassa_core::catalog::CommodityType::Physical,
                upc_ean: None,
                mpn: None,
                external_ref: None,
                extensions: None,
                main_image: None,
                files: Box::default(),
                parent_id: None,
                child_options: Box::default(),
                is_parent: false,
                components: Default::default(),
                created_at: 0,
                updated_at: 0,
            },
            node_ids: Box::default(),
            variations: Box::default(),
        }
    }

    #[test]
    fn products_are_found_by_id_sku_and_slug() {
        let mut snapshot = snapshot(Uuid::new_v4());
        snapshot.products = (0..1000)
            .map(|i| {
                product(
                    i,
                    Some(&format!("SKU-{i}")),
                    (i % 2 == 0).then(|| format!("slug-{i}")).as_deref(),
                )
            })
            .chain([
                product(1000, None, None),
                product(1001, Some("SKU-7"), Some("again")),
            ])
            .collect();
        let parsed = ShopperRelease::new(release(snapshot.catalog_id, 1), snapshot);
        let id_of = |p: Option<&ReleasedProduct>| p.map(|p| p.product.id.as_u128());
        assert_eq!(id_of(parsed.product_by_sku("SKU-999")), Some(999));
        assert_eq!(id_of(parsed.product_by_sku("SKU-0")), Some(0));
        assert_eq!(id_of(parsed.product_by_sku("sku-999")), None, "skus are exact");
        assert_eq!(id_of(parsed.product_by_sku("SKU-1000")), None);
        // A repeated sku finds the last product with it, as the map it replaces did.
        assert_eq!(id_of(parsed.product_by_sku("SKU-7")), Some(1001));
        let by = |field: &str, values: &[&str]| -> Vec<u128> {
            let filter = Filter {
                field: field.into(),
                op: FilterOp::In,
                values: values.iter().map(|v| v.to_string()).collect(),
            };
            parsed
                .products_matching(&[filter])
                .iter()
                .map(|p| p.product.id.as_u128())
                .collect()
        };
        assert_eq!(by("slug", &["slug-4", "slug-5", "again", "none"]), [4, 1001]);
        assert_eq!(by("sku", &["SKU-3", "SKU-2"]), [2, 3]);
        assert_eq!(id_of(parsed.product(Uuid::from_u128(500))), Some(500));
        assert_eq!(id_of(parsed.product(Uuid::from_u128(5000))), None);
        let ids = [Uuid::from_u128(1001), Uuid::from_u128(6), Uuid::from_u128(7777)].map(|id| id.to_string());
        assert_eq!(by("id", &ids.each_ref().map(String::as_str)), [6, 1001]);
    }

    #[tokio::test]
    async fn a_release_needed_by_many_requests_at_once_is_read_once() {
        let view = CatalogView::default();
        let first = release(Uuid::new_v4(), 1);
        let reads = AtomicUsize::new(0);
        let got = futures_util::future::join_all((0..64).map(|_| read(&view, &first, &reads))).await;
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert!(got.iter().all(|r| Arc::ptr_eq(r, &got[0])));
        read(&view, &first, &reads).await;
        assert_eq!(reads.load(Ordering::SeqCst), 1, "then it is cached");
    }

    #[tokio::test]
    async fn a_newer_release_of_a_catalog_replaces_the_older_one_in_the_cache() {
        let view = CatalogView::default();
        let catalog = Uuid::new_v4();
        let (old, new) = (release(catalog, 1), release(catalog, 2));
        let other = release(Uuid::new_v4(), 1);
        let reads = AtomicUsize::new(0);
        let held = read(&view, &old, &reads).await;
        read(&view, &other, &reads).await;
        read(&view, &new, &reads).await;
        let cached: Vec<Uuid> = view.releases.lock().unwrap().entries.keys().copied().collect();
        assert_eq!(cached.len(), 2);
        assert!(cached.contains(&new.id) && cached.contains(&other.id));
        // What a request still holds stays whole.
        assert_eq!(held.release.id, old.id);
        // A stale choice naming the old release gets the newer one, with no read.
        let stale = read(&view, &old, &reads).await;
        assert_eq!((stale.release.id, reads.load(Ordering::SeqCst)), (new.id, 3));
        // The other catalog's release is its own.
        assert_eq!(read(&view, &other, &reads).await.release.id, other.id);
    }

    #[tokio::test]
    async fn a_release_this_node_publishes_is_served_without_reading_it_back() {
        let view = CatalogView::default();
        let published = release(Uuid::new_v4(), 1);
        let parsed = Arc::new(ShopperRelease::new(
            published.clone(),
            snapshot(published.catalog_id),
        ));
        let reads = AtomicUsize::new(0);
        // A request that asks while the write is under way (as one could only once it has
        // committed) gets the offered copy too.
        let written = view
            .publish(Arc::clone(&parsed), || async {
                assert!(Arc::ptr_eq(&read(&view, &published, &reads).await, &parsed));
                Ok(published.clone())
            })
            .await
            .unwrap();
        assert_eq!(written, published);
        assert!(Arc::ptr_eq(&read(&view, &published, &reads).await, &parsed));
        assert_eq!(reads.load(Ordering::SeqCst), 0);
        assert!(view.releases.lock().unwrap().loading.is_empty());
    }

    #[tokio::test]
    async fn a_publish_whose_write_fails_offers_nothing() {
        let view = CatalogView::default();
        let failed = release(Uuid::new_v4(), 1);
        let parsed = Arc::new(ShopperRelease::new(failed.clone(), snapshot(failed.catalog_id)));
        let outcome = view
            .publish(parsed, || async {
                Err(Error::not_found("Catalog not found", "gone"))
            })
            .await;
        assert!(outcome.is_err());
        let cache = view.releases.lock().unwrap();
        assert!(cache.loading.is_empty() && cache.entries.is_empty());
    }
}
