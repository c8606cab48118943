//! `/_kassa/`: the request journal (what a client sent, secrets redacted) and fault rules (the
//! answers a storefront's retries are tested against), and the switch that turns both off.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::{account, add_euro, hierarchy, price, pricebook, product, published_catalog, usd};
use crate::helpers::{AM, Backend, Options, TestApp, req};

backend_tests!(
    the_journal_keeps_requests_newest_first_with_secrets_redacted,
    fault_rules_answer_instead_of_kassa_and_change_nothing,
    fault_rules_are_validated,
    the_emulated_rate_limit_answers_429_over_elastic_paths_limit,
    a_reset_empties_the_store_and_keeps_its_credentials,
    kassa_endpoints_need_an_admin_and_are_gone_without_the_emulator,
);

const STORE: &str = "/_kassa/stores/default";

fn data(rows: &Value) -> &Vec<Value> {
    rows["data"].as_array().expect("a data array")
}

async fn the_journal_keeps_requests_newest_first_with_secrets_redacted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let cart = app
        .post("/v2/carts", &shopper, json!({"data": {"name": "journaled"}}))
        .await;
    assert_eq!(cart.status, 201);
    let id = cart.body["data"]["id"].as_str().unwrap().to_owned();
    let listed = app
        .get("/v2/carts/no-such-cart/items?page[limit]=5", &shopper)
        .await;
    let refused = req(
        &app,
        Method::POST,
        &format!("/v2/carts/{id}/items"),
        &shopper,
        &[(AM, "an-account-token")],
        Some(json!({"data": {"type": "cart_item", "quantity": 1}})),
    )
    .await;
    assert!(refused.status.is_client_error(), "{}", refused.body);

    let journal = app.get(&format!("{STORE}/requests"), &admin).await;
    assert_eq!(journal.status, 200, "{}", journal.body);
    let rows = data(&journal.body);
    // Newest first; kassa's own requests are not journaled.
    let seen: Vec<(&str, &str, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap(),
                r["route"].as_str().unwrap_or(""),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen[..3],
        [
            ("POST", "/v2/carts/{id}/items", u64::from(refused.status.as_u16())),
            ("GET", "/v2/carts/{id}/items", u64::from(listed.status.as_u16())),
            ("POST", "/v2/carts", 201),
        ],
        "{seen:?}"
    );
    assert!(seen.iter().all(|(_, route, _)| !route.starts_with("/_kassa")));
    let add = &rows[0];
    assert_eq!(add["path"], format!("/v2/carts/{id}/items"));
    assert_eq!(
        add["request"]["body"],
        r#"{"data":{"quantity":1,"type":"cart_item"}}"#
    );
    assert_eq!(add["request"]["headers"]["authorization"], "[redacted]");
    assert_eq!(
        add["request"]["headers"]["ep-account-management-authentication-token"],
        "[redacted]"
    );
    let error: Value = serde_json::from_str(add["response"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(error, refused.body, "the answer as sent");
    assert!(add["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(add["fault_id"].is_null());
    assert_eq!(rows[1]["path"], "/v2/carts/no-such-cart/items?page[limit]=5");

    // The token requests: the secret sent and the token answered are never kept.
    let tokens: Vec<&Value> = rows
        .iter()
        .filter(|r| r["route"] == "/oauth/access_token")
        .collect();
    assert_eq!(tokens.len(), 2, "the admin's and the shopper's");
    let text = journal.body.to_string();
    assert!(!text.contains(&app.client_secret), "the client secret leaked");
    assert!(
        !text.contains(&admin) && !text.contains(&shopper),
        "a token leaked"
    );
    let admin_login = tokens
        .iter()
        .find(|r| {
            r["request"]["body"]
                .as_str()
                .unwrap()
                .contains("client_credentials")
        })
        .unwrap();
    assert!(
        admin_login["request"]["body"]
            .as_str()
            .unwrap()
            .contains("client_secret=%5Bredacted%5D"),
        "{admin_login}"
    );
    assert!(
        admin_login["response"]["body"]
            .as_str()
            .unwrap()
            .contains(r#""access_token":"[redacted]""#)
    );

    // Filters.
    let posts = app
        .get(&format!("{STORE}/requests?method=post&status=4xx"), &admin)
        .await;
    assert_eq!(data(&posts.body).len(), 1, "{}", posts.body);
    assert_eq!(posts.body["meta"]["results"]["total"], 1);
    let by_route = app
        .get(&format!("{STORE}/requests?route=/v2/carts&page[limit]=1"), &admin)
        .await;
    assert_eq!(data(&by_route.body).len(), 1);
    assert_eq!(data(&by_route.body)[0]["status"], 201);
    let by_path = app
        .get(&format!("{STORE}/requests?path=no-such-cart"), &admin)
        .await;
    assert_eq!(data(&by_path.body).len(), 1);
    let bad = app.get(&format!("{STORE}/requests?status=abc"), &admin).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error()["source"], "status");
    let unknown = app.get(&format!("{STORE}/requests?colour=red"), &admin).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.error()["source"], "colour");
    let other_store = app.get("/_kassa/stores/another/requests", &admin).await;
    assert_eq!(other_store.status, 404);

    // Emptied.
    assert_eq!(app.delete(&format!("{STORE}/requests"), &admin).await.status, 204);
    let empty = app.get(&format!("{STORE}/requests"), &admin).await;
    assert_eq!(empty.body["meta"]["results"]["total"], 0, "{}", empty.body);
}

async fn fault_rules_answer_instead_of_kassa_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let cart = app
        .post("/v2/carts", &shopper, json!({"data": {"name": "c"}}))
        .await;
    let id = cart.body["data"]["id"].as_str().unwrap().to_owned();
    let items = format!("/v2/carts/{id}/items");
    let custom = json!({"data": {"type": "custom_item", "name": "Gift", "sku": "gift", "quantity": 1,
                                 "price": {"amount": 500, "includes_tax": true}}});

    // Every second add to any cart fails with 503 before kassa handles it.
    let rule = app
        .post(
            &format!("{STORE}/faults"),
            &admin,
            json!({"data": {"type": "kassa-fault", "route": "/v2/carts/*/items", "method": "POST",
                            "every": 2, "status": 503}}),
        )
        .await;
    assert_eq!(rule.status, 201, "{}", rule.body);
    let rule_id = rule.body["data"]["id"].as_str().unwrap().to_owned();
    let first = app.post(&items, &shopper, custom.clone()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let second = app.post(&items, &shopper, custom.clone()).await;
    assert_eq!(second.status, 503);
    assert_eq!(second.error()["title"], "Service Unavailable");
    assert_eq!(second.headers["retry-after"], "1");
    let read = app.get(&items, &shopper).await;
    assert_eq!(
        read.body["data"][0]["quantity"], 1,
        "the faulted add changed nothing: {}",
        read.body
    );
    let counted = app.get(&format!("{STORE}/faults/{rule_id}"), &admin).await;
    assert_eq!(counted.body["data"]["meta"]["matched"], 2, "{}", counted.body);
    assert_eq!(counted.body["data"]["meta"]["fired"], 1);
    let journal = app.get(&format!("{STORE}/requests?status=503"), &admin).await;
    assert_eq!(data(&journal.body)[0]["fault_id"], rule_id.as_str());
    assert_eq!(
        app.delete(&format!("{STORE}/faults/{rule_id}"), &admin)
            .await
            .status,
        204
    );
    assert_eq!(
        app.delete(&format!("{STORE}/faults/{rule_id}"), &admin)
            .await
            .status,
        404
    );

    // A 429 that fires once (Elastic Path's rate limit), then kassa answers again.
    app.post(
        &format!("{STORE}/faults"),
        &admin,
        json!({"data": {"route": "/v2/carts/{id}", "method": "GET", "status": 429, "times": 1}}),
    )
    .await;
    let limited = app.get(&format!("/v2/carts/{id}"), &shopper).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.error()["title"], "Too Many Requests");
    assert_eq!(limited.headers["retry-after"], "1");
    assert_eq!(app.get(&format!("/v2/carts/{id}"), &shopper).await.status, 200);

    // A latency alone: kassa answers, later.
    app.post(
        &format!("{STORE}/faults"),
        &admin,
        json!({"data": {"route": "/v2/carts/**", "method": "GET", "latency_ms": 300, "times": 1}}),
    )
    .await;
    let started = Instant::now();
    let slow = app.get(&format!("/v2/carts/{id}"), &shopper).await;
    assert_eq!(slow.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    // A dropped connection: no answer at all.
    app.post(
        &format!("{STORE}/faults"),
        &admin,
        json!({"data": {"route": "/v2/carts/{id}", "method": "DELETE", "drop_connection": true,
                        "probability": 1.0}}),
    )
    .await;
    let dropped = app
        .http
        .delete(format!("{}/v2/carts/{id}", app.url))
        .bearer_auth(&shopper)
        .send()
        .await;
    let failed = match dropped {
        Err(_) => true,
        Ok(res) => res.bytes().await.is_err(),
    };
    assert!(failed, "the connection was not dropped");
    assert_eq!(
        app.get(&format!("/v2/carts/{id}"), &shopper).await.status,
        200,
        "the cart is still there"
    );

    let listed = app.get(&format!("{STORE}/faults"), &admin).await;
    assert_eq!(listed.body["meta"]["results"]["total"], 3, "{}", listed.body);
    assert_eq!(app.delete(&format!("{STORE}/faults"), &admin).await.status, 204);
    let none = app.get(&format!("{STORE}/faults"), &admin).await;
    assert_eq!(none.body["meta"]["results"]["total"], 0);
}

async fn fault_rules_are_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let cases = [
        (json!({"status": 503}), "data.route"),
        (json!({"route": "v2/carts", "status": 503}), "data.route"),
        (json!({"route": "/v2/carts"}), "data.status"),
        (json!({"route": "/v2/carts", "status": 200}), "data.status"),
        (
            json!({"route": "/v2/carts", "status": 503, "drop_connection": true}),
            "data.status",
        ),
        (
            json!({"route": "/v2/carts", "status": 503, "probability": 0}),
            "data.probability",
        ),
        (
            json!({"route": "/v2/carts", "status": 503, "probability": 1.5}),
            "data.probability",
        ),
        (
            json!({"route": "/v2/carts", "status": 503, "every": 0}),
            "data.every",
        ),
        (
            json!({"route": "/v2/carts", "status": 503, "every": 2, "probability": 0.5}),
            "data.every",
        ),
        (
            json!({"route": "/v2/carts", "latency_ms": 600_000}),
            "data.latency_ms",
        ),
        (
            json!({"route": "/v2/carts", "status": 503, "method": "NOT A METHOD"}),
            "data.method",
        ),
        (
            json!({"route": "/v2/carts", "status": 503, "colour": "red"}),
            "data.colour",
        ),
    ];
    for (body, source) in cases {
        let r = app
            .post(&format!("{STORE}/faults"), &admin, json!({"data": body.clone()}))
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert_eq!(r.error()["source"], source, "{body}");
    }
    let none = app.get(&format!("{STORE}/faults"), &admin).await;
    assert_eq!(none.body["meta"]["results"]["total"], 0, "nothing was added");
}

async fn kassa_endpoints_need_an_admin_and_are_gone_without_the_emulator(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let shopper = app.implicit_token().await;
    assert_eq!(app.get(&format!("{STORE}/requests"), &shopper).await.status, 403);
    let anonymous = app
        .http
        .get(format!("{}{STORE}/faults", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let admin = app.admin_token().await;
    let stores = app.get("/_kassa/stores", &admin).await;
    assert_eq!(stores.body["data"][0]["id"], "default", "{}", stores.body);
    let document = app.get("/openapi.json", &admin).await;
    assert!(document.body["paths"]["/_kassa/stores/{id}/requests"].is_object());

    let off = TestApp::spawn_with(
        backend,
        Options {
            emulator: false,
            ..Options::default()
        },
    )
    .await;
    let admin = off.admin_token().await;
    for path in [
        "/_kassa/stores",
        "/_kassa/stores/default/requests",
        "/_kassa/stores/default/faults",
    ] {
        let r = off.get(path, &admin).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    let document = off.get("/openapi.json", &admin).await;
    let paths = document.body["paths"].as_object().unwrap();
    assert!(
        paths.keys().all(|p| !p.starts_with("/_kassa")),
        "documented though not served"
    );
    assert!(paths.contains_key("/v2/carts"));
}

async fn the_emulated_rate_limit_answers_429_over_elastic_paths_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let off = app.get(&format!("{STORE}/rate-limit"), &admin).await;
    assert_eq!(off.body["data"]["store_type"], "off", "{}", off.body);

    let set = app
        .put(
            &format!("{STORE}/rate-limit"),
            &admin,
            json!({"data": {"type": "kassa-rate-limit", "store_type": "development"}}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["data"]["requests_per_second"], 25);
    // 40 requests at once: the second's 25 pass (and the few the bucket refills meanwhile).
    let started = Instant::now();
    let burst = (0..40).map(|_| app.get("/v2/carts/limited", &shopper));
    let answers = futures_util::future::join_all(burst).await;
    let refilled = (started.elapsed().as_secs_f64() * 25.0).ceil() as usize;
    let passed = answers.iter().filter(|r| r.status == 200).count();
    let limited: Vec<_> = answers.iter().filter(|r| r.status == 429).collect();
    assert!(
        (25..=25 + refilled).contains(&passed) && passed < 40,
        "{passed} of 40 passed in {:?}",
        started.elapsed()
    );
    assert_eq!(passed + limited.len(), 40);
    assert_eq!(limited[0].error()["title"], "Too Many Requests");
    assert_eq!(limited[0].headers["retry-after"], "1");
    let journal = app.get(&format!("{STORE}/requests?status=429"), &admin).await;
    assert_eq!(journal.body["meta"]["results"]["total"], limited.len() as u64);
    assert_eq!(data(&journal.body)[0]["rate_limited"], true);

    // kassa's own endpoints are not limited; lifting the limit lets everything through.
    let lifted = app
        .put(
            &format!("{STORE}/rate-limit"),
            &admin,
            json!({"data": {"store_type": "off"}}),
        )
        .await;
    assert_eq!(lifted.body["data"]["requests_per_second"], Value::Null);
    let burst = (0..40).map(|_| app.get("/v2/carts/limited", &shopper));
    let answers = futures_util::future::join_all(burst).await;
    assert!(answers.iter().all(|r| r.status == 200));

    for (body, source) in [
        (json!({"store_type": "huge"}), "data.store_type"),
        (json!({}), "data.store_type"),
        (json!({"requests_per_second": 0}), "data.requests_per_second"),
        (
            json!({"store_type": "production", "requests_per_second": 5}),
            "data.requests_per_second",
        ),
    ] {
        let r = app
            .put(
                &format!("{STORE}/rate-limit"),
                &admin,
                json!({"data": body.clone()}),
            )
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert_eq!(r.error()["source"], source, "{body}");
    }
    let still = app.get(&format!("{STORE}/rate-limit"), &admin).await;
    assert_eq!(still.body["data"]["store_type"], "off", "nothing changed");
}

async fn a_reset_empties_the_store_and_keeps_its_credentials(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    // A store with a catalog, a published release, an order, an account, a customer, an
    // integration, a promotion, a second currency and changed settings.
    let node = hierarchy(&app, &admin, "Spirits").await;
    product(&app, &admin, &node, "Oban", "OBAN-14", "live").await;
    let book = pricebook(&app, &admin, "Retail").await;
    price(&app, &admin, &book, "OBAN-14", usd(6500)).await;
    published_catalog(&app, &admin, "Store", &node.0, &book).await;
    app.guest_order(&admin, 1200).await;
    account(&app, &admin, "Acme").await;
    app.customer(&admin, "ada@example.com").await;
    add_euro(&app, &admin).await;
    let settings = app
        .put(
            "/v2/settings/cart",
            &admin,
            json!({"data": {"type": "settings", "cart_expiry_days": 3}}),
        )
        .await;
    assert_eq!(settings.status, 200, "{}", settings.body);
    let promotion = app
        .post(
            "/v2/rule-promotions",
            &admin,
            json!({"data": {"type": "rule_promotion", "name": "Ten", "enabled": true, "automatic": true,
                            "rule_set": {"actions": [{"strategy": "cart_discount", "args": ["percent", 10]}]}}}),
        )
        .await;
    assert_eq!(promotion.status, 201, "{}", promotion.body);
    let hook = app
        .post(
            "/v2/integrations",
            &admin,
            json!({"data": {"type": "integration", "name": "hook", "integration_type": "webhook",
                            "observes": ["order.created"], "configuration": {"url": "http://127.0.0.1:9/hook"}}}),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.body);
    let realm_before = app.get("/v2/settings/account-authentication", &admin).await;
    let shopper = app.implicit_token().await;
    assert_eq!(
        app.get("/catalog/products", &shopper).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let reset = app
        .call(Method::POST, &format!("{STORE}/reset"), Some(&admin), None)
        .await;
    assert_eq!(reset.status, 204, "{}", reset.body);

    // The tokens of before still work: the credentials stayed.
    for path in [
        "/pcm/products",
        "/pcm/hierarchies",
        "/pcm/pricebooks",
        "/catalogs",
        "/v2/orders",
        "/v2/accounts",
        "/v2/customers",
        "/v2/rule-promotions",
        "/v2/integrations",
    ] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(
            r.body["data"].as_array().map(Vec::len),
            Some(0),
            "{path}: {}",
            r.body
        );
    }
    let currencies = app.get("/v2/currencies", &admin).await;
    let codes: Vec<&str> = data(&currencies.body)
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["USD"], "only the default currency");
    let cart_settings = app.get("/v2/settings/cart", &admin).await;
    assert_eq!(
        cart_settings.body["data"]["cart_expiry_days"], 7,
        "{}",
        cart_settings.body
    );
    let realm_after = app.get("/v2/settings/account-authentication", &admin).await;
    assert_eq!(realm_after.status, 200, "{}", realm_after.body);
    assert_ne!(
        realm_after.body["data"]["relationships"]["authentication_realm"]["data"]["id"],
        realm_before.body["data"]["relationships"]["authentication_realm"]["data"]["id"],
        "a new realm"
    );
    let catalog = app.get("/catalog/products", &shopper).await;
    assert!(
        catalog.status == 404 || catalog.body["data"].as_array().is_some_and(Vec::is_empty),
        "no catalog is published any more: {}",
        catalog.body
    );
    let journal = app
        .get(&format!("{STORE}/requests?route=/v2/orders"), &admin)
        .await;
    assert_eq!(
        journal.body["meta"]["results"]["total"], 1,
        "only the read after the reset"
    );

    // And the store is usable again, the same names free.
    let node = hierarchy(&app, &admin, "Spirits").await;
    product(&app, &admin, &node, "Oban", "OBAN-14", "live").await;
    let book = pricebook(&app, &admin, "Retail").await;
    price(&app, &admin, &book, "OBAN-14", usd(6500)).await;
    published_catalog(&app, &admin, "Store", &node.0, &book).await;
    assert_eq!(
        app.get("/catalog/products", &shopper).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.guest_order(&admin, 1200).await;
    assert_eq!(
        app.get("/v2/orders", &admin).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
