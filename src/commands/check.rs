//! `docker repro check`: lint Dockerfiles for what makes rebuilds differ, and say which
//! images a build of each pulls. The rules live in the `check` core module.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::check::{check_file, Finding, Options, Pull, Severity};
use crate::cli::{CheckArgs, Format};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::project::{SEED_BASE, SEED_RELEASE};

#[derive(Serialize)]
struct FileReport {
    file: String,
    bases: Vec<Pull>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    findings: Vec<Finding>,
}

/// The Dockerfiles `check` looks at when none is named.
fn default_files(project: &Path) -> Vec<PathBuf> {
    let seed: Vec<PathBuf> = [SEED_BASE, SEED_RELEASE]
        .iter()
        .map(PathBuf::from)
        .filter(|p| project.join(p).is_file())
        .collect();
    if !seed.is_empty() {
        return seed;
    }
    vec![PathBuf::from("Dockerfile")]
}

pub fn run(args: &CheckArgs) -> Result<Exit> {
    let project = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let files = if args.dockerfiles.is_empty() {
        default_files(&project)
    } else {
        args.dockerfiles.clone()
    };
    let mut opts = Options {
        target: args.target.clone().filter(|t| !t.is_empty()),
        ..Options::default()
    };
    if let Some(p) = &args.platform {
        opts.platform = p.clone();
    }
    for raw in &args.build_args {
        let (key, value) = match raw.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => match std::env::var(raw) {
                Ok(v) => (raw.clone(), v),
                Err(_) => continue,
            },
        };
        opts.build_args.insert(key, value);
    }
    let mut reports = Vec::new();
    for file in &files {
        let source = std::fs::read(file).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Usage(format!(
                "{}: no such Dockerfile; name one: docker repro check PATH",
                file.display()
            )),
            _ => Error::io(file, e),
        })?;
        let context = match &args.context {
            Some(c) => c.clone(),
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
        let report = check_file(&source, &context, seed_release, &opts);
        reports.push(FileReport {
            file: file.display().to_string(),
            bases: report.bases,
            error: report.error,
            findings: report.findings,
        });
    }
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&reports).expect("report serializes")
        ),
        Format::Human => {
            for r in &reports {
                if r.error.is_none() {
                    let pulls: Vec<String> = r
                        .bases
                        .iter()
                        .map(|b| format!("{} (line {})", b.reference, b.line))
                        .collect();
                    crate::ui::print_human(&format!(
                        "{}: a build pulls {}\n",
                        crate::ui::escape(&r.file),
                        if pulls.is_empty() {
                            "no image".to_string()
                        } else {
                            crate::ui::escape(&pulls.join(", ")).to_string()
                        }
                    ));
                }
                for f in &r.findings {
                    let severity = match f.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                        Severity::Info => "info",
                    };
                    crate::ui::print_human(&format!(
                        "{}:{}: {severity}[{}] {}\n    fix: {}\n",
                        crate::ui::escape(&r.file),
                        f.line,
                        f.rule,
                        crate::ui::escape(&f.message),
                        crate::ui::escape(&f.fix)
                    ));
                }
            }
            let total: usize = reports.iter().map(|r| r.findings.len()).sum();
            let counted = reports
                .iter()
                .flat_map(|r| &r.findings)
                .filter(|f| f.severity >= args.severity)
                .count();
            let threshold = format!("{:?}", args.severity).to_lowercase();
            println!(
                "{total} finding(s) in {} file(s), {counted} at or above {threshold}",
                reports.len()
            );
        }
    }
    let failing = reports
        .iter()
        .flat_map(|r| &r.findings)
        .any(|f| f.severity >= args.severity);
    Ok(if failing { Exit::Different } else { Exit::Ok })
}
