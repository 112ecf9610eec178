//! The check as the live daemon runs it: the same report as `posture --check`, gathered through
//! the Host's recorder so the paths it read can be watched (see `posture_client::live`).

use posture_client::live::{ReadSet, ReadSlot};
use posture_policy::Policy;
use posture_schema::Report;

use crate::cli::CheckArgs;

/// Runs the checks (with the same limits as `posture --check`), leaves the paths read in `slot`
/// and returns the report.
pub(super) fn check_and_note_reads(
    args: &CheckArgs,
    policy: &Policy,
    slot: &ReadSlot,
) -> anyhow::Result<Report> {
    super::super::check::produce_report_noting_reads(
        args,
        policy,
        None,
        Some(&|bundle| {
            slot.put(ReadSet {
                files: bundle
                    .files
                    .keys()
                    .chain(bundle.links.keys())
                    .cloned()
                    .collect(),
                dirs: bundle.dirs.keys().cloned().collect(),
                commands: bundle.commands.iter().map(|c| c.argv.clone()).collect(),
            });
        }),
    )
}
