//! The order and payment state machine (manual gateway).
//!
//! An order's payment state is never stored on its own: it is derived from the order's
//! transactions by [`payment_state`], so a payment and the status it implies cannot disagree. The
//! only stored order facts are the total, whether it was cancelled and whether it was shipped.
//!
//! Commands ([`pay`], [`capture`], [`refund`], [`cancel_order`], [`fulfil`]) look at an [`Order`]
//! and either refuse with a [`Refusal`] (whose message becomes an HTTP 4xx `detail`) or return the
//! single [`Effect`] to persist. [`Order::apply`] folds an effect into an order, which is what the
//! storage layer does in SQL and what the tests do in memory.
//!
//! Status derivation follows EP's split-payments table (`sdk/payments.yaml`):
//!
//! | payment                 | order status |
//! |-------------------------|--------------|
//! | `unpaid`                | `incomplete` |
//! | `partially_authorized`  | `incomplete` |
//! | `partially_paid`        | `incomplete` |
//! | `authorized`            | `processing` |
//! | `paid`, `refunded`      | `complete`   |
//!
//! and `cancelled` overrides all of them. Fulfilment does not change the order status (a paid order
//! is already `complete`); a refund does not either (EP is silent, the digest infers "unchanged").

use uuid::Uuid;

wire_enum!(
    /// `order.status`.
    OrderStatus {
        Incomplete => "incomplete",
        Processing => "processing",
        Complete => "complete",
        Cancelled => "cancelled",
    }
);

wire_enum!(
    /// `order.payment`.
    PaymentStatus {
        Unpaid => "unpaid",
        PartiallyAuthorized => "partially_authorized",
        Authorized => "authorized",
        PartiallyPaid => "partially_paid",
        Paid => "paid",
        Refunded => "refunded",
    }
);

wire_enum!(
    /// `order.shipping`.
    ShippingStatus {
        Unfulfilled => "unfulfilled",
        Fulfilled => "fulfilled",
    }
);

wire_enum!(
    /// `transaction_type`. A captured authorization becomes a `capture` (the same transaction, as
    /// in EP's capture response); `refund` exists on the wire for other gateways' records, but
    /// refunds here are recorded on the refunded transaction (`refunded_amount`), so
    /// [`payment_state`] ignores `refund` transactions.
    TransactionType {
        Purchase => "purchase",
        Authorize => "authorize",
        Capture => "capture",
        Refund => "refund",
    }
);

wire_enum!(
    /// A transaction's `status`. The manual gateway only ever produces `complete` (and
    /// `refunded` once all of a payment is given back); the others come from gateways that answer
    /// later or say no, and count for nothing.
    TransactionStatus {
        Complete => "complete",
        Pending => "pending",
        Failed => "failed",
        Refunded => "refunded",
        Cancelled => "cancelled",
    }
);

wire_enum!(
    /// The `method` of `POST /v2/orders/{id}/payments` that this state machine supports.
    /// `purchase_setup` and `authorize_setup` change no status and are not modelled.
    PayMethod {
        Purchase => "purchase",
        Authorize => "authorize",
    }
);

/// One payment transaction on an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transaction {
    pub id: Uuid,
    pub transaction_type: TransactionType,
    pub status: TransactionStatus,
    /// Minor units, in the order's currency.
    pub amount: i64,
    /// How much of `amount` has been given back; only ever non-zero on captured money.
    pub refunded_amount: i64,
}

impl Transaction {
    /// Money actually taken: a completed purchase or capture (also once refunded, since a refund is
    /// accounted separately in `refunded_amount`).
    fn is_captured(&self) -> bool {
        matches!(
            self.transaction_type,
            TransactionType::Purchase | TransactionType::Capture
        ) && matches!(
            self.status,
            TransactionStatus::Complete | TransactionStatus::Refunded
        )
    }

    /// Money promised but not yet taken.
    fn is_open_authorization(&self) -> bool {
        self.transaction_type == TransactionType::Authorize && self.status == TransactionStatus::Complete
    }
}

/// What the state machine needs to know about an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The order's `with_tax` total in minor units.
    pub total: i64,
    pub cancelled: bool,
    pub shipping: ShippingStatus,
    pub transactions: Vec<Transaction>,
    /// Whether the order's stock-managed products are currently reserved for it (allocated).
    pub stock_allocated: bool,
}

impl Order {
    /// A freshly checked-out order: `incomplete`, `unpaid`, `unfulfilled`.
    pub fn new(total: i64) -> Self {
        Order {
            total,
            cancelled: false,
            shipping: ShippingStatus::Unfulfilled,
            transactions: Vec::new(),
            stock_allocated: false,
        }
    }

    pub fn payment(&self) -> PaymentSummary {
        payment_state(self.total, &self.transactions)
    }

    pub fn status(&self) -> OrderStatus {
        order_status(self.cancelled, self.payment().status)
    }

    /// Folds a command's effect into the order, as the storage layer will, including what
    /// [`stock_moves`] does to the reservation.
    pub fn apply(&mut self, effect: &Effect) {
        match *effect {
            Effect::Record(t) => self.transactions.push(t),
            Effect::Update(t) => {
                if let Some(existing) = self.transactions.iter_mut().find(|e| e.id == t.id) {
                    *existing = t;
                }
            }
            Effect::Cancel => self.cancelled = true,
            Effect::Fulfil => self.shipping = ShippingStatus::Fulfilled,
        }
        match effect {
            Effect::Record(_) | Effect::Update(_) => {
                // Only an open order reserves: a shipped or cancelled one has nothing to hold.
                if !self.cancelled
                    && self.shipping == ShippingStatus::Unfulfilled
                    && self.payment().status != PaymentStatus::Unpaid
                {
                    self.stock_allocated = true;
                }
            }
            // Released on cancel; on fulfilment the reserved units leave the building.
            Effect::Cancel | Effect::Fulfil => self.stock_allocated = false,
        }
    }

    fn transaction(&self, id: Uuid) -> Result<&Transaction, Refusal> {
        self.transactions
            .iter()
            .find(|t| t.id == id)
            .ok_or(Refusal::TransactionNotFound)
    }
}

/// An order's money, derived from its transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentSummary {
    pub status: PaymentStatus,
    /// Captured money still held: purchases and captures, minus what was refunded.
    pub paid: i64,
    /// Authorized money not yet captured.
    pub authorized: i64,
    pub refunded: i64,
    /// What may still be paid or authorized: `total − captured − authorized`, never negative.
    /// Captured money counts *before* refunds: a refund is the merchant giving money back on
    /// purpose, not a debt the shopper owes again, so it does not reopen the order for payment.
    pub balance_owing: i64,
}

/// The payment status and amounts implied by an order's transactions. Pending, failed and
/// cancelled transactions count for nothing; `refund`-type transactions are ignored (see
/// [`TransactionType`]). Sums saturate rather than overflow: they are display figures of amounts
/// that were each validated when recorded.
pub fn payment_state(total: i64, transactions: &[Transaction]) -> PaymentSummary {
    let mut captured: i64 = 0;
    let mut refunded: i64 = 0;
    let mut authorized: i64 = 0;
    let mut any_captured = false;
    let mut any_authorized = false;
    for t in transactions {
        if t.is_captured() {
            any_captured = true;
            captured = captured.saturating_add(t.amount);
            refunded = refunded.saturating_add(t.refunded_amount);
        } else if t.is_open_authorization() {
            any_authorized = true;
            authorized = authorized.saturating_add(t.amount);
        }
    }
    let covered = captured.saturating_add(authorized);
    let status = if any_captured && !any_authorized && refunded > 0 && refunded >= captured {
        PaymentStatus::Refunded
    } else if any_captured && !any_authorized && captured >= total {
        PaymentStatus::Paid
    } else if any_authorized && covered >= total {
        PaymentStatus::Authorized
    } else if any_captured {
        PaymentStatus::PartiallyPaid
    } else if any_authorized {
        PaymentStatus::PartiallyAuthorized
    } else {
        PaymentStatus::Unpaid
    };
    PaymentSummary {
        status,
        paid: captured.saturating_sub(refunded),
        authorized,
        refunded,
        balance_owing: total.saturating_sub(covered).max(0),
    }
}

/// `order.status` from the stored cancel flag and the derived payment status (table above).
pub fn order_status(cancelled: bool, payment: PaymentStatus) -> OrderStatus {
    if cancelled {
        return OrderStatus::Cancelled;
    }
    match payment {
        PaymentStatus::Unpaid | PaymentStatus::PartiallyAuthorized | PaymentStatus::PartiallyPaid => {
            OrderStatus::Incomplete
        }
        PaymentStatus::Authorized => OrderStatus::Processing,
        PaymentStatus::Paid | PaymentStatus::Refunded => OrderStatus::Complete,
    }
}

/// The one change a command makes; persist it, then derive the statuses again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Append a new transaction (`pay`).
    Record(Transaction),
    /// Replace the transaction with this id (`capture`, `refund`).
    Update(Transaction),
    /// Set the order's cancelled flag.
    Cancel,
    /// Set `shipping` to `fulfilled`.
    Fulfil,
}

/// Why a command was refused. `Display` is the human `detail` for the error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("The order has been cancelled")]
    OrderCancelled,
    #[error("The order has no balance owing")]
    NothingOwing,
    #[error("The payment amount must be greater than 0")]
    AmountNotPositive,
    #[error("The payment amount {amount} is more than the balance owing of {balance_owing}")]
    ExceedsBalance { amount: i64, balance_owing: i64 },
    #[error("Transaction not found")]
    TransactionNotFound,
    #[error("Only a complete authorization that has not been captured can be captured")]
    NotCapturable,
    #[error("Only a complete purchase or capture can be refunded")]
    NotRefundable,
    #[error("Refunds are only possible when the order is paid")]
    RefundNotPaid,
    #[error("The refund amount must be greater than 0")]
    RefundNotPositive,
    #[error("The refund amount {amount} is more than the {remaining} left to refund on this transaction")]
    ExceedsRefundable { amount: i64, remaining: i64 },
    #[error("You can fulfill a paid order only")]
    FulfilNotPaid,
    #[error("The order has already been fulfilled")]
    AlreadyFulfilled,
    #[error("The order is already cancelled")]
    AlreadyCancelled,
    #[error("A fulfilled order cannot be changed")]
    EditFulfilled,
}

impl Refusal {
    /// Whether the refusal means "no such thing" (404) rather than "not allowed now" (4xx).
    pub fn is_not_found(self) -> bool {
        self == Refusal::TransactionNotFound
    }
}

/// Records a manual-gateway payment of `amount` (default: the whole balance owing) as a complete
/// purchase or authorization with the caller's fresh `id`.
///
/// Refused on a cancelled order, for amounts ≤ 0 or above the balance owing, and when nothing is
/// owed. One exception: an order whose total is 0 and that has no payment yet takes a payment of 0,
/// because EP has zero-total orders completed through the manual gateway and there is no other way
/// for such an order to become `paid`.
pub fn pay(order: &Order, id: Uuid, method: PayMethod, amount: Option<i64>) -> Result<Effect, Refusal> {
    if order.cancelled {
        return Err(Refusal::OrderCancelled);
    }
    let summary = order.payment();
    let zero_total_settlement = order.total <= 0 && summary.status == PaymentStatus::Unpaid;
    let amount = if zero_total_settlement {
        match amount {
            None | Some(0) => 0,
            Some(a) if a < 0 => return Err(Refusal::AmountNotPositive),
            Some(a) => {
                return Err(Refusal::ExceedsBalance {
                    amount: a,
                    balance_owing: 0,
                });
            }
        }
    } else {
        if amount.is_some_and(|a| a <= 0) {
            return Err(Refusal::AmountNotPositive);
        }
        if summary.balance_owing == 0 {
            return Err(Refusal::NothingOwing);
        }
        let amount = amount.unwrap_or(summary.balance_owing);
        if amount > summary.balance_owing {
            return Err(Refusal::ExceedsBalance {
                amount,
                balance_owing: summary.balance_owing,
            });
        }
        amount
    };
    Ok(Effect::Record(Transaction {
        id,
        transaction_type: match method {
            PayMethod::Purchase => TransactionType::Purchase,
            PayMethod::Authorize => TransactionType::Authorize,
        },
        status: TransactionStatus::Complete,
        amount,
        refunded_amount: 0,
    }))
}

/// Captures a complete, not yet captured authorization in full (EP's capture takes no amount):
/// the transaction becomes a complete `capture`, moving its money from `authorized` to `paid`.
/// Refused on a cancelled order: money for an order that will not ship should be released, not
/// taken.
pub fn capture(order: &Order, transaction: Uuid) -> Result<Effect, Refusal> {
    let t = order.transaction(transaction)?;
    if order.cancelled {
        return Err(Refusal::OrderCancelled);
    }
    if !t.is_open_authorization() {
        return Err(Refusal::NotCapturable);
    }
    Ok(Effect::Update(Transaction {
        transaction_type: TransactionType::Capture,
        status: TransactionStatus::Complete,
        ..*t
    }))
}

/// Refunds `amount` (default: all that is left, EP's "Mark as Refunded") of a captured
/// transaction. Allowed only while the order's payment status is `paid` (EP: "only if the
/// payment status is paid"); a partial refund leaves it `paid` so further partial refunds remain
/// possible, and once every captured cent is back the order is `refunded`. Cancelled orders may
/// be refunded: cancelling does not refund by itself.
pub fn refund(order: &Order, transaction: Uuid, amount: Option<i64>) -> Result<Effect, Refusal> {
    let t = order.transaction(transaction)?;
    if !matches!(
        t.transaction_type,
        TransactionType::Purchase | TransactionType::Capture
    ) || t.status != TransactionStatus::Complete
    {
        return Err(Refusal::NotRefundable);
    }
    if order.payment().status != PaymentStatus::Paid {
        return Err(Refusal::RefundNotPaid);
    }
    let remaining = t.amount.saturating_sub(t.refunded_amount);
    let amount = amount.unwrap_or(remaining);
    if amount <= 0 {
        return Err(Refusal::RefundNotPositive);
    }
    if amount > remaining {
        return Err(Refusal::ExceedsRefundable { amount, remaining });
    }
    let refunded_amount = t.refunded_amount + amount;
    Ok(Effect::Update(Transaction {
        refunded_amount,
        status: if refunded_amount == t.amount {
            TransactionStatus::Refunded
        } else {
            TransactionStatus::Complete
        },
        ..*t
    }))
}

/// Cancels an order that has not been fulfilled, whatever its payment status: EP allows it "only
/// if it has not been fulfilled" and says cancelling "does not automatically refund a payment",
/// which implies paid orders can be cancelled (and then refunded separately).
pub fn cancel_order(order: &Order) -> Result<Effect, Refusal> {
    if order.cancelled {
        return Err(Refusal::AlreadyCancelled);
    }
    if order.shipping == ShippingStatus::Fulfilled {
        return Err(Refusal::AlreadyFulfilled);
    }
    Ok(Effect::Cancel)
}

/// Marks a paid order shipped (EP: "You can fulfill a paid order only"). `authorized` is not
/// enough, and neither is `refunded`; a partially refunded order is still `paid` and may ship.
pub fn fulfil(order: &Order) -> Result<Effect, Refusal> {
    if order.cancelled {
        return Err(Refusal::OrderCancelled);
    }
    if order.shipping == ShippingStatus::Fulfilled {
        return Err(Refusal::AlreadyFulfilled);
    }
    if order.payment().status != PaymentStatus::Paid {
        return Err(Refusal::FulfilNotPaid);
    }
    Ok(Effect::Fulfil)
}

/// The `method` of `POST /v2/orders/{id}/payments`, including the `*_setup` methods, which
/// record a `pending` transaction and change no status ("the order remains unpaid").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentMethod {
    Pay(PayMethod),
    Setup(PayMethod),
}

impl PaymentMethod {
    pub const NAMES: &'static [&'static str] =
        &["purchase", "authorize", "purchase_setup", "authorize_setup"];

    pub fn parse(input: &str) -> Option<Self> {
        match input.strip_suffix("_setup") {
            Some(base) => PayMethod::parse(base).map(PaymentMethod::Setup),
            None => PayMethod::parse(input).map(PaymentMethod::Pay),
        }
    }
}

/// Records a `*_setup` payment: the same checks as [`pay`], but the transaction is `pending`,
/// so it counts for nothing until a gateway completes it (the manual gateway never does).
pub fn setup(order: &Order, id: Uuid, method: PayMethod, amount: Option<i64>) -> Result<Effect, Refusal> {
    match pay(order, id, method, amount)? {
        Effect::Record(t) => Ok(Effect::Record(Transaction {
            status: TransactionStatus::Pending,
            ..t
        })),
        other => Ok(other),
    }
}

/// One change to an order: a payment command or an admin status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Pay {
        id: Uuid,
        method: PaymentMethod,
        amount: Option<i64>,
    },
    Capture(Uuid),
    Refund {
        transaction: Uuid,
        amount: Option<i64>,
    },
    Cancel,
    Fulfil,
}

/// What a command does: the effect to persist, the stock movements it implies (each applied to
/// every stock-managed product of the order, in this sequence) and the order afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub effect: Effect,
    pub stock: Vec<crate::inventory::StockAction>,
    pub after: Order,
}

/// Runs a command against an order: refused, or the one effect with its stock movements.
pub fn decide(order: &Order, command: Command) -> Result<Decision, Refusal> {
    let effect = match command {
        Command::Pay {
            id,
            method: PaymentMethod::Pay(m),
            amount,
        } => pay(order, id, m, amount)?,
        Command::Pay {
            id,
            method: PaymentMethod::Setup(m),
            amount,
        } => setup(order, id, m, amount)?,
        Command::Capture(t) => capture(order, t)?,
        Command::Refund { transaction, amount } => refund(order, transaction, amount)?,
        Command::Cancel => cancel_order(order)?,
        Command::Fulfil => fulfil(order)?,
    };
    let mut after = order.clone();
    after.apply(&effect);
    Ok(Decision {
        stock: stock_moves(order, &after),
        effect,
        after,
    })
}

/// The stock movements between two states of an order (EP: "Stock is allocated when the first
/// transaction completes", cancel deallocates, fulfilment decrements):
/// - the first complete transaction of an order without a reservation allocates;
/// - cancelling a reserved order deallocates;
/// - fulfilling takes the units out of stock: the reservation is released and the units
///   decremented, or only decremented if nothing was reserved.
pub fn stock_moves(before: &Order, after: &Order) -> Vec<crate::inventory::StockAction> {
    use crate::inventory::StockAction::{Allocate, Deallocate, Decrement};
    if before.shipping == ShippingStatus::Unfulfilled && after.shipping == ShippingStatus::Fulfilled {
        return if before.stock_allocated {
            vec![Deallocate, Decrement]
        } else {
            vec![Decrement]
        };
    }
    match (before.stock_allocated, after.stock_allocated) {
        (false, true) => vec![Allocate],
        (true, false) => vec![Deallocate],
        _ => Vec::new(),
    }
}

/// Editing `order_number`, `external_ref` or `shipping_address` is allowed only while the order
/// is unfulfilled.
pub fn may_edit(order: &Order) -> Result<(), Refusal> {
    if order.shipping == ShippingStatus::Fulfilled {
        return Err(Refusal::EditFulfilled);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Command as Cmd;
    use super::*;
    use OrderStatus as O;
    use PaymentStatus as P;
    use ShippingStatus as S;

    const T1: Uuid = Uuid::from_u128(1);
    const T2: Uuid = Uuid::from_u128(2);
    const T3: Uuid = Uuid::from_u128(3);
    const UNKNOWN: Uuid = Uuid::from_u128(99);

    fn run(order: &mut Order, command: impl FnOnce(&Order) -> Result<Effect, Refusal>) {
        let effect = command(order).expect("the command should be allowed");
        order.apply(&effect);
    }

    fn state(order: &Order) -> Statuses {
        (order.status(), order.payment().status, order.shipping)
    }

    // Starting points, all with a total of 100.
    fn unpaid() -> Order {
        Order::new(100)
    }
    fn paid() -> Order {
        let mut o = unpaid();
        run(&mut o, |x| pay(x, T1, PayMethod::Purchase, None));
        o
    }
    fn authorized() -> Order {
        let mut o = unpaid();
        run(&mut o, |x| pay(x, T1, PayMethod::Authorize, None));
        o
    }
    fn captured() -> Order {
        let mut o = authorized();
        run(&mut o, |x| capture(x, T1));
        o
    }
    fn partially_paid() -> Order {
        let mut o = unpaid();
        run(&mut o, |x| pay(x, T1, PayMethod::Purchase, Some(40)));
        o
    }
    fn partially_authorized() -> Order {
        let mut o = unpaid();
        run(&mut o, |x| pay(x, T1, PayMethod::Authorize, Some(40)));
        o
    }
    fn partially_refunded() -> Order {
        let mut o = paid();
        run(&mut o, |x| refund(x, T1, Some(10)));
        o
    }
    fn refunded() -> Order {
        let mut o = paid();
        run(&mut o, |x| refund(x, T1, None));
        o
    }
    fn fulfilled() -> Order {
        let mut o = paid();
        run(&mut o, fulfil);
        o
    }
    fn cancelled() -> Order {
        let mut o = unpaid();
        run(&mut o, cancel_order);
        o
    }
    fn cancelled_paid() -> Order {
        let mut o = paid();
        run(&mut o, cancel_order);
        o
    }
    fn cancelled_authorized() -> Order {
        let mut o = authorized();
        run(&mut o, cancel_order);
        o
    }
    fn zero_total() -> Order {
        Order::new(0)
    }
    fn zero_total_paid() -> Order {
        let mut o = zero_total();
        run(&mut o, |x| pay(x, T1, PayMethod::Purchase, None));
        o
    }

    type Start = fn() -> Order;
    type Command = fn(&Order) -> Result<Effect, Refusal>;
    type Statuses = (OrderStatus, PaymentStatus, ShippingStatus);

    #[test]
    fn allowed_transitions() {
        let cases: &[(&str, Start, Command, Statuses)] = &[
            (
                "checkout",
                unpaid,
                |_| {
                    Ok(Effect::Record(Transaction {
                        id: T2,
                        transaction_type: TransactionType::Purchase,
                        status: TransactionStatus::Pending,
                        amount: 100,
                        refunded_amount: 0,
                    }))
                },
                (O::Incomplete, P::Unpaid, S::Unfulfilled),
            ),
            (
                "purchase all",
                unpaid,
                |o| pay(o, T2, PayMethod::Purchase, None),
                (O::Complete, P::Paid, S::Unfulfilled),
            ),
            (
                "authorize all",
                unpaid,
                |o| pay(o, T2, PayMethod::Authorize, Some(100)),
                (O::Processing, P::Authorized, S::Unfulfilled),
            ),
            (
                "purchase part",
                unpaid,
                |o| pay(o, T2, PayMethod::Purchase, Some(1)),
                (O::Incomplete, P::PartiallyPaid, S::Unfulfilled),
            ),
            (
                "authorize part",
                unpaid,
                |o| pay(o, T2, PayMethod::Authorize, Some(99)),
                (O::Incomplete, P::PartiallyAuthorized, S::Unfulfilled),
            ),
            (
                "purchase the rest",
                partially_paid,
                |o| pay(o, T2, PayMethod::Purchase, None),
                (O::Complete, P::Paid, S::Unfulfilled),
            ),
            (
                "authorize the rest of a part payment",
                partially_paid,
                |o| pay(o, T2, PayMethod::Authorize, None),
                (O::Processing, P::Authorized, S::Unfulfilled),
            ),
            (
                "more partial payment",
                partially_paid,
                |o| pay(o, T2, PayMethod::Purchase, Some(10)),
                (O::Incomplete, P::PartiallyPaid, S::Unfulfilled),
            ),
            (
                "authorize the rest",
                partially_authorized,
                |o| pay(o, T2, PayMethod::Authorize, None),
                (O::Processing, P::Authorized, S::Unfulfilled),
            ),
            (
                "purchase the rest of an authorization",
                partially_authorized,
                |o| pay(o, T2, PayMethod::Purchase, None),
                (O::Processing, P::Authorized, S::Unfulfilled),
            ),
            (
                "capture a partial authorization",
                partially_authorized,
                |o| capture(o, T1),
                (O::Incomplete, P::PartiallyPaid, S::Unfulfilled),
            ),
            (
                "capture",
                authorized,
                |o| capture(o, T1),
                (O::Complete, P::Paid, S::Unfulfilled),
            ),
            (
                "partial refund",
                paid,
                |o| refund(o, T1, Some(30)),
                (O::Complete, P::Paid, S::Unfulfilled),
            ),
            (
                "full refund",
                paid,
                |o| refund(o, T1, Some(100)),
                (O::Complete, P::Refunded, S::Unfulfilled),
            ),
            (
                "mark as refunded",
                paid,
                |o| refund(o, T1, None),
                (O::Complete, P::Refunded, S::Unfulfilled),
            ),
            (
                "refund a capture",
                captured,
                |o| refund(o, T1, None),
                (O::Complete, P::Refunded, S::Unfulfilled),
            ),
            (
                "refund the rest",
                partially_refunded,
                |o| refund(o, T1, None),
                (O::Complete, P::Refunded, S::Unfulfilled),
            ),
            (
                "refund after shipping",
                fulfilled,
                |o| refund(o, T1, Some(50)),
                (O::Complete, P::Paid, S::Fulfilled),
            ),
            (
                "refund a cancelled order",
                cancelled_paid,
                |o| refund(o, T1, None),
                (O::Cancelled, P::Refunded, S::Unfulfilled),
            ),
            ("fulfil", paid, fulfil, (O::Complete, P::Paid, S::Fulfilled)),
            (
                "fulfil a partly refunded order",
                partially_refunded,
                fulfil,
                (O::Complete, P::Paid, S::Fulfilled),
            ),
            (
                "fulfil a captured order",
                captured,
                fulfil,
                (O::Complete, P::Paid, S::Fulfilled),
            ),
            (
                "cancel unpaid",
                unpaid,
                cancel_order,
                (O::Cancelled, P::Unpaid, S::Unfulfilled),
            ),
            (
                "cancel partly paid",
                partially_paid,
                cancel_order,
                (O::Cancelled, P::PartiallyPaid, S::Unfulfilled),
            ),
            (
                "cancel authorized",
                authorized,
                cancel_order,
                (O::Cancelled, P::Authorized, S::Unfulfilled),
            ),
            (
                "cancel paid",
                paid,
                cancel_order,
                (O::Cancelled, P::Paid, S::Unfulfilled),
            ),
            (
                "cancel refunded",
                refunded,
                cancel_order,
                (O::Cancelled, P::Refunded, S::Unfulfilled),
            ),
            (
                "settle a zero total",
                zero_total,
                |o| pay(o, T2, PayMethod::Purchase, Some(0)),
                (O::Complete, P::Paid, S::Unfulfilled),
            ),
            (
                "authorize a zero total",
                zero_total,
                |o| pay(o, T2, PayMethod::Authorize, None),
                (O::Processing, P::Authorized, S::Unfulfilled),
            ),
        ];
        for (name, start, command, expected) in cases {
            let mut order = start();
            let effect = command(&order).unwrap_or_else(|r| panic!("{name}: refused: {r}"));
            order.apply(&effect);
            assert_eq!(state(&order), *expected, "{name}");
        }
    }

    #[test]
    fn refused_transitions() {
        let cases: &[(&str, Start, Command, Refusal)] = &[
            (
                "pay a cancelled order",
                cancelled,
                |o| pay(o, T2, PayMethod::Purchase, None),
                Refusal::OrderCancelled,
            ),
            (
                "authorize a cancelled order",
                cancelled_paid,
                |o| pay(o, T2, PayMethod::Authorize, Some(1)),
                Refusal::OrderCancelled,
            ),
            (
                "pay a paid order",
                paid,
                |o| pay(o, T2, PayMethod::Purchase, None),
                Refusal::NothingOwing,
            ),
            (
                "pay an authorized order",
                authorized,
                |o| pay(o, T2, PayMethod::Purchase, Some(1)),
                Refusal::NothingOwing,
            ),
            (
                "pay a refunded order",
                refunded,
                |o| pay(o, T2, PayMethod::Purchase, None),
                Refusal::NothingOwing,
            ),
            (
                "pay a partly refunded order",
                partially_refunded,
                |o| pay(o, T2, PayMethod::Purchase, None),
                Refusal::NothingOwing,
            ),
            (
                "pay a settled zero total",
                zero_total_paid,
                |o| pay(o, T2, PayMethod::Purchase, None),
                Refusal::NothingOwing,
            ),
            (
                "pay nothing",
                unpaid,
                |o| pay(o, T2, PayMethod::Purchase, Some(0)),
                Refusal::AmountNotPositive,
            ),
            (
                "pay a negative amount",
                unpaid,
                |o| pay(o, T2, PayMethod::Authorize, Some(-5)),
                Refusal::AmountNotPositive,
            ),
            (
                "pay negative on a zero total",
                zero_total,
                |o| pay(o, T2, PayMethod::Purchase, Some(-1)),
                Refusal::AmountNotPositive,
            ),
            (
                "overpay",
                unpaid,
                |o| pay(o, T2, PayMethod::Purchase, Some(101)),
                Refusal::ExceedsBalance {
                    amount: 101,
                    balance_owing: 100,
                },
            ),
            (
                "overpay the rest",
                partially_paid,
                |o| pay(o, T2, PayMethod::Purchase, Some(61)),
                Refusal::ExceedsBalance {
                    amount: 61,
                    balance_owing: 60,
                },
            ),
            (
                "over-authorize the rest",
                partially_authorized,
                |o| pay(o, T2, PayMethod::Authorize, Some(61)),
                Refusal::ExceedsBalance {
                    amount: 61,
                    balance_owing: 60,
                },
            ),
            (
                "pay money on a zero total",
                zero_total,
                |o| pay(o, T2, PayMethod::Purchase, Some(5)),
                Refusal::ExceedsBalance {
                    amount: 5,
                    balance_owing: 0,
                },
            ),
            (
                "capture a purchase",
                paid,
                |o| capture(o, T1),
                Refusal::NotCapturable,
            ),
            (
                "capture twice",
                captured,
                |o| capture(o, T1),
                Refusal::NotCapturable,
            ),
            (
                "capture an unknown transaction",
                authorized,
                |o| capture(o, UNKNOWN),
                Refusal::TransactionNotFound,
            ),
            (
                "capture on a cancelled order",
                cancelled_authorized,
                |o| capture(o, T1),
                Refusal::OrderCancelled,
            ),
            (
                "refund an authorization",
                authorized,
                |o| refund(o, T1, None),
                Refusal::NotRefundable,
            ),
            (
                "refund an unknown transaction",
                paid,
                |o| refund(o, UNKNOWN, None),
                Refusal::TransactionNotFound,
            ),
            (
                "refund a partly paid order",
                partially_paid,
                |o| refund(o, T1, None),
                Refusal::RefundNotPaid,
            ),
            (
                "refund nothing",
                paid,
                |o| refund(o, T1, Some(0)),
                Refusal::RefundNotPositive,
            ),
            (
                "refund a negative amount",
                paid,
                |o| refund(o, T1, Some(-1)),
                Refusal::RefundNotPositive,
            ),
            (
                "refund more than paid",
                paid,
                |o| refund(o, T1, Some(101)),
                Refusal::ExceedsRefundable {
                    amount: 101,
                    remaining: 100,
                },
            ),
            (
                "refund more than remains",
                partially_refunded,
                |o| refund(o, T1, Some(91)),
                Refusal::ExceedsRefundable {
                    amount: 91,
                    remaining: 90,
                },
            ),
            (
                "refund twice",
                refunded,
                |o| refund(o, T1, None),
                Refusal::NotRefundable,
            ),
            ("fulfil unpaid", unpaid, fulfil, Refusal::FulfilNotPaid),
            (
                "fulfil partly paid",
                partially_paid,
                fulfil,
                Refusal::FulfilNotPaid,
            ),
            ("fulfil authorized", authorized, fulfil, Refusal::FulfilNotPaid),
            ("fulfil refunded", refunded, fulfil, Refusal::FulfilNotPaid),
            ("fulfil twice", fulfilled, fulfil, Refusal::AlreadyFulfilled),
            (
                "fulfil cancelled",
                cancelled_paid,
                fulfil,
                Refusal::OrderCancelled,
            ),
            (
                "cancel fulfilled",
                fulfilled,
                cancel_order,
                Refusal::AlreadyFulfilled,
            ),
            ("cancel twice", cancelled, cancel_order, Refusal::AlreadyCancelled),
        ];
        for (name, start, command, expected) in cases {
            let order = start();
            assert_eq!(command(&order), Err(*expected), "{name}");
        }
    }

    #[test]
    fn split_payments() {
        let mut order = unpaid();
        run(&mut order, |x| pay(x, T1, PayMethod::Purchase, Some(60)));
        assert_eq!(order.payment().balance_owing, 40);
        run(&mut order, |x| pay(x, T2, PayMethod::Purchase, Some(40)));
        let summary = order.payment();
        assert_eq!(
            (summary.status, summary.paid, summary.balance_owing),
            (P::Paid, 100, 0)
        );
        assert_eq!(order.status(), O::Complete);

        // Giving back one source entirely keeps the order paid; giving back both refunds it.
        run(&mut order, |x| refund(x, T2, None));
        assert_eq!(order.transactions[1].status, TransactionStatus::Refunded);
        let summary = order.payment();
        assert_eq!(
            (summary.status, summary.paid, summary.refunded),
            (P::Paid, 60, 40)
        );
        assert_eq!(summary.balance_owing, 0);
        run(&mut order, |x| refund(x, T1, None));
        let summary = order.payment();
        assert_eq!(
            (summary.status, summary.paid, summary.refunded),
            (P::Refunded, 0, 100)
        );
    }

    #[test]
    fn partial_authorization_then_capture() {
        let mut order = unpaid();
        run(&mut order, |x| pay(x, T1, PayMethod::Authorize, Some(30)));
        let s = order.payment();
        assert_eq!(
            (s.status, s.authorized, s.paid, s.balance_owing),
            (P::PartiallyAuthorized, 30, 0, 70)
        );
        assert_eq!(order.status(), O::Incomplete);

        run(&mut order, |x| pay(x, T2, PayMethod::Authorize, None));
        let s = order.payment();
        assert_eq!((s.status, s.authorized, s.balance_owing), (P::Authorized, 100, 0));
        assert_eq!(order.status(), O::Processing);

        run(&mut order, |x| capture(x, T1));
        assert_eq!(order.transactions[0].transaction_type, TransactionType::Capture);
        let s = order.payment();
        assert_eq!((s.status, s.authorized, s.paid), (P::Authorized, 70, 30));

        run(&mut order, |x| capture(x, T2));
        let s = order.payment();
        assert_eq!(
            (s.status, s.authorized, s.paid, s.balance_owing),
            (P::Paid, 0, 100, 0)
        );
        assert_eq!(order.status(), O::Complete);
    }

    #[test]
    fn partial_and_full_refunds() {
        let mut order = paid();
        run(&mut order, |x| refund(x, T1, Some(25)));
        let s = order.payment();
        assert_eq!(
            (s.status, s.paid, s.refunded, s.balance_owing),
            (P::Paid, 75, 25, 0)
        );
        assert_eq!(order.transactions[0].refunded_amount, 25);
        assert_eq!(order.transactions[0].status, TransactionStatus::Complete);

        run(&mut order, |x| refund(x, T1, Some(75)));
        let s = order.payment();
        assert_eq!((s.status, s.paid, s.refunded), (P::Refunded, 0, 100));
        assert_eq!(order.transactions[0].status, TransactionStatus::Refunded);
        assert_eq!(order.status(), O::Complete);
    }

    #[test]
    fn only_complete_transactions_count() {
        let t = |id, transaction_type, status, amount| Transaction {
            id,
            transaction_type,
            status,
            amount,
            refunded_amount: 0,
        };
        let transactions = [
            t(T1, TransactionType::Purchase, TransactionStatus::Pending, 100),
            t(T2, TransactionType::Authorize, TransactionStatus::Failed, 100),
            t(T3, TransactionType::Purchase, TransactionStatus::Cancelled, 100),
            t(UNKNOWN, TransactionType::Refund, TransactionStatus::Complete, 100),
        ];
        let s = payment_state(100, &transactions);
        assert_eq!(
            (s.status, s.paid, s.authorized, s.refunded, s.balance_owing),
            (P::Unpaid, 0, 0, 0, 100)
        );

        // Records that overshoot the total (written by something else) never owe a negative balance.
        let over = [t(T1, TransactionType::Purchase, TransactionStatus::Complete, 150)];
        let s = payment_state(100, &over);
        assert_eq!((s.status, s.paid, s.balance_owing), (P::Paid, 150, 0));
        // A pending authorization cannot be captured.
        let mut order = unpaid();
        order
            .transactions
            .push(t(T1, TransactionType::Authorize, TransactionStatus::Pending, 100));
        assert_eq!(capture(&order, T1), Err(Refusal::NotCapturable));
    }

    #[test]
    fn default_payment_is_the_balance_owing() {
        let order = partially_paid();
        let Ok(Effect::Record(t)) = pay(&order, T2, PayMethod::Authorize, None) else {
            panic!("payment refused");
        };
        assert_eq!(
            (t.id, t.amount, t.transaction_type),
            (T2, 60, TransactionType::Authorize)
        );
        assert_eq!(t.status, TransactionStatus::Complete);
    }

    #[test]
    fn wire_names_round_trip() {
        fn check<T: Copy + PartialEq + std::fmt::Debug>(
            all: &[T],
            as_str: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
        ) {
            for &v in all {
                assert_eq!(parse(as_str(v)), Some(v));
            }
            assert_eq!(parse("nonsense"), None);
        }
        check(OrderStatus::ALL, OrderStatus::as_str, OrderStatus::parse);
        check(PaymentStatus::ALL, PaymentStatus::as_str, PaymentStatus::parse);
        check(ShippingStatus::ALL, ShippingStatus::as_str, ShippingStatus::parse);
        check(
            TransactionType::ALL,
            TransactionType::as_str,
            TransactionType::parse,
        );
        check(
            TransactionStatus::ALL,
            TransactionStatus::as_str,
            TransactionStatus::parse,
        );
        check(PayMethod::ALL, PayMethod::as_str, PayMethod::parse);
        assert_eq!(
            PaymentStatus::PartiallyAuthorized.as_str(),
            "partially_authorized"
        );
        assert_eq!(PaymentStatus::PartiallyPaid.to_string(), "partially_paid");
        assert_eq!(PayMethod::parse("purchase_setup"), None);
    }

    #[test]
    fn refusals_read_as_details() {
        assert_eq!(
            Refusal::ExceedsBalance {
                amount: 101,
                balance_owing: 100
            }
            .to_string(),
            "The payment amount 101 is more than the balance owing of 100"
        );
        assert_eq!(
            Refusal::FulfilNotPaid.to_string(),
            "You can fulfill a paid order only"
        );
        assert!(Refusal::TransactionNotFound.is_not_found());
        assert!(!Refusal::NothingOwing.is_not_found());
    }

    #[test]
    fn stock_is_allocated_by_the_first_complete_transaction_only() {
        use crate::inventory::StockAction::{Allocate, Deallocate, Decrement};
        let pay_part = |id| Cmd::Pay {
            id,
            method: PaymentMethod::Pay(PayMethod::Purchase),
            amount: Some(40),
        };
        let d = decide(&unpaid(), pay_part(T1)).unwrap();
        assert_eq!(d.stock, vec![Allocate]);
        assert!(d.after.stock_allocated);
        // The second part of a split payment allocates nothing more.
        let d = decide(&d.after, pay_part(T2)).unwrap();
        assert!(d.stock.is_empty());
        // An authorization reserves too; capturing it later moves no stock.
        let d = decide(
            &unpaid(),
            Cmd::Pay {
                id: T1,
                method: PaymentMethod::Pay(PayMethod::Authorize),
                amount: None,
            },
        )
        .unwrap();
        assert_eq!(d.stock, vec![Allocate]);
        let d = decide(&d.after, Cmd::Capture(T1)).unwrap();
        assert!(d.stock.is_empty());
        // Fulfilment ships the reserved units; refunds move nothing.
        let d = decide(&d.after, Cmd::Fulfil).unwrap();
        assert_eq!(d.stock, vec![Deallocate, Decrement]);
        assert!(!d.after.stock_allocated);
        let d = decide(
            &d.after,
            Cmd::Refund {
                transaction: T1,
                amount: None,
            },
        )
        .unwrap();
        assert!(d.stock.is_empty());
    }

    #[test]
    fn cancel_releases_a_reservation_and_only_a_reservation() {
        use crate::inventory::StockAction::{Deallocate, Decrement};
        let d = decide(&partially_paid(), Cmd::Cancel).unwrap();
        assert_eq!(d.stock, vec![Deallocate]);
        assert!(!d.after.stock_allocated);
        let d = decide(&unpaid(), Cmd::Cancel).unwrap();
        assert!(d.stock.is_empty());
        // Reserved at checkout (the store's `inventory.reserve_at`), released on cancel.
        let mut reserved = unpaid();
        reserved.stock_allocated = true;
        assert_eq!(decide(&reserved, Cmd::Cancel).unwrap().stock, vec![Deallocate]);
        // A paid order whose stock was never reserved (stock record created later) only
        // decrements on fulfilment.
        let mut unreserved = paid();
        unreserved.stock_allocated = false;
        assert_eq!(decide(&unreserved, Cmd::Fulfil).unwrap().stock, vec![Decrement]);
    }

    #[test]
    fn setup_payments_record_a_pending_transaction_and_change_nothing() {
        for method in [PayMethod::Purchase, PayMethod::Authorize] {
            let d = decide(
                &unpaid(),
                Cmd::Pay {
                    id: T1,
                    method: PaymentMethod::Setup(method),
                    amount: None,
                },
            )
            .unwrap();
            let Effect::Record(t) = d.effect else {
                panic!("a setup records a transaction");
            };
            assert_eq!((t.status, t.amount), (TransactionStatus::Pending, 100));
            assert_eq!(state(&d.after), (O::Incomplete, P::Unpaid, S::Unfulfilled));
            assert!(d.stock.is_empty());
            assert!(!d.after.stock_allocated);
        }
        assert_eq!(
            decide(
                &cancelled(),
                Cmd::Pay {
                    id: T1,
                    method: PaymentMethod::Setup(PayMethod::Purchase),
                    amount: None
                }
            ),
            Err(Refusal::OrderCancelled)
        );
    }

    #[test]
    fn payment_methods_parse_with_and_without_setup() {
        assert_eq!(
            PaymentMethod::parse("purchase"),
            Some(PaymentMethod::Pay(PayMethod::Purchase))
        );
        assert_eq!(
            PaymentMethod::parse("authorize_setup"),
            Some(PaymentMethod::Setup(PayMethod::Authorize))
        );
        for name in PaymentMethod::NAMES {
            assert!(PaymentMethod::parse(name).is_some(), "{name}");
        }
        assert_eq!(PaymentMethod::parse("capture"), None);
        assert_eq!(PaymentMethod::parse("_setup"), None);
        assert_eq!(PaymentMethod::parse("Purchase"), None);
    }

    #[test]
    fn edits_only_while_unfulfilled() {
        assert_eq!(may_edit(&unpaid()), Ok(()));
        assert_eq!(may_edit(&cancelled()), Ok(()));
        assert_eq!(may_edit(&paid()), Ok(()));
        assert_eq!(may_edit(&fulfilled()), Err(Refusal::EditFulfilled));
    }

    #[test]
    fn refusals_leave_the_order_unchanged() {
        let order = paid();
        assert_eq!(decide(&order, Cmd::Capture(T1)), Err(Refusal::NotCapturable));
        assert_eq!(order, paid());
    }
}
