//! Stock moved by an order: allocating its products at checkout or payment, releasing them on a
//! cancel, shipping them on fulfilment; each product at the position its items drew from.

use kassa_core::bundles::LineBundle;
use kassa_core::inventory::{StockAction, StockItem, order_stock};
use kassa_core::time::Millis;
use kassa_core::{Error, Result};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::inventories::Move;
use crate::sql_error;

/// Applies `actions` to every stock-managed product of the order, each at the position its
/// items drew from (see the SQLite store for the rule: only a short allocation refuses the
/// change).
pub(crate) async fn move_stock(
    conn: &mut PgConnection,
    order_id: Uuid,
    actions: &[StockAction],
    now: Millis,
) -> Result<()> {
    if actions.is_empty() {
        return Ok(());
    }
    let items: Vec<StockItem> = sqlx::query(
        "SELECT product_id, location_id, quantity, bundle::text FROM order_items
         WHERE order_id = $1 AND product_id IS NOT NULL",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(sql_error)?
    .iter()
    .map(|r| {
        let bundle = LineBundle::from_json(r.get::<Option<&str>, _>(3));
        (r.get(0), r.get(1), r.get(2), bundle)
    })
    .collect();
    let products = order_stock(items);
    if products.is_empty() {
        return Ok(());
    }
    for &action in actions {
        let moves: Vec<Move> = products
            .iter()
            .map(|&(product_id, location_id, quantity)| Move {
                product_id,
                location_id,
                action,
                quantity,
            })
            .collect();
        for refusal in crate::inventories::apply_all(&mut *conn, &moves, now).await? {
            if action == StockAction::Allocate {
                return Err(Error::from(refusal));
            }
            let product_id = refusal.product_id;
            tracing::warn!(%order_id, %product_id, action = action.as_str(), "stock not moved: {}", refusal.detail());
        }
    }
    Ok(())
}
