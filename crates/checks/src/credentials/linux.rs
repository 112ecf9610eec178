//! Credentials probe for Linux: files only. The users are the human accounts of `/etc/passwd`
//! (UID range of `/etc/login.defs`, a login shell) whose home exists, on a machine with a
//! graphical login (a desktop session installed); a server without one is not judged.

use posture_host::{Host, ReadError};
use posture_policy::CredentialsRule;

use super::{CredentialsFacts, UserPaths, browsers, gather_user, onepassword};
use crate::accounts;
use crate::evidence;

/// Where the 1Password application lives when installed system-wide: the .deb/.rpm package,
/// the Snap, the Flatpak.
const APPLICATIONS: &[(&str, &str)] = &[
    ("1Password (package)", "/opt/1Password/1password"),
    ("1Password (Snap)", "/snap/bin/1password"),
    (
        "1Password (Flatpak)",
        "/var/lib/flatpak/app/com.onepassword.OnePassword",
    ),
];

/// Where desktop sessions are installed, as display managers list them.
const SESSION_DIRS: [&str; 2] = ["/usr/share/xsessions", "/usr/share/wayland-sessions"];

/// Whether a desktop session is installed; `false` only when every session folder is absent
/// or holds no session (a folder that cannot be read counts as "maybe": the users are judged).
fn has_desktop(host: &dyn Host, ev: &mut Vec<posture_schema::Evidence>) -> bool {
    let mut seen = Vec::new();
    for dir in SESSION_DIRS {
        match host.list_dir(dir) {
            Ok(names) => {
                let sessions: Vec<&String> =
                    names.iter().filter(|n| n.ends_with(".desktop")).collect();
                if !sessions.is_empty() {
                    ev.push(evidence::directory(
                        dir,
                        format!("desktop sessions installed: {}", sessions.len()),
                    ));
                    return true;
                }
                seen.push(format!("{dir}: no session"));
            }
            Err(ReadError::NotFound) => seen.push(format!("{dir}: absent")),
            Err(e) => {
                ev.push(evidence::directory(dir, evidence::read_failure(dir, &e)));
                return true;
            }
        }
    }
    ev.push(evidence::derived(
        "desktop sessions",
        format!("none installed ({})", seen.join("; ")),
    ));
    false
}

pub(super) fn gather(host: &dyn Host, rule: &CredentialsRule) -> CredentialsFacts {
    let mut facts = CredentialsFacts::default();
    if !has_desktop(host, &mut facts.evidence) {
        facts.no_users = Some(
            "no graphical login: no desktop session is installed (/usr/share/xsessions and /usr/share/wayland-sessions hold none)"
                .to_owned(),
        );
        return facts;
    }
    let accounts = match accounts::human_accounts(host, &mut facts.evidence) {
        Ok(a) => a,
        Err(why) => {
            facts.undecided = Some(why);
            return facts;
        }
    };
    for account in &accounts {
        match host.exists(&account.home) {
            Ok(true) => {}
            Ok(false) => {
                facts.evidence.push(evidence::about(
                    evidence::directory(&account.home, "absent: the account has no home, so no credentials of its own"),
                    &account.name,
                ));
                continue;
            }
            Err(e) => {
                // Judged anyway: each read below says what it could not see.
                facts.evidence.push(evidence::about(
                    evidence::directory(&account.home, evidence::read_failure(&account.home, &e)),
                    &account.name,
                ));
            }
        }
        let home = account.home.trim_end_matches('/');
        let mut applications: Vec<(&'static str, String)> = APPLICATIONS
            .iter()
            .map(|(label, path)| (*label, (*path).to_owned()))
            .collect();
        applications.push((
            "1Password (Flatpak, per user)",
            format!("{home}/.local/share/flatpak/app/com.onepassword.OnePassword"),
        ));
        let paths = UserPaths {
            user: account.name.clone(),
            onepassword: onepassword::linux_locations(home),
            applications,
            browsers: browsers::linux_dirs(home),
            ssh_dir: format!("{home}/.ssh"),
        };
        let user = gather_user(host, &paths, rule, &mut facts.evidence);
        facts.users.push(user);
    }
    if facts.users.is_empty() {
        facts.no_users = Some(
            "no human account with a home (see /etc/passwd): nobody's credentials to judge"
                .to_owned(),
        );
    }
    facts
}
