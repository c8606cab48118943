//! Stock records, their positions at locations, the locations and the stock history.
//!
//! Lock order, which every writer of stock keeps so that none can deadlock another: a location
//! row (`FOR KEY SHARE` by the writers that name a location, `FOR UPDATE` by its delete), then
//! the `inventories` rows of the products concerned in product order (`FOR UPDATE`), then their
//! positions. Payments and the other order changes start at the second step (they name
//! locations by id and never wait on a location row).

use async_trait::async_trait;
use kassa_core::carts::CartStock;
use kassa_core::conflicts;
use kassa_core::integrations::Event;
use kassa_core::inventory::{
    Geolocation, Location, MAX_TOTAL, Position, Stock, StockAction, StockLevels, StockRefusal,
    StockTransaction, normalize_items,
};
use kassa_core::query::{Page, PageRequest};
use kassa_core::store::{Edit, InventoryStore};
use kassa_core::time::Millis;
use kassa_core::{Error, FieldError, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::{PgStore, conflict_on, foreign_key_violation, sql_error, unique_violation};

/// A stock record with all its positions, from `inventories i`: the positions come as one JSON
/// array `[[location_id, slug, available, allocated, updated_at], …]` in slug order.
macro_rules! stock_columns {
    () => {
        "i.product_id, i.available, i.allocated, i.created_at, i.updated_at, \
         (SELECT json_agg(json_build_array(p.location_id, l.slug, p.available, p.allocated, p.updated_at) \
            ORDER BY l.slug)::text \
          FROM stock_positions p JOIN inventory_locations l ON l.id = p.location_id \
          WHERE p.product_id = i.product_id)"
    };
}

macro_rules! transaction_columns {
    () => {
        "id, product_id, action, quantity, created_at, location"
    };
}

macro_rules! location_columns {
    () => {
        "id, name, slug, external_ref, description, address::text, latitude, longitude, created_at, updated_at"
    };
}

type PositionRow = (Uuid, String, i64, i64, Millis);

/// The positions of [`stock_columns`]'s JSON array, attached to `stock`.
fn attach(stock: &mut Stock, json: Option<&str>) -> Result<()> {
    let Some(json) = json else {
        return Ok(());
    };
    let rows: Vec<PositionRow> = serde_json::from_str(json).map_err(Error::internal)?;
    for (location_id, slug, available, allocated, updated_at) in rows {
        stock.updated_at = stock.updated_at.max(updated_at);
        stock.locations.push(Position {
            location_id,
            slug,
            levels: StockLevels { available, allocated },
        });
    }
    Ok(())
}

fn stock_from_row(row: &PgRow) -> Result<Stock> {
    let mut stock = Stock {
        product_id: row.get(0),
        levels: StockLevels {
            available: row.get(1),
            allocated: row.get(2),
        },
        locations: Vec::new(),
        created_at: row.get(3),
        updated_at: row.get(4),
    };
    attach(&mut stock, row.get::<Option<&str>, _>(5))?;
    Ok(stock)
}

/// The stock records of these products with all their positions, by product id; products
/// without one are absent.
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
        " FROM inventories i WHERE i.product_id = ANY($1) ORDER BY i.product_id"
    ))
    .bind(product_ids)
    .fetch_all(db)
    .await
    .map_err(sql_error)?;
    rows.iter().map(stock_from_row).collect()
}

/// [`CartStock`] from the cart read's JSON columns: `records` an array of
/// `[product_id, available, allocated, created_at, updated_at]`, `located` one of
/// `[slug, location_id, product_id | null, available, allocated, updated_at]` (a location asked
/// for, with a product's position there, or with nulls when no asked product is stocked there).
pub(crate) fn cart_stock(records: Option<&str>, located: Option<&str>) -> Result<CartStock> {
    type Record = (Uuid, i64, i64, Millis, Millis);
    type Located = (
        String,
        Uuid,
        Option<Uuid>,
        Option<i64>,
        Option<i64>,
        Option<Millis>,
    );
    let mut stock: Vec<Stock> = match records {
        Some(json) => serde_json::from_str::<Vec<Record>>(json)
            .map_err(Error::internal)?
            .into_iter()
            .map(
                |(product_id, available, allocated, created_at, updated_at)| Stock {
                    product_id,
                    levels: StockLevels { available, allocated },
                    locations: Vec::new(),
                    created_at,
                    updated_at,
                },
            )
            .collect(),
        None => Vec::new(),
    };
    let mut locations: Vec<(String, Uuid)> = Vec::new();
    if let Some(json) = located {
        for (slug, location_id, product, available, allocated, updated_at) in
            serde_json::from_str::<Vec<Located>>(json).map_err(Error::internal)?
        {
            if !locations.iter().any(|(s, _)| *s == slug) {
                locations.push((slug.clone(), location_id));
            }
            let Some(record) = product.and_then(|p| stock.iter_mut().find(|s| s.product_id == p)) else {
                continue;
            };
            record.updated_at = record.updated_at.max(updated_at.unwrap_or_default());
            record.locations.push(Position {
                location_id,
                slug,
                levels: StockLevels {
                    available: available.unwrap_or_default(),
                    allocated: allocated.unwrap_or_default(),
                },
            });
        }
    }
    Ok(CartStock { stock, locations })
}

fn transaction_from_row(row: &PgRow) -> StockTransaction {
    StockTransaction {
        id: row.get(0),
        product_id: row.get(1),
        // The column's CHECK admits only the actions' names.
        action: StockAction::parse(row.get::<&str, _>(2)).unwrap_or(StockAction::Increment),
        quantity: row.get(3),
        created_at: row.get(4),
        location: row.get(5),
    }
}

fn location_from_row(row: &PgRow) -> Location {
    let address: Option<String> = row.get(5);
    let (lat, lon): (Option<f64>, Option<f64>) = (row.get(6), row.get(7));
    Location {
        id: row.get(0),
        name: row.get(1),
        slug: row.get(2),
        external_ref: row.get(3),
        description: row.get(4),
        address: address.and_then(|a| serde_json::from_str(&a).ok()),
        geolocation: lat.zip(lon).map(|(lat, lon)| Geolocation { lat, lon }),
        created_at: row.get(8),
        updated_at: row.get(9),
    }
}

fn no_stock(product_id: Uuid) -> Error {
    Error::not_found("Not Found", format!("No stock found for product {product_id}"))
}

fn unknown_location(source: String, slug: &str) -> FieldError {
    FieldError::new(
        source,
        "Location not found",
        format!("There is no stock location with the slug '{slug}'"),
    )
}

/// The ids of the locations with these slugs, `(slug, id)`, each locked against deletion
/// (`FOR KEY SHARE`) until the transaction ends; slugs without a location are absent.
async fn lock_locations(conn: &mut PgConnection, slugs: &[String]) -> Result<Vec<(String, Uuid)>> {
    let rows = sqlx::query("SELECT slug, id FROM inventory_locations WHERE slug = ANY($1) FOR KEY SHARE")
        .bind(slugs)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql_error)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// A position's levels (a position that does not exist holds nothing).
async fn position_levels(
    conn: &mut PgConnection,
    product_id: Uuid,
    location_id: Uuid,
) -> Result<StockLevels> {
    let row = sqlx::query(
        "SELECT available, allocated FROM stock_positions WHERE product_id = $1 AND location_id = $2",
    )
    .bind(product_id)
    .bind(location_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(sql_error)?;
    Ok(row.map_or(StockLevels::default(), |r| StockLevels {
        available: r.get(0),
        allocated: r.get(1),
    }))
}

/// Moves one position of a product's stock in one statement and records the transaction with
/// it: the position outside locations (`location` none; the row lock serializes concurrent
/// changes of one product, the WHERE re-checks the levels after the lock), or the one at the
/// location with this id, after locking the product's `inventories` row (an `increment` or
/// `set` creates the position; any other action on a position that does not exist is refused).
/// `None` if the product has no stock record; a refusal if a level would go negative (nothing
/// written).
pub(crate) async fn apply(
    conn: &mut PgConnection,
    t: &StockTransaction,
    location: Option<Uuid>,
) -> Result<Option<std::result::Result<(), StockRefusal>>> {
    let (da, dl) = t.action.delta(t.quantity);
    let Some(location_id) = location else {
        // The move and its history entry are one statement (the entry is written only if the
        // guarded update matched): a statement fewer per product, which PostgreSQL's CPU is
        // bound by.
        let moved = if t.action == StockAction::Set {
            sqlx::query(concat!(
                "WITH moved AS (
                   UPDATE inventories SET available = $2 - allocated, updated_at = $3
                   WHERE product_id = $1 AND $2 - allocated >= 0 RETURNING product_id),
                 logged AS (
                   INSERT INTO stock_transactions (",
                transaction_columns!(),
                ") SELECT $4, product_id, 'set', $2, $3, NULL FROM moved)
                 SELECT 1 FROM moved"
            ))
            .bind(t.product_id)
            .bind(t.quantity)
            .bind(t.created_at)
            .bind(t.id)
        } else {
            sqlx::query(concat!(
                "WITH moved AS (
                   UPDATE inventories SET available = available + $2, allocated = allocated + $3, updated_at = $4
                   WHERE product_id = $1 AND available + $2 >= 0 AND allocated + $3 >= 0
                     AND available + allocated + $2 + $3 <= $5
                   RETURNING product_id),
                 logged AS (
                   INSERT INTO stock_transactions (",
                transaction_columns!(),
                ") SELECT $6, product_id, $7, $8, $4, NULL FROM moved)
                 SELECT 1 FROM moved"
            ))
            .bind(t.product_id)
            .bind(da)
            .bind(dl)
            .bind(t.created_at)
            .bind(MAX_TOTAL)
            .bind(t.id)
            .bind(t.action.as_str())
            .bind(t.quantity)
        }
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql_error)?;
        if moved.is_some() {
            return Ok(Some(Ok(())));
        }
        // Refused or missing: read only to say which; nothing is written on this path.
        let current = sqlx::query("SELECT available, allocated FROM inventories WHERE product_id = $1")
            .bind(t.product_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(sql_error)?;
        return Ok(current.map(|row| {
            Err(StockRefusal {
                product_id: t.product_id,
                action: t.action,
                requested: t.quantity,
                location: None,
                levels: StockLevels {
                    available: row.get(0),
                    allocated: row.get(1),
                },
            })
        }));
    };
    // `product` locks the record first (every writer of a product's positions does); the
    // history entry names the location's slug as it is now.
    let row = match t.action {
        StockAction::Increment | StockAction::Set => {
            macro_rules! upsert {
                ($update:literal) => {
                    concat!(
                        "WITH product AS MATERIALIZED (
                           SELECT product_id FROM inventories WHERE product_id = $1 FOR UPDATE),
                         loc AS MATERIALIZED (SELECT id, slug FROM inventory_locations WHERE id = $2),
                         moved AS (
                           INSERT INTO stock_positions AS p
                             (product_id, location_id, available, allocated, created_at, updated_at)
                           SELECT product.product_id, loc.id, $3, 0, $4, $4 FROM product, loc
                           ON CONFLICT (product_id, location_id) DO UPDATE SET ",
                        $update,
                        " RETURNING p.product_id),
                         logged AS (
                           INSERT INTO stock_transactions (",
                        transaction_columns!(),
                        ") SELECT $5, product_id, $7, $3, $4, (SELECT slug FROM loc) FROM moved)
                         SELECT EXISTS (SELECT 1 FROM product), EXISTS (SELECT 1 FROM moved), (SELECT slug FROM loc)"
                    )
                };
            }
            let sql = if t.action == StockAction::Set {
                upsert!(
                    "available = EXCLUDED.available - p.allocated, updated_at = EXCLUDED.updated_at
                     WHERE EXCLUDED.available - p.allocated >= 0 AND EXCLUDED.available <= $6"
                )
            } else {
                upsert!(
                    "available = p.available + EXCLUDED.available, updated_at = EXCLUDED.updated_at
                     WHERE p.available + p.allocated + EXCLUDED.available <= $6"
                )
            };
            sqlx::query(sql)
                .bind(t.product_id)
                .bind(location_id)
                .bind(t.quantity)
                .bind(t.created_at)
                .bind(t.id)
                .bind(MAX_TOTAL)
                .bind(t.action.as_str())
                .fetch_one(&mut *conn)
                .await
        }
        _ => {
            sqlx::query(concat!(
                "WITH product AS MATERIALIZED (
                   SELECT product_id FROM inventories WHERE product_id = $1 FOR UPDATE),
                 moved AS (
                   UPDATE stock_positions p SET available = p.available + $3, allocated = p.allocated + $4,
                     updated_at = $5
                   FROM product
                   WHERE p.product_id = product.product_id AND p.location_id = $2
                     AND p.available + $3 >= 0 AND p.allocated + $4 >= 0
                     AND p.available + p.allocated + $3 + $4 <= $6
                   RETURNING p.product_id),
                 logged AS (
                   INSERT INTO stock_transactions (",
                transaction_columns!(),
                ") SELECT $7, product_id, $8, $9, $5, (SELECT slug FROM inventory_locations WHERE id = $2)
                   FROM moved)
                 SELECT EXISTS (SELECT 1 FROM product), EXISTS (SELECT 1 FROM moved),
                   (SELECT slug FROM inventory_locations WHERE id = $2)"
            ))
            .bind(t.product_id)
            .bind(location_id)
            .bind(da)
            .bind(dl)
            .bind(t.created_at)
            .bind(MAX_TOTAL)
            .bind(t.id)
            .bind(t.action.as_str())
            .bind(t.quantity)
            .fetch_one(&mut *conn)
            .await
        }
    }
    .map_err(sql_error)?;
    let (exists, moved, slug): (bool, bool, Option<String>) = (row.get(0), row.get(1), row.get(2));
    if !exists {
        return Ok(None);
    }
    if moved {
        return Ok(Some(Ok(())));
    }
    // Refused: read only to say why; nothing was written.
    let levels = position_levels(conn, t.product_id, location_id).await?;
    Ok(Some(Err(StockRefusal {
        product_id: t.product_id,
        action: t.action,
        requested: t.quantity,
        location: slug,
        levels,
    })))
}

/// One move of [`apply_all`]: a quantity of a product at a position (`location_id` none for the
/// one outside locations).
pub(crate) struct Move {
    pub(crate) product_id: Uuid,
    pub(crate) location_id: Option<Uuid>,
    pub(crate) action: StockAction,
    pub(crate) quantity: i64,
}

/// Applies `moves` (one per product and position, sorted by product id; never `set`) in one
/// statement, as [`apply`] does for one: the products' `inventories` rows are locked in product
/// order first (two orders sharing products cannot deadlock, and no other writer can be moving
/// their positions), then every move whose position's levels allow it is written with its
/// history entry: moves outside locations on `inventories`, the others on `stock_positions`.
/// Answers with the refusals, in product order; a product without a stock record is skipped.
pub(crate) async fn apply_all(
    conn: &mut PgConnection,
    moves: &[Move],
    now: Millis,
) -> Result<Vec<StockRefusal>> {
    let deltas: Vec<(i64, i64)> = moves.iter().map(|m| m.action.delta(m.quantity)).collect();
    let ids: Vec<Uuid> = moves.iter().map(|_| kassa_core::ids::new_id()).collect();
    let refused: Vec<(Uuid, Option<Uuid>)> = sqlx::query_as(concat!(
        "WITH wanted AS (
           SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::int8[], $5::uuid[], $6::text[], $7::int8[])
             AS w(product_id, location_id, da, dl, id, action, quantity)),
         locked AS MATERIALIZED (
           SELECT product_id FROM inventories WHERE product_id = ANY($1) ORDER BY product_id FOR UPDATE),
         moved AS (
           UPDATE inventories i SET available = i.available + w.da, allocated = i.allocated + w.dl, updated_at = $8
           FROM wanted w
           WHERE w.location_id IS NULL AND i.product_id = w.product_id
             AND i.product_id IN (SELECT product_id FROM locked)
             AND i.available + w.da >= 0 AND i.allocated + w.dl >= 0
             AND i.available + i.allocated + w.da + w.dl <= $9
           RETURNING w.*),
         moved_at AS (
           UPDATE stock_positions p SET available = p.available + w.da, allocated = p.allocated + w.dl, updated_at = $8
           FROM wanted w
           WHERE w.location_id IS NOT NULL AND p.product_id = w.product_id AND p.location_id = w.location_id
             AND p.product_id IN (SELECT product_id FROM locked)
             AND p.available + w.da >= 0 AND p.allocated + w.dl >= 0
             AND p.available + p.allocated + w.da + w.dl <= $9
           RETURNING w.*),
         logged AS (
           INSERT INTO stock_transactions (",
        transaction_columns!(),
        ") SELECT id, product_id, action, quantity, $8, NULL FROM moved
           UNION ALL
           SELECT m.id, m.product_id, m.action, m.quantity, $8, l.slug
           FROM moved_at m JOIN inventory_locations l ON l.id = m.location_id)
         SELECT w.product_id, w.location_id FROM wanted w
         WHERE w.product_id IN (SELECT product_id FROM locked)
           AND w.id NOT IN (SELECT id FROM moved) AND w.id NOT IN (SELECT id FROM moved_at)
         ORDER BY w.product_id, w.location_id"
    ))
    .bind(moves.iter().map(|m| m.product_id).collect::<Vec<_>>())
    .bind(moves.iter().map(|m| m.location_id).collect::<Vec<_>>())
    .bind(deltas.iter().map(|d| d.0).collect::<Vec<_>>())
    .bind(deltas.iter().map(|d| d.1).collect::<Vec<_>>())
    .bind(&ids)
    .bind(moves.iter().map(|m| m.action.as_str()).collect::<Vec<_>>())
    .bind(moves.iter().map(|m| m.quantity).collect::<Vec<_>>())
    .bind(now)
    .bind(MAX_TOTAL)
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_error)?;
    if refused.is_empty() {
        return Ok(Vec::new());
    }
    // Refused: read only to say why; nothing was written for these positions.
    let product_ids: Vec<Uuid> = refused.iter().map(|r| r.0).collect();
    let levels = stock_of(&mut *conn, &product_ids).await?;
    Ok(refused
        .iter()
        .filter_map(|&(product_id, location_id)| {
            let m = moves
                .iter()
                .find(|m| m.product_id == product_id && m.location_id == location_id)?;
            let stock = levels.iter().find(|s| s.product_id == product_id)?;
            let (location, levels) = match location_id {
                None => (None, stock.levels),
                Some(id) => match stock.locations.iter().find(|p| p.location_id == id) {
                    Some(p) => (Some(p.slug.clone()), p.levels),
                    None => (None, StockLevels::default()),
                },
            };
            Some(StockRefusal {
                product_id,
                action: m.action,
                requested: m.quantity,
                location,
                levels,
            })
        })
        .collect())
}

/// Row locks a location read can take.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LocationLock {
    None,
    /// For an edit: does not wait for the stock writers that hold it `FOR KEY SHARE`.
    Edit,
    /// For a delete.
    Delete,
}

async fn get_location(conn: &mut PgConnection, id: Uuid, lock: LocationLock) -> Result<Option<Location>> {
    macro_rules! select {
        ($suffix:literal) => {
            concat!(
                "SELECT ",
                location_columns!(),
                " FROM inventory_locations WHERE id = $1",
                $suffix
            )
        };
    }
    let sql = match lock {
        LocationLock::None => select!(""),
        LocationLock::Edit => select!(" FOR NO KEY UPDATE"),
        LocationLock::Delete => select!(" FOR UPDATE"),
    };
    let row = sqlx::query(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql_error)?;
    Ok(row.as_ref().map(location_from_row))
}

async fn save_location(conn: &mut PgConnection, l: &Location, create: bool) -> Result<()> {
    let address = l
        .address
        .as_ref()
        .map(|a| serde_json::to_string(a).map_err(Error::internal))
        .transpose()?;
    let sql = if create {
        "INSERT INTO inventory_locations (id, name, slug, external_ref, description, address, latitude, longitude,
           created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)"
    } else {
        "UPDATE inventory_locations SET name = $2, slug = $3, external_ref = $4, description = $5,
           address = $6::jsonb, latitude = $7, longitude = $8, updated_at = $10 WHERE id = $1 AND created_at = $9"
    };
    sqlx::query(sql)
        .bind(l.id)
        .bind(&l.name)
        .bind(&l.slug)
        .bind(&l.external_ref)
        .bind(&l.description)
        .bind(address)
        .bind(l.geolocation.map(|g| g.lat))
        .bind(l.geolocation.map(|g| g.lon))
        .bind(l.created_at)
        .bind(l.updated_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict_on(e, conflicts::LOCATION))?;
    Ok(())
}

#[async_trait]
impl InventoryStore for PgStore {
    async fn create_stock(&self, stock: Stock) -> Result<Stock> {
        let mut stock = stock;
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        if !stock.locations.is_empty() {
            let slugs: Vec<String> = stock.locations.iter().map(|p| p.slug.clone()).collect();
            let found = lock_locations(&mut tx, &slugs).await?;
            let mut unknown = Vec::new();
            for position in &mut stock.locations {
                match found.iter().find(|(s, _)| *s == position.slug) {
                    Some((_, id)) => position.location_id = *id,
                    None => unknown.push(unknown_location(
                        format!("data.attributes.locations.{}", position.slug),
                        &position.slug,
                    )),
                }
            }
            if !unknown.is_empty() {
                return Err(Error::Validation(unknown));
            }
        }
        sqlx::query(
            "WITH record AS (
               INSERT INTO inventories (product_id, available, allocated, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5) RETURNING product_id)
             INSERT INTO stock_positions (product_id, location_id, available, allocated, created_at, updated_at)
             SELECT record.product_id, p.location_id, p.available, p.allocated, $4, $4
             FROM record, UNNEST($6::uuid[], $7::int8[], $8::int8[]) AS p(location_id, available, allocated)",
        )
        .bind(stock.product_id)
        .bind(stock.levels.available)
        .bind(stock.levels.allocated)
        .bind(stock.created_at)
        .bind(stock.updated_at)
        .bind(stock.locations.iter().map(|p| p.location_id).collect::<Vec<_>>())
        .bind(stock.locations.iter().map(|p| p.levels.available).collect::<Vec<_>>())
        .bind(stock.locations.iter().map(|p| p.levels.allocated).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(|e| match unique_violation(&e) {
            Some(_) => Error::Conflict(conflicts::STOCK_RECORD.into()),
            None => sql_error(e),
        })?;
        tx.commit().await.map_err(sql_error)?;
        stock.locations.sort_by(|a, b| a.slug.cmp(&b.slug));
        Ok(stock)
    }

    async fn stock(&self, product_id: Uuid) -> Result<Option<Stock>> {
        Ok(stock_of(&self.pool, &[product_id]).await?.into_iter().next())
    }

    async fn stocks(&self, page: PageRequest) -> Result<Page<Stock>> {
        let page = crate::sql::page_of(
            &self.pool,
            stock_columns!(),
            |qb| {
                qb.push("FROM inventories i WHERE TRUE");
            },
            "i.created_at, i.product_id",
            page,
            stock_from_row,
        )
        .await?;
        Ok(Page {
            items: page.items.into_iter().collect::<Result<_>>()?,
            total: page.total,
        })
    }

    async fn stock_levels(&self, product_ids: &[Uuid]) -> Result<Vec<Stock>> {
        stock_of(&self.pool, product_ids).await
    }

    async fn delete_stock(&self, product_id: Uuid) -> Result<bool> {
        // The positions and transactions go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM inventories WHERE product_id = $1")
            .bind(product_id)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_stock_positions(
        &self,
        product_id: Uuid,
        changes: Vec<(String, Option<i64>)>,
        now: Millis,
    ) -> Result<Option<Stock>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // The lock order: the locations, then the product's record, then its positions.
        let slugs: Vec<String> = changes.iter().map(|(s, _)| s.clone()).collect();
        let found = lock_locations(&mut tx, &slugs).await?;
        let locked = sqlx::query("SELECT 1 FROM inventories WHERE product_id = $1 FOR UPDATE")
            .bind(product_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(sql_error)?;
        if locked.is_none() {
            return Ok(None);
        }
        let unknown: Vec<FieldError> = changes
            .iter()
            .filter(|(slug, _)| !found.iter().any(|(s, _)| s == slug))
            .map(|(slug, _)| unknown_location(format!("data.attributes.locations.{slug}"), slug))
            .collect();
        if !unknown.is_empty() {
            return Err(Error::Validation(unknown));
        }
        for (slug, available) in changes {
            let location_id = found.iter().find(|(s, _)| *s == slug).map(|(_, id)| *id);
            let Some(location_id) = location_id else { continue };
            let total: i64 = match available {
                Some(available) => {
                    let total: Option<i64> = sqlx::query_scalar(
                        "INSERT INTO stock_positions AS p (product_id, location_id, available, allocated, created_at, updated_at)
                         VALUES ($1, $2, $3, 0, $4, $4)
                         ON CONFLICT (product_id, location_id) DO UPDATE SET
                           available = EXCLUDED.available, updated_at = EXCLUDED.updated_at
                         WHERE EXCLUDED.available + p.allocated <= $5
                         RETURNING p.available + p.allocated",
                    )
                    .bind(product_id)
                    .bind(location_id)
                    .bind(available)
                    .bind(now)
                    .bind(MAX_TOTAL)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(sql_error)?;
                    total.ok_or_else(|| {
                        Error::bad_request(
                            "Stock limit exceeded",
                            format!("The total of product {product_id} at location {slug} would exceed {MAX_TOTAL}"),
                        )
                    })?
                }
                None => {
                    let levels = sqlx::query(
                        "SELECT allocated FROM stock_positions WHERE product_id = $1 AND location_id = $2",
                    )
                    .bind(product_id)
                    .bind(location_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(sql_error)?;
                    let Some(row) = levels else { continue };
                    let allocated: i64 = row.get(0);
                    if allocated > 0 {
                        return Err(Error::Conflict(format!(
                            "{allocated} of product {product_id} is allocated at location {slug}; deallocate it before removing the location's stock"
                        )));
                    }
                    sqlx::query("DELETE FROM stock_positions WHERE product_id = $1 AND location_id = $2")
                        .bind(product_id)
                        .bind(location_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(sql_error)?;
                    0
                }
            };
            sqlx::query(concat!(
                "INSERT INTO stock_transactions (",
                transaction_columns!(),
                ") VALUES ($1, $2, 'set', $3, $4, $5)"
            ))
            .bind(kassa_core::ids::new_id())
            .bind(product_id)
            .bind(total)
            .bind(now)
            .bind(&slug)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        }
        let stock = stock_of(&mut *tx, &[product_id]).await?.into_iter().next();
        tx.commit().await.map_err(sql_error)?;
        Ok(stock)
    }

    async fn create_stock_transaction(
        &self,
        transaction: StockTransaction,
        events: Vec<Event>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let location = match &transaction.location {
            None => None,
            Some(slug) => match lock_locations(&mut tx, std::slice::from_ref(slug)).await?.first() {
                Some((_, id)) => Some(*id),
                None => {
                    return Err(Error::Validation(vec![unknown_location(
                        "data.attributes.location".into(),
                        slug,
                    )]));
                }
            },
        };
        match apply(&mut tx, &transaction, location).await? {
            Some(Ok(())) => {
                crate::outbox::write(&mut tx, &events).await?;
                tx.commit().await.map_err(sql_error)?;
                Ok(())
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
                id: kassa_core::ids::new_id(),
                product_id,
                action,
                quantity,
                location: None,
                created_at: now,
            };
            if let Some(Err(refusal)) = apply(&mut tx, &transaction, None).await? {
                // Dropping the transaction rolls back the products already moved.
                return Ok(Err(refusal));
            }
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(Ok(()))
    }

    async fn create_location(&self, location: Location) -> Result<Location> {
        let mut conn = self.pool.acquire().await.map_err(sql_error)?;
        save_location(&mut conn, &location, true).await?;
        Ok(location)
    }

    async fn location(&self, id: Uuid) -> Result<Option<Location>> {
        let mut conn = self.pool.acquire().await.map_err(sql_error)?;
        get_location(&mut conn, id, LocationLock::None).await
    }

    async fn locations(&self, page: PageRequest) -> Result<Page<Location>> {
        crate::sql::page_of(
            &self.pool,
            location_columns!(),
            |qb| {
                qb.push("FROM inventory_locations WHERE TRUE");
            },
            "created_at, id",
            page,
            location_from_row,
        )
        .await
    }

    async fn update_location(&self, id: Uuid, edit: Edit<Location>) -> Result<Option<Location>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let Some(mut location) = get_location(&mut tx, id, LocationLock::Edit).await? else {
            return Ok(None);
        };
        edit(&mut location)?;
        save_location(&mut tx, &location, false).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(Some(location))
    }

    async fn delete_location(&self, id: Uuid) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // The lock order: the location, then the records of the products stocked there (in
        // product order, as payments take them), then their positions. Empty positions go with
        // the location; one that holds stock stays, and then the foreign key refuses the delete.
        if get_location(&mut tx, id, LocationLock::Delete).await?.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "WITH locked AS MATERIALIZED (
               SELECT product_id FROM inventories
               WHERE product_id IN (SELECT product_id FROM stock_positions WHERE location_id = $1)
               ORDER BY product_id FOR UPDATE)
             DELETE FROM stock_positions WHERE location_id = $1 AND available = 0 AND allocated = 0
               AND product_id IN (SELECT product_id FROM locked)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        sqlx::query("DELETE FROM inventory_locations WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if foreign_key_violation(&e) {
                    Error::Conflict(
                        "Stock is kept at this location; move or remove it before deleting the location"
                            .into(),
                    )
                } else {
                    sql_error(e)
                }
            })?;
        tx.commit().await.map_err(sql_error)?;
        Ok(true)
    }
}
