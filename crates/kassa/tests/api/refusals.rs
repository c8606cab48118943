//! A refused write changes nothing: for every write path that can refuse (adds, bulk adds,
//! merges, re-orders, quantity updates, cart updates, associations, tax items, checkout,
//! payments, order updates), the whole database is dumped before and after the refused request
//! and must be the same, byte for byte. Money is bounded where it enters: an amount or quantity
//! that cannot be totalled is a 400 naming its field.

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::{
    Customer, add_custom, enable_manual, guest_body, hierarchy, pay, payment, price, pricebook, product,
    published_catalog, usd,
};
use crate::helpers::{Backend, CT, Resp, TestApp, assert_same_dump, req};

backend_tests!(
    a_refused_add_changes_nothing,
    refused_bulk_adds_change_nothing_or_only_what_fits,
    refused_merges_and_reorders_change_nothing,
    refused_item_and_cart_updates_change_nothing,
    refused_tax_items_change_nothing,
    refused_checkouts_change_nothing,
    refused_payments_and_order_updates_change_nothing,
);

/// kassa's bounds (`kassa_core::cart_totals::{MAX_AMOUNT, MAX_QUANTITY}`).
const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
const MAX_QUANTITY: i64 = 1_000_000_000;

fn custom(sku: &str, quantity: i64, amount: i64) -> Value {
    json!({"type": "custom_item", "name": sku, "sku": sku, "quantity": quantity,
           "price": {"amount": amount, "includes_tax": false}})
}

async fn add(app: &TestApp, token: &str, cart: &str, body: Value) -> Resp {
    app.post(&format!("/v2/carts/{cart}/items"), token, body).await
}

/// Runs `request`, which must be refused with `status`, and checks that the database is exactly
/// as it was; returns the refusal.
async fn refused<F: std::future::Future<Output = Resp>>(
    app: &TestApp,
    what: &str,
    status: u16,
    request: F,
) -> Resp {
    let before = app.db.dump().await;
    let r = request.await;
    assert_eq!(r.status, status, "{what}: {}", r.body);
    r.error();
    let after = app.db.dump().await;
    assert_same_dump(&before, &after, what);
    r
}

fn source(r: &Resp) -> &str {
    r.error()["source"].as_str().unwrap_or_default()
}

/// A cart whose totals are near the most kassa can total: two lines of 2,000 × 10^15.
async fn nearly_full_cart(app: &TestApp, admin: &str, cart: &str) {
    add_custom(app, admin, cart, "BIG-1", 2000, MAX_AMOUNT).await;
    add_custom(app, admin, cart, "BIG-2", 2000, MAX_AMOUNT).await;
}

async fn a_refused_add_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    add_custom(&app, &admin, "cart-1", "SMALL", 1, 100).await;

    // The case: a price of 2^62 twice. Refused at the field, on a cart and on a new id.
    for cart in ["cart-1", "new-cart"] {
        let r = refused(
            &app,
            "2^62 × 2",
            400,
            add(&app, &admin, cart, json!({"data": custom("HUGE", 2, 1 << 62)})),
        )
        .await;
        assert_eq!(source(&r), "data.price.amount");
    }
    let r = app.get("/v2/carts", &admin).await;
    assert!(
        !r.body.to_string().contains("new-cart"),
        "a refused add creates no cart"
    );
    for (what, body, field) in [
        (
            "quantity over the bound",
            custom("MANY", MAX_QUANTITY + 1, 1),
            "data.quantity",
        ),
        (
            "product quantity over the bound",
            json!({"type": "cart_item", "sku": "ANY", "quantity": MAX_QUANTITY + 1}),
            "data.quantity",
        ),
        (
            "amount over the bound",
            custom("DEAR", 1, MAX_AMOUNT + 1),
            "data.price.amount",
        ),
    ] {
        let r = refused(
            &app,
            what,
            400,
            add(&app, &admin, "cart-1", json!({ "data": body })),
        )
        .await;
        assert_eq!(source(&r), field, "{what}");
    }

    // Amounts within their bounds that together cannot be totalled: decided before the write.
    nearly_full_cart(&app, &admin, "cart-1").await;
    let r = refused(
        &app,
        "a small add to a full cart",
        400,
        add(
            &app,
            &admin,
            "cart-1",
            json!({"data": custom("ONE-MORE", 1000, MAX_AMOUNT)}),
        ),
    )
    .await;
    assert_eq!(r.error()["title"], "Cart total too large");
    assert_eq!(source(&r), "data.price.amount");
    // A line may not grow past the quantity bound either.
    add_custom(&app, &admin, "cart-2", "UNITS", MAX_QUANTITY, 1).await;
    let r = refused(
        &app,
        "a line past the bound",
        400,
        add(&app, &admin, "cart-2", json!({"data": custom("UNITS", 1, 1)})),
    )
    .await;
    assert_eq!(source(&r), "data.quantity");

    // The dump sees a write that is not refused, down to one field of one row.
    let before = app.db.dump().await;
    let r = app
        .put("/v2/carts/cart-2", &admin, json!({"data": {"name": "Renamed"}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(before, app.db.dump().await);

    // The cart still reads, lists its items and checks out.
    for path in ["/v2/carts/cart-1", "/v2/carts/cart-1/items"] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let r = app.get("/v2/carts/cart-1", &admin).await;
    assert_eq!(
        r.body["data"]["meta"]["display_price"]["with_tax"]["amount"],
        json!(4_000_000_000_000_000_100_i64)
    );
    let r = req(
        &app,
        Method::POST,
        "/v2/carts/cart-1/checkout",
        &admin,
        &[],
        Some(guest_body()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn refused_bulk_adds_change_nothing_or_only_what_fits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    nearly_full_cart(&app, &admin, "bulk").await;
    let items = json!([
        custom("FITS", 1, 500),
        custom("TOO-MUCH", 1000, MAX_AMOUNT),
        custom("BAD", 0, 1)
    ]);
    let r = refused(
        &app,
        "all or nothing",
        400,
        add(
            &app,
            &admin,
            "bulk",
            json!({"data": items, "options": {"add_all_or_nothing": true}}),
        ),
    )
    .await;
    let sources: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert!(sources.contains(&"data[1].price.amount"), "{sources:?}");
    assert!(sources.contains(&"data[2].quantity"), "{sources:?}");

    // Without all-or-nothing what fits is added and the rest is listed; nothing else changes.
    let r = add(&app, &admin, "bulk", json!({"data": items})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let skus: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["BIG-1", "BIG-2", "FITS"]);
    let errors = r.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e["source"] == "data[1].price.amount" && e["title"] == "Cart total too large")
    );
    // Refused items of a bulk add to a new id leave no cart either.
    let r = refused(
        &app,
        "every item refused",
        400,
        add(
            &app,
            &admin,
            "bulk-new",
            json!({"data": [custom("DEAR", 1, MAX_AMOUNT + 1), custom("NONE", 0, 1)]}),
        ),
    )
    .await;
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 2);
}

async fn refused_merges_and_reorders_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    nearly_full_cart(&app, &admin, "target").await;
    add_custom(&app, &admin, "source", "BIG-3", 2000, MAX_AMOUNT).await;
    let merge = json!({"data": {"type": "cart_items", "cart_id": "source"}});
    let r = refused(
        &app,
        "a merge past the total",
        400,
        add(&app, &admin, "target", merge.clone()),
    )
    .await;
    assert_eq!(source(&r), "data.cart_id");
    assert_eq!(r.error()["title"], "Cart total too large");

    // Another customer's cart cannot be merged: 403, as every other use of it.
    let implicit = app.implicit_token().await;
    let Customer { token: ann, .. } = app.customer(&admin, "ann@perkins.com").await;
    let Customer { token: ben, .. } = app.customer(&admin, "ben@wyatt.com").await;
    let r = req(
        &app,
        Method::POST,
        "/v2/carts",
        &implicit,
        &[(CT, &ann)],
        Some(json!({"data": {"name": "Ann's"}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let anns = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = req(
        &app,
        Method::POST,
        &format!("/v2/carts/{anns}/items"),
        &implicit,
        &[(CT, &ann)],
        Some(json!({"data": custom("WRAP", 1, 300)})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    for body in [
        json!({"data": {"type": "cart_items", "cart_id": anns}}),
        json!({"data": [custom("CARD", 1, 100), {"type": "cart_items", "cart_id": anns}]}),
    ] {
        let r = refused(
            &app,
            "merging another customer's cart",
            403,
            req(
                &app,
                Method::POST,
                "/v2/carts/bens-cart/items",
                &implicit,
                &[(CT, &ben)],
                Some(body),
            ),
        )
        .await;
        assert_eq!(r.error()["title"], "Forbidden");
        assert!(source(&r).ends_with(".cart_id"), "{}", r.body);
    }

    // A re-order that would take the cart past what can be totalled.
    let node = hierarchy(&app, &admin, "Gold").await;
    let bar = product(&app, &admin, &node, "Gold bar", "BAR", "live").await;
    let book = pricebook(&app, &admin, "Retail").await;
    price(&app, &admin, &book, "BAR", usd(MAX_AMOUNT)).await;
    published_catalog(&app, &admin, "Main", &node.0, &book).await;
    let r = add(
        &app,
        &admin,
        "bars",
        json!({"data": {"type": "cart_item", "id": bar, "quantity": 2000}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = req(
        &app,
        Method::POST,
        "/v2/carts/bars/checkout",
        &admin,
        &[],
        Some(guest_body()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = refused(
        &app,
        "a re-order past the total",
        400,
        add(
            &app,
            &admin,
            "target",
            json!({"data": {"type": "order_items", "order_id": order}}),
        ),
    )
    .await;
    assert_eq!(source(&r), "data.order_id");
    // The same re-order into an empty cart is fine.
    let r = add(
        &app,
        &admin,
        "empty",
        json!({"data": {"type": "order_items", "order_id": order}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn refused_item_and_cart_updates_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    add_custom(&app, &admin, "upd", "BIG", 2000, MAX_AMOUNT).await;
    add_custom(&app, &admin, "upd", "SMALL", 1, MAX_AMOUNT).await;
    let r = app.get("/v2/carts/upd/items", &admin).await;
    let ids: Vec<String> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let item = |n: usize| format!("/v2/carts/upd/items/{}", ids[n]);
    let r = refused(
        &app,
        "a quantity past the bound",
        400,
        app.put(&item(1), &admin, json!({"data": {"quantity": MAX_QUANTITY + 1}})),
    )
    .await;
    assert_eq!(source(&r), "data.quantity");
    let r = refused(
        &app,
        "a quantity past the total",
        400,
        app.put(&item(1), &admin, json!({"data": {"quantity": 3000}})),
    )
    .await;
    assert_eq!(
        (source(&r), &r.error()["title"]),
        ("data.quantity", &json!("Cart total too large"))
    );
    let r = refused(
        &app,
        "a bulk update past the total",
        400,
        app.put(
            "/v2/carts/upd/items",
            &admin,
            json!({"data": [{"id": ids[1], "quantity": 2}, {"id": ids[0], "quantity": 5000}]}),
        ),
    )
    .await;
    assert_eq!(source(&r), "data[1].quantity");
    let r = app.put(&item(1), &admin, json!({"data": {"quantity": 2}})).await;
    assert_eq!(r.status, 200, "within the bound: {}", r.body);

    // Unknown carts: a refused update or removal creates none.
    let unknown_item = format!("/v2/carts/nothing-here/items/{}", ids[0]);
    refused(
        &app,
        "an item of an unknown cart",
        404,
        app.put(&unknown_item, &admin, json!({"data": {"quantity": 1}})),
    )
    .await;
    refused(
        &app,
        "removing from an unknown cart",
        404,
        app.delete(&unknown_item, &admin),
    )
    .await;
    refused(
        &app,
        "a bulk update of an unknown cart",
        404,
        app.put(
            "/v2/carts/nothing-here/items",
            &admin,
            json!({"data": [{"id": ids[0], "quantity": 1}]}),
        ),
    )
    .await;
    let r = refused(
        &app,
        "a bad cart update of an unknown id",
        400,
        app.put(
            "/v2/carts/nothing-here",
            &admin,
            json!({"data": {"contact": {"email": "not-an-email"}}}),
        ),
    )
    .await;
    assert_eq!(source(&r), "data.contact.email");
    let r = refused(
        &app,
        "associating an unknown account with an unknown cart",
        404,
        app.post(
            "/v2/carts/nothing-here/relationships/accounts",
            &admin,
            json!({"data": [{"type": "account", "id": uuid::Uuid::new_v4()}]}),
        ),
    )
    .await;
    assert_eq!(source(&r), "data[0].id");
    // A good update of an unknown id still creates it, as reading it does.
    let r = app
        .put("/v2/carts/now-here", &admin, json!({"data": {"name": "Mine"}}))
        .await;
    assert_eq!(
        (r.status.as_u16(), &r.body["data"]["name"]),
        (200, &json!("Mine")),
        "{}",
        r.body
    );
}

async fn refused_tax_items_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    add_custom(&app, &admin, "taxed", "BIG", 2000, MAX_AMOUNT).await;
    let line = app.get("/v2/carts/taxed/items", &admin).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let taxes = format!("/v2/carts/taxed/items/{line}/taxes");
    let r = refused(
        &app,
        "a fixed tax over the bound",
        400,
        app.post(
            &taxes,
            &admin,
            json!({"data": {"type": "tax_item", "amount": MAX_AMOUNT + 1}}),
        ),
    )
    .await;
    assert_eq!(source(&r), "data.amount");
    let r = refused(
        &app,
        "a rate past the total",
        400,
        app.post(&taxes, &admin, json!({"data": {"type": "tax_item", "rate": 3}})),
    )
    .await;
    assert_eq!(
        (source(&r), &r.error()["title"]),
        ("data.rate", &json!("Cart total too large"))
    );
    let bulk = |all: bool| {
        json!({"data": [
            {"type": "tax_item", "rate": 0.2, "relationships": {"item": {"data": {"type": "custom_item", "id": line}}}},
            {"type": "tax_item", "rate": 3, "relationships": {"item": {"data": {"type": "custom_item", "id": line}}}},
        ], "options": {"add_all_or_nothing": all}})
    };
    let r = refused(
        &app,
        "a bulk add past the total",
        400,
        app.post("/v2/carts/taxed/taxes", &admin, bulk(true)),
    )
    .await;
    assert_eq!(source(&r), "data[1].rate");
    let r = app.post("/v2/carts/taxed/taxes", &admin, bulk(false)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["errors"][0]["source"], "data[1].rate");
    let tax = r.body["data"][0]["id"].as_str().unwrap().to_owned();
    let r = refused(
        &app,
        "an update past the total",
        400,
        app.put(
            &format!("{taxes}/{tax}"),
            &admin,
            json!({"data": {"type": "tax_item", "rate": 3}}),
        ),
    )
    .await;
    assert_eq!(source(&r), "data.rate");
    let r = app.get("/v2/carts/taxed", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"]["meta"]["display_price"]["tax"]["amount"],
        json!(400_000_000_000_000_000_i64)
    );
}

async fn refused_checkouts_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let key = [("Idempotency-Key", "refused-1")];
    let checkout = |cart: &'static str, body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            req(
                app,
                Method::POST,
                &format!("/v2/carts/{cart}/checkout"),
                &admin,
                &key,
                Some(body),
            )
            .await
        }
    };
    let r = app.get("/v2/carts/empty", &admin).await;
    assert_eq!(r.status, 200);
    refused(&app, "an empty cart", 400, checkout("empty", guest_body())).await;
    refused(
        &app,
        "an unknown cart",
        404,
        checkout("no-such-cart", guest_body()),
    )
    .await;
    add_custom(&app, &admin, "full", "THING", 1, 100).await;
    let mut body = guest_body();
    body["data"]["billing_address"] = Value::Null;
    refused(&app, "a bad body", 400, checkout("full", body)).await;
    // The key was given up each time: it still works for the good request.
    let r = checkout("full", guest_body()).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn refused_payments_and_order_updates_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let order = app.guest_order(&admin, 1000).await;
    let key = [("Idempotency-Key", "pay-1")];
    refused(
        &app,
        "a disabled gateway",
        400,
        pay(&app, &admin, &key, &order, payment("purchase", None)),
    )
    .await;
    enable_manual(&app, &admin).await;
    for (what, body) in [
        ("more than owed", payment("purchase", Some(1001))),
        ("a negative amount", payment("purchase", Some(-1))),
        ("no method", json!({"data": {"gateway": "manual"}})),
        (
            "an amount that is no integer",
            json!({"data": {"gateway": "manual", "method": "purchase", "amount": "ten"}}),
        ),
    ] {
        refused(&app, what, 400, pay(&app, &admin, &key, &order, body)).await;
    }
    let r = pay(&app, &admin, &key, &order, payment("purchase", Some(400))).await;
    assert_eq!(r.status, 200, "the key was given up: {}", r.body);

    let path = format!("/v2/orders/{order}");
    let put = |data: Value| app.put(&path, &admin, json!({ "data": data }));
    for (what, data) in [
        (
            "fulfilling a partly paid order",
            json!({"type": "order", "shipping": "fulfilled"}),
        ),
        ("an unknown field", json!({"type": "order", "payment": "paid"})),
        (
            "status and shipping",
            json!({"type": "order", "status": "cancelled", "shipping": "fulfilled"}),
        ),
    ] {
        refused(&app, what, 400, put(data)).await;
    }
    let r = put(json!({"type": "order", "status": "cancelled"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    refused(
        &app,
        "paying a cancelled order",
        400,
        pay(&app, &admin, &[], &order, payment("purchase", Some(100))),
    )
    .await;
}
