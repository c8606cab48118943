//! The search indexes of the published releases: one per catalog, built in the background when a
//! release is published (or first seen), and swapped in whole once built.
//!
//! - **What is indexed** is what `/catalog/products` shows for the release: its live products,
//!   their node paths, extension attributes and the price each currency resolves to at build
//!   time. A request still chooses its release exactly as the shopper catalog does
//!   (tokens, `EP-Channel`, `EP-Context-Tag`), and the index of that release's *catalog* answers:
//!   never another catalog's.
//! - **Swaps are atomic**: a catalog's index is one `Arc` behind a lock. While a newer release
//!   of the catalog is being indexed, searches keep answering from the previous release's index
//!   (and render its hits from that same release), then switch at once.
//! - **Where**: with a directory (SQLite: beside the database file) each release's index is
//!   written there and reopened at the next start instead of rebuilt; without one (PostgreSQL)
//!   each node builds its indexes in memory from the release snapshots, at start and whenever it
//!   sees a newer release.
//! - **Cost**: one build at a time, on a thread of its own at the lowest scheduling priority,
//!   with a one-thread tantivy writer: a build takes the CPU that carts, checkouts and searches
//!   leave.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use kassa_core::money::Currency;
use kassa_core::release::ReleasedProduct;
use kassa_core::store::Store;
use kassa_core::time::{Millis, now_millis};
use kassa_search::fields::{self, CATEGORY_LEVELS, CATEGORY_SEPARATOR, is_brand_key};
use kassa_search::{SearchDoc, SearchIndex};
use serde_json::Value;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::background::run_at_lowest_priority;
use crate::catalog_view::{CatalogView, ShopperRelease, price_product};

/// A built index and the release it was built from (whose products its hits are).
#[derive(Debug)]
pub struct ReleaseSearch {
    pub release: Arc<ShopperRelease>,
    pub index: SearchIndex,
}

/// What an index is built from: the store and the shopper catalog's cache of parsed releases
/// (taken apart from `AppState`, which holds the indexes, so neither module imports the other).
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    pub store: &'a dyn Store,
    pub catalog_view: &'a CatalogView,
}

/// Every catalog's current search index; see the module documentation.
#[derive(Debug)]
pub struct SearchIndexes {
    dir: Option<PathBuf>,
    current: RwLock<HashMap<Uuid, Arc<ReleaseSearch>>>,
    building: Mutex<HashSet<Uuid>>,
    builds: Semaphore,
}

impl SearchIndexes {
    /// Indexes kept in memory.
    pub fn in_memory() -> Self {
        Self::with_dir(None)
    }

    /// Indexes kept in `dir` (made if missing), one directory per release.
    pub fn with_dir(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            current: RwLock::default(),
            building: Mutex::default(),
            builds: Semaphore::new(1),
        }
    }

    /// The index that answers for `release`'s catalog: `release`'s own once built, until then
    /// the catalog's previous one (`None` if it never had one). Starts building `release`'s if
    /// it is not built or being built.
    pub async fn for_release(
        self: &Arc<Self>,
        sources: Sources<'_>,
        release: &Arc<ShopperRelease>,
    ) -> Option<Arc<ReleaseSearch>> {
        let current = self
            .current
            .read()
            .expect("search index lock")
            .get(&release.catalog_id())
            .cloned();
        // Only a newer release is built: a node that has not yet seen a publish another node
        // indexed (its release choice is cached for a second) keeps answering from the newer one.
        if current
            .as_ref()
            .is_none_or(|c| c.release.release.published_at < release.release.published_at)
        {
            self.build(sources, Arc::clone(release)).await;
        }
        current
    }

    /// Starts building the index of `release` in the background, unless it is being built.
    pub async fn build(self: &Arc<Self>, sources: Sources<'_>, release: Arc<ShopperRelease>) {
        let id = release.release.id;
        if !self.building.lock().expect("search build lock").insert(id) {
            return;
        }
        let currencies = match sources.catalog_view.currencies(sources.store).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(release = %id, error = %e, "search index not built: currencies unreadable");
                self.building.lock().expect("search build lock").remove(&id);
                return;
            }
        };
        let this = Arc::clone(self);
        kassa_core::context::spawn(async move {
            let permit = this.builds.acquire().await;
            let started = std::time::Instant::now();
            let dir = this.dir.clone();
            let built_release = Arc::clone(&release);
            let built = run_at_lowest_priority("search-index", move || {
                build_index(&built_release, &currencies, dir.as_deref(), now_millis())
            })
            .await;
            drop(permit);
            match built {
                Ok(Ok(index)) => {
                    // Debug: a start-up (and the demo seed's publish) stays one line each.
                    tracing::debug!(
                        release = %id,
                        products = index.len(),
                        millis = started.elapsed().as_millis() as u64,
                        "search index ready"
                    );
                    this.install(release, index);
                }
                Ok(Err(e)) => tracing::error!(release = %id, error = %e, "search index build failed"),
                Err(e) => tracing::error!(release = %id, error = %e, "search index build failed to run"),
            }
            this.building.lock().expect("search build lock").remove(&id);
        });
    }

    /// Makes `index` its catalog's current one, unless a newer release's is already current.
    fn install(&self, release: Arc<ShopperRelease>, index: SearchIndex) {
        let catalog = release.catalog_id();
        let replaced = {
            let mut current = self.current.write().expect("search index lock");
            if current
                .get(&catalog)
                .is_some_and(|c| c.release.release.published_at > release.release.published_at)
            {
                Some(release.release.id)
            } else {
                current
                    .insert(catalog, Arc::new(ReleaseSearch { release, index }))
                    .map(|old| old.release.release.id)
            }
        };
        // Searches still holding the old index keep reading its (unlinked) files.
        if let (Some(dir), Some(old)) = (&self.dir, replaced) {
            let _ = std::fs::remove_dir_all(dir.join(old.to_string()));
        }
    }

    /// Builds (or, with a directory, reopens) the index of every catalog's newest release: at
    /// start and after a publish. Directories of releases no longer current are removed.
    pub async fn refresh(self: &Arc<Self>, sources: Sources<'_>) {
        let published = match sources.store.shopper_catalogs().await {
            Ok((_, published)) => published,
            Err(e) => {
                tracing::warn!(error = %e, "search indexes not refreshed: catalogs unreadable");
                return;
            }
        };
        if let Some(dir) = &self.dir {
            let keep: HashSet<String> = published.iter().map(|p| p.release.id.to_string()).collect();
            let building: HashSet<String> = self
                .building
                .lock()
                .expect("search build lock")
                .iter()
                .map(Uuid::to_string)
                .collect();
            remove_stale_dirs(dir, &keep, &building);
        }
        for p in published {
            let current = self
                .current
                .read()
                .expect("search index lock")
                .get(&p.catalog_id)
                .map(|c| c.release.release.id);
            if current == Some(p.release.id) {
                continue;
            }
            // Through the shopper catalog's cache: the index and `/catalog…` share one parsed copy.
            match sources.catalog_view.release(sources.store, &p.release).await {
                Ok(Some(release)) => self.build(sources, release).await,
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "a release snapshot is unreadable"),
            }
        }
    }
}

/// Removes index directories of releases not in `keep` (and half-built ones not in `building`).
fn remove_stale_dirs(dir: &Path, keep: &HashSet<String>, building: &HashSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let release = name.split('.').next().unwrap_or_default();
        if building.contains(release) || (keep.contains(&name) && !name.contains('.')) {
            continue;
        }
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

/// The index of `release`: reopened from `dir` when it is there and whole, else built (into a
/// scratch directory renamed into place when complete, so a crash leaves no half index behind).
pub fn build_index(
    release: &ShopperRelease,
    currencies: &[Currency],
    dir: Option<&Path>,
    now: Millis,
) -> std::io::Result<SearchIndex> {
    let docs = || search_docs(release, currencies, now);
    let numeric: Vec<String> = currencies.iter().map(|c| fields::price(&c.code)).collect();
    let Some(root) = dir else {
        return SearchIndex::build(docs(), &numeric, None);
    };
    let target = root.join(release.release.id.to_string());
    if target.is_dir() {
        if let Ok(Some(index)) = SearchIndex::open(&target, docs(), &numeric) {
            return Ok(index);
        }
        std::fs::remove_dir_all(&target)?;
    }
    let scratch = root.join(format!(
        "{}.building-{}",
        release.release.id,
        Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&scratch)?;
    let built = SearchIndex::build(docs(), &numeric, Some(&scratch));
    match built {
        Ok(index) => index.move_to(&scratch, &target),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&scratch);
            Err(e)
        }
    }
}

/// The release's products as the index sees them, in release order, made as they are read (a
/// document copies a product's text and values: ~1.5 KB, 150 MB for 100,000 products at once).
pub fn search_docs<'a>(
    release: &'a ShopperRelease,
    currencies: &'a [Currency],
    now: Millis,
) -> impl Iterator<Item = SearchDoc> + 'a {
    let snapshot = &release.snapshot;
    let hierarchies: HashMap<Uuid, &str> = snapshot
        .hierarchies
        .iter()
        .map(|h| (h.id, h.name.as_str()))
        .collect();
    let nodes: HashMap<Uuid, &kassa_core::catalog::Node> = snapshot.nodes.iter().map(|n| (n.id, n)).collect();
    // Each node's path of names from its hierarchy down: `[hierarchy, top node, …, node]`.
    let paths: HashMap<Uuid, Vec<String>> = snapshot
        .nodes
        .iter()
        .map(|node| {
            let mut names = vec![node.name.clone()];
            let mut parent = node.parent_id;
            // Bounded: a (corrupt) cycle cannot loop forever.
            while let Some(p) = parent.and_then(|id| nodes.get(&id)).filter(|_| names.len() < 64) {
                names.push(p.name.clone());
                parent = p.parent_id;
            }
            if let Some(h) = hierarchies.get(&node.hierarchy_id) {
                names.push((*h).to_owned());
            }
            names.reverse();
            (node.id, names)
        })
        .collect();
    snapshot
        .products
        .iter()
        .map(move |p| product_doc(release, p, &paths, currencies, now))
}

fn product_doc(
    release: &ShopperRelease,
    p: &ReleasedProduct,
    paths: &HashMap<Uuid, Vec<String>>,
    currencies: &[Currency],
    now: Millis,
) -> SearchDoc {
    let product = &p.product;
    let mut strings: Vec<(String, String)> = Vec::new();
    let mut numbers: Vec<(String, f64)> = Vec::new();
    let mut string = |field: &str, value: &str| strings.push((field.to_owned(), value.to_owned()));
    string(fields::ID, &product.id.to_string());
    string(fields::NAME, &product.name);
    string(fields::COMMODITY_TYPE, product.commodity_type.as_str());
    for kind in kassa_core::catalog_filter::product_types(product) {
        string(fields::PRODUCT_TYPES, kind);
    }
    if let Some(parent) = product.parent_id {
        string(fields::BASE_PRODUCT_ID, &parent.to_string());
    }
    if let Some(sku) = &product.sku {
        string(fields::SKU, sku);
    }
    if let Some(slug) = &product.slug {
        string(fields::SLUG, slug);
    }
    let mut categories: Vec<String> = Vec::new();
    let mut levels: Vec<(usize, String)> = Vec::new();
    for node_id in &p.node_ids {
        string(fields::NODES, &node_id.to_string());
        let Some(names) = paths.get(node_id) else {
            continue;
        };
        for level in 0..names.len().min(CATEGORY_LEVELS) {
            levels.push((level, names[..=level].join(CATEGORY_SEPARATOR)));
        }
        for name in names {
            if !categories.contains(name) {
                categories.push(name.clone());
            }
        }
    }
    levels.sort();
    levels.dedup();
    for (level, value) in &levels {
        string(&fields::category_level(*level), value);
    }
    for name in &categories {
        string(fields::CATEGORIES, name);
    }
    let mut attributes = Vec::new();
    if let Some(Value::Object(templates)) = product.extensions.as_ref().map(|e| e.to_value()) {
        for (template, values) in &templates {
            // `products(Details)` is the template `Details`.
            let template = template
                .strip_prefix("products(")
                .and_then(|t| t.strip_suffix(')'))
                .unwrap_or(template);
            let Value::Object(values) = values else { continue };
            for (key, value) in values {
                let field = format!("attributes.extensions.{template}.{key}");
                match value {
                    Value::String(s) => {
                        string(&field, s);
                        if is_brand_key(key) {
                            string(fields::BRAND, s);
                        }
                        attributes.push(s.clone());
                    }
                    Value::Bool(b) => string(&field, &b.to_string()),
                    Value::Number(n) => {
                        if let Some(n) = n.as_f64() {
                            numbers.push((field, n));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    numbers.push((fields::CREATED_AT.to_owned(), (product.created_at / 1000) as f64));
    if let Some(sku) = product.sku.as_deref() {
        for currency in currencies {
            if let Ok(price) = price_product(release, sku, &currency.code, 1, now) {
                numbers.push((fields::price(&currency.code), currency.money.float(price.amount)));
            }
        }
    }
    SearchDoc {
        name: product.name.to_string(),
        description: product.description.as_deref().unwrap_or_default().to_owned(),
        sku: product.sku.as_deref().unwrap_or_default().to_owned(),
        slug: product.slug.as_deref().unwrap_or_default().to_owned(),
        attributes,
        categories,
        strings,
        numbers,
    }
}
