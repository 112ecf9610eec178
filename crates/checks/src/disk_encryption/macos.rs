//! FileVault on macOS, from `fdesetup status`, and every other internal volume.
//!
//! `fdesetup status` is the operating system's own answer for the startup volume group (whose
//! Data volume holds user data). It is read for its progress and deferral lines first, because
//! those outputs also contain a "FileVault is Off." or "On." headline that alone would mislead.
//! "Encrypted at rest" on Apple silicon and T2 Macs (the hardware key without the user's
//! password) is not FileVault and is never counted as encryption here.
//!
//! FileVault covers the startup volume group only. Every other APFS volume on an internal disk
//! (`diskutil apfs list -plist`) that holds data must be FileVault- or password-encrypted
//! itself (its own `FileVault` flag, or `Locked`); system-managed volumes (Preboot, Recovery,
//! VM, Update, xART, Hardware) are exempt. Internal volumes of other file systems mounted now
//! (exFAT, FAT, NTFS, HFS+) are judged from `diskutil info -plist`. Containers and volumes on
//! removable media, external disks and disk images belong to the removable media check: an SD
//! card in the built-in reader says `Internal` but is removable media.
//!
//! What keeps FileVault on: a configuration profile's `dontAllowFDEDisable` (`com.apple.MCX`
//! under `/Library/Managed Preferences`, which mSCP's `system_settings_filevault_enforce` reads)
//! forbids turning it off; the profile behind it (MDM, manual, or none: local MCX) is told from
//! the installed profiles. A FileVault payload (`com.apple.MCX.FileVault2`) turns FileVault on
//! once and does not stop an administrator turning it off, so alone it does not enforce it.

use std::collections::BTreeSet;

use posture_host::Host;
use posture_host::plist::{self, PlistValue};
use posture_schema::{Evidence, Setting};

use super::{EncryptionFacts, EncryptionState, Volume, VolumeRole, required_setting};
use crate::enforcement::macos::Profiles;
use crate::catalog::{self, DiskDevice};
use crate::evidence;
use crate::removable_media::macos::{Placement, parse_mount, placement};

/// What `fdesetup status` says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FileVaultStatus {
    /// `FileVault is On.`
    On,
    /// `FileVault is On, but needs to be restarted to finish.`
    OnRestartPending,
    /// `FileVault is Off.`
    Off,
    /// `FileVault is Off, but will be enabled after the next restart.`
    EnabledAfterRestart,
    /// `FileVault is Off, but needs to be restarted to finish.` (decryption finishing)
    OffRestartPending,
    /// `Encryption in progress: Percent completed = N`
    Encrypting(Option<f64>),
    /// `Decryption in progress: Percent completed = N`
    Decrypting(Option<f64>),
    /// `Deferred enablement appears to be active for user 'NAME'.`
    Deferred(String),
}

/// Parses `fdesetup status` output. `None` when no known headline or progress line is present,
/// or when an unknown line stands where a state line is expected.
#[must_use]
pub(crate) fn parse_fdesetup_status(text: &str) -> Option<FileVaultStatus> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // Progress and deferral lines decide before the headline.
    for line in &lines {
        if let Some(rest) = line.strip_prefix("Encryption in progress:") {
            return Some(FileVaultStatus::Encrypting(percent(rest)));
        }
        if let Some(rest) = line.strip_prefix("Decryption in progress:") {
            return Some(FileVaultStatus::Decrypting(percent(rest)));
        }
        if let Some(rest) = line.strip_prefix("Deferred enablement appears to be active for user '")
        {
            let user = rest.strip_suffix("'.").unwrap_or(rest).to_owned();
            return Some(FileVaultStatus::Deferred(user));
        }
    }
    let headline = lines.iter().find(|l| l.starts_with("FileVault is "))?;
    match *headline {
        "FileVault is On." => Some(FileVaultStatus::On),
        "FileVault is On, but needs to be restarted to finish." => {
            Some(FileVaultStatus::OnRestartPending)
        }
        "FileVault is Off." => Some(FileVaultStatus::Off),
        "FileVault is Off, but will be enabled after the next restart." => {
            Some(FileVaultStatus::EnabledAfterRestart)
        }
        "FileVault is Off, but needs to be restarted to finish." => {
            Some(FileVaultStatus::OffRestartPending)
        }
        _ => None,
    }
}

/// `" Percent completed = 42.17"` -> 42.17.
fn percent(rest: &str) -> Option<f64> {
    let value = rest.rsplit_once('=')?.1.trim().trim_end_matches('%');
    value
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
}

/// Maps what `fdesetup` says to an encryption state.
#[must_use]
pub(crate) fn state_of(status: &FileVaultStatus) -> EncryptionState {
    match status {
        FileVaultStatus::On => EncryptionState::Encrypted {
            method: "FileVault".to_owned(),
        },
        // Treated as not yet done: the restart may still be refused or postponed.
        FileVaultStatus::OnRestartPending => EncryptionState::InProgress {
            detail: "FileVault was turned on and needs a restart to finish".to_owned(),
            percent: None,
        },
        FileVaultStatus::Off => EncryptionState::NotEncrypted {
            detail: "FileVault is off".to_owned(),
        },
        FileVaultStatus::EnabledAfterRestart => EncryptionState::Unprotected {
            detail: "FileVault is off; it will be enabled after the next restart".to_owned(),
        },
        FileVaultStatus::OffRestartPending => EncryptionState::InProgress {
            detail: "FileVault was turned off and a restart finishes decryption".to_owned(),
            percent: None,
        },
        FileVaultStatus::Encrypting(p) => EncryptionState::InProgress {
            detail: "FileVault encryption in progress".to_owned(),
            percent: *p,
        },
        FileVaultStatus::Decrypting(p) => EncryptionState::InProgress {
            detail: "FileVault decryption in progress".to_owned(),
            percent: *p,
        },
        FileVaultStatus::Deferred(user) => EncryptionState::Unprotected {
            detail: format!(
                "FileVault enablement is deferred until {user} logs out or in; the disk is not encrypted yet"
            ),
        },
    }
}

/// One APFS volume from `diskutil apfs list -plist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApfsVolume {
    /// `disk3s5`.
    pub(crate) device: String,
    /// The volume name.
    pub(crate) name: String,
    /// `System`, `Data`, `Preboot`, ... (empty for a plain user volume).
    pub(crate) roles: Vec<String>,
    pub(crate) encryption: Option<bool>,
    pub(crate) filevault: Option<bool>,
    pub(crate) locked: Option<bool>,
    pub(crate) migrating: Option<bool>,
}

/// One APFS container from `diskutil apfs list -plist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApfsContainer {
    /// `disk3`.
    pub(crate) reference: String,
    /// The partition it lives on, `disk0s2`.
    pub(crate) store: Option<String>,
    pub(crate) volumes: Vec<ApfsVolume>,
}

/// Parses `diskutil apfs list -plist`: a `Containers` array of dicts, each with
/// `ContainerReference`, `DesignatedPhysicalStore` and `Volumes`. `Err` for anything else.
pub(crate) fn parse_apfs_list(text: &str) -> Result<Vec<ApfsContainer>, String> {
    let root = plist::parse_xml(text).map_err(|e| e.to_string())?;
    let containers = root
        .get("Containers")
        .and_then(PlistValue::as_array)
        .ok_or("no Containers array")?;
    let s = |d: &PlistValue, k: &str| d.get(k).and_then(PlistValue::as_str).map(str::to_owned);
    let b = |d: &PlistValue, k: &str| d.get(k).and_then(PlistValue::as_bool);
    containers
        .iter()
        .map(|c| -> Result<ApfsContainer, String> {
            let reference =
                s(c, "ContainerReference").ok_or("a container without ContainerReference")?;
            let volumes = c
                .get("Volumes")
                .and_then(PlistValue::as_array)
                .ok_or_else(|| format!("container {reference} has no Volumes array"))?;
            let volumes = volumes
                .iter()
                .map(|v| -> Result<ApfsVolume, String> {
                    Ok(ApfsVolume {
                        device: s(v, "DeviceIdentifier").ok_or_else(|| {
                            format!("a volume of {reference} without DeviceIdentifier")
                        })?,
                        name: s(v, "Name").unwrap_or_default(),
                        roles: v
                            .get("Roles")
                            .and_then(PlistValue::as_array)
                            .unwrap_or(&[])
                            .iter()
                            .filter_map(PlistValue::as_str)
                            .map(str::to_owned)
                            .collect(),
                        encryption: b(v, "Encryption"),
                        filevault: b(v, "FileVault"),
                        locked: b(v, "Locked"),
                        migrating: b(v, "CryptoMigrationOn"),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(ApfsContainer {
                store: s(c, "DesignatedPhysicalStore"),
                reference,
                volumes,
            })
        })
        .collect()
}

/// Roles of volumes macOS creates and manages itself, which hold no user data.
const SYSTEM_ROLES: &[&str] = &[
    "Preboot",
    "Recovery",
    "VM",
    "Update",
    "xART",
    "Hardware",
    "Baseband",
    "Installer",
];

/// The encryption of an APFS volume outside the startup volume group. Only the volume's own
/// FileVault flag (a password protects its key) or a locked volume counts; `Encryption` alone is
/// the hardware key of Apple silicon and T2 Macs ("encrypted at rest"), which is not enough.
pub(crate) fn apfs_state(v: &ApfsVolume) -> EncryptionState {
    match (v.locked, v.filevault, v.encryption, v.migrating) {
        (Some(true), ..) => EncryptionState::Encrypted {
            method: "APFS encrypted with a password (locked)".to_owned(),
        },
        (_, Some(true), _, Some(true)) => EncryptionState::InProgress {
            detail: "APFS encryption in progress".to_owned(),
            percent: None,
        },
        (_, Some(true), ..) => EncryptionState::Encrypted {
            method: "APFS encrypted with a password (FileVault)".to_owned(),
        },
        (_, Some(false), Some(true), _) => EncryptionState::NotEncrypted {
            detail: "encrypted at rest by the hardware key only (FileVault false): not FileVault, and FileVault on the startup disk does not cover it".to_owned(),
        },
        (_, Some(false) | None, Some(false), _) => EncryptionState::NotEncrypted {
            detail: "APFS volume without encryption (Encryption false, FileVault false)".to_owned(),
        },
        _ => EncryptionState::Unknown {
            reason: "diskutil apfs list does not say whether this volume is FileVault- or password-encrypted".to_owned(),
        },
    }
}

/// Whether a volume (by device identifier) belongs to the startup volume group: mounted at `/`
/// (as itself or as a snapshot `diskNsMsK`) or under `/System/Volumes/`.
fn in_startup_group(device: &str, startup: &BTreeSet<String>) -> bool {
    startup.contains(device)
        || startup.iter().any(|d| {
            d.strip_prefix(device)
                .is_some_and(|rest| rest.starts_with('s'))
        })
}

/// File systems with no encryption of their own.
const UNENCRYPTED_FS: &[&str] = &["msdos", "exfat", "ntfs", "ufsd_NTFS"];

/// The internal volumes outside the startup volume group, with their encryption.
fn other_volumes(host: &dyn Host, ev: &mut Vec<Evidence>) -> Vec<Volume> {
    let unknown = |name: &str, reason: String| Volume {
        name: name.to_owned(),
        device: "internal disks".to_owned(),
        role: VolumeRole::Data,
        state: EncryptionState::Unknown { reason },
    };
    // The startup volume group, from what is mounted at / and under /System/Volumes.
    let spec = catalog::macos_mounts();
    let mounts = match evidence::run_ok(host, &spec, ev) {
        Ok(out) => match parse_mount(&out.stdout) {
            Some(m) => m,
            None => {
                let why = evidence::unrecognised(&spec, &out.stdout, ev, None);
                return vec![unknown("other internal volumes", why)];
            }
        },
        Err(why) => return vec![unknown("other internal volumes", why)],
    };
    let startup: BTreeSet<String> = mounts
        .iter()
        .filter(|m| m.mount_point == "/" || m.mount_point.starts_with("/System/Volumes/"))
        .filter_map(|m| m.device.strip_prefix("/dev/"))
        .map(str::to_owned)
        .collect();

    let mut judged = Vec::new();
    let spec = catalog::macos_apfs_list();
    let containers = match evidence::run_ok(host, &spec, ev) {
        Ok(out) => match parse_apfs_list(&out.stdout) {
            Ok(c) => Some(c),
            Err(e) => {
                let why = format!(
                    "{} printed something unrecognised: {e}",
                    evidence::command_name(&spec)
                );
                ev.push(evidence::command(&spec, None, why.clone()));
                judged.push(unknown("other internal APFS volumes", why));
                None
            }
        },
        Err(why) => {
            judged.push(unknown("other internal APFS volumes", why));
            None
        }
    };
    let mut apfs_devices: BTreeSet<String> = BTreeSet::new();
    for c in containers.iter().flatten() {
        apfs_devices.extend(c.volumes.iter().map(|v| v.device.clone()));
        let candidates: Vec<&ApfsVolume> = c
            .volumes
            .iter()
            .filter(|v| !in_startup_group(&v.device, &startup))
            .filter(|v| !v.roles.iter().any(|r| SYSTEM_ROLES.contains(&r.as_str())))
            .collect();
        if candidates.is_empty() {
            ev.push(evidence::command(
                &spec,
                Some(&c.reference),
                "only the startup volume group and system-managed volumes (FileVault or macOS covers them)",
            ));
            continue;
        }
        let names = |vs: &[&ApfsVolume]| {
            vs.iter()
                .map(|v| format!("{} ({})", v.name, v.device))
                .collect::<Vec<_>>()
                .join(", ")
        };
        ev.push(evidence::command(
            &spec,
            Some(&c.reference),
            format!(
                "volumes outside the startup volume group: {}",
                names(&candidates)
            ),
        ));
        let place = match c
            .store
            .as_deref()
            .map(|s| format!("/dev/{s}"))
            .as_deref()
            .and_then(DiskDevice::new)
        {
            Some(store) => store_placement(host, &store, ev),
            None => Err(format!(
                "{} names no valid physical store for container {}",
                evidence::command_name(&spec),
                c.reference
            )),
        };
        match place {
            Ok(Placement::Internal) => {
                for v in candidates {
                    let state = apfs_state(v);
                    ev.push(evidence::about(
                        evidence::command(
                            &spec,
                            Some(&v.device),
                            format!(
                                "FileVault {}, Encryption {}, Locked {}, CryptoMigrationOn {}",
                                evidence::shown(v.filevault),
                                evidence::shown(v.encryption),
                                evidence::shown(v.locked),
                                evidence::shown(v.migrating)
                            ),
                        ),
                        &v.name,
                    ));
                    judged.push(Volume {
                        name: v.name.clone(),
                        device: v.device.clone(),
                        role: VolumeRole::Data,
                        state,
                    });
                }
            }
            Ok(_) => {
                // External, removable or a disk image: the removable media check judges it.
            }
            Err(why) => {
                for v in candidates {
                    judged.push(Volume {
                        name: v.name.clone(),
                        device: v.device.clone(),
                        role: VolumeRole::Data,
                        state: EncryptionState::Unknown {
                            reason: why.clone(),
                        },
                    });
                }
            }
        }
    }

    // Internal volumes of other file systems mounted now.
    for m in &mounts {
        let Some(id) = m.device.strip_prefix("/dev/") else {
            continue;
        };
        if m.fs_type == "apfs"
            || !id.starts_with("disk")
            || in_startup_group(id, &startup)
            || apfs_devices.contains(id)
        {
            continue;
        }
        let Some(device) = DiskDevice::new(&m.device) else {
            continue;
        };
        let spec = catalog::macos_volume_info(&device);
        let info = match evidence::run_ok(host, &spec, ev).and_then(|out| {
            plist::parse_xml(&out.stdout).map_err(|e| {
                let why = format!("{}: {e}", evidence::command_name(&spec));
                ev.push(evidence::command(&spec, None, why.clone()));
                why
            })
        }) {
            Ok(info) => info,
            Err(why) => {
                judged.push(Volume {
                    name: m.mount_point.clone(),
                    device: m.device.clone(),
                    role: VolumeRole::Data,
                    state: EncryptionState::Unknown { reason: why },
                });
                continue;
            }
        };
        if placement(&info) != Placement::Internal {
            continue;
        }
        let flag = |k: &str| info.get(k).and_then(PlistValue::as_bool);
        let state = if UNENCRYPTED_FS.contains(&m.fs_type.as_str()) {
            EncryptionState::NotEncrypted {
                detail: format!("{} has no encryption of its own", m.fs_type),
            }
        } else {
            match (flag("FileVault"), flag("Encryption")) {
                (Some(true), _) | (_, Some(true)) => EncryptionState::Encrypted {
                    method: format!("{} encrypted (diskutil: Encryption true)", m.fs_type),
                },
                (_, Some(false)) => EncryptionState::NotEncrypted {
                    detail: format!("{} volume without encryption", m.fs_type),
                },
                _ => EncryptionState::Unknown {
                    reason: format!(
                        "diskutil info does not say whether this {} volume is encrypted",
                        m.fs_type
                    ),
                },
            }
        };
        ev.push(evidence::about(
            evidence::command(
                &spec,
                None,
                format!(
                    "{} on {}: internal, file system {}",
                    m.device, m.mount_point, m.fs_type
                ),
            ),
            &m.mount_point,
        ));
        judged.push(Volume {
            name: m.mount_point.clone(),
            device: m.device.clone(),
            role: VolumeRole::Data,
            state,
        });
    }
    judged
}

/// Where an APFS container's physical store is, from `diskutil info -plist`.
fn store_placement(
    host: &dyn Host,
    store: &DiskDevice,
    ev: &mut Vec<Evidence>,
) -> Result<Placement, String> {
    let spec = catalog::macos_volume_info(store);
    let out = evidence::run_ok(host, &spec, ev)?;
    let info = plist::parse_xml(&out.stdout).map_err(|e| {
        let why = format!("{}: {e}", evidence::command_name(&spec));
        ev.push(evidence::command(&spec, None, why.clone()));
        why
    })?;
    let place = placement(&info);
    ev.push(evidence::command(
        &spec,
        None,
        format!(
            "{}: {}",
            store.as_str(),
            match place {
                Placement::Internal => "internal, not removable",
                Placement::InternalReader => "removable media in a built-in reader",
                Placement::External => "external",
                Placement::DiskImage => "a disk image",
            }
        ),
    ));
    Ok(place)
}

pub(super) fn gather(host: &dyn Host) -> EncryptionFacts {
    let mut ev = Vec::new();
    let spec = catalog::macos_filevault_status();
    let state = match evidence::run_ok(host, &spec, &mut ev) {
        Ok(out) => match parse_fdesetup_status(&out.stdout) {
            Some(status) => {
                ev.push(evidence::command(
                    &spec,
                    None,
                    out.stdout.trim().replace('\n', " / "),
                ));
                state_of(&status)
            }
            None => {
                let reason = evidence::unrecognised(&spec, &out.stdout, &mut ev, None);
                EncryptionState::Unknown { reason }
            }
        },
        Err(reason) => EncryptionState::Unknown { reason },
    };
    let system_settings = vec![management(host, &state, &mut ev)];
    let mut volumes = vec![Volume {
        name: "/".to_owned(),
        device: "the startup volume group (FileVault)".to_owned(),
        role: VolumeRole::System,
        state,
    }];
    volumes.extend(other_volumes(host, &mut ev));
    EncryptionFacts {
        volumes,
        undecided: None,
        system_settings,
        evidence: ev,
    }
}

/// Whether a configuration profile forbids turning FileVault off (`dontAllowFDEDisable`).
fn management(host: &dyn Host, state: &EncryptionState, ev: &mut Vec<Evidence>) -> Setting {
    const DOMAIN: &str = "com.apple.MCX";
    const KEY: &str = "dontAllowFDEDisable";
    let path = catalog::macos_managed_preferences(DOMAIN, None);
    let mut by = Vec::new();
    let mut unread = Vec::new();
    match catalog::read_managed_preferences(host, &path, ev, "device") {
        Ok(Some(p)) => match p.get(KEY) {
            Some(v) => {
                ev.push(evidence::file(&path, Some(KEY), v.describe()));
                if v.as_bool() == Some(true) {
                    let (e, note) = Profiles::new(host).enforcer(&path, &p, DOMAIN, KEY, ev);
                    by.push((e, note.into_iter().collect()));
                }
            }
            None => ev.push(evidence::file(&path, Some(KEY), "absent")),
        },
        Ok(None) => {}
        Err(why) => unread.push(format!("whether a profile forbids turning FileVault off is unknown: {why}")),
    }
    required_setting("FileVault", state, "fdesetup status", by, unread)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn progress_lines_win_over_the_headline() {
        assert_eq!(
            parse_fdesetup_status(
                "FileVault is Off.\nEncryption in progress: Percent completed = 42.17\n"
            ),
            Some(FileVaultStatus::Encrypting(Some(42.17)))
        );
        assert_eq!(
            parse_fdesetup_status(
                "FileVault is On.\nDecryption in progress: Percent completed = 35.0\n"
            ),
            Some(FileVaultStatus::Decrypting(Some(35.0)))
        );
        assert_eq!(
            parse_fdesetup_status(
                "FileVault is Off.\nDeferred enablement appears to be active for user 'jdoe'.\n"
            ),
            Some(FileVaultStatus::Deferred("jdoe".into()))
        );
    }

    #[test]
    fn every_headline_is_recognised_exactly() {
        assert_eq!(
            parse_fdesetup_status("FileVault is On.\n"),
            Some(FileVaultStatus::On)
        );
        assert_eq!(
            parse_fdesetup_status("FileVault is Off.\n"),
            Some(FileVaultStatus::Off)
        );
        assert_eq!(
            parse_fdesetup_status(
                "FileVault is Off, but will be enabled after the next restart.\n"
            ),
            Some(FileVaultStatus::EnabledAfterRestart)
        );
        assert_eq!(
            parse_fdesetup_status("FileVault is On, but needs to be restarted to finish.\n"),
            Some(FileVaultStatus::OnRestartPending)
        );
        assert_eq!(parse_fdesetup_status("FileVault is Maybe.\n"), None);
        assert_eq!(parse_fdesetup_status(""), None);
    }

    #[test]
    fn only_on_counts_as_encrypted() {
        let all = [
            FileVaultStatus::OnRestartPending,
            FileVaultStatus::Off,
            FileVaultStatus::EnabledAfterRestart,
            FileVaultStatus::OffRestartPending,
            FileVaultStatus::Encrypting(None),
            FileVaultStatus::Decrypting(Some(1.0)),
            FileVaultStatus::Deferred("x".into()),
        ];
        for s in all {
            assert!(
                !matches!(state_of(&s), EncryptionState::Encrypted { .. }),
                "{s:?}"
            );
        }
    }

    fn volume(filevault: Option<bool>, encryption: Option<bool>) -> ApfsVolume {
        ApfsVolume {
            device: "disk3s7".into(),
            name: "Projects".into(),
            roles: vec![],
            encryption,
            filevault,
            locked: Some(false),
            migrating: Some(false),
        }
    }

    #[test]
    fn encrypted_at_rest_alone_is_not_encryption_for_a_volume_filevault_does_not_cover() {
        assert!(matches!(
            apfs_state(&volume(Some(false), Some(true))),
            EncryptionState::NotEncrypted { detail } if detail.contains("hardware key only")
        ));
        assert!(matches!(
            apfs_state(&volume(Some(false), Some(false))),
            EncryptionState::NotEncrypted { .. }
        ));
        assert!(matches!(
            apfs_state(&volume(Some(true), Some(true))),
            EncryptionState::Encrypted { .. }
        ));
        assert!(matches!(
            apfs_state(&volume(None, Some(true))),
            EncryptionState::Unknown { .. }
        ));
        let mut locked = volume(None, None);
        locked.locked = Some(true);
        assert!(matches!(
            apfs_state(&locked),
            EncryptionState::Encrypted { .. }
        ));
    }

    #[test]
    fn snapshots_of_the_startup_system_volume_belong_to_its_group() {
        let startup: BTreeSet<String> = ["disk3s1s1", "disk3s5"].map(String::from).into();
        assert!(in_startup_group("disk3s1", &startup));
        assert!(in_startup_group("disk3s5", &startup));
        assert!(!in_startup_group("disk3s7", &startup));
        let other: BTreeSet<String> = ["disk3s10"].map(String::from).into();
        assert!(!in_startup_group("disk3s1", &other));
    }

    #[test]
    fn apfs_list_output_that_is_not_a_container_list_is_refused() {
        assert!(parse_apfs_list("").is_err());
        assert!(
            parse_apfs_list("<plist version=\"1.0\"><dict><key>X</key><true/></dict></plist>")
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn arbitrary_output_never_panics(text in "\\PC{0,300}") {
            let _ = parse_fdesetup_status(&text);
            let _ = parse_apfs_list(&text);
        }

        #[test]
        fn progress_lines_with_arbitrary_numbers_never_panic(n in "[0-9.=% -]{0,12}") {
            let _ = parse_fdesetup_status(&format!("FileVault is On.\nEncryption in progress: Percent completed = {n}\n"));
        }
    }
}
