//! Orders as they are kept: what checkout turned a cart into. An order is written once, with its
//! items, in one transaction ([`crate::store::OrderStore::place_order`]); its payment state is
//! derived by [`crate::order`] from transactions, which come later.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::cart::{CalculationMethod, TaxItem, TaxRate};
use crate::carts::{CartTaxItem, ItemKind};
use crate::order::{OrderStatus, PaymentStatus, ShippingStatus};
use crate::time::Millis;

/// `external_ref` is at most this long (EP documents 64).
pub const MAX_EXTERNAL_REF: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct PlacedOrder {
    /// Random (v4), so an order id cannot be guessed from another.
    pub id: Uuid,
    pub status: OrderStatus,
    pub payment: PaymentStatus,
    pub shipping: ShippingStatus,
    /// The cart it was checked out from (which lives on).
    pub cart_id: String,
    pub currency: String,
    pub order_number: Option<String>,
    pub external_ref: Option<String>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub customer_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub account_member_id: Option<Uuid>,
    /// Validated address objects, as rendered.
    pub billing_address: Value,
    pub shipping_address: Value,
    pub custom_attributes: Value,
    /// How the line figures were computed (they are recomputed the same way on read).
    pub calculation_method: CalculationMethod,
    pub with_tax: i64,
    pub without_tax: i64,
    pub tax: i64,
    pub discount: i64,
    pub without_discount: i64,
    pub shipping_amount: i64,
    pub shipping_discount: i64,
    /// Kept in step with the order's transactions by every payment change
    /// (see [`crate::payments`]): captured money still held, authorized money, what is owed.
    pub paid: i64,
    pub authorized: i64,
    pub balance_owing: i64,
    /// When the order first became fully paid.
    pub fully_paid_at: Option<Millis>,
    /// Whether the order's stock-managed products are allocated to it now: from checkout when
    /// the store reserves stock at checkout (then placing the order allocates, all or nothing),
    /// else from its first complete payment; until it is cancelled or fulfilled.
    pub stock_allocated: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One line of an order: a copy of the cart line as priced at checkout, with its tax items.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    pub id: Uuid,
    pub order_id: Uuid,
    /// Keeps the cart's line order.
    pub position: i64,
    pub cart_item_id: Uuid,
    pub kind: ItemKind,
    pub product_id: Option<Uuid>,
    pub sku: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub quantity: i64,
    pub unit_amount: i64,
    pub includes_tax: bool,
    pub custom_inputs: Value,
    pub catalog_id: Option<Uuid>,
    /// The line's tax items as they were at checkout (`item_id` is the cart line's id).
    pub taxes: Vec<CartTaxItem>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Tax items as stored with an order item: a JSON array.
pub fn taxes_to_json(taxes: &[CartTaxItem]) -> String {
    Value::Array(
        taxes
            .iter()
            .map(|t| {
                let mut v = json!({
                    "id": t.id, "item_id": t.item_id, "name": t.name, "code": t.code,
                    "jurisdiction": t.jurisdiction, "created_at": t.created_at, "updated_at": t.updated_at,
                });
                match t.tax {
                    TaxItem::Rate(r) => v["rate_ppm"] = json!(r.ppm()),
                    TaxItem::Amount(a) => v["amount"] = json!(a),
                }
                v
            })
            .collect(),
    )
    .to_string()
}

/// The inverse of [`taxes_to_json`]; malformed entries are dropped.
pub fn taxes_from_json(text: &str, cart_id: &str) -> Vec<CartTaxItem> {
    let Ok(Value::Array(list)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let uuid = |v: &Value| v.as_str().and_then(|s| Uuid::parse_str(s).ok());
    let text = |v: &Value| v.as_str().map(str::to_owned);
    list.iter()
        .filter_map(|v| {
            let tax = match (v["rate_ppm"].as_u64(), v["amount"].as_i64()) {
                (Some(ppm), _) => TaxItem::Rate(TaxRate::from_ppm(u32::try_from(ppm).ok()?)),
                (None, Some(a)) => TaxItem::Amount(a),
                _ => return None,
            };
            Some(CartTaxItem {
                id: uuid(&v["id"])?,
                cart_id: cart_id.to_owned(),
                item_id: uuid(&v["item_id"])?,
                name: text(&v["name"]),
                code: text(&v["code"]),
                jurisdiction: text(&v["jurisdiction"]),
                tax,
                created_at: v["created_at"].as_i64().unwrap_or_default(),
                updated_at: v["updated_at"].as_i64().unwrap_or_default(),
            })
        })
        .collect()
}

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL_MS: Millis = 24 * 3_600_000;
/// An in-flight claim older than this is taken to be abandoned (its node died) and may be
/// claimed again.
pub const IDEMPOTENCY_LEASE_MS: Millis = 60_000;

/// A request claiming an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// Who may replay it: the client and the shopper token's subject.
    pub scope: String,
    pub key: String,
    /// A hash of the method, path and body.
    pub request_hash: String,
    pub now: Millis,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The key is ours now (in flight); run the request and complete it.
    Claimed,
    /// The same key with another request.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
    /// The first request finished: replay its response.
    Done { status: u16, body: String },
}

/// The response to remember for a claimed key, written by the use-case that completes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    pub scope: String,
    pub key: String,
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

/// The hash an idempotency key is bound to: SHA-256 of the method, the path and the request body
/// (as canonical JSON, so key order and whitespace do not matter), in hex.
pub fn request_hash(method: &str, path: &str, body: &Value) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body.to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_hash_ignores_key_order_but_not_values() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":{"c":2,"d":3}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "b": {"d":3,"c":2}, "a": 1 }"#).unwrap();
        let c = json!({"a": 2, "b": {"c": 2, "d": 3}});
        assert_eq!(request_hash("POST", "/x", &a), request_hash("POST", "/x", &b));
        assert_ne!(request_hash("POST", "/x", &a), request_hash("POST", "/x", &c));
        assert_ne!(request_hash("POST", "/x", &a), request_hash("POST", "/y", &a));
        assert_eq!(request_hash("POST", "/x", &a).len(), 64);
    }

    #[test]
    fn tax_items_round_trip_through_json() {
        let t = CartTaxItem {
            id: Uuid::new_v4(),
            cart_id: "c".into(),
            item_id: Uuid::new_v4(),
            name: Some("VAT".into()),
            code: None,
            jurisdiction: Some("UK".into()),
            tax: TaxItem::Rate(TaxRate::from_ppm(200_000)),
            created_at: 5,
            updated_at: 6,
        };
        let u = CartTaxItem {
            tax: TaxItem::Amount(-3),
            id: Uuid::new_v4(),
            ..t.clone()
        };
        let back = taxes_from_json(&taxes_to_json(&[t.clone(), u.clone()]), "c");
        assert_eq!(back, vec![t, u]);
    }
}
