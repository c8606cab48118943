use async_trait::async_trait;
use kassa_core::inventory::{
    MAX_TOTAL, Stock, StockAction, StockLevels, StockRefusal, StockTransaction, normalize_items,
};
use kassa_core::query::{Page, PageRequest};
use kassa_core::store::InventoryStore;
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::auth::parse_uuid;
use crate::db::{DbResult, unique_violation};

macro_rules! stock_columns {
    () => {
        "product_id, available, allocated, created_at, updated_at"
    };
}

macro_rules! transaction_columns {
    () => {
        "id, product_id, action, quantity, created_at"
    };
}

/// The stock records of these products, by product id; products without one are absent. One
/// cached statement whatever the count: the ids go in as one JSON array.
pub(crate) fn stock_of(conn: &Connection, product_ids: &[Uuid]) -> DbResult<Vec<Stock>> {
    if product_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::to_string(product_ids).map_err(Error::internal)?;
    Ok(conn
        .prepare_cached(concat!(
            "SELECT ",
            stock_columns!(),
            " FROM inventories WHERE product_id IN (SELECT value FROM json_each(?1)) ORDER BY product_id"
        ))?
        .query_map([ids], stock_from_row)?
        .collect::<rusqlite::Result<_>>()?)
}

fn stock_from_row(row: &Row<'_>) -> rusqlite::Result<Stock> {
    Ok(Stock {
        product_id: parse_uuid(row.get_ref(0)?.as_str()?),
        levels: StockLevels {
            available: row.get(1)?,
            allocated: row.get(2)?,
        },
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
    })
}

fn transaction_from_row(row: &Row<'_>) -> rusqlite::Result<StockTransaction> {
    let action = row.get_ref(2)?.as_str()?;
    Ok(StockTransaction {
        id: parse_uuid(row.get_ref(0)?.as_str()?),
        product_id: parse_uuid(row.get_ref(1)?.as_str()?),
        // The column's CHECK admits only the four names.
        action: StockAction::parse(action).unwrap_or(StockAction::Increment),
        quantity: row.get(3)?,
        created_at: row.get(4)?,
    })
}

fn duplicate_stock(e: rusqlite::Error) -> crate::db::DbError {
    match unique_violation(&e) {
        Some(_) => Error::Conflict("Stock already exists for this product".into()).into(),
        None => e.into(),
    }
}

/// Moves the stock in one conditional UPDATE and records the transaction. `None` if the product
/// has no stock record; a refusal if a level would go negative (then nothing was written).
pub(crate) fn apply(
    conn: &Connection,
    transaction: &StockTransaction,
) -> DbResult<Option<std::result::Result<Stock, StockRefusal>>> {
    let (da, dl) = transaction.action.delta(transaction.quantity);
    let id = transaction.product_id.to_string();
    let updated = conn
        .prepare_cached(concat!(
            "UPDATE inventories SET available = available + ?2, allocated = allocated + ?3, updated_at = ?4
             WHERE product_id = ?1 AND available + ?2 >= 0 AND allocated + ?3 >= 0
               AND available + allocated + ?2 + ?3 <= ?5
             RETURNING ",
            stock_columns!()
        ))?
        .query_row(
            params![id, da, dl, transaction.created_at, MAX_TOTAL],
            stock_from_row,
        )
        .optional()?;
    if let Some(stock) = updated {
        conn.prepare_cached(concat!(
            "INSERT INTO stock_transactions (",
            transaction_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5)"
        ))?
        .execute(params![
            transaction.id.to_string(),
            id,
            transaction.action.as_str(),
            transaction.quantity,
            transaction.created_at
        ])?;
        return Ok(Some(Ok(stock)));
    }
    // Refused or missing: read only to say which; nothing is written on this path.
    let current = conn
        .prepare_cached(concat!(
            "SELECT ",
            stock_columns!(),
            " FROM inventories WHERE product_id = ?1"
        ))?
        .query_row([id], stock_from_row)
        .optional()?;
    Ok(current.map(|stock| {
        Err(StockRefusal {
            product_id: transaction.product_id,
            action: transaction.action,
            requested: transaction.quantity,
            levels: stock.levels,
        })
    }))
}

pub(crate) fn no_stock(product_id: Uuid) -> Error {
    Error::not_found("Not Found", format!("No stock found for product {product_id}"))
}

#[async_trait]
impl InventoryStore for SqliteStore {
    async fn create_stock(&self, stock: Stock) -> Result<Stock> {
        self.db
            .write(move |conn| {
                conn.prepare_cached(concat!(
                    "INSERT INTO inventories (",
                    stock_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5)"
                ))?
                .execute(params![
                    stock.product_id.to_string(),
                    stock.levels.available,
                    stock.levels.allocated,
                    stock.created_at,
                    stock.updated_at
                ])
                .map_err(duplicate_stock)?;
                Ok(stock)
            })
            .await
    }

    async fn stock(&self, product_id: Uuid) -> Result<Option<Stock>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        stock_columns!(),
                        " FROM inventories WHERE product_id = ?1"
                    ))?
                    .query_row([product_id.to_string()], stock_from_row)
                    .optional()?)
            })
            .await
    }

    async fn stocks(&self, page: PageRequest) -> Result<Page<Stock>> {
        self.db
            .read(move |conn| {
                let total: i64 = conn
                    .prepare_cached("SELECT count(*) FROM inventories")?
                    .query_row([], |r| r.get(0))?;
                let items = conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        stock_columns!(),
                        " FROM inventories ORDER BY created_at, product_id LIMIT ?1 OFFSET ?2"
                    ))?
                    .query_map(params![page.limit as i64, page.offset as i64], stock_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(Page {
                    items,
                    total: total as u64,
                })
            })
            .await
    }

    async fn stock_levels(&self, product_ids: &[Uuid]) -> Result<Vec<Stock>> {
        if product_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = product_ids.to_vec();
        self.db.read(move |conn| stock_of(conn, &ids)).await
    }

    async fn delete_stock(&self, product_id: Uuid) -> Result<bool> {
        self.db
            .write(move |conn| {
                // The transactions go with it (ON DELETE CASCADE).
                let changed = conn
                    .prepare_cached("DELETE FROM inventories WHERE product_id = ?1")?
                    .execute([product_id.to_string()])?;
                Ok(changed == 1)
            })
            .await
    }

    async fn create_stock_transaction(&self, transaction: StockTransaction) -> Result<Stock> {
        self.db
            .write(move |conn| match apply(conn, &transaction)? {
                Some(Ok(stock)) => Ok(stock),
                Some(Err(refusal)) => Err(Error::from(refusal).into()),
                None => Err(no_stock(transaction.product_id).into()),
            })
            .await
    }

    async fn stock_transaction(&self, product_id: Uuid, id: Uuid) -> Result<Option<StockTransaction>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        transaction_columns!(),
                        " FROM stock_transactions WHERE product_id = ?1 AND id = ?2"
                    ))?
                    .query_row([product_id.to_string(), id.to_string()], transaction_from_row)
                    .optional()?)
            })
            .await
    }

    async fn stock_transactions(
        &self,
        product_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<StockTransaction>> {
        self.db
            .read(move |conn| {
                let id = product_id.to_string();
                let total: i64 = conn
                    .prepare_cached("SELECT count(*) FROM stock_transactions WHERE product_id = ?1")?
                    .query_row([&id], |r| r.get(0))?;
                let items = conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        transaction_columns!(),
                        " FROM stock_transactions WHERE product_id = ?1
                          ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
                    ))?
                    .query_map(
                        params![id, page.limit as i64, page.offset as i64],
                        transaction_from_row,
                    )?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(Page {
                    items,
                    total: total as u64,
                })
            })
            .await
    }

    async fn adjust_stock(
        &self,
        action: StockAction,
        items: &[(Uuid, i64)],
        now: Millis,
    ) -> Result<std::result::Result<(), StockRefusal>> {
        let items = normalize_items(items)?;
        if items.is_empty() {
            return Ok(Ok(()));
        }
        self.db
            .write(move |conn| {
                // A savepoint of its own, so a refusal undoes the products already moved while
                // the use-case still reports success (with the refusal) to the writer.
                conn.execute_batch("SAVEPOINT adjust_stock")?;
                let mut outcome: DbResult<std::result::Result<(), StockRefusal>> = Ok(Ok(()));
                for (product_id, quantity) in items {
                    let transaction = StockTransaction {
                        id: Uuid::now_v7(),
                        product_id,
                        action,
                        quantity,
                        created_at: now,
                    };
                    match apply(conn, &transaction) {
                        Ok(None | Some(Ok(_))) => {}
                        Ok(Some(Err(refusal))) => {
                            outcome = Ok(Err(refusal));
                            break;
                        }
                        Err(e) => {
                            outcome = Err(e);
                            break;
                        }
                    }
                }
                let end = if matches!(outcome, Ok(Ok(()))) {
                    "RELEASE adjust_stock"
                } else {
                    "ROLLBACK TO adjust_stock; RELEASE adjust_stock"
                };
                conn.execute_batch(end)?;
                outcome
            })
            .await
    }
}
