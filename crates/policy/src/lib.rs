//! The Device Policy model of posture.
//!
//! A [`Policy`] says which checks run and with which limits. It is loaded from TOML (a file given
//! with `--policy`, or the default embedded in the binary, built from the organisation's written
//! Device Policy). Errors name the file, line, column and field, so an administrator can fix a
//! policy without reading code. This crate does no I/O: callers hand it the text and a name.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// The text of the embedded default policy.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../default-policy.toml");

/// The name used for the embedded policy in reports and errors.
pub const EMBEDDED_SOURCE: &str = "embedded";

/// A loaded policy: the rules, plus where they came from and a digest of their text.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The rules.
    pub rules: PolicyRules,
    /// `embedded` or the file the policy was read from.
    pub source: String,
    /// `sha256:<hex>` of the policy text.
    pub digest: String,
    /// The policy text as loaded.
    pub text: String,
}

/// The policy file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRules {
    /// Policy name, shown in reports.
    pub name: String,
    /// Policy version (the written policy's effective date works well).
    pub version: String,
    /// The organisation that owns the devices.
    pub organisation: String,
    /// Whom to tell about a lost device or a security problem.
    pub security_contact: String,
    /// Screen lock rule.
    pub screen_lock: ScreenLockRule,
    /// Disk encryption rule.
    pub disk_encryption: DiskEncryptionRule,
    /// Removable media rule.
    pub removable_media: RemovableMediaRule,
    // --- begin device_access (Device Policy 2) ---
    /// Device access rule (automatic login, guest, passwordless accounts, remote access). Policy
    /// files written before this section existed keep loading with its defaults.
    #[serde(default)]
    pub device_access: DeviceAccessRule,
    // --- end device_access ---
    // credentials (Device Policy 5): begin
    /// Credentials rule; a policy file written before this check existed gets the defaults.
    #[serde(default)]
    pub credentials: CredentialsRule,
    // credentials: end
    // password_rules (Device Policy 1): begin
    /// Password rules of the machine; a policy file written before this check existed gets the
    /// defaults.
    #[serde(default)]
    pub password_rules: PasswordRulesRule,
    // password_rules: end
    /// What one check may cost (optional table; the defaults suit every known machine).
    #[serde(default)]
    pub limits: Limits,
}

/// What every check's section holds whatever else it says: whether the check runs and the clause
/// it enforces. The checks' registry reads sections through this, so it needs no code per check.
pub trait CheckRule {
    /// Whether the check runs.
    fn enabled(&self) -> bool;
    /// The clause it enforces, shown with every finding.
    fn clause(&self) -> &str;
}

/// Implements [`CheckRule`] for rule structs with `enabled` and `clause` fields.
macro_rules! check_rule {
    ($($rule:ty),* $(,)?) => {$(
        impl CheckRule for $rule {
            fn enabled(&self) -> bool {
                self.enabled
            }
            fn clause(&self) -> &str {
                &self.clause
            }
        }
    )*};
}

check_rule!(
    ScreenLockRule,
    DiskEncryptionRule,
    RemovableMediaRule,
    DeviceAccessRule,  // device_access
    CredentialsRule,   // credentials
    PasswordRulesRule, // password_rules
);

impl PolicyRules {
    /// The check sections by id (their table name in the policy file), in file order, which is
    /// the order of the findings.
    ///
    /// The sections stay typed so that a policy file is read strictly (an unknown key or a
    /// wrong type is an error naming its line). A new check adds its section here in three
    /// steps: a rule struct with `enabled`, `clause` and its own settings (`deny_unknown_fields`;
    /// `#[serde(default)]` on the field below if existing policy files may lack it), listed in
    /// `check_rule!` above; a field of [`PolicyRules`] named as the check's id; and one line in
    /// this list. A test in the checks crate keeps this list and the checks' registry in step.
    #[must_use]
    pub fn check_rules(&self) -> Vec<(&'static str, &dyn CheckRule)> {
        vec![
            ("screen_lock", &self.screen_lock),
            ("disk_encryption", &self.disk_encryption),
            ("removable_media", &self.removable_media),
            ("device_access", &self.device_access),
            ("credentials", &self.credentials),
            ("password_rules", &self.password_rules),
        ]
    }

    /// The section of the check `id`, if the policy has one.
    #[must_use]
    pub fn check_rule(&self, id: &str) -> Option<&dyn CheckRule> {
        self.check_rules()
            .into_iter()
            .find_map(|(section, rule)| (section == id).then_some(rule))
    }
}

/// Bounds on the work of one check, so that a file or a program a user controls cannot hang or
/// exhaust the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Seconds one check may take; past it the check's finding is `error` with the reason and
    /// the run carries on (1..=3600).
    pub check_timeout_seconds: u32,
    /// The most bytes read from one file; a larger file is refused and what depends on it is
    /// `unknown` (4096..=268435456).
    pub max_file_bytes: u64,
}

impl Limits {
    /// Default of [`Limits::check_timeout_seconds`].
    pub const DEFAULT_CHECK_TIMEOUT_SECONDS: u32 = 30;
    /// Default of [`Limits::max_file_bytes`]: 4 MiB.
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
    const CHECK_TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 1..=3600;
    const MAX_FILE_BYTES_RANGE: std::ops::RangeInclusive<u64> = 4096..=256 * 1024 * 1024;

    /// [`Limits::check_timeout_seconds`] as a duration.
    #[must_use]
    pub fn check_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.check_timeout_seconds))
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            check_timeout_seconds: Self::DEFAULT_CHECK_TIMEOUT_SECONDS,
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
        }
    }
}

impl PolicyRules {
    /// The ids of the checks this policy enables (each rule's table name is its check's id), in
    /// report order. A collector treats a report that lacks one of them as `unknown` for it.
    #[must_use]
    pub fn enabled_checks(&self) -> Vec<&'static str> {
        [
            ("screen_lock", self.screen_lock.enabled),
            ("disk_encryption", self.disk_encryption.enabled),
            ("removable_media", self.removable_media.enabled),
            ("device_access", self.device_access.enabled),
            ("credentials", self.credentials.enabled),
            ("password_rules", self.password_rules.enabled),
        ]
        .into_iter()
        .filter_map(|(id, enabled)| enabled.then_some(id))
        .collect()
    }
}

/// A password-protected lock must engage within `max_idle_minutes` of inactivity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenLockRule {
    /// Whether the check runs.
    pub enabled: bool,
    /// The clause it enforces.
    pub clause: String,
    /// Whether a pass that management does not enforce fails (`require_enforced`, default
    /// false: the finding only reports what enforces each setting).
    #[serde(default)]
    pub require_enforced: bool,
    /// Longest allowed idle time until a password is required, grace delays included.
    pub max_idle_minutes: u32,
}

/// System and internal data volumes must be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskEncryptionRule {
    /// Whether the check runs.
    pub enabled: bool,
    /// The clause it enforces.
    pub clause: String,
    /// Whether a pass that management does not enforce fails (`require_enforced`, default
    /// false: the finding only reports what enforces each setting).
    #[serde(default)]
    pub require_enforced: bool,
    /// Whether an unencrypted disk swap fails the check (it is always reported).
    #[serde(default)]
    pub require_encrypted_swap: bool,
}

/// USB mass storage restrictions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemovableMediaRule {
    /// Whether the check runs.
    pub enabled: bool,
    /// The clause it enforces.
    pub clause: String,
    /// Whether a pass that management does not enforce fails (`require_enforced`, default
    /// false: the finding only reports what enforces each setting).
    #[serde(default)]
    pub require_enforced: bool,
    /// What the device must enforce.
    pub mode: RemovableMediaMode,
}

/// What a device must enforce for removable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovableMediaMode {
    /// Removable mass storage cannot be used at all.
    Block,
    /// Removable mass storage can be read but not written.
    ReadOnly,
    /// Only report; a writable unencrypted volume mounted now still fails.
    Audit,
}

impl RemovableMediaMode {
    /// The word used in policy files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::ReadOnly => "read_only",
            Self::Audit => "audit",
        }
    }
}

// --- begin device_access (Device Policy 2) ---
/// Nobody may get into the device without the owner's password: no automatic login, no guest
/// access, no passwordless sign-in, no account without a password; remote-access services are
/// reported, and fail when `remote_access` is `deny`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceAccessRule {
    /// Whether the check runs.
    pub enabled: bool,
    /// The clause it enforces.
    pub clause: String,
    /// Whether a pass that management does not enforce fails (`require_enforced`, default
    /// false: the finding only reports what enforces each setting).
    #[serde(default)]
    pub require_enforced: bool,
    /// What an enabled remote-access service (SSH, Remote Desktop, VNC, Screen Sharing) means.
    #[serde(default)]
    pub remote_access: RemoteAccessMode,
}

impl Default for DeviceAccessRule {
    /// The section as the embedded policy has it, for policy files that predate it.
    fn default() -> Self {
        Self {
            enabled: true,
            clause: "Device Policy 2".to_owned(),
            require_enforced: false,
            remote_access: RemoteAccessMode::Report,
        }
    }
}

/// What an enabled remote-access service means for the verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteAccessMode {
    /// Listed in the finding; not a failure by itself.
    #[default]
    Report,
    /// Any enabled remote-access service fails the check.
    Deny,
}

impl RemoteAccessMode {
    /// The word used in policy files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Report => "report",
            Self::Deny => "deny",
        }
    }
}
// --- end device_access ---

// credentials (Device Policy 5): begin
/// Secrets stored safely: 1Password signed in to the company account, its browser extension
/// in every profile, passphrases on SSH private keys, optionally no company logins saved in
/// browsers' own password stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsRule {
    /// Whether the check runs.
    pub enabled: bool,
    /// The clause it enforces.
    pub clause: String,
    /// Whether a pass that management does not enforce fails (`require_enforced`, default
    /// false: the finding only reports what enforces each setting).
    #[serde(default)]
    pub require_enforced: bool,
    /// Host of the company's 1Password sign-in address (`example.1password.com`); unset: any
    /// business account passes, and the finding names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_account: Option<String>,
    /// Whether every Chromium and Firefox profile must have the 1Password extension enabled.
    #[serde(default = "yes")]
    pub require_browser_extension: bool,
    /// Whether every SSH private key must be passphrase-protected.
    #[serde(default = "yes")]
    pub require_ssh_key_passphrase: bool,
    /// Whether company logins saved in browsers' own password stores fail.
    #[serde(default)]
    pub saved_browser_logins: SavedBrowserLogins,
    /// The company's mail and web domains, for `saved_browser_logins = "deny"`.
    #[serde(default)]
    pub company_domains: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for CredentialsRule {
    /// The section of the embedded policy: the one place its defaults are written.
    fn default() -> Self {
        #[derive(Deserialize)]
        struct Embedded {
            credentials: CredentialsRule,
        }
        toml::from_str::<Embedded>(DEFAULT_POLICY_TOML)
            .expect("the embedded policy has a [credentials] section (tested)")
            .credentials
    }
}

/// What to do about company logins saved in a browser's own password store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SavedBrowserLogins {
    /// Not looked at.
    #[default]
    Allow,
    /// A saved login of a company domain fails (Chromium browsers' `Login Data`).
    Deny,
}
// credentials: end

// password_rules (Device Policy 1): begin
/// The machine's password rules for local accounts, judged after NIST SP 800-63B-4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRulesRule {
    /// Whether the check runs.
    pub enabled: bool,
    /// The clause it enforces.
    pub clause: String,
    /// Shortest password the rules must demand where sign-in also asks for a second factor.
    pub min_length: u32,
    /// Shortest password the rules must demand where the password is the only factor.
    pub min_length_single_factor: u32,
    /// Whether an empty password fails.
    #[serde(default = "yes")]
    pub require_password: bool,
    /// Most failed attempts before a lockout (or throttling); 0: not checked.
    pub max_failed_attempts: u32,
    /// Whether a delay after each failure counts as the throttling `max_failed_attempts` asks
    /// for.
    #[serde(default = "yes")]
    pub accept_throttling_as_lockout: bool,
    /// Whether rules that force character classes fail.
    #[serde(default)]
    pub forbid_composition_rules: bool,
    /// Passwords must expire within this many days; 0: expiry not required.
    #[serde(default)]
    pub max_age_days: u32,
    /// Fewest old passwords remembered; 0: not checked.
    #[serde(default)]
    pub min_history: u32,
    /// Windows Hello PIN minimum length; 0: not checked.
    #[serde(default)]
    pub min_pin_length: u32,
    /// What accounts a cloud identity provider governs are.
    #[serde(default)]
    pub cloud_accounts: CloudAccounts,
    /// Whether a pass that management does not enforce fails (`require_enforced`, default
    /// false).
    #[serde(default)]
    pub require_enforced: bool,
}

impl Default for PasswordRulesRule {
    /// The section of the embedded policy: the one place its defaults are written.
    fn default() -> Self {
        #[derive(Deserialize)]
        struct Embedded {
            password_rules: PasswordRulesRule,
        }
        toml::from_str::<Embedded>(DEFAULT_POLICY_TOML)
            .expect("the embedded policy has a [password_rules] section (tested)")
            .password_rules
    }
}

/// The verdict for accounts whose password rules a cloud identity provider enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloudAccounts {
    /// The provider enforces them: not judged here.
    #[default]
    NotApplicable,
    /// Undecided: the device cannot read the provider's rules.
    Unknown,
}
// password_rules: end

/// A policy that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {field}: {message}")]
pub struct PolicyError {
    /// The policy file, or `embedded`.
    pub file: String,
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem.
    pub column: usize,
    /// The field at fault, as a dotted path (`screen_lock.max_idle_minutes`), or `(document)`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Policy {
    /// The embedded default policy.
    #[must_use]
    pub fn embedded() -> Self {
        Self::from_toml(EMBEDDED_SOURCE, DEFAULT_POLICY_TOML)
            .expect("the embedded policy is tested to parse")
    }

    /// Parses and validates a policy; `source` names it in errors and reports.
    pub fn from_toml(source: &str, text: &str) -> Result<Self, PolicyError> {
        let rules: PolicyRules = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let message = first_line(e.message());
            located(source, text, offset, message)
        })?;
        validate(source, text, &rules)?;
        let digest = format!("sha256:{:x}", sha2::Sha256::digest(text.as_bytes()));
        Ok(Self {
            rules,
            source: source.to_owned(),
            digest,
            text: text.to_owned(),
        })
    }
}

impl Policy {
    /// The check sections this policy's text does not have, whose defaults apply (policy files
    /// written before those checks existed). Callers say so once when they load such a file.
    #[must_use]
    pub fn defaulted_sections(&self) -> Vec<&'static str> {
        let tables: Vec<String> = self
            .text
            .lines()
            .filter_map(|l| table_header(l.trim()))
            .collect();
        self.rules
            .check_rules()
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| !tables.iter().any(|t| t == id))
            .collect()
    }
}

/// The text of one check section of the embedded policy (its `[id]` header through the line
/// before the next table), to show what applies where a policy file lacks it.
#[must_use]
pub fn default_section_text(id: &str) -> Option<String> {
    let header = format!("[{id}]");
    let mut lines = DEFAULT_POLICY_TOML
        .lines()
        .skip_while(|l| l.trim() != header);
    let first = lines.next()?;
    let mut text = format!("{first}\n");
    for line in lines.take_while(|l| !l.trim_start().starts_with('[')) {
        text.push_str(line);
        text.push('\n');
    }
    Some(text.trim_end().to_owned())
}

fn validate(source: &str, text: &str, rules: &PolicyRules) -> Result<(), PolicyError> {
    let minutes = rules.screen_lock.max_idle_minutes;
    if !(1..=1440).contains(&minutes) {
        let offset = find_key(text, "screen_lock", "max_idle_minutes").unwrap_or(0);
        return Err(located(
            source,
            text,
            offset,
            format!("must be between 1 and 1440 minutes, got {minutes}"),
        ));
    }
    let timeout = rules.limits.check_timeout_seconds;
    if !Limits::CHECK_TIMEOUT_RANGE.contains(&timeout) {
        let offset = find_key(text, "limits", "check_timeout_seconds").unwrap_or(0);
        return Err(located(
            source,
            text,
            offset,
            format!("must be between 1 and 3600 seconds, got {timeout}"),
        ));
    }
    let bytes = rules.limits.max_file_bytes;
    if !Limits::MAX_FILE_BYTES_RANGE.contains(&bytes) {
        let offset = find_key(text, "limits", "max_file_bytes").unwrap_or(0);
        return Err(located(
            source,
            text,
            offset,
            format!("must be between 4096 and 268435456 bytes, got {bytes}"),
        ));
    }
    let credentials = &rules.credentials;
    if let Some(account) = &credentials.company_account
        && (account.is_empty()
            || !account
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
    {
        let offset = find_key(text, "credentials", "company_account").unwrap_or(0);
        return Err(located(
            source,
            text,
            offset,
            format!(
                "must be the host of the sign-in address, like \"example.1password.com\" (no https://, no path), got {account:?}"
            ),
        ));
    }
    if credentials.saved_browser_logins == SavedBrowserLogins::Deny
        && credentials
            .company_domains
            .iter()
            .all(|d| d.trim().is_empty())
    {
        let offset = find_key(text, "credentials", "saved_browser_logins").unwrap_or(0);
        return Err(located(
            source,
            text,
            offset,
            "\"deny\" needs company_domains, the domains whose saved logins fail".to_owned(),
        ));
    }
    let pw = &rules.password_rules;
    for (key, value, range) in [
        ("min_length", pw.min_length, 1..=256),
        (
            "min_length_single_factor",
            pw.min_length_single_factor,
            1..=256,
        ),
        ("min_pin_length", pw.min_pin_length, 0..=127),
    ] {
        if !range.contains(&value) {
            let offset = find_key(text, "password_rules", key).unwrap_or(0);
            return Err(located(
                source,
                text,
                offset,
                format!(
                    "must be between {} and {} characters, got {value}",
                    range.start(),
                    range.end()
                ),
            ));
        }
    }
    for (key, value) in [
        ("name", &rules.name),
        ("organisation", &rules.organisation),
        ("security_contact", &rules.security_contact),
    ] {
        if value.trim().is_empty() {
            let offset = find_key(text, "", key).unwrap_or(0);
            return Err(located(
                source,
                text,
                offset,
                "must not be empty".to_owned(),
            ));
        }
    }
    Ok(())
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_owned()
}

/// Builds an error at a byte offset, naming the field that the offset falls in.
fn located(source: &str, text: &str, offset: usize, message: String) -> PolicyError {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    PolicyError {
        file: source.to_owned(),
        line,
        column,
        field: field_at(text, line),
        message,
    }
}

/// The dotted path of the key on a 1-based line: the nearest `[table]` header above it plus the
/// key before `=` on that line.
fn field_at(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(current) = lines.get(line.saturating_sub(1)) else {
        return "(document)".to_owned();
    };
    let trimmed = current.trim();
    if let Some(header) = table_header(trimmed) {
        return header;
    }
    let key = trimmed
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned());
    let table = lines[..line.saturating_sub(1)]
        .iter()
        .rev()
        .find_map(|l| table_header(l.trim()));
    match (table, key) {
        (Some(t), Some(k)) if !k.is_empty() => format!("{t}.{k}"),
        (None, Some(k)) if !k.is_empty() => k,
        (Some(t), _) => t,
        _ => "(document)".to_owned(),
    }
}

fn table_header(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?.split(']').next()?;
    let inner = inner.trim_start_matches('[').trim();
    (!inner.is_empty()).then(|| inner.to_owned())
}

/// Byte offset of `key = ` inside `[section]` (or at the top when `section` is empty).
fn find_key(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some(h) = table_header(trimmed) {
            current = h;
        } else if current == section
            && let Some((k, _)) = trimmed.split_once('=')
            && k.trim() == key
        {
            let indent = line.len() - line.trim_start().len();
            return Some(offset + indent);
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_enforced_defaults_to_false_and_is_read_per_check() {
        let rules = Policy::embedded().rules;
        assert!(!rules.screen_lock.require_enforced);
        assert!(!rules.removable_media.require_enforced);
        let text = DEFAULT_POLICY_TOML.replace(
            "max_idle_minutes = 15",
            "max_idle_minutes = 15\nrequire_enforced = true",
        );
        let rules = Policy::from_toml("site.toml", &text).unwrap().rules;
        assert!(rules.screen_lock.require_enforced);
        assert!(!rules.disk_encryption.require_enforced);
        let text = DEFAULT_POLICY_TOML.replace(
            "max_idle_minutes = 15",
            "max_idle_minutes = 15\nrequire_enforced = \"yes\"",
        );
        let err = Policy::from_toml("site.toml", &text).unwrap_err();
        assert_eq!(err.field, "screen_lock.require_enforced", "{err}");
    }

    #[test]
    fn enabled_checks_follow_the_rules_enabled_flags() {
        let mut policy = Policy::embedded();
        assert_eq!(
            policy.rules.enabled_checks(),
            [
                "screen_lock",
                "disk_encryption",
                "removable_media",
                "device_access",
                "credentials",
                "password_rules"
            ]
        );
        policy.rules.disk_encryption.enabled = false;
        assert_eq!(
            policy.rules.enabled_checks(),
            [
                "screen_lock",
                "removable_media",
                "device_access",
                "credentials",
                "password_rules"
            ]
        );
    }

    #[test]
    fn the_embedded_credentials_section_is_the_default_for_files_without_one() {
        let p = Policy::embedded();
        assert_eq!(p.rules.credentials, CredentialsRule::default());
        assert!(p.defaulted_sections().is_empty());
    }

    #[test]
    fn a_policy_file_without_a_credentials_section_loads_with_the_defaults_and_says_so_once() {
        let start = DEFAULT_POLICY_TOML.find("[credentials]").unwrap();
        let end = DEFAULT_POLICY_TOML.find("[password_rules]").unwrap();
        let old = format!(
            "{}{}",
            &DEFAULT_POLICY_TOML[..start],
            &DEFAULT_POLICY_TOML[end..]
        );
        let p = Policy::from_toml("site.toml", &old).unwrap();
        assert_eq!(p.rules.credentials, CredentialsRule::default());
        assert_eq!(p.defaulted_sections(), ["credentials"]);
    }

    #[test]
    fn a_company_account_must_be_a_host() {
        let text = DEFAULT_POLICY_TOML.replace(
            "# company_account = ",
            "company_account = \"https://example.1password.com\"\n# x = ",
        );
        let err = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(err.field, "credentials.company_account", "{err}");
        let text = DEFAULT_POLICY_TOML.replace(
            "# company_account = ",
            "company_account = \"example.1password.com\"\n# x = ",
        );
        let p = Policy::from_toml("p.toml", &text).unwrap();
        assert_eq!(
            p.rules.credentials.company_account.as_deref(),
            Some("example.1password.com")
        );
    }

    #[test]
    fn denying_saved_logins_needs_company_domains() {
        let text = DEFAULT_POLICY_TOML
            .replace(
                "saved_browser_logins = \"allow\"",
                "saved_browser_logins = \"deny\"",
            )
            .replace(
                "company_domains = [\"flowfuse.com\"]",
                "company_domains = []",
            );
        let err = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(err.field, "credentials.saved_browser_logins", "{err}");
    }

    #[test]
    fn the_embedded_policy_is_the_written_device_policy() {
        let p = Policy::embedded();
        assert_eq!(p.rules.organisation, "FlowFuse");
        assert_eq!(p.rules.security_contact, "security@flowfuse.com");
        assert_eq!(p.rules.screen_lock.max_idle_minutes, 15);
        assert_eq!(p.rules.screen_lock.clause, "Device Policy 3.1");
        assert_eq!(p.rules.removable_media.mode, RemovableMediaMode::ReadOnly);
        assert_eq!(p.rules.removable_media.clause, "Device Policy 6");
        assert!(!p.rules.disk_encryption.require_encrypted_swap);
        assert!(p.digest.starts_with("sha256:") && p.digest.len() == 7 + 64);
    }

    #[test]
    fn check_sections_are_the_policy_file_tables_in_file_order() {
        let p = Policy::embedded();
        let ids: Vec<&str> = p.rules.check_rules().iter().map(|(id, _)| *id).collect();
        let tables: Vec<String> = DEFAULT_POLICY_TOML
            .lines()
            .filter_map(|l| table_header(l.trim()))
            .collect();
        assert_eq!(tables, ids);
        let rule = p.rules.check_rule("removable_media").unwrap();
        assert!(rule.enabled());
        assert_eq!(rule.clause(), "Device Policy 6");
        assert!(p.rules.check_rule("no_such_check").is_none());
    }

    #[test]
    fn an_unknown_mode_names_file_line_column_and_field() {
        let text = DEFAULT_POLICY_TOML.replace("mode = \"read_only\"", "mode = \"deny\"");
        let err = Policy::from_toml("site.toml", &text).unwrap_err();
        let line = text.lines().position(|l| l.starts_with("mode =")).unwrap() + 1;
        assert_eq!(err.file, "site.toml");
        assert_eq!(err.line, line);
        assert_eq!(err.column, 8);
        assert_eq!(err.field, "removable_media.mode");
        assert!(err.message.contains("deny"), "{}", err.message);
    }

    #[test]
    fn a_misspelt_key_is_refused_not_ignored() {
        let text = DEFAULT_POLICY_TOML.replace("max_idle_minutes", "max_idle_minute");
        let err = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(err.field, "screen_lock.max_idle_minute");
        assert!(err.message.contains("unknown field"), "{}", err.message);
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let text =
            DEFAULT_POLICY_TOML.replace("max_idle_minutes = 15", "max_idle_minutes = \"15\"");
        let err = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(err.field, "screen_lock.max_idle_minutes");
    }

    #[test]
    fn an_idle_limit_of_zero_is_refused_with_its_line() {
        let text = DEFAULT_POLICY_TOML.replace("max_idle_minutes = 15", "max_idle_minutes = 0");
        let err = Policy::from_toml("p.toml", &text).unwrap_err();
        let line = text
            .lines()
            .position(|l| l.starts_with("max_idle_minutes"))
            .unwrap()
            + 1;
        assert_eq!(
            (err.line, err.field.as_str()),
            (line, "screen_lock.max_idle_minutes")
        );
    }

    #[test]
    fn a_missing_table_is_reported() {
        let text =
            "name = \"x\"\nversion = \"1\"\norganisation = \"o\"\nsecurity_contact = \"s\"\n";
        let err = Policy::from_toml("p.toml", text).unwrap_err();
        assert!(err.message.contains("screen_lock"), "{err}");
    }

    #[test]
    fn limits_default_when_absent_and_are_read_when_given() {
        let p = Policy::embedded();
        assert_eq!(p.rules.limits, Limits::default());
        assert_eq!(
            p.rules.limits.check_timeout(),
            std::time::Duration::from_secs(30)
        );
        let text = format!(
            "{DEFAULT_POLICY_TOML}\n[limits]\ncheck_timeout_seconds = 5\nmax_file_bytes = 65536\n"
        );
        let p = Policy::from_toml("p.toml", &text).unwrap();
        assert_eq!(
            p.rules.limits,
            Limits {
                check_timeout_seconds: 5,
                max_file_bytes: 65536
            }
        );
    }

    #[test]
    fn out_of_range_limits_are_refused_with_their_line() {
        for (key, value) in [
            ("check_timeout_seconds", "0"),
            ("check_timeout_seconds", "3601"),
            ("max_file_bytes", "10"),
            ("max_file_bytes", "18446744073709551615"),
        ] {
            let text = format!("{DEFAULT_POLICY_TOML}\n[limits]\n{key} = {value}\n");
            let err = Policy::from_toml("p.toml", &text).unwrap_err();
            assert_eq!(err.field, format!("limits.{key}"), "{err}");
            assert_eq!(err.line, text.lines().count(), "{err}");
        }
    }

    #[test]
    fn a_policy_file_without_the_device_access_section_loads_with_its_defaults() {
        let end = DEFAULT_POLICY_TOML.find("[device_access]").unwrap();
        let old = &DEFAULT_POLICY_TOML[..end];
        let p = Policy::from_toml("site.toml", old).unwrap();
        assert_eq!(p.rules.device_access, DeviceAccessRule::default());
        // Everything from [device_access] on is cut: the sections after it default too.
        assert_eq!(
            p.defaulted_sections(),
            ["device_access", "credentials", "password_rules"]
        );
        let shown = default_section_text("device_access").unwrap();
        assert!(
            shown.starts_with("[device_access]\nenabled = true"),
            "{shown}"
        );
        assert!(shown.ends_with("remote_access = \"report\""), "{shown}");
        assert!(Policy::embedded().defaulted_sections().is_empty());
        assert_eq!(
            Policy::embedded().rules.device_access,
            DeviceAccessRule::default()
        );
    }

    #[test]
    fn remote_access_deny_is_read_and_an_unknown_word_is_refused() {
        let text =
            DEFAULT_POLICY_TOML.replace("remote_access = \"report\"", "remote_access = \"deny\"");
        let p = Policy::from_toml("p.toml", &text).unwrap();
        assert_eq!(p.rules.device_access.remote_access, RemoteAccessMode::Deny);
        let text =
            DEFAULT_POLICY_TOML.replace("remote_access = \"report\"", "remote_access = \"off\"");
        let err = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(err.field, "device_access.remote_access");
    }

    #[test]
    fn a_policy_file_without_a_password_rules_section_loads_with_the_nist_defaults() {
        let start = DEFAULT_POLICY_TOML.find("[password_rules]").unwrap();
        let old = &DEFAULT_POLICY_TOML[..start];
        let p = Policy::from_toml("site.toml", old).unwrap();
        assert_eq!(p.rules.password_rules, PasswordRulesRule::default());
        assert_eq!(p.defaulted_sections(), ["password_rules"]);
        let rule = Policy::embedded().rules.password_rules;
        assert_eq!((rule.min_length, rule.min_length_single_factor), (8, 15));
        assert_eq!(rule.max_failed_attempts, 10);
        assert!(rule.require_password && !rule.forbid_composition_rules);
        assert_eq!((rule.max_age_days, rule.min_history), (0, 0));
        assert_eq!(rule.cloud_accounts, CloudAccounts::NotApplicable);
        let shown = default_section_text("password_rules").unwrap();
        assert!(
            shown.starts_with("[password_rules]\nenabled = true"),
            "{shown}"
        );
    }

    #[test]
    fn a_password_length_of_zero_is_refused_naming_the_field() {
        let text = DEFAULT_POLICY_TOML.replace("min_length = 8", "min_length = 0");
        let err = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(err.field, "password_rules.min_length", "{err}");
        let text = DEFAULT_POLICY_TOML.replace(
            "cloud_accounts = \"not_applicable\"",
            "cloud_accounts = \"pass\"",
        );
        let err = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(err.field, "password_rules.cloud_accounts", "{err}");
    }

    #[test]
    fn syntax_errors_point_at_the_line() {
        let err = Policy::from_toml("p.toml", "name = \"x\"\nversion = \n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,400}") {
            let _ = Policy::from_toml("p.toml", &text);
        }
    }
}
