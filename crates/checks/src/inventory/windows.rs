//! Inventory for Windows: one PowerShell call (registry product and build, CIM maker, model,
//! BIOS serial, console user, machine GUID, MDM enrollments) and the signed-in users.

use posture_host::{Host, powershell};
use posture_schema::{Device, Hardware, Mdm, OsInfo};
use serde_json::{Map, Value};

use super::meaningful;
use crate::catalog;

/// Device facts from the inventory script's JSON object.
pub(crate) fn parse_inventory(text: &str) -> Option<Device> {
    let objects = powershell::parse_objects(text).ok()?;
    let o: &Map<String, Value> = objects.first()?;
    let s = |k: &str| match o.get(k) {
        Some(Value::String(v)) => meaningful(v),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let build = s("CurrentBuild");
    let build_number = build.as_deref().and_then(|b| b.parse::<u64>().ok());
    // ProductName still says "Windows 10" on Windows 11; the build number tells them apart.
    let name = s("ProductName").map(|p| match build_number {
        Some(b) if b >= 22000 && p.starts_with("Windows 10") => {
            p.replacen("Windows 10", "Windows 11", 1)
        }
        _ => p,
    });
    let full_build = match (build, s("UBR")) {
        (Some(b), Some(u)) => Some(format!("{b}.{u}")),
        (b, _) => b,
    };
    let enrollments: Vec<&Map<String, Value>> = match o.get("Enrollments") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_object).collect(),
        Some(Value::Object(one)) => vec![one],
        _ => Vec::new(),
    };
    let active: Vec<String> = enrollments
        .iter()
        .filter(|e| e.get("EnrollmentState").and_then(Value::as_u64) == Some(1))
        .map(|e| {
            let p = e
                .get("ProviderID")
                .and_then(Value::as_str)
                .unwrap_or("unknown provider");
            match e
                .get("UPN")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty())
            {
                Some(upn) => format!("{p} ({upn})"),
                None => p.to_owned(),
            }
        })
        .collect();
    let mdm = Mdm {
        enrolled: !active.is_empty(),
        detail: Some(if active.is_empty() {
            "no active enrollment under HKLM\\SOFTWARE\\Microsoft\\Enrollments".to_owned()
        } else {
            format!("enrolled with {}", active.join(", "))
        }),
    };
    Some(Device {
        hostname: s("ComputerName"),
        os: OsInfo {
            family: "windows".to_owned(),
            name: match (name, s("EditionID")) {
                (Some(n), _) => Some(n),
                (None, e) => e,
            },
            version: s("DisplayVersion"),
            build: full_build,
            kernel: None,
        },
        hardware: Hardware {
            vendor: s("Manufacturer"),
            model: s("Model"),
            serial: s("SerialNumber"),
        },
        machine_id: s("MachineGuid"),
        users: s("UserName").into_iter().collect(),
        mdm: Some(mdm),
    })
}

pub(super) fn gather(host: &dyn Host) -> Device {
    let mut device = host
        .run(&catalog::windows_inventory())
        .ok()
        .filter(posture_host::CommandOutput::success)
        .and_then(|o| parse_inventory(&o.stdout))
        .unwrap_or_else(|| Device {
            os: OsInfo {
                family: "windows".to_owned(),
                ..OsInfo::default()
            },
            ..Device::default()
        });
    let mut scratch = Vec::new();
    if let Ok(users) = catalog::windows_interactive_users(host, &mut scratch) {
        for u in users {
            let known = device.users.iter().any(|d| {
                d.eq_ignore_ascii_case(&u.name)
                    || d.to_ascii_lowercase()
                        .ends_with(&format!("\\{}", u.name.to_ascii_lowercase()))
            });
            if !known {
                device.users.push(u.name);
            }
        }
    }
    device
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn windows_11_is_named_from_the_build_number() {
        let t = r#"{"ComputerName":"LAPTOP-7","ProductName":"Windows 10 Pro","EditionID":"Professional","DisplayVersion":"23H2","CurrentBuild":"22631","UBR":3979,"Manufacturer":"LENOVO","Model":"21AH00BXUS","SerialNumber":"PF3ABCDE","UserName":"CONTOSO\\jdoe","MachineGuid":"g","Enrollments":{"ProviderID":"MS DM Server","EnrollmentState":1,"UPN":"jdoe@contoso.com"}}"#;
        let d = parse_inventory(t).unwrap();
        assert_eq!(d.os.name.as_deref(), Some("Windows 11 Pro"));
        assert_eq!(d.os.build.as_deref(), Some("22631.3979"));
        assert!(d.mdm.unwrap().enrolled);
    }

    proptest! {
        #[test]
        fn arbitrary_output_never_panics(text in "\\PC{0,300}") {
            let _ = parse_inventory(&text);
        }
    }
}
