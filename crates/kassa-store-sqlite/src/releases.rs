use async_trait::async_trait;
use kassa_core::catalog::{Catalog, PrioritizedPricebook};
use kassa_core::catalog_rule::CatalogRule;
use kassa_core::integrations::{Emit, Event};
use kassa_core::query::{Page, PageRequest};
use kassa_core::release::{
    PublishedCatalog, RELEASES_KEPT, Release, ReleaseSource, Snapshot, SnapshotDocument,
};
use kassa_core::store::{Edit, ReleaseStore};
use kassa_core::{Error, Result};
use rusqlite::{Connection, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::catalog::{
    HIERARCHY_COLUMNS, MANY_PRODUCT_COLUMNS, NODE_COLUMNS, PRICE_COLUMNS, delete, hierarchy_from_row,
    json_at, node_from_row, one, price_from_row, product_from_row, to_json, uuid_at,
};
use crate::db::{Db, DbResult, foreign_key_violation};
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

/// The most a snapshot part holds (see migration 0021): about a millisecond of the writer each.
pub(crate) const PART_BYTES: usize = 1 << 20;

/// Writes `snapshot` in parts, a write each, then the release row (and its `events`) with the
/// deletion of its catalog's releases beyond the newest [`RELEASES_KEPT`], then deletes those releases' parts,
/// a write each: the writer is never held for more than a part, so carts and checkouts go on
/// between them. Readers never see a partial release: its row comes last, and a release's
/// parts outlive its row.
async fn publish_in_parts(
    db: &Db,
    release: Release,
    snapshot: SnapshotDocument,
    events: Vec<Event>,
) -> Result<Release> {
    let document = snapshot.into_json().into_bytes();
    for (seq, part) in document.chunks(PART_BYTES).enumerate() {
        let (id, part) = (release.id.to_string(), part.to_vec());
        let written = db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO catalog_release_parts (release_id, seq, body) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![id, seq as i64, part])?;
                Ok(())
            })
            .await;
        if let Err(e) = written {
            delete_parts(db, vec![release.id]).await?;
            return Err(e);
        }
    }
    let id = release.id;
    let stored = db
        .write(move |conn| {
            let catalog = release.catalog_id.to_string();
            conn.prepare_cached(
                "INSERT INTO catalog_releases (id, catalog_id, published_at, total_products, total_nodes)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                release.id.to_string(),
                catalog,
                release.published_at,
                release.total_products,
                release.total_nodes,
            ])
            .map_err(|e| {
                if foreign_key_violation(&e) {
                    Error::not_found("Catalog not found", "No catalog with this id").into()
                } else {
                    crate::db::DbError::from(e)
                }
            })?;
            let superseded = all(
                conn,
                "DELETE FROM catalog_releases WHERE catalog_id = ?1 AND id NOT IN (
                     SELECT id FROM catalog_releases WHERE catalog_id = ?1
                     ORDER BY published_at DESC, id DESC LIMIT ?2)
                 RETURNING id",
                params![catalog, RELEASES_KEPT as i64],
                |r| uuid_at(r, 0),
            )?;
            crate::outbox::write(conn, &events)?;
            Ok((release, superseded))
        })
        .await;
    match stored {
        Ok((release, superseded)) => {
            delete_parts(db, superseded).await?;
            Ok(release)
        }
        Err(e) => {
            delete_parts(db, vec![id]).await?;
            Err(e)
        }
    }
}

/// Deletes the parts a publish that crashed left behind: parts of a release that has no row and
/// whose publish began more than an hour ago (a release id is a UUIDv7, stamped when its publish
/// began), so that a publish under way in another process is never touched.
pub(crate) async fn delete_abandoned_parts(db: &Db) -> Result<()> {
    let orphans = db
        .read(|conn| {
            all(
                conn,
                "SELECT DISTINCT release_id FROM catalog_release_parts
                 WHERE release_id NOT IN (SELECT id FROM catalog_releases)",
                [],
                |r| uuid_at(r, 0),
            )
        })
        .await?;
    let hour_ago = kassa_core::time::now_millis() - 3_600_000;
    let abandoned = orphans
        .into_iter()
        .filter(|id| {
            id.get_timestamp()
                .is_none_or(|t| (t.to_unix().0 as i64) * 1000 < hour_ago)
        })
        .collect();
    delete_parts(db, abandoned).await
}

/// Deletes the snapshot parts of `releases` (whose rows are gone or were never written), a part
/// per write.
async fn delete_parts(db: &Db, releases: Vec<Uuid>) -> Result<()> {
    for release in releases {
        let id = release.to_string();
        loop {
            let id = id.clone();
            let deleted = db
                .write(move |conn| {
                    Ok(conn
                        .prepare_cached(
                            "DELETE FROM catalog_release_parts WHERE rowid =
                                 (SELECT rowid FROM catalog_release_parts WHERE release_id = ?1 LIMIT 1)",
                        )?
                        .execute([id])?)
                })
                .await?;
            if deleted == 0 {
                break;
            }
        }
    }
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
    // The placed products and their children.
    let published = format!("status = 'live' AND (id IN ({placed}) OR parent_id IN ({placed}))");
    let products = all(
        conn,
        &format!("SELECT {MANY_PRODUCT_COLUMNS} FROM products WHERE {published}"),
        [&id],
        product_from_row,
    )?;
    let prices = all(
        conn,
        &format!(
            "SELECT {PRICE_COLUMNS} FROM prices
             WHERE pricebook_id IN (SELECT pricebook_id FROM catalog_pricebooks WHERE catalog_id = ?1)
               AND sku IN (SELECT sku FROM products WHERE {published})"
        ),
        [&id],
        price_from_row,
    )?;
    let product_variations = crate::variations::attachments(conn, &placed, &[&id])?;
    let variations = crate::variations::trees(
        conn,
        &format!("SELECT variation_id FROM product_variations WHERE product_id IN ({placed})"),
        &[&id],
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
        product_variations,
        variations,
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
        let (deleted, releases) = self
            .db
            .write(move |conn| {
                // Its releases go with it (a cascade); their parts after, a write each.
                let releases = all(
                    conn,
                    "SELECT id FROM catalog_releases WHERE catalog_id = ?1",
                    [id.to_string()],
                    |r| uuid_at(r, 0),
                )?;
                Ok((
                    delete(conn, "DELETE FROM catalogs WHERE id = ?1", &[id])?,
                    releases,
                ))
            })
            .await?;
        delete_parts(&self.db, releases).await?;
        Ok(deleted)
    }

    async fn release_source(&self, catalog_id: Uuid) -> Result<Option<ReleaseSource>> {
        // Seconds for a large catalog: at the lowest priority, off the shared readers.
        self.db
            .read_in_background(move |conn| release_source(conn, catalog_id))
            .await
    }

    async fn publish_release(
        &self,
        release: Release,
        snapshot: SnapshotDocument,
        events: Vec<Event>,
    ) -> Result<Release> {
        // A task of its own: a publish begun is finished even if its request goes away, so no
        // parts are left behind.
        let db = self.db.clone();
        kassa_core::context::spawn(async move { publish_in_parts(&db, release, snapshot, events).await })
            .await
            .map_err(Error::internal)?
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
                let id = id.to_string();
                if one(
                    conn,
                    "SELECT 1 FROM catalog_releases WHERE id = ?1",
                    [&id],
                    |_| Ok(()),
                )?
                .is_none()
                {
                    return Ok(None);
                }
                // Sized first: grown by doubling, a 60 MB snapshot would pass through copies
                // of up to 96 MB on its way (memory the allocator keeps a while after).
                let size = one(
                    conn,
                    "SELECT coalesce(sum(length(body)), 0) FROM catalog_release_parts WHERE release_id = ?1",
                    [&id],
                    |r| r.get::<_, i64>(0),
                )?
                .unwrap_or(0);
                let mut document = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                let mut parts = conn.prepare_cached(
                    "SELECT body FROM catalog_release_parts WHERE release_id = ?1 ORDER BY seq",
                )?;
                let mut rows = parts.query([&id])?;
                while let Some(row) = rows.next()? {
                    document.extend_from_slice(row.get_ref(0)?.as_bytes().map_err(rusqlite::Error::from)?);
                }
                drop(rows);
                // The parts just passed through this reader's page cache (8 MiB of them stay
                // there otherwise, pages no request will read again).
                let _ = conn.release_memory();
                serde_json::from_slice(&document)
                    .map(Some)
                    .map_err(|e| Error::internal(format!("a release snapshot is unreadable: {e}")).into())
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

#[cfg(test)]
mod tests {
    use kassa_core::store::Store;

    use super::*;

    async fn store() -> SqliteStore {
        let dir = std::env::temp_dir().join(format!("kassa-parts-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(&dir.join("kassa.db")).unwrap();
        store.migrate().await.unwrap();
        store
    }

    async fn parts_of(store: &SqliteStore, release: Uuid) -> i64 {
        store
            .db
            .read(move |conn| {
                Ok(conn.query_row(
                    "SELECT count(*) FROM catalog_release_parts WHERE release_id = ?1",
                    [release.to_string()],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap()
    }

    /// A snapshot of about `bytes` of JSON (its catalog name makes up the size).
    fn snapshot(catalog_id: Uuid, bytes: usize) -> Snapshot {
        Snapshot {
            catalog_id,
            catalog_name: "é".repeat(bytes / 2),
            hierarchies: Vec::new(),
            nodes: Vec::new(),
            products: Vec::new(),
            pricebooks: Vec::new(),
            files: Vec::new(),
        }
    }

    async fn big_catalog(store: &SqliteStore) -> Catalog {
        store
            .create_catalog(Catalog {
                id: Uuid::new_v4(),
                name: "Big".into(),
                description: None,
                hierarchy_ids: Vec::new(),
                pricebooks: Vec::new(),
                created_at: 1,
                updated_at: 1,
            })
            .await
            .unwrap()
    }

    fn release(catalog_id: Uuid, published_at: i64) -> Release {
        Release {
            id: kassa_core::ids::new_id(),
            catalog_id,
            published_at,
            total_products: 0,
            total_nodes: 0,
        }
    }

    #[tokio::test]
    async fn a_large_snapshot_is_stored_in_parts_read_back_whole_and_deleted_with_its_release() {
        let store = store().await;
        let catalog = big_catalog(&store).await;
        // Two and a half parts, split inside two-byte characters.
        let big = snapshot(catalog.id, PART_BYTES * 5 / 2 + 1);
        let first = release(catalog.id, 1);
        store
            .publish_release(first.clone(), big.to_document(), Vec::new())
            .await
            .unwrap();
        assert_eq!(parts_of(&store, first.id).await, 3);
        assert_eq!(store.release_snapshot(first.id).await.unwrap(), Some(big));

        // Three more releases: the first is superseded, and its parts go with it.
        let mut newer = Vec::new();
        for at in 2..=4 {
            let r = release(catalog.id, at);
            store
                .publish_release(r.clone(), snapshot(catalog.id, 10).to_document(), Vec::new())
                .await
                .unwrap();
            newer.push(r.id);
        }
        assert_eq!(store.release_snapshot(first.id).await.unwrap(), None);
        assert_eq!(parts_of(&store, first.id).await, 0);
        assert_eq!(parts_of(&store, newer[2]).await, 1);

        // A publish to a catalog that is gone stores nothing.
        let orphan = release(Uuid::new_v4(), 5);
        assert!(
            store
                .publish_release(
                    orphan.clone(),
                    snapshot(orphan.catalog_id, 10).to_document(),
                    Vec::new()
                )
                .await
                .is_err()
        );
        assert_eq!(parts_of(&store, orphan.id).await, 0);

        // Deleting the catalog deletes its releases' parts.
        assert!(store.delete_catalog(catalog.id).await.unwrap());
        for id in newer {
            assert_eq!(parts_of(&store, id).await, 0);
        }
    }

    #[tokio::test]
    async fn a_large_snapshot_goes_through_a_fixture_whole_and_comes_back_in_parts() {
        let source = store().await;
        let catalog = big_catalog(&source).await;
        let big = snapshot(catalog.id, PART_BYTES * 5 / 2 + 1);
        let published = release(catalog.id, 1);
        source
            .publish_release(published.clone(), big.to_document(), Vec::new())
            .await
            .unwrap();
        let fixture = source.export().await.unwrap();
        let row = &fixture.tables["catalog_releases"][0];
        assert_eq!(
            row["snapshot"].as_str().unwrap().len(),
            big.to_document().into_json().len()
        );

        let copy = store().await;
        copy.import(fixture.clone()).await.unwrap();
        assert_eq!(parts_of(&copy, published.id).await, 3);
        assert_eq!(copy.release_snapshot(published.id).await.unwrap(), Some(big));
        assert_eq!(copy.export().await.unwrap(), fixture);
    }
}
