//! Fixtures (`kassa_core::snapshot`): a store's data read out in one repeatable-read
//! transaction and written back in one transaction. The schema's own types say each column's
//! kind; PostgreSQL renders rows as JSON and fills them from JSON itself
//! (`json_agg`, `jsonb_populate_recordset`), so a table is one statement each way.

use std::collections::{BTreeMap, BTreeSet};

use kassa_core::snapshot::{self, ColumnKind, Fixture, KEPT_BY_IMPORT, Row, TableShape};
use kassa_core::{Error, Result};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::sql_error;

fn kind_of(data_type: &str) -> ColumnKind {
    match data_type {
        "uuid" => ColumnKind::Uuid,
        "boolean" => ColumnKind::Bool,
        "json" | "jsonb" => ColumnKind::Json,
        "bytea" => ColumnKind::Bytes,
        "smallint" | "integer" | "bigint" => ColumnKind::Integer,
        "real" | "double precision" | "numeric" => ColumnKind::Real,
        _ => ColumnKind::Text,
    }
}

/// Every table of the store's schema, by name.
async fn tables(conn: &mut PgConnection) -> Result<Vec<TableShape>> {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text
         FROM information_schema.columns c
         JOIN information_schema.tables t USING (table_schema, table_name)
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
         ORDER BY c.table_name, c.ordinal_position",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_error)?;
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT k.table_name::text, k.column_name::text
         FROM information_schema.table_constraints c
         JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name)
         WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = current_schema()
         ORDER BY k.table_name, k.ordinal_position",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_error)?;
    let mut shapes: Vec<TableShape> = Vec::new();
    for (table, column, data_type) in columns {
        if shapes.last().is_none_or(|s| s.name != table) {
            shapes.push(TableShape {
                key: keys
                    .iter()
                    .filter(|(t, _)| *t == table)
                    .map(|(_, c)| c.clone())
                    .collect(),
                name: table,
                columns: Vec::new(),
            });
        }
        if let Some(shape) = shapes.last_mut() {
            shape.columns.push((column, kind_of(&data_type)));
        }
    }
    Ok(shapes)
}

pub(crate) async fn shapes(pool: &PgPool) -> Result<Vec<TableShape>> {
    let mut conn = pool.acquire().await.map_err(sql_error)?;
    let mut shapes = tables(&mut conn).await?;
    shapes.retain(|s| snapshot::in_fixtures(&s.name));
    Ok(shapes)
}

pub(crate) async fn export(pool: &PgPool) -> Result<Fixture> {
    let mut tx = pool.begin().await.map_err(sql_error)?;
    // One snapshot of the whole store, whatever is written meanwhile.
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
    let mut fixture = Fixture::empty();
    for shape in tables(&mut tx).await? {
        if !snapshot::in_fixtures(&shape.name) {
            continue;
        }
        // The name comes from the catalog, quoted.
        let rows: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT coalesce(json_agg(t), '[]')::text FROM \"{}\" t",
            shape.name
        )))
        .fetch_one(&mut *tx)
        .await
        .map_err(sql_error)?;
        let rows: Vec<Row> = serde_json::from_str(&rows).map_err(Error::internal)?;
        let rows = shape.canonical_rows(rows)?;
        fixture.tables.insert(shape.name, rows);
    }
    tx.commit().await.map_err(sql_error)?;
    Ok(fixture)
}

pub(crate) async fn import(pool: &PgPool, mut fixture: Fixture) -> Result<()> {
    let mut tx = pool.begin().await.map_err(sql_error)?;
    let all = tables(&mut tx).await?;
    let shapes: Vec<TableShape> = all
        .iter()
        .filter(|s| snapshot::in_fixtures(&s.name))
        .cloned()
        .collect();
    fixture.check(&shapes)?;
    let emptied: Vec<String> = all
        .iter()
        .filter(|s| !KEPT_BY_IMPORT.contains(&s.name.as_str()))
        .map(|s| format!("\"{}\"", s.name))
        .collect();
    // The table names come from the catalog, each quoted.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "TRUNCATE {} CASCADE",
        emptied.join(", ")
    )))
    .execute(&mut *tx)
    .await
    .map_err(sql_error)?;
    for table in parents_first(&mut tx, &all).await? {
        let (Some(rows), Some(shape)) = (
            fixture.tables.get(&table),
            shapes.iter().find(|s| s.name == table),
        ) else {
            continue;
        };
        insert_rows(&mut tx, shape, rows).await?;
    }
    // What migrations 0003 and 0008 put in a new store, where the fixture says nothing.
    let mut defaults = String::new();
    if !fixture.lists("store_settings") {
        defaults.push_str("INSERT INTO store_settings (id) VALUES (1);");
    }
    if !fixture.lists("currencies") {
        defaults.push_str(
            "INSERT INTO currencies VALUES ('00000000-0000-7000-8000-000000000001', 'USD', 1.0, '${price}', '.', ',',
               2, TRUE, TRUE, (extract(epoch FROM now()) * 1000)::bigint, (extract(epoch FROM now()) * 1000)::bigint);",
        );
    }
    defaults.push_str("UPDATE promotions_version SET version = version + 1 WHERE id = 1;");
    sqlx::raw_sql(sqlx::AssertSqlSafe(defaults))
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
    tx.commit().await.map_err(sql_error)
}

/// The store's tables, each after every table it refers to, so each table's rows can go in
/// with one statement whose references are checked at its end (a table referring to itself
/// is fine: its rows are all in by then).
async fn parents_first(conn: &mut PgConnection, tables: &[TableShape]) -> Result<Vec<String>> {
    let references: Vec<(String, String)> = sqlx::query_as(
        "SELECT child.relname::text, parent.relname::text
         FROM pg_constraint k
         JOIN pg_class child ON child.oid = k.conrelid
         JOIN pg_class parent ON parent.oid = k.confrelid
         WHERE k.contype = 'f' AND child.relnamespace = current_schema()::regnamespace
           AND child.oid <> parent.oid",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_error)?;
    let mut waiting: BTreeMap<&str, BTreeSet<&str>> = tables
        .iter()
        .map(|t| (t.name.as_str(), BTreeSet::new()))
        .collect();
    for (child, parent) in &references {
        waiting.entry(child).or_default().insert(parent);
    }
    let mut order = Vec::with_capacity(waiting.len());
    while !waiting.is_empty() {
        let ready: Vec<&str> = waiting
            .iter()
            .filter(|(_, parents)| parents.iter().all(|p| !waiting.contains_key(p)))
            .map(|(t, _)| *t)
            .collect();
        if ready.is_empty() {
            return Err(Error::internal(
                "the schema's tables refer to each other in a cycle",
            ));
        }
        for table in ready {
            waiting.remove(table);
            order.push(table.to_owned());
        }
    }
    Ok(order)
}

async fn insert_rows(conn: &mut PgConnection, shape: &TableShape, rows: &[Row]) -> Result<()> {
    // One statement per set of columns: a hand-written fixture may leave columns to their
    // defaults, row by row.
    let mut groups: BTreeMap<Vec<&str>, Vec<Value>> = BTreeMap::new();
    for row in rows {
        let columns: Vec<&str> = row.keys().map(String::as_str).collect();
        let row: Row = row
            .iter()
            .map(|(column, value)| {
                let value = match (shape.kind_of(column), snapshot::bytes_of(value)) {
                    // `bytea`'s text form, which `jsonb_populate_recordset` reads.
                    (Some(ColumnKind::Bytes), Some(bytes)) => Value::String(format!("\\x{}", hex(&bytes))),
                    _ => value.clone(),
                };
                (column.clone(), value)
            })
            .collect();
        groups.entry(columns).or_default().push(Value::Object(row));
    }
    for (columns, rows) in groups {
        let columns = columns
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        // Table and column names were checked against the catalog, and are quoted.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO \"{table}\" ({columns})
             SELECT {columns} FROM jsonb_populate_recordset(NULL::\"{table}\", $1::text::jsonb)",
            table = shape.name
        )))
        .bind(Value::Array(rows).to_string())
        .execute(&mut *conn)
        .await
        .map_err(|e| refused(e, &shape.name))?;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A row the database refuses (a duplicate key, a missing reference or required column, a
/// number out of range) is the fixture's fault, said in the database's words.
fn refused(e: sqlx::Error, table: &str) -> Error {
    match &e {
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|c| c.starts_with("22") || c.starts_with("23")) =>
        {
            Error::bad_request(
                "Invalid Fixture",
                format!("a row of {table} is refused: {}", db.message()),
            )
        }
        _ => sql_error(e),
    }
}
