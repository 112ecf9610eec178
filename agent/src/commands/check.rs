//! `posture --check` / `posture check`: gather, judge, print, exit 0/1/2. No network.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use posture_host::{EvidenceBundle, Host, Recorder, ReplayHost, RootedHost, SystemHost};
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
        Format::Human => output::human(&report, args.verbose),
    }
    Ok(exit::for_posture(report.posture))
}

/// Loads the policy file, or the embedded policy when none is given.
pub(crate) fn load_policy(path: Option<&Path>) -> anyhow::Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::embedded());
    };
    let text = fs_err::read_to_string(path)?;
    Ok(Policy::from_toml(&path.display().to_string(), &text)?)
}

/// Where evidence comes from, chosen by `--root` and `--replay`.
pub(crate) fn open_host(
    args: &CheckArgs,
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
        return Ok((Box::new(RootedHost::new(root)), EvidenceMode::Root));
    }
    Ok((Box::new(SystemHost), EvidenceMode::Live))
}

/// Gathers evidence (recording it when asked), judges it and builds the report.
pub(crate) fn produce_report(
    args: &CheckArgs,
    policy: &Policy,
    device_id: Option<String>,
) -> anyhow::Result<Report> {
    let (host, mode) = open_host(args)?;
    let assessment = match &args.record {
        Some(path) => {
            let recorder = Recorder::new(host);
            let assessment = posture_checks::assess(&recorder, policy);
            let mut bundle = recorder.bundle();
            bundle.comment = Some(format!(
                "recorded by {} {}",
                report::AGENT_NAME,
                report::AGENT_VERSION
            ));
            write_private(path, bundle.to_json().as_bytes()).with_context(|| {
                format!("could not write the evidence bundle {}", path.display())
            })?;
            assessment
        }
        None => posture_checks::assess(&host, policy),
    };
    let mut assessment = assessment;
    if mode != EvidenceMode::Replay && !posture_client::paths::running_as_root() {
        report::suggest_sudo(&mut assessment.findings);
    }
    Ok(report::build(assessment, policy, mode, device_id))
}

/// Writes a file readable by its owner only: bundles hold users' settings.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs_err::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use fs_err::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.sync_all()
}
