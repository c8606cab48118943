//! `POST /v2/carts/{id}/checkout` (a cart becomes an order), and reading orders: `GET /v2/orders`,
//! `GET /v2/orders/{id}` and `GET /v2/orders/{id}/items`.
//!
//! Checkout reads the cart, prices it (product lines again from the shopper's current release;
//! custom items keep their price), checks stock, and stores the order with its items in one
//! transaction (`OrderStore::place_order`), together with the `Idempotency-Key` response when the
//! request has one. The cart is left as it was and can be checked out again.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kassa_core::account::is_valid_email;
use kassa_core::carts::{CartContents, CartItem, ItemKind, StockOf, is_valid_cart_id};
use kassa_core::integrations::{Event, EventKind};
use kassa_core::orders::{
    MAX_EXTERNAL_REF, ORDER_COUNT_CAP, ORDER_SORTS, OrderItem, OrderQuery, OrderSort, PlacedOrder,
    order_conditions,
};
use kassa_core::time::now_millis;
use kassa_core::{Error, Validator};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use kassa_core::cart_change::{self, RepriceRefusal};
use kassa_core::checkout::{self, OrderDetails, OrderParty, StockRefusal};
use kassa_core::promotion_checkout;
use kassa_core::requester::Requester;

use crate::auth::ShopperRequest;
use crate::envelope::{CollectionDocument, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, address, object, text};
use crate::idempotency::{self, Begin, Claim};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::cart::{bad_cart_id, cart_not_found};
use crate::views::document::DataView;
use crate::views::money::money_formats;
use crate::views::order::{
    Includes, included, order_document, order_items, order_not_found, order_response, render_order,
};

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
    party: OrderParty,
    /// The customer id to look up (customer-id mode) and whether it came from the body.
    customer_lookup: Option<Uuid>,
    billing: Value,
    shipping: Value,
    order_number: Option<String>,
    external_ref: Option<String>,
}

/// Parses and checks the body in the mode the caller's tokens choose, reporting every problem
/// at once.
fn parse_checkout(body: &Value, who: &Requester) -> ApiResult<Checkout> {
    let Some(data) = body.get("data").and_then(Value::as_object) else {
        return Err(ApiError::bad_request("data is required and must be an object").with_source("data"));
    };
    let mut v = Validator::new();
    let contact = object(&mut v, data, "contact");
    let body_customer = object(&mut v, data, "customer");
    let body_account = object(&mut v, data, "account");
    let mut party = OrderParty::default();
    let mut customer_lookup = None;
    let contact_fields = |v: &mut Validator, party: &mut OrderParty, required: bool| match contact {
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
    if let Some(member) = who.account {
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
            let body_member = uuid_field(&mut v, a, "member_id", "data.account", false);
            if id.is_some_and(|id| id != member.account_id)
                || body_member.is_some_and(|m| m != member.member_id)
            {
                return Err(ApiError::forbidden(
                    "The account in the body is not the account of the EP-Account-Management-Authentication-Token",
                ));
            }
        }
        party.account_id = Some(member.account_id);
        party.account_member_id = Some(member.member_id);
        contact_fields(&mut v, &mut party, true);
    } else if let Some(a) = body_account {
        // Admin account checkout.
        if !who.admin {
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
        let token = who.customer;
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

/// Product lines priced again from the shopper's current release by
/// [`cart_change::reprice`] (read only if the cart has product lines).
async fn reprice(
    state: &AppState,
    headers: &HeaderMap,
    who: &Requester,
    currency: &str,
    lines: &mut [CartItem],
) -> ApiResult<()> {
    if !lines.iter().any(|l| l.kind == ItemKind::Product) {
        return Ok(());
    }
    let ctx = ShopperRequest::context_of(who, headers);
    let release = state.catalog_view.shopper_release(&*state.store, &ctx).await?;
    cart_change::reprice(release.as_deref(), currency, lines, ctx.now).map_err(reprice_refused)
}

/// Checkout's re-pricing refusals as Elastic Path words them.
fn reprice_refused(refusal: RepriceRefusal) -> ApiError {
    let (title, detail, meta) = match refusal {
        RepriceRefusal::Unavailable { product_id, sku } => (
            "Product not found",
            format!(
                "The product {} is no longer available in the catalog",
                sku.as_deref().unwrap_or_default()
            ),
            json!({ "id": product_id, "sku": sku }),
        ),
        RepriceRefusal::NoPrice {
            product_id,
            sku,
            currency,
        } => (
            "Price not found",
            format!("The product {sku} has no price in {currency}"),
            json!({ "id": product_id, "sku": sku }),
        ),
    };
    let mut e = ApiError::bad_request(detail);
    e.errors[0].title = title.into();
    e.errors[0].meta = Some(meta);
    e
}

/// Checkout's stock refusals as Elastic Path words them, with what is short in `meta`.
fn stock_refused(refusal: StockRefusal) -> ApiError {
    let (title, detail, meta) = match refusal {
        StockRefusal::LocationGone {
            product_id,
            sku,
            location,
        } => (
            "Location not found",
            format!(
                "The stock location '{location}' of {sku} no longer exists; add the item again with another location"
            ),
            json!({ "id": product_id, "sku": sku, "location": location }),
        ),
        StockRefusal::Insufficient {
            product_id,
            sku,
            location,
        } => {
            let detail = format!("There is not enough stock to add {sku} to your cart");
            let mut meta = json!({ "id": product_id, "sku": sku });
            if let Some(location) = location {
                meta["location"] = json!(location);
            }
            ("Insufficient stock", detail, meta)
        }
    };
    let mut e = ApiError::bad_request(detail);
    e.errors[0].title = title.into();
    e.errors[0].meta = Some(meta);
    e
}

async fn checkout(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let scope = who.idempotency_scope();
    let path = format!("/v2/carts/{id}/checkout");
    let claim = match idempotency::begin(&state, &headers, scope, "POST", &path, &body).await? {
        Begin::Replay(response) => return Ok(response),
        Begin::Run(claim) => claim,
    };
    let result = place(&state, &who, &origin, &headers, &id, &body, claim.as_ref()).await;
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
    who: &Requester,
    origin: &Origin,
    headers: &HeaderMap,
    id: &str,
    body: &Value,
    claim: Option<&Claim>,
) -> ApiResult<String> {
    let mut checkout = parse_checkout(body, who)?;
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
        codes,
        custom_discounts,
        promotions_version,
    } = contents.ok_or_else(cart_not_found)?;
    who.may_use_cart(&cart)?;
    party?;
    checkout::party_owns_cart(&checkout.party, &cart)?;
    let settings = state.catalog_view.store_settings(&*state.store).await?;
    checkout::may_check_out(&cart, &lines)?;
    let (formats, default) = money_formats(state).await?;
    let currency = cart.currency.clone().unwrap_or(default);
    let locations = checkout::check_stock(&lines, stock).map_err(stock_refused)?;
    reprice(state, headers, who, &currency, &mut lines).await?;
    let details = OrderDetails {
        party: checkout.party,
        billing: checkout.billing,
        shipping: checkout.shipping,
        order_number: checkout.order_number,
        external_ref: checkout.external_ref,
    };
    // The promotions, evaluated once on the lines as re-priced.
    let promoted = CartContents {
        cart,
        lines,
        taxes,
        codes,
        custom_discounts,
        promotions_version,
    };
    let outcome = if promoted.cart.custom_discounts_enabled {
        // A cart with custom discounts has no promotions: its custom discounts, on the lines as
        // re-priced, are what the order keeps.
        kassa_core::cart_pricing::custom_outcome(&promoted.lines, &promoted.custom_discounts)
    } else {
        checkout_promotions(state, &promoted, &details.party, &currency, now).await?
    };
    let CartContents {
        cart,
        lines,
        taxes,
        codes,
        ..
    } = promoted;
    let (order, items) = checkout::place(
        &cart, &lines, &taxes, &outcome, &locations, details, currency, &settings, now,
    )?;
    let redemptions = promotion_checkout::redemptions(&order, &codes, &outcome, now);
    let includes = Includes {
        items: true,
        tax_items: false,
        custom_discounts: false,
    };
    // Serialized once: an Idempotency-Key's replay stores exactly the bytes sent now.
    let response = serde_json::to_string(&order_document(&order, &items, &formats, origin, includes)?)
        .expect("an order document serializes");
    let remembered = claim.map(|c| c.response(StatusCode::CREATED, response.clone()));
    // order.created carries the order as this answer does, items included.
    let events: Vec<Event> = state
        .integrations
        .event(EventKind::OrderCreated, || response.clone())
        .into_iter()
        .collect();
    let emitted = !events.is_empty();
    state
        .store
        .place_order(order, items, redemptions, remembered, events)
        .await?;
    if emitted {
        state.integrations.committed();
    }
    Ok(response)
}

/// The cart's promotions at checkout: evaluated on the current promotions, and every code the
/// shopper added must still apply and be theirs to use ([`promotion_checkout::check_codes`]).
async fn checkout_promotions(
    state: &AppState,
    contents: &CartContents,
    party: &OrderParty,
    currency: &str,
    now: kassa_core::time::Millis,
) -> ApiResult<kassa_core::promotion_rules::Outcome> {
    let promotions = kassa_api_promotions(state, contents, currency, now).await?;
    let outcome = match promotions {
        Some(p) => {
            let cart = p.cart.clone();
            let lines = &p.lines;
            let list = std::sync::Arc::clone(&p.list);
            let outcome = kassa_core::promotion_rules::evaluate(&list, &cart, lines);
            promotion_checkout::check_codes(&cart, &outcome, &contents.codes, party)?;
            if contents.codes.iter().any(|c| c.is_for_new_shopper) {
                let mut paid = false;
                for query in promotion_checkout::paid_order_queries(party) {
                    if state.store.orders(query).await?.total > 0 {
                        paid = true;
                        break;
                    }
                }
                promotion_checkout::check_new_shopper(&contents.codes, paid)?;
            }
            outcome
        }
        None => {
            promotion_checkout::check_no_codes(&contents.codes)?;
            Default::default()
        }
    };
    Ok(outcome)
}

use crate::promotion_cache::Freshness;

async fn kassa_api_promotions(
    state: &AppState,
    contents: &CartContents,
    currency: &str,
    now: kassa_core::time::Millis,
) -> ApiResult<Option<kassa_core::cart_pricing::Promotions>> {
    // A cart with codes is checked against the promotions as they are now (the version stamp is
    // read whatever the cache's age): a code of a promotion disabled a moment ago on another node
    // is refused. Without codes the node's cache (at most a second old) decides.
    // The stamp read with the cart (PostgreSQL) is as fresh as reading it now.
    let fresh = match (contents.codes.is_empty(), contents.promotions_version) {
        (true, _) => Freshness::Cached,
        (false, Some(version)) => Freshness::AtVersion(version),
        (false, None) => Freshness::Now,
    };
    Ok(crate::promotion_cache::cart_promotions(
        &state.promotions,
        &state.catalog_view,
        &*state.store,
        contents,
        currency,
        now,
        fresh,
    )
    .await?)
}

/// The order if the caller may see it; anything else (no such order, malformed id, another
/// account's or customer's order, no shopper token) is the same 404, so nothing leaks.
async fn visible_order(
    state: &AppState,
    who: &Requester,
    id: &str,
) -> ApiResult<(PlacedOrder, Vec<OrderItem>)> {
    let scope = who.order_scope().ok_or_else(order_not_found)?;
    let id = Uuid::parse_str(id).map_err(|_| order_not_found())?;
    match state.store.order(id).await? {
        Some((order, items)) if scope.may_see(&order) => Ok((order, items)),
        _ => Err(order_not_found()),
    }
}

async fn read(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    query: ListQuery,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let (order, items) = visible_order(&state, &who, &id).await?;
    let (formats, _) = money_formats(&state).await?;
    order_response(&order, &items, &formats, &origin, Includes::of(&query))
}

/// `GET /v2/orders/{id}/items`: `{data: [OrderItemResponse]}` (EP has no pagination here: an
/// order holds at most a cart's 100 lines).
async fn items(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let (order, items) = visible_order(&state, &who, &id).await?;
    let (formats, _) = money_formats(&state).await?;
    let data = order_items(&order, &items, &formats, &origin)?;
    Ok(Json(DataView { data }).into_response())
}

/// `GET /v2/orders`: the caller's orders (see [`order_scope`]), filtered, sorted (newest first
/// unless asked otherwise) and paged; `include=items` adds every listed order's items (read in
/// one query for the page).
async fn list(
    State(state): State<AppState>,
    who: Requester,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Response> {
    let scope = who.order_scope().ok_or_else(|| {
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
