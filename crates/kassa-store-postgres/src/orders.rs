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
use sqlx::postgres::PgRow;
use sqlx::{Executor, Postgres, Row};
use uuid::Uuid;

use crate::{PgStore, sql_error};

macro_rules! order_columns {
    () => {
        "id, status, payment, shipping, cart_id, currency, order_number, external_ref, contact_name, \
         contact_email, customer_name, customer_email, customer_id, account_id, account_member_id, \
         billing_address::text, shipping_address::text, custom_attributes::text, calculation_method, with_tax, \
         without_tax, tax, discount, without_discount, shipping_amount, shipping_discount, created_at, updated_at, \
         paid, authorized, balance_owing, fully_paid_at, stock_allocated"
    };
}
pub(crate) use order_columns;
macro_rules! order_item_columns {
    () => {
        "id, order_id, position, cart_item_id, kind, product_id, sku, name, description, quantity, \
         unit_amount, includes_tax, custom_inputs::text, catalog_id, taxes::text, created_at, updated_at"
    };
}

fn json_at(r: &PgRow, idx: usize) -> serde_json::Value {
    let text: String = r.get(idx);
    serde_json::from_str(&text).unwrap_or_default()
}

pub(crate) fn order_row(r: &PgRow) -> PlacedOrder {
    let status: String = r.get(1);
    let payment: String = r.get(2);
    let shipping: String = r.get(3);
    let method: String = r.get(18);
    PlacedOrder {
        id: r.get(0),
        status: OrderStatus::parse(&status).unwrap_or(OrderStatus::Incomplete),
        payment: PaymentStatus::parse(&payment).unwrap_or(PaymentStatus::Unpaid),
        shipping: ShippingStatus::parse(&shipping).unwrap_or(ShippingStatus::Unfulfilled),
        cart_id: r.get(4),
        currency: r.get(5),
        order_number: r.get(6),
        external_ref: r.get(7),
        contact_name: r.get(8),
        contact_email: r.get(9),
        customer_name: r.get(10),
        customer_email: r.get(11),
        customer_id: r.get(12),
        account_id: r.get(13),
        account_member_id: r.get(14),
        billing_address: json_at(r, 15),
        shipping_address: json_at(r, 16),
        custom_attributes: json_at(r, 17),
        calculation_method: CalculationMethod::parse(&method).unwrap_or_default(),
        with_tax: r.get(19),
        without_tax: r.get(20),
        tax: r.get(21),
        discount: r.get(22),
        without_discount: r.get(23),
        shipping_amount: r.get(24),
        shipping_discount: r.get(25),
        created_at: r.get(26),
        updated_at: r.get(27),
        paid: r.get(28),
        authorized: r.get(29),
        balance_owing: r.get(30),
        fully_paid_at: r.get(31),
        stock_allocated: r.get(32),
    }
}

fn order_item_row(r: &PgRow, cart_id: &str) -> OrderItem {
    let kind: String = r.get(4);
    let taxes: String = r.get(14);
    OrderItem {
        id: r.get(0),
        order_id: r.get(1),
        position: r.get(2),
        cart_item_id: r.get(3),
        kind: ItemKind::parse(&kind).unwrap_or(ItemKind::Custom),
        product_id: r.get(5),
        sku: r.get(6),
        name: r.get(7),
        description: r.get(8),
        quantity: r.get(9),
        unit_amount: r.get(10),
        includes_tax: r.get(11),
        custom_inputs: json_at(r, 12),
        catalog_id: r.get(13),
        taxes: taxes_from_json(&taxes, cart_id),
        created_at: r.get(15),
        updated_at: r.get(16),
    }
}

pub(crate) async fn complete_key<'e>(
    db: impl Executor<'e, Database = Postgres>,
    r: &IdempotentResponse,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', response_status = $4, response_body = $5
         WHERE scope = $1 AND key = $2 AND request_hash = $3 AND state = 'in_flight'",
    )
    .bind(&r.scope)
    .bind(&r.key)
    .bind(&r.request_hash)
    .bind(i32::from(r.status))
    .bind(&r.body)
    .execute(db)
    .await
    .map_err(sql_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::Conflict(
            "The idempotency key is no longer claimed by this request".into(),
        ));
    }
    Ok(())
}

#[async_trait]
impl OrderStore for PgStore {
    async fn place_order(
        &self,
        o: PlacedOrder,
        items: Vec<OrderItem>,
        idempotency: Option<IdempotentResponse>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        sqlx::query(
            "INSERT INTO orders (id, status, payment, shipping, cart_id, currency, order_number, external_ref,
               contact_name, contact_email, customer_name, customer_email, customer_id, account_id, account_member_id,
               billing_address, shipping_address, custom_attributes, calculation_method, with_tax, without_tax, tax,
               discount, without_discount, shipping_amount, shipping_discount, created_at, updated_at,
               paid, authorized, balance_owing, fully_paid_at, stock_allocated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, $17::jsonb,
               $18::jsonb, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)",
        )
        .bind(o.id)
        .bind(o.status.as_str())
        .bind(o.payment.as_str())
        .bind(o.shipping.as_str())
        .bind(&o.cart_id)
        .bind(&o.currency)
        .bind(&o.order_number)
        .bind(&o.external_ref)
        .bind(&o.contact_name)
        .bind(&o.contact_email)
        .bind(&o.customer_name)
        .bind(&o.customer_email)
        .bind(o.customer_id)
        .bind(o.account_id)
        .bind(o.account_member_id)
        .bind(o.billing_address.to_string())
        .bind(o.shipping_address.to_string())
        .bind(o.custom_attributes.to_string())
        .bind(o.calculation_method.as_str())
        .bind(o.with_tax)
        .bind(o.without_tax)
        .bind(o.tax)
        .bind(o.discount)
        .bind(o.without_discount)
        .bind(o.shipping_amount)
        .bind(o.shipping_discount)
        .bind(o.created_at)
        .bind(o.updated_at)
        .bind(o.paid)
        .bind(o.authorized)
        .bind(o.balance_owing)
        .bind(o.fully_paid_at)
        .bind(o.stock_allocated)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        // Every item in one statement.
        let col = |f: &dyn Fn(&OrderItem) -> Option<String>| items.iter().map(f).collect::<Vec<_>>();
        let ids: Vec<Uuid> = items.iter().map(|i| i.id).collect();
        let positions: Vec<i64> = items.iter().map(|i| i.position).collect();
        let cart_items: Vec<Uuid> = items.iter().map(|i| i.cart_item_id).collect();
        let kinds = col(&|i| Some(i.kind.as_str().to_owned()));
        let products: Vec<Option<Uuid>> = items.iter().map(|i| i.product_id).collect();
        let skus = col(&|i| i.sku.clone());
        let names = col(&|i| Some(i.name.clone()));
        let descriptions = col(&|i| i.description.clone());
        let quantities: Vec<i64> = items.iter().map(|i| i.quantity).collect();
        let amounts: Vec<i64> = items.iter().map(|i| i.unit_amount).collect();
        let includes: Vec<bool> = items.iter().map(|i| i.includes_tax).collect();
        let inputs = col(&|i| Some(i.custom_inputs.to_string()));
        let catalogs: Vec<Option<Uuid>> = items.iter().map(|i| i.catalog_id).collect();
        let taxes = col(&|i| Some(taxes_to_json(&i.taxes)));
        let created: Vec<i64> = items.iter().map(|i| i.created_at).collect();
        let updated: Vec<i64> = items.iter().map(|i| i.updated_at).collect();
        sqlx::query(
            "INSERT INTO order_items (id, order_id, position, cart_item_id, kind, product_id, sku, name, description,
               quantity, unit_amount, includes_tax, custom_inputs, catalog_id, taxes, created_at, updated_at)
             SELECT t.id, $1, t.position, t.cart_item_id, t.kind, t.product_id, t.sku, t.name, t.description,
               t.quantity, t.unit_amount, t.includes_tax, t.custom_inputs::jsonb, t.catalog_id, t.taxes::jsonb,
               t.created_at, t.updated_at
             FROM UNNEST($2::uuid[], $3::bigint[], $4::uuid[], $5::text[], $6::uuid[], $7::text[], $8::text[],
               $9::text[], $10::bigint[], $11::bigint[], $12::boolean[], $13::text[], $14::uuid[], $15::text[],
               $16::bigint[], $17::bigint[])
               AS t (id, position, cart_item_id, kind, product_id, sku, name, description, quantity, unit_amount,
                 includes_tax, custom_inputs, catalog_id, taxes, created_at, updated_at)",
        )
        .bind(o.id)
        .bind(ids)
        .bind(positions)
        .bind(cart_items)
        .bind(kinds)
        .bind(products)
        .bind(skus)
        .bind(names)
        .bind(descriptions)
        .bind(quantities)
        .bind(amounts)
        .bind(includes)
        .bind(inputs)
        .bind(catalogs)
        .bind(taxes)
        .bind(created)
        .bind(updated)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        if o.stock_allocated {
            crate::payments::move_stock(
                &mut tx,
                o.id,
                &[kassa_core::inventory::StockAction::Allocate],
                o.created_at,
            )
            .await?;
        }
        if let Some(r) = &idempotency {
            complete_key(&mut *tx, r).await?;
        }
        tx.commit().await.map_err(sql_error)
    }

    async fn order(&self, id: Uuid) -> Result<Option<(PlacedOrder, Vec<OrderItem>)>> {
        // Orders are written in one transaction, so a committed order always has its items.
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let Some(row) = sqlx::query(concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(sql_error)?
        else {
            return Ok(None);
        };
        let order = order_row(&row);
        let rows = sqlx::query(concat!(
            "SELECT ",
            order_item_columns!(),
            " FROM order_items WHERE order_id = $1 ORDER BY position"
        ))
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql_error)?;
        tx.commit().await.map_err(sql_error)?;
        let items = rows.iter().map(|r| order_item_row(r, &order.cart_id)).collect();
        Ok(Some((order, items)))
    }
}

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn claim_idempotency_key(&self, c: IdempotencyClaim) -> Result<ClaimOutcome> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // A concurrent claim of the same key waits here until the first one commits.
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys
               (scope, key, request_hash, state, locked_at, created_at, expires_at)
             VALUES ($1, $2, $3, 'in_flight', $4, $4, $5)
             ON CONFLICT (scope, key) DO NOTHING",
        )
        .bind(&c.scope)
        .bind(&c.key)
        .bind(&c.request_hash)
        .bind(c.now)
        .bind(c.now + IDEMPOTENCY_TTL_MS)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        if inserted.rows_affected() == 1 {
            tx.commit().await.map_err(sql_error)?;
            return Ok(ClaimOutcome::Claimed);
        }
        let row = sqlx::query(
            "SELECT request_hash, state, response_status, response_body, locked_at, expires_at
             FROM idempotency_keys WHERE scope = $1 AND key = $2 FOR UPDATE",
        )
        .bind(&c.scope)
        .bind(&c.key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(sql_error)?;
        let outcome = match row {
            // Released between the insert and the read: the caller may simply retry.
            None => ClaimOutcome::InFlight,
            Some(r) => {
                let hash: String = r.get(0);
                let state: String = r.get(1);
                let status: Option<i32> = r.get(2);
                let body: Option<String> = r.get(3);
                let locked_at: Millis = r.get(4);
                let expires_at: Millis = r.get(5);
                if expires_at <= c.now
                    || (state == "in_flight"
                        && hash == c.request_hash
                        && locked_at + IDEMPOTENCY_LEASE_MS <= c.now)
                {
                    sqlx::query(
                        "UPDATE idempotency_keys SET request_hash = $3, state = 'in_flight', response_status = NULL,
                           response_body = NULL, locked_at = $4,
                           created_at = CASE WHEN expires_at <= $4 THEN $4 ELSE created_at END,
                           expires_at = CASE WHEN expires_at <= $4 THEN $5 ELSE expires_at END
                         WHERE scope = $1 AND key = $2",
                    )
                    .bind(&c.scope)
                    .bind(&c.key)
                    .bind(&c.request_hash)
                    .bind(c.now)
                    .bind(c.now + IDEMPOTENCY_TTL_MS)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql_error)?;
                    ClaimOutcome::Claimed
                } else if hash != c.request_hash {
                    ClaimOutcome::Mismatch
                } else if state == "done" {
                    ClaimOutcome::Done {
                        status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                        body: body.unwrap_or_default(),
                    }
                } else {
                    ClaimOutcome::InFlight
                }
            }
        };
        tx.commit().await.map_err(sql_error)?;
        Ok(outcome)
    }

    async fn complete_idempotency_key(&self, response: IdempotentResponse) -> Result<()> {
        complete_key(&self.pool, &response).await
    }

    async fn release_idempotency_key(&self, scope: &str, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_flight'")
            .bind(scope)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(())
    }

    async fn delete_expired_idempotency_keys(&self, now: Millis) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(done.rows_affected())
    }
}
