//! The files of the build context a Dockerfile's own instructions read: what decides whether
//! an environment's inputs changed between two commits.

use super::parser;

/// What a Dockerfile reads from its build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextSources {
    /// These paths (relative to the context, maybe with `*`, `?` or `[...]` patterns).
    Paths(Vec<String>),
    /// Anything in it: a source named through a variable, the whole context (`COPY . /app`),
    /// or a bind mount of the context in a `RUN`.
    Whole,
}

/// The context sources of every `COPY` and `ADD` (less `--from` copies, heredocs and URLs)
/// and of `RUN --mount=type=bind` without `from=`. Conservative: whatever cannot be told
/// exactly is the whole context.
pub fn context_sources(dockerfile: &[u8]) -> Result<ContextSources, String> {
    let parsed =
        parser::parse(dockerfile).map_err(|e| format!("line {}: {}", e.line, e.message))?;
    let mut paths = Vec::new();
    for node in &parsed.nodes {
        let instruction = node.value.to_ascii_lowercase();
        match instruction.as_str() {
            "copy" | "add" => {
                if node.flags.iter().any(|f| f.starts_with("--from=")) {
                    continue;
                }
                let heredoc_names: Vec<String> =
                    node.heredocs.iter().map(|h| h.name.clone()).collect();
                let words = &node.args;
                let Some((_, sources)) = words.split_last() else {
                    continue;
                };
                for source in sources {
                    if source.starts_with("<<")
                        || heredoc_names.iter().any(|h| source.ends_with(h.as_str()))
                    {
                        continue;
                    }
                    if instruction == "add" && is_remote(source) {
                        continue;
                    }
                    if source.contains('$') {
                        return Ok(ContextSources::Whole);
                    }
                    let clean = source.trim_start_matches("./").trim_start_matches('/');
                    let clean = clean.trim_end_matches('/');
                    if clean.is_empty() || clean == "." || clean.split('/').any(|c| c == "..") {
                        return Ok(ContextSources::Whole);
                    }
                    paths.push(clean.to_string());
                }
            }
            "run" => {
                let binds_context = node.flags.iter().any(|f| {
                    f.strip_prefix("--mount=").is_some_and(|m| {
                        let fields: Vec<&str> = m.split(',').collect();
                        fields.contains(&"type=bind")
                            && !fields.iter().any(|x| x.starts_with("from="))
                    })
                });
                if binds_context {
                    return Ok(ContextSources::Whole);
                }
            }
            _ => {}
        }
    }
    paths.sort();
    paths.dedup();
    Ok(ContextSources::Paths(paths))
}

fn is_remote(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://") || source.starts_with("git@")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(text: &str) -> ContextSources {
        context_sources(text.as_bytes()).unwrap()
    }

    #[test]
    fn copies_and_adds_of_the_context_are_its_sources() {
        let base = "FROM python:3.11\nARG SOURCE_DATE_EPOCH\nCOPY requirements.txt constraints*.txt /tmp/\n\
                    COPY --from=busybox:1 /bin/busybox /bin/\nADD https://example.org/x.tar.gz /x\n\
                    ADD --chown=1:1 vendor/wheels/ /wheels\nCOPY <<EOF /etc/motd\nhello\nEOF\n\
                    RUN --mount=type=cache,target=/root/.cache pip install -r /tmp/requirements.txt\n";
        assert_eq!(
            sources(base),
            ContextSources::Paths(vec![
                "constraints*.txt".into(),
                "requirements.txt".into(),
                "vendor/wheels".into()
            ])
        );
        let json = "FROM x\nCOPY [\"a b.txt\", \"./c/\", \"/dst/\"]\n";
        assert_eq!(
            sources(json),
            ContextSources::Paths(vec!["a b.txt".into(), "c".into()])
        );
        assert_eq!(sources("FROM x\nRUN true\n"), ContextSources::Paths(vec![]));
    }

    #[test]
    fn what_cannot_be_told_exactly_is_the_whole_context() {
        for text in [
            "FROM x\nCOPY . /app\n",
            "FROM x\nARG REQ=requirements.txt\nCOPY $REQ /tmp/\n",
            "FROM x\nCOPY ../outside /x\n",
            "FROM x\nRUN --mount=type=bind,target=/src make -C /src\n",
        ] {
            assert_eq!(sources(text), ContextSources::Whole, "{text}");
        }
        // A bind mount of another image reads nothing of the context.
        assert_eq!(
            sources("FROM x\nRUN --mount=type=bind,from=busybox:1,target=/bb true\n"),
            ContextSources::Paths(vec![])
        );
    }
}
