//! Carts as they are kept: the cart, its lines and who it belongs to. What a cart costs is
//! computed from these by [`crate::cart::cart_totals`]; nothing derived is stored.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::cart::TaxItem;
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

/// The line key of a custom item: items with the same sku merge; without a sku each add is its
/// own line.
pub fn custom_line_key(sku: Option<&str>, item_id: Uuid) -> String {
    match sku {
        Some(sku) => format!("custom:{sku}"),
        None => format!("custom-id:{item_id}"),
    }
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
    pub created_at: Millis,
    pub updated_at: Millis,
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
}

impl CartContents {
    /// A cart that has no lines yet.
    pub fn empty(cart: Cart) -> Self {
        Self {
            cart,
            lines: Vec::new(),
            taxes: Vec::new(),
        }
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
                (lines.iter().filter_map(|l| l.product_id).collect(), slugs)
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

    #[test]
    fn stock_is_read_for_the_lines_or_the_products_asked() {
        let (p, q) = (Uuid::from_u128(7), Uuid::from_u128(8));
        let line = |product_id: Option<Uuid>| CartItem {
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
            created_at: 0,
            updated_at: 0,
        };
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
