//! Carts as they are kept: the cart, its lines and who it belongs to. What a cart costs is
//! computed from these by [`crate::cart_totals::cart_totals`]; nothing derived is stored.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::cart_totals::{MAX_QUANTITY, TaxItem};
use crate::time::Millis;

pub const DEFAULT_CART_NAME: &str = "Cart";
pub const DEFAULT_CART_EXPIRY_DAYS: i64 = 7;
pub const MAX_CART_EXPIRY_DAYS: i64 = 365;
/// Unique lines per cart.
pub const MAX_CART_ITEMS: usize = 100;
pub const MAX_CART_ID_LENGTH: usize = 128;
pub const DAY_MS: Millis = 86_400_000;
/// Tax items per cart line.
pub const MAX_TAX_ITEMS_PER_ITEM: usize = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct Cart {
    /// Chosen by the client (the classic JS clients invent a 32-hex id) or generated.
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// Only for guest carts.
    pub contact_email: Option<String>,
    /// Fixed when the first item is added.
    pub currency: Option<String>,
    pub custom_discounts_enabled: bool,
    pub use_rule_promotions: bool,
    pub defer_inventory_check: bool,
    pub custom_attributes: Value,
    pub snapshot_date: Option<Millis>,
    pub payment_intent_id: Option<String>,
    /// At most one account may be associated.
    pub account_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub expires_at: Millis,
}

impl Cart {
    /// An empty cart named `Cart`, as Elastic Path creates for an unknown id.
    pub fn empty(id: String, now: Millis, expiry_days: i64) -> Self {
        Self {
            id,
            name: DEFAULT_CART_NAME.into(),
            description: None,
            contact_email: None,
            currency: None,
            custom_discounts_enabled: false,
            use_rule_promotions: false,
            defer_inventory_check: false,
            custom_attributes: Value::Object(Default::default()),
            snapshot_date: None,
            payment_intent_id: None,
            account_id: None,
            customer_id: None,
            created_at: now,
            updated_at: now,
            expires_at: now + expiry_days * DAY_MS,
        }
    }
}

/// Cart ids use a safe character set: letters, digits, `-` and `_`.
pub fn is_valid_cart_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CART_ID_LENGTH
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A catalog product, priced from the shopper's catalog.
    Product,
    /// A custom item priced by the caller.
    Custom,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Product => "cart_item",
            ItemKind::Custom => "custom_item",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cart_item" => Some(ItemKind::Product),
            "custom_item" => Some(ItemKind::Custom),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CartItem {
    pub id: Uuid,
    pub cart_id: String,
    pub kind: ItemKind,
    /// What makes two adds the same line: the product and its custom inputs, or a custom item's
    /// sku. Adding an existing line adds to its quantity.
    pub line_key: String,
    pub product_id: Option<Uuid>,
    pub sku: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub slug: Option<String>,
    pub quantity: i64,
    pub unit_amount: i64,
    pub includes_tax: bool,
    pub custom_inputs: Value,
    pub catalog_id: Option<Uuid>,
    /// The slug of the stock location the line draws from (Elastic Path: one per line; adding
    /// the product again with another location moves the whole line there).
    pub location: Option<String>,
    /// A product line's picture: the product's main image as the catalog published it when the
    /// line was last added to, copied like its name so a cart renders with no file read.
    pub image: Option<LineImage>,
    /// A bundle line's selected options (`None` for any other line).
    pub bundle: Option<crate::bundles::LineBundle>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What a cart line shows of its product's main image (Elastic Path's cart item `image`); the
/// link is made when rendering, from the file's id and name or its external location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineImage {
    pub file_id: Uuid,
    pub file_name: String,
    pub mime_type: String,
    /// The URL of a file kept elsewhere (`file_location`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

impl LineImage {
    pub fn of(file: &crate::file::File) -> Self {
        Self {
            file_id: file.id,
            file_name: file.file_name.clone(),
            mime_type: file.mime_type.clone(),
            location: file.location.clone(),
        }
    }

    /// As stored: compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// From its stored form; a value that does not parse shows no image rather than failing the
    /// cart.
    pub fn from_json(stored: Option<&str>) -> Option<Self> {
        stored.and_then(|s| serde_json::from_str(s).ok())
    }
}

/// A line's new quantity (0 removes the line) and, for a product line, its unit price at that
/// quantity: volume tiers follow the quantity both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantityChange {
    pub item_id: Uuid,
    pub quantity: i64,
    /// `(unit_amount, includes_tax)`; `None` keeps the line's price (a custom item's is its own).
    pub unit_price: Option<(i64, bool)>,
}

/// The line key of a product line: the same product with other custom inputs is another line.
pub fn product_line_key(product_id: Uuid, custom_inputs: &Value) -> String {
    match custom_inputs {
        Value::Object(m) if m.is_empty() => format!("product:{product_id}"),
        Value::Null => format!("product:{product_id}"),
        // serde_json's map is ordered by key, so equal inputs give equal keys.
        other => format!("product:{product_id}:{other}"),
    }
}

/// A product line as the use-case tests need one: `quantity` of product `product` (its sku
/// `sku`), 10.00 a unit, from `location`.
#[cfg(test)]
pub(crate) fn test_product_line(product: u128, sku: &str, quantity: i64, location: Option<&str>) -> CartItem {
    let product_id = Uuid::from_u128(product);
    CartItem {
        id: crate::ids::new_id(),
        cart_id: "c".into(),
        kind: ItemKind::Product,
        line_key: product_line_key(product_id, &serde_json::json!({})),
        product_id: Some(product_id),
        sku: Some(sku.into()),
        name: sku.into(),
        description: None,
        slug: None,
        quantity,
        unit_amount: 1000,
        includes_tax: false,
        custom_inputs: serde_json::json!({}),
        catalog_id: None,
        location: location.map(str::to_owned),
        image: None,
        bundle: None,
        created_at: 0,
        updated_at: 0,
    }
}

/// The line key of a custom item: items with the same sku merge; without a sku each add is its
/// own line.
pub fn custom_line_key(sku: Option<&str>, item_id: Uuid) -> String {
    match sku {
        Some(sku) => format!("custom:{sku}"),
        None => format!("custom-id:{item_id}"),
    }
}

/// Where a tax item is: its cart, its line, the line's bundle component it is on (if any), and
/// its own id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxItemKey {
    pub cart_id: String,
    pub item_id: Uuid,
    pub component_product_id: Option<Uuid>,
    pub id: Uuid,
}

/// A tax item on a cart line (`type: tax_item`), set by an admin or an external tax service.
#[derive(Debug, Clone, PartialEq)]
pub struct CartTaxItem {
    pub id: Uuid,
    pub cart_id: String,
    pub item_id: Uuid,
    pub name: Option<String>,
    pub code: Option<String>,
    pub jurisdiction: Option<String>,
    /// A rate (kept exactly, as parts per million) or a fixed amount for the whole line.
    pub tax: TaxItem,
    /// On a bundle line, the component product the tax is for (a rate then taxes that
    /// component's share of the line: [`crate::bundles::LineBundle::tax_on_line`]).
    pub component_product_id: Option<Uuid>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl CartTaxItem {
    /// The tax as its line is taxed by it: a bundle component's rate on that component's share
    /// of `bundle`'s line, anything else as it is.
    pub fn on_line(&self, bundle: Option<&crate::bundles::LineBundle>) -> TaxItem {
        match (self.component_product_id, bundle) {
            (Some(component), Some(bundle)) => bundle.tax_on_line(component, self.tax),
            _ => self.tax,
        }
    }
}

/// The cart's tax items grouped by line, in one pass.
pub fn taxes_by_item(taxes: &[CartTaxItem]) -> HashMap<Uuid, Vec<&CartTaxItem>> {
    let mut map: HashMap<Uuid, Vec<&CartTaxItem>> = HashMap::new();
    for t in taxes {
        map.entry(t.item_id).or_default().push(t);
    }
    map
}

/// How many tax items each line of a cart has now, by line id and then by component product
/// (`None`: the line's own). Every line of the cart has an entry.
pub type TaxCounts = HashMap<Uuid, HashMap<Option<Uuid>, usize>>;

/// Decides each tax item of a bulk add on the cart's lines as they are (`counts`): a tax item
/// for no line of the cart is refused, as is one past [`MAX_TAX_ITEMS_PER_ITEM`] on its line or
/// its bundle component (counting those this add gives it first). The accepted ones are given
/// the cart's id. Answers the outcomes in order and whether to write the accepted ones: not when
/// nothing fits, nor, with `all_or_nothing`, when anything was refused.
pub fn plan_tax_items(
    items: Vec<CartTaxItem>,
    cart_id: &str,
    mut counts: TaxCounts,
    all_or_nothing: bool,
) -> (Vec<Result<CartTaxItem, TaxRefusal>>, bool) {
    let outcomes: Vec<_> = items
        .into_iter()
        .map(|mut tax| {
            let Some(line) = counts.get_mut(&tax.item_id) else {
                return Err(TaxRefusal::UnknownItem);
            };
            let n = line.entry(tax.component_product_id).or_default();
            if *n >= MAX_TAX_ITEMS_PER_ITEM {
                return Err(TaxRefusal::LimitReached);
            }
            *n += 1;
            tax.cart_id = cart_id.to_owned();
            Ok(tax)
        })
        .collect();
    let refused = outcomes.iter().any(Result::is_err);
    let write = !(all_or_nothing && refused) && outcomes.iter().any(Result::is_ok);
    (outcomes, write)
}

/// Why one tax item of a bulk add was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxRefusal {
    /// The cart has no line with this id.
    UnknownItem,
    /// The line already has [`MAX_TAX_ITEMS_PER_ITEM`] tax items.
    LimitReached,
}

/// A cart with all its lines (oldest first) and their tax items, read or written together.
#[derive(Debug, Clone, PartialEq)]
pub struct CartContents {
    pub cart: Cart,
    pub lines: Vec<CartItem>,
    pub taxes: Vec<CartTaxItem>,
    /// The promotion codes the shopper added (`promotion_item`), oldest first.
    pub codes: Vec<crate::promotions::PromotionCode>,
    /// The custom discounts in effect, oldest first: the cart's and its lines', read only while
    /// `cart.custom_discounts_enabled` (otherwise none count, and none are read).
    pub custom_discounts: Vec<crate::custom_discounts::CustomDiscount>,
    /// The promotions' version stamp as of this read, when the store reads it with the cart (a
    /// checkout's read on PostgreSQL); `None` otherwise.
    pub promotions_version: Option<i64>,
}

impl CartContents {
    /// A cart that has no lines yet.
    pub fn empty(cart: Cart) -> Self {
        Self {
            cart,
            lines: Vec::new(),
            taxes: Vec::new(),
            codes: Vec::new(),
            custom_discounts: Vec::new(),
            promotions_version: None,
        }
    }

    /// Whether `other` prices exactly as this cart does, with its promotions and discounts: the
    /// same lines in the same order with the same quantities and prices, the same codes, tax
    /// items and custom discounts, and the same cart fields promotions read. Names, pictures,
    /// locations and timestamps may differ. Lets a request that priced the cart it was about to
    /// write answer with that pricing instead of pricing the written cart again.
    pub fn prices_as(&self, other: &CartContents) -> bool {
        let same_line = |a: &CartItem, b: &CartItem| {
            (
                a.id,
                a.kind,
                a.product_id,
                a.catalog_id,
                a.quantity,
                a.unit_amount,
                a.includes_tax,
            ) == (
                b.id,
                b.kind,
                b.product_id,
                b.catalog_id,
                b.quantity,
                b.unit_amount,
                b.includes_tax,
            ) && a.sku == b.sku
                && a.bundle == b.bundle
        };
        let (a, b) = (&self.cart, &other.cart);
        (
            &a.currency,
            a.custom_discounts_enabled,
            &a.custom_attributes,
            a.account_id,
            a.customer_id,
        ) == (
            &b.currency,
            b.custom_discounts_enabled,
            &b.custom_attributes,
            b.account_id,
            b.customer_id,
        ) && self.lines.len() == other.lines.len()
            && self.lines.iter().zip(&other.lines).all(|(x, y)| same_line(x, y))
            && self
                .codes
                .iter()
                .map(|c| c.id)
                .eq(other.codes.iter().map(|c| c.id))
            && self.taxes == other.taxes
            && self.custom_discounts == other.custom_discounts
    }
}

/// A write decided on the cart as `seen` (the caller's permission was checked on its owner) must
/// not land on a cart that was associated with, or dissociated from, an account or customer since:
/// `Conflict` then.
pub fn check_same_owner(current: &Cart, seen: &Cart) -> crate::Result<()> {
    if (current.account_id, current.customer_id) == (seen.account_id, seen.customer_id) {
        Ok(())
    } else {
        Err(crate::Error::Conflict(
            "The cart changed owner while the request ran; try again".into(),
        ))
    }
}

/// Why a cart change was refused for its size: a line would hold more than
/// [`MAX_QUANTITY`] units, or the cart could no longer be totalled ([`crate::cart_totals::bounds_fit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartLimit {
    Quantity,
    Total,
}

impl CartLimit {
    /// The title of a [`CartLimit::Total`] refusal.
    pub const TOTAL_TITLE: &'static str = "Cart total too large";

    /// The refusal as a 400 naming `source`.
    pub fn error(self, source: &str) -> crate::Error {
        match self {
            CartLimit::Quantity => crate::Error::field(
                source,
                "number_lte",
                format!("A cart line holds at most {MAX_QUANTITY} units"),
            ),
            CartLimit::Total => crate::Error::field(
                source,
                Self::TOTAL_TITLE,
                format!(
                    "The cart's total would be too large to compute: every figure of a cart, taxes included, must stay within {} minor units",
                    i64::MAX
                ),
            ),
        }
    }
}

/// One line as [`CartSize`] counts it.
#[derive(Debug, Clone, Copy)]
struct LineSize<'a> {
    id: Uuid,
    key: &'a str,
    unit_amount: i64,
    quantity: i64,
    rate_ppm: u64,
    fixed: u128,
}

impl LineSize<'_> {
    fn bound(&self) -> u128 {
        crate::cart_totals::line_bound(
            self.unit_amount,
            self.quantity.max(0) as u64,
            self.rate_ppm,
            self.fixed,
            0,
        )
    }
}

/// What decides whether a cart may hold its lines: every line's quantity and a bound on the
/// cart's totals, kept line by line so that a change can be tried before it is made (an add
/// item by item, each refused alone) and checked again on the lines a write produced, inside
/// its transaction. Pure arithmetic over the lines, no allocation per tax item.
#[derive(Debug, Clone)]
pub struct CartSize<'a> {
    lines: Vec<LineSize<'a>>,
    total: u128,
}

impl<'a> CartSize<'a> {
    /// The cart of these lines and tax items.
    pub fn of(lines: &'a [CartItem], taxes: &[CartTaxItem]) -> Self {
        let lines: Vec<LineSize<'a>> = lines
            .iter()
            .map(|l| {
                let (mut rate_ppm, mut fixed) = (0_u64, 0_u128);
                for t in taxes.iter().filter(|t| t.item_id == l.id) {
                    match t.tax {
                        TaxItem::Rate(r) => rate_ppm = rate_ppm.saturating_add(u64::from(r.ppm())),
                        TaxItem::Amount(a) => fixed = fixed.saturating_add(u128::from(a.unsigned_abs())),
                    }
                }
                LineSize {
                    id: l.id,
                    key: &l.line_key,
                    unit_amount: l.unit_amount,
                    quantity: l.quantity,
                    rate_ppm,
                    fixed,
                }
            })
            .collect();
        let total = lines.iter().fold(0_u128, |sum, l| sum.saturating_add(l.bound()));
        Self { lines, total }
    }

    /// Whether the lines as they are now are within the limits.
    pub fn check(&self) -> Result<(), CartLimit> {
        if self
            .lines
            .iter()
            .any(|l| !(0..=MAX_QUANTITY).contains(&l.quantity))
        {
            return Err(CartLimit::Quantity);
        }
        if crate::cart_totals::bounds_fit([self.total]) {
            Ok(())
        } else {
            Err(CartLimit::Total)
        }
    }

    /// Adds an item as the store will: to the line of the same key (adding the quantity, taking
    /// the item's price) or as a new line. Refused, the cart stays as it was.
    pub fn try_add(&mut self, item: &'a CartItem) -> Result<(), CartLimit> {
        match self.lines.iter().position(|l| l.key == item.line_key) {
            Some(i) => {
                let line = self.lines[i];
                self.try_replace(
                    Some(i),
                    LineSize {
                        unit_amount: item.unit_amount,
                        quantity: line.quantity.saturating_add(item.quantity),
                        ..line
                    },
                )
            }
            None => self.try_replace(
                None,
                LineSize {
                    id: item.id,
                    key: &item.line_key,
                    unit_amount: item.unit_amount,
                    quantity: item.quantity,
                    rate_ppm: 0,
                    fixed: 0,
                },
            ),
        }
    }

    /// Sets a line's quantity (and its price, if given), as a quantity update will; an unknown
    /// line changes nothing (the store refuses it). Refused, the cart stays as it was.
    pub fn try_set(
        &mut self,
        item_id: Uuid,
        quantity: i64,
        unit_amount: Option<i64>,
    ) -> Result<(), CartLimit> {
        let Some(i) = self.lines.iter().position(|l| l.id == item_id) else {
            return Ok(());
        };
        let line = self.lines[i];
        self.try_replace(
            Some(i),
            LineSize {
                quantity,
                unit_amount: unit_amount.unwrap_or(line.unit_amount),
                ..line
            },
        )
    }

    /// Adds a tax item to a line (unknown lines are the store's to refuse). Refused, the cart
    /// stays as it was.
    pub fn try_tax(&mut self, item_id: Uuid, tax: TaxItem) -> Result<(), CartLimit> {
        let Some(i) = self.lines.iter().position(|l| l.id == item_id) else {
            return Ok(());
        };
        let line = self.lines[i];
        let line = match tax {
            TaxItem::Rate(r) => LineSize {
                rate_ppm: line.rate_ppm.saturating_add(u64::from(r.ppm())),
                ..line
            },
            TaxItem::Amount(a) => LineSize {
                fixed: line.fixed.saturating_add(u128::from(a.unsigned_abs())),
                ..line
            },
        };
        self.try_replace(Some(i), line)
    }

    fn try_replace(&mut self, at: Option<usize>, line: LineSize<'a>) -> Result<(), CartLimit> {
        if !(0..=MAX_QUANTITY).contains(&line.quantity) {
            return Err(CartLimit::Quantity);
        }
        let old = at.map_or(0, |i| self.lines[i].bound());
        let total = self.total.saturating_sub(old).saturating_add(line.bound());
        if !crate::cart_totals::bounds_fit([total]) {
            return Err(CartLimit::Total);
        }
        self.total = total;
        match at {
            Some(i) => self.lines[i] = line,
            None => self.lines.push(line),
        }
        Ok(())
    }
}

/// Which stock levels a cart read returns alongside the cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockOf {
    Nothing,
    /// The products of the cart's lines, and their positions at the lines' locations (a
    /// checkout).
    Lines,
    /// These products (an add to the cart), and their positions at these locations (slugs; none
    /// when no item names a location, and then the read is what it always was).
    Products {
        ids: Vec<Uuid>,
        locations: Vec<String>,
    },
}

impl StockOf {
    /// These products, at no location.
    pub fn products(ids: Vec<Uuid>) -> Self {
        StockOf::Products {
            ids,
            locations: Vec::new(),
        }
    }

    /// The products whose stock to read, and the location slugs whose positions and existence to
    /// read, given the cart's lines (none if there is no cart).
    pub fn wanted(self, lines: &[CartItem]) -> (Vec<Uuid>, Vec<String>) {
        match self {
            StockOf::Nothing => (Vec::new(), Vec::new()),
            StockOf::Lines => {
                let mut slugs: Vec<String> = lines.iter().filter_map(|l| l.location.clone()).collect();
                slugs.sort();
                slugs.dedup();
                // A bundle line draws on its components' stock.
                let mut products: Vec<Uuid> = Vec::new();
                for line in lines {
                    match &line.bundle {
                        Some(bundle) => products.extend(bundle.products(1).into_iter().map(|(id, _)| id)),
                        None => products.extend(line.product_id),
                    }
                }
                (products, slugs)
            }
            StockOf::Products { ids, locations } => (ids, locations),
        }
    }
}

/// The stock a cart read brings along: the records of the products asked (each with its
/// positions at the asked locations only), and which of the asked locations exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CartStock {
    pub stock: Vec<crate::inventory::Stock>,
    /// `(slug, id)` of each asked location that exists.
    pub locations: Vec<(String, Uuid)>,
}

impl CartStock {
    /// The id of the location with this slug, if it was asked for and exists.
    pub fn location(&self, slug: &str) -> Option<Uuid> {
        self.locations.iter().find(|(s, _)| s == slug).map(|(_, id)| *id)
    }
}

/// Which carts a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartScope {
    Account(Uuid),
    Customer(Uuid),
    /// Carts associated with any account or customer.
    Associated,
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_needs_the_owner_it_was_decided_for() {
        let seen = Cart::empty("c".into(), 0, 7);
        let (a, b) = (Some(Uuid::from_u128(1)), Some(Uuid::from_u128(2)));
        let with = |account, customer| Cart {
            account_id: account,
            customer_id: customer,
            ..seen.clone()
        };
        assert!(check_same_owner(&seen, &seen).is_ok());
        for changed in [with(a, None), with(None, b), with(a, b)] {
            assert!(matches!(
                check_same_owner(&changed, &seen),
                Err(crate::Error::Conflict(_))
            ));
            assert!(matches!(
                check_same_owner(&seen, &changed),
                Err(crate::Error::Conflict(_))
            ));
        }
        assert!(check_same_owner(&with(a, None), &with(a, None)).is_ok());
    }

    /// A line of one unit at 1 (a product line with `product_id`, else a custom line).
    fn line(product_id: Option<Uuid>) -> CartItem {
        CartItem {
            id: Uuid::from_u128(9),
            cart_id: "c".into(),
            kind: if product_id.is_some() {
                ItemKind::Product
            } else {
                ItemKind::Custom
            },
            line_key: String::new(),
            product_id,
            sku: None,
            name: "x".into(),
            description: None,
            slug: None,
            quantity: 1,
            unit_amount: 1,
            includes_tax: false,
            custom_inputs: serde_json::json!({}),
            catalog_id: None,
            location: None,
            image: None,
            bundle: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_cart_prices_as_another_only_with_the_same_priced_parts() {
        let line = CartItem {
            sku: Some("SKU".into()),
            quantity: 2,
            unit_amount: 500,
            ..line(Some(Uuid::from_u128(7)))
        };
        let mut base = CartContents::empty(Cart::empty("c".into(), 0, 7));
        base.cart.currency = Some("USD".into());
        base.lines.push(line.clone());
        let with = |change: &dyn Fn(&mut CartContents)| {
            let mut c = base.clone();
            change(&mut c);
            c
        };
        // What is only shown may differ.
        let shown = with(&|c| {
            c.lines[0].name = "renamed".into();
            c.lines[0].location = Some("york".into());
            c.lines[0].updated_at = 99;
            c.cart.updated_at = 99;
        });
        assert!(base.prices_as(&shown));
        // What is priced may not.
        let priced: [&dyn Fn(&mut CartContents); 7] = [
            &|c| c.lines[0].quantity = 3,
            &|c| c.lines[0].unit_amount = 600,
            &|c| c.lines[0].includes_tax = true,
            &|c| c.lines.push(line.clone()),
            &|c| c.lines.clear(),
            &|c| c.cart.currency = None,
            &|c| c.cart.custom_attributes = serde_json::json!({"vip": true}),
        ];
        for change in priced {
            let other = with(change);
            assert!(!base.prices_as(&other) && !other.prices_as(&base));
        }
    }

    #[test]
    fn stock_is_read_for_the_lines_or_the_products_asked() {
        let (p, q) = (Uuid::from_u128(7), Uuid::from_u128(8));
        let mut located = line(Some(q));
        located.location = Some("york".into());
        let lines = [line(Some(p)), line(None), located.clone(), located];
        let none = (Vec::<Uuid>::new(), Vec::<String>::new());
        assert_eq!(StockOf::Nothing.wanted(&lines), none);
        assert_eq!(
            StockOf::Lines.wanted(&lines),
            (vec![p, q, q], vec!["york".to_owned()])
        );
        assert_eq!(StockOf::products(vec![q]).wanted(&lines), (vec![q], vec![]));
        let asked = StockOf::Products {
            ids: vec![q],
            locations: vec!["leeds".into()],
        };
        assert_eq!(asked.wanted(&lines), (vec![q], vec!["leeds".to_owned()]));
    }

    #[test]
    fn a_bulk_tax_add_is_decided_per_line_and_all_or_nothing_on_request() {
        let (a, b) = (item("a", 100, 1), item("b", 100, 1));
        let stranger = item("x", 100, 1);
        let rate = TaxItem::Rate(crate::cart_totals::TaxRate::from_ppm(1));
        let full = MAX_TAX_ITEMS_PER_ITEM;
        let ok = |t: &CartTaxItem| Ok::<Uuid, TaxRefusal>(t.item_id);
        // (existing counts of a and b, items for, all or nothing) → (outcomes, write)
        let cases = [
            (
                (0, 0),
                vec![&a, &b],
                false,
                (vec![ok(&tax(&a, rate)), ok(&tax(&b, rate))], true),
            ),
            (
                (full - 1, 0),
                vec![&a, &a],
                false,
                (vec![Ok(a.id), Err(TaxRefusal::LimitReached)], true),
            ),
            (
                (full - 1, 0),
                vec![&a, &a],
                true,
                (vec![Ok(a.id), Err(TaxRefusal::LimitReached)], false),
            ),
            (
                (0, 0),
                vec![&stranger],
                false,
                (vec![Err(TaxRefusal::UnknownItem)], false),
            ),
            (
                (full, full),
                vec![&a, &b],
                false,
                (vec![Err(TaxRefusal::LimitReached); 2], false),
            ),
        ];
        for ((count_a, count_b), lines, all_or_nothing, (want, want_write)) in cases {
            let counts = HashMap::from([
                (a.id, HashMap::from([(None, count_a)])),
                (b.id, HashMap::from([(None, count_b)])),
            ]);
            let items = lines.iter().map(|l| tax(l, rate)).collect();
            let (outcomes, write) = plan_tax_items(items, "cart", counts, all_or_nothing);
            let got: Vec<Result<Uuid, TaxRefusal>> = outcomes
                .iter()
                .map(|o| o.as_ref().map(|t| t.item_id).map_err(|e| *e))
                .collect();
            assert_eq!((got, write), (want, want_write));
            assert!(outcomes.iter().flatten().all(|t| t.cart_id == "cart"));
        }
        // A bundle component's tax items are counted apart from its line's.
        let component = Uuid::from_u128(7);
        let on_component = CartTaxItem {
            component_product_id: Some(component),
            ..tax(&a, rate)
        };
        let counts = HashMap::from([(a.id, HashMap::from([(None, full), (Some(component), full - 1)]))]);
        let (outcomes, write) = plan_tax_items(
            vec![on_component.clone(), on_component, tax(&a, rate)],
            "cart",
            counts,
            false,
        );
        let got: Vec<_> = outcomes.iter().map(|o| o.as_ref().err().copied()).collect();
        assert_eq!(
            (got, write),
            (
                vec![
                    None,
                    Some(TaxRefusal::LimitReached),
                    Some(TaxRefusal::LimitReached)
                ],
                true
            )
        );
    }

    fn item(key: &str, unit_amount: i64, quantity: i64) -> CartItem {
        CartItem {
            id: crate::ids::new_id(),
            cart_id: "c".into(),
            kind: ItemKind::Custom,
            line_key: key.into(),
            product_id: None,
            sku: None,
            name: "x".into(),
            description: None,
            slug: None,
            quantity,
            unit_amount,
            includes_tax: true,
            custom_inputs: serde_json::json!({}),
            catalog_id: None,
            location: None,
            image: None,
            bundle: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn tax(line: &CartItem, tax: TaxItem) -> CartTaxItem {
        CartTaxItem {
            id: crate::ids::new_id(),
            cart_id: "c".into(),
            item_id: line.id,
            name: None,
            code: None,
            jurisdiction: None,
            tax,
            component_product_id: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// Every change a cart's size refuses, and that a refused change leaves the count as it was.
    #[test]
    fn cart_size_refuses_lines_and_totals_past_the_limits() {
        use crate::cart_totals::{MAX_AMOUNT, TaxRate};
        let big = 1_i64 << 62;
        let existing = [item("a", 1000, 2), item("b", big / 4, 1)];
        let taxes = [tax(&existing[0], TaxItem::Rate(TaxRate::from_ppm(200_000)))];
        let new = [
            // (what is added, expected)
            (item("a", 1000, MAX_QUANTITY - 2), Ok(())),
            (item("a", 1000, 1), Err(CartLimit::Quantity)),
            (item("c", 0, MAX_QUANTITY + 1), Err(CartLimit::Quantity)),
            (item("c", big, 2), Err(CartLimit::Total)),
            (item("c", MAX_AMOUNT, 2000), Ok(())),
            (item("d", MAX_AMOUNT, 1000), Ok(())),
            (item("e", MAX_AMOUNT, 1000), Err(CartLimit::Total)),
            (item("e", MAX_AMOUNT, 1), Ok(())),
        ];
        let mut size = CartSize::of(&existing, &taxes);
        assert_eq!(size.check(), Ok(()));
        for (n, (item, expected)) in new.iter().enumerate() {
            let before = size.total;
            assert_eq!(size.try_add(item), *expected, "add {n}");
            if expected.is_err() {
                assert_eq!(size.total, before, "a refused add {n} changes nothing");
            }
        }
        assert_eq!(size.check(), Ok(()));
        // The same lines, as a store would read them back, pass the store's check.
        let stored: Vec<CartItem> = vec![
            item("a", 1000, MAX_QUANTITY),
            item("b", big / 4, 1),
            item("c", MAX_AMOUNT, 2000),
            item("d", MAX_AMOUNT, 1000),
            item("e", MAX_AMOUNT, 1),
        ];
        assert_eq!(CartSize::of(&stored, &[]).check(), Ok(()));
        let mut over = stored;
        over.push(item("f", MAX_AMOUNT, 1000));
        assert_eq!(CartSize::of(&over, &[]).check(), Err(CartLimit::Total));
        over[0].quantity = MAX_QUANTITY + 1;
        assert_eq!(CartSize::of(&over, &[]).check(), Err(CartLimit::Quantity));

        // Quantity updates and tax items.
        let mut size = CartSize::of(&existing, &taxes);
        assert_eq!(
            size.try_set(existing[0].id, MAX_QUANTITY + 1, None),
            Err(CartLimit::Quantity)
        );
        assert_eq!(size.try_set(existing[1].id, 3, None), Ok(()));
        assert_eq!(size.try_set(existing[1].id, 9, None), Err(CartLimit::Total));
        assert_eq!(size.try_set(existing[1].id, 1, Some(big)), Err(CartLimit::Total));
        assert_eq!(size.try_set(existing[1].id, 0, None), Ok(()));
        assert_eq!(
            size.try_set(Uuid::nil(), i64::MAX, None),
            Ok(()),
            "unknown lines are the store's"
        );
        let mut size = CartSize::of(&existing, &taxes);
        let huge_rate = TaxItem::Rate(TaxRate::from_ppm(u32::MAX));
        assert_eq!(size.try_tax(existing[0].id, huge_rate), Ok(()));
        assert_eq!(size.try_tax(existing[1].id, huge_rate), Err(CartLimit::Total));
        assert_eq!(
            size.try_tax(existing[1].id, TaxItem::Amount(i64::MIN)),
            Err(CartLimit::Total)
        );
        assert_eq!(size.try_tax(existing[1].id, TaxItem::Amount(MAX_AMOUNT)), Ok(()));
        let taxed = [taxes[0].clone(), tax(&existing[1], huge_rate)];
        assert_eq!(CartSize::of(&existing, &taxed).check(), Err(CartLimit::Total));

        // What a refusal says, and where.
        match CartLimit::Total.error("data[1].quantity") {
            crate::Error::Validation(p) => {
                assert_eq!(p[0].source, "data[1].quantity");
                assert_eq!(p[0].title, CartLimit::TOTAL_TITLE);
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn cart_ids_use_safe_characters() {
        for ok in [
            "abc",
            "0123456789abcdef0123456789abcdef",
            "my_cart-1",
            &"a".repeat(128),
        ] {
            assert!(is_valid_cart_id(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "ä", "a.b", &"a".repeat(129)] {
            assert!(!is_valid_cart_id(bad), "{bad}");
        }
    }

    #[test]
    fn line_keys_separate_custom_inputs() {
        let id = Uuid::nil();
        let a = product_line_key(id, &serde_json::json!({"engraving": "Ron"}));
        let b = product_line_key(id, &serde_json::json!({"engraving": "Leslie"}));
        assert_ne!(a, b);
        assert_eq!(
            product_line_key(id, &serde_json::json!({})),
            product_line_key(id, &Value::Null)
        );
        assert_eq!(
            custom_line_key(Some("X"), Uuid::nil()),
            custom_line_key(Some("X"), Uuid::max())
        );
        assert_ne!(
            custom_line_key(None, Uuid::nil()),
            custom_line_key(None, Uuid::max())
        );
    }
}
