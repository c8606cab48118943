//! What Elastic Path lets an implicit token read that a storefront needs before anyone logs in
//! (currencies, the account-authentication settings, a realm's OIDC profiles), the writes that
//! stay an admin's, and the settings' boundaries (no minimums Elastic Path does not have).

use std::time::Duration;

use crate::backend_tests;
use crate::fixtures::{account, join, login, realm, user};
use crate::helpers::{AM, Backend, TestApp, req};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    implicit_tokens_read_currencies_but_do_not_write_them,
    implicit_tokens_read_the_login_settings_and_oidc_profiles,
    settings_take_every_value_elastic_path_allows,
    a_seconds_long_account_token_expires,
);

async fn implicit_tokens_read_currencies_but_do_not_write_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let r = app
        .post(
            "/v2/currencies",
            &admin,
            json!({"data": {"type": "currency", "code": "EUR", "format": "€{price}", "enabled": false}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let eur = r.body["data"]["id"].as_str().unwrap().to_owned();

    // The storefront's currency list: the same as the admin's.
    let r = app.get("/v2/currencies", &implicit).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, app.get("/v2/currencies", &admin).await.body);
    let codes: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["USD", "EUR"]);
    let r = app.get(&format!("/v2/currencies/{eur}"), &implicit).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["code"], "EUR");
    assert_eq!(
        app.get(&format!("/v2/currencies/{}", uuid::Uuid::now_v7()), &implicit)
            .await
            .status,
        404
    );
    assert_eq!(app.get("/v2/currencies", "garbage").await.status, 401);

    // Writes stay the admin's, and change nothing.
    let before = app.get("/v2/currencies", &admin).await.body;
    let body = json!({"data": {"type": "currency", "code": "GBP", "format": "£{price}"}});
    for (method, path) in [
        (Method::POST, "/v2/currencies".to_owned()),
        (Method::PUT, format!("/v2/currencies/{eur}")),
        (Method::DELETE, format!("/v2/currencies/{eur}")),
    ] {
        let r = app
            .call(method.clone(), &path, Some(&implicit), Some(body.clone()))
            .await;
        assert_eq!(r.status, 403, "{method} {path}");
        r.error();
    }
    assert_eq!(app.get("/v2/currencies", &admin).await.body, before);
}

async fn implicit_tokens_read_the_login_settings_and_oidc_profiles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;

    let r = app.get("/v2/settings/account-authentication", &implicit).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        app.get("/v2/settings/account-authentication", &admin).await.body
    );
    assert_eq!(r.body["data"]["type"], "account_authentication_settings");
    let realm_id = r.body["data"]["relationships"]["authentication_realm"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .put(
            "/v2/settings/account-authentication",
            &implicit,
            json!({"data": {"type": "account_authentication_settings", "enable_self_signup": true}}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error()["status"], "403");
    assert_eq!(
        app.get("/v2/settings/account-authentication", &admin).await.body["data"]["enable_self_signup"],
        false
    );

    // OIDC profiles: none yet, listed like any collection; any id is 404.
    let profiles = format!("/v2/authentication-realms/{realm_id}/oidc-profiles");
    for token in [&implicit, &admin] {
        let r = app.get(&profiles, token).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["data"], json!([]));
        assert_eq!(r.body["meta"]["results"]["total"], 0);
        assert_eq!(r.body["meta"]["page"]["current"], 1);
        assert!(r.body["links"]["first"].is_string());
        let r = app
            .get(&format!("{profiles}/{}", uuid::Uuid::now_v7()), token)
            .await;
        assert_eq!(r.status, 404);
        assert_eq!(r.error()["status"], "404");
    }
    let r = app
        .get(
            &format!("/v2/authentication-realms/{}/oidc-profiles", uuid::Uuid::now_v7()),
            &implicit,
        )
        .await;
    assert_eq!(r.status, 404, "an unknown realm");
    assert_eq!(
        app.get("/v2/authentication-realms/nope/oidc-profiles", &implicit)
            .await
            .status,
        404
    );
    assert_eq!(app.get(&profiles, "garbage").await.status, 401);
    // Writes are the admin's: 403 for an implicit token; an admin learns OIDC is not there yet.
    let one = format!("{profiles}/{}", uuid::Uuid::now_v7());
    let body = json!({"data": {"type": "oidc-profile", "name": "Google"}});
    for (method, path, admin_status) in [
        (Method::POST, profiles.clone(), 400),
        (Method::PUT, one.clone(), 404),
        (Method::DELETE, one.clone(), 404),
    ] {
        let r = app
            .call(method.clone(), &path, Some(&implicit), Some(body.clone()))
            .await;
        assert_eq!(r.status, 403, "{method} {path}");
        let r = app
            .call(method.clone(), &path, Some(&admin), Some(body.clone()))
            .await;
        assert_eq!(r.status, admin_status, "{method} {path}");
        assert_eq!(r.error()["status"], admin_status.to_string());
    }
    assert_eq!(app.get(&profiles, &admin).await.body["data"], json!([]));
    // The realm itself, as before, is readable; its password profiles are not.
    assert_eq!(
        app.get(&format!("/v2/authentication-realms/{realm_id}"), &implicit)
            .await
            .status,
        200
    );
    assert_eq!(
        app.get(
            &format!("/v2/authentication-realms/{realm_id}/password-profiles"),
            &implicit
        )
        .await
        .status,
        403
    );
}

/// PUTs `field: value` to a settings endpoint and returns the status.
async fn set(app: &TestApp, admin: &str, path: &str, kind: &str, field: &str, value: Value) -> u16 {
    let r = app
        .put(path, admin, json!({"data": {"type": kind, field: value}}))
        .await;
    if r.status != 200 {
        assert_eq!(r.error()["source"], format!("data.{field}"), "{field}={value}");
    }
    r.status.as_u16()
}

/// A settings endpoint, its `data.type`, a field, and values with the status each gets.
type Boundaries<'a> = (&'a str, &'a str, &'a str, &'a [(Value, u16)]);

async fn settings_take_every_value_elastic_path_allows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    const YEAR: i64 = 365 * 86_400;
    let cases: &[Boundaries<'_>] = &[
        (
            "/v2/settings/account-authentication",
            "account_authentication_settings",
            "account_management_authentication_token_timeout_secs",
            &[
                (json!(1), 200),
                (json!(3), 200),
                (json!(59), 200),
                (json!(YEAR), 200),
                (json!(0), 400),
                (json!(-1), 400),
                (json!(YEAR + 1), 400),
                (json!(2.5), 400),
            ],
        ),
        (
            "/v2/settings",
            "settings",
            "page_length",
            &[
                (json!(1), 200),
                (json!(100), 200),
                (json!(0), 400),
                (json!(101), 400),
            ],
        ),
        (
            "/v2/settings",
            "settings",
            "shopper_address_limit",
            &[
                (json!(1), 200),
                (json!(500), 200),
                (json!(0), 400),
                (json!(501), 400),
            ],
        ),
        (
            "/v2/settings/cart",
            "settings",
            "cart_expiry_days",
            &[
                (json!(1), 200),
                (json!(365), 200),
                (json!(0), 400),
                (json!(366), 400),
            ],
        ),
        (
            "/v2/settings/account-membership",
            "account_membership_setting",
            "membership_limit",
            &[
                (json!(1), 200),
                (json!(10_000), 200),
                (json!(0), 400),
                (json!(10_001), 400),
            ],
        ),
    ];
    for (path, kind, field, values) in cases {
        for (value, status) in *values {
            let before = app.get(path, &admin).await.body;
            let got = set(&app, &admin, path, kind, field, value.clone()).await;
            assert_eq!(got, *status, "{path} {field}={value}");
            let after = app.get(path, &admin).await.body;
            if *status == 200 {
                assert_eq!(&after["data"][*field], value, "{path} {field}={value}");
            } else {
                assert_eq!(after, before, "a refused {field}={value} changes nothing");
            }
        }
    }
}

async fn a_seconds_long_account_token_expires(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let realm = realm(&app, &admin).await;
    let ron = user(&app, &admin, &realm, "ron@swanson.com", "lagavulin16").await;
    let acc = account(&app, &admin, "Pawnee Parks").await;
    assert_eq!(join(&app, &admin, &acc, &ron).await.status, 201);
    let r = app
        .put(
            "/v2/settings/account-authentication",
            &admin,
            json!({"data": {"type": "account_authentication_settings", "account_management_authentication_token_timeout_secs": 2}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let r = login(&app, &realm, "ron@swanson.com", "lagavulin16").await;
    assert_eq!(r.status, 201);
    let token = r.body["data"][0]["token"].as_str().unwrap().to_owned();
    let implicit = app.implicit_token().await;
    let path = format!("/v2/accounts/{acc}");
    let r = req(&app, Method::GET, &path, &implicit, &[(AM, &token)], None).await;
    assert_eq!(r.status, 200, "valid at first");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let r = req(&app, Method::GET, &path, &implicit, &[(AM, &token)], None).await;
    assert_eq!(r.status, 401, "expired after its two seconds");
}
