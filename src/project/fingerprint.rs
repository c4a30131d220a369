//! A base image named by its inputs: a sha256 over a canonical list of everything that decides
//! what the base Dockerfile builds, so that a release can tell that the base it would build is
//! the one it built before, and keep it. Pure: it reads files, never starts a process, so the
//! same tree and settings give the same fingerprint on any machine. The list and its encoding
//! are in the README ("The base's fingerprint"); [`canonical_list`] is the reference.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dockerfile::sources::{context_sources, ContextSources};
use crate::lock::{Base, Compression, LayerEncoder, Timestamps};

/// The first line of the canonical list: a change to the list's contents or encoding changes
/// it, so that no two versions of the list can give one fingerprint.
pub const LIST_VERSION: &str = "docker-repro base fingerprint 1";

/// How many hex digits of the fingerprint the base's immutable tag carries: 48 bits, so two
/// different bases of one project sharing a tag is not a practical worry.
pub const TAG_HEX: usize = 12;

/// `sha256:<64 lowercase hex>`: the fingerprint of a base's inputs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex digits after `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The base's immutable tag, `base-<first 12 hex digits>`: it names these inputs only,
    /// so a registry's clean-up of untagged images never deletes a paper's base, and it is
    /// never moved to another base by a later release.
    pub fn tag(&self) -> String {
        format!("base-{}", &self.hex()[..TAG_HEX])
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        let hex = value.strip_prefix("sha256:").unwrap_or("");
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Fingerprint(value))
        } else {
            Err(format!(
                "{} is not a base fingerprint (sha256: and 64 lowercase hex digits); release again to write a new one",
                crate::error::quote(&value)
            ))
        }
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        f.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything a base build depends on besides the builder and its epoch.
#[derive(Debug, Clone)]
pub struct BaseInputs<'a> {
    /// The base Dockerfile.
    pub dockerfile: &'a Path,
    /// The build context directory.
    pub context: &'a Path,
    pub args: &'a BTreeMap<String, String>,
    /// Ids only: a secret's value is never an input of the fingerprint (nor of the lock).
    pub secrets: &'a [String],
    pub ssh: &'a [String],
    pub network: &'a str,
    pub add_hosts: &'a [String],
    pub shm_size: &'a str,
    pub ulimits: &'a [String],
    /// Named contexts as the lock records them (`docker-image://REF@DIGEST`, or a directory).
    pub contexts: &'a BTreeMap<String, String>,
    /// The directories of the named contexts that are directories, by name, resolved: their
    /// files are inputs too.
    pub context_dirs: &'a BTreeMap<String, PathBuf>,
    /// The external images the base Dockerfile names, pinned (every platform's entry).
    pub images: &'a [Base],
    pub platform: &'a str,
    pub compression: Compression,
    pub timestamps: Timestamps,
    /// Listed only when it is not the single-stream encoder, so that the fingerprints of bases
    /// cut before the key existed stay as they were.
    pub layer_encoder: LayerEncoder,
}

/// Why a fingerprint could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Dockerfile { path: PathBuf, message: String },
    /// A COPY or ADD source that names no file of the context BuildKit would be sent.
    #[error("the base Dockerfile copies {source_path}, which is not in its build context (not committed, or left out by .dockerignore); commit it (git add), or take it out of the Dockerfile")]
    Missing { source_path: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FingerprintError + '_ {
    move |source| FingerprintError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The fingerprint of a base: the sha256 of [`canonical_list`].
pub fn fingerprint(inputs: &BaseInputs) -> Result<Fingerprint, FingerprintError> {
    let list = canonical_list(inputs)?;
    Ok(Fingerprint(format!(
        "sha256:{:x}",
        Sha256::digest(list.as_bytes())
    )))
}

/// The canonical list of a base's inputs, one per line, in this order: the list's version;
/// the Dockerfile; the `.dockerignore` BuildKit applies; every context file the Dockerfile's
/// COPY and ADD read (the whole context when that cannot be told), sorted by path; build
/// arguments; secret ids; SSH ids; network; add-hosts; shm size; ulimits; named contexts (and
/// the files of those that are directories); external images; platforms; compression;
/// timestamps; the layer encoder (unless single-stream). Strings are written as JSON strings.
pub fn canonical_list(inputs: &BaseInputs) -> Result<String, FingerprintError> {
    let mut out = String::new();
    let mut line = |words: &[&str]| {
        out.push_str(&words.join(" "));
        out.push('\n');
    };
    line(&[LIST_VERSION]);
    let dockerfile = std::fs::read(inputs.dockerfile).map_err(io(inputs.dockerfile))?;
    line(&["dockerfile", &sha256(&dockerfile)]);

    let sources = context_sources(&dockerfile).map_err(|message| FingerprintError::Dockerfile {
        path: inputs.dockerfile.to_path_buf(),
        message,
    })?;
    let (ignore_name, ignore_file) = dockerignore(inputs.dockerfile, inputs.context);
    let ignore_text = match &ignore_file {
        Some(path) => Some(std::fs::read(path).map_err(io(path))?),
        None => None,
    };
    match &ignore_text {
        Some(text) => line(&["dockerignore", &json(&ignore_name), &sha256(text)]),
        None => line(&["dockerignore", "none"]),
    }
    let ignore = Ignore::parse(&String::from_utf8_lossy(
        ignore_text.as_deref().unwrap_or_default(),
    ));
    let wanted: Option<Vec<Regex>> = match &sources {
        ContextSources::Whole => None,
        ContextSources::Paths(paths) => Some(paths.iter().filter_map(|p| glob(p)).collect()),
    };
    let sent: Vec<Entry> = walk(inputs.context)?
        .into_iter()
        .filter(|entry| !ignore.excludes(&entry.path))
        .collect();
    // BuildKit refuses a COPY of a named file that is not there (a pattern may match none).
    if let ContextSources::Paths(paths) = &sources {
        let literal = |p: &&String| !p.contains(['*', '?', '[']);
        if let Some(missing) = paths
            .iter()
            .filter(literal)
            .find(|p| !sent.iter().any(|e| e.path == **p))
        {
            return Err(FingerprintError::Missing {
                source_path: missing.clone(),
            });
        }
    }
    for entry in sent {
        if let Some(wanted) = &wanted {
            if !wanted.iter().any(|re| matches_or_parent(re, &entry.path)) {
                continue;
            }
        }
        let words = entry.words();
        line(&words.iter().map(String::as_str).collect::<Vec<_>>());
    }

    for (key, value) in inputs.args {
        line(&["arg", &json(key), &json(value)]);
    }
    let mut sorted = |kind: &str, values: &[String]| {
        let mut values = values.to_vec();
        values.sort();
        for v in values {
            line(&[kind, &json(&v)]);
        }
    };
    sorted("secret", inputs.secrets);
    sorted("ssh", inputs.ssh);
    sorted("network", &[inputs.network.to_string()]);
    sorted("add-host", inputs.add_hosts);
    sorted("shm-size", &[inputs.shm_size.to_string()]);
    sorted("ulimit", inputs.ulimits);
    for (name, value) in inputs.contexts {
        line(&["context", &json(name), &json(value)]);
        if let Some(dir) = inputs.context_dirs.get(name) {
            let ignore = match std::fs::read(dir.join(".dockerignore")) {
                Ok(text) => Ignore::parse(&String::from_utf8_lossy(&text)),
                Err(_) => Ignore::default(),
            };
            for entry in walk(dir)? {
                if !ignore.excludes(&entry.path) {
                    let mut words = vec!["context-file".to_string(), json(name)];
                    words.extend(entry.words().iter().skip(1).map(|w| w.to_string()));
                    let words: Vec<&str> = words.iter().map(String::as_str).collect();
                    line(&words);
                }
            }
        }
    }
    let mut images: Vec<&Base> = inputs.images.iter().collect();
    images.sort();
    for image in images {
        line(&[
            "image",
            &json(&image.reference),
            &json(&crate::lock::platform_name(&image.platform)),
            &image.index_digest,
            &image.platform_digest,
        ]);
    }
    line(&["platform", &json(inputs.platform)]);
    line(&["compression", inputs.compression.as_str()]);
    let timestamps = match inputs.timestamps {
        Timestamps::RewriteTimestamp => "rewrite-timestamp",
        Timestamps::Clamped => "clamped",
        Timestamps::Encoded => "encoded",
    };
    line(&["timestamps", timestamps]);
    if !inputs.layer_encoder.is_single_stream() {
        line(&["layer-encoder", inputs.layer_encoder.as_str()]);
    }
    Ok(out)
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn json(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// The `.dockerignore` BuildKit applies to a build: `<Dockerfile>.dockerignore` beside the
/// Dockerfile when there is one, else the context's; its name for the list, and its path.
fn dockerignore(dockerfile: &Path, context: &Path) -> (String, Option<PathBuf>) {
    let mut own = dockerfile.as_os_str().to_owned();
    own.push(".dockerignore");
    let own = PathBuf::from(own);
    if own.is_file() {
        let name = own
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return (name, Some(own));
    }
    let shared = context.join(".dockerignore");
    if shared.is_file() {
        return (".dockerignore".into(), Some(shared));
    }
    (String::new(), None)
}

/// One entry of the build context: what COPY carries of it (type, permission bits, contents
/// or link target), never its owner or times (COPY sets the owner, the epoch sets the times).
struct Entry {
    path: String,
    kind: EntryKind,
}

enum EntryKind {
    File { mode: u32, sha256: String },
    Dir { mode: u32 },
    Link { target: String },
}

impl Entry {
    fn words(&self) -> Vec<String> {
        let path = json(&self.path);
        match &self.kind {
            EntryKind::File { mode, sha256 } => {
                vec!["file".into(), path, format!("{mode:04o}"), sha256.clone()]
            }
            EntryKind::Dir { mode } => vec!["dir".into(), path, format!("{mode:04o}")],
            EntryKind::Link { target } => vec!["link".into(), path, json(target)],
        }
    }
}

/// Every entry under `root` (links not followed), by path relative to it with `/`, sorted by
/// the path's bytes. `.git` at the top is left out: a release is built from a copy of the
/// commit, which has none, and the working tree's would change with every commit.
fn walk(root: &Path) -> Result<Vec<Entry>, FingerprintError> {
    let mut entries = Vec::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        for item in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let item = item.map_err(io(&dir))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if prefix.is_empty() && name == ".git" {
                continue;
            }
            let path = item.path();
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
            let mode = meta.permissions().mode() & 0o7777;
            let kind = if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).map_err(io(&path))?;
                EntryKind::Link {
                    target: target.to_string_lossy().into_owned(),
                }
            } else if meta.is_dir() {
                pending.push((path.clone(), relative.clone()));
                EntryKind::Dir { mode }
            } else if meta.is_file() {
                EntryKind::File {
                    mode,
                    sha256: hash_file(&path)?,
                }
            } else {
                // A socket or FIFO in the context: BuildKit sends none of its contents.
                continue;
            };
            entries.push(Entry {
                path: relative,
                kind,
            });
        }
    }
    entries.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(entries)
}

fn hash_file(path: &Path) -> Result<String, FingerprintError> {
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("sha256:{:x}", hasher.finalize()))
}

/// A `.dockerignore`'s rules as BuildKit applies them: each line a pattern (`#` comments and
/// blank lines skipped), the last rule that matches a path or one of its parents decides, and
/// `!` re-includes.
#[derive(Default)]
struct Ignore {
    rules: Vec<(bool, Regex)>,
}

impl Ignore {
    fn parse(text: &str) -> Ignore {
        let mut rules = Vec::new();
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (include, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pattern = clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            if let Some(re) = glob(&pattern) {
                rules.push((include, re));
            }
        }
        Ignore { rules }
    }

    fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for (include, re) in &self.rules {
            if matches_or_parent(re, path) {
                excluded = !include;
            }
        }
        excluded
    }
}

/// A pattern as Go's `filepath.Clean` leaves it, without a leading `/` or `./`.
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Whether `re` matches `path` or one of the directories above it (a matched directory
/// carries everything in it).
fn matches_or_parent(re: &Regex, path: &str) -> bool {
    if re.is_match(path) {
        return true;
    }
    path.match_indices('/')
        .any(|(at, _)| re.is_match(&path[..at]))
}

/// A glob as BuildKit's pattern matcher reads it: `*` and `?` within one path element, `**`
/// across elements, `[...]` a class, `\` an escape. `None` for a pattern that does not compile
/// (BuildKit refuses the build then, so nothing it would send is lost).
fn glob(pattern: &str) -> Option<Regex> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^");
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                if chars.get(i + 1) == Some(&'/') {
                    i += 1;
                    re.push_str("(?:.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let close = chars[i + 1..].iter().position(|c| *c == ']')? + i + 1;
                re.push('[');
                for (k, c) in chars[i + 1..close].iter().enumerate() {
                    match c {
                        '!' | '^' if k == 0 => re.push('^'),
                        '\\' | '[' | '&' | '~' | '-' if k == 0 => {
                            re.push('\\');
                            re.push(*c);
                        }
                        '\\' | '[' | '&' | '~' => {
                            re.push('\\');
                            re.push(*c);
                        }
                        other => re.push(*other),
                    }
                }
                re.push(']');
                i = close;
            }
            '\\' if i + 1 < chars.len() => {
                i += 1;
                re.push_str(&regex::escape(&chars[i].to_string()));
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
        i += 1;
    }
    re.push('$');
    Regex::new(&re).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tree(tempfile::TempDir);

    impl Tree {
        fn new(files: &[(&str, &str)]) -> Tree {
            let dir = tempfile::tempdir().unwrap();
            for (path, text) in files {
                let full = dir.path().join(path);
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(full, text).unwrap();
            }
            Tree(dir)
        }

        fn write(&self, path: &str, text: &str) {
            std::fs::write(self.0.path().join(path), text).unwrap();
        }

        fn fingerprint(&self, args: &BTreeMap<String, String>, secrets: &[String]) -> Fingerprint {
            let root = self.0.path();
            let dockerfile = root.join("docker/Dockerfile.base");
            fingerprint(&BaseInputs {
                dockerfile: &dockerfile,
                context: root,
                args,
                secrets,
                ssh: &[],
                network: "",
                add_hosts: &[],
                shm_size: "",
                ulimits: &[],
                contexts: &BTreeMap::new(),
                context_dirs: &BTreeMap::new(),
                images: &[],
                platform: "linux/amd64",
                compression: Compression::Gzip,
                timestamps: Timestamps::Encoded,
                layer_encoder: LayerEncoder::SingleStream,
            })
            .unwrap()
        }
    }

    const BASE: &str = "FROM python:3.12-slim\nCOPY requirements.txt /tmp/\nRUN pip install -r /tmp/requirements.txt\n";

    fn seed() -> Tree {
        Tree::new(&[
            ("docker/Dockerfile.base", BASE),
            ("requirements.txt", "numpy==2.1.0\n"),
            ("code/train.py", "print(1)\n"),
            (".dockerignore", ".git\n__pycache__\n"),
        ])
    }

    #[test]
    fn code_is_not_an_input_of_the_base_but_what_it_copies_is() {
        let tree = seed();
        let none = BTreeMap::new();
        let first = tree.fingerprint(&none, &[]);
        tree.write("code/train.py", "print(2)\n");
        std::fs::create_dir_all(tree.0.path().join("code/__pycache__")).unwrap();
        tree.write("code/__pycache__/train.pyc", "x");
        assert_eq!(tree.fingerprint(&none, &[]), first, "code changed only");
        tree.write("requirements.txt", "numpy==2.1.1\n");
        let second = tree.fingerprint(&none, &[]);
        assert_ne!(second, first, "requirements changed");
        tree.write("docker/Dockerfile.base", &format!("{BASE}RUN true\n"));
        assert_ne!(
            tree.fingerprint(&none, &[]),
            second,
            "the Dockerfile changed"
        );
    }

    #[test]
    fn arguments_and_secret_ids_are_inputs_and_secret_values_are_not_read() {
        let tree = seed();
        let none = BTreeMap::new();
        let plain = tree.fingerprint(&none, &[]);
        let args: BTreeMap<String, String> = [("PIP_INDEX_URL".into(), "http://m/".into())].into();
        assert_ne!(tree.fingerprint(&args, &[]), plain);
        assert_ne!(tree.fingerprint(&none, &["pip".into()]), plain);
        assert_eq!(
            tree.fingerprint(&none, &["a".into(), "b".into()]),
            tree.fingerprint(&none, &["b".into(), "a".into()]),
            "ids are a set"
        );
    }

    #[test]
    fn dockerignore_rules_decide_what_a_whole_context_copy_reads() {
        let tree = Tree::new(&[
            ("docker/Dockerfile.base", "FROM x\nCOPY . /src\n"),
            ("a.txt", "a"),
            ("logs/run.log", "1"),
            ("logs/keep.log", "k"),
            ("deep/x/cache.tmp", "t"),
            (".dockerignore", "logs\n!logs/keep.log\n**/*.tmp\n"),
        ]);
        let none = BTreeMap::new();
        let first = tree.fingerprint(&none, &[]);
        tree.write("logs/run.log", "2");
        tree.write("deep/x/cache.tmp", "u");
        assert_eq!(tree.fingerprint(&none, &[]), first, "ignored files changed");
        tree.write("logs/keep.log", "changed");
        assert_ne!(
            tree.fingerprint(&none, &[]),
            first,
            "a re-included file changed"
        );
    }

    #[test]
    fn the_list_names_each_input_once_in_its_documented_order() {
        let tree = seed();
        let root = tree.0.path();
        let dockerfile = root.join("docker/Dockerfile.base");
        let list = canonical_list(&BaseInputs {
            dockerfile: &dockerfile,
            context: root,
            args: &[("B".to_string(), "2".to_string())].into(),
            secrets: &["pip".into()],
            ssh: &[],
            network: "host",
            add_hosts: &[],
            shm_size: "",
            ulimits: &[],
            contexts: &BTreeMap::new(),
            context_dirs: &BTreeMap::new(),
            images: &[],
            platform: "linux/amd64",
            compression: Compression::Zstd,
            timestamps: Timestamps::Encoded,
            layer_encoder: LayerEncoder::Parallel1,
        })
        .unwrap();
        let kinds: Vec<&str> = list.lines().map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "docker-repro",
                "dockerfile",
                "dockerignore",
                "file",
                "arg",
                "secret",
                "network",
                "shm-size",
                "platform",
                "compression",
                "timestamps",
                "layer-encoder"
            ],
            "{list}"
        );
        assert!(
            list.contains("file \"requirements.txt\" 0644 sha256:"),
            "{list}"
        );
        assert!(list.contains("network \"host\"\n"), "{list}");
        assert!(list.ends_with("layer-encoder parallel/1\n"), "{list}");
    }

    #[test]
    fn a_copied_file_that_is_not_in_the_context_is_named() {
        let tree = Tree::new(&[("docker/Dockerfile.base", BASE)]);
        let root = tree.0.path();
        let dockerfile = root.join("docker/Dockerfile.base");
        let err = fingerprint(&BaseInputs {
            dockerfile: &dockerfile,
            context: root,
            args: &BTreeMap::new(),
            secrets: &[],
            ssh: &[],
            network: "",
            add_hosts: &[],
            shm_size: "",
            ulimits: &[],
            contexts: &BTreeMap::new(),
            context_dirs: &BTreeMap::new(),
            images: &[],
            platform: "linux/amd64",
            compression: Compression::Gzip,
            timestamps: Timestamps::Encoded,
            layer_encoder: LayerEncoder::SingleStream,
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "the base Dockerfile copies requirements.txt, which is not in its build context"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_fingerprint_is_parsed_not_trusted() {
        let good = format!("sha256:{}", "ab".repeat(32));
        let f = Fingerprint::try_from(good.clone()).unwrap();
        assert_eq!(f.tag(), "base-abababababab");
        for bad in [
            "sha256:abc".to_string(),
            "ABAB".repeat(16),
            format!("sha256:{}", "AB".repeat(32)),
            format!("md5:{}", "ab".repeat(32)),
        ] {
            let err = Fingerprint::try_from(bad).unwrap_err();
            assert!(err.contains("not a base fingerprint"), "{err}");
        }
    }

    #[test]
    fn globs_read_as_buildkit_reads_them() {
        let m = |p: &str, path: &str| matches_or_parent(&glob(p).unwrap(), path);
        assert!(m("constraints*.txt", "constraints-cpu.txt"));
        assert!(!m("constraints*.txt", "sub/constraints.txt"));
        assert!(m("vendor/wheels", "vendor/wheels/a.whl"));
        assert!(m("**/__pycache__", "a/b/__pycache__/x.pyc"));
        assert!(m("**/__pycache__", "__pycache__/x.pyc"));
        assert!(m("[!a]b", "cb"));
        assert!(!m("[!a]b", "ab"));
        assert!(m("a?c", "abc") && !m("a?c", "a/c"));
    }
}
