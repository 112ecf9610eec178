//! Storage: one [`Store`] trait, with a SQLite and a PostgreSQL implementation.
//!
//! Everything the collector knows lives here, never in process memory: several collector
//! processes may share one PostgreSQL database. Every write that the HTTP layer acknowledges is
//! committed before the acknowledgement is sent.

mod batch;
pub mod checkins;
pub mod content;
mod postgres;
mod sql;
mod sqlite;
mod state;

use std::time::Duration;

use async_trait::async_trait;
use posture_schema::{Posture, Status};

use crate::enforcement::Enforcement;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use state::MISSING_CHECK_SUMMARY;

/// How far an agent's clock may lag the collector's and still have its report count as the
/// answer to a check-now request (milliseconds).
pub const CHECK_NOW_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is too busy right now; retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The transaction lost a race with another one (deadlock, serialization failure); running
    /// it again is expected to succeed.
    #[error("transaction conflict: {0}")]
    Conflict(String),
    /// The database answered with an error that retrying will not fix.
    #[error("database error: {0}")]
    Database(String),
    /// The database refused a value the client sent (PostgreSQL SQLSTATE class 22, data
    /// exception); the HTTP layer answers 400.
    #[error("the database refused a value: {0}")]
    InvalidInput(String),
    /// The schema migrations could not be applied.
    #[error("cannot migrate the database schema: {0}")]
    Migration(String),
    /// The database URL is not one the collector understands.
    #[error("unsupported database URL {0:?}: expected sqlite:PATH or postgres://…")]
    UnsupportedUrl(String),
}

impl StoreError {
    /// Classifies a driver error: connection trouble, pool exhaustion, lock timeouts and lost
    /// races are temporary, input the database refuses is the client's fault, everything else
    /// is the server's. Each backend's codes are read as that backend defines them.
    pub(crate) fn from_sqlx(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => Self::Unavailable(err.to_string()),
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let class = if db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .is_some()
                {
                    classify_sqlstate(&code)
                } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    classify_sqlite(&code)
                } else {
                    ErrorClass::Server
                };
                let text = err.to_string();
                match class {
                    ErrorClass::Conflict => Self::Conflict(text),
                    ErrorClass::Temporary => Self::Unavailable(text),
                    ErrorClass::Client => Self::InvalidInput(text),
                    ErrorClass::Server => Self::Database(text),
                }
            }
            _ => Self::Database(err.to_string()),
        }
    }

    /// Whether the failure is temporary (the HTTP layer answers 503 with `Retry-After`).
    #[must_use]
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Conflict(_))
    }
}

/// What a database error code means for the request that met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// A transaction lost a race (serialization failure, deadlock): run it again.
    Conflict,
    /// The database cannot serve now: retry later (503).
    Temporary,
    /// The request carried a value the database refuses (400).
    Client,
    /// Anything else: a server fault (500, reason logged).
    Server,
}

/// Classifies a PostgreSQL SQLSTATE by its class (the first two characters; PostgreSQL
/// documentation, appendix A "PostgreSQL Error Codes"): 08 connection exception, 53 insufficient
/// resources, 57 operator intervention (shutdown, query cancelled) and 55P03 lock not available
/// are temporary; 40 transaction rollback (serialization failure, deadlock) is a conflict; 22
/// data exception (for example 22021, a NUL byte) is the client's; 42 (syntax error or access
/// rule violation, such as 42501 insufficient privilege) and everything else is the server's.
pub(crate) fn classify_sqlstate(code: &str) -> ErrorClass {
    match code.get(..2).unwrap_or_default() {
        "40" => ErrorClass::Conflict,
        "08" | "53" | "57" => ErrorClass::Temporary,
        _ if code == "55P03" || code == "55000" => ErrorClass::Temporary,
        "22" => ErrorClass::Client,
        _ => ErrorClass::Server,
    }
}

/// Classifies an SQLite result code (primary code in the low byte of an extended code):
/// 5 SQLITE_BUSY, 6 SQLITE_LOCKED, 10 SQLITE_IOERR and 13 SQLITE_FULL are temporary.
pub(crate) fn classify_sqlite(code: &str) -> ErrorClass {
    match code.parse::<i64>() {
        Ok(c) if matches!(c & 0xff, 5 | 6 | 10 | 13) => ErrorClass::Temporary,
        _ => ErrorClass::Server,
    }
}

/// Result of a storage operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Named settings kept in the database (hashes of secrets, never the secrets).
pub mod setting {
    /// SHA-256 (hex) of the admin token.
    pub const ADMIN_TOKEN_SHA256: &str = "admin_token_sha256";
    /// SHA-256 (hex) of the enrollment secret.
    pub const ENROLL_SECRET_SHA256: &str = "enroll_secret_sha256";
}

/// An agent asking to enroll, after the secret or code was checked.
#[derive(Debug, Clone, Default)]
pub struct Enrollment {
    /// The machine's stable identifier; enrolling again with the same one keeps the device id.
    pub machine_id: String,
    /// SHA-256 of the device token the agent presented (its current one, when re-enrolling).
    pub presented_token_sha256: Option<String>,
    /// The device an administrator's one-time code was issued for: re-enrolling that device is
    /// approved in advance.
    pub approved_device: Option<String>,
    /// Host name the agent reported.
    pub hostname: String,
    /// `linux`, `macos` or `windows`.
    pub platform: String,
    /// Agent version.
    pub agent_version: String,
}

/// What an enrollment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    /// A new device, or a known one re-enrolled with its current token or an administrator's
    /// code: the new token works now.
    Enrolled {
        /// The device id.
        device_id: String,
        /// Whether the machine was known before.
        re_enrolled: bool,
    },
    /// A known machine without its current token (or lost, retired or revoked): the new token
    /// waits for an administrator's approval; the old one keeps working meanwhile.
    Pending {
        /// The device id.
        device_id: String,
    },
}

/// One validated report ready to be stored, with the facts the queries need pulled out of it.
#[derive(Debug, Clone)]
pub struct IngestItem {
    /// The device the token belongs to.
    pub device_id: String,
    /// The report's id.
    pub report_id: String,
    /// When the checks ran by the agent's clock (Unix milliseconds); shown, never used to
    /// decide which report is current.
    pub generated_at: i64,
    /// When the collector received it (Unix milliseconds): the order of a device's reports.
    pub received_at: i64,
    /// The UTC day of `received_at`, `YYYY-MM-DD`.
    pub received_day: String,
    /// The agent version the report names.
    pub agent_version: String,
    /// How far the agent's clock was off when it sent the report (Unix ms, positive when
    /// ahead), when that is beyond the collector's `--max-clock-skew`.
    pub clock_skew_ms: Option<i64>,
    /// The machine id the report names.
    pub machine_id: Option<String>,
    /// The `sha256:` digest of the policy the agent judged with.
    pub policy_digest: String,
    /// Whether that policy is not the fleet policy the collector judged with.
    pub policy_mismatch: bool,
    /// Overall posture, as the collector judged it.
    pub posture: Posture,
    /// The report JSON exactly as received.
    pub body: String,
    /// Inventory facts from the report.
    pub inventory: Inventory,
    /// One row per check.
    pub findings: Vec<FindingSummary>,
    /// Why the agent made the report outside its schedule, if it said.
    pub trigger: Option<ReportTrigger>,
}

/// Why an agent made a report outside its schedule: a watched change on the device or a
/// check-now request (the report's `trigger`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReportTrigger {
    /// `change`, `check_now`, or a kind a newer agent knows, kept as it is.
    pub kind: String,
    /// What changed, as the agent saw it.
    pub cause: Option<String>,
    /// When the agent noticed the change (Unix ms, the agent's clock: shown, never used to
    /// order anything).
    pub detected_at_agent_clock: Option<i64>,
}

/// Inventory facts copied out of the latest report for filtering and listing.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Inventory {
    /// Host name.
    pub hostname: Option<String>,
    /// OS family (`linux`, `macos`, `windows`).
    pub os_family: Option<String>,
    /// OS product name.
    pub os_name: Option<String>,
    /// OS version.
    pub os_version: Option<String>,
    /// Hardware vendor.
    pub hw_vendor: Option<String>,
    /// Hardware model.
    pub hw_model: Option<String>,
    /// Serial number.
    pub hw_serial: Option<String>,
    /// Interactive users, comma-separated.
    pub users: Option<String>,
}

/// The verdict of one check, without its evidence.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FindingSummary {
    /// Check id.
    pub check_id: String,
    /// Check title.
    pub title: String,
    /// Policy clause.
    pub clause: String,
    /// The verdict.
    pub status: Status,
    /// One-line summary.
    pub summary: String,
    /// Whether management enforces the result, derived by the collector from the report's
    /// per-setting results (`crate::enforcement`); `None` for a finding stored before the
    /// collector derived it and not yet backfilled.
    #[serde(serialize_with = "serialize_enforcement")]
    pub enforcement: Option<Enforcement>,
}

fn serialize_enforcement<S: serde::Serializer>(
    e: &Option<Enforcement>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match e {
        Some(e) => serializer.serialize_str(e.as_str()),
        None => serializer.serialize_none(),
    }
}

/// Something about a device that an administrator should know: an identity change in a report
/// (never applied silently), a re-enrollment, an approval.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceEvent {
    /// Device id.
    pub device_id: String,
    /// When (Unix ms, collector clock).
    pub at: i64,
    /// What: `machine_id_changed`, `serial_changed`, `os_family_changed`, `re_enrolled`, …
    pub kind: String,
    /// The value the collector kept.
    pub old_value: Option<String>,
    /// The value that was presented.
    pub new_value: Option<String>,
    /// The report that carried it, if any.
    pub report_id: Option<String>,
}

/// What happened to one report handed to [`Store::ingest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Stored now. `check_now` is the pending check-now request time, if one is still open.
    Stored {
        /// Pending check-now request (Unix ms), if this report did not answer it.
        check_now: Option<i64>,
    },
    /// This device had already sent this report id; nothing changed.
    Duplicate {
        /// Pending check-now request (Unix ms).
        check_now: Option<i64>,
    },
    /// The report id belongs to another device.
    ForeignReportId,
}

/// Asset-management state of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetState {
    /// In use.
    Active,
    /// Reported lost or stolen.
    Lost,
    /// Taken out of service; hidden from the fleet summary.
    Retired,
}

impl AssetState {
    /// The word stored and shown.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Lost => "lost",
            Self::Retired => "retired",
        }
    }

    /// Parses the stored word.
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "active" => Some(Self::Active),
            "lost" => Some(Self::Lost),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// A change to a device's asset record. `None` leaves a field as it is.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetUpdate {
    /// New owner; an empty string clears it.
    pub owner: Option<String>,
    /// New asset state.
    pub state: Option<AssetState>,
    /// Free-text note (ticket number, where it was lost); an empty string clears it.
    pub note: Option<String>,
}

/// Which devices to list. Every field narrows the list; all `None` lists every device that is
/// not retired.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct DeviceFilter {
    /// `compliant`, `noncompliant`, `unknown` or `never` (enrolled, never reported).
    pub status: Option<String>,
    /// Only devices whose latest finding for this check id has `check_status`.
    pub check: Option<String>,
    /// Status of `check` to match; `fail` when not given.
    pub check_status: Option<String>,
    /// OS family (`linux`, `macos`, `windows`).
    pub os: Option<String>,
    /// Owner contains this text (case-insensitive).
    pub owner: Option<String>,
    /// `active`, `lost`, `retired` or `all`; by default everything but retired.
    pub state: Option<String>,
    /// Only devices not seen for at least this many days (stale).
    pub stale_days: Option<u32>,
    /// Only devices seen within this many days.
    pub seen_within_days: Option<u32>,
    /// Host name contains this text (case-insensitive).
    pub hostname: Option<String>,
    /// With `check`: only devices whose finding for it is enforced (`true`: `enforced`), not
    /// (`false`: `not_enforced` or `partly`) or `unknown` (`unknown` or `not_applicable`).
    pub enforced: Option<String>,
    /// At most this many devices (default 1000, at most 10000).
    pub limit: Option<u32>,
    /// Skip this many devices (cost grows with the offset; prefer `cursor`).
    pub offset: Option<u32>,
    /// Start after this device: the `next_cursor` of the previous page (keyset pagination, as
    /// cheap deep in the list as on its first page).
    pub cursor: Option<String>,
}

/// The words the device list's `status` filter takes.
pub const STATUS_FILTER_WORDS: [&str; 5] = [
    "compliant",
    "noncompliant",
    "unknown",
    "never",
    "policy_mismatch",
];

/// The words the device list's `state` filter takes.
pub const STATE_FILTER_WORDS: [&str; 4] = ["active", "lost", "retired", "all"];

/// Longest text a free-text filter (`owner`, `hostname`, `check`, `os`) may have, in bytes.
pub const FILTER_TEXT_MAX_BYTES: usize = 1024;

impl DeviceFilter {
    /// Checks every value against the words each filter takes, so that a misspelt filter is an
    /// error instead of an empty (or unfiltered) list. The device list and every export call it.
    ///
    /// # Errors
    /// A sentence naming the parameter, the value and what it takes.
    pub fn validate(&self) -> Result<(), String> {
        fn word(name: &str, value: Option<&str>, words: &[&str]) -> Result<(), String> {
            match value.filter(|v| !v.is_empty()) {
                Some(v) if !words.contains(&v) => {
                    Err(format!("{name}={v:?} is not one of {}", words.join(", ")))
                }
                _ => Ok(()),
            }
        }
        word("status", self.status.as_deref(), &STATUS_FILTER_WORDS)?;
        word("state", self.state.as_deref(), &STATE_FILTER_WORDS)?;
        let statuses = [
            Status::Pass,
            Status::Fail,
            Status::Unknown,
            Status::NotApplicable,
            Status::Error,
        ]
        .map(Status::as_str);
        word("check_status", self.check_status.as_deref(), &statuses)?;
        if self.check_status.as_deref().is_some_and(|s| !s.is_empty())
            && self.check.as_deref().is_none_or(str::is_empty)
        {
            return Err("check_status needs check (the check id whose status to match)".into());
        }
        for (name, value) in [
            ("owner", &self.owner),
            ("hostname", &self.hostname),
            ("check", &self.check),
            ("os", &self.os),
        ] {
            let Some(v) = value else { continue };
            if v.contains('\0') {
                return Err(format!("{name} contains a NUL character"));
            }
            if v.len() > FILTER_TEXT_MAX_BYTES {
                return Err(format!(
                    "{name} is longer than {FILTER_TEXT_MAX_BYTES} bytes"
                ));
            }
        }
        let enforced_words = crate::enforcement::FILTER_VALUES.map(|(w, _)| w);
        word("enforced", self.enforced.as_deref(), &enforced_words)?;
        if self.enforced.as_deref().is_some_and(|s| !s.is_empty())
            && self.check.as_deref().is_none_or(str::is_empty)
        {
            return Err(
                "enforced needs check (enforcement is per check: ?check=ID&enforced=…)".into(),
            );
        }
        if let Some(cursor) = self.cursor.as_deref().filter(|c| !c.is_empty()) {
            parse_cursor(cursor).map_err(|e| match e {
                StoreError::InvalidInput(reason) => reason,
                other => other.to_string(),
            })?;
        }
        Ok(())
    }
}

impl DeviceSummary {
    /// The cursor that continues a device list after this device (its order is last seen,
    /// newest first, then id).
    #[must_use]
    pub fn cursor(&self) -> String {
        format!("{}:{}", self.last_seen_at.unwrap_or(0), self.id)
    }
}

/// Reads a device-list cursor: `LAST_SEEN_MS:DEVICE_ID`.
///
/// # Errors
/// [`StoreError::InvalidInput`] naming the problem.
pub fn parse_cursor(cursor: &str) -> StoreResult<(i64, String)> {
    let bad = || StoreError::InvalidInput(format!("cursor {cursor:?} is not a device-list cursor"));
    let (seen, id) = cursor.split_once(':').ok_or_else(bad)?;
    let seen = seen.parse::<i64>().map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok((seen, id.to_owned()))
}

/// One row of the findings export: a device's latest finding with the device's host name and
/// owner.
#[derive(Debug, Clone)]
pub struct ExportFinding {
    /// The finding.
    pub finding: LatestFinding,
    /// The device's host name.
    pub hostname: String,
    /// The device's owner.
    pub owner: Option<String>,
    /// The report the finding comes from (the device's latest).
    pub report: ReportProvenance,
}

/// Which report a device's export row comes from: the provenance every export row carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReportProvenance {
    /// The device's latest report, `None` if it never reported.
    pub report_id: Option<String>,
    /// The `sha256:` digest of the policy the agent judged that report with.
    pub policy_digest: Option<String>,
    /// The agent version that report names; for a device that has not reported since the
    /// collector began keeping it, the version the agent gave at enrollment.
    pub agent_version: String,
    /// When the report was generated (Unix ms, the agent's clock: shown, never used to order).
    pub generated_at: Option<i64>,
    /// When the collector received it (Unix ms, the collector's clock).
    pub received_at: Option<i64>,
}

/// One device of an export: its list row, the report the row comes from, and its inventory.
#[derive(Debug, Clone)]
pub struct ExportDevice {
    /// The list row (failing checks filled in).
    pub summary: DeviceSummary,
    /// The report the row comes from.
    pub report: ReportProvenance,
    /// Inventory facts from that report.
    pub inventory: Inventory,
}

/// Where the OCSF export continues: after the device whose latest report the collector received
/// at `received_at`, with id `device_id` (`None`: after every device received at that time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedCursor {
    /// Unix ms, the collector's clock.
    pub received_at: i64,
    /// The last device sent at that time, if the previous answer stopped within it.
    pub device_id: Option<String>,
}

impl ReceivedCursor {
    /// Reads `RECEIVED_MS` or `RECEIVED_MS:DEVICE_ID`.
    ///
    /// # Errors
    /// A sentence naming the value and the form it should have.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!("since={text:?} is not a cursor: expected RECEIVED_MS or RECEIVED_MS:DEVICE_ID")
        };
        let (ms, id) = match text.split_once(':') {
            Some((ms, id)) if !id.is_empty() && !id.contains('\0') => (ms, Some(id.to_owned())),
            Some(_) => return Err(bad()),
            None => (text, None),
        };
        let received_at = ms.parse::<i64>().map_err(|_| bad())?;
        if received_at < 0 {
            return Err(bad());
        }
        Ok(Self {
            received_at,
            device_id: id,
        })
    }
}

impl std::fmt::Display for ReceivedCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.device_id {
            Some(id) => write!(f, "{}:{id}", self.received_at),
            None => write!(f, "{}", self.received_at),
        }
    }
}

/// A maintained counter that disagrees with a count of the state rows (see
/// [`Store::check_state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMismatch {
    /// `posture`, `check`, `enforcement`, or `day` (a count of the per-day compliance chart).
    pub kind: String,
    /// The posture word, the check id, or the day (`YYYY-MM-DD`).
    pub key: String,
    /// The status word for a check, `STATUS:ENFORCEMENT` for an enforcement count, the posture
    /// word for a day, empty for a posture.
    pub status: String,
    /// What the counter says.
    pub maintained: i64,
    /// What a count of the rows says.
    pub recounted: i64,
}

/// What one database upkeep pass did (SQLite; PostgreSQL does its own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upkeep {
    /// Pages in the write-ahead log when the checkpoint ran (`-1` when not SQLite).
    pub wal_pages: i64,
    /// Of those, pages copied into the database.
    pub checkpointed_pages: i64,
    /// Whether the checkpoint had to leave pages behind for a reader.
    pub busy: bool,
}

/// One device with its latest posture.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceSummary {
    /// Device id assigned at enrollment.
    pub id: String,
    /// Host name (from the latest report, else from enrollment).
    pub hostname: String,
    /// Owner set by an administrator.
    pub owner: Option<String>,
    /// `active`, `lost` or `retired`.
    pub state: String,
    /// OS family.
    pub os_family: Option<String>,
    /// OS name and version.
    pub os: Option<String>,
    /// Latest posture, `None` if the device never reported.
    pub posture: Option<Posture>,
    /// Since when the device has been non-compliant (Unix ms).
    pub noncompliant_since: Option<i64>,
    /// Last contact of any kind (Unix ms).
    pub last_seen_at: Option<i64>,
    /// When the latest report was generated (Unix ms).
    pub last_report_at: Option<i64>,
    /// Pending check-now request (Unix ms).
    pub check_now_requested_at: Option<i64>,
    /// Ids of the checks failing in the latest report.
    pub failing_checks: Vec<String>,
    /// Interactive users from the latest report, comma-separated.
    pub users: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// How far the device's clock was off in its latest report (ms, positive when ahead), when
    /// beyond the collector's `--max-clock-skew`.
    pub clock_skew_ms: Option<i64>,
    /// Whether the agent judged its latest report with another policy than the fleet's: the
    /// device is then never shown compliant.
    pub policy_mismatch: bool,
}

/// One device with everything the device page shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceDetail {
    /// The list row.
    #[serde(flatten)]
    pub summary: DeviceSummary,
    /// The machine id given at enrollment.
    pub machine_id: String,
    /// Since when a re-enrollment waits for an administrator's approval (Unix ms).
    pub enrollment_pending_since: Option<i64>,
    /// The host name the pending re-enrollment gave.
    pub pending_hostname: Option<String>,
    /// When it enrolled (Unix ms).
    pub enrolled_at: i64,
    /// Agent version at enrollment.
    pub agent_version: String,
    /// Asset note.
    pub note: Option<String>,
    /// Whether the device currently has a working token.
    pub token_active: bool,
    /// Inventory facts from the latest report.
    pub inventory: Inventory,
    /// Identity changes and enrollment events, newest first.
    pub events: Vec<DeviceEvent>,
    /// Per-check status with the time it has held it.
    pub findings: Vec<LatestFinding>,
    /// The latest report as received, if any.
    pub latest_report: Option<String>,
}

/// A check's latest status on one device.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LatestFinding {
    /// Device id.
    pub device_id: String,
    /// The finding.
    #[serde(flatten)]
    pub finding: FindingSummary,
    /// Since when the check has had this status (Unix ms): the same time as
    /// [`StatusChange::changed_at`], kept under this name for existing readers.
    pub status_since: i64,
    /// When and why the check's status last changed.
    #[serde(flatten)]
    pub change: StatusChange,
}

/// When a check's status last changed on a device ("changed at"): a report with the same
/// status as the one before does not move it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatusChange {
    /// When the collector received the first report with the current status (Unix ms, the
    /// collector's clock).
    pub changed_at: i64,
    /// That report's id (absent for statuses stored before the collector kept it).
    pub changed_by_report: Option<String>,
    /// Why the agent made that report, if it said: `change` (a watched change on the device)
    /// or `check_now`.
    pub change_trigger: Option<String>,
    /// What changed, as the agent saw it.
    pub change_cause: Option<String>,
    /// When the agent noticed the change (Unix ms by the agent's clock, which may be wrong:
    /// shown as such, never used for ordering).
    pub change_detected_at_agent_clock: Option<i64>,
}

/// One stored report, without its body.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportMeta {
    /// Report id.
    pub report_id: String,
    /// When the checks ran (Unix ms).
    pub generated_at: i64,
    /// When the collector stored it (Unix ms).
    pub received_at: i64,
    /// Overall posture.
    pub posture: Posture,
    /// Why the agent made it outside its schedule, if it said.
    pub trigger: Option<ReportTrigger>,
}

/// Fleet-wide counts.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FleetSummary {
    /// Devices (not retired) by latest posture; `never` for enrolled devices without a report.
    pub by_posture: Vec<Count>,
    /// Latest findings by check and status (devices not retired).
    pub by_check: Vec<CheckCount>,
    /// Per UTC day, devices that reported that day by their last posture of the day.
    pub by_day: Vec<DayCount>,
    /// Latest findings by check, status and enforcement (devices not retired).
    pub by_enforcement: Vec<EnforcementCount>,
    /// Per check with passing devices: how many of those passes management enforces
    /// ("compliant, 62% enforced"), from `by_enforcement`.
    pub pass_enforcement: Vec<PassEnforcement>,
}

/// How many devices have one status and one enforcement value for one check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EnforcementCount {
    /// Check id.
    pub check_id: String,
    /// Status word.
    pub status: String,
    /// Enforcement word ([`crate::enforcement::Enforcement::as_str`]); findings not derived yet
    /// count as `unknown`.
    pub enforcement: String,
    /// How many devices.
    pub count: i64,
}

/// The passing devices of one check, by whether management enforces their pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PassEnforcement {
    /// Check id.
    pub check_id: String,
    /// Devices (not retired) passing the check.
    pub passing: i64,
    /// Of those, passes every setting of which management enforces.
    pub enforced: i64,
    /// Passes some settings of which management enforces, and some not.
    pub partly: i64,
    /// Passes nothing enforces.
    pub not_enforced: i64,
    /// Passes whose enforcement is unknown, or that report no settings (`not_applicable`).
    pub unknown: i64,
    /// `enforced` as a whole percentage of `passing`, rounded down so that a share is never
    /// shown higher than it is.
    pub enforced_percent: i64,
}

impl FleetSummary {
    /// Derives [`FleetSummary::pass_enforcement`] from [`FleetSummary::by_enforcement`].
    pub fn compute_pass_enforcement(&mut self) {
        use crate::enforcement::Enforcement;
        let mut out: Vec<PassEnforcement> = Vec::new();
        for c in self.by_enforcement.iter().filter(|c| c.status == "pass") {
            if out.last().is_none_or(|p| p.check_id != c.check_id) {
                out.push(PassEnforcement {
                    check_id: c.check_id.clone(),
                    ..PassEnforcement::default()
                });
            }
            if let Some(p) = out.last_mut() {
                p.passing += c.count;
                match Enforcement::parse(&c.enforcement) {
                    Some(Enforcement::Enforced) => p.enforced += c.count,
                    Some(Enforcement::Partly) => p.partly += c.count,
                    Some(Enforcement::NotEnforced) => p.not_enforced += c.count,
                    _ => p.unknown += c.count,
                }
            }
        }
        for p in &mut out {
            p.enforced_percent = if p.passing > 0 {
                p.enforced * 100 / p.passing
            } else {
                0
            };
        }
        self.pass_enforcement = out;
    }
}

/// A count for one key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Count {
    /// The key.
    pub key: String,
    /// How many.
    pub count: i64,
}

/// How many devices have one status for one check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckCount {
    /// Check id.
    pub check_id: String,
    /// Check title.
    pub title: String,
    /// Status word.
    pub status: String,
    /// How many devices.
    pub count: i64,
}

/// How many devices had one posture on one day.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DayCount {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Posture word.
    pub posture: String,
    /// How many devices.
    pub count: i64,
}

/// One version of the fleet policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredPolicy {
    /// Increasing version number.
    pub version: i64,
    /// `sha256:` digest of the text.
    pub digest: String,
    /// The TOML text as the administrator set it.
    pub text: String,
    /// When it was set (Unix ms).
    pub set_at: i64,
}

/// A dashboard session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token that forms must carry back.
    pub csrf_token: String,
    /// When it expires (Unix ms).
    pub expires_at: i64,
}

/// How many devices had one status of one check (or, with an empty `check_id`, one posture) by
/// their last report of a UTC day: the daily roll-ups, kept beyond raw retention.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckRollup {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Check id; empty for the overall posture.
    pub check_id: String,
    /// Status word (posture word when `check_id` is empty).
    pub status: String,
    /// How many devices.
    pub devices: i64,
}

/// What one prune pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Reports removed (check-ins, and reports stored before check-ins).
    pub reports: u64,
    /// Device-days of check-ins removed.
    pub checkin_blocks: u64,
    /// Report parts no longer used by any check-in, removed.
    pub parts: u64,
    /// Days rolled up before their check-ins could be removed.
    pub rollup_days: u64,
    /// Daily summary rows removed.
    pub daily_rows: u64,
    /// Expired sessions and login links removed.
    pub sessions: u64,
}

/// The collector's storage. Implementations must commit a write before returning `Ok`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// Reads a setting.
    async fn setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Sets a setting only if it is absent; returns whether this call set it (so exactly one of
    /// several collectors starting together creates the first secrets).
    async fn init_setting(&self, name: &str, value: &str) -> StoreResult<bool>;
    /// Sets a setting.
    async fn set_setting(&self, name: &str, value: &str) -> StoreResult<()>;

    /// Enrolls a new machine, or re-enrolls a known one when it presents its current token (and
    /// is active) or an administrator's code for it; otherwise keeps the new token pending an
    /// administrator's approval. Re-enrollments are recorded as device events.
    async fn enroll(
        &self,
        enrollment: &Enrollment,
        token_sha256: &str,
        now: i64,
    ) -> StoreResult<EnrollOutcome>;
    /// Approves (`true`) or refuses a pending re-enrollment; false when none is pending.
    async fn decide_enrollment(
        &self,
        device_id: &str,
        approve: bool,
        now: i64,
    ) -> StoreResult<bool>;
    /// Stores a one-time enrollment code (its hash), for a new machine or for re-enrolling one
    /// device.
    async fn create_enroll_code(
        &self,
        code_sha256: &str,
        device_id: Option<&str>,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<()>;
    /// Uses up a code that exists, is unused and has not expired; returns the device it was
    /// issued for (`Some(None)` for a new machine), `None` when the code is not valid.
    async fn consume_enroll_code(
        &self,
        code_sha256: &str,
        now: i64,
    ) -> StoreResult<Option<Option<String>>>;
    /// The device a token belongs to.
    async fn device_for_token(&self, token_sha256: &str) -> StoreResult<Option<String>>;
    /// Stores reports in one transaction; one outcome per item, in order.
    async fn ingest(&self, items: &[IngestItem]) -> StoreResult<Vec<IngestOutcome>>;
    /// Records an agent check-in; returns the pending check-now request time.
    async fn checkin(&self, device_id: &str, now: i64) -> StoreResult<Option<i64>>;

    /// Devices matching a filter, most recently seen first.
    async fn list_devices(
        &self,
        filter: &DeviceFilter,
        now: i64,
    ) -> StoreResult<Vec<DeviceSummary>>;
    /// One device.
    async fn device(&self, device_id: &str) -> StoreResult<Option<DeviceDetail>>;
    /// A device's reports, newest first.
    async fn history(&self, device_id: &str, limit: u32) -> StoreResult<Vec<ReportMeta>>;
    /// One stored report body of one device.
    async fn report(&self, device_id: &str, report_id: &str) -> StoreResult<Option<String>>;
    /// Latest findings of every device that is not retired (CSV export).
    async fn all_latest_findings(&self) -> StoreResult<Vec<LatestFinding>>;
    /// Devices matching `filter` (its paging fields ignored), ordered by id, from after
    /// `after_id`: one page of a streamed export. `now` is the time stale filters count from.
    async fn devices_page(
        &self,
        filter: &DeviceFilter,
        now: i64,
        after_id: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<ExportDevice>>;
    /// Latest findings of the devices matching `filter`, ordered by device id and check id,
    /// from after `after` (`(device_id, check_id)`): one page of a streamed export.
    async fn findings_page(
        &self,
        filter: &DeviceFilter,
        now: i64,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> StoreResult<Vec<ExportFinding>>;
    /// Devices matching `filter` that have reported, in the order the collector received their
    /// latest reports (then by id), after `after` and received no later than `until`: one page
    /// of the OCSF export.
    async fn received_page(
        &self,
        filter: &DeviceFilter,
        now: i64,
        after: Option<&ReceivedCursor>,
        until: i64,
        limit: u32,
    ) -> StoreResult<Vec<ExportDevice>>;
    /// The latest findings of these devices that come from these reports (`(device_id,
    /// report_id)`), by device id and check id: the OCSF export reads those of one page of
    /// devices at a time, and a device that reported again since its page was read has none
    /// (its new report goes out with the next poll, whole).
    async fn latest_findings_of(
        &self,
        reports: &[(String, String)],
    ) -> StoreResult<Vec<LatestFinding>>;
    /// Compares the maintained counters with a full recount of the state rows; empty when they
    /// agree (tests and diagnostics: this one reads every device).
    async fn check_state(&self) -> StoreResult<Vec<StateMismatch>>;
    /// Database upkeep: on SQLite a passive WAL checkpoint, and a truncating one when `truncate`
    /// (it waits for readers, up to the busy timeout); nothing on PostgreSQL.
    async fn upkeep(&self, truncate: bool) -> StoreResult<Upkeep>;
    /// Gives free pages back to the file system after a prune (SQLite incremental vacuum, at
    /// most `max_pages`); nothing on PostgreSQL, whose autovacuum does it.
    async fn reclaim_space(&self, max_pages: u32) -> StoreResult<u64>;
    /// Fleet counts; `since_day` (`YYYY-MM-DD`) bounds the per-day history.
    async fn fleet_summary(&self, since_day: &str) -> StoreResult<FleetSummary>;

    /// Stores a new version of the fleet policy (already validated) and judges every device's
    /// latest findings with it in the same transaction; returns its version.
    async fn set_policy(
        &self,
        policy: &crate::ingest::FleetPolicy,
        text: &str,
        now: i64,
    ) -> StoreResult<i64>;
    /// The fleet policy in force: the newest version, if an administrator set one.
    async fn current_policy(&self) -> StoreResult<Option<StoredPolicy>>;
    /// Every version of the fleet policy, newest first.
    async fn policy_versions(&self) -> StoreResult<Vec<StoredPolicy>>;

    /// Asks a device to check now; false if there is no such device.
    async fn request_check_now(&self, device_id: &str, now: i64) -> StoreResult<bool>;
    /// Changes owner, state or note; false if there is no such device.
    async fn update_asset(
        &self,
        device_id: &str,
        update: &AssetUpdate,
        now: i64,
    ) -> StoreResult<bool>;
    /// Revokes a device's token; false if there is no such device.
    async fn revoke_token(&self, device_id: &str) -> StoreResult<bool>;

    /// Creates a dashboard session.
    async fn create_session(&self, id_sha256: &str, session: &Session) -> StoreResult<()>;
    /// A session that has not expired.
    async fn session(&self, id_sha256: &str, now: i64) -> StoreResult<Option<Session>>;
    /// Ends a session.
    async fn delete_session(&self, id_sha256: &str) -> StoreResult<()>;
    /// Stores a one-time login link.
    async fn create_login_link(
        &self,
        token_sha256: &str,
        next: &str,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// Uses up a login link; returns where it leads if it existed and had not expired.
    async fn consume_login_link(&self, token_sha256: &str, now: i64)
    -> StoreResult<Option<String>>;

    /// Rolls up closed days, then deletes reports received before `reports_before` (by whole
    /// UTC days) except each device's latest, the parts no kept report uses, daily rows older
    /// than `days_before`, and expired sessions. Deletes run in batches, each holding the write
    /// lock about [`OpenOptions::prune_lock`] at most.
    async fn prune(
        &self,
        reports_before: i64,
        days_before: &str,
        now: i64,
    ) -> StoreResult<PruneStats>;

    /// Daily roll-ups from `since_day` (`YYYY-MM-DD`) on, by day, check and status.
    async fn daily_rollups(&self, since_day: &str) -> StoreResult<Vec<CheckRollup>>;

    /// Up to `limit` latest findings whose enforcement is not derived yet (stored before
    /// migration 0017), after `after` (device id, check id), in that order.
    async fn findings_without_enforcement(
        &self,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> StoreResult<Vec<UnderivedFinding>>;

    /// Stores derived enforcement values; a row changes only if it still holds the same report
    /// and no value (an ingest in between wrote its own). Returns the rows changed.
    async fn set_enforcement(
        &self,
        values: &[(UnderivedFinding, crate::enforcement::Enforcement)],
    ) -> StoreResult<u64>;
}

/// A latest finding whose enforcement the collector has not derived yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnderivedFinding {
    /// Device id.
    pub device_id: String,
    /// Check id.
    pub check_id: String,
    /// The report the finding comes from.
    pub report_id: String,
}

/// Findings read per page by [`backfill_enforcement`].
const BACKFILL_PAGE_ROWS: u32 = 500;

/// Derives the enforcement of every latest finding stored before the collector kept it, from
/// the finding's stored report (migration 0017 leaves those rows NULL). Run by [`open`] before
/// the collector serves; each page is its own transaction, so a restart resumes where it
/// stopped. A report that cannot be read or parsed leaves `unknown`; a check the report lacks
/// (one the collector added for the fleet policy) is `not_applicable`. Returns the rows set.
///
/// # Errors
/// A store error reading or writing.
pub async fn backfill_enforcement(store: &dyn Store) -> StoreResult<u64> {
    use crate::enforcement::Enforcement;
    let mut after: Option<(String, String)> = None;
    let mut set = 0;
    loop {
        let page = store
            .findings_without_enforcement(
                after.as_ref().map(|(d, c)| (d.as_str(), c.as_str())),
                BACKFILL_PAGE_ROWS,
            )
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some((last.device_id.clone(), last.check_id.clone()));
        let mut values = Vec::with_capacity(page.len());
        let mut report: Option<(String, Option<posture_schema::Report>)> = None;
        for row in page {
            if report.as_ref().is_none_or(|(id, _)| *id != row.report_id) {
                let parsed = match store.report(&row.device_id, &row.report_id).await? {
                    Some(body) => serde_json::from_str::<posture_schema::Report>(&body)
                        .inspect_err(|e| {
                            tracing::warn!(
                                device_id = %row.device_id, report_id = %row.report_id,
                                error = %e,
                                "stored report does not parse; its findings' enforcement is unknown"
                            );
                        })
                        .ok(),
                    None => None,
                };
                report = Some((row.report_id.clone(), parsed));
            }
            let value = match report.as_ref().and_then(|(_, r)| r.as_ref()) {
                Some(r) => r
                    .checks
                    .iter()
                    .find(|f| f.id == row.check_id)
                    .map_or(Enforcement::NotApplicable, Enforcement::of_finding),
                None => Enforcement::Unknown,
            };
            values.push((row, value));
        }
        set += store.set_enforcement(&values).await?;
    }
    if set > 0 {
        tracing::info!(
            findings = set,
            "derived the enforcement of findings stored before it was kept"
        );
    }
    Ok(set)
}

/// Opens the store a URL names and applies its migrations: `sqlite:PATH` (created if missing)
/// or `postgres://…`.
pub async fn open(url: &str, options: &OpenOptions) -> StoreResult<std::sync::Arc<dyn Store>> {
    let store: std::sync::Arc<dyn Store> = if url.starts_with("sqlite:") {
        std::sync::Arc::new(SqliteStore::open(url, options).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        std::sync::Arc::new(PgStore::open(url, options).await?)
    } else {
        return Err(StoreError::UnsupportedUrl(redact_url(url)));
    };
    backfill_enforcement(store.as_ref()).await?;
    Ok(store)
}

/// Prepared statements kept by each connection that commits report batches. A batch statement's
/// text depends on its number of rows, so every batch size is a statement of its own: with the
/// drivers' default of 100, the few hundred statements of batches of 1 to 32 reports evicted
/// each other, and batches prepared their statements again (on PostgreSQL a round trip each,
/// and one more to close the statement evicted).
pub(crate) const BATCH_STATEMENT_CACHE: usize = 512;

/// Tuning for [`open`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Longest wait for a connection or a lock before giving up with
    /// [`StoreError::Unavailable`].
    pub busy_timeout: Duration,
    /// Most connections in the pool.
    pub max_connections: u32,
    /// SQLite: bound of the write-ahead log in bytes (`journal_size_limit`, and the size past
    /// which upkeep truncates it).
    pub wal_max_bytes: u64,
    /// Longest time one prune statement should hold the write lock (batches are sized to it).
    pub prune_lock: Duration,
}

/// Default bound of the SQLite write-ahead log: 64 MiB.
pub const DEFAULT_WAL_MAX_BYTES: u64 = 64 * 1024 * 1024;

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            max_connections: 8,
            wal_max_bytes: DEFAULT_WAL_MAX_BYTES,
            prune_lock: checkins::DEFAULT_PRUNE_LOCK,
        }
    }
}

/// The URL with any password replaced by `***`, for logs and errors.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                format!("{scheme}://{user}@{host}{tail}")
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_password_never_appears_in_a_redacted_url() {
        assert_eq!(
            redact_url("postgres://posture:s3cret@127.0.0.1:5432/db"),
            "postgres://posture:***@127.0.0.1:5432/db"
        );
        assert_eq!(redact_url("sqlite:/var/lib/x.db"), "sqlite:/var/lib/x.db");
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require"),
            "postgres://u@h/db?sslmode=require"
        );
    }

    #[test]
    fn postgres_errors_are_classified_by_sqlstate_class() {
        // 22021: a NUL byte in a text value. Its last digit, read as an SQLite code, would be
        // SQLITE_BUSY; it is the client's input.
        assert_eq!(classify_sqlstate("22021"), ErrorClass::Client);
        assert_eq!(classify_sqlstate("22P02"), ErrorClass::Client);
        assert_eq!(classify_sqlstate("42501"), ErrorClass::Server);
        assert_eq!(classify_sqlstate("42P01"), ErrorClass::Server);
        assert_eq!(classify_sqlstate("08006"), ErrorClass::Temporary);
        assert_eq!(classify_sqlstate("53300"), ErrorClass::Temporary);
        assert_eq!(classify_sqlstate("57P01"), ErrorClass::Temporary);
        assert_eq!(classify_sqlstate("57014"), ErrorClass::Temporary);
        assert_eq!(classify_sqlstate("40001"), ErrorClass::Conflict);
        assert_eq!(classify_sqlstate("40P01"), ErrorClass::Conflict);
        assert_eq!(classify_sqlstate("23505"), ErrorClass::Server);
        assert_eq!(classify_sqlstate("XX000"), ErrorClass::Server);
        assert_eq!(classify_sqlstate(""), ErrorClass::Server);
    }

    #[test]
    fn sqlite_codes_are_read_as_sqlite_codes() {
        assert_eq!(classify_sqlite("5"), ErrorClass::Temporary);
        assert_eq!(classify_sqlite("517"), ErrorClass::Temporary); // SQLITE_BUSY_SNAPSHOT
        assert_eq!(classify_sqlite("13"), ErrorClass::Temporary);
        assert_eq!(classify_sqlite("19"), ErrorClass::Server); // SQLITE_CONSTRAINT
        assert_eq!(classify_sqlite("2067"), ErrorClass::Server); // SQLITE_CONSTRAINT_UNIQUE
    }

    #[test]
    fn a_refused_value_is_a_client_error_and_not_temporary() {
        let err = StoreError::InvalidInput("22021".into());
        assert!(!err.is_temporary());
    }

    #[test]
    fn the_enforced_share_of_passes_rounds_down_and_ignores_other_statuses() {
        let count = |status: &str, enforcement: &str, count| EnforcementCount {
            check_id: "screen_lock".into(),
            status: status.into(),
            enforcement: enforcement.into(),
            count,
        };
        let mut summary = FleetSummary {
            by_enforcement: vec![
                count("fail", "enforced", 5),
                count("pass", "enforced", 2),
                count("pass", "not_applicable", 1),
            ],
            ..FleetSummary::default()
        };
        summary.compute_pass_enforcement();
        assert_eq!(
            summary.pass_enforcement,
            vec![PassEnforcement {
                check_id: "screen_lock".into(),
                passing: 3,
                enforced: 2,
                partly: 0,
                not_enforced: 0,
                unknown: 1,
                // 66.7 %: never shown higher than it is.
                enforced_percent: 66,
            }]
        );
    }

    #[test]
    fn a_received_cursor_reads_back_what_it_writes_and_refuses_anything_else() {
        for text in ["0", "1765051200000", "1765051200000:01a24d0f-13a8-73e5"] {
            let cursor = ReceivedCursor::parse(text).unwrap();
            assert_eq!(cursor.to_string(), text);
        }
        for bad in ["", "x", "-1", "12:", ":abc", "1.5", "12:a\0b"] {
            assert!(ReceivedCursor::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_filter_word_no_filter_takes_is_refused_naming_its_parameter() {
        let bad = |f: DeviceFilter, name: &str| {
            let err = f.validate().unwrap_err();
            assert!(err.starts_with(name), "{err}");
        };
        bad(
            DeviceFilter {
                status: Some("noncompliance".into()),
                ..DeviceFilter::default()
            },
            "status",
        );
        bad(
            DeviceFilter {
                state: Some("stolen".into()),
                ..DeviceFilter::default()
            },
            "state",
        );
        bad(
            DeviceFilter {
                check_status: Some("fail".into()),
                ..DeviceFilter::default()
            },
            "check_status",
        );
        bad(
            DeviceFilter {
                cursor: Some("yesterday".into()),
                ..DeviceFilter::default()
            },
            "cursor",
        );
        let good = DeviceFilter {
            status: Some("policy_mismatch".into()),
            state: Some("all".into()),
            check: Some("screen_lock".into()),
            check_status: Some("not_applicable".into()),
            os: Some("freebsd".into()),
            cursor: Some("1765051200000:abc".into()),
            ..DeviceFilter::default()
        };
        assert_eq!(good.validate(), Ok(()));
        assert_eq!(DeviceFilter::default().validate(), Ok(()));
    }

    #[test]
    fn asset_states_round_trip_through_their_words() {
        for s in [AssetState::Active, AssetState::Lost, AssetState::Retired] {
            assert_eq!(AssetState::parse(s.as_str()), Some(s));
        }
        assert_eq!(AssetState::parse("stolen"), None);
    }
}
