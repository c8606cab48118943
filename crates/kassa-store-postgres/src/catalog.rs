use async_trait::async_trait;
use kassa_core::catalog::{
    CommodityType, Extensions, Hierarchy, Node, Pricebook, Product, ProductPrice, ProductStatus,
};
use kassa_core::conflicts;
use kassa_core::pricing::PriceSheet;
use kassa_core::query::{Filter, Page, PageRequest};
use kassa_core::store::{CatalogStore, Edit, ProductDeletion};
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Executor, PgConnection, Postgres, Row};
use uuid::Uuid;

use crate::list::Where;
use crate::{PgStore, conflict_on, foreign_key_violation, sql_error};

/// A product's columns, ending with `$is_parent`: whether children are built from it.
macro_rules! product_columns {
    ($is_parent:literal) => {
        concat!(
            "products.id, products.name, products.sku, products.slug, products.description, \
    products.status, products.commodity_type, products.upc_ean, products.mpn, products.external_ref, \
    products.extensions::text, products.created_at, products.updated_at, products.main_image_id, \
    ARRAY(SELECT product_files.file_id FROM product_files WHERE product_files.product_id = products.id \
          ORDER BY product_files.position), \
    products.parent_id, products.child_options, products.components::text, \
            ",
            $is_parent
        )
    };
}
/// A product's columns for reads of a few products: one probe of the children index each.
pub(crate) const PRODUCT_COLUMNS: &str =
    product_columns!("EXISTS (SELECT 1 FROM products AS children WHERE children.parent_id = products.id)");
/// A product's columns for reads of many (a publish): the parents' ids are read once and looked
/// up for each product, rather than a probe per product.
pub(crate) const MANY_PRODUCT_COLUMNS: &str = product_columns!(
    "products.id IN (SELECT parent_id FROM products AS children WHERE children.parent_id IS NOT NULL)"
);
const PRODUCT_FILTERS: &[(&str, &str)] = &[
    ("name", "name"),
    ("sku", "sku"),
    ("slug", "slug"),
    ("status", "status"),
    ("commodity_type", "commodity_type"),
    ("upc_ean", "upc_ean"),
    ("external_ref", "external_ref"),
];
pub(crate) const HIERARCHY_COLUMNS: &str = "id, name, description, slug, created_at, updated_at";
pub(crate) const NODE_COLUMNS: &str =
    "id, hierarchy_id, parent_id, name, description, slug, sort_order, created_at, updated_at";
const PRICEBOOK_COLUMNS: &str = "id, name, description, external_ref, created_at, updated_at";
pub(crate) const PRICE_COLUMNS: &str =
    "id, pricebook_id, sku, external_ref, currencies::text, sales::text, created_at, updated_at";

pub(crate) fn json<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn product_from_row(row: &PgRow) -> Product {
    let extensions: Option<String> = row.get(10);
    Product {
        id: row.get(0),
        name: row.get(1),
        sku: row.get(2),
        slug: row.get(3),
        description: row.get(4),
        // Only kassa writes these columns, from the enums; anything else would be hidden.
        status: ProductStatus::parse(row.get(5)).unwrap_or(ProductStatus::Draft),
        commodity_type: CommodityType::parse(row.get(6)).unwrap_or(CommodityType::Physical),
        upc_ean: row.get(7),
        mpn: row.get(8),
        external_ref: row.get(9),
        extensions: extensions.as_deref().and_then(Extensions::parse),
        created_at: row.get(11),
        updated_at: row.get(12),
        main_image: row.get(13),
        files: row.get::<Vec<Uuid>, _>(14).into(),
        parent_id: row.get(15),
        child_options: kassa_core::variations::parse_child_key(row.get::<Option<&str>, _>(16)).into(),
        components: row
            .get::<Option<&str>, _>(17)
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default(),
        is_parent: row.get(18),
    }
}

pub(crate) fn hierarchy_from_row(row: &PgRow) -> Hierarchy {
    Hierarchy {
        id: row.get(0),
        name: row.get(1),
        description: row.get(2),
        slug: row.get(3),
        created_at: row.get(4),
        updated_at: row.get(5),
    }
}

pub(crate) fn node_from_row(row: &PgRow) -> Node {
    Node {
        id: row.get(0),
        hierarchy_id: row.get(1),
        parent_id: row.get(2),
        name: row.get(3),
        description: row.get(4),
        slug: row.get(5),
        sort_order: row.get(6),
        created_at: row.get(7),
        updated_at: row.get(8),
    }
}

fn pricebook_from_row(row: &PgRow) -> Pricebook {
    Pricebook {
        id: row.get(0),
        name: row.get(1),
        description: row.get(2),
        external_ref: row.get(3),
        created_at: row.get(4),
        updated_at: row.get(5),
    }
}

pub(crate) fn price_from_row(row: &PgRow) -> ProductPrice {
    ProductPrice {
        id: row.get(0),
        pricebook_id: row.get(1),
        sku: row.get(2),
        external_ref: row.get(3),
        prices: PriceSheet {
            currencies: json(row.get::<&str, _>(4)),
            sales: json(row.get::<&str, _>(5)),
        },
        created_at: row.get(6),
        updated_at: row.get(7),
    }
}

/// The one row `sql` finds with `ids` bound in order.
pub(crate) async fn select_one<'e, T>(
    db: impl Executor<'e, Database = Postgres>,
    sql: String,
    ids: &[Uuid],
    map: fn(&PgRow) -> T,
) -> Result<Option<T>> {
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(*id);
    }
    let row = q.fetch_optional(db).await.map_err(sql_error)?;
    Ok(row.as_ref().map(map))
}

pub(crate) fn lock(for_update: bool) -> &'static str {
    if for_update { " FOR UPDATE" } else { "" }
}

pub(crate) async fn get_product<'e>(
    db: impl Executor<'e, Database = Postgres>,
    id: Uuid,
    for_update: bool,
) -> Result<Option<Product>> {
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1{}",
        lock(for_update)
    );
    select_one(db, sql, &[id], product_from_row).await
}

async fn save_product(db: &mut PgConnection, p: &Product, insert: bool) -> Result<()> {
    write_product(db, p, insert).await.map(|_| ())
}

/// Inserts or updates a product; returns the rows changed (an insert of a child whose parent
/// already has one with its options changes none).
pub(crate) async fn write_product(db: &mut PgConnection, p: &Product, insert: bool) -> Result<u64> {
    let sql = if insert {
        "INSERT INTO products (id, name, sku, slug, description, status, commodity_type, upc_ean, mpn,
             external_ref, extensions, created_at, updated_at, components, parent_id, child_options)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14::jsonb, $15, $16)
         ON CONFLICT (parent_id, child_options) WHERE parent_id IS NOT NULL DO NOTHING"
    } else {
        "UPDATE products SET name = $2, sku = $3, slug = $4, description = $5, status = $6,
             commodity_type = $7, upc_ean = $8, mpn = $9, external_ref = $10, extensions = $11::jsonb,
             created_at = $12, updated_at = $13, components = $14::jsonb
         WHERE id = $1"
    };
    let mut q = sqlx::query(sql)
        .bind(p.id)
        .bind(&p.name)
        .bind(&p.sku)
        .bind(&p.slug)
        .bind(&p.description)
        .bind(p.status.as_str())
        .bind(p.commodity_type.as_str())
        .bind(&p.upc_ean)
        .bind(&p.mpn)
        .bind(&p.external_ref)
        .bind(p.extensions.as_ref().map(|e| e.as_str()))
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(
            p.is_bundle()
                .then(|| serde_json::to_string(&p.components).unwrap_or_default()),
        );
    if insert {
        q = q
            .bind(p.parent_id)
            .bind(kassa_core::variations::child_key_text(&p.child_options));
    }
    let done = q
        .execute(&mut *db)
        .await
        .map_err(|e| conflict_on(e, conflicts::PRODUCT))?;
    // A new product that is not a bundle has no rows to keep; children are never bundles.
    if p.parent_id.is_none() && (p.is_bundle() || !insert) {
        write_bundle_options(db, p).await?;
    }
    Ok(done.rows_affected())
}

/// Keeps `bundle_options` the products a bundle's options name (none for another product).
async fn write_bundle_options(db: &mut PgConnection, p: &Product) -> Result<()> {
    sqlx::query("DELETE FROM bundle_options WHERE bundle_id = $1")
        .bind(p.id)
        .execute(&mut *db)
        .await
        .map_err(sql_error)?;
    let options = kassa_core::bundles::option_ids(&p.components);
    if options.is_empty() {
        return Ok(());
    }
    sqlx::query("INSERT INTO bundle_options (bundle_id, product_id) SELECT $1, unnest($2::uuid[])")
        .bind(p.id)
        .bind(&options)
        .execute(db)
        .await
        .map_err(|e| {
            if foreign_key_violation(&e) {
                return kassa_core::bundles::option_product_gone();
            }
            sql_error(e)
        })?;
    Ok(())
}

/// A bundle that names `product_id` or one of its children as an option: (bundle, product).
async fn bundle_using<'e>(
    db: impl Executor<'e, Database = Postgres>,
    product_id: Uuid,
) -> Result<Option<(Uuid, Uuid)>> {
    sqlx::query_as(
        "SELECT bundle_id, product_id FROM bundle_options
         WHERE product_id = $1 OR product_id IN (SELECT id FROM products WHERE parent_id = $1)
         ORDER BY product_id <> $1, bundle_id LIMIT 1",
    )
    .bind(product_id)
    .fetch_optional(db)
    .await
    .map_err(sql_error)
}

async fn get_hierarchy<'e>(
    db: impl Executor<'e, Database = Postgres>,
    id: Uuid,
    for_update: bool,
) -> Result<Option<Hierarchy>> {
    let sql = format!(
        "SELECT {HIERARCHY_COLUMNS} FROM hierarchies WHERE id = $1{}",
        lock(for_update)
    );
    select_one(db, sql, &[id], hierarchy_from_row).await
}

async fn save_hierarchy(db: &mut PgConnection, h: &Hierarchy, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO hierarchies (id, name, description, slug, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)"
    } else {
        "UPDATE hierarchies SET name = $2, description = $3, slug = $4, created_at = $5, updated_at = $6
         WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(h.id)
        .bind(&h.name)
        .bind(&h.description)
        .bind(&h.slug)
        .bind(h.created_at)
        .bind(h.updated_at)
        .execute(db)
        .await
        .map_err(sql_error)?;
    Ok(())
}

async fn get_node<'e>(
    db: impl Executor<'e, Database = Postgres>,
    hierarchy_id: Uuid,
    id: Uuid,
    for_update: bool,
) -> Result<Option<Node>> {
    let sql = format!(
        "SELECT {NODE_COLUMNS} FROM nodes WHERE id = $1 AND hierarchy_id = $2{}",
        lock(for_update)
    );
    select_one(db, sql, &[id, hierarchy_id], node_from_row).await
}

/// The parent must be a node of the same hierarchy and, for an existing node, not the node
/// itself nor one of its descendants. Moves in a hierarchy are serialized so two concurrent
/// moves cannot make a cycle together.
async fn check_parent(db: &mut PgConnection, node: &Node, existing: bool) -> Result<()> {
    let Some(parent) = node.parent_id else {
        return Ok(());
    };
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('kassa.nodes.' || $1::text))")
        .bind(node.hierarchy_id)
        .execute(&mut *db)
        .await
        .map_err(sql_error)?;
    if get_node(&mut *db, node.hierarchy_id, parent, false)
        .await?
        .is_none()
    {
        return Err(Error::not_found(
            "Parent node not found",
            format!("No node {parent} in this hierarchy"),
        ));
    }
    if existing {
        let cycle = sqlx::query(
            "WITH RECURSIVE sub(id) AS (
                 SELECT $1::uuid UNION SELECT nodes.id FROM nodes JOIN sub ON nodes.parent_id = sub.id)
             SELECT 1 FROM sub WHERE id = $2",
        )
        .bind(node.id)
        .bind(parent)
        .fetch_optional(&mut *db)
        .await
        .map_err(sql_error)?;
        if cycle.is_some() {
            return Err(Error::bad_request(
                "Invalid parent",
                "A node cannot be moved under itself or one of its descendants",
            ));
        }
    }
    Ok(())
}

async fn save_node(db: &mut PgConnection, n: &Node, insert: bool) -> Result<()> {
    check_parent(&mut *db, n, !insert).await?;
    let sql = if insert {
        "INSERT INTO nodes (id, hierarchy_id, parent_id, name, description, slug, sort_order, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    } else {
        "UPDATE nodes SET hierarchy_id = $2, parent_id = $3, name = $4, description = $5, slug = $6,
             sort_order = $7, created_at = $8, updated_at = $9
         WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(n.id)
        .bind(n.hierarchy_id)
        .bind(n.parent_id)
        .bind(&n.name)
        .bind(&n.description)
        .bind(&n.slug)
        .bind(n.sort_order)
        .bind(n.created_at)
        .bind(n.updated_at)
        .execute(db)
        .await
        .map_err(|e| {
            if foreign_key_violation(&e) {
                Error::not_found("Hierarchy not found", "No hierarchy with this id")
            } else {
                conflict_on(e, conflicts::NODE)
            }
        })?;
    Ok(())
}

async fn get_pricebook<'e>(
    db: impl Executor<'e, Database = Postgres>,
    id: Uuid,
    for_update: bool,
) -> Result<Option<Pricebook>> {
    let sql = format!(
        "SELECT {PRICEBOOK_COLUMNS} FROM pricebooks WHERE id = $1{}",
        lock(for_update)
    );
    select_one(db, sql, &[id], pricebook_from_row).await
}

async fn save_pricebook(db: &mut PgConnection, b: &Pricebook, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO pricebooks (id, name, description, external_ref, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)"
    } else {
        "UPDATE pricebooks SET name = $2, description = $3, external_ref = $4, created_at = $5, updated_at = $6
         WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(b.id)
        .bind(&b.name)
        .bind(&b.description)
        .bind(&b.external_ref)
        .bind(b.created_at)
        .bind(b.updated_at)
        .execute(db)
        .await
        .map_err(|e| conflict_on(e, conflicts::PRICEBOOK))?;
    Ok(())
}

async fn get_price<'e>(
    db: impl Executor<'e, Database = Postgres>,
    pricebook_id: Uuid,
    id: Uuid,
    for_update: bool,
) -> Result<Option<ProductPrice>> {
    let sql = format!(
        "SELECT {PRICE_COLUMNS} FROM prices WHERE id = $1 AND pricebook_id = $2{}",
        lock(for_update)
    );
    select_one(db, sql, &[id, pricebook_id], price_from_row).await
}

async fn save_price(db: &mut PgConnection, p: &ProductPrice, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO prices (id, pricebook_id, sku, external_ref, currencies, sales, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8)"
    } else {
        "UPDATE prices SET pricebook_id = $2, sku = $3, external_ref = $4, currencies = $5::jsonb,
             sales = $6::jsonb, created_at = $7, updated_at = $8
         WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(p.id)
        .bind(p.pricebook_id)
        .bind(&p.sku)
        .bind(&p.external_ref)
        .bind(to_json(&p.prices.currencies))
        .bind(to_json(&p.prices.sales))
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(db)
        .await
        .map_err(|e| {
            if foreign_key_violation(&e) {
                Error::not_found("Price book not found", "No price book with this id")
            } else {
                conflict_on(e, conflicts::PRICE)
            }
        })?;
    Ok(())
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

pub(crate) async fn delete(
    pool: &sqlx::PgPool,
    sql: &'static str,
    ids: &[Uuid],
) -> std::result::Result<bool, sqlx::Error> {
    let mut q = sqlx::query(sql);
    for id in ids {
        q = q.bind(*id);
    }
    Ok(q.execute(pool).await?.rows_affected() == 1)
}

/// Load for update, change, save and commit, as one transaction.
macro_rules! edit {
    ($self:ident, $load:ident($($arg:expr),*), $edit:ident, $save:ident) => {{
        let mut tx = $self.pool.begin().await.map_err(sql_error)?;
        let Some(mut record) = $load(&mut *tx, $($arg,)* true).await? else {
            return Ok(None);
        };
        $edit(&mut record)?;
        $save(&mut tx, &record, false).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(Some(record))
    }};
}

/// Insert and commit.
macro_rules! insert {
    ($self:ident, $record:ident, $save:ident) => {{
        let mut tx = $self.pool.begin().await.map_err(sql_error)?;
        $save(&mut tx, &$record, true).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok($record)
    }};
}
pub(crate) use {edit, insert};

#[async_trait]
impl CatalogStore for PgStore {
    async fn create_product(&self, product: Product) -> Result<Product> {
        insert!(self, product, save_product)
    }

    async fn product(&self, id: Uuid) -> Result<Option<Product>> {
        get_product(&self.pool, id, false).await
    }

    async fn products(&self, filters: &[Filter], page: PageRequest) -> Result<Page<Product>> {
        Where::default()
            .filters(filters, PRODUCT_FILTERS)
            .page(
                &self.pool,
                PRODUCT_COLUMNS,
                "products",
                "created_at, id",
                page,
                product_from_row,
            )
            .await
    }

    async fn update_product(&self, id: Uuid, edit: Edit<Product>) -> Result<Option<Product>> {
        edit!(self, get_product(id), edit, save_product)
    }

    async fn delete_product(&self, id: Uuid) -> Result<ProductDeletion> {
        if let Some((bundle, product)) = bundle_using(&self.pool, id).await? {
            return Ok(ProductDeletion::InBundle {
                bundle: Some(bundle),
                product,
            });
        }
        // The read above names the bundle; the foreign key decides: a bundle written after it
        // (its insert holds a key-share lock on the product row) makes the delete fail here.
        match delete(&self.pool, "DELETE FROM products WHERE id = $1", &[id]).await {
            Ok(true) => Ok(ProductDeletion::Deleted),
            Ok(false) => Ok(ProductDeletion::NotFound),
            Err(e) if foreign_key_violation(&e) => {
                let (bundle, product) = bundle_using(&self.pool, id)
                    .await?
                    .map_or((None, id), |(b, p)| (Some(b), p));
                Ok(ProductDeletion::InBundle { bundle, product })
            }
            Err(e) => Err(sql_error(e)),
        }
    }

    async fn create_hierarchy(&self, hierarchy: Hierarchy) -> Result<Hierarchy> {
        insert!(self, hierarchy, save_hierarchy)
    }

    async fn hierarchy(&self, id: Uuid) -> Result<Option<Hierarchy>> {
        get_hierarchy(&self.pool, id, false).await
    }

    async fn hierarchies(&self, page: PageRequest) -> Result<Page<Hierarchy>> {
        Where::default()
            .page(
                &self.pool,
                HIERARCHY_COLUMNS,
                "hierarchies",
                "created_at, id",
                page,
                hierarchy_from_row,
            )
            .await
    }

    async fn update_hierarchy(&self, id: Uuid, edit: Edit<Hierarchy>) -> Result<Option<Hierarchy>> {
        edit!(self, get_hierarchy(id), edit, save_hierarchy)
    }

    async fn delete_hierarchy(&self, id: Uuid) -> Result<bool> {
        delete(&self.pool, "DELETE FROM hierarchies WHERE id = $1", &[id])
            .await
            .map_err(sql_error)
    }

    async fn create_node(&self, node: Node) -> Result<Node> {
        insert!(self, node, save_node)
    }

    async fn node(&self, hierarchy_id: Uuid, id: Uuid) -> Result<Option<Node>> {
        get_node(&self.pool, hierarchy_id, id, false).await
    }

    async fn nodes(&self, hierarchy_id: Uuid, filters: &[Filter], page: PageRequest) -> Result<Page<Node>> {
        Where::default()
            .and_id("hierarchy_id = ?", hierarchy_id)
            .filters(filters, &[("parent_id", "parent_id::text")])
            .page(
                &self.pool,
                NODE_COLUMNS,
                "nodes",
                "created_at, id",
                page,
                node_from_row,
            )
            .await
    }

    async fn update_node(&self, hierarchy_id: Uuid, id: Uuid, edit: Edit<Node>) -> Result<Option<Node>> {
        edit!(self, get_node(hierarchy_id, id), edit, save_node)
    }

    async fn delete_node(&self, hierarchy_id: Uuid, id: Uuid) -> Result<bool> {
        delete(
            &self.pool,
            "DELETE FROM nodes WHERE id = $1 AND hierarchy_id = $2",
            &[id, hierarchy_id],
        )
        .await
        .map_err(sql_error)
    }

    async fn add_node_products(&self, node_id: Uuid, products: Vec<Uuid>, now: Millis) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let found: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM products WHERE id = ANY($1)")
            .bind(&products)
            .fetch_all(&mut *tx)
            .await
            .map_err(sql_error)?;
        if let Some(missing) = products.iter().find(|p| !found.contains(p)) {
            return Err(Error::not_found(
                "Product not found",
                format!("No product {missing}"),
            ));
        }
        sqlx::query(
            "INSERT INTO node_products (node_id, product_id, created_at)
             SELECT $1, p, $3 FROM unnest($2::uuid[]) AS p ON CONFLICT DO NOTHING",
        )
        .bind(node_id)
        .bind(&products)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if foreign_key_violation(&e) {
                Error::not_found("Product not found", "A product was deleted meanwhile")
            } else {
                sql_error(e)
            }
        })?;
        tx.commit().await.map_err(sql_error)
    }

    async fn remove_node_products(&self, node_id: Uuid, products: Vec<Uuid>) -> Result<()> {
        sqlx::query("DELETE FROM node_products WHERE node_id = $1 AND product_id = ANY($2)")
            .bind(node_id)
            .bind(&products)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(())
    }

    async fn node_products(&self, node_id: Uuid, page: PageRequest) -> Result<Page<Product>> {
        Where::default()
            .and_id("node_products.node_id = ?", node_id)
            .page(
                &self.pool,
                PRODUCT_COLUMNS,
                "products JOIN node_products ON node_products.product_id = products.id",
                "node_products.created_at, products.id",
                page,
                product_from_row,
            )
            .await
    }

    async fn create_pricebook(&self, pricebook: Pricebook) -> Result<Pricebook> {
        insert!(self, pricebook, save_pricebook)
    }

    async fn pricebook(&self, id: Uuid) -> Result<Option<Pricebook>> {
        get_pricebook(&self.pool, id, false).await
    }

    async fn pricebooks(&self, filters: &[Filter], page: PageRequest) -> Result<Page<Pricebook>> {
        Where::default()
            .filters(filters, &[("external_ref", "external_ref")])
            .page(
                &self.pool,
                PRICEBOOK_COLUMNS,
                "pricebooks",
                "created_at, id",
                page,
                pricebook_from_row,
            )
            .await
    }

    async fn update_pricebook(&self, id: Uuid, edit: Edit<Pricebook>) -> Result<Option<Pricebook>> {
        edit!(self, get_pricebook(id), edit, save_pricebook)
    }

    async fn delete_pricebook(&self, id: Uuid) -> Result<bool> {
        delete(&self.pool, "DELETE FROM pricebooks WHERE id = $1", &[id])
            .await
            .map_err(|e| {
                if foreign_key_violation(&e) {
                    Error::Conflict(conflicts::PRICEBOOK_IN_USE.into())
                } else {
                    sql_error(e)
                }
            })
    }

    async fn create_price(&self, price: ProductPrice) -> Result<ProductPrice> {
        insert!(self, price, save_price)
    }

    async fn price(&self, pricebook_id: Uuid, id: Uuid) -> Result<Option<ProductPrice>> {
        get_price(&self.pool, pricebook_id, id, false).await
    }

    async fn prices(
        &self,
        pricebook_id: Uuid,
        filters: &[Filter],
        page: PageRequest,
    ) -> Result<Page<ProductPrice>> {
        Where::default()
            .and_id("pricebook_id = ?", pricebook_id)
            .filters(filters, &[("sku", "sku"), ("external_ref", "external_ref")])
            .page(
                &self.pool,
                PRICE_COLUMNS,
                "prices",
                "created_at, id",
                page,
                price_from_row,
            )
            .await
    }

    async fn update_price(
        &self,
        pricebook_id: Uuid,
        id: Uuid,
        edit: Edit<ProductPrice>,
    ) -> Result<Option<ProductPrice>> {
        edit!(self, get_price(pricebook_id, id), edit, save_price)
    }

    async fn delete_price(&self, pricebook_id: Uuid, id: Uuid) -> Result<bool> {
        delete(
            &self.pool,
            "DELETE FROM prices WHERE id = $1 AND pricebook_id = $2",
            &[id, pricebook_id],
        )
        .await
        .map_err(sql_error)
    }
}
