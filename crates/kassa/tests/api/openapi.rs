//! The served OpenAPI document agrees with what the router really answers, and the API
//! reference at /docs is served from the binary.

use kassa_api::openapi::openapi_path;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(openapi_matches_the_router, docs_are_served_offline);

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// Every method on every registered path, asked of the running server: a method the router
/// answers must be documented, and a documented one must not be the router's 405 or 404. Path
/// parameters are an id that exists nowhere, so nothing is changed.
async fn openapi_matches_the_router(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin_token().await;
    let doc: Value = app
        .http
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v2/carts/{id}/checkout"]["post"].is_object());

    let unknown = "00000000-0000-4000-8000-000000000000";
    let mut problems = Vec::new();
    for registered in kassa_api::routes::all().paths() {
        let documented = &doc["paths"][openapi_path(&registered.path)];
        let concrete: String = registered
            .path
            .split('/')
            .map(|s| if s.starts_with('{') { unknown } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in METHODS {
            let res = app
                .http
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    format!("{}{concrete}", app.url),
                )
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            let title = body["errors"][0]["title"].as_str().unwrap_or_default();
            let detail = body["errors"][0]["detail"].as_str().unwrap_or_default();
            let not_routed = (status == StatusCode::METHOD_NOT_ALLOWED && title == "Method Not Allowed")
                || (status == StatusCode::NOT_FOUND && detail.starts_with("There is no endpoint"));
            let is_documented = documented[method.to_ascii_lowercase()].is_object();
            if !not_routed && !is_documented {
                problems.push(format!(
                    "{method} {} is served ({status}) but not documented: add it to kassa_api::openapi::operations()",
                    registered.path
                ));
            }
            if not_routed && is_documented {
                problems.push(format!(
                    "{method} {} is documented but the router answers {status}",
                    registered.path
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the OpenAPI document and the router disagree:\n{}",
        problems.join("\n")
    );
}

async fn docs_are_served_offline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let get = |path: &'static str| {
        let req = app.http.get(format!("{}{path}", app.url));
        async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
            (status, content_type, res.text().await.unwrap())
        }
    };
    let (status, content_type, html) = get("/docs").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    // Everything the page loads comes from this server: no CDN, no font service.
    assert!(html.contains("/docs/swagger-ui-bundle.js") && html.contains("/openapi.json"));
    for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(
            !html.contains(external),
            "/docs loads something from elsewhere: {external}"
        );
    }
    let (status, content_type, js) = get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/javascript"), "{content_type}");
    assert!(js.contains("SwaggerUIBundle"));
    let (status, content_type, css) = get("/docs/swagger-ui.css").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/css"), "{content_type}");
    assert!(css.contains(".swagger-ui"));
    let (status, content_type, json) = get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/json");
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        doc["paths"]["/v2/carts/{id}/checkout"]["post"]["summary"],
        "Checkout: turn a cart into an order"
    );
}
