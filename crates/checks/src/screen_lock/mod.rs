//! Screen lock (Device Policy 3.1): every user with a graphical desktop must have a
//! password-protected lock that engages within the policy's idle limit (idle time until the
//! screen blanks plus any grace delay before a password is needed).

mod linux;
mod macos;
mod windows;

use posture_host::{Host, Platform};

use crate::system::System;
use posture_policy::ScreenLockRule;
use posture_schema::{Enforced, Evidence, Finding, Setting, Status, Subject};

use crate::evidence::duration;

/// Check id in reports.
pub const ID: &str = "screen_lock";
/// Check title in reports.
pub const TITLE: &str = "Screen lock";

/// This check, as the registry lists it.
pub const CHECK: crate::Check = crate::Check {
    id: ID,
    title: TITLE,
    rule: |rules| &rules.screen_lock,
    run: |host, rules, system| evaluate_on(&gather(host), &rules.screen_lock, system),
};

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScreenLockFacts {
    /// One entry per user (or session) with a graphical desktop.
    pub users: Vec<UserLock>,
    /// Set when the whole check could not be decided (for example the account list is
    /// unreadable); the reason is shown as the summary.
    pub undecided: Option<String>,
    /// Set when the machine has no graphical desktop at all, with how that was established.
    pub no_desktop: Option<String>,
    /// Everything read, with its source.
    pub evidence: Vec<Evidence>,
}

/// The effective lock setting of one user's desktop.
#[derive(Debug, Clone, PartialEq)]
pub struct UserLock {
    /// Account name.
    pub user: String,
    /// Desktop or locker name as shown to people: "GNOME", "KDE Plasma", "macOS", ...
    pub desktop: String,
    /// What the settings add up to.
    pub setting: LockSetting,
    /// The settings read, each with whether management enforces it.
    pub settings: Vec<Setting>,
    /// Whether management enforces the lock: usually every setting enforced; where any of
    /// several timers locks (Windows), the enforced timers alone must lock within the limit,
    /// so the probe gives the lock time they guarantee and evaluation compares it.
    pub enforcement: LockEnforcement,
}

/// Whether management enforces a user's lock.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum LockEnforcement {
    /// Every setting in [`UserLock::settings`] must be enforced (GNOME, KDE, Xfce, macOS).
    #[default]
    AllSettings,
    /// Management alone guarantees a password lock after this many seconds (`None`: it
    /// guarantees none), whatever the user changes (Windows: the first of several timers locks).
    Guarantees(Option<u64>),
}

/// What a user's settings add up to.
#[derive(Debug, Clone, PartialEq)]
pub enum LockSetting {
    /// A password is required after `seconds` of inactivity; `how` explains the sum
    /// (e.g. "idle-delay 300 s + lock-delay 0 s").
    LocksAfter {
        /// Idle seconds until a password is required.
        seconds: u64,
        /// How the number was reached.
        how: String,
    },
    /// The screen never locks with a password on idle, and why.
    NeverLocks {
        /// Why (lock disabled, idle never, no password).
        reason: String,
    },
    /// The settings could not be determined, and why.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// Reads the screen lock settings of every graphical user.
pub fn gather(host: &dyn Host) -> ScreenLockFacts {
    match host.platform() {
        Platform::Linux => linux::gather(host),
        Platform::Macos => macos::gather(host),
        Platform::Windows => windows::gather(host),
    }
}

/// Judges the facts against the rule.
#[must_use]
pub fn evaluate(facts: &ScreenLockFacts, rule: &ScreenLockRule, platform: Platform) -> Finding {
    evaluate_on(facts, rule, &System::unknown(platform))
}

/// Judges the facts against the rule, with fix steps for this system's desktop version.
#[must_use]
pub fn evaluate_on(facts: &ScreenLockFacts, rule: &ScreenLockRule, system: &System) -> Finding {
    let limit = u64::from(rule.max_idle_minutes) * 60;
    let subjects: Vec<Subject> = facts
        .users
        .iter()
        .map(|u| {
            let (status, summary) = match &u.setting {
                LockSetting::LocksAfter { seconds, how } if *seconds <= limit => (
                    Status::Pass,
                    format!("{}: locks after {} ({how})", u.desktop, duration(*seconds)),
                ),
                LockSetting::LocksAfter { seconds, how } => (
                    Status::Fail,
                    format!(
                        "{}: locks only after {} ({how}); the limit is {} minutes",
                        u.desktop,
                        duration(*seconds),
                        rule.max_idle_minutes
                    ),
                ),
                LockSetting::NeverLocks { reason } => (
                    Status::Fail,
                    format!("{}: never locks: {reason}", u.desktop),
                ),
                LockSetting::Unknown { reason } => {
                    (Status::Unknown, format!("{}: {reason}", u.desktop))
                }
            };
            let enforced = match u.enforcement {
                _ if u.settings.is_empty() => None,
                LockEnforcement::AllSettings => crate::enforcement::all_of(&u.settings),
                LockEnforcement::Guarantees(Some(s)) if s <= limit => Some(Enforced::Yes),
                LockEnforcement::Guarantees(_) => Some(
                    crate::enforcement::all_of(&u.settings)
                        .filter(|e| *e == Enforced::Unknown)
                        .unwrap_or(Enforced::No),
                ),
            };
            Subject {
                kind: "user".to_owned(),
                name: u.user.clone(),
                status,
                summary,
                settings: u.settings.clone(),
                enforced,
            }
        })
        .collect();

    let combined = Status::combine(subjects.iter().map(|s| s.status));
    let (status, summary) = if combined == Status::Fail {
        let failing: Vec<&str> = subjects
            .iter()
            .filter(|s| s.status == Status::Fail)
            .map(|s| s.name.as_str())
            .collect();
        (
            Status::Fail,
            format!(
                "no password lock within {} minutes for {}",
                rule.max_idle_minutes,
                failing.join(", ")
            ),
        )
    } else if let Some(reason) = &facts.undecided {
        (Status::Unknown, reason.clone())
    } else if subjects.is_empty() {
        match &facts.no_desktop {
            Some(why) => (Status::NotApplicable, format!("no graphical desktop: {why}")),
            None => (
                Status::Unknown,
                "no user with a graphical desktop was found, and the machine did not show that it has none"
                    .to_owned(),
            ),
        }
    } else if combined == Status::Unknown {
        let unknown: Vec<String> = subjects
            .iter()
            .filter(|s| s.status == Status::Unknown)
            .map(|s| format!("{} ({})", s.name, s.summary))
            .collect();
        (
            Status::Unknown,
            format!("could not tell for {}", unknown.join("; ")),
        )
    } else {
        (
            Status::Pass,
            format!(
                "every graphical user locks with a password within {} minutes",
                rule.max_idle_minutes
            ),
        )
    };

    let remediation = if status == Status::Fail {
        let mut steps = Vec::new();
        for u in &facts.users {
            let failing = subjects
                .iter()
                .any(|s| s.name == u.user && s.status == Status::Fail);
            if failing {
                for step in remediation(system, &u.desktop, rule.max_idle_minutes) {
                    if !steps.contains(&step) {
                        steps.push(step);
                    }
                }
            }
        }
        steps
    } else {
        Vec::new()
    };

    let finding = Finding {
        id: ID.to_owned(),
        title: TITLE.to_owned(),
        clause: rule.clause.clone(),
        status,
        summary,
        subjects,
        evidence: facts.evidence.clone(),
        remediation,
    };
    crate::enforcement::require(finding, rule.require_enforced, system.platform)
}

/// How to fix a failing lock on this platform and desktop.
fn remediation(system: &System, desktop: &str, minutes: u32) -> Vec<String> {
    let secs = u64::from(minutes) * 60;
    match system.platform {
        Platform::Macos => vec![
            format!(
                "System Settings > Lock Screen: set \"Start Screen Saver when inactive\" and \"Turn display off when inactive\" (on battery and on power adapter) to {minutes} minutes or less."
            ),
            "System Settings > Lock Screen: set \"Require password after screen saver begins or display is turned off\" to Immediately (or up to 5 seconds).".to_owned(),
        ],
        Platform::Windows => vec![
            format!(
                "Settings > System > Power & battery > Screen and sleep: turn off the screen and sleep after {minutes} minutes or less, on battery and plugged in."
            ),
            "Settings > Accounts > Sign-in options: set \"If you've been away, when should Windows require you to sign in again?\" to \"When PC wakes up from sleep\".".to_owned(),
            format!(
                "Or ask IT to set the policy \"Interactive logon: Machine inactivity limit\" to {secs} seconds or less (Computer Configuration > Windows Settings > Security Settings > Local Policies > Security Options)."
            ),
        ],
        Platform::Linux => linux_remediation(desktop, minutes, system.plasma_major),
    }
}

fn linux_remediation(desktop: &str, minutes: u32, plasma_major: Option<u32>) -> Vec<String> {
    let secs = u64::from(minutes) * 60;
    let d = desktop.to_ascii_lowercase();
    if d.contains("gnome") || d.contains("ubuntu") || d.contains("budgie") {
        vec![
            format!("Settings > Privacy & Security > Screen Lock: turn on \"Automatic Screen Lock\", set \"Blank Screen Delay\" to {minutes} minutes or less and \"Automatic Screen Lock Delay\" to \"Screen Turns Off\"."),
            format!("Or in a terminal as that user: gsettings set org.gnome.desktop.session idle-delay {secs}; gsettings set org.gnome.desktop.screensaver lock-enabled true; gsettings set org.gnome.desktop.screensaver lock-delay 0"),
            "If the setting is managed by IT (locked in /etc/dconf/db), ask IT to change it there and run `dconf update`.".to_owned(),
        ]
    } else if d.contains("cinnamon") {
        vec![
            format!(
                "System Settings > Screensaver: set \"Delay before starting the screensaver\" to {minutes} minutes or less and turn on \"Lock the computer when put to sleep\" and \"Lock the computer after the screensaver starts\" with no delay."
            ),
            format!(
                "Or as that user: gsettings set org.cinnamon.desktop.session idle-delay {secs}; gsettings set org.cinnamon.desktop.screensaver lock-enabled true; gsettings set org.cinnamon.desktop.screensaver lock-delay 0"
            ),
        ]
    } else if d.contains("mate") {
        vec![
            format!(
                "Control Center > Screensaver: set \"Regard the computer as idle after\" to {minutes} minutes or less, tick \"Activate screensaver when computer is idle\" and \"Lock screen when screensaver is active\"."
            ),
            format!(
                "Or as that user: gsettings set org.mate.session idle-delay {minutes}; gsettings set org.mate.screensaver lock-enabled true; gsettings set org.mate.screensaver idle-activation-enabled true"
            ),
        ]
    } else if d.contains("kde") || d.contains("plasma") {
        vec![
            format!(
                "System Settings > Screen Locking: tick \"Lock screen automatically\" after {minutes} minutes or less, and set \"Allow unlocking without password for\" to 0 seconds."
            ),
            match plasma_major {
                Some(n @ (5 | 6)) => kwriteconfig(n, minutes),
                // The session files did not say which Plasma this is: both, each labelled.
                _ => format!(
                    "Or as that user, on Plasma 6: {}; on Plasma 5: {}",
                    kwriteconfig(6, minutes).trim_start_matches("Or as that user: "),
                    kwriteconfig(5, minutes).trim_start_matches("Or as that user: ")
                ),
            },
        ]
    } else if d.contains("xfce") {
        vec![format!(
            "Settings > Screensaver: enable the screensaver, activate it after {minutes} minutes or less, and on the Lock Screen tab enable \"Lock Screen\" with \"Lock the screen after the screensaver is active\" and no delay."
        )]
    } else if d.contains("cosmic") {
        // cosmic-idle locks 5.5 s after the screen-off time (fade to black, then a pause).
        let ms = secs.saturating_mul(1000).saturating_sub(6000);
        vec![
            format!(
                "COSMIC Settings > Power & battery > Power saving options: set \"Turn off the screen after\" to less than {minutes} minutes (COSMIC locks about 6 seconds after the screen turns off)."
            ),
            format!(
                "Or as that user: mkdir -p ~/.config/cosmic/com.system76.CosmicIdle/v1 && echo 'Some({ms})' > ~/.config/cosmic/com.system76.CosmicIdle/v1/screen_off_time"
            ),
        ]
    } else if d.contains("sway") || d.contains("hypr") {
        vec![format!(
            "Start an idle daemon that locks after {minutes} minutes, e.g. in the sway config: exec swayidle -w timeout {secs} 'swaylock -f' before-sleep 'swaylock -f' (Hyprland: a hypridle listener with timeout = {secs} and on-timeout = loginctl lock-session, with lock_cmd = hyprlock)."
        )]
    } else {
        vec![format!(
            "Configure the desktop's screen locker to require a password after at most {minutes} minutes of inactivity."
        )]
    }
}

/// The command-line fix for Plasma `major` (kwriteconfig5 ships with Plasma 5's KDE Frameworks
/// 5, kwriteconfig6 with Plasma 6's Frameworks 6).
fn kwriteconfig(major: u32, minutes: u32) -> String {
    format!(
        "Or as that user: kwriteconfig{major} --file kscreenlockerrc --group Daemon --key Autolock true; kwriteconfig{major} --file kscreenlockerrc --group Daemon --key Timeout {minutes}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> ScreenLockRule {
        ScreenLockRule {
            enabled: true,
            clause: "Device Policy 3.1".into(),
            require_enforced: false,
            max_idle_minutes: 15,
        }
    }

    fn user(name: &str, setting: LockSetting) -> UserLock {
        UserLock {
            user: name.into(),
            desktop: "GNOME".into(),
            setting,
            settings: Vec::new(),
            enforcement: LockEnforcement::AllSettings,
        }
    }

    #[test]
    fn a_lock_at_exactly_the_limit_passes_and_one_second_more_fails() {
        let at = ScreenLockFacts {
            users: vec![user(
                "a",
                LockSetting::LocksAfter {
                    seconds: 900,
                    how: String::new(),
                },
            )],
            ..Default::default()
        };
        assert_eq!(evaluate(&at, &rule(), Platform::Linux).status, Status::Pass);
        let over = ScreenLockFacts {
            users: vec![user(
                "a",
                LockSetting::LocksAfter {
                    seconds: 901,
                    how: String::new(),
                },
            )],
            ..Default::default()
        };
        let f = evaluate(&over, &rule(), Platform::Linux);
        assert_eq!(f.status, Status::Fail);
        assert!(!f.remediation.is_empty());
    }

    #[test]
    fn one_unknown_user_makes_the_check_unknown_not_pass() {
        let facts = ScreenLockFacts {
            users: vec![
                user(
                    "a",
                    LockSetting::LocksAfter {
                        seconds: 60,
                        how: String::new(),
                    },
                ),
                user(
                    "b",
                    LockSetting::Unknown {
                        reason: "unreadable".into(),
                    },
                ),
            ],
            ..Default::default()
        };
        let f = evaluate(&facts, &rule(), Platform::Linux);
        assert_eq!(f.status, Status::Unknown);
        assert!(f.summary.contains('b'), "{}", f.summary);
    }

    #[test]
    fn a_failure_outranks_an_undecided_check() {
        let facts = ScreenLockFacts {
            users: vec![user(
                "a",
                LockSetting::NeverLocks {
                    reason: "idle-delay 0".into(),
                },
            )],
            undecided: Some("some other user unreadable".into()),
            ..Default::default()
        };
        assert_eq!(
            evaluate(&facts, &rule(), Platform::Linux).status,
            Status::Fail
        );
    }

    #[test]
    fn no_users_is_not_applicable_only_when_the_machine_shows_no_desktop() {
        let headless = ScreenLockFacts {
            no_desktop: Some("no display manager or desktop session installed".into()),
            ..Default::default()
        };
        assert_eq!(
            evaluate(&headless, &rule(), Platform::Linux).status,
            Status::NotApplicable
        );
        assert_eq!(
            evaluate(&ScreenLockFacts::default(), &rule(), Platform::Linux).status,
            Status::Unknown
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(5), "5 s");
        assert_eq!(duration(305), "5 min 5 s");
        assert_eq!(duration(900), "15 min");
        assert_eq!(duration(3900), "1 h 5 min");
        // Nothing is rounded up: 10 min 5 s is not "11 min".
        assert_eq!(duration(605), "10 min 5 s");
        assert_eq!(duration(3605), "1 h 5 s");
        assert_eq!(duration(0), "0 s");
    }
}
