//! `posture --check` / `posture check`: gather, judge, print, exit 0/1/2. No network.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use posture_checks::deadline::SharedHost;
use posture_host::{
    EvidenceBundle, Host, ReadLimits, Recorder, ReplayHost, RootedHost, SystemHost,
};
use posture_policy::Policy;
use posture_schema::{EvidenceMode, Report};

use crate::cli::{CheckArgs, Format};
use crate::{exit, output, report};

/// Runs the checks as the flags say and prints the verdict.
pub(crate) fn execute(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let policy = load_policy(args.policy.as_deref())?;
    let report = produce_report(args, &policy, None)?;
    match args.format {
        Format::Json => output::json(&report)?,
        Format::Human => output::human(&report, args.verbose)?,
    }
    Ok(exit::for_posture(report.posture))
}

/// Loads the policy file, or the embedded policy when none is given.
pub(crate) fn load_policy(path: Option<&Path>) -> anyhow::Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::embedded());
    };
    let text = fs_err::read_to_string(path)?;
    let policy = Policy::from_toml(&path.display().to_string(), &text)?;
    // Said once per load: a site policy written before a check existed keeps working.
    for notice in &policy.notices {
        output::note(notice);
    }
    Ok(policy)
}

/// Where evidence comes from, chosen by `--root` and `--replay`; live reads are held to `limits`.
pub(crate) fn open_host(
    args: &CheckArgs,
    limits: ReadLimits,
) -> anyhow::Result<(Box<dyn Host + Send + Sync>, EvidenceMode)> {
    if let Some(bundle) = &args.replay {
        let text = fs_err::read_to_string(bundle)?;
        let bundle = EvidenceBundle::from_json(&bundle.display().to_string(), &text)?;
        return Ok((Box::new(ReplayHost::new(bundle)), EvidenceMode::Replay));
    }
    if let Some(root) = &args.root {
        let meta = match fs_err::metadata(root) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                anyhow::bail!("--root {}: the directory does not exist", root.display())
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("--root {}: cannot read it", root.display())));
            }
        };
        anyhow::ensure!(meta.is_dir(), "--root {}: not a directory", root.display());
        return Ok((
            Box::new(RootedHost::with_limits(root, limits)),
            EvidenceMode::Root,
        ));
    }
    Ok((Box::new(SystemHost::new(limits)), EvidenceMode::Live))
}

/// Gathers evidence (recording it when asked), judges it and builds the report.
pub(crate) fn produce_report(
    args: &CheckArgs,
    policy: &Policy,
    device_id: Option<String>,
) -> anyhow::Result<Report> {
    produce_report_noting_reads(args, policy, device_id, None)
}

/// What was read during a check, for a caller that wants it (the live daemon watches it).
pub(crate) type NoteReads<'a> = &'a dyn Fn(&EvidenceBundle);

/// [`produce_report`], also handing the evidence read to `note_reads` when given.
pub(crate) fn produce_report_noting_reads(
    args: &CheckArgs,
    policy: &Policy,
    device_id: Option<String>,
    note_reads: Option<NoteReads<'_>>,
) -> anyhow::Result<Report> {
    if let Some(path) = &args.record {
        refuse_link(path)?;
    }
    let limits = ReadLimits {
        max_file_bytes: policy.rules.limits.max_file_bytes,
    };
    let time_limit = policy.rules.limits.check_timeout();
    let (host, mode) = open_host(args, limits)?;
    let assessment = if args.record.is_some() || note_reads.is_some() {
        let recorder = Arc::new(Recorder::new(host));
        let shared: SharedHost = recorder.clone();
        let assessment = posture_checks::assess_within(&shared, policy, time_limit);
        let mut bundle = recorder.bundle();
        if let Some(note) = note_reads {
            note(&bundle);
        }
        if let Some(path) = &args.record {
            bundle.comment = Some(format!(
                "recorded by {} {}",
                report::AGENT_NAME,
                report::AGENT_VERSION
            ));
            write_private(path, bundle.to_json().as_bytes()).with_context(|| {
                format!("could not write the evidence bundle {}", path.display())
            })?;
        }
        assessment
    } else {
        posture_checks::assess_within(&Arc::from(host), policy, time_limit)
    };
    let mut assessment = assessment;
    if mode != EvidenceMode::Replay && !posture_client::paths::running_as_root() {
        report::suggest_sudo(&mut assessment.findings);
    }
    Ok(report::build(assessment, policy, mode, device_id))
}

/// A bundle holds users' settings: it is never written through a symbolic link, which could
/// point anywhere (another user's file, a system file).
fn refuse_link(path: &Path) -> anyhow::Result<()> {
    match fs_err::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => anyhow::bail!(
            "--record {}: is a symbolic link; posture does not write evidence through links, name the file itself",
            path.display()
        ),
        _ => Ok(()),
    }
}

/// Writes a file readable by its owner only: bundles hold users' settings. The bytes go to a
/// new temporary file (random name, created exclusively with mode 0600) in the same directory,
/// which is then renamed over `path`: an existing file is replaced, never rewritten in place,
/// so it cannot keep a wider mode, and a link put in place meanwhile is replaced, not followed.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    refuse_link(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".posture-bundle-")
        .tempfile_in(dir)
        .with_context(|| format!("could not create a temporary file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
