//! `posture-collector`: command line of the collector server.
//!
//! Exit codes: 0 after a clean shutdown or a successful command, 1 when the collector cannot
//! start or a command fails (database unreachable, bad TLS files, refused listen address),
//! 2 for usage errors.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use posture_collector::app::AppConfig;
use posture_collector::credentials::rotate;
use posture_collector::retention::{Retention, prune_once};
use posture_collector::server::{DEFAULT_LISTEN, ServeConfig, prepare};
use posture_collector::store::{self, OpenOptions, redact_url, setting};

/// Environment variable naming the database URL.
const ENV_DATABASE: &str = "POSTURE_COLLECTOR_DATABASE";
/// Environment variable naming the listen address.
const ENV_LISTEN: &str = "POSTURE_COLLECTOR_LISTEN";
/// Environment variable for the log filter (`info`, `posture_collector=debug`, …).
const ENV_LOG: &str = "POSTURE_COLLECTOR_LOG";

#[derive(Debug, Parser)]
#[command(
    name = "posture-collector",
    version,
    about = "Collector for posture device reports"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct DatabaseArgs {
    /// Database URL: `sqlite:PATH` or `postgres://USER:PASSWORD@HOST/DB`. Default: a SQLite file
    /// in the operating system's data directory.
    #[arg(long, env = ENV_DATABASE)]
    database: Option<String>,
    /// Longest wait for a database connection or lock, in milliseconds, before answering 503.
    #[arg(long, default_value_t = 5000)]
    busy_timeout_ms: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the collector.
    Serve {
        #[command(flatten)]
        db: DatabaseArgs,
        /// Address to listen on. Plain HTTP is allowed on loopback only.
        #[arg(long, env = ENV_LISTEN, default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// PEM certificate chain for HTTPS.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for HTTPS.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Days to keep every report; each device's latest report is kept forever.
        #[arg(long, default_value_t = 90)]
        retention_days: u32,
        /// Seconds between retention passes.
        #[arg(long, default_value_t = 3600)]
        prune_interval_secs: u64,
        /// Devices not seen for this many days are listed as stale.
        #[arg(long, default_value_t = 7)]
        stale_days: u32,
        /// Largest accepted request body in bytes.
        #[arg(long, default_value_t = 1024 * 1024)]
        max_body_bytes: usize,
        /// Most database connections.
        #[arg(long, default_value_t = 8)]
        max_connections: u32,
        /// Seconds an agent's clock may be off before its device is flagged for clock skew.
        #[arg(long, default_value_t = 600)]
        max_clock_skew_secs: u32,
    },
    /// Replace the admin token and print the new one (the old one stops working).
    RotateAdminToken {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Replace the enrollment secret and print the new one (enrolled devices are unaffected).
    RotateEnrollSecret {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Manage the fleet policy that agents fetch at check-in and reports are judged against.
    Policy {
        #[command(subcommand)]
        action: PolicyCommand,
    },
    /// Run one retention pass now.
    Prune {
        #[command(flatten)]
        db: DatabaseArgs,
        /// Days to keep every report.
        #[arg(long, default_value_t = 90)]
        retention_days: u32,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Validate a policy file with the agent's loader and make it the fleet policy (every
    /// version is kept). Errors name the file, line and column.
    Set {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The policy TOML file.
        file: PathBuf,
    },
}

/// Human output on stdout: secrets shown once and the address served. Logs go to stderr.
mod announce {
    #![allow(clippy::print_stdout)]

    use std::io::Write as _;

    pub(crate) fn line(text: &str) {
        println!("{text}");
        // Tests and supervisors read these lines as they come.
        let _ = std::io::stdout().flush();
    }
}

fn default_database_url() -> anyhow::Result<String> {
    let dirs = directories::ProjectDirs::from("dev", "posture", "posture-collector")
        .context("cannot find the data directory of this user; give --database sqlite:PATH")?;
    let dir = dirs.data_dir();
    fs_err::create_dir_all(dir)?;
    Ok(format!("sqlite:{}", dir.join("collector.db").display()))
}

fn database_url(db: &DatabaseArgs) -> anyhow::Result<String> {
    match &db.database {
        Some(url) => Ok(url.clone()),
        None => default_database_url(),
    }
}

fn open_options(db: &DatabaseArgs, max_connections: u32) -> OpenOptions {
    OpenOptions {
        busy_timeout: Duration::from_millis(db.busy_timeout_ms),
        max_connections,
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down");
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            db,
            listen,
            tls_cert,
            tls_key,
            retention_days,
            prune_interval_secs,
            stale_days,
            max_body_bytes,
            max_connections,
            max_clock_skew_secs,
        } => {
            let url = database_url(&db)?;
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ])
                .context("metrics buckets")?
                .install_recorder()
                .context("cannot install the metrics recorder")?;
            let config = ServeConfig {
                listen,
                database_url: url.clone(),
                tls: tls_cert.zip(tls_key),
                retention: Retention {
                    days: retention_days,
                    interval: Duration::from_secs(prune_interval_secs.max(1)),
                },
                app: AppConfig {
                    max_body_bytes,
                    stale_days,
                    max_clock_skew_ms: i64::from(max_clock_skew_secs) * 1000,
                    ..AppConfig::default()
                },
                open: open_options(&db, max_connections),
            };
            let prepared = prepare(config, Some(recorder)).await?;
            if let Some(token) = &prepared.first_start.admin_token {
                announce::line("First start: created the admin token (shown only this once):");
                announce::line(&format!("  admin token: {token}"));
            }
            if let Some(secret) = &prepared.first_start.enroll_secret {
                announce::line(
                    "First start: created the enrollment secret (shown only this once):",
                );
                announce::line(&format!("  enrollment secret: {secret}"));
            }
            let scheme = if prepared.tls { "https" } else { "http" };
            tracing::info!(database = %redact_url(&url), "database ready");
            announce::line(&format!(
                "posture-collector listening on {scheme}://{}",
                prepared.local_addr
            ));
            prepared.serve(shutdown_signal()).await?;
            Ok(())
        }
        Command::RotateAdminToken { db } => {
            let store = store::open(&database_url(&db)?, &open_options(&db, 2)).await?;
            let token = rotate(store.as_ref(), setting::ADMIN_TOKEN_SHA256).await?;
            announce::line(&format!("admin token: {token}"));
            Ok(())
        }
        Command::RotateEnrollSecret { db } => {
            let store = store::open(&database_url(&db)?, &open_options(&db, 2)).await?;
            let secret = rotate(store.as_ref(), setting::ENROLL_SECRET_SHA256).await?;
            announce::line(&format!("enrollment secret: {secret}"));
            Ok(())
        }
        Command::Policy {
            action: PolicyCommand::Set { db, file },
        } => {
            let text = fs_err::read_to_string(&file)?;
            let source = file.display().to_string();
            // Validate before touching the database, so a typo never needs one.
            posture_collector::fleet::validate(&source, &text).map_err(anyhow::Error::msg)?;
            let store = store::open(&database_url(&db)?, &open_options(&db, 2)).await?;
            let now = posture_collector::app::now_ms();
            let stored = posture_collector::fleet::set(store.as_ref(), &source, &text, now)
                .await
                .map_err(|e| match e {
                    Ok(message) => anyhow::Error::msg(message),
                    Err(store) => anyhow::Error::new(store),
                })?;
            announce::line(&format!(
                "fleet policy version {} set ({})",
                stored.version, stored.digest
            ));
            Ok(())
        }
        Command::Prune { db, retention_days } => {
            let store = store::open(&database_url(&db)?, &open_options(&db, 2)).await?;
            let stats = prune_once(store.as_ref(), retention_days).await?;
            announce::line(&format!(
                "pruned {} reports, {} daily rows, {} sessions",
                stats.reports, stats.daily_rows, stats.sessions
            ));
            Ok(())
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env(ENV_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the async runtime");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            std::process::ExitCode::from(1)
        }
    }
}
