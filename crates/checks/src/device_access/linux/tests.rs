//! The Linux probe against fake roots composed from `tests/fixtures/linux/access`: `base` (a
//! stock Ubuntu 24.04 GNOME laptop's files: GDM's `custom.conf`, its PAM stack, two accounts with
//! passwords, no remote service) plus the overlays of one case.

use std::path::Path;

use posture_host::RootedHost;
use posture_policy::{DeviceAccessRule, RemoteAccessMode};
use posture_schema::Status;

use super::super::{AccessFacts, DoorKind, DoorState, evaluate};
use super::gather;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/linux/access")
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            let link = fs_err::read_link(entry.path()).unwrap();
            let _ = fs_err::remove_file(&target);
            std::os::unix::fs::symlink(link, &target).unwrap();
        } else if kind.is_dir() {
            fs_err::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

fn machine(overlays: &[&str]) -> (tempfile::TempDir, AccessFacts) {
    let dir = tempfile::tempdir().unwrap();
    for layer in std::iter::once("base").chain(overlays.iter().copied()) {
        copy_tree(&fixtures().join(layer), dir.path());
    }
    let facts = gather(&RootedHost::new(dir.path()));
    (dir, facts)
}

fn state<'a>(facts: &'a AccessFacts, name: &str) -> &'a DoorState {
    &facts
        .doors
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no door {name}: {:#?}", facts.doors))
        .state
}

fn is_open(facts: &AccessFacts, name: &str) -> bool {
    matches!(state(facts, name), DoorState::Open { .. })
}

fn status(facts: &AccessFacts, remote: RemoteAccessMode) -> Status {
    let rule = DeviceAccessRule {
        remote_access: remote,
        ..DeviceAccessRule::default()
    };
    evaluate(facts, &rule, posture_host::Platform::Linux).status
}

#[test]
fn a_stock_ubuntu_gnome_laptop_passes() {
    let (_d, facts) = machine(&[]);
    assert!(!is_open(&facts, "GDM automatic login"));
    assert!(!is_open(&facts, "GDM timed login"));
    assert!(!is_open(&facts, "GDM sign-in (gdm-password)"));
    assert!(!is_open(&facts, "SSH server"));
    assert!(!is_open(&facts, "human accounts"));
    assert_eq!(status(&facts, RemoteAccessMode::Deny), Status::Pass);
    let text = format!("{:?}", facts.evidence);
    assert!(!text.contains("$posture$redacted"), "a hash field reached evidence");
}

#[test]
fn gdm_automatic_login_as_accountsservice_writes_it_fails() {
    let (_d, facts) = machine(&["gdm-autologin"]);
    assert!(is_open(&facts, "GDM automatic login"), "{:?}", facts.doors);
    assert_eq!(status(&facts, RemoteAccessMode::Report), Status::Fail);
    let (_d, facts) = machine(&["gdm-autologin-off"]);
    assert!(!is_open(&facts, "GDM automatic login"));
    assert_eq!(status(&facts, RemoteAccessMode::Report), Status::Pass);
}

#[test]
fn gdm_timed_login_in_debians_daemon_conf_fails() {
    let (_d, facts) = machine(&["gdm-timed-login"]);
    assert!(facts.doors.iter().any(|d| d.name == "GDM timed login"
        && matches!(&d.state, DoorState::Open { what } if what.contains("daemon.conf") && what.contains("bob"))));
    assert_eq!(status(&facts, RemoteAccessMode::Report), Status::Fail);
}

#[test]
fn lightdm_autologin_user_in_a_drop_in_fails_and_its_stock_setup_passes() {
    let (_d, facts) = machine(&["lightdm-autologin"]);
    assert!(is_open(&facts, "LightDM automatic login"));
    assert_eq!(status(&facts, RemoteAccessMode::Report), Status::Fail);
    let (_d, facts) = machine(&["lightdm-stock"]);
    assert!(!is_open(&facts, "LightDM automatic login"));
    assert!(!is_open(&facts, "LightDM guest session"));
    assert!(!is_open(&facts, "LightDM sign-in (lightdm)"), "{:?}", facts.doors);
    assert_eq!(status(&facts, RemoteAccessMode::Report), Status::Pass);
}

#[test]
fn lightdm_guest_sessions_fail_only_when_the_guest_script_is_installed() {
    let (_d, facts) = machine(&["lightdm-stock", "lightdm-guest"]);
    assert!(is_open(&facts, "LightDM guest session"), "{:?}", facts.doors);
    assert_eq!(
        facts
            .doors
            .iter()
            .find(|d| d.name == "LightDM guest session")
            .unwrap()
            .kind,
        DoorKind::Guest
    );
    assert_eq!(status(&facts, RemoteAccessMode::Report), Status::Fail);
}

#[test]
fn the_nopasswdlogin_group_of_ubuntus_lightdm_stack_opens_only_with_members() {
    let (_d, facts) = machine(&["lightdm-stock", "lightdm-nopasswdlogin"]);
    match state(&facts, "LightDM sign-in (lightdm)") {
        DoorState::Open { what } => assert!(what.contains("nopasswdlogin (bob)"), "{what}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(status(&facts, RemoteAccessMode::Report), Status::Fail);
}

#[test]
fn sddm_autologin_user_fails_and_an_empty_one_passes() {
    let (_d, facts) = machine(&["sddm-autologin"]);
    assert!(is_open(&facts, "SDDM automatic login"));
    let (_d, facts) = machine(&["sddm-stock"]);
    assert!(!is_open(&facts, "SDDM automatic login"));
    assert_eq!(status(&facts, RemoteAccessMode::Report), Status::Pass);
}

#[test]
fn greetd_initial_session_fails_and_a_greeter_only_config_passes() {
    let (_d, facts) = machine(&["greetd-initial-session"]);
    assert!(is_open(&facts, "greetd initial session"));
    let (_d, facts) = machine(&["greetd-stock"]);
    assert!(!is_open(&facts, "greetd initial session"));
}

#[test]
fn a_getty_drop_in_with_autologin_fails() {
    let (_d, facts) = machine(&["getty-autologin"]);
    assert!(is_open(&facts, "getty automatic login"), "{:?}", facts.doors);
    assert_eq!(status(&facts, RemoteAccessMode::Report), Status::Fail);
}

#[test]
fn an_empty_password_fails_and_gdms_nullok_stack_is_named() {
    let (_d, facts) = machine(&["empty-password"]);
    assert!(is_open(&facts, "bob"));
    match state(&facts, "GDM sign-in (gdm-password)") {
        DoorState::Open { what } => {
            assert!(what.contains("/etc/pam.d/common-auth line 5"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(status(&facts, RemoteAccessMode::Report), Status::Fail);
}

#[test]
fn an_enabled_ssh_server_is_reported_and_fails_only_under_deny() {
    let (_d, facts) = machine(&["ssh-enabled"]);
    assert!(is_open(&facts, "SSH server"));
    assert!(!is_open(&facts, "xrdp (Remote Desktop)"));
    assert_eq!(status(&facts, RemoteAccessMode::Report), Status::Pass);
    assert_eq!(status(&facts, RemoteAccessMode::Deny), Status::Fail);
    let (_d, facts) = machine(&["xrdp-enabled"]);
    assert!(is_open(&facts, "xrdp (Remote Desktop)"));
}

#[test]
fn ssh_accepting_an_empty_password_fails_even_when_remote_access_is_only_reported() {
    let (_d, facts) = machine(&["ssh-enabled", "empty-password"]);
    assert!(!is_open(&facts, "SSH password login"));
    let (_d, facts) = machine(&["ssh-enabled", "empty-password", "ssh-permit-empty"]);
    assert!(is_open(&facts, "SSH password login"), "{:?}", facts.doors);
}

#[test]
fn an_unreadable_shadow_file_is_unknown_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("base"), dir.path());
    fs_err::remove_file(dir.path().join("etc/shadow")).unwrap();
    let facts = gather(&RootedHost::new(dir.path()));
    assert!(matches!(
        state(&facts, "human accounts"),
        DoorState::Unknown { .. }
    ));
    assert_eq!(status(&facts, RemoteAccessMode::Report), Status::Unknown);
}

#[test]
fn gdm_booleans_follow_gdms_reader_and_agetty_options_are_read() {
    assert_eq!(super::gdm_bool("True"), Some(true));
    assert_eq!(super::gdm_bool("0"), Some(false));
    assert_eq!(super::gdm_bool("yes"), None);
    assert_eq!(super::glib_bool("True"), None);
    assert_eq!(
        super::agetty_autologin("-/sbin/agetty -a root %I"),
        Some("root".to_owned())
    );
    assert_eq!(
        super::agetty_autologin("-/sbin/agetty --autologin=bob --noclear %I"),
        Some("bob".to_owned())
    );
    assert_eq!(super::agetty_autologin("-/sbin/agetty --noclear %I $TERM"), None);
}

// Whether the system's own files enforce each setting: only when root alone can change every
// file consulted and its directory (the copy's owner counts as root under a fake root).
mod enforcement {
    use std::os::unix::fs::PermissionsExt as _;

    use posture_schema::{Enforced, Enforcer, Setting};

    use super::*;

    /// A copy of `layers` whose files are 0644 and directories 0755 (as packages install them).
    fn root_only_copy(layers: &[&str]) -> tempfile::TempDir {
        fn normalize(dir: &Path) {
            chmod(dir, 0o755);
            for entry in fs_err::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let kind = entry.file_type().unwrap();
                if kind.is_dir() {
                    normalize(&entry.path());
                } else if kind.is_file() {
                    chmod(&entry.path(), 0o644);
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        for layer in std::iter::once(&"base").chain(layers) {
            copy_tree(&fixtures().join(layer), dir.path());
        }
        normalize(dir.path());
        dir
    }

    fn chmod(path: &Path, mode: u32) {
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn setting<'a>(facts: &'a AccessFacts, door: &str) -> &'a Setting {
        let door = facts
            .doors
            .iter()
            .find(|d| d.name == door)
            .unwrap_or_else(|| panic!("no door {door}: {:#?}", facts.doors));
        assert_eq!(door.settings.len(), 1, "{door:#?}");
        &door.settings[0]
    }

    #[test]
    fn root_only_display_manager_and_pam_files_enforce_each_setting() {
        let dir = root_only_copy(&["lightdm-autologin", "getty-autologin"]);
        let facts = gather(&RootedHost::new(dir.path()));
        let lightdm = setting(&facts, "LightDM automatic login");
        assert_eq!(lightdm.enforced, Enforced::Yes, "{lightdm:#?}");
        assert_eq!(lightdm.name, "autologin-user");
        assert!(
            lightdm.source.starts_with("/etc/lightdm/lightdm.conf.d/60-autologin.conf line "),
            "{lightdm:#?}"
        );
        let by = &lightdm.enforced_by[0];
        assert_eq!(
            (by.kind.as_str(), by.removable_by.as_str()),
            (Enforcer::SYSTEM_SETTING, Enforcer::BY_LOCAL_ADMIN)
        );
        assert_eq!(by.id, "/etc/lightdm/lightdm.conf.d/60-autologin.conf");
        for door in [
            "GDM automatic login",
            "GDM timed login",
            "LightDM guest session",
            "getty automatic login",
            "GDM sign-in (gdm-password)",
        ] {
            let s = setting(&facts, door);
            assert_eq!(s.enforced, Enforced::Yes, "{door}: {s:#?}");
        }
        assert_eq!(
            setting(&facts, "GDM automatic login").value,
            "not set (GDM's default: false)"
        );
        // Enforcement never changes the verdict: automatic login fails, enforced or not.
        assert_eq!(status(&facts, RemoteAccessMode::Report), Status::Fail);
    }

    #[test]
    fn a_file_others_may_write_leaves_its_settings_unenforced_and_the_verdicts_as_they_were() {
        let dir = root_only_copy(&["lightdm-autologin", "getty-autologin"]);
        let host = RootedHost::new(dir.path());
        let before: Vec<_> = gather(&host).doors.into_iter().map(|d| d.state).collect();
        // A drop-in that does not hold the value still decides it: a later one could override.
        chmod(
            &dir.path().join("usr/share/lightdm/lightdm.conf.d/50-ubuntu.conf"),
            0o666,
        );
        // An included PAM file decides the stack that includes it.
        chmod(&dir.path().join("etc/pam.d/common-auth"), 0o666);
        let facts = gather(&host);
        let lightdm = setting(&facts, "LightDM automatic login");
        assert_eq!(lightdm.enforced, Enforced::No, "{lightdm:#?}");
        assert!(
            lightdm.notes.iter().any(|n| n.contains("50-ubuntu.conf")
                && n.contains("writable by others than root")),
            "{lightdm:#?}"
        );
        let pam = setting(&facts, "GDM sign-in (gdm-password)");
        assert_eq!(pam.enforced, Enforced::No, "{pam:#?}");
        assert!(pam.notes.iter().any(|n| n.contains("/etc/pam.d/common-auth")), "{pam:#?}");
        assert_eq!(setting(&facts, "GDM automatic login").enforced, Enforced::Yes);
        assert_eq!(setting(&facts, "getty automatic login").enforced, Enforced::Yes);
        let after: Vec<_> = facts.doors.iter().map(|d| d.state.clone()).collect();
        assert_eq!(before, after);
        // A drop-in directory others may write lets them add a file: not enforced either.
        chmod(&dir.path().join("etc/systemd/system"), 0o777);
        let facts = gather(&host);
        let getty = setting(&facts, "getty automatic login");
        assert_eq!(getty.enforced, Enforced::No, "{getty:#?}");
    }

    #[test]
    fn whoever_may_replace_the_guest_account_script_decides_the_guest_session() {
        let dir = root_only_copy(&["lightdm-stock", "lightdm-guest"]);
        let host = RootedHost::new(dir.path());
        let facts = gather(&host);
        let guest = setting(&facts, "LightDM guest session");
        assert_eq!(guest.enforced, Enforced::Yes, "{guest:#?}");
        chmod(&dir.path().join("usr/sbin/guest-account"), 0o666);
        let facts = gather(&host);
        assert!(is_open(&facts, "LightDM guest session"));
        let guest = setting(&facts, "LightDM guest session");
        assert_eq!(guest.enforced, Enforced::No, "{guest:#?}");
        assert!(
            guest.notes.iter().any(|n| n.contains("/usr/sbin/guest-account")),
            "{guest:#?}"
        );
    }
}
