//! Exit statuses: the contract scripts and MDM tools rely on.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | compliant: every check passed or does not apply |
//! | 1 | non-compliant: at least one check failed |
//! | 2 | could not decide (a check is unknown or errored), or the command itself failed: bad flags, bad policy or config file, unreadable bundle |

use std::process::ExitCode;

use posture_schema::Posture;

/// Every check passed or does not apply.
pub(crate) const COMPLIANT: u8 = 0;
/// At least one check failed.
pub(crate) const NONCOMPLIANT: u8 = 1;
/// Undecided, or an error (usage, configuration, I/O).
pub(crate) const UNKNOWN_OR_ERROR: u8 = 2;

/// The exit status for an overall verdict.
pub(crate) fn for_posture(posture: Posture) -> ExitCode {
    ExitCode::from(match posture {
        Posture::Compliant => COMPLIANT,
        Posture::Noncompliant => NONCOMPLIANT,
        Posture::Unknown => UNKNOWN_OR_ERROR,
    })
}

/// The exit status for an error.
pub(crate) fn error() -> ExitCode {
    ExitCode::from(UNKNOWN_OR_ERROR)
}

/// Success of a command that is not a verdict (`policy show`, `enroll`, ...).
pub(crate) fn success() -> ExitCode {
    ExitCode::from(COMPLIANT)
}
