//! The conventions every endpoint shares: error envelopes for every failure, request ids,
//! path normalization, pagination and filter errors, health probes.

use std::io::{BufRead, Write};

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp};

backend_tests!(
    unknown_routes_and_methods_get_envelopes,
    bad_bodies_get_envelopes,
    bad_list_queries_are_400,
    request_ids_are_echoed_or_generated,
    repeated_and_trailing_slashes_are_normalized,
    health_and_readiness,
    nul_characters_in_bodies_are_400,
    blank_optional_attributes_are_not_given,
);

async fn unknown_routes_and_methods_get_envelopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let r = app.get("/v2/nothing-here", &admin).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["title"], "Not Found");
    let r = app.call(Method::GET, "/nothing", None, None).await;
    assert_eq!(r.status, 404);
    r.error();
    let r = app
        .call(Method::PUT, "/v2/application-keys", Some(&admin), Some(json!({})))
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.error()["title"], "Method Not Allowed");
    let r = app.call(Method::GET, "/oauth/access_token", None, None).await;
    assert_eq!(r.status, 405);
    r.error();
}

async fn bad_bodies_get_envelopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let url = format!("{}/v2/application-keys", app.url);
    let send = |body: Vec<u8>, content_type: Option<&'static str>| {
        let mut req = app.http.post(&url).bearer_auth(&admin).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        async move { Resp::read(req.send().await.unwrap()).await }
    };
    let r = send(b"{\"data\": {".to_vec(), Some("application/json")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "request");
    let r = send(b"".to_vec(), Some("application/json")).await;
    assert_eq!(r.status, 400);
    r.error();
    let r = send(b"{\"data\":{}}".to_vec(), Some("text/plain")).await;
    assert_eq!(r.status, 415);
    r.error();
    let r = send(b"{\"data\":{}}".to_vec(), None).await;
    assert_eq!(r.status, 415);
    r.error();
    // An oversized body is refused from its Content-Length, before it is read. (Sent by hand:
    // an HTTP client streaming the body would race the early answer.)
    let mut stream = std::net::TcpStream::connect(app.url.trim_start_matches("http://")).unwrap();
    write!(
        stream,
        "POST /v2/application-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
        2 * 1024 * 1024
    )
    .unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
    let mut rest = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        rest.push_str(&line);
    }
    assert!(
        rest.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{rest}"
    );
    // A charset parameter is fine.
    let r = send(
        br#"{"data":{"type":"application_key","name":"ok"}}"#.to_vec(),
        Some("application/json; charset=utf-8"),
    )
    .await;
    assert_eq!(r.status, 201);
}

async fn bad_list_queries_are_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    for (query, source) in [
        ("page[limit]=101", "page[limit]"),
        ("page[limit]=0", "page[limit]"),
        ("page[limit]=abc", "page[limit]"),
        ("page[offset]=10001", "page[offset]"),
        ("page[offset]=-1", "page[offset]"),
    ] {
        let r = app.get(&format!("/v2/application-keys?{query}"), &admin).await;
        assert_eq!(r.status, 400, "{query}");
        assert_eq!(r.error()["source"], source, "{query}");
    }
    for filter in ["eq(name", "bogus(name,x)", "eq(name,x):", "eq(name%2Cx"] {
        let r = app
            .get(&format!("/v2/application-keys?filter={filter}"), &admin)
            .await;
        assert_eq!(r.status, 400, "{filter}");
        assert_eq!(
            r.error()["detail"],
            "Could not parse the supplied filter",
            "{filter}"
        );
    }
}

async fn request_ids_are_echoed_or_generated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .http
        .get(format!("{}/healthz", app.url))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let a = app.http.get(format!("{}/healthz", app.url)).send().await.unwrap();
    let b = app.http.get(format!("{}/nope", app.url)).send().await.unwrap();
    let (a, b) = (
        a.headers()["x-request-id"].to_str().unwrap(),
        b.headers()["x-request-id"].to_str().unwrap(),
    );
    assert!(a.len() >= 16 && b.len() >= 16 && a != b);
}

async fn repeated_and_trailing_slashes_are_normalized(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    assert_eq!(app.get("/v2//application-keys/", &admin).await.status, 200);
    assert_eq!(
        app.get("//v2/application-keys?page[limit]=1", &admin).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/healthz", "/readyz"] {
        let r = app.call(Method::GET, path, None, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body["status"], "ok");
    }
}

/// PostgreSQL stores no NUL character; a body holding one is refused up front on both backends
/// (the contract fuzzer found it as a 500 in a cart's custom attribute name).
async fn nul_characters_in_bodies_are_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let r = app
        .post("/v2/carts", &admin, json!({"data": {"name": "Plain"}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cart = r.body["data"]["id"].as_str().unwrap().to_owned();

    let r = app
        .put(
            &format!("/v2/carts/{cart}"),
            &admin,
            json!({"data": {"name": "a\u{0}b", "custom_attributes": {"k\u{0}": {"type": "string", "value": "v"}}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["source"], "request");
    let r = app.get(&format!("/v2/carts/{cart}"), &admin).await;
    assert_eq!(r.body["data"]["name"], "Plain", "nothing changed");
    assert_eq!(r.body["data"]["custom_attributes"], json!({}));

    let r = app
        .post(
            "/v2/customers",
            &admin,
            json!({"data": {"type": "customer", "name": "\u{0}", "email": "nul@example.com"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = app.get("/v2/customers", &admin).await;
    assert_eq!(r.body["data"], json!([]), "no customer was made");

    // Nor in a query string or the token form, where PostgreSQL would get it as a parameter.
    for path in [
        "/v2/customers?filter=eq(email,a%00b)",
        "/pcm/products?filter=eq(name,%00)",
    ] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert_eq!(r.error()["source"], "filter");
    }
    let r = app
        .token_request(&[("grant_type", "implicit"), ("client_id", "a\u{0}")])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["source"], "client_id");

    // A backslash followed by the text `u0000` is ordinary text.
    let r = app
        .put(
            &format!("/v2/carts/{cart}"),
            &admin,
            json!({"data": {"name": "C:\\u0000"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["name"], "C:\\u0000");
}

/// A form sends an empty input as `""`: every optional text attribute takes it as not given (or,
/// in an update, as cleared), while a required one still refuses it.
async fn blank_optional_attributes_are_not_given(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;

    let r = app
        .post(
            "/v2/customers",
            &admin,
            json!({"data": {"type": "customer", "name": "Ann", "email": "ann@example.com", "external_ref": ""}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        r.body["data"].get("external_ref").is_none_or(|v| v.is_null()),
        "{}",
        r.body
    );

    let r = app
        .post(
            "/v2/accounts",
            &admin,
            json!({"data": {"type": "account", "name": "Acme", "legal_name": "", "external_ref": " "}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        r.body["data"].get("legal_name").is_none_or(|v| v.is_null()),
        "{}",
        r.body
    );
    let account = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = app
        .put(
            &format!("/v2/accounts/{account}"),
            &admin,
            json!({"data": {"type": "account", "name": ""}}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), &r.error()["source"]),
        (400, &json!("data.name"))
    );

    let r = app
        .post(
            "/pcm/products",
            &admin,
            json!({"data": {"type": "product", "attributes": {"name": "Tee", "sku": "TEE", "slug": "",
                                                               "description": "", "commodity_type": "physical"}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let attributes = &r.body["data"]["attributes"];
    assert!(attributes.get("slug").is_none_or(|v| v.is_null()), "{}", r.body);
    assert!(
        attributes.get("description").is_none_or(|v| v.is_null()),
        "{}",
        r.body
    );
    let r = app
        .post(
            "/pcm/products",
            &admin,
            json!({"data": {"type": "product", "attributes": {"name": "", "sku": "MUG", "commodity_type": "physical"}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["source"], "data.attributes.name");

    let r = app
        .post(
            "/v2/carts/blank/items",
            &admin,
            json!({"data": {"type": "custom_item", "name": "Gift wrap", "sku": "", "description": "", "quantity": 1,
                            "price": {"amount": 100}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let line = &r.body["data"][0];
    assert!(
        line.get("sku").is_none_or(|v| v.is_null() || v == ""),
        "{}",
        r.body
    );
}
