//! Parses the command line and maps the outcome to an exit code; the work is in the library.

use std::process::ExitCode;

use clap::Parser;
use docker_repro::exit::Exit;
use docker_repro::plugin::{self, Invocation};
use docker_repro::{cli::Cli, ui};

fn main() -> ExitCode {
    let argv: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect()
    {
        Ok(argv) => argv,
        Err(bad) => {
            ui::error(&format!("argument {bad:?} is not valid UTF-8"));
            return Exit::Usage.into();
        }
    };
    let (globals, args) = match plugin::parse_argv(&argv) {
        Invocation::Metadata => {
            println!("{}", plugin::metadata_json());
            return Exit::Ok.into();
        }
        Invocation::Command { globals, args } => (globals, args),
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            }
            .into();
        }
    };
    match docker_repro::run(cli, globals) {
        Ok(exit) => exit.into(),
        Err(e) => {
            ui::error(&e.to_string());
            e.exit().into()
        }
    }
}
