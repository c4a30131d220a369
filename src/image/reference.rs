//! Image references: the one place that knows Docker Hub's implicit parts, what the
//! repository of a reference is, and which names docker accepts.

use std::path::Path;

use crate::error::{Error, Result};

pub mod grammar;

/// An image reference, `[registry/]repository[:tag][@digest]`, split once: every question
/// about a reference (its repository, its normalised form, its pinned form, whether it names
/// a registry someone else can pull from) is a method of this one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'a> {
    /// The name as written, without tag and digest (`127.0.0.1:5000/a/b`, `ubuntu`).
    name: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl<'a> Reference<'a> {
    /// Splits a reference without judging it (a registry's port is not a tag). For names from
    /// a Dockerfile or a user, [`Reference::parse`] checks them as BuildKit does first.
    pub fn split(reference: &'a str) -> Reference<'a> {
        let (name, digest) = reference
            .split_once('@')
            .map_or((reference, None), |(n, d)| (n, Some(d)));
        let (name, tag) = match name.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
            _ => (name, None),
        };
        Reference { name, tag, digest }
    }

    /// A reference BuildKit accepts (distribution/reference's grammar), split.
    pub fn parse(reference: &'a str) -> std::result::Result<Reference<'a>, String> {
        grammar::check(reference)?;
        Ok(Reference::split(reference))
    }

    /// The repository as written: without tag and digest.
    pub fn repository(&self) -> &'a str {
        self.name
    }

    /// Whether the name starts with a registry host (`ghcr.io/…`, `127.0.0.1:5000/…`,
    /// `localhost/…`), rather than meaning Docker Hub implicitly.
    pub fn has_registry(&self) -> bool {
        let first = self.name.split('/').next().unwrap_or("");
        self.name.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost")
    }

    /// `repository@digest`: the reference that names exactly one image.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}@{digest}", self.name)
    }

    /// With Docker Hub's implicit parts, so that `ubuntu` and
    /// `docker.io/library/ubuntu:latest` compare equal. Digests are kept.
    pub fn normalised(&self) -> String {
        let name = match (self.has_registry(), self.name.contains('/')) {
            (true, _) => self.name.to_string(),
            (false, true) => format!("docker.io/{}", self.name),
            (false, false) => format!("docker.io/library/{}", self.name),
        };
        let tag = match (self.tag, self.digest) {
            (Some(t), _) => format!(":{t}"),
            (None, Some(_)) => String::new(),
            (None, None) => ":latest".into(),
        };
        let digest = self.digest.map(|d| format!("@{d}")).unwrap_or_default();
        format!("{name}{tag}{digest}")
    }
}

/// The repository of a reference: [`Reference::repository`].
pub fn repository(reference: &str) -> &str {
    Reference::split(reference).repository()
}

/// `repository@digest`: [`Reference::pinned`].
pub fn pinned(reference: &str, digest: &str) -> String {
    Reference::split(reference).pinned(digest)
}

/// [`Reference::normalised`].
pub fn normalise_ref(reference: &str) -> String {
    Reference::split(reference).normalised()
}

/// `[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*`: one path component of docker's reference grammar.
pub fn is_path_component(word: &str) -> bool {
    let mut separator = String::new();
    let mut seen_alnum = false;
    for c in word.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            let ok = matches!(separator.as_str(), "" | "." | "_" | "__")
                || separator.bytes().all(|b| b == b'-');
            if !ok {
                return false;
            }
            separator.clear();
            seen_alnum = true;
        } else if "._-".contains(c) && seen_alnum {
            separator.push(c);
        } else {
            return false;
        }
    }
    seen_alnum && separator.is_empty()
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

/// An image reference a lock names, checked by [`check_ref`] when it is read (serde), so that
/// it can never become another docker option; [`Reference::split`] answers the rest.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef(String);

impl TryFrom<String> for ImageRef {
    type Error = String;

    fn try_from(value: String) -> std::result::Result<ImageRef, String> {
        check_ref("", &value).map(|()| ImageRef(value))
    }
}

impl From<ImageRef> for String {
    fn from(reference: ImageRef) -> String {
        reference.0
    }
}

impl std::ops::Deref for ImageRef {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<String> for ImageRef {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<str> for ImageRef {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<ImageRef> for String {
    fn eq(&self, other: &ImageRef) -> bool {
        *self == other.0
    }
}

impl PartialEq<&str> for ImageRef {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::borrow::Borrow<str> for ImageRef {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ImageRef {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl ImageRef {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The reference split into its parts, to ask what its repository, tag or registry is.
    pub fn split(&self) -> Reference<'_> {
        Reference::split(&self.0)
    }
}

/// For tests' literals: a value that is none panics.
#[cfg(test)]
impl From<&str> for ImageRef {
    fn from(value: &str) -> ImageRef {
        ImageRef::try_from(value.to_string()).expect("a valid test reference")
    }
}

pub fn check_user_ref(what: &str, value: &str) -> Result<()> {
    check_ref(what, value).map_err(Error::Usage)
}

/// A reference that will be passed to docker: a word (not empty, no leading `-`, no whitespace
/// or control character) of the characters a reference has.
pub fn check_ref(key: &str, value: &str) -> std::result::Result<(), String> {
    let word = !value.is_empty()
        && !value.starts_with('-')
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if !word {
        return Err(format!(
            "{} is not allowed (empty, leading `-`, whitespace or control character)",
            crate::error::named(key, value)
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-/:@+".contains(c);
    if value.chars().all(allowed) {
        Ok(())
    } else {
        Err(format!(
            "{} is not an image reference",
            crate::error::named(key, value)
        ))
    }
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
    fn a_reference_is_split_once_and_answers_every_question() {
        let r = Reference::parse("127.0.0.1:5000/lab/paper:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000").unwrap();
        assert_eq!(r.repository(), "127.0.0.1:5000/lab/paper");
        assert_eq!(r.tag, Some("v1"));
        assert!(r.digest.is_some_and(|d| d.starts_with("sha256:0000")));
        assert!(r.has_registry());
        assert_eq!(r.pinned("sha256:ab"), "127.0.0.1:5000/lab/paper@sha256:ab");
        let hub = Reference::parse("nvidia/cuda:12.1.0-devel-ubuntu22.04").unwrap();
        assert!(!hub.has_registry());
        assert_eq!(
            hub.normalised(),
            "docker.io/nvidia/cuda:12.1.0-devel-ubuntu22.04"
        );
        assert!(Reference::split("localhost/a").has_registry());
        // What BuildKit refuses, parse refuses with its reason; split never judges.
        assert!(Reference::parse("Ubuntu:22.04")
            .unwrap_err()
            .contains("must be lowercase"));
        assert_eq!(Reference::split("Ubuntu:22.04").repository(), "Ubuntu");
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
