//! Forward-only schema migrations, tracked by name in `schema_migrations` (so migrations made on
//! parallel branches apply regardless of the order they landed in). The files mirror the
//! PostgreSQL store's migrations name for name (a test checks this).

use std::collections::HashSet;

use rusqlite::Connection;

use crate::db::DbResult;

const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_auth", include_str!("../migrations/0001_auth.sql")),
    ("0002_accounts", include_str!("../migrations/0002_accounts.sql")),
    ("0003_catalog", include_str!("../migrations/0003_catalog.sql")),
    ("0004_customers", include_str!("../migrations/0004_customers.sql")),
    (
        "0005_inventories",
        include_str!("../migrations/0005_inventories.sql"),
    ),
    ("0006_catalogs", include_str!("../migrations/0006_catalogs.sql")),
    ("0007_carts", include_str!("../migrations/0007_carts.sql")),
    (
        "0008_cart_taxes_settings",
        include_str!("../migrations/0008_cart_taxes_settings.sql"),
    ),
    ("0009_orders", include_str!("../migrations/0009_orders.sql")),
    (
        "0010_order_listing",
        include_str!("../migrations/0010_order_listing.sql"),
    ),
    ("0011_payments", include_str!("../migrations/0011_payments.sql")),
    (
        "0012_partial_indexes",
        include_str!("../migrations/0012_partial_indexes.sql"),
    ),
    ("0013_files", include_str!("../migrations/0013_files.sql")),
    ("0014_addresses", include_str!("../migrations/0014_addresses.sql")),
    (
        "0015_inventory_locations",
        include_str!("../migrations/0015_inventory_locations.sql"),
    ),
    (
        "0016_cart_item_images",
        include_str!("../migrations/0016_cart_item_images.sql"),
    ),
    (
        "0017_promotions",
        include_str!("../migrations/0017_promotions.sql"),
    ),
    (
        "0018_integrations",
        include_str!("../migrations/0018_integrations.sql"),
    ),
    (
        "0019_custom_discounts_promotion_jobs",
        include_str!("../migrations/0019_custom_discounts_promotion_jobs.sql"),
    ),
    (
        "0021_release_storage",
        include_str!("../migrations/0021_release_storage.sql"),
    ),
    (
        "0022_variations",
        include_str!("../migrations/0022_variations.sql"),
    ),
    ("0023_bundles", include_str!("../migrations/0023_bundles.sql")),
    (
        "0024_bundle_lines",
        include_str!("../migrations/0024_bundle_lines.sql"),
    ),
    (
        "0025_build_rules_bundle_options",
        include_str!("../migrations/0025_build_rules_bundle_options.sql"),
    ),
    (
        "0026_slim_outbox",
        include_str!("../migrations/0026_slim_outbox.sql"),
    ),
];

/// Runs on the writer thread, inside its transaction, so concurrent starters serialize on
/// SQLite's write lock and each migration is applied exactly once.
pub(crate) fn apply(conn: &Connection) -> DbResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    let applied: HashSet<String> = conn
        .prepare("SELECT name FROM schema_migrations")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let known: HashSet<&str> = MIGRATIONS.iter().map(|(name, _)| *name).collect();
    if let Some(unknown) = applied.iter().find(|name| !known.contains(name.as_str())) {
        return Err(kassa_core::Error::internal(format!(
            "the database has migration {unknown}, which this kassa does not know; upgrade kassa"
        ))
        .into());
    }
    let pending: Vec<&(&str, &str)> = MIGRATIONS
        .iter()
        .filter(|(name, _)| !applied.contains(*name))
        .collect();
    for (name, sql) in &pending {
        tracing::debug!(migration = name, "applying migration");
        conn.execute_batch(sql)?;
        conn.execute(
            "INSERT INTO schema_migrations (name, applied_at) VALUES (?1, ?2)",
            rusqlite::params![name, kassa_core::time::now_millis()],
        )?;
    }
    // One line for a start, however many there were (a fresh database has them all).
    if let (Some(first), Some(last)) = (pending.first(), pending.last()) {
        tracing::info!(
            count = pending.len(),
            first = first.0,
            last = last.0,
            "applied migrations"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    /// 0026 moves the outbox into its slimmer tables: a pending job keeps its payload, lease and
    /// logs, and each job of an event observed twice has the payload.
    #[test]
    fn the_slim_outbox_keeps_what_was_queued() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        let before = super::MIGRATIONS
            .iter()
            .position(|(n, _)| *n == "0026_slim_outbox")
            .unwrap();
        for (_, sql) in &super::MIGRATIONS[..before] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO integrations VALUES ('i1', 'erp', '', 1, 'webhook', '[]', '{}', 1, 1),
                                              ('i2', 'crm', '', 1, 'webhook', '[]', '{}', 1, 1);
             INSERT INTO integration_events VALUES ('e1', 'order.paid', '{\"n\":1}', 10),
                                                   ('e2', 'cart.updated', '{\"n\":2}', 20);
             INSERT INTO integration_jobs VALUES
               ('j1', 'e1', 'i1', 'order.paid', 'pending', 2, 500, 'node', 10, 30),
               ('j2', 'e1', 'i2', 'order.paid', 'delivered', 1, 15, NULL, 10, 15),
               ('j3', 'e2', 'i1', 'cart.updated', 'failed', 6, 90, NULL, 20, 90);
             INSERT INTO integration_logs VALUES
               ('l1', 'j1', 'i1', 1, 0, 500, 'no', 'status 500', 3, 12),
               ('l2', 'j2', 'i2', 1, 1, 200, '', NULL, 2, 15);",
        )
        .unwrap();
        for (_, sql) in &super::MIGRATIONS[before..] {
            conn.execute_batch(sql).unwrap();
        }
        let jobs: Vec<(String, String, String, i64, String)> = conn
            .prepare(
                "SELECT id, payload, status, attempts, coalesce(leased_by, '') FROM integration_jobs ORDER BY id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let job = |id: &str, payload: &str, status: &str, attempts: i64, leased: &str| {
            (
                id.to_owned(),
                payload.to_owned(),
                status.to_owned(),
                attempts,
                leased.to_owned(),
            )
        };
        assert_eq!(
            jobs,
            vec![
                job("j1", r#"{"n":1}"#, "pending", 2, "node"),
                job("j2", r#"{"n":1}"#, "delivered", 1, ""),
                job("j3", r#"{"n":2}"#, "failed", 6, ""),
            ]
        );
        let logs: Vec<(String, String)> = conn
            .prepare("SELECT id, job_id FROM integration_logs ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(logs, [("l1".into(), "j1".into()), ("l2".into(), "j2".into())]);
        let events: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'integration_events'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(events, 0);
        assert!(
            conn.prepare("PRAGMA foreign_key_check")
                .unwrap()
                .query([])
                .unwrap()
                .next()
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn migrations_mirror_the_postgres_store() {
        let names = |dir: &str| {
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let here = names(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"));
        let postgres = names(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../kassa-store-postgres/migrations"
        ));
        assert_eq!(here, postgres);
        let listed: Vec<String> = super::MIGRATIONS
            .iter()
            .map(|(n, _)| format!("{n}.sql"))
            .collect();
        assert_eq!(here, listed, "every migration file is listed in MIGRATIONS");
    }
}
