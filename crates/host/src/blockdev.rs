//! Linux block-device stacks as sysfs describes them: from a mounted device down through
//! device-mapper (dm-crypt, LVM...), md RAID, loop devices and partitions to the disks below.
//!
//! Everything here is read from world-readable sysfs through a [`Host`]: `/sys/dev/block/MAJ:MIN`
//! and `/sys/class/block/NAME` link into `/sys/devices/...`; a device-mapper device has
//! `dm/name` and `dm/uuid` (whose prefix names its owner, e.g. `CRYPT-LUKS2-`); lower devices are
//! linked in `slaves/`; a partition's disk is its parent directory. This module reports what it
//! saw, including what it could not see; judging it (is this encryption? is it removable?) is
//! the caller's job.

use crate::{Host, ReadError, canonicalize};

/// How deep a stack may go before the walk stops (real stacks are a handful of layers).
const MAX_DEPTH: usize = 16;

/// One block device and the devices below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockNode {
    /// Kernel name: `dm-0`, `nvme0n1p3`, `sda`.
    pub name: String,
    /// The device's directory in sysfs with no links left (`/sys/devices/...`).
    pub sys_path: String,
    /// `MAJ:MIN` from the `dev` attribute, when readable.
    pub device_number: Option<(u32, u32)>,
    /// What kind of device it is.
    pub kind: BlockKind,
    /// The devices it is built on (`slaves/`, or a partition's disk).
    pub lower: Vec<BlockNode>,
}

/// What a block device is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockKind {
    /// A device-mapper device.
    DeviceMapper {
        /// `dm/name`, the name under `/dev/mapper/`.
        name: String,
        /// `dm/uuid`, empty when the creator set none.
        uuid: String,
    },
    /// A partition of the disk in `lower`.
    Partition,
    /// An md RAID array.
    Md {
        /// `md/level`, e.g. `raid1`.
        level: Option<String>,
    },
    /// A loop device and the file it maps, when sysfs says.
    Loop {
        /// `loop/backing_file`.
        backing_file: Option<String>,
    },
    /// A compressed RAM disk (`zramN`): memory, not storage.
    Zram,
    /// Another stacked device (bcache, drbd...) with lower devices in `slaves/`.
    Stacked,
    /// A disk: the bottom of the stack.
    Disk {
        /// `removable` attribute (the medium can be removed: card readers, many USB sticks).
        removable: Option<bool>,
        /// Whether its sysfs path runs through a USB bus (`.../usb2/2-1/...`).
        usb: bool,
        /// Whether it is an SD card (`mmcblkN` whose `device/type` is `SD`; soldered eMMC says
        /// `MMC`).
        sd_card: bool,
        /// Why the disk is attached from outside the machine, when sysfs says so: a device above
        /// it whose `removable` attribute is `removable` (the kernel marks PCI devices below an
        /// external-facing port such as Thunderbolt/USB4, and USB devices on external hub
        /// ports), or a FireWire bus (`fwN`) in its path.
        external: Option<String>,
    },
    /// The device could not be read, and why.
    Unresolved {
        /// What failed.
        reason: String,
    },
}

impl BlockNode {
    /// The node for a device number, via `/sys/dev/block/MAJ:MIN`.
    pub fn from_device_number(host: &dyn Host, major: u32, minor: u32) -> Self {
        let link = format!("/sys/dev/block/{major}:{minor}");
        walk_from_link(host, &link, &format!("{major}:{minor}"), 0, &mut Vec::new())
    }

    /// The node for a kernel name, via `/sys/class/block/NAME`.
    pub fn from_kernel_name(host: &dyn Host, name: &str) -> Self {
        let link = format!("/sys/class/block/{name}");
        walk_from_link(host, &link, name, 0, &mut Vec::new())
    }

    /// Every node of the stack, this one first, depth first.
    #[must_use]
    pub fn nodes(&self) -> Vec<&BlockNode> {
        let mut out = vec![self];
        for l in &self.lower {
            out.extend(l.nodes());
        }
        out
    }

    /// The `/dev` path people know the device by: `/dev/mapper/NAME` for device-mapper,
    /// `/dev/NAME` otherwise.
    #[must_use]
    pub fn dev_path(&self) -> String {
        match &self.kind {
            BlockKind::DeviceMapper { name, .. } if !name.is_empty() => {
                format!("/dev/mapper/{name}")
            }
            _ => format!("/dev/{}", self.name),
        }
    }
}

/// Who created a device-mapper device, from the prefix of its `dm/uuid` (cryptsetup writes
/// `CRYPT-<TYPE>-...`, LVM `LVM-...`, multipath `mpath-...`, kpartx `partN-...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmOwner {
    /// A dm-crypt mapping that encrypts its data: LUKS1, LUKS2 (also LUKS2 on a self-encrypting
    /// OPAL drive), PLAIN, BITLK, TCRYPT, FVAULT2, LOOPAES. Holds the type.
    Encryption(String),
    /// A cryptsetup mapping that only checks integrity (VERITY, INTEGRITY) or a helper device
    /// (SUBDEV): the data is not encrypted by it.
    CryptNonEncrypting(String),
    /// An LVM logical volume.
    Lvm,
    /// Any other owner: the uuid prefix up to the first `-` (`mpath`, `part1`, `DMRAID`...).
    Other(String),
    /// No uuid: made by hand with `dmsetup create` or by a tool that sets none; its target can
    /// only be read with `dmsetup table` as root.
    Unlabelled,
}

/// Reads the owner from a `dm/uuid` value.
#[must_use]
pub fn dm_owner(uuid: &str) -> DmOwner {
    let uuid = uuid.trim();
    if uuid.is_empty() {
        return DmOwner::Unlabelled;
    }
    if let Some(rest) = uuid.strip_prefix("CRYPT-") {
        let kind = rest.split('-').next().unwrap_or_default().to_owned();
        return match kind.as_str() {
            "LUKS1" | "LUKS2" | "PLAIN" | "BITLK" | "TCRYPT" | "FVAULT2" | "LOOPAES" => {
                DmOwner::Encryption(kind)
            }
            // "LUKS" without a version was written by cryptsetup 1.x for LUKS1.
            "LUKS" => DmOwner::Encryption("LUKS1".to_owned()),
            _ => DmOwner::CryptNonEncrypting(kind),
        };
    }
    if uuid.starts_with("LVM-") {
        return DmOwner::Lvm;
    }
    DmOwner::Other(uuid.split('-').next().unwrap_or_default().to_owned())
}

/// Whether the data of a block stack reaches its disks encrypted, as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackEncryption {
    /// Every path down the stack passes through an encryption layer.
    Encrypted {
        /// How, e.g. "dm-crypt LUKS2 (/dev/mapper/luks-4c1e)".
        method: String,
    },
    /// A path reaches a disk with no encryption layer: the chain of devices, top first.
    NotEncrypted {
        /// E.g. "no dm-crypt layer in /dev/mapper/vg-root -> /dev/sda2 -> /dev/sda".
        detail: String,
    },
    /// The stack ends in RAM (zram), not storage.
    Memory,
    /// Part of the stack could not be read or judged from sysfs.
    Unknown {
        /// Why.
        reason: String,
    },
}

impl BlockNode {
    /// Whether the stack below this device is encrypted. A loop device is answered by
    /// `loop_file`, given the backing file (the file's own filesystem holds its data).
    pub fn encryption(
        &self,
        loop_file: &mut dyn FnMut(&str) -> StackEncryption,
    ) -> StackEncryption {
        self.encryption_from(&mut Vec::new(), loop_file)
    }

    fn encryption_from(
        &self,
        chain: &mut Vec<String>,
        loop_file: &mut dyn FnMut(&str) -> StackEncryption,
    ) -> StackEncryption {
        chain.push(self.dev_path());
        let result = match &self.kind {
            BlockKind::DeviceMapper { uuid, .. } => match dm_owner(uuid) {
                DmOwner::Encryption(kind) => StackEncryption::Encrypted {
                    method: format!("{} ({})", describe_crypt(&kind), self.dev_path()),
                },
                DmOwner::Unlabelled => StackEncryption::Unknown {
                    reason: format!(
                        "device-mapper device {} ({}) has no dm uuid, so whether it encrypts cannot be read from sysfs",
                        self.dev_path(),
                        self.name
                    ),
                },
                _ => combine(&self.lower, chain, loop_file),
            },
            BlockKind::Partition | BlockKind::Md { .. } | BlockKind::Stacked => {
                combine(&self.lower, chain, loop_file)
            }
            BlockKind::Loop {
                backing_file: Some(file),
            } => loop_file(file),
            BlockKind::Loop { backing_file: None } => StackEncryption::Unknown {
                reason: format!(
                    "loop device {} has no readable backing file ({}/loop/backing_file)",
                    self.dev_path(),
                    self.sys_path
                ),
            },
            BlockKind::Zram => StackEncryption::Memory,
            BlockKind::Disk { .. } => StackEncryption::NotEncrypted {
                detail: format!("no dm-crypt layer in {}", chain.join(" -> ")),
            },
            BlockKind::Unresolved { reason } => StackEncryption::Unknown {
                reason: reason.clone(),
            },
        };
        chain.pop();
        result
    }
}

fn describe_crypt(kind: &str) -> String {
    match kind {
        "PLAIN" => "dm-crypt plain".to_owned(),
        "BITLK" => "BitLocker via dm-crypt".to_owned(),
        "TCRYPT" => "TrueCrypt/VeraCrypt via dm-crypt".to_owned(),
        "FVAULT2" => "FileVault 2 via dm-crypt".to_owned(),
        "LOOPAES" => "loop-AES via dm-crypt".to_owned(),
        other => format!("dm-crypt {other}"),
    }
}

fn combine(
    lower: &[BlockNode],
    chain: &mut Vec<String>,
    loop_file: &mut dyn FnMut(&str) -> StackEncryption,
) -> StackEncryption {
    let results: Vec<StackEncryption> = lower
        .iter()
        .map(|l| l.encryption_from(chain, loop_file))
        .collect();
    if results.is_empty() {
        return StackEncryption::Unknown {
            reason: format!("{} has no lower device in sysfs", chain.join(" -> ")),
        };
    }
    if let Some(plain) = results
        .iter()
        .find(|r| matches!(r, StackEncryption::NotEncrypted { .. }))
    {
        return plain.clone();
    }
    if let Some(unknown) = results
        .iter()
        .find(|r| matches!(r, StackEncryption::Unknown { .. }))
    {
        return unknown.clone();
    }
    let mut methods: Vec<String> = Vec::new();
    for r in &results {
        if let StackEncryption::Encrypted { method } = r
            && !methods.contains(method)
        {
            methods.push(method.clone());
        }
    }
    if methods.is_empty() {
        StackEncryption::Memory
    } else {
        StackEncryption::Encrypted {
            method: methods.join(", "),
        }
    }
}

fn unresolved(name: &str, sys_path: &str, reason: String) -> BlockNode {
    BlockNode {
        name: name.to_owned(),
        sys_path: sys_path.to_owned(),
        device_number: None,
        kind: BlockKind::Unresolved { reason },
        lower: Vec::new(),
    }
}

fn walk_from_link(
    host: &dyn Host,
    link: &str,
    label: &str,
    depth: usize,
    seen: &mut Vec<String>,
) -> BlockNode {
    match canonicalize(host, link) {
        Ok(path) => walk(host, &path, depth, seen),
        Err(e) => unresolved(label, link, format!("could not follow {link}: {e}")),
    }
}

fn walk(host: &dyn Host, sys_path: &str, depth: usize, seen: &mut Vec<String>) -> BlockNode {
    let name = sys_path.rsplit('/').next().unwrap_or(sys_path).to_owned();
    if depth > MAX_DEPTH {
        return unresolved(
            &name,
            sys_path,
            format!("block stack deeper than {MAX_DEPTH} layers at {sys_path}"),
        );
    }
    if seen.iter().any(|s| s == sys_path) {
        return unresolved(&name, sys_path, format!("block stack loops at {sys_path}"));
    }
    seen.push(sys_path.to_owned());

    let dev_attr = format!("{sys_path}/dev");
    let device_number = match host.read_text(&dev_attr) {
        Ok(text) => crate::mountinfo::parse_device_number(&text),
        Err(ReadError::NotFound) => {
            return unresolved(
                &name,
                sys_path,
                format!("{sys_path} is not a block device in sysfs ({dev_attr} not found)"),
            );
        }
        Err(e) => {
            return unresolved(&name, sys_path, format!("could not read {dev_attr}: {e}"));
        }
    };
    let mut node = BlockNode {
        name: name.clone(),
        sys_path: sys_path.to_owned(),
        device_number,
        kind: BlockKind::Stacked,
        lower: Vec::new(),
    };

    if let Ok(uuid) = host.read_text(&format!("{sys_path}/dm/uuid")) {
        let dm_name = host
            .read_text(&format!("{sys_path}/dm/name"))
            .map(|n| n.trim().to_owned())
            .unwrap_or_default();
        node.kind = BlockKind::DeviceMapper {
            name: dm_name,
            uuid: uuid.trim().to_owned(),
        };
        node.lower = walk_slaves(host, sys_path, depth, seen, true);
        return node;
    }
    if name.starts_with("dm-") {
        return unresolved(
            &name,
            sys_path,
            format!(
                "could not read {sys_path}/dm/uuid, so the owner of this device-mapper device is unknown"
            ),
        );
    }
    if is_present(host, &format!("{sys_path}/partition")) {
        node.kind = BlockKind::Partition;
        let parent = match sys_path.rfind('/') {
            Some(i) if i > 0 => &sys_path[..i],
            _ => "/",
        };
        node.lower = vec![walk(host, parent, depth + 1, seen)];
        return node;
    }
    if host.list_dir(&format!("{sys_path}/md")).is_ok() {
        node.kind = BlockKind::Md {
            level: host
                .read_text(&format!("{sys_path}/md/level"))
                .ok()
                .map(|l| l.trim().to_owned()),
        };
        node.lower = walk_slaves(host, sys_path, depth, seen, true);
        return node;
    }
    if name.starts_with("loop") {
        node.kind = BlockKind::Loop {
            backing_file: host
                .read_text(&format!("{sys_path}/loop/backing_file"))
                .ok()
                .map(|f| f.trim_end_matches('\n').to_owned())
                .filter(|f| !f.is_empty()),
        };
        return node;
    }
    if name.starts_with("zram") {
        node.kind = BlockKind::Zram;
        return node;
    }
    let lower = walk_slaves(host, sys_path, depth, seen, false);
    if lower.is_empty() {
        node.kind = BlockKind::Disk {
            removable: host
                .read_text(&format!("{sys_path}/removable"))
                .ok()
                .map(|r| r.trim() == "1"),
            usb: runs_through_usb(sys_path),
            sd_card: name.starts_with("mmcblk")
                && host
                    .read_text(&format!("{sys_path}/device/type"))
                    .is_ok_and(|t| t.trim() == "SD"),
            external: external_location(host, sys_path),
        };
    } else {
        node.lower = lower;
    }
    node
}

/// Why a disk is attached from outside, from the devices above it in sysfs: the first ancestor
/// whose `removable` attribute says `removable` (the attribute of PCI and USB devices, set from
/// the firmware's description of the port: Thunderbolt/USB4 and ExpressCard slots, external USB
/// ports), a FireWire node (`fwN`) on the path, or an AHCI port the firmware declares eSATA
/// ([`esata_port`]). The disk's own `removable` (whether its medium can be taken out) is a
/// different attribute and is not read here.
fn external_location(host: &dyn Host, sys_path: &str) -> Option<String> {
    if let Some(fw) = sys_path.split('/').find(|c| {
        c.strip_prefix("fw")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }) {
        return Some(format!("on a FireWire bus ({fw})"));
    }
    if let Some(why) = esata_port(host, sys_path) {
        return Some(why);
    }
    let mut dir = sys_path;
    while let Some(i) = dir.rfind('/') {
        dir = &dir[..i];
        if dir.len() <= "/sys/devices".len() {
            break;
        }
        if host
            .read_text(&format!("{dir}/removable"))
            .is_ok_and(|v| v.trim() == "removable")
        {
            return Some(format!(
                "{dir}/removable is \"removable\" (below an external port)"
            ));
        }
    }
    None
}

/// AHCI's "External SATA Port" bit (PxCMD.ESP, bit 21): the port's signal connector is
/// externally accessible (AHCI 1.3.1, 3.3.7).
const AHCI_PORT_CMD_ESP: u32 = 1 << 21;
/// AHCI's "Supports External SATA" bit (CAP.SXS, bit 5): the HBA has eSATA ports (3.1.1).
const AHCI_HOST_CAP_SXS: u32 = 1 << 5;

/// Whether a disk sits on an eSATA port of an AHCI controller. An ATA disk's path runs through
/// its port and SCSI host (`.../ata3/host2/target2:0:0/...`); the AHCI driver shows that port's
/// PxCMD register and the HBA's CAP register, in hex, as `ahci_port_cmd` and `ahci_host_caps` of
/// the host (`.../host2/scsi_host/host2/`). ESP with SXS is the test libahci itself uses to flag
/// a port external. Hot-plug capable (HPCP) alone is not taken: firmware sets it on internal
/// hot-swap bays and on many laptops' internal disk ports.
///
/// Other SATA drivers show neither attribute, and firmware that routes an ordinary port to an
/// eSATA bracket without setting ESP leaves no trace: such disks look internal.
fn esata_port(host: &dyn Host, sys_path: &str) -> Option<String> {
    let parts: Vec<&str> = sys_path.split('/').collect();
    let at = parts.windows(2).position(|w| {
        let numbered = |s: &str, prefix: &str| {
            s.strip_prefix(prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        numbered(w[0], "ata") && numbered(w[1], "host")
    })?;
    let scsi_host = parts[at + 1];
    let dir = format!("{}/scsi_host/{scsi_host}", parts[..=at + 1].join("/"));
    let hex = |name: &str| {
        host.read_text(&format!("{dir}/{name}"))
            .ok()
            .and_then(|t| u32::from_str_radix(t.trim(), 16).ok())
    };
    let port_cmd = hex("ahci_port_cmd")?;
    let host_caps = hex("ahci_host_caps")?;
    (port_cmd & AHCI_PORT_CMD_ESP != 0 && host_caps & AHCI_HOST_CAP_SXS != 0).then(|| {
        format!(
            "{dir}/ahci_port_cmd is {port_cmd:x} (ESP: external SATA port) and ahci_host_caps is {host_caps:x} (SXS: eSATA supported): an eSATA port"
        )
    })
}

/// The devices in `slaves/`. When `required`, a missing or unreadable directory is reported as
/// an unresolved lower device rather than read as "nothing below".
fn walk_slaves(
    host: &dyn Host,
    sys_path: &str,
    depth: usize,
    seen: &mut Vec<String>,
    required: bool,
) -> Vec<BlockNode> {
    let dir = format!("{sys_path}/slaves");
    match host.list_dir(&dir) {
        Ok(names) if names.is_empty() && required => vec![unresolved(
            "?",
            &dir,
            format!("{dir} lists no lower device"),
        )],
        Ok(names) => names
            .iter()
            .map(|n| {
                let link = format!("{dir}/{n}");
                walk_from_link(host, &link, n, depth + 1, seen)
            })
            .collect(),
        Err(_) if !required => Vec::new(),
        Err(e) => vec![unresolved("?", &dir, format!("could not list {dir}: {e}"))],
    }
}

/// Whether a sysfs attribute file is there (`Host::exists` lists directories first, which for a
/// regular file answers "not found").
fn is_present(host: &dyn Host, path: &str) -> bool {
    host.read(path).is_ok()
}

/// Whether a sysfs device path runs through a USB bus: a component `usbN` (the root hub) as in
/// `/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host4/.../block/sda`.
#[must_use]
pub fn runs_through_usb(sys_path: &str) -> bool {
    sys_path.split('/').any(|c| {
        c.strip_prefix("usb")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The kernel name of the device-mapper device called `dm_name` (`/dev/mapper/NAME`), found by
/// reading `/sys/block/dm-*/dm/name`.
pub fn find_dm_by_name(host: &dyn Host, dm_name: &str) -> Result<Option<String>, ReadError> {
    for entry in host.list_dir("/sys/block")? {
        if !entry.starts_with("dm-") {
            continue;
        }
        if let Ok(name) = host.read_text(&format!("/sys/block/{entry}/dm/name"))
            && name.trim() == dm_name
        {
            return Ok(Some(entry));
        }
    }
    Ok(None)
}

/// The kernel name of the block device at a `/dev` path (`/dev/sda1`, `/dev/dm-0`,
/// `/dev/mapper/NAME`, `/dev/disk/by-uuid/...`), or why it could not be found.
pub fn kernel_name_of_dev_path(host: &dyn Host, dev_path: &str) -> Result<String, String> {
    // On a live system /dev/mapper/NAME and /dev/disk/by-*/ are links to ../dm-N or ../sda1.
    let path = canonicalize(host, dev_path).unwrap_or_else(|_| crate::normalize(dev_path));
    if let Some(dm_name) = path.strip_prefix("/dev/mapper/") {
        return match find_dm_by_name(host, dm_name) {
            Ok(Some(name)) => Ok(name),
            Ok(None) => Err(format!(
                "no device-mapper device named {dm_name} in /sys/block/dm-*/dm/name"
            )),
            Err(e) => Err(format!("could not list /sys/block: {e}")),
        };
    }
    let Some(name) = path.strip_prefix("/dev/").filter(|n| !n.contains('/')) else {
        return Err(format!(
            "{dev_path} is not a block device name under /dev (resolved to {path})"
        ));
    };
    match host.exists(&format!("/sys/class/block/{name}")) {
        Ok(true) => Ok(name.to_owned()),
        Ok(false) => Err(format!("no /sys/class/block/{name} for {dev_path}")),
        Err(e) => Err(format!("could not read /sys/class/block/{name}: {e}")),
    }
}

/// The block device behind a mount. Uses the device number when it is a real one; btrfs
/// reports an anonymous `0:NN` (and `/proc/mounts` none at all), so then the source path is
/// resolved instead. Fails with the reason when neither leads to a block device.
pub fn mount_device(host: &dyn Host, mount: &crate::mountinfo::Mount) -> Result<BlockNode, String> {
    let by_number = mount
        .device
        .filter(|(major, _)| *major != 0 && mount.fs_type != "btrfs");
    let node = if let Some((major, minor)) = by_number {
        BlockNode::from_device_number(host, major, minor)
    } else if mount.source.starts_with("/dev/") && mount.source != "/dev/root" {
        BlockNode::from_kernel_name(host, &kernel_name_of_dev_path(host, &mount.source)?)
    } else {
        return Err(format!(
            "{} ({}) reports no block device: device {} and source {}",
            mount.mount_point,
            mount.fs_type,
            mount
                .device
                .map_or_else(|| "not given".to_owned(), |(a, b)| format!("{a}:{b}")),
            mount.source
        ));
    };
    match &node.kind {
        BlockKind::Unresolved { reason } => Err(reason.clone()),
        _ => Ok(node),
    }
}

/// The members of the btrfs filesystem that has `member` (a kernel name) among its devices,
/// from `/sys/fs/btrfs/<FSID>/devices/`. `Ok(None)` when no filesystem lists it.
pub fn btrfs_members(
    host: &dyn Host,
    member: &str,
) -> Result<Option<(String, Vec<String>)>, ReadError> {
    for fsid in host.list_dir("/sys/fs/btrfs")? {
        let dir = format!("/sys/fs/btrfs/{fsid}/devices");
        if let Ok(names) = host.list_dir(&dir)
            && names.iter().any(|n| n == member)
        {
            return Ok(Some((dir, names)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usb_is_recognised_by_the_root_hub_component_only() {
        assert!(runs_through_usb(
            "/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host4/target4:0:0/4:0:0:0/block/sda"
        ));
        assert!(!runs_through_usb(
            "/sys/devices/pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1"
        ));
        assert!(!runs_through_usb("/sys/devices/virtual/block/usbdisk"));
    }

    #[test]
    fn dm_uuid_prefixes_name_their_owner() {
        assert_eq!(
            dm_owner("CRYPT-LUKS2-2a2c7241509d4e789ff2b7c3faa639f6-dm_crypt-0"),
            DmOwner::Encryption("LUKS2".into())
        );
        assert_eq!(
            dm_owner("CRYPT-PLAIN-cryptswap"),
            DmOwner::Encryption("PLAIN".into())
        );
        assert_eq!(
            dm_owner("CRYPT-VERITY-abc-root"),
            DmOwner::CryptNonEncrypting("VERITY".into())
        );
        assert_eq!(dm_owner("LVM-Xo5tB1yq"), DmOwner::Lvm);
        assert_eq!(dm_owner("mpath-3600508b"), DmOwner::Other("mpath".into()));
        assert_eq!(dm_owner(" \n"), DmOwner::Unlabelled);
    }

    proptest::proptest! {
        #[test]
        fn dm_owner_never_panics(uuid in "\\PC*") {
            let _ = dm_owner(&uuid);
            let _ = runs_through_usb(&uuid);
        }
    }
}
