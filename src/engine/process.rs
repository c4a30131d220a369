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
    /// A deadline passed: the command and every process it started were killed.
    #[error("`{command}` gave no answer in {} ({what}) and was stopped; check the network and that the server answers, or allow longer with {var}=DURATION (such as {var}=10m)", humantime::format_duration(*.after))]
    TimedOut {
        command: String,
        after: Duration,
        what: &'static str,
        var: &'static str,
    },
    /// A timeout variable that is not a duration (exit 125).
    #[error("{var}={}: not a duration; set seconds (90) or a duration (90s, 10m, 1h), more than 0", crate::error::quote(.value))]
    BadTimeout { var: &'static str, value: String },
}

/// The most a command that uses the network may take: its limit, what it is, and the
/// environment variable that sets it. A remote that accepts a connection and never answers
/// would otherwise hold docker repro forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub limit: Duration,
    pub what: &'static str,
    pub var: &'static str,
}

/// Sets the deadline of each registry lookup (`docker buildx imagetools inspect`).
pub const LOOKUP_TIMEOUT_VAR: &str = "DOCKER_REPRO_LOOKUP_TIMEOUT";
/// Sets the deadline of each transfer: `docker pull`, `docker push`, `git clone`.
pub const TRANSFER_TIMEOUT_VAR: &str = "DOCKER_REPRO_TRANSFER_TIMEOUT";
/// A lookup is one small document; a registry that has not sent it in this long is not going to.
pub const LOOKUP_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);
/// A transfer can be a CUDA image of tens of GB on a slow link, but not forever.
pub const TRANSFER_TIMEOUT_DEFAULT: Duration = Duration::from_secs(2 * 60 * 60);

impl Deadline {
    /// The deadline of a registry lookup, from [`LOOKUP_TIMEOUT_VAR`] or the default.
    pub fn lookup() -> Result<Deadline, ProcessError> {
        Deadline::from_env(
            LOOKUP_TIMEOUT_VAR,
            LOOKUP_TIMEOUT_DEFAULT,
            "a registry lookup",
        )
    }

    /// The deadline of a pull, push or clone, from [`TRANSFER_TIMEOUT_VAR`] or the default.
    pub fn transfer(what: &'static str) -> Result<Deadline, ProcessError> {
        Deadline::from_env(TRANSFER_TIMEOUT_VAR, TRANSFER_TIMEOUT_DEFAULT, what)
    }

    fn from_env(
        var: &'static str,
        default: Duration,
        what: &'static str,
    ) -> Result<Deadline, ProcessError> {
        let limit = match std::env::var(var) {
            Ok(value) => parse_timeout(&value).ok_or(ProcessError::BadTimeout { var, value })?,
            Err(_) => default,
        };
        Ok(Deadline { limit, what, var })
    }
}

/// Seconds (`90`) or a duration (`90s`, `10m`, `1h30m`), more than zero.
pub fn parse_timeout(value: &str) -> Option<Duration> {
    let value = value.trim();
    let limit = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(value).ok()?,
    };
    Some(limit).filter(|d| !d.is_zero())
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
    /// Write the child's stderr to this file instead (a build's log); with `show_stderr`, it is
    /// also shown as it is written, proxy credentials redacted.
    pub stderr_file: Option<PathBuf>,
    /// A cleanup that must run even after Ctrl-C (removing a container the interrupt left
    /// behind): it is neither refused nor killed because of the interrupt.
    pub cleanup: bool,
    /// Kill the command, and every process it started, once this passes. The command runs in
    /// a process group of its own so that all of it can be killed: `docker buildx` is a
    /// child of `docker`, and `git clone` starts `git-remote-https`.
    pub deadline: Option<Deadline>,
    /// Hand each line the child writes on stderr to this, as it comes, instead of showing or
    /// capturing the stream whole; the last lines still go into the error of a failed command.
    pub stderr_lines: Option<LineSink>,
    /// For a stream read in the background: the command leads a process group of its own,
    /// which its [`Stopper`] kills whole (`docker buildx` is a child of `docker`, and would
    /// outlive a `docker` killed alone). Ctrl-C in the terminal does not reach that group: the
    /// stopper, dropped as the command that started it stops, ends it.
    pub stoppable: bool,
}

/// Receives the lines of a child's stderr on a thread of their own (a build's progress).
#[derive(Clone)]
pub struct LineSink(pub std::sync::Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for LineSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineSink")
    }
}

/// How many of the last stderr lines a streamed command keeps for its error.
const STREAMED_TAIL_LINES: usize = 20;

/// Reads `reader` line by line into `sink` until every writer has closed it; the last lines.
fn stream_lines(reader: os_pipe::PipeReader, sink: LineSink) -> Vec<u8> {
    use std::io::BufRead;
    let mut tail: std::collections::VecDeque<Vec<u8>> = std::collections::VecDeque::new();
    let mut reader = std::io::BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        (sink.0)(String::from_utf8_lossy(&line).trim_end());
        if tail.len() == STREAMED_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.clone());
    }
    tail.into_iter().flatten().collect()
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
        let mut streamed = None;
        if let Some(sink) = &opts.stderr_lines {
            let (reader, writer) = os_pipe::pipe().map_err(|source| ProcessError::Spawn {
                command: command.clone(),
                source,
            })?;
            expr = expr.stderr_file(writer);
            let sink = sink.clone();
            streamed = Some(std::thread::spawn(move || stream_lines(reader, sink)));
        } else if let Some(file) = &opts.stderr_file {
            expr = expr.stderr_path(file);
        } else if !opts.show_stderr {
            expr = expr.stderr_capture();
        }
        if let Some(dir) = &opts.dir {
            expr = expr.dir(dir);
        }
        for (k, v) in &opts.env {
            expr = expr.env(k, v);
        }
        if opts.deadline.is_some() {
            expr = expr.before_spawn(|cmd| {
                use std::os::unix::process::CommandExt;
                cmd.process_group(0);
                Ok(())
            });
        }
        if interrupted() && !opts.cleanup {
            return Err(ProcessError::Interrupted { command });
        }
        let handle = expr.start().map_err(|source| ProcessError::Spawn {
            command: command.clone(),
            source,
        })?;
        // The expression holds the write end of a streamed stderr: the reader sees its end only
        // once this copy is closed too.
        drop(expr);
        // Stops (after showing the rest of the file) when this call returns, however it does.
        let _echo = match (&opts.stderr_file, opts.show_stderr) {
            (Some(file), true) if opts.stderr_lines.is_none() => Some(Echo::start(file.clone())),
            _ => None,
        };
        let output = if opts.cleanup {
            handle
                .wait()
                .cloned()
                .map_err(|source| ProcessError::Spawn {
                    command: command.clone(),
                    source,
                })?
        } else {
            wait(&handle, &command, opts.deadline)?
        };
        if interrupted() && !opts.cleanup {
            return Err(ProcessError::Interrupted { command });
        }
        // The child has exited and closed its stderr; the reader is at its end (an interrupted
        // or timed-out child returned above, and its reader is left to end with the stream).
        let streamed_tail = streamed.map(|reader| reader.join().unwrap_or_default());
        if !output.status.success() {
            let status = match output.status.code() {
                Some(code) => format!("exit status {code}"),
                None => "killed by a signal".to_string(),
            };
            let stderr = if let Some(tail) = &streamed_tail {
                quoted_stderr(tail)
            } else if let Some(file) = &opts.stderr_file {
                format!("its output is in {}", file.display())
            } else if opts.show_stderr {
                "its output is above".to_string()
            } else {
                quoted_stderr(&output.stderr)
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

/// Waits for a child, polling so that Ctrl-C can kill it and surface as `Interrupted`, and a
/// deadline as `TimedOut`. A child with a deadline leads its own process group, which is
/// killed whole: killing only the child would leave its children holding the output pipes.
fn wait(
    handle: &duct::Handle,
    command: &str,
    deadline: Option<Deadline>,
) -> Result<std::process::Output, ProcessError> {
    let started = std::time::Instant::now();
    let kill = || {
        if deadline.is_some() {
            for pid in handle.pids() {
                // SAFETY: kill(2) on the process group of a child this handle started and has
                // not reaped (try_wait said it runs), so the group cannot be another's.
                unsafe {
                    libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
                }
            }
        }
        let _ = handle.kill();
    };
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
            kill();
            return Err(ProcessError::Interrupted {
                command: command.to_string(),
            });
        }
        if let Some(d) = deadline.filter(|d| started.elapsed() >= d.limit) {
            kill();
            return Err(ProcessError::TimedOut {
                command: command.to_string(),
                after: d.limit,
                what: d.what,
                var: d.var,
            });
        }
        std::thread::sleep(poll_pause(started.elapsed()));
    }
}

/// How long [`wait`] sleeps between two looks at a child that has run for `running`: a
/// millisecond at first, since most commands (`git`, `docker image inspect`) end within tens of
/// milliseconds and a release runs dozens of them one after the other; then 20 ms, often
/// enough for Ctrl-C and deadlines and cheap over a build of minutes.
fn poll_pause(running: Duration) -> Duration {
    if running < Duration::from_millis(250) {
        Duration::from_millis(1)
    } else {
        Duration::from_millis(20)
    }
}

/// A running command whose stdout is read as a stream (`docker save`).
pub struct Stream {
    /// Shared with the [`Stopper`]s handed out, so that a stream read on another thread can
    /// still be stopped from this one.
    handle: std::sync::Arc<duct::ReaderHandle>,
    command: String,
    /// Whether the command leads a process group of its own ([`Options::stoppable`]).
    group: bool,
}

/// A stream dropped before its end stops its command (and its group: see [`Stopper`]).
impl Drop for Stream {
    fn drop(&mut self) {
        stop(&self.handle, self.group);
    }
}

impl std::io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&*self.handle).read(buf)
    }
}

/// Kills the command of a [`Stream`] when dropped, wherever the stream is read, with every
/// process it started where it leads a process group of its own ([`Options::stoppable`]): a
/// command that is no longer needed (the work it fed stopped on an error, or on Ctrl-C) does
/// not run on after it. Once the command has exited, this does nothing.
pub struct Stopper {
    handle: std::sync::Arc<duct::ReaderHandle>,
    group: bool,
}

impl Drop for Stopper {
    fn drop(&mut self) {
        stop(&self.handle, self.group);
    }
}

/// Kills a stream's command, and the process group it leads where `group`. Never waits on
/// anything but the command itself: a process of its group that holds its stderr open must
/// not hold this.
fn stop(handle: &duct::ReaderHandle, group: bool) {
    if group {
        for pid in handle.pids() {
            // SAFETY: kill(2) on the process group the command leads. While a process of it
            // runs, its ID names no other group; once they have all ended, the signal finds
            // none (ESRCH), short of the kernel handing that ID to a new group in between,
            // which takes it cycling through every process ID.
            unsafe {
                libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
            }
        }
    }
    let _ = handle.kill();
}

impl Stream {
    /// What stops this stream's command when dropped.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            handle: std::sync::Arc::clone(&self.handle),
            group: self.group,
        }
    }

    /// After reading to the end: the command's own verdict, with its stderr on failure.
    pub fn finish(mut self) -> Result<(), ProcessError> {
        let output = self
            .handle
            .try_wait()
            .map_err(|source| ProcessError::Spawn {
                command: self.command.clone(),
                source,
            })?
            .cloned();
        let command = std::mem::take(&mut self.command);
        match output {
            Some(out) if out.status.success() => Ok(()),
            Some(out) => Err(ProcessError::Failed {
                command,
                status: out
                    .status
                    .code()
                    .map_or("killed by a signal".into(), |c| format!("exit status {c}")),
                stderr: quoted_stderr(&out.stderr),
            }),
            None => Err(ProcessError::Interrupted { command }),
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
        Ok(wait(&handle, &command, None)?
            .status
            .code()
            .unwrap_or(128 + 9))
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
        if opts.stoppable {
            expr = expr.before_spawn(|cmd| {
                use std::os::unix::process::CommandExt;
                cmd.process_group(0);
                Ok(())
            });
        }
        let handle = expr.reader().map_err(|source| ProcessError::Spawn {
            command: command.clone(),
            source,
        })?;
        Ok(Stream {
            handle: std::sync::Arc::new(handle),
            command,
            group: opts.stoppable,
        })
    }
}

/// The proxy variables whose values can carry a password. NO_PROXY lists hosts, no secret;
/// redacting `localhost` from every message would only garble it.
const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// A command's stderr as an error quotes it: with the proxies of this environment redacted,
/// since docker, buildx and git read them and can print them in their errors.
fn quoted_stderr(stderr: &[u8]) -> String {
    redact(&String::from_utf8_lossy(stderr), &proxy_values())
}

/// The proxy variables set in this environment, whose values no output may show.
pub fn proxy_values() -> Vec<String> {
    PROXY_VARS
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Shows a file on stderr as a child writes it, line by line, proxy credentials redacted.
struct Echo {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Echo {
    fn start(file: PathBuf) -> Echo {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let Ok(mut reader) = std::fs::File::open(&file) else {
                return;
            };
            let proxies = proxy_values();
            let show = |bytes: &[u8]| {
                let text = redact(&String::from_utf8_lossy(bytes), &proxies);
                let _ = std::io::stderr().write_all(text.as_bytes());
            };
            let mut pending = Vec::new();
            let mut chunk = [0u8; 16 * 1024];
            loop {
                // Read after the flag: once the child is gone, what it wrote is all there.
                let done = stopped.load(Ordering::SeqCst);
                match reader.read(&mut chunk) {
                    Ok(0) if done => break,
                    Ok(0) => std::thread::sleep(Duration::from_millis(50)),
                    Ok(n) => {
                        pending.extend_from_slice(&chunk[..n]);
                        if let Some(end) = pending.iter().rposition(|b| *b == b'\n') {
                            show(&pending[..=end]);
                            pending.drain(..=end);
                        }
                    }
                    Err(_) => break,
                }
            }
            if !pending.is_empty() {
                show(&pending);
            }
        });
        Echo {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `text` with each proxy URL, and the credentials in it, replaced by `[redacted]`.
pub fn redact(text: &str, proxies: &[String]) -> String {
    let mut secrets: Vec<&str> = Vec::new();
    for value in proxies {
        secrets.push(value.as_str());
        // The user-info of `scheme://user:password@host`, and its password alone. The host
        // starts after the last `@` of the authority, as URL parsers read it: a password may
        // hold an `@` of its own, and splitting at the first would leave its tail in the text.
        let rest = value.split_once("://").map_or(value.as_str(), |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            secrets.push(userinfo);
            if let Some((_, password)) = userinfo.split_once(':') {
                secrets.push(password);
            }
        }
    }
    secrets.retain(|s| s.len() >= 3);
    // Longest first, so a URL goes whole before its password does.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for secret in secrets {
        out = out.replace(secret, "[redacted]");
    }
    out
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
            ProcessError::BadTimeout { .. } => crate::error::Error::Usage(e.to_string()),
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

    /// The stream is read on another thread, as a background read is; the command's shell
    /// starts a `sleep` that holds the pipe too, as `docker` starts `docker-buildx`: the
    /// stopper ends both, so the read ends, long before the sleep would.
    #[test]
    fn a_stopper_ends_a_stoppable_stream_and_what_its_command_started() {
        let (_dir, tool) = fake("echo started; sleep 600; echo never");
        let opts = Options {
            stoppable: true,
            ..Default::default()
        };
        let mut stream = tool.stream_with(&["x"], &opts, None).unwrap();
        let stopper = stream.stopper();
        let reader = std::thread::spawn(move || {
            let mut out = String::new();
            let _ = std::io::Read::read_to_string(&mut stream, &mut out);
            out
        });
        std::thread::sleep(Duration::from_millis(200));
        drop(stopper);
        let waited = std::time::Instant::now();
        while !reader.is_finished() {
            assert!(
                waited.elapsed() < Duration::from_secs(60),
                "the read did not end: the sleep still holds the pipe"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(reader.join().unwrap(), "started\n");
    }

    #[test]
    fn a_short_command_is_looked_at_often_and_a_long_one_seldom() {
        assert_eq!(poll_pause(Duration::ZERO), Duration::from_millis(1));
        assert_eq!(
            poll_pause(Duration::from_millis(249)),
            Duration::from_millis(1)
        );
        assert_eq!(
            poll_pause(Duration::from_secs(60)),
            Duration::from_millis(20)
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

    /// A command that never ends, and a child of it that would outlive it (as docker-buildx
    /// outlives docker): both are killed at the deadline, and the error names the command,
    /// what it was and the variable that allows longer.
    #[test]
    fn a_deadline_kills_the_command_and_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let (_bin, tool) = fake(&format!(
            "sleep 300 & echo $! > {}; sleep 300",
            pidfile.display()
        ));
        let opts = Options {
            deadline: Some(Deadline {
                limit: Duration::from_millis(500),
                what: "a registry lookup",
                var: LOOKUP_TIMEOUT_VAR,
            }),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let err = tool.run_with(&["pull", "x"], &opts).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            err.to_string(),
            "`docker --context ci pull x` gave no answer in 500ms (a registry lookup) and was stopped; check the network and that the server answers, or allow longer with DOCKER_REPRO_LOOKUP_TIMEOUT=DURATION (such as DOCKER_REPRO_LOOKUP_TIMEOUT=10m)"
        );
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild is gone (or a zombie of an exited parent, reaped by init soon).
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            state.is_empty() || state.contains(") Z ")
        });
        assert!(gone, "the command's child {pid} outlived the deadline");
    }

    #[test]
    fn timeouts_are_seconds_or_durations_and_never_zero() {
        assert_eq!(parse_timeout("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_timeout("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_timeout(" 1h30m "), Some(Duration::from_secs(5400)));
        assert_eq!(parse_timeout("0"), None);
        assert_eq!(parse_timeout("0s"), None);
        assert_eq!(parse_timeout("soon"), None);
        assert_eq!(parse_timeout("-5"), None);
        let err = ProcessError::BadTimeout {
            var: TRANSFER_TIMEOUT_VAR,
            value: "soon".into(),
        };
        assert_eq!(
            crate::error::Error::from(err).to_string(),
            "DOCKER_REPRO_TRANSFER_TIMEOUT=\"soon\": not a duration; set seconds (90) or a duration (90s, 10m, 1h), more than 0"
        );
    }

    #[test]
    fn proxy_credentials_are_redacted() {
        let proxies = ["http://lab:s3cret@proxy.lab:3128".to_string()];
        let text =
            "failed to connect via http://lab:s3cret@proxy.lab:3128; auth lab:s3cret; s3cret";
        let out = redact(text, &proxies);
        assert!(!out.contains("s3cret"), "{out}");
        assert_eq!(
            out,
            "failed to connect via [redacted]; auth [redacted]; [redacted]"
        );
        assert_eq!(redact("nothing", &[]), "nothing");
        // A password holding `@`: the host starts after the last one. Split at the first, the
        // tail `x@pw` of the password stayed in the text where it appeared alone.
        let proxies = ["http://lab:p@ss@x@pw@proxy.lab:3128/".to_string()];
        let text = "auth lab:p@ss@x@pw failed; password p@ss@x@pw; tail x@pw";
        let out = redact(text, &proxies);
        assert_eq!(
            out, "auth [redacted] failed; password [redacted]; tail x@pw",
            "{out}"
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
