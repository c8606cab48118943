//! `GET /metrics`: the server's numbers in Prometheus's text exposition format (0.0.4), from the
//! `prometheus` crate with a registry of this server's own (no process-wide globals, so two
//! servers in one process — the test suite — count apart).
//!
//! Recorded as requests run: requests by method, route and status, latency by method and route,
//! requests in flight (all by the `observe` middleware, on the matched route, never the raw
//! path), orders placed, payments by kind and result, login attempts by kind and result (by the
//! handlers). Read when scraped: the storage backend's own numbers through
//! [`Store::stats`](kassa_core::store::Store::stats) — the SQLite writer's batch sizes, batch
//! times and WAL flush times, or the PostgreSQL pool's connections — which the stores keep in
//! plain atomics, so they depend on no metrics library.
//!
//! `--metrics-token` makes the endpoint ask for `Authorization: Bearer <token>`.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kassa_core::stats::{HistogramSnapshot, StoreStats};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::error::ApiError;

/// Latency buckets, seconds: most requests take well under a millisecond on this server.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Which credential a login attempt presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// `POST /oauth/access_token` with `grant_type=client_credentials` (a client secret).
    ClientCredentials,
    /// `POST /v2/account-members/tokens` with a password.
    AccountMember,
    /// `POST /v2/customers/tokens` with a password.
    Customer,
}

impl Login {
    const ALL: [Login; 3] = [Login::ClientCredentials, Login::AccountMember, Login::Customer];

    fn label(self) -> &'static str {
        match self {
            Login::ClientCredentials => "client_credentials",
            Login::AccountMember => "account_member_password",
            Login::Customer => "customer_password",
        }
    }
}

/// What was asked of the payment gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payment {
    Purchase,
    Authorize,
    Capture,
    Refund,
}

impl Payment {
    const ALL: [Payment; 4] = [
        Payment::Purchase,
        Payment::Authorize,
        Payment::Capture,
        Payment::Refund,
    ];

    fn label(self) -> &'static str {
        match self {
            Payment::Purchase => "purchase",
            Payment::Authorize => "authorize",
            Payment::Capture => "capture",
            Payment::Refund => "refund",
        }
    }
}

/// How a payment request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentResult {
    /// The transaction was recorded.
    Succeeded,
    /// Refused by a rule (gateway disabled, amount over the balance, nothing to capture…): 4xx.
    Refused,
    /// kassa failed (5xx).
    Failed,
}

impl PaymentResult {
    const ALL: [PaymentResult; 3] = [
        PaymentResult::Succeeded,
        PaymentResult::Refused,
        PaymentResult::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            PaymentResult::Succeeded => "succeeded",
            PaymentResult::Refused => "refused",
            PaymentResult::Failed => "failed",
        }
    }

    /// The result of a handler's outcome.
    pub fn of<T>(outcome: &Result<T, ApiError>) -> Self {
        match outcome {
            Ok(_) => PaymentResult::Succeeded,
            Err(e) if e.status.is_server_error() => PaymentResult::Failed,
            Err(_) => PaymentResult::Refused,
        }
    }
}

/// The series recorded while serving.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    orders_placed: IntCounter,
    payments: IntCounterVec,
    logins: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let requests = IntCounterVec::new(
            Opts::new(
                "kassa_http_requests_total",
                "HTTP requests answered, by method, matched route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "kassa_http_request_duration_seconds",
                "Time from a request's arrival at the router to its response, by method and matched route",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )
        .expect("valid metric");
        let in_flight = IntGauge::new("kassa_http_requests_in_flight", "Requests being handled now")
            .expect("valid metric");
        let orders_placed = IntCounter::new(
            "kassa_orders_placed_total",
            "Orders created by a checkout (an idempotent replay is not counted again)",
        )
        .expect("valid metric");
        let payments = IntCounterVec::new(
            Opts::new(
                "kassa_payments_total",
                "Payment requests (purchase, authorize, capture, refund) by result: succeeded, refused (4xx) or failed (5xx)",
            ),
            &["kind", "result"],
        )
        .expect("valid metric");
        let logins = IntCounterVec::new(
            Opts::new(
                "kassa_login_attempts_total",
                "Credential checks (client secret, account member or customer password) by result",
            ),
            &["kind", "result"],
        )
        .expect("valid metric");
        // Every known series exists from the start, at 0, so a rate over it is defined.
        for kind in Payment::ALL {
            for result in PaymentResult::ALL {
                payments.with_label_values(&[kind.label(), result.label()]);
            }
        }
        for kind in Login::ALL {
            for result in ["success", "failure"] {
                logins.with_label_values(&[kind.label(), result]);
            }
        }
        let build = IntGauge::with_opts(
            Opts::new("kassa_build_info", "Always 1; the labels name the running build")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .expect("valid metric");
        build.set(1);

        let registry = Registry::new();
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(in_flight.clone()),
            Box::new(orders_placed.clone()),
            Box::new(payments.clone()),
            Box::new(logins.clone()),
            Box::new(build),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
        Self {
            registry,
            requests,
            latency,
            in_flight,
            orders_placed,
            payments,
            logins,
        }
    }

    /// Counts a request in flight until the guard is dropped (also when the client goes away and
    /// the request's future is dropped).
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    pub(crate) fn request(&self, method: &Method, route: &str, status: StatusCode, elapsed: Duration) {
        let method = method_label(method);
        self.requests
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    pub fn order_placed(&self) {
        self.orders_placed.inc();
    }

    pub fn payment(&self, kind: Payment, result: PaymentResult) {
        self.payments
            .with_label_values(&[kind.label(), result.label()])
            .inc();
    }

    pub fn login(&self, kind: Login, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.logins.with_label_values(&[kind.label(), result]).inc();
    }

    /// Every series, the store's included, in the text format.
    pub fn render(&self, store: &StoreStats) -> String {
        let mut families = self.registry.gather();
        families.extend(store_families(store));
        families.sort_by(|a, b| a.name().cmp(b.name()));
        TextEncoder::new()
            .encode_to_string(&families)
            .expect("the text encoder writes to a String")
    }
}

pub(crate) struct InFlight<'a>(&'a IntGauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A bounded label: a client choosing the method must not create series at will.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The store's numbers as metric families (whatever its backend reports).
fn store_families(stats: &StoreStats) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    if let Some(w) = &stats.sqlite_writer {
        out.push(histogram_family(
            "kassa_sqlite_write_batch_size",
            "Use-cases committed together in one transaction by the SQLite writer thread",
            &w.batch_size,
        ));
        out.push(histogram_family(
            "kassa_sqlite_write_batch_seconds",
            "The SQLite writer's time per batch, from BEGIN to COMMIT",
            &w.batch_seconds,
        ));
        out.push(histogram_family(
            "kassa_sqlite_wal_sync_seconds",
            "Time of each flush (fdatasync) of the SQLite WAL, which makes the batches committed before it durable",
            &w.wal_sync_seconds,
        ));
    }
    if let Some(pool) = &stats.postgres_pool {
        let in_use = pool.open.saturating_sub(pool.idle);
        for (name, help, value) in [
            (
                "kassa_postgres_pool_max_connections",
                "The most connections the PostgreSQL pool opens",
                pool.max,
            ),
            (
                "kassa_postgres_pool_connections",
                "PostgreSQL connections open now (idle or in use)",
                pool.open,
            ),
            (
                "kassa_postgres_pool_connections_in_use",
                "PostgreSQL connections running a statement or transaction now",
                in_use,
            ),
            (
                "kassa_postgres_pool_connections_idle",
                "PostgreSQL connections open and idle now",
                pool.idle,
            ),
        ] {
            out.push(gauge_family(name, help, f64::from(value)));
        }
    }
    out
}

fn family(name: &str, help: &str, kind: MetricType, metric: proto::Metric) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(kind);
    family.set_metric(vec![metric]);
    family
}

fn gauge_family(name: &str, help: &str, value: f64) -> MetricFamily {
    let mut gauge = proto::Gauge::default();
    gauge.set_value(value);
    family(name, help, MetricType::GAUGE, proto::Metric::from_gauge(gauge))
}

fn histogram_family(name: &str, help: &str, snapshot: &HistogramSnapshot) -> MetricFamily {
    let mut cumulative = 0;
    let buckets = snapshot
        .bounds
        .iter()
        .zip(&snapshot.counts)
        .map(|(&bound, &count)| {
            cumulative += count;
            let mut bucket = proto::Bucket::default();
            bucket.set_upper_bound(bound);
            bucket.set_cumulative_count(cumulative);
            bucket
        })
        .collect();
    let mut histogram = proto::Histogram::default();
    histogram.set_bucket(buckets);
    histogram.set_sample_count(snapshot.count());
    histogram.set_sample_sum(snapshot.sum);
    let mut metric = proto::Metric::default();
    metric.set_histogram(histogram);
    family(name, help, MetricType::HISTOGRAM, metric)
}

/// The `GET /metrics` response: the text, or 401 when a token is configured and not presented.
pub(crate) fn respond(
    metrics: &Metrics,
    token: Option<&str>,
    headers: &HeaderMap,
    store: &StoreStats,
) -> Response {
    if let Some(expected) = token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !same_bytes(presented.as_bytes(), expected.as_bytes()) {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "GET /metrics needs the metrics token: Authorization: Bearer <token>",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        metrics.render(store),
    )
        .into_response()
}

/// Equal bytes, in a time that does not depend on where they first differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use kassa_core::stats::{Histogram, PoolStats, SqliteWriterStats};

    use super::*;

    fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn requests_are_counted_by_route_and_status_and_timed_by_route() {
        let m = Metrics::new();
        let route = "/v2/carts/{id}";
        m.request(&Method::GET, route, StatusCode::OK, Duration::from_micros(700));
        m.request(&Method::GET, route, StatusCode::OK, Duration::from_millis(30));
        m.request(
            &Method::GET,
            route,
            StatusCode::NOT_FOUND,
            Duration::from_micros(100),
        );
        m.request(
            &Method::from_bytes(b"BREW").unwrap(),
            "(unmatched)",
            StatusCode::NOT_FOUND,
            Duration::ZERO,
        );
        let text = m.render(&StoreStats::default());
        let count = |labels: &str| sample(&text, &format!("kassa_http_requests_total{{{labels}}}"));
        assert_eq!(
            count(r#"method="GET",route="/v2/carts/{id}",status="200""#),
            Some("2")
        );
        assert_eq!(
            count(r#"method="GET",route="/v2/carts/{id}",status="404""#),
            Some("1")
        );
        assert_eq!(
            count(r#"method="other",route="(unmatched)",status="404""#),
            Some("1")
        );
        let bucket = |le: &str| {
            sample(
                &text,
                &format!(
                    r#"kassa_http_request_duration_seconds_bucket{{method="GET",route="/v2/carts/{{id}}",le="{le}"}}"#
                ),
            )
        };
        assert_eq!(bucket("0.00025"), Some("1"));
        assert_eq!(bucket("0.001"), Some("2"));
        assert_eq!(bucket("0.025"), Some("2"));
        assert_eq!(bucket("0.05"), Some("3"));
        assert_eq!(bucket("+Inf"), Some("3"));
        assert!(text.contains("# TYPE kassa_http_request_duration_seconds histogram"));
        assert_eq!(sample(&text, "kassa_http_requests_in_flight"), Some("0"));
    }

    #[test]
    fn in_flight_requests_are_counted_until_their_guard_drops() {
        let m = Metrics::new();
        let (a, b) = (m.in_flight(), m.in_flight());
        assert_eq!(
            sample(&m.render(&StoreStats::default()), "kassa_http_requests_in_flight"),
            Some("2")
        );
        drop((a, b));
        assert_eq!(
            sample(&m.render(&StoreStats::default()), "kassa_http_requests_in_flight"),
            Some("0")
        );
    }

    #[test]
    fn known_business_series_start_at_zero() {
        let m = Metrics::new();
        m.login(Login::AccountMember, false);
        m.payment(Payment::Purchase, PaymentResult::Succeeded);
        m.order_placed();
        let text = m.render(&StoreStats::default());
        for (series, value) in [
            (
                r#"kassa_login_attempts_total{kind="account_member_password",result="failure"}"#,
                "1",
            ),
            (
                r#"kassa_login_attempts_total{kind="customer_password",result="success"}"#,
                "0",
            ),
            (r#"kassa_payments_total{kind="purchase",result="succeeded"}"#, "1"),
            (r#"kassa_payments_total{kind="refund",result="refused"}"#, "0"),
            ("kassa_orders_placed_total", "1"),
            (r#"kassa_build_info{version=""#, ""),
        ] {
            let line = text.lines().find(|l| l.starts_with(series));
            assert!(
                line.is_some_and(|l| l.ends_with(&format!(" {value}")) || value.is_empty()),
                "{series} {value} in\n{text}"
            );
        }
    }

    #[test]
    fn store_numbers_are_rendered_as_histograms_and_gauges() {
        let sizes = Histogram::new(&[1.0, 8.0]);
        for n in [1.0, 3.0, 3.0, 100.0] {
            sizes.observe(n);
        }
        let seconds = Histogram::new(&[0.001]).snapshot();
        let stats = StoreStats {
            sqlite_writer: Some(SqliteWriterStats {
                batch_size: sizes.snapshot(),
                batch_seconds: seconds.clone(),
                wal_sync_seconds: seconds,
            }),
            postgres_pool: Some(PoolStats {
                max: 16,
                open: 5,
                idle: 2,
            }),
        };
        let text = Metrics::new().render(&stats);
        for (series, value) in [
            (r#"kassa_sqlite_write_batch_size_bucket{le="1"}"#, "1"),
            (r#"kassa_sqlite_write_batch_size_bucket{le="8"}"#, "3"),
            (r#"kassa_sqlite_write_batch_size_bucket{le="+Inf"}"#, "4"),
            ("kassa_sqlite_write_batch_size_sum", "107"),
            ("kassa_sqlite_write_batch_size_count", "4"),
            ("kassa_sqlite_wal_sync_seconds_count", "0"),
            ("kassa_postgres_pool_max_connections", "16"),
            ("kassa_postgres_pool_connections", "5"),
            ("kassa_postgres_pool_connections_in_use", "3"),
            ("kassa_postgres_pool_connections_idle", "2"),
        ] {
            assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
        }
        assert!(text.contains("# TYPE kassa_sqlite_write_batch_seconds histogram"));
        assert!(text.contains("# TYPE kassa_postgres_pool_connections gauge"));
    }

    #[test]
    fn the_token_comparison_needs_every_byte() {
        assert!(same_bytes(b"abc", b"abc"));
        assert!(!same_bytes(b"abc", b"abd"));
        assert!(!same_bytes(b"abc", b"abcd"));
        assert!(!same_bytes(b"", b"a"));
    }
}
