//! Device inventory for the report (Asset Management Policy: inventory of assets): host name,
//! operating system, hardware, a machine id and the human users.

mod linux;
mod macos;
mod windows;

use posture_host::{Host, Platform};
use posture_schema::Device;

/// os-release `KEY=value` pairs, unquoted (shared with the fix-step tailoring in `system`).
pub(crate) fn linux_os_release(text: &str) -> Vec<(String, String)> {
    linux::parse_os_release(text)
}

/// Values firmware vendors put in DMI fields when they have nothing to say.
const JUNK_VALUES: &[&str] = &[
    "",
    "to be filled by o.e.m.",
    "default string",
    "system serial number",
    "system product name",
    "system manufacturer",
    "not specified",
    "not applicable",
    "none",
    "0",
    "0123456789",
    "123456789",
    "chassis serial number",
];

/// Gathers the device facts; anything the machine does not tell is left empty.
pub fn gather(host: &dyn Host) -> Device {
    match host.platform() {
        Platform::Linux => linux::gather(host),
        Platform::Macos => macos::gather(host),
        Platform::Windows => windows::gather(host),
    }
}

/// Trims a firmware or file value and drops placeholders.
#[must_use]
pub fn meaningful(value: &str) -> Option<String> {
    let v = value.trim();
    if JUNK_VALUES.contains(&v.to_ascii_lowercase().as_str()) {
        None
    } else {
        Some(v.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_placeholders_are_treated_as_absent() {
        assert_eq!(meaningful(" To Be Filled By O.E.M. \n"), None);
        assert_eq!(meaningful("ThinkPad X1\n").as_deref(), Some("ThinkPad X1"));
    }
}
