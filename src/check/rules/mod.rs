//! The rules of `check`, one family per file as ruff and hadolint lay theirs out: each file
//! reads the commands of its tools and says the message and the fix of its findings. This file
//! dispatches a command to its family and judges what spans a whole RUN.

pub(in crate::check) mod apt;
mod cleanup;
pub(in crate::check) mod conda;
pub(in crate::check) mod copy;
pub(in crate::check) mod distro;
pub(in crate::check) mod download;
pub(in crate::check) mod from;
mod gem;
pub(in crate::check) mod git;
mod npm;
pub(in crate::check) mod pip;
mod python;
mod redirect;
mod time;

use super::command::{is_python, Resolved};
use super::{shell, Acc, Finding, Severity, StageState};

/// A finding's severity, message and fix.
type Described = (Severity, String, String);

/// What one RUN does, gathered over its commands before judging the ones that depend on the
/// rest of the RUN (a later `rm -rf /var/lib/apt/lists/*`, a checksum check, a checkout).
#[derive(Default)]
pub(in crate::check) struct RunFacts {
    pub(in crate::check) apt_update: Option<usize>,
    /// The first `apt-get update` that reads today's index, with how it was written.
    pub(in crate::check) apt_live_update: Option<(usize, String)>,
    /// An apt install of an exact `pkg=ver`.
    pub(in crate::check) apt_pinned_install: bool,
    /// An apt install or upgrade of whatever version the index names today.
    pub(in crate::check) apt_floating_install: bool,
    pub(in crate::check) apt_install: Vec<usize>,
    pub(in crate::check) pip_installs: Vec<(usize, &'static str)>,
    pub(in crate::check) python_installs: Vec<usize>,
    pub(in crate::check) conda_installs: Vec<(usize, String)>,
    pub(in crate::check) downloads: Vec<(usize, String)>,
    pub(in crate::check) clones: Vec<(usize, String)>,
    pub(in crate::check) checksum: bool,
    pub(in crate::check) pinned_checkout: bool,
    pub(in crate::check) pip_cache_cleaned: bool,
    pub(in crate::check) uv_cache_cleaned: bool,
    pub(in crate::check) conda_cleaned: bool,
    pub(in crate::check) pyc_removed: bool,
    pub(in crate::check) snapshot: bool,
    pub(in crate::check) logs_cleaned: bool,
    pub(in crate::check) lists_cleaned: bool,
    pub(in crate::check) no_bytecode: bool,
    pub(in crate::check) sde: bool,
}

/// A command of a RUN as the lints of one tool read it: its line, what runs, its arguments, the
/// first that is no option, and what the stage has set before it.
pub(in crate::check) struct Invocation<'a> {
    at: usize,
    r: &'a Resolved,
    args: Vec<&'a str>,
    sub: Option<&'a str>,
    state: &'a StageState,
}

impl Invocation<'_> {
    /// Whether the command is prefixed with `NAME=value` (a non-empty value).
    fn prefixed(&self, name: &str) -> bool {
        self.r.env.iter().any(|(k, v)| k == name && !v.is_empty())
    }
}

#[allow(clippy::too_many_arguments)]
pub(in crate::check) fn lint_command(
    acc: &mut Acc,
    at: usize,
    r: &Resolved,
    cmd: &shell::Command,
    next: Option<&shell::Command>,
    state: &StageState,
    facts: &mut RunFacts,
) {
    let args: Vec<&str> = r.args.iter().map(String::as_str).collect();
    let sub = args.iter().find(|a| !a.starts_with('-')).copied();
    let c = Invocation {
        at,
        r,
        args,
        sub,
        state,
    };
    let args = &c.args;
    time::lint_build_time(acc, at, r, cmd, next);
    redirect::lint_redirected_version(acc, at, r, cmd);
    match r.program.as_str() {
        "apt-get" | "apt" | "aptitude" => apt::lint_apt(acc, &c, facts),
        "apk" if sub == Some("add") => distro::lint_apk(acc, &c),
        "yum" | "dnf" | "microdnf" | "tdnf" | "zypper"
            if matches!(sub, Some("install" | "groupinstall" | "in")) =>
        {
            distro::lint_rpm_install(acc, &c)
        }
        "pip" | "uv" | "pipx" => pip::lint_pip(acc, &c, facts),
        "conda" | "mamba" | "micromamba" | "conda-env" => conda::lint_conda(acc, &c, facts),
        "conda-lock" => {}
        p if is_python(p) && args.first() == Some(&"setup.py") && args.contains(&"install") => {
            facts.python_installs.push(at);
        }
        p if is_python(p) => python::lint_compileall(acc, &c, facts),
        "npm" | "yarn" | "pnpm" => npm::lint_node(acc, &c),
        "gem" if sub == Some("install") => gem::lint_gem(acc, &c),
        "git" => git::lint_git(&c, facts),
        "curl" | "wget" => download::lint_download(acc, at, r, cmd, next, facts),
        "rm" => cleanup::note_rm(&c, facts),
        "find"
            if args
                .iter()
                .any(|a| *a == "-delete" || *a == "rm" || a.ends_with("/rm")) =>
        {
            cleanup::note_find(&c, facts)
        }
        "sha256sum" | "sha512sum" | "sha384sum" | "sha1sum" | "md5sum" | "shasum" | "b2sum"
        | "gpgv" | "minisign" | "cosign" => {
            facts.checksum = true;
        }
        "gpg" if args.iter().any(|a| a.starts_with("--verify")) => facts.checksum = true,
        "openssl" if sub == Some("dgst") || sub == Some("sha256") => facts.checksum = true,
        _ => {}
    }
}

/// The words after the first of `subs` (`install`, `add`, …), less each option in `with_value`
/// and the value after it: the packages, and the options that take no value.
pub(in crate::check) fn operands<'a>(
    args: &[&'a str],
    subs: &[&str],
    with_value: &[&str],
) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut value_next = false;
    for a in args
        .iter()
        .copied()
        .skip_while(|a| !subs.contains(a))
        .skip(1)
    {
        if std::mem::take(&mut value_next) {
            continue;
        }
        if with_value.contains(&a) {
            value_next = true;
            continue;
        }
        out.push(a);
    }
    out
}

/// Judgements over the whole RUN: a cache left in the layer, bytecode without a fixed time, a
/// download no checksum checks, a clone no checkout pins.
pub(in crate::check) fn judge_run(acc: &mut Acc, facts: &RunFacts, cache_targets: &[String]) {
    let cached = Cached(cache_targets);
    apt::judge_run(acc, facts, &cached);
    pip::judge_run(acc, facts, &cached);
    conda::judge_run(acc, facts, &cached);
    download::judge_run(acc, facts);
    git::judge_run(acc, facts);
}

/// The targets of a RUN's cache and tmpfs mounts: what is under them stays out of the layer.
pub(in crate::check) struct Cached<'a>(&'a [String]);

impl Cached<'_> {
    /// Whether `path` is under a cache mount.
    fn holds(&self, path: &str) -> bool {
        self.0
            .iter()
            .any(|t| path == t || path.starts_with(&format!("{t}/")))
    }
}

pub(in crate::check) fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
/// The message and the fix of a finding, for exactly the items it is about.
pub(in crate::check) fn render(line: usize, rule: &'static str, items: &[String]) -> Finding {
    let described = [
        from::describe,
        apt::describe,
        distro::describe,
        pip::describe,
        conda::describe,
        npm::describe,
        gem::describe,
        download::describe,
        git::describe,
        copy::describe,
        time::describe,
        python::describe,
        redirect::describe,
    ]
    .iter()
    .find_map(|describe| describe(rule, items));
    let (severity, message, fix) = match described {
        Some(d) => d,
        None => other(rule, items),
    };
    Finding {
        line,
        rule,
        severity,
        message,
        fix,
    }
}

/// BuildKit's refusal, and a rule no family describes.
fn other(rule: &str, items: &[String]) -> Described {
    let list = items.join(", ");
    match rule {
        "dockerfile-invalid" => (
            Severity::Error,
            format!("BuildKit refuses this Dockerfile: {list}"),
            "correct the line as the reason says: no build of this file can start".to_string(),
        ),
        other => (Severity::Warning, list, format!("see the {other} rule")),
    }
}

/// What each rule is about, in one line (SARIF's `shortDescription`); empty for a name that is
/// no rule.
pub(in crate::check) fn summary(rule: &str) -> &'static str {
    match rule {
        "from-latest" => "An image pulled by a tag that moves (latest, a branch, none)",
        "from-unpinned" => "An image pulled by a version tag without a digest",
        "apt-without-snapshot" => {
            "apt-get update reads today's mirror for packages without exact pins"
        }
        "apt-unpinned" => "apt packages installed without a version",
        "apt-cache-left" => "apt lists left in the layer",
        "apt-logs-left" => "dpkg and apt logs left in the layer",
        "pip-unpinned" => "Python packages installed without an exact version, or from a branch",
        "pip-cache-left" => "pip's or uv's download cache left in the layer",
        "uv-unlocked" => "uv resolves dependencies anew instead of installing uv.lock",
        "conda-unlocked" => "conda solves the environment anew on every build",
        "conda-cache-left" => "conda's package cache left in the layer",
        "python-without-sde" => "Python packages compiled to .pyc holding the build time",
        "compileall-without-epoch" => "python -m compileall writes .pyc holding source mtimes",
        "shell-redirect-version" => "An unquoted version range the shell takes for a redirection",
        "apk-unpinned" => "apk packages installed without a version",
        "dnf-unpinned" => "yum or dnf packages installed without a version",
        "npm-unlocked" => "npm installs without a lockfile or an exact version",
        "gem-unpinned" => "gems installed without a version",
        "git-clone-unpinned" => "git clone of whatever a branch points at today",
        "download-no-checksum" => "A download used without a checksum check",
        "add-url-no-checksum" => "ADD of a URL without --checksum",
        "curl-pipe-shell" => "A downloaded script run unchecked",
        "build-time-content" => "The date, the host name or a random value written into the image",
        "copy-all-without-dockerignore" => "COPY . without a .dockerignore",
        "dockerfile-invalid" => "A Dockerfile BuildKit refuses",
        _ => "",
    }
}
