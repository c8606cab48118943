//! Seeding through the public API, as an admin would: a published catalog and accounts with
//! password members, then the tokens the scenarios use.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::api_client::Api;
use crate::server::{BenchDatabase, Server};

/// Requests in flight while seeding.
const SEED_PARALLEL: usize = 16;
/// Products placed in the node per request.
const NODE_BATCH: usize = 100;
const PASSWORD: &str = "bench-password-1";
/// Units of each product in stock: more than any run sells.
const STOCK: i64 = 1_000_000_000;

/// The words product names are made of, so searches match some products, not all.
pub const NOUNS: &[&str] = &[
    "lamp", "chair", "table", "kettle", "blanket", "jacket", "boots", "hammer", "drill", "ladder", "bottle",
    "candle", "mirror", "pillow", "basket", "wallet", "helmet", "glove", "scarf", "teapot", "shovel",
    "bucket", "racket", "saddle", "tripod", "camera", "speaker", "router", "charger", "monitor",
];
const ADJECTIVES: &[&str] = &[
    "Red", "Blue", "Green", "Oak", "Steel", "Linen", "Woollen", "Compact", "Classic", "Rugged", "Folding",
    "Quiet", "Vintage", "Nordic", "Travel", "Solar", "Smart", "Heavy", "Light", "Bamboo",
];
const BRANDS: &[&str] = &[
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Wonka", "Stark",
];

/// `Red Lamp 42`: an adjective and a noun that vary independently, and the number.
fn product_name(i: usize) -> String {
    format!(
        "{} {} {i}",
        ADJECTIVES[i % ADJECTIVES.len()],
        // Capitalised: names read like names; the index lower-cases.
        {
            let noun = NOUNS[(i / ADJECTIVES.len()) % NOUNS.len()];
            let mut chars = noun.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        }
    )
}

/// What the scenarios need from the seeded server.
pub struct Fixture {
    pub implicit_token: String,
    /// client_credentials, for the admin listings of the `orders` scenario.
    pub admin_token: String,
    /// `created_at` of the oldest seeded order (0 when none were seeded).
    pub orders_from_ms: i64,
    pub product_ids: Vec<String>,
    /// The published catalog (the `checkout-indexing` scenario publishes it again).
    pub catalog_id: String,
    pub password_profile_id: String,
    pub usernames: Vec<String>,
    pub password: String,
    /// One account token per account, obtained by logging in once each.
    pub account_tokens: Vec<String>,
    /// The `checkout-bundle` scenario's bundle, when it runs.
    pub bundle: Option<Bundle>,
}

/// Components of the seeded bundle, each with [`BUNDLE_OPTIONS`] options (a product each).
pub const BUNDLE_COMPONENTS: usize = 3;
pub const BUNDLE_OPTIONS: usize = 2;

/// A published bundle without a price of its own (priced by the selection).
pub struct Bundle {
    pub id: String,
    /// Component key and its options' product ids.
    pub components: Vec<(String, Vec<String>)>,
}

/// Runs `f(0..n)` with at most `parallel` in flight; results in index order.
async fn parallel<T, F, Fut>(n: usize, parallel: usize, f: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let f = Arc::new(f);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..parallel.min(n.max(1)) {
        let (next, f) = (next.clone(), f.clone());
        set.spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(out);
                }
                out.push((i, f(i).await?));
            }
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(done) = set.join_next().await {
        all.extend(done??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, t)| t).collect())
}

pub async fn seed(
    server: &Server,
    db: &BenchDatabase,
    products: usize,
    accounts: usize,
    orders: usize,
    with_bundle: bool,
) -> anyhow::Result<Fixture> {
    let api = Api {
        http: reqwest::Client::new(),
        base: server.url.clone(),
    };
    let admin = api
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &server.client_id),
            ("client_secret", &server.client_secret),
        ])
        .await?;
    let implicit_token = api
        .token(&[("grant_type", "implicit"), ("client_id", &server.client_id)])
        .await?;

    let started = Instant::now();
    let (product_ids, catalog_id, bundle) = seed_catalog(&api, &admin, products, with_bundle).await?;
    eprintln!(
        "kassa-bench: seeded and published {products} products in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    api.send(
        Method::PUT,
        "/v2/gateways/manual",
        Some(&admin),
        Some(json!({"data": {"enabled": true}})),
    )
    .await?;

    let started = Instant::now();
    let (password_profile_id, usernames) = seed_accounts(&api, &admin, accounts).await?;
    eprintln!(
        "kassa-bench: seeded {accounts} accounts with members in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let account_tokens = {
        let (api, implicit, profile, usernames) = (
            api.clone(),
            implicit_token.clone(),
            password_profile_id.clone(),
            Arc::new(usernames.clone()),
        );
        parallel(accounts, 4, move |i| {
            let (api, implicit, profile, usernames) =
                (api.clone(), implicit.clone(), profile.clone(), usernames.clone());
            async move {
                let r = api
                    .send(
                        Method::POST,
                        "/v2/account-members/tokens",
                        Some(&implicit),
                        Some(login_body(&profile, &usernames[i], PASSWORD)),
                    )
                    .await?;
                r["data"][0]["token"]
                    .as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("login gave no account token: {r}"))
            }
        })
        .await?
    };
    eprintln!(
        "kassa-bench: logged in {accounts} members in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let orders_from_ms = if orders > 0 {
        crate::orders::seed_orders(db, &api, &admin, orders)
            .await?
            .from_ms
    } else {
        0
    };

    Ok(Fixture {
        implicit_token,
        admin_token: admin,
        orders_from_ms,
        product_ids,
        catalog_id,
        password_profile_id,
        usernames,
        password: PASSWORD.to_owned(),
        account_tokens,
        bundle,
    })
}

pub fn login_body(profile: &str, username: &str, password: &str) -> Value {
    json!({"data": {"type": "account_management_authentication_token", "authentication_mechanism": "password",
                    "password_profile_id": profile, "username": username, "password": password}})
}

/// Live products with USD prices in one price book, all in one node, in a published catalog;
/// with `with_bundle`, also a [`Bundle`] and its component products, beside the `products`.
async fn seed_catalog(
    api: &Api,
    admin: &str,
    products: usize,
    with_bundle: bool,
) -> anyhow::Result<(Vec<String>, String, Option<Bundle>)> {
    let hierarchy = api
        .create(
            admin,
            "/pcm/hierarchies",
            json!({"data": {"type": "hierarchy", "attributes": {"name": "Bench"}}}),
        )
        .await?;
    let node = api
        .create(
            admin,
            &format!("/pcm/hierarchies/{hierarchy}/nodes"),
            json!({"data": {"type": "node", "attributes": {"name": "Everything"}}}),
        )
        .await?;
    let book = api
        .create(
            admin,
            "/pcm/pricebooks",
            json!({"data": {"type": "pricebook", "attributes": {"name": "Bench prices"}}}),
        )
        .await?;

    let ids = {
        let (api, admin, book) = (api.clone(), admin.to_owned(), book.clone());
        parallel(products, SEED_PARALLEL, move |i| {
            let (api, admin, book) = (api.clone(), admin.clone(), book.clone());
            async move {
                let sku = format!("BENCH-{i:06}");
                let id = api
                    .create(
                        &admin,
                        "/pcm/products",
                        json!({"data": {"type": "product", "attributes": {
                            "name": product_name(i), "sku": sku, "slug": sku.to_lowercase(),
                            "description": format!("A {} made by kassa-bench.", NOUNS[(i / 7) % NOUNS.len()]),
                            "extensions": {"products(Details)": {"brand": BRANDS[i % BRANDS.len()]}},
                            "commodity_type": "physical", "status": "live"
                        }}}),
                    )
                    .await?;
                api.create(
                    &admin,
                    &format!("/pcm/pricebooks/{book}/prices"),
                    json!({"data": {"type": "product-price", "attributes": {
                        "sku": sku,
                        "currencies": {"USD": {"amount": 100 + (i as i64 * 37) % 10_000, "includes_tax": false}}
                    }}}),
                )
                .await?;
                // Stock-managed, with plenty: payments allocate it, as in a real store.
                api.send(
                    Method::POST,
                    &format!("/v2/inventories/{id}"),
                    Some(&admin),
                    Some(json!({"data": {"type": "stock", "quantity": STOCK}})),
                )
                .await?;
                Ok(id)
            }
        })
        .await?
    };

    let bundle = if with_bundle {
        Some(seed_bundle(api, admin, &book).await?)
    } else {
        None
    };
    let placed: Vec<&String> =
        ids.iter()
            .chain(bundle.iter().flat_map(|b| {
                std::iter::once(&b.id).chain(b.components.iter().flat_map(|(_, options)| options))
            }))
            .collect();
    for chunk in placed.chunks(NODE_BATCH) {
        let data: Vec<Value> = chunk
            .iter()
            .map(|id| json!({"type": "product", "id": id}))
            .collect();
        api.send(
            Method::POST,
            &format!("/pcm/hierarchies/{hierarchy}/nodes/{node}/relationships/products"),
            Some(admin),
            Some(json!({ "data": data })),
        )
        .await?;
    }

    let catalog = api
        .create(
            admin,
            "/catalogs",
            json!({"data": {"type": "catalog", "attributes": {
                "name": "Bench", "hierarchy_ids": [hierarchy], "pricebook_id": book
            }}}),
        )
        .await?;
    let r = api
        .send(
            Method::POST,
            &format!("/catalogs/{catalog}/releases"),
            Some(admin),
            None,
        )
        .await?;
    if r["data"]["meta"]["release_status"] != "PUBLISHED" {
        bail!("the catalog release is not published: {r}");
    }
    let published = Instant::now();
    let release = r["data"]["id"].as_str().unwrap_or_default().to_owned();
    searchable(api, admin, &release).await?;
    eprintln!(
        "kassa-bench: {products} products searchable {:.1} s after the publish answered",
        published.elapsed().as_secs_f64()
    );
    Ok((ids, catalog, bundle))
}

/// [`BUNDLE_COMPONENTS`] × [`BUNDLE_OPTIONS`] live component products, priced and stocked as the
/// other products, and a live bundle over them without a price (its first options by default).
async fn seed_bundle(api: &Api, admin: &str, book: &str) -> anyhow::Result<Bundle> {
    let mut components = Vec::new();
    let mut attributes = serde_json::Map::new();
    for c in 0..BUNDLE_COMPONENTS {
        let mut options = Vec::new();
        let mut shown = Vec::new();
        for o in 0..BUNDLE_OPTIONS {
            let sku = format!("BENCH-PART-{c}-{o}");
            let id = api
                .create(
                    admin,
                    "/pcm/products",
                    json!({"data": {"type": "product", "attributes": {
                        "name": format!("Bench part {c} option {o}"), "sku": sku,
                        "slug": sku.to_lowercase(), "commodity_type": "physical", "status": "live"
                    }}}),
                )
                .await?;
            api.create(
                admin,
                &format!("/pcm/pricebooks/{book}/prices"),
                json!({"data": {"type": "product-price", "attributes": {
                    "sku": sku,
                    "currencies": {"USD": {"amount": 500 + 100 * (c * BUNDLE_OPTIONS + o) as i64, "includes_tax": false}}
                }}}),
            )
            .await?;
            api.send(
                Method::POST,
                &format!("/v2/inventories/{id}"),
                Some(admin),
                Some(json!({"data": {"type": "stock", "quantity": STOCK}})),
            )
            .await?;
            shown.push(json!({"id": id, "type": "product", "quantity": 1, "default": o == 0}));
            options.push(id);
        }
        let key = format!("part{c}");
        attributes.insert(
            key.clone(),
            json!({"name": format!("Part {c}"), "min": 1, "max": 1, "sort_order": c, "options": shown}),
        );
        components.push((key, options));
    }
    let id = api
        .create(
            admin,
            "/pcm/products",
            json!({"data": {"type": "product", "attributes": {
                "name": "Bench bundle", "sku": "BENCH-BUNDLE", "slug": "bench-bundle",
                "commodity_type": "physical", "status": "live", "components": attributes
            }}}),
        )
        .await?;
    Ok(Bundle { id, components })
}

/// Waits until `POST /catalog/multi-search` answers from `release`'s index.
pub async fn searchable(api: &Api, token: &str, release: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let r = api
            .http
            .post(format!("{}/catalog/multi-search", api.base))
            .bearer_auth(token)
            .json(&json!({"searches": [{"q": "*", "per_page": 1}]}))
            .send()
            .await?;
        if r.status().is_success() {
            let body: Value = r.json().await?;
            if body["results"][0]["hits"][0]["document"]["meta"]["release_id"] == release {
                return Ok(());
            }
        } else if r.status() == reqwest::StatusCode::NOT_FOUND {
            // A kassa from before catalog search (an A/B against an older binary).
            eprintln!("kassa-bench: this kassa has no catalog search");
            return Ok(());
        } else if r.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE {
            bail!("multi-search answered {}", r.status());
        }
        if Instant::now() > deadline {
            bail!("release {release} not searchable within 10 minutes");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The realm's password profile, and per account a member who can log in with a password.
async fn seed_accounts(api: &Api, admin: &str, accounts: usize) -> anyhow::Result<(String, Vec<String>)> {
    let r = api
        .send(
            Method::GET,
            "/v2/settings/account-authentication",
            Some(admin),
            None,
        )
        .await?;
    let realm = r["data"]["relationships"]["authentication_realm"]["data"]["id"]
        .as_str()
        .with_context(|| format!("no authentication realm in {r}"))?
        .to_owned();
    let profile = api
        .create(
            admin,
            &format!("/v2/authentication-realms/{realm}/password-profiles"),
            json!({"data": {"type": "password_profile", "name": "passwords", "username_format": "email",
                            "enable_one_time_password_token": false}}),
        )
        .await?;

    let usernames = {
        let (api, admin, realm, profile) = (api.clone(), admin.to_owned(), realm.clone(), profile.clone());
        parallel(accounts, 4, move |i| {
            let (api, admin, realm, profile) =
                (api.clone(), admin.clone(), realm.clone(), profile.clone());
            async move {
                let email = format!("member{i}@bench.example");
                let member = api
                    .create(
                        &admin,
                        &format!("/v2/authentication-realms/{realm}/user-authentication-info"),
                        json!({"data": {"type": "user_authentication_info", "name": format!("Member {i}"), "email": email}}),
                    )
                    .await?;
                api.send(
                    Method::POST,
                    &format!("/v2/authentication-realms/{realm}/user-authentication-info/{member}/user-authentication-password-profile-info"),
                    Some(&admin),
                    Some(json!({"data": {"type": "user_authentication_password_profile_info",
                                         "password_profile_id": profile, "username": email, "password": PASSWORD}})),
                )
                .await?;
                let account = api
                    .create(
                        &admin,
                        "/v2/accounts",
                        json!({"data": {"type": "account", "name": format!("Account {i}"), "legal_name": format!("Account {i} Ltd")}}),
                    )
                    .await?;
                api.send(
                    Method::POST,
                    &format!("/v2/accounts/{account}/account-memberships"),
                    Some(&admin),
                    Some(json!({"data": {"type": "account_membership", "account_member_id": member}})),
                )
                .await?;
                Ok(email)
            }
        })
        .await?
    };
    Ok((profile, usernames))
}

/// The code the `checkout-promo` scenario adds to its carts (unlimited uses).
pub const PROMO_CODE: &str = "BENCH-PROMO";

/// The `checkout-promo` store: 100 enabled rule promotions, of which two automatic ones apply to
/// every cart (5 % off the cart, 10 % off every item), one applies through [`PROMO_CODE`] (5 %
/// off every item) and 97 automatic ones never apply (each wants a sku no cart holds).
pub async fn promotions(api: &Api, admin: &str) -> anyhow::Result<()> {
    let promotion = |name: String, automatic: bool, rule_set: Value| {
        serde_json::json!({"data": {"type": "rule_promotion", "name": name, "enabled": true,
                                    "automatic": automatic, "rule_set": rule_set}})
    };
    for i in 0..97 {
        let rule_set = serde_json::json!({
            "rules": {"strategy": "item_sku", "operator": "in", "args": [format!("NO-SUCH-SKU-{i}")]},
            "actions": [{"strategy": "cart_discount", "args": ["percent", 50]}]});
        api.create(
            admin,
            "/v2/rule-promotions",
            promotion(format!("Never {i}"), true, rule_set),
        )
        .await?;
    }
    let cart = serde_json::json!({"rules": {"strategy": "cart_total", "operator": "gte", "args": [1]},
                                  "actions": [{"strategy": "cart_discount", "args": ["percent", 5]}]});
    api.create(
        admin,
        "/v2/rule-promotions",
        promotion("Five off carts".into(), true, cart),
    )
    .await?;
    let items = serde_json::json!({"actions": [{"strategy": "item_discount", "args": ["percent", 10]}]});
    api.create(
        admin,
        "/v2/rule-promotions",
        promotion("Ten off items".into(), true, items),
    )
    .await?;
    let coded = serde_json::json!({"actions": [{"strategy": "item_discount", "args": ["percent", 5]}]});
    let id = api
        .create(
            admin,
            "/v2/rule-promotions",
            promotion("Code".into(), false, coded),
        )
        .await?;
    api.send(
        reqwest::Method::POST,
        &format!("/v2/rule-promotions/{id}/codes"),
        Some(admin),
        Some(serde_json::json!({"data": {"type": "promotion_codes", "codes": [{"code": PROMO_CODE}]}})),
    )
    .await?;
    Ok(())
}
