//! `/v2/carts`: carts, their items and their account/customer associations.
//!
//! A cart associated with an account (or customer) is readable and writable only by an admin or
//! by a shopper holding that account's (customer's) token; an unassociated cart is reachable by
//! anyone holding its id, as in Elastic Path. Totals are computed on every read from the lines by
//! `kassa_core::cart::cart_totals`; nothing derived is stored.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use kassa_core::cart::{
    CalculationMethod, CartLine, CartTotals, LineTotals, MAX_AMOUNT, MAX_QUANTITY, cart_totals,
};
use kassa_core::carts::{
    Cart, CartContents, CartItem, CartLimit, CartScope, CartSize, CartStock, CartTaxItem, ItemKind,
    LineImage, QuantityChange, StockOf, custom_line_key, is_valid_cart_id, product_line_key,
};
use kassa_core::inventory::Stock;
use kassa_core::money::MoneyFormat;
use kassa_core::orders::order_scope;
use kassa_core::query::PageRequest;
use kassa_core::settings::StoreSettings;
use kassa_core::time::{Millis, now_millis, rfc3339};
use kassa_core::{Error, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{CustomerToken, Shopper};
use crate::catalog_view::{ShopperRelease, ShopperRequest, price_product};
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult, ErrorObject};
use crate::extract::{ApiJson, ApiPath, ListQuery, OptionalJson, parse_uuid};
use crate::routes::Routes;
use crate::routes::cart_taxes::{self, TaxItemView, render_tax_item};
use crate::routes::files;
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/carts", get(list).post(create))
        .route("/v2/carts/{id}", get(read).put(update).delete(remove))
        .route(
            "/v2/carts/{id}/items",
            get(items).post(add_items).put(update_items).delete(clear_items),
        )
        .route(
            "/v2/carts/{id}/items/{item_id}",
            put(update_item).delete(remove_item),
        )
        .route(
            "/v2/carts/{id}/relationships/accounts",
            axum::routing::post(associate_account).delete(dissociate_account),
        )
        .route(
            "/v2/carts/{id}/relationships/customers",
            axum::routing::post(associate_customer).delete(dissociate_customer),
        )
}

const MAX_NAME: usize = 255;

/// Who is asking, for the cart access rules.
pub(crate) struct Requester {
    pub(crate) admin: bool,
    pub(crate) account: Option<Uuid>,
    pub(crate) customer: Option<Uuid>,
}

impl Requester {
    pub(crate) fn new(shopper: &Shopper, customer: &CustomerToken) -> Self {
        Self {
            admin: shopper.caller.is_admin(),
            account: shopper.account.as_ref().map(|a| a.scope),
            customer: customer.0.as_ref().map(|c| c.sub),
        }
    }

    /// Elastic Path's model: an associated cart belongs to its account/customer; an unassociated
    /// cart to whoever holds its id.
    pub(crate) fn may_use(&self, cart: &Cart) -> ApiResult<()> {
        if self.admin {
            return Ok(());
        }
        if let Some(account) = cart.account_id
            && self.account != Some(account)
        {
            return Err(ApiError::forbidden(
                "Account does not have the required permissions to fulfill this request",
            ));
        }
        if let Some(customer) = cart.customer_id
            && self.customer != Some(customer)
        {
            return Err(ApiError::forbidden(
                "Customer does not have the required permissions to fulfill this request",
            ));
        }
        Ok(())
    }
}

pub(crate) fn bad_cart_id() -> ApiError {
    ApiError::bad_request("The cart id may only contain letters, digits, '-' and '_' (at most 128)")
        .with_source("cartID")
}

/// The cart with this id, created empty if unknown (Elastic Path's behaviour, which the classic
/// JS clients rely on), after checking the caller may use it; and the store settings, read once
/// per request.
async fn open_cart(state: &AppState, id: &str, who: &Requester) -> ApiResult<(Cart, StoreSettings)> {
    let (contents, settings) = open_contents(state, id, who).await?;
    Ok((contents.cart, settings))
}

/// [`open_cart`] with the cart's lines and tax items, from the same read.
async fn open_contents(
    state: &AppState,
    id: &str,
    who: &Requester,
) -> ApiResult<(CartContents, StoreSettings)> {
    let (contents, settings) = existing_contents(state, id, who).await?;
    let contents = match contents {
        Some(contents) => contents,
        None => {
            let cart = state
                .store
                .ensure_cart(settings.new_cart(id.to_owned(), now_millis()))
                .await?;
            // Another request may have made it first, with an owner.
            who.may_use(&cart)?;
            CartContents::empty(cart)
        }
    };
    Ok((contents, settings))
}

/// The live cart with its lines and tax items if there is one (the caller may use it), without
/// creating it: for the writes that can be refused, which must not leave a new cart behind.
async fn existing_contents(
    state: &AppState,
    id: &str,
    who: &Requester,
) -> ApiResult<(Option<CartContents>, StoreSettings)> {
    if !is_valid_cart_id(id) {
        return Err(bad_cart_id());
    }
    let settings = state.catalog_view.store_settings(&*state.store).await?;
    let contents = state
        .store
        .cart_contents(id, now_millis(), StockOf::Nothing)
        .await?
        .0;
    if let Some(contents) = &contents {
        who.may_use(&contents.cart)?;
    }
    Ok((contents, settings))
}

/// Currency formats by code, and the store default, from the node's cached catalog view (a
/// currency change is seen at once on this node and within a second on others).
pub(crate) async fn money_formats(state: &AppState) -> ApiResult<(HashMap<String, MoneyFormat>, String)> {
    let currencies = state.catalog_view.currencies(&*state.store).await?;
    let default = currencies
        .iter()
        .find(|c| c.default)
        .map_or_else(|| "USD".to_owned(), |c| c.code.clone());
    Ok((
        currencies.into_iter().map(|c| (c.code, c.money)).collect(),
        default,
    ))
}

// The cart responses (and, reusing these views, the order and payment responses) are rendered
// from the typed views below rather than from a `serde_json::Value` tree: no maps to build, sort and
// drop on the hottest paths. Until these views existed the responses were `Value`s, whose objects
// are `BTreeMap`s and so list their keys in byte order; every view declares its fields in that same
// alphabetical order (by wire name) so the bytes stay identical. Keep it so when adding a field.

/// An amount as the wire shows it, with its currency's formatting.
#[derive(Serialize)]
pub(crate) struct MoneyView<'a> {
    amount: i64,
    currency: &'a str,
    formatted: String,
}

/// A price as stored: `unit_price` and `value` of a line.
#[derive(Serialize)]
pub(crate) struct PriceView<'a> {
    pub(crate) amount: i64,
    pub(crate) currency: &'a str,
    pub(crate) includes_tax: bool,
}

/// One figure of a line's display price: per unit and for the whole line.
#[derive(Serialize)]
pub(crate) struct LinePriceView<'a> {
    unit: MoneyView<'a>,
    value: MoneyView<'a>,
}

/// `meta.display_price` of a cart (`T` = [`MoneyView`]) or of a cart or order line
/// (`T` = [`LinePriceView`]); only a cart has shipping figures, only an order line `discounts`.
#[derive(Serialize)]
pub(crate) struct DisplayPriceView<T> {
    pub(crate) discount: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) discounts: Option<EmptyObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) shipping: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) shipping_discount: Option<T>,
    pub(crate) tax: T,
    pub(crate) with_tax: T,
    pub(crate) without_discount: T,
    pub(crate) without_tax: T,
}

/// `meta.timestamps`, in RFC 3339; only a cart expires, only a paid order has `fully_paid_at`.
#[derive(Serialize)]
pub(crate) struct TimestampsView {
    pub(crate) created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fully_paid_at: Option<String>,
    pub(crate) updated_at: String,
}

impl TimestampsView {
    /// `created_at` and `updated_at` only.
    pub(crate) fn of(created_at: Millis, updated_at: Millis) -> Self {
        Self {
            created_at: rfc3339(created_at),
            expires_at: None,
            fully_paid_at: None,
            updated_at: rfc3339(updated_at),
        }
    }
}

/// `meta` of a cart (`T` = [`MoneyView`]) or of a line (`T` = [`LinePriceView`]).
#[derive(Serialize)]
pub(crate) struct MetaView<T> {
    pub(crate) display_price: DisplayPriceView<T>,
    pub(crate) timestamps: TimestampsView,
}

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

#[derive(Serialize)]
struct CartItemRelationshipsView {
    custom_discounts: DataView<NoneYet>,
    promotions: DataView<NoneYet>,
    taxes: DataView<Vec<ResourceRefView>>,
}

/// A line's picture: the product's main image, or empty strings (Elastic Path's custom items).
#[derive(Serialize, Default)]
struct ImageView<'a> {
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
                None => files::content_href(image.file_id, &image.file_name, origin),
            },
            mime_type: &image.mime_type,
        }
    }
}

/// A cart line.
#[derive(Serialize)]
struct CartItemView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_source: Option<&'static str>,
    custom_inputs: &'a Value,
    description: Option<&'a str>,
    id: Uuid,
    image: ImageView<'a>,
    links: LinksView,
    /// The stock location the line draws from (its slug); absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a str>,
    manage_stock: bool,
    meta: MetaView<LinePriceView<'a>>,
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
struct ContactView<'a> {
    email: &'a str,
}

#[derive(Serialize)]
struct DiscountSettingsView {
    custom_discounts_enabled: bool,
    use_rule_promotions: bool,
}

#[derive(Serialize)]
struct InventorySettingsView {
    defer_inventory_check: bool,
}

#[derive(Serialize)]
struct CartRelationshipsView {
    accounts: DataView<Vec<ResourceRefView>>,
    custom_discounts: DataView<NoneYet>,
    customers: DataView<Vec<ResourceRefView>>,
    items: DataView<Vec<ResourceRefView>>,
    promotions: DataView<NoneYet>,
}

/// A cart, without its lines.
#[derive(Serialize)]
struct CartView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<ContactView<'a>>,
    custom_attributes: &'a Value,
    description: Option<&'a str>,
    discount_settings: DiscountSettingsView,
    id: &'a str,
    inventory_settings: InventorySettingsView,
    links: LinksView,
    meta: MetaView<MoneyView<'a>>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_intent_id: Option<&'a str>,
    relationships: CartRelationshipsView,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot_date: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// `included`: each member present only when asked for with `include=`; `I` is the item view (a
/// cart's or an order's).
#[derive(Serialize)]
pub(crate) struct IncludedView<'a, I> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) custom_discounts: Option<NoneYet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) items: Option<Vec<I>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) promotions: Option<NoneYet>,
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

type CartDocument<'a> = IncludingDocument<'a, CartView<'a>, CartItemView<'a>>;

/// The answer of the item calls: every line and the cart's `meta`; `errors` are the items a bulk
/// add could not add, `included` is present when asked for.
#[derive(Serialize)]
struct ItemsDocument<'a> {
    data: Vec<CartItemView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [ErrorObject]>,
    #[serde(skip_serializing_if = "IncludedView::is_empty")]
    included: IncludedView<'a, CartItemView<'a>>,
    meta: MetaView<MoneyView<'a>>,
}

/// `amount` in `currency`, formatted as the currency says (a currency without a format shows the
/// bare number of minor units).
pub(crate) fn money<'a>(
    amount: i64,
    currency: &'a str,
    formats: &HashMap<String, MoneyFormat>,
) -> MoneyView<'a> {
    let formatted = formats
        .get(currency)
        .map_or_else(|| format!("{amount}"), |f| f.format(amount));
    MoneyView {
        amount,
        currency,
        formatted,
    }
}

/// The totals of the lines with their tax items (all of the cart's, grouped in one pass).
fn totals_of(lines: &[CartItem], taxes: &[CartTaxItem], method: CalculationMethod) -> ApiResult<CartTotals> {
    let taxes = cart_taxes::by_item(taxes);
    let lines: Vec<CartLine> = lines
        .iter()
        .map(|i| CartLine {
            unit_amount: i.unit_amount,
            quantity: i.quantity.max(0) as u64,
            includes_tax: i.includes_tax,
            tax_items: taxes
                .get(&i.id)
                .map(|t| t.iter().map(|t| t.tax).collect())
                .unwrap_or_default(),
            discounts: Vec::new(),
        })
        .collect();
    cart_totals(&lines, &[], method).map_err(|e| {
        ApiError::from(Error::bad_request(
            "Bad Request",
            format!("The cart cannot be totalled: {e}"),
        ))
    })
}

fn cart_display_price<'a>(
    t: &CartTotals,
    currency: &'a str,
    formats: &HashMap<String, MoneyFormat>,
) -> DisplayPriceView<MoneyView<'a>> {
    let figure = |amount: i64| money(amount, currency, formats);
    DisplayPriceView {
        discount: figure(t.discount),
        discounts: None,
        shipping: Some(figure(t.shipping)),
        shipping_discount: Some(figure(t.shipping_discount)),
        tax: figure(t.tax),
        with_tax: figure(t.with_tax),
        without_discount: figure(t.without_discount),
        without_tax: figure(t.without_tax),
    }
}

pub(crate) fn line_display_price<'a>(
    t: &LineTotals,
    currency: &'a str,
    formats: &HashMap<String, MoneyFormat>,
) -> DisplayPriceView<LinePriceView<'a>> {
    let price = |unit: i64, value: i64| LinePriceView {
        unit: money(unit, currency, formats),
        value: money(value, currency, formats),
    };
    let (unit, value) = (&t.unit, &t.value);
    DisplayPriceView {
        discount: price(unit.discount, value.discount),
        discounts: None,
        shipping: None,
        shipping_discount: None,
        tax: price(unit.tax, value.tax),
        with_tax: price(unit.with_tax, value.with_tax),
        without_discount: price(unit.without_discount, value.without_discount),
        without_tax: price(unit.without_tax, value.without_tax),
    }
}

fn cart_timestamps(cart: &Cart) -> TimestampsView {
    TimestampsView {
        expires_at: Some(rfc3339(cart.expires_at)),
        ..TimestampsView::of(cart.created_at, cart.updated_at)
    }
}

fn render_item<'a>(
    item: &'a CartItem,
    taxes: &[&CartTaxItem],
    t: &LineTotals,
    currency: &'a str,
    formats: &HashMap<String, MoneyFormat>,
    origin: &Origin,
) -> CartItemView<'a> {
    let price = |amount: i64| PriceView {
        amount,
        currency,
        includes_tax: item.includes_tax,
    };
    CartItemView {
        catalog_id: item.catalog_id,
        catalog_source: item.product_id.map(|_| "pim"),
        custom_inputs: &item.custom_inputs,
        description: item.description.as_deref(),
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
            display_price: line_display_price(t, currency, formats),
            timestamps: TimestampsView::of(item.created_at, item.updated_at),
        },
        name: &item.name,
        product_id: item.product_id,
        quantity: item.quantity,
        relationships: CartItemRelationshipsView {
            custom_discounts: DataView { data: [] },
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

fn render_cart<'a>(
    cart: &'a Cart,
    lines: &[CartItem],
    totals: &CartTotals,
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
            custom_discounts: DataView { data: [] },
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
            promotions: DataView { data: [] },
        },
        snapshot_date: cart.snapshot_date.map(rfc3339),
        kind: "cart",
    }
}

/// Every line rendered with its totals and tax items.
fn render_lines<'a>(
    lines: &'a [CartItem],
    taxes: &[CartTaxItem],
    totals: &CartTotals,
    currency: &'a str,
    formats: &HashMap<String, MoneyFormat>,
    origin: &Origin,
) -> Vec<CartItemView<'a>> {
    let by_item = cart_taxes::by_item(taxes);
    lines
        .iter()
        .zip(&totals.lines)
        .map(|(i, t)| {
            let taxes = by_item.get(&i.id).map_or(&[][..], Vec::as_slice);
            render_item(i, taxes, t, currency, formats, origin)
        })
        .collect()
}

/// The cart and, with `include=items` / `include=tax_items`, its lines under `included.items`
/// and their tax items under `included.tax_items`.
fn cart_document<'a>(
    contents: &'a CartContents,
    totals: &CartTotals,
    formats: &HashMap<String, MoneyFormat>,
    default: &'a str,
    include: &[String],
    origin: &Origin,
) -> CartDocument<'a> {
    let CartContents { cart, lines, taxes } = contents;
    let asked = |name: &str| include.iter().any(|i| i == name);
    let currency = cart.currency.as_deref().unwrap_or(default);
    CartDocument {
        data: render_cart(cart, lines, totals, formats, default, origin),
        included: IncludedView {
            // kassa has no promotions or custom discounts yet: asked for, they are present and empty.
            custom_discounts: asked("custom_discounts").then_some([]),
            items: asked("items").then(|| render_lines(lines, taxes, totals, currency, formats, origin)),
            promotions: asked("promotions").then_some([]),
            tax_items: asked("tax_items").then(|| taxes.iter().map(render_tax_item).collect()),
        },
    }
}

/// The items collection every item call answers with: all lines plus the cart's `meta`, with
/// `include=tax_items` their tax items under `included.tax_items`, and the items a bulk add
/// refused under `errors` (present only when there are some).
fn items_document<'a>(
    contents: &'a CartContents,
    totals: &CartTotals,
    formats: &HashMap<String, MoneyFormat>,
    default: &'a str,
    include: &[String],
    origin: &Origin,
    refused: &'a [ErrorObject],
) -> ItemsDocument<'a> {
    let CartContents { cart, lines, taxes } = contents;
    let currency = cart.currency.as_deref().unwrap_or(default);
    let asked = |name: &str| include.iter().any(|i| i == name);
    ItemsDocument {
        data: render_lines(lines, taxes, totals, currency, formats, origin),
        errors: (!refused.is_empty()).then_some(refused),
        included: IncludedView {
            custom_discounts: None,
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
async fn cart_response(
    state: &AppState,
    contents: &CartContents,
    settings: &StoreSettings,
    include: &[String],
    origin: &Origin,
) -> ApiResult<Response> {
    let totals = totals_of(&contents.lines, &contents.taxes, settings.calculation_method)?;
    let (formats, default) = money_formats(state).await?;
    let document = cart_document(contents, &totals, &formats, &default, include, origin);
    Ok(Json(document).into_response())
}

/// [`items_document`], serialized here because it borrows the cart the handler read.
async fn items_response(
    state: &AppState,
    contents: &CartContents,
    settings: &StoreSettings,
    include: &[String],
    origin: &Origin,
    refused: &[ErrorObject],
) -> ApiResult<Response> {
    let totals = totals_of(&contents.lines, &contents.taxes, settings.calculation_method)?;
    let (formats, default) = money_formats(state).await?;
    let document = items_document(contents, &totals, &formats, &default, include, origin, refused);
    Ok(Json(document).into_response())
}

async fn read(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    origin: Origin,
    query: ListQuery,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let (contents, settings) = open_contents(&state, &id, &Requester::new(&shopper, &customer)).await?;
    cart_response(&state, &contents, &settings, &query.include, &origin).await
}

#[derive(Deserialize, Default)]
struct CartBody {
    #[serde(default)]
    data: CartData,
}

#[derive(Deserialize, Default, Clone)]
struct CartData {
    name: Option<String>,
    description: Option<String>,
    discount_settings: Option<DiscountSettings>,
    inventory_settings: Option<InventorySettings>,
    contact: Option<Contact>,
    custom_attributes: Option<serde_json::Map<String, Value>>,
    snapshot_date: Option<String>,
    payment_intent_id: Option<String>,
}

#[derive(Deserialize, Clone)]
struct DiscountSettings {
    custom_discounts_enabled: Option<bool>,
    use_rule_promotions: Option<bool>,
}

#[derive(Deserialize, Clone)]
struct InventorySettings {
    defer_inventory_check: Option<bool>,
}

#[derive(Deserialize, Clone)]
struct Contact {
    email: Option<String>,
}

/// Applies a create/update body to a cart, reporting every problem at once.
fn apply_cart_body(cart: &mut Cart, d: CartData) -> ApiResult<()> {
    let mut v = kassa_core::Validator::new();
    if let Some(name) = v.optional_text(d.name, "data.name", MAX_NAME) {
        cart.name = name;
    }
    if let Some(description) = d.description {
        if description.chars().count() > MAX_NAME {
            v.push(
                "data.description",
                "max_length",
                format!("description must be at most {MAX_NAME} characters"),
            );
        }
        cart.description = Some(description);
    }
    if let Some(s) = d.discount_settings {
        cart.custom_discounts_enabled = s
            .custom_discounts_enabled
            .unwrap_or(cart.custom_discounts_enabled);
        cart.use_rule_promotions = s.use_rule_promotions.unwrap_or(cart.use_rule_promotions);
    }
    if let Some(s) = d.inventory_settings {
        cart.defer_inventory_check = s.defer_inventory_check.unwrap_or(cart.defer_inventory_check);
    }
    if let Some(email) = d.contact.and_then(|c| c.email) {
        if !kassa_core::account::is_valid_email(&email) {
            v.push("data.contact.email", "format", "Does not match format 'email'");
        } else if cart.account_id.is_some() || cart.customer_id.is_some() {
            v.push(
                "data.contact.email",
                "invalid",
                "A contact email is only for guest carts, not for carts of an account or customer",
            );
        }
        cart.contact_email = Some(email);
    }
    if let Some(attrs) = d.custom_attributes {
        if attrs.len() > 20 {
            v.push(
                "data.custom_attributes",
                "max_properties",
                "A cart has at most 20 custom attributes",
            );
        }
        cart.custom_attributes = Value::Object(attrs);
    }
    if let Some(date) = d.snapshot_date {
        match kassa_core::time::parse_rfc3339(&date) {
            Some(ms) => cart.snapshot_date = Some(ms),
            None => v.push(
                "data.snapshot_date",
                "format",
                "snapshot_date must be an RFC 3339 date-time",
            ),
        }
    }
    if let Some(intent) = d.payment_intent_id {
        cart.payment_intent_id = Some(intent);
    }
    v.finish()?;
    Ok(())
}

async fn create(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    origin: Origin,
    OptionalJson(body): OptionalJson<CartBody>,
) -> ApiResult<(StatusCode, Response)> {
    let now = now_millis();
    let settings = state.catalog_view.store_settings(&*state.store).await?;
    let mut cart = settings.new_cart(Uuid::now_v7().to_string(), now);
    // A shopper's token associates the new cart with their account or customer.
    cart.account_id = shopper.account.as_ref().map(|a| a.scope);
    cart.customer_id = customer.0.as_ref().map(|c| c.sub);
    apply_cart_body(&mut cart, body.map(|b| b.data).unwrap_or_default())?;
    state.store.create_cart(cart.clone()).await?;
    let contents = CartContents::empty(cart);
    Ok((
        StatusCode::CREATED,
        cart_response(&state, &contents, &settings, &[], &origin).await?,
    ))
}

async fn update(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CartBody>,
) -> ApiResult<Response> {
    let who = Requester::new(&shopper, &customer);
    let (contents, settings) = existing_contents(&state, &id, &who).await?;
    let mut contents = match contents {
        Some(contents) => contents,
        None => {
            // An unknown cart is created by the update, as reading it would create it; but only
            // once the body is known to be good, so a refused update leaves no cart behind.
            apply_cart_body(
                &mut settings.new_cart(id.clone(), now_millis()),
                body.data.clone(),
            )?;
            open_contents(&state, &id, &who).await?.0
        }
    };
    let cart = &mut contents.cart;
    apply_cart_body(cart, body.data)?;
    cart.updated_at = now_millis();
    cart.expires_at = settings.cart_expiry(cart.updated_at);
    state.store.update_cart(cart.clone()).await?;
    cart_response(&state, &contents, &settings, &[], &origin).await
}

async fn remove(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if !is_valid_cart_id(&id) {
        return Err(bad_cart_id());
    }
    let Some(cart) = state.store.cart(&id, now_millis()).await? else {
        return Err(ApiError::not_found("Not Found", "Cart not found"));
    };
    Requester::new(&shopper, &customer).may_use(&cart)?;
    if let Some(owner) = cart.customer_id {
        let theirs = state
            .store
            .carts(
                CartScope::Customer(owner),
                PageRequest { limit: 1, offset: 0 },
                now_millis(),
            )
            .await?;
        if theirs.total <= 1 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Last cart",
                "This is the last cart associated with a customer and it cannot be deleted, try disassociating instead",
            ));
        }
    }
    state.store.delete_cart(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let scope = match (shopper.account.as_ref(), customer.0.as_ref()) {
        (Some(account), _) => CartScope::Account(account.scope),
        (None, Some(c)) => CartScope::Customer(c.sub),
        (None, None) if shopper.caller.is_admin() => CartScope::Associated,
        (None, None) => {
            return Err(ApiError::forbidden(
                "Listing carts needs an EP-Account-Management-Authentication-Token or an X-Moltin-Customer-Token",
            ));
        }
    };
    let settings = state.catalog_view.store_settings(&*state.store).await?;
    let scope = match scope {
        CartScope::Associated if settings.show_all_carts => CartScope::All,
        scope => scope,
    };
    let page = state.store.carts(scope, query.page, now_millis()).await?;
    let (formats, default) = money_formats(&state).await?;
    // Every listed cart's lines and taxes in one read, not a query per cart.
    let ids: Vec<String> = page.items.iter().map(|c| c.id.clone()).collect();
    let (all_lines, all_taxes) = state.store.carts_contents(&ids).await?;
    let mut lines_by_cart: HashMap<String, Vec<CartItem>> = HashMap::new();
    for line in all_lines {
        lines_by_cart.entry(line.cart_id.clone()).or_default().push(line);
    }
    let mut taxes_by_cart: HashMap<String, Vec<CartTaxItem>> = HashMap::new();
    for tax in all_taxes {
        taxes_by_cart.entry(tax.cart_id.clone()).or_default().push(tax);
    }
    let mut carts = Vec::with_capacity(page.items.len());
    for cart in &page.items {
        let lines = lines_by_cart.remove(&cart.id).unwrap_or_default();
        let taxes = taxes_by_cart.remove(&cart.id).unwrap_or_default();
        let totals = totals_of(&lines, &taxes, settings.calculation_method)?;
        carts.push(render_cart(cart, &lines, &totals, &formats, &default, &origin));
    }
    Ok(Json(envelope::collection(
        carts, page.total, &query, &origin, &uri,
    )))
}

async fn items(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    origin: Origin,
    query: ListQuery,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let (contents, settings) = open_contents(&state, &id, &Requester::new(&shopper, &customer)).await?;
    items_response(&state, &contents, &settings, &query.include, &origin, &[]).await
}

#[derive(Deserialize)]
struct AddBody {
    data: Value,
    #[serde(default)]
    options: AddOptions,
}

#[derive(Deserialize, Default)]
struct AddOptions {
    #[serde(default)]
    add_all_or_nothing: bool,
}

#[derive(Deserialize)]
struct CustomItemData {
    name: Option<String>,
    sku: Option<String>,
    description: Option<String>,
    quantity: Option<i64>,
    price: Option<CustomPrice>,
    #[serde(default)]
    custom_inputs: Option<serde_json::Map<String, Value>>,
}

#[derive(Deserialize)]
struct CustomPrice {
    amount: Option<i64>,
    includes_tax: Option<bool>,
}

/// A catalog product to add: priced from the shopper's published catalog once parsed.
struct ProductRequest {
    /// Where the item was in the request (`data`, `data[2]`), for error sources.
    base: String,
    id: Option<Uuid>,
    sku: Option<String>,
    quantity: i64,
    custom_inputs: Value,
    /// The slug of the stock location to draw from.
    location: Option<String>,
    via: Via,
}

/// How an item came into an add: named itself, or one line of a merged cart or re-ordered order
/// (whose refusals name the `cart_id` or `order_id` of the request's item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Item,
    Merge,
    Reorder,
}

/// An item to add, with where it came from in the request.
struct Good {
    base: String,
    via: Via,
    item: CartItem,
}

impl Good {
    /// Where a [`CartLimit`] refusal of this item points.
    fn limit_source(&self, limit: CartLimit) -> String {
        let field = match (self.via, self.item.kind, limit) {
            (Via::Merge, ..) => "cart_id",
            (Via::Reorder, ..) => "order_id",
            (Via::Item, ItemKind::Custom, CartLimit::Total) => "price.amount",
            (Via::Item, ..) => "quantity",
        };
        format!("{}.{field}", self.base)
    }
}

enum Requested {
    Custom {
        base: String,
        item: Box<CartItem>,
    },
    Product(ProductRequest),
    /// `{"type": "cart_items", "cart_id"}`: every line of another cart.
    Merge {
        base: String,
        cart_id: String,
    },
    /// `{"type": "order_items", "order_id"}`: the products of an earlier order, priced anew.
    Reorder {
        base: String,
        order_id: Uuid,
    },
}

#[derive(Deserialize)]
struct ProductItemData {
    id: Option<String>,
    sku: Option<String>,
    quantity: Option<i64>,
    #[serde(default)]
    custom_inputs: Option<serde_json::Map<String, Value>>,
    location: Option<String>,
}

fn parse_product(raw: &Value, base: &str) -> Result<ProductRequest, Vec<FieldError>> {
    let field = |name: &str| format!("{base}.{name}");
    let data: ProductItemData = serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        vec![FieldError::new(
            if path == "." {
                field("type")
            } else {
                format!("{base}.{path}")
            },
            "invalid",
            e.into_inner().to_string(),
        )]
    })?;
    let mut v = kassa_core::Validator::new();
    let id = match data.id.as_deref() {
        Some(raw) => match Uuid::parse_str(raw) {
            Ok(id) => Some(id),
            Err(_) => {
                v.push(field("id"), "format", "id must be a product id (a UUID)");
                None
            }
        },
        None => None,
    };
    if data.id.is_none() && data.sku.is_none() {
        v.push(
            field("id"),
            "required",
            "A cart_item needs the product's id or sku",
        );
    }
    let quantity = v.required(data.quantity, &field("quantity"));
    check_item_quantity(&mut v, quantity, &field("quantity"));
    if let Some(slug) = &data.location
        && !kassa_core::inventory::is_valid_slug(slug)
    {
        v.push(
            field("location"),
            "invalid",
            "location must be the slug of a stock location (1 to 128 characters of A-Z, a-z, 0-9, hyphen, underscore and period)",
        );
    }
    if let Err(Error::Validation(problems)) = v.finish() {
        return Err(problems);
    }
    Ok(ProductRequest {
        base: base.to_owned(),
        id,
        sku: data.sku,
        quantity: quantity.unwrap_or_default(),
        custom_inputs: Value::Object(data.custom_inputs.unwrap_or_default()),
        location: data.location,
        via: Via::Item,
    })
}

/// An item's quantity: from 1 to [`MAX_QUANTITY`].
fn check_item_quantity(v: &mut kassa_core::Validator, quantity: Option<i64>, source: &str) {
    match quantity {
        Some(q) if q < 1 => v.push(source, "number_gte", "Must be greater than or equal to 1"),
        Some(q) if q > MAX_QUANTITY => v.push(
            source,
            "number_lte",
            format!("Must be less than or equal to {MAX_QUANTITY}"),
        ),
        _ => {}
    }
}

/// One requested item, checked; or the problems with it, each naming its field under `base`.
fn parse_item(raw: &Value, base: &str, now: Millis) -> Result<Requested, Vec<FieldError>> {
    let field = |name: &str| format!("{base}.{name}");
    let bad = |name: &str, title: &str, detail: String| vec![FieldError::new(field(name), title, detail)];
    let kind = raw.get("type").and_then(Value::as_str);
    match kind {
        Some("custom_item") => {}
        Some("cart_item") => return parse_product(raw, base).map(Requested::Product),
        Some("order_items") => {
            return match raw
                .get("order_id")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
            {
                Some(order_id) => Ok(Requested::Reorder {
                    base: base.to_owned(),
                    order_id,
                }),
                None => Err(bad(
                    "order_id",
                    "required",
                    "order_id must be the id of an order".into(),
                )),
            };
        }
        Some("cart_items") => {
            return match raw.get("cart_id").and_then(Value::as_str) {
                Some(cart_id) if is_valid_cart_id(cart_id) => Ok(Requested::Merge {
                    base: base.to_owned(),
                    cart_id: cart_id.to_owned(),
                }),
                _ => Err(bad(
                    "cart_id",
                    "required",
                    "cart_id must name the cart to merge".into(),
                )),
            };
        }
        Some("promotion_item") => {
            return Err(vec![FieldError::new(
                field("code"),
                "Not Found",
                "No promotion could be found with the given code.",
            )]);
        }
        Some(other) => {
            return Err(bad(
                "type",
                "invalid",
                format!("Unknown item type '{other}'; use cart_item, custom_item or promotion_item"),
            ));
        }
        None => return Err(bad("type", "required", "type is required".into())),
    }
    let data: CustomItemData = serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        bad(
            if path == "." { "type" } else { &path },
            "invalid",
            e.into_inner().to_string(),
        )
    })?;
    let mut v = kassa_core::Validator::new();
    let name = v.text(data.name, &field("name"), MAX_NAME);
    let sku = v.optional_text_or_blank(data.sku, &field("sku"), MAX_NAME);
    let description = v.optional_text_or_blank(data.description, &field("description"), MAX_NAME);
    let quantity = v.required(data.quantity, &field("quantity"));
    check_item_quantity(&mut v, quantity, &field("quantity"));
    let price = v.required(data.price, &field("price"));
    let amount = price
        .as_ref()
        .and_then(|p| v.required(p.amount, &field("price.amount")));
    if amount.is_some_and(|a| a < 0) {
        v.push(
            field("price.amount"),
            "number_gte",
            "Must be greater than or equal to 0",
        );
    }
    if amount.is_some_and(|a| a > MAX_AMOUNT) {
        v.push(
            field("price.amount"),
            "number_lte",
            format!("Must be less than or equal to {MAX_AMOUNT} (minor units)"),
        );
    }
    if let Err(Error::Validation(problems)) = v.finish() {
        return Err(problems);
    }
    let id = Uuid::now_v7();
    Ok(Requested::Custom {
        base: base.to_owned(),
        item: Box::new(CartItem {
            id,
            cart_id: String::new(),
            kind: ItemKind::Custom,
            line_key: custom_line_key(sku.as_deref(), id),
            product_id: None,
            sku,
            name: name.unwrap_or_default(),
            description,
            slug: None,
            quantity: quantity.unwrap_or_default(),
            unit_amount: amount.unwrap_or_default(),
            includes_tax: price.and_then(|p| p.includes_tax).unwrap_or(true),
            custom_inputs: Value::Object(data.custom_inputs.unwrap_or_default()),
            catalog_id: None,
            location: None,
            image: None,
            created_at: now,
            updated_at: now,
        }),
    })
}

/// The lines of another cart the caller may use: its custom items as they are, and its product
/// lines as product requests, priced anew from the catalog at the quantity they reach in this
/// cart (as adding them would).
async fn merged_lines(
    state: &AppState,
    who: &Requester,
    into: &Cart,
    source: &str,
    base: &str,
    now: Millis,
) -> ApiResult<(Vec<Good>, Vec<ProductRequest>)> {
    let not_found = || ApiError::not_found("Not Found", "Cart not found");
    let source = state.store.cart(source, now).await?.ok_or_else(not_found)?;
    who.may_use(&source)?;
    if source.id == into.id {
        return Err(ApiError::bad_request("A cart cannot be merged into itself"));
    }
    if let (Some(a), Some(b)) = (&source.currency, &into.currency)
        && a != b
    {
        return Err(ApiError::bad_request(format!(
            "Cart Currency Mismatch: the cart to merge is in {a}, this cart in {b}"
        )));
    }
    let (products, custom): (Vec<CartItem>, Vec<CartItem>) = state
        .store
        .cart_items(&source.id)
        .await?
        .into_iter()
        .partition(|l| l.kind == ItemKind::Product && l.product_id.is_some());
    let custom = custom
        .into_iter()
        .map(|l| Good {
            base: base.to_owned(),
            via: Via::Merge,
            item: CartItem {
                id: Uuid::now_v7(),
                cart_id: into.id.clone(),
                created_at: now,
                updated_at: now,
                ..l
            },
        })
        .collect();
    let products = products
        .into_iter()
        .map(|l| ProductRequest {
            base: base.to_owned(),
            id: l.product_id,
            sku: None,
            quantity: l.quantity,
            custom_inputs: l.custom_inputs,
            // The line keeps the location it draws from (checked again at checkout).
            location: l.location,
            via: Via::Merge,
        })
        .collect();
    Ok((custom, products))
}

/// The product lines of an order the caller may see, as product requests priced anew from the
/// catalog; custom items cannot be re-ordered (as in Elastic Path) and are reported.
async fn reordered(
    state: &AppState,
    who: &Requester,
    order_id: Uuid,
    base: &str,
) -> ApiResult<(Vec<ProductRequest>, Vec<ErrorObject>)> {
    let not_found = || ApiError::not_found("Not Found", "Order not found");
    let (order, items) = state.store.order(order_id).await?.ok_or_else(not_found)?;
    // The one order access rule, as for `GET /v2/orders/{id}`: a shopper token narrows an admin one.
    let visible =
        order_scope(who.admin, who.account, who.customer).is_some_and(|scope| scope.may_see(&order));
    if !visible {
        return Err(not_found());
    }
    let mut requests = Vec::new();
    let mut refused = Vec::new();
    for item in items {
        match (item.kind, item.product_id) {
            (ItemKind::Product, Some(product_id)) => requests.push(ProductRequest {
                base: base.to_owned(),
                id: Some(product_id),
                sku: None,
                quantity: item.quantity,
                custom_inputs: item.custom_inputs,
                // A re-ordered line names no location: the shopper chooses one again.
                location: None,
                via: Via::Reorder,
            }),
            _ => refused.push(item_problem(
                400,
                "Custom items cannot be re-ordered",
                format!("The custom item {} of the order is not re-ordered", item.name),
                format!("{base}.order_id"),
                Some(json!({ "id": item.id })),
            )),
        }
    }
    Ok((requests, refused))
}

/// An item problem with its own status (a missing product is 404, the rest 400).
fn item_problem(
    status: u16,
    title: &str,
    detail: String,
    source: String,
    meta: Option<Value>,
) -> ErrorObject {
    ErrorObject {
        status,
        title: title.to_owned(),
        detail: Some(detail),
        source: Some(source),
        meta,
    }
}

/// The stock an add checks: the records of the products read (a product without one is not
/// stock-managed), with their positions at the locations read, and which of those locations
/// exist.
struct KnownStock {
    /// Products whose record (or its absence) is known, and at which locations.
    read: HashSet<(Uuid, Option<String>)>,
    stock: HashMap<Uuid, Stock>,
    /// The slugs the request's items named, read with the cart.
    asked: HashSet<String>,
    locations: HashMap<String, Uuid>,
}

impl KnownStock {
    fn new(products: &[Uuid], slugs: &[String], read: CartStock) -> Self {
        let mut known = HashSet::new();
        for id in products {
            known.insert((*id, None));
            known.extend(slugs.iter().map(|s| (*id, Some(s.clone()))));
        }
        Self {
            read: known,
            stock: read.stock.into_iter().map(|s| (s.product_id, s)).collect(),
            asked: slugs.iter().cloned().collect(),
            locations: read.locations.into_iter().collect(),
        }
    }

    /// Whether an item named this location and it does not exist. (A merged cart's lines keep
    /// the locations they were added with; checkout checks those again.)
    fn location_missing(&self, slug: &str) -> bool {
        self.asked.contains(slug) && !self.locations.contains_key(slug)
    }

    /// What is available to a line of the product at `location` (or outside locations); `None`
    /// if the product is not stock-managed. Only for positions read.
    fn available(&self, product_id: Uuid, location: Option<&str>) -> Option<i64> {
        self.stock.get(&product_id).map(|s| s.at(location).available)
    }

    /// Reads the stock of those `(product, location)` positions not read yet: products a
    /// re-order brought in, and lines a location-less add merges into that draw from a location.
    async fn complete(&mut self, state: &AppState, wanted: &[(Uuid, Option<String>)]) -> ApiResult<()> {
        let mut missing: Vec<Uuid> = wanted
            .iter()
            .filter(|w| !self.read.contains(*w))
            .map(|(id, _)| *id)
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            // Each record with all its positions.
            let found = state.store.stock_levels(&missing).await?;
            for id in &missing {
                self.stock.remove(id);
            }
            for stock in found {
                self.stock.insert(stock.product_id, stock);
            }
            self.read.extend(wanted.iter().cloned());
        }
        Ok(())
    }
}

/// The products the requests name (by id or sku) in the shopper's release, and the locations
/// they name, for reading their stock together with the cart.
fn requested_products<'a>(
    release: Option<&ShopperRelease>,
    products: impl Iterator<Item = &'a ProductRequest>,
) -> (Vec<Uuid>, Vec<String>) {
    let mut slugs: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    for p in products {
        if let Some(slug) = &p.location
            && !slugs.contains(slug)
        {
            slugs.push(slug.clone());
        }
        let Some(release) = release else { continue };
        let product = match (p.id, p.sku.as_deref()) {
            (Some(id), _) => release.product(id),
            (None, Some(sku)) => release.product_by_sku(sku),
            (None, None) => None,
        };
        if let Some(product) = product {
            ids.push(product.product.id);
        }
    }
    (ids, slugs)
}

/// Prices product requests from the shopper's published catalog at the cart's quantity of each
/// line (volume tiers count the whole line), checking stock unless the cart defers it.
#[allow(clippy::too_many_arguments)]
async fn price_products(
    state: &AppState,
    release: Option<&ShopperRelease>,
    cart: &Cart,
    existing: &[CartItem],
    currency: &str,
    products: Vec<ProductRequest>,
    stock: &mut KnownStock,
    now: Millis,
) -> ApiResult<(Vec<Good>, Vec<ErrorObject>)> {
    let mut items = Vec::new();
    let mut problems = Vec::new();
    if products.is_empty() {
        return Ok((items, problems));
    }
    let mut found = Vec::new();
    for p in products {
        let product = release.and_then(|r| match (p.id, p.sku.as_deref()) {
            (Some(id), _) => r.product(id),
            (None, Some(sku)) => r.product_by_sku(sku),
            (None, None) => None,
        });
        let (Some(release), Some(product)) = (release, product) else {
            let what =
                p.id.map_or_else(|| json!({ "sku": p.sku }), |id| json!({ "id": id }));
            problems.push(item_problem(
                404,
                "Product not found",
                "The requested product could not be found".into(),
                format!("{}.id", p.base),
                Some(what),
            ));
            continue;
        };
        let product = &product.product;
        if let Some(slug) = &p.location
            && stock.location_missing(slug)
        {
            problems.push(item_problem(
                400,
                "Location not found",
                format!("There is no stock location with the slug '{slug}'"),
                format!("{}.location", p.base),
                Some(json!({ "location": slug })),
            ));
            continue;
        }
        let line_key = product_line_key(product.id, &p.custom_inputs);
        let line = existing.iter().find(|l| l.line_key == line_key);
        let in_cart: i64 = line.map_or(0, |l| l.quantity);
        // The line draws from the location named now, or else the one it drew from.
        let location = p
            .location
            .clone()
            .or_else(|| line.and_then(|l| l.location.clone()));
        let Some(sku) = product.sku.as_deref() else {
            problems.push(item_problem(
                400,
                "Product has no price",
                format!("The product {} has no sku, so no price", product.id),
                format!("{}.id", p.base),
                Some(json!({ "id": product.id })),
            ));
            continue;
        };
        match price_product(
            release,
            sku,
            currency,
            in_cart.saturating_add(p.quantity).max(1) as u64,
            now,
        ) {
            Ok(price) => {
                let id = Uuid::now_v7();
                found.push((
                    in_cart,
                    location,
                    p.base.clone(),
                    p.via,
                    CartItem {
                        id,
                        cart_id: cart.id.clone(),
                        kind: ItemKind::Product,
                        line_key,
                        product_id: Some(product.id),
                        sku: Some(sku.to_owned()),
                        name: product.name.clone(),
                        description: product.description.clone(),
                        slug: product.slug.clone(),
                        quantity: p.quantity,
                        unit_amount: price.amount,
                        includes_tax: price.includes_tax,
                        custom_inputs: p.custom_inputs,
                        catalog_id: Some(release.catalog_id()),
                        location: p.location,
                        image: product
                            .main_image
                            .and_then(|id| release.file(id))
                            .map(LineImage::of),
                        created_at: now,
                        updated_at: now,
                    },
                ));
            }
            Err(_) => problems.push(item_problem(
                400,
                "Product has no price",
                format!("The product {sku} has no price in the cart's currency {currency}"),
                format!("{}.id", p.base),
                Some(json!({ "id": product.id, "sku": sku })),
            )),
        }
    }
    if !cart.defer_inventory_check && !found.is_empty() {
        let positions: Vec<(Uuid, Option<String>)> = found
            .iter()
            .filter_map(|(_, location, _, _, i)| Some((i.product_id?, location.clone())))
            .collect();
        stock.complete(state, &positions).await?;
        let mut wanted: HashMap<(Uuid, Option<String>), i64> = HashMap::new();
        for (in_cart, location, base, via, item) in found {
            let product_id = item.product_id.unwrap_or_default();
            let available = stock.available(product_id, location.as_deref());
            let total = wanted.entry((product_id, location)).or_insert(in_cart);
            *total = total.saturating_add(item.quantity);
            match available {
                Some(available) if *total > available => problems.push(item_problem(
                    400,
                    "Insufficient stock",
                    format!("There is not enough stock to add {} to your cart", item.name),
                    format!("{base}.quantity"),
                    Some(json!({ "id": product_id })),
                )),
                _ => items.push(Good { base, via, item }),
            }
        }
    } else {
        items.extend(
            found
                .into_iter()
                .map(|(_, _, base, via, item)| Good { base, via, item }),
        );
    }
    Ok((items, problems))
}

async fn add_items(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    origin: Origin,
    request: ShopperRequest,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AddBody>,
) -> ApiResult<(StatusCode, Response)> {
    if !is_valid_cart_id(&id) {
        return Err(bad_cart_id());
    }
    let who = Requester::new(&shopper, &customer);
    let now = now_millis();
    let settings = state.catalog_view.store_settings(&*state.store).await?;
    let (parsed, bulk): (Vec<_>, bool) = match &body.data {
        Value::Array(list) => (
            list.iter()
                .enumerate()
                .map(|(i, raw)| parse_item(raw, &format!("data[{i}]"), now))
                .collect(),
            true,
        ),
        raw @ Value::Object(_) if raw.get("type").and_then(Value::as_str) == Some("promotion_item") => {
            let code = raw.get("code").cloned().unwrap_or(Value::Null);
            let mut e = ApiError::not_found("Not Found", "No promotion could be found with the given code.");
            e.errors[0].meta = Some(json!({ "code": code }));
            return Err(e);
        }
        raw @ Value::Object(_) => {
            // A merge or re-order is several items in one: partial success is allowed as in bulk.
            let several = matches!(
                raw.get("type").and_then(Value::as_str),
                Some("cart_items" | "order_items")
            );
            (vec![parse_item(raw, "data", now)], several)
        }
        _ => {
            return Err(
                ApiError::bad_request("data must be an item object or an array of items").with_source("data"),
            );
        }
    };
    // The release is the node's cached catalog view: knowing the products before reading the
    // cart lets one read return the cart, its lines and those products' stock.
    let release = state
        .catalog_view
        .shopper_release(&*state.store, &request.context)
        .await?;
    let named = parsed.iter().filter_map(|r| match r {
        Ok(Requested::Product(p)) => Some(p),
        _ => None,
    });
    let (stock_of, slugs) = requested_products(release.as_deref(), named);
    let wanted = StockOf::Products {
        ids: stock_of.clone(),
        locations: slugs.clone(),
    };
    let (contents, levels) = state.store.cart_contents(&id, now, wanted).await?;
    // An unknown cart is created by the add itself (one write), as Elastic Path creates it.
    let contents = contents.unwrap_or_else(|| CartContents::empty(settings.new_cart(id.clone(), now)));
    who.may_use(&contents.cart)?;
    let cart = &contents.cart;
    let mut stock = KnownStock::new(&stock_of, &slugs, levels);
    let mut custom = Vec::new();
    let mut products = Vec::new();
    let mut problems: Vec<ErrorObject> = Vec::new();
    for result in parsed {
        match result {
            Ok(Requested::Custom { base, item }) => custom.push(Good {
                base,
                via: Via::Item,
                item: *item,
            }),
            Ok(Requested::Product(p)) => products.push(p),
            Ok(Requested::Reorder { base, order_id }) => {
                match reordered(&state, &who, order_id, &base).await {
                    Ok((requests, refused)) => {
                        products.extend(requests);
                        problems.extend(refused);
                    }
                    Err(e) => problems.extend(e.errors.into_iter().map(|mut p| {
                        p.source = Some(format!("{base}.order_id"));
                        p
                    })),
                }
            }
            Ok(Requested::Merge { base, cart_id }) => {
                match merged_lines(&state, &who, cart, &cart_id, &base, now).await {
                    Ok((lines, requests)) => {
                        custom.extend(lines);
                        products.extend(requests);
                    }
                    // Another owner's cart refuses the whole request, as every use of it does.
                    Err(e) if e.status == StatusCode::FORBIDDEN => {
                        return Err(e.with_source(format!("{base}.cart_id")));
                    }
                    Err(e) => problems.extend(e.errors.into_iter().map(|mut p| {
                        p.source = Some(format!("{base}.cart_id"));
                        p
                    })),
                }
            }
            Err(p) => problems.extend(
                p.into_iter()
                    .map(|p| item_problem(400, &p.title, p.detail, p.source, None)),
            ),
        }
    }
    let currency = match cart.currency.clone() {
        Some(currency) => currency,
        None => {
            state
                .catalog_view
                .currency(&*state.store, request.currency.as_deref())
                .await?
                .code
        }
    };
    let (priced, product_problems) = price_products(
        &state,
        release.as_deref(),
        cart,
        &contents.lines,
        &currency,
        products,
        &mut stock,
        now,
    )
    .await?;
    problems.extend(product_problems);
    let mut good = custom;
    good.extend(priced);
    // Each item is decided on the cart as read (the store decides again on the lines it writes,
    // in the same transaction, should another add have come in between): one that would take a
    // line past its quantity or the cart past what can be totalled is refused on its own.
    let mut size = CartSize::of(&contents.lines, &contents.taxes);
    let fits: Vec<bool> = good
        .iter()
        .map(|g| match size.try_add(&g.item) {
            Ok(()) => true,
            Err(limit) => {
                problems.extend(ApiError::from(limit.error(&g.limit_source(limit))).errors);
                false
            }
        })
        .collect();
    drop(size);
    let mut fits = fits.into_iter();
    good.retain(|_| fits.next().unwrap_or(false));
    let good: Vec<CartItem> = good.into_iter().map(|g| g.item).collect();
    // A single item, or a bulk add with add_all_or_nothing, changes nothing when anything fails.
    if !problems.is_empty() && (!bulk || body.options.add_all_or_nothing || good.is_empty()) {
        let status = if problems.iter().all(|p| p.status == 404) {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::BAD_REQUEST
        };
        for p in &mut problems {
            p.status = status.as_u16();
        }
        return Err(ApiError {
            status,
            errors: problems,
        });
    }
    let contents = state
        .store
        .add_cart_items(cart, &currency, good, settings.cart_expiry(now))
        .await?;
    Ok((
        StatusCode::CREATED,
        items_response(&state, &contents, &settings, &[], &origin, &problems).await?,
    ))
}

#[derive(Deserialize)]
struct QuantityBody {
    data: QuantityData,
}

#[derive(Deserialize)]
struct QuantityData {
    quantity: Option<i64>,
}

fn check_quantity(quantity: Option<i64>, source: &str) -> ApiResult<i64> {
    match quantity {
        Some(q) if (0..=MAX_QUANTITY).contains(&q) => Ok(q),
        Some(q) if q > MAX_QUANTITY => Err(ApiError::bad_request(format!(
            "Must be less than or equal to {MAX_QUANTITY}"
        ))
        .with_source(source)),
        Some(_) => Err(ApiError::bad_request("Must be greater than or equal to 0").with_source(source)),
        None => Err(ApiError::bad_request("quantity is required").with_source(source)),
    }
}

/// Decides quantity changes on the cart as read, each named at `source(i)` when refused (the
/// store checks the lines it wrote again, in its transaction).
fn check_changes(
    contents: &CartContents,
    changes: &[QuantityChange],
    source: impl Fn(usize) -> String,
) -> ApiResult<()> {
    let mut size = CartSize::of(&contents.lines, &contents.taxes);
    for (i, c) in changes.iter().enumerate() {
        size.try_set(c.item_id, c.quantity, c.unit_price.map(|(amount, _)| amount))
            .map_err(|limit| limit.error(&source(i)))?;
    }
    Ok(())
}

/// The quantity changes, each product line priced again at its new quantity from the shopper's
/// release as an add prices it, so volume tiers follow the quantity down as well as up. A line
/// whose product or price has left the catalog keeps its price (checkout refuses it).
async fn priced_changes(
    state: &AppState,
    request: &ShopperRequest,
    contents: &CartContents,
    quantities: Vec<(Uuid, i64)>,
) -> ApiResult<Vec<QuantityChange>> {
    let product_line = |item_id: Uuid| {
        contents
            .lines
            .iter()
            .find(|l| l.id == item_id && l.kind == ItemKind::Product)
    };
    let repriced = quantities
        .iter()
        .any(|&(item_id, quantity)| quantity > 0 && product_line(item_id).is_some());
    let release = match (repriced, contents.cart.currency.as_deref()) {
        (true, Some(_)) => {
            state
                .catalog_view
                .shopper_release(&*state.store, &request.context)
                .await?
        }
        _ => None,
    };
    let now = now_millis();
    Ok(quantities
        .into_iter()
        .map(|(item_id, quantity)| {
            let unit_price = match (&release, contents.cart.currency.as_deref(), product_line(item_id)) {
                (Some(release), Some(currency), Some(line)) if quantity > 0 => line
                    .sku
                    .as_deref()
                    .filter(|_| line.product_id.is_some_and(|id| release.product(id).is_some()))
                    .and_then(|sku| price_product(release, sku, currency, quantity as u64, now).ok())
                    .map(|price| (price.amount, price.includes_tax)),
                _ => None,
            };
            QuantityChange {
                item_id,
                quantity,
                unit_price,
            }
        })
        .collect())
}

async fn update_item(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    origin: Origin,
    request: ShopperRequest,
    ApiPath((id, item_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<QuantityBody>,
) -> ApiResult<Response> {
    let not_found = || ApiError::not_found("Not Found", "Item was not found in the cart");
    let quantity = check_quantity(body.data.quantity, "data.quantity")?;
    let item_id = parse_uuid(&item_id, not_found)?;
    // An unknown cart has no such item: 404, and no cart is created.
    let (contents, settings) = existing_contents(&state, &id, &Requester::new(&shopper, &customer)).await?;
    let contents = contents.ok_or_else(not_found)?;
    let changes = priced_changes(&state, &request, &contents, vec![(item_id, quantity)]).await?;
    check_changes(&contents, &changes, |_| "data.quantity".into())?;
    let now = now_millis();
    let contents = state
        .store
        .set_cart_item_quantities(&contents.cart.id, changes, now, settings.cart_expiry(now))
        .await?;
    items_response(&state, &contents, &settings, &[], &origin, &[]).await
}

#[derive(Deserialize)]
struct BulkQuantityBody {
    data: Vec<BulkQuantity>,
}

#[derive(Deserialize)]
struct BulkQuantity {
    id: Option<String>,
    quantity: Option<i64>,
}

async fn update_items(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    origin: Origin,
    request: ShopperRequest,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<BulkQuantityBody>,
) -> ApiResult<Response> {
    let mut changes = Vec::with_capacity(body.data.len());
    for (i, change) in body.data.into_iter().enumerate() {
        let item_id = change
            .id
            .as_deref()
            .and_then(|raw| Uuid::parse_str(raw).ok())
            .ok_or_else(|| {
                ApiError::bad_request("id must be the id of an item in the cart")
                    .with_source(format!("data[{i}].id"))
            })?;
        changes.push((
            item_id,
            check_quantity(change.quantity, &format!("data[{i}].quantity"))?,
        ));
    }
    let (contents, settings) = existing_contents(&state, &id, &Requester::new(&shopper, &customer)).await?;
    let Some(contents) = contents else {
        // An unknown cart has none of the items: 404 (nothing to change for an empty list), and
        // no cart is created.
        if changes.is_empty() {
            return open_and_list(&state, &id, &shopper, &customer, &origin).await;
        }
        return Err(ApiError::not_found("Not Found", "Item was not found in the cart"));
    };
    let changes = priced_changes(&state, &request, &contents, changes).await?;
    check_changes(&contents, &changes, |i| format!("data[{i}].quantity"))?;
    let now = now_millis();
    let contents = state
        .store
        .set_cart_item_quantities(&contents.cart.id, changes, now, settings.cart_expiry(now))
        .await?;
    items_response(&state, &contents, &settings, &[], &origin, &[]).await
}

/// An empty bulk update of an unknown cart: the cart is created (as reading it would) and its
/// items listed, as before.
async fn open_and_list(
    state: &AppState,
    id: &str,
    shopper: &Shopper,
    customer: &CustomerToken,
    origin: &Origin,
) -> ApiResult<Response> {
    let (contents, settings) = open_contents(state, id, &Requester::new(shopper, customer)).await?;
    let now = now_millis();
    let contents = state
        .store
        .set_cart_item_quantities(&contents.cart.id, Vec::new(), now, settings.cart_expiry(now))
        .await?;
    items_response(state, &contents, &settings, &[], origin, &[]).await
}

async fn remove_item(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    origin: Origin,
    ApiPath((id, item_id)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let not_found = || ApiError::not_found("Not Found", "Item was not found in the cart");
    let item_id = parse_uuid(&item_id, not_found)?;
    // An unknown cart has no such item: 404, and no cart is created.
    let (contents, settings) = existing_contents(&state, &id, &Requester::new(&shopper, &customer)).await?;
    let cart = contents.ok_or_else(not_found)?.cart;
    let now = now_millis();
    let contents = state
        .store
        .set_cart_item_quantities(
            &cart.id,
            vec![QuantityChange {
                item_id,
                quantity: 0,
                unit_price: None,
            }],
            now,
            settings.cart_expiry(now),
        )
        .await?;
    items_response(&state, &contents, &settings, &[], &origin, &[]).await
}

async fn clear_items(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let (cart, settings) = open_cart(&state, &id, &Requester::new(&shopper, &customer)).await?;
    let now = now_millis();
    state
        .store
        .clear_cart_items(&cart.id, now, settings.cart_expiry(now))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct RelationshipBody {
    data: Value,
}

/// The one `{type, id}` of an association body, which must be an array.
fn relationship(body: &RelationshipBody, kind: &str) -> ApiResult<Uuid> {
    let Value::Array(list) = &body.data else {
        return Err(ApiError::forbidden("Invalid json payload: data must be an array").with_source("data"));
    };
    if list.len() != 1 {
        return Err(
            ApiError::forbidden(format!("Cannot associate more than one {kind}")).with_source("data"),
        );
    }
    if list[0].get("type").and_then(Value::as_str) != Some(kind) {
        return Err(
            ApiError::bad_request(format!("The type does not exist or is not listed as {kind}"))
                .with_source("data[0].type"),
        );
    }
    list[0]
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| {
            ApiError::bad_request(format!("id must be the id of the {kind}")).with_source("data[0].id")
        })
}

/// What a cart can be associated with: one account and one customer.
#[derive(Clone, Copy)]
enum Party {
    Account,
    Customer,
}

impl Party {
    fn kind(self) -> &'static str {
        match self {
            Party::Account => "account",
            Party::Customer => "customer",
        }
    }

    /// The cart's association of this kind.
    fn slot(self, cart: &mut Cart) -> &mut Option<Uuid> {
        match self {
            Party::Account => &mut cart.account_id,
            Party::Customer => &mut cart.customer_id,
        }
    }

    /// The id the caller's own token speaks for.
    fn own(self, who: &Requester) -> Option<Uuid> {
        match self {
            Party::Account => who.account,
            Party::Customer => who.customer,
        }
    }

    async fn exists(self, state: &AppState, id: Uuid) -> ApiResult<bool> {
        Ok(match self {
            Party::Account => state.store.account(id).await?.is_some(),
            Party::Customer => state.store.customer(id).await?.is_some(),
        })
    }
}

async fn associate(
    state: &AppState,
    who: &Requester,
    cart_id: &str,
    body: &RelationshipBody,
    party: Party,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let kind = party.kind();
    let id = relationship(body, kind)?;
    if !who.admin && party.own(who) != Some(id) {
        let mut owner = kind.to_owned();
        owner[..1].make_ascii_uppercase();
        return Err(ApiError::forbidden(format!(
            "{owner} does not have the required permissions to fulfill this request"
        )));
    }
    // Before the cart is opened, which creates an unknown one: a refusal creates nothing.
    if !party.exists(state, id).await? {
        return Err(ApiError::not_found("Not Found", format!("{kind} not found")).with_source("data[0].id"));
    }
    let (mut cart, settings) = open_cart(state, cart_id, who).await?;
    match *party.slot(&mut cart) {
        Some(existing) if existing == id => return Ok((StatusCode::NO_CONTENT, Json(Value::Null))),
        Some(_) => {
            return Err(ApiError::forbidden(format!(
                "Cannot associate more than one {kind}"
            )));
        }
        None => {}
    }
    *party.slot(&mut cart) = Some(id);
    cart.contact_email = None;
    cart.updated_at = now_millis();
    cart.expires_at = settings.cart_expiry(cart.updated_at);
    state.store.update_cart(cart).await?;
    Ok((
        StatusCode::OK,
        Json(json!({ "data": [{ "type": kind, "id": id }] })),
    ))
}

async fn dissociate(
    state: &AppState,
    who: &Requester,
    cart_id: &str,
    body: &RelationshipBody,
    party: Party,
) -> ApiResult<StatusCode> {
    let id = relationship(body, party.kind())?;
    let (mut cart, settings) = open_cart(state, cart_id, who).await?;
    if *party.slot(&mut cart) == Some(id) {
        *party.slot(&mut cart) = None;
        cart.updated_at = now_millis();
        cart.expires_at = settings.cart_expiry(cart.updated_at);
        state.store.update_cart(cart).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn associate_account(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RelationshipBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    associate(
        &state,
        &Requester::new(&shopper, &customer),
        &id,
        &body,
        Party::Account,
    )
    .await
}

async fn dissociate_account(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RelationshipBody>,
) -> ApiResult<StatusCode> {
    dissociate(
        &state,
        &Requester::new(&shopper, &customer),
        &id,
        &body,
        Party::Account,
    )
    .await
}

async fn associate_customer(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RelationshipBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    associate(
        &state,
        &Requester::new(&shopper, &customer),
        &id,
        &body,
        Party::Customer,
    )
    .await
}

async fn dissociate_customer(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RelationshipBody>,
) -> ApiResult<StatusCode> {
    dissociate(
        &state,
        &Requester::new(&shopper, &customer),
        &id,
        &body,
        Party::Customer,
    )
    .await
}
