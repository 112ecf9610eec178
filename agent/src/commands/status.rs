//! `posture status`: Show the daemon's state.

use std::process::ExitCode;

/// Arguments of `posture status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {}

/// Runs `posture status`.
pub(crate) fn execute(_args: StatusArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`posture status` is not available in this build yet")
}
