//! Windows evidence bundles under `tests/fixtures/windows/`, one per state, judged through a
//! `ReplayHost` exactly as `posture --check --replay FILE` judges them.

use posture_checks::assess;
use posture_host::Platform;
use posture_policy::{Policy, RemoteAccessMode, RemovableMediaMode};
use posture_schema::Status;

mod support;

use support::{Bundles, expect, no_debug_output, says};

const BUNDLES: Bundles = Bundles {
    platform: Platform::Windows,
    dir: "windows",
};

// BitLocker

#[test]
fn a_fully_encrypted_protected_os_volume_passes() {
    expect(
        &BUNDLES.disk("bitlocker_on"),
        Status::Pass,
        "encrypted (BitLocker XTS-AES 256)",
    );
}

#[test]
fn fully_encrypted_with_protection_suspended_fails() {
    let f = BUNDLES.disk("bitlocker_suspended");
    expect(&f, Status::Fail, "protection is suspended");
    assert!(
        f.remediation
            .iter()
            .any(|r| r.contains("Resume protection"))
    );
}

#[test]
fn encryption_in_progress_fails_with_the_percentage() {
    expect(
        &BUNDLES.disk("bitlocker_encrypting"),
        Status::Fail,
        "BitLocker encryption in progress (37% done)",
    );
}

#[test]
fn an_unencrypted_fixed_data_volume_fails_though_the_os_volume_is_protected() {
    let f = BUNDLES.disk("bitlocker_data_volume_unencrypted");
    expect(&f, Status::Fail, "not protected by encryption: D:");
    assert!(
        f.subjects
            .iter()
            .any(|s| s.name == "C:" && s.status == Status::Pass)
    );
    assert_eq!(
        f.subjects.len(),
        2,
        "the letterless recovery volume is not judged"
    );
    assert!(
        f.remediation
            .iter()
            .any(|r| r.contains("Control Panel > BitLocker Drive Encryption"))
    );
}

#[test]
fn access_denied_is_unknown_with_the_reason() {
    expect(
        &BUNDLES.disk("bitlocker_access_denied"),
        Status::Unknown,
        "only as Administrator or SYSTEM",
    );
}

#[test]
fn a_failed_powershell_query_gives_its_exit_status_and_words_not_its_script() {
    let f = BUNDLES.disk("bitlocker_access_denied");
    expect(
        &f,
        Status::Unknown,
        "PowerShell (BitLocker volumes, Win32_EncryptableVolume) exited with status 5: Access denied",
    );
    assert!(says(&f, "run posture as Administrator"), "{f:#?}");
    assert!(!f.summary.contains("Get-CimInstance"), "{}", f.summary);
    assert!(!f.summary.contains("powershell.exe"), "{}", f.summary);
}

// Screen lock

#[test]
fn a_machine_inactivity_limit_of_900_seconds_passes() {
    expect(
        &BUNDLES.screen_lock("screen_lock_inactivity_900"),
        Status::Pass,
        "machine inactivity limit 15 min",
    );
}

#[test]
fn a_secure_screen_saver_at_600_seconds_passes() {
    expect(
        &BUNDLES.screen_lock("screen_lock_secure_saver_600"),
        Status::Pass,
        "secure screen saver C:\\Windows\\system32\\scrnsave.scr after 10 min (user settings) + 5 s grace",
    );
}

#[test]
fn a_screen_saver_without_password_fails() {
    let f = BUNDLES.screen_lock("screen_lock_saver_not_secure");
    expect(&f, Status::Fail, "locks only after 30 min");
    assert!(
        f.remediation
            .iter()
            .any(|r| r.contains("Interactive logon: Machine inactivity limit"))
    );
}

#[test]
fn the_policy_screen_saver_overrides_the_users() {
    expect(
        &BUNDLES.screen_lock("screen_lock_policy_overrides_user"),
        Status::Pass,
        "after 10 min (policy)",
    );
}

#[test]
fn nothing_configured_fails() {
    expect(
        &BUNDLES.screen_lock("screen_lock_nothing_configured"),
        Status::Fail,
        "never sleeps with sign-in on wake",
    );
}

#[test]
fn sleep_after_ten_minutes_with_sign_in_on_wake_passes() {
    expect(
        &BUNDLES.screen_lock("screen_lock_sleep_with_sign_in"),
        Status::Pass,
        "sleep after 10 min on AC power with sign-in on wake",
    );
}

// Removable media

#[test]
fn deny_all_passes() {
    expect(
        &BUNDLES.removable("removable_deny_all", RemovableMediaMode::Block),
        Status::Pass,
        "Deny_All = 1",
    );
}

#[test]
fn removable_disks_deny_write_passes_read_only_mode_only() {
    expect(
        &BUNDLES.removable("removable_deny_write", RemovableMediaMode::ReadOnly),
        Status::Pass,
        "Deny_Write = 1",
    );
    expect(
        &BUNDLES.removable("removable_deny_write", RemovableMediaMode::Block),
        Status::Fail,
        "requires it blocked",
    );
}

#[test]
fn a_disabled_usbstor_driver_passes() {
    expect(
        &BUNDLES.removable("removable_usbstor_disabled", RemovableMediaMode::Block),
        Status::Pass,
        "Start = 4",
    );
}

#[test]
fn rdv_deny_write_access_passes_read_only_mode() {
    expect(
        &BUNDLES.removable("removable_rdv_deny_write", RemovableMediaMode::ReadOnly),
        Status::Pass,
        "only BitLocker-protected removable drives are writable",
    );
}

#[test]
fn no_restriction_fails() {
    let f = BUNDLES.removable("removable_nothing", RemovableMediaMode::ReadOnly);
    expect(&f, Status::Fail, "USB mass storage is writable");
    assert!(
        f.remediation
            .iter()
            .any(|r| r.contains("Removable Disks: Deny write access"))
    );
}

#[test]
fn usbstor_disabled_alone_does_not_block_uas_drives() {
    let f = BUNDLES.removable(
        "removable_uas_stick_usbstor_disabled",
        RemovableMediaMode::Block,
    );
    expect(&f, Status::Fail, "UASPStor");
    assert!(
        f.remediation.iter().any(|r| r.contains("UASPStor")),
        "{f:#?}"
    );
}

#[test]
fn a_writable_unencrypted_uas_stick_mounted_now_fails_in_every_mode() {
    for mode in [
        RemovableMediaMode::Block,
        RemovableMediaMode::ReadOnly,
        RemovableMediaMode::Audit,
    ] {
        let f = BUNDLES.removable("removable_uas_stick_usbstor_disabled", mode);
        expect(
            &f,
            Status::Fail,
            "SanDisk Extreme PRO (USB, exFAT) is mounted writable and is not encrypted",
        );
        assert!(!says(&f, "mounted read-only"), "{f:#?}");
    }
}

#[test]
fn rdv_deny_write_access_alone_does_not_cover_usb_ssds_that_report_as_fixed() {
    let f = BUNDLES.removable("removable_rdv_only_usb_ssd", RemovableMediaMode::ReadOnly);
    expect(
        &f,
        Status::Fail,
        "USB SSDs that report as fixed disks stay writable",
    );
    expect(
        &f,
        Status::Fail,
        "Samsung PSSD T7 (USB, NTFS) is mounted writable and is not encrypted",
    );
    assert!(!says(&f, "mounted read-only"), "{f:#?}");
}

#[test]
fn a_usb_ssd_reporting_as_fixed_is_external_media_not_an_internal_data_volume() {
    let f = BUNDLES.disk("bitlocker_usb_ssd_fixed");
    expect(&f, Status::Pass, "(1 checked)");
    assert!(f.subjects.iter().all(|s| s.name != "F:"), "{f:#?}");
    // The removable media check judges it instead.
    expect(
        &BUNDLES.removable("bitlocker_usb_ssd_fixed", RemovableMediaMode::Audit),
        Status::Fail,
        "Samsung PSSD T7 (USB, NTFS) is mounted writable and is not encrypted",
    );
}

#[test]
fn a_modern_standby_laptop_locks_when_its_display_turns_off() {
    expect(
        &BUNDLES.screen_lock("screen_lock_modern_standby_display_off"),
        Status::Pass,
        "locks after 10 min (display off after 10 min on AC power (Modern Standby), sign-in required every time",
    );
}

#[test]
fn a_modern_standby_laptop_that_never_asks_for_sign_in_fails() {
    expect(
        &BUNDLES.screen_lock("screen_lock_modern_standby_never_sign_in"),
        Status::Fail,
        "\"If you've been away\" is Never",
    );
}

#[test]
fn on_modern_standby_sleep_with_consolelock_does_not_lock_when_sign_in_is_never() {
    // Sleep after 10 min with CONSOLELOCK 1 locks an S3 PC, but a Modern Standby PC's sleep is
    // the S0 standby whose sign-in on resume DelayLockInterval governs: Never means no lock.
    let f = BUNDLES.screen_lock("screen_lock_modern_standby_sleeps_never_sign_in");
    expect(&f, Status::Fail, "\"If you've been away\" is Never");
    assert!(
        !says(&f, "sleep after 10 min on AC power with sign-in on wake"),
        "{f:#?}"
    );
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
        assert_eq!(
            a.device.os.name.as_deref(),
            Some("Windows 11 Pro"),
            "{name}"
        );
        assert_eq!(a.device.os.build.as_deref(), Some("22631.3979"));
        assert_eq!(a.device.hardware.serial.as_deref(), Some("PF3ABCDE"));
        assert_eq!(a.device.hostname.as_deref(), Some("LAPTOP-7QF2K1"));
        assert_eq!(a.device.users, ["LAPTOP-7QF2K1\\jdoe"]);
        assert!(a.device.mdm.as_ref().is_some_and(|m| m.enrolled));
        count += 1;
    }
    assert!(count >= 22, "{count} bundles");
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
fn a_stock_windows_pc_passes_even_when_remote_access_is_denied() {
    let f = BUNDLES.access("access_stock", RemoteAccessMode::Deny);
    assert_eq!(f.status, Status::Pass, "{:#?}", f.subjects);
    assert!(
        !f.evidence
            .iter()
            .any(|e| e.key.as_deref() == Some("DefaultPassword")),
        "DefaultPassword is never queried"
    );
}

#[test]
fn auto_admin_logon_fails_naming_the_user() {
    let f = BUNDLES.access("access_autologon_on", RemoteAccessMode::Report);
    assert_eq!(subject(&f, "automatic sign-in"), Status::Fail);
    assert!(says(&f, "kiosk (DefaultUserName)"), "{}", f.summary);
    assert!(f.remediation.iter().any(|r| r.contains("AutoAdminLogon")));
}

#[test]
fn an_enabled_guest_account_is_found_by_its_rid_whatever_its_name() {
    let f = BUNDLES.access("access_guest_enabled", RemoteAccessMode::Report);
    assert_eq!(subject(&f, "Guest account"), Status::Fail);
    assert!(says(&f, "Visitor"));
    assert_eq!(
        subject(&f, "local accounts"),
        Status::Pass,
        "guest is judged once"
    );
}

#[test]
fn an_enabled_account_without_a_required_password_fails() {
    let f = BUNDLES.access("access_password_not_required", RemoteAccessMode::Report);
    assert_eq!(subject(&f, "shared"), Status::Fail);
    assert_eq!(subject(&f, "automatic sign-in"), Status::Pass);
}

#[test]
fn remote_desktop_and_openssh_are_reported_and_fail_under_deny() {
    let f = BUNDLES.access("access_remote_on", RemoteAccessMode::Report);
    assert_eq!(f.status, Status::Pass);
    assert!(says(&f, "Remote Desktop accepts connections"));
    let f = BUNDLES.access("access_remote_on", RemoteAccessMode::Deny);
    assert_eq!(subject(&f, "Remote Desktop"), Status::Fail);
    assert_eq!(subject(&f, "OpenSSH Server"), Status::Fail);
}

#[test]
fn the_remote_desktop_policy_wins_over_the_local_switch() {
    let f = BUNDLES.access("access_remote_policy_denies", RemoteAccessMode::Deny);
    assert_eq!(subject(&f, "Remote Desktop"), Status::Pass);
    assert!(says(&f, "group policy"));
}

// Credentials (Device Policy 5)

fn credentials(name: &str) -> posture_schema::Finding {
    let rule = posture_policy::CredentialsRule {
        company_account: Some("example.1password.com".to_owned()),
        ..Policy::embedded().rules.credentials
    };
    let host = BUNDLES.host(name);
    posture_checks::credentials::evaluate(
        &posture_checks::credentials::gather(&host, &rule),
        &rule,
        Platform::Windows,
    )
}

#[test]
fn the_profile_folder_comes_from_the_session_and_both_accounts_are_named() {
    let f = credentials("credentials_company_and_personal");
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    let op = f
        .subjects
        .iter()
        .find(|s| s.name == "jdoe: 1Password")
        .unwrap();
    assert!(
        op.summary.contains("also signed in to jane@example.org"),
        "{}",
        op.summary
    );
    assert!(
        f.subjects
            .iter()
            .any(|s| s.name == "jdoe: Microsoft Edge profile Default" && s.status == Status::Pass),
        "{:#?}",
        f.subjects
    );
}

#[test]
fn a_database_held_by_1password_is_unknown_never_signed_out() {
    let f = credentials("credentials_database_locked");
    assert_eq!(f.status, Status::Unknown, "{f:#?}");
    assert!(
        f.summary.contains("used by another process"),
        "{}",
        f.summary
    );
}

// Password rules (secedit /export, Hello PIN, who governs each signed-in user)

#[test]
fn a_stock_windows_11_allows_an_empty_password_and_locks_after_10() {
    let f = BUNDLES.password("password_stock_elevated");
    expect(&f, Status::Fail, "an empty password is accepted");
    assert!(says(&f, "MinimumPasswordLength = 0"), "{f:#?}");
    assert!(says(&f, "minimum length 0"), "{f:#?}");
    let pin = f
        .subjects
        .iter()
        .find(|s| s.name == "Windows Hello PIN")
        .unwrap();
    assert_eq!(pin.status, Status::Pass, "{}", pin.summary);
    assert!(
        pin.summary.contains("Windows's default 6"),
        "{}",
        pin.summary
    );
    assert!(f.remediation.iter().any(|r| r.contains("secpol.msc")));
}

#[test]
fn a_hardened_local_policy_passes() {
    let f = BUNDLES.password("password_hardened_elevated");
    expect(&f, Status::Pass, "minimum length 15");
    assert!(says(&f, "locks after 5 failed attempts"), "{f:#?}");
    assert!(says(&f, "PIN minimum length 8"), "{f:#?}");
}

#[test]
fn an_unelevated_secedit_export_is_unknown_never_zeros() {
    let f = BUNDLES.password("password_not_elevated");
    expect(
        &f,
        Status::Unknown,
        "it needs elevation, run posture as Administrator",
    );
    assert!(!says(&f, "minimum length 0"), "{f:#?}");
}

#[test]
fn a_domain_user_is_unknown_because_the_domain_controller_holds_the_rules() {
    let f = BUNDLES.password("password_domain_user");
    assert_eq!(
        f.status,
        Status::Fail,
        "the local policy still fails: {f:#?}"
    );
    let jdoe = f.subjects.iter().find(|s| s.name == "jdoe").unwrap();
    assert_eq!(jdoe.status, Status::Unknown);
    assert!(
        jdoe.summary.contains("held on the domain controller"),
        "{}",
        jdoe.summary
    );
}

#[test]
fn a_microsoft_account_user_is_not_judged_by_local_rules() {
    let f = BUNDLES.password("password_microsoft_account");
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    let jdoe = f.subjects.iter().find(|s| s.name == "jdoe").unwrap();
    assert_eq!(jdoe.status, Status::NotApplicable);
    assert!(
        jdoe.summary.contains("cloud identity provider"),
        "{}",
        jdoe.summary
    );
}

// Enforcement: policy, MDM and the user's own values

/// The setting `name` of the first subject of a finding.
fn setting<'f>(f: &'f posture_schema::Finding, name: &str) -> &'f posture_schema::Setting {
    f.subjects[0]
        .settings
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no setting {name} in {:#?}", f.subjects[0].settings))
}

#[test]
fn a_policy_value_without_a_trace_is_enforced_but_its_origin_is_said_to_be_unknown() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.screen_lock("screen_lock_inactivity_900");
    let limit = setting(&f, "InactivityTimeoutSecs");
    assert_eq!(limit.enforced, Enforced::Yes);
    let by = &limit.enforced_by[0];
    assert_eq!(by.kind, Enforcer::POLICY_KEY);
    assert_eq!(by.name.as_deref(), Some("origin not traced"));
    // The RSoP was refused (not elevated): who may remove it is not known either.
    assert_eq!(by.removable_by, Enforcer::BY_UNKNOWN);
    assert!(
        limit.notes.iter().any(|n| n.contains("Access denied")),
        "{:?}",
        limit.notes
    );
    // The inactivity limit alone guarantees the 15 minutes, whatever the power plan says.
    assert_eq!(
        f.subjects[0].enforced,
        Some(Enforced::Yes),
        "{:#?}",
        f.subjects[0]
    );
    assert_eq!(setting(&f, "STANDBYIDLE (AC)").enforced, Enforced::No);
}

#[test]
fn an_mdm_trace_in_policy_manager_names_the_mdm() {
    use posture_schema::Enforcer;
    let f = BUNDLES.screen_lock("screen_lock_enforced_inactivity_mdm");
    let by = &setting(&f, "InactivityTimeoutSecs").enforced_by[0];
    assert_eq!(by.kind, Enforcer::MDM_CSP);
    assert!(
        by.id
            .ends_with(r"LocalPoliciesSecurityOptions\InteractiveLogon_MachineInactivityLimit")
    );
}

#[test]
fn a_native_devicelock_csp_outside_policies_is_found_and_the_verdict_stays() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.screen_lock("screen_lock_enforced_intune_devicelock");
    assert_eq!(f.status, Status::Fail);
    let csp = setting(&f, "MaxInactivityTimeDeviceLock");
    assert_eq!(csp.value, "15 min");
    assert_eq!(csp.enforced_by[0].kind, Enforcer::MDM_CSP);
    assert!(csp.notes.iter().any(|n| n.contains("not counted")));
    assert_eq!(csp.enforced, Enforced::Yes);
}

#[test]
fn a_policy_screen_saver_is_enforced_and_a_users_own_is_not() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.screen_lock("screen_lock_policy_overrides_user");
    let timeout = setting(&f, "ScreenSaveTimeOut");
    assert_eq!(timeout.enforced, Enforced::Yes, "{timeout:#?}");
    assert_eq!(timeout.enforced_by[0].kind, Enforcer::POLICY_KEY);
    let f = BUNDLES.screen_lock("screen_lock_secure_saver_600");
    assert_eq!(f.status, Status::Pass);
    assert_eq!(setting(&f, "ScreenSaveTimeOut").enforced, Enforced::No);
    assert_eq!(f.subjects[0].enforced, Some(Enforced::No));
}

#[test]
fn a_removable_storage_policy_is_enforced_and_a_disabled_driver_is_a_system_setting() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.removable("removable_deny_all", RemovableMediaMode::Block);
    let s = setting(&f, "removable storage control");
    assert_eq!(s.enforced, Enforced::Yes);
    assert_eq!(s.enforced_by[0].kind, Enforcer::POLICY_KEY);
    let f = BUNDLES.removable("removable_usbstor_disabled", RemovableMediaMode::Block);
    assert_eq!(
        setting(&f, "removable storage control").enforced_by[0].kind,
        Enforcer::SYSTEM_SETTING
    );
    let f = BUNDLES.removable("removable_nothing", RemovableMediaMode::ReadOnly);
    assert_eq!(f.subjects[0].enforced, Some(Enforced::No));
}

#[test]
fn a_remote_desktop_policy_is_enforced_and_the_switch_alone_is_not() {
    use posture_schema::{Enforced, Enforcer};
    let rdp = |name: &str| {
        let f = BUNDLES.access(name, RemoteAccessMode::Report);
        f.subjects
            .into_iter()
            .find(|s| s.name == "Remote Desktop")
            .unwrap()
    };
    let policy = rdp("access_remote_policy_denies");
    assert_eq!(policy.enforced, Some(Enforced::Yes), "{policy:#?}");
    assert_eq!(policy.settings[0].enforced_by[0].kind, Enforcer::POLICY_KEY);
    assert_eq!(rdp("access_remote_on").enforced, Some(Enforced::No));
}

// Where a policy value comes from: Group Policy, local policy, MDM

#[test]
fn the_rsop_tells_a_domain_gpo_from_the_local_group_policy_and_a_hand_set_value() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.screen_lock("screen_lock_origin_domain_gpo");
    let s = setting(&f, "InactivityTimeoutSecs");
    assert_eq!(s.enforced, Enforced::Yes);
    assert_eq!(s.enforced_by[0].kind, Enforcer::GPO);
    assert_eq!(s.enforced_by[0].name.as_deref(), Some("Workstation Lock"));
    assert_eq!(s.enforced_by[0].removable_by, Enforcer::BY_MANAGEMENT);

    let f = BUNDLES.screen_lock("screen_lock_origin_local_gpo");
    let s = setting(&f, "InactivityTimeoutSecs");
    assert_eq!(s.enforced_by[0].kind, Enforcer::LOCAL_POLICY);
    assert_eq!(s.enforced_by[0].name.as_deref(), Some("Local Group Policy"));
    assert_eq!(s.enforced_by[0].removable_by, Enforcer::BY_LOCAL_ADMIN);

    let f = BUNDLES.screen_lock("screen_lock_origin_hand_set");
    let s = setting(&f, "InactivityTimeoutSecs");
    assert_eq!(s.enforced, Enforced::Yes);
    assert_eq!(s.enforced_by[0].kind, Enforcer::LOCAL_POLICY);
    assert_eq!(s.enforced_by[0].removable_by, Enforcer::BY_LOCAL_ADMIN);
    assert!(
        s.notes.iter().any(|n| n.contains("nothing re-applies it")),
        "{:?}",
        s.notes
    );
    // The verdict is the same whoever set the value.
    assert_eq!(f.status, Status::Pass);
}

#[test]
fn bitlocker_required_by_an_mdm_is_enforced_and_a_user_set_one_is_not() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.disk("bitlocker_required_by_mdm");
    assert_eq!(f.status, Status::Pass);
    let c = f.subjects.iter().find(|s| s.name == "C:").unwrap();
    assert_eq!(c.enforced, Some(Enforced::Yes), "{c:#?}");
    assert_eq!(c.settings[0].enforced_by[0].kind, Enforcer::MDM_CSP);
    assert!(
        c.settings[0].enforced_by[0]
            .id
            .ends_with("RequireDeviceEncryption")
    );

    let f = BUNDLES.disk("bitlocker_on");
    assert_eq!(f.status, Status::Pass);
    let c = f.subjects.iter().find(|s| s.name == "C:").unwrap();
    assert_eq!(c.enforced, Some(Enforced::No), "{c:#?}");
    assert!(c.settings[0].notes[0].contains("no management requires it"));
}

#[test]
fn bitlocker_a_gpo_requires_but_that_is_suspended_lists_the_gpo_with_what_it_asks() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.disk("bitlocker_suspended_required_by_gpo");
    assert_eq!(f.status, Status::Fail);
    let c = f.subjects.iter().find(|s| s.name == "C:").unwrap();
    let s = &c.settings[0];
    assert_eq!(s.enforced, Enforced::No, "{s:#?}");
    assert_eq!(s.enforced_by[0].kind, Enforcer::GPO);
    assert_eq!(s.enforced_by[0].name.as_deref(), Some("BitLocker"));
    assert_eq!(s.enforced_by[0].value.as_deref(), Some("encrypted"));
    assert!(s.notes[0].contains("not in effect"));
}

#[test]
fn account_policy_from_a_domain_gpo_is_told_from_the_local_security_policy() {
    use posture_schema::{Enforced, Enforcer};
    let f = BUNDLES.password("password_domain_gpo");
    let rules = f.subjects.iter().find(|s| s.kind == "rules").unwrap();
    assert_eq!(rules.enforced, Some(Enforced::Yes), "{rules:#?}");
    let min = rules
        .settings
        .iter()
        .find(|s| s.name == "minimum length")
        .unwrap();
    assert_eq!(min.enforced_by[0].kind, Enforcer::GPO);
    assert_eq!(
        min.enforced_by[0].name.as_deref(),
        Some("Default Domain Policy")
    );

    let f = BUNDLES.password("password_stock_elevated");
    let rules = f.subjects.iter().find(|s| s.kind == "rules").unwrap();
    let min = rules
        .settings
        .iter()
        .find(|s| s.name == "minimum length")
        .unwrap();
    assert_eq!(min.enforced_by[0].kind, Enforcer::LOCAL_POLICY);
    assert_eq!(min.enforced_by[0].removable_by, Enforcer::BY_LOCAL_ADMIN);
    // Windows's default PIN length: nothing pins it.
    let pin = f.subjects.iter().find(|s| s.kind == "pin").unwrap();
    assert_eq!(pin.enforced, Some(Enforced::No), "{pin:#?}");
}
