//! Password rules of a Linux machine, read from files only.
//!
//! - **Password changes**: the `password` stack of the `passwd` service ([`crate::pam`]:
//!   `@include`, `include` and `substack` followed, so Debian's `common-password` and
//!   authselect's `system-auth` are what is read). A module counts when it is in the stack and
//!   not `optional`; a `-password` line whose module is not installed is skipped, as PAM skips
//!   it. The minimum length is the largest any counted module demands:
//!   - `pam_pwquality.so`: its arguments over `/etc/security/pwquality.conf` over the
//!     `pwquality.conf.d/*.conf` drop-ins (libpwquality reads the drop-ins in ASCII order first
//!     and the main file last, so the main file wins), over its defaults (`minlen` 8, credits
//!     0). Positive credits lower the real minimum (`minlen` minus their sum); `minclass` and
//!     negative credits force character classes; `enforcing=0` only warns.
//!   - `pam_cracklib.so`: its arguments (defaults `minlen` 9, each credit 1).
//!   - `pam_unix.so`: `minlen=` (Debian's default 6, upstream's 0) and `remember=`.
//!   - `pam_pwhistory.so`: `remember` from its arguments over `/etc/security/pwhistory.conf`
//!     (default 10).
//! - **Sign-in**: the `auth` stacks of the console and display-manager services. Lockout is
//!   `pam_faillock.so` in `auth` (preauth or authfail) and in `account`, `deny` from its
//!   arguments over `/etc/security/faillock.conf` (default 3, 0 = off), or the older
//!   `pam_tally2.so deny=`; throttling is `pam_faildelay.so delay=` or `pam_unix.so` without
//!   `nodelay` (its own 2 s delay). The weakest service counts. `pam_unix.so nullok` accepts an
//!   account's empty password. A required `pam_u2f`, `pam_oath`, `pam_google_authenticator`,
//!   `pam_yubico` or `pam_duo` in every sign-in stack is a second factor.
//! - **Accounts**: human accounts ([`crate::accounts`]); per account from `/etc/shadow` (through
//!   the one shadow reader, which keeps no hash) whether its password is empty and when it
//!   expires (`login.defs` only seeds new accounts). Accounts that `nsswitch.conf` takes from
//!   SSSD, LDAP or winbind follow their directory's rules: `not_applicable`.
//!
//! Root bypasses pwquality, pwhistory and pam_unix's checks unless `enforce_for_root` is set;
//! the evidence says which.
//!
//! Enforcement: each rule is the system's own configuration (`system_setting`, removable by a
//! local administrator), enforced only when every file that decides it, and its directory, is
//! root-owned and writable by nobody else ([`enforcement::root_only_files`]): the PAM files of
//! the stack with their includes, and the pwquality, pwhistory or faillock files read for it;
//! for an account, `/etc/shadow` (with the sign-in stacks for `nullok`). A module's default
//! counts too, since only those files can change it. A file others may write makes the rule not
//! enforced; an owner that could not be read makes it unknown.

use posture_host::{Host, ReadError};
use posture_schema::{Enforcer, Evidence};

use super::{
    Known, Lockout, Pin, Rules, RulesFacts, Scope, ScopeKind, ScopeState, Setting, known, rule,
};
use crate::enforcement;
use crate::pam::{self, AuthLine};
use crate::system::{Distro, System};
use crate::{accounts, evidence, shadow};

const PWQUALITY_CONF: &str = "/etc/security/pwquality.conf";
const PWQUALITY_DIR: &str = "/etc/security/pwquality.conf.d";
const PWHISTORY_CONF: &str = "/etc/security/pwhistory.conf";
const FAILLOCK_CONF: &str = "/etc/security/faillock.conf";
const NSSWITCH: &str = "/etc/nsswitch.conf";

/// The services people sign in with: the console and the display managers.
const SIGN_IN_SERVICES: [&str; 5] = ["login", "gdm-password", "lightdm", "sddm", "greetd"];

/// Where PAM modules are installed, per distribution layout and architecture.
const MODULE_DIRS: [&str; 8] = [
    "/usr/lib/x86_64-linux-gnu/security",
    "/lib/x86_64-linux-gnu/security",
    "/usr/lib/aarch64-linux-gnu/security",
    "/lib/aarch64-linux-gnu/security",
    "/usr/lib64/security",
    "/lib64/security",
    "/usr/lib/security",
    "/lib/security",
];

/// Modules that ask for a second factor at sign-in.
const SECOND_FACTORS: [&str; 5] = [
    "pam_u2f.so",
    "pam_oath.so",
    "pam_google_authenticator.so",
    "pam_yubico.so",
    "pam_duo.so",
];

pub(super) fn gather(host: &dyn Host) -> RulesFacts {
    // pam_unix's default minimum depends on the distribution (the verdict, not only the fix
    // steps, so it is read here rather than taken from the caller).
    let system = System::gather(host);
    let system = &system;
    let mut ev = Vec::new();
    let mut scopes = Vec::new();
    let mut rules = Rules::default();
    match password_stack(host, system, &mut ev) {
        Ok(change) => {
            let what = "PAM password stack of passwd";
            let length = system_pin(host, what, &change.stack_file, &change.quality_files, &mut ev);
            let history = system_pin(host, what, &change.stack_file, &change.history_files, &mut ev);
            rules.pins.push((rule::MIN_LENGTH, length.clone()));
            rules.pins.push((rule::COMPOSITION, length));
            rules.pins.push((rule::HISTORY, history));
            rules.min_length = Some(change.min_length);
            rules.history = Some(change.history);
            rules.composition = Some(change.composition);
        }
        Err(why) => {
            for field in [rule::MIN_LENGTH, rule::HISTORY, rule::COMPOSITION] {
                rules.pins.push((field, Pin::unknown(format!("the rule is not known: {why}"))));
            }
            rules.min_length = Some(Err(why.clone()));
            rules.history = Some(Err(why.clone()));
            rules.composition = Some(Err(why));
        }
    }
    let sign_in = sign_in(host, &mut ev);
    let nullok = match &sign_in {
        Ok(s) => {
            let what = format!("PAM sign-in stacks ({})", s.stacks.join(", "));
            let id = s.files.first().cloned().unwrap_or_default();
            rules
                .pins
                .push((rule::LOCKOUT, system_pin(host, &what, &id, &s.files, &mut ev)));
            rules.lockout = Some(s.lockout.clone());
            rules.second_factor = s.second_factor.clone();
            Ok((s.nullok.clone(), s.pam_files.clone()))
        }
        Err(why) => {
            rules
                .pins
                .push((rule::LOCKOUT, Pin::unknown(format!("the rule is not known: {why}"))));
            rules.lockout = Some(Err(why.clone()));
            Err(why.clone())
        }
    };
    scopes.push(Scope {
        kind: ScopeKind::Machine,
        name: "local accounts".to_owned(),
        state: ScopeState::Rules(Box::new(rules)),
    });
    account_scopes(host, &nullok, &mut scopes, &mut ev);
    directories(host, &mut scopes, &mut ev);
    RulesFacts {
        scopes,
        evidence: ev,
    }
}

/// What the password stack enforces.
struct Change {
    min_length: Setting<u32>,
    history: Setting<u32>,
    composition: Setting<Option<String>>,
    /// The file the `passwd` service resolved to.
    stack_file: String,
    /// The files that decide the minimum length and composition: the stack's PAM files and
    /// the pwquality files read.
    quality_files: Vec<String>,
    /// The files that decide the history: the stack's PAM files and `pwhistory.conf` when
    /// pam_pwhistory is in the stack.
    history_files: Vec<String>,
}

/// What sets a rule the system's own configuration decides: enforced when only root can change
/// every file of `files` ([`enforcement::root_only_files`]), which any local administrator can.
fn system_pin(
    host: &dyn Host,
    what: &str,
    id: &str,
    files: &[String],
    ev: &mut Vec<Evidence>,
) -> Pin {
    let (enforced, notes) = enforcement::root_only_files(host, files, ev);
    Pin {
        enforced,
        by: vec![enforcement::by(
            Enforcer::SYSTEM_SETTING,
            id,
            Some(what.to_owned()),
            Enforcer::BY_LOCAL_ADMIN,
        )],
        notes,
    }
}

fn at(line: &AuthLine) -> String {
    format!("{} line {}", line.file, line.line)
}

/// Whether PAM runs the module of a line: a `-TYPE` line whose module is in none of the module
/// directories is skipped silently, as PAM does.
fn module_present(host: &dyn Host, line: &AuthLine) -> bool {
    if !line.optional_module {
        return true;
    }
    let name = line.module_name();
    if line.module.starts_with('/') {
        return !matches!(host.exists(&line.module), Ok(false));
    }
    // Unreadable directories count as "maybe installed": the module's rules are then read.
    !MODULE_DIRS
        .iter()
        .all(|d| matches!(host.exists(&format!("{d}/{name}")), Ok(false)))
}

/// A module's `key=value` argument.
fn arg<'a>(line: &'a AuthLine, key: &str) -> Option<&'a str> {
    line.args
        .iter()
        .find_map(|a| a.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

fn flag(line: &AuthLine, name: &str) -> bool {
    line.args.iter().any(|a| a == name)
}

fn password_stack(
    host: &dyn Host,
    system: &System,
    ev: &mut Vec<Evidence>,
) -> Result<Change, String> {
    let stack = match pam::stack(host, "passwd", "password") {
        Ok(Some(s)) => s,
        Ok(None) => {
            let why = "no PAM configuration for passwd (no /etc/pam.d/passwd, no other)".to_owned();
            ev.push(evidence::derived("PAM", why.clone()));
            return Err(why);
        }
        Err(why) => {
            ev.push(evidence::derived("PAM", why.clone()));
            return Err(why);
        }
    };
    let mut lengths: Vec<(u32, String)> = Vec::new();
    let mut history: Vec<(u32, String)> = Vec::new();
    let mut forced: Vec<String> = Vec::new();
    let mut root_exempt: Vec<String> = Vec::new();
    let mut counted = Vec::new();
    let mut quality_files = stack.files.clone();
    let mut history_files = stack.files.clone();
    for line in &stack.lines {
        let module = line.module_name();
        if line.control == "optional" {
            ev.push(evidence::file(
                &line.file,
                Some("password"),
                format!("line {}: optional {module} enforces nothing", line.line),
            ));
            continue;
        }
        if !module_present(host, line) {
            ev.push(evidence::file(
                &line.file,
                Some("password"),
                format!("line {}: -{module} is not installed, so PAM skips it", line.line),
            ));
            continue;
        }
        counted.push(format!("{module} ({})", line.control));
        match module {
            "pam_pwquality.so" => {
                let q = pwquality(host, line, &mut quality_files, ev)?;
                if !q.enforcing {
                    ev.push(evidence::file(
                        &line.file,
                        Some("password"),
                        format!(
                            "line {}: pam_pwquality.so with enforcing=0 only warns",
                            line.line
                        ),
                    ));
                    continue;
                }
                lengths.push((q.effective_min(), q.describe("pam_pwquality.so", &at(line))));
                forced.extend(q.forced());
                if !q.enforce_for_root {
                    root_exempt.push("pam_pwquality.so".to_owned());
                }
            }
            "pam_cracklib.so" => {
                let mut q = Quality::cracklib();
                q.apply_args(line);
                lengths.push((q.effective_min(), q.describe("pam_cracklib.so", &at(line))));
                forced.extend(q.forced());
                if !q.enforce_for_root {
                    root_exempt.push("pam_cracklib.so".to_owned());
                }
            }
            "pam_unix.so" => {
                let default = if matches!(system.distro, Distro::Debian | Distro::Ubuntu) {
                    6
                } else {
                    0
                };
                match arg(line, "minlen") {
                    Some(v) => match v.parse::<u32>() {
                        Ok(n) => lengths.push((n, format!("pam_unix.so minlen={n} ({})", at(line)))),
                        Err(_) => {
                            return Err(format!(
                                "{}: pam_unix.so minlen={v} is not a number",
                                at(line)
                            ));
                        }
                    },
                    None => lengths.push((
                        default,
                        format!(
                            "pam_unix.so without minlen= ({}): its default {default}",
                            at(line)
                        ),
                    )),
                }
                if let Some(v) = arg(line, "remember") {
                    let n = v.parse::<u32>().map_err(|_| {
                        format!("{}: pam_unix.so remember={v} is not a number", at(line))
                    })?;
                    history.push((n.min(400), format!("pam_unix.so remember={n} ({})", at(line))));
                }
                root_exempt.push("pam_unix.so".to_owned());
            }
            "pam_pwhistory.so" => {
                let (n, source, root) = pwhistory(host, line, ev)?;
                if !history_files.iter().any(|f| f == PWHISTORY_CONF) {
                    history_files.push(PWHISTORY_CONF.to_owned());
                }
                history.push((n, source));
                if !root {
                    root_exempt.push("pam_pwhistory.so".to_owned());
                }
            }
            _ => {}
        }
    }
    ev.push(evidence::file(
        &stack.file,
        Some("password"),
        format!(
            "{} password lines; enforcing: {}",
            stack.lines.len(),
            if counted.is_empty() {
                "none".to_owned()
            } else {
                counted.join(", ")
            }
        ),
    ));
    if !root_exempt.is_empty() {
        ev.push(evidence::derived(
            "PAM",
            format!(
                "root can set any password: {} skip their checks for root (no enforce_for_root)",
                root_exempt.join(", ")
            ),
        ));
    }
    let min_length = match lengths.iter().max_by_key(|(n, _)| *n) {
        Some((n, source)) => known(*n, source.clone()),
        None => known(
            0,
            format!("no module in the password stack of {} sets a minimum", stack.file),
        ),
    };
    let history = match history.iter().max_by_key(|(n, _)| *n) {
        Some((n, source)) => known(*n, source.clone()),
        None => known(0, "neither pam_pwhistory.so nor pam_unix.so remember= is in the password stack"),
    };
    let composition = if forced.is_empty() {
        known(None, "no minclass or negative credit")
    } else {
        known(Some(forced.join(", ")), "pwquality settings")
    };
    Ok(Change {
        min_length,
        history,
        composition,
        stack_file: stack.file,
        quality_files,
        history_files,
    })
}

/// pwquality's (or cracklib's) settings that decide length and composition.
#[derive(Debug, Clone, PartialEq)]
struct Quality {
    minlen: i64,
    credits: [(&'static str, i64); 4],
    minclass: i64,
    enforce_for_root: bool,
    enforcing: bool,
    /// Where each value came from, in the order applied.
    sources: Vec<String>,
}

impl Quality {
    fn pwquality() -> Self {
        Self {
            minlen: 8,
            credits: [("dcredit", 0), ("ucredit", 0), ("lcredit", 0), ("ocredit", 0)],
            minclass: 0,
            enforce_for_root: false,
            enforcing: true,
            sources: Vec::new(),
        }
    }

    fn cracklib() -> Self {
        Self {
            minlen: 9,
            credits: [("dcredit", 1), ("ucredit", 1), ("lcredit", 1), ("ocredit", 1)],
            ..Self::pwquality()
        }
    }

    /// Applies one `key[=value]`; `Err` for a value that is not a number.
    fn set(&mut self, key: &str, value: Option<&str>, at: &str) -> Result<(), String> {
        let number = || -> Result<i64, String> {
            value
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| format!("{at}: {key} = {} is not a number", value.unwrap_or("")))
        };
        match key {
            "minlen" => {
                // libpwquality refuses values below 6 and keeps 6.
                self.minlen = number()?.max(6);
            }
            "minclass" => self.minclass = number()?,
            "enforce_for_root" => self.enforce_for_root = true,
            "enforcing" => self.enforcing = number()? != 0,
            _ => {
                if let Some(slot) = self.credits.iter_mut().find(|(k, _)| *k == key) {
                    slot.1 = number()?;
                } else {
                    return Ok(());
                }
            }
        }
        self.sources.push(format!(
            "{key}{} ({at})",
            value.map(|v| format!("={}", v.trim())).unwrap_or_default()
        ));
        Ok(())
    }

    fn apply_args(&mut self, line: &AuthLine) {
        for a in &line.args {
            let (k, v) = match a.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (a.as_str(), None),
            };
            // An argument PAM passes on that is not a number is ignored by the module.
            let _ = self.set(k, v, &format!("{} argument", at(line)));
        }
    }

    /// The shortest password accepted: positive credits let each character of that class count
    /// twice, up to the credit.
    fn effective_min(&self) -> u32 {
        let credit: i64 = self.credits.iter().map(|(_, c)| (*c).max(0)).sum();
        u32::try_from((self.minlen - credit).max(0)).unwrap_or(0)
    }

    fn forced(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.minclass > 1 {
            out.push(format!("minclass={}", self.minclass));
        }
        for (k, c) in self.credits {
            if c < 0 {
                out.push(format!("{k}={c}"));
            }
        }
        out
    }

    fn describe(&self, module: &str, at: &str) -> String {
        let credit: i64 = self.credits.iter().map(|(_, c)| (*c).max(0)).sum();
        let mut text = format!("{module} ({at}): minlen {}", self.minlen);
        if credit > 0 {
            text.push_str(&format!(", positive credits {credit} lower it"));
        }
        if !self.sources.is_empty() {
            text.push_str(&format!("; from {}", self.sources.join(", ")));
        } else {
            text.push_str("; built-in defaults");
        }
        text
    }
}

/// Lines of a `key = value` file without comments: (line number, key, value).
fn conf_lines(text: &str) -> Vec<(usize, String, Option<String>)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                return None;
            }
            Some(match line.split_once('=') {
                Some((k, v)) => (i + 1, k.trim().to_owned(), Some(v.trim().to_owned())),
                None => (i + 1, line.to_owned(), None),
            })
        })
        .collect()
}

/// Reads an optional file: `Ok(None)` when absent.
fn read_optional(
    host: &dyn Host,
    path: &str,
    ev: &mut Vec<Evidence>,
) -> Result<Option<String>, String> {
    match host.read_text(path) {
        Ok(t) => Ok(Some(t)),
        Err(ReadError::NotFound) => Ok(None),
        Err(e) => {
            let why = evidence::read_failure(path, &e);
            ev.push(evidence::file(path, None, why.clone()));
            Err(why)
        }
    }
}

fn pwquality(
    host: &dyn Host,
    line: &AuthLine,
    decided_by: &mut Vec<String>,
    ev: &mut Vec<Evidence>,
) -> Result<Quality, String> {
    let mut q = Quality::pwquality();
    let mut files: Vec<String> = match host.list_dir(PWQUALITY_DIR) {
        Ok(names) => names
            .into_iter()
            .filter(|n| n.ends_with(".conf"))
            .map(|n| format!("{PWQUALITY_DIR}/{n}"))
            .collect(),
        Err(ReadError::NotFound) => Vec::new(),
        Err(e) => {
            let why = evidence::read_failure(PWQUALITY_DIR, &e);
            ev.push(evidence::directory(PWQUALITY_DIR, why.clone()));
            return Err(why);
        }
    };
    // libpwquality: the drop-ins first, in ASCII order, the main file last (it wins).
    files.sort();
    files.push(PWQUALITY_CONF.to_owned());
    for f in &files {
        if !decided_by.contains(f) {
            decided_by.push(f.clone());
        }
    }
    for path in &files {
        let Some(text) = read_optional(host, path, ev)? else {
            if path == PWQUALITY_CONF {
                ev.push(evidence::file(path, None, "absent"));
            }
            continue;
        };
        let mut set = Vec::new();
        for (n, key, value) in conf_lines(&text) {
            q.set(&key, value.as_deref(), &format!("{path} line {n}"))?;
            set.push(match value {
                Some(v) => format!("{key}={v} (line {n})"),
                None => format!("{key} (line {n})"),
            });
        }
        ev.push(evidence::file(
            path,
            None,
            if set.is_empty() {
                "no setting (comments only): pwquality's defaults".to_owned()
            } else {
                set.join(", ")
            },
        ));
    }
    q.apply_args(line);
    ev.push(evidence::file(
        &line.file,
        Some("pam_pwquality.so"),
        format!(
            "line {}: arguments `{}` (they override the files); minlen {}, effective minimum {}{}",
            line.line,
            line.args.join(" "),
            q.minlen,
            q.effective_min(),
            if q.enforce_for_root {
                ", enforce_for_root"
            } else {
                ""
            }
        ),
    ));
    Ok(q)
}

fn pwhistory(
    host: &dyn Host,
    line: &AuthLine,
    ev: &mut Vec<Evidence>,
) -> Result<(u32, String, bool), String> {
    let mut remember: (u32, String) = (10, "pam_pwhistory.so's default 10".to_owned());
    let mut root = false;
    if let Some(text) = read_optional(host, PWHISTORY_CONF, ev)? {
        for (n, key, value) in conf_lines(&text) {
            match (key.as_str(), value) {
                ("remember", Some(v)) => {
                    let r = v.parse::<u32>().map_err(|_| {
                        format!("{PWHISTORY_CONF} line {n}: remember = {v} is not a number")
                    })?;
                    remember = (r, format!("{PWHISTORY_CONF} line {n}"));
                }
                ("enforce_for_root", _) => root = true,
                _ => {}
            }
        }
    }
    if let Some(v) = arg(line, "remember") {
        let r = v
            .parse::<u32>()
            .map_err(|_| format!("{}: pam_pwhistory.so remember={v} is not a number", at(line)))?;
        remember = (r, format!("pam_pwhistory.so remember={r} ({})", at(line)));
    }
    root |= flag(line, "enforce_for_root");
    ev.push(evidence::file(
        &line.file,
        Some("pam_pwhistory.so"),
        format!("line {}: remembers {} ({})", line.line, remember.0, remember.1),
    ));
    Ok((remember.0, remember.1, root))
}

/// What the sign-in stacks do with failed attempts and empty passwords.
struct SignIn {
    lockout: Setting<Lockout>,
    nullok: Option<String>,
    second_factor: Option<String>,
    /// The services whose stacks were read.
    stacks: Vec<String>,
    /// The files that decide the lockout: every sign-in stack's PAM files, the account stacks
    /// read for pam_faillock, and `faillock.conf` when it was read.
    files: Vec<String>,
    /// The sign-in stacks' PAM files alone (what decides `nullok`).
    pam_files: Vec<String>,
}

fn add_files(to: &mut Vec<String>, files: &[String]) {
    for f in files {
        if !to.contains(f) {
            to.push(f.clone());
        }
    }
}

/// `deny` of faillock: its arguments over faillock.conf over the default 3.
fn faillock_deny(
    host: &dyn Host,
    lines: &[&AuthLine],
    ev: &mut Vec<Evidence>,
) -> Result<(u32, String), String> {
    let mut deny = (3, "pam_faillock.so's default deny 3".to_owned());
    if let Some(text) = read_optional(host, FAILLOCK_CONF, ev)? {
        for (n, key, value) in conf_lines(&text) {
            if let ("deny", Some(v)) = (key.as_str(), value) {
                let d = v.parse::<u32>().map_err(|_| {
                    format!("{FAILLOCK_CONF} line {n}: deny = {v} is not a number")
                })?;
                deny = (d, format!("{FAILLOCK_CONF} line {n}: deny = {d}"));
            }
        }
    }
    for line in lines {
        if let Some(v) = arg(line, "deny") {
            let d = v
                .parse::<u32>()
                .map_err(|_| format!("{}: pam_faillock.so deny={v} is not a number", at(line)))?;
            deny = (d, format!("pam_faillock.so deny={d} ({})", at(line)));
        }
    }
    Ok(deny)
}

fn sign_in_one(
    host: &dyn Host,
    service: &str,
    auth: &pam::AuthStack,
    files: &mut Vec<String>,
    ev: &mut Vec<Evidence>,
) -> Result<(Lockout, String), String> {
    let present: Vec<&AuthLine> = auth
        .lines
        .iter()
        .filter(|l| module_present(host, l))
        .collect();
    // A delay is set whatever the line's control (Debian's login has `optional pam_faildelay`);
    // a lockout needs a line whose failure counts.
    let enforcing: Vec<&AuthLine> = present
        .iter()
        .copied()
        .filter(|l| l.control != "optional")
        .collect();
    let faillock: Vec<&AuthLine> = enforcing
        .iter()
        .copied()
        .filter(|l| l.module_name() == "pam_faillock.so")
        .collect();
    if !faillock.is_empty() {
        let account = pam::stack(host, service, "account")?;
        if let Some(a) = &account {
            add_files(files, &a.files);
        }
        let in_account = account.as_ref().is_some_and(|a| {
            a.lines
                .iter()
                .any(|l| l.module_name() == "pam_faillock.so" && l.control != "optional")
        });
        let counts = faillock
            .iter()
            .any(|l| flag(l, "preauth") || flag(l, "authfail"));
        if in_account && counts {
            add_files(files, &[FAILLOCK_CONF.to_owned()]);
            let (deny, source) = faillock_deny(host, &faillock, ev)?;
            if deny > 0 {
                return Ok((Lockout::After(deny), format!("{}: {source}", auth.file)));
            }
            ev.push(evidence::derived(
                "pam_faillock.so",
                format!("{service}: deny = 0 turns the lockout off ({source})"),
            ));
        } else {
            ev.push(evidence::derived(
                "pam_faillock.so",
                format!(
                    "{service}: pam_faillock.so is in auth but not {}: it locks nothing",
                    if in_account {
                        "with preauth or authfail"
                    } else {
                        "in the account stack too"
                    }
                ),
            ));
        }
    }
    if let Some(l) = enforcing.iter().find(|l| l.module_name() == "pam_tally2.so")
        && let Some(v) = arg(l, "deny")
        && let Ok(n) = v.parse::<u32>()
        && n > 0
    {
        return Ok((Lockout::After(n), format!("pam_tally2.so deny={n} ({})", at(l))));
    }
    if let Some(l) = present.iter().find(|l| l.module_name() == "pam_faildelay.so")
        && let Some(v) = arg(l, "delay")
        && let Ok(us) = v.parse::<u64>()
        && us > 0
    {
        return Ok((
            Lockout::Throttle(format!("{} s", us as f64 / 1_000_000.0)),
            format!("pam_faildelay.so delay={us} ({})", at(l)),
        ));
    }
    if let Some(l) = present
        .iter()
        .find(|l| l.module_name() == "pam_unix.so" && !flag(l, "nodelay"))
    {
        return Ok((
            Lockout::Throttle("about 2 s".to_owned()),
            format!("pam_unix.so without nodelay ({})", at(l)),
        ));
    }
    Ok((Lockout::Never, format!("{}: no pam_faillock, pam_faildelay or pam_unix delay", auth.file)))
}

fn sign_in(host: &dyn Host, ev: &mut Vec<Evidence>) -> Result<SignIn, String> {
    let mut stacks = Vec::new();
    for service in SIGN_IN_SERVICES {
        match pam::auth_stack(host, service) {
            Ok(Some(s)) if !s.file.ends_with("/other") || service == "login" => {
                stacks.push((service, s));
            }
            Ok(_) => {}
            Err(why) => {
                ev.push(evidence::derived("PAM", why.clone()));
                return Err(why);
            }
        }
    }
    if stacks.is_empty() {
        let why = "no sign-in service has a PAM configuration (login, gdm-password, lightdm, sddm, greetd)".to_owned();
        ev.push(evidence::derived("PAM", why.clone()));
        return Err(why);
    }
    let mut weakest: Option<(Lockout, String)> = None;
    let mut nullok = None;
    let mut factors = Vec::new();
    let mut pam_files = Vec::new();
    for (_, stack) in &stacks {
        add_files(&mut pam_files, &stack.files);
    }
    let mut files = pam_files.clone();
    for (service, stack) in &stacks {
        let (lockout, source) = sign_in_one(host, service, stack, &mut files, ev)?;
        ev.push(evidence::file(
            &stack.file,
            Some("auth"),
            format!(
                "{service}: {}; {source}",
                match &lockout {
                    Lockout::Never => "no lockout, no delay".to_owned(),
                    Lockout::After(n) => format!("locks after {n} failures"),
                    Lockout::Throttle(d) => format!("a delay of {d} per failure"),
                }
            ),
        ));
        let rank = |l: &Lockout| match l {
            Lockout::Never => (0, 0),
            Lockout::Throttle(_) => (1, 0),
            Lockout::After(n) => (2, u32::MAX - n),
        };
        if weakest.as_ref().is_none_or(|(w, _)| rank(&lockout) < rank(w)) {
            weakest = Some((lockout, format!("{service}: {source}")));
        }
        if nullok.is_none()
            && let Some(l) = stack.unix_nullok().first()
        {
            nullok = Some(format!("pam_unix.so nullok ({}, {service})", at(l)));
        }
        factors.push(stack.lines.iter().find(|l| {
            SECOND_FACTORS.contains(&l.module_name())
                && matches!(l.control.as_str(), "required" | "requisite")
        }).map(|l| format!("{} ({})", l.module_name(), at(l))));
    }
    let second_factor = if factors.iter().all(Option::is_some) {
        factors.into_iter().flatten().next()
    } else {
        None
    };
    let (lockout, source) = weakest.expect("at least one stack (checked above)");
    Ok(SignIn {
        lockout: Ok(Known {
            value: lockout,
            source,
        }),
        nullok,
        second_factor,
        stacks: stacks.iter().map(|(s, _)| (*s).to_owned()).collect(),
        files,
        pam_files,
    })
}

/// An account's rules that are not known: so is what sets them.
fn unknown_pins(rules: &mut Rules, why: &str) {
    for field in [rule::EMPTY_PASSWORD, rule::MAX_AGE_DAYS] {
        rules
            .pins
            .push((field, Pin::unknown(format!("the rule is not known: {why}"))));
    }
}

/// `nullok` of the sign-in stacks (where it is, if anywhere) and the PAM files that decide it,
/// or why it is not known.
type Nullok = Result<(Option<String>, Vec<String>), String>;

fn account_scopes(
    host: &dyn Host,
    sign_in: &Nullok,
    scopes: &mut Vec<Scope>,
    ev: &mut Vec<Evidence>,
) {
    let humans = match accounts::human_accounts(host, ev) {
        Ok(a) => a,
        Err(why) => {
            scopes.push(Scope {
                kind: ScopeKind::Account,
                name: "human accounts".to_owned(),
                state: ScopeState::Unknown(why),
            });
            return;
        }
    };
    if humans.is_empty() {
        return;
    }
    let entries = shadow::read(host);
    if let Err(why) = &entries {
        ev.push(evidence::file(shadow::PATH, None, why.clone()));
    }
    let nullok = sign_in.as_ref().map(|(n, _)| n.clone());
    let nullok = &nullok;
    // Who may change /etc/shadow (its password and ageing fields), and with the sign-in
    // stacks (their `nullok`) who may change whether an empty password is accepted; read once
    // for every account.
    let mut pins: Option<(Pin, Pin)> = None;
    for account in humans {
        let mut rules = Rules::default();
        match &entries {
            Err(why) => {
                unknown_pins(&mut rules, why);
                rules.empty_password = Some(Err(why.clone()));
                rules.max_age_days = Some(Err(why.clone()));
            }
            Ok(entries) => match shadow::entry(entries, &account.name) {
                Err(why) => {
                    unknown_pins(&mut rules, &why);
                    rules.empty_password = Some(Err(why.clone()));
                    rules.max_age_days = Some(Err(why));
                }
                Ok(entry) => {
                    let (empty_pin, age_pin) = pins
                        .get_or_insert_with(|| {
                            let age = system_pin(
                                host,
                                "the account's /etc/shadow entry",
                                shadow::PATH,
                                &[shadow::PATH.to_owned()],
                                ev,
                            );
                            let empty = match sign_in {
                                Ok((_, files)) => {
                                    let mut chain = vec![shadow::PATH.to_owned()];
                                    chain.extend(files.iter().cloned());
                                    system_pin(
                                        host,
                                        "the account's /etc/shadow entry and the PAM sign-in stacks (nullok)",
                                        shadow::PATH,
                                        &chain,
                                        ev,
                                    )
                                }
                                Err(why) => Pin::unknown(format!(
                                    "whether sign-in accepts an empty password is unknown: {why}"
                                )),
                            };
                            (empty, age)
                        })
                        .clone();
                    rules.pins.push((rule::EMPTY_PASSWORD, empty_pin));
                    rules.pins.push((rule::MAX_AGE_DAYS, age_pin));
                    let state = entry.password;
                    ev.push(evidence::about(
                        evidence::file(
                            shadow::PATH,
                            Some("password, max"),
                            format!(
                                "{}; maximum age {}",
                                state.describe(),
                                entry
                                    .max_days
                                    .map_or("empty (no ageing)".to_owned(), |d| format!("{d} days"))
                            ),
                        ),
                        &account.name,
                    ));
                    rules.empty_password = Some(match (state, nullok) {
                        (shadow::PasswordState::Empty, Ok(Some(at))) => known(
                            true,
                            format!("{} field empty and {at}", shadow::PATH),
                        ),
                        (shadow::PasswordState::Empty, Ok(None)) => known(
                            false,
                            format!(
                                "{} field empty, but no sign-in stack has nullok, so no empty answer is accepted",
                                shadow::PATH
                            ),
                        ),
                        (shadow::PasswordState::Empty, Err(why)) => Err(format!(
                            "the password is empty and whether sign-in accepts it is unknown: {why}"
                        )),
                        (s, _) => known(false, format!("{} ({})", shadow::PATH, s.describe())),
                    });
                    // 99999 days (273 years) is shadow's "no expiry" as useradd writes it.
                    rules.max_age_days = Some(known(
                        entry.max_days.filter(|d| *d < 99_999),
                        format!("{} maximum age field", shadow::PATH),
                    ));
                }
            },
        }
        scopes.push(Scope {
            kind: ScopeKind::Account,
            name: account.name.clone(),
            state: ScopeState::Rules(Box::new(rules)),
        });
    }
}

/// Accounts from a directory (`sss`, `ldap`, `winbind` on the `passwd:` line of
/// nsswitch.conf): their rules are the directory's.
fn directories(host: &dyn Host, scopes: &mut Vec<Scope>, ev: &mut Vec<Evidence>) {
    let text = match host.read_text(NSSWITCH) {
        Ok(t) => t,
        Err(ReadError::NotFound) => return,
        Err(e) => {
            let why = evidence::read_failure(NSSWITCH, &e);
            ev.push(evidence::file(NSSWITCH, None, why.clone()));
            scopes.push(Scope {
                kind: ScopeKind::Directory,
                name: "directory accounts".to_owned(),
                state: ScopeState::Unknown(why),
            });
            return;
        }
    };
    let Some(sources) = text.lines().find_map(|l| {
        l.split('#')
            .next()
            .unwrap_or("")
            .trim()
            .strip_prefix("passwd:")
            .map(str::to_owned)
    }) else {
        return;
    };
    ev.push(evidence::file(NSSWITCH, Some("passwd"), sources.trim().to_owned()));
    for word in sources.split_whitespace() {
        let name = word.trim_start_matches('[');
        if matches!(name, "sss" | "ldap" | "winbind") {
            scopes.push(Scope {
                kind: ScopeKind::Directory,
                name: format!("accounts from {name}"),
                state: ScopeState::NotApplicable(format!(
                    "{NSSWITCH} takes accounts from {name}: their password rules are the directory's (SSSD, LDAP or Active Directory), not this machine's"
                )),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_credits_lower_the_minimum_and_negative_ones_force_classes() {
        let mut q = Quality::pwquality();
        q.set("minlen", Some("12"), "x").unwrap();
        q.set("dcredit", Some("1"), "x").unwrap();
        q.set("ucredit", Some("-1"), "x").unwrap();
        assert_eq!(q.effective_min(), 11);
        assert_eq!(q.forced(), ["ucredit=-1"]);
        q.set("minlen", Some("3"), "x").unwrap();
        assert_eq!(q.minlen, 6, "libpwquality keeps at least 6");
        assert!(q.set("minclass", Some("x"), "f line 2").unwrap_err().contains("f line 2"));
        assert_eq!(Quality::cracklib().effective_min(), 5);
    }

    #[test]
    fn conf_lines_keep_flags_and_drop_comments() {
        let lines = conf_lines("# minlen = 9\nminlen = 14 # note\nenforce_for_root\n\n");
        assert_eq!(
            lines,
            [
                (2, "minlen".to_owned(), Some("14".to_owned())),
                (3, "enforce_for_root".to_owned(), None)
            ]
        );
    }
}
