//! The events of issue 23's second part, delivered to a real HTTP receiver: each with its
//! payload (the resource as the API renders it, or `{type, id}` for a deletion), and none
//! written for a change no integration observes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::add_custom;
use crate::helpers::{Backend, Options, TestApp};
use crate::integrations::{Delivery, Receiver, fast_policy, webhook};

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            delivery: fast_policy(),
            ..Options::default()
        },
    )
    .await
}

async fn integration(app: &TestApp, admin: &str, body: Value) -> String {
    let r = app.post("/v2/integrations", admin, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

async fn jobs(app: &TestApp, admin: &str, hook: &str) -> u64 {
    let r = app
        .get(&format!("/v2/integrations/{hook}/jobs?page[limit]=1"), admin)
        .await;
    r.body["meta"]["results"]["total"].as_u64().unwrap()
}

fn of_kind<'a>(got: &'a [Delivery], kind: &str) -> Vec<&'a Delivery> {
    got.iter().filter(|d| d.body["triggered_by"] == kind).collect()
}

fn cart_total(d: &Delivery) -> i64 {
    d.body["payload"]["data"]["meta"]["display_price"]["with_tax"]["amount"]
        .as_i64()
        .unwrap()
}

/// `cart.updated` for a change of the cart's fields and of its lines (add, quantity, removal),
/// each carrying the cart after the change as `GET /v2/carts/{id}` renders it; `cart.deleted`
/// with only the type and id. Creating a cart is no event (Elastic Path's table has none).
async fn cart_events_carry_the_cart(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let hook = integration(
        &app,
        &admin,
        webhook(&receiver.url, &["cart.updated", "cart.deleted"]),
    )
    .await;
    let mut bystander = webhook(&receiver.url, &["order.created"]);
    bystander["data"]["name"] = json!("bystander");
    let bystander = integration(&app, &admin, bystander).await;

    let r = app
        .post("/v2/carts", &admin, json!({"data": {"name": "Wish list"}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cart = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .put(
            &format!("/v2/carts/{cart}"),
            &admin,
            json!({"data": {"name": "Gifts"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    add_custom(&app, &admin, &cart, "mug", 2, 1250).await;
    let r = app.get(&format!("/v2/carts/{cart}/items"), &admin).await;
    let item = r.body["data"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .put(
            &format!("/v2/carts/{cart}/items/{item}"),
            &admin,
            json!({"data": {"quantity": 3}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .delete(&format!("/v2/carts/{cart}/items/{item}"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.delete(&format!("/v2/carts/{cart}"), &admin).await.status, 204);

    let got = receiver.wait_for(Duration::from_secs(10), |g| g.len() >= 5).await;
    let updated = of_kind(&got, "cart.updated");
    assert_eq!(updated.len(), 4, "{got:#?}");
    for d in &updated {
        let data = &d.body["payload"]["data"];
        assert_eq!(data["type"], "cart");
        assert_eq!(data["id"], cart.as_str());
        assert_eq!(data["name"], "Gifts");
        assert!(data["meta"]["timestamps"]["updated_at"].is_string(), "{data}");
        assert_eq!(d.body["integration"]["id"], hook.as_str());
    }
    let mut totals: Vec<i64> = updated.iter().map(|d| cart_total(d)).collect();
    totals.sort_unstable();
    assert_eq!(totals, [0, 0, 2500, 3750]);
    let with_item = updated.iter().find(|d| cart_total(d) == 2500).unwrap();
    assert_eq!(
        with_item.body["payload"]["data"]["relationships"]["items"]["data"][0]["id"],
        item.as_str()
    );
    let deleted = of_kind(&got, "cart.deleted");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].body["payload"], json!({"type": "cart", "id": cart}));
    // One job per observed change; the integration observing something else got none.
    assert_eq!(jobs(&app, &admin, &hook).await, 5);
    assert_eq!(jobs(&app, &admin, &bystander).await, 0);
}

backend_tests!(cart_events_carry_the_cart);
