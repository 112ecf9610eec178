//! `posture enroll`: exchange an enrollment secret for a device id and token, or set up plain
//! webhook mode, and keep the result in the OS secret store.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use posture_client::credentials::{self, Credentials, Mode, Token};
use posture_client::env::{POSTURE_ENROLL_SECRET, POSTURE_WEBHOOK_TOKEN};
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
    /// The enrollment secret, or a one-time enrollment code, from the collector's administrator
    #[arg(long, env = POSTURE_ENROLL_SECRET, hide_env_values = true, value_name = "SECRET")]
    pub(crate) secret: Option<String>,
    /// Plain webhook mode: no enrollment call; reports go to the endpoint with --token, or none
    #[arg(long, conflicts_with = "secret")]
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
        let secret = args.secret.context(
            "no enrollment secret: pass --secret SECRET or set POSTURE_ENROLL_SECRET (or use --webhook)",
        )?;
        let device = posture_checks::inventory::gather(&SystemHost);
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
