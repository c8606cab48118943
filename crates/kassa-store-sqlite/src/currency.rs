use async_trait::async_trait;
use kassa_core::conflicts;
use kassa_core::integrations::{Emit, Event};
use kassa_core::money::{Currency, MAX_CURRENCIES, MoneyFormat, check_default_kept};
use kassa_core::query::{Page, PageRequest};
use kassa_core::store::{CurrencyStore, Edit};
use kassa_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::auth::parse_uuid;
use crate::db::{DbResult, conflict_on};
use crate::list::Where;

const COLUMNS: &str = "id, code, exchange_rate, format, decimal_point, thousand_separator, decimal_places, \
    is_default, enabled, created_at, updated_at";

fn currency_from_row(row: &Row<'_>) -> rusqlite::Result<Currency> {
    Ok(Currency {
        id: parse_uuid(row.get_ref(0)?.as_str()?),
        code: row.get(1)?,
        exchange_rate: row.get(2)?,
        money: MoneyFormat {
            format: row.get(3)?,
            decimal_point: row.get(4)?,
            thousand_separator: row.get(5)?,
            decimal_places: row.get(6)?,
        },
        default: row.get(7)?,
        enabled: row.get(8)?,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
    })
}

fn get(conn: &Connection, id: Uuid) -> DbResult<Option<Currency>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM currencies WHERE id = ?1"))?
        .query_row([id.to_string()], currency_from_row)
        .optional()?)
}

/// Writes `c`; if it is the default, the previous default stops being one first.
fn save(conn: &Connection, c: &Currency, insert: bool) -> DbResult<()> {
    if c.default {
        conn.prepare_cached("UPDATE currencies SET is_default = 0 WHERE is_default = 1 AND id <> ?1")?
            .execute([c.id.to_string()])?;
    }
    let sql = if insert {
        "INSERT INTO currencies (id, code, exchange_rate, format, decimal_point, thousand_separator,
             decimal_places, is_default, enabled, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    } else {
        "UPDATE currencies SET code = ?2, exchange_rate = ?3, format = ?4, decimal_point = ?5,
             thousand_separator = ?6, decimal_places = ?7, is_default = ?8, enabled = ?9,
             created_at = ?10, updated_at = ?11
         WHERE id = ?1"
    };
    conn.prepare_cached(sql)?
        .execute(params![
            c.id.to_string(),
            c.code,
            c.exchange_rate,
            c.money.format,
            c.money.decimal_point,
            c.money.thousand_separator,
            c.money.decimal_places,
            c.default,
            c.enabled,
            c.created_at,
            c.updated_at
        ])
        .map_err(|e| conflict_on(e, conflicts::CURRENCY))?;
    Ok(())
}

#[async_trait]
impl CurrencyStore for SqliteStore {
    async fn create_currency(&self, currency: Currency, emit: Option<Emit<Currency>>) -> Result<Currency> {
        self.db
            .write(move |conn| {
                let count: i64 = conn
                    .prepare_cached("SELECT count(*) FROM currencies")?
                    .query_row([], |r| r.get(0))?;
                if count as u64 >= MAX_CURRENCIES {
                    return Err(Error::bad_request(
                        "Currency limit reached",
                        format!("A store can have at most {MAX_CURRENCIES} currencies"),
                    )
                    .into());
                }
                save(conn, &currency, true)?;
                if let Some(emit) = emit {
                    crate::outbox::write(conn, &emit(&currency))?;
                }
                Ok(currency)
            })
            .await
    }

    async fn currency(&self, id: Uuid) -> Result<Option<Currency>> {
        self.db.read(move |conn| get(conn, id)).await
    }

    async fn currencies(&self, page: PageRequest) -> Result<Page<Currency>> {
        self.db
            .read(move |conn| {
                Where::default().page(
                    conn,
                    COLUMNS,
                    "currencies",
                    "created_at, id",
                    page,
                    currency_from_row,
                )
            })
            .await
    }

    async fn update_currency(
        &self,
        id: Uuid,
        edit: Edit<Currency>,
        emit: Option<Emit<Currency>>,
    ) -> Result<Option<Currency>> {
        self.db
            .write(move |conn| {
                let Some(mut currency) = get(conn, id)? else {
                    return Ok(None);
                };
                let before = currency.clone();
                edit(&mut currency)?;
                check_default_kept(&before, &currency)?;
                save(conn, &currency, false)?;
                if let Some(emit) = emit {
                    crate::outbox::write(conn, &emit(&currency))?;
                }
                Ok(Some(currency))
            })
            .await
    }

    async fn delete_currency(&self, id: Uuid, events: Vec<Event>) -> Result<bool> {
        self.db
            .write(move |conn| {
                match get(conn, id)? {
                    None => return Ok(false),
                    Some(c) if c.default => {
                        return Err(Error::Conflict(
                            "The default currency cannot be deleted; make another currency the default first"
                                .into(),
                        )
                        .into());
                    }
                    Some(_) => {}
                }
                conn.prepare_cached("DELETE FROM currencies WHERE id = ?1")?
                    .execute([id.to_string()])?;
                crate::outbox::write(conn, &events)?;
                Ok(true)
            })
            .await
    }
}
