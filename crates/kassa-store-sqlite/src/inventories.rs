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
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::auth::parse_uuid;
use crate::db::{DbError, DbResult, conflict_on, foreign_key_violation, unique_violation};

macro_rules! stock_columns {
    () => {
        "product_id, available, allocated, created_at, updated_at"
    };
}

macro_rules! transaction_columns {
    () => {
        "id, product_id, action, quantity, created_at, location"
    };
}

macro_rules! location_columns {
    () => {
        "id, name, slug, external_ref, description, address, latitude, longitude, created_at, updated_at"
    };
}

/// The stock records of these products without their located positions, by product id;
/// products without one are absent. One cached statement whatever the count: the ids go in as
/// one JSON array.
fn records_of(conn: &Connection, product_ids: &[Uuid]) -> DbResult<Vec<Stock>> {
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

/// A product's position at a location, with when it last changed.
type Located = (Uuid, Position, Millis);

fn located_from_row(row: &Row<'_>) -> rusqlite::Result<Located> {
    Ok((
        parse_uuid(row.get_ref(0)?.as_str()?),
        Position {
            location_id: parse_uuid(row.get_ref(1)?.as_str()?),
            slug: row.get(2)?,
            levels: StockLevels {
                available: row.get(3)?,
                allocated: row.get(4)?,
            },
        },
        row.get(5)?,
    ))
}

macro_rules! located_select {
    () => {
        "SELECT p.product_id, p.location_id, l.slug, p.available, p.allocated, p.updated_at
         FROM stock_positions p JOIN inventory_locations l ON l.id = p.location_id
         WHERE p.product_id IN (SELECT value FROM json_each(?1))"
    };
}

/// Every position of these products at locations, by product and slug.
fn positions_of(conn: &Connection, product_ids: &[Uuid]) -> DbResult<Vec<Located>> {
    let ids = serde_json::to_string(product_ids).map_err(Error::internal)?;
    Ok(conn
        .prepare_cached(concat!(located_select!(), " ORDER BY p.product_id, l.slug"))?
        .query_map([ids], located_from_row)?
        .collect::<rusqlite::Result<_>>()?)
}

/// Gives each record its positions (`updated_at` becomes the latest change of any of them).
fn attach(stocks: &mut [Stock], positions: Vec<Located>) {
    for (product_id, position, updated_at) in positions {
        if let Some(stock) = stocks.iter_mut().find(|s| s.product_id == product_id) {
            stock.updated_at = stock.updated_at.max(updated_at);
            stock.locations.push(position);
        }
    }
}

/// The stock records of these products with all their positions.
pub(crate) fn stock_of(conn: &Connection, product_ids: &[Uuid]) -> DbResult<Vec<Stock>> {
    let mut stocks = records_of(conn, product_ids)?;
    if !stocks.is_empty() {
        let ids: Vec<Uuid> = stocks.iter().map(|s| s.product_id).collect();
        attach(&mut stocks, positions_of(conn, &ids)?);
    }
    Ok(stocks)
}

/// What a cart read needs of the stock: the products' records, their positions at the asked
/// locations only, and which of those locations exist. Without locations this is the one
/// statement it always was.
pub(crate) fn cart_stock(conn: &Connection, product_ids: &[Uuid], slugs: &[String]) -> DbResult<CartStock> {
    let mut stock = records_of(conn, product_ids)?;
    if slugs.is_empty() {
        return Ok(CartStock {
            stock,
            locations: Vec::new(),
        });
    }
    let slugs_json = serde_json::to_string(slugs).map_err(Error::internal)?;
    let locations = conn
        .prepare_cached(
            "SELECT slug, id FROM inventory_locations WHERE slug IN (SELECT value FROM json_each(?1))",
        )?
        .query_map([&slugs_json], |r| {
            Ok((r.get::<_, String>(0)?, parse_uuid(r.get_ref(1)?.as_str()?)))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if !stock.is_empty() && !locations.is_empty() {
        let ids = serde_json::to_string(product_ids).map_err(Error::internal)?;
        let positions = conn
            .prepare_cached(concat!(
                located_select!(),
                " AND l.slug IN (SELECT value FROM json_each(?2)) ORDER BY p.product_id, l.slug"
            ))?
            .query_map([ids, slugs_json], located_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        attach(&mut stock, positions);
    }
    Ok(CartStock { stock, locations })
}

fn stock_from_row(row: &Row<'_>) -> rusqlite::Result<Stock> {
    Ok(Stock {
        product_id: parse_uuid(row.get_ref(0)?.as_str()?),
        levels: StockLevels {
            available: row.get(1)?,
            allocated: row.get(2)?,
        },
        locations: Vec::new(),
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
    })
}

fn transaction_from_row(row: &Row<'_>) -> rusqlite::Result<StockTransaction> {
    let action = row.get_ref(2)?.as_str()?;
    Ok(StockTransaction {
        id: parse_uuid(row.get_ref(0)?.as_str()?),
        product_id: parse_uuid(row.get_ref(1)?.as_str()?),
        // The column's CHECK admits only the actions' names.
        action: StockAction::parse(action).unwrap_or(StockAction::Increment),
        quantity: row.get(3)?,
        created_at: row.get(4)?,
        location: row.get(5)?,
    })
}

fn location_from_row(row: &Row<'_>) -> rusqlite::Result<Location> {
    let address: Option<String> = row.get(5)?;
    let (lat, lon): (Option<f64>, Option<f64>) = (row.get(6)?, row.get(7)?);
    Ok(Location {
        id: parse_uuid(row.get_ref(0)?.as_str()?),
        name: row.get(1)?,
        slug: row.get(2)?,
        external_ref: row.get(3)?,
        description: row.get(4)?,
        address: address.and_then(|a| serde_json::from_str(&a).ok()),
        geolocation: lat.zip(lon).map(|(lat, lon)| Geolocation { lat, lon }),
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
    })
}

fn duplicate_stock(e: rusqlite::Error) -> DbError {
    match unique_violation(&e) {
        Some(_) => Error::Conflict(conflicts::STOCK_RECORD.into()).into(),
        None => e.into(),
    }
}

fn unknown_location(source: String, slug: &str) -> FieldError {
    FieldError::new(
        source,
        "Location not found",
        format!("There is no stock location with the slug '{slug}'"),
    )
}

/// The id of the location with this slug.
fn location_id(conn: &Connection, slug: &str) -> DbResult<Option<Uuid>> {
    Ok(conn
        .prepare_cached("SELECT id FROM inventory_locations WHERE slug = ?1")?
        .query_row([slug], |r| Ok(parse_uuid(r.get_ref(0)?.as_str()?)))
        .optional()?)
}

fn product_exists(conn: &Connection, product_id: &str) -> DbResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM inventories WHERE product_id = ?1")?
        .query_row([product_id], |_| Ok(()))
        .optional()?
        .is_some())
}

fn record(conn: &Connection, t: &StockTransaction, location: Option<&str>) -> DbResult<()> {
    conn.prepare_cached(concat!(
        "INSERT INTO stock_transactions (",
        transaction_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    ))?
    .execute(params![
        t.id.to_string(),
        t.product_id.to_string(),
        t.action.as_str(),
        t.quantity,
        t.created_at,
        location
    ])?;
    Ok(())
}

/// Moves one position of a product's stock in one conditional statement and records the
/// transaction: the position outside locations (`location` none), or the one at the location
/// with this id (an `increment` or `set` creates it; any other action on a position that does
/// not exist is refused, as there is nothing there). `None` if the product has no stock record;
/// a refusal if a level would go negative (then nothing was written). The history names the
/// location by its slug as it is now.
pub(crate) fn apply(
    conn: &Connection,
    t: &StockTransaction,
    location: Option<Uuid>,
) -> DbResult<Option<std::result::Result<(), StockRefusal>>> {
    let (da, dl) = t.action.delta(t.quantity);
    let product = t.product_id.to_string();
    let Some(location_id) = location else {
        let moved = if t.action == StockAction::Set {
            conn.prepare_cached(
                "UPDATE inventories SET available = ?2 - allocated, updated_at = ?3
                 WHERE product_id = ?1 AND ?2 - allocated >= 0 AND ?2 <= ?4",
            )?
            .execute(params![product, t.quantity, t.created_at, MAX_TOTAL])?
        } else {
            conn.prepare_cached(
                "UPDATE inventories SET available = available + ?2, allocated = allocated + ?3, updated_at = ?4
                 WHERE product_id = ?1 AND available + ?2 >= 0 AND allocated + ?3 >= 0
                   AND available + allocated + ?2 + ?3 <= ?5",
            )?
            .execute(params![product, da, dl, t.created_at, MAX_TOTAL])?
        };
        if moved == 1 {
            record(conn, t, None)?;
            return Ok(Some(Ok(())));
        }
        // Refused or missing: read only to say which; nothing is written on this path.
        let current = records_of(conn, &[t.product_id])?;
        return Ok(current.first().map(|stock| {
            Err(StockRefusal {
                product_id: t.product_id,
                action: t.action,
                requested: t.quantity,
                location: None,
                levels: stock.levels,
            })
        }));
    };
    let location = location_id.to_string();
    if !product_exists(conn, &product)? {
        return Ok(None);
    }
    let moved = match t.action {
        // Creates the position, or moves it if the guarded update allows.
        StockAction::Increment | StockAction::Set => conn
            .prepare_cached(if t.action == StockAction::Set {
                "INSERT INTO stock_positions (product_id, location_id, available, allocated, created_at, updated_at)
                 SELECT ?1, ?2, ?3, 0, ?4, ?4 WHERE EXISTS (SELECT 1 FROM inventory_locations WHERE id = ?2)
                 ON CONFLICT (product_id, location_id) DO UPDATE SET
                   available = excluded.available - allocated, updated_at = excluded.updated_at
                 WHERE excluded.available - allocated >= 0 AND ?5 >= excluded.available"
            } else {
                "INSERT INTO stock_positions (product_id, location_id, available, allocated, created_at, updated_at)
                 SELECT ?1, ?2, ?3, 0, ?4, ?4 WHERE EXISTS (SELECT 1 FROM inventory_locations WHERE id = ?2)
                 ON CONFLICT (product_id, location_id) DO UPDATE SET
                   available = available + excluded.available, updated_at = excluded.updated_at
                 WHERE available + allocated + excluded.available <= ?5"
            })?
            .execute(params![product, location, t.quantity, t.created_at, MAX_TOTAL])?,
        _ => conn
            .prepare_cached(
                "UPDATE stock_positions SET available = available + ?3, allocated = allocated + ?4, updated_at = ?5
                 WHERE product_id = ?1 AND location_id = ?2 AND available + ?3 >= 0 AND allocated + ?4 >= 0
                   AND available + allocated + ?3 + ?4 <= ?6",
            )?
            .execute(params![product, location, da, dl, t.created_at, MAX_TOTAL])?,
    };
    let slug: Option<String> = conn
        .prepare_cached("SELECT slug FROM inventory_locations WHERE id = ?1")?
        .query_row([&location], |r| r.get(0))
        .optional()?;
    if moved == 1 {
        record(conn, t, slug.as_deref())?;
        return Ok(Some(Ok(())));
    }
    // Refused: read only to say why (a position that does not exist holds nothing).
    let levels = conn
        .prepare_cached(
            "SELECT available, allocated FROM stock_positions WHERE product_id = ?1 AND location_id = ?2",
        )?
        .query_row([&product, &location], |r| {
            Ok(StockLevels {
                available: r.get(0)?,
                allocated: r.get(1)?,
            })
        })
        .optional()?
        .unwrap_or_default();
    Ok(Some(Err(StockRefusal {
        product_id: t.product_id,
        action: t.action,
        requested: t.quantity,
        location: slug,
        levels,
    })))
}

pub(crate) fn no_stock(product_id: Uuid) -> Error {
    Error::not_found("Not Found", format!("No stock found for product {product_id}"))
}

fn get_location(conn: &Connection, id: Uuid) -> DbResult<Option<Location>> {
    Ok(conn
        .prepare_cached(concat!(
            "SELECT ",
            location_columns!(),
            " FROM inventory_locations WHERE id = ?1"
        ))?
        .query_row([id.to_string()], location_from_row)
        .optional()?)
}

fn save_location(conn: &Connection, l: &Location, create: bool) -> DbResult<()> {
    let address = l
        .address
        .as_ref()
        .map(|a| serde_json::to_string(a).map_err(Error::internal))
        .transpose()?;
    let (lat, lon) = (l.geolocation.map(|g| g.lat), l.geolocation.map(|g| g.lon));
    let done = if create {
        conn.prepare_cached(concat!(
            "INSERT INTO inventory_locations (",
            location_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ))?
        .execute(params![
            l.id.to_string(),
            l.name,
            l.slug,
            l.external_ref,
            l.description,
            address,
            lat,
            lon,
            l.created_at,
            l.updated_at
        ])
    } else {
        conn.prepare_cached(
            "UPDATE inventory_locations SET name = ?2, slug = ?3, external_ref = ?4, description = ?5,
               address = ?6, latitude = ?7, longitude = ?8, updated_at = ?9 WHERE id = ?1",
        )?
        .execute(params![
            l.id.to_string(),
            l.name,
            l.slug,
            l.external_ref,
            l.description,
            address,
            lat,
            lon,
            l.updated_at
        ])
    };
    done.map_err(|e| conflict_on(e, conflicts::LOCATION))?;
    Ok(())
}

#[async_trait]
impl InventoryStore for SqliteStore {
    async fn create_stock(&self, stock: Stock) -> Result<Stock> {
        self.db
            .write(move |conn| {
                let mut stock = stock;
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
                let mut unknown = Vec::new();
                for position in &mut stock.locations {
                    match location_id(conn, &position.slug)? {
                        Some(id) => position.location_id = id,
                        None => unknown.push(unknown_location(
                            format!("data.attributes.locations.{}", position.slug),
                            &position.slug,
                        )),
                    }
                }
                if !unknown.is_empty() {
                    return Err(Error::Validation(unknown).into());
                }
                for p in &stock.locations {
                    conn.prepare_cached(
                        "INSERT INTO stock_positions (product_id, location_id, available, allocated, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    )?
                    .execute(params![
                        stock.product_id.to_string(),
                        p.location_id.to_string(),
                        p.levels.available,
                        p.levels.allocated,
                        stock.created_at
                    ])?;
                }
                stock.locations.sort_by(|a, b| a.slug.cmp(&b.slug));
                Ok(stock)
            })
            .await
    }

    async fn stock(&self, product_id: Uuid) -> Result<Option<Stock>> {
        self.db
            .read(move |conn| Ok(stock_of(conn, &[product_id])?.into_iter().next()))
            .await
    }

    async fn stocks(&self, page: PageRequest) -> Result<Page<Stock>> {
        self.db
            .read(move |conn| {
                let total: i64 = conn
                    .prepare_cached("SELECT count(*) FROM inventories")?
                    .query_row([], |r| r.get(0))?;
                let mut items: Vec<Stock> = conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        stock_columns!(),
                        " FROM inventories ORDER BY created_at, product_id LIMIT ?1 OFFSET ?2"
                    ))?
                    .query_map(params![page.limit as i64, page.offset as i64], stock_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                if !items.is_empty() {
                    let ids: Vec<Uuid> = items.iter().map(|s| s.product_id).collect();
                    attach(&mut items, positions_of(conn, &ids)?);
                }
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
                // The positions and transactions go with it (ON DELETE CASCADE).
                let changed = conn
                    .prepare_cached("DELETE FROM inventories WHERE product_id = ?1")?
                    .execute([product_id.to_string()])?;
                Ok(changed == 1)
            })
            .await
    }

    async fn set_stock_positions(
        &self,
        product_id: Uuid,
        changes: Vec<(String, Option<i64>)>,
        now: Millis,
    ) -> Result<Option<Stock>> {
        self.db
            .write(move |conn| {
                let product = product_id.to_string();
                if !product_exists(conn, &product)? {
                    return Ok(None);
                }
                let mut problems = Vec::new();
                let mut resolved = Vec::with_capacity(changes.len());
                for (slug, available) in changes {
                    match location_id(conn, &slug)? {
                        Some(id) => resolved.push((slug, id, available)),
                        None => problems.push(unknown_location(
                            format!("data.attributes.locations.{slug}"),
                            &slug,
                        )),
                    }
                }
                if !problems.is_empty() {
                    return Err(Error::Validation(problems).into());
                }
                for (slug, id, available) in resolved {
                    let location = id.to_string();
                    let current: Option<StockLevels> = conn
                        .prepare_cached(
                            "SELECT available, allocated FROM stock_positions WHERE product_id = ?1 AND location_id = ?2",
                        )?
                        .query_row([&product, &location], |r| {
                            Ok(StockLevels {
                                available: r.get(0)?,
                                allocated: r.get(1)?,
                            })
                        })
                        .optional()?;
                    let total = match available {
                        Some(available) => {
                            // The single writer runs this use-case alone: no change can come
                            // between the read above and the write below.
                            let allocated = current.map_or(0, |c| c.allocated);
                            if available + allocated > MAX_TOTAL {
                                return Err(Error::bad_request(
                                    "Stock limit exceeded",
                                    format!(
                                        "The total of product {product_id} at location {slug} would exceed {MAX_TOTAL}"
                                    ),
                                )
                                .into());
                            }
                            conn.prepare_cached(
                                "INSERT INTO stock_positions (product_id, location_id, available, allocated, created_at, updated_at)
                                 VALUES (?1, ?2, ?3, 0, ?4, ?4)
                                 ON CONFLICT (product_id, location_id) DO UPDATE SET
                                   available = excluded.available, updated_at = excluded.updated_at",
                            )?
                            .execute(params![product, location, available, now])?;
                            available + allocated
                        }
                        None => match current {
                            None => continue,
                            Some(c) if c.allocated > 0 => {
                                return Err(Error::Conflict(format!(
                                    "{} of product {product_id} is allocated at location {slug}; deallocate it before removing the location's stock",
                                    c.allocated
                                ))
                                .into());
                            }
                            Some(_) => {
                                conn.prepare_cached(
                                    "DELETE FROM stock_positions WHERE product_id = ?1 AND location_id = ?2",
                                )?
                                .execute([&product, &location])?;
                                0
                            }
                        },
                    };
                    let t = StockTransaction {
                        id: kassa_core::ids::new_id(),
                        product_id,
                        action: StockAction::Set,
                        quantity: total,
                        location: Some(slug.clone()),
                        created_at: now,
                    };
                    record(conn, &t, Some(&slug))?;
                }
                Ok(stock_of(conn, &[product_id])?.into_iter().next())
            })
            .await
    }

    async fn create_stock_transaction(
        &self,
        transaction: StockTransaction,
        events: Vec<Event>,
    ) -> Result<()> {
        self.db
            .write(move |conn| {
                let location = match &transaction.location {
                    None => None,
                    Some(slug) => match location_id(conn, slug)? {
                        Some(id) => Some(id),
                        None => {
                            let problem = unknown_location("data.attributes.location".into(), slug);
                            return Err(Error::Validation(vec![problem]).into());
                        }
                    },
                };
                match apply(conn, &transaction, location)? {
                    Some(Ok(())) => crate::outbox::write(conn, &events),
                    Some(Err(refusal)) => Err(Error::from(refusal).into()),
                    None => Err(no_stock(transaction.product_id).into()),
                }
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
                        id: kassa_core::ids::new_id(),
                        product_id,
                        action,
                        quantity,
                        location: None,
                        created_at: now,
                    };
                    match apply(conn, &transaction, None) {
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

    async fn create_location(&self, location: Location) -> Result<Location> {
        self.db
            .write(move |conn| {
                save_location(conn, &location, true)?;
                Ok(location)
            })
            .await
    }

    async fn location(&self, id: Uuid) -> Result<Option<Location>> {
        self.db.read(move |conn| get_location(conn, id)).await
    }

    async fn locations(&self, page: PageRequest) -> Result<Page<Location>> {
        self.db
            .read(move |conn| {
                let total: i64 = conn
                    .prepare_cached("SELECT count(*) FROM inventory_locations")?
                    .query_row([], |r| r.get(0))?;
                let items = conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        location_columns!(),
                        " FROM inventory_locations ORDER BY created_at, id LIMIT ?1 OFFSET ?2"
                    ))?
                    .query_map(params![page.limit as i64, page.offset as i64], location_from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(Page {
                    items,
                    total: total as u64,
                })
            })
            .await
    }

    async fn update_location(&self, id: Uuid, edit: Edit<Location>) -> Result<Option<Location>> {
        self.db
            .write(move |conn| {
                let Some(mut location) = get_location(conn, id)? else {
                    return Ok(None);
                };
                edit(&mut location)?;
                save_location(conn, &location, false)?;
                Ok(Some(location))
            })
            .await
    }

    async fn delete_location(&self, id: Uuid) -> Result<bool> {
        self.db
            .write(move |conn| {
                let id = id.to_string();
                // Empty positions go with the location; one that holds stock stays, and then the
                // foreign key refuses the delete (this use-case's savepoint undoes the rest).
                conn.prepare_cached(
                    "DELETE FROM stock_positions WHERE location_id = ?1 AND available = 0 AND allocated = 0",
                )?
                .execute([&id])?;
                let deleted = conn
                    .prepare_cached("DELETE FROM inventory_locations WHERE id = ?1")?
                    .execute([&id])
                    .map_err(|e| -> DbError {
                        if foreign_key_violation(&e) {
                            Error::Conflict(
                                "Stock is kept at this location; move or remove it before deleting the location"
                                    .into(),
                            )
                            .into()
                        } else {
                            e.into()
                        }
                    })?;
                Ok(deleted == 1)
            })
            .await
    }
}
