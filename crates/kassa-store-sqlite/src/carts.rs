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
use kassa_core::promotions::PromotionCode;
use kassa_core::query::{Page, PageRequest};
use kassa_core::settings::{ReserveAt, StoreSettings};
use kassa_core::store::{CartStore, SettingsStore};
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::db::{DbError, DbResult, unique_violation};
use crate::sql::{as_params, opt_uuid_at, push_page, uuid_at};

macro_rules! cart_columns {
    () => {
        "id, name, description, contact_email, currency, custom_discounts_enabled, use_rule_promotions, \
         defer_inventory_check, custom_attributes, snapshot_date, payment_intent_id, account_id, customer_id, \
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
         includes_tax, custom_inputs, catalog_id, created_at, updated_at, location, image, bundle"
    };
}

fn cart_row(r: &Row<'_>) -> rusqlite::Result<Cart> {
    let attrs: String = r.get(8)?;
    Ok(Cart {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        contact_email: r.get(3)?,
        currency: r.get(4)?,
        custom_discounts_enabled: r.get(5)?,
        use_rule_promotions: r.get(6)?,
        defer_inventory_check: r.get(7)?,
        custom_attributes: serde_json::from_str(&attrs).unwrap_or_default(),
        snapshot_date: r.get(9)?,
        payment_intent_id: r.get(10)?,
        account_id: opt_uuid_at(r, 11)?,
        customer_id: opt_uuid_at(r, 12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        expires_at: r.get(15)?,
    })
}

fn item_row(r: &Row<'_>) -> rusqlite::Result<CartItem> {
    let kind: String = r.get(2)?;
    let inputs: String = r.get(12)?;
    Ok(CartItem {
        id: uuid_at(r, 0)?,
        cart_id: r.get(1)?,
        kind: ItemKind::parse(&kind).unwrap_or(ItemKind::Custom),
        line_key: r.get(3)?,
        product_id: opt_uuid_at(r, 4)?,
        sku: r.get(5)?,
        name: r.get(6)?,
        description: r.get(7)?,
        slug: r.get(8)?,
        quantity: r.get(9)?,
        unit_amount: r.get(10)?,
        includes_tax: r.get(11)?,
        custom_inputs: serde_json::from_str(&inputs).unwrap_or_default(),
        catalog_id: opt_uuid_at(r, 13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        location: r.get(16)?,
        image: LineImage::from_json(r.get::<_, Option<String>>(17)?.as_deref()),
        bundle: LineBundle::from_json(r.get::<_, Option<String>>(18)?.as_deref()),
    })
}

fn tax_row(r: &Row<'_>) -> rusqlite::Result<CartTaxItem> {
    let rate: Option<i64> = r.get(6)?;
    let amount: Option<i64> = r.get(7)?;
    Ok(CartTaxItem {
        id: uuid_at(r, 0)?,
        cart_id: r.get(1)?,
        item_id: uuid_at(r, 2)?,
        name: r.get(3)?,
        code: r.get(4)?,
        jurisdiction: r.get(5)?,
        tax: match (rate, amount) {
            (Some(ppm), _) => TaxItem::Rate(TaxRate::from_ppm(u32::try_from(ppm).unwrap_or(u32::MAX))),
            (None, amount) => TaxItem::Amount(amount.unwrap_or(0)),
        },
        component_product_id: opt_uuid_at(r, 10)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

/// A tax item's rate and amount columns.
fn tax_values(tax: TaxItem) -> (Option<i64>, Option<i64>) {
    match tax {
        TaxItem::Rate(rate) => (Some(i64::from(rate.ppm())), None),
        TaxItem::Amount(amount) => (None, Some(amount)),
    }
}

fn live_cart(conn: &Connection, id: &str, now: Millis) -> DbResult<Option<Cart>> {
    Ok(conn
        .prepare_cached(concat!(
            "SELECT ",
            cart_columns!(),
            " FROM carts WHERE id = ?1 AND expires_at > ?2"
        ))?
        .query_row(params![id, now], cart_row)
        .optional()?)
}

fn insert_cart(conn: &Connection, c: &Cart) -> DbResult<()> {
    conn.prepare_cached(concat!(
        "INSERT INTO carts (",
        cart_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
    ))?
    .execute(params![
        c.id,
        c.name,
        c.description,
        c.contact_email,
        c.currency,
        c.custom_discounts_enabled,
        c.use_rule_promotions,
        c.defer_inventory_check,
        c.custom_attributes.to_string(),
        c.snapshot_date,
        c.payment_intent_id,
        c.account_id.map(|u| u.to_string()),
        c.customer_id.map(|u| u.to_string()),
        c.created_at,
        c.updated_at,
        c.expires_at
    ])
    .map_err(|e| -> DbError {
        match unique_violation(&e) {
            Some(_) => Error::Conflict(conflicts::CART_ID.into()).into(),
            None => e.into(),
        }
    })?;
    Ok(())
}

fn items_of(conn: &Connection, cart_id: &str) -> DbResult<Vec<CartItem>> {
    Ok(conn
        .prepare_cached(concat!(
            "SELECT ",
            item_columns!(),
            " FROM cart_items WHERE cart_id = ?1 ORDER BY created_at, id"
        ))?
        .query_map([cart_id], item_row)?
        .collect::<rusqlite::Result<_>>()?)
}

fn taxes_of(conn: &Connection, cart_id: &str) -> DbResult<Vec<CartTaxItem>> {
    Ok(conn
        .prepare_cached(concat!(
            "SELECT ",
            tax_columns!(),
            " FROM cart_tax_items WHERE cart_id = ?1 ORDER BY created_at, id"
        ))?
        .query_map([cart_id], tax_row)?
        .collect::<rusqlite::Result<_>>()?)
}

macro_rules! custom_columns {
    () => {
        "id, cart_id, item_id, external_id, discount_engine, description, discount_code, amount, created_at, updated_at"
    };
}

fn custom_row(r: &Row<'_>) -> rusqlite::Result<CustomDiscount> {
    Ok(CustomDiscount {
        id: uuid_at(r, 0)?,
        cart_id: r.get(1)?,
        item_id: opt_uuid_at(r, 2)?,
        external_id: r.get(3)?,
        discount_engine: r.get(4)?,
        description: r.get(5)?,
        discount_code: r.get(6)?,
        amount: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

/// The cart's custom discounts and its lines', oldest first.
fn custom_of(conn: &Connection, cart_id: &str) -> DbResult<Vec<CustomDiscount>> {
    Ok(conn
        .prepare_cached(concat!(
            "SELECT ",
            custom_columns!(),
            " FROM cart_custom_discounts WHERE cart_id = ?1 ORDER BY created_at, id"
        ))?
        .query_map([cart_id], custom_row)?
        .collect::<rusqlite::Result<_>>()?)
}

/// [`custom_of`] when they count (the cart uses custom discounts), else none.
fn custom_in_effect(conn: &Connection, cart: &Cart) -> DbResult<Vec<CustomDiscount>> {
    if cart.custom_discounts_enabled {
        custom_of(conn, &cart.id)
    } else {
        Ok(Vec::new())
    }
}

fn touch(conn: &Connection, cart_id: &str, now: Millis, expires_at: Millis) -> DbResult<()> {
    conn.prepare_cached("UPDATE carts SET updated_at = ?2, expires_at = ?3 WHERE id = ?1")?
        .execute(params![cart_id, now, expires_at])?;
    Ok(())
}

/// The cart's lines as a write left them must be within [`CartSize`]'s limits; refused, the
/// write's job fails and its savepoint is rolled back.
fn within_limits(lines: &[CartItem], taxes: &[CartTaxItem]) -> DbResult<()> {
    CartSize::of(lines, taxes)
        .check()
        .map_err(|limit| limit.error("data").into())
}

fn cart_gone() -> Error {
    Error::not_found("Not Found", "Cart not found")
}

/// Writes the `cart.updated` event of a change made on `conn` (when something observes it): the
/// cart as the change leaves it.
pub(crate) fn emit_cart(
    conn: &Connection,
    cart_id: &str,
    now: Millis,
    emit: Option<Emit<CartContents>>,
) -> DbResult<()> {
    if let Some(emit) = emit
        && let (Some(contents), _) = contents_of(conn, cart_id, now, StockOf::Nothing)?
    {
        crate::outbox::write(conn, &emit(&contents))?;
    }
    Ok(())
}

/// The live cart with its lines, tax items, codes and custom discounts, and the stock levels
/// `stock` asks for, within the caller's read ([`CartStore::cart_contents`]).
fn contents_of(
    conn: &Connection,
    id: &str,
    now: Millis,
    stock: StockOf,
) -> DbResult<(Option<CartContents>, CartStock)> {
    let contents = match live_cart(conn, id, now)? {
        Some(cart) => {
            let lines = items_of(conn, id)?;
            // Tax items belong to lines: an empty cart has none.
            let taxes = if lines.is_empty() {
                Vec::new()
            } else {
                taxes_of(conn, id)?
            };
            let codes = crate::promotion_codes::codes_of(conn, id)?;
            // A cart with codes is checked out against the promotions as they are now: their
            // stamp read in this snapshot saves the checkout a read.
            let promotions_version = if codes.is_empty() {
                None
            } else {
                Some(crate::promotion_codes::version(conn)?)
            };
            let custom_discounts = custom_in_effect(conn, &cart)?;
            Some(CartContents {
                cart,
                lines,
                taxes,
                codes,
                custom_discounts,
                promotions_version,
            })
        }
        None => None,
    };
    let lines = contents.as_ref().map_or(&[][..], |c| c.lines.as_slice());
    let (products, locations) = stock.wanted(lines);
    let stock = crate::inventories::cart_stock(conn, &products, &locations)?;
    Ok((contents, stock))
}

#[async_trait]
impl CartStore for SqliteStore {
    async fn cart(&self, id: &str, now: Millis) -> Result<Option<Cart>> {
        let id = id.to_owned();
        self.db.read(move |conn| live_cart(conn, &id, now)).await
    }

    async fn ensure_cart(&self, empty: Cart) -> Result<Cart> {
        self.db
            .write(move |conn| {
                if let Some(cart) = live_cart(conn, &empty.id, empty.created_at)? {
                    return Ok(cart);
                }
                // An expired cart with this id is gone: replace it.
                conn.prepare_cached("DELETE FROM carts WHERE id = ?1")?
                    .execute([&empty.id])?;
                insert_cart(conn, &empty)?;
                Ok(empty)
            })
            .await
    }

    async fn create_cart(&self, cart: Cart) -> Result<()> {
        self.db.write(move |conn| insert_cart(conn, &cart)).await
    }

    async fn update_cart(&self, c: Cart, events: Vec<Event>) -> Result<bool> {
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE carts SET name = ?2, description = ?3, contact_email = ?4, currency = ?5,
                         custom_discounts_enabled = ?6, use_rule_promotions = ?7, defer_inventory_check = ?8,
                         custom_attributes = ?9, snapshot_date = ?10, payment_intent_id = ?11, account_id = ?12,
                         customer_id = ?13, updated_at = ?14, expires_at = ?15 WHERE id = ?1",
                    )?
                    .execute(params![
                        c.id,
                        c.name,
                        c.description,
                        c.contact_email,
                        c.currency,
                        c.custom_discounts_enabled,
                        c.use_rule_promotions,
                        c.defer_inventory_check,
                        c.custom_attributes.to_string(),
                        c.snapshot_date,
                        c.payment_intent_id,
                        c.account_id.map(|u| u.to_string()),
                        c.customer_id.map(|u| u.to_string()),
                        c.updated_at,
                        c.expires_at
                    ])?;
                if n > 0 {
                    crate::outbox::write(conn, &events)?;
                }
                Ok(n > 0)
            })
            .await
    }

    async fn delete_cart(&self, id: &str, events: Vec<Event>) -> Result<bool> {
        let id = id.to_owned();
        self.db
            .write(move |conn| {
                let deleted = conn
                    .prepare_cached("DELETE FROM carts WHERE id = ?1")?
                    .execute([id])?
                    > 0;
                if deleted {
                    crate::outbox::write(conn, &events)?;
                }
                Ok(deleted)
            })
            .await
    }

    async fn carts(&self, scope: CartScope, page: PageRequest, now: Millis) -> Result<Page<Cart>> {
        self.db
            .read(move |conn| {
                let mut params = vec![Value::Integer(now)];
                let mut from = "FROM carts WHERE expires_at > ?1".to_owned();
                match scope {
                    CartScope::Account(id) => {
                        params.push(Value::Text(id.to_string()));
                        from.push_str(" AND account_id = ?2");
                    }
                    CartScope::Customer(id) => {
                        params.push(Value::Text(id.to_string()));
                        from.push_str(" AND customer_id = ?2");
                    }
                    CartScope::Associated => {
                        from.push_str(" AND (account_id IS NOT NULL OR customer_id IS NOT NULL)")
                    }
                    CartScope::All => {}
                }
                let total: i64 = conn
                    .prepare_cached(&format!("SELECT count(*) {from}"))?
                    .query_row(as_params(&params).as_slice(), |r| r.get(0))?;
                let mut sql = format!("SELECT {} {from} ORDER BY updated_at DESC, id", cart_columns!());
                push_page(&mut sql, &mut params, page);
                let items = conn
                    .prepare_cached(&sql)?
                    .query_map(as_params(&params).as_slice(), cart_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(Page {
                    items,
                    total: total as u64,
                })
            })
            .await
    }

    async fn cart_items(&self, cart_id: &str) -> Result<Vec<CartItem>> {
        let cart_id = cart_id.to_owned();
        self.db.read(move |conn| items_of(conn, &cart_id)).await
    }

    async fn cart_contents(
        &self,
        id: &str,
        now: Millis,
        stock: StockOf,
    ) -> Result<(Option<CartContents>, CartStock)> {
        let id = id.to_owned();
        self.db.read(move |conn| contents_of(conn, &id, now, stock)).await
    }

    async fn cart_contents_and_codes(
        &self,
        id: &str,
        now: Millis,
        stock: StockOf,
        code_keys: Vec<String>,
    ) -> Result<(Option<CartContents>, CartStock, Vec<Vec<PromotionCode>>)> {
        let id = id.to_owned();
        self.db
            .read(move |conn| {
                let (contents, stock) = contents_of(conn, &id, now, stock)?;
                let codes = code_keys
                    .iter()
                    .map(|key| crate::promotion_codes::codes_by_key(conn, key))
                    .collect::<DbResult<_>>()?;
                Ok((contents, stock, codes))
            })
            .await
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
        let (seen, currency) = (seen.clone(), currency.to_owned());
        self.db
            .write(move |conn| {
                let now = items.first().map_or(0, |i| i.updated_at);
                let cart_id = seen.id.clone();
                let (mut cart, created) = match live_cart(conn, &cart_id, now)? {
                    Some(cart) => (cart, false),
                    None => {
                        // Unknown or expired: the add creates it, as reading it would have, with
                        // its currency and life already set (no second write of the row).
                        conn.prepare_cached("DELETE FROM carts WHERE id = ?1")?
                            .execute([&cart_id])?;
                        let mut new = seen.clone();
                        new.currency.get_or_insert_with(|| currency.clone());
                        (new.updated_at, new.expires_at) = (now, expires_at);
                        insert_cart(conn, &new)?;
                        (new, true)
                    }
                };
                check_same_owner(&cart, &seen)?;
                for item in &items {
                    conn.prepare_cached(concat!(
                        "INSERT INTO cart_items (",
                        item_columns!(),
                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
                         ON CONFLICT (cart_id, line_key) DO UPDATE SET
                           quantity = quantity + excluded.quantity, unit_amount = excluded.unit_amount,
                           includes_tax = excluded.includes_tax, name = excluded.name, updated_at = excluded.updated_at,
                           location = COALESCE(excluded.location, location), image = excluded.image"
                    ))?
                    .execute(params![
                        item.id.to_string(),
                        cart_id,
                        item.kind.as_str(),
                        item.line_key,
                        item.product_id.map(|u| u.to_string()),
                        item.sku,
                        item.name,
                        item.description,
                        item.slug,
                        item.quantity,
                        item.unit_amount,
                        item.includes_tax,
                        item.custom_inputs.to_string(),
                        item.catalog_id.map(|u| u.to_string()),
                        item.created_at,
                        item.updated_at,
                        item.location,
                        item.image.as_ref().map(LineImage::to_json),
                        item.bundle.as_ref().map(LineBundle::to_json)
                    ])?;
                }
                let lines = items_of(conn, &cart_id)?;
                if lines.len() > MAX_CART_ITEMS {
                    return Err(Error::bad_request(
                        "Too many items",
                        format!("A cart holds at most {MAX_CART_ITEMS} different items"),
                    )
                    .into());
                }
                let taxes = if created { Vec::new() } else { taxes_of(conn, &cart_id)? };
                // Decided on the lines as written, inside this job: a refusal rolls it all back.
                within_limits(&lines, &taxes)?;
                if !created {
                    // One update fixes the currency on the first add and extends the cart's life.
                    conn.prepare_cached(
                        "UPDATE carts SET updated_at = ?2, expires_at = ?3, currency = COALESCE(currency, ?4)
                         WHERE id = ?1",
                    )?
                    .execute(params![cart_id, now, expires_at, currency])?;
                    cart.currency.get_or_insert(currency);
                    (cart.updated_at, cart.expires_at) = (now, expires_at);
                }
                for key in &code_keys {
                    conn.prepare_cached(
                        "INSERT INTO cart_promotion_codes (cart_id, code_key, created_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![cart_id, key, now])?;
                }
                let (codes, custom_discounts) = if created {
                    (Vec::new(), Vec::new())
                } else {
                    (
                        crate::promotion_codes::codes_of(conn, &cart_id)?,
                        custom_in_effect(conn, &cart)?,
                    )
                };
                let contents = CartContents {
                    cart,
                    lines,
                    taxes,
                    codes,
                    custom_discounts,
                    promotions_version: None,
                };
                if let Some(emit) = emit {
                    crate::outbox::write(conn, &emit(&contents))?;
                }
                Ok(contents)
            })
            .await
    }

    async fn set_cart_item_quantities(
        &self,
        cart_id: &str,
        changes: Vec<QuantityChange>,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<CartContents> {
        let cart_id = cart_id.to_owned();
        self.db
            .write(move |conn| {
                let mut cart = live_cart(conn, &cart_id, now)?.ok_or_else(cart_gone)?;
                for change in &changes {
                    let item_id = change.item_id.to_string();
                    let n = if change.quantity == 0 {
                        conn.prepare_cached("DELETE FROM cart_items WHERE cart_id = ?1 AND id = ?2")?
                            .execute(params![cart_id, item_id])?
                    } else {
                        let (amount, includes_tax) = change.unit_price.unzip();
                        conn.prepare_cached(
                            "UPDATE cart_items SET quantity = ?3, updated_at = ?4, \
                             unit_amount = COALESCE(?5, unit_amount), includes_tax = COALESCE(?6, includes_tax) \
                             WHERE cart_id = ?1 AND id = ?2",
                        )?
                        .execute(params![cart_id, item_id, change.quantity, now, amount, includes_tax])?
                    };
                    if n == 0 {
                        return Err(Error::not_found("Not Found", "Item was not found in the cart").into());
                    }
                }
                let lines = items_of(conn, &cart_id)?;
                let taxes = taxes_of(conn, &cart_id)?;
                within_limits(&lines, &taxes)?;
                touch(conn, &cart_id, now, expires_at)?;
                cart.updated_at = now;
                cart.expires_at = expires_at;
                let codes = crate::promotion_codes::codes_of(conn, &cart_id)?;
                let custom_discounts = custom_in_effect(conn, &cart)?;
                let contents = CartContents {
                    cart,
                    lines,
                    taxes,
                    codes,
                    custom_discounts,
                    promotions_version: None,
                };
                if let Some(emit) = emit {
                    crate::outbox::write(conn, &emit(&contents))?;
                }
                Ok(contents)
            })
            .await
    }

    async fn clear_cart_items(
        &self,
        cart_id: &str,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<()> {
        let cart_id = cart_id.to_owned();
        self.db
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM cart_items WHERE cart_id = ?1")?
                    .execute([&cart_id])?;
                touch(conn, &cart_id, now, expires_at)?;
                emit_cart(conn, &cart_id, now, emit)
            })
            .await
    }

    async fn delete_expired_carts(&self, now: Millis) -> Result<u64> {
        self.db
            .write(move |conn| {
                Ok(conn
                    .prepare_cached("DELETE FROM carts WHERE expires_at <= ?1")?
                    .execute([now])? as u64)
            })
            .await
    }

    async fn carts_contents(&self, cart_ids: &[String]) -> Result<(Vec<CartItem>, Vec<CartTaxItem>)> {
        let ids = cart_ids.to_vec();
        self.db
            .read(move |conn| {
                if ids.is_empty() {
                    return Ok((Vec::new(), Vec::new()));
                }
                let marks = vec!["?"; ids.len()].join(", ");
                let items = conn
                    .prepare(&format!(
                        "SELECT {} FROM cart_items WHERE cart_id IN ({marks}) ORDER BY cart_id, created_at, id",
                        item_columns!()
                    ))?
                    .query_map(rusqlite::params_from_iter(&ids), item_row)?
                    .collect::<rusqlite::Result<_>>()?;
                let taxes = conn
                    .prepare(&format!(
                        "SELECT {} FROM cart_tax_items WHERE cart_id IN ({marks}) ORDER BY cart_id, created_at, id",
                        tax_columns!()
                    ))?
                    .query_map(rusqlite::params_from_iter(&ids), tax_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok((items, taxes))
            })
            .await
    }

    async fn cart_tax_items(&self, cart_id: &str) -> Result<Vec<CartTaxItem>> {
        let cart_id = cart_id.to_owned();
        self.db.read(move |conn| taxes_of(conn, &cart_id)).await
    }

    async fn add_cart_tax_items(
        &self,
        cart_id: &str,
        items: Vec<CartTaxItem>,
        all_or_nothing: bool,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<Vec<std::result::Result<CartTaxItem, TaxRefusal>>> {
        let cart_id = cart_id.to_owned();
        self.db
            .write(move |conn| {
                let now = items.first().map_or(0, |t| t.updated_at);
                live_cart(conn, &cart_id, now)?.ok_or_else(cart_gone)?;
                // How many tax items each line (and bundle component) of the cart has now.
                let mut counts = TaxCounts::new();
                let mut rows = conn.prepare_cached(
                    "SELECT i.id, t.component_product_id, count(t.id) FROM cart_items i
                     LEFT JOIN cart_tax_items t ON t.item_id = i.id
                     WHERE i.cart_id = ?1 GROUP BY i.id, t.component_product_id",
                )?;
                for row in rows.query_map([&cart_id], |r| {
                    Ok((uuid_at(r, 0)?, opt_uuid_at(r, 1)?, r.get::<_, i64>(2)? as usize))
                })? {
                    let (item, component, n) = row?;
                    counts.entry(item).or_default().insert(component, n);
                }
                drop(rows);
                let (outcomes, write) = plan_tax_items(items, &cart_id, counts, all_or_nothing);
                if !write {
                    return Ok(outcomes);
                }
                for tax in outcomes.iter().flatten() {
                    let (rate, amount) = tax_values(tax.tax);
                    conn.prepare_cached(concat!(
                        "INSERT INTO cart_tax_items (",
                        tax_columns!(),
                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                    ))?
                    .execute(params![
                        tax.id.to_string(),
                        tax.cart_id,
                        tax.item_id.to_string(),
                        tax.name,
                        tax.code,
                        tax.jurisdiction,
                        rate,
                        amount,
                        tax.created_at,
                        tax.updated_at,
                        tax.component_product_id.map(|c| c.to_string())
                    ])?;
                }
                within_limits(&items_of(conn, &cart_id)?, &taxes_of(conn, &cart_id)?)?;
                touch(conn, &cart_id, now, expires_at)?;
                emit_cart(conn, &cart_id, now, emit)?;
                Ok(outcomes)
            })
            .await
    }

    async fn update_cart_tax_item(
        &self,
        tax: CartTaxItem,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<bool> {
        self.db
            .write(move |conn| {
                let (rate, amount) = tax_values(tax.tax);
                let n = conn
                    .prepare_cached(
                        "UPDATE cart_tax_items SET name = ?4, code = ?5, jurisdiction = ?6, rate_ppm = ?7,
                         amount = ?8, updated_at = ?9 WHERE cart_id = ?1 AND item_id = ?2 AND id = ?3",
                    )?
                    .execute(params![
                        tax.cart_id,
                        tax.item_id.to_string(),
                        tax.id.to_string(),
                        tax.name,
                        tax.code,
                        tax.jurisdiction,
                        rate,
                        amount,
                        tax.updated_at
                    ])?;
                if n > 0 {
                    within_limits(&items_of(conn, &tax.cart_id)?, &taxes_of(conn, &tax.cart_id)?)?;
                    touch(conn, &tax.cart_id, tax.updated_at, expires_at)?;
                    emit_cart(conn, &tax.cart_id, tax.updated_at, emit)?;
                }
                Ok(n > 0)
            })
            .await
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
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "DELETE FROM cart_tax_items WHERE cart_id = ?1 AND item_id = ?2 AND id = ?3
                         AND component_product_id IS ?4",
                    )?
                    .execute(params![
                        cart_id,
                        item_id.to_string(),
                        id.to_string(),
                        component_product_id.map(|c| c.to_string())
                    ])?;
                if n > 0 {
                    touch(conn, &cart_id, now, expires_at)?;
                    emit_cart(conn, &cart_id, now, emit)?;
                }
                Ok(n > 0)
            })
            .await
    }

    async fn delete_cart_tax_items(
        &self,
        cart_id: &str,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<u64> {
        let cart_id = cart_id.to_owned();
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached("DELETE FROM cart_tax_items WHERE cart_id = ?1")?
                    .execute([&cart_id])?;
                if n > 0 {
                    touch(conn, &cart_id, now, expires_at)?;
                    emit_cart(conn, &cart_id, now, emit)?;
                }
                Ok(n as u64)
            })
            .await
    }

    async fn add_custom_discounts(
        &self,
        cart_id: &str,
        discounts: Vec<CustomDiscount>,
        all_or_nothing: bool,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<Vec<std::result::Result<CustomDiscount, custom_discounts::Refusal>>> {
        let cart_id = cart_id.to_owned();
        self.db
            .write(move |conn| {
                let now = discounts.first().map_or(0, |d| d.updated_at);
                // The single writer serialises this with every other change of the cart.
                let cart = live_cart(conn, &cart_id, now)?.ok_or_else(cart_gone)?;
                let line_ids: Vec<Uuid> = conn
                    .prepare_cached("SELECT id FROM cart_items WHERE cart_id = ?1")?
                    .query_map([&cart_id], |r| uuid_at(r, 0))?
                    .collect::<rusqlite::Result<_>>()?;
                let existing = custom_of(conn, &cart_id)?;
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
                for d in outcomes.iter().flatten() {
                    conn.prepare_cached(concat!(
                        "INSERT INTO cart_custom_discounts (",
                        custom_columns!(),
                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                    ))?
                    .execute(params![
                        d.id.to_string(),
                        cart_id,
                        d.item_id.map(|u| u.to_string()),
                        d.external_id,
                        d.discount_engine,
                        d.description,
                        d.discount_code,
                        d.amount,
                        d.created_at,
                        d.updated_at
                    ])?;
                }
                touch(conn, &cart_id, now, expires_at)?;
                emit_cart(conn, &cart_id, now, emit)?;
                Ok(outcomes)
            })
            .await
    }

    async fn update_custom_discount(
        &self,
        d: CustomDiscount,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<bool> {
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE cart_custom_discounts SET external_id = ?4, discount_engine = ?5, description = ?6,
                         discount_code = ?7, amount = ?8, updated_at = ?9
                         WHERE cart_id = ?1 AND item_id IS ?2 AND id = ?3",
                    )?
                    .execute(params![
                        d.cart_id,
                        d.item_id.map(|u| u.to_string()),
                        d.id.to_string(),
                        d.external_id,
                        d.discount_engine,
                        d.description,
                        d.discount_code,
                        d.amount,
                        d.updated_at
                    ])?;
                if n > 0 {
                    touch(conn, &d.cart_id, d.updated_at, expires_at)?;
                    emit_cart(conn, &d.cart_id, d.updated_at, emit)?;
                }
                Ok(n > 0)
            })
            .await
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
        let cart_id = cart_id.to_owned();
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "DELETE FROM cart_custom_discounts WHERE cart_id = ?1 AND item_id IS ?2 AND id = ?3",
                    )?
                    .execute(params![cart_id, item_id.map(|u| u.to_string()), id.to_string()])?;
                if n > 0 {
                    touch(conn, &cart_id, now, expires_at)?;
                    emit_cart(conn, &cart_id, now, emit)?;
                }
                Ok(n > 0)
            })
            .await
    }

    async fn carts_custom_discounts(&self, cart_ids: &[String]) -> Result<Vec<CustomDiscount>> {
        let ids = cart_ids.to_vec();
        self.db
            .read(move |conn| {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let marks = vec!["?"; ids.len()].join(", ");
                Ok(conn
                    .prepare(&format!(
                        "SELECT {} FROM cart_custom_discounts WHERE cart_id IN ({marks}) ORDER BY cart_id, created_at, id",
                        custom_columns!()
                    ))?
                    .query_map(rusqlite::params_from_iter(&ids), custom_row)?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn delete_custom_discounts(
        &self,
        cart_id: &str,
        now: Millis,
        expires_at: Millis,
        emit: Option<Emit<CartContents>>,
    ) -> Result<u64> {
        let cart_id = cart_id.to_owned();
        self.db
            .write(move |conn| {
                let n = conn
                    .prepare_cached("DELETE FROM cart_custom_discounts WHERE cart_id = ?1")?
                    .execute([&cart_id])?;
                if n > 0 {
                    touch(conn, &cart_id, now, expires_at)?;
                    emit_cart(conn, &cart_id, now, emit)?;
                }
                Ok(n as u64)
            })
            .await
    }
}

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn store_settings(&self) -> Result<StoreSettings> {
        self.db
            .read(|conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT page_length, calculation_method, cart_expiry_days, show_all_carts,
                         custom_discounts_enabled, use_rule_promotions, defer_inventory_check,
                         inventory_reserve_at, shopper_address_limit
                         FROM store_settings WHERE id = 1",
                    )?
                    .query_row([], |r| {
                        let method: String = r.get(1)?;
                        Ok(StoreSettings {
                            page_length: r.get(0)?,
                            calculation_method: CalculationMethod::parse(&method).unwrap_or_default(),
                            cart_expiry_days: r.get(2)?,
                            show_all_carts: r.get(3)?,
                            custom_discounts_enabled: r.get(4)?,
                            use_rule_promotions: r.get(5)?,
                            defer_inventory_check: r.get(6)?,
                            reserve_at: ReserveAt::parse(&r.get::<_, String>(7)?).unwrap_or_default(),
                            shopper_address_limit: r.get(8)?,
                        })
                    })
                    .optional()?
                    .unwrap_or_default())
            })
            .await
    }

    async fn update_store_settings(&self, s: StoreSettings, events: Vec<Event>) -> Result<()> {
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO store_settings (id, page_length, calculation_method, cart_expiry_days, show_all_carts,
                       custom_discounts_enabled, use_rule_promotions, defer_inventory_check,
                       inventory_reserve_at, shopper_address_limit)
                     VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (id) DO UPDATE SET page_length = excluded.page_length,
                       calculation_method = excluded.calculation_method, cart_expiry_days = excluded.cart_expiry_days,
                       show_all_carts = excluded.show_all_carts, custom_discounts_enabled = excluded.custom_discounts_enabled,
                       use_rule_promotions = excluded.use_rule_promotions,
                       defer_inventory_check = excluded.defer_inventory_check,
                       inventory_reserve_at = excluded.inventory_reserve_at,
                       shopper_address_limit = excluded.shopper_address_limit",
                )?
                .execute(params![
                    s.page_length,
                    s.calculation_method.as_str(),
                    s.cart_expiry_days,
                    s.show_all_carts,
                    s.custom_discounts_enabled,
                    s.use_rule_promotions,
                    s.defer_inventory_check,
                    s.reserve_at.as_str(),
                    s.shopper_address_limit
                ])?;
                crate::outbox::write(conn, &events)?;
                Ok(())
            })
            .await
    }
}
