//! Password rules of a Windows PC, from one PowerShell script of the catalog
//! ([`catalog::windows_password_policy`]):
//!
//! - `secedit.exe /export /areas SECURITYPOLICY` into a fresh temporary file, whose
//!   `[System Access]` keys are stable in every language (`MinimumPasswordLength`,
//!   `PasswordComplexity`, `PasswordHistorySize`, `MaximumPasswordAge`, `LockoutBadCount`).
//!   secedit needs elevation: unelevated it writes nothing, and the rules are `unknown`, never
//!   zeros. The localized `net accounts` text is not used.
//! - `RelaxMinimumPasswordLengthLimits` (a length above 14 takes effect only with it).
//! - The local accounts' `PrincipalSource` (`Local`, `MicrosoftAccount`), to tell whose rules
//!   govern each signed-in user: a Microsoft account or an Entra ID user (`S-1-12-1-...`) is
//!   governed by the cloud, a domain user (not a local account) by the domain controller; the
//!   local values are never presented as theirs.
//! - The Windows Hello PIN's `MinimumPINLength` from group policy
//!   (`HKLM\SOFTWARE\Policies\Microsoft\PassportForWork\PINComplexity`) or MDM
//!   (`HKLM\SOFTWARE\Microsoft\Policies\PassportForWork`, any tenant); Windows's own default,
//!   6, when neither sets it.
//!
//! What sets each rule: the Resultant Set of Policy ([`PolicyOrigins`]) names the domain GPO or
//! the local Group Policy behind each `[System Access]` key; a key no GPO sets is the PC's local
//! security policy (`secpol.msc`, `net accounts`), which any local administrator changes. The
//! PIN length is traced to its GPO or MDM policy like any policy value.

use posture_host::Host;
use posture_host::powershell;
use serde_json::Value;

use posture_schema::{Enforced, Enforcer, Evidence};

use super::{Lockout, Pin, Rules, RulesFacts, Scope, ScopeKind, ScopeState, known, rule};
use crate::catalog;
use crate::enforcement;
use crate::enforcement::windows::{MdmTrace, Origin, PolicyOrigins, gpo_enforcer, policy_setting};
use crate::evidence;

/// The `[System Access]` key behind each rule.
const ACCOUNT_POLICY_KEYS: &[(&str, &str)] = &[
    (rule::MIN_LENGTH, "MinimumPasswordLength"),
    (rule::EMPTY_PASSWORD, "MinimumPasswordLength"),
    (rule::LOCKOUT, "LockoutBadCount"),
    (rule::HISTORY, "PasswordHistorySize"),
    (rule::MAX_AGE_DAYS, "MaximumPasswordAge"),
    (rule::COMPOSITION, "PasswordComplexity"),
];

/// What sets an account policy, from its origin.
#[must_use]
pub fn account_policy_pin(key: &str, origin: &Origin) -> Pin {
    if let Some(e) = gpo_enforcer(origin) {
        return Pin::by(vec![e], Vec::new());
    }
    match origin {
        Origin::Unknown(why) => Pin {
            enforced: Enforced::Yes,
            by: vec![enforcement::by(
                Enforcer::SYSTEM_SETTING,
                format!("secedit [System Access] {key}"),
                Some("account policy (origin not traced)".to_owned()),
                Enforcer::BY_UNKNOWN,
            )],
            notes: vec![format!(
                "only an administrator changes it, but whether Group Policy sets it is unknown: {why}"
            )],
        },
        _ => Pin::by(
            vec![enforcement::by(
                Enforcer::LOCAL_POLICY,
                format!("secedit [System Access] {key}"),
                Some("local security policy (secpol.msc, net accounts)".to_owned()),
                Enforcer::BY_LOCAL_ADMIN,
            )],
            vec!["no Group Policy sets it (RSoP): the PC's own security policy, which any local administrator can change".to_owned()],
        ),
    }
}

fn account_pins(origins: &PolicyOrigins<'_>, ev: &mut Vec<Evidence>) -> Vec<(&'static str, Pin)> {
    ACCOUNT_POLICY_KEYS
        .iter()
        .map(|(field, key)| (*field, account_policy_pin(key, &origins.security(key, ev))))
        .collect()
}

/// What sets the PIN's minimum length.
fn pin_pins(out: &PolicyOutput, origins: &PolicyOrigins<'_>, ev: &mut Vec<Evidence>) -> Vec<(&'static str, Pin)> {
    const KEY: &str = r"HKLM\SOFTWARE\Policies\Microsoft\PassportForWork\PINComplexity";
    const MDM: &str = r"HKLM\SOFTWARE\Microsoft\Policies\PassportForWork";
    let mdm = if out.pin_mdm.is_empty() {
        MdmTrace::Absent
    } else {
        MdmTrace::Found(format!(r"{MDM}\...\MinimumPINLength"))
    };
    let pin = match (out.pin_gpo, &mdm) {
        (Some(v), _) => {
            let origin = origins.registry(KEY, "MinimumPINLength", ev);
            let s = policy_setting("MinimumPINLength", v.to_string(), KEY, "MinimumPINLength", &origin, &mdm);
            Pin {
                enforced: s.enforced,
                by: s.enforced_by,
                notes: s.notes,
            }
        }
        (None, MdmTrace::Found(id)) => Pin::by(
            vec![enforcement::by(
                Enforcer::MDM_CSP,
                id.clone(),
                Some("MDM PassportForWork policy".to_owned()),
                Enforcer::BY_MANAGEMENT,
            )],
            Vec::new(),
        ),
        (None, _) => Pin::nothing("Windows's default: no Group Policy or MDM policy sets it"),
    };
    vec![(rule::PIN_MIN_LENGTH, pin)]
}

/// What the password-policy script printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOutput {
    /// The `[System Access]` entries secedit exported; empty when it wrote nothing.
    pub system_access: Vec<(String, String)>,
    /// secedit's exit code.
    pub secedit_exit: Option<i64>,
    /// Local accounts: name, SID, principal source.
    pub users: Vec<(String, String, String)>,
    /// `MinimumPINLength` from group policy.
    pub pin_gpo: Option<u64>,
    /// `MinimumPINLength` values from MDM.
    pub pin_mdm: Vec<u64>,
    /// `RelaxMinimumPasswordLengthLimits`.
    pub relax: Option<u64>,
}

/// The `[System Access]` section of a secedit INF: `Key = value` lines.
#[must_use]
pub fn system_access(inf: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for raw in inf.lines() {
        let line = raw.trim().trim_start_matches('\u{feff}');
        if line.starts_with('[') {
            inside = line.eq_ignore_ascii_case("[System Access]");
            continue;
        }
        if !inside || line.is_empty() || line.starts_with(';') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

fn number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Parses the output of [`catalog::windows_password_policy`].
pub fn parse_policy_output(text: &str) -> Result<PolicyOutput, String> {
    let value = powershell::parse_value(text).map_err(|e| e.to_string())?;
    if !value.is_object() {
        return Err("not an object".to_owned());
    }
    let inf = value.get("Inf").and_then(Value::as_str).unwrap_or("");
    let users = match value.get("Users") {
        Some(Value::Array(items)) => items.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        None | Some(Value::Null) => Vec::new(),
        Some(other) => return Err(format!("Users is not a list: {other}")),
    };
    let mut accounts = Vec::new();
    for u in &users {
        let field = |k: &str| u.get(k).and_then(Value::as_str).map(str::to_owned);
        match (field("Name"), field("Sid"), field("Source")) {
            (Some(n), Some(s), Some(src)) => accounts.push((n, s, src)),
            _ => return Err(format!("an account without Name, Sid or Source: {u}")),
        }
    }
    let pin_mdm = match value.get("PinMdmMinimumLength") {
        Some(Value::Array(items)) => items.iter().filter_map(number).collect(),
        Some(v) => number(v).into_iter().collect(),
        None => Vec::new(),
    };
    Ok(PolicyOutput {
        system_access: system_access(inf),
        secedit_exit: value.get("SeceditExit").and_then(Value::as_i64),
        users: accounts,
        pin_gpo: value.get("PinMinimumLength").and_then(number),
        pin_mdm,
        relax: value
            .get("RelaxMinimumPasswordLengthLimits")
            .and_then(number),
    })
}

/// The local rules from `[System Access]`; `Err` when secedit exported nothing.
pub fn local_rules(out: &PolicyOutput) -> Result<Rules, String> {
    if out.system_access.is_empty() {
        return Err(format!(
            "secedit exported no [System Access] section (exit {}): it needs elevation, run posture as Administrator",
            out.secedit_exit
                .map_or("unknown".to_owned(), |c| c.to_string())
        ));
    }
    let get = |key: &str| -> Result<i64, String> {
        let (_, v) = out
            .system_access
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .ok_or_else(|| format!("secedit's [System Access] has no {key}"))?;
        v.parse::<i64>()
            .map_err(|_| format!("secedit's [System Access] {key} = {v} is not a number"))
    };
    let src = |key: &str, v: i64| format!("secedit [System Access] {key} = {v}");
    let min_length = get("MinimumPasswordLength").map(|v| {
        let relaxed = out.relax == Some(1);
        if v > 14 && !relaxed {
            super::Known {
                value: 14,
                source: format!(
                    "{}, but above 14 takes effect only with RelaxMinimumPasswordLengthLimits = 1",
                    src("MinimumPasswordLength", v)
                ),
            }
        } else {
            super::Known {
                value: u32::try_from(v.max(0)).unwrap_or(u32::MAX),
                source: src("MinimumPasswordLength", v),
            }
        }
    });
    let empty_password = min_length.clone().map(|k| super::Known {
        value: k.value == 0,
        source: if k.value == 0 {
            "MinimumPasswordLength = 0: a local account may have an empty password".to_owned()
        } else {
            k.source
        },
    });
    let lockout = get("LockoutBadCount").map(|n| super::Known {
        value: if n > 0 {
            Lockout::After(u32::try_from(n).unwrap_or(u32::MAX))
        } else {
            Lockout::Never
        },
        source: src("LockoutBadCount", n),
    });
    let history = get("PasswordHistorySize").map(|n| super::Known {
        value: u32::try_from(n.max(0)).unwrap_or(u32::MAX),
        source: src("PasswordHistorySize", n),
    });
    let max_age_days = get("MaximumPasswordAge").map(|n| super::Known {
        // -1 (and 0) mean "never expires".
        value: u64::try_from(n).ok().filter(|d| *d > 0),
        source: src("MaximumPasswordAge", n),
    });
    let composition = get("PasswordComplexity").map(|n| super::Known {
        value: (n == 1).then(|| "three of four character classes (PasswordComplexity)".to_owned()),
        source: src("PasswordComplexity", n),
    });
    Ok(Rules {
        second_factor: None,
        min_length: Some(min_length),
        empty_password: Some(empty_password),
        lockout: Some(lockout),
        history: Some(history),
        max_age_days: Some(max_age_days),
        composition: Some(composition),
        pin_min_length: None,
        pins: Vec::new(),
    })
}

/// The Hello PIN's minimum length: group policy, else the smallest MDM value, else 6.
#[must_use]
pub fn pin_rules(out: &PolicyOutput) -> Rules {
    let setting = match (out.pin_gpo, out.pin_mdm.iter().min()) {
        (Some(g), _) => known(
            u32::try_from(g).unwrap_or(u32::MAX),
            "group policy PassportForWork\\PINComplexity MinimumPINLength",
        ),
        (None, Some(m)) => known(
            u32::try_from(*m).unwrap_or(u32::MAX),
            "MDM PassportForWork PINComplexity MinimumPINLength",
        ),
        (None, None) => known(
            6,
            "no PIN policy from group policy or MDM: Windows's default 6",
        ),
    };
    Rules {
        pin_min_length: Some(setting),
        ..Rules::default()
    }
}

pub(super) fn gather(host: &dyn Host) -> RulesFacts {
    let mut ev = Vec::new();
    let mut scopes = Vec::new();
    let spec = catalog::windows_password_policy();
    let out = match evidence::run_ok(host, &spec, &mut ev) {
        Ok(out) => match parse_policy_output(&out.stdout) {
            Ok(parsed) => parsed,
            Err(e) => {
                let why = format!("{}: {e}", evidence::command_name(&spec));
                ev.push(evidence::command(&spec, None, why.clone()));
                scopes.push(Scope {
                    kind: ScopeKind::Machine,
                    name: "local accounts".to_owned(),
                    state: ScopeState::Unknown(why),
                });
                return RulesFacts {
                    scopes,
                    evidence: ev,
                };
            }
        },
        Err(why) => {
            scopes.push(Scope {
                kind: ScopeKind::Machine,
                name: "local accounts".to_owned(),
                state: ScopeState::Unknown(why),
            });
            return RulesFacts {
                scopes,
                evidence: ev,
            };
        }
    };
    ev.push(evidence::command(
        &spec,
        Some("[System Access]"),
        if out.system_access.is_empty() {
            format!(
                "secedit exported nothing (exit {})",
                out.secedit_exit
                    .map_or("unknown".to_owned(), |c| c.to_string())
            )
        } else {
            out.system_access
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    ));
    ev.push(evidence::registry(
        r"HKLM\SYSTEM\CurrentControlSet\Control\SAM",
        "RelaxMinimumPasswordLengthLimits",
        out.relax.map_or("absent".to_owned(), |v| v.to_string()),
    ));
    ev.push(evidence::registry(
        r"HKLM\SOFTWARE\Policies\Microsoft\PassportForWork\PINComplexity",
        "MinimumPINLength",
        out.pin_gpo.map_or("absent".to_owned(), |v| v.to_string()),
    ));
    if !out.pin_mdm.is_empty() {
        ev.push(evidence::registry(
            r"HKLM\SOFTWARE\Microsoft\Policies\PassportForWork",
            "MinimumPINLength",
            out.pin_mdm
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    let origins = PolicyOrigins::new(host);
    scopes.push(Scope {
        kind: ScopeKind::Machine,
        name: "local accounts".to_owned(),
        state: match local_rules(&out) {
            Ok(mut rules) => {
                rules.pins = account_pins(&origins, &mut ev);
                ScopeState::Rules(Box::new(rules))
            }
            Err(why) => ScopeState::Unknown(why),
        },
    });
    let mut pin = pin_rules(&out);
    pin.pins = pin_pins(&out, &origins, &mut ev);
    scopes.push(Scope {
        kind: ScopeKind::Pin,
        name: "Windows Hello PIN".to_owned(),
        state: ScopeState::Rules(Box::new(pin)),
    });
    // Who governs each signed-in user.
    match catalog::windows_interactive_users(host, &mut ev) {
        Ok(users) => {
            for user in users {
                let sid = user.sid.as_str();
                let local = out.users.iter().find(|(_, s, _)| s == sid);
                let state = if sid.starts_with("S-1-12-1-") {
                    Some(ScopeState::Cloud(format!(
                        "{} is an Entra ID account ({sid}): its password rules are enforced by the cloud identity provider, not this PC",
                        user.name
                    )))
                } else {
                    match local.map(|(_, _, src)| src.as_str()) {
                        Some("MicrosoftAccount") => Some(ScopeState::Cloud(format!(
                            "{} signs in with a Microsoft account: its password rules are enforced by the cloud identity provider, not this PC",
                            user.name
                        ))),
                        Some("Local") => None,
                        Some(other) => Some(ScopeState::Unknown(format!(
                            "{} is a local account of source {other}, which posture does not know",
                            user.name
                        ))),
                        None => Some(ScopeState::Unknown(format!(
                            "{} is a domain account ({sid}): its policy is held on the domain controller (domain policy or a fine-grained policy), which this PC cannot read; the local values above are not its rules",
                            user.name
                        ))),
                    }
                };
                ev.push(evidence::about(
                    evidence::derived(
                        "accounts",
                        match &state {
                            None => format!("{}: a local account, governed by the local rules", user.name),
                            Some(ScopeState::Cloud(_)) => format!("{}: governed by a cloud identity provider", user.name),
                            Some(_) => format!("{}: not a local account", user.name),
                        },
                    ),
                    &user.name,
                ));
                if let Some(state) = state {
                    scopes.push(Scope {
                        kind: ScopeKind::Directory,
                        name: user.name.clone(),
                        state,
                    });
                }
            }
        }
        Err(why) => scopes.push(Scope {
            kind: ScopeKind::Directory,
            name: "signed-in users".to_owned(),
            state: ScopeState::Unknown(format!(
                "whether the signed-in users are local, domain or cloud accounts is unknown: {why}"
            )),
        }),
    }
    RulesFacts {
        scopes,
        evidence: ev,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_system_access_section_is_read() {
        let inf = "\u{feff}[Unicode]\r\nUnicode=yes\r\n[System Access]\r\nMinimumPasswordLength = 12\r\nPasswordComplexity = 1\r\n[Event Audit]\r\nAuditSystemEvents = 0\r\n";
        assert_eq!(
            system_access(inf),
            [
                ("MinimumPasswordLength".to_owned(), "12".to_owned()),
                ("PasswordComplexity".to_owned(), "1".to_owned())
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn the_parsers_never_panic(text in "\\PC{0,300}") {
            let _ = system_access(&text);
            let _ = parse_policy_output(&text);
            let _ = super::super::macos::parse_account_policies(&text);
        }
    }
}
