//! Removable media on macOS.
//!
//! Control: the `mount-controls` of the Media Management payload (`com.apple.systemuiserver`),
//! whose effective value a configuration profile writes to `/Library/Managed Preferences`, for
//! the device and for the console user; `harddisk-external` covers USB drives and SD cards.
//! A Disk Management declaration (macOS 15+, declarative device management) is not visible to
//! local tools, so without a legacy profile the conclusion is "no restriction found".
//!
//! Mounted volumes: every `/dev/disk*` mount outside the startup volume group, asked about with
//! `diskutil info -plist`; internal disks and disk images are left out.

use posture_host::Host;
use posture_host::plist::{self, PlistValue};
use posture_schema::{Evidence, Setting};

use super::{RemovableFacts, RemovableVolume, StorageControl};
use crate::catalog::{self, Console, DiskDevice};
use crate::enforcement::{self, macos::Profiles};
use crate::evidence;

/// One line of `mount` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// `/dev/disk4s1`, `devfs`, `//user@server/share`.
    pub(crate) device: String,
    /// Where it is mounted (may contain spaces and parentheses).
    pub(crate) mount_point: String,
    /// File system type, the first word in the parentheses.
    pub(crate) fs_type: String,
    /// The other words in the parentheses (`local`, `read-only`, `nodev`, ...).
    pub(crate) flags: Vec<String>,
}

/// Parses `mount` output: `DEVICE on MOUNTPOINT (TYPE, FLAG, ...)`. The mount point may hold
/// spaces and parentheses, so each line is split at the first ` on ` and the last ` (`.
/// `None` if any non-empty line has another shape.
pub(crate) fn parse_mount(text: &str) -> Option<Vec<Mount>> {
    let mut mounts = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (device, rest) = line.split_once(" on ")?;
        let (mount_point, options) = rest.rsplit_once(" (")?;
        let options = options.trim_end().strip_suffix(')')?;
        let mut words = options.split(',').map(str::trim);
        let fs_type = words.next().filter(|t| !t.is_empty())?;
        mounts.push(Mount {
            device: device.to_owned(),
            mount_point: mount_point.to_owned(),
            fs_type: fs_type.to_owned(),
            flags: words.map(str::to_owned).collect(),
        });
    }
    Some(mounts)
}

/// What the `harddisk-external` mount controls amount to.
pub(crate) fn control_from_actions(actions: &[String], source: &str) -> StorageControl {
    let has = |a: &str| actions.iter().any(|x| x == a);
    if let Some(unknown) = actions.iter().find(|a| {
        !matches!(
            a.as_str(),
            "deny" | "eject" | "read-only" | "authenticate" | "alert"
        )
    }) {
        return StorageControl::Unknown {
            reason: format!(
                "{source}: unrecognised mount-controls action {unknown:?} for harddisk-external"
            ),
        };
    }
    if has("deny") || has("eject") {
        StorageControl::Blocked {
            how: format!(
                "mount-controls harddisk-external [{}] in {source}",
                actions.join(", ")
            ),
        }
    } else if has("read-only") {
        StorageControl::ReadOnly {
            how: format!("mount-controls harddisk-external [read-only] in {source}"),
        }
    } else {
        StorageControl::Allowed {
            why: format!(
                "mount-controls harddisk-external [{}] in {source} does not stop writing",
                actions.join(", ")
            ),
        }
    }
}

pub(super) fn gather(host: &dyn Host) -> RemovableFacts {
    let mut ev = Vec::new();
    let mut control_settings = Vec::new();
    let control = read_control(host, &mut ev, &mut control_settings);
    let (mounted, mounts_unknown) = match mounted_external(host, &mut ev) {
        Ok(v) => (v, None),
        Err(reason) => (Vec::new(), Some(reason)),
    };
    RemovableFacts {
        control,
        mounted,
        mounts_unknown,
        control_settings,
        evidence: ev,
    }
}

fn read_control(
    host: &dyn Host,
    ev: &mut Vec<Evidence>,
    settings: &mut Vec<Setting>,
) -> StorageControl {
    let profiles = Profiles::new(host);
    let console = match catalog::macos_console(host, ev) {
        Ok(Console::User(u)) => Some(u),
        Ok(Console::LoginWindow(_)) => None,
        Err(reason) => return StorageControl::Unknown { reason },
    };
    let mut actions: Vec<String> = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    for scope in [None, console.as_ref()] {
        let path = catalog::macos_managed_preferences("com.apple.systemuiserver", scope);
        let subject = scope.map_or("device", |u| u.name());
        match catalog::read_managed_preferences(host, &path, ev, subject) {
            Ok(Some(p)) => {
                let Some(controls) = p.get("mount-controls") else {
                    ev.push(evidence::file(&path, Some("mount-controls"), "absent"));
                    continue;
                };
                let Some(list) = controls.get("harddisk-external") else {
                    ev.push(evidence::file(
                        &path,
                        Some("mount-controls/harddisk-external"),
                        "absent",
                    ));
                    continue;
                };
                let Some(items) = list.as_array() else {
                    let reason =
                        format!("{path}: mount-controls harddisk-external is not an array");
                    ev.push(evidence::file(
                        &path,
                        Some("mount-controls/harddisk-external"),
                        reason.clone(),
                    ));
                    return StorageControl::Unknown { reason };
                };
                let words: Vec<String> = items.iter().map(PlistValue::describe).collect();
                ev.push(evidence::file(
                    &path,
                    Some("mount-controls/harddisk-external"),
                    format!("[{}]", words.join(", ")),
                ));
                let (by, note) =
                    profiles.enforcer(&path, &p, "com.apple.systemuiserver", "mount-controls", ev);
                let mut setting = enforcement::enforced(
                    "mount-controls harddisk-external",
                    format!("[{}]", words.join(", ")),
                    path.clone(),
                    vec![by],
                );
                setting.notes.extend(note);
                settings.push(setting);
                actions.extend(words);
                sources.push(path);
            }
            Ok(None) => {}
            Err(reason) => return StorageControl::Unknown { reason },
        }
    }
    if sources.is_empty() {
        settings.push(enforcement::user_set(
            "mount-controls harddisk-external",
            "not set",
            catalog::MACOS_MANAGED_PREFERENCES,
        ));
        return StorageControl::Allowed {
            why: "no configuration profile sets mount-controls for external disks (com.apple.systemuiserver); a Disk Management declaration, if any, is not visible on the Mac".to_owned(),
        };
    }
    control_from_actions(&actions, &sources.join(" and "))
}

/// Where `diskutil info -plist` places a disk or volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// A mounted disk image (`BusProtocol` "Disk Image"): not a device at all.
    DiskImage,
    /// Removable media in a built-in reader: `Internal` true but `Removable` /
    /// `RemovableMedia` true (an SD card in a Mac's SDXC slot). Apple's Media Management
    /// payload counts these as external disks; so does posture.
    InternalReader,
    /// An external device (`Internal` false or `RemovableMediaOrExternalDevice` true), or one
    /// that does not say it is internal.
    External,
    /// A fixed internal disk.
    Internal,
}

/// Places a disk or volume from its `diskutil info -plist` keys. Removable media count as
/// removable before `Internal` is looked at; a disk that does not say it is internal is taken
/// as external, so its volumes are judged as removable media rather than ignored.
pub(crate) fn placement(info: &PlistValue) -> Placement {
    let flag = |k: &str| info.get(k).and_then(PlistValue::as_bool);
    let bus = info
        .get("BusProtocol")
        .and_then(PlistValue::as_str)
        .unwrap_or("");
    if bus == "Disk Image" {
        Placement::DiskImage
    } else if flag("RemovableMedia") == Some(true) || flag("Removable") == Some(true) {
        if flag("Internal") == Some(true) {
            Placement::InternalReader
        } else {
            Placement::External
        }
    } else if flag("Internal") == Some(true) && flag("RemovableMediaOrExternalDevice") != Some(true)
    {
        Placement::Internal
    } else {
        Placement::External
    }
}

/// File systems that are never removable block devices.
const NOT_LOCAL: &[&str] = &[
    "devfs", "autofs", "nfs", "smbfs", "afpfs", "webdav", "cd9660", "lifs",
];

fn mounted_external(
    host: &dyn Host,
    ev: &mut Vec<Evidence>,
) -> Result<Vec<RemovableVolume>, String> {
    let spec = catalog::macos_mounts();
    let out = evidence::run_ok(host, &spec, ev)?;
    let Some(mounts) = parse_mount(&out.stdout) else {
        let why = evidence::unrecognised(&spec, &out.stdout, ev, None);
        return Err(why);
    };
    let candidates: Vec<&Mount> = mounts
        .iter()
        .filter(|m| m.device.starts_with("/dev/disk"))
        .filter(|m| m.mount_point != "/" && !m.mount_point.starts_with("/System/Volumes/"))
        .filter(|m| !NOT_LOCAL.contains(&m.fs_type.as_str()))
        .collect();
    ev.push(evidence::command(
        &spec,
        None,
        if candidates.is_empty() {
            "no disk mounted outside the startup volume group".to_owned()
        } else {
            format!(
                "disks mounted outside the startup volume group: {}",
                candidates
                    .iter()
                    .map(|m| format!("{} on {}", m.device, m.mount_point))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    ));
    let mut volumes = Vec::new();
    for m in candidates {
        let read_only_mount = m.flags.iter().any(|f| f == "read-only" || f == "rdonly");
        let Some(device) = DiskDevice::new(&m.device) else {
            volumes.push(RemovableVolume {
                mount: m.mount_point.clone(),
                device: m.device.clone(),
                writable: !read_only_mount,
                encrypted: None,
            });
            continue;
        };
        let spec = catalog::macos_volume_info(&device);
        let info = evidence::run_ok(host, &spec, ev).and_then(|out| {
            plist::parse_xml(&out.stdout).map_err(|e| {
                let why = format!("{}: {e}", evidence::command_name(&spec));
                ev.push(evidence::command(&spec, None, why.clone()));
                why
            })
        });
        let Ok(info) = info else {
            volumes.push(RemovableVolume {
                mount: m.mount_point.clone(),
                device: m.device.clone(),
                writable: !read_only_mount,
                encrypted: None,
            });
            continue;
        };
        let flag = |k: &str| info.get(k).and_then(PlistValue::as_bool);
        let text = |k: &str| info.get(k).and_then(PlistValue::as_str).unwrap_or("");
        let bus = text("BusProtocol");
        let place = placement(&info);
        if matches!(place, Placement::DiskImage | Placement::Internal) {
            ev.push(evidence::command(
                &spec,
                None,
                format!(
                    "{} is {}: not removable media",
                    m.device,
                    if place == Placement::DiskImage {
                        "a disk image"
                    } else {
                        "on an internal, non-removable disk"
                    }
                ),
            ));
            continue;
        }
        let fs = text("FilesystemType").to_owned();
        let encrypted = match fs.as_str() {
            "apfs" => match (flag("Encryption"), flag("FileVault")) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), _) => Some(false),
                _ => None,
            },
            // These file systems have no encryption of their own.
            "msdos" | "exfat" | "ntfs" | "ufsd_NTFS" => Some(false),
            _ => None,
        };
        let writable = !read_only_mount && flag("WritableVolume") != Some(false);
        ev.push(evidence::command(
            &spec,
            None,
            format!(
                "{}: bus {}, Internal {}, RemovableMedia {}, file system {}, Encryption {}, FileVault {}, WritableVolume {}",
                m.device,
                if bus.is_empty() { "unknown" } else { bus },
                evidence::shown(flag("Internal")),
                evidence::shown(flag("RemovableMedia").or(flag("Removable"))),
                if fs.is_empty() { "unknown" } else { fs.as_str() },
                evidence::shown(flag("Encryption")),
                evidence::shown(flag("FileVault")),
                evidence::shown(flag("WritableVolume")),
            ),
        ));
        volumes.push(RemovableVolume {
            mount: m.mount_point.clone(),
            device: format!(
                "{} ({}{}{})",
                m.device,
                if bus.is_empty() { "external" } else { bus },
                if place == Placement::InternalReader {
                    ", removable media in a built-in reader"
                } else {
                    ""
                },
                if fs.is_empty() {
                    String::new()
                } else {
                    format!(", {fs}")
                }
            ),
            writable,
            encrypted,
        });
    }
    Ok(volumes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MOUNT: &str = "/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)\n\
devfs on /dev (devfs, local, nobrowse)\n\
/dev/disk3s5 on /System/Volumes/Data (apfs, local, journaled, nobrowse, protect, root data)\n\
map auto_home on /System/Volumes/Data/home (autofs, automounted, nobrowse)\n\
/dev/disk4s1 on /Volumes/My Stick (2) (msdos, local, nodev, nosuid, noowners)\n";

    #[test]
    fn mount_points_with_spaces_and_parentheses_are_kept_whole() {
        let mounts = parse_mount(MOUNT).unwrap();
        assert_eq!(mounts.len(), 5);
        assert_eq!(mounts[4].mount_point, "/Volumes/My Stick (2)");
        assert_eq!(mounts[4].fs_type, "msdos");
        assert!(mounts[0].flags.contains(&"read-only".to_owned()));
    }

    #[test]
    fn deny_and_eject_block_read_only_restricts_and_unknown_actions_are_unknown() {
        let c = |a: &[&str]| {
            control_from_actions(&a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(), "p")
        };
        assert!(matches!(c(&["deny"]), StorageControl::Blocked { .. }));
        assert!(matches!(
            c(&["alert", "eject"]),
            StorageControl::Blocked { .. }
        ));
        assert!(matches!(c(&["read-only"]), StorageControl::ReadOnly { .. }));
        assert!(matches!(
            c(&["authenticate"]),
            StorageControl::Allowed { .. }
        ));
        assert!(matches!(c(&["lock-it"]), StorageControl::Unknown { .. }));
    }

    proptest! {
        #[test]
        fn mount_parser_never_panics(text in "\\PC{0,300}") {
            let _ = parse_mount(&text);
        }

        #[test]
        fn mount_like_lines_never_panic(dev in "[/a-z0-9]{0,12}", mp in "[ /()a-zA-Z]{0,20}", opts in "[a-z, ()-]{0,30}") {
            let _ = parse_mount(&format!("{dev} on {mp} ({opts})\n"));
        }
    }
}
