//! `POST /v2/carts/{id}/checkout` in its four modes, its validation and access rules, the
//! `Idempotency-Key` mechanism, concurrency, and `GET /v2/orders/{id}`.

use std::collections::HashSet;
use std::sync::Arc;

use crate::backend_tests;
use crate::fixtures::{
    AccountShopper, Customer, account, hierarchy, join, login, price, pricebook, product, publish,
    published_catalog, realm, usd, user,
};
use crate::helpers::{AM, Backend, CT, Resp, TestApp, req};
use kassa_core::inventory::{Stock, StockLevels};
use kassa_core::orders::{ClaimOutcome, IdempotencyClaim, IdempotentResponse, request_hash};
use kassa_core::time::now_millis;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

backend_tests!(
    account_token_checkout_reproduces_the_example,
    admin_account_customer_and_guest_modes,
    validation_reports_every_problem,
    blank_optional_fields_are_not_given,
    cart_rules_and_access,
    idempotency_replays_mismatches_and_in_flight,
    fifty_concurrent_checkouts,
    final_stock_check,
    place_order_is_all_or_nothing,
    product_lines_are_repriced_from_the_catalog,
);

async fn checkout(app: &TestApp, cart: &str, bearer: &str, headers: &[(&str, &str)], body: Value) -> Resp {
    req(
        app,
        Method::POST,
        &format!("/v2/carts/{cart}/checkout"),
        bearer,
        headers,
        Some(body),
    )
    .await
}

async fn get_order(app: &TestApp, id: &str, bearer: &str, headers: &[(&str, &str)]) -> Resp {
    req(
        app,
        Method::GET,
        &format!("/v2/orders/{id}"),
        bearer,
        headers,
        None,
    )
    .await
}

fn billing() -> Value {
    json!({"first_name": "John", "last_name": "Doe", "company_name": "ElasticPath", "line_1": "1234 Disney Drive",
           "line_2": "Disney Resort", "city": "Anaheim", "county": "Orange", "region": "CA", "postcode": "92802",
           "country": "US"})
}

fn shipping() -> Value {
    json!({"first_name": "John", "last_name": "Doe", "company_name": "ElasticPath", "phone_number": "(555) 555-1234",
           "line_1": "1234 Disney Drive", "line_2": "Disney Resort", "city": "Anaheim", "county": "Orange",
           "region": "CA", "postcode": "92802", "country": "US", "instructions": "Leave in porch"})
}

/// EP's "Create Checkout with Account Management Authentication Token" request example.
fn account_token_example() -> Value {
    json!({"data": {"order_number": "order-1234", "external_ref": "e-123456789",
                    "contact": {"email": "john@email.com", "name": "John Doe"},
                    "billing_address": billing(), "shipping_address": shipping()}})
}

fn guest(email: &str) -> Value {
    json!({"data": {"customer": {"name": "John Doe", "email": email},
                    "billing_address": billing(), "shipping_address": shipping()}})
}

/// Adds a custom item; returns the line id.
async fn add_custom(
    app: &TestApp,
    token: &str,
    headers: &[(&str, &str)],
    cart: &str,
    sku: &str,
    qty: i64,
    amount: i64,
) -> String {
    let r = req(
        app,
        Method::POST,
        &format!("/v2/carts/{cart}/items"),
        token,
        headers,
        Some(
            json!({"data": {"type": "custom_item", "name": format!("Item {sku}"), "sku": sku, "quantity": qty,
                             "price": {"amount": amount, "includes_tax": false}}}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku"] == sku)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A cart with two lines (2 × 1000 taxed at 20 %, 1 × 550 untaxed): 2550 net, 400 tax.
async fn filled_cart(app: &TestApp, admin: &str, cart: &str) -> (String, String) {
    let a = add_custom(app, admin, &[], cart, "MUG", 2, 1000).await;
    let b = add_custom(app, admin, &[], cart, "PEN", 1, 550).await;
    let r = app
        .post(
            &format!("/v2/carts/{cart}/items/{a}/taxes"),
            admin,
            json!({"data": {"type": "tax_item", "name": "VAT", "jurisdiction": "UK", "code": "VAT20", "rate": 0.2}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    (a, b)
}

fn amount(v: &Value) -> i64 {
    v["amount"].as_i64().unwrap_or_else(|| panic!("no amount: {v}"))
}

fn sources(r: &Resp) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors: {}", r.body))
        .iter()
        .map(|e| e["source"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn account_token_checkout_reproduces_the_example(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let AccountShopper {
        account,
        member,
        token,
    } = app.account_shopper(&admin, "Pawnee", "john@email.com").await;
    let implicit = app.implicit_token().await;
    let (mug, pen) = filled_cart(&app, &admin, "c1").await;
    let r = checkout(&app, "c1", &implicit, &[(AM, &token)], account_token_example()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["type"], "order");
    assert!(Uuid::parse_str(d["id"].as_str().unwrap()).is_ok());
    assert_eq!(
        (&d["status"], &d["payment"], &d["shipping"]),
        (&json!("incomplete"), &json!("unpaid"), &json!("unfulfilled"))
    );
    assert_eq!(d["order_number"], "order-1234");
    assert_eq!(d["external_ref"], "e-123456789");
    assert_eq!(d["anonymized"], false);
    assert_eq!(
        d["contact"],
        json!({"name": "John Doe", "email": "john@email.com"})
    );
    assert_eq!(d["billing_address"], billing());
    assert_eq!(d["shipping_address"], shipping());
    assert!(d.get("customer").is_none());
    assert_eq!(
        d["relationships"]["account"]["data"],
        json!({"type": "account", "id": account})
    );
    assert_eq!(
        d["relationships"]["account_member"]["data"],
        json!({"type": "account_member", "id": member})
    );
    let dp = &d["meta"]["display_price"];
    assert_eq!(amount(&dp["without_tax"]), 2550);
    assert_eq!(amount(&dp["tax"]), 400);
    assert_eq!(amount(&dp["with_tax"]), 2950);
    assert_eq!(amount(&dp["balance_owing"]), 2950);
    assert_eq!(amount(&dp["without_discount"]), 2550);
    for zero in ["discount", "paid", "authorized", "shipping", "shipping_discount"] {
        assert_eq!(amount(&dp[zero]), 0, "{zero}");
    }
    assert_eq!(dp["with_tax"]["currency"], "USD");
    assert!(dp["with_tax"]["formatted"].is_string());
    assert!(d["meta"]["timestamps"]["created_at"].is_string());
    assert!(d["meta"]["timestamps"]["updated_at"].is_string());
    let rel_items = d["relationships"]["items"]["data"].as_array().unwrap();
    assert_eq!(rel_items.len(), 2);
    assert!(rel_items.iter().all(|i| i["type"] == "item"));
    let items = r.body["included"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items.iter().map(|i| i["id"].clone()).collect::<Vec<_>>(),
        rel_items.iter().map(|i| i["id"].clone()).collect::<Vec<_>>()
    );
    let m = &items[0];
    assert_eq!(m["type"], "order_item");
    assert_eq!(
        (m["sku"].as_str(), m["quantity"].as_i64()),
        (Some("MUG"), Some(2))
    );
    assert_eq!(m["relationships"]["cart_item"]["data"]["id"], mug.as_str());
    assert_eq!(items[1]["relationships"]["cart_item"]["data"]["id"], pen.as_str());
    assert_eq!(amount(&m["unit_price"]), 1000);
    assert_eq!(amount(&m["value"]), 2000);
    assert_eq!(amount(&m["meta"]["display_price"]["with_tax"]["value"]), 2400);
    assert_eq!(amount(&m["meta"]["display_price"]["tax"]["value"]), 400);
    assert_eq!(amount(&m["meta"]["display_price"]["with_tax"]["unit"]), 1200);
    assert_eq!(m["relationships"]["taxes"]["data"].as_array().unwrap().len(), 1);
    assert_eq!(items[1]["relationships"]["taxes"]["data"], json!([]));

    // Read back: the same body, items only when included; tax items on request.
    let id = d["id"].as_str().unwrap();
    let back = get_order(&app, &format!("{id}?include=items"), &implicit, &[(AM, &token)]).await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(back.body, r.body);
    let plain = get_order(&app, id, &admin, &[]).await;
    assert_eq!(plain.body["data"], r.body["data"]);
    assert!(plain.body.get("included").is_none());
    let taxes = get_order(&app, &format!("{id}?include=tax_items"), &admin, &[]).await;
    assert_eq!(taxes.body["included"]["tax_items"][0]["name"], "VAT");

    // The cart is left as it was and checks out again into a new order.
    let cart = app.get("/v2/carts/c1/items", &admin).await;
    assert_eq!(cart.body["data"].as_array().unwrap().len(), 2);
    let again = checkout(&app, "c1", &implicit, &[(AM, &token)], account_token_example()).await;
    assert_eq!(again.status, 201);
    assert_ne!(again.body["data"]["id"], d["id"]);
    assert_eq!(
        again.body["data"]["meta"]["display_price"]["with_tax"],
        dp["with_tax"]
    );
}

async fn admin_account_customer_and_guest_modes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let AccountShopper {
        account: account_id,
        member,
        token,
    } = app.account_shopper(&admin, "Pawnee", "ron@swanson.com").await;
    filled_cart(&app, &admin, "c").await;
    let addresses = |mut body: Value| {
        body["data"]["billing_address"] = billing();
        body["data"]["shipping_address"] = shipping();
        body
    };

    // Admin account checkout.
    let body = addresses(
        json!({"data": {"account": {"id": account_id, "member_id": member},
                                         "contact": {"name": "Ron", "email": "ron@swanson.com"}}}),
    );
    let r = checkout(&app, "c", &admin, &[], body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["data"]["relationships"]["account"]["data"]["id"],
        account_id.as_str()
    );
    assert_eq!(
        r.body["data"]["relationships"]["account_member"]["data"]["id"],
        member.as_str()
    );
    let admin_order = r.body["data"]["id"].as_str().unwrap().to_owned();
    // ... not with an implicit token, and not for a member outside the account.
    assert_eq!(checkout(&app, "c", &implicit, &[], body).await.status, 403);
    let other = account(&app, &admin, "Eagleton").await;
    let r = checkout(
        &app,
        "c",
        &admin,
        &[],
        addresses(json!({"data": {"account": {"id": other, "member_id": member}, "contact": {"name": "Ron", "email": "ron@swanson.com"}}})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(sources(&r), ["data.account.member_id"]);
    // The account's shopper sees the order; a guest does not.
    assert_eq!(
        get_order(&app, &admin_order, &implicit, &[(AM, &token)])
            .await
            .status,
        200
    );
    assert_eq!(get_order(&app, &admin_order, &implicit, &[]).await.status, 404);

    // Customer id checkout: the customer's name and email are copied.
    let Customer {
        id: customer,
        token: ctoken,
    } = app.customer(&admin, "leslie@pawnee.gov").await;
    let r = checkout(
        &app,
        "c",
        &implicit,
        &[],
        addresses(json!({"data": {"customer": {"id": customer}}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["data"]["customer"],
        json!({"id": customer, "name": "Leslie Knope", "email": "leslie@pawnee.gov"})
    );
    assert_eq!(
        r.body["data"]["relationships"]["customer"]["data"],
        json!({"type": "customer", "id": customer})
    );
    let by_id = r.body["data"]["id"].as_str().unwrap().to_owned();
    // An unknown customer id is refused.
    let r = checkout(
        &app,
        "c",
        &implicit,
        &[],
        addresses(json!({"data": {"customer": {"id": Uuid::new_v4()}}})),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), sources(&r)),
        (400, vec!["data.customer.id".to_owned()])
    );

    // Customer token checkout, without a customer in the body.
    let r = checkout(
        &app,
        "c",
        &implicit,
        &[(CT, &ctoken)],
        addresses(json!({"data": {}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["customer"]["id"], customer.as_str());
    let by_token = r.body["data"]["id"].as_str().unwrap().to_owned();
    // ... and not for another customer.
    let r = checkout(
        &app,
        "c",
        &implicit,
        &[(CT, &ctoken)],
        addresses(json!({"data": {"customer": {"id": Uuid::new_v4()}}})),
    )
    .await;
    assert_eq!(r.status, 403);

    // Guest checkout.
    let r = checkout(&app, "c", &implicit, &[], guest("april@ludgate.com")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["data"]["customer"],
        json!({"name": "John Doe", "email": "april@ludgate.com"})
    );
    assert!(r.body["data"]["relationships"].get("customer").is_none());
    let by_guest = r.body["data"]["id"].as_str().unwrap().to_owned();

    // Who sees which order.
    for id in [&by_id, &by_token] {
        assert_eq!(get_order(&app, id, &implicit, &[(CT, &ctoken)]).await.status, 200);
        assert_eq!(get_order(&app, id, &implicit, &[(AM, &token)]).await.status, 404);
    }
    assert_eq!(
        get_order(&app, &by_guest, &implicit, &[(CT, &ctoken)])
            .await
            .status,
        404
    );
    assert_eq!(get_order(&app, &by_guest, &implicit, &[]).await.status, 404);
    assert_eq!(get_order(&app, &by_guest, &admin, &[]).await.status, 200);
    assert_eq!(
        get_order(&app, &Uuid::new_v4().to_string(), &admin, &[])
            .await
            .status,
        404
    );
    assert_eq!(get_order(&app, "not-a-uuid", &admin, &[]).await.status, 404);
}

async fn validation_reports_every_problem(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let AccountShopper { token, .. } = app.account_shopper(&admin, "Pawnee", "john@email.com").await;
    filled_cart(&app, &admin, "v").await;

    // Account checkout: contact and both addresses, all at once.
    let r = checkout(
        &app,
        "v",
        &implicit,
        &[(AM, &token)],
        json!({"data": {"contact": {"email": "john..doe@email.com"},
                        "billing_address": {"first_name": "John", "line_1": 5, "country": "US"},
                        "shipping_address": {"first_name": "", "last_name": "Doe", "line_1": "x", "postcode": "1",
                                             "country": "US", "county": "Orange", "instructions": "x".repeat(1025)},
                        "external_ref": "e".repeat(65)}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let mut got = sources(&r);
    got.sort();
    let mut want = vec![
        "data.contact.name",
        "data.contact.email",
        "data.billing_address.last_name",
        "data.billing_address.line_1",
        "data.billing_address.postcode",
        "data.billing_address.region",
        "data.shipping_address.first_name",
        "data.shipping_address.instructions",
        "data.external_ref",
    ];
    want.sort();
    assert_eq!(got, want);
    let email = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == "data.contact.email")
        .unwrap()
        .clone();
    assert_eq!(
        (email["title"].as_str(), email["detail"].as_str()),
        (Some("format"), Some("Does not match format 'email'"))
    );
    // No contact at all.
    let mut body = account_token_example();
    body["data"].as_object_mut().unwrap().remove("contact");
    let r = checkout(&app, "v", &implicit, &[(AM, &token)], body).await;
    assert_eq!(sources(&r), ["data.contact"]);

    // Guest: EP's documented email error; missing addresses.
    let r = checkout(&app, "v", &implicit, &[], guest(".john@x.com")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.customer.email");
    assert_eq!(r.error()["title"], "format");
    let r = checkout(
        &app,
        "v",
        &implicit,
        &[],
        json!({"data": {"customer": {"name": "J", "email": "j@x.com"}}}),
    )
    .await;
    assert_eq!(sources(&r), ["data.billing_address", "data.shipping_address"]);
    // A body that fits no mode names what is missing.
    let r = checkout(
        &app,
        "v",
        &implicit,
        &[],
        json!({"data": {"billing_address": billing(), "shipping_address": shipping()}}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(sources(&r), ["data.customer"]);
    let r = checkout(&app, "v", &implicit, &[], json!({"nodata": true})).await;
    assert_eq!(r.status, 400);
    // Both shopper tokens at once.
    let Customer { token: ctoken, .. } = app.customer(&admin, "leslie@pawnee.gov").await;
    let r = checkout(
        &app,
        "v",
        &implicit,
        &[(AM, &token), (CT, &ctoken)],
        account_token_example(),
    )
    .await;
    assert_eq!(r.status, 400);
    // The county alone satisfies "region or county"; optional fields may be left out.
    let mut body = guest("j@x.com");
    body["data"]["billing_address"] = json!({"first_name": "J", "last_name": "D", "line_1": "1 Main St", "postcode": "1", "county": "Orange", "country": "US"});
    let r = checkout(&app, "v", &implicit, &[], body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["billing_address"], body["data"]["billing_address"]);
}

/// A checkout form sends an empty input as `""`: an optional field sent blank counts as not given
/// (the order leaves it out), while a blank required field is still refused.
async fn blank_optional_fields_are_not_given(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    filled_cart(&app, &admin, "blank").await;
    let blank_optional = json!({"first_name": "Ada", "last_name": "Lovelace", "company_name": "", "line_1": "1 Main St",
                                "line_2": "", "city": " ", "postcode": "N1", "county": "", "region": "London",
                                "country": "GB", "phone_number": "", "instructions": ""});
    let body = json!({"data": {"customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
                               "contact": {"name": "", "email": ""},
                               "billing_address": blank_optional, "shipping_address": blank_optional,
                               "order_number": "", "external_ref": ""}});
    let r = checkout(&app, "blank", &implicit, &[], body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let given = json!({"first_name": "Ada", "last_name": "Lovelace", "line_1": "1 Main St", "postcode": "N1",
                       "region": "London", "country": "GB"});
    assert_eq!(r.body["data"]["billing_address"], given);
    assert_eq!(r.body["data"]["shipping_address"], given);
    assert!(
        r.body["data"].get("order_number").is_none_or(Value::is_null),
        "{}",
        r.body
    );
    assert!(
        r.body["data"].get("external_ref").is_none_or(Value::is_null),
        "{}",
        r.body
    );

    // Blank required fields, and a region and county that are both blank, are refused, all at once.
    let mut refused = body;
    refused["data"]["billing_address"]["first_name"] = json!("");
    refused["data"]["billing_address"]["region"] = json!(" ");
    refused["data"]["shipping_address"]["line_1"] = json!("");
    refused["data"]["customer"]["email"] = json!("");
    let r = checkout(&app, "blank", &implicit, &[], refused).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let mut got = sources(&r);
    got.sort();
    assert_eq!(
        got,
        [
            "data.billing_address.first_name",
            "data.billing_address.region",
            "data.customer.email",
            "data.shipping_address.line_1",
        ]
    );
}

async fn cart_rules_and_access(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let AccountShopper {
        account: account_id,
        token,
        ..
    } = app.account_shopper(&admin, "Pawnee", "john@email.com").await;

    // A missing cart is 404 and is not created; an empty one is 400.
    let r = checkout(&app, "nope", &implicit, &[], guest("j@x.com")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["detail"], "Cart not found");
    assert_eq!(app.get("/v2/carts/empty", &admin).await.status, 200);
    let r = checkout(&app, "empty", &implicit, &[], guest("j@x.com")).await;
    assert_eq!(r.status, 400);
    assert!(r.error()["detail"].as_str().unwrap().contains("empty"));
    let r = checkout(&app, "bad id!", &implicit, &[], guest("j@x.com")).await;
    assert_eq!(r.status, 400);

    // A preview cart cannot be checked out.
    filled_cart(&app, &admin, "preview").await;
    let store = app.store().await;
    let mut cart = store.cart("preview", now_millis()).await.unwrap().unwrap();
    cart.snapshot_date = Some(now_millis() + 86_400_000);
    assert!(store.update_cart(cart, Vec::new()).await.unwrap());
    let r = checkout(&app, "preview", &implicit, &[], guest("j@x.com")).await;
    assert_eq!(r.status, 400);
    assert!(r.error()["detail"].as_str().unwrap().contains("snapshot_date"));

    // An account's cart: only that account may check it out.
    filled_cart(&app, &admin, "acct").await;
    let r = app
        .post(
            "/v2/carts/acct/relationships/accounts",
            &admin,
            json!({"data": [{"type": "account", "id": account_id}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, _, other_token) = {
        let realm = realm(&app, &admin).await;
        let m = user(&app, &admin, &realm, "tom@haverford.com", "pa55word-x").await;
        let a = account(&app, &admin, "Entertainment 720").await;
        assert_eq!(join(&app, &admin, &a, &m).await.status, 201);
        let r = login(&app, &realm, "tom@haverford.com", "pa55word-x").await;
        (a, m, r.body["data"][0]["token"].as_str().unwrap().to_owned())
    };
    let r = checkout(
        &app,
        "acct",
        &implicit,
        &[(AM, &other_token)],
        account_token_example(),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = checkout(&app, "acct", &implicit, &[], guest("j@x.com")).await;
    assert_eq!(r.status, 403);
    let r = checkout(&app, "acct", &implicit, &[(AM, &token)], account_token_example()).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn idempotency_replays_mismatches_and_in_flight(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    filled_cart(&app, &admin, "k").await;
    let key = ("Idempotency-Key", "order-attempt-1");

    let first = checkout(&app, "k", &implicit, &[key], guest("j@x.com")).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(first.headers.get("idempotent-replayed").is_none());
    // Same key, same body (in another key order): the first response, nothing new.
    let body: Value = serde_json::from_str(
        &r#"{"data":{"shipping_address":S,"billing_address":B,"customer":{"email":"j@x.com","name":"John Doe"}}}"#
            .replace('S', &shipping().to_string())
            .replace('B', &billing().to_string()),
    )
    .unwrap();
    let replay = checkout(&app, "k", &implicit, &[key], body).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    // Even after the cart changed: the key replays the first order.
    add_custom(&app, &admin, &[], "k", "EXTRA", 1, 1).await;
    let replay = checkout(&app, "k", &implicit, &[key], guest("j@x.com")).await;
    assert_eq!(replay.body, first.body);
    // Same key, different body.
    let r = checkout(&app, "k", &implicit, &[key], guest("other@x.com")).await;
    assert_eq!(r.status, 422, "{}", r.body);
    // Another caller's scope does not see the replay: a new order.
    let Customer { token: ctoken, .. } = app.customer(&admin, "leslie@pawnee.gov").await;
    let mine = checkout(&app, "k", &implicit, &[key, (CT, &ctoken)], guest("j@x.com")).await;
    assert_eq!(mine.status, 201, "{}", mine.body);
    assert_ne!(mine.body["data"]["id"], first.body["data"]["id"]);

    // A failed request gives its key up: fixed and retried, it runs.
    let failed = checkout(
        &app,
        "nope",
        &implicit,
        &[("Idempotency-Key", "k2")],
        guest("j@x.com"),
    )
    .await;
    assert_eq!(failed.status, 404);
    filled_cart(&app, &admin, "nope").await;
    let r = checkout(
        &app,
        "nope",
        &implicit,
        &[("Idempotency-Key", "k2")],
        guest("j@x.com"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // A first request still in flight: 409 (after a short wait for it).
    let store = app.store().await;
    let body = guest("j@x.com");
    let claim = IdempotencyClaim {
        scope: format!("{}|-", app.client_id),
        key: "k3".into(),
        request_hash: request_hash("POST", "/v2/carts/k/checkout", &body),
        now: now_millis(),
    };
    assert_eq!(
        store.claim_idempotency_key(claim.clone()).await.unwrap(),
        ClaimOutcome::Claimed
    );
    assert_eq!(
        store.claim_idempotency_key(claim).await.unwrap(),
        ClaimOutcome::InFlight
    );
    let r = checkout(&app, "k", &implicit, &[("Idempotency-Key", "k3")], body).await;
    assert_eq!(r.status, 409, "{}", r.body);
    // A blank or overlong key is refused.
    let long = "x".repeat(256);
    let r = checkout(
        &app,
        "k",
        &implicit,
        &[("Idempotency-Key", &long)],
        guest("j@x.com"),
    )
    .await;
    assert_eq!(r.status, 400);
}

async fn fifty_concurrent_checkouts(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    filled_cart(&app, &admin, "busy").await;
    let run = |key: Option<&'static str>| {
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (app, implicit) = (app.clone(), implicit.clone());
            tasks.push(tokio::spawn(async move {
                let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
                checkout(&app, "busy", &implicit, &headers, guest("j@x.com")).await
            }));
        }
        tasks
    };
    // Without keys: 50 complete, consistent orders.
    let mut ids = HashSet::new();
    for task in run(None) {
        let r = task.await.unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(amount(&r.body["data"]["meta"]["display_price"]["with_tax"]), 2950);
        ids.insert(r.body["data"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 50);
    for id in &ids {
        let r = get_order(&app, &format!("{id}?include=items"), &admin, &[]).await;
        assert_eq!(r.body["included"]["items"].as_array().unwrap().len(), 2);
    }
    // With one shared key: one order, and every caller gets it.
    let mut ids = HashSet::new();
    for task in run(Some("shared")) {
        let r = task.await.unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        ids.insert(r.body["data"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1);
    let id = ids.into_iter().next().unwrap();
    assert_eq!(get_order(&app, &id, &admin, &[]).await.status, 200);
}

async fn final_stock_check(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    filled_cart(&app, &admin, "s").await;
    // A product line, as adding a catalog product makes it, and its stock record.
    let store = app.store().await;
    let product = Uuid::new_v4();
    let now = now_millis();
    let line = crate::fixtures::product_line("s", product, "gift2", 3);
    store
        .add_cart_items(
            &kassa_core::carts::Cart::empty("s".into(), now, 7),
            "USD",
            vec![line],
            now + 86_400_000,
            None,
        )
        .await
        .unwrap();
    store
        .create_stock(Stock {
            product_id: product,
            levels: StockLevels {
                available: 2,
                allocated: 0,
            },
            locations: Vec::new(),
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    let r = checkout(&app, "s", &implicit, &[], guest("j@x.com")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Insufficient stock");
    assert_eq!(
        r.error()["detail"],
        "There is not enough stock to add gift2 to your cart"
    );
    assert_eq!(r.error()["meta"], json!({"id": product, "sku": "gift2"}));
    // Nothing was created, and the cart is unchanged.
    let items = app.get("/v2/carts/s/items", &admin).await;
    assert_eq!(items.body["data"].as_array().unwrap().len(), 3);
}

async fn place_order_is_all_or_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    filled_cart(&app, &admin, "a").await;
    let r = checkout(&app, "a", &implicit, &[], guest("j@x.com")).await;
    assert_eq!(r.status, 201);
    let store = app.store().await;
    let id: Uuid = r.body["data"]["id"].as_str().unwrap().parse().unwrap();
    let (mut order, mut items) = store.order(id).await.unwrap().unwrap();
    assert_eq!(items.len(), 2);
    // The same order again under a new id, completing a key nobody claimed: refused, and
    // neither the order nor its items exist afterwards.
    order.id = Uuid::new_v4();
    for i in &mut items {
        i.id = Uuid::new_v4();
        i.order_id = order.id;
    }
    let unclaimed = IdempotentResponse {
        scope: "nobody".into(),
        key: "k".into(),
        request_hash: "h".into(),
        status: 201,
        body: "{}".into(),
    };
    let e = store
        .place_order(order.clone(), items.clone(), vec![], Some(unclaimed), vec![])
        .await
        .unwrap_err();
    assert!(matches!(e, kassa_core::Error::Conflict(_)), "{e}");
    assert!(store.order(order.id).await.unwrap().is_none());
    // A failing item (a duplicate id) takes the order down with it.
    let mut dup = items.clone();
    dup[1].id = dup[0].id;
    assert!(
        store
            .place_order(order.clone(), dup, vec![], None, vec![])
            .await
            .is_err()
    );
    assert!(store.order(order.id).await.unwrap().is_none());
    // And the well-formed one goes in whole.
    store
        .place_order(order.clone(), items, vec![], None, vec![])
        .await
        .unwrap();
    assert_eq!(store.order(order.id).await.unwrap().unwrap().1.len(), 2);
}

/// A product line is priced again from the shopper's published catalog at checkout: a price
/// changed and re-published since the add is the price of the order (EP's behaviour).
async fn product_lines_are_repriced_from_the_catalog(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let node = hierarchy(&app, &admin, "Whisky").await;
    let p = product(&app, &admin, &node, "Bowmore 12", "BOW-12", "live").await;
    let book = pricebook(&app, &admin, "Retail").await;
    let price_id = price(&app, &admin, &book, "BOW-12", usd(4500)).await;
    let cat = published_catalog(&app, &admin, "Main", &node.0, &book).await;

    let token = app.implicit_token().await;
    let r = app
        .post(
            "/v2/carts/bowmore/items",
            &token,
            json!({"data": {"type": "cart_item", "id": p, "quantity": 2}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = checkout(&app, "bowmore", &token, &[], guest("john@email.com")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["data"]["meta"]["display_price"]["with_tax"]["amount"],
        9000
    );
    let item = &r.body["included"]["items"][0];
    assert_eq!(item["product_id"], p.as_str());
    assert_eq!(item["quantity"], 2);

    let r = app
        .call(
            Method::PUT,
            &format!("/pcm/pricebooks/{book}/prices/{price_id}"),
            Some(&admin),
            Some(json!({"data": {"type": "product-price", "id": price_id, "attributes": usd(3900)}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    publish(&app, &admin, &cat).await;
    let r = checkout(&app, "bowmore", &token, &[], guest("john@email.com")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["data"]["meta"]["display_price"]["with_tax"]["amount"], 7800,
        "the price at checkout"
    );
}
