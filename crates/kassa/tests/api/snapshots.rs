//! Snapshots (`/_kassa/stores/{id}/export`, `…/import`, stores made from a fixture, resets to
//! it): a fixture holds everything a store holds but its credentials, and export → import →
//! export gives back the same bytes on each backend and across them.

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::{
    add_custom, add_euro, checkout, enable_manual, guest_body, hierarchy, pay, payment, price, pricebook,
    product, published_catalog, uploaded, usd,
};
use crate::helpers::{Backend, TestApp, assert_same_dump};

backend_tests!(
    export_import_export_gives_back_the_same_bytes_and_a_working_store,
    a_store_made_from_a_fixture_resets_to_it,
    a_fixture_that_does_not_fit_is_refused_and_changes_nothing,
);

const STORE: &str = "/_kassa/stores/default";

/// The store's fixture file, as its bytes.
async fn export(app: &TestApp, admin: &str, store: &str) -> Vec<u8> {
    let r = app
        .http
        .get(format!("{}/_kassa/stores/{store}/export", app.url))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.bytes().await.unwrap().to_vec()
}

async fn import(app: &TestApp, admin: &str, store: &str, fixture: &[u8]) -> crate::helpers::Resp {
    let r = app
        .http
        .post(format!("{}/_kassa/stores/{store}/import", app.url))
        .bearer_auth(admin)
        .header("content-type", "application/json")
        .body(fixture.to_vec())
        .send()
        .await
        .unwrap();
    crate::helpers::Resp::read(r).await
}

/// A per-test store made from `fixture`: its id, and its admin's and a shopper's tokens (got with
/// its own credentials).
struct Made {
    id: String,
    admin: String,
    shopper: String,
}

async fn store_from(app: &TestApp, server_admin: &str, fixture: Value) -> Made {
    let r = app
        .call(
            Method::POST,
            "/_kassa/stores",
            Some(server_admin),
            Some(json!({"data": {"fixture": fixture}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["resets_to"], "fixture");
    let data = &r.body["data"];
    let client_id = data["client_id"].as_str().unwrap();
    let token = |r: crate::helpers::Resp| {
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    };
    let admin = token(
        app.token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", data["client_secret"].as_str().unwrap()),
        ])
        .await,
    );
    let shopper = token(
        app.token_request(&[("grant_type", "implicit"), ("client_id", client_id)])
            .await,
    );
    Made {
        id: data["id"].as_str().unwrap().to_owned(),
        admin,
        shopper,
    }
}

/// What a rich store holds: its published product's id, a customer's email, an order's id.
struct Shop {
    product: String,
    order: String,
}

/// A store with something of every kind a fixture carries: a published catalog with a price,
/// a file's bytes, stock, a second currency (a real number), a customer with a password, an
/// account with a member, a paid order, a promotion with a code, an open cart and a webhook
/// integration with a secret.
async fn shop(app: &TestApp, admin: &str) -> Shop {
    let node = hierarchy(app, admin, "Spirits").await;
    let product = product(app, admin, &node, "Oban 14", "OBAN-14", "live").await;
    let book = pricebook(app, admin, "Retail").await;
    price(app, admin, &book, "OBAN-14", usd(6500)).await;
    published_catalog(app, admin, "Main", &node.0, &book).await;
    uploaded(app, admin, "label.png", &crate::fixtures::png(3, 2)).await;
    let r = app
        .post(
            &format!("/v2/inventories/{product}"),
            admin,
            json!({"data": {"type": "stock", "quantity": 12}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    add_euro(app, admin).await;
    app.customer(admin, "leslie@pawnee.gov").await;
    app.account_shopper(admin, "Parks Dept", "ron@pawnee.gov").await;

    enable_manual(app, admin).await;
    add_custom(app, admin, "cart-paid", "WAFFLE", 2, 450).await;
    let implicit = app.implicit_token().await;
    let order = checkout(app, "cart-paid", &implicit, &[], guest_body()).await;
    let r = pay(app, admin, &[], &order, payment("purchase", None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    add_custom(app, admin, "cart-open", "SYRUP", 1, 300).await;

    let r = app
        .post(
            "/v2/rule-promotions",
            admin,
            json!({"data": {"type": "rule_promotion", "name": "Ten off", "enabled": true,
                "rule_set": {"actions": [{"strategy": "cart_discount", "args": ["percent", 10.0]}]}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let promotion = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/v2/rule-promotions/{promotion}/codes"),
            admin,
            json!({"data": {"type": "promotion_codes", "codes": [{"code": "TENOFF"}]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .post(
            "/v2/integrations",
            admin,
            json!({"data": {"type": "integration", "name": "ERP", "integration_type": "webhook", "enabled": false,
                "observes": ["order.created"],
                "configuration": {"url": "http://127.0.0.1:9/hook", "secret_key": "secret_squirrel"}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    Shop { product, order }
}

async fn export_import_export_gives_back_the_same_bytes_and_a_working_store(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shop = shop(&app, &admin).await;
    let exported = export(&app, &admin, "default").await;

    // What a fixture holds, and what it never does.
    let fixture: Value = serde_json::from_slice(&exported).unwrap();
    assert_eq!(fixture["kassa_fixture"], 1);
    let tables = fixture["tables"].as_object().unwrap();
    for never in [
        "application_keys",
        "signing_keys",
        "promotions_version",
        "integration_jobs",
    ] {
        assert!(!tables.contains_key(never), "{never}");
    }
    let text = String::from_utf8(exported.clone()).unwrap();
    assert!(
        !text.contains("secret_squirrel"),
        "the webhook's secret is redacted"
    );
    assert!(!text.contains(&app.client_secret));
    assert!(!text.contains("waffles-4ever"), "passwords only hashed");
    assert!(
        tables["customers"][0]["password_hash"]
            .as_str()
            .unwrap()
            .starts_with("$argon2")
    );
    assert_eq!(tables["products"][0]["id"], json!(shop.product));
    assert_eq!(tables["currencies"].as_array().unwrap().len(), 2);
    assert!(tables["currencies"][0]["exchange_rate"].is_f64());
    assert!(
        tables["file_contents"][0]["content"]
            .as_str()
            .unwrap()
            .starts_with("iVBORw0KGgo")
    );
    assert!(
        tables["catalog_releases"][0]["snapshot"]
            .as_str()
            .unwrap()
            .contains("OBAN-14")
    );
    assert!(
        tables["orders"][0]["billing_address"].is_object(),
        "JSON documents nested"
    );
    assert!(tables["carts"].as_array().unwrap().len() >= 2);

    // Into a new store, then back out: the same bytes.
    let copy = store_from(&app, &admin, fixture).await;
    assert_eq!(export(&app, &admin, &copy.id).await, exported);
    // And imported again over itself.
    let r = import(&app, &admin, &copy.id, &exported).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(export(&app, &admin, &copy.id).await, exported);

    // The copy is a working store, reached by its own credentials.
    let (copy_admin, shopper) = (copy.admin, copy.shopper);
    let r = app
        .get(&format!("/catalog/products/{}", shop.product), &shopper)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["attributes"]["sku"], "OBAN-14");
    assert_eq!(
        r.body["data"]["meta"]["display_price"]["without_tax"]["amount"],
        6500
    );
    let r = app.get(&format!("/v2/orders/{}", shop.order), &copy_admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["payment"], "paid");
    let r = app
        .post(
            "/v2/customers/tokens",
            &shopper,
            json!({"data": {"type": "token", "email": "leslie@pawnee.gov", "password": "waffles-4ever",
                "authentication_mechanism": "password"}}),
        )
        .await;
    assert_eq!(
        r.status, 200,
        "the customer's password hash came along: {}",
        r.body
    );
    // New writes in the copy do not collide with what the fixture brought.
    add_custom(&app, &copy_admin, "cart-new", "TEA", 1, 100).await;
    let r = app.get("/v2/carts/cart-open/items", &copy_admin).await;
    assert_eq!(r.body["data"][0]["sku"], "SYRUP", "{}", r.body);

    // The server's own store is as it was.
    assert_eq!(export(&app, &admin, "default").await, exported);
}

async fn a_store_made_from_a_fixture_resets_to_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let node = hierarchy(&app, &admin, "Tea").await;
    let product = product(&app, &admin, &node, "Sencha", "SENCHA", "live").await;
    let fixture: Value = serde_json::from_slice(&export(&app, &admin, "default").await).unwrap();

    let made = store_from(&app, &admin, fixture).await;
    let (id, token) = (made.id, made.admin);
    let path = format!("/pcm/products/{product}");
    assert_eq!(app.get(&path, &token).await.status, 200);
    assert_eq!(app.delete(&path, &token).await.status, 204);
    assert_eq!(app.get(&path, &token).await.status, 404);

    let reset = format!("/_kassa/stores/{id}/reset");
    let r = app.call(Method::POST, &reset, Some(&token), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = app.get(&path, &token).await;
    assert_eq!(r.status, 200, "back as the fixture has it: {}", r.body);
    assert_eq!(r.body["data"]["attributes"]["name"], "Sencha");

    // An import changes the data, not what a reset goes back to.
    let r = import(
        &app,
        &admin,
        &id,
        br#"{"kassa_fixture": 1, "tables": {"products": []}}"#,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(app.get(&path, &token).await.status, 404);
    let r = app.call(Method::POST, &reset, Some(&token), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(app.get(&path, &token).await.status, 200);

    // The server's own store was made without one: it resets to empty.
    let r = app.get(STORE, &admin).await;
    assert_eq!(r.body["data"]["resets_to"], "empty");
}

async fn a_fixture_that_does_not_fit_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let node = hierarchy(&app, &admin, "Tea").await;
    let product = product(&app, &admin, &node, "Sencha", "SENCHA", "live").await;
    let good: Value = serde_json::from_slice(&export(&app, &admin, "default").await).unwrap();
    let before = app.db.dump().await;

    let with = |table: &str, rows: Value| {
        let mut f = good.clone();
        f["tables"][table] = rows;
        serde_json::to_vec(&f).unwrap()
    };
    let mut sencha = good["tables"]["products"][0].clone();
    let dangling = json!([{"node_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "product_id": product,
        "created_at": 1}]);
    // (what, the body, the error's title, its source where it names one)
    let cases: Vec<(&str, Vec<u8>, &str, Option<&str>)> = vec![
        (
            "not JSON",
            b"{".to_vec(),
            "Invalid Fixture",
            Some("kassa_fixture"),
        ),
        (
            "another format",
            br#"{"kassa_fixture": 2, "tables": {}}"#.to_vec(),
            "Invalid Fixture",
            Some("kassa_fixture"),
        ),
        (
            "an unknown table",
            with("coupons", json!([])),
            "Unknown Table",
            Some("tables.coupons"),
        ),
        (
            "a credential table",
            with("application_keys", json!([])),
            "Unknown Table",
            Some("tables.application_keys"),
        ),
        (
            "an unknown column",
            with("products", json!([{"id": product, "colour": "green"}])),
            "Unknown Column",
            Some("tables.products[0].colour"),
        ),
        (
            "a value of the wrong kind",
            with("products", json!([{"id": "not-a-uuid"}])),
            "Invalid Value",
            Some("tables.products[0].id"),
        ),
        (
            "a duplicate key",
            with("products", json!([sencha.clone(), sencha.clone()])),
            "Invalid Fixture",
            None,
        ),
        (
            "a missing reference",
            with("node_products", dangling),
            "Invalid Fixture",
            None,
        ),
        (
            "a required column left out",
            {
                sencha.as_object_mut().unwrap().remove("name");
                with("products", json!([sencha]))
            },
            "Invalid Fixture",
            None,
        ),
    ];
    for (what, body, title, source) in cases {
        let r = import(&app, &admin, "default", &body).await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert_eq!(r.error()["title"], title, "{what}: {}", r.body);
        if let Some(source) = source {
            assert_eq!(r.error()["source"], source, "{what}: {}", r.body);
        }
        assert_same_dump(&before, &app.db.dump().await, what);
    }

    // A store is not made from a bad fixture, and none is left behind.
    let r = app
        .call(
            Method::POST,
            "/_kassa/stores",
            Some(&admin),
            Some(json!({"data": {"fixture": {"kassa_fixture": 1, "tables": {"coupons": []}}}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["source"], "data.fixture.tables.coupons");
    let r = app
        .call(
            Method::POST,
            "/_kassa/stores",
            Some(&admin),
            Some(json!({"data": {"fixture": 7}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error()["source"], "data.fixture");
    let r = app.get("/_kassa/stores", &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 1, "{}", r.body);

    // Only an admin imports or exports.
    let shopper = app.implicit_token().await;
    let r = import(&app, &shopper, "default", &serde_json::to_vec(&good).unwrap()).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_same_dump(&before, &app.db.dump().await, "a shopper's import");
}

/// The same fixture, byte for byte, whichever backend wrote it: a store made on SQLite,
/// imported into PostgreSQL and exported from there, and the other way round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixture_is_the_same_bytes_on_both_backends() {
    let sqlite = TestApp::spawn(Backend::Sqlite).await;
    let postgres = TestApp::spawn(Backend::Postgres).await;
    // The two schemas agree on every table, column, kind and key.
    let mut shapes = Vec::new();
    for app in [&sqlite, &postgres] {
        let mut s = app.store().await.fixture_shapes().await.unwrap();
        s.sort_by(|a, b| a.name.cmp(&b.name));
        for shape in &mut s {
            shape.columns.sort();
        }
        shapes.push(s);
    }
    assert_eq!(shapes[0], shapes[1]);

    for (from, to) in [(&sqlite, &postgres), (&postgres, &sqlite)] {
        let (from_admin, to_admin) = (from.admin_token().await, to.admin_token().await);
        let r = from
            .call(Method::POST, &format!("{STORE}/reset"), Some(&from_admin), None)
            .await;
        assert_eq!(r.status, 204);
        shop(from, &from_admin).await;
        let exported = export(from, &from_admin, "default").await;
        let r = import(to, &to_admin, "default", &exported).await;
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(
            String::from_utf8(export(to, &to_admin, "default").await).unwrap(),
            String::from_utf8(exported).unwrap()
        );
    }
}
