//! Browser clients: CORS preflights and headers for the configured origins, and a real page in
//! headless Chromium calling the API from an allowed origin and being blocked from another.

use kassa_api::cors::AllowedOrigins;
use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::browser::{Page, element_text, rendered_dom};
use crate::helpers::{Backend, Options, TestApp};

backend_tests!(
    preflights_and_headers_follow_the_allowed_origins,
    without_allowed_origins_nothing_is_shared,
    a_page_calls_the_api_from_an_allowed_origin_and_is_blocked_from_another,
);

const SHOP: &str = "http://shop.example.test:3000";

/// The headers Elastic Path's clients send, as a browser lists them in a preflight.
const CLIENT_HEADERS: &str = "authorization,content-type,ep-account-management-authentication-token,\
x-moltin-customer-token,x-moltin-currency,ep-channel,ep-context-tag,ep-inventories-multi-location,\
idempotency-key,x-moltin-sdk-language,x-moltin-sdk-version";

async fn spawn_allowing(backend: Backend, origins: &[&str]) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            cors: AllowedOrigins::parse(origins).unwrap(),
            ..Options::default()
        },
    )
    .await
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> reqwest::Response {
    app.http
        .request(Method::OPTIONS, format!("{}{path}", app.url))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", CLIENT_HEADERS)
        .send()
        .await
        .unwrap()
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn preflights_and_headers_follow_the_allowed_origins(backend: Backend) {
    let app = spawn_allowing(backend, &[SHOP, "http://localhost:5173"]).await;
    for (path, method) in [
        ("/oauth/access_token", "POST"),
        ("/v2/carts", "POST"),
        ("/v2/carts/abc/items/0190a8c4-7a3e-7c3a-9d0e-123456789abc", "PUT"),
        ("/v2/carts/abc/items", "DELETE"),
        ("/catalog/products", "GET"),
        ("/v2/orders/0190a8c4-7a3e-7c3a-9d0e-123456789abc/payments", "POST"),
        ("/no/such/route", "GET"),
    ] {
        let res = preflight(&app, path, SHOP, method).await;
        assert!(res.status().is_success(), "{path}: {}", res.status());
        assert_eq!(header(&res, "access-control-allow-origin"), Some(SHOP), "{path}");
        assert_eq!(
            header(&res, "access-control-allow-headers"),
            Some(CLIENT_HEADERS),
            "{path}"
        );
        let methods = header(&res, "access-control-allow-methods").unwrap_or_default();
        assert!(methods.contains(method), "{path}: {methods}");
        assert_eq!(header(&res, "access-control-max-age"), Some("3600"));
        assert!(header(&res, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("origin")));
    }
    // Another origin gets no permission; the browser then refuses to send the request.
    let res = preflight(&app, "/v2/carts", "http://evil.example.test", "POST").await;
    assert_eq!(header(&res, "access-control-allow-origin"), None);

    // Real requests carry the headers, errors included, and expose what a client reads.
    let token = app.implicit_token().await;
    for (path, bearer, status) in [
        ("/v2/carts/browser-cart", Some(token.as_str()), 200),
        ("/v2/carts/browser-cart", None, 401),
        ("/v2/nothing-here", Some(token.as_str()), 404),
    ] {
        let mut req = app
            .http
            .get(format!("{}{path}", app.url))
            .header("Origin", "http://localhost:5173");
        if let Some(bearer) = bearer {
            req = req.bearer_auth(bearer);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            Some("http://localhost:5173")
        );
        let exposed = header(&res, "access-control-expose-headers").unwrap_or_default();
        assert!(exposed.contains("x-request-id"), "{exposed}");
    }
    let res = app
        .http
        .get(format!("{}/v2/carts/browser-cart", app.url))
        .bearer_auth(&token)
        .header("Origin", "http://evil.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the server answers; the browser withholds it");
    assert_eq!(header(&res, "access-control-allow-origin"), None);

    // `*` allows any origin.
    let any = spawn_allowing(backend, &["*"]).await;
    let res = preflight(&any, "/v2/carts", "http://anything.example.test", "POST").await;
    assert_eq!(header(&res, "access-control-allow-origin"), Some("*"));
}

async fn without_allowed_origins_nothing_is_shared(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = preflight(&app, "/v2/carts", SHOP, "POST").await;
    assert_eq!(res.status(), 405);
    assert_eq!(header(&res, "access-control-allow-origin"), None);
    let r = app
        .call(
            Method::POST,
            "/v2/carts",
            Some(&app.implicit_token().await),
            Some(json!({"data": {"name": "x"}})),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(r.headers.get("access-control-allow-origin").is_none());
}

/// The page gets a shopper token and creates a cart with the headers a storefront sends; from an
/// origin kassa does not allow, the browser blocks the same calls.
fn storefront_page(kassa: &str, client_id: &str) -> String {
    format!(
        r#"<!doctype html><html><body><p id="out">pending</p><script>
(async () => {{
  const out = document.getElementById('out');
  try {{
    const auth = await fetch('{kassa}/oauth/access_token', {{
      method: 'POST',
      headers: {{'Content-Type': 'application/x-www-form-urlencoded'}},
      body: 'grant_type=implicit&client_id={client_id}',
    }});
    const {{access_token}} = await auth.json();
    const res = await fetch('{kassa}/v2/carts', {{
      method: 'POST',
      headers: {{
        'Authorization': 'Bearer ' + access_token,
        'Content-Type': 'application/json',
        'X-MOLTIN-CURRENCY': 'USD',
        'EP-Inventories-Multi-Location': 'true',
      }},
      body: JSON.stringify({{data: {{name: 'Browser cart'}}}}),
    }});
    const body = await res.json();
    const id = res.headers.get('x-request-id');
    out.textContent = `ok ${{res.status}} ${{body.data.name}} request-id:${{id ? 'yes' : 'no'}}`;
  }} catch (e) {{
    out.textContent = `blocked ${{e.name}}`;
  }}
}})();
</script></body></html>"#
    )
}

async fn a_page_calls_the_api_from_an_allowed_origin_and_is_blocked_from_another(backend: Backend) {
    // The page's origin is known only once it listens: serve it first, then allow it.
    let allowed = Page::serve(String::new()).await;
    let app = spawn_allowing(backend, &[&allowed.origin]).await;
    allowed.set(storefront_page(&app.url, &app.client_id));
    let dom = rendered_dom(&allowed.url()).await;
    assert_eq!(element_text(&dom, "out"), "ok 201 Browser cart request-id:yes");

    let other = Page::serve(storefront_page(&app.url, &app.client_id)).await;
    let dom = rendered_dom(&other.url()).await;
    assert_eq!(element_text(&dom, "out"), "blocked TypeError");
}
