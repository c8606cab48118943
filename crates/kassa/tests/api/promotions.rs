//! Rule promotions end to end: administration (`/v2/rule-promotions`, codes, usages, jobs), codes
//! in the cart (`promotion_item`, `DELETE /v2/carts/{id}/discounts/{code}`), automatic
//! promotions, what carts and orders show, checkout's re-evaluation and redemption, and a
//! limited code raced by fifty checkouts (on PostgreSQL across two nodes).

use std::collections::HashSet;
use std::sync::Arc;

use crate::backend_tests;
use crate::fixtures::{account, add_custom, add_euro, enable_manual, guest_body, join, login, realm, user};
use crate::helpers::{AM, Backend, Resp, TestApp, assert_same_dump, req};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    administration_validates_and_keeps_promotions,
    codes_are_created_listed_generated_and_deleted,
    a_code_in_the_cart_discounts_and_can_be_removed,
    refused_codes_say_why_and_change_nothing,
    automatic_promotions_come_and_go_with_their_rules,
    strategies_and_limitations_price_the_cart,
    checkout_keeps_the_discounts_and_counts_the_code_once,
    checkout_refuses_a_code_that_no_longer_applies,
    a_limited_code_is_redeemed_exactly_once_under_fifty_checkouts,
    per_shopper_and_per_customer_codes,
    another_account_cannot_add_or_remove_a_code_on_an_accounts_cart,
    jobs_are_listed_exported_and_never_cancelled,
    a_bulk_add_takes_a_code_among_its_items,
);

fn promotion(name: &str, extra: Value, rule_set: Value) -> Value {
    let mut data = json!({"type": "rule_promotion", "name": name, "enabled": true, "rule_set": rule_set});
    for (k, v) in extra.as_object().unwrap() {
        data[k] = v.clone();
    }
    json!({ "data": data })
}

fn percent_off_cart(p: f64) -> Value {
    json!({"actions": [{"strategy": "cart_discount", "args": ["percent", p]}]})
}

/// Creates a promotion; returns its id.
async fn create(app: &TestApp, admin: &str, body: Value) -> String {
    let r = app.post("/v2/rule-promotions", admin, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

async fn add_codes(app: &TestApp, admin: &str, promotion: &str, codes: Value) -> Resp {
    app.post(
        &format!("/v2/rule-promotions/{promotion}/codes"),
        admin,
        json!({"data": {"type": "promotion_codes", "codes": codes}}),
    )
    .await
}

async fn apply(app: &TestApp, token: &str, cart: &str, code: &str) -> Resp {
    app.post(
        &format!("/v2/carts/{cart}/items"),
        token,
        json!({"data": {"type": "promotion_item", "code": code}}),
    )
    .await
}

fn display(cart: &Value, figure: &str) -> i64 {
    cart["meta"]["display_price"][figure]["amount"]
        .as_i64()
        .unwrap_or_else(|| panic!("no {figure}: {cart}"))
}

async fn cart_totals(app: &TestApp, token: &str, cart: &str) -> (i64, i64) {
    let r = app.get(&format!("/v2/carts/{cart}"), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    (
        display(&r.body["data"], "with_tax"),
        display(&r.body["data"], "discount"),
    )
}

async fn administration_validates_and_keeps_promotions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let id = create(
        &app,
        &admin,
        promotion(
            "Ten off",
            json!({"description": "10%", "priority": 3, "start": "2026-01-01", "end": "2099-01-01T00:00:00Z"}),
            percent_off_cart(10.0),
        ),
    )
    .await;
    let r = app.get(&format!("/v2/rule-promotions/{id}"), &admin).await;
    assert_eq!(r.status, 200);
    let d = &r.body["data"];
    assert_eq!(
        (
            &d["type"],
            &d["name"],
            &d["priority"],
            &d["enabled"],
            &d["stackable"],
            &d["automatic"]
        ),
        (
            &json!("rule_promotion"),
            &json!("Ten off"),
            &json!(3),
            &json!(true),
            &json!(true),
            &json!(false)
        )
    );
    assert_eq!(d["start"], "2026-01-01T00:00:00Z");
    assert_eq!(d["rule_set"], percent_off_cart(10.0));

    // Every problem at once, each naming its field, and nothing written.
    let before = app.db.dump().await;
    let bad = json!({"data": {"type": "rule_promotion", "name": "", "priority": "high",
        "rule_set": {"currencies": ["USD"], "rules": {"strategy": "cart_total", "operator": "around", "args": [1]},
                     "actions": [{"strategy": "item_discount", "args": ["percent", 150]},
                                 {"strategy": "cart_discount", "args": ["fixed", -5]}]}}});
    let r = app.post("/v2/rule-promotions", &admin, bad).await;
    assert_eq!(r.status, 400, "{}", r.body);
    r.error();
    let sources: HashSet<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    for s in [
        "data.name",
        "data.priority",
        "data.rule_set.rules.operator",
        "data.rule_set.actions[0].args[1]",
        "data.rule_set.actions[1].args[1]",
    ] {
        assert!(sources.contains(s), "{s} missing from {sources:?}");
    }
    for body in [
        json!({}),
        json!({"data": []}),
        json!({"data": {"type": "promotion", "name": "x"}}),
    ] {
        let r = app.post("/v2/rule-promotions", &admin, body).await;
        assert_eq!(r.status, 400, "{}", r.body);
        r.error();
    }
    assert_same_dump(&before, &app.db.dump().await, "refused creates");

    // A partial update keeps what it leaves out; a bad one changes nothing.
    let r = app
        .put(
            &format!("/v2/rule-promotions/{id}"),
            &admin,
            json!({"data": {"enabled": false}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["data"]["enabled"], &r.body["data"]["name"]),
        (&json!(false), &json!("Ten off"))
    );
    let r = app
        .put(
            &format!("/v2/rule-promotions/{id}"),
            &admin,
            json!({"data": {"rule_set": {"actions": []}}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.rule_set.actions");
    let r = app.get("/v2/rule-promotions", &admin).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["rule_set"], percent_off_cart(10.0));

    // Admin only.
    for (method, path) in [
        (Method::GET, "/v2/rule-promotions".to_owned()),
        (Method::GET, format!("/v2/rule-promotions/{id}")),
        (Method::DELETE, format!("/v2/rule-promotions/{id}")),
        (Method::GET, format!("/v2/rule-promotions/{id}/codes")),
        (Method::GET, format!("/v2/rule-promotions/{id}/usages")),
    ] {
        let r = req(&app, method, &path, &implicit, &[], None).await;
        assert!(r.status == 401 || r.status == 403, "{path}: {}", r.status);
    }
    let r = app.delete(&format!("/v2/rule-promotions/{id}"), &admin).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.get(&format!("/v2/rule-promotions/{id}"), &admin).await.status,
        404
    );
    assert_eq!(
        app.get("/v2/rule-promotions/not-a-uuid", &admin).await.status,
        404
    );
}

async fn codes_are_created_listed_generated_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let id = create(&app, &admin, promotion("Codes", json!({}), percent_off_cart(5.0))).await;
    let r = add_codes(
        &app,
        &admin,
        &id,
        json!([{"code": "Summer", "uses": 2}, {"code": "vip", "max_uses_per_shopper": {"max_uses": 1}}]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"][0]["max_uses"], 2);
    assert_eq!(r.body["data"][1]["consume_unit"], "per_checkout");
    // The same name in another case is a duplicate (422), and nothing of the request is kept.
    let r = add_codes(&app, &admin, &id, json!([{"code": "fresh"}, {"code": "SUMMER"}])).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error()["title"], "Duplicate code");
    let r = add_codes(&app, &admin, &id, json!([{"code": "x", "consume_unit": "never"}])).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.codes[0].consume_unit");
    // Another promotion may have the same code.
    let other = create(&app, &admin, promotion("Other", json!({}), percent_off_cart(1.0))).await;
    assert_eq!(
        add_codes(&app, &admin, &other, json!([{"code": "summer"}]))
            .await
            .status,
        201
    );
    // An automatic promotion takes no codes.
    let auto = create(
        &app,
        &admin,
        promotion("Auto", json!({"automatic": true}), percent_off_cart(1.0)),
    )
    .await;
    assert_eq!(
        add_codes(&app, &admin, &auto, json!([{"code": "nope"}]))
            .await
            .status,
        422
    );

    let r = app.get(&format!("/v2/rule-promotions/{id}/codes"), &admin).await;
    let listed: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["Summer", "vip"]);

    let r = app
        .post(
            &format!("/v2/rule-promotions/{id}/jobs"),
            &admin,
            json!({"data": {"type": "promotion_job", "job_type": "code_generate", "name": "batch",
                            "parameters": {"number_of_codes": 25, "code_prefix": "AB-", "code_length": 10, "max_uses_per_code": 1}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["result"]["generated"], 25);
    let r = app
        .get(&format!("/v2/rule-promotions/{id}/codes?page[limit]=100"), &admin)
        .await;
    let codes = r.body["data"].as_array().unwrap();
    assert_eq!(codes.len(), 27);
    assert!(codes[2]["code"].as_str().unwrap().starts_with("AB-"));
    assert_eq!(codes[2]["code"].as_str().unwrap().len(), 13);
    let r = app
        .post(
            &format!("/v2/rule-promotions/{id}/jobs"),
            &admin,
            json!({"data": {"type": "promotion_job", "job_type": "code_generate", "parameters": {"number_of_codes": 5000}}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.parameters.number_of_codes");

    // Delete one by id, then by name (ignoring case), then all.
    let first = codes[0]["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/v2/rule-promotions/{id}/codes/{first}"), &admin)
            .await
            .status,
        204
    );
    assert_eq!(
        app.delete(&format!("/v2/rule-promotions/{id}/codes/{first}"), &admin)
            .await
            .status,
        404
    );
    let r = req(
        &app,
        Method::DELETE,
        &format!("/v2/rule-promotions/{id}/codes"),
        &admin,
        &[],
        Some(json!({"data": {"type": "promotion_codes", "codes": [{"code": "VIP"}]}})),
    )
    .await;
    assert_eq!(r.status, 204);
    let r = app.get(&format!("/v2/rule-promotions/{id}/codes"), &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 25);
    assert_eq!(
        app.delete(&format!("/v2/rule-promotions/{id}/codes"), &admin)
            .await
            .status,
        204
    );
    let r = app.get(&format!("/v2/rule-promotions/{id}/codes"), &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 0);
    // The other promotion's "summer" is untouched.
    let r = app
        .get(&format!("/v2/rule-promotions/{other}/codes"), &admin)
        .await;
    assert_eq!(r.body["meta"]["results"]["total"], 1);
}

async fn a_code_in_the_cart_discounts_and_can_be_removed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let id = create(
        &app,
        &admin,
        promotion(
            "Ten off",
            json!({"description": "Ten percent"}),
            percent_off_cart(10.0),
        ),
    )
    .await;
    assert_eq!(
        add_codes(&app, &admin, &id, json!([{"code": "SAVE10"}]))
            .await
            .status,
        201
    );
    add_custom(&app, &admin, "c1", "MUG", 2, 1500).await;
    assert_eq!(cart_totals(&app, &shopper, "c1").await, (3000, 0));

    // Matched ignoring case; the items answer shows the promotion_item and the line's discount.
    let r = apply(&app, &shopper, "c1", "save10").await;
    assert_eq!(r.status, 201, "{}", r.body);
    let lines = r.body["data"].as_array().unwrap();
    let promo = lines
        .iter()
        .find(|l| l["type"] == "promotion_item")
        .expect("a promotion_item line");
    assert_eq!(
        (&promo["sku"], &promo["promotion_id"], &promo["name"]),
        (&json!("SAVE10"), &json!(id), &json!("Ten off"))
    );
    assert_eq!(promo["unit_price"]["amount"], -300);
    let mug = lines.iter().find(|l| l["sku"] == "MUG").unwrap();
    assert_eq!(mug["discounts"][0]["amount"]["amount"], -300);
    assert_eq!(mug["discounts"][0]["code"], "SAVE10");
    assert_eq!(mug["discounts"][0]["is_cart_discount"], true);
    assert_eq!(mug["discounts"][0]["promotion_source"], "rule-promotion");
    assert_eq!(
        mug["meta"]["display_price"]["discounts"]["SAVE10"]["amount"],
        -300
    );
    assert_eq!(
        mug["meta"]["display_price"]["discounts"]["SAVE10"]["constituents"][&id]["amount"],
        -300
    );
    assert_eq!(display(&r.body, "with_tax"), 2700);
    assert_eq!(display(&r.body, "discount"), -300);
    // Applying it again changes nothing.
    let r = apply(&app, &shopper, "c1", "Save10").await;
    assert_eq!(r.status, 201);
    assert_eq!(display(&r.body, "with_tax"), 2700);

    let r = app
        .get("/v2/carts/c1?include=promotions,items,custom_discounts", &shopper)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(display(&r.body["data"], "discount"), -300);
    assert_eq!(
        r.body["data"]["relationships"]["promotions"]["data"][0]["id"],
        json!(id)
    );
    let included = &r.body["included"];
    assert_eq!(included["promotions"][0]["id"], json!(id));
    assert_eq!(included["promotions"][0]["promotion_source"], "rule-promotion");
    assert_eq!(included["custom_discounts"], json!([]));
    assert!(
        included["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["type"] == "promotion_item")
    );

    // Removed (ignoring case); removing it again is 404, as on an unknown cart.
    assert_eq!(
        app.delete("/v2/carts/c1/discounts/sAvE10", &shopper).await.status,
        204
    );
    assert_eq!(cart_totals(&app, &shopper, "c1").await, (3000, 0));
    let r = app.delete("/v2/carts/c1/discounts/SAVE10", &shopper).await;
    assert_eq!(r.status, 404);
    r.error();
    assert_eq!(
        app.delete("/v2/carts/nope/discounts/SAVE10", &shopper)
            .await
            .status,
        404
    );
}

async fn refused_codes_say_why_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let big_carts = create(
        &app,
        &admin,
        promotion(
            "Big carts",
            json!({}),
            json!({"rules": {"strategy": "cart_total", "operator": "gte", "args": [10000]},
                   "actions": [{"strategy": "cart_discount", "args": ["percent", 10]}]}),
        ),
    )
    .await;
    let ended = create(
        &app,
        &admin,
        promotion("Ended", json!({"end": "2020-01-01"}), percent_off_cart(5.0)),
    )
    .await;
    let later = create(
        &app,
        &admin,
        promotion("Later", json!({"start": "2099-01-01"}), percent_off_cart(5.0)),
    )
    .await;
    let off = create(
        &app,
        &admin,
        promotion("Off", json!({"enabled": false}), percent_off_cart(5.0)),
    )
    .await;
    let euros = create(
        &app,
        &admin,
        promotion("Euros", json!({}), json!({"currencies": ["EUR"], "actions": [{"strategy": "cart_discount", "args": ["fixed", 100]}]})),
    )
    .await;
    let gone = create(&app, &admin, promotion("Gone", json!({}), percent_off_cart(5.0))).await;
    for (p, code, uses) in [
        (&big_carts, "BIG", None),
        (&ended, "OLD", None),
        (&later, "SOON", None),
        (&off, "OFF", None),
        (&euros, "EURO", None),
        (&gone, "ZERO", Some(0)),
    ] {
        let mut c = json!({"code": code});
        if let Some(n) = uses {
            c["uses"] = json!(n);
        }
        assert_eq!(add_codes(&app, &admin, p, json!([c])).await.status, 201);
    }
    add_custom(&app, &admin, "c2", "MUG", 1, 1500).await;
    let before = app.db.dump().await;
    // (code, status, title)
    let cases = [
        ("NOPE", 404, "Not Found"),
        ("BIG", 400, "Promotion not applicable"),
        ("OLD", 400, "Promotion expired"),
        ("SOON", 400, "Promotion not started"),
        ("OFF", 400, "Promotion not active"),
        ("EURO", 400, "Promotion not applicable"),
        ("ZERO", 400, "Promotion code exhausted"),
    ];
    for (code, status, title) in cases {
        let r = apply(&app, &shopper, "c2", code).await;
        assert_eq!(r.status, status, "{code}: {}", r.body);
        assert_eq!(r.error()["title"], title, "{code}");
    }
    for body in [
        json!({"data": {"type": "promotion_item"}}),
        json!({"data": {"type": "promotion_item", "code": ""}}),
        json!({"data": {"type": "promotion_item", "code": 42}}),
    ] {
        let r = app.post("/v2/carts/c2/items", &shopper, body).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(r.error()["source"], "data.code");
    }
    // A code on an empty, unknown cart is refused and creates no cart.
    let r = apply(&app, &shopper, "never-made", "BIG").await;
    assert_eq!(r.status, 400);
    assert_same_dump(&before, &app.db.dump().await, "refused codes");
    assert_eq!(cart_totals(&app, &shopper, "c2").await, (1500, 0));
}

async fn automatic_promotions_come_and_go_with_their_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    // Half off pens while the cart holds at least 3 of them; 5.00 off carts of 50.00 or more.
    create(
        &app,
        &admin,
        promotion(
            "Pens",
            json!({"automatic": true}),
            json!({"rules": {"strategy": "item_quantity", "operator": "gte", "args": [3],
                             "children": [{"strategy": "item_sku", "operator": "in", "args": ["PEN"]}]},
                   "actions": [{"strategy": "item_discount", "args": ["percent", 50],
                                "condition": {"strategy": "item_sku", "operator": "in", "args": ["PEN"]}}]}),
        ),
    )
    .await;
    create(
        &app,
        &admin,
        promotion(
            "Big",
            json!({"automatic": true}),
            json!({"currencies": ["USD"], "rules": {"strategy": "cart_total", "operator": "gte", "args": [5000]},
                   "actions": [{"strategy": "cart_discount", "args": ["fixed", 500]}]}),
        ),
    )
    .await;
    add_custom(&app, &admin, "c3", "PEN", 2, 200).await;
    assert_eq!(cart_totals(&app, &shopper, "c3").await, (400, 0));
    add_custom(&app, &admin, "c3", "PEN", 1, 200).await;
    assert_eq!(cart_totals(&app, &shopper, "c3").await, (300, -300));
    add_custom(&app, &admin, "c3", "BOOK", 1, 6000).await;
    // Newest first: 5.00 off the 66.00 cart, then half off the three pens.
    let r = app.get("/v2/carts/c3/items", &shopper).await;
    assert_eq!(display(&r.body, "with_tax"), 5800);
    assert_eq!(display(&r.body, "discount"), -800);
    let autos: Vec<&Value> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["type"] == "promotion_item")
        .collect();
    assert_eq!(autos.len(), 1, "only a cart discount shows as a promotion_item");
    assert!(autos[0]["sku"].as_str().unwrap().starts_with("auto_"));
    let pen = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku"] == "PEN")
        .unwrap()
        .clone();
    let line = pen["id"].as_str().unwrap();
    // Back to two pens: the pen promotion stops; 6400 ≥ 5000 keeps the other.
    let r = app
        .put(
            &format!("/v2/carts/c3/items/{line}"),
            &shopper,
            json!({"data": {"quantity": 2}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (display(&r.body, "with_tax"), display(&r.body, "discount")),
        (5900, -500)
    );
}

async fn strategies_and_limitations_price_the_cart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let usd = |action: Value| json!({"currencies": ["USD"], "actions": [action]});
    // Cart: 3 × A at 10.00, 2 × B at 4.00, 1 × C at 25.00 = 63.00. (rule set, discount)
    let cases: Vec<(Value, i64)> = vec![
        (percent_off_cart(20.0), -1260),
        (
            usd(json!({"strategy": "cart_discount", "args": ["fixed", 700]})),
            -700,
        ),
        (
            usd(json!({"strategy": "cart_discount", "args": ["fixed", 99999]})),
            -6300,
        ),
        (
            json!({"actions": [{"strategy": "cart_discount", "args": ["percent", 50], "limitations": {"max_discount": 1000}}]}),
            -1000,
        ),
        (
            json!({"actions": [{"strategy": "item_discount", "args": ["percent", 50]}]}),
            -3150,
        ),
        (
            usd(
                json!({"strategy": "item_discount", "args": ["fixed", 500], "condition": {"strategy": "item_sku", "operator": "in", "args": ["A"]}}),
            ),
            -1500,
        ),
        (
            json!({"actions": [{"strategy": "item_discount", "args": ["percent", 100], "limitations": {"items": {"max_items": 2, "price_strategy": "cheapest"}}}]}),
            -800,
        ),
        (
            json!({"actions": [{"strategy": "item_discount", "args": ["percent", 100], "limitations": {"items": {"max_items": 1, "price_strategy": "expensive"}}}]}),
            -2500,
        ),
        (
            json!({"actions": [{"strategy": "item_discount", "args": ["percent", 50], "limitations": {"max_quantity": 1}}]}),
            -1950,
        ),
        (
            usd(
                json!({"strategy": "item_discount", "args": ["fixed_price", 3, 2400], "condition": {"strategy": "item_sku", "operator": "in", "args": ["A"]}}),
            ),
            -600,
        ),
        (
            usd(
                json!({"strategy": "items_bundle_discount", "args": ["fixed_price", 3000],
            "condition": {"strategy": "items_bundle", "children": [
                {"strategy": "item_sku", "operator": "in", "args": ["C"]},
                {"strategy": "item_sku", "operator": "in", "args": ["B"], "children": [{"strategy": "item_quantity", "operator": "eq", "args": [2]}]}]}}),
            ),
            -300,
        ),
        (
            json!({"catalog_ids": ["00000000-0000-0000-0000-000000000001"], "actions": [{"strategy": "cart_discount", "args": ["percent", 50]}]}),
            0,
        ),
    ];
    add_custom(&app, &admin, "c4", "A", 3, 1000).await;
    add_custom(&app, &admin, "c4", "B", 2, 400).await;
    add_custom(&app, &admin, "c4", "C", 1, 2500).await;
    for (n, (rule_set, want)) in cases.into_iter().enumerate() {
        let id = create(
            &app,
            &admin,
            promotion(&format!("p{n}"), json!({"automatic": true}), rule_set.clone()),
        )
        .await;
        let (with_tax, discount) = cart_totals(&app, &shopper, "c4").await;
        assert_eq!((with_tax, discount), (6300 + want, want), "{rule_set}");
        assert_eq!(
            app.delete(&format!("/v2/rule-promotions/{id}"), &admin)
                .await
                .status,
            204
        );
    }
}

async fn checkout_keeps_the_discounts_and_counts_the_code_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let id = create(
        &app,
        &admin,
        promotion(
            "Mugs",
            json!({}),
            json!({"actions": [{"strategy": "item_discount", "args": ["percent", 25],
                                "condition": {"strategy": "item_sku", "operator": "in", "args": ["MUG"]}}]}),
        ),
    )
    .await;
    assert_eq!(
        add_codes(&app, &admin, &id, json!([{"code": "MUGS", "uses": 5}]))
            .await
            .status,
        201
    );
    add_custom(&app, &admin, "c5", "MUG", 2, 1000).await;
    add_custom(&app, &admin, "c5", "PEN", 1, 300).await;
    assert_eq!(apply(&app, &shopper, "c5", "mugs").await.status, 201);
    // A checkout that fails counts nothing.
    let r = req(
        &app,
        Method::POST,
        "/v2/carts/c5/checkout",
        &shopper,
        &[],
        Some(json!({"data": {}})),
    )
    .await;
    assert_eq!(r.status, 400);
    let key = [("Idempotency-Key", "order-once")];
    let r = req(
        &app,
        Method::POST,
        "/v2/carts/c5/checkout",
        &shopper,
        &key,
        Some(guest_body()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(display(&r.body["data"], "with_tax"), 1800);
    assert_eq!(display(&r.body["data"], "discount"), -500);
    // A replay answers the same order and counts nothing more.
    let again = req(
        &app,
        Method::POST,
        "/v2/carts/c5/checkout",
        &shopper,
        &key,
        Some(guest_body()),
    )
    .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body["data"]["id"], json!(order));

    // The order keeps its discounts, item by item, however the promotion changes later.
    let r = app
        .put(
            &format!("/v2/rule-promotions/{id}"),
            &admin,
            json!({"data": {"enabled": false}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .get(&format!("/v2/orders/{order}?include=items"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(display(&r.body["data"], "with_tax"), 1800);
    let mug = r.body["included"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku"] == "MUG")
        .unwrap()
        .clone();
    assert_eq!(mug["discounts"][0]["amount"]["amount"], -500);
    assert_eq!(mug["discounts"][0]["code"], "MUGS");
    assert_eq!(mug["discounts"][0]["id"], json!(id));
    assert_eq!(mug["meta"]["display_price"]["with_tax"]["value"]["amount"], 1500);

    let r = app.get(&format!("/v2/rule-promotions/{id}/usages"), &admin).await;
    let usages = r.body["data"].as_array().unwrap();
    assert_eq!(usages.len(), 1, "{}", r.body);
    assert_eq!(
        (&usages[0]["order_id"], &usages[0]["code"]),
        (&json!(order), &json!("MUGS"))
    );
    assert_eq!(usages[0]["customer_email"], "ann@pawnee.gov");
    // Two units were discounted: a per_application code counts two uses.
    assert_eq!(usages[0]["times_used"], 2);
    let r = app.get(&format!("/v2/rule-promotions/{id}/codes"), &admin).await;
    assert_eq!(r.body["data"][0]["uses"], 2);
    let r = app
        .get(&format!("/v2/rule-promotions/{id}/codes/mugs/usages"), &admin)
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);

    // Anonymised: who used it is gone, the usage stays.
    let usage = usages[0]["id"].as_str().unwrap();
    let r = app
        .post(
            "/v2/rule-promotions/usages/anonymize",
            &admin,
            json!({"data": {"usage_ids": [usage]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.get(&format!("/v2/rule-promotions/{id}/usages"), &admin).await;
    assert_eq!(
        (
            &r.body["data"][0]["customer_email"],
            &r.body["data"][0]["anonymized"]
        ),
        (&Value::Null, &json!(true))
    );
    let r = app
        .post(
            "/v2/rule-promotions/usages/anonymize",
            &admin,
            json!({"data": {"usage_ids": ["x"]}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.usage_ids[0]");
}

async fn checkout_refuses_a_code_that_no_longer_applies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let id = create(
        &app,
        &admin,
        promotion("Soon gone", json!({}), percent_off_cart(10.0)),
    )
    .await;
    assert_eq!(
        add_codes(&app, &admin, &id, json!([{"code": "GONE"}]))
            .await
            .status,
        201
    );
    add_custom(&app, &admin, "c6", "MUG", 1, 1000).await;
    assert_eq!(apply(&app, &shopper, "c6", "GONE").await.status, 201);
    let r = app
        .put(
            &format!("/v2/rule-promotions/{id}"),
            &admin,
            json!({"data": {"end": "2001-01-01"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The cart no longer shows the discount, and checkout refuses the code: no order.
    assert_eq!(cart_totals(&app, &shopper, "c6").await, (1000, 0));
    let r = req(
        &app,
        Method::POST,
        "/v2/carts/c6/checkout",
        &shopper,
        &[],
        Some(guest_body()),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Promotion code not applicable");
    let r = app.get("/v2/orders", &admin).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 0);
    // Without the code it goes through.
    assert_eq!(
        app.delete("/v2/carts/c6/discounts/gone", &shopper).await.status,
        204
    );
    let r = req(
        &app,
        Method::POST,
        "/v2/carts/c6/checkout",
        &shopper,
        &[],
        Some(guest_body()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn a_limited_code_is_redeemed_exactly_once_under_fifty_checkouts(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let id = create(&app, &admin, promotion("Once", json!({}), percent_off_cart(50.0))).await;
    assert_eq!(
        add_codes(
            &app,
            &admin,
            &id,
            json!([{"code": "ONCE", "uses": 1, "consume_unit": "per_checkout"}])
        )
        .await
        .status,
        201
    );
    for n in 0..50 {
        let cart = format!("race-{n}");
        add_custom(&app, &admin, &cart, "MUG", 1, 1000).await;
        assert_eq!(apply(&app, &shopper, &cart, "ONCE").await.status, 201);
    }
    // On PostgreSQL half the checkouts go to a second node on the same database.
    let second = match backend {
        Backend::Postgres => Some(app.second_node().await),
        Backend::Sqlite => None,
    };
    let urls: Vec<String> = (0..50)
        .map(|n| match (&second, n % 2) {
            (Some(node), 1) => node.url.clone(),
            _ => app.url.clone(),
        })
        .collect();
    let client = reqwest::Client::new();
    let tasks: Vec<_> = urls
        .into_iter()
        .enumerate()
        .map(|(n, url)| {
            let (client, shopper) = (client.clone(), shopper.clone());
            tokio::spawn(async move {
                let res = client
                    .post(format!("{url}/v2/carts/race-{n}/checkout"))
                    .bearer_auth(&shopper)
                    .json(&guest_body())
                    .send()
                    .await
                    .unwrap();
                Resp::read(res).await
            })
        })
        .collect();
    let mut placed = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status.as_u16() {
            201 => {
                placed += 1;
                assert_eq!(display(&r.body["data"], "with_tax"), 500);
            }
            400 => assert_eq!(r.error()["title"], "Promotion code exhausted", "{}", r.body),
            other => panic!("{other}: {}", r.body),
        }
    }
    assert_eq!(placed, 1);
    let r = app.get("/v2/orders", &admin).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = app.get(&format!("/v2/rule-promotions/{id}/usages"), &admin).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = app.get(&format!("/v2/rule-promotions/{id}/codes"), &admin).await;
    assert_eq!(
        (&r.body["data"][0]["uses"], &r.body["data"][0]["max_uses"]),
        (&json!(1), &json!(1))
    );
}

fn guest(email: &str) -> Value {
    let mut body = guest_body();
    body["data"]["customer"]["email"] = json!(email);
    body
}

async fn per_shopper_and_per_customer_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let id = create(
        &app,
        &admin,
        promotion("Welcome", json!({}), percent_off_cart(10.0)),
    )
    .await;
    let customer = app
        .post(
            "/v2/customers",
            &admin,
            json!({"data": {"type": "customer", "name": "Ron", "email": "ron@pawnee.gov"}}),
        )
        .await;
    assert_eq!(customer.status, 201, "{}", customer.body);
    let customer = customer.body["data"]["id"].as_str().unwrap().to_owned();
    let r = add_codes(
        &app,
        &admin,
        &id,
        json!([{"code": "ONCE-EACH", "max_uses_per_shopper": {"max_uses": 1, "includes_guests": true}},
               {"code": "MEMBERS", "max_uses_per_shopper": {"max_uses": 1}},
               {"code": "RON-ONLY", "user": customer},
               {"code": "FIRST", "is_for_new_shopper": true}]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let checkout = |cart: &'static str, code: &'static str, body: Value| {
        let (app, admin, shopper) = (&app, &admin, &shopper);
        async move {
            add_custom(app, admin, cart, "MUG", 1, 1000).await;
            assert_eq!(apply(app, shopper, cart, code).await.status, 201);
            req(
                app,
                Method::POST,
                &format!("/v2/carts/{cart}/checkout"),
                shopper,
                &[],
                Some(body),
            )
            .await
        }
    };
    // Once per shopper, guests by their email (ignoring case).
    assert_eq!(
        checkout("e1", "ONCE-EACH", guest("ann@pawnee.gov")).await.status,
        201
    );
    let r = checkout("e2", "ONCE-EACH", guest("ANN@pawnee.gov")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Promotion code limit reached");
    assert_eq!(
        checkout("e3", "ONCE-EACH", guest("leslie@pawnee.gov"))
            .await
            .status,
        201
    );
    // Without includes_guests a guest may not use it.
    let r = checkout("e4", "MEMBERS", guest("ann@pawnee.gov")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["title"], "Promotion code not valid for this shopper");
    // A code for one customer: others are refused, the customer checks out with it.
    let r = checkout("e5", "RON-ONLY", guest("ann@pawnee.gov")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["title"], "Promotion code not valid for this shopper");
    let ron = json!({"data": {"customer": {"id": customer},
        "billing_address": guest_body()["data"]["billing_address"].clone(),
        "shipping_address": guest_body()["data"]["shipping_address"].clone()}});
    let r = req(
        &app,
        Method::POST,
        "/v2/carts/e5/checkout",
        &admin,
        &[],
        Some(ron),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(display(&r.body["data"], "discount"), -100);
    // A first-time shopper code: fine until the shopper has paid for an order.
    let r = checkout("e6", "FIRST", guest("april@pawnee.gov")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order = r.body["data"]["id"].as_str().unwrap().to_owned();
    enable_manual(&app, &admin).await;
    let r = checkout("e7", "FIRST", guest("april@pawnee.gov")).await;
    assert_eq!(r.status, 201, "an unpaid order does not count: {}", r.body);
    let r = app
        .post(
            &format!("/v2/orders/{order}/payments"),
            &admin,
            json!({"data": {"gateway": "manual", "method": "purchase"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = checkout("e8", "FIRST", guest("april@pawnee.gov")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Promotion code not valid for this shopper");
    let r = app.get(&format!("/v2/rule-promotions/{id}/usages"), &admin).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 5);
    let r = app.get("/v2/orders", &admin).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 5);
}

/// A code is a cart write like any other: only whoever may use the cart adds or removes one.
/// Another account's member, and the implicit token alone, are refused and change nothing.
async fn another_account_cannot_add_or_remove_a_code_on_an_accounts_cart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let id = create(
        &app,
        &admin,
        promotion("Ten off", json!({}), percent_off_cart(10.0)),
    )
    .await;
    assert_eq!(
        add_codes(&app, &admin, &id, json!([{"code": "SAVE10"}]))
            .await
            .status,
        201
    );
    let realm = realm(&app, &admin).await;
    let ron = user(&app, &admin, &realm, "ron@swanson.com", "lagavulin16").await;
    let tammy = user(&app, &admin, &realm, "tammy@swanson.com", "tammytwo22").await;
    let (a, b) = (account(&app, &admin, "A").await, account(&app, &admin, "B").await);
    join(&app, &admin, &a, &ron).await;
    join(&app, &admin, &b, &tammy).await;
    let token = |r: Resp| r.body["data"][0]["token"].as_str().unwrap().to_owned();
    let token_a = token(login(&app, &realm, "ron@swanson.com", "lagavulin16").await);
    let token_b = token(login(&app, &realm, "tammy@swanson.com", "tammytwo22").await);
    let as_member = async |method: Method, path: &str, account_token: &str, body: Option<Value>| {
        let headers: &[(&str, &str)] = if account_token.is_empty() {
            &[]
        } else {
            &[(AM, account_token)]
        };
        req(&app, method, path, &shopper, headers, body).await
    };
    let r = as_member(
        Method::POST,
        "/v2/carts",
        &token_a,
        Some(json!({"data": {"name": "A's"}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cart = r.body["data"]["id"].as_str().unwrap().to_owned();
    add_custom(&app, &admin, &cart, "MUG", 2, 1500).await;
    let code = json!({"data": {"type": "promotion_item", "code": "SAVE10"}});
    let items = format!("/v2/carts/{cart}/items");

    let before = app.db.dump().await;
    for (who, account_token) in [("another account", token_b.as_str()), ("implicit alone", "")] {
        let r = as_member(Method::POST, &items, account_token, Some(code.clone())).await;
        assert_eq!(r.status, 403, "{who}: {}", r.body);
    }
    assert_same_dump(&before, &app.db.dump().await, "refused code adds");

    let r = as_member(Method::POST, &items, &token_a, Some(code)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let before = app.db.dump().await;
    let discount = format!("/v2/carts/{cart}/discounts/SAVE10");
    for (who, account_token) in [("another account", token_b.as_str()), ("implicit alone", "")] {
        let r = as_member(Method::DELETE, &discount, account_token, None).await;
        assert_eq!(r.status, 403, "{who}: {}", r.body);
    }
    assert_same_dump(&before, &app.db.dump().await, "refused code removals");
    assert_eq!(
        as_member(Method::DELETE, &discount, &token_a, None).await.status,
        204
    );
}

async fn jobs_are_listed_exported_and_never_cancelled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let id = create(&app, &admin, promotion("Jobs", json!({}), percent_off_cart(5.0))).await;
    let jobs = format!("/v2/rule-promotions/{id}/jobs");
    assert_eq!(
        add_codes(
            &app,
            &admin,
            &id,
            json!([{"code": "Summer,1", "uses": 3}, {"code": "FREE"}])
        )
        .await
        .status,
        201
    );
    let r = app
        .post(
            &jobs,
            &admin,
            json!({"data": {"type": "promotion_job", "job_type": "code_generate", "name": "gen",
                            "parameters": {"number_of_codes": 3, "code_length": 8}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let generated = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &jobs,
            &admin,
            json!({"data": {"type": "promotion_job", "job_type": "code_export", "name": "Demo export codes"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(
        (&d["type"], &d["job_type"], &d["status"], &d["name"]),
        (
            &json!("promotion_job"),
            &json!("code_export"),
            &json!("completed"),
            &json!("Demo export codes")
        )
    );
    assert_eq!(d["rule_promotion_id"], id.as_str());
    let export = d["id"].as_str().unwrap().to_owned();

    // Listed newest first, filtered by type or status.
    let r = app.get(&jobs, &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [export.as_str(), generated.as_str()]);
    assert_eq!(r.body["meta"]["results"]["total"], 2);
    assert_eq!(r.body["data"][1]["result"]["generated"], 3);
    let r = app
        .get(&format!("{jobs}?filter=eq(job_type,code_export)"), &admin)
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = app.get(&format!("{jobs}?filter=eq(status,failed)"), &admin).await;
    assert_eq!(r.body["data"], json!([]));
    let r = app.get(&format!("{jobs}?filter=eq(name,x)"), &admin).await;
    assert_eq!(r.status, 400, "{}", r.body);

    // The export's file: a link that needs no token, to every code as a CSV row.
    let r = app.get(&format!("{jobs}/{export}/file"), &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let href = r.body["href"].as_str().unwrap().to_owned();
    assert!(href.starts_with(&app.url), "{href}");
    let csv = reqwest::get(&href).await.unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 5, "{csv}");
    assert!(lines[0].starts_with("code,uses,max_uses,"));
    assert!(csv.contains("\"Summer,1\",0,3,"), "{csv}");
    assert_eq!(reqwest::get(format!("{href}x")).await.unwrap().status(), 404);
    // A generate job has no file; unknown jobs and promotions are 404.
    assert_eq!(
        app.get(&format!("{jobs}/{generated}/file"), &admin).await.status,
        404
    );
    assert_eq!(app.get(&format!("{jobs}/{id}/file"), &admin).await.status, 404);
    assert_eq!(
        app.get(&format!("/v2/rule-promotions/{generated}/jobs"), &admin)
            .await
            .status,
        404
    );

    // Nothing is ever pending, so nothing can be cancelled.
    let r = app
        .post(&format!("{jobs}/{export}/cancel"), &admin, json!({}))
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.error()["detail"],
        "Only pending or processing jobs can be cancelled."
    );
    assert_eq!(
        app.post(&format!("{jobs}/{id}/cancel"), &admin, json!({}))
            .await
            .status,
        404
    );

    // Admin only.
    assert_eq!(app.get(&jobs, &shopper).await.status, 403);
    assert_eq!(
        app.get(&format!("{jobs}/{export}/file"), &shopper).await.status,
        403
    );
    assert_eq!(
        app.post(&format!("{jobs}/{export}/cancel"), &shopper, json!({}))
            .await
            .status,
        403
    );

    // A job type EP does not have.
    let r = app
        .post(
            &jobs,
            &admin,
            json!({"data": {"type": "promotion_job", "job_type": "code_delete"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.job_type");
    // Jobs go with their promotion.
    assert_eq!(
        app.delete(&format!("/v2/rule-promotions/{id}"), &admin)
            .await
            .status,
        204
    );
    assert_eq!(reqwest::get(&href).await.unwrap().status(), 404);
}

async fn a_bulk_add_takes_a_code_among_its_items(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    // Ten off a cart of at least 20.00: the code applies only with the lines of the same add.
    let id = create(
        &app,
        &admin,
        promotion(
            "Big cart",
            json!({}),
            json!({"rules": {"strategy": "cart_total", "operator": "gte", "args": [2000]},
                   "actions": [{"strategy": "cart_discount", "args": ["percent", 10]}]}),
        ),
    )
    .await;
    assert_eq!(
        add_codes(&app, &admin, &id, json!([{"code": "BIG"}]))
            .await
            .status,
        201
    );
    let item = |sku: &str, amount: i64| json!({"type": "custom_item", "name": sku, "sku": sku, "quantity": 1, "price": {"amount": amount}});
    let code = |c: &str| json!({"type": "promotion_item", "code": c});
    let r = app
        .post(
            "/v2/carts/b1/items",
            &shopper,
            json!({"data": [item("A", 1500), code("big"), item("B", 1000)]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body.get("errors").is_none(), "{}", r.body);
    let lines = r.body["data"].as_array().unwrap();
    let promo = lines
        .iter()
        .find(|l| l["type"] == "promotion_item")
        .expect("the code's line");
    assert_eq!(promo["sku"], "BIG");
    assert_eq!(display(&r.body, "discount"), -250);
    assert_eq!(cart_totals(&app, &shopper, "b1").await, (2250, -250));

    // The add that creates a cart fixes its currency (the shopper's X-MOLTIN-CURRENCY): its
    // codes are judged in that currency, and the answer shows the discount in it.
    add_euro(&app, &admin).await;
    let euros = create(
        &app,
        &admin,
        promotion(
            "Euros",
            json!({}),
            json!({"currencies": ["EUR"], "actions": [{"strategy": "cart_discount", "args": ["fixed", 100]}]}),
        ),
    )
    .await;
    assert_eq!(
        add_codes(&app, &admin, &euros, json!([{"code": "EURO"}]))
            .await
            .status,
        201
    );
    let r = req(
        &app,
        Method::POST,
        "/v2/carts/e1/items",
        &shopper,
        &[("X-MOLTIN-CURRENCY", "EUR")],
        Some(json!({"data": [item("A", 1500), code("EURO")]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body.get("errors").is_none(), "{}", r.body);
    assert_eq!(
        r.body["meta"]["display_price"]["discount"]["currency"], "EUR",
        "{}",
        r.body
    );
    assert_eq!(display(&r.body, "discount"), -100);
    assert_eq!(cart_totals(&app, &shopper, "e1").await, (1400, -100));

    // A code that does not apply, or does not exist, is refused on its own; the lines are added.
    let r = app
        .post(
            "/v2/carts/b2/items",
            &shopper,
            json!({"data": [item("A", 500), code("BIG"), code("NOPE")]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let errors = r.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{}", r.body);
    assert_eq!(errors[0]["source"], "data[1].code");
    assert_eq!(errors[0]["title"], "Promotion not applicable");
    assert_eq!(errors[1]["source"], "data[2].code");
    assert_eq!(errors[1]["status"], 404);
    assert_eq!(cart_totals(&app, &shopper, "b2").await, (500, 0));
    let r = app.get("/v2/carts/b2/items", &shopper).await;
    assert!(
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["type"] != "promotion_item")
    );

    // All or nothing: one refused code refuses the whole add, and nothing changes.
    let before = app.db.dump().await;
    let r = app
        .post(
            "/v2/carts/b2/items",
            &shopper,
            json!({"data": [item("C", 5000), code("NOPE")], "options": {"add_all_or_nothing": true}}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.error()["source"], "data[1].code");
    assert_same_dump(
        &before,
        &app.db.dump().await,
        "a refused all-or-nothing add with a code",
    );
    let r = app
        .post(
            "/v2/carts/b2/items",
            &shopper,
            json!({"data": [item("C", 5000), {"type": "promotion_item"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["errors"][0]["source"], "data[1].code");
    let r = app
        .delete(
            &format!(
                "/v2/carts/b2/items/{}",
                r.body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|l| l["sku"] == "C")
                    .unwrap()["id"]
                    .as_str()
                    .unwrap()
            ),
            &shopper,
        )
        .await;
    assert_eq!(r.status, 200);
    // Codes alone in a bulk add: judged on the cart as it is.
    let r = app
        .post("/v2/carts/b1/items", &shopper, json!({"data": [code("BIG")]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .post("/v2/carts/b2/items", &shopper, json!({"data": [code("BIG")]}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // A cart with custom discounts takes no code, in bulk either.
    let r = app
        .put(
            "/v2/carts/b3",
            &admin,
            json!({"data": {"discount_settings": {"custom_discounts_enabled": true}}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .post(
            "/v2/carts/b3/items",
            &admin,
            json!({"data": [item("A", 5000), code("BIG")]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["errors"][0]["status"], 422);
    assert_eq!(cart_totals(&app, &admin, "b3").await, (5000, 0));
}
