//! Streams an image archive (a `docker save` stream, or an OCI layout tar) and its layers, in
//! one pass, keeping only what the catalogue needs: parsed package records at interesting
//! paths, and whiteouts (a 16-byte keyed hash each). Memory is bounded by those records and
//! hashes, not by the image; nothing is written to disk; tar paths are data, never opened.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read};
use std::sync::Arc;

use super::catalog::{self, AptPackage, CondaRecord};
use crate::image::archive::{
    check_entry_point, digest_of_blob_path, index_archive, insert_json, is_entry_point,
    link_target, manifest_layers, stopped_or, ArchiveIndex, Counting, MAX_JSON, TRUNCATED,
};
pub use crate::image::archive::{normalise_path, ScanError, Select};
use crate::image::layer::{bomb_limit, describe_tar_error, open_layer_within};
use crate::image::tarstream::{Kind, TarError, TarStream};

/// Interesting files larger than this are refused (a dpkg status of a huge image is ~5 MB).
pub const MAX_CATALOG_FILE: u64 = 64 << 20;

/// One of [`LIBRARIES`]. An alias, so that serde does not take the field for a string borrowed
/// from its input.
pub type LibraryName = &'static str;

/// What a file at an interesting path says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Found {
    DpkgStatus(Vec<AptPackage>),
    PyMetadata {
        name: String,
        version: String,
    },
    PyInstaller(String),
    PyDirectUrl(String),
    Conda(CondaRecord),
    CudaVersion(String),
    Cudnn(String),
    Library {
        #[serde(deserialize_with = "known_library")]
        library: LibraryName,
        version: String,
    },
    Torch {
        version: String,
        cuda: Option<String>,
    },
    OsRelease(catalog::OsRelease),
    /// Something that is not a regular file now stands at an interesting path.
    Hidden,
}

/// What one layer adds and removes. A record is shared, never copied, by the hard links to
/// its file, so links cost a path each whatever the record's size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerScan {
    pub files: Vec<(String, Arc<Found>)>,
    /// Paths this layer deletes (`.wh.NAME`): they and all below them.
    pub whiteouts: PathSet,
    /// Directories this layer makes opaque (`.wh..wh..opq`): all below them.
    pub opaque_dirs: PathSet,
}

impl LayerScan {
    /// Whether this layer's whiteouts or opaque directories hide `path` of a lower layer.
    pub fn hides(&self, path: &str) -> bool {
        if self.whiteouts.is_empty() && self.opaque_dirs.is_empty() {
            return false;
        }
        if self.whiteouts.contains(path) || self.opaque_dirs.contains("") {
            return true;
        }
        path.rmatch_indices('/').any(|(i, _)| {
            let dir = &path[..i];
            self.whiteouts.contains(dir) || self.opaque_dirs.contains(dir)
        })
    }
}

/// A set of paths kept as keyed 128-bit hashes: 16 bytes a path whatever its length, so a
/// layer of a million whiteouts costs 16 MB, not the paths. Only membership is ever asked, for
/// the paths of package records and their directories; the key is random per process, so no
/// layer can be made to collide with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathSet {
    /// Sorted and deduplicated once the layer is read ([`PathSet::seal`]).
    hashes: Vec<u128>,
}

impl PathSet {
    /// The keyed 128-bit hash a path is kept as; the key is this process's.
    pub fn key(path: &str) -> u128 {
        use std::hash::{BuildHasher, RandomState};
        static KEYS: std::sync::OnceLock<(RandomState, RandomState)> = std::sync::OnceLock::new();
        let (a, b) = KEYS.get_or_init(|| (RandomState::new(), RandomState::new()));
        (u128::from(a.hash_one(path)) << 64) | u128::from(b.hash_one(path))
    }

    fn insert(&mut self, path: &str) {
        self.hashes.push(PathSet::key(path));
    }

    /// Sorts for lookups, and gives back what growing the vector reserved.
    fn seal(&mut self) {
        self.hashes.sort_unstable();
        self.hashes.dedup();
        self.hashes.shrink_to_fit();
    }

    pub fn contains(&self, path: &str) -> bool {
        !self.hashes.is_empty() && self.hashes.binary_search(&PathSet::key(path)).is_ok()
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interest {
    DpkgStatus,
    DpkgStatusD,
    PyMetadata,
    PyInstaller,
    PyDirectUrl,
    EggInfoFile,
    Conda,
    CudaVersion,
    CudnnHeader,
    Torch,
    OsRelease,
}

fn is_site_dir(dir: &str) -> bool {
    let last = dir.rsplit('/').next().unwrap_or(dir);
    last == "site-packages" || last == "dist-packages"
}

/// Which catalogue file, if any, lives at `path` (normalised, no leading `/`).
fn classify(path: &str) -> Option<Interest> {
    if path == "var/lib/dpkg/status" {
        return Some(Interest::DpkgStatus);
    }
    if path == "etc/os-release" || path == "usr/lib/os-release" {
        return Some(Interest::OsRelease);
    }
    if let Some(name) = path.strip_prefix("var/lib/dpkg/status.d/") {
        return (!name.contains('/') && !name.ends_with(".md5sums"))
            .then_some(Interest::DpkgStatusD);
    }
    let (dir, file) = path.rsplit_once('/')?;
    if let Some((env, meta_dir)) = dir.rsplit_once('/') {
        if is_site_dir(env) && meta_dir.ends_with(".dist-info") {
            return match file {
                "METADATA" => Some(Interest::PyMetadata),
                "INSTALLER" => Some(Interest::PyInstaller),
                "direct_url.json" => Some(Interest::PyDirectUrl),
                _ => None,
            };
        }
        if is_site_dir(env) && meta_dir.ends_with(".egg-info") && file == "PKG-INFO" {
            return Some(Interest::PyMetadata);
        }
        if meta_dir == "conda-meta" && file.ends_with(".json") {
            return Some(Interest::Conda);
        }
        if file == "version.py" && meta_dir == "torch" && is_site_dir(env) {
            return Some(Interest::Torch);
        }
    }
    if is_site_dir(dir) && file.ends_with(".egg-info") {
        return Some(Interest::EggInfoFile);
    }
    let cuda_root = dir
        .strip_prefix("usr/local/")
        .is_some_and(|d| d.starts_with("cuda") && !d.contains('/'));
    if (file == "version.json" || file == "version.txt") && cuda_root {
        return Some(Interest::CudaVersion);
    }
    if file.starts_with("cudnn_version") && file.ends_with(".h") || file == "cudnn.h" {
        return Some(Interest::CudnnHeader);
    }
    None
}

const LIBRARIES: &[&str] = &["libcudnn", "libnccl", "libcudart"];

/// A [`Found::Library`] read back: one of [`LIBRARIES`], never another name.
fn known_library<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let name = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
    LIBRARIES
        .iter()
        .find(|lib| **lib == name)
        .copied()
        .ok_or_else(|| serde::de::Error::custom(format!("{name:?} is not a library read here")))
}

fn classify_library(path: &str) -> Option<Found> {
    let file = path.rsplit('/').next()?;
    LIBRARIES.iter().find_map(|lib| {
        catalog::library_version(file, lib).map(|version| Found::Library {
            library: lib,
            version,
        })
    })
}

fn parse(interest: Interest, path: &str, bytes: &[u8]) -> Result<Option<Found>, String> {
    Ok(Some(match interest {
        Interest::DpkgStatus => Found::DpkgStatus(catalog::parse_dpkg_status(bytes, true)?),
        Interest::DpkgStatusD => Found::DpkgStatus(catalog::parse_dpkg_status(bytes, false)?),
        Interest::PyMetadata | Interest::EggInfoFile => {
            let (name, version) = catalog::parse_python_metadata(bytes)?;
            Found::PyMetadata { name, version }
        }
        Interest::PyInstaller => {
            Found::PyInstaller(String::from_utf8_lossy(bytes).trim().to_string())
        }
        Interest::PyDirectUrl => Found::PyDirectUrl(catalog::parse_direct_url(bytes)?),
        Interest::Conda => Found::Conda(catalog::parse_conda_meta(bytes)?),
        Interest::CudaVersion => Found::CudaVersion(catalog::parse_cuda_version(path, bytes)?),
        Interest::CudnnHeader => match catalog::parse_cudnn_header(bytes) {
            Some(v) => Found::Cudnn(v),
            None => return Ok(None),
        },
        Interest::Torch => {
            let (version, cuda) = catalog::parse_torch_version(bytes)?;
            Found::Torch { version, cuda }
        }
        Interest::OsRelease => match catalog::parse_os_release(bytes) {
            Ok(os) => Found::OsRelease(os),
            // Not a package database: an odd one says nothing rather than fail the inventory.
            Err(_) => return Ok(None),
        },
    }))
}

/// Scans one layer's tar stream (already decompressed).
pub fn scan_layer_tar<R: Read>(reader: R, layer: &str) -> Result<LayerScan, ScanError> {
    let layer_err = |message: String| ScanError::Layer {
        layer: layer.to_string(),
        message,
    };
    let tar_err = |e: TarError| match e {
        TarError::Interrupted => ScanError::Interrupted,
        e => layer_err(describe_tar_error(e)),
    };
    let mut tar = TarStream::new(reader);
    let mut scan = LayerScan::default();
    // Path -> its latest position in `scan.files`, for hard links: a lookup each, not a search.
    let mut latest: HashMap<String, usize> = HashMap::new();
    fn push(
        scan: &mut LayerScan,
        latest: &mut HashMap<String, usize>,
        path: String,
        found: Arc<Found>,
    ) {
        latest.insert(path.clone(), scan.files.len());
        scan.files.push((path, found));
    }
    while let Some(header) = tar.next_header().map_err(tar_err)? {
        let Some(path) = normalise_path(&header.path) else {
            continue;
        };
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        if let Some(hidden) = name.strip_prefix(".wh.") {
            if hidden == ".wh..opq" {
                scan.opaque_dirs.insert(dir);
            } else if !hidden.is_empty() {
                // `path` is `dir/.wh.NAME`: the hidden path is `dir/NAME`, built without copying.
                let start = path.len() - hidden.len() - ".wh.".len();
                let mut gone = path;
                gone.replace_range(start..start + ".wh.".len(), "");
                scan.whiteouts.insert(&gone);
            }
            continue;
        }
        if matches!(header.kind, Kind::File | Kind::Symlink) {
            if let Some(lib) = classify_library(&path) {
                push(&mut scan, &mut latest, path, Arc::new(lib));
                continue;
            }
        }
        let Some(interest) = classify(&path) else {
            continue;
        };
        match header.kind {
            Kind::File => {
                if header.size > MAX_CATALOG_FILE {
                    return Err(ScanError::File { layer: layer.into(), file: path, message: format!("{} bytes, larger than the {MAX_CATALOG_FILE}-byte limit for a package database", header.size) });
                }
                let bytes = tar.read_data(header.size).map_err(tar_err)?;
                match parse(interest, &path, &bytes) {
                    Ok(Some(found)) => push(&mut scan, &mut latest, path, Arc::new(found)),
                    Ok(None) => {}
                    Err(message) => {
                        return Err(ScanError::File {
                            layer: layer.into(),
                            file: path,
                            message,
                        })
                    }
                }
            }
            Kind::Hardlink => {
                let target = normalise_path(&header.link).unwrap_or_default();
                let found = match latest.get(&target) {
                    Some(i) => scan.files[*i].1.clone(),
                    None => Arc::new(Found::Hidden),
                };
                push(&mut scan, &mut latest, path, found);
            }
            Kind::Dir => {}
            Kind::Symlink | Kind::Other => {
                push(&mut scan, &mut latest, path, Arc::new(Found::Hidden))
            }
        }
    }
    scan.whiteouts.seal();
    scan.opaque_dirs.seal();
    Ok(scan)
}

/// Scans a layer blob as stored: gzip, zstd or plain tar, told apart by their magic bytes.
/// When `digest` is given, the blob's sha256 must match it.
pub fn scan_layer_blob<R: Read>(
    blob: R,
    size: u64,
    digest: Option<&str>,
    layer: &str,
) -> Result<LayerScan, ScanError> {
    scan_layer_blob_within(blob, digest, layer, bomb_limit(size))
}

fn scan_layer_blob_within<R: Read>(
    blob: R,
    digest: Option<&str>,
    layer: &str,
    limit: u64,
) -> Result<LayerScan, ScanError> {
    let layer_err = |message: String| {
        if crate::cancel::requested() {
            return ScanError::Interrupted;
        }
        ScanError::Layer {
            layer: layer.to_string(),
            message,
        }
    };
    let mut open = open_layer_within(blob, limit).map_err(layer_err)?;
    let scan = scan_layer_tar(&mut open, layer)?;
    open.finish(digest).map_err(layer_err)?;
    Ok(scan)
}

/// An image read out of an archive: its config and its layers' scans, bottom first.
#[derive(Debug)]
pub struct ImageScan {
    pub manifest_digest: Option<String>,
    /// The config's digest: from the manifest, or from the config's own name in a legacy
    /// `docker save` archive (whose layers are then not tied to any digest).
    pub config_digest: Option<String>,
    pub config: serde_json::Value,
    pub layers: Vec<(String, LayerScan)>,
}

/// Reads a whole image archive in one pass. Layers whose digest is in `known` are skipped
/// and their earlier scan reused. `progress` sees the number of bytes read so far.
pub fn scan_archive<R: Read>(
    archive: R,
    known: &HashMap<String, LayerScan>,
    progress: &mut dyn FnMut(u64),
) -> Result<ImageScan, ScanError> {
    scan_archive_selected(archive, &Select::Only, known, progress)
}

/// [`scan_archive`] of the image `select` names (an archive of several images, read as a
/// stream).
pub fn scan_archive_selected<R: Read>(
    archive: R,
    select: &Select,
    known: &HashMap<String, LayerScan>,
    progress: &mut dyn FnMut(u64),
) -> Result<ImageScan, ScanError> {
    let mut outer = TarStream::new(Counting {
        inner: archive,
        count: 0,
        progress,
    });
    let mut json: HashMap<String, Vec<u8>> = HashMap::new();
    let mut failed: HashMap<String, ScanError> = HashMap::new();
    let mut json_total: u64 = 0;
    let mut scans: HashMap<String, LayerScan> = HashMap::new();
    let mut aliases: HashMap<String, String> = HashMap::new();
    loop {
        let header = match outer.next_header() {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(_) if crate::cancel::requested() => return Err(ScanError::Interrupted),
            Err(e) => {
                return Err(ScanError::Archive(format!(
                    "the image archive is unreadable: {}",
                    describe_tar_error(e)
                )))
            }
        };
        let Some(path) = normalise_path(&header.path) else {
            continue;
        };
        if is_entry_point(&path) {
            check_entry_point(&path, &header)?;
        }
        match header.kind {
            Kind::Symlink | Kind::Hardlink => {
                if let Some(target) = link_target(&path, &header) {
                    aliases.insert(path, target);
                }
                continue;
            }
            Kind::File => {}
            _ => continue,
        }
        let digest = digest_of_blob_path(&path);
        if let Some(d) = &digest {
            if let Some(scan) = known.get(d) {
                scans.insert(path, scan.clone());
                continue;
            }
        }
        let mut first = [0u8; 1];
        let mut data = outer.data();
        let n = data
            .read(&mut first)
            .map_err(|e| stopped_or(format!("the image archive is truncated ({e})")))?;
        let chained = (&first[..n]).chain(data);
        let entry = is_entry_point(&path);
        if entry {
            check_entry_point(&path, &header)?;
        }
        let looks_json = entry || (n == 1 && (first[0] == b'{' || first[0] == b'['));
        if entry
            || looks_json && header.size <= MAX_JSON && json_total + header.size <= 4 * MAX_JSON
        {
            let mut bytes = Vec::with_capacity(header.size as usize);
            let mut chained = chained;
            chained
                .read_to_end(&mut bytes)
                .map_err(|e| stopped_or(format!("the image archive is truncated ({e})")))?;
            json_total += header.size;
            insert_json(&mut json, path, bytes)?;
            continue;
        }
        let is_blob = digest.is_some()
            || path.ends_with("layer.tar")
            || path.ends_with(".tar.gz")
            || path.ends_with(".tar");
        if !is_blob || looks_json {
            continue;
        }
        let name = digest.clone().unwrap_or_else(|| path.clone());
        match scan_layer_blob(chained, header.size, digest.as_deref(), &name) {
            Ok(scan) => {
                scans.insert(path, scan);
            }
            // Blobs that are neither layers nor JSON (foreign artifacts) are not tar streams;
            // a listed layer that failed to scan is reported below if the manifest needs it.
            Err(_) if crate::cancel::requested() => return Err(ScanError::Interrupted),
            Err(e) => {
                failed.insert(path, e);
            }
        }
    }

    // Read what follows the end-of-archive blocks, so that a producer piping into us
    // (`docker save`) finishes instead of blocking on a full pipe.
    let truncated = !outer.reached_end_marker();
    io::copy(&mut outer.into_inner(), &mut io::sink())
        .map_err(|e| stopped_or(format!("the image archive is unreadable ({e})")))?;
    if truncated {
        return Err(ScanError::Archive(TRUNCATED.into()));
    }
    let entry = manifest_layers(&json, &aliases, select)?;
    let mut layers = Vec::new();
    let layer_paths = entry.layer_paths;
    for path in layer_paths {
        let name = digest_of_blob_path(&path).unwrap_or_else(|| path.clone());
        if let Some(failure) = failed.remove(&path) {
            return Err(failure);
        }
        // A layer listed twice is read once and its scan shared.
        let scan = scans.get(&path).cloned().ok_or_else(|| {
            ScanError::Archive(format!(
                "layer {name} is listed in the manifest but not in the archive"
            ))
        })?;
        layers.push((name, scan));
    }
    Ok(ImageScan {
        manifest_digest: entry.manifest_digest,
        config_digest: entry.config_digest,
        config: entry.config,
        layers,
    })
}

/// Reads an image archive file: one pass over its headers (seeking past data), then the
/// layers the manifest lists, several at a time (one per core). Same result as
/// [`scan_archive`], faster on a file.
pub fn scan_archive_file(
    path: &std::path::Path,
    select: &Select,
    known: &HashMap<String, LayerScan>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ImageScan, ScanError> {
    scan_archive_file_on(path, select, None, known, progress)
}

/// [`scan_archive_file`] of an image whose lowest layers are `base`'s, merged already: they
/// are not read, nor need they be in the archive (a release exported without its base's
/// blobs), and the scan lists them as one layer (named `base:` and the first's digest) that
/// leaves `base`'s files. An image that does not start with `base`'s layers is refused.
pub fn scan_archive_file_on(
    path: &std::path::Path,
    select: &Select,
    base: Option<&Merged>,
    known: &HashMap<String, LayerScan>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ImageScan, ScanError> {
    use std::io::{Seek, SeekFrom};
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::Mutex;

    let open = || {
        std::fs::File::open(path)
            .map_err(|e| ScanError::Archive(format!("{}: {e}", path.display())))
    };
    let ArchiveIndex {
        members,
        manifest_digest,
        config_digest,
        config,
        layer_paths,
    } = index_archive(path, select)?;
    let below = match base {
        None => 0,
        Some(base) => {
            let stands_on_base = layer_paths.len() >= base.layers.len()
                && layer_paths
                    .iter()
                    .zip(&base.layers)
                    .all(|(p, layer)| digest_of_blob_path(p).as_ref() == Some(layer));
            if !stands_on_base {
                return Err(ScanError::Archive(format!(
                    "the image does not start with the {} layers of the base it was built on",
                    base.layers.len()
                )));
            }
            base.layers.len()
        }
    };
    let (base_paths, layer_paths) = layer_paths.split_at(below);
    // An inert base layer listed again above the base adds nothing, wherever its blob is.
    let inert = |p: &String| {
        base.zip(digest_of_blob_path(p))
            .is_some_and(|(base, digest)| base.inert.contains(&digest) && !members.contains_key(p))
    };

    // Each distinct layer is read once, however often the manifest lists it: a manifest
    // naming one small bomb 100,000 times must not cost 100,000 inflations.
    let mut unique: Vec<&String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in layer_paths {
        if !inert(p) && seen.insert(p) {
            unique.push(p);
        }
    }
    let jobs: Vec<(String, Option<String>, u64, u64)> = unique
        .into_iter()
        .map(|p| {
            let (offset, size) = *members.get(p).ok_or_else(|| {
                ScanError::Archive(format!(
                    "layer {} is listed in the manifest but not in the archive",
                    digest_of_blob_path(p).unwrap_or_else(|| p.clone())
                ))
            })?;
            Ok((p.clone(), digest_of_blob_path(p), offset, size))
        })
        .collect::<Result<_, ScanError>>()?;
    let done = AtomicU64::new(0);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<LayerScan, ScanError>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len())
        .max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((member, digest, offset, size)) = jobs.get(i) else {
                    break;
                };
                let name = digest.clone().unwrap_or_else(|| member.clone());
                let result = match digest.as_ref().and_then(|d| known.get(d)) {
                    Some(scan) => Ok(scan.clone()),
                    None => open().and_then(|mut file| {
                        file.seek(SeekFrom::Start(*offset))
                            .map_err(|e| ScanError::Archive(format!("{}: {e}", path.display())))?;
                        let reader = Progressing {
                            inner: file.take(*size),
                            done: &done,
                            progress,
                        };
                        scan_layer_blob(reader, *size, digest.as_deref(), &name)
                    }),
                };
                let failed = result.is_err();
                results.lock().expect("no worker panics")[i] = Some(result);
                if failed {
                    next.store(jobs.len(), Ordering::SeqCst);
                }
            });
        }
    });
    if crate::cancel::requested() {
        return Err(ScanError::Interrupted);
    }
    let mut read: HashMap<&str, LayerScan> = HashMap::new();
    for ((member, digest, _, _), result) in jobs
        .iter()
        .zip(results.into_inner().expect("no worker panics"))
    {
        let name = digest.clone().unwrap_or_else(|| member.clone());
        match result {
            Some(Ok(scan)) => {
                read.insert(member.as_str(), scan);
            }
            Some(Err(e)) => return Err(e),
            None => {
                return Err(ScanError::Archive(format!(
                    "layer {name} was not read because an earlier layer failed"
                )))
            }
        }
    }
    let merged = base.zip(base_paths.first()).map(|(base, first)| {
        let first = digest_of_blob_path(first).unwrap_or_else(|| first.clone());
        (format!("base:{first}"), base.as_layer())
    });
    let layers = merged
        .into_iter()
        .chain(layer_paths.iter().map(|p| {
            let name = digest_of_blob_path(p).unwrap_or_else(|| p.clone());
            // Every layer was read, but an inert one of the base's left out of the archive.
            let scan = match read.get(p.as_str()) {
                Some(scan) => scan.clone(),
                None => LayerScan::default(),
            };
            (name, scan)
        }))
        .collect();
    Ok(ImageScan {
        manifest_digest,
        config_digest,
        config,
        layers,
    })
}

/// Adds the bytes read to a shared counter for the progress bar, and stops on Ctrl-C.
struct Progressing<'a, R> {
    inner: R,
    done: &'a std::sync::atomic::AtomicU64,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for Progressing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if crate::cancel::requested() {
            return Err(io::Error::other("interrupted"));
        }
        let n = self.inner.read(buf)?;
        let total = self
            .done
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed)
            + n as u64;
        (self.progress)(total);
        Ok(n)
    }
}

/// Applies the layers bottom to top: whiteouts and opaque directories hide what lower layers
/// put there; later files replace earlier ones.
pub fn overlay(layers: &[(String, LayerScan)]) -> BTreeMap<String, Arc<Found>> {
    let mut state: BTreeMap<String, Arc<Found>> = BTreeMap::new();
    for (_, layer) in layers {
        // Asked per record below, never per whiteout: the cost is the records', not the layer's.
        if !layer.whiteouts.is_empty() || !layer.opaque_dirs.is_empty() {
            state.retain(|path, _| !layer.hides(path));
        }
        for (path, found) in &layer.files {
            state.insert(path.clone(), found.clone());
        }
    }
    state.retain(|_, f| **f != Found::Hidden);
    state
}

/// The interesting files an image's layers leave, merged bottom to top ([`overlay`]): what a
/// layer built on that image stands on. Kept beside a base the engine holds, so that the
/// inventory of a release built on it reads the release's own layers only
/// ([`scan_archive_file_on`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Merged {
    /// The layers merged, bottom first.
    pub layers: Vec<String>,
    /// Those of them that add no interesting file and hide nothing: listed again above, they
    /// change nothing (the empty layer of a `WORKDIR` is the same blob in base and release).
    pub inert: BTreeSet<String>,
    /// Each interesting path and what stands there.
    pub files: BTreeMap<String, Found>,
}

/// The layers of `layers` that add no interesting file and hide nothing.
fn inert(layers: &[(String, LayerScan)]) -> BTreeSet<String> {
    layers
        .iter()
        .filter(|(_, scan)| {
            scan.files.is_empty() && scan.whiteouts.is_empty() && scan.opaque_dirs.is_empty()
        })
        .map(|(digest, _)| digest.clone())
        .collect()
}

impl Merged {
    /// The layers `layers` (digest and scan, bottom first), merged.
    pub fn of(layers: &[(String, LayerScan)]) -> Merged {
        Merged {
            layers: layers.iter().map(|(digest, _)| digest.clone()).collect(),
            inert: inert(layers),
            files: overlay(layers)
                .into_iter()
                .map(|(path, found)| (path, found.as_ref().clone()))
                .collect(),
        }
    }

    /// The image of the layers `layers` (bottom first), merged from its scan `scan`, as
    /// [`scan_archive_file_on`] gives it: standing on `below` (its lowest layers, merged) or
    /// not.
    pub fn of_image(
        layers: &[String],
        scan: &[(String, LayerScan)],
        below: Option<&Merged>,
    ) -> Merged {
        let Some(below) = below else {
            return Merged::of(scan);
        };
        let own = inert(scan.get(1..).unwrap_or_default());
        Merged {
            layers: layers.to_vec(),
            inert: below.inert.union(&own).cloned().collect(),
            files: overlay(scan)
                .into_iter()
                .map(|(path, found)| (path, found.as_ref().clone()))
                .collect(),
        }
    }

    /// One layer that leaves the same files as all of them: merged with the layers above it,
    /// it gives what the whole image gives.
    fn as_layer(&self) -> LayerScan {
        LayerScan {
            files: self
                .files
                .iter()
                .map(|(path, found)| (path.clone(), Arc::new(found.clone())))
                .collect(),
            ..LayerScan::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::archive::*;
    use sha2::{Digest as _, Sha256};
    use std::io::Write;

    const DPKG: &str = "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b7\n\nPackage: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n";

    fn layer(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            if path.ends_with('/') {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                h.set_mode(0o755);
            } else {
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
            }
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn digest(bytes: &[u8]) -> String {
        format!("sha256:{:x}", Sha256::digest(bytes))
    }

    fn meta(name: &str, version: &str) -> Vec<u8> {
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").into_bytes()
    }

    #[test]
    fn classify_paths() {
        assert_eq!(classify("var/lib/dpkg/status"), Some(Interest::DpkgStatus));
        assert_eq!(
            classify("var/lib/dpkg/status.d/tzdata"),
            Some(Interest::DpkgStatusD)
        );
        assert_eq!(classify("var/lib/dpkg/status.d/tzdata.md5sums"), None);
        assert_eq!(
            classify("usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA"),
            Some(Interest::PyMetadata)
        );
        assert_eq!(
            classify("venv/lib/python3.11/site-packages/x-1.dist-info/direct_url.json"),
            Some(Interest::PyDirectUrl)
        );
        assert_eq!(
            classify("usr/lib/python3/dist-packages/six-1.16.0.egg-info"),
            Some(Interest::EggInfoFile)
        );
        assert_eq!(
            classify("usr/lib/python3/dist-packages/six.egg-info/PKG-INFO"),
            Some(Interest::PyMetadata)
        );
        assert_eq!(
            classify("home/u/notes/x-1.dist-info/METADATA"),
            None,
            "not under site-packages"
        );
        assert_eq!(
            classify("opt/conda/conda-meta/numpy-1.26.4-py311_0.json"),
            Some(Interest::Conda)
        );
        assert_eq!(
            classify("usr/local/cuda-12.1/version.json"),
            Some(Interest::CudaVersion)
        );
        assert_eq!(
            classify("usr/local/lib/python3.11/site-packages/torch/version.py"),
            Some(Interest::Torch)
        );
        assert_eq!(
            classify("usr/include/x86_64-linux-gnu/cudnn_version_v8.h"),
            Some(Interest::CudnnHeader)
        );
        assert_eq!(
            normalise_path("./usr/../etc//passwd").as_deref(),
            Some("etc/passwd")
        );
        assert_eq!(normalise_path("../../etc/shadow"), None);
        assert_eq!(
            normalise_path("/var/lib/dpkg/status").as_deref(),
            Some("var/lib/dpkg/status")
        );
    }

    #[test]
    fn whiteouts_and_opaque_directories_hide_lower_layers() {
        let site = "usr/lib/python3/dist-packages";
        let l1 = scan_layer_tar(
            &layer(&[
                ("var/lib/dpkg/status", DPKG.as_bytes()),
                (
                    &format!("{site}/keep-1.0.dist-info/METADATA"),
                    &meta("keep", "1.0"),
                ),
                (
                    &format!("{site}/gone-2.0.dist-info/METADATA"),
                    &meta("gone", "2.0"),
                ),
                (
                    "opt/env/lib/python3.11/site-packages/old-1.dist-info/METADATA",
                    &meta("old", "1"),
                ),
            ])[..],
            "l1",
        )
        .unwrap();
        let l2 = scan_layer_tar(
            &layer(&[
                (&format!("{site}/.wh.gone-2.0.dist-info"), b""),
                ("opt/env/lib/python3.11/site-packages/.wh..wh..opq", b""),
                (
                    "opt/env/lib/python3.11/site-packages/new-2.dist-info/METADATA",
                    &meta("new", "2"),
                ),
            ])[..],
            "l2",
        )
        .unwrap();
        assert_eq!((l2.whiteouts.len(), l2.opaque_dirs.len()), (1, 1));
        assert!(l2.whiteouts.contains(&format!("{site}/gone-2.0.dist-info")));
        assert!(l2
            .opaque_dirs
            .contains("opt/env/lib/python3.11/site-packages"));
        let state = overlay(&[("l1".into(), l1), ("l2".into(), l2)]);
        let inv = crate::inventory::Inventory::from_files(&state, &BTreeMap::new());
        let names: Vec<&str> = inv.pip.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["keep", "new"]);
        assert_eq!(inv.apt.len(), 2);
    }

    #[test]
    fn whiteouts_hide_the_path_and_all_below_it_and_nothing_else() {
        let lib = "opt/x/lib/libcudnn.so.8.9.7";
        let l1 = scan_layer_tar(
            &layer(&[
                (lib, b"elf"),
                ("opt/xy/lib/libnccl.so.2.18.3", b"elf"),
                (
                    "usr/local/cuda-12.1/version.json",
                    br#"{"cuda":{"version":"12.1.1"}}"#,
                ),
                ("var/lib/dpkg/status", DPKG.as_bytes()),
            ])[..],
            "l1",
        )
        .unwrap();
        let names = |layers: &[(String, LayerScan)]| -> Vec<String> {
            overlay(layers).into_keys().collect()
        };
        // A whiteout of a directory hides a library found by its name anywhere below it, but
        // not a sibling whose name merely starts the same.
        let l2 = scan_layer_tar(&layer(&[("opt/.wh.x", b"")])[..], "l2").unwrap();
        assert!(l2.hides(lib) && !l2.hides("opt/xy/lib/libnccl.so.2.18.3"));
        assert_eq!(
            names(&[("l1".into(), l1.clone()), ("l2".into(), l2)]),
            [
                "opt/xy/lib/libnccl.so.2.18.3",
                "usr/local/cuda-12.1/version.json",
                "var/lib/dpkg/status"
            ]
        );
        // A whiteout of the file itself, at the root, and an opaque root.
        let l3 = scan_layer_tar(
            &layer(&[("var/lib/dpkg/.wh.status", b""), (".wh.usr", b"")])[..],
            "l3",
        )
        .unwrap();
        assert_eq!(
            names(&[("l1".into(), l1.clone()), ("l3".into(), l3)]),
            [lib, "opt/xy/lib/libnccl.so.2.18.3"]
        );
        let l4 = scan_layer_tar(
            &layer(&[
                (".wh..wh..opq", b""),
                ("var/lib/dpkg/status", DPKG.as_bytes()),
            ])[..],
            "l4",
        )
        .unwrap();
        assert_eq!(
            names(&[("l1".into(), l1.clone()), ("l4".into(), l4)]),
            ["var/lib/dpkg/status"],
            "an opaque root hides every lower path, never the layer's own"
        );
        // An opaque directory hides what is below it, not the directory's own entry.
        let l5 = scan_layer_tar(
            &layer(&[("var/lib/dpkg/status/.wh..wh..opq", b"")])[..],
            "l5",
        )
        .unwrap();
        assert!(!l5.hides("var/lib/dpkg/status") && l5.hides("var/lib/dpkg/status/x"));
        assert!(!l5.hides("var/lib/dpkg/statusx"));
    }

    #[test]
    fn hard_links_share_the_latest_record_before_them() {
        let link = |b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            b.append_link(&mut h, path, target).unwrap();
        };
        let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, path, data).unwrap();
        };
        let d = "var/lib/dpkg/status.d";
        let mut b = tar::Builder::new(Vec::new());
        link(&mut b, &format!("{d}/early"), &format!("{d}/base"));
        file(&mut b, &format!("{d}/base"), b"Package: a\nVersion: 1\n");
        link(&mut b, &format!("{d}/one"), &format!("/{d}/base"));
        file(&mut b, &format!("{d}/base"), b"Package: a\nVersion: 2\n");
        link(&mut b, &format!("{d}/two"), &format!("./{d}/base"));
        link(&mut b, &format!("{d}/none"), &format!("{d}/missing"));
        let scan = scan_layer_tar(&b.into_inner().unwrap()[..], "l").unwrap();
        let at = |p: &str| {
            scan.files
                .iter()
                .rev()
                .find(|(q, _)| *q == format!("{d}/{p}"))
                .map(|(_, f)| f.clone())
                .unwrap()
        };
        assert_eq!(*at("early"), Found::Hidden, "a link before its target");
        assert_eq!(*at("none"), Found::Hidden);
        let version = |f: &Found| match f {
            Found::DpkgStatus(p) => p[0].version.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(version(&at("one")), "1");
        assert_eq!(version(&at("two")), "2");
        assert!(Arc::ptr_eq(&at("two"), &at("base")), "shared, not copied");
        let state = overlay(&[("l".into(), scan)]);
        let inv = crate::inventory::Inventory::from_files(&state, &BTreeMap::new());
        let apt: Vec<&str> = inv.apt.iter().map(|p| p.version.as_str()).collect();
        assert_eq!(apt, ["1", "2"]);
    }

    #[test]
    fn a_later_non_file_hides_an_earlier_database() {
        let l1 = scan_layer_tar(
            &layer(&[("var/lib/dpkg/status", DPKG.as_bytes())])[..],
            "l1",
        )
        .unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "var/lib/dpkg/status", "/dev/null")
            .unwrap();
        let l2 = scan_layer_tar(&b.into_inner().unwrap()[..], "l2").unwrap();
        assert!(overlay(&[("l1".into(), l1), ("l2".into(), l2)]).is_empty());
    }

    #[test]
    fn gzip_zstd_and_plain_blobs_with_digest_checks() {
        let tar = layer(&[("var/lib/dpkg/status", DPKG.as_bytes())]);
        for blob in [
            gzip(&tar),
            zstd::stream::encode_all(&tar[..], 3).unwrap(),
            tar.clone(),
        ] {
            let scan =
                scan_layer_blob(&blob[..], blob.len() as u64, Some(&digest(&blob)), "x").unwrap();
            assert_eq!(scan.files.len(), 1);
        }
        let blob = gzip(&tar);
        let err = scan_layer_blob(
            &blob[..],
            blob.len() as u64,
            Some(&digest(b"other")),
            "sha256:abc",
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("layer sha256:abc: its "),
            "{err}"
        );
    }

    #[test]
    fn corrupt_truncated_and_malformed_layers_name_layer_and_file() {
        let tar = layer(&[
            ("a", &[1u8; 100_000]),
            ("var/lib/dpkg/status", DPKG.as_bytes()),
        ]);
        let blob = gzip(&tar);
        let truncated = &blob[..blob.len() / 2];
        let err = scan_layer_blob(truncated, truncated.len() as u64, None, "sha256:t")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("layer sha256:t: ") && err.contains("truncated"),
            "{err}"
        );

        let mut corrupt = blob.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0x55;
        assert!(scan_layer_blob(&corrupt[..], corrupt.len() as u64, None, "sha256:c").is_err());

        let bad = layer(&[("var/lib/dpkg/status", b"Package: x\nno colon here\n")]);
        let err = scan_layer_tar(&bad[..], "sha256:m")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "layer sha256:m, file /var/lib/dpkg/status: line 2: `no colon here` is not a `Field: value` line");

        let bad = layer(&[("opt/conda/conda-meta/x-1-0.json", b"{not json")]);
        let err = scan_layer_tar(&bad[..], "sha256:j")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "layer sha256:j, file /opt/conda/conda-meta/x-1-0.json: not a conda-meta record"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_decompression_bomb_is_refused() {
        // The real limit is 1000:1 plus 1 GiB; the test shrinks it to keep the bomb small.
        struct Zeros(u64);
        impl Read for Zeros {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = (buf.len() as u64).min(self.0) as usize;
                buf[..n].fill(0);
                self.0 -= n as u64;
                Ok(n)
            }
        }
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut h = tar::Header::new_gnu();
        h.set_size(64 << 20);
        h.set_mode(0o644);
        h.set_path("big").unwrap();
        h.set_cksum();
        e.write_all(h.as_bytes()).unwrap();
        io::copy(&mut Zeros(64 << 20), &mut e).unwrap();
        let blob = e.finish().unwrap();
        let limit = blob.len() as u64 * 100 + (1 << 20);
        let err = scan_layer_blob_within(&blob[..], None, "sha256:bomb", limit)
            .unwrap_err()
            .to_string();
        assert!(err.contains("decompression bomb"), "{err}");
    }

    fn outer(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let refs: Vec<(&str, &[u8])> = entries.iter().map(|(p, d)| (*p, d.as_slice())).collect();
        layer(&refs)
    }

    #[test]
    fn docker_save_stream_with_manifest_last_and_layers_in_order() {
        let site = "usr/lib/python3/dist-packages";
        let l1 = gzip(&layer(&[
            ("var/lib/dpkg/status", DPKG.as_bytes()),
            (&format!("{site}/a-1.dist-info/METADATA"), &meta("a", "1")),
        ]));
        let l2 = gzip(&layer(&[
            (&format!("{site}/.wh.a-1.dist-info"), b""),
            (&format!("{site}/a-2.dist-info/METADATA"), &meta("a", "2")),
        ]));
        let config = br#"{"config":{"Env":["PATH=/usr/bin","CUDA_VERSION=12.1.1"]}}"#.to_vec();
        let (d1, d2, dc) = (digest(&l1), digest(&l2), digest(&config));
        let path = |d: &str| format!("blobs/sha256/{}", &d[7..]);
        // Layer 2 comes first in the stream, as docker save may order blobs.
        let manifest = format!(
            r#"[{{"Config":"{}","RepoTags":["x:1"],"Layers":["{}","{}"]}}]"#,
            path(&dc),
            path(&d1),
            path(&d2)
        );
        let archive = outer(&[
            (&path(&d2), l2.clone()),
            (&path(&dc), config.clone()),
            (&path(&d1), l1.clone()),
            ("manifest.json", manifest.into_bytes()),
        ]);
        let mut seen = 0;
        let (scan, inv) =
            crate::inventory::from_archive(&archive[..], &mut HashMap::new(), &mut |n| seen = n)
                .unwrap();
        assert_eq!(seen, archive.len() as u64);
        assert_eq!(
            scan.layers
                .iter()
                .map(|(d, _)| d.clone())
                .collect::<Vec<_>>(),
            [d1.clone(), d2.clone()]
        );
        assert_eq!(
            inv.pip
                .iter()
                .map(|p| (p.name.as_str(), p.version.as_str()))
                .collect::<Vec<_>>(),
            [("a", "2")]
        );
        assert_eq!(inv.cuda[0].name, "cuda");
        assert_eq!(inv.cuda[0].source, "env CUDA_VERSION");

        // A listed layer missing from the archive is an error, never a partial inventory.
        let manifest = format!(
            r#"[{{"Config":"{}","Layers":["{}","{}"]}}]"#,
            path(&dc),
            path(&d1),
            path(&d2)
        );
        let partial = outer(&[
            (&path(&d1), l1),
            (&path(&dc), config),
            ("manifest.json", manifest.into_bytes()),
        ]);
        let err = crate::inventory::from_archive(&partial[..], &mut HashMap::new(), &mut |_| {})
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("layer {d2} is listed in the manifest but not in the archive")
        );
    }

    /// An OCI archive of one image with `pkg` installed, plus its manifest.json twin.
    struct Built {
        members: Vec<(String, Vec<u8>)>,
        manifest_digest: String,
        config: String,
        layer: String,
    }

    fn image_with(pkg: &str) -> Built {
        let site = "usr/lib/python3/dist-packages";
        let l = gzip(&layer(&[(
            &format!("{site}/{pkg}-1.dist-info/METADATA"),
            &meta(pkg, "1"),
        )]));
        let config =
            format!(r#"{{"config":{{}},"rootfs":{{"diff_ids":[]}},"x":"{pkg}"}}"#).into_bytes();
        let (dl, dc) = (digest(&l), digest(&config));
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"digest":"{dc}","size":{}}},"layers":[{{"digest":"{dl}","size":{}}}]}}"#,
            config.len(),
            l.len()
        )
        .into_bytes();
        let dm = digest(&manifest);
        let path = |d: &str| format!("blobs/sha256/{}", &d[7..]);
        Built {
            members: vec![(path(&dl), l), (path(&dc), config), (path(&dm), manifest)],
            manifest_digest: dm,
            config: path(&dc),
            layer: path(&dl),
        }
    }

    fn index_of(digest: &str) -> Vec<u8> {
        format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":1}}]}}"#).into_bytes()
    }

    fn save_manifest_of(b: &Built) -> Vec<u8> {
        format!(
            r#"[{{"Config":"{}","RepoTags":["victim:latest"],"Layers":["{}"]}}]"#,
            b.config, b.layer
        )
        .into_bytes()
    }

    fn scan_both_ways(
        members: &[(String, Vec<u8>)],
    ) -> (Result<ImageScan, ScanError>, Result<ImageScan, ScanError>) {
        let refs: Vec<(&str, Vec<u8>)> = members
            .iter()
            .map(|(p, d)| (p.as_str(), d.clone()))
            .collect();
        let bytes = outer(&refs);
        let streamed = scan_archive(&bytes[..], &HashMap::new(), &mut |_| {});
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &bytes).unwrap();
        let seeked = scan_archive_file(file.path(), &Select::Only, &HashMap::new(), &|_| {});
        (streamed, seeked)
    }

    #[test]
    fn an_index_and_a_manifest_json_that_disagree_are_refused() {
        let genuine = image_with("genuine");
        let evil = image_with("evil");
        // The genuine index.json, a manifest.json pointing at another config and layer.
        let mut members = genuine.members.clone();
        members.extend(evil.members.clone());
        members.push(("index.json".into(), index_of(&genuine.manifest_digest)));
        members.push(("manifest.json".into(), save_manifest_of(&evil)));
        let (streamed, seeked) = scan_both_ways(&members);
        for result in [streamed, seeked] {
            let err = result.unwrap_err().to_string();
            assert!(
                err.contains("manifest.json and index.json describe different images"),
                "{err}"
            );
        }

        // When they agree (what docker save writes), the image is the index's, digest and all.
        let mut members = genuine.members.clone();
        members.extend(evil.members.clone());
        members.push(("index.json".into(), index_of(&genuine.manifest_digest)));
        members.push(("manifest.json".into(), save_manifest_of(&genuine)));
        let (streamed, seeked) = scan_both_ways(&members);
        for scan in [streamed.unwrap(), seeked.unwrap()] {
            assert_eq!(
                scan.manifest_digest.as_deref(),
                Some(genuine.manifest_digest.as_str())
            );
            assert_eq!(scan.config["x"], "genuine");
            assert_eq!(
                scan.config_digest.as_deref(),
                Some(&*format!("sha256:{}", &genuine.config[13..]))
            );
        }
    }

    #[test]
    fn a_json_member_twice_and_a_digest_that_is_no_digest_are_refused() {
        let genuine = image_with("genuine");
        let evil = image_with("evil");
        let mut members = genuine.members.clone();
        members.extend(evil.members.clone());
        members.push(("index.json".into(), index_of(&genuine.manifest_digest)));
        members.push(("./index.json".into(), index_of(&evil.manifest_digest)));
        let (streamed, seeked) = scan_both_ways(&members);
        for result in [streamed, seeked] {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("index.json appears twice"), "{err}");
        }
        let mut members = genuine.members.clone();
        members.push(("index.json".into(), index_of("sha256:../../etc/passwd")));
        let (streamed, _) = scan_both_ways(&members);
        let err = streamed.unwrap_err().to_string();
        assert!(err.contains("unsupported digest"), "{err}");
    }

    fn write_verified_copy(
        from: &std::path::Path,
        to: &std::path::Path,
        digest: &str,
    ) -> Result<String, ScanError> {
        let image = LayoutImage {
            archive: from,
            select: Select::Manifest(digest.to_string()),
            name: "paper:abc".into(),
            index: None,
        };
        write_verified_layout(to, &[image]).map(|mut d| d.remove(0))
    }

    /// An image of `layers` (each a gzip blob) with `x` in its config.
    fn image_of(layers: &[Vec<u8>], x: &str) -> Built {
        let config =
            format!(r#"{{"config":{{}},"rootfs":{{"diff_ids":[]}},"x":"{x}"}}"#).into_bytes();
        let dc = digest(&config);
        let path = |d: &str| format!("blobs/sha256/{}", &d[7..]);
        let descriptors: Vec<String> = layers
            .iter()
            .map(|l| format!(r#"{{"digest":"{}","size":{}}}"#, digest(l), l.len()))
            .collect();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"digest":"{dc}","size":{}}},"layers":[{}]}}"#,
            config.len(),
            descriptors.join(",")
        )
        .into_bytes();
        let dm = digest(&manifest);
        let mut members: Vec<(String, Vec<u8>)> = layers
            .iter()
            .map(|l| (path(&digest(l)), l.clone()))
            .collect();
        members.push((path(&dc), config));
        members.push((path(&dm), manifest));
        Built {
            members,
            manifest_digest: dm,
            config: path(&dc),
            layer: path(&digest(&layers[0])),
        }
    }

    fn index_listing(digests: &[&str]) -> Vec<u8> {
        let entries: Vec<String> = digests
            .iter()
            .map(|d| format!(r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":1}}"#))
            .collect();
        format!(
            r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
            entries.join(",")
        )
        .into_bytes()
    }

    fn archive_file(members: &[(String, Vec<u8>)]) -> tempfile::NamedTempFile {
        let refs: Vec<(&str, Vec<u8>)> = members
            .iter()
            .map(|(p, d)| (p.as_str(), d.clone()))
            .collect();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), outer(&refs)).unwrap();
        file
    }

    #[test]
    fn an_archive_of_base_and_release_is_read_by_the_digest_asked_for() {
        let site = "usr/lib/python3/dist-packages";
        let shared = gzip(&layer(&[(
            &format!("{site}/env-1.dist-info/METADATA"),
            &meta("env", "1"),
        )]));
        let code = gzip(&layer(&[("app/main.py", b"print(1)\n".as_slice())]));
        let base = image_of(std::slice::from_ref(&shared), "base");
        let release = image_of(&[shared, code], "release");
        let mut members = base.members.clone();
        members.extend(release.members.iter().skip(1).cloned());
        members.push((
            "index.json".into(),
            index_listing(&[&base.manifest_digest, &release.manifest_digest]),
        ));
        let file = archive_file(&members);
        let read =
            |select: Select| scan_archive_file(file.path(), &select, &HashMap::new(), &|_| {});
        let err = read(Select::Only).unwrap_err().to_string();
        assert!(err.contains("index.json lists 2 images"), "{err}");
        let r = read(Select::Manifest(release.manifest_digest.clone())).unwrap();
        assert_eq!(r.config["x"], "release");
        assert_eq!(r.layers.len(), 2);
        let b = read(Select::Manifest(base.manifest_digest.clone())).unwrap();
        assert_eq!(b.config["x"], "base");
        assert_eq!(
            b.manifest_digest.as_deref(),
            Some(base.manifest_digest.as_str())
        );
        let other = image_with("other");
        match read(Select::Manifest(other.manifest_digest.clone())) {
            Err(ScanError::NotHeld(d)) => assert_eq!(d, other.manifest_digest),
            other => panic!("{other:?}"),
        }

        // One verified layout holds both, the shared layer once, named as asked.
        let out = tempfile::NamedTempFile::new().unwrap();
        let images = [
            LayoutImage {
                archive: file.path(),
                select: Select::Manifest(base.manifest_digest.clone()),
                name: "paper:base".into(),
                index: None,
            },
            LayoutImage {
                archive: file.path(),
                select: Select::Manifest(release.manifest_digest.clone()),
                name: "paper:0123".into(),
                index: None,
            },
        ];
        let digests = write_verified_layout(out.path(), &images).unwrap();
        assert_eq!(
            digests,
            [
                base.manifest_digest.clone(),
                release.manifest_digest.clone()
            ]
        );
        let names: Vec<String> = tar::Archive::new(std::fs::File::open(out.path()).unwrap())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names.len(), 6 + 3, "2 manifests, 2 configs, 2 distinct layers and index.json, manifest.json, oci-layout: {names:?}");
        let unique: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "no blob twice: {names:?}");
        for (wanted, x) in [
            (&base.manifest_digest, "base"),
            (&release.manifest_digest, "release"),
        ] {
            let scan = scan_archive_file(
                out.path(),
                &Select::Manifest(wanted.clone()),
                &HashMap::new(),
                &|_| {},
            )
            .unwrap();
            assert_eq!(scan.config["x"], x);
        }
        let text = String::from_utf8_lossy(&std::fs::read(out.path()).unwrap()).into_owned();
        assert!(text.contains(r#""io.containerd.image.name":"docker.io/library/paper:base""#));
        assert!(
            text.contains(r#""RepoTags":["paper:0123"]"#),
            "manifest.json names both"
        );
        // A user names one image of such an archive; unnamed, the error lists the names.
        let by_name = |name: &str| {
            scan_archive_file(
                out.path(),
                &Select::Named(name.into()),
                &HashMap::new(),
                &|_| {},
            )
        };
        assert_eq!(by_name("paper:base").unwrap().config["x"], "base");
        assert_eq!(
            by_name("docker.io/library/paper:0123").unwrap().config["x"],
            "release"
        );
        assert_eq!(
            by_name(&release.manifest_digest).unwrap().config["x"],
            "release"
        );
        let err = by_name("paper:nope").unwrap_err().to_string();
        assert!(err.contains("no image named paper:nope"), "{err}");
        let err = scan_archive_file(out.path(), &Select::Only, &HashMap::new(), &|_| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lists 2 images (docker.io/library/paper:base, docker.io/library/paper:0123); name the one"),
            "{err}"
        );
    }

    /// An archive whose `index.json` lists one image index of these entries (JSON descriptors
    /// without their digest's document), holding `images`.
    fn archive_of_index(images: &[&Built], entries: &[String]) -> tempfile::NamedTempFile {
        let nested = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
            entries.join(",")
        )
        .into_bytes();
        let dn = digest(&nested);
        let mut members: Vec<(String, Vec<u8>)> =
            images.iter().flat_map(|b| b.members.clone()).collect();
        members.push((format!("blobs/sha256/{}", &dn[7..]), nested));
        members.push(("index.json".into(), index_listing(&[&dn])));
        archive_file(&members)
    }

    fn image_entry(b: &Built, platform: &str) -> String {
        let mut parts = platform.split('/');
        let (os, arch) = (parts.next().unwrap(), parts.next().unwrap());
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"platform":{{"os":"{os}","architecture":"{arch}"}}}}"#,
            b.manifest_digest
        )
    }

    /// An attestation entry as buildx writes it: platform unknown/unknown, annotated with what
    /// it is and the image manifest it is about. Its document is not in the archive (`docker
    /// save` leaves attestations out), and it never needs to be.
    fn attestation_entry(about: &str) -> String {
        let own = digest(about.as_bytes());
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{own}","size":1,"annotations":{{"vnd.docker.reference.digest":"{about}","vnd.docker.reference.type":"attestation-manifest"}},"platform":{{"architecture":"unknown","os":"unknown"}}}}"#
        )
    }

    #[test]
    fn attestation_manifests_are_skipped_by_their_annotation_and_must_be_about_a_listed_image() {
        let amd = image_with("amd");
        let arm = image_with("arm");
        let read = |file: &tempfile::NamedTempFile, select: Select| {
            scan_archive_file(file.path(), &select, &HashMap::new(), &|_| {})
        };
        let platform = |p: &str| Select::ForPlatform {
            name: None,
            platform: p.parse().unwrap(),
        };
        // What `docker buildx build -t x .` makes: one image and its provenance.
        let built = archive_of_index(
            &[&amd],
            &[
                image_entry(&amd, "linux/amd64"),
                attestation_entry(&amd.manifest_digest),
            ],
        );
        assert_eq!(read(&built, Select::Only).unwrap().config["x"], "amd");
        assert_eq!(
            read(&built, platform("linux/amd64")).unwrap().config["x"],
            "amd"
        );
        let err = read(&built, platform("linux/arm64"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no image for linux/arm64; it holds linux/amd64"),
            "{err}"
        );

        // Two platforms, each with its attestation.
        let both = archive_of_index(
            &[&amd, &arm],
            &[
                image_entry(&amd, "linux/amd64"),
                image_entry(&arm, "linux/arm64"),
                attestation_entry(&amd.manifest_digest),
                attestation_entry(&arm.manifest_digest),
            ],
        );
        assert_eq!(
            read(&both, platform("linux/arm64")).unwrap().config["x"],
            "arm"
        );

        // An attestation about a manifest the index does not list, or about none.
        let stray = digest(b"elsewhere");
        for attestation in [
            attestation_entry(&stray),
            attestation_entry("").replace(r#""vnd.docker.reference.digest":"","#, ""),
        ] {
            let file = archive_of_index(&[&amd], &[image_entry(&amd, "linux/amd64"), attestation]);
            let err = read(&file, Select::Only).unwrap_err().to_string();
            assert!(
                err.contains("which is not an image it lists; refusing a confusing index"),
                "{err}"
            );
        }
        // Attestations only, and an unannotated unknown/unknown entry (never guessed away).
        let only = archive_of_index(&[&amd], &[attestation_entry(&amd.manifest_digest)]);
        let err = read(&only, Select::Only).unwrap_err().to_string();
        assert!(err.contains("which is not an image it lists"), "{err}");
        let unannotated = archive_of_index(
            &[&amd, &arm],
            &[
                image_entry(&amd, "linux/amd64"),
                image_entry(&arm, "unknown/unknown"),
            ],
        );
        let err = read(&unannotated, platform("linux/arm64"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("it holds linux/amd64, unknown/unknown"),
            "{err}"
        );
        // Two images for one platform are ambiguous, attestations or not.
        let twice = archive_of_index(
            &[&amd, &arm],
            &[
                image_entry(&amd, "linux/amd64"),
                image_entry(&arm, "linux/amd64"),
            ],
        );
        let err = read(&twice, Select::Only).unwrap_err().to_string();
        assert!(err.contains("lists platform linux/amd64 twice"), "{err}");
    }

    #[test]
    fn a_platform_asked_of_a_single_image_is_checked_against_its_config() {
        let amd = image_with("amd");
        let file = archive_file(
            &[
                amd.members.clone(),
                vec![("index.json".into(), index_listing(&[&amd.manifest_digest]))],
            ]
            .concat(),
        );
        let select = |p: &str| Select::ForPlatform {
            name: None,
            platform: p.parse().unwrap(),
        };
        // image_with's config names no platform at all.
        let err = scan_archive_file(
            file.path(),
            &select("linux/amd64"),
            &HashMap::new(),
            &|_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("the image is for /, not linux/amd64"), "{err}");
    }

    #[test]
    fn a_platform_of_an_image_index_is_reached_through_it() {
        let amd = image_with("amd");
        let arm = image_with("arm");
        let nested = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"digest":"{}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},{{"digest":"{}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}}]}}"#,
            amd.manifest_digest, arm.manifest_digest
        )
        .into_bytes();
        let dn = digest(&nested);
        let mut members = amd.members.clone();
        members.extend(arm.members.clone());
        members.push((format!("blobs/sha256/{}", &dn[7..]), nested));
        members.push(("index.json".into(), index_listing(&[&dn])));
        let file = archive_file(&members);
        let read =
            |select: Select| scan_archive_file(file.path(), &select, &HashMap::new(), &|_| {});
        // Of several platforms, the archive's one image is this host's platform's.
        let host = crate::image::platform::Platform::host().to_string();
        let expected = match host.as_str() {
            "linux/amd64" => Some("amd"),
            "linux/arm64" => Some("arm"),
            _ => None,
        };
        match expected {
            Some(x) => assert_eq!(read(Select::Only).unwrap().config["x"], x),
            None => {
                let err = read(Select::Only).unwrap_err().to_string();
                assert!(err.contains(&format!("no image for {host}")), "{err}");
            }
        }
        let arm64 = |p: &str| Select::ForPlatform {
            name: None,
            platform: p.parse().unwrap(),
        };
        assert_eq!(read(arm64("linux/arm64")).unwrap().config["x"], "arm");
        assert_eq!(read(arm64("linux/amd64")).unwrap().config["x"], "amd");
        let err = read(arm64("linux/s390x")).unwrap_err().to_string();
        assert!(
            err.contains("no image for linux/s390x; it holds linux/amd64, linux/arm64: choose one with --platform"),
            "{err}"
        );
        assert_eq!(
            read(Select::Manifest(arm.manifest_digest.clone()))
                .unwrap()
                .config["x"],
            "arm"
        );
        // The index itself is not an image.
        let err = read(Select::Manifest(dn.clone())).unwrap_err().to_string();
        assert!(
            err.contains("an image index, not an image manifest"),
            "{err}"
        );

        // The index of platforms, read as such: its digest and each platform's manifest.
        let index = image_index(file.path(), None).unwrap().unwrap();
        assert_eq!(index.digest, dn);
        assert_eq!(
            index.platforms,
            [
                ("linux/amd64".to_string(), amd.manifest_digest.clone()),
                ("linux/arm64".to_string(), arm.manifest_digest.clone())
            ]
        );
        assert_eq!(image_index(file.path(), Some(&dn)).unwrap(), Some(index));
        assert!(matches!(
            image_index(file.path(), Some(&amd.manifest_digest)),
            Err(ScanError::NotHeld(_))
        ));

        // A verified layout of both platforms names the index once, as the image.
        let out = tempfile::NamedTempFile::new().unwrap();
        let layout: Vec<LayoutImage> = [&amd, &arm]
            .iter()
            .map(|b| LayoutImage {
                archive: file.path(),
                select: Select::Manifest(b.manifest_digest.clone()),
                name: "paper:0123".into(),
                index: Some(dn.clone()),
            })
            .collect();
        write_verified_layout(out.path(), &layout).unwrap();
        let copied = image_index(out.path(), None).unwrap().unwrap();
        assert_eq!(copied.digest, dn);
        let arm_read = scan_archive_file(
            out.path(),
            &Select::Manifest(arm.manifest_digest.clone()),
            &HashMap::new(),
            &|_| {},
        )
        .unwrap();
        assert_eq!(arm_read.config["x"], "arm");
        // An index that does not list the manifest is refused.
        let other = image_with("other");
        let mut members2 = members.clone();
        members2.retain(|(m, _)| m != "index.json");
        members2.extend(other.members.clone());
        members2.push((
            "index.json".into(),
            index_listing(&[&dn, &other.manifest_digest]),
        ));
        let file2 = archive_file(&members2);
        let bad = LayoutImage {
            archive: file2.path(),
            select: Select::Manifest(other.manifest_digest.clone()),
            name: "paper:0123".into(),
            index: Some(dn.clone()),
        };
        let err = write_verified_layout(out.path(), &[bad])
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not list manifest"), "{err}");

        // A platform listed twice makes the index ambiguous.
        let twice = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}},{{"digest":"{}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}}]}}"#,
            amd.manifest_digest, arm.manifest_digest
        )
        .into_bytes();
        let dt = digest(&twice);
        let mut members3 = amd.members.clone();
        members3.extend(arm.members.clone());
        members3.push((format!("blobs/sha256/{}", &dt[7..]), twice));
        members3.push(("index.json".into(), index_listing(&[&dt])));
        let file3 = archive_file(&members3);
        let err = image_index(file3.path(), None).unwrap_err().to_string();
        assert!(err.contains("twice"), "{err}");
    }

    #[test]
    fn a_manifest_json_naming_an_image_the_index_does_not_lead_to_is_refused() {
        let base = image_with("base");
        let release = image_with("release");
        let evil = image_with("evil");
        let save = |images: &[&Built]| {
            let entries: Vec<String> = images
                .iter()
                .map(|b| {
                    format!(
                        r#"{{"Config":"{}","RepoTags":["x:1"],"Layers":["{}"]}}"#,
                        b.config, b.layer
                    )
                })
                .collect();
            format!("[{}]", entries.join(",")).into_bytes()
        };
        let mut members = base.members.clone();
        members.extend(release.members.clone());
        members.extend(evil.members.clone());
        members.push((
            "index.json".into(),
            index_listing(&[&base.manifest_digest, &release.manifest_digest]),
        ));
        let mut agreeing = members.clone();
        agreeing.push(("manifest.json".into(), save(&[&base, &release])));
        let file = archive_file(&agreeing);
        let scan = scan_archive_file(
            file.path(),
            &Select::Manifest(release.manifest_digest.clone()),
            &HashMap::new(),
            &|_| {},
        )
        .unwrap();
        assert_eq!(scan.config["x"], "release");
        members.push(("manifest.json".into(), save(&[&base, &evil])));
        let file = archive_file(&members);
        let err = scan_archive_file(
            file.path(),
            &Select::Manifest(release.manifest_digest.clone()),
            &HashMap::new(),
            &|_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("two entry points that disagree"), "{err}");
    }

    #[test]
    fn a_verified_copy_holds_one_image_named_as_asked() {
        let genuine = image_with("genuine");
        let evil = image_with("evil");
        let mut members = genuine.members.clone();
        members.extend(evil.members.clone());
        members.push(("index.json".into(), index_of(&genuine.manifest_digest)));
        members.push(("manifest.json".into(), save_manifest_of(&genuine)));
        let refs: Vec<(&str, Vec<u8>)> = members
            .iter()
            .map(|(p, d)| (p.as_str(), d.clone()))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("in.tar"), dir.path().join("out.tar"));
        std::fs::write(&from, outer(&refs)).unwrap();
        let digest = write_verified_copy(&from, &to, &genuine.manifest_digest).unwrap();
        assert_eq!(digest, genuine.manifest_digest);
        let copy = scan_archive_file(&to, &Select::Only, &HashMap::new(), &|_| {}).unwrap();
        assert_eq!(copy.manifest_digest.as_deref(), Some(digest.as_str()));
        let mut names: Vec<String> = tar::Archive::new(std::fs::File::open(&to).unwrap())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        let mut expected: Vec<String> = genuine.members.iter().map(|(p, _)| p.clone()).collect();
        expected.extend(["index.json", "manifest.json", "oci-layout"].map(String::from));
        expected.sort();
        assert_eq!(
            names, expected,
            "only the verified image's blobs, nothing of the other"
        );
        let index = std::fs::read(&to).unwrap();
        let text = String::from_utf8_lossy(&index);
        assert!(text.contains(r#""io.containerd.image.name":"docker.io/library/paper:abc""#));
        assert!(
            !text.contains("victim"),
            "the archive's own tags are dropped"
        );

        // A blob that does not hash to its name stops the copy.
        let mut tampered = members.clone();
        let layer = tampered
            .iter_mut()
            .find(|(p, _)| *p == genuine.layer)
            .unwrap();
        let last = layer.1.len() - 1;
        layer.1[last] ^= 1;
        let refs: Vec<(&str, Vec<u8>)> = tampered
            .iter()
            .map(|(p, d)| (p.as_str(), d.clone()))
            .collect();
        std::fs::write(&from, outer(&refs)).unwrap();
        let err = write_verified_copy(&from, &to, &genuine.manifest_digest)
            .unwrap_err()
            .to_string();
        assert!(err.contains("corrupt or changed"), "{err}");
    }

    #[test]
    fn an_archive_that_stops_before_its_end_blocks_is_called_truncated() {
        let genuine = image_with("genuine");
        let mut members = genuine.members.clone();
        members.push(("index.json".into(), index_of(&genuine.manifest_digest)));
        let refs: Vec<(&str, Vec<u8>)> = members
            .iter()
            .map(|(p, d)| (p.as_str(), d.clone()))
            .collect();
        let whole = outer(&refs);
        // Cut at a member boundary, before index.json: every header read is whole.
        let cut = whole.len() - 1024 - 512 - 512;
        for bytes in [&whole[..whole.len() - 1024], &whole[..cut]] {
            let streamed = scan_archive(bytes, &HashMap::new(), &mut |_| {}).unwrap_err();
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), bytes).unwrap();
            let seeked = scan_archive_file(file.path(), &Select::Only, &HashMap::new(), &|_| {})
                .unwrap_err();
            for err in [streamed.to_string(), seeked.to_string()] {
                assert!(err.contains("the image archive is truncated"), "{err}");
            }
        }
    }

    #[test]
    fn an_entry_point_is_never_skipped_nor_a_link() {
        let genuine = image_with("genuine");
        let evil = image_with("evil");
        // A newline before the index's JSON used to make it look like no JSON at all, so the
        // disagreeing manifest.json was read alone.
        let mut members = genuine.members.clone();
        members.extend(evil.members.clone());
        let mut index = b"\n".to_vec();
        index.extend(index_of(&genuine.manifest_digest));
        members.push(("index.json".into(), index));
        members.push(("manifest.json".into(), save_manifest_of(&evil)));
        let (streamed, seeked) = scan_both_ways(&members);
        for result in [streamed, seeked] {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("describe different images"), "{err}");
        }
        // An index.json that is a link.
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in &genuine.members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, path, data.as_slice()).unwrap();
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "index.json", "blobs/sha256/x")
            .unwrap();
        let bytes = b.into_inner().unwrap();
        let err = scan_archive(&bytes[..], &HashMap::new(), &mut |_| {}).unwrap_err();
        assert!(
            err.to_string().contains("index.json is not a plain file"),
            "{err}"
        );
        // An index.json larger than any index.
        let mut members = genuine.members.clone();
        let mut huge = index_of(&genuine.manifest_digest);
        huge.resize(MAX_JSON as usize + 1, b' ');
        members.push(("index.json".into(), huge));
        let (streamed, seeked) = scan_both_ways(&members);
        for result in [streamed, seeked] {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("more than the"), "{err}");
        }
    }

    #[test]
    fn a_layer_listed_many_times_is_read_once_and_an_ambiguous_document_refused() {
        let site = "usr/lib/python3/dist-packages";
        let l = gzip(&layer(&[(
            &format!("{site}/a-1.dist-info/METADATA"),
            &meta("a", "1"),
        )]));
        let config = br#"{"config":{}}"#.to_vec();
        let (dl, dc) = (digest(&l), digest(&config));
        let layers = vec![format!(r#"{{"digest":"{dl}","size":{}}}"#, l.len()); 50].join(",");
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{dc}","size":1}},"layers":[{layers}]}}"#
        )
        .into_bytes();
        let dm = digest(&manifest);
        let path = |d: &str| format!("blobs/sha256/{}", &d[7..]);
        let members = vec![
            (path(&dl), l.clone()),
            (path(&dc), config.clone()),
            (path(&dm), manifest),
            ("index.json".to_string(), index_of(&dm)),
        ];
        let refs: Vec<(&str, Vec<u8>)> = members
            .iter()
            .map(|(p, d)| (p.as_str(), d.clone()))
            .collect();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), outer(&refs)).unwrap();
        let most = std::sync::atomic::AtomicU64::new(0);
        let scan = scan_archive_file(file.path(), &Select::Only, &HashMap::new(), &|n| {
            most.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(scan.layers.len(), 50);
        assert_eq!(most.into_inner(), l.len() as u64, "the layer was read once");
        let (streamed, _) = scan_both_ways(&members);
        assert_eq!(streamed.unwrap().layers.len(), 50);

        // A document that is an index and a manifest at once.
        let ambiguous = format!(r#"{{"schemaVersion":2,"manifests":[{{"digest":"{dm}"}}],"config":{{"digest":"{dc}","size":1}},"layers":[]}}"#).into_bytes();
        let da = digest(&ambiguous);
        let mut members = members.clone();
        members.pop();
        members.push((path(&da), ambiguous));
        members.push(("index.json".to_string(), index_of(&da)));
        let (streamed, seeked) = scan_both_ways(&members);
        for result in [streamed, seeked] {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("ambiguous"), "{err}");
        }
    }

    /// An OCI archive of one image of the layer blobs `layers`, bottom first, holding the
    /// blobs `present` only; and its layers' digests.
    fn image_of_layers(
        layers: &[Vec<u8>],
        present: &[usize],
    ) -> (tempfile::NamedTempFile, Vec<String>) {
        let digests: Vec<String> = layers.iter().map(|l| digest(l)).collect();
        let config =
            br#"{"config":{"Env":["CUDA_VERSION=12.1"]},"rootfs":{"diff_ids":[]}}"#.to_vec();
        let descriptors: Vec<String> = layers
            .iter()
            .zip(&digests)
            .map(|(l, d)| format!(r#"{{"digest":"{d}","size":{}}}"#, l.len()))
            .collect();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"digest":"{}","size":{}}},"layers":[{}]}}"#,
            digest(&config),
            config.len(),
            descriptors.join(",")
        )
        .into_bytes();
        let path = |d: &str| format!("blobs/sha256/{}", &d[7..]);
        let mut members = vec![
            ("index.json".to_string(), index_of(&digest(&manifest))),
            (path(&digest(&manifest)), manifest),
            (path(&digest(&config)), config),
        ];
        for &i in present {
            if !members.iter().any(|(p, _)| *p == path(&digests[i])) {
                members.push((path(&digests[i]), layers[i].clone()));
            }
        }
        (archive_file(&members), digests)
    }

    #[test]
    fn a_release_read_on_its_base_merged_gives_what_reading_every_layer_gives() {
        let site = "usr/lib/python3/dist-packages";
        let meta_of = |name: &str| format!("{site}/{name}-1.dist-info/METADATA");
        let empty = gzip(&layer(&[]));
        let layers = vec![
            gzip(&layer(&[
                ("var/lib/dpkg/status", DPKG.as_bytes()),
                (&meta_of("a"), &meta("a", "1")),
                (&meta_of("gone"), &meta("gone", "1")),
            ])),
            // Deletes one of the base's packages, adds another.
            gzip(&layer(&[
                (&format!("{site}/.wh.gone-1.dist-info"), b""),
                (&meta_of("b"), &meta("b", "1")),
            ])),
            empty.clone(),
            // The release: deletes a base package, adds one, and the base's empty layer again.
            gzip(&layer(&[
                (&format!("{site}/.wh.b-1.dist-info"), b""),
                (&meta_of("c"), &meta("c", "1")),
            ])),
            empty,
        ];
        let (whole, digests) = image_of_layers(&layers, &[0, 1, 2, 3]);
        let every =
            scan_archive_file(whole.path(), &Select::Only, &HashMap::new(), &|_| {}).unwrap();
        let merged = Merged::of(&every.layers[..3]);
        assert_eq!(merged.layers, digests[..3]);
        assert_eq!(merged.inert, BTreeSet::from([digests[2].clone()]));
        // Kept as JSON and read back the same.
        let kept: Merged = serde_json::from_slice(&serde_json::to_vec(&merged).unwrap()).unwrap();
        assert_eq!(kept, merged);

        // The release's archive without the base's blobs.
        let (lean, _) = image_of_layers(&layers, &[3]);
        let on_base = scan_archive_file_on(
            lean.path(),
            &Select::Only,
            Some(&kept),
            &HashMap::new(),
            &|_| {},
        )
        .unwrap();
        assert_eq!(
            on_base.layers.len(),
            3,
            "the base as one layer, then the release's two"
        );
        assert_eq!(on_base.layers[0].0, format!("base:{}", digests[0]));
        let names = |scan: &ImageScan| {
            let inventory = crate::inventory::Inventory::from_scan(scan);
            (
                inventory
                    .pip
                    .iter()
                    .map(|p| p.name.clone())
                    .collect::<Vec<_>>(),
                inventory.to_lock(),
            )
        };
        assert_eq!(names(&on_base), names(&every));
        assert_eq!(names(&on_base).0, ["a", "c"]);

        // The base itself, read without the blobs of the registry image below it (its first
        // layer): merged, the same as when every layer was read.
        let registry = Merged::of(&every.layers[..1]);
        let (base_only, _) = image_of_layers(&layers[..3], &[1, 2]);
        let base_scan = scan_archive_file_on(
            base_only.path(),
            &Select::Only,
            Some(&registry),
            &HashMap::new(),
            &|_| {},
        )
        .unwrap();
        assert_eq!(
            Merged::of_image(&digests[..3], &base_scan.layers, Some(&registry)),
            merged
        );

        // Without its base's layers, an image is refused.
        let (other, _) = image_of_layers(&layers[3..], &[0]);
        let err = scan_archive_file_on(
            other.path(),
            &Select::Only,
            Some(&kept),
            &HashMap::new(),
            &|_| {},
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("does not start with the 3 layers"),
            "{err}"
        );

        // A base layer that is not inert, listed again above the base, must be read.
        let again = vec![
            layers[0].clone(),
            layers[1].clone(),
            layers[2].clone(),
            layers[1].clone(),
        ];
        let (missing, _) = image_of_layers(&again, &[]);
        let err = scan_archive_file_on(
            missing.path(),
            &Select::Only,
            Some(&kept),
            &HashMap::new(),
            &|_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("not in the archive"), "{err}");
    }

    #[test]
    fn a_library_read_back_is_one_this_reader_knows() {
        let found = Found::Library {
            library: "libnccl",
            version: "2.21.5".into(),
        };
        let json = serde_json::to_string(&found).unwrap();
        assert_eq!(serde_json::from_str::<Found>(&json).unwrap(), found);
        let forged = json.replace("libnccl", "libevil");
        let err = serde_json::from_str::<Found>(&forged).unwrap_err();
        assert!(
            err.to_string().contains("is not a library read here"),
            "{err}"
        );
    }
}
