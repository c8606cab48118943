use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use kassa_core::catalog::Product;
use kassa_core::query::{Page, PageRequest};
use kassa_core::store::{BuildOutcome, Edit, VariationStore, VariationsChange};
use kassa_core::time::Millis;
use kassa_core::variations::BuildRules;
use kassa_core::variations::{
    Modifier, Variation, VariationOption, VariationTree, assemble, parse_child_key, plan_build,
};
use kassa_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Executor, PgConnection, Postgres, Row};
use uuid::Uuid;

use crate::catalog::{
    PRODUCT_COLUMNS, delete, edit, get_product, insert, lock, product_from_row, select_one, write_product,
};
use crate::list::Where;
use crate::{PgStore, foreign_key_violation, sql_error};

const VARIATION_COLUMNS: &str = "id, name, sort_order, created_at, updated_at";
const OPTION_COLUMNS: &str = "id, variation_id, name, description, sort_order, created_at, updated_at";
const MODIFIER_COLUMNS: &str =
    "id, option_id, kind, value, seek, set_value, reference_name, created_at, updated_at";

fn variation_from_row(row: &PgRow) -> Variation {
    Variation {
        id: row.get(0),
        name: row.get(1),
        sort_order: row.get(2),
        created_at: row.get(3),
        updated_at: row.get(4),
    }
}

fn option_from_row(row: &PgRow) -> VariationOption {
    VariationOption {
        id: row.get(0),
        variation_id: row.get(1),
        name: row.get(2),
        description: row.get(3),
        sort_order: row.get(4),
        created_at: row.get(5),
        updated_at: row.get(6),
    }
}

fn modifier_from_row(row: &PgRow) -> Modifier {
    Modifier {
        id: row.get(0),
        option_id: row.get(1),
        kind: row.get(2),
        value: row.get(3),
        seek: row.get(4),
        set: row.get(5),
        reference_name: row.get(6),
        created_at: row.get(7),
        updated_at: row.get(8),
    }
}

/// Every row `sql` finds with `ids` bound in order.
async fn all<'e, T>(
    db: impl Executor<'e, Database = Postgres>,
    sql: String,
    ids: &[Uuid],
    map: impl Fn(&PgRow) -> T,
) -> Result<Vec<T>> {
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(*id);
    }
    let rows = q.fetch_all(db).await.map_err(sql_error)?;
    Ok(rows.iter().map(map).collect())
}

/// The variations whose ids `ids_sql` selects (with `ids` bound), with their options and
/// modifiers.
pub(crate) async fn trees(db: &mut PgConnection, ids_sql: &str, ids: &[Uuid]) -> Result<Vec<VariationTree>> {
    let variations = all(
        &mut *db,
        format!("SELECT {VARIATION_COLUMNS} FROM variations WHERE id IN ({ids_sql}) ORDER BY created_at, id"),
        ids,
        variation_from_row,
    )
    .await?;
    let options = all(
        &mut *db,
        format!(
            "SELECT {OPTION_COLUMNS} FROM variation_options WHERE variation_id IN ({ids_sql})
             ORDER BY created_at, id"
        ),
        ids,
        option_from_row,
    )
    .await?;
    let modifiers = all(
        &mut *db,
        format!(
            "SELECT {MODIFIER_COLUMNS} FROM variation_modifiers
             WHERE option_id IN (SELECT id FROM variation_options WHERE variation_id IN ({ids_sql}))
             ORDER BY created_at, id"
        ),
        ids,
        modifier_from_row,
    )
    .await?;
    Ok(assemble(variations, options, modifiers))
}

/// `(product_id, variation_id)` of the products `products_sql` selects, each product's in order.
pub(crate) async fn attachments(
    db: &mut PgConnection,
    products_sql: &str,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, Uuid)>> {
    all(
        db,
        format!(
            "SELECT product_id, variation_id FROM product_variations WHERE product_id IN ({products_sql})
             ORDER BY product_id, position"
        ),
        ids,
        |r| (r.get(0), r.get(1)),
    )
    .await
}

async fn get_variation<'e>(
    db: impl Executor<'e, Database = Postgres>,
    id: Uuid,
    for_update: bool,
) -> Result<Option<Variation>> {
    let sql = format!(
        "SELECT {VARIATION_COLUMNS} FROM variations WHERE id = $1{}",
        lock(for_update)
    );
    select_one(db, sql, &[id], variation_from_row).await
}

async fn save_variation(db: &mut PgConnection, v: &Variation, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO variations (id, name, sort_order, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)"
    } else {
        "UPDATE variations SET name = $2, sort_order = $3, created_at = $4, updated_at = $5 WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(v.id)
        .bind(&v.name)
        .bind(v.sort_order)
        .bind(v.created_at)
        .bind(v.updated_at)
        .execute(db)
        .await
        .map_err(sql_error)?;
    Ok(())
}

async fn get_option<'e>(
    db: impl Executor<'e, Database = Postgres>,
    variation_id: Uuid,
    id: Uuid,
    for_update: bool,
) -> Result<Option<VariationOption>> {
    let sql = format!(
        "SELECT {OPTION_COLUMNS} FROM variation_options WHERE id = $1 AND variation_id = $2{}",
        lock(for_update)
    );
    select_one(db, sql, &[id, variation_id], option_from_row).await
}

async fn save_option(db: &mut PgConnection, o: &VariationOption, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO variation_options (id, variation_id, name, description, sort_order, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    } else {
        "UPDATE variation_options SET variation_id = $2, name = $3, description = $4, sort_order = $5,
             created_at = $6, updated_at = $7
         WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(o.id)
        .bind(o.variation_id)
        .bind(&o.name)
        .bind(&o.description)
        .bind(o.sort_order)
        .bind(o.created_at)
        .bind(o.updated_at)
        .execute(db)
        .await
        .map_err(|e| {
            if foreign_key_violation(&e) {
                Error::not_found("Variation not found", "No variation with this id")
            } else {
                sql_error(e)
            }
        })?;
    Ok(())
}

async fn get_modifier<'e>(
    db: impl Executor<'e, Database = Postgres>,
    variation_id: Uuid,
    option_id: Uuid,
    id: Uuid,
    for_update: bool,
) -> Result<Option<Modifier>> {
    let sql = format!(
        "SELECT {MODIFIER_COLUMNS} FROM variation_modifiers
         WHERE id = $1 AND option_id = $2
           AND option_id IN (SELECT id FROM variation_options WHERE variation_id = $3){}",
        lock(for_update)
    );
    select_one(db, sql, &[id, option_id, variation_id], modifier_from_row).await
}

async fn save_modifier(db: &mut PgConnection, m: &Modifier, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO variation_modifiers (id, option_id, kind, value, seek, set_value, reference_name,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    } else {
        "UPDATE variation_modifiers SET option_id = $2, kind = $3, value = $4, seek = $5, set_value = $6,
             reference_name = $7, created_at = $8, updated_at = $9
         WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(m.id)
        .bind(m.option_id)
        .bind(&m.kind)
        .bind(&m.value)
        .bind(&m.seek)
        .bind(&m.set)
        .bind(&m.reference_name)
        .bind(m.created_at)
        .bind(m.updated_at)
        .execute(db)
        .await
        .map_err(sql_error)?;
    Ok(())
}

async fn product_exists<'e>(db: impl Executor<'e, Database = Postgres>, id: Uuid) -> Result<bool> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM products WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
        .map_err(sql_error)?;
    Ok(found.is_some())
}

async fn attached<'e>(db: impl Executor<'e, Database = Postgres>, product_id: Uuid) -> Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT variation_id FROM product_variations WHERE product_id = $1 ORDER BY position")
        .bind(product_id)
        .fetch_all(db)
        .await
        .map_err(sql_error)
}

async fn change_variations(
    db: &mut PgConnection,
    product_id: Uuid,
    change: VariationsChange,
) -> Result<bool> {
    // Locking the product serializes changes of its variations (and its builds).
    let Some(product) = get_product(&mut *db, product_id, true).await? else {
        return Ok(false);
    };
    if product.parent_id.is_some() {
        return Err(kassa_core::variations::child_cannot_have_variations());
    }
    let (add, replace) = match change {
        VariationsChange::Remove(ids) => {
            sqlx::query("DELETE FROM product_variations WHERE product_id = $1 AND variation_id = ANY($2)")
                .bind(product_id)
                .bind(ids)
                .execute(&mut *db)
                .await
                .map_err(sql_error)?;
            return Ok(true);
        }
        VariationsChange::Add(ids) => (ids, false),
        VariationsChange::Replace(ids) => (ids, true),
    };
    for v in &add {
        if get_variation(&mut *db, *v, true).await?.is_none() {
            return Err(kassa_core::variations::unknown_variation(*v));
        }
    }
    if replace {
        sqlx::query("DELETE FROM product_variations WHERE product_id = $1")
            .bind(product_id)
            .execute(&mut *db)
            .await
            .map_err(sql_error)?;
    }
    for v in add {
        sqlx::query(
            "INSERT INTO product_variations (product_id, variation_id, position)
             VALUES ($1, $2, (SELECT coalesce(max(position), -1) + 1 FROM product_variations WHERE product_id = $1))
             ON CONFLICT (product_id, variation_id) DO NOTHING",
        )
        .bind(product_id)
        .bind(v)
        .execute(&mut *db)
        .await
        .map_err(sql_error)?;
    }
    Ok(true)
}

async fn build(db: &mut PgConnection, product_id: Uuid, now: Millis) -> Result<Option<BuildOutcome>> {
    // The lock makes a concurrent build of the same parent wait and then see this one's
    // children; the unique (parent, options) index is what guarantees one child per combination.
    let Some(parent) = get_product(&mut *db, product_id, true).await? else {
        return Ok(None);
    };
    let order = attached(&mut *db, product_id).await?;
    let mut found = trees(
        db,
        "SELECT variation_id FROM product_variations WHERE product_id = $1",
        &[product_id],
    )
    .await?;
    found.sort_by_key(|t| order.iter().position(|v| *v == t.variation.id));
    let existing: HashSet<Vec<Uuid>> = all(
        &mut *db,
        "SELECT child_options FROM products WHERE parent_id = $1".to_owned(),
        &[product_id],
        |r| parse_child_key(r.get::<Option<&str>, _>(0)),
    )
    .await?
    .into_iter()
    .collect();
    let rules = rules_of(&mut *db, product_id).await?;
    let children = plan_build(&parent, &found, rules.as_ref(), &existing, now, Uuid::now_v7)?;
    let mut created = 0;
    for child in &children {
        created += write_product(db, child, true).await? as usize;
    }
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM products WHERE parent_id = $1")
        .bind(product_id)
        .fetch_one(&mut *db)
        .await
        .map_err(sql_error)?;
    Ok(Some(BuildOutcome {
        created,
        children: total as usize,
    }))
}

/// A product's build rules (none when it has none, or there is no such product).
async fn rules_of(db: &mut PgConnection, product_id: Uuid) -> Result<Option<BuildRules>> {
    let text: Option<Option<String>> =
        sqlx::query_scalar("SELECT build_rules::text FROM products WHERE id = $1")
            .bind(product_id)
            .fetch_optional(db)
            .await
            .map_err(sql_error)?;
    Ok(text.flatten().and_then(|t| serde_json::from_str(&t).ok()))
}

#[async_trait]
impl VariationStore for PgStore {
    async fn create_variation(&self, variation: Variation) -> Result<Variation> {
        insert!(self, variation, save_variation)
    }

    async fn variation(&self, id: Uuid) -> Result<Option<VariationTree>> {
        let mut db = self.pool.acquire().await.map_err(sql_error)?;
        let found = trees(&mut db, "$1", &[id]).await?;
        Ok(found.into_iter().next())
    }

    async fn variations(&self, page: PageRequest) -> Result<Page<Variation>> {
        Where::default()
            .page(
                &self.pool,
                VARIATION_COLUMNS,
                "variations",
                "created_at, id",
                page,
                variation_from_row,
            )
            .await
    }

    async fn update_variation(&self, id: Uuid, edit: Edit<Variation>) -> Result<Option<Variation>> {
        edit!(self, get_variation(id), edit, save_variation)
    }

    async fn delete_variation(&self, id: Uuid) -> Result<bool> {
        delete(&self.pool, "DELETE FROM variations WHERE id = $1", &[id])
            .await
            .map_err(sql_error)
    }

    async fn create_option(&self, option: VariationOption) -> Result<VariationOption> {
        insert!(self, option, save_option)
    }

    async fn option(&self, variation_id: Uuid, id: Uuid) -> Result<Option<VariationOption>> {
        get_option(&self.pool, variation_id, id, false).await
    }

    async fn options(&self, variation_id: Uuid, page: PageRequest) -> Result<Page<VariationOption>> {
        Where::default()
            .and_id("variation_id = ?", variation_id)
            .page(
                &self.pool,
                OPTION_COLUMNS,
                "variation_options",
                "created_at, id",
                page,
                option_from_row,
            )
            .await
    }

    async fn update_option(
        &self,
        variation_id: Uuid,
        id: Uuid,
        edit: Edit<VariationOption>,
    ) -> Result<Option<VariationOption>> {
        edit!(self, get_option(variation_id, id), edit, save_option)
    }

    async fn delete_option(&self, variation_id: Uuid, id: Uuid) -> Result<bool> {
        delete(
            &self.pool,
            "DELETE FROM variation_options WHERE id = $1 AND variation_id = $2",
            &[id, variation_id],
        )
        .await
        .map_err(sql_error)
    }

    async fn create_modifier(&self, variation_id: Uuid, modifier: Modifier) -> Result<Modifier> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // Locking the option keeps it from going before the modifier is in.
        if get_option(&mut *tx, variation_id, modifier.option_id, true)
            .await?
            .is_none()
        {
            return Err(Error::not_found(
                "Option not found",
                "No option of this variation with this id",
            ));
        }
        save_modifier(&mut tx, &modifier, true).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(modifier)
    }

    async fn modifier(&self, variation_id: Uuid, option_id: Uuid, id: Uuid) -> Result<Option<Modifier>> {
        get_modifier(&self.pool, variation_id, option_id, id, false).await
    }

    async fn modifiers(
        &self,
        variation_id: Uuid,
        option_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<Modifier>> {
        Where::default()
            .and_id("option_id = ?", option_id)
            .and_id(
                "option_id IN (SELECT id FROM variation_options WHERE variation_id = ?)",
                variation_id,
            )
            .page(
                &self.pool,
                MODIFIER_COLUMNS,
                "variation_modifiers",
                "created_at, id",
                page,
                modifier_from_row,
            )
            .await
    }

    async fn update_modifier(
        &self,
        variation_id: Uuid,
        option_id: Uuid,
        id: Uuid,
        edit: Edit<Modifier>,
    ) -> Result<Option<Modifier>> {
        edit!(
            self,
            get_modifier(variation_id, option_id, id),
            edit,
            save_modifier
        )
    }

    async fn delete_modifier(&self, variation_id: Uuid, option_id: Uuid, id: Uuid) -> Result<bool> {
        delete(
            &self.pool,
            "DELETE FROM variation_modifiers WHERE id = $1 AND option_id = $2
               AND option_id IN (SELECT id FROM variation_options WHERE variation_id = $3)",
            &[id, option_id, variation_id],
        )
        .await
        .map_err(sql_error)
    }

    async fn product_variations(&self, product_id: Uuid) -> Result<Option<Vec<Uuid>>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        if !product_exists(&mut *tx, product_id).await? {
            return Ok(None);
        }
        let found = attached(&mut *tx, product_id).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(Some(found))
    }

    async fn change_product_variations(&self, product_id: Uuid, change: VariationsChange) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let changed = change_variations(&mut tx, product_id, change).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(changed)
    }

    async fn build_children(&self, product_id: Uuid, now: Millis) -> Result<Option<BuildOutcome>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let outcome = build(&mut tx, product_id, now).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(outcome)
    }

    async fn children(&self, product_id: Uuid, page: PageRequest) -> Result<Option<Page<Product>>> {
        if !product_exists(&self.pool, product_id).await? {
            return Ok(None);
        }
        Where::default()
            .and_id("parent_id = ?", product_id)
            .page(
                &self.pool,
                PRODUCT_COLUMNS,
                "products",
                "created_at, id",
                page,
                product_from_row,
            )
            .await
            .map(Some)
    }

    async fn build_rules(&self, product_ids: &[Uuid]) -> Result<HashMap<Uuid, BuildRules>> {
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT id, build_rules::text FROM products WHERE id = ANY($1) AND build_rules IS NOT NULL",
        )
        .bind(product_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, text)| Some((id, serde_json::from_str(&text).ok()?)))
            .collect())
    }

    async fn update_product_rules(
        &self,
        product_id: Uuid,
        rules: Option<BuildRules>,
        edit: Edit<Product>,
    ) -> Result<Option<Product>> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let Some(mut product) = get_product(&mut *tx, product_id, true).await? else {
            return Ok(None);
        };
        edit(&mut product)?;
        write_product(&mut tx, &product, false).await?;
        sqlx::query("UPDATE products SET build_rules = $2::jsonb WHERE id = $1")
            .bind(product_id)
            .bind(rules.map(|r| serde_json::to_string(&r).unwrap_or_default()))
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        tx.commit().await.map_err(sql_error)?;
        Ok(Some(product))
    }
}
