//! Checkout: a cart becomes an order. The rules of `POST /v2/carts/{id}/checkout` as pure
//! functions over what the handler read: whether the cart may be checked out ([`may_check_out`],
//! [`party_owns_cart`]), whether the stock is there ([`check_stock`]), and the order itself
//! ([`place`]), whose totals come from the pricing pipeline ([`crate::cart_pricing`]) once.
//! The store then writes what [`place`] returns, in one transaction.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use uuid::Uuid;

use crate::cart_pricing::price_items;
use crate::carts::{Cart, CartItem, CartStock, CartTaxItem, taxes_by_item};
use crate::order_state::{OrderStatus, PaymentStatus, ShippingStatus};
use crate::orders::{OrderItem, PlacedOrder};
use crate::promotion_rules::Outcome;
use crate::settings::{ReserveAt, StoreSettings};
use crate::time::Millis;
use crate::{Error, Result};

/// Who the order is for: a guest or customer (by name and email, or by id), or an account and
/// its member, with an optional contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderParty {
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub customer_id: Option<Uuid>,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub account_id: Option<Uuid>,
    pub account_member_id: Option<Uuid>,
}

/// What the checkout body says besides the cart: the party, both addresses (as checked by
/// [`crate::address`]) and the optional references.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderDetails {
    pub party: OrderParty,
    pub billing: Value,
    pub shipping: Value,
    pub order_number: Option<String>,
    pub external_ref: Option<String>,
}

/// A cart can be checked out when it is not a preview and has lines.
pub fn may_check_out(cart: &Cart, lines: &[CartItem]) -> Result<()> {
    if cart.snapshot_date.is_some() {
        return Err(Error::bad_request(
            "Bad Request",
            "A preview cart (with a snapshot_date) cannot be checked out",
        ));
    }
    if lines.is_empty() {
        return Err(Error::bad_request(
            "Bad Request",
            "The cart is empty; add items before checking out",
        ));
    }
    Ok(())
}

/// The cart's associations must agree with who the order is for.
pub fn party_owns_cart(party: &OrderParty, cart: &Cart) -> Result<()> {
    if cart.account_id.is_some() && cart.account_id != party.account_id {
        return Err(Error::Forbidden(
            "Account does not have the required permissions to fulfill this request".into(),
        ));
    }
    if cart.customer_id.is_some() && cart.customer_id != party.customer_id {
        return Err(Error::Forbidden(
            "Customer does not have the required permissions to fulfill this request".into(),
        ));
    }
    Ok(())
}

/// Why checkout's stock check refused: the API words each (title, detail and `meta`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockRefusal {
    /// A line draws from a location that no longer exists.
    LocationGone {
        product_id: Uuid,
        sku: String,
        location: String,
    },
    /// A product's lines want more than is available at a position.
    Insufficient {
        product_id: Uuid,
        sku: String,
        location: Option<String>,
    },
}

/// The final stock check: every product's quantity at each position (summed over its lines; a
/// line draws from its location, or else from the stock outside locations) is available.
/// `stock` holds the records of the lines' products (a product without one is not
/// stock-managed) and the lines' locations. Answers the ids of the lines' locations, by slug.
pub fn check_stock(
    lines: &[CartItem],
    stock: CartStock,
) -> std::result::Result<HashMap<String, Uuid>, StockRefusal> {
    // (product, location) → (quantity, sku), in a fixed order so the first shortage is stable.
    type Position<'a> = (Uuid, Option<&'a str>);
    let mut wanted: BTreeMap<Position, (i64, Option<&str>)> = BTreeMap::new();
    for line in lines {
        let Some(id) = line.product_id else { continue };
        if let Some(slug) = &line.location
            && stock.location(slug).is_none()
        {
            return Err(StockRefusal::LocationGone {
                product_id: id,
                sku: line.sku.clone().unwrap_or_else(|| id.to_string()),
                location: slug.clone(),
            });
        }
        match &line.bundle {
            // A bundle line takes its components' stock, not its own.
            Some(bundle) => {
                for (component, quantity) in bundle.products(line.quantity) {
                    let e = wanted
                        .entry((component, line.location.as_deref()))
                        .or_insert((0, None));
                    e.0 = e.0.saturating_add(quantity);
                }
            }
            None => {
                let e = wanted.entry((id, line.location.as_deref())).or_insert((0, None));
                e.1 = e.1.or(line.sku.as_deref());
                e.0 = e.0.saturating_add(line.quantity);
            }
        }
    }
    for ((product_id, location), (quantity, sku)) in wanted {
        let Some(record) = stock.stock.iter().find(|s| s.product_id == product_id) else {
            continue;
        };
        if record.at(location).available < quantity {
            return Err(StockRefusal::Insufficient {
                product_id,
                sku: sku.map_or_else(|| product_id.to_string(), str::to_owned),
                location: location.map(str::to_owned),
            });
        }
    }
    Ok(stock.locations.into_iter().collect())
}

/// The order a checkout places: the cart's lines (priced as they are now) as items with their
/// tax items, the discounts the promotions gave them (`promoted`, evaluated on these lines) and
/// the ids of the locations they draw from (`locations`, by slug, from [`check_stock`]), and the
/// order's totals computed once by the pricing pipeline from those kept discounts.
#[allow(clippy::too_many_arguments)]
pub fn place(
    cart: &Cart,
    lines: &[CartItem],
    taxes: &[CartTaxItem],
    promoted: &Outcome,
    locations: &HashMap<String, Uuid>,
    details: OrderDetails,
    currency: String,
    settings: &StoreSettings,
    now: Millis,
) -> Result<(PlacedOrder, Vec<OrderItem>)> {
    let taxes = taxes_by_item(taxes);
    // Time-ordered ids: every order and item index then grows at its right edge, so a batch of
    // checkouts dirties a few pages instead of one random leaf per index and row.
    let order_id = crate::ids::new_id();
    let items: Vec<OrderItem> = lines
        .iter()
        .enumerate()
        .map(|(n, l)| {
            let line_taxes = taxes
                .get(&l.id)
                .map(|t| t.iter().map(|t| (*t).clone()).collect())
                .unwrap_or_default();
            let mut item = OrderItem::from_cart_line(order_id, n, l, line_taxes, now);
            item.location_id = l.location.as_ref().and_then(|slug| locations.get(slug).copied());
            item.discounts = promoted.lines.get(n).cloned().unwrap_or_default();
            item
        })
        .collect();
    let discounts = promoted.cart.clone();
    let totals = price_items(&items, &discounts, settings.calculation_method)?;
    let OrderDetails {
        party,
        billing,
        shipping,
        order_number,
        external_ref,
    } = details;
    let order = PlacedOrder {
        id: order_id,
        status: OrderStatus::Incomplete,
        payment: PaymentStatus::Unpaid,
        shipping: ShippingStatus::Unfulfilled,
        cart_id: cart.id.clone(),
        currency,
        order_number,
        external_ref,
        contact_name: party.contact_name,
        contact_email: party.contact_email,
        customer_name: party.customer_name,
        customer_email: party.customer_email,
        customer_id: party.customer_id,
        account_id: party.account_id,
        account_member_id: party.account_member_id,
        billing_address: billing,
        shipping_address: shipping,
        custom_attributes: cart.custom_attributes.clone(),
        calculation_method: settings.calculation_method,
        with_tax: totals.with_tax,
        without_tax: totals.without_tax,
        tax: totals.tax,
        discount: totals.discount,
        without_discount: totals.without_discount,
        shipping_amount: totals.shipping,
        shipping_discount: totals.shipping_discount,
        paid: 0,
        authorized: 0,
        balance_owing: totals.with_tax,
        fully_paid_at: None,
        stock_allocated: settings.reserve_at == ReserveAt::Checkout,
        discounts,
        created_at: now,
        updated_at: now,
    };
    Ok((order, items))
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::cart_totals::{CalculationMethod, TaxItem, TaxRate};
    use crate::carts::test_product_line as product_line;
    use crate::inventory::{Position, Stock, StockLevels};

    fn levels(available: i64) -> StockLevels {
        StockLevels {
            available,
            allocated: 0,
        }
    }

    /// Product 1 has 5 outside locations and 2 at "leeds"; product 2 is not stock-managed.
    fn stock() -> CartStock {
        let leeds = Uuid::from_u128(9);
        let mut record = Stock::unlocated(Uuid::from_u128(1), levels(5), 0);
        record.locations.push(Position {
            location_id: leeds,
            slug: "leeds".into(),
            levels: levels(2),
        });
        CartStock {
            stock: vec![record],
            locations: vec![("leeds".into(), leeds)],
        }
    }

    #[test]
    fn stock_is_checked_per_product_and_position() {
        let gone = |sku: &str, location: &str| StockRefusal::LocationGone {
            product_id: Uuid::from_u128(1),
            sku: sku.into(),
            location: location.into(),
        };
        let short = |location: Option<&str>| StockRefusal::Insufficient {
            product_id: Uuid::from_u128(1),
            sku: "a".into(),
            location: location.map(str::to_owned),
        };
        let cases = [
            (vec![product_line(1, "a", 5, None)], Ok(())),
            (vec![product_line(1, "a", 6, None)], Err(short(None))),
            // Two lines of one product at one position count together.
            (
                vec![product_line(1, "a", 3, None), product_line(1, "a", 3, None)],
                Err(short(None)),
            ),
            (
                vec![
                    product_line(1, "a", 2, Some("leeds")),
                    product_line(1, "a", 5, None),
                ],
                Ok(()),
            ),
            (
                vec![product_line(1, "a", 3, Some("leeds"))],
                Err(short(Some("leeds"))),
            ),
            (
                vec![product_line(1, "a", 1, Some("york"))],
                Err(gone("a", "york")),
            ),
            // A product without a stock record is not stock-managed.
            (vec![product_line(2, "b", 1_000, None)], Ok(())),
        ];
        for (lines, want) in cases {
            let got = check_stock(&lines, stock()).map(|_| ());
            assert_eq!(got, want, "{lines:?}");
        }
        let ids = check_stock(&[product_line(1, "a", 1, Some("leeds"))], stock()).expect("in stock");
        assert_eq!(ids.get("leeds"), Some(&Uuid::from_u128(9)));
    }

    #[test]
    fn only_a_cart_with_lines_and_no_snapshot_is_checked_out() {
        let cart = Cart::empty("c".into(), 0, 7);
        let mut preview = cart.clone();
        preview.snapshot_date = Some(1);
        let line = product_line(1, "a", 1, None);
        let cases = [
            (&cart, vec![line.clone()], true),
            (&cart, vec![], false),
            (&preview, vec![line], false),
        ];
        for (cart, lines, ok) in cases {
            assert_eq!(may_check_out(cart, &lines).is_ok(), ok);
        }
    }

    #[test]
    fn an_associated_cart_is_checked_out_only_for_its_owner() {
        let (a, b) = (Some(Uuid::from_u128(1)), Some(Uuid::from_u128(2)));
        let owned = |account: Option<Uuid>, customer: Option<Uuid>| {
            let mut cart = Cart::empty("c".into(), 0, 7);
            cart.account_id = account;
            cart.customer_id = customer;
            cart
        };
        let party = |account: Option<Uuid>, customer: Option<Uuid>| OrderParty {
            account_id: account,
            customer_id: customer,
            ..OrderParty::default()
        };
        // (cart account, cart customer, party account, party customer) → allowed
        let cases = [
            (None, None, None, None, true),
            (None, None, a, None, true),
            (a, None, a, None, true),
            (a, None, b, None, false),
            (a, None, None, a, false),
            (None, a, None, a, true),
            (None, a, None, b, false),
        ];
        for (cart_account, cart_customer, account, customer, ok) in cases {
            let got = party_owns_cart(&party(account, customer), &owned(cart_account, cart_customer));
            assert_eq!(
                got.is_ok(),
                ok,
                "{cart_account:?} {cart_customer:?} {account:?} {customer:?}"
            );
        }
    }

    #[test]
    fn a_placed_order_carries_its_lines_taxes_and_totals() {
        let cart = Cart::empty("c".into(), 0, 7);
        let lines = vec![
            product_line(1, "a", 2, Some("leeds")),
            product_line(2, "b", 1, None),
        ];
        let taxes = vec![CartTaxItem {
            id: crate::ids::new_id(),
            cart_id: "c".into(),
            item_id: lines[0].id,
            name: None,
            code: None,
            jurisdiction: None,
            tax: TaxItem::Rate(TaxRate::from_ppm(100_000)),
            component_product_id: None,
            created_at: 0,
            updated_at: 0,
        }];
        let locations = HashMap::from([("leeds".to_owned(), Uuid::from_u128(9))]);
        for (method, reserve_at) in [
            (CalculationMethod::Line, ReserveAt::Payment),
            (CalculationMethod::Simple, ReserveAt::Checkout),
        ] {
            let settings = StoreSettings {
                calculation_method: method,
                reserve_at,
                ..StoreSettings::default()
            };
            let (order, items) = place(
                &cart,
                &lines,
                &taxes,
                &Outcome::default(),
                &locations,
                OrderDetails::default(),
                "USD".into(),
                &settings,
                42,
            )
            .expect("placed");
            assert_eq!(items.len(), 2);
            assert!(items.iter().all(|i| i.order_id == order.id));
            assert_eq!(items[0].location_id, Some(Uuid::from_u128(9)));
            assert_eq!(items[1].location_id, None);
            assert_eq!(items[0].taxes.len(), 1);
            assert!(items[1].taxes.is_empty());
            // 2 × 10.00 with 10 % tax, and 10.00 untaxed.
            assert_eq!(
                (order.without_tax, order.tax, order.with_tax, order.balance_owing),
                (3000, 200, 3200, 3200)
            );
            assert_eq!((order.paid, order.authorized), (0, 0));
            assert_eq!(order.calculation_method, method);
            assert_eq!(order.stock_allocated, reserve_at == ReserveAt::Checkout);
            assert_eq!((order.created_at, order.currency.as_str()), (42, "USD"));
        }
    }
}
