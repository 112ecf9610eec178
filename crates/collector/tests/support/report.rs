//! Realistic reports for tests and the load benchmark: three checks with subjects, evidence and
//! remediation, 5 to 10 KB of JSON.

#![allow(dead_code, unreachable_pub)]

use posture_schema::{
    Agent, Device, Evidence, EvidenceKind, EvidenceMode, Finding, Hardware, Mdm, OsInfo,
    PolicyInfo, Posture, Report, SCHEMA_VERSION, Status, Subject,
};

/// A report id that is unique across processes and runs.
pub fn fresh_report_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The current time as RFC 3339.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn evidence(kind: EvidenceKind, source: &str, key: Option<&str>, value: &str) -> Evidence {
    Evidence {
        kind,
        source: source.into(),
        key: key.map(Into::into),
        value: value.into(),
        subject: None,
    }
}

/// A report for `device_id` whose screen-lock check has `screen_lock` status.
pub fn report(device_id: &str, hostname: &str, screen_lock: Status) -> Report {
    let dconf_profile = "user-db:user\nsystem-db:local\nsystem-db:site\n".repeat(4);
    let crypttab = "# <target name> <source device> <key file> <options>\n\
        nvme0n1p3_crypt UUID=5b1f0b1c-2f44-4d51-9c1e-0f3a7c2d9e11 none luks,discard\n"
        .repeat(3);
    let screen = Finding {
        id: "screen_lock".into(),
        title: "Screen lock".into(),
        clause: "Device Policy 3.1".into(),
        status: screen_lock,
        summary: match screen_lock {
            Status::Pass => "every user locks the screen after at most 300 s idle".into(),
            Status::Fail => {
                "user alice locks the screen after 900 s idle; the policy allows 300 s".into()
            }
            _ => "no readable screen-lock settings for user alice".into(),
        },
        subjects: vec![
            Subject {
                kind: "user".into(),
                name: "alice".into(),
                status: screen_lock,
                summary: "idle-delay 900, lock-enabled true".into(),
                settings: Vec::new(),
                enforced: None,
            },
            Subject {
                kind: "user".into(),
                name: "bob".into(),
                status: Status::Pass,
                summary: "idle-delay 300, lock-enabled true".into(),
                settings: Vec::new(),
                enforced: None,
            },
        ],
        evidence: vec![
            evidence(
                EvidenceKind::File,
                "/etc/dconf/profile/user",
                None,
                &dconf_profile,
            ),
            evidence(
                EvidenceKind::File,
                "/home/alice/.config/dconf/user",
                Some("/org/gnome/desktop/session/idle-delay"),
                "uint32 900",
            ),
            evidence(
                EvidenceKind::File,
                "/home/alice/.config/dconf/user",
                Some("/org/gnome/desktop/screensaver/lock-enabled"),
                "true",
            ),
            evidence(
                EvidenceKind::File,
                "/home/bob/.config/dconf/user",
                Some("/org/gnome/desktop/session/idle-delay"),
                "uint32 300",
            ),
            evidence(
                EvidenceKind::Derived,
                "policy",
                Some("screen_lock.max_idle_seconds"),
                "300",
            ),
        ],
        remediation: if screen_lock == Status::Pass {
            vec![]
        } else {
            vec![
                "Open Settings → Privacy → Screen Lock and set \"Blank Screen Delay\" to 5 minutes or less.".into(),
                "Or run: gsettings set org.gnome.desktop.session idle-delay 300".into(),
                "Make sure \"Automatic Screen Lock\" is on.".into(),
            ]
        },
    };
    let disk = Finding {
        id: "disk_encryption".into(),
        title: "Disk encryption".into(),
        clause: "Device Policy 3.2".into(),
        status: Status::Pass,
        summary: "the root volume and swap are on LUKS2-encrypted devices".into(),
        subjects: vec![
            Subject {
                kind: "volume".into(),
                name: "/".into(),
                status: Status::Pass,
                summary: "dm-crypt LUKS2 on /dev/nvme0n1p3".into(),
                settings: Vec::new(),
                enforced: None,
            },
            Subject {
                kind: "swap".into(),
                name: "/dev/dm-1".into(),
                status: Status::Pass,
                summary: "inside the encrypted volume group".into(),
                settings: Vec::new(),
                enforced: None,
            },
        ],
        evidence: vec![
            evidence(EvidenceKind::File, "/proc/mounts", None, &"/dev/mapper/vg-root / ext4 rw,relatime 0 0\n/dev/nvme0n1p1 /boot/efi vfat rw 0 0\ntmpfs /run tmpfs rw,nosuid,nodev 0 0\n".repeat(6)),
            evidence(EvidenceKind::File, "/etc/crypttab", None, &crypttab),
            evidence(EvidenceKind::File, "/sys/block/dm-0/dm/uuid", None, "CRYPT-LUKS2-5b1f0b1c2f444d519c1e0f3a7c2d9e11-nvme0n1p3_crypt"),
            evidence(EvidenceKind::Directory, "/sys/block/dm-0/slaves", None, "nvme0n1p3"),
            evidence(EvidenceKind::File, "/proc/swaps", None, "Filename Type Size Used Priority\n/dev/dm-1 partition 8388604 0 -2\n"),
        ],
        remediation: vec![],
    };
    let media = Finding {
        id: "removable_media".into(),
        title: "Removable media".into(),
        clause: "Device Policy 3.3".into(),
        status: Status::Pass,
        summary: "USB mass storage is blocked by a modprobe rule".into(),
        subjects: vec![Subject {
            kind: "control".into(),
            name: "usb-storage".into(),
            status: Status::Pass,
            summary: "install usb-storage /bin/false".into(),
            settings: Vec::new(),
            enforced: None,
        }],
        evidence: vec![
            evidence(EvidenceKind::File, "/etc/modprobe.d/posture-usb.conf", None, "install usb-storage /bin/false\nblacklist usb-storage\n"),
            evidence(EvidenceKind::Directory, "/sys/module", None, &"ext4 dm_crypt nvme snd_hda_intel i915 iwlwifi btusb\n".repeat(8)),
            evidence(EvidenceKind::File, "/proc/modules", None, &"dm_crypt 61440 1 - Live 0x0000000000000000\nnvme 61440 3 - Live 0x0000000000000000\n".repeat(8)),
        ],
        remediation: vec![],
    };
    let access = Finding {
        id: "device_access".into(),
        title: "Device access".into(),
        clause: "Device Policy 2".into(),
        status: Status::Pass,
        summary: "no automatic login, guest access or passwordless account; no remote-access service is on".into(),
        subjects: vec![Subject {
            kind: "automatic_login".into(),
            name: "GDM automatic login".into(),
            status: Status::Pass,
            summary: "off: AutomaticLoginEnable is not set in /etc/gdm3/custom.conf (GDM's default: off)".into(),
            settings: Vec::new(),
            enforced: None,
        }],
        evidence: vec![evidence(EvidenceKind::File, "/etc/gdm3/custom.conf", Some("[daemon] AutomaticLoginEnable"), "absent")],
        remediation: vec![],
    };
    let credentials = Finding {
        id: "credentials".into(),
        title: "Credentials".into(),
        clause: "Device Policy 5".into(),
        status: Status::Pass,
        summary: "1Password signed in to example.1password.com, its extension in every browser profile, SSH keys protected for 1 user(s)".into(),
        subjects: vec![Subject {
            kind: "user".into(),
            name: "alice: 1Password".into(),
            status: Status::Pass,
            summary: "signed in to the company account: alice@example.com at example.1password.com (business)".into(),
            settings: Vec::new(),
            enforced: None,
        }],
        evidence: vec![evidence(
            EvidenceKind::File,
            "/home/alice/.config/1Password/1password.sqlite",
            Some("accounts"),
            "1Password 8: alice@example.com at example.1password.com (business)",
        )],
        remediation: vec![],
    };
    let password_rules = Finding {
        id: "password_rules".into(),
        title: "Password rules".into(),
        clause: "Device Policy 1".into(),
        status: Status::Pass,
        summary: "local accounts: minimum length 15; locks after 5 failed attempts; 1 account(s) meet the policy".into(),
        subjects: vec![Subject {
            kind: "rules".into(),
            name: "local accounts".into(),
            status: Status::Pass,
            summary: "minimum length 15 (pam_pwquality.so minlen 15); locks after 5 failed attempts (faillock.conf deny = 5)".into(),
            settings: Vec::new(),
            enforced: None,
        }],
        evidence: vec![evidence(EvidenceKind::File, "/etc/security/pwquality.conf", None, "minlen=15 (line 1)")],
        remediation: vec![],
    };
    let checks = vec![screen, disk, media, access, credentials, password_rules];
    Report {
        schema_version: SCHEMA_VERSION,
        report_id: fresh_report_id(),
        device_id: Some(device_id.into()),
        generated_at: now_rfc3339(),
        agent: Agent {
            name: "posture".into(),
            version: "0.1.0".into(),
            mode: EvidenceMode::Live,
        },
        posture: Posture::from_checks(&checks),
        device: Device {
            hostname: Some(hostname.into()),
            os: OsInfo {
                family: "linux".into(),
                name: Some("Debian GNU/Linux".into()),
                version: Some("12".into()),
                build: None,
                kernel: Some("6.1.0-28-amd64".into()),
            },
            hardware: Hardware {
                vendor: Some("LENOVO".into()),
                model: Some("ThinkPad T14 Gen 4".into()),
                serial: Some("PF3XAMPL".into()),
            },
            machine_id: Some(format!("machine-{hostname}")),
            users: vec!["alice".into(), "bob".into()],
            mdm: Some(Mdm {
                enrolled: false,
                detail: None,
            }),
        },
        policy: PolicyInfo {
            name: "Device Policy".into(),
            version: "2026.1".into(),
            // Judged with the fleet policy a collector has before an administrator sets one.
            digest: posture_policy::Policy::embedded().digest,
            source: "embedded".into(),
            organisation: "Example Corp".into(),
            security_contact: "security@example.com".into(),
        },
        checks,
        trigger: None,
    }
}
