//! The git facts a release records, and the clean copy of a commit that every build uses.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::process::{Options, Tool};

pub struct Git {
    tool: Tool,
}

/// What `release` records about the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub toplevel: PathBuf,
    pub commit: String,
    pub commit_time: i64,
    pub remote: String,
    pub dirty_files: Vec<String>,
}

impl Git {
    pub fn new() -> Result<Self> {
        Ok(Git {
            tool: Tool::find("git", "install git (apt-get install git)")?,
        })
    }

    fn run_in(&self, dir: &Path, args: &[&str]) -> Result<String> {
        let opts = Options {
            dir: Some(dir.to_path_buf()),
            ..Default::default()
        };
        Ok(self.tool.run_with(args, &opts)?.stdout_text())
    }

    pub fn toplevel(&self, dir: &Path) -> Result<PathBuf> {
        self.run_in(dir, &["rev-parse", "--show-toplevel"]).map(PathBuf::from).map_err(|_| {
            Error::Failed(format!(
                "{}: not inside a git repository; a release is cut from a commit (run `git init` and commit the project)",
                dir.display()
            ))
        })
    }

    /// Facts about HEAD of the repository holding `dir`; `ignore` (the lockfile) never counts as dirty.
    pub fn facts(&self, dir: &Path, ignore: &[PathBuf]) -> Result<Facts> {
        let toplevel = self.toplevel(dir)?;
        let commit = self
            .run_in(&toplevel, &["rev-parse", "--verify", "HEAD^{commit}"])
            .map_err(|_| {
                Error::Failed(format!(
                    "{}: the repository has no commit yet; commit the project first",
                    toplevel.display()
                ))
            })?;
        let time = self.run_in(&toplevel, &["show", "-s", "--format=%ct", "HEAD"])?;
        let commit_time = time.trim().parse().map_err(|_| {
            Error::Failed(format!("git printed {time:?} as the commit time of HEAD"))
        })?;
        let remotes = self.run_in(&toplevel, &["remote"])?;
        let remote_name = remotes
            .lines()
            .find(|r| *r == "origin")
            .or_else(|| remotes.lines().next());
        let remote = match remote_name {
            Some(name) => {
                strip_credentials(&self.run_in(&toplevel, &["remote", "get-url", "--", name])?)
            }
            None => String::new(),
        };
        let status = self.tool.run_with(
            &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
            &Options {
                dir: Some(toplevel.clone()),
                ..Default::default()
            },
        )?;
        let ignore: Vec<PathBuf> = ignore
            .iter()
            .filter_map(|p| p.canonicalize().ok().or_else(|| Some(p.clone())))
            .collect();
        let dirty_files = parse_porcelain(&status.stdout)
            .into_iter()
            .filter(|f| !ignore.iter().any(|i| *i == toplevel.join(f)))
            .collect();
        Ok(Facts {
            toplevel,
            commit,
            commit_time,
            remote,
            dirty_files,
        })
    }

    pub fn has_commit(&self, repo: &Path, commit: &str) -> bool {
        self.run_in(repo, &["cat-file", "-e", &format!("{commit}^{{commit}}")])
            .is_ok()
    }

    /// Clones any URL git accepts (a path, a bare repository, https, ssh) without a checkout.
    pub fn clone_no_checkout(&self, remote: &str, dest: &Path) -> Result<()> {
        let dest_arg = dest.to_string_lossy().into_owned();
        self.tool
            .run(&["clone", "--quiet", "--no-checkout", "--", remote, &dest_arg])
            .map_err(|e| Error::Failed(format!("cannot clone the lock's remote {remote}: {e}")))?;
        Ok(())
    }

    /// Writes the tracked files of `commit` into `dest` (which must not exist) with no `.git`
    /// and with modes normalised to 0644/0755, so that a build context is the same bytes on
    /// every machine whatever its umask. The user's repository and working tree are not touched.
    pub fn materialise(&self, repo: &Path, commit: &str, dest: &Path) -> Result<()> {
        if !self.has_commit(repo, commit) {
            return Err(Error::Failed(format!(
                "commit {commit} is not in the repository at {}; fetch it (`git fetch --all`) or check out the paper's repository",
                repo.display()
            )));
        }
        let repo_arg = repo.to_string_lossy().into_owned();
        let dest_arg = dest.to_string_lossy().into_owned();
        self.tool.run(&[
            "clone",
            "--quiet",
            "--shared",
            "--no-checkout",
            "--",
            &repo_arg,
            &dest_arg,
        ])?;
        self.run_in(
            dest,
            &[
                "-c",
                "advice.detachedHead=false",
                "checkout",
                "--quiet",
                "--detach",
                commit,
            ],
        )?;
        std::fs::remove_dir_all(dest.join(".git")).map_err(|e| Error::io(dest.join(".git"), e))?;
        normalise_modes(dest)
    }
}

fn normalise_modes(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
        let mode = if meta.is_symlink() {
            continue;
        } else if meta.is_dir() {
            normalise_modes(&path)?;
            0o755
        } else if meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(&path, e))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(dir, e))
}

/// Paths named by `git status --porcelain=v1 -z` (renames name both sides).
pub fn parse_porcelain(output: &[u8]) -> Vec<String> {
    let mut files = Vec::new();
    let mut records = output.split(|b| *b == 0).filter(|r| !r.is_empty());
    while let Some(record) = records.next() {
        if record.len() < 4 {
            continue;
        }
        let status = &record[..2];
        files.push(String::from_utf8_lossy(&record[3..]).into_owned());
        if status.contains(&b'R') || status.contains(&b'C') {
            if let Some(from) = records.next() {
                files.push(String::from_utf8_lossy(from).into_owned());
            }
        }
    }
    files.sort();
    files.dedup();
    files
}

/// Drops user names, passwords and tokens from a remote URL; scp-style `git@host:path` and
/// `ssh://git@host/...` keep their user, which is not a secret.
pub fn strip_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let keep_user = scheme.starts_with("ssh") || scheme.starts_with("git+ssh");
    let kept = match userinfo.split_once(':') {
        _ if !keep_user => String::new(),
        Some((user, _password)) => format!("{user}@"),
        None => format!("{userinfo}@"),
    };
    let slash = if rest.contains('/') { "/" } else { "" };
    format!("{scheme}://{kept}{host}{slash}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_stripped() {
        assert_eq!(
            strip_credentials("https://user:tok3n@github.com/lab/x.git"),
            "https://github.com/lab/x.git"
        );
        assert_eq!(
            strip_credentials("https://ghp_abc@github.com/lab/x.git"),
            "https://github.com/lab/x.git"
        );
        assert_eq!(
            strip_credentials("ssh://git:pw@host:22/x.git"),
            "ssh://git@host:22/x.git"
        );
        assert_eq!(
            strip_credentials("ssh://git@host/x.git"),
            "ssh://git@host/x.git"
        );
        assert_eq!(
            strip_credentials("git@github.com:lab/x.git"),
            "git@github.com:lab/x.git"
        );
        assert_eq!(strip_credentials("/srv/git/x.git"), "/srv/git/x.git");
        assert_eq!(
            strip_credentials("https://example.org"),
            "https://example.org"
        );
    }

    #[test]
    fn porcelain_names_modified_untracked_and_renamed() {
        let out = b" M src/a.py\0?? notes.txt\0R  new.py\0old.py\0";
        assert_eq!(
            parse_porcelain(out),
            ["new.py", "notes.txt", "old.py", "src/a.py"]
        );
        assert!(parse_porcelain(b"").is_empty());
    }
}
