//! `posture generate`: the man pages and shell completions that packages ship.
//!
//! Both are rendered from the same clap definition the binary parses with, so what `man posture`
//! and tab completion say can never drift from what `posture --help` says. `posture(1)` also gets
//! the sections clap knows nothing of: EXIT STATUS, ENVIRONMENT and FILES. Packages run it at
//! build time (`packaging/README.md`); anyone can, to install completions by hand.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory as _, ValueEnum as _};
use clap_complete::Shell;

use posture_client::env;

use crate::{cli::Cli, exit};

/// What to generate.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum GenerateArgs {
    /// Man pages in roff: `posture.1` and one `posture-<subcommand>.1` per subcommand.
    Man {
        /// Directory to write the pages to (created when missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Shell completion scripts, one file per shell.
    Completions {
        /// Shells to generate for; all of them when none is given.
        #[arg(value_enum)]
        shells: Vec<Shell>,
        /// Directory to write the scripts to (created when missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// Runs `posture generate`.
pub(crate) fn execute(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    match args {
        GenerateArgs::Man { out } => {
            create_dir(&out)?;
            write_man_pages(&out)
                .with_context(|| format!("cannot write man pages to {}", out.display()))?;
        }
        GenerateArgs::Completions { shells, out } => {
            create_dir(&out)?;
            let shells = if shells.is_empty() {
                Shell::value_variants().to_vec()
            } else {
                shells
            };
            let mut command = Cli::command();
            let name = command.get_name().to_owned();
            for shell in shells {
                clap_complete::generate_to(shell, &mut command, &name, &out).with_context(
                    || format!("cannot write {shell} completions to {}", out.display()),
                )?;
            }
        }
    }
    Ok(exit::success())
}

/// `posture.1` with the extra sections, and one page per visible subcommand, as clap_mangen
/// names them (`posture-run.1`, `posture-policy-show.1`).
fn write_man_pages(out: &Path) -> std::io::Result<()> {
    fn subcommand_pages(cmd: &clap::Command, out: &Path) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            subcommand_pages(sub, out)?;
            clap_mangen::Man::new(sub.clone()).generate_to(out)?;
        }
        Ok(())
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    subcommand_pages(&cmd, out)?;
    let man = clap_mangen::Man::new(cmd);
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    extra_sections().to_writer(&mut page)?;
    man.render_version_section(&mut page)?;
    fs_err::write(out.join(man.get_filename()), page)
}

/// Exit statuses, for EXIT STATUS (the contract of `crate::exit`).
const EXIT_STATUSES: &[(&str, &str)] = &[
    (
        "0",
        "Compliant: every check passed or does not apply. Also the success of a command that is not a verdict (policy show, enroll, status, config, generate).",
    ),
    ("1", "Non-compliant: at least one check failed."),
    (
        "2",
        "Could not decide (a check is unknown or errored), or the command itself failed: bad flags, a bad policy or config file or value (a duration outside 1s to 30d), an unreadable bundle, a failed enrollment. The message on standard error says which file, line and field.",
    ),
];

/// Every variable the agent reads, for ENVIRONMENT.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        env::POSTURE_CONFIG,
        "Config file read after the system one (as --config).",
    ),
    (
        env::POSTURE_CONFIG_DIR,
        "Directory of the system config file instead of /etc/posture.",
    ),
    (
        env::POSTURE_STATE_DIR,
        "State directory (spool, credentials, status) instead of /var/lib/posture. Config key state_dir.",
    ),
    (
        env::POSTURE_ENDPOINT,
        "Base URL reports go to (https, or http to a loopback address). Config key endpoint.",
    ),
    (
        env::POSTURE_INTERVAL,
        "Time between scheduled checks, e.g. 15m. Config key interval.",
    ),
    (
        env::POSTURE_CHECKIN_INTERVAL,
        "Time between check-ins for check-now requests. Config key checkin_interval.",
    ),
    (
        env::POSTURE_POLICY,
        "embedded, or a policy file. Config key policy.",
    ),
    (
        env::POSTURE_SPOOL_MAX_REPORTS,
        "Most reports kept unsent. Config key spool_max_reports.",
    ),
    (
        env::POSTURE_SPOOL_MAX_BYTES,
        "Most bytes kept unsent, e.g. 64MiB. Config key spool_max_bytes.",
    ),
    (
        env::POSTURE_LOG_LEVEL,
        "Log filter, e.g. info or posture_client=debug. Config key log_level.",
    ),
    (
        env::POSTURE_LOG_FORMAT,
        "auto, human, json or journald. Config key log_format.",
    ),
    (
        env::POSTURE_CA_CERT,
        "PEM file of extra CA certificates trusted for the endpoint. Config key ca_cert.",
    ),
    (
        env::POSTURE_PINNED_SPKI_SHA256,
        "Comma-separated SHA-256 pins of the endpoint's public key. Config key pinned_spki_sha256.",
    ),
    (
        env::POSTURE_REQUEST_TIMEOUT,
        "Time limit of one HTTP request. Config key request_timeout.",
    ),
    (
        env::POSTURE_RETRY_MAX_DELAY,
        "Longest wait between delivery retries. Config key retry_max_delay.",
    ),
    (
        env::POSTURE_WATCH,
        "Linux daemon: true (default) re-checks when something the last check read changes; false checks on the schedule only. Config key watch.",
    ),
    (
        env::POSTURE_WATCH_DEBOUNCE,
        "Linux daemon: how long a change must settle before the re-check it causes (default 2s). Config key watch_debounce.",
    ),
    (
        env::POSTURE_WATCH_MIN_GAP,
        "Linux daemon: shortest time between a check and a re-check caused by a change (default 10s). Config key watch_min_gap.",
    ),
    (
        env::POSTURE_ENROLL_SECRET,
        "The enrollment secret for posture enroll, kept off the command line (which other users can read).",
    ),
    (
        env::POSTURE_WEBHOOK_TOKEN,
        "Static bearer token for posture enroll --webhook.",
    ),
    ("NO_COLOR", "Set to anything: no colour in the output."),
];

/// What the agent reads and writes, for FILES (Linux paths; the README gives macOS and Windows).
const FILES: &[(&str, &str)] = &[
    (
        "/etc/posture/config.toml",
        "The system config file. Every value can be overridden by a POSTURE_* variable or a flag; posture config shows where each came from.",
    ),
    (
        "policy file (--policy FILE or the policy key)",
        "The Device Policy; without one the embedded policy applies (posture policy show prints it). Its [limits] section bounds every check: check_timeout_seconds (default 30) and max_file_bytes (default 4 MiB read from one file).",
    ),
    (
        "/var/lib/posture/",
        "The state directory (mode 0700; per user under ~/.local/state/posture when not root).",
    ),
    (
        "/var/lib/posture/credentials.json",
        "Device id and token from posture enroll (mode 0600).",
    ),
    (
        "/var/lib/posture/spool/",
        "Reports not yet acknowledged by the endpoint, one file each, oldest sent first; bounded by spool_max_reports and spool_max_bytes.",
    ),
    (
        "/var/lib/posture/spool/rejected/, /var/lib/posture/spool/corrupt/",
        "Reports the endpoint refused for good, and unreadable spool entries; each bounded to a tenth of the spool's limits. They are queued again when the agent's or the endpoint's version changes.",
    ),
    (
        "/var/lib/posture/status.json",
        "What posture status shows: last check, last delivery, totals.",
    ),
];

fn extra_sections() -> clap_mangen::roff::Roff {
    use clap_mangen::roff::{Roff, bold, roman};
    let mut roff = Roff::new();
    for (title, items) in [
        ("EXIT STATUS", EXIT_STATUSES),
        ("ENVIRONMENT", ENVIRONMENT),
        ("FILES", FILES),
    ] {
        roff.control("SH", [title]);
        for (name, text) in items {
            roff.control("TP", []);
            roff.text([bold(*name)]);
            roff.text([roman(*text)]);
        }
    }
    roff
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    fs_err::create_dir_all(dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_names_every_configuration_variable() {
        for var in env::CONFIG_VARS {
            assert!(
                ENVIRONMENT.iter().any(|(name, _)| name == var),
                "{var} is missing from ENVIRONMENT"
            );
        }
    }

    #[test]
    fn the_top_man_page_has_exit_status_environment_and_files() {
        let dir = tempfile::tempdir().unwrap();
        write_man_pages(dir.path()).unwrap();
        let page = fs_err::read_to_string(dir.path().join("posture.1")).unwrap();
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH OPTIONS",
            ".SH SUBCOMMANDS",
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH VERSION",
        ] {
            assert!(page.contains(section), "no {section} in:\n{page}");
        }
        assert!(page.contains("POSTURE_ENROLL_SECRET"));
        assert!(dir.path().join("posture-run.1").exists());
        assert!(dir.path().join("posture-policy-show.1").exists());
        assert!(dir.path().join("posture-generate.1").exists());
    }
}
