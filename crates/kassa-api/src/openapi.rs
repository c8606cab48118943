//! The OpenAPI 3.1 document served at `GET /openapi.json`, built from the table in
//! [`operations`].
//!
//! Registering a route and documenting it are kept in step by tests, not by convention:
//! `routes::Routes` records every path a router registers, and the tests below fail, naming
//! the path, when a registered path is missing here or a documented one is not served. The API
//! test `openapi_matches_the_router` then asks the running server every method on every path,
//! so a method that answers but is undocumented (or documented but answers 405) is named too.
//!
//! To document a new route: add one `Op::get/post/put/delete(path, summary)` line to the
//! resource's `tag(...)` group below, with its auth (`.admin()` / `.token()` and the headers it
//! reads), its success shape (`.list()`, `.created()`, `.no_content()`, `.returns(schema)`) and
//! its request body (`.body(schema)`). Error responses are added to every operation, with the
//! `status` type its router really sends.
//!
//! Schemas describe what kassa really sends (schemathesis checks every response against them
//! in CI, `.ci/fuzz`), so they name the main attributes and allow any others.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::body::Bytes;
use serde_json::{Map, Value, json};

use crate::error::StatusStyle;

/// The document of the routes a server registered (each path with its error style), serialized
/// at its first request. `crate::app` makes it from the route table and keeps it in the
/// application state, so this module needs nothing of the routes themselves.
#[derive(Debug, Default)]
pub struct ApiDocument {
    styles: BTreeMap<String, StatusStyle>,
    bytes: OnceLock<Bytes>,
}

impl ApiDocument {
    /// From every registered `(axum path, error style)`.
    pub fn new<'a>(paths: impl IntoIterator<Item = (&'a str, StatusStyle)>) -> Self {
        Self {
            styles: paths
                .into_iter()
                .map(|(path, style)| (openapi_path(path), style))
                .collect(),
            bytes: OnceLock::new(),
        }
    }

    pub fn bytes(&self) -> Bytes {
        self.bytes
            .get_or_init(|| {
                let json = serde_json::to_vec(&document(&self.styles));
                Bytes::from(json.expect("the OpenAPI document serializes"))
            })
            .clone()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// No token.
    Public,
    /// Any access token (client_credentials or implicit).
    Token,
    /// A client_credentials (admin) token.
    Admin,
}

/// What a success body looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"data": <schema>, "links"?, "meta"?, "included"?}`.
    One,
    /// `{"data": [<schema>], "links"?, "meta"?}`; a GET also takes the paging/filter parameters.
    Many,
    /// The schema is the whole body.
    Raw,
    /// Bytes of one of `Op::binary_types`, or 304 to a matching `If-None-Match`.
    Binary,
}

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Op {
    method: &'static str,
    path: String,
    summary: &'static str,
    description: Option<&'static str>,
    tag: &'static str,
    auth: Auth,
    account_header: bool,
    customer_header: bool,
    catalog_headers: bool,
    multi_location_header: bool,
    statuses: &'static [u16],
    shape: Shape,
    schema: &'static str,
    content_type: &'static str,
    body: Option<Value>,
    body_type: &'static str,
    body_required: bool,
    binary_types: &'static [&'static str],
    product_includes: bool,
}

impl Op {
    fn new(method: &'static str, path: impl Into<String>, summary: &'static str) -> Self {
        Self {
            method,
            path: path.into(),
            summary,
            description: None,
            tag: "",
            auth: Auth::Public,
            account_header: false,
            customer_header: false,
            catalog_headers: false,
            multi_location_header: false,
            statuses: &[200],
            shape: Shape::One,
            schema: "Resource",
            content_type: "application/json",
            body: None,
            body_type: "application/json",
            body_required: true,
            binary_types: &[],
            product_includes: false,
        }
    }
    fn get(path: impl Into<String>, summary: &'static str) -> Self {
        Self::new("get", path, summary)
    }
    fn post(path: impl Into<String>, summary: &'static str) -> Self {
        Self::new("post", path, summary)
    }
    fn put(path: impl Into<String>, summary: &'static str) -> Self {
        Self::new("put", path, summary)
    }
    fn delete(path: impl Into<String>, summary: &'static str) -> Self {
        Self::new("delete", path, summary)
    }
    /// Every method on a path that only refuses (see `routes::pcm::unsupported`).
    fn any(path: &'static str) -> Vec<Self> {
        ["get", "post", "put", "delete", "patch"]
            .into_iter()
            .map(|m| {
                let mut op = Self::new(m, path, "Not supported: answers 400 Not Supported");
                op.statuses = &[];
                op
            })
            .collect()
    }
    fn describe(mut self, text: &'static str) -> Self {
        self.description = Some(text);
        self
    }
    fn token(mut self) -> Self {
        self.auth = Auth::Token;
        self
    }
    fn admin(mut self) -> Self {
        self.auth = Auth::Admin;
        self
    }
    /// A shopper's route: any token, acting for the account or customer its headers name.
    fn shopper(self) -> Self {
        self.token().account_header().customer_header()
    }
    /// Reads `EP-Account-Management-Authentication-Token`.
    fn account_header(mut self) -> Self {
        self.account_header = true;
        self
    }
    /// Reads `X-Moltin-Customer-Token`.
    fn customer_header(mut self) -> Self {
        self.customer_header = true;
        self
    }
    /// Takes `include=main_image,files,component_products`.
    fn product_includes(mut self) -> Self {
        self.product_includes = true;
        self
    }
    /// Reads `EP-Channel`, `EP-Context-Tag` and `X-Moltin-Currency`.
    fn catalog_headers(mut self) -> Self {
        self.catalog_headers = true;
        self
    }
    /// Reads `EP-Inventories-Multi-Location`, which chooses the shape of the stock and its
    /// transactions (and of their request bodies where both APIs have one).
    fn multi_location(mut self) -> Self {
        self.multi_location_header = true;
        self
    }
    fn list(mut self) -> Self {
        self.shape = Shape::Many;
        self
    }
    fn created(mut self) -> Self {
        self.statuses = &[201];
        self
    }
    fn no_content(mut self) -> Self {
        self.statuses = &[204];
        self
    }
    /// Never succeeds: the operation only refuses (a feature not supported yet).
    fn refused(mut self) -> Self {
        self.statuses = &[];
        self
    }
    /// 200, or 204 when there was nothing to change.
    fn maybe_no_content(mut self) -> Self {
        self.statuses = &[200, 204];
        self
    }
    /// The resource schema (a name under `components.schemas`) in the success envelope.
    fn returns(mut self, schema: &'static str) -> Self {
        self.schema = schema;
        self
    }
    /// The success body is `schema` itself, of this content type.
    fn raw(mut self, schema: &'static str, content_type: &'static str) -> Self {
        self.shape = Shape::Raw;
        self.schema = schema;
        self.content_type = content_type;
        self
    }
    /// A JSON request body (a name under `components.schemas`).
    fn body(mut self, schema: &'static str) -> Self {
        self.body = Some(schema_ref(schema));
        self
    }
    /// The body may be left out.
    fn optional_body(mut self) -> Self {
        self.body_required = false;
        self
    }
    fn form(mut self, schema: &'static str) -> Self {
        self.body = Some(schema_ref(schema));
        self.body_type = "application/x-www-form-urlencoded";
        self
    }
    /// A `multipart/form-data` request body.
    fn multipart(mut self, schema: &'static str) -> Self {
        self.body = Some(schema_ref(schema));
        self.body_type = "multipart/form-data";
        self
    }
    /// Answers 307 with a `Location`.
    fn redirect(mut self) -> Self {
        self.statuses = &[307];
        self
    }
    /// The success body is bytes of one of these types; `If-None-Match` may make it a 304.
    fn binary(mut self, types: &'static [&'static str]) -> Self {
        self.shape = Shape::Binary;
        self.statuses = &[200, 304];
        self.binary_types = types;
        self
    }
}

fn tag(name: &'static str, ops: Vec<Op>) -> Vec<Op> {
    ops.into_iter().map(|op| Op { tag: name, ..op }).collect()
}

/// Every documented operation, grouped by resource as `routes/*.rs` is.
pub fn operations() -> Vec<Op> {
    const PW: &str = "/v2/authentication-realms/{realm}/user-authentication-info/{id}/user-authentication-password-profile-info";
    const SELF_MANAGED: &str = "An admin token, or a member's own record with their account token while `account_member_self_management` is `update_only` (403 while `disabled`; another member's id is 404).";
    let mut groups: Vec<Vec<Op>> = vec![
        tag("Authentication", vec![
            Op::post("/oauth/access_token", "Get an access token")
                .describe("`grant_type=client_credentials` with `client_id` and `client_secret` gives an admin token; `grant_type=implicit` with `client_id` a shopper token.")
                .form("TokenRequest")
                .raw("AccessToken", "application/json"),
        ]),
        tag("Carts", vec![
            Op::get("/v2/carts", "List the shopper's carts").shopper().list().returns("Cart"),
            Op::post("/v2/carts", "Create a cart").shopper().created().body("CartBody").optional_body().returns("Cart"),
            Op::get("/v2/carts/{id}", "Get a cart")
                .describe("`include`: `items`, `tax_items`, `promotions`, `custom_discounts`, and `component_products` (each bundle line's `bundle_configuration.component_products`: the selected products as the shopper's catalog shows them).")
                .shopper().returns("Cart"),
            Op::put("/v2/carts/{id}", "Update a cart").shopper().body("CartBody").returns("Cart"),
            Op::delete("/v2/carts/{id}", "Delete a cart").shopper().no_content(),
            Op::get("/v2/carts/{id}/items", "List a cart's items")
                .describe("`include`: `tax_items`, `custom_discounts`, and `component_products` (each bundle line's `bundle_configuration.component_products`).")
                .shopper().list().returns("CartItem"),
            Op::post("/v2/carts/{id}/items", "Add items to a cart")
                .describe("`include=component_products` adds each bundle line's selected products under `bundle_configuration.component_products`, as Elastic Path's add does.")
                .shopper().created().body("AddItemsBody").list().returns("CartItem"),
            Op::put("/v2/carts/{id}/items", "Update several items' quantities").shopper().body("DataArray").list().returns("CartItem"),
            Op::delete("/v2/carts/{id}/items", "Empty a cart").shopper().no_content(),
            Op::put("/v2/carts/{id}/items/{item_id}", "Update an item's quantity").shopper().body("QuantityBody").list().returns("CartItem"),
            Op::delete("/v2/carts/{id}/items/{item_id}", "Remove an item from a cart").shopper().list().returns("CartItem"),
            Op::post("/v2/carts/{id}/relationships/accounts", "Associate a cart with an account").shopper().body("DataArray").maybe_no_content().returns("Any"),
            Op::delete("/v2/carts/{id}/relationships/accounts", "Dissociate a cart from an account").shopper().body("DataArray").no_content(),
            Op::post("/v2/carts/{id}/relationships/customers", "Associate a cart with a customer").shopper().body("DataArray").maybe_no_content().returns("Any"),
            Op::delete("/v2/carts/{id}/relationships/customers", "Dissociate a cart from a customer").shopper().body("DataArray").no_content(),
            Op::delete("/v2/carts/{id}/discounts/{code}", "Remove a promotion code from a cart").shopper().no_content(),
        ]),
        tag("Orders", vec![
            Op::post("/v2/carts/{id}/checkout", "Checkout: turn a cart into an order")
                .describe("Send `Idempotency-Key` to make a retried checkout answer the first one's order.")
                .shopper().created().body("CheckoutBody").returns("Order"),
            Op::get("/v2/orders", "List orders")
                .describe("An admin token sees every order; an implicit token with an account or customer token that account's or customer's orders. `filter` takes EP's order fields; `sort` is `created_at` or `updated_at` (`-` for newest first, the default).")
                .shopper().list().returns("Order"),
            Op::get("/v2/orders/{id}", "Get an order").shopper().returns("Order"),
            Op::put("/v2/orders/{id}", "Update an order: cancel, fulfil, or edit its number, reference and shipping address")
                .admin().body("OrderUpdateBody").returns("Order"),
            Op::get("/v2/orders/{id}/items", "List an order's items").shopper().list().returns("OrderItem"),
        ]),
        tag("Payments", vec![
            Op::post("/v2/orders/{id}/payments", "Pay for an order (manual gateway)")
                .describe("`purchase` or `authorize` the balance owing, or `amount` of it for a split payment. Send `Idempotency-Key` to make a retried payment answer the first one's transaction.")
                .shopper().body("PaymentBody").returns("Transaction"),
            Op::get("/v2/orders/{id}/transactions", "List an order's transactions").shopper().list().returns("Transaction"),
            Op::get("/v2/orders/{id}/transactions/{tx}", "Get a transaction").shopper().returns("Transaction"),
            Op::post("/v2/orders/{id}/transactions/{tx}/capture", "Capture an authorized transaction")
                .admin().body("DataObject").optional_body().returns("Transaction"),
            Op::post("/v2/orders/{id}/transactions/{tx}/refund", "Refund a transaction (all of it without `amount`)")
                .admin().body("RefundBody").optional_body().returns("Transaction"),
            Op::post("/v2/orders/{id}/transactions/{tx}/cancel", "Cancel a transaction (not possible on the manual gateway: 400)")
                .admin().body("DataObject").optional_body().returns("Transaction"),
            Op::get("/v2/gateways", "List payment gateways").admin().list().returns("Gateway"),
            Op::get("/v2/gateways/{slug}", "Get a payment gateway").admin().returns("Gateway"),
            Op::put("/v2/gateways/{slug}", "Enable or disable a payment gateway").admin().body("GatewayBody").returns("Gateway"),
        ]),
        tag("Cart taxes", vec![
            Op::post("/v2/carts/{id}/taxes", "Add tax items to many cart items").admin().created().body("DataArray").list(),
            Op::delete("/v2/carts/{id}/taxes", "Delete all of a cart's tax items").admin().no_content(),
            Op::post("/v2/carts/{id}/items/{item_id}/taxes", "Add a tax item to a cart item").admin().created().body("TaxItemBody"),
            Op::put("/v2/carts/{id}/items/{item_id}/taxes/{tax_id}", "Update a tax item").admin().body("TaxItemBody"),
            Op::delete("/v2/carts/{id}/items/{item_id}/taxes/{tax_id}", "Delete a tax item").admin().no_content(),
            Op::post("/v2/carts/{id}/items/{item_id}/components/{product_id}/taxes", "Add a tax item to a bundle component")
                .describe("A tax item on one component product of a bundle line (404, with `meta.component_product_id`, for a product the line's selection lacks); at most five a component, counted apart from the line's own. A `rate` taxes the component's share of the line: its part of the selection's value at the prices the line was last priced with (by quantity when a selected product had no price), rounded to the part per million; an `amount` is added to the line's tax as it is. In the bulk add, `meta.component_product_id` names the component.")
                .admin().created().body("TaxItemBody"),
            Op::put("/v2/carts/{id}/items/{item_id}/components/{product_id}/taxes/{tax_id}", "Update a bundle component's tax item").admin().body("TaxItemBody"),
            Op::delete("/v2/carts/{id}/items/{item_id}/components/{product_id}/taxes/{tax_id}", "Delete a bundle component's tax item").admin().no_content(),
        ]),
        tag("Custom discounts", vec![
            Op::post("/v2/carts/{id}/custom-discounts", "Add custom discounts to a cart (one, or many in an array)")
                .describe("Only while the cart's `discount_settings.custom_discounts_enabled` is true, on a cart with items, in a store with the `line` calculation method. Each may name a cart item in `relationships.item`; at most 5 on the cart and 5 on each item. `options.add_all_or_nothing` refuses all when one is refused.")
                .admin().created().body("CustomDiscountsBody").returns("Any"),
            Op::delete("/v2/carts/{id}/custom-discounts", "Delete all of a cart's custom discounts").admin().no_content(),
            Op::put("/v2/carts/{id}/custom-discounts/{discount_id}", "Update a cart's custom discount").admin().body("CustomDiscountBody").returns("CustomDiscount"),
            Op::delete("/v2/carts/{id}/custom-discounts/{discount_id}", "Delete a cart's custom discount").admin().no_content(),
            Op::post("/v2/carts/{id}/items/{item_id}/custom-discounts", "Add a custom discount to a cart item").admin().created().body("CustomDiscountBody").returns("CustomDiscount"),
            Op::put("/v2/carts/{id}/items/{item_id}/custom-discounts/{discount_id}", "Update a cart item's custom discount").admin().body("CustomDiscountBody").returns("CustomDiscount"),
            Op::delete("/v2/carts/{id}/items/{item_id}/custom-discounts/{discount_id}", "Delete a cart item's custom discount").admin().no_content(),
        ]),
        tag("Customers", vec![
            Op::get("/v2/customers", "List customers").token().customer_header().list().returns("Customer"),
            Op::post("/v2/customers", "Create a customer").token().created().body("CustomerBody").returns("Customer"),
            Op::post("/v2/customers/tokens", "Log in a customer: get a customer token").token().body("CustomerTokenBody"),
            Op::get("/v2/customers/{id}", "Get a customer").token().customer_header().returns("Customer"),
            Op::put("/v2/customers/{id}", "Update a customer").token().customer_header().body("CustomerBody").returns("Customer"),
            Op::delete("/v2/customers/{id}", "Delete a customer").admin().no_content(),
        ]),
        tag("Accounts", vec![
            Op::get("/v2/accounts", "List accounts").token().account_header().list().returns("Account"),
            Op::post("/v2/accounts", "Create an account").admin().created().body("AccountBody").returns("Account"),
            Op::get("/v2/accounts/{id}", "Get an account").token().account_header().returns("Account"),
            Op::put("/v2/accounts/{id}", "Update an account")
                .describe("An admin may change every field but `parent_id`; a member, with their account token, their own account's `name` and `legal_name`.")
                .token().account_header().body("AccountBody").returns("Account"),
            Op::delete("/v2/accounts/{id}", "Delete an account").admin().no_content(),
            Op::get("/v2/accounts/{id}/account-memberships", "List an account's memberships").token().account_header().list(),
            Op::post("/v2/accounts/{id}/account-memberships", "Create an account membership").admin().created().body("DataObject"),
            Op::get("/v2/accounts/{id}/account-memberships/unassigned-account-members", "List account members not in this account").admin().list(),
            Op::get("/v2/accounts/{id}/account-memberships/{membership_id}", "Get an account membership").token().account_header(),
            Op::put("/v2/accounts/{id}/account-memberships/{membership_id}", "Update an account membership").admin().body("DataObject"),
            Op::delete("/v2/accounts/{id}/account-memberships/{membership_id}", "Delete an account membership").admin().no_content(),
            Op::get("/v2/settings/account-membership", "Get the account membership settings").admin(),
            Op::put("/v2/settings/account-membership", "Update the account membership settings (`membership_limit`)").admin().body("DataObject"),
        ]),
        tag("Addresses", vec![
            Op::get("/v2/accounts/{id}/addresses", "List an account's addresses").token().account_header().list().returns("Address"),
            Op::post("/v2/accounts/{id}/addresses", "Create an account address")
                .describe("At most the store's `shopper_address_limit` addresses per account (400 beyond).")
                .token().account_header().created().body("AddressBody").returns("Address"),
            Op::get("/v2/accounts/{id}/addresses/{address_id}", "Get an account address").token().account_header().returns("Address"),
            Op::put("/v2/accounts/{id}/addresses/{address_id}", "Update an account address").token().account_header().body("AddressBody").returns("Address"),
            Op::delete("/v2/accounts/{id}/addresses/{address_id}", "Delete an account address").token().account_header().no_content(),
            Op::get("/v2/customers/{id}/addresses", "List a customer's addresses").token().customer_header().list().returns("Address"),
            Op::post("/v2/customers/{id}/addresses", "Create a customer address")
                .describe("At most the store's `shopper_address_limit` addresses per customer (400 beyond).")
                .token().customer_header().created().body("AddressBody").returns("Address"),
            Op::get("/v2/customers/{id}/addresses/{address_id}", "Get a customer address").token().customer_header().returns("Address"),
            Op::put("/v2/customers/{id}/addresses/{address_id}", "Update a customer address").token().customer_header().body("AddressBody").returns("Address"),
            Op::delete("/v2/customers/{id}/addresses/{address_id}", "Delete a customer address").token().customer_header().no_content(),
        ]),
        tag("Account members", vec![
            Op::get("/v2/account-members", "List account members").token().account_header().list(),
            Op::post("/v2/account-members/tokens", "Log in an account member: get account management tokens")
                .token().created().body("DataObject").list(),
            Op::get("/v2/account-members/{id}", "Get an account member").token().account_header(),
            Op::put("/v2/account-members/{id}", "Update an account member").admin().body("DataObject"),
            Op::get("/v2/account-members/{id}/account-memberships", "List an account member's memberships").token().account_header().list(),
        ]),
        tag("Authentication realms", vec![
            Op::get("/v2/settings/account-authentication", "Get account authentication settings").token(),
            Op::put("/v2/settings/account-authentication", "Update account authentication settings").admin().body("DataObject"),
            Op::get("/v2/authentication-realms", "List authentication realms").token().list(),
            Op::get("/v2/authentication-realms/{realm}", "Get an authentication realm").token(),
            Op::put("/v2/authentication-realms/{realm}", "Update an authentication realm").admin().body("DataObject"),
            Op::get("/v2/authentication-realms/{realm}/oidc-profiles", "List a realm's OpenID Connect profiles (none: OIDC is not supported yet)").token().list(),
            Op::post("/v2/authentication-realms/{realm}/oidc-profiles", "Create an OpenID Connect profile (not supported yet: 400)")
                .admin().body("DataObject").refused(),
            Op::get("/v2/authentication-realms/{realm}/oidc-profiles/{id}", "Get an OpenID Connect profile (always 404: OIDC is not supported yet)").token(),
            Op::put("/v2/authentication-realms/{realm}/oidc-profiles/{id}", "Update an OpenID Connect profile (always 404: there are none)")
                .admin().body("DataObject").refused(),
            Op::delete("/v2/authentication-realms/{realm}/oidc-profiles/{id}", "Delete an OpenID Connect profile (always 404: there are none)")
                .admin().refused(),
            Op::get("/v2/authentication-realms/{realm}/password-profiles", "List password profiles").admin().list(),
            Op::post("/v2/authentication-realms/{realm}/password-profiles", "Create a password profile").admin().created().body("DataObject"),
            Op::get("/v2/authentication-realms/{realm}/password-profiles/{id}", "Get a password profile").admin(),
            Op::put("/v2/authentication-realms/{realm}/password-profiles/{id}", "Update a password profile").admin().body("DataObject"),
            Op::delete("/v2/authentication-realms/{realm}/password-profiles/{id}", "Delete a password profile").admin().no_content(),
            Op::get("/v2/authentication-realms/{realm}/user-authentication-info", "List user authentication infos").admin().list(),
            Op::post("/v2/authentication-realms/{realm}/user-authentication-info", "Create a user authentication info").admin().created().body("DataObject"),
            Op::get("/v2/authentication-realms/{realm}/user-authentication-info/{id}", "Get a user authentication info")
                .describe(SELF_MANAGED).token().account_header(),
            Op::put("/v2/authentication-realms/{realm}/user-authentication-info/{id}", "Update a user authentication info")
                .describe(SELF_MANAGED).token().account_header().body("DataObject"),
            Op::delete("/v2/authentication-realms/{realm}/user-authentication-info/{id}", "Delete a user authentication info").admin().no_content(),
            Op::get(PW, "List a user's password credentials").describe(SELF_MANAGED).token().account_header().list(),
            Op::post(PW, "Create a password credential").admin().created().body("DataObject"),
            Op::get(format!("{PW}/{{credential}}"), "Get a password credential").describe(SELF_MANAGED).token().account_header(),
            Op::put(format!("{PW}/{{credential}}"), "Update a password credential").describe(SELF_MANAGED).token().account_header().body("DataObject"),
            Op::delete(format!("{PW}/{{credential}}"), "Delete a password credential").admin().no_content(),
        ]),
        tag("kassa emulator", vec![
            Op::get("/_kassa/stores", "List the server's stores (kassa's own: with --emulator)").admin().list().returns("Any"),
            Op::post("/_kassa/stores", "Create a store for one test (kassa's own)")
                .describe("An isolated, empty store in this server, in milliseconds on SQLite (about a second on PostgreSQL, a schema's migration): its own application key, realm, settings, catalog, carts, orders, journal, fault rules, test clock and ids; nothing is shared with another store. The body is optional: `seed` makes its ids come from a seeded generator, `fixture` (an exported store) fills it, and its resets go back to it. Answers its `client_id` and `client_secret` (shown only here): requests choose the store by these credentials alone (its client ids and token key ids begin with the store's id), so unchanged Elastic Path clients work. Only the server's own admin may create stores; a store lives until it is deleted or the server stops.")
                .admin().created().body("DataObject").returns("Any"),
            Op::get("/_kassa/stores/{id}", "Get a store (kassa's own)").admin().returns("Any"),
            Op::delete("/_kassa/stores/{id}", "Delete a store made for a test, with all its data (kassa's own)")
                .describe("Only the server's own admin; the server's own store (`default`) cannot be deleted (reset it instead). Its credentials and tokens are refused from then on.")
                .admin().no_content(),
            Op::get("/_kassa/stores/{id}/requests", "Read the store's request journal (kassa's own)")
                .describe("Newest first, the last 1,000 requests: method, route, path, status, latency, request and response headers and bodies (first 16 KiB) with secrets and tokens redacted. Filters: `method`, `status` (`404` or `4xx`), `route` (the matched route), `path` (a substring); `page[limit]` (≤ 1000), `page[offset]`.")
                .admin().list().returns("Any"),
            Op::delete("/_kassa/stores/{id}/requests", "Empty the store's request journal (kassa's own)").admin().no_content(),
            Op::get("/_kassa/stores/{id}/faults", "List the store's fault rules (kassa's own)").admin().list().returns("Any"),
            Op::post("/_kassa/stores/{id}/faults", "Add a fault rule (kassa's own)")
                .describe("`route` (a path pattern: `{name}` or `*` for one segment, a last `**` for any rest), `method`, `probability` or `every` (the nth matching request), and at least one of `status` (400–599, an Elastic Path error body; 429 and 503 with `Retry-After`), `latency_ms` (≤ 60000) and `drop_connection`; `times` limits how often it fires. The first matching rule fires, before kassa handles the request: nothing changes.")
                .admin().created().body("DataObject").returns("Any"),
            Op::delete("/_kassa/stores/{id}/faults", "Delete every fault rule of the store (kassa's own)").admin().no_content(),
            Op::get("/_kassa/stores/{id}/faults/{fault_id}", "Get a fault rule and its counts (kassa's own)").admin().returns("Any"),
            Op::delete("/_kassa/stores/{id}/faults/{fault_id}", "Delete a fault rule (kassa's own)").admin().no_content(),
            Op::post("/_kassa/stores/{id}/reset", "Reset the store to empty or to its fixture (kassa's own)")
                .describe("Replaces every resource of the store in one transaction with the fixture it was made from (`fixture` at its creation, `kassa serve --fixture` for `default`), or with nothing — its application keys stay, and their tokens stay valid — and makes its account realm, default currency and settings again as at a first start where the fixture has none; empties its journal, fault rules and rate limit. With `--seed`, ids start again from the seed.")
                .admin().no_content(),
            Op::get("/_kassa/stores/{id}/export", "Export the store as a fixture (kassa's own)")
                .describe("One JSON file, `{\"kassa_fixture\": 1, \"tables\": {…}}`: every table but the store's credentials and the integrations' delivery outbox, rows in primary-key order, values in one form (the same bytes from SQLite and PostgreSQL), passwords only as their hashes and integration secrets `[redacted]`. Read in one consistent snapshot.")
                .admin().returns("Any"),
            Op::post("/_kassa/stores/{id}/import", "Replace the store's data with a fixture (kassa's own)")
                .describe("The body is a fixture (`export`'s file; up to 256 MiB). One transaction: the store's data becomes the fixture's, its credentials stay. A table left out is as a new store has it; a column left out takes its default. An unknown table or column, a value of the wrong kind (400 naming `tables.{name}[{i}].{column}`), or rows the database refuses (400 `Invalid Fixture`: a duplicate key, a dangling reference) change nothing.")
                .admin().body("Any").no_content(),
            Op::get("/_kassa/stores/{id}/clock", "Read the store's test clock (kassa's own)").admin().returns("Any"),
            Op::post("/_kassa/stores/{id}/clock", "Move the store's test clock (kassa's own)")
                .describe("`advance_secs` (from the clock's now) or `set` (an RFC 3339 time); the clock runs on from there. Every time-based rule reads it: cart expiry, token and account-token expiry, sale price windows, promotion start and end, idempotency-key retention, release times.")
                .admin().body("DataObject").returns("Any"),
            Op::delete("/_kassa/stores/{id}/clock", "Put the store back on real time (kassa's own)").admin().no_content(),
            Op::get("/_kassa/stores/{id}/rate-limit", "Get the store's emulated rate limit (kassa's own)").admin().returns("Any"),
            Op::put("/_kassa/stores/{id}/rate-limit", "Emulate Elastic Path's rate limit (kassa's own)")
                .describe("`store_type`: `development` (25 requests/s, Elastic Path's default store), `production` (100/s) or `off`; or `requests_per_second`. A token bucket of one second's requests: over it, 429 with `Retry-After: 1` before kassa handles the request.")
                .admin().body("DataObject").returns("Any"),
        ]),
        tag("Integrations", vec![
            Op::get("/v2/integrations", "List integrations").admin().list().returns("Integration"),
            Op::post("/v2/integrations", "Create an integration (webhook or stomp; aws_sqs is refused)")
                .admin().created().body("IntegrationBody").returns("Integration"),
            Op::get("/v2/integrations/logs", "List the delivery logs of every integration").admin().list().returns("IntegrationLog"),
            Op::get("/v2/integrations/{id}", "Get an integration").admin().returns("Integration"),
            Op::put("/v2/integrations/{id}", "Update an integration").admin().body("IntegrationBody").returns("Integration"),
            Op::delete("/v2/integrations/{id}", "Delete an integration, its jobs and logs").admin().no_content(),
            Op::get("/v2/integrations/{id}/logs", "List an integration's delivery logs").admin().list().returns("IntegrationLog"),
            Op::get("/v2/integrations/{id}/jobs", "List an integration's jobs (one per event)").admin().list().returns("IntegrationJob"),
            Op::get("/v2/integrations/{id}/jobs/{job_id}/logs", "List the delivery logs of a job").admin().list().returns("IntegrationLog"),
        ]),
        tag("Application keys", vec![
            Op::get("/v2/application-keys", "List application keys").admin().list(),
            Op::post("/v2/application-keys", "Create an application key").admin().created().body("DataObject"),
            Op::delete("/v2/application-keys/{id}", "Delete an application key").admin().no_content(),
        ]),
        tag("Settings", vec![
            Op::get("/v2/settings", "Get the store settings").admin(),
            Op::put("/v2/settings", "Update the store settings").admin().body("DataObject"),
            Op::get("/v2/settings/cart", "Get the cart settings").admin(),
            Op::put("/v2/settings/cart", "Update the cart settings").admin().body("DataObject"),
        ]),
        tag("Currencies", vec![
            Op::get("/v2/currencies", "List currencies").token().list(),
            Op::post("/v2/currencies", "Create a currency").admin().created().body("DataObject"),
            Op::get("/v2/currencies/{id}", "Get a currency").token(),
            Op::put("/v2/currencies/{id}", "Update a currency").admin().body("DataObject"),
            Op::delete("/v2/currencies/{id}", "Delete a currency").admin().no_content(),
        ]),
        tag("Rule promotions", vec![
            Op::get("/v2/rule-promotions", "List rule promotions").admin().list().returns("RulePromotion"),
            Op::post("/v2/rule-promotions", "Create a rule promotion").admin().created().body("DataObject").returns("RulePromotion"),
            Op::get("/v2/rule-promotions/{id}", "Get a rule promotion").admin().returns("RulePromotion"),
            Op::put("/v2/rule-promotions/{id}", "Update a rule promotion").admin().body("DataObject").returns("RulePromotion"),
            Op::delete("/v2/rule-promotions/{id}", "Delete a rule promotion").admin().no_content(),
            Op::get("/v2/rule-promotions/{id}/codes", "List a rule promotion's codes").admin().list(),
            Op::post("/v2/rule-promotions/{id}/codes", "Create promotion codes").admin().created().body("DataObject").returns("Any"),
            Op::delete("/v2/rule-promotions/{id}/codes", "Delete promotion codes (all of them without a body)").admin().body("DataObject").optional_body().no_content(),
            Op::delete("/v2/rule-promotions/{id}/codes/{code}", "Delete a promotion code by id").admin().no_content(),
            Op::get("/v2/rule-promotions/{id}/usages", "List a rule promotion's usages").admin().list(),
            Op::get("/v2/rule-promotions/{id}/codes/{code}/usages", "List a promotion code's usages").admin().list(),
            Op::post("/v2/rule-promotions/usages/anonymize", "Anonymize promotion usages").admin().body("DataObject").returns("Any"),
            Op::post("/v2/rule-promotions/{id}/jobs", "Run a code_generate or code_export job (synchronously: it answers completed)").admin().created().body("DataObject").returns("PromotionJob"),
            Op::get("/v2/rule-promotions/{id}/jobs", "List a promotion's jobs (`filter`: `eq(job_type,…)`, `eq(status,…)`)").admin().list().returns("PromotionJob"),
            Op::get("/v2/rule-promotions/{id}/jobs/{job_id}/file", "Get the link to a code_export job's CSV").admin().raw("JobFile", "application/json"),
            Op::post("/v2/rule-promotions/{id}/jobs/{job_id}/cancel", "Cancel a job (kassa's are never pending: always 422)").admin().refused(),
            Op::get("/v2/rule-promotions/exports/{file}", "Download an exported codes CSV (the link `…/jobs/{job_id}/file` answers)").raw("Any", "text/csv"),
        ]),
        tag("Shopper catalog", vec![
            Op::get("/catalog", "Get the catalog release a shopper sees").token().account_header().catalog_headers(),
            Op::get("/catalog/products", "List the catalog's products").token().account_header().catalog_headers().list().product_includes(),
            Op::get("/catalog/products/{id}", "Get a catalog product").token().account_header().catalog_headers().product_includes(),
            Op::get("/catalog/products/{id}/relationships/children", "List a parent product's children")
                .describe("Priced like any product. 422 for a product that is not a parent.")
                .token().account_header().catalog_headers().list().product_includes(),
            Op::post("/catalog/products/{id}/configure", "Configure a bundle")
                .describe("`selected_options` (component key → option product id → quantity) is checked against the bundle's components: known components and options, each quantity within the option's `min`/`max` (else its `quantity`), each component's count of options within its `min`/`max` (400, each problem named in `source`). Answers the product with `meta.bundle_configuration` the selection and, for a bundle without a price of its own, `meta.display_price` the sum of the selected options' prices times their quantities. 422 for a product that is not a bundle.")
                .token().account_header().catalog_headers().product_includes().body("BundleConfigurationBody"),
            Op::get("/catalog/hierarchies", "List the catalog's hierarchies").token().account_header().catalog_headers().list(),
            Op::get("/catalog/hierarchies/{id}", "Get a catalog hierarchy").token().account_header().catalog_headers(),
            Op::get("/catalog/hierarchies/{id}/nodes", "List a catalog hierarchy's nodes").token().account_header().catalog_headers().list(),
            Op::get("/catalog/hierarchies/{id}/children", "List a catalog hierarchy's top-level nodes").token().account_header().catalog_headers().list(),
            Op::get("/catalog/hierarchies/{id}/products", "List the products in a catalog hierarchy's nodes").token().account_header().catalog_headers().list().product_includes(),
            Op::get("/catalog/nodes", "List the catalog's nodes").token().account_header().catalog_headers().list(),
            Op::get("/catalog/nodes/{id}", "Get a catalog node").token().account_header().catalog_headers(),
            Op::get("/catalog/nodes/{id}/relationships/children", "List a catalog node's child nodes").token().account_header().catalog_headers().list(),
            Op::get("/catalog/nodes/{id}/relationships/products", "List a catalog node's products").token().account_header().catalog_headers().list().product_includes(),
            Op::post("/catalog/multi-search", "Search the catalog (Typesense multi-search)")
                .describe("Child products are hits of their own, each with its parent in `attributes.base_product_id`; `product_types` and `base_product_id` filter and facet (`product_types:!=child` lists one item per product family, `base_product_id:=<id>` a parent's children).")
                .token().account_header().catalog_headers().body("MultiSearchRequest").raw("MultiSearchResponse", "application/json"),
        ]),
        tag("Products", vec![
            Op::get("/pcm/products", "List products").admin().list(),
            Op::post("/pcm/products", "Create a product")
                .describe("A product with `components` is a bundle: each component a `name`, `options` (`id` of a product that is not a bundle, `type` product, `quantity` at least 1 (default 1), `default`, `min`/`max` together, `sort_order`), `min` at most `max` and at most the number of options, `sort_order`. Each problem is a 400 naming its field in `source`; an option that is a bundle is refused (`bundle of a bundle`). `build_rules` (`default` include or exclude; `include`/`exclude` lists of combinations of option ids, each of another variation) decide which combinations a build makes: the longest matching rule decides, else `default`; on a new product only `default` (it has no variations yet).")
                .admin().created().body("ProductBody"),
            Op::get("/pcm/products/{id}", "Get a product").admin(),
            Op::put("/pcm/products/{id}", "Update a product")
                .describe("`build_rules` name options of the variations attached to the product (400 naming the option's place, e.g. `data.attributes.build_rules.exclude[0][1]`, otherwise; two options of one variation in a combination, and rules that decide a combination both ways, are 400 too); `null` clears them.")
                .admin().body("ProductBody"),
            Op::delete("/pcm/products/{id}", "Delete a product")
                .describe("Deletes the product and its child products. 422 `Product In Bundle`, deleting nothing, when a bundle has the product (or one of its children) as a component option.")
                .admin().no_content(),
            Op::get("/pcm/products/{id}/relationships/component_products", "List a bundle's component products")
                .describe("Each product the bundle's options name, once; none for a product that is not a bundle.")
                .admin().raw("ProductReferences", "application/json"),
        ]),
        tag("Products", vec![
            Op::get("/pcm/products/{id}/relationships/main_image", "Get a product's main image")
                .describe("`data` is a list of at most one file reference, as `pim.yaml` answers it.")
                .admin().raw("FileReferences", "application/json"),
            Op::post("/pcm/products/{id}/relationships/main_image", "Set a product's main image").admin().no_content().body("FileReferenceBody"),
            Op::put("/pcm/products/{id}/relationships/main_image", "Replace a product's main image").admin().no_content().body("FileReferenceBody"),
            Op::delete("/pcm/products/{id}/relationships/main_image", "Remove a product's main image").admin().no_content(),
            Op::get("/pcm/products/{id}/relationships/files", "List a product's files").admin().raw("FileReferences", "application/json"),
            Op::post("/pcm/products/{id}/relationships/files", "Attach files to a product (after those it has)").admin().no_content().body("FileReferencesBody"),
            Op::put("/pcm/products/{id}/relationships/files", "Replace a product's files").admin().no_content().body("FileReferencesBody"),
            Op::delete("/pcm/products/{id}/relationships/files", "Detach files from a product").admin().no_content().body("FileReferencesBody"),
        ]),
        tag("Files", vec![
            Op::get("/v2/files", "List files")
                .describe("Any access token may read files. `filter`: `eq`/`in` on `id`, `eq`/`like` on `file_name`, `gt`/`ge`/`lt`/`le` on `width`, `height`, `file_size`.")
                .token().list().returns("File"),
            Op::post("/v2/files", "Upload a file, or record one kept elsewhere")
                .describe("`multipart/form-data` with `file` (PNG, JPEG, GIF, WebP or PDF, decided from the content; at most the server's file size limit, 10 MiB by default: larger is 413) or `file_location` (an http(s) URL; no bytes are stored), and optionally `file_name` and `public`.")
                .admin().created().multipart("FileUpload").returns("File"),
            Op::get("/v2/files/{id}", "Get a file").token().returns("File"),
            Op::delete("/v2/files/{id}", "Delete a file and its content").admin().no_content(),
            Op::get("/files/{id}/{file_name}", "A file's content (the file's `link.href`)")
                .describe("No token needed, like Elastic Path's CDN. The content of an id never changes: it is served with a strong `ETag` (its SHA-256) and `Cache-Control: public, max-age=31536000, immutable`, and `If-None-Match` with that tag answers 304. The name in the path is not checked.")
                .binary(kassa_core::file::ACCEPTED_TYPES),
        ]),
        tag("Products", Op::any("/pcm/products/import")),
        tag("Products", Op::any("/pcm/products/export")),
        tag("Products", Op::any("/pcm/products/{id}/relationships/{rel}")),
        tag(
            "Products",
            Op::any("/pcm/products/{id}/relationships/component_products")
                .into_iter()
                .filter(|op| op.method != "get")
                .collect(),
        ),
        tag("Variations", vec![
            Op::get("/pcm/variations", "List variations").admin().list(),
            Op::post("/pcm/variations", "Create a variation").admin().created().body("VariationBody"),
            Op::get("/pcm/variations/{id}", "Get a variation (with its options in `meta.options`)").admin(),
            Op::put("/pcm/variations/{id}", "Update a variation").admin().body("VariationBody"),
            Op::delete("/pcm/variations/{id}", "Delete a variation, its options and modifiers (and detach it from products)").admin().no_content(),
            Op::get("/pcm/variations/{id}/options", "List a variation's options").admin().list(),
            Op::post("/pcm/variations/{id}/options", "Create a variation option")
                .describe("`name` (A-Z, a-z, 0-9, `-`, `_`, `.`: a child's default sku and slug use it) and `description` are required.")
                .admin().created().body("VariationOptionBody"),
            Op::get("/pcm/variations/{id}/options/{option}", "Get a variation option").admin(),
            Op::put("/pcm/variations/{id}/options/{option}", "Update a variation option").admin().body("VariationOptionBody"),
            Op::delete("/pcm/variations/{id}/options/{option}", "Delete a variation option and its modifiers").admin().no_content(),
            Op::get("/pcm/variations/{id}/options/{option}/modifiers", "List an option's modifiers").admin().list(),
            Op::post("/pcm/variations/{id}/options/{option}/modifiers", "Create a modifier")
                .describe("`type` one of `commodity_type`, `status`, `name_*`, `description_*`, `sku_*`, `slug_*` (`_append`, `_prepend`, `_equals`), `sku_builder`/`slug_builder` (with `seek` and `set`), `upc_ean_equals`, `mpn_equals`, `external_ref_equals`, `price_increment`/`price_decrement`/`price_equals` (`value`: minor units, as a string). `price`, `custom_inputs_equals`, `build_rules_equals` and `locales_equals` answer 400 Not Supported.")
                .admin().created().body("ModifierBody"),
            Op::get("/pcm/variations/{id}/options/{option}/modifiers/{modifier}", "Get a modifier").admin(),
            Op::put("/pcm/variations/{id}/options/{option}/modifiers/{modifier}", "Update a modifier").admin().body("ModifierBody"),
            Op::delete("/pcm/variations/{id}/options/{option}/modifiers/{modifier}", "Delete a modifier").admin().no_content(),
            Op::get("/pcm/products/{id}/relationships/variations", "List a product's variations").admin().raw("VariationReferences", "application/json"),
            Op::post("/pcm/products/{id}/relationships/variations", "Attach variations to a product (after those it has)").admin().no_content().body("VariationReferences"),
            Op::put("/pcm/products/{id}/relationships/variations", "Replace a product's variations").admin().no_content().body("VariationReferences"),
            Op::delete("/pcm/products/{id}/relationships/variations", "Detach variations from a product").admin().no_content().body("VariationReferences"),
            Op::post("/pcm/products/{id}/build", "Build a product's child products")
                .describe("Builds, at once, one child per combination of the options of the product's variations that its `build_rules` include and that has none yet (a second build adds only the missing ones; a child the rules exclude now is kept). Answers a completed `pim-job`, with `meta.children_created` and `meta.children_total`.")
                .admin().created().optional_body().body("Any").returns("PimJob"),
            Op::get("/pcm/products/{id}/children", "List a product's child products").admin().list(),
        ]),
        tag("Hierarchies", vec![
            Op::get("/pcm/hierarchies", "List hierarchies").admin().list(),
            Op::post("/pcm/hierarchies", "Create a hierarchy").admin().created().body("HierarchyBody"),
            Op::get("/pcm/hierarchies/{id}", "Get a hierarchy").admin(),
            Op::put("/pcm/hierarchies/{id}", "Update a hierarchy").admin().body("HierarchyBody"),
            Op::delete("/pcm/hierarchies/{id}", "Delete a hierarchy").admin().no_content(),
            Op::get("/pcm/hierarchies/{id}/nodes", "List a hierarchy's nodes").admin().list(),
            Op::post("/pcm/hierarchies/{id}/nodes", "Create a node").admin().created().body("NodeBody"),
            Op::get("/pcm/hierarchies/{id}/nodes/{node}", "Get a node").admin(),
            Op::put("/pcm/hierarchies/{id}/nodes/{node}", "Update a node").admin().body("NodeBody"),
            Op::delete("/pcm/hierarchies/{id}/nodes/{node}", "Delete a node").admin().no_content(),
            Op::post("/pcm/hierarchies/{id}/nodes/{node}/relationships/products", "Attach products to a node").admin().created().body("DataArray").returns("Any"),
            Op::delete("/pcm/hierarchies/{id}/nodes/{node}/relationships/products", "Detach products from a node").admin().body("DataArray").returns("Any"),
            Op::get("/pcm/hierarchies/{id}/nodes/{node}/products", "List a node's products").admin().list(),
        ]),
        tag("Price books", vec![
            Op::get("/pcm/pricebooks", "List price books").admin().list(),
            Op::post("/pcm/pricebooks", "Create a price book").admin().created().body("PricebookBody"),
            Op::get("/pcm/pricebooks/{id}", "Get a price book").admin(),
            Op::put("/pcm/pricebooks/{id}", "Update a price book").admin().body("PricebookBody"),
            Op::delete("/pcm/pricebooks/{id}", "Delete a price book").admin().no_content(),
            Op::get("/pcm/pricebooks/{id}/prices", "List a price book's prices").admin().list(),
            Op::post("/pcm/pricebooks/{id}/prices", "Create a price").admin().created().body("DataObject"),
            Op::get("/pcm/pricebooks/{id}/prices/{price}", "Get a price").admin(),
            Op::put("/pcm/pricebooks/{id}/prices/{price}", "Update a price").admin().body("DataObject"),
            Op::delete("/pcm/pricebooks/{id}/prices/{price}", "Delete a price").admin().no_content(),
        ]),
        tag("Inventories", vec![
            Op::get("/v2/inventories", "List stock").token().multi_location().list().returns("Stock"),
            Op::post("/v2/inventories", "Create a product's stock (multi-location API)").admin().multi_location().created().body("StockCreateBody").returns("Stock"),
            Op::post("/v2/inventories/multiple", "Get stock for several products").token().multi_location().body("DataArray").list().returns("Stock"),
            Op::get("/v2/inventories/{product_id}", "Get a product's stock").token().multi_location().returns("Stock"),
            Op::post("/v2/inventories/{product_id}", "Create a product's stock").admin().multi_location().created().body("StockBody").returns("Stock"),
            Op::put("/v2/inventories/{product_id}", "Set a product's stock at locations (multi-location API)").admin().multi_location().body("StockUpdateBody").returns("Stock"),
            Op::delete("/v2/inventories/{product_id}", "Delete a product's stock").admin().no_content(),
            Op::get("/v2/inventories/{product_id}/transactions", "List a product's stock transactions").token().multi_location().list().returns("StockTransaction"),
            Op::post("/v2/inventories/{product_id}/transactions", "Create a stock transaction").admin().multi_location().created().body("StockTransactionBody").returns("StockTransaction"),
            Op::get("/v2/inventories/{product_id}/transactions/{id}", "Get a stock transaction").token().multi_location().returns("StockTransaction"),
            Op::get("/v2/inventories/locations", "List stock locations").token().list().returns("Location"),
            Op::post("/v2/inventories/locations", "Create a stock location").admin().created().body("LocationBody").returns("Location"),
            Op::get("/v2/inventories/locations/{id}", "Get a stock location").token().returns("Location"),
            Op::put("/v2/inventories/locations/{id}", "Update a stock location").admin().body("LocationBody").returns("Location"),
            Op::delete("/v2/inventories/locations/{id}", "Delete a stock location (refused with 409 while it holds stock)").admin().no_content(),
        ]),
    ];
    // Catalog administration answers under `/catalogs` and `/pcm/catalogs` alike.
    for prefix in ["", "/pcm"] {
        let p = |rest: &str| format!("{prefix}{rest}");
        groups.push(tag(
            "Catalogs",
            vec![
                Op::get(p("/catalogs"), "List catalogs").admin().list(),
                Op::post(p("/catalogs"), "Create a catalog")
                    .admin()
                    .created()
                    .body("DataObject"),
                Op::get(p("/catalogs/{id}"), "Get a catalog").admin(),
                Op::put(p("/catalogs/{id}"), "Update a catalog")
                    .admin()
                    .body("DataObject"),
                Op::delete(p("/catalogs/{id}"), "Delete a catalog")
                    .admin()
                    .no_content(),
                Op::get(p("/catalogs/{id}/releases"), "List a catalog's releases")
                    .admin()
                    .list(),
                Op::post(p("/catalogs/{id}/releases"), "Publish a catalog release")
                    .admin()
                    .created(),
                Op::get(p("/catalogs/{id}/releases/{release}"), "Get a catalog release").admin(),
                Op::get(p("/catalogs/rules"), "List catalog rules").admin().list(),
                Op::post(p("/catalogs/rules"), "Create a catalog rule")
                    .admin()
                    .created()
                    .body("DataObject"),
                Op::get(p("/catalogs/rules/{id}"), "Get a catalog rule").admin(),
                Op::put(p("/catalogs/rules/{id}"), "Update a catalog rule")
                    .admin()
                    .body("DataObject"),
                Op::delete(p("/catalogs/rules/{id}"), "Delete a catalog rule")
                    .admin()
                    .no_content(),
            ],
        ));
    }
    groups.extend([
        tag(
            "Health",
            vec![
                Op::get("/healthz", "Liveness probe").raw("Health", "application/json"),
                Op::get("/readyz", "Readiness probe: the database answers").raw("Health", "application/json"),
                Op::get("/metrics", "Metrics in Prometheus's text format")
                    .describe("Requests by method, route and status; latency by route; requests in flight; the SQLite writer's batches or the PostgreSQL pool; orders placed; payments and login attempts by result. When kassa runs with `--metrics-token`, send that token as `Authorization: Bearer <token>` (401 otherwise).")
                    .raw("Text", "text/plain"),
            ],
        ),
        tag(
            "Documentation",
            vec![
                Op::get("/openapi.json", "This OpenAPI document").raw("Any", "application/json"),
                Op::get("/", "Redirects to the API reference at /docs").redirect(),
                Op::get("/docs", "Interactive API reference (HTML)").raw("Text", "text/html"),
                Op::get("/docs/swagger-ui-bundle.js", "API reference script").raw("Text", "text/javascript"),
                Op::get("/docs/swagger-ui.css", "API reference style sheet").raw("Text", "text/css"),
            ],
        ),
    ]);
    groups.into_iter().flatten().collect()
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An axum path as OpenAPI writes it: `{*rest}` (a catch-all) becomes `{rest}`.
pub fn openapi_path(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

/// The whole document; `styles` are the error styles of the registered paths, by OpenAPI path.
pub fn document(styles: &BTreeMap<String, StatusStyle>) -> Value {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut tags: Vec<&str> = Vec::new();
    for op in operations() {
        // kassa's own endpoints are documented where they are served (with --emulator).
        if op.path.starts_with("/_kassa/") && !styles.contains_key(&op.path) {
            continue;
        }
        if !tags.contains(&op.tag) {
            tags.push(op.tag);
        }
        let style = styles.get(&op.path).copied().unwrap_or(StatusStyle::Number);
        paths
            .entry(op.path.clone())
            .or_default()
            .insert(op.method.to_owned(), operation(&op, style));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "kassa",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A self-hosted commerce API server that speaks the Elastic Path Composable Commerce REST API. \
                Get a token from `POST /oauth/access_token` and send it as `Authorization: Bearer <token>`.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "tags": tags.iter().map(|t| json!({ "name": t })).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An access token from `POST /oauth/access_token`: `client_credentials` (admin) or `implicit` (shopper).",
                },
            },
            "schemas": schemas(),
        },
    })
}

fn operation(op: &Op, style: StatusStyle) -> Value {
    let mut parameters: Vec<Value> = op
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    if op.shape == Shape::Many && op.method == "get" {
        parameters.extend([
            json!({ "name": "page[limit]", "in": "query", "schema": { "type": "integer" }, "description": "Results per page" }),
            json!({ "name": "page[offset]", "in": "query", "schema": { "type": "integer" }, "description": "Results to skip" }),
            json!({ "name": "filter", "in": "query", "schema": { "type": "string" }, "description": "Elastic Path filter expression, e.g. `eq(name,Shirt)`" }),
            json!({ "name": "sort", "in": "query", "schema": { "type": "string" }, "description": "Field to sort by; `-field` for descending" }),
        ]);
    }
    let header = |name: &str, description: &str| json!({ "name": name, "in": "header", "required": false, "schema": { "type": "string" }, "description": description });
    if op.account_header {
        parameters.push(header(
            "EP-Account-Management-Authentication-Token",
            "An account management token from `POST /v2/account-members/tokens`: acts for that account",
        ));
    }
    if op.customer_header {
        parameters.push(header(
            "X-Moltin-Customer-Token",
            "A customer token from `POST /v2/customers/tokens`: acts for that customer",
        ));
    }
    if op.product_includes {
        parameters.push(json!({
            "name": "include", "in": "query", "required": false, "schema": { "type": "string" },
            "description": "Comma-separated: `main_image`, `files`, `component_products` (a bundle's option products). Adds `included.main_images`, `included.files`, `included.component_products`; other values are ignored",
        }));
    }
    if op.shape == Shape::Binary {
        parameters.push(header(
            "If-None-Match",
            "The `ETag` of a copy the client has: the answer is then 304 without the content",
        ));
    }
    if op.multi_location_header {
        parameters.push(json!({
            "name": "EP-Inventories-Multi-Location",
            "in": "header",
            "required": false,
            "schema": { "enum": ["true", "false"] },
            "description": "`true`: the multi-location inventory API, whose stock and transactions nest their fields under `attributes` (the stock with `attributes.locations` by location slug); otherwise the basic API, with the fields at the top level of `data`",
        }));
    }
    if op.catalog_headers {
        parameters.push(header("EP-Channel", "Selects the catalog rule by channel"));
        parameters.push(header("EP-Context-Tag", "Selects the catalog rule by tag"));
        parameters.push(header("X-Moltin-Currency", "Prices in this currency"));
    }

    let mut responses = Map::new();
    for &status in op.statuses {
        let response = if status == 204 {
            json!({ "description": "No Content" })
        } else if status == 307 {
            json!({
                "description": "Temporary Redirect to the URL in `Location`",
                "headers": { "Location": { "schema": { "type": "string" } } },
            })
        } else if status == 304 {
            json!({ "description": "Not Modified: the client's copy (`If-None-Match`) is current" })
        } else if op.shape == Shape::Binary {
            let content: Map<String, Value> = op
                .binary_types
                .iter()
                .map(|t| {
                    (
                        (*t).to_owned(),
                        json!({ "schema": { "type": "string", "format": "binary" } }),
                    )
                })
                .collect();
            json!({ "description": "OK", "content": content })
        } else {
            let schema = match op.shape {
                Shape::One => json!({
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": schema_ref(op.schema),
                        "links": { "type": "object" },
                        "meta": { "type": "object" },
                        "included": { "type": "object" },
                    },
                }),
                Shape::Many => json!({
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": { "type": "array", "items": schema_ref(op.schema) },
                        "links": { "type": "object" },
                        "meta": { "type": "object" },
                        "included": { "type": "object" },
                    },
                }),
                Shape::Raw | Shape::Binary => schema_ref(op.schema),
            };
            json!({
                "description": if status == 201 { "Created" } else { "OK" },
                "content": { op.content_type: { "schema": schema } },
            })
        };
        responses.insert(status.to_string(), response);
    }
    let errors = match style {
        StatusStyle::Number => "Errors",
        StatusStyle::String => "ErrorsWithStringStatus",
    };
    responses.insert(
        "4XX".into(),
        json!({
            "description": "The request was refused: bad input, no or wrong token, not found, conflict",
            "content": { "application/json": { "schema": schema_ref(errors) } },
        }),
    );
    responses.insert(
        "503".into(),
        json!({
            "description": "The database cannot be reached or written just now; retry after `Retry-After` seconds",
            "headers": { "Retry-After": { "schema": { "type": "integer" } } },
            "content": { "application/json": { "schema": schema_ref(errors) } },
        }),
    );

    let mut description = op.description.unwrap_or_default().to_owned();
    if op.auth == Auth::Admin {
        description = format!("Needs a `client_credentials` (admin) token. {description}");
    }
    let mut v = json!({
        "tags": [op.tag],
        "summary": op.summary,
        "operationId": operation_id(op.method, &op.path),
        "parameters": parameters,
        "responses": responses,
        "security": if op.auth == Auth::Public { json!([]) } else { json!([{ "bearerAuth": [] }]) },
    });
    if !description.trim().is_empty() {
        v["description"] = json!(description.trim());
    }
    if let Some(schema) = &op.body {
        v["requestBody"] = json!({
            "required": op.body_required,
            "content": { op.body_type: { "schema": schema } },
        });
    }
    v
}

/// `get /v2/carts/{id}/items` → `get_v2_carts_id_items`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.extend(
            segment
                .chars()
                .filter(|c| !matches!(c, '{' | '}'))
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

/// `{"type": "string"}` → `{"type": ["string", "null"]}`.
fn nullable(mut schema: Value) -> Value {
    if let Some(Value::String(t)) = schema.get("type").cloned() {
        schema["type"] = json!([t, "null"]);
    }
    schema
}

/// A bundle's `components` in a product body.
fn components_schema() -> Value {
    json!({ "type": ["object", "null"], "additionalProperties": {
                "type": "object", "required": ["name", "options"],
                "properties": {
                    "name": { "type": "string" }, "min": { "type": "integer" }, "max": { "type": "integer" }, "sort_order": { "type": "integer" },
                    "options": { "type": "array", "items": {
                        "type": "object", "required": ["id"],
                        "properties": {
                            "id": { "type": "string" }, "type": { "const": "product" }, "quantity": { "type": "integer", "minimum": 1 },
                            "default": { "type": "boolean" }, "min": { "type": "integer" }, "max": { "type": "integer" },
                            "sort_order": { "type": "integer" },
                        },
                    } },
                },
            } })
}

/// A product's `build_rules` in a product body.
fn build_rules_schema() -> Value {
    let combinations = json!({ "type": ["array", "null"], "items": { "type": "array", "minItems": 1, "items": { "type": "string" } } });
    json!({ "type": ["object", "null"], "required": ["default"], "properties": {
        "default": { "enum": ["include", "exclude"] },
        "include": combinations,
        "exclude": combinations,
    } })
}

fn schemas() -> Value {
    let error = |status: Value| {
        json!({
            "type": "object",
            "required": ["errors"],
            "properties": {
                "errors": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["status", "title"],
                        "properties": {
                            "status": status,
                            "title": { "type": "string" },
                            "detail": { "type": "string" },
                            "source": { "type": "string" },
                            "meta": {},
                        },
                    },
                },
            },
        })
    };
    let resource = |kind: Option<&str>, props: Value| {
        let mut properties = json!({
            "id": { "type": "string" },
            "type": kind.map_or_else(|| json!({ "type": "string" }), |k| json!({ "const": k })),
            "meta": { "type": "object" },
            "links": { "type": "object" },
            "relationships": { "type": "object" },
        });
        // Optional attributes are written as `null` when unset.
        if let (Some(p), Value::Object(extra)) = (properties.as_object_mut(), props) {
            p.extend(extra.into_iter().map(|(k, v)| (k, nullable(v))));
        }
        json!({ "type": "object", "required": ["type"], "properties": properties })
    };
    // An object schema's properties with `extra`'s added.
    let with = |props: Value, extra: &Value| {
        let mut props = props;
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        props
    };
    let address = json!({
        "type": "object",
        "properties": {
            "first_name": { "type": "string" }, "last_name": { "type": "string" },
            "company_name": { "type": "string" }, "line_1": { "type": "string" }, "line_2": { "type": "string" },
            "city": { "type": "string" }, "postcode": { "type": "string" }, "county": { "type": "string" },
            "region": { "type": "string" }, "country": { "type": "string" },
            "phone_number": { "type": "string" }, "instructions": { "type": "string" },
        },
    });
    // `{"data": {<props>}}`, and the PCM form `{"data": {"type", "id"?, "attributes": {<props>}}}`.
    let data_body = |props: Value| {
        json!({
            "type": "object",
            "required": ["data"],
            "properties": { "data": { "type": "object", "properties": props } },
        })
    };
    let pcm_body = |kind: &str, props: Value| {
        data_body(json!({
            "type": { "const": kind },
            "id": { "type": "string" },
            "attributes": { "type": "object", "properties": props },
        }))
    };
    let s = || json!({ "type": "string" });
    let add_item = json!({
        "type": "object",
        "description": "`{type: cart_item, id | sku, quantity}` for a catalog product (a bundle with `bundle_configuration`, else its default options), `{type: custom_item, name, sku, quantity, price}` for anything else",
        "properties": {
            "type": { "type": "string" }, "id": s(), "sku": s(), "name": s(), "description": s(),
            "quantity": { "type": "integer", "minimum": 1 },
            "price": { "type": "object", "properties": { "amount": { "type": "integer" }, "includes_tax": { "type": "boolean" } } },
            "custom_inputs": { "type": "object" },
            "location": { "type": "string", "description": "The slug of the stock location the line draws from" },
            "bundle_configuration": {
                "type": "object",
                "description": "A bundle's selection, checked against its components (each problem a 400 naming its field); each selection is a line of its own, priced by the bundle's own price or the sum of the selected options' prices times their quantities. The line takes its components' stock.",
                "properties": { "selected_options": { "type": "object", "description": "Component key → option product id → quantity" } },
            },
        },
    });
    let bundle_line = json!({
        "bundle_configuration": { "type": "object", "properties": { "selected_options": { "type": "object" } } },
        "components": { "type": "object", "description": "A bundle line's selected options by component: `{name, options: [{id, type, quantity}]}`" },
    });
    let money = json!({ "type": "object", "properties": { "amount": { "type": "integer" }, "currency": { "type": "string" } } });
    let levels = json!({
        "type": "object",
        "required": ["available", "allocated", "total"],
        "properties": { "available": { "type": "integer" }, "allocated": { "type": "integer" }, "total": { "type": "integer" } },
    });
    json!({
        "Errors": error(json!({ "type": "integer" })),
        "ErrorsWithStringStatus": error(json!({ "type": "string" })),
        "Any": {},
        "MultiSearchRequest": {
            "type": "object",
            "required": ["searches"],
            "properties": {
                "searches": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 50,
                    "items": {
                        "type": "object",
                        "properties": {
                            "type": { "enum": ["search", "autocomplete"] },
                            "q": { "type": "string" },
                            "filter_by": { "type": "string" },
                            "facet_by": { "type": "string" },
                            "sort_by": { "type": "string" },
                            "max_facet_values": { "type": "integer", "minimum": 0, "maximum": 250 },
                            "highlight_full_fields": { "type": "string" },
                            "page": { "type": "integer", "minimum": 1 },
                            "per_page": { "type": "integer", "minimum": 0, "maximum": 100 },
                        },
                    },
                },
            },
        },
        "MultiSearchResponse": {
            "type": "object",
            "required": ["results"],
            "properties": {
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["found", "out_of", "page", "hits", "facet_counts"],
                        "properties": {
                            "type": { "enum": ["search", "autocomplete"] },
                            "found": { "type": "integer" },
                            "out_of": { "type": "integer" },
                            "page": { "type": "integer" },
                            "hits": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "document": { "type": "object" },
                                        "highlights": { "type": "array", "items": { "type": "object" } },
                                        "highlight": { "type": "object" },
                                        "text_match": { "type": "integer" },
                                    },
                                },
                            },
                            "facet_counts": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "field_name": { "type": "string" },
                                        "counts": { "type": "array", "items": { "type": "object" } },
                                        "stats": { "type": "object" },
                                    },
                                },
                            },
                            "search_time_ms": { "type": "integer" },
                            "search_cutoff": { "type": "boolean" },
                            "request_params": { "type": "object" },
                        },
                    },
                },
            },
        },
        "Text": { "type": "string" },
        "Health": { "type": "object" },
        "Resource": resource(None, json!({})),
        "Address": resource(Some("address"), json!({
            "name": s(), "first_name": s(), "last_name": s(), "company_name": s(), "line_1": s(), "line_2": s(),
            "city": s(), "postcode": s(), "county": s(), "region": s(), "country": s(), "phone_number": s(),
            "instructions": s(),
        })),
        "AddressBody": data_body(json!({
            "type": { "const": "address" }, "name": s(), "first_name": s(), "last_name": s(), "company_name": s(),
            "line_1": s(), "line_2": s(), "city": s(), "postcode": s(), "county": s(), "region": s(), "country": s(),
            "phone_number": s(), "instructions": s(),
        })),
        "Account": resource(Some("account"), json!({ "name": { "type": "string" }, "legal_name": { "type": "string" } })),
        "Integration": resource(Some("integration"), json!({
            "name": { "type": "string" }, "description": { "type": "string" }, "enabled": { "type": "boolean" },
            "integration_type": { "enum": ["webhook", "stomp"] },
            "observes": { "type": "array", "items": { "type": "string" } },
            "configuration": { "type": "object" },
        })),
        "IntegrationBody": data_body(json!({
            "type": { "const": "integration" }, "name": { "type": "string" }, "description": { "type": "string" },
            "enabled": { "type": "boolean" }, "integration_type": { "enum": ["webhook", "stomp", "aws_sqs"] },
            "observes": { "type": "array", "items": { "type": "string" } },
            "configuration": { "type": "object" },
        })),
        "IntegrationLog": resource(Some("integration-log"), json!({
            "succeeded": { "type": "boolean" }, "attempt": { "type": "integer" },
            "status_code": { "type": ["integer", "null"] }, "body": { "type": ["string", "null"] },
            "error_detail": { "type": ["string", "null"] }, "duration_ms": { "type": "integer" },
        })),
        "IntegrationJob": resource(Some("integration-job"), json!({
            "triggered_by": { "type": "string" }, "status": { "enum": ["pending", "delivered", "failed"] },
            "attempts": { "type": "integer" },
        })),
        "Customer": resource(Some("customer"), json!({ "name": { "type": "string" }, "email": { "type": "string" } })),
        "Cart": resource(Some("cart"), json!({ "name": { "type": "string" }, "description": { "type": "string" } })),
        "RulePromotion": resource(Some("rule_promotion"), json!({ "name": { "type": "string" }, "enabled": { "type": "boolean" }, "automatic": { "type": "boolean" }, "rule_set": { "type": "object" } })),
        "CustomDiscount": resource(Some("custom_discount"), json!({
            "external_id": { "type": "string" }, "discount_engine": { "type": "string" }, "discount_code": { "type": "string" },
            "description": { "type": "string" }, "amount": money,
        })),
        "PromotionJob": resource(Some("promotion_job"), json!({
            "job_type": { "enum": ["code_generate", "code_export"] }, "name": { "type": "string" },
            "status": { "type": "string" }, "rule_promotion_id": { "type": "string" },
        })),
        "JobFile": { "type": "object", "required": ["href"], "properties": { "href": { "type": "string" } } },
        "CartItem": resource(None, with(json!({ "quantity": { "type": "integer" }, "name": { "type": "string" }, "sku": { "type": "string" }, "location": { "type": "string" } }), &bundle_line)),
        "Order": resource(Some("order"), json!({
            "status": { "type": "string" }, "payment": { "type": "string" }, "shipping": { "type": "string" },
            "billing_address": address, "shipping_address": address,
        })),
        "OrderItem": resource(Some("order_item"), with(json!({
            "name": { "type": "string" }, "sku": { "type": "string" }, "quantity": { "type": "integer" },
            "product_id": { "type": "string" }, "location": { "type": "string" },
        }), &bundle_line)),
        "Transaction": resource(Some("transaction"), json!({
            "transaction_type": { "enum": ["purchase", "authorize", "capture", "refund", "purchase_setup", "authorize_setup"] },
            "status": { "type": "string" }, "gateway": { "type": "string" }, "reference": { "type": "string" },
            "amount": { "type": "integer" }, "refunded_amount": { "type": "integer" }, "currency": { "type": "string" },
        })),
        "Gateway": {
            "type": "object",
            "required": ["type", "slug", "enabled"],
            "properties": { "type": { "const": "gateway" }, "slug": { "type": "string" }, "name": { "type": "string" }, "enabled": { "type": "boolean" } },
        },
        "PaymentBody": data_body(json!({
            "gateway": { "type": "string" },
            "method": { "enum": ["purchase", "authorize", "purchase_setup", "authorize_setup"] },
            "amount": { "type": "integer", "minimum": 1 },
            "paymentmethod_meta": { "type": "object", "properties": { "custom_reference": s(), "name": s() } },
        })),
        "RefundBody": data_body(json!({ "amount": { "type": "integer", "minimum": 1 } })),
        "GatewayBody": data_body(json!({ "enabled": { "type": "boolean" } })),
        "OrderUpdateBody": data_body(json!({
            "type": { "const": "order" },
            "status": { "const": "cancelled" }, "shipping": { "const": "fulfilled" },
            "order_number": s(), "external_ref": s(), "shipping_address": address,
        })),
        "AccessToken": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in", "expires", "identifier"],
            "properties": {
                "access_token": { "type": "string" },
                "token_type": { "const": "Bearer" },
                "expires_in": { "type": "integer" },
                "expires": { "type": "integer" },
                "identifier": { "enum": ["client_credentials", "implicit"] },
            },
        },
        "TokenRequest": {
            "type": "object",
            "required": ["grant_type", "client_id"],
            "properties": {
                "grant_type": { "enum": ["client_credentials", "implicit"] },
                "client_id": { "type": "string" },
                "client_secret": { "type": "string" },
            },
        },
        "DataObject": {
            "type": "object",
            "required": ["data"],
            "properties": { "data": { "type": "object", "properties": { "type": { "type": "string" } } } },
        },
        "DataArray": {
            "type": "object",
            "required": ["data"],
            "properties": { "data": { "type": "array", "items": { "type": "object" } } },
        },
        "DataAny": { "type": "object", "required": ["data"], "properties": { "data": {} } },
        "QuantityBody": {
            "type": "object",
            "required": ["data"],
            "properties": { "data": { "type": "object", "properties": { "quantity": { "type": "integer", "minimum": 0 } } } },
        },
        "CheckoutBody": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": {
                    "type": "object",
                    "properties": {
                        "customer": {
                            "type": "object",
                            "description": "Who buys: `{id}` of a customer, or `{email, name}`",
                            "properties": { "id": { "type": "string" }, "email": { "type": "string" }, "name": { "type": "string" } },
                        },
                        "account": {
                            "type": "object",
                            "description": "For an account checkout: `{id, member_id}`",
                            "properties": { "id": { "type": "string" }, "member_id": { "type": "string" } },
                        },
                        "contact": { "type": "object", "properties": { "email": { "type": "string" }, "name": { "type": "string" } } },
                        "billing_address": address,
                        "shipping_address": address,
                    },
                },
            },
        },
        "Money": money,
        "CartBody": data_body(json!({
            "name": s(), "description": s(),
            "contact": { "type": "object", "properties": { "email": s() } },
            "discount_settings": { "type": "object" }, "inventory_settings": { "type": "object" },
            "custom_attributes": { "type": "object" },
        })),
        "AddItemsBody": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": { "anyOf": [add_item, { "type": "array", "items": add_item }] },
                "options": { "type": "object", "properties": { "add_all_or_nothing": { "type": "boolean" } } },
            },
        },
        "CustomDiscountBody": data_body(json!({
            "type": { "const": "custom_discount" }, "external_id": s(), "discount_engine": s(),
            "description": s(), "discount_code": s(),
            "amount": { "description": "Negative, in minor units (or `{amount, currency}`)", "anyOf": [{ "type": "integer", "exclusiveMaximum": 0 }, { "type": "object" }] },
        })),
        "CustomDiscountsBody": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": { "anyOf": [{ "type": "object" }, { "type": "array", "items": { "type": "object" } }] },
                "options": { "type": "object", "properties": { "add_all_or_nothing": { "type": "boolean" } } },
            },
        },
        "TaxItemBody": data_body(json!({
            "type": { "const": "tax_item" }, "name": s(), "code": s(), "jurisdiction": s(),
            "rate": { "type": "number" }, "amount": { "type": "integer" },
        })),
        "CustomerBody": data_body(json!({
            "type": { "const": "customer" }, "name": s(), "email": s(), "password": s(), "external_ref": s(),
        })),
        "CustomerTokenBody": data_body(json!({
            "type": { "const": "token" }, "email": s(), "password": s(), "authentication_mechanism": s(),
        })),
        "AccountBody": data_body(json!({
            "type": { "const": "account" }, "name": s(), "legal_name": s(), "registration_id": s(),
            "external_ref": s(), "parent_id": s(),
        })),
        "StockBody": data_body(json!({ "type": { "const": "stock" }, "quantity": { "type": "integer", "minimum": 0 } })),
        "Stock": {
            "type": "object",
            "required": ["type", "id"],
            "description": "The basic shape has `total`, `available` and `allocated` at the top level; with `EP-Inventories-Multi-Location: true` they are under `attributes`, with `attributes.locations` keyed by location slug",
            "properties": {
                "type": { "const": "stock" },
                "id": s(),
                "total": { "type": "integer" }, "available": { "type": "integer" }, "allocated": { "type": "integer" },
                "attributes": {
                    "type": "object",
                    "properties": {
                        "total": { "type": "integer" }, "available": { "type": "integer" }, "allocated": { "type": "integer" },
                        "locations": { "type": "object", "additionalProperties": levels },
                    },
                },
                "meta": { "type": "object", "properties": { "stock_id": s(), "timestamps": { "type": "object" } } },
                "links": { "type": "object" },
            },
        },
        "StockTransaction": {
            "type": "object",
            "required": ["type", "id"],
            "description": "The basic shape has its fields at the top level; with `EP-Inventories-Multi-Location: true` they are under `attributes`",
            "properties": {
                "type": { "const": "stock-transaction" },
                "id": s(),
                "action": { "enum": ["increment", "decrement", "allocate", "deallocate", "set"] },
                "product_id": s(), "quantity": { "type": "integer" }, "location": s(),
                "attributes": {
                    "type": "object",
                    "properties": {
                        "action": { "enum": ["increment", "decrement", "allocate", "deallocate", "set"] },
                        "product_id": s(), "quantity": { "type": "integer" }, "location": s(),
                    },
                },
                "meta": { "type": "object" },
                "links": { "type": "object" },
            },
        },
        "StockCreateBody": pcm_body("stock", json!({
            "available": { "type": "integer", "minimum": 0 },
            "locations": { "type": "object", "additionalProperties": { "type": "object", "required": ["available"], "properties": { "available": { "type": "integer", "minimum": 0 } } } },
        })),
        "StockUpdateBody": pcm_body("stock", json!({
            "locations": { "type": "object", "additionalProperties": { "type": ["object", "null"], "properties": { "available": { "type": "integer", "minimum": 0 } } } },
        })),
        "StockTransactionBody": {
            "type": "object",
            "required": ["data"],
            "description": "Basic: `{data: {type, action, quantity}}`; with `EP-Inventories-Multi-Location: true`: `{data: {type, attributes: {action, quantity, location}}}` (`set` allowed)",
            "properties": {
                "data": {
                    "type": "object",
                    "properties": {
                        "type": { "const": "stock-transaction" },
                        "action": { "enum": ["increment", "decrement", "allocate", "deallocate"] },
                        "quantity": { "type": "integer", "minimum": 1 },
                        "attributes": {
                            "type": "object",
                            "properties": {
                                "action": { "enum": ["increment", "decrement", "allocate", "deallocate", "set"] },
                                "quantity": { "type": "integer", "minimum": 0 },
                                "location": s(),
                                "product_id": s(),
                            },
                        },
                    },
                },
            },
        },
        "Location": {
            "type": "object",
            "required": ["type", "id", "attributes"],
            "properties": {
                "type": { "const": "inventory_location" },
                "id": s(),
                "attributes": {
                    "type": "object",
                    "required": ["name", "slug"],
                    "properties": {
                        "name": s(), "slug": s(), "external_ref": s(), "description": s(),
                        "address": { "type": "array", "items": s() },
                        "geolocation": { "type": "object", "properties": { "lat": { "type": "number" }, "lon": { "type": "number" } } },
                    },
                },
                "meta": { "type": "object" },
                "links": { "type": "object" },
            },
        },
        "LocationBody": pcm_body("inventory_location", json!({
            "name": { "type": "string", "minLength": 3, "maxLength": 1024 },
            "slug": { "type": "string", "minLength": 1, "maxLength": 128 },
            "external_ref": { "type": ["string", "null"] }, "description": { "type": ["string", "null"] },
            "address": { "type": ["array", "null"], "items": s() },
            "geolocation": { "type": ["object", "null"], "properties": { "lat": { "type": "number" }, "lon": { "type": "number" } } },
        })),
        "ProductBody": pcm_body("product", json!({
            "name": s(), "sku": s(), "slug": s(), "description": s(), "status": { "enum": ["live", "draft"] },
            "commodity_type": { "enum": ["physical", "digital"] }, "upc_ean": s(),
            "components": components_schema(),
            "build_rules": build_rules_schema(),
        })),
        "ProductReferences": {
            "type": "object",
            "required": ["data"],
            "properties": { "data": { "type": "array", "items": {
                "type": "object", "properties": { "type": { "const": "product" }, "id": s() },
            } } },
        },
        "BundleConfigurationBody": {
            "type": "object",
            "required": ["data"],
            "properties": { "data": {
                "type": "object", "required": ["selected_options"],
                "properties": { "selected_options": { "type": "object", "additionalProperties": {
                    "type": "object", "additionalProperties": { "type": "integer", "minimum": 1 },
                } } },
            } },
        },
        "File": resource(Some("file"), json!({
            "file_name": s(), "mime_type": s(), "file_size": { "type": "integer" }, "public": { "type": "boolean" },
            "link": { "type": "object", "required": ["href"], "properties": { "href": s() } },
        })),
        "FileUpload": {
            "type": "object",
            "properties": {
                "file": { "type": "string", "format": "binary", "description": "The file's bytes: PNG, JPEG, GIF, WebP or PDF" },
                "file_location": { "type": "string", "description": "Instead of `file`: the http(s) URL where the file is kept" },
                "file_name": s(),
                "public": { "type": "boolean" },
            },
        },
        "FileReferences": {
            "type": "object",
            "required": ["data"],
            "properties": { "data": { "type": "array", "items": {
                "type": "object", "required": ["type", "id"],
                "properties": { "type": { "const": "file" }, "id": s() },
            } } },
        },
        "FileReferenceBody": data_body(json!({ "type": { "const": "file" }, "id": s() })),
        "FileReferencesBody": {
            "type": "object",
            "required": ["data"],
            "properties": { "data": { "type": "array", "items": {
                "type": "object", "properties": { "type": { "const": "file" }, "id": s() },
            } } },
        },
        "VariationBody": pcm_body("product-variation", json!({ "name": s(), "sort_order": { "type": ["integer", "null"] } })),
        "VariationOptionBody": pcm_body("product-variation-option", json!({
            "name": s(), "description": s(), "sort_order": { "type": ["integer", "null"] },
        })),
        "ModifierBody": pcm_body("product-variation-modifier", json!({
            "type": s(), "value": s(), "seek": s(), "set": s(), "reference_name": s(),
        })),
        "VariationReferences": {
            "type": "object",
            "required": ["data"],
            "properties": { "data": { "type": "array", "items": {
                "type": "object", "properties": { "type": { "const": "product-variation" }, "id": s() },
            } } },
        },
        "PimJob": resource(Some("pim-job"), json!({
            "attributes": { "type": "object", "properties": { "status": s(), "type": s() } },
        })),
        "HierarchyBody": pcm_body("hierarchy", json!({ "name": s(), "description": s(), "slug": s() })),
        "NodeBody": pcm_body("node", json!({ "name": s(), "description": s(), "slug": s() })),
        "PricebookBody": pcm_body("pricebook", json!({ "name": s(), "description": s() })),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::routes;

    /// Every route a server with the emulator on serves.
    fn all_routes() -> routes::Routes {
        routes::all().merge(routes::emulator::router())
    }

    /// The document of every registered route, as a server serves it.
    fn document() -> Value {
        let routes = all_routes();
        let served = ApiDocument::new(routes.paths().iter().map(|p| (p.path.as_str(), p.style)));
        super::document(&served.styles)
    }

    fn registered() -> BTreeSet<String> {
        all_routes()
            .paths()
            .iter()
            .map(|p| openapi_path(&p.path))
            .collect()
    }

    fn documented() -> BTreeSet<String> {
        operations().into_iter().map(|op| op.path).collect()
    }

    #[test]
    fn every_registered_path_is_documented() {
        let missing: Vec<String> = registered().difference(&documented()).cloned().collect();
        assert!(
            missing.is_empty(),
            "these routes are served but not in the OpenAPI document; add them to \
             kassa_api::openapi::operations(): {missing:#?}"
        );
    }

    #[test]
    fn every_documented_path_is_registered() {
        let extra: Vec<String> = documented().difference(&registered()).cloned().collect();
        assert!(
            extra.is_empty(),
            "these paths are in the OpenAPI document but no router serves them: {extra:#?}"
        );
    }

    #[test]
    fn operations_are_unique_and_name_their_path_parameters() {
        let doc = document();
        let mut ids = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for op in operations() {
            assert!(
                seen.insert((op.method, op.path.clone())),
                "documented twice: {} {}",
                op.method,
                op.path
            );
        }
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap().to_owned();
                assert!(ids.insert(id.clone()), "operationId {id} is not unique");
                for name in path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                {
                    assert!(
                        op["parameters"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|p| p["name"] == name && p["in"] == "path"),
                        "{method} {path} does not declare its path parameter {name}"
                    );
                }
                assert!(
                    op["responses"]["4XX"].is_object() && op["responses"]["503"].is_object(),
                    "{method} {path} has no error response, or none for a database that is away"
                );
            }
        }
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "unknown schema {name}"
            );
        }
    }

    #[test]
    fn error_status_type_follows_the_router() {
        let doc = document();
        let error_schema = |method: &str, path: &str| {
            doc["paths"][path][method]["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            error_schema("post", "/v2/carts/{id}/checkout"),
            "#/components/schemas/Errors"
        );
        assert_eq!(
            error_schema("get", "/v2/accounts"),
            "#/components/schemas/ErrorsWithStringStatus"
        );
        assert_eq!(
            error_schema("get", "/pcm/products"),
            "#/components/schemas/ErrorsWithStringStatus"
        );
    }
}
