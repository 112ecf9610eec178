//! Where the device token lives, per operating system.
//!
//! | OS | store | why |
//! |---|---|---|
//! | Linux | `credentials.json` in the state directory, mode 0600, directory 0700 (or a systemd credential, read-only) | a root daemon has no Secret Service, and kernel keyutils does not survive a reboot |
//! | macOS | the System keychain through `keyring-core` | a LaunchDaemon has no login keychain; the System keychain is unlocked at boot |
//! | Windows | Credential Manager through `keyring-core`, written by the service itself | Credential Manager is per account, so only what the service (LocalSystem) wrote is visible to it |
//!
//! The token is never written to the config file, never logged ([`Token`]'s `Debug` and
//! `Display` print `[redacted]`), and a credentials file readable by others is refused.

mod file;
#[cfg(any(target_os = "macos", target_os = "windows"))]
mod keyring;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use file::{CREDENTIALS_FILE, FileStore, SYSTEMD_CREDENTIAL};

/// Name under which the agent's secret is filed in OS secret stores.
pub const SERVICE_NAME: &str = "dev.posture.agent";
/// Account name of the agent's secret in OS secret stores.
pub const ACCOUNT_NAME: &str = "device";

/// A bearer token. It never shows itself in `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    #[must_use]
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for the `Authorization` header and the secret store only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How the agent authenticates to its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Enrolled with a posture collector: a device id and a device token.
    Collector,
    /// A plain webhook: a static bearer token, or none.
    Webhook,
}

/// What enrollment produced, kept in the secret store as one JSON value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// How they were obtained.
    pub mode: Mode,
    /// The endpoint they belong to.
    pub endpoint: String,
    /// The device id the collector assigned (collector mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// The bearer token, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Token>,
    /// When they were stored, RFC 3339.
    pub enrolled_at: String,
}

/// Why the secret store failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The credentials file could not be read or written.
    #[error("credentials {}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The credentials file can be read by others; it is not used until fixed.
    #[error(
        "credentials file {} has mode {mode:o}, readable by others; refusing to use it (chmod 600 it, or enroll again)",
        path.display()
    )]
    TooOpen {
        /// The file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The stored value is not credentials.
    #[error("stored credentials in {location} are unreadable: {message}")]
    Corrupt {
        /// Where.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// The OS secret store failed.
    #[error("OS secret store: {0}")]
    Store(String),
}

/// A place that keeps the agent's credentials.
pub trait SecretStore: Send + Sync {
    /// The stored credentials, or `None` when not enrolled.
    ///
    /// # Errors
    /// When the store cannot be read or holds something unreadable.
    fn load(&self) -> Result<Option<Credentials>, CredentialError>;
    /// Replaces the stored credentials.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn store(&self, credentials: &Credentials) -> Result<(), CredentialError>;
    /// Removes the stored credentials; not an error when there are none.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn delete(&self) -> Result<(), CredentialError>;
    /// Where the credentials live, for `posture status` (never the secret itself).
    fn describe(&self) -> String;
}

/// The secret store of this operating system for a daemon whose state is in `state_dir`.
///
/// # Errors
/// When the OS store cannot be opened (macOS, Windows).
pub fn system_store(state_dir: &Path) -> Result<Box<dyn SecretStore>, CredentialError> {
    #[cfg(any(target_os = "macos", target_os = "windows"))]
    {
        let _ = state_dir;
        Ok(Box::new(keyring::KeyringStore::open()?))
    }
    #[cfg(not(any(target_os = "macos", target_os = "windows")))]
    {
        Ok(Box::new(FileStore::in_state_dir(state_dir)))
    }
}

fn parse(location: &str, bytes: &[u8]) -> Result<Credentials, CredentialError> {
    serde_json::from_slice(bytes).map_err(|e| CredentialError::Corrupt {
        location: location.to_owned(),
        message: e.to_string(),
    })
}
