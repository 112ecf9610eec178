//! `posture config`: Show the effective configuration and where each value came from.

use std::process::ExitCode;

/// Arguments of `posture config`.
#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArgs {}

/// Runs `posture config`.
pub(crate) fn execute(_args: ConfigArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`posture config` is not available in this build yet")
}
