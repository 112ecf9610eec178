//! The command line: flags, subcommands and the mapping of outcomes to exit statuses.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{commands, exit, output};

/// Judges this device against the organisation's Device Policy: screen lock, disk encryption,
/// removable media. Exit status: 0 compliant, 1 non-compliant, 2 could not decide or error.
#[derive(Debug, Parser)]
#[command(
    name = "posture",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Cli {
    /// Check this device now and print the verdict (same as `posture check`).
    #[arg(long)]
    check: bool,

    #[command(flatten)]
    check_args: CheckArgs,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check this device now and print the verdict.
    Check(CheckArgs),
    /// Show the policy in effect.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Run in the background: check on a schedule and report to the endpoint.
    Run(commands::run::RunArgs),
    /// Enroll this device with a collector.
    Enroll(commands::enroll::EnrollArgs),
    /// Show the daemon's state: last check, enrollment, spool backlog, last delivery error.
    Status(commands::status::StatusArgs),
    /// Show the effective configuration and where each value came from.
    Config(commands::config::ConfigArgs),
    /// Write the man pages or shell completions (packages ship them).
    #[command(subcommand)]
    Generate(commands::generate::GenerateArgs),
}

#[derive(Debug, Subcommand)]
enum PolicyAction {
    /// Print the effective policy (the embedded default unless --policy is given).
    Show {
        /// Policy file (TOML) to show instead of the embedded default.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
}

/// Where the evidence comes from and how the verdict is printed.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct CheckArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub(crate) format: Format,

    /// Policy file (TOML); the embedded Device Policy when absent.
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,

    /// Judge the system mounted at DIR (a disk image, a container's /host) instead of this one.
    /// Nothing outside DIR is read.
    #[arg(long, value_name = "DIR", conflicts_with = "replay")]
    pub(crate) root: Option<PathBuf>,

    /// Write everything the checks read to FILE (an evidence bundle, JSON) for support or audit.
    #[arg(long, value_name = "FILE", conflicts_with = "replay")]
    pub(crate) record: Option<PathBuf>,

    /// Judge a recorded evidence bundle instead of this machine.
    #[arg(long, value_name = "FILE")]
    pub(crate) replay: Option<PathBuf>,

    /// Also print the evidence behind every verdict (human format).
    #[arg(long, short)]
    pub(crate) verbose: bool,
}

/// Output formats of `posture check`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A table for people, coloured on a terminal unless NO_COLOR is set.
    #[default]
    Human,
    /// The report as JSON (see crates/schema/report.schema.json).
    Json,
}

/// Parses the command line and runs it.
pub(crate) fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0; usage errors exit 2.
            let _ = e.print();
            return if e.use_stderr() {
                exit::error()
            } else {
                exit::success()
            };
        }
    };
    let result = match cli.command {
        Some(Command::Check(args)) => commands::check::execute(&args),
        Some(Command::Policy {
            action: PolicyAction::Show { policy },
        }) => commands::policy::show(policy.as_deref()),
        Some(Command::Run(args)) => commands::run::execute(args),
        Some(Command::Enroll(args)) => commands::enroll::execute(args),
        Some(Command::Status(args)) => commands::status::execute(args),
        Some(Command::Config(args)) => commands::config::execute(args),
        Some(Command::Generate(args)) => commands::generate::execute(args),
        None if cli.check => commands::check::execute(&cli.check_args),
        None => {
            output::error_with_hint(
                "nothing to do",
                "run `posture --check` to check this device, or `posture --help`",
            );
            return exit::error();
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            output::error(&err);
            exit::error()
        }
    }
}
