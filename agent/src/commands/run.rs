//! `posture run`: Run in the background: check on a schedule and report to the endpoint.

use std::process::ExitCode;

/// Arguments of `posture run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {}

/// Runs `posture run`.
pub(crate) fn execute(_args: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`posture run` is not available in this build yet")
}
