//! Account Management: the admin set-up, password login and self-signup, and what an account
//! token lets a shopper see.

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::{account, join, login, realm, user};
use crate::helpers::{Backend, Resp, TestApp};

backend_tests!(
    admin_setup_and_password_login,
    member_of_two_accounts_sees_each_account_only_with_its_token,
    wrong_password_and_unknown_user_are_the_same_401,
    self_signup_follows_the_settings_and_is_all_or_nothing,
    bad_account_tokens_are_refused,
    accounts_crud_filters_and_validation,
    memberships_and_members,
);

/// A request as a shopper: implicit Bearer plus the account token.
async fn as_shopper(app: &TestApp, path: &str, account_token: &str) -> Resp {
    let implicit = app.implicit_token().await;
    let res = app
        .http
        .get(format!("{}{path}", app.url))
        .bearer_auth(implicit)
        .header("EP-Account-Management-Authentication-Token", account_token)
        .send()
        .await
        .unwrap();
    Resp::read(res).await
}

async fn admin_setup_and_password_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let realm = realm(&app, &admin).await;
    let member = user(&app, &admin, &realm, "ron@swanson.com", "lagavulin16").await;
    let acc = account(&app, &admin, "Pawnee Parks").await;
    let r = join(&app, &admin, &acc, &member).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["data"]["type"], "account_membership");
    assert_eq!(
        r.body["data"]["relationships"]["account_member"]["data"]["id"],
        member.as_str()
    );

    // Usernames ignore case.
    let r = login(&app, &realm, "Ron@Swanson.com", "lagavulin16").await;
    assert_eq!(r.status, 201, "{}", r.body);
    let tokens = r.body["data"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["type"], "account_management_authentication_token");
    assert_eq!(tokens[0]["account_id"], acc.as_str());
    assert_eq!(tokens[0]["account_name"], "Pawnee Parks");
    assert!(tokens[0]["expires"].as_str().unwrap().ends_with('Z'));
    assert_eq!(r.body["meta"]["account_member_id"], member.as_str());
    assert_eq!(r.body["meta"]["results"]["total"], 1);
    assert!(r.body["links"]["first"].is_string());

    // A member without accounts logs in and gets no tokens.
    user(&app, &admin, &realm, "april@ludgate.com", "janetsnakehole").await;
    let r = login(&app, &realm, "april@ludgate.com", "janetsnakehole").await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["data"], json!([]));
}

async fn member_of_two_accounts_sees_each_account_only_with_its_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let realm = realm(&app, &admin).await;
    let ron = user(&app, &admin, &realm, "ron@swanson.com", "lagavulin16").await;
    let leslie = user(&app, &admin, &realm, "leslie@knope.com", "waffles4ever").await;
    let (a, b, c) = (
        account(&app, &admin, "A").await,
        account(&app, &admin, "B").await,
        account(&app, &admin, "C").await,
    );
    for acc in [&a, &b] {
        assert_eq!(join(&app, &admin, acc, &ron).await.status, 201);
    }
    assert_eq!(join(&app, &admin, &c, &leslie).await.status, 201);

    let r = login(&app, &realm, "ron@swanson.com", "lagavulin16").await;
    let tokens: Vec<(String, String)> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["account_id"].as_str().unwrap().to_owned(),
                t["token"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(tokens.len(), 2);
    for (mine, token) in &tokens {
        let r = as_shopper(&app, "/v2/accounts", token).await;
        assert_eq!(r.status, 200);
        let ids: Vec<&str> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [mine.as_str()], "the listing holds only the token's account");
        assert_eq!(
            as_shopper(&app, &format!("/v2/accounts/{mine}"), token)
                .await
                .status,
            200
        );
        assert_eq!(
            as_shopper(&app, &format!("/v2/accounts/{mine}/account-memberships"), token)
                .await
                .status,
            200
        );
        for other in [&a, &b, &c].into_iter().filter(|x| *x != mine) {
            let r = as_shopper(&app, &format!("/v2/accounts/{other}"), token).await;
            assert_eq!(
                r.status, 404,
                "no other account, not even another of the member's own"
            );
            assert_eq!(r.error()["status"], "404");
            assert_eq!(
                as_shopper(&app, &format!("/v2/accounts/{other}/account-memberships"), token)
                    .await
                    .status,
                404
            );
        }
        assert_eq!(
            as_shopper(&app, &format!("/v2/account-members/{ron}"), token)
                .await
                .status,
            200
        );
        assert_eq!(
            as_shopper(&app, &format!("/v2/account-members/{leslie}"), token)
                .await
                .status,
            404
        );
        let r = as_shopper(&app, "/v2/account-members", token).await;
        assert_eq!(r.body["meta"]["results"]["total"], 1);
    }
    // Implicit alone sees nothing here.
    let implicit = app.implicit_token().await;
    for path in [
        "/v2/accounts".to_owned(),
        format!("/v2/accounts/{a}"),
        "/v2/account-members".to_owned(),
    ] {
        let r = app.get(&path, &implicit).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.error()["status"], "403");
    }
    // Shoppers cannot write.
    let res = app
        .http
        .post(format!("{}/v2/accounts", app.url))
        .bearer_auth(&implicit)
        .header("EP-Account-Management-Authentication-Token", &tokens[0].1)
        .json(&json!({"data": {"type": "account", "name": "mine now"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

async fn wrong_password_and_unknown_user_are_the_same_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let realm = realm(&app, &admin).await;
    user(&app, &admin, &realm, "ron@swanson.com", "lagavulin16").await;
    let wrong = login(&app, &realm, "ron@swanson.com", "lagavulin17").await;
    let unknown = login(&app, &realm, "tammy@swanson.com", "lagavulin16").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.error()["status"], "401");
    let r = login(&app, &realm, "", "").await;
    assert_eq!(r.status, 401, "{}", r.body);
    let implicit = app.implicit_token().await;
    let r = app
        .post("/v2/account-members/tokens", &implicit, json!({"data": {"type": "account_management_authentication_token", "authentication_mechanism": "password"}}))
        .await;
    assert_eq!(r.status, 400);
    let sources: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["data.password_profile_id", "data.username", "data.password"]
    );
    let r = app
        .post("/v2/account-members/tokens", &implicit, json!({"data": {"type": "account_management_authentication_token", "authentication_mechanism": "oidc"}}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.authentication_mechanism");
}

async fn self_signup_follows_the_settings_and_is_all_or_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let realm = realm(&app, &admin).await;
    let implicit = app.implicit_token().await;
    let signup = |username: &str| {
        json!({"data": {"type": "account_management_authentication_token", "authentication_mechanism": "self_signup",
                        "password_profile_id": realm.profile, "username": username, "password": "tommytimes",
                        "name": "Tom Haverford", "email": "tom@entertainment720.com"}})
    };
    let r = app
        .post(
            "/v2/account-members/tokens",
            &implicit,
            signup("tom@entertainment720.com"),
        )
        .await;
    assert_eq!(r.status, 403, "off by default");

    let settings = |auto: bool| json!({"data": {"type": "account_authentication_settings", "enable_self_signup": true, "auto_create_account_for_account_members": auto}});
    let r = app
        .call(
            Method::PUT,
            "/v2/settings/account-authentication",
            Some(&admin),
            Some(settings(true)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["enable_self_signup"], true);

    let r = app
        .post(
            "/v2/account-members/tokens",
            &implicit,
            signup("tom@entertainment720.com"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["account_name"], "Tom Haverford");
    let member = r.body["meta"]["account_member_id"].as_str().unwrap().to_owned();
    let r = app.get(&format!("/v2/account-members/{member}"), &admin).await;
    assert_eq!(r.body["data"]["email"], "tom@entertainment720.com");
    // And the new password works for a normal login.
    assert_eq!(
        login(&app, &realm, "tom@entertainment720.com", "tommytimes")
            .await
            .status,
        201
    );

    // A taken username fails with 409 and leaves nothing behind.
    let before = counts(&app, &admin).await;
    let r = app
        .post(
            "/v2/account-members/tokens",
            &implicit,
            signup("TOM@entertainment720.com"),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(counts(&app, &admin).await, before);
    // Invalid input also writes nothing.
    let mut bad = signup("not-an-email");
    bad["data"]["password"] = json!("short");
    let r = app.post("/v2/account-members/tokens", &implicit, bad).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.password");
    assert_eq!(counts(&app, &admin).await, before);

    // Without automatic accounts the new member has no tokens yet.
    app.call(
        Method::PUT,
        "/v2/settings/account-authentication",
        Some(&admin),
        Some(settings(false)),
    )
    .await;
    let r = app
        .post(
            "/v2/account-members/tokens",
            &implicit,
            signup("donna@meagle.com"),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["data"], json!([]));
}

/// How many members and accounts the store holds.
async fn counts(app: &TestApp, admin: &str) -> (Value, Value) {
    let members = app.get("/v2/account-members", admin).await.body["meta"]["results"]["total"].clone();
    let accounts = app.get("/v2/accounts", admin).await.body["meta"]["results"]["total"].clone();
    (members, accounts)
}

async fn bad_account_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let realm = realm(&app, &admin).await;
    let member = user(&app, &admin, &realm, "ron@swanson.com", "lagavulin16").await;
    let acc = account(&app, &admin, "A").await;
    join(&app, &admin, &acc, &member).await;
    let token = login(&app, &realm, "ron@swanson.com", "lagavulin16").await.body["data"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Expired: signed with the store's real key, with a past expiry.
    let store = kassa::prepare_store(&kassa::config::Database::parse(&app.db.url).unwrap())
        .await
        .unwrap();
    let ring = kassa_core::token::KeyRing::new(store.signing_keys().await.unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&base64_decode(token.split('.').nth(1).unwrap())).unwrap();
    let mut expired: kassa_core::token::AccountClaims = serde_json::from_value(claims).unwrap();
    expired.exp = expired.iat - 1;
    let expired = ring.sign(&expired);

    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    let access_as_account = app.admin_token().await;
    let two_different = format!("{token}, {expired}");
    for bad in [
        expired.as_str(),
        tampered.as_str(),
        "garbage",
        access_as_account.as_str(),
        two_different.as_str(),
    ] {
        let r = as_shopper(&app, "/v2/accounts", bad).await;
        assert_eq!(r.status, 401, "{bad}");
        r.error();
    }
    // An empty header is no token at all (the classic client sends one): implicit alone → 403.
    assert_eq!(as_shopper(&app, "/v2/accounts", "").await.status, 403);
    assert_eq!(as_shopper(&app, "/v2/accounts", &token).await.status, 200);
    // The same token twice, as `fetch` joins the classic client's config header and its
    // `AddAccountAssociation` header, is that token.
    let twice = format!("{token}, {token}");
    assert_eq!(as_shopper(&app, "/v2/accounts", &twice).await.status, 200);
    // Both shopper tokens at once is a 400.
    let res = app
        .http
        .get(format!("{}/v2/accounts", app.url))
        .bearer_auth(app.implicit_token().await)
        .header("EP-Account-Management-Authentication-Token", &token)
        .header("X-Moltin-Customer-Token", "x.y.z")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

fn base64_decode(part: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap()
}

async fn accounts_crud_filters_and_validation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let r = app
        .post("/v2/accounts", &admin, json!({"data": {"type": "account", "name": "Pawnee", "legal_name": "City of Pawnee", "registration_id": "IN-001", "external_ref": "ext-1"}}))
        .await;
    assert_eq!(r.status, 201);
    let d = &r.body["data"];
    assert_eq!(
        (
            d["type"].as_str(),
            d["name"].as_str(),
            d["registration_id"].as_str()
        ),
        (Some("account"), Some("Pawnee"), Some("IN-001"))
    );
    assert!(d["meta"]["timestamps"]["created_at"].is_string());
    assert!(
        r.body["links"]["self"]
            .as_str()
            .unwrap()
            .contains("/v2/accounts/")
    );
    let pawnee = d["id"].as_str().unwrap().to_owned();
    let child = app
        .post(
            "/v2/accounts",
            &admin,
            json!({"data": {"type": "account", "name": "Parks Dept", "parent_id": pawnee}}),
        )
        .await;
    assert_eq!(child.status, 201);
    assert_eq!(child.body["data"]["parent_id"], pawnee.as_str());
    account(&app, &admin, "Eagleton").await;

    let r = app
        .post(
            "/v2/accounts",
            &admin,
            json!({"data": {"type": "account", "name": "Dup", "registration_id": "IN-001"}}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error()["status"], "409");
    for (body, source) in [
        (json!({"data": {"type": "account"}}), "data.name"),
        (json!({"data": {"name": "x"}}), "data.type"),
        (
            json!({"data": {"type": "account", "name": "x", "external_ref": "e".repeat(2049)}}),
            "data.external_ref",
        ),
        (
            json!({"data": {"type": "account", "name": "x", "parent_id": "nope"}}),
            "data.parent_id",
        ),
        (
            json!({"data": {"type": "account", "name": "x", "parent_id": "00000000-0000-0000-0000-000000000001"}}),
            "data.parent_id",
        ),
        (json!({"data": {"type": "account", "name": ["x"]}}), "data.name"),
    ] {
        let r = app.post("/v2/accounts", &admin, body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.error()["source"], source, "{body}: {}", r.body);
    }

    let names = |r: &Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&app.get("/v2/accounts?filter=eq(name,Eagleton)", &admin).await),
        ["Eagleton"]
    );
    assert_eq!(
        names(&app.get("/v2/accounts?filter=like(name,Pa*)", &admin).await),
        ["Pawnee", "Parks Dept"]
    );
    assert_eq!(
        names(&app.get("/v2/accounts?filter=like(name,pa*)", &admin).await),
        Vec::<String>::new(),
        "like is case-sensitive"
    );
    assert_eq!(
        names(&app.get("/v2/accounts?filter=ilike(name,pa*)", &admin).await),
        ["Pawnee", "Parks Dept"]
    );
    assert_eq!(
        names(
            &app.get("/v2/accounts?filter=eq(registration_id,IN-001)", &admin)
                .await
        ),
        ["Pawnee"]
    );
    assert_eq!(
        names(
            &app.get("/v2/accounts?filter=in(name,Eagleton,Pawnee)&sort=-name", &admin)
                .await
        ),
        ["Pawnee", "Eagleton"]
    );
    assert_eq!(
        names(&app.get("/v2/accounts?sort=name&page[limit]=2", &admin).await),
        ["Eagleton", "Parks Dept"]
    );
    assert_eq!(
        app.get("/v2/accounts?filter=gt(created_at,2000-01-01)", &admin)
            .await
            .body["meta"]["results"]["total"],
        3
    );
    assert_eq!(
        app.get("/v2/accounts?filter=eq(password,x)", &admin).await.status,
        400
    );
    assert_eq!(app.get("/v2/accounts?sort=password", &admin).await.status, 400);

    let r = app
        .call(
            Method::PUT,
            &format!("/v2/accounts/{pawnee}"),
            Some(&admin),
            Some(json!({"data": {"type": "account", "name": "Pawnee City", "legal_name": null}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["name"], "Pawnee City");
    assert!(r.body["data"]["legal_name"].is_null());
    assert_eq!(
        r.body["data"]["registration_id"], "IN-001",
        "untouched fields stay"
    );
    let r = app
        .call(
            Method::PUT,
            &format!("/v2/accounts/{pawnee}"),
            Some(&admin),
            Some(json!({"data": {"type": "account", "parent_id": pawnee}})),
        )
        .await;
    assert_eq!(r.status, 400);

    let r = app.delete(&format!("/v2/accounts/{pawnee}"), &admin).await;
    assert_eq!(r.status, 409, "a parent with children is kept");
    let child_id = child.body["data"]["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/v2/accounts/{child_id}"), &admin)
            .await
            .status,
        204
    );
    assert_eq!(
        app.delete(&format!("/v2/accounts/{pawnee}"), &admin).await.status,
        204
    );
    let r = app.get(&format!("/v2/accounts/{pawnee}"), &admin).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body,
        json!({"errors": [{"status": "404", "title": "Not Found", "detail": "account not found"}]})
    );
    assert_eq!(app.get("/v2/accounts/not-a-uuid", &admin).await.status, 404);
}

async fn memberships_and_members(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let realm = realm(&app, &admin).await;
    let ron = user(&app, &admin, &realm, "ron@swanson.com", "lagavulin16").await;
    let april = user(&app, &admin, &realm, "april@ludgate.com", "janetsnakehole").await;
    let acc = account(&app, &admin, "Parks").await;
    let r = join(&app, &admin, &acc, &ron).await;
    let membership = r.body["data"]["id"].as_str().unwrap().to_owned();
    let r = join(&app, &admin, &acc, &ron).await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.error()["detail"],
        "account membership with the given account id and account member id already exists"
    );
    assert_eq!(
        join(&app, &admin, &acc, "00000000-0000-0000-0000-000000000001")
            .await
            .status,
        400
    );

    let r = app
        .get(
            &format!("/v2/accounts/{acc}/account-memberships?include=account_member"),
            &admin,
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["account_member_id"], ron.as_str());
    assert_eq!(
        r.body["included"]["account_members"][0]["email"],
        "ron@swanson.com"
    );
    let r = app
        .get(
            &format!("/v2/accounts/{acc}/account-memberships/unassigned-account-members"),
            &admin,
        )
        .await;
    let ids: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [april.as_str()]);
    let r = app
        .get(
            &format!("/v2/account-members/{ron}/account-memberships?include=account"),
            &admin,
        )
        .await;
    assert_eq!(r.body["data"][0]["account_id"], acc.as_str());
    assert_eq!(r.body["included"]["accounts"][0]["name"], "Parks");
    let r = app
        .get(
            &format!("/v2/accounts/{acc}/account-memberships/{membership}"),
            &admin,
        )
        .await;
    assert_eq!(r.status, 200);

    let r = app
        .get("/v2/account-members?filter=eq(email,april@ludgate.com)", &admin)
        .await;
    assert_eq!(r.body["meta"]["results"]["total"], 1);
    assert_eq!(r.body["data"][0]["type"], "account_member");
    assert_eq!(
        r.body["data"][0]["id"],
        april.as_str(),
        "the user-authentication-info and the member share an id"
    );
    let r = app
        .get("/v2/account-members?filter=ilike(name,*SWANSON)", &admin)
        .await;
    assert_eq!(r.body["meta"]["results"]["total"], 2);

    // Deleting the account removes its memberships; the member remains.
    assert_eq!(
        app.delete(&format!("/v2/accounts/{acc}"), &admin).await.status,
        204
    );
    let r = app
        .get(&format!("/v2/account-members/{ron}/account-memberships"), &admin)
        .await;
    assert_eq!(r.body["meta"]["results"]["total"], 0);
    assert_eq!(
        app.get(&format!("/v2/account-members/{ron}"), &admin)
            .await
            .status,
        200
    );
    assert_eq!(
        login(&app, &realm, "ron@swanson.com", "lagavulin16").await.body["data"],
        json!([])
    );
}
