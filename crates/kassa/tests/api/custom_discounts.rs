//! Custom discounts end to end: `/v2/carts/{id}/custom-discounts[/{id}]` and
//! `/v2/carts/{id}/items/{itemID}/custom-discounts[/{id}]`, what carts show of them, every
//! refusal (nothing changed), who may use them, and checkout keeping them on the order.

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::guest_body;
use crate::helpers::{Backend, Resp, TestApp, assert_same_dump, req};

backend_tests!(
    custom_discounts_price_the_cart_and_show_everywhere,
    refusals_and_access_change_nothing,
    checkout_keeps_custom_discounts_on_the_order,
);

fn discount(code: &str, amount: i64) -> Value {
    json!({"type": "custom_discount", "external_id": format!("ext-{code}"), "discount_engine": "Talon.one",
           "description": format!("{code} off"), "discount_code": code, "amount": amount})
}

/// A cart `id` that uses custom discounts, with A (2 × 10.00 taxed at 10 %) and B (5.00):
/// answers the two lines' ids.
async fn custom_cart(app: &TestApp, admin: &str, id: &str) -> (String, String) {
    let r = app
        .put(
            &format!("/v2/carts/{id}"),
            admin,
            json!({"data": {"discount_settings": {"custom_discounts_enabled": true}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"]["discount_settings"]["custom_discounts_enabled"],
        true
    );
    let mut ids = Vec::new();
    for (sku, quantity, amount) in [("A", 2, 1000), ("B", 1, 500)] {
        let r = app
            .post(
                &format!("/v2/carts/{id}/items"),
                admin,
                json!({"data": {"type": "custom_item", "name": sku, "sku": sku, "quantity": quantity,
                                "price": {"amount": amount, "includes_tax": false}}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let line = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["sku"] == sku)
            .unwrap();
        ids.push(line["id"].as_str().unwrap().to_owned());
    }
    let r = app
        .post(
            &format!("/v2/carts/{id}/items/{}/taxes", ids[0]),
            admin,
            json!({"data": {"type": "tax_item", "name": "VAT", "rate": 0.1}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    (ids[0].clone(), ids[1].clone())
}

fn figure(display_price: &Value, name: &str) -> i64 {
    display_price[name]["amount"]
        .as_i64()
        .unwrap_or_else(|| panic!("{name}: {display_price}"))
}

/// (without tax, discount, tax, with tax) of the cart.
async fn totals(app: &TestApp, token: &str, cart: &str) -> (i64, i64, i64, i64) {
    let r = app.get(&format!("/v2/carts/{cart}"), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"]["meta"]["display_price"];
    (
        figure(d, "without_tax"),
        figure(d, "discount"),
        figure(d, "tax"),
        figure(d, "with_tax"),
    )
}

async fn add_to_cart(app: &TestApp, admin: &str, cart: &str, body: Value) -> Resp {
    app.post(&format!("/v2/carts/{cart}/custom-discounts"), admin, body)
        .await
}

async fn add_to_item(app: &TestApp, admin: &str, cart: &str, item: &str, body: Value) -> Resp {
    app.post(
        &format!("/v2/carts/{cart}/items/{item}/custom-discounts"),
        admin,
        body,
    )
    .await
}

async fn custom_discounts_price_the_cart_and_show_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    // An automatic promotion applies to other carts, never to one that uses custom discounts.
    let r = app
        .post(
            "/v2/rule-promotions",
            &admin,
            json!({"data": {"type": "rule_promotion", "name": "Ten", "enabled": true, "automatic": true,
                            "rule_set": {"actions": [{"strategy": "cart_discount", "args": ["percent", 10]}]}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (a, _b) = custom_cart(&app, &admin, "cd1").await;
    assert_eq!(totals(&app, &shopper, "cd1").await, (2500, 0, 200, 2700));

    // One on the cart (a `data` object is answered as one)…
    let r = add_to_cart(&app, &admin, "cd1", json!({"data": discount("CART", -250)})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["type"], "custom_discount");
    assert_eq!(
        (
            &d["external_id"],
            &d["discount_engine"],
            &d["description"],
            &d["discount_code"]
        ),
        (
            &json!("ext-CART"),
            &json!("Talon.one"),
            &json!("CART off"),
            &json!("CART")
        )
    );
    assert_eq!(d["amount"]["amount"], -250);
    assert_eq!(d["amount"]["currency"], "USD");
    assert!(d["amount"]["formatted"].is_string());
    assert!(d.get("relationships").is_none(), "{d}");
    let on_cart = d["id"].as_str().unwrap().to_owned();
    // …and one on line A (the SDK's `data` wrapper).
    let r = add_to_item(&app, &admin, "cd1", &a, json!({"data": discount("LINE", -500)})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["data"]["relationships"]["item"]["data"],
        json!({"type": "custom_item", "id": a})
    );
    let on_a = r.body["data"]["id"].as_str().unwrap().to_owned();

    // A: 2000 − 500 − 187 (its share of 250, spread 1500:500) = 1313, tax 131; B: 500 − 63.
    assert_eq!(totals(&app, &shopper, "cd1").await, (1750, -750, 131, 1881));
    // A cart listing prices them too.
    let r = app
        .put(
            "/v2/settings/cart",
            &admin,
            json!({"data": {"type": "settings", "show_all_carts": true}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.get("/v2/carts", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let listed = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "cd1")
        .unwrap()
        .clone();
    assert_eq!(figure(&listed["meta"]["display_price"], "discount"), -750);
    assert_eq!(
        listed["relationships"]["custom_discounts"]["data"],
        json!([{"type": "custom_discount", "id": on_cart}])
    );
    let r = app
        .get(
            "/v2/carts/cd1?include=custom_discounts,items,promotions",
            &shopper,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["data"]["relationships"]["custom_discounts"]["data"],
        json!([{"type": "custom_discount", "id": on_cart}])
    );
    assert_eq!(r.body["data"]["relationships"]["promotions"]["data"], json!([]));
    assert_eq!(r.body["included"]["promotions"], json!([]));
    let included = r.body["included"]["custom_discounts"].as_array().unwrap();
    assert_eq!(included.len(), 2, "{}", r.body);
    assert!(
        included
            .iter()
            .any(|c| c["id"] == on_a.as_str() && c["relationships"]["item"]["data"]["id"] == a.as_str())
    );
    let items = r.body["included"]["items"].as_array().unwrap();
    let item_a = items.iter().find(|i| i["id"] == a.as_str()).unwrap();
    assert_eq!(
        item_a["relationships"]["custom_discounts"]["data"],
        json!([{"type": "custom_discount", "id": on_a}])
    );
    let discounts = item_a["discounts"].as_array().unwrap();
    assert_eq!(discounts.len(), 2, "{item_a}");
    assert_eq!(discounts[0]["code"], "LINE");
    assert_eq!(discounts[0]["amount"]["amount"], -500);
    assert_eq!(discounts[0]["id"], on_a.as_str());
    assert!(discounts[0].get("promotion_source").is_none());
    assert_eq!(discounts[1]["code"], "CART");
    assert_eq!(discounts[1]["amount"]["amount"], -187);
    assert_eq!(discounts[1]["is_cart_discount"], true);
    let by_code = &item_a["meta"]["display_price"]["discounts"];
    assert_eq!(by_code["LINE"]["amount"], -500);
    assert_eq!(by_code["CART"]["constituents"][&on_cart]["amount"], -187);
    assert_eq!(item_a["meta"]["display_price"]["tax"]["value"]["amount"], 131);
    // No promotion_item lines: custom discounts are not items.
    assert_eq!(items.len(), 2);
    // The items collection includes them too.
    let r = app
        .get("/v2/carts/cd1/items?include=custom_discounts", &admin)
        .await;
    assert_eq!(
        r.body["included"]["custom_discounts"].as_array().unwrap().len(),
        2
    );

    // Never below zero: a line's is capped at the line, the cart's at what is left.
    let r = app
        .put(
            &format!("/v2/carts/cd1/items/{a}/custom-discounts/{on_a}"),
            &admin,
            json!({"data": {"type": "custom_discount", "amount": -9000}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["amount"]["amount"], -9000, "kept as given");
    assert_eq!(r.body["data"]["discount_code"], "LINE", "unchanged fields stay");
    let r = app
        .put(
            &format!("/v2/carts/cd1/custom-discounts/{on_cart}"),
            &admin,
            json!({"data": {"amount": {"amount": -9000, "currency": "USD"}, "description": "more"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["description"], "more");
    assert_eq!(totals(&app, &shopper, "cd1").await, (0, -2500, 0, 0));

    // Bulk: an array, one on a line through `relationships.item`, one refused.
    let mut on_line = discount("BULK", -100);
    on_line["relationships"] = json!({"item": {"data": {"type": "custom_item", "id": a}}});
    let r = add_to_cart(
        &app,
        &admin,
        "cd1",
        json!({"data": [discount("BULK2", -100), on_line, discount("BAD", 5)]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        r.body["data"][1]["relationships"]["item"]["data"]["id"],
        a.as_str()
    );
    assert_eq!(r.body["errors"][0]["source"], "data[2].amount");

    // Deleting one, then all.
    let path = format!("/v2/carts/cd1/items/{a}/custom-discounts/{on_a}");
    assert_eq!(app.delete(&path, &admin).await.status, 204);
    assert_eq!(app.delete(&path, &admin).await.status, 404);
    assert_eq!(
        app.delete("/v2/carts/cd1/custom-discounts", &admin).await.status,
        204
    );
    assert_eq!(
        app.delete("/v2/carts/cd1/custom-discounts", &admin).await.status,
        204
    );
    assert_eq!(totals(&app, &shopper, "cd1").await, (2500, 0, 200, 2700));
    let r = app.get("/v2/carts/cd1?include=custom_discounts", &admin).await;
    assert_eq!(r.body["included"]["custom_discounts"], json!([]));

    // Removing a line removes its custom discounts; a cart that stops using them shows none
    // (and gets its promotions again), and shows them again when it starts again.
    let (a2, _) = custom_cart(&app, &admin, "cd2").await;
    assert_eq!(
        add_to_item(&app, &admin, "cd2", &a2, json!({"data": discount("L", -100)}))
            .await
            .status,
        201
    );
    assert_eq!(
        add_to_cart(&app, &admin, "cd2", json!({"data": discount("C", -100)}))
            .await
            .status,
        201
    );
    assert_eq!(totals(&app, &shopper, "cd2").await.1, -200);
    let r = app
        .put(
            "/v2/carts/cd2",
            &admin,
            json!({"data": {"discount_settings": {"custom_discounts_enabled": false}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        totals(&app, &shopper, "cd2").await.1,
        -250,
        "the automatic 10 % instead"
    );
    let r = app.get("/v2/carts/cd2?include=custom_discounts", &admin).await;
    assert_eq!(r.body["included"]["custom_discounts"], json!([]));
    let r = app
        .put(
            "/v2/carts/cd2",
            &admin,
            json!({"data": {"discount_settings": {"custom_discounts_enabled": true}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(totals(&app, &shopper, "cd2").await.1, -200);
    assert_eq!(
        app.delete(&format!("/v2/carts/cd2/items/{a2}"), &admin)
            .await
            .status,
        200
    );
    let r = app.get("/v2/carts/cd2?include=custom_discounts", &admin).await;
    assert_eq!(
        r.body["included"]["custom_discounts"].as_array().unwrap().len(),
        1,
        "{}",
        r.body
    );
}

async fn refusals_and_access_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let (a, _) = custom_cart(&app, &admin, "cd3").await;
    let (other_line, _) = custom_cart(&app, &admin, "cd4").await;
    let r = add_to_cart(&app, &admin, "cd4", json!({"data": discount("OTHER", -10)})).await;
    assert_eq!(r.status, 201);
    let other = r.body["data"]["id"].as_str().unwrap().to_owned();
    // A cart that does not use custom discounts, and an empty one that does.
    let r = app
        .post(
            "/v2/carts/plain/items",
            &admin,
            json!({"data": {"type": "custom_item", "name": "P", "sku": "P", "quantity": 1, "price": {"amount": 100}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .put(
            "/v2/carts/empty",
            &admin,
            json!({"data": {"discount_settings": {"custom_discounts_enabled": true}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = add_to_cart(
        &app,
        &admin,
        "cd3",
        json!({"data": [discount("OK", -1), discount("EUR", -1)], "options": {"add_all_or_nothing": true}}),
    )
    .await;
    assert_eq!(r.status, 201, "both good: {}", r.body);
    let added: Vec<String> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &added {
        assert_eq!(
            app.delete(&format!("/v2/carts/cd3/custom-discounts/{id}"), &admin)
                .await
                .status,
            204
        );
    }
    let before = app.db.dump().await;

    // Shoppers: 403 on every route, whatever the cart.
    let good = json!({"data": discount("X", -10)});
    assert_eq!(add_to_cart(&app, &shopper, "cd3", good.clone()).await.status, 403);
    assert_eq!(
        add_to_item(&app, &shopper, "cd3", &a, good.clone()).await.status,
        403
    );
    assert_eq!(
        app.delete("/v2/carts/cd4/custom-discounts", &shopper)
            .await
            .status,
        403
    );
    let on_other = format!("/v2/carts/cd4/custom-discounts/{other}");
    assert_eq!(app.put(&on_other, &shopper, good.clone()).await.status, 403);
    assert_eq!(app.delete(&on_other, &shopper).await.status, 403);
    let r = app
        .call(
            Method::POST,
            "/v2/carts/cd3/custom-discounts",
            None,
            Some(good.clone()),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);

    // The cart's state.
    let r = add_to_cart(&app, &admin, "plain", good.clone()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["detail"], "Custom discounts not enabled for this cart");
    let r = add_to_cart(&app, &admin, "empty", good.clone()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.error()["detail"],
        "Custom discounts cannot be added to an empty cart"
    );
    assert_eq!(
        add_to_cart(&app, &admin, "nosuchcart", good.clone()).await.status,
        404
    );

    // Every bad field at once, each named.
    let r = add_to_cart(
        &app,
        &admin,
        "cd3",
        json!({"data": {"type": "custom", "external_id": "", "discount_engine": 3, "amount": 10}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let sources: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        [
            "data.type",
            "data.external_id",
            "data.discount_engine",
            "data.description",
            "data.discount_code",
            "data.amount"
        ]
    );
    let mut bad_item = discount("R", -1);
    bad_item["relationships"] = json!({"item": {"data": {"type": "product", "id": "x"}}});
    let r = add_to_cart(&app, &admin, "cd3", json!({"data": bad_item})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.relationships.item.data.type");
    let mut wrong_currency = discount("EUR", -1);
    wrong_currency["amount"] = json!({"amount": -1, "currency": "EUR"});
    let r = add_to_cart(
        &app,
        &admin,
        "cd3",
        json!({"data": [discount("OK", -1), wrong_currency], "options": {"add_all_or_nothing": true}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["source"], "data[1].amount.currency");
    assert_eq!(
        add_to_cart(&app, &admin, "cd3", json!({"data": []})).await.status,
        400
    );
    assert_eq!(
        add_to_cart(&app, &admin, "cd3", json!({"data": "x"}))
            .await
            .error()["source"],
        "data"
    );

    // Lines and discounts of another cart are not found here.
    let unknown = "5601a4b1-9d13-42d3-8fb7-03b35169d1b6";
    for item in [unknown, other_line.as_str(), "not-a-uuid"] {
        let r = add_to_item(&app, &admin, "cd3", item, good.clone()).await;
        assert_eq!(r.status, 404, "{item}: {}", r.body);
    }
    let mut elsewhere = discount("E", -1);
    elsewhere["relationships"] = json!({"item": {"data": {"type": "custom_item", "id": other_line}}});
    let r = add_to_cart(&app, &admin, "cd3", json!({"data": elsewhere})).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let here = format!("/v2/carts/cd3/custom-discounts/{other}");
    assert_eq!(app.put(&here, &admin, good.clone()).await.status, 404);
    assert_eq!(app.delete(&here, &admin).await.status, 404);
    let as_line = format!("/v2/carts/cd4/items/{other_line}/custom-discounts/{other}");
    assert_eq!(
        app.put(&as_line, &admin, good.clone()).await.status,
        404,
        "a cart's is not a line's"
    );
    assert_eq!(app.delete(&as_line, &admin).await.status, 404);
    let r = app
        .put(
            &on_other,
            &admin,
            json!({"data": {"amount": 0, "discount_code": ""}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 2);

    // A promotion code on a cart that uses custom discounts.
    let r = app
        .post(
            "/v2/carts/cd3/items",
            &admin,
            json!({"data": {"type": "promotion_item", "code": "ANY"}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.error()["title"],
        "Could not apply EP promotion with the given code"
    );
    assert_eq!(
        r.error()["detail"],
        "The cart is configured to use custom discounts"
    );
    assert_same_dump(&before, &app.db.dump().await, "refused custom discounts");

    // Five on the cart and five on each line, then 422.
    for n in 0..5 {
        let r = add_to_cart(
            &app,
            &admin,
            "cd3",
            json!({"data": discount(&format!("C{n}"), -1)}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = add_to_item(
            &app,
            &admin,
            "cd3",
            &a,
            json!({"data": discount(&format!("L{n}"), -1)}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let before = app.db.dump().await;
    let r = add_to_cart(&app, &admin, "cd3", json!({"data": discount("C5", -1)})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.error()["detail"],
        "Cannot exceed custom discount limit of (5) at the cart level."
    );
    let r = add_to_item(&app, &admin, "cd3", &a, json!({"data": discount("L5", -1)})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error()["title"], "Limit Reached");
    let mut on_a = discount("L6", -1);
    on_a["relationships"] = json!({"item": {"data": {"type": "custom_item", "id": a}}});
    let r = add_to_cart(
        &app,
        &admin,
        "cd3",
        json!({"data": [discount("C6", -1), on_a], "options": {"add_all_or_nothing": true}}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_same_dump(&before, &app.db.dump().await, "custom discounts past the limits");

    // A store with the simple calculation method does not take custom discounts.
    let r = app
        .put(
            "/v2/settings",
            &admin,
            json!({"data": {"type": "settings", "calculation_method": "simple"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = add_to_cart(&app, &admin, "cd4", json!({"data": discount("S", -1)})).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

async fn checkout_keeps_custom_discounts_on_the_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let (a, _) = custom_cart(&app, &admin, "cd5").await;
    let r = add_to_cart(&app, &admin, "cd5", json!({"data": discount("CART", -250)})).await;
    assert_eq!(r.status, 201);
    let on_cart = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = add_to_item(&app, &admin, "cd5", &a, json!({"data": discount("LINE", -500)})).await;
    assert_eq!(r.status, 201);
    let on_a = r.body["data"]["id"].as_str().unwrap().to_owned();

    let r = req(
        &app,
        Method::POST,
        "/v2/carts/cd5/checkout",
        &shopper,
        &[],
        Some(guest_body()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order = r.body["data"]["id"].as_str().unwrap().to_owned();
    let d = &r.body["data"]["meta"]["display_price"];
    assert_eq!(
        (
            figure(d, "without_tax"),
            figure(d, "discount"),
            figure(d, "tax"),
            figure(d, "with_tax")
        ),
        (1750, -750, 131, 1881)
    );
    assert_eq!(
        r.body["data"]["relationships"]["custom_discounts"]["data"],
        json!([{"type": "custom_discount", "id": on_cart}])
    );
    let item_a = r.body["included"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku"] == "A")
        .unwrap()
        .clone();
    assert_eq!(item_a["discounts"][0]["code"], "LINE");
    assert_eq!(item_a["discounts"][0]["amount"]["amount"], -500);
    assert_eq!(item_a["discounts"][1]["amount"]["amount"], -187);

    // The order keeps them: the cart's custom discounts going changes nothing on it.
    assert_eq!(
        app.delete("/v2/carts/cd5/custom-discounts", &admin).await.status,
        204
    );
    let r = app
        .get(
            &format!("/v2/orders/{order}?include=custom_discounts,items"),
            &admin,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(figure(&r.body["data"]["meta"]["display_price"], "with_tax"), 1881);
    let kept = r.body["included"]["custom_discounts"].as_array().unwrap();
    assert_eq!(kept.len(), 2, "{}", r.body);
    let cart_level = kept.iter().find(|k| k["id"] == on_cart.as_str()).unwrap();
    assert_eq!(cart_level["discount_engine"], "Talon.one");
    assert_eq!(cart_level["external_id"], "ext-CART");
    assert_eq!(cart_level["amount"]["amount"], -250);
    let line_level = kept.iter().find(|k| k["id"] == on_a.as_str()).unwrap();
    assert_eq!(line_level["relationships"]["item"]["data"]["id"], item_a["id"]);
    let r = app.get(&format!("/v2/orders/{order}/items"), &admin).await;
    let again = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku"] == "A")
        .unwrap()
        .clone();
    assert_eq!(again["discounts"], item_a["discounts"]);
    // Checkout again, without them now: full price.
    let r = req(
        &app,
        Method::POST,
        "/v2/carts/cd5/checkout",
        &shopper,
        &[],
        Some(guest_body()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(figure(&r.body["data"]["meta"]["display_price"], "with_tax"), 2700);
}
