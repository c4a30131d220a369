//! Image references: the one place that knows Docker Hub's implicit parts, what the
//! repository of a reference is, and which names docker accepts.

use std::path::Path;

use crate::error::{Error, Result};
use crate::lock;

/// The repository of a reference: without its tag and digest (`127.0.0.1:5000/a/b:1` →
/// `127.0.0.1:5000/a/b`; a registry's port is not a tag).
pub fn repository(reference: &str) -> &str {
    let name = reference.split_once('@').map_or(reference, |(n, _)| n);
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    }
}

/// `repository@digest`: the reference that names exactly one image.
pub fn pinned(reference: &str, digest: &str) -> String {
    format!("{}@{digest}", repository(reference))
}

/// Adds Docker Hub's implicit parts so that `ubuntu` and `docker.io/library/ubuntu:latest`
/// compare equal. Digests are kept.
pub fn normalise_ref(reference: &str) -> String {
    let (name, digest) = reference
        .split_once('@')
        .map_or((reference, None), |(n, d)| (n, Some(d)));
    let last = name.rsplit('/').next().unwrap_or(name);
    let (name, tag) = match last.rsplit_once(':') {
        Some((_, tag)) => (&name[..name.len() - tag.len() - 1], Some(tag)),
        None => (name, None),
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let name = match (has_registry, name.contains('/')) {
        (true, _) => name.to_string(),
        (false, true) => format!("docker.io/{name}"),
        (false, false) => format!("docker.io/library/{name}"),
    };
    let tag = match (tag, digest) {
        (Some(t), _) => format!(":{t}"),
        (None, Some(_)) => String::new(),
        (None, None) => ":latest".into(),
    };
    let digest = digest.map(|d| format!("@{d}")).unwrap_or_default();
    format!("{name}{tag}{digest}")
}

/// A repository name docker accepts, from a directory name.
pub fn image_name_from_dir(dir: &Path) -> String {
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if name.is_empty() {
        "release".into()
    } else {
        name
    }
}

pub fn check_user_ref(what: &str, value: &str) -> Result<()> {
    lock::check_ref(what, value).map_err(Error::Usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_and_pinned_references() {
        assert_eq!(repository("curvenet:abc"), "curvenet");
        assert_eq!(repository("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000/a/b");
        assert_eq!(repository("127.0.0.1:5000/a/b"), "127.0.0.1:5000/a/b");
        assert_eq!(repository("ghcr.io/a/b:1@sha256:00"), "ghcr.io/a/b");
        assert_eq!(pinned("lab/x:1", "sha256:ab"), "lab/x@sha256:ab");
    }

    #[test]
    fn refs_normalise_like_docker() {
        assert_eq!(normalise_ref("ubuntu"), "docker.io/library/ubuntu:latest");
        assert_eq!(
            normalise_ref("curvenet:base"),
            "docker.io/library/curvenet:base"
        );
        assert_eq!(normalise_ref("lab/x:1"), "docker.io/lab/x:1");
        assert_eq!(
            normalise_ref("127.0.0.1:5000/a/b:1"),
            "127.0.0.1:5000/a/b:1"
        );
        assert_eq!(normalise_ref("localhost/a"), "localhost/a:latest");
        assert_eq!(
            normalise_ref("ghcr.io/a/b@sha256:00"),
            "ghcr.io/a/b@sha256:00"
        );
    }

    #[test]
    fn image_names_from_directories() {
        assert_eq!(
            image_name_from_dir(Path::new("/home/u/CurveNet_v2")),
            "curvenet_v2"
        );
        assert_eq!(image_name_from_dir(Path::new("/p/My Paper!")), "my-paper");
        assert_eq!(image_name_from_dir(Path::new("/")), "release");
    }
}
