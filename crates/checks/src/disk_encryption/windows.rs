//! BitLocker on Windows, from `Win32_EncryptableVolume` rendered as JSON by PowerShell.
//!
//! The catalog script calls `GetProtectionStatus`, `GetConversionStatus` and `GetLockStatus`
//! for each volume (the cached `ProtectionStatus` property can be stale) and lists the types of
//! key protectors, never their secrets. Numbers, not `manage-bde` prose, so the answer does not
//! depend on the display language. Reading it needs Administrator or SYSTEM: access denied is
//! `unknown`, never a guess.

use posture_host::Host;
use posture_host::powershell;
use serde_json::{Map, Value};

use posture_schema::{Enforcer, Evidence, Setting};

use super::{EncryptionFacts, EncryptionState, Volume, VolumeRole, required_setting};
use crate::catalog::keys;
use crate::enforcement;
use crate::enforcement::windows::{MdmTrace, PolicyOrigins, policy_setting};
use crate::removable_media::windows::{UsbVolume, parse_usb_volumes};
use crate::{catalog, evidence};

/// One volume as the catalog script reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BitLockerVolume {
    /// `\\?\Volume{...}\`.
    pub(crate) device_id: String,
    /// `C:`, or `None` for a volume without a letter.
    pub(crate) drive_letter: Option<String>,
    /// 0 operating system, 1 fixed data, 2 removable data.
    pub(crate) volume_type: Option<u64>,
    /// `GetProtectionStatus`: 0 off, 1 on, 2 unknown.
    pub(crate) protection: Option<u64>,
    /// `GetConversionStatus`: 0..=5.
    pub(crate) conversion: Option<u64>,
    /// Percent encrypted.
    pub(crate) percent: Option<f64>,
    /// `GetLockStatus`: 0 unlocked, 1 locked.
    pub(crate) lock: Option<u64>,
    /// `EncryptionMethod`: 0 none .. 7 XTS-AES 256.
    pub(crate) method: Option<u64>,
    /// Key protector types (1 TPM, 3 numerical password, ...).
    pub(crate) protectors: Vec<u64>,
    /// Return values of the three method calls; non-zero means that call failed.
    pub(crate) return_values: Vec<u64>,
}

fn number(map: &Map<String, Value>, key: &str) -> Option<u64> {
    map.get(key).and_then(Value::as_u64)
}

fn numbers(map: &Map<String, Value>, key: &str) -> Vec<u64> {
    match map.get(key) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_u64).collect(),
        // ConvertTo-Json in PowerShell 5.1 renders a one-element array as the element itself.
        Some(Value::Number(n)) => n.as_u64().into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Parses the catalog script's JSON (an array of volumes, or one volume object). `Err` for
/// anything that is not that.
pub(crate) fn parse_bitlocker_volumes(text: &str) -> Result<Vec<BitLockerVolume>, String> {
    let objects = powershell::parse_objects(text).map_err(|e| e.to_string())?;
    objects
        .iter()
        .map(|o| {
            let device_id = o
                .get("DeviceID")
                .and_then(Value::as_str)
                .ok_or_else(|| "a volume without DeviceID".to_owned())?;
            Ok(BitLockerVolume {
                device_id: device_id.to_owned(),
                drive_letter: o
                    .get("DriveLetter")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_ascii_uppercase),
                volume_type: number(o, "VolumeType"),
                protection: number(o, "ProtectionStatus"),
                conversion: number(o, "ConversionStatus"),
                percent: o.get("EncryptionPercentage").and_then(Value::as_f64),
                lock: number(o, "LockStatus"),
                method: number(o, "EncryptionMethod"),
                protectors: numbers(o, "ProtectorTypes"),
                return_values: numbers(o, "ReturnValues"),
            })
        })
        .collect()
}

fn method_name(method: Option<u64>) -> &'static str {
    match method {
        Some(1) => "AES 128 with Diffuser",
        Some(2) => "AES 256 with Diffuser",
        Some(3) => "AES 128",
        Some(4) => "AES 256",
        Some(5) => "hardware encryption",
        Some(6) => "XTS-AES 128",
        Some(7) => "XTS-AES 256",
        _ => "unknown method",
    }
}

/// The encryption state of one volume, by the decision procedure of the platform notes:
/// locked, then conversion status, then (when fully encrypted) the live protection status.
pub(crate) fn state_of(v: &BitLockerVolume) -> EncryptionState {
    if v.lock == Some(1) {
        return EncryptionState::Encrypted {
            method: "BitLocker (volume locked)".to_owned(),
        };
    }
    if v.return_values.iter().any(|r| *r != 0) {
        return EncryptionState::Unknown {
            reason: format!(
                "BitLocker status calls failed for this volume (return values {})",
                evidence::listed(&v.return_values)
            ),
        };
    }
    match v.conversion {
        Some(0) => EncryptionState::NotEncrypted {
            detail: "BitLocker: fully decrypted".to_owned(),
        },
        Some(2) => EncryptionState::InProgress {
            detail: "BitLocker encryption in progress".to_owned(),
            percent: v.percent,
        },
        Some(3) => EncryptionState::InProgress {
            detail: "BitLocker decryption in progress".to_owned(),
            percent: v.percent,
        },
        Some(4) => EncryptionState::InProgress {
            detail: "BitLocker encryption paused".to_owned(),
            percent: v.percent,
        },
        Some(5) => EncryptionState::InProgress {
            detail: "BitLocker decryption paused".to_owned(),
            percent: v.percent,
        },
        Some(1) => match v.protection {
            Some(1) => EncryptionState::Encrypted {
                method: format!("BitLocker {}", method_name(v.method)),
            },
            Some(0) if v.protectors.is_empty() => EncryptionState::Unprotected {
                detail: "BitLocker is waiting for activation: encrypted with a clear key and no protector".to_owned(),
            },
            Some(0) => EncryptionState::Unprotected {
                detail: "BitLocker protection is suspended: the key is stored in the clear on the disk".to_owned(),
            },
            other => EncryptionState::Unknown {
                reason: format!(
                    "fully encrypted, but the protection status is {}",
                    evidence::shown(other)
                ),
            },
        },
        other => EncryptionState::Unknown {
            reason: format!(
                "unrecognised BitLocker conversion status {}",
                evidence::shown(other)
            ),
        },
    }
}

/// The partitions of USB disks, to tell external volumes from internal ones. `Err` when they
/// could not be listed: fixed data volumes are then judged as internal (the stricter reading).
fn usb_volumes(
    host: &dyn Host,
    ev: &mut Vec<posture_schema::Evidence>,
) -> Result<Vec<UsbVolume>, String> {
    let spec = catalog::windows_usb_volumes();
    let out = evidence::run_ok(host, &spec, ev)?;
    parse_usb_volumes(&out.stdout).map_err(|e| {
        let why = format!(
            "{} printed something unrecognised: {e}; fixed data volumes are judged as internal",
            evidence::command_name(&spec)
        );
        ev.push(evidence::command(&spec, None, why.clone()));
        why
    })
}

pub(super) fn gather(host: &dyn Host) -> EncryptionFacts {
    let mut ev = Vec::new();
    let spec = catalog::windows_bitlocker_volumes();
    let out = match evidence::run_ok(host, &spec, &mut ev) {
        Ok(out) => out,
        Err(reason) => {
            // An access-denied failure already carries the hint to run as Administrator.
            return EncryptionFacts {
                undecided: Some(reason),
                evidence: ev,
                ..EncryptionFacts::default()
            };
        }
    };
    let volumes = match parse_bitlocker_volumes(&out.stdout) {
        Ok(v) => v,
        Err(e) => {
            let reason = format!(
                "{} printed something unrecognised: {e}",
                evidence::command_name(&spec)
            );
            ev.push(evidence::command(&spec, None, reason.clone()));
            return EncryptionFacts {
                undecided: Some(reason),
                evidence: ev,
                ..EncryptionFacts::default()
            };
        }
    };
    // Volumes on the USB bus are external media (the removable media check judges them), even
    // when a USB SSD reports as a fixed disk and BitLocker calls it a fixed data volume.
    let needs_bus = volumes
        .iter()
        .any(|v| v.drive_letter.is_some() && matches!(v.volume_type, Some(1) | None));
    let usb = if needs_bus {
        usb_volumes(host, &mut ev)
    } else {
        Ok(Vec::new())
    };
    let mut judged = Vec::new();
    for v in &volumes {
        let name = v
            .drive_letter
            .clone()
            .unwrap_or_else(|| v.device_id.clone());
        let seen = format!(
            "VolumeType {}, ConversionStatus {}, EncryptionPercentage {}, ProtectionStatus {}, LockStatus {}, EncryptionMethod {}, ProtectorTypes {}",
            evidence::shown(v.volume_type),
            evidence::shown(v.conversion),
            evidence::shown(v.percent),
            evidence::shown(v.protection),
            evidence::shown(v.lock),
            evidence::shown(v.method),
            evidence::listed(&v.protectors)
        );
        ev.push(evidence::about(
            evidence::command(&spec, Some(&name), seen),
            &name,
        ));
        let on_usb = usb.as_ref().is_ok_and(|list| {
            list.iter().any(|u| {
                v.drive_letter.as_deref().is_some_and(|l| {
                    !u.drive_letter.is_empty()
                        && l == format!("{}:", u.drive_letter.to_ascii_uppercase())
                }) || u.access_paths.contains(&v.device_id)
            })
        });
        if on_usb && v.volume_type != Some(0) {
            ev.push(evidence::about(
                evidence::derived(
                    &name,
                    "on a disk whose bus is USB: external media, judged by the removable media check, not as an internal data volume",
                ),
                &name,
            ));
            continue;
        }
        let role = match v.volume_type {
            Some(0) => VolumeRole::System,
            // Letterless data volumes are recovery, OEM or utility partitions.
            Some(1) if v.drive_letter.is_some() => VolumeRole::Data,
            Some(1) => continue,
            // Removable volumes belong to the removable media check.
            Some(2) => continue,
            _ if v.drive_letter.is_some() => VolumeRole::Data,
            _ => continue,
        };
        judged.push(Volume {
            name,
            device: v.device_id.clone(),
            role,
            state: state_of(v),
        });
    }
    let system_settings = match judged.iter().find(|v| v.role == VolumeRole::System) {
        Some(v) => vec![management(host, &v.state, &mut ev)],
        None => Vec::new(),
    };
    EncryptionFacts {
        volumes: judged,
        undecided: None,
        system_settings,
        evidence: ev,
    }
}

/// What requires BitLocker on the operating system drive: the MDM's BitLocker CSP
/// (`RequireDeviceEncryption` = 1 in `PolicyManager`), or MBAM's Group Policy
/// (`UseOsEnforcePolicy` = 1), whose origin the RSoP tells. Other BitLocker policies
/// (`...\Policies\Microsoft\FVE`) say how to encrypt, not that the drive must be.
fn management(host: &dyn Host, state: &EncryptionState, ev: &mut Vec<Evidence>) -> Setting {
    const CSP: &str = "RequireDeviceEncryption";
    const MBAM: &str = "UseOsEnforcePolicy";
    let mut by = Vec::new();
    let mut unread = Vec::new();
    match catalog::reg_values(
        host,
        &catalog::windows_reg_key(keys::BITLOCKER_CSP),
        keys::BITLOCKER_CSP,
        &[CSP],
        ev,
        None,
    ) {
        Ok(v) => {
            if let Some(value) = v.iter().find(|x| x.name.eq_ignore_ascii_case(CSP))
                && value.as_number() == Some(1)
            {
                by.push((
                    enforcement::by(
                        Enforcer::MDM_CSP,
                        format!(r"{}\{CSP}", keys::BITLOCKER_CSP),
                        Some("MDM BitLocker policy (PolicyManager)".to_owned()),
                        Enforcer::BY_MANAGEMENT,
                    ),
                    Vec::new(),
                ));
            }
        }
        Err(why) => unread.push(format!("the MDM's BitLocker policy could not be read: {why}")),
    }
    match catalog::reg_values(
        host,
        &catalog::windows_reg_key(keys::MBAM_POLICY),
        keys::MBAM_POLICY,
        &[MBAM],
        ev,
        None,
    ) {
        Ok(v) => {
            if let Some(value) = v.iter().find(|x| x.name.eq_ignore_ascii_case(MBAM))
                && value.as_number() == Some(1)
            {
                let origins = PolicyOrigins::new(host);
                let origin = origins.registry(keys::MBAM_POLICY, MBAM, ev);
                let s = policy_setting(
                    MBAM,
                    "1",
                    keys::MBAM_POLICY,
                    MBAM,
                    &origin,
                    &MdmTrace::NotLooked,
                );
                by.extend(s.enforced_by.into_iter().map(|e| (e, s.notes.clone())));
            }
        }
        Err(why) => unread.push(format!("MBAM's BitLocker policy could not be read: {why}")),
    }
    required_setting(
        "BitLocker on the operating system drive",
        state,
        "Win32_EncryptableVolume (BitLocker)",
        by,
        unread,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ON: &str = r#"[{"DeviceID":"\\\\?\\Volume{3f1a2b4c-0000-0000-0000-100000000000}\\","DriveLetter":"C:","VolumeType":0,"ProtectionStatus":1,"ConversionStatus":1,"EncryptionPercentage":100,"EncryptionFlags":1,"LockStatus":0,"EncryptionMethod":6,"ProtectorTypes":[1,3],"ReturnValues":[0,0,0]}]"#;

    #[test]
    fn a_protected_fully_encrypted_os_volume_is_encrypted() {
        let v = parse_bitlocker_volumes(ON).unwrap();
        assert_eq!(v[0].drive_letter.as_deref(), Some("C:"));
        assert_eq!(
            state_of(&v[0]),
            EncryptionState::Encrypted {
                method: "BitLocker XTS-AES 128".into()
            }
        );
    }

    #[test]
    fn suspended_and_waiting_for_activation_are_unprotected() {
        let suspended = ON.replace("\"ProtectionStatus\":1", "\"ProtectionStatus\":0");
        let v = parse_bitlocker_volumes(&suspended).unwrap();
        assert!(
            matches!(state_of(&v[0]), EncryptionState::Unprotected { detail } if detail.contains("suspended"))
        );
        let waiting = suspended.replace("[1,3]", "[]");
        let v = parse_bitlocker_volumes(&waiting).unwrap();
        assert!(
            matches!(state_of(&v[0]), EncryptionState::Unprotected { detail } if detail.contains("activation"))
        );
    }

    #[test]
    fn a_single_object_and_a_scalar_protector_list_are_accepted() {
        let one = ON
            .trim_start_matches('[')
            .trim_end_matches(']')
            .replace("[1,3]", "1");
        let v = parse_bitlocker_volumes(&one).unwrap();
        assert_eq!(v[0].protectors, vec![1]);
    }

    #[test]
    fn a_failed_method_call_is_unknown() {
        let failed = ON.replace("[0,0,0]", "[0,2147942402,0]");
        let v = parse_bitlocker_volumes(&failed).unwrap();
        assert!(matches!(state_of(&v[0]), EncryptionState::Unknown { .. }));
    }

    proptest! {
        #[test]
        fn arbitrary_output_never_panics(text in "\\PC{0,300}") {
            if let Ok(vs) = parse_bitlocker_volumes(&text) {
                for v in &vs { let _ = state_of(v); }
            }
        }

        #[test]
        fn arbitrary_numbers_never_panic(conv in any::<i64>(), prot in any::<i64>(), pct in any::<f64>()) {
            let text = format!(r#"{{"DeviceID":"x","VolumeType":0,"ConversionStatus":{conv},"ProtectionStatus":{prot},"EncryptionPercentage":{}}}"#,
                if pct.is_finite() { pct.to_string() } else { "null".into() });
            if let Ok(vs) = parse_bitlocker_volumes(&text) {
                for v in &vs { let _ = state_of(v); }
            }
        }
    }
}
