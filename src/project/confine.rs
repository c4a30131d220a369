//! Every path a lock, `repro.toml` or a flag names must stay inside the committed source.
//!
//! A repository can commit a symbolic link: `ctx -> /home/reviewer`, `docker -> /etc`, a
//! `Dockerfile -> ~/.ssh/config`. Joined naively to the checkout, such a path sends the files of
//! whoever builds it into the build (BuildKit copies a context directory it is given, wherever
//! it is) or into docker repro's own reads (a Dockerfile is read, hashed and parsed here before
//! BuildKit sees it). So each path is resolved here, link by link, and refused unless it ends
//! inside the checkout. Links *inside* a context are left alone: BuildKit sends them as links
//! and never follows them out of the context.

use std::collections::VecDeque;
use std::path::{Component, Path, PathBuf};

use crate::error::{clip, Error, Result};
use crate::ui::escape;

/// More links than this on one path is a loop (Linux gives up at 40 too).
const MAX_LINKS: usize = 40;

/// Resolves `rel` from the directory `from` (`root` or a directory inside it), following every
/// symbolic link on the way (and on the way of their targets), and returns the resolved path
/// when it is inside `root`. A path that does not exist is resolved as far as it can be; the
/// caller reports it missing. `what` names the path for the message (`the lock's
/// build.context`, `the Dockerfile`).
pub fn confine(root: &Path, from: &Path, rel: &Path, what: &str) -> Result<PathBuf> {
    let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
    let from = from.canonicalize().map_err(|e| Error::io(from, e))?;
    let (resolved, links) = resolve(&from, rel)?;
    if resolved.starts_with(&root) {
        return Ok(resolved);
    }
    let through: Vec<String> = links
        .iter()
        .take(4)
        .map(|(link, target)| {
            let link = link.strip_prefix(&root).unwrap_or(link);
            format!("{} -> {}", show(link), show(target))
        })
        .collect();
    Err(Error::Failed(format!(
        "{what} {:?} resolves to {}, outside the committed source{}; a build reads only the commit's files: commit the files themselves instead of a link out of the repository",
        clip(&escape(&rel.to_string_lossy())),
        show(&resolved),
        if through.is_empty() {
            String::new()
        } else {
            format!(" (through the link {})", through.join(", "))
        }
    )))
}

fn show(path: &Path) -> String {
    clip(&escape(&path.to_string_lossy()))
}

/// Walks `rel` from `root` one component at a time, replacing each link by its target. Returns
/// the path reached and the links followed (where each was, what it said).
fn resolve(root: &Path, rel: &Path) -> Result<(PathBuf, Vec<(PathBuf, PathBuf)>)> {
    let mut pending: VecDeque<PathBuf> = components(rel);
    let mut current = root.to_path_buf();
    let mut links = Vec::new();
    while let Some(part) = pending.pop_front() {
        match part.components().next() {
            Some(Component::RootDir) => current = PathBuf::from("/"),
            Some(Component::ParentDir) => {
                current.pop();
            }
            Some(Component::Normal(name)) => {
                let next = current.join(name);
                match std::fs::symlink_metadata(&next) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        if links.len() >= MAX_LINKS {
                            return Err(Error::Failed(format!(
                                "{}: more than {MAX_LINKS} symbolic links in a row (a loop)",
                                show(&next)
                            )));
                        }
                        let target = std::fs::read_link(&next).map_err(|e| Error::io(&next, e))?;
                        for (i, c) in components(&target).into_iter().enumerate() {
                            pending.insert(i, c);
                        }
                        links.push((next, target));
                    }
                    _ => current = next,
                }
            }
            _ => {}
        }
    }
    Ok((current, links))
}

/// The components of `path` as owned one-component paths, `/` first for an absolute path.
fn components(path: &Path) -> VecDeque<PathBuf> {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir | Component::Prefix(_)))
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("checkout");
        let outside = tmp.path().join("host");
        std::fs::create_dir_all(root.join("docker")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("docker/Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(outside.join("secret"), "private\n").unwrap();
        (tmp, root, outside)
    }

    #[test]
    fn paths_inside_resolve_through_inside_links() {
        let (_tmp, root, _) = tree();
        symlink("docker", root.join("d")).unwrap();
        symlink("../docker/Dockerfile", root.join("docker/link")).unwrap();
        let real = root.canonicalize().unwrap();
        assert_eq!(
            confine(&root, &root, Path::new("d/link"), "--file").unwrap(),
            real.join("docker/Dockerfile")
        );
        assert_eq!(
            confine(&root, &root, Path::new("."), "--context").unwrap(),
            real
        );
        // Missing paths resolve as far as they go; the caller says they are missing.
        assert_eq!(
            confine(&root, &root, Path::new("d/nothing"), "--file").unwrap(),
            real.join("docker/nothing")
        );
    }

    #[test]
    fn links_out_of_the_root_are_refused_naming_the_path_and_its_target() {
        let (_tmp, root, outside) = tree();
        symlink(&outside, root.join("ctx")).unwrap();
        symlink(outside.join("secret"), root.join("Dockerfile")).unwrap();
        symlink("../../host/secret", root.join("docker/rel")).unwrap();
        symlink("ctx", root.join("chain")).unwrap();
        symlink("/nonexistent/dir", root.join("dangling")).unwrap();
        let real_outside = outside.canonicalize().unwrap();
        for (rel, resolved) in [
            ("ctx", real_outside.clone()),
            ("ctx/sub", real_outside.join("sub")),
            ("Dockerfile", real_outside.join("secret")),
            ("docker/rel", real_outside.join("secret")),
            ("chain", real_outside.clone()),
            ("dangling", PathBuf::from("/nonexistent/dir")),
        ] {
            let err = confine(&root, &root, Path::new(rel), "build.context")
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!(
                    "build.context {rel:?} resolves to {}, outside the committed source",
                    resolved.display()
                )),
                "{err}"
            );
            assert!(err.contains("through the link"), "{err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn link_loops_end() {
        let (_tmp, root, _) = tree();
        symlink("b", root.join("a")).unwrap();
        symlink("a", root.join("b")).unwrap();
        let err = confine(&root, &root, Path::new("a"), "--file")
            .unwrap_err()
            .to_string();
        assert!(err.contains("a loop"), "{err}");
    }
}
