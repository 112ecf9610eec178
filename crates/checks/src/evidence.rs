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
            let why = format!(
                "{} exited with status {}: {}",
                spec.display(),
                out.status
                    .map_or_else(|| "signal".to_owned(), |s| s.to_string()),
                first_line(if out.stderr.trim().is_empty() {
                    &out.stdout
                } else {
                    &out.stderr
                })
            );
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
        spec.display(),
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
    format!("{} failed: {err}", spec.display())
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
