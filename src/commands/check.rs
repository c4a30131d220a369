//! `docker repro check`: lint Dockerfiles for what makes rebuilds differ, and say which
//! images a build of each pulls. The rules live in the `check` core module.

use std::path::{Path, PathBuf};

use crate::check::sarif::{FileFindings, Log, Silenced};
use crate::check::{Options, Severity};
use crate::cli::{CheckArgs, CheckFormat};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::ops::lint::{check_one, set_apart, FileReport};
use crate::project::{SEED_BASE, SEED_RELEASE};

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
    let opts = options(args);
    let mut ignored = args
        .ignore
        .iter()
        .map(|name| {
            crate::check::suppress::parse_rule(name)
                .map_err(|e| Error::Usage(format!("--ignore: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    // repro.toml's [check] ignore applies beside the flags, as release reads it too.
    let config = crate::project::Config::load(&project, &project)?;
    ignored.extend(config.check.ignore.iter().map(|rule| rule.0));
    let mut reports = files
        .iter()
        .map(|file| check_one(file, args.context.as_deref(), &opts))
        .collect::<Result<Vec<_>>>()?;
    for report in &mut reports {
        set_apart(report, &ignored);
    }
    match args.format {
        CheckFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&reports).expect("report serializes")
        ),
        CheckFormat::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&sarif(&reports)).expect("log serializes")
        ),
        CheckFormat::Human => crate::ui::print_human(&render_human(&reports, args.severity)),
    }
    let failing = reports
        .iter()
        .flat_map(|r| &r.findings)
        .any(|f| f.severity >= args.severity);
    Ok(if failing { Exit::Different } else { Exit::Ok })
}

/// The reports as one SARIF log; a silenced finding is a result with its suppression.
fn sarif(reports: &[FileReport]) -> Log {
    let files: Vec<FileFindings> = reports
        .iter()
        .map(|r| FileFindings {
            path: &r.file,
            findings: &r.findings,
            suppressed: r
                .suppressed
                .iter()
                .map(|f| {
                    let how = if r.silenced_in_source.contains(&(f.line, f.rule)) {
                        Silenced::InSource
                    } else {
                        Silenced::External
                    };
                    (f, how)
                })
                .collect(),
        })
        .collect();
    Log::new(&files)
}

/// The target, platform and build arguments of the build to answer for; `--build-arg NAME`
/// takes the value from the environment, and is left out when it is not set there.
fn options(args: &CheckArgs) -> Options {
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
    opts
}

/// The human report: what each build pulls, each finding with its fix, and the count at or
/// above `severity`.
fn render_human(reports: &[FileReport], severity: Severity) -> String {
    let mut out = String::new();
    for r in reports {
        if r.error.is_none() {
            let pulls: Vec<String> = r
                .bases
                .iter()
                .map(|b| format!("{} (line {})", b.reference, b.line))
                .collect();
            out.push_str(&format!(
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
            let label = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            out.push_str(&format!(
                "{}:{}: {label}[{}] {}\n    fix: {}\n",
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
        .filter(|f| f.severity >= severity)
        .count();
    let threshold = format!("{severity:?}").to_lowercase();
    let suppressed: usize = reports.iter().map(|r| r.suppressed.len()).sum();
    let suppressed = if suppressed > 0 {
        format!(", {suppressed} suppressed")
    } else {
        String::new()
    };
    out.push_str(&format!(
        "{total} finding(s) in {} file(s), {counted} at or above {threshold}{suppressed}\n",
        reports.len()
    ));
    out
}
