//! Typed errors of the core. Each message is one line naming the thing that is wrong and the fix.

use std::path::PathBuf;

use crate::exit::Exit;
use crate::process::ProcessError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A wrong flag, value or configuration; exit 125.
    #[error("{0}")]
    Usage(String),
    /// Ctrl-C or SIGTERM arrived; exit 130.
    #[error("interrupted; nothing was written")]
    Interrupted,
    /// The host cannot run the image (`run` refuses); exit 3.
    #[error("{0}")]
    HostCannotRun(String),
    #[error(transparent)]
    Process(ProcessError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Any other failure, with its fix in the message.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::Interrupted => Exit::Interrupted,
            Error::HostCannotRun(_) => Exit::HostCannotRun,
            Error::Process(ProcessError::Interrupted { .. }) => Exit::Interrupted,
            _ => Exit::Error,
        }
    }
}

impl From<ProcessError> for Error {
    fn from(e: ProcessError) -> Self {
        match e {
            ProcessError::Interrupted { .. } => Error::Interrupted,
            other => Error::Process(other),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand for `Err(Error::Failed(format!(...)))`.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => { return Err($crate::error::Error::Failed(format!($($arg)*))) };
}
