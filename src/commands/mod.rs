//! One file per subcommand: each reads its arguments, calls the core and the engine
//! adapters, and prints. No command imports another.

pub mod check;
pub mod dev;
pub mod diff;
pub mod init;
pub mod inspect;
pub mod release;
pub mod run;
pub mod verify;
