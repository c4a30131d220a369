//! docker repro: reproducible releases of research images, as a Docker CLI plugin.

pub mod check;
pub mod cli;
pub mod confine;
pub mod cuda_compat;
pub mod diff;
pub mod docker;
pub mod dockerfile;
pub mod error;
pub mod exit;
pub mod git;
pub mod gpu;
pub mod host;
pub mod inspect;
pub mod lockfile;
pub mod oci;
pub mod pipeline;
pub mod plugin;
pub mod process;
pub mod project;
pub mod release;
pub mod report;
pub mod run_image;
pub mod scratch;
pub mod ui;
pub mod verify;

use cli::{Cli, Command};
use error::{Error, Result};
use exit::Exit;

/// Runs a parsed command; `globals` are docker's global flags, forwarded to every docker call.
pub fn run(cli: Cli, globals: Vec<String>) -> Result<Exit> {
    process::install_interrupt_handler();
    let outcome = match &cli.command {
        Command::Release(args) => release::run(args, globals),
        Command::Verify(args) => verify::run(args, globals),
        Command::Inspect(args) => inspect::run(args, globals),
        Command::Run(args) => run_image::run(args, globals),
        Command::Check(args) => check::run(args),
        Command::Diff(args) => diff::command::run(args, globals),
    };
    // An interrupt is never turned into another error, nor into a verdict: whatever a command
    // made of a child killed by Ctrl-C, the outcome is "interrupted".
    match outcome {
        Err(Error::Interrupted) => Err(Error::Interrupted),
        _ if process::interrupted() => Err(Error::Interrupted),
        other => other,
    }
}
pub mod inventory;
