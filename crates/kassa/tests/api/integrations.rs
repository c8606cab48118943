//! Integrations: the `/v2/integrations` API, and events delivered from the outbox to a real HTTP
//! receiver in this process and to the machine's RabbitMQ over STOMP — payloads, the secret
//! header, retries, timeouts, a receiver that is down for a while, disabled integrations,
//! rollbacks, logs and jobs, and two nodes sharing one PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use kassa_core::integrations::RetryPolicy;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::backend_tests;
use crate::fixtures::{enable_manual, pay, payment};
use crate::helpers::{Backend, Options, Resp, TestApp, TestDatabase, assert_same_dump};
use crate::server_process::{Server, token};

/// What the receiver does with the requests it gets next.
#[derive(Default)]
struct Behaviour {
    /// Answer this many requests with 500 first.
    fail_next: u32,
    /// Answer every n-th request with 503 (0: never).
    fail_every: u32,
    /// Wait this long before answering this many requests.
    slow_next: u32,
    slow_for: Duration,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub body: Value,
    pub secret: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct ReceiverState {
    behaviour: Behaviour,
    got: Vec<Delivery>,
    seen: u32,
    /// Event ids being answered right now, and whether one was ever answered twice at once.
    in_flight: HashMap<String, u32>,
    overlapped: bool,
}

/// An HTTP receiver in the test process (axum on a port of its own).
#[derive(Clone)]
pub(crate) struct Receiver {
    state: Arc<Mutex<ReceiverState>>,
    pub url: String,
    port: u16,
    stop: Arc<Mutex<Option<tokio::sync::oneshot::Sender<()>>>>,
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    let (slow, status) = {
        let mut s = state.lock().unwrap();
        let n = s.in_flight.entry(id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            s.overlapped = true;
        }
        s.seen += 1;
        let b = &mut s.behaviour;
        let slow = if b.slow_next > 0 {
            b.slow_next -= 1;
            Some(b.slow_for)
        } else {
            None
        };
        let status = if b.fail_next > 0 {
            b.fail_next -= 1;
            500
        } else if b.fail_every > 0 && s.seen.is_multiple_of(s.behaviour.fail_every) {
            503
        } else {
            200
        };
        (slow, status)
    };
    if let Some(wait) = slow {
        tokio::time::sleep(wait).await;
    }
    let mut s = state.lock().unwrap();
    *s.in_flight.get_mut(&id).unwrap() -= 1;
    s.got.push(Delivery {
        body,
        secret: headers
            .get("x-moltin-secret-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        status,
    });
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = Self {
            state: Arc::default(),
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
            stop: Arc::default(),
        };
        r.serve(listener);
        r
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(Arc::clone(&self.state));
        let (tx, rx) = tokio::sync::oneshot::channel();
        *self.stop.lock().unwrap() = Some(tx);
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
    }

    /// Stops listening: connections are refused until [`Receiver::resume`].
    async fn pause(&self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
        // Until the port refuses.
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn resume(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.serve(listener);
    }

    fn behave(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.state.lock().unwrap().behaviour);
    }

    pub(crate) fn got(&self) -> Vec<Delivery> {
        self.state.lock().unwrap().got.clone()
    }

    pub(crate) fn overlapped(&self) -> bool {
        self.state.lock().unwrap().overlapped
    }

    /// The successful deliveries, once `done` holds for them (or panics after `limit`).
    pub(crate) async fn wait_for(
        &self,
        limit: Duration,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> Vec<Delivery> {
        let deadline = Instant::now() + limit;
        loop {
            let ok: Vec<Delivery> = self.got().into_iter().filter(|d| d.status == 200).collect();
            if done(&ok) {
                return ok;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver did not get what was expected within {limit:?}; it got {} ({} successful): {:#?}",
                self.got().len(),
                ok.len(),
                self.got()
                    .iter()
                    .take(30)
                    .map(|d| (&d.body["triggered_by"], d.status))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Delays short enough for a test: retries after ~100 ms, 200 ms, …
pub(crate) fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base_delay_ms: 100,
        max_delay_ms: 1_000,
        timeout_ms: 1_000,
    }
}

async fn spawn(backend: Backend, policy: RetryPolicy) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            delivery: policy,
            ..Options::default()
        },
    )
    .await
}

pub(crate) fn webhook(url: &str, observes: &[&str]) -> Value {
    json!({"data": {"type": "integration", "name": "Order hook", "description": "to the ERP",
        "integration_type": "webhook", "enabled": true, "observes": observes,
        "configuration": {"url": url, "secret_key": "secret_squirrel"}}})
}

async fn integration(app: &TestApp, admin: &str, body: Value) -> String {
    let r = app.post("/v2/integrations", admin, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["data"]["id"].as_str().unwrap().to_owned()
}

/// The integration's logs once there are `n` (an attempt is recorded just after its answer).
async fn logs_when(app: &TestApp, admin: &str, hook: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app
            .get(&format!("/v2/integrations/{hook}/logs?page[limit]=100"), admin)
            .await;
        let logs = r.body["data"].as_array().unwrap().clone();
        if logs.len() >= n {
            return logs;
        }
        assert!(Instant::now() < deadline, "{} logs, not {n}", logs.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn of_kind<'a>(got: &'a [Delivery], kind: &str) -> Vec<&'a Delivery> {
    got.iter().filter(|d| d.body["triggered_by"] == kind).collect()
}

async fn admin_crud_and_validation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let id = integration(
        &app,
        &admin,
        webhook("https://example.com/hook", &["order.created", "order.paid"]),
    )
    .await;
    let r = app.get(&format!("/v2/integrations/{id}"), &admin).await;
    assert_eq!(r.status, 200);
    let d = &r.body["data"];
    assert_eq!(d["type"], "integration");
    assert_eq!(d["integration_type"], "webhook");
    assert_eq!(d["enabled"], true);
    assert_eq!(d["observes"], json!(["order.created", "order.paid"]));
    assert_eq!(
        d["configuration"],
        json!({"url": "https://example.com/hook", "secret_key": "secret_squirrel"})
    );
    assert!(d["meta"]["timestamps"]["created_at"].is_string());

    // An update changes what it names and keeps the rest.
    let r = app
        .put(
            &format!("/v2/integrations/{id}"),
            &admin,
            json!({"data": {"type": "integration", "enabled": false, "observes": ["customer.created"]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["enabled"], false);
    assert_eq!(r.body["data"]["name"], "Order hook");
    assert_eq!(r.body["data"]["observes"], json!(["customer.created"]));

    // STOMP: the password is never shown whole.
    let stomp = integration(
        &app,
        &admin,
        json!({"data": {"type": "integration", "name": "queue", "integration_type": "stomp", "observes": ["order.created"],
            "configuration": {"addresses": ["stomp://127.0.0.1:61613"], "destination": "/queue/x",
                "username": "guest", "password": "guest-secret"}}}),
    )
    .await;
    let r = app.get(&format!("/v2/integrations/{stomp}"), &admin).await;
    assert_eq!(r.body["data"]["configuration"]["password"], "****cret");

    let r = app.get("/v2/integrations", &admin).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["meta"]["results"]["total"], 2);

    // Refusals name their field and change nothing.
    let before = app.db.dump().await;
    for (body, source, title) in [
        (
            json!({"data": {"type": "integration", "name": "sqs", "integration_type": "aws_sqs", "observes": ["order.created"],
                "configuration": {"url": "https://sqs.eu-west-1.amazonaws.com/1/q", "aws_access_key_id": "a",
                    "aws_secret_access_key": "b", "region": "eu-west-1"}}}),
            "data.integration_type",
            "not_supported",
        ),
        (
            webhook("https://x", &["order.shipped"]),
            "data.observes[0]",
            "invalid",
        ),
        (
            webhook("ftp://x", &["order.created"]),
            "data.configuration.url",
            "invalid",
        ),
        (
            json!({"data": {"type": "integration", "name": "q", "integration_type": "stomp", "observes": ["order.created"],
                "configuration": {"addresses": ["stomp+ssl://b-1.mq.amazonaws.com:61614"], "destination": "/queue/x"}}}),
            "data.configuration.addresses[0]",
            "not_supported",
        ),
        (json!({"data": {"type": "integration"}}), "data.name", "required"),
    ] {
        let r = app.post("/v2/integrations", &admin, body).await;
        assert_eq!(r.status, 400, "{}", r.body);
        let errors = r.body["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["source"] == source && e["title"] == title),
            "{source} {title}: {}",
            r.body
        );
    }
    let r = app
        .put(
            &format!("/v2/integrations/{id}"),
            &admin,
            json!({"data": {"type": "integration", "integration_type": "stomp"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.to_string().contains("data.configuration.addresses"),
        "{}",
        r.body
    );
    assert_same_dump(&before, &app.db.dump().await, "refused integration writes");

    // Admin only: a shopper's token gets nothing.
    let implicit = app.implicit_token().await;
    for path in [
        "/v2/integrations",
        &format!("/v2/integrations/{id}"),
        "/v2/integrations/logs",
    ] {
        let r = app.get(path, &implicit).await;
        assert!(r.status == 401 || r.status == 403, "{path}: {}", r.status);
    }
    assert_eq!(app.get("/v2/integrations/not-a-uuid", &admin).await.status, 404);
    assert_eq!(
        app.get(&format!("/v2/integrations/{}", Uuid::nil()), &admin)
            .await
            .status,
        404
    );
    assert_eq!(
        app.get(&format!("/v2/integrations/{}/jobs", Uuid::nil()), &admin)
            .await
            .status,
        404
    );
    assert_eq!(
        app.delete(&format!("/v2/integrations/{id}"), &admin).await.status,
        204
    );
    assert_eq!(
        app.get(&format!("/v2/integrations/{id}"), &admin).await.status,
        404
    );
    assert_eq!(
        app.delete(&format!("/v2/integrations/{id}"), &admin).await.status,
        404
    );
}

async fn events_are_delivered_with_their_payloads_and_the_secret(backend: Backend) {
    let app = spawn(backend, fast_policy()).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let observes = [
        "order.created",
        "order.updated",
        "order.paid",
        "order.fulfilled",
        "transaction.created",
        "customer.created",
        "customer.updated",
        "customer.deleted",
        "account.created",
        "account.updated",
        "account.deleted",
        "integration.created",
        "integration.deleted",
    ];
    let hook = integration(&app, &admin, webhook(&receiver.url, &observes)).await;
    // Another integration's creation is an event it observes.
    let mut other = webhook(&receiver.url, &["cart.updated"]);
    other["data"]["name"] = json!("other");
    other["data"]["enabled"] = json!(false);
    let other = integration(&app, &admin, other).await;

    let r = app
        .post(
            "/v2/customers",
            &admin,
            json!({"data": {"type": "customer", "name": "Ron", "email": "ron@example.com"}}),
        )
        .await;
    let customer = r.body["data"]["id"].as_str().unwrap().to_owned();
    app.put(
        &format!("/v2/customers/{customer}"),
        &admin,
        json!({"data": {"type": "customer", "name": "Ron S."}}),
    )
    .await;
    assert_eq!(
        app.delete(&format!("/v2/customers/{customer}"), &admin)
            .await
            .status,
        204
    );
    let account = crate::fixtures::account(&app, &admin, "Pawnee").await;
    app.put(
        &format!("/v2/accounts/{account}"),
        &admin,
        json!({"data": {"type": "account", "name": "Pawnee Parks"}}),
    )
    .await;
    assert_eq!(
        app.delete(&format!("/v2/accounts/{account}"), &admin)
            .await
            .status,
        204
    );
    enable_manual(&app, &admin).await;
    let order = app.guest_order(&admin, 1500).await;
    let r = pay(&app, &admin, &[], &order, payment("purchase", None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app
        .put(
            &format!("/v2/orders/{order}"),
            &admin,
            json!({"data": {"type": "order", "shipping": "fulfilled"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let got = receiver
        .wait_for(Duration::from_secs(10), |g| {
            [
                "order.fulfilled",
                "account.deleted",
                "customer.deleted",
                "integration.created",
            ]
            .iter()
            .all(|k| !of_kind(g, k).is_empty())
                && of_kind(g, "order.updated").len() == 2
        })
        .await;
    for d in &got {
        assert_eq!(d.secret.as_deref(), Some("secret_squirrel"));
        assert_eq!(d.body["attempt"], 1);
        assert_eq!(d.body["integration"]["id"], hook.as_str());
        assert_eq!(d.body["integration"]["integration_type"], "webhook");
        assert_eq!(d.body["integration"]["name"], "Order hook");
        assert_eq!(d.body["configuration"]["url"], receiver.url.as_str());
        assert!(Uuid::parse_str(d.body["id"].as_str().unwrap()).is_ok());
        // The deprecated `resources` is the payload as JSON text.
        let resources: Value = serde_json::from_str(d.body["resources"].as_str().unwrap()).unwrap();
        assert_eq!(resources, d.body["payload"]);
    }
    let one = |kind: &str| {
        let all = of_kind(&got, kind);
        assert_eq!(all.len(), 1, "{kind}");
        all[0].body["payload"].clone()
    };
    assert_eq!(one("integration.created")["data"]["id"], other.as_str());
    assert_eq!(one("integration.created")["data"]["name"], "other");
    assert_eq!(one("customer.created")["data"]["id"], customer.as_str());
    assert_eq!(one("customer.created")["data"]["email"], "ron@example.com");
    assert_eq!(one("customer.updated")["data"]["name"], "Ron S.");
    assert_eq!(
        one("customer.deleted"),
        json!({"type": "customer", "id": customer})
    );
    assert_eq!(one("account.created")["data"]["name"], "Pawnee");
    assert_eq!(one("account.updated")["data"]["name"], "Pawnee Parks");
    assert_eq!(one("account.deleted"), json!({"type": "account", "id": account}));
    let created = one("order.created");
    assert_eq!(created["data"]["id"], order.as_str());
    assert_eq!(created["data"]["payment"], "unpaid");
    assert_eq!(created["included"]["items"][0]["unit_price"]["amount"], 1500);
    let paid = one("order.paid");
    assert_eq!(paid["data"]["payment"], "paid");
    assert_eq!(paid["data"]["meta"]["display_price"]["paid"]["amount"], 1500);
    let t = one("transaction.created");
    assert_eq!(t["data"]["type"], "transaction");
    assert_eq!(t["data"]["amount"], 1500);
    assert_eq!(t["data"]["relationships"]["order"]["data"]["id"], order.as_str());
    assert_eq!(one("order.fulfilled")["data"]["shipping"], "fulfilled");
    // Not observed: nothing.
    assert!(of_kind(&got, "order.authorized").is_empty());

    // Every attempt is logged, and every event is a job.
    logs_when(&app, &admin, &hook, got.len()).await;
    let r = app
        .get(&format!("/v2/integrations/{hook}/jobs?page[limit]=100"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let jobs = r.body["data"].as_array().unwrap();
    assert_eq!(jobs.len(), got.len());
    assert!(
        jobs.iter()
            .all(|j| j["status"] == "delivered" && j["attempts"] == 1),
        "{jobs:#?}"
    );
    let job = jobs[0]["id"].as_str().unwrap();
    let r = app
        .get(&format!("/v2/integrations/{hook}/jobs/{job}/logs"), &admin)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let log = &r.body["data"][0];
    assert_eq!(log["type"], "integration-log");
    assert_eq!(log["succeeded"], true);
    assert_eq!(log["status_code"], 200);
    assert_eq!(log["relationships"]["job"]["data"]["id"], job);
    logs_when(&app, &admin, &hook, got.len()).await;
    let r = app.get(&format!("/v2/integrations/{hook}/logs"), &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], got.len() as u64);
    let r = app.get("/v2/integrations/logs", &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], got.len() as u64);

    // Deleting it: no more deliveries to it, even of its own deletion.
    assert_eq!(
        app.delete(&format!("/v2/integrations/{hook}"), &admin)
            .await
            .status,
        204
    );
    let before = receiver.got().len();
    app.guest_order(&admin, 100).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.got().len(), before);
    assert!(!receiver.overlapped());
}

async fn a_failing_receiver_is_retried_with_backoff_then_the_job_fails(backend: Backend) {
    let app = spawn(backend, fast_policy()).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    receiver.behave(|b| b.fail_next = 3);
    let hook = integration(&app, &admin, webhook(&receiver.url, &["customer.created"])).await;
    let started = Instant::now();
    app.post(
        "/v2/customers",
        &admin,
        json!({"data": {"type": "customer", "name": "A", "email": "a@example.com"}}),
    )
    .await;
    let got = receiver
        .wait_for(Duration::from_secs(10), |g| !g.is_empty())
        .await;
    // Three failures (after ~50–100, 100–200, 200–400 ms) and the fourth attempt delivered.
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
    let all = receiver.got();
    assert_eq!(
        all.iter().map(|d| d.status).collect::<Vec<_>>(),
        [500, 500, 500, 200]
    );
    let ids: HashSet<&str> = all.iter().map(|d| d.body["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "one event id across attempts");
    assert_eq!(
        all.iter()
            .map(|d| d.body["attempt"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(got[0].body["attempt"], 4);
    let logs = logs_when(&app, &admin, &hook, 4).await;
    // Newest first.
    assert_eq!(logs[0]["succeeded"], true);
    assert_eq!(logs[3]["succeeded"], false);
    assert_eq!(logs[3]["status_code"], 500);
    assert!(
        logs[3]["error_detail"].as_str().unwrap().contains("500"),
        "{}",
        logs[3]
    );
    assert!(logs[3]["duration_ms"].is_i64());

    // A receiver that never succeeds: max_attempts attempts, then failed.
    receiver.behave(|b| b.fail_next = 1000);
    app.post(
        "/v2/customers",
        &admin,
        json!({"data": {"type": "customer", "name": "B", "email": "b@example.com"}}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = app.get(&format!("/v2/integrations/{hook}/jobs"), &admin).await;
        let job = &r.body["data"][0];
        if job["status"] == "failed" {
            assert_eq!(job["attempts"], 6);
            break;
        }
        assert!(Instant::now() < deadline, "the job never failed: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.got().iter().filter(|d| d.status == 500).count(), 3 + 6);
}

async fn a_slow_receiver_times_out_and_never_slows_the_request(backend: Backend) {
    let app = spawn(
        backend,
        RetryPolicy {
            timeout_ms: 300,
            ..fast_policy()
        },
    )
    .await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    receiver.behave(|b| {
        b.slow_next = 1;
        b.slow_for = Duration::from_secs(2);
    });
    let hook = integration(&app, &admin, webhook(&receiver.url, &["order.created"])).await;
    let started = Instant::now();
    let order = app.guest_order(&admin, 700).await;
    // The checkout's answer did not wait for the receiver.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let got = receiver
        .wait_for(Duration::from_secs(10), |g| !g.is_empty())
        .await;
    assert_eq!(got[0].body["payload"]["data"]["id"], order.as_str());
    assert_eq!(got[0].body["attempt"], 2);
    let logs = logs_when(&app, &admin, &hook, 2).await;
    let first = &logs[1];
    assert_eq!(first["succeeded"], false);
    assert!(first["status_code"].is_null());
    assert!(
        first["error_detail"]
            .as_str()
            .unwrap()
            .contains("No answer within 300 ms"),
        "{first}"
    );
}

async fn events_wait_for_a_receiver_that_is_down(backend: Backend) {
    let app = spawn(
        backend,
        RetryPolicy {
            max_attempts: 100,
            ..fast_policy()
        },
    )
    .await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let hook = integration(&app, &admin, webhook(&receiver.url, &["account.created"])).await;
    receiver.pause().await;
    let mut accounts = HashSet::new();
    for i in 0..20 {
        accounts.insert(crate::fixtures::account(&app, &admin, &format!("account {i}")).await);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(receiver.got().is_empty());
    receiver.resume().await;
    let got = receiver
        .wait_for(Duration::from_secs(15), |g| g.len() >= 20)
        .await;
    let delivered: HashSet<String> = got
        .iter()
        .map(|d| d.body["payload"]["data"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(delivered, accounts, "nothing lost");
    assert!(got.iter().all(|d| d.body["attempt"].as_u64().unwrap() > 1));
    let r = app.get("/v2/integrations/logs?page[limit]=1", &admin).await;
    assert!(r.body["meta"]["results"]["total"].as_u64().unwrap() > 20);
    // The sweep deletes finished jobs, their logs and their events (here: all of them).
    logs_when(&app, &admin, &hook, 21).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .get(&format!("/v2/integrations/{hook}/jobs?page[limit]=100"), &admin)
        .await
        .body["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["status"] != "delivered")
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let store = app.store().await;
    let swept = store
        .delete_finished_jobs(kassa_core::time::now_millis() + 1)
        .await
        .unwrap();
    assert_eq!(swept, 20);
    let r = app.get(&format!("/v2/integrations/{hook}/logs"), &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 0);
    let r = app.get(&format!("/v2/integrations/{hook}/jobs"), &admin).await;
    assert_eq!(r.body["meta"]["results"]["total"], 0);
    // PostgreSQL keeps an event's payload apart from its jobs, SQLite in them: none is left.
    let dump = app.db.dump().await;
    let events = dump.iter().find(|(t, _)| t == "integration_events");
    match backend {
        Backend::Postgres => assert!(events.unwrap().1.is_empty(), "{events:?}"),
        Backend::Sqlite => assert!(events.is_none(), "{events:?}"),
    }
}

async fn a_disabled_integration_delivers_nothing(backend: Backend) {
    let app = spawn(backend, fast_policy()).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    let mut body = webhook(&receiver.url, &["account.created"]);
    body["data"]["enabled"] = json!(false);
    let off = integration(&app, &admin, body).await;
    crate::fixtures::account(&app, &admin, "quiet").await;
    // A job already queued when its integration is disabled is not delivered either.
    receiver.behave(|b| b.fail_next = 1);
    let on = integration(&app, &admin, webhook(&receiver.url, &["account.created"])).await;
    crate::fixtures::account(&app, &admin, "queued").await;
    receiver
        .wait_for(Duration::from_secs(5), |_| !receiver.got().is_empty())
        .await;
    let r = app
        .put(
            &format!("/v2/integrations/{on}"),
            &admin,
            json!({"data": {"type": "integration", "enabled": false}}),
        )
        .await;
    assert_eq!(r.status, 200);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let got = receiver.got();
    assert_eq!(got.len(), 1, "only the failed first attempt: {got:?}");
    let r = app.get(&format!("/v2/integrations/{off}/jobs"), &admin).await;
    assert_eq!(r.body["data"], json!([]));
    let r = app.get(&format!("/v2/integrations/{on}/jobs"), &admin).await;
    assert_eq!(r.body["data"][0]["status"], "pending");
}

/// The outbox rows are written in the change's transaction: a change that fails after they
/// were written leaves none.
async fn a_rolled_back_change_emits_nothing(backend: Backend) {
    let app = spawn(backend, fast_policy()).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    receiver.pause().await;
    let hook = integration(
        &app,
        &admin,
        webhook(&receiver.url, &["order.created", "customer.created"]),
    )
    .await;
    let store = app.store().await;
    let event = || kassa_core::integrations::Event {
        kind: kassa_core::integrations::EventKind::OrderCreated,
        payload: "{\"data\":{}}".into(),
        at: kassa_core::time::now_millis(),
    };
    let jobs = || async {
        app.get(&format!("/v2/integrations/{hook}/jobs"), &admin)
            .await
            .body["meta"]["results"]["total"]
            .as_u64()
            .unwrap()
    };
    let order = app.guest_order(&admin, 100).await;
    assert_eq!(jobs().await, 1);
    // The same order again: its events are written first, then the order's insert fails.
    let (placed, items) = store.order(order.parse().unwrap()).await.unwrap().unwrap();
    let e = store
        .place_order(placed, items, vec![], None, vec![event(), event()])
        .await
        .unwrap_err();
    assert!(
        matches!(e, kassa_core::Error::Conflict(_) | kassa_core::Error::Internal(_)),
        "{e:?}"
    );
    assert_eq!(jobs().await, 1);
    // A refused request: a taken email.
    let customer = json!({"data": {"type": "customer", "name": "C", "email": "c@example.com"}});
    assert_eq!(
        app.post("/v2/customers", &admin, customer.clone()).await.status,
        201
    );
    assert_eq!(app.post("/v2/customers", &admin, customer).await.status, 409);
    assert_eq!(jobs().await, 2);
}

async fn stomp_delivers_to_rabbitmq_and_retries_a_broker_that_is_down(backend: Backend) {
    let app = spawn(
        backend,
        RetryPolicy {
            max_attempts: 100,
            ..fast_policy()
        },
    )
    .await;
    let admin = app.admin_token().await;
    let queue = format!("/queue/kassa-test-{}", Uuid::new_v4().simple());
    let mut consumer = kassa::stomp::Connection::open("127.0.0.1", 61613, Some(("guest", "guest")))
        .await
        .expect("RabbitMQ's STOMP plugin on 127.0.0.1:61613 (rabbitmq-plugins enable rabbitmq_stomp)");
    consumer.subscribe(&queue).await.unwrap();
    // First a broker address where nothing listens.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let id = integration(
        &app,
        &admin,
        json!({"data": {"type": "integration", "name": "queue", "integration_type": "stomp",
            "observes": ["customer.created"],
            "configuration": {"addresses": [format!("stomp://127.0.0.1:{closed}")], "destination": queue,
                "username": "guest", "password": "guest"}}}),
    )
    .await;
    let r = app
        .post(
            "/v2/customers",
            &admin,
            json!({"data": {"type": "customer", "name": "Q", "email": "q@example.com"}}),
        )
        .await;
    let customer = r.body["data"]["id"].as_str().unwrap().to_owned();
    // Failed attempts are logged with the broker's address and the error.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.get(&format!("/v2/integrations/{id}/logs"), &admin).await;
        if r.body["meta"]["results"]["total"].as_u64().unwrap() >= 2 {
            let log = &r.body["data"][0];
            assert_eq!(log["succeeded"], false);
            assert!(
                log["error_detail"]
                    .as_str()
                    .unwrap()
                    .contains(&closed.to_string()),
                "{log}"
            );
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The broker comes back (the configuration names the real one): the same event arrives.
    let r = app
        .put(
            &format!("/v2/integrations/{id}"),
            &admin,
            json!({"data": {"type": "integration", "configuration": {"addresses": ["stomp://127.0.0.1:61613"],
                "destination": queue, "username": "guest", "password": "guest"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let Some(message) = consumer.next_message(Duration::from_secs(10)).await.unwrap() else {
        let r = app.get(&format!("/v2/integrations/{id}/logs"), &admin).await;
        panic!("no message; logs: {:#}", r.body);
    };
    let body: Value = serde_json::from_slice(&message.body).unwrap();
    assert_eq!(body["type"], "customer.created");
    assert_eq!(body["specversion"], "1.0");
    assert_eq!(body["integrationid"], id.as_str());
    assert_eq!(body["data"]["id"], customer.as_str());
    assert_eq!(body["data"]["type"], "customer");
    assert_eq!(message.header("kassa-event-id"), body["id"].as_str());
    assert!(body["attempt"].as_u64().unwrap() >= 3);
    // Exactly once here.
    assert!(
        consumer
            .next_message(Duration::from_millis(500))
            .await
            .unwrap()
            .is_none()
    );
    consumer.close().await;
}

/// An event committed just before a `kill -9` — its first attempt under way, unanswered — is
/// delivered by the restarted server once the dead node's lease has ended.
async fn an_event_committed_before_kill_9_is_delivered_after_restart(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let env = [
        ("KASSA_CLIENT_ID", "admin"),
        ("KASSA_CLIENT_SECRET", "admin-secret"),
        ("KASSA_INTEGRATION_TIMEOUT_MS", "1000"),
        ("KASSA_INTEGRATION_RETRY_BASE_MS", "100"),
        ("KASSA_INTEGRATION_MAX_ATTEMPTS", "100"),
    ];
    let receiver = Receiver::start().await;
    receiver.behave(|b| {
        b.slow_next = 1;
        b.slow_for = Duration::from_secs(3);
    });
    let server = Server::start(&db.url, &env);
    let http = reqwest::Client::new();
    let admin = token(&http, &server, "admin", "admin-secret").await;
    let call = |url: String, body: Value| {
        let (http, admin) = (http.clone(), admin.clone());
        async move {
            Resp::read(
                http.post(url)
                    .bearer_auth(&admin)
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let r = call(
        server.url("/v2/integrations"),
        webhook(&receiver.url, &["account.created"]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = call(
        server.url("/v2/accounts"),
        json!({"data": {"type": "account", "name": "Eagleton"}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let account = r.body["data"]["id"].as_str().unwrap().to_owned();
    // The first attempt has reached the receiver, which does not answer yet: kill the server.
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.state.lock().unwrap().seen == 0 {
        assert!(Instant::now() < deadline, "no attempt reached the receiver");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.signal("-KILL");
    drop(server);

    let restarted = Server::start(&db.url, &env);
    let got = receiver
        .wait_for(Duration::from_secs(20), |g| {
            g.iter().any(|d| d.body["attempt"].as_u64() >= Some(2))
        })
        .await;
    let after: Vec<&Delivery> = got
        .iter()
        .filter(|d| d.body["attempt"].as_u64() >= Some(2))
        .collect();
    assert_eq!(after[0].body["payload"]["data"]["id"], account.as_str());
    // The same event as the attempt that was cut off.
    let first = &receiver.got()[0];
    assert_eq!(after[0].body["id"], first.body["id"]);
    let admin = token(&http, &restarted, "admin", "admin-secret").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = Resp::read(
            http.get(restarted.url("/v2/integrations/logs"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap(),
        )
        .await;
        if r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["succeeded"] == true)
        {
            break;
        }
        assert!(Instant::now() < deadline, "{}", r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

backend_tests!(
    an_event_committed_before_kill_9_is_delivered_after_restart,
    admin_crud_and_validation,
    events_are_delivered_with_their_payloads_and_the_secret,
    a_failing_receiver_is_retried_with_backoff_then_the_job_fails,
    a_slow_receiver_times_out_and_never_slows_the_request,
    events_wait_for_a_receiver_that_is_down,
    a_disabled_integration_delivers_nothing,
    a_rolled_back_change_emits_nothing,
    stomp_delivers_to_rabbitmq_and_retries_a_broker_that_is_down,
);

/// Two nodes on one PostgreSQL share the outbox: 1,000 events, every one delivered, no attempt
/// delivered twice at once, with a receiver that fails every seventh request (so retries move
/// between the nodes).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_postgres_deliver_every_event_once_at_a_time() {
    let app = spawn(
        Backend::Postgres,
        RetryPolicy {
            max_attempts: 50,
            ..fast_policy()
        },
    )
    .await;
    let node = app.second_node().await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start().await;
    receiver.behave(|b| b.fail_every = 7);
    let hook = integration(&app, &admin, webhook(&receiver.url, &["account.created"])).await;
    // The other node sees the new integration within a second.
    tokio::time::sleep(kassa_api::integrations::OBSERVED_REFRESH + Duration::from_millis(200)).await;
    let urls = [app.url.clone(), node.url.clone()];
    let created = Arc::new(Mutex::new(HashSet::new()));
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let (http, admin, urls, created) = (
            app.http.clone(),
            admin.clone(),
            urls.clone(),
            Arc::clone(&created),
        );
        tasks.push(tokio::spawn(async move {
            for i in (worker..1000).step_by(16) {
                let r = http
                    .post(format!("{}/v2/accounts", urls[i % 2]))
                    .bearer_auth(&admin)
                    .json(&json!({"data": {"type": "account", "name": format!("account {i}")}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                let body: Value = r.json().await.unwrap();
                created
                    .lock()
                    .unwrap()
                    .insert(body["data"]["id"].as_str().unwrap().to_owned());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let created = created.lock().unwrap().clone();
    assert_eq!(created.len(), 1000);
    let r = app
        .get(&format!("/v2/integrations/{hook}/jobs?page[limit]=1"), &admin)
        .await;
    assert_eq!(r.body["meta"]["results"]["total"], 1000, "one job per event");
    let got = receiver
        .wait_for(Duration::from_secs(120), |g| {
            g.iter()
                .map(|d| d.body["payload"]["data"]["id"].as_str().unwrap_or_default())
                .collect::<HashSet<_>>()
                .len()
                >= 1000
        })
        .await;
    let delivered: HashSet<String> = got
        .iter()
        .map(|d| d.body["payload"]["data"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(delivered, created, "every event delivered");
    assert!(!receiver.overlapped(), "an event was delivered twice at once");
    // Each (event, attempt) reached the receiver once.
    let mut attempts = HashSet::new();
    for d in receiver.got() {
        let key = (
            d.body["id"].as_str().unwrap().to_owned(),
            d.body["attempt"].as_u64().unwrap(),
        );
        assert!(attempts.insert(key.clone()), "attempt {key:?} delivered twice");
    }
}
