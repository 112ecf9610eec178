//! Removable media (Device Policy 6: confidential information must not be stored on portable
//! media such as USB drives). The policy mode says what the device must enforce: `block` (no
//! USB mass storage), `read_only` (readable, not writable) or `audit` (report only). In every
//! mode a writable, unencrypted removable volume mounted right now fails.

mod linux;
pub(crate) mod macos;
pub(crate) mod windows;

use posture_host::{Host, Platform};

use crate::system::{Distro, System};
use posture_policy::{RemovableMediaMode, RemovableMediaRule};
use posture_schema::{Enforced, Evidence, Finding, Setting, Status, Subject};

/// Check id in reports.
pub const ID: &str = "removable_media";
/// Check title in reports.
pub const TITLE: &str = "Removable media";

/// This check, as the registry lists it.
pub const CHECK: crate::Check = crate::Check {
    id: ID,
    title: TITLE,
    rule: |rules| &rules.removable_media,
    run: |host, rules, system| evaluate_on(&gather(host), &rules.removable_media, system),
};

/// What the probe found.
#[derive(Debug, Clone, PartialEq)]
pub struct RemovableFacts {
    /// What the operating system enforces for USB mass storage.
    pub control: StorageControl,
    /// Removable volumes mounted right now.
    pub mounted: Vec<RemovableVolume>,
    /// Set when the list of mounted volumes could not be read.
    pub mounts_unknown: Option<String>,
    /// The controls read, each with whether management enforces it (they are the control
    /// subject's settings: one enforced block suffices).
    pub control_settings: Vec<Setting>,
    /// Everything read, with its source.
    pub evidence: Vec<Evidence>,
}

/// What the operating system enforces for removable mass storage.
#[derive(Debug, Clone, PartialEq)]
pub enum StorageControl {
    /// Mass storage cannot be used at all, and by what.
    Blocked {
        /// The control in force, e.g. "install usb-storage /bin/false in /etc/modprobe.d/usb.conf".
        how: String,
    },
    /// Mass storage can be read but not written, and by what.
    ReadOnly {
        /// The control in force.
        how: String,
    },
    /// Nothing stops mass storage from being written, and why that is the conclusion.
    Allowed {
        /// Why.
        why: String,
    },
    /// The machine did not say.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// A removable volume mounted now.
#[derive(Debug, Clone, PartialEq)]
pub struct RemovableVolume {
    /// Mount point or drive letter.
    pub mount: String,
    /// Device and what it is, e.g. "/dev/sda1 (USB, Kingston DataTraveler)".
    pub device: String,
    /// Whether it is mounted writable.
    pub writable: bool,
    /// Whether it is encrypted; `None` when the machine did not say.
    pub encrypted: Option<bool>,
}

/// Reads the removable-storage controls and mounted removable volumes.
pub fn gather(host: &dyn Host) -> RemovableFacts {
    match host.platform() {
        Platform::Linux => linux::gather(host),
        Platform::Macos => macos::gather(host),
        Platform::Windows => windows::gather(host),
    }
}

/// Judges the facts against the rule.
#[must_use]
pub fn evaluate(facts: &RemovableFacts, rule: &RemovableMediaRule, platform: Platform) -> Finding {
    evaluate_on(facts, rule, &System::unknown(platform))
}

/// Judges the facts against the rule, with fix steps for this system's initramfs tool.
#[must_use]
pub fn evaluate_on(facts: &RemovableFacts, rule: &RemovableMediaRule, system: &System) -> Finding {
    let mode = rule.mode;
    let mut subjects = Vec::new();
    let (control_status, control_summary) = match (&facts.control, mode) {
        (StorageControl::Blocked { how }, _) => {
            (Status::Pass, format!("USB mass storage is blocked: {how}"))
        }
        (StorageControl::ReadOnly { how }, RemovableMediaMode::Block) => (
            Status::Fail,
            format!("USB mass storage is only read-only ({how}); the policy requires it blocked"),
        ),
        (StorageControl::ReadOnly { how }, _) => (
            Status::Pass,
            format!("USB mass storage is read-only: {how}"),
        ),
        (StorageControl::Allowed { why }, RemovableMediaMode::Audit) => (
            Status::Pass,
            format!("USB mass storage is allowed ({why}); audit mode only reports it"),
        ),
        (StorageControl::Allowed { why }, _) => {
            (Status::Fail, format!("USB mass storage is writable: {why}"))
        }
        (StorageControl::Unknown { reason }, RemovableMediaMode::Audit) => (
            Status::Pass,
            format!(
                "could not tell whether USB mass storage is restricted ({reason}); audit mode only reports it"
            ),
        ),
        (StorageControl::Unknown { reason }, _) => (Status::Unknown, reason.clone()),
    };
    subjects.push(Subject {
        kind: "control".to_owned(),
        name: format!("USB mass storage ({} mode)", mode.as_str()),
        status: control_status,
        summary: control_summary.clone(),
        settings: facts.control_settings.clone(),
        enforced: if facts
            .control_settings
            .iter()
            .any(|s| s.enforced == Enforced::Yes)
        {
            Some(Enforced::Yes)
        } else {
            crate::enforcement::all_of(&facts.control_settings)
        },
    });
    for v in &facts.mounted {
        let (status, summary) = match (v.writable, v.encrypted) {
            (true, Some(false)) => (
                Status::Fail,
                format!("{} is mounted writable and is not encrypted", v.device),
            ),
            (true, None) => (
                Status::Unknown,
                format!(
                    "{} is mounted writable; could not tell whether it is encrypted",
                    v.device
                ),
            ),
            (true, Some(true)) => (
                Status::Pass,
                format!("{} is mounted writable and encrypted", v.device),
            ),
            (false, _) => (Status::Pass, format!("{} is mounted read-only", v.device)),
        };
        subjects.push(Subject {
            kind: "device".to_owned(),
            name: v.mount.clone(),
            status,
            summary,
            settings: Vec::new(),
            enforced: None,
        });
    }
    if let Some(reason) = &facts.mounts_unknown {
        subjects.push(Subject {
            kind: "device".to_owned(),
            name: "mounted volumes".to_owned(),
            status: Status::Unknown,
            summary: reason.clone(),
            settings: Vec::new(),
            enforced: None,
        });
    }

    let status = Status::combine(subjects.iter().map(|s| s.status));
    let summary = match status {
        Status::Pass => control_summary,
        _ => {
            let relevant: Vec<&str> = subjects
                .iter()
                .filter(|s| s.status == status)
                .map(|s| s.summary.as_str())
                .collect();
            relevant.join("; ")
        }
    };
    let remediation = if status == Status::Fail {
        remediation(system, facts, mode)
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

fn remediation(system: &System, facts: &RemovableFacts, mode: RemovableMediaMode) -> Vec<String> {
    let mut steps = Vec::new();
    if facts
        .mounted
        .iter()
        .any(|v| v.writable && v.encrypted != Some(true))
    {
        steps.push("Eject the unencrypted removable drive now; do not copy company information to it. Use an encrypted drive or the company's shared storage instead.".to_owned());
    }
    let control_fails = match &facts.control {
        StorageControl::Allowed { .. } => mode != RemovableMediaMode::Audit,
        StorageControl::ReadOnly { .. } => mode == RemovableMediaMode::Block,
        _ => false,
    };
    if control_fails {
        match system.platform {
            Platform::Linux => {
                // The initramfs carries its own copy of modprobe.d; without a rebuild the old
                // one can load usb-storage at boot.
                let initramfs = match system.distro {
                    Distro::Debian | Distro::Ubuntu => "update-initramfs -u",
                    Distro::Fedora => "dracut -f",
                    Distro::Unknown => {
                        "update-initramfs -u (Debian, Ubuntu) or dracut -f (Fedora, RHEL)"
                    }
                };
                steps.push(format!("As root: echo 'install usb-storage /bin/false' > /etc/modprobe.d/posture-usb-storage.conf, unload the driver (`modprobe -r uas usb_storage`) or reboot, then {initramfs}"));
                steps.push("Alternatively enforce it with USBGuard: a rule `reject with-interface one-of { 08:*:* }` and the usbguard service enabled.".to_owned());
            }
            Platform::Macos => {
                steps.push(format!(
                    "Ask IT to install the configuration profile that sets the mount controls for external disks to {} (com.apple.systemuiserver mount-controls, or a Restrictions payload in the MDM).",
                    if mode == RemovableMediaMode::Block { "deny" } else { "read-only" }
                ));
            }
            Platform::Windows => {
                if mode == RemovableMediaMode::Block {
                    steps.push("Ask IT to apply the policy Computer Configuration > Administrative Templates > System > Removable Storage Access > \"All Removable Storage classes: Deny all access\", or to disable both USB storage drivers (Start = 4 for the USBSTOR and UASPStor services; USBSTOR alone does not stop USB Attached SCSI drives).".to_owned());
                } else {
                    steps.push("Ask IT to apply the policy \"Removable Disks: Deny write access\" (Administrative Templates > System > Removable Storage Access), or BitLocker's \"Deny write access to removable drives not protected by BitLocker\" together with \"Deny write access to fixed drives not protected by BitLocker\" (USB SSDs report as fixed drives).".to_owned());
                }
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(mode: RemovableMediaMode) -> RemovableMediaRule {
        RemovableMediaRule {
            enabled: true,
            clause: "Device Policy 6".into(),
            require_enforced: false,
            mode,
        }
    }

    fn facts(control: StorageControl, mounted: Vec<RemovableVolume>) -> RemovableFacts {
        RemovableFacts {
            control,
            mounted,
            mounts_unknown: None,
            control_settings: Vec::new(),
            evidence: vec![],
        }
    }

    fn stick(writable: bool, encrypted: Option<bool>) -> RemovableVolume {
        RemovableVolume {
            mount: "/media/alice/STICK".into(),
            device: "/dev/sda1".into(),
            writable,
            encrypted,
        }
    }

    #[test]
    fn read_only_control_passes_read_only_mode_but_fails_block_mode() {
        let f = facts(StorageControl::ReadOnly { how: "x".into() }, vec![]);
        assert_eq!(
            evaluate(&f, &rule(RemovableMediaMode::ReadOnly), Platform::Macos).status,
            Status::Pass
        );
        assert_eq!(
            evaluate(&f, &rule(RemovableMediaMode::Block), Platform::Macos).status,
            Status::Fail
        );
    }

    #[test]
    fn a_writable_unencrypted_stick_fails_every_mode_even_audit() {
        for mode in [
            RemovableMediaMode::Block,
            RemovableMediaMode::ReadOnly,
            RemovableMediaMode::Audit,
        ] {
            let f = facts(
                StorageControl::Blocked { how: "x".into() },
                vec![stick(true, Some(false))],
            );
            let finding = evaluate(&f, &rule(mode), Platform::Linux);
            assert_eq!(finding.status, Status::Fail, "{mode:?}");
            assert!(!finding.remediation.is_empty());
        }
    }

    #[test]
    fn audit_mode_passes_an_allowed_machine_with_nothing_mounted() {
        let f = facts(
            StorageControl::Allowed {
                why: "no rule".into(),
            },
            vec![],
        );
        assert_eq!(
            evaluate(&f, &rule(RemovableMediaMode::Audit), Platform::Linux).status,
            Status::Pass
        );
        assert_eq!(
            evaluate(&f, &rule(RemovableMediaMode::ReadOnly), Platform::Linux).status,
            Status::Fail
        );
    }

    #[test]
    fn an_unknown_control_is_unknown_outside_audit_mode() {
        let f = facts(
            StorageControl::Unknown {
                reason: "unreadable".into(),
            },
            vec![],
        );
        assert_eq!(
            evaluate(&f, &rule(RemovableMediaMode::ReadOnly), Platform::Linux).status,
            Status::Unknown
        );
    }

    #[test]
    fn a_writable_stick_of_unknown_encryption_is_not_a_pass() {
        let f = facts(
            StorageControl::Blocked { how: "x".into() },
            vec![stick(true, None)],
        );
        assert_eq!(
            evaluate(&f, &rule(RemovableMediaMode::ReadOnly), Platform::Linux).status,
            Status::Unknown
        );
    }
}
