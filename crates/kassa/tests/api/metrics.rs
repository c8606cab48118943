//! `GET /metrics` (Prometheus text format), its optional token, and `GET /` sending a browser to
//! the API reference.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::backend_tests;
use crate::fixtures::{add_custom, enable_manual, pay, payment};
use crate::helpers::{Backend, Options, TestApp};

backend_tests!(
    requests_are_counted_by_route_and_status,
    orders_payments_and_logins_are_counted,
    the_store_reports_its_own_numbers,
    a_metrics_token_is_required_when_configured,
    the_root_redirects_to_the_api_reference,
);

/// Every sample of a scrape, `name{labels}` → value, after checking that the text is well
/// formed: each sample belongs to a family announced by `# HELP` and `# TYPE`, and histogram
/// buckets never decrease.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.push(rest.split(' ').next().unwrap().to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(typed.contains_key(family), "{name} has no # TYPE");
        assert!(helped.iter().any(|h| h == family), "{name} has no # HELP");
        samples.insert(series.to_owned(), value);
    }
    // Cumulative buckets: each at least the one before, `+Inf` last and equal to `_count`.
    let mut histograms: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (series, value) in &samples {
        let Some((head, le)) = series.split_once("le=\"") else {
            continue;
        };
        let le = le.trim_end_matches("\"}");
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap()
        };
        let (family, labels) = head.split_once('{').unwrap();
        let family = family.strip_suffix("_bucket").unwrap();
        let labels = labels.trim_end_matches(',');
        let count = if labels.is_empty() {
            format!("{family}_count")
        } else {
            format!("{family}_count{{{labels}}}")
        };
        histograms.entry(count).or_default().push((le, *value));
    }
    for (count, mut buckets) in histograms {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{count}: {buckets:?}"
        );
        let (le, last) = *buckets.last().unwrap();
        assert_eq!(le, f64::INFINITY, "{count}");
        assert_eq!(Some(&last), samples.get(&count), "{count}");
    }
    samples
}

async fn scrape(app: &TestApp) -> BTreeMap<String, f64> {
    let res = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    parse(&res.text().await.unwrap())
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
}

async fn requests_are_counted_by_route_and_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let before = scrape(&app).await;
    for _ in 0..3 {
        assert_eq!(app.get("/v2/application-keys", &admin).await.status, 200);
    }
    let missing = Uuid::new_v4();
    assert_eq!(
        app.get(&format!("/v2/orders/{missing}"), &admin).await.status,
        404
    );
    assert_eq!(app.get("/no/such/route", &admin).await.status, 404);
    let after = scrape(&app).await;

    let delta = |series: &str| value(&after, series) - before.get(series).copied().unwrap_or(0.0);
    assert_eq!(
        delta(r#"kassa_http_requests_total{method="GET",route="/v2/application-keys",status="200"}"#),
        3.0
    );
    // The route, never the id in the path.
    assert_eq!(
        delta(r#"kassa_http_requests_total{method="GET",route="/v2/orders/{id}",status="404"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"kassa_http_requests_total{method="GET",route="(unmatched)",status="404"}"#),
        1.0
    );
    assert!(!after.keys().any(|k| k.contains(&missing.to_string())));
    assert_eq!(
        delta(r#"kassa_http_request_duration_seconds_count{method="GET",route="/v2/application-keys"}"#),
        3.0
    );
    assert_eq!(
        delta(
            r#"kassa_http_request_duration_seconds_bucket{method="GET",route="/v2/application-keys",le="+Inf"}"#
        ),
        3.0
    );
    assert!(
        value(
            &after,
            r#"kassa_http_request_duration_seconds_sum{method="GET",route="/v2/application-keys"}"#
        ) > 0.0
    );
    // The scrape itself is in flight while it renders.
    assert_eq!(value(&after, "kassa_http_requests_in_flight"), 1.0);
    assert_eq!(
        delta(r#"kassa_http_requests_total{method="GET",route="/metrics",status="200"}"#),
        1.0
    );
}

async fn orders_payments_and_logins_are_counted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    enable_manual(&app, &admin).await;
    let before = scrape(&app).await;

    let order = app.guest_order(&admin, 1000).await;
    assert_eq!(
        pay(&app, &admin, &[], &order, payment("purchase", None))
            .await
            .status,
        200
    );
    // Paying a paid order is refused.
    assert_eq!(
        pay(&app, &admin, &[], &order, payment("purchase", None))
            .await
            .status,
        400
    );
    let order = app.guest_order(&admin, 500).await;
    let r = pay(&app, &admin, &[], &order, payment("authorize", None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A malformed payment is a bad request, not a payment attempt.
    assert_eq!(
        pay(&app, &admin, &[], &order, json!({"data": {"gateway": "manual"}}))
            .await
            .status,
        400
    );
    // A checkout that fails places nothing.
    let cart = format!("empty-{}", Uuid::new_v4().simple());
    add_custom(&app, &admin, &cart, "X", 1, 100).await;
    let r = app
        .post(&format!("/v2/carts/{cart}/checkout"), &admin, json!({"data": {}}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    let wrong = app
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", "wrong"),
        ])
        .await;
    assert_eq!(wrong.status, 401);
    let r = app
        .call(
            reqwest::Method::POST,
            "/v2/customers/tokens",
            Some(&admin),
            Some(json!({"data": {"type": "token", "email": "nobody@example.com", "password": "wrong-password"}})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);

    let after = scrape(&app).await;
    let delta = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(delta("kassa_orders_placed_total"), 2.0);
    assert_eq!(
        delta(r#"kassa_payments_total{kind="purchase",result="succeeded"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"kassa_payments_total{kind="purchase",result="refused"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"kassa_payments_total{kind="authorize",result="succeeded"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"kassa_payments_total{kind="authorize",result="refused"}"#),
        0.0
    );
    // The two admin token requests of this test (`spawn` made none) and the wrong secret.
    assert_eq!(
        delta(r#"kassa_login_attempts_total{kind="client_credentials",result="failure"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"kassa_login_attempts_total{kind="customer_password",result="failure"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"kassa_login_attempts_total{kind="customer_password",result="success"}"#),
        0.0
    );
    assert!(
        value(
            &after,
            r#"kassa_login_attempts_total{kind="client_credentials",result="success"}"#
        ) >= 1.0
    );
}

async fn the_store_reports_its_own_numbers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let before = scrape(&app).await;
    add_custom(&app, &admin, "metrics-cart", "X", 1, 100).await;
    let after = scrape(&app).await;
    match backend {
        Backend::Sqlite => {
            let batches = |s: &BTreeMap<String, f64>| value(s, "kassa_sqlite_write_batch_size_count");
            assert!(batches(&after) > batches(&before), "the add was one more batch");
            assert!(value(&after, "kassa_sqlite_write_batch_size_sum") >= batches(&after));
            assert_eq!(
                value(&after, "kassa_sqlite_write_batch_seconds_count"),
                batches(&after)
            );
            assert!(value(&after, "kassa_sqlite_wal_sync_seconds_count") >= 1.0);
            assert!(!after.keys().any(|k| k.starts_with("kassa_postgres")));
        }
        Backend::Postgres => {
            assert_eq!(value(&after, "kassa_postgres_pool_max_connections"), 16.0);
            let open = value(&after, "kassa_postgres_pool_connections");
            assert!((1.0..=16.0).contains(&open), "{open}");
            assert_eq!(
                value(&after, "kassa_postgres_pool_connections_in_use")
                    + value(&after, "kassa_postgres_pool_connections_idle"),
                open
            );
            assert!(!after.keys().any(|k| k.starts_with("kassa_sqlite")));
        }
    }
}

async fn a_metrics_token_is_required_when_configured(backend: Backend) {
    let token = "metrics-secret-0123456789";
    let app = TestApp::spawn_with(
        backend,
        Options {
            metrics_token: Some(token.into()),
            ..Options::default()
        },
    )
    .await;
    let url = format!("{}/metrics", app.url);
    let admin = app.admin_token().await;
    for bearer in [
        None,
        Some("wrong"),
        Some(admin.as_str()),
        Some("metrics-secret-012345678"),
    ] {
        let mut req = app.http.get(&url);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bearer:?}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["errors"][0]["status"], 401);
        assert_eq!(body["errors"][0]["title"], "Unauthorized");
    }
    let res = app.http.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let samples = parse(&res.text().await.unwrap());
    // Refused scrapes are counted like any request.
    assert_eq!(
        value(
            &samples,
            r#"kassa_http_requests_total{method="GET",route="/metrics",status="401"}"#
        ),
        4.0
    );
}

async fn the_root_redirects_to_the_api_reference(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(res.headers()["location"], "/docs");
    // A browser follows it to the page.
    let res = app.http.get(&app.url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.url().path(), "/docs");
    assert!(res.text().await.unwrap().contains("swagger-ui"));
}
