//! Whether the lock screen really asks for a password: with an empty password field in
//! `/etc/shadow` and `pam_unix.so nullok` in the locker's PAM stack (Debian's and Ubuntu's
//! `common-auth`, Fedora's `password-auth` as authselect writes them), the lock opens with Enter.
//!
//! The locker's PAM stack is read first: without `nullok` an empty password cannot unlock, and
//! the shadow file need not be read at all. Otherwise the account's password state decides; the
//! shadow file is readable by root only, so a run as another user leaves this unknown.

use super::Context;
use super::sessions::Family;
use crate::accounts::Account;
use crate::screen_lock::LockSetting;
use crate::{evidence, pam, shadow};

/// The PAM service each desktop's locker authenticates with.
fn locker_service(family: &Family) -> Option<&'static str> {
    match family {
        // GNOME Shell's unlock dialog asks GDM, which runs the gdm-password service.
        Family::Gnome => Some("gdm-password"),
        Family::Cinnamon => Some("cinnamon-screensaver"),
        Family::Mate => Some("mate-screensaver"),
        // kscreenlocker's greeter uses the service "kde" (distributions rarely ship the file,
        // so PAM falls back to `other`).
        Family::Kde => Some("kde"),
        Family::Xfce => Some("xfce4-screensaver"),
        Family::Sway => Some("swaylock"),
        Family::Hyprland => Some("hyprlock"),
        // cosmic-greeter's lock screen authenticates with the service "cosmic-greeter", the
        // file its package installs (Debian layout: `@include common-auth`).
        Family::Cosmic => Some("cosmic-greeter"),
        Family::Budgie | Family::Other(_) => None,
    }
}

/// `None` when the password does not undo the lock; otherwise what the lock setting becomes.
pub(super) fn check(
    cx: &mut Context<'_>,
    account: &Account,
    family: &Family,
) -> Option<LockSetting> {
    let service = locker_service(family);
    let stack = service.map(|s| pam::auth_stack_with(&|p: &str| cx.text(p), s));
    let nullok = match &stack {
        Some(Ok(None)) => {
            cx.about(
                account,
                evidence::derived(
                    "PAM",
                    format!(
                        "no PAM configuration for {} nor `other`: PAM refuses every answer, an empty password too",
                        service.unwrap_or("the locker")
                    ),
                ),
            );
            return None;
        }
        Some(Ok(Some(stack))) => {
            let lines = stack.unix_nullok();
            match lines.first() {
                None => {
                    cx.about(
                        account,
                        evidence::file(
                            &stack.file,
                            Some("auth"),
                            "no pam_unix.so nullok in the auth stack: an empty password cannot unlock",
                        ),
                    );
                    return None;
                }
                Some(l) => {
                    cx.about(
                        account,
                        evidence::file(
                            &l.file,
                            Some("auth"),
                            format!(
                                "line {}: {} {} {} (the {} stack accepts an empty password)",
                                l.line,
                                l.control,
                                l.module,
                                l.args.join(" "),
                                service.unwrap_or("locker's")
                            ),
                        ),
                    );
                    Some(format!("{} line {}", l.file, l.line))
                }
            }
        }
        Some(Err(why)) => {
            cx.about(account, evidence::derived("PAM", why.clone()));
            None
        }
        None => None,
    };

    let entries = shadow::from_read(cx.text(shadow::PATH));
    let state = match entries.and_then(|e| shadow::entry(&e, &account.name).map(|e| e.password)) {
        Ok(state) => state,
        Err(why) => {
            cx.about(
                account,
                evidence::file(shadow::PATH, Some(&account.name), why.clone()),
            );
            return Some(LockSetting::Unknown {
                reason: format!("whether {} has a password is unknown: {why}", account.name),
            });
        }
    };
    cx.about(
        account,
        evidence::file(shadow::PATH, Some(&account.name), state.describe()),
    );
    if state != shadow::PasswordState::Empty {
        return None;
    }
    match (nullok, stack) {
        (Some(at), _) => Some(LockSetting::NeverLocks {
            reason: format!(
                "{} has an empty password and pam_unix.so nullok ({at}) accepts it: the lock screen opens with Enter; set a password with `passwd {}`",
                account.name, account.name
            ),
        }),
        (None, Some(Err(why))) => Some(LockSetting::Unknown {
            reason: format!(
                "{} has an empty password, and the locker's PAM stack could not be read: {why}",
                account.name
            ),
        }),
        (None, _) => Some(LockSetting::Unknown {
            reason: format!(
                "{} has an empty password, and posture does not know the PAM service of the {} locker to tell whether it accepts one",
                account.name,
                family.label()
            ),
        }),
    }
}
