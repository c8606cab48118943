use async_trait::async_trait;
use kassa_core::catalog::{Catalog, PrioritizedPricebook};
use kassa_core::catalog_rule::CatalogRule;
use kassa_core::integrations::{Emit, Event};
use kassa_core::query::{Page, PageRequest};
use kassa_core::release::{PublishedCatalog, RELEASES_KEPT, Release, ReleaseSource, Snapshot};
use kassa_core::store::{Edit, ReleaseStore};
use kassa_core::{Error, Result};
use rusqlite::{Connection, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::catalog::{
    HIERARCHY_COLUMNS, NODE_COLUMNS, PRICE_COLUMNS, PRODUCT_COLUMNS, delete, hierarchy_from_row, json_at,
    node_from_row, one, price_from_row, product_from_row, to_json, uuid_at,
};
use crate::db::{DbResult, foreign_key_violation};
use crate::files::{FILE_COLUMNS, file_from_row};
use crate::list::Where;

const CATALOG_COLUMNS: &str = "id, name, description, created_at, updated_at";
const RELEASE_COLUMNS: &str = "id, catalog_id, published_at, total_products, total_nodes";
const RULE_COLUMNS: &str = "id, name, description, catalog_id, account_ids, customer_ids, channels, tags, \
    schedules, created_at, updated_at";
/// The hierarchies of catalog `?1`.
const CATALOG_HIERARCHIES: &str = "SELECT hierarchy_id FROM catalog_hierarchies WHERE catalog_id = ?1";

fn catalog_from_row(row: &Row<'_>) -> rusqlite::Result<Catalog> {
    Ok(Catalog {
        id: uuid_at(row, 0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        hierarchy_ids: Vec::new(),
        pricebooks: Vec::new(),
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
    })
}

fn release_from_row(row: &Row<'_>) -> rusqlite::Result<Release> {
    Ok(Release {
        id: uuid_at(row, 0)?,
        catalog_id: uuid_at(row, 1)?,
        published_at: row.get(2)?,
        total_products: row.get(3)?,
        total_nodes: row.get(4)?,
    })
}

fn rule_from_row(row: &Row<'_>) -> rusqlite::Result<CatalogRule> {
    Ok(CatalogRule {
        id: uuid_at(row, 0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        catalog_id: uuid_at(row, 3)?,
        account_ids: json_at(row, 4)?,
        customer_ids: json_at(row, 5)?,
        channels: json_at(row, 6)?,
        tags: json_at(row, 7)?,
        schedules: json_at(row, 8)?,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
    })
}

fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> DbResult<Vec<T>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_map(params, map)?
        .collect::<rusqlite::Result<_>>()?)
}

/// Fills in the catalog's hierarchies and price books.
fn with_parts(conn: &Connection, mut c: Catalog) -> DbResult<Catalog> {
    let id = c.id.to_string();
    c.hierarchy_ids = all(
        conn,
        "SELECT hierarchy_id FROM catalog_hierarchies WHERE catalog_id = ?1 ORDER BY position",
        [&id],
        |r| uuid_at(r, 0),
    )?;
    c.pricebooks = all(
        conn,
        "SELECT pricebook_id, priority FROM catalog_pricebooks WHERE catalog_id = ?1 ORDER BY position",
        [&id],
        |r| {
            Ok(PrioritizedPricebook {
                id: uuid_at(r, 0)?,
                priority: r.get(1)?,
            })
        },
    )?;
    Ok(c)
}

fn get_catalog(conn: &Connection, id: Uuid) -> DbResult<Option<Catalog>> {
    let sql = format!("SELECT {CATALOG_COLUMNS} FROM catalogs WHERE id = ?1");
    one(conn, &sql, [id.to_string()], catalog_from_row)?
        .map(|c| with_parts(conn, c))
        .transpose()
}

fn exists(conn: &Connection, table: &str, id: Uuid) -> DbResult<bool> {
    let sql = format!("SELECT 1 FROM {table} WHERE id = ?1");
    Ok(one(conn, &sql, [id.to_string()], |_| Ok(()))?.is_some())
}

fn save_catalog(conn: &Connection, c: &Catalog, insert: bool) -> DbResult<()> {
    for h in &c.hierarchy_ids {
        if !exists(conn, "hierarchies", *h)? {
            return Err(missing("data.attributes.hierarchy_ids", "hierarchy", *h).into());
        }
    }
    for b in &c.pricebooks {
        if !exists(conn, "pricebooks", b.id)? {
            return Err(missing("data.attributes.pricebook_ids", "price book", b.id).into());
        }
    }
    let id = c.id.to_string();
    let sql = if insert {
        "INSERT INTO catalogs (id, name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)"
    } else {
        "UPDATE catalogs SET name = ?2, description = ?3, created_at = ?4, updated_at = ?5 WHERE id = ?1"
    };
    conn.prepare_cached(sql)?
        .execute(params![id, c.name, c.description, c.created_at, c.updated_at])?;
    conn.prepare_cached("DELETE FROM catalog_hierarchies WHERE catalog_id = ?1")?
        .execute([&id])?;
    conn.prepare_cached("DELETE FROM catalog_pricebooks WHERE catalog_id = ?1")?
        .execute([&id])?;
    for (i, h) in c.hierarchy_ids.iter().enumerate() {
        conn.prepare_cached(
            "INSERT INTO catalog_hierarchies (catalog_id, hierarchy_id, position) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, h.to_string(), i as i64])?;
    }
    for (i, b) in c.pricebooks.iter().enumerate() {
        conn.prepare_cached(
            "INSERT INTO catalog_pricebooks (catalog_id, pricebook_id, priority, position) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![id, b.id.to_string(), b.priority, i as i64])?;
    }
    Ok(())
}

fn missing(source: &str, what: &str, id: Uuid) -> Error {
    Error::field(source, "Not Found", format!("There is no {what} {id}"))
}

fn get_rule(conn: &Connection, id: Uuid) -> DbResult<Option<CatalogRule>> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM catalog_rules WHERE id = ?1");
    one(conn, &sql, [id.to_string()], rule_from_row)
}

fn save_rule(conn: &Connection, r: &CatalogRule, insert: bool) -> DbResult<()> {
    if !exists(conn, "catalogs", r.catalog_id)? {
        return Err(missing("data.attributes.catalog_id", "catalog", r.catalog_id).into());
    }
    let sql = if insert {
        "INSERT INTO catalog_rules (id, name, description, catalog_id, account_ids, customer_ids, channels,
             tags, schedules, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    } else {
        "UPDATE catalog_rules SET name = ?2, description = ?3, catalog_id = ?4, account_ids = ?5,
             customer_ids = ?6, channels = ?7, tags = ?8, schedules = ?9, created_at = ?10, updated_at = ?11
         WHERE id = ?1"
    };
    conn.prepare_cached(sql)?.execute(params![
        r.id.to_string(),
        r.name,
        r.description,
        r.catalog_id.to_string(),
        to_json(&r.account_ids),
        to_json(&r.customer_ids),
        to_json(&r.channels),
        to_json(&r.tags),
        to_json(&r.schedules),
        r.created_at,
        r.updated_at
    ])?;
    Ok(())
}

fn release_source(conn: &Connection, catalog_id: Uuid) -> DbResult<Option<ReleaseSource>> {
    let Some(catalog) = get_catalog(conn, catalog_id)? else {
        return Ok(None);
    };
    let id = catalog_id.to_string();
    let nodes_of_catalog = format!("SELECT id FROM nodes WHERE hierarchy_id IN ({CATALOG_HIERARCHIES})");
    let placed = format!("SELECT product_id FROM node_products WHERE node_id IN ({nodes_of_catalog})");
    let hierarchies = all(
        conn,
        &format!("SELECT {HIERARCHY_COLUMNS} FROM hierarchies WHERE id IN ({CATALOG_HIERARCHIES})"),
        [&id],
        hierarchy_from_row,
    )?;
    let nodes = all(
        conn,
        &format!("SELECT {NODE_COLUMNS} FROM nodes WHERE hierarchy_id IN ({CATALOG_HIERARCHIES})"),
        [&id],
        node_from_row,
    )?;
    let placements = all(
        conn,
        &format!(
            "SELECT node_id, product_id FROM node_products WHERE node_id IN ({nodes_of_catalog})
             ORDER BY created_at, node_id, product_id"
        ),
        [&id],
        |r| Ok((uuid_at(r, 0)?, uuid_at(r, 1)?)),
    )?;
    let products = all(
        conn,
        &format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE status = 'live' AND id IN ({placed})"),
        [&id],
        product_from_row,
    )?;
    let prices = all(
        conn,
        &format!(
            "SELECT {PRICE_COLUMNS} FROM prices
             WHERE pricebook_id IN (SELECT pricebook_id FROM catalog_pricebooks WHERE catalog_id = ?1)
               AND sku IN (SELECT sku FROM products WHERE status = 'live' AND id IN ({placed}))"
        ),
        [&id],
        price_from_row,
    )?;
    let live = format!("SELECT id FROM products WHERE status = 'live' AND id IN ({placed})");
    let files = all(
        conn,
        &format!(
            "SELECT {FILE_COLUMNS} FROM files
             WHERE id IN (SELECT main_image_id FROM products WHERE id IN ({live}))
                OR id IN (SELECT file_id FROM product_files WHERE product_id IN ({live}))"
        ),
        [&id],
        file_from_row,
    )?;
    Ok(Some(ReleaseSource {
        catalog,
        hierarchies,
        nodes,
        placements,
        products,
        prices,
        files,
    }))
}

#[async_trait]
impl ReleaseStore for SqliteStore {
    async fn create_catalog(&self, catalog: Catalog) -> Result<Catalog> {
        self.db
            .write(move |conn| {
                save_catalog(conn, &catalog, true)?;
                Ok(catalog)
            })
            .await
    }

    async fn catalog(&self, id: Uuid) -> Result<Option<Catalog>> {
        self.db.read(move |conn| get_catalog(conn, id)).await
    }

    async fn catalogs(&self, page: PageRequest) -> Result<Page<Catalog>> {
        self.db
            .read(move |conn| {
                let page = Where::default().page(
                    conn,
                    CATALOG_COLUMNS,
                    "catalogs",
                    "created_at, id",
                    page,
                    catalog_from_row,
                )?;
                Ok(Page {
                    items: page
                        .items
                        .into_iter()
                        .map(|c| with_parts(conn, c))
                        .collect::<DbResult<_>>()?,
                    total: page.total,
                })
            })
            .await
    }

    async fn update_catalog(&self, id: Uuid, edit: Edit<Catalog>) -> Result<Option<Catalog>> {
        self.db
            .write(move |conn| {
                let Some(mut catalog) = get_catalog(conn, id)? else {
                    return Ok(None);
                };
                edit(&mut catalog)?;
                save_catalog(conn, &catalog, false)?;
                Ok(Some(catalog))
            })
            .await
    }

    async fn delete_catalog(&self, id: Uuid) -> Result<bool> {
        self.db
            .write(move |conn| delete(conn, "DELETE FROM catalogs WHERE id = ?1", &[id]))
            .await
    }

    async fn release_source(&self, catalog_id: Uuid) -> Result<Option<ReleaseSource>> {
        self.db.read(move |conn| release_source(conn, catalog_id)).await
    }

    async fn publish_release(
        &self,
        release: Release,
        snapshot: Snapshot,
        events: Vec<Event>,
    ) -> Result<Release> {
        // Seconds of CPU for a large catalog: off the runtime's threads.
        let document = tokio::task::spawn_blocking(move || to_json(&snapshot))
            .await
            .map_err(Error::internal)?;
        self.db
            .write(move |conn| {
                let catalog = release.catalog_id.to_string();
                conn.prepare_cached(
                    "INSERT INTO catalog_releases (id, catalog_id, published_at, total_products, total_nodes, snapshot)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    release.id.to_string(),
                    catalog,
                    release.published_at,
                    release.total_products,
                    release.total_nodes,
                    document
                ])
                .map_err(|e| {
                    if foreign_key_violation(&e) {
                        Error::not_found("Catalog not found", "No catalog with this id").into()
                    } else {
                        crate::db::DbError::from(e)
                    }
                })?;
                conn.prepare_cached(
                    "DELETE FROM catalog_releases WHERE catalog_id = ?1 AND id NOT IN (
                         SELECT id FROM catalog_releases WHERE catalog_id = ?1
                         ORDER BY published_at DESC, id DESC LIMIT ?2)",
                )?
                .execute(params![catalog, RELEASES_KEPT as i64])?;
                crate::outbox::write(conn, &events)?;
                Ok(release)
            })
            .await
    }

    async fn releases(&self, catalog_id: Uuid) -> Result<Vec<Release>> {
        self.db
            .read(move |conn| {
                all(
                    conn,
                    &format!(
                        "SELECT {RELEASE_COLUMNS} FROM catalog_releases WHERE catalog_id = ?1
                         ORDER BY published_at DESC, id DESC"
                    ),
                    [catalog_id.to_string()],
                    release_from_row,
                )
            })
            .await
    }

    async fn release(&self, catalog_id: Uuid, id: Uuid) -> Result<Option<Release>> {
        self.db
            .read(move |conn| {
                one(
                    conn,
                    &format!(
                        "SELECT {RELEASE_COLUMNS} FROM catalog_releases WHERE id = ?1 AND catalog_id = ?2"
                    ),
                    [id.to_string(), catalog_id.to_string()],
                    release_from_row,
                )
            })
            .await
    }

    async fn release_snapshot(&self, id: Uuid) -> Result<Option<Snapshot>> {
        self.db
            .read(move |conn| {
                one(
                    conn,
                    "SELECT snapshot FROM catalog_releases WHERE id = ?1",
                    [id.to_string()],
                    |r| json_at(r, 0),
                )
            })
            .await
    }

    async fn create_catalog_rule(&self, rule: CatalogRule, events: Vec<Event>) -> Result<CatalogRule> {
        self.db
            .write(move |conn| {
                save_rule(conn, &rule, true)?;
                crate::outbox::write(conn, &events)?;
                Ok(rule)
            })
            .await
    }

    async fn catalog_rule(&self, id: Uuid) -> Result<Option<CatalogRule>> {
        self.db.read(move |conn| get_rule(conn, id)).await
    }

    async fn catalog_rules(&self, page: PageRequest) -> Result<Page<CatalogRule>> {
        self.db
            .read(move |conn| {
                Where::default().page(
                    conn,
                    RULE_COLUMNS,
                    "catalog_rules",
                    "created_at, id",
                    page,
                    rule_from_row,
                )
            })
            .await
    }

    async fn update_catalog_rule(
        &self,
        id: Uuid,
        edit: Edit<CatalogRule>,
        emit: Option<Emit<CatalogRule>>,
    ) -> Result<Option<CatalogRule>> {
        self.db
            .write(move |conn| {
                let Some(mut rule) = get_rule(conn, id)? else {
                    return Ok(None);
                };
                edit(&mut rule)?;
                save_rule(conn, &rule, false)?;
                if let Some(emit) = emit {
                    crate::outbox::write(conn, &emit(&rule))?;
                }
                Ok(Some(rule))
            })
            .await
    }

    async fn delete_catalog_rule(&self, id: Uuid, events: Vec<Event>) -> Result<bool> {
        self.db
            .write(move |conn| {
                let deleted = delete(conn, "DELETE FROM catalog_rules WHERE id = ?1", &[id])?;
                if deleted {
                    crate::outbox::write(conn, &events)?;
                }
                Ok(deleted)
            })
            .await
    }

    async fn shopper_catalogs(&self) -> Result<(Vec<CatalogRule>, Vec<PublishedCatalog>)> {
        self.db
            .read(move |conn| {
                let rules = all(
                    conn,
                    &format!("SELECT {RULE_COLUMNS} FROM catalog_rules ORDER BY created_at, id"),
                    [],
                    rule_from_row,
                )?;
                let published = all(
                    conn,
                    "SELECT r.id, r.catalog_id, r.published_at, r.total_products, r.total_nodes, c.created_at
                     FROM catalog_releases r JOIN catalogs c ON c.id = r.catalog_id
                     WHERE r.id = (SELECT id FROM catalog_releases WHERE catalog_id = r.catalog_id
                                   ORDER BY published_at DESC, id DESC LIMIT 1)
                     ORDER BY c.created_at, c.id",
                    [],
                    |row| {
                        Ok(PublishedCatalog {
                            catalog_id: uuid_at(row, 1)?,
                            catalog_created_at: row.get(5)?,
                            release: release_from_row(row)?,
                        })
                    },
                )?;
                Ok((rules, published))
            })
            .await
    }
}
