use async_trait::async_trait;
use kassa_core::conflicts;
use kassa_core::integrations::{Emit, Event};
use kassa_core::money::{Currency, MAX_CURRENCIES, MoneyFormat, check_default_kept};
use kassa_core::query::{Page, PageRequest};
use kassa_core::store::{CurrencyStore, Edit};
use kassa_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use crate::list::Where;
use crate::{PgStore, conflict_on, sql_error};

const COLUMNS: &str = "id, code, exchange_rate, format, decimal_point, thousand_separator, decimal_places, \
    is_default, enabled, created_at, updated_at";

fn currency_from_row(row: &PgRow) -> Currency {
    Currency {
        id: row.get(0),
        code: row.get(1),
        exchange_rate: row.get(2),
        money: MoneyFormat {
            format: row.get(3),
            decimal_point: row.get(4),
            thousand_separator: row.get(5),
            decimal_places: u32::try_from(row.get::<i64, _>(6)).unwrap_or_default(),
        },
        default: row.get(7),
        enabled: row.get(8),
        created_at: row.get(9),
        updated_at: row.get(10),
    }
}

/// Serializes every change to the set of currencies (the count limit and the one default).
async fn lock_currencies(tx: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('kassa.currencies'))")
        .execute(tx)
        .await
        .map_err(sql_error)?;
    Ok(())
}

async fn get(db: &mut PgConnection, id: Uuid) -> Result<Option<Currency>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM currencies WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
    .map_err(sql_error)?;
    Ok(row.as_ref().map(currency_from_row))
}

/// Writes `c`; if it is the default, the previous default stops being one first.
async fn save(db: &mut PgConnection, c: &Currency, insert: bool) -> Result<()> {
    if c.default {
        sqlx::query("UPDATE currencies SET is_default = FALSE WHERE is_default AND id <> $1")
            .bind(c.id)
            .execute(&mut *db)
            .await
            .map_err(sql_error)?;
    }
    let sql = if insert {
        "INSERT INTO currencies (id, code, exchange_rate, format, decimal_point, thousand_separator,
             decimal_places, is_default, enabled, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    } else {
        "UPDATE currencies SET code = $2, exchange_rate = $3, format = $4, decimal_point = $5,
             thousand_separator = $6, decimal_places = $7, is_default = $8, enabled = $9,
             created_at = $10, updated_at = $11
         WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(c.id)
        .bind(&c.code)
        .bind(c.exchange_rate)
        .bind(&c.money.format)
        .bind(&c.money.decimal_point)
        .bind(&c.money.thousand_separator)
        .bind(i64::from(c.money.decimal_places))
        .bind(c.default)
        .bind(c.enabled)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(db)
        .await
        .map_err(|e| conflict_on(e, conflicts::CURRENCY))?;
    Ok(())
}

#[async_trait]
impl CurrencyStore for PgStore {
    async fn create_currency(&self, currency: Currency, emit: Option<Emit<Currency>>) -> Result<Currency> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        lock_currencies(&mut tx).await?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM currencies")
            .fetch_one(&mut *tx)
            .await
            .map_err(sql_error)?;
        if count as u64 >= MAX_CURRENCIES {
            return Err(Error::bad_request(
                "Currency limit reached",
                format!("A store can have at most {MAX_CURRENCIES} currencies"),
            ));
        }
        save(&mut tx, &currency, true).await?;
        if let Some(emit) = emit {
            crate::outbox::write(&mut tx, &emit(&currency)).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(currency)
    }

    async fn currency(&self, id: Uuid) -> Result<Option<Currency>> {
        let mut conn = self.pool.acquire().await.map_err(sql_error)?;
        get(&mut conn, id).await
    }

    async fn currencies(&self, page: PageRequest) -> Result<Page<Currency>> {
        Where::default()
            .page(
                &self.pool,
                COLUMNS,
                "currencies",
                "created_at, id",
                page,
                currency_from_row,
            )
            .await
    }

    async fn update_currency(
        &self,
        id: Uuid,
        edit: Edit<Currency>,
        emit: Option<Emit<Currency>>,
    ) -> Result<Option<Currency>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        lock_currencies(&mut tx).await?;
        let Some(mut currency) = get(&mut tx, id).await? else {
            return Ok(None);
        };
        let before = currency.clone();
        edit(&mut currency)?;
        check_default_kept(&before, &currency)?;
        save(&mut tx, &currency, false).await?;
        if let Some(emit) = emit {
            crate::outbox::write(&mut tx, &emit(&currency)).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(Some(currency))
    }

    async fn delete_currency(&self, id: Uuid, events: Vec<Event>) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        lock_currencies(&mut tx).await?;
        match get(&mut tx, id).await? {
            None => return Ok(false),
            Some(c) if c.default => {
                return Err(Error::Conflict(
                    "The default currency cannot be deleted; make another currency the default first".into(),
                ));
            }
            Some(_) => {}
        }
        sqlx::query("DELETE FROM currencies WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        crate::outbox::write(&mut tx, &events).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(true)
    }
}
