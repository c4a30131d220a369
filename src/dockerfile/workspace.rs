//! Where a release Dockerfile puts the code: the context paths its `COPY` and `ADD` copy into
//! the image and the `WORKDIR` it runs in, read from the stage it builds. `dev` bind-mounts the
//! same paths at the same places, so the code runs in development where the release runs it.

use super::parser;

/// One context source copied into the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeCopy {
    /// Relative to the build context, without `./`; `.` for the whole context.
    pub source: String,
    /// The absolute path it is copied to, normalised.
    pub dest: String,
    /// Whether `dest` is a directory the source goes into (it ended with `/`, or several
    /// sources share it): a file source then lands at `dest/<its name>`. A directory source's
    /// contents are copied to `dest` either way, as `COPY` does.
    pub into_dir: bool,
}

impl CodeCopy {
    /// Where the source is in the container, given whether it is a directory.
    pub fn target(&self, source_is_dir: bool) -> String {
        if source_is_dir || !self.into_dir {
            return self.dest.clone();
        }
        let name = self.source.rsplit('/').next().unwrap_or(&self.source);
        join(&self.dest, name)
    }
}

/// What the built stage copies from the context, in order, and its working directory (none
/// when the stage sets none: the base's own is kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workspace {
    pub copies: Vec<CodeCopy>,
    pub workdir: Option<String>,
}

/// Reads the stage `target` builds (the last one when `None`). A path that depends on a
/// variable or a pattern cannot be mounted as written: `Err` names the line and the fix.
pub fn workspace(dockerfile: &[u8], target: Option<&str>) -> Result<Workspace, String> {
    let parsed =
        parser::parse(dockerfile).map_err(|e| format!("line {}: {}", e.line, e.message))?;
    let mut stages: Vec<(Option<String>, Workspace)> = Vec::new();
    for node in &parsed.nodes {
        let instruction = node.value.to_ascii_lowercase();
        if instruction == "from" {
            let name = match node.args.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_lowercase()),
                _ => None,
            };
            stages.push((name, Workspace::default()));
            continue;
        }
        let Some((_, stage)) = stages.last_mut() else {
            continue;
        };
        let line = node.start_line;
        match instruction.as_str() {
            "workdir" => {
                let dir = node.args.first().map(String::as_str).unwrap_or("");
                plain(line, "WORKDIR", dir)?;
                let base = stage.workdir.as_deref().unwrap_or("/");
                stage.workdir = Some(join(base, dir));
            }
            "copy" | "add" => {
                if node.flags.iter().any(|f| f.starts_with("--from=")) {
                    continue;
                }
                if node.flags.iter().any(|f| f.starts_with("--parents")) {
                    return Err(format!(
                        "line {line}: COPY --parents keeps source paths that dev does not mount; copy each directory to its own place"
                    ));
                }
                let heredocs: Vec<&str> = node.heredocs.iter().map(|h| h.name.as_str()).collect();
                let Some((dest, sources)) = node.args.split_last() else {
                    continue;
                };
                let sources: Vec<&String> = sources
                    .iter()
                    .filter(|s| !s.starts_with("<<") && !heredocs.iter().any(|h| s.ends_with(h)))
                    .filter(|s| !(instruction == "add" && is_remote(s)))
                    .collect();
                if sources.is_empty() {
                    continue;
                }
                plain(line, &node.value.to_uppercase(), dest)?;
                let workdir = stage.workdir.as_deref().unwrap_or("/");
                let into_dir = dest.ends_with('/') || sources.len() > 1;
                let dest = join(workdir, dest);
                for source in sources {
                    plain(line, &node.value.to_uppercase(), source)?;
                    if source.contains(['*', '?', '[']) {
                        return Err(format!(
                            "line {line}: the source {source:?} is a pattern, which dev cannot bind-mount; copy a directory instead"
                        ));
                    }
                    let clean = source.trim_start_matches('/');
                    let clean: Vec<&str> = clean
                        .split('/')
                        .filter(|c| !c.is_empty() && *c != ".")
                        .collect();
                    if clean.contains(&"..") {
                        return Err(format!(
                            "line {line}: the source {source:?} leaves the build context"
                        ));
                    }
                    stage.copies.push(CodeCopy {
                        source: if clean.is_empty() {
                            ".".into()
                        } else {
                            clean.join("/")
                        },
                        dest: dest.clone(),
                        into_dir,
                    });
                }
            }
            _ => {}
        }
    }
    let found = match target {
        Some(t) => stages
            .into_iter()
            .find(|(name, _)| name.as_deref() == Some(&t.to_lowercase())),
        None => stages.pop(),
    };
    match found {
        Some((_, workspace)) => Ok(workspace),
        None => Err(match target {
            Some(t) => format!("no stage named {t:?}"),
            None => "no FROM instruction".into(),
        }),
    }
}

/// A path as written, refused when it holds a variable: dev would mount what the build's
/// expansion might not give.
fn plain(line: usize, instruction: &str, path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err(format!("line {line}: {instruction} without a path"));
    }
    if path.contains('$') {
        return Err(format!(
            "line {line}: {instruction} {path:?} uses a variable, so dev cannot tell where the code goes; write the path out"
        ));
    }
    Ok(())
}

fn is_remote(source: &str) -> bool {
    ["http://", "https://", "git@", "git://"]
        .iter()
        .any(|p| source.starts_with(p))
}

/// `path` taken from `base` (an absolute, normalised directory) as a shell would, `.` and `..`
/// resolved without leaving `/`.
fn join(base: &str, path: &str) -> String {
    let mut parts: Vec<&str> = if path.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|c| !c.is_empty()).collect()
    };
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(source: &str, dest: &str, into_dir: bool) -> CodeCopy {
        CodeCopy {
            source: source.into(),
            dest: dest.into(),
            into_dir,
        }
    }

    #[test]
    fn the_seed_release_copies_its_code_where_it_runs() {
        let seed = b"FROM curvenet:base\n\nCOPY curvenet /workspace/curvenet\nWORKDIR /workspace/curvenet\nCMD [\"python3\", \"train.py\"]\n";
        assert_eq!(
            workspace(seed, None).unwrap(),
            Workspace {
                copies: vec![copy("curvenet", "/workspace/curvenet", false)],
                workdir: Some("/workspace/curvenet".into()),
            }
        );
    }

    #[test]
    fn relative_paths_follow_workdir_and_only_the_built_stage_counts() {
        let text = b"FROM busybox AS tools\nCOPY tools /tools\n\
FROM lab:base\nWORKDIR /app\nWORKDIR src/..\nCOPY --chown=1000 ./ .\nCOPY a.py b.py lib/\n\
COPY --from=tools /tools /tools\nADD https://example.com/x.tgz /x.tgz\nCOPY <<EOF /etc/x\nx\nEOF\n";
        let w = workspace(text, None).unwrap();
        assert_eq!(w.workdir.as_deref(), Some("/app"));
        assert_eq!(
            w.copies,
            [
                copy(".", "/app", false),
                copy("a.py", "/app/lib", true),
                copy("b.py", "/app/lib", true),
            ]
        );
        assert_eq!(w.copies[1].target(false), "/app/lib/a.py");
        assert_eq!(copy("conf", "/etc/app/", true).target(true), "/etc/app/");
        let tools = workspace(text, Some("TOOLS")).unwrap();
        assert_eq!(tools.copies, [copy("tools", "/tools", false)]);
        assert_eq!(tools.workdir, None);
        assert!(workspace(text, Some("nope")).is_err());
    }

    #[test]
    fn what_cannot_be_mounted_as_written_is_refused_naming_the_line() {
        for (text, says) in [
            (
                "FROM x\nCOPY $CODE /app\n",
                "line 2: COPY \"$CODE\" uses a variable",
            ),
            ("FROM x\nWORKDIR ${HOME}\n", "line 2: WORKDIR"),
            ("FROM x\nCOPY src/*.py /app/\n", "is a pattern"),
            ("FROM x\nCOPY ../secrets /app\n", "leaves the build context"),
            ("FROM x\nCOPY --parents a/b /app\n", "--parents"),
        ] {
            let e = workspace(text.as_bytes(), None).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
