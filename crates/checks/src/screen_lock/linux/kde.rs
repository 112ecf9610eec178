//! KDE Plasma: `kscreenlockerrc` `[Daemon]`, cascaded as KConfig does.
//!
//! Files from lowest to highest priority: `/etc/xdg/kscreenlockerrc` (`XDG_CONFIG_DIRS` is
//! session environment, which files do not show; this is its default),
//! `~/.config/kdedefaults/kscreenlockerrc` (look-and-feel defaults Plasma puts before the
//! system directories) and `~/.config/kscreenlockerrc`. A later file overrides an earlier one
//! unless the earlier marks the file, the `[Daemon]` group or the key immutable with `[$i]`.
//! Defaults are those of kscreenlocker's kcfg.

use posture_host::ReadError;
use posture_host::keyfile::KeyFile;

use posture_schema::{Enforcer, Setting};

use super::Context;
use crate::accounts::Account;
use crate::enforcement;
use crate::evidence;
use crate::screen_lock::LockSetting;

const GROUP: &str = "Daemon";

pub(super) fn judge(cx: &mut Context<'_>, account: &Account) -> LockSetting {
    let home = super::config_home(account);
    let paths = [
        "/etc/xdg/kscreenlockerrc".to_owned(),
        format!("{home}/kdedefaults/kscreenlockerrc"),
        format!("{home}/kscreenlockerrc"),
    ];
    let mut layers: Vec<(String, KeyFile)> = Vec::new();
    for path in paths {
        match cx.text(&path) {
            Ok(text) => layers.push((path, KeyFile::parse(&text))),
            Err(ReadError::NotFound) => {}
            Err(e) => {
                let why = evidence::read_failure(&path, &e);
                cx.about(account, evidence::file(&path, None, why.clone()));
                return LockSetting::Unknown { reason: why };
            }
        }
    }

    let mut settings: Vec<Setting> = Vec::new();
    let mut value = |key: &str, default: &str| -> String {
        let mut chosen: Option<(&str, &str, bool)> = None;
        for (path, file) in &layers {
            if let Some(v) = file.get(GROUP, key) {
                chosen = Some((path, v, false));
            }
            if file.locks(GROUP, key) {
                settings.push(immutable_setting(
                    account,
                    key,
                    chosen.map_or(default, |c| c.1),
                    chosen.map_or(path, |c| c.0),
                    path,
                    file,
                ));
                if let Some(c) = chosen.as_mut() {
                    c.2 = true;
                }
                if chosen.is_none() {
                    // Immutable without a value: the default, and no later file may set it.
                    cx.about(
                        account,
                        evidence::file(
                            path,
                            Some(&format!("[{GROUP}] {key}")),
                            format!("{default} (default; immutable here)"),
                        ),
                    );
                    return default.to_owned();
                }
                break;
            }
        }
        if !chosen.is_some_and(|c| c.2) {
            settings.push(enforcement::user_set(
                key,
                chosen.map_or(default, |c| c.1),
                chosen.map_or_else(|| "kscreenlockerrc default".to_owned(), |c| c.0.to_owned()),
            ));
        }
        match chosen {
            Some((path, v, immutable)) => {
                cx.about(
                    account,
                    evidence::file(
                        path,
                        Some(&format!("[{GROUP}] {key}")),
                        if immutable {
                            format!("{v} (immutable)")
                        } else {
                            v.to_owned()
                        },
                    ),
                );
                v.to_owned()
            }
            None => {
                cx.about(
                    account,
                    evidence::derived(
                        "kscreenlockerrc",
                        format!("[{GROUP}] {key} = {default} (default: no file sets it)"),
                    ),
                );
                default.to_owned()
            }
        }
    };
    let autolock = value("Autolock", "true");
    let timeout = value("Timeout", "5");
    let lock = value("Lock", "true");
    let grace = value("LockGrace", "5");
    let require = value("RequirePassword", "true");
    cx.settings.extend(settings);

    let bools = [
        ("Autolock", &autolock),
        ("Lock", &lock),
        ("RequirePassword", &require),
    ];
    for (name, v) in bools {
        match parse_bool(v) {
            Some(true) => {}
            Some(false) => {
                return LockSetting::NeverLocks {
                    reason: match name {
                        "Autolock" => "Autolock is false (no automatic lock)".to_owned(),
                        _ => format!("{name} is false (the idle screen needs no password)"),
                    },
                };
            }
            None => {
                return LockSetting::Unknown {
                    reason: format!("kscreenlockerrc {name}={v} is not a boolean"),
                };
            }
        }
    }
    let Some(minutes) = timeout
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|m| m.is_finite() && *m >= 0.0)
    else {
        return LockSetting::Unknown {
            reason: format!("kscreenlockerrc Timeout={timeout} is not a number of minutes"),
        };
    };
    if minutes == 0.0 {
        return LockSetting::NeverLocks {
            reason: "Timeout is 0 (never locks on idle)".to_owned(),
        };
    }
    let Ok(grace_secs) = grace.trim().parse::<u32>() else {
        return LockSetting::Unknown {
            reason: format!("kscreenlockerrc LockGrace={grace} is not a number of seconds"),
        };
    };
    // Whole seconds, rounded up so a fractional minute never makes the lock look sooner.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let timeout_secs = (minutes * 60.0).ceil().min(u64::MAX as f64) as u64;
    LockSetting::LocksAfter {
        seconds: timeout_secs.saturating_add(u64::from(grace_secs)),
        how: format!("Timeout {timeout} min + LockGrace {grace_secs} s"),
    }
}

/// A key an `[$i]` marker in `marker_path` freezes: enforced when that file is the system's
/// (`/etc/xdg`, which only root writes); a marker in the user's own files freezes nothing
/// against the user. Says whether the file, the `[Daemon]` group or the key carries the marker.
fn immutable_setting(
    account: &Account,
    key: &str,
    value: &str,
    value_path: &str,
    marker_path: &str,
    file: &KeyFile,
) -> Setting {
    let marker = if file.immutable {
        "the whole file ([$i] before the first group)".to_owned()
    } else if file.group_immutable(GROUP) {
        format!("the [{GROUP}] group ([{GROUP}][$i])")
    } else {
        format!("the key ({key}[$i])")
    };
    let by = enforcement::by(
        Enforcer::KDE_IMMUTABLE,
        marker_path,
        Some(marker),
        if marker_path.starts_with(&format!("{}/", account.home.trim_end_matches('/'))) {
            Enforcer::BY_USER
        } else {
            Enforcer::BY_LOCAL_ADMIN
        },
    );
    if marker_path.starts_with(&format!("{}/", account.home.trim_end_matches('/'))) {
        let mut s = enforcement::user_set(key, value, value_path);
        s.enforced_by.push(by);
        s.notes.push(format!(
            "{marker_path} is the user's own file: its [$i] marker stops only files read after it"
        ));
        s
    } else {
        enforcement::noted(
            enforcement::enforced(key, value, value_path, vec![by]),
            "KDE honours [$i] per application; kscreenlocker reads its settings through KConfig, which does",
        )
    }
}

/// KConfig's booleans.
fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Some(true),
        "false" | "off" | "no" | "0" => Some(false),
        _ => None,
    }
}
