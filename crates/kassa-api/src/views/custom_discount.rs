//! A `custom_discount` as the custom discount calls, `included.custom_discounts` of a cart and of
//! an order render it.

use std::collections::HashMap;

use kassa_core::carts::CartItem;
use kassa_core::custom_discounts::CustomDiscount;
use kassa_core::money::MoneyFormat;
use kassa_core::promotion_rules::Discount;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::views::money::money;

/// A custom discount; `item` is the line it is on (its id and `cart_item` or `custom_item`).
pub(crate) fn render_custom_discount(
    d: &CustomDiscount,
    item: Option<(Uuid, &str)>,
    currency: &str,
    formats: &HashMap<String, MoneyFormat>,
) -> Value {
    let mut v = json!({
        "type": "custom_discount",
        "id": d.id,
        "external_id": d.external_id,
        "discount_engine": d.discount_engine,
        "amount": money(d.amount, currency, formats),
        "description": d.description,
        "discount_code": d.discount_code,
    });
    if let Some((id, kind)) = item {
        v["relationships"] = json!({"item": {"data": {"type": kind, "id": id}}});
    }
    v
}

/// Every custom discount of the cart, each line's naming its line.
pub(crate) fn render_cart_custom_discounts(
    discounts: &[CustomDiscount],
    lines: &[CartItem],
    currency: &str,
    formats: &HashMap<String, MoneyFormat>,
) -> Vec<Value> {
    discounts
        .iter()
        .map(|d| {
            let item = d
                .item_id
                .and_then(|id| lines.iter().find(|l| l.id == id))
                .map(|l| (l.id, l.kind.as_str()));
            render_custom_discount(d, item, currency, formats)
        })
        .collect()
}

/// A custom discount an order kept (`item`: the order item it is on), with the amount it took.
pub(crate) fn render_kept(
    d: &Discount,
    item: Option<Uuid>,
    currency: &str,
    formats: &HashMap<String, MoneyFormat>,
) -> Option<Value> {
    let info = d.custom.as_ref()?;
    let mut v = json!({
        "type": "custom_discount",
        "id": d.promotion_id,
        "external_id": info.external_id,
        "discount_engine": info.discount_engine,
        "amount": money(d.amount, currency, formats),
        "description": info.description,
        "discount_code": d.code,
    });
    if let Some(id) = item {
        v["relationships"] = json!({"item": {"data": {"type": "order_item", "id": id}}});
    }
    Some(v)
}
