use async_trait::async_trait;
use kassa_core::Result;
use kassa_core::conflicts;
use kassa_core::customer::{CustomerField, CustomerQuery, normalize_email};
use kassa_core::integrations::{Emit, Event};
use kassa_core::query::Page;
use kassa_core::store::{Customer, CustomerPatch, CustomerStore};
use kassa_core::time::Millis;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};
use uuid::Uuid;

use crate::SqliteStore;
use crate::auth::parse_uuid;
use crate::db::{DbError, unique_violation};

macro_rules! customer_columns {
    () => {
        "id, name, email, password_hash, external_ref, created_at, updated_at"
    };
}

fn customer_from_row(row: &Row<'_>) -> rusqlite::Result<Customer> {
    Ok(Customer {
        id: parse_uuid(row.get_ref(0)?.as_str()?),
        name: row.get(1)?,
        email: row.get(2)?,
        password_hash: row.get(3)?,
        external_ref: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

/// A violation of `customers_email_key` (SQLite names the indexed column) is a taken email.
fn email_conflict(e: rusqlite::Error) -> DbError {
    match unique_violation(&e) {
        Some(msg) if msg.contains(conflicts::CUSTOMER_EMAIL.sqlite) => {
            conflicts::CUSTOMER_EMAIL.error().into()
        }
        _ => e.into(),
    }
}

fn column(field: CustomerField) -> &'static str {
    match field {
        CustomerField::Email => "email_normalized",
        CustomerField::Name => "name",
        CustomerField::ExternalRef => "external_ref",
    }
}

#[async_trait]
impl CustomerStore for SqliteStore {
    async fn create_customer(&self, customer: Customer, events: Vec<Event>) -> Result<Customer> {
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO customers
                     (id, name, email, email_normalized, password_hash, external_ref, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    customer.id.to_string(),
                    customer.name,
                    customer.email,
                    normalize_email(&customer.email),
                    customer.password_hash,
                    customer.external_ref,
                    customer.created_at,
                    customer.updated_at
                ])
                .map_err(email_conflict)?;
                crate::outbox::write(conn, &events)?;
                Ok(customer)
            })
            .await
    }

    async fn customer(&self, id: Uuid) -> Result<Option<Customer>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        customer_columns!(),
                        " FROM customers WHERE id = ?1"
                    ))?
                    .query_row([id.to_string()], customer_from_row)
                    .optional()?)
            })
            .await
    }

    async fn customer_by_email(&self, email: &str) -> Result<Option<Customer>> {
        let email = normalize_email(email);
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        customer_columns!(),
                        " FROM customers WHERE email_normalized = ?1"
                    ))?
                    .query_row([email], customer_from_row)
                    .optional()?)
            })
            .await
    }

    async fn customers(&self, query: CustomerQuery) -> Result<Page<Customer>> {
        // Only whitelisted column names are interpolated; every value is bound.
        let mut conditions = Vec::new();
        let mut values: Vec<String> = Vec::new();
        for f in &query.filters {
            values.push(if f.like { f.like_pattern() } else { f.value.clone() });
            let op = if f.like { "LIKE" } else { "=" };
            let escape = if f.like { " ESCAPE '\\'" } else { "" };
            conditions.push(format!("{} {op} ?{}{escape}", column(f.field), values.len()));
        }
        if let Some(id) = query.only {
            values.push(id.to_string());
            conditions.push(format!("id = ?{}", values.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let page = query.page;
        self.db
            .read(move |conn| {
                let total: i64 = conn
                    .prepare_cached(&format!("SELECT count(*) FROM customers{filter}"))?
                    .query_row(params_from_iter(&values), |r| r.get(0))?;
                let n = values.len();
                let sql = format!(
                    concat!(
                        "SELECT ",
                        customer_columns!(),
                        " FROM customers{} ORDER BY created_at, id LIMIT ?{} OFFSET ?{}"
                    ),
                    filter,
                    n + 1,
                    n + 2
                );
                let mut bound: Vec<rusqlite::types::Value> = values.into_iter().map(Into::into).collect();
                bound.push((page.limit as i64).into());
                bound.push((page.offset as i64).into());
                let items = conn
                    .prepare_cached(&sql)?
                    .query_map(params_from_iter(bound), customer_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(Page {
                    items,
                    total: total as u64,
                })
            })
            .await
    }

    async fn update_customer(
        &self,
        id: Uuid,
        patch: CustomerPatch,
        now: Millis,
        emit: Option<Emit<Customer>>,
    ) -> Result<Option<Customer>> {
        self.db
            .write(move |conn| {
                let normalized = patch.email.as_deref().map(normalize_email);
                let (set_ref, external_ref) = match patch.external_ref {
                    Some(value) => (true, value),
                    None => (false, None),
                };
                let updated = conn
                    .prepare_cached(concat!(
                        "UPDATE customers SET
                           name = COALESCE(?2, name),
                           email = COALESCE(?3, email),
                           email_normalized = COALESCE(?4, email_normalized),
                           password_hash = COALESCE(?5, password_hash),
                           external_ref = CASE WHEN ?6 THEN ?7 ELSE external_ref END,
                           updated_at = ?8
                         WHERE id = ?1 RETURNING ",
                        customer_columns!()
                    ))?
                    .query_row(
                        params![
                            id.to_string(),
                            patch.name,
                            patch.email,
                            normalized,
                            patch.password_hash,
                            set_ref,
                            external_ref,
                            now
                        ],
                        customer_from_row,
                    )
                    .optional()
                    .map_err(email_conflict)?;
                if let (Some(customer), Some(emit)) = (&updated, emit) {
                    crate::outbox::write(conn, &emit(customer))?;
                }
                Ok(updated)
            })
            .await
    }

    async fn delete_customer(&self, id: Uuid, events: Vec<Event>) -> Result<bool> {
        self.db
            .write(move |conn| {
                let changed = conn
                    .prepare_cached("DELETE FROM customers WHERE id = ?1")?
                    .execute([id.to_string()])?;
                if changed == 1 {
                    crate::outbox::write(conn, &events)?;
                }
                Ok(changed == 1)
            })
            .await
    }
}
