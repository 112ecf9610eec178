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

impl Finding {
    /// Whether management enforces what this finding's verdict rests on: every subject that
    /// says enforced, any one not enforced, or unknown. `None` when no subject says. Once one
    /// subject says, a passing subject that says nothing (the check reads no settings for it)
    /// counts as unknown: the finding is never called enforced on the strength of the subjects
    /// that were read alone.
    #[must_use]
    pub fn enforcement(&self) -> Option<Enforced> {
        if self.subjects.iter().all(|s| s.enforced.is_none()) {
            return None;
        }
        Enforced::combine(self.subjects.iter().filter_map(|s| match s.enforced {
            None if s.status == Status::Pass => Some(Enforced::Unknown),
            said => said,
        }))
    }
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
    /// The settings the verdict rests on, each with its effective value, where that came from,
    /// and whether management enforces it. Empty when the check reports none (and in reports
    /// of agents that predate it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<Setting>,
    /// Whether management enforces this subject's verdict: usually every one of its settings
    /// enforced, but where any of several timers locks the screen, one enforced timer within the
    /// limit suffices. Absent when the check reports no settings for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforced: Option<Enforced>,
}

impl Subject {
    /// A subject with no per-setting results.
    #[must_use]
    pub fn new(kind: &str, name: &str, status: Status, summary: String) -> Self {
        Self {
            kind: kind.to_owned(),
            name: name.to_owned(),
            status,
            summary,
            settings: Vec::new(),
            enforced: None,
        }
    }
}

/// One setting a verdict rests on: its effective value and where that came from, plus whether
/// management enforces it (so a pass that holds today can be told from one a click undoes).
/// Enforcement never changes a verdict by itself; a policy that requires it
/// (`require_enforced`) does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Setting {
    /// The setting as its platform names it: `idle-delay`, `askForPassword`,
    /// `ScreenSaveTimeOut`, `usb-storage module`.
    pub name: String,
    /// The effective value, as text.
    pub value: String,
    /// Where the effective value came from: a file (and key), a registry key, a command.
    pub source: String,
    /// Whether something outside the user's own settings pins the effective value.
    #[serde(default)]
    pub enforced: Enforced,
    /// What manages the setting, including management whose value is not in effect (then
    /// its `value` says what it asks for).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enforced_by: Vec<Enforcer>,
    /// Why `enforced` is what it is when that is not plain from `enforced_by` (a lock that was
    /// never compiled, a managed value that is not in effect, an origin that could not be told).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Whether management enforces a setting: `true`, `false` or `"unknown"` in JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Enforced {
    /// Management pins the effective value.
    Yes,
    /// Nothing pins it: the user (or whoever set it) can change it.
    No,
    /// The machine did not say; the setting's notes say why.
    #[default]
    Unknown,
}

impl Enforced {
    /// The word used in human output and in CSV: `enforced`, `not enforced`, `unknown`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "enforced",
            Self::No => "not enforced",
            Self::Unknown => "unknown",
        }
    }

    /// Combines the enforcement of several settings: every one enforced is enforced; any one
    /// not enforced is not; otherwise unknown. `None` for no settings at all.
    #[must_use]
    pub fn combine(all: impl IntoIterator<Item = Enforced>) -> Option<Enforced> {
        let mut seen = None;
        for e in all {
            seen = Some(match (seen, e) {
                (_, Self::No) | (Some(Self::No), _) => Self::No,
                (_, Self::Unknown) | (Some(Self::Unknown), _) => Self::Unknown,
                _ => Self::Yes,
            });
        }
        seen
    }
}

impl Serialize for Enforced {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Yes => serializer.serialize_bool(true),
            Self::No => serializer.serialize_bool(false),
            Self::Unknown => serializer.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Enforced {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Bool(bool),
            Other(serde::de::IgnoredAny),
        }
        // Anything but a boolean ("unknown", or a word of a newer agent) reads as unknown,
        // never as enforced.
        Ok(match Wire::deserialize(deserializer)? {
            Wire::Bool(true) => Self::Yes,
            Wire::Bool(false) => Self::No,
            Wire::Other(_) => Self::Unknown,
        })
    }
}

impl JsonSchema for Enforced {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Enforced".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Whether management enforces the setting: true, false, or \"unknown\" when the machine did not say.",
            "anyOf": [{ "type": "boolean" }, { "type": "string", "const": "unknown" }]
        })
    }
}

/// One thing that manages a setting: an MDM or manually installed profile, a Group Policy, a
/// dconf lock, a root-owned modprobe rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Enforcer {
    /// What kind of management, one of [`Enforcer::KINDS`]; readers keep kinds they do not
    /// know as they are.
    pub kind: String,
    /// Its identifier: a profile identifier, a registry key, a database or file path.
    pub id: String,
    /// Its name for people, when it has one (a profile's display name, a GPO's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Who can remove it from this device: one of [`Enforcer::REMOVABLE_BY`].
    pub removable_by: String,
    /// The value it asks for, when that differs from the effective value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Enforcer {
    /// A configuration profile installed by an MDM (macOS).
    pub const MDM_PROFILE: &'static str = "mdm_profile";
    /// A configuration profile installed by hand (`_manualProfile`, macOS).
    pub const MANUAL_PROFILE: &'static str = "manual_profile";
    /// A managed preference no installed profile carries: local MCX or a hand-written file.
    pub const LOCAL_MCX: &'static str = "local_mcx";
    /// A managed preference whose origin could not be told (the profiles were not listable).
    pub const MANAGED_PREFERENCE: &'static str = "managed_preference";
    /// A Group Policy (domain or local) traced as such.
    pub const GPO: &'static str = "gpo";
    /// Local policy: the local Group Policy (gpedit, `Registry.pol` under
    /// `%SystemRoot%\System32\GroupPolicy`), the local security policy, or a policy value an
    /// administrator wrote directly; any local administrator can remove it.
    pub const LOCAL_POLICY: &'static str = "local_policy";
    /// A value under a `\Policies\` registry key whose origin was not traced: a Group Policy,
    /// an MDM's ADMX-backed policy, or an administrator or script writing it directly.
    pub const POLICY_KEY: &'static str = "policy_key";
    /// An MDM policy (Windows Policy CSP, `PolicyManager`).
    pub const MDM_CSP: &'static str = "mdm_csp";
    /// A lock in a compiled dconf system database of the user's profile.
    pub const DCONF_LOCK: &'static str = "dconf_lock";
    /// A KDE key, group or file marked immutable (`[$i]`).
    pub const KDE_IMMUTABLE: &'static str = "kde_immutable";
    /// An xfconf kiosk lock (`locked=`).
    pub const XFCONF_LOCK: &'static str = "xfconf_lock";
    /// A modprobe rule in a system directory only root can write.
    pub const MODPROBE_RULE: &'static str = "modprobe_rule";
    /// A udev rule in a system directory only root can write.
    pub const UDEV_RULE: &'static str = "udev_rule";
    /// A USBGuard rule set (root-owned `/etc/usbguard`), applied by its daemon.
    pub const USBGUARD_RULE: &'static str = "usbguard_rule";
    /// A machine setting only an administrator can change and no policy carries (a driver's
    /// start type, the kernel command line).
    pub const SYSTEM_SETTING: &'static str = "system_setting";
    /// Every kind this version writes.
    pub const KINDS: &'static [&'static str] = &[
        Self::MDM_PROFILE,
        Self::MANUAL_PROFILE,
        Self::LOCAL_MCX,
        Self::MANAGED_PREFERENCE,
        Self::GPO,
        Self::LOCAL_POLICY,
        Self::POLICY_KEY,
        Self::MDM_CSP,
        Self::DCONF_LOCK,
        Self::KDE_IMMUTABLE,
        Self::XFCONF_LOCK,
        Self::MODPROBE_RULE,
        Self::UDEV_RULE,
        Self::USBGUARD_RULE,
        Self::SYSTEM_SETTING,
    ];

    /// The user can remove it without administrator rights.
    pub const BY_USER: &'static str = "user";
    /// Any local administrator (on most laptops, the user) can remove it; nothing re-applies it.
    pub const BY_LOCAL_ADMIN: &'static str = "local_admin";
    /// Only the management that installed it can remove it (a non-removable MDM profile).
    pub const BY_MANAGEMENT: &'static str = "management";
    /// The machine did not say.
    pub const BY_UNKNOWN: &'static str = "unknown";
    /// Every `removable_by` word this version writes.
    pub const REMOVABLE_BY: &'static [&'static str] = &[
        Self::BY_USER,
        Self::BY_LOCAL_ADMIN,
        Self::BY_MANAGEMENT,
        Self::BY_UNKNOWN,
    ];
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
    fn enforcement_reads_as_true_false_or_unknown_and_a_new_word_is_never_enforced() {
        for (e, json) in [
            (Enforced::Yes, "true"),
            (Enforced::No, "false"),
            (Enforced::Unknown, "\"unknown\""),
        ] {
            assert_eq!(serde_json::to_string(&e).unwrap(), json);
            assert_eq!(serde_json::from_str::<Enforced>(json).unwrap(), e);
        }
        assert_eq!(
            serde_json::from_str::<Enforced>("\"partly\"").unwrap(),
            Enforced::Unknown
        );
    }

    #[test]
    fn a_subject_from_an_agent_without_settings_still_reads() {
        let old = r#"{"kind":"user","name":"a","status":"pass","summary":"ok"}"#;
        let s: Subject = serde_json::from_str(old).unwrap();
        assert!(s.settings.is_empty());
        assert_eq!(s.enforced, None);
        let mut f = finding(Status::Pass);
        f.subjects.push(s.clone());
        assert_eq!(f.enforcement(), None);
        let mut pinned = s.clone();
        pinned.enforced = Some(Enforced::Yes);
        f.subjects.push(pinned.clone());
        // Beside a subject that says, a passing one that says nothing is not called enforced.
        assert_eq!(f.enforcement(), Some(Enforced::Unknown));
        // One that does not pass (not applicable here) adds nothing.
        let mut idle = s;
        idle.status = Status::NotApplicable;
        f.subjects = vec![idle, pinned];
        assert_eq!(f.enforcement(), Some(Enforced::Yes));
    }

    #[test]
    fn one_setting_not_enforced_makes_the_finding_not_enforced() {
        use Enforced::{No, Unknown, Yes};
        assert_eq!(Enforced::combine([Yes, Yes]), Some(Yes));
        assert_eq!(Enforced::combine([Yes, Unknown]), Some(Unknown));
        assert_eq!(Enforced::combine([Unknown, No, Yes]), Some(No));
        assert_eq!(Enforced::combine([]), None);
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
