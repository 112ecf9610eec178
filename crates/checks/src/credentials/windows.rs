//! Credentials probe for Windows: the users signed in interactively (loaded hives with a
//! `Volatile Environment`), each with the profile folder that environment names
//! (`USERPROFILE`). 1Password 8 keeps its database in `%LOCALAPPDATA%\1Password`, which is
//! `AppData\Local` of that profile.

use posture_host::Host;
use posture_policy::CredentialsRule;

use super::{CredentialsFacts, UserPaths, browsers, gather_user, onepassword};
use crate::catalog;
use crate::evidence;

pub(super) fn gather(host: &dyn Host, rule: &CredentialsRule) -> CredentialsFacts {
    let mut facts = CredentialsFacts::default();
    let users = match catalog::windows_interactive_users(host, &mut facts.evidence) {
        Ok(users) => users,
        Err(why) => {
            facts.undecided = Some(why);
            return facts;
        }
    };
    if users.is_empty() {
        facts.no_users = Some("nobody is signed in interactively".to_owned());
        return facts;
    }
    let mut missing = Vec::new();
    for user in users {
        let Some(profile) = user.profile.clone() else {
            facts.evidence.push(evidence::about(
                evidence::registry(
                    &format!(r"HKU\{}\Volatile Environment", user.sid.as_str()),
                    "USERPROFILE",
                    "absent: the profile folder is unknown",
                ),
                &user.name,
            ));
            missing.push(user.name.clone());
            continue;
        };
        let local = format!("{profile}/AppData/Local");
        let paths = UserPaths {
            user: user.name.clone(),
            onepassword: onepassword::windows_locations(&local),
            applications: vec![
                ("1Password 8", format!("{local}/1Password/app/8/1Password.exe")),
                (
                    "1Password 8 (for all users)",
                    "C:/Program Files/1Password/app/8/1Password.exe".to_owned(),
                ),
            ],
            browsers: browsers::windows_dirs(&profile),
            ssh_dir: format!("{profile}/.ssh"),
        };
        let judged = gather_user(host, &paths, rule, &mut facts.evidence);
        facts.users.push(judged);
    }
    if !missing.is_empty() {
        facts.undecided = Some(format!(
            "the profile folder of {} is not in the session's environment",
            missing.join(", ")
        ));
    }
    facts
}
