//! A store per test (`/_kassa/stores`): stores made in one server share nothing — not data, not
//! credentials, not the journal, the clock or the ids — and a request reaches its store by its
//! credentials alone.

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::{account, hierarchy, price, pricebook, product, published_catalog, usd};
use crate::helpers::{Backend, TestApp};

backend_tests!(
    stores_share_nothing_with_each_other_or_the_servers_own,
    each_store_has_its_own_clock_and_seed,
    a_deleted_store_is_gone_with_its_credentials,
    only_the_servers_admin_makes_stores_and_bad_input_is_refused,
    stores_made_at_once_are_distinct_and_deliver_their_own_events,
);

/// A new store: its id and its admin and shopper tokens.
struct Store {
    id: String,
    client_id: String,
    admin: String,
    shopper: String,
}

async fn new_store(app: &TestApp, server_admin: &str, body: Option<Value>) -> Store {
    let r = app
        .call(Method::POST, "/_kassa/stores", Some(server_admin), body)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let data = &r.body["data"];
    assert_eq!(data["type"], "kassa-store");
    let id = data["id"].as_str().unwrap().to_owned();
    let client_id = data["client_id"].as_str().unwrap().to_owned();
    let secret = data["client_secret"].as_str().unwrap().to_owned();
    assert!(client_id.starts_with(&format!("{id}.")), "{client_id}");
    let admin = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ])
        .await;
    assert_eq!(admin.status, 200, "{}", admin.body);
    let shopper = app
        .token_request(&[("grant_type", "implicit"), ("client_id", &client_id)])
        .await;
    assert_eq!(shopper.status, 200, "{}", shopper.body);
    Store {
        id,
        client_id,
        admin: admin.body["access_token"].as_str().unwrap().to_owned(),
        shopper: shopper.body["access_token"].as_str().unwrap().to_owned(),
    }
}

fn ids(r: &Value) -> Vec<&str> {
    r["data"]
        .as_array()
        .expect("a data array")
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect()
}

async fn stores_share_nothing_with_each_other_or_the_servers_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server = app.admin_token().await;
    let (a, b) = (
        new_store(&app, &server, None).await,
        new_store(&app, &server, None).await,
    );

    // Store A gets a catalog, a cart, a customer and an account.
    let node = hierarchy(&app, &a.admin, "Spirits").await;
    let oban = product(&app, &a.admin, &node, "Oban", "OBAN-14", "live").await;
    let book = pricebook(&app, &a.admin, "Retail").await;
    price(&app, &a.admin, &book, "OBAN-14", usd(6500)).await;
    published_catalog(&app, &a.admin, "Store", &node.0, &book).await;
    let cart = app
        .post("/v2/carts", &a.shopper, json!({"data": {"name": "A's"}}))
        .await;
    assert_eq!(cart.status, 201, "{}", cart.body);
    let cart = cart.body["data"]["id"].as_str().unwrap().to_owned();
    let customer = app
        .post(
            "/v2/customers",
            &a.admin,
            json!({"data": {"type": "customer", "name": "Ada", "email": "ada@example.com", "password": "s3cret-pass"}}),
        )
        .await;
    assert_eq!(customer.status, 201, "{}", customer.body);
    let customer = customer.body["data"]["id"].as_str().unwrap().to_owned();
    // Ada logs in to A as a shopper: a customer token of A's.
    let login = app
        .post(
            "/v2/customers/tokens",
            &a.shopper,
            json!({"data": {"type": "token", "email": "ada@example.com", "password": "s3cret-pass",
                            "authentication_mechanism": "password"}}),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let customer_token = login.body["data"]["token"].as_str().unwrap().to_owned();
    // Her token is A's alone: with B's (or the server's) shopper token it opens nothing, and the
    // same email and password are no login in B.
    let path = format!("/v2/customers/{customer}");
    let headers = [(crate::helpers::CT, customer_token.as_str())];
    let own = crate::helpers::req(&app, Method::GET, &path, &a.shopper, &headers, None).await;
    assert_eq!(own.status, 200, "{}", own.body);
    for bearer in [b.shopper.clone(), app.implicit_token().await] {
        let r = crate::helpers::req(&app, Method::GET, &path, &bearer, &headers, None).await;
        assert!(
            matches!(r.status.as_u16(), 401 | 403 | 404),
            "{}: {}",
            r.status,
            r.body
        );
    }
    let r = app
        .post(
            "/v2/customers/tokens",
            &b.shopper,
            json!({"data": {"type": "token", "email": "ada@example.com", "password": "s3cret-pass",
                            "authentication_mechanism": "password"}}),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    let acme = account(&app, &a.admin, "Acme").await;

    // A sees its own.
    assert_eq!(
        ids(&app.get("/pcm/products", &a.admin).await.body),
        [oban.as_str()]
    );
    assert_eq!(
        ids(&app.get("/catalog/products", &a.shopper).await.body),
        [oban.as_str()]
    );

    // B and the server's own store see none of it: not by id, not in a list.
    let by_id = [
        format!("/pcm/products/{oban}"),
        format!("/v2/customers/{customer}"),
        format!("/v2/accounts/{acme}"),
    ];
    for token in [&b.admin, &server] {
        for path in &by_id {
            let r = app.get(path, token).await;
            assert_eq!(r.status, 404, "{path}: {}", r.body);
        }
        for path in ["/pcm/products", "/v2/customers", "/v2/accounts", "/catalogs"] {
            let r = app.get(path, token).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            assert!(ids(&r.body).is_empty(), "{path}: {}", r.body);
        }
    }
    let shopper_b = app.get("/catalog/products", &b.shopper).await;
    assert!(
        shopper_b.status == 404 || ids(&shopper_b.body).is_empty(),
        "{}",
        shopper_b.body
    );
    // A's cart id in B (or in the server's store) is a new empty cart, as Elastic Path answers
    // for any cart id it has not seen.
    for token in [&b.shopper, &server] {
        let r = app.get(&format!("/v2/carts/{cart}"), token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["data"]["name"], "Cart", "{}", r.body);
    }
    assert_eq!(
        app.get(&format!("/v2/carts/{cart}"), &a.shopper).await.body["data"]["name"],
        "A's"
    );

    // Each store's journal has its own requests only: A's writes are in A's and nowhere else.
    let journal = |store: String, token: String| {
        let app = &app;
        async move {
            let r = app.get(&format!("/_kassa/stores/{store}/requests"), &token).await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["method"].as_str().unwrap(),
                        e["path"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let a_writes = [
        "POST /pcm/hierarchies",
        "POST /pcm/products",
        "POST /v2/carts",
        "POST /v2/customers",
    ];
    let in_a = journal(a.id.clone(), a.admin.clone()).await;
    for write in a_writes {
        assert!(in_a.iter().any(|e| e == write), "{write} not in {in_a:?}");
    }
    for (store, token) in [
        (&b.id, &b.admin),
        (&b.id, &server),
        (&"default".to_owned(), &server),
    ] {
        let other = journal(store.clone(), token.clone()).await;
        assert!(!other.is_empty(), "{store}");
        for write in a_writes {
            assert!(!other.iter().any(|e| e == write), "{write} in {store}: {other:?}");
        }
    }

    // A store's admin sees its own store only; the server's admin sees all.
    let r = app
        .get(&format!("/_kassa/stores/{}/requests", b.id), &a.admin)
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = app.get("/_kassa/stores/default/requests", &a.admin).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        ids(&app.get("/_kassa/stores", &a.admin).await.body),
        [a.id.as_str()]
    );
    let all = app.get("/_kassa/stores", &server).await;
    assert_eq!(ids(&all.body), ["default", a.id.as_str(), b.id.as_str()]);
    assert!(!all.body.to_string().contains("client_secret"));

    // A client id names its store even for a wrong secret: A refuses it, nothing else is asked.
    let r = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &a.client_id),
            ("client_secret", "not-the-secret"),
        ])
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    // Another store's id with A's random part: no such client there.
    let (_, random) = a.client_id.split_once('.').unwrap();
    let r = app
        .token_request(&[
            ("grant_type", "implicit"),
            ("client_id", &format!("{}.{random}", b.id)),
        ])
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
}

async fn each_store_has_its_own_clock_and_seed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server = app.admin_token().await;
    let seeded = json!({"data": {"seed": 7}});
    let (a, b) = (
        new_store(&app, &server, Some(seeded.clone())).await,
        new_store(&app, &server, Some(seeded)).await,
    );
    let c = new_store(&app, &server, None).await;
    let first_cart = |store: &Store| {
        let token = store.shopper.clone();
        let app = &app;
        async move {
            let r = app
                .post("/v2/carts", &token, json!({"data": {"name": "first"}}))
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["data"]["id"].as_str().unwrap().to_owned()
        }
    };
    // One seed, one sequence of ids, in each store that has it.
    let (in_a, in_b, in_c) = (first_cart(&a).await, first_cart(&b).await, first_cart(&c).await);
    assert_eq!(in_a, in_b);
    assert_ne!(in_a, in_c);
    let r = app.get(&format!("/_kassa/stores/{}", a.id), &server).await;
    assert_eq!(r.body["data"]["seed"], 7, "{}", r.body);

    // A's clock moves on two hours, from A's own admin: A's hour-long tokens expire, B's do not,
    // and the server's own clock is still real time.
    let r = app
        .call(
            Method::POST,
            &format!("/_kassa/stores/{}/clock", a.id),
            Some(&a.admin),
            Some(json!({"data": {"advance_secs": 7200}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["real_time"], false);
    assert_eq!(app.get("/v2/carts/x", &a.shopper).await.status, 401);
    assert_eq!(
        app.get(&format!("/v2/carts/{in_b}"), &b.shopper).await.status,
        200
    );
    let own = app.get("/_kassa/stores/default/clock", &server).await;
    assert_eq!(own.body["data"]["real_time"], true, "{}", own.body);
    let other = app.get(&format!("/_kassa/stores/{}/clock", b.id), &server).await;
    assert_eq!(other.body["data"]["real_time"], true, "{}", other.body);
    // The server's admin moves it back.
    let r = app
        .call(
            Method::DELETE,
            &format!("/_kassa/stores/{}/clock", a.id),
            Some(&server),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let name = |r: crate::helpers::Resp| r.body["data"]["name"].clone();
    assert_eq!(
        name(app.get(&format!("/v2/carts/{in_a}"), &a.shopper).await),
        "first"
    );

    // A reset starts A's ids again from its seed, and leaves B alone.
    let r = app
        .call(
            Method::POST,
            &format!("/_kassa/stores/{}/reset", a.id),
            Some(&server),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        name(app.get(&format!("/v2/carts/{in_b}"), &b.shopper).await),
        "first"
    );
    assert_eq!(
        name(app.get(&format!("/v2/carts/{in_a}"), &a.shopper).await),
        "Cart"
    );
}

async fn a_deleted_store_is_gone_with_its_credentials(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server = app.admin_token().await;
    let a = new_store(&app, &server, None).await;
    let b = new_store(&app, &server, None).await;
    let r = app
        .post("/v2/carts", &a.shopper, json!({"data": {"name": "doomed"}}))
        .await;
    assert_eq!(r.status, 201);

    let r = app.delete(&format!("/_kassa/stores/{}", a.id), &server).await;
    assert_eq!(r.status, 204, "{}", r.body);
    // Its tokens and its client id are nobody's now.
    assert_eq!(app.get("/v2/carts/x", &a.admin).await.status, 401);
    let r = app
        .token_request(&[("grant_type", "implicit"), ("client_id", &a.client_id)])
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    for (method, path) in [
        (Method::GET, format!("/_kassa/stores/{}", a.id)),
        (Method::DELETE, format!("/_kassa/stores/{}", a.id)),
        (Method::GET, format!("/_kassa/stores/{}/requests", a.id)),
    ] {
        let r = app.call(method, &path, Some(&server), None).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    assert_eq!(
        ids(&app.get("/_kassa/stores", &server).await.body),
        ["default", b.id.as_str()]
    );
    // B goes on.
    let r = app
        .post("/v2/carts", &b.shopper, json!({"data": {"name": "alive"}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn only_the_servers_admin_makes_stores_and_bad_input_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server = app.admin_token().await;
    let a = new_store(&app, &server, None).await;
    for token in [&a.admin] {
        let r = app.call(Method::POST, "/_kassa/stores", Some(token), None).await;
        assert_eq!(r.status, 403, "{}", r.body);
        let r = app.delete(&format!("/_kassa/stores/{}", a.id), token).await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    for token in [&a.shopper, &app.implicit_token().await] {
        let r = app.call(Method::POST, "/_kassa/stores", Some(token), None).await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    let r = app.call(Method::POST, "/_kassa/stores", None, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = app.delete("/_kassa/stores/default", &server).await;
    assert_eq!(r.status, 400, "{}", r.body);
    for (body, status, field) in [
        (json!({"data": {"seed": -1}}), 422, "seed"),
        (json!({"data": {"seed": "seven"}}), 422, "seed"),
        (json!({"seed": 1}), 400, "data"),
    ] {
        let r = app
            .call(Method::POST, "/_kassa/stores", Some(&server), Some(body))
            .await;
        assert_eq!(r.status, status, "{}", r.body);
        assert!(r.body["errors"][0].to_string().contains(field), "{}", r.body);
    }
    assert_eq!(
        ids(&app.get("/_kassa/stores", &server).await.body),
        ["default", a.id.as_str()]
    );
}

async fn stores_made_at_once_are_distinct_and_deliver_their_own_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server = app.admin_token().await;
    // Eight at once, in parallel requests: eight stores, each with its own credentials.
    let made = futures_util::future::join_all((0..8).map(|_| new_store(&app, &server, None))).await;
    let mut made_ids: Vec<&str> = made.iter().map(|s| s.id.as_str()).collect();
    made_ids.sort_unstable();
    made_ids.dedup();
    assert_eq!(made_ids.len(), 8);
    let listed = app.get("/_kassa/stores", &server).await;
    assert_eq!(ids(&listed.body).len(), 9, "default and the eight");

    // Two of them observe their customers: each receiver hears of its own store's only (the
    // store's integration worker starts with its first integration).
    let (a, b) = (&made[0], &made[1]);
    let receivers = [
        crate::integrations::Receiver::start().await,
        crate::integrations::Receiver::start().await,
    ];
    for (store, receiver) in [a, b].into_iter().zip(&receivers) {
        let r = app
            .post(
                "/v2/integrations",
                &store.admin,
                crate::integrations::webhook(&receiver.url, &["customer.created"]),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    for (store, email) in [
        (a, "in-a@example.com"),
        (b, "in-b@example.com"),
        (&made[2], "in-c@example.com"),
    ] {
        let r = app
            .post(
                "/v2/customers",
                &store.admin,
                json!({"data": {"type": "customer", "name": "Someone", "email": email}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    for (receiver, email) in receivers.iter().zip(["in-a@example.com", "in-b@example.com"]) {
        receiver
            .wait_for(std::time::Duration::from_secs(10), |d| !d.is_empty())
            .await;
        // Nothing more comes: not the other store's customer, nor the third's.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let got = receiver.got();
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!(got[0].body["triggered_by"], "customer.created");
        assert_eq!(got[0].body["payload"]["data"]["email"], email, "{}", got[0].body);
    }
}
