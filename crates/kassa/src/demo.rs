//! `kassa serve --demo`: fills a new store with the demo fixture, `fixtures/demo.json` (three
//! live products with USD prices and stock in a published catalog, the manual gateway, an account
//! with a member in a password profile of a fixed id), and makes the demo's application key, so
//! the README's shopper journey works on a fresh machine. Idempotent: a second start finds the
//! seed and leaves it alone.
//!
//! The fixture is a file like any `kassa export` writes: change the demo by editing it, or by
//! making the store through the API and exporting it (leaving out the empty tables).

use anyhow::{anyhow, bail};
use kassa_api::AppState;
use kassa_core::query::{Filter, FilterOp, PageRequest};
use kassa_core::secret;
use kassa_core::snapshot::Fixture;
use kassa_core::store::Store;
use uuid::Uuid;

/// The demo store.
const DEMO_FIXTURE: &[u8] = include_bytes!("../fixtures/demo.json");

/// The demo's shopper application key: a fixed, public client id, so the README can name it.
pub const DEMO_CLIENT_ID: &str = "kassa-demo";
/// The demo members' password profile: the same id on every fresh database (it is the
/// fixture's), so a storefront that compiles it in (`NEXT_PUBLIC_PASSWORD_PROFILE_ID`) keeps
/// working after kassa's data is thrown away.
pub const DEMO_PASSWORD_PROFILE_ID: Uuid = uuid::uuid!("6b617373-6164-4000-8000-64656d6f7077");
pub const DEMO_USERNAME: &str = "demo@kassa.example";
pub const DEMO_PASSWORD: &str = "kassa-demo-password";
/// The demo's products' skus, as the fixture has them.
const SKUS: &[&str] = &["DEMO-TEE", "DEMO-MUG", "DEMO-HOODIE"];

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
    let store = &*state.store;
    if has_products(store, Some(SKUS[0])).await? {
        tracing::info!("demo store found: seeded by an earlier start");
    } else if has_products(store, None).await? {
        // The fixture replaces what the store holds.
        bail!(
            "--demo fills a new store, and this one holds products of its own: give kassa a new database (or sqlite::memory:)"
        );
    } else {
        let fixture = Fixture::parse(DEMO_FIXTURE).map_err(|e| anyhow!("the demo fixture: {e}"))?;
        kassa_api::load_fixture(state, fixture)
            .await
            .map_err(|e| anyhow!("the demo fixture: {e}"))?;
        tracing::info!(
            products = SKUS.len(),
            "demo store seeded: products with prices and stock in a published catalog, the manual gateway, an account with a member"
        );
    }
    Ok(Demo {
        client_id: DEMO_CLIENT_ID.into(),
        password_profile_id: DEMO_PASSWORD_PROFILE_ID.to_string(),
        username: DEMO_USERNAME,
        password: DEMO_PASSWORD,
        skus: SKUS.to_vec(),
    })
}

/// Whether the store holds a product (of `sku`, if given).
async fn has_products(store: &dyn Store, sku: Option<&str>) -> anyhow::Result<bool> {
    let filters: Vec<Filter> = sku
        .map(|sku| Filter {
            op: FilterOp::Eq,
            field: "sku".into(),
            values: vec![sku.into()],
        })
        .into_iter()
        .collect();
    let page = store
        .products(&filters, PageRequest { limit: 1, offset: 0 })
        .await
        .map_err(|e| anyhow!("{e}"))?;
    Ok(!page.items.is_empty())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the banner prints and the README uses are the fixture's.
    #[test]
    fn the_demo_fixture_holds_what_the_banner_says() {
        let fixture = Fixture::parse(DEMO_FIXTURE).unwrap();
        let tables = &fixture.tables;
        let mut skus: Vec<&str> = tables["products"]
            .iter()
            .map(|p| p["sku"].as_str().unwrap())
            .collect();
        let mut expected = SKUS.to_vec();
        skus.sort();
        expected.sort();
        assert_eq!(skus, expected);
        assert_eq!(
            tables["password_profiles"][0]["id"],
            DEMO_PASSWORD_PROFILE_ID.to_string()
        );
        let credential = &tables["member_credentials"][0];
        assert_eq!(credential["username"], DEMO_USERNAME);
        assert!(secret::verify_secret(
            DEMO_PASSWORD,
            credential["password_hash"].as_str().unwrap()
        ));
        assert!(
            tables["catalog_releases"][0]["snapshot"]
                .as_str()
                .unwrap()
                .contains(SKUS[2])
        );
    }
}
