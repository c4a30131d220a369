//! Messages for people, on stderr: progress, warnings and hints. stdout carries only data.

use std::io::IsTerminal;

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

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub quiet: bool,
}

impl Ui {
    pub fn progress(&self, message: &str) {
        if !self.quiet {
            eprintln!("{} {message}", paint("1;34", "==>"));
        }
    }

    pub fn warn(&self, message: &str) {
        eprintln!("{} {message}", paint("1;33", "warning:"));
    }
}

pub fn error(message: &str) {
    eprintln!("{} {message}", paint("1;31", "error:"));
}
