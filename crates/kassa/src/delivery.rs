//! The delivery worker: one per node. It takes jobs — handed over in memory by the store (the
//! jobs this node's own writes made, written already leased to it: `hand_over_jobs`) or leased
//! from the outbox (`lease_jobs`) — delivers each (a webhook `POST` or a STOMP `SEND`) under the
//! policy's timeout, and records the attempt (`record_attempts`): delivered, due again after the
//! retry delay, or failed after the last attempt. It polls for other nodes' events, for retries
//! that came due and for jobs whose lease ended; on a backend that hands nothing over it also
//! wakes when a request on this node committed events. Requests never wait for it, and the attempts
//! themselves (the HTTP exchange or the STOMP session, most of a delivery's CPU) run on a thread
//! of lower priority ([`attempts_runtime`]): under a load that takes every core the requests go
//! first, and the deliveries slow down, never stop, and catch up when a core is idle.
//!
//! A node that dies mid-attempt leaves its jobs leased; the lease ends after
//! [`RetryPolicy::lease_ms`] and any node takes them again (with the next attempt number), so
//! nothing is lost and, the lease outlasting any attempt, no attempt runs twice at once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kassa_api::integrations::{Integrations, OBSERVED_REFRESH};
use kassa_core::integrations::{
    Attempt, DueJob, HandedJob, Integration, IntegrationType, JobHandoff, LeasedJob, RetryPolicy,
    StompConfig, WebhookConfig, delivered, excerpt, queue_message, webhook_body,
};
use kassa_core::store::Store;
use kassa_core::time::now_millis;
use rand::Rng;
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

use crate::stomp;

/// Deliveries under way at once per node.
pub const MAX_IN_FLIGHT: usize = 64;
/// How often the worker looks for jobs nobody woke it for (other nodes' events, retries).
pub const POLL: Duration = Duration::from_millis(500);
/// After a commit wakes the worker, how long it waits for more before leasing: commits that
/// come together are leased together (one write instead of one each).
const GATHER: Duration = Duration::from_millis(10);
/// Jobs handed over and not yet taken by the worker, at most: beyond, jobs are written due and
/// polled for (a node that dies loses none of them, but the handed ones wait for their lease).
const HANDOFF_CAPACITY: usize = 1_024;
/// Most attempts recorded in one write.
const RECORD_BATCH: usize = 256;
/// How long a stopping node waits for its deliveries under way; the others are retried after
/// their lease by whichever node is up.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The webhook client: rustls with the system's root certificates, no redirects (a 3xx is a
/// failed delivery, as any non-2xx), the policy's timeout around each whole attempt.
pub fn http_client() -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kassa/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(MAX_IN_FLIGHT);
    for cert in system_roots() {
        builder = builder.add_root_certificate(cert);
    }
    builder.build().unwrap_or_else(|_| reqwest::Client::new())
}

/// The operating system's CA bundle (`SSL_CERT_FILE`, else Debian's/Alpine's, Fedora's or
/// openSUSE's path): read as PEM, so HTTPS webhooks need no root store compiled in.
fn system_roots() -> Vec<reqwest::Certificate> {
    let candidates = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/ca-bundle.pem",
                "/etc/ssl/cert.pem",
            ]
            .map(std::path::PathBuf::from),
        );
    for path in candidates {
        if let Ok(pem) = std::fs::read(&path)
            && let Ok(certs) = reqwest::Certificate::from_pem_bundle(&pem)
            && !certs.is_empty()
        {
            return certs;
        }
    }
    tracing::warn!("no CA bundle found (set SSL_CERT_FILE): HTTPS webhooks will fail");
    Vec::new()
}

/// Runs this node's worker until `stop` resolves.
pub async fn run(store: Arc<dyn Store>, integrations: Arc<Integrations>, stop: impl Future<Output = ()>) {
    let node = Uuid::new_v4();
    let policy = integrations.policy;
    let client = http_client();
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let freed = Arc::new(Notify::new());
    // Attempts are recorded in batches by one task: one write for all that finished meanwhile.
    // A delivery's slot is free as soon as it is done (its job stays leased until recorded), so
    // leasing and delivering go on while a batch is written.
    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel::<Attempt>();
    let recorder = {
        let store = Arc::clone(&store);
        kassa_core::context::spawn(async move {
            let mut batch = Vec::new();
            while finished.recv_many(&mut batch, RECORD_BATCH).await > 0 {
                if let Err(e) = store.record_attempts(node, std::mem::take(&mut batch)).await {
                    // Their leases end and the jobs are tried again: at least once.
                    tracing::warn!(error = %e, "could not record delivery attempts");
                }
            }
        })
    };
    // The jobs this node's own writes make are handed over in memory, already leased to it (on
    // backends that can): no poll and no lease write for them.
    let (handoff, mut handed) = tokio::sync::mpsc::channel::<HandedJob>(HANDOFF_CAPACITY);
    let handoff = JobHandoff {
        node,
        lease_ms: policy.lease_ms(),
        jobs: handoff,
    };
    let mut handing = store.hand_over_jobs(handoff).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "jobs are not handed over: the worker polls for them");
        false
    });
    let mut ready: Vec<HandedJob> = Vec::new();
    // The integrations this node delivers to, by id: a job names its integration and that
    // integration's version, and only a version not kept here is read.
    let mut kept: HashMap<Uuid, Arc<Integration>> = HashMap::new();
    let mut refresh = tokio::time::interval(OBSERVED_REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut polls = tokio::time::interval(POLL);
    polls.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut poll = true;
    tokio::pin!(stop);
    loop {
        let free = slots.available_permits();
        let now = now_millis();
        let take = ready.len().min(free);
        // A handed job whose lease could end during its attempt is left to the lease's end, when
        // a poll takes it again: no attempt ever runs twice at once.
        let mut due: Vec<DueJob> = ready
            .drain(..take)
            .filter(|h| policy.may_start(h.lease_until, now))
            .map(|h| h.job)
            .collect();
        let mut full_batch = false;
        let room = free - take;
        if poll && room > 0 {
            match store
                .lease_jobs(node, now, now + policy.lease_ms() as i64, room)
                .await
            {
                Ok(jobs) => {
                    full_batch = jobs.len() == room;
                    due.extend(jobs);
                }
                Err(e) => tracing::warn!(error = %e, "could not lease integration jobs"),
            }
        }
        // More may be due: poll again as soon as there is room.
        poll = full_batch;
        for job in resolve(&*store, &mut kept, due).await {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let (client, done, freed) = (client.clone(), done.clone(), Arc::clone(&freed));
            spawn_attempt(async move {
                let attempt = attempt(&client, &job, &policy).await;
                let _ = done.send(attempt);
                drop(permit);
                freed.notify_one();
            });
        }
        let waiting = full_batch || !ready.is_empty();
        if waiting && slots.available_permits() > 0 {
            continue;
        }
        tokio::select! {
            () = &mut stop => break,
            taken = handed.recv_many(&mut ready, MAX_IN_FLIGHT), if handing && ready.is_empty() => {
                // None: the store has gone (it held the other end); poll, as without a handoff.
                handing = taken > 0;
            }
            () = integrations.next_commit(), if !handing => {
                tokio::time::sleep(GATHER).await;
                poll = true;
            }
            () = freed.notified(), if waiting => {}
            _ = polls.tick() => poll = true,
            _ = refresh.tick() => {
                if let Err(e) = integrations.reload(&*store).await {
                    tracing::warn!(error = %e, "could not re-read the observed events");
                }
            }
        }
    }
    // Let the deliveries under way finish (and be recorded) for a moment.
    let _ = tokio::time::timeout(STOP_GRACE, slots.acquire_many(MAX_IN_FLIGHT as u32)).await;
    drop(done);
    let _ = tokio::time::timeout(STOP_GRACE, recorder).await;
}

/// The runtime the attempts run on: one worker thread (and its blocking pool) at niceness 10,
/// for every store of this process. Only the attempts run there: the worker's leases and records
/// stay on the request runtime, so no database connection's I/O is ever driven by a lower-priority
/// thread (a request could wait on it). `None` when its thread could not be started: the attempts
/// then run with the requests.
fn attempts_runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("kassa-delivery")
                .on_thread_start(kassa_api::background::yield_to_requests)
                .enable_all()
                .build()
                .inspect_err(|e| tracing::warn!(error = %e, "deliveries run at the requests' priority"))
                .ok()
        })
        .as_ref()
}

/// Runs one attempt on [`attempts_runtime`], in the spawning work's store context.
fn spawn_attempt(attempt: impl Future<Output = ()> + Send + 'static) {
    let attempt = kassa_core::context::scope(kassa_core::context::current(), attempt);
    match attempts_runtime() {
        Some(runtime) => drop(runtime.spawn(attempt)),
        None => drop(tokio::spawn(attempt)),
    }
}

/// The leased jobs with their integrations, from `kept` or read (and kept) when `kept` has
/// another version or none. A job whose integration is gone is left out (its jobs went with it);
/// one whose integration cannot be read now is left to its lease's end.
async fn resolve(
    store: &dyn Store,
    kept: &mut HashMap<Uuid, Arc<Integration>>,
    due: Vec<DueJob>,
) -> Vec<LeasedJob> {
    let mut jobs = Vec::with_capacity(due.len());
    for job in due {
        let current = kept
            .get(&job.integration_id)
            .filter(|i| i.updated_at == job.integration_version)
            .cloned();
        let integration = match current {
            Some(i) => i,
            None => match store.integration(job.integration_id).await {
                Ok(Some(i)) => {
                    let i = Arc::new(i);
                    kept.insert(i.id, Arc::clone(&i));
                    i
                }
                Ok(None) => {
                    kept.remove(&job.integration_id);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not read an integration to deliver to");
                    continue;
                }
            },
        };
        // Disabled since the job was written: it waits, as the due jobs of a disabled one do.
        if integration.enabled {
            jobs.push(LeasedJob::new(job, integration));
        }
    }
    jobs
}

/// One attempt of `job`: deliver, and say what came of it and when to try again.
pub async fn attempt(client: &reqwest::Client, job: &LeasedJob, policy: &RetryPolicy) -> Attempt {
    let started = Instant::now();
    let timeout = Duration::from_millis(policy.timeout_ms);
    let outcome = match tokio::time::timeout(timeout, deliver(client, job)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome {
            succeeded: false,
            status_code: None,
            body: None,
            error_detail: Some(format!(
                "No answer within {} ms: treated as a failure",
                policy.timeout_ms
            )),
        },
    };
    let at = now_millis();
    let retry_at = if outcome.succeeded {
        None
    } else {
        let jitter: f64 = rand::rng().random();
        policy
            .retry_delay(job.attempt, jitter)
            .map(|delay| at + delay as i64)
    };
    Attempt {
        job_id: job.id,
        integration_id: job.integration.id,
        attempt: job.attempt,
        succeeded: outcome.succeeded,
        status_code: outcome.status_code,
        body: outcome.body,
        error_detail: outcome.error_detail,
        duration_ms: started.elapsed().as_millis() as i64,
        at,
        retry_at,
    }
}

struct Outcome {
    succeeded: bool,
    status_code: Option<u16>,
    body: Option<String>,
    error_detail: Option<String>,
}

impl Outcome {
    fn failed(detail: String) -> Self {
        Self {
            succeeded: false,
            status_code: None,
            body: None,
            error_detail: Some(detail),
        }
    }
}

async fn deliver(client: &reqwest::Client, job: &LeasedJob) -> Outcome {
    match job.integration.integration_type {
        IntegrationType::Webhook => match WebhookConfig::of(&job.integration.configuration) {
            Some(config) => webhook(client, job, &config).await,
            None => Outcome::failed("The integration's webhook configuration is incomplete".into()),
        },
        IntegrationType::Stomp => match StompConfig::of(&job.integration.configuration) {
            Some(config) => queue(job, &config).await,
            None => Outcome::failed("The integration's STOMP configuration is incomplete".into()),
        },
    }
}

async fn webhook(client: &reqwest::Client, job: &LeasedJob, config: &WebhookConfig) -> Outcome {
    let mut request = client
        .post(&config.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(webhook_body(job));
    if let Some(secret) = &config.secret_key {
        request = request.header("X-MOLTIN-SECRET-KEY", secret);
    }
    let mut response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            let what = if e.is_connect() {
                "Could not connect to the webhook"
            } else {
                "The webhook request failed"
            };
            return Outcome::failed(format!("{what}: {}", error_chain(&e)));
        }
    };
    let status = response.status().as_u16();
    // Only the start of the answer is kept; the rest is not read.
    let mut body = Vec::new();
    while body.len() < kassa_core::integrations::MAX_LOGGED_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let body = excerpt(&String::from_utf8_lossy(&body));
    let succeeded = delivered(status);
    Outcome {
        succeeded,
        status_code: Some(status),
        body: Some(body),
        error_detail: (!succeeded)
            .then(|| format!("Received status code {status}, outside the 2xx range: treated as a failure")),
    }
}

/// The error and its causes on one line (reqwest's own message hides the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn queue(job: &LeasedJob, config: &StompConfig) -> Outcome {
    let message = queue_message(job, "kassa");
    let login = config
        .username
        .as_deref()
        .map(|u| (u, config.password.as_deref().unwrap_or("")));
    let mut errors = Vec::new();
    for address in &config.addresses {
        let connection = stomp::Connection::open(&address.host, address.port, login).await;
        let mut connection = match connection {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("{}:{}: {e}", address.host, address.port));
                continue;
            }
        };
        let id = job.id.to_string();
        let attempt = job.attempt.to_string();
        let sent = connection
            .send(
                &config.destination,
                message.as_bytes(),
                &[
                    ("kassa-event-id", id.as_str()),
                    ("kassa-event-type", job.event.as_str()),
                    ("kassa-attempt", attempt.as_str()),
                ],
            )
            .await;
        connection.close().await;
        return match sent {
            Ok(()) => Outcome {
                succeeded: true,
                status_code: None,
                body: Some(format!("RECEIPT from {}:{}", address.host, address.port)),
                error_detail: None,
            },
            Err(e) => Outcome::failed(format!("{}:{}: {e}", address.host, address.port)),
        };
    }
    Outcome::failed(format!("No STOMP broker took the message: {}", errors.join("; ")))
}
