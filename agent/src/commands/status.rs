//! `posture status`: the daemon's state, read from its state directory.

use std::io::Write as _;
use std::process::ExitCode;

use posture_client::credentials;
use posture_client::daemon::SPOOL_DIR;
use posture_client::spool;

use super::config::ConfigFlags;
use crate::exit;

/// Arguments of `posture status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) flags: ConfigFlags,
    /// Print the status as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// Prints the last check, enrollment, spool backlog and last delivery error.
pub(crate) fn execute(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.flags.load()?;
    let state_dir = config.state_dir.value.clone();
    let state_dir = &state_dir;
    let status = posture_client::status::load(state_dir)?.unwrap_or_default();
    let backlog = spool::peek_backlog(&state_dir.join(SPOOL_DIR))?;
    let store = credentials::system_store(state_dir)?;
    let creds = store.load();
    let stored = creds.as_ref().ok().and_then(Option::as_ref);
    if let Some(c) = stored {
        config.fall_back_to_enrolled_endpoint(&c.endpoint, &store.describe())?;
    }
    let endpoint = config.endpoint.value.as_ref().map(ToString::to_string);
    let enrolled = match &creds {
        Ok(Some(c)) => match &c.device_id {
            Some(id) => format!("yes, device {id} (credentials in {})", store.describe()),
            None => format!("webhook mode (credentials in {})", store.describe()),
        },
        Ok(None) => "no (run `posture enroll`)".to_owned(),
        Err(e) => format!("unknown: {e}"),
    };
    let mut out = anstream::stdout();
    if args.json {
        let value = serde_json::json!({
            "endpoint": endpoint,
            "enrolled": stored.is_some(),
            "device_id": stored.and_then(|c| c.device_id.clone()),
            "state_dir": state_dir,
            "spool": { "reports": backlog.reports, "bytes": backlog.bytes },
            "status": status,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(exit::success());
    }
    let none = "never";
    let rows: Vec<(&str, String)> = vec![
        (
            "endpoint",
            endpoint.unwrap_or_else(|| "not configured".to_owned()),
        ),
        ("enrolled", enrolled),
        (
            "last check",
            match (&status.last_check_at, &status.last_posture) {
                (Some(at), Some(p)) => format!("{at}: {p}"),
                _ => none.to_owned(),
            },
        ),
        (
            "last check error",
            status
                .last_check_error
                .clone()
                .unwrap_or_else(|| "none".to_owned()),
        ),
        (
            "spool backlog",
            format!("{} reports, {} bytes", backlog.reports, backlog.bytes),
        ),
        (
            "last delivery",
            status
                .last_delivery_at
                .clone()
                .unwrap_or_else(|| none.to_owned()),
        ),
        (
            "last delivery error",
            match (&status.last_delivery_error, &status.last_delivery_error_at) {
                (Some(e), Some(at)) => format!("{at}: {e}"),
                (Some(e), None) => e.clone(),
                _ => "none".to_owned(),
            },
        ),
        (
            "totals",
            format!(
                "{} delivered, {} dropped (spool full), {} refused, {} corrupt, {} dropped from spool/rejected and spool/corrupt (full)",
                status.delivered_total,
                status.dropped_total,
                status.rejected_total,
                status.corrupt_total,
                status.aside_dropped_total
            ),
        ),
        (
            "daemon footprint",
            match (status.daemon_rss_bytes, status.daemon_cpu_ms) {
                (Some(rss), Some(cpu)) => format!(
                    "{:.1} MiB resident, {:.2} s CPU since start (at the last check)",
                    rss as f64 / (1024.0 * 1024.0),
                    cpu as f64 / 1000.0
                ),
                _ => "not measured".to_owned(),
            },
        ),
        (
            "watch mode",
            status
                .watch_mode
                .clone()
                .unwrap_or_else(|| "unknown (the daemon has not run)".to_owned()),
        ),
        (
            "last trigger",
            match (&status.last_trigger, &status.last_trigger_at) {
                (Some(t), Some(at)) => format!("{at}: {t}"),
                (Some(t), None) => t.clone(),
                _ => "none".to_owned(),
            },
        ),
        ("state directory", state_dir.display().to_string()),
    ];
    for (key, value) in rows {
        writeln!(out, "{:<20} {value}", format!("{key}:"))?;
    }
    Ok(exit::success())
}
