//! The one place that starts processes. Binaries are found once on PATH, arguments are argv
//! vectors (never a shell line), and every failure carries the command, its exit status and
//! the tail of its stderr, so the user sees what ran and why it failed.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Makes Ctrl-C and SIGTERM stop the running child and surface as [`ProcessError::Interrupted`],
/// so callers unwind normally: temporary directories are removed and no lock is written.
pub fn install_interrupt_handler() {
    // A second installation (tests calling twice) is harmless to ignore.
    let _ = ctrlc::set_handler(crate::cancel::request);
}

pub fn interrupted() -> bool {
    crate::cancel::requested()
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("`{program}` was not found on PATH; {hint}")]
    NotFound { program: String, hint: String },
    #[error("could not start `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}){}", stderr_suffix(.stderr))]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("interrupted while running `{command}`")]
    Interrupted { command: String },
}

fn stderr_suffix(stderr: &str) -> String {
    let tail: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // A command's stderr can quote its input (a stranger's ref, a URL): a few clipped lines.
    match tail.len() {
        0 => String::new(),
        n => format!(
            ": {}",
            tail[n.saturating_sub(3)..]
                .iter()
                .map(|l| crate::error::clip(&crate::ui::escape(l)))
                .collect::<Vec<_>>()
                .join(" | ")
        ),
    }
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim_end().to_string()
    }
}

/// How a command is run beyond its arguments.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// Let the child write its stderr straight to ours (build progress) instead of capturing it.
    pub show_stderr: bool,
    /// A cleanup that must run even after Ctrl-C (removing a container the interrupt left
    /// behind): it is neither refused nor killed because of the interrupt.
    pub cleanup: bool,
}

/// A program found once on PATH, with arguments that go before every call (docker's global flags).
#[derive(Debug, Clone)]
pub struct Tool {
    program: PathBuf,
    display: String,
    prefix: Vec<String>,
}

impl Tool {
    pub fn find(name: &str, hint: &str) -> Result<Self, ProcessError> {
        let program = which::which(name).map_err(|_| ProcessError::NotFound {
            program: name.to_string(),
            hint: hint.to_string(),
        })?;
        Ok(Tool {
            program,
            display: name.to_string(),
            prefix: Vec::new(),
        })
    }

    /// A tool at an explicit path (tests point this at recording fakes).
    pub fn at(program: impl Into<PathBuf>, display: &str) -> Self {
        Tool {
            program: program.into(),
            display: display.to_string(),
            prefix: Vec::new(),
        }
    }

    pub fn with_prefix(mut self, prefix: Vec<String>) -> Self {
        self.prefix = prefix;
        self
    }

    fn argv<S: AsRef<str>>(&self, args: &[S]) -> Vec<String> {
        self.prefix
            .iter()
            .cloned()
            .chain(args.iter().map(|a| a.as_ref().to_string()))
            .collect()
    }

    /// The command as the user would type it, for error messages.
    pub fn describe<S: AsRef<str>>(&self, args: &[S]) -> String {
        std::iter::once(self.display.clone())
            .chain(self.argv(args).into_iter().map(|a| quote(&a)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn run<S: AsRef<str>>(&self, args: &[S]) -> Result<Output, ProcessError> {
        self.run_with(args, &Options::default())
    }

    pub fn run_with<S: AsRef<str>>(
        &self,
        args: &[S],
        opts: &Options,
    ) -> Result<Output, ProcessError> {
        let command = self.describe(args);
        let argv: Vec<OsString> = self.argv(args).into_iter().map(OsString::from).collect();
        let mut expr = duct::cmd(&self.program, argv)
            .unchecked()
            .stdout_capture()
            .stdin_null();
        if !opts.show_stderr {
            expr = expr.stderr_capture();
        }
        if let Some(dir) = &opts.dir {
            expr = expr.dir(dir);
        }
        for (k, v) in &opts.env {
            expr = expr.env(k, v);
        }
        if interrupted() && !opts.cleanup {
            return Err(ProcessError::Interrupted { command });
        }
        let handle = expr.start().map_err(|source| ProcessError::Spawn {
            command: command.clone(),
            source,
        })?;
        let output = if opts.cleanup {
            handle
                .wait()
                .cloned()
                .map_err(|source| ProcessError::Spawn {
                    command: command.clone(),
                    source,
                })?
        } else {
            wait(&handle, &command)?
        };
        if interrupted() && !opts.cleanup {
            return Err(ProcessError::Interrupted { command });
        }
        if !output.status.success() {
            let status = match output.status.code() {
                Some(code) => format!("exit status {code}"),
                None => "killed by a signal".to_string(),
            };
            let stderr = if opts.show_stderr {
                "its output is above".to_string()
            } else {
                String::from_utf8_lossy(&output.stderr).into_owned()
            };
            return Err(ProcessError::Failed {
                command,
                status,
                stderr,
            });
        }
        Ok(Output {
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }
}

/// Waits for a child, polling so that Ctrl-C can kill it and surface as `Interrupted`.
fn wait(handle: &duct::Handle, command: &str) -> Result<std::process::Output, ProcessError> {
    loop {
        match handle.try_wait() {
            Ok(Some(out)) => return Ok(out.clone()),
            Ok(None) => {}
            Err(source) => {
                return Err(ProcessError::Spawn {
                    command: command.to_string(),
                    source,
                })
            }
        }
        if interrupted() {
            let _ = handle.kill();
            return Err(ProcessError::Interrupted {
                command: command.to_string(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running command whose stdout is read as a stream (`docker save`).
pub struct Stream {
    handle: duct::ReaderHandle,
    command: String,
}

impl std::io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.handle.read(buf)
    }
}

impl Stream {
    /// After reading to the end: the command's own verdict, with its stderr on failure.
    pub fn finish(self) -> Result<(), ProcessError> {
        let output = self
            .handle
            .try_wait()
            .map_err(|source| ProcessError::Spawn {
                command: self.command.clone(),
                source,
            })?
            .cloned();
        match output {
            Some(out) if out.status.success() => Ok(()),
            Some(out) => Err(ProcessError::Failed {
                command: self.command,
                status: out
                    .status
                    .code()
                    .map_or("killed by a signal".into(), |c| format!("exit status {c}")),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }),
            None => Err(ProcessError::Interrupted {
                command: self.command,
            }),
        }
    }
}

impl Tool {
    /// Runs a command on the terminal's stdin, stdout and stderr; its exit status.
    pub fn run_attached<S: AsRef<str>>(&self, args: &[S]) -> Result<i32, ProcessError> {
        let command = self.describe(args);
        let argv: Vec<OsString> = self.argv(args).into_iter().map(OsString::from).collect();
        let handle = duct::cmd(&self.program, argv)
            .unchecked()
            .start()
            .map_err(|source| ProcessError::Spawn {
                command: command.clone(),
                source,
            })?;
        Ok(wait(&handle, &command)?.status.code().unwrap_or(128 + 9))
    }

    /// Starts a command and hands back its stdout to read; dropping the stream kills it.
    pub fn stream<S: AsRef<str>>(&self, args: &[S]) -> Result<Stream, ProcessError> {
        self.stream_with(args, &Options::default(), None)
    }

    /// [`Tool::stream`] in a directory and with `stdin` written to the command (`git cat-file
    /// --batch`); stdin is fed from another thread, so a large input cannot deadlock.
    pub fn stream_with<S: AsRef<str>>(
        &self,
        args: &[S],
        opts: &Options,
        stdin: Option<Vec<u8>>,
    ) -> Result<Stream, ProcessError> {
        let command = self.describe(args);
        let argv: Vec<OsString> = self.argv(args).into_iter().map(OsString::from).collect();
        let mut expr = duct::cmd(&self.program, argv).unchecked().stderr_capture();
        expr = match stdin {
            Some(bytes) => expr.stdin_bytes(bytes),
            None => expr.stdin_null(),
        };
        if let Some(dir) = &opts.dir {
            expr = expr.dir(dir);
        }
        for (k, v) in &opts.env {
            expr = expr.env(k, v);
        }
        let handle = expr.reader().map_err(|source| ProcessError::Spawn {
            command: command.clone(),
            source,
        })?;
        Ok(Stream { handle, command })
    }
}

/// Quotes an argument for display only; nothing is ever passed through a shell.
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%^".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// A child killed by Ctrl-C is an interruption, whatever else it printed; any other failure
/// keeps its argv, status and stderr tail.
impl From<ProcessError> for crate::error::Error {
    fn from(e: ProcessError) -> Self {
        match e {
            ProcessError::Interrupted { .. } => crate::error::Error::Interrupted,
            other => crate::error::Error::Process(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn fake(script: &str) -> (tempfile::TempDir, Tool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let tool = Tool::at(&path, "docker").with_prefix(vec!["--context".into(), "ci".into()]);
        (dir, tool)
    }

    #[test]
    fn failure_names_command_status_and_stderr() {
        let (_dir, tool) =
            fake("echo 'first' >&2; echo 'Cannot connect to the Docker daemon' >&2; exit 3");
        let err = tool
            .run(&["image", "inspect", "--", "my image"])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`docker --context ci image inspect -- 'my image'` failed (exit status 3): first | Cannot connect to the Docker daemon"
        );
    }

    #[test]
    fn prefix_goes_before_every_argument_and_output_is_captured() {
        let (_dir, tool) = fake(r#"printf '%s\n' "$@""#);
        let out = tool.run(&["version"]).unwrap();
        assert_eq!(out.stdout_text(), "--context\nci\nversion");
    }

    #[test]
    fn missing_binary_says_how_to_fix() {
        let err = Tool::find("docker-repro-no-such-binary", "install it").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`docker-repro-no-such-binary` was not found on PATH; install it"
        );
    }

    #[test]
    fn display_quotes_only_what_needs_it() {
        assert_eq!(quote("sha256:ab"), "sha256:ab");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
