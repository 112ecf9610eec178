//! Credentials in a root-only file: the Linux store (and the fallback anywhere else).

use std::path::{Path, PathBuf};

use super::{CredentialError, Credentials, SecretStore, parse};
use crate::fsutil;

/// File name of the credentials in the state directory.
pub const CREDENTIALS_FILE: &str = "credentials.json";
/// Name of the systemd credential (`LoadCredential=posture-credentials:…`) read before the file.
pub const SYSTEMD_CREDENTIAL: &str = "posture-credentials";

/// Credentials in `credentials.json` (mode 0600) in the state directory (mode 0700). When the
/// service is started by systemd with a `posture-credentials` credential, that one is read
/// instead (read-only; systemd keeps it out of reach of other units).
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
    systemd: Option<PathBuf>,
}

impl FileStore {
    /// The store for a state directory.
    #[must_use]
    pub fn in_state_dir(state_dir: &Path) -> Self {
        let systemd = std::env::var_os("CREDENTIALS_DIRECTORY")
            .map(|dir| PathBuf::from(dir).join(SYSTEMD_CREDENTIAL))
            .filter(|p| p.is_file());
        Self {
            path: state_dir.join(CREDENTIALS_FILE),
            systemd,
        }
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl SecretStore for FileStore {
    fn load(&self) -> Result<Option<Credentials>, CredentialError> {
        if let Some(path) = &self.systemd {
            let bytes = fs_err::read(path).map_err(|source| CredentialError::Io {
                path: path.clone(),
                source,
            })?;
            return parse(&path.display().to_string(), &bytes).map(Some);
        }
        match fsutil::readable_by_others(&self.path) {
            Ok(Some(mode)) => {
                return Err(CredentialError::TooOpen {
                    path: self.path.clone(),
                    mode,
                });
            }
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CredentialError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        }
        let bytes = fs_err::read(&self.path).map_err(|source| CredentialError::Io {
            path: self.path.clone(),
            source,
        })?;
        parse(&self.path.display().to_string(), &bytes).map(Some)
    }

    fn store(&self, credentials: &Credentials) -> Result<(), CredentialError> {
        let io = |source| CredentialError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fsutil::create_private_dir(dir).map_err(io)?;
        let bytes =
            serde_json::to_vec_pretty(credentials).map_err(|e| CredentialError::Corrupt {
                location: self.describe(),
                message: e.to_string(),
            })?;
        let tmp = dir.join(format!(".{CREDENTIALS_FILE}.tmp"));
        fsutil::write_atomic(&self.path, &tmp, &bytes).map_err(io)
    }

    fn delete(&self) -> Result<(), CredentialError> {
        match fs_err::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CredentialError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn describe(&self) -> String {
        match &self.systemd {
            Some(p) => format!("systemd credential {}", p.display()),
            None => format!("file {} (mode 0600)", self.path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Mode, Token};
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            mode: Mode::Collector,
            endpoint: "https://posture.example.com".into(),
            device_id: Some("dev-1".into()),
            token: Some(Token::new("s3cr3t-token")),
            enrolled_at: "2026-11-23T10:00:00Z".into(),
        }
    }

    #[test]
    fn stored_credentials_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::in_state_dir(&dir.path().join("state"));
        assert_eq!(store.load().unwrap(), None);
        store.store(&creds()).unwrap();
        assert_eq!(store.load().unwrap(), Some(creds()));
        store.delete().unwrap();
        assert_eq!(store.load().unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_credentials_file_is_owner_only_and_a_wider_one_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::in_state_dir(dir.path());
        store.store(&creds()).unwrap();
        let mode = fs_err::metadata(store.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs_err::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(store.load(), Err(CredentialError::TooOpen { .. })));
    }

    #[test]
    fn a_token_never_shows_in_debug_output() {
        let text = format!("{:?} {}", creds(), Token::new("s3cr3t-token"));
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}
