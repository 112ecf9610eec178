//! Ways into a Linux machine, read from files only.
//!
//! - Automatic login, per display manager, each file parsed as what it is: GDM's GLib key file
//!   (`[daemon]` `AutomaticLoginEnable`/`AutomaticLogin`, `TimedLoginEnable`/`TimedLogin` in
//!   `custom.conf` or Debian's `daemon.conf`), LightDM's key files in their load order
//!   (`autologin-user`, `autologin-guest`, `allow-guest` under `[Seat:*]`, `[Seat:seat0]` or the
//!   older `[SeatDefaults]`), SDDM's (`[Autologin] User`), greetd's TOML (`[initial_session]`)
//!   and systemd getty drop-ins whose `ExecStart` runs agetty with `--autologin`.
//! - Passwordless sign-in: the display managers' PAM `auth` stacks ([`crate::pam`]): a
//!   `sufficient pam_succeed_if.so` rule (Ubuntu's LightDM file lets the `nopasswdlogin` group in),
//!   `sufficient pam_permit.so`, or `pam_unix.so nullok` while an account has an empty password.
//! - Accounts without a password: human accounts ([`crate::accounts`]) whose `/etc/shadow` field
//!   is empty, read by the one shadow reader ([`crate::shadow`]), which never keeps a hash.
//! - Remote access: SSH, xrdp, VNC and GNOME Remote Desktop units enabled in
//!   `/etc/systemd/system` (the `*.wants` links `systemctl enable` makes), and for SSH with an
//!   empty-password account, `PermitEmptyPasswords` in `sshd_config`.
//!
//! Enforcement: automatic login, guest sessions and the sign-in stacks are the system's own
//! configuration (`system_setting`, removable by a local administrator), enforced when only root
//! can change every file consulted for the value and its directory
//! ([`enforcement::root_only_files`]), drop-in directories included.

use posture_host::keyfile::KeyFile;
use posture_host::{Host, ReadError};
use posture_schema::{Enforcer, Evidence, Setting};

use super::{AccessFacts, Door, DoorKind, DoorState, closed, open, unknown};
use crate::{accounts, enforcement, evidence, pam, shadow};

/// GDM's configuration: `custom.conf` (upstream, Fedora, Arch, Ubuntu) and `daemon.conf`
/// (Debian's older gdm3), each under `gdm3` (Debian family) or `gdm`.
const GDM_FILES: [&str; 4] = [
    "/etc/gdm3/custom.conf",
    "/etc/gdm3/daemon.conf",
    "/etc/gdm/custom.conf",
    "/etc/gdm/daemon.conf",
];

/// LightDM's configuration directories, in the order it reads them (later wins), then its file.
const LIGHTDM_DIRS: [&str; 3] = [
    "/usr/share/lightdm/lightdm.conf.d",
    "/etc/xdg/lightdm/lightdm.conf.d",
    "/etc/lightdm/lightdm.conf.d",
];
const LIGHTDM_FILE: &str = "/etc/lightdm/lightdm.conf";

/// SDDM's configuration directories in reading order, then its file (which wins).
const SDDM_DIRS: [&str; 2] = ["/usr/lib/sddm/sddm.conf.d", "/etc/sddm.conf.d"];
const SDDM_FILE: &str = "/etc/sddm.conf";

const GREETD_FILE: &str = "/etc/greetd/config.toml";
const SYSTEMD_DIR: &str = "/etc/systemd/system";

/// The PAM services display managers and the console authenticate with.
const SIGN_IN_SERVICES: [(&str, &str); 5] = [
    ("gdm-password", "GDM"),
    ("lightdm", "LightDM"),
    ("sddm", "SDDM"),
    ("greetd", "greetd"),
    ("login", "console login"),
];

/// Remote-access services and the systemd units that start them.
const REMOTE_SERVICES: [(&str, &[&str]); 4] = [
    (
        "SSH server",
        &["ssh.service", "sshd.service", "ssh.socket", "sshd.socket"],
    ),
    ("xrdp (Remote Desktop)", &["xrdp.service"]),
    (
        "VNC server",
        &[
            "x11vnc.service",
            "vncserver@",
            "vncserver-x11-serviced.service",
            "wayvnc.service",
        ],
    ),
    (
        "GNOME Remote Desktop",
        &["gnome-remote-desktop.service"],
    ),
];

pub(super) fn gather(host: &dyn Host) -> AccessFacts {
    let mut ev = Vec::new();
    let mut doors = Vec::new();
    gdm(host, &mut doors, &mut ev);
    lightdm(host, &mut doors, &mut ev);
    sddm(host, &mut doors, &mut ev);
    greetd(host, &mut doors, &mut ev);
    getty(host, &mut doors, &mut ev);
    let empty = empty_passwords(host, &mut doors, &mut ev);
    sign_in_stacks(host, &empty, &mut doors, &mut ev);
    remote(host, &empty, &mut doors, &mut ev);
    AccessFacts {
        doors,
        evidence: ev,
    }
}

/// A setting the system's own files decide (`what` names them, `id` is the file that holds the
/// value or would): enforced when only root can change each of `files` and its directory.
fn system_setting(
    host: &dyn Host,
    name: &str,
    value: impl Into<String>,
    source: impl Into<String>,
    (what, id): (&str, &str),
    files: &[String],
    ev: &mut Vec<Evidence>,
) -> Setting {
    let (enforced, notes) = enforcement::root_only_files(host, files, ev);
    Setting {
        name: name.to_owned(),
        value: value.into(),
        source: source.into(),
        enforced,
        enforced_by: vec![enforcement::by(
            Enforcer::SYSTEM_SETTING,
            id,
            Some(what.to_owned()),
            Enforcer::BY_LOCAL_ADMIN,
        )],
        notes,
    }
}

/// A GLib key-file boolean as `g_key_file_get_boolean` reads it: `true`/`1`, `false`/`0`.
fn glib_bool(value: &str) -> Option<bool> {
    match value {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// A GDM boolean as its settings reader takes it: `true`/`false` in any case, `1`, `0` (GDM's
/// `gdm_settings_parse_value_as_boolean`; AccountsService writes `True`/`False`).
fn gdm_bool(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("true") || value == "1" {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") || value == "0" {
        Some(false)
    } else {
        None
    }
}

/// Reads a configuration file: `Ok(None)` when absent; other failures are the reason.
fn read_optional(
    host: &dyn Host,
    path: &str,
    ev: &mut Vec<Evidence>,
) -> Result<Option<String>, String> {
    match host.read_text(path) {
        Ok(text) => Ok(Some(text)),
        Err(ReadError::NotFound) => Ok(None),
        Err(e) => {
            let why = evidence::read_failure(path, &e);
            ev.push(evidence::file(path, None, why.clone()));
            Err(why)
        }
    }
}

/// The `*.conf` files of a drop-in directory, sorted; an absent directory has none.
fn conf_files(host: &dyn Host, dir: &str) -> Result<Vec<String>, String> {
    match host.list_dir(dir) {
        Ok(names) => Ok(names
            .into_iter()
            .filter(|n| n.ends_with(".conf"))
            .map(|n| format!("{dir}/{n}"))
            .collect()),
        Err(ReadError::NotFound) => Ok(Vec::new()),
        Err(e) => Err(evidence::read_failure(dir, &e)),
    }
}

fn gdm(host: &dyn Host, doors: &mut Vec<Door>, ev: &mut Vec<Evidence>) {
    for path in GDM_FILES {
        let text = match read_optional(host, path, ev) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(why) => {
                doors.push(Door::new(
                    DoorKind::AutoLogin,
                    "GDM automatic login",
                    unknown(why),
                ));
                continue;
            }
        };
        let file = KeyFile::parse(&text);
        for (label, enable_key, user_key) in [
            ("GDM automatic login", "AutomaticLoginEnable", "AutomaticLogin"),
            ("GDM timed login", "TimedLoginEnable", "TimedLogin"),
        ] {
            let enable = file.entry("daemon", enable_key);
            let user = file.get("daemon", user_key).unwrap_or("");
            let state = match enable.map(|e| (e, gdm_bool(&e.value))) {
                None => closed(format!("{enable_key} is not set in {path} (GDM's default: off)")),
                Some((e, Some(false))) => {
                    closed(format!("{enable_key}={} in {path} line {}", e.value, e.line))
                }
                Some((e, Some(true))) if !user.is_empty() => open(format!(
                    "{enable_key}={} and {user_key}={user} in {path} line {}: GDM signs {user} in without a password",
                    e.value, e.line
                )),
                Some((e, Some(true))) => unknown(format!(
                    "{enable_key}={} in {path} line {} names no {user_key} user",
                    e.value, e.line
                )),
                Some((e, None)) => unknown(format!(
                    "{enable_key}={} in {path} line {} is not a boolean GDM reads",
                    e.value, e.line
                )),
            };
            ev.push(evidence::file(
                path,
                Some(&format!("[daemon] {enable_key}")),
                match enable {
                    Some(e) => format!("{} (line {}), {user_key}={user}", e.value, e.line),
                    None => "absent".to_owned(),
                },
            ));
            let (value, source) = match enable {
                Some(e) => (
                    format!("{} ({user_key}={user})", e.value),
                    format!("{path} line {}", e.line),
                ),
                None => ("not set (GDM's default: false)".to_owned(), path.to_owned()),
            };
            let setting = system_setting(
                host,
                enable_key,
                value,
                source,
                ("GDM configuration", path),
                &[path.to_owned()],
                ev,
            );
            doors.push(Door::new(DoorKind::AutoLogin, label, state).with_settings(vec![setting]));
        }
    }
}

/// One key's effective value over files read in order, later files and `[Seat:seat0]` winning.
#[derive(Default)]
struct Effective {
    value: Option<(String, String)>,
}

impl Effective {
    fn set(&mut self, value: &str, at: String) {
        self.value = Some((value.to_owned(), at));
    }

    /// The key as a setting decided by `files` (all consulted, the drop-in directories too).
    fn setting(
        &self,
        host: &dyn Host,
        key: &str,
        default: &str,
        (what, main): (&str, &str),
        files: &[String],
        ev: &mut Vec<Evidence>,
    ) -> Setting {
        let (value, source) = match &self.value {
            Some((v, at)) => (v.clone(), at.clone()),
            None => (format!("not set ({default})"), main.to_owned()),
        };
        let id = source.split(" line ").next().unwrap_or(main).to_owned();
        system_setting(host, key, value, source, (what, &id), files, ev)
    }
}

/// The files a display manager's value depends on: its drop-in directories and every file read.
fn consulted(dirs: &[&str], files: &[String]) -> Vec<String> {
    dirs.iter()
        .map(|d| (*d).to_owned())
        .chain(files.iter().cloned())
        .collect()
}

/// A display manager's drop-in files (each directory's `*.conf`, in order) then its main file;
/// `None` after recording an unknown door when a directory cannot be listed.
fn config_files(
    host: &dyn Host,
    dirs: &[&str],
    main: &str,
    door: &'static str,
    doors: &mut Vec<Door>,
    ev: &mut Vec<Evidence>,
) -> Option<Vec<String>> {
    let mut files = Vec::new();
    for dir in dirs {
        match conf_files(host, dir) {
            Ok(found) => files.extend(found),
            Err(why) => {
                ev.push(evidence::directory(dir, why.clone()));
                doors.push(Door::new(DoorKind::AutoLogin, door, unknown(why)));
                return None;
            }
        }
    }
    files.push(main.to_owned());
    Some(files)
}

fn lightdm(host: &dyn Host, doors: &mut Vec<Door>, ev: &mut Vec<Evidence>) {
    let Some(files) = config_files(host, &LIGHTDM_DIRS, LIGHTDM_FILE, "LightDM automatic login", doors, ev) else {
        return;
    };
    let mut autologin_user = Effective::default();
    let mut autologin_guest = Effective::default();
    let mut allow_guest = Effective::default();
    let mut guest_script = Effective::default();
    let mut seen = false;
    for path in &files {
        let text = match read_optional(host, path, ev) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(why) => {
                doors.push(Door::new(
                    DoorKind::AutoLogin,
                    "LightDM automatic login",
                    unknown(why),
                ));
                return;
            }
        };
        seen = true;
        let file = KeyFile::parse(&text);
        // LightDM reads [SeatDefaults] (older name), then [Seat:*], then the seat's own group.
        for group in ["SeatDefaults", "Seat:*", "Seat:seat0"] {
            for (key, slot) in [
                ("autologin-user", &mut autologin_user),
                ("autologin-guest", &mut autologin_guest),
                ("allow-guest", &mut allow_guest),
                ("guest-account-script", &mut guest_script),
            ] {
                if let Some(e) = file.entry(group, key) {
                    ev.push(evidence::file(
                        path,
                        Some(&format!("[{group}] {key}")),
                        format!("{} (line {})", e.value, e.line),
                    ));
                    slot.set(&e.value, format!("{path} line {}", e.line));
                }
            }
        }
    }
    if !seen {
        return;
    }
    let user = match &autologin_user.value {
        Some((u, at)) if !u.is_empty() => open(format!(
            "autologin-user={u} ({at}): LightDM signs {u} in without a password"
        )),
        Some((_, at)) => closed(format!("autologin-user is empty ({at})")),
        None => closed("autologin-user is not set"),
    };
    let deciding = consulted(&LIGHTDM_DIRS, &files);
    let lightdm = ("LightDM configuration", LIGHTDM_FILE);
    let setting = autologin_user.setting(host, "autologin-user", "no user", lightdm, &deciding, ev);
    doors.push(
        Door::new(DoorKind::AutoLogin, "LightDM automatic login", user).with_settings(vec![setting]),
    );
    let guest_auto = match &autologin_guest.value {
        None => closed("autologin-guest is not set"),
        Some((v, at)) => match glib_bool(v) {
            Some(true) => open(format!(
                "autologin-guest={v} ({at}): LightDM starts a guest session by itself"
            )),
            Some(false) => closed(format!("autologin-guest={v} ({at})")),
            None => unknown(format!("autologin-guest={v} ({at}) is not a boolean")),
        },
    };
    let setting = autologin_guest.setting(host, "autologin-guest", "false", lightdm, &deciding, ev);
    doors.push(
        Door::new(DoorKind::AutoLogin, "LightDM guest automatic login", guest_auto)
            .with_settings(vec![setting]),
    );
    let script = guest_script
        .value
        .as_ref()
        .map_or("guest-account", |(v, _)| v.as_str())
        .to_owned();
    let guest = match allow_guest.value.as_ref().map(|(v, at)| (glib_bool(v), v, at)) {
        Some((Some(false), v, at)) => closed(format!("allow-guest={v} ({at})")),
        Some((None, v, at)) => unknown(format!("allow-guest={v} ({at}) is not a boolean")),
        allowed => {
            let why = match allowed {
                Some((_, v, at)) => format!("allow-guest={v} ({at})"),
                None => "allow-guest is not set (LightDM's default: true)".to_owned(),
            };
            match guest_script_installed(host, &script, ev) {
                Ok(Some(found)) => open(format!(
                    "{why} and the guest account script {found} is installed: anyone can start a LightDM guest session"
                )),
                Ok(None) => closed(format!(
                    "{why}, but the guest account script {script} is not installed, so LightDM cannot start a guest session"
                )),
                Err(why) => unknown(why),
            }
        }
    };
    // Unless guests are turned off, whoever may install the guest-account script decides it too.
    let mut guest_files = deciding.clone();
    if allow_guest.value.as_ref().and_then(|(v, _)| glib_bool(v)) != Some(false) {
        guest_files.extend(script_paths(&script));
    }
    let setting = allow_guest.setting(
        host,
        "allow-guest",
        "LightDM's default: true",
        lightdm,
        &guest_files,
        ev,
    );
    doors.push(Door::new(DoorKind::Guest, "LightDM guest session", guest).with_settings(vec![setting]));
}

/// Where LightDM looks for its guest-account script: the path as given when absolute, else
/// each directory of the usual `PATH`.
fn script_paths(script: &str) -> Vec<String> {
    if script.starts_with('/') {
        vec![script.to_owned()]
    } else {
        ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .map(|d| format!("{d}/{script}"))
            .collect()
    }
}

/// Where LightDM's guest-account script is (an absolute path as given, else the usual `PATH`).
fn guest_script_installed(
    host: &dyn Host,
    script: &str,
    ev: &mut Vec<Evidence>,
) -> Result<Option<String>, String> {
    for path in script_paths(script) {
        match host.exists(&path) {
            Ok(true) => {
                ev.push(evidence::file(&path, None, "present"));
                return Ok(Some(path));
            }
            Ok(false) => {}
            Err(e) => return Err(evidence::read_failure(&path, &e)),
        }
    }
    ev.push(evidence::derived(
        "LightDM",
        format!("guest account script {script} not found"),
    ));
    Ok(None)
}

fn sddm(host: &dyn Host, doors: &mut Vec<Door>, ev: &mut Vec<Evidence>) {
    let Some(files) = config_files(host, &SDDM_DIRS, SDDM_FILE, "SDDM automatic login", doors, ev) else {
        return;
    };
    let mut user = Effective::default();
    let mut seen = false;
    for path in &files {
        let text = match read_optional(host, path, ev) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(why) => {
                doors.push(Door::new(
                    DoorKind::AutoLogin,
                    "SDDM automatic login",
                    unknown(why),
                ));
                return;
            }
        };
        seen = true;
        if let Some(e) = KeyFile::parse(&text).entry("Autologin", "User") {
            ev.push(evidence::file(
                path,
                Some("[Autologin] User"),
                format!("{} (line {})", e.value, e.line),
            ));
            user.set(&e.value, format!("{path} line {}", e.line));
        }
    }
    if !seen {
        return;
    }
    let state = match &user.value {
        Some((u, at)) if !u.is_empty() => open(format!(
            "[Autologin] User={u} ({at}): SDDM signs {u} in without a password"
        )),
        Some((_, at)) => closed(format!("[Autologin] User is empty ({at})")),
        None => closed("[Autologin] User is not set"),
    };
    let setting = user.setting(
        host,
        "[Autologin] User",
        "no user",
        ("SDDM configuration", SDDM_FILE),
        &consulted(&SDDM_DIRS, &files),
        ev,
    );
    doors.push(Door::new(DoorKind::AutoLogin, "SDDM automatic login", state).with_settings(vec![setting]));
}

fn greetd(host: &dyn Host, doors: &mut Vec<Door>, ev: &mut Vec<Evidence>) {
    let text = match read_optional(host, GREETD_FILE, ev) {
        Ok(Some(t)) => t,
        Ok(None) => return,
        Err(why) => {
            doors.push(Door::new(
                DoorKind::AutoLogin,
                "greetd initial session",
                unknown(why),
            ));
            return;
        }
    };
    let state = match text.parse::<toml::Table>() {
        Err(e) => unknown(format!(
            "{GREETD_FILE} is not TOML greetd can read: {}",
            e.message()
        )),
        Ok(table) => match table.get("initial_session") {
            None => closed(format!("{GREETD_FILE} has no [initial_session]")),
            Some(session) => {
                let user = session.get("user").and_then(toml::Value::as_str);
                let command = session.get("command").and_then(toml::Value::as_str);
                match (user, command) {
                    (Some(u), Some(c)) => open(format!(
                        "[initial_session] in {GREETD_FILE}: greetd starts `{c}` as {u} at boot without a password"
                    )),
                    _ => unknown(format!(
                        "[initial_session] in {GREETD_FILE} lacks user or command"
                    )),
                }
            }
        },
    };
    ev.push(evidence::file(
        GREETD_FILE,
        Some("[initial_session]"),
        match &state {
            DoorState::Open { .. } => "present",
            DoorState::Closed { .. } => "absent",
            DoorState::Unknown { .. } => "unreadable",
        },
    ));
    let value = match &state {
        DoorState::Open { .. } => "set",
        DoorState::Closed { .. } => "not set",
        DoorState::Unknown { .. } => "unreadable",
    };
    let setting = system_setting(
        host,
        "[initial_session]",
        value,
        GREETD_FILE,
        ("greetd configuration", GREETD_FILE),
        &[GREETD_FILE.to_owned()],
        ev,
    );
    doors.push(
        Door::new(DoorKind::AutoLogin, "greetd initial session", state).with_settings(vec![setting]),
    );
}

/// The user an agetty command line signs in by itself (`--autologin USER`, `-a USER`,
/// `--autologin=USER`).
fn agetty_autologin(command: &str) -> Option<String> {
    let mut words = command.split_whitespace();
    while let Some(w) = words.next() {
        if let Some(user) = w.strip_prefix("--autologin=") {
            return Some(user.to_owned());
        }
        if w == "--autologin" || w == "-a" {
            return Some(words.next().unwrap_or("").to_owned());
        }
    }
    None
}

fn getty(host: &dyn Host, doors: &mut Vec<Door>, ev: &mut Vec<Evidence>) {
    let names = match host.list_dir(SYSTEMD_DIR) {
        Ok(n) => n,
        Err(ReadError::NotFound) => return,
        Err(e) => {
            let why = evidence::read_failure(SYSTEMD_DIR, &e);
            ev.push(evidence::directory(SYSTEMD_DIR, why.clone()));
            doors.push(Door::new(DoorKind::AutoLogin, "getty automatic login", unknown(why)));
            return;
        }
    };
    let mut found = Vec::new();
    let mut deciding = vec![SYSTEMD_DIR.to_owned()];
    let mut autologin: Option<(String, String)> = None;
    for name in names.iter().filter(|n| {
        (n.starts_with("getty@") || n.starts_with("serial-getty@") || n.starts_with("autovt@"))
            && n.ends_with(".service.d")
    }) {
        let dir = format!("{SYSTEMD_DIR}/{name}");
        deciding.push(dir.clone());
        let files = match conf_files(host, &dir) {
            Ok(f) => f,
            Err(why) => {
                doors.push(Door::new(DoorKind::AutoLogin, "getty automatic login", unknown(why)));
                return;
            }
        };
        for path in files {
            deciding.push(path.clone());
            let text = match read_optional(host, &path, ev) {
                Ok(Some(t)) => t,
                Ok(None) => continue,
                Err(why) => {
                    doors.push(Door::new(DoorKind::AutoLogin, "getty automatic login", unknown(why)));
                    return;
                }
            };
            // The last ExecStart= wins (an empty one only resets the list).
            if let Some(e) = KeyFile::parse(&text).entry("Service", "ExecStart") {
                ev.push(evidence::file(
                    &path,
                    Some("[Service] ExecStart"),
                    format!("{} (line {})", e.value, e.line),
                ));
                if let Some(user) = agetty_autologin(&e.value) {
                    autologin = Some((format!("--autologin {user}"), format!("{path} line {}", e.line)));
                    found.push(format!(
                        "{path} line {}: agetty --autologin {user} signs {user} in on the console without a password",
                        e.line
                    ));
                }
            }
        }
    }
    let state = if found.is_empty() {
        closed(format!("no getty drop-in in {SYSTEMD_DIR} passes --autologin"))
    } else {
        open(found.join("; "))
    };
    // Without one, the value is agetty's default, which a drop-in added to the directory changes.
    let (value, source) =
        autologin.unwrap_or_else(|| ("not passed".to_owned(), SYSTEMD_DIR.to_owned()));
    let id = source.split(" line ").next().unwrap_or(SYSTEMD_DIR).to_owned();
    let setting = system_setting(
        host,
        "agetty --autologin",
        value,
        source,
        ("systemd getty drop-ins", &id),
        &deciding,
        ev,
    );
    doors.push(
        Door::new(DoorKind::AutoLogin, "getty automatic login", state).with_settings(vec![setting]),
    );
}

/// Human accounts with an empty password; `Err` when that could not be read.
fn empty_passwords(
    host: &dyn Host,
    doors: &mut Vec<Door>,
    ev: &mut Vec<Evidence>,
) -> Result<Vec<String>, String> {
    let result = accounts::human_accounts(host, ev).and_then(|humans| {
        let entries = shadow::read(host)?;
        let mut empty = Vec::new();
        for account in &humans {
            match shadow::entry(&entries, &account.name) {
                Ok(entry) => {
                    ev.push(evidence::about(
                        evidence::file(shadow::PATH, Some(&account.name), entry.password.describe()),
                        &account.name,
                    ));
                    if entry.password == shadow::PasswordState::Empty {
                        empty.push(account.name.clone());
                    }
                }
                Err(why) => {
                    ev.push(evidence::file(shadow::PATH, Some(&account.name), why.clone()));
                    return Err(why);
                }
            }
        }
        Ok(empty)
    });
    match &result {
        Ok(empty) if empty.is_empty() => doors.push(Door::new(
            DoorKind::EmptyPassword,
            "human accounts",
            closed(format!(
                "no human account has an empty password in {}",
                shadow::PATH
            )),
        )),
        Ok(empty) => {
            for name in empty {
                doors.push(Door::new(
                    DoorKind::EmptyPassword,
                    name.clone(),
                    open(format!(
                        "{name} has no password ({} field empty): anyone can sign in as {name}",
                        shadow::PATH
                    )),
                ));
            }
        }
        Err(why) => {
            ev.push(evidence::derived("accounts", why.clone()));
            doors.push(Door::new(
                DoorKind::EmptyPassword,
                "human accounts",
                unknown(why.clone()),
            ));
        }
    }
    result
}

/// Members of a group: its member list in `/etc/group` and accounts whose primary group it is.
fn group_members(host: &dyn Host, group: &str) -> Result<Vec<String>, String> {
    let groups = host
        .read_text("/etc/group")
        .map_err(|e| evidence::read_failure("/etc/group", &e))?;
    let Some(fields) = groups
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && f[0] == group)
    else {
        return Ok(Vec::new());
    };
    let mut members: Vec<String> = fields[3]
        .split(',')
        .filter(|m| !m.trim().is_empty())
        .map(|m| m.trim().to_owned())
        .collect();
    let passwd = host
        .read_text("/etc/passwd")
        .map_err(|e| evidence::read_failure("/etc/passwd", &e))?;
    for f in passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()) {
        if f.len() >= 4 && f[3] == fields[2] && !members.iter().any(|m| m == f[0]) {
            members.push(f[0].to_owned());
        }
    }
    Ok(members)
}

/// What a `sufficient pam_succeed_if.so` rule lets in without a password: `Ok(None)` for nobody
/// (an empty group), the people it names, or why that cannot be told.
fn succeed_if_lets_in(host: &dyn Host, args: &[String]) -> Result<Option<String>, String> {
    const FLAGS: [&str; 6] = ["quiet", "quiet_fail", "quiet_success", "audit", "debug", "use_uid"];
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !FLAGS.contains(a))
        .collect();
    // Conditions are `field test value` triples, all of which must hold.
    if words.len() == 3 && words[0] == "user" {
        let value = words[2];
        return match words[1] {
            "ingroup" => {
                let members = group_members(host, value)?;
                Ok((!members.is_empty()).then(|| {
                    format!("members of group {value} ({})", members.join(", "))
                }))
            }
            "=" => Ok(Some(format!("user {value}"))),
            "in" => Ok(Some(format!("users {}", value.replace(':', ", ")))),
            _ => Err(format!("the condition `{}` is not one posture reads", words.join(" "))),
        };
    }
    if words.is_empty() {
        return Ok(Some("every user".to_owned()));
    }
    Err(format!("the condition `{}` is not one posture reads", words.join(" ")))
}

fn sign_in_stacks(
    host: &dyn Host,
    empty: &Result<Vec<String>, String>,
    doors: &mut Vec<Door>,
    ev: &mut Vec<Evidence>,
) {
    for (service, label) in SIGN_IN_SERVICES {
        let name = format!("{label} sign-in ({service})");
        let stack = match pam::auth_stack(host, service) {
            Ok(Some(stack)) => stack,
            // A service without its own file is not installed; `other` refuses by default.
            Ok(None) => continue,
            Err(why) => {
                ev.push(evidence::derived("PAM", why.clone()));
                doors.push(Door::new(DoorKind::PasswordlessSignIn, name, unknown(why)));
                continue;
            }
        };
        if stack.file.ends_with("/other") {
            continue;
        }
        let mut open_by = Vec::new();
        let mut unknowns = Vec::new();
        for line in &stack.lines {
            let at = format!("{} line {}", line.file, line.line);
            if line.control != "sufficient" {
                continue;
            }
            match line.module_name() {
                "pam_permit.so" => {
                    open_by.push(format!("`sufficient pam_permit.so` ({at}) lets every user in"));
                }
                "pam_succeed_if.so" => match succeed_if_lets_in(host, &line.args) {
                    Ok(Some(who)) => open_by.push(format!(
                        "`sufficient pam_succeed_if.so {}` ({at}) lets {who} in without a password",
                        line.args.join(" ")
                    )),
                    Ok(None) => ev.push(evidence::file(
                        &line.file,
                        Some("auth"),
                        format!(
                            "line {}: sufficient pam_succeed_if.so {}: the group has no members",
                            line.line,
                            line.args.join(" ")
                        ),
                    )),
                    Err(why) => unknowns.push(format!("{at}: {why}")),
                },
                _ => {}
            }
        }
        if let Some(l) = stack.unix_nullok().first() {
            match empty {
                Ok(names) if !names.is_empty() => open_by.push(format!(
                    "pam_unix.so nullok ({} line {}) accepts the empty password of {}",
                    l.file,
                    l.line,
                    names.join(", ")
                )),
                Ok(_) => {}
                Err(why) => unknowns.push(format!(
                    "pam_unix.so nullok ({} line {}) accepts empty passwords, and whether an account has one is unknown: {why}",
                    l.file, l.line
                )),
            }
        }
        ev.push(evidence::file(
            &stack.file,
            Some("auth"),
            format!(
                "{} auth lines; {}",
                stack.lines.len(),
                if open_by.is_empty() {
                    "none lets anyone in without a password".to_owned()
                } else {
                    open_by.join("; ")
                }
            ),
        ));
        let value = if !open_by.is_empty() {
            open_by.join("; ")
        } else if !unknowns.is_empty() {
            unknowns.join("; ")
        } else {
            "every rule asks for a password".to_owned()
        };
        let state = if !open_by.is_empty() {
            open(open_by.join("; "))
        } else if !unknowns.is_empty() {
            unknown(unknowns.join("; "))
        } else {
            closed(format!("{}: every rule asks for a password", stack.file))
        };
        // The service's file and every file it includes decide the stack.
        let mut files = vec![stack.file.clone()];
        for line in &stack.lines {
            if !files.contains(&line.file) {
                files.push(line.file.clone());
            }
        }
        let setting = system_setting(
            host,
            "auth",
            value,
            stack.file.clone(),
            ("PAM configuration", &stack.file),
            &files,
            ev,
        );
        doors.push(Door::new(DoorKind::PasswordlessSignIn, name, state).with_settings(vec![setting]));
    }
}

/// The units enabled in `/etc/systemd/system` (the targets of its `*.wants` links), without
/// those masked there.
fn enabled_units(host: &dyn Host, ev: &mut Vec<Evidence>) -> Result<Vec<String>, String> {
    let names = host
        .list_dir(SYSTEMD_DIR)
        .map_err(|e| evidence::read_failure(SYSTEMD_DIR, &e))?;
    let mut units = Vec::new();
    for wants in names.iter().filter(|n| n.ends_with(".wants")) {
        let dir = format!("{SYSTEMD_DIR}/{wants}");
        match host.list_dir(&dir) {
            Ok(found) => units.extend(found),
            Err(ReadError::NotFound) => {}
            Err(e) => return Err(evidence::read_failure(&dir, &e)),
        }
    }
    let masked: Vec<&String> = names
        .iter()
        .filter(|n| {
            host.read_link(&format!("{SYSTEMD_DIR}/{n}"))
                .is_ok_and(|t| t == "/dev/null")
        })
        .collect();
    units.retain(|u| !masked.contains(&u));
    units.sort();
    units.dedup();
    ev.push(evidence::directory(
        SYSTEMD_DIR,
        format!(
            "enabled units (*.wants): {}",
            if units.is_empty() {
                "none".to_owned()
            } else {
                units.join(", ")
            }
        ),
    ));
    Ok(units)
}

fn remote(
    host: &dyn Host,
    empty: &Result<Vec<String>, String>,
    doors: &mut Vec<Door>,
    ev: &mut Vec<Evidence>,
) {
    let units = enabled_units(host, ev);
    for (label, patterns) in REMOTE_SERVICES {
        let state = match &units {
            Err(why) => unknown(why.clone()),
            Ok(units) => {
                let on: Vec<&str> = units
                    .iter()
                    .filter(|u| {
                        patterns.iter().any(|p| {
                            if p.ends_with('@') {
                                u.starts_with(p)
                            } else {
                                u.as_str() == *p
                            }
                        })
                    })
                    .map(String::as_str)
                    .collect();
                if on.is_empty() {
                    closed(format!("none of {} is enabled", patterns.join(", ")))
                } else {
                    open(format!("{} enabled in {SYSTEMD_DIR}", on.join(", ")))
                }
            }
        };
        let ssh_on = label == "SSH server" && matches!(state, DoorState::Open { .. });
        doors.push(Door::new(DoorKind::RemoteService, label, state));
        if ssh_on {
            match empty {
                Ok(names) if names.is_empty() => {}
                Ok(names) => doors.push(Door::new(
                    DoorKind::RemoteEmptyPassword,
                    "SSH password login",
                    ssh_empty_passwords(host, names, ev),
                )),
                Err(why) => doors.push(Door::new(
                    DoorKind::RemoteEmptyPassword,
                    "SSH password login",
                    unknown(format!(
                        "the SSH server is on and whether an account has an empty password is unknown: {why}"
                    )),
                )),
            }
        }
    }
}

/// Whether sshd accepts the empty passwords of `names`: `PermitEmptyPasswords yes` with password
/// authentication on. sshd keeps the first value of a keyword; `Match` blocks are not read, so a
/// `PermitEmptyPasswords yes` inside one makes this unknown.
fn ssh_empty_passwords(host: &dyn Host, names: &[String], ev: &mut Vec<Evidence>) -> DoorState {
    let mut lines = Vec::new();
    if let Err(why) = sshd_lines(host, "/etc/ssh/sshd_config", 0, &mut lines) {
        return unknown(why);
    }
    let mut permit_empty: Option<(String, String)> = None;
    let mut password: Option<(String, String)> = None;
    let mut in_match = false;
    for (at, keyword, value) in &lines {
        if keyword == "match" {
            in_match = true;
            continue;
        }
        if in_match {
            if keyword == "permitemptypasswords" && value.eq_ignore_ascii_case("yes") {
                return unknown(format!(
                    "PermitEmptyPasswords yes inside a Match block ({at})"
                ));
            }
            continue;
        }
        let slot = match keyword.as_str() {
            "permitemptypasswords" => &mut permit_empty,
            "passwordauthentication" => &mut password,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some((value.to_ascii_lowercase(), at.clone()));
        }
    }
    ev.push(evidence::file(
        "/etc/ssh/sshd_config",
        Some("PermitEmptyPasswords"),
        permit_empty
            .as_ref()
            .map_or("not set (default no)".to_owned(), |(v, at)| format!("{v} ({at})")),
    ));
    match (&permit_empty, &password) {
        (Some((v, at)), pw) if v == "yes" && pw.as_ref().is_none_or(|(p, _)| p != "no") => open(
            format!(
                "PermitEmptyPasswords yes ({at}) with password authentication on: {} can sign in over SSH with no password",
                names.join(", ")
            ),
        ),
        (Some((v, at)), _) if v == "yes" => closed(format!(
            "PermitEmptyPasswords yes ({at}) but PasswordAuthentication no"
        )),
        (Some((v, at)), _) => closed(format!("PermitEmptyPasswords {v} ({at}): sshd refuses empty passwords")),
        (None, _) => closed("PermitEmptyPasswords is not set: sshd's default (no) refuses empty passwords"),
    }
}

/// The keyword lines of sshd_config and its `Include`d files, as (where, keyword in lower case,
/// value).
fn sshd_lines(
    host: &dyn Host,
    path: &str,
    depth: usize,
    out: &mut Vec<(String, String, String)>,
) -> Result<(), String> {
    if depth > 8 {
        return Err(format!("{path}: Include nested too deeply"));
    }
    let text = match host.read_text(path) {
        Ok(t) => t,
        Err(ReadError::NotFound) if depth > 0 => return Ok(()),
        Err(e) => return Err(evidence::read_failure(path, &e)),
    };
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keyword, value) = line
            .split_once(|c: char| c.is_whitespace() || c == '=')
            .map_or((line, ""), |(k, v)| (k, v.trim_start_matches(|c: char| c.is_whitespace() || c == '=')));
        let keyword = keyword.to_ascii_lowercase();
        if keyword == "include" {
            for pattern in value.split_whitespace() {
                let pattern = if pattern.starts_with('/') {
                    pattern.to_owned()
                } else {
                    format!("/etc/ssh/{pattern}")
                };
                match pattern.rsplit_once('/') {
                    Some((dir, glob)) if glob.starts_with('*') => {
                        let suffix = &glob[1..];
                        if suffix.contains(['*', '?', '[']) {
                            return Err(format!("{path} line {}: Include {pattern} is a pattern posture does not expand", n + 1));
                        }
                        let names = match host.list_dir(dir) {
                            Ok(names) => names,
                            Err(ReadError::NotFound) => Vec::new(),
                            Err(e) => return Err(evidence::read_failure(dir, &e)),
                        };
                        for name in names.iter().filter(|n| n.ends_with(suffix)) {
                            sshd_lines(host, &format!("{dir}/{name}"), depth + 1, out)?;
                        }
                    }
                    _ if pattern.contains(['*', '?', '[']) => {
                        return Err(format!("{path} line {}: Include {pattern} is a pattern posture does not expand", n + 1));
                    }
                    _ => sshd_lines(host, &pattern, depth + 1, out)?,
                }
            }
            continue;
        }
        out.push((
            format!("{path} line {}", n + 1),
            keyword,
            value.trim().to_owned(),
        ));
    }
    Ok(())
}

// The fake roots hold symbolic links (systemd's *.wants), which the tests copy as links.
#[cfg(all(test, unix))]
mod tests;
