//! Exit codes are part of the interface: scripts and CI jobs branch on them.

/// The process exit status of `docker repro`, documented in the README and in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `run`: the command in the container exited with this status.
    Command(i32),
    /// Success; for `verify`: every image verified identical.
    Ok,
    /// An error stopped the command (docker unreachable, missing input, failed build).
    Error,
    /// `verify` ran to the end and something is not identical: an image differs or is missing.
    Different,
    /// The image verified, but this host cannot run it (driver too old, GPU unsupported, or
    /// no GPU where the release used one); `run` refused for that reason.
    HostCannotRun,
    /// `verify --rebuild`: the base did not rebuild identical because its packages drifted (its
    /// mirrors moved), and the release rebuilt on the locked base is identical.
    BaseDrifted,
    /// `verify --rebuild`: an image rebuilt with other bytes but the same files and runtime
    /// config (another Docker wrote other history text or compressed a layer otherwise).
    Equivalent,
    /// The command line or the configuration is wrong.
    Usage,
    /// Interrupted (Ctrl-C): children were stopped and nothing was written.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Error => 1,
            Exit::Different => 2,
            Exit::HostCannotRun => 3,
            Exit::BaseDrifted => 4,
            Exit::Equivalent => 5,
            Exit::Usage => 125,
            Exit::Interrupted => 130,
            Exit::Command(code) => u8::try_from(code).unwrap_or(1),
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}
