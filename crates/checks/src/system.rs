//! What fix steps depend on beyond the platform: which Linux distribution family this is (its
//! installer and initramfs tool differ) and which KDE Plasma major version is installed (its
//! command-line config tool is `kwriteconfig5` or `kwriteconfig6`).
//!
//! Both come from files the probes and the inventory already read: `/etc/os-release` (`ID`,
//! `ID_LIKE`, as the inventory parses it) and Plasma's session files in `/usr/share/xsessions`
//! and `/usr/share/wayland-sessions`, whose `X-KDE-PluginInfo-Version=` is the Plasma version
//! (plasma-workspace's `login-sessions/*.desktop.cmake` write `${PROJECT_VERSION}` there). When a
//! file does not say, the fix text gives every variant rather than guess.

use posture_host::keyfile::KeyFile;
use posture_host::{Host, Platform};

use crate::inventory;

/// The facts fix steps are tailored to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct System {
    /// The operating system.
    pub platform: Platform,
    /// The Linux distribution family; [`Distro::Unknown`] elsewhere.
    pub distro: Distro,
    /// The installed KDE Plasma major version (5, 6), when a session file says.
    pub plasma_major: Option<u32>,
}

/// Linux distribution families whose fix steps differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distro {
    /// Debian and derivatives that use its installer (`ID=debian` or `ID_LIKE` has `debian`).
    Debian,
    /// Ubuntu and its flavours (`ID=ubuntu` or `ID_LIKE` has `ubuntu`): Debian's tools, its own
    /// installer.
    Ubuntu,
    /// Fedora, RHEL and rebuilds (`ID` or `ID_LIKE` has `fedora` or `rhel`): Anaconda, dracut.
    Fedora,
    /// Any other, or os-release could not be read.
    Unknown,
}

impl System {
    /// Nothing known beyond the platform: fix steps give every variant.
    #[must_use]
    pub fn unknown(platform: Platform) -> Self {
        Self {
            platform,
            distro: Distro::Unknown,
            plasma_major: None,
        }
    }

    /// Reads os-release and Plasma's session files through the host.
    pub fn gather(host: &dyn Host) -> Self {
        let platform = host.platform();
        if platform != Platform::Linux {
            return Self::unknown(platform);
        }
        let distro = host
            .read_text("/etc/os-release")
            .or_else(|_| host.read_text("/usr/lib/os-release"))
            .map_or(Distro::Unknown, |text| distro_of(&text));
        Self {
            platform,
            distro,
            plasma_major: plasma_major(host),
        }
    }
}

/// The family of an os-release text.
#[must_use]
pub fn distro_of(os_release: &str) -> Distro {
    let fields = inventory::linux_os_release(os_release);
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default()
    };
    let id = get("ID");
    let like = get("ID_LIKE");
    let is = |name: &str| id == name || like.split_whitespace().any(|l| l == name);
    if is("ubuntu") {
        Distro::Ubuntu
    } else if is("debian") {
        Distro::Debian
    } else if is("fedora") || is("rhel") || is("centos") {
        Distro::Fedora
    } else {
        Distro::Unknown
    }
}

/// Plasma's session files: Plasma 6 installs `plasma.desktop` (Wayland) and `plasmax11.desktop`,
/// Plasma 5 `plasmawayland.desktop` and `plasma.desktop` (X11).
const PLASMA_SESSIONS: [&str; 4] = [
    "/usr/share/wayland-sessions/plasma.desktop",
    "/usr/share/xsessions/plasmax11.desktop",
    "/usr/share/wayland-sessions/plasmawayland.desktop",
    "/usr/share/xsessions/plasma.desktop",
];

fn plasma_major(host: &dyn Host) -> Option<u32> {
    PLASMA_SESSIONS.iter().find_map(|path| {
        let text = host.read_text(path).ok()?;
        let version = KeyFile::parse(&text)
            .get("Desktop Entry", "X-KDE-PluginInfo-Version")?
            .to_owned();
        version.split('.').next()?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use posture_policy::{
        DiskEncryptionRule, RemovableMediaMode, RemovableMediaRule, ScreenLockRule,
    };

    use super::*;
    use crate::disk_encryption::{EncryptionFacts, EncryptionState, Volume, VolumeRole};
    use crate::removable_media::{RemovableFacts, StorageControl};
    use crate::screen_lock::{LockSetting, ScreenLockFacts, UserLock};

    fn linux(distro: Distro, plasma_major: Option<u32>) -> System {
        System {
            platform: Platform::Linux,
            distro,
            plasma_major,
        }
    }

    fn kde_fix(system: &System) -> String {
        let facts = ScreenLockFacts {
            users: vec![UserLock {
                user: "alice".into(),
                desktop: "KDE Plasma".into(),
                setting: LockSetting::NeverLocks {
                    reason: "Autolock is false".into(),
                },
                settings: Vec::new(),
                enforcement: Default::default(),
            }],
            ..Default::default()
        };
        let rule = ScreenLockRule {
            enabled: true,
            clause: "3.1".into(),
            require_enforced: false,
            max_idle_minutes: 15,
        };
        crate::screen_lock::evaluate_on(&facts, &rule, system)
            .remediation
            .join("\n")
    }

    #[test]
    fn plasma_5_gets_kwriteconfig5_plasma_6_kwriteconfig6_and_unknown_both() {
        let five = kde_fix(&linux(Distro::Debian, Some(5)));
        assert!(
            five.contains("kwriteconfig5 --file kscreenlockerrc"),
            "{five}"
        );
        assert!(!five.contains("kwriteconfig6"), "{five}");
        let six = kde_fix(&linux(Distro::Debian, Some(6)));
        assert!(
            six.contains("kwriteconfig6 --file kscreenlockerrc"),
            "{six}"
        );
        assert!(!six.contains("kwriteconfig5"), "{six}");
        let unknown = kde_fix(&linux(Distro::Debian, None));
        assert!(
            unknown.contains("on Plasma 6: kwriteconfig6 --file")
                && unknown.contains("on Plasma 5: kwriteconfig5 --file"),
            "{unknown}"
        );
    }

    fn usb_fix(system: &System) -> String {
        let facts = RemovableFacts {
            control: StorageControl::Allowed {
                why: "no rule".into(),
            },
            mounted: vec![],
            mounts_unknown: None,
            control_settings: Vec::new(),
            evidence: vec![],
        };
        let rule = RemovableMediaRule {
            enabled: true,
            clause: "6".into(),
            require_enforced: false,
            mode: RemovableMediaMode::Block,
        };
        crate::removable_media::evaluate_on(&facts, &rule, system)
            .remediation
            .into_iter()
            .find(|s| s.contains("usb-storage"))
            .unwrap_or_default()
    }

    #[test]
    fn the_usb_storage_fix_ends_with_this_distributions_initramfs_rebuild() {
        for d in [Distro::Debian, Distro::Ubuntu] {
            assert!(usb_fix(&linux(d, None)).ends_with("then update-initramfs -u"));
        }
        assert!(usb_fix(&linux(Distro::Fedora, None)).ends_with("then dracut -f"));
        let unknown = usb_fix(&linux(Distro::Unknown, None));
        assert!(
            unknown.ends_with("update-initramfs -u (Debian, Ubuntu) or dracut -f (Fedora, RHEL)"),
            "{unknown}"
        );
    }

    fn disk_fix(system: &System) -> String {
        let facts = EncryptionFacts {
            volumes: vec![Volume {
                name: "/".into(),
                device: "/dev/sda2".into(),
                role: VolumeRole::System,
                state: EncryptionState::NotEncrypted {
                    detail: "plain ext4".into(),
                },
            }],
            ..Default::default()
        };
        let rule = DiskEncryptionRule {
            enabled: true,
            clause: "AUP".into(),
            require_enforced: false,
            require_encrypted_swap: false,
        };
        crate::disk_encryption::evaluate_on(&facts, &rule, system)
            .remediation
            .join("\n")
    }

    #[test]
    fn the_reinstall_step_uses_this_distributions_installer_wording() {
        assert!(
            disk_fix(&linux(Distro::Debian, None))
                .contains("\"Guided - use entire disk and set up encrypted LVM\"")
        );
        assert!(disk_fix(&linux(Distro::Fedora, None)).contains("\"Encrypt my data\""));
        assert!(disk_fix(&linux(Distro::Ubuntu, None)).contains("\"Use LVM and encryption\""));
        let unknown = disk_fix(&linux(Distro::Unknown, None));
        assert!(
            unknown.contains("Guided - use entire disk and set up encrypted LVM")
                && unknown.contains("Encrypt my data"),
            "{unknown}"
        );
    }

    #[test]
    fn the_plasma_version_comes_from_its_session_file() {
        let cases: [(&str, &str, Option<u32>); 4] = [
            (
                "usr/share/wayland-sessions/plasma.desktop",
                "[Desktop Entry]\nExec=/usr/bin/startplasma-wayland\nDesktopNames=KDE\nX-KDE-PluginInfo-Version=6.3.4\n",
                Some(6),
            ),
            (
                "usr/share/xsessions/plasma.desktop",
                "[Desktop Entry]\nExec=/usr/bin/startplasma-x11\nDesktopNames=KDE\nX-KDE-PluginInfo-Version=5.27.5\n",
                Some(5),
            ),
            (
                "usr/share/xsessions/plasma.desktop",
                "[Desktop Entry]\nExec=/usr/bin/startplasma-x11\nDesktopNames=KDE\n",
                None,
            ),
            ("etc/hostname", "nothing about Plasma\n", None),
        ];
        for (path, text, want) in cases {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join(path);
            fs_err::create_dir_all(file.parent().unwrap()).unwrap();
            fs_err::write(&file, text).unwrap();
            fs_err::create_dir_all(dir.path().join("etc")).unwrap();
            fs_err::write(dir.path().join("etc/os-release"), "ID=debian\n").unwrap();
            let host = posture_host::RootedHost::new(dir.path());
            let system = System::gather(&host);
            assert_eq!(system.plasma_major, want, "{path}: {text}");
            assert_eq!(system.distro, Distro::Debian);
        }
    }

    #[test]
    fn os_release_ids_map_to_families() {
        let cases = [
            ("ID=debian\n", Distro::Debian),
            ("ID=ubuntu\nID_LIKE=debian\n", Distro::Ubuntu),
            ("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n", Distro::Ubuntu),
            ("ID=raspbian\nID_LIKE=debian\n", Distro::Debian),
            ("ID=fedora\n", Distro::Fedora),
            (
                "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n",
                Distro::Fedora,
            ),
            ("ID=rhel\nID_LIKE=\"fedora\"\n", Distro::Fedora),
            ("ID=arch\n", Distro::Unknown),
            ("", Distro::Unknown),
        ];
        for (text, want) in cases {
            assert_eq!(distro_of(text), want, "{text:?}");
        }
    }
}
