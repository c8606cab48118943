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
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::auth::parse_uuid;
use crate::db::{DbResult, conflict_on, foreign_key_violation};
use crate::list::Where;

/// A product's columns, ending with `$is_parent`: whether children are built from it.
macro_rules! product_columns {
    ($is_parent:literal) => {
        concat!(
            "products.id, products.name, products.sku, products.slug, products.description, \
    products.status, products.commodity_type, products.upc_ean, products.mpn, products.external_ref, \
    products.extensions, products.created_at, products.updated_at, products.main_image_id, \
    (SELECT json_group_array(product_files.file_id ORDER BY product_files.position) \
     FROM product_files WHERE product_files.product_id = products.id), \
    products.parent_id, products.child_options, products.components, \
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
    "id, pricebook_id, sku, external_ref, currencies, sales, created_at, updated_at";

pub(crate) fn uuid_at(row: &Row<'_>, i: usize) -> rusqlite::Result<Uuid> {
    Ok(parse_uuid(row.get_ref(i)?.as_str()?))
}

pub(crate) fn json_at<T: serde::de::DeserializeOwned>(row: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    let text: String = row.get(i)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

pub(crate) fn product_from_row(row: &Row<'_>) -> rusqlite::Result<Product> {
    let extensions: Option<String> = row.get(10)?;
    Ok(Product {
        id: uuid_at(row, 0)?,
        name: row.get(1)?,
        sku: row.get(2)?,
        slug: row.get(3)?,
        description: row.get(4)?,
        // Only kassa writes these columns, from the enums; anything else would be hidden.
        status: ProductStatus::parse(row.get_ref(5)?.as_str()?).unwrap_or(ProductStatus::Draft),
        commodity_type: CommodityType::parse(row.get_ref(6)?.as_str()?).unwrap_or(CommodityType::Physical),
        upc_ean: row.get(7)?,
        mpn: row.get(8)?,
        external_ref: row.get(9)?,
        extensions: extensions.as_deref().and_then(Extensions::parse),
        created_at: row.get(11)?,
        updated_at: row.get(12)?,
        main_image: crate::sql::opt_uuid_at(row, 13)?,
        files: json_at::<Vec<Uuid>>(row, 14)?.into(),
        parent_id: crate::sql::opt_uuid_at(row, 15)?,
        child_options: kassa_core::variations::parse_child_key(row.get::<_, Option<String>>(16)?.as_deref())
            .into(),
        components: row
            .get::<_, Option<String>>(17)?
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_default(),
        is_parent: row.get(18)?,
    })
}

pub(crate) fn hierarchy_from_row(row: &Row<'_>) -> rusqlite::Result<Hierarchy> {
    Ok(Hierarchy {
        id: uuid_at(row, 0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        slug: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

pub(crate) fn node_from_row(row: &Row<'_>) -> rusqlite::Result<Node> {
    let parent: Option<String> = row.get(2)?;
    Ok(Node {
        id: uuid_at(row, 0)?,
        hierarchy_id: uuid_at(row, 1)?,
        parent_id: parent.as_deref().map(parse_uuid),
        name: row.get(3)?,
        description: row.get(4)?,
        slug: row.get(5)?,
        sort_order: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
    })
}

fn pricebook_from_row(row: &Row<'_>) -> rusqlite::Result<Pricebook> {
    Ok(Pricebook {
        id: uuid_at(row, 0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        external_ref: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

pub(crate) fn price_from_row(row: &Row<'_>) -> rusqlite::Result<ProductPrice> {
    Ok(ProductPrice {
        id: uuid_at(row, 0)?,
        pricebook_id: uuid_at(row, 1)?,
        sku: row.get(2)?,
        external_ref: row.get(3)?,
        prices: PriceSheet {
            currencies: json_at(row, 4)?,
            sales: json_at(row, 5)?,
        },
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

pub(crate) fn one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> DbResult<Option<T>> {
    Ok(conn.prepare_cached(sql)?.query_row(params, map).optional()?)
}

pub(crate) fn get_product(conn: &Connection, id: Uuid) -> DbResult<Option<Product>> {
    let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?1");
    one(conn, &sql, [id.to_string()], product_from_row)
}

/// Inserts or updates a product; returns the rows changed (an insert of a child whose parent
/// already has one with its options changes none).
pub(crate) fn write_product(conn: &Connection, p: &Product, insert: bool) -> DbResult<usize> {
    let columns = params![
        p.id.to_string(),
        p.name,
        p.sku,
        p.slug,
        p.description,
        p.status.as_str(),
        p.commodity_type.as_str(),
        p.upc_ean,
        p.mpn,
        p.external_ref,
        p.extensions.as_ref().map(|e| e.as_str()),
        p.created_at,
        p.updated_at,
        components_json(p),
    ];
    let changed = if insert {
        let parent = p.parent_id.map(|id| id.to_string());
        let options = kassa_core::variations::child_key_text(&p.child_options);
        let mut all = columns.to_vec();
        all.extend([&parent as &dyn rusqlite::ToSql, &options]);
        conn.prepare_cached(
            "INSERT INTO products (id, name, sku, slug, description, status, commodity_type, upc_ean, mpn,
                 external_ref, extensions, created_at, updated_at, components, parent_id, child_options)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT (parent_id, child_options) WHERE parent_id IS NOT NULL DO NOTHING",
        )?
        .execute(all.as_slice())
    } else {
        conn.prepare_cached(
            "UPDATE products SET name = ?2, sku = ?3, slug = ?4, description = ?5, status = ?6,
                 commodity_type = ?7, upc_ean = ?8, mpn = ?9, external_ref = ?10, extensions = ?11,
                 created_at = ?12, updated_at = ?13, components = ?14
             WHERE id = ?1",
        )?
        .execute(columns)
    };
    let changed = changed.map_err(|e| conflict_on(e, conflicts::PRODUCT))?;
    // A new product that is not a bundle has no rows to keep; children are never bundles.
    if p.parent_id.is_none() && (p.is_bundle() || !insert) {
        write_bundle_options(conn, p)?;
    }
    Ok(changed)
}

/// Keeps `bundle_options` the products a bundle's options name (none for another product).
fn write_bundle_options(conn: &Connection, p: &Product) -> DbResult<()> {
    let bundle = p.id.to_string();
    conn.prepare_cached("DELETE FROM bundle_options WHERE bundle_id = ?1")?
        .execute([&bundle])?;
    for option in kassa_core::bundles::option_ids(&p.components) {
        conn.prepare_cached("INSERT INTO bundle_options (bundle_id, product_id) VALUES (?1, ?2)")?
            .execute([&bundle, &option.to_string()])
            .map_err(|e| {
                if foreign_key_violation(&e) {
                    return kassa_core::bundles::option_product_gone().into();
                }
                crate::db::DbError::from(e)
            })?;
    }
    Ok(())
}

/// A bundle that names `product_id` or one of its children as an option: (bundle, product).
fn bundle_using(conn: &Connection, product_id: Uuid) -> DbResult<Option<(Uuid, Uuid)>> {
    one(
        conn,
        "SELECT bundle_id, product_id FROM bundle_options
         WHERE product_id = ?1 OR product_id IN (SELECT id FROM products WHERE parent_id = ?1)
         ORDER BY product_id <> ?1, bundle_id LIMIT 1",
        [product_id.to_string()],
        |r| Ok((uuid_at(r, 0)?, uuid_at(r, 1)?)),
    )
}

fn delete_product(conn: &Connection, id: Uuid) -> DbResult<ProductDeletion> {
    if let Some((bundle, product)) = bundle_using(conn, id)? {
        return Ok(ProductDeletion::InBundle {
            bundle: Some(bundle),
            product,
        });
    }
    match delete(conn, "DELETE FROM products WHERE id = ?1", &[id]) {
        Ok(true) => Ok(ProductDeletion::Deleted),
        Ok(false) => Ok(ProductDeletion::NotFound),
        // The check above ran in this job; the key is the rule all the same.
        Err(crate::db::DbError::Sql(e)) if foreign_key_violation(&e) => Ok(ProductDeletion::InBundle {
            bundle: None,
            product: id,
        }),
        Err(e) => Err(e),
    }
}

/// A bundle's components as stored: JSON, `NULL` for any other product.
pub(crate) fn components_json(p: &Product) -> Option<String> {
    p.is_bundle().then(|| to_json(&p.components))
}

fn save_product(conn: &Connection, p: &Product, insert: bool) -> DbResult<()> {
    write_product(conn, p, insert).map(|_| ())
}

fn get_hierarchy(conn: &Connection, id: Uuid) -> DbResult<Option<Hierarchy>> {
    let sql = format!("SELECT {HIERARCHY_COLUMNS} FROM hierarchies WHERE id = ?1");
    one(conn, &sql, [id.to_string()], hierarchy_from_row)
}

fn save_hierarchy(conn: &Connection, h: &Hierarchy, insert: bool) -> DbResult<()> {
    let sql = if insert {
        "INSERT INTO hierarchies (id, name, description, slug, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    } else {
        "UPDATE hierarchies SET name = ?2, description = ?3, slug = ?4, created_at = ?5, updated_at = ?6
         WHERE id = ?1"
    };
    conn.prepare_cached(sql)?.execute(params![
        h.id.to_string(),
        h.name,
        h.description,
        h.slug,
        h.created_at,
        h.updated_at
    ])?;
    Ok(())
}

fn get_node(conn: &Connection, hierarchy_id: Uuid, id: Uuid) -> DbResult<Option<Node>> {
    let sql = format!("SELECT {NODE_COLUMNS} FROM nodes WHERE id = ?1 AND hierarchy_id = ?2");
    one(
        conn,
        &sql,
        [id.to_string(), hierarchy_id.to_string()],
        node_from_row,
    )
}

/// The parent must be a node of the same hierarchy and, for an existing node, not the node
/// itself nor one of its descendants.
fn check_parent(conn: &Connection, node: &Node, existing: bool) -> DbResult<()> {
    let Some(parent) = node.parent_id else {
        return Ok(());
    };
    if get_node(conn, node.hierarchy_id, parent)?.is_none() {
        return Err(Error::not_found(
            "Parent node not found",
            format!("No node {parent} in this hierarchy"),
        )
        .into());
    }
    if existing {
        let cycle = one(
            conn,
            "WITH RECURSIVE sub(id) AS (
                 SELECT ?1 UNION SELECT nodes.id FROM nodes JOIN sub ON nodes.parent_id = sub.id)
             SELECT 1 FROM sub WHERE id = ?2",
            [node.id.to_string(), parent.to_string()],
            |_| Ok(()),
        )?;
        if cycle.is_some() {
            return Err(Error::bad_request(
                "Invalid parent",
                "A node cannot be moved under itself or one of its descendants",
            )
            .into());
        }
    }
    Ok(())
}

fn save_node(conn: &Connection, n: &Node, insert: bool) -> DbResult<()> {
    check_parent(conn, n, !insert)?;
    let sql = if insert {
        "INSERT INTO nodes (id, hierarchy_id, parent_id, name, description, slug, sort_order, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    } else {
        "UPDATE nodes SET hierarchy_id = ?2, parent_id = ?3, name = ?4, description = ?5, slug = ?6,
             sort_order = ?7, created_at = ?8, updated_at = ?9
         WHERE id = ?1"
    };
    conn.prepare_cached(sql)?
        .execute(params![
            n.id.to_string(),
            n.hierarchy_id.to_string(),
            n.parent_id.map(|p| p.to_string()),
            n.name,
            n.description,
            n.slug,
            n.sort_order,
            n.created_at,
            n.updated_at
        ])
        .map_err(|e| {
            if foreign_key_violation(&e) {
                Error::not_found("Hierarchy not found", "No hierarchy with this id").into()
            } else {
                conflict_on(e, conflicts::NODE)
            }
        })?;
    Ok(())
}

fn get_pricebook(conn: &Connection, id: Uuid) -> DbResult<Option<Pricebook>> {
    let sql = format!("SELECT {PRICEBOOK_COLUMNS} FROM pricebooks WHERE id = ?1");
    one(conn, &sql, [id.to_string()], pricebook_from_row)
}

fn save_pricebook(conn: &Connection, b: &Pricebook, insert: bool) -> DbResult<()> {
    let sql = if insert {
        "INSERT INTO pricebooks (id, name, description, external_ref, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    } else {
        "UPDATE pricebooks SET name = ?2, description = ?3, external_ref = ?4, created_at = ?5, updated_at = ?6
         WHERE id = ?1"
    };
    conn.prepare_cached(sql)?
        .execute(params![
            b.id.to_string(),
            b.name,
            b.description,
            b.external_ref,
            b.created_at,
            b.updated_at
        ])
        .map_err(|e| conflict_on(e, conflicts::PRICEBOOK))?;
    Ok(())
}

fn get_price(conn: &Connection, pricebook_id: Uuid, id: Uuid) -> DbResult<Option<ProductPrice>> {
    let sql = format!("SELECT {PRICE_COLUMNS} FROM prices WHERE id = ?1 AND pricebook_id = ?2");
    one(
        conn,
        &sql,
        [id.to_string(), pricebook_id.to_string()],
        price_from_row,
    )
}

fn save_price(conn: &Connection, p: &ProductPrice, insert: bool) -> DbResult<()> {
    let sql = if insert {
        "INSERT INTO prices (id, pricebook_id, sku, external_ref, currencies, sales, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    } else {
        "UPDATE prices SET pricebook_id = ?2, sku = ?3, external_ref = ?4, currencies = ?5, sales = ?6,
             created_at = ?7, updated_at = ?8
         WHERE id = ?1"
    };
    conn.prepare_cached(sql)?
        .execute(params![
            p.id.to_string(),
            p.pricebook_id.to_string(),
            p.sku,
            p.external_ref,
            to_json(&p.prices.currencies),
            to_json(&p.prices.sales),
            p.created_at,
            p.updated_at
        ])
        .map_err(|e| {
            if foreign_key_violation(&e) {
                Error::not_found("Price book not found", "No price book with this id").into()
            } else {
                conflict_on(e, conflicts::PRICE)
            }
        })?;
    Ok(())
}

pub(crate) fn delete(conn: &Connection, sql: &str, ids: &[Uuid]) -> DbResult<bool> {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    Ok(conn
        .prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(ids))?
        == 1)
}

impl SqliteStore {
    /// Runs an edit on the writer: load, change, save, in one unit.
    pub(crate) async fn edit<T: Send + 'static>(
        &self,
        load: impl FnOnce(&Connection) -> DbResult<Option<T>> + Send + 'static,
        edit: Edit<T>,
        save: fn(&Connection, &T, bool) -> DbResult<()>,
    ) -> Result<Option<T>> {
        self.db
            .write(move |conn| {
                let Some(mut record) = load(conn)? else {
                    return Ok(None);
                };
                edit(&mut record)?;
                save(conn, &record, false)?;
                Ok(Some(record))
            })
            .await
    }

    pub(crate) async fn insert<T: Send + 'static>(
        &self,
        record: T,
        save: fn(&Connection, &T, bool) -> DbResult<()>,
    ) -> Result<T> {
        self.db
            .write(move |conn| {
                save(conn, &record, true)?;
                Ok(record)
            })
            .await
    }
}

#[async_trait]
impl CatalogStore for SqliteStore {
    async fn create_product(&self, product: Product) -> Result<Product> {
        self.insert(product, save_product).await
    }

    async fn product(&self, id: Uuid) -> Result<Option<Product>> {
        self.db.read(move |conn| get_product(conn, id)).await
    }

    async fn products(&self, filters: &[Filter], page: PageRequest) -> Result<Page<Product>> {
        let filters = filters.to_vec();
        self.db
            .read(move |conn| {
                Where::default().filters(&filters, PRODUCT_FILTERS).page(
                    conn,
                    PRODUCT_COLUMNS,
                    "products",
                    "created_at, id",
                    page,
                    product_from_row,
                )
            })
            .await
    }

    async fn update_product(&self, id: Uuid, edit: Edit<Product>) -> Result<Option<Product>> {
        self.edit(move |conn| get_product(conn, id), edit, save_product)
            .await
    }

    async fn delete_product(&self, id: Uuid) -> Result<ProductDeletion> {
        self.db.write(move |conn| delete_product(conn, id)).await
    }

    async fn create_hierarchy(&self, hierarchy: Hierarchy) -> Result<Hierarchy> {
        self.insert(hierarchy, save_hierarchy).await
    }

    async fn hierarchy(&self, id: Uuid) -> Result<Option<Hierarchy>> {
        self.db.read(move |conn| get_hierarchy(conn, id)).await
    }

    async fn hierarchies(&self, page: PageRequest) -> Result<Page<Hierarchy>> {
        self.db
            .read(move |conn| {
                Where::default().page(
                    conn,
                    HIERARCHY_COLUMNS,
                    "hierarchies",
                    "created_at, id",
                    page,
                    hierarchy_from_row,
                )
            })
            .await
    }

    async fn update_hierarchy(&self, id: Uuid, edit: Edit<Hierarchy>) -> Result<Option<Hierarchy>> {
        self.edit(move |conn| get_hierarchy(conn, id), edit, save_hierarchy)
            .await
    }

    async fn delete_hierarchy(&self, id: Uuid) -> Result<bool> {
        self.db
            .write(move |conn| delete(conn, "DELETE FROM hierarchies WHERE id = ?1", &[id]))
            .await
    }

    async fn create_node(&self, node: Node) -> Result<Node> {
        self.insert(node, save_node).await
    }

    async fn node(&self, hierarchy_id: Uuid, id: Uuid) -> Result<Option<Node>> {
        self.db.read(move |conn| get_node(conn, hierarchy_id, id)).await
    }

    async fn nodes(&self, hierarchy_id: Uuid, filters: &[Filter], page: PageRequest) -> Result<Page<Node>> {
        let filters = filters.to_vec();
        self.db
            .read(move |conn| {
                Where::default()
                    .and("hierarchy_id = ?", hierarchy_id.to_string())
                    .filters(&filters, &[("parent_id", "parent_id")])
                    .page(conn, NODE_COLUMNS, "nodes", "created_at, id", page, node_from_row)
            })
            .await
    }

    async fn update_node(&self, hierarchy_id: Uuid, id: Uuid, edit: Edit<Node>) -> Result<Option<Node>> {
        self.edit(move |conn| get_node(conn, hierarchy_id, id), edit, save_node)
            .await
    }

    async fn delete_node(&self, hierarchy_id: Uuid, id: Uuid) -> Result<bool> {
        self.db
            .write(move |conn| {
                delete(
                    conn,
                    "DELETE FROM nodes WHERE id = ?1 AND hierarchy_id = ?2",
                    &[id, hierarchy_id],
                )
            })
            .await
    }

    async fn add_node_products(&self, node_id: Uuid, products: Vec<Uuid>, now: Millis) -> Result<()> {
        self.db
            .write(move |conn| {
                for product in products {
                    if get_product(conn, product)?.is_none() {
                        return Err(
                            Error::not_found("Product not found", format!("No product {product}")).into(),
                        );
                    }
                    conn.prepare_cached(
                        "INSERT INTO node_products (node_id, product_id, created_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![node_id.to_string(), product.to_string(), now])?;
                }
                Ok(())
            })
            .await
    }

    async fn remove_node_products(&self, node_id: Uuid, products: Vec<Uuid>) -> Result<()> {
        self.db
            .write(move |conn| {
                for product in products {
                    conn.prepare_cached("DELETE FROM node_products WHERE node_id = ?1 AND product_id = ?2")?
                        .execute([node_id.to_string(), product.to_string()])?;
                }
                Ok(())
            })
            .await
    }

    async fn node_products(&self, node_id: Uuid, page: PageRequest) -> Result<Page<Product>> {
        self.db
            .read(move |conn| {
                Where::default()
                    .and("node_products.node_id = ?", node_id.to_string())
                    .page(
                        conn,
                        PRODUCT_COLUMNS,
                        "products JOIN node_products ON node_products.product_id = products.id",
                        "node_products.created_at, products.id",
                        page,
                        product_from_row,
                    )
            })
            .await
    }

    async fn create_pricebook(&self, pricebook: Pricebook) -> Result<Pricebook> {
        self.insert(pricebook, save_pricebook).await
    }

    async fn pricebook(&self, id: Uuid) -> Result<Option<Pricebook>> {
        self.db.read(move |conn| get_pricebook(conn, id)).await
    }

    async fn pricebooks(&self, filters: &[Filter], page: PageRequest) -> Result<Page<Pricebook>> {
        let filters = filters.to_vec();
        self.db
            .read(move |conn| {
                Where::default()
                    .filters(&filters, &[("external_ref", "external_ref")])
                    .page(
                        conn,
                        PRICEBOOK_COLUMNS,
                        "pricebooks",
                        "created_at, id",
                        page,
                        pricebook_from_row,
                    )
            })
            .await
    }

    async fn update_pricebook(&self, id: Uuid, edit: Edit<Pricebook>) -> Result<Option<Pricebook>> {
        self.edit(move |conn| get_pricebook(conn, id), edit, save_pricebook)
            .await
    }

    async fn delete_pricebook(&self, id: Uuid) -> Result<bool> {
        self.db
            .write(move |conn| {
                delete(conn, "DELETE FROM pricebooks WHERE id = ?1", &[id]).map_err(|e| match e {
                    crate::db::DbError::Sql(e) if foreign_key_violation(&e) => {
                        Error::Conflict(conflicts::PRICEBOOK_IN_USE.into()).into()
                    }
                    e => e,
                })
            })
            .await
    }

    async fn create_price(&self, price: ProductPrice) -> Result<ProductPrice> {
        self.insert(price, save_price).await
    }

    async fn price(&self, pricebook_id: Uuid, id: Uuid) -> Result<Option<ProductPrice>> {
        self.db.read(move |conn| get_price(conn, pricebook_id, id)).await
    }

    async fn prices(
        &self,
        pricebook_id: Uuid,
        filters: &[Filter],
        page: PageRequest,
    ) -> Result<Page<ProductPrice>> {
        let filters = filters.to_vec();
        self.db
            .read(move |conn| {
                Where::default()
                    .and("pricebook_id = ?", pricebook_id.to_string())
                    .filters(&filters, &[("sku", "sku"), ("external_ref", "external_ref")])
                    .page(
                        conn,
                        PRICE_COLUMNS,
                        "prices",
                        "created_at, id",
                        page,
                        price_from_row,
                    )
            })
            .await
    }

    async fn update_price(
        &self,
        pricebook_id: Uuid,
        id: Uuid,
        edit: Edit<ProductPrice>,
    ) -> Result<Option<ProductPrice>> {
        self.edit(move |conn| get_price(conn, pricebook_id, id), edit, save_price)
            .await
    }

    async fn delete_price(&self, pricebook_id: Uuid, id: Uuid) -> Result<bool> {
        self.db
            .write(move |conn| {
                delete(
                    conn,
                    "DELETE FROM prices WHERE id = ?1 AND pricebook_id = ?2",
                    &[id, pricebook_id],
                )
            })
            .await
    }
}
