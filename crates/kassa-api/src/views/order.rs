//! An order and its items (`GET /v2/orders`, an order read, checkout's answer).

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::response::{IntoResponse, Response};
use kassa_core::bundles::LineComponent;
use kassa_core::cart_pricing::price_order;
use kassa_core::cart_totals::LineTotals;
use kassa_core::integrations::{Emit, Event, EventKind, order_change_events};
use kassa_core::money::MoneyFormat;
use kassa_core::order_state::Command;
use kassa_core::orders::{OrderItem, PlacedOrder};
use kassa_core::payments::ChangedOrder;
use kassa_core::time::rfc3339;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::envelope::Origin;
use crate::error::{ApiError, ApiResult};
use crate::extract::ListQuery;
use crate::views::cart::BundleConfigurationView;
use crate::views::custom_discount::render_kept;
use crate::views::document::{
    DataView, EmptyObject, IncludedView, IncludingDocument, LinksView, NoneYet, ResourceRefView,
};
use crate::views::money::{
    DisplayPriceView, LinePriceView, MetaView, MoneyView, PriceView, line_display_price, money,
};
use crate::views::tax_item::render_tax_item;
use crate::views::timestamps::TimestampsView;
use crate::views::transaction::render_transaction;

pub(crate) fn order_not_found() -> ApiError {
    ApiError::not_found("Not Found", "Order not found")
}

/// An order's `contact` (never with an `id`) or `customer`; an unknown name or email is `null`.
#[derive(Serialize)]
pub(crate) struct PartyView<'a> {
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<Uuid>,
    name: Option<&'a str>,
}

impl PartyView<'_> {
    /// Whether the order knows anything of this party; if not, the key is left out.
    fn is_known(&self) -> bool {
        self.email.is_some() || self.id.is_some() || self.name.is_some()
    }
}

/// An order's `meta.display_price`.
#[derive(Serialize)]
pub(crate) struct OrderDisplayPriceView<'a> {
    authorized: MoneyView<'a>,
    balance_owing: MoneyView<'a>,
    discount: MoneyView<'a>,
    paid: MoneyView<'a>,
    shipping: MoneyView<'a>,
    shipping_discount: MoneyView<'a>,
    tax: MoneyView<'a>,
    with_tax: MoneyView<'a>,
    without_discount: MoneyView<'a>,
    without_tax: MoneyView<'a>,
}

#[derive(Serialize)]
pub(crate) struct OrderMetaView<'a> {
    display_price: OrderDisplayPriceView<'a>,
    timestamps: TimestampsView,
}

/// An order's relationships; the account, member and customer only when it has them.
#[derive(Serialize)]
pub(crate) struct OrderRelationshipsView {
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<DataView<ResourceRefView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_member: Option<DataView<ResourceRefView>>,
    custom_discounts: DataView<Vec<ResourceRefView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer: Option<DataView<ResourceRefView>>,
    items: DataView<Vec<ResourceRefView>>,
    promotions: DataView<NoneYet>,
}

/// The order resource (`data` of an order document, or one entry of a listing). Fields in
/// alphabetical order, like every view (see `carts`).
#[derive(Serialize)]
pub(crate) struct OrderView<'a> {
    anonymized: bool,
    billing_address: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<PartyView<'a>>,
    custom_attributes: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer: Option<PartyView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_ref: Option<&'a str>,
    id: Uuid,
    links: EmptyObject,
    meta: OrderMetaView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_number: Option<&'a str>,
    payment: &'static str,
    relationships: OrderRelationshipsView,
    shipping: &'static str,
    shipping_address: &'a Value,
    status: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
pub(crate) struct OrderItemRelationshipsView {
    cart_item: DataView<ResourceRefView>,
    promotions: DataView<NoneYet>,
    taxes: DataView<Vec<ResourceRefView>>,
}

/// An `OrderItemResponse`. A custom line's `product_id` and a line without SKU's `sku` are `""`.
#[derive(Serialize)]
pub(crate) struct OrderItemView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    bundle_configuration: Option<BundleConfigurationView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_source: Option<&'static str>,
    /// A bundle item's selected options by component, with their names.
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<&'a BTreeMap<String, LineComponent>>,
    custom_inputs: &'a Value,
    /// The promotions' discounts the item was placed with (Elastic Path's shape; `[]` when none).
    discounts: Vec<crate::views::promotion::LineDiscountView<'a>>,
    id: Uuid,
    links: LinksView,
    /// The slug of the stock location the item drew from; `null` when none.
    location: Option<&'a str>,
    meta: MetaView<'a, LinePriceView<'a>>,
    name: &'a str,
    product_id: String,
    quantity: i64,
    relationships: OrderItemRelationshipsView,
    sku: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    unit_price: PriceView<'a>,
    value: PriceView<'a>,
}

/// `included` of an order document or listing: `items` and `tax_items` when asked for (orders
/// have no promotions or custom discounts to include).
pub(crate) type OrderIncludedView<'a> = IncludedView<'a, OrderItemView<'a>>;

/// An order read: `{"data": order}`, and `included` when asked for.
pub(crate) type OrderDocument<'a> = IncludingDocument<'a, OrderView<'a>, OrderItemView<'a>>;

pub(crate) fn render_order_item<'a>(
    i: &'a OrderItem,
    t: &LineTotals,
    cart_sources: &'a [kassa_core::promotion_rules::Discount],
    currency: &'a str,
    formats: &HashMap<String, MoneyFormat>,
    origin: &Origin,
) -> OrderItemView<'a> {
    let price = |amount: i64| PriceView {
        amount,
        currency,
        includes_tax: i.includes_tax,
    };
    let discounts = crate::views::promotion::LineDiscounts {
        own: &i.discounts,
        cart_sources,
        cart_shares: &t.cart_discounts,
    };
    OrderItemView {
        bundle_configuration: BundleConfigurationView::of(i.bundle.as_ref(), None),
        catalog_id: i.catalog_id,
        catalog_source: i.product_id.map(|_| "pim"),
        components: i.bundle.as_ref().map(|b| &b.components),
        custom_inputs: &i.custom_inputs,
        discounts: discounts.array(currency, i.includes_tax).unwrap_or_default(),
        id: i.id,
        links: LinksView {
            product: i
                .product_id
                .map(|id| origin.url(&format!("/catalog/products/{id}"))),
            self_link: None,
        },
        location: i.location.as_deref(),
        meta: MetaView {
            display_price: DisplayPriceView {
                discounts: Some(discounts.by_code(currency, formats)),
                ..line_display_price(t, currency, formats)
            },
            timestamps: TimestampsView::of(i.created_at, i.updated_at),
        },
        name: &i.name,
        product_id: i.product_id.map_or_else(String::new, |p| p.to_string()),
        quantity: i.quantity,
        relationships: OrderItemRelationshipsView {
            cart_item: DataView {
                data: ResourceRefView {
                    id: i.cart_item_id,
                    kind: i.kind.as_str(),
                },
            },
            promotions: DataView { data: [] },
            taxes: DataView {
                data: i
                    .taxes
                    .iter()
                    .map(|t| ResourceRefView {
                        id: t.id,
                        kind: "tax_item",
                    })
                    .collect(),
            },
        },
        sku: i.sku.as_deref().unwrap_or_default(),
        kind: "order_item",
        unit_price: price(i.unit_amount),
        value: price(i.unit_amount.saturating_mul(i.quantity)),
    }
}

pub(crate) fn render_order<'a>(
    o: &'a PlacedOrder,
    items: &[OrderItem],
    formats: &HashMap<String, MoneyFormat>,
) -> OrderView<'a> {
    let m = |amount: i64| money(amount, &o.currency, formats);
    let related = |id: Option<Uuid>, kind: &'static str| {
        id.map(|id| DataView {
            data: ResourceRefView { id, kind },
        })
    };
    let contact = PartyView {
        email: o.contact_email.as_deref(),
        id: None,
        name: o.contact_name.as_deref(),
    };
    let customer = PartyView {
        email: o.customer_email.as_deref(),
        id: o.customer_id,
        name: o.customer_name.as_deref(),
    };
    OrderView {
        anonymized: false,
        billing_address: &o.billing_address,
        contact: Some(contact).filter(PartyView::is_known),
        custom_attributes: &o.custom_attributes,
        customer: Some(customer).filter(PartyView::is_known),
        external_ref: o.external_ref.as_deref(),
        id: o.id,
        links: EmptyObject {},
        meta: OrderMetaView {
            display_price: OrderDisplayPriceView {
                authorized: m(o.authorized),
                balance_owing: m(o.balance_owing),
                discount: m(o.discount),
                paid: m(o.paid),
                shipping: m(o.shipping_amount),
                shipping_discount: m(o.shipping_discount),
                tax: m(o.tax),
                with_tax: m(o.with_tax),
                without_discount: m(o.without_discount),
                without_tax: m(o.without_tax),
            },
            timestamps: order_timestamps(o),
        },
        order_number: o.order_number.as_deref(),
        payment: o.payment.as_str(),
        relationships: OrderRelationshipsView {
            account: related(o.account_id, "account"),
            account_member: related(o.account_member_id, "account_member"),
            custom_discounts: DataView {
                data: o
                    .discounts
                    .iter()
                    .filter(|d| d.custom.is_some())
                    .map(|d| ResourceRefView {
                        id: d.promotion_id,
                        kind: "custom_discount",
                    })
                    .collect(),
            },
            customer: related(o.customer_id, "customer"),
            items: DataView {
                data: items
                    .iter()
                    .map(|i| ResourceRefView {
                        id: i.id,
                        kind: "item",
                    })
                    .collect(),
            },
            promotions: DataView { data: [] },
        },
        shipping: o.shipping.as_str(),
        shipping_address: &o.shipping_address,
        status: o.status.as_str(),
        kind: "order",
    }
}

/// The order's items as `OrderItemResponse`s, with their figures computed as at checkout.
pub(crate) fn order_items<'a>(
    o: &'a PlacedOrder,
    items: &'a [OrderItem],
    formats: &HashMap<String, MoneyFormat>,
    origin: &Origin,
) -> ApiResult<Vec<OrderItemView<'a>>> {
    let totals = price_order(o, items)?;
    Ok(items
        .iter()
        .zip(&totals.lines)
        .map(|(i, t)| render_order_item(i, t, &o.discounts, &o.currency, formats, origin))
        .collect())
}

/// What `include` asked for, of what orders offer (`promotions` adds nothing: each item carries
/// the promotions' discounts it was placed with).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Includes {
    pub(crate) items: bool,
    pub(crate) tax_items: bool,
    pub(crate) custom_discounts: bool,
}

impl Includes {
    pub(crate) fn of(query: &ListQuery) -> Self {
        let has = |name: &str| query.include.iter().any(|i| i == name);
        Self {
            items: has("items"),
            tax_items: has("tax_items"),
            custom_discounts: has("custom_discounts"),
        }
    }
}

/// `included.items` / `included.tax_items` of `orders`, as asked for.
pub(crate) fn included<'a>(
    orders: &[(&'a PlacedOrder, &'a [OrderItem])],
    formats: &HashMap<String, MoneyFormat>,
    origin: &Origin,
    includes: Includes,
) -> ApiResult<OrderIncludedView<'a>> {
    let items = if includes.items {
        let mut all = Vec::new();
        for (o, items) in orders {
            all.extend(order_items(o, items, formats, origin)?);
        }
        Some(all)
    } else {
        None
    };
    let tax_items = includes.tax_items.then(|| {
        orders
            .iter()
            .flat_map(|(_, items)| items.iter().flat_map(|i| i.taxes.iter().map(render_tax_item)))
            .collect()
    });
    let custom_discounts = includes.custom_discounts.then(|| {
        let mut all = Vec::new();
        for (o, items) in orders {
            let on_order = o.discounts.iter().map(|d| (d, None));
            let on_items = items
                .iter()
                .flat_map(|i| i.discounts.iter().map(move |d| (d, Some(i.id))));
            all.extend(
                on_order
                    .chain(on_items)
                    .filter_map(|(d, item)| render_kept(d, item, &o.currency, formats)),
            );
        }
        all
    });
    Ok(IncludedView {
        custom_discounts,
        items,
        promotions: None,
        tax_items,
    })
}

/// The order document: `data` and, as `includes` asks, `included.items` / `included.tax_items`.
pub(crate) fn order_document<'a>(
    o: &'a PlacedOrder,
    items: &'a [OrderItem],
    formats: &HashMap<String, MoneyFormat>,
    origin: &Origin,
    includes: Includes,
) -> ApiResult<OrderDocument<'a>> {
    Ok(IncludingDocument {
        data: render_order(o, items, formats),
        included: included(&[(o, items)], formats, origin, includes)?,
    })
}

/// [`order_document`], serialized here because it borrows the order the handler read.
pub(crate) fn order_response(
    o: &PlacedOrder,
    items: &[OrderItem],
    formats: &HashMap<String, MoneyFormat>,
    origin: &Origin,
    includes: Includes,
) -> ApiResult<Response> {
    Ok(Json(order_document(o, items, formats, origin, includes)?).into_response())
}

/// The order's `meta.timestamps`, with `fully_paid_at` once it has been fully paid.
pub(crate) fn order_timestamps(o: &PlacedOrder) -> TimestampsView {
    TimestampsView {
        fully_paid_at: o.fully_paid_at.map(rfc3339),
        ..TimestampsView::of(o.created_at, o.updated_at)
    }
}

/// The integration events of an order change, rendered inside its transaction from the order
/// and transaction after it: `{"data": order}` (its items are not read by a change: the order's
/// `relationships.items` is empty there; `order.created` carries them) and `{"data":
/// transaction}`. `None` when no enabled integration observes any of them.
pub(crate) fn order_change_emit(
    integrations: &crate::integrations::Integrations,
    command: Option<Command>,
    formats: &HashMap<String, MoneyFormat>,
) -> Option<Emit<ChangedOrder>> {
    let observed = |kinds: &[EventKind]| kinds.iter().any(|k| integrations.observes(*k));
    // Which kinds may come out depends on the outcome; ask about all the command can emit.
    let possible = [
        EventKind::OrderUpdated,
        EventKind::OrderPaid,
        EventKind::OrderAuthorized,
        EventKind::OrderRefunded,
        EventKind::OrderCancelled,
        EventKind::OrderFulfilled,
        EventKind::TransactionCreated,
        EventKind::TransactionUpdated,
    ];
    if !observed(&possible) {
        return None;
    }
    let wanted: Vec<EventKind> = possible
        .into_iter()
        .filter(|k| integrations.observes(*k))
        .collect();
    let formats = formats.clone();
    Some(Box::new(move |changed: &ChangedOrder| {
        let kinds: Vec<EventKind> = order_change_events(command.as_ref(), changed.order.payment)
            .into_iter()
            .filter(|k| wanted.contains(k))
            .collect();
        let order = || {
            serde_json::to_string(&DataView {
                data: render_order(&changed.order, &[], &formats),
            })
            .expect("an order serializes")
        };
        let transaction = || {
            serde_json::to_string(&DataView {
                data: changed
                    .transaction
                    .as_ref()
                    .map(|t| render_transaction(t, &formats)),
            })
            .expect("a transaction serializes")
        };
        let (mut order_payload, mut transaction_payload) = (None, None);
        kinds
            .into_iter()
            .map(|kind| {
                let payload = match kind {
                    EventKind::TransactionCreated | EventKind::TransactionUpdated => {
                        transaction_payload.get_or_insert_with(transaction).clone()
                    }
                    _ => order_payload.get_or_insert_with(order).clone(),
                };
                Event {
                    kind,
                    payload,
                    at: changed.order.updated_at,
                }
            })
            .collect()
    }))
}
