//! Inventory for macOS: `scutil --get ComputerName`, `sw_vers`, `system_profiler
//! SPHardwareDataType -json`, the console user and `profiles status -type enrollment`.

use posture_host::Host;
use posture_schema::{Device, Hardware, Mdm, OsInfo};
use serde_json::Value;

use super::meaningful;
use crate::catalog::{self, Console};

/// Parses `sw_vers` (`Key:<tabs>value` lines) into (name, version, build).
pub(crate) fn parse_sw_vers(text: &str) -> (Option<String>, Option<String>, Option<String>) {
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key)
                .then(|| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        })
    };
    let version = match (field("ProductVersion"), field("ProductVersionExtra")) {
        (Some(v), Some(extra)) => Some(format!("{v} {extra}")),
        (v, _) => v,
    };
    (field("ProductName"), version, field("BuildVersion"))
}

/// Hardware facts from `system_profiler SPHardwareDataType -json`: (model, serial, hardware
/// UUID). Values are kept as JSON values because their types differ between Macs.
pub(crate) fn parse_hardware(
    text: &str,
) -> Option<(Option<String>, Option<String>, Option<String>)> {
    let v: Value = serde_json::from_str(text).ok()?;
    let item = v.get("SPHardwareDataType")?.as_array()?.first()?;
    let s = |k: &str| item.get(k).and_then(Value::as_str).and_then(meaningful);
    let model = match (s("machine_name"), s("machine_model")) {
        (Some(name), Some(id)) => Some(format!("{name} ({id})")),
        (name, id) => name.or(id),
    };
    Some((model, s("serial_number"), s("platform_UUID")))
}

/// Parses `profiles status -type enrollment`.
pub(crate) fn parse_enrollment(text: &str) -> Option<Mdm> {
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_owned())
        })
    };
    let enrollment = field("MDM enrollment")?;
    let enrolled = enrollment.starts_with("Yes");
    let mut detail = vec![format!("MDM enrollment: {enrollment}")];
    if let Some(dep) = field("Enrolled via DEP") {
        detail.push(format!("enrolled via Automated Device Enrollment: {dep}"));
    }
    if let Some(server) = field("MDM server") {
        detail.push(format!("server {server}"));
    }
    Some(Mdm {
        enrolled,
        detail: Some(detail.join("; ")),
    })
}

pub(super) fn gather(host: &dyn Host) -> Device {
    let stdout = |spec: posture_host::CommandSpec| {
        host.run(&spec)
            .ok()
            .filter(posture_host::CommandOutput::success)
            .map(|o| o.stdout)
    };
    let (name, version, build) = stdout(catalog::macos_sw_vers())
        .map(|t| parse_sw_vers(&t))
        .unwrap_or_default();
    let (model, serial, uuid) = stdout(catalog::macos_hardware_overview())
        .and_then(|t| parse_hardware(&t))
        .unwrap_or_default();
    let mut scratch = Vec::new();
    let users = match catalog::macos_console(host, &mut scratch) {
        Ok(Console::User(u)) => vec![u.name().to_owned()],
        _ => Vec::new(),
    };
    Device {
        hostname: stdout(catalog::macos_computer_name()).and_then(|t| meaningful(&t)),
        os: OsInfo {
            family: "macos".to_owned(),
            name,
            version,
            build,
            kernel: None,
        },
        hardware: Hardware {
            vendor: Some("Apple".to_owned()),
            model,
            serial,
        },
        machine_id: uuid,
        users,
        mdm: stdout(catalog::macos_mdm_enrollment()).and_then(|t| parse_enrollment(&t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sw_vers_fields_are_read_with_tabs() {
        let (n, v, b) = parse_sw_vers(
            "ProductName:\t\tmacOS\nProductVersion:\t\t14.6.1\nBuildVersion:\t\t23G93\n",
        );
        assert_eq!(
            (n.as_deref(), v.as_deref(), b.as_deref()),
            (Some("macOS"), Some("14.6.1"), Some("23G93"))
        );
    }

    #[test]
    fn enrollment_without_user_approval_is_still_enrolled() {
        let m = parse_enrollment("Enrolled via DEP: No\nMDM enrollment: Yes\n").unwrap();
        assert!(m.enrolled);
        let m = parse_enrollment("Enrolled via DEP: No\nMDM enrollment: No\n").unwrap();
        assert!(!m.enrolled);
        assert_eq!(parse_enrollment("garbage"), None);
    }

    #[test]
    fn hardware_with_an_integer_processor_count_still_parses() {
        let t = r#"{"SPHardwareDataType":[{"machine_model":"VirtualMac2,1","machine_name":"Apple Virtual Machine 1","number_processors":2,"serial_number":"ZRXQ1MV0KX","platform_UUID":"X"}]}"#;
        let (model, serial, _) = parse_hardware(t).unwrap();
        assert_eq!(
            model.as_deref(),
            Some("Apple Virtual Machine 1 (VirtualMac2,1)")
        );
        assert_eq!(serial.as_deref(), Some("ZRXQ1MV0KX"));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "\\PC{0,300}") {
            let _ = parse_sw_vers(&text);
            let _ = parse_hardware(&text);
            let _ = parse_enrollment(&text);
        }
    }
}
