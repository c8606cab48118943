//! `/v2/application-keys`.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(creates_lists_and_pages_keys, validates_new_keys);

async fn creates_lists_and_pages_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let mut created = Vec::new();
    for n in 0..4 {
        let r = app
            .post(
                "/v2/application-keys",
                &admin,
                json!({"data": {"type": "application_key", "name": format!("key {n}")}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let d = &r.body["data"];
        assert_eq!(d["type"], "application_key");
        assert_eq!(d["name"], format!("key {n}"));
        assert_eq!(d["reserved_rate_limit"], 0);
        assert_eq!(d["client_secret"].as_str().unwrap().len(), 40);
        assert!(
            d["meta"]["timestamps"]["created_at"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
        assert!(
            d["links"]["self"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/v2/application-keys/{}", d["id"].as_str().unwrap()))
        );
        created.push(d["id"].as_str().unwrap().to_owned());
    }

    // 5 keys in all (the configured admin key first), 2 per page.
    let r = app
        .get("/v2/application-keys?page[limit]=2&page[offset]=2", &admin)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["meta"]["page"],
        json!({"limit": 2, "offset": 2, "current": 2, "total": 3})
    );
    assert_eq!(r.body["meta"]["results"]["total"], 5);
    let ids: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [created[1].as_str(), created[2].as_str()], "oldest first");
    assert!(
        r.body["data"][0].get("client_secret").is_none(),
        "the secret is shown only at creation"
    );
    let links = &r.body["links"];
    assert!(
        links["next"]
            .as_str()
            .unwrap()
            .ends_with("/v2/application-keys?page[offset]=4&page[limit]=2")
    );
    assert!(
        links["prev"]
            .as_str()
            .unwrap()
            .ends_with("page[offset]=0&page[limit]=2")
    );
    assert!(
        links["last"]
            .as_str()
            .unwrap()
            .ends_with("page[offset]=4&page[limit]=2")
    );

    // The percent-encoded form the generated clients send means the same.
    let r = app
        .get(
            "/v2/application-keys?page%5Blimit%5D=2&page%5Boffset%5D=4",
            &admin,
        )
        .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert!(r.body["links"]["next"].is_null());

    // Default page: everything (25 per page), one page.
    let r = app.get("/v2/application-keys", &admin).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 5);
    assert_eq!(
        r.body["meta"]["page"],
        json!({"limit": 25, "offset": 0, "current": 1, "total": 1})
    );
    assert!(r.body["links"]["last"].is_null());
}

async fn validates_new_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let cases = [
        (json!({"data": {"type": "application_key"}}), "data.name"),
        (
            json!({"data": {"type": "application_key", "name": ""}}),
            "data.name",
        ),
        (
            json!({"data": {"type": "application_key", "name": "x".repeat(256)}}),
            "data.name",
        ),
        (json!({"data": {"name": "no type"}}), "data.type"),
        (
            json!({"data": {"type": "account", "name": "wrong type"}}),
            "data.type",
        ),
        (
            json!({"data": {"type": "application_key", "name": 7}}),
            "data.name",
        ),
        (
            json!({"data": {"type": "application_key", "name": "x", "reserved_rate_limit": -1}}),
            "data.reserved_rate_limit",
        ),
        (json!({"data": []}), "data"),
        (json!({}), "request"),
    ];
    for (body, source) in cases {
        let r = app.post("/v2/application-keys", &admin, body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.error()["source"], source, "{body} gave {}", r.body);
    }
    let r = app.get("/v2/application-keys", &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 1, "nothing was created");
}
