//! Linting Dockerfiles as `check` does, for `check` and for `release`, which lints before it
//! builds: one Dockerfile read within its size limit and linted with its `# repro:ignore=`
//! comments, and the rules a project silences set apart.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::check::{check_file, Finding, Options, Pull};
use crate::error::{Error, Result};
use crate::limits;

/// What `check` says about one Dockerfile.
#[derive(Serialize)]
pub struct FileReport {
    pub file: String,
    pub bases: Vec<Pull>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub findings: Vec<Finding>,
    /// Findings of rules silenced by --ignore: listed apart, never failing the check.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<Finding>,
    /// The (line, rule) pairs the file's own `# repro:ignore=` comments silence.
    #[serde(skip)]
    pub silenced_in_source: Vec<(usize, &'static str)>,
}

/// Checks one Dockerfile, with `context` as its build context (by default the project root for
/// the seed layout's `docker/Dockerfile.*`, else the file's directory).
pub fn check_one(file: &Path, context: Option<&Path>, opts: &Options) -> Result<FileReport> {
    let source = limits::read(file, limits::DOCKERFILE).map_err(|e| match e {
        limits::ReadError::NotFound { .. } => Error::Usage(format!(
            "{}: no such Dockerfile; name one: docker repro check PATH",
            file.display()
        )),
        other => other.into(),
    })?;
    let context = match context {
        Some(c) => c.to_path_buf(),
        // The seed layout builds docker/Dockerfile.* with the project root as context.
        None if file.parent().is_some_and(|p| p.ends_with("docker")) => file
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        None => file.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let context = if context.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        context
    };
    let seed_release = file.file_name().is_some_and(|n| n == "Dockerfile.release");
    let silenced = crate::check::suppress::inline_ignores(&source).map_err(|e| {
        Error::Usage(format!(
            "{}: {e}",
            crate::ui::escape(&file.display().to_string())
        ))
    })?;
    let report = check_file(&source, &context, seed_release, opts);
    // check_file stops early on Ctrl-C; its findings are then partial, never a verdict.
    if crate::cancel::requested() {
        return Err(Error::Interrupted);
    }
    Ok(FileReport {
        file: file.display().to_string(),
        bases: report.bases,
        error: report.error,
        suppressed: report
            .findings
            .iter()
            .filter(|f| silenced.contains(&(f.line, f.rule)))
            .cloned()
            .collect(),
        findings: report
            .findings
            .into_iter()
            .filter(|f| !silenced.contains(&(f.line, f.rule)))
            .collect(),
        silenced_in_source: silenced,
    })
}

/// Sets apart the findings of the rules `ignored` names (from `--ignore` and repro.toml's
/// `[check] ignore`): they are listed as suppressed and never fail a check.
pub fn set_apart(report: &mut FileReport, ignored: &[&'static str]) {
    let (silenced, kept) = std::mem::take(&mut report.findings)
        .into_iter()
        .partition(|f| ignored.contains(&f.rule));
    report.findings = kept;
    report.suppressed.extend(silenced);
    report.suppressed.sort_by_key(|f| f.line);
}
