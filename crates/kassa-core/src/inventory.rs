//! Inventory: a product's stock levels and the transactions that move them.
//!
//! A product's stock is kept in positions: the one outside any location (all of it for a store
//! that uses no locations) and one per stock location (Elastic Path's multi-location inventory,
//! `EP-Inventories-Multi-Location: true`). Each position keeps `available` and `allocated`;
//! `total` is always their sum, and a product's totals are the sums over its positions, so
//! nothing derived can drift. Each action moves one position by a pair of deltas
//! ([`StockAction::delta`]) that a store applies in one conditional `UPDATE … WHERE` neither level
//! would go negative, so concurrent transactions can never oversell. [`StockLevels::apply`] is
//! the same rule in Rust: the model the SQL follows.

use serde_json::Value;
use uuid::Uuid;

use crate::time::Millis;
use crate::{Error, Validator};

/// The largest quantity one request may move. Elastic Path documents none; this keeps every sum
/// far from `i64` overflow.
pub const MAX_QUANTITY: i64 = 1_000_000_000;
/// The largest total a stock record may reach through increments.
pub const MAX_TOTAL: i64 = 1_000_000_000_000_000;
/// How many products `POST /v2/inventories/multiple` may ask about at once.
pub const MAX_MULTIPLE: usize = 100;

/// The longest location slug (Elastic Path's `maxLength`).
pub const MAX_SLUG: usize = 128;

/// What a stock transaction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StockAction {
    /// Stock arrived: total and available grow.
    Increment,
    /// Stock left: total and available shrink.
    Decrement,
    /// Stock is reserved: available moves to allocated.
    Allocate,
    /// A reservation is released: allocated moves back to available.
    Deallocate,
    /// The total is set (the multi-location API only): available becomes `quantity − allocated`.
    Set,
}

impl StockAction {
    pub const ALL: [StockAction; 5] = [
        StockAction::Increment,
        StockAction::Decrement,
        StockAction::Allocate,
        StockAction::Deallocate,
        StockAction::Set,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "increment" => Self::Increment,
            "decrement" => Self::Decrement,
            "allocate" => Self::Allocate,
            "deallocate" => Self::Deallocate,
            "set" => Self::Set,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Increment => "increment",
            Self::Decrement => "decrement",
            Self::Allocate => "allocate",
            Self::Deallocate => "deallocate",
            Self::Set => "set",
        }
    }

    /// `(Δavailable, Δallocated)` for moving `quantity`. `Set` is no delta (it depends on the
    /// allocated level): [`StockLevels::apply`] and the stores compute it from the row.
    pub fn delta(self, quantity: i64) -> (i64, i64) {
        match self {
            Self::Increment => (quantity, 0),
            Self::Decrement => (-quantity, 0),
            Self::Allocate => (-quantity, quantity),
            Self::Deallocate => (quantity, -quantity),
            Self::Set => (0, 0),
        }
    }

    /// The smallest quantity a transaction of this action may move: setting a total of 0 is
    /// meaningful, moving 0 is not.
    pub fn min_quantity(self) -> i64 {
        match self {
            Self::Set => 0,
            _ => 1,
        }
    }
}

/// A product's stock. `total` is derived: `available + allocated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StockLevels {
    pub available: i64,
    pub allocated: i64,
}

impl StockLevels {
    pub fn total(&self) -> i64 {
        self.available + self.allocated
    }

    /// The levels after `action` of `quantity`, or `None` if a level would go negative or the
    /// total would pass [`MAX_TOTAL`]. This is exactly the condition the stores put in their
    /// `UPDATE … WHERE`.
    pub fn apply(self, action: StockAction, quantity: i64) -> Option<StockLevels> {
        let next = match action {
            StockAction::Set => StockLevels {
                available: quantity.checked_sub(self.allocated)?,
                allocated: self.allocated,
            },
            action => {
                let (da, dl) = action.delta(quantity);
                StockLevels {
                    available: self.available.checked_add(da)?,
                    allocated: self.allocated.checked_add(dl)?,
                }
            }
        };
        (next.available >= 0 && next.allocated >= 0 && next.total() <= MAX_TOTAL).then_some(next)
    }

    /// The sum of two positions (saturating: each is at most [`MAX_TOTAL`]).
    pub fn plus(self, other: StockLevels) -> StockLevels {
        StockLevels {
            available: self.available.saturating_add(other.available),
            allocated: self.allocated.saturating_add(other.allocated),
        }
    }
}

/// A product's stock position at one location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub location_id: Uuid,
    /// The location's slug, by which the API names it.
    pub slug: String,
    pub levels: StockLevels,
}

/// The stock record of one product (the product is referenced by id only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stock {
    pub product_id: Uuid,
    /// The position kept outside any location: all of the product's stock in a store that uses
    /// no locations, and what a cart line without a location draws from.
    pub levels: StockLevels,
    /// The product's positions at locations, by slug.
    pub locations: Vec<Position>,
    pub created_at: Millis,
    /// The latest change of any of its positions.
    pub updated_at: Millis,
}

impl Stock {
    /// A record with no located positions.
    pub fn unlocated(product_id: Uuid, levels: StockLevels, now: Millis) -> Self {
        Self {
            product_id,
            levels,
            locations: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// The product's totals: the sums over all its positions (what the basic API shows).
    pub fn totals(&self) -> StockLevels {
        self.locations
            .iter()
            .fold(self.levels, |sum, p| sum.plus(p.levels))
    }

    /// The position a line at `location` (a slug, or none) draws from: a location the product
    /// is not stocked at holds nothing.
    pub fn at(&self, location: Option<&str>) -> StockLevels {
        match location {
            None => self.levels,
            Some(slug) => self
                .locations
                .iter()
                .find(|p| p.slug == slug)
                .map_or(StockLevels::default(), |p| p.levels),
        }
    }
}

/// One entry of a product's stock history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockTransaction {
    pub id: Uuid,
    pub product_id: Uuid,
    pub action: StockAction,
    pub quantity: i64,
    /// The slug of the location whose position moved (as the slug was then); none for the
    /// position outside locations.
    pub location: Option<String>,
    pub created_at: Millis,
}

/// Why a stock change was refused. The stock is unchanged and nothing was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRefusal {
    pub product_id: Uuid,
    pub action: StockAction,
    pub requested: i64,
    /// The position that was short, by slug; none for the position outside locations.
    pub location: Option<String>,
    /// The position as it was when the change was refused.
    pub levels: StockLevels,
}

impl StockRefusal {
    pub fn title(&self) -> &'static str {
        match self.action {
            StockAction::Increment => "Stock limit exceeded",
            StockAction::Deallocate => "Insufficient allocated stock",
            StockAction::Decrement | StockAction::Allocate => "Insufficient stock",
            // A total below what is allocated (the quantity is at most MAX_QUANTITY).
            StockAction::Set => "Insufficient stock",
        }
    }

    pub fn detail(&self) -> String {
        let (q, id, l) = (self.requested, self.product_id, self.levels);
        let at = self
            .location
            .as_deref()
            .map_or_else(String::new, |slug| format!(" at location {slug}"));
        match self.action {
            StockAction::Increment => format!(
                "Cannot increment the stock of product {id}{at} by {q}: the total of {} would exceed {MAX_TOTAL}",
                l.total()
            ),
            StockAction::Deallocate => format!(
                "Cannot deallocate {q} of product {id}{at}: only {} is allocated",
                l.allocated
            ),
            StockAction::Set => format!(
                "Cannot set the total stock of product {id}{at} to {q}: {} is allocated",
                l.allocated
            ),
            action => format!(
                "Cannot {} {q} of product {id}{at}: only {} is available",
                action.as_str(),
                l.available
            ),
        }
    }
}

impl From<StockRefusal> for Error {
    fn from(r: StockRefusal) -> Self {
        Error::bad_request(r.title(), r.detail())
    }
}

/// A stock location (`type: inventory_location`): a warehouse or a shop that holds stock.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub id: Uuid,
    pub name: String,
    /// Unique; how stock, transactions and cart items name the location.
    pub slug: String,
    pub external_ref: Option<String>,
    pub description: Option<String>,
    /// 1 to 8 lines.
    pub address: Option<Vec<String>>,
    pub geolocation: Option<Geolocation>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geolocation {
    pub lat: f64,
    pub lon: f64,
}

/// Text limits of a location's attributes (Elastic Path's `minLength`/`maxLength`).
pub const LOCATION_TEXT: (usize, usize) = (3, 1024);
pub const MAX_ADDRESS_LINES: usize = 8;

/// A location slug: 1 to [`MAX_SLUG`] characters of A-Z, a-z, 0-9, `-`, `_` and `.` (the slug
/// is a key of the stock's `locations` map and a value in filters, so it keeps to a safe set).
pub fn is_valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.chars().count() <= MAX_SLUG
        && slug
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Location {
    /// A location with only its id and times, for [`edit_location`] to fill on create.
    pub fn new(id: Uuid, now: Millis) -> Self {
        Self {
            id,
            name: String::new(),
            slug: String::new(),
            external_ref: None,
            description: None,
            address: None,
            geolocation: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Applies the `attributes` of a create (`create`: `name` and `slug` required) or an update
/// (absent fields are kept; `null` clears `external_ref`, `description`, `address` and
/// `geolocation`) to a location, reporting every problem at once, each named by its path under
/// `data.attributes`. Nothing is applied when anything is wrong.
pub fn edit_location(
    location: &mut Location,
    attributes: &serde_json::Map<String, Value>,
    create: bool,
) -> Result<(), Error> {
    const KNOWN: [&str; 6] = [
        "name",
        "slug",
        "external_ref",
        "description",
        "address",
        "geolocation",
    ];
    let mut v = Validator::new();
    let mut next = location.clone();
    let source = |field: &str| format!("data.attributes.{field}");
    for key in attributes.keys().filter(|k| !KNOWN.contains(&k.as_str())) {
        v.push(
            source(key),
            "invalid",
            format!("{key} is not an attribute of a location"),
        );
    }
    let (min, max) = LOCATION_TEXT;
    let text = |v: &mut Validator, field: &str, value: &Value| -> Option<String> {
        let Some(text) = value.as_str() else {
            v.push(source(field), "type", format!("{field} must be a string"));
            return None;
        };
        let n = text.chars().count();
        if text.trim().is_empty() || n < min {
            v.push(
                source(field),
                "min_length",
                format!("{field} must be at least {min} characters"),
            );
            None
        } else if n > max {
            v.push(
                source(field),
                "max_length",
                format!("{field} must be at most {max} characters"),
            );
            None
        } else {
            Some(text.to_owned())
        }
    };
    for field in ["name", "slug"] {
        match attributes.get(field) {
            None if create => {
                v.push(source(field), "required", format!("{field} is required"));
            }
            None => {}
            Some(Value::Null) => {
                v.push(source(field), "required", format!("{field} cannot be null"));
            }
            Some(value) if field == "name" => {
                if let Some(name) = text(&mut v, field, value) {
                    next.name = name;
                }
            }
            Some(value) => match value.as_str() {
                Some(slug) if is_valid_slug(slug) => next.slug = slug.to_owned(),
                Some(_) => v.push(
                    source(field),
                    "invalid",
                    format!(
                        "slug must be 1 to {MAX_SLUG} characters of A-Z, a-z, 0-9, hyphen, underscore and period"
                    ),
                ),
                None => v.push(source(field), "type", "slug must be a string"),
            },
        }
    }
    for field in ["external_ref", "description"] {
        let value = match attributes.get(field) {
            None => continue,
            Some(Value::Null) => None,
            Some(value) => match text(&mut v, field, value) {
                Some(text) => Some(text),
                None => continue,
            },
        };
        if field == "external_ref" {
            next.external_ref = value;
        } else {
            next.description = value;
        }
    }
    match attributes.get("address") {
        None => {}
        Some(Value::Null) => next.address = None,
        Some(Value::Array(lines)) => {
            if lines.is_empty() || lines.len() > MAX_ADDRESS_LINES {
                v.push(
                    source("address"),
                    "invalid",
                    format!("address must have 1 to {MAX_ADDRESS_LINES} lines"),
                );
            }
            let mut out = Vec::with_capacity(lines.len());
            for (i, line) in lines.iter().enumerate() {
                match line.as_str() {
                    Some(l) if l.chars().count() <= max => out.push(l.to_owned()),
                    Some(_) => v.push(
                        format!("data.attributes.address[{i}]"),
                        "max_length",
                        format!("an address line must be at most {max} characters"),
                    ),
                    None => v.push(
                        format!("data.attributes.address[{i}]"),
                        "type",
                        "an address line must be a string",
                    ),
                }
            }
            next.address = Some(out);
        }
        Some(_) => v.push(source("address"), "type", "address must be an array of strings"),
    }
    match attributes.get("geolocation") {
        None => {}
        Some(Value::Null) => next.geolocation = None,
        Some(Value::Object(g)) => {
            let mut coordinate = |name: &str, limit: f64| -> Option<f64> {
                let path = format!("data.attributes.geolocation.{name}");
                match g.get(name).and_then(Value::as_f64) {
                    Some(x) if x.is_finite() && x.abs() <= limit => Some(x),
                    Some(_) => {
                        v.push(
                            path,
                            "invalid",
                            format!("{name} must be between -{limit} and {limit}"),
                        );
                        None
                    }
                    None => {
                        v.push(path, "required", format!("{name} must be a number"));
                        None
                    }
                }
            };
            let (lat, lon) = (coordinate("lat", 90.0), coordinate("lon", 180.0));
            if let (Some(lat), Some(lon)) = (lat, lon) {
                next.geolocation = Some(Geolocation { lat, lon });
            }
        }
        Some(_) => v.push(
            source("geolocation"),
            "type",
            "geolocation must be an object {lat, lon}",
        ),
    }
    v.finish()?;
    *location = next;
    Ok(())
}

/// Checks the items of a multi-product change, merges repeated products (summing their
/// quantities) and sorts by product id, so a multi-product change locks rows in one global order
/// and cannot deadlock against another.
pub fn normalize_items(items: &[(Uuid, i64)]) -> Result<Vec<(Uuid, i64)>, Error> {
    let mut out: Vec<(Uuid, i64)> = Vec::with_capacity(items.len());
    let mut sorted = items.to_vec();
    sorted.sort_by_key(|(id, _)| *id);
    for (id, q) in sorted {
        match out.last_mut() {
            Some((last, sum)) if *last == id => *sum = sum.saturating_add(q),
            _ => out.push((id, q)),
        }
    }
    match out.iter().find(|(_, q)| !(1..=MAX_QUANTITY).contains(q)) {
        Some((id, q)) => Err(Error::bad_request(
            "Invalid quantity",
            format!("The quantity {q} for product {id} must be between 1 and {MAX_QUANTITY}"),
        )),
        None => Ok(out),
    }
}

fn field_name(source: &str) -> &str {
    source.rsplit('.').next().unwrap_or(source)
}

impl Validator {
    /// A JSON integer between `min` and [`MAX_QUANTITY`]; a string, a fraction or `null` is a
    /// problem named by `source`, never a panic.
    pub fn quantity(&mut self, value: Option<&Value>, source: &str, min: i64) -> Option<i64> {
        let value = self.required(value.filter(|v| !v.is_null()), source)?;
        let field = field_name(source);
        let Some(n) = value.as_i64().or_else(|| {
            // 3.0 is an integer in JSON's eyes; 3.5 is not.
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= MAX_QUANTITY as f64)
                .map(|f| f as i64)
        }) else {
            self.push(source, "type", format!("{field} must be an integer"));
            return None;
        };
        if n < min {
            self.push(
                source,
                "minimum",
                format!("{field} must be greater than or equal to {min}"),
            );
            None
        } else if n > MAX_QUANTITY {
            self.push(
                source,
                "maximum",
                format!("{field} must be less than or equal to {MAX_QUANTITY}"),
            );
            None
        } else {
            Some(n)
        }
    }

    /// One of the four stock actions, or with `set_allowed` (the multi-location API) also `set`.
    pub fn stock_action(
        &mut self,
        value: Option<&Value>,
        source: &str,
        set_allowed: bool,
    ) -> Option<StockAction> {
        let value = self.required(value.filter(|v| !v.is_null()), source)?;
        let action = value
            .as_str()
            .and_then(StockAction::parse)
            .filter(|a| set_allowed || *a != StockAction::Set);
        if action.is_none() {
            let set = if set_allowed { ", set" } else { "" };
            self.push(
                source,
                "enum",
                format!(
                    "{} must be one of increment, decrement, allocate, deallocate{set}",
                    field_name(source)
                ),
            );
        }
        action
    }
}

/// The stock a bundle shows, made from its components' (`components`: each product one bundle
/// takes and how many; `stocks`: the records read of them): how many whole bundles the stock
/// outside locations and each location's can make, and nothing allocated. A component without
/// a record is not stock-managed and limits nothing; a component without a position at a
/// location makes no bundle there. `None` when no component is stock-managed (the bundle is not
/// either).
pub fn bundle_stock(bundle_id: Uuid, components: &[(Uuid, i64)], stocks: &[Stock]) -> Option<Stock> {
    let managed: Vec<(&Stock, i64)> = components
        .iter()
        .filter_map(|(id, per)| Some((stocks.iter().find(|s| s.product_id == *id)?, (*per).max(1))))
        .collect();
    let makes =
        |available: &dyn Fn(&Stock) -> i64| managed.iter().map(|(s, per)| available(s).max(0) / per).min();
    let outside = makes(&|s| s.levels.available)?;
    let mut locations: Vec<Position> = Vec::new();
    for p in managed.iter().flat_map(|(s, _)| &s.locations) {
        if locations.iter().any(|l| l.location_id == p.location_id) {
            continue;
        }
        let at = |s: &Stock| {
            s.locations
                .iter()
                .find(|q| q.location_id == p.location_id)
                .map_or(0, |q| q.levels.available)
        };
        locations.push(Position {
            location_id: p.location_id,
            slug: p.slug.clone(),
            levels: StockLevels {
                available: makes(&at).unwrap_or(0),
                allocated: 0,
            },
        });
    }
    locations.sort_by(|a, b| a.slug.cmp(&b.slug));
    Some(Stock {
        product_id: bundle_id,
        levels: StockLevels {
            available: outside,
            allocated: 0,
        },
        locations,
        created_at: managed.iter().map(|(s, _)| s.created_at).min().unwrap_or(0),
        updated_at: managed.iter().map(|(s, _)| s.updated_at).max().unwrap_or(0),
    })
}

/// An order item as its stock moves see it: its product, the location it draws from, its
/// quantity, and a bundle item's selection.
pub type StockItem = (Uuid, Option<Uuid>, i64, Option<crate::bundles::LineBundle>);

/// What an order's items take from stock, summed per `(product, location)` and sorted (so the
/// rows are locked in one global order): a bundle item takes its components' stock (each
/// option's quantity per bundle), any other item its product's.
pub fn order_stock(items: impl IntoIterator<Item = StockItem>) -> Vec<(Uuid, Option<Uuid>, i64)> {
    let mut taken: std::collections::BTreeMap<(Uuid, Option<Uuid>), i64> = Default::default();
    for (product_id, location, quantity, bundle) in items {
        let products = match bundle {
            Some(bundle) => bundle.products(quantity),
            None => vec![(product_id, quantity)],
        };
        for (product, n) in products {
            let total = taken.entry((product, location)).or_default();
            *total = total.saturating_add(n);
        }
    }
    taken.into_iter().map(|((p, l), n)| (p, l, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bundles_stock_is_the_whole_bundles_its_components_make() {
        let id = Uuid::from_u128;
        let at = |slug: &str, n: u128, available| Position {
            location_id: id(n),
            slug: slug.into(),
            levels: levels(available, 3),
        };
        // Product 1: 7 outside, 5 at leeds; product 2: 9 outside, 1 at york; product 3 has none.
        let stocks = vec![
            Stock {
                locations: vec![at("leeds", 90, 5)],
                ..Stock::unlocated(id(1), levels(7, 2), 10)
            },
            Stock {
                locations: vec![at("york", 91, 1)],
                ..Stock::unlocated(id(2), levels(9, 0), 20)
            },
        ];
        // Two of product 1 and one of 2 a bundle: min(7/2, 9/1) = 3 outside; none at leeds
        // (no product 2 there) nor york (no product 1).
        let kit = bundle_stock(id(9), &[(id(1), 2), (id(2), 1), (id(3), 4)], &stocks).unwrap();
        assert_eq!(kit.product_id, id(9));
        assert_eq!(kit.levels, levels(3, 0));
        let got: Vec<(&str, i64)> = kit
            .locations
            .iter()
            .map(|p| (p.slug.as_str(), p.levels.available))
            .collect();
        assert_eq!(got, [("leeds", 0), ("york", 0)]);
        assert_eq!((kit.created_at, kit.updated_at), (10, 20));
        // Only product 1 managed: 2 at leeds (5 / 2), 3 outside.
        let cups = bundle_stock(id(9), &[(id(1), 2), (id(3), 1)], &stocks).unwrap();
        assert_eq!(
            (cups.levels.available, cups.locations[0].levels.available),
            (3, 2)
        );
        // No managed component: no stock.
        assert_eq!(bundle_stock(id(9), &[(id(3), 1)], &stocks), None);
    }

    #[test]
    fn an_orders_stock_is_its_products_and_its_bundles_components() {
        use crate::bundles::{LineBundle, LineComponent, LineOption, ProductKind};
        let id = Uuid::from_u128;
        let leeds = Some(id(90));
        let option = |n: u128, quantity| LineOption {
            id: id(n),
            kind: ProductKind,
            quantity,
        };
        // A kit: two of product 1 and one of product 2 per bundle.
        let kit = LineBundle {
            components: [
                (
                    "a".to_owned(),
                    LineComponent {
                        name: "A".into(),
                        options: vec![option(1, 2)],
                    },
                ),
                (
                    "b".to_owned(),
                    LineComponent {
                        name: "B".into(),
                        options: vec![option(2, 1)],
                    },
                ),
            ]
            .into(),
            prices: Default::default(),
        };
        let items = vec![
            (id(2), None, 3, None),
            (id(9), None, 4, Some(kit.clone())),
            (id(1), leeds, 1, None),
            (id(9), leeds, 1, Some(kit)),
        ];
        assert_eq!(
            order_stock(items),
            vec![
                (id(1), None, 8),
                (id(1), leeds, 3),
                (id(2), None, 7),
                (id(2), leeds, 1),
            ]
        );
    }

    fn levels(available: i64, allocated: i64) -> StockLevels {
        StockLevels { available, allocated }
    }

    #[test]
    fn actions_move_stock_and_keep_the_total_the_sum() {
        use StockAction::*;
        // (start, action, quantity, expected)
        let table = [
            (levels(10, 0), Increment, 5, Some(levels(15, 0))),
            (levels(10, 2), Decrement, 10, Some(levels(0, 2))),
            (levels(10, 2), Decrement, 11, None),
            (levels(10, 0), Allocate, 10, Some(levels(0, 10))),
            (levels(10, 0), Allocate, 11, None),
            (levels(3, 4), Deallocate, 4, Some(levels(7, 0))),
            (levels(3, 4), Deallocate, 5, None),
            (levels(0, 0), Allocate, 1, None),
            (levels(0, 0), Decrement, 1, None),
            (levels(0, 0), Deallocate, 1, None),
            (levels(MAX_TOTAL - 1, 0), Increment, 1, Some(levels(MAX_TOTAL, 0))),
            (levels(MAX_TOTAL, 0), Increment, 1, None),
            (levels(i64::MAX, 0), Increment, 1, None),
        ];
        for (start, action, q, expected) in table {
            let got = start.apply(action, q);
            assert_eq!(got, expected, "{start:?} {action:?} {q}");
            if let Some(next) = got {
                let (da, dl) = action.delta(q);
                assert_eq!(next.total(), start.total() + da + dl);
                let total_change = match action {
                    Increment => q,
                    Decrement => -q,
                    Allocate | Deallocate | Set => 0,
                };
                assert_eq!(next.total() - start.total(), total_change, "{action:?}");
            }
        }
    }

    #[test]
    fn action_names_round_trip() {
        for a in StockAction::ALL {
            assert_eq!(StockAction::parse(a.as_str()), Some(a));
        }
        for bad in ["", "Set", "Increment", "INCREMENT", "inc"] {
            assert_eq!(StockAction::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn refusals_name_the_bucket_that_is_short() {
        let id = Uuid::nil();
        let refusal = |action| StockRefusal {
            product_id: id,
            action,
            requested: 5,
            location: None,
            levels: levels(3, 2),
        };
        let r = refusal(StockAction::Allocate);
        assert_eq!(r.title(), "Insufficient stock");
        assert!(r.detail().contains("only 3 is available"), "{}", r.detail());
        let r = refusal(StockAction::Deallocate);
        assert_eq!(r.title(), "Insufficient allocated stock");
        assert!(r.detail().contains("only 2 is allocated"), "{}", r.detail());
        assert_eq!(refusal(StockAction::Decrement).title(), "Insufficient stock");
        match Error::from(refusal(StockAction::Allocate)) {
            Error::BadRequest { title, .. } => assert_eq!(title, "Insufficient stock"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn quantities_must_be_integers_in_range() {
        // (value, min, accepted)
        let table = [
            (json!(1), 1, Some(1)),
            (json!(0), 0, Some(0)),
            (json!(0), 1, None),
            (json!(-1), 0, None),
            (json!(3.0), 1, Some(3)),
            (json!(3.5), 1, None),
            (json!("2"), 1, None),
            (json!(true), 1, None),
            (json!([1]), 1, None),
            (json!(MAX_QUANTITY), 1, Some(MAX_QUANTITY)),
            (json!(MAX_QUANTITY + 1), 1, None),
            (json!(u64::MAX), 1, None),
            (json!(1e300), 1, None),
        ];
        for (value, min, expected) in table {
            let mut v = Validator::new();
            assert_eq!(
                v.quantity(Some(&value), "data.quantity", min),
                expected,
                "{value}"
            );
            match v.finish() {
                Ok(()) => assert!(expected.is_some()),
                Err(Error::Validation(p)) => {
                    assert!(expected.is_none(), "{value}");
                    assert_eq!(p[0].source, "data.quantity");
                }
                Err(e) => panic!("{e}"),
            }
        }
        for missing in [None, Some(&Value::Null)] {
            let mut v = Validator::new();
            assert_eq!(v.quantity(missing, "data.quantity", 1), None);
            let Err(Error::Validation(p)) = v.finish() else {
                panic!()
            };
            assert_eq!(p[0].title, "required");
        }
    }

    #[test]
    fn actions_are_validated_by_name() {
        let mut v = Validator::new();
        assert_eq!(
            v.stock_action(Some(&json!("allocate")), "data.action", false),
            Some(StockAction::Allocate)
        );
        // `set` belongs to the multi-location API only.
        assert_eq!(v.stock_action(Some(&json!("set")), "data.action", false), None);
        assert_eq!(v.stock_action(Some(&json!(1)), "data.action", true), None);
        assert_eq!(v.stock_action(None, "data.action", true), None);
        let Err(Error::Validation(p)) = v.finish() else {
            panic!()
        };
        assert_eq!(p.len(), 3);
        assert!(p.iter().all(|p| p.source == "data.action"));
        assert!(!p[0].detail.contains("set"), "{}", p[0].detail);
        assert!(p[1].detail.ends_with("deallocate, set"), "{}", p[1].detail);
        let mut v = Validator::new();
        assert_eq!(
            v.stock_action(Some(&json!("set")), "data.attributes.action", true),
            Some(StockAction::Set)
        );
        assert!(v.finish().is_ok());
    }

    #[test]
    fn set_makes_the_total_and_keeps_the_allocation() {
        use StockAction::Set;
        // (start, quantity, expected)
        let table = [
            (levels(10, 0), 4, Some(levels(4, 0))),
            (levels(1, 3), 10, Some(levels(7, 3))),
            (levels(1, 3), 3, Some(levels(0, 3))),
            (levels(1, 3), 2, None),
            (levels(0, 0), 0, Some(levels(0, 0))),
            (levels(0, 1), MAX_TOTAL + 1, None),
        ];
        for (start, q, expected) in table {
            let got = start.apply(Set, q);
            assert_eq!(got, expected, "{start:?} set {q}");
            if let Some(next) = got {
                assert_eq!(next.total(), q);
            }
        }
        assert_eq!(Set.min_quantity(), 0);
        assert_eq!(StockAction::Increment.min_quantity(), 1);
        let refusal = StockRefusal {
            product_id: Uuid::nil(),
            action: Set,
            requested: 2,
            location: Some("york".into()),
            levels: levels(1, 3),
        };
        assert_eq!(refusal.title(), "Insufficient stock");
        assert!(
            refusal.detail().contains("at location york to 2: 3 is allocated"),
            "{}",
            refusal.detail()
        );
    }

    #[test]
    fn a_products_totals_are_its_positions_summed() {
        let at = |slug: &str, l: StockLevels| Position {
            location_id: Uuid::from_u128(slug.len() as u128),
            slug: slug.into(),
            levels: l,
        };
        let mut stock = Stock::unlocated(Uuid::nil(), levels(2, 1), 5);
        assert_eq!(stock.totals(), levels(2, 1));
        stock.locations = vec![at("york", levels(10, 3)), at("stevenage", levels(0, 4))];
        assert_eq!(stock.totals(), levels(12, 8));
        assert_eq!(stock.totals().total(), 20);
        assert_eq!(stock.at(None), levels(2, 1));
        assert_eq!(stock.at(Some("york")), levels(10, 3));
        // A location the product is not stocked at holds nothing.
        assert_eq!(stock.at(Some("leeds")), levels(0, 0));
    }

    #[test]
    fn location_slugs_keep_to_a_safe_set() {
        for ok in [
            "york",
            "milton-keynes-warehouse",
            "york_warehouse",
            "a",
            "v1.2",
            &"s".repeat(128),
        ] {
            assert!(is_valid_slug(ok), "{ok}");
        }
        for bad in ["", "a b", "a,b", "eq(x)", "ä", "a/b", &"s".repeat(129)] {
            assert!(!is_valid_slug(bad), "{bad}");
        }
    }

    #[test]
    fn location_attributes_are_checked_all_at_once() {
        let attrs = |v: Value| v.as_object().cloned().unwrap();
        let full = json!({
            "name": "Milton Keynes Warehouse", "slug": "mk", "external_ref": "mk-1",
            "description": "Southern dispatch", "address": ["38 Pipernel Grove", "MK7 4UL"],
            "geolocation": { "lat": 51.477928, "lon": -0.001545 },
        });
        let mut loc = Location::new(Uuid::nil(), 1);
        edit_location(&mut loc, &attrs(full), true).unwrap();
        assert_eq!(
            (loc.name.as_str(), loc.slug.as_str()),
            ("Milton Keynes Warehouse", "mk")
        );
        assert_eq!(loc.address.as_ref().map(Vec::len), Some(2));
        assert_eq!(
            loc.geolocation,
            Some(Geolocation {
                lat: 51.477928,
                lon: -0.001545
            })
        );
        // An update keeps what it does not name and clears what it sets to null.
        let before = loc.clone();
        edit_location(
            &mut loc,
            &attrs(json!({ "description": null, "geolocation": null })),
            false,
        )
        .unwrap();
        assert_eq!((loc.description.clone(), loc.geolocation), (None, None));
        assert_eq!(
            (loc.name.clone(), loc.address.clone()),
            (before.name.clone(), before.address.clone())
        );

        // (attributes, create, the sources refused)
        let table: Vec<(Value, bool, Vec<&str>)> = vec![
            (
                json!({}),
                true,
                vec!["data.attributes.name", "data.attributes.slug"],
            ),
            (json!({}), false, vec![]),
            (
                json!({ "name": "ab", "slug": "ok" }),
                true,
                vec!["data.attributes.name"],
            ),
            (
                json!({ "name": "   ", "slug": "ok" }),
                true,
                vec!["data.attributes.name"],
            ),
            (
                json!({ "name": "x".repeat(1025), "slug": "ok" }),
                true,
                vec!["data.attributes.name"],
            ),
            (
                json!({ "name": "Warehouse", "slug": "a b" }),
                true,
                vec!["data.attributes.slug"],
            ),
            (
                json!({ "name": "Warehouse", "slug": 7 }),
                true,
                vec!["data.attributes.slug"],
            ),
            (json!({ "name": null }), false, vec!["data.attributes.name"]),
            (json!({ "slug": null }), false, vec!["data.attributes.slug"]),
            (
                json!({ "external_ref": "ab" }),
                false,
                vec!["data.attributes.external_ref"],
            ),
            (
                json!({ "description": 5 }),
                false,
                vec!["data.attributes.description"],
            ),
            (json!({ "address": [] }), false, vec!["data.attributes.address"]),
            (
                json!({ "address": vec!["a"; 9] }),
                false,
                vec!["data.attributes.address"],
            ),
            (
                json!({ "address": ["ok", 3] }),
                false,
                vec!["data.attributes.address[1]"],
            ),
            (
                json!({ "address": "1 Main St" }),
                false,
                vec!["data.attributes.address"],
            ),
            (
                json!({ "geolocation": { "lat": 91, "lon": 0 } }),
                false,
                vec!["data.attributes.geolocation.lat"],
            ),
            (
                json!({ "geolocation": { "lat": 0, "lon": -180.5 } }),
                false,
                vec!["data.attributes.geolocation.lon"],
            ),
            (
                json!({ "geolocation": { "lat": "1" } }),
                false,
                vec![
                    "data.attributes.geolocation.lat",
                    "data.attributes.geolocation.lon",
                ],
            ),
            (
                json!({ "geolocation": [1, 2] }),
                false,
                vec!["data.attributes.geolocation"],
            ),
            (
                json!({ "geolocation": { "lat": -90, "lon": 180 } }),
                false,
                vec![],
            ),
            (json!({ "colour": "red" }), false, vec!["data.attributes.colour"]),
        ];
        for (input, create, refused) in table {
            let mut loc = before.clone();
            let result = edit_location(&mut loc, &attrs(input.clone()), create);
            match result {
                Ok(()) => assert!(refused.is_empty(), "{input} should be refused"),
                Err(Error::Validation(p)) => {
                    let sources: Vec<&str> = p.iter().map(|p| p.source.as_str()).collect();
                    assert_eq!(sources, refused, "{input}");
                    assert_eq!(loc, before, "a refusal changes nothing: {input}");
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn items_merge_and_sort() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        assert_eq!(
            normalize_items(&[(b, 1), (a, 2), (b, 3)]).unwrap(),
            vec![(a, 2), (b, 4)]
        );
        assert_eq!(normalize_items(&[]).unwrap(), vec![]);
        assert!(normalize_items(&[(a, 0)]).is_err());
        assert!(normalize_items(&[(a, -1), (a, 2)]).is_ok(), "the sum counts");
        assert!(normalize_items(&[(a, MAX_QUANTITY), (a, 1)]).is_err());
    }
}
