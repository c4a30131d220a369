//! Which images a Dockerfile build pulls, decided as BuildKit decides it: its parser
//! ([`parser`]), its shell lexer ([`lex`]), its image-name check ([`reference`]), and the stage
//! rules of its `dockerfile2llb`:
//!
//! - global `ARG`s (before the first `FROM`) are expanded in order, starting from the platform
//!   args (`TARGETPLATFORM`, `BUILDOS`, `TARGETARCH`…); `--build-arg` wins over a default; an
//!   `ARG NAME` without a value keeps an earlier value;
//! - a `FROM` name is expanded with the global args only; empty is an error; the name of an
//!   earlier stage is that stage; `scratch` is nothing; anything else must be a valid image name;
//! - `COPY --from`: a variable is an error; a number is a stage index (an earlier one); a stage
//!   name from anywhere in the file (case-insensitive) is that stage, and a later one is an
//!   error; anything else is an image;
//! - `RUN --mount=…,from=X`: a stage name is that stage, anything else an image;
//! - a build of the target (the last stage unless `--target`) pulls the images of the stages it
//!   reaches through `FROM`, `COPY --from` and `RUN --mount from=`, and no others.

pub mod lex;
pub mod parser;
pub mod sources;
pub mod workspace;

use std::collections::{BTreeMap, BTreeSet};

use crate::image::reference::grammar as reference;
use lex::{Env, Lex, NoEnv};
pub use parser::{Heredoc, Node};

/// One image reference a build pulls from outside the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalRef {
    /// 1-based line of the instruction.
    pub line: usize,
    /// The reference as written, before ARG expansion (`${BASE}`).
    pub written: String,
    /// The reference after ARG expansion (`ubuntu:22.04`); this is what BuildKit resolves.
    pub image: String,
    /// `FROM --platform=...` after expansion.
    pub platform: Option<String>,
    /// `FROM`, `COPY --from` or `RUN --mount`.
    pub instruction: &'static str,
    /// The index of the stage it belongs to.
    pub stage: usize,
}

impl ExternalRef {
    /// `from`, `copy-from` or `run-mount`, as `check --format json` names it.
    pub fn via(&self) -> &'static str {
        match self.instruction {
            "FROM" => "from",
            "COPY --from" => "copy-from",
            _ => "run-mount",
        }
    }
}

/// One `FROM` and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// 1-based line of the `FROM`.
    pub line: usize,
    /// The stage name, lower-cased (`AS NAME`).
    pub name: Option<String>,
    /// The base after ARG expansion.
    pub base: String,
    /// The earlier stage the base names, if it does.
    pub base_stage: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// The `# syntax=` frontend image, when there is one.
    pub syntax: Option<String>,
    /// Stage names in order (`None` for an unnamed stage).
    pub stages: Vec<Option<String>>,
    /// The images a build of the target pulls, in file order.
    pub externals: Vec<ExternalRef>,
    /// The images of every stage, reachable from the target or not, in file order.
    pub all_externals: Vec<ExternalRef>,
    /// Each `FROM`, in order.
    pub stage_info: Vec<Stage>,
    /// The indexes of the stages a build of the target needs.
    pub reachable: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

fn error<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

/// The global scope: ARGs by name, in the order they were first set.
#[derive(Default)]
struct Globals(BTreeMap<String, String>);

impl Env for Globals {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// ARGs BuildKit defines before the first `FROM` (its `defaultArgs`/`buildMetaArgs`).
fn platform_args(platform: &str, target: Option<&str>) -> BTreeMap<String, String> {
    let mut parts = platform.splitn(3, '/');
    let os = parts.next().unwrap_or("linux").to_string();
    let arch = parts.next().unwrap_or("amd64").to_string();
    let variant = parts.next().unwrap_or("").to_string();
    let mut args = BTreeMap::new();
    for prefix in ["TARGET", "BUILD"] {
        args.insert(format!("{prefix}PLATFORM"), platform.to_string());
        args.insert(format!("{prefix}OS"), os.clone());
        args.insert(format!("{prefix}OSVERSION"), String::new());
        args.insert(format!("{prefix}ARCH"), arch.clone());
        args.insert(format!("{prefix}VARIANT"), variant.clone());
    }
    args.insert(
        "TARGETSTAGE".into(),
        target.unwrap_or("default").to_string(),
    );
    args
}

const KNOWN: [&str; 18] = [
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Checks an instruction's flags against the ones BuildKit knows for it.
fn flags(node: &Node, allowed: &[&str]) -> Result<Vec<(String, String)>, ParseError> {
    let mut out = Vec::new();
    for f in &node.flags {
        let Some(rest) = f.strip_prefix("--") else {
            return error(node.start_line, format!("bad flag {f:?}"));
        };
        let (name, value) = rest.split_once('=').unwrap_or((rest, ""));
        if !allowed.contains(&name) {
            return error(node.start_line, format!("unknown flag: {name}"));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// Go's `encoding/csv` reading one record, as BuildKit reads a `--mount` value; `None` where Go
/// reports an error.
fn csv_record(s: &str) -> Option<Vec<String>> {
    let line = s.split('\n').next().unwrap_or("");
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut field = String::new();
            let mut r = quoted;
            loop {
                let i = r.find('"')?;
                field.push_str(&r[..i]);
                r = &r[i + 1..];
                if let Some(after) = r.strip_prefix('"') {
                    field.push('"');
                    r = after;
                } else if r.is_empty() {
                    fields.push(field);
                    return Some(fields);
                } else if let Some(after) = r.strip_prefix(',') {
                    fields.push(field);
                    rest = after;
                    break;
                } else {
                    return None;
                }
            }
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let field = &rest[..end];
            if field.contains('"') {
                return None;
            }
            fields.push(field.to_string());
            if end == rest.len() {
                return Some(fields);
            }
            rest = &rest[end + 1..];
        }
    }
}

/// Go's `strconv.Atoi`.
fn atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

struct Pending {
    from: String,
    line: usize,
}

/// Parses `source` with the given `--build-arg` values, for a build of the default target (the
/// last stage) on `platform` (`os/arch[/variant]`).
pub fn parse(
    source: &[u8],
    build_args: &BTreeMap<String, String>,
    platform: &str,
) -> Result<Dockerfile, ParseError> {
    parse_target(source, build_args, platform, None)
}

/// [`parse`] for a build of `target` (`--target`), or of the last stage when `None`.
pub fn parse_target(
    source: &[u8],
    build_args: &BTreeMap<String, String>,
    platform: &str,
    target: Option<&str>,
) -> Result<Dockerfile, ParseError> {
    let parsed = parser::parse(source).map_err(|e| ParseError {
        line: e.line,
        message: e.message,
    })?;
    let lex = Lex::new(parsed.escape);
    let mut out = Dockerfile {
        syntax: parsed
            .directives
            .iter()
            .find(|(k, _)| k == "syntax")
            .map(|(_, v)| v.clone()),
        ..Default::default()
    };
    let globals = Globals(platform_args(platform, target));
    let (stages, by_name) = read_stages(&parsed.nodes, &lex, build_args, globals, &mut out)?;
    let deps = stage_dependencies(&stages, &by_name, &lex, &mut out)?;
    let start = match target {
        None => stages.len() - 1,
        Some(t) => match by_name.get(&t.to_lowercase()) {
            Some(&i) => i,
            None => {
                return error(1, format!("target stage {t:?} could not be found"));
            }
        },
    };
    let seen = reachable_from(start, &deps);
    out.reachable = (0..stages.len()).filter(|i| seen[*i]).collect();
    out.all_externals.sort_by_key(|e| e.line);
    out.externals = out
        .all_externals
        .iter()
        .filter(|e| seen[e.stage])
        .cloned()
        .collect();
    Ok(out)
}

/// What one stage refers to: its `FROM`, the stage it is built on, and the `COPY --from` and
/// `RUN --mount=from=` sources, resolved once every stage is known.
struct StageRefs {
    from: ExternalRef,
    deps: BTreeSet<usize>,
    copies: Vec<Pending>,
    mounts: Vec<Pending>,
}

/// Reads the instructions in order: the global `ARG`s (before the first `FROM`, given values
/// override their defaults), each stage, and the references of its `COPY`, `ADD` and `RUN`.
/// Fills `out.stage_info` and `out.stages`; returns the stages and the index of each name.
fn read_stages(
    nodes: &[Node],
    lex: &Lex,
    build_args: &BTreeMap<String, String>,
    mut globals: Globals,
    out: &mut Dockerfile,
) -> Result<(Vec<StageRefs>, BTreeMap<String, usize>), ParseError> {
    let mut stages: Vec<StageRefs> = Vec::new();
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for node in nodes {
        let line = node.start_line;
        if crate::cancel::requested() {
            return error(line, "interrupted");
        }
        let cmd = node.value.to_ascii_lowercase();
        if !KNOWN.contains(&cmd.as_str()) {
            return error(line, format!("unknown instruction: {}", node.value));
        }
        match cmd.as_str() {
            "arg" => {
                if node.args.is_empty() {
                    return error(line, "ARG requires at least one argument");
                }
                if stages.is_empty() {
                    global_args(node, lex, build_args, &mut globals)?;
                }
            }
            "from" => {
                let stage = from_stage(node, lex, &globals, &by_name, stages.len(), out)?;
                if let Some(name) = out.stages.last().cloned().flatten() {
                    by_name.insert(name, stages.len());
                }
                stages.push(stage);
            }
            _ => {
                let Some(current) = stages.last_mut() else {
                    return error(line, "no build stage in current context");
                };
                stage_sources(node, &cmd, current)?;
            }
        }
    }
    if stages.is_empty() {
        return error(1, "no build stage (no FROM instruction)");
    }
    Ok((stages, by_name))
}

/// A global `ARG`: a value given with `--build-arg` wins over the default, which is expanded
/// with the global arguments before it.
fn global_args(
    node: &Node,
    lex: &Lex,
    build_args: &BTreeMap<String, String>,
    globals: &mut Globals,
) -> Result<(), ParseError> {
    let line = node.start_line;
    for a in &node.args {
        let (k, v) = match a.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (a.as_str(), None),
        };
        if k.is_empty() {
            return error(line, "ARG names can not be blank");
        }
        if let Some(given) = build_args.get(k) {
            globals.0.insert(k.to_string(), given.clone());
        } else if let Some(v) = v {
            let value = lex
                .process_word(v, &*globals)
                .or_else(|e| error(line, e.0))?;
            globals.0.insert(k.to_string(), value);
        }
    }
    Ok(())
}

/// A `FROM`: its name, its base expanded with the global arguments, the stage it is built on
/// when the base names one, and its `--platform`. Records the stage in `out`.
fn from_stage(
    node: &Node,
    lex: &Lex,
    globals: &Globals,
    by_name: &BTreeMap<String, usize>,
    index: usize,
    out: &mut Dockerfile,
) -> Result<StageRefs, ParseError> {
    let line = node.start_line;
    let args = &node.args;
    let fl = flags(node, &["platform"])?;
    let name = match args.as_slice() {
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            let name = name.to_lowercase();
            if !valid_stage_name(&name) {
                return error(line, format!("invalid name for build stage: {:?}", args[2]));
            }
            Some(name)
        }
        [_] => None,
        _ => return error(line, "FROM requires either one or three arguments"),
    };
    let base = lex
        .process_word(&args[0], globals)
        .or_else(|e| error(line, e.0))?;
    if base.is_empty() {
        return error(
            line,
            format!(
                "base name ({}) should not be blank; set the ARG with --build-arg or give it a default",
                args[0]
            ),
        );
    }
    let platform = fl
        .iter()
        .rev()
        .find(|(n, _)| n == "platform")
        .map(|(_, p)| lex.process_word(p, globals).unwrap_or_else(|_| p.clone()));
    let base_stage = by_name.get(&base).copied();
    out.stage_info.push(Stage {
        line,
        name: name.clone(),
        base: base.clone(),
        base_stage,
    });
    out.stages.push(name);
    Ok(StageRefs {
        from: ExternalRef {
            line,
            written: args[0].clone(),
            image: base,
            platform,
            instruction: "FROM",
            stage: index,
        },
        deps: base_stage.into_iter().collect(),
        copies: Vec::new(),
        mounts: Vec::new(),
    })
}

/// Checks the flags of an instruction inside a stage, and notes the sources of `COPY --from`
/// and `RUN --mount=from=` in `current`.
fn stage_sources(node: &Node, cmd: &str, current: &mut StageRefs) -> Result<(), ParseError> {
    let line = node.start_line;
    match cmd {
        "copy" => {
            let fl = flags(
                node,
                &["from", "chown", "chmod", "link", "parents", "exclude"],
            )?;
            if let Some((_, v)) = fl.iter().rev().find(|(n, _)| n == "from") {
                if !v.is_empty() {
                    current.copies.push(Pending {
                        from: v.clone(),
                        line,
                    });
                }
            }
        }
        "add" => {
            flags(
                node,
                &[
                    "chown",
                    "chmod",
                    "link",
                    "keep-git-dir",
                    "checksum",
                    "exclude",
                    "unpack",
                ],
            )?;
        }
        "run" => {
            let fl = flags(node, &["mount", "network", "security", "device"])?;
            for (_, mount) in fl.iter().filter(|(n, _)| n == "mount") {
                if mount.is_empty() {
                    continue;
                }
                let Some(fields) = csv_record(mount) else {
                    continue;
                };
                for field in fields {
                    let (k, v) = field.split_once('=').unwrap_or((&field, ""));
                    if k.eq_ignore_ascii_case("from") && !v.is_empty() {
                        current.mounts.push(Pending {
                            from: v.to_string(),
                            line,
                        });
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The stages each stage needs (its base, `COPY --from`, `RUN --mount=from=`), and every image
/// they name in `out.all_externals`, checked as BuildKit checks them.
fn stage_dependencies(
    stages: &[StageRefs],
    by_name: &BTreeMap<String, usize>,
    lex: &Lex,
    out: &mut Dockerfile,
) -> Result<Vec<BTreeSet<usize>>, ParseError> {
    let mut deps: Vec<BTreeSet<usize>> = Vec::with_capacity(stages.len());
    for (i, st) in stages.iter().enumerate() {
        let mut stage_deps = st.deps.clone();
        if st.from.image != "scratch" && out.stage_info[i].base_stage.is_none() {
            reference::check(&st.from.image).or_else(|e| {
                error(
                    st.from.line,
                    format!("failed to parse stage name {:?}: {e}", st.from.image),
                )
            })?;
            out.all_externals.push(st.from.clone());
        }
        for c in &st.copies {
            match copy_source(c, i, stages.len(), by_name, lex)? {
                Some(j) => {
                    stage_deps.insert(j);
                }
                None => out.all_externals.push(ExternalRef {
                    line: c.line,
                    written: c.from.clone(),
                    image: c.from.clone(),
                    platform: None,
                    instruction: "COPY --from",
                    stage: i,
                }),
            }
        }
        for m in &st.mounts {
            if let Some(&j) = by_name.get(&m.from.to_lowercase()) {
                stage_deps.insert(j);
                continue;
            }
            out.all_externals.push(ExternalRef {
                line: m.line,
                written: m.from.clone(),
                image: m.from.clone(),
                platform: None,
                instruction: "RUN --mount",
                stage: i,
            });
        }
        deps.push(stage_deps);
    }
    Ok(deps)
}

/// What a `COPY --from` of stage `stage` reads: an earlier stage by index or name (`Some`), or
/// an image (`None`, its reference checked). No variable may be in it, as in BuildKit.
fn copy_source(
    copy: &Pending,
    stage: usize,
    count: usize,
    by_name: &BTreeMap<String, usize>,
    lex: &Lex,
) -> Result<Option<usize>, ParseError> {
    let expanded = lex
        .process_word(&copy.from, &NoEnv)
        .or_else(|e| error(copy.line, e.0))?;
    if expanded != copy.from {
        return error(copy.line, "variable expansion is not supported for --from");
    }
    let later = || {
        error(
            copy.line,
            format!(
                "cannot copy from stage {:?}, it needs to be defined before current stage",
                copy.from
            ),
        )
    };
    if let Some(idx) = atoi(&copy.from) {
        if idx < 0 || idx as usize >= count {
            return error(copy.line, format!("invalid stage index {idx}"));
        }
        if idx as usize >= stage {
            return later();
        }
        return Ok(Some(idx as usize));
    }
    if let Some(&j) = by_name.get(&copy.from.to_lowercase()) {
        if j >= stage {
            return later();
        }
        return Ok(Some(j));
    }
    reference::check(&copy.from).or_else(|e| {
        error(
            copy.line,
            format!("failed to parse stage name {:?}: {e}", copy.from),
        )
    })?;
    Ok(None)
}

/// Which stages a build of `start` needs: `start` and, transitively, what it depends on.
fn reachable_from(start: usize, deps: &[BTreeSet<usize>]) -> Vec<bool> {
    let count = deps.len();
    let mut seen = vec![false; count];
    let mut todo = vec![start];
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        todo.extend(deps[i].iter().copied().filter(|d| *d < count));
    }
    seen
}

/// The instructions of a Dockerfile as BuildKit's parser splits them, its escape character,
/// and, when BuildKit refuses the file's syntax, why (then the instructions before the error).
pub fn nodes(source: &[u8]) -> (Vec<Node>, char, Option<ParseError>) {
    match parser::parse(source) {
        Ok(p) => (p.nodes, p.escape, None),
        Err(e) => (
            e.partial,
            e.escape,
            Some(ParseError {
                line: e.line,
                message: e.message,
            }),
        ),
    }
}

/// Expands `$VAR`, `${VAR}` and every `${VAR…}` form of BuildKit's lexer from `vars`; an unset
/// variable is empty, as in a build.
pub fn expand(
    word: &str,
    vars: &BTreeMap<String, String>,
    line: usize,
) -> Result<String, ParseError> {
    Lex::new('\\')
        .process_word(word, vars)
        .or_else(|e| error(line, e.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn pulls(src: &str) -> Vec<(usize, String, &'static str)> {
        pulls_with(src, &[], None)
    }

    fn pulls_with(
        src: &str,
        build_args: &[(&str, &str)],
        target: Option<&str>,
    ) -> Vec<(usize, String, &'static str)> {
        parse_target(src.as_bytes(), &args(build_args), "linux/amd64", target)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .externals
            .into_iter()
            .map(|e| (e.line, e.image.clone(), e.via()))
            .collect()
    }

    fn refused(src: &str) -> ParseError {
        parse(src.as_bytes(), &args(&[]), "linux/amd64").unwrap_err()
    }

    fn from(line: usize, image: &str) -> (usize, String, &'static str) {
        (line, image.to_string(), "from")
    }

    #[test]
    fn seed_base_and_release_dockerfiles() {
        let base = "FROM ubuntu:22.04\n\nENV DEBIAN_FRONTEND=noninteractive\nRUN apt-get update && apt-get install -y \\\n    python3 \\\n    && rm -rf /var/lib/apt/lists/*\nWORKDIR /workspace\n";
        assert_eq!(pulls(base), [from(1, "ubuntu:22.04")]);
        let release = "FROM curvenet:base\nCOPY curvenet /workspace/curvenet\nCMD [\"python3\", \"train.py\"]\n";
        assert_eq!(pulls(release), [from(1, "curvenet:base")]);
    }

    #[test]
    fn every_expansion_form_in_from() {
        let src = "ARG A=1\nARG B=12.1\nARG E=\nARG V=nvidia/cuda:12.1-devel\n\
            FROM ${A:+nvidia/cuda:${B}-devel}\nFROM ${E:-ubuntu}:${U-22.04}\nFROM ${V%-devel}\n\
            FROM ${V/12.1/11.8}\nFROM ${V//1/2}\nFROM ${V#nvidia/}\nFROM ${V##*/}\nFROM ${V%%:*}\n\
            FROM ${A:?required}-x\nFROM ubuntu${E+:20.04}\nFROM \"debian\":'bookworm'\nFROM deb\\ian\n";
        let df = parse(src.as_bytes(), &args(&[]), "linux/amd64").unwrap();
        let images: Vec<&str> = df.all_externals.iter().map(|e| e.image.as_str()).collect();
        assert_eq!(
            images,
            [
                "nvidia/cuda:12.1-devel",
                "ubuntu:22.04",
                "nvidia/cuda:12.1",
                "nvidia/cuda:11.8-devel",
                "nvidia/cuda:22.2-devel",
                "cuda:12.1-devel",
                "cuda:12.1-devel",
                "nvidia/cuda",
                "1-x",
                "ubuntu:20.04",
                "debian:bookworm",
                "debian",
            ]
        );
        assert!(refused("ARG A\nFROM ${A:?required}\n")
            .message
            .contains("A: required"));
    }

    #[test]
    fn global_args_in_order_build_args_and_platform_args() {
        let src = "ARG REGISTRY=docker.io\nARG TAG\nARG IMAGE=${REGISTRY}/library/python\nARG TAG=3.11\nARG TAG\n\
            FROM --platform=$BUILDPLATFORM ${IMAGE}:${TAG} AS build\nARG TAG=ignored-inside-stage\n\
            FROM $IMAGE:$TAG-$TARGETARCH\nCOPY --from=build /a /a\n";
        let df = parse(src.as_bytes(), &args(&[]), "linux/arm64/v8").unwrap();
        let images: Vec<&str> = df.externals.iter().map(|e| e.image.as_str()).collect();
        assert_eq!(
            images,
            [
                "docker.io/library/python:3.11",
                "docker.io/library/python:3.11-arm64"
            ]
        );
        assert_eq!(df.externals[0].platform.as_deref(), Some("linux/arm64/v8"));
        assert_eq!(df.externals[0].written, "${IMAGE}:${TAG}");
        let images: Vec<String> = pulls_with(
            src,
            &[("TAG", "3.12"), ("REGISTRY", "127.0.0.1:5000")],
            None,
        )
        .into_iter()
        .map(|p| p.1)
        .collect();
        assert_eq!(
            images,
            [
                "127.0.0.1:5000/library/python:3.12",
                "127.0.0.1:5000/library/python:3.12-amd64"
            ]
        );
        // A build arg counts only for a declared ARG.
        assert_eq!(
            pulls_with("FROM ${X:-a}\n", &[("X", "b")], None),
            [from(1, "a")]
        );
    }

    #[test]
    fn an_invalid_or_empty_reference_is_an_error_naming_the_line() {
        let err = refused("ARG BASE\nFROM ${BASE}\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("--build-arg"), "{err}");
        let err = refused("ARG TAG\nFROM scratch\nFROM python:$TAG\n");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("invalid reference format"), "{err}");
        assert!(refused("FROM Ubuntu\n").message.contains("lowercase"));
        assert!(refused("FROM a AS 1x\n").message.contains("invalid name"));
        assert!(refused("FROM a b c d\n").message.contains("one or three"));
        assert!(refused("FROM\n").message.contains("one or three"));
        assert!(refused("RUN true\n").message.contains("no build stage"));
        assert!(refused("FROM ${X\n")
            .message
            .contains("unsupported modifier"));
        assert!(refused("FROM ${X:-a\n").message.contains("missing '}'"));
        assert!(refused("FROM a\nFOO bar\n")
            .message
            .contains("unknown instruction"));
        assert!(refused("FROM --pull a\n").message.contains("unknown flag"));
        assert!(refused("").message.contains("no instructions"));
    }

    #[test]
    fn heredocs_are_bodies_not_instructions() {
        let src = "FROM a\nRUN <<EOF\nFROM not-an-image\nEOF\nRUN <<-EOT bash\n\tFROM x\n\tEOT\n\
            COPY <<\"ONE\" << TWO /dst/\nFROM y\nONE\nFROM z\nTWO\nRUN cat <<'A' <<B\nA\nB\nFROM b\n";
        assert_eq!(pulls(src), [from(16, "b")]);
        // A quoted `<<` is no heredoc: the FROM after it is an instruction.
        let src = "FROM a\nRUN sed -i 's/<<old>>/new/' f && echo \"<<EOF\"\nFROM ubuntu:22.04\n";
        assert_eq!(pulls(src), [from(3, "ubuntu:22.04")]);
    }

    #[test]
    fn lines_bom_escape_backslashes_and_comments() {
        let src = "\u{feff}# syntax=docker/dockerfile:1.7\n# escape=`\nFROM alpine:3.19 `\n  # a comment inside the continuation\n\n  AS a\nRUN dir c:\\\nFROM a\n# FROM commented:out\nfrom debian:bookworm\n";
        let df = parse(src.as_bytes(), &args(&[]), "linux/amd64").unwrap();
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1.7"));
        let images: Vec<&str> = df.all_externals.iter().map(|e| e.image.as_str()).collect();
        assert_eq!(images, ["alpine:3.19", "debian:bookworm"]);
        assert_eq!(df.all_externals[1].line, 10);
        // An escaped backslash at the end of a line is no continuation.
        let src = "FROM a\nRUN echo \\\\\nFROM b\n";
        assert_eq!(pulls(src), [from(3, "b")]);
    }

    #[test]
    fn copy_from_and_run_mount_images_are_pulled() {
        let src = "FROM python:3.11-slim AS Builder\nRUN pip wheel .\nFROM builder AS again\n\
            FROM gcr.io/distroless/python3@sha256:0000000000000000000000000000000000000000000000000000000000000000\n\
            COPY --from=BUILDER /w /w\nCOPY --from=0 /x /x\nCOPY --from=busybox:1.36 /bin/busybox /bin/\n\
            RUN --mount=type=bind,from=ghcr.io/astral-sh/uv:0.4,source=/uv,target=/uv --mount=from=again,target=/a true\n";
        assert_eq!(
            pulls(src),
            [
                from(1, "python:3.11-slim"),
                from(4, "gcr.io/distroless/python3@sha256:0000000000000000000000000000000000000000000000000000000000000000"),
                (7, "busybox:1.36".into(), "copy-from"),
                (8, "ghcr.io/astral-sh/uv:0.4".into(), "run-mount"),
            ]
        );
        assert!(refused("ARG X=a\nFROM b\nCOPY --from=$X / /\n")
            .message
            .contains("variable expansion is not supported"));
        let err = refused("FROM b AS one\nCOPY --from=two / /\nFROM c AS two\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("defined before"), "{err}");
        assert!(refused("FROM b\nCOPY --from=0 / /\n")
            .message
            .contains("defined before"));
        assert!(refused("FROM b\nCOPY --from=3 / /\n")
            .message
            .contains("invalid stage index"));
        assert!(refused("FROM b\nCOPY --from=Bad / /\n")
            .message
            .contains("lowercase"));
    }

    #[test]
    fn only_the_stages_the_target_needs() {
        let src = "FROM internal.example/devtools:1 AS dev\nFROM golang:1.22 AS build\n\
            FROM alpine:3.19 AS test\nCOPY --from=dev / /\nFROM debian:12\nCOPY --from=build /app /app\n";
        assert_eq!(pulls(src), [from(2, "golang:1.22"), from(5, "debian:12")]);
        assert_eq!(
            pulls_with(src, &[], Some("TEST")),
            [
                from(1, "internal.example/devtools:1"),
                from(3, "alpine:3.19")
            ]
        );
        let df = parse(src.as_bytes(), &args(&[]), "linux/amd64").unwrap();
        assert_eq!(df.reachable, [1, 3]);
        assert_eq!(df.all_externals.len(), 4);
        assert!(
            parse_target(src.as_bytes(), &args(&[]), "linux/amd64", Some("nope"))
                .unwrap_err()
                .message
                .contains("could not be found")
        );
        // A stage's base is a stage only when named before it.
        assert_eq!(pulls("FROM a AS a\nFROM a\n"), [from(1, "a")]);
        assert_eq!(pulls("FROM b AS b\nFROM c AS b2\nFROM scratch\n"), []);
    }

    #[test]
    fn mount_values_are_read_as_csv() {
        assert_eq!(
            csv_record("type=bind,\"from=a,b\",target=/x"),
            Some(vec![
                "type=bind".into(),
                "from=a,b".into(),
                "target=/x".into()
            ])
        );
        assert_eq!(csv_record("from=a\"b"), None);
        assert_eq!(atoi("+1"), Some(1));
        assert_eq!(atoi("1a"), None);
    }
}
