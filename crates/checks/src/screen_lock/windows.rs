//! Screen lock on Windows, for every user signed in interactively.
//!
//! A session locks at the first of: the machine inactivity limit (`InactivityTimeoutSecs`,
//! every user); the user's screen saver, when it is active, has a program, is secure and has a
//! timeout (policy values under `HKU\SID\Software\Policies\...` win over the user's own, key by
//! key), plus the screen saver grace period; sleep, when a password is required on wake
//! (`CONSOLELOCK`), per power source, group policy first; and on Modern Standby (S0 low power
//! idle) PCs, which `powercfg /a` names, the display turning off (`VIDEOIDLE`, per power
//! source) plus the user's "If you've been away, when should Windows require you to sign in
//! again?" delay (`DelayLockInterval`: absent or 0 is Windows's default "Every Time",
//! `0xFFFFFFFF` is "Never"); there the sleep timer leads to the same standby, so it counts with
//! `DelayLockInterval` too, not with `CONSOLELOCK`. On other PCs a display that merely turns
//! off does not lock.

use posture_host::Host;
use posture_host::reg::RegValue;
use posture_schema::{Enforcer, Evidence, Setting};

use super::{LockEnforcement, LockSetting, ScreenLockFacts, UserLock};
use crate::catalog::{self, WindowsUser, keys, power};
use crate::enforcement;
use crate::enforcement::windows::{MdmTrace, Origin, PolicyOrigins, policy_setting};
use crate::evidence;

/// `DelayLockInterval` meaning "Never" require sign-in after the display turns off.
const DELAY_LOCK_NEVER: u64 = 0xFFFF_FFFF;

/// Parses `powercfg /a`: whether Modern Standby (`S0 Low Power Idle`) is among the available
/// sleep states, which are the indented lines of the first block (the second block lists the
/// states that are not available, and on S3 PCs names S0 there). `None` when the first block
/// lists no state. Labels are translated; the state names in parentheses are not.
pub(crate) fn parse_sleep_states(text: &str) -> Option<bool> {
    let mut lines = text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .skip_while(|l| l.trim().is_empty());
    lines.next()?; // "The following sleep states are available on this system:"
    let available: Vec<&str> = lines
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with(char::is_whitespace))
        .collect();
    if available.is_empty() {
        return None;
    }
    Some(available.iter().any(|l| l.contains("S0 Low Power Idle")))
}

/// `InactivityTimeoutSecs` above this is refused by Windows (and means "not set").
const MAX_INACTIVITY: u64 = 599_940;
/// Windows's screen saver grace period when `ScreenSaverGracePeriod` is absent.
const DEFAULT_GRACE: u64 = 5;

/// Parses `powercfg /qh SCHEME_CURRENT SUBGROUP SETTING` for one setting: the last two
/// `0x........` values after the line naming the setting GUID are the AC and DC values (the
/// labels are translated; the GUIDs and hex values are not). `None` when the GUID is missing or
/// fewer than two values follow it.
pub(crate) fn parse_powercfg(text: &str, setting_guid: &str) -> Option<(u64, u64)> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find(&format!("guid: {}", setting_guid.to_ascii_lowercase()))?;
    let block = &text[at..];
    let values: Vec<u64> = block
        .lines()
        .filter_map(|l| {
            let (_, v) = l.rsplit_once(": ")?;
            let hex = v.trim().strip_prefix("0x")?;
            (hex.len() == 8).then(|| u64::from_str_radix(hex, 16).ok())?
        })
        .collect();
    match values.as_slice() {
        [.., ac, dc] => Some((*ac, *dc)),
        _ => None,
    }
}

fn named<'a>(values: &'a [RegValue], name: &str) -> Option<&'a RegValue> {
    values.iter().find(|v| v.name.eq_ignore_ascii_case(name))
}

/// Machine-wide facts shared by every user.
struct Machine {
    /// `InactivityTimeoutSecs`, when it sets a limit.
    inactivity: Option<u64>,
    grace: u64,
    /// Sleep seconds on (AC, DC) when a password is required on wake; `None` = no lock by sleep.
    sleep_lock: [(String, Option<u64>); 2],
    /// On a Modern Standby PC, display-off seconds on (AC, DC) (0 = never); `None` elsewhere.
    display_off: Option<[u64; 2]>,
    /// "Sleep after" seconds on (AC, DC) (0 = never), whether or not a password is required.
    standby: [u64; 2],
    /// Why Modern Standby could not be established, when it could not.
    standby_unknown: Option<String>,
    /// The machine-wide settings with their enforcement, for every user's result.
    settings: Vec<Setting>,
    /// Per power source (AC, DC): the lock time that policy alone guarantees (the inactivity
    /// limit; sleep with sign-in on wake when both come from policy), `None` for none.
    pinned: [Option<u64>; 2],
}

/// The machine inactivity limit as a setting, with an MDM trace when the MDM's
/// LocalPoliciesSecurityOptions policy sets it and the GPO the RSoP names.
fn inactivity_setting(
    host: &dyn Host,
    origins: &PolicyOrigins<'_>,
    n: u64,
    ev: &mut Vec<Evidence>,
) -> Setting {
    const NAME: &str = "InteractiveLogon_MachineInactivityLimit";
    const VALUE: &str = "InactivityTimeoutSecs";
    let mdm = match catalog::reg_values(
        host,
        &catalog::windows_reg_key(keys::SECURITY_OPTIONS_CSP),
        keys::SECURITY_OPTIONS_CSP,
        &[NAME],
        ev,
        None,
    ) {
        Ok(v) if named(&v, NAME).is_some() => {
            MdmTrace::Found(format!(r"{}\{NAME}", keys::SECURITY_OPTIONS_CSP))
        }
        Ok(_) => MdmTrace::Absent,
        Err(why) => MdmTrace::Unreadable(why),
    };
    let origin = origins.registry(keys::SYSTEM_POLICIES, VALUE, ev);
    policy_setting(VALUE, n.to_string(), keys::SYSTEM_POLICIES, VALUE, &origin, &mdm)
}

/// The DeviceLock CSP's inactivity lock, which an MDM sets without any `\Policies\` value.
/// Reported, not counted: how Windows desktops apply it beside the other timers is not
/// established here.
fn device_lock_csp(host: &dyn Host, ev: &mut Vec<Evidence>) -> Option<Setting> {
    const NAME: &str = "MaxInactivityTimeDeviceLock";
    let values = match catalog::reg_values(
        host,
        &catalog::windows_reg_key(keys::DEVICELOCK_CSP),
        keys::DEVICELOCK_CSP,
        &[NAME],
        ev,
        None,
    ) {
        Ok(v) => v,
        Err(why) => {
            return Some(enforcement::unknown(
                NAME,
                "unreadable",
                keys::DEVICELOCK_CSP,
                why,
            ));
        }
    };
    let v = named(&values, NAME)?;
    Some(enforcement::noted(
        enforcement::enforced(
            NAME,
            v.as_number().map_or_else(|| v.describe(), |m| format!("{m} min")),
            keys::DEVICELOCK_CSP,
            vec![enforcement::by(
                Enforcer::MDM_CSP,
                format!(r"{}\{NAME}", keys::DEVICELOCK_CSP),
                Some("MDM DeviceLock policy (PolicyManager)".to_owned()),
                Enforcer::BY_MANAGEMENT,
            )],
        ),
        "an MDM's DeviceLock policy (a native CSP, never under \\Policies\\); reported, not counted in the verdict",
    ))
}

fn machine(host: &dyn Host, ev: &mut Vec<Evidence>) -> Result<Machine, String> {
    let mut settings = Vec::new();
    let origins = PolicyOrigins::new(host);
    let v = catalog::reg_values(
        host,
        &catalog::windows_reg_key(keys::SYSTEM_POLICIES),
        keys::SYSTEM_POLICIES,
        &["InactivityTimeoutSecs"],
        ev,
        None,
    )?;
    let inactivity = match named(&v, "InactivityTimeoutSecs") {
        None => None,
        Some(value) => match value.as_number() {
            Some(n) if n > 0 && n <= MAX_INACTIVITY => Some(n),
            Some(_) => None,
            None => {
                return Err(format!(
                    "InactivityTimeoutSecs is not a number: {}",
                    value.describe()
                ));
            }
        },
    };
    let v = catalog::reg_values(
        host,
        &catalog::windows_reg_value(keys::WINLOGON, "ScreenSaverGracePeriod"),
        keys::WINLOGON,
        &["ScreenSaverGracePeriod"],
        ev,
        None,
    )?;
    let grace = match named(&v, "ScreenSaverGracePeriod") {
        None => DEFAULT_GRACE,
        Some(value) => value.as_number().ok_or_else(|| {
            format!(
                "ScreenSaverGracePeriod is not a number: {}",
                value.describe()
            )
        })?,
    };
    if let Some(n) = inactivity {
        settings.push(inactivity_setting(host, &origins, n, ev));
    }
    let (standby, standby_policy) = power_setting(
        host,
        &origins,
        power::SUB_SLEEP,
        power::STANDBYIDLE,
        "STANDBYIDLE",
        ev,
        &mut settings,
    )?;
    let (console_lock, console_policy) = power_setting(
        host,
        &origins,
        power::SUB_NONE,
        power::CONSOLELOCK,
        "CONSOLELOCK",
        ev,
        &mut settings,
    )?;
    let pick = |i: usize| match (console_lock[i], standby[i]) {
        (1, s) if s > 0 => Some(s),
        _ => None,
    };
    let spec = catalog::windows_sleep_states();
    let (display_off, standby_unknown) = match evidence::run_ok(host, &spec, ev) {
        Ok(out) => match parse_sleep_states(&out.stdout) {
            Some(true) => {
                ev.push(evidence::command(
                    &spec,
                    None,
                    "Modern Standby (S0 Low Power Idle) is available: the session locks when the display turns off",
                ));
                let (video, _) = power_setting(
                    host,
                    &origins,
                    power::SUB_VIDEO,
                    power::VIDEOIDLE,
                    "VIDEOIDLE",
                    ev,
                    &mut settings,
                )?;
                (Some(video), None)
            }
            Some(false) => {
                ev.push(evidence::command(
                    &spec,
                    None,
                    "no Modern Standby (S0 Low Power Idle) among the available sleep states: a display turning off does not lock",
                ));
                (None, None)
            }
            None => (
                None,
                Some(evidence::unrecognised(&spec, &out.stdout, ev, None)),
            ),
        },
        Err(why) => (None, Some(why)),
    };
    settings.extend(device_lock_csp(host, ev));
    // What policy alone guarantees on each power source: the inactivity limit, and (off Modern
    // Standby) sleep with sign-in on wake when both values come from policy.
    let pinned = [0, 1].map(|i| {
        let sleep = (display_off.is_none()
            && console_policy[i]
            && standby_policy[i]
            && console_lock[i] == 1
            && standby[i] > 0)
            .then_some(standby[i]);
        [inactivity, sleep].into_iter().flatten().min()
    });
    Ok(Machine {
        settings,
        pinned,
        inactivity,
        grace,
        display_off,
        standby_unknown,
        standby,
        sleep_lock: [
            ("AC power".to_owned(), pick(0)),
            ("battery".to_owned(), pick(1)),
        ],
    })
}

/// A power setting's value as people read it: CONSOLELOCK is yes/no, the others are seconds
/// (0 = never), printed like every other duration.
fn setting_value(alias: &str, value: u64) -> String {
    match (alias, value) {
        ("CONSOLELOCK", 0) => "no password on wake (0)".to_owned(),
        ("CONSOLELOCK", 1) => "password on wake (1)".to_owned(),
        ("CONSOLELOCK", n) => n.to_string(),
        (_, 0) => "never (0)".to_owned(),
        (_, n) => format!("{} ({n} s)", evidence::duration(n)),
    }
}

/// The (AC, DC) value of a power setting: group policy first, else the active plan.
fn power_setting(
    host: &dyn Host,
    origins: &PolicyOrigins<'_>,
    subgroup: &'static str,
    setting: &'static str,
    alias: &str,
    ev: &mut Vec<Evidence>,
    settings: &mut Vec<Setting>,
) -> Result<([u64; 2], [bool; 2]), String> {
    let key = format!(r"{}\{setting}", keys::POWER_POLICY);
    let policy = catalog::reg_values(
        host,
        &catalog::windows_power_policy(setting),
        &key,
        &["ACSettingIndex", "DCSettingIndex"],
        ev,
        None,
    )?;
    let spec = catalog::windows_power_setting(subgroup, setting);
    let out = evidence::run_ok(host, &spec, ev)?;
    let Some((ac, dc)) = parse_powercfg(&out.stdout, setting) else {
        let why = evidence::unrecognised(&spec, &out.stdout, ev, None);
        return Err(why);
    };
    ev.push(evidence::command(
        &spec,
        Some(alias),
        format!(
            "active plan: AC {}, DC {}",
            setting_value(alias, ac),
            setting_value(alias, dc)
        ),
    ));
    let overridden = |name: &str, plan: u64| -> Result<u64, String> {
        match named(&policy, name) {
            Some(v) => v
                .as_number()
                .ok_or_else(|| format!("{key} {name} is not a number: {}", v.describe())),
            None => Ok(plan),
        }
    };
    let values = [
        overridden("ACSettingIndex", ac)?,
        overridden("DCSettingIndex", dc)?,
    ];
    let mut from_policy = [false; 2];
    for (i, (index, power)) in [("ACSettingIndex", "AC"), ("DCSettingIndex", "DC")]
        .into_iter()
        .enumerate()
    {
        let name = format!("{alias} ({power})");
        let shown = setting_value(alias, values[i]);
        from_policy[i] = named(&policy, index).is_some();
        settings.push(if from_policy[i] {
            policy_setting(
                &name,
                shown,
                &key,
                index,
                &origins.registry(&key, index, ev),
                &MdmTrace::NotLooked,
            )
        } else {
            enforcement::user_set(&name, shown, "active power plan (powercfg /qh)")
        });
    }
    Ok((values, from_policy))
}

const SAVER_NAMES: &[&str] = &[
    "ScreenSaveActive",
    "ScreenSaverIsSecure",
    "ScreenSaveTimeOut",
    "SCRNSAVE.EXE",
];

/// What the user's desktop settings say: the secure screen saver (or why none locks), and the
/// `DelayLockInterval` for Modern Standby; and the settings read, with the screen saver
/// timeout when policy alone sets every value that makes it lock.
type UserDesktop = (
    Result<(u64, String), String>,
    Option<u64>,
    (Vec<Setting>, Option<u64>),
);

/// The user's secure screen saver timeout, if one locks the session, and how that was found;
/// and their `DelayLockInterval`.
fn screen_saver(
    host: &dyn Host,
    user: &WindowsUser,
    ev: &mut Vec<Evidence>,
) -> Result<UserDesktop, String> {
    let sid = user.sid.as_str();
    let policy_key =
        format!(r"HKU\{sid}\Software\Policies\Microsoft\Windows\Control Panel\Desktop");
    let user_key = format!(r"HKU\{sid}\Control Panel\Desktop");
    let policy = catalog::reg_values(
        host,
        &catalog::windows_user_desktop_policy(&user.sid),
        &policy_key,
        SAVER_NAMES,
        ev,
        Some(&user.name),
    )?;
    let mut own_names = SAVER_NAMES.to_vec();
    own_names.push("DelayLockInterval");
    let own = catalog::reg_values(
        host,
        &catalog::windows_user_desktop(&user.sid),
        &user_key,
        &own_names,
        ev,
        Some(&user.name),
    )?;
    let delay_lock = match named(&own, "DelayLockInterval") {
        None => None,
        Some(v) => Some(
            v.as_number()
                .ok_or_else(|| format!("DelayLockInterval is not a number: {}", v.describe()))?,
        ),
    };
    // Each value as a setting: policy's enforced, the user's own not.
    let mut read = Vec::new();
    for name in SAVER_NAMES {
        if let Some(v) = named(&policy, name) {
            read.push(policy_setting(
                name,
                v.describe(),
                &policy_key,
                name,
                &Origin::Unknown(
                    "a per-user policy: the user's own Resultant Set of Policy is not read"
                        .to_owned(),
                ),
                &MdmTrace::NotLooked,
            ));
        } else if let Some(v) = named(&own, name) {
            read.push(enforcement::user_set(name, v.describe(), user_key.clone()));
        }
    }
    if let Some(v) = named(&own, "DelayLockInterval") {
        read.push(enforcement::user_set(
            "DelayLockInterval",
            v.describe(),
            user_key.clone(),
        ));
    }
    let policy_flag = |name: &str| {
        named(&policy, name).is_some_and(|v| v.as_number() == Some(1) || v.data.trim() == "1")
    };
    let pinned = (policy_flag("ScreenSaveActive")
        && policy_flag("ScreenSaverIsSecure")
        && named(&policy, "SCRNSAVE.EXE").is_some_and(|v| !v.data.trim().is_empty()))
    .then(|| named(&policy, "ScreenSaveTimeOut").and_then(RegValue::as_number))
    .flatten()
    .filter(|t| *t > 0);
    let extra = (read, pinned);
    // Policy wins key by key.
    let eff = |name: &str| -> Option<(&RegValue, &'static str)> {
        named(&policy, name)
            .map(|v| (v, "policy"))
            .or_else(|| named(&own, name).map(|v| (v, "user")))
    };
    let flag = |name: &str| {
        eff(name).map(|(v, from)| (v.as_number() == Some(1) || v.data.trim() == "1", from))
    };
    let Some((true, active_from)) = flag("ScreenSaveActive") else {
        return Ok((Err("the screen saver is turned off".to_owned()), delay_lock, extra));
    };
    let Some((program, program_from)) =
        eff("SCRNSAVE.EXE").filter(|(v, _)| !v.data.trim().is_empty())
    else {
        return Ok((
            Err("no screen saver program is chosen, so none runs".to_owned()),
            delay_lock,
            extra,
        ));
    };
    let Some((true, secure_from)) = flag("ScreenSaverIsSecure") else {
        return Ok((
            Err(
                "the screen saver does not ask for a password on resume (ScreenSaverIsSecure is not 1)"
                    .to_owned(),
            ),
            delay_lock,
            extra,
        ));
    };
    let Some((timeout, timeout_from)) = eff("ScreenSaveTimeOut") else {
        return Ok((Err("no screen saver timeout is set".to_owned()), delay_lock, extra));
    };
    let Some(seconds) = timeout.as_number() else {
        return Err(format!(
            "ScreenSaveTimeOut is not a number: {}",
            timeout.describe()
        ));
    };
    if seconds == 0 {
        return Ok((Err("the screen saver timeout is 0".to_owned()), delay_lock, extra));
    }
    let froms = [active_from, program_from, secure_from, timeout_from];
    let source = if froms.iter().all(|f| *f == "policy") {
        "policy"
    } else if froms.contains(&"policy") {
        "policy and user settings"
    } else {
        "user settings"
    };
    Ok((
        Ok((
            seconds,
            format!(
                "secure screen saver {} after {} ({source})",
                program.data.trim(),
                evidence::duration(seconds)
            ),
        )),
        delay_lock,
        extra,
    ))
}

/// One user's lock, the settings it rests on, and the lock time policy alone guarantees on
/// every power source (the worst source's).
fn judge(
    host: &dyn Host,
    m: &Machine,
    user: &WindowsUser,
    ev: &mut Vec<Evidence>,
) -> (LockSetting, Vec<Setting>, Option<u64>) {
    let (saver, delay_lock, (read, saver_pinned)) = match screen_saver(host, user, ev) {
        Ok(s) => s,
        Err(reason) => {
            return (
                LockSetting::Unknown { reason },
                m.settings.clone(),
                None,
            );
        }
    };
    let mut settings = read;
    settings.extend(m.settings.iter().cloned());
    let saver_pinned = saver_pinned.map(|t| t.saturating_add(m.grace));
    let guaranteed = m
        .pinned
        .iter()
        .map(|p| [*p, saver_pinned].into_iter().flatten().min())
        .try_fold(0, |worst: u64, p| p.map(|p| worst.max(p)));
    (judge_lock(m, saver, delay_lock), settings, guaranteed)
}

fn judge_lock(
    m: &Machine,
    saver: Result<(u64, String), String>,
    delay_lock: Option<u64>,
) -> LockSetting {
    let mut common: Vec<(u64, String)> = Vec::new();
    if let Some(n) = m.inactivity {
        common.push((
            n,
            format!("machine inactivity limit {}", evidence::duration(n)),
        ));
    }
    let mut not_locking = Vec::new();
    match &saver {
        Ok((s, how)) => common.push((
            s.saturating_add(m.grace),
            format!("{how} + {} grace", evidence::duration(m.grace)),
        )),
        Err(why) => not_locking.push(why.clone()),
    }
    let mut worst: Option<(u64, String)> = None;
    for (i, (source, sleep)) in m.sleep_lock.iter().enumerate() {
        let mut candidates = common.clone();
        // On Modern Standby PCs sleep is the same S0 standby the display-off leads to: signing
        // in on resume is governed by DelayLockInterval, not by CONSOLELOCK (below).
        if let Some(s) = sleep.filter(|_| m.display_off.is_none()) {
            candidates.push((
                s,
                format!(
                    "sleep after {} on {source} with sign-in on wake",
                    evidence::duration(s)
                ),
            ));
        }
        if let Some(display) = m.display_off.map(|d| d[i]) {
            // Standby starts when the display turns off or the sleep timer ends, the first.
            let entry = [display, m.standby[i]].into_iter().filter(|v| *v > 0).min();
            let how_entry = |e: u64| {
                if e == display {
                    format!("display off after {}", evidence::duration(e))
                } else {
                    format!("sleep after {}", evidence::duration(e))
                }
            };
            match (entry.unwrap_or(0), delay_lock) {
                (0, _) => not_locking.push(format!(
                    "on {source} neither the display turns off nor the PC sleeps"
                )),
                (_, Some(DELAY_LOCK_NEVER)) => not_locking.push(
                    "\"If you've been away\" is Never: Windows does not ask for sign-in after the display turns off (DelayLockInterval 0xFFFFFFFF)".to_owned(),
                ),
                (d, delay) => {
                    let delay = delay.unwrap_or(0);
                    candidates.push((
                        d.saturating_add(delay),
                        format!(
                            "{} on {source} (Modern Standby), sign-in required {}",
                            how_entry(d),
                            if delay == 0 {
                                "every time (DelayLockInterval 0 or absent)".to_owned()
                            } else {
                                format!("after {} away (DelayLockInterval)", evidence::duration(delay))
                            }
                        ),
                    ));
                }
            }
        }
        let Some(first) = candidates.into_iter().min_by_key(|(s, _)| *s) else {
            if m.inactivity.is_none() {
                not_locking.push("no machine inactivity limit".to_owned());
            }
            if m.display_off.is_none() {
                not_locking.push(format!(
                    "on {source} the PC never sleeps with sign-in on wake"
                ));
            }
            not_locking.dedup();
            if let Some(why) = &m.standby_unknown {
                // A Modern Standby PC may still lock when its display turns off.
                return LockSetting::Unknown {
                    reason: format!(
                        "no other lock applies on {source}, and whether the display turning off locks (Modern Standby) could not be told: {why}"
                    ),
                };
            }
            return LockSetting::NeverLocks {
                reason: not_locking.join("; "),
            };
        };
        if worst.as_ref().is_none_or(|(w, _)| first.0 > *w) {
            worst = Some(first);
        }
    }
    match worst {
        Some((seconds, how)) => LockSetting::LocksAfter { seconds, how },
        None => LockSetting::Unknown {
            reason: "no power source was examined".to_owned(),
        },
    }
}

pub(super) fn gather(host: &dyn Host) -> ScreenLockFacts {
    let mut ev = Vec::new();
    let users = match catalog::windows_interactive_users(host, &mut ev) {
        Ok(u) => u,
        Err(reason) => {
            return ScreenLockFacts {
                undecided: Some(reason),
                evidence: ev,
                ..ScreenLockFacts::default()
            };
        }
    };
    if users.is_empty() {
        return ScreenLockFacts {
            no_desktop: Some("nobody is signed in interactively (no loaded user hive has a Volatile Environment)".to_owned()),
            evidence: ev,
            ..ScreenLockFacts::default()
        };
    }
    let machine = match machine(host, &mut ev) {
        Ok(m) => m,
        Err(reason) => {
            return ScreenLockFacts {
                undecided: Some(reason),
                evidence: ev,
                ..ScreenLockFacts::default()
            };
        }
    };
    let judged = users
        .iter()
        .map(|u| {
            let (setting, settings, guaranteed) = judge(host, &machine, u, &mut ev);
            UserLock {
                user: u.name.clone(),
                desktop: "Windows".to_owned(),
                setting,
                settings,
                enforcement: LockEnforcement::Guarantees(guaranteed),
            }
        })
        .collect();
    ScreenLockFacts {
        users: judged,
        evidence: ev,
        ..ScreenLockFacts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STANDBY: &str = "Power Scheme GUID: 381b4222-f694-41f0-9685-ff5bb260df2e  (Balanced)\r\n  Subgroup GUID: 238c9fa8-0aad-41ed-83f4-97be242c8f20  (Sleep)\r\n    Power Setting GUID: 29f6c1db-86da-48c5-9fdb-f2b67b1f44da  (Sleep after)\r\n      Minimum Possible Setting: 0x00000000\r\n      Maximum Possible Setting: 0xffffffff\r\n      Possible Settings increment: 0x00000001\r\n      Possible Settings units: Seconds\r\n    Current AC Power Setting Index: 0x00000708\r\n    Current DC Power Setting Index: 0x00000384\r\n\r\n";

    #[test]
    fn powercfg_values_are_the_last_two_hex_numbers_of_the_setting() {
        assert_eq!(
            parse_powercfg(STANDBY, power::STANDBYIDLE),
            Some((1800, 900))
        );
    }

    #[test]
    fn translated_labels_do_not_matter() {
        let german = STANDBY
            .replace(
                "Current AC Power Setting Index",
                "Index der aktuellen Wechselstromeinstellung",
            )
            .replace(
                "Current DC Power Setting Index",
                "Index der aktuellen Gleichstromeinstellung",
            );
        assert_eq!(
            parse_powercfg(&german, power::STANDBYIDLE),
            Some((1800, 900))
        );
    }

    #[test]
    fn another_setting_or_no_values_is_unrecognised() {
        assert_eq!(parse_powercfg(STANDBY, power::CONSOLELOCK), None);
        assert_eq!(
            parse_powercfg(
                "Power Setting GUID: 29f6c1db-86da-48c5-9fdb-f2b67b1f44da\r\n",
                power::STANDBYIDLE
            ),
            None
        );
    }

    const S0: &str = "The following sleep states are available on this system:\r\n    Standby (S0 Low Power Idle) Network Connected\r\n    Hibernate\r\n    Fast Startup\r\n\r\nThe following sleep states are not available on this system:\r\n    Standby (S1)\r\n        The system firmware does not support this standby state.\r\n        This standby state is disabled when S0 low power idle is supported.\r\n\r\n";
    const S3: &str = "The following sleep states are available on this system:\r\n    Standby (S3)\r\n    Hibernate\r\n    Hybrid Sleep\r\n    Fast Startup\r\n\r\nThe following sleep states are not available on this system:\r\n    Standby (S1)\r\n        The system firmware does not support this standby state.\r\n\r\n    Standby (S0 Low Power Idle)\r\n        The system firmware does not support this standby state.\r\n\r\n";

    #[test]
    fn power_values_print_as_durations_like_every_other_platform() {
        assert_eq!(setting_value("STANDBYIDLE", 1800), "30 min (1800 s)");
        assert_eq!(setting_value("VIDEOIDLE", 605), "10 min 5 s (605 s)");
        assert_eq!(setting_value("VIDEOIDLE", 0), "never (0)");
        assert_eq!(setting_value("CONSOLELOCK", 1), "password on wake (1)");
    }

    #[test]
    fn modern_standby_counts_only_among_the_available_states() {
        assert_eq!(parse_sleep_states(S0), Some(true));
        // S3 PCs name S0 too, among the states that are not available.
        assert_eq!(parse_sleep_states(S3), Some(false));
        assert_eq!(parse_sleep_states(""), None);
        assert_eq!(parse_sleep_states("Something else\r\n\r\n"), None);
    }

    proptest! {
        #[test]
        fn arbitrary_output_never_panics(text in "\\PC{0,300}") {
            let _ = parse_powercfg(&text, power::STANDBYIDLE);
            let _ = parse_sleep_states(&text);
        }

        #[test]
        fn truncated_output_never_panics(cut in 0usize..600) {
            let text: String = STANDBY.chars().take(cut).collect();
            let _ = parse_powercfg(&text, power::STANDBYIDLE);
        }
    }
}
