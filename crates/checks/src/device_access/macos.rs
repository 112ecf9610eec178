//! Ways into a Mac.
//!
//! - Automatic login: `autoLoginUser` in `/Library/Preferences/com.apple.loginwindow.plist` *and*
//!   `/etc/kcpassword` (without the password file a user with a password gets the login window).
//!   The password file is never read: only whether `/etc` lists it.
//! - Guest: `GuestEnabled` in the same file; a configuration profile's `DisableGuestAccount` or
//!   `EnableGuestAccount` (`com.apple.MCX` under Managed Preferences) wins over it.
//! - Remote Login and Screen Sharing: `launchctl print-disabled system`, whose overrides read
//!   `=> disabled|enabled` (macOS 13 and later) or `=> true|false` (12: true means disabled). A
//!   service never toggled is not listed; both ship disabled, so absent means off.
//! - Accounts without a password: each account record in `/var/db/dslocal/nodes/Default/users`
//!   (root only) other than the system's, through [`macos_password::extract`], which keeps the
//!   uid and whether PBKDF2 of the empty password matches the stored hash, never the hash.

use posture_host::plist::{self, PlistValue};
use posture_host::{Host, ReadError};
use posture_schema::{Evidence, Setting};

use super::macos_password::{self, Password, USERS_DIR};
use super::{AccessFacts, Door, DoorKind, DoorState, closed, open, unknown};
use crate::catalog::{self, MACOS_KCPASSWORD_DIR, MACOS_LOGINWINDOW_PLIST};
use crate::enforcement::{self, macos::Profiles};
use crate::evidence;

/// Launchd labels of the remote-access services.
const REMOTE_SERVICES: [(&str, &str); 2] = [
    ("com.openssh.sshd", "Remote Login (SSH)"),
    ("com.apple.screensharing", "Screen Sharing (VNC)"),
];

/// Whether a launchd override disables the service: `Some(true)` disabled, `Some(false)` enabled,
/// `None` when the label is not listed (the service's own default applies). `Err` for output
/// that is not the expected shape.
pub(crate) fn parse_disabled(text: &str, label: &str) -> Result<Option<bool>, String> {
    if !text.contains("disabled services = {") {
        return Err("no `disabled services = {` block".to_owned());
    }
    let quoted = format!("\"{label}\"");
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix(&quoted) else {
            continue;
        };
        let Some(value) = rest.trim().strip_prefix("=>") else {
            return Err(format!("unexpected line: {line}"));
        };
        return match value.trim() {
            "disabled" | "true" => Ok(Some(true)),
            "enabled" | "false" => Ok(Some(false)),
            other => Err(format!("unexpected value for {label}: {other}")),
        };
    }
    Ok(None)
}

fn loginwindow(host: &dyn Host, ev: &mut Vec<Evidence>) -> Result<Option<PlistValue>, String> {
    match host.read(MACOS_LOGINWINDOW_PLIST) {
        Ok(bytes) => plist::parse(&bytes).map(Some).map_err(|e| {
            let why = format!("{MACOS_LOGINWINDOW_PLIST} is not a property list: {e}");
            ev.push(evidence::file(MACOS_LOGINWINDOW_PLIST, None, why.clone()));
            why
        }),
        Err(ReadError::NotFound) => {
            ev.push(evidence::file(MACOS_LOGINWINDOW_PLIST, None, "absent"));
            Ok(None)
        }
        Err(e) => {
            let why = evidence::read_failure(MACOS_LOGINWINDOW_PLIST, &e);
            ev.push(evidence::file(MACOS_LOGINWINDOW_PLIST, None, why.clone()));
            Err(why)
        }
    }
}

fn auto_login(
    host: &dyn Host,
    prefs: &Result<Option<PlistValue>, String>,
    ev: &mut Vec<Evidence>,
) -> DoorState {
    let user = match prefs {
        Err(why) => return unknown(why.clone()),
        Ok(None) => None,
        Ok(Some(p)) => match p.get("autoLoginUser") {
            None => None,
            Some(v) => match v.as_str() {
                Some(u) => Some(u.to_owned()),
                None => {
                    return unknown(format!(
                        "autoLoginUser in {MACOS_LOGINWINDOW_PLIST} is not a string: {}",
                        v.describe()
                    ));
                }
            },
        },
    };
    ev.push(evidence::file(
        MACOS_LOGINWINDOW_PLIST,
        Some("autoLoginUser"),
        user.clone().unwrap_or_else(|| "absent".to_owned()),
    ));
    let kcpassword = match host.list_dir(MACOS_KCPASSWORD_DIR) {
        Ok(names) => names.iter().any(|n| n == "kcpassword"),
        Err(e) => {
            let why = evidence::read_failure(MACOS_KCPASSWORD_DIR, &e);
            ev.push(evidence::directory(MACOS_KCPASSWORD_DIR, why.clone()));
            return match user {
                Some(u) => unknown(format!(
                    "autoLoginUser is {u}, and whether /etc/kcpassword exists is unknown: {why}"
                )),
                None => closed(format!("no autoLoginUser in {MACOS_LOGINWINDOW_PLIST}")),
            };
        }
    };
    ev.push(evidence::directory(
        MACOS_KCPASSWORD_DIR,
        if kcpassword {
            "kcpassword present (not read)"
        } else {
            "no kcpassword"
        },
    ));
    match (user, kcpassword) {
        (Some(u), true) => open(format!(
            "autoLoginUser is {u} in {MACOS_LOGINWINDOW_PLIST} and /etc/kcpassword holds the password: the Mac signs {u} in at startup"
        )),
        (Some(u), false) => closed(format!(
            "autoLoginUser is {u} but /etc/kcpassword is absent: the login window asks for the password"
        )),
        (None, _) => closed(format!("no autoLoginUser in {MACOS_LOGINWINDOW_PLIST}")),
    }
}

/// The guest user's state, and the setting that decides it: a profile's key (classified like
/// every managed preference) or the administrator's own `GuestEnabled`, which nothing pins.
fn guest(
    host: &dyn Host,
    prefs: &Result<Option<PlistValue>, String>,
    ev: &mut Vec<Evidence>,
) -> (DoorState, Vec<Setting>) {
    let mut settings = Vec::new();
    let state = guest_state(host, prefs, ev, &mut settings);
    (state, settings)
}

fn guest_state(
    host: &dyn Host,
    prefs: &Result<Option<PlistValue>, String>,
    ev: &mut Vec<Evidence>,
    settings: &mut Vec<Setting>,
) -> DoorState {
    let managed_path = catalog::macos_managed_preferences("com.apple.MCX", None);
    let managed = match host.read(&managed_path) {
        Ok(bytes) => match plist::parse(&bytes) {
            Ok(p) => Some(p),
            Err(e) => {
                let why = format!("{managed_path} is not a property list: {e}");
                ev.push(evidence::file(&managed_path, None, why.clone()));
                return unknown(why);
            }
        },
        Err(ReadError::NotFound) => None,
        Err(e) => {
            let why = evidence::read_failure(&managed_path, &e);
            ev.push(evidence::file(&managed_path, None, why.clone()));
            return unknown(why);
        }
    };
    if let Some(m) = &managed {
        for (key, disables) in [("DisableGuestAccount", true), ("EnableGuestAccount", false)] {
            if let Some(v) = m.get(key) {
                ev.push(evidence::file(&managed_path, Some(key), v.describe()));
                let (by, note) =
                    Profiles::new(host).enforcer(&managed_path, m, "com.apple.MCX", key, ev);
                let mut s = enforcement::enforced(key, v.describe(), managed_path.clone(), vec![by]);
                s.notes.extend(note);
                settings.push(s);
                return match v.as_bool() {
                    Some(b) if b == disables => {
                        closed(format!("{key} is {b} in a configuration profile"))
                    }
                    Some(b) => open(format!(
                        "{key} is {b} in a configuration profile: the guest user can sign in without a password (enforced by MDM)"
                    )),
                    None => unknown(format!("{key} in {managed_path} is not a boolean")),
                };
            }
        }
    }
    match prefs {
        Err(why) => unknown(why.clone()),
        Ok(None) => closed(format!(
            "{MACOS_LOGINWINDOW_PLIST} is absent: the guest user is off (macOS's default)"
        )),
        Ok(Some(p)) => match p.get("GuestEnabled") {
            None => {
                ev.push(evidence::file(MACOS_LOGINWINDOW_PLIST, Some("GuestEnabled"), "absent"));
                settings.push(enforcement::user_set(
                    "GuestEnabled",
                    "not set",
                    MACOS_LOGINWINDOW_PLIST,
                ));
                closed("GuestEnabled is not set (macOS's default: off)")
            }
            Some(v) => {
                ev.push(evidence::file(
                    MACOS_LOGINWINDOW_PLIST,
                    Some("GuestEnabled"),
                    v.describe(),
                ));
                settings.push(enforcement::user_set(
                    "GuestEnabled",
                    v.describe(),
                    MACOS_LOGINWINDOW_PLIST,
                ));
                match v.as_bool() {
                    Some(true) => open(format!(
                        "GuestEnabled is true in {MACOS_LOGINWINDOW_PLIST}: anyone can sign in as the guest user"
                    )),
                    Some(false) => closed(format!("GuestEnabled is false in {MACOS_LOGINWINDOW_PLIST}")),
                    None => unknown(format!("GuestEnabled in {MACOS_LOGINWINDOW_PLIST} is not a boolean")),
                }
            }
        },
    }
}

fn remote(host: &dyn Host, doors: &mut Vec<Door>, ev: &mut Vec<Evidence>) {
    let spec = catalog::macos_launchd_disabled();
    let out = evidence::run_ok(host, &spec, ev);
    for (label, name) in REMOTE_SERVICES {
        let state = match &out {
            Err(why) => unknown(why.clone()),
            Ok(out) => match parse_disabled(&out.stdout, label) {
                Ok(Some(true)) => {
                    ev.push(evidence::command(&spec, Some(label), "disabled"));
                    closed(format!("launchd lists {label} as disabled"))
                }
                Ok(Some(false)) => {
                    ev.push(evidence::command(&spec, Some(label), "enabled"));
                    open(format!("launchd lists {label} as enabled"))
                }
                Ok(None) => {
                    ev.push(evidence::command(&spec, Some(label), "not listed"));
                    closed(format!(
                        "{label} has no launchd override: it stays disabled, as macOS ships it"
                    ))
                }
                Err(_) => unknown(evidence::unrecognised(&spec, &out.stdout, ev, None)),
            },
        };
        doors.push(Door::new(DoorKind::RemoteService, name, state));
    }
}

/// Why a read of the root-only account records failed, with the fix when it is permissions.
fn records_failure(path: &str, e: &ReadError) -> String {
    let why = evidence::read_failure(path, e);
    match e {
        ReadError::PermissionDenied => format!(
            "{why}: the account records are readable by root only; run posture as root (`sudo posture`) or as the daemon"
        ),
        _ => why,
    }
}

/// Human accounts with an empty password: one door per account that has one or could not be
/// judged, else one closed door.
fn empty_passwords(host: &dyn Host, doors: &mut Vec<Door>, ev: &mut Vec<Evidence>) {
    const NAME: &str = "accounts";
    let names = match host.list_dir(USERS_DIR) {
        Ok(entries) => macos_password::candidates(&entries),
        Err(e) => {
            let why = records_failure(USERS_DIR, &e);
            ev.push(evidence::directory(USERS_DIR, why.clone()));
            doors.push(Door::new(DoorKind::EmptyPassword, NAME, unknown(why)));
            return;
        }
    };
    ev.push(evidence::directory(
        USERS_DIR,
        format!(
            "accounts other than the system's (_name, daemon, nobody, root): {}",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        ),
    ));
    let mut humans = Vec::new();
    let mut open_or_unknown = Vec::new();
    for name in names {
        let path = format!("{USERS_DIR}/{name}.plist");
        let record = match host.read_extracted(&path, &macos_password::extract) {
            Ok(text) => macos_password::parse_extracted(&text)
                .ok_or_else(|| format!("{path}: unrecognised extraction")),
            Err(e) => Err(records_failure(&path, &e)),
        };
        let (value, state) = match record {
            Err(why) => (why.clone(), Some(unknown(why))),
            Ok(r) => match r.password {
                Password::NotRead => {
                    let uid = r.uid.map_or_else(|| "?".to_owned(), |u| u.to_string());
                    ev.push(evidence::file(
                        &path,
                        Some("uid"),
                        format!(
                            "{uid}: a system account (people's accounts start at {})",
                            macos_password::FIRST_HUMAN_UID
                        ),
                    ));
                    continue;
                }
                Password::Set => (
                    "PBKDF2 of the empty password does not give the SALTED-SHA512-PBKDF2 hash: a password is set"
                        .to_owned(),
                    None,
                ),
                Password::Empty => (
                    "PBKDF2 of the empty password gives the SALTED-SHA512-PBKDF2 hash: the password is empty"
                        .to_owned(),
                    Some(open(format!(
                        "{name} has an empty password ({path}, ShadowHashData): anyone can sign in as {name}"
                    ))),
                ),
                Password::Unknown { reason } => {
                    let why = format!("{path}: {reason}");
                    (reason, Some(unknown(why)))
                }
            },
        };
        ev.push(evidence::about(
            evidence::file(&path, Some("ShadowHashData"), value),
            &name,
        ));
        humans.push(name.clone());
        if let Some(state) = state {
            open_or_unknown.push(Door::new(DoorKind::EmptyPassword, name, state));
        }
    }
    if open_or_unknown.is_empty() {
        let what = if humans.is_empty() {
            format!("{USERS_DIR} holds no account of a person")
        } else {
            format!(
                "every account of a person has a password ({}; ShadowHashData in {USERS_DIR})",
                humans.join(", ")
            )
        };
        doors.push(Door::new(DoorKind::EmptyPassword, NAME, closed(what)));
    } else {
        doors.extend(open_or_unknown);
    }
}

pub(crate) fn gather(host: &dyn Host) -> AccessFacts {
    let mut ev = Vec::new();
    let mut doors = Vec::new();
    let prefs = loginwindow(host, &mut ev);
    doors.push(Door::new(
        DoorKind::AutoLogin,
        "automatic login",
        auto_login(host, &prefs, &mut ev),
    ));
    let (state, settings) = guest(host, &prefs, &mut ev);
    doors.push(Door::new(DoorKind::Guest, "guest user", state).with_settings(settings));
    empty_passwords(host, &mut doors, &mut ev);
    remote(host, &mut doors, &mut ev);
    AccessFacts {
        doors,
        evidence: ev,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_launchctl_spellings_are_read_and_an_unlisted_service_is_none() {
        let v13 = "disabled services = {\n\t\"com.apple.ftpd\" => disabled\n\t\"com.openssh.sshd\" => enabled\n}\n";
        assert_eq!(parse_disabled(v13, "com.openssh.sshd"), Ok(Some(false)));
        assert_eq!(parse_disabled(v13, "com.apple.ftpd"), Ok(Some(true)));
        assert_eq!(parse_disabled(v13, "com.apple.screensharing"), Ok(None));
        let v12 = "disabled services = {\n\t\"com.openssh.sshd\" => true\n}\n";
        assert_eq!(parse_disabled(v12, "com.openssh.sshd"), Ok(Some(true)));
        assert!(parse_disabled("Full Disk Access required", "com.openssh.sshd").is_err());
    }
}
