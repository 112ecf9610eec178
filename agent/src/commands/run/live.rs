//! The check as the live daemon runs it: the same report as `posture --check`, gathered through
//! the Host's recorder so the paths it read can be watched (see `posture_client::live`).

use posture_client::live::{ReadSet, ReadSlot};
use posture_host::Recorder;
use posture_policy::Policy;
use posture_schema::Report;

use crate::cli::CheckArgs;
use crate::report;

/// Runs the checks, leaves the paths read in `slot` and returns the report.
pub(super) fn check_and_note_reads(
    args: &CheckArgs,
    policy: &Policy,
    slot: &ReadSlot,
) -> anyhow::Result<Report> {
    let (host, mode) = super::super::check::open_host(args)?;
    let recorder = Recorder::new(host);
    let assessment = posture_checks::assess(&recorder, policy);
    let bundle = recorder.bundle();
    slot.put(ReadSet {
        files: bundle
            .files
            .into_keys()
            .chain(bundle.links.into_keys())
            .collect(),
        dirs: bundle.dirs.into_keys().collect(),
    });
    Ok(report::build(assessment, policy, mode, None))
}
