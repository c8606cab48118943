//! Gateways and order changes (payments, captures, refunds, cancel, fulfil, edits). Every change
//! runs in one transaction that first locks the order row (`FOR UPDATE`): changes of one order
//! from any number of nodes serialize there, so two payments can never both see the same
//! balance owing. Stock moves by the inventories' conditional UPDATEs in product-id order, so
//! orders competing for the last units never oversell and never deadlock. A refusal returns
//! before the commit: dropping the transaction rolls everything back.

use async_trait::async_trait;
use kassa_core::inventory::StockAction;
use kassa_core::order::{Effect, Order, OrderStatus, TransactionStatus, TransactionType};
use kassa_core::orders::OrderAccess;
use kassa_core::payments::{ChangedOrder, OrderChange, PaymentTransaction, plan, refusal_error};
use kassa_core::store::{PaymentStore, RememberResponse};
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::inventories::Move;
use crate::orders::{order_columns, order_row};
use crate::{PgStore, sql_error};

macro_rules! transaction_columns {
    () => {
        "id, order_id, gateway, transaction_type, status, amount, refunded_amount, currency, \
         custom_reference, name, created_at, updated_at"
    };
}

fn transaction_row(r: &PgRow) -> PaymentTransaction {
    let kind: String = r.get(3);
    let status: String = r.get(4);
    PaymentTransaction {
        id: r.get(0),
        order_id: r.get(1),
        gateway: r.get(2),
        transaction_type: TransactionType::parse(&kind).unwrap_or(TransactionType::Purchase),
        status: TransactionStatus::parse(&status).unwrap_or(TransactionStatus::Failed),
        amount: r.get(5),
        refunded_amount: r.get(6),
        currency: r.get(7),
        custom_reference: r.get(8),
        name: r.get(9),
        created_at: r.get(10),
        updated_at: r.get(11),
    }
}

async fn transactions(conn: &mut PgConnection, order_id: Uuid) -> Result<Vec<PaymentTransaction>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        transaction_columns!(),
        " FROM order_transactions WHERE order_id = $1 ORDER BY created_at, id"
    ))
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_error)?;
    Ok(rows.iter().map(transaction_row).collect())
}

/// Applies `actions` to every stock-managed product of the order, each at the position its
/// items drew from (see the SQLite store for the rule: only a short allocation refuses the
/// change).
pub(crate) async fn move_stock(
    conn: &mut PgConnection,
    order_id: Uuid,
    actions: &[StockAction],
    now: Millis,
) -> Result<()> {
    if actions.is_empty() {
        return Ok(());
    }
    let products: Vec<(Uuid, Option<Uuid>, i64)> = sqlx::query(
        "SELECT product_id, location_id, SUM(quantity)::BIGINT FROM order_items
         WHERE order_id = $1 AND product_id IS NOT NULL
         GROUP BY product_id, location_id ORDER BY product_id, location_id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_error)?
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect();
    if products.is_empty() {
        return Ok(());
    }
    for &action in actions {
        let moves: Vec<Move> = products
            .iter()
            .map(|&(product_id, location_id, quantity)| Move {
                product_id,
                location_id,
                action,
                quantity,
            })
            .collect();
        for refusal in crate::inventories::apply_all(&mut *conn, &moves, now).await? {
            if action == StockAction::Allocate {
                return Err(Error::from(refusal));
            }
            let product_id = refusal.product_id;
            tracing::warn!(%order_id, %product_id, action = action.as_str(), "stock not moved: {}", refusal.detail());
        }
    }
    Ok(())
}

async fn change(
    conn: &mut PgConnection,
    id: Uuid,
    access: OrderAccess,
    change: OrderChange,
    now: Millis,
    remember: Option<RememberResponse>,
) -> Result<Option<ChangedOrder>> {
    let Some(row) = sqlx::query(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(sql_error)?
    else {
        return Ok(None);
    };
    let mut order = order_row(&row);
    if !access.allows(&order) {
        return Ok(None);
    }
    let mut stored = transactions(conn, id).await?;
    let core = Order {
        total: order.with_tax,
        cancelled: order.status == OrderStatus::Cancelled,
        shipping: order.shipping,
        transactions: stored.iter().map(PaymentTransaction::core).collect(),
        stock_allocated: order.stock_allocated,
    };
    let plan = plan(&core, &change, order.fully_paid_at, now).map_err(refusal_error)?;
    let mut written = None;
    if let Some(decision) = &plan.decision {
        match decision.effect {
            Effect::Record(t) => {
                let record = PaymentTransaction {
                    id: t.id,
                    order_id: id,
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
                };
                sqlx::query(concat!(
                    "INSERT INTO order_transactions (",
                    transaction_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                ))
                .bind(record.id)
                .bind(id)
                .bind(&record.gateway)
                .bind(record.transaction_type.as_str())
                .bind(record.status.as_str())
                .bind(record.amount)
                .bind(record.refunded_amount)
                .bind(&record.currency)
                .bind(&record.custom_reference)
                .bind(&record.name)
                .bind(now)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(sql_error)?;
                written = Some(record);
            }
            Effect::Update(t) => {
                sqlx::query(
                    "UPDATE order_transactions SET transaction_type = $3, status = $4, refunded_amount = $5,
                       updated_at = $6 WHERE id = $1 AND order_id = $2",
                )
                .bind(t.id)
                .bind(id)
                .bind(t.transaction_type.as_str())
                .bind(t.status.as_str())
                .bind(t.refunded_amount)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(sql_error)?;
                if let Some(record) = stored.iter_mut().find(|r| r.id == t.id) {
                    record.transaction_type = t.transaction_type;
                    record.status = t.status;
                    record.refunded_amount = t.refunded_amount;
                    record.updated_at = now;
                    written = Some(record.clone());
                }
            }
            Effect::Cancel | Effect::Fulfil => {}
        }
        move_stock(conn, id, &decision.stock, now).await?;
    }
    let edit = &change.edit;
    if let Some(n) = &edit.order_number {
        order.order_number = n.clone();
    }
    if let Some(r) = &edit.external_ref {
        order.external_ref = r.clone();
    }
    if let Some(a) = &edit.shipping_address {
        order.shipping_address = a.clone();
    }
    order.status = plan.status;
    order.payment = plan.payment.status;
    order.shipping = plan.after.shipping;
    order.paid = plan.payment.paid;
    order.authorized = plan.payment.authorized;
    order.balance_owing = plan.payment.balance_owing;
    order.fully_paid_at = plan.fully_paid_at;
    order.stock_allocated = plan.after.stock_allocated;
    order.updated_at = now;
    sqlx::query(
        "UPDATE orders SET status = $2, payment = $3, shipping = $4, paid = $5, authorized = $6,
           balance_owing = $7, fully_paid_at = $8, stock_allocated = $9, order_number = $10,
           external_ref = $11, shipping_address = $12::jsonb, updated_at = $13
         WHERE id = $1",
    )
    .bind(id)
    .bind(order.status.as_str())
    .bind(order.payment.as_str())
    .bind(order.shipping.as_str())
    .bind(order.paid)
    .bind(order.authorized)
    .bind(order.balance_owing)
    .bind(order.fully_paid_at)
    .bind(order.stock_allocated)
    .bind(&order.order_number)
    .bind(&order.external_ref)
    .bind(order.shipping_address.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(sql_error)?;
    let changed = ChangedOrder {
        order,
        transaction: written,
    };
    if let Some(remember) = remember {
        crate::orders::complete_key(&mut *conn, &remember(&changed)).await?;
    }
    Ok(Some(changed))
}

#[async_trait]
impl PaymentStore for PgStore {
    async fn gateway_settings(&self) -> Result<Vec<(String, bool)>> {
        let rows = sqlx::query("SELECT slug, enabled FROM payment_gateways")
            .fetch_all(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn set_gateway_enabled(&self, slug: &str, enabled: bool, now: Millis) -> Result<()> {
        sqlx::query(
            "INSERT INTO payment_gateways (slug, enabled, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (slug) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
        )
        .bind(slug)
        .bind(enabled)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(())
    }

    async fn order_transactions(&self, order_id: Uuid) -> Result<Vec<PaymentTransaction>> {
        let mut conn = self.pool.acquire().await.map_err(sql_error)?;
        transactions(&mut conn, order_id).await
    }

    async fn change_order(
        &self,
        order_id: Uuid,
        access: OrderAccess,
        order_change: OrderChange,
        now: Millis,
        remember: Option<RememberResponse>,
    ) -> Result<Option<ChangedOrder>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let changed = change(&mut tx, order_id, access, order_change, now, remember).await?;
        if changed.is_some() {
            tx.commit().await.map_err(sql_error)?;
        }
        Ok(changed)
    }
}
