//! The test harness: a real kassa server (the same start-up code as `kassa serve`) on a fresh
//! database of either backend, on a random port, driven over real HTTP.

use std::path::PathBuf;
use std::time::Duration;

use kassa::config::{Database, ServeConfig};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(backend: Backend)` once per backend, as `sqlite::name` and
/// `postgres::name`. A backend that cannot be reached fails its tests; nothing is skipped.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// The PostgreSQL server the suite uses; each test gets its own schema in it.
pub fn postgres_admin_url() -> String {
    std::env::var("KASSA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty database for one test, dropped again with the value.
pub struct TestDatabase {
    pub url: String,
    sqlite_dir: Option<PathBuf>,
    pg_schema: Option<String>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("kassa-test-{}", Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir).expect("create temp dir");
                let url = format!("sqlite://{}", dir.join("kassa.db").display());
                Self {
                    url,
                    sqlite_dir: Some(dir),
                    pg_schema: None,
                }
            }
            Backend::Postgres => {
                let schema = format!("kassa_test_{}", Uuid::new_v4().simple());
                let admin = postgres_admin_url();
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL is required for the postgres half of the suite ({admin}): {e}")
                    });
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut conn)
                    .await
                    .expect("create schema");
                let sep = if admin.contains('?') { '&' } else { '?' };
                let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
                Self {
                    url,
                    sqlite_dir: None,
                    pg_schema: Some(schema),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(schema) = self.pg_schema.take() {
            // Drop runs inside the test's runtime; use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut conn) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&postgres_admin_url()).await
                    {
                        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                            .execute(&mut conn)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Every row of every table of a database, each table's rows sorted: two dumps are equal exactly
/// when the stored data is, byte for byte (SQLite rows as `quote()` renders each column, which
/// keeps types and blobs exact; PostgreSQL rows as their record text).
pub type Dump = Vec<(String, Vec<String>)>;

impl TestDatabase {
    pub async fn dump(&self) -> Dump {
        match (&self.sqlite_dir, &self.pg_schema) {
            (Some(_), _) => {
                let path = self.url.strip_prefix("sqlite://").unwrap().to_owned();
                tokio::task::spawn_blocking(move || sqlite_dump(&path))
                    .await
                    .unwrap()
            }
            (None, Some(_)) => postgres_dump(&self.url).await,
            (None, None) => unreachable!("a test database is SQLite or PostgreSQL"),
        }
    }
}

fn sqlite_dump(path: &str) -> Dump {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the SQLite database read-only");
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|table| {
            let columns: Vec<String> = conn
                .prepare(&format!(
                    "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
                ))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let row = columns
                .iter()
                .map(|c| format!("quote(\"{c}\")"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let mut rows: Vec<String> = conn
                .prepare(&format!("SELECT {row} FROM \"{table}\""))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            rows.sort();
            (table, rows)
        })
        .collect()
}

async fn postgres_dump(url: &str) -> Dump {
    use sqlx::Row;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .expect("connect to the test schema");
    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut dump = Vec::new();
    for table in tables {
        let mut rows: Vec<String> =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT t::text FROM \"{table}\" t")))
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
        rows.sort();
        dump.push((table, rows));
    }
    dump
}

/// Asserts two dumps are equal, naming the first table that differs and how.
#[track_caller]
pub fn assert_same_dump(before: &Dump, after: &Dump, what: &str) {
    let tables = |d: &Dump| d.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
    assert_eq!(tables(before), tables(after), "{what}: the tables changed");
    for ((table, old), (_, new)) in before.iter().zip(after) {
        if old != new {
            let gone: Vec<&String> = old.iter().filter(|r| !new.contains(r)).collect();
            let came: Vec<&String> = new.iter().filter(|r| !old.contains(r)).collect();
            panic!("{what}: table {table} changed\n  rows gone: {gone:#?}\n  rows new: {came:#?}");
        }
    }
}

/// A running server and a client for it.
pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    pub client_id: String,
    pub client_secret: String,
    pub db: TestDatabase,
    /// The delivery policy it was started with (a second node gets the same).
    pub delivery: kassa_core::integrations::RetryPolicy,
    stop: Option<oneshot::Sender<()>>,
}

pub struct Options {
    pub access_token_ttl: Duration,
    pub customer_token_ttl: Duration,
    pub max_file_bytes: usize,
    pub cors: kassa_api::cors::AllowedOrigins,
    /// TLS and connection limits.
    pub net: kassa::listen::NetConfig,
    pub metrics_token: Option<String>,
    /// How integration events are delivered (tests shorten the delays).
    pub delivery: kassa_core::integrations::RetryPolicy,
    /// `/_kassa/` and the request journal: on, as `kassa serve` has them with SQLite.
    pub emulator: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(3600),
            customer_token_ttl: Duration::from_secs(24 * 3600),
            max_file_bytes: kassa_core::file::DEFAULT_MAX_FILE_BYTES,
            cors: kassa_api::cors::AllowedOrigins::None,
            net: kassa::listen::NetConfig::default(),
            metrics_token: None,
            delivery: kassa_core::integrations::RetryPolicy::default(),
            emulator: true,
        }
    }
}

/// Another server on a running app's database (a second node), stopped when dropped.
pub struct Node {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a server with `config`; its URL and the handle that stops it.
async fn start(config: &ServeConfig) -> (String, oneshot::Sender<()>) {
    let state = kassa::prepare(config).await.expect("server prepares");
    let listener = kassa::bind(config).await.expect("server binds");
    let url = listener.base_url();
    let (stop, stopped) = oneshot::channel();
    tokio::spawn(async move {
        kassa::serve(listener, state, async {
            let _ = stopped.await;
        })
        .await
        .expect("server runs");
    });
    (url, stop)
}

fn config(db: &TestDatabase, client_id: &str, client_secret: &str, options: &Options) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database: Database::parse(&db.url).unwrap(),
        public_url: None,
        access_token_ttl: options.access_token_ttl,
        customer_token_ttl: options.customer_token_ttl,
        max_file_bytes: options.max_file_bytes,
        admin_credentials: Some((client_id.to_owned(), client_secret.to_owned())),
        demo: false,
        cors: options.cors.clone(),
        net: options.net.clone(),
        shutdown_drain: kassa::drain::DEFAULT_DRAIN,
        metrics_token: options.metrics_token.clone(),
        delivery: options.delivery,
        emulator: options.emulator,
        // Ids are process-wide: the suite's servers share a process, so none is seeded here
        // (the process tests seed theirs).
        seed: None,
        fixture: None,
    }
}

/// A JSON response: status and parsed body (`Null` when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    /// A second handle on the app's database, for setting up what the API cannot (or not
    /// quickly) and for racing the store directly.
    pub async fn store(&self) -> std::sync::Arc<dyn kassa_core::store::Store> {
        kassa::prepare_store(&Database::parse(&self.db.url).unwrap())
            .await
            .unwrap()
    }

    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, Options::default()).await
    }

    pub async fn spawn_with(backend: Backend, mut options: Options) -> Self {
        // `KASSA_TEST_HTTPS=1` runs every test that leaves the connection settings alone over
        // HTTPS with the development CA, HTTP/2 where the client offers it (ALPN): a check that
        // the whole API behaves the same there. Tests that speak raw HTTP/1 or load pages in a
        // browser do not expect it.
        if std::env::var_os("KASSA_TEST_HTTPS").is_some()
            && options.net == kassa::listen::NetConfig::default()
        {
            options.net.tls = Some(kassa::listen::TlsSetting::SelfSigned {
                dir: std::env::temp_dir().join(format!("kassa-test-https-{}", Uuid::new_v4().simple())),
                names: Vec::new(),
            });
        }
        let db = TestDatabase::create(backend).await;
        let client_id = format!("test-admin-{}", Uuid::new_v4().simple());
        let client_secret = format!("secret-{}", Uuid::new_v4().simple());
        let (url, stop) = start(&config(&db, &client_id, &client_secret, &options)).await;
        // Over HTTPS with the development CA, the client trusts that CA.
        let http = match &options.net.tls {
            Some(kassa::listen::TlsSetting::SelfSigned { dir, .. }) => {
                let ca = std::fs::read(dir.join("ca.pem")).expect("the development CA");
                reqwest::Client::builder()
                    .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
                    .build()
                    .unwrap()
            }
            _ => reqwest::Client::new(),
        };
        Self {
            url,
            http,
            client_id,
            client_secret,
            db,
            delivery: options.delivery,
            stop: Some(stop),
        }
    }

    /// A second server on this app's database, with the same admin credentials: on PostgreSQL
    /// another node of one cluster.
    pub async fn second_node(&self) -> Node {
        let (url, stop) = start(&config(
            &self.db,
            &self.client_id,
            &self.client_secret,
            &Options {
                delivery: self.delivery,
                ..Options::default()
            },
        ))
        .await;
        Node {
            url,
            stop: Some(stop),
        }
    }

    pub async fn token_request(&self, form: &[(&str, &str)]) -> Resp {
        let res = self
            .http
            .post(format!("{}/oauth/access_token", self.url))
            .form(form)
            .send()
            .await
            .unwrap();
        Resp::read(res).await
    }

    pub async fn admin_token(&self) -> String {
        let r = self
            .token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
            ])
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn implicit_token(&self) -> String {
        let r = self
            .token_request(&[("grant_type", "implicit"), ("client_id", &self.client_id)])
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    /// A request with an optional Bearer token and an optional JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.url, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Resp::read(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Resp {
    pub async fn read(res: reqwest::Response) -> Self {
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{status}: body is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Self {
            status,
            headers,
            body,
        }
    }

    /// The one error object of an error envelope, checked for the envelope's shape.
    pub fn error(&self) -> &Value {
        let errors = self.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors array: {}", self.body));
        assert!(!errors.is_empty(), "empty errors array");
        for e in errors {
            assert!(e["title"].is_string(), "error without title: {e}");
            let status = e["status"]
                .as_u64()
                .or_else(|| e["status"].as_str().and_then(|s| s.parse().ok()));
            assert_eq!(
                status,
                Some(u64::from(self.status.as_u16())),
                "error status matches HTTP status: {e}"
            );
        }
        assert_eq!(
            self.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "errors are JSON"
        );
        &errors[0]
    }
}

pub const AM: &str = "EP-Account-Management-Authentication-Token";
pub const CT: &str = "X-Moltin-Customer-Token";

/// A request with a Bearer token, extra headers and an optional JSON body, sent.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = app
        .http
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(bearer);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    if let Some(body) = body {
        r = r.json(&body);
    }
    r.send().await.unwrap()
}

/// A request with a Bearer token, extra headers and an optional JSON body.
pub async fn req(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Resp {
    Resp::read(send(app, method, path, bearer, headers, body).await).await
}

/// The status, `Content-Type` and exact body of a call with a Bearer token, extra headers and an
/// optional JSON body.
pub async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, String, String) {
    let res = send(app, method, path, bearer, headers, body).await;
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    (res.status().as_u16(), content_type, res.text().await.unwrap())
}
