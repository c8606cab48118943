//! `PUT /v2/orders/{id}`: cancel, fulfil and field edits, each only when EP allows it.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::backend_tests;
use crate::fixtures::{enable_manual, order_state, pay, payment, transactions};
use crate::helpers::{Backend, Resp, TestApp};

backend_tests!(
    only_admins_update_orders,
    bad_bodies_name_the_field_and_change_nothing,
    edits_set_and_clear_fields_until_fulfilled,
    cancel_and_fulfil_follow_the_payment,
);

async fn put_order(app: &TestApp, token: &str, order: &str, data: Value) -> Resp {
    app.put(&format!("/v2/orders/{order}"), token, json!({ "data": data }))
        .await
}

async fn only_admins_update_orders(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let order = app.guest_order(&admin, 100).await;
    let r = put_order(
        &app,
        &implicit,
        &order,
        json!({"type": "order", "status": "cancelled"}),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = put_order(
        &app,
        &admin,
        &Uuid::new_v4().to_string(),
        json!({"type": "order", "status": "cancelled"}),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = put_order(
        &app,
        &admin,
        "not-a-uuid",
        json!({"type": "order", "status": "cancelled"}),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(order_state(&app, &admin, &order).await.0, "incomplete");
}

async fn bad_bodies_name_the_field_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let order = app.guest_order(&admin, 100).await;
    let before = app.get(&format!("/v2/orders/{order}"), &admin).await.body;
    let cases = [
        (json!({"type": "order", "status": "complete"}), "data.status"),
        (
            json!({"type": "order", "shipping": "unfulfilled"}),
            "data.shipping",
        ),
        (json!({"type": "order", "payment": "paid"}), "data.payment"),
        (json!({"type": "order", "with_tax": 1}), "data.with_tax"),
        (json!({"type": "cart", "order_number": "x"}), "data.type"),
        (json!({"type": "order", "order_number": 5}), "data.order_number"),
        (
            json!({"type": "order", "external_ref": "x".repeat(65)}),
            "data.external_ref",
        ),
        (
            json!({"type": "order", "shipping_address": {"first_name": "A"}}),
            "data.shipping_address.last_name",
        ),
        (
            json!({"type": "order", "status": "cancelled", "shipping": "fulfilled"}),
            "data.shipping",
        ),
        (json!({"type": "order"}), "data"),
    ];
    for (data, source) in cases {
        let r = put_order(&app, &admin, &order, data.clone()).await;
        assert_eq!(r.status, 400, "{data}: {}", r.body);
        let sources: Vec<&str> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["source"].as_str())
            .collect();
        assert!(sources.contains(&source), "{data}: {sources:?}");
    }
    let r = app
        .put(&format!("/v2/orders/{order}"), &admin, json!({"nodata": 1}))
        .await;
    assert_eq!(r.status, 400);
    let after = app.get(&format!("/v2/orders/{order}"), &admin).await.body;
    assert_eq!(after, before);
}

async fn edits_set_and_clear_fields_until_fulfilled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    let order = app.guest_order(&admin, 100).await;
    let address = json!({"first_name": "Ron", "last_name": "Swanson", "line_1": "2 Cabin Rd",
                         "city": "Pawnee", "county": "Wamapoke", "postcode": "47998", "country": "US",
                         "instructions": "Leave by the woodpile"});
    let r = put_order(
        &app,
        &admin,
        &order,
        json!({"type": "order", "order_number": "PO-1", "external_ref": "ext-1", "shipping_address": address}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(
        (&d["order_number"], &d["external_ref"]),
        (&json!("PO-1"), &json!("ext-1"))
    );
    assert_eq!(d["shipping_address"], address);
    let read = app.get(&format!("/v2/orders/{order}"), &admin).await;
    assert_eq!(read.body["data"]["order_number"], "PO-1");
    assert_eq!(read.body["data"]["shipping_address"]["last_name"], "Swanson");
    // An empty string clears.
    let r = put_order(
        &app,
        &admin,
        &order,
        json!({"type": "order", "order_number": "", "external_ref": ""}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let read = app.get(&format!("/v2/orders/{order}"), &admin).await;
    assert!(read.body["data"].get("order_number").is_none(), "{}", read.body);
    assert!(read.body["data"].get("external_ref").is_none());

    // Paid, then fulfilled (with an external_ref, as EP's second body allows).
    assert_eq!(
        pay(&app, &implicit, &[], &order, payment("purchase", None))
            .await
            .status,
        200
    );
    let r = put_order(
        &app,
        &admin,
        &order,
        json!({"type": "order", "shipping": "fulfilled", "external_ref": "shipped-1"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["shipping"], "fulfilled");
    assert_eq!(r.body["data"]["external_ref"], "shipped-1");
    // Fulfilled: no more edits, no cancel, no second fulfilment.
    for data in [
        json!({"type": "order", "order_number": "PO-2"}),
        json!({"type": "order", "shipping_address": address}),
        json!({"type": "order", "status": "cancelled"}),
        json!({"type": "order", "shipping": "fulfilled"}),
    ] {
        let r = put_order(&app, &admin, &order, data.clone()).await;
        assert_eq!(r.status, 400, "{data}: {}", r.body);
    }
    let read = app.get(&format!("/v2/orders/{order}"), &admin).await;
    assert!(read.body["data"].get("order_number").is_none());
    assert_eq!(read.body["data"]["external_ref"], "shipped-1");
    assert_eq!(
        order_state(&app, &admin, &order).await,
        ("complete".into(), "paid".into(), "fulfilled".into(), 100, 0, 0)
    );
}

async fn cancel_and_fulfil_follow_the_payment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    enable_manual(&app, &admin).await;
    // Fulfil needs a paid order.
    let order = app.guest_order(&admin, 1000).await;
    let r = put_order(
        &app,
        &admin,
        &order,
        json!({"type": "order", "shipping": "fulfilled"}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["detail"], "You can fulfill a paid order only");
    assert_eq!(
        pay(&app, &implicit, &[], &order, payment("purchase", Some(999)))
            .await
            .status,
        200
    );
    let r = put_order(
        &app,
        &admin,
        &order,
        json!({"type": "order", "shipping": "fulfilled"}),
    )
    .await;
    assert_eq!(r.status, 400);
    // A paid order may be cancelled (cancelling does not refund), and then not paid or shipped.
    assert_eq!(
        pay(&app, &implicit, &[], &order, payment("purchase", None))
            .await
            .status,
        200
    );
    let r = put_order(
        &app,
        &admin,
        &order,
        json!({"type": "order", "status": "cancelled"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["data"]["status"], &r.body["data"]["payment"]),
        (&json!("cancelled"), &json!("paid"))
    );
    let r = put_order(
        &app,
        &admin,
        &order,
        json!({"type": "order", "status": "cancelled"}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["detail"], "The order is already cancelled");
    let r = put_order(
        &app,
        &admin,
        &order,
        json!({"type": "order", "shipping": "fulfilled"}),
    )
    .await;
    assert_eq!(r.status, 400);
    // Edits of a cancelled, unfulfilled order are still allowed.
    let r = put_order(
        &app,
        &admin,
        &order,
        json!({"type": "order", "external_ref": "void"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(transactions(&app, &admin, &order).await.len(), 2);
    assert_eq!(
        order_state(&app, &admin, &order).await,
        (
            "cancelled".into(),
            "paid".into(),
            "unfulfilled".into(),
            1000,
            0,
            0
        )
    );
}
