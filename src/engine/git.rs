//! The git facts a release records, and the clean copy of a commit that every build uses.

use std::io::{BufRead, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::engine::process::{Deadline, Options, Tool};
use crate::error::{Error, Result};
use crate::fail;

pub struct Git {
    tool: Tool,
    /// Read from the environment when git is found: a bad value stops before anything runs.
    clone: Deadline,
}

/// What `release` records about the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub toplevel: PathBuf,
    pub commit: String,
    pub commit_time: i64,
    pub remote: String,
    /// Tracked files changed in the working tree or the index (what makes a tree dirty).
    pub dirty_files: Vec<String>,
    /// Files git does not track (nor ignore): never part of a release built from the commit.
    pub untracked_files: Vec<String>,
}

impl Git {
    pub fn new() -> Result<Self> {
        Ok(Git {
            tool: Tool::find("git", "install git (apt-get install git)")?,
            clone: Deadline::transfer("a git clone")?,
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
        let (dirty_files, untracked_files) = parse_porcelain(&status.stdout);
        let kept = |files: Vec<String>| -> Vec<String> {
            files
                .into_iter()
                .filter(|f| !ignore.iter().any(|i| *i == toplevel.join(f)))
                .collect()
        };
        Ok(Facts {
            dirty_files: kept(dirty_files),
            untracked_files: kept(untracked_files),
            toplevel,
            commit,
            commit_time,
            remote,
        })
    }

    /// The committer time of the newest commit reachable from `commit` that changed any of
    /// `paths` (relative to the repository's top; `*`, `?` and `[` are patterns, and a pattern
    /// also covers what is below what it matches); `None` when none did.
    pub fn newest_change(
        &self,
        repo: &Path,
        commit: &str,
        paths: &[String],
    ) -> Result<Option<i64>> {
        let mut args: Vec<String> = vec![
            "--no-replace-objects".into(),
            "log".into(),
            "--format=%ct".into(),
            commit.into(),
            "--".into(),
        ];
        for path in paths {
            if path.contains(['*', '?', '[']) {
                args.push(format!(":(glob){path}"));
                args.push(format!(":(glob){path}/**"));
            } else {
                args.push(format!(":(literal){path}"));
            }
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run_in(repo, &argv)?;
        // Commit times need not grow along history (rebases, clocks): the newest, not the first.
        Ok(out
            .lines()
            .filter_map(|l| l.trim().parse::<i64>().ok())
            .max())
    }

    pub fn has_commit(&self, repo: &Path, commit: &str) -> bool {
        self.run_in(repo, &["cat-file", "-e", &format!("{commit}^{{commit}}")])
            .is_ok()
    }

    /// Clones a remote without a checkout, over the transports a paper's repository lives on
    /// (a path, a bare repository, https, ssh, git). Every other transport is off whatever the
    /// user's git allows: `ext::` runs a command and `fd::` talks to a file descriptor.
    pub fn clone_no_checkout(&self, remote: &str, dest: &Path) -> Result<()> {
        let dest_arg = dest.to_string_lossy().into_owned();
        let mut args: Vec<&str> = Vec::new();
        for setting in CLONE_PROTOCOLS {
            args.extend(["-c", setting]);
        }
        args.extend(["clone", "--quiet", "--no-checkout", "--", remote, &dest_arg]);
        let opts = Options {
            // The environment variable overrides any configuration, the user's included.
            env: vec![("GIT_ALLOW_PROTOCOL".into(), "file:https:ssh:git".into())],
            deadline: Some(self.clone),
            ..Default::default()
        };
        self.tool.run_with(&args, &opts).map_err(|e| {
            Error::Failed(format!(
                "cannot clone the lock's remote {}: {e}",
                crate::error::clip(remote)
            ))
        })?;
        Ok(())
    }

    /// Writes the tracked files of `commit` into `dest` (which must not exist) with no `.git`
    /// and with modes normalised to 0644/0755, so that a build context is the same bytes on
    /// every machine whatever its umask. The user's repository and working tree are not touched.
    ///
    /// The files are the commit's blobs byte for byte, read with `git cat-file --batch`: no
    /// checkout and no `git archive`, because both convert content through attributes and
    /// configuration (`core.autocrlf`, `eol`/`text`, `ident`, smudge filters such as Git LFS,
    /// `export-subst`, `export-ignore`) from the user's config and the repository's own
    /// `.gitattributes`, and a reviewer's settings must not change what is built. Replace refs
    /// are ignored too: the commit hash names exactly these bytes.
    ///
    /// Every file and directory gets `epoch` (the build's `SOURCE_DATE_EPOCH`) as its time, as
    /// `git archive` gives the commit time: a step that writes a source file's time into its
    /// output (`python -m compileall` into each `.pyc` header) then writes the same bytes on
    /// every machine, where a checkout's wall-clock time would differ on each.
    pub fn materialise(
        &self,
        repo: &Path,
        commit: &str,
        dest: &Path,
        epoch: i64,
    ) -> Result<Materialised> {
        if !self.has_commit(repo, commit) {
            return Err(Error::Failed(format!(
                "commit {commit} is not in the repository at {}; fetch it (`git fetch --all`) or check out the paper's repository",
                repo.display()
            )));
        }
        let opts = Options {
            dir: Some(repo.to_path_buf()),
            ..Default::default()
        };
        let listing = self.tool.run_with(
            &[
                "--no-replace-objects",
                "ls-tree",
                "-r",
                "-z",
                "--full-tree",
                commit,
            ],
            &opts,
        )?;
        let entries = parse_ls_tree(&listing.stdout)?;
        std::fs::create_dir(dest).map_err(|e| Error::io(dest, e))?;
        let blobs: Vec<u8> = entries
            .iter()
            .filter(|e| e.kind != EntryKind::Gitlink)
            .flat_map(|e| format!("{}\n", e.oid).into_bytes())
            .collect();
        let stream = self.tool.stream_with(
            &["--no-replace-objects", "cat-file", "--batch"],
            &opts,
            Some(blobs),
        )?;
        let mut reader = std::io::BufReader::new(stream);
        let mut made = std::collections::HashSet::new();
        let mut found = Materialised::default();
        for entry in &entries {
            let path = make_parents(dest, &entry.path, &mut made)?;
            if entry.kind == EntryKind::Gitlink {
                std::fs::create_dir(&path).map_err(|e| Error::io(&path, e))?;
                found.submodules.push(entry.display());
                continue;
            }
            let size = read_batch_header(&mut reader, &entry.oid)?;
            match entry.kind {
                EntryKind::Symlink => {
                    if size > 4096 {
                        fail!(
                            "{}: a symbolic link of {size} bytes in commit {commit}; not a link git would write",
                            entry.display()
                        );
                    }
                    let target = read_exact_vec(&mut reader, size, &path)?;
                    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &path)
                        .map_err(|e| Error::io(&path, e))?;
                }
                EntryKind::File | EntryKind::Executable => {
                    let mut file = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path)
                        .map_err(|e| Error::io(&path, e))?;
                    if size <= LFS_POINTER_MAX {
                        let bytes = read_exact_vec(&mut reader, size, &path)?;
                        if is_lfs_pointer(&bytes) {
                            found.lfs_pointers.push(entry.display());
                        }
                        file.write_all(&bytes).map_err(|e| Error::io(&path, e))?;
                    } else {
                        let copied = std::io::copy(&mut (&mut reader).take(size as u64), &mut file)
                            .map_err(|e| Error::io(&path, e))?;
                        if copied != size as u64 {
                            fail!("git cat-file ended inside {}", entry.display());
                        }
                    }
                    let mode = if entry.kind == EntryKind::Executable {
                        0o755
                    } else {
                        0o644
                    };
                    file.set_permissions(std::fs::Permissions::from_mode(mode))
                        .map_err(|e| Error::io(&path, e))?;
                }
                EntryKind::Gitlink => unreachable!("gitlinks have no blob"),
            }
            let mut newline = [0u8; 1];
            reader
                .read_exact(&mut newline)
                .map_err(|e| Error::io(&path, e))?;
        }
        let mut stream = reader.into_inner();
        std::io::copy(&mut stream, &mut std::io::sink()).map_err(|e| Error::io(repo, e))?;
        stream.finish()?;
        let time = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(u64::try_from(epoch).unwrap_or(0));
        normalise_modes_and_times(dest, time)?;
        Ok(found)
    }
}

/// `git -c` settings for a clone: no transport but these four, whatever the user's config says.
pub const CLONE_PROTOCOLS: &[&str] = &[
    "protocol.allow=never",
    "protocol.file.allow=always",
    "protocol.https.allow=always",
    "protocol.ssh.allow=always",
    "protocol.git.allow=always",
];

/// A pointer file is at most a few hundred bytes; Git LFS itself reads at most 1024.
const LFS_POINTER_MAX: usize = 1024;

fn is_lfs_pointer(bytes: &[u8]) -> bool {
    (bytes.starts_with(b"version https://git-lfs.github.com/spec/")
        || bytes.starts_with(b"version https://hawser.github.com/spec/"))
        && bytes.windows(12).any(|w| w == b"\noid sha256:")
}

/// What a materialised commit holds that its image will not get whole.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Materialised {
    /// Gitlinks (submodules): their content is in another repository; written as empty directories.
    pub submodules: Vec<String>,
    /// Git LFS pointer files: written as the pointer text, not the content it names.
    pub lfs_pointers: Vec<String>,
}

impl Materialised {
    /// One warning line per kind, naming the paths (the first ten).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.submodules.is_empty() {
            out.push(format!(
                "submodules are not part of the commit's files and are built as empty directories: {}; vendor their files, or COPY them from an image pinned by digest",
                list_names(&self.submodules)
            ));
        }
        if !self.lfs_pointers.is_empty() {
            out.push(format!(
                "Git LFS files are built as their pointer text, not their content: {}; commit the files themselves, or fetch them in the Dockerfile by a pinned URL and checksum",
                list_names(&self.lfs_pointers)
            ));
        }
        out
    }
}

/// Names for a one-line message: control characters escaped, the first ten, then a count.
pub fn list_names(names: &[String]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(10)
        .map(|n| crate::error::clip(&crate::ui::escape(n)))
        .collect();
    let more = names.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    File,
    Executable,
    Symlink,
    Gitlink,
}

#[derive(Debug)]
struct Entry {
    kind: EntryKind,
    oid: String,
    /// Raw bytes of the path, `/`-separated, each component checked.
    path: Vec<u8>,
}

impl Entry {
    fn display(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Parses `git ls-tree -r -z` output, refusing paths git itself would never write
/// (`.`, `..`, empty components), which only a hand-crafted tree can hold.
fn parse_ls_tree(output: &[u8]) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for record in output.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let bad = || {
            Error::Failed(format!(
                "git ls-tree printed {}",
                crate::error::clip(&String::from_utf8_lossy(record))
            ))
        };
        let tab = record.iter().position(|b| *b == b'\t').ok_or_else(bad)?;
        let head = std::str::from_utf8(&record[..tab]).map_err(|_| bad())?;
        let path = record[tab + 1..].to_vec();
        let mut parts = head.split(' ');
        let (Some(mode), Some(_kind), Some(oid)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let kind = match mode {
            "100644" | "100664" => EntryKind::File,
            "100755" => EntryKind::Executable,
            "120000" => EntryKind::Symlink,
            "160000" => EntryKind::Gitlink,
            other => fail!(
                "{}: unknown mode {other} in the commit's tree",
                String::from_utf8_lossy(&path)
            ),
        };
        if !oid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        if path
            .split(|b| *b == b'/')
            .any(|c| c.is_empty() || c == b"." || c == b"..")
        {
            fail!(
                "the commit's tree holds the path {:?}, which git never writes (an empty, `.` or `..` component); refusing to materialise it",
                crate::error::clip(&String::from_utf8_lossy(&path))
            );
        }
        entries.push(Entry {
            kind,
            oid: oid.to_string(),
            path,
        });
    }
    Ok(entries)
}

/// Creates the directories above `rel` under `dest`, each one new (never through a link or a
/// file already written), and returns where `rel` goes.
fn make_parents(
    dest: &Path,
    rel: &[u8],
    made: &mut std::collections::HashSet<PathBuf>,
) -> Result<PathBuf> {
    let mut path = dest.to_path_buf();
    let mut components = rel.split(|b| *b == b'/').peekable();
    while let Some(component) = components.next() {
        path.push(std::ffi::OsStr::from_bytes(component));
        if components.peek().is_some() && !made.contains(&path) {
            std::fs::create_dir(&path).map_err(|e| {
                Error::Failed(format!(
                    "{}: cannot create the directory of {} ({e}); the commit's tree is malformed",
                    path.display(),
                    String::from_utf8_lossy(rel)
                ))
            })?;
            made.insert(path.clone());
        }
    }
    Ok(path)
}

/// Reads `<oid> blob <size>\n` from `git cat-file --batch`; the blob's size.
fn read_batch_header(reader: &mut impl std::io::BufRead, oid: &str) -> Result<usize> {
    let mut line = Vec::new();
    reader
        .take(256)
        .read_until(b'\n', &mut line)
        .map_err(|e| Error::Failed(format!("reading git cat-file: {e}")))?;
    let text = String::from_utf8_lossy(&line);
    let mut parts = text.trim_end().split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(got), Some("blob"), Some(size)) if got == oid => size
            .parse()
            .map_err(|_| Error::Failed(format!("git cat-file printed {text:?}"))),
        _ => fail!(
            "object {oid} of the commit cannot be read (git cat-file printed {:?}); the repository is incomplete or corrupt (`git fsck`)",
            crate::error::clip(text.trim_end())
        ),
    }
}

fn read_exact_vec(reader: &mut impl Read, size: usize, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = vec![0u8; size];
    reader
        .read_exact(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

fn normalise_modes_and_times(dir: &Path, time: std::time::SystemTime) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
        if meta.is_symlink() {
            // A link's own time needs lutimes; the clamp after the build sets it in the image.
            continue;
        } else if meta.is_dir() {
            normalise_modes_and_times(&path, time)?;
        } else {
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| Error::io(&path, e))?;
            set_time(&path, time)?;
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(dir, e))?;
    // Last: writing its entries changed the directory's own time.
    set_time(dir, time)
}

fn set_time(path: &Path, time: std::time::SystemTime) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(time))
        .map_err(|e| Error::io(path, e))
}

/// Paths named by `git status --porcelain=v1 -z`: tracked changes (renames name both sides),
/// and untracked files (`??`).
pub fn parse_porcelain(output: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut files = Vec::new();
    let mut untracked = Vec::new();
    let mut records = output.split(|b| *b == 0).filter(|r| !r.is_empty());
    while let Some(record) = records.next() {
        if record.len() < 4 {
            continue;
        }
        let status = &record[..2];
        let path = String::from_utf8_lossy(&record[3..]).into_owned();
        if status == b"??" {
            untracked.push(path);
            continue;
        }
        files.push(path);
        if status.contains(&b'R') || status.contains(&b'C') {
            if let Some(from) = records.next() {
                files.push(String::from_utf8_lossy(from).into_owned());
            }
        }
    }
    files.sort();
    files.dedup();
    untracked.sort();
    (files, untracked)
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

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=T", "-c", "user.email=t@example.org"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A repository whose own .gitattributes and config would rewrite files on checkout.
    fn converting_repo() -> (tempfile::TempDir, String) {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, &["init", "-q"]);
        let files: &[(&str, &[u8])] = &[
            (".gitattributes", b"* text eol=crlf\n*.dat filter=upper\n*.id ident\nexport.txt export-subst export-ignore\n"),
            ("Dockerfile", b"FROM scratch\nCOPY . /\n"),
            ("data.dat", b"lower case\n"),
            ("stamp.id", b"$Id$\n"),
            ("export.txt", b"$Format:%H$\n"),
            ("big.bin", &[b'x'; 5000]),
            ("model.bin", b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n"),
            ("run.sh", b"#!/bin/sh\n"),
        ];
        for (name, bytes) in files {
            std::fs::write(repo.join(name), bytes).unwrap();
        }
        std::fs::set_permissions(repo.join("run.sh"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        std::os::unix::fs::symlink("Dockerfile", repo.join("link")).unwrap();
        git(&repo, &["add", "-A"]);
        git(
            &repo,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{},vendor/lib", "1".repeat(40)),
            ],
        );
        git(&repo, &["commit", "-q", "-m", "files"]);
        // The reviewer's settings: every conversion git offers, on.
        for (key, value) in [
            ("core.autocrlf", "true"),
            ("core.eol", "crlf"),
            ("filter.upper.smudge", "tr a-z A-Z"),
            ("filter.upper.clean", "cat"),
            ("filter.upper.required", "true"),
        ] {
            git(&repo, &["config", key, value]);
        }
        let commit = git(&repo, &["rev-parse", "HEAD"]);
        (tmp, commit)
    }

    #[test]
    fn materialise_writes_the_committed_bytes_whatever_the_attributes_and_config() {
        let (tmp, commit) = converting_repo();
        let repo = tmp.path().join("repo");
        let dest = tmp.path().join("out");
        let found = Git::new()
            .unwrap()
            .materialise(&repo, &commit, &dest, 1_714_564_800)
            .unwrap();
        for name in [
            ".gitattributes",
            "Dockerfile",
            "data.dat",
            "stamp.id",
            "export.txt",
            "big.bin",
            "model.bin",
            "run.sh",
        ] {
            let committed = std::process::Command::new("git")
                .args(["cat-file", "blob", &format!("{commit}:{name}")])
                .current_dir(&repo)
                .output()
                .unwrap()
                .stdout;
            assert_eq!(std::fs::read(dest.join(name)).unwrap(), committed, "{name}");
        }
        let mode = |p: &str| {
            std::fs::metadata(dest.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("run.sh"), 0o755);
        assert_eq!(mode("Dockerfile"), 0o644);
        // Every file and directory carries the epoch, to the nanosecond, not the time it was
        // written.
        let epoch = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_714_564_800);
        for path in ["run.sh", "Dockerfile", "vendor", "vendor/lib", ""] {
            let time = std::fs::metadata(dest.join(path))
                .unwrap()
                .modified()
                .unwrap();
            assert_eq!(time, epoch, "{path:?}");
        }
        assert_eq!(
            std::fs::read_link(dest.join("link")).unwrap(),
            Path::new("Dockerfile")
        );
        assert!(dest.join("vendor/lib").is_dir());
        assert_eq!(
            std::fs::read_dir(dest.join("vendor/lib")).unwrap().count(),
            0
        );
        assert!(!dest.join(".git").exists());
        assert_eq!(found.submodules, ["vendor/lib"]);
        assert_eq!(found.lfs_pointers, ["model.bin"]);
        let warnings = found.warnings().join("\n");
        assert!(
            warnings.contains("submodules") && warnings.contains("vendor/lib"),
            "{warnings}"
        );
        assert!(
            warnings.contains("Git LFS") && warnings.contains("model.bin"),
            "{warnings}"
        );
    }

    #[test]
    fn trees_git_would_never_write_are_refused() {
        for path in [&b"a/../b"[..], b"./x", b"a//b", b".."] {
            let mut record = b"100644 blob ".to_vec();
            record.extend("e".repeat(40).as_bytes());
            record.push(b'\t');
            record.extend(path);
            record.push(0);
            let err = parse_ls_tree(&record).unwrap_err().to_string();
            assert!(err.contains("git never writes"), "{err}");
        }
        let names: Vec<String> = (0..12).map(|i| format!("f{i}\n")).collect();
        let listed = list_names(&names);
        assert!(
            !listed.contains('\n') && listed.ends_with("and 2 more"),
            "{listed}"
        );
    }

    #[test]
    fn porcelain_names_modified_untracked_and_renamed() {
        let out = b" M src/a.py\0?? notes.txt\0R  new.py\0old.py\0?? a b\0";
        let (changed, untracked) = parse_porcelain(out);
        assert_eq!(changed, ["new.py", "old.py", "src/a.py"]);
        assert_eq!(untracked, ["a b", "notes.txt"]);
        assert_eq!(parse_porcelain(b""), (vec![], vec![]));
    }
}
