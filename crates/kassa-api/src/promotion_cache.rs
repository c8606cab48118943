//! The compiled rule promotions, cached per process: each promotion is compiled once per version
//! (`id`, `updated_at`), and the set is checked against the store's version stamp
//! ([`kassa_core::store::PromotionStore::promotions_version`], one indexed read) at most every
//! [`CHECK_TTL`]: a change on this node is seen at once (its handler invalidates), one on another
//! node sharing the database within that time, and at once by a checkout, which always checks.
//!
//! Also what a cart's pricing needs from them: [`cart_promotions`] builds the pipeline's
//! [`Promotions`] from a cart's contents.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kassa_core::Result;
use kassa_core::cart_pricing::Promotions;
use kassa_core::carts::CartContents;
use kassa_core::promotion_rules::{CartFacts, CodeFacts, LineFacts, sort_for_evaluation};
use kassa_core::promotions::{Compiled, ConsumeUnit, compile};
use kassa_core::store::Store;
use kassa_core::time::Millis;
use uuid::Uuid;

use crate::catalog_view::CatalogView;

/// How long a node trusts its compiled promotions without looking at the version stamp.
pub const CHECK_TTL: Duration = Duration::from_secs(1);

type List = Arc<Vec<Arc<Compiled>>>;

#[derive(Default)]
struct Cached {
    version: Option<i64>,
    checked: Option<Instant>,
    /// Every promotion by id, compiled (disabled ones too, so enabling one recompiles nothing).
    compiled: HashMap<Uuid, Arc<Compiled>>,
    /// The enabled ones in evaluation order.
    list: List,
}

/// How current the promotions a request uses must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The node's cache, at most [`CHECK_TTL`] old.
    Cached,
    /// As of now: the version stamp is read.
    Now,
    /// As of this version stamp, which the caller read just now (with the cart).
    AtVersion(i64),
}

impl From<bool> for Freshness {
    fn from(fresh: bool) -> Self {
        if fresh { Freshness::Now } else { Freshness::Cached }
    }
}

#[derive(Default)]
pub struct PromotionCache {
    cached: Mutex<Cached>,
    /// One reload at a time: requests that find the cache stale wait for it.
    reload: tokio::sync::Mutex<()>,
}

impl PromotionCache {
    /// Makes the next read look at the store (this node changed a promotion).
    pub fn invalidate(&self) {
        self.cached.lock().expect("promotion cache lock").checked = None;
    }

    /// The enabled promotions in evaluation order. With `fresh` (a checkout), the version stamp
    /// is read now whatever the cache's age.
    pub async fn enabled(&self, store: &dyn Store, fresh: bool) -> Result<List> {
        let fresh = if fresh { Freshness::Now } else { Freshness::Cached };
        self.enabled_as(store, fresh).await
    }

    /// [`PromotionCache::enabled`], fresh as `fresh` asks: a stamp read just now by the caller
    /// ([`Freshness::AtVersion`]) counts as read now.
    pub async fn enabled_as(&self, store: &dyn Store, fresh: Freshness) -> Result<List> {
        let known = match fresh {
            Freshness::AtVersion(v) => Some(v),
            _ => None,
        };
        let fresh = fresh != Freshness::Cached;
        if !fresh && let Some(list) = self.current() {
            return Ok(list);
        }
        // A stale cache is looked at by one request at a time; a checkout's fresh look reads the
        // stamp at once (checkouts must not queue behind each other), and takes the turn only
        // when the promotions did change.
        let _one = if fresh {
            None
        } else {
            Some(self.reload.lock().await)
        };
        if !fresh && let Some(list) = self.current() {
            return Ok(list);
        }
        let started = Instant::now();
        let version = match known {
            Some(v) => v,
            None => store.promotions_version().await?,
        };
        if let Some(list) = self.at_version(version, started) {
            return Ok(list);
        }
        let _one = match _one {
            Some(guard) => guard,
            None => self.reload.lock().await,
        };
        if let Some(list) = self.at_version(version, started) {
            return Ok(list);
        }
        let (version, all) = store.all_promotions().await?;
        let mut c = self.cached.lock().expect("promotion cache lock");
        let mut compiled = HashMap::with_capacity(all.len());
        for p in &all {
            let kept = c
                .compiled
                .get(&p.id)
                .filter(|k| k.updated_at == p.updated_at)
                .cloned();
            let one = match kept {
                Some(k) => k,
                None => match compile(p) {
                    Ok(k) => Arc::new(k),
                    Err(e) => {
                        tracing::warn!(promotion = %p.id, error = %e, "a kept promotion does not compile; skipped");
                        continue;
                    }
                },
            };
            compiled.insert(p.id, one);
        }
        let mut list: Vec<Arc<Compiled>> = compiled.values().filter(|p| p.enabled).cloned().collect();
        sort_for_evaluation(&mut list);
        c.compiled = compiled;
        c.list = Arc::new(list);
        c.version = Some(version);
        c.checked = Some(started);
        Ok(Arc::clone(&c.list))
    }

    /// The list, when it is the one of `version` (then it counts as checked at `at`).
    fn at_version(&self, version: i64, at: Instant) -> Option<List> {
        let mut c = self.cached.lock().expect("promotion cache lock");
        if c.version == Some(version) {
            c.checked = Some(c.checked.map_or(at, |t| t.max(at)));
            return Some(Arc::clone(&c.list));
        }
        None
    }

    fn current(&self) -> Option<List> {
        let c = self.cached.lock().expect("promotion cache lock");
        c.checked
            .filter(|at| at.elapsed() < CHECK_TTL)
            .map(|_| Arc::clone(&c.list))
    }
}

/// What a cart's pricing needs from the promotions: the enabled ones, the cart's facts (its
/// currency, attributes and codes) and each line's (categories from the newest release of the
/// line's catalog, read from the release cache). `None` when no promotion is enabled and the cart
/// has no code: nothing to evaluate.
pub async fn cart_promotions(
    cache: &PromotionCache,
    catalog_view: &CatalogView,
    store: &dyn Store,
    contents: &CartContents,
    currency: &str,
    now: Millis,
    fresh: impl Into<Freshness>,
) -> Result<Option<Promotions>> {
    let catalogs = contents.lines.iter().filter_map(|l| l.catalog_id);
    let inputs = promotion_inputs(cache, catalog_view, store, catalogs, fresh).await?;
    Ok(inputs.promotions_of(contents, currency, now))
}

/// The promotions and the releases their category rules need, read before a write so that the
/// cart after it can be priced inside the write's transaction (for its event), where nothing
/// can be awaited.
pub struct PromotionInputs {
    list: List,
    releases: HashMap<Uuid, Option<Arc<crate::catalog_view::ShopperRelease>>>,
}

/// [`PromotionInputs`] for carts whose product lines come from `catalogs`.
pub async fn promotion_inputs(
    cache: &PromotionCache,
    catalog_view: &CatalogView,
    store: &dyn Store,
    catalogs: impl Iterator<Item = Uuid>,
    fresh: impl Into<Freshness>,
) -> Result<PromotionInputs> {
    let list = cache.enabled_as(store, fresh.into()).await?;
    let mut releases = HashMap::new();
    if list.iter().any(|p| uses_categories(p)) {
        for catalog in catalogs {
            if let std::collections::hash_map::Entry::Vacant(e) = releases.entry(catalog) {
                e.insert(catalog_view.newest_release_of(store, catalog).await?);
            }
        }
    }
    Ok(PromotionInputs { list, releases })
}

impl PromotionInputs {
    /// The promotions of `contents` (see [`cart_promotions`]); a line of a catalog not read
    /// before has no categories.
    pub fn promotions_of(&self, contents: &CartContents, currency: &str, now: Millis) -> Option<Promotions> {
        if self.list.is_empty() {
            return None;
        }
        let lines = contents
            .lines
            .iter()
            .map(|l| {
                let nodes = match (l.catalog_id, l.product_id) {
                    (Some(catalog), Some(product)) => match self.releases.get(&catalog) {
                        Some(Some(release)) => release.categories_of(product),
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                };
                LineFacts {
                    sku: l.sku.clone(),
                    product_id: l.product_id,
                    catalog_id: l.catalog_id,
                    nodes,
                    custom: l.product_id.is_none(),
                    unit_amount: l.unit_amount,
                    quantity: l.quantity.max(0) as u64,
                }
            })
            .collect();
        let codes = contents
            .codes
            .iter()
            .map(|c| CodeFacts {
                promotion_id: c.promotion_id,
                code: c.code.clone(),
                // A used-up code applies nothing; a per-checkout code is otherwise not limited here
                // (its one use is counted by the checkout's transaction).
                applications_left: match (c.consume_unit, c.remaining()) {
                    (_, Some(0)) => Some(0),
                    (ConsumeUnit::PerApplication, left) => left.map(|n| n as u64),
                    (ConsumeUnit::PerCheckout, _) => None,
                },
            })
            .collect();
        Some(Promotions {
            list: Arc::clone(&self.list),
            cart: CartFacts {
                currency: currency.to_owned(),
                custom_attributes: contents.cart.custom_attributes.clone(),
                account_tags: Vec::new(),
                codes,
                now,
            },
            lines,
        })
    }
}

/// Whether a promotion names categories anywhere (only then are lines' categories looked up).
fn uses_categories(p: &Compiled) -> bool {
    use kassa_core::promotions::{ItemPred, Rule};
    fn pred(p: &ItemPred) -> bool {
        match p {
            ItemPred::Category { .. } => true,
            ItemPred::All(l) | ItemPred::Any(l) | ItemPred::None(l) => l.iter().any(pred),
            _ => false,
        }
    }
    fn rule(r: &Rule) -> bool {
        match r {
            Rule::Item(p) => pred(p),
            Rule::Bundle(parts) => parts.iter().any(|b| pred(&b.pred)),
            Rule::All(l) | Rule::Any(l) | Rule::None(l) => l.iter().any(rule),
            _ => false,
        }
    }
    p.rules.as_ref().is_some_and(rule)
        || p.actions
            .iter()
            .any(|a| a.condition.as_ref().is_some_and(pred) || a.bundle.iter().any(|b| pred(&b.pred)))
}
