//! Gateways and order changes (payments, captures, refunds, cancel, fulfil, edits). Every change
//! runs in one transaction that first locks the order row (`FOR UPDATE`): changes of one order
//! from any number of nodes serialize there, so two payments can never both see the same
//! balance owing. Stock moves by the inventories' conditional UPDATEs in product-id order, so
//! orders competing for the last units never oversell and never deadlock. A refusal returns
//! before the commit: dropping the transaction rolls everything back.

use async_trait::async_trait;
use kassa_core::Result;
use kassa_core::integrations::Emit;
use kassa_core::integrations::Event;
use kassa_core::order_state::{TransactionStatus, TransactionType};
use kassa_core::orders::OrderAccess;
use kassa_core::payments::{
    ChangedOrder, OrderChange, PaymentTransaction, TransactionWrite, change_writes, refusal_error,
};
use kassa_core::store::{PaymentStore, RememberResponse};
use kassa_core::time::Millis;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::idempotency::complete_key;
use crate::orders::{order_columns, order_row};
use crate::stock_moves::move_stock;
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

async fn change(
    conn: &mut PgConnection,
    id: Uuid,
    access: OrderAccess,
    change: OrderChange,
    now: Millis,
    remember: Option<RememberResponse>,
    emit: Option<Emit<ChangedOrder>>,
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
    let order = order_row(&row);
    if !access.allows(&order) {
        return Ok(None);
    }
    let stored = transactions(conn, id).await?;
    let writes = change_writes(order, &stored, &change, now).map_err(refusal_error)?;
    match &writes.transaction {
        Some(TransactionWrite::Insert(record)) => {
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
        }
        Some(TransactionWrite::Update(record)) => {
            sqlx::query(
                "UPDATE order_transactions SET transaction_type = $3, status = $4, refunded_amount = $5,
                   updated_at = $6 WHERE id = $1 AND order_id = $2",
            )
            .bind(record.id)
            .bind(id)
            .bind(record.transaction_type.as_str())
            .bind(record.status.as_str())
            .bind(record.refunded_amount)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(sql_error)?;
        }
        None => {}
    }
    move_stock(conn, id, &writes.stock, now).await?;
    let order = &writes.order;
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
    let changed = writes.changed();
    if let Some(remember) = remember {
        complete_key(&mut *conn, &remember(&changed)).await?;
    }
    if let Some(emit) = emit {
        crate::outbox::write(&mut *conn, &emit(&changed)).await?;
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

    async fn set_gateway_enabled(
        &self,
        slug: &str,
        enabled: bool,
        now: Millis,
        events: Vec<Event>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        sqlx::query(
            "INSERT INTO payment_gateways (slug, enabled, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (slug) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
        )
        .bind(slug)
        .bind(enabled)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        crate::outbox::write(&mut tx, &events).await?;
        tx.commit().await.map_err(sql_error)
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
        emit: Option<Emit<ChangedOrder>>,
    ) -> Result<Option<ChangedOrder>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let changed = change(&mut tx, order_id, access, order_change, now, remember, emit).await?;
        if changed.is_some() {
            tx.commit().await.map_err(sql_error)?;
        }
        Ok(changed)
    }
}
