//! Windows: who wrote a policy value, Group Policy or local policy.
//!
//! A value under `HKLM\SOFTWARE\Policies\...` (or `...\CurrentVersion\Policies\...`) looks the
//! same whoever wrote it: a domain GPO, the local Group Policy (gpedit), an MDM's ADMX-backed
//! policy, or an administrator or script writing the registry by hand. Account policies
//! (`secedit`'s `[System Access]`) look the same whether a domain GPO or the local security policy
//! set them. Two traces tell them apart:
//!
//! - the Resultant Set of Policy the last Group Policy refresh logged (`root\rsop\computer`,
//!   [`catalog::windows_policy_origins`]): the GPO that won each registry value and each account
//!   policy, `LocalGPO` for the local Group Policy. A domain GPO is re-applied at every refresh
//!   and only its administrators remove it; the local Group Policy is re-applied too, but any
//!   local administrator can change it;
//! - the MDM's `PolicyManager`, which the caller reads for the policy's CSP area.
//!
//! A policy value in neither was written directly: any local administrator can remove it and
//! nothing re-applies it ("local policy"). When the RSoP could not be read (posture not elevated,
//! RSoP logging off), or the MDM trace was not read, the origin is said to be unknown, never
//! guessed. Per-user policy (`HKU\<SID>\...`) is logged in the user's own RSoP namespace, which
//! is not read: its origin stays unknown.

use std::cell::OnceCell;

use posture_host::Host;
use posture_host::powershell;
use posture_schema::{Enforcer, Evidence, Setting};
use serde_json::Value;

use crate::catalog;
use crate::enforcement;
use crate::evidence;

/// The RSoP `GPOID` of the local Group Policy.
pub const LOCAL_GPO: &str = "LocalGPO";

/// What the computer's RSoP logged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rsop {
    /// GPOs: `(id, name)`.
    pub gpos: Vec<(String, String)>,
    /// Winning registry policy values: `(key without hive, value name, GPO id)`.
    pub registry: Vec<(String, String, String)>,
    /// Winning account policies: `(secedit key name, GPO id)`.
    pub security: Vec<(String, String)>,
}

/// Where a policy came from, as the RSoP tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A GPO other than the local one: its id and name.
    Gpo {
        /// `RSOP_GPO.id`.
        id: String,
        /// Its display name, when the RSoP lists the GPO.
        name: Option<String>,
    },
    /// The local Group Policy (gpedit, `Registry.pol` under `System32\GroupPolicy`).
    LocalGpo,
    /// The RSoP was read and no GPO sets it.
    NoGpo,
    /// The RSoP was not read: why.
    Unknown(String),
}

/// Whether the MDM's `PolicyManager` carries the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MdmTrace {
    /// It does, at this path.
    Found(String),
    /// It was read and does not.
    Absent,
    /// It could not be read: why.
    Unreadable(String),
    /// The caller does not know where the MDM would put it.
    NotLooked,
}

fn list(value: Option<&Value>, what: &str) -> Result<Vec<Value>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(o @ Value::Object(_)) => Ok(vec![o.clone()]),
        Some(other) => Err(format!("{what} is not a list: {other}")),
    }
}

fn field(item: &Value, name: &str, what: &str) -> Result<String, String> {
    item.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("an entry of {what} without {name}: {item}"))
}

/// Parses the output of [`catalog::windows_policy_origins`]. Values a GPO deletes
/// (`Deleted`, the `**del.` entries) are left out: they are not what sets a value.
pub fn parse_rsop(text: &str) -> Result<Rsop, String> {
    let value = powershell::parse_value(text).map_err(|e| e.to_string())?;
    if !value.is_object() {
        return Err("not an object".to_owned());
    }
    let mut rsop = Rsop::default();
    for g in list(value.get("Gpos"), "Gpos")? {
        rsop.gpos
            .push((field(&g, "Id", "Gpos")?, field(&g, "Name", "Gpos")?));
    }
    for r in list(value.get("Registry"), "Registry")? {
        if r.get("Deleted").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        rsop.registry.push((
            field(&r, "Key", "Registry")?,
            field(&r, "Value", "Registry")?,
            field(&r, "Gpo", "Registry")?,
        ));
    }
    for s in list(value.get("Security"), "Security")? {
        rsop.security
            .push((field(&s, "Key", "Security")?, field(&s, "Gpo", "Security")?));
    }
    Ok(rsop)
}

impl Rsop {
    fn origin_of(&self, gpo: &str) -> Origin {
        if gpo.eq_ignore_ascii_case(LOCAL_GPO) {
            return Origin::LocalGpo;
        }
        Origin::Gpo {
            id: gpo.to_owned(),
            name: self
                .gpos
                .iter()
                .find(|(id, _)| id.eq_ignore_ascii_case(gpo))
                .map(|(_, n)| n.clone())
                .filter(|n| !n.is_empty()),
        }
    }

    /// Who sets `value` of `key` (`HKLM\...` or without hive).
    #[must_use]
    pub fn registry_origin(&self, key: &str, value: &str) -> Origin {
        let bare = key
            .strip_prefix(r"HKLM\")
            .or_else(|| key.strip_prefix(r"HKEY_LOCAL_MACHINE\"))
            .unwrap_or(key);
        self.registry
            .iter()
            .find(|(k, v, _)| {
                k.trim_matches('\\').eq_ignore_ascii_case(bare) && v.eq_ignore_ascii_case(value)
            })
            .map_or(Origin::NoGpo, |(_, _, g)| self.origin_of(g))
    }

    /// Who sets the account policy `key` (`MinimumPasswordLength`, ...).
    #[must_use]
    pub fn security_origin(&self, key: &str) -> Origin {
        self.security
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map_or(Origin::NoGpo, |(_, g)| self.origin_of(g))
    }
}

/// The computer's RSoP, read at most once per check, and only when a policy value needs its
/// origin.
pub struct PolicyOrigins<'h> {
    host: &'h dyn Host,
    read: OnceCell<Result<Rsop, String>>,
}

impl<'h> PolicyOrigins<'h> {
    /// Nothing is run until an origin is asked for.
    #[must_use]
    pub fn new(host: &'h dyn Host) -> Self {
        Self {
            host,
            read: OnceCell::new(),
        }
    }

    fn rsop(&self, ev: &mut Vec<Evidence>) -> &Result<Rsop, String> {
        if self.read.get().is_none() {
            let spec = catalog::windows_policy_origins();
            let got = match evidence::run_ok(self.host, &spec, ev) {
                Ok(out) => match parse_rsop(&out.stdout) {
                    Ok(rsop) => {
                        let names: Vec<&str> = rsop.gpos.iter().map(|(_, n)| n.as_str()).collect();
                        ev.push(evidence::command(
                            &spec,
                            None,
                            format!(
                                "GPOs applied: {}; {} registry policy value(s), {} account policy setting(s) from Group Policy",
                                if names.is_empty() {
                                    "none".to_owned()
                                } else {
                                    names.join(", ")
                                },
                                rsop.registry.len(),
                                rsop.security.len()
                            ),
                        ));
                        Ok(rsop)
                    }
                    Err(e) => {
                        let why = format!(
                            "{} printed something unrecognised: {e}",
                            evidence::command_name(&spec)
                        );
                        ev.push(evidence::command(&spec, None, why.clone()));
                        Err(why)
                    }
                },
                Err(why) => Err(why),
            };
            let _ = self.read.set(got);
        }
        self.read
            .get()
            .expect("the RSoP was read just above when it was unread")
    }

    /// Who sets a registry policy value.
    pub fn registry(&self, key: &str, value: &str, ev: &mut Vec<Evidence>) -> Origin {
        if !key.starts_with(r"HKLM\") {
            return Origin::Unknown(
                "a per-user policy: the user's own Resultant Set of Policy is not read".to_owned(),
            );
        }
        match self.rsop(ev) {
            Ok(rsop) => rsop.registry_origin(key, value),
            Err(why) => Origin::Unknown(why.clone()),
        }
    }

    /// Who sets an account policy (`[System Access]` key).
    pub fn security(&self, key: &str, ev: &mut Vec<Evidence>) -> Origin {
        match self.rsop(ev) {
            Ok(rsop) => rsop.security_origin(key),
            Err(why) => Origin::Unknown(why.clone()),
        }
    }
}

/// The GPO (domain or local) an origin names; `None` for no GPO or an unknown origin.
#[must_use]
pub fn gpo_enforcer(origin: &Origin) -> Option<Enforcer> {
    match origin {
        Origin::Gpo { id, name } => Some(enforcement::by(
            Enforcer::GPO,
            id.clone(),
            name.clone(),
            Enforcer::BY_MANAGEMENT,
        )),
        Origin::LocalGpo => Some(enforcement::by(
            Enforcer::LOCAL_POLICY,
            LOCAL_GPO,
            Some("Local Group Policy".to_owned()),
            Enforcer::BY_LOCAL_ADMIN,
        )),
        Origin::NoGpo | Origin::Unknown(_) => None,
    }
}

/// A value read under a `\Policies\` key (`key`, value name `value_name`), effective value
/// `value`, as a setting with what enforces it: the MDM policy and the GPO that set it, or,
/// with neither, a value written directly (`local_policy`), or an origin not traced
/// (`policy_key`) with the reason. Users cannot change any of them.
#[must_use]
pub fn policy_setting(
    name: &str,
    value: impl Into<String>,
    key: &str,
    value_name: &str,
    origin: &Origin,
    mdm: &MdmTrace,
) -> Setting {
    let mut by = Vec::new();
    if let MdmTrace::Found(csp) = mdm {
        by.push(enforcement::by(
            Enforcer::MDM_CSP,
            csp.clone(),
            Some("MDM policy (PolicyManager)".to_owned()),
            Enforcer::BY_MANAGEMENT,
        ));
    }
    by.extend(gpo_enforcer(origin));
    let id = format!(r"{key}\{value_name}");
    if !by.is_empty() {
        let mut setting = enforcement::enforced(name, value, key, by);
        if *origin == Origin::LocalGpo && !matches!(mdm, MdmTrace::Found(_)) {
            setting.notes.push(
                "the local Group Policy re-applies it at every refresh, but any local administrator can change it there".to_owned(),
            );
        }
        return setting;
    }
    match (origin, mdm) {
        (Origin::NoGpo, MdmTrace::Absent) => enforcement::noted(
            enforcement::enforced(
                name,
                value,
                key,
                vec![enforcement::by(
                    Enforcer::LOCAL_POLICY,
                    id,
                    Some("written directly (no Group Policy, no MDM policy)".to_owned()),
                    Enforcer::BY_LOCAL_ADMIN,
                )],
            ),
            "no Group Policy (RSoP) and no MDM policy (PolicyManager) carries it: an administrator or a script wrote it, any local administrator can remove it, and nothing re-applies it",
        ),
        (Origin::NoGpo, trace) => enforcement::noted(
            untraced(name, value, key, id),
            match trace {
                MdmTrace::Unreadable(why) => format!(
                    "no Group Policy sets it (RSoP); whether an MDM policy does is unknown: {why}"
                ),
                _ => "no Group Policy sets it (RSoP); whether an MDM's ADMX-backed policy or an administrator wrote it is not traced".to_owned(),
            },
        ),
        (Origin::Unknown(why), _) => enforcement::noted(
            untraced(name, value, key, id),
            format!(
                "a policy value: users cannot change it, but whether Group Policy, an MDM's ADMX policy or an administrator wrote it is not known ({why}), and nothing may re-apply it once removed"
            ),
        ),
        (Origin::Gpo { .. } | Origin::LocalGpo, _) => {
            unreachable!("a GPO origin always yields an enforcer above")
        }
    }
}

fn untraced(name: &str, value: impl Into<String>, key: &str, id: String) -> Setting {
    enforcement::enforced(
        name,
        value,
        key,
        vec![enforcement::by(
            Enforcer::POLICY_KEY,
            id,
            Some("origin not traced".to_owned()),
            Enforcer::BY_UNKNOWN,
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use posture_schema::Enforced;

    /// RSoP as [`catalog::windows_policy_origins`] prints it on a domain-joined PC: a domain GPO
    /// (`RSOP_GPO.id` is the GPO's directory path) and the local Group Policy, with a registry
    /// value and an account policy from each. Class and property names from Microsoft's RSoP
    /// WMI reference (RSOP_GPO, RSOP_RegistryPolicySetting, RSOP_SecuritySettingNumeric).
    const DOMAIN: &str = r#"{"Gpos":[{"Id":"cn={31B2F340-016D-11D2-945F-00C04FB984F9},cn=policies,cn=system,DC=corp,DC=example","Name":"Default Domain Policy"},{"Id":"LocalGPO","Name":"Local Group Policy"}],"Registry":[{"Key":"Software\\Policies\\Microsoft\\FVE","Value":"OSRecovery","Gpo":"cn={31B2F340-016D-11D2-945F-00C04FB984F9},cn=policies,cn=system,DC=corp,DC=example","Deleted":false},{"Key":"Software\\Microsoft\\Windows\\CurrentVersion\\Policies\\System","Value":"InactivityTimeoutSecs","Gpo":"LocalGPO","Deleted":false},{"Key":"Software\\Policies\\Microsoft\\FVE","Value":"RDVDenyWriteAccess","Gpo":"LocalGPO","Deleted":true}],"Security":[{"Key":"MinimumPasswordLength","Gpo":"cn={31B2F340-016D-11D2-945F-00C04FB984F9},cn=policies,cn=system,DC=corp,DC=example"}]}"#;

    #[test]
    fn a_domain_gpo_and_the_local_group_policy_are_told_apart() {
        let rsop = parse_rsop(DOMAIN).unwrap();
        assert_eq!(
            rsop.registry_origin(r"HKLM\SOFTWARE\Policies\Microsoft\FVE", "osrecovery"),
            Origin::Gpo {
                id: "cn={31B2F340-016D-11D2-945F-00C04FB984F9},cn=policies,cn=system,DC=corp,DC=example".into(),
                name: Some("Default Domain Policy".into())
            }
        );
        assert_eq!(
            rsop.registry_origin(
                r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System",
                "InactivityTimeoutSecs"
            ),
            Origin::LocalGpo
        );
        // A GPO that deletes a value is not what sets it.
        assert_eq!(
            rsop.registry_origin(
                r"HKLM\SOFTWARE\Policies\Microsoft\FVE",
                "RDVDenyWriteAccess"
            ),
            Origin::NoGpo
        );
        assert!(matches!(
            rsop.security_origin("minimumpasswordlength"),
            Origin::Gpo { .. }
        ));
        assert_eq!(rsop.security_origin("PasswordHistorySize"), Origin::NoGpo);
    }

    #[test]
    fn a_standalone_pc_prints_empty_lists_or_single_objects() {
        let empty = parse_rsop(r#"{"Gpos":[],"Registry":[],"Security":[]}"#).unwrap();
        assert_eq!(empty, Rsop::default());
        let single = parse_rsop(
            r#"{"Gpos":{"Id":"LocalGPO","Name":"Local Group Policy"},"Registry":null,"Security":null}"#,
        )
        .unwrap();
        assert_eq!(single.gpos.len(), 1);
        assert!(parse_rsop("[]").is_err());
        assert!(parse_rsop(r#"{"Registry":[{"Key":"x"}]}"#).is_err());
    }

    #[test]
    fn each_origin_names_its_enforcer_and_an_untraced_one_says_so() {
        let key = r"HKLM\SOFTWARE\Policies\Microsoft\FVE";
        let gpo = Origin::Gpo {
            id: "cn={1}".into(),
            name: Some("BitLocker".into()),
        };
        let s = policy_setting("x", "1", key, "X", &gpo, &MdmTrace::Absent);
        assert_eq!(s.enforced, Enforced::Yes);
        assert_eq!(s.enforced_by[0].kind, Enforcer::GPO);
        assert_eq!(s.enforced_by[0].removable_by, Enforcer::BY_MANAGEMENT);

        let s = policy_setting("x", "1", key, "X", &Origin::LocalGpo, &MdmTrace::Absent);
        assert_eq!(s.enforced_by[0].kind, Enforcer::LOCAL_POLICY);
        assert_eq!(s.enforced_by[0].removable_by, Enforcer::BY_LOCAL_ADMIN);

        let s = policy_setting("x", "1", key, "X", &Origin::NoGpo, &MdmTrace::Absent);
        assert_eq!(s.enforced_by[0].kind, Enforcer::LOCAL_POLICY);
        assert!(
            s.notes[0].contains("nothing re-applies it"),
            "{:?}",
            s.notes
        );

        let s = policy_setting("x", "1", key, "X", &Origin::NoGpo, &MdmTrace::NotLooked);
        assert_eq!(s.enforced_by[0].kind, Enforcer::POLICY_KEY);
        assert_eq!(s.enforced_by[0].removable_by, Enforcer::BY_UNKNOWN);

        let s = policy_setting(
            "x",
            "1",
            key,
            "X",
            &Origin::Unknown("access denied".into()),
            &MdmTrace::Absent,
        );
        assert_eq!(s.enforced_by[0].kind, Enforcer::POLICY_KEY);
        assert!(s.notes[0].contains("access denied"));

        let s = policy_setting(
            "x",
            "1",
            key,
            "X",
            &Origin::NoGpo,
            &MdmTrace::Found(r"PolicyManager\current\device\BitLocker\X".into()),
        );
        assert_eq!(s.enforced_by[0].kind, Enforcer::MDM_CSP);
    }
}
