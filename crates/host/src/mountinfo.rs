//! Parsers for the kernel's mount and swap tables: `/proc/<pid>/mountinfo`, `/proc/mounts` and
//! `/proc/swaps`.
//!
//! The kernel escapes space, tab, newline and backslash in paths as three-digit octal
//! (`\040`, `\011`, `\012`, `\134`); these parsers undo that. They never fail: a line that does
//! not have the expected shape is counted as malformed and skipped, so one odd line cannot hide
//! the rest of the table.

/// One mounted filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The device number (`MAJ:MIN`) the kernel reports; `None` when the table does not carry it
    /// (`/proc/mounts`). btrfs and ZFS report an anonymous `0:NN` here, not their block device.
    pub device: Option<(u32, u32)>,
    /// The directory of the filesystem that is mounted (`/` unless a bind or subvolume mount).
    pub root: String,
    /// Where it is mounted, unescaped.
    pub mount_point: String,
    /// Per-mount options (`rw`, `nosuid`, `relatime`...).
    pub options: Vec<String>,
    /// Filesystem type (`ext4`, `btrfs`, `fuse.sshfs`...).
    pub fs_type: String,
    /// Mount source, unescaped: usually a device path, a dataset name for ZFS, or a free word
    /// for virtual filesystems.
    pub source: String,
    /// Filesystem (super block) options.
    pub super_options: Vec<String>,
}

impl Mount {
    /// Whether the mount can be written: the mount and its filesystem are both `rw`.
    #[must_use]
    pub fn is_writable(&self) -> bool {
        let has = |opts: &[String], word: &str| opts.iter().any(|o| o == word);
        has(&self.options, "rw") && !has(&self.super_options, "ro")
    }
}

/// A parsed mount table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountTable {
    /// The mounts, in table order (parents before children).
    pub mounts: Vec<Mount>,
    /// How many non-empty lines did not have the expected shape and were skipped.
    pub malformed_lines: usize,
}

/// Parses `/proc/<pid>/mountinfo`:
/// `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`.
#[must_use]
pub fn parse_mountinfo(text: &str) -> MountTable {
    let mut table = MountTable::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match parse_mountinfo_line(line) {
            Some(m) => table.mounts.push(m),
            None => table.malformed_lines += 1,
        }
    }
    table
}

fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    // The optional fields end at a lone "-"; it cannot appear before field 7.
    let sep = fields.iter().position(|f| *f == "-")?;
    if sep < 6 || fields.len() < sep + 3 {
        return None;
    }
    let device = parse_device_number(fields[2])?;
    Some(Mount {
        device: Some(device),
        root: unescape_octal(fields[3]),
        mount_point: unescape_octal(fields[4]),
        options: split_options(fields[5]),
        fs_type: unescape_octal(fields[sep + 1]),
        source: unescape_octal(fields[sep + 2]),
        super_options: fields
            .get(sep + 3)
            .map(|o| split_options(o))
            .unwrap_or_default(),
    })
}

/// Parses `/proc/mounts` (`SOURCE MOUNTPOINT FSTYPE OPTIONS 0 0`), which has no device numbers
/// and mixes per-mount and filesystem options in one field.
#[must_use]
pub fn parse_mounts(text: &str) -> MountTable {
    let mut table = MountTable::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.len() < 4 {
            table.malformed_lines += 1;
            continue;
        }
        let options = split_options(fields[3]);
        table.mounts.push(Mount {
            device: None,
            root: "/".to_owned(),
            mount_point: unescape_octal(fields[1]),
            options: options.clone(),
            fs_type: unescape_octal(fields[2]),
            source: unescape_octal(fields[0]),
            super_options: options,
        });
    }
    table
}

fn split_options(field: &str) -> Vec<String> {
    field
        .split(',')
        .filter(|o| !o.is_empty())
        .map(unescape_octal)
        .collect()
}

/// Parses `MAJ:MIN`.
#[must_use]
pub fn parse_device_number(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Undoes the kernel's octal escapes (`\040` is a space). A backslash not followed by three
/// octal digits is kept as it is; bytes that are not UTF-8 are replaced.
#[must_use]
pub fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(value) = bytes.get(i + 1..i + 4).and_then(octal_byte)
        {
            out.push(value);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn octal_byte(digits: &[u8]) -> Option<u8> {
    let mut value: u32 = 0;
    for d in digits {
        if !(b'0'..=b'7').contains(d) {
            return None;
        }
        value = value * 8 + u32::from(d - b'0');
    }
    u8::try_from(value).ok()
}

/// What kind of storage a filesystem type is, as far as its name tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsClass {
    /// Kernel or memory filesystems with no storage behind them (proc, tmpfs, cgroup2...).
    Virtual,
    /// Network and host-shared filesystems (nfs, cifs, sshfs, 9p, virtiofs...).
    Network,
    /// Read-only images: live and snap images, optical media (squashfs, erofs, iso9660).
    ReadOnlyImage,
    /// A union over other mounts (overlay): its layers are mounts of their own.
    Overlay,
    /// File-level encryption stacked on another filesystem (ecryptfs, gocryptfs...): it
    /// encrypts some files, not the disk.
    FileLevelEncryption,
    /// ZFS: the source is a dataset, not a device.
    Zfs,
    /// Anything else: a filesystem that may hold data on a block device (ext4, xfs, btrfs, vfat,
    /// fuseblk...). Unknown types land here so that nothing is skipped by accident.
    Storage,
}

/// Classifies a filesystem type by name.
#[must_use]
pub fn fs_class(fs_type: &str) -> FsClass {
    match fs_type {
        "proc" | "sysfs" | "tmpfs" | "devtmpfs" | "devpts" | "cgroup" | "cgroup2" | "mqueue"
        | "debugfs" | "tracefs" | "securityfs" | "pstore" | "bpf" | "configfs" | "fusectl"
        | "hugetlbfs" | "autofs" | "binfmt_misc" | "efivarfs" | "rpc_pipefs" | "nsfs" | "ramfs"
        | "selinuxfs" | "nfsd" | "fuse.portal" | "fuse.gvfsd-fuse" | "fuse.lxcfs"
        | "fuse.snapfuse" | "zonefs" => FsClass::Virtual,
        "nfs" | "nfs4" | "cifs" | "smb3" | "smbfs" | "9p" | "virtiofs" | "ceph" | "glusterfs"
        | "fuse.sshfs" | "davfs" | "fuse.davfs" | "afs" | "fuse.rclone" | "lustre" | "ocfs2"
        | "gfs2" => FsClass::Network,
        "squashfs" | "erofs" | "iso9660" | "cramfs" => FsClass::ReadOnlyImage,
        "overlay" | "aufs" | "fuse.fuse-overlayfs" => FsClass::Overlay,
        "ecryptfs" | "fuse.gocryptfs" | "fuse.cryfs" | "fuse.encfs" | "fuse.securefs" => {
            FsClass::FileLevelEncryption
        }
        "zfs" => FsClass::Zfs,
        _ => FsClass::Storage,
    }
}

/// The mount tables tried, best first: init's namespace (the agent's own may be private under
/// systemd `PrivateMounts=` or a container), then the agent's, then the old format.
pub const MOUNT_TABLE_PATHS: [&str; 3] =
    ["/proc/1/mountinfo", "/proc/self/mountinfo", "/proc/mounts"];

/// A mount table read from a host, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountTableRead {
    /// The file that gave the table.
    pub path: String,
    /// What it says.
    pub table: MountTable,
    /// Tables tried before it, and why they were not used.
    pub skipped: Vec<(String, String)>,
}

/// Reads the first usable table of [`MOUNT_TABLE_PATHS`]. Fails with every path and why it was
/// not used when none gives a mount.
pub fn read_mount_table(host: &dyn crate::Host) -> Result<MountTableRead, Vec<(String, String)>> {
    let mut skipped = Vec::new();
    for path in MOUNT_TABLE_PATHS {
        match host.read_text(path) {
            Ok(text) => {
                let table = if path.ends_with("mountinfo") {
                    parse_mountinfo(&text)
                } else {
                    parse_mounts(&text)
                };
                if table.mounts.is_empty() {
                    skipped.push((path.to_owned(), "no mount in it".to_owned()));
                    continue;
                }
                return Ok(MountTableRead {
                    path: path.to_owned(),
                    table,
                    skipped,
                });
            }
            Err(e) => skipped.push((path.to_owned(), e.to_string())),
        }
    }
    Err(skipped)
}

/// One active swap area from `/proc/swaps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapArea {
    /// Path of the device or file, unescaped, without a ` (deleted)` suffix.
    pub path: String,
    /// `partition` or `file` as the kernel says.
    pub kind: String,
    /// Size in KiB, when the field is a number.
    pub size_kib: Option<u64>,
    /// Whether the kernel marks the swap file as deleted.
    pub deleted: bool,
}

/// A parsed `/proc/swaps`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwapTable {
    /// The active swap areas.
    pub areas: Vec<SwapArea>,
    /// How many non-empty lines (other than the header) were skipped as malformed.
    pub malformed_lines: usize,
}

/// Parses `/proc/swaps`: a header line, then `FILENAME TYPE SIZE USED PRIORITY` per area.
#[must_use]
pub fn parse_swaps(text: &str) -> SwapTable {
    let mut table = SwapTable::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.first() == Some(&"Filename") {
            continue;
        }
        if fields.len() < 2 {
            table.malformed_lines += 1;
            continue;
        }
        let mut path = unescape_octal(fields[0]);
        let deleted = path.ends_with(" (deleted)");
        if deleted {
            path.truncate(path.len() - " (deleted)".len());
        }
        table.areas.push(SwapArea {
            path,
            kind: fields[1].to_owned(),
            size_kib: fields.get(2).and_then(|s| s.parse().ok()),
            deleted,
        });
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UBUNTU: &str = "\
29 1 253:1 / / rw,relatime shared:1 - ext4 /dev/mapper/ubuntu--vg-ubuntu--lv rw,errors=remount-ro
31 29 259:2 / /boot rw,relatime shared:13 - ext4 /dev/nvme0n1p2 rw
62 1 0:33 /home /home rw,relatime shared:55 - btrfs /dev/mapper/luks-4c1e rw,subvol=/home
112 29 8:1 / /media/alice/MY\\040STICK rw,nosuid,nodev,relatime shared:60 - vfat /dev/sda1 rw,uid=1000
88 29 7:3 / /snap/core22/1380 ro,nodev,relatime - squashfs /dev/loop3 ro,errors=continue
";

    #[test]
    fn mountinfo_fields_are_read_with_optional_fields_skipped() {
        let t = parse_mountinfo(UBUNTU);
        assert_eq!(t.malformed_lines, 0);
        assert_eq!(t.mounts.len(), 5);
        let root = &t.mounts[0];
        assert_eq!(root.device, Some((253, 1)));
        assert_eq!(root.mount_point, "/");
        assert_eq!(root.fs_type, "ext4");
        assert_eq!(root.source, "/dev/mapper/ubuntu--vg-ubuntu--lv");
        assert!(root.is_writable());
        assert_eq!(t.mounts[2].root, "/home");
        assert!(!t.mounts[4].is_writable());
    }

    #[test]
    fn octal_escapes_in_mount_points_are_undone() {
        let t = parse_mountinfo(UBUNTU);
        assert_eq!(t.mounts[3].mount_point, "/media/alice/MY STICK");
        assert_eq!(unescape_octal(r"a\134b\011c\012"), "a\\b\tc\n");
        assert_eq!(unescape_octal(r"keep\09x\"), r"keep\09x\");
    }

    #[test]
    fn a_line_without_the_separator_is_counted_not_trusted() {
        let t = parse_mountinfo(
            "29 1 253:1 / / rw ext4 /dev/vda rw\n\n27 1 254:0 / / rw - ext4 /dev/vda rw\n",
        );
        assert_eq!(t.malformed_lines, 1);
        assert_eq!(t.mounts.len(), 1);
    }

    #[test]
    fn proc_mounts_has_no_device_numbers() {
        let t = parse_mounts("/dev/vda / ext4 rw,relatime 0 0\nproc /proc proc rw 0 0\n");
        assert_eq!(t.mounts.len(), 2);
        assert_eq!(t.mounts[0].device, None);
        assert!(t.mounts[0].is_writable());
    }

    #[test]
    fn swaps_are_read_with_deleted_files_marked() {
        let t = parse_swaps(
            "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
             /swap.img                               file            4194300         0               -2\n\
             /dev/dm-2 partition 8388604 0 -3\n\
             /old\\040swap\\040(deleted) file 1024 0 -4\n",
        );
        assert_eq!(t.areas.len(), 3);
        assert_eq!(t.areas[0].path, "/swap.img");
        assert_eq!(t.areas[0].kind, "file");
        assert_eq!(t.areas[1].size_kib, Some(8_388_604));
        assert_eq!(t.areas[2].path, "/old swap");
        assert!(t.areas[2].deleted);
    }

    proptest! {
        #[test]
        fn mount_parsers_never_panic(text in "\\PC*") {
            let _ = parse_mountinfo(&text);
            let _ = parse_mounts(&text);
            let _ = parse_swaps(&text);
            let _ = unescape_octal(&text);
        }

        #[test]
        fn mountinfo_parser_never_panics_on_mountinfo_like_lines(
            line in "[0-9]{1,3} [0-9]{1,3} [0-9:]{1,6} [/a-z\\\\0-7]{0,8} [/a-z\\\\0-7]{0,8} [a-z,]{0,8}( [a-z:0-9]{1,5}){0,2}( -)?( [a-z]{0,5}){0,3}"
        ) {
            let _ = parse_mountinfo(&line);
        }
    }
}
