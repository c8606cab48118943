//! Orders as they are kept: what checkout turned a cart into. An order is written once, with its
//! items, in one transaction ([`crate::store::OrderStore::place_order`]); its payment state is
//! derived by [`crate::order_state`] from transactions, which come later.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::cart_totals::{CalculationMethod, TaxItem, TaxRate};
use crate::carts::{CartItem, CartTaxItem, ItemKind};
use crate::order_state::{OrderStatus, PaymentStatus, ShippingStatus};
use crate::promotion_rules::Discount;
use crate::query::{
    self, Condition, FieldKind, FieldSpec, Filter, FilterOp, INT_OPS, PageRequest, Sort, TIME_OPS,
};
use crate::time::Millis;
use crate::{Error, Result};

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
    /// The promotions' cart discounts it was placed with (each line keeps its own in
    /// [`OrderItem::discounts`]): its totals are computed again from these.
    pub discounts: Vec<Discount>,
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
    /// The slug of the stock location the line drew from, as it was at checkout.
    pub location: Option<String>,
    /// That location's id: what the order's stock moves use (a slug may be renamed).
    pub location_id: Option<Uuid>,
    /// The line's tax items as they were at checkout (`item_id` is the cart line's id).
    pub taxes: Vec<CartTaxItem>,
    /// The promotions' item and bundle discounts it was placed with.
    pub discounts: Vec<Discount>,
    /// A bundle item's selected options, as its cart line had them.
    pub bundle: Option<crate::bundles::LineBundle>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl OrderItem {
    /// The order's copy of a cart line, at `position`, with the line's tax items. Its id is
    /// time-ordered, so an order's items grow every index at its right edge. The location's id
    /// is for the caller to fill in (checkout resolves it with the stock it reads).
    pub fn from_cart_line(
        order_id: Uuid,
        position: usize,
        line: &CartItem,
        taxes: Vec<CartTaxItem>,
        now: Millis,
    ) -> Self {
        Self {
            id: crate::ids::new_id(),
            order_id,
            position: position as i64,
            cart_item_id: line.id,
            kind: line.kind,
            product_id: line.product_id,
            sku: line.sku.clone(),
            name: line.name.clone(),
            description: line.description.clone(),
            quantity: line.quantity,
            unit_amount: line.unit_amount,
            includes_tax: line.includes_tax,
            custom_inputs: line.custom_inputs.clone(),
            catalog_id: line.catalog_id,
            location: line.location.clone(),
            location_id: None,
            taxes,
            discounts: Vec::new(),
            bundle: line.bundle.clone(),
            created_at: now,
            updated_at: now,
        }
    }
}

/// Discounts as stored with an order or an order item: a JSON array (`[]` when none).
pub fn discounts_to_json(discounts: &[Discount]) -> String {
    serde_json::to_string(discounts).unwrap_or_else(|_| "[]".into())
}

/// Discounts from their stored form; a value that does not parse (never written by kassa)
/// reads as none.
pub fn discounts_from_json(stored: Option<&str>) -> Vec<Discount> {
    stored
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
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
                if let Some(component) = t.component_product_id {
                    v["component_product_id"] = json!(component);
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
                component_product_id: uuid(&v["component_product_id"]),
                created_at: v["created_at"].as_i64().unwrap_or_default(),
                updated_at: v["updated_at"].as_i64().unwrap_or_default(),
            })
        })
        .collect()
}

/// Which orders a caller may read. Decided once per request from the tokens, by [`order_scope`];
/// the listing turns it into a condition and a single read checks it with [`OrderScope::may_see`],
/// so both follow one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderScope {
    /// Every order (a `client_credentials` token without a shopper token).
    All,
    /// Every order of this account, whichever member placed it.
    Account(Uuid),
    /// The orders of this customer.
    Customer(Uuid),
}

/// The access rule for orders. A shopper token narrows what any caller sees (EP: "pass the header
/// to limit orders to a specific account/customer"); without one, only `client_credentials` sees
/// anything. `None` means the caller may read no order at all (the listing answers 403).
pub fn order_scope(is_admin: bool, account: Option<Uuid>, customer: Option<Uuid>) -> Option<OrderScope> {
    match (account, customer) {
        (Some(account), _) => Some(OrderScope::Account(account)),
        (None, Some(customer)) => Some(OrderScope::Customer(customer)),
        (None, None) if is_admin => Some(OrderScope::All),
        (None, None) => None,
    }
}

impl OrderScope {
    pub fn may_see(self, order: &PlacedOrder) -> bool {
        match self {
            OrderScope::All => true,
            OrderScope::Account(id) => order.account_id == Some(id),
            OrderScope::Customer(id) => order.customer_id == Some(id),
        }
    }
}

/// Who may change an order (pay it, or as the admin capture, refund, cancel, fulfil or edit it).
/// The store checks it on the row the change locks, so deciding and changing are one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderAccess {
    /// The orders the caller may read ([`order_scope`]); `None`: none.
    pub scope: Option<OrderScope>,
    /// Whether a guest order (no account, no customer) may be changed by anyone who knows its id:
    /// EP lets an implicit token pay the order a guest checkout created.
    pub guest_orders: bool,
}

impl OrderAccess {
    /// The admin acting without a shopper token: every order.
    pub const ADMIN: Self = Self {
        scope: Some(OrderScope::All),
        guest_orders: true,
    };

    pub fn allows(self, order: &PlacedOrder) -> bool {
        self.scope.is_some_and(|scope| scope.may_see(order))
            || (self.guest_orders && order.account_id.is_none() && order.customer_id.is_none())
    }
}

/// Logical columns of order filters that are not plain `orders` columns; each store renders them
/// (the postcodes live in the address JSON, the item fields in `order_items`).
pub const COLUMN_SHIPPING_POSTCODE: &str = "shipping_postcode";
pub const COLUMN_BILLING_POSTCODE: &str = "billing_postcode";
/// Matches orders having an item with this product id (an `EXISTS` over `order_items`).
pub const COLUMN_ITEM_PRODUCT_ID: &str = "item.product_id";
/// Matches orders having an item with this SKU.
pub const COLUMN_ITEM_SKU: &str = "item.sku";

const EQ: &[FilterOp] = &[FilterOp::Eq];
const EQ_LIKE: &[FilterOp] = &[FilterOp::Eq, FilterOp::Like];

const fn field(
    name: &'static str,
    column: &'static str,
    kind: FieldKind,
    ops: &'static [FilterOp],
) -> FieldSpec {
    FieldSpec {
        name,
        column,
        kind,
        ops,
    }
}

/// `GET /v2/orders` filters: every attribute and operator EP documents, and nothing else.
/// `name`/`email` are the customer's (EP: `customer.name`, `customer.email`).
pub const ORDER_FIELDS: &[FieldSpec] = &[
    field("status", "status", FieldKind::Text, EQ),
    field("payment", "payment", FieldKind::Text, EQ),
    field("shipping", "shipping", FieldKind::Text, EQ),
    field("currency", "currency", FieldKind::Text, EQ),
    field("product_id", COLUMN_ITEM_PRODUCT_ID, FieldKind::Text, EQ),
    field("product_sku", COLUMN_ITEM_SKU, FieldKind::Text, EQ),
    field("name", "customer_name", FieldKind::Text, EQ_LIKE),
    field("email", "customer_email", FieldKind::Text, EQ_LIKE),
    field("customer_id", "customer_id", FieldKind::Text, EQ_LIKE),
    field("account_id", "account_id", FieldKind::Text, EQ_LIKE),
    field("account_member_id", "account_member_id", FieldKind::Text, EQ_LIKE),
    field("contact.name", "contact_name", FieldKind::Text, EQ_LIKE),
    field("contact.email", "contact_email", FieldKind::Text, EQ_LIKE),
    field(
        "shipping_postcode",
        COLUMN_SHIPPING_POSTCODE,
        FieldKind::Text,
        EQ_LIKE,
    ),
    field(
        "billing_postcode",
        COLUMN_BILLING_POSTCODE,
        FieldKind::Text,
        EQ_LIKE,
    ),
    field("with_tax", "with_tax", FieldKind::Int, INT_OPS),
    field("without_tax", "without_tax", FieldKind::Int, INT_OPS),
    field("created_at", "created_at", FieldKind::Time, TIME_OPS),
    field("updated_at", "updated_at", FieldKind::Time, TIME_OPS),
    field("external_ref", "external_ref", FieldKind::Text, EQ_LIKE),
    field("order_number", "order_number", FieldKind::Text, EQ_LIKE),
];

/// Columns that hold ids: `eq` on them takes a UUID (so the stores can compare ids as ids and use
/// their indexes).
pub const UUID_COLUMNS: &[&str] = &[
    "customer_id",
    "account_id",
    "account_member_id",
    COLUMN_ITEM_PRODUCT_ID,
];

/// Checks `GET /v2/orders` filters and types their operands: unknown fields and operators, bad
/// numbers and dates, unknown status values and malformed ids are all a 400 naming the problem.
pub fn order_conditions(filters: &[Filter]) -> Result<Vec<Condition>> {
    let conditions = query::conditions(filters, ORDER_FIELDS)?;
    for (f, c) in filters.iter().zip(&conditions) {
        let value = f.value();
        let known = match f.field.as_str() {
            "status" => OrderStatus::parse(value).is_some(),
            "payment" => PaymentStatus::parse(value).is_some(),
            "shipping" => ShippingStatus::parse(value).is_some(),
            _ if c.op == FilterOp::Eq && UUID_COLUMNS.contains(&c.column) => Uuid::parse_str(value).is_ok(),
            _ => true,
        };
        if !known {
            return Err(Error::field(
                "filter",
                "Bad Request",
                format!("'{value}' is not a valid value for the filter field {}", f.field),
            ));
        }
    }
    Ok(conditions)
}

/// What `GET /v2/orders` sorts by: the indexed times (EP documents no order sorts).
pub const ORDER_SORTS: &[&str] = &["created_at", "updated_at"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderSortField {
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderSort {
    pub field: OrderSortField,
    pub descending: bool,
}

impl Default for OrderSort {
    /// Newest first: what an order history shows.
    fn default() -> Self {
        Self {
            field: OrderSortField::CreatedAt,
            descending: true,
        }
    }
}

impl OrderSort {
    /// From a checked `sort` parameter (see [`ORDER_SORTS`]); none means newest first.
    pub fn from_sort(sort: Option<&Sort>) -> Self {
        match sort {
            None => Self::default(),
            Some(s) => Self {
                field: if s.field == "updated_at" {
                    OrderSortField::UpdatedAt
                } else {
                    OrderSortField::CreatedAt
                },
                descending: s.descending,
            },
        }
    }

    /// The `ORDER BY` of the orders table aliased `o`: the time, then the id so that pages are
    /// stable when times tie (both are in the indexes).
    pub fn sql(self) -> &'static str {
        match (self.field, self.descending) {
            (OrderSortField::CreatedAt, true) => "o.created_at DESC, o.id DESC",
            (OrderSortField::CreatedAt, false) => "o.created_at, o.id",
            (OrderSortField::UpdatedAt, true) => "o.updated_at DESC, o.id DESC",
            (OrderSortField::UpdatedAt, false) => "o.updated_at, o.id",
        }
    }
}

/// How far a listing counts its matches: one more than the deepest offset a client may ask for.
/// Counting is an index-only scan, but a million entries still take ~0.5 s on a small machine; no
/// page beyond offset 10,000 can be fetched anyway, so `meta.results.total` is exact up to 10,000
/// and reads 10,001 ("more than 10,000") beyond, which keeps every page link fetchable. A filter
/// (`ge(created_at,…)`) narrows the set to count it exactly.
pub const ORDER_COUNT_CAP: u64 = query::MAX_PAGE_OFFSET + 1;

/// One listing request to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderQuery {
    pub scope: OrderScope,
    /// From [`order_conditions`].
    pub conditions: Vec<Condition>,
    pub sort: OrderSort,
    pub page: PageRequest,
    /// Also read the page's items (in one query for the whole page).
    pub with_items: bool,
    /// Count at most this many matches ([`ORDER_COUNT_CAP`]).
    pub count_cap: u64,
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

    fn order(account: Option<Uuid>, customer: Option<Uuid>) -> PlacedOrder {
        PlacedOrder {
            id: Uuid::new_v4(),
            status: OrderStatus::Incomplete,
            payment: PaymentStatus::Unpaid,
            shipping: ShippingStatus::Unfulfilled,
            cart_id: "c".into(),
            currency: "USD".into(),
            order_number: None,
            external_ref: None,
            contact_name: None,
            contact_email: None,
            customer_name: None,
            customer_email: None,
            customer_id: customer,
            account_id: account,
            account_member_id: None,
            billing_address: Value::Null,
            shipping_address: Value::Null,
            custom_attributes: json!({}),
            calculation_method: CalculationMethod::default(),
            with_tax: 0,
            without_tax: 0,
            tax: 0,
            discount: 0,
            without_discount: 0,
            shipping_amount: 0,
            shipping_discount: 0,
            paid: 0,
            authorized: 0,
            balance_owing: 0,
            fully_paid_at: None,
            stock_allocated: false,
            discounts: Vec::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn access_rule_for_orders() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let (c, d) = (Uuid::new_v4(), Uuid::new_v4());
        // Who gets which scope: (admin, account token, customer token) → scope.
        let cases = [
            (true, None, None, Some(OrderScope::All)),
            (true, Some(a), None, Some(OrderScope::Account(a))),
            (true, None, Some(c), Some(OrderScope::Customer(c))),
            (false, Some(a), None, Some(OrderScope::Account(a))),
            (false, None, Some(c), Some(OrderScope::Customer(c))),
            (false, None, None, None),
        ];
        for (admin, account, customer, expected) in cases {
            assert_eq!(
                order_scope(admin, account, customer),
                expected,
                "{admin} {account:?} {customer:?}"
            );
        }
        // What each scope may read.
        let of_a = order(Some(a), None);
        let of_c = order(None, Some(c));
        let guest = order(None, None);
        let matrix = [
            (OrderScope::All, [true, true, true]),
            (OrderScope::Account(a), [true, false, false]),
            (OrderScope::Account(b), [false, false, false]),
            (OrderScope::Customer(c), [false, true, false]),
            (OrderScope::Customer(d), [false, false, false]),
        ];
        for (scope, expected) in matrix {
            let seen = [&of_a, &of_c, &guest].map(|o| scope.may_see(o));
            assert_eq!(seen, expected, "{scope:?}");
        }
        // Who may change which order: a payer (guest orders too) or a reader only.
        let access = |scope, guest_orders| OrderAccess { scope, guest_orders };
        let matrix = [
            (OrderAccess::ADMIN, [true, true, true]),
            (access(Some(OrderScope::Account(a)), true), [true, false, true]),
            (access(Some(OrderScope::Account(b)), true), [false, false, true]),
            (access(Some(OrderScope::Customer(c)), false), [false, true, false]),
            (access(None, true), [false, false, true]),
            (access(None, false), [false, false, false]),
        ];
        for (access, expected) in matrix {
            let allowed = [&of_a, &of_c, &guest].map(|o| access.allows(o));
            assert_eq!(allowed, expected, "{access:?}");
        }
    }

    fn detail(filter: &str) -> String {
        match order_conditions(&query::parse_filter(filter).unwrap()) {
            Err(Error::Validation(v)) => v[0].detail.clone(),
            other => panic!("{filter} gave {other:?}"),
        }
    }

    #[test]
    fn order_filter_spec() {
        let ok = [
            "eq(status,complete)",
            "eq(payment,paid):eq(shipping,fulfilled):eq(currency,USD)",
            "eq(product_id,6837058c-ae42-46db-b3c6-7f01e0c34b40):eq(product_sku,deck-shoe-001)",
            "like(name,Brad*):like(email,*@elasticpath.com)",
            "eq(customer_id,e5a0d684-a4af-4919-a348-f66b0b4955e0):like(account_id,3d72*)",
            "eq(account_member_id,2a8a3a92-2ccd-4b2b-a7af-52d3896eaecb)",
            "eq(contact.name,John Doe):like(contact.email,john*)",
            "like(shipping_postcode,117*):eq(billing_postcode,92802)",
            "ge(with_tax,10000):lt(without_tax,5)",
            "gt(created_at,2024-01-01):le(updated_at,1700000000000):eq(created_at,2024-01-01T00:00:00Z)",
            "like(external_ref,16be*):eq(order_number,123)",
        ];
        for f in ok {
            assert!(order_conditions(&query::parse_filter(f).unwrap()).is_ok(), "{f}");
        }
        let c = order_conditions(&query::parse_filter("eq(product_sku,X):ge(with_tax,10)").unwrap()).unwrap();
        assert_eq!(c[0].column, COLUMN_ITEM_SKU);
        assert_eq!(c[1].values, vec![query::SqlValue::Int(10)]);
        assert!(detail("eq(status,shipped)").contains("status"));
        assert!(detail("eq(payment,free)").contains("payment"));
        assert!(detail("eq(shipping,lost)").contains("shipping"));
        assert!(detail("eq(account_id,nope)").contains("account_id"));
        assert!(detail("eq(product_id,nope)").contains("product_id"));
        assert!(detail("like(status,c*)").contains("status"));
        assert!(detail("eq(with_tax,100)").contains("with_tax"));
        assert!(detail("gt(with_tax,ten)").contains("with_tax"));
        assert!(detail("gt(created_at,yesterday)").contains("created_at"));
        assert!(detail("eq(password,x)").contains("password"));
        assert!(detail("like(product_sku,X*)").contains("product_sku"));
    }

    #[test]
    fn order_sorts() {
        assert_eq!(OrderSort::from_sort(None).sql(), "o.created_at DESC, o.id DESC");
        let s = query::parse_sort("updated_at", ORDER_SORTS).unwrap();
        assert_eq!(OrderSort::from_sort(Some(&s)).sql(), "o.updated_at, o.id");
        let s = query::parse_sort("-updated_at", ORDER_SORTS).unwrap();
        assert_eq!(
            OrderSort::from_sort(Some(&s)).sql(),
            "o.updated_at DESC, o.id DESC"
        );
        let s = query::parse_sort("created_at", ORDER_SORTS).unwrap();
        assert_eq!(OrderSort::from_sort(Some(&s)).sql(), "o.created_at, o.id");
        assert!(query::parse_sort("with_tax", ORDER_SORTS).is_err());
    }

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
            component_product_id: None,
            created_at: 5,
            updated_at: 6,
        };
        let u = CartTaxItem {
            tax: TaxItem::Amount(-3),
            id: Uuid::new_v4(),
            component_product_id: Some(Uuid::new_v4()),
            ..t.clone()
        };
        let back = taxes_from_json(&taxes_to_json(&[t.clone(), u.clone()]), "c");
        assert_eq!(back, vec![t, u]);
    }
}
