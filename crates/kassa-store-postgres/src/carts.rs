use async_trait::async_trait;

use kassa_core::bundles::LineBundle;
use kassa_core::cart_totals::{CalculationMethod, TaxItem, TaxRate};
use kassa_core::carts::{
    Cart, CartContents, CartItem, CartScope, CartSize, CartStock, CartTaxItem, ItemKind, LineImage,
    MAX_CART_ITEMS, QuantityChange, StockOf, TaxCounts, TaxItemKey, TaxRefusal, check_same_owner,
    plan_tax_items,
};
use kassa_core::conflicts;
use kassa_core::custom_discounts::{self, CustomDiscount};
use kassa_core::integrations::{Emit, Event};
use kassa_core::promotions::{PromotionCode, codes_from_json};
use kassa_core::query::{Page, PageRequest};
use kassa_core::settings::{ReserveAt, StoreSettings};
use kassa_core::store::{CartStore, PromotionStore, SettingsStore};
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{Executor, Postgres, Row};
use uuid::Uuid;

use crate::sql::{conflict, page_of};
use crate::{PgStore, sql_error};

macro_rules! cart_columns {
    () => {
        "id, name, description, contact_email, currency, custom_discounts_enabled, use_rule_promotions, \
         defer_inventory_check, custom_attributes::text, snapshot_date, payment_intent_id, account_id, customer_id, \
         created_at, updated_at, expires_at"
    };
}
macro_rules! tax_columns {
    () => {
        "id, cart_id, item_id, name, code, jurisdiction, rate_ppm, amount, created_at, updated_at, \
         component_product_id"
    };
}
macro_rules! item_columns {
    () => {
        "id, cart_id, kind, line_key, product_id, sku, name, description, slug, quantity, unit_amount, \
         includes_tax, custom_inputs::text, catalog_id, created_at, updated_at, location, image, bundle::text"
    };
}

/// The stock records of the products `$which` selects, as one JSON array of
/// `[product_id, available, allocated, created_at, updated_at]` in product order.
macro_rules! stock_json {
    ($which:literal) => {
        concat!(
            "(SELECT json_agg(json_build_array(product_id, available, allocated, created_at, updated_at) \
             ORDER BY product_id)::text FROM inventories WHERE ",
            $which,
            ")"
        )
    };
}

/// The asked locations (`$which` selects their slugs) that exist, each with the positions there
/// of the products `$products` selects (for a location `l`), as one JSON array of
/// `[slug, location_id, product_id, available, allocated, updated_at]` (the last four null for a
/// location none of the products is stocked at).
macro_rules! located_json {
    ($which:literal, $products:literal) => {
        concat!(
            "(SELECT json_agg(json_build_array(l.slug, l.id, p.product_id, p.available, p.allocated, p.updated_at))::text \
             FROM inventory_locations l LEFT JOIN stock_positions p ON p.location_id = l.id AND p.product_id IN (",
            $products,
            ") WHERE l.slug IN (",
            $which,
            "))"
        )
    };
}

/// [`CartStore::cart_contents`] in one statement: `$stock` and `$located` (text expressions),
/// then the cart ($1, live at $2) with whether it has tax items, then its lines; the cart's and
/// the lines' columns are NULL where there is no cart or no line.
/// The codes of the cart `carts.id` as one JSON column
/// ([`kassa_core::promotions::codes_from_json`]).
macro_rules! cart_codes {
    () => {
        "(SELECT json_agg(json_build_object('id', pc.id, 'promotion_id', pc.promotion_id, 'code', pc.code, \
         'uses', pc.uses, 'max_uses', pc.max_uses, 'user_id', pc.user_id, 'consume_unit', pc.consume_unit, \
         'max_uses_per_shopper', pc.max_uses_per_shopper, 'includes_guests', pc.includes_guests, \
         'is_for_new_shopper', pc.is_for_new_shopper, 'created_at', pc.created_at) \
         ORDER BY cc.created_at, cc.code_key)::text FROM cart_promotion_codes cc \
         JOIN promotion_codes pc ON pc.code_key = cc.code_key WHERE cc.cart_id = carts.id)"
    };
}

/// The custom discounts of the cart `carts.id` in effect (only while it uses them; PostgreSQL
/// runs the subquery only then) as one JSON column ([`kassa_core::custom_discounts::from_json`]).
macro_rules! cart_custom {
    () => {
        "CASE WHEN carts.custom_discounts_enabled THEN (SELECT json_agg(json_build_object('id', d.id, \
         'cart_id', d.cart_id, 'item_id', d.item_id, 'external_id', d.external_id, 'discount_engine', \
         d.discount_engine, 'description', d.description, 'discount_code', d.discount_code, 'amount', d.amount, \
         'created_at', d.created_at, 'updated_at', d.updated_at) ORDER BY d.created_at, d.id)::text \
         FROM cart_custom_discounts d WHERE d.cart_id = carts.id) END"
    };
}

macro_rules! contents_sql {
    ($stock:expr, $located:expr) => {
        contents_sql!($stock, $located, "NULL::int8")
    };
    ($stock:expr, $located:expr, $version:expr) => {
        concat!(
            "SELECT ",
            $stock,
            " AS stock, ",
            $located,
            " AS located, ",
            $version,
            " AS promotions_version, c.*, i.* FROM (SELECT 1) AS one LEFT JOIN (SELECT ",
            cart_columns!(),
            ", EXISTS (SELECT 1 FROM cart_tax_items t WHERE t.cart_id = carts.id) AS taxed, ",
            cart_codes!(),
            " AS codes, ",
            cart_custom!(),
            " AS custom FROM carts WHERE id = $1 AND expires_at > $2) AS c ON true \
             LEFT JOIN LATERAL (SELECT ",
            item_columns!(),
            " FROM cart_items WHERE cart_id = c.id) AS i ON true ORDER BY i.created_at, i.id"
        )
    };
}

fn cart_row(r: &PgRow) -> Cart {
    cart_row_at(r, 0)
}

/// A cart from [`cart_columns`] starting at column `at` of the row.
fn cart_row_at(r: &PgRow, at: usize) -> Cart {
    let attrs: String = r.get(at + 8);
    Cart {
        id: r.get(at),
        name: r.get(at + 1),
        description: r.get(at + 2),
        contact_email: r.get(at + 3),
        currency: r.get(at + 4),
        custom_discounts_enabled: r.get(at + 5),
        use_rule_promotions: r.get(at + 6),
        defer_inventory_check: r.get(at + 7),
        custom_attributes: serde_json::from_str(&attrs).unwrap_or_default(),
        snapshot_date: r.get(at + 9),
        payment_intent_id: r.get(at + 10),
        account_id: r.get(at + 11),
        customer_id: r.get(at + 12),
        created_at: r.get(at + 13),
        updated_at: r.get(at + 14),
        expires_at: r.get(at + 15),
    }
}

fn item_row(r: &PgRow) -> CartItem {
    item_row_at(r, 0)
}

/// A cart line from [`item_columns`] starting at column `at` of the row.
fn item_row_at(r: &PgRow, at: usize) -> CartItem {
    let kind: String = r.get(at + 2);
    let inputs: String = r.get(at + 12);
    CartItem {
        id: r.get(at),
        cart_id: r.get(at + 1),
        kind: ItemKind::parse(&kind).unwrap_or(ItemKind::Custom),
        line_key: r.get(at + 3),
        product_id: r.get(at + 4),
        sku: r.get(at + 5),
        name: r.get(at + 6),
        description: r.get(at + 7),
        slug: r.get(at + 8),
        quantity: r.get(at + 9),
        unit_amount: r.get(at + 10),
        includes_tax: r.get(at + 11),
        custom_inputs: serde_json::from_str(&inputs).unwrap_or_default(),
        catalog_id: r.get(at + 13),
        created_at: r.get(at + 14),
        updated_at: r.get(at + 15),
        location: r.get(at + 16),
        image: LineImage::from_json(r.get::<Option<&str>, _>(at + 17)),
        bundle: LineBundle::from_json(r.get::<Option<&str>, _>(at + 18)),
    }
}

fn tax_row(r: &PgRow) -> CartTaxItem {
    let rate: Option<i64> = r.get(6);
    let amount: Option<i64> = r.get(7);
    CartTaxItem {
        id: r.get(0),
        cart_id: r.get(1),
        item_id: r.get(2),
        name: r.get(3),
        code: r.get(4),
        jurisdiction: r.get(5),
        tax: match (rate, amount) {
            (Some(ppm), _) => TaxItem::Rate(TaxRate::from_ppm(u32::try_from(ppm).unwrap_or(u32::MAX))),
            (None, amount) => TaxItem::Amount(amount.unwrap_or(0)),
        },
        component_product_id: r.get(10),
        created_at: r.get(8),
        updated_at: r.get(9),
    }
}

/// A tax item's rate and amount columns.
fn tax_values(tax: TaxItem) -> (Option<i64>, Option<i64>) {
    match tax {
        TaxItem::Rate(rate) => (Some(i64::from(rate.ppm())), None),
        TaxItem::Amount(amount) => (None, Some(amount)),
    }
}

/// Writes the `cart.updated` event of a change made in `tx` (when something observes it): the
/// cart as the change leaves it.
pub(crate) async fn emit_cart(
    tx: &mut sqlx::PgConnection,
    cart_id: &str,
    now: Millis,
    emit: Option<Emit<CartContents>>,
) -> Result<()> {
    let Some(emit) = emit else {
        return Ok(());
    };
    let cart = lock_cart(&mut *tx, cart_id, now).await?;
    let contents = contents_in(tx, cart).await?;
    crate::outbox::write(tx, &emit(&contents)).await
}

/// `cart` with its lines, tax items, codes and custom discounts (those only while it uses
/// them) as `tx` sees them.
async fn contents_in(tx: &mut sqlx::PgConnection, cart: Cart) -> Result<CartContents> {
    let lines = items_of(&mut *tx, &cart.id).await?;
    let taxes = taxes_of(&mut *tx, &cart.id).await?;
    let codes = codes_of(&mut *tx, &cart.id).await?;
    let custom_discounts = if cart.custom_discounts_enabled {
        custom_of(&mut *tx, &cart.id).await?
    } else {
        Vec::new()
    };
    Ok(CartContents {
        cart,
        lines,
        taxes,
        codes,
        custom_discounts,
        promotions_version: None,
    })
}

/// The live cart, locked for the rest of the transaction so writers of one cart take turns.
async fn lock_cart<'e>(db: impl Executor<'e, Database = Postgres>, id: &str, now: Millis) -> Result<Cart> {
    let row = sqlx::query(concat!(
        "SELECT ",
        cart_columns!(),
        " FROM carts WHERE id = $1 AND expires_at > $2 FOR UPDATE"
    ))
    .bind(id)
    .bind(now)
    .fetch_optional(db)
    .await
    .map_err(sql_error)?;
    row.as_ref()
        .map(cart_row)
        .ok_or_else(|| Error::not_found("Not Found", "Cart not found"))
}

/// Inserts the cart; `Conflict` if the id is taken, or with `if_absent` nothing happens then.
/// Whether it was inserted.
async fn insert_cart<'e>(
    db: impl Executor<'e, Database = Postgres>,
    c: &Cart,
    if_absent: bool,
) -> Result<bool> {
    macro_rules! insert {
        () => {
            "INSERT INTO carts (id, name, description, contact_email, currency, custom_discounts_enabled,
               use_rule_promotions, defer_inventory_check, custom_attributes, snapshot_date, payment_intent_id,
               account_id, customer_id, created_at, updated_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14, $15, $16)"
        };
    }
    sqlx::query(if if_absent {
        concat!(insert!(), " ON CONFLICT (id) DO NOTHING")
    } else {
        insert!()
    })
    .bind(&c.id)
    .bind(&c.name)
    .bind(&c.description)
    .bind(&c.contact_email)
    .bind(&c.currency)
    .bind(c.custom_discounts_enabled)
    .bind(c.use_rule_promotions)
    .bind(c.defer_inventory_check)
    .bind(c.custom_attributes.to_string())
    .bind(c.snapshot_date)
    .bind(&c.payment_intent_id)
    .bind(c.account_id)
    .bind(c.customer_id)
    .bind(c.created_at)
    .bind(c.updated_at)
    .bind(c.expires_at)
    .execute(db)
    .await
    .map_err(|e| conflict(e, |_| conflicts::CART_ID))
    .map(|done| done.rows_affected() == 1)
}

async fn items_of<'e>(db: impl Executor<'e, Database = Postgres>, cart_id: &str) -> Result<Vec<CartItem>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        item_columns!(),
        " FROM cart_items WHERE cart_id = $1 ORDER BY created_at, id"
    ))
    .bind(cart_id)
    .fetch_all(db)
    .await
    .map_err(sql_error)?;
    Ok(rows.iter().map(item_row).collect())
}

async fn codes_of<'e>(
    db: impl Executor<'e, Database = Postgres>,
    cart_id: &str,
) -> Result<Vec<kassa_core::promotions::PromotionCode>> {
    let json: Option<String> =
        sqlx::query_scalar(concat!("SELECT ", cart_codes!(), " FROM carts WHERE id = $1"))
            .bind(cart_id)
            .fetch_optional(db)
            .await
            .map_err(sql_error)?
            .flatten();
    Ok(codes_from_json(json.as_deref()))
}

macro_rules! custom_columns {
    () => {
        "id, cart_id, item_id, external_id, discount_engine, description, discount_code, amount, created_at, updated_at"
    };
}

fn custom_row(r: &PgRow) -> CustomDiscount {
    CustomDiscount {
        id: r.get(0),
        cart_id: r.get(1),
        item_id: r.get(2),
        external_id: r.get(3),
        discount_engine: r.get(4),
        description: r.get(5),
        discount_code: r.get(6),
        amount: r.get(7),
        created_at: r.get(8),
        updated_at: r.get(9),
    }
}

/// The cart's custom discounts and its lines', oldest first.
async fn custom_of<'e>(
    db: impl Executor<'e, Database = Postgres>,
    cart_id: &str,
) -> Result<Vec<CustomDiscount>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        custom_columns!(),
        " FROM cart_custom_discounts WHERE cart_id = $1 ORDER BY created_at, id"
    ))
    .bind(cart_id)
    .fetch_all(db)
    .await
    .map_err(sql_error)?;
    Ok(rows.iter().map(custom_row).collect())
}

async fn taxes_of<'e>(db: impl Executor<'e, Database = Postgres>, cart_id: &str) -> Result<Vec<CartTaxItem>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        tax_columns!(),
        " FROM cart_tax_items WHERE cart_id = $1 ORDER BY created_at, id"
    ))
    .bind(cart_id)
    .fetch_all(db)
    .await
    .map_err(sql_error)?;
    Ok(rows.iter().map(tax_row).collect())
}

async fn touch<'e>(
    db: impl Executor<'e, Database = Postgres>,
    cart_id: &str,
    now: Millis,
    expires_at: Millis,
) -> Result<()> {
    sqlx::query("UPDATE carts SET updated_at = $2, expires_at = $3 WHERE id = $1")
        .bind(cart_id)
        .bind(now)
        .bind(expires_at)
        .execute(db)
        .await
        .map_err(sql_error)?;
    Ok(())
}

/// The cart's lines as a write left them must be within [`CartSize`]'s limits; refused, the
/// transaction is dropped (rolled back) with the error.
fn within_limits(lines: &[CartItem], taxes: &[CartTaxItem]) -> Result<()> {
    CartSize::of(lines, taxes)
        .check()
        .map_err(|limit| limit.error("data"))
}

/// Adds the items (distinct line keys) and answers with all of the cart's lines in cart order, in
/// one statement; an existing line of the same key gains the quantity and takes the new price.
/// The caller holds the cart's row lock, so the statement's snapshot has every other line: the
/// added or changed ones come from `RETURNING`, the rest from that snapshot.
async fn upsert_lines<'e>(
    db: impl Executor<'e, Database = Postgres>,
    cart_id: &str,
    items: &[CartItem],
) -> Result<Vec<CartItem>> {
    let column = |f: fn(&CartItem) -> String| items.iter().map(f).collect::<Vec<String>>();
    let rows = sqlx::query(concat!(
        "WITH added AS (INSERT INTO cart_items (id, cart_id, kind, line_key, product_id, sku, name, description, slug, quantity,
           unit_amount, includes_tax, custom_inputs, catalog_id, created_at, updated_at, location, image, bundle)
         SELECT id, $1, kind, line_key, product_id, sku, name, description, slug, quantity, unit_amount,
           includes_tax, custom_inputs::jsonb, catalog_id, created_at, updated_at, location, image, bundle::jsonb
         FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[],
           $10::int8[], $11::int8[], $12::bool[], $13::text[], $14::uuid[], $15::int8[], $16::int8[], $17::text[],
           $18::text[], $19::text[])
           AS i(id, kind, line_key, product_id, sku, name, description, slug, quantity, unit_amount, includes_tax,
                custom_inputs, catalog_id, created_at, updated_at, location, image, bundle)
         ON CONFLICT (cart_id, line_key) DO UPDATE SET
           quantity = cart_items.quantity + EXCLUDED.quantity, unit_amount = EXCLUDED.unit_amount,
           includes_tax = EXCLUDED.includes_tax, name = EXCLUDED.name, updated_at = EXCLUDED.updated_at,
           location = COALESCE(EXCLUDED.location, cart_items.location), image = EXCLUDED.image
         RETURNING ",
        item_columns!(),
        ") SELECT * FROM added UNION ALL SELECT ",
        item_columns!(),
        " FROM cart_items WHERE cart_id = $1 AND id NOT IN (SELECT id FROM added) ORDER BY created_at, id"
    ))
    .bind(cart_id)
    .bind(items.iter().map(|i| i.id).collect::<Vec<_>>())
    .bind(column(|i| i.kind.as_str().to_owned()))
    .bind(column(|i| i.line_key.clone()))
    .bind(items.iter().map(|i| i.product_id).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.sku.clone()).collect::<Vec<_>>())
    .bind(column(|i| i.name.clone()))
    .bind(items.iter().map(|i| i.description.clone()).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.slug.clone()).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.quantity).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.unit_amount).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.includes_tax).collect::<Vec<_>>())
    .bind(column(|i| i.custom_inputs.to_string()))
    .bind(items.iter().map(|i| i.catalog_id).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.created_at).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.updated_at).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.location.clone()).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.image.as_ref().map(LineImage::to_json)).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.bundle.as_ref().map(LineBundle::to_json)).collect::<Vec<_>>())
    .fetch_all(db)
    .await
    .map_err(sql_error)?;
    Ok(rows.iter().map(item_row).collect())
}

#[async_trait]
impl CartStore for PgStore {
    async fn cart(&self, id: &str, now: Millis) -> Result<Option<Cart>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            cart_columns!(),
            " FROM carts WHERE id = $1 AND expires_at > $2"
        ))
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.as_ref().map(cart_row))
    }

    async fn ensure_cart(&self, empty: Cart) -> Result<Cart> {
        // One statement settles a race between two first requests for the same id: the insert
        // replaces an expired cart and does nothing to a live one; then read what is there.
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        sqlx::query("DELETE FROM carts WHERE id = $1 AND expires_at <= $2")
            .bind(&empty.id)
            .bind(empty.created_at)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        sqlx::query(
            "INSERT INTO carts (id, name, custom_attributes, created_at, updated_at, expires_at,
               custom_discounts_enabled, use_rule_promotions, defer_inventory_check)
             VALUES ($1, $2, '{}'::jsonb, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&empty.id)
        .bind(&empty.name)
        .bind(empty.created_at)
        .bind(empty.updated_at)
        .bind(empty.expires_at)
        .bind(empty.custom_discounts_enabled)
        .bind(empty.use_rule_promotions)
        .bind(empty.defer_inventory_check)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        let cart = lock_cart(&mut *tx, &empty.id, empty.created_at).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(cart)
    }

    async fn create_cart(&self, cart: Cart) -> Result<()> {
        insert_cart(&self.pool, &cart, false).await.map(|_| ())
    }

    async fn update_cart(&self, c: Cart, events: Vec<Event>) -> Result<bool> {
        let update = sqlx::query(
            "UPDATE carts SET name = $2, description = $3, contact_email = $4, currency = $5,
             custom_discounts_enabled = $6, use_rule_promotions = $7, defer_inventory_check = $8,
             custom_attributes = $9::jsonb, snapshot_date = $10, payment_intent_id = $11, account_id = $12,
             customer_id = $13, updated_at = $14, expires_at = $15 WHERE id = $1",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.description)
        .bind(&c.contact_email)
        .bind(&c.currency)
        .bind(c.custom_discounts_enabled)
        .bind(c.use_rule_promotions)
        .bind(c.defer_inventory_check)
        .bind(c.custom_attributes.to_string())
        .bind(c.snapshot_date)
        .bind(&c.payment_intent_id)
        .bind(c.account_id)
        .bind(c.customer_id)
        .bind(c.updated_at)
        .bind(c.expires_at);
        crate::outbox::execute_emitting(&self.pool, update, &events).await
    }

    async fn delete_cart(&self, id: &str, events: Vec<Event>) -> Result<bool> {
        let delete = sqlx::query("DELETE FROM carts WHERE id = $1").bind(id);
        crate::outbox::execute_emitting(&self.pool, delete, &events).await
    }

    async fn carts(&self, scope: CartScope, page: PageRequest, now: Millis) -> Result<Page<Cart>> {
        page_of(
            &self.pool,
            cart_columns!(),
            |qb| {
                qb.push("FROM carts WHERE expires_at > ");
                qb.push_bind(now);
                match scope {
                    CartScope::Account(id) => {
                        qb.push(" AND account_id = ");
                        qb.push_bind(id);
                    }
                    CartScope::Customer(id) => {
                        qb.push(" AND customer_id = ");
                        qb.push_bind(id);
                    }
                    CartScope::Associated => {
                        qb.push(" AND (account_id IS NOT NULL OR customer_id IS NOT NULL)");
                    }
                    CartScope::All => {}
                }
            },
            "updated_at DESC, id",
            page,
            cart_row,
        )
        .await
    }

    async fn cart_items(&self, cart_id: &str) -> Result<Vec<CartItem>> {
        items_of(&self.pool, cart_id).await
    }

    async fn cart_contents_and_codes(
        &self,
        id: &str,
        now: Millis,
        stock: StockOf,
        code_keys: Vec<String>,
    ) -> Result<(Option<CartContents>, CartStock, Vec<Vec<PromotionCode>>)> {
        // PostgreSQL pays per statement, not per hand-off: the codes are a statement each.
        let (contents, stock) = self.cart_contents(id, now, stock).await?;
        let mut codes = Vec::with_capacity(code_keys.len());
        for key in &code_keys {
            codes.push(PromotionStore::promotion_codes_by_key(self, key).await?);
        }
        Ok((contents, stock, codes))
    }

    async fn cart_contents(
        &self,
        id: &str,
        now: Millis,
        stock: StockOf,
    ) -> Result<(Option<CartContents>, CartStock)> {
        // PostgreSQL's CPU per statement is what limits it here, so the stock levels the request
        // checks, the cart, its lines and whether it has tax items come in one statement (a row
        // per line, the stock and the cart's columns repeated; one row of NULLs without a cart);
        // the tax items are a statement of their own only when there are any. Positions at
        // locations are in the same statement, and only asked for when there can be some.
        let sql = match &stock {
            StockOf::Nothing => contents_sql!("NULL::text", "NULL::text"),
            // A checkout's read: the promotions' version stamp comes with it (the checkout of a
            // cart with a code must see the promotions as they are now), one statement less.
            // A bundle line's components' stock is read after, for a cart with one (below).
            StockOf::Lines => contents_sql!(
                stock_json!("product_id IN (SELECT product_id FROM cart_items WHERE cart_id = $1)"),
                located_json!(
                    "SELECT location FROM cart_items WHERE cart_id = $1",
                    "SELECT product_id FROM cart_items WHERE cart_id = $1 AND location = l.slug"
                ),
                "(SELECT version FROM promotions_version WHERE id = 1)"
            ),
            StockOf::Products { locations, .. } if locations.is_empty() => {
                contents_sql!(stock_json!("product_id = ANY($3)"), "NULL::text")
            }
            StockOf::Products { .. } => contents_sql!(
                stock_json!("product_id = ANY($3)"),
                located_json!("SELECT unnest($4::text[])", "SELECT unnest($3::uuid[])")
            ),
        };
        let mut query = sqlx::query(sql).bind(id).bind(now);
        if let StockOf::Products { ids, locations } = &stock {
            query = query.bind(ids);
            if !locations.is_empty() {
                query = query.bind(locations);
            }
        }
        let rows = query.fetch_all(&self.pool).await.map_err(sql_error)?;
        const VERSION: usize = 2;
        const FIRST_CART_COLUMN: usize = 3;
        const TAXED: usize = 19;
        const CODES: usize = 20;
        const CUSTOM: usize = 21;
        const FIRST_ITEM_COLUMN: usize = 22;
        let Some(first) = rows.first() else {
            return Err(Error::internal("a cart read returned no row"));
        };
        let levels =
            crate::inventories::cart_stock(first.get::<Option<&str>, _>(0), first.get::<Option<&str>, _>(1))?;
        if first.get::<Option<String>, _>(FIRST_CART_COLUMN).is_none() {
            // No such cart: an add creates it (the requested products' stock is wanted), a
            // checkout has no lines to check.
            let levels = if matches!(stock, StockOf::Products { .. }) {
                levels
            } else {
                CartStock::default()
            };
            return Ok((None, levels));
        }
        let lines: Vec<CartItem> = rows
            .iter()
            .filter(|r| r.get::<Option<Uuid>, _>(FIRST_ITEM_COLUMN).is_some())
            .map(|r| item_row_at(r, FIRST_ITEM_COLUMN))
            .collect();
        let mut levels = levels;
        if stock == StockOf::Lines && lines.iter().any(|l| l.bundle.is_some()) {
            // A bundle line takes its components' stock (each record with all its positions): a
            // second statement, only for a cart with bundle lines, keeps the usual checkout's one
            // statement free of unpacking JSON.
            let (wanted, _) = StockOf::Lines.wanted(&lines);
            let unread: Vec<Uuid> = wanted
                .into_iter()
                .filter(|id| !levels.stock.iter().any(|s| s.product_id == *id))
                .collect();
            levels
                .stock
                .extend(crate::inventories::stock_of(&self.pool, &unread).await?);
        }
        let taxes = if first.get::<bool, _>(TAXED) {
            taxes_of(&self.pool, id).await?
        } else {
            Vec::new()
        };
        let contents = CartContents {
            cart: cart_row_at(first, FIRST_CART_COLUMN),
            lines,
            taxes,
            codes: codes_from_json(first.get::<Option<&str>, _>(CODES)),
            custom_discounts: custom_discounts::from_json(first.get::<Option<&str>, _>(CUSTOM)),
            promotions_version: first.get::<Option<i64>, _>(VERSION),
        };
        Ok((Some(contents), levels))
    }

    async fn add_cart_items_and_codes(
        &self,
        seen: &Cart,
        currency: &str,
        items: Vec<CartItem>,
        code_keys: Vec<String>,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<CartContents> {
        let now = items.first().map_or(0, |i| i.updated_at);
        let cart_id = seen.id.as_str();
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // One statement locks the cart (the UPDATE's row lock serialises concurrent adds), fixes
        // its currency on the first add, extends its life and says whether it has tax items.
        let lock = || {
            sqlx::query(concat!(
                "UPDATE carts SET updated_at = $2, expires_at = $3, currency = COALESCE(currency, $4) \
                 WHERE id = $1 AND expires_at > $2 RETURNING ",
                cart_columns!(),
                ", EXISTS (SELECT 1 FROM cart_tax_items t WHERE t.cart_id = carts.id), ",
                cart_codes!(),
                ", ",
                cart_custom!()
            ))
            .bind(cart_id)
            .bind(now)
            .bind(expires_at)
            .bind(currency)
        };
        let locked = |row: PgRow| {
            (
                cart_row(&row),
                row.get::<bool, _>(16),
                codes_from_json(row.get::<Option<&str>, _>(17)),
                custom_discounts::from_json(row.get::<Option<&str>, _>(18)),
            )
        };
        let (cart, taxed, codes, custom) = match lock().fetch_optional(&mut *tx).await.map_err(sql_error)? {
            Some(row) => locked(row),
            None => {
                // Unknown or expired: the add creates it, as reading it would have. A concurrent
                // first add may have created it since: then that cart is the one added to.
                sqlx::query("DELETE FROM carts WHERE id = $1 AND expires_at <= $2")
                    .bind(cart_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql_error)?;
                let mut new = seen.clone();
                new.currency.get_or_insert_with(|| currency.to_owned());
                (new.updated_at, new.expires_at) = (now, expires_at);
                if insert_cart(&mut *tx, &new, true).await? {
                    (new, false, Vec::new(), Vec::new())
                } else {
                    locked(lock().fetch_one(&mut *tx).await.map_err(sql_error)?)
                }
            }
        };
        check_same_owner(&cart, seen)?;
        let distinct_lines: std::collections::HashSet<&str> =
            items.iter().map(|i| i.line_key.as_str()).collect();
        let lines = if distinct_lines.len() == items.len() {
            upsert_lines(&mut *tx, cart_id, &items).await?
        } else {
            // ON CONFLICT cannot touch one row twice in one statement: lines that repeat within
            // the request go one by one.
            let mut lines = Vec::new();
            for item in &items {
                lines = upsert_lines(&mut *tx, cart_id, std::slice::from_ref(item)).await?;
            }
            lines
        };
        if lines.len() > MAX_CART_ITEMS {
            return Err(Error::bad_request(
                "Too many items",
                format!("A cart holds at most {MAX_CART_ITEMS} different items"),
            ));
        }
        let taxes = if taxed {
            taxes_of(&mut *tx, cart_id).await?
        } else {
            Vec::new()
        };
        // Decided on the lines as written, before the commit: a refusal rolls it all back.
        within_limits(&lines, &taxes)?;
        if !code_keys.is_empty() {
            sqlx::query(
                "INSERT INTO cart_promotion_codes (cart_id, code_key, created_at)
                 SELECT $1, k, $3 FROM UNNEST($2::text[]) AS k ON CONFLICT DO NOTHING",
            )
            .bind(cart_id)
            .bind(&code_keys)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        }
        let contents = CartContents {
            cart,
            lines,
            taxes,
            codes,
            custom_discounts: custom,
            promotions_version: None,
        };
        if let Some(emit) = emit {
            crate::outbox::write(&mut tx, &emit(&contents)).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(contents)
    }

    async fn set_cart_item_quantities(
        &self,
        cart_id: &str,
        changes: Vec<QuantityChange>,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<CartContents> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let mut cart = lock_cart(&mut *tx, cart_id, now).await?;
        for change in &changes {
            let done = if change.quantity == 0 {
                sqlx::query("DELETE FROM cart_items WHERE cart_id = $1 AND id = $2")
                    .bind(cart_id)
                    .bind(change.item_id)
                    .execute(&mut *tx)
                    .await
            } else {
                let (amount, includes_tax) = change.unit_price.unzip();
                sqlx::query(
                    "UPDATE cart_items SET quantity = $3, updated_at = $4, \
                     unit_amount = COALESCE($5, unit_amount), includes_tax = COALESCE($6, includes_tax) \
                     WHERE cart_id = $1 AND id = $2",
                )
                .bind(cart_id)
                .bind(change.item_id)
                .bind(change.quantity)
                .bind(now)
                .bind(amount)
                .bind(includes_tax)
                .execute(&mut *tx)
                .await
            }
            .map_err(sql_error)?;
            if done.rows_affected() == 0 {
                return Err(Error::not_found("Not Found", "Item was not found in the cart"));
            }
        }
        touch(&mut *tx, cart_id, now, expires_at).await?;
        cart.updated_at = now;
        cart.expires_at = expires_at;
        let contents = contents_in(&mut tx, cart).await?;
        within_limits(&contents.lines, &contents.taxes)?;
        if let Some(emit) = emit {
            crate::outbox::write(&mut tx, &emit(&contents)).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(contents)
    }

    async fn clear_cart_items(
        &self,
        cart_id: &str,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // The cart's row lock first, as every other change of its lines takes it: one lock order.
        touch(&mut *tx, cart_id, now, expires_at).await?;
        sqlx::query("DELETE FROM cart_items WHERE cart_id = $1")
            .bind(cart_id)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        emit_cart(&mut tx, cart_id, now, emit).await?;
        tx.commit().await.map_err(sql_error)
    }

    async fn delete_expired_carts(&self, now: Millis) -> Result<u64> {
        let done = sqlx::query("DELETE FROM carts WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(sql_error)?;
        Ok(done.rows_affected())
    }

    async fn carts_contents(&self, cart_ids: &[String]) -> Result<(Vec<CartItem>, Vec<CartTaxItem>)> {
        if cart_ids.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let items = sqlx::query(concat!(
            "SELECT ",
            item_columns!(),
            " FROM cart_items WHERE cart_id = ANY($1) ORDER BY cart_id, created_at, id"
        ))
        .bind(cart_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)?;
        let taxes = sqlx::query(concat!(
            "SELECT ",
            tax_columns!(),
            " FROM cart_tax_items WHERE cart_id = ANY($1) ORDER BY cart_id, created_at, id"
        ))
        .bind(cart_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok((
            items.iter().map(item_row).collect(),
            taxes.iter().map(tax_row).collect(),
        ))
    }

    async fn cart_tax_items(&self, cart_id: &str) -> Result<Vec<CartTaxItem>> {
        taxes_of(&self.pool, cart_id).await
    }

    async fn add_cart_tax_items(
        &self,
        cart_id: &str,
        items: Vec<CartTaxItem>,
        all_or_nothing: bool,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<Vec<std::result::Result<CartTaxItem, TaxRefusal>>> {
        let now = items.first().map_or(0, |t| t.updated_at);
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        lock_cart(&mut *tx, cart_id, now).await?;
        // How many tax items each line (and bundle component) of the cart has now.
        let mut counts = TaxCounts::new();
        let rows = sqlx::query(
            "SELECT i.id, t.component_product_id, count(t.id) FROM cart_items i
             LEFT JOIN cart_tax_items t ON t.item_id = i.id
             WHERE i.cart_id = $1 GROUP BY i.id, t.component_product_id",
        )
        .bind(cart_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql_error)?;
        for r in &rows {
            let n = r.get::<i64, _>(2).max(0) as usize;
            counts.entry(r.get(0)).or_default().insert(r.get(1), n);
        }
        let (outcomes, write) = plan_tax_items(items, cart_id, counts, all_or_nothing);
        if !write {
            return Ok(outcomes);
        }
        for tax in outcomes.iter().flatten() {
            let (rate, amount) = tax_values(tax.tax);
            sqlx::query(concat!(
                "INSERT INTO cart_tax_items (",
                tax_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ))
            .bind(tax.id)
            .bind(&tax.cart_id)
            .bind(tax.item_id)
            .bind(&tax.name)
            .bind(&tax.code)
            .bind(&tax.jurisdiction)
            .bind(rate)
            .bind(amount)
            .bind(tax.created_at)
            .bind(tax.updated_at)
            .bind(tax.component_product_id)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        }
        within_limits(
            &items_of(&mut *tx, cart_id).await?,
            &taxes_of(&mut *tx, cart_id).await?,
        )?;
        touch(&mut *tx, cart_id, now, expires_at).await?;
        emit_cart(&mut tx, cart_id, now, emit).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(outcomes)
    }

    async fn update_cart_tax_item(
        &self,
        tax: CartTaxItem,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<bool> {
        let (rate, amount) = tax_values(tax.tax);
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // The cart's row lock first, as every change of its lines and their taxes takes it.
        lock_cart(&mut *tx, &tax.cart_id, tax.updated_at).await?;
        let done = sqlx::query(
            "UPDATE cart_tax_items SET name = $4, code = $5, jurisdiction = $6, rate_ppm = $7, amount = $8,
             updated_at = $9 WHERE cart_id = $1 AND item_id = $2 AND id = $3",
        )
        .bind(&tax.cart_id)
        .bind(tax.item_id)
        .bind(tax.id)
        .bind(&tax.name)
        .bind(&tax.code)
        .bind(&tax.jurisdiction)
        .bind(rate)
        .bind(amount)
        .bind(tax.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        let found = done.rows_affected() > 0;
        if found {
            within_limits(
                &items_of(&mut *tx, &tax.cart_id).await?,
                &taxes_of(&mut *tx, &tax.cart_id).await?,
            )?;
            touch(&mut *tx, &tax.cart_id, tax.updated_at, expires_at).await?;
            emit_cart(&mut tx, &tax.cart_id, tax.updated_at, emit).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(found)
    }

    async fn delete_cart_tax_item(
        &self,
        key: TaxItemKey,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<bool> {
        let TaxItemKey {
            cart_id,
            item_id,
            component_product_id,
            id,
        } = key;
        let cart_id = cart_id.as_str();
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let done = sqlx::query(
            "DELETE FROM cart_tax_items WHERE cart_id = $1 AND item_id = $2 AND id = $3
             AND component_product_id IS NOT DISTINCT FROM $4",
        )
        .bind(cart_id)
        .bind(item_id)
        .bind(id)
        .bind(component_product_id)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        let found = done.rows_affected() > 0;
        if found {
            touch(&mut *tx, cart_id, now, expires_at).await?;
            emit_cart(&mut tx, cart_id, now, emit).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(found)
    }

    async fn delete_cart_tax_items(
        &self,
        cart_id: &str,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let done = sqlx::query("DELETE FROM cart_tax_items WHERE cart_id = $1")
            .bind(cart_id)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        if done.rows_affected() > 0 {
            touch(&mut *tx, cart_id, now, expires_at).await?;
            emit_cart(&mut tx, cart_id, now, emit).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(done.rows_affected())
    }

    async fn add_custom_discounts(
        &self,
        cart_id: &str,
        discounts: Vec<CustomDiscount>,
        all_or_nothing: bool,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<Vec<std::result::Result<CustomDiscount, custom_discounts::Refusal>>> {
        let now = discounts.first().map_or(0, |d| d.updated_at);
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // The cart's row lock serialises this with every other change of its lines and discounts,
        // so the limits are counted on what is there.
        let cart = lock_cart(&mut *tx, cart_id, now).await?;
        let line_ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM cart_items WHERE cart_id = $1")
            .bind(cart_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(sql_error)?;
        let existing = custom_of(&mut *tx, cart_id).await?;
        let (outcomes, write) = custom_discounts::plan(
            discounts,
            cart.custom_discounts_enabled,
            &line_ids,
            &existing,
            all_or_nothing,
        );
        if !write {
            return Ok(outcomes);
        }
        let added: Vec<&CustomDiscount> = outcomes.iter().flatten().collect();
        let column = |f: fn(&CustomDiscount) -> String| added.iter().map(|d| f(d)).collect::<Vec<String>>();
        sqlx::query(concat!(
            "INSERT INTO cart_custom_discounts (",
            custom_columns!(),
            ") SELECT id, $1, item_id, external_id, discount_engine, description, discount_code, amount, created_at, \
             updated_at FROM UNNEST($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[], \
             $9::int8[], $10::int8[]) AS d(id, item_id, external_id, discount_engine, description, discount_code, amount, \
             created_at, updated_at)"
        ))
        .bind(cart_id)
        .bind(added.iter().map(|d| d.id).collect::<Vec<_>>())
        .bind(added.iter().map(|d| d.item_id).collect::<Vec<_>>())
        .bind(column(|d| d.external_id.clone()))
        .bind(column(|d| d.discount_engine.clone()))
        .bind(column(|d| d.description.clone()))
        .bind(column(|d| d.discount_code.clone()))
        .bind(added.iter().map(|d| d.amount).collect::<Vec<_>>())
        .bind(added.iter().map(|d| d.created_at).collect::<Vec<_>>())
        .bind(added.iter().map(|d| d.updated_at).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        touch(&mut *tx, cart_id, now, expires_at).await?;
        emit_cart(&mut tx, cart_id, now, emit).await?;
        tx.commit().await.map_err(sql_error)?;
        Ok(outcomes)
    }

    async fn update_custom_discount(
        &self,
        d: CustomDiscount,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // The cart's row lock first, as every change of its lines and discounts takes it.
        lock_cart(&mut *tx, &d.cart_id, d.updated_at).await?;
        let done = sqlx::query(
            "UPDATE cart_custom_discounts SET external_id = $4, discount_engine = $5, description = $6,
             discount_code = $7, amount = $8, updated_at = $9
             WHERE cart_id = $1 AND item_id IS NOT DISTINCT FROM $2 AND id = $3",
        )
        .bind(&d.cart_id)
        .bind(d.item_id)
        .bind(d.id)
        .bind(&d.external_id)
        .bind(&d.discount_engine)
        .bind(&d.description)
        .bind(&d.discount_code)
        .bind(d.amount)
        .bind(d.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        let found = done.rows_affected() > 0;
        if found {
            touch(&mut *tx, &d.cart_id, d.updated_at, expires_at).await?;
            emit_cart(&mut tx, &d.cart_id, d.updated_at, emit).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(found)
    }

    async fn delete_custom_discount(
        &self,
        cart_id: &str,
        item_id: Option<Uuid>,
        id: Uuid,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let done = sqlx::query(
            "DELETE FROM cart_custom_discounts WHERE cart_id = $1 AND item_id IS NOT DISTINCT FROM $2 AND id = $3",
        )
        .bind(cart_id)
        .bind(item_id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        let found = done.rows_affected() > 0;
        if found {
            touch(&mut *tx, cart_id, now, expires_at).await?;
            emit_cart(&mut tx, cart_id, now, emit).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(found)
    }

    async fn carts_custom_discounts(&self, cart_ids: &[String]) -> Result<Vec<CustomDiscount>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            custom_columns!(),
            " FROM cart_custom_discounts WHERE cart_id = ANY($1) ORDER BY cart_id, created_at, id"
        ))
        .bind(cart_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(rows.iter().map(custom_row).collect())
    }

    async fn delete_custom_discounts(
        &self,
        cart_id: &str,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let done = sqlx::query("DELETE FROM cart_custom_discounts WHERE cart_id = $1")
            .bind(cart_id)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        if done.rows_affected() > 0 {
            touch(&mut *tx, cart_id, now, expires_at).await?;
            emit_cart(&mut tx, cart_id, now, emit).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl SettingsStore for PgStore {
    async fn store_settings(&self) -> Result<StoreSettings> {
        let row = sqlx::query(
            "SELECT page_length, calculation_method, cart_expiry_days, show_all_carts,
             custom_discounts_enabled, use_rule_promotions, defer_inventory_check, inventory_reserve_at,
             shopper_address_limit
             FROM store_settings WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.map_or_else(StoreSettings::default, |r| {
            let method: String = r.get(1);
            StoreSettings {
                page_length: r.get(0),
                calculation_method: CalculationMethod::parse(&method).unwrap_or_default(),
                cart_expiry_days: r.get(2),
                show_all_carts: r.get(3),
                custom_discounts_enabled: r.get(4),
                use_rule_promotions: r.get(5),
                defer_inventory_check: r.get(6),
                reserve_at: ReserveAt::parse(r.get::<&str, _>(7)).unwrap_or_default(),
                shopper_address_limit: r.get(8),
            }
        }))
    }

    async fn update_store_settings(&self, s: StoreSettings, events: Vec<Event>) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        sqlx::query(
            "INSERT INTO store_settings (id, page_length, calculation_method, cart_expiry_days, show_all_carts,
               custom_discounts_enabled, use_rule_promotions, defer_inventory_check, inventory_reserve_at,
               shopper_address_limit)
             VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET page_length = EXCLUDED.page_length,
               calculation_method = EXCLUDED.calculation_method, cart_expiry_days = EXCLUDED.cart_expiry_days,
               show_all_carts = EXCLUDED.show_all_carts, custom_discounts_enabled = EXCLUDED.custom_discounts_enabled,
               use_rule_promotions = EXCLUDED.use_rule_promotions,
               defer_inventory_check = EXCLUDED.defer_inventory_check,
               inventory_reserve_at = EXCLUDED.inventory_reserve_at,
               shopper_address_limit = EXCLUDED.shopper_address_limit",
        )
        .bind(s.page_length)
        .bind(s.calculation_method.as_str())
        .bind(s.cart_expiry_days)
        .bind(s.show_all_carts)
        .bind(s.custom_discounts_enabled)
        .bind(s.use_rule_promotions)
        .bind(s.defer_inventory_check)
        .bind(s.reserve_at.as_str())
        .bind(s.shopper_address_limit)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        crate::outbox::write(&mut tx, &events).await?;
        tx.commit().await.map_err(sql_error)
    }
}
