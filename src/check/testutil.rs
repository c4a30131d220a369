//! What the lint's tests share, in one place: a Dockerfile linted with an empty context
//! directory, read as the lines and rules of its findings.

use super::lint;

/// A pinned base with `ARG SOURCE_DATE_EPOCH`: a first two lines that raise nothing.
pub(in crate::check) const BASE: &str = "FROM python:3.12@sha256:1111111111111111111111111111111111111111111111111111111111111111\nARG SOURCE_DATE_EPOCH\n";

/// Each finding as its line and rule, in the report's order.
pub(in crate::check) fn rules(dockerfile: &str) -> Vec<(usize, &'static str)> {
    let dir = tempfile::tempdir().unwrap();
    lint(dockerfile.as_bytes(), dir.path(), false)
        .into_iter()
        .map(|f| (f.line, f.rule))
        .collect()
}

/// Whether `rule` fires on `line`.
pub(in crate::check) fn has(dockerfile: &str, line: usize, rule: &str) -> bool {
    rules(dockerfile).contains(&(line, rule_name(rule)))
}

fn rule_name(rule: &str) -> &'static str {
    Box::leak(rule.to_string().into_boxed_str())
}

/// The lines `rule` fires on.
pub(in crate::check) fn only(dockerfile: &str, rule: &str) -> Vec<usize> {
    rules(dockerfile)
        .into_iter()
        .filter(|(_, r)| *r == rule)
        .map(|(l, _)| l)
        .collect()
}
