//! The cart-change plan: the rules of adding items to a cart (`POST /v2/carts/{id}/items`),
//! changing line quantities and re-pricing lines at checkout, as pure functions over what the
//! handler read: the cart's lines, the requested items, a [`CartCatalog`] (the shopper's
//! published catalog) and the [`KnownStock`].
//!
//! An add is decided in two steps, because which stock it needs is known only once its products
//! are found: [`price_products`] resolves each requested product and its price (volume tiers
//! count the whole line), and [`PricedProducts::decide`] checks stock (unless the cart defers
//! it) and the cart's size on the lines as read. Each refused item is an [`ItemRefusal`] naming
//! its field; the handler renders it. The store decides the size again on the lines it writes,
//! in its transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;
use uuid::Uuid;

use crate::bundles::{self, LineBundle, Selection};
use crate::carts::{
    Cart, CartItem, CartLimit, CartSize, CartStock, CartTaxItem, ItemKind, LineImage, QuantityChange,
    product_line_key,
};
use crate::catalog::Product;
use crate::inventory::Stock;
use crate::pricing::{NoPrice, ResolvedPrice};
use crate::time::Millis;

/// What the plan needs of the shopper's published catalog.
pub trait CartCatalog {
    /// The product a request names: by id if it has one, else by sku.
    fn find_product(&self, id: Option<Uuid>, sku: Option<&str>) -> Option<&Product>;
    /// The unit price of `quantity` units of `sku` in `currency` at `now` (sales and volume
    /// tiers applied).
    fn unit_price(
        &self,
        sku: &str,
        currency: &str,
        quantity: u64,
        now: Millis,
    ) -> Result<ResolvedPrice, NoPrice>;
    /// The catalog a line priced from it records.
    fn catalog_id(&self) -> Uuid;
    /// The image a line of a product whose main image is this file shows.
    fn line_image(&self, file_id: Uuid) -> Option<LineImage>;
}

/// How an item came into an add: named itself, or one line of a merged cart or re-ordered order
/// (whose refusals name the `cart_id` or `order_id` of the request's item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Item,
    Merge,
    Reorder,
}

/// A catalog product to add, priced by [`price_products`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProductRequest {
    /// Where the item was in the request (`data`, `data[2]`), for refusal sources.
    pub base: String,
    pub id: Option<Uuid>,
    pub sku: Option<String>,
    pub quantity: i64,
    pub custom_inputs: Value,
    /// The slug of the stock location to draw from.
    pub location: Option<String>,
    /// A bundle's `bundle_configuration.selected_options` as the request gave it; without it a
    /// bundle is added with its default selection.
    pub selected_options: Option<Value>,
    pub via: Via,
}

/// A line to add, with where it came from in the request.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLine {
    pub base: String,
    pub via: Via,
    pub item: CartItem,
}

impl NewLine {
    /// Where a [`CartLimit`] refusal of this line points.
    pub fn limit_source(&self, limit: CartLimit) -> String {
        let field = match (self.via, self.item.kind, limit) {
            (Via::Merge, ..) => "cart_id",
            (Via::Reorder, ..) => "order_id",
            (Via::Item, ItemKind::Custom, CartLimit::Total) => "price.amount",
            (Via::Item, ..) => "quantity",
        };
        format!("{}.{field}", self.base)
    }
}

/// Why an item of an add is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request named a product (by `id`, else `sku`) the catalog does not hold.
    ProductNotFound { id: Option<Uuid>, sku: Option<String> },
    /// The product is a parent (children are built from it): only its children are sold.
    ParentProduct { product_id: Uuid },
    /// The item named a stock location that does not exist.
    LocationNotFound { slug: String },
    /// The product has no sku, so no price.
    NoSku { product_id: Uuid },
    /// The item gave a `bundle_configuration` for a product that is no bundle.
    NotABundle { product_id: Uuid },
    /// The bundle's selection breaks its components' rules (the source names the field).
    Configuration { detail: String },
    /// The product has no price in the cart's currency.
    NoPrice {
        product_id: Uuid,
        sku: String,
        currency: String,
    },
    /// The line would hold more than the stock available to it.
    InsufficientStock { product_id: Uuid, name: String },
    /// The line or the cart would grow past what it may hold.
    Limit(CartLimit),
}

/// A refused item, and the field of the request the refusal names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRefusal {
    pub source: String,
    pub refusal: Refusal,
}

impl ItemRefusal {
    fn at(base: &str, field: &str, refusal: Refusal) -> Self {
        Self {
            source: format!("{base}.{field}"),
            refusal,
        }
    }
}

/// The stock an add checks: the records of the products read (a product without one is not
/// stock-managed), with their positions at the locations read, and which of those locations
/// exist.
#[derive(Debug, Default)]
pub struct KnownStock {
    /// Products whose record (or its absence) is known, and at which locations.
    read: HashSet<(Uuid, Option<String>)>,
    stock: HashMap<Uuid, Stock>,
    /// The slugs the request's items named, read with the cart.
    asked: HashSet<String>,
    locations: HashMap<String, Uuid>,
}

impl KnownStock {
    /// What was read with the cart: the stock of `products` at no location and at each of
    /// `slugs`, and which of those locations exist.
    pub fn new(products: &[Uuid], slugs: &[String], read: CartStock) -> Self {
        let mut known = HashSet::new();
        for id in products {
            known.insert((*id, None));
            known.extend(slugs.iter().map(|s| (*id, Some(s.clone()))));
        }
        Self {
            read: known,
            stock: read.stock.into_iter().map(|s| (s.product_id, s)).collect(),
            asked: slugs.iter().cloned().collect(),
            locations: read.locations.into_iter().collect(),
        }
    }

    /// Whether an item named this location and it does not exist. (A merged cart's lines keep
    /// the locations they were added with; checkout checks those again.)
    pub fn location_missing(&self, slug: &str) -> bool {
        self.asked.contains(slug) && !self.locations.contains_key(slug)
    }

    /// What is available to a line of the product at `location` (or outside locations); `None`
    /// if the product is not stock-managed. Only for positions read.
    pub fn available(&self, product_id: Uuid, location: Option<&str>) -> Option<i64> {
        self.stock.get(&product_id).map(|s| s.at(location).available)
    }

    /// The products of those positions not read yet (each once, sorted): products a re-order
    /// brought in, and lines a location-less add merges into that draw from a location.
    pub fn unread(&self, wanted: &[(Uuid, Option<String>)]) -> Vec<Uuid> {
        let mut missing: Vec<Uuid> = wanted
            .iter()
            .filter(|w| !self.read.contains(*w))
            .map(|(id, _)| *id)
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }

    /// Records the stock read for the [`unread`](Self::unread) `products` (each record with all
    /// its positions; a product without one is not stock-managed), so `wanted` is known.
    pub fn learn(&mut self, products: &[Uuid], found: Vec<Stock>, wanted: &[(Uuid, Option<String>)]) {
        for id in products {
            self.stock.remove(id);
        }
        for stock in found {
            self.stock.insert(stock.product_id, stock);
        }
        self.read.extend(wanted.iter().cloned());
    }
}

/// The products the requests name (by id or sku) in the catalog, and the locations they name,
/// for reading their stock together with the cart.
pub fn requested_products<'a, C: CartCatalog>(
    catalog: Option<&C>,
    requests: impl Iterator<Item = &'a ProductRequest>,
) -> (Vec<Uuid>, Vec<String>) {
    let mut slugs: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    for p in requests {
        if let Some(slug) = &p.location
            && !slugs.contains(slug)
        {
            slugs.push(slug.clone());
        }
        if let Some(product) = catalog.and_then(|c| c.find_product(p.id, p.sku.as_deref())) {
            if product.is_bundle() {
                // A bundle line draws on its components' stock, whichever are selected.
                ids.extend(bundles::option_ids(&product.components));
            } else {
                ids.push(product.id);
            }
        }
    }
    (ids, slugs)
}

/// A product line priced for an add, before its stock is checked.
#[derive(Debug)]
struct PricedLine {
    /// What the cart's line of the product holds already.
    in_cart: i64,
    /// The location the line draws from.
    location: Option<String>,
    /// A bundle line's components: the products one bundle takes, how many, and their names (a
    /// bundle takes its components' stock, any other line its product's).
    components: Option<Vec<(Uuid, i64, String)>>,
    line: NewLine,
}

/// A line's unit price in `currency` at `now`: `(amount, includes tax)`, or the sku without
/// a price.
type LinePrice = Result<(i64, bool), String>;

/// The unit prices of a bundle selection's products in `currency` at `now` (those that have
/// one), whether all of them include tax, and the sku of the first without a price.
fn option_prices<C: CartCatalog>(
    catalog: &C,
    selection: &Selection,
    currency: &str,
    now: Millis,
) -> (BTreeMap<Uuid, i64>, bool, Option<String>) {
    let mut prices = BTreeMap::new();
    let mut includes_tax = true;
    let mut missing = None;
    for &id in selection.values().flat_map(BTreeMap::keys) {
        let sku = catalog
            .find_product(Some(id), None)
            .and_then(|p| p.sku.as_deref());
        match sku.map(|sku| (sku, catalog.unit_price(sku, currency, 1, now))) {
            Some((_, Ok(price))) => {
                includes_tax &= price.includes_tax;
                prices.insert(id, price.amount);
            }
            Some((sku, Err(_))) => {
                missing.get_or_insert_with(|| sku.to_owned());
            }
            None => {
                missing.get_or_insert_with(|| id.to_string());
            }
        }
    }
    (prices, includes_tax, missing)
}

/// Prices a line of the product `sku` (of `quantity` units: volume tiers count the line) in
/// `currency` at `now`: its own price, or for a bundle without one the sum of its `selection`'s
/// unit prices times their quantities (including tax if every one of them does). A bundle line
/// also gets its record, with its products' prices (what its component taxes weigh by).
fn price_line<C: CartCatalog>(
    catalog: &C,
    sku: &str,
    bundle: Option<(&Product, &Selection)>,
    currency: &str,
    quantity: u64,
    now: Millis,
) -> (LinePrice, Option<LineBundle>) {
    let own = catalog
        .unit_price(sku, currency, quantity, now)
        .map(|p| (p.amount, p.includes_tax))
        .map_err(|_| sku.to_owned());
    let Some((product, selection)) = bundle else {
        return (own, None);
    };
    let (prices, includes_tax, missing) = option_prices(catalog, selection, currency, now);
    let price = own.or_else(|unpriced| match missing {
        Some(sku) => Err(sku),
        None => bundles::bundle_price(None, selection, |id| prices.get(&id).copied())
            .map(|sum| (sum, includes_tax))
            .ok_or(unpriced),
    });
    (
        price,
        Some(LineBundle::of(&product.components, selection, prices)),
    )
}

/// Checks a bundle's selection (the request's, or else the bundle's defaults) against its
/// components: the selection, or each problem as a refusal naming its field under `base`.
fn bundle_selection(
    product: &Product,
    given: Option<&Value>,
    base: &str,
) -> Result<Selection, Vec<ItemRefusal>> {
    let defaults;
    let value = match given {
        Some(v) => v,
        None => {
            defaults =
                serde_json::to_value(bundles::default_selection(&product.components)).unwrap_or_default();
            &defaults
        }
    };
    let mut v = crate::Validator::new();
    let selection = bundles::check_selection(
        &product.components,
        value,
        &format!("{base}.bundle_configuration.selected_options"),
        &mut v,
    );
    match v.finish() {
        Ok(()) => Ok(selection),
        Err(crate::Error::Validation(problems)) => Err(problems
            .into_iter()
            .map(|p| ItemRefusal {
                source: p.source,
                refusal: Refusal::Configuration { detail: p.detail },
            })
            .collect()),
        Err(_) => Ok(selection),
    }
}

/// Product requests priced: the lines found, and the requests refused.
#[derive(Debug)]
pub struct PricedProducts {
    lines: Vec<PricedLine>,
    refusals: Vec<ItemRefusal>,
}

/// Prices product requests from the catalog at the cart's quantity of each line (volume tiers
/// count the whole line): each found product becomes a line of `cart` priced in `currency`, and
/// each request for a product the catalog lacks, at a location that does not exist, or without
/// a price, is refused.
pub fn price_products<C: CartCatalog>(
    catalog: Option<&C>,
    cart: &Cart,
    existing: &[CartItem],
    currency: &str,
    requests: Vec<ProductRequest>,
    stock: &KnownStock,
    now: Millis,
) -> PricedProducts {
    let mut lines = Vec::new();
    let mut refusals = Vec::new();
    for p in requests {
        let found = catalog.and_then(|c| Some((c, c.find_product(p.id, p.sku.as_deref())?)));
        let Some((catalog, product)) = found else {
            refusals.push(ItemRefusal::at(
                &p.base,
                "id",
                Refusal::ProductNotFound { id: p.id, sku: p.sku },
            ));
            continue;
        };
        if product.is_parent {
            refusals.push(ItemRefusal::at(
                &p.base,
                "id",
                Refusal::ParentProduct {
                    product_id: product.id,
                },
            ));
            continue;
        }
        if let Some(slug) = &p.location
            && stock.location_missing(slug)
        {
            refusals.push(ItemRefusal::at(
                &p.base,
                "location",
                Refusal::LocationNotFound { slug: slug.clone() },
            ));
            continue;
        }
        let selection = match (product.is_bundle(), &p.selected_options) {
            (false, None) => None,
            (false, Some(_)) => {
                refusals.push(ItemRefusal::at(
                    &p.base,
                    "bundle_configuration",
                    Refusal::NotABundle {
                        product_id: product.id,
                    },
                ));
                continue;
            }
            (true, given) => match bundle_selection(product, given.as_ref(), &p.base) {
                Ok(selection) => Some(selection),
                Err(problems) => {
                    refusals.extend(problems);
                    continue;
                }
            },
        };
        let line_key = match &selection {
            Some(selection) => bundles::line_key(product_line_key(product.id, &p.custom_inputs), selection),
            None => product_line_key(product.id, &p.custom_inputs),
        };
        let line = existing.iter().find(|l| l.line_key == line_key);
        let in_cart: i64 = line.map_or(0, |l| l.quantity);
        // The line draws from the location named now, or else the one it drew from.
        let location = p
            .location
            .clone()
            .or_else(|| line.and_then(|l| l.location.clone()));
        let Some(sku) = product.sku.as_deref() else {
            refusals.push(ItemRefusal::at(
                &p.base,
                "id",
                Refusal::NoSku {
                    product_id: product.id,
                },
            ));
            continue;
        };
        let quantity = in_cart.saturating_add(p.quantity).max(1) as u64;
        let bundled = selection.as_ref().map(|s| (product, s));
        let (price, bundle) = price_line(catalog, sku, bundled, currency, quantity, now);
        let (unit_amount, includes_tax) = match price {
            Ok(price) => price,
            Err(unpriced) => {
                refusals.push(ItemRefusal::at(
                    &p.base,
                    "id",
                    Refusal::NoPrice {
                        product_id: product.id,
                        sku: unpriced,
                        currency: currency.to_owned(),
                    },
                ));
                continue;
            }
        };
        let components = bundle.as_ref().map(|bundle| {
            let name = |id: Uuid| catalog.find_product(Some(id), None).map(|c| c.name.to_string());
            bundle
                .products(1)
                .into_iter()
                .map(|(id, per)| (id, per, name(id).unwrap_or_else(|| id.to_string())))
                .collect()
        });
        let item = CartItem {
            id: crate::ids::new_id(),
            cart_id: cart.id.clone(),
            kind: ItemKind::Product,
            line_key,
            product_id: Some(product.id),
            sku: Some(sku.to_owned()),
            name: product.name.to_string(),
            description: product.description.as_deref().map(str::to_owned),
            slug: product.slug.as_deref().map(str::to_owned),
            quantity: p.quantity,
            unit_amount,
            includes_tax,
            custom_inputs: p.custom_inputs,
            catalog_id: Some(catalog.catalog_id()),
            location: p.location,
            image: product.main_image.and_then(|id| catalog.line_image(id)),
            bundle,
            created_at: now,
            updated_at: now,
        };
        lines.push(PricedLine {
            in_cart,
            location,
            components,
            line: NewLine {
                base: p.base,
                via: p.via,
                item,
            },
        });
    }
    PricedProducts { lines, refusals }
}

/// What an add writes, and what it refuses, in the order the request named them.
#[derive(Debug, Default)]
pub struct AddDecision {
    pub lines: Vec<CartItem>,
    pub refusals: Vec<ItemRefusal>,
}

impl PricedProducts {
    /// The `(product, location)` positions whose stock [`decide`](Self::decide) checks: none
    /// when the cart defers its inventory check.
    pub fn stock_positions(&self, cart: &Cart) -> Vec<(Uuid, Option<String>)> {
        if cart.defer_inventory_check {
            return Vec::new();
        }
        self.lines
            .iter()
            .flat_map(|p| {
                let products: Vec<Uuid> = match &p.components {
                    Some(components) => components.iter().map(|c| c.0).collect(),
                    None => p.line.item.product_id.into_iter().collect(),
                };
                products.into_iter().map(|id| (id, p.location.clone()))
            })
            .collect()
    }

    /// Decides the add of `custom` lines and these product lines to the cart as read (`lines`
    /// and `taxes`): a product line that would hold more than the stock available to it is
    /// refused (unless the cart defers its inventory check; the stock of
    /// [`stock_positions`](Self::stock_positions) must be known), and then each line, custom
    /// ones first, that would take a line past its quantity or the cart past what can be
    /// totalled is refused on its own.
    pub fn decide(
        self,
        custom: Vec<NewLine>,
        cart: &Cart,
        lines: &[CartItem],
        taxes: &[CartTaxItem],
        stock: &KnownStock,
    ) -> AddDecision {
        let mut refusals = self.refusals;
        let mut added = custom;
        if cart.defer_inventory_check {
            added.extend(self.lines.into_iter().map(|p| p.line));
        } else {
            let mut wanted: HashMap<(Uuid, Option<String>), i64> = HashMap::new();
            for PricedLine {
                in_cart,
                location,
                components,
                line,
            } in self.lines
            {
                let product = line.item.product_id.unwrap_or_default();
                let draws = components.unwrap_or_else(|| vec![(product, 1, String::new())]);
                // The first product (or bundle component) short of stock refuses the line.
                let mut short = None;
                for (product_id, per, name) in draws {
                    let available = stock.available(product_id, location.as_deref());
                    let total = wanted
                        .entry((product_id, location.clone()))
                        .or_insert(in_cart.saturating_mul(per));
                    *total = total.saturating_add(line.item.quantity.saturating_mul(per));
                    if short.is_none() && available.is_some_and(|a| *total > a) {
                        let name = if name.is_empty() {
                            line.item.name.clone()
                        } else {
                            name
                        };
                        short = Some(Refusal::InsufficientStock { product_id, name });
                    }
                }
                match short {
                    Some(refusal) => refusals.push(ItemRefusal::at(&line.base, "quantity", refusal)),
                    None => added.push(line),
                }
            }
        }
        let mut size = CartSize::of(lines, taxes);
        let fits: Vec<bool> = added
            .iter()
            .map(|line| match size.try_add(&line.item) {
                Ok(()) => true,
                Err(limit) => {
                    refusals.push(ItemRefusal {
                        source: line.limit_source(limit),
                        refusal: Refusal::Limit(limit),
                    });
                    false
                }
            })
            .collect();
        drop(size);
        AddDecision {
            lines: added
                .into_iter()
                .zip(fits)
                .filter_map(|(line, fits)| fits.then_some(line.item))
                .collect(),
            refusals,
        }
    }
}

/// Whether an add with refusals changes nothing: a single item, or several (a bulk add, a merge,
/// a re-order) with `add_all_or_nothing`, or when nothing is left to add. Otherwise the accepted
/// lines are added and the refusals reported beside them.
pub fn add_refused_whole(refused: bool, several: bool, all_or_nothing: bool, accepted: usize) -> bool {
    refused && (!several || all_or_nothing || accepted == 0)
}

/// Whether setting these `(line id, quantity)` changes prices a product line again (so needs
/// the catalog): a product line kept (quantity above 0).
pub fn changes_reprice(lines: &[CartItem], quantities: &[(Uuid, i64)]) -> bool {
    quantities
        .iter()
        .any(|&(item_id, quantity)| quantity > 0 && product_line(lines, item_id).is_some())
}

fn product_line(lines: &[CartItem], item_id: Uuid) -> Option<&CartItem> {
    lines
        .iter()
        .find(|l| l.id == item_id && l.kind == ItemKind::Product)
}

/// The quantity changes, each product line priced again at its new quantity from the catalog
/// in the cart's `currency` as an add prices it, so volume tiers follow the quantity down as
/// well as up. A line whose product or price has left the catalog keeps its price (checkout
/// refuses it); so does every line of a cart without a currency or without a catalog.
pub fn quantity_changes<C: CartCatalog>(
    catalog: Option<&C>,
    currency: Option<&str>,
    lines: &[CartItem],
    quantities: Vec<(Uuid, i64)>,
    now: Millis,
) -> Vec<QuantityChange> {
    quantities
        .into_iter()
        .map(|(item_id, quantity)| {
            let unit_price = match (catalog, currency, product_line(lines, item_id)) {
                (Some(catalog), Some(currency), Some(line)) if quantity > 0 => line
                    .sku
                    .as_deref()
                    .filter(|_| {
                        line.product_id
                            .is_some_and(|id| catalog.find_product(Some(id), None).is_some())
                    })
                    .and_then(|sku| {
                        let product = catalog.find_product(line.product_id, None)?;
                        let selection = line.bundle.as_ref().map(LineBundle::selection);
                        let bundled = selection.as_ref().map(|s| (product, s));
                        price_line(catalog, sku, bundled, currency, quantity as u64, now)
                            .0
                            .ok()
                    }),
                _ => None,
            };
            QuantityChange {
                item_id,
                quantity,
                unit_price,
            }
        })
        .collect()
}

/// Why checkout refuses to re-price a product line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepriceRefusal {
    /// The line's product has left the catalog (or the shopper has no catalog).
    Unavailable {
        product_id: Option<Uuid>,
        sku: Option<String>,
    },
    /// The product has no price in the cart's currency any more.
    NoPrice {
        product_id: Uuid,
        sku: String,
        currency: String,
    },
}

/// Prices the product lines again from the catalog in `currency` at `now`, as adding them
/// would: checkout orders them at today's prices. The first line that can no longer be priced
/// (its product gone from the catalog, or a parent now) refuses the checkout.
pub fn reprice<C: CartCatalog>(
    catalog: Option<&C>,
    currency: &str,
    lines: &mut [CartItem],
    now: Millis,
) -> Result<(), RepriceRefusal> {
    for line in lines.iter_mut().filter(|l| l.kind == ItemKind::Product) {
        let unavailable = |line: &CartItem| RepriceRefusal::Unavailable {
            product_id: line.product_id,
            sku: line.sku.clone(),
        };
        let (Some(catalog), Some(product_id), Some(sku)) = (catalog, line.product_id, line.sku.clone())
        else {
            return Err(unavailable(line));
        };
        // A product that has become a parent since it was added is no longer sold itself, and
        // a bundle line's selection must still fit the bundle's components.
        let Some(product) = catalog
            .find_product(Some(product_id), None)
            .filter(|p| !p.is_parent)
        else {
            return Err(unavailable(line));
        };
        let selection = match &line.bundle {
            Some(bundle) => {
                let chosen = serde_json::to_value(bundle.selection()).unwrap_or_default();
                match bundle_selection(product, Some(&chosen), "data") {
                    Ok(selection) if product.is_bundle() => Some(selection),
                    _ => return Err(unavailable(line)),
                }
            }
            None if product.is_bundle() => return Err(unavailable(line)),
            None => None,
        };
        let quantity = line.quantity.max(1) as u64;
        let bundled = selection.as_ref().map(|s| (product, s));
        let (price, bundle) = price_line(catalog, &sku, bundled, currency, quantity, now);
        let Ok((unit_amount, includes_tax)) = price else {
            return Err(RepriceRefusal::NoPrice {
                product_id,
                sku,
                currency: currency.to_owned(),
            });
        };
        line.unit_amount = unit_amount;
        line.includes_tax = includes_tax;
        line.bundle = bundle;
        line.catalog_id = Some(catalog.catalog_id());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cart_totals::MAX_QUANTITY;
    use crate::carts::test_product_line as line;
    use crate::inventory::{Position, StockLevels};

    /// Requests, the cart's lines, and the `(sku, quantity, unit amount)` of the lines added.
    type PricingCase<'a> = (Vec<ProductRequest>, &'a [CartItem], Vec<(&'a str, i64, i64)>);
    /// The cart's lines, requests, whether the cart defers its inventory check, the refusals and
    /// the quantities added.
    type StockCase<'a> = (
        &'a [CartItem],
        Vec<ProductRequest>,
        bool,
        Vec<ItemRefusal>,
        Vec<i64>,
    );

    const TEE: u128 = 1;
    const MUG: u128 = 2;
    const NO_SKU: u128 = 3;
    const SHIRT: u128 = 4;
    const CATALOG: u128 = 99;
    const LEEDS: u128 = 9;
    const KIT: u128 = 5;
    const PRICED_KIT: u128 = 6;

    fn product(id: u128, sku: Option<&str>) -> Product {
        Product {
            id: Uuid::from_u128(id),
            name: sku.unwrap_or("nameless").into(),
            sku: sku.map(Into::into),
            slug: None,
            description: None,
            status: crate::catalog::ProductStatus::Live,
            commodity_type: crate::catalog::CommodityType::Physical,
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
        }
    }

    /// A tee (1000 each in GBP and USD, 800 from 10 units) and a mug (500, GBP only), both
    /// stock-managed; a product without a sku.
    struct Catalog(Vec<Product>);

    impl Catalog {
        fn new() -> Self {
            Self(vec![
                product(TEE, Some("tee")),
                product(MUG, Some("mug")),
                product(NO_SKU, None),
                Product {
                    is_parent: true,
                    ..product(SHIRT, Some("shirt"))
                },
                Product {
                    components: kit_components(),
                    ..product(KIT, Some("kit"))
                },
                Product {
                    components: kit_components(),
                    ..product(PRICED_KIT, Some("priced-kit"))
                },
            ])
        }
    }

    /// A kit: one of two tees or a mug (the tees by default), and always one mug.
    fn kit_components() -> crate::bundles::Components {
        let option = |id: u128, quantity: i64, default: bool| crate::bundles::ComponentOption {
            id: Uuid::from_u128(id),
            kind: crate::bundles::ProductKind,
            quantity,
            default,
            min: None,
            max: None,
            sort_order: None,
        };
        let component = |name: &str, min: Option<i64>, options| crate::bundles::Component {
            name: name.into(),
            options,
            min,
            max: min,
            sort_order: None,
        };
        [
            (
                "top".to_owned(),
                component("Top", Some(1), vec![option(TEE, 2, true), option(MUG, 1, false)]),
            ),
            (
                "cup".to_owned(),
                component("Cup", None, vec![option(MUG, 1, false)]),
            ),
        ]
        .into()
    }

    impl CartCatalog for Catalog {
        fn find_product(&self, id: Option<Uuid>, sku: Option<&str>) -> Option<&Product> {
            match (id, sku) {
                (Some(id), _) => self.0.iter().find(|p| p.id == id),
                (None, Some(sku)) => self.0.iter().find(|p| p.sku.as_deref() == Some(sku)),
                (None, None) => None,
            }
        }

        fn unit_price(
            &self,
            sku: &str,
            currency: &str,
            quantity: u64,
            _now: Millis,
        ) -> Result<ResolvedPrice, NoPrice> {
            let amount = match (sku, currency) {
                ("tee", "GBP" | "USD") if quantity >= 10 => 800,
                ("tee", "GBP" | "USD") => 1000,
                ("mug", "GBP") => 500,
                ("priced-kit", _) => 2200,
                ("mug", _) => {
                    return Err(NoPrice::Currency {
                        pricebook_id: Uuid::nil(),
                    });
                }
                _ => return Err(NoPrice::Sku),
            };
            Ok(ResolvedPrice {
                amount,
                includes_tax: false,
                pricebook_id: Uuid::nil(),
                tier: None,
                sale_id: None,
                sale_expires: None,
                original: None,
            })
        }

        fn catalog_id(&self) -> Uuid {
            Uuid::from_u128(CATALOG)
        }

        fn line_image(&self, _file_id: Uuid) -> Option<LineImage> {
            None
        }
    }

    fn request(base: &str, id: Option<u128>, sku: Option<&str>, quantity: i64) -> ProductRequest {
        ProductRequest {
            base: base.into(),
            id: id.map(Uuid::from_u128),
            sku: sku.map(str::to_owned),
            quantity,
            custom_inputs: json!({}),
            location: None,
            selected_options: None,
            via: Via::Item,
        }
    }

    fn at(mut request: ProductRequest, location: &str) -> ProductRequest {
        request.location = Some(location.into());
        request
    }

    fn custom(base: &str, quantity: i64, unit_amount: i64) -> NewLine {
        let id = crate::ids::new_id();
        NewLine {
            base: base.into(),
            via: Via::Item,
            item: CartItem {
                kind: ItemKind::Custom,
                line_key: crate::carts::custom_line_key(None, id),
                product_id: None,
                sku: None,
                unit_amount,
                ..line(0, "custom", quantity, None)
            },
        }
    }

    fn levels(available: i64) -> StockLevels {
        StockLevels {
            available,
            allocated: 0,
        }
    }

    /// The tee has 12 outside locations and 3 at "leeds"; the mug 4; products were read with
    /// the cart for the locations `asked` (which exist if "leeds").
    fn stock(asked: &[&str]) -> KnownStock {
        let mut tee = Stock::unlocated(Uuid::from_u128(TEE), levels(12), 0);
        tee.locations.push(Position {
            location_id: Uuid::from_u128(LEEDS),
            slug: "leeds".into(),
            levels: levels(3),
        });
        let mug = Stock::unlocated(Uuid::from_u128(MUG), levels(4), 0);
        let slugs: Vec<String> = asked.iter().map(|s| s.to_string()).collect();
        let locations = slugs
            .iter()
            .filter(|s| *s == "leeds")
            .map(|s| (s.clone(), Uuid::from_u128(LEEDS)))
            .collect();
        KnownStock::new(
            &[Uuid::from_u128(TEE), Uuid::from_u128(MUG)],
            &slugs,
            CartStock {
                stock: vec![tee, mug],
                locations,
            },
        )
    }

    fn cart(defer_inventory_check: bool) -> Cart {
        let mut cart = Cart::empty("c".into(), 0, 7);
        cart.defer_inventory_check = defer_inventory_check;
        cart
    }

    /// Plans an add of `requests` (after `custom` lines) to a cart holding `existing`.
    fn add(
        existing: &[CartItem],
        requests: Vec<ProductRequest>,
        custom: Vec<NewLine>,
        currency: &str,
        defer: bool,
        stock: &KnownStock,
    ) -> AddDecision {
        let cart = cart(defer);
        let catalog = Catalog::new();
        let priced = price_products(Some(&catalog), &cart, existing, currency, requests, stock, 0);
        priced.decide(custom, &cart, existing, &[], stock)
    }

    fn refused(source: &str, refusal: Refusal) -> ItemRefusal {
        ItemRefusal {
            source: source.into(),
            refusal,
        }
    }

    #[test]
    fn products_are_found_by_id_or_sku_and_priced_at_the_line_quantity() {
        let existing = [line(TEE, "tee", 6, None)];
        let cases: Vec<PricingCase> = vec![
            (
                vec![request("data", Some(TEE), None, 2)],
                &[],
                vec![("tee", 2, 1000)],
            ),
            (
                vec![request("data", None, Some("mug"), 1)],
                &[],
                vec![("mug", 1, 500)],
            ),
            // The volume tier counts what the line already holds.
            (
                vec![request("data", Some(TEE), None, 4)],
                &existing,
                vec![("tee", 4, 800)],
            ),
            (
                vec![request("data", Some(TEE), None, 3)],
                &existing,
                vec![("tee", 3, 1000)],
            ),
            (
                vec![request("data", Some(TEE), None, 10)],
                &[],
                vec![("tee", 10, 800)],
            ),
            // The id wins over the sku.
            (
                vec![request("data", Some(MUG), Some("tee"), 1)],
                &[],
                vec![("mug", 1, 500)],
            ),
        ];
        for (requests, lines, expected) in cases {
            let decision = add(lines, requests, Vec::new(), "GBP", true, &stock(&[]));
            assert_eq!(decision.refusals, Vec::new());
            let got: Vec<(&str, i64, i64)> = decision
                .lines
                .iter()
                .map(|l| (l.sku.as_deref().unwrap_or_default(), l.quantity, l.unit_amount))
                .collect();
            assert_eq!(got, expected);
            assert!(
                decision
                    .lines
                    .iter()
                    .all(|l| l.catalog_id == Some(Uuid::from_u128(CATALOG)) && l.cart_id == "c")
            );
        }
    }

    #[test]
    fn requests_the_catalog_cannot_price_are_refused_at_their_field() {
        let tee = Uuid::from_u128(TEE);
        let cases = [
            (
                request("data[0]", Some(42), None, 1),
                "GBP",
                refused(
                    "data[0].id",
                    Refusal::ProductNotFound {
                        id: Some(Uuid::from_u128(42)),
                        sku: None,
                    },
                ),
            ),
            (
                request("data[1]", None, Some("hat"), 1),
                "GBP",
                refused(
                    "data[1].id",
                    Refusal::ProductNotFound {
                        id: None,
                        sku: Some("hat".into()),
                    },
                ),
            ),
            (
                request("data", Some(NO_SKU), None, 1),
                "GBP",
                refused(
                    "data.id",
                    Refusal::NoSku {
                        product_id: Uuid::from_u128(NO_SKU),
                    },
                ),
            ),
            (
                request("data", Some(MUG), None, 1),
                "USD",
                refused(
                    "data.id",
                    Refusal::NoPrice {
                        product_id: Uuid::from_u128(MUG),
                        sku: "mug".into(),
                        currency: "USD".into(),
                    },
                ),
            ),
            (
                request("data", Some(SHIRT), None, 1),
                "GBP",
                refused(
                    "data.id",
                    Refusal::ParentProduct {
                        product_id: Uuid::from_u128(SHIRT),
                    },
                ),
            ),
            (
                request("data", None, Some("shirt"), 1),
                "GBP",
                refused(
                    "data.id",
                    Refusal::ParentProduct {
                        product_id: Uuid::from_u128(SHIRT),
                    },
                ),
            ),
            (
                at(request("data", Some(TEE), None, 1), "york"),
                "GBP",
                refused("data.location", Refusal::LocationNotFound { slug: "york".into() }),
            ),
        ];
        for (request, currency, expected) in cases {
            let decision = add(&[], vec![request], Vec::new(), currency, false, &stock(&["york"]));
            assert_eq!(decision.refusals, vec![expected]);
            assert!(decision.lines.is_empty());
        }
        // Without a catalog, every product is unknown.
        let cart = cart(false);
        let priced = price_products::<Catalog>(
            None,
            &cart,
            &[],
            "GBP",
            vec![request("data", Some(TEE), None, 1)],
            &stock(&[]),
            0,
        );
        let decision = priced.decide(Vec::new(), &cart, &[], &[], &stock(&[]));
        assert_eq!(
            decision.refusals,
            vec![refused(
                "data.id",
                Refusal::ProductNotFound {
                    id: Some(tee),
                    sku: None
                }
            )]
        );
    }

    #[test]
    fn stock_is_checked_on_the_whole_line_at_its_location_unless_deferred() {
        let short = |source: &str| {
            refused(
                source,
                Refusal::InsufficientStock {
                    product_id: Uuid::from_u128(TEE),
                    name: "tee".into(),
                },
            )
        };
        let in_leeds = [line(TEE, "tee", 2, Some("leeds"))];
        let outside = [line(TEE, "tee", 10, None)];
        let cases: Vec<StockCase> = vec![
            (
                &[],
                vec![request("data", Some(TEE), None, 12)],
                false,
                vec![],
                vec![12],
            ),
            (
                &[],
                vec![request("data", Some(TEE), None, 13)],
                false,
                vec![short("data.quantity")],
                vec![],
            ),
            (
                &[],
                vec![request("data", Some(TEE), None, 13)],
                true,
                vec![],
                vec![13],
            ),
            // Two items for one line count together; the first fits.
            (
                &[],
                vec![
                    request("data[0]", Some(TEE), None, 8),
                    request("data[1]", Some(TEE), None, 5),
                ],
                false,
                vec![short("data[1].quantity")],
                vec![8],
            ),
            // What the line holds counts.
            (
                &outside,
                vec![request("data", Some(TEE), None, 3)],
                false,
                vec![short("data.quantity")],
                vec![],
            ),
            (
                &outside,
                vec![request("data", Some(TEE), None, 2)],
                false,
                vec![],
                vec![2],
            ),
            // A location has its own stock, and a line keeps drawing from its location.
            (
                &[],
                vec![at(request("data", Some(TEE), None, 4), "leeds")],
                false,
                vec![short("data.quantity")],
                vec![],
            ),
            (
                &in_leeds,
                vec![request("data", Some(TEE), None, 2)],
                false,
                vec![short("data.quantity")],
                vec![],
            ),
            (
                &in_leeds,
                vec![request("data", Some(TEE), None, 1)],
                false,
                vec![],
                vec![1],
            ),
        ];
        for (lines, requests, defer, refusals, added) in cases {
            let mut known = stock(&["leeds"]);
            let cart = cart(defer);
            let catalog = Catalog::new();
            let priced = price_products(Some(&catalog), &cart, lines, "GBP", requests, &known, 0);
            let positions = priced.stock_positions(&cart);
            assert_eq!(positions.is_empty(), defer);
            // Everything was read with the cart: nothing is left to read.
            assert_eq!(known.unread(&positions), Vec::<Uuid>::new());
            known.learn(&[], Vec::new(), &positions);
            let decision = priced.decide(Vec::new(), &cart, lines, &[], &known);
            assert_eq!(decision.refusals, refusals);
            assert_eq!(
                decision.lines.iter().map(|l| l.quantity).collect::<Vec<_>>(),
                added
            );
        }
    }

    #[test]
    fn stock_not_read_with_the_cart_is_asked_for_and_learned() {
        // Products a re-order brought in were not read with the cart.
        let mut known = stock(&[]);
        let other = Uuid::from_u128(7);
        let wanted = [(other, None), (Uuid::from_u128(TEE), None), (other, None)];
        assert_eq!(known.unread(&wanted), vec![other]);
        known.learn(&[other], vec![Stock::unlocated(other, levels(1), 0)], &wanted);
        assert_eq!(known.unread(&wanted), Vec::<Uuid>::new());
        assert_eq!(known.available(other, None), Some(1));
        // A product without a stock record is not stock-managed.
        let unmanaged = Uuid::from_u128(8);
        known.learn(&[unmanaged], Vec::new(), &[(unmanaged, None)]);
        assert_eq!(known.available(unmanaged, None), None);
    }

    #[test]
    fn each_line_that_would_outgrow_the_cart_is_refused_on_its_own() {
        let full = [line(TEE, "tee", MAX_QUANTITY, None)];
        let decision = add(
            &full,
            vec![
                request("data[1]", Some(TEE), None, 1),
                request("data[2]", Some(MUG), None, 1),
            ],
            vec![custom("data[0]", 1, i64::MAX)],
            "GBP",
            true,
            &stock(&[]),
        );
        assert_eq!(
            decision.refusals,
            vec![
                refused("data[0].price.amount", Refusal::Limit(CartLimit::Total)),
                refused("data[1].quantity", Refusal::Limit(CartLimit::Quantity)),
            ]
        );
        assert_eq!(
            decision
                .lines
                .iter()
                .map(|l| l.sku.as_deref())
                .collect::<Vec<_>>(),
            vec![Some("mug")]
        );
        // A merged or re-ordered line's refusal names the cart or order it came from.
        let merged = NewLine {
            via: Via::Merge,
            ..custom("data", 1, 1)
        };
        assert_eq!(merged.limit_source(CartLimit::Total), "data.cart_id");
        let reordered = NewLine {
            via: Via::Reorder,
            ..custom("data", 1, 1)
        };
        assert_eq!(reordered.limit_source(CartLimit::Quantity), "data.order_id");
    }

    #[test]
    fn an_add_with_refusals_changes_nothing_unless_several_items_may_partly_succeed() {
        // (refused, several, add_all_or_nothing, accepted, changes nothing)
        let cases = [
            (false, false, false, 1, false),
            (false, true, true, 3, false),
            (true, false, false, 0, true),
            (true, true, false, 2, false),
            (true, true, true, 2, true),
            (true, true, false, 0, true),
        ];
        for (refused, several, all_or_nothing, accepted, expected) in cases {
            assert_eq!(
                add_refused_whole(refused, several, all_or_nothing, accepted),
                expected,
                "{refused} {several} {all_or_nothing} {accepted}"
            );
        }
    }

    #[test]
    fn quantity_changes_reprice_kept_product_lines_only() {
        let catalog = Catalog::new();
        let tee = line(TEE, "tee", 2, None);
        let gone = line(42, "hat", 2, None);
        let custom = custom("data", 1, 300).item;
        let lines = [tee.clone(), gone.clone(), custom.clone()];
        let cases = [
            ((tee.id, 10), Some("GBP"), Some((800, false))),
            ((tee.id, 3), Some("GBP"), Some((1000, false))),
            ((tee.id, 0), Some("GBP"), None),
            ((tee.id, 3), None, None),
            ((gone.id, 3), Some("GBP"), None),
            ((custom.id, 3), Some("GBP"), None),
        ];
        for ((item_id, quantity), currency, unit_price) in cases {
            let changes = [(item_id, quantity)];
            assert_eq!(
                changes_reprice(&lines, &changes),
                quantity > 0 && item_id != custom.id
            );
            let planned = quantity_changes(Some(&catalog), currency, &lines, changes.to_vec(), 0);
            assert_eq!(
                planned,
                vec![QuantityChange {
                    item_id,
                    quantity,
                    unit_price
                }]
            );
        }
    }

    #[test]
    fn checkout_reprices_product_lines_or_refuses_the_first_it_cannot() {
        let catalog = Catalog::new();
        let mut lines = vec![line(TEE, "tee", 10, None), custom("data", 1, 300).item];
        assert_eq!(reprice(Some(&catalog), "GBP", &mut lines, 0), Ok(()));
        assert_eq!(
            (lines[0].unit_amount, lines[0].catalog_id),
            (800, Some(Uuid::from_u128(CATALOG)))
        );
        assert_eq!((lines[1].unit_amount, lines[1].catalog_id), (300, None));
        let cases = [
            (
                line(42, "hat", 1, None),
                "GBP",
                RepriceRefusal::Unavailable {
                    product_id: Some(Uuid::from_u128(42)),
                    sku: Some("hat".into()),
                },
            ),
            (
                line(SHIRT, "shirt", 1, None),
                "GBP",
                RepriceRefusal::Unavailable {
                    product_id: Some(Uuid::from_u128(SHIRT)),
                    sku: Some("shirt".into()),
                },
            ),
            (
                line(MUG, "mug", 1, None),
                "USD",
                RepriceRefusal::NoPrice {
                    product_id: Uuid::from_u128(MUG),
                    sku: "mug".into(),
                    currency: "USD".into(),
                },
            ),
        ];
        for (line, currency, refusal) in cases {
            assert_eq!(reprice(Some(&catalog), currency, &mut [line], 0), Err(refusal));
        }
        let tee = line(TEE, "tee", 1, None);
        assert_eq!(
            reprice::<Catalog>(None, "GBP", &mut [tee], 0),
            Err(RepriceRefusal::Unavailable {
                product_id: Some(Uuid::from_u128(TEE)),
                sku: Some("tee".into()),
            })
        );
    }

    fn bundle_request(id: u128, quantity: i64, selected: Option<Value>) -> ProductRequest {
        ProductRequest {
            selected_options: selected,
            ..request("data", Some(id), None, quantity)
        }
    }

    #[test]
    fn bundle_lines_are_checked_priced_and_keyed_by_their_selection() {
        let tee = Uuid::from_u128(TEE).to_string();
        let mug = Uuid::from_u128(MUG).to_string();
        let s = "data.bundle_configuration.selected_options";
        // (request, currency, Ok((unit amount, components as (product, per bundle))) or the
        // refusals' sources)
        type Case = (
            ProductRequest,
            &'static str,
            Result<(i64, Vec<(u128, i64)>), Vec<String>>,
        );
        let cases: Vec<Case> = vec![
            // The defaults: two tees (2 × 1000) and the fixed mug (500).
            (
                bundle_request(KIT, 1, None),
                "GBP",
                Ok((2500, vec![(TEE, 2), (MUG, 1)])),
            ),
            // The mug chosen as the top as well: 500 + 500, two mugs a bundle.
            (
                bundle_request(
                    KIT,
                    3,
                    Some(json!({"top": {mug.clone(): 1}, "cup": {mug.clone(): 1}})),
                ),
                "GBP",
                Ok((1000, vec![(MUG, 2)])),
            ),
            // A bundle with a price of its own keeps it whatever is selected.
            (
                bundle_request(
                    PRICED_KIT,
                    1,
                    Some(json!({"top": {mug.clone(): 1}, "cup": {mug.clone(): 1}})),
                ),
                "USD",
                Ok((2200, vec![(MUG, 2)])),
            ),
            // The mug has no USD price: the summed bundle has none either.
            (bundle_request(KIT, 1, None), "USD", Err(vec!["data.id".into()])),
            (
                bundle_request(KIT, 1, Some(json!({"top": {tee.clone(): 2, mug.clone(): 1}}))),
                "GBP",
                Err(vec![format!("{s}.top")]),
            ),
            (
                bundle_request(KIT, 1, Some(json!({"top": {tee.clone(): 3}, "hat": {}}))),
                "GBP",
                Err(vec![
                    format!("{s}.hat"),
                    format!("{s}.top.{tee}"),
                    format!("{s}.top"),
                ]),
            ),
            (
                ProductRequest {
                    selected_options: Some(json!({})),
                    ..request("data", Some(TEE), None, 1)
                },
                "GBP",
                Err(vec!["data.bundle_configuration".into()]),
            ),
        ];
        for (request, currency, expected) in cases {
            let decision = add(
                &[],
                vec![request.clone()],
                Vec::new(),
                currency,
                true,
                &stock(&[]),
            );
            let got = match decision.lines.as_slice() {
                [line] => {
                    let bundle = line.bundle.as_ref().expect("a bundle line");
                    assert!(line.line_key.contains(":bundle:"), "{}", line.line_key);
                    let products = bundle.products(1).into_iter().map(|(id, n)| (id.as_u128(), n));
                    Ok((line.unit_amount, products.collect()))
                }
                _ => Err(decision
                    .refusals
                    .iter()
                    .map(|r| r.source.clone())
                    .collect::<Vec<_>>()),
            };
            assert_eq!(got, expected, "{request:?} in {currency}");
        }
        // Another selection is another line; the same one is the same line.
        let key = |selected: Value| {
            add(
                &[],
                vec![bundle_request(KIT, 1, Some(selected))],
                Vec::new(),
                "GBP",
                true,
                &stock(&[]),
            )
            .lines[0]
                .line_key
                .clone()
        };
        let tees = json!({"top": {tee: 2}, "cup": {mug.clone(): 1}});
        assert_eq!(key(tees.clone()), key(tees.clone()));
        assert_ne!(key(tees), key(json!({"top": {mug.clone(): 1}, "cup": {mug: 1}})));
    }

    #[test]
    fn a_bundle_line_draws_on_its_components_stock() {
        // The tee has 12 and the mug 4 outside locations. (bundles, selection, refused)
        let mug = Uuid::from_u128(MUG).to_string();
        let cases = [
            (4, None, false), // 8 tees, 4 mugs
            (5, None, true),  // 5 mugs
            (
                2,
                Some(json!({"top": {mug.clone(): 1}, "cup": {mug.clone(): 1}})),
                false,
            ), // 4 mugs
            (3, Some(json!({"top": {mug.clone(): 1}, "cup": {mug: 1}})), true), // 6 mugs
        ];
        for (quantity, selected, refused) in cases {
            let request = bundle_request(KIT, quantity, selected.clone());
            let cart = cart(false);
            let catalog = Catalog::new();
            let priced = price_products(Some(&catalog), &cart, &[], "GBP", vec![request], &stock(&[]), 0);
            let positions: Vec<u128> = priced
                .stock_positions(&cart)
                .iter()
                .map(|p| p.0.as_u128())
                .collect();
            let drawn = if selected.is_none() {
                vec![TEE, MUG]
            } else {
                vec![MUG]
            };
            assert_eq!(positions, drawn);
            let decision = priced.decide(Vec::new(), &cart, &[], &[], &stock(&[]));
            let expected = refused.then(|| Refusal::InsufficientStock {
                product_id: Uuid::from_u128(MUG),
                name: "mug".into(),
            });
            assert_eq!(
                decision.refusals.first().map(|r| r.refusal.clone()),
                expected,
                "{quantity} kits {selected:?}"
            );
        }
    }

    #[test]
    fn a_bundle_line_is_repriced_on_its_selection_and_refused_when_it_no_longer_fits() {
        let catalog = Catalog::new();
        let added = |selected: Option<Value>| {
            add(
                &[],
                vec![bundle_request(KIT, 1, selected)],
                Vec::new(),
                "GBP",
                true,
                &stock(&[]),
            )
            .lines
        };
        let mut lines = added(None);
        lines[0].unit_amount = 1;
        assert_eq!(reprice(Some(&catalog), "GBP", &mut lines, 0), Ok(()));
        assert_eq!(lines[0].unit_amount, 2500);
        // A selection the bundle no longer allows (here: the mug taken out of "top").
        let mut stale = added(None);
        let bundle = stale[0].bundle.as_mut().unwrap();
        bundle.components.get_mut("top").unwrap().options[0].quantity = 5;
        assert!(matches!(
            reprice(Some(&catalog), "GBP", &mut stale, 0),
            Err(RepriceRefusal::Unavailable { .. })
        ));
        // A bundle line whose product is no bundle any more.
        let mut plain = added(None);
        plain[0].product_id = Some(Uuid::from_u128(TEE));
        plain[0].sku = Some("tee".into());
        assert!(matches!(
            reprice(Some(&catalog), "GBP", &mut plain, 0),
            Err(RepriceRefusal::Unavailable { .. })
        ));
    }
}
