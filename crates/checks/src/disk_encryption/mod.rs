//! Disk encryption (Acceptable Use Policy, Data Management Policy): the system volume and every
//! other internal, persistent data volume must be encrypted. Boot and EFI partitions are exempt.
//! Swap is reported; it fails the check only when the policy requires encrypted swap.

mod linux;
mod macos;
mod windows;

use posture_host::{Host, Platform};

use crate::system::{Distro, System};
use posture_policy::DiskEncryptionRule;
use posture_schema::{Enforced, Enforcer, Evidence, Finding, Setting, Status, Subject};

use crate::enforcement;

/// Check id in reports.
pub const ID: &str = "disk_encryption";
/// Check title in reports.
pub const TITLE: &str = "Disk encryption";

/// This check, as the registry lists it.
pub const CHECK: crate::Check = crate::Check {
    id: ID,
    title: TITLE,
    rule: |rules| &rules.disk_encryption,
    run: |host, rules, system| evaluate_on(&gather(host), &rules.disk_encryption, system),
};

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EncryptionFacts {
    /// The volumes that must be (or are reported as) encrypted.
    pub volumes: Vec<Volume>,
    /// Set when the volume list itself could not be read.
    pub undecided: Option<String>,
    /// Whether management requires the system volume's encryption (a profile that forbids
    /// turning FileVault off, an MDM or Group Policy that requires BitLocker), as settings
    /// for the system volume's subject. Empty where posture does not read it.
    pub system_settings: Vec<Setting>,
    /// Everything read, with its source.
    pub evidence: Vec<Evidence>,
}

/// One volume and its encryption state.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Mount point or drive letter: "/", "/home", "C:", "Macintosh HD".
    pub name: String,
    /// The device it lives on: "/dev/mapper/vg-root", "disk3s1".
    pub device: String,
    /// Why it must be encrypted.
    pub role: VolumeRole,
    /// What the machine says.
    pub state: EncryptionState,
}

/// Why a volume is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeRole {
    /// The operating system volume (`/`, `C:`, the macOS data volume).
    System,
    /// Another internal, persistent data volume (`/home`, `D:`).
    Data,
    /// Swap or a page file: reported, required only by `require_encrypted_swap`.
    Swap,
}

impl VolumeRole {
    fn kind(self) -> &'static str {
        match self {
            Self::System | Self::Data => "volume",
            Self::Swap => "swap",
        }
    }
}

/// A volume's encryption state.
#[derive(Debug, Clone, PartialEq)]
pub enum EncryptionState {
    /// Encrypted at rest, with the method (e.g. "dm-crypt LUKS2", "FileVault", "BitLocker XTS-AES 128").
    Encrypted {
        /// How.
        method: String,
    },
    /// Not encrypted.
    NotEncrypted {
        /// What shows it (e.g. "no dm-crypt layer between / and /dev/nvme0n1p2").
        detail: String,
    },
    /// Encryption or decryption under way: not protected until it completes.
    InProgress {
        /// What is happening.
        detail: String,
        /// How far, when the OS says.
        percent: Option<f64>,
    },
    /// Encrypted on disk but the protection is off or not yet active (BitLocker suspended,
    /// FileVault enablement deferred to the next login).
    Unprotected {
        /// What is off.
        detail: String,
    },
    /// The machine did not say.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// The system volume's encryption as a setting: `by` is the management that requires it
/// (each with its notes), `unread` why a place management could require it was not read. It is
/// enforced when management requires it and the volume is encrypted; management whose demand is
/// not in effect is listed with the value it asks for.
pub(crate) fn required_setting(
    name: &str,
    state: &EncryptionState,
    source: &str,
    by: Vec<(Enforcer, Vec<String>)>,
    unread: Vec<String>,
) -> Setting {
    let value = match state {
        EncryptionState::Encrypted { method } => format!("encrypted ({method})"),
        EncryptionState::NotEncrypted { .. } => "not encrypted".to_owned(),
        EncryptionState::InProgress { .. } => "encryption in progress".to_owned(),
        EncryptionState::Unprotected { .. } => "encrypted, protection off".to_owned(),
        EncryptionState::Unknown { .. } => "unknown".to_owned(),
    };
    let encrypted = matches!(state, EncryptionState::Encrypted { .. });
    let mut notes: Vec<String> = by.iter().flat_map(|(_, n)| n.iter().cloned()).collect();
    let mut enforcers: Vec<Enforcer> = by.into_iter().map(|(e, _)| e).collect();
    if enforcers.is_empty() {
        if let Some(why) = unread.first() {
            let mut s = enforcement::unknown(name, value, source, why.clone());
            s.notes.extend(unread.into_iter().skip(1));
            return s;
        }
        return enforcement::noted(
            enforcement::user_set(name, value, source),
            "no management requires it: any administrator can turn encryption off",
        );
    }
    notes.extend(unread);
    if encrypted {
        let mut s = enforcement::enforced(name, value, source, enforcers);
        s.notes = notes;
        return s;
    }
    for e in &mut enforcers {
        e.value = Some("encrypted".to_owned());
    }
    notes.insert(
        0,
        "management requires encryption, but it is not in effect".to_owned(),
    );
    Setting {
        name: name.to_owned(),
        value,
        source: source.to_owned(),
        enforced: Enforced::No,
        enforced_by: enforcers,
        notes,
    }
}

/// Reads the volumes and their encryption.
pub fn gather(host: &dyn Host) -> EncryptionFacts {
    match host.platform() {
        Platform::Linux => linux::gather(host),
        Platform::Macos => macos::gather(host),
        Platform::Windows => windows::gather(host),
    }
}

/// Judges the facts against the rule.
#[must_use]
pub fn evaluate(facts: &EncryptionFacts, rule: &DiskEncryptionRule, platform: Platform) -> Finding {
    evaluate_on(facts, rule, &System::unknown(platform))
}

/// Judges the facts against the rule, with fix steps for this system's installer.
#[must_use]
pub fn evaluate_on(facts: &EncryptionFacts, rule: &DiskEncryptionRule, system: &System) -> Finding {
    let subjects: Vec<Subject> = facts
        .volumes
        .iter()
        .map(|v| {
            let (status, summary) = match (&v.state, v.role) {
                (EncryptionState::Encrypted { method }, _) => {
                    (Status::Pass, format!("encrypted ({method}) on {}", v.device))
                }
                (EncryptionState::NotEncrypted { detail }, VolumeRole::Swap)
                    if !rule.require_encrypted_swap =>
                {
                    (
                        Status::NotApplicable,
                        format!("swap is not encrypted ({detail}); reported only, the policy does not require encrypted swap"),
                    )
                }
                (EncryptionState::NotEncrypted { detail }, _) => {
                    (Status::Fail, format!("not encrypted: {detail}"))
                }
                (EncryptionState::InProgress { detail, percent }, _) => (
                    Status::Fail,
                    match percent {
                        Some(p) => format!("{detail} ({p:.0}% done): not protected until it completes"),
                        None => format!("{detail}: not protected until it completes"),
                    },
                ),
                (EncryptionState::Unprotected { detail }, _) => {
                    (Status::Fail, format!("encryption not in force: {detail}"))
                }
                (EncryptionState::Unknown { reason }, VolumeRole::Swap)
                    if !rule.require_encrypted_swap =>
                {
                    (
                        Status::NotApplicable,
                        format!("could not tell whether swap is encrypted ({reason}); reported only, the policy does not require encrypted swap"),
                    )
                }
                (EncryptionState::Unknown { reason }, _) => (Status::Unknown, reason.clone()),
            };
            let settings = if v.role == VolumeRole::System {
                facts.system_settings.clone()
            } else {
                Vec::new()
            };
            Subject {
                kind: v.role.kind().to_owned(),
                name: v.name.clone(),
                status,
                summary,
                enforced: crate::enforcement::all_of(&settings),
                settings,
            }
        })
        .collect();

    let combined = Status::combine(subjects.iter().map(|s| s.status));
    let has_system = facts.volumes.iter().any(|v| v.role == VolumeRole::System);
    let names = |st: Status| {
        subjects
            .iter()
            .filter(|s| s.status == st)
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (status, summary) = if combined == Status::Fail {
        (
            Status::Fail,
            format!("not protected by encryption: {}", names(Status::Fail)),
        )
    } else if let Some(reason) = &facts.undecided {
        (Status::Unknown, reason.clone())
    } else if !has_system {
        (
            Status::Unknown,
            "the system volume was not found, so its encryption could not be judged".to_owned(),
        )
    } else if combined == Status::Unknown {
        (
            Status::Unknown,
            format!("could not tell for {}", names(Status::Unknown)),
        )
    } else {
        let count = subjects.iter().filter(|s| s.status == Status::Pass).count();
        (
            Status::Pass,
            format!("system and data volumes are encrypted ({count} checked)"),
        )
    };
    let remediation = if status == Status::Fail {
        remediation(system, facts)
    } else {
        Vec::new()
    };
    let finding = Finding {
        id: ID.to_owned(),
        title: TITLE.to_owned(),
        clause: rule.clause.clone(),
        status,
        summary,
        subjects,
        evidence: facts.evidence.clone(),
        remediation,
    };
    crate::enforcement::require(finding, rule.require_enforced, system.platform)
}

fn remediation(system: &System, facts: &EncryptionFacts) -> Vec<String> {
    let in_progress = facts
        .volumes
        .iter()
        .any(|v| matches!(v.state, EncryptionState::InProgress { .. }));
    let mut steps = Vec::new();
    if in_progress {
        steps.push("Encryption or decryption is in progress: keep the computer on power until it completes, then check again. If it is decrypting, turn encryption back on.".to_owned());
    }
    match system.platform {
        Platform::Macos => {
            steps.push("System Settings > Privacy & Security > FileVault > Turn On, then restart if asked and keep the recovery key where IT tells you.".to_owned());
        }
        Platform::Windows => {
            steps.push("Settings > Privacy & security > Device encryption: turn it on (Windows Home), or Control Panel > BitLocker Drive Encryption > Turn on BitLocker for the operating system drive and each fixed data drive.".to_owned());
            steps.push("If BitLocker protection is suspended: Control Panel > BitLocker Drive Encryption > Resume protection (or `manage-bde -protectors -enable C:` as Administrator).".to_owned());
        }
        Platform::Linux => {
            let installer = match system.distro {
                Distro::Debian => {
                    "at \"Partition disks\" choose \"Guided - use entire disk and set up encrypted LVM\""
                }
                Distro::Ubuntu => {
                    "at \"Disk setup\" choose \"Erase disk and install Ubuntu\", then under \"Advanced features\" \"Use LVM and encryption\""
                }
                Distro::Fedora => "at \"Installation Destination\" tick \"Encrypt my data\"",
                Distro::Unknown => {
                    "with full-disk encryption (Debian's installer: \"Guided - use entire disk and set up encrypted LVM\"; Fedora's: \"Encrypt my data\" under \"Installation Destination\")"
                }
            };
            steps.push(format!("Linux cannot encrypt a filesystem in place safely: back up your data, reinstall and {installer}, then restore. Ask IT before you start."));
            steps.push("For a separate data partition (e.g. /home): back it up, create a LUKS container on it with `cryptsetup luksFormat`, add it to /etc/crypttab and /etc/fstab, and restore the data.".to_owned());
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(swap: bool) -> DiskEncryptionRule {
        DiskEncryptionRule {
            enabled: true,
            clause: "Acceptable Use Policy".into(),
            require_enforced: false,
            require_encrypted_swap: swap,
        }
    }

    fn vol(name: &str, role: VolumeRole, state: EncryptionState) -> Volume {
        Volume {
            name: name.into(),
            device: "/dev/x".into(),
            role,
            state,
        }
    }

    fn enc() -> EncryptionState {
        EncryptionState::Encrypted {
            method: "dm-crypt LUKS2".into(),
        }
    }

    #[test]
    fn an_unencrypted_home_fails_even_when_root_is_encrypted() {
        let facts = EncryptionFacts {
            volumes: vec![
                vol("/", VolumeRole::System, enc()),
                vol(
                    "/home",
                    VolumeRole::Data,
                    EncryptionState::NotEncrypted {
                        detail: "plain".into(),
                    },
                ),
            ],
            ..Default::default()
        };
        let f = evaluate(&facts, &rule(false), Platform::Linux);
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("/home"));
    }

    /// The verdicts for an encrypted root plus one swap in `state`, without and with
    /// `require_encrypted_swap`.
    fn with_swap(state: EncryptionState) -> (Status, Status) {
        let facts = EncryptionFacts {
            volumes: vec![
                vol("/", VolumeRole::System, enc()),
                vol("/swap", VolumeRole::Swap, state),
            ],
            ..Default::default()
        };
        (
            evaluate(&facts, &rule(false), Platform::Linux).status,
            evaluate(&facts, &rule(true), Platform::Linux).status,
        )
    }

    #[test]
    fn plain_swap_is_reported_but_fails_only_when_required() {
        let plain = EncryptionState::NotEncrypted {
            detail: "raw partition".into(),
        };
        assert_eq!(with_swap(plain), (Status::Pass, Status::Fail));
    }

    #[test]
    fn unknown_swap_is_reported_but_unknown_only_when_required() {
        let unknown = EncryptionState::Unknown {
            reason: "on ZFS".into(),
        };
        assert_eq!(with_swap(unknown), (Status::Pass, Status::Unknown));
    }

    #[test]
    fn encryption_in_progress_is_a_failure_with_the_percentage() {
        let facts = EncryptionFacts {
            volumes: vec![vol(
                "/",
                VolumeRole::System,
                EncryptionState::InProgress {
                    detail: "encrypting".into(),
                    percent: Some(42.0),
                },
            )],
            ..Default::default()
        };
        let f = evaluate(&facts, &rule(false), Platform::Macos);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.subjects[0].summary.contains("42%"),
            "{}",
            f.subjects[0].summary
        );
    }

    #[test]
    fn without_a_system_volume_the_check_is_unknown() {
        let facts = EncryptionFacts {
            volumes: vec![vol("/data", VolumeRole::Data, enc())],
            ..Default::default()
        };
        assert_eq!(
            evaluate(&facts, &rule(false), Platform::Linux).status,
            Status::Unknown
        );
    }
}
