//! Scenarios as journeys of steps, and the closed-loop virtual users that run them.
//!
//! A journey is a list of [`Step`]s; each virtual user runs its scenario's journey again and again
//! until the time is up. A step says which request it makes ([`Step::request`]) and what later
//! steps need from its answer ([`Step::keep`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::ValueEnum;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

use crate::seed::{Fixture, login_body};

const ACCOUNT_TOKEN_HEADER: &str = "EP-Account-Management-Authentication-Token";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// `GET /healthz`: the HTTP floor.
    Floor,
    /// `GET /healthz` on a new connection each time: over TLS a full handshake (no session
    /// resumption), so requests/s is handshakes/s.
    Handshake,
    /// `GET /catalog/products/{id}` of a random product, with an implicit token.
    Catalog,
    /// Create an account cart, add 3 custom items, read the cart.
    Cart,
    /// The shopper journey: read a product, create an account cart, add 3 product items and 1
    /// custom item, check out with the account token, pay (manual purchase).
    Journey,
    /// Checkout alone: one bulk add of 3 product lines to a new cart, then its checkout.
    Checkout,
    /// The same with 1, 10 and 100 product lines: checkout cost against cart size.
    #[value(name = "checkout-1")]
    #[serde(rename = "checkout-1")]
    Checkout1,
    #[value(name = "checkout-10")]
    #[serde(rename = "checkout-10")]
    Checkout10,
    #[value(name = "checkout-100")]
    #[serde(rename = "checkout-100")]
    Checkout100,
    /// 10,000 guest carts edited at once: each request adds to a random one of them.
    Edit,
    /// `POST /v2/account-members/tokens` with a password (Argon2: slow on purpose).
    Login,
    /// `POST /catalog/multi-search`: a typed query of a word of the product names, with a brand
    /// facet and a price-range filter, as a storefront's listing sends it.
    Search,
    /// `POST /catalog/multi-search` autocomplete: the first three letters of a word.
    Autocomplete,
    /// Checkout (as `checkout`) while the catalog is published again at the start of the measured
    /// window, so its search index is rebuilt under the load.
    #[value(name = "checkout-indexing")]
    #[serde(rename = "checkout-indexing")]
    CheckoutIndexing,
    /// A store per test's life (`/_kassa/`, so the emulator must be on): create a store, log in
    /// to it with its client credentials, make a cart in it, delete it.
    Stores,
    /// `GET /v2/orders` on a store seeded with `--orders` orders: an account's orders newest first
    /// (account token), and as an admin by status, by customer email and by a day of `created_at`.
    Orders,
    /// `checkout` with rule promotions: among 100 enabled promotions (seeded before its first
    /// run, so the scenarios before it run without any), two automatic ones apply to every cart
    /// and the shopper adds a code of a third in the bulk add of the lines, then checks out.
    #[value(name = "checkout-promo")]
    #[serde(rename = "checkout-promo")]
    CheckoutPromo,
    /// `checkout` with a bundle line besides the 3 product lines: a bundle of
    /// [`crate::seed::BUNDLE_COMPONENTS`] components priced by its selection, each component one
    /// of two options picked at random, added in the same bulk add with its
    /// `bundle_configuration`; every component product is stock-managed.
    #[value(name = "checkout-bundle")]
    #[serde(rename = "checkout-bundle")]
    CheckoutBundle,
}

/// How the virtual users talk to kassa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Plain HTTP/1.1, keep-alive.
    Http,
    /// HTTP/1.1 over TLS, keep-alive.
    Https,
    /// HTTP/2 over TLS, one connection per virtual user.
    H2,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::H2 => "h2",
        }
    }
}

/// Where and how the virtual users of a run connect.
#[derive(Clone)]
pub struct Target {
    pub protocol: Protocol,
    /// `http://…` or `https://…`.
    pub base: String,
    /// The development CA the HTTPS listener's certificate is signed by (PEM).
    pub ca: Option<Vec<u8>>,
}

impl Target {
    /// A client (so a connection) per virtual user, as separate shoppers have: no pool shared
    /// between virtual users, no lock in the load generator. `handshake` keeps no connection.
    fn client(&self, scenario: Scenario) -> anyhow::Result<reqwest::Client> {
        let fresh = scenario == Scenario::Handshake;
        let mut builder = reqwest::Client::builder()
            .pool_max_idle_per_host(if fresh { 0 } else { 1 })
            .tcp_nodelay(true);
        if self.protocol == Protocol::Http {
            return Ok(builder.build()?);
        }
        let ca = self.ca.as_deref().context("HTTPS without the CA")?;
        if fresh {
            // A full handshake every time: the client keeps no TLS session to resume.
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca) {
                roots.add(cert?)?;
            }
            #[allow(deprecated)] // ring, as kassa (its tls.rs)
            let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
            let mut config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.resumption = tokio_rustls::rustls::client::Resumption::disabled();
            config.alpn_protocols = match self.protocol {
                Protocol::H2 => vec![b"h2".to_vec()],
                _ => vec![b"http/1.1".to_vec()],
            };
            builder = builder.use_preconfigured_tls(config);
        } else {
            builder = builder
                .add_root_certificate(reqwest::Certificate::from_pem(ca)?)
                .tls_built_in_root_certs(false);
        }
        builder = match self.protocol {
            Protocol::H2 => builder.http2_prior_knowledge(),
            _ => builder.http1_only(),
        };
        Ok(builder.build()?)
    }
}

/// How many carts the `edit` scenario spreads its writes over.
pub const EDITED_CARTS: usize = 10_000;

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Floor => "floor",
            Scenario::Handshake => "handshake",
            Scenario::Catalog => "catalog",
            Scenario::Cart => "cart",
            Scenario::Journey => "journey",
            Scenario::Checkout => "checkout",
            Scenario::Checkout1 => "checkout-1",
            Scenario::Checkout10 => "checkout-10",
            Scenario::Checkout100 => "checkout-100",
            Scenario::Edit => "edit",
            Scenario::Login => "login",
            Scenario::Orders => "orders",
            Scenario::Search => "search",
            Scenario::Autocomplete => "autocomplete",
            Scenario::CheckoutIndexing => "checkout-indexing",
            Scenario::Stores => "stores",
            Scenario::CheckoutPromo => "checkout-promo",
            Scenario::CheckoutBundle => "checkout-bundle",
        }
    }

    pub fn journey(self) -> &'static [Step] {
        match self {
            Scenario::Floor | Scenario::Handshake => &[Step::Health],
            Scenario::Catalog => &[Step::GetProduct],
            Scenario::Cart => &[
                Step::CreateCart,
                Step::AddCustomItem(0),
                Step::AddCustomItem(1),
                Step::AddCustomItem(2),
                Step::GetCart,
            ],
            Scenario::Journey => &[
                Step::GetProduct,
                Step::CreateCart,
                Step::AddProductItem,
                Step::AddProductItem,
                Step::AddProductItem,
                Step::AddCustomItem(0),
                Step::Checkout,
                Step::Pay,
            ],
            Scenario::Checkout | Scenario::CheckoutIndexing => &[Step::FillCart(3), Step::Checkout],
            // The code goes in the same bulk add as the lines (EP's bulk add takes a
            // `promotion_item`), so both checkout journeys make two requests.
            Scenario::CheckoutPromo => &[Step::FillCartWithCode(3), Step::Checkout],
            Scenario::CheckoutBundle => &[Step::FillCartWithBundle(3), Step::Checkout],
            Scenario::Search => &[Step::Search],
            Scenario::Autocomplete => &[Step::Autocomplete],
            Scenario::Checkout1 => &[Step::FillCart(1), Step::Checkout],
            Scenario::Checkout10 => &[Step::FillCart(10), Step::Checkout],
            Scenario::Checkout100 => &[Step::FillCart(100), Step::Checkout],
            Scenario::Edit => &[Step::EditCart],
            Scenario::Login => &[Step::Login],
            Scenario::Stores => &[
                Step::CreateStore,
                Step::StoreLogin,
                Step::StoreCart,
                Step::DeleteStore,
            ],
            Scenario::Orders => &[
                Step::AccountOrders,
                Step::OrdersByStatus,
                Step::OrdersByEmail,
                Step::OrdersOfADay,
            ],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Health,
    GetProduct,
    CreateCart,
    /// The n-th custom item of the journey (its own sku, so each is a line).
    AddCustomItem(u8),
    /// One unit of a random catalog product.
    AddProductItem,
    GetCart,
    /// One bulk add of this many distinct product lines to a new cart (made by the add itself).
    FillCart(u8),
    /// [`Step::FillCart`] with the promotion code [`crate::seed::PROMO_CODE`] as one more item
    /// of the bulk add.
    FillCartWithCode(u8),
    /// [`Step::FillCart`] with one unit of the seeded bundle as one more item of the bulk add,
    /// configured with a random option of each component.
    FillCartWithBundle(u8),
    /// Checkout with the account token (the cart is the account's).
    Checkout,
    /// A manual-gateway purchase of the whole order, with the account token.
    Pay,
    /// A custom item added to a random one of [`EDITED_CARTS`] guest carts.
    EditCart,
    Login,
    AccountOrders,
    OrdersByStatus,
    OrdersByEmail,
    OrdersOfADay,
    Search,
    Autocomplete,
    /// `POST /_kassa/stores`, as the server's admin.
    CreateStore,
    /// A client_credentials token of the store just made.
    StoreLogin,
    /// A cart in it, with that token.
    StoreCart,
    DeleteStore,
}

/// One request to make.
pub struct Request {
    method: Method,
    path: String,
    account_token: bool,
    implicit_token: bool,
    /// A client_credentials token instead of the implicit one.
    admin_token: bool,
    /// A token of the virtual user's own test store instead.
    store_token: bool,
    body: Option<Value>,
    /// A form body instead of JSON.
    form: Option<Vec<(&'static str, String)>>,
}

impl Step {
    /// The endpoint latencies are grouped by (a route, never a raw path).
    pub fn endpoint(self) -> &'static str {
        match self {
            Step::Health => "GET /healthz",
            Step::GetProduct => "GET /catalog/products/{id}",
            Step::CreateCart => "POST /v2/carts",
            Step::AddCustomItem(_) | Step::AddProductItem | Step::FillCart(_) | Step::EditCart => {
                "POST /v2/carts/{id}/items"
            }
            Step::GetCart => "GET /v2/carts/{id}",
            Step::FillCartWithCode(_) => "POST /v2/carts/{id}/items (with a promotion_item)",
            Step::FillCartWithBundle(_) => "POST /v2/carts/{id}/items (with a bundle line)",
            Step::Checkout => "POST /v2/carts/{id}/checkout",
            Step::Pay => "POST /v2/orders/{id}/payments",
            Step::Login => "POST /v2/account-members/tokens",
            Step::AccountOrders => "GET /v2/orders (account token, newest first)",
            Step::OrdersByStatus => "GET /v2/orders?filter=eq(status,…)",
            Step::OrdersByEmail => "GET /v2/orders?filter=eq(email,…)",
            Step::OrdersOfADay => "GET /v2/orders?filter=ge(created_at,…):lt(created_at,…)",
            Step::Search => "POST /catalog/multi-search (q, facet, filter)",
            Step::Autocomplete => "POST /catalog/multi-search (autocomplete)",
            Step::CreateStore => "POST /_kassa/stores",
            Step::StoreLogin => "POST /oauth/access_token (a test store's client_credentials)",
            Step::StoreCart => "POST /v2/carts (in a test store)",
            Step::DeleteStore => "DELETE /_kassa/stores/{id}",
        }
    }

    fn request(self, vu: &mut Vu) -> Request {
        let get = |path: String, account_token| Request {
            method: Method::GET,
            path,
            account_token,
            implicit_token: true,
            admin_token: false,
            store_token: false,
            body: None,
            form: None,
        };
        let post = |path: String, account_token, body| Request {
            method: Method::POST,
            path,
            account_token,
            implicit_token: true,
            admin_token: false,
            store_token: false,
            body: Some(body),
            form: None,
        };
        let admin_get = |path: String| Request {
            implicit_token: false,
            admin_token: true,
            ..get(path, false)
        };
        let cart = vu.cart_id.as_deref().unwrap_or("missing");
        let store = vu.store.clone().unwrap_or_default();
        match self {
            Step::CreateStore => Request {
                implicit_token: false,
                admin_token: true,
                ..post("/_kassa/stores".into(), false, json!({"data": {}}))
            },
            Step::StoreLogin => Request {
                implicit_token: false,
                body: None,
                form: Some(vec![
                    ("grant_type", "client_credentials".into()),
                    ("client_id", store.client_id),
                    ("client_secret", store.client_secret),
                ]),
                ..post("/oauth/access_token".into(), false, Value::Null)
            },
            Step::StoreCart => Request {
                implicit_token: false,
                store_token: true,
                ..post(
                    "/v2/carts".into(),
                    false,
                    json!({"data": {"name": "A test's cart"}}),
                )
            },
            Step::DeleteStore => Request {
                method: Method::DELETE,
                ..admin_get(format!("/_kassa/stores/{}", store.id))
            },
            Step::Health => Request {
                implicit_token: false,
                ..get("/healthz".into(), false)
            },
            Step::GetProduct => get(format!("/catalog/products/{}", vu.random_product()), false),
            Step::CreateCart => post(
                "/v2/carts".into(),
                true,
                json!({"data": {"name": "Bench cart", "description": "kassa-bench"}}),
            ),
            Step::AddCustomItem(n) => post(
                format!("/v2/carts/{cart}/items"),
                true,
                json!({"data": {"type": "custom_item", "name": format!("Bench item {n}"),
                                "sku": format!("BENCH-CUSTOM-{n}"), "quantity": 1 + u64::from(n),
                                "price": {"amount": 1000 + 250 * u64::from(n)}}}),
            ),
            Step::AddProductItem => post(
                format!("/v2/carts/{cart}/items"),
                true,
                json!({"data": {"type": "cart_item", "id": vu.random_product(), "quantity": 1}}),
            ),
            Step::GetCart => get(format!("/v2/carts/{cart}"), true),
            Step::FillCartWithCode(lines) => {
                let mut r = Step::FillCart(lines).request(vu);
                if let Some(Value::Array(items)) = r.body.as_mut().and_then(|b| b.get_mut("data")) {
                    items.push(json!({"type": "promotion_item", "code": crate::seed::PROMO_CODE}));
                }
                r
            }
            Step::FillCartWithBundle(lines) => {
                let mut r = Step::FillCart(lines).request(vu);
                let bundle = vu.fixture.bundle.as_ref().map(|b| {
                    let selected: serde_json::Map<String, Value> = b
                        .components
                        .iter()
                        .map(|(key, options)| {
                            let option = &options[vu.rng.below(options.len())];
                            (key.clone(), json!({ option.clone(): 1 }))
                        })
                        .collect();
                    json!({"type": "cart_item", "id": b.id, "quantity": 1,
                           "bundle_configuration": {"selected_options": selected}})
                });
                if let (Some(Value::Array(items)), Some(bundle)) =
                    (r.body.as_mut().and_then(|b| b.get_mut("data")), bundle)
                {
                    items.push(bundle);
                }
                r
            }
            Step::FillCart(lines) => {
                // A cart id of the client's choosing: the first add creates the cart, as in EP.
                // The run's number keeps it new: a checked-out cart keeps its lines, so an id of
                // an earlier run would add to that run's cart.
                vu.carts_made += 1;
                let id = format!("bench-{}-{}-{}", vu.run, vu.id, vu.carts_made);
                let products = &vu.fixture.product_ids;
                let first = vu.rng.below(products.len());
                let items: Vec<Value> = (0..usize::from(lines))
                    .map(|i| {
                        json!({"type": "cart_item", "id": products[(first + i) % products.len()],
                               "quantity": 1 + i % 3})
                    })
                    .collect();
                vu.cart_id = Some(id.clone());
                post(format!("/v2/carts/{id}/items"), true, json!({ "data": items }))
            }
            Step::Checkout => post(
                format!("/v2/carts/{cart}/checkout"),
                true,
                json!({"data": {
                    "contact": {"name": "Bench Shopper", "email": "shopper@bench.example"},
                    "billing_address": ADDRESS.clone(),
                    "shipping_address": ADDRESS.clone(),
                }}),
            ),
            Step::Pay => post(
                format!(
                    "/v2/orders/{}/payments",
                    vu.order_id.as_deref().unwrap_or("missing")
                ),
                true,
                json!({"data": {"gateway": "manual", "method": "purchase"}}),
            ),
            Step::EditCart => {
                let i = vu.rng.below(EDITED_CARTS);
                let n = vu.rng.below(3);
                post(
                    format!("/v2/carts/bench-edit-{i}/items"),
                    false,
                    json!({"data": {"type": "custom_item", "name": format!("Edited item {n}"),
                                    "sku": format!("BENCH-EDIT-{n}"), "quantity": 1,
                                    "price": {"amount": 500}}}),
                )
            }
            Step::Login => {
                let i = vu.rng.below(vu.fixture.usernames.len());
                post(
                    "/v2/account-members/tokens".into(),
                    false,
                    login_body(
                        &vu.fixture.password_profile_id,
                        &vu.fixture.usernames[i],
                        &vu.fixture.password,
                    ),
                )
            }
            Step::AccountOrders => get("/v2/orders".into(), true),
            Step::Search => {
                let word = crate::seed::NOUNS[vu.rng.below(crate::seed::NOUNS.len())];
                let low = 5 * vu.rng.below(10);
                post(
                    "/catalog/multi-search".into(),
                    false,
                    json!({"searches": [{"type": "search", "q": word, "facet_by": "brand",
                        "filter_by": format!("price:[{low}..{}]", low + 30), "per_page": 20}]}),
                )
            }
            Step::Autocomplete => {
                let word = crate::seed::NOUNS[vu.rng.below(crate::seed::NOUNS.len())];
                post(
                    "/catalog/multi-search".into(),
                    false,
                    json!({"searches": [{"type": "autocomplete", "q": &word[..3], "highlight_full_fields": "name"}]}),
                )
            }
            Step::OrdersByStatus => {
                let status = ["complete", "incomplete", "processing", "cancelled"][vu.rng.below(4)];
                admin_get(format!("/v2/orders?filter=eq(status,{status})"))
            }
            Step::OrdersByEmail => {
                let k = vu.rng.below(crate::orders::EMAILS);
                admin_get(format!("/v2/orders?filter=eq(email,customer{k}@bench.example)"))
            }
            Step::OrdersOfADay => {
                let from = vu.fixture.orders_from_ms
                    + vu.rng.below(crate::orders::DAYS as usize) as i64 * 86_400_000;
                admin_get(format!(
                    "/v2/orders?filter=ge(created_at,{from}):lt(created_at,{})",
                    from + 86_400_000
                ))
            }
        }
    }

    /// Whether the step's response body is needed by later steps.
    fn keeps_body(self) -> bool {
        matches!(
            self,
            Step::CreateCart
                | Step::Checkout
                | Step::FillCartWithCode(_)
                | Step::FillCartWithBundle(_)
                | Step::CreateStore
                | Step::StoreLogin
        )
    }

    /// Takes what later steps need from a successful response. The body is read into typed
    /// fields that skip everything else without building it: the bench shares the machine with
    /// kassa, and a scenario whose answers it parses whole (`checkout-promo`'s add, with its
    /// discounts and promotion items) would otherwise pay for the client as well.
    fn keep(self, vu: &mut Vu, bytes: &[u8]) -> Result<(), &'static str> {
        fn read<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, &'static str> {
            serde_json::from_slice(bytes).map_err(|_| "the body is not the expected JSON")
        }
        match self {
            Step::CreateCart => vu.cart_id = Some(read::<Created>(bytes)?.data.id.into_owned()),
            Step::Checkout => vu.order_id = Some(read::<Created>(bytes)?.data.id.into_owned()),
            Step::CreateStore => vu.store = Some(read::<StoreCreated>(bytes)?.data),
            Step::StoreLogin => vu.store_token = Some(read::<Token>(bytes)?.access_token),
            // The code must have been taken (a refused item is listed in `errors` of a 201).
            Step::FillCartWithCode(_) if read::<Added<serde::de::IgnoredAny>>(bytes)?.errors.is_some() => {
                return Err("the promotion code was refused");
            }
            // The bundle line must be there, with its configuration (no bundle seeded: none).
            Step::FillCartWithBundle(_) => {
                let added: Added<Vec<Line>> = read(bytes)?;
                let bundled = added.data.iter().any(|l| {
                    l.bundle_configuration
                        .as_ref()
                        .is_some_and(|b| b.selected_options.is_some())
                });
                if added.errors.is_some() || !bundled {
                    return Err("the bundle line was not added");
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `POST /_kassa/stores`'s answer: the store and its credentials.
#[derive(serde::Deserialize)]
struct StoreCreated {
    data: TestStore,
}

#[derive(serde::Deserialize, Clone, Default)]
struct TestStore {
    id: String,
    client_id: String,
    client_secret: String,
}

#[derive(serde::Deserialize)]
struct Token {
    access_token: String,
}

/// A created resource's answer, as far as [`Step::keep`] reads it: `data.id`.
#[derive(serde::Deserialize)]
struct Created<'a> {
    #[serde(borrow)]
    data: Resource<'a>,
}

#[derive(serde::Deserialize)]
struct Resource<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
}

/// An add's answer: its lines as `L` reads them, and whether any item was refused.
#[derive(serde::Deserialize)]
struct Added<L> {
    data: L,
    errors: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct Line {
    bundle_configuration: Option<BundleConfiguration>,
}

#[derive(serde::Deserialize)]
struct BundleConfiguration {
    selected_options: Option<serde::de::IgnoredAny>,
}

static ADDRESS: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    json!({"first_name": "Bench", "last_name": "Shopper", "line_1": "1 Load Street",
           "city": "Testville", "postcode": "12345", "county": "Bench County", "country": "US"})
});

/// A tiny xorshift generator per virtual user: no locks, no shared state.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

struct Vu {
    /// The run (scenario, concurrency and protocol) within this process, from 1.
    run: usize,
    id: usize,
    http: reqwest::Client,
    base: String,
    fixture: Arc<Fixture>,
    account_token: String,
    rng: Rng,
    cart_id: Option<String>,
    order_id: Option<String>,
    /// Carts this virtual user has made with an id of its own choosing.
    carts_made: u64,
    /// The `stores` scenario's store and its token.
    store: Option<TestStore>,
    store_token: Option<String>,
    stats: Stats,
}

/// What one or more virtual users saw in the measured window.
#[derive(Default)]
pub struct Stats {
    /// Latency in microseconds per endpoint.
    pub latencies: BTreeMap<&'static str, Vec<u32>>,
    /// Errors per endpoint and status (0 = no HTTP answer: connection error or timeout).
    pub errors: BTreeMap<(&'static str, u16), u64>,
    /// A few error bodies, for the operator.
    pub samples: Vec<String>,
    pub journeys: u64,
}

impl Stats {
    pub fn merge(&mut self, other: Stats) {
        for (k, mut v) in other.latencies {
            self.latencies.entry(k).or_default().append(&mut v);
        }
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        for s in other.samples {
            if self.samples.len() < 5 {
                self.samples.push(s);
            }
        }
        self.journeys += other.journeys;
    }
}

/// When a run measures: requests finishing in `[measure_from, until)` count.
#[derive(Clone, Copy)]
pub struct Window {
    pub measure_from: Instant,
    pub until: Instant,
}

/// Runs `concurrency` closed-loop virtual users of `scenario` until `window.until`.
pub async fn run(
    scenario: Scenario,
    concurrency: usize,
    fixture: Arc<Fixture>,
    window: Window,
    target: &Target,
) -> anyhow::Result<Stats> {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let mut set = tokio::task::JoinSet::new();
    for n in 0..concurrency {
        let tokens = &fixture.account_tokens;
        let http = target.client(scenario)?;
        let mut vu = Vu {
            run,
            id: n,
            http,
            base: target.base.clone(),
            account_token: tokens[n % tokens.len()].clone(),
            fixture: fixture.clone(),
            rng: Rng(0x9E37_79B9_7F4A_7C15 ^ ((n as u64 + 1) * 0x2545_F491_4F6C_DD1D)),
            cart_id: None,
            order_id: None,
            carts_made: 0,
            store: None,
            store_token: None,
            stats: Stats::default(),
        };
        set.spawn(async move {
            while Instant::now() < window.until {
                vu.journey(scenario.journey(), window).await;
            }
            vu.stats
        });
    }
    let mut all = Stats::default();
    while let Some(done) = set.join_next().await {
        match done {
            Ok(stats) => all.merge(stats),
            Err(e) => anyhow::bail!("a virtual user failed: {e}"),
        }
    }
    Ok(all)
}

impl Vu {
    fn random_product(&mut self) -> String {
        let i = self.rng.below(self.fixture.product_ids.len());
        self.fixture.product_ids[i].clone()
    }

    async fn journey(&mut self, steps: &[Step], window: Window) {
        self.cart_id = None;
        self.order_id = None;
        self.store = None;
        self.store_token = None;
        for &step in steps {
            if !self.step(step, window).await {
                return; // later steps depend on this one
            }
        }
        let now = Instant::now();
        if now >= window.measure_from && now < window.until {
            self.stats.journeys += 1;
        }
    }

    /// Makes the step's request; false if it failed.
    async fn step(&mut self, step: Step, window: Window) -> bool {
        let r = step.request(self);
        let mut req = self
            .http
            .request(r.method, format!("{}{}", self.base, r.path))
            .timeout(Duration::from_secs(30));
        if r.implicit_token {
            req = req.bearer_auth(&self.fixture.implicit_token);
        }
        if r.admin_token {
            req = req.bearer_auth(&self.fixture.admin_token);
        }
        if r.store_token {
            req = req.bearer_auth(self.store_token.as_deref().unwrap_or_default());
        }
        if r.account_token {
            req = req.header(ACCOUNT_TOKEN_HEADER, &self.account_token);
        }
        if let Some(body) = r.body {
            req = req.json(&body);
        }
        if let Some(form) = r.form {
            req = req.form(&form);
        }
        let started = Instant::now();
        let outcome = match req.send().await {
            Ok(res) => {
                let status = res.status();
                match res.bytes().await {
                    Ok(bytes) => Ok((status, bytes)),
                    Err(e) => Err(with_causes(&e)),
                }
            }
            Err(e) => Err(with_causes(&e)),
        };
        let now = Instant::now();
        let counted = now >= window.measure_from && now < window.until;
        let endpoint = step.endpoint();
        let error = match outcome {
            Ok((status, bytes)) if status.is_success() => {
                if counted {
                    let micros = now.duration_since(started).as_micros();
                    self.stats
                        .latencies
                        .entry(endpoint)
                        .or_default()
                        .push(u32::try_from(micros).unwrap_or(u32::MAX));
                }
                if !step.keeps_body() {
                    return true;
                }
                match step.keep(self, &bytes) {
                    Ok(()) => return true,
                    Err(why) => (status.as_u16(), why.to_owned()),
                }
            }
            Ok((status, bytes)) => (status.as_u16(), String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) => (0, e),
        };
        // Errors count whenever they happen, warm-up included: a run with errors is not valid.
        *self.stats.errors.entry((endpoint, error.0)).or_default() += 1;
        if self.stats.samples.len() < 2 {
            let mut text = error.1;
            text.truncate(300);
            self.stats
                .samples
                .push(format!("{endpoint} → {}: {text}", error.0));
        }
        false
    }
}

/// An error with its chain of causes: reqwest's own text (`error sending request for url …`)
/// reads the same for a client timeout, a reset and a refused connection.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
