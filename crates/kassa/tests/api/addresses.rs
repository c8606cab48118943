//! Address books of accounts and customers: the admin's CRUD and validation, what a member's
//! account token and a customer token reach (and that nothing else is reachable), the
//! `shopper_address_limit` under parallel creates, and that an owner's deletion takes its
//! addresses with it.

use crate::backend_tests;
use crate::fixtures::{account, join, login, realm, user};
use crate::helpers::{AM, Backend, CT, Resp, TestApp, req};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    admin_manages_an_account_address_book,
    address_input_is_checked_and_refusals_change_nothing,
    address_listings_page_and_filter,
    members_reach_only_their_own_account_book,
    customers_reach_only_their_own_book,
    address_limit_holds_under_parallel_creates,
    deleting_the_owner_deletes_its_addresses,
);

fn home() -> Value {
    json!({"data": {"type": "address", "name": "Home", "first_name": "Ron", "last_name": "Swanson",
                    "company_name": "Very Good Building Company", "line_1": "1 Sunny Street", "line_2": "Unit 101",
                    "city": "Pawnee", "county": "Wamapoke", "postcode": "47998", "country": "US",
                    "phone_number": "(555) 555-1234", "instructions": "Leave behind bin"}})
}

fn minimal(name: &str) -> Value {
    json!({"data": {"type": "address", "name": name, "first_name": "Leslie", "last_name": "Knope",
                    "line_1": "2 Main Street", "region": "IN", "postcode": "47998", "country": "US"}})
}

async fn create_customer(app: &TestApp, admin: &str, email: &str, password: &str) -> String {
    let r = app
        .post(
            "/v2/customers",
            admin,
            json!({"data": {"type": "customer", "name": "Ann Perkins", "email": email, "password": password}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

/// A member of `account` and their account token.
async fn member_token(app: &TestApp, admin: &str, account: &str, email: &str) -> String {
    let realm = realm(app, admin).await;
    let member = user(app, admin, &realm, email, "lagavulin16").await;
    assert_eq!(join(app, admin, account, &member).await.status, 201);
    let r = login(app, &realm, email, "lagavulin16").await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"][0]["token"].as_str().unwrap().to_owned()
}

async fn as_member(
    app: &TestApp,
    method: Method,
    path: &str,
    implicit: &str,
    token: &str,
    body: Option<Value>,
) -> Resp {
    req(app, method, path, implicit, &[(AM, token)], body).await
}

async fn as_customer(
    app: &TestApp,
    method: Method,
    path: &str,
    implicit: &str,
    token: &str,
    body: Option<Value>,
) -> Resp {
    req(app, method, path, implicit, &[(CT, token)], body).await
}

async fn admin_manages_an_account_address_book(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let acc = account(&app, &admin, "Pawnee Parks").await;
    let book = format!("/v2/accounts/{acc}/addresses");

    let r = app.post(&book, &admin, home()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let a = &r.body["data"];
    let id = a["id"].as_str().unwrap().to_owned();
    assert_eq!(a["type"], "address");
    for (field, value) in home()["data"].as_object().unwrap() {
        assert_eq!(&a[field], value, "{field}");
    }
    assert!(a.get("region").is_none(), "an absent field is left out");
    assert_eq!(
        a["relationships"]["account"],
        json!({"id": acc, "type": "account"})
    );
    assert_eq!(a["links"]["self"], format!("{}{book}/{id}", app.url).as_str());
    let created = a["meta"]["timestamps"]["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z'));
    assert_eq!(a["meta"]["timestamps"]["updated_at"], created);

    let r = app.get(&format!("{book}/{id}"), &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"], *a);

    // A partial update: fields left out stay, null clears an optional one.
    let r = app
        .put(
            &format!("{book}/{id}"),
            &admin,
            json!({"data": {"type": "address", "name": "Work", "line_2": null, "region": "IN"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let updated = &r.body["data"];
    assert_eq!(updated["name"], "Work");
    assert_eq!(updated["region"], "IN");
    assert_eq!(updated["first_name"], "Ron");
    assert!(updated.get("line_2").is_none());
    assert_eq!(updated["meta"]["timestamps"]["created_at"], created);
    assert_eq!(
        app.get(&format!("{book}/{id}"), &admin).await.body["data"],
        *updated
    );

    let r = app.delete(&format!("{book}/{id}"), &admin).await;
    assert_eq!(r.status, 204);
    for r in [
        app.get(&format!("{book}/{id}"), &admin).await,
        app.delete(&format!("{book}/{id}"), &admin).await,
        app.put(&format!("{book}/{id}"), &admin, home()).await,
    ] {
        assert_eq!(r.status, 404);
        assert_eq!(r.error()["detail"], "address not found");
        assert_eq!(r.error()["status"], 404, "addresses write a numeric status");
    }
    assert_eq!(app.get(&book, &admin).await.body["data"], json!([]));

    // An unknown account has no book; a malformed id is 404 like an unknown one.
    let unknown = uuid::Uuid::now_v7();
    for path in [
        format!("/v2/accounts/{unknown}/addresses"),
        "/v2/accounts/not-a-uuid/addresses".to_owned(),
    ] {
        let r = app.get(&path, &admin).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.error()["detail"], "account not found");
        let r = app.post(&path, &admin, home()).await;
        assert_eq!(r.status, 404, "{path}");
    }
    assert_eq!(app.get(&format!("{book}/not-a-uuid"), &admin).await.status, 404);
}

async fn address_input_is_checked_and_refusals_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let acc = account(&app, &admin, "Pawnee Parks").await;
    let book = format!("/v2/accounts/{acc}/addresses");
    let sources = |r: &Resp| -> Vec<String> {
        r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["source"].as_str().unwrap().to_owned())
            .collect()
    };

    // Every problem at once, each naming its field.
    let r = app
        .post(
            &book,
            &admin,
            json!({"data": {"type": "address", "first_name": " ", "line_2": 7, "city": "x".repeat(256),
                            "instructions": "x".repeat(1025)}}),
        )
        .await;
    assert_eq!(r.status, 400);
    r.error();
    assert_eq!(
        sources(&r),
        [
            "data.first_name",
            "data.last_name",
            "data.line_1",
            "data.line_2",
            "data.city",
            "data.postcode",
            "data.country",
            "data.instructions",
            "data.region"
        ]
    );
    for (body, source) in [
        (json!({"data": {"name": "Home"}}), "data.type"),
        (json!({"data": {"type": "account"}}), "data.type"),
        (json!({"data": "address"}), "data"),
        (json!({}), "data"),
        (json!([1]), "data"),
    ] {
        let r = app.post(&book, &admin, body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.error()["source"], source, "{body}");
    }
    let r = app
        .http
        .post(format!("{}{book}", app.url))
        .bearer_auth(&admin)
        .body(home().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(app.get(&book, &admin).await.body["meta"]["results"]["total"], 0);

    // Limits are inclusive.
    let mut longest = minimal("x");
    longest["data"]["name"] = json!("x".repeat(255));
    longest["data"]["instructions"] = json!("x".repeat(1024));
    let r = app.post(&book, &admin, longest).await;
    assert_eq!(r.status, 201, "{}", r.body);

    // An update must leave a complete address, and a refused one changes nothing.
    let r = app.post(&book, &admin, home()).await;
    let path = format!("{book}/{}", r.body["data"]["id"].as_str().unwrap());
    let before = app.get(&path, &admin).await.body;
    for (patch, source) in [
        (json!({"county": null}), "data.region"),
        (json!({"first_name": null, "city": "Eagleton"}), "data.first_name"),
        (json!({"postcode": "", "city": "Eagleton"}), "data.postcode"),
        (json!({"line_1": ["1 Sunny Street"]}), "data.line_1"),
        (json!({"phone_number": "x".repeat(256)}), "data.phone_number"),
    ] {
        let mut body = json!({"data": {"type": "address"}});
        body["data"]
            .as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        let r = app.put(&path, &admin, body).await;
        assert_eq!(r.status, 400, "{patch}: {}", r.body);
        assert_eq!(r.error()["source"], source, "{patch}");
        assert_eq!(app.get(&path, &admin).await.body, before, "{patch}");
    }
    let r = app
        .put(&path, &admin, json!({"data": {"city": "Eagleton"}}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.type");
    assert_eq!(app.get(&path, &admin).await.body, before);

    // A form's empty inputs: a blank optional field is not given, and on an update clears it.
    let r = app
        .post(
            &book,
            &admin,
            json!({"data": {"type": "address", "name": "Cabin", "first_name": "Ron", "last_name": "Swanson",
                            "company_name": "", "line_1": "Cabin Road", "line_2": "", "city": " ", "region": "",
                            "county": "Wamapoke", "postcode": "47998", "country": "US", "phone_number": "",
                            "instructions": ""}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cabin = r.body["data"].as_object().unwrap();
    for blank in [
        "company_name",
        "line_2",
        "city",
        "region",
        "phone_number",
        "instructions",
    ] {
        assert!(!cabin.contains_key(blank), "{blank}");
    }
    let r = app
        .put(
            &path,
            &admin,
            json!({"data": {"type": "address", "line_2": "", "company_name": ""}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["data"].get("line_2").is_none());
    assert!(r.body["data"].get("company_name").is_none());
    assert_eq!(r.body["data"]["line_1"], "1 Sunny Street");
    // Only a blank region with no county left is a missing region.
    let r = app
        .put(
            &path,
            &admin,
            json!({"data": {"type": "address", "county": "", "region": ""}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.region");
}

async fn address_listings_page_and_filter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let acc = account(&app, &admin, "Pawnee Parks").await;
    let other = account(&app, &admin, "Eagleton").await;
    let book = format!("/v2/accounts/{acc}/addresses");
    let mut ids = Vec::new();
    for name in ["Home", "Work", "Cabin", "Mum's"] {
        let r = app.post(&book, &admin, minimal(name)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["data"]["id"].as_str().unwrap().to_owned());
    }
    let r = app
        .post(
            &format!("/v2/accounts/{other}/addresses"),
            &admin,
            minimal("Home"),
        )
        .await;
    assert_eq!(r.status, 201);

    // Oldest first, paged like every listing.
    let r = app.get(&format!("{book}?page[limit]=3"), &admin).await;
    assert_eq!(r.status, 200);
    let listed: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids[..3]);
    assert_eq!(r.body["meta"]["results"]["total"], 4);
    assert_eq!(
        r.body["meta"]["page"],
        json!({"current": 1, "limit": 3, "offset": 0, "total": 2})
    );
    assert_eq!(
        r.body["links"]["next"],
        format!("{}{book}?page[offset]=3&page[limit]=3", app.url).as_str()
    );
    let r = app
        .get(&format!("{book}?page[limit]=3&page[offset]=3"), &admin)
        .await;
    assert_eq!(r.body["data"][0]["id"], ids[3].as_str());
    assert!(r.body["links"]["next"].is_null());

    // Filters, and the other account's addresses are never in the book.
    for (filter, expected) in [
        ("eq(name,Home)", vec![&ids[0]]),
        ("ilike(name,*o*)", vec![&ids[0], &ids[1]]),
        ("in(name,Cabin,Work)", vec![&ids[1], &ids[2]]),
        ("eq(country,US):eq(name,Mum's)", vec![&ids[3]]),
        ("eq(city,Pawnee)", vec![]),
    ] {
        let r = app.get(&format!("{book}?filter={filter}"), &admin).await;
        assert_eq!(r.status, 200, "{filter}: {}", r.body);
        let got: Vec<&str> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = expected.iter().map(|s| s.as_str()).collect();
        assert_eq!(got, expected, "{filter}");
        assert_eq!(r.body["meta"]["results"]["total"], expected.len(), "{filter}");
    }
    for bad in [
        "gt(name,a)",
        "eq(id,x)",
        "text(instructions,bin)",
        "page[limit]=0",
    ] {
        let query = if bad.starts_with("page") {
            bad.to_owned()
        } else {
            format!("filter={bad}")
        };
        let r = app.get(&format!("{book}?{query}"), &admin).await;
        assert_eq!(r.status, 400, "{bad}");
        r.error();
    }
}

async fn members_reach_only_their_own_account_book(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let mine = account(&app, &admin, "Pawnee Parks").await;
    let theirs = account(&app, &admin, "Eagleton").await;
    let token = member_token(&app, &admin, &mine, "ron@swanson.com").await;

    // The storefront's address book: list, add, read, edit, delete with the account token.
    let book = format!("/v2/accounts/{mine}/addresses");
    let r = as_member(&app, Method::POST, &book, &implicit, &token, Some(home())).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let own = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = as_member(&app, Method::GET, &book, &implicit, &token, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"][0]["id"], own.as_str());
    let r = as_member(
        &app,
        Method::PUT,
        &format!("{book}/{own}"),
        &implicit,
        &token,
        Some(json!({"data": {"type": "address", "name": "Cabin"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["name"], "Cabin");

    // Another account's book, and its address, are 404 for every operation, as for an
    // unknown account; nothing changes there.
    let r = app
        .post(&format!("/v2/accounts/{theirs}/addresses"), &admin, home())
        .await;
    let foreign = r.body["data"]["id"].as_str().unwrap().to_owned();
    let foreign_path = format!("/v2/accounts/{theirs}/addresses/{foreign}");
    let before = app.get(&foreign_path, &admin).await.body;
    let unknown = uuid::Uuid::now_v7();
    for account_id in [theirs.as_str(), &unknown.to_string()] {
        let theirs_book = format!("/v2/accounts/{account_id}/addresses");
        let item = format!("{theirs_book}/{foreign}");
        for (method, path, body) in [
            (Method::GET, theirs_book.clone(), None),
            (Method::POST, theirs_book.clone(), Some(home())),
            (Method::GET, item.clone(), None),
            (Method::PUT, item.clone(), Some(minimal("Mine now"))),
            (Method::DELETE, item.clone(), None),
        ] {
            let r = as_member(&app, method.clone(), &path, &implicit, &token, body).await;
            assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
            assert_eq!(r.error()["detail"], "account not found", "{method} {path}");
        }
    }
    // Their address under my own book's path is not found either.
    let smuggled = format!("{book}/{foreign}");
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(minimal("Mine now"))),
        (Method::DELETE, None),
    ] {
        let r = as_member(&app, method.clone(), &smuggled, &implicit, &token, body).await;
        assert_eq!(r.status, 404, "{method}");
        assert_eq!(r.error()["detail"], "address not found");
    }
    assert_eq!(app.get(&foreign_path, &admin).await.body, before);
    assert_eq!(
        app.get(&format!("/v2/accounts/{theirs}/addresses"), &admin)
            .await
            .body["meta"]["results"]["total"],
        1
    );

    // An implicit token alone, or with a customer token, gets 403; no token 401.
    let customer = create_customer(&app, &admin, "ann@perkins.com", "pa55word-a").await;
    let customer_tok = app.customer_login("ann@perkins.com", "pa55word-a").await;
    assert!(!customer.is_empty());
    for (method, path, body) in [
        (Method::GET, book.clone(), None),
        (Method::POST, book.clone(), Some(home())),
        (Method::GET, format!("{book}/{own}"), None),
        (Method::PUT, format!("{book}/{own}"), Some(home())),
        (Method::DELETE, format!("{book}/{own}"), None),
    ] {
        let r = req(&app, method.clone(), &path, &implicit, &[], body.clone()).await;
        assert_eq!(r.status, 403, "{method} {path}");
        r.error();
        let r = as_customer(
            &app,
            method.clone(),
            &path,
            &implicit,
            &customer_tok,
            body.clone(),
        )
        .await;
        assert_eq!(r.status, 403, "{method} {path}");
        let r = app.call(method.clone(), &path, None, body).await;
        assert_eq!(r.status, 401, "{method} {path}");
    }

    let r = as_member(
        &app,
        Method::DELETE,
        &format!("{book}/{own}"),
        &implicit,
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(app.get(&book, &admin).await.body["data"], json!([]));
}

async fn customers_reach_only_their_own_book(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let ann = create_customer(&app, &admin, "ann@perkins.com", "pa55word-a").await;
    let chris = create_customer(&app, &admin, "chris@traeger.com", "pa55word-c").await;
    let ann_token = app.customer_login("ann@perkins.com", "pa55word-a").await;
    let book = format!("/v2/customers/{ann}/addresses");

    let r = as_customer(&app, Method::POST, &book, &implicit, &ann_token, Some(home())).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let own = r.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.body["data"]["relationships"]["customer"],
        json!({"id": ann, "type": "customer"})
    );
    assert_eq!(
        r.body["data"]["links"]["self"],
        format!("{}{book}/{own}", app.url).as_str()
    );
    let r = as_customer(&app, Method::GET, &book, &implicit, &ann_token, None).await;
    assert_eq!(r.body["meta"]["results"]["total"], 1);
    let r = as_customer(
        &app,
        Method::PUT,
        &format!("{book}/{own}"),
        &implicit,
        &ann_token,
        Some(json!({"data": {"type": "address", "city": "Eagleton"}})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["city"], "Eagleton");
    // The admin sees and manages the same book.
    let r = app.get(&format!("{book}/{own}"), &admin).await;
    assert_eq!(r.body["data"]["city"], "Eagleton");

    // Chris's book and address are 404 for Ann, for every operation.
    let r = app
        .post(&format!("/v2/customers/{chris}/addresses"), &admin, home())
        .await;
    let foreign = r.body["data"]["id"].as_str().unwrap().to_owned();
    let chris_book = format!("/v2/customers/{chris}/addresses");
    let before = app.get(&format!("{chris_book}/{foreign}"), &admin).await.body;
    for (method, path, body) in [
        (Method::GET, chris_book.clone(), None),
        (Method::POST, chris_book.clone(), Some(home())),
        (Method::GET, format!("{chris_book}/{foreign}"), None),
        (Method::PUT, format!("{chris_book}/{foreign}"), Some(home())),
        (Method::DELETE, format!("{chris_book}/{foreign}"), None),
        (Method::GET, format!("{book}/{foreign}"), None),
        (Method::DELETE, format!("{book}/{foreign}"), None),
    ] {
        let r = as_customer(&app, method.clone(), &path, &implicit, &ann_token, body).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        r.error();
    }
    assert_eq!(
        app.get(&format!("{chris_book}/{foreign}"), &admin).await.body,
        before
    );
    assert_eq!(
        app.get(&chris_book, &admin).await.body["meta"]["results"]["total"],
        1
    );

    // No customer token: 403; an account token does not open a customer's book.
    let acc = account(&app, &admin, "Pawnee Parks").await;
    let member = member_token(&app, &admin, &acc, "ron@swanson.com").await;
    for (method, body) in [(Method::GET, None), (Method::POST, Some(home()))] {
        let r = req(&app, method.clone(), &book, &implicit, &[], body.clone()).await;
        assert_eq!(r.status, 403, "{method}");
        let r = as_member(&app, method.clone(), &book, &implicit, &member, body).await;
        assert_eq!(r.status, 403, "{method}");
    }
    // An unknown customer (admin) has no book.
    let r = app
        .get(
            &format!("/v2/customers/{}/addresses", uuid::Uuid::now_v7()),
            &admin,
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["detail"], "Customer not found");
}

async fn address_limit_holds_under_parallel_creates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let r = app.get("/v2/settings", &admin).await;
    assert_eq!(r.body["data"]["shopper_address_limit"], 25);

    for bad in [json!(0), json!(501), json!(-1), json!(2.5), json!("3")] {
        let r = app
            .put(
                "/v2/settings",
                &admin,
                json!({"data": {"type": "settings", "shopper_address_limit": bad}}),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.error()["source"], "data.shopper_address_limit", "{bad}");
    }
    for ok in [500, 1, 3] {
        let r = app
            .put(
                "/v2/settings",
                &admin,
                json!({"data": {"type": "settings", "shopper_address_limit": ok}}),
            )
            .await;
        assert_eq!(r.status, 200, "{ok}: {}", r.body);
        assert_eq!(r.body["data"]["shopper_address_limit"], ok);
    }

    let acc = account(&app, &admin, "Pawnee Parks").await;
    let token = member_token(&app, &admin, &acc, "ron@swanson.com").await;
    let customer = create_customer(&app, &admin, "ann@perkins.com", "pa55word-a").await;
    let customer_tok = app.customer_login("ann@perkins.com", "pa55word-a").await;
    let books = [
        (format!("/v2/accounts/{acc}/addresses"), (AM, token.clone())),
        (
            format!("/v2/customers/{customer}/addresses"),
            (CT, customer_tok.clone()),
        ),
    ];
    for (book, (header, shopper)) in &books {
        // Twelve parallel creates at a limit of 3: exactly three succeed.
        let creates = (0..12).map(|n| {
            let app_url = app.url.clone();
            let http = app.http.clone();
            let (book, header, shopper, implicit) =
                (book.clone(), *header, shopper.clone(), implicit.clone());
            tokio::spawn(async move {
                let res = http
                    .post(format!("{app_url}{book}"))
                    .bearer_auth(&implicit)
                    .header(header, shopper)
                    .json(&minimal(&format!("Address {n}")))
                    .send()
                    .await
                    .unwrap();
                Resp::read(res).await
            })
        });
        let mut created = 0;
        for r in futures_util::future::join_all(creates).await {
            let r = r.unwrap();
            match r.status.as_u16() {
                201 => created += 1,
                400 => {
                    assert_eq!(r.error()["title"], "Address limit reached");
                    assert_eq!(r.error()["status"], 400);
                }
                other => panic!("{other}: {}", r.body),
            }
        }
        assert_eq!(created, 3, "{book}");
        let r = app.get(book, &admin).await;
        assert_eq!(r.body["meta"]["results"]["total"], 3, "{book}");

        // The limit counts per book; freeing a place lets one more in.
        let first = r.body["data"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(app.post(book, &admin, home()).await.status, 400);
        assert_eq!(app.delete(&format!("{book}/{first}"), &admin).await.status, 204);
        assert_eq!(app.post(book, &admin, home()).await.status, 201);
    }

    // Lowering the limit below what a book holds keeps its addresses but takes no more.
    let r = app
        .put(
            "/v2/settings",
            &admin,
            json!({"data": {"type": "settings", "shopper_address_limit": 1}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let (book, _) = &books[0];
    assert_eq!(app.get(book, &admin).await.body["meta"]["results"]["total"], 3);
    assert_eq!(app.post(book, &admin, home()).await.status, 400);
}

async fn deleting_the_owner_deletes_its_addresses(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let acc = account(&app, &admin, "Pawnee Parks").await;
    let kept = account(&app, &admin, "Eagleton").await;
    let customer = create_customer(&app, &admin, "ann@perkins.com", "pa55word-a").await;
    let mut made = Vec::new();
    for book in [
        format!("/v2/accounts/{acc}/addresses"),
        format!("/v2/accounts/{kept}/addresses"),
        format!("/v2/customers/{customer}/addresses"),
    ] {
        let r = app.post(&book, &admin, home()).await;
        assert_eq!(r.status, 201);
        made.push(uuid::Uuid::parse_str(r.body["data"]["id"].as_str().unwrap()).unwrap());
    }
    assert_eq!(
        app.delete(&format!("/v2/accounts/{acc}"), &admin).await.status,
        204
    );
    assert_eq!(
        app.delete(&format!("/v2/customers/{customer}"), &admin)
            .await
            .status,
        204
    );

    // The rows themselves are gone, not only unreachable.
    use kassa_core::address::AddressOwner;
    let store = app.store().await;
    let id = |s: &str| uuid::Uuid::parse_str(s).unwrap();
    assert_eq!(
        store
            .address(AddressOwner::Account(id(&acc)), made[0])
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .address(AddressOwner::Customer(id(&customer)), made[2])
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .address(AddressOwner::Account(id(&kept)), made[1])
            .await
            .unwrap()
            .is_some()
    );
    let r = app.get(&format!("/v2/accounts/{acc}/addresses"), &admin).await;
    assert_eq!(r.status, 404);
}
