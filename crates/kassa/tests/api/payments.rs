//! Gateways, `POST /v2/orders/{id}/payments`, transactions (capture, refund, cancel), the
//! statuses and amounts they give the order, who may pay, stock allocation, and races.

use std::sync::Arc;

use crate::backend_tests;
use crate::fixtures::{
    add_custom, address, checkout, enable_manual, guest_body, order_state, pay, payment, product_line,
    transactions,
};
use crate::helpers::{AM, Backend, CT, Resp, TestApp, req};
use kassa_core::carts::CartItem;
use kassa_core::inventory::{Stock, StockLevels};
use kassa_core::store::Store;
use kassa_core::time::now_millis;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

backend_tests!(
    gateways_start_disabled_and_only_admins_change_them,
    purchase_pays_the_order,
    authorize_then_capture,
    split_payments_never_exceed_the_total,
    partial_full_and_marked_refunds,
    refused_payments_record_nothing,
    who_may_pay_and_see_transactions,
    stock_is_allocated_by_the_first_payment_and_shipped_on_fulfilment,
    short_stock_refuses_the_payment,
    concurrent_payments_sell_exactly_the_last_units,
    concurrent_payments_of_one_order_never_exceed_its_total,
    concurrent_payments_of_orders_sharing_products_all_succeed,
    capture_and_refund_racing_stay_consistent,
    idempotent_payment_is_recorded_once,
    reserve_at_checkout_allocates_when_the_order_is_placed,
    refused_captures_refunds_and_fulfilments_change_nothing,
);

async fn tx_action(
    app: &TestApp,
    token: &str,
    order: &str,
    tx: &str,
    action: &str,
    body: Option<Value>,
) -> Resp {
    req(
        app,
        Method::POST,
        &format!("/v2/orders/{order}/transactions/{tx}/{action}"),
        token,
        &[],
        body,
    )
    .await
}

fn st(
    status: &str,
    payment: &str,
    shipping: &str,
    paid: i64,
    authorized: i64,
    owing: i64,
) -> (String, String, String, i64, i64, i64) {
    (
        status.into(),
        payment.into(),
        shipping.into(),
        paid,
        authorized,
        owing,
    )
}

fn id_of(r: &Resp) -> String {
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

/// A stock-managed product with `available` units; returns its id.
async fn stocked_product(store: &Arc<dyn Store>, available: i64) -> Uuid {
    let product = Uuid::new_v4();
    let now = now_millis();
    store
        .create_stock(Stock {
            product_id: product,
            levels: StockLevels {
                available,
                allocated: 0,
            },
            locations: Vec::new(),
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    product
}

/// A guest order of `quantity` × the product at 100 each (a product line, as adding a catalog
/// product makes one; written through the store to skip publishing a catalog).
async fn product_order(store: &Arc<dyn Store>, product: Uuid, quantity: i64) -> String {
    products_order(store, &[(product, quantity)]).await
}

/// A guest order with a line of `quantity` × product at 100 each per `(product, quantity)`, in
/// this order.
async fn products_order(store: &Arc<dyn Store>, lines: &[(Uuid, i64)]) -> String {
    let cart = format!("p-{}", Uuid::new_v4().simple());
    let now = now_millis();
    let lines: Vec<CartItem> = lines
        .iter()
        .map(|&(product, quantity)| product_line(&cart, product, "GIFT", quantity))
        .collect();
    let total = lines.iter().map(|l| 100 * l.quantity).sum();
    // Adding to an unknown cart creates it.
    let empty = kassa_core::carts::Cart::empty(cart.clone(), now, 7);
    store
        .add_cart_items(&empty, "USD", lines, now + 86_400_000, None)
        .await
        .unwrap();
    // Checkout reprices product lines from the catalog; these orders are placed directly.
    let order = Uuid::new_v4();
    let items = store.cart_items(&cart).await.unwrap();
    let placed = placed_order(order, &cart, total, false);
    let items = items
        .iter()
        .enumerate()
        .map(|(n, l)| kassa_core::orders::OrderItem::from_cart_line(order, n, l, Vec::new(), now))
        .collect();
    store
        .place_order(placed, items, vec![], None, vec![])
        .await
        .unwrap();
    order.to_string()
}

/// `(total, available, allocated)` of a product's stock.
async fn levels(app: &TestApp, admin: &str, product: Uuid) -> (i64, i64, i64) {
    let r = app.get(&format!("/v2/inventories/{product}"), admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    (
        d["total"].as_i64().unwrap(),
        d["available"].as_i64().unwrap(),
        d["allocated"].as_i64().unwrap(),
    )
}

async fn gateways_start_disabled_and_only_admins_change_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let r = app.get("/v2/gateways", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"],
        json!([{"type": "gateway", "slug": "manual", "name": "Manual", "enabled": false}])
    );
    assert_eq!(app.get("/v2/gateways", &implicit).await.status, 403);
    assert_eq!(app.get("/v2/gateways/stripe", &admin).await.status, 404);
    let r = app
        .put(
            "/v2/gateways/manual",
            &implicit,
            json!({"data": {"enabled": true}}),
        )
        .await;
    assert_eq!(r.status, 403);

    // Paying through a disabled or unknown gateway is refused and records nothing.
    let order = app.guest_order(&admin, 1000).await;
    let r = pay(&app, &implicit, &[], &order, payment("purchase", None)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["source"], "data.gateway");
    assert_eq!(r.error()["detail"], "The manual gateway is not enabled");
    let mut stripe = payment("purchase", None);
    stripe["data"]["gateway"] = json!("stripe");
    let r = pay(&app, &implicit, &[], &order, stripe.clone()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.gateway");

    let r = app.put("/v2/gateways/manual", &admin, json!({"data": {}})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "enabled");
    let r = app
        .put("/v2/gateways/manual", &admin, json!({"data": {"enabled": "yes"}}))
        .await;
    assert_eq!(r.status, 400);
    let r = app
        .put("/v2/gateways/manual", &admin, json!({"data": {"enabled": true}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"],
        json!({"type": "gateway", "slug": "manual", "name": "Manual", "enabled": true})
    );
    assert_eq!(
        app.get("/v2/gateways/manual", &admin).await.body["data"]["enabled"],
        true
    );
    assert_eq!(pay(&app, &implicit, &[], &order, stripe).await.status, 400);
    assert!(transactions(&app, &admin, &order).await.is_empty());
    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("incomplete", "unpaid", "unfulfilled", 0, 0, 1000)
    );
    let r = pay(&app, &implicit, &[], &order, payment("purchase", None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Disabled again: no more payments.
    let r = app
        .put("/v2/gateways/manual", &admin, json!({"data": {"enabled": false}}))
        .await;
    assert_eq!(r.body["data"]["enabled"], false);
    let other = app.guest_order(&admin, 10).await;
    assert_eq!(
        pay(&app, &implicit, &[], &other, payment("purchase", None))
            .await
            .status,
        400
    );
}

async fn purchase_pays_the_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let order = app.guest_order(&admin, 1000).await;
    let before = app.get(&format!("/v2/orders/{order}"), &admin).await;
    assert!(before.body["data"]["meta"]["timestamps"]["fully_paid_at"].is_null());
    let r = pay(&app, &implicit, &[], &order, payment("purchase", None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = &r.body["data"];
    assert_eq!(t["type"], "transaction");
    assert_eq!(t["transaction_type"], "purchase");
    assert_eq!(t["status"], "complete");
    assert_eq!(t["amount"], 1000);
    assert_eq!(t["refunded_amount"], 0);
    assert_eq!(t["currency"], "USD");
    assert_eq!(t["gateway"], "manual");
    assert_eq!(t["reference"], "manual");
    assert_eq!(t["custom_reference"], "till-7");
    assert_eq!(t["name"], "Cash");
    assert_eq!(
        t["relationships"]["order"]["data"],
        json!({"type": "order", "id": order})
    );
    assert_eq!(t["meta"]["display_price"]["amount"], 1000);
    assert_eq!(t["meta"]["display_price"]["currency"], "USD");
    assert!(t["meta"]["display_price"]["formatted"].is_string());
    assert_eq!(t["meta"]["display_refunded_amount"]["total"]["amount"], 0);
    assert!(t["meta"]["timestamps"]["created_at"].is_string());

    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("complete", "paid", "unfulfilled", 1000, 0, 0)
    );
    let after = app.get(&format!("/v2/orders/{order}"), &admin).await;
    assert!(after.body["data"]["meta"]["timestamps"]["fully_paid_at"].is_string());
    let list = transactions(&app, &admin, &order).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0], r.body["data"]);
    let tx = id_of(&r);
    let one = app
        .get(&format!("/v2/orders/{order}/transactions/{tx}"), &admin)
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["data"], r.body["data"]);
    let missing = app
        .get(
            &format!("/v2/orders/{order}/transactions/{}", Uuid::new_v4()),
            &admin,
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        app.get(&format!("/v2/orders/{order}/transactions/nope"), &admin)
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/v2/orders/{}/transactions", Uuid::new_v4()), &admin)
            .await
            .status,
        404
    );
    // The listing filter columns follow: the order is stored as complete/paid.
    let store = app.store().await;
    let (placed, _) = store.order(order.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(
        (placed.status.as_str(), placed.payment.as_str()),
        ("complete", "paid")
    );
}

async fn authorize_then_capture(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let order = app.guest_order(&admin, 1000).await;
    let r = pay(&app, &implicit, &[], &order, payment("authorize", None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["transaction_type"], "authorize");
    let tx = id_of(&r);
    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("processing", "authorized", "unfulfilled", 0, 1000, 0)
    );
    // Only an admin captures.
    let r = tx_action(&app, &implicit, &order, &tx, "capture", None).await;
    assert_eq!(r.status, 403);
    // Fulfilling an authorized order is refused.
    let r = app
        .put(
            &format!("/v2/orders/{order}"),
            &admin,
            json!({"data": {"type": "order", "shipping": "fulfilled"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["detail"], "You can fulfill a paid order only");
    let r = tx_action(
        &app,
        &admin,
        &order,
        &tx,
        "capture",
        Some(json!({"data": {"options": {}}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["id"], tx.as_str());
    assert_eq!(r.body["data"]["transaction_type"], "capture");
    assert_eq!(r.body["data"]["status"], "complete");
    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("complete", "paid", "unfulfilled", 1000, 0, 0)
    );
    // Capturing twice is refused and changes nothing.
    let r = tx_action(&app, &admin, &order, &tx, "capture", None).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error()["detail"],
        "Only a complete authorization that has not been captured can be captured"
    );
    let r = tx_action(&app, &admin, &order, &Uuid::new_v4().to_string(), "capture", None).await;
    assert_eq!(r.status, 404);
    let list = transactions(&app, &admin, &order).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["transaction_type"], "capture");
}

async fn split_payments_never_exceed_the_total(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let order = app.guest_order(&admin, 1000).await;
    let r = pay(&app, &implicit, &[], &order, payment("purchase", Some(400))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("incomplete", "partially_paid", "unfulfilled", 400, 0, 600)
    );
    let r = pay(&app, &implicit, &[], &order, payment("authorize", Some(250))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let auth = id_of(&r);
    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("incomplete", "partially_paid", "unfulfilled", 400, 250, 350)
    );
    // Over the balance owing: refused, nothing recorded.
    let r = pay(&app, &implicit, &[], &order, payment("purchase", Some(351))).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error()["detail"],
        "The payment amount 351 is more than the balance owing of 350"
    );
    assert_eq!(transactions(&app, &admin, &order).await.len(), 2);
    // The rest by default: authorized (an authorization is still open), then paid on capture.
    let r = pay(&app, &implicit, &[], &order, payment("purchase", None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["amount"], 350);
    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("processing", "authorized", "unfulfilled", 750, 250, 0)
    );
    let r = pay(&app, &implicit, &[], &order, payment("purchase", Some(1))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["detail"], "The order has no balance owing");
    assert_eq!(
        tx_action(&app, &admin, &order, &auth, "capture", None)
            .await
            .status,
        200
    );
    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("complete", "paid", "unfulfilled", 1000, 0, 0)
    );
    let list = transactions(&app, &admin, &order).await;
    let sum: i64 = list.iter().map(|t| t["amount"].as_i64().unwrap()).sum();
    assert_eq!((list.len(), sum), (3, 1000));
}

async fn partial_full_and_marked_refunds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let order = app.guest_order(&admin, 1000).await;
    let first = id_of(&pay(&app, &implicit, &[], &order, payment("purchase", Some(600))).await);
    // Refunds need a paid order.
    let r = tx_action(&app, &admin, &order, &first, "refund", None).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error()["detail"],
        "Refunds are only possible when the order is paid"
    );
    let second = id_of(&pay(&app, &implicit, &[], &order, payment("purchase", None)).await);
    // Shoppers cannot refund.
    let r = tx_action(&app, &implicit, &order, &first, "refund", None).await;
    assert_eq!(r.status, 403);
    // A partial refund: the transaction keeps its status, the order stays paid.
    let r = tx_action(
        &app,
        &admin,
        &order,
        &first,
        "refund",
        Some(json!({"data": {"amount": 100}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["refunded_amount"], 100);
    assert_eq!(r.body["data"]["status"], "complete");
    assert_eq!(
        r.body["data"]["meta"]["display_refunded_amount"]["total"]["amount"],
        100
    );
    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("complete", "paid", "unfulfilled", 900, 0, 0)
    );
    // More than is left, zero, or not an integer: refused, nothing changes.
    for (body, detail) in [
        (
            json!({"data": {"amount": 501}}),
            "The refund amount 501 is more than the 500 left to refund on this transaction",
        ),
        (
            json!({"data": {"amount": 0}}),
            "The refund amount must be greater than 0",
        ),
    ] {
        let r = tx_action(&app, &admin, &order, &first, "refund", Some(body)).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.error()["detail"], detail);
    }
    let r = tx_action(
        &app,
        &admin,
        &order,
        &first,
        "refund",
        Some(json!({"data": {"amount": "10"}})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.amount");
    // Mark as refunded (no amount): the whole rest of the second payment.
    let r = tx_action(&app, &admin, &order, &second, "refund", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["data"]["refunded_amount"], &r.body["data"]["status"]),
        (&json!(400), &json!("refunded"))
    );
    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("complete", "paid", "unfulfilled", 500, 0, 0)
    );
    // A full refund of the rest of the first: the order is refunded.
    let r = tx_action(
        &app,
        &admin,
        &order,
        &first,
        "refund",
        Some(json!({"data": {"amount": 500}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("complete", "refunded", "unfulfilled", 0, 0, 0)
    );
    let r = tx_action(&app, &admin, &order, &second, "refund", None).await;
    assert_eq!(r.status, 400);
    // A refunded order cannot be paid again.
    let r = pay(&app, &implicit, &[], &order, payment("purchase", None)).await;
    assert_eq!(r.status, 400);
    // Manual transactions cannot be cancelled.
    let r = tx_action(
        &app,
        &admin,
        &order,
        &first,
        "cancel",
        Some(json!({"data": {"reason": "duplicate"}})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = tx_action(&app, &admin, &order, &Uuid::new_v4().to_string(), "cancel", None).await;
    assert_eq!(r.status, 404);
    let list = transactions(&app, &admin, &order).await;
    let refunded: i64 = list.iter().map(|t| t["refunded_amount"].as_i64().unwrap()).sum();
    assert_eq!((list.len(), refunded), (2, 1000));
}

async fn refused_payments_record_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let order = app.guest_order(&admin, 1000).await;
    let r = pay(&app, &implicit, &[], &order, json!({"data": {}})).await;
    assert_eq!(r.status, 400);
    let sources: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["data.gateway", "data.method"]);
    let mut bad_method = payment("purchase", None);
    bad_method["data"]["method"] = json!("steal");
    let r = pay(&app, &implicit, &[], &order, bad_method).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.method");
    for amount in [json!(0), json!(-5), json!(1.5), json!("100")] {
        let mut body = payment("purchase", None);
        body["data"]["amount"] = amount.clone();
        let r = pay(&app, &implicit, &[], &order, body).await;
        assert_eq!(r.status, 400, "{amount}: {}", r.body);
    }
    let r = pay(&app, &implicit, &[], &order, json!({"nodata": true})).await;
    assert_eq!(r.status, 400);
    let r = pay(
        &app,
        &implicit,
        &[],
        &Uuid::new_v4().to_string(),
        payment("purchase", None),
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(transactions(&app, &admin, &order).await.is_empty());

    // *_setup records a pending transaction and changes no status.
    for method in ["purchase_setup", "authorize_setup"] {
        let r = pay(&app, &implicit, &[], &order, payment(method, Some(300))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["data"]["status"], "pending");
    }
    assert_eq!(transactions(&app, &admin, &order).await.len(), 2);
    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("incomplete", "unpaid", "unfulfilled", 0, 0, 1000)
    );

    // A cancelled order cannot be paid.
    let r = app
        .put(
            &format!("/v2/orders/{order}"),
            &admin,
            json!({"data": {"type": "order", "status": "cancelled"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = pay(&app, &implicit, &[], &order, payment("purchase", None)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["detail"], "The order has been cancelled");
    assert_eq!(transactions(&app, &admin, &order).await.len(), 2);
    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("cancelled", "unpaid", "unfulfilled", 0, 0, 1000)
    );
}

async fn who_may_pay_and_see_transactions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let mine = app
        .account_shopper(&admin, "april@pawnee.gov", "april@pawnee.gov")
        .await
        .token;
    let theirs = app
        .account_shopper(&admin, "andy@pawnee.gov", "andy@pawnee.gov")
        .await
        .token;
    let account_body = json!({"data": {"contact": {"name": "April", "email": "april@pawnee.gov"},
                                       "billing_address": address(), "shipping_address": address()}});
    add_custom(&app, &admin, "acct", "A", 1, 500).await;
    let account_order = checkout(&app, "acct", &implicit, &[(AM, &mine)], account_body).await;

    // Another account, no shopper token, or a customer token: as if there were no order.
    for headers in [vec![(AM, theirs.as_str())], vec![]] {
        let r = pay(
            &app,
            &implicit,
            &headers,
            &account_order,
            payment("purchase", Some(100)),
        )
        .await;
        assert_eq!(r.status, 404, "{}", r.body);
        let r = req(
            &app,
            Method::GET,
            &format!("/v2/orders/{account_order}/transactions"),
            &implicit,
            &headers,
            None,
        )
        .await;
        assert_eq!(r.status, 404);
    }
    assert!(transactions(&app, &admin, &account_order).await.is_empty());
    let r = pay(
        &app,
        &implicit,
        &[(AM, &mine)],
        &account_order,
        payment("purchase", Some(100)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let tx = id_of(&r);
    let r = req(
        &app,
        Method::GET,
        &format!("/v2/orders/{account_order}/transactions/{tx}"),
        &implicit,
        &[(AM, &mine)],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The admin may pay any order.
    let r = pay(&app, &admin, &[], &account_order, payment("purchase", Some(100))).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A customer's order: that customer's token only.
    let leslie = app.customer(&admin, "leslie@pawnee.gov").await.token;
    let ron = app.customer(&admin, "ron@pawnee.gov").await.token;
    add_custom(&app, &admin, "cust", "C", 1, 700).await;
    let customer_order = checkout(
        &app,
        "cust",
        &implicit,
        &[(CT, &leslie)],
        json!({"data": {"customer": {}, "billing_address": address(), "shipping_address": address()}}),
    )
    .await;
    for headers in [vec![(CT, ron.as_str())], vec![]] {
        let r = pay(
            &app,
            &implicit,
            &headers,
            &customer_order,
            payment("purchase", None),
        )
        .await;
        assert_eq!(r.status, 404, "{}", r.body);
    }
    let r = pay(
        &app,
        &implicit,
        &[(CT, &leslie)],
        &customer_order,
        payment("purchase", None),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = req(
        &app,
        Method::GET,
        &format!("/v2/orders/{customer_order}/transactions"),
        &implicit,
        &[(CT, &leslie)],
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);

    // A guest order: the order id is the capability, any token may pay it.
    let guest = app.guest_order(&admin, 300).await;
    let r = pay(
        &app,
        &implicit,
        &[(CT, &ron)],
        &guest,
        payment("purchase", Some(100)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = pay(&app, &implicit, &[], &guest, payment("purchase", None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn stock_is_allocated_by_the_first_payment_and_shipped_on_fulfilment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let store = app.store().await;
    let product = stocked_product(&store, 10).await;
    let order = product_order(&store, product, 3).await;
    assert_eq!(levels(&app, &admin, product).await, (10, 10, 0));
    // A setup payment completes nothing and allocates nothing.
    assert_eq!(
        pay(&app, &implicit, &[], &order, payment("purchase_setup", None))
            .await
            .status,
        200
    );
    assert_eq!(levels(&app, &admin, product).await, (10, 10, 0));
    // The first complete transaction allocates; the second does not again.
    let r = pay(&app, &implicit, &[], &order, payment("purchase", Some(100))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(levels(&app, &admin, product).await, (10, 7, 3));
    let r = pay(&app, &implicit, &[], &order, payment("purchase", None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(levels(&app, &admin, product).await, (10, 7, 3));
    // Fulfilment takes the units out of stock.
    let r = app
        .put(
            &format!("/v2/orders/{order}"),
            &admin,
            json!({"data": {"type": "order", "shipping": "fulfilled"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["shipping"], "fulfilled");
    assert_eq!(levels(&app, &admin, product).await, (7, 7, 0));

    // Cancelling a partly paid order gives its allocation back.
    let other = product_order(&store, product, 2).await;
    let r = pay(&app, &implicit, &[], &other, payment("authorize", Some(50))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(levels(&app, &admin, product).await, (7, 5, 2));
    let r = app
        .put(
            &format!("/v2/orders/{other}"),
            &admin,
            json!({"data": {"type": "order", "status": "cancelled"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(levels(&app, &admin, product).await, (7, 7, 0));
    // Products without a stock record are not stock-managed: a custom line pays freely.
    let custom = app.guest_order(&admin, 100).await;
    assert_eq!(
        pay(&app, &implicit, &[], &custom, payment("purchase", None))
            .await
            .status,
        200
    );
}

async fn short_stock_refuses_the_payment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let store = app.store().await;
    let product = stocked_product(&store, 2).await;
    let order = product_order(&store, product, 3).await;
    let r = pay(&app, &implicit, &[], &order, payment("purchase", None)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Insufficient stock");
    assert!(transactions(&app, &admin, &order).await.is_empty());
    assert_eq!(
        order_state(&app, &admin, &order).await,
        st("incomplete", "unpaid", "unfulfilled", 0, 0, 300)
    );
    assert_eq!(levels(&app, &admin, product).await, (2, 2, 0));
}

async fn concurrent_payments_sell_exactly_the_last_units(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let store = app.store().await;
    let product = stocked_product(&store, 3).await;
    let mut orders = Vec::new();
    for _ in 0..8 {
        orders.push(product_order(&store, product, 1).await);
    }
    let tasks: Vec<_> = orders
        .iter()
        .map(|order| {
            let (app, implicit, order) = (app.clone(), implicit.clone(), order.clone());
            tokio::spawn(async move {
                pay(&app, &implicit, &[], &order, payment("purchase", None))
                    .await
                    .status
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 400, 400, 400, 400, 400]);
    assert_eq!(levels(&app, &admin, product).await, (3, 0, 3));
    let mut paid = 0;
    for order in &orders {
        let (_, payment, ..) = order_state(&app, &admin, order).await;
        let count = transactions(&app, &admin, order).await.len();
        match payment.as_str() {
            "paid" => {
                paid += 1;
                assert_eq!(count, 1);
            }
            "unpaid" => assert_eq!(count, 0),
            other => panic!("unexpected payment status {other}"),
        }
    }
    assert_eq!(paid, 3);
}

/// Orders listing the same two products in either order, paid at once: every payment allocates
/// both products' stock, none deadlocks or fails.
async fn concurrent_payments_of_orders_sharing_products_all_succeed(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let store = app.store().await;
    let (a, b) = (
        stocked_product(&store, 100).await,
        stocked_product(&store, 100).await,
    );
    let mut orders = Vec::new();
    for n in 0..12 {
        let lines = if n % 2 == 0 {
            [(a, 1), (b, 2)]
        } else {
            [(b, 2), (a, 1)]
        };
        orders.push(products_order(&store, &lines).await);
    }
    let tasks: Vec<_> = orders
        .into_iter()
        .map(|order| {
            let (app, implicit) = (app.clone(), implicit.clone());
            tokio::spawn(async move {
                let r = pay(&app, &implicit, &[], &order, payment("purchase", None)).await;
                (r.status.as_u16(), r.body.to_string())
            })
        })
        .collect();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(levels(&app, &admin, a).await, (100, 88, 12));
    assert_eq!(levels(&app, &admin, b).await, (100, 76, 24));
}

async fn concurrent_payments_of_one_order_never_exceed_its_total(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let order = app.guest_order(&admin, 1000).await;
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let (app, implicit, order) = (app.clone(), implicit.clone(), order.clone());
            let method = if n % 2 == 0 { "purchase" } else { "authorize" };
            tokio::spawn(async move {
                pay(&app, &implicit, &[], &order, payment(method, Some(300)))
                    .await
                    .status
                    .as_u16()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            200 => ok += 1,
            400 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 3);
    let list = transactions(&app, &admin, &order).await;
    let sum: i64 = list.iter().map(|t| t["amount"].as_i64().unwrap()).sum();
    assert_eq!((list.len(), sum), (3, 900));
    let (.., paid, authorized, owing) = order_state(&app, &admin, &order).await;
    assert_eq!((paid + authorized, owing), (900, 100));
}

async fn capture_and_refund_racing_stay_consistent(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    for _ in 0..4 {
        let order = app.guest_order(&admin, 1000).await;
        let bought = id_of(&pay(&app, &implicit, &[], &order, payment("purchase", Some(500))).await);
        let held = id_of(&pay(&app, &implicit, &[], &order, payment("authorize", None)).await);
        // The refund needs a paid order, which only the capture makes: whichever runs first,
        // the outcome must match the order's figures.
        let capture = {
            let (app, admin, order, held) = (app.clone(), admin.clone(), order.clone(), held.clone());
            tokio::spawn(async move {
                tx_action(&app, &admin, &order, &held, "capture", None)
                    .await
                    .status
                    .as_u16()
            })
        };
        let refund = {
            let (app, admin, order, bought) = (app.clone(), admin.clone(), order.clone(), bought.clone());
            tokio::spawn(async move {
                tx_action(
                    &app,
                    &admin,
                    &order,
                    &bought,
                    "refund",
                    Some(json!({"data": {"amount": 200}})),
                )
                .await
                .status
                .as_u16()
            })
        };
        let (captured, refunded) = (capture.await.unwrap(), refund.await.unwrap());
        assert_eq!(captured, 200);
        assert!(refunded == 200 || refunded == 400, "{refunded}");
        let list = transactions(&app, &admin, &order).await;
        let refunded_amount: i64 = list.iter().map(|t| t["refunded_amount"].as_i64().unwrap()).sum();
        let expected_refund = if refunded == 200 { 200 } else { 0 };
        assert_eq!(refunded_amount, expected_refund);
        assert_eq!(
            order_state(&app, &admin, &order).await,
            st("complete", "paid", "unfulfilled", 1000 - expected_refund, 0, 0)
        );
    }
}

async fn idempotent_payment_is_recorded_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let order = app.guest_order(&admin, 1000).await;
    let key = ("Idempotency-Key", "pay-1");
    let first = pay(&app, &implicit, &[key], &order, payment("purchase", Some(100))).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = pay(&app, &implicit, &[key], &order, payment("purchase", Some(100))).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(transactions(&app, &admin, &order).await.len(), 1);
    let other = pay(&app, &implicit, &[key], &order, payment("purchase", Some(200))).await;
    assert_eq!(other.status, 422);
    // The remembered response is written in the payment's transaction: if the key cannot be
    // completed (no longer claimed), the payment is not recorded either.
    let store = app.store().await;
    let remember: kassa_core::store::RememberResponse =
        Box::new(|_| kassa_core::orders::IdempotentResponse {
            scope: "nobody".into(),
            key: "never-claimed".into(),
            request_hash: "x".into(),
            status: 200,
            body: "{}".into(),
        });
    let change = kassa_core::payments::OrderChange {
        command: Some(kassa_core::order_state::Command::Pay {
            id: Uuid::now_v7(),
            method: kassa_core::order_state::PaymentMethod::Pay(kassa_core::order_state::PayMethod::Purchase),
            amount: Some(100),
        }),
        details: kassa_core::payments::TransactionDetails {
            gateway: "manual".into(),
            ..Default::default()
        },
        edit: Default::default(),
    };
    let e = store
        .change_order(
            order.parse().unwrap(),
            kassa_core::orders::OrderAccess::ADMIN,
            change,
            now_millis(),
            Some(remember),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, kassa_core::Error::Conflict(_)), "{e:?}");
    assert_eq!(transactions(&app, &admin, &order).await.len(), 1);
    assert_eq!(order_state(&app, &admin, &order).await.3, 100);
}

async fn reserve_at_checkout_allocates_when_the_order_is_placed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let put_settings = |data: Value| {
        let (app, admin) = (&app, admin.clone());
        async move { app.put("/v2/settings", &admin, json!({ "data": data })).await }
    };
    let r = put_settings(json!({"type": "settings", "inventory": {"reserve_at": "shipping"}})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.inventory.reserve_at");
    let r = put_settings(json!({"type": "settings", "inventory": {"reserve_at": "checkout"}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["inventory"]["reserve_at"], "checkout");
    assert_eq!(
        app.get("/v2/settings", &admin).await.body["data"]["inventory"]["reserve_at"],
        "checkout"
    );

    let store = app.store().await;
    let product = stocked_product(&store, 3).await;
    // A cart with 2 of the product, checked out over HTTP (the checkout's stock check passes;
    // the price comes from the catalog, so the product line is priced by the store directly).
    let cart = "reserve";
    add_custom(&app, &admin, cart, "CUSTOM", 1, 10).await;
    let now = now_millis();
    let line = |quantity| product_line(cart, product, "GIFT", quantity);
    store
        .add_cart_items(
            &kassa_core::carts::Cart::empty(cart.into(), now, 7),
            "USD",
            vec![line(2)],
            now + 86_400_000,
            None,
        )
        .await
        .unwrap();
    // Checkout reprices product lines from a published catalog, which this store has not: the
    // order is placed as checkout places it, through the store, with the reservation.
    let order = Uuid::new_v4();
    let (placed, items) = {
        let r = store.order(Uuid::new_v4()).await.unwrap();
        assert!(r.is_none());
        let items: Vec<_> = store
            .cart_items(cart)
            .await
            .unwrap()
            .into_iter()
            .filter(|l| l.product_id.is_some())
            .enumerate()
            .map(|(n, l)| kassa_core::orders::OrderItem::from_cart_line(order, n, &l, Vec::new(), now))
            .collect();
        (placed_order(order, cart, 200, true), items)
    };
    store
        .place_order(placed, items.clone(), vec![], None, vec![])
        .await
        .unwrap();
    assert_eq!(levels(&app, &admin, product).await, (3, 1, 2));
    // Paying does not allocate again; cancelling gives the units back.
    let r = pay(
        &app,
        &implicit,
        &[],
        &order.to_string(),
        payment("purchase", Some(50)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(levels(&app, &admin, product).await, (3, 1, 2));
    let r = app
        .put(
            &format!("/v2/orders/{order}"),
            &admin,
            json!({"data": {"type": "order", "status": "cancelled"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(levels(&app, &admin, product).await, (3, 3, 0));

    // Short at checkout: the order is not placed at all, and no stock moves.
    store
        .add_cart_items(
            &kassa_core::carts::Cart::empty(cart.into(), now, 7),
            "USD",
            vec![line(2)],
            now + 86_400_000,
            None,
        )
        .await
        .unwrap();
    let again = Uuid::new_v4();
    let items: Vec<_> = items
        .into_iter()
        .map(|mut i| {
            i.id = Uuid::new_v4();
            i.order_id = again;
            i.quantity = 4;
            i
        })
        .collect();
    let e = store
        .place_order(placed_order(again, cart, 400, true), items, vec![], None, vec![])
        .await
        .unwrap_err();
    assert_eq!(ApiStatus::of(e), (400, "Insufficient stock".to_owned()));
    assert!(store.order(again).await.unwrap().is_none());
    assert_eq!(levels(&app, &admin, product).await, (3, 3, 0));
    // Over HTTP, checkout's own stock check answers short stock with the same 400; a cart
    // without stock-managed products checks out normally.
    let r = req(
        &app,
        Method::POST,
        &format!("/v2/carts/{cart}/checkout"),
        &implicit,
        &[],
        Some(guest_body()),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Insufficient stock");
    app.guest_order(&admin, 10).await;
}

/// A domain error's HTTP status and title, as the API would answer.
struct ApiStatus;

impl ApiStatus {
    fn of(e: kassa_core::Error) -> (u16, String) {
        match e {
            kassa_core::Error::BadRequest { title, .. } => (400, title),
            other => panic!("unexpected error {other:?}"),
        }
    }
}

fn placed_order(id: Uuid, cart: &str, total: i64, stock_allocated: bool) -> kassa_core::orders::PlacedOrder {
    let now = now_millis();
    kassa_core::orders::PlacedOrder {
        discounts: vec![],
        id,
        status: kassa_core::order_state::OrderStatus::Incomplete,
        payment: kassa_core::order_state::PaymentStatus::Unpaid,
        shipping: kassa_core::order_state::ShippingStatus::Unfulfilled,
        cart_id: cart.into(),
        currency: "USD".into(),
        order_number: None,
        external_ref: None,
        contact_name: None,
        contact_email: None,
        customer_name: Some("Ann".into()),
        customer_email: Some("ann@pawnee.gov".into()),
        customer_id: None,
        account_id: None,
        account_member_id: None,
        billing_address: address(),
        shipping_address: address(),
        custom_attributes: json!({}),
        calculation_method: kassa_core::cart_totals::CalculationMethod::Line,
        with_tax: total,
        without_tax: total,
        tax: 0,
        discount: 0,
        without_discount: total,
        shipping_amount: 0,
        shipping_discount: 0,
        paid: 0,
        authorized: 0,
        balance_owing: total,
        fully_paid_at: None,
        stock_allocated,
        created_at: now,
        updated_at: now,
    }
}

/// The refusals of the state machine not covered above, each over HTTP, each leaving the
/// transactions and the order exactly as they were.
async fn refused_captures_refunds_and_fulfilments_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let unchanged = |order: String| {
        let (app, admin) = (&app, admin.clone());
        async move {
            (
                transactions(app, &admin, &order).await,
                app.get(&format!("/v2/orders/{order}"), &admin).await.body,
            )
        }
    };
    // Capturing a purchase; refunding an authorization.
    let paid = app.guest_order(&admin, 500).await;
    let purchase = id_of(&pay(&app, &implicit, &[], &paid, payment("purchase", None)).await);
    let held_order = app.guest_order(&admin, 500).await;
    let held = id_of(&pay(&app, &implicit, &[], &held_order, payment("authorize", None)).await);
    let cases = [
        (
            paid.clone(),
            purchase.clone(),
            "capture",
            "Only a complete authorization that has not been captured can be captured",
        ),
        (
            held_order.clone(),
            held.clone(),
            "refund",
            "Only a complete purchase or capture can be refunded",
        ),
    ];
    for (order, tx, action, detail) in cases {
        let before = unchanged(order.clone()).await;
        let r = tx_action(&app, &admin, &order, &tx, action, None).await;
        assert_eq!(r.status, 400, "{action}: {}", r.body);
        assert_eq!(r.error()["detail"], detail);
        assert_eq!(unchanged(order).await, before);
    }
    // A transaction of another order is not found on this one.
    let r = tx_action(&app, &admin, &paid, &held, "capture", None).await;
    assert_eq!(r.status, 404);
    // Capturing on a cancelled order.
    let r = app
        .put(
            &format!("/v2/orders/{held_order}"),
            &admin,
            json!({"data": {"type": "order", "status": "cancelled"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let before = unchanged(held_order.clone()).await;
    let r = tx_action(&app, &admin, &held_order, &held, "capture", None).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["detail"], "The order has been cancelled");
    assert_eq!(unchanged(held_order).await, before);
    // Fulfilling a refunded order.
    assert_eq!(
        tx_action(&app, &admin, &paid, &purchase, "refund", None)
            .await
            .status,
        200
    );
    let before = unchanged(paid.clone()).await;
    let r = app
        .put(
            &format!("/v2/orders/{paid}"),
            &admin,
            json!({"data": {"type": "order", "shipping": "fulfilled"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["detail"], "You can fulfill a paid order only");
    assert_eq!(unchanged(paid).await, before);
}
