//! The fleet policy a collector hands out at check-in: the agent judges with it instead of its
//! own (configured or embedded) policy, so every device of the fleet is judged by the policy the
//! administrator set. It is kept in the state directory, so a restarted agent judges its first
//! report with it too. A policy whose digest does not match its text is refused.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use posture_schema::protocol::FleetPolicy;
use sha2::Digest as _;

use crate::fsutil;

/// The file in the state directory that keeps the last fleet policy received.
pub const FILE: &str = "fleet-policy.json";

/// The fleet policy in force for this agent, shared by check-in (which updates it) and the
/// checks (which read it). Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct FleetPolicySlot {
    file: Option<PathBuf>,
    inner: Arc<Mutex<Option<FleetPolicy>>>,
}

/// `sha256:` and the hex SHA-256 of a policy text, as `posture-policy` computes its digest.
fn digest_of(text: &str) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(text.as_bytes()))
}

impl FleetPolicySlot {
    /// The slot, with the policy kept in `state_dir` if there is a valid one.
    #[must_use]
    pub fn load(state_dir: &Path) -> Self {
        let file = state_dir.join(FILE);
        let kept = match fs_err::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<FleetPolicy>(&bytes) {
                Ok(p) if digest_of(&p.toml) == p.digest => Some(p),
                Ok(_) => {
                    tracing::warn!(file = %file.display(), "the kept fleet policy does not match its digest; ignoring it");
                    None
                }
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "the kept fleet policy is unreadable; ignoring it");
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the kept fleet policy");
                None
            }
        };
        Self {
            file: Some(file),
            inner: Arc::new(Mutex::new(kept)),
        }
    }

    /// The fleet policy, if the collector set one.
    #[must_use]
    pub fn get(&self) -> Option<FleetPolicy> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Takes what a check-in offered (`None`: the collector has no fleet policy, the agent's
    /// own policy applies). Returns whether the policy in force changed, so the caller can
    /// judge the device again. A policy whose digest does not match its text is refused.
    pub fn offer(&self, offered: Option<FleetPolicy>) -> bool {
        if let Some(p) = &offered
            && digest_of(&p.toml) != p.digest
        {
            tracing::warn!(digest = %p.digest, "the collector's fleet policy does not match its digest; keeping the current one");
            return false;
        }
        let mut current = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_ref().map(|p| &p.digest) == offered.as_ref().map(|p| &p.digest) {
            return false;
        }
        tracing::info!(digest = ?offered.as_ref().map(|p| &p.digest), "fleet policy changed");
        if let Some(file) = &self.file {
            let kept = match &offered {
                Some(p) => serde_json::to_vec(p)
                    .map_err(std::io::Error::other)
                    .and_then(|bytes| {
                        fsutil::write_atomic(file, &file.with_extension("json.tmp"), &bytes)
                    }),
                None => match fs_err::remove_file(file) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    other => other,
                },
            };
            if let Err(e) = kept {
                tracing::warn!(error = %e, "cannot keep the fleet policy in the state directory");
            }
        }
        *current = offered;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> FleetPolicy {
        FleetPolicy {
            digest: digest_of(text),
            toml: text.into(),
            version: 1,
        }
    }

    #[test]
    fn an_offered_policy_is_kept_across_restarts_and_a_change_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let slot = FleetPolicySlot::load(dir.path());
        assert_eq!(slot.get(), None);
        assert!(slot.offer(Some(policy("name = \"a\""))));
        assert!(
            !slot.offer(Some(policy("name = \"a\""))),
            "same digest: no change"
        );
        let again = FleetPolicySlot::load(dir.path());
        assert_eq!(again.get(), Some(policy("name = \"a\"")));
        assert!(
            again.offer(None),
            "the collector dropped it: back to the agent's own"
        );
        assert_eq!(FleetPolicySlot::load(dir.path()).get(), None);
    }

    #[test]
    fn a_policy_whose_digest_does_not_match_its_text_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let slot = FleetPolicySlot::load(dir.path());
        let mut forged = policy("name = \"a\"");
        forged.toml.push_str("\n# changed");
        assert!(!slot.offer(Some(forged)));
        assert_eq!(slot.get(), None);
    }
}
