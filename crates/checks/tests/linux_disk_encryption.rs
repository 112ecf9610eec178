//! The Linux disk encryption probe against fake roots (tests/fixtures/linux/disk/<case>/),
//! judged with the embedded default policy.

use posture_checks::disk_encryption::{self, EncryptionState, VolumeRole};
use posture_host::{Platform, RootedHost, SystemHost};
use posture_policy::{DiskEncryptionRule, Policy};
use posture_schema::{Finding, Status};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/linux/disk"
);

fn rule() -> DiskEncryptionRule {
    Policy::embedded().rules.disk_encryption
}

fn host(case: &str) -> RootedHost {
    RootedHost::new(format!("{FIXTURES}/{case}"))
}

fn judge(case: &str) -> Finding {
    let facts = disk_encryption::gather(&host(case));
    disk_encryption::evaluate(&facts, &rule(), Platform::Linux)
}

fn subject<'a>(f: &'a Finding, name: &str) -> &'a posture_schema::Subject {
    f.subjects
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no subject {name} in {:#?}", f.subjects))
}

#[test]
fn luks_root_passes_and_boot_partitions_are_exempt() {
    let f = judge("luks-root");
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    assert_eq!(f.subjects.len(), 1, "{:#?}", f.subjects);
    assert!(subject(&f, "/").summary.contains("dm-crypt LUKS2"));
    assert!(
        f.evidence
            .iter()
            .any(|e| e.source.starts_with("/boot/efi") && e.value.contains("exempt"))
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.source == "/sys/devices/virtual/block/dm-0/dm/uuid"
                && e.value.contains("CRYPT-LUKS2-"))
    );
}

#[test]
fn lvm_on_luks_passes_with_its_swap_lv_and_swap_file() {
    let facts = disk_encryption::gather(&host("lvm-on-luks"));
    let f = disk_encryption::evaluate(&facts, &rule(), Platform::Linux);
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    let swaps: Vec<_> = facts
        .volumes
        .iter()
        .filter(|v| v.role == VolumeRole::Swap)
        .collect();
    assert_eq!(swaps.len(), 2, "{swaps:#?}");
    assert!(
        swaps
            .iter()
            .all(|v| matches!(v.state, EncryptionState::Encrypted { .. })),
        "{swaps:#?}"
    );
    // The snap's squashfs is an image, not a volume.
    assert!(facts.volumes.iter().all(|v| !v.name.starts_with("/snap")));
}

#[test]
fn plain_root_fails_naming_the_partition() {
    let f = judge("plain-root");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    let root = subject(&f, "/");
    assert!(root.summary.contains("/dev/nvme0n1p2"), "{}", root.summary);
    assert!(!f.remediation.is_empty());
}

#[test]
fn plain_home_fails_even_when_root_is_encrypted() {
    let f = judge("plain-home");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert_eq!(subject(&f, "/").status, Status::Pass);
    assert_eq!(subject(&f, "/home").status, Status::Fail);
    assert!(f.summary.contains("/home"), "{}", f.summary);
}

#[test]
fn btrfs_on_luks_passes_and_its_subvolumes_are_one_filesystem() {
    let f = judge("btrfs-luks");
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    // /home is a subvolume of the same filesystem: judged once, as /.
    assert!(
        f.subjects.iter().all(|s| s.name != "/home"),
        "{:#?}",
        f.subjects
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.source.starts_with("/home") && e.value.contains("same filesystem as /"))
    );
}

#[test]
fn zram_swap_is_memory_and_not_judged() {
    let facts = disk_encryption::gather(&host("btrfs-luks"));
    assert!(
        facts.volumes.iter().all(|v| v.role != VolumeRole::Swap),
        "{:#?}",
        facts.volumes
    );
    assert!(
        facts
            .evidence
            .iter()
            .any(|e| e.source == "/dev/zram0" && e.value.contains("zram"))
    );
}

#[test]
fn unencrypted_swap_partition_passes_by_default_and_fails_when_required() {
    let facts = disk_encryption::gather(&host("plain-swap"));
    let default = disk_encryption::evaluate(&facts, &rule(), Platform::Linux);
    assert_eq!(default.status, Status::Pass, "{default:#?}");
    assert_eq!(
        subject(&default, "/dev/nvme0n1p4").status,
        Status::NotApplicable
    );
    let strict = DiskEncryptionRule {
        require_encrypted_swap: true,
        ..rule()
    };
    let f = disk_encryption::evaluate(&facts, &strict, Platform::Linux);
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert!(f.summary.contains("/dev/nvme0n1p4"));
}

#[test]
fn zfs_root_is_unknown_because_dataset_encryption_is_not_in_any_file() {
    let f = judge("zfs-root");
    assert_eq!(f.status, Status::Unknown, "{f:#?}");
    let root = subject(&f, "/");
    assert_eq!(root.status, Status::Unknown);
    assert!(
        root.summary.contains("rpool/ROOT/ubuntu_k2j3h4"),
        "{}",
        root.summary
    );
    assert!(root.summary.contains("zfs get"), "{}", root.summary);
    assert!(
        root.summary.contains("without dm-crypt"),
        "{}",
        root.summary
    );
}

#[test]
fn luks_reencryption_under_way_is_not_yet_a_pass() {
    let f = judge("luks-reencrypting");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert!(
        subject(&f, "/").summary.contains("hotzone"),
        "{}",
        subject(&f, "/").summary
    );
}

#[test]
fn an_unresolvable_root_device_is_unknown_never_encrypted() {
    let f = judge("unresolvable-root");
    assert_eq!(f.status, Status::Unknown, "{f:#?}");
    assert!(
        subject(&f, "/").summary.contains("253:5"),
        "{}",
        subject(&f, "/").summary
    );
}

#[test]
fn the_agents_own_mount_table_is_used_when_init_s_is_missing() {
    let f = judge("proc-self-only");
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    assert!(
        f.evidence
            .iter()
            .any(|e| e.source == "/proc/self/mountinfo")
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.source == "/proc/1/mountinfo" && e.value.contains("not used"))
    );
}

#[test]
fn a_usb_stick_is_left_to_the_removable_media_check() {
    let facts = disk_encryption::gather(&RootedHost::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/linux/usb/stick-writable"
    )));
    assert!(
        facts.volumes.iter().all(|v| v.name == "/"),
        "{:#?}",
        facts.volumes
    );
}

#[test]
fn an_empty_root_is_undecided() {
    let dir = tempfile::tempdir().unwrap();
    let f = disk_encryption::evaluate(
        &disk_encryption::gather(&RootedHost::new(dir.path())),
        &rule(),
        Platform::Linux,
    );
    assert_eq!(f.status, Status::Unknown);
    assert!(f.summary.contains("mount table"), "{}", f.summary);
}

#[test]
fn the_probe_runs_on_this_machine_without_panicking() {
    if Platform::current() != Platform::Linux {
        return;
    }
    let facts = disk_encryption::gather(&SystemHost::default());
    let f = disk_encryption::evaluate(&facts, &rule(), Platform::Linux);
    eprintln!("this machine: {:?}: {}", f.status, f.summary);
    for s in &f.subjects {
        eprintln!("  {} {:?}: {}", s.name, s.status, s.summary);
    }
}

/// External disks the removable-media check judges (their roots live under usb/): an SD card,
/// a Thunderbolt NVMe enclosure and a FireWire disk, each writable and unencrypted, beside a
/// LUKS root. They are not internal data volumes.
#[test]
fn sd_cards_and_external_disks_that_are_not_usb_are_not_internal_volumes() {
    for (case, mount) in [
        ("sd-card-writable", "/media/alice/CAMERA"),
        ("thunderbolt-nvme-writable", "/media/alice/T7"),
        ("firewire-disk-writable", "/media/alice/BACKUP"),
    ] {
        let f = judge(&format!("../usb/{case}"));
        assert_eq!(f.status, Status::Pass, "{case}: {f:#?}");
        assert!(
            f.subjects.iter().all(|s| s.name != mount),
            "{case}: {:#?}",
            f.subjects
        );
        assert!(
            f.evidence
                .iter()
                .any(|e| e.source.starts_with(mount) && e.value.contains("removable media check")),
            "{case}"
        );
    }
}

/// An eSATA disk (AHCI port with ESP, HBA with SXS) is left to the removable media check; a disk
/// on an internal hot-plug capable port is an internal data volume, judged here.
#[test]
fn an_esata_disk_is_not_an_internal_volume_but_a_hot_swap_bay_disk_is() {
    let f = judge("../usb/esata-disk-writable");
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    assert!(f.subjects.iter().all(|s| s.name != "/media/alice/ESATA"));
    assert!(
        f.evidence
            .iter()
            .any(|e| e.source.starts_with("/media/alice/ESATA")
                && e.value.contains("removable media check"))
    );
    let f = judge("../usb/sata-hotplug-bay-writable");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert_eq!(subject(&f, "/data").status, Status::Fail);
}

#[test]
fn an_efi_system_partition_is_exempt_by_its_partition_type_wherever_it_is_mounted() {
    let f = judge("second-esp");
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    assert!(f.subjects.iter().all(|s| s.name != "/boot/efi2"));
    assert!(
        f.evidence
            .iter()
            .any(|e| e.source == "/run/udev/data/b259:5"
                && e.value.contains("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
                && e.value.contains("exempt"))
    );
    // The same partition with a Linux data type is a volume like any other.
    let f = judge("vfat-not-esp");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert_eq!(subject(&f, "/data").status, Status::Fail);
}

#[test]
fn an_unparseable_mount_table_line_is_an_unknown_volume() {
    let f = judge("malformed-mountinfo");
    assert_eq!(f.status, Status::Unknown, "{f:#?}");
    assert!(f.summary.contains("could not be parsed"), "{}", f.summary);
}
