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

/// Each of these lints one Dockerfile that several families judge, so it belongs to none of
/// their files.
#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::check::testutil::{only, rules, BASE};
    use crate::check::{check_file, lint, Options};

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
    fn installers_beyond_pip_and_apt() {
        let df = format!(
            "{BASE}RUN uv add requests\nRUN uv sync\nRUN uv sync --frozen --no-cache\nRUN conda install -y numpy && conda clean -afy\n\
             RUN mamba env create -f environment.yml && mamba clean -afy\nRUN micromamba install -y -n base -f conda-lock.yml && micromamba clean --all --yes\n\
             RUN apk add --no-cache curl py3-pip=23.1-r0\nRUN dnf install -y gcc python3-devel-3.11.5\nRUN yum install -y make\n\
             COPY package.json /app/\nRUN npm install\nRUN npm install -g typescript@5.4.5 yarn\nRUN gem install bundler\nRUN gem install rake -v 13.0.6\n"
        );
        let r = rules(&df);
        for want in [
            (3, "uv-unlocked"),
            (4, "uv-unlocked"),
            (6, "conda-unlocked"),
            (7, "conda-unlocked"),
            (9, "apk-unpinned"),
            (10, "dnf-unpinned"),
            (11, "dnf-unpinned"),
            (13, "npm-unlocked"),
            (14, "npm-unlocked"),
            (15, "gem-unpinned"),
        ] {
            assert!(r.contains(&want), "{want:?} in {r:?}");
        }
        for not in [
            (5, "uv-unlocked"),
            (8, "conda-unlocked"),
            (16, "gem-unpinned"),
        ] {
            assert!(!r.contains(&not), "{not:?} in {r:?}");
        }
        let report = check_file(
            df.as_bytes(),
            Path::new("/nonexistent"),
            false,
            &Options::default(),
        );
        let apk = report
            .findings
            .iter()
            .find(|f| f.rule == "apk-unpinned")
            .unwrap();
        assert_eq!(apk.message, "apk packages without versions: curl");
        let npm = report.findings.iter().find(|f| f.line == 14).unwrap();
        assert!(npm.message.ends_with(": yarn"), "{}", npm.message);
        // The lockfile copied in: npm install follows it.
        let df = format!("{BASE}COPY package.json package-lock.json /app/\nRUN npm install\n");
        assert!(only(&df, "npm-unlocked").is_empty());
    }

    #[test]
    fn sources_that_float() {
        let df = format!(
            "{BASE}RUN pip install --no-cache-dir git+https://github.com/a/b.git@main git+https://github.com/a/c.git \
             git+https://github.com/a/d.git@0123456789abcdef0123456789abcdef01234567 \"e @ git+https://github.com/a/e@v1.2.3\"\n\
             RUN git clone https://github.com/a/b /b\n\
             RUN git clone --depth 1 --branch v2.1.0 https://github.com/a/c /c\n\
             RUN git clone https://github.com/a/d /d && git -C /d checkout 0123456789abcdef0123456789abcdef01234567\n\
             RUN curl -fsSLO https://example.org/tool.tar.gz && tar xzf tool.tar.gz\n\
             RUN curl -fsSLO https://example.org/t2.tar.gz && echo \"abc  t2.tar.gz\" | sha256sum -c - && tar xzf t2.tar.gz\n\
             RUN wget -qO- https://example.org/t3.tgz | tar xz\n\
             ADD https://example.org/x.tar.gz /x\n\
             ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.org/y.tar.gz /y\n\
             RUN curl -fsSL https://get.example.org | sh\n\
             RUN curl -fsSL https://get.example.org | sudo -E bash -\n\
             RUN wget -qO- https://get.example.org | python3\n\
             RUN bash -c \"$(curl -fsSL https://get.example.org)\"\n\
             RUN curl -fsSL https://example.org/key.gpg | gpg --dearmor -o /usr/share/keyrings/x.gpg\n"
        );
        let report = check_file(
            df.as_bytes(),
            Path::new("/nonexistent"),
            false,
            &Options::default(),
        );
        let at = |line: usize, rule: &str| {
            report
                .findings
                .iter()
                .find(|f| f.line == line && f.rule == rule)
                .cloned()
        };
        let pip = at(3, "pip-unpinned").expect("pip-unpinned");
        assert!(
            pip.message.contains("b.git@main") && pip.message.contains("c.git"),
            "{}",
            pip.message
        );
        assert!(
            !pip.message.contains("d.git") && !pip.message.contains("e@v1.2.3"),
            "{}",
            pip.message
        );
        assert!(pip.fix.contains("40-hex commit"), "{}", pip.fix);
        assert!(at(4, "git-clone-unpinned")
            .unwrap()
            .fix
            .contains("git clone https://github.com/a/b DIR"));
        assert!(at(5, "git-clone-unpinned").is_none());
        assert!(at(6, "git-clone-unpinned").is_none());
        assert!(at(7, "download-no-checksum").is_some());
        assert!(at(8, "download-no-checksum").is_none());
        assert!(at(9, "download-no-checksum").is_some());
        assert!(at(10, "add-url-no-checksum")
            .unwrap()
            .fix
            .contains("https://example.org/x.tar.gz"));
        assert!(at(11, "add-url-no-checksum").is_none());
        for line in 12..=15 {
            assert!(at(line, "curl-pipe-shell").is_some(), "line {line}");
            assert!(at(line, "download-no-checksum").is_none(), "line {line}");
        }
        assert!(at(16, "download-no-checksum").is_none());
        assert!(at(16, "curl-pipe-shell").is_none());
    }

    #[test]
    fn no_false_alarms_for_what_is_fine() {
        let df = format!(
            "{BASE}ENV PIP_NO_COMPILE=1\n\
             RUN pip install --no-cache-dir --trusted-host pypi.example.org --upgrade-strategy eager -i https://pypi.example.org/simple \
             -c constraints.txt -r requirements.txt torch==2.3.0\n\
             RUN PKGS='torch==2.3.0 numpy==1.26.4' && pip install --no-cache-dir $PKGS\n\
             RUN pip install numpy==1.26.4 && pip cache purge\n\
             RUN pip install numpy==1.26.4 && rm -rf ~/.cache/pip\n\
             RUN --mount=type=cache,target=/root/.cache/pip pip install numpy==1.26.4\n\
             RUN uv sync --frozen --no-cache\n\
             RUN pip install --no-cache-dir numpy==1.26.4 # numpy scipy pandas\n\
             ARG TORCH_VERSION\n\
             RUN pip install --no-cache-dir torch==${{TORCH_VERSION}} \"numpy==$NUMPY\" $PKGS\n"
        );
        assert_eq!(rules(&df), []);
        // A cache mount keeps apt's archives out, but the lists of `apt-get update` stay.
        let df = "FROM debian:12@sha256:1111111111111111111111111111111111111111111111111111111111111111\n\
                  RUN --mount=type=cache,target=/var/cache/apt apt-get update && apt-get install -y curl=7.88.1-10 && rm -rf /var/log/*\n";
        assert_eq!(only(df, "apt-cache-left"), [2]);
        let df = "FROM debian:12@sha256:1111111111111111111111111111111111111111111111111111111111111111\n\
                  RUN --mount=type=cache,target=/var/cache/apt --mount=type=cache,target=/var/lib/apt apt-get update && apt-get install -y curl=7.88.1-10 && rm -rf /var/log/*\n";
        assert_eq!(only(df, "apt-cache-left"), Vec::<usize>::new());
    }

    /// Each message and fix names what the line does: the command, the tool, the package.
    #[test]
    fn messages_and_fixes_name_the_case_at_hand() {
        let df = format!(
            "{BASE}RUN apt update && apt install -y curl=8.5.0-2 git && rm -rf /var/lib/apt/lists/* /var/log/*\n\
             RUN micromamba install -y -n base numpy\n\
             RUN uv pip install --system numpy==1.26.4\n\
             RUN mamba install -y scipy && mamba clean -afy\n"
        );
        let report = check_file(
            df.as_bytes(),
            Path::new("/nonexistent"),
            false,
            &Options::default(),
        );
        let get = |line: usize, rule: &str| {
            report
                .findings
                .iter()
                .find(|f| f.line == line && f.rule == rule)
                .unwrap_or_else(|| panic!("{rule} on line {line}: {:?}", report.findings))
        };
        assert!(get(3, "apt-without-snapshot")
            .message
            .starts_with("`apt update` reads"));
        let conda = get(4, "conda-unlocked");
        assert!(
            conda.message.contains("`micromamba install -n base numpy`"),
            "{}",
            conda.message
        );
        assert_eq!(
            get(4, "conda-cache-left").fix,
            "end the same RUN with `micromamba clean --all --yes`"
        );
        let uv = get(5, "pip-cache-left");
        assert!(
            uv.message.starts_with("uv's download cache"),
            "{}",
            uv.message
        );
        assert!(uv.fix.starts_with("add --no-cache to uv"), "{}", uv.fix);
        assert!(!uv.fix.contains("--no-cache-dir"), "{}", uv.fix);
        assert!(report
            .findings
            .iter()
            .all(|f| f.line != 5 || f.rule != "python-without-sde"));
        assert!(get(6, "conda-unlocked")
            .message
            .contains("`mamba install scipy`"));
    }
}
