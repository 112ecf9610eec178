//! The one reader of `/etc/shadow` for every check: it yields only what each password field
//! means ([`PasswordState`]) and the ageing numbers, never a hash (see `posture_host::shadow`).
//! The file is readable by root only; otherwise the reason says so, with the hint to run as
//! root, and the facts that depend on it are unknown.

pub use posture_host::shadow::{PATH, PasswordState, ShadowEntry};
use posture_host::{Host, ReadError};

use crate::evidence;

/// Every entry of the file, or why they are unknown.
pub fn read(host: &dyn Host) -> Result<Vec<ShadowEntry>, String> {
    from_read(host.read_text(PATH))
}

/// The entries from the outcome of reading the file (for probes that read through a cache).
pub fn from_read(read: Result<String, ReadError>) -> Result<Vec<ShadowEntry>, String> {
    match read {
        Ok(text) => posture_host::shadow::parse(&text).map_err(|e| e.to_string()),
        Err(ReadError::PermissionDenied) => Err(format!(
            "{PATH} is readable by root only (permission denied): run posture as root to see whether accounts have a password"
        )),
        Err(e) => Err(evidence::read_failure(PATH, &e)),
    }
}

/// The entry of one account; a missing entry is an error (the account's password is then
/// decided elsewhere, which files do not show: NIS, LDAP, systemd-homed).
pub fn entry<'a>(entries: &'a [ShadowEntry], user: &str) -> Result<&'a ShadowEntry, String> {
    entries
        .iter()
        .find(|e| e.name == user)
        .ok_or_else(|| format!("{PATH} has no entry for {user}"))
}
