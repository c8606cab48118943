//! Parts that fail: a PostgreSQL server that goes away under load and comes back, and a SQLite
//! database that cannot be written. kassa answers 503 with an Elastic Path error body (never a
//! 500, never after more than a bounded wait), `/readyz` says not ready, and once the database is
//! back kassa serves again without a restart, having lost and duplicated no acknowledged order.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::fixtures::{add_custom, guest_body};
use crate::helpers::{Backend, Resp, TestApp};
use crate::server_process::{Server, assert_fails_with, free_port, implicit_token, kassa, token};

/// No request may take longer than this while the database is away: the pool waits 5 s for a
/// connection, a retried checkout up to 5 s for its in-flight twin.
const ANSWER_BOUND: Duration = Duration::from_secs(12);

/// A PostgreSQL server of its own (`initdb` + `pg_ctl` on a free port, from the machine's
/// PostgreSQL binaries), so a test can stop and start it; removed when dropped. As root (which
/// `initdb` refuses) its commands run as the `postgres` user through `runuser`.
pub(crate) struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl PrivatePostgres {
    pub(crate) fn start() -> Self {
        let bin = postgres_bin_dir();
        let dir = std::env::temp_dir().join(format!("kassa-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        if as_root {
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(
                owned.success(),
                "running as root, the private PostgreSQL runs as the `postgres` user, which must exist (chown failed)"
            );
        }
        let port = free_port();
        let pg = Self {
            bin,
            dir,
            port,
            as_root,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let conf = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nmax_connections = 60\n",
            pg.dir.display()
        );
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(pg.dir.join("data/postgresql.conf"))
            .unwrap();
        std::io::Write::write_all(&mut file, conf.as_bytes()).unwrap();
        pg.resume();
        pg
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs one of the PostgreSQL programs (as `postgres` when we are root); panics with its
    /// output if it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server and waits until it accepts connections.
    pub(crate) fn resume(&self) {
        let log = self.dir.join("postgres.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-l", &log, "-w", "-t", "60", "start"],
        );
    }

    /// Stops the server the way an operator restarting it does (`-m fast`: sessions are ended,
    /// in-flight transactions rolled back) and waits until it is down.
    pub(crate) fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "fast", "-w", "-t", "60", "stop"],
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let path = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_root {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&path)
                .args(args)
                .output()
        } else {
            Command::new(&path).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb` and `pg_ctl`.
fn postgres_bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).expect(
        "this test starts a PostgreSQL server of its own and needs the PostgreSQL server binaries \
         (initdb, pg_ctl) under /usr/lib/postgresql/<version>/bin (Debian: apt-get install postgresql)",
    )
}

/// What the load saw: every answer's status, anything that broke a rule, and each key's order.
#[derive(Default)]
struct Seen {
    statuses: HashMap<u16, usize>,
    violations: Vec<String>,
    /// Idempotency-Key → the order its 201 named (the same on every replay).
    orders: HashMap<String, String>,
    replays: usize,
}

/// One request of the load: the answer (or `None` for a connection that failed), checked
/// against the rules: an expected status, an EP error body on every error, a bounded wait.
async fn call(
    http: &reqwest::Client,
    request: reqwest::RequestBuilder,
    expected: &[u16],
    seen: &Mutex<Seen>,
    what: &str,
) -> Option<Resp> {
    let _ = http;
    let started = Instant::now();
    let result = request.send().await;
    let took = started.elapsed();
    {
        let mut guard = seen.lock().unwrap();
        if took > ANSWER_BOUND {
            guard.violations.push(format!("{what} took {took:?}"));
        }
        if let Err(e) = &result {
            guard.violations.push(format!("{what}: no answer: {e}"));
        }
    }
    let r = Resp::read(result.ok()?).await;
    let mut seen = seen.lock().unwrap();
    *seen.statuses.entry(r.status.as_u16()).or_default() += 1;
    if !expected.contains(&r.status.as_u16()) {
        seen.violations.push(format!("{what}: {} {}", r.status, r.body));
    } else if r.status.as_u16() >= 400 {
        let e = &r.body["errors"][0];
        if e["status"] != json!(r.status.as_u16()) || !e["title"].is_string() || !e["detail"].is_string() {
            seen.violations
                .push(format!("{what}: not an EP error body: {}", r.body));
        }
        if r.status == 503 && r.headers.get("retry-after").is_none() {
            seen.violations.push(format!("{what}: a 503 without Retry-After"));
        }
    }
    Some(r)
}

/// Shoppers in a loop, each filling a new cart and checking it out with an Idempotency-Key,
/// retrying (with the same key) until the checkout is acknowledged, whatever happens meanwhile.
fn start_load(
    server: &Server,
    shopper: &str,
    workers: usize,
    stop: &Arc<AtomicBool>,
    seen: &Arc<Mutex<Seen>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let address = json!({"first_name": "Ann", "last_name": "Perkins", "line_1": "1 Main St", "postcode": "46001",
                         "region": "IN", "country": "US"});
    let body = json!({"data": {"customer": {"name": "Ann Perkins", "email": "ann@perkins.com"},
                               "billing_address": address, "shipping_address": address}});
    (0..workers)
        .map(|w| {
            let (stop, seen, body) = (stop.clone(), seen.clone(), body.clone());
            let (base, shopper) = (server.url(""), shopper.to_owned());
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(ANSWER_BOUND * 2)
                    .build()
                    .unwrap();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let cart = format!("w{w}-{n}");
                    let item = json!({"data": {"type": "custom_item", "name": "Sign", "sku": "SIGN", "quantity": 1,
                                               "price": {"amount": 2500}}});
                    loop {
                        let req = http
                            .post(format!("{base}/v2/carts/{cart}/items"))
                            .bearer_auth(&shopper)
                            .json(&item);
                        match call(&http, req, &[201, 503], &seen, "add").await {
                            Some(r) if r.status == 201 => break,
                            _ => tokio::time::sleep(Duration::from_millis(100)).await,
                        }
                    }
                    let key = format!("order-{w}-{n}");
                    loop {
                        let req = http
                            .post(format!("{base}/v2/carts/{cart}/checkout"))
                            .bearer_auth(&shopper)
                            .header("Idempotency-Key", &key)
                            .json(&body);
                        // 409: the same key's earlier attempt is still claimed (its database
                        // went away mid-request); it is given up once the database is back.
                        match call(&http, req, &[201, 409, 503], &seen, "checkout").await {
                            Some(r) if r.status == 201 => {
                                let id = r.body["data"]["id"].as_str().unwrap().to_owned();
                                let mut seen = seen.lock().unwrap();
                                if r.headers.get("idempotent-replayed").is_some() {
                                    seen.replays += 1;
                                }
                                if let Some(first) = seen.orders.insert(key.clone(), id.clone())
                                    && first != id
                                {
                                    seen.violations.push(format!("{key}: two orders, {first} and {id}"));
                                }
                                break;
                            }
                            _ => tokio::time::sleep(Duration::from_millis(100)).await,
                        }
                    }
                }
            })
        })
        .collect()
}

/// PostgreSQL stopped under load for a few seconds, then started again: 503s (with EP bodies,
/// `Retry-After`, within a bounded time) while it is down, `/readyz` not ready, then service again
/// without a restart; every acknowledged order is there once, and retried keys never make a
/// second order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_under_load_is_503_then_service_resumes() {
    let pg = PrivatePostgres::start();
    let server = Server::start(
        &pg.url(),
        &[
            ("KASSA_CLIENT_ID", "admin"),
            ("KASSA_CLIENT_SECRET", "admin-secret"),
            ("KASSA_LOG", "error,kassa::http=off"),
        ],
    );
    let http = reqwest::Client::new();
    let shopper = implicit_token(&http, &server, "admin").await;
    let ready = |http: &reqwest::Client| {
        let url = server.url("/readyz");
        let http = http.clone();
        async move {
            let started = Instant::now();
            let r = Resp::read(http.get(url).send().await.unwrap()).await;
            (r, started.elapsed())
        }
    };
    assert_eq!(ready(&http).await.0.status, 200);

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let load = start_load(&server, &shopper, 12, &stop, &seen);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_outage = seen.lock().unwrap().orders.len();
    assert!(before_outage > 0, "the load runs");

    tokio::task::block_in_place(|| pg.stop());
    let down = Instant::now();
    let mut not_ready = 0;
    while down.elapsed() < Duration::from_secs(4) {
        let (r, took) = ready(&http).await;
        assert_eq!(r.status, 503, "/readyz while PostgreSQL is down: {}", r.body);
        assert_eq!(r.body["errors"][0]["status"], 503, "{}", r.body);
        assert!(took < Duration::from_secs(3), "/readyz took {took:?}");
        not_ready += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(not_ready > 0);
    tokio::task::block_in_place(|| pg.resume());

    // Back without a restart of kassa.
    let back = Instant::now();
    loop {
        if ready(&http).await.0.status == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "/readyz never recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after_recovery = seen.lock().unwrap().orders.len();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in load {
        tokio::time::timeout(Duration::from_secs(90), worker)
            .await
            .expect("every started checkout is acknowledged once PostgreSQL is back")
            .unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(seen.violations.is_empty(), "{:#?}", seen.violations);
    assert!(
        seen.statuses.get(&503).copied().unwrap_or(0) > 0,
        "the outage was seen by the load: {:?}",
        seen.statuses
    );
    assert!(
        seen.orders.len() > after_recovery,
        "orders are placed after the recovery: {} then {}",
        after_recovery,
        seen.orders.len()
    );

    // Every acknowledged order is stored once, and there is no order nobody was told about:
    // each cart was checked out exactly once, however often its key was retried.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&pg.url())
        .await
        .unwrap();
    let stored: Vec<(String, String)> = sqlx::query_as("SELECT id::text, cart_id FROM orders")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let ids: HashSet<&str> = stored.iter().map(|(id, _)| id.as_str()).collect();
    let acknowledged: HashSet<&str> = seen.orders.values().map(String::as_str).collect();
    assert_eq!(acknowledged.len(), seen.orders.len(), "one order per key");
    for id in &acknowledged {
        assert!(ids.contains(id), "acknowledged order {id} is lost");
    }
    let carts: HashSet<&str> = stored.iter().map(|(_, cart)| cart.as_str()).collect();
    assert_eq!(
        (stored.len(), carts.len()),
        (acknowledged.len(), acknowledged.len()),
        "no cart was checked out twice and no order was made that nobody was told of"
    );
    let admin = token(&http, &server, "admin", "admin-secret").await;
    let some = acknowledged.iter().next().unwrap();
    let r = Resp::read(
        http.get(server.url(&format!("/v2/orders/{some}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    eprintln!(
        "postgres outage: {} orders ({} replays), statuses {:?}",
        seen.orders.len(),
        seen.replays,
        seen.statuses
    );
}

/// Sets the immutable attribute (`chattr +i`) on files, which refuses every write to them — also
/// through a descriptor opened before, and also for root, who ignores permissions; removed again
/// when dropped. Fails the test, naming what it needs, where the attribute cannot be set.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(paths: &[PathBuf]) -> Self {
        let mut set = Self(Vec::new());
        for path in paths {
            let out = Command::new("chattr")
                .arg("+i")
                .arg(path)
                .output()
                .unwrap_or_else(|e| panic!("this test needs chattr (e2fsprogs): {e}"));
            assert!(
                out.status.success(),
                "cannot make {} immutable ({}): this test needs root (or CAP_LINUX_IMMUTABLE) and a \
                 file system with the immutable attribute (ext4, xfs, btrfs)",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            set.0.push(path.clone());
        }
        set
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = Command::new("chattr").arg("-i").arg(path).status();
        }
    }
}

/// A SQLite database that cannot be written while kassa runs: every write is a 503 with an EP
/// body (the refused writes change nothing), reads go on, and once the file can be written again
/// writes succeed without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_that_cannot_be_written_is_503_for_writes_while_reads_go_on() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    add_custom(&app, &admin, "before", "SIGN", 1, 2500).await;
    let r = app.post("/v2/carts/before/checkout", &admin, guest_body()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order = r.body["data"]["id"].as_str().unwrap().to_owned();
    add_custom(&app, &admin, "during", "SIGN", 1, 2500).await;

    let db = PathBuf::from(app.db.url.strip_prefix("sqlite://").unwrap());
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let locked = Immutable::set(&[db, wal]);
    let item = json!({"data": {"type": "custom_item", "name": "Card", "sku": "CARD", "quantity": 1, "price": {"amount": 300}}});
    let writes = [
        (Method::POST, "/v2/carts/during/items", Some(item.clone())),
        (Method::POST, "/v2/carts/during/checkout", Some(guest_body())),
        (
            Method::PUT,
            "/v2/carts/during",
            Some(json!({"data": {"name": "Renamed"}})),
        ),
        (
            Method::POST,
            "/v2/accounts",
            Some(json!({"data": {"type": "account", "name": "Acme", "legal_name": "Acme Ltd"}})),
        ),
    ];
    for (method, path, body) in writes.iter().cloned() {
        let started = Instant::now();
        let r = app.call(method.clone(), path, Some(&admin), body).await;
        assert_eq!(
            r.status, 503,
            "{method} {path} on a database that cannot be written: {}",
            r.body
        );
        let e = r.error();
        assert_eq!(e["title"], "Service Unavailable");
        assert!(r.headers.get("retry-after").is_some());
        assert!(
            started.elapsed() < ANSWER_BOUND,
            "{method} {path} took {:?}",
            started.elapsed()
        );
    }
    // Reads go on.
    for path in [
        "/v2/carts/during/items",
        "/v2/orders",
        &format!("/v2/orders/{order}"),
        "/readyz",
    ] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let r = app.get("/v2/carts/during", &admin).await;
    assert_eq!(
        (
            r.body["data"]["name"].as_str(),
            r.body["data"]["relationships"]["items"]["data"]
                .as_array()
                .map(Vec::len)
        ),
        (Some("Cart"), Some(1)),
        "the refused writes changed nothing"
    );

    // Writable again: kassa writes again, without a restart.
    drop(locked);
    let r = app.post("/v2/carts/during/items", &admin, item).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app.post("/v2/carts/during/checkout", &admin, guest_body()).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// A SQLite database kassa cannot write is a clear start-up error, not a failure at the first
/// write: a read-only file, and a directory in which the file cannot be created.
#[test]
fn sqlite_that_cannot_be_written_is_a_clear_startup_error() {
    let dir = std::env::temp_dir().join(format!("kassa-ro-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("locked")).unwrap();
    let file = dir.join("kassa.db");
    let url = format!("sqlite://{}", file.display());
    let listen = format!("127.0.0.1:{}", free_port());
    let out = kassa(&["migrate"], &[("KASSA_DATABASE_URL", &url)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    {
        let _locked = Immutable::set(std::slice::from_ref(&file));
        for command in [&["serve"][..], &["migrate"]] {
            assert_fails_with(
                command,
                &[("KASSA_DATABASE_URL", &url), ("KASSA_LISTEN", &listen)],
                &format!(
                    "cannot write the SQLite database {}: it is read-only",
                    file.display()
                ),
            );
        }
    }
    let in_locked = format!("sqlite://{}", dir.join("locked/kassa.db").display());
    {
        let _locked = Immutable::set(&[dir.join("locked")]);
        assert_fails_with(
            &["serve"],
            &[("KASSA_DATABASE_URL", &in_locked), ("KASSA_LISTEN", &listen)],
            "the file and its directory must be writable",
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
