//! `docker repro check`: a static reproducibility lint for Dockerfiles. Fast and offline: it
//! reads the Dockerfile text (and whether a `.dockerignore` exists), nothing else.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{CheckArgs, Format};
use crate::dockerfile::{self, Instruction};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::project::{SEED_BASE, SEED_RELEASE};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub line: usize,
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    pub fix: String,
}

#[derive(Serialize)]
struct FileReport {
    file: String,
    findings: Vec<Finding>,
}

fn finding(
    line: usize,
    rule: &'static str,
    severity: Severity,
    message: String,
    fix: &str,
) -> Finding {
    Finding {
        line,
        rule,
        severity,
        message,
        fix: fix.to_string(),
    }
}

/// Words of a shell command line, split at `&&`, `||`, `;` and `|` into simple commands.
fn commands(script: &str) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new()];
    for word in script.split_whitespace() {
        let word = word.trim_matches(['"', '\'']);
        match word {
            "&&" | "||" | ";" | "|" => out.push(Vec::new()),
            w if w.ends_with(';') => {
                out.last_mut()
                    .expect("never empty")
                    .push(w.trim_end_matches(';').to_string());
                out.push(Vec::new());
            }
            w => out.last_mut().expect("never empty").push(w.to_string()),
        }
    }
    out.retain(|c| !c.is_empty());
    out
}

/// The command with `sudo`, `env X=Y` and `python -m` prefixes removed.
fn program(cmd: &[String]) -> Vec<&str> {
    let mut words: Vec<&str> = cmd.iter().map(String::as_str).collect();
    while let Some(first) = words.first() {
        if *first == "sudo" || *first == "env" || first.contains('=') && !first.starts_with('-') {
            words.remove(0);
        } else {
            break;
        }
    }
    if words.len() >= 3 && words[0].starts_with("python") && words[1] == "-m" {
        words.drain(..2);
    }
    words
}

fn is_pip(word: &str) -> bool {
    matches!(
        word.rsplit('/').next().unwrap_or(word),
        "pip" | "pip3" | "uv" | "pipx"
    ) || word.starts_with("pip3.")
}

/// Lints one Dockerfile; `context` is where a `.dockerignore` would be. In the seed layout's
/// release Dockerfile, `FROM <image>:base` is the base built by the same release, which
/// `docker repro release` pins to its digest, so it is not reported.
pub fn lint(source: &[u8], context: &Path, seed_release: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut stage_has_sde = false;
    let mut stages: Vec<String> = Vec::new();
    for Instruction {
        line,
        keyword,
        rest,
    } in dockerfile::instructions(source)
    {
        match keyword.as_str() {
            "FROM" => {
                stage_has_sde = false;
                let (_, words) = dockerfile::flags_and_words(&rest);
                let Some(image) = words.first().cloned() else {
                    continue;
                };
                if let [_, as_kw, name] = words.as_slice() {
                    if as_kw.eq_ignore_ascii_case("as") {
                        stages.push(name.to_ascii_lowercase());
                    }
                }
                let own_base = seed_release && image.ends_with(":base");
                if image == "scratch"
                    || own_base
                    || stages.contains(&image.to_ascii_lowercase())
                    || image.contains('$')
                {
                    continue;
                }
                let last = image.rsplit('/').next().unwrap_or(&image);
                if image.contains("@sha256:") {
                } else if !last.contains(':') || last.ends_with(":latest") {
                    out.push(finding(line, "from-latest", Severity::Error, format!("`FROM {image}` follows a moving tag (latest)"), "name a version tag and pin its digest: FROM IMAGE:TAG@sha256:... (`docker buildx imagetools inspect IMAGE:TAG` prints it)"));
                } else {
                    out.push(finding(line, "from-unpinned", Severity::Warning, format!("`FROM {image}` has no digest; the tag can move"), "pin the digest: FROM IMAGE:TAG@sha256:... (docker repro release pins it in the lock, but a plain docker build does not)"));
                }
            }
            "ARG"
                if rest
                    .split_whitespace()
                    .any(|w| w.split('=').next() == Some("SOURCE_DATE_EPOCH")) =>
            {
                stage_has_sde = true;
            }
            "ADD" => {
                let (flags, words) = dockerfile::flags_and_words(&rest);
                let has_checksum = flags.iter().any(|(n, _)| n == "checksum");
                for src in words.iter().take(words.len().saturating_sub(1)) {
                    if (src.starts_with("http://") || src.starts_with("https://")) && !has_checksum
                    {
                        out.push(finding(
                            line,
                            "add-url-no-checksum",
                            Severity::Error,
                            format!("`ADD {src}` downloads whatever the URL serves today"),
                            "add --checksum=sha256:<hex> (ADD --checksum=sha256:... URL DEST)",
                        ));
                    }
                }
                copy_all(line, &keyword, &words, context, &mut out);
            }
            "COPY" => {
                let (flags, words) = dockerfile::flags_and_words(&rest);
                if flags.iter().all(|(n, _)| n != "from") {
                    copy_all(line, &keyword, &words, context, &mut out);
                }
            }
            "RUN" => {
                let (flags, _) = dockerfile::flags_and_words(&rest);
                let cache_mounts: Vec<&str> = flags
                    .iter()
                    .filter(|(n, v)| n == "mount" && v.contains("type=cache"))
                    .map(|(_, v)| v.as_str())
                    .collect();
                let script = rest.clone();
                lint_run(line, &script, stage_has_sde, &cache_mounts, &mut out);
            }
            _ => {}
        }
    }
    out.sort_by(|a, b| (a.line, a.rule).cmp(&(b.line, b.rule)));
    out
}

fn copy_all(line: usize, keyword: &str, words: &[String], context: &Path, out: &mut Vec<Finding>) {
    let sources = &words[..words.len().saturating_sub(1)];
    if sources.iter().any(|s| s == "." || s == "./") && !context.join(".dockerignore").exists() {
        out.push(finding(line, "copy-all-without-dockerignore", Severity::Warning, format!("`{keyword} .` copies the whole context and there is no .dockerignore"), "add a .dockerignore (at least .git, __pycache__, *.pyc, data and outputs), or copy named directories"));
    }
}

fn lint_run(
    line: usize,
    script: &str,
    stage_has_sde: bool,
    cache_mounts: &[&str],
    out: &mut Vec<Finding>,
) {
    let cmds = commands(script);
    let snapshot = script.contains("snapshot.debian.org")
        || script.contains("snapshot.ubuntu.com")
        || script.contains("--snapshot");
    let mut installs_python = false;
    for cmd in &cmds {
        let words = program(cmd);
        let Some(first) = words.first().copied() else {
            continue;
        };
        let rest: Vec<&str> = words[1..].to_vec();
        match first {
            "apt-get" | "apt" if rest.contains(&"update") && !snapshot => {
                out.push(finding(line, "apt-without-snapshot", Severity::Warning, "`apt-get update` reads today's mirror; a rebuild later gets other versions".into(), "point sources at snapshot.debian.org (or snapshot.ubuntu.com) for a fixed date, or use apt-get --snapshot on apt >= 2.7"));
            }
            "apt-get" | "apt" if rest.contains(&"install") => {
                let unpinned: Vec<&str> = rest
                    .iter()
                    .skip_while(|w| **w != "install")
                    .skip(1)
                    .filter(|w| {
                        !w.starts_with('-')
                            && !w.contains('=')
                            && !w.starts_with('/')
                            && !w.starts_with('.')
                    })
                    .copied()
                    .collect();
                if !unpinned.is_empty() && !snapshot {
                    out.push(finding(line, "apt-unpinned", Severity::Warning, format!("apt packages without versions: {}", unpinned.join(", ")), "pin each package (pkg=1.2-3, from `apt-cache policy pkg`) or install from a snapshot.debian.org date"));
                }
                let cleaned = script.contains("/var/lib/apt/lists")
                    || cache_mounts
                        .iter()
                        .any(|m| m.contains("/var/lib/apt") || m.contains("/var/cache/apt"));
                if !cleaned {
                    out.push(finding(line, "apt-cache-left", Severity::Warning, "apt lists and caches stay in the layer (/var/lib/apt/lists, /var/cache/apt)".into(), "end the same RUN with `rm -rf /var/lib/apt/lists/*`, or use RUN --mount=type=cache,target=/var/cache/apt"));
                }
                if !script.contains("/var/log") {
                    out.push(finding(line, "apt-logs-left", Severity::Info, "dpkg and apt logs and ldconfig's aux-cache record the build (/var/log/dpkg.log, /var/log/apt, /var/cache/ldconfig/aux-cache)".into(), "end the same RUN with `rm -rf /var/log/dpkg.log /var/log/apt /var/log/alternatives.log /var/cache/ldconfig/aux-cache`"));
                }
            }
            w if is_pip(w)
                && rest
                    .first()
                    .is_some_and(|s| *s == "install" || *s == "sync") =>
            {
                installs_python = true;
                let args: Vec<&str> = rest[1..].to_vec();
                let mut skip_next = false;
                let mut unpinned = Vec::new();
                for a in &args {
                    if skip_next {
                        skip_next = false;
                        continue;
                    }
                    if a.starts_with('-') {
                        skip_next = [
                            "-r",
                            "-c",
                            "-e",
                            "-i",
                            "-f",
                            "--index-url",
                            "--extra-index-url",
                            "--find-links",
                            "-t",
                            "--target",
                            "--prefix",
                            "--root",
                        ]
                        .contains(a);
                        continue;
                    }
                    let local = a.starts_with('/')
                        || a.starts_with('.')
                        || a.ends_with(".whl")
                        || a.ends_with(".tar.gz")
                        || a.contains("://")
                        || a.contains('*');
                    if !local && !a.contains("==") && !a.contains('@') {
                        unpinned.push(*a);
                    }
                }
                if !unpinned.is_empty() {
                    {
                        out.push(finding(line, "pip-unpinned", Severity::Warning, format!("pip packages without == pins: {}", unpinned.join(", ")), "pin exact versions (pkg==1.2.3), better with hashes: pip install --require-hashes -r requirements.lock (pip-compile --generate-hashes, or uv pip compile)"));
                    }
                }
                let no_cache = args.contains(&"--no-cache-dir")
                    || cache_mounts
                        .iter()
                        .any(|m| m.contains(".cache/pip") || m.contains(".cache/uv"))
                    || w == "uv";
                if !no_cache {
                    out.push(finding(
                        line,
                        "pip-cache-left",
                        Severity::Warning,
                        "pip's cache (/root/.cache/pip) stays in the layer".into(),
                        "add --no-cache-dir, or use RUN --mount=type=cache,target=/root/.cache/pip",
                    ));
                }
            }
            "conda" | "mamba" | "micromamba" => {
                let sub: Vec<&str> = rest
                    .iter()
                    .filter(|w| !w.starts_with('-'))
                    .copied()
                    .collect();
                let installing = matches!(
                    sub.as_slice(),
                    ["install", ..]
                        | ["create", ..]
                        | ["env", "create", ..]
                        | ["env", "update", ..]
                        | ["update", ..]
                );
                if installing {
                    installs_python = true;
                    let locked = script.contains("conda-lock")
                        || script.contains(".lock")
                        || script.contains("--explicit")
                        || rest
                            .iter()
                            .any(|w| w.ends_with(".txt") && script.contains("@EXPLICIT"));
                    if !locked {
                        out.push(finding(line, "conda-unlocked", Severity::Warning, format!("`{first} {}` solves the environment anew on every build", sub.join(" ")), "solve once and install the result: conda-lock (conda-lock install) or `conda list --explicit --md5 > spec.txt` then `conda create --file spec.txt`"));
                    }
                    if !script.contains("conda clean") {
                        out.push(finding(
                            line,
                            "conda-cache-left",
                            Severity::Info,
                            "conda's package cache stays in the layer".into(),
                            "end the same RUN with `conda clean -afy`",
                        ));
                    }
                }
            }
            "python" | "python3" if rest.contains(&"setup.py") && rest.contains(&"install") => {
                installs_python = true
            }
            "git" if rest.first() == Some(&"clone") => {
                let pinned = script
                    .split(|c: char| !c.is_ascii_hexdigit())
                    .any(|w| w.len() == 40);
                if !pinned {
                    out.push(finding(line, "git-clone-unpinned", Severity::Warning, "`git clone` takes whatever the branch points at today".into(), "check out a commit: git clone URL dir && git -C dir checkout <40-hex commit>"));
                }
            }
            _ => {}
        }
    }
    // `curl ... | sh` and `wget -O- ... | bash`: a pipe into a shell.
    let pipes: Vec<&str> = script.split('|').map(str::trim).collect();
    for pair in pipes.windows(2) {
        let (left, right) = (pair[0], pair[1]);
        let downloads = left
            .split_whitespace()
            .any(|w| matches!(w, "curl" | "wget"));
        let shell = right.split_whitespace().next().is_some_and(|w| {
            matches!(
                w.rsplit('/').next().unwrap_or(w),
                "sh" | "bash" | "zsh" | "python" | "python3"
            )
        });
        if downloads && shell {
            out.push(finding(line, "curl-pipe-shell", Severity::Error, "a downloaded script is piped into a shell: whatever the URL serves runs".into(), "download to a file, check its sha256 (echo \"<sha256>  file\" | sha256sum -c), then run it; or ADD --checksum"));
        }
    }
    if installs_python && !stage_has_sde {
        out.push(finding(line, "python-without-sde", Severity::Warning, "Python packages are installed without ARG SOURCE_DATE_EPOCH in scope: the .pyc files carry the build time".into(), "add `ARG SOURCE_DATE_EPOCH` in this stage before the RUN (pip then writes hash-based .pyc), or set PYTHONDONTWRITEBYTECODE=1"));
    }
}

/// The Dockerfiles `check` looks at when none is named.
fn default_files(project: &Path) -> Vec<PathBuf> {
    let seed: Vec<PathBuf> = [SEED_BASE, SEED_RELEASE]
        .iter()
        .map(PathBuf::from)
        .filter(|p| project.join(p).is_file())
        .collect();
    if !seed.is_empty() {
        return seed;
    }
    vec![PathBuf::from("Dockerfile")]
}

pub fn run(args: &CheckArgs) -> Result<Exit> {
    let project = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let files = if args.dockerfiles.is_empty() {
        default_files(&project)
    } else {
        args.dockerfiles.clone()
    };
    let mut reports = Vec::new();
    for file in &files {
        let source = std::fs::read(file).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Usage(format!(
                "{}: no such Dockerfile; name one: docker repro check PATH",
                file.display()
            )),
            _ => Error::io(file, e),
        })?;
        let context = match &args.context {
            Some(c) => c.clone(),
            // The seed layout builds docker/Dockerfile.* with the project root as context.
            None if file.parent().is_some_and(|p| p.ends_with("docker")) => file
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            None => file.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let context = if context.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            context
        };
        let seed_release = file.file_name().is_some_and(|n| n == "Dockerfile.release");
        reports.push(FileReport {
            file: file.display().to_string(),
            findings: lint(&source, &context, seed_release),
        });
    }
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&reports).expect("report serializes")
        ),
        Format::Human => {
            for r in &reports {
                for f in &r.findings {
                    let severity = match f.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                        Severity::Info => "info",
                    };
                    crate::ui::print_human(&format!(
                        "{}:{}: {severity}[{}] {}\n    fix: {}\n",
                        crate::ui::escape(&r.file),
                        f.line,
                        f.rule,
                        crate::ui::escape(&f.message),
                        crate::ui::escape(&f.fix)
                    ));
                }
            }
            let total: usize = reports.iter().map(|r| r.findings.len()).sum();
            let counted = reports
                .iter()
                .flat_map(|r| &r.findings)
                .filter(|f| f.severity >= args.severity)
                .count();
            let threshold = format!("{:?}", args.severity).to_lowercase();
            println!(
                "{total} finding(s) in {} file(s), {counted} at or above {threshold}",
                reports.len()
            );
        }
    }
    let failing = reports
        .iter()
        .flat_map(|r| &r.findings)
        .any(|f| f.severity >= args.severity);
    Ok(if failing { Exit::Different } else { Exit::Ok })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(dockerfile: &str) -> Vec<(usize, &'static str)> {
        let dir = tempfile::tempdir().unwrap();
        lint(dockerfile.as_bytes(), dir.path(), false)
            .into_iter()
            .map(|f| (f.line, f.rule))
            .collect()
    }

    #[test]
    fn clean_dockerfile_has_no_findings() {
        let df = "FROM python:3.11-slim@sha256:0000000000000000000000000000000000000000000000000000000000000000\nARG SOURCE_DATE_EPOCH\nCOPY requirements.lock /tmp/\nRUN pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock\nCOPY src /app/src\n";
        assert_eq!(rules(df), []);
    }

    #[test]
    fn each_rule_fires_on_its_line() {
        let df = "FROM ubuntu\nFROM ubuntu:22.04 AS build\nRUN apt-get update && apt-get install -y python3 curl=7.81.0-1\nRUN pip install numpy torch==2.1.0 ./local.whl\nADD https://example.org/x.tar.gz /x\nRUN git clone https://github.com/a/b /b\nRUN curl -fsSL https://get.example.org | sh\nRUN conda env create -f environment.yml\nCOPY . /app\nFROM build\nRUN git clone https://github.com/a/b /b && git -C /b checkout 0123456789abcdef0123456789abcdef01234567\n";
        assert_eq!(
            rules(df),
            [
                (1, "from-latest"),
                (2, "from-unpinned"),
                (3, "apt-cache-left"),
                (3, "apt-logs-left"),
                (3, "apt-unpinned"),
                (3, "apt-without-snapshot"),
                (4, "pip-cache-left"),
                (4, "pip-unpinned"),
                (4, "python-without-sde"),
                (5, "add-url-no-checksum"),
                (6, "git-clone-unpinned"),
                (7, "curl-pipe-shell"),
                (8, "conda-cache-left"),
                (8, "conda-unlocked"),
                (8, "python-without-sde"),
                (9, "copy-all-without-dockerignore"),
            ]
        );
    }

    #[test]
    fn fixes_that_silence_rules() {
        // A snapshot date, cleaned lists and logs, ARG SOURCE_DATE_EPOCH before pip, a cache mount.
        let df = "FROM debian:bookworm@sha256:1111111111111111111111111111111111111111111111111111111111111111\nARG SOURCE_DATE_EPOCH\nRUN echo 'deb http://snapshot.debian.org/archive/debian/20240501T000000Z bookworm main' > /etc/apt/sources.list && apt-get update && apt-get install -y python3-pip && rm -rf /var/lib/apt/lists/* /var/log/dpkg.log /var/log/apt /var/cache/ldconfig/aux-cache\nRUN --mount=type=cache,target=/root/.cache/pip pip install numpy==1.26.4\n";
        assert_eq!(rules(df), []);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".dockerignore"), ".git\n").unwrap();
        assert!(lint(b"FROM scratch\nCOPY . /app\n", dir.path(), false).is_empty());
        assert!(lint(b"FROM curvenet:base\nCOPY src /app\n", dir.path(), true).is_empty());
    }

    #[test]
    fn sde_is_per_stage() {
        let df = "FROM a:1@sha256:1111111111111111111111111111111111111111111111111111111111111111 AS one\nARG SOURCE_DATE_EPOCH\nFROM a:1@sha256:1111111111111111111111111111111111111111111111111111111111111111\nRUN pip install --no-cache-dir x==1\n";
        assert_eq!(rules(df), [(4, "python-without-sde")]);
    }
}
