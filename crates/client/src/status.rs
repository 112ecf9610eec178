//! What `posture status` shows: the daemon's last check and delivery, kept in `status.json` in
//! the state directory (written atomically, owner-only) so another process can read it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::fsutil;

/// File name of the status in the state directory.
pub const STATUS_FILE: &str = "status.json";

/// The daemon's last known state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// When the daemon started, RFC 3339.
    pub daemon_started_at: Option<String>,
    /// Its process id.
    pub daemon_pid: Option<u32>,
    /// When the last check finished.
    pub last_check_at: Option<String>,
    /// The verdict of the last check (`compliant`, `noncompliant`, `unknown`).
    pub last_posture: Option<String>,
    /// The id of the last report.
    pub last_report_id: Option<String>,
    /// Why the last check or its spooling failed, if it did.
    pub last_check_error: Option<String>,
    /// When a report was last acknowledged by the endpoint.
    pub last_delivery_at: Option<String>,
    /// The last delivery failure, cleared by the next success.
    pub last_delivery_error: Option<String>,
    /// When that failure happened.
    pub last_delivery_error_at: Option<String>,
    /// Reports acknowledged since the state directory was created.
    pub delivered_total: u64,
    /// Reports dropped because the spool was full.
    pub dropped_total: u64,
    /// Reports the endpoint refused for good (kept in `spool/rejected/`).
    pub rejected_total: u64,
    /// Spool entries found corrupt (kept in `spool/corrupt/`).
    pub corrupt_total: u64,
    /// Refused or corrupt reports dropped from `spool/rejected/` and `spool/corrupt/`, which are
    /// bounded too.
    pub aside_dropped_total: u64,
    /// The daemon's resident memory after its last check, bytes.
    pub daemon_rss_bytes: Option<u64>,
    /// The daemon's CPU time since it started, as of its last check, milliseconds.
    pub daemon_cpu_ms: Option<u64>,
    /// How changes are noticed: `live (...)` with what is watched, or `schedule only: why`.
    pub watch_mode: Option<String>,
    /// The last change that caused a check, and what came of it.
    pub last_trigger: Option<String>,
    /// When that check ran, RFC 3339.
    pub last_trigger_at: Option<String>,
}

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
#[error("status file {}: {message}", path.display())]
pub struct StatusError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// Reads the status of the daemon whose state is in `state_dir`; `None` if it never ran.
///
/// # Errors
/// When the file exists but cannot be read or parsed.
pub fn load(state_dir: &Path) -> Result<Option<Status>, StatusError> {
    let path = state_dir.join(STATUS_FILE);
    match fs_err::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StatusError {
                path,
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StatusError {
            path,
            message: e.to_string(),
        }),
    }
}

/// The current time, RFC 3339 in UTC.
#[must_use]
pub fn now_rfc3339() -> String {
    rfc3339(std::time::SystemTime::now())
}

/// A time of this machine's clock, RFC 3339 in UTC.
#[must_use]
pub fn rfc3339(at: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The daemon's status, saved after every change.
#[derive(Debug)]
pub struct StatusBook {
    path: PathBuf,
    inner: Mutex<Status>,
}

impl StatusBook {
    /// Starts from what is on disk (so totals survive restarts), or from nothing.
    #[must_use]
    pub fn open(state_dir: &Path) -> Self {
        let status = match load(state_dir) {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "starting with a fresh status");
                Status::default()
            }
        };
        Self {
            path: state_dir.join(STATUS_FILE),
            inner: Mutex::new(status),
        }
    }

    /// Changes the status and saves it. A failure to save is logged, never fatal.
    pub fn update(&self, change: impl FnOnce(&mut Status)) {
        let snapshot = {
            let mut guard = self
                .inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            change(&mut guard);
            guard.clone()
        };
        let bytes = match serde_json::to_vec_pretty(&snapshot) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode the status");
                return;
            }
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!(".{STATUS_FILE}.tmp"));
        if let Err(e) = fsutil::write_atomic(&self.path, &tmp, &bytes) {
            tracing::debug!(error = %e, "cannot save the status");
        }
    }

    /// A copy of the current status.
    #[must_use]
    pub fn snapshot(&self) -> Status {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
