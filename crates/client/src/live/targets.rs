//! What to watch, decided from what the last check read: the same pure decision on every
//! platform, tested on Linux with reads recorded on Linux, macOS and Windows.
//!
//! A [`crate::live::ChangeWatcher`] turns each [`Target`] into its platform's notification:
//!
//! | target | Linux (built) | macOS (designed) | Windows (designed) |
//! |---|---|---|---|
//! | [`Target::Path`], [`Target::Listing`], [`Target::Entry`] | inotify | FSEvents on the directory | `ReadDirectoryChangesW` on the directory |
//! | [`Target::Volumes`] | `POLLPRI` on the mount table | DiskArbitration (disk appeared, disappeared, description changed) | volume arrival and removal (`CM_Register_Notification`, `GUID_DEVINTERFACE_VOLUME`) |
//! | [`Target::Devices`] | kernel uevents (`NETLINK_KOBJECT_UEVENT`) | DiskArbitration | disk arrival and removal (`GUID_DEVINTERFACE_DISK`) |
//! | [`Target::RegistryKey`] | never asked | never asked | `RegNotifyChangeKeyValue` |
//! | [`Target::Schedule`] | the schedule | the schedule | the schedule |
//!
//! A source that has no change notification (a command whose answer comes from a daemon, such
//! as `fdesetup status` or the BitLocker WMI provider) is a [`Target::Schedule`] with the
//! reason: it is judged again at the next scheduled check, never guessed.

use std::collections::BTreeSet;

use super::ReadSet;

/// One thing to watch, in the Host's terms.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// Any change to this file or link (a Host path, absolute).
    Path(String),
    /// Names appearing in, going from or renamed in this directory (one the check listed).
    Listing(String),
    /// The name `name` appearing in, going from, or being renamed in the directory `dir` (so a
    /// file that is created or replaced by a rename is seen).
    Entry {
        /// The directory (a Host path).
        dir: String,
        /// The name in it.
        name: String,
    },
    /// The set of mounted volumes.
    Volumes,
    /// Storage devices arriving or leaving (hot-plug).
    Devices,
    /// A registry key's values (and its subkeys when `subtree`), e.g.
    /// `HKLM\SYSTEM\CurrentControlSet\Services\USBSTOR`.
    RegistryKey {
        /// The key as `reg.exe` names it.
        key: String,
        /// Whether changes below the key count too.
        subtree: bool,
    },
    /// Not watchable: follows the schedule, for this reason.
    Schedule(String),
}

/// The mount tables a Linux check reads (`posture_host::mountinfo::MOUNT_TABLE_PATHS`).
const MOUNT_TABLES: [&str; 3] = ["/proc/1/mountinfo", "/proc/self/mountinfo", "/proc/mounts"];
/// The sysfs directories that list block devices.
const BLOCK_DIRS: [&str; 3] = ["/sys/block", "/sys/class/block", "/sys/dev/block"];

/// Windows power schemes as `powercfg` reads them (see the platform notes: each setting's
/// `ACSettingIndex`/`DCSettingIndex` and the `ActivePowerScheme` value live under this key).
const POWER_SCHEMES: &str = r"HKLM\SYSTEM\CurrentControlSet\Control\Power\User\PowerSchemes";

/// The targets for what one check read, sorted and without duplicates.
#[must_use]
pub fn plan(reads: &ReadSet) -> Vec<Target> {
    let mut out = BTreeSet::new();
    let files = reads.files.iter().map(|f| (f, true));
    let dirs = reads.dirs.iter().map(|d| (d, false));
    for (path, is_file) in files.chain(dirs) {
        let host = normalize(path);
        if MOUNT_TABLES.contains(&host.as_str()) {
            out.insert(Target::Volumes);
        }
        if BLOCK_DIRS
            .iter()
            .any(|d| host == *d || host.starts_with(&format!("{d}/")))
        {
            out.insert(Target::Devices);
        }
        if let Some((dir, name)) = host.rsplit_once('/')
            && !name.is_empty()
        {
            out.insert(Target::Entry {
                dir: if dir.is_empty() { "/" } else { dir }.to_owned(),
                name: name.to_owned(),
            });
        }
        out.insert(if is_file {
            Target::Path(host)
        } else {
            Target::Listing(host)
        });
    }
    for argv in &reads.commands {
        out.extend(command_targets(argv));
    }
    out.into_iter().collect()
}

/// What a catalog command's answer depends on.
#[must_use]
pub fn command_targets(argv: &[String]) -> Vec<Target> {
    // A per-user macOS command runs as `launchctl asuser UID sudo -u USER COMMAND...`.
    let argv = match argv.iter().position(|a| a == "-u") {
        Some(i) if argv.first().is_some_and(|p| p.ends_with("/launchctl")) => &argv[i + 2..],
        _ => argv,
    };
    let Some(program) = argv.first() else {
        return Vec::new();
    };
    let base = program
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(program)
        .to_ascii_lowercase();
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    let schedule = |why: &str| vec![Target::Schedule(format!("{base}: {why}"))];
    match base.as_str() {
        // macOS: the mount table and the disks.
        "mount" | "diskutil" => vec![Target::Volumes, Target::Devices],
        // Windows: registry queries.
        "reg.exe" if args.first() == Some(&"query") => match args.get(1) {
            // The loaded hives: a user signing in loads one, which is not a value change.
            Some(key) if key.eq_ignore_ascii_case("HKU") => {
                schedule("a hive loaded at sign-in is not a key change")
            }
            Some(key) => vec![Target::RegistryKey {
                key: (*key).to_owned(),
                subtree: args.iter().any(|a| a.eq_ignore_ascii_case("/s")),
            }],
            None => schedule("no key named"),
        },
        "powercfg.exe" if args.first().is_some_and(|a| a.eq_ignore_ascii_case("/qh")) => {
            vec![Target::RegistryKey {
                key: POWER_SCHEMES.to_owned(),
                subtree: true,
            }]
        }
        "powershell.exe" if args.iter().any(|a| a.contains("BusType")) => {
            // The USB volumes script: disks and volumes arriving or leaving.
            vec![Target::Volumes, Target::Devices]
        }
        "fdesetup" => schedule("FileVault's state has no change notification"),
        "powershell.exe" if args.iter().any(|a| a.contains("MicrosoftVolumeEncryption")) => {
            schedule("BitLocker's conversion state has no change notification")
        }
        _ => schedule("no change notification for what this command reads"),
    }
}

/// Why this platform keeps the schedule, and what its watcher would use (`posture status` and
/// the daemon's log say it).
#[must_use]
pub fn schedule_only_reason(os: &str) -> String {
    match os {
        "macos" => "no change watcher is built for macOS yet (FSEvents for the preference files \
                    read, DiskArbitration for volumes and disks would be used); checks follow the \
                    schedule"
            .to_owned(),
        "windows" => "no change watcher is built for Windows yet (RegNotifyChangeKeyValue for the \
                      registry keys queried, volume and disk arrival notifications would be \
                      used); checks follow the schedule"
            .to_owned(),
        other => format!("no change watcher for {other}; checks follow the schedule"),
    }
}

/// `/a//b/../c` → `/a/c`, lexically (the Host's paths are already absolute).
pub(crate) fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_file_read_is_watched_itself_and_by_name_in_its_directory() {
        let reads = ReadSet {
            files: strings(&["/etc/dconf/db/local.d/locks/screensaver", "/x"]),
            dirs: strings(&["/run/systemd/sessions/"]),
            commands: Vec::new(),
        };
        assert_eq!(
            plan(&reads),
            vec![
                Target::Path("/etc/dconf/db/local.d/locks/screensaver".into()),
                Target::Path("/x".into()),
                Target::Listing("/run/systemd/sessions".into()),
                Target::Entry {
                    dir: "/".into(),
                    name: "x".into()
                },
                Target::Entry {
                    dir: "/etc/dconf/db/local.d/locks".into(),
                    name: "screensaver".into()
                },
                Target::Entry {
                    dir: "/run/systemd".into(),
                    name: "sessions".into()
                },
            ]
        );
    }

    #[test]
    fn the_mount_table_and_block_device_listings_mean_volumes_and_devices() {
        let reads = ReadSet {
            files: strings(&["/proc/1/mountinfo", "/sys/class/block/sda/removable"]),
            dirs: Vec::new(),
            commands: Vec::new(),
        };
        let t = plan(&reads);
        assert!(t.contains(&Target::Volumes), "{t:?}");
        assert!(t.contains(&Target::Devices), "{t:?}");
        let none = plan(&ReadSet {
            files: strings(&["/etc/fstab", "/sys/blockish"]),
            ..ReadSet::default()
        });
        assert!(!none.contains(&Target::Volumes) && !none.contains(&Target::Devices));
    }

    #[test]
    fn reg_queries_are_registry_keys_with_their_subtree_flag() {
        let t = command_targets(&strings(&[
            r"C:\Windows\System32\reg.exe",
            "query",
            r"HKLM\SOFTWARE\Policies\Microsoft\Windows\RemovableStorageDevices",
            "/s",
            "/reg:64",
        ]));
        assert_eq!(
            t,
            vec![Target::RegistryKey {
                key: r"HKLM\SOFTWARE\Policies\Microsoft\Windows\RemovableStorageDevices".into(),
                subtree: true
            }]
        );
        let t = command_targets(&strings(&[
            r"C:\Windows\System32\reg.exe",
            "query",
            r"HKLM\SYSTEM\CurrentControlSet\Services\USBSTOR",
            "/v",
            "Start",
        ]));
        assert!(matches!(&t[0], Target::RegistryKey { subtree: false, .. }));
    }

    #[test]
    fn a_source_without_notifications_follows_the_schedule_and_says_why() {
        let t = command_targets(&strings(&["/usr/bin/fdesetup", "status"]));
        assert_eq!(
            t,
            vec![Target::Schedule(
                "fdesetup: FileVault's state has no change notification".into()
            )]
        );
        let per_user = command_targets(&strings(&[
            "/bin/launchctl",
            "asuser",
            "501",
            "/usr/bin/sudo",
            "-u",
            "alice",
            "/usr/sbin/sysadminctl",
            "-screenLock",
            "status",
        ]));
        assert!(
            matches!(&per_user[..], [Target::Schedule(why)] if why.starts_with("sysadminctl:")),
            "{per_user:?}"
        );
    }

    /// The reads of a recorded evidence bundle (`docs/evidence-bundle.md`): files, links and
    /// directories by path, commands by argv.
    fn bundle_reads(name: &str) -> ReadSet {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(name);
        let text = fs_err::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys = |field: &str| -> Vec<String> {
            v[field]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut files = keys("files");
        files.extend(keys("links"));
        ReadSet {
            files,
            dirs: keys("dirs"),
            commands: v["commands"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    c["argv"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_owned())
                        .collect()
                })
                .collect(),
        }
    }

    #[test]
    fn a_recorded_windows_check_watches_the_removable_storage_keys_and_usb_volumes() {
        let t = plan(&bundle_reads("windows/removable_nothing.json"));
        for key in [
            r"HKLM\SOFTWARE\Policies\Microsoft\Windows\RemovableStorageDevices",
            r"HKLM\SYSTEM\CurrentControlSet\Services\USBSTOR",
            r"HKLM\SYSTEM\CurrentControlSet\Services\UASPStor",
        ] {
            assert!(
                t.iter()
                    .any(|x| matches!(x, Target::RegistryKey { key: k, .. } if k == key)),
                "{key} not in {t:?}"
            );
        }
        assert!(t.contains(&Target::Devices), "{t:?}");
    }

    #[test]
    fn a_recorded_mac_check_watches_its_managed_preferences_and_volumes_but_not_filevault() {
        let t = plan(&bundle_reads(
            "macos/removable_unencrypted_stick_mounted.json",
        ));
        assert!(t.contains(&Target::Volumes), "{t:?}");
        assert!(
            t.iter().any(
                |x| matches!(x, Target::Entry { dir, .. } if dir == "/Library/Managed Preferences")
            ),
            "{t:?}"
        );
        let fv = plan(&bundle_reads("macos/filevault_on.json"));
        assert!(
            fv.iter()
                .any(|x| matches!(x, Target::Schedule(why) if why.starts_with("fdesetup:"))),
            "{fv:?}"
        );
    }

    #[test]
    fn macos_and_windows_say_what_their_watcher_would_use() {
        assert!(schedule_only_reason("macos").contains("FSEvents"));
        assert!(schedule_only_reason("macos").contains("DiskArbitration"));
        assert!(schedule_only_reason("windows").contains("RegNotifyChangeKeyValue"));
        assert!(schedule_only_reason("freebsd").contains("schedule"));
    }
}
