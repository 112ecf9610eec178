//! Credentials (Device Policy 5: avoid sharing credentials, store secrets safely, use the
//! company-provided password manager, 1Password). For every human user:
//!
//! - 1Password is installed and signed in to the company account (the policy's
//!   `company_account`; unset, any business account), read from 1Password's own database
//!   ([`onepassword`]);
//! - the 1Password extension is installed and enabled in every Chromium-family and Firefox
//!   profile ([`browsers`]);
//! - every SSH private key under `~/.ssh`, found by its content, is protected by a passphrase
//!   ([`ssh_key`]);
//! - optionally, no company login is saved in a Chromium browser's own password store.
//!
//! Secrets never leave the host: database files and keys are read through
//! [`posture_host::Host::read_extracted`], which keeps only the facts named here (account
//! email, sign-in address and type; key format, type and protection; site and user name of
//! company logins), and only those reach evidence bundles.
//!
//! Enforcement: an SSH key's passphrase is its owner's choice, which nothing manages (the
//! setting says `enforced: false` with nothing in `enforced_by`); the 1Password extension can
//! be force-installed by a browser policy, which posture does not read, so its enforcement is
//! `unknown` with that reason. 1Password's sign-in reports no setting.

pub mod browsers;
mod linux;
mod macos;
pub mod onepassword;
pub mod ssh_key;
mod windows;

use posture_host::{Host, Platform, ReadError};
use posture_policy::{CredentialsRule, SavedBrowserLogins};
use posture_schema::{Evidence, Finding, Status, Subject};

use crate::evidence;
use crate::system::System;
use browsers::{BrowserDir, BrowserProfile, ExtensionState, SavedLogins};
use onepassword::{Account, AccountList, Generation, Location};
use ssh_key::{KeyFile, Protection};

/// Check id in reports.
pub const ID: &str = "credentials";
/// Check title in reports.
pub const TITLE: &str = "Credentials";

/// This check, as the registry lists it.
pub const CHECK: crate::Check = crate::Check {
    id: ID,
    title: TITLE,
    rule: |rules| &rules.credentials,
    run: |host, rules, system| {
        evaluate_on(&gather(host, &rules.credentials), &rules.credentials, system)
    },
};

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CredentialsFacts {
    /// One entry per human user.
    pub users: Vec<UserCredentials>,
    /// Set when the users could not be listed, with the reason.
    pub undecided: Option<String>,
    /// Set when the machine has no human user to judge, with how that was established.
    pub no_users: Option<String>,
    /// Everything read, with its source.
    pub evidence: Vec<Evidence>,
}

/// One user's password manager, browser profiles and SSH keys.
#[derive(Debug, Clone, PartialEq)]
pub struct UserCredentials {
    /// Account name.
    pub user: String,
    /// 1Password on this device for this user.
    pub onepassword: OnePassword,
    /// Every browser profile found (Chromium family and Firefox).
    pub browsers: Vec<BrowserProfile>,
    /// Browser folders whose profiles could not be listed, with the reason.
    pub browsers_unknown: Vec<String>,
    /// `~/.ssh` of this user.
    pub ssh: SshKeys,
}

/// 1Password for one user.
#[derive(Debug, Clone, PartialEq)]
pub enum OnePassword {
    /// No 1Password database and no 1Password application, with what was looked at.
    NotInstalled(String),
    /// The application is installed but has no database for this user (never signed in),
    /// with where it was found.
    NeverSignedIn(String),
    /// The databases found: where, and their accounts or why they could not be read.
    Databases(Vec<Database>),
}

/// One 1Password database.
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    /// "1Password 8", "1Password 8 (Snap)".
    pub label: String,
    /// Its path.
    pub path: String,
    /// Its accounts (empty: signed out of every account), or why they are not known.
    pub accounts: Result<Vec<Account>, String>,
}

/// The SSH keys of one user.
#[derive(Debug, Clone, PartialEq)]
pub enum SshKeys {
    /// `~/.ssh` was read: the private keys in it (path, key).
    Read {
        /// Private keys found: path, format, key type, protection.
        keys: Vec<(String, String, String, Protection)>,
        /// Files that could not be examined, with the reason.
        unreadable: Vec<(String, String)>,
    },
    /// `~/.ssh` does not exist.
    NoDirectory,
    /// `~/.ssh` could not be listed, and why.
    Unknown(String),
}

/// Where one user's files are, per platform.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserPaths {
    pub user: String,
    pub onepassword: Vec<Location>,
    /// Where the 1Password application would be if installed (for "installed, never signed
    /// in"): label and path.
    pub applications: Vec<(&'static str, String)>,
    pub browsers: Vec<BrowserDir>,
    pub ssh_dir: String,
}

/// Reads every human user's credentials facts.
pub fn gather(host: &dyn Host, rule: &CredentialsRule) -> CredentialsFacts {
    match host.platform() {
        Platform::Linux => linux::gather(host, rule),
        Platform::Macos => macos::gather(host, rule),
        Platform::Windows => windows::gather(host, rule),
    }
}

/// Reads one user's facts from the places `paths` names.
pub(crate) fn gather_user(
    host: &dyn Host,
    paths: &UserPaths,
    rule: &CredentialsRule,
    ev: &mut Vec<Evidence>,
) -> UserCredentials {
    let user = paths.user.as_str();
    let onepassword = gather_onepassword(host, paths, ev);
    let domains = if rule.saved_browser_logins == SavedBrowserLogins::Deny {
        rule.company_domains.clone()
    } else {
        Vec::new()
    };
    let (browsers, browsers_unknown) = if rule.require_browser_extension || !domains.is_empty() {
        browsers::profiles(host, &paths.browsers, &domains, ev, user)
    } else {
        (Vec::new(), Vec::new())
    };
    let ssh = if rule.require_ssh_key_passphrase {
        gather_ssh(host, &paths.ssh_dir, ev, user)
    } else {
        SshKeys::NoDirectory
    };
    UserCredentials {
        user: paths.user.clone(),
        onepassword,
        browsers,
        browsers_unknown,
        ssh,
    }
}

fn gather_onepassword(host: &dyn Host, paths: &UserPaths, ev: &mut Vec<Evidence>) -> OnePassword {
    let user = paths.user.as_str();
    let mut databases = Vec::new();
    for location in &paths.onepassword {
        let extract: posture_host::Extract<'_> = match location.generation {
            Generation::V8 => &onepassword::extract_v8,
            Generation::V7 => &onepassword::extract_v7,
        };
        let accounts = match host.read_extracted(&location.path, extract) {
            Err(ReadError::NotFound) => continue,
            Err(e) => Err(match e {
                ReadError::PermissionDenied if host.platform() == Platform::Macos => format!(
                    "{} (macOS protects app group containers: give posture Full Disk Access)",
                    evidence::read_failure(&location.path, &e)
                ),
                _ => evidence::read_failure(&location.path, &e),
            }),
            Ok(text) => match onepassword::parse_extracted(&text) {
                Some(AccountList::Accounts(accounts)) => Ok(accounts),
                Some(AccountList::Unrecognised(why)) => Err(format!(
                    "{} has a layout posture does not know: {why}",
                    location.path
                )),
                None => Err(format!("{}: unrecognised extraction", location.path)),
            },
        };
        ev.push(evidence::about(
            evidence::file(
                &location.path,
                Some("accounts"),
                match &accounts {
                    Ok(list) if list.is_empty() => {
                        format!("{}: no account (signed out)", location.label)
                    }
                    Ok(list) => format!(
                        "{}: {}",
                        location.label,
                        list.iter().map(describe_account).collect::<Vec<_>>().join("; ")
                    ),
                    Err(why) => why.clone(),
                },
            ),
            user,
        ));
        databases.push(Database {
            label: location.label.to_owned(),
            path: location.path.clone(),
            accounts,
        });
    }
    if !databases.is_empty() {
        return OnePassword::Databases(databases);
    }
    let looked: Vec<&str> = paths
        .onepassword
        .iter()
        .map(|l| l.path.as_str())
        .collect();
    for (label, path) in &paths.applications {
        if present(host, path) {
            let how = format!("{label} is installed ({path}) but has no database for {user}");
            ev.push(evidence::about(evidence::file(path, None, how.clone()), user));
            return OnePassword::NeverSignedIn(how);
        }
    }
    let how = format!("no 1Password database ({})", looked.join(", "));
    ev.push(evidence::about(evidence::derived("1Password", how.clone()), user));
    OnePassword::NotInstalled(how)
}

/// Whether a path exists, without reading it (so an application's binary never lands in an
/// evidence bundle): a link or any file answers `read_link` with a target or "not a link".
fn present(host: &dyn Host, path: &str) -> bool {
    matches!(host.read_link(path), Ok(_) | Err(ReadError::NotALink))
}

fn gather_ssh(host: &dyn Host, dir: &str, ev: &mut Vec<Evidence>, user: &str) -> SshKeys {
    let names = match host.list_dir(dir) {
        Ok(names) => names,
        Err(ReadError::NotFound) => {
            ev.push(evidence::about(evidence::directory(dir, "absent"), user));
            return SshKeys::NoDirectory;
        }
        Err(e) => {
            let why = evidence::read_failure(dir, &e);
            ev.push(evidence::about(evidence::directory(dir, why.clone()), user));
            return SshKeys::Unknown(why);
        }
    };
    let mut keys = Vec::new();
    let mut unreadable = Vec::new();
    let mut files: Vec<String> = Vec::new();
    for name in names {
        let path = format!("{dir}/{name}");
        // One level of folders (`~/.ssh/keys/work`): keys are often kept so.
        match host.list_dir(&path) {
            Ok(inner) => files.extend(inner.into_iter().map(|n| format!("{path}/{n}"))),
            Err(_) => files.push(path),
        }
    }
    for path in files {
        match host.read_extracted(&path, &ssh_key::extract) {
            Ok(text) => match ssh_key::parse_extracted(&text) {
                Some(KeyFile::NotAKey) => {}
                Some(KeyFile::PrivateKey {
                    format,
                    key_type,
                    protection,
                }) => {
                    ev.push(evidence::about(
                        evidence::file(
                            &path,
                            None,
                            format!(
                                "{}: {}",
                                describe_key(&format, &key_type),
                                describe_protection(&protection)
                            ),
                        ),
                        user,
                    ));
                    keys.push((path, format, key_type, protection));
                }
                None => unreadable.push((path, "unrecognised extraction".to_owned())),
            },
            // Sockets (ControlMaster), FIFOs and folders below the first level are no keys.
            Err(ReadError::Refused(why)) if why.contains("not a regular file") => {}
            Err(ReadError::NotFound) => {}
            Err(e) => {
                let why = evidence::read_failure(&path, &e);
                ev.push(evidence::about(evidence::file(&path, None, why.clone()), user));
                unreadable.push((path, why));
            }
        }
    }
    ev.push(evidence::about(
        evidence::directory(dir, format!("{} private key(s) found by content", keys.len())),
        user,
    ));
    SshKeys::Read { keys, unreadable }
}

/// "openssh ssh-ed25519 private key", or "pkcs8 private key" when the format hides the type.
fn describe_key(format: &str, key_type: &str) -> String {
    if key_type == "unknown" {
        format!("{format} private key")
    } else {
        format!("{format} {key_type} private key")
    }
}

fn describe_protection(p: &Protection) -> String {
    match p {
        Protection::Passphrase => "passphrase-protected".to_owned(),
        Protection::SecurityKey => "held by a security key".to_owned(),
        Protection::None => "not encrypted".to_owned(),
        Protection::Unknown(why) => format!("could not tell whether it is encrypted ({why})"),
    }
}

fn describe_account(a: &Account) -> String {
    format!(
        "{} at {} ({}{})",
        a.email,
        a.sign_in_host(),
        a.type_name(),
        if a.is_active() {
            String::new()
        } else {
            format!(", state {}", a.state)
        }
    )
}

/// Judges the facts against the rule.
#[must_use]
pub fn evaluate(facts: &CredentialsFacts, rule: &CredentialsRule, platform: Platform) -> Finding {
    evaluate_on(facts, rule, &System::unknown(platform))
}

/// What failed, for the fix steps.
#[derive(Default)]
struct Failures {
    onepassword_missing: bool,
    onepassword_account: bool,
    extension: Vec<String>,
    ssh: bool,
    saved_logins: bool,
    /// One short line per user and failing part, for the finding's summary.
    headlines: Vec<String>,
}

/// Judges the facts against the rule, with fix steps for this platform.
#[must_use]
pub fn evaluate_on(facts: &CredentialsFacts, rule: &CredentialsRule, system: &System) -> Finding {
    let mut subjects = Vec::new();
    let mut failures = Failures::default();
    for u in &facts.users {
        judge_user(u, rule, &mut subjects, &mut failures);
    }
    let combined = Status::combine(subjects.iter().map(|s| s.status));
    let (status, summary) = if let Some(why) = &facts.undecided {
        if combined == Status::Fail {
            (Status::Fail, failures.headlines.join("; "))
        } else {
            (Status::Unknown, why.clone())
        }
    } else if facts.users.is_empty() {
        match &facts.no_users {
            Some(why) => (Status::NotApplicable, why.clone()),
            None => (
                Status::Unknown,
                "no user was found whose credentials could be judged".to_owned(),
            ),
        }
    } else {
        match combined {
            Status::Fail => (Status::Fail, failures.headlines.join("; ")),
            Status::Unknown | Status::Error => {
                let unknown: Vec<String> = subjects
                    .iter()
                    .filter(|s| s.status == Status::Unknown)
                    .map(|s| format!("{} ({})", s.name, s.summary))
                    .collect();
                (
                    Status::Unknown,
                    format!("could not tell for {}", unknown.join("; ")),
                )
            }
            _ => (Status::Pass, pass_summary(facts, rule)),
        }
    };
    let remediation = if status == Status::Fail {
        remediation(system.platform, rule, &failures)
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

/// Adds the one setting a subject rests on, and its enforcement.
fn with_setting(subject: &mut Subject, setting: posture_schema::Setting) {
    subject.settings.push(setting);
    subject.enforced = crate::enforcement::all_of(&subject.settings);
}

fn subject(name: String, status: Status, summary: String) -> Subject {
    Subject {
        kind: "user".to_owned(),
        name,
        status,
        summary,
        settings: Vec::new(),
        enforced: None,
    }
}

fn judge_user(
    u: &UserCredentials,
    rule: &CredentialsRule,
    subjects: &mut Vec<Subject>,
    failures: &mut Failures,
) {
    let (status, summary) = judge_onepassword(&u.onepassword, rule);
    let first_subject = subjects.len();
    if status == Status::Fail {
        failures.headlines.push(format!("{}: {summary}", u.user));
        match &u.onepassword {
            OnePassword::NotInstalled(_) => failures.onepassword_missing = true,
            _ => failures.onepassword_account = true,
        }
    }
    subjects.push(subject(format!("{}: 1Password", u.user), status, summary));

    if rule.require_browser_extension {
        for p in &u.browsers {
            let (status, summary) = match &p.extension {
                ExtensionState::Enabled(_) => (
                    Status::Pass,
                    "1Password extension installed and enabled".to_owned(),
                ),
                ExtensionState::Disabled(why) => {
                    failures.extension.push(p.browser.clone());
                    (
                        Status::Fail,
                        format!("1Password extension installed but disabled ({why})"),
                    )
                }
                ExtensionState::Missing => {
                    failures.extension.push(p.browser.clone());
                    (
                        Status::Fail,
                        "1Password extension not installed".to_owned(),
                    )
                }
                // Nothing to protect, but nothing shown either: not a pass.
                ExtensionState::NeverOpened(why) => (Status::NotApplicable, why.clone()),
                ExtensionState::Unknown(why) => (Status::Unknown, why.clone()),
            };
            let mut profile = subject(
                format!("{}: {} profile {}", u.user, p.browser, p.profile),
                status,
                summary,
            );
            if let Some(value) = match &p.extension {
                ExtensionState::Enabled(_) => Some("enabled"),
                ExtensionState::Disabled(_) => Some("disabled"),
                ExtensionState::Missing => Some("not installed"),
                ExtensionState::NeverOpened(_) | ExtensionState::Unknown(_) => None,
            } {
                with_setting(
                    &mut profile,
                    crate::enforcement::unknown(
                        "1Password extension",
                        value,
                        format!("{} profile {}", p.browser, p.profile),
                        "a browser policy can force-install it (Chromium's ExtensionInstallForcelist, Firefox's ExtensionSettings), and posture does not read browser policies",
                    ),
                );
            }
            subjects.push(profile);
        }
        for why in &u.browsers_unknown {
            subjects.push(subject(
                format!("{}: browser profiles", u.user),
                Status::Unknown,
                why.clone(),
            ));
        }
        if u.browsers.is_empty() && u.browsers_unknown.is_empty() {
            subjects.push(subject(
                format!("{}: browsers", u.user),
                Status::Pass,
                "no Chromium-family or Firefox profile found".to_owned(),
            ));
        }
    }

    if rule.require_ssh_key_passphrase {
        match &u.ssh {
            SshKeys::NoDirectory => subjects.push(subject(
                format!("{}: SSH keys", u.user),
                Status::Pass,
                "no ~/.ssh folder".to_owned(),
            )),
            SshKeys::Unknown(why) => subjects.push(subject(
                format!("{}: SSH keys", u.user),
                Status::Unknown,
                why.clone(),
            )),
            SshKeys::Read { keys, unreadable } => {
                for (path, format, key_type, protection) in keys {
                    let status = match protection {
                        Protection::Passphrase | Protection::SecurityKey => Status::Pass,
                        Protection::None => {
                            failures.ssh = true;
                            Status::Fail
                        }
                        Protection::Unknown(_) => Status::Unknown,
                    };
                    let mut key = subject(
                        format!("{}: {path}", u.user),
                        status,
                        format!(
                            "{}, {}",
                            describe_key(format, key_type),
                            describe_protection(protection)
                        ),
                    );
                    with_setting(
                        &mut key,
                        crate::enforcement::noted(
                            crate::enforcement::user_set(
                                "passphrase",
                                match protection {
                                    Protection::Passphrase => "set",
                                    Protection::SecurityKey => "held by a security key",
                                    Protection::None => "none",
                                    Protection::Unknown(_) => "unknown",
                                },
                                path.clone(),
                            ),
                            "a key's protection is its owner's choice: no policy or management pins it",
                        ),
                    );
                    subjects.push(key);
                }
                for (path, why) in unreadable {
                    subjects.push(subject(
                        format!("{}: {path}", u.user),
                        Status::Unknown,
                        why.clone(),
                    ));
                }
                if keys.is_empty() && unreadable.is_empty() {
                    subjects.push(subject(
                        format!("{}: SSH keys", u.user),
                        Status::Pass,
                        "no private key in ~/.ssh".to_owned(),
                    ));
                }
            }
        }
    }

    let failed = |subjects: &[Subject], needle: &str| -> Vec<String> {
        subjects[first_subject..]
            .iter()
            .filter(|s| s.status == Status::Fail && s.name.contains(needle))
            .map(|s| s.name.trim_start_matches(&format!("{}: ", u.user)).to_owned())
            .collect()
    };
    let profiles = failed(subjects, " profile ");
    if !profiles.is_empty() {
        failures.headlines.push(format!(
            "{}: 1Password extension missing or disabled in {}",
            u.user,
            profiles.join(", ")
        ));
    }
    let keys = failed(subjects, "/");
    if !keys.is_empty() {
        failures.headlines.push(format!(
            "{}: {} SSH private key(s) without a passphrase ({})",
            u.user,
            keys.len(),
            keys.join(", ")
        ));
    }
    if rule.saved_browser_logins == SavedBrowserLogins::Deny {
        for p in &u.browsers {
            let name = format!("{}: {} profile {} saved logins", u.user, p.browser, p.profile);
            match &p.saved_logins {
                Some(SavedLogins::Found(found)) if !found.is_empty() => {
                    failures.saved_logins = true;
                    failures.headlines.push(format!(
                        "{}: company logins saved in {} profile {}",
                        u.user, p.browser, p.profile
                    ));
                    subjects.push(subject(
                        name,
                        Status::Fail,
                        format!(
                            "company logins saved in the browser: {}",
                            found
                                .iter()
                                .map(|l| format!("{} at {}", l.username, l.site))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                Some(SavedLogins::Unknown(why)) => {
                    subjects.push(subject(name, Status::Unknown, why.clone()));
                }
                _ => {}
            }
        }
    }
}

fn judge_onepassword(op: &OnePassword, rule: &CredentialsRule) -> (Status, String) {
    let databases = match op {
        OnePassword::NotInstalled(how) => {
            return (Status::Fail, format!("1Password is not installed: {how}"));
        }
        OnePassword::NeverSignedIn(how) => {
            return (Status::Fail, format!("not signed in to 1Password: {how}"));
        }
        OnePassword::Databases(dbs) => dbs,
    };
    let active: Vec<&Account> = databases
        .iter()
        .filter_map(|d| d.accounts.as_ref().ok())
        .flatten()
        .filter(|a| a.is_active())
        .collect();
    let unknown: Vec<&str> = databases
        .iter()
        .filter_map(|d| d.accounts.as_ref().err())
        .map(String::as_str)
        .collect();
    let list = |accounts: &[&Account]| {
        accounts
            .iter()
            .map(|a| describe_account(a))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let others = |chosen: &[&Account]| {
        let rest: Vec<&Account> = active
            .iter()
            .copied()
            .filter(|a| !chosen.contains(a))
            .collect();
        if rest.is_empty() {
            String::new()
        } else {
            format!("; also signed in to {}", list(&rest))
        }
    };
    let matching: Vec<&Account> = match &rule.company_account {
        Some(company) => active
            .iter()
            .copied()
            .filter(|a| a.sign_in_host() == company.to_ascii_lowercase())
            .collect(),
        None => active.iter().copied().filter(|a| a.is_business()).collect(),
    };
    if !matching.is_empty() {
        let summary = match &rule.company_account {
            Some(_) => format!(
                "signed in to the company account: {}{}",
                list(&matching),
                others(&matching)
            ),
            None => format!(
                "signed in to a business account: {} (the policy names no company_account, so any business account passes){}",
                list(&matching),
                others(&matching)
            ),
        };
        return (Status::Pass, summary);
    }
    if !unknown.is_empty() {
        return (Status::Unknown, unknown.join("; "));
    }
    let wanted = match &rule.company_account {
        Some(company) => format!("the company account {company}"),
        None => "a business account".to_owned(),
    };
    if active.is_empty() {
        (
            Status::Fail,
            format!("1Password is installed but signed in to no account; it must be signed in to {wanted}"),
        )
    } else {
        (
            Status::Fail,
            format!(
                "1Password is signed in only to {}; it must be signed in to {wanted}",
                list(&active)
            ),
        )
    }
}

fn pass_summary(facts: &CredentialsFacts, rule: &CredentialsRule) -> String {
    let mut parts = vec![match &rule.company_account {
        Some(c) => format!("1Password signed in to {c}"),
        None => "1Password signed in to a business account".to_owned(),
    }];
    if rule.require_browser_extension {
        parts.push("its extension in every browser profile".to_owned());
    }
    if rule.require_ssh_key_passphrase {
        parts.push("SSH keys protected".to_owned());
    }
    format!(
        "{} for {} user(s)",
        parts.join(", "),
        facts.users.len()
    )
}

fn remediation(platform: Platform, rule: &CredentialsRule, f: &Failures) -> Vec<String> {
    let mut steps = Vec::new();
    let account = rule
        .company_account
        .as_deref()
        .map_or_else(|| "the company's 1Password account".to_owned(), |c| format!("the company account {c}"));
    if f.onepassword_missing {
        steps.push(match platform {
            Platform::Linux => format!("Install 1Password 8 (https://1password.com/downloads/linux: the .deb or .rpm package, or the Snap) and sign in to {account} with your company email."),
            Platform::Macos => format!("Install 1Password 8 from https://1password.com/downloads/mac (or the company's software catalogue) and sign in to {account} with your company email."),
            Platform::Windows => format!("Install 1Password 8 from https://1password.com/downloads/windows (or the company's software portal) and sign in to {account} with your company email."),
        });
    }
    if f.onepassword_account {
        steps.push(format!("Open 1Password, then Settings > Accounts > Add account (or your account list > Sign in), and sign in to {account} with your company email; keep company secrets there."));
    }
    if !f.extension.is_empty() {
        let mut browsers = f.extension.clone();
        browsers.dedup();
        steps.push(format!(
            "Install and enable the 1Password extension in every profile of {}: Chromium browsers from the Chrome Web Store (enable it in chrome://extensions, edge://extensions or brave://extensions), Firefox from addons.mozilla.org (enable it in about:addons).",
            browsers.join(", ")
        ));
    }
    if f.ssh {
        steps.push(match platform {
            Platform::Windows => "Protect each unencrypted SSH private key with a passphrase: `ssh-keygen -p -f %USERPROFILE%\\.ssh\\KEY` (or move the key into 1Password and use its SSH agent, then delete the file).".to_owned(),
            _ => "Protect each unencrypted SSH private key with a passphrase: `ssh-keygen -p -f ~/.ssh/KEY` (or move the key into 1Password and use its SSH agent, then delete the file).".to_owned(),
        });
    }
    if f.saved_logins {
        steps.push("Move the company logins saved in the browser into 1Password, then delete them from the browser's password manager (chrome://password-manager/passwords or edge://wallet/passwords) and turn off its offer to save passwords.".to_owned());
    }
    steps
}
