//! `posture run`: the daemon. Checks at start, every interval (±10%) and when the endpoint asks;
//! spools every report before sending it; exits within a few seconds of SIGTERM or Ctrl-C.
//!
//! The scheduling, spool and delivery are `posture_client::daemon`; this file wires the config,
//! logging, the checks and the service manager together. It runs a current-thread tokio runtime:
//! the daemon is idle almost all the time and one thread keeps its memory small.

mod live;
mod logging;
mod malloc;
// Windows only, but tested everywhere: what the service answers, decided outside the shim.
#[cfg(any(windows, test))]
mod service;
mod systemd;
#[cfg(windows)]
mod windows;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use posture_client::config::{Config, EMBEDDED_POLICY};
use posture_client::credentials;
use posture_client::daemon::{CheckFn, Daemon, DaemonOptions};
use posture_client::delivery::{Drained, RetryPolicy};
use posture_client::fleet_policy::FleetPolicySlot;
use posture_client::spool::SpoolLimits;
use posture_client::transport::{Transport, TransportOptions};
use posture_policy::Policy;

/// How a fleet policy from the collector is named in reports (`policy.source`).
const FLEET_POLICY_SOURCE: &str = "collector";
use tokio::sync::watch;

use super::config::ConfigFlags;
use crate::cli::CheckArgs;
use crate::exit;

/// Arguments of `posture run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) flags: ConfigFlags,
    /// Judge the system mounted at DIR instead of this one (containers, tests)
    #[arg(long, value_name = "DIR", conflicts_with = "replay")]
    pub(crate) root: Option<PathBuf>,
    /// Judge a recorded evidence bundle at every check instead of this machine (tests)
    #[arg(long, value_name = "FILE")]
    pub(crate) replay: Option<PathBuf>,
    /// Check once, spool, try to send everything spooled, then exit
    #[arg(long)]
    pub(crate) once: bool,
    /// Run under the Windows service control manager (the service registration passes it)
    #[arg(long, hide = true, conflicts_with = "once")]
    pub(crate) windows_service: bool,
}

/// Runs the daemon until SIGTERM/Ctrl-C (or one cycle with `--once`).
pub(crate) fn execute(args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.windows_service {
        return service_entry(args);
    }
    run_daemon(args, None)
}

/// Hands the process to the Windows service control manager, which stops the daemon through
/// the same path a signal takes elsewhere.
#[cfg(windows)]
fn service_entry(args: RunArgs) -> anyhow::Result<ExitCode> {
    windows::run_as_service(args).context("cannot start as a Windows service")?;
    Ok(exit::success())
}

#[cfg(not(windows))]
fn service_entry(_args: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("--windows-service is only for the Windows service control manager")
}

/// Runs the daemon until a signal (or `external_stop`, the service manager's stop request)
/// asks it to stop, or for one cycle with `--once`.
pub(crate) fn run_daemon(
    args: RunArgs,
    external_stop: Option<tokio::sync::oneshot::Receiver<()>>,
) -> anyhow::Result<ExitCode> {
    malloc::use_one_arena();
    let mut config = args.flags.load()?;
    logging::init(&config)?;
    let policy = load_policy(&config)?;
    let store = credentials::system_store(&config.state_dir.value)?;
    let creds = match store.load() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the credentials; sending without a token");
            None
        }
    };
    if let Some(c) = &creds {
        config.fall_back_to_enrolled_endpoint(&c.endpoint, &store.describe())?;
    }
    let endpoint = config.endpoint.value.clone();
    if let (Some(e), Some(c)) = (&endpoint, &creds)
        && e.as_str() != c.endpoint
    {
        tracing::warn!(configured = %e, enrolled = %c.endpoint, "the configured endpoint is not the one this device enrolled with; its token may be refused");
    }
    let transport = match &endpoint {
        Some(e) => {
            let options = TransportOptions {
                endpoint: e.clone(),
                ca_cert: config.ca_cert.value.clone(),
                pins: config.pinned_spki_sha256.value.clone(),
                timeout: config.request_timeout.value,
            };
            Some(Transport::new(&options).context("cannot set up the connection to the endpoint")?)
        }
        None => None,
    };
    tracing::info!(
        version = crate::report::AGENT_VERSION,
        endpoint = endpoint.as_ref().map(ToString::to_string).as_deref().unwrap_or("none"),
        enrolled = creds.as_ref().is_some_and(|c| c.device_id.is_some()),
        interval_s = config.interval.value.as_secs(),
        state_dir = %config.state_dir.value.display(),
        "starting"
    );
    let check_args = CheckArgs {
        root: args.root.clone(),
        replay: args.replay.clone(),
        ..CheckArgs::default()
    };
    // Each check and the inventory have their own time limit; a cycle that takes longer than all
    // of them plus a margin (report, spool) is wedged.
    let cycle_limit = policy.rules.limits.check_timeout() * 5 + Duration::from_secs(60);
    tracing::debug!(
        path_resolution = posture_host::path_resolution(),
        "guarded reads"
    );
    // Live posture (Linux): watch what each check read; not for --once, a replayed bundle, or
    // when the config turns it off.
    let (live, schedule_only) = if args.once {
        (None, None)
    } else if args.replay.is_some() {
        (None, Some("a replayed bundle does not change".to_owned()))
    } else if !config.watch.value {
        (
            None,
            Some(format!("watch = false ({})", config.watch.origin)),
        )
    } else {
        match posture_client::live::start(
            posture_client::live::LiveSettings {
                debounce: config.watch_debounce.value,
                min_gap: config.watch_min_gap.value,
            },
            args.root.as_deref(),
        ) {
            Ok(live) => (Some(live), None),
            Err(reason) => (None, Some(reason)),
        }
    };
    if let Some(reason) = &schedule_only {
        tracing::info!(%reason, "changes are noticed on the schedule only");
    }
    let slot = live.as_ref().map(|l| l.reads.clone());
    // Enrolled with a collector: judge with the fleet policy it hands out at check-in (kept in
    // the state directory), else with this agent's own policy.
    let fleet = FleetPolicySlot::load(&config.state_dir.value);
    let fleet_for_checks = fleet.clone();
    let check: CheckFn = Arc::new(move || {
        let fleet_policy = fleet_for_checks.get().and_then(|offered| {
            match Policy::from_toml(FLEET_POLICY_SOURCE, &offered.toml) {
                Ok(p) if p.digest == offered.digest => Some(p),
                Ok(_) => {
                    tracing::warn!("the fleet policy does not match its digest; judging with the local policy");
                    None
                }
                Err(e) => {
                    tracing::warn!(error = %e, "this agent cannot load the fleet policy; judging with the local policy");
                    None
                }
            }
        });
        let policy = fleet_policy.as_ref().unwrap_or(&policy);
        match &slot {
            Some(slot) => live::check_and_note_reads(&check_args, policy, slot),
            None => super::check::produce_report(&check_args, policy, None),
        }
        .map_err(|e| format!("{e:#}"))
    });
    let options = DaemonOptions {
        state_dir: config.state_dir.value.clone(),
        interval: config.interval.value,
        checkin_interval: config.checkin_interval.value,
        spool_limits: SpoolLimits {
            max_reports: config.spool_max_reports.value,
            max_bytes: config.spool_max_bytes.value,
        },
        retry: RetryPolicy {
            initial: Duration::from_secs(2).min(config.retry_max_delay.value),
            max: config.retry_max_delay.value,
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()?;
    let mut daemon = Daemon::new(options, transport, creds, check)?.with_fleet_policy(fleet);
    if let Some(live) = live {
        daemon = daemon.with_live(live);
    } else if let Some(reason) = schedule_only {
        daemon = daemon.schedule_only(reason);
    }
    let progress = daemon.progress();
    if args.once {
        let outcome = runtime.block_on(daemon.run_once());
        runtime.shutdown_timeout(Duration::from_secs(1));
        if outcome.is_none() {
            tracing::warn!(
                spool = %config.state_dir.value.join(posture_client::daemon::SPOOL_DIR).display(),
                "no endpoint configured: the report was only spooled, not sent; set `endpoint` in the config file (or POSTURE_ENDPOINT, --endpoint) or run `posture enroll`"
            );
        }
        return Ok(match outcome {
            None | Some(Drained::Empty) => exit::success(),
            Some(Drained::RetryIn(_)) => exit::error(),
        });
    }
    runtime.block_on(async {
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            match external_stop {
                Some(service_stop) => {
                    let _ = service_stop.await;
                }
                None => wait_for_signal().await,
            }
            tracing::info!("stop requested");
            systemd::stopping();
            let _ = stop.send(true);
        });
        systemd::spawn_watchdog(stopped.clone(), progress, cycle_limit);
        systemd::ready();
        daemon.run(stopped).await;
    });
    // A check still running on the blocking pool is abandoned, not awaited.
    runtime.shutdown_timeout(Duration::from_millis(500));
    Ok(exit::success())
}

fn load_policy(config: &Config) -> anyhow::Result<Policy> {
    if config.policy.value == EMBEDDED_POLICY {
        return Ok(Policy::embedded());
    }
    let path = PathBuf::from(&config.policy.value);
    super::check::load_policy(Some(&path))
        .with_context(|| format!("policy from {}", config.policy.origin))
}

/// SIGTERM, SIGINT or Ctrl-C.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
