//! `posture config`: the effective configuration and where each value came from. Also the
//! config flags shared by `run`, `enroll` and `status`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use posture_client::config::{Config, FlagValue};
use posture_client::credentials;
use posture_client::env::ProcessEnv;
use posture_client::paths;

use crate::exit;

/// Flags that override the config file (and `POSTURE_*` variables).
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ConfigFlags {
    /// Config file read after the system one [env: POSTURE_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Base URL of the endpoint, e.g. https://posture.example.com [env: POSTURE_ENDPOINT]
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint: Option<String>,
    /// Time between checks, e.g. 15m (±10% jitter) [env: POSTURE_INTERVAL]
    #[arg(long, value_name = "DURATION")]
    pub(crate) interval: Option<String>,
    /// `embedded` or a policy file [env: POSTURE_POLICY]
    #[arg(long = "policy", value_name = "FILE")]
    pub(crate) policy: Option<String>,
    /// Directory for the spool, credentials and status [env: POSTURE_STATE_DIR]
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Log filter: error, warn, info, debug, trace [env: POSTURE_LOG_LEVEL]
    #[arg(long, value_name = "FILTER")]
    pub(crate) log_level: Option<String>,
    /// Log format: auto, human, json, journald [env: POSTURE_LOG_FORMAT]
    #[arg(long, value_name = "FORMAT")]
    pub(crate) log_format: Option<String>,
}

impl ConfigFlags {
    /// Loads the effective configuration: defaults < system file < --config < env < flags.
    pub(crate) fn load(&self) -> anyhow::Result<Config> {
        let mut flags = Vec::new();
        let mut add = |key, flag, value: Option<String>| {
            if let Some(value) = value {
                flags.push(FlagValue { key, flag, value });
            }
        };
        add("endpoint", "--endpoint", self.endpoint.clone());
        add("interval", "--interval", self.interval.clone());
        add("policy", "--policy", self.policy.clone());
        add(
            "state_dir",
            "--state-dir",
            self.state_dir.as_ref().map(|p| p.display().to_string()),
        );
        add("log_level", "--log-level", self.log_level.clone());
        add("log_format", "--log-format", self.log_format.clone());
        Ok(Config::load(&ProcessEnv, self.config.as_deref(), &flags)?)
    }
}

/// Arguments of `posture config`.
#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArgs {
    #[command(flatten)]
    pub(crate) flags: ConfigFlags,
}

/// Prints the effective configuration, each value with where it came from.
pub(crate) fn execute(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.flags.load()?;
    // The endpoint `posture run` uses: the configured one, else the enrolled one.
    let enrollment = credentials::system_store(&config.state_dir.value)
        .and_then(|store| Ok((store.load()?, store.describe())));
    let unread = match enrollment {
        Ok((Some(c), store)) => {
            config.fall_back_to_enrolled_endpoint(&c.endpoint, &store)?;
            None
        }
        Ok((None, _)) => None,
        Err(e) => Some(e),
    };
    let mut out = anstream::stdout();
    let system = paths::system_config_file(&ProcessEnv);
    writeln!(out, "# system config file: {}", system.display())?;
    if config.files.is_empty() {
        writeln!(out, "# no config file was read; built-in defaults apply")?;
    }
    for file in &config.files {
        writeln!(out, "# read: {}", file.display())?;
    }
    if let Some(e) = unread
        && config.endpoint.value.is_none()
    {
        writeln!(
            out,
            "# the enrollment could not be read ({e}); it may name the endpoint"
        )?;
    }
    write!(out, "{}", config.render())?;
    Ok(exit::success())
}
