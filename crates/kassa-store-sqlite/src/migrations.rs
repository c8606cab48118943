//! Forward-only schema migrations, tracked in `PRAGMA user_version`. The files mirror the
//! PostgreSQL store's migrations name for name (a test checks this).

use rusqlite::Connection;

use crate::db::DbResult;

const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_auth", include_str!("../migrations/0001_auth.sql")),
    ("0002_accounts", include_str!("../migrations/0002_accounts.sql")),
    ("0003_catalog", include_str!("../migrations/0003_catalog.sql")),
    ("0004_customers", include_str!("../migrations/0004_customers.sql")),
    ("0006_catalogs", include_str!("../migrations/0006_catalogs.sql")),
];

/// Runs on the writer thread, inside its transaction, so concurrent starters serialize on
/// SQLite's write lock and each migration is applied exactly once.
pub(crate) fn apply(conn: &Connection) -> DbResult<()> {
    let version = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if version > MIGRATIONS.len() {
        return Err(kassa_core::Error::internal(format!(
            "the database schema is version {version}, newer than this kassa ({}); upgrade kassa",
            MIGRATIONS.len()
        ))
        .into());
    }
    for (name, sql) in &MIGRATIONS[version..] {
        tracing::info!(migration = name, "applying migration");
        conn.execute_batch(sql)?;
    }
    conn.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    Ok(())
}

#[cfg(test)]
mod tests {
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
