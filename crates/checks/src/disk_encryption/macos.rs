//! FileVault on macOS, from `fdesetup status`.
//!
//! `fdesetup status` is the operating system's own answer for the startup volume group (whose
//! Data volume holds user data). It is read for its progress and deferral lines first, because
//! those outputs also contain a "FileVault is Off." or "On." headline that alone would mislead.
//! "Encrypted at rest" on Apple silicon and T2 Macs (the hardware key without the user's
//! password) is not FileVault and is never counted as encryption here.

use posture_host::Host;

use super::{EncryptionFacts, EncryptionState, Volume, VolumeRole};
use crate::{catalog, evidence};

/// What `fdesetup status` says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FileVaultStatus {
    /// `FileVault is On.`
    On,
    /// `FileVault is On, but needs to be restarted to finish.`
    OnRestartPending,
    /// `FileVault is Off.`
    Off,
    /// `FileVault is Off, but will be enabled after the next restart.`
    EnabledAfterRestart,
    /// `FileVault is Off, but needs to be restarted to finish.` (decryption finishing)
    OffRestartPending,
    /// `Encryption in progress: Percent completed = N`
    Encrypting(Option<f64>),
    /// `Decryption in progress: Percent completed = N`
    Decrypting(Option<f64>),
    /// `Deferred enablement appears to be active for user 'NAME'.`
    Deferred(String),
}

/// Parses `fdesetup status` output. `None` when no known headline or progress line is present,
/// or when an unknown line stands where a state line is expected.
#[must_use]
pub(crate) fn parse_fdesetup_status(text: &str) -> Option<FileVaultStatus> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // Progress and deferral lines decide before the headline.
    for line in &lines {
        if let Some(rest) = line.strip_prefix("Encryption in progress:") {
            return Some(FileVaultStatus::Encrypting(percent(rest)));
        }
        if let Some(rest) = line.strip_prefix("Decryption in progress:") {
            return Some(FileVaultStatus::Decrypting(percent(rest)));
        }
        if let Some(rest) = line.strip_prefix("Deferred enablement appears to be active for user '")
        {
            let user = rest.strip_suffix("'.").unwrap_or(rest).to_owned();
            return Some(FileVaultStatus::Deferred(user));
        }
    }
    let headline = lines.iter().find(|l| l.starts_with("FileVault is "))?;
    match *headline {
        "FileVault is On." => Some(FileVaultStatus::On),
        "FileVault is On, but needs to be restarted to finish." => {
            Some(FileVaultStatus::OnRestartPending)
        }
        "FileVault is Off." => Some(FileVaultStatus::Off),
        "FileVault is Off, but will be enabled after the next restart." => {
            Some(FileVaultStatus::EnabledAfterRestart)
        }
        "FileVault is Off, but needs to be restarted to finish." => {
            Some(FileVaultStatus::OffRestartPending)
        }
        _ => None,
    }
}

/// `" Percent completed = 42.17"` -> 42.17.
fn percent(rest: &str) -> Option<f64> {
    let value = rest.rsplit_once('=')?.1.trim().trim_end_matches('%');
    value
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
}

/// Maps what `fdesetup` says to an encryption state.
#[must_use]
pub(crate) fn state_of(status: &FileVaultStatus) -> EncryptionState {
    match status {
        FileVaultStatus::On => EncryptionState::Encrypted {
            method: "FileVault".to_owned(),
        },
        // Treated as not yet done: the restart may still be refused or postponed.
        FileVaultStatus::OnRestartPending => EncryptionState::InProgress {
            detail: "FileVault was turned on and needs a restart to finish".to_owned(),
            percent: None,
        },
        FileVaultStatus::Off => EncryptionState::NotEncrypted {
            detail: "FileVault is off".to_owned(),
        },
        FileVaultStatus::EnabledAfterRestart => EncryptionState::Unprotected {
            detail: "FileVault is off; it will be enabled after the next restart".to_owned(),
        },
        FileVaultStatus::OffRestartPending => EncryptionState::InProgress {
            detail: "FileVault was turned off and a restart finishes decryption".to_owned(),
            percent: None,
        },
        FileVaultStatus::Encrypting(p) => EncryptionState::InProgress {
            detail: "FileVault encryption in progress".to_owned(),
            percent: *p,
        },
        FileVaultStatus::Decrypting(p) => EncryptionState::InProgress {
            detail: "FileVault decryption in progress".to_owned(),
            percent: *p,
        },
        FileVaultStatus::Deferred(user) => EncryptionState::Unprotected {
            detail: format!(
                "FileVault enablement is deferred until {user} logs out or in; the disk is not encrypted yet"
            ),
        },
    }
}

pub(super) fn gather(host: &dyn Host) -> EncryptionFacts {
    let mut ev = Vec::new();
    let spec = catalog::macos_filevault_status();
    let state = match evidence::run_ok(host, &spec, &mut ev) {
        Ok(out) => match parse_fdesetup_status(&out.stdout) {
            Some(status) => {
                ev.push(evidence::command(
                    &spec,
                    None,
                    out.stdout.trim().replace('\n', " / "),
                ));
                state_of(&status)
            }
            None => {
                let reason = evidence::unrecognised(&spec, &out.stdout, &mut ev, None);
                EncryptionState::Unknown { reason }
            }
        },
        Err(reason) => EncryptionState::Unknown { reason },
    };
    EncryptionFacts {
        volumes: vec![Volume {
            name: "/".to_owned(),
            device: "the startup volume group (FileVault)".to_owned(),
            role: VolumeRole::System,
            state,
        }],
        undecided: None,
        evidence: ev,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn progress_lines_win_over_the_headline() {
        assert_eq!(
            parse_fdesetup_status(
                "FileVault is Off.\nEncryption in progress: Percent completed = 42.17\n"
            ),
            Some(FileVaultStatus::Encrypting(Some(42.17)))
        );
        assert_eq!(
            parse_fdesetup_status(
                "FileVault is On.\nDecryption in progress: Percent completed = 35.0\n"
            ),
            Some(FileVaultStatus::Decrypting(Some(35.0)))
        );
        assert_eq!(
            parse_fdesetup_status(
                "FileVault is Off.\nDeferred enablement appears to be active for user 'jdoe'.\n"
            ),
            Some(FileVaultStatus::Deferred("jdoe".into()))
        );
    }

    #[test]
    fn every_headline_is_recognised_exactly() {
        assert_eq!(
            parse_fdesetup_status("FileVault is On.\n"),
            Some(FileVaultStatus::On)
        );
        assert_eq!(
            parse_fdesetup_status("FileVault is Off.\n"),
            Some(FileVaultStatus::Off)
        );
        assert_eq!(
            parse_fdesetup_status(
                "FileVault is Off, but will be enabled after the next restart.\n"
            ),
            Some(FileVaultStatus::EnabledAfterRestart)
        );
        assert_eq!(
            parse_fdesetup_status("FileVault is On, but needs to be restarted to finish.\n"),
            Some(FileVaultStatus::OnRestartPending)
        );
        assert_eq!(parse_fdesetup_status("FileVault is Maybe.\n"), None);
        assert_eq!(parse_fdesetup_status(""), None);
    }

    #[test]
    fn only_on_counts_as_encrypted() {
        let all = [
            FileVaultStatus::OnRestartPending,
            FileVaultStatus::Off,
            FileVaultStatus::EnabledAfterRestart,
            FileVaultStatus::OffRestartPending,
            FileVaultStatus::Encrypting(None),
            FileVaultStatus::Decrypting(Some(1.0)),
            FileVaultStatus::Deferred("x".into()),
        ];
        for s in all {
            assert!(
                !matches!(state_of(&s), EncryptionState::Encrypted { .. }),
                "{s:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn arbitrary_output_never_panics(text in "\\PC{0,300}") {
            let _ = parse_fdesetup_status(&text);
        }

        #[test]
        fn progress_lines_with_arbitrary_numbers_never_panic(n in "[0-9.=% -]{0,12}") {
            let _ = parse_fdesetup_status(&format!("FileVault is On.\nEncryption in progress: Percent completed = {n}\n"));
        }
    }
}
