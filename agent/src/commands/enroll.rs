//! `posture enroll`: Enroll this device with a collector.

use std::process::ExitCode;

/// Arguments of `posture enroll`.
#[derive(Debug, clap::Args)]
pub(crate) struct EnrollArgs {}

/// Runs `posture enroll`.
pub(crate) fn execute(_args: EnrollArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`posture enroll` is not available in this build yet")
}
