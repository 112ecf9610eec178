//! COSMIC (System76's desktop, Pop!_OS 24.04's default): cosmic-idle turns the screen off after
//! `screen_off_time` of inactivity and then locks the session.
//!
//! What COSMIC's source shows (cosmic-idle, cosmic-session, cosmic-greeter, libcosmic's
//! cosmic-config, cosmic-settings-daemon):
//!
//! - cosmic-session starts `cosmic-idle` and `cosmic-greeter` (which, run as a user, is the lock
//!   screen) in every COSMIC session.
//! - cosmic-idle reads the cosmic-config entry `com.system76.CosmicIdle` version 1. When
//!   `screen_off_time` (milliseconds, `None` = never) elapses it fades the screen to black over
//!   5 s, turns the outputs off, and 0.5 s later runs the `LockScreen` system action (by default
//!   `loginctl lock-session`, whose logind `Lock` signal the lock screen obeys). Nothing else
//!   turns that lock off: with the screen set to never turn off there is no idle lock.
//! - `suspend_on_{ac,battery}_time` suspend the machine; the lock screen also locks before sleep,
//!   but whether the machine really suspends (inhibitors, hardware) files do not show, so the
//!   suspend timers are reported and never counted as a lock.
//! - cosmic-config keeps one RON value per file: the user's `~/.config/cosmic/<id>/v<N>/<key>`,
//!   else the system default `<data dir>/cosmic/<id>/v<N>/<key>` from the first data directory
//!   that has `cosmic/<id>/v<N>` (`~/.local/share`, `/usr/local/share`, `/usr/share`), else the
//!   program's built-in default (cosmic-idle: 15 min screen off).
//! - The `LockScreen` command comes from `com.system76.CosmicSettings.Shortcuts` v1
//!   `system_actions` (a RON map): the system file, with the user's file laid over it.
//!
//! A value posture cannot read, or a lock command other than the stock one, is unknown.

use posture_host::ReadError;

use super::Context;
use crate::accounts::Account;
use crate::evidence;
use crate::screen_lock::LockSetting;

const IDLE_ID: &str = "com.system76.CosmicIdle";
const SHORTCUTS_ID: &str = "com.system76.CosmicSettings.Shortcuts";
/// cosmic-idle's built-in defaults (`cosmic-idle-config`), in milliseconds.
const DEFAULT_SCREEN_OFF_MS: Option<u32> = Some(15 * 60 * 1000);
const DEFAULT_SUSPEND_ON_AC_MS: Option<u32> = Some(30 * 60 * 1000);
const DEFAULT_SUSPEND_ON_BATTERY_MS: Option<u32> = Some(15 * 60 * 1000);
/// The fade to black before the outputs turn off, then the pause before the lock command.
const FADE_MS: u64 = 5_000;
const LOCK_DELAY_MS: u64 = 500;
/// What cosmic-idle runs when no `LockScreen` action is configured, and the stock action.
const STOCK_LOCK_COMMAND: &str = "loginctl lock-session";
const IDLE_BINARY: &str = "/usr/bin/cosmic-idle";
const LOCKER_BINARY: &str = "/usr/bin/cosmic-greeter";

pub(super) fn judge(cx: &mut Context<'_>, account: &Account) -> LockSetting {
    for (bin, what) in [
        (IDLE_BINARY, "cosmic-idle, which locks COSMIC on idle"),
        (LOCKER_BINARY, "cosmic-greeter, COSMIC's lock screen"),
    ] {
        match cx.present(bin) {
            Ok(true) => {
                if cx.first_time(bin_note(bin)) {
                    cx.push(evidence::file(bin, None, format!("present ({what})")));
                }
            }
            Ok(false) => {
                cx.about(account, evidence::file(bin, None, "absent"));
                return LockSetting::Unknown {
                    reason: format!(
                        "{bin} is not installed ({what}); how this COSMIC session locks is unknown"
                    ),
                };
            }
            Err(e) => {
                let why = evidence::read_failure(bin, &e);
                cx.about(account, evidence::file(bin, None, why.clone()));
                return LockSetting::Unknown { reason: why };
            }
        }
    }

    let idle = match Entry::locate(cx, account, IDLE_ID) {
        Ok(e) => e,
        Err(reason) => return LockSetting::Unknown { reason },
    };
    let mut get = |key: &str, default: Option<u32>| idle.millis(cx, account, key, default);
    let screen_off = match get("screen_off_time", DEFAULT_SCREEN_OFF_MS) {
        Ok(v) => v,
        Err(reason) => return LockSetting::Unknown { reason },
    };
    // Reported for the reader; never counted as a lock (see the module text).
    let suspend_ac = get("suspend_on_ac_time", DEFAULT_SUSPEND_ON_AC_MS);
    let suspend_battery = get("suspend_on_battery_time", DEFAULT_SUSPEND_ON_BATTERY_MS);

    let Some(screen_off) = screen_off else {
        return match (suspend_ac, suspend_battery) {
            (Err(reason), _) | (_, Err(reason)) => LockSetting::Unknown { reason },
            (Ok(Some(ac)), Ok(Some(battery))) => LockSetting::Unknown {
                reason: format!(
                    "COSMIC's screen_off_time is None: the screen never turns off, so cosmic-idle never locks it; the session locks only when the machine suspends (after {} on AC, {} on battery), and whether suspend succeeds files do not show",
                    ms_words(ac),
                    ms_words(battery)
                ),
            },
            (Ok(ac), Ok(battery)) => LockSetting::NeverLocks {
                reason: format!(
                    "COSMIC's screen_off_time is None: the screen never turns off, so cosmic-idle never locks it, and automatic suspend is off{}",
                    match (ac, battery) {
                        (None, None) => String::new(),
                        (None, Some(_)) => " on AC".to_owned(),
                        _ => " on battery".to_owned(),
                    }
                ),
            },
        };
    };

    match lock_command(cx, account) {
        Ok(cmd) if cmd.trim() == STOCK_LOCK_COMMAND => {}
        Ok(cmd) => {
            return LockSetting::Unknown {
                reason: format!(
                    "COSMIC's LockScreen action runs `{cmd}` instead of `{STOCK_LOCK_COMMAND}`; whether that locks with a password is unknown"
                ),
            };
        }
        Err(reason) => return LockSetting::Unknown { reason },
    }

    let total_ms = u64::from(screen_off) + FADE_MS + LOCK_DELAY_MS;
    LockSetting::LocksAfter {
        // Rounded up so that a fraction of a second never makes the lock look sooner.
        seconds: total_ms.div_ceil(1000),
        how: format!(
            "screen_off_time {} + {} s fade to black + {} s before `{STOCK_LOCK_COMMAND}`",
            ms_words(screen_off),
            FADE_MS / 1000,
            seconds_words(LOCK_DELAY_MS)
        ),
    }
}

/// A note key per binary, so a machine fact is recorded once however many users need it.
fn bin_note(bin: &str) -> &'static str {
    if bin == IDLE_BINARY {
        "cosmic-idle binary"
    } else {
        "cosmic-greeter binary"
    }
}

fn ms_words(ms: u32) -> String {
    if ms.is_multiple_of(1000) {
        evidence::duration(u64::from(ms) / 1000)
    } else {
        format!("{ms} ms")
    }
}

fn seconds_words(ms: u64) -> String {
    format!("{}.{}", ms / 1000, (ms % 1000) / 100)
}

/// One cosmic-config entry of one user: where the user's values and the system defaults are.
struct Entry {
    id: &'static str,
    user_dir: String,
    /// The first data directory holding `cosmic/<id>/v1`, if any.
    system_dir: Option<String>,
}

impl Entry {
    fn locate(cx: &mut Context<'_>, account: &Account, id: &'static str) -> Result<Self, String> {
        let home = account.home.trim_end_matches('/');
        let user_dir = format!("{}/cosmic/{id}/v1", super::config_home(account));
        // xdg's data-file search: XDG_DATA_HOME, then each XDG_DATA_DIRS entry. Those variables
        // live in the session's environment, which files do not show, so their defaults are used.
        let candidates = [
            format!("{home}/.local/share/cosmic/{id}/v1"),
            format!("/usr/local/share/cosmic/{id}/v1"),
            format!("/usr/share/cosmic/{id}/v1"),
        ];
        let mut system_dir = None;
        for dir in candidates {
            match cx.list_dir(&dir) {
                Ok(_) => {
                    system_dir = Some(dir);
                    break;
                }
                Err(ReadError::NotFound) => {}
                Err(e) => {
                    let why = evidence::read_failure(&dir, &e);
                    cx.about(account, evidence::directory(&dir, why.clone()));
                    return Err(why);
                }
            }
        }
        Ok(Self {
            id,
            user_dir,
            system_dir,
        })
    }

    /// The text of `key`: the user's file, else the system default; `None` when neither has it.
    fn text(&self, cx: &mut Context<'_>, key: &str) -> Result<Option<(String, String)>, String> {
        let user = format!("{}/{key}", self.user_dir);
        let mut paths = vec![user];
        if let Some(dir) = &self.system_dir {
            paths.push(format!("{dir}/{key}"));
        }
        for path in paths {
            match cx.text(&path) {
                Ok(text) => return Ok(Some((path, text))),
                Err(ReadError::NotFound) => {}
                Err(e) => return Err(evidence::read_failure(&path, &e)),
            }
        }
        Ok(None)
    }

    /// An `Option<u32>` of milliseconds, from the files or the built-in default.
    fn millis(
        &self,
        cx: &mut Context<'_>,
        account: &Account,
        key: &str,
        default: Option<u32>,
    ) -> Result<Option<u32>, String> {
        match self.text(cx, key) {
            Ok(Some((path, text))) => match parse_option_u32(&text) {
                Some(v) => {
                    cx.about(account, evidence::file(&path, Some(key), text.trim()));
                    Ok(v)
                }
                None => {
                    let shown = evidence::first_line(&text);
                    cx.about(
                        account,
                        evidence::file(&path, Some(key), format!("{shown} (not read)")),
                    );
                    Err(format!(
                        "{path} holds `{shown}`, which posture does not read as COSMIC's Some(<milliseconds>) or None"
                    ))
                }
            },
            Ok(None) => {
                cx.about(
                    account,
                    evidence::derived(
                        "cosmic-config",
                        format!(
                            "{}/{key} = {} (cosmic-idle's built-in default: neither {}/{key} nor a system default sets it)",
                            self.id,
                            show_option(default),
                            self.user_dir
                        ),
                    ),
                );
                Ok(default)
            }
            Err(why) => {
                cx.about(
                    account,
                    evidence::file(&format!("{}/{key}", self.user_dir), Some(key), why.clone()),
                );
                Err(why)
            }
        }
    }
}

fn show_option(v: Option<u32>) -> String {
    v.map_or_else(|| "None".to_owned(), |n| format!("Some({n})"))
}

/// The `LockScreen` command cosmic-idle runs: the user's `system_actions` entry, else the system
/// file's, else the stock command.
fn lock_command(cx: &mut Context<'_>, account: &Account) -> Result<String, String> {
    let entry = Entry::locate(cx, account, SHORTCUTS_ID)?;
    let mut sources = vec![format!("{}/system_actions", entry.user_dir)];
    if let Some(dir) = &entry.system_dir {
        sources.push(format!("{dir}/system_actions"));
    }
    for path in sources {
        let text = match cx.text(&path) {
            Ok(t) => t,
            Err(ReadError::NotFound) => continue,
            Err(e) => {
                let why = evidence::read_failure(&path, &e);
                cx.about(
                    account,
                    evidence::file(&path, Some("LockScreen"), why.clone()),
                );
                return Err(why);
            }
        };
        let Some(map) = parse_string_map(&text) else {
            cx.about(
                account,
                evidence::file(
                    &path,
                    Some("LockScreen"),
                    "not a RON map of strings (not read)",
                ),
            );
            return Err(format!(
                "{path} is not a RON map of action names to commands; which command locks COSMIC is unknown"
            ));
        };
        if let Some((_, cmd)) = map.into_iter().find(|(k, _)| k == "LockScreen") {
            cx.about(
                account,
                evidence::file(&path, Some("LockScreen"), cmd.clone()),
            );
            return Ok(cmd);
        }
        cx.about(
            account,
            evidence::file(&path, Some("LockScreen"), "not set in this file"),
        );
    }
    cx.about(
        account,
        evidence::derived(
            "cosmic-idle",
            format!("LockScreen action: `{STOCK_LOCK_COMMAND}` (built-in fallback)"),
        ),
    );
    Ok(STOCK_LOCK_COMMAND.to_owned())
}

/// RON text with `//` and `/* */` comments replaced by a space (strings kept intact).
fn strip_comments(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                loop {
                    let d = chars.next()?;
                    out.push(d);
                    if d == '\\' {
                        out.push(chars.next()?);
                    } else if d == '"' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                out.push('\n');
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                loop {
                    let d = chars.next()?;
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    Some(out)
}

/// A RON `Option<u32>`: `None` or `Some(<decimal>)`, whitespace and comments allowed.
fn parse_option_u32(text: &str) -> Option<Option<u32>> {
    let clean = strip_comments(text)?;
    let t = clean.trim();
    if t == "None" {
        return Some(None);
    }
    let inner = t.strip_prefix("Some")?.trim_start().strip_prefix('(')?;
    let inner = inner.strip_suffix(')')?.trim();
    if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    inner.parse().ok().map(Some)
}

/// A RON map of identifiers to strings (`{ LockScreen: "loginctl lock-session", }`), in order.
/// `None` for anything else.
fn parse_string_map(text: &str) -> Option<Vec<(String, String)>> {
    let clean = strip_comments(text)?;
    let mut rest = clean.trim().strip_prefix('{')?.trim_start();
    let mut out = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return after.trim().is_empty().then_some(out);
        }
        let key_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if key_len == 0 {
            return None;
        }
        let key = rest[..key_len].to_owned();
        rest = rest[key_len..].trim_start().strip_prefix(':')?.trim_start();
        let (value, after) = ron_string(rest)?;
        out.push((key, value));
        rest = after.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if !rest.starts_with('}') {
            return None;
        }
    }
}

/// A RON double-quoted string at the start of `text`, and what follows it.
fn ron_string(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &body[i + 1..])),
            '\\' => match chars.next()?.1 {
                '"' => value.push('"'),
                '\\' => value.push('\\'),
                'n' => value.push('\n'),
                't' => value.push('\t'),
                // Other escapes (unicode, ...) are not needed for a command: not read.
                _ => return None,
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_values_are_read_as_cosmic_config_writes_them() {
        assert_eq!(parse_option_u32("Some(900000)"), Some(Some(900_000)));
        assert_eq!(parse_option_u32("Some( 300000 )\n"), Some(Some(300_000)));
        assert_eq!(parse_option_u32("None\n"), Some(None));
        assert_eq!(
            parse_option_u32("// set by hand\nSome(60000)"),
            Some(Some(60_000))
        );
        // Not an Option<u32> in RON, or not one posture reads: unknown, never a default.
        for bad in [
            "",
            "900000",
            "Some(-1)",
            "Some(900_000)",
            "Some(99999999999)",
            "Some(1.5)",
            "some(1)",
            "Some(1",
        ] {
            assert_eq!(parse_option_u32(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn system_actions_maps_are_read_with_comments_and_trailing_commas() {
        let text = "{\n    /// Locks the screen\n    LockScreen: \"loginctl lock-session\",\n    /* x */ Suspend: \"systemctl \\\"suspend\\\"\",\n}\n";
        let map = parse_string_map(text).unwrap();
        assert_eq!(
            map,
            [
                ("LockScreen".to_owned(), "loginctl lock-session".to_owned()),
                ("Suspend".to_owned(), "systemctl \"suspend\"".to_owned()),
            ]
        );
        assert_eq!(parse_string_map("{}"), Some(vec![]));
        for bad in [
            "",
            "{ LockScreen: true }",
            "{ LockScreen \"x\" }",
            "{ LockScreen: \"x\" } trailing",
            "{ LockScreen: \"unterminated }",
            "[ \"x\" ]",
        ] {
            assert_eq!(parse_string_map(bad), None, "{bad:?}");
        }
    }
}
