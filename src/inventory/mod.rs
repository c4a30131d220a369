//! What is inside an image: apt, pip and conda packages and CUDA facts, read from its layers
//! without running it (so `FROM scratch`, distroless and foreign-architecture images work).

pub mod catalog;
pub mod explicit;
pub mod layers;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use catalog::{AptPackage, CondaRecord, OsRelease};
use layers::{Found, ImageScan, LayerScan};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PipPackage {
    /// As written in the package's metadata.
    pub name: String,
    /// PEP 503-normalised, for matching.
    pub normalized: String,
    pub version: String,
    /// The site-packages or dist-packages directory it is installed in.
    pub environment: String,
    /// From `INSTALLER` (pip, uv, conda, debian…); empty when absent.
    pub installer: String,
    /// From `direct_url.json` (a local wheel, a VCS URL with commit, an archive hash).
    pub direct_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CondaPackage {
    #[serde(flatten)]
    pub package: CondaRecord,
    /// The conda environment (the directory holding `conda-meta`).
    pub environment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CudaComponent {
    /// `cuda`, `cudnn`, `nccl`, `cudart`, `torch`, `torch-cuda`, `require-cuda`, or an
    /// `nvidia-*-cu1X` wheel's name.
    pub name: String,
    pub version: String,
    /// Where it was read: a path in the image, `env NAME`, or `pip`.
    pub source: String,
}

/// The documented JSON of `docker repro inspect --format json` (plus `image`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// The distribution, from `/etc/os-release` (else `/usr/lib/os-release`); null when the
    /// image has none (`FROM scratch`, some distroless images).
    pub os: Option<OsRelease>,
    pub apt: Vec<AptPackage>,
    pub pip: Vec<PipPackage>,
    pub conda: Vec<CondaPackage>,
    pub cuda: Vec<CudaComponent>,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct InventoryError(#[from] pub layers::ScanError);

/// Reads an image archive (`docker save` stream or OCI layout tar) and catalogues it.
pub fn from_archive<R: Read>(
    archive: R,
    known: &mut HashMap<String, LayerScan>,
    progress: &mut dyn FnMut(u64),
) -> Result<(ImageScan, Inventory), InventoryError> {
    from_archive_selected(archive, &layers::Select::Only, known, progress)
}

/// [`from_archive`] of the image `select` names.
pub fn from_archive_selected<R: Read>(
    archive: R,
    select: &layers::Select,
    known: &mut HashMap<String, LayerScan>,
    progress: &mut dyn FnMut(u64),
) -> Result<(ImageScan, Inventory), InventoryError> {
    let scan = layers::scan_archive_selected(archive, select, known, progress)?;
    for (digest, layer) in &scan.layers {
        known.entry(digest.clone()).or_insert_with(|| layer.clone());
    }
    let inventory = Inventory::from_scan(&scan);
    Ok((scan, inventory))
}

fn display_path(path: &str) -> String {
    format!("/{path}")
}

impl Inventory {
    pub fn from_scan(scan: &ImageScan) -> Inventory {
        let files = layers::overlay(&scan.layers);
        let env = image_env(&scan.config);
        Inventory::from_files(&files, &env)
    }

    pub fn from_files(
        files: &BTreeMap<String, Arc<Found>>,
        env: &BTreeMap<String, String>,
    ) -> Inventory {
        let mut inv = Inventory::default();
        // Hard links share one record: its packages are listed once, not once per link.
        let mut seen_dpkg = std::collections::HashSet::new();
        for (path, found) in files {
            let (dir, _file) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            match found.as_ref() {
                Found::DpkgStatus(pkgs) => {
                    if seen_dpkg.insert(Arc::as_ptr(found)) {
                        inv.apt.extend(pkgs.iter().cloned());
                    }
                }
                Found::PyMetadata { name, version } => {
                    // `<env>/<x>.dist-info/METADATA`, `<env>/<x>.egg-info/PKG-INFO` or `<env>/<x>.egg-info`.
                    let meta_dir = if path.ends_with(".egg-info") {
                        path.as_str()
                    } else {
                        dir
                    };
                    let environment = meta_dir.rsplit_once('/').map_or("", |(e, _)| e);
                    let sibling =
                        |name: &str| files.get(&format!("{meta_dir}/{name}")).map(|f| f.as_ref());
                    let installer = match sibling("INSTALLER") {
                        Some(Found::PyInstaller(i)) => i.clone(),
                        _ => String::new(),
                    };
                    let direct_url = match sibling("direct_url.json") {
                        Some(Found::PyDirectUrl(u)) => Some(u.clone()),
                        _ => None,
                    };
                    inv.pip.push(PipPackage {
                        normalized: catalog::normalise_python_name(name),
                        name: name.clone(),
                        version: version.clone(),
                        environment: display_path(environment),
                        installer,
                        direct_url,
                    });
                }
                Found::Conda(r) => {
                    let environment = dir
                        .strip_suffix("/conda-meta")
                        .or_else(|| dir.strip_suffix("conda-meta"))
                        .unwrap_or(dir);
                    inv.conda.push(CondaPackage {
                        package: r.clone(),
                        environment: display_path(environment),
                    });
                }
                Found::CudaVersion(v) => inv.cuda.push(component("cuda", v, &display_path(path))),
                Found::Cudnn(v) => inv.cuda.push(component("cudnn", v, &display_path(path))),
                Found::Library { library, version } => {
                    let name = library.trim_start_matches("lib");
                    inv.cuda.push(component(name, version, &display_path(path)));
                }
                Found::Torch { version, cuda } => {
                    inv.cuda
                        .push(component("torch", version, &display_path(path)));
                    if let Some(c) = cuda {
                        inv.cuda
                            .push(component("torch-cuda", c, &display_path(path)));
                    }
                }
                // `/etc/os-release` wins over `/usr/lib/os-release`, as os-release(5) says.
                Found::OsRelease(os) => {
                    if path == "etc/os-release" || inv.os.is_none() {
                        inv.os = Some(os.clone());
                    }
                }
                Found::PyInstaller(_) | Found::PyDirectUrl(_) | Found::Hidden => {}
            }
        }
        for (var, name) in [
            ("CUDA_VERSION", "cuda"),
            ("NVIDIA_REQUIRE_CUDA", "require-cuda"),
            ("NV_CUDNN_VERSION", "cudnn"),
            ("CUDNN_VERSION", "cudnn"),
            ("NCCL_VERSION", "nccl"),
            ("NV_LIBNCCL_PACKAGE_VERSION", "nccl"),
        ] {
            if let Some(v) = env.get(var).filter(|v| !v.is_empty()) {
                inv.cuda.push(component(name, v, &format!("env {var}")));
            }
        }
        for p in &inv.pip {
            if is_cuda_wheel(&p.normalized) {
                inv.cuda.push(component(&p.normalized, &p.version, "pip"));
            }
        }
        // Conda environments carry CUDA as packages: the toolkit's pieces, conda-forge's
        // `cuda-version` pin, and PyTorch's builds, whose build string names their CUDA
        // (`py3.11_cuda12.1_cudnn8.9.2_0`).
        for CondaPackage {
            package: p,
            environment,
        } in &inv.conda
        {
            let source = format!("conda {environment}");
            if CONDA_CUDA_PACKAGES.contains(&p.name.as_str()) {
                inv.cuda.push(component(&p.name, &p.version, &source));
            }
            if p.name == "pytorch" {
                let cuda = p
                    .build
                    .split('_')
                    .find_map(|part| part.strip_prefix("cuda"))
                    .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()));
                inv.cuda.push(component("torch", &p.version, &source));
                if let Some(cuda) = cuda {
                    inv.cuda.push(component("torch-cuda", cuda, &source));
                }
            }
        }
        inv.apt.sort();
        inv.apt.dedup();
        inv.pip.sort_by(|a, b| {
            (&a.normalized, &a.environment, &a.version).cmp(&(
                &b.normalized,
                &b.environment,
                &b.version,
            ))
        });
        inv.conda.sort();
        inv.cuda.sort();
        inv.cuda.dedup();
        inv
    }

    /// The lock's view: one `key = "value"` line per package, sorted, so that a lock diff
    /// reads like a package diff.
    pub fn to_lock(&self) -> LockedInventory {
        let mut apt = BTreeMap::new();
        let multi_arch: BTreeMap<&str, usize> =
            self.apt.iter().fold(BTreeMap::new(), |mut m, p| {
                *m.entry(p.name.as_str()).or_default() += 1;
                m
            });
        for p in &self.apt {
            let key = if multi_arch[p.name.as_str()] > 1 {
                format!("{}:{}", p.name, p.architecture)
            } else {
                p.name.clone()
            };
            apt.insert(key, format!("{} {}", p.version, p.architecture));
        }
        let mut pip: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for p in &self.pip {
            let env = pip.entry(p.environment.clone()).or_default();
            env.entry(p.normalized.clone())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&p.version);
                })
                .or_insert_with(|| p.version.clone());
        }
        let mut conda: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut conda_urls: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for CondaPackage {
            package: p,
            environment,
        } in &self.conda
        {
            // `https://conda.anaconda.org/conda-forge/linux-64` → `conda-forge`.
            let channel = p
                .channel
                .rsplit('/')
                .nth(1)
                .filter(|_| p.channel.contains("://"))
                .unwrap_or(&p.channel);
            let value = format!("{} {} {}", p.version, p.build, channel)
                .trim()
                .to_string();
            conda
                .entry(environment.clone())
                .or_default()
                .insert(p.name.clone(), value);
            if let Some(source) = explicit::lock_source(p) {
                conda_urls
                    .entry(environment.clone())
                    .or_default()
                    .insert(p.name.clone(), source);
            }
        }
        let mut cuda: BTreeMap<String, String> = BTreeMap::new();
        for c in &self.cuda {
            cuda.entry(c.name.clone())
                .and_modify(|v| {
                    if !v.split(", ").any(|x| x == c.version) {
                        v.push_str(", ");
                        v.push_str(&c.version);
                    }
                })
                .or_insert_with(|| c.version.clone());
        }
        LockedInventory {
            os: self
                .os
                .as_ref()
                .map(|os| format!("{} {}", os.id, os.version_id).trim().to_string())
                .unwrap_or_default(),
            apt,
            pip,
            conda,
            conda_urls,
            cuda,
        }
    }
}

/// Conda packages that are CUDA facts, under their own names (`cudnn` and `nccl` as the
/// libraries are named too).
const CONDA_CUDA_PACKAGES: &[&str] = &[
    "cuda-version",
    "cudatoolkit",
    "cuda-cudart",
    "cuda-runtime",
    "cuda-nvrtc",
    "pytorch-cuda",
    "cudnn",
    "nccl",
];

/// A Python distribution built for one CUDA release: NVIDIA's `nvidia-*-cu12` wheels, CuPy's
/// `cupy-cuda12x`, JAX's `jax-cuda12-plugin` and `jax-cuda12-pjrt`.
fn is_cuda_wheel(normalized: &str) -> bool {
    (normalized.starts_with("nvidia-") && normalized.contains("-cu1"))
        || normalized.starts_with("cupy-cuda")
        || (normalized.starts_with("jax-cuda")
            && (normalized.ends_with("-plugin") || normalized.ends_with("-pjrt")))
}

fn component(name: &str, version: &str, source: &str) -> CudaComponent {
    CudaComponent {
        name: name.to_string(),
        version: version.to_string(),
        source: source.to_string(),
    }
}

/// `Env` of an image config, as a map.
pub fn image_env(config: &serde_json::Value) -> BTreeMap<String, String> {
    config
        .pointer("/config/Env")
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| {
            v.as_str()?
                .split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// The inventory as recorded in `repro.lock`, per image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedInventory {
    /// The distribution, `ID VERSION_ID` of its os-release (`debian 12`); absent when the image
    /// has none, and in locks written before the key existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os: String,
    /// Package (`name`, or `name:arch` when several architectures are installed) → "version arch".
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub apt: BTreeMap<String, String>,
    /// Environment → normalised name → version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pip: BTreeMap<String, BTreeMap<String, String>>,
    /// Environment → name → "version build channel".
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conda: BTreeMap<String, BTreeMap<String, String>>,
    /// Environment → name → "URL#sha256:HEX" (or "URL#MD5"), the package's line of an explicit
    /// file, so that a reviewer can re-create the environment from the lock. Absent in locks
    /// cut before it existed, and for packages whose record has no URL.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conda_urls: BTreeMap<String, BTreeMap<String, String>>,
    /// Component → version(s).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cuda: BTreeMap<String, String>,
}

/// One package that differs between two inventories.
/// How something differs between the locked side and the found side: a package, or a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Changed,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// `apt`, `pip`, `conda` or `cuda`.
    pub kind: &'static str,
    /// The package, with its environment for pip and conda (`/opt/conda numpy`).
    pub package: String,
    pub change: Change,
    pub locked: Option<String>,
    pub found: Option<String>,
}

impl LockedInventory {
    pub fn is_empty(&self) -> bool {
        self.os.is_empty()
            && self.apt.is_empty()
            && self.pip.is_empty()
            && self.conda.is_empty()
            && self.conda_urls.is_empty()
            && self.cuda.is_empty()
    }

    /// `self` as a difference over `base`: what it adds or changes (with its values; the OS
    /// only when it differs), and what of `base` it does not have (with the base's values).
    pub fn over(&self, base: &LockedInventory) -> (LockedInventory, LockedInventory) {
        let mut added = LockedInventory {
            os: if self.os == base.os {
                String::new()
            } else {
                self.os.clone()
            },
            ..Default::default()
        };
        let mut removed = LockedInventory::default();
        split_map(&self.apt, &base.apt, &mut added.apt, &mut removed.apt);
        split_map(&self.cuda, &base.cuda, &mut added.cuda, &mut removed.cuda);
        for (mine, theirs, add, remove) in [
            (&self.pip, &base.pip, &mut added.pip, &mut removed.pip),
            (
                &self.conda,
                &base.conda,
                &mut added.conda,
                &mut removed.conda,
            ),
            (
                &self.conda_urls,
                &base.conda_urls,
                &mut added.conda_urls,
                &mut removed.conda_urls,
            ),
        ] {
            let empty = BTreeMap::new();
            let envs: std::collections::BTreeSet<&String> =
                mine.keys().chain(theirs.keys()).collect();
            for env in envs {
                let (mut a, mut r) = (BTreeMap::new(), BTreeMap::new());
                split_map(
                    mine.get(env).unwrap_or(&empty),
                    theirs.get(env).unwrap_or(&empty),
                    &mut a,
                    &mut r,
                );
                if !a.is_empty() {
                    add.insert(env.clone(), a);
                }
                if !r.is_empty() {
                    remove.insert(env.clone(), r);
                }
            }
        }
        (added, removed)
    }

    /// The inventory that [`LockedInventory::over`] made `added` and `removed` of, over `base`;
    /// `Err` names a removed package `base` does not have.
    pub fn from_difference(
        base: &LockedInventory,
        added: &LockedInventory,
        removed: &LockedInventory,
    ) -> Result<LockedInventory, String> {
        let mut full = base.clone();
        if !added.os.is_empty() {
            full.os = added.os.clone();
        }
        let gone = |kind: &str, env: &str, name: &str| {
            format!(
                "removes {kind} package {}{}, which the base's inventory does not have",
                crate::error::quote(name),
                if env.is_empty() {
                    String::new()
                } else {
                    format!(" of {}", crate::error::quote(env))
                }
            )
        };
        for (kind, into, remove) in [
            ("apt", &mut full.apt, &removed.apt),
            ("cuda", &mut full.cuda, &removed.cuda),
        ] {
            for name in remove.keys() {
                into.remove(name).ok_or_else(|| gone(kind, "", name))?;
            }
        }
        for (kind, into, remove) in [
            ("pip", &mut full.pip, &removed.pip),
            ("conda", &mut full.conda, &removed.conda),
            ("conda", &mut full.conda_urls, &removed.conda_urls),
        ] {
            for (env, names) in remove {
                let packages = into.get_mut(env).ok_or_else(|| gone(kind, env, ""))?;
                for name in names.keys() {
                    packages.remove(name).ok_or_else(|| gone(kind, env, name))?;
                }
                if packages.is_empty() {
                    into.remove(env);
                }
            }
        }
        full.apt.extend(added.apt.clone());
        full.cuda.extend(added.cuda.clone());
        for (into, add) in [
            (&mut full.pip, &added.pip),
            (&mut full.conda, &added.conda),
            (&mut full.conda_urls, &added.conda_urls),
        ] {
            for (env, packages) in add {
                into.entry(env.clone())
                    .or_default()
                    .extend(packages.clone());
            }
        }
        Ok(full)
    }

    /// What changed from `self` (locked) to `found`.
    pub fn drift(&self, found: &LockedInventory) -> Vec<Drift> {
        let mut out = Vec::new();
        diff_maps("apt", "", &self.apt, &found.apt, &mut out);
        diff_nested("pip", &self.pip, &found.pip, &mut out);
        diff_nested("conda", &self.conda, &found.conda, &mut out);
        // Where a conda package came from is compared only where the lock recorded it (older
        // locks did not) and its version, build and channel are the same: a changed version is
        // already one drift, and its new URL would only repeat it.
        if !self.conda_urls.is_empty() {
            let mut sources = Vec::new();
            diff_nested("conda", &self.conda_urls, &found.conda_urls, &mut sources);
            sources.retain(|s| {
                !out.iter()
                    .any(|o| o.kind == "conda" && o.package == s.package)
            });
            out.extend(sources);
        }
        diff_maps("cuda", "", &self.cuda, &found.cuda, &mut out);
        out
    }
}

/// Splits `mine` against `base` into what it adds or changes and what of `base` it lacks.
fn split_map(
    mine: &BTreeMap<String, String>,
    base: &BTreeMap<String, String>,
    added: &mut BTreeMap<String, String>,
    removed: &mut BTreeMap<String, String>,
) {
    for (name, value) in mine {
        if base.get(name) != Some(value) {
            added.insert(name.clone(), value.clone());
        }
    }
    for (name, value) in base {
        if !mine.contains_key(name) {
            removed.insert(name.clone(), value.clone());
        }
    }
}

fn diff_nested(
    kind: &'static str,
    a: &BTreeMap<String, BTreeMap<String, String>>,
    b: &BTreeMap<String, BTreeMap<String, String>>,
    out: &mut Vec<Drift>,
) {
    let empty = BTreeMap::new();
    let envs: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for env in envs {
        diff_maps(
            kind,
            env,
            a.get(env).unwrap_or(&empty),
            b.get(env).unwrap_or(&empty),
            out,
        );
    }
}

fn diff_maps(
    kind: &'static str,
    prefix: &str,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    out: &mut Vec<Drift>,
) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        let (x, y) = (a.get(key), b.get(key));
        let change = match (x, y) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(_), Some(_)) => Change::Changed,
            (None, Some(_)) => Change::Added,
            (Some(_), None) => Change::Removed,
            (None, None) => continue,
        };
        let package = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix} {key}")
        };
        out.push(Drift {
            kind,
            package,
            change,
            locked: x.cloned(),
            found: y.cloned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::catalog::CondaRecord;

    fn conda(name: &str, version: &str, build: &str) -> Arc<Found> {
        Arc::new(Found::Conda(CondaRecord {
            name: name.into(),
            version: version.into(),
            build: build.into(),
            channel: "https://conda.anaconda.org/pytorch/linux-64".into(),
            url: String::new(),
            sha256: String::new(),
            md5: String::new(),
        }))
    }

    fn wheel(name: &str, version: &str) -> Arc<Found> {
        Arc::new(Found::PyMetadata {
            name: name.into(),
            version: version.into(),
        })
    }

    /// Where deep-learning images keep their CUDA besides /usr/local/cuda: conda's packages and
    /// PyTorch's build string, CuPy's and JAX's CUDA wheels, NVIDIA's wheels.
    #[test]
    fn cuda_facts_of_conda_environments_and_framework_wheels() {
        let site = "opt/venv/lib/python3.11/site-packages";
        let files: BTreeMap<String, Arc<Found>> = [
            (
                "opt/conda/conda-meta/pytorch-2.1.0-py3.11_cuda12.1_cudnn8.9.2_0.json".to_string(),
                conda("pytorch", "2.1.0", "py3.11_cuda12.1_cudnn8.9.2_0"),
            ),
            (
                "opt/conda/conda-meta/pytorch-cuda-12.1-ha16c6d3_5.json".into(),
                conda("pytorch-cuda", "12.1", "ha16c6d3_5"),
            ),
            (
                "opt/conda/conda-meta/cuda-version-12.0-hffde075_2.json".into(),
                conda("cuda-version", "12.0", "hffde075_2"),
            ),
            (
                "opt/conda/conda-meta/numpy-1.26.4-py311_0.json".into(),
                conda("numpy", "1.26.4", "py311_0"),
            ),
            (
                "opt/cpu/conda-meta/pytorch-2.1.0-py3.11_cpu_0.json".into(),
                conda("pytorch", "2.1.0", "py3.11_cpu_0"),
            ),
            (
                format!("{site}/cupy_cuda12x-13.3.0.dist-info/METADATA"),
                wheel("cupy-cuda12x", "13.3.0"),
            ),
            (
                format!("{site}/jax_cuda12_plugin-0.4.35.dist-info/METADATA"),
                wheel("jax-cuda12-plugin", "0.4.35"),
            ),
            (
                format!("{site}/nvidia_cuda_runtime_cu12-12.4.127.dist-info/METADATA"),
                wheel("nvidia-cuda-runtime-cu12", "12.4.127"),
            ),
            (
                format!("{site}/numpy-1.26.4.dist-info/METADATA"),
                wheel("numpy", "1.26.4"),
            ),
        ]
        .into_iter()
        .collect();
        let inv = Inventory::from_files(&files, &BTreeMap::new());
        let cuda = inv.to_lock().cuda;
        let facts: Vec<(&str, &str)> = cuda.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            facts,
            [
                ("cuda-version", "12.0"),
                ("cupy-cuda12x", "13.3.0"),
                ("jax-cuda12-plugin", "0.4.35"),
                ("nvidia-cuda-runtime-cu12", "12.4.127"),
                ("pytorch-cuda", "12.1"),
                ("torch", "2.1.0"),
                ("torch-cuda", "12.1"),
            ]
        );
        let sources: Vec<&str> = inv.cuda.iter().map(|c| c.source.as_str()).collect();
        assert!(
            sources.contains(&"conda /opt/conda") && sources.contains(&"pip"),
            "{sources:?}"
        );
    }

    #[test]
    fn an_inventory_as_a_difference_over_its_base_gives_it_back() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let env =
            |name: &str, pairs: &[(&str, &str)]| BTreeMap::from([(name.to_string(), map(pairs))]);
        let base = LockedInventory {
            os: "debian 12".into(),
            apt: map(&[
                ("bash", "5.2 amd64"),
                ("curl", "7.88 amd64"),
                ("jq", "1.6 amd64"),
            ]),
            pip: env("/usr/lib/python3/dist-packages", &[("six", "1.16.0")]),
            ..Default::default()
        };
        let mut release = base.clone();
        release.apt.remove("curl");
        release.apt.insert("jq".into(), "1.7 amd64".into());
        release.pip.insert(
            "/usr/local/lib/python3.11/dist-packages".into(),
            map(&[("numpy", "1.26.4")]),
        );
        release.pip.remove("/usr/lib/python3/dist-packages");
        // A conda package's URL moves without its version: a difference too.
        release.conda_urls = env(
            "/opt/conda",
            &[("numpy", "https://mirror/numpy.conda#sha256:00")],
        );
        let (added, removed) = release.over(&base);
        assert_eq!(added.conda_urls, release.conda_urls);
        assert_eq!(added.os, "");
        assert_eq!(added.apt, map(&[("jq", "1.7 amd64")]));
        assert_eq!(
            added.pip,
            env(
                "/usr/local/lib/python3.11/dist-packages",
                &[("numpy", "1.26.4")]
            )
        );
        assert_eq!(removed.apt, map(&[("curl", "7.88 amd64")]));
        assert_eq!(
            removed.pip,
            env("/usr/lib/python3/dist-packages", &[("six", "1.16.0")])
        );
        assert_eq!(
            LockedInventory::from_difference(&base, &added, &removed),
            Ok(release.clone())
        );
        // The same inventory is no difference at all.
        let (added, removed) = base.over(&base);
        assert!(added.is_empty() && removed.is_empty());
        // A removal of what the base does not have is refused, not ignored.
        let bogus = LockedInventory {
            apt: map(&[("vim", "9 amd64")]),
            ..Default::default()
        };
        let err = LockedInventory::from_difference(&base, &LockedInventory::default(), &bogus)
            .unwrap_err();
        assert!(err.contains("removes apt package \"vim\""), "{err}");
    }

    /// The lock keeps each conda package's URL and hash (the explicit file's line); a lock cut
    /// before it did verifies against the same image without drift, and one that has them names
    /// a package whose URL moved.
    #[test]
    fn conda_urls_in_the_lock_are_additive() {
        let mut numpy = CondaRecord {
            name: "numpy".into(),
            version: "1.26.4".into(),
            build: "py311_0".into(),
            channel: "https://conda.anaconda.org/conda-forge/linux-64".into(),
            url: "https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-py311_0.conda"
                .into(),
            sha256: "AB".repeat(32),
            md5: "cd".repeat(16),
        };
        let found = |p: &CondaRecord| {
            let files: BTreeMap<String, Arc<Found>> = [(
                "opt/env/conda-meta/numpy-1.26.4-py311_0.json".to_string(),
                Arc::new(Found::Conda(p.clone())),
            )]
            .into_iter()
            .collect();
            Inventory::from_files(&files, &BTreeMap::new()).to_lock()
        };
        let lock = found(&numpy);
        assert_eq!(
            lock.conda_urls["/opt/env"]["numpy"],
            format!("{}#sha256:{}", numpy.url, "ab".repeat(32))
        );
        assert_eq!(
            lock.conda["/opt/env"]["numpy"],
            "1.26.4 py311_0 conda-forge"
        );
        let old_lock = LockedInventory {
            conda_urls: BTreeMap::new(),
            ..lock.clone()
        };
        assert_eq!(old_lock.drift(&lock), []);
        numpy.url = numpy.url.replace("conda-forge", "mirror/conda-forge");
        let drift = lock.drift(&found(&numpy));
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert_eq!(
            (drift[0].kind, drift[0].package.as_str(), drift[0].change),
            ("conda", "/opt/env numpy", Change::Changed)
        );
        numpy.version = "2.0.0".into();
        assert_eq!(lock.drift(&found(&numpy)).len(), 1);
        // As the lock writes and reads it.
        let text = toml::to_string(&lock).unwrap();
        assert!(
            text.contains("[conda_urls.\"/opt/env\"]\nnumpy = \"https://"),
            "{text}"
        );
        assert_eq!(toml::from_str::<LockedInventory>(&text).unwrap(), lock);
        let old_text = toml::to_string(&old_lock).unwrap();
        assert!(!old_text.contains("conda_urls"));
        assert_eq!(
            toml::from_str::<LockedInventory>(&old_text).unwrap(),
            old_lock
        );
    }
}
