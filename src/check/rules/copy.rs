//! COPY and ADD: `add-url-no-checksum`, `copy-all-without-dockerignore`, and the images
//! `COPY --from=` pulls.

use std::collections::BTreeMap;
use std::path::Path;

use super::git::git_ref_pinned;
use super::Described;
use crate::check::rules::from::lint_image;
use crate::check::{is_stage_ref, node_flags, Acc, StageState};
use crate::dockerfile::lex::Lex;
use crate::dockerfile::Node;

pub(in crate::check) fn lint_copy(
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

/// The message and the fix of a finding of this family, for exactly the items it is about;
/// `None` for another family's rule.
pub(super) fn describe(rule: &str, items: &[String]) -> Option<Described> {
    use crate::check::Severity::{Error, Warning};
    let first = items.first().cloned().unwrap_or_default();
    Some(match rule {
        "add-url-no-checksum" => (
            Error,
            format!("`ADD {first}` downloads whatever the URL serves today"),
            format!("add --checksum=sha256:<hex>: ADD --checksum=sha256:... {first} DEST"),
        ),
        "copy-all-without-dockerignore" => (
            Warning,
            format!("`{first} .` copies the whole context and there is no .dockerignore"),
            "add a .dockerignore (at least .git, __pycache__, *.pyc, data and outputs), or copy named directories".into(),
        ),
        _ => return None,
    })
}
