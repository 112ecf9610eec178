//! The Linux screen-lock probe judged on fake roots under tests/fixtures/linux/screen-lock/.
//! Their GVDB files were built by `dconf compile` and `glib-compile-schemas` (regenerate.sh).

use posture_checks::screen_lock::{self, LockSetting, ScreenLockFacts};
use posture_host::{
    CommandError, CommandOutput, CommandSpec, Host, Platform, ReadError, RootedHost,
};
use posture_policy::Policy;
use posture_schema::{Finding, Status};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/linux/screen-lock"
);

fn root(case: &str) -> RootedHost {
    RootedHost::new(format!("{FIXTURES}/{case}"))
}

fn judge_host(host: &dyn Host) -> (ScreenLockFacts, Finding) {
    let facts = screen_lock::gather(host);
    let rule = Policy::embedded().rules.screen_lock;
    let finding = screen_lock::evaluate(&facts, &rule, Platform::Linux);
    (facts, finding)
}

fn judge(case: &str) -> (ScreenLockFacts, Finding) {
    judge_host(&root(case))
}

fn only_setting(facts: &ScreenLockFacts) -> &LockSetting {
    assert_eq!(facts.users.len(), 1, "{:#?}", facts.users);
    assert_eq!(facts.users[0].user, "alice");
    &facts.users[0].setting
}

fn evidence_has(finding: &Finding, source_end: &str, key: Option<&str>, value_part: &str) -> bool {
    finding.evidence.iter().any(|e| {
        e.source.ends_with(source_end)
            && (key.is_none() || e.key.as_deref() == key)
            && e.value.contains(value_part)
    })
}

#[test]
fn gnome_defaults_lock_after_five_minutes_and_pass() {
    let (facts, f) = judge("gnome-defaults");
    assert_eq!(
        only_setting(&facts),
        &LockSetting::LocksAfter {
            seconds: 300,
            how: "idle-delay 300 s + lock-delay 0 s".into()
        }
    );
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert!(evidence_has(
        &f,
        "/usr/share/glib-2.0/schemas/gschemas.compiled",
        Some("/org/gnome/desktop/session/idle-delay"),
        "uint32 300 (schema default"
    ));
    // The greeter session is seen and skipped; the evidence says so.
    assert!(evidence_has(
        &f,
        "/run/systemd/sessions/c1",
        None,
        "skipped"
    ));
    assert!(
        f.evidence
            .iter()
            .any(|e| e.subject.as_deref() == Some("alice"))
    );
}

#[test]
fn gnome_user_idle_delay_zero_never_locks_and_fails() {
    let (facts, f) = judge("gnome-user-idle-never");
    assert!(
        matches!(only_setting(&facts), LockSetting::NeverLocks { reason } if reason.contains("idle-delay is 0"))
    );
    assert_eq!(f.status, Status::Fail);
    assert!(evidence_has(
        &f,
        "/home/alice/.config/dconf/user",
        Some("/org/gnome/desktop/session/idle-delay"),
        "uint32 0 (user database; not locked)"
    ));
    assert!(!f.remediation.is_empty());
}

#[test]
fn gnome_user_lock_enabled_false_fails() {
    let (facts, f) = judge("gnome-user-lock-disabled");
    assert!(
        matches!(only_setting(&facts), LockSetting::NeverLocks { reason } if reason.contains("lock-enabled is false"))
    );
    assert_eq!(f.status, Status::Fail);
}

#[test]
fn gnome_user_value_is_ignored_when_system_db_locks_it() {
    let (facts, f) = judge("gnome-system-lock-wins");
    assert!(matches!(
        only_setting(&facts),
        LockSetting::LocksAfter { seconds: 600, .. }
    ));
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert!(evidence_has(
        &f,
        "/etc/dconf/db/local",
        Some("/org/gnome/desktop/session/idle-delay"),
        "uint32 600 (system database local; locked in system database local)"
    ));
}

#[test]
fn gnome_lock_delay_pushing_past_the_limit_fails() {
    let (facts, f) = judge("gnome-lock-delay-over-limit");
    assert_eq!(
        only_setting(&facts),
        &LockSetting::LocksAfter {
            seconds: 1200,
            how: "idle-delay 600 s + lock-delay 600 s".into()
        }
    );
    assert_eq!(f.status, Status::Fail);
    assert!(f.summary.contains("alice"), "{}", f.summary);
}

#[test]
fn gnome_lockdown_disable_lock_screen_fails() {
    let (facts, f) = judge("gnome-lockdown");
    assert!(
        matches!(only_setting(&facts), LockSetting::NeverLocks { reason } if reason.contains("disable-lock-screen"))
    );
    assert_eq!(f.status, Status::Fail);
}

#[test]
fn gnome_system_db_is_ignored_without_a_dconf_profile() {
    // /etc/dconf/db/local locks idle-delay to 600, but no /etc/dconf/profile/user lists it,
    // so dconf never reads it and the user's 0 stands.
    let (facts, f) = judge("gnome-no-profile");
    assert!(matches!(
        only_setting(&facts),
        LockSetting::NeverLocks { .. }
    ));
    assert_eq!(f.status, Status::Fail);
    assert!(evidence_has(&f, "dconf profile", None, "not consulted"));
}

#[test]
fn gnome_value_of_the_wrong_type_falls_back_to_the_schema_default_not_the_next_db() {
    // User int32 3600 (wrong type) and system uint32 3600: GSettings uses the default 300.
    let (facts, f) = judge("gnome-wrong-type");
    assert!(matches!(
        only_setting(&facts),
        LockSetting::LocksAfter { seconds: 300, .. }
    ));
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert!(evidence_has(
        &f,
        "/home/alice/.config/dconf/user",
        Some("/org/gnome/desktop/session/idle-delay"),
        "wrong type i, expected u"
    ));
}

#[test]
fn gnome_keys_no_database_sets_are_unknown_without_schema_defaults() {
    let (facts, f) = judge("gnome-no-schemas");
    assert!(
        matches!(only_setting(&facts), LockSetting::Unknown { reason } if reason.contains("schema defaults could not be read")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Unknown);
}

#[test]
fn gnome_unreadable_user_database_is_unknown() {
    let (facts, f) = judge("gnome-unreadable-user-db");
    assert!(
        matches!(only_setting(&facts), LockSetting::Unknown { reason } if reason.contains("not a readable dconf database")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Unknown);
}

/// A root whose user database cannot be read (as on a root-squashed NFS home).
struct DeniedUserDb(RootedHost);

impl Host for DeniedUserDb {
    fn platform(&self) -> Platform {
        Platform::Linux
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        if path == "/home/alice/.config/dconf/user" {
            return Err(ReadError::PermissionDenied);
        }
        self.0.read(path)
    }
    fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        self.0.list_dir(path)
    }
    fn read_link(&self, path: &str) -> Result<String, ReadError> {
        self.0.read_link(path)
    }
    fn run(&self, command: &CommandSpec) -> Result<CommandOutput, CommandError> {
        self.0.run(command)
    }
}

#[test]
fn gnome_user_database_denied_is_unknown_with_the_reason() {
    let (facts, f) = judge_host(&DeniedUserDb(root("gnome-user-idle-never")));
    assert!(
        matches!(only_setting(&facts), LockSetting::Unknown { reason } if reason.contains("permission denied")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Unknown);
}

#[test]
fn gnome_without_gdm_does_not_really_lock() {
    let (facts, f) = judge("gnome-without-gdm");
    assert!(
        matches!(only_setting(&facts), LockSetting::NeverLocks { reason } if reason.contains("lightdm.service, not GDM")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Fail);
}

#[test]
fn gnome_keyfiles_that_were_never_compiled_have_no_effect_but_are_reported() {
    let (facts, f) = judge("gnome-uncompiled-keyfiles");
    assert!(matches!(
        only_setting(&facts),
        LockSetting::LocksAfter { seconds: 300, .. }
    ));
    assert_eq!(f.status, Status::Pass);
    assert!(evidence_has(
        &f,
        "/etc/dconf/db/local.d",
        None,
        "00-screensaver"
    ));
    assert!(evidence_has(
        &f,
        "/etc/dconf/db/local",
        None,
        "absent (system database local)"
    ));
}

#[test]
fn gnome_per_desktop_schema_default_applies_to_its_desktop() {
    // logind says DESKTOP=vendor; vendor.desktop lists Vendor;GNOME; the schema's default for
    // Vendor is 1800 s.
    let (facts, f) = judge("gnome-per-desktop-default");
    assert!(
        matches!(
            only_setting(&facts),
            LockSetting::LocksAfter { seconds: 1800, .. }
        ),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Fail);
    assert!(evidence_has(
        &f,
        "gschemas.compiled",
        None,
        "schema default for desktop Vendor"
    ));
}

#[test]
fn kde_defaults_lock_after_five_minutes_and_five_seconds_grace() {
    let (facts, f) = judge("kde-defaults");
    assert_eq!(
        only_setting(&facts),
        &LockSetting::LocksAfter {
            seconds: 305,
            how: "Timeout 5 min + LockGrace 5 s".into()
        }
    );
    assert_eq!(facts.users[0].desktop, "KDE Plasma");
    assert_eq!(f.status, Status::Pass);
}

#[test]
fn kde_autolock_false_fails() {
    let (facts, f) = judge("kde-autolock-off");
    assert!(
        matches!(only_setting(&facts), LockSetting::NeverLocks { reason } if reason.contains("Autolock"))
    );
    assert_eq!(f.status, Status::Fail);
}

#[test]
fn kde_user_timeout_of_thirty_minutes_fails() {
    let (facts, f) = judge("kde-timeout-30");
    assert!(matches!(
        only_setting(&facts),
        LockSetting::LocksAfter { seconds: 1805, .. }
    ));
    assert_eq!(f.status, Status::Fail);
    assert!(evidence_has(
        &f,
        "/home/alice/.config/kscreenlockerrc",
        Some("[Daemon] Timeout"),
        "30"
    ));
}

#[test]
fn kde_user_timeout_is_ignored_when_the_system_group_is_immutable() {
    let (facts, f) = judge("kde-system-immutable");
    assert!(
        matches!(
            only_setting(&facts),
            LockSetting::LocksAfter { seconds: 605, .. }
        ),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Pass);
    assert!(evidence_has(
        &f,
        "/etc/xdg/kscreenlockerrc",
        Some("[Daemon] Timeout"),
        "10 (immutable)"
    ));
}

#[test]
fn cinnamon_defaults_use_its_own_schema_and_pass_at_the_limit() {
    let (facts, f) = judge("cinnamon-defaults");
    assert_eq!(facts.users[0].desktop, "Cinnamon");
    assert!(matches!(
        only_setting(&facts),
        LockSetting::LocksAfter { seconds: 900, .. }
    ));
    assert_eq!(f.status, Status::Pass);
    assert!(evidence_has(
        &f,
        "gschemas.compiled",
        Some("/org/cinnamon/desktop/session/idle-delay"),
        "uint32 900"
    ));
}

#[test]
fn mate_idle_delay_counts_minutes_from_its_schema_path() {
    let (facts, f) = judge("mate-idle-30-min");
    assert_eq!(
        only_setting(&facts),
        &LockSetting::LocksAfter {
            seconds: 1800,
            how: "idle-delay 30 min + lock-delay 0 min".into()
        }
    );
    assert_eq!(f.status, Status::Fail);
    assert!(evidence_has(
        &f,
        "/home/alice/.config/dconf/user",
        Some("/org/mate/desktop/session/idle-delay"),
        "int32 30"
    ));
}

#[test]
fn xfce_with_xfce4_screensaver_is_judged_from_its_channel() {
    let (facts, f) = judge("xfce-screensaver");
    assert_eq!(
        only_setting(&facts),
        &LockSetting::LocksAfter {
            seconds: 660,
            how: "idle-activation delay 10 min + saver-activation lock delay 1 min".into()
        }
    );
    assert_eq!(f.status, Status::Pass);
}

#[test]
fn xfce_without_xfce4_screensaver_is_detected_but_unknown() {
    let (facts, f) = judge("xfce-light-locker");
    assert_eq!(facts.users[0].desktop, "Xfce");
    assert!(matches!(only_setting(&facts), LockSetting::Unknown { .. }));
    assert_eq!(f.status, Status::Unknown);
}

#[test]
fn sway_with_a_swayidle_lock_timeout_is_judged() {
    let (facts, f) = judge("sway-swayidle");
    assert!(
        matches!(
            only_setting(&facts),
            LockSetting::LocksAfter { seconds: 300, .. }
        ),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Pass);
}

#[test]
fn hyprland_without_hypridle_is_unknown_not_a_pass() {
    let (facts, f) = judge("hyprland-no-hypridle");
    assert_eq!(facts.users[0].desktop, "Hyprland");
    assert!(matches!(only_setting(&facts), LockSetting::Unknown { .. }));
    assert_eq!(f.status, Status::Unknown);
}

#[test]
fn a_headless_machine_is_not_applicable() {
    let (facts, f) = judge("headless");
    assert!(facts.users.is_empty());
    assert!(facts.no_desktop.is_some());
    assert_eq!(f.status, Status::NotApplicable, "{}", f.summary);
}

#[test]
fn a_user_without_a_session_is_judged_on_the_desktop_accountsservice_remembers() {
    let (facts, f) = judge("not-logged-in-accountsservice");
    assert_eq!(facts.users[0].desktop, "KDE Plasma");
    assert!(matches!(
        only_setting(&facts),
        LockSetting::LocksAfter { seconds: 1205, .. }
    ));
    assert_eq!(f.status, Status::Fail);
}

#[test]
fn a_user_without_a_session_is_judged_on_every_installed_desktop() {
    let (facts, f) = judge("not-logged-in-every-desktop");
    let desktops: Vec<&str> = facts.users.iter().map(|u| u.desktop.as_str()).collect();
    assert_eq!(desktops, ["KDE Plasma", "Xfce"]);
    // KDE passes with defaults; Xfce without xfce4-screensaver is unknown: not a pass.
    assert_eq!(f.status, Status::Unknown);
}

#[test]
fn every_file_is_read_once() {
    use std::cell::RefCell;
    struct Counting(RootedHost, RefCell<Vec<String>>);
    impl Host for Counting {
        fn platform(&self) -> Platform {
            Platform::Linux
        }
        fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
            self.1.borrow_mut().push(path.to_owned());
            self.0.read(path)
        }
        fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
            self.0.list_dir(path)
        }
        fn read_link(&self, path: &str) -> Result<String, ReadError> {
            self.0.read_link(path)
        }
        fn run(&self, command: &CommandSpec) -> Result<CommandOutput, CommandError> {
            self.0.run(command)
        }
    }
    let host = Counting(root("gnome-system-lock-wins"), RefCell::new(Vec::new()));
    let _ = screen_lock::gather(&host);
    let mut reads = host.1.into_inner();
    let n = reads.len();
    reads.sort();
    reads.dedup();
    assert_eq!(reads.len(), n, "some file was read twice");
}

#[test]
fn ubuntu_session_name_resolves_through_its_session_file_to_gnome() {
    // logind records DESKTOP=ubuntu (the session file's name); ubuntu.desktop says
    // DesktopNames=ubuntu:GNOME, written with a colon.
    let (facts, f) = judge("ubuntu-gnome-defaults");
    assert_eq!(facts.users[0].desktop, "GNOME");
    assert!(matches!(
        only_setting(&facts),
        LockSetting::LocksAfter { seconds: 300, .. }
    ));
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert!(evidence_has(
        &f,
        "desktop",
        None,
        "GNOME (XDG_CURRENT_DESKTOP=ubuntu:GNOME)"
    ));
    // The evidence shows DesktopNames as the file writes it.
    assert!(evidence_has(
        &f,
        "/usr/share/wayland-sessions",
        None,
        "ubuntu.desktop (DesktopNames=ubuntu:GNOME)"
    ));
}

#[test]
fn every_major_distributions_default_desktop_is_judged() {
    for (distribution, case, desktop) in [
        ("Ubuntu", "ubuntu-gnome-defaults", "GNOME"),
        ("Ubuntu 24.04, stock files", "ubuntu-2404-stock", "GNOME"),
        ("Pop!_OS (GNOME)", "pop-gnome-defaults", "GNOME"),
        ("Zorin OS", "zorin-gnome-defaults", "GNOME"),
        (
            "Debian and Fedora Workstation",
            "debian-gnome-defaults",
            "GNOME",
        ),
        ("Linux Mint Cinnamon", "cinnamon-defaults", "Cinnamon"),
        ("Linux Mint MATE", "mate-defaults", "MATE"),
        ("Linux Mint Xfce", "xfce-screensaver", "Xfce"),
        ("openSUSE and Fedora KDE", "kde-defaults", "KDE Plasma"),
    ] {
        let (facts, f) = judge(case);
        assert_eq!(facts.users.len(), 1, "{distribution}: {:#?}", facts.users);
        assert_eq!(facts.users[0].desktop, desktop, "{distribution}");
        assert_eq!(f.status, Status::Pass, "{distribution}: {}", f.summary);
    }
}

#[test]
fn a_schema_the_user_compiled_in_local_share_replaces_the_packaged_default() {
    // ~/.local/share/glib-2.0/schemas holds org.gnome.desktop.session with idle-delay 0: GLib
    // takes that schema from the user's directory, before /usr/share, with no dconf value set.
    let (facts, f) = judge("gnome-user-compiled-schema");
    assert!(
        matches!(only_setting(&facts), LockSetting::NeverLocks { reason } if reason.contains("idle-delay is 0")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Fail);
    assert!(evidence_has(
        &f,
        "/home/alice/.local/share/glib-2.0/schemas/gschemas.compiled",
        Some("/org/gnome/desktop/session/idle-delay"),
        "uint32 0 (schema default"
    ));
    // The other schemas are not in the user's file: they still come from /usr/share.
    assert!(evidence_has(
        &f,
        "/usr/share/glib-2.0/schemas/gschemas.compiled",
        Some("/org/gnome/desktop/screensaver/lock-enabled"),
        "true (schema default"
    ));
}

#[test]
fn a_local_schema_file_without_the_lock_schemas_leaves_the_packaged_defaults() {
    let (facts, f) = judge("gnome-local-schema-without-lock-keys");
    assert!(matches!(
        only_setting(&facts),
        LockSetting::LocksAfter { seconds: 300, .. }
    ));
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert!(evidence_has(
        &f,
        "/usr/local/share/glib-2.0/schemas/gschemas.compiled",
        None,
        "read: schema defaults"
    ));
}

#[test]
fn xfce_channel_with_single_quoted_attributes_is_read_as_xml() {
    // Valid XML: xfconf and any XML parser read lock/enabled = false.
    let (facts, f) = judge("xfce-single-quoted-attributes");
    assert!(
        matches!(only_setting(&facts), LockSetting::NeverLocks { reason } if reason.contains("/lock/enabled is false")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Fail);
}

#[test]
fn a_truncated_xfce_channel_is_unknown_not_the_defaults() {
    let (facts, f) = judge("xfce-truncated-channel");
    assert!(
        matches!(only_setting(&facts), LockSetting::Unknown { reason } if reason.contains("not an xfconf channel posture can read")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Unknown);
}

#[test]
fn an_empty_password_with_nullok_in_the_gdm_stack_fails_the_screen_lock() {
    // GNOME's settings lock after 5 minutes, but alice's password field is empty and Debian's
    // common-auth (included by gdm-password) says pam_unix.so nullok: Enter unlocks.
    let (facts, f) = judge("gnome-empty-password-nullok");
    assert!(
        matches!(only_setting(&facts), LockSetting::NeverLocks { reason } if reason.contains("empty password") && reason.contains("nullok")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Fail);
    assert!(evidence_has(
        &f,
        "/etc/pam.d/common-auth",
        Some("auth"),
        "pam_unix.so nullok"
    ));
    assert!(evidence_has(
        &f,
        "/etc/shadow",
        Some("alice"),
        "empty password"
    ));
}

#[test]
fn an_empty_password_without_nullok_cannot_unlock_and_the_lock_stands() {
    let (facts, f) = judge("gnome-empty-password-without-nullok");
    assert!(matches!(
        only_setting(&facts),
        LockSetting::LocksAfter { seconds: 300, .. }
    ));
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    // Without nullok the shadow file is not even needed.
    assert!(!f.evidence.iter().any(|e| e.source == "/etc/shadow"));
}

/// A root whose /etc/shadow is readable by root only, as for a run without root.
struct ShadowDenied(RootedHost);

impl Host for ShadowDenied {
    fn platform(&self) -> Platform {
        Platform::Linux
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        if path == "/etc/shadow" {
            return Err(ReadError::PermissionDenied);
        }
        self.0.read(path)
    }
    fn list_dir(&self, path: &str) -> Result<Vec<String>, ReadError> {
        self.0.list_dir(path)
    }
    fn read_link(&self, path: &str) -> Result<String, ReadError> {
        self.0.read_link(path)
    }
    fn run(&self, command: &CommandSpec) -> Result<CommandOutput, CommandError> {
        self.0.run(command)
    }
}

#[test]
fn an_unreadable_shadow_file_under_a_nullok_stack_is_unknown_with_the_root_hint() {
    let (facts, f) = judge_host(&ShadowDenied(root("gnome-empty-password-nullok")));
    assert!(
        matches!(only_setting(&facts), LockSetting::Unknown { reason } if reason.contains("run posture as root")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Unknown);
}

#[test]
fn stock_pop_os_cosmic_is_judged_from_cosmic_idles_built_in_default() {
    // Pop!_OS 24.04: greetd with cosmic-greeter (logind SERVICE=cosmic-greeter, DESKTOP=COSMIC),
    // no cosmic-idle setting anywhere: the built-in 15 min screen-off, then a 5 s fade and
    // 0.5 s before the lock. 905.5 s rounds up to 906 s, past a 15-minute limit.
    let (facts, f) = judge("popos-2404-cosmic");
    assert_eq!(facts.users[0].desktop, "COSMIC");
    assert!(
        matches!(
            only_setting(&facts),
            LockSetting::LocksAfter { seconds: 906, how } if how.contains("15 min")
        ),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(evidence_has(
        &f,
        "desktop",
        None,
        "COSMIC (XDG_CURRENT_DESKTOP=COSMIC)"
    ));
    assert!(evidence_has(
        &f,
        "cosmic-config",
        None,
        "com.system76.CosmicIdle/screen_off_time = Some(900000)"
    ));
    assert!(evidence_has(
        &f,
        "com.system76.CosmicSettings.Shortcuts/v1/system_actions",
        Some("LockScreen"),
        "loginctl lock-session"
    ));
    // The password is set: the cosmic-greeter stack's nullok does not matter.
    assert!(evidence_has(
        &f,
        "/etc/pam.d/common-auth",
        Some("auth"),
        "nullok"
    ));
    assert!(
        f.remediation
            .iter()
            .any(|r| r.contains("Turn off the screen after")),
        "{:?}",
        f.remediation
    );
    assert!(
        f.remediation.iter().any(|r| r.contains("Some(894000)")),
        "{:?}",
        f.remediation
    );
}

#[test]
fn cosmic_user_screen_off_time_beats_the_system_default() {
    let (facts, f) = judge("cosmic-screen-off-5-min");
    assert!(
        matches!(
            only_setting(&facts),
            LockSetting::LocksAfter { seconds: 306, .. }
        ),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert!(evidence_has(
        &f,
        "/home/alice/.config/cosmic/com.system76.CosmicIdle/v1/screen_off_time",
        Some("screen_off_time"),
        "Some(300000)"
    ));
}

#[test]
fn cosmic_system_default_in_usr_share_applies_without_a_user_value() {
    let (facts, f) = judge("cosmic-system-default-10-min");
    assert!(
        matches!(
            only_setting(&facts),
            LockSetting::LocksAfter { seconds: 606, .. }
        ),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
}

#[test]
fn cosmic_screen_that_never_turns_off_never_locks() {
    let (facts, f) = judge("cosmic-screen-never");
    assert!(
        matches!(only_setting(&facts), LockSetting::NeverLocks { reason } if reason.contains("screen_off_time is None")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Fail);
}

#[test]
fn cosmic_value_posture_does_not_read_is_unknown_not_the_default() {
    let (facts, f) = judge("cosmic-unread-value");
    assert!(
        matches!(only_setting(&facts), LockSetting::Unknown { reason } if reason.contains("Some(300_000)")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Unknown);
}

#[test]
fn cosmic_lock_action_replaced_by_the_user_is_unknown() {
    let (facts, f) = judge("cosmic-lock-action-replaced");
    assert!(
        matches!(only_setting(&facts), LockSetting::Unknown { reason } if reason.contains("`true`")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Unknown);
}

#[test]
fn cosmic_without_cosmic_idle_is_unknown() {
    let (facts, f) = judge("cosmic-without-cosmic-idle");
    assert!(
        matches!(only_setting(&facts), LockSetting::Unknown { reason } if reason.contains("/usr/bin/cosmic-idle")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Unknown);
}

#[test]
fn cosmic_lock_screen_with_an_empty_password_and_nullok_fails() {
    // cosmic-greeter's PAM stack includes Debian's common-auth (pam_unix.so nullok).
    let (facts, f) = judge("cosmic-empty-password");
    assert!(
        matches!(only_setting(&facts), LockSetting::NeverLocks { reason } if reason.contains("empty password")),
        "{:?}",
        facts.users
    );
    assert_eq!(f.status, Status::Fail);
    assert!(evidence_has(
        &f,
        "/etc/pam.d/common-auth",
        Some("auth"),
        "cosmic-greeter stack"
    ));
}

// Enforcement: what pins each setting

/// The setting of dconf key (or KDE / xfconf name) `name` of alice's lock.
fn setting<'f>(f: &'f Finding, name: &str) -> &'f posture_schema::Setting {
    f.subjects[0]
        .settings
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no setting {name} in {:#?}", f.subjects[0].settings))
}

const IDLE_DELAY: &str = "/org/gnome/desktop/session/idle-delay";

#[test]
fn a_compiled_dconf_lock_enforces_the_key_and_the_users_keys_stay_user_set() {
    use posture_schema::{Enforced, Enforcer};
    let (_, f) = judge("gnome-system-lock-wins");
    let idle = setting(&f, IDLE_DELAY);
    assert_eq!(idle.enforced, Enforced::Yes, "{idle:#?}");
    assert_eq!(idle.value, "uint32 600");
    let by = &idle.enforced_by[0];
    assert_eq!(by.kind, Enforcer::DCONF_LOCK);
    assert_eq!(by.id, "/etc/dconf/db/local");
    // /etc/dconf/profile/user can be replaced by the user's DCONF_PROFILE.
    assert_eq!(by.removable_by, Enforcer::BY_USER);
    assert!(idle.notes.iter().any(|n| n.contains("DCONF_PROFILE")));
    let delay = setting(&f, "/org/gnome/desktop/screensaver/lock-delay");
    assert_eq!(delay.enforced, Enforced::No);
    assert_eq!(f.subjects[0].enforced, Some(Enforced::No));
}

#[test]
fn a_lock_in_the_mandatory_profile_is_removable_only_by_an_administrator() {
    use posture_schema::{Enforced, Enforcer};
    let (_, f) = judge("gnome-mandatory-profile");
    let idle = setting(&f, IDLE_DELAY);
    assert_eq!(idle.enforced, Enforced::Yes);
    assert_eq!(idle.enforced_by[0].removable_by, Enforcer::BY_LOCAL_ADMIN);
}

#[test]
fn a_lock_file_without_dconf_update_enforces_nothing_and_says_so() {
    use posture_schema::{Enforced, Enforcer};
    let (_, f) = judge("gnome-uncompiled-keyfiles");
    let idle = setting(&f, IDLE_DELAY);
    assert_eq!(idle.enforced, Enforced::No, "{idle:#?}");
    assert_eq!(idle.enforced_by[0].kind, Enforcer::DCONF_LOCK);
    assert_eq!(
        idle.enforced_by[0].id,
        "/etc/dconf/db/local.d/locks/00-screensaver"
    );
    assert!(
        idle.notes.iter().any(|n| n.contains("dconf update")),
        "{idle:#?}"
    );
}

#[test]
fn a_user_written_runtime_profile_defeats_the_administrators_lock() {
    use posture_schema::{Enforced, Enforcer};
    let (_, f) = judge("gnome-runtime-profile-override");
    // alice's own idle-delay 0 is in effect: the lock in /etc/dconf/db/local is not.
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    let idle = setting(&f, IDLE_DELAY);
    assert_eq!(idle.value, "uint32 0");
    assert_eq!(idle.enforced, Enforced::No);
    let by = &idle.enforced_by[0];
    assert_eq!(
        (by.kind.as_str(), by.id.as_str()),
        (Enforcer::DCONF_LOCK, "/etc/dconf/db/local")
    );
    assert_eq!(by.value.as_deref(), Some("uint32 600"));
    assert!(
        idle.notes.iter().any(|n| n.contains("defeated")),
        "{idle:#?}"
    );
}

#[test]
fn require_enforced_fails_a_lock_the_user_set_and_passes_a_locked_one() {
    let mut rule = Policy::embedded().rules.screen_lock;
    rule.require_enforced = true;
    let judge_with = |case: &str| {
        let facts = screen_lock::gather(&root(case));
        screen_lock::evaluate(&facts, &rule, Platform::Linux)
    };
    let f = judge_with("gnome-defaults");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert!(f.remediation[0].contains("dconf update"));
    // Only idle-delay is locked there: lock-delay and lock-enabled stay the user's.
    let f = judge_with("gnome-mandatory-profile");
    assert_eq!(f.status, Status::Fail);
    assert!(
        f.subjects[0].summary.contains("lock-delay"),
        "{}",
        f.subjects[0].summary
    );
}

#[test]
fn kde_group_immutability_enforces_every_key_of_the_group() {
    use posture_schema::{Enforced, Enforcer};
    let (_, f) = judge("kde-system-immutable");
    assert_eq!(
        f.subjects[0].enforced,
        Some(Enforced::Yes),
        "{:#?}",
        f.subjects[0]
    );
    let timeout = setting(&f, "Timeout");
    assert_eq!(timeout.value, "10");
    let by = &timeout.enforced_by[0];
    assert_eq!(by.kind, Enforcer::KDE_IMMUTABLE);
    assert_eq!(by.id, "/etc/xdg/kscreenlockerrc");
    assert!(by.name.as_deref().unwrap().contains("[Daemon][$i]"));
    // Autolock has no value there, yet the group marker freezes its default too.
    assert_eq!(setting(&f, "Autolock").enforced, Enforced::Yes);
}

#[test]
fn kde_key_immutability_enforces_that_key_only() {
    use posture_schema::Enforced;
    let (facts, f) = judge("kde-key-immutable");
    assert!(matches!(
        only_setting(&facts),
        LockSetting::LocksAfter { seconds: 660, .. }
    ));
    let timeout = setting(&f, "Timeout");
    assert_eq!(timeout.enforced, Enforced::Yes);
    assert!(
        timeout.enforced_by[0]
            .name
            .as_deref()
            .unwrap()
            .contains("Timeout[$i]")
    );
    let grace = setting(&f, "LockGrace");
    assert_eq!((grace.value.as_str(), grace.enforced), ("60", Enforced::No));
    assert_eq!(setting(&f, "Autolock").enforced, Enforced::No);
    assert_eq!(f.subjects[0].enforced, Some(Enforced::No));
}

#[test]
fn xfconf_locked_properties_are_enforced_and_the_users_others_are_not() {
    use posture_schema::{Enforced, Enforcer};
    let (facts, f) = judge("xfce-system-locked");
    // The system's locked 5 min wins over alice's 10; her lock delay of 1 min stays hers.
    assert!(matches!(
        only_setting(&facts),
        LockSetting::LocksAfter { seconds: 360, .. }
    ));
    let idle = setting(&f, "/saver/idle-activation/delay");
    assert_eq!(idle.enforced, Enforced::Yes, "{idle:#?}");
    assert_eq!(idle.enforced_by[0].kind, Enforcer::XFCONF_LOCK);
    assert_eq!(idle.enforced_by[0].name.as_deref(), Some("locked=\"*\""));
    assert_eq!(
        setting(&f, "/lock/saver-activation/delay").enforced,
        Enforced::No
    );
    let (_, f) = judge("xfce-screensaver");
    assert_eq!(f.subjects[0].enforced, Some(Enforced::No));
}
