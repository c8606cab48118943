//! Stock moved by an order: allocating its products at checkout or payment, releasing them on a
//! cancel, shipping them on fulfilment; each product at the position its items drew from.

use kassa_core::Error;
use kassa_core::bundles::LineBundle;
use kassa_core::inventory::{StockAction, StockItem, StockTransaction, order_stock};
use kassa_core::time::Millis;
use rusqlite::Connection;
use uuid::Uuid;

use crate::db::DbResult;
use crate::sql::{opt_uuid_at, uuid_at};

/// The order's stock-managed candidates: what its items take per product and location (an item
/// without a location draws from the product's position outside locations; a bundle item takes
/// its components), sorted.
fn order_products(conn: &Connection, order_id: Uuid) -> DbResult<Vec<(Uuid, Option<Uuid>, i64)>> {
    let items: Vec<StockItem> = conn
        .prepare_cached(
            "SELECT product_id, location_id, quantity, bundle FROM order_items
             WHERE order_id = ?1 AND product_id IS NOT NULL",
        )?
        .query_map([order_id.to_string()], |r| {
            Ok((
                uuid_at(r, 0)?,
                opt_uuid_at(r, 1)?,
                r.get(2)?,
                LineBundle::from_json(r.get_ref(3)?.as_str_or_null()?),
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(order_stock(items))
}

/// Applies `actions` to every stock-managed product of the order, each at the position its
/// items drew from. Short stock when allocating refuses the whole change; releasing or shipping
/// never blocks a cancel or a fulfilment (a record an admin adjusted by hand may hold less than
/// was reserved), so such a position is left as it is.
pub(crate) fn move_stock(
    conn: &Connection,
    order_id: Uuid,
    actions: &[StockAction],
    now: Millis,
) -> DbResult<()> {
    if actions.is_empty() {
        return Ok(());
    }
    let products = order_products(conn, order_id)?;
    for &action in actions {
        for &(product_id, location, quantity) in &products {
            let t = StockTransaction {
                id: kassa_core::ids::new_id(),
                product_id,
                action,
                quantity,
                location: None,
                created_at: now,
            };
            if let Some(Err(refusal)) = crate::inventories::apply(conn, &t, location)? {
                if action == StockAction::Allocate {
                    return Err(Error::from(refusal).into());
                }
                tracing::warn!(%order_id, %product_id, action = action.as_str(), "stock not moved: {}", refusal.detail());
            }
        }
    }
    Ok(())
}
