//! Temporary directories and files of docker repro, named after the process that made them.
//!
//! A run that is killed with SIGKILL (or by the OOM killer) runs no destructor: its build
//! directory stays in the temp dir and the temporary file of an atomic write stays beside its
//! target. Each name carries the process's pid namespace and pid, so a later run removes
//! exactly those whose process is gone and never the directory of a run still going.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Work directories in the temp dir: `docker-repro-<kind>-<ns>-<pid>-XXXXXX`.
pub const DIR_PREFIX: &str = "docker-repro-";
/// Temporary files of atomic writes, beside their target: `.docker-repro-tmp-<ns>-<pid>-XXXXXX`.
/// `release`'s dirty check ignores these names (see [`is_temp_file`]): a leftover is never part
/// of a build, and a concurrent run's file must not make the tree dirty.
pub const FILE_PREFIX: &str = ".docker-repro-tmp-";

/// The owner tag `<ns>-<pid>` of this process; `None` where /proc cannot tell (then nothing is
/// ever removed as stale, and names carry `0-<pid>`).
fn owner() -> (Option<u64>, u32) {
    (pid_namespace(), std::process::id())
}

fn pid_namespace() -> Option<u64> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let text = link.to_str()?;
    text.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

fn tag() -> String {
    let (ns, pid) = owner();
    format!("{}-{pid}-", ns.unwrap_or(0))
}

/// A fresh work directory for `kind` (`release`, `verify`, `diff`), after removing the stale
/// ones of dead runs.
pub fn work_dir(kind: &str) -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{kind}-{}", tag()))
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    remove_stale(&std::env::temp_dir(), DIR_PREFIX, true);
    Ok(dir)
}

/// The prefix of an atomic write's temporary file.
pub fn temp_file_prefix() -> String {
    format!("{FILE_PREFIX}{}", tag())
}

/// Is `path` (a file name, or a path whose last component is checked) a temporary file of an
/// atomic write?
pub fn is_temp_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with(FILE_PREFIX))
}

/// Removes the temporary files of dead runs in `dir` (beside a lock or an archive).
pub fn remove_stale_files(dir: &Path) {
    remove_stale(dir, FILE_PREFIX, false);
}

/// `<kind>-<ns>-<pid>-…` or `<ns>-<pid>-…` after the prefix: the namespace and pid.
fn parse_owner(rest: &str, with_kind: bool) -> Option<(u64, u32)> {
    let mut parts = rest.split('-');
    if with_kind {
        parts.next()?;
    }
    let ns = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((ns, pid))
}

/// Should the entry named `name` be removed: ours by name, same pid namespace as this process,
/// and its process gone.
fn is_stale(name: &str, prefix: &str, with_kind: bool, alive: &dyn Fn(u32) -> bool) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else {
        return false;
    };
    let (Some(our_ns), our_pid) = owner() else {
        return false;
    };
    match parse_owner(rest, with_kind) {
        Some((ns, pid)) => ns == our_ns && pid != our_pid && !alive(pid),
        None => false,
    }
}

fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

fn remove_stale(dir: &Path, prefix: &str, dirs: bool) {
    // Only what this user made: /proc/self belongs to the process's user.
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_stale(name, prefix, dirs, &process_alive) {
            continue;
        }
        let path: PathBuf = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.uid() != uid {
            continue;
        }
        // Best effort: a leftover that cannot be removed is no reason to stop this run.
        let _ = if dirs && meta.is_dir() {
            std::fs::remove_dir_all(&path)
        } else if !dirs && meta.is_file() {
            std::fs::remove_file(&path)
        } else {
            continue;
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn names_carry_the_owner_and_only_dead_owners_are_stale() {
        let ns = pid_namespace().expect("/proc is mounted");
        let me = std::process::id();
        let alive = |pid: u32| pid == 1;
        let stale = |name: &str| is_stale(name, DIR_PREFIX, true, &alive);
        assert!(stale(&format!("docker-repro-release-{ns}-4242-abc")));
        assert!(!stale(&format!("docker-repro-release-{ns}-1-abc")), "alive");
        assert!(
            !stale(&format!("docker-repro-verify-{ns}-{me}-abc")),
            "ours"
        );
        assert!(
            !stale("docker-repro-release-77-4242-abc"),
            "another namespace"
        );
        assert!(
            !stale("docker-repro-verify-abc123"),
            "no owner: an older version"
        );
        assert!(!stale(&format!("other-release-{ns}-4242-abc")));
        let files = |name: &str| is_stale(name, FILE_PREFIX, false, &alive);
        assert!(files(&format!(".docker-repro-tmp-{ns}-4242-x1")));
        assert!(!files(&format!(".docker-repro-tmp-{ns}-1-x1")));
        assert!(temp_file_prefix().starts_with(&format!(".docker-repro-tmp-{ns}-{me}-")));
        assert!(is_temp_file("sub/dir/.docker-repro-tmp-1-2-abc"));
        assert!(!is_temp_file(".docker-repro-tmp-/x"));
        assert!(!is_temp_file("repro.lock"));
    }

    #[test]
    fn stale_files_of_dead_runs_are_removed_and_others_kept() {
        let ns = pid_namespace().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dead = format!(".docker-repro-tmp-{ns}-{}-abc", dead_pid());
        let live = format!(".docker-repro-tmp-{ns}-1-abc");
        let mine = format!(".docker-repro-tmp-{ns}-{}-abc", std::process::id());
        for name in [&dead, &live, &mine, &"repro.lock".to_string()] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        remove_stale_files(dir.path());
        assert!(!dir.path().join(&dead).exists());
        for name in [&live, &mine, &"repro.lock".to_string()] {
            assert!(dir.path().join(name).exists(), "{name}");
        }
    }
}
