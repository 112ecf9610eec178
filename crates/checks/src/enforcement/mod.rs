//! Whether management enforces a setting, and what does: the per-setting results every check
//! attaches to its subjects, and the policy's `require_enforced`.
//!
//! A setting is *enforced* when something outside the user's own settings pins its effective
//! value: an MDM or manually installed configuration profile, a Group Policy or MDM policy, a
//! dconf lock, a KDE or xfconf kiosk lock, a root-owned modprobe rule. Management whose value is
//! not in effect (a profile the user's earlier choice outlived, a dconf lock file never
//! compiled) is listed with the value it asks for, and the setting is not enforced. What the
//! machine does not show is `unknown` with the reason, never a guess. Enforcement alone never
//! changes a verdict; [`require`] applies a policy that demands it.

pub mod macos;
pub mod windows;

use posture_host::{Host, Platform, ReadError};
use posture_schema::{Enforced, Enforcer, Evidence, Finding, Setting, Status};

/// A setting whose value is the user's own (or a default) and that nothing pins.
#[must_use]
pub fn user_set(name: &str, value: impl Into<String>, source: impl Into<String>) -> Setting {
    Setting {
        name: name.to_owned(),
        value: value.into(),
        source: source.into(),
        enforced: Enforced::No,
        enforced_by: Vec::new(),
        notes: Vec::new(),
    }
}

/// A setting pinned by `by`.
#[must_use]
pub fn enforced(
    name: &str,
    value: impl Into<String>,
    source: impl Into<String>,
    by: Vec<Enforcer>,
) -> Setting {
    Setting {
        name: name.to_owned(),
        value: value.into(),
        source: source.into(),
        enforced: Enforced::Yes,
        enforced_by: by,
        notes: Vec::new(),
    }
}

/// A setting whose enforcement the machine did not show, and why.
#[must_use]
pub fn unknown(
    name: &str,
    value: impl Into<String>,
    source: impl Into<String>,
    why: impl Into<String>,
) -> Setting {
    Setting {
        name: name.to_owned(),
        value: value.into(),
        source: source.into(),
        enforced: Enforced::Unknown,
        enforced_by: Vec::new(),
        notes: vec![why.into()],
    }
}

/// Whether management enforces a verdict that needs every one of these settings: all
/// enforced, any one not, else unknown; `None` for no settings.
#[must_use]
pub fn all_of(settings: &[Setting]) -> Option<Enforced> {
    Enforced::combine(settings.iter().map(|s| s.enforced))
}

/// One enforcer.
#[must_use]
pub fn by(kind: &str, id: impl Into<String>, name: Option<String>, removable_by: &str) -> Enforcer {
    Enforcer {
        kind: kind.to_owned(),
        id: id.into(),
        name,
        removable_by: removable_by.to_owned(),
        value: None,
    }
}

/// Whether only root can change the files that decide a value (each file and its directory,
/// through [`Host::metadata`]): `Yes` when every one is root-owned and writable by nobody else,
/// `No` naming each one that is not, else `Unknown` naming each one whose owner could not be
/// read. A file that does not exist is skipped (its directory still counts: whoever may write
/// it may create the file). The notes say why, and the evidence records each owner and mode read, once.
pub fn root_only_files(
    host: &dyn Host,
    paths: &[String],
    evidence: &mut Vec<Evidence>,
) -> (Enforced, Vec<String>) {
    let mut chain: Vec<&str> = Vec::new();
    for p in paths {
        let dir = p
            .rsplit_once('/')
            .map_or("/", |(d, _)| if d.is_empty() { "/" } else { d });
        for q in [p.as_str(), dir] {
            if !chain.contains(&q) {
                chain.push(q);
            }
        }
    }
    let mut open = Vec::new();
    let mut unknown = Vec::new();
    // Several settings rest on the same files: each owner is recorded once per finding.
    let mut record = |p: &str, value: String| {
        if !evidence
            .iter()
            .any(|e| e.source == p && e.key.as_deref() == Some("owner"))
        {
            evidence.push(crate::evidence::file(p, Some("owner"), value));
        }
    };
    for p in chain {
        match host.metadata(p) {
            Ok(m) if m.root_only() => record(p, m.describe()),
            Ok(m) => {
                record(p, m.describe());
                open.push(if m.root_owned {
                    format!("{p} is {}: writable by others than root", m.describe())
                } else {
                    format!(
                        "{p} is {}: not root's, so its owner can change it",
                        m.describe()
                    )
                });
            }
            Err(ReadError::NotFound) => {}
            Err(e) => {
                let why = crate::evidence::read_failure(p, &e);
                record(p, why.clone());
                unknown.push(format!("who may change {p} is unknown: {why}"));
            }
        }
    }
    if !open.is_empty() {
        (Enforced::No, open)
    } else if !unknown.is_empty() {
        (Enforced::Unknown, unknown)
    } else {
        (Enforced::Yes, Vec::new())
    }
}

/// The same setting with a note added.
#[must_use]
pub fn noted(mut setting: Setting, note: impl Into<String>) -> Setting {
    setting.notes.push(note.into());
    setting
}

/// Applies `require_enforced`: when `required`, a passing subject whose settings are not all
/// enforced fails (one not enforced), or becomes unknown (enforcement unknown, or the check
/// reports no settings for it), and the finding's verdict follows its subjects. Without the
/// requirement the finding is returned as it is.
#[must_use]
pub fn require(mut finding: Finding, required: bool, platform: Platform) -> Finding {
    if !required || finding.status != Status::Pass {
        return finding;
    }
    let mut failed = Vec::new();
    let mut undecided = Vec::new();
    for s in &mut finding.subjects {
        if s.status != Status::Pass {
            continue;
        }
        let named = |e: Enforced| -> String {
            let names: Vec<&str> = s
                .settings
                .iter()
                .filter(|x| x.enforced == e)
                .map(|x| x.name.as_str())
                .collect();
            if names.is_empty() {
                "its settings".to_owned()
            } else {
                names.join(", ")
            }
        };
        match s.enforced {
            Some(Enforced::Yes) => {}
            Some(Enforced::No) => {
                s.summary = format!(
                    "{}; but nothing enforces {} and the policy requires enforcement",
                    s.summary,
                    named(Enforced::No)
                );
                s.status = Status::Fail;
                failed.push(s.name.clone());
            }
            Some(Enforced::Unknown) => {
                s.summary = format!(
                    "{}; whether management enforces {} is unknown, and the policy requires enforcement",
                    s.summary,
                    named(Enforced::Unknown)
                );
                s.status = Status::Unknown;
                undecided.push(s.name.clone());
            }
            None => {
                s.summary = format!(
                    "{}; posture does not read what enforces this, and the policy requires enforcement",
                    s.summary
                );
                s.status = Status::Unknown;
                undecided.push(s.name.clone());
            }
        }
    }
    if !failed.is_empty() {
        finding.status = Status::Fail;
        finding.summary = format!(
            "passes, but management does not enforce it for {} (require_enforced)",
            failed.join(", ")
        );
        finding.remediation = vec![remedy(platform)];
    } else if !undecided.is_empty() {
        finding.status = Status::Unknown;
        finding.summary = format!(
            "passes, but whether management enforces it is unknown for {} (require_enforced)",
            undecided.join(", ")
        );
    }
    finding
}

/// How to have a setting enforced on this platform.
fn remedy(platform: Platform) -> String {
    match platform {
        Platform::Macos => "Ask IT to enforce these settings with a configuration profile from the company's MDM that the user cannot remove.",
        Platform::Windows => "Ask IT to enforce these settings with Group Policy or an Intune (MDM) policy.",
        Platform::Linux => "Ask IT to enforce these settings: a dconf lock compiled with `dconf update` (GNOME), an immutable `[$i]` key in /etc/xdg (KDE), an xfconf `locked=\"*\"` property (Xfce), or a root-owned modprobe rule.",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use posture_schema::Subject;

    fn finding(settings: Vec<Setting>) -> Finding {
        let mut subject = Subject::new("user", "alice", Status::Pass, "locks after 5 min".into());
        subject.enforced = all_of(&settings);
        subject.settings = settings;
        Finding {
            id: "screen_lock".into(),
            title: "Screen lock".into(),
            clause: "Device Policy 3.1".into(),
            status: Status::Pass,
            summary: "every graphical user locks".into(),
            subjects: vec![subject],
            evidence: vec![],
            remediation: vec![],
        }
    }

    fn pinned() -> Setting {
        enforced(
            "idle-delay",
            "uint32 300",
            "/etc/dconf/db/local",
            vec![by(
                Enforcer::DCONF_LOCK,
                "/etc/dconf/db/local",
                None,
                Enforcer::BY_LOCAL_ADMIN,
            )],
        )
    }

    #[test]
    fn without_the_requirement_a_user_set_pass_stays_a_pass() {
        let f = finding(vec![user_set("idle-delay", "uint32 300", "user db")]);
        assert_eq!(require(f.clone(), false, Platform::Linux), f);
    }

    #[test]
    fn a_required_pass_that_nothing_enforces_fails_and_says_why() {
        let f = finding(vec![
            pinned(),
            user_set("lock-delay", "uint32 0", "user db"),
        ]);
        let f = require(f, true, Platform::Linux);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.subjects[0].status, Status::Fail);
        assert!(
            f.subjects[0].summary.contains("lock-delay"),
            "{}",
            f.subjects[0].summary
        );
        assert!(!f.subjects[0].summary.contains("idle-delay"));
        assert!(f.remediation[0].contains("dconf update"));
    }

    #[test]
    fn a_required_pass_that_is_enforced_stays_a_pass() {
        let f = require(finding(vec![pinned()]), true, Platform::Linux);
        assert_eq!(f.status, Status::Pass);
    }

    #[test]
    fn unknown_enforcement_or_none_reported_is_never_a_pass_when_required() {
        let f = finding(vec![unknown("x", "1", "reg", "origin not traced")]);
        assert_eq!(require(f, true, Platform::Windows).status, Status::Unknown);
        let f = require(finding(vec![]), true, Platform::Macos);
        assert_eq!(f.status, Status::Unknown);
        assert!(f.subjects[0].summary.contains("does not read"));
    }

    #[test]
    fn a_failing_finding_is_left_alone() {
        let mut f = finding(vec![]);
        f.status = Status::Fail;
        f.subjects[0].status = Status::Fail;
        assert_eq!(require(f.clone(), true, Platform::Linux), f);
    }
}
