//! `POST /oauth/access_token` and what a Bearer token lets a caller do.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, Options, TestApp};

backend_tests!(
    client_credentials_token_is_an_unwrapped_bearer_token,
    implicit_token_is_issued_and_refused_on_admin_endpoints,
    wrong_credentials_are_401,
    malformed_token_requests_are_400_naming_the_field,
    missing_or_malformed_authorization_is_401,
    tampered_and_foreign_tokens_are_refused,
    expired_tokens_are_refused,
    deleted_key_gets_no_tokens_and_its_tokens_die,
    configured_admin_credentials_are_idempotent,
);

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn client_credentials_token_is_an_unwrapped_bearer_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", &app.client_secret),
        ])
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("data").is_none(), "not wrapped in data");
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["identifier"], "client_credentials");
    assert_eq!(r.body["expires_in"], 3600);
    let expires = r.body["expires"]
        .as_i64()
        .expect("expires is integer epoch seconds");
    assert!((expires - (now_secs() + 3600)).abs() <= 5, "expires {expires}");
    let token = r.body["access_token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT, so clients can read exp");
    assert_eq!(app.get("/v2/application-keys", token).await.status, 200);
}

async fn implicit_token_is_issued_and_refused_on_admin_endpoints(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app
        .token_request(&[("grant_type", "implicit"), ("client_id", &app.client_id)])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["identifier"], "implicit");
    assert_eq!(r.body["token_type"], "Bearer");
    assert!(r.body["expires"].is_i64());
    let token = r.body["access_token"].as_str().unwrap();
    let r = app.get("/v2/application-keys", token).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error()["title"], "Forbidden");
    let r = app
        .post(
            "/v2/application-keys",
            token,
            json!({"data": {"type": "application_key", "name": "x"}}),
        )
        .await;
    assert_eq!(r.status, 403);
}

async fn wrong_credentials_are_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", "wrong-secret"),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
            ("client_secret", &app.client_secret),
        ],
        vec![("grant_type", "implicit"), ("client_id", "nobody")],
    ];
    for form in cases {
        let r = app.token_request(&form).await;
        assert_eq!(r.status, 401, "{form:?}");
        let e = r.error();
        assert_eq!(e["status"], "401", "the auth service writes status as a string");
        assert_eq!(e["title"], "Unauthorized");
        let text = r.body.to_string();
        assert!(
            !text.contains(&app.client_secret) && !text.contains("wrong-secret"),
            "no secret echoed"
        );
    }
}

async fn malformed_token_requests_are_400_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("client_id", &app.client_id)], "grant_type"),
        (
            vec![("grant_type", "password"), ("client_id", &app.client_id)],
            "grant_type",
        ),
        (vec![("grant_type", "implicit")], "client_id"),
        (vec![("grant_type", "implicit"), ("client_id", "")], "client_id"),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", &app.client_id),
            ],
            "client_secret",
        ),
    ];
    for (form, field) in cases {
        let r = app.token_request(&form).await;
        assert_eq!(r.status, 400, "{form:?}");
        assert_eq!(r.error()["source"], field, "{form:?}");
        assert_eq!(r.error()["status"], "400");
    }
    let r = app
        .call(
            Method::POST,
            "/oauth/access_token",
            None,
            Some(json!({"grant_type": "implicit", "client_id": app.client_id})),
        )
        .await;
    assert_eq!(r.status, 415);
    r.error();
}

async fn missing_or_malformed_authorization_is_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let expected = json!({"errors": [{"status": 401, "title": "Unable to validate access token"}]});
    let r = app.call(Method::GET, "/v2/application-keys", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, expected);
    for header in [
        "Basic abc",
        "Bearer",
        "Bearer ",
        "Bearer not-a-token",
        "bearer a.b.c",
        "Token x",
    ] {
        let res = app
            .http
            .get(format!("{}/v2/application-keys", app.url))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{header}");
        assert_eq!(
            res.json::<serde_json::Value>().await.unwrap(),
            expected,
            "{header}"
        );
    }
}

async fn tampered_and_foreign_tokens_are_refused(backend: Backend) {
    use base64::Engine;
    let app = TestApp::spawn(backend).await;
    let implicit = app.implicit_token().await;
    // Rewrite the claims to client_credentials, keeping the signature.
    let parts: Vec<&str> = implicit.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = String::from_utf8(b64.decode(parts[1]).unwrap())
        .unwrap()
        .replace("\"implicit\"", "\"client_credentials\"");
    let forged = format!("{}.{}.{}", parts[0], b64.encode(claims), parts[2]);
    let r = app.get("/v2/application-keys", &forged).await;
    assert_eq!(r.status, 401);

    // A token from another kassa store (another signing key) means nothing here.
    let other = TestApp::spawn(backend).await;
    let foreign = other.admin_token().await;
    assert_eq!(app.get("/v2/application-keys", &foreign).await.status, 401);
    assert_eq!(other.get("/v2/application-keys", &foreign).await.status, 200);
}

async fn expired_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            // Expiry has whole-second resolution, so a token of TTL n lives between n − 1 and n
            // seconds: 3 leaves the first call at least 2 s on a loaded machine.
            access_token_ttl: Duration::from_secs(3),
            ..Options::default()
        },
    )
    .await;
    let token = app.admin_token().await;
    assert_eq!(app.get("/v2/application-keys", &token).await.status, 200);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = app.get("/v2/application-keys", &token).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error()["title"], "Unable to validate access token");
}

async fn deleted_key_gets_no_tokens_and_its_tokens_die(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/v2/application-keys",
            &admin,
            json!({"data": {"type": "application_key", "name": "ci"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let client_id = r.body["data"]["client_id"].as_str().unwrap().to_owned();
    let secret = r.body["data"]["client_secret"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let r = app.token_request(&form).await;
    assert_eq!(r.status, 200);
    let its_token = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/v2/application-keys", &its_token).await.status, 200);

    let r = app.delete(&format!("/v2/application-keys/{id}"), &admin).await;
    assert_eq!(r.status, 204);
    assert_eq!(app.token_request(&form).await.status, 401);
    let implicit = [("grant_type", "implicit"), ("client_id", client_id.as_str())];
    assert_eq!(app.token_request(&implicit).await.status, 401);
    assert_eq!(
        app.get("/v2/application-keys", &its_token).await.status,
        401,
        "outstanding tokens die with the key"
    );
    assert_eq!(
        app.get("/v2/application-keys", &admin).await.status,
        200,
        "other keys unaffected"
    );
    let r = app.delete(&format!("/v2/application-keys/{id}"), &admin).await;
    assert_eq!(r.status, 404);
    r.error();
}

async fn configured_admin_credentials_are_idempotent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let database = kassa::config::Database::parse(&app.db.url).unwrap();
    let store = kassa::prepare_store(&database).await.unwrap();
    kassa::ensure_admin_key(&*store, &app.client_id, &app.client_secret)
        .await
        .unwrap();
    kassa::ensure_admin_key(&*store, &app.client_id, &app.client_secret)
        .await
        .unwrap();
    let keys = store.application_keys(Default::default()).await.unwrap();
    assert_eq!(keys.total, 1, "restarts with the same credentials create nothing");

    kassa::ensure_admin_key(&*store, &app.client_id, "a-new-secret")
        .await
        .unwrap();
    let old = [
        ("grant_type", "client_credentials"),
        ("client_id", app.client_id.as_str()),
        ("client_secret", app.client_secret.as_str()),
    ];
    assert_eq!(app.token_request(&old).await.status, 401);
    let new = [
        ("grant_type", "client_credentials"),
        ("client_id", app.client_id.as_str()),
        ("client_secret", "a-new-secret"),
    ];
    assert_eq!(app.token_request(&new).await.status, 200);
    assert_eq!(store.application_keys(Default::default()).await.unwrap().total, 1);
}
