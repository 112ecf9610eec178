//! Credentials probe for Linux: files only. The users are the human accounts of `/etc/passwd`
//! (UID range of `/etc/login.defs`, a login shell) whose home exists.

use posture_host::Host;
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

pub(super) fn gather(host: &dyn Host, rule: &CredentialsRule) -> CredentialsFacts {
    let mut facts = CredentialsFacts::default();
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
