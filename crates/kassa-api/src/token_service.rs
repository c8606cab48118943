//! Bearer tokens: issuing them, and checking them from memory.
//!
//! Verification needs no database round trip: the signing keys are loaded from the database at
//! start and cached. A token signed with a key this node has not seen (a key added by another
//! node) triggers one rate-limited reload. A background refresh also picks up application keys
//! deleted on other nodes, whose outstanding tokens are then refused everywhere.
//!
//! The extractors that read the tokens of a request are in `crate::auth`; this module knows
//! nothing of requests, so the application state can hold it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use kassa_core::store::{ApplicationKey, Store};
use kassa_core::time::now_millis;
use kassa_core::token::{
    AccessClaims, AccountClaims, CustomerClaims, Expiring, Grant, KeyRing, SigningKey, TokenError, TokenUse,
};
use kassa_core::{Error, Result};
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// How often every node re-reads signing keys and deleted application keys.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// An unknown key id reloads the keys at most this often, so forged tokens cannot flood the
/// database.
const MIN_RELOAD_GAP: Duration = Duration::from_millis(500);
/// Customer tokens live 24 hours, as Elastic Path's do.
pub const CUSTOMER_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

pub struct TokenService {
    store: Arc<dyn Store>,
    ring: RwLock<Arc<KeyRing>>,
    revoked: RwLock<Arc<HashSet<Uuid>>>,
    last_reload: Mutex<Instant>,
    ttl: Duration,
    customer_ttl: Duration,
}

impl TokenService {
    /// Makes sure a signing key exists, then loads keys and revocations.
    pub async fn load(store: Arc<dyn Store>, ttl: Duration) -> Result<Self> {
        store
            .insert_signing_key_if_none(SigningKey::generate(now_millis()))
            .await?;
        let ring = Self::read_ring(&*store).await?;
        let service = Self {
            store,
            ring: RwLock::new(Arc::new(ring)),
            revoked: RwLock::new(Arc::default()),
            last_reload: Mutex::new(Instant::now()),
            ttl,
            customer_ttl: CUSTOMER_TOKEN_TTL,
        };
        service.refresh().await?;
        Ok(service)
    }

    async fn read_ring(store: &dyn Store) -> Result<KeyRing> {
        KeyRing::new(store.signing_keys().await?)
            .ok_or_else(|| Error::internal("no signing key in the database"))
    }

    /// Re-reads the signing keys and the application keys deleted within a token lifetime.
    pub async fn refresh(&self) -> Result<()> {
        let ring = Self::read_ring(&*self.store).await?;
        let since = now_millis() - self.ttl.as_millis() as i64 - 60_000;
        let revoked: HashSet<Uuid> = self
            .store
            .deleted_application_keys(since)
            .await?
            .into_iter()
            .collect();
        *self.ring.write().expect("key ring lock") = Arc::new(ring);
        *self.revoked.write().expect("revocation lock") = Arc::new(revoked);
        Ok(())
    }

    /// Refreshes every [`REFRESH_INTERVAL`] until `stop` resolves.
    pub async fn refresh_until(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(REFRESH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => {
                    if let Err(e) = self.refresh().await {
                        tracing::warn!(error = %e, "could not refresh token keys");
                    }
                }
            }
        }
    }

    /// Refuses this key's tokens on this node at once (other nodes follow on their refresh).
    pub fn revoke(&self, key_id: Uuid) {
        let mut revoked = self.revoked.write().expect("revocation lock");
        let mut next = HashSet::clone(&revoked);
        next.insert(key_id);
        *revoked = Arc::new(next);
    }

    fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.ring.read().expect("key ring lock"))
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn customer_ttl(&self) -> Duration {
        self.customer_ttl
    }

    /// Sets the lifetime of customer tokens (24 h unless changed).
    pub fn with_customer_ttl(mut self, ttl: Duration) -> Self {
        self.customer_ttl = ttl;
        self
    }

    /// Signs an access token for `key`; returns it with its expiry in epoch seconds.
    pub fn issue_access(&self, grant: Grant, key: &ApplicationKey) -> (String, i64) {
        let now = now_millis() / 1000;
        let exp = now + self.ttl.as_secs() as i64;
        let claims = AccessClaims {
            token_use: TokenUse::Access,
            grant,
            sub: key.client_id.clone(),
            key_id: key.id,
            iat: now,
            exp,
        };
        (self.ring().sign(&claims), exp)
    }

    /// Checks an access token; `None` for anything invalid, expired, revoked or forged.
    pub async fn verify_access(&self, token: &str) -> Option<AccessClaims> {
        let claims: AccessClaims = self.verify(token).await?;
        let revoked = self
            .revoked
            .read()
            .expect("revocation lock")
            .contains(&claims.key_id);
        (claims.token_use == TokenUse::Access && !revoked).then_some(claims)
    }

    /// Signs an account management authentication token for `member` acting for `account`.
    pub fn issue_account(&self, member: Uuid, account: Uuid, lifetime_secs: i64) -> (String, i64) {
        let now = now_millis() / 1000;
        let exp = now + lifetime_secs;
        let claims = AccountClaims {
            token_use: TokenUse::AccountMember,
            sub: member,
            scope: account,
            iat: now,
            exp,
        };
        (self.ring().sign(&claims), exp)
    }

    /// Checks an account management authentication token.
    pub async fn verify_account(&self, token: &str) -> Option<AccountClaims> {
        let claims: AccountClaims = self.verify(token).await?;
        (claims.token_use == TokenUse::AccountMember).then_some(claims)
    }

    /// Signs a customer token for `customer_id`; returns it with its expiry in epoch seconds.
    pub fn issue_customer(&self, customer_id: Uuid) -> (String, i64) {
        let now = now_millis() / 1000;
        let exp = now + self.customer_ttl.as_secs() as i64;
        let claims = CustomerClaims {
            token_use: TokenUse::Customer,
            sub: customer_id,
            iat: now,
            exp,
        };
        (self.ring().sign(&claims), exp)
    }

    /// Checks a customer token; `None` for anything invalid, expired or forged, and for any
    /// other kind of token (an access token is never a customer token).
    pub async fn verify_customer(&self, token: &str) -> Option<CustomerClaims> {
        let claims = self.verify::<CustomerClaims>(token).await?;
        (claims.token_use == TokenUse::Customer).then_some(claims)
    }

    /// Signature and expiry, reloading the keys once if the token names an unknown key.
    async fn verify<C: DeserializeOwned + Expiring>(&self, token: &str) -> Option<C> {
        let now = now_millis() / 1000;
        match self.ring().verify::<C>(token, now) {
            Err(TokenError::UnknownKey(kid)) if self.may_reload() => {
                if let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, "could not reload token keys");
                }
                let ring = self.ring();
                if !ring.contains(&kid) {
                    return None;
                }
                ring.verify::<C>(token, now).ok()
            }
            other => other.ok(),
        }
    }

    fn may_reload(&self) -> bool {
        let mut last = self.last_reload.lock().expect("reload lock");
        if last.elapsed() >= MIN_RELOAD_GAP {
            *last = Instant::now();
            true
        } else {
            false
        }
    }
}
