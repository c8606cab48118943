use async_trait::async_trait;

use kassa_core::cart::CalculationMethod;
use kassa_core::carts::ItemKind;
use kassa_core::order::{OrderStatus, PaymentStatus, ShippingStatus};
use kassa_core::orders::{
    ClaimOutcome, IDEMPOTENCY_LEASE_MS, IDEMPOTENCY_TTL_MS, IdempotencyClaim, IdempotentResponse, OrderItem,
    PlacedOrder, taxes_from_json, taxes_to_json,
};
use kassa_core::store::{IdempotencyStore, OrderStore};
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::DbResult;
use crate::sql::{opt_uuid_at, uuid_at};

macro_rules! order_columns {
    () => {
        "id, status, payment, shipping, cart_id, currency, order_number, external_ref, contact_name, \
         contact_email, customer_name, customer_email, customer_id, account_id, account_member_id, \
         billing_address, shipping_address, custom_attributes, calculation_method, with_tax, without_tax, \
         tax, discount, without_discount, shipping_amount, shipping_discount, created_at, updated_at, \
         paid, authorized, balance_owing, fully_paid_at, stock_allocated"
    };
}
pub(crate) use order_columns;
macro_rules! order_item_columns {
    () => {
        "id, order_id, position, cart_item_id, kind, product_id, sku, name, description, quantity, \
         unit_amount, includes_tax, custom_inputs, catalog_id, taxes, created_at, updated_at"
    };
}

fn json_at(r: &Row<'_>, idx: usize) -> rusqlite::Result<serde_json::Value> {
    let text: String = r.get(idx)?;
    Ok(serde_json::from_str(&text).unwrap_or_default())
}

pub(crate) fn order_row(r: &Row<'_>) -> rusqlite::Result<PlacedOrder> {
    let status: String = r.get(1)?;
    let payment: String = r.get(2)?;
    let shipping: String = r.get(3)?;
    let method: String = r.get(18)?;
    Ok(PlacedOrder {
        id: uuid_at(r, 0)?,
        status: OrderStatus::parse(&status).unwrap_or(OrderStatus::Incomplete),
        payment: PaymentStatus::parse(&payment).unwrap_or(PaymentStatus::Unpaid),
        shipping: ShippingStatus::parse(&shipping).unwrap_or(ShippingStatus::Unfulfilled),
        cart_id: r.get(4)?,
        currency: r.get(5)?,
        order_number: r.get(6)?,
        external_ref: r.get(7)?,
        contact_name: r.get(8)?,
        contact_email: r.get(9)?,
        customer_name: r.get(10)?,
        customer_email: r.get(11)?,
        customer_id: opt_uuid_at(r, 12)?,
        account_id: opt_uuid_at(r, 13)?,
        account_member_id: opt_uuid_at(r, 14)?,
        billing_address: json_at(r, 15)?,
        shipping_address: json_at(r, 16)?,
        custom_attributes: json_at(r, 17)?,
        calculation_method: CalculationMethod::parse(&method).unwrap_or_default(),
        with_tax: r.get(19)?,
        without_tax: r.get(20)?,
        tax: r.get(21)?,
        discount: r.get(22)?,
        without_discount: r.get(23)?,
        shipping_amount: r.get(24)?,
        shipping_discount: r.get(25)?,
        created_at: r.get(26)?,
        updated_at: r.get(27)?,
        paid: r.get(28)?,
        authorized: r.get(29)?,
        balance_owing: r.get(30)?,
        fully_paid_at: r.get(31)?,
        stock_allocated: r.get(32)?,
    })
}

fn order_item_row(r: &Row<'_>, cart_id: &str) -> rusqlite::Result<OrderItem> {
    let kind: String = r.get(4)?;
    let taxes: String = r.get(14)?;
    Ok(OrderItem {
        id: uuid_at(r, 0)?,
        order_id: uuid_at(r, 1)?,
        position: r.get(2)?,
        cart_item_id: uuid_at(r, 3)?,
        kind: ItemKind::parse(&kind).unwrap_or(ItemKind::Custom),
        product_id: opt_uuid_at(r, 5)?,
        sku: r.get(6)?,
        name: r.get(7)?,
        description: r.get(8)?,
        quantity: r.get(9)?,
        unit_amount: r.get(10)?,
        includes_tax: r.get(11)?,
        custom_inputs: json_at(r, 12)?,
        catalog_id: opt_uuid_at(r, 13)?,
        taxes: taxes_from_json(&taxes, cart_id),
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
    })
}

fn uuid_text(u: Option<Uuid>) -> Option<String> {
    u.map(|u| u.to_string())
}

pub(crate) fn complete_key(conn: &Connection, r: &IdempotentResponse) -> DbResult<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE idempotency_keys SET state = 'done', response_status = ?4, response_body = ?5
             WHERE scope = ?1 AND key = ?2 AND request_hash = ?3 AND state = 'in_flight'",
        )?
        .execute(params![r.scope, r.key, r.request_hash, r.status, r.body])?;
    if changed == 0 {
        return Err(
            Error::Conflict("The idempotency key is no longer claimed by this request".into()).into(),
        );
    }
    Ok(())
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn place_order(
        &self,
        o: PlacedOrder,
        items: Vec<OrderItem>,
        idempotency: Option<IdempotentResponse>,
    ) -> Result<()> {
        self.db
            .write(move |conn| {
                conn.prepare_cached(concat!(
                    "INSERT INTO orders (",
                    order_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
                     ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33)"
                ))?
                .execute(params![
                    o.id.to_string(),
                    o.status.as_str(),
                    o.payment.as_str(),
                    o.shipping.as_str(),
                    o.cart_id,
                    o.currency,
                    o.order_number,
                    o.external_ref,
                    o.contact_name,
                    o.contact_email,
                    o.customer_name,
                    o.customer_email,
                    uuid_text(o.customer_id),
                    uuid_text(o.account_id),
                    uuid_text(o.account_member_id),
                    o.billing_address.to_string(),
                    o.shipping_address.to_string(),
                    o.custom_attributes.to_string(),
                    o.calculation_method.as_str(),
                    o.with_tax,
                    o.without_tax,
                    o.tax,
                    o.discount,
                    o.without_discount,
                    o.shipping_amount,
                    o.shipping_discount,
                    o.created_at,
                    o.updated_at,
                    o.paid,
                    o.authorized,
                    o.balance_owing,
                    o.fully_paid_at,
                    o.stock_allocated
                ])?;
                let mut insert = conn.prepare_cached(concat!(
                    "INSERT INTO order_items (",
                    order_item_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
                ))?;
                for i in &items {
                    insert.execute(params![
                        i.id.to_string(),
                        o.id.to_string(),
                        i.position,
                        i.cart_item_id.to_string(),
                        i.kind.as_str(),
                        uuid_text(i.product_id),
                        i.sku,
                        i.name,
                        i.description,
                        i.quantity,
                        i.unit_amount,
                        i.includes_tax,
                        i.custom_inputs.to_string(),
                        uuid_text(i.catalog_id),
                        taxes_to_json(&i.taxes),
                        i.created_at,
                        i.updated_at
                    ])?;
                }
                if o.stock_allocated {
                    crate::payments::move_stock(
                        conn,
                        o.id,
                        &[kassa_core::inventory::StockAction::Allocate],
                        o.created_at,
                    )?;
                }
                if let Some(r) = &idempotency {
                    complete_key(conn, r)?;
                }
                Ok(())
            })
            .await
    }

    async fn order(&self, id: Uuid) -> Result<Option<(PlacedOrder, Vec<OrderItem>)>> {
        self.db
            .read(move |conn| {
                let Some(order) = conn
                    .prepare_cached(concat!("SELECT ", order_columns!(), " FROM orders WHERE id = ?1"))?
                    .query_row([id.to_string()], order_row)
                    .optional()?
                else {
                    return Ok(None);
                };
                let items = conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        order_item_columns!(),
                        " FROM order_items WHERE order_id = ?1 ORDER BY position"
                    ))?
                    .query_map([id.to_string()], |r| order_item_row(r, &order.cart_id))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(Some((order, items)))
            })
            .await
    }
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim_idempotency_key(&self, c: IdempotencyClaim) -> Result<ClaimOutcome> {
        self.db
            .write(move |conn| {
                type Found = (String, String, Option<u16>, Option<String>, Millis, Millis);
                let found: Option<Found> = conn
                    .prepare_cached(
                        "SELECT request_hash, state, response_status, response_body, locked_at, expires_at
                         FROM idempotency_keys WHERE scope = ?1 AND key = ?2",
                    )?
                    .query_row(params![c.scope, c.key], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                    })
                    .optional()?;
                let claim = |conn: &Connection| -> DbResult<ClaimOutcome> {
                    conn.prepare_cached(
                        "INSERT OR REPLACE INTO idempotency_keys
                           (scope, key, request_hash, state, response_status, response_body, locked_at, created_at, expires_at)
                         VALUES (?1, ?2, ?3, 'in_flight', NULL, NULL, ?4, ?4, ?5)",
                    )?
                    .execute(params![c.scope, c.key, c.request_hash, c.now, c.now + IDEMPOTENCY_TTL_MS])?;
                    Ok(ClaimOutcome::Claimed)
                };
                match found {
                    None => claim(conn),
                    Some((.., expires_at)) if expires_at <= c.now => claim(conn),
                    Some((hash, ..)) if hash != c.request_hash => Ok(ClaimOutcome::Mismatch),
                    Some((_, state, status, body, ..)) if state == "done" => Ok(ClaimOutcome::Done {
                        status: status.unwrap_or(200),
                        body: body.unwrap_or_default(),
                    }),
                    Some((.., locked_at, _)) if locked_at + IDEMPOTENCY_LEASE_MS <= c.now => {
                        conn.prepare_cached(
                            "UPDATE idempotency_keys SET locked_at = ?3 WHERE scope = ?1 AND key = ?2",
                        )?
                        .execute(params![c.scope, c.key, c.now])?;
                        Ok(ClaimOutcome::Claimed)
                    }
                    Some(_) => Ok(ClaimOutcome::InFlight),
                }
            })
            .await
    }

    async fn complete_idempotency_key(&self, response: IdempotentResponse) -> Result<()> {
        self.db.write(move |conn| complete_key(conn, &response)).await
    }

    async fn release_idempotency_key(&self, scope: &str, key: &str) -> Result<()> {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "DELETE FROM idempotency_keys WHERE scope = ?1 AND key = ?2 AND state = 'in_flight'",
                )?
                .execute(params![scope, key])?;
                Ok(())
            })
            .await
    }

    async fn delete_expired_idempotency_keys(&self, now: Millis) -> Result<u64> {
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached("DELETE FROM idempotency_keys WHERE expires_at <= ?1")?
                    .execute([now])?;
                Ok(n as u64)
            })
            .await
    }
}
