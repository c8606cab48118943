//! The reads of promotion codes that carts and promotions share: a cart's codes, the codes a
//! `promotion_item`'s name finds, the promotions' version stamp, and a code's row. Kept apart so
//! that the cart use-cases (which read a cart's codes) and the promotion use-cases (which render a
//! cart's `cart.updated` after a code changes) need not import each other.

use kassa_core::promotions::{ConsumeUnit, PromotionCode};
use rusqlite::{Connection, Row};

use crate::db::DbResult;
use crate::sql::{opt_uuid_at, uuid_at};

/// A `promotion_item`'s codes looked up by their lower-cased name, as [`code_row`] reads them:
/// `uses` as counted on the row, which only a limited code's redemptions keep (an unlimited code
/// is never limited by it).
const CODES_BY_KEY_SQL: &str = "SELECT id, promotion_id, code, uses, max_uses, user_id, consume_unit, \
    max_uses_per_shopper, includes_guests, is_for_new_shopper, created_at FROM promotion_codes \
    WHERE code_key = ?1 ORDER BY created_at, id";
/// The codes of a cart, oldest added first, as rows (the JSON form is PostgreSQL's, for its
/// one-statement cart read; here it would only be built and parsed again).
const CART_CODES_SQL: &str = "SELECT pc.id, pc.promotion_id, pc.code, pc.uses, pc.max_uses, pc.user_id, \
    pc.consume_unit, pc.max_uses_per_shopper, pc.includes_guests, pc.is_for_new_shopper, pc.created_at \
    FROM cart_promotion_codes cc JOIN promotion_codes pc ON pc.code_key = cc.code_key WHERE cc.cart_id = ?1 \
    ORDER BY cc.created_at, cc.code_key";

/// The codes with this lower-cased name ([`kassa_core::store::PromotionStore::promotion_codes_by_key`]).
pub(crate) fn codes_by_key(conn: &Connection, key: &str) -> DbResult<Vec<PromotionCode>> {
    Ok(conn
        .prepare_cached(CODES_BY_KEY_SQL)?
        .query_map([key], code_row)?
        .collect::<rusqlite::Result<_>>()?)
}

/// The promotions' version stamp ([`kassa_core::store::PromotionStore::promotions_version`]).
pub(crate) fn version(conn: &Connection) -> DbResult<i64> {
    Ok(conn
        .prepare_cached("SELECT version FROM promotions_version WHERE id = 1")?
        .query_row([], |r| r.get(0))?)
}

/// The promotion codes a cart holds, oldest first.
pub(crate) fn codes_of(conn: &Connection, cart_id: &str) -> DbResult<Vec<PromotionCode>> {
    Ok(conn
        .prepare_cached(CART_CODES_SQL)?
        .query_map([cart_id], code_row)?
        .collect::<rusqlite::Result<_>>()?)
}

/// A code's row, in the columns of the statements above (and the admin's listing).
pub(crate) fn code_row(r: &Row<'_>) -> rusqlite::Result<PromotionCode> {
    let unit: String = r.get(6)?;
    Ok(PromotionCode {
        id: uuid_at(r, 0)?,
        promotion_id: uuid_at(r, 1)?,
        code: r.get(2)?,
        uses: r.get(3)?,
        max_uses: r.get(4)?,
        user: opt_uuid_at(r, 5)?,
        consume_unit: ConsumeUnit::parse(&unit).unwrap_or_default(),
        max_uses_per_shopper: r.get(7)?,
        includes_guests: r.get(8)?,
        is_for_new_shopper: r.get(9)?,
        created_at: r.get(10)?,
    })
}
