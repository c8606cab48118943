//! A payment transaction (`/v2/orders/{id}/transactions`), as the payment routes answer it and
//! as the `transaction.*` integration events carry it.

use std::collections::HashMap;

use kassa_core::money::MoneyFormat;
use kassa_core::payments::PaymentTransaction;
use serde::Serialize;
use uuid::Uuid;

use crate::views::document::{DataView, ResourceRefView};
use crate::views::money::{MoneyView, money};
use crate::views::timestamps::TimestampsView;

#[derive(Serialize)]
struct RefundedAmountView<'a> {
    total: MoneyView<'a>,
}

#[derive(Serialize)]
struct TransactionMetaView<'a> {
    display_price: MoneyView<'a>,
    display_refunded_amount: RefundedAmountView<'a>,
    timestamps: TimestampsView,
}

#[derive(Serialize)]
struct TransactionRelationshipsView {
    order: DataView<ResourceRefView>,
}

/// A transaction. Fields in alphabetical order, like every view (see `carts`).
#[derive(Serialize)]
pub(crate) struct TransactionView<'a> {
    amount: i64,
    capture_mechanism: &'static str,
    currency: &'a str,
    custom_reference: Option<&'a str>,
    gateway: &'a str,
    id: Uuid,
    meta: TransactionMetaView<'a>,
    name: Option<&'a str>,
    reference: &'static str,
    refund_mechanism: &'static str,
    refunded_amount: i64,
    relationships: TransactionRelationshipsView,
    status: &'static str,
    transaction_type: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

pub(crate) fn render_transaction<'a>(
    t: &'a PaymentTransaction,
    formats: &HashMap<String, MoneyFormat>,
) -> TransactionView<'a> {
    let c = t.currency.as_str();
    TransactionView {
        amount: t.amount,
        capture_mechanism: "manual",
        currency: c,
        custom_reference: t.custom_reference.as_deref(),
        gateway: &t.gateway,
        id: t.id,
        meta: TransactionMetaView {
            display_price: money(t.amount, c, formats),
            display_refunded_amount: RefundedAmountView {
                total: money(t.refunded_amount, c, formats),
            },
            timestamps: TimestampsView::of(t.created_at, t.updated_at),
        },
        name: t.name.as_deref(),
        reference: "manual",
        refund_mechanism: "manual",
        refunded_amount: t.refunded_amount,
        relationships: TransactionRelationshipsView {
            order: DataView {
                data: ResourceRefView {
                    id: t.order_id,
                    kind: "order",
                },
            },
        },
        status: t.status.as_str(),
        transaction_type: t.transaction_type.as_str(),
        kind: "transaction",
    }
}
