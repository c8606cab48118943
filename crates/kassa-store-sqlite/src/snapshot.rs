//! Fixtures (`kassa_core::snapshot`): a store's data read out in one read transaction and
//! written back in one write.
//!
//! SQLite's declared types say text, integer, real or blob; which integers are booleans, which
//! texts are uuids and which are JSON documents is what the PostgreSQL schema says with its
//! types, written down here (a test compares the two backends' shapes, so a new column cannot
//! be forgotten). A release's snapshot, kept in parts here, is its release row's `snapshot`
//! text in a fixture, as PostgreSQL keeps it.

use std::collections::HashMap;

use kassa_core::Error;
use kassa_core::snapshot::{self, ColumnKind, Fixture, KEPT_BY_IMPORT, Row, TableShape};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, params_from_iter};
use serde_json::Value;

use crate::db::DbResult;
use crate::releases::PART_BYTES;

/// Where a release's snapshot lives here, outside its row.
const RELEASE_PARTS: &str = "catalog_release_parts";
/// The release table, and the column its snapshot is in a fixture (its row's, as PostgreSQL
/// keeps it).
const RELEASES: &str = "catalog_releases";
const SNAPSHOT: &str = "snapshot";

/// Columns stored as text that hold uuids.
const UUID_COLUMNS: &[(&str, &[&str])] = &[
    ("account_authentication_settings", &["id", "realm_id"]),
    ("account_members", &["id", "realm_id"]),
    ("account_memberships", &["id", "account_id", "member_id"]),
    ("accounts", &["id", "parent_id"]),
    ("addresses", &["id", "account_id", "customer_id"]),
    ("authentication_realms", &["id", "origin_id"]),
    ("bundle_options", &["bundle_id", "product_id"]),
    ("cart_custom_discounts", &["id", "item_id"]),
    ("cart_items", &["id", "product_id", "catalog_id"]),
    ("cart_tax_items", &["id", "item_id", "component_product_id"]),
    ("carts", &["account_id", "customer_id"]),
    ("catalog_hierarchies", &["catalog_id", "hierarchy_id"]),
    ("catalog_pricebooks", &["catalog_id", "pricebook_id"]),
    ("catalog_releases", &["id", "catalog_id"]),
    ("catalog_rules", &["id", "catalog_id"]),
    ("catalogs", &["id"]),
    ("currencies", &["id"]),
    ("customers", &["id"]),
    ("file_contents", &["file_id"]),
    ("files", &["id"]),
    ("hierarchies", &["id"]),
    ("integration_observes", &["integration_id"]),
    ("integrations", &["id"]),
    ("inventories", &["product_id"]),
    ("inventory_locations", &["id"]),
    ("member_credentials", &["id", "member_id", "password_profile_id"]),
    ("node_products", &["node_id", "product_id"]),
    ("nodes", &["id", "hierarchy_id", "parent_id"]),
    (
        "order_items",
        &[
            "id",
            "order_id",
            "cart_item_id",
            "product_id",
            "catalog_id",
            "location_id",
        ],
    ),
    ("order_transactions", &["id", "order_id"]),
    (
        "orders",
        &["id", "customer_id", "account_id", "account_member_id"],
    ),
    ("password_profiles", &["id", "realm_id"]),
    ("pricebooks", &["id"]),
    ("prices", &["id", "pricebook_id"]),
    ("product_files", &["product_id", "file_id"]),
    ("product_variations", &["product_id", "variation_id"]),
    ("products", &["id", "main_image_id", "parent_id"]),
    ("promotion_codes", &["id", "promotion_id", "user_id"]),
    ("promotion_jobs", &["id", "promotion_id"]),
    (
        "promotion_usages",
        &[
            "id",
            "promotion_id",
            "code_id",
            "order_id",
            "customer_id",
            "account_id",
        ],
    ),
    ("rule_promotions", &["id"]),
    ("stock_positions", &["product_id", "location_id"]),
    ("stock_transactions", &["id", "product_id"]),
    ("variation_modifiers", &["id", "option_id"]),
    ("variation_options", &["id", "variation_id"]),
    ("variations", &["id"]),
];

/// Columns stored as integers that hold booleans.
const BOOL_COLUMNS: &[(&str, &[&str])] = &[
    (
        "account_authentication_settings",
        &["enable_self_signup", "auto_create_account"],
    ),
    ("cart_items", &["includes_tax"]),
    (
        "carts",
        &[
            "custom_discounts_enabled",
            "use_rule_promotions",
            "defer_inventory_check",
        ],
    ),
    ("currencies", &["is_default", "enabled"]),
    ("files", &["public"]),
    ("integrations", &["enabled"]),
    ("order_items", &["includes_tax"]),
    ("orders", &["stock_allocated"]),
    ("password_profiles", &["enable_one_time_password_token"]),
    ("payment_gateways", &["enabled"]),
    ("promotion_codes", &["includes_guests", "is_for_new_shopper"]),
    ("promotion_usages", &["anonymized"]),
    (
        "rule_promotions",
        &["enabled", "automatic", "stackable", "override_stacking"],
    ),
    (
        "store_settings",
        &[
            "show_all_carts",
            "custom_discounts_enabled",
            "use_rule_promotions",
            "defer_inventory_check",
        ],
    ),
];

/// Columns stored as text that hold JSON documents (`jsonb` in PostgreSQL).
const JSON_COLUMNS: &[(&str, &[&str])] = &[
    ("authentication_realms", &["redirect_uris"]),
    ("cart_items", &["custom_inputs", "bundle"]),
    ("carts", &["custom_attributes"]),
    (
        "catalog_rules",
        &["account_ids", "customer_ids", "channels", "tags", "schedules"],
    ),
    ("inventory_locations", &["address"]),
    ("order_items", &["custom_inputs", "taxes", "bundle"]),
    (
        "orders",
        &["billing_address", "shipping_address", "custom_attributes"],
    ),
    ("prices", &["currencies", "sales"]),
    ("products", &["extensions", "components", "build_rules"]),
];

fn listed(list: &[(&str, &[&str])], table: &str, column: &str) -> bool {
    list.iter()
        .any(|(t, columns)| *t == table && columns.contains(&column))
}

fn kind_of(table: &str, column: &str, declared: &str) -> ColumnKind {
    if listed(UUID_COLUMNS, table, column) {
        ColumnKind::Uuid
    } else if listed(BOOL_COLUMNS, table, column) {
        ColumnKind::Bool
    } else if listed(JSON_COLUMNS, table, column) {
        ColumnKind::Json
    } else {
        match declared {
            "INTEGER" => ColumnKind::Integer,
            "REAL" => ColumnKind::Real,
            "BLOB" => ColumnKind::Bytes,
            _ => ColumnKind::Text,
        }
    }
}

/// The fixture tables, by name.
pub(crate) fn shapes(conn: &Connection) -> DbResult<Vec<TableShape>> {
    let tables: Vec<String> = conn
        .prepare_cached(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut shapes = Vec::new();
    for name in tables {
        if !snapshot::in_fixtures(&name) || name == RELEASE_PARTS {
            continue;
        }
        let mut columns = Vec::new();
        let mut key: Vec<(i64, String)> = Vec::new();
        let mut info = conn.prepare(&format!("PRAGMA table_info(\"{name}\")"))?;
        let mut rows = info.query([])?;
        while let Some(row) = rows.next()? {
            let column: String = row.get("name")?;
            let declared: String = row.get("type")?;
            let pk: i64 = row.get("pk")?;
            if pk > 0 {
                key.push((pk, column.clone()));
            }
            columns.push((column.clone(), kind_of(&name, &column, &declared)));
        }
        if name == RELEASES {
            columns.push((SNAPSHOT.into(), ColumnKind::Text));
        }
        key.sort();
        shapes.push(TableShape {
            name,
            columns,
            key: key.into_iter().map(|(_, c)| c).collect(),
        });
    }
    Ok(shapes)
}

/// Everything in the fixture tables, read in the caller's one read transaction.
pub(crate) fn export(conn: &Connection) -> DbResult<Fixture> {
    let mut fixture = Fixture::empty();
    for shape in shapes(conn)? {
        let stored: Vec<&str> = shape
            .columns
            .iter()
            .map(|(c, _)| c.as_str())
            .filter(|c| !(shape.name == RELEASES && *c == SNAPSHOT))
            .collect();
        let sql = format!(
            "SELECT {} FROM \"{}\"",
            stored
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", "),
            shape.name
        );
        let mut statement = conn.prepare(&sql)?;
        let mut cursor = statement.query([])?;
        let mut rows = Vec::new();
        while let Some(row) = cursor.next()? {
            let mut out = Row::new();
            for (i, column) in stored.iter().enumerate() {
                let kind = shape.kind_of(column).unwrap_or(ColumnKind::Text);
                out.insert((*column).to_owned(), json_of(row.get_ref(i)?, kind)?);
            }
            if shape.name == RELEASES {
                let id = out["id"].as_str().unwrap_or_default().to_owned();
                out.insert(SNAPSHOT.into(), Value::String(release_snapshot(conn, &id)?));
            }
            rows.push(out);
        }
        let rows = shape.canonical_rows(rows)?;
        fixture.tables.insert(shape.name, rows);
    }
    Ok(fixture)
}

fn json_of(value: ValueRef<'_>, kind: ColumnKind) -> DbResult<Value> {
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::from(n),
        ValueRef::Real(x) => Value::from(x),
        ValueRef::Text(bytes) => {
            let text = std::str::from_utf8(bytes).map_err(Error::internal)?;
            if kind == ColumnKind::Json {
                serde_json::from_str(text)
                    .map_err(|e| Error::internal(format!("a stored JSON document is unreadable: {e}")))?
            } else {
                Value::String(text.to_owned())
            }
        }
        ValueRef::Blob(bytes) => snapshot::bytes_value(bytes),
    })
}

fn release_snapshot(conn: &Connection, release_id: &str) -> DbResult<String> {
    let mut document = Vec::new();
    let mut parts =
        conn.prepare_cached("SELECT body FROM catalog_release_parts WHERE release_id = ?1 ORDER BY seq")?;
    let mut rows = parts.query([release_id])?;
    while let Some(row) = rows.next()? {
        document.extend_from_slice(row.get_ref(0)?.as_bytes().map_err(rusqlite::Error::from)?);
    }
    String::from_utf8(document)
        .map_err(|e| Error::internal(format!("a release snapshot is not text: {e}")).into())
}

/// Replaces the store's data (all but what [`KEPT_BY_IMPORT`] names) with `fixture`'s, inside
/// the writer's savepoint: any error leaves the store as it was.
pub(crate) fn import(conn: &Connection, mut fixture: Fixture) -> DbResult<()> {
    let shapes = shapes(conn)?;
    fixture.check(&shapes)?;
    // Rows go in table by table in any order, parents after children included: references
    // are checked once all are in, below.
    conn.execute_batch("PRAGMA defer_foreign_keys = ON")?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for table in tables.iter().filter(|t| !KEPT_BY_IMPORT.contains(&t.as_str())) {
        conn.execute(&format!("DELETE FROM \"{table}\""), [])?;
    }
    for (table, rows) in &fixture.tables {
        let shape = shapes.iter().find(|s| &s.name == table).expect("checked");
        insert_rows(conn, shape, rows).map_err(|e| refused(e, table))?;
    }
    // What migrations 0003 and 0008 put in a new store, where the fixture says nothing.
    if !fixture.lists("store_settings") {
        conn.execute_batch("INSERT INTO store_settings (id) VALUES (1)")?;
    }
    if !fixture.lists("currencies") {
        conn.execute_batch(
            "INSERT INTO currencies VALUES ('00000000-0000-7000-8000-000000000001', 'USD', 1.0, '${price}',
               '.', ',', 2, 1, 1, CAST(strftime('%s', 'now') AS INTEGER) * 1000,
               CAST(strftime('%s', 'now') AS INTEGER) * 1000)",
        )?;
    }
    conn.execute_batch("UPDATE promotions_version SET version = version + 1 WHERE id = 1")?;
    if let Some(broken) = conn
        .prepare("PRAGMA foreign_key_check")?
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(2)?)))?
        .next()
        .transpose()?
    {
        return Err(Error::bad_request(
            "Invalid Fixture",
            format!(
                "a row of {} refers to a row of {} that the fixture does not hold",
                broken.0, broken.1
            ),
        )
        .into());
    }
    // The writer's next use-cases in this batch check their references as they go again.
    conn.execute_batch("PRAGMA defer_foreign_keys = OFF")?;
    Ok(())
}

fn insert_rows(conn: &Connection, shape: &TableShape, rows: &[Row]) -> rusqlite::Result<()> {
    let releases = shape.name == RELEASES;
    // One statement per set of columns: a hand-written fixture may leave columns to their
    // defaults, row by row.
    let mut statements: HashMap<Vec<&str>, String> = HashMap::new();
    for row in rows {
        let columns: Vec<&str> = row
            .keys()
            .map(String::as_str)
            .filter(|c| !(releases && *c == SNAPSHOT))
            .collect();
        let sql = statements.entry(columns.clone()).or_insert_with(|| {
            format!(
                "INSERT INTO \"{}\" ({}) VALUES ({})",
                shape.name,
                columns
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", "),
                (1..=columns.len())
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        let values = columns.iter().map(|c| {
            let kind = shape.kind_of(c).unwrap_or(ColumnKind::Text);
            sql_value(&row[*c], kind)
        });
        conn.prepare_cached(sql)?.execute(params_from_iter(values))?;
        if releases {
            let snapshot = row.get(SNAPSHOT).and_then(Value::as_str).unwrap_or_default();
            let id = row.get("id").and_then(Value::as_str).unwrap_or_default();
            for (seq, part) in snapshot.as_bytes().chunks(PART_BYTES).enumerate() {
                conn.prepare_cached(
                    "INSERT INTO catalog_release_parts (release_id, seq, body) VALUES (?1, ?2, ?3)",
                )?
                .execute(rusqlite::params![id, seq as i64, part])?;
            }
        }
    }
    Ok(())
}

/// A checked fixture value as SQLite stores it.
fn sql_value(value: &Value, kind: ColumnKind) -> SqlValue {
    match (kind, value) {
        (_, Value::Null) => SqlValue::Null,
        (ColumnKind::Json, v) => SqlValue::Text(v.to_string()),
        (ColumnKind::Bytes, v) => snapshot::bytes_of(v).map_or(SqlValue::Null, SqlValue::Blob),
        (_, Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
        (ColumnKind::Real, Value::Number(n)) => SqlValue::Real(n.as_f64().unwrap_or_default()),
        (_, Value::Number(n)) => SqlValue::Integer(n.as_i64().unwrap_or_default()),
        (_, Value::String(s)) => SqlValue::Text(s.clone()),
        (_, v) => SqlValue::Text(v.to_string()),
    }
}

/// A row the database refuses (a duplicate key, a missing required column) is the fixture's
/// fault, said in the database's words.
fn refused(e: rusqlite::Error, table: &str) -> crate::db::DbError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => {
            Error::bad_request("Invalid Fixture", format!("a row of {table} is refused: {e}")).into()
        }
        _ => e.into(),
    }
}
