//! `/v2/customers` and `POST /v2/customers/tokens`: the legacy customer identity and its token.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, Options, Resp, TestApp};

backend_tests!(
    admin_creates_reads_updates_and_deletes_customers,
    validates_customers_naming_each_field,
    duplicate_email_is_409_ignoring_case,
    filters_and_pages_customers,
    implicit_token_registers_and_signs_in,
    wrong_password_and_unknown_email_are_indistinguishable,
    customer_token_reaches_only_its_own_record,
    bad_customer_tokens_are_401,
    expired_customer_tokens_are_401,
);

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A request with a Bearer token and, optionally, `X-Moltin-Customer-Token`.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: &str,
    customer_token: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let mut req = app
        .http
        .request(method, format!("{}{}", app.url, path))
        .bearer_auth(bearer);
    if let Some(token) = customer_token {
        req = req.header("X-MOLTIN-CUSTOMER-TOKEN", token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = Resp::read(req.send().await.unwrap()).await;
    assert_no_secrets(&r);
    r
}

/// No response ever carries a password or its hash.
fn assert_no_secrets(r: &Resp) {
    let text = r.body.to_string();
    assert!(!text.contains("argon2"), "a hash leaked: {text}");
    assert!(!text.contains("pa55word"), "a password leaked: {text}");
    for c in r.body["data"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![r.body["data"].clone()])
    {
        if c["type"] == "customer" {
            assert!(c["password"].is_boolean(), "password is a flag: {c}");
        }
    }
}

fn customer(name: &str, email: &str, password: Option<&str>) -> Value {
    let mut data = json!({"type": "customer", "name": name, "email": email});
    if let Some(p) = password {
        data["password"] = json!(p);
    }
    json!({ "data": data })
}

async fn create(app: &TestApp, token: &str, name: &str, email: &str, password: Option<&str>) -> String {
    let r = call(
        app,
        Method::POST,
        "/v2/customers",
        token,
        None,
        Some(customer(name, email, password)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

async fn sign_in(app: &TestApp, bearer: &str, email: &str, password: &str) -> Resp {
    call(
        app,
        Method::POST,
        "/v2/customers/tokens",
        bearer,
        None,
        Some(json!({"data": {"type": "token", "email": email, "password": password, "authentication_mechanism": "password"}})),
    )
    .await
}

async fn admin_creates_reads_updates_and_deletes_customers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let mut body = customer("Ron Swanson", "Ron@Swanson.com", Some("pa55word-1"));
    body["data"]["external_ref"] = json!("crm-1");
    let r = call(&app, Method::POST, "/v2/customers", &admin, None, Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let d = &r.body["data"];
    let id = d["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert_eq!(d["type"], "customer");
    assert_eq!(d["name"], "Ron Swanson");
    assert_eq!(d["email"], "Ron@Swanson.com", "kept as given");
    assert_eq!(d["external_ref"], "crm-1");
    assert_eq!(d["password"], true);
    assert!(
        d["meta"]["timestamps"]["created_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(d["meta"]["timestamps"]["updated_at"].is_string());
    assert!(
        d["links"]["self"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v2/customers/{id}"))
    );

    let path = format!("/v2/customers/{id}");
    let r = call(&app, Method::GET, &path, &admin, None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["email"], "Ron@Swanson.com");
    assert_eq!(r.body["data"]["password"], true);

    // PUT is partial: only the name changes.
    let r = call(
        &app,
        Method::PUT,
        &path,
        &admin,
        None,
        Some(json!({"data": {"type": "customer", "name": "Ronald"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["name"], "Ronald");
    assert_eq!(r.body["data"]["email"], "Ron@Swanson.com");
    assert_eq!(r.body["data"]["external_ref"], "crm-1");
    assert_eq!(r.body["data"]["password"], true);

    // A new password is hashed and replaces the old one; null clears external_ref.
    let r = call(
        &app,
        Method::PUT,
        &path,
        &admin,
        None,
        Some(json!({"data": {"type": "customer", "password": "pa55word-2", "external_ref": null, "email": "ronald@swanson.com"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["data"]["external_ref"].is_null());
    assert_eq!(r.body["data"]["email"], "ronald@swanson.com");
    assert_eq!(r.body["data"]["name"], "Ronald");
    let implicit = app.implicit_token().await;
    assert_eq!(
        sign_in(&app, &implicit, "ronald@swanson.com", "pa55word-1")
            .await
            .status,
        401
    );
    assert_eq!(
        sign_in(&app, &implicit, "ronald@swanson.com", "pa55word-2")
            .await
            .status,
        200
    );

    // Without a password, `password` is false.
    let r = call(
        &app,
        Method::POST,
        "/v2/customers",
        &admin,
        None,
        Some(customer("No Password", "nopass@example.com", None)),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["data"]["password"], false);
    assert!(r.body["data"]["external_ref"].is_null());

    let r = call(&app, Method::DELETE, &path, &admin, None, None).await;
    assert_eq!(r.status, 204);
    for method in [Method::GET, Method::DELETE] {
        let r = call(&app, method, &path, &admin, None, None).await;
        assert_eq!(r.status, 404);
        assert_eq!(
            r.error()["status"],
            "404",
            "string status, as the account services write it"
        );
    }
    let r = call(
        &app,
        Method::PUT,
        &path,
        &admin,
        None,
        Some(json!({"data": {"type": "customer", "name": "x"}})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = call(&app, Method::GET, "/v2/customers/not-a-uuid", &admin, None, None).await;
    assert_eq!(r.status, 404);
    // The deleted customer's email is free again.
    create(&app, &admin, "Ron again", "RONALD@swanson.com", None).await;
}

async fn validates_customers_naming_each_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let ok = || json!({"type": "customer", "name": "Leslie", "email": "leslie@knope.com"});
    let with = |key: &str, value: Value| {
        let mut d = ok();
        d[key] = value;
        json!({ "data": d })
    };
    let without = |key: &str| {
        let mut d = ok();
        d.as_object_mut().unwrap().remove(key);
        json!({ "data": d })
    };
    let cases = [
        (without("name"), "data.name", "required"),
        (with("name", json!("")), "data.name", "min_length"),
        (with("name", json!("x".repeat(256))), "data.name", "max_length"),
        (with("name", Value::Null), "data.name", "required"),
        (without("email"), "data.email", "required"),
        (with("email", json!("leslie")), "data.email", "format"),
        (with("email", json!("leslie@knope")), "data.email", "format"),
        (with("email", json!(".leslie@knope.com")), "data.email", "format"),
        (with("email", json!("les..lie@knope.com")), "data.email", "format"),
        (with("email", json!("leslie@@knope.com")), "data.email", "format"),
        (with("password", json!("short")), "data.password", "min_length"),
        (
            with("external_ref", json!("x".repeat(2049))),
            "data.external_ref",
            "max_length",
        ),
        (without("type"), "data.type", "required"),
        (with("type", json!("account")), "data.type", "invalid"),
    ];
    for (body, source, title) in cases {
        let r = call(
            &app,
            Method::POST,
            "/v2/customers",
            &admin,
            None,
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, 400, "{body}");
        let e = r.error();
        assert_eq!(e["source"], source, "{body} gave {}", r.body);
        assert_eq!(e["title"], title, "{body} gave {}", r.body);
        assert_eq!(e["status"], "400");
    }
    let r = call(
        &app,
        Method::POST,
        "/v2/customers",
        &admin,
        None,
        Some(with("email", json!(42))),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.email");

    // Every problem at once.
    let r = call(
        &app,
        Method::POST,
        "/v2/customers",
        &admin,
        None,
        Some(json!({"data": {"type": "customer", "email": "nope", "password": "1234567"}})),
    )
    .await;
    assert_eq!(r.status, 400);
    let mut sources: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    sources.sort();
    assert_eq!(sources, ["data.email", "data.name", "data.password"]);
    assert!(
        !r.body.to_string().contains("1234567"),
        "the password is not echoed"
    );

    // Edge values that are fine: 8-character password, 2048-character external_ref.
    let r = call(
        &app,
        Method::POST,
        "/v2/customers",
        &admin,
        None,
        Some(
            json!({"data": {"type": "customer", "name": "x".repeat(255), "email": "a@b.co",
            "password": "12345678", "external_ref": "r".repeat(2048)}}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let path = format!("/v2/customers/{}", r.body["data"]["id"].as_str().unwrap());

    // Updates validate what they are given.
    for (data, source) in [
        (json!({"type": "customer", "name": null}), "data.name"),
        (json!({"type": "customer", "name": ""}), "data.name"),
        (json!({"type": "customer", "email": "not an email"}), "data.email"),
        (json!({"type": "customer", "email": null}), "data.email"),
        (json!({"type": "customer", "password": "short"}), "data.password"),
        (json!({"type": "customer", "password": null}), "data.password"),
        (json!({"name": "no type"}), "data.type"),
    ] {
        let r = call(
            &app,
            Method::PUT,
            &path,
            &admin,
            None,
            Some(json!({ "data": data.clone() })),
        )
        .await;
        assert_eq!(r.status, 400, "{data}");
        assert_eq!(r.error()["source"], source, "{data} gave {}", r.body);
    }

    let r = call(&app, Method::GET, "/v2/customers", &admin, None, None).await;
    assert_eq!(r.body["meta"]["results"]["total"], 1, "nothing else was created");
}

async fn duplicate_email_is_409_ignoring_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    create(&app, &admin, "April", "april@ludgate.com", None).await;
    for email in ["april@ludgate.com", "April@Ludgate.COM", " APRIL@ludgate.com "] {
        let r = call(
            &app,
            Method::POST,
            "/v2/customers",
            &admin,
            None,
            Some(customer("Other April", email, None)),
        )
        .await;
        assert_eq!(r.status, 409, "{email}: {}", r.body);
        let e = r.error();
        assert_eq!(e["status"], "409");
        assert_eq!(e["title"], "Conflict");
    }
    // Changing another customer's email to a taken one is a conflict too.
    let andy = create(&app, &admin, "Andy", "andy@dwyer.com", None).await;
    let r = call(
        &app,
        Method::PUT,
        &format!("/v2/customers/{andy}"),
        &admin,
        None,
        Some(json!({"data": {"type": "customer", "email": "APRIL@ludgate.com"}})),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    // Re-stating one's own email in another case is not.
    let r = call(
        &app,
        Method::PUT,
        &format!("/v2/customers/{andy}"),
        &admin,
        None,
        Some(json!({"data": {"type": "customer", "email": "Andy@Dwyer.com"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(&app, Method::GET, "/v2/customers", &admin, None, None).await;
    assert_eq!(r.body["meta"]["results"]["total"], 2);
}

async fn filters_and_pages_customers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let people = [
        ("Ann Perkins", "ann@perkins.com", "ext-1"),
        ("Anne Other", "anne@other.org", "ext-2"),
        ("Chris Traeger", "chris@traeger.com", "ext-3"),
        ("Ben Wyatt", "Ben@Wyatt.com", "ext_4"),
        ("Tom 100% Haverford", "tom@haverford.org", "ext-5"),
    ];
    let mut ids = Vec::new();
    for (name, email, external_ref) in people {
        let mut body = customer(name, email, None);
        body["data"]["external_ref"] = json!(external_ref);
        let r = call(&app, Method::POST, "/v2/customers", &admin, None, Some(body)).await;
        assert_eq!(r.status, 201);
        ids.push(r.body["data"]["id"].as_str().unwrap().to_owned());
    }
    let names = |r: &Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let cases: [(&str, &[&str]); 10] = [
        ("eq(email,ben@wyatt.com)", &["Ben Wyatt"]),
        ("eq(email,BEN@WYATT.COM)", &["Ben Wyatt"]),
        ("like(email,*.org)", &["Anne Other", "Tom 100% Haverford"]),
        ("like(email,*@PERKINS*)", &["Ann Perkins"]),
        ("eq(name,Ann Perkins)", &["Ann Perkins"]),
        ("like(name,Ann*)", &["Ann Perkins", "Anne Other"]),
        ("like(name,*100%*)", &["Tom 100% Haverford"]),
        ("like(external_ref,ext_*)", &["Ben Wyatt"]),
        ("eq(external_ref,ext-3)", &["Chris Traeger"]),
        ("like(name,Ann*):like(email,*.org)", &["Anne Other"]),
    ];
    for (filter, expected) in cases {
        let r = call(
            &app,
            Method::GET,
            &format!("/v2/customers?filter={filter}"),
            &admin,
            None,
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{filter}: {}", r.body);
        assert_eq!(names(&r), expected, "{filter}");
        assert_eq!(r.body["meta"]["results"]["total"], expected.len(), "{filter}");
    }
    for bad in ["gt(name,a)", "eq(password,x)", "eq(id,x)", "nonsense"] {
        let r = call(
            &app,
            Method::GET,
            &format!("/v2/customers?filter={bad}"),
            &admin,
            None,
            None,
        )
        .await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.error()["source"], "filter");
    }

    let r = call(
        &app,
        Method::GET,
        "/v2/customers?page[limit]=2&page[offset]=2",
        &admin,
        None,
        None,
    )
    .await;
    assert_eq!(
        r.body["meta"]["page"],
        json!({"limit": 2, "offset": 2, "current": 2, "total": 3})
    );
    assert_eq!(r.body["meta"]["results"]["total"], 5);
    assert_eq!(names(&r), ["Chris Traeger", "Ben Wyatt"], "oldest first");
    assert!(
        r.body["links"]["next"]
            .as_str()
            .unwrap()
            .ends_with("/v2/customers?page[offset]=4&page[limit]=2")
    );
    // Filtered and paged; an offset past the end still counts.
    let r = call(
        &app,
        Method::GET,
        "/v2/customers?filter=like(name,*n*)&page[limit]=1&page[offset]=10",
        &admin,
        None,
        None,
    )
    .await;
    assert!(r.body["data"].as_array().unwrap().is_empty());
    assert_eq!(r.body["meta"]["results"]["total"], 3);
    let r = call(
        &app,
        Method::GET,
        "/v2/customers?page[limit]=101",
        &admin,
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "page[limit]");
}

async fn implicit_token_registers_and_signs_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let implicit = app.implicit_token().await;
    // A storefront's sign-up.
    let id = create(
        &app,
        &implicit,
        "Donna Meagle",
        "donna@meagle.com",
        Some("pa55word-d"),
    )
    .await;

    let r = sign_in(&app, &implicit, "DONNA@meagle.com", "pa55word-d").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["type"], "token");
    assert!(uuid::Uuid::parse_str(d["id"].as_str().unwrap()).is_ok());
    assert_eq!(d["customer_id"], id.as_str());
    assert_eq!(d["token"].as_str().unwrap().split('.').count(), 3, "a JWT");
    let expires = d["expires"].as_i64().expect("expires is integer epoch seconds");
    assert!((expires - (now_secs() + 86_400)).abs() <= 5, "24 h: {expires}");

    // The token reads the customer's own record.
    let token = d["token"].as_str().unwrap();
    let r = call(
        &app,
        Method::GET,
        &format!("/v2/customers/{id}"),
        &implicit,
        Some(token),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["email"], "donna@meagle.com");

    // client_credentials may sign a customer in too; without a Bearer nobody may.
    let admin = app.admin_token().await;
    assert_eq!(
        sign_in(&app, &admin, "donna@meagle.com", "pa55word-d")
            .await
            .status,
        200
    );
    let r = app
        .call(
            Method::POST,
            "/v2/customers/tokens",
            None,
            Some(json!({"data": {"type": "token", "email": "donna@meagle.com", "password": "pa55word-d"}})),
        )
        .await;
    assert_eq!(r.status, 401);
    let r = app
        .call(
            Method::POST,
            "/v2/customers",
            None,
            Some(customer("x", "x@y.com", None)),
        )
        .await;
    assert_eq!(r.status, 401);

    // authentication_mechanism may be left out; another one is refused.
    let r = call(
        &app,
        Method::POST,
        "/v2/customers/tokens",
        &implicit,
        None,
        Some(json!({"data": {"type": "token", "email": "donna@meagle.com", "password": "pa55word-d"}})),
    )
    .await;
    assert_eq!(r.status, 200);
    for (data, source) in [
        (
            json!({"type": "token", "email": "donna@meagle.com", "password": "pa55word-d", "authentication_mechanism": "oidc"}),
            "data.authentication_mechanism",
        ),
        (json!({"type": "token", "password": "pa55word-d"}), "data.email"),
        (
            json!({"type": "token", "email": "donna@meagle.com"}),
            "data.password",
        ),
        (
            json!({"type": "customer", "email": "donna@meagle.com", "password": "pa55word-d"}),
            "data.type",
        ),
    ] {
        let r = call(
            &app,
            Method::POST,
            "/v2/customers/tokens",
            &implicit,
            None,
            Some(json!({ "data": data.clone() })),
        )
        .await;
        assert_eq!(r.status, 400, "{data}");
        assert_eq!(r.error()["source"], source, "{data}");
        assert_eq!(r.error()["status"], "400");
    }
}

async fn wrong_password_and_unknown_email_are_indistinguishable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    create(&app, &admin, "Jerry", "jerry@gergich.com", Some("pa55word-j")).await;
    create(&app, &admin, "Larry", "larry@gergich.com", None).await;
    let implicit = app.implicit_token().await;
    let wrong = sign_in(&app, &implicit, "jerry@gergich.com", "pa55word-x").await;
    let unknown = sign_in(&app, &implicit, "nobody@gergich.com", "pa55word-j").await;
    let no_password = sign_in(&app, &implicit, "larry@gergich.com", "pa55word-j").await;
    for r in [&wrong, &unknown, &no_password] {
        assert_eq!(r.status, 401, "{}", r.body);
        let e = r.error();
        assert_eq!(e["status"], "401");
        assert_eq!(e["title"], "Unauthorized");
    }
    assert_eq!(wrong.body, unknown.body, "identical bodies");
    assert_eq!(wrong.body, no_password.body);
}

async fn customer_token_reaches_only_its_own_record(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let leslie = create(&app, &admin, "Leslie", "leslie@knope.com", Some("pa55word-l")).await;
    let ben = create(&app, &admin, "Ben", "ben@wyatt.com", Some("pa55word-b")).await;
    let implicit = app.implicit_token().await;
    let token = app.customer_login("leslie@knope.com", "pa55word-l").await;
    let own = format!("/v2/customers/{leslie}");
    let other = format!("/v2/customers/{ben}");
    let update = || Some(json!({"data": {"type": "customer", "name": "Leslie Knope"}}));

    // Implicit alone: only sign-up and sign-in.
    for (method, path, body) in [
        (Method::GET, "/v2/customers", None),
        (Method::GET, own.as_str(), None),
        (Method::PUT, own.as_str(), update()),
        (Method::DELETE, own.as_str(), None),
    ] {
        let r = call(&app, method.clone(), path, &implicit, None, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert_eq!(r.error()["status"], "403");
    }
    // A blank customer token is no token.
    let r = call(&app, Method::GET, &own, &implicit, Some(" "), None).await;
    assert_eq!(r.status, 403);

    // With the customer token: the own record only.
    let r = call(&app, Method::GET, &own, &implicit, Some(&token), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["id"], leslie.as_str());
    let r = call(&app, Method::PUT, &own, &implicit, Some(&token), update()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["name"], "Leslie Knope");
    for path in [other.clone(), format!("/v2/customers/{}", uuid::Uuid::now_v7())] {
        let r = call(&app, Method::GET, &path, &implicit, Some(&token), None).await;
        assert_eq!(r.status, 404, "no existence leak");
        let r = call(&app, Method::PUT, &path, &implicit, Some(&token), update()).await;
        assert_eq!(r.status, 404);
    }
    let r = call(&app, Method::GET, &other, &admin, None, None).await;
    assert_eq!(r.body["data"]["name"], "Ben", "the other customer is unchanged");
    let r = call(&app, Method::GET, "/v2/customers", &implicit, Some(&token), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["meta"]["results"]["total"], 1);
    assert_eq!(r.body["data"][0]["id"], leslie.as_str());
    let r = call(
        &app,
        Method::GET,
        "/v2/customers?filter=eq(email,ben@wyatt.com)",
        &implicit,
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        r.body["meta"]["results"]["total"], 0,
        "filters cannot widen the scope"
    );
    let r = call(&app, Method::DELETE, &own, &implicit, Some(&token), None).await;
    assert_eq!(r.status, 403);

    // The password never comes back, and a customer may change their own.
    let r = call(
        &app,
        Method::PUT,
        &own,
        &implicit,
        Some(&token),
        Some(json!({"data": {"type": "customer", "password": "pa55word-new"}})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["password"], true);
    app.customer_login("leslie@knope.com", "pa55word-new").await;

    // client_credentials sees everyone.
    let r = call(&app, Method::GET, "/v2/customers", &admin, None, None).await;
    assert_eq!(r.body["meta"]["results"]["total"], 2);
}

async fn bad_customer_tokens_are_401(backend: Backend) {
    use base64::Engine;
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let leslie = create(&app, &admin, "Leslie", "leslie@knope.com", Some("pa55word-l")).await;
    let ben = create(&app, &admin, "Ben", "ben@wyatt.com", None).await;
    let token = app.customer_login("leslie@knope.com", "pa55word-l").await;

    // Rewrite the subject to another customer, keeping the signature.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let claims = String::from_utf8(b64.decode(parts[1]).unwrap())
        .unwrap()
        .replace(&leslie, &ben);
    let forged = format!("{}.{}.{}", parts[0], b64.encode(claims), parts[2]);

    // Access tokens are not customer tokens.
    for bad in [
        forged.as_str(),
        "garbage",
        "a.b.c",
        implicit.as_str(),
        admin.as_str(),
    ] {
        let r = call(
            &app,
            Method::GET,
            &format!("/v2/customers/{ben}"),
            &implicit,
            Some(bad),
            None,
        )
        .await;
        assert_eq!(r.status, 401, "{bad}");
        let e = r.error();
        assert_eq!(e["status"], "401");
        assert_eq!(e["title"], "Unauthorized");
        assert_eq!(e["detail"], "The customer token is invalid or expired");
    }
    // And a customer token is not an access token.
    let r = call(
        &app,
        Method::GET,
        &format!("/v2/customers/{leslie}"),
        &token,
        Some(&token),
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error()["title"], "Unable to validate access token");
}

async fn expired_customer_tokens_are_401(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            // Expiry has whole-second resolution, so a token of TTL n lives between n − 1 and n
            // seconds: 3 leaves the first call at least 2 s on a loaded machine.
            customer_token_ttl: Duration::from_secs(3),
            ..Options::default()
        },
    )
    .await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let id = create(&app, &admin, "Tom", "tom@haverford.org", Some("pa55word-t")).await;
    let token = app.customer_login("tom@haverford.org", "pa55word-t").await;
    let path = format!("/v2/customers/{id}");
    assert_eq!(
        call(&app, Method::GET, &path, &implicit, Some(&token), None)
            .await
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = call(&app, Method::GET, &path, &implicit, Some(&token), None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error()["detail"], "The customer token is invalid or expired");
}
