//! curl and wget: `download-no-checksum`, `curl-pipe-shell`.

use super::{Acc, Described, RunFacts};
use crate::check::command::{is_python, resolve, Resolved, SHELLS};
use crate::check::shell;

pub(in crate::check) fn lint_download(
    acc: &mut Acc,
    at: usize,
    r: &Resolved,
    cmd: &shell::Command,
    next: Option<&shell::Command>,
    facts: &mut RunFacts,
) {
    let args: Vec<&str> = r.args.iter().map(String::as_str).collect();
    let curl = r.program == "curl";
    let download = Download::of(curl, &args, cmd.to_file);
    if download.head {
        return;
    }
    let Some(url) = download.url else { return };
    let lower = url.to_ascii_lowercase();
    let key = [
        ".gpg", ".asc", ".key", ".pub", "gpgkey", "/key", ".list", ".repo", ".sources", ".pem",
        ".crt", "keys/",
    ]
    .iter()
    .any(|k| lower.trim_end_matches('/').ends_with(k) || lower.contains("gpg"));
    // Into a shell or an interpreter: the script runs as downloaded.
    if let Some(next) = next.filter(|_| download.to_stdout || !curl) {
        lint_piped_download(acc, at, r, url, key, next, facts);
        return;
    }
    if download.to_file && !key {
        facts.downloads.push((at, url));
    }
}

/// What a curl or wget command line says about its download.
#[derive(Default)]
pub(in crate::check) struct Download {
    /// The URL (the first argument, or the first with a scheme).
    url: Option<String>,
    to_file: bool,
    to_stdout: bool,
    /// Only the headers (`curl -I`, `wget --spider`): nothing is downloaded.
    head: bool,
}

impl Download {
    /// Reads the arguments of curl (`curl`) or wget; `to_file` when the shell redirects its
    /// output into a file.
    fn of(curl: bool, args: &[&str], to_file: bool) -> Download {
        let mut download = Download {
            to_file,
            to_stdout: curl,
            ..Default::default()
        };
        let mut i = 0;
        while i < args.len() {
            let a = args[i];
            let taken = if curl {
                download.curl_option(args, i)
            } else {
                download.wget_option(args, i)
            };
            if let Some(taken) = taken {
                i += taken;
                continue;
            }
            let has_scheme = |u: &str| u.contains("://");
            if !a.starts_with('-')
                && (download.url.is_none()
                    || has_scheme(a) && !download.url.as_deref().is_some_and(has_scheme))
            {
                download.url = Some(a.trim_matches(['"', '\'']).to_string());
            }
            i += 1;
        }
        download
    }

    /// Notes what curl's argument `i` says; `Some(2)` when it is an option that takes the next
    /// argument as its value (both are read).
    fn curl_option(&mut self, args: &[&str], i: usize) -> Option<usize> {
        let a = args[i];
        let names_file = || {
            args.get(i + 1)
                .is_some_and(|f| *f != "-" && *f != "/dev/null")
        };
        if matches!(a, "-o" | "--output") {
            self.to_file |= names_file();
            return Some(2);
        }
        if a == "-O" || a == "--remote-name" || a == "--remote-name-all" {
            self.to_file = true;
        } else if a.starts_with('-') && !a.starts_with("--") {
            if a.contains('O') {
                self.to_file = true;
            }
            if a.ends_with('o') {
                self.to_file |= names_file();
                return Some(2);
            }
            if a.contains('I') {
                self.head = true;
            }
        } else if a == "--head" {
            self.head = true;
        } else if matches!(
            a,
            "-H" | "--header"
                | "-u"
                | "--user"
                | "-d"
                | "--data"
                | "-X"
                | "--request"
                | "-A"
                | "--user-agent"
                | "--retry"
                | "-m"
                | "--max-time"
                | "--connect-timeout"
                | "-w"
                | "--write-out"
                | "-e"
                | "--referer"
                | "--cacert"
                | "--proto"
                | "-T"
                | "--upload-file"
                | "-x"
                | "--proxy"
                | "--retry-delay"
                | "--retry-max-time"
                | "-b"
                | "--cookie"
                | "-c"
                | "--cookie-jar"
                | "--output-dir"
                | "-C"
                | "--continue-at"
                | "-K"
                | "--config"
                | "-r"
                | "--range"
        ) {
            return Some(2);
        }
        None
    }

    /// [`Download::curl_option`] for wget.
    fn wget_option(&mut self, args: &[&str], i: usize) -> Option<usize> {
        let a = args[i];
        let mut output = |target: &str| {
            if target == "-" {
                self.to_stdout = true;
            } else {
                self.to_file = true;
            }
        };
        if matches!(a, "-O" | "--output-document") {
            let target = args.get(i + 1).copied().unwrap_or("");
            if target != "/dev/null" {
                output(target);
            }
            return Some(2);
        }
        if let Some(target) = a
            .strip_prefix("--output-document=")
            .or_else(|| a.strip_prefix("-O").filter(|t| !t.is_empty()))
        {
            output(target);
        } else if a.starts_with('-') && !a.starts_with("--") && a.ends_with('O') {
            // -qO FILE / -qO- FILE
            output(args.get(i + 1).copied().unwrap_or(""));
            return Some(2);
        } else if a.starts_with('-') && !a.starts_with("--") && a.ends_with("O-") {
            self.to_stdout = true;
        } else if a == "--spider" {
            self.head = true;
        } else if matches!(
            a,
            "-P" | "--directory-prefix"
                | "--header"
                | "-U"
                | "--user-agent"
                | "-t"
                | "--tries"
                | "-T"
                | "--timeout"
                | "--user"
                | "--password"
                | "-o"
                | "--output-file"
                | "-a"
                | "--append-output"
                | "-e"
                | "--execute"
                | "--post-data"
                | "--ca-certificate"
        ) {
            if matches!(a, "-P" | "--directory-prefix") {
                self.to_file = true;
            }
            return Some(2);
        } else if !a.starts_with('-') {
            self.to_file = true;
        }
        None
    }
}

/// A download piped into `next`: a shell or an interpreter runs it as downloaded; an unpacker
/// or installer keeps it (a download to check), unless it is a key or a package list.
pub(in crate::check) fn lint_piped_download(
    acc: &mut Acc,
    at: usize,
    r: &Resolved,
    url: String,
    key: bool,
    next: &shell::Command,
    facts: &mut RunFacts,
) {
    let words: Vec<String> = next
        .words
        .iter()
        .map(|w| w.trim_matches(['"', '\'']).to_string())
        .collect();
    let target = resolve(&words);
    let runs = SHELLS.contains(&target.program.as_str()) && target.script.is_none()
        || is_python(&target.program)
        || matches!(target.program.as_str(), "perl" | "ruby" | "node");
    if runs {
        acc.add(
            at,
            "curl-pipe-shell",
            format!("{} {url} | {}", r.program, target.program),
        );
        return;
    }
    let unpacks = matches!(
        target.program.as_str(),
        "tar"
            | "unzip"
            | "gunzip"
            | "gzip"
            | "bsdtar"
            | "xz"
            | "zstd"
            | "bunzip2"
            | "dpkg"
            | "rpm"
            | "tee"
            | "install"
            | "cpio"
            | "funzip"
    );
    if unpacks
        && !key
        && !(target.program == "tee"
            && next
                .words
                .iter()
                .any(|w| w.contains("/etc/apt") || w.contains("keyring")))
    {
        facts.downloads.push((at, url));
    }
}

/// `bash -c "$(curl …)"` and `sh <(curl …)`: a downloaded script run by a shell.
pub(in crate::check) fn runs_downloaded_script(words: &[String]) -> bool {
    let r = resolve(words);
    if !SHELLS.contains(&r.program.as_str()) && !is_python(&r.program) {
        return false;
    }
    let text = match &r.script {
        Some(s) => s.clone(),
        None => r.args.join(" "),
    };
    ["$(curl", "$(wget", "<(curl", "<(wget", "`curl", "`wget"]
        .iter()
        .any(|p| text.contains(p))
}

/// A RUN's downloads that no checksum check in it covers.
pub(in crate::check) fn judge_run(acc: &mut Acc, facts: &RunFacts) {
    if !facts.checksum {
        for (at, url) in &facts.downloads {
            if !acc.has(*at, "curl-pipe-shell") {
                acc.add(*at, "download-no-checksum", url.clone());
            }
        }
    }
}

/// The message and the fix of a finding of this family, for exactly the items it is about;
/// `None` for another family's rule.
pub(super) fn describe(rule: &str, items: &[String]) -> Option<Described> {
    use crate::check::Severity::{Error, Warning};
    let list = items.join(", ");
    Some(match rule {
        "download-no-checksum" => (
            Warning,
            format!("downloaded and used without a checksum check: {list}"),
            "check it in the same RUN before use: echo \"<sha256>  FILE\" | sha256sum -c - (or ADD --checksum=sha256:... URL DEST)".into(),
        ),
        "curl-pipe-shell" => (
            Error,
            format!("a downloaded script runs unchecked: {list}"),
            "download to a file, check its sha256 (echo \"<sha256>  file\" | sha256sum -c -), then run it; or ADD --checksum".into(),
        ),
        _ => return None,
    })
}
