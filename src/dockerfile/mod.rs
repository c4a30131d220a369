//! A pure parser for the parts of a Dockerfile that decide which images a build pulls:
//! `FROM` (multi-stage, aliases, `scratch`, `--platform`), `ARG` before the first `FROM` with
//! defaults and `--build-arg` overrides, `${VAR}`/`$VAR` forms, `COPY --from=IMAGE`, and the
//! `# syntax=` and `# escape=` directives. Everything else is skipped, heredoc bodies included.

use std::collections::BTreeMap;

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
    /// `FROM` or `COPY --from`.
    pub instruction: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// The `# syntax=` frontend image, when there is one.
    pub syntax: Option<String>,
    /// Stage names in order (`None` for an unnamed stage).
    pub stages: Vec<Option<String>>,
    pub externals: Vec<ExternalRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// ARGs BuildKit defines for every `FROM` without a declaration.
fn platform_args(platform: &str) -> BTreeMap<String, String> {
    let mut parts = platform.splitn(3, '/');
    let os = parts.next().unwrap_or("linux").to_string();
    let arch = parts.next().unwrap_or("amd64").to_string();
    let variant = parts.next().unwrap_or("").to_string();
    let mut args = BTreeMap::new();
    for prefix in ["TARGET", "BUILD"] {
        args.insert(format!("{prefix}PLATFORM"), platform.to_string());
        args.insert(format!("{prefix}OS"), os.clone());
        args.insert(format!("{prefix}ARCH"), arch.clone());
        args.insert(format!("{prefix}VARIANT"), variant.clone());
    }
    args
}

/// Parses `source` with the given `--build-arg` values, for a build on `platform` (`os/arch`).
pub fn parse(
    source: &[u8],
    build_args: &BTreeMap<String, String>,
    platform: &str,
) -> Result<Dockerfile, ParseError> {
    let text = String::from_utf8_lossy(source);
    let (directives, body_start) = directives(&text);
    let escape = directives
        .get("escape")
        .and_then(|e| e.chars().next())
        .unwrap_or('\\');
    let mut out = Dockerfile {
        syntax: directives.get("syntax").cloned(),
        ..Default::default()
    };
    let mut globals = platform_args(platform);
    let mut seen_from = false;

    for (line, instruction) in logical_lines(&text, body_start, escape) {
        let trimmed = instruction.trim_start();
        let (keyword, rest) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        let rest = rest.trim();
        match keyword.to_ascii_uppercase().as_str() {
            "ARG" if !seen_from => {
                for (name, default) in parse_arg(rest, line)? {
                    let value = match build_args.get(&name) {
                        Some(v) => Some(v.clone()),
                        None => default.map(|d| expand(&d, &globals, line)).transpose()?,
                    };
                    globals.insert(name, value.unwrap_or_default());
                }
            }
            "FROM" => {
                seen_from = true;
                let (flags, words) = split_flags(rest);
                let written = words
                    .first()
                    .ok_or_else(|| ParseError {
                        line,
                        message: "FROM without an image".into(),
                    })?
                    .to_string();
                let alias = match words.as_slice() {
                    [_] => None,
                    [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
                    _ => {
                        return Err(ParseError { line, message: format!("cannot read `FROM {rest}`: expected `FROM [--platform=P] IMAGE [AS NAME]`") })
                    }
                };
                let image = expand(&written, &globals, line)?;
                if image.is_empty() {
                    return Err(ParseError { line, message: format!("`FROM {written}` expands to an empty image name; set the ARG with --build-arg or give it a default") });
                }
                let platform = flag(&flags, "platform")
                    .map(|p| expand(p, &globals, line))
                    .transpose()?;
                let is_stage = out
                    .stages
                    .iter()
                    .flatten()
                    .any(|s| s.eq_ignore_ascii_case(&image));
                if !is_stage && !image.eq_ignore_ascii_case("scratch") {
                    out.externals.push(ExternalRef {
                        line,
                        written,
                        image,
                        platform,
                        instruction: "FROM",
                    });
                }
                out.stages.push(alias);
            }
            "COPY" | "ADD" => {
                let (flags, _) = split_flags(rest);
                if let Some(from) = flag(&flags, "from") {
                    let image = expand(from, &globals, line)?;
                    let is_stage = out
                        .stages
                        .iter()
                        .flatten()
                        .any(|s| s.eq_ignore_ascii_case(&image))
                        || image.parse::<usize>().is_ok();
                    if !is_stage {
                        out.externals.push(ExternalRef {
                            line,
                            written: from.to_string(),
                            image,
                            platform: None,
                            instruction: "COPY --from",
                        });
                    }
                }
            }
            _ => {}
        }
    }
    if out.stages.is_empty() {
        return Err(ParseError {
            line: 1,
            message: "no FROM instruction".into(),
        });
    }
    Ok(out)
}

/// One instruction, continuation lines joined and comments dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line where it starts.
    pub line: usize,
    /// Upper-cased: `FROM`, `RUN`, `COPY`...
    pub keyword: String,
    /// Everything after the keyword.
    pub rest: String,
}

/// Every instruction of a Dockerfile, in order (heredoc bodies are not instructions).
pub fn instructions(source: &[u8]) -> Vec<Instruction> {
    let text = String::from_utf8_lossy(source);
    let (directives, start) = directives(&text);
    let escape = directives
        .get("escape")
        .and_then(|e| e.chars().next())
        .unwrap_or('\\');
    logical_lines(&text, start, escape)
        .into_iter()
        .map(|(line, joined)| {
            let trimmed = joined.trim_start();
            let (keyword, rest) = trimmed
                .split_once(char::is_whitespace)
                .unwrap_or((trimmed, ""));
            Instruction {
                line,
                keyword: keyword.to_ascii_uppercase(),
                rest: rest.trim().to_string(),
            }
        })
        .collect()
}

/// `--name=value` flags at the start of an instruction's arguments, then the other words.
pub fn flags_and_words(rest: &str) -> (Vec<(String, String)>, Vec<String>) {
    split_flags(rest)
}

/// Parser directives (`# syntax=`, `# escape=`) at the very top; returns them and the byte
/// offset where they stop being recognised.
fn directives(text: &str) -> (BTreeMap<String, String>, usize) {
    let mut found = BTreeMap::new();
    let mut offset = 0;
    for raw in text.split_inclusive('\n') {
        let line = raw.trim();
        let Some(comment) = line.strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = comment.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        if !(key == "syntax" || key == "escape" || key == "check") || found.contains_key(&key) {
            break;
        }
        found.insert(key, value.trim().to_string());
        offset += raw.len();
    }
    (found, offset)
}

/// Joins continuation lines and drops comments and heredoc bodies; yields (first line, text).
fn logical_lines(text: &str, start: usize, escape: char) -> Vec<(usize, String)> {
    let first_line = text[..start].matches('\n').count() + 1;
    let mut lines = text[start..]
        .lines()
        .enumerate()
        .map(|(i, l)| (first_line + i, l))
        .peekable();
    let mut out = Vec::new();
    while let Some((number, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut joined = String::new();
        let mut current = line.trim_end().to_string();
        loop {
            match current.strip_suffix(escape) {
                Some(head) => {
                    joined.push_str(head);
                    joined.push(' ');
                    // Comment and blank lines inside a continuation are skipped, as BuildKit does.
                    let next = loop {
                        match lines.next() {
                            Some((_, l))
                                if l.trim().is_empty() || l.trim_start().starts_with('#') =>
                            {
                                continue
                            }
                            other => break other,
                        }
                    };
                    match next {
                        Some((_, l)) => current = l.trim_end().to_string(),
                        None => break,
                    }
                }
                None => {
                    joined.push_str(&current);
                    break;
                }
            }
        }
        for terminator in heredoc_terminators(&joined) {
            for (_, body) in lines.by_ref() {
                if body.trim_start_matches('\t') == terminator || body.trim() == terminator {
                    break;
                }
            }
        }
        out.push((number, joined));
    }
    out
}

/// `<<EOF`, `<<-EOF`, `<<"EOF"` and `<<'EOF'` markers on RUN/COPY lines.
fn heredoc_terminators(instruction: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = instruction;
    while let Some(pos) = rest.find("<<") {
        rest = &rest[pos + 2..];
        let word: String = rest
            .trim_start_matches('-')
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !word.is_empty()
            && word
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        {
            found.push(word);
        }
    }
    found
}

/// `ARG A=1 B C="x y"` into names and optional defaults.
fn parse_arg(rest: &str, line: usize) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let mut out = Vec::new();
    for word in shell_words(rest) {
        let (name, default) = match word.split_once('=') {
            Some((n, d)) => (n.to_string(), Some(d.to_string())),
            None => (word.clone(), None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ParseError {
                line,
                message: format!("`ARG {rest}`: `{name}` is not a valid ARG name"),
            });
        }
        out.push((name, default));
    }
    Ok(out)
}

/// Splits on whitespace, honouring double and single quotes (which are removed).
fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

/// Leading `--name=value` flags, then the remaining words.
fn split_flags(rest: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut flags = Vec::new();
    let mut words = shell_words(rest).into_iter().peekable();
    while let Some(word) = words.next_if(|w| w.starts_with("--")) {
        let (name, value) = word[2..].split_once('=').unwrap_or((&word[2..], ""));
        flags.push((name.to_ascii_lowercase(), value.to_string()));
    }
    (flags, words.collect())
}

fn flag<'a>(flags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    flags
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Expands `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alternative}` from `vars`.
pub fn expand(
    word: &str,
    vars: &BTreeMap<String, String>,
    line: usize,
) -> Result<String, ParseError> {
    let mut out = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'$') => {
                out.push('$');
                chars.next();
            }
            '$' if chars.peek() == Some(&'{') => {
                chars.next();
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => inner.push(ch),
                        None => {
                            return Err(ParseError {
                                line,
                                message: format!("unterminated `${{` in `{word}`"),
                            })
                        }
                    }
                }
                let value = |name: &str| vars.get(name).cloned().unwrap_or_default();
                if let Some((name, default)) = inner.split_once(":-") {
                    let v = value(name);
                    out.push_str(&if v.is_empty() {
                        expand(default, vars, line)?
                    } else {
                        v
                    });
                } else if let Some((name, alternative)) = inner.split_once(":+") {
                    if !value(name).is_empty() {
                        out.push_str(&expand(alternative, vars, line)?);
                    }
                } else {
                    out.push_str(&value(&inner));
                }
            }
            '$' if chars
                .peek()
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') =>
            {
                let mut name = String::new();
                while let Some(&ch) = chars.peek() {
                    if !(ch.is_ascii_alphanumeric() || ch == '_') {
                        break;
                    }
                    name.push(ch);
                    chars.next();
                }
                out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
            }
            other => out.push(other),
        }
    }
    Ok(out)
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

    fn images(df: &Dockerfile) -> Vec<&str> {
        df.externals.iter().map(|r| r.image.as_str()).collect()
    }

    #[test]
    fn seed_base_and_release_dockerfiles() {
        let base = "FROM ubuntu:22.04\n\nENV DEBIAN_FRONTEND=noninteractive\nRUN apt-get update && apt-get install -y \\\n    python3 \\\n    && rm -rf /var/lib/apt/lists/*\nWORKDIR /workspace\n";
        let df = parse(base.as_bytes(), &args(&[]), "linux/amd64").unwrap();
        assert_eq!(images(&df), ["ubuntu:22.04"]);
        let release = "FROM curvenet:base\nCOPY curvenet /workspace/curvenet\nCMD [\"python3\", \"train.py\"]\n";
        let df = parse(release.as_bytes(), &args(&[]), "linux/amd64").unwrap();
        assert_eq!(df.externals[0].image, "curvenet:base");
        assert_eq!(df.externals[0].line, 1);
    }

    #[test]
    fn multi_stage_with_aliases_scratch_and_copy_from() {
        let src = "FROM python:3.11-slim AS Builder\nRUN pip wheel .\nFROM scratch AS empty\nFROM builder AS again\nFROM gcr.io/distroless/python3@sha256:aa\nCOPY --from=builder /w /w\nCOPY --from=0 /x /x\nCOPY --from=busybox:1.36 /bin/busybox /bin/\n";
        let df = parse(src.as_bytes(), &args(&[]), "linux/amd64").unwrap();
        assert_eq!(
            images(&df),
            [
                "python:3.11-slim",
                "gcr.io/distroless/python3@sha256:aa",
                "busybox:1.36"
            ]
        );
        assert_eq!(
            df.stages,
            [
                Some("builder".into()),
                Some("empty".into()),
                Some("again".into()),
                None
            ]
        );
        assert_eq!(df.externals[2].instruction, "COPY --from");
    }

    #[test]
    fn global_args_defaults_overrides_and_both_forms() {
        let src = "ARG REGISTRY=docker.io\nARG TAG\nARG IMAGE=${REGISTRY}/library/python\nFROM --platform=$BUILDPLATFORM ${IMAGE}:${TAG:-3.11} AS build\nARG TAG=ignored-inside-stage\nFROM $IMAGE:$TAG\n";
        let df = parse(src.as_bytes(), &args(&[]), "linux/arm64/v8").unwrap();
        assert_eq!(
            images(&df),
            ["docker.io/library/python:3.11", "docker.io/library/python:"]
        );
        assert_eq!(df.externals[0].platform.as_deref(), Some("linux/arm64/v8"));
        assert_eq!(df.externals[0].written, "${IMAGE}:${TAG:-3.11}");
        let df = parse(
            src.as_bytes(),
            &args(&[("TAG", "3.12"), ("REGISTRY", "127.0.0.1:5000")]),
            "linux/amd64",
        )
        .unwrap();
        assert_eq!(
            images(&df),
            [
                "127.0.0.1:5000/library/python:3.12",
                "127.0.0.1:5000/library/python:3.12"
            ]
        );
    }

    #[test]
    fn empty_expansion_is_an_error_with_the_fix() {
        let err = parse(b"ARG BASE\nFROM ${BASE}\n", &args(&[]), "linux/amd64").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("--build-arg"), "{err}");
    }

    #[test]
    fn directives_escape_comments_and_heredocs() {
        let src = "# syntax=docker/dockerfile:1.7\n# escape=`\nFROM alpine:3.19 `\n  # a comment inside the continuation\n  \n  AS a\nRUN <<EOF\nFROM not-an-image\nEOF\nFROM a\n# FROM commented:out\nfrom debian:bookworm\n";
        let df = parse(src.as_bytes(), &args(&[]), "linux/amd64").unwrap();
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1.7"));
        assert_eq!(images(&df), ["alpine:3.19", "debian:bookworm"]);
        assert_eq!(df.externals[1].line, 12);
    }

    #[test]
    fn malformed_from_lines() {
        assert!(parse(b"FROM\n", &args(&[]), "linux/amd64")
            .unwrap_err()
            .message
            .contains("without an image"));
        assert!(parse(b"FROM a b c d\n", &args(&[]), "linux/amd64").is_err());
        assert!(parse(b"RUN true\n", &args(&[]), "linux/amd64")
            .unwrap_err()
            .message
            .contains("no FROM"));
        assert!(parse(b"FROM ${X\n", &args(&[]), "linux/amd64")
            .unwrap_err()
            .message
            .contains("unterminated"));
    }

    #[test]
    fn expansion_forms() {
        let vars = args(&[("A", "x"), ("E", "")]);
        assert_eq!(
            expand("$A-${A}-${E:-d}-${A:+alt}-${E:+no}-\\$A-$", &vars, 1).unwrap(),
            "x-x-d-alt--$A-$"
        );
    }
}
