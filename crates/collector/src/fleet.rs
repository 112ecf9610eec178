//! The fleet policy: set by an administrator (admin API or `posture-collector policy set FILE`),
//! validated with the agent's own loader (`posture-policy`), every version kept in the store.
//! Agents fetch the newest at check-in and judge against it; the collector judges reports
//! against it too. Without one, the agent's embedded default policy is the fleet policy.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use posture_policy::Policy;

use crate::ingest::FleetPolicy;
use crate::store::{Store, StoreResult, StoredPolicy};

/// How long a collector reuses the fleet policy it read before reading it again. Several
/// collectors may share a database: one that did not set the policy sees it within this time.
const CACHE_TTL: Duration = Duration::from_secs(5);

/// The name a stored fleet policy goes by in reports and errors.
pub const FLEET_SOURCE: &str = "collector";

/// Validates a policy text with the agent's loader. `source` names it in errors (a file path
/// for `policy set FILE`), which read `source:line:column: field: message`.
///
/// # Errors
/// The loader's error, located.
pub fn validate(source: &str, text: &str) -> Result<Policy, String> {
    Policy::from_toml(source, text).map_err(|e| e.to_string())
}

/// What the collector judges with and agents fetch.
#[derive(Debug, Clone)]
pub struct Current {
    /// Digest and enabled checks.
    pub judging: Arc<FleetPolicy>,
    /// The stored version, `None` when the embedded default is in force.
    pub stored: Option<StoredPolicy>,
}

/// The fleet policy, re-read from the store at most every [`CACHE_TTL`].
#[derive(Debug, Default)]
pub struct PolicyCache {
    slot: Mutex<Option<(Instant, Current)>>,
}

impl PolicyCache {
    /// The fleet policy in force.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn current(&self, store: &dyn Store) -> StoreResult<Current> {
        if let Some((at, current)) = self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            && at.elapsed() < CACHE_TTL
        {
            return Ok(current.clone());
        }
        let stored = store.current_policy().await?;
        let judging = match &stored {
            Some(p) => match Policy::from_toml(FLEET_SOURCE, &p.text) {
                Ok(policy) => FleetPolicy::of(&policy),
                Err(e) => {
                    // Validated when set; only a loader that changed since could refuse it.
                    tracing::error!(version = p.version, error = %e, "the stored fleet policy no longer loads; judging with the embedded default");
                    FleetPolicy::embedded()
                }
            },
            None => FleetPolicy::embedded(),
        };
        let current = Current {
            judging: Arc::new(judging),
            stored,
        };
        *self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((Instant::now(), current.clone()));
        Ok(current)
    }

    /// Forgets the cached policy (after this collector set a new one).
    pub fn invalidate(&self) {
        *self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

/// Validates and stores a new fleet policy version; returns it.
///
/// # Errors
/// `Err(Ok(message))` for a policy the loader refuses, `Err(Err(store error))` when it cannot be
/// stored.
pub async fn set(
    store: &dyn Store,
    source: &str,
    text: &str,
    now: i64,
) -> Result<StoredPolicy, Result<String, crate::store::StoreError>> {
    let policy = validate(source, text).map_err(Ok)?;
    let version = store
        .set_policy(&FleetPolicy::of(&policy), text, now)
        .await
        .map_err(Err)?;
    Ok(StoredPolicy {
        version,
        digest: policy.digest,
        text: text.to_owned(),
        set_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_policy_is_refused_with_file_line_and_column() {
        let text = posture_policy::DEFAULT_POLICY_TOML
            .replace("max_idle_minutes = 15", "max_idle_minutes = 0");
        let err = validate("fleet.toml", &text).unwrap_err();
        let line = text
            .lines()
            .position(|l| l.starts_with("max_idle_minutes"))
            .unwrap()
            + 1;
        assert!(err.starts_with(&format!("fleet.toml:{line}:1")), "{err}");
        assert!(err.contains("max_idle_minutes"), "{err}");
    }

    #[test]
    fn the_embedded_policy_is_valid_and_keeps_its_digest() {
        let p = validate("x", posture_policy::DEFAULT_POLICY_TOML).unwrap();
        assert_eq!(p.digest, Policy::embedded().digest);
    }
}
