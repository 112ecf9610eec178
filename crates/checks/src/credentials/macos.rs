//! Credentials probe for macOS: the user at the console (the one whose session the agent can
//! see, as for the screen lock), with the home `/Users/NAME`. 1Password's database is in an
//! app group container, which macOS shows to the agent only with Full Disk Access; without it
//! the read is denied and the verdict `unknown`, with that hint.

use posture_host::Host;
use posture_policy::CredentialsRule;

use super::{CredentialsFacts, UserPaths, browsers, gather_user, onepassword};
use crate::catalog::{self, Console};

pub(super) fn gather(host: &dyn Host, rule: &CredentialsRule) -> CredentialsFacts {
    let mut facts = CredentialsFacts::default();
    let user = match catalog::macos_console(host, &mut facts.evidence) {
        Ok(Console::User(user)) => user,
        Ok(Console::LoginWindow(owner)) => {
            facts.no_users = Some(format!(
                "nobody is logged in at the console (the login window shows, owner {owner})"
            ));
            return facts;
        }
        Err(why) => {
            facts.undecided = Some(why);
            return facts;
        }
    };
    let home = format!("/Users/{}", user.name());
    let paths = UserPaths {
        user: user.name().to_owned(),
        onepassword: onepassword::macos_locations(&home),
        applications: vec![
            ("1Password 8", "/Applications/1Password.app".to_owned()),
            ("1Password 7", "/Applications/1Password 7.app".to_owned()),
        ],
        browsers: browsers::macos_dirs(&home),
        ssh_dir: format!("{home}/.ssh"),
    };
    let judged = gather_user(host, &paths, rule, &mut facts.evidence);
    facts.users.push(judged);
    facts
}
