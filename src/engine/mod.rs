//! The adapters: the only code that touches the outside. `process` starts every process;
//! `docker` and `git` are the commands run through it; `gpu` reads nvidia-smi; `registry`
//! speaks a registry's HTTP API where docker's CLI has no command for it.

pub mod buildlog;
pub mod docker;
pub mod git;
pub mod gpu;
pub mod process;
pub mod registry;
