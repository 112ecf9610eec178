//! `posture enroll`: exchange an enrollment secret for a device id and token, or set up plain
//! webhook mode, and keep the result in the OS secret store.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use posture_client::credentials::{self, Credentials, Mode, Token};
use posture_client::env::{Environment, POSTURE_ENROLL_SECRET, POSTURE_WEBHOOK_TOKEN, ProcessEnv};
use posture_client::status::now_rfc3339;
use posture_client::transport::{EnrollRequest, Transport, TransportOptions};
use posture_host::{Platform, SystemHost};

use super::config::ConfigFlags;
use crate::{exit, report};

/// Arguments of `posture enroll`.
#[derive(Debug, clap::Args)]
pub(crate) struct EnrollArgs {
    #[command(flatten)]
    pub(crate) flags: ConfigFlags,
    /// The enrollment secret, or a one-time enrollment code, from the collector's administrator.
    /// Other users of this machine can read a command line: prefer --secret-file or
    /// POSTURE_ENROLL_SECRET. A secret that starts with `-` is taken as it is (`--secret=-Abc` or
    /// `--secret -Abc`) [env: POSTURE_ENROLL_SECRET]
    #[arg(long, allow_hyphen_values = true, value_name = "SECRET")]
    pub(crate) secret: Option<String>,
    /// Read the enrollment secret from the first line of FILE (`-`: standard input)
    #[arg(long, value_name = "FILE", conflicts_with = "secret")]
    pub(crate) secret_file: Option<PathBuf>,
    /// Plain webhook mode: no enrollment call; reports go to the endpoint with --token, or none
    #[arg(long, conflicts_with_all = ["secret", "secret_file"])]
    pub(crate) webhook: bool,
    /// Static bearer token for webhook mode
    #[arg(long, env = POSTURE_WEBHOOK_TOKEN, hide_env_values = true, requires = "webhook", value_name = "TOKEN")]
    pub(crate) token: Option<String>,
}

/// Enrolls and stores the credentials.
pub(crate) fn execute(args: EnrollArgs) -> anyhow::Result<ExitCode> {
    let config = args.flags.load()?;
    let endpoint = config.endpoint.value.clone().context(
        "no endpoint: pass --endpoint URL, set POSTURE_ENDPOINT, or set `endpoint` in the config file",
    )?;
    let store = credentials::system_store(&config.state_dir.value)?;
    let mut pending = false;
    let credentials = if args.webhook {
        Credentials {
            mode: Mode::Webhook,
            endpoint: endpoint.to_string(),
            device_id: None,
            token: args.token.map(Token::new),
            enrolled_at: now_rfc3339(),
        }
    } else {
        let secret = enrollment_secret(args.secret, args.secret_file.as_deref(), &ProcessEnv)?;
        let device = posture_checks::inventory::gather(&SystemHost::default());
        // A machine the collector knows re-enrolls with its current token (or waits for an
        // administrator's approval): present the token this agent holds for that endpoint.
        let current_token = match store.load() {
            Ok(Some(c)) if c.endpoint == endpoint.as_str() && c.mode == Mode::Collector => {
                c.token.map(|t| t.expose().to_owned())
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the current credentials; enrolling without the current token");
                None
            }
        };
        let request = EnrollRequest {
            enroll_secret: secret,
            hostname: device.hostname.unwrap_or_default(),
            machine_id: device.machine_id.unwrap_or_default(),
            platform: Platform::current().as_str().to_owned(),
            agent_version: report::AGENT_VERSION.to_owned(),
            device_token: current_token,
        };
        let mut options = TransportOptions::from_config(&config).context("no endpoint")?;
        options.endpoint = endpoint.clone();
        let transport = Transport::new(&options)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let enrolled = runtime
            .block_on(transport.enroll(&request))
            .with_context(|| format!("enrollment with {endpoint} failed"))?;
        if enrolled.pending {
            pending = true;
        }
        Credentials {
            mode: Mode::Collector,
            endpoint: endpoint.to_string(),
            device_id: Some(enrolled.device_id),
            token: Some(enrolled.device_token),
            enrolled_at: now_rfc3339(),
        }
    };
    store.store(&credentials)?;
    let mut out = anstream::stdout();
    match &credentials.device_id {
        Some(id) if pending => writeln!(
            out,
            "The collector {endpoint} knows this machine as device {id}: the enrollment waits for \
             an administrator's approval (the device's token works once approved)."
        )?,
        Some(id) => writeln!(out, "Enrolled with {endpoint} as device {id}.")?,
        None => writeln!(out, "Webhook mode: reports go to {endpoint}.")?,
    }
    writeln!(out, "Credentials stored in: {}", store.describe())?;
    if config.endpoint.origin == posture_client::config::Origin::Flag("--endpoint") {
        writeln!(
            out,
            "hint: `posture run` uses this endpoint; set `endpoint` in the config file to make it explicit"
        )?;
    }
    Ok(exit::success())
}

/// The enrollment secret: `--secret`, else `--secret-file`, else `POSTURE_ENROLL_SECRET`.
fn enrollment_secret(
    flag: Option<String>,
    file: Option<&Path>,
    env: &dyn Environment,
) -> anyhow::Result<String> {
    let secret = if let Some(secret) = flag {
        secret
    } else if let Some(path) = file {
        let text = if path == Path::new("-") {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the enrollment secret from standard input")?;
            text
        } else {
            fs_err::read_to_string(path).context("cannot read the --secret-file")?
        };
        let secret = text.lines().next().unwrap_or_default().to_owned();
        anyhow::ensure!(
            !secret.is_empty(),
            "{}: the first line is empty; it must be the enrollment secret",
            path.display()
        );
        secret
    } else if let Some(secret) = env.var(POSTURE_ENROLL_SECRET) {
        secret
    } else {
        anyhow::bail!(
            "no enrollment secret: pass --secret-file FILE, set POSTURE_ENROLL_SECRET, or pass --secret=SECRET (or use --webhook)"
        );
    };
    anyhow::ensure!(!secret.is_empty(), "the enrollment secret is empty");
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(secret: Option<&str>) -> HashMap<String, String> {
        secret
            .map(|s| (POSTURE_ENROLL_SECRET.to_owned(), s.to_owned()))
            .into_iter()
            .collect()
    }

    #[test]
    fn the_flag_beats_the_file_and_the_file_beats_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        fs_err::write(&file, "-FromFile\r\nsecond line ignored\n").unwrap();
        let got = |flag: Option<&str>, file: Option<&Path>, var: Option<&str>| {
            enrollment_secret(flag.map(str::to_owned), file, &env(var)).unwrap()
        };
        assert_eq!(got(Some("-Flag"), None, Some("-Env")), "-Flag");
        assert_eq!(got(None, Some(&file), Some("-Env")), "-FromFile");
        assert_eq!(got(None, None, Some("-Env")), "-Env");
    }

    #[test]
    fn an_empty_or_missing_secret_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        fs_err::write(&empty, "\n").unwrap();
        let err = enrollment_secret(None, Some(&empty), &env(None)).unwrap_err();
        assert!(
            format!("{err:#}").contains("empty: the first line is empty"),
            "{err:#}"
        );
        let missing = dir.path().join("missing");
        let err = enrollment_secret(None, Some(&missing), &env(None)).unwrap_err();
        assert!(format!("{err:#}").contains("missing"), "{err:#}");
        let err = enrollment_secret(None, None, &env(None)).unwrap_err();
        assert!(err.to_string().contains("--secret-file"), "{err}");
    }
}
