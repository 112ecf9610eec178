//! Ways into a Windows PC.
//!
//! - Automatic sign-in: `AutoAdminLogon` = 1 under Winlogon (with `DefaultUserName`). Each value
//!   is queried on its own: the key can hold `DefaultPassword` in clear text, which is never
//!   queried, so an auto-logon password stored as an LSA secret and one stored in the registry
//!   read the same.
//! - Guest: the local account with RID 501, whatever its name, enabled.
//! - Accounts without a password: an empty password cannot be seen without a sign-in attempt
//!   (which can lock accounts); an enabled account whose `PasswordRequired` is false
//!   (UF_PASSWD_NOTREQD) can have one, and fails. The built-in Guest (501), DefaultAccount (503)
//!   and WDAGUtilityAccount (504) always carry that flag and are left out.
//! - Remote Desktop: `fDenyTSConnections` under the Terminal Services policy key when set, else
//!   under `Control\Terminal Server` (0 = connections allowed); OpenSSH Server: the `sshd`
//!   service's start type.

use posture_host::Host;
use posture_host::powershell;
use posture_host::reg::RegValue;
use posture_schema::{Evidence, Setting};

use super::{AccessFacts, Door, DoorKind, DoorState, closed, open, unknown};
use crate::catalog::{self, access_keys, keys};
use crate::enforcement;
use crate::enforcement::windows::{MdmTrace, PolicyOrigins, policy_setting};
use crate::evidence;

/// One local account as the catalog's PowerShell prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalUser {
    pub name: String,
    pub rid: Option<u32>,
    pub enabled: bool,
    pub password_required: bool,
}

/// What the local-accounts script printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalAccounts {
    pub users: Vec<LocalUser>,
    /// The OpenSSH server's start type and state, `None` when it is not installed.
    pub sshd: Option<(String, String)>,
}

/// Parses the output of [`catalog::windows_local_accounts`].
pub(crate) fn parse_local_accounts(text: &str) -> Result<LocalAccounts, String> {
    let value = powershell::parse_value(text).map_err(|e| e.to_string())?;
    let users = match value.get("Users") {
        Some(serde_json::Value::Array(items)) => items.clone(),
        Some(serde_json::Value::Object(_)) => vec![value["Users"].clone()],
        _ => return Err("no Users list".to_owned()),
    };
    let mut out = Vec::new();
    for u in &users {
        let text = |k: &str| u.get(k).and_then(serde_json::Value::as_str);
        let flag = |k: &str| u.get(k).and_then(serde_json::Value::as_bool);
        let (Some(name), Some(sid), Some(enabled), Some(password_required)) = (
            text("Name"),
            text("Sid"),
            flag("Enabled"),
            flag("PasswordRequired"),
        ) else {
            return Err(format!("an account without Name, Sid, Enabled or PasswordRequired: {u}"));
        };
        out.push(LocalUser {
            name: name.to_owned(),
            rid: sid.rsplit('-').next().and_then(|r| r.parse().ok()),
            enabled,
            password_required,
        });
    }
    let sshd = match value.get("Sshd") {
        None | Some(serde_json::Value::Null) => None,
        Some(s) => {
            let field = |k: &str| s.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
            match (field("StartType"), field("Status")) {
                (Some(t), Some(st)) => Some((t, st)),
                _ => return Err(format!("Sshd without StartType or Status: {s}")),
            }
        }
    };
    Ok(LocalAccounts { users: out, sshd })
}

fn named<'a>(values: &'a [RegValue], name: &str) -> Option<&'a RegValue> {
    values.iter().find(|v| v.name.eq_ignore_ascii_case(name))
}

fn auto_logon(host: &dyn Host, ev: &mut Vec<Evidence>) -> DoorState {
    let flag = catalog::reg_values(
        host,
        &catalog::windows_reg_value(keys::WINLOGON, "AutoAdminLogon"),
        keys::WINLOGON,
        &["AutoAdminLogon"],
        ev,
        None,
    );
    let flag = match flag {
        Ok(v) => named(&v, "AutoAdminLogon").cloned(),
        Err(why) => return unknown(why),
    };
    match flag.as_ref().map(|v| v.data.trim()) {
        None | Some("0") => closed(format!(
            "AutoAdminLogon is {} under Winlogon",
            flag.as_ref().map_or("absent".to_owned(), RegValue::describe)
        )),
        Some("1") => {
            let user = catalog::reg_values(
                host,
                &catalog::windows_reg_value(keys::WINLOGON, "DefaultUserName"),
                keys::WINLOGON,
                &["DefaultUserName"],
                ev,
                None,
            )
            .ok()
            .and_then(|v| named(&v, "DefaultUserName").map(|v| v.data.trim().to_owned()))
            .filter(|u| !u.is_empty());
            open(format!(
                "AutoAdminLogon is 1 under Winlogon: Windows signs {} in at startup without a password",
                user.map_or("the default user".to_owned(), |u| format!("{u} (DefaultUserName)"))
            ))
        }
        Some(_) => unknown(format!(
            "AutoAdminLogon under Winlogon is {}, neither 0 nor 1",
            flag.as_ref().map_or(String::new(), RegValue::describe)
        )),
    }
}

/// Remote Desktop's state, and the setting that decides it: the Terminal Services policy value
/// (enforced; the Resultant Set of Policy tells a domain GPO from the local Group Policy or a
/// value written directly) or the administrator's own switch, which nothing pins.
fn remote_desktop(host: &dyn Host, ev: &mut Vec<Evidence>) -> (DoorState, Vec<Setting>) {
    let mut settings = Vec::new();
    let state = remote_desktop_state(host, ev, &mut settings);
    (state, settings)
}

fn remote_desktop_state(
    host: &dyn Host,
    ev: &mut Vec<Evidence>,
    settings: &mut Vec<Setting>,
) -> DoorState {
    let mut read = |key: &'static str| {
        catalog::reg_values(
            host,
            &catalog::windows_reg_value(key, "fDenyTSConnections"),
            key,
            &["fDenyTSConnections"],
            ev,
            None,
        )
        .map(|v| named(&v, "fDenyTSConnections").cloned())
    };
    let (value, source) = match read(access_keys::TERMINAL_SERVICES_POLICY) {
        Err(why) => return unknown(why),
        Ok(Some(v)) => (v, "group policy"),
        Ok(None) => match read(access_keys::TERMINAL_SERVER) {
            Err(why) => return unknown(why),
            Ok(Some(v)) => (v, "Terminal Server settings"),
            Ok(None) => {
                return unknown(
                    "fDenyTSConnections is set neither by policy nor under Terminal Server",
                );
            }
        },
    };
    settings.push(if source == "group policy" {
        let origin = PolicyOrigins::new(host).registry(
            access_keys::TERMINAL_SERVICES_POLICY,
            "fDenyTSConnections",
            ev,
        );
        policy_setting(
            "fDenyTSConnections",
            value.describe(),
            access_keys::TERMINAL_SERVICES_POLICY,
            "fDenyTSConnections",
            &origin,
            &MdmTrace::NotLooked,
        )
    } else {
        enforcement::user_set(
            "fDenyTSConnections",
            value.describe(),
            access_keys::TERMINAL_SERVER,
        )
    });
    match value.as_number() {
        Some(0) => open(format!(
            "fDenyTSConnections is 0 ({source}): Remote Desktop accepts connections"
        )),
        Some(1) => closed(format!(
            "fDenyTSConnections is 1 ({source}): Remote Desktop connections are denied"
        )),
        _ => unknown(format!(
            "fDenyTSConnections ({source}) is {}",
            value.describe()
        )),
    }
}

pub(crate) fn gather(host: &dyn Host) -> AccessFacts {
    let mut ev = Vec::new();
    let mut doors = Vec::new();
    doors.push(Door::new(
        DoorKind::AutoLogin,
        "automatic sign-in",
        auto_logon(host, &mut ev),
    ));
    let spec = catalog::windows_local_accounts();
    let accounts = evidence::run_ok(host, &spec, &mut ev).and_then(|out| {
        parse_local_accounts(&out.stdout)
            .map_err(|_| evidence::unrecognised(&spec, &out.stdout, &mut ev, None))
    });
    match &accounts {
        Err(why) => {
            doors.push(Door::new(DoorKind::Guest, "Guest account", unknown(why.clone())));
            doors.push(Door::new(DoorKind::EmptyPassword, "local accounts", unknown(why.clone())));
        }
        Ok(accounts) => {
            for u in &accounts.users {
                ev.push(evidence::about(
                    evidence::command(
                        &spec,
                        Some(&u.name),
                        format!(
                            "RID {}, {}, password {}",
                            u.rid.map_or("?".to_owned(), |r| r.to_string()),
                            if u.enabled { "enabled" } else { "disabled" },
                            if u.password_required { "required" } else { "not required" }
                        ),
                    ),
                    &u.name,
                ));
            }
            let guest = match accounts.users.iter().find(|u| u.rid == Some(501)) {
                None => closed("there is no account with RID 501"),
                Some(g) if g.enabled => open(format!(
                    "the Guest account ({}, RID 501) is enabled: anyone can sign in without a password",
                    g.name
                )),
                Some(g) => closed(format!("the Guest account ({}, RID 501) is disabled", g.name)),
            };
            doors.push(Door::new(DoorKind::Guest, "Guest account", guest));
            let without: Vec<&LocalUser> = accounts
                .users
                .iter()
                .filter(|u| u.enabled && !u.password_required)
                .filter(|u| !matches!(u.rid, Some(501 | 503 | 504)))
                .collect();
            if without.is_empty() {
                doors.push(Door::new(
                    DoorKind::EmptyPassword,
                    "local accounts",
                    closed("every enabled local account requires a password (PasswordRequired)"),
                ));
            }
            for u in without {
                doors.push(Door::new(
                    DoorKind::EmptyPassword,
                    u.name.clone(),
                    open(format!(
                        "{} is enabled and does not require a password (PasswordRequired False): it can have an empty one",
                        u.name
                    )),
                ));
            }
        }
    }
    let (state, settings) = remote_desktop(host, &mut ev);
    doors.push(
        Door::new(DoorKind::RemoteService, "Remote Desktop", state).with_settings(settings),
    );
    let ssh = match &accounts {
        Err(why) => unknown(why.clone()),
        Ok(a) => match &a.sshd {
            None => closed("the OpenSSH Server service (sshd) is not installed"),
            Some((start, status)) if start == "Disabled" || (start == "Manual" && status != "Running") => {
                closed(format!("sshd start type {start}, {status}"))
            }
            Some((start, status)) => open(format!("sshd start type {start}, {status}")),
        },
    };
    doors.push(Door::new(DoorKind::RemoteService, "OpenSSH Server", ssh));
    AccessFacts {
        doors,
        evidence: ev,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_accounts_and_the_ssh_service_are_read() {
        let text = r#"{"Users":[{"Name":"Administrator","Sid":"S-1-5-21-1-2-3-500","Enabled":false,"PasswordRequired":true},{"Name":"Visitor","Sid":"S-1-5-21-1-2-3-501","Enabled":true,"PasswordRequired":false}],"Sshd":{"StartType":"Automatic","Status":"Running"}}"#;
        let a = parse_local_accounts(text).unwrap();
        assert_eq!(a.users[1].rid, Some(501));
        assert!(a.users[1].enabled);
        assert_eq!(a.sshd, Some(("Automatic".into(), "Running".into())));
        let none = parse_local_accounts(r#"{"Users":[],"Sshd":null}"#).unwrap();
        assert!(none.users.is_empty() && none.sshd.is_none());
        assert!(parse_local_accounts("[]").is_err());
        assert!(parse_local_accounts(r#"{"Users":[{"Name":"x"}]}"#).is_err());
    }
}
