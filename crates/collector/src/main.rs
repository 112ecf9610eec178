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
use posture_collector::credentials::{FirstStart, ensure_initial_secrets, hash_secret, rotate};
use posture_collector::limits::{self, Limits};
use posture_collector::retention::{Retention, prune_once};
use posture_collector::server::{DEFAULT_LISTEN, ServeConfig, prepare};
use posture_collector::store::{self, OpenOptions, redact_url, setting};

/// Environment variable naming the database URL.
const ENV_DATABASE: &str = "POSTURE_COLLECTOR_DATABASE";
/// Environment variable naming the listen address.
const ENV_LISTEN: &str = "POSTURE_COLLECTOR_LISTEN";
/// Environment variable for the log filter (`info`, `posture_collector=debug`, …).
const ENV_LOG: &str = "POSTURE_COLLECTOR_LOG";
/// Environment variable naming the state directory (first-start secrets file).
const ENV_STATE_DIR: &str = "POSTURE_COLLECTOR_STATE_DIR";
/// Environment variable with the URL browsers use (behind a reverse proxy).
const ENV_PUBLIC_URL: &str = "POSTURE_COLLECTOR_PUBLIC_URL";
/// Environment variable naming the file with the `/metrics` token.
const ENV_METRICS_TOKEN_FILE: &str = "POSTURE_COLLECTOR_METRICS_TOKEN_FILE";
/// Environment variable with the loopback address serving `/metrics` without a token.
const ENV_METRICS_LISTEN: &str = "POSTURE_COLLECTOR_METRICS_LISTEN";
/// Name of the file the first start writes the new secrets to, in the state directory.
const SECRETS_FILE: &str = "initial-secrets.txt";

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
    /// SQLite: the write-ahead log's bound in bytes; a checkpoint every few seconds truncates
    /// it when it has grown past this (also its `journal_size_limit`).
    #[arg(long, default_value_t = store::DEFAULT_WAL_MAX_BYTES)]
    wal_max_bytes: u64,
    /// Longest time one retention batch holds the database's write lock, in milliseconds
    /// (batches are sized to it).
    #[arg(long, default_value_t = 50)]
    prune_lock_ms: u64,
}

// Parsed once at start; the size of the `serve` variant does not matter.
#[allow(clippy::large_enum_variant)]
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
        /// Largest accepted report body in bytes.
        #[arg(long, default_value_t = limits::DEFAULT_MAX_REPORT_BYTES)]
        max_body_bytes: usize,
        /// Largest body of every other request (enrollment, admin writes, dashboard forms).
        #[arg(long, default_value_t = limits::DEFAULT_MAX_SMALL_BODY_BYTES)]
        max_small_body_bytes: usize,
        /// Most database connections.
        #[arg(long, default_value_t = 8)]
        max_connections: u32,
        /// Seconds an agent's clock may be off before its device is flagged for clock skew.
        #[arg(long, default_value_t = 600)]
        max_clock_skew_secs: u32,
        /// Seconds the OCSF export leaves a received report out of its answers, so that a report
        /// still being committed is not passed by a SIEM's `since` cursor (docs/collector-api.md).
        #[arg(long, default_value_t = posture_collector::export::DEFAULT_EXPORT_SETTLE_SECS)]
        export_settle_secs: u32,
        /// Rows an export reads from the database per page (tests use small pages to cross
        /// many page boundaries).
        #[arg(long, default_value_t = posture_collector::export::EXPORT_PAGE_ROWS, hide = true)]
        export_page_rows: u32,
        /// Most client connections open at once; more are closed on arrival.
        #[arg(long, default_value_t = limits::DEFAULT_MAX_OPEN_CONNECTIONS)]
        max_open_connections: usize,
        /// Seconds for a request head to arrive once the collector waits for one (also closes
        /// kept-alive connections that send nothing).
        #[arg(long, default_value_t = limits::DEFAULT_HEADER_TIMEOUT_SECS)]
        header_timeout_secs: u64,
        /// Seconds for a new connection's TLS handshake, and again for its first request.
        #[arg(long, default_value_t = limits::DEFAULT_IDLE_TIMEOUT_SECS)]
        idle_timeout_secs: u64,
        /// Seconds for a whole request body to arrive.
        #[arg(long, default_value_t = limits::DEFAULT_BODY_TIMEOUT_SECS)]
        body_timeout_secs: u64,
        /// Reports in flight (being read, queued, committed) at most; more get 503.
        #[arg(long, default_value_t = limits::DEFAULT_INGEST_QUEUE_REPORTS)]
        ingest_queue_reports: usize,
        /// Report bytes in flight at most; more get 503.
        #[arg(long, default_value_t = limits::DEFAULT_INGEST_QUEUE_BYTES)]
        ingest_queue_bytes: usize,
        /// Directory for the first-start secrets file. Default: $STATE_DIRECTORY (systemd),
        /// else the data directory.
        #[arg(long, env = ENV_STATE_DIR)]
        state_dir: Option<PathBuf>,
        /// The URL browsers use, e.g. https://posture.example.com, when a reverse proxy in
        /// front rewrites Host: the dashboard's same-origin check uses it, and an https URL
        /// makes cookies Secure.
        #[arg(long, env = ENV_PUBLIC_URL)]
        public_url: Option<String>,
        /// File holding the token `/metrics` requires on the main listener (Bearer).
        #[arg(long, env = ENV_METRICS_TOKEN_FILE)]
        metrics_token_file: Option<PathBuf>,
        /// Loopback address serving `/metrics` (and `/healthz`) without a token.
        #[arg(long, env = ENV_METRICS_LISTEN)]
        metrics_listen: Option<SocketAddr>,
    },
    /// Create the admin token and the enrollment secret of a new database and print them here,
    /// once (instead of the first `serve` writing them to a file).
    Init {
        #[command(flatten)]
        db: DatabaseArgs,
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

/// Where the first-start secrets file goes: `--state-dir`, systemd's `$STATE_DIRECTORY`, or
/// the data directory.
fn state_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir);
    }
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY")
        && let Some(first) = std::env::split_paths(&dir).next()
    {
        return Ok(first);
    }
    let dirs = directories::ProjectDirs::from("dev", "posture", "posture-collector")
        .context("cannot find the data directory of this user; give --state-dir")?;
    Ok(dirs.data_dir().to_path_buf())
}

/// Writes secrets created by this start to a file only the collector's user can read, and
/// returns its path. They never reach standard output or a log.
fn write_secrets_file(dir: &std::path::Path, first: &FirstStart) -> anyhow::Result<PathBuf> {
    use std::io::Write as _;
    fs_err::create_dir_all(dir)?;
    let path = dir.join(SECRETS_FILE);
    let mut text = String::from(
        "# posture-collector: secrets created by the first start. Only their SHA-256 is in the\n\
         # database: keep them somewhere safe, then delete this file.\n",
    );
    if let Some(token) = &first.admin_token {
        text.push_str(&format!("admin token: {token}\n"));
    }
    if let Some(secret) = &first.enroll_secret {
        text.push_str(&format!("enrollment secret: {secret}\n"));
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    #[cfg(unix)]
    {
        // An older file may have been created with wider permissions.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// `https://host[:port]` from `--public-url`: scheme and authority, no path.
fn public_origin(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let (scheme, authority) = trimmed
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
        .with_context(|| format!("--public-url {url:?} must start with https:// or http://"))?;
    anyhow::ensure!(
        !authority.is_empty()
            && !authority.contains(['/', '?', '#', '@'])
            && !authority.chars().any(char::is_whitespace),
        "--public-url {url:?} must be scheme and host only, such as https://posture.example.com"
    );
    Ok(format!("{scheme}://{}", authority.to_ascii_lowercase()))
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
        wal_max_bytes: db.wal_max_bytes,
        prune_lock: Duration::from_millis(db.prune_lock_ms.max(1)),
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
            max_small_body_bytes,
            max_connections,
            max_clock_skew_secs,
            export_settle_secs,
            export_page_rows,
            max_open_connections,
            header_timeout_secs,
            idle_timeout_secs,
            body_timeout_secs,
            ingest_queue_reports,
            ingest_queue_bytes,
            state_dir: state_dir_arg,
            public_url,
            metrics_token_file,
            metrics_listen,
        } => {
            let url = database_url(&db)?;
            let public_origin = public_url.as_deref().map(public_origin).transpose()?;
            let metrics_token_sha256 = match &metrics_token_file {
                Some(path) => {
                    let token = fs_err::read_to_string(path)?;
                    let token = token.trim();
                    anyhow::ensure!(
                        token.len() >= 16,
                        "{}: the metrics token must be at least 16 characters",
                        path.display()
                    );
                    Some(hash_secret(token))
                }
                None => None,
            };
            let secs = |n: u64| Duration::from_secs(n.max(1));
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
                    max_small_body_bytes,
                    stale_days,
                    max_clock_skew_ms: i64::from(max_clock_skew_secs) * 1000,
                    export_settle_ms: i64::from(export_settle_secs) * 1000,
                    export_page_rows: export_page_rows.max(1),
                    public_origin,
                    metrics_token_sha256,
                    ..AppConfig::default()
                },
                open: open_options(&db, max_connections),
                limits: Limits {
                    max_open_connections,
                    header_timeout: secs(header_timeout_secs),
                    idle_timeout: secs(idle_timeout_secs),
                    body_timeout: secs(body_timeout_secs),
                    ingest_queue_reports,
                    ingest_queue_bytes,
                },
                metrics_listen,
            };
            let dir = state_dir(state_dir_arg)?;
            let prepared = prepare(config, Some(recorder)).await?;
            let first = &prepared.first_start;
            if first.admin_token.is_some() || first.enroll_secret.is_some() {
                let path = write_secrets_file(&dir, first).context(
                    "the new secrets could not be saved; replace them with \
                     `posture-collector rotate-admin-token` and `rotate-enroll-secret`",
                )?;
                announce::line(&format!(
                    "First start: wrote the admin token and the enrollment secret to {} \
                     (readable by this user only); keep them safe, then delete the file",
                    path.display()
                ));
            }
            if let Some(addr) = prepared.metrics_addr {
                announce::line(&format!("metrics on http://{addr}/metrics"));
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
        Command::Init { db } => {
            let store = store::open(&database_url(&db)?, &open_options(&db, 2)).await?;
            let first = ensure_initial_secrets(store.as_ref()).await?;
            anyhow::ensure!(
                first.admin_token.is_some() || first.enroll_secret.is_some(),
                "this database already has its admin token and enrollment secret; replace them \
                 with `posture-collector rotate-admin-token` / `rotate-enroll-secret`"
            );
            announce::line("Created (shown only this once; only their SHA-256 is stored):");
            if let Some(token) = first.admin_token {
                announce::line(&format!("admin token: {token}"));
            }
            if let Some(secret) = first.enroll_secret {
                announce::line(&format!("enrollment secret: {secret}"));
            }
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
                "pruned {} reports ({} device-days of check-ins, {} unused report parts), \
                 {} daily rows, {} sessions; rolled up {} days",
                stats.reports,
                stats.checkin_blocks,
                stats.parts,
                stats.daily_rows,
                stats.sessions,
                stats.rollup_days
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
