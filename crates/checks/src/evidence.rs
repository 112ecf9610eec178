//! Building evidence records: every fact a probe uses is written down with its source.

use posture_host::{CommandError, CommandOutput, CommandSpec, Host, ReadError};
use posture_schema::{Evidence, EvidenceKind};

/// Evidence read from a file, optionally about one key in it.
#[must_use]
pub fn file(path: &str, key: Option<&str>, value: impl Into<String>) -> Evidence {
    Evidence {
        kind: EvidenceKind::File,
        source: path.to_owned(),
        key: key.map(str::to_owned),
        value: value.into(),
        subject: None,
    }
}

/// Evidence from a directory listing.
#[must_use]
pub fn directory(path: &str, value: impl Into<String>) -> Evidence {
    Evidence {
        kind: EvidenceKind::Directory,
        source: path.to_owned(),
        key: None,
        value: value.into(),
        subject: None,
    }
}

/// Evidence from a catalog command.
#[must_use]
pub fn command(spec: &CommandSpec, key: Option<&str>, value: impl Into<String>) -> Evidence {
    Evidence {
        kind: EvidenceKind::Command,
        source: spec.display(),
        key: key.map(str::to_owned),
        value: value.into(),
        subject: None,
    }
}

/// Evidence from a Windows registry value.
#[must_use]
pub fn registry(path: &str, name: &str, value: impl Into<String>) -> Evidence {
    Evidence {
        kind: EvidenceKind::Registry,
        source: path.to_owned(),
        key: Some(name.to_owned()),
        value: value.into(),
        subject: None,
    }
}

/// A conclusion drawn from other evidence.
#[must_use]
pub fn derived(source: &str, value: impl Into<String>) -> Evidence {
    Evidence {
        kind: EvidenceKind::Derived,
        source: source.to_owned(),
        key: None,
        value: value.into(),
        subject: None,
    }
}

/// Marks evidence as being about one subject (a user, a volume).
#[must_use]
pub fn about(mut evidence: Evidence, subject: &str) -> Evidence {
    evidence.subject = Some(subject.to_owned());
    evidence
}

/// Describes a read failure for evidence and summaries: "permission denied", "not found".
#[must_use]
pub fn read_failure(path: &str, err: &ReadError) -> String {
    format!("could not read {path}: {err}")
}

/// Runs a catalog command and returns its output if it exited 0; otherwise returns the reason
/// (program missing, timed out, non-zero exit with its stderr) and records it as evidence.
pub fn run_ok(
    host: &dyn Host,
    spec: &CommandSpec,
    evidence: &mut Vec<Evidence>,
) -> Result<CommandOutput, String> {
    match host.run(spec) {
        Ok(out) if out.success() => Ok(out),
        Ok(out) => {
            let why = exit_failure(spec, &out);
            evidence.push(command(spec, None, why.clone()));
            Err(why)
        }
        Err(e) => {
            let why = command_failure(spec, &e);
            evidence.push(command(spec, None, why.clone()));
            Err(why)
        }
    }
}

/// Records that a command's output was not what its parser knows, and returns that reason for an
/// `unknown` verdict: output that cannot be read is never taken as a pass.
pub fn unrecognised(
    spec: &CommandSpec,
    stdout: &str,
    evidence: &mut Vec<Evidence>,
    subject: Option<&str>,
) -> String {
    let why = format!(
        "{} printed something unrecognised: {}",
        command_name(spec),
        first_line(stdout)
    );
    let record = command(spec, None, why.clone());
    evidence.push(match subject {
        Some(s) => about(record, s),
        None => record,
    });
    why
}

/// Describes a command failure for evidence and summaries.
#[must_use]
pub fn command_failure(spec: &CommandSpec, err: &CommandError) -> String {
    let hint = match err {
        CommandError::PermissionDenied => privilege_hint(spec),
        _ => String::new(),
    };
    format!("{} failed: {err}{hint}", command_name(spec))
}

/// Describes a command that ran but exited non-zero: the exit status and the first line it
/// printed (standard error first), with a hint when it says access was denied.
#[must_use]
pub fn exit_failure(spec: &CommandSpec, out: &CommandOutput) -> String {
    let said = first_line(if out.stderr.trim().is_empty() {
        &out.stdout
    } else {
        &out.stderr
    });
    let status = match out.status {
        Some(s) => format!("exited with status {s}"),
        None => "was ended by a signal".to_owned(),
    };
    let denied = said.to_ascii_lowercase().contains("denied")
        || said.contains("Access to a CIM resource was not available")
        || out.status == Some(WBEM_E_ACCESS_DENIED);
    let hint = if denied {
        privilege_hint(spec)
    } else {
        String::new()
    };
    format!("{} {status}: {said}{hint}", command_name(spec))
}

/// The exit status of Windows tools refused by WMI for lack of rights (0x80041003).
const WBEM_E_ACCESS_DENIED: i32 = -2_147_217_405;

/// What to do when the machine refused a command for lack of rights.
fn privilege_hint(spec: &CommandSpec) -> String {
    if spec.program.starts_with("C:\\") {
        " (this can be read only as Administrator or SYSTEM: run posture as Administrator)"
            .to_owned()
    } else {
        " (this can be read only as root: run posture as root)".to_owned()
    }
}

/// A command as named in reasons people read: the program and its arguments, but never a whole
/// PowerShell script nor the `launchctl asuser ... sudo -u ...` wrapper around a per-user
/// command. Windows programs are named without their directory and without `/reg:64`.
#[must_use]
pub fn command_name(spec: &CommandSpec) -> String {
    let quote = |a: &String| {
        if a.is_empty() || a.contains(char::is_whitespace) {
            format!("'{a}'")
        } else {
            a.clone()
        }
    };
    let windows = spec.program.starts_with("C:\\");
    let base = |p: &str| {
        p.rsplit(if windows { '\\' } else { '/' })
            .next()
            .unwrap_or(p)
            .to_owned()
    };
    if windows && base(&spec.program).eq_ignore_ascii_case("powershell.exe") {
        let script = spec.args.last().map_or("", String::as_str);
        let what = POWERSHELL_QUERIES
            .iter()
            .find(|(needle, _)| script.contains(needle))
            .map_or("a query", |(_, what)| what);
        return format!("PowerShell ({what})");
    }
    // launchctl asuser UID /usr/bin/sudo -u USER PROGRAM ARGS...
    if spec.program == "/bin/launchctl"
        && spec.args.first().is_some_and(|a| a == "asuser")
        && spec.args.len() >= 6
    {
        let user = &spec.args[4];
        let inner: Vec<String> = spec.args[5..].iter().map(quote).collect();
        return format!("{} (as {user})", inner.join(" "));
    }
    let mut words = vec![if windows {
        base(&spec.program)
    } else {
        quote(&spec.program)
    }];
    words.extend(
        spec.args
            .iter()
            .filter(|a| !(windows && a.eq_ignore_ascii_case("/reg:64")))
            .map(quote),
    );
    words.join(" ")
}

/// What each catalog PowerShell script asks, found by a word only that script contains.
const POWERSHELL_QUERIES: &[(&str, &str)] = &[
    (
        "Win32_EncryptableVolume",
        "BitLocker volumes, Win32_EncryptableVolume",
    ),
    ("Get-Disk", "partitions of USB disks, Get-Disk"),
    ("Win32_ComputerSystem", "inventory"),
    ("secedit.exe", "password policy, secedit /export"),
    ("Get-LocalUser", "local accounts, Get-LocalUser"),
];

/// A duration as every check prints it, on every platform: "5 s", "10 min 5 s", "15 min",
/// "1 h 5 min". Exact: nothing is rounded.
#[must_use]
pub fn duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}

/// A value that may be missing, as people read it: the value, or "absent" (never Rust's
/// `Some(..)`/`None`).
#[must_use]
pub fn shown<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "absent".to_owned(), |v| v.to_string())
}

/// A list of numbers as people read it: "1, 3", or "none".
#[must_use]
pub fn listed(values: &[u64]) -> String {
    if values.is_empty() {
        "none".to_owned()
    } else {
        values
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The first non-empty line of a text, trimmed (for one-line summaries of command output).
#[must_use]
pub fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no output)")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    #[test]
    fn a_powershell_command_is_named_by_what_it_asks_never_by_its_script() {
        let name = command_name(&catalog::windows_bitlocker_volumes());
        assert_eq!(
            name,
            "PowerShell (BitLocker volumes, Win32_EncryptableVolume)"
        );
        let name = command_name(&catalog::windows_usb_volumes());
        assert!(!name.contains("Get-Partition"), "{name}");
    }

    #[test]
    fn a_per_user_command_is_named_without_its_launchctl_wrapper() {
        let user = catalog::ConsoleUser::new("jdoe", 501).unwrap();
        assert_eq!(
            command_name(&catalog::macos_screen_lock_status(&user)),
            "/usr/sbin/sysadminctl -screenLock status (as jdoe)"
        );
    }

    #[test]
    fn a_windows_command_is_named_without_its_directory_and_view_switch() {
        assert_eq!(
            command_name(&catalog::windows_reg_value(catalog::keys::USBSTOR, "Start")),
            r"reg.exe query HKLM\SYSTEM\CurrentControlSet\Services\USBSTOR /v Start"
        );
    }

    #[test]
    fn a_refused_command_says_its_status_its_words_and_how_to_get_the_rights() {
        let out = CommandOutput {
            status: Some(-2_147_217_405),
            stdout: String::new(),
            stderr: "ERROR: An attempt to access a required resource was denied.\r\n".into(),
        };
        let why = exit_failure(&catalog::windows_bitlocker_volumes(), &out);
        assert!(why.contains("exited with status -2147217405"), "{why}");
        assert!(why.contains("run posture as Administrator"), "{why}");
        assert!(!why.contains("$ns="), "{why}");
        let killed = CommandOutput {
            status: None,
            stdout: String::new(),
            stderr: String::new(),
        };
        let why = exit_failure(&catalog::macos_filevault_status(), &killed);
        assert_eq!(
            why,
            "/usr/bin/fdesetup status was ended by a signal: (no output)"
        );
    }

    #[test]
    fn missing_values_read_as_words() {
        assert_eq!(shown(Some(false)), "false");
        assert_eq!(shown::<u64>(None), "absent");
        assert_eq!(listed(&[1, 3]), "1, 3");
        assert_eq!(listed(&[]), "none");
    }
}
