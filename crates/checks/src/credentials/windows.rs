//! Credentials probe for Windows: the users signed in interactively (loaded hives with a
//! `Volatile Environment`), each with the profile folder that environment names
//! (`USERPROFILE`). 1Password 8 keeps its database in `%LOCALAPPDATA%\1Password`, which is
//! `AppData\Local` of that profile.

use posture_host::Host;
use posture_host::reg;
use posture_policy::CredentialsRule;

use super::{CredentialsFacts, UserPaths, browsers, gather_user, onepassword};
use crate::catalog::{self, Query};
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
        let spec = catalog::windows_user_profile(&user.sid);
        let profile = match catalog::run_reg_query(host, &spec, &mut facts.evidence) {
            Ok(Query::Keys(keys)) => profile_of(&keys),
            Ok(Query::Absent) => None,
            Err(why) => {
                missing.push(format!("{} ({why})", user.name));
                continue;
            }
        };
        let Some(profile) = profile else {
            facts.evidence.push(evidence::about(
                evidence::command(&spec, Some("USERPROFILE"), "absent: the profile folder is unknown"),
                &user.name,
            ));
            missing.push(format!("{} (no USERPROFILE in the session)", user.name));
            continue;
        };
        facts.evidence.push(evidence::about(
            evidence::command(&spec, Some("USERPROFILE"), profile.clone()),
            &user.name,
        ));
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
            "the profile folder of {} could not be read",
            missing.join(", ")
        ));
    }
    facts
}

/// `USERPROFILE` as a `/`-separated path: `C:/Users/jdoe`.
fn profile_of(keys: &[reg::RegKey]) -> Option<String> {
    keys.iter()
        .find_map(|k| k.value("USERPROFILE"))
        .map(|v| v.data.trim().replace('\\', "/"))
        .filter(|p| !p.is_empty())
}
