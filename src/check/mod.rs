//! `docker repro check`: a static reproducibility lint for Dockerfiles, and the images a build
//! pulls. Fast and offline: it reads the Dockerfile text (and whether a `.dockerignore` exists),
//! nothing else.
//!
//! The Dockerfile is read by [`crate::dockerfile`], BuildKit's own rules; a RUN script is split
//! into simple commands by [`shell`] (after `&&`, `||`, `;`, `|`, in `sh -c '…'`, `$(…)`, heredoc
//! bodies), each command is unwrapped (`sudo`, `env X=1`, `conda run -n env`, `xargs`,
//! `python -m pip`, `${PIP}`) by [`command`] and judged by the rules in [`rules`], one family
//! per file. This file keeps the walk over the instructions and the report.

mod command;
mod rules;
pub mod sarif;
mod shell;
pub mod suppress;
#[cfg(test)]
mod testutil;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::dockerfile::lex::{Env, Lex};
use crate::dockerfile::{self, Node};

use command::{array_reference, basename, expand_word, is_assignment, resolve, SHELLS};
use rules::apt::mentions_snapshot;
use rules::copy::lint_copy;
use rules::download::runs_downloaded_script;
use rules::from::{lint_base, lint_image};
use rules::pip::note_env;
use rules::{judge_run, lint_command, render, RunFacts};

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
    /// The names of the build's named contexts (`--build-context NAME=…`): a `FROM NAME` or
    /// `COPY --from=NAME` reads the context, pinned where it is given, not an image by its tag.
    pub contexts: BTreeSet<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            build_args: BTreeMap::new(),
            target: None,
            platform: "linux/amd64".into(),
            contexts: BTreeSet::new(),
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

    /// Drops the image findings (`from-latest`, `from-unpinned`) about the images `names` names:
    /// those are named build contexts, not images pulled by their tag.
    fn forget_images(&mut self, names: &BTreeSet<String>) {
        if names.is_empty() {
            return;
        }
        self.0.retain(|(_, rule), items| {
            !(matches!(*rule, "from-latest" | "from-unpinned")
                && items.list.iter().all(|item| {
                    let image = item.split_once('\u{1f}').map_or(item.as_str(), |(_, i)| i);
                    names.contains(image)
                }))
        });
    }

    fn finish(self) -> Vec<Finding> {
        self.0
            .into_iter()
            .map(|((line, rule), items)| render(line, rule, &items.list))
            .collect()
    }
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
    acc.forget_images(&opts.contexts);
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
        if feeds_shell {
            scripts.push((cmdline, line));
            for doc in &node.heredocs {
                scripts.push((doc.content.clone(), doc.first_line));
            }
        } else {
            // `RUN cat > f <<EOF`: the shell runs the line with its here-documents, which are
            // data for the command, expanded unless the delimiter is quoted. Their lines follow
            // the command's, as in the file.
            let mut script = cmdline;
            for doc in &node.heredocs {
                script.push('\n');
                script.push_str(&doc.content);
                script.push_str(&doc.name);
            }
            scripts.push((script, line));
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

/// The walk and the report: stages, ARG and ENV expansion, the commands found in a RUN, the
/// bases, one finding per line and rule, BuildKit's refusal. Each rule's own tests are in its
/// family's file under `rules/`.
#[cfg(test)]
mod tests {
    use super::command::unquote_whole;
    use super::testutil::{has, only, rules, BASE};
    use super::*;

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
    fn a_named_build_context_is_no_image_pulled_by_its_tag() {
        let df = b"FROM tools\nCOPY --from=vendor a /a\nFROM python:3.12\n";
        let opts = Options {
            contexts: ["tools".to_string(), "vendor".to_string()].into(),
            ..Options::default()
        };
        let found: Vec<(usize, &str)> = check_file(df, Path::new("/nonexistent"), false, &opts)
            .findings
            .iter()
            .map(|f| (f.line, f.rule))
            .collect();
        assert_eq!(found, [(3, "from-unpinned")]);
        assert_eq!(
            only(std::str::from_utf8(df).unwrap(), "from-latest"),
            [1, 2]
        );
    }

    #[test]
    fn sde_is_per_stage() {
        let df = "FROM a:1@sha256:1111111111111111111111111111111111111111111111111111111111111111 AS one\nARG SOURCE_DATE_EPOCH\nFROM a:1@sha256:1111111111111111111111111111111111111111111111111111111111111111\nRUN pip install --no-cache-dir x==1\n";
        assert_eq!(rules(df), [(4, "python-without-sde")]);
    }

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
}
