//! Exit codes are part of the interface: scripts and CI jobs branch on them.

/// The process exit status of `docker repro`, documented in the README and in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success; for `verify`: every image verified identical.
    Ok = 0,
    /// An error stopped the command (docker unreachable, missing input, failed build).
    Error = 1,
    /// `verify` ran to the end and something is not identical: an image differs or is missing.
    Different = 2,
    /// The command line or the configuration is wrong.
    Usage = 125,
    /// Interrupted (Ctrl-C): children were stopped and nothing was written.
    Interrupted = 130,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}
