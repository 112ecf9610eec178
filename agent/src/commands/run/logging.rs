//! Logs of the daemon: human text on a terminal, the journal under systemd, or JSON lines.
//! Always stderr or the journal, never stdout.

use std::io::IsTerminal as _;

use posture_client::config::{Config, LogFormat};
use posture_client::env::JOURNAL_STREAM;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Installs the global subscriber the config asks for.
pub(super) fn init(config: &Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log_level.value)
        .map_err(|e| anyhow::anyhow!("{}: `log_level`: {e}", config.log_level.origin))?;
    let format = match config.log_format.value {
        LogFormat::Auto if std::env::var_os(JOURNAL_STREAM).is_some() => LogFormat::Journald,
        LogFormat::Auto => LogFormat::Human,
        other => other,
    };
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init()?,
        LogFormat::Journald => match journald() {
            Some(layer) => registry.with(layer).try_init()?,
            None => registry.with(human()).try_init()?,
        },
        LogFormat::Human | LogFormat::Auto => registry.with(human()).try_init()?,
    }
    Ok(())
}

fn human<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
}

#[cfg(target_os = "linux")]
fn journald() -> Option<tracing_journald::Layer> {
    tracing_journald::layer()
        .map(|l| l.with_syslog_identifier("posture".to_owned()))
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn journald() -> Option<tracing_subscriber::layer::Identity> {
    None
}
