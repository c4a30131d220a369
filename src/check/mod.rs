//! `docker repro check`: a static reproducibility lint for Dockerfiles, and the images a build
//! pulls. Fast and offline: it reads the Dockerfile text (and whether a `.dockerignore` exists),
//! nothing else.
//!
//! The Dockerfile is read by [`crate::dockerfile`], BuildKit's own rules; a RUN script is split
//! into simple commands by [`shell`] (after `&&`, `||`, `;`, `|`, in `sh -c '…'`, `$(…)`, heredoc
//! bodies), each command is unwrapped (`sudo`, `env X=1`, `conda run -n env`, `xargs`,
//! `python -m pip`, `${PIP}`) and judged by the rules below.

mod shell;
pub mod suppress;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::dockerfile::lex::{Env, Lex};
use crate::dockerfile::{self, Node};

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

/// One image a build pulls, as `check --format json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pull {
    pub line: usize,
    #[serde(rename = "ref")]
    pub reference: String,
    pub via: &'static str,
}

/// What `check` says about one Dockerfile.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// The images a build of the target pulls, in file order (empty when BuildKit refuses it).
    pub bases: Vec<Pull>,
    /// BuildKit's reason for refusing the file.
    pub error: Option<String>,
}

/// How the file would be built.
#[derive(Debug, Clone)]
pub struct Options {
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub platform: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            build_args: BTreeMap::new(),
            target: None,
            platform: "linux/amd64".into(),
        }
    }
}

/// Findings gathered by (line, rule), each with the items it is about; one finding each.
#[derive(Default)]
struct Acc(BTreeMap<(usize, &'static str), Items>);

/// A finding's items in the order they were found, each once. The set keeps `add` constant
/// time: one instruction can name 100,000 packages, and a search of the list made that
/// quadratic (20,000 operands of one `apt-get install` took 2.8 s).
#[derive(Default)]
struct Items {
    list: Vec<String>,
    seen: std::collections::HashSet<String>,
}

impl Acc {
    fn add(&mut self, line: usize, rule: &'static str, item: impl Into<String>) {
        let items = self.0.entry((line, rule)).or_default();
        let item = item.into();
        if !item.is_empty() && items.seen.insert(item.clone()) {
            items.list.push(item);
        }
    }

    fn has(&self, line: usize, rule: &'static str) -> bool {
        self.0.contains_key(&(line, rule))
    }

    fn finish(self) -> Vec<Finding> {
        self.0
            .into_iter()
            .map(|((line, rule), items)| render(line, rule, &items.list))
            .collect()
    }
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The message and the fix of a finding, for exactly the items it is about.
fn render(line: usize, rule: &'static str, items: &[String]) -> Finding {
    use Severity::*;
    let list = items.join(", ");
    let first = items.first().cloned().unwrap_or_default();
    let (severity, message, fix) = match rule {
        "dockerfile-invalid" => (
            Error,
            format!("BuildKit refuses this Dockerfile: {list}"),
            "correct the line as the reason says: no build of this file can start".to_string(),
        ),
        "from-latest" | "from-unpinned" => {
            // Items are `INSTRUCTION\u{1f}IMAGE`.
            let (instr, image) = first.split_once('\u{1f}').unwrap_or(("FROM ", &first));
            let repo = strip_tag(image);
            if rule == "from-latest" {
                let moving = if repo == image {
                    "has no tag, so it is :latest, which moves".to_string()
                } else {
                    format!("follows a moving tag ({})", &image[repo.len() + 1..])
                };
                (
                    Error,
                    format!("`{instr}{image}` {moving}"),
                    format!("name a version tag and pin its digest: {instr}{repo}:TAG@sha256:... (`docker buildx imagetools inspect {repo}:TAG` prints it)"),
                )
            } else {
                // `release` pins every image a build pulls in the lock, so for a release the
                // tag moving is no hazard: advice for plain `docker build`s, not a warning.
                (
                    Info,
                    format!("`{instr}{image}` has no digest; the tag can move"),
                    format!("pin the digest: {instr}{image}@sha256:... (`docker buildx imagetools inspect {image}` prints it; docker repro release pins it in the lock, but a plain docker build does not)"),
                )
            }
        }
        "apt-without-snapshot" => (
            Warning,
            format!("`{first}` reads today's mirror; a rebuild later gets other versions"),
            "point sources at snapshot.debian.org (or snapshot.ubuntu.com) for a fixed date, or use apt-get --snapshot on apt >= 2.7".into(),
        ),
        "apt-unpinned" => (
            Warning,
            format!("apt packages without versions: {list}"),
            "pin each package (pkg=1.2-3, from `apt-cache policy pkg`) or install from a snapshot.debian.org date".into(),
        ),
        "apt-cache-left" => (
            Warning,
            "apt lists stay in the layer (/var/lib/apt/lists)".into(),
            "end the same RUN with `rm -rf /var/lib/apt/lists/*`, or mount them as a cache: RUN --mount=type=cache,target=/var/lib/apt/lists,sharing=locked".into(),
        ),
        "apt-logs-left" => (
            Info,
            "dpkg and apt logs and ldconfig's aux-cache record the build (/var/log/dpkg.log, /var/log/apt, /var/cache/ldconfig/aux-cache)".into(),
            "end the same RUN with `rm -rf /var/log/dpkg.log /var/log/apt /var/log/alternatives.log /var/cache/ldconfig/aux-cache`".into(),
        ),
        "pip-unpinned" => {
            let (vcs, names): (Vec<&String>, Vec<&String>) =
                items.iter().partition(|i| i.contains("://") || i.contains('@'));
            let mut message = Vec::new();
            let mut fix = Vec::new();
            if !names.is_empty() {
                let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
                message.push(format!("Python packages without == pins: {}", names.join(", ")));
                fix.push("pin exact versions (pkg==1.2.3), better with hashes: pip install --require-hashes -r requirements.lock (pip-compile --generate-hashes, or uv pip compile)".to_string());
            }
            if !vcs.is_empty() {
                let vcs: Vec<&str> = vcs.iter().map(|s| s.as_str()).collect();
                message.push(format!(
                    "installs from a branch, not a commit: {}",
                    vcs.join(", ")
                ));
                fix.push("name the commit: git+https://host/org/repo@<40-hex commit> (a tag can move, a branch moves)".to_string());
            }
            (Warning, message.join("; "), fix.join("; "))
        }
        "pip-cache-left" => {
            let uv = items.iter().any(|i| i == "uv");
            let pip = items.iter().any(|i| i != "uv");
            let mut fix = Vec::new();
            if pip {
                fix.push("add --no-cache-dir to pip install (or ENV PIP_NO_CACHE_DIR=1), or use RUN --mount=type=cache,target=/root/.cache/pip");
            }
            if uv {
                fix.push("add --no-cache to uv (or ENV UV_NO_CACHE=1), or use RUN --mount=type=cache,target=/root/.cache/uv");
            }
            (
                Warning,
                format!("{}'s download cache (/root/.cache) stays in the layer", items.join(" and ")),
                fix.join("; "),
            )
        }
        "conda-unlocked" => (
            Warning,
            format!("{} solves the environment anew on every build", quoted(items)),
            "solve once and install the result: conda-lock (conda-lock install), or `conda list --explicit --md5 > spec.txt` then `conda create --file spec.txt`".into(),
        ),
        "conda-cache-left" => (
            Info,
            format!("{}'s package cache stays in the layer", items.join(" and ")),
            if first == "micromamba" {
                "end the same RUN with `micromamba clean --all --yes`".into()
            } else {
                format!("end the same RUN with `{first} clean -afy`")
            },
        ),
        "python-without-sde" => (
            Warning,
            "Python packages are installed without ARG SOURCE_DATE_EPOCH in scope: the .pyc files carry the build time".into(),
            "add `ARG SOURCE_DATE_EPOCH` in this stage before the RUN (pip then writes hash-based .pyc), or install with `pip install --no-compile` (or `ENV PIP_NO_COMPILE=1`); PYTHONDONTWRITEBYTECODE does not stop pip compiling what it installs".into(),
        ),
        "add-url-no-checksum" => (
            Error,
            format!("`ADD {first}` downloads whatever the URL serves today"),
            format!("add --checksum=sha256:<hex>: ADD --checksum=sha256:... {first} DEST"),
        ),
        "download-no-checksum" => (
            Warning,
            format!("downloaded and used without a checksum check: {list}"),
            "check it in the same RUN before use: echo \"<sha256>  FILE\" | sha256sum -c - (or ADD --checksum=sha256:... URL DEST)".into(),
        ),
        "git-clone-unpinned" => (
            Warning,
            format!("`git clone {first}` takes whatever the branch points at today"),
            format!("check out a commit: git clone {first} DIR && git -C DIR checkout <40-hex commit>"),
        ),
        "curl-pipe-shell" => (
            Error,
            format!("a downloaded script runs unchecked: {list}"),
            "download to a file, check its sha256 (echo \"<sha256>  file\" | sha256sum -c -), then run it; or ADD --checksum".into(),
        ),
        "uv-unlocked" => (
            Warning,
            format!("{} resolves dependencies anew instead of installing uv.lock as committed", quoted(items)),
            "commit uv.lock and install exactly it: uv sync --locked (or --frozen)".into(),
        ),
        "apk-unpinned" => (
            Warning,
            format!("apk packages without versions: {list}"),
            "pin each package (apk add pkg=1.2.3-r0, from `apk policy pkg`)".into(),
        ),
        "dnf-unpinned" => (
            Warning,
            format!("yum/dnf packages without versions: {list}"),
            "pin each package as name-version-release (from `dnf list --showduplicates name`)".into(),
        ),
        "npm-unlocked" => (
            Warning,
            format!("npm installs without a lockfile or an exact version: {list}"),
            "COPY package-lock.json and run `npm ci`; name exact versions (pkg@1.2.3)".into(),
        ),
        "gem-unpinned" => (
            Warning,
            format!("gems without versions: {list}"),
            "name the version (gem install NAME -v 1.2.3), or bundle install with a committed Gemfile.lock".into(),
        ),
        "copy-all-without-dockerignore" => (
            Warning,
            format!("`{first} .` copies the whole context and there is no .dockerignore"),
            "add a .dockerignore (at least .git, __pycache__, *.pyc, data and outputs), or copy named directories".into(),
        ),
        other => (Warning, list, format!("see the {other} rule")),
    };
    Finding {
        line,
        rule,
        severity,
        message,
        fix,
    }
}

/// `repo` of `repo:tag` (a registry port is no tag).
fn strip_tag(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => &image[..slash + i],
        None => image,
    }
}

/// Lints one image reference pulled by `instr` (`FROM `, `COPY --from=`…).
fn lint_image(acc: &mut Acc, line: usize, instr: &str, image: &str) {
    if image.contains('@') {
        return;
    }
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    let tag = image[slash..].rsplit_once(':').map(|(_, t)| t);
    let rule = match tag {
        None => "from-latest",
        Some(t) if moving_tag(t) => "from-latest",
        Some(_) => "from-unpinned",
    };
    acc.add(line, rule, format!("{instr}\u{1f}{image}"));
}

/// A tag that names no release but whatever is newest: `latest`, `rolling`, `nightly`,
/// `latest-gpu`, `3.12-nightly`, a branch (`main-base`, `master`), `stable-slim`. A date in it
/// names one build (`nightly_3.10_tpuvm_20250124`, `nightly-2024-05-01`).
fn moving_tag(tag: &str) -> bool {
    let t = tag.to_ascii_lowercase();
    if dated(&t) {
        return false;
    }
    const WHOLE: [&str; 8] = [
        "edge", "devel", "dev", "develop", "testing", "unstable", "sid", "trunk",
    ];
    WHOLE.contains(&t.as_str())
        || t.split(['-', '_', '.']).any(|part| {
            matches!(
                part,
                "latest" | "nightly" | "rolling" | "main" | "master" | "stable"
            )
        })
}

/// `20250124`, `2024-05-01`, `2024.05.01` in a tag.
fn dated(tag: &str) -> bool {
    let b = tag.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    (0..b.len()).any(|i| {
        let year = b.get(i..i + 4).is_some_and(|y| {
            (y[0] == b'1' && y[1] == b'9' || y[0] == b'2' && y[1] == b'0') && digits(y)
        });
        year && (b.get(i + 4..i + 8).is_some_and(digits)
            || b.get(i + 4..i + 10).is_some_and(|r| {
                matches!(r[0], b'-' | b'.' | b'_')
                    && r[3] == r[0]
                    && digits(&r[1..3])
                    && digits(&r[4..6])
            }))
    })
}

/// The variables an instruction of a stage sees: its own, then any other ARG of the file as
/// empty (an ARG declared without a value, or another stage's, is empty in a build without
/// `--build-arg`); other names (an ENV of the base image) stay unknown.
struct StageEnv<'a> {
    vars: &'a BTreeMap<String, String>,
    file_args: &'a BTreeSet<String>,
}

impl<'a> StageEnv<'a> {
    fn new(vars: &'a BTreeMap<String, String>, file_args: &'a BTreeSet<String>) -> Self {
        StageEnv { vars, file_args }
    }
}

impl Env for StageEnv<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        match self.vars.get(name) {
            Some(v) => Some(v),
            None => self.file_args.contains(name).then_some(""),
        }
    }
}

/// What a stage knows when a RUN runs.
#[derive(Debug, Clone, Default)]
struct StageState {
    vars: BTreeMap<String, String>,
    sde: bool,
    no_bytecode: bool,
    pip_no_cache: bool,
    uv_no_cache: bool,
    uv_compile: bool,
    uv_locked: bool,
    /// File names copied in (for lockfiles).
    copied: BTreeSet<String>,
    copied_context: bool,
    /// The names in `vars` set by ENV (inherited by a stage built on this one).
    env_names: BTreeSet<String>,
    /// An earlier RUN pointed apt at a snapshot.
    snapshot: bool,
}

/// A stage built on another inherits at most this many of its variables and copied files: a
/// chain of thousands of stages, each adding one, must not copy them all at every step.
const INHERITED_MAX: usize = 32;

impl StageState {
    /// The state a `FROM <this stage>` starts with: ENV and what it implies carry over, ARG
    /// SOURCE_DATE_EPOCH does not.
    fn child(&self) -> StageState {
        StageState {
            // ARGs are the stage's own; ENV carries over.
            vars: if self.env_names.len() <= INHERITED_MAX {
                self.vars
                    .iter()
                    .filter(|(k, _)| self.env_names.contains(*k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            } else {
                BTreeMap::new()
            },
            env_names: if self.env_names.len() <= INHERITED_MAX {
                self.env_names.clone()
            } else {
                BTreeSet::new()
            },
            sde: false,
            copied: if self.copied.len() <= INHERITED_MAX {
                self.copied.clone()
            } else {
                BTreeSet::new()
            },
            ..*self
        }
    }

    fn set(&mut self, name: &str, value: String) {
        let on = !value.is_empty();
        match name {
            "SOURCE_DATE_EPOCH" => self.sde = true,
            // pip compiles what it installs whatever PYTHONDONTWRITEBYTECODE says (measured with
            // bookworm's pip 23: the .pyc is there); only its own switch stops it.
            "PIP_NO_COMPILE" => self.no_bytecode |= on,
            "PIP_NO_CACHE_DIR" => self.pip_no_cache |= on,
            "UV_NO_CACHE" => self.uv_no_cache |= on,
            "UV_COMPILE_BYTECODE" => self.uv_compile = on && value != "0",
            "UV_FROZEN" | "UV_LOCKED" => self.uv_locked |= on,
            _ => {}
        }
        self.vars.insert(name.to_string(), value);
    }
}

/// Lints one Dockerfile; `context` is where a `.dockerignore` would be. In the seed layout's
/// release Dockerfile, `FROM <image>:base` is the base built by the same release, which
/// `docker repro release` pins to its digest, so it is not reported.
pub fn lint(source: &[u8], context: &Path, seed_release: bool) -> Vec<Finding> {
    check_file(source, context, seed_release, &Options::default()).findings
}

/// Lints one Dockerfile and says which images a build of it pulls.
pub fn check_file(source: &[u8], context: &Path, seed_release: bool, opts: &Options) -> Report {
    let mut acc = Acc::default();
    let mut report = Report::default();
    match pulls(source, opts) {
        Ok(bases) => report.bases = bases,
        Err(e) => {
            report.error = Some(e.to_string());
            acc.add(e.line, "dockerfile-invalid", e.message.clone());
        }
    }
    let (nodes, escape, _) = dockerfile::nodes(source);
    let lex = Lex::new(escape);
    let mut expander = Lex::new(escape);
    expander.skip_unset_env = true;
    let mut globals = platform_globals(&opts.platform);
    let mut stages: Vec<StageState> = Vec::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let file_args: BTreeSet<String> = nodes
        .iter()
        .filter(|n| n.value.eq_ignore_ascii_case("arg"))
        .flat_map(|n| &n.args)
        .map(|a| a.split('=').next().unwrap_or(a).to_string())
        .collect();
    for node in &nodes {
        // The caller tells an interrupted check from a finished one by asking the flag.
        if crate::cancel::requested() {
            break;
        }
        let line = node.start_line;
        let keyword = node.value.to_ascii_uppercase();
        match keyword.as_str() {
            "ARG" if stages.is_empty() => global_arg(node, &lex, &opts.build_args, &mut globals),
            "FROM" => {
                let Some(written) = node.args.first() else {
                    continue;
                };
                let image = lex
                    .process_word(written, &globals)
                    .unwrap_or_else(|_| written.clone());
                let base_stage = names.get(&image).copied();
                let state = match base_stage {
                    Some(i) => stages[i].child(),
                    None => StageState::default(),
                };
                stages.push(state);
                if let [_, as_kw, name] = node.args.as_slice() {
                    if as_kw.eq_ignore_ascii_case("as") {
                        names.insert(name.to_lowercase(), stages.len() - 1);
                    }
                }
                let own_base = seed_release && image.ends_with(":base");
                if base_stage.is_none() && !own_base {
                    lint_base(&mut acc, line, &image);
                }
            }
            _ => {}
        }
        let Some(state) = stages.last_mut() else {
            continue;
        };
        match keyword.as_str() {
            "ARG" => {
                // One name at a time: a default may use a name set before it (`ARG A=1 B=$A`).
                for word in &node.args {
                    let stage = StageEnv::new(&state.vars, &file_args);
                    let (name, value) =
                        stage_arg(word, &opts.build_args, &globals, &expander, &stage);
                    match value {
                        Some(v) => state.set(&name, v),
                        None if name == "SOURCE_DATE_EPOCH" => state.sde = true,
                        None => {}
                    }
                }
            }
            "ENV" => {
                for triple in node.args.chunks(3) {
                    let [name, value, _] = triple else { continue };
                    let value = expander
                        .process_word(value, &StageEnv::new(&state.vars, &file_args))
                        .unwrap_or_else(|_| value.clone());
                    state.env_names.insert(name.clone());
                    state.set(name, value);
                }
            }
            "COPY" | "ADD" => {
                lint_copy(&mut acc, node, state, &names, context, &expander);
            }
            "RUN" => {
                let snapshot = lint_run(&mut acc, node, state, &names, &expander, &file_args);
                state.snapshot |= snapshot;
            }
            _ => {}
        }
    }
    report.findings = acc.finish();
    report
}

/// The images a build of the file pulls, as BuildKit reads it, or why BuildKit refuses it.
fn pulls(source: &[u8], opts: &Options) -> Result<Vec<Pull>, dockerfile::ParseError> {
    let df = dockerfile::parse_target(
        source,
        &opts.build_args,
        &opts.platform,
        opts.target.as_deref(),
    )?;
    Ok(df
        .externals
        .iter()
        .map(|e| Pull {
            line: e.line,
            reference: e.image.clone(),
            via: e.via(),
        })
        .collect())
}

/// BuildKit's automatic platform arguments (`TARGETPLATFORM`, `BUILDARCH`, …) for `platform`.
fn platform_globals(platform: &str) -> BTreeMap<String, String> {
    let mut globals: BTreeMap<String, String> = BTreeMap::new();
    for prefix in ["TARGET", "BUILD"] {
        let mut parts = platform.splitn(3, '/');
        globals.insert(format!("{prefix}PLATFORM"), platform.to_string());
        globals.insert(format!("{prefix}OS"), parts.next().unwrap_or("").into());
        globals.insert(format!("{prefix}ARCH"), parts.next().unwrap_or("").into());
        globals.insert(
            format!("{prefix}VARIANT"),
            parts.next().unwrap_or("").into(),
        );
    }
    globals
}

/// A global `ARG` (before the first `FROM`): a given value wins over the default.
fn global_arg(
    node: &Node,
    lex: &Lex,
    build_args: &BTreeMap<String, String>,
    globals: &mut BTreeMap<String, String>,
) {
    for word in &node.args {
        let (name, default) = match word.split_once('=') {
            Some((n, d)) => (n, Some(d)),
            None => (word.as_str(), None),
        };
        if let Some(v) = build_args.get(name) {
            globals.insert(name.into(), v.clone());
        } else if let Some(d) = default {
            let v = lex.process_word(d, &*globals).unwrap_or_default();
            globals.insert(name.into(), v);
        }
    }
}

/// A name an `ARG` in a stage declares (`word`), with its value there: given, else its
/// default expanded in the stage, else the global of that name; `None` when it has none.
fn stage_arg(
    word: &str,
    build_args: &BTreeMap<String, String>,
    globals: &BTreeMap<String, String>,
    expander: &Lex,
    stage: &StageEnv,
) -> (String, Option<String>) {
    let (name, default) = match word.split_once('=') {
        Some((n, d)) => (n, Some(d)),
        None => (word, None),
    };
    let value = match (build_args.get(name), default) {
        (Some(v), _) => Some(v.clone()),
        (None, Some(d)) => Some(
            expander
                .process_word(d, stage)
                .unwrap_or_else(|_| d.to_string()),
        ),
        (None, None) => globals.get(name).cloned(),
    };
    (name.to_string(), value)
}

/// A `FROM` image that is no stage: linted as a base, unless it is `scratch`, empty, or still
/// holds a variable no argument sets.
fn lint_base(acc: &mut Acc, line: usize, image: &str) {
    if image != "scratch" && !image.is_empty() && !image.contains('$') {
        lint_image(acc, line, "FROM ", image);
    }
}

fn node_flags(node: &Node) -> Vec<(String, String)> {
    node.flags
        .iter()
        .map(|f| {
            let f = f.trim_start_matches('-');
            let (n, v) = f.split_once('=').unwrap_or((f, ""));
            (n.to_ascii_lowercase(), v.to_string())
        })
        .collect()
}

fn is_stage_ref(from: &str, names: &BTreeMap<String, usize>) -> bool {
    names.contains_key(&from.to_lowercase()) || from.parse::<usize>().is_ok() || from.contains('$')
}

fn lint_copy(
    acc: &mut Acc,
    node: &Node,
    state: &mut StageState,
    names: &BTreeMap<String, usize>,
    context: &Path,
    expander: &Lex,
) {
    let line = node.start_line;
    let keyword = node.value.to_ascii_uppercase();
    let flags = node_flags(node);
    let from = flags
        .iter()
        .rev()
        .find(|(n, _)| n == "from")
        .map(|(_, v)| v);
    if let Some(from) = from {
        if !from.is_empty() && !is_stage_ref(from, names) {
            lint_image(acc, line, "COPY --from=", from);
        }
        return;
    }
    let sources: Vec<&String> = if node.heredocs.is_empty() {
        node.args
            .iter()
            .take(node.args.len().saturating_sub(1))
            .collect()
    } else {
        Vec::new()
    };
    for src in &sources {
        let name = src.rsplit('/').next().unwrap_or(src);
        state.copied.insert(name.to_string());
        if *src == "." || *src == "./" {
            state.copied_context = true;
        }
    }
    if keyword == "ADD" {
        let has_checksum = flags.iter().any(|(n, _)| n == "checksum");
        for src in &sources {
            let url = expander
                .process_word(src, &state.vars)
                .unwrap_or_else(|_| src.to_string());
            let remote = url.starts_with("http://") || url.starts_with("https://");
            let git = url.starts_with("git@") || url.contains(".git#") || url.ends_with(".git");
            if (remote || git) && !has_checksum && !git_ref_pinned(&url) {
                acc.add(line, "add-url-no-checksum", url);
            }
        }
    }
    if sources.iter().any(|s| *s == "." || *s == "./") && !context.join(".dockerignore").exists() {
        acc.add(line, "copy-all-without-dockerignore", keyword);
    }
}

/// `…repo.git#<commit>`: an ADD of a git source at a commit.
fn git_ref_pinned(url: &str) -> bool {
    url.split_once('#')
        .map(|(_, r)| r.split(':').next().unwrap_or(r))
        .is_some_and(is_commit)
}

fn is_commit(s: &str) -> bool {
    (7..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A ref a release would name: a commit, or a version tag (`v1.2.3`, `2.1.0`).
fn is_fixed_ref(s: &str) -> bool {
    let s = s.trim_matches(['"', '\'']);
    if is_commit(s) || s.starts_with('$') {
        return true;
    }
    let v = s.rsplit('/').next().unwrap_or(s);
    let v = v.trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '-' || c == '_');
    v.chars().next().is_some_and(|c| c.is_ascii_digit()) && v.contains('.')
}

/// A command with its wrappers removed: `sudo -E env X=1 conda run -n e python -m pip install x`
/// is `pip` with `install x`.
#[derive(Debug, Default)]
struct Resolved {
    program: String,
    args: Vec<String>,
    /// `X=1` prefixes and `env X=1`.
    env: Vec<(String, String)>,
    /// Its arguments come from stdin (`xargs`).
    xargs: bool,
    /// `sh -c SCRIPT`.
    script: Option<String>,
}

const SHELLS: [&str; 6] = ["sh", "bash", "dash", "zsh", "ash", "ksh"];

fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn is_assignment(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once('=')?;
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some((name, value))
}

fn is_python(word: &str) -> bool {
    let b = basename(word);
    b == "python"
        || b.strip_prefix("python")
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn is_pip(word: &str) -> bool {
    let b = basename(word);
    b == "pip"
        || b.strip_prefix("pip")
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Expands a word of the script with what the stage knows; what it cannot know stays `$NAME`.
/// An unquoted word is split on whitespace after expansion, as the shell splits fields.
fn expand_word(raw: &str, vars: &BTreeMap<String, String>, expander: &Lex) -> Vec<String> {
    if raw.contains("$(") || raw.contains('`') || raw.starts_with("<(") {
        // Kept as written, less the quotes around the whole word (`sh -c "… $(ls) …"`).
        return vec![unquote_whole(raw).to_string()];
    }
    if !raw.contains(['"', '\'', '\\']) {
        // BuildKit's own word splitting drops text before a nested `${…}` (a quirk of its
        // shared buffer that decides no image but would hide `${PKG}${VER:+==$VER}`), so the
        // whole expansion is split here instead.
        return match expander.process_word(raw, vars) {
            Ok(word) => word.split_whitespace().map(str::to_string).collect(),
            Err(_) => vec![raw.to_string()],
        };
    }
    match expander.process_words(raw, vars) {
        Ok(words) if !words.is_empty() => words,
        Ok(_) => Vec::new(),
        Err(_) => vec![raw.trim_matches(['"', '\'']).to_string()],
    }
}

/// The inside of a word that is one quoted string, `$(…)` in it included; else the word.
fn unquote_whole(word: &str) -> &str {
    let Some(q) = word.chars().next().filter(|c| matches!(c, '"' | '\'')) else {
        return word;
    };
    if word.len() < 2 || !word.ends_with(q) {
        return word;
    }
    let inner = &word[1..word.len() - 1];
    let mut depth = 0usize;
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if q == '"' => {
                chars.next();
            }
            '$' if q == '"' && chars.peek() == Some(&'(') => {
                chars.next();
                depth += 1;
            }
            ')' if depth > 0 => depth -= 1,
            c if c == q && depth == 0 => return word,
            _ => {}
        }
    }
    inner
}

/// `"${NAME[@]}"` or `${NAME[*]}`: the name of the array it expands.
fn array_reference(word: &str) -> Option<&str> {
    let inner = word
        .trim_matches('"')
        .strip_prefix("${")?
        .strip_suffix('}')?;
    inner
        .strip_suffix("[@]")
        .or_else(|| inner.strip_suffix("[*]"))
}

fn resolve(words: &[String]) -> Resolved {
    let mut r = Resolved::default();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        if let Some((k, v)) = is_assignment(w) {
            r.env.push((k.into(), v.into()));
            i += 1;
            continue;
        }
        match basename(w) {
            "sudo" => {
                let with_value = ["-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U"];
                i = skip_options(words, i + 1, &with_value, true);
            }
            "env" => i = skip_options(words, i + 1, &["-u", "-C", "--unset", "--chdir"], false),
            // Shell keywords before a command: `if pip install x; then …`.
            "if" | "then" | "else" | "elif" | "do" | "while" | "until" | "{" | "!" | "fi"
            | "done" | "}" => i += 1,
            "nohup" | "time" | "exec" | "command" | "builtin" => i += 1,
            "nice" | "ionice" | "stdbuf" | "timeout" | "chronic" => {
                i = skip_options(words, i + 1, &["-n", "-c", "-s", "-k"], false);
                if basename(w) == "timeout" && i < words.len() {
                    i += 1;
                }
            }
            "xargs" => {
                r.xargs = true;
                let with_value = ["-n", "-I", "-L", "-P", "-d", "-a", "-E", "-s"];
                i = skip_options(words, i + 1, &with_value, false);
            }
            "conda" | "mamba" | "micromamba" | "poetry" | "pipenv" | "pdm" | "hatch" | "uv"
                if words.get(i + 1).map(String::as_str) == Some("run") =>
            {
                let with_value = [
                    "-n",
                    "--name",
                    "-p",
                    "--prefix",
                    "--cwd",
                    "--with",
                    "--python",
                    "-e",
                    "--env",
                    "--extra",
                    "--group",
                    "--package",
                ];
                i = skip_options(words, i + 2, &with_value, false);
            }
            b if SHELLS.contains(&b) => return resolve_shell(r, words, i, b),
            b if is_python(b) => return resolve_python(r, words, i, b),
            b => {
                r.program = if is_pip(b) {
                    "pip".into()
                } else {
                    b.to_string()
                };
                r.args = words[i + 1..].to_vec();
                return r;
            }
        }
    }
    r
}

/// The index after the options from `i` on, and after the value of each option in
/// `with_value`; `--` ends them when `dashdash`.
fn skip_options(words: &[String], mut i: usize, with_value: &[&str], dashdash: bool) -> usize {
    while i < words.len() && words[i].starts_with('-') {
        let f = words[i].as_str();
        i += 1;
        if dashdash && f == "--" {
            break;
        }
        if with_value.contains(&f) {
            i += 1;
        }
    }
    i
}

/// A shell at `words[i]` (`b`): its `-c` script, or the script file and arguments it runs.
fn resolve_shell(mut r: Resolved, words: &[String], i: usize, b: &str) -> Resolved {
    let mut j = i + 1;
    while j < words.len() && words[j].starts_with('-')
        || words.get(j).is_some_and(|w| w.starts_with('+'))
    {
        let f = words[j].as_str();
        if f == "-o" || f == "+o" {
            j += 2;
            continue;
        }
        if !f.starts_with("--") && f.contains('c') {
            r.program = b.to_string();
            r.script = words.get(j + 1).cloned();
            return r;
        }
        j += 1;
    }
    r.program = b.to_string();
    r.args = words[j.min(words.len())..].to_vec();
    r
}

/// A Python interpreter at `words[i]` (`b`): `-m pip`, `-m uv`, `-m conda` and `get-pip.py`
/// are those tools; anything else is the interpreter with its arguments.
fn resolve_python(mut r: Resolved, words: &[String], i: usize, b: &str) -> Resolved {
    // Options of the interpreter, then `-m pip`, `-mpip` or `get-pip.py`.
    let mut j = i + 1;
    while let Some(f) = words.get(j).map(String::as_str) {
        if matches!(f, "-X" | "-W") {
            j += 2;
        } else if f.len() > 1
            && f.starts_with('-')
            && !f.starts_with("--")
            && f[1..].chars().all(|c| "bBdEhiIOqsSuvx".contains(c))
        {
            j += 1;
        } else {
            break;
        }
    }
    let module = match words.get(j).map(String::as_str) {
        Some("-m") => words.get(j + 1).map(|m| (m.as_str(), j + 2)),
        Some(m) if m.len() > 2 && m.starts_with("-m") => Some((&m[2..], j + 1)),
        _ => None,
    };
    match module {
        Some((m, rest)) if m == "pip" || m == "uv" || m == "conda" => {
            r.program = m.to_string();
            r.args = words[rest.min(words.len())..].to_vec();
        }
        // get-pip.py installs the newest pip (and setuptools and wheel on older
        // Pythons) unless pins are given, with pip's own options.
        _ if words
            .get(j)
            .is_some_and(|w| basename(w.trim_matches(['"', '\''])) == "get-pip.py") =>
        {
            let rest = &words[j + 1..];
            let pinned = rest.iter().any(|a| {
                a.strip_prefix("pip")
                    .is_some_and(|v| v.starts_with(['=', '<', '>', '~', '!']))
            });
            r.program = "pip".into();
            r.args = std::iter::once("install".to_string())
                .chain((!pinned).then(|| "pip".to_string()))
                .chain(rest.iter().cloned())
                .collect();
        }
        _ => {
            r.program = b.to_string();
            r.args = words[i + 1..].to_vec();
        }
    }
    r
}

/// What one RUN does, gathered over its commands before judging the ones that depend on the
/// rest of the RUN (a later `rm -rf /var/lib/apt/lists/*`, a checksum check, a checkout).
#[derive(Default)]
struct RunFacts {
    apt_update: Option<usize>,
    apt_install: Vec<usize>,
    pip_installs: Vec<(usize, &'static str)>,
    python_installs: Vec<usize>,
    conda_installs: Vec<(usize, String)>,
    downloads: Vec<(usize, String)>,
    clones: Vec<(usize, String)>,
    checksum: bool,
    pinned_checkout: bool,
    pip_cache_cleaned: bool,
    uv_cache_cleaned: bool,
    conda_cleaned: bool,
    pyc_removed: bool,
    snapshot: bool,
    logs_cleaned: bool,
    lists_cleaned: bool,
    no_bytecode: bool,
    sde: bool,
}

fn lint_run(
    acc: &mut Acc,
    node: &Node,
    state: &StageState,
    names: &BTreeMap<String, usize>,
    expander: &Lex,
    file_args: &BTreeSet<String>,
) -> bool {
    let cache_targets = mount_cache_targets(acc, node, names);
    let scripts = run_scripts(node);
    let snapshot = state.snapshot
        || scripts.iter().any(|(s, _)| mentions_snapshot(s))
        || state.vars.values().any(|v| mentions_snapshot(v));
    let mut facts = RunFacts {
        no_bytecode: state.no_bytecode,
        sde: state.sde,
        snapshot,
        ..Default::default()
    };
    let mut vars = state.vars.clone();
    // An ARG of another stage, not declared in this one, is empty here (BuildKit scopes ARGs
    // to their stage); other unknown names may come from the base image and stay unknown.
    for name in file_args {
        vars.entry(name.clone()).or_default();
    }
    lint_scripts(acc, scripts, vars, expander, state, &mut facts);
    judge_run(acc, &facts, &cache_targets);
    facts.snapshot
}

/// The targets of the RUN's cache and tmpfs mounts (what they hold is in no layer); an image
/// a `--mount=from=` names is linted as a base.
fn mount_cache_targets(acc: &mut Acc, node: &Node, names: &BTreeMap<String, usize>) -> Vec<String> {
    let mut cache_targets: Vec<String> = Vec::new();
    for (name, value) in node_flags(node) {
        if name != "mount" {
            continue;
        }
        let fields: Vec<(String, String)> = value
            .split(',')
            .map(|f| {
                let (k, v) = f.split_once('=').unwrap_or((f, ""));
                (k.to_ascii_lowercase(), v.to_string())
            })
            .collect();
        let get = |k: &[&str]| {
            fields
                .iter()
                .find(|(n, _)| k.contains(&n.as_str()))
                .map(|(_, v)| v.clone())
        };
        let kind = get(&["type"]).unwrap_or_else(|| "bind".into());
        if kind == "cache" || kind == "tmpfs" {
            if let Some(t) = get(&["target", "dst", "destination"]) {
                cache_targets.push(t.trim_end_matches('/').to_string());
            }
        }
        if let Some(from) = get(&["from"]) {
            if !from.is_empty() && !is_stage_ref(&from, names) {
                lint_image(acc, node.start_line, "RUN --mount=from=", &from);
            }
        }
    }
    cache_targets
}

/// The shell scripts of the RUN, each with the file line its first line is on: the command
/// line, and its heredocs when they feed a shell.
fn run_scripts(node: &Node) -> Vec<(String, usize)> {
    let line = node.start_line;
    let mut scripts: Vec<(String, usize)> = Vec::new();
    if node.json {
        match node.args.as_slice() {
            [sh, flag, script, ..]
                if SHELLS.contains(&basename(sh))
                    && flag.starts_with('-')
                    && flag.contains('c') =>
            {
                scripts.push((script.clone(), line));
            }
            argv => scripts.push((
                argv.iter()
                    .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
                    .collect::<Vec<_>>()
                    .join(" "),
                line,
            )),
        }
    } else {
        let cmdline = node.args.first().cloned().unwrap_or_default();
        let main = shell::commands(&cmdline);
        let feeds_shell = match main.first() {
            None => true,
            Some(c) => {
                let r = resolve(&c.words);
                SHELLS.contains(&r.program.as_str()) && r.script.is_none() && r.args.is_empty()
            }
        };
        scripts.push((cmdline, line));
        for doc in &node.heredocs {
            if feeds_shell {
                scripts.push((doc.content.clone(), doc.first_line));
            }
        }
    }
    scripts
}

/// Lints every command of the scripts, following `sh -c` scripts (to a depth of 8) and the
/// variables and arrays the scripts set; what spans commands is noted in `facts`.
fn lint_scripts(
    acc: &mut Acc,
    scripts: Vec<(String, usize)>,
    mut vars: BTreeMap<String, String>,
    expander: &Lex,
    state: &StageState,
    facts: &mut RunFacts,
) {
    let mut queue: Vec<(String, usize, usize)> =
        scripts.into_iter().map(|(s, l)| (s, l, 0)).collect();
    let mut qi = 0;
    // Bash arrays set in the script (`PKGS=(curl git)`), for `"${PKGS[@]}"`.
    let mut arrays: BTreeMap<String, Vec<String>> = BTreeMap::new();
    while qi < queue.len() {
        let (script, base, depth) = queue[qi].clone();
        qi += 1;
        let cmds = shell::commands(&script);
        for (ci, cmd) in cmds.iter().enumerate() {
            let at = base + cmd.line;
            let words: Vec<String> = cmd
                .words
                .iter()
                .flat_map(|w| {
                    if let Some((name, elements)) = shell::array_elements(w) {
                        let joined = format!("{name}={}", elements.join(" "));
                        arrays.insert(name.to_string(), elements);
                        return vec![joined];
                    }
                    match array_reference(w).and_then(|name| arrays.get(name)) {
                        Some(elements) => elements.clone(),
                        None => expand_word(w, &vars, expander),
                    }
                })
                .collect();
            if words.is_empty() {
                continue;
            }
            // Assignments alone set shell variables for the rest of the script.
            let first = words[0].as_str();
            if matches!(
                first,
                "export" | "declare" | "local" | "readonly" | "typeset"
            ) || words.iter().all(|w| is_assignment(w).is_some())
            {
                for w in &words {
                    if let Some((k, v)) = is_assignment(w) {
                        note_env(facts, k, v);
                        vars.insert(k.to_string(), v.to_string());
                    }
                }
                continue;
            }
            let r = resolve(&words);
            if runs_downloaded_script(&words) {
                acc.add(
                    at,
                    "curl-pipe-shell",
                    format!("{} -c \"$(curl …)\"", r.program),
                );
            }
            if let Some(inner) = &r.script {
                if depth < 8 {
                    queue.push((inner.clone(), at, depth + 1));
                }
                continue;
            }
            let next = cmds.get(ci + 1).filter(|_| cmd.piped);
            lint_command(acc, at, &r, cmd, next, state, facts);
            // `find … -exec CMD {} \;`: CMD runs once per file found.
            if r.program == "find" {
                if let Some(i) = r.args.iter().position(|a| a == "-exec" || a == "-execdir") {
                    let inner: Vec<String> = r.args[i + 1..]
                        .iter()
                        .take_while(|a| !matches!(a.as_str(), ";" | "\\;" | "+"))
                        .cloned()
                        .collect();
                    let mut inner = resolve(&inner);
                    inner.xargs = true;
                    lint_command(acc, at, &inner, cmd, None, state, facts);
                }
            }
        }
    }
}

/// Judgements over the whole RUN: a cache left in the layer, bytecode without a fixed time, a
/// download no checksum checks, a clone no checkout pins.
fn judge_run(acc: &mut Acc, facts: &RunFacts, cache_targets: &[String]) {
    let cached = |path: &str| {
        cache_targets
            .iter()
            .any(|t| path == t || path.starts_with(&format!("{t}/")))
    };
    if let Some(at) = facts.apt_update {
        if !facts.lists_cleaned && !cached("/var/lib/apt/lists") {
            acc.add(at, "apt-cache-left", "");
        }
    }
    for at in &facts.apt_install {
        if !facts.logs_cleaned {
            acc.add(*at, "apt-logs-left", "");
        }
    }
    for (at, tool) in &facts.pip_installs {
        let cleaned = match *tool {
            "uv" => facts.uv_cache_cleaned || cached("/root/.cache/uv") || cached("/root/.cache"),
            _ => facts.pip_cache_cleaned || cached("/root/.cache/pip") || cached("/root/.cache"),
        };
        if !cleaned {
            acc.add(*at, "pip-cache-left", *tool);
        }
    }
    for (at, tool) in &facts.conda_installs {
        let cache = cache_targets.iter().any(|t| t.ends_with("/pkgs"));
        if !facts.conda_cleaned && !cache {
            acc.add(*at, "conda-cache-left", tool.clone());
        }
    }
    if !(facts.sde || facts.no_bytecode || facts.pyc_removed) {
        if let Some(at) = facts.python_installs.first() {
            acc.add(*at, "python-without-sde", "");
        }
    }
    if !facts.checksum {
        for (at, url) in &facts.downloads {
            if !acc.has(*at, "curl-pipe-shell") {
                acc.add(*at, "download-no-checksum", url.clone());
            }
        }
    }
    if !facts.pinned_checkout {
        for (at, url) in &facts.clones {
            acc.add(*at, "git-clone-unpinned", url.clone());
        }
    }
}

fn note_env(facts: &mut RunFacts, name: &str, value: &str) {
    match name {
        "PIP_NO_COMPILE" if !value.is_empty() => facts.no_bytecode = true,
        "SOURCE_DATE_EPOCH" => facts.sde = true,
        "PIP_NO_CACHE_DIR" if !value.is_empty() => facts.pip_cache_cleaned = true,
        "UV_NO_CACHE" if !value.is_empty() => facts.uv_cache_cleaned = true,
        _ => {}
    }
}

/// Options of pip and uv that take a value (the next word, unless written `--opt=value`).
const PIP_VALUE_OPTIONS: [&str; 43] = [
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--trusted-host",
    "--upgrade-strategy",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--only-binary",
    "--no-binary",
    "--progress-bar",
    "--src",
    "--cache-dir",
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--exists-action",
    "--global-option",
    "--config-settings",
    "-C",
    "--python",
    "-p",
    "--index",
    "--default-index",
    "--index-strategy",
    "--resolution",
    "--prerelease",
    "--report",
    "--root-user-action",
];

/// Judges one Python requirement given to pip/uv; `None` when pinned or not knowable.
fn unpinned_requirement(arg: &str) -> Option<String> {
    let a = arg.trim_matches(['"', '\'']);
    if a.contains('$') || a.contains('`') {
        // The version comes from a variable: a range or a `.*` floats whatever it holds;
        // `==$V` is as pinned as the value given.
        let spec = a.split(';').next().unwrap_or(a);
        let ranged = spec.ends_with(".*")
            || !spec.contains("==") && [">", "<", "~=", "!="].iter().any(|op| spec.contains(op));
        return ranged.then(|| spec.to_string());
    }
    if a.is_empty() || a.contains('*') && !a.contains("==") {
        return None;
    }
    let vcs = a.starts_with("git+") || a.contains("@ git+") || a.contains("@git+");
    if vcs {
        let url = a.rsplit_once(" @ ").map_or(a, |(_, u)| u);
        let url = url.split_once("@git+").map_or(url, |(_, u)| u);
        let path = url.split_once("://").map_or(url, |(_, p)| p);
        let path = path.split('#').next().unwrap_or(path);
        let reference = path.rsplit_once('@').map(|(_, r)| r);
        return match reference {
            Some(r) if is_fixed_ref(r) => None,
            _ => Some(a.to_string()),
        };
    }
    if a.contains("://") {
        return (a.contains("/refs/heads/")
            || a.contains("/archive/master.")
            || a.contains("/archive/main."))
        .then(|| a.to_string());
    }
    let local = a.starts_with('/')
        || a.starts_with('.')
        || a.starts_with('~')
        || a.ends_with(".whl")
        || a.ends_with(".tar.gz")
        || a.ends_with(".zip")
        || a.contains('/');
    if local || a.contains(" @ ") {
        return None;
    }
    let spec = a.split(';').next().unwrap_or(a);
    match spec.split_once("==") {
        Some((_, v)) if !v.ends_with(".*") && !v.contains(',') => None,
        _ if spec.contains("===") => None,
        _ => Some(spec.to_string()),
    }
}

/// A command of a RUN as the lints of one tool read it: its line, what runs, its arguments, the
/// first that is no option, and what the stage has set before it.
struct Invocation<'a> {
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
fn lint_command(
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
    match r.program.as_str() {
        "apt-get" | "apt" | "aptitude" => lint_apt(acc, &c, facts),
        "apk" if sub == Some("add") => lint_apk(acc, &c),
        "yum" | "dnf" | "microdnf" | "tdnf" | "zypper"
            if matches!(sub, Some("install" | "groupinstall" | "in")) =>
        {
            lint_rpm_install(acc, &c)
        }
        "pip" | "uv" | "pipx" => lint_pip(acc, &c, facts),
        "conda" | "mamba" | "micromamba" | "conda-env" => lint_conda(acc, &c, facts),
        "conda-lock" => {}
        p if is_python(p) && args.first() == Some(&"setup.py") && args.contains(&"install") => {
            facts.python_installs.push(at);
        }
        "npm" | "yarn" | "pnpm" => lint_node(acc, &c),
        "gem" if sub == Some("install") => lint_gem(acc, &c),
        "git" => lint_git(&c, facts),
        "curl" | "wget" => lint_download(acc, at, r, cmd, next, facts),
        "rm" => note_rm(&c, facts),
        "find"
            if args
                .iter()
                .any(|a| *a == "-delete" || *a == "rm" || a.ends_with("/rm")) =>
        {
            note_find(&c, facts)
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

/// apt, apt-get and aptitude: an index update without a snapshot, packages without a version; notes
/// installs for the whole RUN.
fn lint_apt(acc: &mut Acc, c: &Invocation, facts: &mut RunFacts) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let sub = c.sub;
    if sub == Some("update") {
        facts.apt_update.get_or_insert(at);
        let snapshot = args
            .iter()
            .any(|a| a.starts_with("--snapshot") || *a == "-S");
        if !snapshot && !facts.snapshot {
            acc.add(at, "apt-without-snapshot", format!("{} update", r.program));
        }
    }
    if matches!(
        sub,
        Some("install" | "upgrade" | "dist-upgrade" | "full-upgrade")
    ) {
        facts.apt_install.push(at);
    }
    if sub == Some("install") && !facts.snapshot {
        for a in operands(args, &["install"], &["-o", "-t", "--target-release", "-c"]) {
            let known = !a.contains('$') && !a.contains('`') && !a.contains('*');
            if !a.starts_with('-')
                && !a.contains('=')
                && !a.starts_with('/')
                && !a.starts_with('.')
                && !a.ends_with(".deb")
                && known
                && !r.xargs
            {
                acc.add(at, "apt-unpinned", a);
            }
        }
    }
}

/// The words after the first of `subs` (`install`, `add`, …), less each option in `with_value`
/// and the value after it: the packages, and the options that take no value.
fn operands<'a>(args: &[&'a str], subs: &[&str], with_value: &[&str]) -> Vec<&'a str> {
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

/// `apk add`: packages without a version.
fn lint_apk(acc: &mut Acc, c: &Invocation) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let with_value = [
        "-X",
        "--repository",
        "-t",
        "--virtual",
        "--root",
        "-p",
        "--arch",
        "--repositories-file",
        "--cache-dir",
        "--keys-dir",
    ];
    for a in operands(args, &["add"], &with_value) {
        if !a.starts_with('-')
            && !a.contains('=')
            && !a.contains('$')
            && !a.ends_with(".apk")
            && !r.xargs
        {
            acc.add(at, "apk-unpinned", a);
        }
    }
}

/// yum, dnf, microdnf, tdnf and zypper installs: packages without a version.
fn lint_rpm_install(acc: &mut Acc, c: &Invocation) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let with_value = [
        "-x",
        "--exclude",
        "--setopt",
        "--installroot",
        "--releasever",
        "--enablerepo",
        "--disablerepo",
    ];
    for a in operands(args, &["install", "groupinstall", "in"], &with_value) {
        if !a.starts_with('-')
            && !rpm_versioned(a)
            && !a.contains('$')
            && !a.contains('/')
            && !a.ends_with(".rpm")
            && !a.starts_with('@')
            && !r.xargs
        {
            acc.add(at, "dnf-unpinned", a);
        }
    }
}

/// pip, uv and pipx: requirements without an exact version, unlocked uv projects; notes caches and
/// bytecode for the whole RUN.
fn lint_pip(acc: &mut Acc, c: &Invocation, facts: &mut RunFacts) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let sub = c.sub;
    let state = c.state;
    let prefixed = |name: &str| c.prefixed(name);
    let uv = r.program == "uv";
    let (sub, rest): (Option<&str>, Vec<&str>) = if uv {
        let mut it = args.iter().copied().filter(|a| !a.starts_with('-'));
        match it.next() {
            Some("pip") => (
                it.next(),
                args.iter()
                    .copied()
                    .skip_while(|a| *a != "pip")
                    .skip(2)
                    .collect(),
            ),
            other => (
                other,
                args.iter()
                    .copied()
                    .skip_while(|a| Some(*a) != other)
                    .skip(1)
                    .collect(),
            ),
        }
    } else {
        (
            sub,
            args.iter()
                .copied()
                .skip_while(|a| Some(*a) != sub)
                .skip(1)
                .collect(),
        )
    };
    let uv_pip = uv && args.contains(&"pip");
    match sub {
        Some("install") if !uv || uv_pip => lint_pip_install(acc, c, &rest, facts),
        Some("install") if uv => {}
        Some("sync" | "add" | "lock") if uv => {
            let no_cache =
                args.contains(&"--no-cache") || state.uv_no_cache || prefixed("UV_NO_CACHE");
            if sub != Some("lock") && !no_cache {
                facts.pip_installs.push((at, "uv"));
            }
            let locked = args
                .iter()
                .any(|a| matches!(*a, "--frozen" | "--locked" | "--check"))
                || state.uv_locked
                || prefixed("UV_FROZEN")
                || prefixed("UV_LOCKED");
            if !locked {
                acc.add(at, "uv-unlocked", format!("uv {}", sub.unwrap_or_default()));
            }
        }
        Some("cache") => {
            if uv {
                facts.uv_cache_cleaned = true;
            } else {
                facts.pip_cache_cleaned = true;
            }
        }
        _ => {}
    }
}

/// `pip install` and `uv pip install` (`rest`: the words after `install`): requirements without
/// an exact version; notes a cache left in the layer and bytecode compiled with the build time.
fn lint_pip_install(acc: &mut Acc, c: &Invocation, rest: &[&str], facts: &mut RunFacts) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let state = c.state;
    let prefixed = |name: &str| c.prefixed(name);
    let uv = r.program == "uv";
    let tool: &'static str = if uv { "uv" } else { "pip" };
    let mut skip = false;
    for a in rest {
        if skip {
            skip = false;
            continue;
        }
        if a.starts_with('-') {
            skip = !a.contains('=') && PIP_VALUE_OPTIONS.contains(a);
            continue;
        }
        if r.xargs {
            continue;
        }
        if let Some(p) = unpinned_requirement(a) {
            acc.add(at, "pip-unpinned", p);
        }
    }
    let no_cache = if uv {
        args.contains(&"--no-cache")
            || args.contains(&"--no-cache-dir")
            || args.contains(&"-n")
            || state.uv_no_cache
            || prefixed("UV_NO_CACHE")
    } else {
        args.contains(&"--no-cache-dir") || state.pip_no_cache || prefixed("PIP_NO_CACHE_DIR")
    };
    if !no_cache {
        facts.pip_installs.push((at, tool));
    }
    let compiles = if uv {
        args.contains(&"--compile-bytecode")
            || args.contains(&"--compile")
            || state.uv_compile
            || prefixed("UV_COMPILE_BYTECODE")
    } else {
        !args.contains(&"--no-compile")
    };
    let scoped = prefixed("PIP_NO_COMPILE") || prefixed("SOURCE_DATE_EPOCH");
    if compiles && !scoped {
        facts.python_installs.push(at);
    }
}

/// conda, mamba and micromamba: environments not made from a lock; notes installs and cleaning for
/// the whole RUN.
fn lint_conda(acc: &mut Acc, c: &Invocation, facts: &mut RunFacts) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let words: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    let installing = matches!(
        words.as_slice(),
        ["install", ..]
            | ["create", ..]
            | ["update", ..]
            | ["upgrade", ..]
            | ["env", "create" | "update", ..]
    ) || r.program == "conda-env"
        && matches!(words.first(), Some(&"create" | &"update"));
    if words.first() == Some(&"clean") {
        facts.conda_cleaned = true;
    }
    if installing {
        let text = args.join(" ");
        let locked = text.contains("conda-lock")
            || text.contains(".lock")
            || text.contains("explicit")
            || args
                .iter()
                .any(|a| a.ends_with("lock.yml") || a.ends_with("lock.yaml"));
        if !locked {
            let kept: Vec<&str> = args
                .iter()
                .copied()
                .filter(|a| !matches!(*a, "-y" | "--yes" | "-q" | "--quiet"))
                .filter(|a| !a.starts_with("--root-prefix") && !a.starts_with("--prefix"))
                .collect();
            let mut shown: Vec<&str> = std::iter::once(r.program.as_str())
                .chain(kept.iter().copied())
                .take(6)
                .collect();
            if kept.len() > 5 {
                shown.push("…");
            }
            acc.add(at, "conda-unlocked", shown.join(" "));
        }
        // No python-without-sde: conda keeps the packages' file times, so the .pyc it
        // compiles do not carry the build time.
        facts
            .conda_installs
            .push((at, r.program.replace("conda-env", "conda")));
    }
}

/// npm and yarn: installs with no lock copied, packages without an exact version.
fn lint_node(acc: &mut Acc, c: &Invocation) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let sub = c.sub;
    let state = c.state;
    match (r.program.as_str(), sub) {
        ("npm", Some("install" | "i" | "add")) => {
            let packages: Vec<&&str> = args
                .iter()
                .skip_while(|a| !matches!(**a, "install" | "i" | "add"))
                .skip(1)
                .filter(|a| !a.starts_with('-') && !a.contains('$'))
                .collect();
            if packages.is_empty() {
                let lock = state.copied.contains("package-lock.json")
                    || state.copied.contains("npm-shrinkwrap.json")
                    || state
                        .copied
                        .iter()
                        .any(|c| c.starts_with("package") && c.contains('*'))
                    || state.copied_context;
                if !lock {
                    acc.add(
                        at,
                        "npm-unlocked",
                        "npm install (no package-lock.json copied)",
                    );
                }
            }
            for p in packages {
                if !exact_npm(p) {
                    acc.add(at, "npm-unlocked", *p);
                }
            }
        }
        ("yarn", Some("add")) | ("yarn", Some("global")) => {
            for p in args
                .iter()
                .skip(1)
                .filter(|a| !a.starts_with('-') && **a != "add" && !a.contains('$'))
            {
                if !exact_npm(p) {
                    acc.add(at, "npm-unlocked", *p);
                }
            }
        }
        _ => {}
    }
}

/// `gem install`: gems without a version.
fn lint_gem(acc: &mut Acc, c: &Invocation) {
    let at = c.at;
    let args = &c.args;
    let versioned = args
        .iter()
        .any(|a| matches!(*a, "-v" | "--version") || a.starts_with("--version="));
    if !versioned {
        let with_value = [
            "-i",
            "--install-dir",
            "-n",
            "--bindir",
            "--source",
            "-s",
            "-p",
        ];
        for a in operands(args, &["install"], &with_value) {
            if !a.starts_with('-') && !a.contains(':') && !a.contains('$') && !a.ends_with(".gem") {
                acc.add(at, "gem-unpinned", a);
            }
        }
    }
}

/// git: notes a clone not fixed to a tag or commit, and a checkout that fixes one.
fn lint_git(c: &Invocation, facts: &mut RunFacts) {
    let at = c.at;
    let args = &c.args;
    // `git -C DIR checkout REF`: skip the options of git itself.
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        i += if matches!(args[i], "-C" | "-c") { 2 } else { 1 };
    }
    let sub = args.get(i).copied();
    let rest = &args[(i + 1).min(args.len())..];
    match sub {
        Some("clone") => {
            let mut url = None;
            let mut fixed = false;
            let mut j = 0;
            while j < rest.len() {
                let a = rest[j];
                if matches!(a, "-b" | "--branch") {
                    fixed |= rest.get(j + 1).is_some_and(|r| is_fixed_ref(r));
                    j += 2;
                    continue;
                }
                if let Some(b) = a.strip_prefix("--branch=") {
                    fixed |= is_fixed_ref(b);
                } else if matches!(
                    a,
                    "--depth"
                        | "-o"
                        | "--origin"
                        | "--reference"
                        | "-c"
                        | "--config"
                        | "-j"
                        | "--jobs"
                        | "--filter"
                        | "--shallow-since"
                        | "--separate-git-dir"
                        | "-u"
                        | "--upload-pack"
                ) {
                    j += 2;
                    continue;
                } else if !a.starts_with('-') && url.is_none() {
                    url = Some(a.to_string());
                }
                j += 1;
            }
            if !fixed {
                let url = url.unwrap_or_else(|| "REPOSITORY".into());
                facts.clones.push((at, url));
            }
        }
        Some("checkout" | "switch" | "reset" | "fetch" | "pull") => {
            let refs: Vec<&&str> = rest.iter().filter(|a| !a.starts_with('-')).collect();
            if refs.iter().any(|r| is_fixed_ref(r)) {
                facts.pinned_checkout = true;
            }
        }
        _ => {}
    }
}

/// `rm`: notes the caches, logs and bytecode the RUN removes.
fn note_rm(c: &Invocation, facts: &mut RunFacts) {
    let args = &c.args;
    for a in args {
        if a.contains("/var/lib/apt/lists") {
            facts.lists_cleaned = true;
        }
        if a.contains("/var/log") {
            facts.logs_cleaned = true;
        }
        if a.contains(".cache/pip")
            || a.ends_with(".cache")
            || a.ends_with(".cache/")
            || a.ends_with(".cache/*")
        {
            facts.pip_cache_cleaned = true;
            facts.uv_cache_cleaned = true;
        }
        if a.contains(".cache/uv") {
            facts.uv_cache_cleaned = true;
        }
        if a.contains("/pkgs") {
            facts.conda_cleaned = true;
        }
        if a.contains("__pycache__") || a.contains(".pyc") {
            facts.pyc_removed = true;
        }
    }
}

/// `find … -delete` (or `-exec rm`): notes the caches, logs and bytecode the RUN removes.
fn note_find(c: &Invocation, facts: &mut RunFacts) {
    let args = &c.args;
    for a in args.iter().take_while(|a| !a.starts_with('-')) {
        if a.contains("/var/lib/apt/lists") {
            facts.lists_cleaned = true;
        }
        if a.contains("/var/log") {
            facts.logs_cleaned = true;
        }
        if a.contains(".cache") {
            facts.pip_cache_cleaned = true;
            facts.uv_cache_cleaned = true;
        }
    }
    let text = args.join(" ");
    if (text.contains(".pyc") || text.contains("__pycache__"))
        && (text.contains("-delete") || text.contains("rm"))
    {
        facts.pyc_removed = true;
    }
    if text.contains("/var/log")
        && (text.contains("-delete") || text.contains("rm") || text.contains("truncate"))
    {
        facts.logs_cleaned = true;
    }
}

/// `name-version` or `name-version-release` (`make-4.2.1`, `bash-5.1.8-6.el9.x86_64`,
/// `cuda-toolkit-12-8-12.8.1-1`): after some `-`, one or two parts that start with a digit, one
/// with a dot. A number in the name (`gcc-toolset-13-gcc`, `cuda-toolkit-12-8`) is no version.
fn rpm_versioned(spec: &str) -> bool {
    // An epoch (`name-1:2.3-4`) is part of the version.
    let without_epoch = spec.split_once(':').and_then(|(before, after)| {
        let (name, epoch) = before.rsplit_once('-')?;
        epoch
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| format!("{name}-{after}"))
    });
    let spec = without_epoch.as_deref().unwrap_or(spec);
    let parts: Vec<&str> = spec.split('-').collect();
    (1..parts.len()).any(|i| {
        let tail = &parts[i..];
        tail.len() <= 2
            && tail
                .iter()
                .all(|p| p.starts_with(|c: char| c.is_ascii_digit()))
            && tail.iter().any(|p| p.contains('.'))
    })
}

/// Sources pointing at a snapshot (a date).
fn mentions_snapshot(text: &str) -> bool {
    text.contains("snapshot.debian.org") || text.contains("snapshot.ubuntu.com")
}

fn exact_npm(spec: &str) -> bool {
    let spec = spec.trim_matches(['"', '\'']);
    let version = match spec.strip_prefix('@') {
        Some(scoped) => scoped.split_once('@').map(|(_, v)| v),
        None => spec.split_once('@').map(|(_, v)| v),
    };
    version.is_some_and(|v| {
        v.chars().next().is_some_and(|c| c.is_ascii_digit())
            && !v.contains(['^', '~', '*', 'x', '>', '<'])
    }) || spec.contains('/') && !spec.starts_with('@')
        || spec.starts_with('.')
}

fn lint_download(
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
struct Download {
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
fn lint_piped_download(
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
fn runs_downloaded_script(words: &[String]) -> bool {
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
    fn a_stage_arg_default_sees_the_names_declared_before_it_in_the_same_instruction() {
        let df = "FROM a:1@sha256:1111111111111111111111111111111111111111111111111111111111111111\nARG SOURCE_DATE_EPOCH\nARG V=numpy PKG=$V\nRUN pip install --no-cache-dir \"$PKG\"\n";
        assert_eq!(rules(df), vec![(4, "pip-unpinned")]);
        // Without V, PKG names nothing known: no finding to make.
        let unset = df.replace("ARG V=numpy PKG", "ARG PKG");
        assert_eq!(rules(&unset), vec![]);
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

    fn has(dockerfile: &str, line: usize, rule: &str) -> bool {
        rules(dockerfile).contains(&(line, rule_name(rule)))
    }

    fn rule_name(rule: &str) -> &'static str {
        Box::leak(rule.to_string().into_boxed_str())
    }

    fn only(dockerfile: &str, rule: &str) -> Vec<usize> {
        rules(dockerfile)
            .into_iter()
            .filter(|(_, r)| *r == rule)
            .map(|(l, _)| l)
            .collect()
    }

    const BASE: &str = "FROM python:3.12@sha256:1111111111111111111111111111111111111111111111111111111111111111\nARG SOURCE_DATE_EPOCH\n";

    #[test]
    fn commands_behind_run_flags_heredocs_and_operators_are_linted() {
        for (body, line) in [
            ("RUN --mount=type=cache,target=/root/.cache/pip --network=none --security=insecure pip install numpy\n", 3),
            ("RUN <<EOF\nset -e\npip install numpy\nEOF\n", 5),
            ("RUN bash <<EOF\npip install numpy\nEOF\n", 4),
            ("RUN if true; then pip install numpy; fi\n", 3),
            ("RUN true && pip install numpy\n", 3),
            ("RUN false || pip install numpy\n", 3),
            ("RUN true; pip install numpy\n", 3),
            ("RUN sh -c 'pip install numpy'\n", 3),
            ("RUN sudo -E pip install numpy\n", 3),
            ("RUN env X=1 pip install numpy\n", 3),
            ("RUN conda run -n env --no-capture-output pip install numpy\n", 3),
            ("RUN pip3.11 install numpy\n", 3),
            ("RUN python3 -m pip install numpy\n", 3),
            ("RUN /opt/conda/bin/python -mpip install numpy\n", 3),
            ("RUN python3 -u -m pip install numpy\n", 3),
            ("ARG PIP=\"python3 -m pip\"\nRUN ${PIP} install numpy\n", 4),
            ("RUN uv pip install --system numpy\n", 3),
            ("RUN echo x \\\n && pip install \\\n numpy\n", 3),
        ] {
            let df = format!("{BASE}{body}");
            assert_eq!(only(&df, "pip-unpinned"), [line], "{df}");
        }
        // xargs: the packages are unknown, the cache is not.
        let df = format!("{BASE}RUN cat reqs | xargs -n1 pip install\n");
        assert_eq!(only(&df, "pip-unpinned"), Vec::<usize>::new());
        assert_eq!(only(&df, "pip-cache-left"), [3]);
        // A heredoc that feeds a file is data, not commands.
        let df = format!("{BASE}RUN cat > /x <<EOF\npip install numpy\nEOF\n");
        assert!(rules(&df).is_empty(), "{:?}", rules(&df));
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
    fn images_from_args_copy_from_and_mounts() {
        let df = "ARG CUDA=12.1.0\nARG BASE=nvidia/cuda:${CUDA}-devel-ubuntu22.04\nFROM ${BASE} AS build\n\
                  FROM ubuntu\nCOPY --from=busybox:1.36 /bin/busybox /bin/\nCOPY --from=build /a /a\n\
                  RUN --mount=type=bind,from=ghcr.io/astral-sh/uv:latest,source=/uv,target=/bin/uv true\n\
                  FROM pytorch/pytorch:latest-gpu\n";
        let report = check_file(
            df.as_bytes(),
            Path::new("/nonexistent"),
            false,
            &Options::default(),
        );
        let f: Vec<(usize, &str, &str)> = report
            .findings
            .iter()
            .map(|f| (f.line, f.rule, f.fix.as_str()))
            .collect();
        assert!(f.contains(&(3, "from-unpinned", "pin the digest: FROM nvidia/cuda:12.1.0-devel-ubuntu22.04@sha256:... (`docker buildx imagetools inspect nvidia/cuda:12.1.0-devel-ubuntu22.04` prints it; docker repro release pins it in the lock, but a plain docker build does not)")), "{f:?}");
        assert!(f
            .iter()
            .any(|x| x.0 == 4 && x.1 == "from-latest" && x.2.contains("FROM ubuntu:TAG@sha256")));
        assert!(f.iter().any(|x| x.0 == 5
            && x.1 == "from-unpinned"
            && x.2.contains("COPY --from=busybox:1.36@sha256")));
        assert!(f.iter().any(|x| x.0 == 7
            && x.1 == "from-latest"
            && x.2
                .contains("RUN --mount=from=ghcr.io/astral-sh/uv:TAG@sha256")));
        assert!(f.iter().any(|x| x.0 == 8 && x.1 == "from-latest"));
        let message = |line: usize| {
            report
                .findings
                .iter()
                .find(|f| f.line == line)
                .map(|f| f.message.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            message(4),
            "`FROM ubuntu` has no tag, so it is :latest, which moves"
        );
        assert_eq!(
            message(8),
            "`FROM pytorch/pytorch:latest-gpu` follows a moving tag (latest-gpu)"
        );
        assert!(!f.iter().any(|x| x.0 == 6));
        let bases: Vec<(usize, &str, &str)> = report
            .bases
            .iter()
            .map(|b| (b.line, b.reference.as_str(), b.via))
            .collect();
        assert_eq!(bases, [(8, "pytorch/pytorch:latest-gpu", "from")]);
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

    #[test]
    fn one_finding_per_line_and_rule_with_every_item() {
        let df = format!("{BASE}RUN pip install --no-cache-dir a && pip install --no-cache-dir b && apt-get update && apt-get update\n");
        let report = check_file(
            df.as_bytes(),
            Path::new("/nonexistent"),
            false,
            &Options::default(),
        );
        let mut keys: Vec<(usize, &str)> =
            report.findings.iter().map(|f| (f.line, f.rule)).collect();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len());
        let pip = report
            .findings
            .iter()
            .find(|f| f.rule == "pip-unpinned")
            .unwrap();
        assert_eq!(pip.message, "Python packages without == pins: a, b");
        assert!(has(&df, 3, "apt-without-snapshot"));
    }

    #[test]
    fn a_file_buildkit_refuses_is_an_error_with_its_reason() {
        let report = check_file(
            b"FROM a\nCOPY --from=later / /\nFROM b AS later\n",
            Path::new("/nonexistent"),
            false,
            &Options::default(),
        );
        assert!(report.bases.is_empty());
        assert!(report.error.as_deref().unwrap().contains("line 2"));
        assert!(report
            .findings
            .iter()
            .any(|f| f.rule == "dockerfile-invalid"
                && f.line == 2
                && f.severity == Severity::Error));
    }

    #[test]
    fn build_args_and_target_decide_the_bases() {
        let df =
            b"ARG TAG=3.11\nFROM python:${TAG} AS app\nFROM internal.example/tools:1 AS tools\n";
        let opts = Options {
            build_args: [("TAG".to_string(), "3.12".to_string())].into(),
            target: Some("app".into()),
            ..Options::default()
        };
        let report = check_file(df, Path::new("/nonexistent"), false, &opts);
        assert_eq!(
            report.bases,
            [Pull {
                line: 2,
                reference: "python:3.12".into(),
                via: "from"
            }]
        );
    }

    #[test]
    fn branch_tags_move_and_dated_tags_do_not() {
        for (tag, moving) in [
            ("latest", true),
            ("latest-gpu", true),
            ("3.12-nightly", true),
            ("main-base", true),
            ("master", true),
            ("stable-slim", true),
            ("edge", true),
            ("rolling", true),
            ("nightly_3.10_tpuvm_20250124", false),
            ("nightly-2024-05-01", false),
            ("12.1.0-devel-ubuntu22.04", false),
            ("2.3.0-cuda12.1-cudnn8-devel", false),
            ("24.02-py3", false),
            ("3.19", false),
        ] {
            assert_eq!(moving_tag(tag), moving, "{tag}");
        }
        let df = "FROM axolotlai/axolotl-base-uv:main-base\nFROM us-docker.pkg.dev/p/xla:nightly_3.10_tpuvm_20250124\n";
        assert_eq!(rules(df), [(1, "from-latest"), (2, "from-unpinned")]);
    }

    /// Ray's base image lists its apt packages in a bash array inside a heredoc.
    #[test]
    fn packages_in_a_bash_array_are_linted_and_its_elements_are_no_commands() {
        let df = "FROM ubuntu:24.04@sha256:1111111111111111111111111111111111111111111111111111111111111111\n\
                  RUN <<EOF\n#!/bin/bash\nAPT_PKGS=(\n    sudo\n    # a comment\n    wget\n    curl=8.5.0-2ubuntu10\n)\napt-get install -y \"${APT_PKGS[@]}\"\nEOF\n";
        let report = check_file(
            df.as_bytes(),
            Path::new("/nonexistent"),
            false,
            &Options::default(),
        );
        let apt = report
            .findings
            .iter()
            .find(|f| f.rule == "apt-unpinned")
            .expect("apt-unpinned");
        assert_eq!(apt.line, 10);
        assert!(apt.message.ends_with(": sudo, wget"), "{}", apt.message);
        assert_eq!(
            rules(df),
            [(10, "apt-logs-left"), (10, "apt-unpinned")],
            "wget alone on a line is an element, not a download"
        );
    }

    /// TensorFlow's Dockerfiles: `ARG USE_PYTHON_3_NOT_2`, `ARG _PY_SUFFIX=${USE_PYTHON_3_NOT_2:+3}`,
    /// `ARG PIP=pip${_PY_SUFFIX}`: without build args, `${PIP}` is pip.
    #[test]
    fn an_arg_without_a_value_is_empty_in_later_args_and_envs() {
        let df = format!(
            "{BASE}ARG USE_PYTHON_3_NOT_2\nARG _PY_SUFFIX=${{USE_PYTHON_3_NOT_2:+3}}\nARG PIP=pip${{_PY_SUFFIX}}\n\
             ENV PY=python${{_PY_SUFFIX}}\nRUN ${{PIP}} install numpy\nRUN ${{PY}} -m pip install scipy\n"
        );
        assert_eq!(only(&df, "pip-unpinned"), [7, 8]);
        // A name the file never declares may come from the base image: still unknown.
        let df = format!("{BASE}ENV PIPX=${{TOOL:-pip}}\nRUN $PIPX install numpy\n");
        assert!(only(&df, "pip-unpinned").is_empty());
    }

    /// TensorFlow: `pip install ${TF_PACKAGE}${TF_PACKAGE_VERSION:+==${TF_PACKAGE_VERSION}}` with
    /// an empty version installs the newest release.
    #[test]
    fn a_word_joined_from_expansions_keeps_every_part() {
        let df = format!(
            "{BASE}ARG TF_PACKAGE=tensorflow\nARG TF_PACKAGE_VERSION=\n\
             RUN pip install --no-cache-dir ${{TF_PACKAGE}}${{TF_PACKAGE_VERSION:+==${{TF_PACKAGE_VERSION}}}}\n\
             RUN pip install --no-cache-dir ${{TF_PACKAGE}}${{TF_PACKAGE:+==2.16.1}}\n"
        );
        assert_eq!(only(&df, "pip-unpinned"), [5]);
    }

    /// Each message and fix names what the line does: the command, the tool, the package.
    #[test]
    fn messages_and_fixes_name_the_case_at_hand() {
        let df = format!(
            "{BASE}RUN apt update && apt install -y curl=8.5.0-2 && rm -rf /var/lib/apt/lists/* /var/log/*\n\
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

    /// Horovod: `bash -c "… pip install $(ls dist/horovod-*.tar.gz)[spark]"`.
    #[test]
    fn a_double_quoted_script_with_a_substitution_is_linted() {
        let from = "FROM python:3.12@sha256:1111111111111111111111111111111111111111111111111111111111111111\n";
        let df = format!(
            "{from}RUN bash -c \"X=1 pip install --no-cache-dir $(ls /d/*.tar.gz)[ray] numpy\"\n"
        );
        assert_eq!(rules(&df), [(2, "pip-unpinned"), (2, "python-without-sde")]);
        assert_eq!(unquote_whole("\"a $(b \"c\") d\""), "a $(b \"c\") d");
        assert_eq!(unquote_whole("\"a\"$(b)\"c\""), "\"a\"$(b)\"c\"");
        assert_eq!(unquote_whole("'$(x)'"), "$(x)");
    }

    /// A version from a variable is a pin only after `==` without a wildcard.
    #[test]
    fn a_range_or_wildcard_floats_whatever_the_variable_holds() {
        let df = format!(
            "{BASE}ARG TRT\nRUN pip install --no-cache-dir tensorrt==${{TRT}}.* \"torch>=$V\" \"x~=${{X}}\" y==$Y\n"
        );
        let report = check_file(
            df.as_bytes(),
            Path::new("/nonexistent"),
            false,
            &Options::default(),
        );
        let pip = report
            .findings
            .iter()
            .find(|f| f.rule == "pip-unpinned")
            .expect("pip-unpinned");
        assert_eq!(pip.line, 4);
        assert!(
            pip.message.contains("tensorrt==.*")
                && pip.message.contains("torch>=$V")
                && pip.message.contains("x~=${X}")
                && !pip.message.contains("y=="),
            "{}",
            pip.message
        );
    }

    /// get-pip.py is pip installing the newest pip: unpinned, cached and compiled.
    #[test]
    fn get_pip_installs_an_unpinned_pip() {
        let from = "FROM python:3.12@sha256:1111111111111111111111111111111111111111111111111111111111111111\n";
        let df = format!("{from}RUN python3.9 get-pip.py\n");
        assert_eq!(
            rules(&df),
            [
                (2, "pip-cache-left"),
                (2, "pip-unpinned"),
                (2, "python-without-sde")
            ]
        );
        let df = format!("{from}ARG SOURCE_DATE_EPOCH\nRUN python /tmp/get-pip.py --no-cache-dir pip==24.0 setuptools==69.5.1\n");
        assert_eq!(rules(&df), []);
        // A script that is not get-pip.py, and python -c, are not pip.
        let df = format!("{from}RUN python3 setup_env.py pip && python3 -c 'import pip'\n");
        assert_eq!(rules(&df), []);
    }

    #[test]
    fn rpm_versions_are_not_numbers_in_names() {
        let df = format!(
            "{BASE}RUN dnf install -y gcc-toolset-13-gcc gcc-toolset-13-gcc-c++\n\
             RUN dnf install -y cuda-toolkit-12-8\n\
             RUN dnf install -y make-4.2.1 bash-5.1.8-6.el9.x86_64 cuda-toolkit-12-8-12.8.1-1 tar-2:1.34-6.el9\n\
             RUN yum install -y java-1.8.0-openjdk\n"
        );
        assert_eq!(only(&df, "dnf-unpinned"), [3, 4, 6]);
        for (spec, pinned) in [
            ("make-4.2.1", true),
            ("make-4.2.1-1.el8", true),
            ("tar-2:1.34-6.el9", true),
            ("gcc-toolset-13-gcc", false),
            ("libcudnn9-cuda-13", false),
            ("java-1.8.0-openjdk", false),
            ("python3.11", false),
        ] {
            assert_eq!(rpm_versioned(spec), pinned, "{spec}");
        }
    }

    /// pip writes timestamped .pyc of what it installs even with PYTHONDONTWRITEBYTECODE=1
    /// (checked in a bookworm container: `__pycache__/*.pyc` is there after the install), so
    /// that variable is no fix, and the lint must neither accept nor suggest it.
    #[test]
    fn pythondontwritebytecode_does_not_stop_pip_compiling() {
        let from = "FROM python:3.12@sha256:1111111111111111111111111111111111111111111111111111111111111111\n";
        let df = format!(
            "{from}ENV PYTHONDONTWRITEBYTECODE=1\nRUN pip install --no-cache-dir numpy==1.26.4\n"
        );
        assert_eq!(only(&df, "python-without-sde").len(), 1);
        let df = format!("{from}RUN PIP_NO_COMPILE=1 pip install --no-cache-dir numpy==1.26.4\n");
        assert!(only(&df, "python-without-sde").is_empty());
    }
}
