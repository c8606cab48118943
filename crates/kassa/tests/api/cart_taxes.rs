//! Tax items on cart lines and the totals they make under both calculation methods, the store
//! settings (`/v2/settings`, `/v2/settings/cart`) and what they change about carts, and cart
//! expiry with its background sweep.

use std::sync::Arc;
use std::time::Duration;

use kassa::config::Database;
use kassa_core::store::Store;
use kassa_core::time::{now_millis, parse_rfc3339};
use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    rates_and_amounts_make_exact_totals,
    tax_item_rules_and_access,
    bulk_add_and_delete,
    settings_round_trip_and_validation,
    cart_settings_shape_new_carts,
    show_all_carts_lists_guest_carts,
    expired_carts_are_gone_and_swept,
);

const DAY_MS: i64 = 86_400_000;

fn custom(sku: &str, quantity: i64, amount: i64, includes_tax: bool) -> Value {
    json!({"type": "custom_item", "name": sku, "sku": sku, "quantity": quantity,
           "price": {"amount": amount, "includes_tax": includes_tax}})
}

fn rate(rate: f64) -> Value {
    json!({"data": {"type": "tax_item", "name": "Sales Tax", "code": "ST", "jurisdiction": "US-NY", "rate": rate}})
}

fn amount(amount: i64) -> Value {
    json!({"data": {"type": "tax_item", "name": "GST", "code": "GST", "jurisdiction": "AU", "amount": amount}})
}

/// Adds a custom item and returns its id.
async fn line(app: &TestApp, token: &str, cart: &str, item: Value) -> String {
    let r = app
        .post(
            &format!("/v2/carts/{cart}/items"),
            token,
            json!({ "data": item.clone() }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku"] == item["sku"])
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn tax(app: &TestApp, token: &str, cart: &str, item: &str, body: Value) -> crate::helpers::Resp {
    app.post(&format!("/v2/carts/{cart}/items/{item}/taxes"), token, body)
        .await
}

fn figures(display_price: &Value) -> (i64, i64, i64) {
    (
        display_price["without_tax"]["amount"].as_i64().unwrap(),
        display_price["tax"]["amount"].as_i64().unwrap(),
        display_price["with_tax"]["amount"].as_i64().unwrap(),
    )
}

async fn rates_and_amounts_make_exact_totals(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let cart = "taxed";
    // A: tax-exclusive 3 × 10.05 at 7.5%. B: tax-inclusive 2 × 12.00 with a fixed 1.50.
    // C: tax-inclusive 1 × 10.00 at 20%.
    let a = line(&app, &admin, cart, custom("A", 3, 1005, false)).await;
    let b = line(&app, &admin, cart, custom("B", 2, 1200, true)).await;
    let c = line(&app, &admin, cart, custom("C", 1, 1000, true)).await;
    let r = tax(&app, &admin, cart, &a, rate(0.075)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["type"], "tax_item");
    assert_eq!(d["rate"], 0.075);
    assert_eq!(
        (&d["name"], &d["code"], &d["jurisdiction"]),
        (&json!("Sales Tax"), &json!("ST"), &json!("US-NY"))
    );
    assert!(d.get("amount").is_none(), "{d}");
    let rate_id = d["id"].as_str().unwrap().to_owned();
    let r = tax(&app, &admin, cart, &b, amount(150)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["amount"], 150);
    assert!(r.body["data"].get("rate").is_none());
    assert_eq!(tax(&app, &admin, cart, &c, rate(0.2)).await.status, 201);

    // Line method (the default): A's tax is 3015 × 0.075 = 226.125 → 226; B's net is
    // 2400 − 150 = 2250; C's net is 1000 / 1.2 = 833.33 → 833, its tax 167.
    let r = app
        .get(&format!("/v2/carts/{cart}?include=items,tax_items"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        figures(&r.body["data"]["meta"]["display_price"]),
        (3015 + 2250 + 833, 226 + 150 + 167, 3241 + 2400 + 1000)
    );
    let items = r.body["included"]["items"].as_array().unwrap();
    let item_a = items.iter().find(|i| i["id"] == a.as_str()).unwrap();
    assert_eq!(
        item_a["relationships"]["taxes"]["data"],
        json!([{"type": "tax_item", "id": rate_id}])
    );
    assert_eq!(item_a["meta"]["display_price"]["tax"]["value"]["amount"], 226);
    assert_eq!(item_a["meta"]["display_price"]["tax"]["unit"]["amount"], 75);
    let included = r.body["included"]["tax_items"].as_array().unwrap();
    assert_eq!(included.len(), 3);
    assert!(
        included
            .iter()
            .any(|t| t["id"] == rate_id.as_str() && t["rate"] == 0.075)
    );
    assert!(included.iter().any(|t| t["amount"] == 150));
    let r = app
        .get(&format!("/v2/carts/{cart}/items?include=tax_items"), &admin)
        .await;
    assert_eq!(r.body["included"]["tax_items"].as_array().unwrap().len(), 3);
    assert_eq!(figures(&r.body["meta"]["display_price"]).1, 543);

    // Simple method: A's tax is per unit, 10.05 × 0.075 = 0.75375 → 75, times 3 = 225: one
    // minor unit less than the line method. B and C are the same either way.
    let r = app
        .put(
            "/v2/settings",
            &admin,
            json!({"data": {"type": "settings", "calculation_method": "simple"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.get(&format!("/v2/carts/{cart}"), &admin).await;
    assert_eq!(
        figures(&r.body["data"]["meta"]["display_price"]),
        (3015 + 2250 + 833, 225 + 150 + 167, 3240 + 2400 + 1000)
    );

    // Removing a line removes its tax items with it.
    let r = app.delete(&format!("/v2/carts/{cart}/items/{a}"), &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(figures(&r.body["meta"]["display_price"]), (2250 + 833, 317, 3400));
    let r = app
        .get(&format!("/v2/carts/{cart}?include=tax_items"), &admin)
        .await;
    assert_eq!(r.body["included"]["tax_items"].as_array().unwrap().len(), 2);
}

async fn tax_item_rules_and_access(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let cart = "rules";
    let item = line(&app, &implicit, cart, custom("X", 1, 1000, false)).await;

    // Shoppers may not set tax.
    assert_eq!(tax(&app, &implicit, cart, &item, rate(0.1)).await.status, 403);
    let r = app
        .post(&format!("/v2/carts/{cart}/taxes"), &implicit, json!({"data": []}))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        app.delete(&format!("/v2/carts/{cart}/taxes"), &implicit)
            .await
            .status,
        403
    );

    // A rate or an amount, not both, not neither.
    let r = tax(
        &app,
        &admin,
        cart,
        &item,
        json!({"data": {"type": "tax_item", "rate": 0.1, "amount": 10}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["source"], "data.amount");
    let r = tax(
        &app,
        &admin,
        cart,
        &item,
        json!({"data": {"type": "tax_item", "name": "None"}}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.rate");
    let r = tax(
        &app,
        &admin,
        cart,
        &item,
        json!({"data": {"type": "tax_item", "rate": -0.1}}),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = tax(
        &app,
        &admin,
        cart,
        &item,
        json!({"data": {"type": "tax", "amount": 1.5}}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 2, "{}", r.body);
    // An unknown line.
    let r = tax(
        &app,
        &admin,
        cart,
        "5601a4b1-9d13-42d3-8fb7-03b35169d1b6",
        rate(0.1),
    )
    .await;
    assert_eq!(r.status, 404);
    r.error();

    // At most five per line.
    let mut ids = Vec::new();
    for _ in 0..5 {
        let r = tax(&app, &admin, cart, &item, rate(0.01)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["data"]["id"].as_str().unwrap().to_owned());
    }
    let r = tax(&app, &admin, cart, &item, rate(0.01)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["meta"]["id"], item.as_str());
    let r = app.get(&format!("/v2/carts/{cart}"), &implicit).await;
    assert_eq!(
        figures(&r.body["data"]["meta"]["display_price"]),
        (1000, 50, 1050)
    );

    // Update: a rate becomes an amount only when the rate is cleared.
    let path = format!("/v2/carts/{cart}/items/{item}/taxes/{}", ids[0]);
    let r = app
        .put(&path, &admin, json!({"data": {"type": "tax_item", "amount": 99}}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = app
        .put(
            &path,
            &admin,
            json!({"data": {"type": "tax_item", "rate": null, "amount": 99}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["amount"], 99);
    assert_eq!(r.body["data"]["name"], "Sales Tax", "unchanged fields stay");
    assert_eq!(
        app.put(
            &path,
            &implicit,
            json!({"data": {"type": "tax_item", "amount": 1}})
        )
        .await
        .status,
        403
    );
    let r = app.get(&format!("/v2/carts/{cart}"), &implicit).await;
    assert_eq!(
        figures(&r.body["data"]["meta"]["display_price"]),
        (1000, 40 + 99, 1139)
    );
    assert_eq!(app.delete(&path, &implicit).await.status, 403);
    assert_eq!(app.delete(&path, &admin).await.status, 204);
    assert_eq!(app.delete(&path, &admin).await.status, 404);
    let r = app
        .put(&path, &admin, json!({"data": {"type": "tax_item", "amount": 1}}))
        .await;
    assert_eq!(r.status, 404);
}

async fn bulk_add_and_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let cart = "bulk";
    let a = line(&app, &admin, cart, custom("A", 1, 1000, false)).await;
    let b = line(&app, &admin, cart, custom("B", 1, 2000, false)).await;
    let entry = |item: &str, body: Value| {
        let mut v = body["data"].clone();
        v["relationships"] = json!({"item": {"data": {"type": "custom_item", "id": item}}});
        v
    };
    let unknown = "5601a4b1-9d13-42d3-8fb7-03b35169d1b6";
    let path = format!("/v2/carts/{cart}/taxes");

    let r = app
        .post(
            &path,
            &admin,
            json!({"data": [entry(&a, rate(0.1)), entry(unknown, amount(5))], "options": {"add_all_or_nothing": true}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    r.error();
    let count = |r: &crate::helpers::Resp| r.body["included"]["tax_items"].as_array().map_or(0, Vec::len);
    let r = app
        .get(&format!("/v2/carts/{cart}?include=tax_items"), &admin)
        .await;
    assert_eq!(count(&r), 0, "nothing added");

    let r = app
        .post(
            &path,
            &admin,
            json!({"data": [entry(&a, rate(0.1)), entry(&b, amount(150)), entry(unknown, amount(5))]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["relationships"]["item"]["data"]["id"], a.as_str());
    assert_eq!(data[1]["amount"], 150);
    assert_eq!(r.body["errors"][0]["status"], 404);
    assert_eq!(r.body["errors"][0]["meta"]["id"], unknown);
    let r = app
        .get(&format!("/v2/carts/{cart}?include=tax_items"), &admin)
        .await;
    assert_eq!(count(&r), 2);
    assert_eq!(
        figures(&r.body["data"]["meta"]["display_price"]),
        (3000, 250, 3250)
    );

    // A bad entry is named by its index.
    let r = app
        .post(
            &path,
            &admin,
            json!({"data": [{"type": "tax_item", "rate": 0.1}], "options": {"add_all_or_nothing": true}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data[0].relationships.item.data.type");

    assert_eq!(app.delete(&path, &admin).await.status, 204);
    let r = app.get(&format!("/v2/carts/{cart}"), &admin).await;
    assert_eq!(figures(&r.body["data"]["meta"]["display_price"]), (3000, 0, 3000));
    let r = app.delete(&path, &admin).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["detail"], "No tax items exist in the cart");
}

async fn settings_round_trip_and_validation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let r = app.get("/v2/settings", &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"data": {"type": "settings", "page_length": 25, "calculation_method": "line",
                         "currency_limit": 10, "tax_item_limit": 5, "filter_limit": 10, "page_offset_limit": 10000,
                         "shopper_address_limit": 25, "inventory": {"reserve_at": "payment"}},
               "meta": {"owner": "store"}})
    );
    let r = app.get("/v2/settings", &implicit).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.error()["status"],
        "403",
        "string status like the other settings"
    );
    assert_eq!(app.get("/v2/settings/cart", &implicit).await.status, 403);
    assert_eq!(
        app.put(
            "/v2/settings/cart",
            &implicit,
            json!({"data": {"type": "settings"}})
        )
        .await
        .status,
        403
    );

    let r = app
        .put(
            "/v2/settings",
            &admin,
            json!({"data": {"type": "settings", "page_length": 101, "calculation_method": "rounded"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let sources: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["data.page_length", "data.calculation_method"]);
    assert_eq!(r.error()["status"], "400");
    let r = app
        .put("/v2/settings", &admin, json!({"data": {"page_length": 10}}))
        .await;
    assert_eq!(r.status, 400, "type is required");
    let r = app
        .put(
            "/v2/settings",
            &admin,
            json!({"data": {"type": "settings", "page_length": 50, "calculation_method": "simple"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.get("/v2/settings", &admin).await;
    assert_eq!(
        (
            &r.body["data"]["page_length"],
            &r.body["data"]["calculation_method"]
        ),
        (&json!(50), &json!("simple"))
    );

    let r = app.get("/v2/settings/cart", &admin).await;
    assert_eq!(
        r.body,
        json!({"data": {"type": "settings", "cart_expiry_days": 7,
                         "discounts": {"custom_discounts_enabled": false, "use_rule_promotions": false},
                         "inventories": {"defer_inventory_check": false}, "show_all_carts": false}})
    );
    for days in [0, 366] {
        let r = app
            .put(
                "/v2/settings/cart",
                &admin,
                json!({"data": {"type": "settings", "cart_expiry_days": days}}),
            )
            .await;
        assert_eq!(r.status, 400, "{days}");
        assert_eq!(r.error()["source"], "data.cart_expiry_days");
    }
    let r = app
        .put(
            "/v2/settings/cart",
            &admin,
            json!({"data": {"type": "settings", "discounts": {"custom_discounts_enabled": true, "use_rule_promotions": true}}}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.error()["title"], "Cannot use both discounts together");
    let r = app
        .put(
            "/v2/settings/cart",
            &admin,
            json!({"data": {"type": "settings", "cart_expiry_days": 365, "show_all_carts": true}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["cart_expiry_days"], 365);
    let r = app.get("/v2/settings/cart", &admin).await;
    assert_eq!(
        (
            &r.body["data"]["cart_expiry_days"],
            &r.body["data"]["show_all_carts"]
        ),
        (&json!(365), &json!(true))
    );
}

fn lifetime(cart: &Value) -> i64 {
    let ts = &cart["meta"]["timestamps"];
    parse_rfc3339(ts["expires_at"].as_str().unwrap()).unwrap()
        - parse_rfc3339(ts["updated_at"].as_str().unwrap()).unwrap()
}

async fn cart_settings_shape_new_carts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let r = app.get("/v2/carts/before", &implicit).await;
    assert_eq!(lifetime(&r.body["data"]), 7 * DAY_MS);
    let r = app
        .put(
            "/v2/settings/cart",
            &admin,
            json!({"data": {"type": "settings", "cart_expiry_days": 30,
                            "discounts": {"custom_discounts_enabled": true},
                            "inventories": {"defer_inventory_check": true}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // An existing cart keeps its expiry until it is next updated.
    let r = app.get("/v2/carts/before", &implicit).await;
    assert_eq!(lifetime(&r.body["data"]), 7 * DAY_MS);
    assert_eq!(
        r.body["data"]["discount_settings"]["custom_discounts_enabled"],
        false
    );
    let r = app
        .post(
            "/v2/carts/before/items",
            &implicit,
            json!({"data": custom("A", 1, 100, true)}),
        )
        .await;
    assert_eq!(lifetime(&r.body), 30 * DAY_MS);

    // New carts, by id or by POST, take the settings.
    for r in [
        app.get("/v2/carts/after", &implicit).await,
        app.post("/v2/carts", &implicit, json!({"data": {"name": "New"}}))
            .await,
    ] {
        let d = &r.body["data"];
        assert_eq!(lifetime(d), 30 * DAY_MS, "{d}");
        assert_eq!(d["discount_settings"]["custom_discounts_enabled"], true);
        assert_eq!(d["discount_settings"]["use_rule_promotions"], false);
        assert_eq!(d["inventory_settings"]["defer_inventory_check"], true);
    }
    let r = app
        .put("/v2/carts/after", &implicit, json!({"data": {"name": "Renamed"}}))
        .await;
    assert_eq!(lifetime(&r.body["data"]), 30 * DAY_MS);
}

async fn show_all_carts_lists_guest_carts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    assert_eq!(app.get("/v2/carts/guest", &implicit).await.status, 200);
    let ids = |r: &crate::helpers::Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = app.get("/v2/carts", &admin).await;
    assert_eq!(r.status, 200);
    assert!(ids(&r).is_empty(), "only associated carts by default");
    let r = app
        .put(
            "/v2/settings/cart",
            &admin,
            json!({"data": {"type": "settings", "show_all_carts": true}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app.get("/v2/carts", &admin).await;
    assert_eq!(ids(&r), ["guest"]);
    assert_eq!(r.body["meta"]["results"]["total"], 1);
    // Shoppers still need their own token to list carts.
    assert_eq!(app.get("/v2/carts", &implicit).await.status, 403);
}

/// Sets a cart's `expires_at` into the past through the store, as time passing would.
async fn expire(store: &Arc<dyn Store>, id: &str) {
    let mut cart = store.cart(id, now_millis()).await.unwrap().expect("live cart");
    cart.expires_at = now_millis() - 1000;
    assert!(store.update_cart(cart, Vec::new()).await.unwrap());
}

async fn expired_carts_are_gone_and_swept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let store = kassa::prepare_store(&Database::parse(&app.db.url).unwrap())
        .await
        .unwrap();
    for id in ["old", "swept", "live"] {
        let r = app
            .post(
                &format!("/v2/carts/{id}/items"),
                &admin,
                json!({"data": custom("A", 2, 500, false)}),
            )
            .await;
        assert_eq!(r.status, 201);
        let item = r.body["data"][0]["id"].as_str().unwrap().to_owned();
        let r = app
            .post(&format!("/v2/carts/{id}/items/{item}/taxes"), &admin, rate(0.1))
            .await;
        assert_eq!(r.status, 201);
    }
    let before =
        app.get("/v2/carts/old", &admin).await.body["data"]["meta"]["timestamps"]["created_at"].clone();

    // An expired cart reads as a new, empty cart.
    expire(&store, "old").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = app.get("/v2/carts/old?include=items,tax_items", &admin).await;
    assert_eq!(r.status, 200);
    assert_ne!(r.body["data"]["meta"]["timestamps"]["created_at"], before);
    assert_eq!(r.body["included"]["items"], json!([]));
    assert_eq!(r.body["included"]["tax_items"], json!([]));
    assert_eq!(figures(&r.body["data"]["meta"]["display_price"]), (0, 0, 0));

    // The sweep deletes expired carts with their lines, and leaves live ones.
    expire(&store, "swept").await;
    kassa::sweep_expired_carts(
        Arc::clone(&store),
        Duration::from_millis(20),
        tokio::time::sleep(Duration::from_millis(100)),
    )
    .await;
    assert!(store.cart("swept", 0).await.unwrap().is_none(), "deleted");
    assert!(store.cart_items("swept").await.unwrap().is_empty());
    assert!(store.cart_tax_items("swept").await.unwrap().is_empty());
    assert!(store.cart("live", now_millis()).await.unwrap().is_some());
    assert_eq!(store.cart_tax_items("live").await.unwrap().len(), 1);
    assert_eq!(
        store.delete_expired_carts(now_millis()).await.unwrap(),
        0,
        "idempotent"
    );
    let r = app.call(Method::GET, "/v2/carts/live", Some(&admin), None).await;
    assert_eq!(
        figures(&r.body["data"]["meta"]["display_price"]),
        (1000, 100, 1100)
    );
}
