//! sway and Hyprland: no central setting; the lock exists only when an idle daemon (swayidle,
//! hypridle) is started and one of its timeouts runs a locker, directly or through
//! `loginctl lock-session` with a lock handler. Judged when the configuration shows that
//! clearly; anything else (no idle daemon found, configs split with `include`/`source`,
//! daemons started in ways files do not show) is unknown, never a pass.

use posture_host::ReadError;

use super::Context;
use crate::accounts::Account;
use crate::evidence;
use crate::screen_lock::LockSetting;

const LOCKERS: [&str; 6] = [
    "swaylock", "hyprlock", "gtklock", "waylock", "i3lock", "physlock",
];

fn runs_locker(cmd: &str) -> bool {
    LOCKERS.iter().any(|l| cmd.contains(l))
}

/// The first of `paths` that exists, with its text; `Err` on a read failure.
fn first_existing(cx: &Context<'_>, paths: &[String]) -> Result<Option<(String, String)>, String> {
    for p in paths {
        match cx.text(p) {
            Ok(t) => return Ok(Some((p.clone(), t))),
            Err(ReadError::NotFound) => {}
            Err(e) => return Err(evidence::read_failure(p, &e)),
        }
    }
    Ok(None)
}

/// Config lines with `\` continuations joined and comments dropped, with their line numbers.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (n, line) in text.lines().enumerate() {
        if current.is_empty() {
            start = n + 1;
            if line.trim_start().starts_with('#') {
                continue;
            }
        }
        if let Some(body) = line.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
        } else {
            current.push_str(line);
            out.push((start, current.trim().to_owned()));
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push((start, current.trim().to_owned()));
    }
    out
}

/// Shell-like words: whitespace separated, with single and double quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

/// What swayidle arguments (or config lines) say: timeouts with their commands, and the
/// `lock` handler.
#[derive(Default)]
struct Idle {
    timeouts: Vec<(u64, String)>,
    lock_handler: Option<String>,
}

impl Idle {
    fn read_events(&mut self, words: &[String]) {
        let mut i = 0;
        while i < words.len() {
            match words[i].as_str() {
                "timeout" => {
                    if let (Some(n), Some(cmd)) = (words.get(i + 1), words.get(i + 2))
                        && let Ok(n) = n.parse()
                    {
                        self.timeouts.push((n, cmd.clone()));
                    }
                    i += 3;
                }
                "lock" => {
                    self.lock_handler = words.get(i + 1).cloned();
                    i += 2;
                }
                "resume" | "before-sleep" | "after-resume" | "unlock" | "idlehint" | "-C"
                | "-S" => i += 2,
                _ => i += 1,
            }
        }
    }

    /// The shortest timeout that ends in a password lock, and how.
    fn judge(&self, source: &str) -> LockSetting {
        let locks = |cmd: &str| {
            runs_locker(cmd)
                || (cmd.contains("lock-session")
                    && self.lock_handler.as_deref().is_some_and(runs_locker))
        };
        match self
            .timeouts
            .iter()
            .filter(|(_, c)| locks(c))
            .min_by_key(|(n, _)| *n)
        {
            Some((n, cmd)) => LockSetting::LocksAfter {
                seconds: *n,
                how: format!("{source}: timeout {n} s runs '{cmd}'"),
            },
            None => LockSetting::NeverLocks {
                reason: format!("{source}: no idle timeout runs a screen locker"),
            },
        }
    }
}

pub(super) fn judge_sway(cx: &mut Context<'_>, account: &Account) -> LockSetting {
    let home = account.home.trim_end_matches('/');
    let config = super::config_home(account);
    let paths = [
        format!("{config}/sway/config"),
        format!("{home}/.sway/config"),
        "/etc/sway/config".to_owned(),
    ];
    let (path, text) = match first_existing(cx, &paths) {
        Ok(Some(found)) => found,
        Ok(None) => {
            return LockSetting::Unknown {
                reason: "no sway config found".to_owned(),
            };
        }
        Err(reason) => return LockSetting::Unknown { reason },
    };
    let mut idle = Idle::default();
    let mut started = None;
    let mut includes = false;
    for (n, line) in logical_lines(&text) {
        let w = words(&line);
        match w.first().map(String::as_str) {
            Some("exec" | "exec_always") => {
                if let Some(at) = w.iter().position(|x| x.ends_with("swayidle")) {
                    started = Some(n);
                    idle.read_events(&w[at + 1..]);
                    cx.about(
                        account,
                        evidence::file(&path, Some(&format!("line {n}")), line.clone()),
                    );
                }
            }
            Some("include") => includes = true,
            _ => {}
        }
    }
    let Some(line) = started else {
        cx.about(account, evidence::file(&path, None, "no exec of swayidle"));
        return LockSetting::Unknown {
            reason: format!(
                "{path} does not start swayidle{}; an idle locker may be started elsewhere",
                if includes {
                    " (it includes other files)"
                } else {
                    ""
                }
            ),
        };
    };
    let idle_config = format!("{config}/swayidle/config");
    match cx.text(&idle_config) {
        Ok(text) => {
            for (_, l) in logical_lines(&text) {
                idle.read_events(&words(&l));
            }
            cx.about(account, evidence::file(&idle_config, None, "read"));
        }
        Err(ReadError::NotFound) => {}
        Err(e) => {
            return LockSetting::Unknown {
                reason: evidence::read_failure(&idle_config, &e),
            };
        }
    }
    idle.judge(&format!("swayidle started at {path} line {line}"))
}

pub(super) fn judge_hyprland(cx: &mut Context<'_>, account: &Account) -> LockSetting {
    let config = super::config_home(account);
    let hyprland_conf = format!("{config}/hypr/hyprland.conf");
    let idle_conf = format!("{config}/hypr/hypridle.conf");
    let started = match cx.text(&hyprland_conf) {
        Ok(text) => logical_lines(&text)
            .into_iter()
            .find(|(_, l)| l.starts_with("exec") && l.contains("hypridle")),
        Err(ReadError::NotFound) => None,
        Err(e) => {
            return LockSetting::Unknown {
                reason: evidence::read_failure(&hyprland_conf, &e),
            };
        }
    };
    let unit = format!("{config}/systemd/user/graphical-session.target.wants/hypridle.service");
    let by_unit = matches!(cx.present(&unit), Ok(true));
    match (&started, by_unit) {
        (Some((n, l)), _) => cx.about(
            account,
            evidence::file(&hyprland_conf, Some(&format!("line {n}")), l.clone()),
        ),
        (None, true) => cx.about(
            account,
            evidence::file(&unit, None, "present (hypridle enabled as a user unit)"),
        ),
        (None, false) => {
            return LockSetting::Unknown {
                reason: format!(
                    "hypridle is not started from {hyprland_conf} nor enabled as a user unit"
                ),
            };
        }
    }
    let text = match cx.text(&idle_conf) {
        Ok(t) => t,
        Err(ReadError::NotFound) => {
            return LockSetting::NeverLocks {
                reason: format!(
                    "hypridle is started but {idle_conf}, which it requires, does not exist"
                ),
            };
        }
        Err(e) => {
            return LockSetting::Unknown {
                reason: evidence::read_failure(&idle_conf, &e),
            };
        }
    };
    let mut idle = Idle::default();
    let mut block = String::new();
    let mut timeout: Option<u64> = None;
    let mut on_timeout: Option<String> = None;
    let mut sources = false;
    for (_, line) in logical_lines(&text) {
        if let Some(name) = line.strip_suffix('{') {
            block = name.trim().to_owned();
            timeout = None;
            on_timeout = None;
            continue;
        }
        if line == "}" {
            if block == "listener"
                && let (Some(t), Some(c)) = (timeout.take(), on_timeout.take())
            {
                idle.timeouts.push((t, c));
            }
            block.clear();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim().to_owned());
        match (block.as_str(), k) {
            ("general", "lock_cmd") => idle.lock_handler = Some(v),
            ("listener", "timeout") => timeout = v.parse().ok(),
            ("listener", "on-timeout") => on_timeout = Some(v),
            ("", "source") => sources = true,
            _ => {}
        }
    }
    cx.about(
        account,
        evidence::file(
            &idle_conf,
            None,
            format!(
                "listeners: {}; lock_cmd: {}",
                idle.timeouts
                    .iter()
                    .map(|(t, c)| format!("{t} s -> {c}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                idle.lock_handler.as_deref().unwrap_or("(none)")
            ),
        ),
    );
    match idle.judge(&format!("hypridle ({idle_conf})")) {
        LockSetting::NeverLocks { .. } if sources => LockSetting::Unknown {
            reason: format!("{idle_conf} has no locking listener itself but sources other files"),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swayidle_timeouts_that_run_a_locker_decide() {
        let mut idle = Idle::default();
        let lines = logical_lines(
            "exec swayidle -w \\\n  timeout 600 'swaymsg \"output * power off\"' \\\n  timeout 300 'swaylock -f -c 000000' \\\n  before-sleep 'swaylock -f'\n",
        );
        assert_eq!(lines.len(), 1);
        let w = words(&lines[0].1);
        idle.read_events(&w[2..]);
        assert_eq!(
            idle.judge("x"),
            LockSetting::LocksAfter {
                seconds: 300,
                how: "x: timeout 300 s runs 'swaylock -f -c 000000'".into()
            }
        );
    }

    #[test]
    fn lock_session_counts_only_with_a_lock_handler() {
        let mut idle = Idle::default();
        idle.read_events(&words("timeout 120 'loginctl lock-session'"));
        assert!(matches!(idle.judge("x"), LockSetting::NeverLocks { .. }));
        idle.read_events(&words("lock 'swaylock -f'"));
        assert!(matches!(
            idle.judge("x"),
            LockSetting::LocksAfter { seconds: 120, .. }
        ));
    }
}
