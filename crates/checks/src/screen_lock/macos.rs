//! Screen lock on macOS, for the user logged in at the console.
//!
//! Three settings combine: whether a password is required after the screen saver starts or
//! the display sleeps, and after what delay (`sysadminctl -screenLock status`, which must run
//! inside the user's own session); when the screen saver starts (`idleTime` in the user's
//! ByHost `com.apple.screensaver` domain, unless a configuration profile sets it); and when the
//! display or the system sleeps on each power source (`pmset -g custom`). The lock engages at
//! the first of these timers plus the delay; the worst power source counts.
//!
//! Users other than the console user have no live session whose keybag can be asked, so they
//! are not judged; at the login window nobody is, and the check is not applicable.

use posture_host::Host;
use posture_host::plist::PlistValue;
use posture_schema::{Enforced, Evidence, Setting};

use super::{LockEnforcement, LockSetting, ScreenLockFacts, UserLock};
use crate::enforcement::{self, macos::Profiles};
use crate::catalog::{self, Console, ConsoleUser};
use crate::evidence;

/// The password requirement as `sysadminctl` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordDelay {
    /// A password is required this many seconds after the screen saver or display sleep.
    After(u64),
    /// No password is required.
    Off,
}

/// Parses `sysadminctl -screenLock status` (it writes to standard error, behind an NSLog
/// prefix). `None` for anything else, including empty output.
pub(crate) fn parse_sysadminctl_screen_lock(text: &str) -> Option<PasswordDelay> {
    for line in text.lines() {
        if line.contains("screenLock delay is immediate")
            || line.contains("screenLock is immediate")
        {
            return Some(PasswordDelay::After(0));
        }
        if line.contains("screenLock is off") || line.contains("screenLock delay is off") {
            return Some(PasswordDelay::Off);
        }
        if let Some((_, rest)) = line.split_once("screenLock delay is ") {
            let mut words = rest.split_whitespace();
            let n = words.next()?.parse::<u64>().ok()?;
            return match words.next() {
                Some("seconds" | "second") => Some(PasswordDelay::After(n)),
                _ => None,
            };
        }
    }
    None
}

/// One power source's timers from `pmset -g custom`, in minutes (0 = never).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PowerSource {
    /// `AC Power`, `Battery Power`, `UPS Power`.
    pub(crate) name: String,
    /// Minutes until the display sleeps.
    pub(crate) display_sleep: Option<u64>,
    /// Minutes until the system sleeps.
    pub(crate) system_sleep: Option<u64>,
}

/// Parses `pmset -g custom`: a `NAME Power:` header per source, then indented `key value`
/// lines whose value starts with an integer (a parenthesised note about a power assertion may
/// follow it). `None` when no source section is found or a line is unrecognised.
pub(crate) fn parse_pmset_custom(text: &str) -> Option<Vec<PowerSource>> {
    let mut sources: Vec<PowerSource> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            let name = line.trim().strip_suffix(':')?;
            if !name.ends_with("Power") {
                return None;
            }
            sources.push(PowerSource {
                name: name.to_owned(),
                display_sleep: None,
                system_sleep: None,
            });
            continue;
        }
        let source = sources.last_mut()?;
        let mut parts = line.split_whitespace();
        let key = parts.next()?;
        let value = parts.next();
        let minutes = || value.and_then(|v| v.parse::<u64>().ok());
        match key {
            "displaysleep" => source.display_sleep = Some(minutes()?),
            "sleep" => source.system_sleep = Some(minutes()?),
            _ => {}
        }
    }
    (!sources.is_empty()).then_some(sources)
}

/// The screen saver settings a configuration profile forces, each with the file it is in.
#[derive(Debug, Clone, Default, PartialEq)]
struct Managed {
    idle_time: Option<(u64, String)>,
    ask_for_password: Option<(bool, String)>,
    ask_delay: Option<(u64, String)>,
    /// The Managed Preferences files read, by path.
    files: Vec<(String, PlistValue)>,
}

const DOMAIN: &str = "com.apple.screensaver";

impl Managed {
    /// A setting forced by the file at `path`: enforced when `effective` is the managed value
    /// (or is not known apart from it), otherwise listed with what the profile asks for.
    #[allow(clippy::too_many_arguments)]
    fn setting(
        &self,
        profiles: &Profiles<'_>,
        key: &str,
        path: &str,
        managed: &str,
        effective: Option<(&str, &str)>,
        ev: &mut Vec<Evidence>,
    ) -> Setting {
        let plist = self
            .files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .unwrap_or(PlistValue::Dict(Default::default()));
        let (mut by, note) = profiles.enforcer(path, &plist, DOMAIN, key, ev);
        let mut setting = match effective {
            Some((value, source)) if value != managed => {
                by.value = Some(managed.to_owned());
                let mut s = enforcement::user_set(key, value, source);
                s.enforced_by.push(by);
                s.notes.push(format!(
                    "the managed value {managed} ({path}) is not in effect: {value} is (macOS keeps a choice the user made before the profile arrived)"
                ));
                s
            }
            Some((value, source)) => enforcement::enforced(key, value, source, vec![by]),
            None => enforcement::enforced(key, managed, path, vec![by]),
        };
        setting.notes.extend(note);
        setting
    }
}

pub(super) fn gather(host: &dyn Host) -> ScreenLockFacts {
    let mut ev = Vec::new();
    let user = match catalog::macos_console(host, &mut ev) {
        Ok(Console::User(u)) => u,
        Ok(Console::LoginWindow(owner)) => {
            return ScreenLockFacts {
                no_desktop: Some(format!(
                    "nobody is logged in at the console (the login window is showing; /dev/console is owned by {owner}); the last user's setting is not judged"
                )),
                evidence: ev,
                ..ScreenLockFacts::default()
            };
        }
        Err(reason) => {
            return ScreenLockFacts {
                undecided: Some(reason),
                evidence: ev,
                ..ScreenLockFacts::default()
            };
        }
    };
    let mut settings = Vec::new();
    let setting = judge_user(host, &user, &mut ev, &mut settings);
    ScreenLockFacts {
        users: vec![UserLock {
            user: user.name().to_owned(),
            desktop: "macOS".to_owned(),
            setting,
            settings,
            enforcement: LockEnforcement::AllSettings,
        }],
        evidence: ev,
        ..ScreenLockFacts::default()
    }
}

/// The user's lock, and into `settings` the screen saver settings it rests on with their
/// enforcement. Display and system sleep (`pmset`) are not among them: they can only make the
/// lock come sooner, so whether a pass holds rests on the screen saver start and the password
/// requirement alone.
fn judge_user(
    host: &dyn Host,
    user: &ConsoleUser,
    ev: &mut Vec<Evidence>,
    settings: &mut Vec<Setting>,
) -> LockSetting {
    let subject = user.name();
    let profiles = Profiles::new(host);
    // Profiles: the user's scope wins over the device's, both over the user's own values.
    let mut managed = Managed::default();
    for scope in [None, Some(user)] {
        let path = catalog::macos_managed_preferences("com.apple.screensaver", scope);
        match catalog::read_managed_preferences(host, &path, ev, subject) {
            Ok(Some(p)) => {
                managed.files.push((path.clone(), p.clone()));
                if let Some(v) = p.get("idleTime").and_then(PlistValue::as_integer) {
                    let v = u64::try_from(v).unwrap_or(0);
                    ev.push(evidence::about(
                        evidence::file(&path, Some("idleTime"), seconds(v)),
                        subject,
                    ));
                    managed.idle_time = Some((v, path.clone()));
                }
                if let Some(v) = p.get("askForPassword").and_then(PlistValue::as_bool) {
                    ev.push(evidence::about(
                        evidence::file(&path, Some("askForPassword"), v.to_string()),
                        subject,
                    ));
                    managed.ask_for_password = Some((v, path.clone()));
                }
                if let Some(v) = p
                    .get("askForPasswordDelay")
                    .and_then(PlistValue::as_integer)
                {
                    let v = u64::try_from(v).unwrap_or(u64::MAX);
                    ev.push(evidence::about(
                        evidence::file(&path, Some("askForPasswordDelay"), evidence::duration(v)),
                        subject,
                    ));
                    managed.ask_delay = Some((v, path.clone()));
                }
            }
            Ok(None) => {}
            Err(reason) => return LockSetting::Unknown { reason },
        }
    }

    // Password requirement: the live answer from the user's session.
    let spec = catalog::macos_screen_lock_status(user);
    let (grace, grace_how) = match evidence::run_ok(host, &spec, ev) {
        Ok(out) => {
            // sysadminctl logs to standard error; standard output is read too in case a future
            // release moves it.
            let text = format!("{}\n{}", out.stderr, out.stdout);
            match parse_sysadminctl_screen_lock(&text) {
                Some(PasswordDelay::Off) => {
                    ev.push(evidence::about(
                        evidence::command(&spec, None, "screenLock is off"),
                        subject,
                    ));
                    let source = evidence::command_name(&spec);
                    password_settings(&managed, &profiles, &source, false, None, settings, ev);
                    return LockSetting::NeverLocks {
                        reason: "no password is required after the screen saver starts or the display sleeps (sysadminctl: screenLock is off)".to_owned(),
                    };
                }
                Some(PasswordDelay::After(d)) => {
                    ev.push(evidence::about(
                        evidence::command(
                            &spec,
                            None,
                            format!("password required after {}", evidence::duration(d)),
                        ),
                        subject,
                    ));
                    let source = evidence::command_name(&spec);
                    password_settings(&managed, &profiles, &source, true, Some(d), settings, ev);
                    (d, format!("password after {}", evidence::duration(d)))
                }
                None => {
                    let reason = evidence::unrecognised(&spec, &text, ev, Some(subject));
                    match (&managed.ask_for_password, &managed.ask_delay) {
                        (Some((true, path)), Some((d, delay_path))) => {
                            for (key, at, value) in [
                                ("askForPassword", path, "true".to_owned()),
                                ("askForPasswordDelay", delay_path, d.to_string()),
                            ] {
                                let s = managed.setting(&profiles, key, at, &value, None, ev);
                                settings.push(enforcement::noted(
                                    s,
                                    "the user's session did not confirm it (sysadminctl's answer was unrecognised)",
                                ));
                            }
                            (
                            *d,
                            format!(
                                "password after {} as the profile {path} requires (not confirmed by the user's session)",
                                evidence::duration(*d)
                            ),
                        )
                        }
                        _ => return LockSetting::Unknown { reason },
                    }
                }
            }
        }
        Err(reason) => return LockSetting::Unknown { reason },
    };

    // Screen saver start.
    let saver = if let Some((v, path)) = &managed.idle_time {
        let mut s = managed.setting(&profiles, "idleTime", path, &v.to_string(), None, ev);
        if *v == 0 {
            // The profile turns the screen saver off: the lock then rests on display sleep,
            // which the user controls.
            s.enforced = Enforced::No;
            s.notes.push(
                "the profile turns the screen saver off (0), so the lock rests on display sleep, which the user controls".to_owned(),
            );
        }
        settings.push(s);
        Some((*v, format!("screen saver {} (profile {path})", idle(*v))))
    } else {
        let spec = catalog::macos_screensaver_idle_time(user);
        match host.run(&spec) {
            Ok(out) if out.success() => match out.stdout.trim().parse::<u64>() {
                Ok(v) => {
                    ev.push(evidence::about(
                        evidence::command(&spec, Some("idleTime"), seconds(v)),
                        subject,
                    ));
                    settings.push(enforcement::user_set(
                        "idleTime",
                        v.to_string(),
                        evidence::command_name(&spec),
                    ));
                    Some((v, format!("screen saver {}", idle(v))))
                }
                Err(_) => {
                    let reason = evidence::unrecognised(&spec, &out.stdout, ev, Some(subject));
                    return LockSetting::Unknown { reason };
                }
            },
            Ok(out) if out.status == Some(1) && out.stderr.contains("does not exist") => {
                // Never set: macOS uses its default, which is not counted as a lock trigger
                // (leaving a trigger out can only make the computed lock later, never earlier).
                ev.push(evidence::about(
                    evidence::command(
                        &spec,
                        Some("idleTime"),
                        "not set (the macOS default applies; not counted)",
                    ),
                    subject,
                ));
                settings.push(enforcement::user_set(
                    "idleTime",
                    "not set",
                    evidence::command_name(&spec),
                ));
                None
            }
            Ok(out) => {
                let reason = evidence::exit_failure(&spec, &out);
                ev.push(evidence::about(
                    evidence::command(&spec, None, reason.clone()),
                    subject,
                ));
                return LockSetting::Unknown { reason };
            }
            Err(e) => {
                let reason = evidence::command_failure(&spec, &e);
                ev.push(evidence::about(
                    evidence::command(&spec, None, reason.clone()),
                    subject,
                ));
                return LockSetting::Unknown { reason };
            }
        }
    };

    // Display and system sleep per power source.
    let spec = catalog::macos_power_settings();
    let out = match evidence::run_ok(host, &spec, ev) {
        Ok(out) => out,
        Err(reason) => return LockSetting::Unknown { reason },
    };
    let Some(sources) = parse_pmset_custom(&out.stdout) else {
        let reason = evidence::unrecognised(&spec, &out.stdout, ev, None);
        return LockSetting::Unknown { reason };
    };
    let idle_trigger = saver.filter(|(v, _)| *v > 0);
    let mut worst: Option<(u64, String)> = None;
    for source in &sources {
        let (Some(display), Some(sleep)) = (source.display_sleep, source.system_sleep) else {
            let reason = format!(
                "{} shows no displaysleep or sleep value for {}",
                evidence::command_name(&spec),
                source.name
            );
            ev.push(evidence::command(&spec, None, reason.clone()));
            return LockSetting::Unknown { reason };
        };
        let effective = effective_system_sleep(display, sleep);
        ev.push(evidence::command(
            &spec,
            Some(&source.name),
            format!(
                "displaysleep {}, sleep {}; idle system sleep {}",
                idle(display * 60),
                idle(sleep * 60),
                match effective {
                    0 => "never (the display never sleeps, or sleep is 0)".to_owned(),
                    m if m == sleep => format!("after {}", idle(m * 60)),
                    m => format!(
                        "after {} (it never starts before the display sleeps)",
                        idle(m * 60)
                    ),
                }
            ),
        ));
        let Some((first, how)) = first_trigger(idle_trigger.as_ref(), &source.name, display, sleep)
        else {
            return LockSetting::NeverLocks {
                reason: format!(
                    "on {} neither the screen saver, the display nor the system ever goes to sleep on idle (displaysleep {}, sleep {}; the system does not sleep on idle before the display), so the password is never asked for",
                    source.name,
                    idle(display * 60),
                    idle(sleep * 60)
                ),
            };
        };
        let total = first.saturating_add(grace);
        if worst.as_ref().is_none_or(|(w, _)| total > *w) {
            worst = Some((total, format!("{how} + {grace_how}")));
        }
    }
    match worst {
        Some((seconds, how)) => LockSetting::LocksAfter { seconds, how },
        None => LockSetting::Unknown {
            reason: format!("{} lists no power source", evidence::command_name(&spec)),
        },
    }
}

/// `askForPassword` and `askForPasswordDelay` as the user's session answers them (`ask`, and
/// the delay when a password is asked), each enforced when a profile forces that same value.
fn password_settings(
    managed: &Managed,
    profiles: &Profiles<'_>,
    source: &str,
    ask: bool,
    delay: Option<u64>,
    settings: &mut Vec<Setting>,
    ev: &mut Vec<Evidence>,
) {
    let ask_value = ask.to_string();
    settings.push(match &managed.ask_for_password {
        Some((m, path)) => managed.setting(
            profiles,
            "askForPassword",
            path,
            &m.to_string(),
            Some((&ask_value, source)),
            ev,
        ),
        None => enforcement::user_set("askForPassword", ask_value.clone(), source),
    });
    if let Some(d) = delay {
        let value = d.to_string();
        settings.push(match &managed.ask_delay {
            Some((m, path)) => managed.setting(
                profiles,
                "askForPasswordDelay",
                path,
                &m.to_string(),
                Some((&value, source)),
                ev,
            ),
            None => enforcement::user_set("askForPasswordDelay", value, source),
        });
    }
}

/// Minutes until the system sleeps on idle, 0 meaning never. Idle system sleep never starts
/// before the display sleeps (`pmset` itself warns when `sleep` is set below `displaysleep`,
/// and stock laptops ship `sleep 1` beside a display sleep of several minutes), so the effective
/// value is the later of the two; a display that never sleeps keeps the system awake on idle.
pub(crate) fn effective_system_sleep(display: u64, sleep: u64) -> u64 {
    if display == 0 || sleep == 0 {
        0
    } else {
        sleep.max(display)
    }
}

/// The first idle timer after which the password is asked for on one power source: the screen
/// saver, the display sleep or the effective system sleep, in seconds, with how it was reached.
/// `None` when none of them ever starts.
pub(crate) fn first_trigger(
    screen_saver: Option<&(u64, String)>,
    source: &str,
    display: u64,
    sleep: u64,
) -> Option<(u64, String)> {
    let mut triggers: Vec<(u64, String)> = Vec::new();
    if let Some((v, how)) = screen_saver {
        triggers.push((*v, how.clone()));
    }
    if display > 0 {
        triggers.push((
            display * 60,
            format!("display sleep {} on {source}", idle(display * 60)),
        ));
    }
    let system = effective_system_sleep(display, sleep);
    if system > 0 && system != display {
        triggers.push((
            system * 60,
            format!("system sleep {} on {source}", idle(system * 60)),
        ));
    }
    triggers.into_iter().min_by_key(|(s, _)| *s)
}

/// A value in seconds as recorded, with its reading: "600 s (10 min)".
fn seconds(v: u64) -> String {
    format!("{v} s ({})", idle(v))
}

/// An idle timer in seconds, 0 meaning never.
fn idle(seconds: u64) -> String {
    if seconds == 0 {
        "never".to_owned()
    } else {
        evidence::duration(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PMSET_LAPTOP: &str = "Battery Power:\n lidwake              1\n standbydelayhigh     86400\n displaysleep         10\n sleep                1 (sleep prevented by bluetoothd, coreaudiod)\n disksleep            10\nAC Power:\n lidwake              1\n displaysleep         0\n sleep                0\n";

    #[test]
    fn sysadminctl_lines_are_found_behind_the_nslog_prefix() {
        assert_eq!(
            parse_sysadminctl_screen_lock(
                "2024-08-19 22:17:55.934 sysadminctl[55361:106849336] screenLock delay is immediate\n"
            ),
            Some(PasswordDelay::After(0))
        );
        assert_eq!(
            parse_sysadminctl_screen_lock(
                "2024-08-19 22:18:02.101 sysadminctl[55370:106849512] screenLock delay is 300 seconds\n"
            ),
            Some(PasswordDelay::After(300))
        );
        assert_eq!(
            parse_sysadminctl_screen_lock(
                "2024-08-19 22:18:09.447 sysadminctl[55377:106849688] screenLock is off\n"
            ),
            Some(PasswordDelay::Off)
        );
        assert_eq!(parse_sysadminctl_screen_lock(""), None);
        assert_eq!(
            parse_sysadminctl_screen_lock("screenLock delay is soon\n"),
            None
        );
    }

    #[test]
    fn pmset_sections_give_minutes_per_power_source_despite_assertion_notes() {
        let sources = parse_pmset_custom(PMSET_LAPTOP).unwrap();
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].name, "Battery Power");
        assert_eq!(sources[0].display_sleep, Some(10));
        assert_eq!(sources[0].system_sleep, Some(1));
        assert_eq!(sources[1].display_sleep, Some(0));
    }

    #[test]
    fn pmset_output_without_sections_is_unrecognised() {
        assert_eq!(parse_pmset_custom(""), None);
        assert_eq!(parse_pmset_custom(" displaysleep 10\n"), None);
        assert_eq!(
            parse_pmset_custom("Something else:\n displaysleep 10\n"),
            None
        );
    }

    #[test]
    fn system_sleep_never_starts_before_the_display_sleeps() {
        assert_eq!(effective_system_sleep(10, 1), 10);
        assert_eq!(effective_system_sleep(2, 1), 2);
        assert_eq!(effective_system_sleep(10, 30), 30);
        assert_eq!(effective_system_sleep(0, 1), 0);
        assert_eq!(effective_system_sleep(10, 0), 0);
    }

    #[test]
    fn sleep_1_beside_display_sleep_10_locks_at_10_minutes_not_1() {
        let (seconds, how) = first_trigger(None, "AC Power", 10, 1).unwrap();
        assert_eq!(seconds, 600);
        assert_eq!(how, "display sleep 10 min on AC Power");
    }

    #[test]
    fn display_never_and_no_screen_saver_never_triggers_whatever_sleep_says() {
        assert_eq!(first_trigger(None, "AC Power", 0, 1), None);
        assert_eq!(first_trigger(None, "AC Power", 0, 0), None);
        let saver = (300, "screen saver 5 min".to_owned());
        assert_eq!(
            first_trigger(Some(&saver), "AC Power", 0, 1).map(|t| t.0),
            Some(300)
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_arbitrary_text(text in "\\PC{0,300}") {
            let _ = parse_sysadminctl_screen_lock(&text);
            let _ = parse_pmset_custom(&text);
        }

        #[test]
        fn pmset_like_text_never_panics(lines in proptest::collection::vec("( [a-z]{1,12} +[0-9a-z()]{0,6}|[A-Za-z ]{0,10}Power:)", 0..12)) {
            let _ = parse_pmset_custom(&lines.join("\n"));
        }
    }
}
