//! Payments as they are kept: gateways, the transactions recorded on an order, and the changes an
//! order goes through after checkout (payments, captures, refunds, cancel, fulfil, field edits).
//!
//! The rules live in [`crate::order`]; [`plan`] puts one requested change through them and
//! says what to persist, so each store only loads, calls [`plan`] and writes, in one transaction.

use serde_json::Value;
use uuid::Uuid;

use crate::Error;
use crate::order::{
    self, Command, Decision, Order, OrderStatus, PaymentStatus, PaymentSummary, Refusal, Transaction,
    TransactionStatus, TransactionType,
};
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
    pub order: crate::orders::PlacedOrder,
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
        order::may_edit(order)?;
    }
    let decision = change.command.map(|c| order::decide(order, c)).transpose()?;
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
    use crate::order::{PayMethod, PaymentMethod, ShippingStatus};

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
