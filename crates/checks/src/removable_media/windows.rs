//! Removable media on Windows.
//!
//! Control, strongest first: Removable Storage Access policy (`Deny_All`, or `Deny_Read` /
//! `Deny_Write` on the Removable Disks class), machine scope or in every signed-in user's
//! scope; both USB storage drivers disabled (`USBSTOR` and `UASPStor` `Start` = 4: USB
//! Attached SCSI drives load `UASPStor`, so `USBSTOR` alone does not stop them); the MDM
//! Storage CSP's `RemovableDiskDenyWriteAccess`; BitLocker's `RDVDenyWriteAccess` together with
//! `FDVDenyWriteAccess` (only BitLocker-protected drives are writable: USB SSDs that report as
//! fixed disks are fixed data drives to BitLocker, which `RDVDenyWriteAccess` does not cover).
//! All are registry values read with `reg query`.
//!
//! Mounted volumes: partitions of disks on the USB bus (PowerShell `Get-Disk`), their
//! encryption taken from the BitLocker volume list. A volume is writable unless its own
//! listing says `IsReadOnly` true: a policy is not taken as proof that a mounted volume is
//! read-only.

use posture_host::Host;
use posture_host::powershell;
use posture_host::reg::{self, RegValue};
use posture_schema::{Enforcer, Evidence, Setting};
use serde_json::Value;

use super::{RemovableFacts, RemovableVolume, StorageControl};
use crate::catalog::{self, keys};
use crate::enforcement;
use crate::enforcement::windows::{MdmTrace, Origin, PolicyOrigins, policy_setting};
use crate::evidence;

/// A partition of a USB disk, as the catalog script reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsbVolume {
    /// `E`, or empty.
    pub(crate) drive_letter: String,
    /// `E:\`, `\\?\Volume{...}\`.
    pub(crate) access_paths: Vec<String>,
    /// Disk model.
    pub(crate) model: String,
    /// Whether the disk is read-only.
    pub(crate) read_only: Option<bool>,
    /// `FAT32`, `exFAT`, `NTFS`, or empty.
    pub(crate) file_system: String,
    /// `Removable`, or `Fixed` for USB SSDs that report as fixed disks.
    pub(crate) drive_type: String,
}

/// Parses the catalog script's JSON list of USB partitions.
pub(crate) fn parse_usb_volumes(text: &str) -> Result<Vec<UsbVolume>, String> {
    let objects = powershell::parse_objects(text).map_err(|e| e.to_string())?;
    Ok(objects
        .iter()
        .map(|o| {
            let s = |k: &str| {
                o.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .trim()
                    .to_owned()
            };
            UsbVolume {
                drive_letter: s("DriveLetter").trim_matches('\0').to_owned(),
                access_paths: match o.get("AccessPaths") {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    Some(Value::String(p)) => vec![p.clone()],
                    _ => Vec::new(),
                },
                model: s("Model"),
                read_only: o.get("IsReadOnly").and_then(Value::as_bool),
                file_system: s("FileSystem"),
                drive_type: s("DriveType"),
            }
        })
        .collect())
}

/// (drive letter, device id, protected) for every BitLocker volume: protected when fully
/// encrypted with protection on, or locked (a BitLocker To Go drive not yet unlocked).
fn bitlocker_protected(text: &str) -> Option<Vec<(Option<String>, String, bool)>> {
    let objects = powershell::parse_objects(text).ok()?;
    Some(
        objects
            .iter()
            .map(|o| {
                let n = |k: &str| o.get(k).and_then(Value::as_u64);
                let protected = n("LockStatus") == Some(1)
                    || (n("ConversionStatus") == Some(1) && n("ProtectionStatus") == Some(1));
                (
                    o.get("DriveLetter")
                        .and_then(Value::as_str)
                        .map(str::to_ascii_uppercase),
                    o.get("DeviceID")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    protected,
                )
            })
            .collect(),
    )
}

/// The strongest control found: blocked, else read-only.
fn strongest(findings: &[(String, StorageControl)]) -> Option<&StorageControl> {
    findings
        .iter()
        .map(|(_, c)| c)
        .find(|c| matches!(c, StorageControl::Blocked { .. }))
        .or_else(|| {
            findings
                .iter()
                .map(|(_, c)| c)
                .find(|c| matches!(c, StorageControl::ReadOnly { .. }))
        })
}

fn is_one(v: Option<&RegValue>) -> bool {
    v.and_then(RegValue::as_number) == Some(1)
}

/// Controls found in one Removable Storage Access tree (machine or user scope), from one
/// recursive `reg query`.
fn storage_access(
    host: &dyn Host,
    spec: &posture_host::CommandSpec,
    root: &str,
    subject: Option<&str>,
    ev: &mut Vec<Evidence>,
) -> Result<Option<StorageControl>, String> {
    let keys_found = match catalog::run_reg_query(host, spec, ev)? {
        catalog::Query::Keys(k) => k,
        catalog::Query::Absent => Vec::new(),
    };
    let class = format!(r"{root}\{}", keys::REMOVABLE_DISKS_CLASS);
    let mut get = |key: &str, name: &str| -> bool {
        let v = reg::find_key(&keys_found, key)
            .and_then(|k| k.value(name))
            .cloned();
        let e = evidence::registry(
            key,
            name,
            v.as_ref()
                .map_or_else(|| "absent".to_owned(), RegValue::describe),
        );
        ev.push(match subject {
            Some(s) => evidence::about(e, s),
            None => e,
        });
        is_one(v.as_ref())
    };
    if get(root, "Deny_All") {
        return Ok(Some(StorageControl::Blocked {
            how: format!(r"{root} Deny_All = 1 (all removable storage classes)"),
        }));
    }
    if get(&class, "Deny_Read") {
        return Ok(Some(StorageControl::Blocked {
            how: format!(r"{class} Deny_Read = 1 (Removable Disks: deny read access)"),
        }));
    }
    if get(&class, "Deny_Write") {
        return Ok(Some(StorageControl::ReadOnly {
            how: format!(r"{class} Deny_Write = 1 (Removable Disks: deny write access)"),
        }));
    }
    Ok(None)
}

fn read_control(
    host: &dyn Host,
    users: &[catalog::WindowsUser],
    ev: &mut Vec<Evidence>,
) -> StorageControl {
    let mut found: Vec<(String, StorageControl)> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    // Half measures that do not restrict every USB drive, said in the conclusion.
    let mut notes: Vec<String> = Vec::new();
    let note = |r: Result<Option<StorageControl>, String>,
                found: &mut Vec<(String, StorageControl)>,
                failed: &mut Vec<String>| match r {
        Ok(Some(c)) => found.push((String::new(), c)),
        Ok(None) => {}
        Err(why) => failed.push(why),
    };

    let r = storage_access(
        host,
        &catalog::windows_reg_tree(keys::REMOVABLE_STORAGE),
        keys::REMOVABLE_STORAGE,
        None,
        ev,
    );
    note(r, &mut found, &mut failed);

    let drivers = [keys::USBSTOR, keys::UASPSTOR].map(|key| {
        catalog::reg_values(
            host,
            &catalog::windows_reg_value(key, "Start"),
            key,
            &["Start"],
            ev,
            None,
        )
        .map(|v| v.first().and_then(RegValue::as_number))
    });
    match drivers {
        [Ok(Some(4)), Ok(Some(4))] => found.push((
            String::new(),
            StorageControl::Blocked {
                how: format!(
                    r"{} Start = 4 and {} Start = 4: both USB storage drivers (mass storage and USB Attached SCSI) are disabled",
                    keys::USBSTOR,
                    keys::UASPSTOR
                ),
            },
        )),
        [Ok(Some(4)), Ok(_)] => {
            let why = format!(
                r"{} Start = 4 disables only the USB mass-storage driver: USB Attached SCSI (UAS) drives load UASPStor, which is not disabled",
                keys::USBSTOR
            );
            ev.push(evidence::derived(keys::UASPSTOR, why.clone()));
            notes.push(why);
        }
        [Ok(_), Ok(_)] => {}
        [a, b] => {
            for r in [a, b] {
                if let Err(why) = r {
                    failed.push(why);
                }
            }
        }
    }

    let r = catalog::reg_values(
        host,
        &catalog::windows_reg_key(keys::STORAGE_CSP),
        keys::STORAGE_CSP,
        &["RemovableDiskDenyWriteAccess"],
        ev,
        None,
    )
    .map(|v| {
        is_one(v.first()).then(|| StorageControl::ReadOnly {
            how: format!(
                r"{} RemovableDiskDenyWriteAccess = 1 (MDM)",
                keys::STORAGE_CSP
            ),
        })
    });
    note(r, &mut found, &mut failed);

    // BitLocker's write blocks: RDV for drives that report as removable, FDV for fixed data
    // drives, which USB SSDs that report as fixed disks are.
    let mut rdv: Option<&str> = None;
    let mut fdv: Option<&str> = None;
    for key in [keys::FVE_POLICY, keys::FVE_SYSTEM] {
        match catalog::reg_values(
            host,
            &catalog::windows_reg_key(key),
            key,
            &["RDVDenyWriteAccess", "FDVDenyWriteAccess"],
            ev,
            None,
        ) {
            Ok(v) => {
                let set = |name: &str| is_one(v.iter().find(|x| x.name.eq_ignore_ascii_case(name)));
                if set("RDVDenyWriteAccess") {
                    rdv.get_or_insert(key);
                }
                if set("FDVDenyWriteAccess") {
                    fdv.get_or_insert(key);
                }
            }
            Err(why) => failed.push(why),
        }
    }
    match (rdv, fdv) {
        (Some(r), Some(f)) => found.push((
            String::new(),
            StorageControl::ReadOnly {
                how: format!(
                    r"{r} RDVDenyWriteAccess = 1: only BitLocker-protected removable drives are writable; {f} FDVDenyWriteAccess = 1 covers USB disks that report as fixed"
                ),
            },
        )),
        (Some(r), None) => {
            let why = format!(
                r"{r} RDVDenyWriteAccess = 1 covers only drives that report as removable: USB SSDs that report as fixed disks stay writable without FDVDenyWriteAccess = 1"
            );
            ev.push(evidence::derived(r, why.clone()));
            notes.push(why);
        }
        _ => {}
    }

    // User scope counts only when every signed-in user has it.
    if !users.is_empty() {
        let mut per_user = Vec::new();
        for u in users {
            let root = format!(
                r"HKU\{}\Software\Policies\Microsoft\Windows\RemovableStorageDevices",
                u.sid.as_str()
            );
            match storage_access(
                host,
                &catalog::windows_user_removable_storage(&u.sid),
                &root,
                Some(&u.name),
                ev,
            ) {
                Ok(c) => per_user.push(c),
                Err(why) => failed.push(why),
            }
        }
        if per_user.len() == users.len() && per_user.iter().all(Option::is_some) {
            let weakest = per_user
                .iter()
                .flatten()
                .find(|c| matches!(c, StorageControl::ReadOnly { .. }))
                .or_else(|| per_user.iter().flatten().next())
                .cloned();
            if let Some(c) = weakest {
                found.push((String::new(), c));
            }
        }
    }

    match strongest(&found) {
        Some(c @ StorageControl::Blocked { .. }) => c.clone(),
        _ if !failed.is_empty() => StorageControl::Unknown { reason: failed.join("; ") },
        Some(c) => c.clone(),
        None if notes.is_empty() => StorageControl::Allowed {
            why: "no Removable Storage Access policy, USB storage driver block, Storage CSP write block or BitLocker To Go write block is set".to_owned(),
        },
        None => StorageControl::Allowed {
            why: notes.join("; "),
        },
    }
}

fn mounted(host: &dyn Host, ev: &mut Vec<Evidence>) -> Result<Vec<RemovableVolume>, String> {
    let spec = catalog::windows_usb_volumes();
    let out = evidence::run_ok(host, &spec, ev)?;
    let volumes = parse_usb_volumes(&out.stdout).map_err(|e| {
        let why = format!(
            "{} printed something unrecognised: {e}",
            evidence::command_name(&spec)
        );
        ev.push(evidence::command(&spec, None, why.clone()));
        why
    })?;
    let mounted: Vec<&UsbVolume> = volumes
        .iter()
        .filter(|v| {
            !v.drive_letter.is_empty() || v.access_paths.iter().any(|p| !p.starts_with(r"\\?\"))
        })
        .collect();
    ev.push(evidence::command(
        &spec,
        None,
        if mounted.is_empty() {
            "no volume of a USB disk is mounted".to_owned()
        } else {
            format!(
                "mounted USB volumes: {}",
                mounted
                    .iter()
                    .map(|v| format!(
                        "{}: ({}, {}, {}, IsReadOnly {})",
                        v.drive_letter,
                        v.model,
                        v.file_system,
                        if v.drive_type.is_empty() {
                            "drive type not given"
                        } else {
                            &v.drive_type
                        },
                        evidence::shown(v.read_only)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    ));
    if mounted.is_empty() {
        return Ok(Vec::new());
    }
    // Their encryption, from the BitLocker volume list.
    let bl_spec = catalog::windows_bitlocker_volumes();
    let bitlocker = evidence::run_ok(host, &bl_spec, ev)
        .ok()
        .and_then(|o| bitlocker_protected(&o.stdout));
    Ok(mounted
        .into_iter()
        .map(|v| {
            let letter = format!("{}:", v.drive_letter);
            let encrypted = bitlocker.as_ref().map(|list| {
                list.iter()
                    .find(|b| {
                        b.0.as_deref() == Some(letter.as_str()) || v.access_paths.contains(&b.1)
                    })
                    .is_some_and(|b| b.2)
            });
            // Only the volume's own listing says read-only: a policy that should make it so is
            // not proof (UAS drives escape USBSTOR, fixed USB disks escape RDVDenyWriteAccess).
            let writable = v.read_only != Some(true);
            RemovableVolume {
                mount: if v.drive_letter.is_empty() {
                    v.access_paths.first().cloned().unwrap_or_default()
                } else {
                    letter
                },
                device: format!(
                    "{} (USB, {})",
                    v.model,
                    if v.file_system.is_empty() {
                        "unknown file system"
                    } else {
                        &v.file_system
                    }
                ),
                writable,
                encrypted,
            }
        })
        .collect())
}

pub(super) fn gather(host: &dyn Host) -> RemovableFacts {
    let mut ev = Vec::new();
    let users = match catalog::windows_interactive_users(host, &mut ev) {
        Ok(u) => u,
        Err(reason) => {
            return RemovableFacts {
                control: StorageControl::Unknown {
                    reason: reason.clone(),
                },
                mounted: Vec::new(),
                mounts_unknown: None,
                control_settings: Vec::new(),
                evidence: ev,
            };
        }
    };
    let control = read_control(host, &users, &mut ev);
    let control_settings = vec![control_setting(&control, &PolicyOrigins::new(host), &mut ev)];
    let (mounted, mounts_unknown) = match mounted(host, &mut ev) {
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

/// The control in force as a setting: a value under a `\\Policies\\` key is enforced by the GPO
/// the RSoP names, or is local policy (origin not traced when the RSoP is unreadable), the
/// MDM's PolicyManager names the MDM, the drivers' start type is a machine setting only an
/// administrator changes; nothing in force is not enforced.
fn control_setting(
    control: &StorageControl,
    origins: &PolicyOrigins<'_>,
    ev: &mut Vec<Evidence>,
) -> Setting {
    const NAME: &str = "removable storage control";
    match control {
        StorageControl::Blocked { how } | StorageControl::ReadOnly { how } => {
            let words: Vec<&str> = how.split_whitespace().collect();
            let key = words.first().copied().unwrap_or(how).to_owned();
            if how.contains("PolicyManager") {
                return enforcement::enforced(
                    NAME,
                    how.clone(),
                    key.clone(),
                    vec![enforcement::by(
                        Enforcer::MDM_CSP,
                        key,
                        Some("MDM policy (PolicyManager)".to_owned()),
                        Enforcer::BY_MANAGEMENT,
                    )],
                );
            }
            if how.contains(r"\Policies\") {
                // `KEY NAME = 1 ...`, as the control's description writes it.
                let value_name = match words.as_slice() {
                    [_, name, "=", ..] => Some(*name),
                    _ => None,
                };
                let origin = match value_name {
                    Some(name) => origins.registry(&key, name, ev),
                    None => Origin::Unknown(format!("no value name in {how}")),
                };
                return policy_setting(
                    NAME,
                    how.clone(),
                    &key,
                    value_name.unwrap_or(""),
                    &origin,
                    &MdmTrace::NotLooked,
                );
            }
            enforcement::enforced(
                NAME,
                how.clone(),
                key.clone(),
                vec![enforcement::by(
                    Enforcer::SYSTEM_SETTING,
                    key,
                    Some("driver start type (no policy)".to_owned()),
                    Enforcer::BY_LOCAL_ADMIN,
                )],
            )
        }
        StorageControl::Allowed { why } => enforcement::user_set(NAME, why.clone(), "registry"),
        StorageControl::Unknown { reason } => {
            enforcement::unknown(NAME, "unknown", "registry", reason.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usb_partitions_keep_letter_paths_and_read_only_flag() {
        let text = r#"[{"DiskNumber":2,"Model":"SanDisk Ultra USB 3.0","IsReadOnly":false,"DriveLetter":"E","AccessPaths":["E:\\","\\\\?\\Volume{6b1c0000-0000-0000-0000-000000000001}\\"],"FileSystem":"exFAT","DriveType":"Removable"}]"#;
        let v = parse_usb_volumes(text).unwrap();
        assert_eq!(v[0].drive_letter, "E");
        assert_eq!(v[0].access_paths.len(), 2);
        assert_eq!(v[0].read_only, Some(false));
        assert_eq!(parse_usb_volumes("[]").unwrap(), vec![]);
    }

    proptest! {
        #[test]
        fn arbitrary_output_never_panics(text in "\\PC{0,300}") {
            let _ = parse_usb_volumes(&text);
        }
    }
}
