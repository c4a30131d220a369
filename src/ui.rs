//! Messages for people, on stderr: progress, warnings and hints. stdout carries only data.
//! Everything printed for people passes through [`escape`] or [`escape_lines`]: names, paths,
//! history and errors come from images, archives and locks a stranger made, and a raw control
//! character there could clear the screen, fake a verdict line or write the clipboard (OSC 52).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::IsTerminal;

/// Shows every control character (C0, DEL, C1; newlines and tabs too) as a visible escape, so
/// that one untrusted value stays on one line and cannot drive the terminal.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_except(text, None)
}

/// [`escape`] for a whole rendered text: its own line breaks stay, everything else is shown.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    escape_except(text, Some('\n'))
}

fn escape_except(text: &str, keep: Option<char>) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && Some(c) != keep;
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// Prints a rendered human report on stdout, its untrusted parts made harmless.
pub fn print_human(text: &str) {
    print!("{}", escape_lines(text));
}

fn color() -> bool {
    std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty()) && std::io::stderr().is_terminal()
}

fn paint(code: &str, text: &str) -> String {
    if color() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// When the command started, for the elapsed time on progress lines.
static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Starts the clock the progress lines show (else the first of them starts it).
pub fn start_clock() {
    STARTED.get_or_init(std::time::Instant::now);
}

/// The time since the command started, as `m:ss` (`h:mm:ss` past an hour).
pub fn elapsed() -> String {
    clock(STARTED.get_or_init(std::time::Instant::now).elapsed())
}

/// `m:ss`, or `h:mm:ss` past an hour.
pub fn clock(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub quiet: bool,
}

impl Ui {
    /// A phase of the command, with the time since it started: one line, so that a long
    /// release shows where it is without BuildKit's whole log.
    pub fn progress(&self, message: &str) {
        if !self.quiet {
            eprintln!(
                "{} {} {}",
                paint("1;34", "==>"),
                escape(message),
                paint("2", &format!("[{}]", elapsed()))
            );
        }
    }

    /// A step inside the current phase (a build's `[2/5] RUN …`), indented under it.
    pub fn step(&self, message: &str) {
        if !self.quiet {
            eprintln!("    {}", escape(message));
        }
    }

    pub fn warn(&self, message: &str) {
        eprintln!("{} {}", paint("1;33", "warning:"), escape(message));
    }
}

pub fn error(message: &str) {
    eprintln!("{} {}", paint("1;31", "error:"), escape(message));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert!(matches!(escape("torch 2.3.1"), Cow::Borrowed(_)));
        // Clear screen, a fake verdict on a new line, and an OSC 52 clipboard write.
        let hostile = "pkg\x1b[2J\nverdict: identical\x1b]52;c;ZWNobw==\x07\u{9b}";
        assert_eq!(
            escape(hostile),
            "pkg\\x1b[2J\\nverdict: identical\\x1b]52;c;ZWNobw==\\x07\\x9b"
        );
        assert_eq!(escape_lines("a\tb\nc\r\n"), "a\\tb\nc\\r\n");
    }
}

#[cfg(test)]
mod clock_tests {
    use super::clock;
    use std::time::Duration;

    #[test]
    fn elapsed_time_reads_as_minutes_and_seconds() {
        assert_eq!(clock(Duration::from_secs(0)), "0:00");
        assert_eq!(clock(Duration::from_millis(65_900)), "1:05");
        assert_eq!(clock(Duration::from_secs(3 * 3600 + 7 * 60 + 9)), "3:07:09");
    }
}
