use async_trait::async_trait;

use kassa_core::bundles::LineBundle;
use kassa_core::cart_totals::CalculationMethod;
use kassa_core::carts::ItemKind;
use kassa_core::order_state::{OrderStatus, PaymentStatus, ShippingStatus};
use std::collections::HashMap;

use kassa_core::Result;
use kassa_core::orders::{
    COLUMN_BILLING_POSTCODE, COLUMN_ITEM_PRODUCT_ID, COLUMN_ITEM_SKU, COLUMN_SHIPPING_POSTCODE,
    IdempotentResponse, OrderItem, OrderQuery, OrderScope, PlacedOrder, discounts_from_json,
    discounts_to_json, taxes_from_json, taxes_to_json,
};
use kassa_core::promotions::Redemption;
use kassa_core::query::{Condition, Page, SqlValue};
use kassa_core::store::OrderStore;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::DbResult;
use crate::idempotency::complete_key;
use crate::sql::{as_params, opt_uuid_at, push_conditions, push_page, uuid_at};

macro_rules! order_columns {
    () => {
        "id, status, payment, shipping, cart_id, currency, order_number, external_ref, contact_name, \
         contact_email, customer_name, customer_email, customer_id, account_id, account_member_id, \
         billing_address, shipping_address, custom_attributes, calculation_method, with_tax, without_tax, \
         tax, discount, without_discount, shipping_amount, shipping_discount, created_at, updated_at, \
         paid, authorized, balance_owing, fully_paid_at, stock_allocated, discounts"
    };
}
pub(crate) use order_columns;
macro_rules! order_item_columns {
    () => {
        "id, order_id, position, cart_item_id, kind, product_id, sku, name, description, quantity, \
         unit_amount, includes_tax, custom_inputs, catalog_id, taxes, created_at, updated_at, location, \
         location_id, discounts, bundle"
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
        discounts: discounts_from_json(r.get_ref(33)?.as_str_or_null()?),
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
        location: r.get(17)?,
        location_id: opt_uuid_at(r, 18)?,
        discounts: discounts_from_json(r.get_ref(19)?.as_str_or_null()?),
        bundle: LineBundle::from_json(r.get_ref(20)?.as_str_or_null()?),
    })
}

/// `FROM orders o WHERE …` for a listing: the caller's scope, then the filters. Item filters are
/// a semi-join through `order_items_product` / `order_items_sku`; the postcodes are read from the
/// address JSON (not indexed: a rarely used filter, applied to what the other terms leave).
fn order_from_where(q: &OrderQuery) -> (String, Vec<Value>) {
    let mut sql = "FROM orders o WHERE 1 = 1".to_owned();
    let mut params = Vec::new();
    let bind = |params: &mut Vec<Value>, v: Value| {
        params.push(v);
        format!("?{}", params.len())
    };
    match q.scope {
        OrderScope::All => {}
        OrderScope::Account(id) => {
            let p = bind(&mut params, Value::Text(id.to_string()));
            sql.push_str(&format!(" AND o.account_id = {p}"));
        }
        OrderScope::Customer(id) => {
            let p = bind(&mut params, Value::Text(id.to_string()));
            sql.push_str(&format!(" AND o.customer_id = {p}"));
        }
    }
    let mut plain = Vec::new();
    for c in &q.conditions {
        let item_column = match c.column {
            COLUMN_ITEM_PRODUCT_ID => "product_id",
            COLUMN_ITEM_SKU => "sku",
            _ => {
                let column = match c.column {
                    COLUMN_SHIPPING_POSTCODE => "json_extract(o.shipping_address, '$.postcode')",
                    COLUMN_BILLING_POSTCODE => "json_extract(o.billing_address, '$.postcode')",
                    other => other,
                };
                plain.push(Condition { column, ..c.clone() });
                continue;
            }
        };
        // Only `eq` is offered on item fields (checked by `order_conditions`).
        let value = match &c.values[0] {
            SqlValue::Text(t) => Value::Text(t.clone()),
            SqlValue::Int(i) => Value::Integer(*i),
        };
        let p = bind(&mut params, value);
        sql.push_str(&format!(
            " AND o.id IN (SELECT i.order_id FROM order_items i WHERE i.{item_column} = {p})"
        ));
    }
    push_conditions(&mut sql, &mut params, &plain);
    (sql, params)
}

/// The filtered total of a listing, counted up to `count_cap`.
fn order_count_sql(q: &OrderQuery) -> (String, Vec<Value>) {
    let (from_where, params) = order_from_where(q);
    // The cap is a number of ours, not client input.
    (
        format!(
            "SELECT count(*) FROM (SELECT 1 {from_where} LIMIT {})",
            q.count_cap
        ),
        params,
    )
}

/// One page of a listing, in its order.
fn order_page_sql(q: &OrderQuery) -> (String, Vec<Value>) {
    let (from_where, mut params) = order_from_where(q);
    let mut sql = format!(
        concat!("SELECT ", order_columns!(), " {} ORDER BY {}"),
        from_where,
        q.sort.sql()
    );
    push_page(&mut sql, &mut params, q.page);
    (sql, params)
}

/// The items of many orders in one statement, grouped by order (each in cart order).
fn items_of(conn: &Connection, orders: &[PlacedOrder]) -> DbResult<HashMap<Uuid, Vec<OrderItem>>> {
    let mut by_order: HashMap<Uuid, Vec<OrderItem>> = HashMap::new();
    if orders.is_empty() {
        return Ok(by_order);
    }
    let carts: HashMap<String, &str> = orders
        .iter()
        .map(|o| (o.id.to_string(), o.cart_id.as_str()))
        .collect();
    let ids: Vec<Value> = orders.iter().map(|o| Value::Text(o.id.to_string())).collect();
    let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("?{n}")).collect();
    let sql = format!(
        concat!(
            "SELECT ",
            order_item_columns!(),
            " FROM order_items WHERE order_id IN ({}) ORDER BY order_id, position"
        ),
        placeholders.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(as_params(&ids).as_slice(), |r| {
        let order_id: String = r.get(1)?;
        let cart_id = carts.get(&order_id).copied().unwrap_or_default();
        order_item_row(r, cart_id)
    })?;
    for item in rows {
        let item = item?;
        by_order.entry(item.order_id).or_default().push(item);
    }
    Ok(by_order)
}

fn uuid_text(u: Option<Uuid>) -> Option<String> {
    u.map(|u| u.to_string())
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn place_order(
        &self,
        o: PlacedOrder,
        items: Vec<OrderItem>,
        redemptions: Vec<Redemption>,
        idempotency: Option<IdempotentResponse>,
        events: Vec<kassa_core::integrations::Event>,
    ) -> Result<()> {
        self.db
            .write(move |conn| {
                // The writer is the only one: counting and adding in this job cannot race.
                crate::promotions::redeem(conn, &redemptions)?;
                // The events in the same job: a failure after this takes them back with the order.
                crate::outbox::write(conn, &events)?;
                conn.prepare_cached(concat!(
                    "INSERT INTO orders (",
                    order_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
                     ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34)"
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
                    o.stock_allocated,
                    discounts_to_json(&o.discounts)
                ])?;
                let mut insert = conn.prepare_cached(concat!(
                    "INSERT INTO order_items (",
                    order_item_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)"
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
                        i.updated_at,
                        i.location,
                        uuid_text(i.location_id),
                        discounts_to_json(&i.discounts),
                        i.bundle.as_ref().map(LineBundle::to_json)
                    ])?;
                }
                if o.stock_allocated {
                    crate::stock_moves::move_stock(
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

    async fn orders(&self, query: OrderQuery) -> Result<Page<(PlacedOrder, Vec<OrderItem>)>> {
        self.db
            .read(move |conn| {
                let (count, count_params) = order_count_sql(&query);
                let total: i64 = conn
                    .prepare_cached(&count)?
                    .query_row(as_params(&count_params).as_slice(), |r| r.get(0))?;
                let (sql, params) = order_page_sql(&query);
                let orders: Vec<PlacedOrder> = conn
                    .prepare_cached(&sql)?
                    .query_map(as_params(&params).as_slice(), order_row)?
                    .collect::<rusqlite::Result<_>>()?;
                let mut items = if query.with_items {
                    items_of(conn, &orders)?
                } else {
                    HashMap::new()
                };
                Ok(Page {
                    items: orders
                        .into_iter()
                        .map(|o| {
                            let mine = items.remove(&o.id).unwrap_or_default();
                            (o, mine)
                        })
                        .collect(),
                    total: total as u64,
                })
            })
            .await
    }
}

#[cfg(test)]
mod plan_tests {
    //! The list shapes clients use are answered from an index, in index order: no scan of the
    //! table, no sort of the matching rows (`EXPLAIN QUERY PLAN`, on the real schema; without
    //! `ANALYZE` statistics, as a production database has them).
    use kassa_core::orders::{ORDER_SORTS, OrderSort, order_conditions};
    use kassa_core::query::{PageRequest, parse_filter, parse_sort};
    use kassa_core::store::Store;

    use super::*;

    fn query(scope: OrderScope, filter: &str, sort: Option<&str>) -> OrderQuery {
        OrderQuery {
            scope,
            conditions: order_conditions(&parse_filter(filter).unwrap()).unwrap(),
            sort: OrderSort::from_sort(sort.map(|s| parse_sort(s, ORDER_SORTS).unwrap()).as_ref()),
            page: PageRequest::default(),
            with_items: false,
            count_cap: kassa_core::orders::ORDER_COUNT_CAP,
        }
    }

    async fn explain(store: &SqliteStore, sql: String, params: Vec<Value>) -> String {
        store
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows = stmt.query_map(as_params(&params).as_slice(), |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join(" | "))
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn list_shapes_use_their_indexes() {
        let dir = std::env::temp_dir().join(format!("kassa-plan-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(&dir.join("kassa.db")).unwrap();
        store.migrate().await.unwrap();
        let account = OrderScope::Account(Uuid::new_v4());
        let cases = [
            (account, "", None, "orders_account_created"),
            (account, "", Some("created_at"), "orders_account_created"),
            (
                OrderScope::Customer(Uuid::new_v4()),
                "",
                None,
                "orders_customer_created",
            ),
            (OrderScope::All, "", None, "orders_created"),
            (OrderScope::All, "", Some("-updated_at"), "orders_updated"),
            (
                OrderScope::All,
                "eq(status,complete)",
                None,
                "orders_status_created",
            ),
            (
                OrderScope::All,
                "eq(payment,paid)",
                None,
                "orders_payment_created",
            ),
            (
                OrderScope::All,
                "eq(shipping,fulfilled)",
                None,
                "orders_shipping_created",
            ),
            (
                OrderScope::All,
                "eq(email,ron@example.com)",
                None,
                "orders_customer_email",
            ),
            (
                OrderScope::All,
                "eq(contact.email,ron@example.com)",
                None,
                "orders_contact_email",
            ),
            (
                OrderScope::All,
                "ge(created_at,2024-01-01):lt(created_at,2024-02-01)",
                None,
                "orders_created",
            ),
        ];
        for (scope, filter, sort, index) in cases {
            let (sql, params) = order_page_sql(&query(scope, filter, sort));
            let plan = explain(&store, sql, params).await;
            assert!(plan.contains(index), "{filter} {sort:?}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{filter} {sort:?} sorts: {plan}");
            let (sql, params) = order_count_sql(&query(scope, filter, sort));
            let count = explain(&store, sql, params).await;
            // The total is counted from an index alone, never from the table rows.
            assert!(count.contains("COVERING INDEX"), "count {filter}: {count}");
        }
        // Rare-value lookups: the index finds the few rows, which are then sorted.
        for (filter, index) in [
            ("eq(order_number,1234)", "orders_order_number"),
            ("eq(external_ref,e-1)", "orders_external_ref"),
            ("eq(product_sku,MUG)", "order_items_sku"),
            (
                "eq(product_id,6837058c-ae42-46db-b3c6-7f01e0c34b40)",
                "order_items_product",
            ),
        ] {
            let (sql, params) = order_page_sql(&query(OrderScope::All, filter, None));
            let plan = explain(&store, sql, params).await;
            assert!(plan.contains(index), "{filter}: {plan}");
            assert!(!plan.starts_with("SCAN o |"), "{filter} scans the table: {plan}");
        }
        // The count stops at the cap.
        store
            .db
            .write(|conn| {
                Ok(conn.execute_batch(
                    "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 30)
                     INSERT INTO orders (id, status, payment, shipping, cart_id, currency, billing_address,
                       shipping_address, calculation_method, with_tax, without_tax, tax, discount, without_discount,
                       shipping_amount, shipping_discount, created_at, updated_at)
                     SELECT printf('00000000-0000-4000-8000-%012x', n), 'complete', 'paid', 'unfulfilled', 'c', 'USD',
                       '{}', '{}', 'line', 0, 0, 0, 0, 0, 0, 0, n, n FROM s",
                )?)
            })
            .await
            .unwrap();
        for (cap, total) in [(10, 10), (30, 30), (31, 30), (10_001, 30)] {
            let q = OrderQuery {
                count_cap: cap,
                ..query(OrderScope::All, "eq(status,complete)", None)
            };
            assert_eq!(store.orders(q).await.unwrap().total, total, "cap {cap}");
        }
        // include=items: one indexed statement for the page.
        let items = explain(
            &store,
            format!(
                concat!(
                    "SELECT ",
                    order_item_columns!(),
                    " FROM order_items WHERE order_id IN ({}) ORDER BY order_id, position"
                ),
                "?1, ?2"
            ),
            vec![Value::Text("a".into()), Value::Text("b".into())],
        )
        .await;
        assert!(items.contains("order_items_position"), "{items}");
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
