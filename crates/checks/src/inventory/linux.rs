//! Linux inventory, from files only: `/etc/os-release`, the kernel's host name and release,
//! DMI identity in sysfs and `/etc/machine-id`.

use posture_host::Host;
use posture_schema::{Device, Hardware, OsInfo};

use super::meaningful;
use crate::accounts;

pub(super) fn gather(host: &dyn Host) -> Device {
    let text = |path: &str| host.read_text(path).ok().and_then(|t| meaningful(&t));
    let os_release = host
        .read_text("/etc/os-release")
        .or_else(|_| host.read_text("/usr/lib/os-release"))
        .map(|t| parse_os_release(&t))
        .unwrap_or_default();
    let field = |k: &str| {
        os_release
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let vendor = text("/sys/class/dmi/id/sys_vendor");
    // Lenovo keeps the marketing name in product_version and a part number in product_name.
    let model = match (
        text("/sys/class/dmi/id/product_name"),
        text("/sys/class/dmi/id/product_version"),
    ) {
        (Some(name), Some(version)) if vendor.as_deref() == Some("LENOVO") => {
            Some(format!("{version} ({name})"))
        }
        (Some(name), _) => Some(name),
        (None, version) => version,
    };
    let mut scratch = Vec::new();
    let users = accounts::human_accounts(host, &mut scratch)
        .map(|a| a.into_iter().map(|a| a.name).collect())
        .unwrap_or_default();
    Device {
        hostname: text("/proc/sys/kernel/hostname").or_else(|| text("/etc/hostname")),
        os: OsInfo {
            family: "linux".to_owned(),
            name: field("NAME"),
            version: field("VERSION_ID").or_else(|| field("BUILD_ID")),
            build: field("BUILD_ID").filter(|b| b != "rolling"),
            kernel: text("/proc/sys/kernel/osrelease"),
        },
        hardware: Hardware {
            vendor,
            model,
            serial: text("/sys/class/dmi/id/product_serial"),
        },
        machine_id: text("/etc/machine-id"),
        users,
        mdm: None,
    }
}

/// Parses os-release `KEY=value` lines (values may be quoted, with backslash escapes).
pub(crate) fn parse_os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                return None;
            }
            let (k, v) = line.split_once('=')?;
            let v = v.trim();
            let unquoted = if v.len() >= 2
                && ((v.starts_with('"') && v.ends_with('"'))
                    || (v.starts_with('\'') && v.ends_with('\'')))
            {
                let inner = &v[1..v.len() - 1];
                let mut out = String::new();
                let mut chars = inner.chars();
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        if let Some(n) = chars.next() {
                            out.push(n);
                        }
                    } else {
                        out.push(c);
                    }
                }
                out
            } else {
                v.to_owned()
            };
            Some((k.trim().to_owned(), unquoted))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_values_are_unquoted() {
        let parsed = parse_os_release(
            "NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\n# c\nX='a \\\"b'\n",
        );
        assert_eq!(parsed[0], ("NAME".into(), "Ubuntu".into()));
        assert_eq!(parsed[1], ("VERSION_ID".into(), "24.04".into()));
        assert_eq!(parsed[2], ("ID".into(), "ubuntu".into()));
        assert_eq!(parsed[3], ("X".into(), "a \"b".into()));
    }
}
