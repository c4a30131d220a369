//! The adapters: the only code that touches the outside. `process` starts every process;
//! `docker` and `git` are the commands run through it; `gpu` reads nvidia-smi.

pub mod docker;
pub mod git;
pub mod gpu;
pub mod process;
pub mod registry;
