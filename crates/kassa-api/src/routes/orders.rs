//! `POST /v2/carts/{id}/checkout` (a cart becomes an order), and reading orders: `GET /v2/orders`,
//! `GET /v2/orders/{id}` and `GET /v2/orders/{id}/items`.
//!
//! Checkout reads the cart, prices it (product lines again from the shopper's current release;
//! custom items keep their price), checks stock, and stores the order with its items in one
//! transaction (`OrderStore::place_order`), together with the `Idempotency-Key` response when the
//! request has one. The cart is left as it was and can be checked out again.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kassa_core::account::is_valid_email;
use kassa_core::address::AddressUse;
use kassa_core::cart::{CartLine, CartTotals, LineTotals, cart_totals};
use kassa_core::carts::{Cart, CartContents, CartItem, CartStock, ItemKind, StockOf, is_valid_cart_id};
use kassa_core::catalog_rule::ShopperContext;
use kassa_core::money::MoneyFormat;
use kassa_core::order::{OrderStatus, PaymentStatus, ShippingStatus};
use kassa_core::orders::{
    MAX_EXTERNAL_REF, ORDER_COUNT_CAP, ORDER_SORTS, OrderItem, OrderQuery, OrderScope, OrderSort,
    PlacedOrder, order_conditions, order_scope,
};
use kassa_core::time::now_millis;
use kassa_core::{Error, Validator};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::auth::{CustomerToken, Shopper};
use crate::catalog_view::{CHANNEL_HEADER, CONTEXT_TAG_HEADER, price_product};
use crate::envelope::{CollectionDocument, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery};
use crate::idempotency::{self, Begin, Claim};
use crate::routes::Routes;
use crate::routes::cart_taxes::{by_item, render_tax_item};
use crate::routes::carts::{
    DataView, DisplayPriceView, EmptyObject, IncludedView, IncludingDocument, LinePriceView, LinksView,
    MetaView, MoneyView, NoneYet, PriceView, Requester, ResourceRefView, TimestampsView, bad_cart_id,
    line_display_price, money, money_formats,
};
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/carts/{id}/checkout", post(checkout))
        .route("/v2/orders", get(list))
        .route("/v2/orders/{id}", get(read))
        .route("/v2/orders/{id}/items", get(items))
}

/// Longest accepted text field of a checkout body (names, emails, references); addresses follow
/// `kassa_core::address`.
const MAX_TEXT: usize = 255;

fn cart_not_found() -> ApiError {
    ApiError::not_found("Not Found", "Cart not found")
}

pub(crate) fn order_not_found() -> ApiError {
    ApiError::not_found("Not Found", "Order not found")
}

/// An optional string field of `obj`, reporting a non-string value or excess length. Blank
/// (`""`, as a form sends an empty input) counts as not given.
pub(crate) fn text(
    v: &mut Validator,
    obj: &Map<String, Value>,
    name: &str,
    base: &str,
    max: usize,
) -> Option<String> {
    let source = format!("{base}.{name}");
    match obj.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => v.optional_text_or_blank(Some(s.clone()), &source, max),
        Some(_) => {
            v.push(source, "type", format!("{name} must be a string"));
            None
        }
    }
}

/// The object at `data.{name}`, reporting anything else.
fn object<'a>(v: &mut Validator, data: &'a Map<String, Value>, name: &str) -> Option<&'a Map<String, Value>> {
    match data.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(o),
        Some(_) => {
            v.push(
                format!("data.{name}"),
                "type",
                format!("{name} must be an object"),
            );
            None
        }
    }
}

/// EP's checkout email format: [`is_valid_email`], and no leading, trailing or consecutive
/// dots in the local part (EP's documented `Does not match format 'email'` cases).
fn is_email(e: &str) -> bool {
    let local = e.split('@').next().unwrap_or_default();
    is_valid_email(e) && !local.starts_with('.') && !local.ends_with('.') && !local.contains("..")
}

fn email(v: &mut Validator, obj: &Map<String, Value>, base: &str, required: bool) -> Option<String> {
    let source = format!("{base}.email");
    let e = if required {
        required_text(v, obj, "email", base)
    } else {
        text(v, obj, "email", base, MAX_TEXT)
    };
    let e = e?;
    if is_email(&e) {
        Some(e)
    } else {
        v.push(source, "format", "Does not match format 'email'");
        None
    }
}

/// A required string field of `obj`: present, a string, not blank, at most `MAX_TEXT` characters.
fn required_text(v: &mut Validator, obj: &Map<String, Value>, name: &str, base: &str) -> Option<String> {
    let source = format!("{base}.{name}");
    match obj.get(name) {
        None | Some(Value::Null) => {
            v.push(source, "required", format!("{name} is required"));
            None
        }
        Some(Value::String(s)) => v.text(Some(s.clone()), &source, MAX_TEXT),
        Some(_) => {
            v.push(source, "type", format!("{name} must be a string"));
            None
        }
    }
}

/// A billing or shipping address at `data.{name}`, checked by the rules every address follows
/// (`kassa_core::address`: the official spec's required fields, `region` or `county`, lengths).
/// Returns the address as stored and rendered (the fields its use allows, blank ones left out).
pub(crate) fn address(v: &mut Validator, data: &Map<String, Value>, name: &str, shipping: bool) -> Value {
    let base = format!("data.{name}");
    let Some(obj) = object(v, data, name) else {
        if !data.contains_key(name) || data[name].is_null() {
            v.push(base, "required", format!("{name} is required"));
        }
        return Value::Null;
    };
    let address_use = if shipping {
        AddressUse::Shipping
    } else {
        AddressUse::Billing
    };
    Value::Object(kassa_core::address::check(v, obj, &base, address_use).to_json())
}

/// Who the order is for.
#[derive(Debug, Clone, Default)]
struct Party {
    contact_name: Option<String>,
    contact_email: Option<String>,
    customer_id: Option<Uuid>,
    customer_name: Option<String>,
    customer_email: Option<String>,
    account_id: Option<Uuid>,
    account_member_id: Option<Uuid>,
}

fn uuid_field(
    v: &mut Validator,
    obj: &Map<String, Value>,
    name: &str,
    base: &str,
    required: bool,
) -> Option<Uuid> {
    let source = format!("{base}.{name}");
    match obj.get(name) {
        None | Some(Value::Null) => {
            if required {
                v.push(source, "required", format!("{name} is required"));
            }
            None
        }
        Some(Value::String(s)) => match Uuid::parse_str(s) {
            Ok(id) => Some(id),
            Err(_) => {
                v.push(source, "format", "Does not match format 'uuid'");
                None
            }
        },
        Some(_) => {
            v.push(source, "type", format!("{name} must be a string"));
            None
        }
    }
}

/// The checked body: who, both addresses, and the optional references.
struct Checkout {
    party: Party,
    /// The customer id to look up (customer-id mode) and whether it came from the body.
    customer_lookup: Option<Uuid>,
    billing: Value,
    shipping: Value,
    order_number: Option<String>,
    external_ref: Option<String>,
}

/// Parses and checks the body in the mode the caller's tokens choose, reporting every problem
/// at once.
fn parse_checkout(body: &Value, shopper: &Shopper, customer: &CustomerToken) -> ApiResult<Checkout> {
    let Some(data) = body.get("data").and_then(Value::as_object) else {
        return Err(ApiError::bad_request("data is required and must be an object").with_source("data"));
    };
    let mut v = Validator::new();
    let contact = object(&mut v, data, "contact");
    let body_customer = object(&mut v, data, "customer");
    let body_account = object(&mut v, data, "account");
    let mut party = Party::default();
    let mut customer_lookup = None;
    let contact_fields = |v: &mut Validator, party: &mut Party, required: bool| match contact {
        Some(c) => {
            party.contact_name = if required {
                required_text(v, c, "name", "data.contact")
            } else {
                text(v, c, "name", "data.contact", MAX_TEXT)
            };
            party.contact_email = email(v, c, "data.contact", required);
        }
        None if required => v.push("data.contact", "required", "contact is required"),
        None => {}
    };
    if let Some(claims) = &shopper.account {
        // Shopper account checkout: the account and member come from the token.
        if body_customer.is_some() {
            v.push(
                "data.customer",
                "invalid",
                "An account checkout takes contact, not customer",
            );
        }
        if let Some(a) = body_account {
            let id = uuid_field(&mut v, a, "id", "data.account", false);
            let member = uuid_field(&mut v, a, "member_id", "data.account", false);
            if id.is_some_and(|id| id != claims.scope) || member.is_some_and(|m| m != claims.sub) {
                return Err(ApiError::forbidden(
                    "The account in the body is not the account of the EP-Account-Management-Authentication-Token",
                ));
            }
        }
        party.account_id = Some(claims.scope);
        party.account_member_id = Some(claims.sub);
        contact_fields(&mut v, &mut party, true);
    } else if let Some(a) = body_account {
        // Admin account checkout.
        if !shopper.caller.is_admin() {
            return Err(ApiError::forbidden(
                "Checkout for an account needs a client_credentials token, or an implicit token with an EP-Account-Management-Authentication-Token",
            ));
        }
        if body_customer.is_some() {
            v.push(
                "data.customer",
                "invalid",
                "An account checkout takes contact, not customer",
            );
        }
        party.account_id = uuid_field(&mut v, a, "id", "data.account", true);
        party.account_member_id = uuid_field(&mut v, a, "member_id", "data.account", false);
        contact_fields(&mut v, &mut party, true);
    } else {
        // Customer checkout: by id, by the customer token, or as a guest by name and email.
        let token = customer.0.as_ref().map(|c| c.sub);
        let body_id = body_customer.and_then(|c| uuid_field(&mut v, c, "id", "data.customer", false));
        if let (Some(token), Some(id)) = (token, body_id)
            && token != id
        {
            return Err(ApiError::forbidden(
                "Customer does not have the required permissions to fulfill this request",
            ));
        }
        match (token.or(body_id), body_customer) {
            (Some(id), c) => {
                party.customer_id = Some(id);
                customer_lookup = Some(id);
                if let Some(c) = c {
                    party.customer_name = text(&mut v, c, "name", "data.customer", MAX_TEXT);
                    party.customer_email = email(&mut v, c, "data.customer", false);
                }
            }
            // A malformed id, already reported.
            (None, Some(c)) if c.get("id").is_some_and(|id| !id.is_null()) => {}
            (None, Some(c)) => {
                party.customer_name = required_text(&mut v, c, "name", "data.customer");
                party.customer_email = email(&mut v, c, "data.customer", true);
            }
            (None, None) => v.push(
                "data.customer",
                "required",
                "customer is required: a customer id, a guest's name and email, or an account (client_credentials) or an EP-Account-Management-Authentication-Token with contact",
            ),
        }
        contact_fields(&mut v, &mut party, false);
    }
    let billing = address(&mut v, data, "billing_address", false);
    let shipping = address(&mut v, data, "shipping_address", true);
    let order_number = text(&mut v, data, "order_number", "data", MAX_TEXT);
    let external_ref = text(&mut v, data, "external_ref", "data", MAX_EXTERNAL_REF);
    v.finish()?;
    Ok(Checkout {
        party,
        customer_lookup,
        billing,
        shipping,
        order_number,
        external_ref,
    })
}

/// Settles who the order is for against the database: the customer exists (and lends its name
/// and email), the account exists and the member belongs to it.
async fn resolve_party(state: &AppState, c: &mut Checkout) -> ApiResult<()> {
    if let Some(id) = c.customer_lookup {
        let Some(found) = state.store.customer(id).await? else {
            return Err(Error::field("data.customer.id", "not_found", "Customer not found").into());
        };
        c.party.customer_name.get_or_insert(found.name);
        c.party.customer_email.get_or_insert(found.email);
    }
    if let Some(account) = c.party.account_id {
        let (exists, is_member) = match c.party.account_member_id {
            Some(member) => state.store.account_membership(account, member).await?,
            None => (state.store.account(account).await?.is_some(), true),
        };
        if !exists {
            return Err(Error::field("data.account.id", "not_found", "Account not found").into());
        }
        if !is_member {
            return Err(Error::field(
                "data.account.member_id",
                "not_found",
                "The account member does not belong to the account",
            )
            .into());
        }
    }
    Ok(())
}

/// The cart's associations must agree with who the order is for.
fn party_owns_cart(c: &Checkout, cart: &Cart) -> ApiResult<()> {
    if cart.account_id.is_some() && cart.account_id != c.party.account_id {
        return Err(ApiError::forbidden(
            "Account does not have the required permissions to fulfill this request",
        ));
    }
    if cart.customer_id.is_some() && cart.customer_id != c.party.customer_id {
        return Err(ApiError::forbidden(
            "Customer does not have the required permissions to fulfill this request",
        ));
    }
    Ok(())
}

/// Product lines priced again from the shopper's current release, as adding them would.
async fn reprice(
    state: &AppState,
    headers: &HeaderMap,
    shopper: &Shopper,
    customer: &CustomerToken,
    currency: &str,
    lines: &mut [CartItem],
) -> ApiResult<()> {
    if !lines.iter().any(|l| l.kind == ItemKind::Product) {
        return Ok(());
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let now = now_millis();
    let ctx = ShopperContext {
        account_id: shopper.account.as_ref().map(|a| a.scope.to_string()),
        customer_id: customer.0.as_ref().map(|c| c.sub.to_string()),
        channel: header(CHANNEL_HEADER),
        tag: header(CONTEXT_TAG_HEADER),
        now,
    };
    let release = state.catalog_view.shopper_release(&*state.store, &ctx).await?;
    for line in lines.iter_mut().filter(|l| l.kind == ItemKind::Product) {
        let unavailable = |line: &CartItem| {
            let mut e = ApiError::bad_request(format!(
                "The product {} is no longer available in the catalog",
                line.sku.as_deref().unwrap_or_default()
            ));
            e.errors[0].title = "Product not found".into();
            e.errors[0].meta = Some(json!({ "id": line.product_id, "sku": line.sku }));
            e
        };
        let (Some(release), Some(product_id), Some(sku)) = (&release, line.product_id, line.sku.clone())
        else {
            return Err(unavailable(line));
        };
        if release.product(product_id).is_none() {
            return Err(unavailable(line));
        }
        match price_product(release, &sku, currency, line.quantity.max(1) as u64, now) {
            Ok(price) => {
                line.unit_amount = price.amount;
                line.includes_tax = price.includes_tax;
                line.catalog_id = Some(release.catalog_id());
            }
            Err(_) => {
                let mut e = ApiError::bad_request(format!("The product {sku} has no price in {currency}"));
                e.errors[0].title = "Price not found".into();
                e.errors[0].meta = Some(json!({ "id": product_id, "sku": sku }));
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The final stock check: every product's quantity at each position (summed over its lines;
/// a line draws from its location, or else from the stock outside locations) is available.
/// `stock` holds the records of the lines' products (a product without one is not
/// stock-managed) and the lines' locations; a line whose location no longer exists is refused.
/// Answers the ids of the lines' locations, by slug.
fn check_stock(lines: &[CartItem], stock: CartStock) -> ApiResult<HashMap<String, Uuid>> {
    // (product, location) → (quantity, sku), in a fixed order so the first shortage is stable.
    type Position<'a> = (Uuid, Option<&'a str>);
    let mut wanted: BTreeMap<Position, (i64, Option<&str>)> = BTreeMap::new();
    for line in lines {
        let Some(id) = line.product_id else { continue };
        if let Some(slug) = &line.location
            && stock.location(slug).is_none()
        {
            let sku = line.sku.clone().unwrap_or_else(|| id.to_string());
            let mut e = ApiError::bad_request(format!(
                "The stock location '{slug}' of {sku} no longer exists; add the item again with another location"
            ));
            e.errors[0].title = "Location not found".into();
            e.errors[0].meta = Some(json!({ "id": id, "sku": sku, "location": slug }));
            return Err(e);
        }
        let e = wanted
            .entry((id, line.location.as_deref()))
            .or_insert((0, line.sku.as_deref()));
        e.0 = e.0.saturating_add(line.quantity);
    }
    for ((product_id, location), (quantity, sku)) in wanted {
        let Some(record) = stock.stock.iter().find(|s| s.product_id == product_id) else {
            continue;
        };
        if record.at(location).available < quantity {
            let sku = sku.map_or_else(|| product_id.to_string(), str::to_owned);
            let mut e = ApiError::bad_request(format!("There is not enough stock to add {sku} to your cart"));
            e.errors[0].title = "Insufficient stock".into();
            let mut meta = json!({ "id": product_id, "sku": sku });
            if let Some(location) = location {
                meta["location"] = json!(location);
            }
            e.errors[0].meta = Some(meta);
            return Err(e);
        }
    }
    Ok(stock.locations.into_iter().collect())
}

fn line_totals(o: &PlacedOrder, items: &[OrderItem]) -> ApiResult<CartTotals> {
    let lines: Vec<CartLine> = items
        .iter()
        .map(|i| CartLine {
            unit_amount: i.unit_amount,
            quantity: i.quantity.max(0) as u64,
            includes_tax: i.includes_tax,
            tax_items: i.taxes.iter().map(|t| t.tax).collect(),
            discounts: Vec::new(),
        })
        .collect();
    cart_totals(&lines, &[], o.calculation_method).map_err(|e| {
        ApiError::from(Error::bad_request(
            "Bad Request",
            format!("The cart cannot be totalled: {e}"),
        ))
    })
}

/// An order's `contact` (never with an `id`) or `customer`; an unknown name or email is `null`.
#[derive(Serialize)]
struct PartyView<'a> {
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
struct OrderDisplayPriceView<'a> {
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
struct OrderMetaView<'a> {
    display_price: OrderDisplayPriceView<'a>,
    timestamps: TimestampsView,
}

/// An order's relationships; the account, member and customer only when it has them.
#[derive(Serialize)]
struct OrderRelationshipsView {
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<DataView<ResourceRefView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_member: Option<DataView<ResourceRefView>>,
    custom_discounts: DataView<NoneYet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer: Option<DataView<ResourceRefView>>,
    items: DataView<Vec<ResourceRefView>>,
    promotions: DataView<NoneYet>,
}

/// The order resource (`data` of an order document, or one entry of a listing). Fields in
/// alphabetical order, like every view (see `carts`).
#[derive(Serialize)]
struct OrderView<'a> {
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
struct OrderItemRelationshipsView {
    cart_item: DataView<ResourceRefView>,
    promotions: DataView<NoneYet>,
    taxes: DataView<Vec<ResourceRefView>>,
}

/// An `OrderItemResponse`. A custom line's `product_id` and a line without SKU's `sku` are `""`.
#[derive(Serialize)]
struct OrderItemView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    catalog_source: Option<&'static str>,
    custom_inputs: &'a Value,
    discounts: NoneYet,
    id: Uuid,
    links: LinksView,
    /// The slug of the stock location the item drew from; `null` when none.
    location: Option<&'a str>,
    meta: MetaView<LinePriceView<'a>>,
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
type OrderIncludedView<'a> = IncludedView<'a, OrderItemView<'a>>;

/// An order read: `{"data": order}`, and `included` when asked for.
type OrderDocument<'a> = IncludingDocument<'a, OrderView<'a>, OrderItemView<'a>>;

fn render_order_item<'a>(
    i: &'a OrderItem,
    t: &LineTotals,
    currency: &'a str,
    formats: &HashMap<String, MoneyFormat>,
    origin: &Origin,
) -> OrderItemView<'a> {
    let price = |amount: i64| PriceView {
        amount,
        currency,
        includes_tax: i.includes_tax,
    };
    OrderItemView {
        catalog_id: i.catalog_id,
        catalog_source: i.product_id.map(|_| "pim"),
        custom_inputs: &i.custom_inputs,
        discounts: [],
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
                discounts: Some(EmptyObject {}),
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

fn render_order<'a>(
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
            timestamps: crate::routes::payments::order_timestamps(o),
        },
        order_number: o.order_number.as_deref(),
        payment: o.payment.as_str(),
        relationships: OrderRelationshipsView {
            account: related(o.account_id, "account"),
            account_member: related(o.account_member_id, "account_member"),
            custom_discounts: DataView { data: [] },
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
fn order_items<'a>(
    o: &'a PlacedOrder,
    items: &'a [OrderItem],
    formats: &HashMap<String, MoneyFormat>,
    origin: &Origin,
) -> ApiResult<Vec<OrderItemView<'a>>> {
    let totals = line_totals(o, items)?;
    Ok(items
        .iter()
        .zip(&totals.lines)
        .map(|(i, t)| render_order_item(i, t, &o.currency, formats, origin))
        .collect())
}

/// What `include` asked for, of what orders offer (`custom_discounts` and `promotions` are
/// always empty here, so they add nothing).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Includes {
    pub(crate) items: bool,
    pub(crate) tax_items: bool,
}

impl Includes {
    fn of(query: &ListQuery) -> Self {
        let has = |name: &str| query.include.iter().any(|i| i == name);
        Self {
            items: has("items"),
            tax_items: has("tax_items"),
        }
    }
}

/// `included.items` / `included.tax_items` of `orders`, as asked for.
fn included<'a>(
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
    Ok(IncludedView {
        custom_discounts: None,
        items,
        promotions: None,
        tax_items,
    })
}

/// The order document: `data` and, as `includes` asks, `included.items` / `included.tax_items`.
fn order_document<'a>(
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

async fn checkout(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    origin: Origin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let scope = idempotency::scope_of(&shopper, &customer);
    let path = format!("/v2/carts/{id}/checkout");
    let claim = match idempotency::begin(&state, &headers, scope, "POST", &path, &body).await? {
        Begin::Replay(response) => return Ok(response),
        Begin::Run(claim) => claim,
    };
    let result = place(
        &state,
        &shopper,
        &customer,
        &origin,
        &headers,
        &id,
        &body,
        claim.as_ref(),
    )
    .await;
    match (result, claim) {
        (Ok(body), claim) => {
            if let Some(claim) = claim {
                claim.completed();
            }
            state.metrics.order_placed();
            Ok((StatusCode::CREATED, [(CONTENT_TYPE, "application/json")], body).into_response())
        }
        (Err(e), Some(claim)) => {
            claim.release(&e).await;
            Err(e)
        }
        (Err(e), None) => Err(e),
    }
}

#[allow(clippy::too_many_arguments)]
async fn place(
    state: &AppState,
    shopper: &Shopper,
    customer: &CustomerToken,
    origin: &Origin,
    headers: &HeaderMap,
    id: &str,
    body: &Value,
    claim: Option<&Claim>,
) -> ApiResult<String> {
    let mut checkout = parse_checkout(body, shopper, customer)?;
    if !is_valid_cart_id(id) {
        return Err(bad_cart_id());
    }
    let now = now_millis();
    // The cart with its lines, taxes and stock is one read; the party's checks run alongside.
    // Both finish before either's error is reported, so which error a request gets is stable.
    let (read, party) = tokio::join!(
        state.store.cart_contents(id, now, StockOf::Lines),
        resolve_party(state, &mut checkout)
    );
    let (contents, stock) = read?;
    // Checkout never creates a cart: an unknown (or expired) cart is 404.
    let CartContents {
        cart,
        mut lines,
        taxes,
    } = contents.ok_or_else(cart_not_found)?;
    Requester::new(shopper, customer).may_use(&cart)?;
    party?;
    party_owns_cart(&checkout, &cart)?;
    if cart.snapshot_date.is_some() {
        return Err(ApiError::bad_request(
            "A preview cart (with a snapshot_date) cannot be checked out",
        ));
    }
    let settings = state.catalog_view.store_settings(&*state.store).await?;
    if lines.is_empty() {
        return Err(ApiError::bad_request(
            "The cart is empty; add items before checking out",
        ));
    }
    let (formats, default) = money_formats(state).await?;
    let currency = cart.currency.clone().unwrap_or(default);
    let locations = check_stock(&lines, stock)?;
    reprice(state, headers, shopper, customer, &currency, &mut lines).await?;

    let taxes = by_item(&taxes);
    // Time-ordered ids: every order and item index then grows at its right edge, so a batch of
    // checkouts dirties a few pages instead of one random leaf per index and row.
    let order_id = Uuid::now_v7();
    let items: Vec<OrderItem> = lines
        .iter()
        .enumerate()
        .map(|(n, l)| {
            let line_taxes = taxes
                .get(&l.id)
                .map(|t| t.iter().map(|t| (*t).clone()).collect())
                .unwrap_or_default();
            let mut item = OrderItem::from_cart_line(order_id, n, l, line_taxes, now);
            item.location_id = l.location.as_ref().and_then(|slug| locations.get(slug).copied());
            item
        })
        .collect();
    let p = checkout.party;
    let mut order = PlacedOrder {
        id: order_id,
        status: OrderStatus::Incomplete,
        payment: PaymentStatus::Unpaid,
        shipping: ShippingStatus::Unfulfilled,
        cart_id: cart.id.clone(),
        currency,
        order_number: checkout.order_number,
        external_ref: checkout.external_ref,
        contact_name: p.contact_name,
        contact_email: p.contact_email,
        customer_name: p.customer_name,
        customer_email: p.customer_email,
        customer_id: p.customer_id,
        account_id: p.account_id,
        account_member_id: p.account_member_id,
        billing_address: checkout.billing,
        shipping_address: checkout.shipping,
        custom_attributes: cart.custom_attributes.clone(),
        calculation_method: settings.calculation_method,
        with_tax: 0,
        without_tax: 0,
        tax: 0,
        discount: 0,
        without_discount: 0,
        shipping_amount: 0,
        shipping_discount: 0,
        paid: 0,
        authorized: 0,
        balance_owing: 0,
        fully_paid_at: None,
        stock_allocated: settings.reserve_at == kassa_core::settings::ReserveAt::Checkout,
        created_at: now,
        updated_at: now,
    };
    let totals = line_totals(&order, &items)?;
    order.with_tax = totals.with_tax;
    order.without_tax = totals.without_tax;
    order.tax = totals.tax;
    order.discount = totals.discount;
    order.without_discount = totals.without_discount;
    order.shipping_amount = totals.shipping;
    order.shipping_discount = totals.shipping_discount;
    order.balance_owing = totals.with_tax;
    let includes = Includes {
        items: true,
        tax_items: false,
    };
    // Serialized once: an Idempotency-Key's replay stores exactly the bytes sent now.
    let response = serde_json::to_string(&order_document(&order, &items, &formats, origin, includes)?)
        .expect("an order document serializes");
    let remembered = claim.map(|c| c.response(StatusCode::CREATED, response.clone()));
    state.store.place_order(order, items, remembered).await?;
    Ok(response)
}

/// Which orders the caller may read, from its tokens ([`order_scope`]); `None` reads nothing.
pub(crate) fn scope(shopper: &Shopper, customer: &CustomerToken) -> Option<OrderScope> {
    order_scope(
        shopper.caller.is_admin(),
        shopper.account.as_ref().map(|a| a.scope),
        customer.0.as_ref().map(|c| c.sub),
    )
}

/// The order if the caller may see it; anything else (no such order, malformed id, another
/// account's or customer's order, no shopper token) is the same 404, so nothing leaks.
async fn visible_order(
    state: &AppState,
    shopper: &Shopper,
    customer: &CustomerToken,
    id: &str,
) -> ApiResult<(PlacedOrder, Vec<OrderItem>)> {
    let scope = scope(shopper, customer).ok_or_else(order_not_found)?;
    let id = Uuid::parse_str(id).map_err(|_| order_not_found())?;
    match state.store.order(id).await? {
        Some((order, items)) if scope.may_see(&order) => Ok((order, items)),
        _ => Err(order_not_found()),
    }
}

async fn read(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    origin: Origin,
    query: ListQuery,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let (order, items) = visible_order(&state, &shopper, &customer, &id).await?;
    let (formats, _) = money_formats(&state).await?;
    order_response(&order, &items, &formats, &origin, Includes::of(&query))
}

/// `GET /v2/orders/{id}/items`: `{data: [OrderItemResponse]}` (EP has no pagination here: an
/// order holds at most a cart's 100 lines).
async fn items(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let (order, items) = visible_order(&state, &shopper, &customer, &id).await?;
    let (formats, _) = money_formats(&state).await?;
    let data = order_items(&order, &items, &formats, &origin)?;
    Ok(Json(DataView { data }).into_response())
}

/// `GET /v2/orders`: the caller's orders (see [`order_scope`]), filtered, sorted (newest first
/// unless asked otherwise) and paged; `include=items` adds every listed order's items (read in
/// one query for the page).
async fn list(
    State(state): State<AppState>,
    shopper: Shopper,
    customer: CustomerToken,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Response> {
    let scope = scope(&shopper, &customer).ok_or_else(|| {
        ApiError::forbidden(
            "Listing orders needs a client_credentials token, or an implicit token with an EP-Account-Management-Authentication-Token or an X-Moltin-Customer-Token",
        )
    })?;
    let conditions = order_conditions(&query.filters)?;
    let sort = OrderSort::from_sort(query.sort(ORDER_SORTS)?.as_ref());
    let includes = Includes::of(&query);
    let page = state
        .store
        .orders(OrderQuery {
            scope,
            conditions,
            sort,
            page: query.page,
            // Always: every order's `relationships.items` names its items, as a single read's
            // does; it is one indexed query for the whole page.
            with_items: true,
            count_cap: ORDER_COUNT_CAP,
        })
        .await?;
    let (formats, _) = money_formats(&state).await?;
    let data = page
        .items
        .iter()
        .map(|(o, items)| render_order(o, items, &formats))
        .collect();
    let listed: Vec<(&PlacedOrder, &[OrderItem])> =
        page.items.iter().map(|(o, i)| (o, i.as_slice())).collect();
    let included = Some(included(&listed, &formats, &origin, includes)?).filter(|i| !i.is_empty());
    let document = CollectionDocument::new(data, included, page.total, &query, &origin, &uri);
    Ok(Json(document).into_response())
}
