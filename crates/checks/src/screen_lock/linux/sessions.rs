//! Which desktop each user uses: logind's session files, AccountsService, installed sessions.

use posture_host::ReadError;
use posture_host::keyfile::KeyFile;

use super::Context;
use crate::accounts::Account;
use crate::evidence;

const SESSIONS_DIR: &str = "/run/systemd/sessions";
const SESSION_DIRS: [&str; 2] = ["/usr/share/xsessions", "/usr/share/wayland-sessions"];

/// A desktop family: which settings decide its screen lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Family {
    Gnome,
    Budgie,
    Cinnamon,
    Mate,
    Kde,
    Xfce,
    Sway,
    Hyprland,
    Cosmic,
    Other(String),
}

impl Family {
    /// The name shown to people (and used to pick remediation text).
    pub(super) fn label(&self) -> &str {
        match self {
            Self::Gnome => "GNOME",
            Self::Budgie => "Budgie",
            Self::Cinnamon => "Cinnamon",
            Self::Mate => "MATE",
            Self::Kde => "KDE Plasma",
            Self::Xfce => "Xfce",
            Self::Sway => "sway",
            Self::Hyprland => "Hyprland",
            Self::Cosmic => "COSMIC",
            Self::Other(name) => name,
        }
    }

    /// The family of an `XDG_CURRENT_DESKTOP` list. Specific desktops are matched before GNOME
    /// because several list GNOME as a fallback (`Budgie:GNOME`).
    fn of(components: &[String]) -> Self {
        let has = |names: &[&str]| {
            components
                .iter()
                .any(|c| names.iter().any(|n| c.eq_ignore_ascii_case(n)))
        };
        if has(&["KDE", "plasma"]) {
            Self::Kde
        } else if has(&["XFCE"]) {
            Self::Xfce
        } else if has(&["X-Cinnamon", "Cinnamon"]) {
            Self::Cinnamon
        } else if has(&["MATE"]) {
            Self::Mate
        } else if has(&["sway"]) {
            Self::Sway
        } else if has(&["Hyprland"]) {
            Self::Hyprland
        } else if has(&["COSMIC"]) {
            // System76's COSMIC (`cosmic.desktop`, DesktopNames=COSMIC), not Pop!_OS's older
            // GNOME session (`pop:GNOME`).
            Self::Cosmic
        } else if has(&["Budgie", "Budgie-desktop"]) {
            Self::Budgie
        } else if has(&["Unity"]) {
            // Ubuntu Unity lists `Unity:Unity7:ubuntu`; its lock screen is Unity's own, not GNOME
            // Shell's (which needs GDM), so it is not judged as GNOME.
            Self::Other("Unity".to_owned())
        } else if has(&["GNOME", "ubuntu", "GNOME-Classic", "pop", "zorin"]) {
            Self::Gnome
        } else {
            Self::Other(
                components
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "an unnamed desktop".to_owned()),
            )
        }
    }
}

/// One desktop a user uses or could use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Desktop {
    pub(super) family: Family,
    /// `XDG_CURRENT_DESKTOP` split at `:` (per-desktop GSettings defaults key on these).
    pub(super) components: Vec<String>,
    /// The PAM service of the logind session that runs it (`gdm-password`), if any.
    pub(super) service: Option<String>,
}

impl Desktop {
    fn new(components: Vec<String>, service: Option<String>) -> Self {
        Self {
            family: Family::of(&components),
            components,
            service,
        }
    }

    pub(super) fn label(&self) -> String {
        format!(
            "{} (XDG_CURRENT_DESKTOP={})",
            self.family.label(),
            self.components.join(":")
        )
    }
}

/// One logind session file.
#[derive(Debug, Clone, Default)]
struct Session {
    id: String,
    uid: Option<u32>,
    user: String,
    kind: String,
    class: String,
    state: String,
    desktop: String,
    service: String,
}

impl Session {
    /// A graphical session of a person: greeter, lock-screen, background and tty sessions have
    /// no screen lock of their own to judge.
    fn is_graphical_user(&self) -> bool {
        self.class.starts_with("user")
            && matches!(self.kind.as_str(), "x11" | "wayland" | "mir")
            && self.state != "closing"
    }
}

/// One installed session file (`/usr/share/xsessions/gnome.desktop`).
#[derive(Debug, Clone)]
pub(super) struct Installed {
    /// File name without `.desktop`: what logind's `DESKTOP=` and AccountsService name.
    stem: String,
    path: String,
    /// `DesktopNames=`, the session's `XDG_CURRENT_DESKTOP`.
    names: Vec<String>,
}

/// Sessions and installed desktops of the machine.
#[derive(Debug, Default)]
pub(super) struct Seen {
    sessions: Vec<Session>,
    pub(super) graphical_sessions: usize,
    pub(super) installed: Vec<Installed>,
    /// Why "no desktop" cannot be claimed (a listing failed), if so.
    pub(super) inconclusive: Option<String>,
}

/// Reads the logind session files and the installed session files.
pub(super) fn read(cx: &mut Context<'_>) -> Seen {
    let mut seen = Seen::default();
    match cx.list_dir(SESSIONS_DIR) {
        Ok(names) => {
            // `N.ref` entries are FIFOs logind holds open: reading one would block.
            for name in names.iter().filter(|n| !n.contains('.')) {
                let path = format!("{SESSIONS_DIR}/{name}");
                match cx.text(&path) {
                    Ok(text) => {
                        let s = parse_session(name, &text);
                        let verdict = if s.is_graphical_user() {
                            seen.graphical_sessions += 1;
                            "graphical user session"
                        } else {
                            "skipped: not a graphical user session"
                        };
                        cx.push(evidence::file(
                            &path,
                            None,
                            format!(
                                "USER={} UID={} TYPE={} CLASS={} STATE={} DESKTOP={} SERVICE={}: {verdict}",
                                s.user,
                                s.uid.map_or_else(|| "?".to_owned(), |u| u.to_string()),
                                s.kind,
                                s.class,
                                s.state,
                                s.desktop,
                                s.service
                            ),
                        ));
                        seen.sessions.push(s);
                    }
                    // The session ended between listing and reading.
                    Err(ReadError::NotFound) => {}
                    Err(e) => {
                        let why = evidence::read_failure(&path, &e);
                        cx.push(evidence::file(&path, None, why.clone()));
                        seen.inconclusive.get_or_insert(why);
                    }
                }
            }
            if names.is_empty() {
                cx.push(evidence::directory(SESSIONS_DIR, "no sessions"));
            }
        }
        Err(ReadError::NotFound) => cx.push(evidence::directory(
            SESSIONS_DIR,
            "absent: no logind sessions (systemd-logind not running)",
        )),
        Err(e) => {
            let why = evidence::read_failure(SESSIONS_DIR, &e);
            cx.push(evidence::directory(SESSIONS_DIR, why.clone()));
            seen.inconclusive.get_or_insert(why);
        }
    }

    for dir in SESSION_DIRS {
        match cx.list_dir(dir) {
            Ok(names) => {
                let mut found = Vec::new();
                for name in names.iter().filter(|n| n.ends_with(".desktop")) {
                    let path = format!("{dir}/{name}");
                    match cx.text(&path) {
                        Ok(text) => {
                            let file = KeyFile::parse(&text);
                            let get = |k: &str| file.get("Desktop Entry", k).unwrap_or("");
                            if get("Hidden").eq_ignore_ascii_case("true") {
                                continue;
                            }
                            let stem = name.trim_end_matches(".desktop").to_owned();
                            let mut names = desktop_names(get("DesktopNames"));
                            if names.is_empty() {
                                names.push(stem.clone());
                            }
                            // The value as the file writes it (`ubuntu:GNOME` or `Budgie;GNOME`).
                            let raw = get("DesktopNames").trim();
                            found.push(format!(
                                "{name} (DesktopNames={})",
                                if raw.is_empty() {
                                    names.join(";")
                                } else {
                                    raw.to_owned()
                                }
                            ));
                            seen.installed.push(Installed { stem, path, names });
                        }
                        Err(e) => {
                            let why = evidence::read_failure(&path, &e);
                            cx.push(evidence::file(&path, None, why.clone()));
                            seen.inconclusive.get_or_insert(why);
                        }
                    }
                }
                cx.push(evidence::directory(
                    dir,
                    if found.is_empty() {
                        "no session files".to_owned()
                    } else {
                        format!("installed sessions: {}", found.join(", "))
                    },
                ));
            }
            Err(ReadError::NotFound) => cx.push(evidence::directory(dir, "absent")),
            Err(e) => {
                let why = evidence::read_failure(dir, &e);
                cx.push(evidence::directory(dir, why.clone()));
                seen.inconclusive.get_or_insert(why);
            }
        }
    }
    seen
}

/// The `XDG_CURRENT_DESKTOP` components of a session file's `DesktopNames=`. The desktop entry
/// specification separates list items with `;` (`Budgie;GNOME`), but display managers export the
/// value joined with `:` and several distributions write it that way themselves (Ubuntu's
/// `ubuntu.desktop` says `DesktopNames=ubuntu:GNOME`), so both separate components.
fn desktop_names(value: &str) -> Vec<String> {
    value
        .split([';', ':'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `KEY=VALUE` lines of a logind session file.
fn parse_session(id: &str, text: &str) -> Session {
    let mut s = Session {
        id: id.to_owned(),
        ..Session::default()
    };
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().to_owned();
        match k.trim() {
            "UID" => s.uid = v.parse().ok(),
            "USER" => s.user = v,
            "TYPE" => s.kind = v,
            "CLASS" => s.class = v,
            "STATE" => s.state = v,
            "DESKTOP" => s.desktop = v,
            "SERVICE" => s.service = v,
            _ => {}
        }
    }
    s
}

/// The desktops to judge for one account, each with how it was chosen.
///
/// A logged-in user is judged on the desktop of each graphical session. A user who is not
/// logged in graphically is judged on the session AccountsService remembers (what the greeter
/// preselects) when it is installed, and otherwise on every installed desktop: they could log
/// in to any of them, so the policy holds only if it holds on each.
pub(super) fn desktops_of(
    cx: &mut Context<'_>,
    account: &Account,
    seen: &Seen,
) -> Vec<(Desktop, String)> {
    let mut out: Vec<(Desktop, String)> = Vec::new();
    for s in seen
        .sessions
        .iter()
        .filter(|s| s.is_graphical_user() && (s.uid == Some(account.uid) || s.user == account.name))
    {
        let components = components_of(&s.desktop, seen);
        let service = (!s.service.is_empty()).then(|| s.service.clone());
        let d = Desktop::new(components, service);
        if !out.iter().any(|(o, _)| *o == d) {
            out.push((
                d,
                format!(
                    "logind session {}: TYPE={}, DESKTOP={}",
                    s.id,
                    s.kind,
                    if s.desktop.is_empty() {
                        "(not set)"
                    } else {
                        &s.desktop
                    }
                ),
            ));
        }
    }
    if !out.is_empty() {
        return out;
    }

    let path = format!("/var/lib/AccountsService/users/{}", account.name);
    match cx.text(&path) {
        Ok(text) => {
            let file = KeyFile::parse(&text);
            let remembered = ["Session", "XSession"]
                .iter()
                .filter_map(|k| file.get("User", k).map(|v| (*k, v.trim())))
                .find(|(_, v)| !v.is_empty());
            match remembered {
                Some((key, name)) => {
                    let installed = seen.installed.iter().find(|i| i.stem == name);
                    cx.about(
                        account,
                        evidence::file(
                            &path,
                            Some(&format!("User/{key}")),
                            match installed {
                                Some(i) => format!("{name} (installed as {})", i.path),
                                None => format!("{name} (not installed: ignored)"),
                            },
                        ),
                    );
                    if let Some(i) = installed {
                        return vec![(
                            Desktop::new(i.names.clone(), None),
                            format!("not logged in; AccountsService remembers session {name}"),
                        )];
                    }
                }
                None => cx.about(
                    account,
                    evidence::file(&path, None, "no Session or XSession remembered"),
                ),
            }
        }
        Err(ReadError::NotFound) => {}
        Err(e) => cx.about(
            account,
            evidence::file(&path, None, evidence::read_failure(&path, &e)),
        ),
    }

    for i in &seen.installed {
        let d = Desktop::new(i.names.clone(), None);
        if !out.iter().any(|(o, _)| *o == d) {
            out.push((
                d,
                format!(
                    "not logged in; could log in to the installed session {}",
                    i.path
                ),
            ));
        }
    }
    out
}

/// `XDG_CURRENT_DESKTOP` of a session: logind's `DESKTOP=` is the session name
/// (`XDG_SESSION_DESKTOP`, e.g. `ubuntu`), whose installed session file lists the real
/// `DesktopNames` (`ubuntu:GNOME`); without such a file the name itself is used.
///
/// Display managers differ in what they put there: GDM and LightDM the file name (`ubuntu`,
/// `cinnamon`), SDDM the first of `DesktopNames` (`KDE` for `plasma.desktop`). A name that matches
/// no file name is looked up among the files' first `DesktopNames` component before it is used
/// as it is.
fn components_of(desktop: &str, seen: &Seen) -> Vec<String> {
    if let Some(i) = seen
        .installed
        .iter()
        .find(|i| i.stem.eq_ignore_ascii_case(desktop))
        .or_else(|| {
            seen.installed.iter().find(|i| {
                i.names
                    .first()
                    .is_some_and(|n| n.eq_ignore_ascii_case(desktop))
            })
        })
    {
        return i.names.clone();
    }
    desktop_names(desktop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(s: &str) -> Family {
        Family::of(&s.split(':').map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn desktops_that_list_gnome_as_a_fallback_keep_their_own_family() {
        assert_eq!(family("ubuntu:GNOME"), Family::Gnome);
        assert_eq!(family("Budgie:GNOME"), Family::Budgie);
        assert_eq!(family("X-Cinnamon"), Family::Cinnamon);
        assert_eq!(family("KDE"), Family::Kde);
        assert_eq!(family("COSMIC"), Family::Cosmic);
        assert_eq!(family("pop:GNOME"), Family::Gnome);
        assert_eq!(family("Unity:Unity7:ubuntu"), Family::Other("Unity".into()));
        assert_eq!(
            family("Enlightenment"),
            Family::Other("Enlightenment".into())
        );
    }

    #[test]
    fn logind_desktop_names_resolve_through_installed_session_files() {
        let installed = |stem: &str, names: &str| Installed {
            stem: stem.to_owned(),
            path: format!("/usr/share/xsessions/{stem}.desktop"),
            names: desktop_names(names),
        };
        let seen = Seen {
            installed: vec![
                installed("ubuntu", "ubuntu:GNOME"),
                installed("budgie-desktop", "Budgie;GNOME"),
                installed("plasma", "KDE"),
                installed("cinnamon", "X-Cinnamon"),
            ],
            ..Seen::default()
        };
        let family = |desktop: &str| Family::of(&components_of(desktop, &seen));
        // GDM passes the file name, SDDM and LightDM may pass the first DesktopNames entry.
        assert_eq!(components_of("ubuntu", &seen), ["ubuntu", "GNOME"]);
        assert_eq!(family("ubuntu"), Family::Gnome);
        assert_eq!(family("budgie-desktop"), Family::Budgie);
        assert_eq!(family("KDE"), Family::Kde);
        assert_eq!(family("X-Cinnamon"), Family::Cinnamon);
        assert_eq!(family("cinnamon"), Family::Cinnamon);
        // Without a file, the value itself, split like DesktopNames.
        assert_eq!(components_of("zorin:GNOME", &seen), ["zorin", "GNOME"]);
        assert_eq!(family("zorin"), Family::Gnome);
    }

    #[test]
    fn greeter_tty_and_closing_sessions_are_not_judged() {
        let gdm = parse_session("c1", "UID=120\nUSER=gdm\nTYPE=wayland\nCLASS=greeter\n");
        assert!(!gdm.is_graphical_user());
        let ssh = parse_session("3", "UID=1000\nUSER=alice\nTYPE=tty\nCLASS=user\n");
        assert!(!ssh.is_graphical_user());
        let closing = parse_session("4", "UID=1000\nTYPE=x11\nCLASS=user\nSTATE=closing\n");
        assert!(!closing.is_graphical_user());
        let desk = parse_session(
            "2",
            "# private\nUID=1000\nTYPE=x11\nCLASS=user\nSTATE=active\n",
        );
        assert!(desk.is_graphical_user());
    }
}
