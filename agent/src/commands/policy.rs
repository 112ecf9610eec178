//! `posture policy show`.

use std::path::Path;
use std::process::ExitCode;

use crate::{commands::check::load_policy, exit, output};

/// Prints the effective policy text with where it came from.
pub(crate) fn show(path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let policy = load_policy(path)?;
    output::policy(&policy)?;
    Ok(exit::success())
}
