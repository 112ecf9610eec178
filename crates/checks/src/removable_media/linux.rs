//! Removable media probe for Linux, from files only.
//!
//! USB mass storage counts as blocked when one strong layer stops it: the kernel cannot load
//! `usb-storage` (an `install usb-storage /bin/false` rule while it is not loaded, the kernel's
//! own `module_blacklist=`, `modules_disabled=1`, or no driver for this kernel at all),
//! USBGuard rejects mass-storage interfaces, or a udev rule deauthorizes them
//! ([`udev_rules`]). A rule file counts as enforcement only when it and its directory are
//! root-owned and writable by nobody else. `blacklist usb-storage` alone is not a block: it only
//! stops auto-loading by alias, and `uas` pulls the module in as a dependency. Linux has no
//! generic read-only switch for USB storage, so this probe never reports read-only.
//!
//! Mounted removable volumes are every mount whose disk is on a USB bus, has removable media or
//! is an SD card, or that udev tags `ID_BUS=usb`; a volume is encrypted when every path down its
//! stack passes through dm-crypt.

mod kmod;
mod udev_rules;
mod usbguard;

use posture_host::Host;
use posture_host::blockdev::{self, BlockKind, BlockNode, StackEncryption};
use posture_host::mountinfo::{self, FsClass};
use posture_host::udev;
use posture_schema::{Enforcer, Evidence};

use super::{RemovableFacts, RemovableVolume, StorageControl};
use crate::enforcement;
use crate::evidence::{about, derived, file};

/// What one layer of control says about USB mass storage.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Layer {
    /// It stops USB mass storage, and how.
    Blocks(String),
    /// It does not, and why.
    DoesNotBlock(String),
    /// It could not be read.
    Unknown(String),
}

pub(super) fn gather(host: &dyn Host) -> RemovableFacts {
    let mut evidence = Vec::new();
    let mut control_settings = Vec::new();
    let mut layers = kmod::layers(host, &mut evidence, &mut control_settings);
    let guard = usbguard::layer(host, &mut evidence);
    if let Layer::Blocks(how) = &guard {
        control_settings.push(enforcement::enforced(
            "USBGuard",
            how.clone(),
            "/etc/usbguard",
            vec![enforcement::by(
                Enforcer::USBGUARD_RULE,
                "/etc/usbguard",
                None,
                Enforcer::BY_LOCAL_ADMIN,
            )],
        ));
    }
    layers.push(guard);
    layers.push(udev_rules::layer(host, &mut evidence, &mut control_settings));
    let control = combine(&layers);
    evidence.push(derived(
        "USB mass storage control",
        match &control {
            StorageControl::Blocked { how } => format!("blocked: {how}"),
            StorageControl::ReadOnly { how } => format!("read-only: {how}"),
            StorageControl::Allowed { why } => format!("allowed: {why}"),
            StorageControl::Unknown { reason } => format!("unknown: {reason}"),
        },
    ));
    let (mounted, mounts_unknown) = match mountinfo::read_mount_table(host) {
        Ok(read) => {
            evidence.push(file(
                &read.path,
                None,
                format!("{} mounts read", read.table.mounts.len()),
            ));
            // A line that could not be parsed may be a mounted stick: the list is incomplete.
            let incomplete = (read.table.malformed_lines > 0).then(|| {
                let why = format!(
                    "{} line(s) of {} could not be parsed, so the mounted removable volumes are unknown",
                    read.table.malformed_lines, read.path
                );
                evidence.push(file(&read.path, None, why.clone()));
                why
            });
            (
                mounted_volumes(host, &read.table.mounts, &mut evidence),
                incomplete,
            )
        }
        Err(tried) => {
            let why = tried
                .iter()
                .map(|(p, why)| format!("{p}: {why}"))
                .collect::<Vec<_>>()
                .join("; ");
            evidence.push(derived("mount table", format!("not readable: {why}")));
            (
                Vec::new(),
                Some(format!(
                    "could not read the mount table, so mounted removable volumes are unknown ({why})"
                )),
            )
        }
    };
    RemovableFacts {
        control,
        mounted,
        mounts_unknown,
        control_settings,
        evidence,
    }
}

/// One strong layer blocks; otherwise an unreadable layer leaves it unknown; otherwise it is
/// allowed, with every layer's reason.
fn combine(layers: &[Layer]) -> StorageControl {
    let pick = |f: fn(&Layer) -> Option<&String>| -> Vec<String> {
        layers.iter().filter_map(f).cloned().collect()
    };
    let blocks = pick(|l| match l {
        Layer::Blocks(s) => Some(s),
        _ => None,
    });
    if !blocks.is_empty() {
        return StorageControl::Blocked {
            how: blocks.join("; "),
        };
    }
    let unknown = pick(|l| match l {
        Layer::Unknown(s) => Some(s),
        _ => None,
    });
    if !unknown.is_empty() {
        return StorageControl::Unknown {
            reason: unknown.join("; "),
        };
    }
    StorageControl::Allowed {
        why: pick(|l| match l {
            Layer::DoesNotBlock(s) => Some(s),
            _ => None,
        })
        .join("; "),
    }
}

/// The removable volumes among the mounts.
fn mounted_volumes(
    host: &dyn Host,
    mounts: &[mountinfo::Mount],
    evidence: &mut Vec<Evidence>,
) -> Vec<RemovableVolume> {
    let mut volumes: Vec<(String, RemovableVolume)> = Vec::new();
    for mount in mounts {
        if mountinfo::fs_class(&mount.fs_type) != FsClass::Storage
            && mount.fs_type != "iso9660"
            && mount.fs_type != "udf"
        {
            continue;
        }
        // A mount whose device cannot be found is reported by the disk encryption check.
        let Ok(node) = blockdev::mount_device(host, mount) else {
            continue;
        };
        let Some(what) = removable_disk(host, &node, evidence, &mount.mount_point) else {
            continue;
        };
        let writable = mount.is_writable();
        if let Some((_, v)) = volumes.iter_mut().find(|(k, _)| *k == node.sys_path) {
            v.writable |= writable;
            continue;
        }
        let encrypted = match node.encryption(&mut |f| StackEncryption::Unknown {
            reason: format!("loop device over {f}"),
        }) {
            StackEncryption::Encrypted { method } => {
                evidence.push(about(
                    derived(&mount.mount_point, format!("encrypted: {method}")),
                    &mount.mount_point,
                ));
                Some(true)
            }
            StackEncryption::NotEncrypted { detail } => {
                evidence.push(about(
                    derived(&mount.mount_point, format!("not encrypted: {detail}")),
                    &mount.mount_point,
                ));
                Some(false)
            }
            StackEncryption::Unknown { reason } => {
                evidence.push(about(
                    derived(&mount.mount_point, format!("encryption unknown: {reason}")),
                    &mount.mount_point,
                ));
                None
            }
            StackEncryption::Memory => continue,
        };
        evidence.push(about(
            derived(
                &mount.mount_point,
                format!(
                    "{} mounted {} ({}, options {})",
                    mount.source,
                    if writable { "writable" } else { "read-only" },
                    mount.fs_type,
                    mount.options.join(",")
                ),
            ),
            &mount.mount_point,
        ));
        volumes.push((
            node.sys_path.clone(),
            RemovableVolume {
                mount: mount.mount_point.clone(),
                device: format!("{} ({what})", node.dev_path()),
                writable,
                encrypted,
            },
        ));
    }
    volumes.into_iter().map(|(_, v)| v).collect()
}

/// Describes the removable disk under a stack ("USB, Kingston DataTraveler_3.0"), or `None` when
/// every disk is internal.
fn removable_disk(
    host: &dyn Host,
    node: &BlockNode,
    evidence: &mut Vec<Evidence>,
    subject: &str,
) -> Option<String> {
    for n in node.nodes() {
        let BlockKind::Disk {
            removable,
            usb,
            sd_card,
            ref external,
        } = n.kind
        else {
            continue;
        };
        let record = n.device_number.and_then(|(major, minor)| {
            let path = udev::block_record_path(major, minor);
            host.read_text(&path)
                .ok()
                .map(|t| (path, udev::parse_udev_record(&t)))
        });
        let udev_usb = record
            .as_ref()
            .is_some_and(|(_, r)| r.property("ID_BUS") == Some("usb"));
        let udev_firewire = record
            .as_ref()
            .is_some_and(|(_, r)| r.property("ID_BUS") == Some("ieee1394"));
        let kind = if usb || udev_usb {
            "USB"
        } else if sd_card {
            "SD card"
        } else if external.as_deref().is_some_and(|e| e.contains("FireWire")) || udev_firewire {
            "FireWire"
        } else if external.as_deref().is_some_and(|e| e.contains("eSATA")) {
            "eSATA"
        } else if external.is_some() {
            "external disk"
        } else if removable == Some(true) {
            "removable media"
        } else {
            continue;
        };
        let mut why = Vec::new();
        if usb {
            why.push(format!("{} runs through a USB bus", n.sys_path));
        }
        if sd_card {
            why.push(format!("{}/device/type is SD", n.sys_path));
        }
        if removable == Some(true) {
            why.push(format!("{}/removable is 1", n.sys_path));
        }
        if let Some(e) = external {
            why.push(e.clone());
        }
        let mut label = kind.to_owned();
        if let Some((path, r)) = &record {
            if udev_usb {
                why.push(format!("{path} has ID_BUS=usb"));
            }
            if udev_firewire {
                why.push(format!("{path} has ID_BUS=ieee1394"));
            }
            let model = [r.property("ID_VENDOR"), r.property("ID_MODEL")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            if !model.is_empty() {
                label = format!("{kind}, {model}");
            }
        }
        evidence.push(about(
            derived(
                &n.sys_path,
                format!("removable disk {}: {}", n.name, why.join("; ")),
            ),
            subject,
        ));
        return Some(label);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_blocking_layer_is_enough_and_unknown_beats_allowed() {
        let allowed = Layer::DoesNotBlock("no rule".into());
        let unknown = Layer::Unknown("unreadable".into());
        let blocks = Layer::Blocks("install rule".into());
        assert!(matches!(
            combine(&[allowed.clone(), unknown.clone(), blocks]),
            StorageControl::Blocked { .. }
        ));
        assert!(matches!(
            combine(&[allowed.clone(), unknown]),
            StorageControl::Unknown { .. }
        ));
        assert!(matches!(
            combine(&[allowed]),
            StorageControl::Allowed { .. }
        ));
    }
}
