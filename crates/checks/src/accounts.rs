//! Human accounts of a Linux system: `/etc/passwd` entries whose UID lies within
//! `UID_MIN..=UID_MAX` of `/etc/login.defs` (1000..=60000 when unset) and whose shell is a real
//! login shell.

use posture_host::{Host, ReadError};
use posture_schema::Evidence;

use crate::evidence;

/// One human account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// The human accounts, with the evidence of how they were found; `Err` when `/etc/passwd`
/// could not be read (the reason, for an `unknown` verdict).
pub fn human_accounts(host: &dyn Host, ev: &mut Vec<Evidence>) -> Result<Vec<Account>, String> {
    let (uid_min, uid_max) = uid_range(host, ev);
    let passwd = match host.read_text("/etc/passwd") {
        Ok(t) => t,
        Err(e) => {
            let why = evidence::read_failure("/etc/passwd", &e);
            ev.push(evidence::file("/etc/passwd", None, why.clone()));
            return Err(why);
        }
    };
    let accounts: Vec<Account> = parse_passwd(&passwd)
        .into_iter()
        .filter(|a| (uid_min..=uid_max).contains(&a.uid) && is_login_shell(&a.shell))
        .collect();
    ev.push(evidence::file(
        "/etc/passwd",
        None,
        format!(
            "human accounts (UID {uid_min}..{uid_max}, login shell): {}",
            if accounts.is_empty() {
                "none".to_owned()
            } else {
                accounts
                    .iter()
                    .map(|a| format!("{} ({})", a.name, a.uid))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    ));
    Ok(accounts)
}

fn uid_range(host: &dyn Host, ev: &mut Vec<Evidence>) -> (u32, u32) {
    let (mut min, mut max) = (1000, 60000);
    match host.read_text("/etc/login.defs") {
        Ok(text) => {
            for line in text.lines() {
                let mut parts = line.split_whitespace();
                match (
                    parts.next(),
                    parts.next().and_then(|v| v.parse::<u32>().ok()),
                ) {
                    (Some("UID_MIN"), Some(v)) => min = v,
                    (Some("UID_MAX"), Some(v)) => max = v,
                    _ => {}
                }
            }
            ev.push(evidence::file(
                "/etc/login.defs",
                Some("UID_MIN..UID_MAX"),
                format!("{min}..{max}"),
            ));
        }
        Err(ReadError::NotFound) => {
            ev.push(evidence::file(
                "/etc/login.defs",
                None,
                format!("absent: defaults {min}..{max}"),
            ));
        }
        Err(e) => ev.push(evidence::file(
            "/etc/login.defs",
            None,
            format!(
                "{}: defaults {min}..{max}",
                evidence::read_failure("/etc/login.defs", &e)
            ),
        )),
    }
    (min, max)
}

/// Parses `/etc/passwd` lines; malformed lines are skipped.
#[must_use]
pub fn parse_passwd(text: &str) -> Vec<Account> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(Account {
                name: f[0].to_owned(),
                uid: f[2].parse().ok()?,
                home: f[5].to_owned(),
                shell: f[6].to_owned(),
            })
        })
        .collect()
}

fn is_login_shell(shell: &str) -> bool {
    let base = shell.rsplit('/').next().unwrap_or(shell);
    !shell.is_empty() && !matches!(base, "nologin" | "false" | "sync" | "shutdown" | "halt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_accounts_and_nologin_shells_are_not_human() {
        let text = "root:x:0:0:root:/root:/bin/bash\n\
                    alice:x:1000:1000:Alice:/home/alice:/bin/bash\n\
                    svc:x:1001:1001::/var/svc:/usr/sbin/nologin\n\
                    nobody:x:65534:65534::/nonexistent:/bin/sh\n\
                    broken line\n";
        let all = parse_passwd(text);
        assert_eq!(all.len(), 4);
        let humans: Vec<_> = all
            .into_iter()
            .filter(|a| (1000..=60000).contains(&a.uid) && is_login_shell(&a.shell))
            .map(|a| a.name)
            .collect();
        assert_eq!(humans, ["alice"]);
    }
}
