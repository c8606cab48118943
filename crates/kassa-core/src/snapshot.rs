//! Snapshots of a store: a fixture is everything a store holds, one JSON document that is the
//! same whichever backend wrote it, so a test can start from it, a bug report can carry it, and
//! `export → import → export` gives back the same bytes on SQLite and on PostgreSQL.
//!
//! A fixture lists each table's rows as JSON objects of their columns. The backends differ in
//! how they store a value (a boolean is an integer in SQLite, a JSON document is `jsonb` in
//! PostgreSQL and text in SQLite, bytes are `bytea` or a BLOB), so each backend describes its
//! tables as [`TableShape`]s with a [`ColumnKind`] per column, and every value is written in the
//! one form its kind has here. Rows are in primary-key order and a row's columns in name order:
//! a fixture only changes where the store did.
//!
//! Not in a fixture: the store's credentials (application keys and token signing keys: an
//! import keeps the store's own, as a reset does, so the test's client id and tokens stay
//! valid), the schema's own record, the promotions' cache stamp (moved on by every import), and
//! the integrations' delivery outbox and log (a record of deliveries to another run's
//! receivers; imported, they would be delivered again).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{Error, Result, Validator};

/// The fixture format this kassa writes and reads.
pub const FORMAT: u32 = 1;

/// Tables an import (and so a reset) leaves as they are: the schema's record, the store's
/// credentials, and the promotions' cache stamp (moved on instead).
pub const KEPT_BY_IMPORT: &[&str] = &[
    "schema_migrations",
    "_sqlx_migrations",
    "application_keys",
    "signing_keys",
    "promotions_version",
];

/// The integrations' delivery outbox and log: emptied by an import, never in a fixture.
pub const OUTBOX: &[&str] = &["integration_events", "integration_jobs", "integration_logs"];

/// Whether a fixture holds `table` (see the module's documentation).
pub fn in_fixtures(table: &str) -> bool {
    !KEPT_BY_IMPORT.contains(&table) && !OUTBOX.contains(&table)
}

/// Most problems one import reports; a fixture of the wrong shape would otherwise list every row.
const MAX_PROBLEMS: usize = 20;

/// One row: column name → value, in name order.
pub type Row = Map<String, Value>;

/// A store's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// [`FORMAT`].
    pub kassa_fixture: u32,
    /// Table name → rows. A table a fixture leaves out is, after an import, as a new store has
    /// it (the default settings and currency, an empty catalog); a table listed, even empty, is
    /// exactly as listed.
    pub tables: BTreeMap<String, Vec<Row>>,
}

impl Fixture {
    /// No tables at all: importing it makes the store as new (what a reset does).
    pub fn empty() -> Self {
        Self {
            kassa_fixture: FORMAT,
            tables: BTreeMap::new(),
        }
    }

    /// Reads a fixture file's bytes; a document that is not one is a `Validation` error.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| {
            Error::field(
                "kassa_fixture",
                "Invalid Fixture",
                format!("not a kassa fixture: {e}"),
            )
        })
    }

    /// The file's bytes: indented (a fixture kept in a repository diffs line by line), ending
    /// with a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a fixture is plain JSON");
        bytes.push(b'\n');
        bytes
    }

    /// Whether the fixture lists `table` (even with no rows).
    pub fn lists(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    /// Checks every table, column and value against the store's `shapes` and writes each value
    /// in its kind's one form (a uuid in lowercase with hyphens, a real number as a float): a
    /// fixture that passes can be written by either backend without a type error. What only the
    /// database can judge (uniqueness, references, required columns) it judges at the import.
    pub fn check(&mut self, shapes: &[TableShape]) -> Result<()> {
        let mut v = Validator::new();
        if self.kassa_fixture != FORMAT {
            v.push(
                "kassa_fixture",
                "Invalid Fixture",
                format!(
                    "this kassa reads fixtures of format {FORMAT}, not {}",
                    self.kassa_fixture
                ),
            );
        }
        for (table, rows) in &mut self.tables {
            let Some(shape) = shapes.iter().find(|s| &s.name == table) else {
                v.push(
                    format!("tables.{table}"),
                    "Unknown Table",
                    format!("a store has no table {table} in its fixtures"),
                );
                continue;
            };
            for (i, row) in rows.iter_mut().enumerate() {
                for (column, value) in row.iter_mut() {
                    if v.problem_count() >= MAX_PROBLEMS {
                        return v.finish();
                    }
                    let source = || format!("tables.{table}[{i}].{column}");
                    match shape.kind_of(column) {
                        None => v.push(
                            source(),
                            "Unknown Column",
                            format!("{table} has no column {column}"),
                        ),
                        Some(kind) => match kind.canonical(value.take()) {
                            Ok(canonical) => *value = canonical,
                            Err(expected) => {
                                v.push(source(), "Invalid Value", format!("{column} must be {expected}"))
                            }
                        },
                    }
                }
            }
        }
        v.finish()
    }
}

/// What a column holds, as far as a fixture cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColumnKind {
    Text,
    /// Written as text: lowercase, hyphenated.
    Uuid,
    /// A 64-bit whole number.
    Integer,
    /// A floating-point number.
    Real,
    Bool,
    /// A JSON document, nested in the fixture as itself.
    Json,
    /// Written as standard base64.
    Bytes,
}

impl ColumnKind {
    /// `value` in this kind's one form, from any form a backend or a person writes it in (a
    /// boolean as `0`/`1`, bytes as PostgreSQL's `\\x…` hex, a real number without a fraction);
    /// `Err` names what the value should have been. `null` is kept: the database judges it.
    pub fn canonical(self, value: Value) -> std::result::Result<Value, &'static str> {
        Ok(match (self, value) {
            (_, Value::Null) => Value::Null,
            (ColumnKind::Text, v @ Value::String(_)) => v,
            (ColumnKind::Text, _) => return Err("a string"),
            (ColumnKind::Uuid, Value::String(s)) => Value::String(
                Uuid::parse_str(&s)
                    .map_err(|_| "a uuid")?
                    .hyphenated()
                    .to_string(),
            ),
            (ColumnKind::Uuid, _) => return Err("a uuid"),
            (ColumnKind::Integer, Value::Number(n)) => {
                Value::from(n.as_i64().ok_or("a whole number from -2^63 to 2^63-1")?)
            }
            (ColumnKind::Integer, _) => return Err("a whole number"),
            (ColumnKind::Real, Value::Number(n)) => Value::from(n.as_f64().ok_or("a number")?),
            (ColumnKind::Real, _) => return Err("a number"),
            (ColumnKind::Bool, v @ Value::Bool(_)) => v,
            (ColumnKind::Bool, Value::Number(n)) => match n.as_i64() {
                Some(0) => Value::Bool(false),
                Some(1) => Value::Bool(true),
                _ => return Err("true or false"),
            },
            (ColumnKind::Bool, _) => return Err("true or false"),
            // The document itself (a backend storing it as text parses it first).
            (ColumnKind::Json, v) => v,
            (ColumnKind::Bytes, Value::String(s)) => {
                // Canonical already, or PostgreSQL's hex form of `bytea` in JSON.
                let bytes = match s.strip_prefix("\\x") {
                    Some(hex) => decode_hex(hex).ok_or("base64 text")?,
                    None => BASE64.decode(&s).map_err(|_| "base64 text")?,
                };
                Value::String(BASE64.encode(bytes))
            }
            (ColumnKind::Bytes, _) => return Err("base64 text"),
        })
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A fixture's `Bytes` value of `bytes`.
pub fn bytes_value(bytes: &[u8]) -> Value {
    Value::String(BASE64.encode(bytes))
}

/// Base64 text of a fixture's `Bytes` value, as bytes (the value passed [`Fixture::check`]).
pub fn bytes_of(value: &Value) -> Option<Vec<u8>> {
    value.as_str().and_then(|s| BASE64.decode(s).ok())
}

/// One table as a backend stores it, for fixtures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    pub name: String,
    /// In the table's order.
    pub columns: Vec<(String, ColumnKind)>,
    /// The primary key's columns: rows are written in its order.
    pub key: Vec<String>,
}

impl TableShape {
    pub fn kind_of(&self, column: &str) -> Option<ColumnKind> {
        self.columns.iter().find(|(c, _)| c == column).map(|(_, k)| *k)
    }

    /// `rows` as read by a backend, each value in its canonical form, in primary-key order.
    pub fn canonical_rows(&self, rows: Vec<Row>) -> Result<Vec<Row>> {
        let mut rows = rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|(column, value)| {
                        let kind = self.kind_of(&column).ok_or_else(|| {
                            Error::internal(format!("{}: no column {column} in its shape", self.name))
                        })?;
                        let value = kind.canonical(value).map_err(|expected| {
                            Error::internal(format!("{}.{column} is not {expected}", self.name))
                        })?;
                        Ok((column, value))
                    })
                    .collect::<Result<Row>>()
            })
            .collect::<Result<Vec<Row>>>()?;
        if self.name == "integrations" {
            rows.iter_mut().for_each(redact_integration_secrets);
        }
        rows.sort_by(|a, b| {
            self.key
                .iter()
                .map(|k| compare_values(&a[k.as_str()], &b[k.as_str()]))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        Ok(rows)
    }
}

/// What a fixture writes for a secret it must not hold but cannot hash (kassa sends it as it is).
pub const REDACTED: &str = "[redacted]";

/// An integration's webhook `secret_key` and STOMP `password` are sent to the receiver as they
/// are, so they are kept in clear; a fixture, which is shared and committed, holds neither.
fn redact_integration_secrets(row: &mut Row) {
    let Some(Value::String(text)) = row.get("configuration") else {
        return;
    };
    let Ok(Value::Object(mut configuration)) = serde_json::from_str::<Value>(text) else {
        return;
    };
    for secret in ["secret_key", "password"] {
        if let Some(value @ Value::String(_)) = configuration.get_mut(secret) {
            *value = Value::String(REDACTED.into());
        }
    }
    row.insert(
        "configuration".into(),
        Value::String(Value::Object(configuration).to_string()),
    );
}

/// Key order: numbers by value, strings by their bytes (a uuid's text order is its byte order,
/// and so time order for kassa's v7 ids), whatever the database's collation.
fn compare_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_kind_has_one_form_whichever_backend_wrote_it() {
        use ColumnKind::*;
        let cases: &[(ColumnKind, Value, std::result::Result<Value, &str>)] = &[
            (Bool, json!(1), Ok(json!(true))),
            (Bool, json!(0), Ok(json!(false))),
            (Bool, json!(true), Ok(json!(true))),
            (Bool, json!(2), Err("true or false")),
            (Bool, json!("true"), Err("true or false")),
            (Real, json!(1), Ok(json!(1.0))),
            (Real, json!(0.5), Ok(json!(0.5))),
            (Integer, json!(7), Ok(json!(7))),
            (Integer, json!(7.5), Err("a whole number from -2^63 to 2^63-1")),
            (Integer, json!("7"), Err("a whole number")),
            (
                Uuid,
                json!("0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B"),
                Ok(json!("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")),
            ),
            (Uuid, json!("nope"), Err("a uuid")),
            (
                Json,
                json!({"b": 1, "a": [true]}),
                Ok(json!({"a": [true], "b": 1})),
            ),
            (Json, json!("plain"), Ok(json!("plain"))),
            (Bytes, json!("\\x68690a"), Ok(json!("aGkK"))),
            (Bytes, json!("aGkK"), Ok(json!("aGkK"))),
            (Bytes, json!("\\x6"), Err("base64 text")),
            (Bytes, json!("***"), Err("base64 text")),
            (Text, json!(3), Err("a string")),
            (Text, Value::Null, Ok(Value::Null)),
        ];
        for (kind, raw, want) in cases {
            assert_eq!(kind.canonical(raw.clone()), *want, "{kind:?} {raw}");
        }
    }

    fn shape() -> TableShape {
        TableShape {
            name: "things".into(),
            columns: vec![
                ("id".into(), ColumnKind::Uuid),
                ("live".into(), ColumnKind::Bool),
                ("doc".into(), ColumnKind::Json),
            ],
            key: vec!["id".into()],
        }
    }

    fn row(value: Value) -> Row {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn rows_come_in_key_order_with_canonical_values() {
        let rows = shape()
            .canonical_rows(vec![
                row(json!({"id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", "live": 0, "doc": [1]})),
                row(json!({"id": "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B", "live": 1, "doc": null})),
            ])
            .unwrap();
        assert_eq!(
            Value::Array(rows.into_iter().map(Value::Object).collect()),
            json!([
                {"id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "live": true, "doc": null},
                {"id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", "live": false, "doc": [1]},
            ])
        );
    }

    #[test]
    fn integration_secrets_are_redacted_and_the_rest_kept() {
        let shape = TableShape {
            name: "integrations".into(),
            columns: vec![("configuration".into(), ColumnKind::Text)],
            key: vec![],
        };
        let rows = shape
            .canonical_rows(vec![
                row(json!({"configuration": r#"{"url":"http://x","secret_key":"s3cret"}"#})),
                row(json!({"configuration": r#"{"host":"h","password":"guest","username":"guest"}"#})),
                row(json!({"configuration": r#"{"url":"http://x"}"#})),
            ])
            .unwrap();
        let configurations: Vec<Value> = rows
            .iter()
            .map(|r| serde_json::from_str(r["configuration"].as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(
            configurations,
            [
                json!({"url": "http://x", "secret_key": REDACTED}),
                json!({"host": "h", "password": REDACTED, "username": "guest"}),
                json!({"url": "http://x"}),
            ]
        );
    }

    #[test]
    fn a_fixture_is_checked_against_the_shapes_naming_each_problem() {
        let mut fixture = Fixture::parse(
            br#"{"kassa_fixture": 1, "tables": {
                "things": [{"id": "x", "live": true, "colour": "red"}],
                "nothing": []
            }}"#,
        )
        .unwrap();
        let Err(Error::Validation(problems)) = fixture.check(&[shape()]) else {
            panic!("accepted");
        };
        let found: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.source.as_str(), p.title.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("tables.nothing", "Unknown Table"),
                ("tables.things[0].colour", "Unknown Column"),
                ("tables.things[0].id", "Invalid Value"),
            ]
        );

        let mut good = Fixture::parse(
            br#"{"kassa_fixture": 1, "tables": {"things": [{"id": "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B", "live": 1}]}}"#,
        )
        .unwrap();
        good.check(&[shape()]).unwrap();
        assert_eq!(
            good.tables["things"][0]["id"],
            json!("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
        );
        assert_eq!(good.tables["things"][0]["live"], json!(true));

        for bad in [
            &br#"{"kassa_fixture": 2, "tables": {}}"#[..],
            br#"[]"#,
            br#"{"tables": {}}"#,
        ] {
            let outcome = Fixture::parse(bad).and_then(|mut f| f.check(&[shape()]));
            assert!(
                matches!(outcome, Err(Error::Validation(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_bytes_of_a_fixture_end_with_a_newline_and_read_back_the_same() {
        let mut fixture = Fixture::empty();
        fixture.tables.insert(
            "things".into(),
            vec![row(json!({"id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}))],
        );
        let bytes = fixture.to_bytes();
        assert!(bytes.ends_with(b"}\n"));
        assert_eq!(Fixture::parse(&bytes).unwrap(), fixture);
    }
}
