//! `posture generate`: the man pages and shell completions that packages ship.
//!
//! Both are rendered from the same clap definition the binary parses with, so what `man posture`
//! and tab completion say can never drift from what `posture --help` says. Hidden from help: it is
//! a build step for packagers (`packaging/README.md`), not something users run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{CommandFactory as _, ValueEnum as _};
use clap_complete::Shell;

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
            clap_mangen::generate_to(Cli::command(), &out)
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

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    fs_err::create_dir_all(dir)?;
    Ok(())
}
