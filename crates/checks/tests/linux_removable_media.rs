//! The Linux removable media probe against fake roots (tests/fixtures/linux/usb/<case>/), judged
//! with the embedded default policy (mode read_only) and the other modes.

use posture_checks::removable_media::{self, StorageControl};
use posture_host::{Platform, RootedHost, SystemHost};
use posture_policy::{Policy, RemovableMediaMode, RemovableMediaRule};
use posture_schema::{Finding, Status};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/linux/usb"
);

fn rule(mode: RemovableMediaMode) -> RemovableMediaRule {
    RemovableMediaRule {
        mode,
        ..Policy::embedded().rules.removable_media
    }
}

fn facts(case: &str) -> removable_media::RemovableFacts {
    removable_media::gather(&RootedHost::new(format!("{FIXTURES}/{case}")))
}

fn judge(case: &str) -> Finding {
    removable_media::evaluate(
        &facts(case),
        &Policy::embedded().rules.removable_media,
        Platform::Linux,
    )
}

#[test]
fn the_default_policy_mode_is_read_only() {
    assert_eq!(
        Policy::embedded().rules.removable_media.mode,
        RemovableMediaMode::ReadOnly
    );
}

#[test]
fn usb_storage_with_no_rule_fails_read_only_mode_and_passes_audit() {
    let f = judge("allowed");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert!(
        f.summary
            .contains("no `install usb-storage /bin/false` rule"),
        "{}",
        f.summary
    );
    assert!(
        f.remediation
            .iter()
            .any(|r| r.contains("install usb-storage /bin/false"))
    );
    let audit = removable_media::evaluate(
        &facts("allowed"),
        &rule(RemovableMediaMode::Audit),
        Platform::Linux,
    );
    assert_eq!(audit.status, Status::Pass);
}

#[test]
fn blacklist_alone_is_not_a_block() {
    let f = judge("blacklist-only");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert!(f.summary.contains("blacklist usb-storage"), "{}", f.summary);
    assert!(f.summary.contains("uas"), "{}", f.summary);
}

#[test]
fn an_install_false_rule_with_the_module_not_loaded_blocks() {
    let fa = facts("install-false");
    match &fa.control {
        StorageControl::Blocked { how } => {
            assert!(
                how.contains("/etc/modprobe.d/usb-storage.conf line 2"),
                "{how}"
            );
            assert!(how.contains("not loaded"), "{how}");
        }
        other => panic!("{other:?}"),
    }
    for mode in [
        RemovableMediaMode::Block,
        RemovableMediaMode::ReadOnly,
        RemovableMediaMode::Audit,
    ] {
        assert_eq!(
            removable_media::evaluate(&fa, &rule(mode), Platform::Linux).status,
            Status::Pass,
            "{mode:?}"
        );
    }
}

#[test]
fn a_blocking_rule_while_the_module_is_loaded_is_not_a_block() {
    let f = judge("blocked-but-loaded");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert!(f.summary.contains("loaded now"), "{}", f.summary);
    assert!(f.summary.contains("reboot"), "{}", f.summary);
}

#[test]
fn a_file_in_etc_shadows_the_distro_rule_of_the_same_name() {
    let f = judge("install-shadowed");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
}

#[test]
fn usbguard_rejecting_class_08_with_the_daemon_running_blocks() {
    let fa = facts("usbguard-reject");
    match &fa.control {
        StorageControl::Blocked { how } => {
            assert!(
                how.contains("reject with-interface one-of { 08:*:* }"),
                "{how}"
            );
            assert!(how.contains("usbguard-daemon runs"), "{how}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(judge("usbguard-reject").status, Status::Pass);
}

#[test]
fn usbguard_enabled_but_not_running_enforces_nothing() {
    let f = judge("usbguard-not-running");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert!(f.summary.contains("not running"), "{}", f.summary);
}

#[test]
fn a_writable_unencrypted_usb_stick_fails_every_mode_including_audit() {
    let fa = facts("stick-writable");
    assert_eq!(fa.mounted.len(), 1, "{:#?}", fa.mounted);
    let stick = &fa.mounted[0];
    assert_eq!(stick.mount, "/media/alice/KINGSTON");
    assert!(stick.writable);
    assert_eq!(stick.encrypted, Some(false));
    assert!(
        stick.device.contains("USB, Kingston DataTraveler_3.0"),
        "{}",
        stick.device
    );
    for mode in [
        RemovableMediaMode::Block,
        RemovableMediaMode::ReadOnly,
        RemovableMediaMode::Audit,
    ] {
        let f = removable_media::evaluate(&fa, &rule(mode), Platform::Linux);
        assert_eq!(f.status, Status::Fail, "{mode:?}");
        assert!(f.summary.contains("/dev/sda1"), "{}", f.summary);
        assert!(f.remediation.iter().any(|r| r.contains("Eject")));
    }
}

#[test]
fn a_luks_encrypted_stick_passes_on_its_own() {
    let fa = facts("luks-stick");
    assert_eq!(fa.mounted.len(), 1, "{:#?}", fa.mounted);
    assert_eq!(fa.mounted[0].encrypted, Some(true));
    assert!(fa.mounted[0].writable);
    let audit = removable_media::evaluate(&fa, &rule(RemovableMediaMode::Audit), Platform::Linux);
    assert_eq!(audit.status, Status::Pass, "{audit:#?}");
    // In read_only mode only the control fails: the driver is loaded and nothing blocks it.
    let f = judge("luks-stick");
    assert_eq!(f.status, Status::Fail);
    let device = f.subjects.iter().find(|s| s.kind == "device").unwrap();
    assert_eq!(device.status, Status::Pass, "{device:#?}");
}

#[test]
fn a_read_only_sd_card_passes_while_usb_storage_is_blocked() {
    let fa = facts("sd-card-read-only");
    assert_eq!(fa.mounted.len(), 1, "{:#?}", fa.mounted);
    assert!(!fa.mounted[0].writable);
    assert!(
        fa.mounted[0].device.contains("SD card"),
        "{}",
        fa.mounted[0].device
    );
    let f = judge("sd-card-read-only");
    assert_eq!(f.status, Status::Pass, "{f:#?}");
}

#[test]
fn a_headless_server_whose_kernel_has_no_usb_storage_driver_is_blocked() {
    let fa = facts("headless-server");
    assert!(fa.mounted.is_empty());
    match &fa.control {
        StorageControl::Blocked { how } => assert!(how.contains("no usb-storage driver"), "{how}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(judge("headless-server").status, Status::Pass);
}

#[test]
fn an_empty_root_is_unknown_not_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let fa = removable_media::gather(&RootedHost::new(dir.path()));
    assert!(
        matches!(fa.control, StorageControl::Unknown { .. }),
        "{:?}",
        fa.control
    );
    assert!(fa.mounts_unknown.is_some());
}

#[test]
fn the_probe_runs_on_this_machine_without_panicking() {
    if Platform::current() != Platform::Linux {
        return;
    }
    let fa = removable_media::gather(&SystemHost::default());
    let f = removable_media::evaluate(
        &fa,
        &Policy::embedded().rules.removable_media,
        Platform::Linux,
    );
    eprintln!("this machine: {:?}: {}", f.status, f.summary);
    eprintln!("control: {:?}", fa.control);
}

/// External disks that usb-storage does not drive: blocking usb-storage does not stop them, so
/// writable and unencrypted they fail whatever the mode.
#[test]
fn writable_external_disks_that_are_not_usb_storage_fail_in_every_mode() {
    for (case, mount, kind) in [
        ("sd-card-writable", "/media/alice/CAMERA", "SD card"),
        (
            "thunderbolt-nvme-writable",
            "/media/alice/T7",
            "external disk",
        ),
        ("firewire-disk-writable", "/media/alice/BACKUP", "FireWire"),
    ] {
        let fa = facts(case);
        assert!(
            matches!(fa.control, StorageControl::Blocked { .. }),
            "{case}: {:?}",
            fa.control
        );
        let v = fa
            .mounted
            .iter()
            .find(|v| v.mount == mount)
            .unwrap_or_else(|| panic!("{case}: {mount} not found in {:?}", fa.mounted));
        assert!(v.writable, "{case}");
        assert_eq!(v.encrypted, Some(false), "{case}");
        assert!(v.device.contains(kind), "{case}: {}", v.device);
        for mode in [
            RemovableMediaMode::Block,
            RemovableMediaMode::ReadOnly,
            RemovableMediaMode::Audit,
        ] {
            let f = removable_media::evaluate(&fa, &rule(mode), Platform::Linux);
            assert_eq!(f.status, Status::Fail, "{case} {mode:?}: {}", f.summary);
        }
    }
}

#[test]
fn the_thunderbolt_disk_is_recognised_by_the_removable_attribute_of_its_port() {
    let f = judge("thunderbolt-nvme-writable");
    assert!(
        f.evidence
            .iter()
            .any(|e| e.value.contains("0000:05:00.0/removable is \"removable\"")),
        "{:#?}",
        f.evidence
    );
}

#[test]
fn an_unparseable_mount_table_line_makes_mounted_volumes_unknown() {
    let f = judge("malformed-mountinfo");
    assert_eq!(f.status, Status::Unknown, "{}", f.summary);
    assert!(f.summary.contains("could not be parsed"), "{}", f.summary);
}

/// An eSATA disk looks like any SATA disk (`removable` 0 since Linux 6.10): the port says it is
/// external. AHCI's PxCMD.ESP with the HBA's CAP.SXS is the kernel's own test for an eSATA port.
#[test]
fn an_esata_disk_is_recognised_by_its_ahci_port_and_fails_in_every_mode_when_writable() {
    let fa = facts("esata-disk-writable");
    let v = fa
        .mounted
        .iter()
        .find(|v| v.mount == "/media/alice/ESATA")
        .unwrap_or_else(|| panic!("{:?}", fa.mounted));
    assert!(v.writable);
    assert_eq!(v.encrypted, Some(false));
    assert!(v.device.contains("eSATA"), "{}", v.device);
    for mode in [
        RemovableMediaMode::Block,
        RemovableMediaMode::ReadOnly,
        RemovableMediaMode::Audit,
    ] {
        let f = removable_media::evaluate(&fa, &rule(mode), Platform::Linux);
        assert_eq!(f.status, Status::Fail, "{mode:?}: {}", f.summary);
    }
    let f = judge("esata-disk-writable");
    assert!(
        f.evidence.iter().any(|e| e
            .value
            .contains("host2/scsi_host/host2/ahci_port_cmd is 20c017")),
        "{:#?}",
        f.evidence
    );
}

/// A hot-plug capable port (PxCMD.HPCP) without ESP is an internal hot-swap bay, and many laptops
/// set it on the internal disk's port: not external.
#[test]
fn a_disk_on_a_hot_plug_capable_sata_port_is_not_removable_media() {
    let fa = facts("sata-hotplug-bay-writable");
    assert!(
        fa.mounted.iter().all(|v| v.mount != "/data"),
        "{:?}",
        fa.mounted
    );
    let f = judge("sata-hotplug-bay-writable");
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
}

// Enforcement: what keeps USB storage blocked

fn control_setting<'f>(f: &'f Finding, name: &str) -> &'f posture_schema::Setting {
    f.subjects[0]
        .settings
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no setting {name} in {:#?}", f.subjects[0]))
}

#[test]
fn a_root_owned_install_rule_with_the_module_unloaded_enforces_the_block() {
    use posture_schema::{Enforced, Enforcer};
    let f = judge("install-false");
    let module = control_setting(&f, "usb-storage module");
    assert_eq!(module.enforced, Enforced::Yes, "{module:#?}");
    let by = &module.enforced_by[0];
    assert_eq!(by.kind, Enforcer::MODPROBE_RULE);
    assert!(by.id.starts_with("/etc/modprobe.d/"), "{by:#?}");
    assert!(by.name.as_deref().unwrap().contains("install"), "{by:#?}");
    assert_eq!(by.removable_by, Enforcer::BY_LOCAL_ADMIN);
    assert!(module.value.contains("not loaded"));
    assert_eq!(f.subjects[0].enforced, Some(Enforced::Yes));
}

#[test]
fn an_install_rule_does_not_enforce_while_the_module_is_loaded() {
    use posture_schema::{Enforced, Enforcer};
    let f = judge("blocked-but-loaded");
    let module = control_setting(&f, "usb-storage module");
    assert_eq!(module.enforced, Enforced::No);
    assert_eq!(module.enforced_by[0].kind, Enforcer::MODPROBE_RULE);
    assert!(
        module.notes.iter().any(|n| n.contains("loaded now")),
        "{module:#?}"
    );
}

#[test]
fn no_rule_at_all_is_not_enforced_and_usbguard_is_when_it_blocks() {
    use posture_schema::{Enforced, Enforcer};
    let f = judge("allowed");
    assert_eq!(f.subjects[0].enforced, Some(Enforced::No));
    let f = judge("usbguard-reject");
    let guard = control_setting(&f, "USBGuard");
    assert_eq!(guard.enforced_by[0].kind, Enforcer::USBGUARD_RULE);
    assert_eq!(f.subjects[0].enforced, Some(Enforced::Yes));
}

// Rule files only root can change: modprobe and udev
#[cfg(unix)]
mod rule_files {
    use super::*;

    /// A copy of a fixture root in a fresh directory, for cases that change ownership or modes
    /// (which git does not keep).
    fn copied(case: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(format!("{FIXTURES}/{case}/."))
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        dir
    }

    fn chmod(path: &std::path::Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn setting<'f>(
        f: &'f removable_media::RemovableFacts,
        name: &str,
    ) -> &'f posture_schema::Setting {
        f.control_settings
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} in {:#?}", f.control_settings))
    }

    #[test]
    fn a_modprobe_rule_in_a_file_others_may_write_blocks_but_is_not_enforced() {
        use posture_schema::Enforced;
        let dir = copied("install-false");
        let conf = dir.path().join("etc/modprobe.d/usb-storage.conf");
        chmod(&conf, 0o644);
        chmod(&dir.path().join("etc/modprobe.d"), 0o755);
        let fa = removable_media::gather(&RootedHost::new(dir.path()));
        assert!(matches!(fa.control, StorageControl::Blocked { .. }));
        assert_eq!(setting(&fa, "usb-storage module").enforced, Enforced::Yes);

        chmod(&conf, 0o666);
        let fa = removable_media::gather(&RootedHost::new(dir.path()));
        assert!(
            matches!(fa.control, StorageControl::Blocked { .. }),
            "{:?}",
            fa.control
        );
        let s = setting(&fa, "usb-storage module");
        assert_eq!(s.enforced, Enforced::No, "{s:#?}");
        assert!(
            s.notes.iter().any(|n| n.contains("mode 0666")),
            "{:?}",
            s.notes
        );

        // A writable directory lets anyone replace the file.
        chmod(&conf, 0o644);
        chmod(&dir.path().join("etc/modprobe.d"), 0o777);
        let fa = removable_media::gather(&RootedHost::new(dir.path()));
        assert_eq!(setting(&fa, "usb-storage module").enforced, Enforced::No);
    }

    const DEAUTHORIZE: &str = "# Deny USB mass storage\nACTION==\"add\", SUBSYSTEM==\"usb\", \\\n  ATTR{bInterfaceClass}==\"08\", ATTR{authorized}=\"0\"\n";

    #[test]
    fn a_root_owned_udev_rule_that_deauthorizes_mass_storage_blocks_and_is_enforced() {
        use posture_schema::{Enforced, Enforcer};
        let dir = copied("allowed");
        let rules = dir.path().join("etc/udev/rules.d");
        fs_err::create_dir_all(&rules).unwrap();
        chmod(&rules, 0o755);
        fs_err::write(rules.join("99-usb-storage.rules"), DEAUTHORIZE).unwrap();
        chmod(&rules.join("99-usb-storage.rules"), 0o644);
        let fa = removable_media::gather(&RootedHost::new(dir.path()));
        let StorageControl::Blocked { how } = &fa.control else {
            panic!("{:?}", fa.control);
        };
        assert!(how.contains("99-usb-storage.rules line 2"), "{how}");
        let s = setting(&fa, "udev rule for USB mass storage");
        assert_eq!(s.enforced, Enforced::Yes, "{s:#?}");
        assert_eq!(s.enforced_by[0].kind, Enforcer::UDEV_RULE);
        let f = removable_media::evaluate(
            &fa,
            &Policy::embedded().rules.removable_media,
            Platform::Linux,
        );
        assert_eq!(f.status, Status::Pass, "{f:#?}");

        // The same rule in a file anyone may write still blocks today, but nothing pins it.
        chmod(&rules.join("99-usb-storage.rules"), 0o666);
        let fa = removable_media::gather(&RootedHost::new(dir.path()));
        assert!(matches!(fa.control, StorageControl::Blocked { .. }));
        assert_eq!(
            setting(&fa, "udev rule for USB mass storage").enforced,
            Enforced::No
        );
    }

    #[test]
    fn a_udev_rule_narrowed_to_one_vendor_or_undone_later_does_not_block() {
        let dir = copied("allowed");
        let rules = dir.path().join("etc/udev/rules.d");
        fs_err::create_dir_all(&rules).unwrap();
        fs_err::write(
            rules.join("99-usb-storage.rules"),
            "ACTION==\"add\", SUBSYSTEMS==\"usb\", ATTRS{idVendor}==\"0781\", ATTR{bInterfaceClass}==\"08\", ATTR{authorized}=\"0\"\n",
        )
        .unwrap();
        let fa = removable_media::gather(&RootedHost::new(dir.path()));
        assert!(
            matches!(fa.control, StorageControl::Allowed { .. }),
            "{:?}",
            fa.control
        );

        fs_err::write(rules.join("50-deny.rules"), DEAUTHORIZE).unwrap();
        fs_err::write(
            rules.join("99-usb-storage.rules"),
            "ACTION==\"add\", SUBSYSTEM==\"usb\", ATTR{authorized}=\"1\"\n",
        )
        .unwrap();
        let fa = removable_media::gather(&RootedHost::new(dir.path()));
        let StorageControl::Allowed { why } = &fa.control else {
            panic!("{:?}", fa.control);
        };
        assert!(why.contains("authorizes devices again"), "{why}");

        // Hiding USB disks from udisks is reported, never counted as a block.
        fs_err::remove_file(rules.join("50-deny.rules")).unwrap();
        fs_err::write(
            rules.join("99-usb-storage.rules"),
            "SUBSYSTEM==\"block\", ENV{ID_BUS}==\"usb\", ENV{UDISKS_IGNORE}=\"1\"\n",
        )
        .unwrap();
        let fa = removable_media::gather(&RootedHost::new(dir.path()));
        let StorageControl::Allowed { why } = &fa.control else {
            panic!("{:?}", fa.control);
        };
        assert!(why.contains("UDISKS_IGNORE"), "{why}");
    }
}
