//! Evidence records for a block stack, and whether it ends on a removable disk.

use posture_host::blockdev::{BlockKind, BlockNode};
use posture_schema::Evidence;

use crate::evidence::{about, derived, directory, file};

/// One record per device of the stack, naming the sysfs attribute it rests on.
pub(super) fn evidence(node: &BlockNode, subject: &str) -> Vec<Evidence> {
    node.nodes()
        .into_iter()
        .map(|n| {
            let e = match &n.kind {
                BlockKind::DeviceMapper { name, uuid } => file(
                    &format!("{}/dm/uuid", n.sys_path),
                    None,
                    format!(
                        "{} (/dev/mapper/{name}): {}",
                        n.name,
                        if uuid.is_empty() { "(no uuid)" } else { uuid }
                    ),
                ),
                BlockKind::Partition => file(
                    &format!("{}/partition", n.sys_path),
                    None,
                    format!("{} is a partition", n.name),
                ),
                BlockKind::Md { level } => file(
                    &format!("{}/md/level", n.sys_path),
                    None,
                    format!("{} is md RAID {}", n.name, level.as_deref().unwrap_or("?")),
                ),
                BlockKind::Loop { backing_file } => file(
                    &format!("{}/loop/backing_file", n.sys_path),
                    None,
                    format!(
                        "{} maps {}",
                        n.name,
                        backing_file.as_deref().unwrap_or("(unreadable)")
                    ),
                ),
                BlockKind::Zram => derived(&n.sys_path, format!("{} is a RAM disk (zram)", n.name)),
                BlockKind::Stacked => directory(
                    &format!("{}/slaves", n.sys_path),
                    format!("{} is stacked on {}", n.name, lower_names(n)),
                ),
                BlockKind::Disk {
                    removable,
                    usb,
                    sd_card,
                    external,
                } => directory(
                    &n.sys_path,
                    format!(
                        "{} is a disk{}{}{}; removable={}",
                        n.name,
                        if *usb { " on a USB bus" } else { "" },
                        if *sd_card { " (SD card)" } else { "" },
                        external
                            .as_ref()
                            .map(|e| format!(", attached externally: {e}"))
                            .unwrap_or_default(),
                        removable.map_or("unreadable", |r| if r { "1" } else { "0" })
                    ),
                ),
                BlockKind::Unresolved { reason } => derived(&n.sys_path, reason.clone()),
            };
            about(e, subject)
        })
        .collect()
}

fn lower_names(n: &BlockNode) -> String {
    n.lower
        .iter()
        .map(|l| l.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether any disk of the stack is removable media: USB-attached, a removable medium, an SD
/// card, or attached from outside (Thunderbolt/USB4, FireWire, an external port). The same
/// disks the removable-media check judges.
pub(super) fn is_removable(node: &BlockNode) -> bool {
    node.nodes().iter().any(|n| match &n.kind {
        BlockKind::Disk {
            removable,
            usb,
            sd_card,
            external,
        } => *usb || *sd_card || *removable == Some(true) || external.is_some(),
        _ => false,
    })
}
