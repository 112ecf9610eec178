//! Screen lock probe for Linux: files only (no subprocesses, no D-Bus), so `--root` and fake-root
//! tests see exactly what the laptop would.
//!
//! For every human account: find the desktop it uses (its logind session, else the session
//! AccountsService remembers, else the desktops installed), then read that desktop's locker
//! settings the way the desktop itself resolves them:
//!
//! - GNOME, Ubuntu, Budgie, Cinnamon, MATE: GSettings over dconf ([`gsettings`]), emulating the
//!   dconf engine's profile, databases and locks and GSettings' schema defaults and type check.
//! - KDE Plasma: the `kscreenlockerrc` KConfig cascade with `[$i]` immutability ([`kde`]).
//! - Xfce: xfce4-screensaver's xfconf channel ([`xfce`]).
//! - sway and Hyprland: the swayidle / hypridle configuration ([`wlroots`]).
//! - COSMIC: cosmic-idle's screen-off time in cosmic-config, which locks when the screen turns
//!   off ([`cosmic`]).
//!
//! Whatever is unclear is `Unknown` with the reason, never a pass.
//!
//! An account with an empty password whose locker's PAM stack has `pam_unix.so nullok` fails:
//! its lock screen opens with Enter ([`password`]). `/etc/shadow` is read for that only through
//! the shared reader, which keeps what each password field means and never a hash (the
//! evidence recorder stores the file with every hash replaced).

mod cosmic;
mod gsettings;
mod kde;
mod password;
mod sessions;
mod wlroots;
mod xfce;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use posture_host::{Host, ReadError};
use posture_schema::{Evidence, Setting};

use super::{LockEnforcement, LockSetting, ScreenLockFacts, UserLock};
use crate::accounts::{self, Account};
use crate::evidence;
use sessions::{Desktop, Family};

pub(super) fn gather(host: &dyn Host) -> ScreenLockFacts {
    let mut cx = Context::new(host);
    let mut facts = ScreenLockFacts::default();
    let accounts = match accounts::human_accounts(host, &mut cx.evidence) {
        Ok(a) => a,
        Err(why) => {
            facts.undecided = Some(why);
            facts.evidence = cx.evidence;
            return facts;
        }
    };
    let seen = sessions::read(&mut cx);

    if seen.graphical_sessions == 0 && seen.installed.is_empty() {
        match &seen.inconclusive {
            None => {
                facts.no_desktop = Some(
                    "no graphical login session and no desktop session installed \
                     (/usr/share/xsessions and /usr/share/wayland-sessions hold none)"
                        .to_owned(),
                );
            }
            Some(why) => facts.undecided = Some(why.clone()),
        }
        facts.evidence = cx.evidence;
        return facts;
    }

    for account in &accounts {
        for (desktop, how) in sessions::desktops_of(&mut cx, account, &seen) {
            cx.about(
                account,
                evidence::derived(
                    "desktop",
                    format!("{}: {} ({how})", account.name, desktop.label()),
                ),
            );
            cx.settings.clear();
            let mut setting = judge(&mut cx, account, &desktop);
            // A lock that never engages fails whatever the password; otherwise the password
            // decides whether the lock protects anything.
            if !matches!(setting, LockSetting::NeverLocks { .. })
                && let Some(overridden) = password::check(&mut cx, account, &desktop.family)
            {
                setting = match (setting, overridden) {
                    (LockSetting::Unknown { reason }, LockSetting::Unknown { .. }) => {
                        LockSetting::Unknown { reason }
                    }
                    (_, o) => o,
                };
            }
            let user_lock = UserLock {
                user: account.name.clone(),
                desktop: desktop.family.label().to_owned(),
                setting,
                settings: std::mem::take(&mut cx.settings),
                enforcement: LockEnforcement::AllSettings,
            };
            // A user without a session is judged on every installed desktop; several session
            // files of one desktop (gnome, gnome-xorg, ubuntu) usually agree, so say it once.
            if !facts.users.contains(&user_lock) {
                facts.users.push(user_lock);
            }
        }
    }
    if facts.users.is_empty() && facts.undecided.is_none() {
        // Desktops are installed but nobody could use one: no human account (the list of
        // accounts is in the evidence). Not "no desktop", and not a pass either.
        facts.undecided = Some(
            "desktops are installed but no human account was found whose screen lock could be judged"
                .to_owned(),
        );
    }
    facts.evidence = cx.evidence;
    facts
}

/// The effective lock setting of one user on one desktop.
fn judge(cx: &mut Context<'_>, account: &Account, desktop: &Desktop) -> LockSetting {
    match &desktop.family {
        Family::Gnome | Family::Budgie | Family::Cinnamon | Family::Mate => {
            gsettings::judge(cx, account, desktop)
        }
        Family::Kde => kde::judge(cx, account),
        Family::Cosmic => cosmic::judge(cx, account),
        Family::Xfce => xfce::judge(cx, account),
        Family::Sway => wlroots::judge_sway(cx, account),
        Family::Hyprland => wlroots::judge_hyprland(cx, account),
        Family::Other(name) => LockSetting::Unknown {
            reason: format!(
                "posture does not know how the {name} desktop locks the screen; check it by hand"
            ),
        },
    }
}

/// One cached read: the bytes or why they could not be read.
type FileRead = Result<Rc<[u8]>, ReadError>;

/// What the probe shares while it runs: the host, a cache so that each file is read once, and
/// the evidence collected so far.
struct Context<'h> {
    host: &'h dyn Host,
    cache: RefCell<HashMap<String, FileRead>>,
    evidence: Vec<Evidence>,
    /// Facts about the whole machine recorded once, however many users need them.
    noted: Vec<&'static str>,
    /// The settings the desktop being judged read for the current user, with their
    /// enforcement; taken into that user's result.
    settings: Vec<Setting>,
}

impl<'h> Context<'h> {
    fn new(host: &'h dyn Host) -> Self {
        Self {
            host,
            cache: RefCell::new(HashMap::new()),
            evidence: Vec::new(),
            noted: Vec::new(),
            settings: Vec::new(),
        }
    }

    /// The bytes of a file, read at most once per run.
    fn read(&self, path: &str) -> Result<Rc<[u8]>, ReadError> {
        if let Some(hit) = self.cache.borrow().get(path) {
            return hit.clone();
        }
        let got = self.host.read(path).map(Rc::from);
        self.cache.borrow_mut().insert(path.to_owned(), got.clone());
        got
    }

    /// The file as text (invalid UTF-8 replaced).
    fn text(&self, path: &str) -> Result<String, ReadError> {
        self.read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        self.host.list_dir(path)
    }

    fn read_link(&self, path: &str) -> Result<String, ReadError> {
        self.host.read_link(path)
    }

    /// Whether a path exists, without reading it (so a binary's content never lands in an
    /// evidence bundle): a link or any file answers `read_link` with a target or "not a link".
    fn present(&self, path: &str) -> Result<bool, ReadError> {
        match self.host.read_link(path) {
            Ok(_) | Err(ReadError::NotALink) => Ok(true),
            Err(ReadError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn push(&mut self, ev: Evidence) {
        self.evidence.push(ev);
    }

    fn about(&mut self, account: &Account, ev: Evidence) {
        self.evidence.push(evidence::about(ev, &account.name));
    }

    /// True the first time `what` is asked about in this run.
    fn first_time(&mut self, what: &'static str) -> bool {
        if self.noted.contains(&what) {
            false
        } else {
            self.noted.push(what);
            true
        }
    }
}

/// `~/.config` of an account. `XDG_CONFIG_HOME` lives only in the session's environment, which
/// files do not show; the default is what nearly every desktop session uses.
fn config_home(account: &Account) -> String {
    format!("{}/.config", account.home.trim_end_matches('/'))
}
