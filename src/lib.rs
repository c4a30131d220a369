//! docker repro: reproducible releases of research images, as a Docker CLI plugin.
//!
//! The map, from the outside in:
//!
//! | layer | modules | what |
//! |---|---|---|
//! | entry | `main.rs`, [`plugin`], [`cli`] | parse argv, the plugin protocol, map exit codes |
//! | commands | [`commands`] (`release`, `verify`, `inspect`, `run`, `dev`, `check`, `diff`, `init`) | one thin file per subcommand: read arguments, call ops, core and engine, print |
//! | ops | [`ops`] | work several commands share: the build plan, reading an image's inventory, the verify report, the kept base, how a container is run, the lock and SBOMs attached to pushed images |
//! | core | [`image`], [`inventory`], [`explain`], [`lock`], [`project`], [`dockerfile`], [`check`], [`host`], [`sbom`] | pure models and decisions: digests, references, archives and layers (the image model), packages, why images differ, the lockfile, `repro.toml` and the base's input fingerprint, Dockerfiles and their lint, the host verdict, the inventory as CycloneDX and SPDX |
//! | engine | [`engine`] (`process`, `docker`, `git`, `gpu`, `registry`) | the only code that touches the outside: every process starts in `engine::process`; a registry's HTTP API is spoken in `engine::registry` |
//! | plumbing | [`error`], [`exit`], [`ui`], [`cancel`], [`scratch`], [`limits`] | typed errors, exit codes, escaped output, Ctrl-C, temp files, bounded reads of untrusted files |
//!
//! The one rule: a module imports only from its own layer's plumbing and from layers below
//! it in this order: commands → ops → core → plumbing, with engine beside core (commands and
//! ops use both; core never imports engine, ops, commands or the entry layer, plumbing never
//! imports anything above it, and no command imports another).
//! Cancellation reaches the core through [`cancel`], never through the process adapter.
//! `tests/architecture.rs` checks the rule.

pub mod cancel;
pub mod check;
pub mod cli;
pub mod commands;
pub mod dockerfile;
pub mod engine;
pub mod error;
pub mod exit;
pub mod explain;
pub mod host;
pub mod image;
pub mod inventory;
pub mod limits;
pub mod lock;
pub mod ops;
pub mod plugin;
pub mod project;
pub mod sbom;
pub mod scratch;
pub mod ui;

use cli::{Cli, Command};
use error::{Error, Result};
use exit::Exit;

/// Runs a parsed command; `globals` are docker's global flags, forwarded to every docker call.
pub fn run(cli: Cli, globals: Vec<String>) -> Result<Exit> {
    engine::process::install_interrupt_handler();
    ui::start_clock();
    let outcome = match &cli.command {
        Command::Release(args) => commands::release::run(args, globals),
        Command::Verify(args) => commands::verify::run(args, globals),
        Command::Inspect(args) => commands::inspect::run(args, globals),
        Command::Run(args) => commands::run::run(args, globals),
        Command::Dev(args) => commands::dev::run(args, globals),
        Command::Check(args) => commands::check::run(args),
        Command::Diff(args) => commands::diff::run(args, globals),
        Command::Init(args) => commands::init::run(args),
    };
    // An interrupt is never turned into another error: whatever error a command made of a
    // child killed by Ctrl-C, the outcome is "interrupted". A command that finished (its lock
    // or report written) stays finished: "nothing was written" would then be false. Commands
    // whose verdict rests on children's answers check for an interrupt before they print it.
    match outcome {
        Err(_) if cancel::requested() => Err(Error::Interrupted),
        other => other,
    }
}
