//! conda, mamba and micromamba: `conda-unlocked`, `conda-cache-left`.

use super::{quoted, Acc, Cached, Described, Invocation, RunFacts};

/// conda, mamba and micromamba: environments not made from a lock; notes installs and cleaning for
/// the whole RUN.
pub(in crate::check) fn lint_conda(acc: &mut Acc, c: &Invocation, facts: &mut RunFacts) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let words: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    let installing = matches!(
        words.as_slice(),
        ["install", ..]
            | ["create", ..]
            | ["update", ..]
            | ["upgrade", ..]
            | ["env", "create" | "update", ..]
    ) || r.program == "conda-env"
        && matches!(words.first(), Some(&"create" | &"update"));
    if words.first() == Some(&"clean") {
        facts.conda_cleaned = true;
    }
    if installing {
        let text = args.join(" ");
        let locked = text.contains("conda-lock")
            || text.contains(".lock")
            || text.contains("explicit")
            || args
                .iter()
                .any(|a| a.ends_with("lock.yml") || a.ends_with("lock.yaml"));
        if !locked {
            let kept: Vec<&str> = args
                .iter()
                .copied()
                .filter(|a| !matches!(*a, "-y" | "--yes" | "-q" | "--quiet"))
                .filter(|a| !a.starts_with("--root-prefix") && !a.starts_with("--prefix"))
                .collect();
            let mut shown: Vec<&str> = std::iter::once(r.program.as_str())
                .chain(kept.iter().copied())
                .take(6)
                .collect();
            if kept.len() > 5 {
                shown.push("…");
            }
            acc.add(at, "conda-unlocked", shown.join(" "));
        }
        // No python-without-sde: conda keeps the packages' file times, so the .pyc it
        // compiles do not carry the build time.
        facts
            .conda_installs
            .push((at, r.program.replace("conda-env", "conda")));
    }
}

/// A RUN's conda package cache left in its layer.
pub(in crate::check) fn judge_run(acc: &mut Acc, facts: &RunFacts, cached: &Cached) {
    let cache = cached.0.iter().any(|t| t.ends_with("/pkgs"));
    for (at, tool) in &facts.conda_installs {
        if !facts.conda_cleaned && !cache {
            acc.add(*at, "conda-cache-left", tool.clone());
        }
    }
}

/// The message and the fix of a finding of this family, for exactly the items it is about;
/// `None` for another family's rule.
pub(super) fn describe(rule: &str, items: &[String]) -> Option<Described> {
    use crate::check::Severity::{Info, Warning};
    let first = items.first().cloned().unwrap_or_default();
    Some(match rule {
        "conda-unlocked" => (
            Warning,
            format!("{} solves the environment anew on every build", quoted(items)),
            "solve once and install the result: conda-lock (conda-lock install), or `conda list --explicit --md5 > spec.txt` then `conda create --file spec.txt`".into(),
        ),
        "conda-cache-left" => (
            Info,
            format!("{}'s package cache stays in the layer", items.join(" and ")),
            if first == "micromamba" {
                "end the same RUN with `micromamba clean --all --yes`".into()
            } else {
                format!("end the same RUN with `{first} clean -afy`")
            },
        ),
        _ => return None,
    })
}
