//! What a member may do with their own account token beyond reading: rename their account, and
//! (while `account_member_self_management` is `update_only`) update their own user and password
//! records; and `membership_limit`, which bounds how many accounts one member joins.

use crate::backend_tests;
use crate::fixtures::{Realm, account, join, login, realm, user};
use crate::helpers::{AM, Backend, Resp, TestApp, req};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    members_rename_their_own_account_only,
    self_management_follows_the_setting,
    membership_limit_is_settable_and_enforced,
    membership_limit_holds_under_parallel_joins,
);

/// The member's account token for `account` (their first, when they have one).
async fn token_for(app: &TestApp, realm: &Realm, email: &str, password: &str) -> String {
    let r = login(app, realm, email, password).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"][0]["token"].as_str().unwrap().to_owned()
}

async fn as_member(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> Resp {
    let implicit = app.implicit_token().await;
    req(app, method, path, &implicit, &[(AM, token)], body).await
}

async fn members_rename_their_own_account_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let realm = realm(&app, &admin).await;
    let ron = user(&app, &admin, &realm, "ron@swanson.com", "lagavulin16").await;
    let mine = account(&app, &admin, "Pawnee Parks").await;
    let theirs = account(&app, &admin, "Eagleton").await;
    assert_eq!(join(&app, &admin, &mine, &ron).await.status, 201);
    let token = token_for(&app, &realm, "ron@swanson.com", "lagavulin16").await;
    let path = format!("/v2/accounts/{mine}");
    let r = app
        .put(
            &path,
            &admin,
            json!({"data": {"type": "account", "registration_id": "IN-001", "external_ref": "erp-1"}}),
        )
        .await;
    assert_eq!(r.status, 200);

    // What the storefront's account page sends.
    let r = as_member(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"data": {"type": "account", "name": "Parks and Recreation", "legal_name": "Parks and Recreation"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["name"], "Parks and Recreation");
    assert_eq!(r.body["data"]["registration_id"], "IN-001", "untouched");
    let r = as_member(&app, Method::GET, &path, &token, None).await;
    assert_eq!(r.body["data"]["legal_name"], "Parks and Recreation");
    let before = app.get(&path, &admin).await.body;

    // Refused, and nothing changes: admin-only fields, parent_id, bad input.
    for (body, status, source) in [
        (
            json!({"data": {"type": "account", "name": "x", "registration_id": "IN-002"}}),
            403,
            "data.registration_id",
        ),
        (
            json!({"data": {"type": "account", "external_ref": null}}),
            403,
            "data.external_ref",
        ),
        (
            json!({"data": {"type": "account", "parent_id": theirs}}),
            400,
            "data.parent_id",
        ),
        (json!({"data": {"type": "account", "name": ""}}), 400, "data.name"),
        (json!({"data": {"name": "x"}}), 400, "data.type"),
    ] {
        let r = as_member(&app, Method::PUT, &path, &token, Some(body.clone())).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(r.error()["source"], source, "{body}");
        assert_eq!(r.error()["status"], status.to_string(), "{body}");
        assert_eq!(app.get(&path, &admin).await.body, before, "{body}");
    }

    // Another account, or an unknown one, is 404 and unchanged.
    let theirs_before = app.get(&format!("/v2/accounts/{theirs}"), &admin).await.body;
    for other in [theirs.clone(), uuid::Uuid::now_v7().to_string()] {
        let r = as_member(
            &app,
            Method::PUT,
            &format!("/v2/accounts/{other}"),
            &token,
            Some(json!({"data": {"type": "account", "name": "Mine now"}})),
        )
        .await;
        assert_eq!(r.status, 404, "{other}");
        assert_eq!(r.error()["detail"], "account not found");
    }
    assert_eq!(
        app.get(&format!("/v2/accounts/{theirs}"), &admin).await.body,
        theirs_before
    );
    // An implicit token alone may not write.
    let implicit = app.implicit_token().await;
    let r = app
        .put(
            &path,
            &implicit,
            json!({"data": {"type": "account", "name": "x"}}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.get(&path, &admin).await.body, before);
}

async fn self_management_follows_the_setting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let realm = realm(&app, &admin).await;
    let ron = user(&app, &admin, &realm, "ron@swanson.com", "lagavulin16").await;
    let leslie = user(&app, &admin, &realm, "leslie@knope.com", "waffles4ever").await;
    let acc = account(&app, &admin, "Pawnee Parks").await;
    assert_eq!(join(&app, &admin, &acc, &ron).await.status, 201);
    assert_eq!(join(&app, &admin, &acc, &leslie).await.status, 201);
    let token = token_for(&app, &realm, "ron@swanson.com", "lagavulin16").await;
    let users = format!("/v2/authentication-realms/{}/user-authentication-info", realm.id);
    let me = format!("{users}/{ron}");
    let passwords = format!("{me}/user-authentication-password-profile-info");
    let credential = app.get(&passwords, &admin).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let my_password = format!("{passwords}/{credential}");
    let rename = json!({"data": {"type": "user_authentication_info", "name": "Ron Ulysses Swanson"}});
    let new_password = json!({"data": {"type": "user_authentication_password_profile_info", "password": "scotch-and-steak"}});

    // Disabled (the default): 403 for everything, even the member's own records.
    let r = app.get("/v2/settings/account-authentication", &admin).await;
    assert_eq!(r.body["data"]["account_member_self_management"], "disabled");
    let own_calls = || {
        [
            (Method::GET, me.clone(), None),
            (Method::PUT, me.clone(), Some(rename.clone())),
            (Method::GET, passwords.clone(), None),
            (Method::GET, my_password.clone(), None),
            (Method::PUT, my_password.clone(), Some(new_password.clone())),
        ]
    };
    for (method, path, body) in own_calls() {
        let r = as_member(&app, method.clone(), &path, &token, body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert_eq!(r.error()["status"], "403");
    }
    assert_eq!(app.get(&me, &admin).await.body["data"]["name"], "Ron Swanson");

    let settings = |mode: &str| json!({"data": {"type": "account_authentication_settings", "account_member_self_management": mode}});
    let r = app
        .put(
            "/v2/settings/account-authentication",
            &admin,
            settings("update_only"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["account_member_self_management"], "update_only");

    // update_only: the member reads and updates their own records.
    let r = as_member(&app, Method::GET, &me, &token, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["email"], "ron@swanson.com");
    let r = as_member(
        &app,
        Method::PUT,
        &me,
        &token,
        Some(json!({"data": {"type": "user_authentication_info", "name": "Ron Ulysses Swanson", "email": "ron@pawnee.gov"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["name"], "Ron Ulysses Swanson");
    let r = as_member(
        &app,
        Method::GET,
        &format!("/v2/account-members/{ron}"),
        &token,
        None,
    )
    .await;
    assert_eq!(
        r.body["data"]["email"], "ron@pawnee.gov",
        "one record with the member"
    );
    let r = as_member(&app, Method::GET, &passwords, &token, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"][0]["id"], credential.as_str());
    let r = as_member(
        &app,
        Method::PUT,
        &my_password,
        &token,
        Some(new_password.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["data"].get("password").is_none());
    assert_eq!(
        login(&app, &realm, "ron@swanson.com", "lagavulin16").await.status,
        401
    );
    assert_eq!(
        login(&app, &realm, "ron@swanson.com", "scotch-and-steak")
            .await
            .status,
        201
    );
    // A new username: email-shaped in an email profile, like on create.
    let username =
        |u: &str| json!({"data": {"type": "user_authentication_password_profile_info", "username": u}});
    let r = as_member(&app, Method::PUT, &my_password, &token, Some(username("ron"))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.username");
    let r = as_member(
        &app,
        Method::PUT,
        &my_password,
        &token,
        Some(json!({"data": {"type": "user_authentication_password_profile_info", "password": "short"}})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.password");
    let r = as_member(
        &app,
        Method::PUT,
        &me,
        &token,
        Some(json!({"data": {"type": "user_authentication_info", "email": "not-an-email"}})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.email");
    let r = as_member(
        &app,
        Method::PUT,
        &my_password,
        &token,
        Some(username("ron@pawnee.gov")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        login(&app, &realm, "ron@pawnee.gov", "scotch-and-steak")
            .await
            .status,
        201
    );

    // Never another member's records: 404, as for an unknown id; nothing changes.
    let hers = format!("{users}/{leslie}");
    let her_passwords = format!("{hers}/user-authentication-password-profile-info");
    let her_credential = app.get(&her_passwords, &admin).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let her_before = app.get(&hers, &admin).await.body;
    for (method, path, body) in [
        (Method::GET, hers.clone(), None),
        (Method::PUT, hers.clone(), Some(rename.clone())),
        (Method::GET, her_passwords.clone(), None),
        (
            Method::PUT,
            format!("{her_passwords}/{her_credential}"),
            Some(new_password.clone()),
        ),
        (
            Method::PUT,
            format!("{users}/{}", uuid::Uuid::now_v7()),
            Some(rename.clone()),
        ),
    ] {
        let r = as_member(&app, method.clone(), &path, &token, body).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        assert_eq!(r.error()["status"], "404");
    }
    assert_eq!(app.get(&hers, &admin).await.body, her_before);
    assert_eq!(
        login(&app, &realm, "leslie@knope.com", "waffles4ever")
            .await
            .status,
        201
    );
    // Creating and deleting records stays the admin's; so do the settings.
    for (method, path, body) in [
        (Method::POST, users.clone(), Some(rename.clone())),
        (Method::DELETE, me.clone(), None),
        (Method::POST, passwords.clone(), Some(new_password.clone())),
        (Method::DELETE, my_password.clone(), None),
        (
            Method::PUT,
            "/v2/settings/account-authentication".to_owned(),
            Some(settings("disabled")),
        ),
    ] {
        let r = as_member(&app, method.clone(), &path, &token, body).await;
        assert_eq!(r.status, 403, "{method} {path}");
    }
    // An implicit token alone: 403.
    let implicit = app.implicit_token().await;
    assert_eq!(app.get(&me, &implicit).await.status, 403);

    // Disabled again: refused again.
    app.put(
        "/v2/settings/account-authentication",
        &admin,
        settings("disabled"),
    )
    .await;
    let r = as_member(&app, Method::PUT, &me, &token, Some(rename)).await;
    assert_eq!(r.status, 403);
    let r = app
        .put(
            "/v2/settings/account-authentication",
            &admin,
            settings("update_all"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.account_member_self_management");
}

fn limit_body(limit: Value) -> Value {
    json!({"data": {"type": "account_membership_setting", "membership_limit": limit}})
}

async fn membership_limit_is_settable_and_enforced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let implicit = app.implicit_token().await;
    let path = "/v2/settings/account-membership";
    let r = app.get(path, &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"data": {"type": "account_membership_setting", "membership_limit": 10000}})
    );
    for bad in [json!(0), json!(-5), json!(10001), json!(1.5), json!("2")] {
        let r = app.put(path, &admin, limit_body(bad.clone())).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.error()["source"], "data.membership_limit", "{bad}");
        assert_eq!(r.error()["status"], "400");
    }
    let r = app
        .put(path, &admin, json!({"data": {"membership_limit": 5}}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["source"], "data.type");
    assert_eq!(
        app.get(path, &admin).await.body["data"]["membership_limit"],
        10000
    );
    for ok in [10000, 1, 2] {
        let r = app.put(path, &admin, limit_body(json!(ok))).await;
        assert_eq!(r.status, 200, "{ok}: {}", r.body);
        assert_eq!(r.body["data"]["membership_limit"], ok);
    }
    assert_eq!(app.get(path, &implicit).await.status, 403);
    assert_eq!(app.put(path, &implicit, limit_body(json!(5))).await.status, 403);

    let realm = realm(&app, &admin).await;
    let ron = user(&app, &admin, &realm, "ron@swanson.com", "lagavulin16").await;
    let leslie = user(&app, &admin, &realm, "leslie@knope.com", "waffles4ever").await;
    let accounts = [
        account(&app, &admin, "A").await,
        account(&app, &admin, "B").await,
        account(&app, &admin, "C").await,
    ];
    assert_eq!(join(&app, &admin, &accounts[0], &ron).await.status, 201);
    assert_eq!(join(&app, &admin, &accounts[1], &ron).await.status, 201);
    let r = join(&app, &admin, &accounts[2], &ron).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error()["title"], "Membership limit reached");
    assert_eq!(r.error()["status"], "400");
    let r = app
        .get(&format!("/v2/account-members/{ron}/account-memberships"), &admin)
        .await;
    assert_eq!(r.body["meta"]["results"]["total"], 2, "nothing was added");
    // The limit is per member: another member still joins.
    assert_eq!(join(&app, &admin, &accounts[2], &leslie).await.status, 201);

    // Lowering it keeps existing memberships and takes no new ones until the member is below it.
    assert_eq!(app.put(path, &admin, limit_body(json!(1))).await.status, 200);
    let r = app
        .get(&format!("/v2/account-members/{ron}/account-memberships"), &admin)
        .await;
    assert_eq!(r.body["meta"]["results"]["total"], 2);
    let membership = r.body["data"][0]["id"].as_str().unwrap().to_owned();
    let from = r.body["data"][0]["relationships"]["account"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(join(&app, &admin, &accounts[2], &ron).await.status, 400);
    assert_eq!(
        app.delete(
            &format!("/v2/accounts/{from}/account-memberships/{membership}"),
            &admin
        )
        .await
        .status,
        204
    );
    assert_eq!(
        join(&app, &admin, &accounts[2], &ron).await.status,
        400,
        "still at 1"
    );
    assert_eq!(app.put(path, &admin, limit_body(json!(2))).await.status, 200);
    assert_eq!(join(&app, &admin, &accounts[2], &ron).await.status, 201);
}

async fn membership_limit_holds_under_parallel_joins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let r = app
        .put("/v2/settings/account-membership", &admin, limit_body(json!(3)))
        .await;
    assert_eq!(r.status, 200);
    let realm = realm(&app, &admin).await;
    let ron = user(&app, &admin, &realm, "ron@swanson.com", "lagavulin16").await;
    let mut accounts = Vec::new();
    for n in 0..10 {
        accounts.push(account(&app, &admin, &format!("Account {n}")).await);
    }
    let joins = accounts.iter().map(|acc| {
        let (url, http, admin, ron) = (app.url.clone(), app.http.clone(), admin.clone(), ron.clone());
        let acc = acc.clone();
        tokio::spawn(async move {
            let res = http
                .post(format!("{url}/v2/accounts/{acc}/account-memberships"))
                .bearer_auth(admin)
                .json(&json!({"data": {"type": "account_membership", "account_member_id": ron}}))
                .send()
                .await
                .unwrap();
            Resp::read(res).await
        })
    });
    let mut joined = 0;
    for r in futures_util::future::join_all(joins).await {
        let r = r.unwrap();
        match r.status.as_u16() {
            201 => joined += 1,
            400 => assert_eq!(r.error()["title"], "Membership limit reached"),
            other => panic!("{other}: {}", r.body),
        }
    }
    assert_eq!(joined, 3);
    let r = app
        .get(&format!("/v2/account-members/{ron}/account-memberships"), &admin)
        .await;
    assert_eq!(r.body["meta"]["results"]["total"], 3);
    // The member's logins give exactly those three accounts.
    let r = login(&app, &realm, "ron@swanson.com", "lagavulin16").await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 3);
}
