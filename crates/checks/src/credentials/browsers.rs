//! The 1Password browser extension in every browser profile of a user, and (when the policy
//! asks) company logins saved in Chromium browsers' own password stores.
//!
//! - Chromium family (Chrome, Chromium, Edge, Brave, Vivaldi): profiles are the `Default` and
//!   `Profile N` folders of the browser's user data folder. An extension's settings are
//!   `extensions.settings.<id>` in `Secure Preferences` or `Preferences` (JSON). Before Chrome
//!   136 `state` is 1 (enabled) or 0; from 136 there is no `state` and the extension is
//!   disabled exactly when `disable_reasons` is not empty (osquery#8610). 1Password's ids:
//!   Chrome Web Store `aeblfdkhhhdcdjpifhhbdiojplfjncoa`, Edge Add-ons
//!   `dppgmdbiimibapkepcbdbmkaabgiofem` (either counts in any Chromium browser).
//! - Firefox: profiles from `profiles.ini`; add-ons in each profile's `extensions.json`
//!   (`addons[]` with `id`, `active`, `userDisabled`); 1Password's id
//!   `{d634138d-c276-4fc8-924b-40a0ea21d284}`.
//! - Saved logins: Chromium's `Login Data` and `Login Data For Account` SQLite databases,
//!   table `logins`; only `origin_url` and `username_value` are read, never `password_value`,
//!   and only logins of the company's domains leave the host.

use posture_host::sqlite::{self, SqliteError};
use posture_host::{Host, ReadError, ReadFile};
use posture_schema::Evidence;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::evidence;

/// 1Password's extension ids in Chromium browsers: Chrome Web Store, Edge Add-ons.
pub const CHROMIUM_EXTENSION_IDS: [&str; 2] = [
    "aeblfdkhhhdcdjpifhhbdiojplfjncoa",
    "dppgmdbiimibapkepcbdbmkaabgiofem",
];
/// 1Password's add-on id in Firefox.
pub const FIREFOX_EXTENSION_ID: &str = "{d634138d-c276-4fc8-924b-40a0ea21d284}";

/// The most bytes read of a `Login Data` database.
const MAX_LOGIN_DATA_BYTES: u64 = 64 * 1024 * 1024;

/// A browser's data folder under a home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrowserDir {
    /// Browser name for people: "Google Chrome", "Firefox (Snap)".
    pub name: &'static str,
    /// Chromium user data folder, or Firefox's folder holding `profiles.ini`.
    pub path: String,
    /// Which family.
    pub family: Family,
}

/// Browser family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Chrome, Chromium, Edge, Brave, Vivaldi.
    Chromium,
    /// Firefox.
    Firefox,
}

/// One browser profile and the 1Password extension in it.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserProfile {
    /// "Google Chrome", "Firefox".
    pub browser: String,
    /// Profile folder name: "Default", "Profile 1", "abcd.default-release".
    pub profile: String,
    /// The extension in it.
    pub extension: ExtensionState,
    /// Company logins saved in the browser's own store (Chromium; when the policy asks).
    pub saved_logins: Option<SavedLogins>,
}

/// The 1Password extension in one profile.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtensionState {
    /// Installed and enabled, with the id found.
    Enabled(String),
    /// Installed but disabled, and how that shows.
    Disabled(String),
    /// Not installed.
    Missing,
    /// The profile was never opened (Firefox's unused `default` profile has no
    /// `extensions.json`), with how that shows: nothing to protect there, so not applicable.
    NeverOpened(String),
    /// Could not tell, and why.
    Unknown(String),
}

/// Company logins saved in a profile's own password store.
#[derive(Debug, Clone, PartialEq)]
pub enum SavedLogins {
    /// The logins found (site host and user name), empty when none.
    Found(Vec<SavedLogin>),
    /// Could not tell, and why.
    Unknown(String),
}

/// One saved login of a company account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedLogin {
    /// The site's host.
    pub site: String,
    /// The user name saved.
    pub username: String,
}

/// Browser folders under a Linux home (packages, Snap, Flatpak).
pub(crate) fn linux_dirs(home: &str) -> Vec<BrowserDir> {
    let h = home.trim_end_matches('/');
    let c = |name, rel: &str| BrowserDir {
        name,
        path: format!("{h}/{rel}"),
        family: Family::Chromium,
    };
    let f = |name, rel: &str| BrowserDir {
        name,
        path: format!("{h}/{rel}"),
        family: Family::Firefox,
    };
    vec![
        c("Google Chrome", ".config/google-chrome"),
        c(
            "Google Chrome (Flatpak)",
            ".var/app/com.google.Chrome/config/google-chrome",
        ),
        c("Chromium", ".config/chromium"),
        c("Chromium (Snap)", "snap/chromium/common/chromium"),
        c(
            "Chromium (Flatpak)",
            ".var/app/org.chromium.Chromium/config/chromium",
        ),
        c("Microsoft Edge", ".config/microsoft-edge"),
        c(
            "Microsoft Edge (Flatpak)",
            ".var/app/com.microsoft.Edge/config/microsoft-edge",
        ),
        c("Brave", ".config/BraveSoftware/Brave-Browser"),
        c(
            "Brave (Flatpak)",
            ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser",
        ),
        c("Vivaldi", ".config/vivaldi"),
        f("Firefox", ".mozilla/firefox"),
        f("Firefox (Snap)", "snap/firefox/common/.mozilla/firefox"),
        f(
            "Firefox (Flatpak)",
            ".var/app/org.mozilla.firefox/.mozilla/firefox",
        ),
    ]
}

/// Browser folders under a macOS home.
pub(crate) fn macos_dirs(home: &str) -> Vec<BrowserDir> {
    let base = format!("{}/Library/Application Support", home.trim_end_matches('/'));
    let c = |name, rel: &str| BrowserDir {
        name,
        path: format!("{base}/{rel}"),
        family: Family::Chromium,
    };
    vec![
        c("Google Chrome", "Google/Chrome"),
        c("Chromium", "Chromium"),
        c("Microsoft Edge", "Microsoft Edge"),
        c("Brave", "BraveSoftware/Brave-Browser"),
        c("Vivaldi", "Vivaldi"),
        BrowserDir {
            name: "Firefox",
            path: format!("{base}/Firefox"),
            family: Family::Firefox,
        },
    ]
}

/// Browser folders of a Windows user, from the profile folder (`C:/Users/NAME`).
pub(crate) fn windows_dirs(profile: &str) -> Vec<BrowserDir> {
    let p = profile.trim_end_matches(['/', '\\']);
    let c = |name, rel: &str| BrowserDir {
        name,
        path: format!("{p}/AppData/Local/{rel}/User Data"),
        family: Family::Chromium,
    };
    vec![
        c("Google Chrome", "Google/Chrome"),
        c("Chromium", "Chromium"),
        c("Microsoft Edge", "Microsoft/Edge"),
        c("Brave", "BraveSoftware/Brave-Browser"),
        c("Vivaldi", "Vivaldi"),
        BrowserDir {
            name: "Firefox",
            path: format!("{p}/AppData/Roaming/Mozilla/Firefox"),
            family: Family::Firefox,
        },
    ]
}

/// The profiles of every browser found, with the 1Password extension in each; `Err` entries
/// name a browser folder whose profiles could not be listed. `company_domains`: read saved
/// Chromium logins of these domains (empty: do not read saved logins at all).
pub(crate) fn profiles(
    host: &dyn Host,
    dirs: &[BrowserDir],
    company_domains: &[String],
    ev: &mut Vec<Evidence>,
    user: &str,
) -> (Vec<BrowserProfile>, Vec<String>) {
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    for dir in dirs {
        let names = match dir.family {
            Family::Chromium => chromium_profile_dirs(host, &dir.path),
            Family::Firefox => firefox_profile_dirs(host, &dir.path),
        };
        let names = match names {
            Ok(Some(names)) => names,
            Ok(None) => continue,
            Err(why) => {
                ev.push(evidence::about(
                    evidence::directory(&dir.path, why.clone()),
                    user,
                ));
                unknown.push(format!("{}: {why}", dir.name));
                continue;
            }
        };
        ev.push(evidence::about(
            evidence::directory(
                &dir.path,
                format!(
                    "{} profiles: {}",
                    dir.name,
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            ),
            user,
        ));
        for (name, path) in names {
            let extension = match dir.family {
                Family::Chromium => chromium_extension(host, &path, ev, user),
                Family::Firefox => firefox_extension(host, &path, ev, user),
            };
            let saved_logins = (dir.family == Family::Chromium && !company_domains.is_empty())
                .then(|| saved_logins(host, &path, company_domains, ev, user));
            found.push(BrowserProfile {
                browser: dir.name.to_owned(),
                profile: name,
                extension,
                saved_logins,
            });
        }
    }
    (found, unknown)
}

/// `Ok(None)` when the browser has no folder (not used by this user).
type ProfileDirs = Result<Option<Vec<(String, String)>>, String>;

fn chromium_profile_dirs(host: &dyn Host, dir: &str) -> ProfileDirs {
    match host.list_dir(dir) {
        Ok(names) => Ok(Some(
            names
                .into_iter()
                .filter(|n| n == "Default" || n.starts_with("Profile "))
                .map(|n| {
                    let path = format!("{dir}/{n}");
                    (n, path)
                })
                .collect(),
        )),
        Err(ReadError::NotFound) => Ok(None),
        Err(e) => Err(format!("could not list {dir}: {e}")),
    }
}

fn firefox_profile_dirs(host: &dyn Host, dir: &str) -> ProfileDirs {
    let ini = format!("{dir}/profiles.ini");
    let text = match host.read_text(&ini) {
        Ok(t) => t,
        Err(ReadError::NotFound) => {
            // A folder without profiles.ini has no profile Firefox would open.
            return match host.exists(dir) {
                Ok(false) => Ok(None),
                Ok(true) => Ok(Some(Vec::new())),
                Err(e) => Err(format!("could not read {dir}: {e}")),
            };
        }
        Err(e) => return Err(evidence::read_failure(&ini, &e)),
    };
    Ok(Some(
        parse_profiles_ini(&text)
            .into_iter()
            .map(|(path, relative)| {
                let full = if relative {
                    format!("{dir}/{path}")
                } else {
                    path.replace('\\', "/")
                };
                let name = full.rsplit('/').next().unwrap_or(&full).to_owned();
                (name, full)
            })
            .collect(),
    ))
}

/// `(Path, IsRelative)` of every `[ProfileN]` section of `profiles.ini`.
#[must_use]
pub fn parse_profiles_ini(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut in_profile = false;
    let mut path: Option<String> = None;
    let mut relative = true;
    let mut flush = |path: &mut Option<String>, relative: bool| {
        if let Some(p) = path.take() {
            out.push((p, relative));
        }
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            flush(&mut path, relative);
            in_profile = line.starts_with("[Profile");
            relative = true;
        } else if in_profile && let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "Path" => path = Some(v.trim().to_owned()),
                "IsRelative" => relative = v.trim() != "0",
                _ => {}
            }
        }
    }
    flush(&mut path, relative);
    out
}

fn chromium_extension(
    host: &dyn Host,
    profile: &str,
    ev: &mut Vec<Evidence>,
    user: &str,
) -> ExtensionState {
    let mut unreadable = Vec::new();
    let mut read_any = false;
    for file in ["Secure Preferences", "Preferences"] {
        let path = format!("{profile}/{file}");
        let text = match host.read_text(&path) {
            Ok(t) => t,
            Err(ReadError::NotFound) => continue,
            Err(e) => {
                unreadable.push(evidence::read_failure(&path, &e));
                continue;
            }
        };
        let Ok(json) = serde_json::from_str::<Value>(&text) else {
            unreadable.push(format!("{path} is not JSON"));
            continue;
        };
        read_any = true;
        let settings = json.pointer("/extensions/settings");
        for id in CHROMIUM_EXTENSION_IDS {
            if let Some(entry) = settings.and_then(|s| s.get(id)) {
                let state = chromium_state(entry, id);
                ev.push(evidence::about(
                    evidence::file(
                        &path,
                        Some(&format!("extensions.settings.{id}")),
                        describe(&state),
                    ),
                    user,
                ));
                return state;
            }
        }
    }
    if !unreadable.is_empty() {
        for why in &unreadable {
            ev.push(evidence::about(
                evidence::file(profile, None, why.clone()),
                user,
            ));
        }
        return ExtensionState::Unknown(unreadable.join("; "));
    }
    if !read_any {
        let why = format!("{profile} has neither Secure Preferences nor Preferences");
        ev.push(evidence::about(
            evidence::directory(profile, why.clone()),
            user,
        ));
        return ExtensionState::Unknown(why);
    }
    ev.push(evidence::about(
        evidence::file(
            &format!("{profile}/Secure Preferences"),
            Some("extensions.settings"),
            "no 1Password extension (neither the Chrome Web Store nor the Edge Add-ons id) in Secure Preferences or Preferences",
        ),
        user,
    ));
    ExtensionState::Missing
}

/// Enabled or disabled, from one `extensions.settings.<id>` entry.
#[must_use]
pub fn chromium_state(entry: &Value, id: &str) -> ExtensionState {
    if let Some(state) = entry.get("state") {
        return match state.as_i64() {
            Some(1) => ExtensionState::Enabled(id.to_owned()),
            Some(0) => ExtensionState::Disabled("state is 0".to_owned()),
            _ => ExtensionState::Unknown(format!("unexpected state {state}")),
        };
    }
    match entry.get("disable_reasons") {
        None => ExtensionState::Enabled(id.to_owned()),
        Some(Value::Array(a)) if a.is_empty() => ExtensionState::Enabled(id.to_owned()),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => ExtensionState::Enabled(id.to_owned()),
        Some(reasons @ (Value::Array(_) | Value::Number(_))) => {
            ExtensionState::Disabled(format!("disable_reasons {reasons}"))
        }
        Some(other) => ExtensionState::Unknown(format!("unexpected disable_reasons {other}")),
    }
}

fn firefox_extension(
    host: &dyn Host,
    profile: &str,
    ev: &mut Vec<Evidence>,
    user: &str,
) -> ExtensionState {
    let path = format!("{profile}/extensions.json");
    let state = match host.read_text(&path) {
        Ok(text) => firefox_state(&text),
        // Firefox writes extensions.json (its built-in add-ons at least) the first time a
        // profile opens; the "default" profile it makes beside "default-release" never is.
        Err(ReadError::NotFound) => {
            ExtensionState::NeverOpened(format!("{path} is absent: the profile was never opened"))
        }
        Err(e) => ExtensionState::Unknown(evidence::read_failure(&path, &e)),
    };
    ev.push(evidence::about(
        evidence::file(
            &path,
            Some(&format!("addons[id={FIREFOX_EXTENSION_ID}]")),
            describe(&state),
        ),
        user,
    ));
    state
}

/// The 1Password add-on in a Firefox `extensions.json`.
#[must_use]
pub fn firefox_state(text: &str) -> ExtensionState {
    let Ok(json) = serde_json::from_str::<Value>(text) else {
        return ExtensionState::Unknown("extensions.json is not JSON".to_owned());
    };
    let Some(addons) = json.get("addons").and_then(Value::as_array) else {
        return ExtensionState::Unknown("extensions.json has no addons list".to_owned());
    };
    let Some(addon) = addons
        .iter()
        .find(|a| a.get("id").and_then(Value::as_str) == Some(FIREFOX_EXTENSION_ID))
    else {
        return ExtensionState::Missing;
    };
    let active = addon.get("active").and_then(Value::as_bool);
    let user_disabled = addon.get("userDisabled").and_then(Value::as_bool);
    match (active, user_disabled) {
        (Some(true), Some(false) | None) => {
            ExtensionState::Enabled(FIREFOX_EXTENSION_ID.to_owned())
        }
        (Some(_), Some(true)) => ExtensionState::Disabled("userDisabled is true".to_owned()),
        (Some(false), _) => ExtensionState::Disabled("active is false".to_owned()),
        (None, _) => ExtensionState::Unknown("the add-on entry has no active flag".to_owned()),
    }
}

fn describe(state: &ExtensionState) -> String {
    match state {
        ExtensionState::Enabled(id) => format!("1Password extension {id} installed and enabled"),
        ExtensionState::Disabled(why) => format!("1Password extension installed but disabled ({why})"),
        ExtensionState::Missing => "1Password extension not installed".to_owned(),
        ExtensionState::NeverOpened(why) => why.clone(),
        ExtensionState::Unknown(why) => format!("could not tell: {why}"),
    }
}

/// What the saved-logins extraction records: only company logins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LoginList {
    Company(Vec<SavedLogin>),
    Unrecognised(String),
}

fn saved_logins(
    host: &dyn Host,
    profile: &str,
    domains: &[String],
    ev: &mut Vec<Evidence>,
    user: &str,
) -> SavedLogins {
    let extract = |read: ReadFile<'_>, path: &str| -> Result<String, ReadError> {
        let list = match sqlite::read_columns(
            read,
            path,
            MAX_LOGIN_DATA_BYTES,
            "logins",
            &["origin_url", "username_value"],
        ) {
            Ok(rows) => LoginList::Company(company_logins(&rows, domains)),
            Err(SqliteError::Read { path: p, error }) if p == path => return Err(error),
            Err(other) => LoginList::Unrecognised(other.to_string()),
        };
        Ok(serde_json::to_string(&list).expect("plain data serialises"))
    };
    let mut all = Vec::new();
    for file in ["Login Data", "Login Data For Account"] {
        let path = format!("{profile}/{file}");
        let got = host.read_extracted(&path, &extract);
        let (value, outcome) = match got {
            Err(ReadError::NotFound) => continue,
            Err(e) => {
                let why = evidence::read_failure(&path, &e);
                (why.clone(), Err(why))
            }
            Ok(text) => match serde_json::from_str::<LoginList>(&text) {
                Ok(LoginList::Company(found)) => (
                    format!("{} saved login(s) of company accounts", found.len()),
                    Ok(found),
                ),
                Ok(LoginList::Unrecognised(why)) => (why.clone(), Err(why)),
                Err(_) => {
                    let why = format!("{path}: unrecognised extraction");
                    (why.clone(), Err(why))
                }
            },
        };
        ev.push(evidence::about(
            evidence::file(&path, Some("logins(origin_url, username_value)"), value),
            user,
        ));
        match outcome {
            Ok(found) => all.extend(found),
            Err(why) => return SavedLogins::Unknown(why),
        }
    }
    SavedLogins::Found(all)
}

/// The rows (origin URL, user name) that belong to a company domain: the user name is an
/// address at that domain, or the site is that domain or below it.
#[must_use]
pub fn company_logins(rows: &[Vec<Option<String>>], domains: &[String]) -> Vec<SavedLogin> {
    let in_domain = |host: &str| {
        let host = host.to_ascii_lowercase();
        domains.iter().any(|d| {
            let d = d.trim().trim_start_matches('.').to_ascii_lowercase();
            !d.is_empty() && (host == d || host.ends_with(&format!(".{d}")))
        })
    };
    let mut out = Vec::new();
    for row in rows {
        let origin = row.first().cloned().flatten().unwrap_or_default();
        let username = row.get(1).cloned().flatten().unwrap_or_default();
        let site = url_host(&origin);
        let user_domain = username.rsplit_once('@').map(|(_, d)| d.to_owned());
        if in_domain(&site) || user_domain.as_deref().is_some_and(in_domain) {
            let login = SavedLogin { site, username };
            if !out.contains(&login) {
                out.push(login);
            }
        }
    }
    out
}

fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = host.rsplit('@').next().unwrap_or(host);
    host.split(':').next().unwrap_or(host).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chromium_state_reads_both_the_old_state_and_the_new_disable_reasons() {
        let id = CHROMIUM_EXTENSION_IDS[0];
        assert!(matches!(chromium_state(&json!({"state": 1}), id), ExtensionState::Enabled(_)));
        assert!(matches!(chromium_state(&json!({"state": 0}), id), ExtensionState::Disabled(_)));
        assert!(matches!(
            chromium_state(&json!({"disable_reasons": []}), id),
            ExtensionState::Enabled(_)
        ));
        assert!(matches!(
            chromium_state(&json!({"disable_reasons": [1]}), id),
            ExtensionState::Disabled(_)
        ));
        assert!(matches!(
            chromium_state(&json!({"disable_reasons": "x"}), id),
            ExtensionState::Unknown(_)
        ));
    }

    #[test]
    fn firefox_state_needs_active_and_not_user_disabled() {
        let doc = |addon: serde_json::Value| json!({"addons": [addon]}).to_string();
        let on = json!({"id": FIREFOX_EXTENSION_ID, "active": true, "userDisabled": false});
        assert!(matches!(firefox_state(&doc(on)), ExtensionState::Enabled(_)));
        let off = json!({"id": FIREFOX_EXTENSION_ID, "active": false, "userDisabled": true});
        assert!(matches!(firefox_state(&doc(off)), ExtensionState::Disabled(_)));
        let other = json!({"id": "other@example.com", "active": true});
        assert_eq!(firefox_state(&doc(other)), ExtensionState::Missing);
        assert!(matches!(firefox_state("{}"), ExtensionState::Unknown(_)));
    }

    #[test]
    fn profiles_ini_lists_profile_sections_only() {
        let ini = "[Install1]\nDefault=a.default-release\n\n[Profile0]\nName=x\nIsRelative=1\nPath=a.default-release\n\n[Profile1]\nIsRelative=0\nPath=/elsewhere/b\n[General]\nVersion=2\n";
        assert_eq!(
            parse_profiles_ini(ini),
            [
                ("a.default-release".to_owned(), true),
                ("/elsewhere/b".to_owned(), false)
            ]
        );
    }

    #[test]
    fn company_logins_match_the_user_domain_or_the_site_but_not_look_alikes() {
        let row = |o: &str, u: &str| vec![Some(o.to_owned()), Some(u.to_owned())];
        let rows = [
            row("https://github.com/login", "a@example.com"),
            row("https://sso.example.com/", "a"),
            row("https://example.com.evil.test/", "a"),
            row("https://x.test/", "a@notexample.com"),
        ];
        let found = company_logins(&rows, &["example.com".to_owned()]);
        let sites: Vec<&str> = found.iter().map(|l| l.site.as_str()).collect();
        assert_eq!(sites, ["github.com", "sso.example.com"]);
    }
}
