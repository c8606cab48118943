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
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use crate::catalog::{
    HIERARCHY_COLUMNS, MANY_PRODUCT_COLUMNS, NODE_COLUMNS, PRICE_COLUMNS, delete, hierarchy_from_row, json,
    lock, node_from_row, price_from_row, product_from_row, select_one, to_json,
};
use crate::files::{FILE_COLUMNS, file_from_row};
use crate::list::Where;
use crate::{PgStore, foreign_key_violation, sql_error};

const CATALOG_COLUMNS: &str = "id, name, description, created_at, updated_at";
const RELEASE_COLUMNS: &str = "id, catalog_id, published_at, total_products, total_nodes";
const RULE_COLUMNS: &str = "id, name, description, catalog_id, account_ids::text, customer_ids::text, \
    channels::text, tags::text, schedules::text, created_at, updated_at";
/// The hierarchies of catalog `$1`.
const CATALOG_HIERARCHIES: &str = "SELECT hierarchy_id FROM catalog_hierarchies WHERE catalog_id = $1";

fn catalog_from_row(row: &PgRow) -> Catalog {
    Catalog {
        id: row.get(0),
        name: row.get(1),
        description: row.get(2),
        hierarchy_ids: Vec::new(),
        pricebooks: Vec::new(),
        created_at: row.get(3),
        updated_at: row.get(4),
    }
}

fn release_from_row(row: &PgRow) -> Release {
    Release {
        id: row.get(0),
        catalog_id: row.get(1),
        published_at: row.get(2),
        total_products: row.get(3),
        total_nodes: row.get(4),
    }
}

fn rule_from_row(row: &PgRow) -> CatalogRule {
    CatalogRule {
        id: row.get(0),
        name: row.get(1),
        description: row.get(2),
        catalog_id: row.get(3),
        account_ids: json(row.get::<&str, _>(4)),
        customer_ids: json(row.get::<&str, _>(5)),
        channels: json(row.get::<&str, _>(6)),
        tags: json(row.get::<&str, _>(7)),
        schedules: json(row.get::<&str, _>(8)),
        created_at: row.get(9),
        updated_at: row.get(10),
    }
}

/// Every row `sql` finds with the catalog id bound as `$1`.
async fn all<T>(db: &mut PgConnection, sql: String, id: Uuid, map: fn(&PgRow) -> T) -> Result<Vec<T>> {
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_all(db)
        .await
        .map_err(sql_error)?;
    Ok(rows.iter().map(map).collect())
}

/// Fills in the catalog's hierarchies and price books.
async fn with_parts(db: &mut PgConnection, mut c: Catalog) -> Result<Catalog> {
    c.hierarchy_ids = sqlx::query_scalar(
        "SELECT hierarchy_id FROM catalog_hierarchies WHERE catalog_id = $1 ORDER BY position",
    )
    .bind(c.id)
    .fetch_all(&mut *db)
    .await
    .map_err(sql_error)?;
    c.pricebooks = sqlx::query(
        "SELECT pricebook_id, priority FROM catalog_pricebooks WHERE catalog_id = $1 ORDER BY position",
    )
    .bind(c.id)
    .fetch_all(&mut *db)
    .await
    .map_err(sql_error)?
    .iter()
    .map(|r| PrioritizedPricebook {
        id: r.get(0),
        priority: r.get(1),
    })
    .collect();
    Ok(c)
}

async fn get_catalog(db: &mut PgConnection, id: Uuid, for_update: bool) -> Result<Option<Catalog>> {
    let sql = format!(
        "SELECT {CATALOG_COLUMNS} FROM catalogs WHERE id = $1{}",
        lock(for_update)
    );
    match select_one(&mut *db, sql, &[id], catalog_from_row).await? {
        Some(c) => Ok(Some(with_parts(db, c).await?)),
        None => Ok(None),
    }
}

fn missing(source: &str, what: &str, id: Uuid) -> Error {
    Error::field(source, "Not Found", format!("There is no {what} {id}"))
}

/// The first of `ids` with no row in `table`; the found rows stay locked against deletion.
async fn first_missing(db: &mut PgConnection, table: &'static str, ids: &[Uuid]) -> Result<Option<Uuid>> {
    let sql = format!("SELECT id FROM {table} WHERE id = ANY($1) FOR SHARE");
    let found: Vec<Uuid> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(ids)
        .fetch_all(db)
        .await
        .map_err(sql_error)?;
    Ok(ids.iter().find(|id| !found.contains(id)).copied())
}

async fn save_catalog(db: &mut PgConnection, c: &Catalog, insert: bool) -> Result<()> {
    if let Some(id) = first_missing(db, "hierarchies", &c.hierarchy_ids).await? {
        return Err(missing("data.attributes.hierarchy_ids", "hierarchy", id));
    }
    let books: Vec<Uuid> = c.pricebooks.iter().map(|b| b.id).collect();
    if let Some(id) = first_missing(db, "pricebooks", &books).await? {
        return Err(missing("data.attributes.pricebook_ids", "price book", id));
    }
    let sql = if insert {
        "INSERT INTO catalogs (id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)"
    } else {
        "UPDATE catalogs SET name = $2, description = $3, created_at = $4, updated_at = $5 WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(c.id)
        .bind(&c.name)
        .bind(&c.description)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&mut *db)
        .await
        .map_err(sql_error)?;
    for sql in [
        "DELETE FROM catalog_hierarchies WHERE catalog_id = $1",
        "DELETE FROM catalog_pricebooks WHERE catalog_id = $1",
    ] {
        sqlx::query(sql)
            .bind(c.id)
            .execute(&mut *db)
            .await
            .map_err(sql_error)?;
    }
    let positions: Vec<i64> = (0..c.hierarchy_ids.len() as i64).collect();
    sqlx::query(
        "INSERT INTO catalog_hierarchies (catalog_id, hierarchy_id, position)
         SELECT $1, h, p FROM unnest($2::uuid[], $3::bigint[]) AS t (h, p)",
    )
    .bind(c.id)
    .bind(&c.hierarchy_ids)
    .bind(&positions)
    .execute(&mut *db)
    .await
    .map_err(sql_error)?;
    let priorities: Vec<i64> = c.pricebooks.iter().map(|b| b.priority).collect();
    let positions: Vec<i64> = (0..books.len() as i64).collect();
    sqlx::query(
        "INSERT INTO catalog_pricebooks (catalog_id, pricebook_id, priority, position)
         SELECT $1, b, pr, p FROM unnest($2::uuid[], $3::bigint[], $4::bigint[]) AS t (b, pr, p)",
    )
    .bind(c.id)
    .bind(&books)
    .bind(&priorities)
    .bind(&positions)
    .execute(&mut *db)
    .await
    .map_err(sql_error)?;
    Ok(())
}

async fn get_rule(db: &mut PgConnection, id: Uuid, for_update: bool) -> Result<Option<CatalogRule>> {
    let sql = format!(
        "SELECT {RULE_COLUMNS} FROM catalog_rules WHERE id = $1{}",
        lock(for_update)
    );
    select_one(db, sql, &[id], rule_from_row).await
}

async fn save_rule(db: &mut PgConnection, r: &CatalogRule, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO catalog_rules (id, name, description, catalog_id, account_ids, customer_ids, channels,
             tags, schedules, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11)"
    } else {
        "UPDATE catalog_rules SET name = $2, description = $3, catalog_id = $4, account_ids = $5::jsonb,
             customer_ids = $6::jsonb, channels = $7::jsonb, tags = $8::jsonb, schedules = $9::jsonb,
             created_at = $10, updated_at = $11
         WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(r.id)
        .bind(&r.name)
        .bind(&r.description)
        .bind(r.catalog_id)
        .bind(to_json(&r.account_ids))
        .bind(to_json(&r.customer_ids))
        .bind(to_json(&r.channels))
        .bind(to_json(&r.tags))
        .bind(to_json(&r.schedules))
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(db)
        .await
        .map_err(|e| {
            if foreign_key_violation(&e) {
                missing("data.attributes.catalog_id", "catalog", r.catalog_id)
            } else {
                sql_error(e)
            }
        })?;
    Ok(())
}

async fn release_source(db: &mut PgConnection, catalog_id: Uuid) -> Result<Option<ReleaseSource>> {
    let Some(catalog) = get_catalog(db, catalog_id, false).await? else {
        return Ok(None);
    };
    let nodes_of_catalog = format!("SELECT id FROM nodes WHERE hierarchy_id IN ({CATALOG_HIERARCHIES})");
    let placed = format!("SELECT product_id FROM node_products WHERE node_id IN ({nodes_of_catalog})");
    let hierarchies = all(
        db,
        format!("SELECT {HIERARCHY_COLUMNS} FROM hierarchies WHERE id IN ({CATALOG_HIERARCHIES})"),
        catalog_id,
        hierarchy_from_row,
    )
    .await?;
    let nodes = all(
        db,
        format!("SELECT {NODE_COLUMNS} FROM nodes WHERE hierarchy_id IN ({CATALOG_HIERARCHIES})"),
        catalog_id,
        node_from_row,
    )
    .await?;
    let placements = all(
        db,
        format!(
            "SELECT node_id, product_id FROM node_products WHERE node_id IN ({nodes_of_catalog})
             ORDER BY created_at, node_id, product_id"
        ),
        catalog_id,
        |r| (r.get(0), r.get(1)),
    )
    .await?;
    // The placed products and their children.
    let published = format!("status = 'live' AND (id IN ({placed}) OR parent_id IN ({placed}))");
    let products = all(
        db,
        format!("SELECT {MANY_PRODUCT_COLUMNS} FROM products WHERE {published}"),
        catalog_id,
        product_from_row,
    )
    .await?;
    let prices = all(
        db,
        format!(
            "SELECT {PRICE_COLUMNS} FROM prices
             WHERE pricebook_id IN (SELECT pricebook_id FROM catalog_pricebooks WHERE catalog_id = $1)
               AND sku IN (SELECT sku FROM products WHERE {published})"
        ),
        catalog_id,
        price_from_row,
    )
    .await?;
    let product_variations = crate::variations::attachments(db, &placed, &[catalog_id]).await?;
    let variations = crate::variations::trees(
        db,
        &format!("SELECT variation_id FROM product_variations WHERE product_id IN ({placed})"),
        &[catalog_id],
    )
    .await?;
    let live = format!("SELECT id FROM products WHERE status = 'live' AND id IN ({placed})");
    let files = all(
        db,
        format!(
            "SELECT {FILE_COLUMNS} FROM files
             WHERE id IN (SELECT main_image_id FROM products WHERE id IN ({live}))
                OR id IN (SELECT file_id FROM product_files WHERE product_id IN ({live}))"
        ),
        catalog_id,
        file_from_row,
    )
    .await?;
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
impl ReleaseStore for PgStore {
    async fn create_catalog(&self, catalog: Catalog) -> Result<Catalog> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        save_catalog(&mut tx, &catalog, true).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(catalog)
    }

    async fn catalog(&self, id: Uuid) -> Result<Option<Catalog>> {
        let mut conn = self.pool.acquire().await.map_err(sql_error)?;
        get_catalog(&mut conn, id, false).await
    }

    async fn catalogs(&self, page: PageRequest) -> Result<Page<Catalog>> {
        let page = Where::default()
            .page(
                &self.pool,
                CATALOG_COLUMNS,
                "catalogs",
                "created_at, id",
                page,
                catalog_from_row,
            )
            .await?;
        let mut conn = self.pool.acquire().await.map_err(sql_error)?;
        let mut items = Vec::with_capacity(page.items.len());
        for c in page.items {
            items.push(with_parts(&mut conn, c).await?);
        }
        Ok(Page {
            items,
            total: page.total,
        })
    }

    async fn update_catalog(&self, id: Uuid, edit: Edit<Catalog>) -> Result<Option<Catalog>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let Some(mut catalog) = get_catalog(&mut tx, id, true).await? else {
            return Ok(None);
        };
        edit(&mut catalog)?;
        save_catalog(&mut tx, &catalog, false).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(Some(catalog))
    }

    async fn delete_catalog(&self, id: Uuid) -> Result<bool> {
        delete(&self.pool, "DELETE FROM catalogs WHERE id = $1", &[id])
            .await
            .map_err(sql_error)
    }

    async fn release_source(&self, catalog_id: Uuid) -> Result<Option<ReleaseSource>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        let source = release_source(&mut tx, catalog_id).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(source)
    }

    async fn publish_release(
        &self,
        release: Release,
        snapshot: SnapshotDocument,
        events: Vec<Event>,
    ) -> Result<Release> {
        let document = snapshot.into_json();
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        sqlx::query(
            "INSERT INTO catalog_releases (id, catalog_id, published_at, total_products, total_nodes, snapshot)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(release.id)
        .bind(release.catalog_id)
        .bind(release.published_at)
        .bind(release.total_products)
        .bind(release.total_nodes)
        .bind(document)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if foreign_key_violation(&e) {
                Error::not_found("Catalog not found", "No catalog with this id")
            } else {
                sql_error(e)
            }
        })?;
        sqlx::query(
            "DELETE FROM catalog_releases WHERE catalog_id = $1 AND id NOT IN (
                 SELECT id FROM catalog_releases WHERE catalog_id = $1
                 ORDER BY published_at DESC, id DESC LIMIT $2)",
        )
        .bind(release.catalog_id)
        .bind(RELEASES_KEPT as i64)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        crate::outbox::write(&mut tx, &events).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(release)
    }

    async fn releases(&self, catalog_id: Uuid) -> Result<Vec<Release>> {
        let mut conn = self.pool.acquire().await.map_err(sql_error)?;
        all(
            &mut conn,
            format!(
                "SELECT {RELEASE_COLUMNS} FROM catalog_releases WHERE catalog_id = $1
                 ORDER BY published_at DESC, id DESC"
            ),
            catalog_id,
            release_from_row,
        )
        .await
    }

    async fn release(&self, catalog_id: Uuid, id: Uuid) -> Result<Option<Release>> {
        let sql = format!("SELECT {RELEASE_COLUMNS} FROM catalog_releases WHERE id = $1 AND catalog_id = $2");
        select_one(&self.pool, sql, &[id, catalog_id], release_from_row).await
    }

    async fn release_snapshot(&self, id: Uuid) -> Result<Option<Snapshot>> {
        let text: Option<String> = sqlx::query_scalar("SELECT snapshot FROM catalog_releases WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(sql_error)?;
        let Some(text) = text else { return Ok(None) };
        // Seconds of CPU for a large catalog: off the runtime's threads.
        tokio::task::spawn_blocking(move || serde_json::from_str(&text).map_err(Error::internal))
            .await
            .map_err(Error::internal)?
            .map(Some)
    }

    async fn create_catalog_rule(&self, rule: CatalogRule, events: Vec<Event>) -> Result<CatalogRule> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        save_rule(&mut tx, &rule, true).await?;
        crate::outbox::write(&mut tx, &events).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(rule)
    }

    async fn catalog_rule(&self, id: Uuid) -> Result<Option<CatalogRule>> {
        let mut conn = self.pool.acquire().await.map_err(sql_error)?;
        get_rule(&mut conn, id, false).await
    }

    async fn catalog_rules(&self, page: PageRequest) -> Result<Page<CatalogRule>> {
        Where::default()
            .page(
                &self.pool,
                RULE_COLUMNS,
                "catalog_rules",
                "created_at, id",
                page,
                rule_from_row,
            )
            .await
    }

    async fn update_catalog_rule(
        &self,
        id: Uuid,
        edit: Edit<CatalogRule>,
        emit: Option<Emit<CatalogRule>>,
    ) -> Result<Option<CatalogRule>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let Some(mut rule) = get_rule(&mut tx, id, true).await? else {
            return Ok(None);
        };
        edit(&mut rule)?;
        save_rule(&mut tx, &rule, false).await?;
        if let Some(emit) = emit {
            crate::outbox::write(&mut tx, &emit(&rule)).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(Some(rule))
    }

    async fn delete_catalog_rule(&self, id: Uuid, events: Vec<Event>) -> Result<bool> {
        let delete = sqlx::query("DELETE FROM catalog_rules WHERE id = $1").bind(id);
        crate::outbox::execute_emitting(&self.pool, delete, &events).await
    }

    async fn shopper_catalogs(&self) -> Result<(Vec<CatalogRule>, Vec<PublishedCatalog>)> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let rules = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM catalog_rules ORDER BY created_at, id"
        )))
        .fetch_all(&mut *tx)
        .await
        .map_err(sql_error)?
        .iter()
        .map(rule_from_row)
        .collect();
        let published = sqlx::query(
            "SELECT DISTINCT ON (r.catalog_id)
                    r.id, r.catalog_id, r.published_at, r.total_products, r.total_nodes, c.created_at
             FROM catalog_releases r JOIN catalogs c ON c.id = r.catalog_id
             ORDER BY r.catalog_id, r.published_at DESC, r.id DESC",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(sql_error)?
        .iter()
        .map(|row| PublishedCatalog {
            catalog_id: row.get(1),
            catalog_created_at: row.get(5),
            release: release_from_row(row),
        })
        .collect();
        tx.commit().await.map_err(sql_error)?;
        Ok((rules, published))
    }
}
