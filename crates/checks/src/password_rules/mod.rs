//! Password rules (Device Policy 1: "System level and user level passwords must comply with the
//! Access Control Policy"), judged after NIST SP 800-63B-4 unless the policy says otherwise.
//!
//! The check reads the rules the machine really enforces for its local accounts and judges each
//! against the policy's `[password_rules]` section:
//!
//! - the **minimum length** of a new password (the policy's `min_length` where sign-in also asks
//!   for a second factor, `min_length_single_factor` where the password is the only factor);
//! - whether a password is **required at all** (an empty password accepted);
//! - a **lockout or throttling** after at most `max_failed_attempts` failures;
//! - optionally **history**, **maximum age** and **forced composition**; on Windows the Hello
//!   **PIN**'s minimum length.
//!
//! Where the rules come from: [`linux`] (the PAM stacks in effect, pwquality and its drop-ins,
//! faillock, pwhistory, `/etc/shadow` ageing), [`macos`] (`pwpolicy -getaccountpolicies`, global
//! and for the console user) and [`windows`] (`secedit /export`, the Hello PIN policy, who
//! governs each signed-in account). Accounts a directory or a cloud identity provider governs
//! are never judged by local values: `not_applicable` or `unknown`, with the reason. A setting
//! the machine did not say is `unknown`, never a pass.

mod linux;
pub mod macos;
pub mod windows;

use posture_host::{Host, Platform};
use posture_policy::{CloudAccounts, PasswordRulesRule};
use posture_schema::{Enforced, Enforcer, Evidence, Finding, Setting as Pinned, Status, Subject};

use crate::system::System;

/// Check id in reports.
pub const ID: &str = "password_rules";
/// Check title in reports.
pub const TITLE: &str = "Password rules";

/// This check, as the registry lists it.
pub const CHECK: crate::Check = crate::Check {
    id: ID,
    title: TITLE,
    rule: |rules| &rules.password_rules,
    run: |host, rules, system| evaluate_on(&gather(host), &rules.password_rules, system),
};

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RulesFacts {
    /// Each set of rules: the machine's, an account's, the PIN's, a directory's.
    pub scopes: Vec<Scope>,
    /// Everything read, with its source.
    pub evidence: Vec<Evidence>,
}

/// One set of accounts and the rules that govern them.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    /// What it is.
    pub kind: ScopeKind,
    /// "local accounts", "alice", "Windows Hello PIN", "accounts from sss".
    pub name: String,
    /// The rules, or why they are not judged here.
    pub state: ScopeState,
}

/// Kinds of scopes, as subjects name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// The rules every local account gets.
    Machine,
    /// One account.
    Account,
    /// The Windows Hello PIN.
    Pin,
    /// Accounts a directory or a cloud identity provider governs.
    Directory,
}

impl ScopeKind {
    fn subject_kind(self) -> &'static str {
        match self {
            Self::Machine => "rules",
            Self::Account => "account",
            Self::Pin => "pin",
            Self::Directory => "directory",
        }
    }
}

/// Whether a scope's rules could be read.
#[derive(Debug, Clone, PartialEq)]
pub enum ScopeState {
    /// The rules that apply, setting by setting.
    Rules(Box<Rules>),
    /// Governed elsewhere (a directory): local rules do not apply.
    NotApplicable(String),
    /// Governed by a cloud identity provider: judged as the policy's `cloud_accounts` says.
    Cloud(String),
    /// The machine did not say.
    Unknown(String),
}

/// One value the machine enforces, with where it was read; `Err` is why it is not known.
pub type Setting<T> = Result<Known<T>, String>;

/// A value and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known<T> {
    /// The value.
    pub value: T,
    /// Where it came from ("pam_pwquality.so minlen=12 (/etc/pam.d/common-password line 25)").
    pub source: String,
}

/// A known setting.
pub fn known<T>(value: T, source: impl Into<String>) -> Setting<T> {
    Ok(Known {
        value,
        source: source.into(),
    })
}

/// What happens after failed attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lockout {
    /// Nothing: attempts go on at full speed.
    Never,
    /// The account locks after this many failures.
    After(u32),
    /// A delay after each failure, described.
    Throttle(String),
}

/// The rules of one scope; `None` where a setting is not about this scope.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rules {
    /// The second factor sign-in asks for besides the password, if any (then `min_length`
    /// applies, else `min_length_single_factor`).
    pub second_factor: Option<String>,
    /// Shortest password a password change accepts.
    pub min_length: Option<Setting<u32>>,
    /// Whether an empty password is accepted.
    pub empty_password: Option<Setting<bool>>,
    /// Lockout or throttling after failed attempts.
    pub lockout: Option<Setting<Lockout>>,
    /// Old passwords remembered (0: none).
    pub history: Option<Setting<u32>>,
    /// Days until a password expires (`None`: never).
    pub max_age_days: Option<Setting<Option<u64>>>,
    /// The character classes the rules force, described (`None`: none).
    pub composition: Option<Setting<Option<String>>>,
    /// Shortest Windows Hello PIN.
    pub pin_min_length: Option<Setting<u32>>,
    /// What sets each rule, by the rule's field name ([`rule`]); empty where posture does not
    /// trace it, and then the subject reports no settings.
    pub pins: Vec<(&'static str, Pin)>,
}

/// The field names of [`Rules`], as [`Rules::pins`] keys them.
pub mod rule {
    /// [`super::Rules::min_length`].
    pub const MIN_LENGTH: &str = "min_length";
    /// [`super::Rules::empty_password`].
    pub const EMPTY_PASSWORD: &str = "empty_password";
    /// [`super::Rules::lockout`].
    pub const LOCKOUT: &str = "lockout";
    /// [`super::Rules::history`].
    pub const HISTORY: &str = "history";
    /// [`super::Rules::max_age_days`].
    pub const MAX_AGE_DAYS: &str = "max_age_days";
    /// [`super::Rules::composition`].
    pub const COMPOSITION: &str = "composition";
    /// [`super::Rules::pin_min_length`].
    pub const PIN_MIN_LENGTH: &str = "pin_min_length";
}

/// What sets one rule: whether management enforces it, and what does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// Whether it is enforced.
    pub enforced: Enforced,
    /// What sets it.
    pub by: Vec<Enforcer>,
    /// Why, when not plain.
    pub notes: Vec<String>,
}

impl Pin {
    /// Set by these.
    #[must_use]
    pub fn by(by: Vec<Enforcer>, notes: Vec<String>) -> Self {
        Self {
            enforced: if by.is_empty() {
                Enforced::No
            } else {
                Enforced::Yes
            },
            by,
            notes,
        }
    }

    /// Nothing sets it (a default no one pinned).
    #[must_use]
    pub fn nothing(note: impl Into<String>) -> Self {
        Self {
            enforced: Enforced::No,
            by: Vec::new(),
            notes: vec![note.into()],
        }
    }

    /// Not known.
    #[must_use]
    pub fn unknown(why: impl Into<String>) -> Self {
        Self {
            enforced: Enforced::Unknown,
            by: Vec::new(),
            notes: vec![why.into()],
        }
    }
}

/// Reads the machine's password rules.
pub fn gather(host: &dyn Host) -> RulesFacts {
    match host.platform() {
        Platform::Linux => linux::gather(host),
        Platform::Macos => macos::gather(host),
        Platform::Windows => windows::gather(host),
    }
}

/// Judges the facts against the rule.
#[must_use]
pub fn evaluate(facts: &RulesFacts, rule: &PasswordRulesRule, platform: Platform) -> Finding {
    evaluate_on(facts, rule, &System::unknown(platform))
}

/// Which of the policy's demands a scope misses, for fix steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Missed {
    length: bool,
    empty: bool,
    lockout: bool,
    history: bool,
    age: bool,
    composition: bool,
    pin: bool,
}

/// Judges the facts against the rule, with fix steps for this system.
#[must_use]
pub fn evaluate_on(facts: &RulesFacts, rule: &PasswordRulesRule, system: &System) -> Finding {
    let mut missed = Missed::default();
    let subjects: Vec<Subject> = facts
        .scopes
        .iter()
        .map(|scope| {
            let (status, summary) = judge_scope(scope, rule, &mut missed);
            let mut subject = Subject::new(scope.kind.subject_kind(), &scope.name, status, summary);
            if let ScopeState::Rules(rules) = &scope.state {
                subject.settings = rule_settings(rules, rule);
                subject.enforced = crate::enforcement::all_of(&subject.settings);
            }
            subject
        })
        .collect();
    let status = if subjects.is_empty() {
        Status::Unknown
    } else {
        Status::combine(subjects.iter().map(|s| s.status))
    };
    let summary = if subjects.is_empty() {
        "nothing was examined".to_owned()
    } else if status == Status::Pass {
        // The machine's own rules; each account's line is in the subjects.
        let accounts = subjects.iter().filter(|s| s.kind == "account").count();
        let mut parts: Vec<String> = subjects
            .iter()
            .filter(|s| s.kind != "account" && s.status == Status::Pass)
            .map(|s| format!("{}: {}", s.name, without_sources(&s.summary)))
            .collect();
        if accounts > 0 {
            parts.push(format!("{accounts} account(s) meet the policy"));
        }
        parts.join("; ")
    } else {
        subjects
            .iter()
            .filter(|s| s.status == status)
            .map(|s| format!("{}: {}", s.name, s.summary))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let remediation = if status == Status::Fail {
        remediation(system, rule, missed)
    } else {
        Vec::new()
    };
    let finding = Finding {
        id: ID.to_owned(),
        title: TITLE.to_owned(),
        clause: rule.clause.clone(),
        status,
        summary,
        subjects,
        evidence: facts.evidence.clone(),
        remediation,
    };
    crate::enforcement::require(finding, rule.require_enforced, system.platform)
}

/// The rules a verdict rests on (those the policy judges), each with what sets it; none when
/// the platform does not trace what sets its rules.
fn rule_settings(rules: &Rules, policy: &PasswordRulesRule) -> Vec<Pinned> {
    if rules.pins.is_empty() {
        return Vec::new();
    }
    fn shown<T>(s: &Setting<T>, show: impl Fn(&T) -> String) -> (String, String) {
        match s {
            Ok(k) => (show(&k.value), k.source.clone()),
            Err(why) => ("unknown".to_owned(), why.clone()),
        }
    }
    let mut read: Vec<(&'static str, &str, (String, String))> = Vec::new();
    if let Some(s) = &rules.min_length {
        read.push((rule::MIN_LENGTH, "minimum length", shown(s, u32::to_string)));
    }
    if let Some(s) = rules.empty_password.as_ref().filter(|_| policy.require_password) {
        read.push((
            rule::EMPTY_PASSWORD,
            "empty password",
            shown(s, |v| if *v { "accepted" } else { "refused" }.to_owned()),
        ));
    }
    if let Some(s) = rules.lockout.as_ref().filter(|_| policy.max_failed_attempts > 0) {
        read.push((
            rule::LOCKOUT,
            "lockout",
            shown(s, |v| match v {
                Lockout::Never => "never".to_owned(),
                Lockout::After(n) => format!("after {n} failed attempts"),
                Lockout::Throttle(what) => format!("throttle: {what}"),
            }),
        ));
    }
    if let Some(s) = rules.history.as_ref().filter(|_| policy.min_history > 0) {
        read.push((rule::HISTORY, "password history", shown(s, u32::to_string)));
    }
    if let Some(s) = rules.max_age_days.as_ref().filter(|_| policy.max_age_days > 0) {
        read.push((
            rule::MAX_AGE_DAYS,
            "maximum age (days)",
            shown(s, |v| v.map_or_else(|| "never".to_owned(), |d| d.to_string())),
        ));
    }
    if let Some(s) = rules
        .composition
        .as_ref()
        .filter(|_| policy.forbid_composition_rules)
    {
        read.push((
            rule::COMPOSITION,
            "composition",
            shown(s, |v| v.clone().unwrap_or_else(|| "none".to_owned())),
        ));
    }
    if let Some(s) = rules.pin_min_length.as_ref().filter(|_| policy.min_pin_length > 0) {
        read.push((rule::PIN_MIN_LENGTH, "PIN minimum length", shown(s, u32::to_string)));
    }
    read.into_iter()
        .map(|(field, name, (value, source))| {
            let pin = rules
                .pins
                .iter()
                .find(|(f, _)| *f == field)
                .map(|(_, p)| p.clone())
                .unwrap_or_else(|| Pin::unknown("what sets this rule is not traced"));
            Pinned {
                name: name.to_owned(),
                value,
                source,
                enforced: pin.enforced,
                enforced_by: pin.by,
                notes: pin.notes,
            }
        })
        .collect()
}

/// A subject's text without its parenthesized sources, for the one-line summary of a pass (the
/// subjects keep them).
fn without_sources(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" ;", ";")
}

fn judge_scope(scope: &Scope, rule: &PasswordRulesRule, missed: &mut Missed) -> (Status, String) {
    match &scope.state {
        ScopeState::NotApplicable(why) => (Status::NotApplicable, why.clone()),
        ScopeState::Cloud(why) => match rule.cloud_accounts {
            CloudAccounts::NotApplicable => (Status::NotApplicable, why.clone()),
            CloudAccounts::Unknown => (
                Status::Unknown,
                format!("{why}; the policy counts such accounts as unknown"),
            ),
        },
        ScopeState::Unknown(why) => (Status::Unknown, why.clone()),
        ScopeState::Rules(rules) => {
            let verdicts = judge_rules(rules, rule, missed);
            if verdicts.is_empty() {
                return (Status::Unknown, "no rule was read".to_owned());
            }
            let status = Status::combine(verdicts.iter().map(|(s, _)| *s));
            let text = verdicts
                .iter()
                .filter(|(s, _)| *s == status)
                .map(|(_, t)| t.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            (status, text)
        }
    }
}

fn unknown_text(what: &str, why: &str) -> (Status, String) {
    (Status::Unknown, format!("{what} unknown: {why}"))
}

fn judge_rules(
    rules: &Rules,
    rule: &PasswordRulesRule,
    missed: &mut Missed,
) -> Vec<(Status, String)> {
    let mut out = Vec::new();
    if let Some(setting) = &rules.min_length {
        let (need, factor) = match &rules.second_factor {
            Some(second) => (rule.min_length, format!("with a second factor ({second})")),
            None => (
                rule.min_length_single_factor,
                "the password is the only factor".to_owned(),
            ),
        };
        out.push(match setting {
            Ok(k) if k.value >= need => (
                Status::Pass,
                format!("minimum length {} ({})", k.value, k.source),
            ),
            Ok(k) => {
                missed.length = true;
                (
                    Status::Fail,
                    format!(
                        "minimum length {} ({}), the policy asks for {need} ({factor})",
                        k.value, k.source
                    ),
                )
            }
            Err(why) => unknown_text("minimum length", why),
        });
    }
    if let Some(setting) = &rules.empty_password {
        out.push(match setting {
            Ok(k) if k.value && rule.require_password => {
                missed.empty = true;
                (
                    Status::Fail,
                    format!("an empty password is accepted ({})", k.source),
                )
            }
            Ok(k) if k.value => (
                Status::Pass,
                format!(
                    "an empty password is accepted ({}; the policy allows it)",
                    k.source
                ),
            ),
            Ok(k) => (Status::Pass, format!("a password is required ({})", k.source)),
            Err(why) if rule.require_password => unknown_text("whether a password is required", why),
            Err(_) => (Status::Pass, "empty passwords not checked".to_owned()),
        });
    }
    if let Some(setting) = &rules.lockout {
        let max = rule.max_failed_attempts;
        out.push(match setting {
            Ok(k) => match &k.value {
                Lockout::After(n) if max == 0 || *n <= max => (
                    Status::Pass,
                    format!("locks after {n} failed attempts ({})", k.source),
                ),
                Lockout::After(n) => {
                    missed.lockout = true;
                    (
                        Status::Fail,
                        format!(
                            "locks only after {n} failed attempts ({}), the policy allows at most {max}",
                            k.source
                        ),
                    )
                }
                Lockout::Throttle(what) if max == 0 || rule.accept_throttling_as_lockout => (
                    Status::Pass,
                    format!(
                        "no lockout, a delay after each failed attempt: {what} ({}), counted as throttling",
                        k.source
                    ),
                ),
                Lockout::Throttle(what) => {
                    missed.lockout = true;
                    (
                        Status::Fail,
                        format!(
                            "no lockout, only a delay after each failed attempt: {what} ({}); the policy asks for a lockout after at most {max}",
                            k.source
                        ),
                    )
                }
                Lockout::Never if max == 0 => (
                    Status::Pass,
                    format!("no lockout after failed attempts ({}; not checked)", k.source),
                ),
                Lockout::Never => {
                    missed.lockout = true;
                    (
                        Status::Fail,
                        format!(
                            "no lockout or delay after failed attempts ({}), the policy asks for one after at most {max}",
                            k.source
                        ),
                    )
                }
            },
            Err(why) if max > 0 => unknown_text("lockout", why),
            Err(_) => (Status::Pass, "lockout not checked".to_owned()),
        });
    }
    if let Some(setting) = &rules.history {
        let min = rule.min_history;
        match setting {
            Ok(k) if k.value >= min => out.push((
                Status::Pass,
                format!("remembers {} old passwords ({})", k.value, k.source),
            )),
            Ok(k) => {
                missed.history = true;
                out.push((
                    Status::Fail,
                    format!(
                        "remembers {} old passwords ({}), the policy asks for {min}",
                        k.value, k.source
                    ),
                ));
            }
            Err(why) if min > 0 => out.push(unknown_text("password history", why)),
            Err(_) => {}
        }
    }
    if let Some(setting) = &rules.max_age_days {
        let max = u64::from(rule.max_age_days);
        match setting {
            Ok(k) => match k.value {
                Some(days) if max == 0 || days <= max => out.push((
                    Status::Pass,
                    format!("passwords expire after {days} days ({})", k.source),
                )),
                None if max == 0 => out.push((
                    Status::Pass,
                    format!("passwords never expire ({})", k.source),
                )),
                Some(days) => {
                    missed.age = true;
                    out.push((
                        Status::Fail,
                        format!(
                            "passwords expire after {days} days ({}), the policy asks for at most {max}",
                            k.source
                        ),
                    ));
                }
                None => {
                    missed.age = true;
                    out.push((
                        Status::Fail,
                        format!(
                            "passwords never expire ({}), the policy asks for at most {max} days",
                            k.source
                        ),
                    ));
                }
            },
            Err(why) if max > 0 => out.push(unknown_text("password expiry", why)),
            Err(_) => {}
        }
    }
    if let Some(setting) = &rules.composition {
        match setting {
            Ok(k) => match &k.value {
                Some(what) if rule.forbid_composition_rules => {
                    missed.composition = true;
                    out.push((
                        Status::Fail,
                        format!(
                            "forces character classes: {what} ({}); the policy forbids composition rules",
                            k.source
                        ),
                    ));
                }
                Some(what) => out.push((
                    Status::Pass,
                    format!("forces character classes: {what} ({})", k.source),
                )),
                None => {}
            },
            Err(why) if rule.forbid_composition_rules => {
                out.push(unknown_text("composition rules", why));
            }
            Err(_) => {}
        }
    }
    if let Some(setting) = &rules.pin_min_length {
        let min = rule.min_pin_length;
        out.push(match setting {
            Ok(k) if k.value >= min => (
                Status::Pass,
                format!("PIN minimum length {} ({})", k.value, k.source),
            ),
            Ok(k) => {
                missed.pin = true;
                (
                    Status::Fail,
                    format!(
                        "PIN minimum length {} ({}), the policy asks for {min}",
                        k.value, k.source
                    ),
                )
            }
            Err(why) if min > 0 => unknown_text("PIN minimum length", why),
            Err(_) => (Status::Pass, "PIN length not checked".to_owned()),
        });
    }
    out
}

fn remediation(system: &System, rule: &PasswordRulesRule, missed: Missed) -> Vec<String> {
    let mut steps = Vec::new();
    let len = rule.min_length_single_factor;
    let max = rule.max_failed_attempts;
    let fedora = system.distro == crate::system::Distro::Fedora;
    match system.platform {
        Platform::Linux => {
            if missed.length {
                steps.push(format!(
                    "As root set `minlen = {len}` in /etc/security/pwquality.conf (the main file wins over pwquality.conf.d; install libpam-pwquality on Debian and Ubuntu), set positive dcredit/ucredit/lcredit/ocredit to 0 (they lower the real minimum) and remove any smaller minlen= from the pam_pwquality.so line."
                ));
            }
            if missed.empty {
                steps.push(if fedora {
                    "Give every account named in the finding a password (`sudo passwd USER`) and remove nullok: `sudo authselect enable-feature without-nullok`.".to_owned()
                } else {
                    "Give every account named in the finding a password (`sudo passwd USER`) and remove `nullok` from the pam_unix.so line of /etc/pam.d/common-auth (on Debian and Ubuntu, in the profile under /usr/share/pam-configs, then `sudo pam-auth-update`).".to_owned()
                });
            }
            if missed.lockout {
                steps.push(if fedora {
                    format!("Turn on lockout: `sudo authselect enable-feature with-faillock`, and set `deny = {max}` (or fewer) in /etc/security/faillock.conf.")
                } else {
                    format!("Turn on lockout: add pam_faillock.so (preauth and authfail in common-auth, and in common-account), e.g. with the faillock profiles of `pam-auth-update`, and set `deny = {max}` (or fewer) in /etc/security/faillock.conf.")
                });
            }
            if missed.history {
                steps.push(format!("Remember old passwords: pam_pwhistory.so in the password stack (`sudo authselect enable-feature with-pwhistory` on Fedora) with `remember = {}` in /etc/security/pwhistory.conf.", rule.min_history));
            }
            if missed.age {
                steps.push(format!("Set an expiry for each account named: `sudo chage -M {} USER` (PASS_MAX_DAYS in /etc/login.defs applies to new accounts only).", rule.max_age_days));
            }
            if missed.composition {
                steps.push("Remove minclass and negative credits (dcredit=-1, ...) from /etc/security/pwquality.conf, its drop-ins and the pam_pwquality.so line.".to_owned());
            }
        }
        Platform::Macos => {
            if missed.length || missed.empty || missed.lockout || missed.history || missed.age {
                steps.push(format!(
                    "Ask IT for a configuration profile with a Passcode payload (com.apple.mobiledevice.passwordpolicy): minLength {len}, maxFailedAttempts {max} or fewer; without MDM, as an administrator: `sudo pwpolicy -setaccountpolicies FILE` with a policyCategoryPasswordContent rule `policyAttributePassword matches '.{{{len},}}'` and a policyCategoryAuthentication rule on policyAttributeMaximumFailedAuthentications."
                ));
            }
            if missed.composition {
                steps.push("Remove the composition rules (requireAlphanumeric, minComplexChars, character-class regexes) from the profile or pwpolicy.".to_owned());
            }
        }
        Platform::Windows => {
            if missed.length || missed.empty || missed.lockout || missed.history || missed.age {
                steps.push(format!(
                    "As Administrator: Local Security Policy (secpol.msc) > Account Policies > Password Policy > Minimum password length {len} (above 14 needs \"Relax minimum password length limits\" enabled), and Account Lockout Policy > Account lockout threshold {max} or fewer; or `net accounts /minpwlen:{} /lockoutthreshold:{max}`. A domain's own policy is set on its domain controllers.",
                    len.min(14)
                ));
            }
            if missed.composition {
                steps.push("Turn \"Password must meet complexity requirements\" off in Local Security Policy > Account Policies > Password Policy.".to_owned());
            }
            if missed.pin {
                steps.push(format!("Set the Windows Hello PIN's minimum length to {} or more: Group Policy > Computer Configuration > Administrative Templates > System > PIN Complexity > Minimum PIN length, or the PassportForWork PINComplexity MDM policy.", rule.min_pin_length));
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> PasswordRulesRule {
        PasswordRulesRule::default()
    }

    fn machine(rules: Rules) -> RulesFacts {
        RulesFacts {
            scopes: vec![Scope {
                kind: ScopeKind::Machine,
                name: "local accounts".into(),
                state: ScopeState::Rules(Box::new(rules)),
            }],
            evidence: vec![],
        }
    }

    #[test]
    fn a_single_factor_password_needs_the_single_factor_length_and_mfa_the_shorter_one() {
        let twelve = Rules {
            min_length: Some(known(12, "pwquality.conf minlen")),
            ..Rules::default()
        };
        let f = evaluate(&machine(twelve.clone()), &rule(), Platform::Linux);
        assert_eq!(f.status, Status::Fail, "{f:#?}");
        assert!(f.summary.contains("the policy asks for 15"), "{}", f.summary);
        assert!(f.remediation[0].contains("minlen = 15"));
        let mfa = Rules {
            second_factor: Some("pam_u2f.so".into()),
            ..twelve
        };
        assert_eq!(
            evaluate(&machine(mfa), &rule(), Platform::Linux).status,
            Status::Pass
        );
    }

    #[test]
    fn an_unreadable_setting_the_policy_asks_about_is_unknown_never_a_pass() {
        let f = evaluate(
            &machine(Rules {
                min_length: Some(Err("secedit needs elevation".into())),
                ..Rules::default()
            }),
            &rule(),
            Platform::Windows,
        );
        assert_eq!(f.status, Status::Unknown);
        assert!(f.summary.contains("secedit needs elevation"));
        assert_eq!(
            evaluate(&RulesFacts::default(), &rule(), Platform::Linux).status,
            Status::Unknown
        );
    }

    #[test]
    fn throttling_counts_as_lockout_only_when_the_policy_accepts_it() {
        let facts = machine(Rules {
            lockout: Some(known(Lockout::Throttle("2 s".into()), "pam_unix.so")),
            ..Rules::default()
        });
        assert_eq!(evaluate(&facts, &rule(), Platform::Linux).status, Status::Pass);
        let strict = PasswordRulesRule {
            accept_throttling_as_lockout: false,
            ..rule()
        };
        assert_eq!(evaluate(&facts, &strict, Platform::Linux).status, Status::Fail);
        let eleven = machine(Rules {
            lockout: Some(known(Lockout::After(11), "faillock.conf deny")),
            ..Rules::default()
        });
        assert_eq!(evaluate(&eleven, &rule(), Platform::Linux).status, Status::Fail);
    }

    #[test]
    fn composition_and_expiry_fail_only_when_the_policy_asks() {
        let facts = machine(Rules {
            composition: Some(known(Some("minclass=4".into()), "pwquality.conf")),
            max_age_days: Some(known(None, "/etc/shadow")),
            ..Rules::default()
        });
        assert_eq!(evaluate(&facts, &rule(), Platform::Linux).status, Status::Pass);
        let strict = PasswordRulesRule {
            forbid_composition_rules: true,
            max_age_days: 365,
            ..rule()
        };
        let f = evaluate(&facts, &strict, Platform::Linux);
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("forbids composition") && f.summary.contains("never expire"));
    }

    #[test]
    fn a_passing_summary_leaves_the_sources_to_the_subjects() {
        assert_eq!(
            without_sources("minimum length 15 (pwquality (line 2)); locks after 5 (faillock.conf)"),
            "minimum length 15; locks after 5"
        );
    }

    #[test]
    fn cloud_accounts_follow_the_policy_and_directory_accounts_are_not_applicable() {
        let facts = RulesFacts {
            scopes: vec![
                Scope {
                    kind: ScopeKind::Directory,
                    name: "jdoe@example.com".into(),
                    state: ScopeState::Cloud("a Microsoft account".into()),
                },
                Scope {
                    kind: ScopeKind::Directory,
                    name: "accounts from sss".into(),
                    state: ScopeState::NotApplicable("the directory's rules".into()),
                },
            ],
            evidence: vec![],
        };
        assert_eq!(
            evaluate(&facts, &rule(), Platform::Windows).status,
            Status::NotApplicable
        );
        let unknown = PasswordRulesRule {
            cloud_accounts: CloudAccounts::Unknown,
            ..rule()
        };
        assert_eq!(
            evaluate(&facts, &unknown, Platform::Windows).status,
            Status::Unknown
        );
    }
}
