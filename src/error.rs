//! Typed errors of the core. Each message is one line naming the thing that is wrong and the fix.

use std::path::PathBuf;

use crate::exit::Exit;

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
    /// What the lock names is not what was found, and the command refused to go on (`run`, or
    /// `verify --rebuild --base locked`, with an image index that does not list the locked
    /// manifests); exit 2.
    #[error("{0}")]
    Different(String),
    /// `release --strict` refused: `check` found something in the Dockerfiles before anything
    /// was built; exit 2, as `check` exits with findings.
    #[error("{0}")]
    Lint(String),
    /// A child process failed: the engine adapter's error (argv, status, stderr tail), boxed
    /// so that the core's errors do not depend on the adapter; see `engine::process`.
    #[error(transparent)]
    Process(Box<dyn std::error::Error + Send + Sync>),
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
            Error::Different(_) | Error::Lint(_) => Exit::Different,
            _ => Exit::Error,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand for `Err(Error::Failed(format!(...)))`.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => { return Err($crate::error::Error::Failed(format!($($arg)*))) };
}

/// How much of a value from outside (a lock, a repository, a command's output) an error quotes.
pub const CLIP_CHARS: usize = 200;

/// The first [`CLIP_CHARS`] characters of `text`, and `…` when there was more: a message
/// quoting a 50 MB line stays one readable line.
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(CLIP_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// `text` clipped and quoted (`"…"`, escapes as Rust's `{:?}`), for a value from outside.
pub fn quote(text: &str) -> String {
    format!("{:?}", clip(text))
}

/// `key = "value"` for an error about the value of `key`, or the quoted value alone where the
/// key is named by whoever reports the error (an empty `key`: a lock's reader names it).
pub fn named(key: &str, value: &str) -> String {
    if key.is_empty() {
        quote(value)
    } else {
        format!("{key} = {}", quote(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_long_text_on_a_character_boundary() {
        assert_eq!(clip("short"), "short");
        let exact = "x".repeat(CLIP_CHARS);
        assert_eq!(clip(&exact), exact);
        let long = "é".repeat(CLIP_CHARS * 1000);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), CLIP_CHARS + 1);
        assert!(clipped.ends_with('…'));
    }
}
