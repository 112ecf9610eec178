//! `posture`: judges this device against the Device Policy and reports it.
//!
//! `main` only parses the command line and turns the outcome into an exit status; the work is in
//! [`commands`]. Exit statuses are a contract, documented in [`exit`].

mod cli;
mod commands;
mod exit;
mod output;
mod report;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
