//! The `kassa` binary as an operator runs it: configuration errors, graceful shutdown, the
//! subcommands, its logs, the README's journey in bash and zsh, and several server processes
//! sharing one PostgreSQL database.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestDatabase, postgres_admin_url};
use crate::server_process::{Server, assert_fails_with, call, free_port, implicit_token, kassa, token};

/// The admin URL of the test PostgreSQL with another database name.
fn postgres_database_url(name: &str) -> String {
    let admin = postgres_admin_url();
    let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
    let (server, _) = base.rsplit_once('/').unwrap();
    match query {
        "" => format!("{server}/{name}"),
        q => format!("{server}/{name}?{q}"),
    }
}

#[test]
fn bad_configuration_exits_with_one_clear_line() {
    let listen = format!("127.0.0.1:{}", free_port());
    let db_dir = std::env::temp_dir().join(format!("kassa-cfg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&db_dir).unwrap();
    let sqlite = format!("sqlite://{}", db_dir.join("k.db").display());
    let base = |url: &str| {
        vec![
            ("KASSA_DATABASE_URL".to_owned(), url.to_owned()),
            ("KASSA_LISTEN".to_owned(), listen.clone()),
        ]
    };
    let run = |env: Vec<(String, String)>, args: &[&str], expected: &str| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_fails_with(args, &env, expected)
    };
    run(base("mysql://u:pw@h/db"), &["serve"], "invalid database URL");
    // PostgreSQL's errors say what is wrong, at once: one connection attempt, not the pool's
    // retries until its timeout.
    let started = Instant::now();
    run(
        base("postgres://postgres:hunter2@127.0.0.1:1/nope"),
        &["serve"],
        "kassa: error: cannot connect to PostgreSQL: connection refused at 127.0.0.1:1: is PostgreSQL running and listening there?",
    );
    let missing = postgres_database_url("kassa_no_such_database");
    let out = run(
        base(&missing),
        &["serve"],
        "cannot connect to PostgreSQL: database \"kassa_no_such_database\" does not exist at ",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("— create it with `createdb -h ") && stderr.contains(" kassa_no_such_database`"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2") && !stderr.contains(" at line "),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "two PostgreSQL errors took {:?}",
        started.elapsed()
    );
    run(base("sqlite:///no/such/dir/k.db"), &["serve"], "does not exist");
    let mut env = base(&sqlite);
    env[1].1 = "not-an-address".into();
    run(env, &["serve"], "invalid listen address");
    let mut env = base(&sqlite);
    env.push(("KASSA_CLIENT_ID".into(), "only-the-id".into()));
    run(env, &["serve"], "must be set together");
    run(
        base(&sqlite),
        &["serve", "--config", "/no/such/kassa.toml"],
        "cannot read config file",
    );

    let mut env = base(&sqlite);
    env[1].1 = "localhost:99999".into();
    run(env, &["serve"], "invalid listen address");

    // A taken port stops the start before anything is written: no database file, no admin key
    // printed (which would be lost: the next start finds a key and prints none).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut env = base(&sqlite);
    env[1].1 = taken.local_addr().unwrap().to_string();
    let out = run(env, &["serve"], "cannot listen on");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        !db_dir.join("k.db").exists(),
        "the database was created before the port was found taken"
    );
    let _ = std::fs::remove_dir_all(db_dir);
}

/// `--listen localhost:PORT` resolves the name and serves on it.
#[test]
fn listen_takes_a_host_name() {
    let dir = std::env::temp_dir().join(format!("kassa-listen-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("k.db").display());
    let port = free_port();
    let listen = format!("localhost:{port}");
    let mut child = kassa(
        &["serve", "--listen", &listen],
        &[("KASSA_DATABASE_URL", url.as_str()), ("KASSA_LOG", "warn")],
    )
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let answer = loop {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            write!(
                stream,
                "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            break answer;
        }
        assert!(child.try_wait().unwrap().is_none(), "kassa exited");
        assert!(Instant::now() < deadline, "kassa did not start on {listen}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

backend_tests!(
    readme_demo_journey_reaches_a_paid_order,
    committed_orders_survive_kill_9,
    sigterm_finishes_in_flight_requests,
    sigterm_under_load_answers_or_refuses_every_request,
    first_start_prints_credentials_once,
    migrate_and_keys_create_subcommands,
    logs_are_plain_lines_naming_errors_and_the_demo_seed_is_one_line,
    a_seed_makes_the_same_ids_on_every_run,
    the_test_clock_expires_tokens_and_carts_and_starts_promotions,
    fixture_files_on_the_command_line,
);

/// Written to a file (not a terminal), the log has no colour codes; the `--demo` seed's requests
/// are not logged one by one but as one line; a refused request's line names the error.
async fn logs_are_plain_lines_naming_errors_and_the_demo_seed_is_one_line(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let log_path = std::env::temp_dir().join(format!("kassa-log-{}.txt", uuid::Uuid::new_v4().simple()));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = Server::start_logging_to(
        &["serve", "--demo"],
        &db.url,
        &[("KASSA_LOG", "info")],
        Stdio::from(log),
    );
    let http = reqwest::Client::new();
    let res = http
        .get(server.url("/v2/orders/00000000-0000-4000-8000-000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    server.signal("-TERM");
    assert!(server.wait(Duration::from_secs(10)));
    let text = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);

    assert!(!text.contains('\u{1b}'), "colour codes in a log file:\n{text}");
    let demo: Vec<&str> = text.lines().filter(|l| l.contains("demo store")).collect();
    assert_eq!(demo.len(), 1, "{text}");
    assert!(demo[0].contains("demo store seeded"), "{text}");
    // A fresh start says little: the migrations in one line, the seed in one, then listening.
    let start_up: Vec<&str> = text
        .lines()
        .take_while(|l| !l.contains("kassa is listening"))
        .collect();
    assert!(start_up.len() <= 2, "{start_up:#?}");
    // The health checks of `Server::start` and the refused request; none of the seed's.
    let requests: Vec<&str> = text.lines().filter(|l| l.contains("kassa::http")).collect();
    assert!(
        requests
            .iter()
            .all(|l| l.contains("route=\"/healthz\"") || l.contains("status=401")),
        "{text}"
    );
    let refused: Vec<&&str> = requests.iter().filter(|l| l.contains("status=401")).collect();
    assert_eq!(refused.len(), 1, "{text}");
    assert!(
        refused[0].contains("route=\"/v2/orders/{id}\"")
            && refused[0].contains("error=\"Unable to validate access token\""),
        "{text}"
    );
    assert!(
        text.lines()
            .filter(|l| l.contains("route=\"/healthz\""))
            .all(|l| !l.contains("error=")),
        "a success names no error: {text}"
    );
}

/// `kassa completions SHELL` prints a script the shell accepts, naming the commands and flags.
#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let out = kassa(&["completions", shell], &[]).output().unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8(out.stdout).unwrap();
        for word in [
            "serve",
            "migrate",
            "keys",
            "completions",
            "metrics-token",
            "database-url",
        ] {
            assert!(script.contains(word), "{shell}: no {word:?} in\n{script}");
        }
        match shell {
            "bash" => assert!(script.contains("complete -F _kassa")),
            "zsh" => assert!(script.starts_with("#compdef kassa")),
            _ => assert!(script.contains("complete -c kassa")),
        }
        // bash and zsh check the syntax without running it (fish is not installed here).
        if shell != "fish" {
            let path = std::env::temp_dir().join(format!(
                "kassa-completion-{}.{shell}",
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::write(&path, &script).unwrap();
            let check = Command::new(shell).arg("-n").arg(&path).output().unwrap();
            let _ = std::fs::remove_file(&path);
            assert!(
                check.status.success(),
                "{shell} -n: {}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    assert!(
        !kassa(&["completions", "cmd.exe"], &[])
            .output()
            .unwrap()
            .status
            .success()
    );
}

/// The README's copy-paste journey block.
fn readme_journey() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let block = readme
        .split("<!-- demo-journey:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- demo-journey:end -->").next())
        .expect("README.md has the demo journey block");
    block
        .trim()
        .strip_prefix("```sh")
        .and_then(|b| b.strip_suffix("```"))
        .expect("the block is one sh code fence")
        .to_owned()
}

/// How a person runs the journey: pasted into an interactive shell (its standard input, no rc
/// files: an interactive zsh reads `#` as a command and ignores `USERNAME=`; an interactive bash
/// expands `!`), or saved and run as a script. Each shell must be installed — CI installs zsh —
/// and a missing one fails the test rather than skipping it.
fn run_journey(shell: &str, interactive: bool, exports: &str, script: &str) -> Output {
    let mut cmd = Command::new(shell);
    let input = format!("{exports}\n{script}\n");
    match (shell, interactive) {
        ("zsh", true) => cmd.args(["-f", "-i"]),
        ("bash", true) => cmd.args(["--norc", "--noprofile", "-i"]),
        (_, true) => panic!("no interactive mode for {shell}"),
        (_, false) => cmd.args(["-c", &input]),
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("the README journey must be tested in {shell}, which cannot be run ({e}): apt-get install -y {shell}")
        });
    let mut stdin = child.stdin.take().unwrap();
    if interactive {
        stdin.write_all(input.as_bytes()).unwrap();
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// The README's copy-paste journey, run verbatim against `kassa serve --demo` in bash and zsh,
/// pasted and as a script (on two starts: the demo seed must be idempotent across restarts);
/// and with a wrong password it stops at the failing step, showing kassa's error.
async fn readme_demo_journey_reaches_a_paid_order(backend: Backend) {
    let script = readme_journey();
    let db = TestDatabase::create(backend).await;
    for start in 0..2 {
        let mut server = Server::start_with(&["serve", "--demo"], &db.url, &[]);
        let exports = server.line_containing("export KASSA=").trim().to_owned();
        for shell in ["bash", "zsh"] {
            for interactive in [false, true] {
                let out = run_journey(shell, interactive, &exports, &script);
                let stdout = String::from_utf8_lossy(&out.stdout);
                let stderr = String::from_utf8_lossy(&out.stderr);
                let how = format!("start {start}, {shell}, interactive: {interactive}");
                assert!(
                    out.status.success(),
                    "{how}: the README journey failed: {stdout}\n{stderr}"
                );
                let last = stdout.lines().last().unwrap_or_default();
                assert_eq!(last, "complete paid", "{how}: {stdout}");
                assert!(
                    stdout.lines().any(|l| l == "purchase complete"),
                    "{how}: {stdout}"
                );
                for bad in ["not found", "Traceback", r#""errors":["#] {
                    assert!(!stderr.contains(bad), "{how}: {bad:?} in {stderr}");
                }
            }
        }
        if start == 0 {
            let wrong = exports.replace("DEMO_PASSWORD=kassa-demo-password", "DEMO_PASSWORD=wrong");
            assert_ne!(wrong, exports, "{exports}");
            for shell in ["bash", "zsh"] {
                for interactive in [false, true] {
                    let out = run_journey(shell, interactive, &wrong, &script);
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    let how = format!("{shell}, interactive: {interactive}");
                    assert!(!out.status.success(), "{how}: {stdout}");
                    // Steps 1 and 2 announced, nothing after the refused login.
                    let steps: Vec<&str> = stdout.lines().collect();
                    assert_eq!(steps.len(), 2, "{how}: {stdout}");
                    assert!(steps[1].starts_with("2. "), "{how}: {stdout}");
                    assert!(
                        stderr.contains(r#"kassa answered 401: {"errors":[{"detail":"The username or password is incorrect""#),
                        "{how}: {stderr}"
                    );
                    assert!(!stderr.contains("Traceback"), "{how}: {stderr}");
                }
            }
        }
        server.signal("-TERM");
        assert!(server.wait(Duration::from_secs(10)));
    }
}

/// An order is committed before its 201 is sent: a `kill -9` right after the answers loses
/// none of them (SQLite answers a write only after its WAL frames are flushed to the disk;
/// PostgreSQL commits synchronously).
async fn committed_orders_survive_kill_9(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let creds = [
        ("KASSA_CLIENT_ID", "admin"),
        ("KASSA_CLIENT_SECRET", "admin-secret"),
    ];
    let server = Server::start(&db.url, &creds);
    let http = reqwest::Client::new();
    let implicit = implicit_token(&http, &server, "admin").await;
    let address = json!({"first_name": "Ann", "last_name": "Perkins", "line_1": "1 Main St", "postcode": "46001",
                         "region": "IN", "country": "US"});
    let checkout = json!({"data": {"customer": {"name": "Ann Perkins", "email": "ann@perkins.com"},
                                   "billing_address": address, "shipping_address": address}});
    // Twenty carts checked out at once, so the last answers come from one group commit.
    let orders = futures_util::future::join_all((0..20).map(|n| {
        let (http, implicit, checkout) = (&http, &implicit, &checkout);
        let (items, pay) = (
            server.url(&format!("/v2/carts/crash-{n}/items")),
            server.url(&format!("/v2/carts/crash-{n}/checkout")),
        );
        async move {
            let item = json!({"data": {"type": "custom_item", "name": "Sign", "sku": "SIGN", "quantity": 1,
                                       "price": {"amount": 2500}}});
            let r = Resp::read(
                http.post(items)
                    .bearer_auth(implicit)
                    .json(&item)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.body);
            let r = Resp::read(
                http.post(pay)
                    .bearer_auth(implicit)
                    .json(checkout)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["data"]["id"].as_str().unwrap().to_owned()
        }
    }))
    .await;
    server.signal("-KILL");
    drop(server);

    let restarted = Server::start(&db.url, &creds);
    let admin = token(&http, &restarted, "admin", "admin-secret").await;
    for id in &orders {
        let res = http
            .get(restarted.url(&format!("/v2/orders/{id}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        let r = Resp::read(res).await;
        assert_eq!(r.status, 200, "order {id} lost after kill -9: {}", r.body);
    }
}

async fn sigterm_finishes_in_flight_requests(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let mut server = Server::start(
        &db.url,
        &[
            ("KASSA_CLIENT_ID", "admin"),
            ("KASSA_CLIENT_SECRET", "admin-secret"),
        ],
    );
    let body = "grant_type=client_credentials&client_id=admin&client_secret=admin-secret";
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    write!(
        stream,
        "POST /oauth/access_token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
        server.addr,
        body.len(),
        &body[..10]
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.signal("-TERM");
    std::thread::sleep(Duration::from_millis(300));
    // The request is still in flight: finish sending it and expect a full answer.
    stream.write_all(&body.as_bytes()[10..]).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("access_token"), "{response}");
    assert!(server.wait(Duration::from_secs(10)), "clean exit after SIGTERM");
    assert!(TcpStream::connect(&server.addr).is_err(), "no longer listening");
    // A clean stop leaves every SQLite row in the database file itself: the WAL is folded in.
    assert_eq!(wal_bytes(&db), 0, "WAL left behind by a clean stop");
}

/// What became of one request of the load run.
enum Outcome {
    /// The cart's add or checkout got no answer: its connection was refused, closed or reset.
    Unanswered {
        checkout: bool,
        cart: String,
        key: String,
    },
    /// A checkout answered 201 with this order.
    Ordered(String),
}

/// SIGTERM in the middle of a load run: every request is either answered or was never taken
/// up; none loses its connection after its write committed. Checked on the restarted server: an
/// unanswered add left its (new) cart empty, and an unanswered checkout retried with its
/// `Idempotency-Key` runs for the first time rather than replaying. Every answered order is
/// there, and the process exits well within its drain time.
async fn sigterm_under_load_answers_or_refuses_every_request(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let creds = [
        ("KASSA_CLIENT_ID", "admin"),
        ("KASSA_CLIENT_SECRET", "admin-secret"),
    ];
    let mut env = creds.to_vec();
    env.push(("KASSA_SHUTDOWN_DRAIN", "5"));
    let mut server = Server::start(&db.url, &env);
    let http = reqwest::Client::new();
    let shopper = implicit_token(&http, &server, "admin").await;
    let address = json!({"first_name": "Ann", "last_name": "Perkins", "line_1": "1 Main St", "postcode": "46001",
                         "region": "IN", "country": "US"});
    let checkout = json!({"data": {"customer": {"name": "Ann Perkins", "email": "ann@perkins.com"},
                                   "billing_address": address, "shipping_address": address}});
    let item = json!({"data": {"type": "custom_item", "name": "Sign", "sku": "SIGN", "quantity": 1,
                               "price": {"amount": 2500}}});
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let (base, shopper, checkout, item) =
                (server.url(""), shopper.clone(), checkout.clone(), item.clone());
            tokio::spawn(async move {
                // Each shopper keeps its connections alive between requests, as browsers do.
                let http = reqwest::Client::new();
                let mut outcomes = Vec::new();
                for n in 0.. {
                    let (cart, key) = (format!("load-{w}-{n}"), format!("key-{w}-{n}"));
                    let unanswered = |checkout| Outcome::Unanswered {
                        checkout,
                        cart: cart.clone(),
                        key: key.clone(),
                    };
                    let sent = http
                        .post(format!("{base}/v2/carts/{cart}/items"))
                        .bearer_auth(&shopper)
                        .json(&item)
                        .send()
                        .await;
                    let Ok(res) = sent else {
                        outcomes.push(unanswered(false));
                        break;
                    };
                    let r = Resp::read(res).await;
                    assert_eq!(r.status, 201, "an add during shutdown: {}", r.body);
                    let sent = http
                        .post(format!("{base}/v2/carts/{cart}/checkout"))
                        .bearer_auth(&shopper)
                        .header("Idempotency-Key", &key)
                        .json(&checkout)
                        .send()
                        .await;
                    let Ok(res) = sent else {
                        outcomes.push(unanswered(true));
                        break;
                    };
                    let r = Resp::read(res).await;
                    assert_eq!(r.status, 201, "a checkout during shutdown: {}", r.body);
                    outcomes.push(Outcome::Ordered(
                        r.body["data"]["id"].as_str().unwrap().to_owned(),
                    ));
                }
                outcomes
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.signal("-TERM");
    let signalled = Instant::now();
    tokio::task::block_in_place(|| assert!(server.wait(Duration::from_secs(10)), "clean exit after SIGTERM"));
    let exited = signalled.elapsed();
    assert!(
        exited < Duration::from_secs(5),
        "the requests in flight drained in {exited:?}"
    );
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(worker.await.unwrap());
    }
    drop(server);

    let restarted = Server::start(&db.url, &creds);
    let admin = token(&http, &restarted, "admin", "admin-secret").await;
    let (mut ordered, mut unanswered) = (0, 0);
    for outcome in outcomes {
        match outcome {
            Outcome::Ordered(id) => {
                ordered += 1;
                let res = http
                    .get(restarted.url(&format!("/v2/orders/{id}")))
                    .bearer_auth(&admin)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200, "answered order {id} is there");
            }
            Outcome::Unanswered {
                checkout: false,
                cart,
                ..
            } => {
                unanswered += 1;
                let r = Resp::read(
                    http.get(restarted.url(&format!("/v2/carts/{cart}/items")))
                        .bearer_auth(&admin)
                        .send()
                        .await
                        .unwrap(),
                )
                .await;
                assert_eq!(
                    r.body["data"],
                    json!([]),
                    "an add of {cart} committed without an answer"
                );
            }
            Outcome::Unanswered {
                checkout: true,
                cart,
                key,
            } => {
                unanswered += 1;
                let res = http
                    .post(restarted.url(&format!("/v2/carts/{cart}/checkout")))
                    .bearer_auth(&shopper)
                    .header("Idempotency-Key", &key)
                    .json(&checkout)
                    .send()
                    .await
                    .unwrap();
                assert!(
                    res.headers().get("idempotent-replayed").is_none(),
                    "the checkout of {cart} committed without an answer"
                );
                assert_eq!(res.status(), 201);
            }
        }
    }
    assert!(ordered > 16, "the load ran: {ordered} orders");
    assert_eq!(
        unanswered, 16,
        "every shopper stopped at its first unanswered request"
    );
}

/// A request that never finishes does not keep a stopping server alive past its drain time.
#[test]
fn sigterm_exits_after_the_drain_time_with_a_request_still_in_flight() {
    let dir = std::env::temp_dir().join(format!("kassa-drain-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("k.db").display());
    let mut server = Server::start(
        &url,
        &[
            ("KASSA_CLIENT_ID", "admin"),
            ("KASSA_CLIENT_SECRET", "admin-secret"),
            ("KASSA_SHUTDOWN_DRAIN", "2"),
        ],
    );
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    // A body promised and never sent.
    write!(
        stream,
        "POST /oauth/access_token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=",
        server.addr
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.signal("-TERM");
    let signalled = Instant::now();
    assert!(
        server.wait(Duration::from_secs(10)),
        "clean exit after the drain time"
    );
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(5),
        "exited {took:?} after SIGTERM with a 2 s drain"
    );
    // The cut-off request's connection is closed, without an answer.
    stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The size of a SQLite database's WAL file (0 when there is none, and on PostgreSQL).
fn wal_bytes(db: &TestDatabase) -> u64 {
    db.url.strip_prefix("sqlite://").map_or(0, |path| {
        std::fs::metadata(format!("{path}-wal")).map_or(0, |m| m.len())
    })
}

async fn first_start_prints_credentials_once(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let mut first = Server::start(&db.url, &[]);
    let field = |out: &str, name: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("{name} in {out}"))
    };
    let id = field(&first.stdout, "client_id:");
    let secret = field(&first.stdout, "client_secret:");
    let http = reqwest::Client::new();
    token(&http, &first, &id, &secret).await;
    first.signal("-INT");
    assert!(first.wait(Duration::from_secs(10)));

    let second = Server::start(&db.url, &[]);
    assert!(
        !second.stdout.contains("client_secret"),
        "printed again: {}",
        second.stdout
    );
    token(&http, &second, &id, &secret).await;
}

async fn migrate_and_keys_create_subcommands(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let env = [("KASSA_DATABASE_URL", db.url.as_str())];
    let out = kassa(&["migrate"], &env).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kassa(&["keys", "create", "--name", "ci"], &env).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(wal_bytes(&db), 0, "the key is in the SQLite database file itself");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let value = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    let (id, secret) = (value("client_id:"), value("client_secret:"));
    let server = Server::start(&db.url, &[]);
    assert!(
        !server.stdout.contains("client_secret"),
        "a key exists, so none is generated"
    );
    token(&reqwest::Client::new(), &server, &id, &secret).await;
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["keys", "create", "--help"],
        &["completions", "--help"],
    ] {
        assert!(kassa(args, &[]).output().unwrap().status.success(), "{args:?}");
    }
}

/// Two stateless nodes on one PostgreSQL database are one store: each accepts the other's
/// tokens, sees the other's writes, and a key deleted on one stops working on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_accept_each_others_tokens() {
    let db = TestDatabase::create(Backend::Postgres).await;
    let creds = [
        ("KASSA_CLIENT_ID", "shared-admin"),
        ("KASSA_CLIENT_SECRET", "shared-secret"),
    ];
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Server::start(&db.url, &creds));
        let b = s.spawn(|| Server::start(&db.url, &creds));
        (a.join().unwrap(), b.join().unwrap())
    });
    let http = reqwest::Client::new();
    let from_a = token(&http, &a, "shared-admin", "shared-secret").await;
    let from_b = token(&http, &b, "shared-admin", "shared-secret").await;
    for (server, token) in [(&a, &from_b), (&b, &from_a)] {
        let res = http
            .get(server.url("/v2/application-keys"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    let res = http
        .post(a.url("/v2/application-keys"))
        .bearer_auth(&from_a)
        .json(&json!({"data": {"type": "application_key", "name": "made on a"}}))
        .send()
        .await
        .unwrap();
    let created = Resp::read(res).await;
    assert_eq!(created.status, 201);
    let key = &created.body["data"];
    let key_token = token(
        &http,
        &b,
        key["client_id"].as_str().unwrap(),
        key["client_secret"].as_str().unwrap(),
    )
    .await;
    let res = http
        .get(b.url("/v2/application-keys"))
        .bearer_auth(&key_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = http
        .delete(a.url(&format!("/v2/application-keys/{}", key["id"].as_str().unwrap())))
        .bearer_auth(&from_a)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // Node b learns of the deletion on its next key refresh (every 5 s).
    let deadline = Instant::now() + Duration::from_secs(12);
    loop {
        let res = http
            .get(b.url("/v2/application-keys"))
            .bearer_auth(&key_token)
            .send()
            .await
            .unwrap();
        if res.status() == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node b still accepts a deleted key's token"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Retries with one `Idempotency-Key` spread over two nodes of one PostgreSQL create exactly one
/// order; without a key every checkout is its own order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_idempotency_keys_and_orders() {
    let db = TestDatabase::create(Backend::Postgres).await;
    let creds = [
        ("KASSA_CLIENT_ID", "shared-admin"),
        ("KASSA_CLIENT_SECRET", "shared-secret"),
    ];
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Server::start(&db.url, &creds));
        let b = s.spawn(|| Server::start(&db.url, &creds));
        (a.join().unwrap(), b.join().unwrap())
    });
    let http = reqwest::Client::new();
    let implicit = implicit_token(&http, &a, "shared-admin").await;
    let item = json!({"data": {"type": "custom_item", "name": "Sign", "sku": "SIGN", "quantity": 1, "price": {"amount": 2500}}});
    let res = http
        .post(a.url("/v2/carts/shared-cart/items"))
        .bearer_auth(&implicit)
        .json(&item)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let address = json!({"first_name": "Ann", "last_name": "Perkins", "line_1": "1 Main St", "postcode": "46001",
                         "region": "IN", "country": "US"});
    let body = json!({"data": {"customer": {"name": "Ann Perkins", "email": "ann@perkins.com"},
                               "billing_address": address, "shipping_address": address}});
    let checkout = |node: &Server, key: Option<&str>| {
        let mut req = http
            .post(node.url("/v2/carts/shared-cart/checkout"))
            .bearer_auth(&implicit)
            .json(&body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        async move { Resp::read(req.send().await.unwrap()).await }
    };
    let with_key: Vec<Resp> = futures_util::future::join_all(
        (0..20).map(|n| checkout(if n % 2 == 0 { &a } else { &b }, Some("retry-1"))),
    )
    .await;
    let ids: std::collections::HashSet<String> = with_key
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["data"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one key, one order, whichever node answered");
    let without: Vec<Resp> =
        futures_util::future::join_all((0..10).map(|n| checkout(if n % 2 == 0 { &a } else { &b }, None)))
            .await;
    let ids: std::collections::HashSet<String> = without
        .iter()
        .map(|r| r.body["data"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 10);
}

/// Two nodes on one PostgreSQL: a gateway enabled through one is enabled on the other, and
/// payments of one order spread over both nodes never exceed its total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_gateways_and_never_overpay_an_order() {
    let db = TestDatabase::create(Backend::Postgres).await;
    let creds = [
        ("KASSA_CLIENT_ID", "pay-admin"),
        ("KASSA_CLIENT_SECRET", "pay-secret"),
    ];
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Server::start(&db.url, &creds));
        let b = s.spawn(|| Server::start(&db.url, &creds));
        (a.join().unwrap(), b.join().unwrap())
    });
    let http = reqwest::Client::new();
    let admin = token(&http, &a, "pay-admin", "pay-secret").await;
    let send = |req: reqwest::RequestBuilder| async move { Resp::read(req.send().await.unwrap()).await };
    let r = send(
        http.put(a.url("/v2/gateways/manual"))
            .bearer_auth(&admin)
            .json(&json!({"data": {"enabled": true}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = send(http.get(b.url("/v2/gateways/manual")).bearer_auth(&admin)).await;
    assert_eq!(r.body["data"]["enabled"], true, "node b sees what node a stored");

    let item = json!({"data": {"type": "custom_item", "name": "Sign", "sku": "SIGN", "quantity": 1, "price": {"amount": 1000}}});
    let r = send(
        http.post(a.url("/v2/carts/pay-cart/items"))
            .bearer_auth(&admin)
            .json(&item),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let address = json!({"first_name": "Ann", "last_name": "Perkins", "line_1": "1 Main St", "postcode": "46001",
                         "region": "IN", "country": "US"});
    let body = json!({"data": {"customer": {"name": "Ann Perkins", "email": "ann@perkins.com"},
                               "billing_address": address, "shipping_address": address}});
    let r = send(
        http.post(a.url("/v2/carts/pay-cart/checkout"))
            .bearer_auth(&admin)
            .json(&body),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order = r.body["data"]["id"].as_str().unwrap().to_owned();
    let payments: Vec<Resp> = futures_util::future::join_all((0..12).map(|n| {
        let node = if n % 2 == 0 { &a } else { &b };
        send(
            http.post(node.url(&format!("/v2/orders/{order}/payments")))
                .bearer_auth(&admin)
                .json(&json!({"data": {"gateway": "manual", "method": "purchase", "amount": 300}})),
        )
    }))
    .await;
    let ok = payments.iter().filter(|r| r.status == 200).count();
    assert!(
        payments.iter().all(|r| r.status == 200 || r.status == 400),
        "only successes and refusals"
    );
    assert_eq!(ok, 3, "three payments of 300 fit in 1000");
    let r = send(
        http.get(b.url(&format!("/v2/orders/{order}/transactions")))
            .bearer_auth(&admin),
    )
    .await;
    let sum: i64 = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 900);
    let r = send(
        http.get(a.url(&format!("/v2/orders/{order}")))
            .bearer_auth(&admin),
    )
    .await;
    let d = &r.body["data"];
    assert_eq!(
        (
            &d["payment"],
            &d["meta"]["display_price"]["paid"]["amount"],
            &d["meta"]["display_price"]["balance_owing"]["amount"]
        ),
        (&json!("partially_paid"), &json!(900), &json!(100))
    );
}

/// The admin credentials of the emulator's process tests, with the emulator on (PostgreSQL's
/// default is off).
const ADMIN: [(&str, &str); 3] = [
    ("KASSA_CLIENT_ID", "admin"),
    ("KASSA_CLIENT_SECRET", "admin-secret"),
    ("KASSA_EMULATOR", "true"),
];

/// A custom line of 10.00, tax included, for the emulator's process tests.
fn gift() -> serde_json::Value {
    json!({"data": {"type": "custom_item", "name": "Gift", "sku": "GIFT", "quantity": 1,
                    "price": {"amount": 1000, "includes_tax": true}}})
}

/// `sqlite::memory:`: a whole store in RAM for one `kassa serve` (the emulator on, as with
/// SQLite), gone with every file when it stops; the subcommands that would keep nothing refuse it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_store_serves_until_it_stops_and_leaves_nothing_behind() {
    let mut server = Server::start("sqlite::memory:", &ADMIN);
    let open_files = std::fs::read_dir(format!("/proc/{}/fd", server.child.id())).unwrap();
    let database = open_files
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .find(|path| path.to_string_lossy().contains("kassa-memory-"))
        .expect("the store's files are open");
    let dir = database.parent().unwrap().to_path_buf();
    assert!(
        dir.starts_with("/dev/shm") || dir.starts_with(std::env::temp_dir()),
        "{}",
        dir.display()
    );

    let http = reqwest::Client::new();
    let admin = token(&http, &server, "admin", "admin-secret").await;
    let product = json!({"data": {"type": "product", "attributes": {
        "name": "Kept in memory", "sku": "MEM-1", "commodity_type": "physical"}}});
    let created = call(
        &http,
        &server,
        Method::POST,
        "/pcm/products",
        &admin,
        Some(product),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let listed = call(&http, &server, Method::GET, "/pcm/products", &admin, None).await;
    assert_eq!(
        listed.body["data"][0]["attributes"]["sku"], "MEM-1",
        "{}",
        listed.body
    );
    let journal = call(
        &http,
        &server,
        Method::GET,
        "/_kassa/stores/default/requests?route=/pcm/products",
        &admin,
        None,
    )
    .await;
    assert_eq!(journal.status, 200, "the emulator is on in memory");

    server.signal("-TERM");
    assert!(server.wait(Duration::from_secs(10)), "clean exit after SIGTERM");
    assert!(!dir.exists(), "{} left behind", dir.display());

    for args in [&["migrate"][..], &["keys", "create", "--name", "k"][..]] {
        assert_fails_with(
            args,
            &[("KASSA_DATABASE_URL", "sqlite::memory:")],
            "sqlite::memory: lives only inside one `kassa serve`",
        );
    }
}

/// `--seed`: two runs on fresh stores making the same requests one after another make the same
/// ids (product, cart, line, order); a run without a seed makes others.
async fn a_seed_makes_the_same_ids_on_every_run(backend: Backend) {
    async fn run(backend: Backend, seed: Option<&str>) -> Vec<String> {
        let db = TestDatabase::create(backend).await;
        let mut env = ADMIN.to_vec();
        if let Some(seed) = seed {
            env.push(("KASSA_SEED", seed));
        }
        let mut server = Server::start(&db.url, &env);
        let http = reqwest::Client::new();
        let admin = token(&http, &server, "admin", "admin-secret").await;
        let created = |path: String, body: serde_json::Value| {
            let (http, server, admin) = (&http, &server, &admin);
            async move {
                let r = call(http, server, Method::POST, &path, admin, Some(body)).await;
                assert!(r.status.is_success(), "{path}: {}", r.body);
                r.body
            }
        };
        let product = created(
            "/pcm/products".into(),
            json!({"data": {"type": "product", "attributes": {"name": "Seeded", "sku": "SEED-1", "commodity_type": "physical"}}}),
        )
        .await;
        let cart = created("/v2/carts".into(), json!({"data": {"name": "seeded"}})).await;
        let cart_id = cart["data"]["id"].as_str().unwrap().to_owned();
        let items = created(format!("/v2/carts/{cart_id}/items"), gift()).await;
        let address = json!({"first_name": "Ada", "last_name": "L", "line_1": "1 Road", "city": "Town",
                             "region": "London", "postcode": "N1", "country": "GB"});
        let order = created(
            format!("/v2/carts/{cart_id}/checkout"),
            json!({"data": {"customer": {"name": "Ada", "email": "ada@example.com"},
                            "billing_address": address, "shipping_address": address}}),
        )
        .await;
        server.signal("-TERM");
        assert!(server.wait(Duration::from_secs(10)));
        [
            &product["data"]["id"],
            &cart["data"]["id"],
            &items["data"][0]["id"],
            &order["data"]["id"],
        ]
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect()
    }
    let first = run(backend, Some("42")).await;
    let again = run(backend, Some("42")).await;
    assert_eq!(first, again, "the same ids with the same seed");
    let unseeded = run(backend, None).await;
    assert!(
        first.iter().zip(&unseeded).all(|(a, b)| a != b),
        "{first:?} against {unseeded:?}"
    );
}

/// The test clock (`/_kassa/stores/default/clock`): moved on, it expires tokens and carts and
/// starts promotions as time would; deleted, the store is back on real time.
async fn the_test_clock_expires_tokens_and_carts_and_starts_promotions(backend: Backend) {
    const CLOCK: &str = "/_kassa/stores/default/clock";
    let db = TestDatabase::create(backend).await;
    let mut server = Server::start(&db.url, &ADMIN);
    let http = reqwest::Client::new();
    let (http, server_ref) = (&http, &server);
    let send = |method: Method, path: &str, bearer: &str, body: Option<serde_json::Value>| {
        let (path, bearer) = (path.to_owned(), bearer.to_owned());
        async move { call(http, server_ref, method, &path, &bearer, body).await }
    };
    let total = |cart: &Resp| cart.body["data"]["meta"]["display_price"]["with_tax"]["amount"].clone();
    let admin = token(http, server_ref, "admin", "admin-secret").await;
    let real = send(Method::GET, CLOCK, &admin, None).await;
    assert_eq!(real.status, 200, "{}", real.body);
    assert_eq!(real.body["data"]["real_time"], true);

    let promotion = send(
        Method::POST,
        "/v2/rule-promotions",
        &admin,
        Some(
            json!({"data": {"type": "rule_promotion", "name": "Summer", "enabled": true, "automatic": true,
            "start": "2031-06-01T00:00:00Z", "end": "2031-09-01T00:00:00Z",
            "rule_set": {"actions": [{"strategy": "cart_discount", "args": ["percent", 10]}]}}}),
        ),
    )
    .await;
    assert_eq!(promotion.status, 201, "{}", promotion.body);
    let added = send(Method::POST, "/v2/carts/clocked/items", &admin, Some(gift())).await;
    assert_eq!(added.status, 201, "{}", added.body);
    let cart = send(Method::GET, "/v2/carts/clocked", &admin, None).await;
    assert_eq!(total(&cart), 1000, "the promotion has not started: {}", cart.body);

    // Into the promotion's window: it applies, and the admin's hour-long token has expired.
    let moved = send(
        Method::POST,
        CLOCK,
        &admin,
        Some(json!({"data": {"set": "2031-07-01T00:00:00Z"}})),
    )
    .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert!(
        moved.body["data"]["now"]
            .as_str()
            .unwrap()
            .starts_with("2031-07-01T00:00"),
        "{}",
        moved.body
    );
    let expired = send(Method::GET, "/v2/carts/clocked", &admin, None).await;
    assert_eq!(expired.status, 401, "the token expired in 2026");
    let admin = token(http, server_ref, "admin", "admin-secret").await;
    let cart = send(Method::GET, "/v2/carts/clocked", &admin, None).await;
    // The cart expired too (7 days after its last change): a read makes a new, empty one.
    assert_eq!(total(&cart), 0, "{}", cart.body);
    send(Method::POST, "/v2/carts/clocked/items", &admin, Some(gift())).await;
    let cart = send(Method::GET, "/v2/carts/clocked", &admin, None).await;
    assert_eq!(total(&cart), 900, "10 % off in the window: {}", cart.body);

    // Three months on: the promotion has ended.
    let later = send(
        Method::POST,
        CLOCK,
        &admin,
        Some(json!({"data": {"advance_secs": 92 * 24 * 3600}})),
    )
    .await;
    assert_eq!(later.status, 200, "{}", later.body);
    let admin = token(http, server_ref, "admin", "admin-secret").await;
    send(Method::POST, "/v2/carts/later/items", &admin, Some(gift())).await;
    let cart = send(Method::GET, "/v2/carts/later", &admin, None).await;
    assert_eq!(total(&cart), 1000, "{}", cart.body);

    let bad = send(
        Method::POST,
        CLOCK,
        &admin,
        Some(json!({"data": {"advance_secs": -5}})),
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(bad.error()["source"], "data.advance_secs");
    assert_eq!(send(Method::DELETE, CLOCK, &admin, None).await.status, 204);
    let admin = token(http, server_ref, "admin", "admin-secret").await;
    let real = send(Method::GET, CLOCK, &admin, None).await;
    assert_eq!(real.body["data"]["real_time"], true, "{}", real.body);
    server.signal("-TERM");
    assert!(server.wait(Duration::from_secs(10)));
}

/// `kassa export` and `kassa import` move a store's data through a file, byte for byte, and
/// `kassa serve --fixture` starts from it and resets to it.
async fn fixture_files_on_the_command_line(backend: Backend) {
    let http = reqwest::Client::new();
    let dir = std::env::temp_dir().join(format!("kassa-fixture-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("shop.json");
    let file_arg = file.to_str().unwrap();

    // A store with a product, stopped, exported.
    let source = TestDatabase::create(backend).await;
    let mut server = Server::start(&source.url, &ADMIN);
    let admin = token(&http, &server, "admin", "admin-secret").await;
    let r = call(
        &http,
        &server,
        Method::POST,
        "/pcm/products",
        &admin,
        Some(json!({"data": {"type": "product", "attributes": {"name": "Kept", "sku": "KEPT-1", "commodity_type": "physical"}}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let product = r.body["data"]["id"].as_str().unwrap().to_owned();
    server.signal("-TERM");
    assert!(server.wait(Duration::from_secs(10)));
    let source_env = [("KASSA_DATABASE_URL", source.url.as_str())];
    let out = kassa(&["export", "--output", file_arg], &source_env)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let exported = std::fs::read(&file).unwrap();
    assert!(String::from_utf8_lossy(&exported).contains("KEPT-1"));

    // Imported into another database, it exports the same bytes.
    let target = TestDatabase::create(backend).await;
    let target_env = [("KASSA_DATABASE_URL", target.url.as_str())];
    let out = kassa(&["import", file_arg], &target_env).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kassa: imported "));
    let out = kassa(&["export"], &target_env).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout == exported, "the export of the import differs");

    // A fixture that does not fit: one error line, then each problem; nothing changed.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"kassa_fixture": 1, "tables": {"coupons": []}}"#).unwrap();
    let out = assert_fails_with(
        &["import", bad.to_str().unwrap()],
        &target_env,
        "cannot be imported",
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tables.coupons: Unknown Table"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(kassa(&["export"], &target_env).output().unwrap().stdout == exported);

    // `serve --fixture` starts from the file and resets to it; it needs the emulator.
    let mut env = ADMIN.to_vec();
    env.push(("KASSA_FIXTURE", file_arg));
    let fresh = TestDatabase::create(backend).await;
    let server = Server::start(&fresh.url, &env);
    let admin = token(&http, &server, "admin", "admin-secret").await;
    let path = format!("/pcm/products/{product}");
    assert_eq!(
        call(&http, &server, Method::GET, &path, &admin, None)
            .await
            .status,
        200
    );
    assert_eq!(
        call(&http, &server, Method::DELETE, &path, &admin, None)
            .await
            .status,
        204
    );
    let r = call(
        &http,
        &server,
        Method::POST,
        "/_kassa/stores/default/reset",
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        call(&http, &server, Method::GET, &path, &admin, None)
            .await
            .status,
        200
    );
    let r = http
        .get(server.url("/_kassa/stores/default/export"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(r.bytes().await.unwrap() == exported);
    drop(server);
    let mut env = ADMIN.to_vec();
    env[2].1 = "false";
    env.push(("KASSA_DATABASE_URL", fresh.url.as_str()));
    env.push(("KASSA_FIXTURE", file_arg));
    assert_fails_with(&["serve"], &env, "--fixture replaces the store's data");
    std::fs::remove_dir_all(&dir).unwrap();
}
