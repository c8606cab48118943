//! The parts every document shares: `meta`, `links`, relationship references, `{"data": …}` and
//! `included`. (The collection envelope and `Origin` are in `crate::envelope`.)

use serde::Serialize;
use uuid::Uuid;

use crate::views::tax_item::TaxItemView;

/// `links`: a line's product (product lines only), a cart's `self`.
#[derive(Serialize)]
pub(crate) struct LinksView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) product: Option<String>,
    #[serde(rename = "self", skip_serializing_if = "Option::is_none")]
    pub(crate) self_link: Option<String>,
}

/// `{"type", "id"}`: a resource a relationship points at.
#[derive(Serialize)]
pub(crate) struct ResourceRefView {
    pub(crate) id: Uuid,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
}

/// `{"data": …}`, the shape of every relationship (and of a plain `{"data": …}` answer).
#[derive(Serialize)]
pub(crate) struct DataView<T> {
    pub(crate) data: T,
}

/// What kassa has none of yet (promotions, custom discounts): always `[]`.
pub(crate) type NoneYet = [(); 0];

/// Always `{}` (a braced struct without fields; a unit struct would be `null`).
#[derive(Serialize)]
pub(crate) struct EmptyObject {}

/// `included`: each member present only when asked for with `include=`; `I` is the item view (a
/// cart's or an order's).
#[derive(Serialize)]
pub(crate) struct IncludedView<'a, I> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) custom_discounts: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) items: Option<Vec<I>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) promotions: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tax_items: Option<Vec<TaxItemView<'a>>>,
}

impl<I> IncludedView<'_, I> {
    pub(crate) fn is_empty(&self) -> bool {
        self.custom_discounts.is_none()
            && self.items.is_none()
            && self.promotions.is_none()
            && self.tax_items.is_none()
    }
}

/// `{"data": …}`, and `included` when asked for: the answer of the cart calls and of an order read.
#[derive(Serialize)]
pub(crate) struct IncludingDocument<'a, D, I> {
    pub(crate) data: D,
    #[serde(skip_serializing_if = "IncludedView::is_empty")]
    pub(crate) included: IncludedView<'a, I>,
}
