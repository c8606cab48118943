//! `/v2/carts`: carts, their items and their account/customer associations.
//!
//! A cart associated with an account (or customer) is readable and writable only by an admin or
//! by a shopper holding that account's (customer's) token; an unassociated cart is reachable by
//! anyone holding its id, as in Elastic Path. Totals are computed on every read from the lines by
//! `kassa_core::cart_totals::cart_totals`; nothing derived is stored. What an add or a quantity
//! change may do (the products' prices and tiers, stock, the cart's size) is decided by
//! `kassa_core::cart_change`; this module parses the items, reads what the plan needs and renders
//! its refusals.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::{delete, get, put};
use kassa_core::bundles::LineBundle;
use kassa_core::cart_totals::{MAX_AMOUNT, MAX_QUANTITY};
use kassa_core::carts::{
    Cart, CartContents, CartItem, CartScope, CartSize, CartTaxItem, ItemKind, QuantityChange, StockOf,
    custom_line_key, is_valid_cart_id,
};
use kassa_core::integrations::{Event, EventKind, deleted_payload};
use kassa_core::query::PageRequest;
use kassa_core::settings::StoreSettings;
use kassa_core::time::{Millis, now_millis};
use kassa_core::{Error, FieldError};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use kassa_core::cart_change::{self, ItemRefusal, KnownStock, NewLine, ProductRequest, Refusal, Via};
use kassa_core::promotion_checkout;
use kassa_core::promotions::{MAX_CODE_LENGTH, code_key};
use kassa_core::requester::Requester;

use crate::auth::ShopperRequest;
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult, ErrorObject};
use crate::extract::{ApiJson, ApiPath, ListQuery, OptionalJson, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::cart::{
    ComponentProducts, bad_cart_id, cart_emit, cart_lines_emit, cart_not_found, cart_response,
    cart_updated_events, items_document, items_response, price_with_promotions, render_cart,
};
use crate::views::catalog_product;
use crate::views::money::money_formats;

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
        .route("/v2/carts/{id}/discounts/{code}", delete(remove_code))
        .route(
            "/v2/carts/{id}/relationships/accounts",
            axum::routing::post(associate::<Accounts>).delete(dissociate::<Accounts>),
        )
        .route(
            "/v2/carts/{id}/relationships/customers",
            axum::routing::post(associate::<Customers>).delete(dissociate::<Customers>),
        )
}

const MAX_NAME: usize = 255;

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
            who.may_use_cart(&cart)?;
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
        who.may_use_cart(&contents.cart)?;
    }
    Ok((contents, settings))
}

async fn read(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    request: ShopperRequest,
    query: ListQuery,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let (contents, settings) = open_contents(&state, &id, &who).await?;
    let products = component_products(&state, &request, &contents, &query.include, &origin).await?;
    cart_response(
        &state,
        &contents,
        &settings,
        &query.include,
        &origin,
        products.as_ref(),
    )
    .await
}

/// With `include=component_products`, the products the cart's bundle lines select, as the
/// shopper's catalog renders them (published, priced in the cart's currency), by id; read only
/// when asked and the cart has a bundle line. A product no longer published is left out.
async fn component_products(
    state: &AppState,
    request: &ShopperRequest,
    contents: &CartContents,
    include: &[String],
    origin: &Origin,
) -> ApiResult<Option<ComponentProducts>> {
    let bundles: Vec<&LineBundle> = contents.lines.iter().filter_map(|l| l.bundle.as_ref()).collect();
    if bundles.is_empty() || !include.iter().any(|i| i == "component_products") {
        return Ok(None);
    }
    let mut products = ComponentProducts::new();
    let Some(release) = state
        .catalog_view
        .shopper_release(&*state.store, &request.context)
        .await?
    else {
        return Ok(Some(products));
    };
    let code = contents.cart.currency.as_deref().or(request.currency.as_deref());
    let currency = state.catalog_view.currency(&*state.store, code).await?;
    for id in bundles.iter().flat_map(|b| b.products(1)).map(|(id, _)| id) {
        if let Some(p) = release.product(id) {
            let rendered = catalog_product::render(&release, p, &currency, request.context.now, origin);
            products.insert(id, serde_json::to_value(rendered).unwrap_or_default());
        }
    }
    Ok(Some(products))
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
    who: Requester,
    origin: Origin,
    OptionalJson(body): OptionalJson<CartBody>,
) -> ApiResult<(StatusCode, Response)> {
    let now = now_millis();
    let settings = state.catalog_view.store_settings(&*state.store).await?;
    let mut cart = settings.new_cart(kassa_core::ids::new_id().to_string(), now);
    // A shopper's token associates the new cart with their account or customer.
    cart.account_id = who.account_id();
    cart.customer_id = who.customer;
    apply_cart_body(&mut cart, body.map(|b| b.data).unwrap_or_default())?;
    state.store.create_cart(cart.clone()).await?;
    let contents = CartContents::empty(cart);
    Ok((
        StatusCode::CREATED,
        cart_response(&state, &contents, &settings, &[], &origin, None).await?,
    ))
}

async fn update(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CartBody>,
) -> ApiResult<Response> {
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
    let events = cart_updated_events(&state, &contents, &settings, &origin).await?;
    let emitted = !events.is_empty();
    state.store.update_cart(contents.cart.clone(), events).await?;
    if emitted {
        state.integrations.committed();
    }
    cart_response(&state, &contents, &settings, &[], &origin, None).await
}

async fn remove(
    State(state): State<AppState>,
    who: Requester,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if !is_valid_cart_id(&id) {
        return Err(bad_cart_id());
    }
    let Some(cart) = state.store.cart(&id, now_millis()).await? else {
        return Err(ApiError::not_found("Not Found", "Cart not found"));
    };
    who.may_use_cart(&cart)?;
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
    let events: Vec<Event> = state
        .integrations
        .event(EventKind::CartDeleted, || deleted_payload("cart", &id))
        .into_iter()
        .collect();
    let emitted = !events.is_empty();
    if state.store.delete_cart(&id, events).await? && emitted {
        state.integrations.committed();
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn list(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let scope = who.cart_listing().ok_or_else(|| {
        ApiError::forbidden(
            "Listing carts needs an EP-Account-Management-Authentication-Token or an X-Moltin-Customer-Token",
        )
    })?;
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
    // Custom discounts count only on carts that use them: read only when one of those is listed.
    let using: Vec<String> = page
        .items
        .iter()
        .filter(|c| c.custom_discounts_enabled)
        .map(|c| c.id.clone())
        .collect();
    let mut custom_by_cart: HashMap<String, Vec<kassa_core::custom_discounts::CustomDiscount>> =
        HashMap::new();
    if !using.is_empty() {
        for d in state.store.carts_custom_discounts(&using).await? {
            custom_by_cart.entry(d.cart_id.clone()).or_default().push(d);
        }
    }
    let mut carts = Vec::with_capacity(page.items.len());
    for cart in &page.items {
        let contents = CartContents {
            cart: cart.clone(),
            lines: lines_by_cart.remove(&cart.id).unwrap_or_default(),
            taxes: taxes_by_cart.remove(&cart.id).unwrap_or_default(),
            // A listing shows the automatic promotions (a cart's own read also its codes) or
            // the custom discounts of a cart that uses them.
            codes: Vec::new(),
            custom_discounts: custom_by_cart.remove(&cart.id).unwrap_or_default(),
            promotions_version: None,
        };
        let (totals, outcome) = price_with_promotions(&state, &contents, &settings, &default).await?;
        carts.push(render_cart(
            cart,
            &contents.lines,
            &contents.custom_discounts,
            &totals,
            &outcome,
            &formats,
            &default,
            &origin,
        ));
    }
    Ok(Json(envelope::collection(
        carts, page.total, &query, &origin, &uri,
    )))
}

async fn items(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    request: ShopperRequest,
    query: ListQuery,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let (contents, settings) = open_contents(&state, &id, &who).await?;
    let products = component_products(&state, &request, &contents, &query.include, &origin).await?;
    items_response(
        &state,
        &contents,
        &settings,
        &query.include,
        &origin,
        &[],
        products.as_ref(),
    )
    .await
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
    /// `{"type": "promotion_item", "code"}` among a bulk add's items.
    Code {
        base: String,
        code: String,
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
    bundle_configuration: Option<BundleConfiguration>,
}

/// A bundle item's `bundle_configuration`: its `selected_options` are checked against the
/// bundle's components when the product is known.
#[derive(Deserialize)]
struct BundleConfiguration {
    selected_options: Value,
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
        selected_options: data.bundle_configuration.map(|b| b.selected_options),
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
            return match raw.get("code").and_then(Value::as_str).map(str::trim) {
                Some(code) if !code.is_empty() && code.chars().count() <= MAX_CODE_LENGTH => {
                    Ok(Requested::Code {
                        base: base.to_owned(),
                        code: code.to_owned(),
                    })
                }
                _ => Err(bad(
                    "code",
                    "required",
                    format!("code must be 1 to {MAX_CODE_LENGTH} characters"),
                )),
            };
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
    let id = kassa_core::ids::new_id();
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
            bundle: None,
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
) -> ApiResult<(Vec<NewLine>, Vec<ProductRequest>)> {
    let not_found = || ApiError::not_found("Not Found", "Cart not found");
    let source = state.store.cart(source, now).await?.ok_or_else(not_found)?;
    who.may_use_cart(&source)?;
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
        .map(|l| NewLine {
            base: base.to_owned(),
            via: Via::Merge,
            item: CartItem {
                id: kassa_core::ids::new_id(),
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
            selected_options: l.bundle.map(|b| selection_json(&b)),
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
    if !who.may_see_order(&order) {
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
                selected_options: item.bundle.map(|b| selection_json(&b)),
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

/// A bundle line's selection as a request's `selected_options`, to add it again elsewhere.
fn selection_json(bundle: &LineBundle) -> Value {
    serde_json::to_value(bundle.selection()).unwrap_or_default()
}

/// An item refused by the cart-change plan, as Elastic Path words it.
fn refusal_problem(refused: ItemRefusal) -> ErrorObject {
    let ItemRefusal { source, refusal } = refused;
    match refusal {
        Refusal::ProductNotFound { id, sku } => item_problem(
            404,
            "Product not found",
            "The requested product could not be found".into(),
            source,
            Some(id.map_or_else(|| json!({ "sku": sku }), |id| json!({ "id": id }))),
        ),
        Refusal::ParentProduct { product_id } => item_problem(
            400,
            "Cannot add a parent product",
            format!(
                "The product {product_id} is a parent product, which cannot be added to a cart: add one of its child products"
            ),
            source,
            Some(json!({ "id": product_id })),
        ),
        Refusal::LocationNotFound { slug } => item_problem(
            400,
            "Location not found",
            format!("There is no stock location with the slug '{slug}'"),
            source,
            Some(json!({ "location": slug })),
        ),
        Refusal::NotABundle { product_id } => item_problem(
            400,
            "Not a bundle",
            format!(
                "The product {product_id} is not a bundle: only a bundle (a product with components) takes a bundle_configuration"
            ),
            source,
            Some(json!({ "id": product_id })),
        ),
        Refusal::Configuration { detail } => {
            item_problem(400, "Invalid bundle configuration", detail, source, None)
        }
        Refusal::NoSku { product_id } => item_problem(
            400,
            "Product has no price",
            format!("The product {product_id} has no sku, so no price"),
            source,
            Some(json!({ "id": product_id })),
        ),
        Refusal::NoPrice {
            product_id,
            sku,
            currency,
        } => item_problem(
            400,
            "Product has no price",
            format!("The product {sku} has no price in the cart's currency {currency}"),
            source,
            Some(json!({ "id": product_id, "sku": sku })),
        ),
        Refusal::InsufficientStock { product_id, name } => item_problem(
            400,
            "Insufficient stock",
            format!("There is not enough stock to add {name} to your cart"),
            source,
            Some(json!({ "id": product_id })),
        ),
        Refusal::Limit(limit) => {
            let mut errors = ApiError::from(limit.error(&source)).errors;
            errors.remove(0)
        }
    }
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

/// `POST /v2/carts/{id}/items` `{type: "promotion_item", code}`: the code (matched ignoring
/// case) must name an enabled promotion that applies to the cart as it is now; then it is kept on
/// the cart and the items answer shows its discounts. A code the cart holds already changes
/// nothing. Every refusal says why ([`promotion_checkout::refusal_for_code`]) and adds nothing.
async fn add_code(
    state: &AppState,
    who: &Requester,
    origin: &Origin,
    id: &str,
    raw: &Value,
    settings: &StoreSettings,
) -> ApiResult<Response> {
    let code = match raw.get("code") {
        Some(Value::String(c)) if !c.trim().is_empty() && c.chars().count() <= MAX_CODE_LENGTH => c.trim(),
        Some(Value::String(_)) => {
            return Err(
                ApiError::bad_request(format!("code must be 1 to {MAX_CODE_LENGTH} characters"))
                    .with_source("data.code"),
            );
        }
        _ => return Err(ApiError::bad_request("code is required").with_source("data.code")),
    };
    let key = code_key(code);
    let not_found = || {
        let mut e = ApiError::not_found("Not Found", "No promotion could be found with the given code.");
        e.errors[0].meta = Some(json!({ "code": code }));
        e
    };
    let (found, existing) = tokio::join!(
        state.store.promotion_codes_by_key(&key),
        existing_contents(state, id, who)
    );
    let (contents, _) = existing?;
    // A cart uses custom discounts or promotions, never both (a new cart as the store's default).
    let uses_custom = contents.as_ref().map_or(settings.custom_discounts_enabled, |c| {
        c.cart.custom_discounts_enabled
    });
    if uses_custom {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Could not apply EP promotion with the given code",
            "The cart is configured to use custom discounts",
        );
        e.errors[0].meta = Some(json!({ "code": code }));
        e.errors[0].source = Some("data.code".into());
        return Err(e);
    }
    let found = found?;
    if found.is_empty() {
        return Err(not_found());
    }
    let now = now_millis();
    // A code on an unknown cart is judged against an empty cart (and refused), creating nothing.
    let mut contents = contents.unwrap_or_else(|| CartContents::empty(settings.new_cart(id.to_owned(), now)));
    if contents.codes.iter().any(|c| code_key(&c.code) == key) {
        return items_response(state, &contents, settings, &[], origin, &[], None).await;
    }
    contents.codes.extend(found.iter().cloned());
    // One evaluation: the cart priced with the code decides whether it applies, and is the answer.
    let (formats, default) = money_formats(state).await?;
    let currency = contents.cart.currency.clone().unwrap_or_else(|| default.clone());
    let (totals, outcome) = price_with_promotions(state, &contents, settings, &default).await?;
    let applied = outcome
        .applied
        .iter()
        .any(|a| found.iter().any(|c| c.promotion_id == a.promotion.id));
    if !applied {
        let list = state.promotions.enabled(&*state.store, false).await?;
        let mut e: ApiError = promotion_checkout::refusal_for_code(&found, &list, &currency, now).into();
        e.errors[0].source = Some("data.code".into());
        return Err(e);
    }
    let emit = cart_emit(state, settings, origin, &contents).await?;
    let emitted = emit.is_some();
    state
        .store
        .add_cart_code(&contents.cart.id, &key, now, settings.cart_expiry(now), emit)
        .await?;
    if emitted {
        state.integrations.committed();
    }
    contents.cart.updated_at = now;
    contents.cart.expires_at = settings.cart_expiry(now);
    let document = items_document(
        &contents,
        &totals,
        &outcome,
        &formats,
        &default,
        &[],
        origin,
        &[],
        None,
    );
    Ok(axum::response::IntoResponse::into_response(Json(document)))
}

/// `DELETE /v2/carts/{id}/discounts/{code}`: the shopper's code leaves the cart (matched ignoring
/// case); 404 when the cart does not hold it.
async fn remove_code(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    ApiPath((id, code)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let not_found = || ApiError::not_found("Not Found", "The cart has no such promotion code");
    let (contents, settings) = existing_contents(&state, &id, &who).await?;
    let contents = contents.ok_or_else(cart_not_found)?;
    let emit = cart_emit(&state, &settings, &origin, &contents).await?;
    let emitted = emit.is_some();
    if !state
        .store
        .remove_cart_code(&contents.cart.id, &code_key(&code), now_millis(), emit)
        .await?
    {
        return Err(not_found());
    }
    if emitted {
        state.integrations.committed();
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn add_items(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    request: ShopperRequest,
    query: ListQuery,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AddBody>,
) -> ApiResult<(StatusCode, Response)> {
    if !is_valid_cart_id(&id) {
        return Err(bad_cart_id());
    }
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
            let response = add_code(&state, &who, &origin, &id, raw, &settings).await?;
            return Ok((StatusCode::CREATED, response));
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
    let (stock_of, slugs) = cart_change::requested_products(release.as_deref(), named);
    let wanted = StockOf::Products {
        ids: stock_of.clone(),
        locations: slugs.clone(),
    };
    // The codes named among the items are looked up in the same read.
    let code_keys: Vec<String> = parsed
        .iter()
        .filter_map(|r| match r {
            Ok(Requested::Code { code, .. }) => Some(code_key(code)),
            _ => None,
        })
        .collect();
    let (contents, levels, mut codes_found) = if code_keys.is_empty() {
        let (contents, levels) = state.store.cart_contents(&id, now, wanted).await?;
        (contents, levels, Vec::new())
    } else {
        state
            .store
            .cart_contents_and_codes(&id, now, wanted, code_keys)
            .await?
    };
    // An unknown cart is created by the add itself (one write), as Elastic Path creates it.
    let contents = contents.unwrap_or_else(|| CartContents::empty(settings.new_cart(id.clone(), now)));
    who.may_use_cart(&contents.cart)?;
    let cart = &contents.cart;
    let mut stock = KnownStock::new(&stock_of, &slugs, levels);
    let mut custom = Vec::new();
    let mut products = Vec::new();
    let mut codes_asked: Vec<AskedCode> = Vec::new();
    let mut problems: Vec<ErrorObject> = Vec::new();
    for result in parsed {
        match result {
            Ok(Requested::Code { base, code }) => {
                // In the order of `code_keys`, so each code takes the list its key found.
                let found = std::mem::take(&mut codes_found[codes_asked.len()]);
                codes_asked.push(AskedCode { base, code, found });
            }
            Ok(Requested::Custom { base, item }) => custom.push(NewLine {
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
    let priced = cart_change::price_products(
        release.as_deref(),
        cart,
        &contents.lines,
        &currency,
        products,
        &stock,
        now,
    );
    // Products a re-order brought in, and lines this add merges into that draw from a location
    // not named, have their stock read now.
    let positions = priced.stock_positions(cart);
    let unread = stock.unread(&positions);
    if !unread.is_empty() {
        let found = state.store.stock_levels(&unread).await?;
        stock.learn(&unread, found, &positions);
    }
    let decision = priced.decide(custom, cart, &contents.lines, &contents.taxes, &stock);
    problems.extend(decision.refusals.into_iter().map(refusal_problem));
    let good = decision.lines;
    // The codes among the items, each judged on the cart as this add leaves it.
    let (codes, priced) = if codes_asked.is_empty() {
        (Vec::new(), None)
    } else {
        let judged = bulk_codes(&state, &contents, &good, &currency, &settings, codes_asked, now).await?;
        problems.extend(judged.refused);
        (judged.accepted, judged.priced)
    };
    if cart_change::add_refused_whole(
        !problems.is_empty(),
        bulk,
        body.options.add_all_or_nothing,
        good.len() + codes.len(),
    ) {
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
    let keys: Vec<String> = codes.iter().map(|c| code_key(&c.code)).collect();
    let mut contents = if good.is_empty() {
        // Only codes: kept one by one on the cart (made now if it is new); the last one's change
        // carries the cart's event.
        let (contents, _) = open_contents(&state, &id, &who).await?;
        for (n, key) in keys.iter().enumerate() {
            let emit = if n + 1 == keys.len() {
                cart_emit(&state, &settings, &origin, &contents).await?
            } else {
                None
            };
            let emitted = emit.is_some();
            state
                .store
                .add_cart_code(&contents.cart.id, key, now, settings.cart_expiry(now), emit)
                .await?;
            if emitted {
                state.integrations.committed();
            }
        }
        contents
    } else {
        let catalogs = contents.lines.iter().chain(&good).filter_map(|l| l.catalog_id);
        let emit = cart_lines_emit(&state, &settings, &origin, catalogs).await?;
        let emitted = emit.is_some();
        let contents = state
            .store
            .add_cart_items_and_codes(cart, &currency, good, keys, settings.cart_expiry(now), emit)
            .await?;
        if emitted {
            state.integrations.committed();
        }
        contents
    };
    for c in codes {
        if !contents.codes.iter().any(|k| k.id == c.id) {
            contents.codes.push(c);
        }
    }
    let products = component_products(&state, &request, &contents, &query.include, &origin).await?;
    // The codes were judged on the cart as this add was to leave it: when the written cart prices
    // the same, that pricing is the answer's (no second evaluation of the promotions).
    let response = match priced {
        Some((after, totals, outcome)) if after.prices_as(&contents) => {
            let (formats, default) = money_formats(&state).await?;
            let document = items_document(
                &contents,
                &totals,
                &outcome,
                &formats,
                &default,
                &[],
                &origin,
                &problems,
                products.as_ref(),
            );
            axum::response::IntoResponse::into_response(Json(document))
        }
        _ => {
            items_response(
                &state,
                &contents,
                &settings,
                &[],
                &origin,
                &problems,
                products.as_ref(),
            )
            .await?
        }
    };
    Ok((StatusCode::CREATED, response))
}

/// A `promotion_item` of a bulk add: where it is in the request, the code as sent, and the
/// codes its lower-cased name found (read with the cart).
struct AskedCode {
    base: String,
    code: String,
    found: Vec<kassa_core::promotions::PromotionCode>,
}

/// What [`bulk_codes`] decided.
struct JudgedCodes {
    accepted: Vec<kassa_core::promotions::PromotionCode>,
    /// A problem for each refused code.
    refused: Vec<ErrorObject>,
    /// The cart as the add leaves it with the accepted codes, and its pricing; `None` when no
    /// code was accepted (nothing was priced with them).
    priced: Option<(
        CartContents,
        kassa_core::cart_totals::CartTotals,
        kassa_core::promotion_rules::Outcome,
    )>,
}

/// The codes of a bulk add, each judged as a single `promotion_item` is ([`add_code`]) but on the
/// cart as the add leaves it (`contents` with the `added` lines merged in as the store merges
/// them, in the add's `currency`).
async fn bulk_codes(
    state: &AppState,
    contents: &CartContents,
    added: &[CartItem],
    currency: &str,
    settings: &StoreSettings,
    asked: Vec<AskedCode>,
    now: Millis,
) -> ApiResult<JudgedCodes> {
    let mut after = contents.clone();
    // The add fixes a new cart's currency: the codes are judged in it.
    after.cart.currency.get_or_insert_with(|| currency.to_owned());
    for item in added {
        match after.lines.iter_mut().find(|l| l.line_key == item.line_key) {
            Some(line) => {
                line.quantity += item.quantity;
                line.unit_amount = item.unit_amount;
                line.includes_tax = item.includes_tax;
            }
            None => after.lines.push(item.clone()),
        }
    }
    let mut accepted: Vec<kassa_core::promotions::PromotionCode> = Vec::new();
    let mut refused = Vec::new();
    let mut priced = None;
    for AskedCode { base, code, found } in asked {
        let key = code_key(&code);
        let source = format!("{base}.code");
        if after.cart.custom_discounts_enabled {
            refused.push(item_problem(
                422,
                "Could not apply EP promotion with the given code",
                "The cart is configured to use custom discounts".into(),
                source,
                Some(json!({ "code": code })),
            ));
            continue;
        }
        if after.codes.iter().any(|c| code_key(&c.code) == key) {
            continue;
        }
        if found.is_empty() {
            refused.push(item_problem(
                404,
                "Not Found",
                "No promotion could be found with the given code.".into(),
                source,
                Some(json!({ "code": code })),
            ));
            continue;
        }
        // Tried on the cart with the codes kept so far, then kept or taken off again.
        let kept = after.codes.len();
        after.codes.extend(found.iter().cloned());
        let (totals, outcome) = price_with_promotions(state, &after, settings, currency).await?;
        if outcome
            .applied
            .iter()
            .any(|a| found.iter().any(|c| c.promotion_id == a.promotion.id))
        {
            accepted.extend(found);
            priced = Some((totals, outcome));
        } else {
            after.codes.truncate(kept);
            let list = state.promotions.enabled(&*state.store, false).await?;
            let e: ApiError = promotion_checkout::refusal_for_code(&found, &list, currency, now).into();
            refused.extend(e.errors.into_iter().map(|mut p| {
                p.source = Some(source.clone());
                p
            }));
        }
    }
    Ok(JudgedCodes {
        accepted,
        refused,
        priced: priced.map(|(totals, outcome)| (after, totals, outcome)),
    })
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

/// The quantity changes, each product line priced again at its new quantity by
/// [`cart_change::quantity_changes`] (the shopper's release is read only if a line needs it).
async fn priced_changes(
    state: &AppState,
    request: &ShopperRequest,
    contents: &CartContents,
    quantities: Vec<(Uuid, i64)>,
) -> ApiResult<Vec<QuantityChange>> {
    let currency = contents.cart.currency.as_deref();
    let release = match currency {
        Some(_) if cart_change::changes_reprice(&contents.lines, &quantities) => {
            state
                .catalog_view
                .shopper_release(&*state.store, &request.context)
                .await?
        }
        _ => None,
    };
    Ok(cart_change::quantity_changes(
        release.as_deref(),
        currency,
        &contents.lines,
        quantities,
        now_millis(),
    ))
}

/// Sets quantities on the cart `contents` (as read), with its `cart.updated` event if observed
/// (an empty list changes no line and emits nothing).
async fn set_quantities(
    state: &AppState,
    contents: &CartContents,
    changes: Vec<QuantityChange>,
    settings: &StoreSettings,
    origin: &Origin,
    now: Millis,
) -> ApiResult<CartContents> {
    let emit = if changes.is_empty() {
        None
    } else {
        cart_emit(state, settings, origin, contents).await?
    };
    let emitted = emit.is_some();
    let contents = state
        .store
        .set_cart_item_quantities(&contents.cart.id, changes, now, settings.cart_expiry(now), emit)
        .await?;
    if emitted {
        state.integrations.committed();
    }
    Ok(contents)
}

async fn update_item(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    request: ShopperRequest,
    ApiPath((id, item_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<QuantityBody>,
) -> ApiResult<Response> {
    let not_found = || ApiError::not_found("Not Found", "Item was not found in the cart");
    let quantity = check_quantity(body.data.quantity, "data.quantity")?;
    let item_id = parse_uuid(&item_id, not_found)?;
    // An unknown cart has no such item: 404, and no cart is created.
    let (contents, settings) = existing_contents(&state, &id, &who).await?;
    let contents = contents.ok_or_else(not_found)?;
    let changes = priced_changes(&state, &request, &contents, vec![(item_id, quantity)]).await?;
    check_changes(&contents, &changes, |_| "data.quantity".into())?;
    let now = now_millis();
    let contents = set_quantities(&state, &contents, changes, &settings, &origin, now).await?;
    items_response(&state, &contents, &settings, &[], &origin, &[], None).await
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
    who: Requester,
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
    let (contents, settings) = existing_contents(&state, &id, &who).await?;
    let Some(contents) = contents else {
        // An unknown cart has none of the items: 404 (nothing to change for an empty list), and
        // no cart is created.
        if changes.is_empty() {
            return open_and_list(&state, &id, &who, &origin).await;
        }
        return Err(ApiError::not_found("Not Found", "Item was not found in the cart"));
    };
    let changes = priced_changes(&state, &request, &contents, changes).await?;
    check_changes(&contents, &changes, |i| format!("data[{i}].quantity"))?;
    let now = now_millis();
    let contents = set_quantities(&state, &contents, changes, &settings, &origin, now).await?;
    items_response(&state, &contents, &settings, &[], &origin, &[], None).await
}

/// An empty bulk update of an unknown cart: the cart is created (as reading it would) and its
/// items listed, as before.
async fn open_and_list(state: &AppState, id: &str, who: &Requester, origin: &Origin) -> ApiResult<Response> {
    let (contents, settings) = open_contents(state, id, who).await?;
    let now = now_millis();
    let contents = state
        .store
        .set_cart_item_quantities(
            &contents.cart.id,
            Vec::new(),
            now,
            settings.cart_expiry(now),
            None,
        )
        .await?;
    items_response(state, &contents, &settings, &[], origin, &[], None).await
}

async fn remove_item(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    ApiPath((id, item_id)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let not_found = || ApiError::not_found("Not Found", "Item was not found in the cart");
    let item_id = parse_uuid(&item_id, not_found)?;
    // An unknown cart has no such item: 404, and no cart is created.
    let (contents, settings) = existing_contents(&state, &id, &who).await?;
    let contents = contents.ok_or_else(not_found)?;
    let now = now_millis();
    let removal = vec![QuantityChange {
        item_id,
        quantity: 0,
        unit_price: None,
    }];
    let contents = set_quantities(&state, &contents, removal, &settings, &origin, now).await?;
    items_response(&state, &contents, &settings, &[], &origin, &[], None).await
}

async fn clear_items(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let (cart, settings) = open_cart(&state, &id, &who).await?;
    let now = now_millis();
    // The cart has no lines after the change: no catalog's categories to read for promotions.
    let emit = cart_lines_emit(&state, &settings, &origin, std::iter::empty()).await?;
    let emitted = emit.is_some();
    state
        .store
        .clear_cart_items(&cart.id, now, settings.cart_expiry(now), emit)
        .await?;
    if emitted {
        state.integrations.committed();
    }
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
            Party::Account => who.account_id(),
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

/// The party a relationship route is for, as a type: one handler serves both routes.
trait PartyRoute {
    const PARTY: Party;
}

/// `/v2/carts/{id}/relationships/accounts`.
struct Accounts;

impl PartyRoute for Accounts {
    const PARTY: Party = Party::Account;
}

/// `/v2/carts/{id}/relationships/customers`.
struct Customers;

impl PartyRoute for Customers {
    const PARTY: Party = Party::Customer;
}

async fn associate<P: PartyRoute>(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    ApiPath(cart_id): ApiPath<String>,
    ApiJson(body): ApiJson<RelationshipBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (state, who, cart_id, party) = (&state, &who, cart_id.as_str(), P::PARTY);
    let kind = party.kind();
    let id = relationship(&body, kind)?;
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
    let (mut contents, settings) = open_contents(state, cart_id, who).await?;
    let cart = &mut contents.cart;
    match *party.slot(cart) {
        Some(existing) if existing == id => return Ok((StatusCode::NO_CONTENT, Json(Value::Null))),
        Some(_) => {
            return Err(ApiError::forbidden(format!(
                "Cannot associate more than one {kind}"
            )));
        }
        None => {}
    }
    *party.slot(cart) = Some(id);
    cart.contact_email = None;
    cart.updated_at = now_millis();
    cart.expires_at = settings.cart_expiry(cart.updated_at);
    let events = cart_updated_events(state, &contents, &settings, &origin).await?;
    let emitted = !events.is_empty();
    state.store.update_cart(contents.cart, events).await?;
    if emitted {
        state.integrations.committed();
    }
    Ok((
        StatusCode::OK,
        Json(json!({ "data": [{ "type": kind, "id": id }] })),
    ))
}

async fn dissociate<P: PartyRoute>(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    ApiPath(cart_id): ApiPath<String>,
    ApiJson(body): ApiJson<RelationshipBody>,
) -> ApiResult<StatusCode> {
    let (state, who, cart_id, party) = (&state, &who, cart_id.as_str(), P::PARTY);
    let id = relationship(&body, party.kind())?;
    let (mut contents, settings) = open_contents(state, cart_id, who).await?;
    let cart = &mut contents.cart;
    if *party.slot(cart) == Some(id) {
        *party.slot(cart) = None;
        cart.updated_at = now_millis();
        cart.expires_at = settings.cart_expiry(cart.updated_at);
        let events = cart_updated_events(state, &contents, &settings, &origin).await?;
        let emitted = !events.is_empty();
        state.store.update_cart(contents.cart, events).await?;
        if emitted {
            state.integrations.committed();
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
