//! macOS evidence bundles under `tests/fixtures/macos/`, one per state, judged through a
//! `ReplayHost` exactly as `posture --check --replay FILE` judges them.

use posture_checks::assess;
use posture_host::Platform;
use posture_policy::{Policy, RemoteAccessMode, RemovableMediaMode};
use posture_schema::Status;

mod support;

use support::{Bundles, expect, no_debug_output, says};

const BUNDLES: Bundles = Bundles {
    platform: Platform::Macos,
    dir: "macos",
};

// FileVault

#[test]
fn filevault_on_passes() {
    expect(
        &BUNDLES.disk("filevault_on"),
        Status::Pass,
        "encrypted (FileVault)",
    );
}

#[test]
fn filevault_off_fails_with_the_macos_remediation() {
    let f = BUNDLES.disk("filevault_off");
    expect(&f, Status::Fail, "FileVault is off");
    assert!(
        f.remediation
            .iter()
            .any(|r| r.contains("System Settings > Privacy & Security > FileVault > Turn On"))
    );
}

#[test]
fn filevault_encryption_in_progress_fails_with_the_percentage() {
    expect(
        &BUNDLES.disk("filevault_encrypting"),
        Status::Fail,
        "FileVault encryption in progress (42% done)",
    );
}

#[test]
fn filevault_deferred_enablement_fails_as_not_yet_encrypted() {
    expect(
        &BUNDLES.disk("filevault_deferred"),
        Status::Fail,
        "deferred until jdoe",
    );
}

#[test]
fn filevault_decryption_in_progress_fails() {
    expect(
        &BUNDLES.disk("filevault_decrypting"),
        Status::Fail,
        "FileVault decryption in progress (35% done)",
    );
}

#[test]
fn filevault_command_failure_is_unknown_with_the_reason() {
    let f = BUNDLES.disk("filevault_command_failed");
    expect(
        &f,
        Status::Unknown,
        "/usr/bin/fdesetup status failed: timed out",
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.source == "/usr/bin/fdesetup status")
    );
}

#[test]
fn an_internal_volume_encrypted_at_rest_only_fails_though_filevault_is_on() {
    let f = BUNDLES.disk("filevault_other_volume_hardware_only");
    expect(&f, Status::Fail, "not protected by encryption: Projects");
    assert!(
        says(&f, "encrypted at rest by the hardware key only"),
        "{f:#?}"
    );
    assert!(
        f.subjects
            .iter()
            .any(|s| s.name == "/" && s.status == Status::Pass)
    );
}

#[test]
fn an_internal_volume_with_its_own_password_passes() {
    let f = BUNDLES.disk("filevault_other_volume_password");
    expect(&f, Status::Pass, "(2 checked)");
    assert!(says(&f, "APFS encrypted with a password (FileVault)"));
}

#[test]
fn an_exfat_volume_on_a_second_internal_disk_fails() {
    expect(
        &BUNDLES.disk("filevault_second_internal_disk_exfat"),
        Status::Fail,
        "not protected by encryption: /Volumes/Media",
    );
}

#[test]
fn external_sticks_and_sd_cards_are_not_internal_data_volumes() {
    for bundle in [
        "removable_unencrypted_stick_mounted",
        "removable_sd_card_internal_reader",
    ] {
        let f = BUNDLES.disk(bundle);
        expect(&f, Status::Pass, "(1 checked)");
    }
}

#[test]
fn the_stock_volume_layout_judges_only_the_startup_group() {
    let f = BUNDLES.disk("filevault_on");
    assert_eq!(f.subjects.len(), 1, "{f:#?}");
    assert!(
        f.evidence
            .iter()
            .any(|e| e.source == "/usr/sbin/diskutil apfs list -plist")
    );
}

// Screen lock

#[test]
fn password_immediately_after_a_five_minute_screen_saver_passes() {
    expect(
        &BUNDLES.screen_lock("screen_lock_immediate_5min"),
        Status::Pass,
        "locks after 5 min (screen saver 5 min + password after 0 s)",
    );
}

#[test]
fn password_five_seconds_after_the_screen_saver_passes() {
    expect(
        &BUNDLES.screen_lock("screen_lock_after_5_seconds"),
        Status::Pass,
        "screen saver 10 min + password after 5 s",
    );
}

#[test]
fn a_lock_screen_without_password_fails() {
    let f = BUNDLES.screen_lock("screen_lock_password_not_required");
    expect(&f, Status::Fail, "screenLock is off");
    assert!(f.remediation.iter().any(|r| r.contains("Require password")));
}

#[test]
fn screen_saver_never_and_display_sleep_never_fails() {
    expect(
        &BUNDLES.screen_lock("screen_lock_never_idle"),
        Status::Fail,
        "neither the screen saver, the display nor the system ever goes to sleep",
    );
}

#[test]
fn display_sleep_only_on_battery_fails_because_the_worst_power_source_counts() {
    expect(
        &BUNDLES.screen_lock("screen_lock_battery_only"),
        Status::Fail,
        "on AC Power neither",
    );
}

#[test]
fn a_stock_laptops_sleep_1_does_not_mean_it_locks_after_one_minute() {
    // Display sleep 2 min on battery, 10 min on AC, sleep 1 on both: idle system sleep waits
    // for the display, so the lock comes with the display sleep, 10 min on AC at worst.
    let f = BUNDLES.screen_lock("screen_lock_stock_sleep_1");
    expect(
        &f,
        Status::Pass,
        "locks after 10 min (display sleep 10 min on AC Power + password after 0 s)",
    );
    assert!(!says(&f, "system sleep 1 min"), "{f:#?}");
}

#[test]
fn screen_saver_off_and_display_never_on_ac_fails_whatever_sleep_says() {
    expect(
        &BUNDLES.screen_lock("screen_lock_display_never_on_ac"),
        Status::Fail,
        "on AC Power neither the screen saver, the display nor the system ever goes to sleep",
    );
}

#[test]
fn display_sleep_30_with_sleep_1_locks_only_after_30_minutes() {
    expect(
        &BUNDLES.screen_lock("screen_lock_display_30_sleep_1"),
        Status::Fail,
        "locks only after 30 min (display sleep 30 min on AC Power",
    );
}

#[test]
fn a_profile_idle_time_overrides_the_users_laxer_one() {
    let f = BUNDLES.screen_lock("screen_lock_managed_overrides_user");
    expect(
        &f,
        Status::Pass,
        "profile /Library/Managed Preferences/com.apple.screensaver.plist",
    );
    assert!(says(&f, "locks after 10 min"));
}

#[test]
fn at_the_login_window_screen_lock_is_not_applicable() {
    expect(
        &BUNDLES.screen_lock("screen_lock_login_window"),
        Status::NotApplicable,
        "login window",
    );
}

// Removable media

#[test]
fn mount_controls_deny_passes() {
    expect(
        &BUNDLES.removable("removable_deny", RemovableMediaMode::ReadOnly),
        Status::Pass,
        "harddisk-external [deny]",
    );
    expect(
        &BUNDLES.removable("removable_deny", RemovableMediaMode::Block),
        Status::Pass,
        "blocked",
    );
}

#[test]
fn mount_controls_read_only_passes_read_only_mode_and_fails_block_mode() {
    expect(
        &BUNDLES.removable("removable_read_only", RemovableMediaMode::ReadOnly),
        Status::Pass,
        "read-only",
    );
    expect(
        &BUNDLES.removable("removable_read_only", RemovableMediaMode::Block),
        Status::Fail,
        "requires it blocked",
    );
}

#[test]
fn no_mount_controls_fails() {
    let f = BUNDLES.removable("removable_none", RemovableMediaMode::ReadOnly);
    expect(
        &f,
        Status::Fail,
        "no configuration profile sets mount-controls",
    );
    assert!(!f.remediation.is_empty());
}

#[test]
fn an_unencrypted_external_volume_mounted_writable_fails_even_under_deny() {
    let f = BUNDLES.removable(
        "removable_unencrypted_stick_mounted",
        RemovableMediaMode::ReadOnly,
    );
    expect(
        &f,
        Status::Fail,
        "/dev/disk4s1 (USB, msdos) is mounted writable and is not encrypted",
    );
    assert!(f.subjects.iter().any(|s| s.name == "/Volumes/UNTITLED"));
}

#[test]
fn an_sd_card_in_the_built_in_reader_is_removable_media_though_diskutil_says_internal() {
    for mode in [
        RemovableMediaMode::Block,
        RemovableMediaMode::ReadOnly,
        RemovableMediaMode::Audit,
    ] {
        let f = BUNDLES.removable("removable_sd_card_internal_reader", mode);
        expect(
            &f,
            Status::Fail,
            "/dev/disk4s1 (Secure Digital, removable media in a built-in reader, exfat) is mounted writable and is not encrypted",
        );
        assert!(f.subjects.iter().any(|s| s.name == "/Volumes/SDCARD"));
    }
}

// Every bundle, through the whole assessment

#[test]
fn no_bundle_shows_rust_debug_output_in_its_findings() {
    no_debug_output(&BUNDLES);
}

#[test]
fn every_bundle_judges_without_unrecorded_evidence_and_fills_the_inventory() {
    let policy = Policy::embedded();
    let mut count = 0;
    for entry in fs_err::read_dir(BUNDLES.fixture_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        // Bundles recorded for one of the first three checks predate the credentials check and
        // hold none of its reads; the credentials_* bundles hold them.
        let mut policy = policy.clone();
        policy.rules.credentials.enabled = name.starts_with("credentials_");
        // Likewise the password_rules reads are in the password_* bundles only.
        policy.rules.password_rules.enabled = name.starts_with("password_");
        let a = assess(&BUNDLES.host(&name), &policy);
        for f in &a.findings {
            let text = format!("{f:?}");
            assert!(!text.contains("not recorded"), "{name}: {f:#?}");
        }
        assert_eq!(a.device.os.name.as_deref(), Some("macOS"), "{name}");
        assert_eq!(a.device.os.version.as_deref(), Some("14.6.1"));
        assert_eq!(a.device.hardware.serial.as_deref(), Some("D5XQV1FMFJ"));
        assert_eq!(a.device.hostname.as_deref(), Some("Jane’s MacBook Pro"));
        assert!(a.device.mdm.as_ref().is_some_and(|m| m.enrolled));
        count += 1;
    }
    assert!(count >= 20, "{count} bundles");
}

// Device access

/// The subject of a device-access finding by name.
fn subject(f: &posture_schema::Finding, name: &str) -> Status {
    f.subjects
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no subject {name}: {:#?}", f.subjects))
        .status
}

#[test]
fn a_stock_mac_has_no_way_in() {
    let f = BUNDLES.access("access_stock", RemoteAccessMode::Deny);
    assert_eq!(subject(&f, "automatic login"), Status::Pass);
    assert_eq!(subject(&f, "guest user"), Status::Pass);
    assert_eq!(subject(&f, "Remote Login (SSH)"), Status::Pass);
    assert_eq!(subject(&f, "Screen Sharing (VNC)"), Status::Pass);
    assert_eq!(subject(&f, "accounts"), Status::Pass);
    assert!(
        says(&f, "every account of a person has a password (jdoe"),
        "{}",
        f.summary
    );
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
}

#[test]
fn an_account_whose_hash_is_that_of_the_empty_password_fails() {
    let f = BUNDLES.access("access_empty_password", RemoteAccessMode::Report);
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert_eq!(subject(&f, "jdoe"), Status::Fail);
    assert!(says(&f, "jdoe has an empty password"), "{}", f.summary);
    assert!(
        f.remediation.iter().any(|r| r.contains("Users & Groups")),
        "{:?}",
        f.remediation
    );
}

#[test]
fn an_account_with_only_an_srp_verifier_stays_unknown() {
    let f = BUNDLES.access("access_srp_only", RemoteAccessMode::Report);
    assert_eq!(f.status, Status::Unknown, "{}", f.summary);
    assert_eq!(subject(&f, "jdoe"), Status::Unknown);
    assert!(says(&f, "SRP-RFC5054-4096-SHA512-PBKDF2"), "{}", f.summary);
}

#[test]
fn without_root_empty_passwords_are_unknown_with_the_fix() {
    let f = BUNDLES.access("access_not_root", RemoteAccessMode::Report);
    assert_eq!(f.status, Status::Unknown, "{}", f.summary);
    assert_eq!(subject(&f, "accounts"), Status::Unknown);
    assert!(says(&f, "run posture as root"), "{}", f.summary);
}

#[test]
fn automatic_login_needs_both_the_user_and_the_password_file() {
    let f = BUNDLES.access("access_autologin_on", RemoteAccessMode::Report);
    assert_eq!(f.status, Status::Fail);
    assert!(says(&f, "autoLoginUser is jdoe"), "{}", f.summary);
    assert!(
        f.remediation
            .iter()
            .any(|r| r.contains("Automatically log in"))
    );
    assert!(
        !f.evidence.iter().any(|e| e.source == "/etc/kcpassword"),
        "the password file is listed, never read"
    );
    let f = BUNDLES.access(
        "access_autologin_without_kcpassword",
        RemoteAccessMode::Report,
    );
    assert_eq!(subject(&f, "automatic login"), Status::Pass);
}

#[test]
fn the_guest_user_fails_unless_a_profile_disables_it() {
    let f = BUNDLES.access("access_guest_on", RemoteAccessMode::Report);
    assert_eq!(subject(&f, "guest user"), Status::Fail);
    assert_eq!(f.status, Status::Fail);
    let f = BUNDLES.access("access_guest_managed_off", RemoteAccessMode::Report);
    assert_eq!(subject(&f, "guest user"), Status::Pass);
}

#[test]
fn remote_login_and_screen_sharing_are_reported_and_fail_under_deny() {
    let f = BUNDLES.access("access_remote_login_on", RemoteAccessMode::Report);
    assert_eq!(subject(&f, "Remote Login (SSH)"), Status::Pass);
    assert!(says(&f, "com.openssh.sshd as enabled"));
    let f = BUNDLES.access("access_remote_login_on", RemoteAccessMode::Deny);
    assert_eq!(subject(&f, "Remote Login (SSH)"), Status::Fail);
    assert_eq!(subject(&f, "Screen Sharing (VNC)"), Status::Fail);
    assert_eq!(f.status, Status::Fail);
}

#[test]
fn unrecognised_launchctl_output_is_unknown_under_deny() {
    let f = BUNDLES.access("access_launchctl_unrecognised", RemoteAccessMode::Deny);
    assert_eq!(subject(&f, "Remote Login (SSH)"), Status::Unknown);
}

// Credentials (Device Policy 5)

fn credentials(name: &str, company: Option<&str>) -> posture_schema::Finding {
    let rule = posture_policy::CredentialsRule {
        company_account: company.map(str::to_owned),
        ..Policy::embedded().rules.credentials
    };
    let host = BUNDLES.host(name);
    posture_checks::credentials::evaluate(
        &posture_checks::credentials::gather(&host, &rule),
        &rule,
        Platform::Macos,
    )
}

#[test]
fn the_console_user_signed_in_to_the_company_account_passes() {
    let f = credentials("credentials_company_account", Some("example.1password.com"));
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    let names: Vec<&str> = f.subjects.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"jdoe: Google Chrome profile Profile 1"),
        "{names:?}"
    );
    assert!(
        names.contains(&"jdoe: /Users/jdoe/.ssh/id_ed25519"),
        "{names:?}"
    );
}

#[test]
fn a_group_container_refused_without_full_disk_access_is_unknown_with_the_hint() {
    let f = credentials(
        "credentials_group_container_denied",
        Some("example.1password.com"),
    );
    assert_eq!(f.status, Status::Unknown, "{f:#?}");
    assert!(f.summary.contains("Full Disk Access"), "{}", f.summary);
}

#[test]
fn a_1password_7_personal_account_fails_with_the_extension_and_key_fixes() {
    let f = credentials("credentials_1password7_personal", None);
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert!(
        f.summary
            .contains("jane@example.org at my.1password.com (individual)"),
        "{}",
        f.summary
    );
    assert!(
        f.summary.contains("Firefox profile x1y2z3.default-release"),
        "{}",
        f.summary
    );
    assert!(
        f.summary
            .contains("1 SSH private key(s) without a passphrase"),
        "{}",
        f.summary
    );
    assert!(
        f.remediation
            .iter()
            .any(|r| r.contains("Settings > Accounts"))
    );
}

// Password rules (`pwpolicy -getaccountpolicies`, global and for the console user)

#[test]
fn a_mac_with_only_the_filevault_default_rule_has_a_minimum_of_4_and_no_lockout() {
    let f = BUNDLES.password("password_fde_default_only");
    expect(&f, Status::Fail, "minimum length 4");
    assert!(says(&f, "com.apple.defaultpasswordpolicy.fde"), "{f:#?}");
    assert!(
        says(&f, "no lockout or delay after failed attempts"),
        "{f:#?}"
    );
    assert!(f.remediation.iter().any(|r| r.contains("minLength 15")));
}

#[test]
fn a_profiles_rules_pass_and_the_evidence_names_what_the_profile_installed() {
    let f = BUNDLES.password("password_profile");
    expect(&f, Status::Pass, "minimum length 15");
    assert!(says(&f, "locks after 10 failed attempts"), "{f:#?}");
    assert!(
        f.evidence.iter().any(|e| e.value.contains(
            "installed by a configuration profile: ProfilePayload:2E42CFB6-6A44-4B2C-9A8B-0F4C2D5E7A11:maxFailedAttempts"
        )),
        "{:#?}",
        f.evidence
    );
}

#[test]
fn a_per_user_policy_counts_for_the_console_user() {
    let f = BUNDLES.password("password_per_user_profile");
    expect(&f, Status::Pass, "minimum length 15");
    assert_eq!(f.subjects[0].name, "jdoe");
    assert!(says(&f, "locks after 5 failed attempts"), "{f:#?}");
    assert!(says(&f, "remembers 5 old passwords"), "{f:#?}");
}

#[test]
fn a_rule_that_admits_the_empty_string_fails_the_password_requirement() {
    let f = BUNDLES.password("password_empty_admitted");
    expect(&f, Status::Fail, "an empty password is accepted");
    assert!(says(&f, "^$|"), "{f:#?}");
}

#[test]
fn a_mac_bundle_without_pwpolicy_is_unknown_for_password_rules() {
    expect(
        &BUNDLES.password("access_stock"),
        Status::Unknown,
        "not recorded",
    );
}

// Enforcement: what stands behind each screen saver setting

/// The setting `name` of the first subject of a finding.
fn setting<'f>(f: &'f posture_schema::Finding, name: &str) -> &'f posture_schema::Setting {
    f.subjects[0]
        .settings
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no setting {name} in {:#?}", f.subjects[0].settings))
}

#[test]
fn a_non_removable_mdm_profile_enforces_the_screen_saver() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.screen_lock("screen_lock_managed_overrides_user");
    assert_eq!(f.subjects[0].enforced, Some(Enforced::Yes), "{f:#?}");
    let idle = setting(&f, "idleTime");
    assert_eq!(idle.value, "600");
    let by = &idle.enforced_by[0];
    assert_eq!(by.kind, Enforcer::MDM_PROFILE);
    assert_eq!(by.id, "com.acme.mdm.screensaver");
    assert_eq!(by.name.as_deref(), Some("Screen Saver"));
    assert_eq!(by.removable_by, Enforcer::BY_MANAGEMENT);
    assert_eq!(setting(&f, "askForPassword").enforced, Enforced::Yes);
}

#[test]
fn settings_the_user_chose_pass_but_are_not_enforced() {
    use posture_schema::Enforced;
    let f = BUNDLES.screen_lock("screen_lock_immediate_5min");
    assert_eq!(f.status, Status::Pass);
    assert_eq!(f.subjects[0].enforced, Some(Enforced::No));
    for name in ["idleTime", "askForPassword", "askForPasswordDelay"] {
        let s = setting(&f, name);
        assert_eq!(s.enforced, Enforced::No, "{s:#?}");
        assert!(s.enforced_by.is_empty());
    }
}

#[test]
fn a_manual_profile_enforces_but_any_administrator_can_remove_it() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.screen_lock("screen_lock_enforced_manual_profile");
    let idle = setting(&f, "idleTime");
    assert_eq!(idle.enforced, Enforced::Yes);
    assert_eq!(idle.enforced_by[0].kind, Enforcer::MANUAL_PROFILE);
    assert_eq!(idle.enforced_by[0].removable_by, Enforcer::BY_LOCAL_ADMIN);
    assert!(idle.notes.iter().any(|n| n.contains("_manualProfile")));
}

#[test]
fn a_hand_written_managed_plist_is_local_mcx_not_mdm() {
    use posture_schema::Enforcer;
    let f = BUNDLES.screen_lock("screen_lock_enforced_hand_written");
    assert_eq!(f.status, Status::Pass);
    let by = &setting(&f, "idleTime").enforced_by[0];
    assert_eq!(by.kind, Enforcer::LOCAL_MCX);
    assert_eq!(
        by.id,
        "/Library/Managed Preferences/com.apple.screensaver.plist"
    );
    assert_eq!(by.removable_by, Enforcer::BY_LOCAL_ADMIN);
}

#[test]
fn a_managed_value_that_is_not_in_effect_is_reported_beside_the_effective_one() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.screen_lock("screen_lock_enforced_not_effective");
    // The verdict is the machine's: no password is asked, whatever the profile says.
    assert_eq!(f.status, Status::Fail);
    let ask = setting(&f, "askForPassword");
    assert_eq!(ask.value, "false");
    assert_eq!(ask.enforced, Enforced::No);
    assert_eq!(ask.enforced_by[0].kind, Enforcer::MDM_PROFILE);
    assert_eq!(ask.enforced_by[0].value.as_deref(), Some("true"));
    assert!(
        ask.notes.iter().any(|n| n.contains("not in effect")),
        "{ask:#?}"
    );
}

#[test]
fn a_profile_installed_for_the_user_enforces_from_the_users_folder() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.screen_lock("screen_lock_enforced_user_scope");
    let idle = setting(&f, "idleTime");
    assert_eq!(idle.enforced, Enforced::Yes, "{idle:#?}");
    assert_eq!(
        idle.source,
        "/Library/Managed Preferences/jdoe/com.apple.screensaver.plist"
    );
    assert_eq!(idle.enforced_by[0].kind, Enforcer::MDM_PROFILE);
}

#[test]
fn require_enforced_fails_a_user_set_pass_and_keeps_an_enforced_one() {
    let mut rules = Policy::embedded().rules;
    rules.screen_lock.require_enforced = true;
    let judge = |name: &str| {
        let host = BUNDLES.host(name);
        let facts = posture_checks::screen_lock::gather(&host);
        posture_checks::screen_lock::evaluate(&facts, &rules.screen_lock, Platform::Macos)
    };
    let f = judge("screen_lock_immediate_5min");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert!(f.summary.contains("require_enforced"), "{}", f.summary);
    assert!(f.remediation[0].contains("configuration profile"));
    assert_eq!(
        judge("screen_lock_managed_overrides_user").status,
        Status::Pass
    );
}

#[test]
fn mount_controls_from_an_mdm_profile_enforce_the_removable_media_block() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.removable("removable_deny", RemovableMediaMode::Block);
    let control = &f.subjects[0];
    assert_eq!(control.enforced, Some(Enforced::Yes), "{control:#?}");
    let by = &control.settings[0].enforced_by[0];
    assert_eq!(by.kind, Enforcer::MDM_PROFILE);
    assert_eq!(by.id, "com.acme.mdm.restrictions");
    let f = BUNDLES.removable("removable_none", RemovableMediaMode::Audit);
    assert_eq!(f.subjects[0].enforced, Some(Enforced::No));
}

#[test]
fn a_profile_that_disables_the_guest_enforces_it_and_guest_enabled_is_the_admins_own() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.access("access_guest_managed_off", RemoteAccessMode::Report);
    let guest = f.subjects.iter().find(|s| s.name == "guest user").unwrap();
    assert_eq!(guest.enforced, Some(Enforced::Yes), "{guest:#?}");
    assert_eq!(guest.settings[0].name, "DisableGuestAccount");
    assert_eq!(guest.settings[0].enforced_by[0].kind, Enforcer::MDM_PROFILE);
    assert_eq!(
        guest.settings[0].enforced_by[0].id,
        "com.acme.mdm.loginwindow"
    );
    let f = BUNDLES.access("access_guest_on", RemoteAccessMode::Report);
    let guest = f.subjects.iter().find(|s| s.name == "guest user").unwrap();
    assert_eq!(guest.enforced, Some(Enforced::No));
}

// What keeps FileVault on, and what sets the password rules

#[test]
fn filevault_kept_on_by_an_mdm_profile_is_enforced_and_off_despite_it_is_not() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.disk("filevault_enforced");
    assert_eq!(f.status, Status::Pass);
    let root = f.subjects.iter().find(|s| s.name == "/").unwrap();
    assert_eq!(root.enforced, Some(Enforced::Yes), "{root:#?}");
    let by = &root.settings[0].enforced_by[0];
    assert_eq!(by.kind, Enforcer::MDM_PROFILE);
    assert_eq!(by.id, "com.acme.mdm.filevault");
    assert_eq!(by.removable_by, Enforcer::BY_MANAGEMENT);

    let f = BUNDLES.disk("filevault_off_enforced");
    assert_eq!(f.status, Status::Fail);
    let root = f.subjects.iter().find(|s| s.name == "/").unwrap();
    assert_eq!(root.enforced, Some(Enforced::No));
    assert_eq!(
        root.settings[0].enforced_by[0].value.as_deref(),
        Some("encrypted")
    );

    let f = BUNDLES.disk("filevault_on");
    let root = f.subjects.iter().find(|s| s.name == "/").unwrap();
    assert_eq!(root.enforced, Some(Enforced::No), "{root:#?}");
}

#[test]
fn password_rules_from_a_profile_name_it_and_the_fde_default_is_the_macs_own() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.password("password_profile");
    let s = &f.subjects[0];
    let min = s
        .settings
        .iter()
        .find(|x| x.name == "minimum length")
        .unwrap();
    assert_eq!(min.value, "15");
    assert_eq!(min.enforced, Enforced::Yes);
    assert_eq!(min.enforced_by[0].kind, Enforcer::MDM_PROFILE);
    assert_eq!(min.enforced_by[0].id, "com.acme.mdm.passcode");
    assert_eq!(min.enforced_by[0].removable_by, Enforcer::BY_MANAGEMENT);

    let f = BUNDLES.password("password_fde_default_only");
    let min = f.subjects[0]
        .settings
        .iter()
        .find(|x| x.name == "minimum length")
        .unwrap();
    assert_eq!(min.enforced_by[0].kind, Enforcer::SYSTEM_SETTING);
    assert_eq!(min.enforced_by[0].removable_by, Enforcer::BY_LOCAL_ADMIN);
}
