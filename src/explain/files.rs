//! File listings of layers, and what differs between two of them, with a cause for each
//! difference and the fix for that cause.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::image::archive::{digest_of_blob_path, normalise_path, ArchiveIndex};
use crate::image::layer::open_layer;
use crate::image::tarstream::{Kind, TarStream};
use crate::inventory::layers::PathSet;
use crate::inventory::Change;

/// What a layer says about one path: about 120 bytes, plus the path, a link target, xattrs,
/// and the content of a file of at most 256 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    pub link: Box<str>,
    pub xattrs: Box<[(String, String)]>,
    pub sha256: Option<[u8; 32]>,
    /// What the report shows or reads: a small file whole (to show what differs), or the
    /// header of a `.pyc` (its source stamp); empty otherwise.
    pub head: Box<[u8]>,
}

/// Path (without leading `/`) → metadata, for one layer.
pub type Listing = BTreeMap<String, FileMeta>;

const SMALL: usize = 256;
/// Enough of a `.pyc` for its PEP 552 header.
const PYC_HEAD: usize = 16;

/// Reads a layer blob of `size` compressed bytes, giving `visit` each entry with its content
/// hashed. The blob is opened as the inventory opens it (compression by magic, the
/// decompression-bomb limit), and when `digest` is given its sha256 must match.
fn walk_blob<R: Read>(
    blob: R,
    size: u64,
    digest: Option<&str>,
    visit: &mut dyn FnMut(String, FileMeta),
) -> Result<(), String> {
    let mut layer = open_layer(blob, size)?;
    let mut stream = TarStream::new(&mut layer);
    let mut buf = vec![0u8; 1 << 16];
    while let Some(h) = stream.next_header().map_err(|e| e.to_string())? {
        let Some(path) = normalise_path(&h.path) else {
            continue;
        };
        let mut meta = FileMeta {
            kind: h.kind,
            size: h.size,
            mode: h.mode,
            uid: h.uid,
            gid: h.gid,
            mtime: h.mtime,
            link: h.link.into_boxed_str(),
            xattrs: h.xattrs.into_boxed_slice(),
            sha256: None,
            head: Box::default(),
        };
        if h.kind == Kind::File {
            let keep = if h.size <= SMALL as u64 {
                SMALL
            } else if path.ends_with(".pyc") {
                PYC_HEAD
            } else {
                0
            };
            let mut head = Vec::new();
            let mut hasher = Sha256::new();
            let mut data = stream.data();
            loop {
                let n = data.read(&mut buf).map_err(|e| format!("{path}: {e}"))?;
                if n == 0 {
                    break;
                }
                if head.len() < keep {
                    let take = (keep - head.len()).min(n);
                    head.extend_from_slice(&buf[..take]);
                }
                hasher.update(&buf[..n]);
            }
            meta.head = head.into_boxed_slice();
            meta.sha256 = Some(hasher.finalize().into());
        }
        visit(path, meta);
    }
    layer.finish(digest)
}

/// Lists a layer blob (see [`walk_blob`]); a path listed twice is what its last entry says.
pub fn list_blob<R: Read>(blob: R, size: u64, digest: Option<&str>) -> Result<Listing, String> {
    let mut listing = Listing::new();
    walk_blob(blob, size, digest, &mut |path, meta| {
        listing.insert(path, meta);
    })?;
    Ok(listing)
}

/// What [`diff_listings`] says of `a` and the layer blob `b`, with `b` compared entry by entry
/// as it is read, never listed: its cost is a 128-bit keyed hash of each path, not the entries.
pub fn diff_blob<R: Read>(
    a: &Listing,
    b: R,
    size: u64,
    digest: Option<&str>,
) -> Result<Vec<FileDiff>, String> {
    use std::collections::hash_map::{Entry, HashMap};
    let mut out: Vec<FileDiff> = Vec::new();
    // B's paths so far, and where the difference each made is in `out`.
    let mut seen: HashMap<u128, Option<usize>> = HashMap::new();
    walk_blob(b, size, digest, &mut |path, meta| {
        let diff = diff_one(&path, a.get(&path), Some(&meta));
        let slot = match seen.entry(PathSet::key(&path)) {
            Entry::Vacant(e) => e.insert(None),
            // A later entry for the same path replaces the earlier one, as in a listing.
            Entry::Occupied(e) => {
                let slot = e.into_mut();
                if let Some(earlier) = slot.take() {
                    out[earlier].path.clear();
                }
                slot
            }
        };
        if let Some(d) = diff {
            out.push(d);
            *slot = Some(out.len() - 1);
        }
    })?;
    out.retain(|d| !d.path.is_empty());
    for (path, x) in a {
        if !seen.contains_key(&PathSet::key(path)) {
            out.extend(diff_one(path, Some(x), None));
        }
    }
    out.sort_unstable_by(|x, y| x.path.cmp(&y.path));
    Ok(out)
}

/// Lists the `index`-th layer of an indexed archive file.
pub fn list_layer(archive: &Path, index: &ArchiveIndex, layer: usize) -> Result<Listing, String> {
    with_layer(archive, index, layer, list_blob)
}

/// The differences between `a` and the `index`-th layer of an indexed archive file, read
/// without listing it (see [`diff_blob`]).
pub fn diff_layer(
    a: &Listing,
    archive: &Path,
    index: &ArchiveIndex,
    layer: usize,
) -> Result<Vec<FileDiff>, String> {
    with_layer(archive, index, layer, |blob, size, digest| {
        diff_blob(a, blob, size, digest)
    })
}

fn with_layer<T>(
    archive: &Path,
    index: &ArchiveIndex,
    layer: usize,
    read: impl FnOnce(std::io::Take<std::fs::File>, u64, Option<&str>) -> Result<T, String>,
) -> Result<T, String> {
    let member = &index.layer_paths[layer];
    let (offset, size) = *index
        .members
        .get(member)
        .ok_or_else(|| format!("{member} is not in {}", archive.display()))?;
    let mut file =
        std::fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| format!("{}: {e}", archive.display()))?;
    let digest = digest_of_blob_path(member);
    read(file.take(size), size, digest.as_deref()).map_err(|e| {
        let name = digest.as_deref().unwrap_or(member);
        format!("{}: layer {name}: {e}", archive.display())
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    /// With a leading `/`.
    pub path: String,
    pub change: Change,
    /// What differs: `type`, `content`, `mode`, `owner`, `mtime`, `symlink`, `xattrs`.
    pub aspects: Vec<&'static str>,
    /// The larger of the two sizes, the weight of this difference.
    pub bytes: u64,
    pub cause: Cause,
    /// Matched a `[verify] ignore` pattern: listed, but never counted as explained away.
    pub ignored: bool,
    /// Evidence, when short: the two contents of a small text file, or the .pyc stamps.
    pub detail: Option<String>,
}

/// Every difference between two listings of the same layer position.
pub fn diff_listings(a: &Listing, b: &Listing) -> Vec<FileDiff> {
    let mut out = Vec::new();
    // Both are sorted: walk them side by side, in path order, with no set of all paths.
    let (mut xs, mut ys) = (a.iter().peekable(), b.iter().peekable());
    loop {
        let (path, x, y) = match (xs.peek(), ys.peek()) {
            (None, None) => break,
            (Some((p, _)), None) => (*p, xs.next().map(|e| e.1), None),
            (None, Some((p, _))) => (*p, None, ys.next().map(|e| e.1)),
            (Some((p, _)), Some((q, _))) => match p.cmp(q) {
                std::cmp::Ordering::Less => (*p, xs.next().map(|e| e.1), None),
                std::cmp::Ordering::Greater => (*q, None, ys.next().map(|e| e.1)),
                std::cmp::Ordering::Equal => (*p, xs.next().map(|e| e.1), ys.next().map(|e| e.1)),
            },
        };
        out.extend(diff_one(path, x, y));
    }
    out
}

/// The difference at `path`, if any, between what two layers say of it.
fn diff_one(path: &str, x: Option<&FileMeta>, y: Option<&FileMeta>) -> Option<FileDiff> {
    {
        let (change, aspects) = match (x, y) {
            (Some(x), Some(y)) => {
                let mut aspects = Vec::new();
                if x.kind != y.kind {
                    aspects.push("type");
                }
                if x.sha256 != y.sha256 {
                    aspects.push("content");
                }
                if x.mode != y.mode {
                    aspects.push("mode");
                }
                if (x.uid, x.gid) != (y.uid, y.gid) {
                    aspects.push("owner");
                }
                if x.mtime != y.mtime {
                    aspects.push("mtime");
                }
                if x.link != y.link {
                    aspects.push("symlink");
                }
                if x.xattrs != y.xattrs {
                    aspects.push("xattrs");
                }
                if aspects.is_empty() {
                    return None;
                }
                (Change::Changed, aspects)
            }
            (None, Some(_)) => (Change::Added, vec![]),
            (Some(_), None) => (Change::Removed, vec![]),
            (None, None) => return None,
        };
        let bytes = x.map_or(0, |m| m.size).max(y.map_or(0, |m| m.size)).max(1);
        let (cause, detail) = classify(path, x, y, &aspects);
        Some(FileDiff {
            path: format!("/{path}"),
            change,
            aspects,
            bytes,
            cause,
            ignored: false,
            detail,
        })
    }
}

/// A class of difference, what it is, and how to fix it in the Dockerfile. A closed set: a
/// cause the code does not know cannot be named. Serialised as its kebab-case id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    PycTimestamp,
    PackageLogs,
    ToolCaches,
    FileTimes,
    Metadata,
    PackageDrift,
    BaseDrift,
    BaseEpoch,
    LayerMissing,
    FileSet,
    BuildTimeContent,
}

impl Cause {
    pub const ALL: [Cause; 11] = [
        Cause::PycTimestamp,
        Cause::PackageLogs,
        Cause::ToolCaches,
        Cause::FileTimes,
        Cause::Metadata,
        Cause::PackageDrift,
        Cause::BaseDrift,
        Cause::BaseEpoch,
        Cause::LayerMissing,
        Cause::FileSet,
        Cause::BuildTimeContent,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Cause::PycTimestamp => "pyc-timestamp",
            Cause::PackageLogs => "package-logs",
            Cause::ToolCaches => "tool-caches",
            Cause::FileTimes => "file-times",
            Cause::Metadata => "metadata",
            Cause::PackageDrift => "package-drift",
            Cause::BaseDrift => "base-drift",
            Cause::BaseEpoch => "base-epoch",
            Cause::LayerMissing => "layer-missing",
            Cause::FileSet => "file-set",
            Cause::BuildTimeContent => "build-time-content",
        }
    }

    pub fn what(self) -> &'static str {
        match self {
            Cause::PycTimestamp => "Python bytecode (.pyc) stamped with its source file's mtime",
            Cause::PackageLogs => "package-manager logs and caches (dpkg/apt logs, ldconfig aux-cache, apt lists and archives)",
            Cause::ToolCaches => "pip, conda or build-tool caches (~/.cache, conda pkgs, __pycache__ of build tools)",
            Cause::FileTimes => "only file times differ (a layer taken from a cache older than SOURCE_DATE_EPOCH, or times set by a tool)",
            Cause::Metadata => "file modes, owners, symlink targets or xattrs differ",
            Cause::PackageDrift => "a package at another version (see the package differences)",
            Cause::BaseDrift => "the base image is another one (another digest), which explains its layers",
            Cause::BaseEpoch => "the bases were built from the same inputs with another SOURCE_DATE_EPOCH: their file times (clamped to it) differ, and so every file of their layers",
            Cause::LayerMissing => "a layer only one image has (another Dockerfile, base or target)",
            Cause::FileSet => "a file that exists in one build only (a temporary or randomly named file, or another input)",
            Cause::BuildTimeContent => "content that depends on when or where it was built (a time, a random id, a host name)",
        }
    }

    pub fn fix(self) -> &'static str {
        match self {
            Cause::PycTimestamp => "put `ARG SOURCE_DATE_EPOCH` in the stage before the RUN that installs Python packages (pip then writes hash-based .pyc), or install with pip --no-compile (PYTHONDONTWRITEBYTECODE does not stop pip compiling what it installs)",
            Cause::PackageLogs => "remove them in the same RUN: `rm -rf /var/log/dpkg.log /var/log/apt /var/log/alternatives.log /var/cache/ldconfig/aux-cache /var/lib/apt/lists/* /var/cache/apt/*`, or use RUN --mount=type=cache",
            Cause::ToolCaches => "pip install --no-cache-dir, `conda clean -afy` in the same RUN, or RUN --mount=type=cache,target=/root/.cache",
            Cause::FileTimes => "release without --use-cache (the default), or set times from $SOURCE_DATE_EPOCH (touch -d @$SOURCE_DATE_EPOCH)",
            Cause::Metadata => "set them explicitly (COPY --chmod/--chown, chmod in the RUN); check the umask of the build",
            Cause::PackageDrift => "pin it: apt pkg=VERSION or a snapshot.debian.org date, pip pkg==VERSION with hashes, a conda lock",
            Cause::BaseDrift => "keep the base pinned by digest (docker repro release pins it in the lock) and move it on purpose, in a release of its own",
            Cause::BaseEpoch => "nothing is wrong with either release; to share one base, release with a docker repro that dates the base by the newest commit changing its inputs and keeps a base whose input fingerprint is unchanged (build.base_fingerprint in the lock)",
            Cause::LayerMissing => "build both from the same commit, Dockerfiles and base digests (compare the locks with docker repro diff)",
            Cause::FileSet => "delete temporary files in the same RUN, and check the inputs the instruction reads",
            Cause::BuildTimeContent => "make the instruction deterministic: use $SOURCE_DATE_EPOCH instead of the clock, a fixed seed, no host names; or delete the file in the same RUN",
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.id())
    }
}

fn is_package_log(path: &str) -> bool {
    path == "var/log/dpkg.log"
        || path == "var/log/alternatives.log"
        || path.starts_with("var/log/apt/")
        || path == "var/cache/ldconfig/aux-cache"
        || path.starts_with("var/cache/apt/")
        || path.starts_with("var/lib/apt/lists/")
        || path.starts_with("var/cache/debconf/")
        || path == "var/lib/dpkg/status-old"
        || path.starts_with("var/log/")
}

fn is_tool_cache(path: &str) -> bool {
    path.contains("/.cache/")
        || path.starts_with("root/.cache/")
        || path.contains("/conda/pkgs/")
        || path.starts_with("opt/conda/pkgs/")
}

fn is_package_db(path: &str) -> bool {
    path.starts_with("var/lib/dpkg/")
        || path.contains(".dist-info")
        || path.contains(".egg-info")
        || path.contains("/conda-meta/")
}

/// A `.pyc` whose header (PEP 552) says it is checked by source mtime: flags word zero.
fn pyc_stamp(meta: &FileMeta) -> Option<u32> {
    let h = &meta.head;
    (h.len() >= 12 && h[4..8] == [0, 0, 0, 0])
        .then(|| u32::from_le_bytes([h[8], h[9], h[10], h[11]]))
}

fn classify(
    path: &str,
    a: Option<&FileMeta>,
    b: Option<&FileMeta>,
    aspects: &[&'static str],
) -> (Cause, Option<String>) {
    if path.ends_with(".pyc") {
        if let (Some(x), Some(y)) = (a.and_then(pyc_stamp), b.and_then(pyc_stamp)) {
            if x != y {
                return (
                    Cause::PycTimestamp,
                    Some(format!("source mtime {x} vs {y} in the .pyc header")),
                );
            }
        }
        if a.is_some_and(|m| pyc_stamp(m).is_some()) || b.is_some_and(|m| pyc_stamp(m).is_some()) {
            return (Cause::PycTimestamp, None);
        }
    }
    if is_package_log(path) {
        return (Cause::PackageLogs, None);
    }
    if is_tool_cache(path)
        || path.contains("__pycache__/")
            && (path.contains("/pip/") || path.contains("/setuptools/"))
    {
        return (Cause::ToolCaches, None);
    }
    if is_package_db(path) {
        return (Cause::PackageDrift, None);
    }
    if a.is_none() || b.is_none() {
        return (Cause::FileSet, None);
    }
    if !aspects.is_empty() && aspects.iter().all(|a| *a == "mtime") {
        return (Cause::FileTimes, None);
    }
    if !aspects.is_empty() && !aspects.contains(&"content") && !aspects.contains(&"type") {
        return (Cause::Metadata, None);
    }
    let detail = match (a, b) {
        (Some(x), Some(y))
            if x.size <= SMALL as u64
                && y.size <= SMALL as u64
                && printable(&x.head)
                && printable(&y.head) =>
        {
            Some(format!(
                "{:?} vs {:?}",
                String::from_utf8_lossy(&x.head).trim_end(),
                String::from_utf8_lossy(&y.head).trim_end()
            ))
        }
        _ => None,
    };
    (Cause::BuildTimeContent, detail)
}

fn printable(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes)
        .is_ok_and(|s| s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'))
}

/// `/var/log/**`, `*.pyc`, `/tmp/*`: `**` crosses directories, `*` does not.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let pattern = if pattern.starts_with('/') {
        pattern.to_string()
    } else {
        format!("/**/{pattern}")
    };
    let (p, s) = (pattern.as_bytes(), path.as_bytes());
    // matches(i, j): does p[i..] match s[j..]? Filled from the ends, one row per pattern
    // position (keeping the two below it), so a pattern of many `**` against a long path
    // costs len(p) x len(s) steps, never the exponential backtracking of a recursive match:
    // the pattern comes from a repository's repro.toml, which a reviewer does not choose.
    let n = s.len();
    let mut below2 = vec![false; n + 1]; // row i + 2
    let mut below = vec![false; n + 1]; // row i + 1
    below[n] = true; // the empty pattern matches the empty rest
    for i in (0..p.len()).rev() {
        let mut row = vec![false; n + 1];
        let double = p[i] == b'*' && p.get(i + 1) == Some(&b'*');
        for j in (0..=n).rev() {
            row[j] = match p[i] {
                b'*' if double => below2[j] || (j < n && row[j + 1]),
                b'*' => below[j] || (j < n && s[j] != b'/' && row[j + 1]),
                b'?' => j < n && s[j] != b'/' && below[j + 1],
                c => j < n && s[j] == c && below[j + 1],
            };
        }
        below2 = std::mem::replace(&mut below, row);
    }
    below[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(content: &[u8], mtime: i64) -> FileMeta {
        FileMeta {
            kind: Kind::File,
            size: content.len() as u64,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime,
            link: "".into(),
            xattrs: Box::default(),
            sha256: Some(Sha256::digest(content).into()),
            head: content[..content.len().min(SMALL)].into(),
        }
    }

    #[test]
    fn differences_are_classified() {
        let pyc = |stamp: u32| {
            let mut h = vec![0xa7, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0];
            h.extend_from_slice(&stamp.to_le_bytes());
            h.extend_from_slice(&[9, 0, 0, 0, 0xe3]);
            h
        };
        let mut a = Listing::new();
        let mut b = Listing::new();
        a.insert(
            "usr/lib/python3/dist-packages/x/__pycache__/m.cpython-311.pyc".into(),
            meta(&pyc(1_700_000_000), 1),
        );
        b.insert(
            "usr/lib/python3/dist-packages/x/__pycache__/m.cpython-311.pyc".into(),
            meta(&pyc(1_700_000_777), 1),
        );
        a.insert("var/log/dpkg.log".into(), meta(b"2024-05-01 install x", 1));
        b.insert("var/log/dpkg.log".into(), meta(b"2024-06-01 install x", 1));
        a.insert("stamp".into(), meta(b"a1b2\n", 1));
        b.insert("stamp".into(), meta(b"c3d4\n", 1));
        a.insert("same".into(), meta(b"x", 1));
        b.insert("same".into(), meta(b"x", 5));
        b.insert("root/.cache/pip/http/abc".into(), meta(b"cache", 1));
        let diffs = diff_listings(&a, &b);
        let got: Vec<(&str, &str, &str)> = diffs
            .iter()
            .map(|d| (d.path.as_str(), d.change.as_str(), d.cause.id()))
            .collect();
        assert_eq!(
            got,
            [
                ("/root/.cache/pip/http/abc", "added", "tool-caches"),
                ("/same", "changed", "file-times"),
                ("/stamp", "changed", "build-time-content"),
                (
                    "/usr/lib/python3/dist-packages/x/__pycache__/m.cpython-311.pyc",
                    "changed",
                    "pyc-timestamp"
                ),
                ("/var/log/dpkg.log", "changed", "package-logs"),
            ]
        );
        assert_eq!(diffs[2].detail.as_deref(), Some("\"a1b2\" vs \"c3d4\""));
        assert_eq!(
            diffs[3].detail.as_deref(),
            Some("source mtime 1700000000 vs 1700000777 in the .pyc header")
        );
    }

    #[test]
    fn hash_based_pyc_is_not_a_timestamp_cause() {
        let mut h = vec![0xa7, 0x0d, 0x0d, 0x0a, 3, 0, 0, 0];
        h.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0xe3]);
        let mut h2 = h.clone();
        h2[16] = 0xe4;
        let (cause, _) = classify(
            "a/m.pyc",
            Some(&meta(&h, 1)),
            Some(&meta(&h2, 1)),
            &["content"],
        );
        assert_eq!(cause, Cause::BuildTimeContent);
    }

    #[test]
    fn layers_are_opened_as_the_inventory_opens_them() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        b.append_data(&mut h, "./etc/stamp", &b"a1b2\n"[..])
            .unwrap();
        let tar = b.into_inner().unwrap();
        let blob = zstd::stream::encode_all(&tar[..], 3).unwrap();
        let digest = format!("sha256:{:x}", Sha256::digest(&blob));
        let listing = list_blob(&blob[..], blob.len() as u64, Some(&digest)).unwrap();
        assert_eq!(&*listing["etc/stamp"].head, b"a1b2\n");
        let err = list_blob(&blob[..], blob.len() as u64, Some("sha256:00")).unwrap_err();
        assert!(err.contains("hash to sha256:"), "{err}");
    }

    #[test]
    fn a_layer_compared_as_it_is_read_says_what_two_listings_say() {
        let tar = |entries: &[(&str, &[u8], u64)]| {
            let mut b = tar::Builder::new(Vec::new());
            for (path, data, mtime) in entries {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_mtime(*mtime);
                b.append_data(&mut h, path, *data).unwrap();
            }
            b.into_inner().unwrap()
        };
        let a = tar(&[
            ("same", b"x", 1),
            ("gone", b"x", 1),
            ("dup", b"old", 1),
            ("touched", b"x", 1),
            ("twice", b"x", 1),
        ]);
        // `dup` differs, then is written again as A has it; `twice` the other way round.
        let b = tar(&[
            ("dup", b"new", 1),
            ("same", b"x", 1),
            ("new", b"x", 1),
            ("touched", b"x", 9),
            ("twice", b"x", 1),
            ("dup", b"old", 1),
            ("twice", b"y", 1),
        ]);
        let list_a = list_blob(&a[..], a.len() as u64, None).unwrap();
        let list_b = list_blob(&b[..], b.len() as u64, None).unwrap();
        let streamed = diff_blob(&list_a, &b[..], b.len() as u64, None).unwrap();
        assert_eq!(streamed, diff_listings(&list_a, &list_b));
        let got: Vec<(&str, &str)> = streamed
            .iter()
            .map(|d| (d.path.as_str(), d.change.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/gone", "removed"),
                ("/new", "added"),
                ("/touched", "changed"),
                ("/twice", "changed")
            ]
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("/var/log/**", "/var/log/apt/history.log"));
        // Many `**` against a long path: len(pattern) x len(path) steps, not exponential
        // (this once took 25 s with six of them, and minutes with more).
        let long = format!("{}/y", "/a".repeat(400));
        assert!(!glob_match(&format!("{}/x", "/**".repeat(40)), &long));
        assert!(glob_match(&format!("{}/y", "/**".repeat(40)), &long));
        assert!(glob_match("/**/a/**/y", &long) && !glob_match("/*/y", &long));
        assert!(glob_match("/var/log/*", "/var/log/dpkg.log"));
        assert!(!glob_match("/var/log/*", "/var/log/apt/history.log"));
        assert!(glob_match("*.pyc", "/usr/lib/x/__pycache__/m.pyc"));
        assert!(!glob_match("/tmp/?", "/tmp/ab"));
    }

    #[test]
    fn every_cause_has_one_id_what_and_fix_and_serialises_as_its_id() {
        let mut ids: Vec<&str> = Cause::ALL.iter().map(|c| c.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), Cause::ALL.len());
        for c in Cause::ALL {
            assert!(!c.what().is_empty() && !c.fix().is_empty(), "{c}");
            assert_eq!(serde_json::to_value(c).unwrap(), c.id());
        }
    }
}
