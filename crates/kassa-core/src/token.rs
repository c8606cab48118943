//! Self-contained signed tokens (HS256 JWTs). A token is verified from memory alone: the signing
//! keys live in the database and every node caches them, so any node accepts any node's tokens
//! without a database round trip.
//!
//! Only HS256 is ever issued or accepted, so this is a few lines over `hmac`/`sha2` rather than a
//! general JWT library with its RSA/ECDSA stack; `alg` is checked, never trusted.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::time::Millis;

type HmacSha256 = Hmac<Sha256>;

/// A secret that signs tokens, identified by `kid` so keys can be rotated.
#[derive(Clone)]
pub struct SigningKey {
    pub id: String,
    pub secret: Vec<u8>,
    pub created_at: Millis,
}

impl SigningKey {
    /// A fresh random 256-bit key. Never from a store's seed: two stores with one seed must not
    /// accept each other's tokens, and `kid` names the store a token belongs to.
    pub fn generate(now: Millis) -> Self {
        Self {
            id: crate::context::with_current(|c| c.qualified(Uuid::new_v4().simple().to_string())),
            secret: rand::random::<[u8; 32]>().to_vec(),
            created_at: now,
        }
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("token signed with unknown key {0}")]
    UnknownKey(String),
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
}

/// Claims that carry an expiry, in epoch seconds.
pub trait Expiring {
    fn expires_at(&self) -> i64;
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// All signing keys known to this process; the newest signs.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: HashMap<String, Vec<u8>>,
    current: SigningKey,
}

impl KeyRing {
    /// `None` when there is no key at all.
    pub fn new(keys: Vec<SigningKey>) -> Option<Self> {
        let current = keys.iter().max_by_key(|k| (k.created_at, k.id.clone()))?.clone();
        let keys = keys.into_iter().map(|k| (k.id, k.secret)).collect();
        Some(Self { keys, current })
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn sign<C: Serialize>(&self, claims: &C) -> String {
        let header = Header {
            alg: "HS256".into(),
            typ: "JWT".into(),
            kid: self.current.id.clone(),
        };
        let mut token = B64.encode(serde_json::to_vec(&header).expect("header serializes"));
        token.push('.');
        token.push_str(&B64.encode(serde_json::to_vec(claims).expect("claims serialize")));
        let signature = mac(&self.current.secret, token.as_bytes())
            .finalize()
            .into_bytes();
        token.push('.');
        token.push_str(&B64.encode(signature));
        token
    }

    /// Checks the signature, then the expiry against `now_secs`, and only then decodes the claims.
    pub fn verify<C: DeserializeOwned + Expiring>(
        &self,
        token: &str,
        now_secs: i64,
    ) -> Result<C, TokenError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(claims_b64), Some(sig_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header = decode_part(header_b64)?;
        if header.alg != "HS256" {
            return Err(TokenError::Malformed);
        }
        let secret = self
            .keys
            .get(&header.kid)
            .ok_or(TokenError::UnknownKey(header.kid))?;
        let signature = B64.decode(sig_b64).map_err(|_| TokenError::Malformed)?;
        let signed_len = header_b64.len() + 1 + claims_b64.len();
        mac(secret, &token.as_bytes()[..signed_len])
            .verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: C = decode_part(claims_b64)?;
        if claims.expires_at() <= now_secs {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

fn mac(secret: &[u8], data: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(data);
    mac
}

fn decode_part<T: DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = B64.decode(part).map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

/// The two OAuth grants of `POST /oauth/access_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// Shopper access: catalog reads, carts, checkout.
    Implicit,
    /// Administrator access: everything.
    ClientCredentials,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Implicit => "implicit",
            Grant::ClientCredentials => "client_credentials",
        }
    }
}

/// What distinguishes an access token from the other kinds of token kassa signs with the same
/// keys, so one can never be replayed as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenUse {
    Access,
    /// `EP-Account-Management-Authentication-Token`.
    AccountMember,
    /// A legacy customer's token (`X-Moltin-Customer-Token`).
    Customer,
}

/// The claims of a Bearer access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub token_use: TokenUse,
    pub grant: Grant,
    /// The application key's client_id.
    pub sub: String,
    /// The application key's id: a deleted key's tokens are recognised by it.
    pub key_id: Uuid,
    pub iat: i64,
    pub exp: i64,
}

impl Expiring for AccessClaims {
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

/// The claims of an account management authentication token: a member acting for one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountClaims {
    pub token_use: TokenUse,
    /// The account member.
    pub sub: Uuid,
    /// The account the member acts for (Elastic Path's example token calls it `scope`).
    pub scope: Uuid,
    pub iat: i64,
    pub exp: i64,
}

impl Expiring for AccountClaims {
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

/// The claims of a customer token, issued by `POST /v2/customers/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerClaims {
    pub token_use: TokenUse,
    /// The customer's id.
    pub sub: Uuid,
    pub iat: i64,
    pub exp: i64,
}

impl Expiring for CustomerClaims {
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            token_use: TokenUse::Access,
            grant: Grant::Implicit,
            sub: "client".into(),
            key_id: Uuid::nil(),
            iat: 0,
            exp,
        }
    }

    fn ring() -> KeyRing {
        KeyRing::new(vec![SigningKey::generate(1)]).unwrap()
    }

    #[test]
    fn round_trips() {
        let ring = ring();
        let token = ring.sign(&claims(100));
        assert_eq!(ring.verify::<AccessClaims>(&token, 99).unwrap(), claims(100));
    }

    #[test]
    fn refuses_expired_tampered_foreign_and_malformed_tokens() {
        let ring = ring();
        let token = ring.sign(&claims(100));
        assert_eq!(ring.verify::<AccessClaims>(&token, 100), Err(TokenError::Expired));

        let forged_claims = B64.encode(
            serde_json::to_vec(&AccessClaims {
                grant: Grant::ClientCredentials,
                ..claims(100)
            })
            .unwrap(),
        );
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert_eq!(
            ring.verify::<AccessClaims>(&tampered, 0),
            Err(TokenError::BadSignature)
        );

        let other = KeyRing::new(vec![SigningKey {
            id: ring.current.id.clone(),
            ..SigningKey::generate(1)
        }])
        .unwrap();
        assert_eq!(
            other.verify::<AccessClaims>(&token, 0),
            Err(TokenError::BadSignature)
        );

        let stranger = KeyRing::new(vec![SigningKey::generate(1)]).unwrap();
        assert!(matches!(
            stranger.verify::<AccessClaims>(&token, 0),
            Err(TokenError::UnknownKey(_))
        ));

        for bad in ["", "abc", "a.b", "a.b.c.d", "xx.yy.zz"] {
            assert_eq!(
                ring.verify::<AccessClaims>(bad, 0),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }

        let none_alg = format!(
            "{}.{}.",
            B64.encode(br#"{"alg":"none","typ":"JWT","kid":"x"}"#),
            parts[1]
        );
        assert_eq!(
            ring.verify::<AccessClaims>(&none_alg, 0),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn newest_key_signs_and_older_keys_still_verify() {
        let old = SigningKey::generate(1);
        let old_ring = KeyRing::new(vec![old.clone()]).unwrap();
        let old_token = old_ring.sign(&claims(100));
        let new = SigningKey::generate(2);
        let ring = KeyRing::new(vec![old, new.clone()]).unwrap();
        assert_eq!(ring.current.id, new.id);
        assert!(ring.verify::<AccessClaims>(&old_token, 0).is_ok());
    }

    #[test]
    fn access_and_customer_claims_do_not_decode_as_each_other() {
        let ring = ring();
        let access = ring.sign(&claims(100));
        assert_eq!(
            ring.verify::<CustomerClaims>(&access, 0),
            Err(TokenError::Malformed)
        );
        let customer = ring.sign(&CustomerClaims {
            token_use: TokenUse::Customer,
            sub: crate::ids::new_id(),
            iat: 0,
            exp: 100,
        });
        assert_eq!(
            ring.verify::<AccessClaims>(&customer, 0),
            Err(TokenError::Malformed)
        );
        assert!(ring.verify::<CustomerClaims>(&customer, 0).is_ok());

        // A client id that happens to be a UUID decodes as customer claims: `token_use` is what
        // tells them apart, and the verifiers check it.
        let uuid_sub = ring.sign(&AccessClaims {
            sub: crate::ids::new_id().to_string(),
            ..claims(100)
        });
        let decoded = ring.verify::<CustomerClaims>(&uuid_sub, 0).unwrap();
        assert_eq!(decoded.token_use, TokenUse::Access);
    }
}
