//! `repro.lock`: the contract between an author's release and a reviewer's rebuild.
//! Versioned, deterministic (sorted, no wall-clock time), one value per line so a diff reads
//! like a change log, and written atomically so a failure never leaves a half-written lock.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{clip, quote, Error, Result};

mod summary;
mod types;
use crate::image::annotations::Annotations;
use crate::image::digest::Digest;
use crate::image::platform::{Platform, Platforms};
use crate::image::reference::ImageRef;
use crate::inventory::LockedInventory;
pub use types::{
    AddHost, ArgName, ArgValue, BuildId, ContextName, RelativePath, Remote, ShmSize, UlimitSetting,
    Word,
};

/// The version written. Version 2 writes a summary header and the release's inventory as a
/// difference over its base's; version 1 locks are still read.
pub const VERSION: u32 = 2;
/// The versions read.
pub const VERSIONS: [u32; 2] = [1, 2];
pub const DEFAULT_PATH: &str = "repro.lock";

const HEADER: &str = "# This file is written by `docker repro release`; do not edit it by hand.\n\
# It pins everything the release was built from. Check it with `docker repro verify --rebuild`.\n";

/// A lock as read: each value by its type, its inventories whole, and the rules between its
/// values kept ([`Lock::validate`]), so that no lock that breaks them is ever read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "LockText")]
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

/// A lock as its text has it: each value read by its type, a release's inventory perhaps
/// written over its base's. [`Lock`] is read through it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockText {
    version: u32,
    source: Source,
    build: Build,
    builder: Builder,
    #[serde(rename = "dockerfile", default)]
    dockerfiles: Vec<DockerfileEntry>,
    #[serde(rename = "base", default)]
    bases: Vec<Base>,
    #[serde(rename = "image", default)]
    images: Vec<Image>,
    #[serde(default)]
    host: Host,
}

impl TryFrom<LockText> for Lock {
    type Error = String;

    fn try_from(text: LockText) -> std::result::Result<Lock, String> {
        let mut lock = Lock {
            version: text.version,
            source: text.source,
            build: text.build,
            builder: text.builder,
            dockerfiles: text.dockerfiles,
            bases: text.bases,
            images: text.images,
            host: text.host,
        };
        lock.whole_inventories()?;
        lock.validate()?;
        Ok(lock)
    }
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
    pub remote: Remote,
    /// The project directory inside the repository, `.` for its root.
    pub path: RelativePath,
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
        check_hex(&hash, &[40, 64]).map(|()| CommitId(hash))
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
    pub image: ImageRef,
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
    pub platform: Platforms,
    /// The build context, relative to the project directory.
    pub context: RelativePath,
    /// The stage built of the release's Dockerfile; absent for its last.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "none_if_empty"
    )]
    pub target: Option<Word>,
    /// The build's network, `host` or `none`; absent for buildx's default.
    #[serde(default, skip_serializing_if = "Network::is_default")]
    pub network: Network,
    /// Extra `/etc/hosts` entries of the build, `NAME:IP`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_hosts: Vec<AddHost>,
    /// The ids of the BuildKit secrets the build was given: never their values or paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<BuildId>,
    /// The ids of the SSH agents or keys the build was given (`default`): never their paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh: Vec<BuildId>,
    /// The size of `/dev/shm` in the builds' RUN steps (`2g`); absent for buildx's default.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "none_if_empty"
    )]
    pub shm_size: Option<ShmSize>,
    /// The resource limits of the builds' RUN steps, `TYPE=SOFT[:HARD]`, one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<UlimitSetting>,
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
    pub args: BTreeMap<ArgName, ArgValue>,
    /// The OCI annotations the release's manifests (and index) carry, written by its build:
    /// `org.opencontainers.image.revision`, `.source` and `.created`. Absent in locks cut
    /// before the key, whose images carry none and are rebuilt so.
    #[serde(default, skip_serializing_if = "Annotations::is_empty")]
    pub annotations: Annotations,
    /// Named build contexts: `NAME = "docker-image://REF@sha256:..."` (an image pinned by
    /// digest) or `NAME = "DIR"` (a directory of the committed project, relative to it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contexts: BTreeMap<ContextName, LockedContext>,
}

/// A named build context as a lock records it, parsed as the lock is read: an image pinned by
/// digest, or a directory of the committed project. Written back as the same text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LockedContext {
    /// `docker-image://REF@sha256:<64 hex>`.
    Image { reference: ImageRef, digest: Digest },
    /// Relative to the project directory, inside it.
    Dir(String),
}

impl TryFrom<String> for LockedContext {
    type Error = String;

    fn try_from(value: String) -> std::result::Result<Self, String> {
        let Some(image) = value.strip_prefix(IMAGE_CONTEXT) else {
            check_context_dir(&value)?;
            return Ok(LockedContext::Dir(value));
        };
        let pinned = image.rsplit_once('@').and_then(|(reference, digest)| {
            Some(LockedContext::Image {
                reference: ImageRef::try_from(reference.to_string()).ok()?,
                digest: Digest::parse(digest).ok()?,
            })
        });
        match pinned.filter(|_| image.matches('@').count() == 1) {
            Some(context) => Ok(context),
            None => Err(format!(
                "{} is not docker-image://REF@sha256:<64 hex>: a locked image context is pinned by digest",
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

    /// The build arguments as text, as a build is given them.
    pub fn args_text(&self) -> BTreeMap<String, String> {
        self.args
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    /// The platforms of the build, in the order given (one for a single-platform release).
    pub fn platforms(&self) -> &[Platform] {
        self.platform.list()
    }
}

/// The name of an entry's platform, empty for none (a single-platform lock's entries).
pub fn platform_name(platform: &Option<Platform>) -> String {
    platform
        .as_ref()
        .map(Platform::to_string)
        .unwrap_or_default()
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
    pub path: RelativePath,
    pub sha256: FileSha256,
    /// The ids of the build's secrets this Dockerfile's build was given: those its `RUN
    /// --mount`s read. Absent when the builds had none, and in locks that record them for the
    /// whole build only (every Dockerfile then had `build.secrets`); see [`Lock::secrets_of`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<BuildId>>,
    /// As `secrets`, for the SSH agents and keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<Vec<BuildId>>,
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
        check_hex(&hex, &[64]).map(|()| FileSha256(hex))
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
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "none_if_empty"
    )]
    pub platform: Option<Platform>,
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
    pub name: ImageRef,
    /// The platform of this manifest: only in a multi-platform lock, which has one `[[image]]`
    /// per role and platform.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "none_if_empty"
    )]
    pub platform: Option<Platform>,
    /// The image index holding this platform's manifest (the engine's image ID): only in a
    /// multi-platform lock, the same for every platform of a role.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "none_if_empty"
    )]
    pub index_digest: Option<Digest>,
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    pub layers: Vec<Digest>,
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
    pub fn engine_digest(&self) -> &Digest {
        self.index_digest.as_ref().unwrap_or(&self.manifest_digest)
    }

    /// ` (linux/arm64)` for an image of a multi-platform lock, else nothing: for messages.
    pub fn on_platform(&self) -> String {
        match &self.platform {
            Some(platform) => format!(" ({platform})"),
            None => String::new(),
        }
    }

    /// Its platform's name, empty in a single-platform lock.
    pub fn platform_name(&self) -> String {
        platform_name(&self.platform)
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
        toml::from_str(text).map_err(|e: toml::de::Error| {
            Error::Failed(format!("{}: {}", path.display(), toml_error(text, &e)))
        })
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

    /// The rules between values, which no value's type can say: each value is checked as it
    /// is read (its type), these when the whole lock is, before any process starts. An id, host
    /// or limit named twice; a Dockerfile's secret or SSH id the build was not given; a release
    /// image; and the entries of each platform (see [`Lock::check_platform_entries`]).
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (key, list) in [
            ("build.secrets", &self.build.secrets),
            ("build.ssh", &self.build.ssh),
        ] {
            if let Some(dup) = duplicate(list.iter().map(BuildId::as_str)) {
                return Err(format!("{key} names {} twice", quote(dup)));
            }
        }
        if let Some(dup) = duplicate(self.build.add_hosts.iter().map(AddHost::name)) {
            return Err(format!("build.add_hosts names {} twice", quote(dup)));
        }
        if let Some(dup) = duplicate(self.build.ulimits.iter().map(UlimitSetting::kind)) {
            return Err(format!("build.ulimits names {} twice", quote(dup)));
        }
        for d in &self.dockerfiles {
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
                if let Some(dup) = duplicate(ids.iter().flatten().map(BuildId::as_str)) {
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
        self.check_platform_entries()
    }

    /// One `[[image]]` per role (and one `[[base]]` per reference) in a single-platform lock,
    /// none with a `platform`; in a multi-platform lock, one per role and platform of the
    /// build's list, each with its platform, and one index digest per role.
    fn check_platform_entries(&self) -> std::result::Result<(), String> {
        let platforms = self.build.platforms();
        if platforms.len() == 1 {
            for i in &self.images {
                if i.platform.is_some() || i.index_digest.is_some() {
                    return Err(format!(
                        "[[image]] {} has a platform or index_digest, but build.platform names one platform; only a multi-platform lock has them",
                        quote(&i.name)
                    ));
                }
            }
            if let Some(dup) = duplicate(self.images.iter().map(|i| i.role.as_str())) {
                return Err(format!("two [[image]] entries with role = \"{dup}\""));
            }
            if let Some(b) = self.bases.iter().find(|b| b.platform.is_some()) {
                return Err(format!(
                    "[[base]] {} has a platform, but build.platform names one platform",
                    quote(&b.reference)
                ));
            }
            return Ok(());
        }
        for i in &self.images {
            if !i.platform.as_ref().is_some_and(|p| platforms.contains(p)) {
                return Err(format!(
                    "[[image]] {} has platform = {}, which is not in build.platform = {}",
                    quote(&i.name),
                    quote(&i.platform_name()),
                    quote(&self.build.platform)
                ));
            }
            if i.index_digest.is_none() {
                return Err(format!(
                    "[[image]] {} has no index_digest; each image of a multi-platform lock names its role's image index",
                    quote(&i.name)
                ));
            }
        }
        for role in [Role::Base, Role::Release] {
            let of_role: Vec<&Image> = self.images.iter().filter(|i| i.role == role).collect();
            let Some(first) = of_role.first() else {
                continue;
            };
            let names: Vec<String> = of_role.iter().map(|i| i.platform_name()).collect();
            if let Some(dup) = duplicate(names.iter().map(String::as_str)) {
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
                    quote(first.index_digest.as_deref().unwrap_or_default()),
                    quote(other.index_digest.as_deref().unwrap_or_default())
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
                .find(|p| !of_role.iter().any(|i| i.platform.as_ref() == Some(*p)))
            {
                return Err(format!(
                    "no [[image]] with role = \"{role}\" for platform {}, which build.platform names",
                    quote(&missing.to_string())
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for b in &self.bases {
            if !b.platform.as_ref().is_some_and(|p| platforms.contains(p)) {
                return Err(format!(
                    "[[base]] {} has platform = {}, which is not in build.platform = {}",
                    quote(&b.reference),
                    quote(&platform_name(&b.platform)),
                    quote(&self.build.platform)
                ));
            }
            if !seen.insert((&b.reference, &b.dockerfile, &b.platform)) {
                return Err(format!(
                    "two [[base]] entries for {} in {} on platform {}",
                    quote(&b.reference),
                    quote(&b.dockerfile),
                    quote(&platform_name(&b.platform))
                ));
            }
        }
        Ok(())
    }

    /// The secret ids the build of `role`'s Dockerfile was given (none for a role without one).
    pub fn secrets_of(&self, role: Role) -> &[BuildId] {
        match self.dockerfiles.iter().find(|d| d.role == role) {
            Some(d) => d.secrets.as_deref().unwrap_or(&self.build.secrets),
            None => &[],
        }
    }

    /// The SSH ids the build of `role`'s Dockerfile was given (none for a role without one).
    pub fn ssh_of(&self, role: Role) -> &[BuildId] {
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
            .find(|i| i.role == role && i.platform.as_ref().map_or(true, |p| *p == *platform))
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

/// A digest docker repro read from what it built, to record in a lock: it is one, or the
/// build's output is not what docker repro takes it for.
pub fn built_digest(text: &str) -> Result<Digest> {
    Digest::parse(text).map_err(|why| {
        Error::Failed(format!(
            "internal error: the built image names {} which {why}; nothing was written",
            quote(text)
        ))
    })
}

/// `value`, taken from `repro.toml`, a flag or git and checked there, as the lock records it
/// under `key`: a value the lock cannot hold stops the release before anything is written.
pub fn recorded<T>(key: &str, value: impl AsRef<str>) -> Result<T>
where
    T: TryFrom<String, Error = String>,
{
    T::try_from(value.as_ref().to_string()).map_err(|why| {
        Error::Failed(format!(
            "{key} = {why}, so it cannot be recorded in a lock; nothing was written"
        ))
    })
}

/// [`recorded`], none for an empty `value`.
pub fn recorded_unless_empty<T>(key: &str, value: &str) -> Result<Option<T>>
where
    T: TryFrom<String, Error = String>,
{
    (!value.is_empty())
        .then(|| recorded(key, value))
        .transpose()
}

/// [`recorded`], for each of `values`.
pub fn recorded_all<T, S>(key: &str, values: impl IntoIterator<Item = S>) -> Result<Vec<T>>
where
    T: TryFrom<String, Error = String>,
    S: AsRef<str>,
{
    values.into_iter().map(|v| recorded(key, v)).collect()
}

/// An optional value that older hand-written locks may give as `""`: read as none.
fn none_if_empty<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<String, Error = String>,
{
    let text = String::deserialize(deserializer)?;
    if text.is_empty() {
        return Ok(None);
    }
    T::try_from(text)
        .map(Some)
        .map_err(serde::de::Error::custom)
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
    let key = e
        .span()
        .and_then(|span| key_of_value(text, span.start))
        .map(|key| format!("{key} = "))
        .unwrap_or_default();
    format!(
        "{key}{}{}",
        clip(&one_line(e.message())),
        at.unwrap_or_default()
    )
}

/// The dotted key of the string value that starts at byte `at` of a lock's text, as its table
/// header and key line name it (`image.manifest_digest`, `build.ulimits`): what a typed value
/// refused as it is read is about, since its own error knows only the value. `None` where `at`
/// is no string value under a bare key.
fn key_of_value(text: &str, at: usize) -> Option<String> {
    let bare = |key: &str| {
        !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    // The bare key a line starts with, `KEY = ...`, and what follows its `=`.
    let leading = |line: &str| -> Option<(String, String)> {
        let (key, rest) = line.trim_start().split_once('=')?;
        let key = key.trim();
        bare(key).then(|| (key.to_string(), rest.trim().to_string()))
    };
    let before = text.get(..at)?;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let prefix = &before[line_start..];
    let mut lines = before[..line_start].lines().rev();
    // A key refused as it is read (a context's name): the table it is in names it.
    let after = &text[at..];
    let token_end = match after.as_bytes().first() {
        Some(b'"') => after[1..].find('"').map(|end| end + 2),
        Some(_) => Some(
            after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(after.len()),
        ),
        None => None,
    }?;
    let is_key = after[token_end..].trim_start().starts_with('=');
    let key = if is_key {
        match prefix.trim() {
            "" => None,
            // `KEY = { NAME = ... }`: a name inside KEY.
            inline if inline.contains('{') => Some(leading(prefix)?.0),
            _ => return None,
        }
    } else {
        // A string, or an array of them (a list is refused as a whole); a `[` opening a line
        // is a table's header, no value.
        match text.as_bytes().get(at) {
            Some(b'"' | b'\'') => {}
            Some(b'[') if !prefix.trim().is_empty() => {}
            _ => return None,
        }
        Some(if prefix.trim().is_empty() {
            // An element of an array written one per line: the key opened it above.
            lines
                .by_ref()
                .find_map(|l| leading(l).filter(|(_, rest)| rest.starts_with('[')))?
                .0
        } else {
            let (key, rest) = leading(prefix)?;
            // `KEY = { NAME = "..." }`: the value is NAME's, inside KEY.
            match rest.strip_prefix('{').and_then(|inner| {
                let (name, _) = inner.rsplit_once('=')?;
                let name = name.rsplit(',').next()?.trim();
                bare(name).then_some(name)
            }) {
                Some(name) => format!("{key}.{name}"),
                None => key,
            }
        })
    };
    // The table's header, `[a.b]` or `[[a]]` (a comment may follow): named only when each of
    // its parts is a bare key, as every table a lock has is, so that no text of the lock but
    // key names reaches the message.
    let table = match lines.map(str::trim).find(|l| l.starts_with('[')) {
        None => None,
        Some(header) => {
            let inner = header.trim_start_matches('[');
            let inner = inner[..inner.find(']')?].trim();
            if !inner.split('.').all(|part| bare(part.trim())) {
                return None;
            }
            Some(inner.replace(' ', ""))
        }
    };
    let name = match (table, key) {
        (Some(table), Some(key)) => format!("{table}.{key}"),
        (Some(table), None) => table,
        (None, key) => key?,
    };
    Some(clip(&name))
}

/// A lowercase hex hash of one of `lengths` digits.
fn check_hex(value: &str, lengths: &[usize]) -> std::result::Result<(), String> {
    if lengths.contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(format!("{} is not a lowercase hex hash", quote(value)))
    }
}

/// The helper of git's `<transport>::<address>` syntax (`ext::`, `fd::`), if `remote` uses it.
pub fn remote_helper(remote: &str) -> Option<&str> {
    let (helper, _) = remote.split_once("::")?;
    (!helper.is_empty()
        && helper
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
    .then_some(helper)
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

/// How a named context names an image: `docker-image://REF`.
pub const IMAGE_CONTEXT: &str = "docker-image://";

/// A directory a named context reads: relative to the project, without `..`, and nothing
/// buildx would read as something else (a URL, an image, a git remote: no `:` or `@`).
pub fn check_context_dir(value: &str) -> std::result::Result<(), String> {
    types::check_relative(value)?;
    if value.contains([':', '@']) || value.starts_with("github.com/") {
        return Err(format!(
            "{} is not a directory docker repro can name: no `:` or `@`, which buildx reads as a URL, an image or a git remote",
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

    /// Why the lock `text` is refused, as its reader says it.
    fn refused(text: &str) -> String {
        Lock::from_toml(text, Path::new("x.lock"))
            .unwrap_err()
            .to_string()
    }

    /// Why the sample lock with `line` added to its `[build]` table is refused.
    fn refused_in_build(line: &str) -> String {
        let text = sample().to_toml();
        assert!(text.contains("[build]\n"), "{text}");
        refused(&text.replacen("[build]\n", &format!("[build]\n{line}\n"), 1))
    }

    /// The digest of 64 `c`s.
    pub fn digest(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
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
                target: None,
                network: Network::Default,
                add_hosts: vec![],
                secrets: vec![],
                ssh: vec![],
                shm_size: None,
                ulimits: vec![],
                args: [("B".into(), "2".into()), ("A".into(), "1".into())].into(),
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
                platform: None,
                index_digest: Digest::parse(&d('1')).unwrap(),
                platform_digest: Digest::parse(&d('2')).unwrap(),
            }],
            host: Host::default(),
            images: vec![
                Image {
                    role: Role::Base,
                    name: "curvenet:base".into(),
                    platform: None,
                    index_digest: None,
                    manifest_digest: digest('3'),
                    config_digest: digest('4'),
                    layers: vec![digest('5')],
                    needs: None,
                    inventory: Default::default(),
                    inventory_over: None,
                    inventory_removed: Default::default(),
                },
                Image {
                    role: Role::Release,
                    name: "curvenet:0123456789ab".into(),
                    platform: None,
                    index_digest: None,
                    manifest_digest: digest('6'),
                    config_digest: digest('7'),
                    layers: vec![digest('5'), digest('8')],
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
                    platform: Some(platform.into()),
                    platform_digest: Digest::parse(&d(['2', 'c'][n])).unwrap(),
                    ..b.clone()
                });
            }
            for i in &lock.images {
                let mut i = i.clone();
                i.platform = Some(platform.into());
                i.index_digest = Some(digest(if i.role == Role::Base { 'a' } else { 'b' }));
                if n == 1 {
                    i.manifest_digest = digest(if i.role == Role::Base { 'd' } else { 'e' });
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
                l.images[1].platform = Some("linux/s390x".into())
            }),
            ("not in build.platform", |l| {
                l.bases[0].platform = Some("linux/s390x".into())
            }),
            ("platform = \"linux/amd64\"", |l| {
                l.images[2].platform = Some("linux/amd64".into())
            }),
            ("two index digests", |l| {
                l.images[3].index_digest = Some(digest('f'))
            }),
            ("has no index_digest", |l| l.images[0].index_digest = None),
            ("two names", |l| l.images[3].name = "other:1".into()),
            ("for platform \"linux/arm64\"", |l| {
                l.images
                    .retain(|i| !(i.role == Role::Base && i.platform_name() == "linux/arm64"))
            }),
            ("two [[base]] entries", |l| {
                let b = l.bases[0].clone();
                l.bases.push(b)
            }),
        ];
        for (needle, spoil) in bad {
            let mut lock = sample_multi();
            spoil(&mut lock);
            let err = lock.validate().unwrap_err();
            assert!(err.contains(needle), "{needle}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        // A platform list or an entry's platform that is none is not even read.
        let text = sample_multi().to_toml();
        let locked = "platform = \"linux/amd64,linux/arm64\"";
        assert!(text.contains(locked), "{text}");
        for (needle, list) in [
            ("names linux/amd64 twice", "linux/amd64,linux/amd64"),
            ("comma-separated list", "linux/amd64, linux/arm64"),
            ("comma-separated list", "linux/amd64,"),
            ("comma-separated list", "linux/amd64,--privileged"),
            ("names more than 16", &vec!["linux/amd64"; 17].join(",")),
        ] {
            let err = refused(&text.replace(locked, &format!("platform = {list:?}")));
            assert!(err.starts_with("x.lock: build.platform = \""), "{err}");
            assert!(
                err.contains(needle) && !err.contains('\n'),
                "{needle}: {err}"
            );
        }
        let entry = "platform = \"linux/arm64\"";
        assert!(text.contains(entry), "{text}");
        for bad in ["linux", "--privileged", "linux/arm64 --x"] {
            let err = refused(&text.replacen(entry, &format!("platform = {bad:?}"), 1));
            assert!(
                err.starts_with(&format!(
                    "x.lock: base.platform = {bad:?} is not a platform"
                )),
                "{err}"
            );
        }
        // A single-platform lock carries no platform keys, and one image per role.
        let mut lock = sample();
        lock.images[0].platform = Some("linux/amd64".into());
        assert!(lock
            .validate()
            .unwrap_err()
            .contains("only a multi-platform lock"));
        let mut lock = sample();
        lock.images[1].index_digest = Some(digest('f'));
        assert!(lock
            .validate()
            .unwrap_err()
            .contains("only a multi-platform lock"));
        let mut lock = sample();
        lock.bases[0].platform = Some("linux/amd64".into());
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
            err.starts_with(
                "x.lock: base.index_digest = \"sha256:$(id)\" is not a sha256:<64 hex> digest (line "
            ),
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
                err.starts_with("x.lock: base.ref = ") && err.contains("(line "),
                "{err}"
            );
        }
        // Nor is an image name, or the build's.
        let text = sample().to_toml();
        for (key, locked) in [
            ("image.name", "name = \"curvenet:0123456789ab\""),
            ("build.image", "image = \"curvenet\""),
        ] {
            assert!(text.contains(locked), "{text}");
            let (name, _) = locked.split_once(" = ").unwrap();
            for bad in ["-v /:/host", "--privileged", "a$(id)"] {
                let err = refused(&text.replacen(locked, &format!("{name} = {bad:?}"), 1));
                assert!(
                    err.starts_with(&format!("x.lock: {key} = {bad:?} is not")),
                    "{err}"
                );
            }
        }
        // A digest that is none is not even read, and the error names its key.
        for (key, locked) in [
            ("image.manifest_digest", digest('6')),
            ("image.config_digest", digest('7')),
            ("image.layers", digest('8')),
        ] {
            for bad in ["sha256:abc", "--privileged"] {
                let err = Lock::from_toml(
                    &text.replace(&format!("\"{locked}\""), &format!("{bad:?}")),
                    Path::new("x.lock"),
                )
                .unwrap_err()
                .to_string();
                assert!(
                    err.starts_with(&format!(
                        "x.lock: {key} = {bad:?} is not a sha256:<64 hex> digest (line "
                    )),
                    "{err}"
                );
            }
        }
        let multi = sample_multi().to_toml();
        let index = format!("index_digest = \"{}\"", digest('a'));
        assert!(multi.contains(&index), "{multi}");
        let err = Lock::from_toml(
            &multi.replacen(&index, "index_digest = \"--privileged\"", 1),
            Path::new("x.lock"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("x.lock: image.index_digest = \"--privileged\" is not a sha256:"),
            "{err}"
        );
        // An empty one, as a hand-written single-platform lock may have it, means none.
        let single = text.replace(
            "[[image]]\nrole = \"release\"\n",
            "[[image]]\nrole = \"release\"\nindex_digest = \"\"\n",
        );
        assert_ne!(single, text);
        let read = Lock::from_toml(&single, Path::new("x.lock")).unwrap();
        assert_eq!(read.to_toml(), text);
        let err = refused(&text.replace("context = \".\"", "context = \"../outside\""));
        assert!(
            err.starts_with("x.lock: build.context = \"../outside\" must be a relative path"),
            "{err}"
        );
        let args = "[build.args]\nA = \"1\"\nB = \"2\"\n";
        assert!(text.contains(args), "{text}");
        let err = refused(&text.replace(args, "[build.args]\nA = \"1\"\nB = \"a\\nb\"\n"));
        assert!(
            err.starts_with("x.lock: build.args.B = is a value with a control character"),
            "{err}"
        );
        let err = refused(&text.replace(args, "[build.args]\n\"--x\" = \"1\"\n"));
        assert!(
            err.starts_with("x.lock: build.args = \"--x\" is not allowed"),
            "{err}"
        );
        let remote = "remote = \"https://example.org/lab/curvenet.git\"";
        assert!(text.contains(remote), "{text}");
        for bad in [
            "ext::sh -c touch% /tmp/pwned",
            "ext::/tmp/evil.sh",
            "fd::0",
            "FD::7,8",
        ] {
            let err = refused(&text.replace(remote, &format!("remote = {bad:?}")));
            assert!(err.starts_with("x.lock: source.remote = "), "{err}");
        }
        let err = refused(&text.replace(remote, "remote = \"ext::/tmp/evil.sh\""));
        assert!(err.contains("`ext::`"), "{err}");
        for good in [
            "/srv/a::b/x.git",
            "https://example.org/a::b.git",
            "git@host:lab/x.git",
            "",
        ] {
            let text = text.replace(remote, &format!("remote = {good:?}"));
            let lock = Lock::from_toml(&text, Path::new("x.lock")).unwrap();
            assert_eq!(lock.source.remote, good);
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

        for (needle, line) in [
            (
                "build.add_hosts = \"--privileged\" is not NAME:IP",
                r#"add_hosts = ["--privileged"]"#,
            ),
            (
                "build.add_hosts = \"x:not-an-ip\" is not NAME:IP",
                r#"add_hosts = ["x:not-an-ip"]"#,
            ),
            (
                "build.add_hosts = \"a b:10.0.0.1\" is not NAME:IP",
                r#"add_hosts = ["a b:10.0.0.1"]"#,
            ),
            (
                "build.add_hosts = \"x:10.0.0.1\\n\" is not NAME:IP",
                r#"add_hosts = ["x:10.0.0.1\n"]"#,
            ),
            (
                "build.add_hosts names \"x\" twice",
                r#"add_hosts = ["x:10.0.0.1", "x:10.0.0.2"]"#,
            ),
            (
                "build.secrets = \"id=x,src=/etc/shadow\" is not a plain id",
                r#"secrets = ["id=x,src=/etc/shadow"]"#,
            ),
            (
                "build.secrets = \"-x\" is not a plain id",
                r#"secrets = ["-x"]"#,
            ),
            (
                "build.secrets = \"\" is not a plain id",
                r#"secrets = [""]"#,
            ),
            ("build.secrets names \"a\" twice", r#"secrets = ["a", "a"]"#),
            (
                "build.ssh = \"default=/root/.ssh/id_rsa\" is not a plain id",
                r#"ssh = ["default=/root/.ssh/id_rsa"]"#,
            ),
            ("build.ssh = \"a,b\" is not a plain id", r#"ssh = ["a,b"]"#),
        ] {
            let err = refused_in_build(line);
            assert!(
                err.starts_with(&format!("x.lock: {needle}")),
                "{needle}: {err}"
            );
            assert!(!err.contains('\n'), "{err}");
        }
        // A proxy is never recorded, and its value (a password, maybe) never shown.
        let text = sample().to_toml();
        let err = refused(&text.replace(
            "[build.args]\n",
            "[build.args]\nhttps_proxy = \"http://u:secret@proxy:3128\"\n",
        ));
        assert!(
            err.starts_with("x.lock: build.args = \"https_proxy\" is a proxy setting"),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
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
                err.starts_with("x.lock: build.network = unknown variant `")
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
        let digest = digest('a');
        let mut lock = sample();
        lock.build.shm_size = Some("2g".into());
        lock.build.ulimits = vec!["nofile=1024:4096".into(), "memlock=-1".into()];
        lock.build.contexts = [
            (
                "deps".into(),
                LockedContext::Image {
                    reference: "127.0.0.1:5000/lab/deps:1".into(),
                    digest: digest.clone(),
                },
            ),
            ("data".into(), LockedContext::Dir("vendor/data".into())),
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

        for (needle, line) in [
            (
                "build.shm_size = \"2g --privileged\" is not a size",
                r#"shm_size = "2g --privileged""#,
            ),
            (
                "build.shm_size = \"-1\" is not a size",
                r#"shm_size = "-1""#,
            ),
            ("build.shm_size = \"0\" is no size", r#"shm_size = "0""#),
            (
                "build.shm_size = \"99999999999999999999g\" is not a size",
                r#"shm_size = "99999999999999999999g""#,
            ),
            (
                "build.ulimits = \"--privileged\" is not TYPE=SOFT[:HARD]",
                r#"ulimits = ["--privileged"]"#,
            ),
            (
                "build.ulimits = \"nofile\" is not TYPE=SOFT[:HARD]",
                r#"ulimits = ["nofile"]"#,
            ),
            (
                "build.ulimits = \"files=1\" names the limit",
                r#"ulimits = ["files=1"]"#,
            ),
            (
                "build.ulimits = \"nofile=1 --x\" has a limit",
                r#"ulimits = ["nofile=1 --x"]"#,
            ),
            (
                "build.ulimits = \"nofile=4096:1024\" has a soft limit above",
                r#"ulimits = ["nofile=4096:1024"]"#,
            ),
            (
                "build.ulimits = \"nofile=-2\" has a limit",
                r#"ulimits = ["nofile=-2"]"#,
            ),
            (
                "build.ulimits names \"nofile\" twice",
                r#"ulimits = ["nofile=1", "nofile=2"]"#,
            ),
            (
                "build.contexts = \"--x\" is not a context name",
                r#"contexts = { "--x" = "data" }"#,
            ),
            (
                "build.contexts = \"Deps\" is not a context name",
                r#"contexts = { Deps = "data" }"#,
            ),
            (
                "build.contexts = \"a=b\" is not a context name",
                r#"contexts = { "a=b" = "data" }"#,
            ),
            (
                "build.contexts = \"--x\" is not a context name",
                r#"contexts = { x = "data", "--x" = "data" }"#,
            ),
        ] {
            let err = refused_in_build(line);
            assert!(
                err.starts_with(&format!("x.lock: {needle}")),
                "{needle}: {err}"
            );
            assert!(!err.contains('\n'), "{err}");
        }
        for name in ["Deps", "\"--x\""] {
            let text = sample().to_toml().replace(
                "[build.args]",
                &format!("[build.contexts]\n{name} = \"data\"\n\n[build.args]"),
            );
            let err = refused(&text);
            assert!(
                err.starts_with("x.lock: build.contexts = \"")
                    && err.contains("is not a context name"),
                "{err}"
            );
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
                err.starts_with("x.lock: build.contexts.data = ") && err.contains(" (line "),
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
            assert!(ok.parse::<ContextName>().is_ok(), "{ok}");
        }
        for bad in [
            "", "-a", "a-", ".a", "a..b", "a___b", "A", "a/b", "a:b", "a=b", "a b", "ä",
        ] {
            assert!(bad.parse::<ContextName>().is_err(), "{bad}");
        }
        assert!("a".repeat(129).parse::<ContextName>().is_err());
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
            assert!(ok.parse::<BuildId>().is_ok(), "{ok}");
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
            assert!(bad.parse::<BuildId>().is_err(), "{bad}");
        }
        for ok in ["pypi.lab:10.0.0.5", "h:::1", "h:fe80::1", "my_host:1.2.3.4"] {
            assert!(ok.parse::<AddHost>().is_ok(), "{ok}");
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
            assert!(bad.parse::<AddHost>().is_err(), "{bad}");
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
        let err = refused(&sample().to_toml().replace(
            "remote = \"https://example.org/lab/curvenet.git\"",
            &format!("remote = \"ext::{}\"", "x".repeat(5_000_000)),
        ));
        assert!(err.len() < 800, "{}", clip(&err));
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
    fn no_deserializer_makes_a_lock_that_breaks_the_rules_between_its_values() {
        let mut lock = sample();
        let again = lock.images[1].clone();
        lock.images.push(again);
        let json = serde_json::to_value(&lock).unwrap();
        let err = serde_json::from_value::<Lock>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("two [[image]] entries"), "{err}");
        let text = toml::to_string(&lock).unwrap();
        let err = toml::from_str::<Lock>(&text).unwrap_err().to_string();
        assert!(err.contains("two [[image]] entries"), "{err}");
        let err = refused(&text);
        assert_eq!(
            err, "x.lock: two [[image]] entries with role = \"release\"",
            "one line, no position: the rule is about the whole lock"
        );
        // A lock read by serde alone is the lock its reader gives.
        let text = sample_multi().to_toml();
        assert_eq!(
            toml::from_str::<Lock>(&text).unwrap(),
            Lock::from_toml(&text, Path::new("x.lock")).unwrap()
        );
    }

    #[test]
    fn a_refused_value_is_named_by_its_key_and_only_key_names_reach_the_message() {
        let text = sample().to_toml();
        // A comment after the header is no part of the key.
        let commented = text
            .replace("[build]\n", "[build] # the build\n")
            .replace("context = \".\"", "context = \"/etc\"");
        let err = refused(&commented);
        assert!(
            err.starts_with("x.lock: build.context = \"/etc\" must be"),
            "{err}"
        );
        // A huge key is clipped; a quoted table's name is not repeated at all.
        let huge = "k".repeat(100_000);
        let err = refused(&text.replace("[build]\n", &format!("[build]\n{huge} = 1\n")));
        assert!(err.len() < 600, "{}", clip(&err));
        let quoted = text
            .replace("[build]\n", "[\"build\"]\n")
            .replace("context = \".\"", "context = \"/etc\"");
        let err = refused(&quoted);
        assert!(err.starts_with("x.lock: \"/etc\" must be"), "{err}");
        // An element of a list written one per line is named by the list's key.
        let mut lock = sample();
        lock.build.secrets = vec!["a".into(), "b".into()];
        let text = lock.to_toml();
        assert!(
            text.contains("secrets = [\n    \"a\",\n    \"b\",\n]"),
            "{text}"
        );
        let err = refused(&text.replace("    \"b\",\n", "    \"-b\",\n"));
        assert!(
            err.starts_with("x.lock: build.secrets = \"-b\" is not a plain id"),
            "{err}"
        );
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
