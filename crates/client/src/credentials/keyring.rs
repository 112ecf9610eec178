//! macOS and Windows: the OS secret store through `keyring-core`.
//!
//! Not compiled on the Linux build machine (no macOS or Windows target is installed there); kept
//! this small on purpose so a reader can check it by eye. macOS uses the System keychain, which a
//! LaunchDaemon running as root can use without a login session. Windows uses Credential
//! Manager; a service running as LocalSystem only sees what it wrote itself, so `posture enroll`
//! must run as the service account (the installer runs it that way).

use super::{ACCOUNT_NAME, CredentialError, Credentials, SERVICE_NAME, SecretStore, parse};

/// The OS secret store entry holding the credentials as JSON.
pub(crate) struct KeyringStore {
    entry: keyring_core::Entry,
}

impl KeyringStore {
    pub(crate) fn open() -> Result<Self, CredentialError> {
        let store_err = |e: keyring_core::Error| CredentialError::Store(e.to_string());
        #[cfg(target_os = "macos")]
        let entry = apple_native_keyring_store::keychain::Cred::build(
            apple_native_keyring_store::keychain::MacKeychainDomain::System,
            SERVICE_NAME,
            ACCOUNT_NAME,
        )
        .map_err(store_err)?;
        #[cfg(target_os = "windows")]
        let entry = {
            let store: std::sync::Arc<keyring_core::CredentialStore> =
                windows_native_keyring_store::Store::new().map_err(store_err)?;
            keyring_core::set_default_store(store);
            keyring_core::Entry::new(SERVICE_NAME, ACCOUNT_NAME).map_err(store_err)?
        };
        Ok(Self { entry })
    }
}

impl SecretStore for KeyringStore {
    fn load(&self) -> Result<Option<Credentials>, CredentialError> {
        match self.entry.get_secret() {
            Ok(bytes) => parse(&self.describe(), &bytes).map(Some),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(CredentialError::Store(e.to_string())),
        }
    }

    fn store(&self, credentials: &Credentials) -> Result<(), CredentialError> {
        let bytes =
            serde_json::to_vec(credentials).map_err(|e| CredentialError::Store(e.to_string()))?;
        self.entry
            .set_secret(&bytes)
            .map_err(|e| CredentialError::Store(e.to_string()))
    }

    fn delete(&self) -> Result<(), CredentialError> {
        match self.entry.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(CredentialError::Store(e.to_string())),
        }
    }

    fn describe(&self) -> String {
        if cfg!(target_os = "macos") {
            format!("System keychain, service {SERVICE_NAME}")
        } else {
            format!("Windows Credential Manager, target {ACCOUNT_NAME}.{SERVICE_NAME}")
        }
    }
}
