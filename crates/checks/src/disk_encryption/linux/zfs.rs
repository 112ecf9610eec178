//! ZFS: native encryption is a property of each dataset (`zfs get encryption`), kept inside the
//! pool and shown by no file, so it cannot be read here. What files do show is the pool's
//! devices: udev labels each with `ID_FS_TYPE=zfs_member` and `ID_FS_LABEL=<pool>`. When every
//! one of them sits on dm-crypt, the whole pool is encrypted at rest whatever its datasets say.

use posture_host::Host;
use posture_host::blockdev::{BlockNode, StackEncryption};
use posture_host::mountinfo::parse_device_number;
use posture_host::udev::parse_udev_record;
use posture_schema::Evidence;

use crate::evidence::{derived, directory, file};

const UDEV_DATA: &str = "/run/udev/data";

/// The encryption of a mounted ZFS dataset, with the evidence read.
pub(super) fn dataset_encryption(
    host: &dyn Host,
    dataset: &str,
) -> (StackEncryption, Vec<Evidence>) {
    let pool = dataset.split('/').next().unwrap_or(dataset);
    let mut evidence = Vec::new();
    let cannot_read = format!(
        "ZFS dataset {dataset}: native ZFS encryption is a dataset property that no file shows (`zfs get encryption,keystatus {dataset}` as root tells)"
    );
    let names = match host.list_dir(UDEV_DATA) {
        Ok(names) => names,
        Err(e) => {
            evidence.push(directory(
                UDEV_DATA,
                format!("not readable ({e}): the pool's devices are unknown"),
            ));
            return (
                StackEncryption::Unknown {
                    reason: format!(
                        "{cannot_read}; the pool's devices could not be listed ({UDEV_DATA}: {e})"
                    ),
                },
                evidence,
            );
        }
    };
    let mut vdevs = Vec::new();
    for name in names.iter().filter(|n| n.starts_with('b')) {
        let path = format!("{UDEV_DATA}/{name}");
        let Ok(text) = host.read_text(&path) else {
            continue;
        };
        let record = parse_udev_record(&text);
        if record.property("ID_FS_TYPE") == Some("zfs_member")
            && record.property("ID_FS_LABEL") == Some(pool)
        {
            evidence.push(file(
                &path,
                Some("ID_FS_LABEL"),
                format!("zfs_member of pool {pool}"),
            ));
            if let Some((major, minor)) = parse_device_number(&name[1..]) {
                vdevs.push(BlockNode::from_device_number(host, major, minor));
            }
        }
    }
    if vdevs.is_empty() {
        evidence.push(derived(
            UDEV_DATA,
            format!("no device labelled zfs_member of pool {pool}"),
        ));
        return (
            StackEncryption::Unknown {
                reason: format!(
                    "{cannot_read}; no device of pool {pool} found in the udev database"
                ),
            },
            evidence,
        );
    }
    let mut methods = Vec::new();
    for vdev in &vdevs {
        evidence.extend(super::stack::evidence(vdev, dataset));
        match vdev.encryption(&mut |f| StackEncryption::Unknown {
            reason: format!("loop device over {f}"),
        }) {
            StackEncryption::Encrypted { method } => methods.push(method),
            StackEncryption::NotEncrypted { detail } => {
                return (
                    StackEncryption::Unknown {
                        reason: format!(
                            "{cannot_read}; pool {pool} has a device without dm-crypt ({detail}), so only native encryption could protect it"
                        ),
                    },
                    evidence,
                );
            }
            StackEncryption::Unknown { reason } => {
                return (
                    StackEncryption::Unknown {
                        reason: format!(
                            "{cannot_read}; a device of pool {pool} could not be judged: {reason}"
                        ),
                    },
                    evidence,
                );
            }
            StackEncryption::Memory => {}
        }
    }
    if methods.is_empty() {
        return (
            StackEncryption::Unknown {
                reason: cannot_read,
            },
            evidence,
        );
    }
    (
        StackEncryption::Encrypted {
            method: format!("ZFS pool {pool} on {}", methods.join(", ")),
        },
        evidence,
    )
}
