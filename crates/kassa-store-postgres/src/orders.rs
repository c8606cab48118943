use async_trait::async_trait;

use kassa_core::bundles::LineBundle;
use kassa_core::cart_totals::CalculationMethod;
use kassa_core::carts::ItemKind;
use kassa_core::order_state::{OrderStatus, PaymentStatus, ShippingStatus};
use std::collections::HashMap;

use kassa_core::Result;
use kassa_core::orders::{
    COLUMN_BILLING_POSTCODE, COLUMN_ITEM_PRODUCT_ID, COLUMN_ITEM_SKU, COLUMN_SHIPPING_POSTCODE,
    IdempotentResponse, OrderItem, OrderQuery, OrderScope, PlacedOrder, UUID_COLUMNS, discounts_from_json,
    discounts_to_json, taxes_from_json, taxes_to_json,
};
use kassa_core::promotions::Redemption;
use kassa_core::query::{Condition, FilterOp, Page, SqlValue};
use kassa_core::store::OrderStore;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::idempotency::complete_key;
use crate::sql::push_conditions;
use crate::{PgStore, sql_error};

macro_rules! order_columns {
    () => {
        "id, status, payment, shipping, cart_id, currency, order_number, external_ref, contact_name, \
         contact_email, customer_name, customer_email, customer_id, account_id, account_member_id, \
         billing_address::text, shipping_address::text, custom_attributes::text, calculation_method, with_tax, \
         without_tax, tax, discount, without_discount, shipping_amount, shipping_discount, created_at, updated_at, \
         paid, authorized, balance_owing, fully_paid_at, stock_allocated, discounts"
    };
}
pub(crate) use order_columns;
macro_rules! order_item_columns {
    () => {
        "id, order_id, position, cart_item_id, kind, product_id, sku, name, description, quantity, \
         unit_amount, includes_tax, custom_inputs::text, catalog_id, taxes::text, created_at, updated_at, \
         location, location_id, discounts, bundle::text"
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
        discounts: discounts_from_json(r.get::<Option<&str>, _>(33)),
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
        location: r.get(17),
        location_id: r.get(18),
        discounts: discounts_from_json(r.get::<Option<&str>, _>(19)),
        bundle: LineBundle::from_json(r.get::<Option<&str>, _>(20)),
    }
}

fn text_of(v: &SqlValue) -> String {
    match v {
        SqlValue::Text(t) => t.clone(),
        SqlValue::Int(i) => i.to_string(),
    }
}

/// `FROM orders o WHERE …` for a listing: the caller's scope, then the filters. Ids compare as
/// `uuid` (so the id indexes serve `eq`); item filters are a semi-join through
/// `order_items_product` / `order_items_sku`; the postcodes are read from the address JSON (not
/// indexed: a rarely used filter, applied to what the other terms leave).
pub(crate) fn push_order_from_where(qb: &mut QueryBuilder<Postgres>, q: &OrderQuery) {
    qb.push("FROM orders o WHERE TRUE");
    match q.scope {
        OrderScope::All => {}
        OrderScope::Account(id) => {
            qb.push(" AND o.account_id = ");
            qb.push_bind(id);
        }
        OrderScope::Customer(id) => {
            qb.push(" AND o.customer_id = ");
            qb.push_bind(id);
        }
    }
    // `order_conditions` checked that `eq` on an id column holds a UUID; nil matches nothing.
    let uuid = |c: &Condition| Uuid::parse_str(&text_of(&c.values[0])).unwrap_or_default();
    let mut plain = Vec::new();
    for c in &q.conditions {
        match c.column {
            COLUMN_ITEM_PRODUCT_ID => {
                qb.push(" AND o.id IN (SELECT i.order_id FROM order_items i WHERE i.product_id = ");
                qb.push_bind(uuid(c));
                qb.push(")");
            }
            COLUMN_ITEM_SKU => {
                qb.push(" AND o.id IN (SELECT i.order_id FROM order_items i WHERE i.sku = ");
                qb.push_bind(text_of(&c.values[0]));
                qb.push(")");
            }
            column if c.op == FilterOp::Eq && UUID_COLUMNS.contains(&column) => {
                qb.push(format!(" AND o.{column} = "));
                qb.push_bind(uuid(c));
            }
            column => {
                let column = match column {
                    COLUMN_SHIPPING_POSTCODE => "(o.shipping_address->>'postcode')",
                    COLUMN_BILLING_POSTCODE => "(o.billing_address->>'postcode')",
                    other => other,
                };
                plain.push(Condition { column, ..c.clone() });
            }
        }
    }
    push_conditions(qb, &plain);
}

/// Inserts the order and all its items in one statement: the order's insert is a CTE of the
/// items' insert, and the items' foreign key is checked at the end of the statement, when the
/// order is there. The promotion codes' usages and the order's integration events (the outbox
/// write, [`crate::outbox_cte`]) are further CTEs, so a checkout stays one statement with or
/// without them.
async fn insert_order<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Postgres>,
    o: &PlacedOrder,
    items: &[OrderItem],
    redemptions: &[Redemption],
    events: &[kassa_core::integrations::Event],
) -> Result<()> {
    // The codes' usage records go in the same statement (a CTE): a checkout with an unlimited
    // code costs no more statements than one without.
    let usages: Vec<&kassa_core::promotions::PromotionUsage> = redemptions.iter().map(|r| &r.usage).collect();
    let usage_ids: Vec<Uuid> = usages.iter().map(|u| u.id).collect();
    let usage_promotions: Vec<Uuid> = usages.iter().map(|u| u.promotion_id).collect();
    let usage_codes: Vec<Uuid> = usages.iter().map(|u| u.code_id).collect();
    let usage_names: Vec<String> = usages.iter().map(|u| u.code.clone()).collect();
    let usage_times: Vec<i64> = usages.iter().map(|u| u.times_used).collect();
    let usage_on: Vec<i64> = usages.iter().map(|u| u.used_on).collect();
    let usage_customers: Vec<Option<Uuid>> = usages.iter().map(|u| u.customer_id).collect();
    let usage_accounts: Vec<Option<Uuid>> = usages.iter().map(|u| u.account_id).collect();
    let usage_emails: Vec<Option<String>> = usages.iter().map(|u| u.customer_email.clone()).collect();
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
    let locations = col(&|i| i.location.clone());
    let location_ids: Vec<Option<Uuid>> = items.iter().map(|i| i.location_id).collect();
    let item_discounts: Vec<String> = items.iter().map(|i| discounts_to_json(&i.discounts)).collect();
    let bundles = col(&|i| i.bundle.as_ref().map(LineBundle::to_json));
    let (event_ids, event_kinds, payloads, at) = crate::outbox::columns(events);
    sqlx::query(concat!(
        "WITH ",
        crate::outbox_cte!("$63", "$64", "$65", "$66"),
        ", placed AS (INSERT INTO orders (id, status, payment, shipping, cart_id, currency, order_number, external_ref,
           contact_name, contact_email, customer_name, customer_email, customer_id, account_id, account_member_id,
           billing_address, shipping_address, custom_attributes, calculation_method, with_tax, without_tax, tax,
           discount, without_discount, shipping_amount, shipping_discount, created_at, updated_at,
           paid, authorized, balance_owing, fully_paid_at, stock_allocated, discounts)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, $17::jsonb,
           $18::jsonb, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $52)),
         used AS (INSERT INTO promotion_usages (id, promotion_id, code_id, code, order_id, times_used, used_on,
           customer_id, account_id, customer_email, anonymized, updated_at)
         SELECT u.id, u.promotion_id, u.code_id, u.code, $1, u.times_used, u.used_on, u.customer_id, u.account_id,
           u.customer_email, FALSE, u.used_on
         FROM UNNEST($54::uuid[], $55::uuid[], $56::uuid[], $57::text[], $58::bigint[], $59::bigint[], $60::uuid[],
           $61::uuid[], $62::text[])
           AS u (id, promotion_id, code_id, code, times_used, used_on, customer_id, account_id, customer_email))
         INSERT INTO order_items (id, order_id, position, cart_item_id, kind, product_id, sku, name, description,
           quantity, unit_amount, includes_tax, custom_inputs, catalog_id, taxes, created_at, updated_at, location,
           location_id, discounts, bundle)
         SELECT t.id, $1, t.position, t.cart_item_id, t.kind, t.product_id, t.sku, t.name, t.description,
           t.quantity, t.unit_amount, t.includes_tax, t.custom_inputs::jsonb, t.catalog_id, t.taxes::jsonb,
           t.created_at, t.updated_at, t.location, t.location_id, t.discounts, t.bundle::jsonb
         FROM UNNEST($34::uuid[], $35::bigint[], $36::uuid[], $37::text[], $38::uuid[], $39::text[], $40::text[],
           $41::text[], $42::bigint[], $43::bigint[], $44::boolean[], $45::text[], $46::uuid[], $47::text[],
           $48::bigint[], $49::bigint[], $50::text[], $51::uuid[], $53::text[], $67::text[])
           AS t (id, position, cart_item_id, kind, product_id, sku, name, description, quantity, unit_amount,
             includes_tax, custom_inputs, catalog_id, taxes, created_at, updated_at, location, location_id,
             discounts, bundle)",
    ))
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
    .bind(locations)
    .bind(location_ids)
    .bind(discounts_to_json(&o.discounts))
    .bind(item_discounts)
    .bind(usage_ids)
    .bind(usage_promotions)
    .bind(usage_codes)
    .bind(usage_names)
    .bind(usage_times)
    .bind(usage_on)
    .bind(usage_customers)
    .bind(usage_accounts)
    .bind(usage_emails)
    .bind(event_ids)
    .bind(event_kinds)
    .bind(payloads)
    .bind(at)
    .bind(bundles)
    .execute(db)
    .await
    .map_err(sql_error)?;
    Ok(())
}

#[async_trait]
impl OrderStore for PgStore {
    async fn place_order(
        &self,
        o: PlacedOrder,
        items: Vec<OrderItem>,
        redemptions: Vec<Redemption>,
        idempotency: Option<IdempotentResponse>,
        events: Vec<kassa_core::integrations::Event>,
    ) -> Result<()> {
        let counted = redemptions
            .iter()
            .any(|r| r.max_uses.is_some() || r.per_shopper.is_some());
        if !o.stock_allocated && idempotency.is_none() && !counted {
            // The common case is one statement (the events and an unlimited code's usage in it): no
            // BEGIN and COMMIT round trips.
            return insert_order(&self.pool, &o, &items, &redemptions, &events).await;
        }
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // First, so a limited code's row lock is what concurrent checkouts with it wait on.
        crate::promotions::count_limited(&mut tx, &redemptions).await?;
        insert_order(&mut *tx, &o, &items, &redemptions, &events).await?;
        if o.stock_allocated {
            crate::stock_moves::move_stock(
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
        // An order and its items are written by one statement and its items never change, so two
        // reads without a transaction (whose BEGIN and COMMIT would be two more statements) agree.
        let mut conn = self.pool.acquire().await.map_err(sql_error)?;
        let Some(row) = sqlx::query(concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
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
        .fetch_all(&mut *conn)
        .await
        .map_err(sql_error)?;
        let items = rows.iter().map(|r| order_item_row(r, &order.cart_id)).collect();
        Ok(Some((order, items)))
    }

    async fn orders(&self, query: OrderQuery) -> Result<Page<(PlacedOrder, Vec<OrderItem>)>> {
        // One snapshot for the count, the page and its items.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(sql_error)?;
        // Counted up to the cap (a number of ours, not client input).
        let mut count = QueryBuilder::new("SELECT count(*) FROM (SELECT 1 ");
        push_order_from_where(&mut count, &query);
        count.push(format!(" LIMIT {}) AS capped", query.count_cap));
        let total: i64 = count.build().fetch_one(&mut *tx).await.map_err(sql_error)?.get(0);
        let mut qb = QueryBuilder::new(concat!("SELECT ", order_columns!(), " "));
        push_order_from_where(&mut qb, &query);
        qb.push(format!(" ORDER BY {} LIMIT ", query.sort.sql()));
        qb.push_bind(query.page.limit as i64);
        qb.push(" OFFSET ");
        qb.push_bind(query.page.offset as i64);
        let orders: Vec<PlacedOrder> = qb
            .build()
            .fetch_all(&mut *tx)
            .await
            .map_err(sql_error)?
            .iter()
            .map(order_row)
            .collect();
        let mut items: HashMap<Uuid, Vec<OrderItem>> = HashMap::new();
        if query.with_items && !orders.is_empty() {
            let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
            let carts: HashMap<Uuid, &str> = orders.iter().map(|o| (o.id, o.cart_id.as_str())).collect();
            let rows = sqlx::query(concat!(
                "SELECT ",
                order_item_columns!(),
                " FROM order_items WHERE order_id = ANY($1) ORDER BY order_id, position"
            ))
            .bind(ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(sql_error)?;
            for r in &rows {
                let order_id: Uuid = r.get(1);
                let item = order_item_row(r, carts.get(&order_id).copied().unwrap_or_default());
                items.entry(order_id).or_default().push(item);
            }
        }
        tx.commit().await.map_err(sql_error)?;
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
    }
}

#[cfg(test)]
mod plan_tests {
    //! The list shapes clients use are answered from an index, in index order, without sorting
    //! the matching rows (`EXPLAIN` on the real schema with 20,000 analysed orders).
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

    /// The plan the store's connections run: the generic plan of the prepared listing statement
    /// (`plan_cache_mode=force_generic_plan`), which cannot look at the values bound.
    async fn explain(pool: &sqlx::PgPool, q: &OrderQuery) -> String {
        let mut qb = QueryBuilder::new("SELECT o.id ");
        push_order_from_where(&mut qb, q);
        qb.push(format!(" ORDER BY {} LIMIT ", q.sort.sql()));
        qb.push_bind(q.page.limit as i64);
        qb.push(" OFFSET ");
        qb.push_bind(q.page.offset as i64);
        let sql = qb.sql();
        let params = sql.as_str().matches('$').count();
        let mut conn = pool.acquire().await.unwrap();
        let prepare = format!("PREPARE listing AS {}", sql.as_str());
        sqlx::raw_sql(sqlx::AssertSqlSafe(prepare))
            .execute(&mut *conn)
            .await
            .unwrap();
        let explain = format!("EXPLAIN EXECUTE listing({})", vec!["NULL"; params].join(", "));
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(explain))
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        sqlx::raw_sql("DEALLOCATE listing")
            .execute(&mut *conn)
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.get::<String, _>(0))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn list_shapes_use_their_indexes() {
        let admin = std::env::var("KASSA_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let schema = format!("kassa_plan_{}", Uuid::new_v4().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("PostgreSQL is required for this test");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let sep = if admin.contains('?') { '&' } else { '?' };
        let store = PgStore::connect(&format!("{admin}{sep}options=-c%20search_path%3D{schema}"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        // 20,000 orders of 100 accounts and 1,000 customers over 4 statuses, one item each.
        sqlx::raw_sql(
            "INSERT INTO orders (id, status, payment, shipping, cart_id, currency, order_number, external_ref,
               contact_name, contact_email, customer_name, customer_email, customer_id, account_id, account_member_id,
               billing_address, shipping_address, calculation_method, with_tax, without_tax, tax, discount,
               without_discount, shipping_amount, shipping_discount, created_at, updated_at)
             SELECT md5('order' || n)::uuid, (ARRAY['incomplete','processing','complete','cancelled'])[1 + n % 4],
               (ARRAY['unpaid','authorized','paid','refunded'])[1 + n % 4], 'unfulfilled', 'cart-' || n, 'USD',
               'n-' || n, 'e-' || n, 'Contact', 'contact' || n % 1000 || '@example.com', 'Customer',
               'customer' || n % 1000 || '@example.com', md5('customer' || n % 1000)::uuid,
               md5('account' || n % 100)::uuid, md5('member' || n % 100)::uuid,
               '{\"postcode\":\"92802\"}', '{\"postcode\":\"92802\"}', 'line', 1000 + n % 5000, 1000 + n % 5000, 0, 0,
               1000 + n % 5000, 0, 0, 1700000000000 + n * 60000, 1700000000000 + n * 60000
             FROM generate_series(1, 20000) AS n;
             INSERT INTO order_items (id, order_id, position, cart_item_id, kind, product_id, sku, name, quantity,
               unit_amount, includes_tax, created_at, updated_at)
             SELECT md5('item' || n)::uuid, md5('order' || n)::uuid, 0, md5('line' || n)::uuid, 'cart_item',
               md5('product' || n % 1000)::uuid, 'SKU-' || n % 1000, 'Item', 1, 1000, false,
               1700000000000 + n * 60000, 1700000000000 + n * 60000
             FROM generate_series(1, 20000) AS n;
             ANALYZE orders;
             ANALYZE order_items;",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        let account = OrderScope::Account(Uuid::new_v4());
        let customer = OrderScope::Customer(Uuid::new_v4());
        let cases = [
            (account, "", None, "orders_account_created"),
            (account, "", Some("created_at"), "orders_account_created"),
            (customer, "", None, "orders_customer_created"),
            (OrderScope::All, "", None, "orders_created"),
            (OrderScope::All, "", Some("-updated_at"), "orders_updated"),
            // A quarter of all orders: walking the newest through either index is as good.
            (
                OrderScope::All,
                "eq(status,complete)",
                None,
                "orders_status_created|orders_created",
            ),
            (
                OrderScope::All,
                "eq(payment,paid)",
                None,
                "orders_payment_created|orders_created",
            ),
            (
                OrderScope::All,
                "eq(email,customer7@example.com)",
                None,
                "orders_customer_email",
            ),
            (
                OrderScope::All,
                "ge(created_at,1700300000000):lt(created_at,1700400000000)",
                None,
                "orders_created",
            ),
            (
                OrderScope::All,
                "eq(order_number,n-77)",
                None,
                "orders_order_number",
            ),
            (
                OrderScope::All,
                "eq(external_ref,e-77)",
                None,
                "orders_external_ref",
            ),
            (OrderScope::All, "eq(product_sku,SKU-7)", None, "order_items_sku"),
            (
                OrderScope::All,
                "eq(account_id,6837058c-ae42-46db-b3c6-7f01e0c34b40)",
                None,
                "orders_account_created",
            ),
        ];
        for (scope, filter, sort, index) in cases {
            let plan = explain(&store.pool, &query(scope, filter, sort)).await;
            assert!(
                index.split('|').any(|i| plan.contains(i)),
                "{filter} {sort:?}:\n{plan}"
            );
            assert!(
                !plan.contains("Seq Scan on orders"),
                "{filter} {sort:?} scans:\n{plan}"
            );
        }
        // The big sets are read in index order: no sort of the matching rows.
        for (scope, filter) in [
            (account, ""),
            (OrderScope::All, "eq(status,complete)"),
            (OrderScope::All, ""),
        ] {
            let plan = explain(&store.pool, &query(scope, filter, None)).await;
            assert!(!plan.contains("Sort"), "{filter}:\n{plan}");
        }
        // The total is exact up to the cap, then the cap.
        for (scope, filter, total) in [
            (OrderScope::All, "", 10_001),
            (OrderScope::All, "eq(status,complete)", 5_000),
            (OrderScope::All, "eq(email,customer7@example.com)", 20),
        ] {
            let page = store.orders(query(scope, filter, None)).await.unwrap();
            assert_eq!(page.total, total, "{filter}");
            assert_eq!(page.items.len(), 25.min(total as usize));
        }
        drop(store);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}
