//! Secrets the collector hands out (admin token, enrollment secret, device tokens, session and
//! login-link tokens) and how it checks them.
//!
//! Every secret is 32 random bytes from the operating system, so a plain SHA-256 of it is a safe
//! thing to store: there is nothing to brute-force. Only hashes reach the database and logs never
//! see either.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError, setting};

/// Why a secret could not be made or checked.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The operating system's random source failed.
    #[error("cannot read random bytes from the operating system: {0}")]
    Random(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new random secret: 32 bytes, URL-safe base64 without padding (43 characters).
pub fn generate_secret() -> Result<String, CredentialError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| CredentialError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Lower-case hex SHA-256 of a secret, as stored.
#[must_use]
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Compares two strings in time that depends only on their lengths.
#[must_use]
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.bytes()
        .zip(b.bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Secrets created on the first start, to be shown once.
#[derive(Debug, Default)]
pub struct FirstStart {
    /// The admin token, if this start created it.
    pub admin_token: Option<String>,
    /// The enrollment secret, if this start created it.
    pub enroll_secret: Option<String>,
}

/// Creates the admin token and the enrollment secret if the database has none yet. When several
/// collectors start together on one database, exactly one of them creates each.
pub async fn ensure_initial_secrets(store: &dyn Store) -> Result<FirstStart, CredentialError> {
    let mut first = FirstStart::default();
    let admin = generate_secret()?;
    if store
        .init_setting(setting::ADMIN_TOKEN_SHA256, &hash_secret(&admin))
        .await?
    {
        first.admin_token = Some(admin);
    }
    let enroll = generate_secret()?;
    if store
        .init_setting(setting::ENROLL_SECRET_SHA256, &hash_secret(&enroll))
        .await?
    {
        first.enroll_secret = Some(enroll);
    }
    Ok(first)
}

/// Replaces a stored secret with a new random one and returns it.
pub async fn rotate(store: &dyn Store, name: &str) -> Result<String, CredentialError> {
    let secret = generate_secret()?;
    store.set_setting(name, &hash_secret(&secret)).await?;
    Ok(secret)
}

/// Whether `presented` matches the stored hash of setting `name`.
pub async fn matches_setting(
    store: &dyn Store,
    name: &str,
    presented: &str,
) -> Result<bool, StoreError> {
    let Some(stored) = store.setting(name).await? else {
        return Ok(false);
    };
    Ok(constant_time_eq(&stored, &hash_secret(presented)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_url_safe_and_distinct() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn the_stored_hash_is_hex_sha256() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_comparison_agrees_with_equality() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
