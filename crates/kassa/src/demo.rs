//! `kassa serve --demo`: seeds a small store so the README's shopper journey works on a fresh
//! machine, idempotently (a second start finds the seed and leaves it alone).
//!
//! The seed goes through the public API, in process, with an admin token: it is validated like
//! any client's data, and it cannot drift from what the handlers accept. Its requests are marked
//! [`kassa_api::InternalRequest`], so they are neither logged nor counted in the metrics: the
//! seed logs one line of its own.

use anyhow::{Context, anyhow, bail};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use kassa_api::AppState;
use kassa_core::account::PasswordProfile;
use kassa_core::secret;
use kassa_core::time::now_millis;
use kassa_core::token::Grant;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

/// The demo's shopper application key: a fixed, public client id, so the README can name it.
pub const DEMO_CLIENT_ID: &str = "kassa-demo";
/// The demo members' password profile: the same id on every fresh database, so a storefront
/// that compiles it in (`NEXT_PUBLIC_PASSWORD_PROFILE_ID`) keeps working after kassa's data is
/// thrown away.
pub const DEMO_PASSWORD_PROFILE_ID: Uuid = uuid::uuid!("6b617373-6164-4000-8000-64656d6f7077");
pub const DEMO_USERNAME: &str = "demo@kassa.example";
pub const DEMO_PASSWORD: &str = "kassa-demo-password";
const DEMO_ACCOUNT: &str = "Demo Company";

/// (sku, name, price in cents, stock)
const PRODUCTS: &[(&str, &str, i64, i64)] = &[
    ("DEMO-TEE", "Kassa T-shirt", 2_500, 100),
    ("DEMO-MUG", "Kassa mug", 1_200, 100),
    ("DEMO-HOODIE", "Kassa hoodie", 5_900, 20),
];

/// What a shopper needs to run the journey against the seeded store.
pub struct Demo {
    pub client_id: String,
    pub password_profile_id: String,
    pub username: &'static str,
    pub password: &'static str,
    pub skus: Vec<&'static str>,
}

/// Seeds the demo store (or finds it seeded) and returns how to shop in it.
pub async fn seed(state: &AppState) -> anyhow::Result<Demo> {
    let created_key = ensure_demo_key(state).await?;
    if let Some(secret) = created_key {
        println!("kassa: created the demo application key (secret shown only this once):");
        println!("  client_id:     {DEMO_CLIENT_ID}");
        println!("  client_secret: {secret}");
    }
    let key = state
        .store
        .application_key_by_client_id(DEMO_CLIENT_ID)
        .await
        .map_err(|e| anyhow!("{e}"))?
        .context("the demo application key is missing")?;
    let (admin, _) = state.tokens.issue_access(Grant::ClientCredentials, &key);
    let api = InProcess {
        router: kassa_api::app(state.clone()),
        token: admin,
    };

    let seeded = api
        .send(Method::GET, "/pcm/products?filter=eq(sku,DEMO-TEE)", None)
        .await?;
    let fresh = seeded["data"].as_array().is_none_or(|d| d.is_empty());
    if fresh {
        seed_catalog(&api).await?;
    }
    let password_profile_id = seed_account(state, &api).await?;
    api.send(
        Method::PUT,
        "/v2/gateways/manual",
        Some(json!({"data": {"enabled": true}})),
    )
    .await?;
    if fresh {
        tracing::info!(
            products = PRODUCTS.len(),
            "demo store seeded: products with prices and stock in a published catalog, the manual gateway, an account with a member"
        );
    } else {
        tracing::info!("demo store found: seeded by an earlier start");
    }
    Ok(Demo {
        client_id: DEMO_CLIENT_ID.into(),
        password_profile_id,
        username: DEMO_USERNAME,
        password: DEMO_PASSWORD,
        skus: PRODUCTS.iter().map(|p| p.0).collect(),
    })
}

impl Demo {
    /// The lines printed at start, ready to paste into a shell.
    pub fn banner(&self, base_url: &str) -> String {
        format!(
            "kassa: demo store ready ({skus}). In another shell:\n  \
             export KASSA={base_url} DEMO_CLIENT_ID={client} DEMO_PROFILE={profile} DEMO_USERNAME={user} DEMO_PASSWORD={password}",
            skus = self.skus.join(", "),
            client = self.client_id,
            profile = self.password_profile_id,
            user = self.username,
            password = self.password,
        )
    }
}

/// Makes the demo key exist; returns its secret when this call created it.
async fn ensure_demo_key(state: &AppState) -> anyhow::Result<Option<String>> {
    let store = &*state.store;
    if store
        .application_key_by_client_id(DEMO_CLIENT_ID)
        .await
        .map_err(|e| anyhow!("{e}"))?
        .is_some()
    {
        return Ok(None);
    }
    let secret = secret::generate_client_secret();
    let (key, _) = crate::new_key("demo", DEMO_CLIENT_ID.into(), &secret).await?;
    match store.create_application_key(key).await {
        Ok(_) => Ok(Some(secret)),
        // Another node seeding at the same moment made it.
        Err(kassa_core::Error::Conflict(_)) => Ok(None),
        Err(e) => Err(anyhow!("{e}")),
    }
}

async fn seed_catalog(api: &InProcess) -> anyhow::Result<()> {
    let hierarchy = api
        .create(
            "/pcm/hierarchies",
            json!({"data": {"type": "hierarchy", "attributes": {"name": "Demo shop"}}}),
        )
        .await?;
    let node = api
        .create(
            &format!("/pcm/hierarchies/{hierarchy}/nodes"),
            json!({"data": {"type": "node", "attributes": {"name": "Merchandise"}}}),
        )
        .await?;
    let book = api
        .create(
            "/pcm/pricebooks",
            json!({"data": {"type": "pricebook", "attributes": {"name": "Demo prices"}}}),
        )
        .await?;
    for &(sku, name, amount, stock) in PRODUCTS {
        let product = api
            .create(
                "/pcm/products",
                json!({"data": {"type": "product", "attributes": {
                    "name": name, "sku": sku, "slug": sku.to_lowercase(),
                    "commodity_type": "physical", "status": "live"
                }}}),
            )
            .await?;
        api.send(
            Method::POST,
            &format!("/pcm/hierarchies/{hierarchy}/nodes/{node}/relationships/products"),
            Some(json!({"data": [{"type": "product", "id": product}]})),
        )
        .await?;
        api.create(
            &format!("/pcm/pricebooks/{book}/prices"),
            json!({"data": {"type": "product-price", "attributes": {
                "sku": sku, "currencies": {"USD": {"amount": amount, "includes_tax": false}}
            }}}),
        )
        .await?;
        api.send(
            Method::POST,
            &format!("/v2/inventories/{product}"),
            Some(json!({"data": {"type": "stock", "quantity": stock}})),
        )
        .await?;
    }
    let catalog = api
        .create(
            "/catalogs",
            json!({"data": {"type": "catalog", "attributes": {
                "name": "Demo catalog", "hierarchy_ids": [hierarchy], "pricebook_id": book
            }}}),
        )
        .await?;
    api.send(Method::POST, &format!("/catalogs/{catalog}/releases"), None)
        .await?;
    Ok(())
}

/// The demo account, its member with a password, and the membership; returns the password
/// profile the member logs in with.
async fn seed_account(state: &AppState, api: &InProcess) -> anyhow::Result<String> {
    let settings = api
        .send(Method::GET, "/v2/settings/account-authentication", None)
        .await?;
    let realm = settings["data"]["relationships"]["authentication_realm"]["data"]["id"]
        .as_str()
        .context("the store has no account authentication realm")?
        .to_owned();
    let realm_path = format!("/v2/authentication-realms/{realm}");

    let profiles = api
        .send(Method::GET, &format!("{realm_path}/password-profiles"), None)
        .await?;
    let profile = match find(&profiles, |p| p["name"] == "demo passwords") {
        Some(id) => id,
        None => {
            // Made in the store rather than through the API, which picks ids itself.
            let now = now_millis();
            let created = state
                .store
                .create_password_profile(PasswordProfile {
                    id: DEMO_PASSWORD_PROFILE_ID,
                    realm_id: realm.parse().context("the realm id is not a UUID")?,
                    name: "demo passwords".into(),
                    username_format: "email".into(),
                    enable_one_time_password_token: false,
                    created_at: now,
                    updated_at: now,
                })
                .await;
            if let Err(e) = created {
                // Another node seeding at the same moment made it.
                let profiles = api
                    .send(Method::GET, &format!("{realm_path}/password-profiles"), None)
                    .await?;
                find(&profiles, |p| p["name"] == "demo passwords").ok_or_else(|| anyhow!("{e}"))?;
            }
            DEMO_PASSWORD_PROFILE_ID.to_string()
        }
    };

    let users = api
        .send(
            Method::GET,
            &format!("{realm_path}/user-authentication-info?filter=eq(email,{DEMO_USERNAME})"),
            None,
        )
        .await?;
    if find(&users, |_| true).is_some() {
        return Ok(profile); // seeded by an earlier start
    }
    let member = api
        .create(
            &format!("{realm_path}/user-authentication-info"),
            json!({"data": {"type": "user_authentication_info", "name": "Demo Shopper", "email": DEMO_USERNAME}}),
        )
        .await?;
    api.create(
        &format!("{realm_path}/user-authentication-info/{member}/user-authentication-password-profile-info"),
        json!({"data": {"type": "user_authentication_password_profile_info",
                        "password_profile_id": profile, "username": DEMO_USERNAME, "password": DEMO_PASSWORD}}),
    )
    .await?;
    let account = api
        .create(
            "/v2/accounts",
            json!({"data": {"type": "account", "name": DEMO_ACCOUNT, "legal_name": "Demo Company Ltd"}}),
        )
        .await?;
    api.create(
        &format!("/v2/accounts/{account}/account-memberships"),
        json!({"data": {"type": "account_membership", "account_member_id": member}}),
    )
    .await?;
    Ok(profile)
}

/// The id of the first listed resource that `pred` accepts.
fn find(list: &Value, pred: impl Fn(&Value) -> bool) -> Option<String> {
    list["data"]
        .as_array()?
        .iter()
        .find(|item| pred(item))
        .and_then(|item| item["id"].as_str())
        .map(str::to_owned)
}

/// Requests to the API router, in process, as the demo's admin.
struct InProcess {
    router: Router,
    token: String,
}

impl InProcess {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .extension(kassa_api::InternalRequest)
            .header(header::HOST, "localhost")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let response = self.router.clone().oneshot(request.body(body)?).await?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20).await?;
        if !status.is_success() {
            bail!(
                "demo seed: {method} {path}: {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        if bytes.is_empty() || status == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).with_context(|| format!("demo seed: {method} {path}: not JSON"))
    }

    async fn create(&self, path: &str, body: Value) -> anyhow::Result<String> {
        let created = self.send(Method::POST, path, Some(body)).await?;
        created["data"]["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("demo seed: POST {path}: no data.id"))
    }
}
