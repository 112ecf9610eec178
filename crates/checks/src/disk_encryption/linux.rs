//! Disk encryption probe for Linux: from each mounted filesystem down its block stack in sysfs.
//!
//! The root filesystem and every other internal, persistent data filesystem must sit on an
//! encryption layer (dm-crypt LUKS1/LUKS2/plain/BitLocker/VeraCrypt, also under LVM, md or
//! btrfs). `/boot`, `/boot/efi` and `/efi` are exempt; removable and USB disks belong to the
//! removable-media check; virtual, network and read-only image filesystems hold no data at rest.
//! File-level encryption (fscrypt, eCryptfs, gocryptfs) is reported but does not count. ZFS
//! native encryption is a dataset property no file shows, so a ZFS filesystem is unknown unless
//! every device of its pool sits on dm-crypt. Whatever cannot be resolved is unknown, never
//! encrypted.

mod stack;
mod zfs;

use posture_host::Host;
use posture_host::blockdev::{self, BlockNode, StackEncryption};
use posture_host::mountinfo::{self, FsClass, Mount};
use posture_host::udev;

use super::{EncryptionFacts, EncryptionState, Volume, VolumeRole};
use crate::evidence::{about, derived, directory, file};

/// Mount points that hold the boot loader and kernel, which firmware must read unencrypted.
const BOOT_MOUNTS: [&str; 3] = ["/boot", "/boot/efi", "/efi"];

/// How many loop devices deep a file is followed (an image on a filesystem on an image...).
const MAX_LOOP_DEPTH: usize = 4;

pub(super) fn gather(host: &dyn Host) -> EncryptionFacts {
    let mut facts = EncryptionFacts::default();
    let read = match mountinfo::read_mount_table(host) {
        Ok(read) => read,
        Err(tried) => {
            for (path, why) in &tried {
                facts
                    .evidence
                    .push(file(path, None, format!("not used: {why}")));
            }
            facts.undecided = Some(format!(
                "could not read the mount table ({})",
                tried
                    .iter()
                    .map(|(p, why)| format!("{p}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
            return facts;
        }
    };
    for (path, why) in &read.skipped {
        facts
            .evidence
            .push(file(path, None, format!("not used: {why}")));
    }
    facts.evidence.push(file(
        &read.path,
        None,
        format!(
            "{} mounts read{}",
            read.table.mounts.len(),
            if read.table.malformed_lines > 0 {
                format!(", {} malformed lines skipped", read.table.malformed_lines)
            } else {
                String::new()
            }
        ),
    ));
    // A line that could not be parsed may be any mount, an unencrypted data volume too.
    if read.table.malformed_lines > 0 {
        facts.volumes.push(Volume {
            name: format!(
                "{} ({} line(s) that could not be parsed)",
                read.path, read.table.malformed_lines
            ),
            device: read.path.clone(),
            role: VolumeRole::Data,
            state: EncryptionState::Unknown {
                reason: format!(
                    "{} line(s) of {} could not be parsed, so the filesystems they mount are unknown",
                    read.table.malformed_lines, read.path
                ),
            },
        });
    }
    let mounts = &read.table.mounts;
    let mut judged: Vec<(String, String)> = Vec::new();
    for mount in mounts {
        judge_mount(host, mounts, mount, &mut judged, &mut facts);
    }
    judge_swap(host, mounts, &mut facts);
    facts
}

/// Decides whether a mount is one the policy covers and, if so, adds it as a volume.
/// `judged` holds (device key, first mount point) of the volumes already added, so a filesystem
/// mounted in several places (bind mounts, btrfs subvolumes) is judged once.
fn judge_mount(
    host: &dyn Host,
    mounts: &[Mount],
    mount: &Mount,
    judged: &mut Vec<(String, String)>,
    facts: &mut EncryptionFacts,
) {
    let point = mount.mount_point.as_str();
    let source = format!("{} ({} on {})", point, mount.fs_type, mount.source);
    match mountinfo::fs_class(&mount.fs_type) {
        FsClass::Virtual | FsClass::Network | FsClass::ReadOnlyImage | FsClass::Overlay => return,
        FsClass::FileLevelEncryption => {
            facts.evidence.push(derived(
                &source,
                "file-level encryption (only the files under this mount are encrypted); not full-disk encryption, not counted",
            ));
            return;
        }
        FsClass::Zfs | FsClass::Storage => {}
    }
    if BOOT_MOUNTS.contains(&point) {
        facts.evidence.push(derived(
            &source,
            "boot partition: exempt, firmware must read it unencrypted",
        ));
        return;
    }
    if let Some((record, ty)) = efi_system_partition(host, mount) {
        facts.evidence.push(about(
            file(
                &record,
                Some("ID_PART_ENTRY_TYPE"),
                format!(
                    "{ty}: an EFI system partition mounted at {point}; exempt, firmware must read it unencrypted"
                ),
            ),
            point,
        ));
        return;
    }
    let role = if point == "/" {
        VolumeRole::System
    } else {
        VolumeRole::Data
    };

    let judgement = if mount.fs_type == "zfs" {
        let (state, evidence) = zfs::dataset_encryption(host, &mount.source);
        facts
            .evidence
            .extend(evidence.into_iter().map(|e| about(e, point)));
        Judgement {
            key: format!("zfs:{}", mount.source),
            device: mount.source.clone(),
            state,
            removable: false,
            in_progress: None,
        }
    } else {
        match block_judgement(host, mounts, mount, 0, &mut facts.evidence) {
            Some(j) => j,
            None => return,
        }
    };
    if judgement.removable {
        facts.evidence.push(derived(
            &source,
            "on a removable or USB disk: judged by the removable media check, not here",
        ));
        return;
    }
    if let Some((_, first)) = judged.iter().find(|(k, _)| *k == judgement.key) {
        facts.evidence.push(derived(
            &source,
            format!("same filesystem as {first}, judged there"),
        ));
        return;
    }
    judged.push((judgement.key.clone(), point.to_owned()));
    note_fscrypt(host, point, facts);
    let state = match judgement.in_progress {
        Some(detail) => EncryptionState::InProgress {
            detail,
            percent: None,
        },
        None => to_state(judgement.state),
    };
    facts
        .evidence
        .push(about(derived(&source, describe_state(&state)), point));
    facts.volumes.push(Volume {
        name: point.to_owned(),
        device: judgement.device,
        role,
        state,
    });
}

/// The partition type of an EFI system partition: the GPT type GUID (UEFI specification,
/// "EFI System Partition"), or `0xef` in an MBR partition table.
const ESP_TYPES: [&str; 2] = ["c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "0xef"];

/// Whether a mount is an EFI system partition by its partition type, wherever it is mounted (a
/// second ESP at `/boot/efi2` on mirrored disks): udev's record of the device
/// (`/run/udev/data/b<MAJ>:<MIN>`) has the type from the partition table in
/// `ID_PART_ENTRY_TYPE`. The udev record path and the type, when it is one.
fn efi_system_partition(host: &dyn Host, mount: &Mount) -> Option<(String, String)> {
    let (major, minor) = mount.device.filter(|(major, _)| *major != 0)?;
    let path = udev::block_record_path(major, minor);
    let record = udev::parse_udev_record(&host.read_text(&path).ok()?);
    let ty = record
        .property("ID_PART_ENTRY_TYPE")?
        .trim()
        .to_ascii_lowercase();
    ESP_TYPES
        .contains(&ty.as_str())
        .then(|| (path, format!("ID_PART_ENTRY_TYPE={ty}")))
}

/// What a mount's block stack says.
struct Judgement {
    /// Identifies the filesystem so repeated mounts are judged once.
    key: String,
    /// The device shown to people.
    device: String,
    state: StackEncryption,
    /// Whether a disk of the stack is removable or USB-attached.
    removable: bool,
    /// Set when encryption is still being applied.
    in_progress: Option<String>,
}

/// Resolves a block-backed mount and judges its stack. `None` when the mount turns out to have
/// no storage of its own (a filesystem in RAM).
fn block_judgement(
    host: &dyn Host,
    mounts: &[Mount],
    mount: &Mount,
    depth: usize,
    evidence: &mut Vec<posture_schema::Evidence>,
) -> Option<Judgement> {
    let point = mount.mount_point.as_str();
    let node = match blockdev::mount_device(host, mount) {
        Ok(node) => node,
        Err(reason) => {
            // A mount with neither a device number nor a /dev source is not block storage
            // (e.g. a FUSE filesystem we do not know); everything else is a failure to see.
            if mount.device.is_some_and(|(major, _)| major == 0)
                && !mount.source.starts_with("/dev/")
                && mount.fs_type != "btrfs"
            {
                evidence.push(derived(
                    &format!("{point} ({})", mount.fs_type),
                    format!("no block device behind it ({reason}): not disk storage"),
                ));
                return None;
            }
            return Some(Judgement {
                key: format!("unresolved:{point}"),
                device: mount.source.clone(),
                state: StackEncryption::Unknown {
                    reason: format!("could not find the block device of {point}: {reason}"),
                },
                removable: false,
                in_progress: None,
            });
        }
    };
    evidence.extend(stack::evidence(&node, point));
    let mut members = vec![node.clone()];
    if mount.fs_type == "btrfs" {
        match blockdev::btrfs_members(host, &node.name) {
            Ok(Some((dir, names))) => {
                evidence.push(about(directory(&dir, names.join(" ")), point));
                for name in names.iter().filter(|n| **n != node.name) {
                    let member = BlockNode::from_kernel_name(host, name);
                    evidence.extend(stack::evidence(&member, point));
                    members.push(member);
                }
            }
            Ok(None) => evidence.push(about(
                derived(
                    "/sys/fs/btrfs",
                    format!(
                        "no btrfs filesystem lists {}: judged by that device alone",
                        node.name
                    ),
                ),
                point,
            )),
            Err(e) => evidence.push(about(
                directory(
                    "/sys/fs/btrfs",
                    format!("not readable ({e}): judged by {} alone", node.name),
                ),
                point,
            )),
        }
    }
    let removable = members.iter().any(stack::is_removable);
    let mut results = Vec::new();
    for member in &members {
        let mut loop_file = |backing: &str| file_encryption(host, mounts, backing, depth + 1);
        results.push(member.encryption(&mut loop_file));
    }
    let state = merge(results);
    // The top device is already CRYPT-LUKS2 while cryptsetup encrypts in place: the helper
    // devices below it show that part of the disk may still be plain.
    if let (StackEncryption::Encrypted { .. }, Some(helper)) =
        (&state, members.iter().find_map(reencryption_helper))
    {
        evidence.push(about(
            derived(
                point,
                format!("LUKS2 online reencryption in progress: {helper}"),
            ),
            point,
        ));
        return Some(Judgement {
            key: node.sys_path.clone(),
            device: node.dev_path(),
            state,
            removable,
            in_progress: Some(format!(
                "LUKS2 online encryption or reencryption is under way ({helper}): part of the disk may still be plain"
            )),
        });
    }
    if state == StackEncryption::Memory {
        evidence.push(derived(
            point,
            format!("on {}, a RAM disk: not persistent storage", node.dev_path()),
        ));
        return None;
    }
    Some(Judgement {
        key: node.sys_path.clone(),
        device: node.dev_path(),
        state,
        removable,
        in_progress: None,
    })
}

/// cryptsetup's temporary helper devices during online LUKS2 (re)encryption: `CRYPT-SUBDEV`
/// mappings named `*-hotzone-*` or `*-overlay` (a SUBDEV for dm-integrity is permanent and
/// named otherwise).
fn reencryption_helper(node: &BlockNode) -> Option<String> {
    node.nodes().into_iter().find_map(|n| match &n.kind {
        posture_host::blockdev::BlockKind::DeviceMapper { name, uuid }
            if uuid.starts_with("CRYPT-SUBDEV")
                && (name.contains("-hotzone-") || name.ends_with("-overlay")) =>
        {
            Some(format!("/dev/mapper/{name} ({uuid})"))
        }
        _ => None,
    })
}

/// The encryption of the storage holding a file: that of the mount with the longest mount
/// point containing it.
fn file_encryption(host: &dyn Host, mounts: &[Mount], path: &str, depth: usize) -> StackEncryption {
    if depth > MAX_LOOP_DEPTH {
        return StackEncryption::Unknown {
            reason: format!("{path}: loop devices nested more than {MAX_LOOP_DEPTH} deep"),
        };
    }
    let Some(mount) = containing_mount(mounts, path) else {
        return StackEncryption::Unknown {
            reason: format!("no mounted filesystem holds {path}"),
        };
    };
    match mountinfo::fs_class(&mount.fs_type) {
        FsClass::Virtual => return StackEncryption::Memory,
        FsClass::Storage => {}
        FsClass::Zfs => return zfs::dataset_encryption(host, &mount.source).0,
        _ => {
            return StackEncryption::Unknown {
                reason: format!(
                    "{path} is on {} ({}), whose storage cannot be judged",
                    mount.mount_point, mount.fs_type
                ),
            };
        }
    }
    let mut ignored = Vec::new();
    match block_judgement(host, mounts, mount, depth, &mut ignored) {
        Some(j) => match j.state {
            StackEncryption::NotEncrypted { detail } => StackEncryption::NotEncrypted {
                detail: format!("{path} is on {}: {detail}", mount.mount_point),
            },
            StackEncryption::Encrypted { method } => StackEncryption::Encrypted {
                method: format!("{method}, holding {path} on {}", mount.mount_point),
            },
            other => other,
        },
        None => StackEncryption::Memory,
    }
}

/// The mount whose mount point is the longest whole-component prefix of `path`; the last one
/// in table order wins among equal mount points (it is mounted on top).
fn containing_mount<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            let mp = m.mount_point.trim_end_matches('/');
            mp.is_empty()
                || path == mp
                || path
                    .strip_prefix(mp)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|(i, m)| (m.mount_point.trim_end_matches('/').len(), *i))
        .map(|(_, m)| m)
}

/// All of several stacks (btrfs members) must be encrypted.
fn merge(results: Vec<StackEncryption>) -> StackEncryption {
    let mut methods: Vec<String> = Vec::new();
    let mut unknown = None;
    for r in results {
        match r {
            StackEncryption::NotEncrypted { .. } => return r,
            StackEncryption::Unknown { .. } => unknown = unknown.or(Some(r)),
            StackEncryption::Encrypted { method } => {
                if !methods.contains(&method) {
                    methods.push(method);
                }
            }
            StackEncryption::Memory => {}
        }
    }
    if let Some(u) = unknown {
        return u;
    }
    if methods.is_empty() {
        StackEncryption::Memory
    } else {
        StackEncryption::Encrypted {
            method: methods.join("; "),
        }
    }
}

fn to_state(s: StackEncryption) -> EncryptionState {
    match s {
        StackEncryption::Encrypted { method } => EncryptionState::Encrypted { method },
        StackEncryption::NotEncrypted { detail } => EncryptionState::NotEncrypted { detail },
        StackEncryption::Unknown { reason } => EncryptionState::Unknown { reason },
        // Callers drop RAM-backed volumes before this; should one slip through, it is not a pass.
        StackEncryption::Memory => EncryptionState::Unknown {
            reason: "backed by RAM, not a disk".to_owned(),
        },
    }
}

fn describe_state(state: &EncryptionState) -> String {
    match state {
        EncryptionState::Encrypted { method } => format!("encrypted: {method}"),
        EncryptionState::NotEncrypted { detail } => format!("not encrypted: {detail}"),
        EncryptionState::InProgress { detail, .. } => format!("in progress: {detail}"),
        EncryptionState::Unprotected { detail } => format!("unprotected: {detail}"),
        EncryptionState::Unknown { reason } => format!("unknown: {reason}"),
    }
}

/// fscrypt keeps its metadata in `<mount>/.fscrypt`: worth reporting, but it protects chosen
/// directories only, so it never makes a volume count as encrypted.
fn note_fscrypt(host: &dyn Host, point: &str, facts: &mut EncryptionFacts) {
    let dir = if point == "/" {
        "/.fscrypt".to_owned()
    } else {
        format!("{point}/.fscrypt")
    };
    if matches!(host.exists(&dir), Ok(true)) {
        facts.evidence.push(about(
            directory(
                &dir,
                "fscrypt is set up: some directories are encrypted at file level; not full-disk encryption, not counted",
            ),
            point,
        ));
    }
}

/// Adds each active swap area from `/proc/swaps` as a swap volume; zram is memory and left out.
fn judge_swap(host: &dyn Host, mounts: &[Mount], facts: &mut EncryptionFacts) {
    const SWAPS: &str = "/proc/swaps";
    let text = match host.read_text(SWAPS) {
        Ok(text) => text,
        Err(e) => {
            let reason = crate::evidence::read_failure(SWAPS, &e);
            facts.evidence.push(file(SWAPS, None, reason.clone()));
            facts.volumes.push(Volume {
                name: "swap".to_owned(),
                device: SWAPS.to_owned(),
                role: VolumeRole::Swap,
                state: EncryptionState::Unknown {
                    reason: format!("the active swap areas are unknown: {reason}"),
                },
            });
            return;
        }
    };
    let table = mountinfo::parse_swaps(&text);
    facts.evidence.push(file(
        SWAPS,
        None,
        if table.areas.is_empty() {
            "no active swap".to_owned()
        } else {
            table
                .areas
                .iter()
                .map(|a| format!("{} ({})", a.path, a.kind))
                .collect::<Vec<_>>()
                .join(", ")
        },
    ));
    if table.malformed_lines > 0 {
        facts.volumes.push(Volume {
            name: "swap".to_owned(),
            device: SWAPS.to_owned(),
            role: VolumeRole::Swap,
            state: EncryptionState::Unknown {
                reason: format!(
                    "{} lines of {SWAPS} could not be read",
                    table.malformed_lines
                ),
            },
        });
    }
    for area in &table.areas {
        let name = area.path.clone();
        let (device, state) = match area.kind.as_str() {
            "file" => {
                let on = containing_mount(mounts, &area.path)
                    .map_or_else(|| "?".to_owned(), |m| m.mount_point.clone());
                (
                    format!("file on {on}"),
                    file_encryption(host, mounts, &area.path, 0),
                )
            }
            "partition" => match blockdev::kernel_name_of_dev_path(host, &area.path) {
                Ok(kname) => {
                    let node = BlockNode::from_kernel_name(host, &kname);
                    facts.evidence.extend(stack::evidence(&node, &name));
                    let state =
                        node.encryption(&mut |backing| file_encryption(host, mounts, backing, 1));
                    (node.dev_path(), state)
                }
                Err(reason) => (
                    area.path.clone(),
                    StackEncryption::Unknown {
                        reason: format!("could not find the swap device {}: {reason}", area.path),
                    },
                ),
            },
            other => (
                area.path.clone(),
                StackEncryption::Unknown {
                    reason: format!("swap of unknown type {other:?}"),
                },
            ),
        };
        if state == StackEncryption::Memory {
            facts.evidence.push(about(
                derived(&name, "compressed RAM (zram), not disk: not judged"),
                &name,
            ));
            continue;
        }
        let state = to_state(state);
        facts
            .evidence
            .push(about(derived(&name, describe_state(&state)), &name));
        facts.volumes.push(Volume {
            name,
            device,
            role: VolumeRole::Swap,
            state,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(point: &str) -> Mount {
        Mount {
            device: Some((8, 1)),
            root: "/".into(),
            mount_point: point.into(),
            options: vec!["rw".into()],
            fs_type: "ext4".into(),
            source: "/dev/sda1".into(),
            super_options: vec![],
        }
    }

    #[test]
    fn a_file_belongs_to_the_longest_whole_component_mount_point() {
        let mounts = vec![mount("/"), mount("/home"), mount("/home2")];
        assert_eq!(
            containing_mount(&mounts, "/home2/swapfile").map(|m| m.mount_point.as_str()),
            Some("/home2")
        );
        assert_eq!(
            containing_mount(&mounts, "/homework/x").map(|m| m.mount_point.as_str()),
            Some("/")
        );
    }

    #[test]
    fn one_plain_btrfs_member_makes_the_filesystem_plain() {
        let merged = merge(vec![
            StackEncryption::Encrypted {
                method: "LUKS2".into(),
            },
            StackEncryption::NotEncrypted {
                detail: "sdb".into(),
            },
        ]);
        assert!(matches!(merged, StackEncryption::NotEncrypted { .. }));
    }
}
