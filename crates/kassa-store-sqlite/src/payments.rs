//! Gateways and order changes (payments, captures, refunds, cancel, fulfil, edits). Every change
//! is one job on the writer thread: it runs alone, so reading the order and writing the outcome
//! cannot interleave with another change, and a refusal returned as an error rolls the job's
//! savepoint back (nothing recorded, no stock moved).

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
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::DbResult;
use crate::idempotency::complete_key;
use crate::orders::{order_columns, order_row};
use crate::sql::uuid_at;
use crate::stock_moves::move_stock;

macro_rules! transaction_columns {
    () => {
        "id, order_id, gateway, transaction_type, status, amount, refunded_amount, currency, \
         custom_reference, name, created_at, updated_at"
    };
}

fn transaction_row(r: &Row<'_>) -> rusqlite::Result<PaymentTransaction> {
    let kind: String = r.get(3)?;
    let status: String = r.get(4)?;
    Ok(PaymentTransaction {
        id: uuid_at(r, 0)?,
        order_id: uuid_at(r, 1)?,
        gateway: r.get(2)?,
        transaction_type: TransactionType::parse(&kind).unwrap_or(TransactionType::Purchase),
        status: TransactionStatus::parse(&status).unwrap_or(TransactionStatus::Failed),
        amount: r.get(5)?,
        refunded_amount: r.get(6)?,
        currency: r.get(7)?,
        custom_reference: r.get(8)?,
        name: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

fn transactions(conn: &Connection, order_id: Uuid) -> DbResult<Vec<PaymentTransaction>> {
    Ok(conn
        .prepare_cached(concat!(
            "SELECT ",
            transaction_columns!(),
            " FROM order_transactions WHERE order_id = ?1 ORDER BY created_at, id"
        ))?
        .query_map([order_id.to_string()], transaction_row)?
        .collect::<rusqlite::Result<_>>()?)
}

fn change(
    conn: &Connection,
    id: Uuid,
    access: OrderAccess,
    change: OrderChange,
    now: Millis,
    remember: Option<RememberResponse>,
    emit: Option<Emit<ChangedOrder>>,
) -> DbResult<Option<ChangedOrder>> {
    let Some(order) = conn
        .prepare_cached(concat!("SELECT ", order_columns!(), " FROM orders WHERE id = ?1"))?
        .query_row([id.to_string()], order_row)
        .optional()?
        .filter(|order| access.allows(order))
    else {
        return Ok(None);
    };
    let stored = transactions(conn, id)?;
    let writes = change_writes(order, &stored, &change, now).map_err(refusal_error)?;
    match &writes.transaction {
        Some(TransactionWrite::Insert(record)) => {
            conn.prepare_cached(concat!(
                "INSERT INTO order_transactions (",
                transaction_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))?
            .execute(params![
                record.id.to_string(),
                id.to_string(),
                record.gateway,
                record.transaction_type.as_str(),
                record.status.as_str(),
                record.amount,
                record.refunded_amount,
                record.currency,
                record.custom_reference,
                record.name,
                now,
                now
            ])?;
        }
        Some(TransactionWrite::Update(record)) => {
            conn.prepare_cached(
                "UPDATE order_transactions SET transaction_type = ?3, status = ?4, refunded_amount = ?5,
                   updated_at = ?6 WHERE id = ?1 AND order_id = ?2",
            )?
            .execute(params![
                record.id.to_string(),
                id.to_string(),
                record.transaction_type.as_str(),
                record.status.as_str(),
                record.refunded_amount,
                now
            ])?;
        }
        None => {}
    }
    move_stock(conn, id, &writes.stock, now)?;
    let order = &writes.order;
    conn.prepare_cached(
        "UPDATE orders SET status = ?2, payment = ?3, shipping = ?4, paid = ?5, authorized = ?6,
           balance_owing = ?7, fully_paid_at = ?8, stock_allocated = ?9, order_number = ?10,
           external_ref = ?11, shipping_address = ?12, updated_at = ?13
         WHERE id = ?1",
    )?
    .execute(params![
        id.to_string(),
        order.status.as_str(),
        order.payment.as_str(),
        order.shipping.as_str(),
        order.paid,
        order.authorized,
        order.balance_owing,
        order.fully_paid_at,
        order.stock_allocated,
        order.order_number,
        order.external_ref,
        order.shipping_address.to_string(),
        now
    ])?;
    let changed = writes.changed();
    if let Some(remember) = remember {
        complete_key(conn, &remember(&changed))?;
    }
    if let Some(emit) = emit {
        crate::outbox::write(conn, &emit(&changed))?;
    }
    Ok(Some(changed))
}

#[async_trait]
impl PaymentStore for SqliteStore {
    async fn gateway_settings(&self) -> Result<Vec<(String, bool)>> {
        self.db
            .read(|conn| {
                Ok(conn
                    .prepare_cached("SELECT slug, enabled FROM payment_gateways")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn set_gateway_enabled(
        &self,
        slug: &str,
        enabled: bool,
        now: Millis,
        events: Vec<Event>,
    ) -> Result<()> {
        let slug = slug.to_owned();
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO payment_gateways (slug, enabled, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (slug) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
                )?
                .execute(params![slug, enabled, now])?;
                crate::outbox::write(conn, &events)?;
                Ok(())
            })
            .await
    }

    async fn order_transactions(&self, order_id: Uuid) -> Result<Vec<PaymentTransaction>> {
        self.db.read(move |conn| transactions(conn, order_id)).await
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
        self.db
            .write(move |conn| change(conn, order_id, access, order_change, now, remember, emit))
            .await
    }
}
