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
use rusqlite::{Connection, Row, ToSql, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::catalog::{
    PRODUCT_COLUMNS, delete, get_product, one, product_from_row, to_json, uuid_at, write_product,
};
use crate::db::{DbResult, foreign_key_violation};
use crate::list::Where;
use crate::sql::id;

const VARIATION_COLUMNS: &str = "id, name, sort_order, created_at, updated_at";
const OPTION_COLUMNS: &str = "id, variation_id, name, description, sort_order, created_at, updated_at";
const MODIFIER_COLUMNS: &str =
    "id, option_id, kind, value, seek, set_value, reference_name, created_at, updated_at";
/// The options of the variation bound as `?3` (modifier reads bind id, option, variation).
const OPTION_OF_VARIATION: &str = "option_id IN (SELECT id FROM variation_options WHERE variation_id = ?3)";

fn variation_from_row(row: &Row<'_>) -> rusqlite::Result<Variation> {
    Ok(Variation {
        id: uuid_at(row, 0)?,
        name: row.get(1)?,
        sort_order: row.get(2)?,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
    })
}

fn option_from_row(row: &Row<'_>) -> rusqlite::Result<VariationOption> {
    Ok(VariationOption {
        id: uuid_at(row, 0)?,
        variation_id: uuid_at(row, 1)?,
        name: row.get(2)?,
        description: row.get(3)?,
        sort_order: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

fn modifier_from_row(row: &Row<'_>) -> rusqlite::Result<Modifier> {
    Ok(Modifier {
        id: uuid_at(row, 0)?,
        option_id: uuid_at(row, 1)?,
        kind: row.get(2)?,
        value: row.get(3)?,
        seek: row.get(4)?,
        set: row.get(5)?,
        reference_name: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
    })
}

fn all<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> DbResult<Vec<T>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_map(params, map)?
        .collect::<rusqlite::Result<_>>()?)
}

/// The variations whose ids `ids_sql` selects (with `params`), with their options and modifiers.
pub(crate) fn trees(conn: &Connection, ids_sql: &str, params: &[&dyn ToSql]) -> DbResult<Vec<VariationTree>> {
    let variations = all(
        conn,
        &format!(
            "SELECT {VARIATION_COLUMNS} FROM variations WHERE id IN ({ids_sql}) ORDER BY created_at, id"
        ),
        params,
        variation_from_row,
    )?;
    let options = all(
        conn,
        &format!(
            "SELECT {OPTION_COLUMNS} FROM variation_options WHERE variation_id IN ({ids_sql})
             ORDER BY created_at, id"
        ),
        params,
        option_from_row,
    )?;
    let modifiers = all(
        conn,
        &format!(
            "SELECT {MODIFIER_COLUMNS} FROM variation_modifiers
             WHERE option_id IN (SELECT id FROM variation_options WHERE variation_id IN ({ids_sql}))
             ORDER BY created_at, id"
        ),
        params,
        modifier_from_row,
    )?;
    Ok(assemble(variations, options, modifiers))
}

/// `(product_id, variation_id)` of the products `products_sql` selects, each product's in order.
pub(crate) fn attachments(
    conn: &Connection,
    products_sql: &str,
    params: &[&dyn ToSql],
) -> DbResult<Vec<(Uuid, Uuid)>> {
    all(
        conn,
        &format!(
            "SELECT product_id, variation_id FROM product_variations WHERE product_id IN ({products_sql})
             ORDER BY product_id, position"
        ),
        params,
        |r| Ok((uuid_at(r, 0)?, uuid_at(r, 1)?)),
    )
}

fn get_variation(conn: &Connection, variation_id: Uuid) -> DbResult<Option<Variation>> {
    let sql = format!("SELECT {VARIATION_COLUMNS} FROM variations WHERE id = ?1");
    one(conn, &sql, [id(variation_id)], variation_from_row)
}

fn save_variation(conn: &Connection, v: &Variation, insert: bool) -> DbResult<()> {
    let sql = if insert {
        "INSERT INTO variations (id, name, sort_order, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)"
    } else {
        "UPDATE variations SET name = ?2, sort_order = ?3, created_at = ?4, updated_at = ?5 WHERE id = ?1"
    };
    conn.prepare_cached(sql)?.execute(params![
        id(v.id),
        v.name,
        v.sort_order,
        v.created_at,
        v.updated_at
    ])?;
    Ok(())
}

fn get_option(conn: &Connection, variation_id: Uuid, option_id: Uuid) -> DbResult<Option<VariationOption>> {
    let sql = format!("SELECT {OPTION_COLUMNS} FROM variation_options WHERE id = ?1 AND variation_id = ?2");
    one(conn, &sql, [id(option_id), id(variation_id)], option_from_row)
}

fn save_option(conn: &Connection, o: &VariationOption, insert: bool) -> DbResult<()> {
    let sql = if insert {
        "INSERT INTO variation_options (id, variation_id, name, description, sort_order, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    } else {
        "UPDATE variation_options SET variation_id = ?2, name = ?3, description = ?4, sort_order = ?5,
             created_at = ?6, updated_at = ?7
         WHERE id = ?1"
    };
    conn.prepare_cached(sql)?
        .execute(params![
            id(o.id),
            id(o.variation_id),
            o.name,
            o.description,
            o.sort_order,
            o.created_at,
            o.updated_at
        ])
        .map_err(|e| {
            if foreign_key_violation(&e) {
                return Error::not_found("Variation not found", "No variation with this id").into();
            }
            e.into()
        })
        .map(|_| ())
}

fn get_modifier(
    conn: &Connection,
    variation_id: Uuid,
    option_id: Uuid,
    modifier_id: Uuid,
) -> DbResult<Option<Modifier>> {
    let sql = format!(
        "SELECT {MODIFIER_COLUMNS} FROM variation_modifiers
         WHERE id = ?1 AND option_id = ?2 AND {OPTION_OF_VARIATION}"
    );
    one(
        conn,
        &sql,
        [id(modifier_id), id(option_id), id(variation_id)],
        modifier_from_row,
    )
}

fn save_modifier(conn: &Connection, m: &Modifier, insert: bool) -> DbResult<()> {
    let sql = if insert {
        "INSERT INTO variation_modifiers (id, option_id, kind, value, seek, set_value, reference_name,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    } else {
        "UPDATE variation_modifiers SET option_id = ?2, kind = ?3, value = ?4, seek = ?5, set_value = ?6,
             reference_name = ?7, created_at = ?8, updated_at = ?9
         WHERE id = ?1"
    };
    conn.prepare_cached(sql)?.execute(params![
        id(m.id),
        id(m.option_id),
        m.kind,
        m.value,
        m.seek,
        m.set,
        m.reference_name,
        m.created_at,
        m.updated_at
    ])?;
    Ok(())
}

fn product_exists(conn: &Connection, product_id: Uuid) -> DbResult<bool> {
    Ok(one(
        conn,
        "SELECT 1 FROM products WHERE id = ?1",
        [id(product_id)],
        |_| Ok(()),
    )?
    .is_some())
}

fn attached(conn: &Connection, product_id: Uuid) -> DbResult<Vec<Uuid>> {
    all(
        conn,
        "SELECT variation_id FROM product_variations WHERE product_id = ?1 ORDER BY position",
        &[&id(product_id)],
        |r| uuid_at(r, 0),
    )
}

fn change_variations(conn: &Connection, product_id: Uuid, change: VariationsChange) -> DbResult<bool> {
    let Some(product) = get_product(conn, product_id)? else {
        return Ok(false);
    };
    if product.parent_id.is_some() {
        return Err(kassa_core::variations::child_cannot_have_variations().into());
    }
    let pid = id(product_id);
    let (add, replace) = match change {
        VariationsChange::Remove(ids) => {
            for v in ids {
                conn.prepare_cached(
                    "DELETE FROM product_variations WHERE product_id = ?1 AND variation_id = ?2",
                )?
                .execute([&pid, &id(v)])?;
            }
            return Ok(true);
        }
        VariationsChange::Add(ids) => (ids, false),
        VariationsChange::Replace(ids) => (ids, true),
    };
    for v in &add {
        if get_variation(conn, *v)?.is_none() {
            return Err(kassa_core::variations::unknown_variation(*v).into());
        }
    }
    if replace {
        conn.prepare_cached("DELETE FROM product_variations WHERE product_id = ?1")?
            .execute([&pid])?;
    }
    for v in add {
        conn.prepare_cached(
            "INSERT INTO product_variations (product_id, variation_id, position)
             VALUES (?1, ?2, (SELECT coalesce(max(position), -1) + 1 FROM product_variations WHERE product_id = ?1))
             ON CONFLICT (product_id, variation_id) DO NOTHING",
        )?
        .execute([&pid, &id(v)])?;
    }
    Ok(true)
}

fn build(conn: &Connection, product_id: Uuid, now: Millis) -> DbResult<Option<BuildOutcome>> {
    let Some(parent) = get_product(conn, product_id)? else {
        return Ok(None);
    };
    let pid = id(product_id);
    let order = attached(conn, product_id)?;
    let mut found = trees(
        conn,
        "SELECT variation_id FROM product_variations WHERE product_id = ?1",
        &[&pid],
    )?;
    found.sort_by_key(|t| order.iter().position(|v| *v == t.variation.id));
    let existing: HashSet<Vec<Uuid>> = all(
        conn,
        "SELECT child_options FROM products WHERE parent_id = ?1",
        &[&pid],
        |r| Ok(parse_child_key(r.get::<_, Option<String>>(0)?.as_deref())),
    )?
    .into_iter()
    .collect();
    let rules = rules_of(conn, product_id)?;
    let children = plan_build(&parent, &found, rules.as_ref(), &existing, now, Uuid::now_v7)?;
    let mut created = 0;
    for child in &children {
        created += write_product(conn, child, true)?;
    }
    let total: i64 = conn
        .prepare_cached("SELECT count(*) FROM products WHERE parent_id = ?1")?
        .query_row([&pid], |r| r.get(0))?;
    Ok(Some(BuildOutcome {
        created,
        children: total as usize,
    }))
}

/// A product's build rules (none when it has none, or there is no such product).
fn rules_of(conn: &Connection, product_id: Uuid) -> DbResult<Option<BuildRules>> {
    Ok(one(
        conn,
        "SELECT build_rules FROM products WHERE id = ?1",
        [id(product_id)],
        |r| r.get::<_, Option<String>>(0),
    )?
    .flatten()
    .and_then(|text| serde_json::from_str(&text).ok()))
}

#[async_trait]
impl VariationStore for SqliteStore {
    async fn create_variation(&self, variation: Variation) -> Result<Variation> {
        self.insert(variation, save_variation).await
    }

    async fn variation(&self, variation_id: Uuid) -> Result<Option<VariationTree>> {
        self.db
            .read(move |conn| {
                let found = trees(conn, "?1", &[&id(variation_id)])?;
                Ok(found.into_iter().next())
            })
            .await
    }

    async fn variations(&self, page: PageRequest) -> Result<Page<Variation>> {
        self.db
            .read(move |conn| {
                Where::default().page(
                    conn,
                    VARIATION_COLUMNS,
                    "variations",
                    "created_at, id",
                    page,
                    variation_from_row,
                )
            })
            .await
    }

    async fn update_variation(&self, variation_id: Uuid, edit: Edit<Variation>) -> Result<Option<Variation>> {
        self.edit(
            move |conn| get_variation(conn, variation_id),
            edit,
            save_variation,
        )
        .await
    }

    async fn delete_variation(&self, variation_id: Uuid) -> Result<bool> {
        self.db
            .write(move |conn| delete(conn, "DELETE FROM variations WHERE id = ?1", &[variation_id]))
            .await
    }

    async fn create_option(&self, option: VariationOption) -> Result<VariationOption> {
        self.insert(option, save_option).await
    }

    async fn option(&self, variation_id: Uuid, option_id: Uuid) -> Result<Option<VariationOption>> {
        self.db
            .read(move |conn| get_option(conn, variation_id, option_id))
            .await
    }

    async fn options(&self, variation_id: Uuid, page: PageRequest) -> Result<Page<VariationOption>> {
        self.db
            .read(move |conn| {
                Where::default().and("variation_id = ?", id(variation_id)).page(
                    conn,
                    OPTION_COLUMNS,
                    "variation_options",
                    "created_at, id",
                    page,
                    option_from_row,
                )
            })
            .await
    }

    async fn update_option(
        &self,
        variation_id: Uuid,
        option_id: Uuid,
        edit: Edit<VariationOption>,
    ) -> Result<Option<VariationOption>> {
        self.edit(
            move |conn| get_option(conn, variation_id, option_id),
            edit,
            save_option,
        )
        .await
    }

    async fn delete_option(&self, variation_id: Uuid, option_id: Uuid) -> Result<bool> {
        self.db
            .write(move |conn| {
                delete(
                    conn,
                    "DELETE FROM variation_options WHERE id = ?1 AND variation_id = ?2",
                    &[option_id, variation_id],
                )
            })
            .await
    }

    async fn create_modifier(&self, variation_id: Uuid, modifier: Modifier) -> Result<Modifier> {
        self.db
            .write(move |conn| {
                if get_option(conn, variation_id, modifier.option_id)?.is_none() {
                    return Err(Error::not_found(
                        "Option not found",
                        "No option of this variation with this id",
                    )
                    .into());
                }
                save_modifier(conn, &modifier, true)?;
                Ok(modifier)
            })
            .await
    }

    async fn modifier(
        &self,
        variation_id: Uuid,
        option_id: Uuid,
        modifier_id: Uuid,
    ) -> Result<Option<Modifier>> {
        self.db
            .read(move |conn| get_modifier(conn, variation_id, option_id, modifier_id))
            .await
    }

    async fn modifiers(
        &self,
        variation_id: Uuid,
        option_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<Modifier>> {
        self.db
            .read(move |conn| {
                Where::default()
                    .and("option_id = ?", id(option_id))
                    .and(
                        "option_id IN (SELECT id FROM variation_options WHERE variation_id = ?)",
                        id(variation_id),
                    )
                    .page(
                        conn,
                        MODIFIER_COLUMNS,
                        "variation_modifiers",
                        "created_at, id",
                        page,
                        modifier_from_row,
                    )
            })
            .await
    }

    async fn update_modifier(
        &self,
        variation_id: Uuid,
        option_id: Uuid,
        modifier_id: Uuid,
        edit: Edit<Modifier>,
    ) -> Result<Option<Modifier>> {
        self.edit(
            move |conn| get_modifier(conn, variation_id, option_id, modifier_id),
            edit,
            save_modifier,
        )
        .await
    }

    async fn delete_modifier(&self, variation_id: Uuid, option_id: Uuid, modifier_id: Uuid) -> Result<bool> {
        self.db
            .write(move |conn| {
                let sql = format!("DELETE FROM variation_modifiers WHERE id = ?1 AND option_id = ?2 AND {OPTION_OF_VARIATION}");
                Ok(conn
                    .prepare_cached(&sql)?
                    .execute([id(modifier_id), id(option_id), id(variation_id)])?
                    == 1)
            })
            .await
    }

    async fn product_variations(&self, product_id: Uuid) -> Result<Option<Vec<Uuid>>> {
        self.db
            .read(move |conn| {
                if !product_exists(conn, product_id)? {
                    return Ok(None);
                }
                attached(conn, product_id).map(Some)
            })
            .await
    }

    async fn change_product_variations(&self, product_id: Uuid, change: VariationsChange) -> Result<bool> {
        self.db
            .write(move |conn| change_variations(conn, product_id, change))
            .await
    }

    async fn build_children(&self, product_id: Uuid, now: Millis) -> Result<Option<BuildOutcome>> {
        self.db.write(move |conn| build(conn, product_id, now)).await
    }

    async fn children(&self, product_id: Uuid, page: PageRequest) -> Result<Option<Page<Product>>> {
        self.db
            .read(move |conn| {
                if !product_exists(conn, product_id)? {
                    return Ok(None);
                }
                Where::default()
                    .and("parent_id = ?", id(product_id))
                    .page(
                        conn,
                        PRODUCT_COLUMNS,
                        "products",
                        "created_at, id",
                        page,
                        product_from_row,
                    )
                    .map(Some)
            })
            .await
    }

    async fn build_rules(&self, product_ids: &[Uuid]) -> Result<HashMap<Uuid, BuildRules>> {
        let ids: Vec<String> = product_ids.iter().map(|p| id(*p)).collect();
        self.db
            .read(move |conn| {
                let mut found = HashMap::new();
                for product in ids {
                    let rules = one(
                        conn,
                        "SELECT id, build_rules FROM products WHERE id = ?1 AND build_rules IS NOT NULL",
                        [product],
                        |r| Ok((uuid_at(r, 0)?, r.get::<_, String>(1)?)),
                    )?;
                    if let Some((product, text)) = rules
                        && let Ok(rules) = serde_json::from_str(&text)
                    {
                        found.insert(product, rules);
                    }
                }
                Ok(found)
            })
            .await
    }

    async fn update_product_rules(
        &self,
        product_id: Uuid,
        rules: Option<BuildRules>,
        edit: Edit<Product>,
    ) -> Result<Option<Product>> {
        self.db
            .write(move |conn| {
                let Some(mut product) = get_product(conn, product_id)? else {
                    return Ok(None);
                };
                edit(&mut product)?;
                write_product(conn, &product, false)?;
                conn.prepare_cached("UPDATE products SET build_rules = ?2 WHERE id = ?1")?
                    .execute(rusqlite::params![id(product_id), rules.as_ref().map(to_json)])?;
                Ok(Some(product))
            })
            .await
    }
}
