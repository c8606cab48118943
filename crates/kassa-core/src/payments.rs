//! Payments as they are kept: gateways, the transactions recorded on an order, and the changes an
//! order goes through after checkout (payments, captures, refunds, cancel, fulfil, field edits).
//!
//! The rules live in [`crate::order_state`]; [`plan`] puts one requested change through them and
//! [`change_writes`] says what to persist (the transaction to insert or update, the stock to move,
//! the order after the change), so each store only loads, calls [`change_writes`] and writes, in
//! one transaction.

use serde_json::Value;
use uuid::Uuid;

use crate::Error;
use crate::inventory::StockAction;
use crate::order_state::{
    self, Command, Decision, Effect, Order, OrderStatus, PaymentStatus, PaymentSummary, Refusal, Transaction,
    TransactionStatus, TransactionType,
};
use crate::orders::PlacedOrder;
use crate::time::Millis;

/// The gateways kassa knows, `(slug, name)`. Only the manual gateway exists: kassa takes no
/// money itself, so a gateway that needs a provider account cannot be offered.
pub const GATEWAYS: &[(&str, &str)] = &[("manual", "Manual")];
pub const MANUAL: &str = "manual";

/// A gateway as `GET /v2/gateways` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub slug: &'static str,
    pub name: &'static str,
    pub enabled: bool,
}

/// Every known gateway with its stored `enabled` flag (`(slug, enabled)` pairs as stored; a
/// gateway never set is disabled, as EP's are by default).
pub fn gateways(stored: &[(String, bool)]) -> Vec<Gateway> {
    GATEWAYS
        .iter()
        .map(|(slug, name)| Gateway {
            slug,
            name,
            enabled: stored.iter().any(|(s, enabled)| s == slug && *enabled),
        })
        .collect()
}

/// One payment transaction of an order, as stored and rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentTransaction {
    pub id: Uuid,
    pub order_id: Uuid,
    pub gateway: String,
    pub transaction_type: TransactionType,
    pub status: TransactionStatus,
    pub amount: i64,
    pub refunded_amount: i64,
    pub currency: String,
    pub custom_reference: Option<String>,
    pub name: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl PaymentTransaction {
    /// What the state machine sees of it.
    pub fn core(&self) -> Transaction {
        Transaction {
            id: self.id,
            transaction_type: self.transaction_type,
            status: self.status,
            amount: self.amount,
            refunded_amount: self.refunded_amount,
        }
    }
}

/// What a payment request says about the new transaction beyond the state machine's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionDetails {
    pub gateway: String,
    pub custom_reference: Option<String>,
    pub name: Option<String>,
}

/// Field edits of `PUT /v2/orders/{id}`: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderEdit {
    pub order_number: Option<Option<String>>,
    pub external_ref: Option<Option<String>>,
    pub shipping_address: Option<Value>,
}

impl OrderEdit {
    pub fn is_empty(&self) -> bool {
        self.order_number.is_none() && self.external_ref.is_none() && self.shipping_address.is_none()
    }
}

/// One requested change of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderChange {
    pub command: Option<Command>,
    /// Used when the command records a payment.
    pub details: TransactionDetails,
    pub edit: OrderEdit,
}

/// The order after a change, and the transaction the change recorded or updated.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedOrder {
    pub order: PlacedOrder,
    pub transaction: Option<PaymentTransaction>,
}

/// What to persist for a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub decision: Option<Decision>,
    /// The order after the change.
    pub after: Order,
    pub status: OrderStatus,
    pub payment: PaymentSummary,
    /// When the order first became fully paid; kept once set (a later refund does not undo it).
    pub fully_paid_at: Option<Millis>,
}

/// Puts a change through the rules: field edits are allowed only on an unfulfilled order (as it
/// was before the change), then the command runs. Refused as a whole, or planned as a whole.
pub fn plan(
    order: &Order,
    change: &OrderChange,
    fully_paid_at: Option<Millis>,
    now: Millis,
) -> Result<Plan, Refusal> {
    if !change.edit.is_empty() {
        order_state::may_edit(order)?;
    }
    let decision = change
        .command
        .map(|c| order_state::decide(order, c))
        .transpose()?;
    let after = decision
        .as_ref()
        .map_or_else(|| order.clone(), |d| d.after.clone());
    let payment = after.payment();
    let fully_paid_at = fully_paid_at.or((payment.status == PaymentStatus::Paid).then_some(now));
    Ok(Plan {
        status: after.status(),
        payment,
        fully_paid_at,
        decision,
        after,
    })
}

/// What the state machine sees of a stored order and its transactions.
pub fn order_state_of(order: &PlacedOrder, transactions: &[PaymentTransaction]) -> Order {
    Order {
        total: order.with_tax,
        cancelled: order.status == OrderStatus::Cancelled,
        shipping: order.shipping,
        transactions: transactions.iter().map(PaymentTransaction::core).collect(),
        stock_allocated: order.stock_allocated,
    }
}

/// The transaction a change writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransactionWrite {
    /// A new transaction (a payment or an authorization).
    Insert(PaymentTransaction),
    /// A stored transaction with its new type, status and refunded amount (a capture, a refund).
    Update(PaymentTransaction),
}

impl TransactionWrite {
    pub fn record(&self) -> &PaymentTransaction {
        match self {
            TransactionWrite::Insert(t) | TransactionWrite::Update(t) => t,
        }
    }
}

/// Everything a store writes for one change of an order, in this order: the transaction, the
/// stock moves, the order.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeWrites {
    pub transaction: Option<TransactionWrite>,
    pub stock: Vec<StockAction>,
    /// The order after the change: statuses and amounts from the plan, field edits applied.
    pub order: PlacedOrder,
}

impl ChangeWrites {
    /// What the change answers with, once written.
    pub fn changed(self) -> ChangedOrder {
        ChangedOrder {
            order: self.order,
            transaction: self.transaction.map(|t| match t {
                TransactionWrite::Insert(t) | TransactionWrite::Update(t) => t,
            }),
        }
    }
}

/// Plans `change` of `order` (with its `stored` transactions) and says what to write: the one
/// rule both stores follow, so a payment record, an update and the order after it are decided
/// once.
pub fn change_writes(
    order: PlacedOrder,
    stored: &[PaymentTransaction],
    change: &OrderChange,
    now: Millis,
) -> Result<ChangeWrites, Refusal> {
    let plan = plan(&order_state_of(&order, stored), change, order.fully_paid_at, now)?;
    let (transaction, stock) = match &plan.decision {
        Some(decision) => {
            let transaction = match decision.effect {
                Effect::Record(t) => Some(TransactionWrite::Insert(PaymentTransaction {
                    id: t.id,
                    order_id: order.id,
                    gateway: change.details.gateway.clone(),
                    transaction_type: t.transaction_type,
                    status: t.status,
                    amount: t.amount,
                    refunded_amount: t.refunded_amount,
                    currency: order.currency.clone(),
                    custom_reference: change.details.custom_reference.clone(),
                    name: change.details.name.clone(),
                    created_at: now,
                    updated_at: now,
                })),
                // The state machine only updates a transaction it was given.
                Effect::Update(t) => stored.iter().find(|r| r.id == t.id).map(|r| {
                    TransactionWrite::Update(PaymentTransaction {
                        transaction_type: t.transaction_type,
                        status: t.status,
                        refunded_amount: t.refunded_amount,
                        updated_at: now,
                        ..r.clone()
                    })
                }),
                Effect::Cancel | Effect::Fulfil => None,
            };
            (transaction, decision.stock.clone())
        }
        None => (None, Vec::new()),
    };
    let mut after = order;
    let edit = &change.edit;
    if let Some(n) = &edit.order_number {
        after.order_number = n.clone();
    }
    if let Some(r) = &edit.external_ref {
        after.external_ref = r.clone();
    }
    if let Some(a) = &edit.shipping_address {
        after.shipping_address = a.clone();
    }
    after.status = plan.status;
    after.payment = plan.payment.status;
    after.shipping = plan.after.shipping;
    after.paid = plan.payment.paid;
    after.authorized = plan.payment.authorized;
    after.balance_owing = plan.payment.balance_owing;
    after.fully_paid_at = plan.fully_paid_at;
    after.stock_allocated = plan.after.stock_allocated;
    after.updated_at = now;
    Ok(ChangeWrites {
        transaction,
        stock,
        order: after,
    })
}

/// A refusal as the error the caller sees: an unknown transaction is 404, anything else 400
/// with the reason as the detail.
pub fn refusal_error(r: Refusal) -> Error {
    if r.is_not_found() {
        Error::not_found("Not Found", r.to_string())
    } else {
        Error::bad_request("Bad Request", r.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order_state::{PayMethod, PaymentMethod, ShippingStatus};

    const T1: Uuid = Uuid::from_u128(1);

    fn pay(amount: Option<i64>) -> OrderChange {
        OrderChange {
            command: Some(Command::Pay {
                id: T1,
                method: PaymentMethod::Pay(PayMethod::Purchase),
                amount,
            }),
            details: TransactionDetails::default(),
            edit: OrderEdit::default(),
        }
    }

    #[test]
    fn gateways_start_disabled() {
        let all = gateways(&[]);
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].slug, all[0].enabled), ("manual", false));
        assert!(gateways(&[("manual".into(), true)])[0].enabled);
        assert!(!gateways(&[("stripe".into(), true)])[0].enabled);
    }

    #[test]
    fn fully_paid_at_is_set_once() {
        let p = plan(&Order::new(100), &pay(Some(40)), None, 5).unwrap();
        assert_eq!(
            (p.payment.status, p.fully_paid_at),
            (PaymentStatus::PartiallyPaid, None)
        );
        let p = plan(&Order::new(100), &pay(None), None, 7).unwrap();
        assert_eq!((p.status, p.fully_paid_at), (OrderStatus::Complete, Some(7)));
        // Refunding keeps the first time it was paid.
        let refund = OrderChange {
            command: Some(Command::Refund {
                transaction: T1,
                amount: None,
            }),
            ..pay(None)
        };
        let p = plan(&p.after, &refund, Some(7), 9).unwrap();
        assert_eq!(
            (p.payment.status, p.fully_paid_at),
            (PaymentStatus::Refunded, Some(7))
        );
    }

    #[test]
    fn edits_are_refused_on_fulfilled_orders_and_alone_change_nothing() {
        let edit = OrderChange {
            command: None,
            details: TransactionDetails::default(),
            edit: OrderEdit {
                external_ref: Some(None),
                ..OrderEdit::default()
            },
        };
        let p = plan(&Order::new(100), &edit, None, 1).unwrap();
        assert_eq!(p.decision, None);
        assert_eq!(p.after, Order::new(100));
        let mut shipped = plan(&Order::new(100), &pay(None), None, 1).unwrap().after;
        shipped.shipping = ShippingStatus::Fulfilled;
        assert_eq!(plan(&shipped, &edit, None, 1), Err(Refusal::EditFulfilled));
        // A status change alone is judged by the state machine, not by the edit rule.
        let cancel = OrderChange {
            command: Some(Command::Cancel),
            ..edit
        };
        assert_eq!(plan(&shipped, &cancel, None, 1), Err(Refusal::EditFulfilled));
    }

    /// An unpaid order of 100, placed as checkout places one.
    fn placed(total: i64) -> PlacedOrder {
        let cart = crate::carts::Cart::empty("c".into(), 0, 7);
        let settings = crate::settings::StoreSettings::default();
        let details = crate::checkout::OrderDetails::default();
        let locations = std::collections::HashMap::new();
        let (mut order, _) = crate::checkout::place(
            &cart,
            &[],
            &[],
            &Default::default(),
            &locations,
            details,
            "EUR".into(),
            &settings,
            1,
        )
        .expect("an empty order");
        order.with_tax = total;
        order.balance_owing = total;
        order
    }

    #[test]
    fn a_change_says_what_each_store_writes() {
        let order = placed(100);
        let details = TransactionDetails {
            gateway: "manual".into(),
            custom_reference: Some("ref".into()),
            name: Some("card".into()),
        };
        // A payment inserts a record with the request's details, in the order's currency.
        let paying = OrderChange { details, ..pay(None) };
        let writes = change_writes(order.clone(), &[], &paying, 5).unwrap();
        let Some(TransactionWrite::Insert(record)) = &writes.transaction else {
            panic!("expected an insert, got {:?}", writes.transaction);
        };
        assert_eq!(
            (
                record.id,
                record.order_id,
                record.amount,
                record.currency.as_str()
            ),
            (T1, order.id, 100, "EUR")
        );
        assert_eq!(
            (
                record.gateway.as_str(),
                record.custom_reference.as_deref(),
                record.name.as_deref()
            ),
            ("manual", Some("ref"), Some("card"))
        );
        assert_eq!((record.created_at, record.updated_at), (5, 5));
        assert_eq!(
            (
                writes.order.payment,
                writes.order.paid,
                writes.order.balance_owing
            ),
            (PaymentStatus::Paid, 100, 0)
        );
        assert_eq!(
            (writes.order.fully_paid_at, writes.order.updated_at),
            (Some(5), 5)
        );
        // A refund updates the stored record only in its type, status, refund and time.
        let paid = writes.changed();
        let stored = vec![paid.transaction.clone().expect("recorded")];
        let refund = OrderChange {
            command: Some(Command::Refund {
                transaction: T1,
                amount: Some(30),
            }),
            ..pay(None)
        };
        let writes = change_writes(paid.order, &stored, &refund, 9).unwrap();
        let Some(TransactionWrite::Update(updated)) = &writes.transaction else {
            panic!("expected an update, got {:?}", writes.transaction);
        };
        assert_eq!((updated.refunded_amount, updated.updated_at), (30, 9));
        assert_eq!((updated.created_at, updated.name.as_deref()), (5, Some("card")));
        // An edit alone writes no transaction and moves no stock.
        let edit = OrderChange {
            command: None,
            details: TransactionDetails::default(),
            edit: OrderEdit {
                order_number: Some(Some("A-1".into())),
                ..OrderEdit::default()
            },
        };
        let writes = change_writes(order.clone(), &[], &edit, 3).unwrap();
        assert_eq!((writes.transaction, writes.stock.is_empty()), (None, true));
        assert_eq!(writes.order.order_number.as_deref(), Some("A-1"));
        // A refusal writes nothing at all.
        let capture_unknown = OrderChange {
            command: Some(Command::Capture(T1)),
            ..pay(None)
        };
        assert_eq!(
            change_writes(order, &[], &capture_unknown, 3),
            Err(Refusal::TransactionNotFound)
        );
    }

    #[test]
    fn refusals_map_to_not_found_or_bad_request() {
        assert!(matches!(
            refusal_error(Refusal::TransactionNotFound),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            refusal_error(Refusal::NothingOwing),
            Error::BadRequest { .. }
        ));
    }
}
