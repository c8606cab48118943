//! Store-wide settings (`/v2/settings` and `/v2/settings/cart`): one record per store, read on
//! every cart request by one small query.

use crate::cart_totals::CalculationMethod;
use crate::carts::{Cart, DEFAULT_CART_EXPIRY_DAYS};
use crate::time::Millis;

pub const DEFAULT_PAGE_LENGTH: i64 = 25;
pub const MAX_PAGE_LENGTH: i64 = 100;
/// The documented limits `GET /v2/settings` reports; kassa enforces the same numbers.
pub const CURRENCY_LIMIT: i64 = 10;
pub const TAX_ITEM_LIMIT: i64 = 5;
pub const FILTER_LIMIT: i64 = 10;
pub const PAGE_OFFSET_LIMIT: i64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    pub page_length: i64,
    pub calculation_method: CalculationMethod,
    /// Days after its last update that a new or updated cart expires (1..=365).
    pub cart_expiry_days: i64,
    /// Whether an admin's `GET /v2/carts` lists every cart, not only associated ones.
    pub show_all_carts: bool,
    /// Defaults for new carts.
    pub custom_discounts_enabled: bool,
    pub use_rule_promotions: bool,
    pub defer_inventory_check: bool,
    /// When an order's stock is allocated (`inventory.reserve_at`).
    pub reserve_at: ReserveAt,
    /// How many addresses one account or customer may have (`shopper_address_limit`).
    pub shopper_address_limit: i64,
}

/// When stock is allocated to an order: at its first complete payment (EP's behaviour, the
/// default) or already at checkout, which then fails with `Insufficient stock` when short.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReserveAt {
    #[default]
    Payment,
    Checkout,
}

impl ReserveAt {
    pub fn as_str(self) -> &'static str {
        match self {
            ReserveAt::Payment => "payment",
            ReserveAt::Checkout => "checkout",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "payment" => Some(ReserveAt::Payment),
            "checkout" => Some(ReserveAt::Checkout),
            _ => None,
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            page_length: DEFAULT_PAGE_LENGTH,
            calculation_method: CalculationMethod::Line,
            cart_expiry_days: DEFAULT_CART_EXPIRY_DAYS,
            show_all_carts: false,
            custom_discounts_enabled: false,
            use_rule_promotions: false,
            defer_inventory_check: false,
            reserve_at: ReserveAt::Payment,
            shopper_address_limit: crate::address::DEFAULT_SHOPPER_ADDRESS_LIMIT,
        }
    }
}

impl StoreSettings {
    /// When a cart created or updated at `now` expires.
    pub fn cart_expiry(&self, now: Millis) -> Millis {
        now + self.cart_expiry_days * crate::carts::DAY_MS
    }

    /// A new empty cart with the store's cart defaults.
    pub fn new_cart(&self, id: String, now: Millis) -> Cart {
        let mut cart = Cart::empty(id, now, self.cart_expiry_days);
        cart.custom_discounts_enabled = self.custom_discounts_enabled;
        cart.use_rule_promotions = self.use_rule_promotions;
        cart.defer_inventory_check = self.defer_inventory_check;
        cart
    }
}
