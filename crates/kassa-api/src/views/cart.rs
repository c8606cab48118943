//! A cart, its lines and the item collection, as every cart call answers.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::response::{IntoResponse, Response};
use kassa_core::bundles::{LineBundle, LineComponent, Selection};
use kassa_core::cart_pricing::price_promoted_cart;
use kassa_core::cart_totals::{CartTotals, LineTotals};
use kassa_core::carts::{Cart, CartContents, CartItem, CartTaxItem, LineImage, taxes_by_item};
use kassa_core::custom_discounts::CustomDiscount;
use kassa_core::integrations::{Emit, Event, EventKind};
use kassa_core::money::MoneyFormat;
use kassa_core::promotion_rules::Outcome;
use kassa_core::settings::StoreSettings;
use kassa_core::time::{now_millis, rfc3339};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::envelope::Origin;
use crate::error::{ApiError, ApiResult, ErrorObject};
use crate::state::AppState;
use crate::views::custom_discount::render_cart_custom_discounts;
use crate::views::document::{
    DataView, IncludedView, IncludingDocument, LinksView, NoneYet, ResourceRefView,
};
use crate::views::file::content_href;
use crate::views::money::{
    DisplayPriceView, LinePriceView, MetaView, MoneyView, PriceView, cart_display_price, line_display_price,
    money_formats,
};
use crate::views::promotion::{
    LineDiscountView, LineDiscounts, PromotionItemView, promotion_lines, render_condensed,
};
use crate::views::tax_item::render_tax_item;
use crate::views::timestamps::TimestampsView;

pub(crate) fn bad_cart_id() -> ApiError {
    ApiError::bad_request("The cart id may only contain letters, digits, '-' and '_' (at most 128)")
        .with_source("cartID")
}

pub(crate) fn cart_not_found() -> ApiError {
    ApiError::not_found("Not Found", "Cart not found")
}

#[derive(Serialize)]
pub(crate) struct CartItemRelationshipsView {
    custom_discounts: DataView<Vec<ResourceRefView>>,
    promotions: DataView<NoneYet>,
    taxes: DataView<Vec<ResourceRefView>>,
}

/// A line's picture: the product's main image, or empty strings (Elastic Path's custom items).
#[derive(Serialize, Default)]
pub(crate) struct ImageView<'a> {
    file_name: &'a str,
    href: String,
    mime_type: &'a str,
}

impl<'a> ImageView<'a> {
    fn of(image: Option<&'a LineImage>, origin: &Origin) -> Self {
        let Some(image) = image else {
            return Self::default();
        };
        ImageView {
            file_name: &image.file_name,
            href: match &image.location {
                Some(url) => url.clone(),
                None => content_href(image.file_id, &image.file_name, origin),
            },
            mime_type: &image.mime_type,
        }
    }
}

/// With `include=component_products`, the products bundle lines select, as the shopper's
/// catalog renders them, by id.
pub(crate) type ComponentProducts = HashMap<Uuid, Value>;

/// A bundle line's `bundle_configuration`: the options selected, by component, and with
/// `include=component_products` the selected products.
#[derive(Serialize)]
pub(crate) struct BundleConfigurationView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    component_products: Option<Vec<&'a Value>>,
    selected_options: Selection,
}

impl<'a> BundleConfigurationView<'a> {
    pub(crate) fn of(bundle: Option<&LineBundle>, products: Option<&'a ComponentProducts>) -> Option<Self> {
        bundle.map(|b| Self {
            component_products: products
                .map(|found| b.products(1).iter().filter_map(|(id, _)| found.get(id)).collect()),
            selected_options: b.selection(),
        })
    }
}

/// A cart line.
#[derive(Serialize)]
pub(crate) struct CartItemView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    bundle_configuration: Option<BundleConfigurationView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_source: Option<&'static str>,
    /// A bundle line's selected options by component, with their names.
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<&'a BTreeMap<String, LineComponent>>,
    custom_inputs: &'a Value,
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    discounts: Option<Vec<LineDiscountView<'a>>>,
    id: Uuid,
    image: ImageView<'a>,
    links: LinksView,
    /// The stock location the line draws from (its slug); absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a str>,
    manage_stock: bool,
    meta: MetaView<'a, LinePriceView<'a>>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_id: Option<Uuid>,
    quantity: i64,
    relationships: CartItemRelationshipsView,
    sku: Option<&'a str>,
    slug: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
    unit_price: PriceView<'a>,
    value: PriceView<'a>,
}

#[derive(Serialize)]
pub(crate) struct ContactView<'a> {
    email: &'a str,
}

#[derive(Serialize)]
pub(crate) struct DiscountSettingsView {
    custom_discounts_enabled: bool,
    use_rule_promotions: bool,
}

#[derive(Serialize)]
pub(crate) struct InventorySettingsView {
    defer_inventory_check: bool,
}

#[derive(Serialize)]
pub(crate) struct CartRelationshipsView {
    accounts: DataView<Vec<ResourceRefView>>,
    custom_discounts: DataView<Vec<ResourceRefView>>,
    customers: DataView<Vec<ResourceRefView>>,
    items: DataView<Vec<ResourceRefView>>,
    promotions: DataView<Vec<ResourceRefView>>,
}

/// A cart, without its lines.
#[derive(Serialize)]
pub(crate) struct CartView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<ContactView<'a>>,
    custom_attributes: &'a Value,
    description: Option<&'a str>,
    discount_settings: DiscountSettingsView,
    id: &'a str,
    inventory_settings: InventorySettingsView,
    links: LinksView,
    meta: MetaView<'a, MoneyView<'a>>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_intent_id: Option<&'a str>,
    relationships: CartRelationshipsView,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot_date: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// A line of the items collection: a cart line, or a `promotion_item` (a code or an automatic
/// promotion, rendered by [`promotion_lines`]).
#[derive(Serialize)]
#[serde(untagged)]
// Mostly `Item`s, rendered and serialized at once: boxing them would cost an allocation per line.
#[allow(clippy::large_enum_variant)]
pub(crate) enum LineView<'a> {
    Item(CartItemView<'a>),
    Promotion(PromotionItemView<'a>),
}

pub(crate) type CartDocument<'a> = IncludingDocument<'a, CartView<'a>, LineView<'a>>;

/// The answer of the item calls: every line and the cart's `meta`; `errors` are the items a bulk
/// add could not add, `included` is present when asked for.
#[derive(Serialize)]
pub(crate) struct ItemsDocument<'a> {
    data: Vec<LineView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [ErrorObject]>,
    #[serde(skip_serializing_if = "IncludedView::is_empty")]
    included: IncludedView<'a, LineView<'a>>,
    meta: MetaView<'a, MoneyView<'a>>,
}

pub(crate) fn cart_timestamps(cart: &Cart) -> TimestampsView {
    TimestampsView {
        expires_at: Some(rfc3339(cart.expires_at)),
        ..TimestampsView::of(cart.created_at, cart.updated_at)
    }
}

/// The custom discounts on the line `item` (`None`: the cart's own) as relationship refs.
fn custom_refs(custom: &[CustomDiscount], item: Option<Uuid>) -> DataView<Vec<ResourceRefView>> {
    DataView {
        data: custom
            .iter()
            .filter(|d| d.item_id == item)
            .map(|d| ResourceRefView {
                id: d.id,
                kind: "custom_discount",
            })
            .collect(),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn render_item<'a>(
    item: &'a CartItem,
    taxes: &[&CartTaxItem],
    custom: &[CustomDiscount],
    t: &LineTotals,
    discounts: &LineDiscounts<'a, '_>,
    currency: &'a str,
    formats: &HashMap<String, MoneyFormat>,
    origin: &Origin,
    products: Option<&'a ComponentProducts>,
) -> CartItemView<'a> {
    let price = |amount: i64| PriceView {
        amount,
        currency,
        includes_tax: item.includes_tax,
    };
    CartItemView {
        bundle_configuration: BundleConfigurationView::of(item.bundle.as_ref(), products),
        catalog_id: item.catalog_id,
        catalog_source: item.product_id.map(|_| "pim"),
        components: item.bundle.as_ref().map(|b| &b.components),
        custom_inputs: &item.custom_inputs,
        description: item.description.as_deref(),
        discounts: discounts.array(currency, item.includes_tax),
        id: item.id,
        image: ImageView::of(item.image.as_ref(), origin),
        links: LinksView {
            product: item
                .product_id
                .map(|id| origin.url(&format!("/catalog/products/{id}"))),
            self_link: None,
        },
        location: item.location.as_deref(),
        manage_stock: false,
        meta: MetaView {
            display_price: DisplayPriceView {
                discounts: Some(discounts.by_code(currency, formats)),
                ..line_display_price(t, currency, formats)
            },
            timestamps: TimestampsView::of(item.created_at, item.updated_at),
        },
        name: &item.name,
        product_id: item.product_id,
        quantity: item.quantity,
        relationships: CartItemRelationshipsView {
            custom_discounts: custom_refs(custom, Some(item.id)),
            promotions: DataView { data: [] },
            taxes: DataView {
                data: taxes
                    .iter()
                    .map(|t| ResourceRefView {
                        id: t.id,
                        kind: "tax_item",
                    })
                    .collect(),
            },
        },
        sku: item.sku.as_deref(),
        slug: item.slug.as_deref(),
        kind: item.kind.as_str(),
        unit_price: price(item.unit_amount),
        value: price(item.unit_amount.saturating_mul(item.quantity)),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn render_cart<'a>(
    cart: &'a Cart,
    lines: &[CartItem],
    custom: &[CustomDiscount],
    totals: &CartTotals,
    outcome: &Outcome,
    formats: &HashMap<String, MoneyFormat>,
    default: &'a str,
    origin: &Origin,
) -> CartView<'a> {
    let currency = cart.currency.as_deref().unwrap_or(default);
    let party = |id: Option<Uuid>, kind: &'static str| DataView {
        data: id.map(|id| ResourceRefView { id, kind }).into_iter().collect(),
    };
    CartView {
        contact: cart.contact_email.as_deref().map(|email| ContactView { email }),
        custom_attributes: &cart.custom_attributes,
        description: cart.description.as_deref(),
        discount_settings: DiscountSettingsView {
            custom_discounts_enabled: cart.custom_discounts_enabled,
            use_rule_promotions: cart.use_rule_promotions,
        },
        id: &cart.id,
        inventory_settings: InventorySettingsView {
            defer_inventory_check: cart.defer_inventory_check,
        },
        links: LinksView {
            product: None,
            self_link: Some(origin.url(&format!("/v2/carts/{}", cart.id))),
        },
        meta: MetaView {
            display_price: cart_display_price(totals, currency, formats),
            timestamps: cart_timestamps(cart),
        },
        name: &cart.name,
        payment_intent_id: cart.payment_intent_id.as_deref(),
        relationships: CartRelationshipsView {
            accounts: party(cart.account_id, "account"),
            custom_discounts: custom_refs(custom, None),
            customers: party(cart.customer_id, "customer"),
            items: DataView {
                data: lines
                    .iter()
                    .map(|i| ResourceRefView {
                        id: i.id,
                        kind: i.kind.as_str(),
                    })
                    .collect(),
            },
            promotions: DataView {
                data: outcome
                    .applied
                    .iter()
                    .map(|a| ResourceRefView {
                        id: a.promotion.id,
                        kind: "promotion",
                    })
                    .collect(),
            },
        },
        snapshot_date: cart.snapshot_date.map(rfc3339),
        kind: "cart",
    }
}

/// Every line rendered with its totals, discounts and tax items, then the `promotion_item`s.
pub(crate) fn render_lines<'a>(
    contents: &'a CartContents,
    totals: &CartTotals,
    outcome: &'a Outcome,
    currency: &'a str,
    formats: &HashMap<String, MoneyFormat>,
    origin: &Origin,
    products: Option<&'a ComponentProducts>,
) -> Vec<LineView<'a>> {
    let by_item = taxes_by_item(&contents.taxes);
    let mut out: Vec<LineView<'a>> = contents
        .lines
        .iter()
        .zip(&totals.lines)
        .enumerate()
        .map(|(n, (i, t))| {
            let taxes = by_item.get(&i.id).map_or(&[][..], Vec::as_slice);
            let discounts = LineDiscounts {
                own: outcome.lines.get(n).map_or(&[][..], Vec::as_slice),
                cart_sources: &outcome.cart,
                cart_shares: &t.cart_discounts,
            };
            LineView::Item(render_item(
                i,
                taxes,
                &contents.custom_discounts,
                t,
                &discounts,
                currency,
                formats,
                origin,
                products,
            ))
        })
        .collect();
    let timestamps = cart_timestamps(&contents.cart);
    out.extend(
        promotion_lines(
            &contents.codes,
            &outcome.applied,
            &outcome.cart,
            currency,
            formats,
            &timestamps,
        )
        .into_iter()
        .map(LineView::Promotion),
    );
    out
}

/// The cart and, with `include=items` / `include=tax_items`, its lines under `included.items`
/// and their tax items under `included.tax_items`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cart_document<'a>(
    contents: &'a CartContents,
    totals: &CartTotals,
    outcome: &'a Outcome,
    formats: &HashMap<String, MoneyFormat>,
    default: &'a str,
    include: &[String],
    origin: &Origin,
    products: Option<&'a ComponentProducts>,
) -> CartDocument<'a> {
    let CartContents {
        cart,
        lines,
        taxes,
        custom_discounts,
        ..
    } = contents;
    let asked = |name: &str| include.iter().any(|i| i == name);
    let currency = cart.currency.as_deref().unwrap_or(default);
    CartDocument {
        data: render_cart(
            cart,
            lines,
            custom_discounts,
            totals,
            outcome,
            formats,
            default,
            origin,
        ),
        included: IncludedView {
            custom_discounts: asked("custom_discounts")
                .then(|| render_cart_custom_discounts(custom_discounts, lines, currency, formats)),
            items: asked("items")
                .then(|| render_lines(contents, totals, outcome, currency, formats, origin, products)),
            promotions: asked("promotions").then(|| outcome.applied.iter().map(render_condensed).collect()),
            tax_items: asked("tax_items").then(|| taxes.iter().map(render_tax_item).collect()),
        },
    }
}

/// The items collection every item call answers with: all lines plus the cart's `meta`, with
/// `include=tax_items` their tax items under `included.tax_items`, and the items a bulk add
/// refused under `errors` (present only when there are some).
#[allow(clippy::too_many_arguments)]
pub(crate) fn items_document<'a>(
    contents: &'a CartContents,
    totals: &CartTotals,
    outcome: &'a Outcome,
    formats: &HashMap<String, MoneyFormat>,
    default: &'a str,
    include: &[String],
    origin: &Origin,
    refused: &'a [ErrorObject],
    products: Option<&'a ComponentProducts>,
) -> ItemsDocument<'a> {
    let CartContents {
        cart,
        lines,
        taxes,
        custom_discounts,
        ..
    } = contents;
    let currency = cart.currency.as_deref().unwrap_or(default);
    let asked = |name: &str| include.iter().any(|i| i == name);
    ItemsDocument {
        data: render_lines(contents, totals, outcome, currency, formats, origin, products),
        errors: (!refused.is_empty()).then_some(refused),
        included: IncludedView {
            custom_discounts: asked("custom_discounts")
                .then(|| render_cart_custom_discounts(custom_discounts, lines, currency, formats)),
            items: None,
            promotions: None,
            tax_items: asked("tax_items").then(|| taxes.iter().map(render_tax_item).collect()),
        },
        meta: MetaView {
            display_price: cart_display_price(totals, currency, formats),
            timestamps: cart_timestamps(cart),
        },
    }
}

/// [`cart_document`], serialized here because it borrows the cart the handler read.
pub(crate) async fn cart_response(
    state: &AppState,
    contents: &CartContents,
    settings: &StoreSettings,
    include: &[String],
    origin: &Origin,
    products: Option<&ComponentProducts>,
) -> ApiResult<Response> {
    let (formats, default) = money_formats(state).await?;
    let (totals, outcome) = price_with_promotions(state, contents, settings, &default).await?;
    let document = cart_document(
        contents, &totals, &outcome, &formats, &default, include, origin, products,
    );
    Ok(Json(document).into_response())
}

/// [`items_document`], serialized here because it borrows the cart the handler read.
pub(crate) async fn items_response(
    state: &AppState,
    contents: &CartContents,
    settings: &StoreSettings,
    include: &[String],
    origin: &Origin,
    refused: &[ErrorObject],
    products: Option<&ComponentProducts>,
) -> ApiResult<Response> {
    let (formats, default) = money_formats(state).await?;
    let (totals, outcome) = price_with_promotions(state, contents, settings, &default).await?;
    let document = items_document(
        contents, &totals, &outcome, &formats, &default, include, origin, refused, products,
    );
    Ok(Json(document).into_response())
}

/// What the cart costs with its promotions evaluated (once, for the whole cart), or, when the
/// cart uses custom discounts instead, with those applied.
pub(crate) async fn price_with_promotions(
    state: &AppState,
    contents: &CartContents,
    settings: &StoreSettings,
    default_currency: &str,
) -> ApiResult<(CartTotals, Outcome)> {
    if contents.cart.custom_discounts_enabled {
        return Ok(price_promoted_cart(
            &contents.lines,
            &contents.taxes,
            None,
            &contents.custom_discounts,
            settings.calculation_method,
        )?);
    }
    let currency = contents.cart.currency.as_deref().unwrap_or(default_currency);
    let promotions = crate::promotion_cache::cart_promotions(
        &state.promotions,
        &state.catalog_view,
        &*state.store,
        contents,
        currency,
        kassa_core::time::now_millis(),
        false,
    )
    .await?;
    Ok(price_promoted_cart(
        &contents.lines,
        &contents.taxes,
        promotions,
        &[],
        settings.calculation_method,
    )?)
}

/// The `cart.updated` event of a change of the cart's own fields (or its associations), its
/// payload the cart after the change as `GET /v2/carts/{id}` renders it; rendered, and its
/// promotions read, only if some integration observes it.
pub(crate) async fn cart_updated_events(
    state: &AppState,
    contents: &CartContents,
    settings: &StoreSettings,
    origin: &Origin,
) -> ApiResult<Vec<Event>> {
    if !state.integrations.observes(EventKind::CartUpdated) {
        return Ok(Vec::new());
    }
    let (formats, default) = money_formats(state).await?;
    let (totals, outcome) = price_with_promotions(state, contents, settings, &default).await?;
    let document = cart_document(contents, &totals, &outcome, &formats, &default, &[], origin, None);
    Ok(vec![Event {
        kind: EventKind::CartUpdated,
        payload: serde_json::to_string(&document).unwrap_or_default(),
        at: now_millis(),
    }])
}

/// [`cart_lines_emit`] for a change of the cart `contents` (as read before it) that keeps its
/// lines' catalogs: its codes, tax items, custom discounts or quantities.
pub(crate) async fn cart_emit(
    state: &AppState,
    settings: &StoreSettings,
    origin: &Origin,
    contents: &CartContents,
) -> ApiResult<Option<Emit<CartContents>>> {
    let catalogs = contents.lines.iter().filter_map(|l| l.catalog_id);
    cart_lines_emit(state, settings, origin, catalogs).await
}

/// The `cart.updated` event of a change of the cart's lines, rendered inside the change's
/// transaction from the cart after it (priced with the promotions read here, before the write,
/// for product lines from `catalogs`). `None` — nothing read, nothing rendered — when no
/// integration observes it.
pub(crate) async fn cart_lines_emit(
    state: &AppState,
    settings: &StoreSettings,
    origin: &Origin,
    catalogs: impl Iterator<Item = Uuid>,
) -> ApiResult<Option<Emit<CartContents>>> {
    if !state.integrations.observes(EventKind::CartUpdated) {
        return Ok(None);
    }
    let (formats, default) = money_formats(state).await?;
    let inputs = crate::promotion_cache::promotion_inputs(
        &state.promotions,
        &state.catalog_view,
        &*state.store,
        catalogs,
        false,
    )
    .await?;
    let method = settings.calculation_method;
    let origin = origin.clone();
    Ok(Some(Box::new(move |contents: &CartContents| {
        let now = now_millis();
        let currency = contents.cart.currency.as_deref().unwrap_or(&default);
        // As `price_with_promotions`: custom discounts or promotions, never both.
        let (promotions, custom) = if contents.cart.custom_discounts_enabled {
            (None, contents.custom_discounts.as_slice())
        } else {
            (inputs.promotions_of(contents, currency, now), &[][..])
        };
        // A cart that cannot be priced is refused by the change itself; nothing to render.
        let Ok((totals, outcome)) =
            price_promoted_cart(&contents.lines, &contents.taxes, promotions, custom, method)
        else {
            return Vec::new();
        };
        let document = cart_document(
            contents,
            &totals,
            &outcome,
            &formats,
            &default,
            &[],
            &origin,
            None,
        );
        vec![Event {
            kind: EventKind::CartUpdated,
            payload: serde_json::to_string(&document).unwrap_or_default(),
            at: now,
        }]
    })))
}
