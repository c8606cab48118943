use async_trait::async_trait;
use kassa_core::inventory::{
    MAX_TOTAL, Stock, StockAction, StockLevels, StockRefusal, StockTransaction, normalize_items,
};
use kassa_core::query::{Page, PageRequest};
use kassa_core::store::InventoryStore;
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::{PgStore, sql_error, unique_violation};

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

/// The stock records of these products, by product id; products without one are absent.
pub(crate) async fn stock_of<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Postgres>,
    product_ids: &[Uuid],
) -> Result<Vec<Stock>> {
    if product_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(concat!(
        "SELECT ",
        stock_columns!(),
        " FROM inventories WHERE product_id = ANY($1) ORDER BY product_id"
    ))
    .bind(product_ids)
    .fetch_all(db)
    .await
    .map_err(sql_error)?;
    Ok(rows.iter().map(stock_from_row).collect())
}

fn stock_from_row(row: &PgRow) -> Stock {
    Stock {
        product_id: row.get(0),
        levels: StockLevels {
            available: row.get(1),
            allocated: row.get(2),
        },
        created_at: row.get(3),
        updated_at: row.get(4),
    }
}

fn transaction_from_row(row: &PgRow) -> StockTransaction {
    StockTransaction {
        id: row.get(0),
        product_id: row.get(1),
        // The column's CHECK admits only the four names.
        action: StockAction::parse(row.get::<&str, _>(2)).unwrap_or(StockAction::Increment),
        quantity: row.get(3),
        created_at: row.get(4),
    }
}

fn no_stock(product_id: Uuid) -> Error {
    Error::not_found("Not Found", format!("No stock found for product {product_id}"))
}

/// Moves the stock in one conditional UPDATE (the row lock serializes concurrent changes to one
/// product; the WHERE re-checks the levels after the lock) and records the transaction. `None`
/// if the product has no stock record; a refusal if a level would go negative (nothing written).
pub(crate) async fn apply(
    conn: &mut PgConnection,
    transaction: &StockTransaction,
) -> Result<Option<std::result::Result<Stock, StockRefusal>>> {
    let (da, dl) = transaction.action.delta(transaction.quantity);
    // The move and its history entry are one statement (the entry is written only if the
    // guarded update matched): a statement fewer per product, which PostgreSQL's CPU is bound by.
    let updated = sqlx::query(concat!(
        "WITH moved AS (
           UPDATE inventories SET available = available + $2, allocated = allocated + $3, updated_at = $4
           WHERE product_id = $1 AND available + $2 >= 0 AND allocated + $3 >= 0
             AND available + allocated + $2 + $3 <= $5
           RETURNING ",
        stock_columns!(),
        "),
         logged AS (
           INSERT INTO stock_transactions (",
        transaction_columns!(),
        ") SELECT $6, product_id, $7, $8, $4 FROM moved)
         SELECT ",
        stock_columns!(),
        " FROM moved"
    ))
    .bind(transaction.product_id)
    .bind(da)
    .bind(dl)
    .bind(transaction.created_at)
    .bind(MAX_TOTAL)
    .bind(transaction.id)
    .bind(transaction.action.as_str())
    .bind(transaction.quantity)
    .fetch_optional(&mut *conn)
    .await
    .map_err(sql_error)?;
    if let Some(row) = updated {
        return Ok(Some(Ok(stock_from_row(&row))));
    }
    // Refused or missing: read only to say which; nothing is written on this path.
    let current = sqlx::query(concat!(
        "SELECT ",
        stock_columns!(),
        " FROM inventories WHERE product_id = $1"
    ))
    .bind(transaction.product_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(sql_error)?;
    Ok(current.map(|row| {
        Err(StockRefusal {
            product_id: transaction.product_id,
            action: transaction.action,
            requested: transaction.quantity,
            levels: stock_from_row(&row).levels,
        })
    }))
}

/// Applies `moves` (one per product, sorted by product id) in one statement, as [`apply`] does
/// for one: the rows are locked in product order first (two orders sharing products cannot
/// deadlock), then every move whose levels allow it is written with its history entry. Answers
/// with the refusals, in product order; a product without a stock record is skipped.
pub(crate) async fn apply_all(
    conn: &mut PgConnection,
    moves: &[StockTransaction],
) -> Result<Vec<StockRefusal>> {
    let deltas: Vec<(i64, i64)> = moves.iter().map(|t| t.action.delta(t.quantity)).collect();
    let refused: Vec<Uuid> = sqlx::query_scalar(concat!(
        "WITH wanted AS (
           SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::int8[], $4::uuid[], $5::text[], $6::int8[])
             AS w(product_id, da, dl, id, action, quantity)),
         locked AS MATERIALIZED (
           SELECT product_id FROM inventories WHERE product_id = ANY($1) ORDER BY product_id FOR UPDATE),
         moved AS (
           UPDATE inventories i SET available = i.available + w.da, allocated = i.allocated + w.dl, updated_at = $7
           FROM wanted w
           WHERE i.product_id = w.product_id AND i.product_id IN (SELECT product_id FROM locked)
             AND i.available + w.da >= 0 AND i.allocated + w.dl >= 0
             AND i.available + i.allocated + w.da + w.dl <= $8
           RETURNING w.*),
         logged AS (
           INSERT INTO stock_transactions (",
        transaction_columns!(),
        ") SELECT id, product_id, action, quantity, $7 FROM moved)
         SELECT product_id FROM locked WHERE product_id NOT IN (SELECT product_id FROM moved) ORDER BY product_id"
    ))
    .bind(moves.iter().map(|t| t.product_id).collect::<Vec<_>>())
    .bind(deltas.iter().map(|d| d.0).collect::<Vec<_>>())
    .bind(deltas.iter().map(|d| d.1).collect::<Vec<_>>())
    .bind(moves.iter().map(|t| t.id).collect::<Vec<_>>())
    .bind(moves.iter().map(|t| t.action.as_str()).collect::<Vec<_>>())
    .bind(moves.iter().map(|t| t.quantity).collect::<Vec<_>>())
    .bind(moves.first().map_or(0, |t| t.created_at))
    .bind(MAX_TOTAL)
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_error)?;
    if refused.is_empty() {
        return Ok(Vec::new());
    }
    // Refused: read only to say why; nothing was written for these products.
    let levels = stock_of(&mut *conn, &refused).await?;
    Ok(moves
        .iter()
        .filter_map(|t| {
            let stock = levels.iter().find(|s| s.product_id == t.product_id)?;
            Some(StockRefusal {
                product_id: t.product_id,
                action: t.action,
                requested: t.quantity,
                levels: stock.levels,
            })
        })
        .collect())
}

#[async_trait]
impl InventoryStore for PgStore {
    async fn create_stock(&self, stock: Stock) -> Result<Stock> {
        sqlx::query(concat!(
            "INSERT INTO inventories (",
            stock_columns!(),
            ") VALUES ($1, $2, $3, $4, $5)"
        ))
        .bind(stock.product_id)
        .bind(stock.levels.available)
        .bind(stock.levels.allocated)
        .bind(stock.created_at)
        .bind(stock.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| match unique_violation(&e) {
            Some(_) => Error::Conflict("Stock already exists for this product".into()),
            None => sql_error(e),
        })?;
        Ok(stock)
    }

    async fn stock(&self, product_id: Uuid) -> Result<Option<Stock>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            stock_columns!(),
            " FROM inventories WHERE product_id = $1"
        ))
        .bind(product_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.as_ref().map(stock_from_row))
    }

    async fn stocks(&self, page: PageRequest) -> Result<Page<Stock>> {
        crate::sql::page_of(
            &self.pool,
            stock_columns!(),
            |qb| {
                qb.push("FROM inventories WHERE TRUE");
            },
            "created_at, product_id",
            page,
            stock_from_row,
        )
        .await
    }

    async fn stock_levels(&self, product_ids: &[Uuid]) -> Result<Vec<Stock>> {
        stock_of(&self.pool, product_ids).await
    }

    async fn delete_stock(&self, product_id: Uuid) -> Result<bool> {
        // The transactions go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM inventories WHERE product_id = $1")
            .bind(product_id)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_stock_transaction(&self, transaction: StockTransaction) -> Result<Stock> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        match apply(&mut tx, &transaction).await? {
            Some(Ok(stock)) => {
                tx.commit().await.map_err(sql_error)?;
                Ok(stock)
            }
            Some(Err(refusal)) => Err(refusal.into()),
            None => Err(no_stock(transaction.product_id)),
        }
    }

    async fn stock_transaction(&self, product_id: Uuid, id: Uuid) -> Result<Option<StockTransaction>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            transaction_columns!(),
            " FROM stock_transactions WHERE product_id = $1 AND id = $2"
        ))
        .bind(product_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.as_ref().map(transaction_from_row))
    }

    async fn stock_transactions(
        &self,
        product_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<StockTransaction>> {
        crate::sql::page_of(
            &self.pool,
            transaction_columns!(),
            |qb| {
                qb.push("FROM stock_transactions WHERE product_id = ");
                qb.push_bind(product_id);
            },
            "created_at DESC, id DESC",
            page,
            transaction_from_row,
        )
        .await
    }

    async fn adjust_stock(
        &self,
        action: StockAction,
        items: &[(Uuid, i64)],
        now: Millis,
    ) -> Result<std::result::Result<(), StockRefusal>> {
        // Sorted by product id: concurrent multi-product changes lock rows in the same order.
        let items = normalize_items(items)?;
        if items.is_empty() {
            return Ok(Ok(()));
        }
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        for (product_id, quantity) in items {
            let transaction = StockTransaction {
                id: Uuid::now_v7(),
                product_id,
                action,
                quantity,
                created_at: now,
            };
            if let Some(Err(refusal)) = apply(&mut tx, &transaction).await? {
                // Dropping the transaction rolls back the products already moved.
                return Ok(Err(refusal));
            }
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(Ok(()))
    }
}
