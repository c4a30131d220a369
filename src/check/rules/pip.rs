//! pip, uv and pipx: `pip-unpinned`, `pip-cache-left`, `uv-unlocked`, `python-without-sde`.

use super::git::is_fixed_ref;
use super::{quoted, Acc, Cached, Described, Invocation, RunFacts};

/// Options of pip and uv that take a value (the next word, unless written `--opt=value`).
pub(in crate::check) const PIP_VALUE_OPTIONS: [&str; 43] = [
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--trusted-host",
    "--upgrade-strategy",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--only-binary",
    "--no-binary",
    "--progress-bar",
    "--src",
    "--cache-dir",
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--exists-action",
    "--global-option",
    "--config-settings",
    "-C",
    "--python",
    "-p",
    "--index",
    "--default-index",
    "--index-strategy",
    "--resolution",
    "--prerelease",
    "--report",
    "--root-user-action",
];

/// pip reads its long options as optparse does, so any unambiguous prefix of `--no-cache-dir`
/// (`--no-cache`, `--no-ca`; `--no-c` could be `--no-color` or `--no-compile`) is that option.
fn abbreviates_no_cache_dir(arg: &str) -> bool {
    arg.len() >= "--no-ca".len() && "--no-cache-dir".starts_with(arg)
}

/// Judges one Python requirement given to pip/uv; `None` when pinned or not knowable.
pub(in crate::check) fn unpinned_requirement(arg: &str) -> Option<String> {
    let a = arg.trim_matches(['"', '\'']);
    if a.contains('$') || a.contains('`') {
        // The version comes from a variable: a range or a `.*` floats whatever it holds;
        // `==$V` is as pinned as the value given.
        let spec = a.split(';').next().unwrap_or(a);
        let ranged = spec.ends_with(".*")
            || !spec.contains("==") && [">", "<", "~=", "!="].iter().any(|op| spec.contains(op));
        return ranged.then(|| spec.to_string());
    }
    if a.is_empty() || a.contains('*') && !a.contains("==") {
        return None;
    }
    let vcs = a.starts_with("git+") || a.contains("@ git+") || a.contains("@git+");
    if vcs {
        let url = a.rsplit_once(" @ ").map_or(a, |(_, u)| u);
        let url = url.split_once("@git+").map_or(url, |(_, u)| u);
        let path = url.split_once("://").map_or(url, |(_, p)| p);
        let path = path.split('#').next().unwrap_or(path);
        let reference = path.rsplit_once('@').map(|(_, r)| r);
        return match reference {
            Some(r) if is_fixed_ref(r) => None,
            _ => Some(a.to_string()),
        };
    }
    if a.contains("://") {
        return (a.contains("/refs/heads/")
            || a.contains("/archive/master.")
            || a.contains("/archive/main."))
        .then(|| a.to_string());
    }
    let local = a.starts_with('/')
        || a.starts_with('.')
        || a.starts_with('~')
        || a.ends_with(".whl")
        || a.ends_with(".tar.gz")
        || a.ends_with(".zip")
        || a.contains('/');
    if local || a.contains(" @ ") {
        return None;
    }
    let spec = a.split(';').next().unwrap_or(a);
    match spec.split_once("==") {
        Some((_, v)) if !v.ends_with(".*") && !v.contains(',') => None,
        _ if spec.contains("===") => None,
        _ => Some(spec.to_string()),
    }
}

/// pip, uv and pipx: requirements without an exact version, unlocked uv projects; notes caches and
/// bytecode for the whole RUN.
pub(in crate::check) fn lint_pip(acc: &mut Acc, c: &Invocation, facts: &mut RunFacts) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let sub = c.sub;
    let state = c.state;
    let prefixed = |name: &str| c.prefixed(name);
    let uv = r.program == "uv";
    let (sub, rest): (Option<&str>, Vec<&str>) = if uv {
        let mut it = args.iter().copied().filter(|a| !a.starts_with('-'));
        match it.next() {
            Some("pip") => (
                it.next(),
                args.iter()
                    .copied()
                    .skip_while(|a| *a != "pip")
                    .skip(2)
                    .collect(),
            ),
            other => (
                other,
                args.iter()
                    .copied()
                    .skip_while(|a| Some(*a) != other)
                    .skip(1)
                    .collect(),
            ),
        }
    } else {
        (
            sub,
            args.iter()
                .copied()
                .skip_while(|a| Some(*a) != sub)
                .skip(1)
                .collect(),
        )
    };
    let uv_pip = uv && args.contains(&"pip");
    match sub {
        Some("install") if !uv || uv_pip => lint_pip_install(acc, c, &rest, facts),
        Some("install") if uv => {}
        Some("sync" | "add" | "lock") if uv => {
            let no_cache =
                args.contains(&"--no-cache") || state.uv_no_cache || prefixed("UV_NO_CACHE");
            if sub != Some("lock") && !no_cache {
                facts.pip_installs.push((at, "uv"));
            }
            let locked = args
                .iter()
                .any(|a| matches!(*a, "--frozen" | "--locked" | "--check"))
                || state.uv_locked
                || prefixed("UV_FROZEN")
                || prefixed("UV_LOCKED");
            if !locked {
                acc.add(at, "uv-unlocked", format!("uv {}", sub.unwrap_or_default()));
            }
        }
        Some("cache") => {
            if uv {
                facts.uv_cache_cleaned = true;
            } else {
                facts.pip_cache_cleaned = true;
            }
        }
        _ => {}
    }
}

/// `pip install` and `uv pip install` (`rest`: the words after `install`): requirements without
/// an exact version; notes a cache left in the layer and bytecode compiled with the build time.
pub(in crate::check) fn lint_pip_install(
    acc: &mut Acc,
    c: &Invocation,
    rest: &[&str],
    facts: &mut RunFacts,
) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let state = c.state;
    let prefixed = |name: &str| c.prefixed(name);
    let uv = r.program == "uv";
    let tool: &'static str = if uv { "uv" } else { "pip" };
    let mut skip = false;
    for a in rest {
        if skip {
            skip = false;
            continue;
        }
        if a.starts_with('-') {
            skip = !a.contains('=') && PIP_VALUE_OPTIONS.contains(a);
            continue;
        }
        if r.xargs {
            continue;
        }
        if let Some(p) = unpinned_requirement(a) {
            acc.add(at, "pip-unpinned", p);
        }
    }
    let no_cache = if uv {
        args.contains(&"--no-cache")
            || args.contains(&"--no-cache-dir")
            || args.contains(&"-n")
            || state.uv_no_cache
            || prefixed("UV_NO_CACHE")
    } else {
        args.iter().any(|a| abbreviates_no_cache_dir(a))
            || state.pip_no_cache
            || prefixed("PIP_NO_CACHE_DIR")
    };
    if !no_cache {
        facts.pip_installs.push((at, tool));
    }
    let compiles = if uv {
        args.contains(&"--compile-bytecode")
            || args.contains(&"--compile")
            || state.uv_compile
            || prefixed("UV_COMPILE_BYTECODE")
    } else {
        !args.contains(&"--no-compile")
    };
    let scoped = prefixed("PIP_NO_COMPILE") || prefixed("SOURCE_DATE_EPOCH");
    if compiles && !scoped {
        facts.python_installs.push(at);
    }
}

pub(in crate::check) fn note_env(facts: &mut RunFacts, name: &str, value: &str) {
    match name {
        "PIP_NO_COMPILE" if !value.is_empty() => facts.no_bytecode = true,
        "SOURCE_DATE_EPOCH" => facts.sde = true,
        "PIP_NO_CACHE_DIR" if !value.is_empty() => facts.pip_cache_cleaned = true,
        "UV_NO_CACHE" if !value.is_empty() => facts.uv_cache_cleaned = true,
        _ => {}
    }
}

/// A RUN's pip and uv caches left in its layer, and its Python packages compiled with the
/// build time.
pub(in crate::check) fn judge_run(acc: &mut Acc, facts: &RunFacts, cached: &Cached) {
    for (at, tool) in &facts.pip_installs {
        let cleaned = match *tool {
            "uv" => {
                facts.uv_cache_cleaned
                    || cached.holds("/root/.cache/uv")
                    || cached.holds("/root/.cache")
            }
            _ => {
                facts.pip_cache_cleaned
                    || cached.holds("/root/.cache/pip")
                    || cached.holds("/root/.cache")
            }
        };
        if !cleaned {
            acc.add(*at, "pip-cache-left", *tool);
        }
    }
    if !(facts.sde || facts.no_bytecode || facts.pyc_removed) {
        if let Some(at) = facts.python_installs.first() {
            acc.add(*at, "python-without-sde", "");
        }
    }
}

/// The message and the fix of a finding of this family, for exactly the items it is about;
/// `None` for another family's rule.
pub(super) fn describe(rule: &str, items: &[String]) -> Option<Described> {
    use crate::check::Severity::Warning;
    Some(match rule {
        "pip-unpinned" => {
            let (vcs, names): (Vec<&String>, Vec<&String>) =
                items.iter().partition(|i| i.contains("://") || i.contains('@'));
            let mut message = Vec::new();
            let mut fix = Vec::new();
            if !names.is_empty() {
                let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
                message.push(format!("Python packages without == pins: {}", names.join(", ")));
                fix.push("pin exact versions (pkg==1.2.3), better with hashes: pip install --require-hashes -r requirements.lock (pip-compile --generate-hashes, or uv pip compile)".to_string());
            }
            if !vcs.is_empty() {
                let vcs: Vec<&str> = vcs.iter().map(|s| s.as_str()).collect();
                message.push(format!(
                    "installs from a branch, not a commit: {}",
                    vcs.join(", ")
                ));
                fix.push("name the commit: git+https://host/org/repo@<40-hex commit> (a tag can move, a branch moves)".to_string());
            }
            (Warning, message.join("; "), fix.join("; "))
        }
        "pip-cache-left" => {
            let uv = items.iter().any(|i| i == "uv");
            let pip = items.iter().any(|i| i != "uv");
            let mut fix = Vec::new();
            if pip {
                fix.push("add --no-cache-dir to pip install (or ENV PIP_NO_CACHE_DIR=1), or use RUN --mount=type=cache,target=/root/.cache/pip");
            }
            if uv {
                fix.push("add --no-cache to uv (or ENV UV_NO_CACHE=1), or use RUN --mount=type=cache,target=/root/.cache/uv");
            }
            (
                Warning,
                format!("{}'s download cache (/root/.cache) stays in the layer", items.join(" and ")),
                fix.join("; "),
            )
        }
        "python-without-sde" => (
            Warning,
            "Python packages are installed without ARG SOURCE_DATE_EPOCH in scope: the .pyc files carry the build time".into(),
            "add `ARG SOURCE_DATE_EPOCH` in this stage before the RUN (pip then writes hash-based .pyc), or install with `pip install --no-compile` (or `ENV PIP_NO_COMPILE=1`); PYTHONDONTWRITEBYTECODE does not stop pip compiling what it installs".into(),
        ),
        "uv-unlocked" => (
            Warning,
            format!("{} resolves dependencies anew instead of installing uv.lock as committed", quoted(items)),
            "commit uv.lock and install exactly it: uv sync --locked (or --frozen)".into(),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::check::testutil::{only, rules, BASE};
    use crate::check::{check_file, lint, Options};

    fn cache_left(run: &str) -> bool {
        let df = format!(
            "FROM a:1@sha256:{}\nARG SOURCE_DATE_EPOCH\n{run}\n",
            "1".repeat(64)
        );
        let dir = tempfile::tempdir().unwrap();
        lint(df.as_bytes(), dir.path(), false)
            .iter()
            .any(|f| f.rule == "pip-cache-left")
    }

    #[test]
    fn pip_takes_an_abbreviated_no_cache_dir() {
        assert!(!cache_left("RUN pip install --no-cache x==1"));
        assert!(!cache_left("RUN pip install --no-ca x==1"));
        assert!(cache_left("RUN pip install --no-c x==1"));
        assert!(cache_left("RUN pip install --no-compile x==1"));
        assert!(cache_left("RUN pip install x==1"));
    }

    /// A version from a variable is a pin only after `==` without a wildcard.
    #[test]
    fn a_range_or_wildcard_floats_whatever_the_variable_holds() {
        let df = format!(
            "{BASE}ARG TRT\nRUN pip install --no-cache-dir tensorrt==${{TRT}}.* \"torch>=$V\" \"x~=${{X}}\" y==$Y\n"
        );
        let report = check_file(
            df.as_bytes(),
            Path::new("/nonexistent"),
            false,
            &Options::default(),
        );
        let pip = report
            .findings
            .iter()
            .find(|f| f.rule == "pip-unpinned")
            .expect("pip-unpinned");
        assert_eq!(pip.line, 4);
        assert!(
            pip.message.contains("tensorrt==.*")
                && pip.message.contains("torch>=$V")
                && pip.message.contains("x~=${X}")
                && !pip.message.contains("y=="),
            "{}",
            pip.message
        );
    }

    /// get-pip.py is pip installing the newest pip: unpinned, cached and compiled.
    #[test]
    fn get_pip_installs_an_unpinned_pip() {
        let from = "FROM python:3.12@sha256:1111111111111111111111111111111111111111111111111111111111111111\n";
        let df = format!("{from}RUN python3.9 get-pip.py\n");
        assert_eq!(
            rules(&df),
            [
                (2, "pip-cache-left"),
                (2, "pip-unpinned"),
                (2, "python-without-sde")
            ]
        );
        let df = format!("{from}ARG SOURCE_DATE_EPOCH\nRUN python /tmp/get-pip.py --no-cache-dir pip==24.0 setuptools==69.5.1\n");
        assert_eq!(rules(&df), []);
        // A script that is not get-pip.py, and python -c, are not pip.
        let df = format!("{from}RUN python3 setup_env.py pip && python3 -c 'import pip'\n");
        assert_eq!(rules(&df), []);
    }

    /// pip writes timestamped .pyc of what it installs even with PYTHONDONTWRITEBYTECODE=1
    /// (checked in a bookworm container: `__pycache__/*.pyc` is there after the install), so
    /// that variable is no fix, and the lint must neither accept nor suggest it.
    #[test]
    fn pythondontwritebytecode_does_not_stop_pip_compiling() {
        let from = "FROM python:3.12@sha256:1111111111111111111111111111111111111111111111111111111111111111\n";
        let df = format!(
            "{from}ENV PYTHONDONTWRITEBYTECODE=1\nRUN pip install --no-cache-dir numpy==1.26.4\n"
        );
        assert_eq!(only(&df, "python-without-sde").len(), 1);
        let df = format!("{from}RUN PIP_NO_COMPILE=1 pip install --no-cache-dir numpy==1.26.4\n");
        assert!(only(&df, "python-without-sde").is_empty());
    }
}
