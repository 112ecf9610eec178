//! The wire contract shared by the `posture` agent and `posture-collector`.
//!
//! A [`Report`] is what one run of the agent produces: the device inventory, the policy it was
//! judged against, and one [`Finding`] per check with its evidence and remediation. The agent
//! prints it (`posture --check --format json`), spools it and sends it; the collector validates,
//! stores and serves it. This crate only defines types: it does no I/O and has no opinion on how
//! a verdict is reached.
//!
//! The JSON Schema of a report is generated from these types ([`report_json_schema`]) and checked
//! in at `crates/schema/report.schema.json`; a test fails when the two drift apart.
//!
//! Compatibility: [`SCHEMA_VERSION`] changes when a field is removed or its meaning changes.
//! Adding an optional field does not change it; readers ignore fields they do not know (none of
//! these types denies unknown fields), so an agent may add a field before its collector is
//! upgraded. The requests and replies around a report live in [`protocol`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod protocol;

/// Version of the report format. A collector answers a report of a newer version than it knows
/// with a retryable `503` and `Retry-After` (the agent keeps it until the collector is upgraded),
/// and refuses an older, unsupported one with `422`.
pub const SCHEMA_VERSION: u32 = 1;

/// One run of the agent: who the device is, what it was judged against, and the verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Report format version; see [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Unique id of this report (UUIDv7, so ids sort by creation time). Delivery is at least
    /// once; the collector de-duplicates by this id.
    pub report_id: String,
    /// The device id the collector assigned at enrollment, when the agent is enrolled. A
    /// collector refuses a report whose device id is not the one its token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// When the checks ran, RFC 3339 in UTC.
    pub generated_at: String,
    /// The program that produced the report.
    pub agent: Agent,
    /// The overall verdict, derived from the checks by [`Posture::from_checks`].
    pub posture: Posture,
    /// Inventory facts about the device (Asset Management Policy: inventory and ownership).
    pub device: Device,
    /// The policy the device was judged against.
    pub policy: PolicyInfo,
    /// One finding per check, in policy order.
    pub checks: Vec<Finding>,
    /// Why this report was made when it was not the regular schedule: a watched change on the
    /// laptop (live posture) or a check-now request. Absent on scheduled reports and from agents
    /// that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
}

/// What made the agent check outside its schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Trigger {
    /// `change` (something a check read changed) or `check_now` (a request from the collector
    /// or the fleet policy changed). Readers keep kinds they do not know as they are.
    pub kind: String,
    /// What changed, as the agent saw it (a path, `mount table`, `device hot-plug`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// When the agent first noticed the change, RFC 3339 in UTC (before its debounce wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_at: Option<String>,
}

impl Trigger {
    /// The kind of a report made because something a check read changed.
    pub const CHANGE: &'static str = "change";
    /// The kind of a report made because the collector asked for one or the fleet policy
    /// changed.
    pub const CHECK_NOW: &'static str = "check_now";
}

/// The program that produced a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Agent {
    /// Program name, `posture`.
    pub name: String,
    /// Program version.
    pub version: String,
    /// How the evidence was gathered: `live` (this machine), `root` (a mounted system under
    /// `--root`) or `replay` (a recorded evidence bundle).
    pub mode: EvidenceMode,
}

/// Where the evidence of a report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceMode {
    /// Read from the running machine.
    Live,
    /// Read from a system mounted under a directory (`--root`).
    Root,
    /// Read from a recorded evidence bundle (`--replay`).
    Replay,
}

/// The overall verdict of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Posture {
    /// Every check passed or does not apply.
    Compliant,
    /// At least one check failed.
    Noncompliant,
    /// No check failed, but at least one could not be decided.
    Unknown,
}

impl Posture {
    /// Derives the overall verdict: `noncompliant` if any check fails, else `unknown` if any
    /// check is `unknown` or `error`, else `compliant`. An empty list is `unknown`: a device
    /// judged by nothing has not been shown to comply.
    #[must_use]
    pub fn from_checks(checks: &[Finding]) -> Self {
        Self::from_statuses(checks.iter().map(|c| c.status))
    }

    /// [`Posture::from_checks`] on the checks' statuses alone (a collector judging a report
    /// adds `unknown` for each check its policy enables that the report lacks).
    #[must_use]
    pub fn from_statuses(statuses: impl IntoIterator<Item = Status>) -> Self {
        let statuses: Vec<Status> = statuses.into_iter().collect();
        if statuses.is_empty() {
            return Self::Unknown;
        }
        if statuses.contains(&Status::Fail) {
            Self::Noncompliant
        } else if statuses
            .iter()
            .any(|s| matches!(s, Status::Unknown | Status::Error))
        {
            Self::Unknown
        } else {
            Self::Compliant
        }
    }

    /// The word used in human output and in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compliant => "compliant",
            Self::Noncompliant => "noncompliant",
            Self::Unknown => "unknown",
        }
    }

    /// The verdict a word of [`Posture::as_str`] names.
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        [Self::Compliant, Self::Noncompliant, Self::Unknown]
            .into_iter()
            .find(|p| p.as_str() == word)
    }
}

/// The verdict of one check, or of one subject within a check.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The device meets the rule.
    Pass,
    /// The device breaks the rule.
    Fail,
    /// The machine did not say enough to decide; the summary says why.
    Unknown,
    /// The rule does not apply (for example, no graphical desktop on a server).
    NotApplicable,
    /// The probe itself failed (crashed, timed out); the summary says how.
    Error,
}

impl Status {
    /// The word used in human output and in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Unknown => "unknown",
            Self::NotApplicable => "not_applicable",
            Self::Error => "error",
        }
    }

    /// The verdict a word of [`Status::as_str`] names.
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        [
            Self::Pass,
            Self::Fail,
            Self::Unknown,
            Self::NotApplicable,
            Self::Error,
        ]
        .into_iter()
        .find(|s| s.as_str() == word)
    }

    /// Combines the verdicts of several subjects into one: any failure fails, then any
    /// error, then any unknown; passes win over not-applicable. An empty list is
    /// `not_applicable`.
    #[must_use]
    pub fn combine(statuses: impl IntoIterator<Item = Status>) -> Status {
        let mut seen = Vec::new();
        for s in statuses {
            seen.push(s);
        }
        for s in [Status::Fail, Status::Error, Status::Unknown, Status::Pass] {
            if seen.contains(&s) {
                return s;
            }
        }
        Status::NotApplicable
    }
}

/// The result of one check: the verdict, why, on what evidence, and how to fix it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// Stable check id, e.g. `screen_lock`.
    pub id: String,
    /// Human title, e.g. "Screen lock".
    pub title: String,
    /// The policy clause the check enforces, e.g. "Device Policy 3.1".
    pub clause: String,
    /// The verdict.
    pub status: Status,
    /// One line saying why.
    pub summary: String,
    /// Per-subject results: per user for screen lock, per volume for encryption, per device
    /// for removable media.
    pub subjects: Vec<Subject>,
    /// What was read, where, and what it said.
    pub evidence: Vec<Evidence>,
    /// Steps to fix a failure on this device's operating system. Empty when nothing needs fixing.
    pub remediation: Vec<String>,
}

/// The verdict for one thing a check looked at (a user, a volume, a device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Subject {
    /// What kind of thing: `user`, `volume`, `swap`, `device`, `control`.
    pub kind: String,
    /// Its name: a user name, a mount point, a device path.
    pub name: String,
    /// The verdict for this subject.
    pub status: Status,
    /// One line saying why.
    pub summary: String,
}

/// One fact read from the machine, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    /// How it was read.
    pub kind: EvidenceKind,
    /// Where: a file or directory path, a command line, or a registry path.
    pub source: String,
    /// Which value within the source: a dconf key, an INI key, a registry value name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What it said, as text (or the error reading it).
    pub value: String,
    /// The subject this evidence is about, when the check has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// How a piece of evidence was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// The content of a file (or its absence).
    File,
    /// A directory listing.
    Directory,
    /// The output of a command from the agent's fixed catalog.
    Command,
    /// A Windows registry value (read through `reg query`).
    Registry,
    /// A conclusion drawn from other evidence (e.g. "no profile file: user-db only").
    Derived,
}

/// Inventory facts about a device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Device {
    /// Host name.
    pub hostname: Option<String>,
    /// Operating system.
    pub os: OsInfo,
    /// Hardware maker, model and serial number, when the machine tells.
    pub hardware: Hardware,
    /// A stable machine identifier (`/etc/machine-id`, IOPlatformUUID, MachineGuid).
    pub machine_id: Option<String>,
    /// Interactive (human) accounts or the console user.
    pub users: Vec<String>,
    /// Mobile device management enrollment, where the operating system tells.
    pub mdm: Option<Mdm>,
}

/// Operating system facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OsInfo {
    /// `linux`, `macos` or `windows`.
    pub family: String,
    /// Product name, e.g. "Ubuntu", "macOS", "Windows 11 Pro".
    pub name: Option<String>,
    /// Version, e.g. "24.04", "15.1", "23H2".
    pub version: Option<String>,
    /// Build number, where the OS has one.
    pub build: Option<String>,
    /// Kernel release.
    pub kernel: Option<String>,
}

/// Hardware facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Hardware {
    /// Manufacturer.
    pub vendor: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Serial number (often readable by root only).
    pub serial: Option<String>,
}

/// Mobile device management enrollment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Mdm {
    /// Whether the device is enrolled.
    pub enrolled: bool,
    /// Details as the OS reports them (server, enrollment type).
    pub detail: Option<String>,
}

/// The policy a report was judged against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyInfo {
    /// Policy name.
    pub name: String,
    /// Policy version.
    pub version: String,
    /// `sha256:` digest of the policy text, so a collector can tell which policy judged a report.
    pub digest: String,
    /// Where the policy came from: `embedded` or a file path.
    pub source: String,
    /// The organisation that owns the policy.
    pub organisation: String,
    /// Whom to tell about a lost device or a security problem.
    pub security_contact: String,
}

/// The JSON Schema of [`Report`], as checked in at `crates/schema/report.schema.json`.
#[must_use]
pub fn report_json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Report);
    serde_json::to_value(&schema).expect("a derived JSON Schema always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(status: Status) -> Finding {
        Finding {
            id: "x".into(),
            title: "X".into(),
            clause: "Device Policy 1".into(),
            status,
            summary: String::new(),
            subjects: vec![],
            evidence: vec![],
            remediation: vec![],
        }
    }

    #[test]
    fn any_failure_makes_the_device_noncompliant() {
        let checks = [
            finding(Status::Pass),
            finding(Status::Unknown),
            finding(Status::Fail),
        ];
        assert_eq!(Posture::from_checks(&checks), Posture::Noncompliant);
    }

    #[test]
    fn an_unknown_or_error_without_failures_is_unknown_never_compliant() {
        for s in [Status::Unknown, Status::Error] {
            let checks = [finding(Status::Pass), finding(s)];
            assert_eq!(Posture::from_checks(&checks), Posture::Unknown);
        }
    }

    #[test]
    fn passes_and_not_applicable_are_compliant() {
        let checks = [finding(Status::Pass), finding(Status::NotApplicable)];
        assert_eq!(Posture::from_checks(&checks), Posture::Compliant);
    }

    #[test]
    fn no_checks_at_all_is_unknown() {
        assert_eq!(Posture::from_checks(&[]), Posture::Unknown);
    }

    #[test]
    fn combining_subjects_puts_failure_first_and_not_applicable_last() {
        assert_eq!(
            Status::combine([Status::Pass, Status::Fail, Status::Unknown]),
            Status::Fail
        );
        assert_eq!(
            Status::combine([Status::Pass, Status::Unknown]),
            Status::Unknown
        );
        assert_eq!(
            Status::combine([Status::Pass, Status::NotApplicable]),
            Status::Pass
        );
        assert_eq!(Status::combine([]), Status::NotApplicable);
    }

    #[test]
    fn verdict_words_round_trip() {
        for p in [Posture::Compliant, Posture::Noncompliant, Posture::Unknown] {
            assert_eq!(Posture::parse(p.as_str()), Some(p));
        }
        for s in [
            Status::Pass,
            Status::Fail,
            Status::Unknown,
            Status::NotApplicable,
            Status::Error,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("passed"), None);
    }

    #[test]
    fn checked_in_json_schema_matches_the_types() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/report.schema.json");
        let generated = serde_json::to_string_pretty(&report_json_schema()).unwrap() + "\n";
        if std::env::var_os("POSTURE_BLESS").is_some() {
            fs_err::write(path, &generated).unwrap();
        }
        let on_disk = fs_err::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "crates/schema/report.schema.json is out of date with the Report types; \
             regenerate it with `POSTURE_BLESS=1 cargo test -p posture-schema` and review the diff"
        );
    }
}
