//! Integrations (`/v2/integrations`): what an integration is, which events it may observe, how its
//! configuration is checked, and the delivery rules (the retry schedule, what counts as a
//! success, the bodies sent). Pure: the stores keep the outbox, `kassa` delivers.
//!
//! An observed event is written to the outbox (`integration_jobs`, one row per event and
//! integration) in the same transaction as the change that caused it, so a change that rolls
//! back emits nothing and one that commits always does. Delivery is at least once: a job is
//! retried until it succeeds or [`RetryPolicy::max_attempts`] attempts have failed, and every
//! attempt carries the same event id.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::order_state::{Command, PayMethod, PaymentMethod, PaymentStatus};
use crate::time::Millis;
use crate::{Error, Result, Validator};

macro_rules! events {
    ($($variant:ident = $name:literal,)*) => {
        /// An observable event of Elastic Path's table that kassa emits.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind { $($variant,)* }

        impl EventKind {
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $name,)* }
            }

            pub fn parse(name: &str) -> Option<EventKind> {
                match name { $($name => Some(EventKind::$variant),)* _ => None }
            }
        }
    };
}

events! {
    AccountCreated = "account.created",
    AccountUpdated = "account.updated",
    AccountDeleted = "account.deleted",
    CustomerCreated = "customer.created",
    CustomerUpdated = "customer.updated",
    CustomerDeleted = "customer.deleted",
    IntegrationCreated = "integration.created",
    IntegrationUpdated = "integration.updated",
    IntegrationDeleted = "integration.deleted",
    OrderCreated = "order.created",
    OrderUpdated = "order.updated",
    OrderPaid = "order.paid",
    OrderAuthorized = "order.authorized",
    OrderFulfilled = "order.fulfilled",
    OrderCancelled = "order.cancelled",
    OrderRefunded = "order.refunded",
    TransactionCreated = "transaction.created",
    TransactionUpdated = "transaction.updated",
    CartUpdated = "cart.updated",
    CartDeleted = "cart.deleted",
    AddressCreated = "address.created",
    AddressUpdated = "address.updated",
    AddressDeleted = "address.deleted",
    CurrencyCreated = "currency.created",
    CurrencyUpdated = "currency.updated",
    CurrencyDeleted = "currency.deleted",
    CatalogReleaseCreated = "catalog-release.created",
    CatalogRuleCreated = "catalog-rule.created",
    CatalogRuleUpdated = "catalog-rule.updated",
    CatalogRuleDeleted = "catalog-rule.deleted",
    SettingsUpdated = "settings.updated",
    PaymentGatewayUpdated = "payment-gateway.updated",
    StockTransactionCreated = "stock-transaction.created",
    AccountMemberCreated = "account-member.created",
    AccountMemberUpdated = "account-member.updated",
    AccountMemberDeleted = "account-member.deleted",
    AccountMembershipCreated = "account-membership.created",
    AccountMembershipDeleted = "account-membership.deleted",
    UserAuthenticationInfoCreated = "user-authentication-info.created",
    UserAuthenticationInfoUpdated = "user-authentication-info.updated",
    UserAuthenticationInfoDeleted = "user-authentication-info.deleted",
    FileCreated = "file.created",
    FileDeleted = "file.deleted",
}

impl EventKind {
    /// This event's bit in a [`EventSet`].
    pub fn bit(self) -> u64 {
        let index = EventKind::ALL.iter().position(|k| *k == self).unwrap_or(0);
        1 << index
    }
}

/// A set of event kinds as one word, so the request path asks "does anything observe this?"
/// with one atomic load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventSet(pub u64);

impl EventSet {
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        EventSet(
            names
                .into_iter()
                .filter_map(EventKind::parse)
                .fold(0, |set, k| set | k.bit()),
        )
    }

    pub fn contains(self, kind: EventKind) -> bool {
        self.0 & kind.bit() != 0
    }
}

/// Events of Elastic Path's table that kassa does not emit (yet): accepted in `observes`, so an
/// integration made for Elastic Path can be created unchanged, but never delivered. Listed in
/// `docs/COMPATIBILITY.md`.
pub const NOT_EMITTED: &[&str] = &[
    "account-membership.updated",
    "one-time-password-token-request.created",
    "catalog-release.updated",
    "catalog-release.deleted",
    "settings.created",
];

/// Whether `name` is a key of Elastic Path's observable-events table.
pub fn is_observable(name: &str) -> bool {
    EventKind::parse(name).is_some() || NOT_EMITTED.contains(&name)
}

pub const MAX_NAME: usize = 255;
pub const MAX_DESCRIPTION: usize = 1024;
pub const MAX_URL: usize = 2048;
pub const MAX_SECRET: usize = 255;
pub const MAX_STOMP_ADDRESSES: usize = 10;
/// Integrations per store (Elastic Path's limit).
pub const MAX_INTEGRATIONS: i64 = 100;

/// The refusal of a create past [`MAX_INTEGRATIONS`] (decided in the create's transaction).
pub fn limit_reached() -> Error {
    Error::bad_request(
        "Integration limit reached",
        format!("A store can have at most {MAX_INTEGRATIONS} integrations"),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationType {
    Webhook,
    Stomp,
}

impl IntegrationType {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationType::Webhook => "webhook",
            IntegrationType::Stomp => "stomp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "webhook" => Some(IntegrationType::Webhook),
            "stomp" => Some(IntegrationType::Stomp),
            _ => None,
        }
    }
}

/// An integration as stored. `configuration` is the checked configuration object of its type.
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub integration_type: IntegrationType,
    pub observes: Vec<String>,
    pub configuration: Value,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The attributes a create or update sends, checked one by one (`None`: not sent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntegrationFields {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub integration_type: Option<IntegrationType>,
    pub observes: Option<Vec<String>>,
    pub configuration: Option<Value>,
}

/// Parses `data` of a create (`creating`: name, integration_type, observes and configuration
/// required) or an update, reporting every problem at once, each naming its field.
pub fn parse_fields(data: &Map<String, Value>, creating: bool) -> Result<IntegrationFields> {
    let mut v = Validator::new();
    let kind = data.get("type").and_then(Value::as_str);
    v.resource_type(kind, "integration");
    let string = |v: &mut Validator, key: &str| -> Option<String> {
        match data.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                v.push(
                    format!("data.{key}"),
                    "invalid",
                    format!("{key} must be a string"),
                );
                None
            }
        }
    };
    let name = string(&mut v, "name");
    let name = if creating {
        v.text(name, "data.name", MAX_NAME)
    } else {
        v.optional_text(name, "data.name", MAX_NAME)
    };
    let description = string(&mut v, "description");
    if let Some(d) = &description
        && d.chars().count() > MAX_DESCRIPTION
    {
        v.push(
            "data.description",
            "max_length",
            format!("description must be at most {MAX_DESCRIPTION} characters"),
        );
    }
    let enabled = match data.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            v.push("data.enabled", "invalid", "enabled must be true or false");
            None
        }
    };
    let integration_type = match string(&mut v, "integration_type").as_deref() {
        None => {
            if creating {
                v.push(
                    "data.integration_type",
                    "required",
                    "integration_type is required",
                );
            }
            None
        }
        Some("aws_sqs") => {
            v.push(
                "data.integration_type",
                "not_supported",
                "aws_sqs integrations are not supported by kassa: use webhook or stomp",
            );
            None
        }
        Some(other) => match IntegrationType::parse(other) {
            Some(t) => Some(t),
            None => {
                v.push(
                    "data.integration_type",
                    "invalid",
                    "integration_type must be webhook or stomp",
                );
                None
            }
        },
    };
    let observes = match data.get("observes") {
        None | Some(Value::Null) => {
            if creating {
                v.push("data.observes", "required", "observes is required");
            }
            None
        }
        Some(Value::Array(items)) => parse_observes(&mut v, items),
        Some(_) => {
            v.push(
                "data.observes",
                "invalid",
                "observes must be an array of event names",
            );
            None
        }
    };
    let configuration = match data.get("configuration") {
        None | Some(Value::Null) => {
            if creating {
                v.push("data.configuration", "required", "configuration is required");
            }
            None
        }
        Some(Value::Object(c)) => Some(Value::Object(c.clone())),
        Some(_) => {
            v.push("data.configuration", "invalid", "configuration must be an object");
            None
        }
    };
    v.finish()?;
    Ok(IntegrationFields {
        name,
        description,
        enabled,
        integration_type,
        observes,
        configuration,
    })
}

fn parse_observes(v: &mut Validator, items: &[Value]) -> Option<Vec<String>> {
    if items.is_empty() {
        v.push(
            "data.observes",
            "min_items",
            "observes must name at least one event",
        );
        return None;
    }
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(name) if is_observable(name) => {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            }
            Some(name) => {
                ok = false;
                v.push(
                    format!("data.observes[{i}]"),
                    "invalid",
                    format!("{name:?} is not an observable event"),
                );
            }
            None => {
                ok = false;
                v.push(
                    format!("data.observes[{i}]"),
                    "invalid",
                    "an observed event must be a string",
                );
            }
        }
    }
    ok.then_some(names)
}

/// A new integration from checked fields (`parse_fields(.., true)`), its configuration checked
/// against its type.
pub fn create(fields: IntegrationFields, id: Uuid, now: Millis) -> Result<Integration> {
    let mut integration = Integration {
        id,
        name: String::new(),
        description: String::new(),
        // Elastic Path does not say; an integration one creates is meant to run.
        enabled: true,
        integration_type: IntegrationType::Webhook,
        observes: Vec::new(),
        configuration: Value::Null,
        created_at: now,
        updated_at: now,
    };
    apply(&mut integration, fields, now)?;
    Ok(integration)
}

/// Applies an update's fields. A new configuration replaces the old one whole; a new type needs
/// a configuration of that type (the old one is checked against it otherwise).
pub fn apply(integration: &mut Integration, fields: IntegrationFields, now: Millis) -> Result<()> {
    if let Some(name) = fields.name {
        integration.name = name;
    }
    if let Some(description) = fields.description {
        integration.description = description;
    }
    if let Some(enabled) = fields.enabled {
        integration.enabled = enabled;
    }
    if let Some(t) = fields.integration_type {
        integration.integration_type = t;
    }
    if let Some(observes) = fields.observes {
        integration.observes = observes;
    }
    let configuration = fields
        .configuration
        .unwrap_or_else(|| integration.configuration.clone());
    integration.configuration = check_configuration(integration.integration_type, &configuration)?;
    integration.updated_at = now;
    Ok(())
}

/// A webhook's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    pub secret_key: Option<String>,
}

/// A STOMP broker's address (`stomp://host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StompAddress {
    pub host: String,
    pub port: u16,
}

/// A STOMP integration's configuration: the brokers to try in order, the destination, and the
/// optional login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StompConfig {
    pub addresses: Vec<StompAddress>,
    pub destination: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

fn config_string(
    v: &mut Validator,
    c: &Map<String, Value>,
    key: &str,
    required: bool,
    max: usize,
) -> Option<String> {
    let source = format!("data.configuration.{key}");
    match c.get(key) {
        None | Some(Value::Null) => {
            if required {
                v.push(source, "required", format!("{key} is required"));
            }
            None
        }
        Some(Value::String(s)) => v.optional_text(Some(s.clone()), &source, max),
        Some(_) => {
            v.push(source, "invalid", format!("{key} must be a string"));
            None
        }
    }
}

/// An absolute `http` or `https` URL with a host.
fn check_url(v: &mut Validator, url: &str) {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    if host.is_none_or(|h| h.is_empty() || h.contains(char::is_whitespace))
        || url.contains(char::is_whitespace)
    {
        v.push(
            "data.configuration.url",
            "invalid",
            "url must be an absolute http:// or https:// URL",
        );
    }
}

fn parse_stomp_address(text: &str) -> Option<StompAddress> {
    let rest = text
        .strip_prefix("stomp://")
        .or_else(|| text.strip_prefix("tcp://"))?;
    let (host, port) = rest.trim_end_matches('/').rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', ' ']) {
        return None;
    }
    Some(StompAddress {
        host: host.to_owned(),
        port: port.parse().ok().filter(|p| *p != 0)?,
    })
}

/// Checks `configuration` for `kind` and returns it as stored: only the known keys.
pub fn check_configuration(kind: IntegrationType, configuration: &Value) -> Result<Value> {
    let empty = Map::new();
    let c = configuration.as_object().unwrap_or(&empty);
    let mut v = Validator::new();
    let stored = match kind {
        IntegrationType::Webhook => {
            let url = config_string(&mut v, c, "url", true, MAX_URL);
            if let Some(url) = &url {
                check_url(&mut v, url);
            }
            let secret = config_string(&mut v, c, "secret_key", false, MAX_SECRET);
            let mut out = Map::new();
            out.insert("url".into(), json!(url));
            if let Some(secret) = secret {
                out.insert("secret_key".into(), json!(secret));
            }
            Value::Object(out)
        }
        IntegrationType::Stomp => {
            let addresses = match c.get("addresses") {
                Some(Value::Array(list)) if !list.is_empty() && list.len() <= MAX_STOMP_ADDRESSES => {
                    let mut out = Vec::new();
                    for (i, a) in list.iter().enumerate() {
                        let source = format!("data.configuration.addresses[{i}]");
                        match a.as_str() {
                            Some(text) if text.starts_with("stomp+ssl://") || text.starts_with("ssl://") => v
                                .push(
                                    source,
                                    "not_supported",
                                    "STOMP over TLS is not supported by kassa: use stomp://host:port",
                                ),
                            Some(text) if parse_stomp_address(text).is_some() => out.push(text.to_owned()),
                            _ => v.push(source, "invalid", "an address must be stomp://host:port"),
                        }
                    }
                    out
                }
                None | Some(Value::Null) => {
                    v.push(
                        "data.configuration.addresses",
                        "required",
                        "addresses is required",
                    );
                    Vec::new()
                }
                Some(_) => {
                    v.push(
                        "data.configuration.addresses",
                        "invalid",
                        format!("addresses must be an array of 1 to {MAX_STOMP_ADDRESSES} stomp://host:port addresses"),
                    );
                    Vec::new()
                }
            };
            let destination = config_string(&mut v, c, "destination", true, MAX_URL);
            let username = config_string(&mut v, c, "username", false, MAX_SECRET);
            let password = config_string(&mut v, c, "password", false, MAX_SECRET);
            let mut out = Map::new();
            out.insert("addresses".into(), json!(addresses));
            out.insert("destination".into(), json!(destination));
            if let Some(u) = username {
                out.insert("username".into(), json!(u));
            }
            if let Some(p) = password {
                out.insert("password".into(), json!(p));
            }
            Value::Object(out)
        }
    };
    v.finish()?;
    Ok(stored)
}

impl WebhookConfig {
    pub fn of(configuration: &Value) -> Option<Self> {
        Some(Self {
            url: configuration.get("url")?.as_str()?.to_owned(),
            secret_key: configuration
                .get("secret_key")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

impl StompConfig {
    pub fn of(configuration: &Value) -> Option<Self> {
        let text = |k: &str| configuration.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            addresses: configuration
                .get("addresses")?
                .as_array()?
                .iter()
                .filter_map(|a| parse_stomp_address(a.as_str()?))
                .collect(),
            destination: text("destination")?,
            username: text("username"),
            password: text("password"),
        })
    }
}

/// The configuration as the API shows it: a STOMP password is masked (`****` and its last four
/// characters, as Elastic Path shows credentials); a webhook's `secret_key` is shown, as it is
/// sent in every delivery anyway.
pub fn shown_configuration(configuration: &Value) -> Value {
    let mut shown = configuration.clone();
    if let Some(p) = shown.get_mut("password")
        && let Some(text) = p.as_str()
    {
        let tail: String = text
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        *p = json!(format!("****{tail}"));
    }
    shown
}

/// One observed event, rendered by the API and written to the outbox in the change's
/// transaction: one job per enabled integration that observes `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The resource as the API renders it (`{"data": …}`; `{"type", "id"}` for a deletion).
    pub payload: String,
    pub at: Millis,
}

/// Renders the events of a change from its outcome, inside the change's transaction.
pub type Emit<T> = Box<dyn FnOnce(&T) -> Vec<Event> + Send>;

/// Delivery settings: how often, how long, how far apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first one included), after which a job is `failed`.
    pub max_attempts: u32,
    /// The delay before the first retry; each later one doubles, up to `max_delay_ms`.
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// How long a receiver may take to answer (Elastic Path: 10 s).
    pub timeout_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base_delay_ms: 5_000,
            max_delay_ms: 600_000,
            timeout_ms: 10_000,
        }
    }
}

/// What a lease allows beyond an attempt's timeout: the time to record the attempt.
const LEASE_MARGIN_MS: u64 = 2_000;

impl RetryPolicy {
    /// How long a leased job is reserved for its node: twice the timeout and a margin, so a
    /// lease never ends while its attempt may still be under way (22 s by default).
    pub fn lease_ms(&self) -> u64 {
        self.timeout_ms * 2 + LEASE_MARGIN_MS
    }

    /// Whether an attempt may start at `now` under a lease ending at `lease_until`: only if it
    /// ends (by its timeout at the latest) and is recorded before the lease does.
    pub fn may_start(&self, lease_until: Millis, now: Millis) -> bool {
        lease_until - now >= (self.timeout_ms + LEASE_MARGIN_MS) as i64
    }

    /// The delay after failed attempt `attempt` (1-based) before the next one, or `None` when
    /// that was the last: `d = min(base · 2^(attempt-1), max)`, then "equal jitter" — a uniform
    /// draw in `[d/2, d]` (`jitter` in `[0, 1)`), so receivers that failed together are not
    /// retried together.
    pub fn retry_delay(&self, attempt: u32, jitter: f64) -> Option<u64> {
        if attempt >= self.max_attempts {
            return None;
        }
        let doubling = 1u64.checked_shl(attempt.saturating_sub(1)).unwrap_or(u64::MAX);
        let d = self.base_delay_ms.saturating_mul(doubling).min(self.max_delay_ms);
        let jitter = jitter.clamp(0.0, 1.0);
        Some(d / 2 + ((d - d / 2) as f64 * jitter) as u64)
    }
}

/// A job a node took for one attempt, as the store leases it: the event, and which integration
/// (its id and version) it goes to. The worker keeps the integrations it delivers to, so a
/// lease neither reads nor parses an integration per job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueJob {
    pub id: Uuid,
    pub event: String,
    pub payload: String,
    pub created_at: Millis,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    pub integration_id: Uuid,
    /// The integration's `updated_at` when the job was leased: a kept copy of another version
    /// is read again.
    pub integration_version: Millis,
}

/// Where a store hands the jobs that its own writes make to this node's worker: each is written
/// already leased to `node` for `lease_ms`, and sent here once its write is committed (and, on
/// SQLite, durable), so the worker neither polls for it nor leases it in a write of its own. A job
/// is handed only while the channel has room (a permit is reserved when it is written); the others
/// are written due, for any node's poll.
#[derive(Debug, Clone)]
pub struct JobHandoff {
    pub node: Uuid,
    pub lease_ms: u64,
    pub jobs: tokio::sync::mpsc::Sender<HandedJob>,
}

/// A job handed to the worker of the node that wrote it, leased to that node until `lease_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedJob {
    pub job: DueJob,
    pub lease_until: Millis,
}

/// A job a node took for one attempt: the event and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct LeasedJob {
    pub id: Uuid,
    pub event: String,
    pub payload: String,
    pub created_at: Millis,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    pub integration: std::sync::Arc<Integration>,
}

impl LeasedJob {
    pub fn new(due: DueJob, integration: std::sync::Arc<Integration>) -> Self {
        Self {
            id: due.id,
            event: due.event,
            payload: due.payload,
            created_at: due.created_at,
            attempt: due.attempt,
            integration,
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub job_id: Uuid,
    pub integration_id: Uuid,
    pub attempt: u32,
    pub succeeded: bool,
    pub status_code: Option<u16>,
    /// The start of the receiver's answer (at most [`MAX_LOGGED_BODY`] bytes).
    pub body: Option<String>,
    pub error_detail: Option<String>,
    pub duration_ms: i64,
    pub at: Millis,
    /// When to try again (`None`: no retry, the job is delivered or failed).
    pub retry_at: Option<Millis>,
}

impl Attempt {
    /// Where this attempt leaves its job, and when the job is next due (for a pending one).
    pub fn settles(&self) -> (JobStatus, Millis) {
        match (self.succeeded, self.retry_at) {
            (true, _) => (JobStatus::Delivered, self.at),
            (false, Some(at)) => (JobStatus::Pending, at),
            (false, None) => (JobStatus::Failed, self.at),
        }
    }
}

/// How much of a receiver's answer a log keeps.
pub const MAX_LOGGED_BODY: usize = 1024;

/// The first [`MAX_LOGGED_BODY`] bytes of an answer, cut at a character boundary.
pub fn excerpt(body: &str) -> String {
    let mut end = body.len().min(MAX_LOGGED_BODY);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].to_owned()
}

/// A logged attempt, as `/logs` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationLog {
    pub id: Uuid,
    pub job_id: Uuid,
    pub integration_id: Uuid,
    pub attempt: u32,
    pub succeeded: bool,
    pub status_code: Option<u16>,
    pub body: Option<String>,
    pub error_detail: Option<String>,
    pub duration_ms: i64,
    pub created_at: Millis,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Delivered,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Delivered => "delivered",
            JobStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(JobStatus::Pending),
            "delivered" => Some(JobStatus::Delivered),
            "failed" => Some(JobStatus::Failed),
            _ => None,
        }
    }
}

/// One event's delivery to one integration, as `/jobs` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationJob {
    pub id: Uuid,
    pub integration_id: Uuid,
    pub event: String,
    pub status: JobStatus,
    pub attempts: u32,
    pub next_at: Millis,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The body a webhook receives (Elastic Path's shape): the event id (stable across attempts),
/// what triggered it, the attempt, the integration, the resource (`payload`, and the deprecated
/// `resources` as its JSON text) and the configuration.
///
/// The stored payload is spliced in as it is (it is the JSON the API rendered), not parsed again.
pub fn webhook_body(job: &LeasedJob) -> String {
    let i = &*job.integration;
    let payload = if job.payload.is_empty() {
        "null"
    } else {
        job.payload.as_str()
    };
    // Written straight into one buffer (no `Value` tree): the payload appears twice, once as
    // JSON text (`resources`) and once as it is (`payload`).
    let configuration = i.configuration.to_string();
    let mut body = String::with_capacity(2 * payload.len() + configuration.len() + 320);
    let text = |body: &mut String, s: &str| {
        body.push_str(&serde_json::to_string(s).unwrap_or_default());
    };
    body.push_str("{\"id\":\"");
    body.push_str(&job.id.to_string());
    body.push_str("\",\"triggered_by\":");
    text(&mut body, &job.event);
    body.push_str(",\"attempt\":");
    body.push_str(&job.attempt.to_string());
    body.push_str(",\"integration\":{\"id\":\"");
    body.push_str(&i.id.to_string());
    body.push_str("\",\"integration_type\":\"");
    body.push_str(i.integration_type.as_str());
    body.push_str("\",\"name\":");
    text(&mut body, &i.name);
    body.push_str(",\"description\":");
    text(&mut body, &i.description);
    body.push_str("},\"resources\":");
    text(&mut body, &job.payload);
    body.push_str(",\"configuration\":");
    body.push_str(&configuration);
    body.push_str(",\"payload\":");
    body.push_str(payload);
    body.push('}');
    body
}

/// The message a STOMP destination receives: a CloudEvent, as Elastic Path sends to queues,
/// whose `data` is the resource itself (the payload's `data`).
pub fn queue_message(job: &LeasedJob, source: &str) -> String {
    let mut payload: Value = serde_json::from_str(&job.payload).unwrap_or(Value::Null);
    let data = match payload.get_mut("data") {
        Some(d) => d.take(),
        None => payload,
    };
    json!({
        "data": data,
        "datacontenttype": "application/json",
        "id": job.id,
        "integrationid": job.integration.id,
        "source": source,
        "specversion": "1.0",
        "type": job.event,
        "time": crate::time::rfc3339(job.created_at),
        "attempt": job.attempt,
    })
    .to_string()
}

/// The events of an order change (`None`: a field edit): `order.updated` always (Elastic Path:
/// "when the order is captured, completed, refunded, anonymized, or updated"), the transaction's
/// event, and the event the command stands for when it took effect (`order.paid` only once the
/// order is paid, `order.authorized` once it is authorized).
pub fn order_change_events(command: Option<&Command>, after: PaymentStatus) -> Vec<EventKind> {
    use EventKind::*;
    let mut events = match command {
        None => vec![],
        Some(Command::Pay { method, .. }) => {
            let mut e = vec![TransactionCreated];
            match method {
                PaymentMethod::Pay(PayMethod::Purchase) if after == PaymentStatus::Paid => e.push(OrderPaid),
                PaymentMethod::Pay(PayMethod::Authorize) if after == PaymentStatus::Authorized => {
                    e.push(OrderAuthorized)
                }
                _ => {}
            }
            e
        }
        Some(Command::Capture(_)) => {
            let mut e = vec![TransactionUpdated];
            if after == PaymentStatus::Paid {
                e.push(OrderPaid);
            }
            e
        }
        Some(Command::Refund { .. }) => vec![TransactionUpdated, OrderRefunded],
        Some(Command::Cancel) => vec![OrderCancelled],
        Some(Command::Fulfil) => vec![OrderFulfilled],
    };
    events.push(OrderUpdated);
    events
}

/// A deletion's payload: only the resource's type and id.
pub fn deleted_payload(kind: &str, id: impl std::fmt::Display) -> String {
    json!({ "type": kind, "id": id.to_string() }).to_string()
}

/// Whether a webhook's answer counts as delivered (Elastic Path: any 2xx).
pub fn delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The refusal of a job or log of an unknown integration.
pub fn integration_not_found() -> Error {
    Error::not_found("Not Found", "No integration found")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(data: Value, creating: bool) -> std::result::Result<IntegrationFields, Vec<String>> {
        parse_fields(data.as_object().unwrap(), creating).map_err(|e| match e {
            Error::Validation(p) => p
                .into_iter()
                .map(|p| format!("{} {}", p.source, p.title))
                .collect(),
            other => vec![other.to_string()],
        })
    }

    #[test]
    fn create_fields_are_checked_each_naming_its_field() {
        let ok = json!({"type": "integration", "name": "n", "integration_type": "webhook",
            "observes": ["order.created", "order.created", "cart.updated"],
            "configuration": {"url": "https://example.com/hook"}});
        let f = fields(ok, true).unwrap();
        assert_eq!(f.observes.unwrap(), vec!["order.created", "cart.updated"]);
        let cases: &[(Value, &[&str])] = &[
            (
                json!({}),
                &[
                    "data.type required",
                    "data.name required",
                    "data.integration_type required",
                    "data.observes required",
                    "data.configuration required",
                ],
            ),
            (
                json!({"type": "integration", "name": "n", "integration_type": "aws_sqs", "observes": ["order.created"],
                "configuration": {}}),
                &["data.integration_type not_supported"],
            ),
            (
                json!({"type": "integration", "name": "n", "integration_type": "ftp", "observes": ["order.created"],
                "configuration": {}}),
                &["data.integration_type invalid"],
            ),
            (
                json!({"type": "integration", "name": "n", "integration_type": "webhook", "observes": ["order.shipped", 3],
                "configuration": {}}),
                &["data.observes[0] invalid", "data.observes[1] invalid"],
            ),
            (
                json!({"type": "integration", "name": "n", "integration_type": "webhook", "observes": [],
                "configuration": []}),
                &["data.observes min_items", "data.configuration invalid"],
            ),
            (
                json!({"type": "integration", "name": " ", "enabled": "yes", "integration_type": "webhook",
                "observes": "order.created", "configuration": {}}),
                &[
                    "data.name min_length",
                    "data.enabled invalid",
                    "data.observes invalid",
                ],
            ),
        ];
        for (data, want) in cases {
            assert_eq!(fields(data.clone(), true).unwrap_err(), *want, "{data}");
        }
        // An update may leave anything out but the type.
        assert_eq!(
            fields(json!({"type": "integration"}), false).unwrap(),
            IntegrationFields::default()
        );
    }

    #[test]
    fn configurations_are_checked_against_the_type() {
        let problems = |t, c: Value| match check_configuration(t, &c) {
            Ok(stored) => Ok(stored),
            Err(Error::Validation(p)) => Err(p.into_iter().map(|p| p.source).collect::<Vec<_>>()),
            Err(e) => panic!("{e}"),
        };
        use IntegrationType::*;
        assert_eq!(
            problems(
                Webhook,
                json!({"url": "http://localhost:9/x", "secret_key": "s", "other": 1})
            )
            .unwrap(),
            json!({"url": "http://localhost:9/x", "secret_key": "s"})
        );
        for bad in ["ftp://x", "https://", "localhost/x", "http://a b"] {
            assert_eq!(
                problems(Webhook, json!({"url": bad})).unwrap_err(),
                ["data.configuration.url"],
                "{bad}"
            );
        }
        assert_eq!(
            problems(Webhook, json!({})).unwrap_err(),
            ["data.configuration.url"]
        );
        assert_eq!(
            problems(Webhook, json!({"url": "https://x", "secret_key": 5})).unwrap_err(),
            ["data.configuration.secret_key"]
        );
        let stomp = json!({"addresses": ["stomp://127.0.0.1:61613"], "destination": "/queue/q",
            "username": "guest", "password": "guest"});
        assert_eq!(problems(Stomp, stomp.clone()).unwrap(), stomp);
        assert_eq!(
            problems(Stomp, json!({"addresses": ["stomp+ssl://h:61614", "h:1"]})).unwrap_err(),
            [
                "data.configuration.addresses[0]",
                "data.configuration.addresses[1]",
                "data.configuration.destination"
            ]
        );
        assert_eq!(
            problems(Stomp, json!({"addresses": [], "destination": "/q"})).unwrap_err(),
            ["data.configuration.addresses"]
        );
        let c = StompConfig::of(&stomp).unwrap();
        assert_eq!(
            c.addresses,
            [StompAddress {
                host: "127.0.0.1".into(),
                port: 61613
            }]
        );
        assert_eq!(shown_configuration(&stomp)["password"], "****uest");
    }

    #[test]
    fn updates_merge_and_recheck_the_configuration() {
        let f = fields(
            json!({"type": "integration", "name": "n", "integration_type": "webhook",
                "observes": ["order.paid"], "configuration": {"url": "https://x"}}),
            true,
        )
        .unwrap();
        let mut i = create(f, Uuid::nil(), 1).unwrap();
        assert!(i.enabled);
        // Switching to STOMP without a STOMP configuration is refused and names the field.
        let switch = IntegrationFields {
            integration_type: Some(IntegrationType::Stomp),
            ..Default::default()
        };
        assert!(apply(&mut i.clone(), switch, 2).is_err());
        let disable = IntegrationFields {
            enabled: Some(false),
            ..Default::default()
        };
        apply(&mut i, disable, 3).unwrap();
        assert!(!i.enabled);
        assert_eq!(i.updated_at, 3);
        assert_eq!(i.configuration, json!({"url": "https://x"}));
    }

    #[test]
    fn every_emitted_event_has_a_bit_and_the_table_is_known() {
        assert!(EventKind::ALL.len() <= 64);
        let all = EventSet::of(EventKind::ALL.iter().map(|k| k.as_str()));
        for k in EventKind::ALL {
            assert!(all.contains(*k));
            assert_eq!(EventKind::parse(k.as_str()), Some(*k));
            assert!(!NOT_EMITTED.contains(&k.as_str()));
        }
        let set = EventSet::of(["order.paid", "address.updated", "nonsense"]);
        assert!(set.contains(EventKind::OrderPaid));
        assert!(!set.contains(EventKind::OrderCreated));
        assert!(is_observable("address.updated") && !is_observable("order.shipped"));
    }

    #[test]
    fn the_retry_schedule_doubles_with_jitter_up_to_the_limit() {
        let p = RetryPolicy::default();
        // (attempt, jitter) → delay: d/2 + jitter·d/2.
        for (attempt, jitter, want) in [
            (1, 0.0, Some(2_500)),
            (1, 0.999_999, Some(4_999)),
            (2, 0.5, Some(7_500)),
            (3, 0.0, Some(10_000)),
            (8, 1.0, Some(600_000)),
            (9, 0.0, Some(300_000)),
            (10, 0.0, None),
            (11, 0.0, None),
        ] {
            assert_eq!(p.retry_delay(attempt, jitter), want, "attempt {attempt}");
        }
        // Without jitter the whole schedule is at most ~31 minutes.
        let worst: u64 = (1..p.max_attempts).map(|a| p.retry_delay(a, 1.0).unwrap()).sum();
        assert!(worst <= 31 * 60_000, "{worst}");
        assert!(p.lease_ms() > p.timeout_ms);
        let huge = RetryPolicy {
            max_attempts: 200,
            ..p
        };
        assert_eq!(huge.retry_delay(150, 1.0), Some(600_000));
    }

    #[test]
    fn an_attempt_starts_only_while_its_lease_outlasts_it() {
        let p = RetryPolicy::default(); // 10 s timeout, 22 s lease
        let written = 1_000_000;
        let lease_until = written + p.lease_ms() as i64;
        // (ms after the lease began, may start)
        for (after, want) in [
            (0, true),
            (5_000, true),
            (10_000, true),
            (10_001, false),
            (22_000, false),
        ] {
            assert_eq!(p.may_start(lease_until, written + after), want, "{after} ms in");
        }
    }

    #[test]
    fn order_changes_emit_what_they_did() {
        use EventKind::*;
        let pay = |m| Command::Pay {
            id: Uuid::nil(),
            method: m,
            amount: None,
        };
        let purchase = PaymentMethod::Pay(PayMethod::Purchase);
        let authorize = PaymentMethod::Pay(PayMethod::Authorize);
        for (command, after, want) in [
            (None, PaymentStatus::Unpaid, vec![OrderUpdated]),
            (
                Some(pay(purchase)),
                PaymentStatus::Paid,
                vec![TransactionCreated, OrderPaid, OrderUpdated],
            ),
            (
                Some(pay(purchase)),
                PaymentStatus::PartiallyPaid,
                vec![TransactionCreated, OrderUpdated],
            ),
            (
                Some(pay(authorize)),
                PaymentStatus::Authorized,
                vec![TransactionCreated, OrderAuthorized, OrderUpdated],
            ),
            (
                Some(pay(PaymentMethod::Setup(PayMethod::Purchase))),
                PaymentStatus::Unpaid,
                vec![TransactionCreated, OrderUpdated],
            ),
            (
                Some(Command::Capture(Uuid::nil())),
                PaymentStatus::Paid,
                vec![TransactionUpdated, OrderPaid, OrderUpdated],
            ),
            (
                Some(Command::Refund {
                    transaction: Uuid::nil(),
                    amount: None,
                }),
                PaymentStatus::Refunded,
                vec![TransactionUpdated, OrderRefunded, OrderUpdated],
            ),
            (
                Some(Command::Cancel),
                PaymentStatus::Unpaid,
                vec![OrderCancelled, OrderUpdated],
            ),
            (
                Some(Command::Fulfil),
                PaymentStatus::Paid,
                vec![OrderFulfilled, OrderUpdated],
            ),
        ] {
            assert_eq!(order_change_events(command.as_ref(), after), want, "{command:?}");
        }
    }

    #[test]
    fn bodies_have_elastic_paths_shapes() {
        let job = LeasedJob {
            id: Uuid::nil(),
            event: "order.paid".into(),
            payload: r#"{"data":{"type":"order","id":"o1"}}"#.into(),
            created_at: 0,
            attempt: 2,
            integration: std::sync::Arc::new(Integration {
                id: Uuid::nil(),
                name: "n".into(),
                description: "d".into(),
                enabled: true,
                integration_type: IntegrationType::Webhook,
                observes: vec!["order.paid".into()],
                configuration: json!({"url": "https://x", "secret_key": "s"}),
                created_at: 0,
                updated_at: 0,
            }),
        };
        let body: Value = serde_json::from_str(&webhook_body(&job)).unwrap();
        assert_eq!(body["triggered_by"], "order.paid");
        assert_eq!(body["attempt"], 2);
        assert_eq!(body["payload"]["data"]["id"], "o1");
        assert_eq!(body["resources"], job.payload);
        assert_eq!(body["integration"]["integration_type"], "webhook");
        assert_eq!(body["configuration"]["secret_key"], "s");
        assert_eq!(body["id"], Uuid::nil().to_string());
        assert_eq!(body["integration"]["name"], "n");
        assert_eq!(body["integration"]["description"], "d");
        let message: Value = serde_json::from_str(&queue_message(&job, "kassa")).unwrap();
        assert_eq!(message["data"]["id"], "o1");
        assert_eq!(message["type"], "order.paid");
        assert_eq!(message["specversion"], "1.0");
        assert_eq!(excerpt(&"é".repeat(600)).len(), 1024);
        assert!(delivered(204) && !delivered(301) && !delivered(500));
    }
}
