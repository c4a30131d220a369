//! `repro.lock`: the contract between an author's release and a reviewer's rebuild.
//! Versioned, deterministic (sorted, no wall-clock time), one value per line so a diff reads
//! like a change log, and written atomically so a failure never leaves a half-written lock.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{clip, quote, Error, Result};

mod summary;
use crate::image::annotations::Annotations;
use crate::image::digest::Digest;
use crate::inventory::LockedInventory;

/// The version written. Version 2 writes a summary header and the release's inventory as a
/// difference over its base's; version 1 locks are still read.
pub const VERSION: u32 = 2;
/// The versions read.
pub const VERSIONS: [u32; 2] = [1, 2];
pub const DEFAULT_PATH: &str = "repro.lock";

const HEADER: &str = "# This file is written by `docker repro release`; do not edit it by hand.\n\
# It pins everything the release was built from. Check it with `docker repro verify --rebuild`.\n";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    pub source: Source,
    pub build: Build,
    pub builder: Builder,
    #[serde(rename = "dockerfile", default)]
    pub dockerfiles: Vec<DockerfileEntry>,
    #[serde(rename = "base", default)]
    pub bases: Vec<Base>,
    #[serde(rename = "image", default)]
    pub images: Vec<Image>,
    /// Where the release was cut: information only, never an input of a rebuild.
    #[serde(default, skip_serializing_if = "Host::is_empty")]
    pub host: Host,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpu: Vec<crate::host::gpu::Gpu>,
}

impl Host {
    pub fn is_empty(&self) -> bool {
        self.gpu.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Full commit hash the release was built from.
    pub commit: CommitId,
    /// Committer time, seconds since the epoch.
    pub commit_time: i64,
    /// The `origin` remote (or the first remote), credentials stripped; empty when none.
    pub remote: String,
    /// The project directory inside the repository, `.` for its root.
    pub path: String,
    /// True when released with `--allow-dirty`: the built source is in no commit.
    pub dirty: bool,
}

/// A full git commit hash: SHA-1's 40 or SHA-256's 64 lowercase hex digits. Read by serde, so a
/// lock naming anything else (a branch, an option, a short hash) is refused as it is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitId(String);

impl TryFrom<String> for CommitId {
    type Error = String;

    fn try_from(hash: String) -> std::result::Result<CommitId, String> {
        check_hex("source.commit", &hash, &[40, 64]).map(|()| CommitId(hash))
    }
}

impl From<CommitId> for String {
    fn from(commit: CommitId) -> String {
        commit.0
    }
}

impl std::ops::Deref for CommitId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CommitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// The image name; images are tagged `<image>:<short commit>` (and `<image>:base`).
    pub image: String,
    pub source_date_epoch: i64,
    /// The base's own `SOURCE_DATE_EPOCH`: the time of the newest commit that changed what the
    /// base Dockerfile reads (itself, the context files its COPY and ADD name, .dockerignore),
    /// so that commits that change only code build the same base. Absent when the base was
    /// built with `source_date_epoch` (locks cut before the key, `--source-date-epoch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_source_date_epoch: Option<i64>,
    /// The fingerprint of the base's inputs (see [`crate::project::fingerprint`]): a release
    /// whose base inputs give the same one keeps this base rather than building it again, and
    /// the base's immutable tag, `<image>:base-<first 12 hex digits>`, is named by it. Absent
    /// without a base, and in locks cut before the key existed (they still verify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_fingerprint: Option<crate::project::fingerprint::Fingerprint>,
    /// `os/arch[/variant]`, or several joined by `,` for a multi-platform release (one OCI
    /// image index); see [`Build::platforms`].
    pub platform: String,
    /// The build context, relative to the project directory.
    pub context: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// The build's network, `host` or `none`; absent for buildx's default.
    #[serde(default, skip_serializing_if = "Network::is_default")]
    pub network: Network,
    /// Extra `/etc/hosts` entries of the build, `NAME:IP`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_hosts: Vec<String>,
    /// The ids of the BuildKit secrets the build was given: never their values or paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// The ids of the SSH agents or keys the build was given (`default`): never their paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh: Vec<String>,
    /// The size of `/dev/shm` in the builds' RUN steps (`2g`); absent (empty) for buildx's
    /// default.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub shm_size: String,
    /// The resource limits of the builds' RUN steps, `TYPE=SOFT[:HARD]`, one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<String>,
    /// How the layers are compressed; absent for gzip, the default, so that locks written
    /// before the key existed read as they were built.
    #[serde(default, skip_serializing_if = "Compression::is_gzip")]
    pub compression: Compression,
    /// Who clamped the layers' file times to `source_date_epoch`; absent for BuildKit's
    /// `rewrite-timestamp`, so that locks written before the key existed read as they were
    /// built.
    #[serde(default, skip_serializing_if = "Timestamps::is_rewrite_timestamp")]
    pub timestamps: Timestamps,
    /// The form the image configs were written in; absent for BuildKit's own, so that locks
    /// written before the key existed are rebuilt as they were cut.
    #[serde(default, skip_serializing_if = "ImageConfig::is_as_built")]
    pub image_config: ImageConfig,
    /// The encoder that compressed the layers the build made; absent for the single-stream one,
    /// so that locks written before the key existed are rebuilt with it, byte for byte.
    #[serde(default, skip_serializing_if = "LayerEncoder::is_single_stream")]
    pub layer_encoder: LayerEncoder,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    /// The OCI annotations the release's manifests (and index) carry, written by its build:
    /// `org.opencontainers.image.revision`, `.source` and `.created`. Absent in locks cut
    /// before the key, whose images carry none and are rebuilt so.
    #[serde(default, skip_serializing_if = "Annotations::is_empty")]
    pub annotations: Annotations,
    /// Named build contexts: `NAME = "docker-image://REF@sha256:..."` (an image pinned by
    /// digest) or `NAME = "DIR"` (a directory of the committed project, relative to it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contexts: BTreeMap<String, LockedContext>,
}

/// A named build context as a lock records it, parsed as the lock is read: an image pinned by
/// digest, or a directory of the committed project. Written back as the same text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LockedContext {
    /// `docker-image://REF@sha256:<64 hex>`.
    Image { reference: String, digest: String },
    /// Relative to the project directory, inside it.
    Dir(String),
}

impl TryFrom<String> for LockedContext {
    type Error = String;

    fn try_from(value: String) -> std::result::Result<Self, String> {
        const KEY: &str = "build.contexts value";
        let Some(image) = value.strip_prefix(IMAGE_CONTEXT) else {
            check_context_dir(KEY, &value)?;
            return Ok(LockedContext::Dir(value));
        };
        match image.rsplit_once('@').filter(|(reference, digest)| {
            !reference.contains('@')
                && check_digest(KEY, digest).is_ok()
                && check_ref(KEY, reference).is_ok()
        }) {
            Some((reference, digest)) => Ok(LockedContext::Image {
                reference: reference.to_string(),
                digest: digest.to_string(),
            }),
            None => Err(format!(
                "{KEY} {} is not docker-image://REF@sha256:<64 hex>: a locked image context is pinned by digest",
                quote(&value)
            )),
        }
    }
}

impl From<LockedContext> for String {
    fn from(context: LockedContext) -> String {
        context.to_string()
    }
}

impl std::fmt::Display for LockedContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockedContext::Image { reference, digest } => {
                write!(f, "{IMAGE_CONTEXT}{reference}@{digest}")
            }
            LockedContext::Dir(dir) => f.write_str(dir),
        }
    }
}

/// The network of the builds' `RUN` steps, as buildx's `--network` names it. A lock naming
/// another network is refused when it is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// buildx's own, without the flag.
    #[default]
    Default,
    Host,
    None,
}

impl Network {
    pub fn is_default(&self) -> bool {
        *self == Network::Default
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Network::Default => "default",
            Network::Host => "host",
            Network::None => "none",
        }
    }

    /// The value of buildx's `--network`; empty for the default, which passes no flag.
    pub fn buildx_value(self) -> &'static str {
        match self {
            Network::Default => "",
            other => other.as_str(),
        }
    }

    /// The network a flag or `repro.toml` names: `default`, `host` or `none`.
    pub fn parse(name: &str) -> Option<Network> {
        [Network::Default, Network::Host, Network::None]
            .into_iter()
            .find(|n| n.as_str() == name)
    }
}

/// The compression of the images' layers. gzip is what every engine and registry takes; zstd
/// compresses several times faster (Docker Engine 23 and later, containerd 1.5 and later,
/// podman 4 and later pull it) and is what makes a release of a large environment cheap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
}

impl Compression {
    pub fn is_gzip(&self) -> bool {
        *self == Compression::Gzip
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// How the file times in the images' layers are clamped to `source_date_epoch`, which makes
/// them the same in every build of a commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Timestamps {
    /// BuildKit's exporter option `rewrite-timestamp=true`: before BuildKit 0.14 (and before
    /// 0.24 for a base given as a named context) it rewrites every layer, the base's too.
    #[default]
    RewriteTimestamp,
    /// docker repro after the build: a layer holding a later time is rewritten with its times
    /// clamped and compressed again as it was stored (gzip level 6, zstd level 3); every other
    /// blob is left byte for byte as BuildKit wrote it.
    Clamped,
    /// docker repro after the build, as `Clamped`, and every layer the build made is written by
    /// docker repro's own encoder whether or not a time needed clamping: no byte of it is
    /// BuildKit's compression, which depends on the Go that built dockerd and on the compressed
    /// variants the engine already holds. A registry base's layers are kept as pulled.
    Encoded,
}

/// Who wrote the image configs' bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageConfig {
    /// BuildKit, with only the diff IDs of rewritten layers changed: its history differs between
    /// BuildKit versions (see [`crate::image::canonical`]).
    #[default]
    #[serde(rename = "as-built")]
    AsBuilt,
    /// docker repro, in the canonical form of [`crate::image::canonical`]: the base's history
    /// entries as the base's own config lists them, `ARG` lines without values, keys sorted.
    #[serde(rename = "canonical/1")]
    Canonical1,
}

impl ImageConfig {
    pub fn is_as_built(&self) -> bool {
        *self == ImageConfig::AsBuilt
    }
}

/// Which of docker repro's encoders compressed the layers it wrote (see
/// [`crate::image::encoder`]): its bytes are a function of the uncompressed layer and of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LayerEncoder {
    /// One gzip or zstd stream on one thread.
    #[default]
    #[serde(rename = "single-stream")]
    SingleStream,
    /// On every core, the same bytes for any number of them: gzip in fixed 1 MiB blocks, each
    /// primed with the 32 KiB before it; zstd in libzstd's multithreaded mode.
    #[serde(rename = "parallel/1")]
    Parallel1,
}

impl LayerEncoder {
    pub fn is_single_stream(&self) -> bool {
        *self == LayerEncoder::SingleStream
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LayerEncoder::SingleStream => "single-stream",
            LayerEncoder::Parallel1 => "parallel/1",
        }
    }
}

impl Timestamps {
    pub fn is_rewrite_timestamp(&self) -> bool {
        *self == Timestamps::RewriteTimestamp
    }
}

impl Build {
    /// The `SOURCE_DATE_EPOCH` the base was built with.
    pub fn base_epoch(&self) -> i64 {
        self.base_source_date_epoch
            .unwrap_or(self.source_date_epoch)
    }

    /// The time every file of the copy of the commit carries when it is built. The release's
    /// epoch in a lock that fingerprints its base: BuildKit keeps the last context it was sent
    /// and updates it, and a directory it updates can take the time of the update, which the
    /// clamp after the build brings back to the release's epoch only, so the files must carry
    /// that epoch to come out the same whether the context was sent whole or as an update (a
    /// base's layers clamp its files to its own, earlier epoch all the same). The base's epoch
    /// in locks cut before, as they were built.
    pub fn source_files_epoch(&self) -> i64 {
        if self.base_fingerprint.is_some() {
            self.source_date_epoch
        } else {
            self.base_epoch().min(self.source_date_epoch)
        }
    }

    /// The platforms of the build, in the order given (one for a single-platform release).
    pub fn platforms(&self) -> Vec<&str> {
        split_platforms(&self.platform)
    }
}

/// `linux/amd64,linux/arm64` → its platforms, in order.
pub fn split_platforms(list: &str) -> Vec<&str> {
    list.split(',').map(str::trim).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Builder {
    pub docker_client: String,
    pub docker_engine: String,
    pub buildx: String,
    pub buildkit: String,
    /// Why `buildkit` is no version (a distribution's dockerd does not say it); absent when it is one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub buildkit_note: String,
    /// The engine's containerd; absent in a lock written before the key existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub containerd: String,
    /// The Go version dockerd was built with (its gzip bytes depend on it); absent in older locks.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub engine_go: String,
    pub driver: String,
    pub name: String,
}

/// Which image of a release: the environment (`base`, in the base/release layout) or the
/// release itself. Serialised as `base` and `release`; a lock naming another is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Base,
    Release,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Base => "base",
            Role::Release => "release",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerfileEntry {
    pub role: Role,
    /// Relative to the project directory.
    pub path: String,
    pub sha256: FileSha256,
    /// The ids of the build's secrets this Dockerfile's build was given: those its `RUN
    /// --mount`s read. Absent when the builds had none, and in locks that record them for the
    /// whole build only (every Dockerfile then had `build.secrets`); see [`Lock::secrets_of`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<String>>,
    /// As `secrets`, for the SSH agents and keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<Vec<String>>,
}

/// The sha256 of a file's bytes, 64 lowercase hex digits. Read by serde, so a lock holding
/// anything else is refused as it is read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileSha256(String);

impl FileSha256 {
    /// The sha256 of `bytes`.
    pub fn of(bytes: &[u8]) -> FileSha256 {
        FileSha256(Digest::of(bytes).hex().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FileSha256 {
    type Error = String;

    fn try_from(hex: String) -> std::result::Result<FileSha256, String> {
        check_hex("dockerfile.sha256", &hex, &[64]).map(|()| FileSha256(hex))
    }
}

impl From<FileSha256> for String {
    fn from(sha: FileSha256) -> String {
        sha.0
    }
}

impl std::fmt::Display for FileSha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base {
    /// The reference after ARG expansion, as BuildKit resolves it.
    #[serde(rename = "ref")]
    pub reference: crate::image::reference::ImageRef,
    /// The Dockerfile (path) that uses it.
    pub dockerfile: String,
    /// The platform this entry's `platform_digest` is for: only in a multi-platform lock, which
    /// has one `[[base]]` per platform.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
    /// Digest of what the reference resolved to: an image index, or a single manifest.
    pub index_digest: Digest,
    /// Digest of the manifest for the build platform.
    pub platform_digest: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub role: Role,
    /// `<image>:<tag>` as tagged in the engine.
    pub name: String,
    /// The platform of this manifest: only in a multi-platform lock, which has one `[[image]]`
    /// per role and platform.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
    /// The image index holding this platform's manifest (the engine's image ID): only in a
    /// multi-platform lock, the same for every platform of a role.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub index_digest: String,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layers: Vec<String>,
    /// In the text only (version 2): `base` when `inventory` lists only what this image adds
    /// to or changes in the inventory of the base image of its platform, and
    /// `inventory_removed` what it lacks of it. Reading puts the whole inventory back, so in a
    /// [`Lock`] this is always `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_over: Option<Role>,
    /// What the image needs from a GPU host (absent when it uses no CUDA, and in locks cut
    /// before the key existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<CudaNeeds>,
    /// What is installed in the image, one line per package.
    #[serde(default, skip_serializing_if = "LockedInventory::is_empty")]
    pub inventory: LockedInventory,
    /// In the text only, with `inventory_over`: the packages of the base this image does not
    /// have, with the base's versions.
    #[serde(default, skip_serializing_if = "LockedInventory::is_empty")]
    pub inventory_removed: LockedInventory,
}

/// What an image needs from a GPU host, derived from its CUDA facts when the release was cut
/// (for a reviewer reading the lock; the verdicts derive it again from the inventory, so a lock
/// without it, cut before it existed, is judged the same way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CudaNeeds {
    /// The newest CUDA release any part of the image was built for, `major.minor`.
    pub cuda: String,
    /// The fact that decided it, as `[image.inventory.cuda]` lists it: `torch-cuda 12.4`.
    pub from: String,
    /// The oldest driver that runs it (through CUDA minor-version compatibility from 11.1 on).
    pub driver: String,
    /// The oldest driver that runs it with every feature (the toolkit's own driver).
    pub driver_all_features: String,
}

impl Image {
    /// What the engine knows this image by once loaded (its image ID with the containerd
    /// store): the image index of a multi-platform lock, else the manifest.
    pub fn engine_digest(&self) -> &str {
        if self.index_digest.is_empty() {
            &self.manifest_digest
        } else {
            &self.index_digest
        }
    }

    /// ` (linux/arm64)` for an image of a multi-platform lock, else nothing: for messages.
    pub fn on_platform(&self) -> String {
        if self.platform.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.platform)
        }
    }
}

impl Lock {
    /// The TOML text, byte-for-byte the same for the same content.
    pub fn to_toml(&self) -> String {
        let mut sorted = self.clone();
        for d in &mut sorted.dockerfiles {
            d.secrets
                .iter_mut()
                .chain(d.ssh.iter_mut())
                .for_each(|ids| ids.sort());
        }
        sorted.dockerfiles.sort();
        sorted.bases.sort();
        sorted.bases.dedup();
        sorted.build.add_hosts.sort();
        sorted.build.secrets.sort();
        sorted.build.ssh.sort();
        sorted.build.ulimits.sort();
        let summary = summary::summary(&sorted);
        sorted.version = VERSION;
        sorted.inventories_over_bases();
        format!(
            "{HEADER}{summary}\n{}",
            toml::to_string_pretty(&sorted).expect("lock serializes")
        )
    }

    pub fn from_toml(text: &str, path: &Path) -> Result<Lock> {
        let value: toml::Value = toml::from_str(text).map_err(|e| {
            Error::Failed(format!(
                "{}: not a valid lockfile: {}",
                path.display(),
                toml_error(text, &e)
            ))
        })?;
        match value.get("version") {
            Some(toml::Value::Integer(v)) if VERSIONS.iter().any(|known| *v == *known as i64) => {}
            Some(toml::Value::Integer(v)) => {
                return Err(Error::Failed(format!(
                    "{}: lockfile version {v} is not supported by docker repro {} (it reads versions 1 and {VERSION}); upgrade docker repro",
                    path.display(),
                    env!("CARGO_PKG_VERSION")
                )))
            }
            // `version = "1"` has a version key: say what is wrong with it.
            Some(other) => {
                return Err(Error::Failed(format!(
                    "{}: `version` is a {} ({}) where a number is expected; write version = {VERSION} without quotes",
                    path.display(),
                    other.type_str(),
                    crate::error::clip(&other.to_string())
                )))
            }
            None => return Err(Error::Failed(format!("{}: not a repro.lock (no `version` key)", path.display()))),
        }
        drop(value);
        // From the text, not the value: an error then says where (a network or a context the
        // lock cannot hold is refused by the type it is read into).
        let mut lock: Lock = toml::from_str(text).map_err(|e: toml::de::Error| {
            Error::Failed(format!("{}: {}", path.display(), toml_error(text, &e)))
        })?;
        lock.whole_inventories()
            .and_then(|()| lock.validate())
            .map_err(|m| Error::Failed(format!("{}: {m}", path.display())))?;
        Ok(lock)
    }

    /// Puts back the whole inventory of each image whose text lists it over its base's.
    fn whole_inventories(&mut self) -> std::result::Result<(), String> {
        let bases: Vec<Image> = self
            .images
            .iter()
            .filter(|i| i.role == Role::Base)
            .cloned()
            .collect();
        for image in &mut self.images {
            match image.inventory_over.take() {
                None if image.inventory_removed.is_empty() => continue,
                None => {
                    return Err(format!(
                        "[[image]] {} has inventory_removed but no inventory_over = \"base\"",
                        quote(&image.name)
                    ))
                }
                Some(Role::Release) => {
                    return Err(format!(
                        "[[image]] {} has inventory_over = \"release\"; an inventory is written over the base's only",
                        quote(&image.name)
                    ))
                }
                Some(Role::Base) => {}
            }
            let base = bases
                .iter()
                .find(|b| image.role == Role::Release && b.platform == image.platform)
                .ok_or_else(|| {
                    format!(
                        "[[image]] {} lists its inventory over the base's, but the lock has no base image{} for it to be over",
                        quote(&image.name),
                        image.on_platform()
                    )
                })?;
            let removed = std::mem::take(&mut image.inventory_removed);
            image.inventory =
                LockedInventory::from_difference(&base.inventory, &image.inventory, &removed)
                    .map_err(|why| format!("[[image]] {} {why}", quote(&image.name)))?;
        }
        Ok(())
    }

    /// Each release image's inventory as a difference over its platform's base image's, as the
    /// text writes it.
    fn inventories_over_bases(&mut self) {
        let bases: Vec<Image> = self
            .images
            .iter()
            .filter(|i| i.role == Role::Base)
            .cloned()
            .collect();
        for image in self.images.iter_mut().filter(|i| i.role == Role::Release) {
            let Some(base) = bases.iter().find(|b| b.platform == image.platform) else {
                continue;
            };
            if base.inventory.is_empty() {
                continue;
            }
            let (added, removed) = image.inventory.over(&base.inventory);
            image.inventory = added;
            image.inventory_removed = removed;
            image.inventory_over = Some(Role::Base);
        }
    }

    pub fn read(path: &Path) -> Result<Lock> {
        let bytes = Lock::read_bytes(
            path,
            "run `docker repro release` first, or pass the lock's path",
        )?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::Failed(format!(
                "{}: not a repro.lock (not UTF-8 text); pass the lock's path",
                path.display()
            ))
        })?;
        Lock::from_toml(&text, path)
    }

    /// The bytes of the lock at `path`, refused past [`crate::limits::LOCK`] before any is
    /// parsed; `missing` is the fix a missing lock's message gives.
    pub fn read_bytes(path: &Path, missing: &str) -> Result<Vec<u8>> {
        crate::limits::read(path, crate::limits::LOCK).map_err(|e| match e {
            crate::limits::ReadError::NotFound { .. } => {
                Error::Failed(format!("{}: no such lockfile; {missing}", path.display()))
            }
            other => other.into(),
        })
    }

    /// Writes to a temporary file beside `path`, then renames it over `path`: an existing lock
    /// is either kept byte-identical or replaced whole.
    pub fn write_atomic(&self, path: &Path) -> Result<()> {
        write_atomic(path, self.to_toml().as_bytes())
    }

    /// Rejects anything that would become a docker option or argument it should not be,
    /// before any process starts.
    pub fn validate(&self) -> std::result::Result<(), String> {
        check_ref("build.image", &self.build.image)?;
        check_remote(&self.source.remote)?;
        check_platforms("build.platform", &self.build.platform)?;
        check_relative("source.path", &self.source.path)?;
        check_relative("build.context", &self.build.context)?;
        if !self.build.target.is_empty() {
            check_word("build.target", &self.build.target)?;
        }
        for (key, value) in &self.build.args {
            check_word("build.args key", key)?;
            if value.chars().any(char::is_control) {
                return Err(format!(
                    "build.args.{} contains a control character",
                    clip(key)
                ));
            }
            if is_proxy_arg(key) {
                return Err(format!(
                    "build.args.{} is a proxy setting, which a lock never records: proxies come from the environment of the build",
                    clip(key)
                ));
            }
        }
        for host in &self.build.add_hosts {
            check_add_host("build.add_hosts", host)?;
        }
        for id in &self.build.secrets {
            check_id("build.secrets", id)?;
        }
        for id in &self.build.ssh {
            check_id("build.ssh", id)?;
        }
        for (key, list) in [
            ("build.secrets", &self.build.secrets),
            ("build.ssh", &self.build.ssh),
        ] {
            if let Some(dup) = duplicate(list.iter().map(String::as_str)) {
                return Err(format!("{key} names {} twice", quote(dup)));
            }
        }
        if let Some(dup) = duplicate(self.build.add_hosts.iter().map(|h| host_name(h))) {
            return Err(format!("build.add_hosts names {} twice", quote(dup)));
        }
        if !self.build.shm_size.is_empty() {
            check_shm_size("build.shm_size", &self.build.shm_size)?;
        }
        for limit in &self.build.ulimits {
            check_ulimit("build.ulimits", limit)?;
        }
        if let Some(dup) = duplicate(self.build.ulimits.iter().map(|u| ulimit_type(u))) {
            return Err(format!("build.ulimits names {} twice", quote(dup)));
        }
        for name in self.build.contexts.keys() {
            check_context_name("build.contexts key", name)?;
        }
        for d in &self.dockerfiles {
            check_relative("dockerfile.path", &d.path)?;
            for (key, ids, build) in [
                ("secrets", &d.secrets, &self.build.secrets),
                ("ssh", &d.ssh, &self.build.ssh),
            ] {
                for id in ids.iter().flatten() {
                    if !build.contains(id) {
                        return Err(format!(
                            "[[dockerfile]] {} names {key} id {}, which build.{key} does not; a Dockerfile's build has only what the release was given",
                            quote(&d.path),
                            quote(id)
                        ));
                    }
                }
                if let Some(dup) = duplicate(ids.iter().flatten().map(String::as_str)) {
                    return Err(format!(
                        "[[dockerfile]] {} names {key} id {} twice",
                        quote(&d.path),
                        quote(dup)
                    ));
                }
            }
        }
        if !self.images.iter().any(|i| i.role == Role::Release) {
            return Err("no [[image]] with role = \"release\"".into());
        }
        for i in &self.images {
            check_ref("image.name", &i.name)?;
            check_digest("image.manifest_digest", &i.manifest_digest)?;
            check_digest("image.config_digest", &i.config_digest)?;
            for l in &i.layers {
                check_digest("image.layers", l)?;
            }
        }
        self.check_platforms()
    }

    /// One `[[image]]` per role (and one `[[base]]` per reference) in a single-platform lock,
    /// none with a `platform`; in a multi-platform lock, one per role and platform of the
    /// build's list, each with its platform, and one index digest per role.
    fn check_platforms(&self) -> std::result::Result<(), String> {
        let platforms = self.build.platforms();
        if platforms.len() == 1 {
            for i in &self.images {
                if !i.platform.is_empty() || !i.index_digest.is_empty() {
                    return Err(format!(
                        "[[image]] {} has a platform or index_digest, but build.platform names one platform; only a multi-platform lock has them",
                        quote(&i.name)
                    ));
                }
            }
            if let Some(dup) = duplicate(self.images.iter().map(|i| i.role.as_str())) {
                return Err(format!("two [[image]] entries with role = \"{dup}\""));
            }
            if let Some(b) = self.bases.iter().find(|b| !b.platform.is_empty()) {
                return Err(format!(
                    "[[base]] {} has a platform, but build.platform names one platform",
                    quote(&b.reference)
                ));
            }
            return Ok(());
        }
        for i in &self.images {
            if !platforms.contains(&i.platform.as_str()) {
                return Err(format!(
                    "[[image]] {} has platform = {}, which is not in build.platform = {}",
                    quote(&i.name),
                    quote(&i.platform),
                    quote(&self.build.platform)
                ));
            }
            check_digest("image.index_digest", &i.index_digest)?;
        }
        for role in [Role::Base, Role::Release] {
            let of_role: Vec<&Image> = self.images.iter().filter(|i| i.role == role).collect();
            let Some(first) = of_role.first() else {
                continue;
            };
            if let Some(dup) = duplicate(of_role.iter().map(|i| i.platform.as_str())) {
                return Err(format!(
                    "two [[image]] entries with role = \"{role}\" and platform = {}",
                    quote(dup)
                ));
            }
            if let Some(other) = of_role
                .iter()
                .find(|i| i.index_digest != first.index_digest)
            {
                return Err(format!(
                    "the {role} images name two index digests ({} and {}); one role is one image index",
                    quote(&first.index_digest),
                    quote(&other.index_digest)
                ));
            }
            if let Some(other) = of_role.iter().find(|i| i.name != first.name) {
                return Err(format!(
                    "the {role} images have two names ({} and {}); one role is one image index",
                    quote(&first.name),
                    quote(&other.name)
                ));
            }
            if let Some(missing) = platforms
                .iter()
                .find(|p| !of_role.iter().any(|i| i.platform == **p))
            {
                return Err(format!(
                    "no [[image]] with role = \"{role}\" for platform {}, which build.platform names",
                    quote(missing)
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for b in &self.bases {
            if !platforms.contains(&b.platform.as_str()) {
                return Err(format!(
                    "[[base]] {} has platform = {}, which is not in build.platform = {}",
                    quote(&b.reference),
                    quote(&b.platform),
                    quote(&self.build.platform)
                ));
            }
            if !seen.insert((&b.reference, &b.dockerfile, &b.platform)) {
                return Err(format!(
                    "two [[base]] entries for {} in {} on platform {}",
                    quote(&b.reference),
                    quote(&b.dockerfile),
                    quote(&b.platform)
                ));
            }
        }
        Ok(())
    }

    /// The secret ids the build of `role`'s Dockerfile was given (none for a role without one).
    pub fn secrets_of(&self, role: Role) -> &[String] {
        match self.dockerfiles.iter().find(|d| d.role == role) {
            Some(d) => d.secrets.as_deref().unwrap_or(&self.build.secrets),
            None => &[],
        }
    }

    /// The SSH ids the build of `role`'s Dockerfile was given (none for a role without one).
    pub fn ssh_of(&self, role: Role) -> &[String] {
        match self.dockerfiles.iter().find(|d| d.role == role) {
            Some(d) => d.ssh.as_deref().unwrap_or(&self.build.ssh),
            None => &[],
        }
    }

    /// The image of `role`: in a multi-platform lock, its first platform's.
    pub fn image(&self, role: Role) -> Option<&Image> {
        self.images.iter().find(|i| i.role == role)
    }

    /// The image of `role` for `platform` (the only one of a single-platform lock, whatever
    /// `platform` is).
    pub fn image_for(&self, role: Role, platform: &str) -> Option<&Image> {
        self.images
            .iter()
            .find(|i| i.role == role && (i.platform.is_empty() || i.platform == platform))
    }

    /// Whether the release is an image index of several platforms.
    pub fn is_multi_platform(&self) -> bool {
        self.build.platforms().len() > 1
    }

    pub fn short_commit(&self) -> &str {
        &self.source.commit[..12.min(self.source.commit.len())]
    }
}

pub fn write_atomic(path: &Path, mut bytes: &[u8]) -> Result<()> {
    copy_atomic(&mut bytes, path)
}

/// Streams `source` into a temporary file beside `path`, then renames it over `path`. The file
/// is created 0644 minus the umask, like any file the user writes (tempfile's default is 0600),
/// and named by [`crate::scratch`] so that a run killed before the rename leaves a file the
/// dirty check ignores and the next write removes.
pub fn copy_atomic(source: &mut dyn std::io::Read, path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    crate::scratch::remove_stale_files(dir);
    let mut tmp = tempfile::Builder::new()
        .prefix(&crate::scratch::temp_file_prefix())
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    std::io::copy(source, &mut tmp).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.flush().map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A TOML error as one short line: its message (clipped, as it may quote the input) and where.
/// Not the error's Display, which quotes the whole offending line: a 50 MB line once.
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let at = e.span().map(|span| {
        let before = &text.as_bytes()[..span.start.min(text.len())];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = before.len()
            - before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |p| p + 1)
            + 1;
        format!(" (line {line}, column {column})")
    });
    format!("{}{}", clip(&one_line(e.message())), at.unwrap_or_default())
}

/// The remote a lock records: git must be able to take it as a URL and nothing else.
pub fn check_remote(remote: &str) -> std::result::Result<(), String> {
    if remote.starts_with('-') || remote.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "source.remote = {} is not allowed (leading `-`, whitespace or control character)",
            quote(remote)
        ));
    }
    if let Some(helper) = remote_helper(remote) {
        return Err(format!(
            "source.remote = {} names the git remote helper `{}::`, which can run a program; a lock's remote must be a path, https://, ssh:// or git:// URL (or pass --source DIR)",
            quote(remote),
            clip(helper)
        ));
    }
    Ok(())
}

fn check_hex(key: &str, value: &str, lengths: &[usize]) -> std::result::Result<(), String> {
    if lengths.contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(format!(
            "{key} = {} is not a lowercase hex hash",
            quote(value)
        ))
    }
}

pub fn check_digest(key: &str, value: &str) -> std::result::Result<(), String> {
    crate::image::digest::Digest::parse(value)
        .map(|_| ())
        .map_err(|why| format!("{key} = {} {why}", quote(value)))
}

/// A word that will be passed to docker: not empty, no leading `-`, no whitespace or controls.
pub fn check_word(key: &str, value: &str) -> std::result::Result<(), String> {
    if value.is_empty()
        || value.starts_with('-')
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        Err(format!(
            "{key} = {} is not allowed (empty, leading `-`, whitespace or control character)",
            quote(value)
        ))
    } else {
        Ok(())
    }
}

/// An image reference a lock names; it belongs to the image model, which does not import the
/// lock.
pub use crate::image::reference::check_ref;

/// The helper of git's `<transport>::<address>` syntax (`ext::`, `fd::`), if `remote` uses it.
pub fn remote_helper(remote: &str) -> Option<&str> {
    let (helper, _) = remote.split_once("::")?;
    (!helper.is_empty()
        && helper
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
    .then_some(helper)
}

pub fn check_platform(key: &str, value: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = value.split('/').collect();
    if (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        Ok(())
    } else {
        Err(format!(
            "{key} = {} is not one os/arch[/variant] platform, such as linux/amd64",
            quote(value)
        ))
    }
}

/// One platform, or several joined by `,` (no spaces), none twice, at most 16.
pub fn check_platforms(key: &str, value: &str) -> std::result::Result<(), String> {
    let list: Vec<&str> = value.split(',').collect();
    if list.len() > 16 {
        return Err(format!(
            "{key} = {} names more than 16 platforms",
            quote(value)
        ));
    }
    for p in &list {
        check_platform(key, p).map_err(|_| {
            format!(
                "{key} = {} is not a platform, or a comma-separated list of platforms, such as linux/amd64,linux/arm64",
                quote(value)
            )
        })?;
    }
    if let Some(dup) = duplicate(list.iter().copied()) {
        return Err(format!("{key} = {} names {dup} twice", quote(value)));
    }
    Ok(())
}

pub fn check_relative(key: &str, value: &str) -> std::result::Result<(), String> {
    let path = Path::new(value);
    if value.is_empty()
        || path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        || value.starts_with('-')
        || value.chars().any(char::is_control)
    {
        Err(format!(
            "{key} = {} must be a relative path inside the project",
            quote(value)
        ))
    } else {
        Ok(())
    }
}

/// BuildKit's predefined proxy arguments that docker repro passes from the environment (as
/// `--build-arg NAME`, so buildx takes the value from its own environment): never recorded in a
/// lock, never in an argv, and kept out of the image's history by BuildKit.
pub const PROXY_ARGS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Is `key` one of BuildKit's predefined proxy arguments (FTP included, which it also knows)?
pub fn is_proxy_arg(key: &str) -> bool {
    PROXY_ARGS.contains(&key) || key.eq_ignore_ascii_case("ftp_proxy")
}

/// A secret or SSH id: a plain word (letters, digits, `_ . -`, not starting with `-` or `.`),
/// so that it can never become another option or another field of buildx's `id=...,src=...`.
pub fn check_id(key: &str, value: &str) -> std::result::Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{key} = {} is not a plain id: use letters, digits and _ . - (starting with a letter or digit), at most 128",
            quote(value)
        ))
    }
}

/// `NAME:IP`, as `--add-host` takes it: a host name, then an IPv4 or IPv6 address.
pub fn check_add_host(key: &str, value: &str) -> std::result::Result<(), String> {
    let why = || {
        format!(
            "{key} = {} is not NAME:IP (a host name, then an IPv4 or IPv6 address, e.g. pypi.lab:10.0.0.5)",
            quote(value)
        )
    };
    let (name, ip) = value.split_once(':').ok_or_else(why)?;
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    let ip_ok = ip.parse::<std::net::IpAddr>().is_ok();
    if name_ok && ip_ok {
        Ok(())
    } else {
        Err(why())
    }
}

/// The NAME of a `NAME:IP` entry.
pub fn host_name(entry: &str) -> &str {
    entry.split_once(':').map_or(entry, |(name, _)| name)
}

/// The resource limits `--ulimit` takes, as docker names them.
pub const ULIMITS: [&str; 15] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// A resource limit of the builds: its type, its soft limit and its hard one (`-1` is
/// unlimited; without a hard limit docker uses the soft one for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ulimit<'a> {
    pub kind: &'a str,
    pub soft: i64,
    pub hard: Option<i64>,
}

impl std::fmt::Display for Ulimit<'_> {
    /// `nofile=1024:4096`, or `nofile=1024` without a hard limit: what buildx takes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.hard {
            Some(hard) => write!(f, "{}={}:{hard}", self.kind, self.soft),
            None => write!(f, "{}={}", self.kind, self.soft),
        }
    }
}

/// `TYPE=SOFT[:HARD]` as docker takes it; the error is what is wrong with it, to follow the
/// value it is about.
pub fn parse_ulimit(value: &str) -> std::result::Result<Ulimit<'_>, String> {
    const FORM: &str = "write TYPE=SOFT[:HARD], e.g. nofile=1024:4096";
    let (kind, limits) = value
        .split_once('=')
        .ok_or_else(|| format!("is not TYPE=SOFT[:HARD]; {FORM}"))?;
    if !ULIMITS.contains(&kind) {
        return Err(format!(
            "names the limit {}, which docker does not know: use one of {}",
            quote(kind),
            ULIMITS.join(", ")
        ));
    }
    let number = |n: &str| -> Option<i64> {
        let digits = n.strip_prefix('-').unwrap_or(n);
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse().ok().filter(|v| *v >= -1)
    };
    let bad = || format!("has a limit that is not a whole number (or -1, unlimited); {FORM}");
    let (soft, hard) = match limits.split_once(':') {
        Some((soft, hard)) => (
            number(soft).ok_or_else(bad)?,
            Some(number(hard).ok_or_else(bad)?),
        ),
        None => (number(limits).ok_or_else(bad)?, None),
    };
    if let Some(hard) = hard.filter(|h| *h != -1) {
        if soft == -1 || soft > hard {
            return Err(format!(
                "has a soft limit above its hard limit ({soft} > {hard}): the soft limit must be at most the hard one"
            ));
        }
    }
    Ok(Ulimit { kind, soft, hard })
}

pub fn check_ulimit(key: &str, value: &str) -> std::result::Result<(), String> {
    parse_ulimit(value)
        .map(|_| ())
        .map_err(|why| format!("{key} = {} {why}", quote(value)))
}

/// The TYPE of a `TYPE=SOFT[:HARD]` entry.
pub fn ulimit_type(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(kind, _)| kind)
}

/// A size as `--shm-size` takes it: a whole number of bytes, or of k, m, g or t (binary
/// multiples, as docker reads them), with an optional `b`; more than 0. Returns the bytes.
pub fn parse_size(value: &str) -> std::result::Result<u64, String> {
    let lower = value.to_ascii_lowercase();
    let number = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, unit) = match number.char_indices().last() {
        Some((i, c)) if "kmgt".contains(c) => (
            &number[..i],
            1u64 << (10 * ("kmgt".find(c).unwrap_or(0) + 1)),
        ),
        _ => (number, 1),
    };
    let bytes =
        (!digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse::<u64>().ok())
            .flatten()
            .and_then(|n| n.checked_mul(unit))
            .filter(|n| *n <= i64::MAX as u64);
    match bytes {
        Some(0) => Err("is no size: give more than 0 (e.g. 2g)".into()),
        Some(n) => Ok(n),
        None => Err(
            "is not a size: write a whole number of bytes, or of k, m or g (2g, 512m, 1073741824)"
                .into(),
        ),
    }
}

pub fn check_shm_size(key: &str, value: &str) -> std::result::Result<(), String> {
    parse_size(value)
        .map(|_| ())
        .map_err(|why| format!("{key} = {} {why}", quote(value)))
}

/// How a named context names an image: `docker-image://REF`.
pub const IMAGE_CONTEXT: &str = "docker-image://";

/// The name of a named context, as a Dockerfile's `FROM NAME` or `COPY --from=NAME` uses it: a
/// plain word of docker's reference grammar (lowercase letters and digits, joined by `.`, `_`,
/// `__` or dashes), so that BuildKit matches it as written and it can be no option.
pub fn check_context_name(key: &str, name: &str) -> std::result::Result<(), String> {
    if name.len() <= 128 && crate::image::reference::is_path_component(name) {
        Ok(())
    } else {
        Err(format!(
            "{key} = {} is not a context name: use lowercase letters and digits, joined by . _ or - (as a Dockerfile names it in FROM NAME), at most 128",
            quote(name)
        ))
    }
}

/// A directory a named context reads: relative to the project, without `..`, and nothing
/// buildx would read as something else (a URL, an image, a git remote: no `:` or `@`).
pub fn check_context_dir(key: &str, value: &str) -> std::result::Result<(), String> {
    check_relative(key, value)?;
    if value.contains([':', '@']) || value.starts_with("github.com/") {
        return Err(format!(
            "{key} = {} is not a directory docker repro can name: no `:` or `@`, which buildx reads as a URL, an image or a git remote",
            quote(value)
        ));
    }
    Ok(())
}

/// The first value that appears twice.
pub fn duplicate<'a>(values: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = std::collections::BTreeSet::new();
    values.into_iter().find(|v| !seen.insert(*v))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_copy_of_a_commit_carries_the_releases_epoch_once_the_base_is_fingerprinted() {
        let mut build = sample().build;
        build.source_date_epoch = 1_717_243_200;
        build.base_source_date_epoch = Some(1_714_564_800);
        assert_eq!(build.source_files_epoch(), 1_714_564_800, "as cut before");
        build.base_fingerprint = Some(format!("sha256:{}", "0a".repeat(32)).try_into().unwrap());
        assert_eq!(build.source_files_epoch(), 1_717_243_200);
    }

    #[test]
    fn a_base_fingerprint_is_read_as_one_and_a_malformed_one_is_refused_in_one_line() {
        let mut lock = sample();
        assert!(
            !lock.to_toml().contains("base_fingerprint"),
            "absent when none"
        );
        let fingerprint = format!("sha256:{}", "0a".repeat(32));
        lock.build.base_fingerprint = Some(fingerprint.clone().try_into().unwrap());
        let text = lock.to_toml();
        assert!(text.contains(&format!("base_fingerprint = \"{fingerprint}\"\n")));
        let read = Lock::from_toml(&text, Path::new("repro.lock")).unwrap();
        assert_eq!(read.build.base_fingerprint, lock.build.base_fingerprint);
        assert_eq!(read.to_toml(), text);
        for bad in ["sha256:0a", "0a0a", "sha256:ZZ"] {
            let err = Lock::from_toml(&text.replace(&fingerprint, bad), Path::new("repro.lock"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("repro.lock: "), "{err}");
            assert!(err.contains("is not a base fingerprint"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    pub fn sample() -> Lock {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        Lock {
            version: VERSION,
            source: Source {
                commit: CommitId::try_from("0123456789abcdef0123456789abcdef01234567".to_string())
                    .unwrap(),
                commit_time: 1_700_000_000,
                remote: "https://example.org/lab/curvenet.git".into(),
                path: ".".into(),
                dirty: false,
            },
            build: Build {
                image: "curvenet".into(),
                source_date_epoch: 1_700_000_000,
                base_source_date_epoch: None,
                base_fingerprint: None,
                platform: "linux/amd64".into(),
                context: ".".into(),
                target: String::new(),
                network: Network::Default,
                add_hosts: vec![],
                secrets: vec![],
                ssh: vec![],
                shm_size: String::new(),
                ulimits: vec![],
                args: [
                    ("B".to_string(), "2".to_string()),
                    ("A".to_string(), "1".to_string()),
                ]
                .into(),
                contexts: BTreeMap::new(),
                compression: Default::default(),
                timestamps: Default::default(),
                image_config: Default::default(),
                layer_encoder: Default::default(),
                annotations: Default::default(),
            },
            builder: Builder {
                docker_client: "28.2.2".into(),
                docker_engine: "26.1.5".into(),
                buildx: "0.13.1".into(),
                buildkit: "v0.13.2".into(),
                buildkit_note: String::new(),
                containerd: String::new(),
                engine_go: String::new(),
                driver: "docker".into(),
                name: "default".into(),
            },
            dockerfiles: vec![
                DockerfileEntry {
                    role: Role::Release,
                    path: "docker/Dockerfile.release".into(),
                    sha256: FileSha256::try_from("b".repeat(64)).unwrap(),
                    secrets: None,
                    ssh: None,
                },
                DockerfileEntry {
                    role: Role::Base,
                    path: "docker/Dockerfile.base".into(),
                    sha256: FileSha256::try_from("a".repeat(64)).unwrap(),
                    secrets: None,
                    ssh: None,
                },
            ],
            bases: vec![Base {
                reference: crate::image::reference::ImageRef::try_from("ubuntu:22.04".to_string())
                    .unwrap(),
                dockerfile: "docker/Dockerfile.base".into(),
                platform: String::new(),
                index_digest: Digest::parse(&d('1')).unwrap(),
                platform_digest: Digest::parse(&d('2')).unwrap(),
            }],
            host: Host::default(),
            images: vec![
                Image {
                    role: Role::Base,
                    name: "curvenet:base".into(),
                    platform: String::new(),
                    index_digest: String::new(),
                    manifest_digest: d('3'),
                    config_digest: d('4'),
                    layers: vec![d('5')],
                    needs: None,
                    inventory: Default::default(),
                    inventory_over: None,
                    inventory_removed: Default::default(),
                },
                Image {
                    role: Role::Release,
                    name: "curvenet:0123456789ab".into(),
                    platform: String::new(),
                    index_digest: String::new(),
                    manifest_digest: d('6'),
                    config_digest: d('7'),
                    layers: vec![d('5'), d('8')],
                    needs: None,
                    inventory: Default::default(),
                    inventory_over: None,
                    inventory_removed: Default::default(),
                },
            ],
        }
    }

    /// [`sample`] built for linux/amd64 and linux/arm64: one base and one image per role and
    /// platform.
    pub fn sample_multi() -> Lock {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let mut lock = sample();
        lock.build.platform = "linux/amd64,linux/arm64".into();
        let mut bases = Vec::new();
        let mut images = Vec::new();
        for (n, platform) in ["linux/amd64", "linux/arm64"].into_iter().enumerate() {
            for b in &lock.bases {
                bases.push(Base {
                    platform: platform.into(),
                    platform_digest: Digest::parse(&d(['2', 'c'][n])).unwrap(),
                    ..b.clone()
                });
            }
            for i in &lock.images {
                let mut i = i.clone();
                i.platform = platform.into();
                i.index_digest = d(if i.role == Role::Base { 'a' } else { 'b' });
                if n == 1 {
                    i.manifest_digest = d(if i.role == Role::Base { 'd' } else { 'e' });
                }
                images.push(i);
            }
        }
        lock.bases = bases;
        lock.images = images;
        lock
    }

    #[test]
    fn the_canonical_image_config_is_recorded_and_a_lock_without_the_key_keeps_buildkits() {
        let mut lock = sample();
        assert!(!lock.to_toml().contains("image_config"));
        lock.build.image_config = ImageConfig::Canonical1;
        let text = lock.to_toml();
        assert!(text.contains("image_config = \"canonical/1\"\n"), "{text}");
        let back = Lock::from_toml(&text, Path::new("repro.lock")).unwrap();
        assert_eq!(back.build.image_config, ImageConfig::Canonical1);
        let without = text.replace("image_config = \"canonical/1\"\n", "");
        let old = Lock::from_toml(&without, Path::new("repro.lock")).unwrap();
        assert_eq!(old.build.image_config, ImageConfig::AsBuilt);
        // A form this version does not know is refused, never rebuilt by another rule.
        let later = text.replace("\"canonical/1\"", "\"canonical/2\"");
        assert!(Lock::from_toml(&later, Path::new("repro.lock")).is_err());
    }

    #[test]
    fn the_parallel_layer_encoder_is_recorded_and_a_lock_without_the_key_means_the_single_stream() {
        let mut lock = sample();
        assert!(!lock.to_toml().contains("layer_encoder"));
        lock.build.layer_encoder = LayerEncoder::Parallel1;
        let text = lock.to_toml();
        assert!(text.contains("layer_encoder = \"parallel/1\"\n"), "{text}");
        let back = Lock::from_toml(&text, Path::new("repro.lock")).unwrap();
        assert_eq!(back.build.layer_encoder, LayerEncoder::Parallel1);
        let without = text.replace("layer_encoder = \"parallel/1\"\n", "");
        let old = Lock::from_toml(&without, Path::new("repro.lock")).unwrap();
        assert_eq!(old.build.layer_encoder, LayerEncoder::SingleStream);
        let unknown = text.replace("\"parallel/1\"", "\"parallel/9\"");
        // An encoder this version does not know is refused, never rebuilt with another.
        assert!(Lock::from_toml(&unknown, Path::new("repro.lock")).is_err());
    }

    #[test]
    fn annotations_are_recorded_and_a_lock_without_them_reads_as_carrying_none() {
        let mut lock = sample();
        assert!(!lock.to_toml().contains("annotations"), "absent when none");
        lock.build.annotations =
            Annotations::of_release(&"ab".repeat(20), "https://example.org/x.git", 1).unwrap();
        let text = lock.to_toml();
        assert!(
            text.contains("[build.annotations]\n\"org.opencontainers.image.created\" = \"1970-01-01T00:00:01Z\"\n"),
            "{text}"
        );
        let back = Lock::from_toml(&text, Path::new("repro.lock")).unwrap();
        assert_eq!(back.build.annotations, lock.build.annotations);
        assert_eq!(back.to_toml(), text);
        let hostile = text.replace(
            "\"org.opencontainers.image.created\"",
            "\"org.opencontainers.image.created\\u001b\"",
        );
        let err = Lock::from_toml(&hostile, Path::new("repro.lock"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("repro.lock: "), "{err}");
        assert!(err.contains("not a reverse-domain name"), "{err}");
        assert!(!err.contains('\n') && !err.contains('\u{1b}'), "{err}");
    }

    #[test]
    fn clamped_timestamps_are_recorded_and_a_lock_without_the_key_means_buildkits_rewrite() {
        let mut lock = sample();
        assert!(!lock.to_toml().contains("timestamps"));
        lock.build.timestamps = Timestamps::Clamped;
        let text = lock.to_toml();
        assert!(text.contains("timestamps = \"clamped\"\n"), "{text}");
        let back = Lock::from_toml(&text, Path::new("repro.lock")).unwrap();
        assert_eq!(back.build.timestamps, Timestamps::Clamped);
        let without = text.replace("timestamps = \"clamped\"\n", "");
        let old = Lock::from_toml(&without, Path::new("repro.lock")).unwrap();
        assert_eq!(old.build.timestamps, Timestamps::RewriteTimestamp);
        let hostile = text.replace("\"clamped\"", "\"now\"");
        assert!(Lock::from_toml(&hostile, Path::new("repro.lock")).is_err());
    }

    #[test]
    fn the_engine_keys_are_written_when_known_and_a_lock_without_them_still_reads() {
        let mut lock = sample();
        let old_text = lock.to_toml();
        for key in ["containerd", "engine_go", "buildkit_note"] {
            assert!(!old_text.contains(key), "{old_text}");
        }
        lock.builder.containerd = "2.1.9+unknown".into();
        lock.builder.engine_go = "go1.27.1".into();
        lock.builder.buildkit = "v0.0.0+unknown".into();
        lock.builder.buildkit_note = "not reported: a distribution's build".into();
        let text = lock.to_toml();
        assert!(
            text.contains("buildkit = \"v0.0.0+unknown\"\nbuildkit_note = \"not reported: a distribution's build\"\ncontainerd = \"2.1.9+unknown\"\nengine_go = \"go1.27.1\"\ndriver = "),
            "{text}"
        );
        assert_eq!(
            Lock::from_toml(&text, Path::new("repro.lock"))
                .unwrap()
                .builder,
            lock.builder
        );
        let old = Lock::from_toml(&old_text, Path::new("repro.lock")).unwrap();
        assert_eq!(
            (
                old.builder.containerd.as_str(),
                old.builder.engine_go.as_str()
            ),
            ("", "")
        );
    }

    #[test]
    fn zstd_is_recorded_and_gzip_the_default_is_not() {
        let mut lock = sample();
        assert!(!lock.to_toml().contains("compression"));
        lock.build.compression = Compression::Zstd;
        let text = lock.to_toml();
        assert!(text.contains("compression = \"zstd\"\n"), "{text}");
        let back = Lock::from_toml(&text, Path::new("repro.lock")).unwrap();
        assert_eq!(back.build.compression, Compression::Zstd);
        let hostile = text.replace("compression = \"zstd\"", "compression = \"--lz4\"");
        let err = Lock::from_toml(&hostile, Path::new("repro.lock"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant"), "{err}");
    }

    #[test]
    fn a_multi_platform_lock_round_trips_and_a_single_platform_one_has_no_new_keys() {
        let lock = sample_multi();
        assert_eq!(lock.validate(), Ok(()));
        let text = lock.to_toml();
        assert!(
            text.contains("platform = \"linux/amd64,linux/arm64\""),
            "{text}"
        );
        assert!(
            text.contains("platform = \"linux/arm64\"\nindex_digest = "),
            "{text}"
        );
        let back = Lock::from_toml(&text, Path::new("repro.lock")).unwrap();
        assert_eq!(back.images, lock.images);
        assert_eq!(back.to_toml(), text);
        assert!(back.is_multi_platform());
        assert_eq!(
            back.image_for(Role::Release, "linux/arm64")
                .unwrap()
                .manifest_digest,
            format!("sha256:{}", "e".repeat(64))
        );
        assert!(back.image_for(Role::Release, "linux/s390x").is_none());
        // A single-platform lock writes neither key, and any platform finds its one image.
        let single = sample();
        let text = single.to_toml();
        assert!(!text.contains("index_digest = \"sha256:aaaa"), "{text}");
        assert_eq!(text.matches("platform = ").count(), 1, "{text}");
        assert!(single.image_for(Role::Release, "linux/arm64").is_some());
        assert!(!single.is_multi_platform());
    }

    #[test]
    fn inconsistent_multi_platform_locks_are_refused() {
        type Spoil = fn(&mut Lock);
        let bad: &[(&str, Spoil)] = &[
            ("not in build.platform", |l| {
                l.images[1].platform = "linux/s390x".into()
            }),
            ("not in build.platform", |l| {
                l.bases[0].platform = "linux/s390x".into()
            }),
            ("platform = \"linux/amd64\"", |l| {
                l.images[2].platform = "linux/amd64".into()
            }),
            ("two index digests", |l| {
                l.images[3].index_digest = format!("sha256:{}", "f".repeat(64))
            }),
            ("image.index_digest", |l| l.images[0].index_digest.clear()),
            ("image.index_digest", |l| {
                l.images[0].index_digest = "--privileged".into()
            }),
            ("two names", |l| l.images[3].name = "other:1".into()),
            ("for platform \"linux/arm64\"", |l| {
                l.images
                    .retain(|i| !(i.role == Role::Base && i.platform == "linux/arm64"))
            }),
            ("two [[base]] entries", |l| {
                let b = l.bases[0].clone();
                l.bases.push(b)
            }),
            ("names linux/amd64 twice", |l| {
                l.build.platform = "linux/amd64,linux/amd64".into()
            }),
            ("comma-separated list", |l| {
                l.build.platform = "linux/amd64, linux/arm64".into()
            }),
            ("comma-separated list", |l| {
                l.build.platform = "linux/amd64,".into()
            }),
            ("comma-separated list", |l| {
                l.build.platform = "linux/amd64,--privileged".into()
            }),
        ];
        for (needle, spoil) in bad {
            let mut lock = sample_multi();
            spoil(&mut lock);
            let err = lock.validate().unwrap_err();
            assert!(err.contains(needle), "{needle}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        // A single-platform lock carries no platform keys, and one image per role.
        let mut lock = sample();
        lock.images[0].platform = "linux/amd64".into();
        assert!(lock
            .validate()
            .unwrap_err()
            .contains("only a multi-platform lock"));
        let mut lock = sample();
        lock.images[1].index_digest = format!("sha256:{}", "f".repeat(64));
        assert!(lock
            .validate()
            .unwrap_err()
            .contains("only a multi-platform lock"));
        let mut lock = sample();
        lock.bases[0].platform = "linux/amd64".into();
        assert!(lock.validate().unwrap_err().contains("names one platform"));
        let mut lock = sample();
        let again = lock.images[1].clone();
        lock.images.push(again);
        assert!(lock
            .validate()
            .unwrap_err()
            .contains("two [[image]] entries"));
    }

    #[test]
    fn round_trip_is_deterministic_and_sorted() {
        let lock = sample();
        let text = lock.to_toml();
        let back = Lock::from_toml(&text, Path::new("repro.lock")).unwrap();
        assert_eq!(back.to_toml(), text);
        let base_pos = text.find("docker/Dockerfile.base\"\nsha256").unwrap();
        let release_pos = text.find("docker/Dockerfile.release\"\nsha256").unwrap();
        assert!(base_pos < release_pos, "dockerfiles sorted:\n{text}");
        assert!(text.find("A = \"1\"").unwrap() < text.find("B = \"2\"").unwrap());
    }

    #[test]
    fn the_release_inventory_is_written_over_the_base_and_read_back_whole() {
        let mut lock = sample();
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let base = LockedInventory {
            os: "debian 12".into(),
            apt: map(&[("bash", "5.2 amd64"), ("curl", "7.88 amd64")]),
            ..Default::default()
        };
        let mut release = base.clone();
        release.apt.remove("curl");
        release.pip.insert(
            "/usr/local/lib/python3.11/dist-packages".into(),
            map(&[("numpy", "1.26.4")]),
        );
        lock.images[0].inventory = base.clone();
        lock.images[1].inventory = release.clone();
        let text = lock.to_toml();
        assert!(text.contains("\nversion = 2\n"), "{text}");
        // bash is the base's alone; the release lists what it adds and what it lacks.
        assert_eq!(text.matches("bash = ").count(), 1, "{text}");
        assert!(text.contains("inventory_over = \"base\"\n"), "{text}");
        assert!(
            text.contains("[image.inventory_removed.apt]\ncurl = \"7.88 amd64\"\n"),
            "{text}"
        );
        let back = Lock::from_toml(&text, Path::new("repro.lock")).unwrap();
        assert_eq!(back.images[1].inventory, release);
        assert_eq!(back.images[1].inventory_over, None);
        assert_eq!(back.images, lock.images);
        assert_eq!(back.to_toml(), text);
        // Version 1 wrote every inventory whole; it reads as it was.
        let mut v1 = lock.clone();
        v1.version = 1;
        let v1_text = toml::to_string_pretty(&v1).unwrap();
        assert_eq!(text.matches("bash = ").count(), 1);
        assert_eq!(v1_text.matches("bash = ").count(), 2);
        let read = Lock::from_toml(&v1_text, Path::new("old.lock")).unwrap();
        assert_eq!(read.images[1].inventory, release);
        // A difference that cannot be applied is refused with the image's name.
        let bad = text.replace(
            "[image.inventory_removed.apt]\ncurl = \"7.88 amd64\"",
            "[image.inventory_removed.apt]\nvim = \"9 amd64\"",
        );
        let err = Lock::from_toml(&bad, Path::new("x.lock"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"curvenet:0123456789ab\" removes apt package \"vim\""),
            "{err}"
        );
        let orphan = text.replace("role = \"base\"\nname", "role = \"release\"\nname");
        assert!(Lock::from_toml(&orphan, Path::new("x.lock")).is_err());
    }

    #[test]
    fn a_base_digest_is_read_as_a_digest_or_refused_where_it_is() {
        let text = sample().to_toml();
        let ok = format!("index_digest = \"sha256:{}\"", "1".repeat(64));
        assert!(text.contains(&ok), "{text}");
        let bad = text.replace(&ok, "index_digest = \"sha256:$(id)\"");
        let err = Lock::from_toml(&bad, Path::new("x.lock"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("x.lock: \"sha256:$(id)\" is not a sha256:<64 hex> digest (line "),
            "{err}"
        );
        let back = Lock::from_toml(&text, Path::new("x.lock")).unwrap();
        assert_eq!(
            back.bases[0].index_digest,
            format!("sha256:{}", "1".repeat(64))
        );
        // A Dockerfile's sha256, the same way.
        let bad = text.replace(
            &format!("sha256 = \"{}\"", "a".repeat(64)),
            "sha256 = \"AB\"",
        );
        let err = Lock::from_toml(&bad, Path::new("x.lock"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "x.lock: dockerfile.sha256 = \"AB\" is not a lowercase hex hash (line "
            ),
            "{err}"
        );
        assert_eq!(
            FileSha256::of(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn wrong_version_and_unknown_keys_are_clear_errors() {
        let text = sample().to_toml().replace("version = 2", "version = 9");
        let err = Lock::from_toml(&text, Path::new("x.lock"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lockfile version 9 is not supported"), "{err}");
        // A string used to read as no version key at all.
        let text = sample().to_toml().replace("version = 2", "version = \"2\"");
        let err = Lock::from_toml(&text, Path::new("x.lock"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "x.lock: `version` is a string (\"2\") where a number is expected; write version = 2 without quotes"
        );
        let text = sample().to_toml().replace("version = 2", "");
        let err = Lock::from_toml(&text, Path::new("x.lock"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "x.lock: not a repro.lock (no `version` key)");
        let text = sample()
            .to_toml()
            .replace("dirty = false", "dirty = false\nsurprise = 1");
        let err = Lock::from_toml(&text, Path::new("x.lock"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("surprise"), "{err}");
    }

    #[test]
    fn fields_that_would_become_options_are_rejected() {
        // A base reference that would be an option is not even read.
        for bad in ["--privileged", "ubuntu:22.04 $(reboot)"] {
            let text = sample()
                .to_toml()
                .replace("ref = \"ubuntu:22.04\"", &format!("ref = {bad:?}"));
            let err = Lock::from_toml(&text, Path::new("x.lock"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("an image reference = ") && err.contains("(line "),
                "{err}"
            );
        }
        let mut lock = sample();
        lock.images[1].manifest_digest = "sha256:abc".into();
        assert!(lock.validate().unwrap_err().contains("manifest_digest"));
        let mut lock = sample();
        lock.build.context = "../outside".into();
        assert!(lock.validate().unwrap_err().contains("relative path"));
        let mut lock = sample();
        lock.build.args.insert("X".into(), "a\nb".into());
        assert!(lock.validate().is_err());
        for remote in [
            "ext::sh -c touch% /tmp/pwned",
            "ext::/tmp/evil.sh",
            "fd::0",
            "FD::7,8",
        ] {
            let mut lock = sample();
            lock.source.remote = remote.into();
            assert!(lock.validate().is_err(), "{remote}");
        }
        let mut lock = sample();
        lock.source.remote = "ext::/tmp/evil.sh".into();
        assert!(lock.validate().unwrap_err().contains("`ext::`"));
        for remote in [
            "/srv/a::b/x.git",
            "https://example.org/a::b.git",
            "git@host:lab/x.git",
            "",
        ] {
            let mut lock = sample();
            lock.source.remote = remote.into();
            assert_eq!(lock.validate(), Ok(()), "{remote}");
        }
    }

    #[test]
    fn build_inputs_are_recorded_by_id_and_checked_when_read() {
        let mut lock = sample();
        lock.build.network = Network::None;
        lock.build.add_hosts = vec!["pypi.lab:10.0.0.5".into(), "deb.lab:::1".into()];
        lock.build.secrets = vec!["pip_index".into(), "apt-auth".into()];
        lock.build.ssh = vec!["default".into()];
        let text = lock.to_toml();
        assert!(text.contains("network = \"none\""), "{text}");
        assert!(
            text.contains("add_hosts = [\n    \"deb.lab:::1\",\n    \"pypi.lab:10.0.0.5\",\n]"),
            "{text}"
        );
        assert!(
            text.contains("secrets = [\n    \"apt-auth\",\n    \"pip_index\",\n]"),
            "{text}"
        );
        assert!(text.contains("ssh = [\"default\"]"), "{text}");
        let back = Lock::from_toml(&text, Path::new("repro.lock")).unwrap();
        assert_eq!(back.to_toml(), text);
        // A lock without them reads as before, and writes none of them.
        let plain = sample().to_toml();
        for key in ["network", "add_hosts", "secrets", "ssh"] {
            assert!(!plain.contains(key), "{plain}");
        }

        type Spoil = fn(&mut Build);
        let bad: &[(&str, Spoil)] = &[
            ("build.add_hosts", |b| {
                b.add_hosts = vec!["--privileged".into()]
            }),
            ("build.add_hosts", |b| {
                b.add_hosts = vec!["x:not-an-ip".into()]
            }),
            ("build.add_hosts", |b| {
                b.add_hosts = vec!["a b:10.0.0.1".into()]
            }),
            ("build.add_hosts", |b| {
                b.add_hosts = vec!["x:10.0.0.1\n".into()]
            }),
            ("twice", |b| {
                b.add_hosts = vec!["x:10.0.0.1".into(), "x:10.0.0.2".into()]
            }),
            ("build.secrets", |b| {
                b.secrets = vec!["id=x,src=/etc/shadow".into()]
            }),
            ("build.secrets", |b| b.secrets = vec!["-x".into()]),
            ("build.secrets", |b| b.secrets = vec!["".into()]),
            ("twice", |b| b.secrets = vec!["a".into(), "a".into()]),
            ("build.ssh", |b| {
                b.ssh = vec!["default=/root/.ssh/id_rsa".into()]
            }),
            ("build.ssh", |b| b.ssh = vec!["a,b".into()]),
            ("proxy", |b| {
                b.args
                    .insert("https_proxy".into(), "http://u:p@proxy:3128".into());
            }),
        ];
        for (needle, spoil) in bad {
            let mut lock = sample();
            spoil(&mut lock.build);
            let err = lock.validate().unwrap_err();
            assert!(err.contains(needle), "{needle}: {err}");
        }
        // A network buildx would take as another option, or one it does not know, cannot even
        // be read: it is no Network.
        for bad in ["bridge", "host --privileged"] {
            let text = sample()
                .to_toml()
                .replace("[build]\n", &format!("[build]\nnetwork = \"{bad}\"\n"));
            let err = Lock::from_toml(&text, Path::new("x.lock"))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("x.lock: unknown variant `")
                    && err.ends_with(
                        "expected one of `default`, `host`, `none` (line 19, column 11)"
                    ),
                "{err}"
            );
        }
    }

    #[test]
    fn secrets_and_ssh_are_recorded_per_dockerfile_and_a_lock_without_them_gives_every_one_all() {
        let mut lock = sample();
        lock.build.secrets = vec!["pip_index".into(), "lab_token".into()];
        lock.build.ssh = vec!["default".into()];
        // A lock that records them for the whole build only: each Dockerfile had all of them.
        assert_eq!(lock.secrets_of(Role::Base), ["pip_index", "lab_token"]);
        assert_eq!(lock.ssh_of(Role::Release), ["default"]);
        for d in &mut lock.dockerfiles {
            (d.secrets, d.ssh) = match d.role {
                Role::Base => (
                    Some(vec!["pip_index".into(), "lab_token".into()]),
                    Some(vec![]),
                ),
                Role::Release => (Some(vec![]), Some(vec!["default".into()])),
            };
        }
        let text = lock.to_toml();
        assert!(
            text.contains("path = \"docker/Dockerfile.base\"\nsha256 = \"aaaa"),
            "{text}"
        );
        assert!(
            text.contains("secrets = [\n    \"lab_token\",\n    \"pip_index\",\n]\nssh = []\n"),
            "{text}"
        );
        assert!(
            text.contains("secrets = []\nssh = [\"default\"]\n"),
            "{text}"
        );
        let back = Lock::from_toml(&text, Path::new("repro.lock")).unwrap();
        assert_eq!(back.to_toml(), text);
        assert_eq!(back.secrets_of(Role::Release), [] as [String; 0]);
        assert_eq!(back.secrets_of(Role::Base), ["lab_token", "pip_index"]);
        assert_eq!(back.ssh_of(Role::Base), [] as [String; 0]);

        let mut foreign = lock.clone();
        foreign.dockerfiles[0].secrets = Some(vec!["other".into()]);
        let err = foreign.validate().unwrap_err();
        assert!(
            err.contains("names secrets id \"other\", which build.secrets does not"),
            "{err}"
        );
        let mut twice = lock;
        twice.dockerfiles[1].ssh = Some(vec!["default".into(), "default".into()]);
        assert!(twice.validate().unwrap_err().contains("twice"));
    }

    #[test]
    fn shm_size_ulimits_and_contexts_are_recorded_and_checked_when_read() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let mut lock = sample();
        lock.build.shm_size = "2g".into();
        lock.build.ulimits = vec!["nofile=1024:4096".into(), "memlock=-1".into()];
        lock.build.contexts = [
            (
                "deps".to_string(),
                LockedContext::Image {
                    reference: "127.0.0.1:5000/lab/deps:1".into(),
                    digest: digest.clone(),
                },
            ),
            ("data".to_string(), LockedContext::Dir("vendor/data".into())),
        ]
        .into();
        assert_eq!(lock.validate(), Ok(()));
        let text = lock.to_toml();
        assert!(text.contains("shm_size = \"2g\"\n"), "{text}");
        assert!(
            text.contains("ulimits = [\n    \"memlock=-1\",\n    \"nofile=1024:4096\",\n]"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "[build.contexts]\ndata = \"vendor/data\"\ndeps = \"docker-image://127.0.0.1:5000/lab/deps:1@{digest}\"\n"
            )),
            "{text}"
        );
        let back = Lock::from_toml(&text, Path::new("repro.lock")).unwrap();
        assert_eq!(back.to_toml(), text);
        // A lock without them reads as before, and writes none of them.
        let plain = sample().to_toml();
        for key in ["shm_size", "ulimits", "contexts"] {
            assert!(!plain.contains(key), "{plain}");
        }

        type Spoil = fn(&mut Build);
        let bad: &[(&str, Spoil)] = &[
            ("build.shm_size", |b| b.shm_size = "2g --privileged".into()),
            ("build.shm_size", |b| b.shm_size = "-1".into()),
            ("build.shm_size", |b| b.shm_size = "0".into()),
            ("build.shm_size", |b| {
                b.shm_size = "99999999999999999999g".into()
            }),
            ("build.ulimits", |b| b.ulimits = vec!["--privileged".into()]),
            ("build.ulimits", |b| b.ulimits = vec!["nofile".into()]),
            ("build.ulimits", |b| b.ulimits = vec!["files=1".into()]),
            ("build.ulimits", |b| b.ulimits = vec!["nofile=1 --x".into()]),
            ("build.ulimits", |b| {
                b.ulimits = vec!["nofile=4096:1024".into()]
            }),
            ("build.ulimits", |b| b.ulimits = vec!["nofile=-2".into()]),
            ("twice", |b| {
                b.ulimits = vec!["nofile=1".into(), "nofile=2".into()]
            }),
            ("build.contexts key", |b| {
                b.contexts
                    .insert("--x".into(), LockedContext::Dir("data".into()));
            }),
            ("build.contexts key", |b| {
                b.contexts
                    .insert("Deps".into(), LockedContext::Dir("data".into()));
            }),
            ("build.contexts key", |b| {
                b.contexts
                    .insert("a=b".into(), LockedContext::Dir("data".into()));
            }),
        ];
        for (needle, spoil) in bad {
            let mut lock = sample();
            spoil(&mut lock.build);
            let err = lock.validate().unwrap_err();
            assert!(err.contains(needle), "{needle}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        // A value that is neither a directory inside the project nor an image pinned by digest
        // cannot be read into a lock.
        let a = "a".repeat(64);
        for bad in [
            "/home/reviewer".to_string(),
            "../outside".to_string(),
            "--privileged".to_string(),
            "oci-layout:///home/x".to_string(),
            "https://example.org/x.git".to_string(),
            "target:other".to_string(),
            "git@host:x".to_string(),
            "docker-image://lab/deps:1".to_string(),
            "docker-image://lab/deps@sha256:abc".to_string(),
            format!("docker-image://-x@sha256:{a}"),
            format!("docker-image://a b@sha256:{a}"),
            format!("docker-image://a@sha256:{a}@sha256:{a}"),
        ] {
            let text = sample().to_toml().replace(
                "[build.args]",
                &format!("[build.contexts]\ndata = {bad:?}\n\n[build.args]"),
            );
            let err = Lock::from_toml(&text, Path::new("x.lock"))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("x.lock: build.contexts value ") && err.contains(" (line "),
                "{bad}: {err}"
            );
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn sizes_and_limits_as_docker_reads_them() {
        for (ok, bytes) in [
            ("2g", 2 << 30),
            ("2G", 2 << 30),
            ("2gb", 2 << 30),
            ("512m", 512 << 20),
            ("64k", 64 << 10),
            ("1t", 1 << 40),
            ("1073741824", 1 << 30),
            ("100b", 100),
        ] {
            assert_eq!(parse_size(ok), Ok(bytes), "{ok}");
        }
        for bad in [
            "",
            "g",
            "2x",
            "1.5g",
            "2 g",
            "-2g",
            "2gib",
            "0",
            "0m",
            "9223372036854775808",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        let limit = parse_ulimit("nofile=1024:4096").unwrap();
        assert_eq!(
            (limit.kind, limit.soft, limit.hard),
            ("nofile", 1024, Some(4096))
        );
        assert_eq!(limit.to_string(), "nofile=1024:4096");
        assert_eq!(
            parse_ulimit("nofile=01024").unwrap().to_string(),
            "nofile=1024"
        );
        for ok in [
            "memlock=-1",
            "memlock=-1:-1",
            "core=0",
            "stack=8192:-1",
            "nproc=10:10",
        ] {
            assert!(parse_ulimit(ok).is_ok(), "{ok}");
        }
        for kind in ULIMITS {
            assert!(parse_ulimit(&format!("{kind}=1")).is_ok(), "{kind}");
        }
        for (bad, why) in [
            ("nofile", "is not TYPE=SOFT[:HARD]"),
            ("files=1", "which docker does not know"),
            ("NOFILE=1", "which docker does not know"),
            ("nofile=", "not a whole number"),
            ("nofile=1:", "not a whole number"),
            ("nofile=a", "not a whole number"),
            ("nofile=-2", "not a whole number"),
            ("nofile=+1", "not a whole number"),
            ("nofile=1:2:3", "not a whole number"),
            ("nofile=99999999999999999999", "not a whole number"),
            ("nofile=2:1", "soft limit above its hard limit"),
            ("nofile=-1:10", "soft limit above its hard limit"),
        ] {
            let err = parse_ulimit(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert_eq!(ulimit_type("nofile=1:2"), "nofile");
    }

    #[test]
    fn context_names_and_values() {
        for ok in ["deps", "a.b", "a_b", "a__b", "a--b", "0", "base-cuda12.1"] {
            assert_eq!(check_context_name("k", ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "-a", "a-", ".a", "a..b", "a___b", "A", "a/b", "a:b", "a=b", "a b", "ä",
        ] {
            assert!(check_context_name("k", bad).is_err(), "{bad}");
        }
        assert!(check_context_name("k", &"a".repeat(129)).is_err());
        let digest = format!("sha256:{}", "0".repeat(64));
        for ok in [
            "data".to_string(),
            "vendor/data".to_string(),
            ".".to_string(),
            format!("docker-image://busybox@{digest}"),
            format!("docker-image://127.0.0.1:5000/a/b:1@{digest}"),
        ] {
            assert_eq!(
                LockedContext::try_from(ok.clone()).map(|c| c.to_string()),
                Ok(ok.clone())
            );
        }
        for bad in [
            "".to_string(),
            "/abs".to_string(),
            "a/../../b".to_string(),
            "c:d".to_string(),
            "x@y".to_string(),
            "github.com/lab/x".to_string(),
            "docker-image://busybox:1".to_string(),
            format!("oci-layout://dir@{digest}"),
            format!("docker-image://busybox\n@{digest}"),
        ] {
            assert!(LockedContext::try_from(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_hosts_and_networks() {
        for ok in ["pip_index", "default", "a.b-c", "0"] {
            assert_eq!(check_id("k", ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "a b",
            "a=b",
            "a,b",
            "a/b",
            "ä",
            &"a".repeat(129),
        ] {
            assert!(check_id("k", bad).is_err(), "{bad}");
        }
        for ok in ["pypi.lab:10.0.0.5", "h:::1", "h:fe80::1", "my_host:1.2.3.4"] {
            assert_eq!(check_add_host("k", ok), Ok(()), "{ok}");
        }
        for bad in [
            "h",
            "h:",
            ":1.2.3.4",
            "h:1.2.3",
            "h=1.2.3.4",
            "-h:1.2.3.4",
            "h:host-gateway",
        ] {
            assert!(check_add_host("k", bad).is_err(), "{bad}");
        }
        for ok in ["default", "host", "none"] {
            assert_eq!(Network::parse(ok).map(Network::as_str), Some(ok));
        }
        assert_eq!(Network::parse("bridge"), None);
        assert_eq!(Network::Default.buildx_value(), "");
        assert!(PROXY_ARGS.iter().all(|a| is_proxy_arg(a)));
        assert!(is_proxy_arg("FTP_PROXY") && !is_proxy_arg("PIP_INDEX_URL"));
    }

    #[test]
    fn errors_quote_at_most_a_little_of_a_huge_lock() {
        let huge = format!("version = 1\ncommit = \"{}", "a".repeat(5_000_000));
        let err = Lock::from_toml(&huge, Path::new("x.lock"))
            .unwrap_err()
            .to_string();
        assert!(err.len() < 600, "{} bytes: {}", err.len(), clip(&err));
        assert!(err.contains("line 2"), "{err}");
        let huge_commit = sample().to_toml().replace(
            "commit = \"0123456789abcdef0123456789abcdef01234567\"",
            &format!("commit = \"{}\"", "z".repeat(5_000_000)),
        );
        let err = Lock::from_toml(&huge_commit, Path::new("x.lock"))
            .unwrap_err()
            .to_string();
        assert!(
            err.len() < 600 && err.contains('…') && err.contains("source.commit"),
            "{}",
            clip(&err)
        );
        let text = sample().to_toml().replace(
            "ref = \"ubuntu:22.04\"",
            &format!("ref = \"-{}\"", "x".repeat(5_000_000)),
        );
        let err = Lock::from_toml(&text, Path::new("x.lock"))
            .unwrap_err()
            .to_string();
        assert!(err.len() < 600, "{}", clip(&err));
        let mut lock = sample();
        lock.source.remote = format!("ext::{}", "x".repeat(5_000_000));
        assert!(lock.validate().unwrap_err().len() < 800);
        let text = sample().to_toml().replace(
            "dirty = false",
            &format!("dirty = false\n{} = 1", "k".repeat(5_000_000)),
        );
        let err = Lock::from_toml(&text, Path::new("x.lock"))
            .unwrap_err()
            .to_string();
        assert!(err.len() < 600, "{}", clip(&err));
    }

    #[test]
    fn atomic_write_replaces_whole_or_keeps_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repro.lock");
        std::fs::write(&path, "old").unwrap();
        sample().write_atomic(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), sample().to_toml());
        // A rename that cannot happen (the target is a non-empty directory) keeps everything.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("keep"), "x").unwrap();
        assert!(sample().write_atomic(&blocked).is_err());
        assert_eq!(std::fs::read_to_string(blocked.join("keep")).unwrap(), "x");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "no temp file left: {leftovers:?}");
    }

    #[test]
    fn atomic_write_makes_a_file_like_any_other_not_a_private_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // What this process's umask makes of a plain 0666 create, narrowed to 0644.
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        let expected = mode(&plain) & 0o644;
        let path = dir.path().join("repro.lock");
        sample().write_atomic(&path).unwrap();
        assert_eq!(mode(&path), expected);
        assert_ne!(expected, 0o600, "a typical umask leaves the file readable");
        // Replacing a private file gives a normal one too.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        sample().write_atomic(&path).unwrap();
        assert_eq!(mode(&path), expected);
    }
}
