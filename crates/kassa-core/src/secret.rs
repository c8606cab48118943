//! Secrets at rest: client secrets (and later passwords) are stored only as Argon2id hashes.
//! Hashing is deliberately slow (≈20 ms); callers run it off the async threads.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;

/// A new random client secret: 40 URL-safe characters (240 bits).
pub fn generate_client_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::ids::random_bytes::<30>())
}

/// A new random public client id; in a per-test store (`/_kassa/stores`), prefixed with the
/// store's id and a `.` (a character the random part never has), so a request's client id names
/// its store.
pub fn generate_client_id() -> String {
    let random = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::ids::random_bytes::<21>());
    crate::context::with_current(|c| c.qualified(random))
}

/// Argon2id with the crate's recommended parameters, as a PHC string (salt included).
pub fn hash_secret(secret: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .expect("Argon2 with default parameters cannot fail on a generated salt")
        .to_string()
}

/// The prefix of [`hash_generated_secret`]'s hashes.
const SHA256_PREFIX: &str = "$kassa-sha256$";

/// A fast hash for a secret kassa generated itself ([`generate_client_secret`]: 240 random
/// bits): Argon2's cost protects secrets a person chose and might reuse or guess; inverting
/// SHA-256 of 240 random bits is out of reach without it. Per-test stores use it, so making one
/// and logging in to it take microseconds, not Argon2's ~20 ms of a core each.
pub fn hash_generated_secret(secret: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(secret.as_bytes());
    let mut hash = String::from(SHA256_PREFIX);
    for byte in digest {
        hash.push_str(&format!("{byte:02x}"));
    }
    hash
}

/// Constant-time check of a secret against a stored hash (an Argon2 PHC string, or a
/// [`hash_generated_secret`] one); a corrupt hash never matches.
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    if phc.starts_with(SHA256_PREFIX) {
        use subtle::ConstantTimeEq;
        let expected = hash_generated_secret(secret);
        return expected.len() == phc.len() && bool::from(expected.as_bytes().ct_eq(phc.as_bytes()));
    }
    PasswordHash::new(phc)
        .map(|hash| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A valid hash of a random secret, to verify against when the account is unknown, so a wrong
/// client id costs the same time as a wrong secret.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_secret(&generate_client_secret()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_the_right_secret() {
        let hash = hash_secret("s3cret-value");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_secret("s3cret-value", &hash));
        assert!(!verify_secret("s3cret-valuf", &hash));
        assert!(!verify_secret("s3cret-value", "not a hash"));
        assert_ne!(hash, hash_secret("s3cret-value"), "salted");
    }

    #[test]
    fn generated_secrets_hash_fast_and_verify_only_themselves() {
        let secret = generate_client_secret();
        let hash = hash_generated_secret(&secret);
        assert!(
            hash.starts_with("$kassa-sha256$") && hash.len() == 14 + 64,
            "{hash}"
        );
        assert!(verify_secret(&secret, &hash));
        assert!(!verify_secret(&generate_client_secret(), &hash));
        assert!(!verify_secret(&secret, "$kassa-sha256$00"));
        assert!(!verify_secret(&secret, &hash_secret("other")));
    }

    #[test]
    fn generated_credentials_are_random_and_url_safe() {
        let (a, b) = (generate_client_secret(), generate_client_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 40);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(generate_client_id().len(), 28);
    }
}
