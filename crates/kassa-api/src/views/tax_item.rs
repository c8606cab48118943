//! A cart line's tax item.

use kassa_core::cart_totals::TaxItem;
use kassa_core::carts::CartTaxItem;
use serde::Serialize;
use uuid::Uuid;

/// A tax item as the wire shows it (`included.tax_items`, the tax endpoints' `data`): a `rate` or
/// an `amount`. Fields in alphabetical order, as the `Value` rendering this replaced listed them
/// (see the views in `carts`).
#[derive(Serialize)]
pub(crate) struct TaxItemView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<i64>,
    code: Option<&'a str>,
    id: Uuid,
    jurisdiction: Option<&'a str>,
    name: Option<&'a str>,
    /// A bundle component's tax item names its component product.
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<ComponentMeta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<f64>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
pub(crate) struct ComponentMeta {
    component_product_id: Uuid,
}

pub(crate) fn render_tax_item(t: &CartTaxItem) -> TaxItemView<'_> {
    let (rate, amount) = match t.tax {
        TaxItem::Rate(rate) => (Some(rate.to_f64()), None),
        TaxItem::Amount(amount) => (None, Some(amount)),
    };
    TaxItemView {
        amount,
        code: t.code.as_deref(),
        id: t.id,
        jurisdiction: t.jurisdiction.as_deref(),
        name: t.name.as_deref(),
        meta: t
            .component_product_id
            .map(|component_product_id| ComponentMeta { component_product_id }),
        rate,
        kind: "tax_item",
    }
}
