use async_trait::async_trait;
use kassa_core::conflicts;
use kassa_core::customer::{CustomerField, CustomerQuery, normalize_email};
use kassa_core::integrations::{Emit, Event};
use kassa_core::query::Page;
use kassa_core::store::{Customer, CustomerPatch, CustomerStore};
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

use crate::{PgStore, sql_error, unique_violation};

macro_rules! customer_columns {
    () => {
        "id, name, email, password_hash, external_ref, created_at, updated_at"
    };
}

fn customer_from_row(row: &PgRow) -> Customer {
    Customer {
        id: row.get(0),
        name: row.get(1),
        email: row.get(2),
        password_hash: row.get(3),
        external_ref: row.get(4),
        created_at: row.get(5),
        updated_at: row.get(6),
    }
}

/// A violation of the `customers_email_key` index is a taken email.
fn email_conflict(e: sqlx::Error) -> Error {
    match unique_violation(&e) {
        Some(index) if index == conflicts::CUSTOMER_EMAIL.postgres => conflicts::CUSTOMER_EMAIL.error(),
        _ => sql_error(e),
    }
}

fn column(field: CustomerField) -> &'static str {
    match field {
        CustomerField::Email => "email_normalized",
        CustomerField::Name => "name",
        CustomerField::ExternalRef => "external_ref",
    }
}

async fn insert_customer<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Postgres>,
    customer: &Customer,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO customers
             (id, name, email, email_normalized, password_hash, external_ref, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(customer.id)
    .bind(&customer.name)
    .bind(&customer.email)
    .bind(normalize_email(&customer.email))
    .bind(&customer.password_hash)
    .bind(&customer.external_ref)
    .bind(customer.created_at)
    .bind(customer.updated_at)
    .execute(db)
    .await
    .map_err(email_conflict)?;
    Ok(())
}

#[async_trait]
impl CustomerStore for PgStore {
    async fn create_customer(&self, customer: Customer, events: Vec<Event>) -> Result<Customer> {
        // Without events, one statement and no BEGIN/COMMIT round trips.
        if events.is_empty() {
            insert_customer(&self.pool, &customer).await?;
        } else {
            let mut tx = self.pool.begin().await.map_err(sql_error)?;
            insert_customer(&mut *tx, &customer).await?;
            crate::outbox::write(&mut tx, &events).await?;
            tx.commit().await.map_err(sql_error)?;
        }
        Ok(customer)
    }

    async fn customer(&self, id: Uuid) -> Result<Option<Customer>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            customer_columns!(),
            " FROM customers WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.as_ref().map(customer_from_row))
    }

    async fn customer_by_email(&self, email: &str) -> Result<Option<Customer>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            customer_columns!(),
            " FROM customers WHERE email_normalized = $1"
        ))
        .bind(normalize_email(email))
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.as_ref().map(customer_from_row))
    }

    async fn customers(&self, query: CustomerQuery) -> Result<Page<Customer>> {
        // Only whitelisted column names are interpolated; every value is bound.
        let mut conditions = Vec::new();
        let mut values: Vec<String> = Vec::new();
        for f in &query.filters {
            values.push(if f.like { f.like_pattern() } else { f.value.clone() });
            let op = if f.like { "ILIKE" } else { "=" };
            let escape = if f.like { " ESCAPE '\\'" } else { "" };
            conditions.push(format!("{} {op} ${}{escape}", column(f.field), values.len()));
        }
        if let Some(id) = query.only {
            values.push(id.to_string());
            conditions.push(format!("id = ${}::uuid", values.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let n = values.len();
        let sql = format!(
            concat!(
                "SELECT ",
                customer_columns!(),
                ", count(*) OVER () AS total FROM customers{} ORDER BY created_at, id LIMIT ${} OFFSET ${}"
            ),
            filter,
            n + 1,
            n + 2
        );
        let mut select = sqlx::query(AssertSqlSafe(sql));
        for v in &values {
            select = select.bind(v);
        }
        let rows = select
            .bind(query.page.limit as i64)
            .bind(query.page.offset as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(sql_error)?;
        let total = match rows.first() {
            Some(row) => row.get::<i64, _>("total") as u64,
            // An offset past the end returns no rows, so count separately.
            None => {
                let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!(
                    "SELECT count(*) FROM customers{filter}"
                )));
                for v in &values {
                    count = count.bind(v);
                }
                count.fetch_one(&self.pool).await.map_err(sql_error)? as u64
            }
        };
        Ok(Page {
            items: rows.iter().map(customer_from_row).collect(),
            total,
        })
    }

    async fn update_customer(
        &self,
        id: Uuid,
        patch: CustomerPatch,
        now: Millis,
        emit: Option<Emit<Customer>>,
    ) -> Result<Option<Customer>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let normalized = patch.email.as_deref().map(normalize_email);
        let (set_ref, external_ref) = match patch.external_ref {
            Some(value) => (true, value),
            None => (false, None),
        };
        let row = sqlx::query(concat!(
            "UPDATE customers SET
               name = COALESCE($2, name),
               email = COALESCE($3, email),
               email_normalized = COALESCE($4, email_normalized),
               password_hash = COALESCE($5, password_hash),
               external_ref = CASE WHEN $6 THEN $7 ELSE external_ref END,
               updated_at = $8
             WHERE id = $1 RETURNING ",
            customer_columns!()
        ))
        .bind(id)
        .bind(patch.name)
        .bind(patch.email)
        .bind(normalized)
        .bind(patch.password_hash)
        .bind(set_ref)
        .bind(external_ref)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(email_conflict)?;
        let updated = row.as_ref().map(customer_from_row);
        if let (Some(customer), Some(emit)) = (&updated, emit) {
            crate::outbox::write(&mut tx, &emit(customer)).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(updated)
    }

    async fn delete_customer(&self, id: Uuid, events: Vec<Event>) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let done = sqlx::query("DELETE FROM customers WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        let deleted = done.rows_affected() == 1;
        if deleted {
            crate::outbox::write(&mut tx, &events).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(deleted)
    }
}
