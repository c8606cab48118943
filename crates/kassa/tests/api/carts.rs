//! Carts: the classic clients' invented ids, the shopper SDK's `POST /v2/carts`, custom items and
//! their totals, the access matrix, and parallel writers.

use crate::backend_tests;
use crate::fixtures::{
    account, hierarchy, join, login, price, pricebook, product, published_catalog, realm, usd, user,
};
use crate::helpers::{AM, Backend, Resp, TestApp, raw, req};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    unknown_cart_ids_are_created_empty,
    shopper_sdk_creates_carts_and_associates_them,
    custom_items_merge_and_total,
    bulk_adds_and_bad_items,
    item_updates_and_removal,
    account_carts_belong_to_the_account,
    parallel_adds_lose_nothing,
    a_cart_holds_at_most_100_lines,
    product_items_are_priced_from_the_published_catalog,
    merging_another_cart_adds_its_lines,
    volume_tiers_follow_the_quantity_both_ways,
    customer_carts_and_the_last_cart_rule,
    a_sale_prices_the_cart,
    an_add_decided_on_a_cart_that_changed_owner_changes_nothing,
    reordering_adds_an_orders_product_lines_for_whoever_may_read_it,
    cart_responses_are_compact_json_with_sorted_keys,
);

fn custom(name: &str, sku: &str, quantity: i64, amount: i64) -> Value {
    json!({"type": "custom_item", "name": name, "sku": sku, "quantity": quantity, "price": {"amount": amount}})
}

async fn add(app: &TestApp, token: &str, cart: &str, data: Value) -> Resp {
    app.post(&format!("/v2/carts/{cart}/items"), token, json!({ "data": data }))
        .await
}

async fn unknown_cart_ids_are_created_empty(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.implicit_token().await;
    let id = "0123456789abcdef0123456789abcdef";
    let r = app.get(&format!("/v2/carts/{id}"), &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(
        (d["id"].as_str(), d["type"].as_str(), d["name"].as_str()),
        (Some(id), Some("cart"), Some("Cart"))
    );
    for figure in [
        "with_tax",
        "without_tax",
        "tax",
        "discount",
        "without_discount",
        "shipping",
        "shipping_discount",
    ] {
        assert_eq!(
            d["meta"]["display_price"][figure],
            json!({"amount": 0, "currency": "USD", "formatted": "$0.00"}),
            "{figure}"
        );
    }
    let ts = &d["meta"]["timestamps"];
    assert!(ts["created_at"].is_string() && ts["expires_at"].is_string());
    assert_eq!(
        app.get(&format!("/v2/carts/{id}"), &token).await.body["data"]["meta"]["timestamps"]["created_at"],
        ts["created_at"],
        "the same cart"
    );

    // The classic clients also go straight to adding an item to a cart never seen.
    let r = add(&app, &token, "fresh_cart-2", custom("Gift wrap", "WRAP", 1, 500)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);

    for bad in ["has space", "dots.not.ok", "ümlaut"] {
        let r = app
            .get(&format!("/v2/carts/{}", bad.replace(' ', "%20")), &token)
            .await;
        assert_eq!(r.status, 400, "{bad}");
        r.error();
    }
}

async fn shopper_sdk_creates_carts_and_associates_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.implicit_token().await;
    let r = app
        .post(
            "/v2/carts",
            &token,
            json!({"data": {"name": "Weekend", "description": "For the cabin"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["name"], "Weekend");
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::PUT,
            &format!("/v2/carts/{id}"),
            Some(&token),
            Some(json!({"data": {"name": "Cabin"}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["name"], "Cabin");
    assert_eq!(r.body["data"]["description"], "For the cabin");
    let r = app
        .call(
            Method::PUT,
            &format!("/v2/carts/{id}"),
            Some(&token),
            Some(json!({"data": {"name": ""}})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.name");
    // An empty body makes a cart named Cart.
    let res = app
        .http
        .post(format!("{}/v2/carts", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(app.delete(&format!("/v2/carts/{id}"), &token).await.status, 204);
    assert_eq!(app.delete(&format!("/v2/carts/{id}"), &token).await.status, 404);
}

async fn custom_items_merge_and_total(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.implicit_token().await;
    let cart = "totals";
    add(&app, &token, cart, custom("Engraving", "ENG", 2, 1250)).await;
    let r = add(&app, &token, cart, custom("Engraving", "ENG", 1, 1250)).await;
    assert_eq!(r.status, 201);
    let items = r.body["data"].as_array().unwrap();
    assert_eq!(items.len(), 1, "same sku merges");
    let item = &items[0];
    assert_eq!(item["type"], "custom_item");
    assert_eq!(item["quantity"], 3);
    assert_eq!(
        item["unit_price"],
        json!({"amount": 1250, "currency": "USD", "includes_tax": true})
    );
    assert_eq!(item["value"]["amount"], 3750);
    assert_eq!(
        item["meta"]["display_price"]["with_tax"]["unit"]["formatted"],
        "$12.50"
    );
    assert_eq!(item["meta"]["display_price"]["with_tax"]["value"]["amount"], 3750);
    let r = add(&app, &token, cart, json!({"type": "custom_item", "name": "Box", "sku": "BOX", "quantity": 1, "price": {"amount": 999, "includes_tax": false}})).await;
    let meta = &r.body["meta"]["display_price"];
    assert_eq!(meta["with_tax"]["amount"], 4749);
    assert_eq!(meta["without_tax"]["amount"], 4749, "no tax items, so no tax");
    assert_eq!(meta["tax"]["amount"], 0);
    assert_eq!(meta["with_tax"]["formatted"], "$47.49");
    let r = app.get(&format!("/v2/carts/{cart}?include=items"), &token).await;
    assert_eq!(
        r.body["data"]["meta"]["display_price"]["with_tax"]["amount"],
        4749
    );
    assert_eq!(r.body["included"]["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        r.body["data"]["relationships"]["items"]["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn bulk_adds_and_bad_items(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.implicit_token().await;
    let bulk = |all_or_nothing: bool| {
        json!({"data": [custom("A", "A", 1, 100), {"type": "custom_item", "name": "B", "quantity": "2", "price": {"amount": 100}}],
               "options": {"add_all_or_nothing": all_or_nothing}})
    };
    let r = app.post("/v2/carts/bulk1/items", &token, bulk(true)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data[1].quantity");
    assert_eq!(
        app.get("/v2/carts/bulk1/items", &token).await.body["data"],
        json!([]),
        "nothing added"
    );
    let r = app.post("/v2/carts/bulk1/items", &token, bulk(false)).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["errors"][0]["source"], "data[1].quantity");

    for (item, source) in [
        (
            json!({"type": "custom_item", "name": "X", "quantity": "2", "price": {"amount": 1}}),
            "data.quantity",
        ),
        (
            json!({"type": "custom_item", "name": "X", "quantity": -1, "price": {"amount": 1}}),
            "data.quantity",
        ),
        (
            json!({"type": "custom_item", "name": "X", "quantity": 1, "price": {"amount": -5}}),
            "data.price.amount",
        ),
        (
            json!({"type": "custom_item", "name": "X", "quantity": 1, "price": {"amount": 1.5}}),
            "data.price.amount",
        ),
        (
            json!({"type": "custom_item", "name": "X", "quantity": 1}),
            "data.price",
        ),
        (
            json!({"type": "custom_item", "name": "x".repeat(256), "quantity": 1, "price": {"amount": 1}}),
            "data.name",
        ),
        (json!({"type": "gift", "name": "X"}), "data.type"),
        (json!({"name": "X"}), "data.type"),
    ] {
        let r = add(&app, &token, "bad-items", item.clone()).await;
        assert_eq!(r.status, 400, "{item}");
        assert_eq!(r.error()["source"], source, "{item}: {}", r.body);
    }
    let r = add(
        &app,
        &token,
        "bad-items",
        json!({"type": "promotion_item", "code": "SUMMER"}),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.error()["detail"],
        "No promotion could be found with the given code."
    );
    assert_eq!(
        app.get("/v2/carts/bad-items/items", &token).await.body["data"],
        json!([])
    );
}

async fn item_updates_and_removal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.implicit_token().await;
    let r = add(
        &app,
        &token,
        "upd",
        json!([custom("A", "A", 1, 100), custom("B", "B", 1, 200)]),
    )
    .await;
    let ids: Vec<String> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let r = app
        .call(
            Method::PUT,
            &format!("/v2/carts/upd/items/{}", ids[0]),
            Some(&token),
            Some(json!({"data": {"type": "cart_item", "id": ids[0], "quantity": 5}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"][0]["quantity"], 5);
    assert_eq!(r.body["meta"]["display_price"]["with_tax"]["amount"], 700);
    let r = app
        .call(
            Method::PUT,
            "/v2/carts/upd/items",
            Some(&token),
            Some(json!({"data": [{"id": ids[0], "quantity": 0}, {"id": ids[1], "quantity": 3}]})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["data"].as_array().unwrap().len(),
        1,
        "quantity 0 removes the line"
    );
    let r = app
        .call(
            Method::PUT,
            "/v2/carts/upd/items",
            Some(&token),
            Some(json!({"data": [{"id": ids[1], "quantity": 9}, {"id": ids[0], "quantity": 1}]})),
        )
        .await;
    assert_eq!(r.status, 404, "an unknown line fails the whole update");
    assert_eq!(
        app.get("/v2/carts/upd/items", &token).await.body["data"][0]["quantity"],
        3,
        "and nothing changed"
    );
    let r = app
        .delete(&format!("/v2/carts/upd/items/{}", ids[1]), &token)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"], json!([]));
    add(&app, &token, "upd", custom("C", "C", 1, 1)).await;
    assert_eq!(app.delete("/v2/carts/upd/items", &token).await.status, 204);
    assert_eq!(
        app.get("/v2/carts/upd", &token).await.body["data"]["meta"]["display_price"]["with_tax"]["amount"],
        0
    );
}

/// A shopper's request with an account token.
async fn with_account(
    app: &TestApp,
    method: Method,
    path: &str,
    account_token: &str,
    body: Option<Value>,
) -> Resp {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(app.implicit_token().await);
    if !account_token.is_empty() {
        req = req.header("EP-Account-Management-Authentication-Token", account_token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    Resp::read(req.send().await.unwrap()).await
}

async fn account_carts_belong_to_the_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let realm = realm(&app, &admin).await;
    let ron = user(&app, &admin, &realm, "ron@swanson.com", "lagavulin16").await;
    let tammy = user(&app, &admin, &realm, "tammy@swanson.com", "tammytwo22").await;
    let (a, b) = (account(&app, &admin, "A").await, account(&app, &admin, "B").await);
    join(&app, &admin, &a, &ron).await;
    join(&app, &admin, &b, &tammy).await;
    let token_a = login(&app, &realm, "ron@swanson.com", "lagavulin16").await.body["data"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let token_b = login(&app, &realm, "tammy@swanson.com", "tammytwo22").await.body["data"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = with_account(
        &app,
        Method::POST,
        "/v2/carts",
        &token_a,
        Some(json!({"data": {"name": "A's"}})),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body["data"]["relationships"]["accounts"]["data"][0]["id"],
        a.as_str()
    );
    let cart_a = r.body["data"]["id"].as_str().unwrap().to_owned();

    // Associate a guest cart with account A the classic way.
    let r = with_account(
        &app,
        Method::POST,
        "/v2/carts/guest1/relationships/accounts",
        &token_a,
        Some(json!({"data": [{"type": "account", "id": a}]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = with_account(
        &app,
        Method::POST,
        "/v2/carts/guest1/relationships/accounts",
        &token_a,
        Some(json!({"data": [{"type": "account", "id": a}]})),
    )
    .await;
    assert_eq!(r.status, 204, "already associated");
    let r = with_account(
        &app,
        Method::POST,
        "/v2/carts/guest2/relationships/accounts",
        &token_a,
        Some(json!({"data": [{"type": "account", "id": b}]})),
    )
    .await;
    assert_eq!(r.status, 403, "only one's own account");
    let r = with_account(
        &app,
        Method::POST,
        "/v2/carts/guest2/relationships/accounts",
        &token_a,
        Some(json!({"data": {"type": "account", "id": a}})),
    )
    .await;
    assert_eq!(r.status, 403, "the body must be an array");

    // The matrix: (who, expected status) on reading and on adding to each account cart.
    for cart in [cart_a.as_str(), "guest1"] {
        for (who, token, status) in [
            ("own account", token_a.as_str(), 200),
            ("other account", token_b.as_str(), 403),
            ("implicit alone", "", 403),
        ] {
            let r = with_account(&app, Method::GET, &format!("/v2/carts/{cart}"), token, None).await;
            assert_eq!(r.status, status, "{who} reading {cart}");
            if status == 403 {
                assert_eq!(
                    r.error()["detail"],
                    "Account does not have the required permissions to fulfill this request"
                );
            }
            let r = with_account(
                &app,
                Method::POST,
                &format!("/v2/carts/{cart}/items"),
                token,
                Some(json!({"data": custom("X", "X", 1, 1)})),
            )
            .await;
            assert_eq!(
                r.status,
                if status == 200 { 201 } else { 403 },
                "{who} adding to {cart}"
            );
        }
        assert_eq!(
            app.get(&format!("/v2/carts/{cart}"), &admin).await.status,
            200,
            "admin reads any cart"
        );
    }
    // An unassociated cart is anyone's who holds its id.
    for token in [token_a.as_str(), token_b.as_str(), ""] {
        assert_eq!(
            with_account(&app, Method::GET, "/v2/carts/open-cart", token, None)
                .await
                .status,
            200
        );
    }

    let r = with_account(&app, Method::GET, "/v2/carts", &token_a, None).await;
    let ids: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.get("id").and_then(Value::as_str).unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(
        ids,
        ["guest1", cart_a.as_str()],
        "most recently updated first (guest1 got the last item)"
    );
    assert_eq!(
        with_account(&app, Method::GET, "/v2/carts", &token_b, None)
            .await
            .body["meta"]["results"]["total"],
        0
    );
    assert_eq!(
        with_account(&app, Method::GET, "/v2/carts", "", None)
            .await
            .status,
        403
    );
    assert_eq!(
        app.get("/v2/carts", &admin).await.body["meta"]["results"]["total"],
        2,
        "admins see associated carts"
    );

    let r = with_account(
        &app,
        Method::DELETE,
        "/v2/carts/guest1/relationships/accounts",
        &token_a,
        Some(json!({"data": [{"type": "account", "id": a}]})),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        with_account(&app, Method::GET, "/v2/carts/guest1", &token_b, None)
            .await
            .status,
        200,
        "a guest cart again"
    );
}

async fn parallel_adds_lose_nothing(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    let token = app.implicit_token().await;
    let mut tasks = Vec::new();
    for n in 0..24 {
        let (a, t) = (app.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            add(
                &a,
                &t,
                "race-distinct",
                custom(&format!("Item {n}"), &format!("SKU-{n}"), 1, 100),
            )
            .await
            .status
        }));
        let (a, t) = (app.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            add(&a, &t, "race-same", custom("Same", "SAME", 1, 100))
                .await
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let distinct = app.get("/v2/carts/race-distinct/items", &token).await;
    assert_eq!(distinct.body["data"].as_array().unwrap().len(), 24);
    let same = app.get("/v2/carts/race-same/items", &token).await;
    assert_eq!(same.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(same.body["data"][0]["quantity"], 24);
    assert_eq!(same.body["meta"]["display_price"]["with_tax"]["amount"], 2400);
}

async fn a_cart_holds_at_most_100_lines(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.implicit_token().await;
    let items: Vec<Value> = (0..100).map(|n| custom("Line", &format!("L{n}"), 1, 1)).collect();
    let r = app
        .post("/v2/carts/big/items", &token, json!({ "data": items }))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 100);
    assert_eq!(r.body["meta"]["display_price"]["with_tax"]["amount"], 100);
    let r = add(&app, &token, "big", custom("One more", "L100", 1, 1)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["title"], "Too many items");
    let r = add(&app, &token, "big", custom("Line", "L5", 1, 1)).await;
    assert_eq!(r.status, 201, "an existing line can still grow");
}

async fn product_items_are_priced_from_the_published_catalog(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let node = hierarchy(&app, &admin, "Whisky").await;
    let lag = product(&app, &admin, &node, "Lagavulin 16", "LAG-16", "live").await;
    let rare = product(&app, &admin, &node, "Port Ellen", "PE-40", "live").await;
    let euro = product(&app, &admin, &node, "Euro only", "EU-1", "live").await;
    let draft = product(&app, &admin, &node, "Unreleased", "NEW-1", "draft").await;
    let book = pricebook(&app, &admin, "Retail").await;
    price(
        &app,
        &admin,
        &book,
        "LAG-16",
        json!({"currencies": {"USD": {"amount": 8999, "includes_tax": false,
        "tiers": {"case": {"minimum_quantity": 5, "amount": 7999}}}}}),
    )
    .await;
    price(&app, &admin, &book, "PE-40", usd(150_000)).await;
    price(
        &app,
        &admin,
        &book,
        "EU-1",
        json!({"currencies": {"EUR": {"amount": 100, "includes_tax": true}}}),
    )
    .await;
    price(&app, &admin, &book, "NEW-1", usd(1)).await;
    let cat = published_catalog(&app, &admin, "Main", &node.0, &book).await;
    let r = app
        .post(
            &format!("/v2/inventories/{rare}"),
            &admin,
            json!({"data": {"type": "stock", "quantity": 2}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    let token = app.implicit_token().await;
    let r = add(
        &app,
        &token,
        "shop",
        json!({"type": "cart_item", "id": lag, "quantity": 1}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let item = &r.body["data"][0];
    assert_eq!(item["type"], "cart_item");
    assert_eq!(item["product_id"], lag.as_str());
    assert_eq!(item["sku"], "LAG-16");
    assert_eq!(item["name"], "Lagavulin 16");
    assert_eq!(item["catalog_id"], cat.as_str());
    assert_eq!(
        item["unit_price"],
        json!({"amount": 8999, "currency": "USD", "includes_tax": false})
    );
    // By sku, onto the same line: five bottles reach the volume tier for the whole line.
    let r = add(
        &app,
        &token,
        "shop",
        json!({"type": "cart_item", "sku": "LAG-16", "quantity": 4}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["quantity"], 5);
    assert_eq!(r.body["data"][0]["unit_price"]["amount"], 7999);
    assert_eq!(r.body["meta"]["display_price"]["without_tax"]["amount"], 5 * 7999);

    for (data, status, title) in [
        (
            json!({"type": "cart_item", "id": "00000000-0000-0000-0000-000000000001", "quantity": 1}),
            404,
            "Product not found",
        ),
        (
            json!({"type": "cart_item", "id": draft, "quantity": 1}),
            404,
            "Product not found",
        ),
        (
            json!({"type": "cart_item", "sku": "NOPE", "quantity": 1}),
            404,
            "Product not found",
        ),
        (
            json!({"type": "cart_item", "id": euro, "quantity": 1}),
            400,
            "Product has no price",
        ),
        (
            json!({"type": "cart_item", "id": rare, "quantity": 3}),
            400,
            "Insufficient stock",
        ),
        (
            json!({"type": "cart_item", "id": lag, "quantity": "1"}),
            400,
            "invalid",
        ),
        (json!({"type": "cart_item", "quantity": 1}), 400, "required"),
    ] {
        let r = add(&app, &token, "shop", data.clone()).await;
        assert_eq!(r.status, status, "{data}: {}", r.body);
        assert_eq!(r.error()["title"], title, "{data}");
    }
    assert_eq!(
        add(
            &app,
            &token,
            "shop",
            json!({"type": "cart_item", "id": rare, "quantity": 2})
        )
        .await
        .status,
        201
    );
    let r = add(
        &app,
        &token,
        "shop",
        json!({"type": "cart_item", "id": rare, "quantity": 1}),
    )
    .await;
    assert_eq!(r.status, 400, "the cart already holds all the stock");
    // A cart that defers the stock check takes it; checkout checks again.
    let r = app
        .post(
            "/v2/carts",
            &token,
            json!({"data": {"name": "Deferred", "inventory_settings": {"defer_inventory_check": true}}}),
        )
        .await;
    let deferred = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        add(
            &app,
            &token,
            &deferred,
            json!({"type": "cart_item", "id": rare, "quantity": 3})
        )
        .await
        .status,
        201
    );
    let r = app.get("/v2/carts/shop/items", &token).await;
    assert_eq!(
        r.body["data"].as_array().unwrap().len(),
        2,
        "refused adds changed nothing"
    );
}

async fn merging_another_cart_adds_its_lines(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.implicit_token().await;
    add(
        &app,
        &token,
        "guest-cart",
        json!([custom("Wrap", "WRAP", 2, 300), custom("Card", "CARD", 1, 150)]),
    )
    .await;
    add(&app, &token, "member-cart", custom("Wrap", "WRAP", 1, 300)).await;
    let r = app
        .post("/v2/carts/member-cart/items", &token, json!({"data": [{"type": "cart_items", "cart_id": "guest-cart"}], "options": {"add_all_or_nothing": false}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut lines: Vec<(String, i64)> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["sku"].as_str().unwrap().to_owned(),
                i["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    lines.sort();
    assert_eq!(lines, [("CARD".to_owned(), 1), ("WRAP".to_owned(), 3)]);
    assert_eq!(
        app.get("/v2/carts/guest-cart/items", &token).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "the source stays"
    );
    let r = app
        .post(
            "/v2/carts/member-cart/items",
            &token,
            json!({"data": [{"type": "cart_items", "cart_id": "no-such-cart"}]}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["source"], "data[0].cart_id");
    let r = app
        .get(
            "/v2/carts/member-cart?include=items,custom_discounts,promotions",
            &token,
        )
        .await;
    assert_eq!(r.body["included"]["promotions"], json!([]));
    assert_eq!(r.body["included"]["items"].as_array().unwrap().len(), 2);
}

/// Every change of a product line's quantity prices it again: an update down from a volume tier
/// goes back to the base price (single and bulk), and a merge that lifts a line into a tier
/// reaches it.
async fn volume_tiers_follow_the_quantity_both_ways(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let node = hierarchy(&app, &admin, "Mugs").await;
    let mug = product(&app, &admin, &node, "Mug", "MUG", "live").await;
    let book = pricebook(&app, &admin, "Retail").await;
    price(
        &app,
        &admin,
        &book,
        "MUG",
        json!({"currencies": {"USD": {"amount": 1000, "includes_tax": false,
        "tiers": {"five": {"minimum_quantity": 5, "amount": 800}}}}}),
    )
    .await;
    published_catalog(&app, &admin, "Main", &node.0, &book).await;
    let token = app.implicit_token().await;
    let line = |r: &Resp| {
        let item = &r.body["data"][0];
        (
            item["quantity"].as_i64().unwrap(),
            item["unit_price"]["amount"].as_i64().unwrap(),
            r.body["meta"]["display_price"]["without_tax"]["amount"]
                .as_i64()
                .unwrap(),
        )
    };

    let r = add(
        &app,
        &token,
        "tiers",
        json!({"type": "cart_item", "id": mug, "quantity": 5}),
    )
    .await;
    assert_eq!(line(&r), (5, 800, 4000));
    let item = r.body["data"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v2/carts/tiers/items/{item}");
    let r = app.put(&path, &token, json!({"data": {"quantity": 2}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(line(&r), (2, 1000, 2000));
    let r = app.put(&path, &token, json!({"data": {"quantity": 6}})).await;
    assert_eq!(line(&r), (6, 800, 4800));
    let r = app
        .put(
            "/v2/carts/tiers/items",
            &token,
            json!({"data": [{"id": item, "quantity": 3}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(line(&r), (3, 1000, 3000));
    let cart = app.get("/v2/carts/tiers", &token).await;
    assert_eq!(
        cart.body["data"]["meta"]["display_price"]["without_tax"]["amount"],
        3000
    );

    // A merge of two more mugs lifts the line to the tier.
    add(
        &app,
        &token,
        "other",
        json!({"type": "cart_item", "id": mug, "quantity": 2}),
    )
    .await;
    let r = add(
        &app,
        &token,
        "tiers",
        json!({"type": "cart_items", "cart_id": "other"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(line(&r), (5, 800, 4000));
}

/// A shopper's request with a customer token.
async fn as_customer(
    app: &TestApp,
    method: Method,
    path: &str,
    customer_token: &str,
    body: Option<Value>,
) -> Resp {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(app.implicit_token().await)
        .header("X-Moltin-Customer-Token", customer_token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    Resp::read(req.send().await.unwrap()).await
}

async fn customer_carts_and_the_last_cart_rule(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for email in ["ann@perkins.com", "chris@traeger.com"] {
        let r = app.post("/v2/customers", &admin, json!({"data": {"type": "customer", "name": email, "email": email, "password": "literally1"}})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["data"]["id"].as_str().unwrap().to_owned());
    }
    let ann = app.customer_login("ann@perkins.com", "literally1").await;
    let chris = app.customer_login("chris@traeger.com", "literally1").await;

    let r = as_customer(
        &app,
        Method::POST,
        "/v2/carts",
        &ann,
        Some(json!({"data": {"name": "Ann's"}})),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body["data"]["relationships"]["customers"]["data"][0]["id"],
        ids[0].as_str()
    );
    let first = r.body["data"]["id"].as_str().unwrap().to_owned();
    let body = json!({"data": [{"type": "customer", "id": ids[0]}]});
    assert_eq!(
        as_customer(
            &app,
            Method::POST,
            "/v2/carts/second/relationships/customers",
            &ann,
            Some(body.clone())
        )
        .await
        .status,
        200
    );
    assert_eq!(
        as_customer(
            &app,
            Method::POST,
            "/v2/carts/other/relationships/customers",
            &chris,
            Some(body)
        )
        .await
        .status,
        403,
        "only oneself"
    );
    assert_eq!(
        as_customer(&app, Method::GET, &format!("/v2/carts/{first}"), &chris, None)
            .await
            .status,
        403
    );
    assert_eq!(
        as_customer(&app, Method::GET, &format!("/v2/carts/{first}"), &ann, None)
            .await
            .status,
        200
    );
    assert_eq!(
        as_customer(&app, Method::GET, "/v2/carts", &ann, None).await.body["meta"]["results"]["total"],
        2
    );

    assert_eq!(
        as_customer(&app, Method::DELETE, "/v2/carts/second", &ann, None)
            .await
            .status,
        204
    );
    let r = as_customer(&app, Method::DELETE, &format!("/v2/carts/{first}"), &ann, None).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["title"], "Last cart");
}

async fn a_sale_prices_the_cart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let node = hierarchy(&app, &admin, "Sale").await;
    let p = product(&app, &admin, &node, "Talisker 10", "TAL-10", "live").await;
    let book = pricebook(&app, &admin, "Retail").await;
    price(&app, &admin, &book, "TAL-10", json!({
        "currencies": {"USD": {"amount": 5000, "includes_tax": false}},
        "sales": {"winter": {"schedule": {"valid_from": "2020-01-01T00:00:00Z", "valid_to": "2099-01-01T00:00:00Z"},
                             "currencies": {"USD": {"amount": 4000, "includes_tax": false}}}}
    })).await;
    published_catalog(&app, &admin, "Sale", &node.0, &book).await;
    let token = app.implicit_token().await;
    let r = add(
        &app,
        &token,
        "sale-cart",
        json!({"type": "cart_item", "id": p, "quantity": 2}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"][0]["unit_price"]["amount"], 4000, "the sale price");
    assert_eq!(r.body["meta"]["display_price"]["without_tax"]["amount"], 8000);
}

/// The API checks the caller may use a cart on one read and adds on a later write; the store
/// refuses the write if the cart was associated with someone else in between, so an add decided
/// for a guest cart cannot land in what became an account's cart.
async fn an_add_decided_on_a_cart_that_changed_owner_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let account = account(&app, &admin, "Owner").await;
    let r = add(&app, &admin, "handover", custom("Mug", "MUG", 1, 500)).await;
    assert_eq!(r.status, 201, "{}", r.body);

    let store = app.store().await;
    let now = kassa_core::time::now_millis();
    let (seen, _) = store
        .cart_contents("handover", now, kassa_core::carts::StockOf::Nothing)
        .await
        .unwrap();
    let seen = seen.unwrap().cart;
    let r = app
        .post(
            "/v2/carts/handover/relationships/accounts",
            &admin,
            json!({"data": [{"type": "account", "id": account}]}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);

    let mut line = kassa_core::carts::CartItem {
        id: uuid::Uuid::now_v7(),
        cart_id: "handover".into(),
        kind: kassa_core::carts::ItemKind::Custom,
        line_key: String::new(),
        product_id: None,
        sku: Some("PEN".into()),
        name: "Pen".into(),
        description: None,
        slug: None,
        quantity: 1,
        unit_amount: 200,
        includes_tax: false,
        custom_inputs: json!({}),
        catalog_id: None,
        location: None,
        image: None,
        bundle: None,
        created_at: now,
        updated_at: now,
    };
    line.line_key = kassa_core::carts::custom_line_key(line.sku.as_deref(), line.id);
    let refused = store
        .add_cart_items(&seen, "USD", vec![line], now + 86_400_000, None)
        .await
        .unwrap_err();
    assert!(matches!(refused, kassa_core::Error::Conflict(_)), "{refused:?}");
    let r = app.get("/v2/carts/handover/items", &admin).await;
    assert_eq!(r.body["data"].as_array().map(Vec::len), Some(1), "{}", r.body);
}

/// `{"type":"order_items","order_id"}` adds an order's product lines again, priced anew; custom
/// items are refused in `errors`. Only who may read the order may re-order it, by the same rule as
/// `GET /v2/orders/{id}`: another account's token gets 404, also together with an admin token.
async fn reordering_adds_an_orders_product_lines_for_whoever_may_read_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let node = hierarchy(&app, &admin, "Whisky").await;
    let lag = product(&app, &admin, &node, "Lagavulin 16", "LAG-16", "live").await;
    let book = pricebook(&app, &admin, "Retail").await;
    price(&app, &admin, &book, "LAG-16", usd(8999)).await;
    published_catalog(&app, &admin, "Main", &node.0, &book).await;
    let realm = realm(&app, &admin).await;
    let ron = user(&app, &admin, &realm, "ron@swanson.com", "lagavulin16").await;
    let tammy = user(&app, &admin, &realm, "tammy@swanson.com", "tammytwo22").await;
    let (a, b) = (account(&app, &admin, "A").await, account(&app, &admin, "B").await);
    join(&app, &admin, &a, &ron).await;
    join(&app, &admin, &b, &tammy).await;
    let token = |r: Resp| r.body["data"][0]["token"].as_str().unwrap().to_owned();
    let token_a = token(login(&app, &realm, "ron@swanson.com", "lagavulin16").await);
    let token_b = token(login(&app, &realm, "tammy@swanson.com", "tammytwo22").await);

    let items =
        json!({"data": [{"type": "cart_item", "id": lag, "quantity": 2}, custom("Card", "CARD", 1, 300)]});
    let r = with_account(&app, Method::POST, "/v2/carts/ron-1/items", &token_a, Some(items)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let address = json!({"first_name": "Ron", "last_name": "Swanson", "line_1": "1 Main St",
                         "postcode": "12345", "county": "Pawnee", "country": "US"});
    let body = json!({"data": {"contact": {"name": "Ron", "email": "ron@swanson.com"},
                               "billing_address": address, "shipping_address": address}});
    let r = with_account(
        &app,
        Method::POST,
        "/v2/carts/ron-1/checkout",
        &token_a,
        Some(body),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order = r.body["data"]["id"].as_str().unwrap().to_owned();
    let again = json!({"data": {"type": "order_items", "order_id": order}});

    let r = with_account(
        &app,
        Method::POST,
        "/v2/carts/ron-2/items",
        &token_a,
        Some(again.clone()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let lines = r.body["data"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{}", r.body);
    assert_eq!(
        (lines[0]["product_id"].as_str(), lines[0]["quantity"].as_i64()),
        (Some(lag.as_str()), Some(2))
    );
    assert_eq!(r.body["errors"].as_array().map(Vec::len), Some(1), "{}", r.body);

    let r = with_account(
        &app,
        Method::POST,
        "/v2/carts/tammy-1/items",
        &token_b,
        Some(again.clone()),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = req(
        &app,
        Method::POST,
        "/v2/carts/tammy-2/items",
        &admin,
        &[(AM, &token_b)],
        Some(again.clone()),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = app.post("/v2/carts/admin-1/items", &admin, again).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// The cart responses are compact JSON with the keys of every object in byte order: exactly what
/// serializing their parsed `Value` again gives. They are rendered from typed views whose fields
/// must stay in that order to keep the bytes of the former `Value` rendering.
async fn cart_responses_are_compact_json_with_sorted_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;
    let mut bodies = Vec::new();
    let mut call = async |method: Method, path: &str, body: Option<Value>, status: u16| {
        let (got, content_type, text) = raw(&app, method, path, &token, &[], body).await;
        assert_eq!(
            (got, content_type.as_str()),
            (status, "application/json"),
            "{path}: {text}"
        );
        bodies.push(text.clone());
        serde_json::from_str::<Value>(&text).unwrap()
    };
    call(Method::GET, "/v2/carts/sorted", None, 200).await;
    let partly =
        json!({"data": [custom("A", "A", 2, 1250), {"type": "custom_item", "name": "B", "quantity": "2"}]});
    let added = call(Method::POST, "/v2/carts/sorted/items", Some(partly), 201).await;
    assert_eq!(added["errors"].as_array().map(Vec::len), Some(1), "{added}");
    let item = added["data"][0]["id"].as_str().unwrap().to_owned();
    let tax = json!({"data": {"type": "tax_item", "name": "VAT", "jurisdiction": "UK", "rate": 0.2}});
    call(
        Method::POST,
        &format!("/v2/carts/sorted/items/{item}/taxes"),
        Some(tax),
        201,
    )
    .await;
    let tax = json!({"data": {"type": "tax_item", "code": "FIX", "amount": 30}});
    call(
        Method::POST,
        &format!("/v2/carts/sorted/items/{item}/taxes"),
        Some(tax),
        201,
    )
    .await;
    call(
        Method::POST,
        "/v2/carts/sorted/items",
        Some(json!({"data": custom("C", "C", 1, 99)})),
        201,
    )
    .await;
    let details = json!({"data": {"description": "Mine", "contact": {"email": "guest@example.com"},
        "snapshot_date": "2024-05-01T10:00:00Z", "payment_intent_id": "pi_1", "custom_attributes": {"z": 1, "a": 2}}});
    call(Method::PUT, "/v2/carts/sorted", Some(details), 200).await;
    let quantity = json!({"data": {"quantity": 3}});
    call(
        Method::PUT,
        &format!("/v2/carts/sorted/items/{item}"),
        Some(quantity),
        200,
    )
    .await;
    let everything = "include=items,tax_items,custom_discounts,promotions";
    let cart = call(Method::GET, &format!("/v2/carts/sorted?{everything}"), None, 200).await;
    assert_eq!(
        cart["included"]["tax_items"].as_array().map(Vec::len),
        Some(2),
        "{cart}"
    );
    call(Method::GET, "/v2/carts/sorted/items?include=tax_items", None, 200).await;
    call(Method::GET, "/v2/carts", None, 200).await;
    call(
        Method::POST,
        "/v2/carts",
        Some(json!({"data": {"name": "New"}})),
        201,
    )
    .await;
    call(
        Method::DELETE,
        &format!("/v2/carts/sorted/items/{item}"),
        None,
        200,
    )
    .await;
    for body in bodies {
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap().to_string(), body);
    }
}
