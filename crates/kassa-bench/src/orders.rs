//! Seeds many orders straight into the database, in the schema the store uses, for the `orders`
//! scenario: through the API a million checkouts would take far longer than the measurement.
//!
//! One statement per table generates the rows in the database itself (a recursive CTE on SQLite,
//! `generate_series` on PostgreSQL). The orders spread over the seeded accounts, 10,000 customer
//! emails and the last 365 days, with a realistic status mix, one item each.

use std::time::Instant;

use anyhow::{Context, bail};
use reqwest::Method;

use crate::api_client::Api;
use crate::server::BenchDatabase;

/// Customer emails the orders are spread over (`customer{k}@bench.example`).
pub const EMAILS: usize = 10_000;
/// The seeded orders were created over this many days, the newest just before seeding.
pub const DAYS: i64 = 365;
const DAY_MS: i64 = 86_400_000;

/// What the `orders` scenario needs to know about the seeded orders.
#[derive(Debug, Clone)]
pub struct OrdersFixture {
    /// `created_at` of the oldest order (epoch ms); the orders span [`DAYS`] days from here.
    pub from_ms: i64,
}

/// The ids of every account, in creation order.
async fn account_ids(api: &Api, admin: &str) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    loop {
        let path = format!("/v2/accounts?page[limit]=100&page[offset]={}", ids.len());
        let r = api.send(Method::GET, &path, Some(admin), None).await?;
        let page = r["data"].as_array().context("no account list")?;
        ids.extend(page.iter().filter_map(|a| a["id"].as_str().map(str::to_owned)));
        if page.len() < 100 {
            return Ok(ids);
        }
    }
}

/// Status, payment and shipping by `n % 20`: 60 % complete (paid, a third of them shipped),
/// 25 % incomplete (unpaid), 10 % processing (authorized), 5 % cancelled.
const STATUS_CASE: &str = "CASE WHEN n % 20 < 12 THEN 'complete' WHEN n % 20 < 17 THEN 'incomplete' \
                           WHEN n % 20 < 19 THEN 'processing' ELSE 'cancelled' END";
const PAYMENT_CASE: &str = "CASE WHEN n % 20 < 12 THEN 'paid' WHEN n % 20 < 17 THEN 'unpaid' \
                            WHEN n % 20 < 19 THEN 'authorized' ELSE 'unpaid' END";
const SHIPPING_CASE: &str = "CASE WHEN n % 20 < 12 AND n % 3 = 0 THEN 'fulfilled' ELSE 'unfulfilled' END";
const ADDRESS: &str = r#"'{"first_name":"Bench","last_name":"Shopper","line_1":"1 Main St","city":"Anaheim","postcode":"92802","country":"US","region":"CA"}'"#;

pub async fn seed_orders(
    db: &BenchDatabase,
    api: &Api,
    admin: &str,
    count: usize,
) -> anyhow::Result<OrdersFixture> {
    let started = Instant::now();
    let accounts = account_ids(api, admin).await?;
    if accounts.is_empty() {
        bail!("no accounts to give orders to");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let from_ms = now - DAYS * DAY_MS;
    // Order n (1..=count) is created at from + n * step: n grows with time.
    let step = (DAYS * DAY_MS) / count.max(1) as i64;
    match db {
        BenchDatabase::Sqlite { url, .. } => {
            let path = url
                .strip_prefix("sqlite://")
                .context("not a SQLite URL")?
                .to_owned();
            let accounts = accounts.clone();
            tokio::task::spawn_blocking(move || seed_sqlite(&path, &accounts, count, from_ms, step))
                .await??;
        }
        BenchDatabase::Postgres { url, .. } => seed_postgres(url, &accounts, count, from_ms, step).await?,
    }
    eprintln!(
        "kassa-bench: seeded {count} orders (with one item each) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(OrdersFixture { from_ms })
}

/// The order columns filled for every seeded order, and their values in terms of `n`; the
/// account (every other order) comes from `account_sql`, the id from `id_sql`.
fn order_insert(id_sql: &str, account_sql: &str, count: usize, from_ms: i64, step: i64) -> String {
    format!(
        "INSERT INTO orders (id, status, payment, shipping, cart_id, currency, order_number, external_ref,
           contact_name, contact_email, customer_name, customer_email, customer_id, account_id, account_member_id,
           billing_address, shipping_address, custom_attributes, calculation_method, with_tax, without_tax, tax,
           discount, without_discount, shipping_amount, shipping_discount, created_at, updated_at)
         SELECT {id_sql}, {STATUS_CASE}, {PAYMENT_CASE}, {SHIPPING_CASE}, 'bench-' || n, 'USD', 'BENCH-' || n,
           'ext-' || n, 'Bench Contact', 'contact' || (n % {EMAILS}) || '@bench.example', 'Bench Customer',
           'customer' || (n % {EMAILS}) || '@bench.example', NULL,
           CASE WHEN n % 2 = 0 THEN {account_sql} END, NULL,
           {ADDRESS}, {ADDRESS}, '{{}}', 'line', 1000 + n % 50000, 1000 + n % 50000, 0, 0, 1000 + n % 50000, 0, 0,
           {from_ms} + n * CAST({step} AS BIGINT), {from_ms} + n * CAST({step} AS BIGINT)
         FROM series WHERE n <= {count}"
    )
}

fn seed_sqlite(path: &str, accounts: &[String], count: usize, from_ms: i64, step: i64) -> anyhow::Result<()> {
    let mut conn = rusqlite::Connection::open(path).with_context(|| format!("open {path}"))?;
    conn.busy_timeout(std::time::Duration::from_secs(60))?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TEMP TABLE bench_accounts (k INTEGER PRIMARY KEY, id TEXT NOT NULL)")?;
    {
        let mut insert = tx.prepare("INSERT INTO bench_accounts (k, id) VALUES (?1, ?2)")?;
        for (k, id) in accounts.iter().enumerate() {
            insert.execute(rusqlite::params![k as i64, id])?;
        }
    }
    // A random-looking v4-shaped id per row, unique through its last group (n).
    let id = |tag: &str| {
        format!(
            "printf('%08x-%04x-4%03x-{tag}%03x-%012x', abs(random()) % 4294967296, abs(random()) % 65536, \
             abs(random()) % 4096, abs(random()) % 4096, n)"
        )
    };
    let series = format!(
        "WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series WHERE n < {count}) "
    );
    let account = format!(
        "(SELECT id FROM bench_accounts WHERE k = (n / 2) % {})",
        accounts.len()
    );
    tx.execute_batch(&format!(
        "{series}{}",
        order_insert(&id("8"), &account, count, from_ms, step)
    ))?;
    tx.execute_batch(&format!(
        "INSERT INTO order_items (id, order_id, position, cart_item_id, kind, product_id, sku, name, quantity,
           unit_amount, includes_tax, created_at, updated_at)
         SELECT {}, o.id, 0, {}, 'custom_item', NULL, 'BENCH-SKU-' || (n % 1000), 'Bench item', 1,
           o.with_tax, 0, o.created_at, o.created_at
         FROM (SELECT rowid AS n, * FROM orders WHERE cart_id LIKE 'bench-%') AS o",
        id("9"),
        id("a"),
    ))?;
    tx.execute_batch("DROP TABLE bench_accounts")?;
    tx.commit()?;
    // One transaction of a million orders leaves a ~1.7 GB WAL that kassa's writer would only
    // checkpoint after its next write; every read would search its whole index (measured: ~10 ms
    // a listing). Orders that arrive over time are checkpointed as they come, so do it here.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

async fn seed_postgres(
    url: &str,
    accounts: &[String],
    count: usize,
    from_ms: i64,
    step: i64,
) -> anyhow::Result<()> {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    let list = accounts
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "")))
        .collect::<Vec<_>>()
        .join(",");
    let account = format!("(ARRAY[{list}]::uuid[])[1 + (n / 2) % {}]", accounts.len());
    let series = format!("WITH series(n) AS (SELECT generate_series(1, {count})) ");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "{series}{}",
        order_insert("gen_random_uuid()", &account, count, from_ms, step)
    )))
    .execute(&mut conn)
    .await
    .context("insert orders")?;
    sqlx::raw_sql(
        "INSERT INTO order_items (id, order_id, position, cart_item_id, kind, product_id, sku, name, quantity,
           unit_amount, includes_tax, created_at, updated_at)
         SELECT gen_random_uuid(), o.id, 0, gen_random_uuid(), 'custom_item', NULL,
           'BENCH-SKU-' || (abs(hashtext(o.cart_id)) % 1000), 'Bench item', 1, o.with_tax, false, o.created_at,
           o.created_at
         FROM orders o WHERE o.cart_id LIKE 'bench-%'",
    )
    .execute(&mut conn)
    .await
    .context("insert order items")?;
    // What autovacuum would have done by the time a store holds a million orders: statistics
    // for the planner and a visibility map for index-only counts.
    // One statement each: several in one string run as one transaction, where VACUUM cannot.
    for table in ["orders", "order_items"] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("vacuum analyze {table}"))?;
    }
    Ok(())
}
