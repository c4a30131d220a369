//! The build both `release` and `verify --rebuild` run. A [`Plan`] is plain data derived from
//! the source tree and the recorded inputs; building the same plan is how a rebuild is "exactly
//! as the lock says".

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::dockerfile::{self, Dockerfile, ExternalRef};
use crate::engine::docker::{BuildInputs, BuildLog, BuildSpec, BuilderFacts, Docker};
use crate::engine::process::LineSink;
use crate::error::{clip, Error, Result};
use crate::image::oci::{self, OciImage};

use crate::image::archive::Select;
use crate::image::reference::normalise_ref;
use crate::lock::{
    split_platforms, Base, DockerfileEntry, ImageConfig, LayerEncoder, Role, Timestamps,
};
use crate::project::confine::confine;
use crate::ui::Ui;

/// Inputs that are the same for every image of a release.
#[derive(Debug, Clone)]
pub struct Settings {
    pub image: String,
    pub platform: String,
    pub source_date_epoch: i64,
    /// The base's own epoch when it differs (see [`crate::lock::Build::base_source_date_epoch`]).
    pub base_source_date_epoch: Option<i64>,
    pub target: String,
    pub builder: String,
    pub args: BTreeMap<String, String>,
    /// Relative to the project directory.
    pub context: String,
    /// Reuse the build cache (faster, but see [`BuildSpec::use_cache`]).
    pub use_cache: bool,
    /// The build inputs of every build (base and release); see [`BuildSpec`]. Their named
    /// contexts are filled in by [`Plan::new`], from `contexts`.
    pub inputs: BuildInputs,
    /// Named contexts as the lock records them: `docker-image://REF@DIGEST`, or a directory
    /// relative to the project.
    pub contexts: BTreeMap<String, String>,
    pub compression: crate::lock::Compression,
    /// Who clamps the layers' file times: BuildKit while it exports, or this tool after.
    pub timestamps: Timestamps,
    /// Show BuildKit's whole log while building (`--progress plain`), not one line per step.
    pub full_log: bool,
    /// Who writes the image configs: BuildKit, or this tool in its canonical form.
    pub image_config: ImageConfig,
    /// Which of this tool's encoders compresses the layers it writes.
    pub layer_encoder: LayerEncoder,
    /// The OCI annotations of the release's manifests (never the base's, which many commits
    /// share): see [`crate::lock::Build::annotations`].
    pub annotations: crate::image::annotations::Annotations,
}

/// How a new release clamps its layers' file times: after the build, so that no BuildKit
/// rewrites a layer that holds no later time (see [`crate::image::retime`]).
pub const RELEASE_TIMESTAMPS: Timestamps = Timestamps::Encoded;

/// How a new release writes its image configs: in the canonical form, so that another
/// BuildKit's history text does not change its digests (see [`crate::image::canonical`]).
pub const RELEASE_IMAGE_CONFIG: ImageConfig = ImageConfig::Canonical1;

/// How a new release compresses the layers it writes: on every core, with bytes that do not
/// depend on their number (see [`crate::image::encoder`]).
pub const RELEASE_LAYER_ENCODER: LayerEncoder = LayerEncoder::Parallel1;

/// One Dockerfile to build.
#[derive(Debug, Clone)]
pub struct Stage {
    pub role: Role,
    pub path: String,
    /// Where the Dockerfile is, every link resolved (inside the committed source); BuildKit is
    /// given this path, so it builds the bytes hashed here.
    pub file: PathBuf,
    pub sha256: crate::lock::FileSha256,
    pub parsed: Dockerfile,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub settings: Settings,
    /// The project directory inside the materialised source.
    pub project: PathBuf,
    /// The build context, every link resolved (inside the committed source).
    pub context: PathBuf,
    pub base: Option<Stage>,
    pub release: Stage,
    pub bases: Vec<Base>,
    /// Each build's progress goes to a log file, and a failed build is one line naming the
    /// step, the cause and the log ([`Docker::build_logged`]); else buildx's output is shown.
    pub logged: bool,
}

pub struct Built {
    pub role: Role,
    pub archive: PathBuf,
    /// The image index of a multi-platform build (the engine's image ID once loaded); `None`
    /// for one platform, whose manifest is the image.
    pub index: Option<String>,
    /// Each platform's image, in the order of the build's platforms; one, with an empty
    /// platform, for a single-platform build.
    pub images: Vec<PlatformImage>,
    /// The layers of the registry image the build stands on, kept as pulled.
    pub pulled: Pulled,
}

/// The layers of the registry image a build stands on, kept as pulled: the engine's store
/// holds them once BuildKit has pulled them (where the builder reads that store).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pulled {
    pub layers: BTreeSet<String>,
    /// They were left out of the export, so the archive lacks them.
    pub left_out: bool,
}

/// One platform's image of a build.
pub struct PlatformImage {
    /// `os/arch[/variant]`; empty for a single-platform build.
    pub platform: String,
    pub image: OciImage,
}

impl Built {
    /// The image of `platform` (the only one of a single-platform build, whatever it is).
    pub fn image_for(&self, platform: &str) -> Option<&OciImage> {
        self.images
            .iter()
            .find(|i| i.platform.is_empty() || i.platform == platform)
            .map(|i| &i.image)
    }

    /// Every platform's layers.
    pub fn layers(&self) -> BTreeSet<String> {
        self.images
            .iter()
            .flat_map(|i| i.image.layers.iter().cloned())
            .collect()
    }

    /// What the engine's image ID will be once loaded, and what a build pinned to this one
    /// names: the index of several platforms, else the one manifest.
    pub fn digest(&self) -> &str {
        match &self.index {
            Some(index) => index,
            None => &self.images[0].image.manifest_digest,
        }
    }
}

impl Plan {
    /// Reads and parses the Dockerfiles under `project`, then pins every external image with
    /// `pin` (the registry at release time, the lock at rebuild time). `root` is the committed
    /// source holding `project`: the context and the Dockerfiles (and their `.dockerignore`
    /// files) must resolve inside it, links included, before anything is read or built.
    /// An image the Dockerfiles name that is a named context (`FROM deps` with
    /// `--build-context deps=...`) is the context's, and not pinned.
    pub fn new(
        mut settings: Settings,
        root: &Path,
        project: &Path,
        base_file: Option<&str>,
        release_file: &str,
        mut pin: impl FnMut(&ExternalRef, &str, &str) -> Result<Base>,
    ) -> Result<Plan> {
        let context = confine(
            root,
            project,
            Path::new(&settings.context),
            "the build context",
        )?;
        confine(
            root,
            &context,
            Path::new(".dockerignore"),
            "the context's .dockerignore",
        )?;
        settings.inputs.contexts = named_contexts(&settings.contexts, root, project)?;
        let platforms = split_platforms(&settings.platform);
        let multi = platforms.len() > 1;
        let base = base_file
            .map(|f| read_stage(Role::Base, root, project, f, &settings, platforms[0]))
            .transpose()?;
        let release = read_stage(
            Role::Release,
            root,
            project,
            release_file,
            &settings,
            platforms[0],
        )?;
        let mut bases = Vec::new();
        // Each platform's build may pull other images (`FROM base-$TARGETARCH`), and a base
        // is pinned to its index digest but locked with each platform's manifest.
        for platform in &platforms {
            for stage in base.iter().chain(std::iter::once(&release)) {
                let parsed;
                let externals = if *platform == platforms[0] {
                    &stage.parsed.externals
                } else {
                    parsed = parse_stage(stage, &settings, platform)?;
                    &parsed.externals
                };
                for external in externals {
                    if stage.role == Role::Release
                        && base.is_some()
                        && is_built_base(&settings.image, &external.image)
                    {
                        continue;
                    }
                    if is_named_context(&settings.contexts, &external.image) {
                        continue;
                    }
                    let mut pinned = pin(external, &stage.path, platform)?;
                    if multi {
                        pinned.platform = Some(crate::lock::recorded("base.platform", platform)?);
                    }
                    bases.push(pinned);
                }
            }
        }
        bases.sort();
        bases.dedup();
        Ok(Plan {
            settings,
            project: project.to_path_buf(),
            context,
            base,
            release,
            bases,
            logged: false,
        })
    }

    pub fn dockerfile_entries(&self) -> Result<Vec<DockerfileEntry>> {
        self.base
            .iter()
            .chain(std::iter::once(&self.release))
            .map(|s| {
                let inputs = self.inputs_of(s);
                let ids = |key, all: &[String], given: Vec<String>, id: fn(&str) -> &str| {
                    // Recorded per Dockerfile whenever the builds were given any.
                    (!all.is_empty())
                        .then(|| crate::lock::recorded_all(key, given.iter().map(|v| id(v))))
                        .transpose()
                };
                Ok(DockerfileEntry {
                    role: s.role,
                    path: crate::lock::recorded("dockerfile.path", &s.path)?,
                    sha256: s.sha256.clone(),
                    secrets: ids(
                        "dockerfile.secrets",
                        &self.settings.inputs.secrets,
                        inputs.secrets,
                        secret_id,
                    )?,
                    ssh: ids(
                        "dockerfile.ssh",
                        &self.settings.inputs.ssh,
                        inputs.ssh,
                        ssh_id,
                    )?,
                })
            })
            .collect()
    }

    /// The build inputs of `stage`: the secrets and SSH agents its `RUN --mount`s read, of
    /// those given, and every other input as given.
    fn inputs_of(&self, stage: &Stage) -> BuildInputs {
        let mounts = &stage.parsed.mounts;
        let mut inputs = self.settings.inputs.clone();
        inputs.secrets.retain(|v| mounts.reads_secret(secret_id(v)));
        inputs.ssh.retain(|v| mounts.reads_ssh(ssh_id(v)));
        inputs
    }

    pub fn base_tag(&self) -> String {
        format!("{}:base", self.settings.image)
    }

    fn spec(
        &self,
        stage: &Stage,
        output: &Path,
        name: String,
        extra_pins: BTreeMap<String, String>,
    ) -> BuildSpec {
        let mut pins: BTreeMap<String, String> = self
            .bases
            .iter()
            .filter(|b| b.dockerfile == stage.path && !b.reference.contains('@'))
            .map(|b| {
                (
                    b.reference.to_string(),
                    format!("docker-image://{}@{}", b.reference, b.index_digest),
                )
            })
            .collect();
        pins.extend(extra_pins);
        // A named context of the user's wins over a pin BuildKit would match to the same name:
        // buildx keeps only one of two contexts of a name.
        pins.retain(|reference, _| !is_named_context(&self.settings.contexts, reference));
        BuildSpec {
            dockerfile: stage.file.clone(),
            context: self.context.clone(),
            platform: self.settings.platform.clone(),
            target: if stage.role == Role::Release {
                self.settings.target.clone()
            } else {
                String::new()
            },
            builder: self.settings.builder.clone(),
            source_date_epoch: match stage.role {
                Role::Base => self
                    .settings
                    .base_source_date_epoch
                    .unwrap_or(self.settings.source_date_epoch),
                Role::Release => self.settings.source_date_epoch,
            },
            args: self.settings.args.clone(),
            pins,
            output: output.to_path_buf(),
            name,
            use_cache: self.settings.use_cache,
            compression: self.settings.compression,
            rewrite_timestamp: self.settings.timestamps == Timestamps::RewriteTimestamp,
            // Every layer the build makes is compressed by this tool in the canonical form: one
            // compression, not BuildKit's and then this tool's again.
            export_uncompressed: self.settings.timestamps == Timestamps::Encoded
                && self.settings.image_config == ImageConfig::Canonical1,
            output_directory: false,
            inputs: self.inputs_of(stage),
            annotations: match stage.role {
                Role::Release => self.settings.annotations.clone(),
                Role::Base => Default::default(),
            },
        }
    }

    /// Builds `stage` into the OCI archive `archive`; with [`Timestamps::Clamped`], BuildKit
    /// writes it beside, and the copy with the file times clamped becomes `archive`. A layer of
    /// `base` (the base the release is built on, clamped already) is not read again.
    fn build_stage(
        &self,
        docker: &Docker,
        spec: &BuildSpec,
        quiet: bool,
        base: Option<&BasePin>,
        leave_out_pulled: bool,
        progress: &dyn Fn(&str),
    ) -> Result<Pulled> {
        let log = if quiet {
            BuildLog::Quiet
        } else if self.settings.full_log {
            BuildLog::Full
        } else {
            BuildLog::Lines(step_lines())
        };
        let context = ContextLink::new(&spec.context, &spec.output)?;
        let spec = &BuildSpec {
            context: context.path().to_path_buf(),
            ..spec.clone()
        };
        let build = |spec: &BuildSpec| match self.logged {
            true => docker.build_logged(spec, quiet),
            false => docker.build(spec, log.clone()),
        };
        if self.settings.timestamps == Timestamps::RewriteTimestamp {
            return build(spec).map(|()| Pulled::default());
        }
        let no_layers = BTreeSet::new();
        let known = base.map_or(&no_layers, |b| &b.layers);
        // Read before the build: a base whose config cannot be had stops the release before
        // anything is built.
        let histories = match self.settings.image_config {
            ImageConfig::AsBuilt => None,
            ImageConfig::Canonical1 => Some(self.base_histories(docker, spec, base)?),
        };
        // Every layer in the lock's compression, whichever variant of it BuildKit exported (an
        // engine that holds another variant of a layer exports that one).
        // A lock cut before the canonical config keeps the rule it was cut with.
        use crate::image::{encoder::Encoding, layer::Stored, retime::Reencode};
        let reencode = match (self.settings.timestamps, self.settings.image_config) {
            (Timestamps::Encoded, ImageConfig::Canonical1) => Reencode::Every(
                match self.settings.compression {
                    crate::lock::Compression::Gzip => Stored::Gzip,
                    crate::lock::Compression::Zstd => Stored::Zstd,
                },
                match self.settings.layer_encoder {
                    LayerEncoder::SingleStream => Encoding::SingleStream,
                    LayerEncoder::Parallel1 => Encoding::Parallel1,
                },
            ),
            (Timestamps::Encoded, ImageConfig::AsBuilt) => Reencode::EveryAsStored,
            _ => Reencode::Later,
        };
        // Re-encoded, a registry base's layers would no longer be the ones it shares with the
        // registry: they are kept as pulled (BuildKit exports the pulled blobs).
        let pulled = match reencode {
            Reencode::Later => BTreeSet::new(),
            _ => self.pulled_layers(docker, spec)?,
        };
        let mut keep = known.clone();
        keep.extend(pulled.iter().cloned());
        let left_out_pulled = leave_out_pulled && !pulled.is_empty();
        let built = spec.output.with_extension("unclamped.tar");
        let blobs = base.map_or(&BaseBlobs::Exported, |b| &b.blobs);
        // BuildKit is told the blobs it need not write are there already (an empty file under
        // each layer's digest), and exports only the others: the base's, for a release on it;
        // the registry image's it pulled into the engine's store, where `leave_out_pulled`.
        let (seed, absent, from) = match blobs {
            BaseBlobs::Exported if !left_out_pulled => (None, BTreeSet::new(), None),
            BaseBlobs::Exported => (Some(&pulled), pulled.clone(), None),
            BaseBlobs::InEngine => (Some(known), known.clone(), None),
            BaseBlobs::CopiedFrom { archive, in_engine } => {
                (Some(known), in_engine.clone(), Some(archive.as_path()))
            }
        };
        match seed {
            Some(seed) => {
                let directory = spec.output.with_extension("unclamped");
                let seeded = seed_layout(&directory, seed)?;
                let done = build(&BuildSpec {
                    output: directory.clone(),
                    output_directory: true,
                    ..spec.clone()
                })
                .and_then(|()| archive_layout(&directory, &seeded, from, &absent, &built));
                let _ = std::fs::remove_dir_all(&directory);
                let copied = done?;
                progress(&match (blobs, from) {
                    (BaseBlobs::Exported, _) => format!(
                        "exported without the registry image's {} layer(s): BuildKit pulled them into the engine's store",
                        seeded.len()
                    ),
                    (_, None) => format!(
                        "exported without the base's layers: the engine holds them ({} left out)",
                        seeded.len()
                    ),
                    (_, Some(_)) => format!(
                        "exported without the base's layers: {copied} copied from the base's archive"
                    ),
                });
            }
            None => build(&BuildSpec {
                output: built.clone(),
                ..spec.clone()
            })?,
        }
        let configs = match &histories {
            None => crate::image::retime::Configs::AsBuilt,
            Some(histories) => crate::image::retime::Configs::Canonical(histories),
        };
        let done = crate::image::retime::clamp_archive(
            &built,
            &spec.output,
            spec.source_date_epoch,
            crate::image::retime::Known {
                layers: &keep,
                // Which may be missing was settled when the layout was archived.
                left_out: seed.is_some(),
            },
            reencode,
            configs,
            progress,
        )
        .map_err(|e| match e {
            crate::image::archive::ScanError::Interrupted => Error::Interrupted,
            e => Error::Failed(format!("clamping the file times of {}: {e}", spec.name)),
        });
        // Nothing reads BuildKit's copy again; on a large image it is gigabytes.
        let _ = std::fs::remove_file(&built);
        let done = done?;
        progress(&format!(
            "file times clamped to SOURCE_DATE_EPOCH: {} layer(s) rewritten, {} left as built{}",
            done.rewritten.len(),
            done.unchanged,
            if done.known > 0 {
                format!(
                    ", {} of the base kept as they are (pulled, or built and clamped already)",
                    done.known
                )
            } else {
                String::new()
            }
        ));
        Ok(Pulled {
            layers: pulled,
            left_out: left_out_pulled,
        })
    }

    /// The layers of the registry image the built image's target stage stands on (its `FROM`,
    /// through the stages it names), on each platform of the build, from its manifest in the
    /// registry: empty for `scratch`, the base this release builds (its layers are known), or
    /// an image given as a named context.
    fn pulled_layers(&self, docker: &Docker, spec: &BuildSpec) -> Result<BTreeSet<String>> {
        Ok(self
            .registry_images(docker, spec)?
            .into_iter()
            .flat_map(|image| image.layers)
            .collect())
    }

    /// The registry images [`Plan::pulled_layers`] reads, one per platform of the build.
    fn registry_images(&self, docker: &Docker, spec: &BuildSpec) -> Result<Vec<RegistryImage>> {
        let mut images = Vec::new();
        let Some((stage, root)) = self.root_image(spec) else {
            return Ok(images);
        };
        if is_built_base(&self.settings.image, &root) {
            return Ok(images);
        }
        for base in self
            .bases
            .iter()
            .filter(|b| b.dockerfile == stage.path && b.reference == root)
        {
            let repository = crate::image::reference::repository(&base.reference);
            let pinned = format!("{repository}@{}", base.platform_digest);
            // A manifest read once is kept by its digest, checked when read back: the next
            // release on the same registry base does not ask its registry again.
            let documents = crate::ops::kept::Documents::open();
            let kept = documents
                .as_ref()
                .and_then(|d| d.get(&base.platform_digest));
            let raw = match kept {
                Some(raw) => raw,
                None => match docker.raw(&pinned)? {
                    Ok(raw) => {
                        if let Some(documents) = &documents {
                            documents.put(&raw);
                        }
                        raw
                    }
                    Err(why) => {
                        return Err(Error::Failed(format!(
                            "reading the layers of {pinned}, to keep them as pulled: {why}"
                        )))
                    }
                },
            };
            let manifest: serde_json::Value = serde_json::from_slice(&raw)
                .map_err(|e| Error::Failed(format!("{pinned} is not an image manifest: {e}")))?;
            let layers = manifest["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|layer| layer["digest"].as_str().map(str::to_string))
                .collect();
            images.push(RegistryImage {
                manifest_digest: base.platform_digest.to_string(),
                pinned,
                layers,
            });
        }
        Ok(images)
    }

    /// Whether a build keeps the layers it pulled from a registry as pulled (and can leave
    /// them out of its archive, see [`BaseBlobs`]): where this tool encodes every layer it
    /// makes; BuildKit's own timestamp rewriting encodes them all again.
    pub fn keeps_pulled_blobs(&self) -> bool {
        self.settings.timestamps == Timestamps::Encoded
    }

    /// The one registry image the base stands on, when there is one (a single-platform base
    /// whose stage starts `FROM` a registry image).
    pub fn base_registry_image(&self, docker: &Docker) -> Result<Option<RegistryImage>> {
        let Some(base) = &self.base else {
            return Ok(None);
        };
        let spec = self.spec(base, Path::new(""), String::new(), BTreeMap::new());
        let mut images = self.registry_images(docker, &spec)?;
        Ok(match images.len() {
            1 => images.pop(),
            _ => None,
        })
    }

    /// The history of the image the built stage stands on, by platform, as that image's own
    /// config lists it: the base this release built or was pinned to (`base`), or a registry
    /// base or an image given as a named context (`docker-image://REF@DIGEST`), whose config is
    /// read from its registry by its locked digest. Empty for `scratch`.
    fn base_histories(
        &self,
        docker: &Docker,
        spec: &BuildSpec,
        base: Option<&BasePin>,
    ) -> Result<BTreeMap<String, Vec<serde_json::Value>>> {
        let Some((stage, root)) = self.root_image(spec) else {
            return Ok(BTreeMap::new());
        };
        if is_built_base(&self.settings.image, &root) {
            return match base {
                Some(BasePin {
                    histories: Some(histories),
                    ..
                }) => Ok(histories.clone()),
                Some(pin) => pin_histories(docker, pin),
                None => Ok(BTreeMap::new()),
            };
        }
        let image_context = self
            .settings
            .contexts
            .iter()
            .find(|(name, _)| normalise_ref(name) == normalise_ref(&root))
            .and_then(|(_, value)| value.strip_prefix(crate::lock::IMAGE_CONTEXT));
        if let Some(pinned) = image_context {
            return config_histories(docker, pinned);
        }
        let mut histories = BTreeMap::new();
        for base in self
            .bases
            .iter()
            .filter(|b| b.dockerfile == stage.path && b.reference == root)
        {
            let repository = crate::image::reference::repository(&base.reference);
            let pinned = format!("{repository}@{}", base.platform_digest);
            histories.extend(config_histories(docker, &pinned)?);
        }
        Ok(histories)
    }

    /// Whether the release's target stage stands on the base this release builds or keeps
    /// (through the stages it names): then its first layers must be the base's, blob for blob.
    pub fn release_stands_on_base(&self) -> bool {
        let spec = BuildSpec {
            dockerfile: self.release.file.clone(),
            target: self.settings.target.clone(),
            ..self.spec(&self.release, Path::new(""), String::new(), BTreeMap::new())
        };
        self.base.is_some()
            && self
                .root_image(&spec)
                .is_some_and(|(_, root)| is_built_base(&self.settings.image, &root))
    }

    /// The stage a build of `spec` makes, and the image its target stage stands on at the root
    /// of its `FROM`s (through the stages it names); `None` for `scratch` or a stage loop.
    fn root_image(&self, spec: &BuildSpec) -> Option<(&Stage, String)> {
        let stage = if spec.dockerfile == self.release.file {
            &self.release
        } else {
            self.base.as_ref()?
        };
        let info = &stage.parsed.stage_info;
        let target = match (stage.role, spec.target.as_str()) {
            (Role::Release, t) if !t.is_empty() => info
                .iter()
                .position(|s| s.name.as_deref() == Some(&t.to_ascii_lowercase())),
            _ => info.len().checked_sub(1),
        };
        let mut at = target;
        let mut seen = 0;
        loop {
            seen += 1;
            match info.get(at?) {
                Some(s) if seen <= info.len() => match s.base_stage {
                    Some(b) => at = Some(b),
                    None => return Some((stage, s.base.clone())),
                },
                _ => return None,
            }
        }
    }

    /// Says, before a release is built on a base, when this builder will spend time rewriting
    /// the base's layers again (the bytes do not change: only the time it takes).
    pub fn note_base_rewrite(&self, builder: &BuilderFacts, progress: &dyn Fn(&str)) {
        if self.base.is_none() || self.settings.timestamps != Timestamps::RewriteTimestamp {
            return;
        }
        let cost = "rewrites the base's layers again when it exports the release (the same bytes, \
                    after about as long again as the base's own export; BuildKit 0.24 and later do not)";
        match builder.rewrites_pinned_base_layers() {
            Some(true) => progress(&format!("note: BuildKit {} {cost}", builder.buildkit)),
            None => {
                progress(&format!(
                "note: this builder does not say its BuildKit version ({}); one before 0.24 {cost}",
                if builder.buildkit.is_empty() { "none" } else { &builder.buildkit }
            ))
            }
            Some(false) => {}
        }
    }

    /// The fingerprint of the base's inputs in this plan (see [`crate::project::fingerprint`]);
    /// `None` without a base. `secrets` and `ssh` are the ids the build is given.
    pub fn base_fingerprint(
        &self,
        secrets: &[String],
        ssh: &[String],
    ) -> Result<Option<crate::project::fingerprint::Fingerprint>> {
        use crate::project::fingerprint::{fingerprint, BaseInputs, FingerprintError};
        let Some(base) = &self.base else {
            return Ok(None);
        };
        let context_dirs: BTreeMap<String, PathBuf> = self
            .settings
            .inputs
            .contexts
            .iter()
            .filter(|(_, v)| !v.starts_with(crate::lock::IMAGE_CONTEXT))
            .map(|(name, dir)| (name.clone(), PathBuf::from(dir)))
            .collect();
        let images: Vec<Base> = self
            .bases
            .iter()
            .filter(|b| b.dockerfile == base.path)
            .cloned()
            .collect();
        let inputs = &self.settings.inputs;
        fingerprint(&BaseInputs {
            dockerfile: &base.file,
            context: &self.context,
            args: &self.settings.args,
            secrets,
            ssh,
            network: &inputs.network,
            add_hosts: &inputs.add_hosts,
            shm_size: &inputs.shm_size,
            ulimits: &inputs.ulimits,
            contexts: &self.settings.contexts,
            context_dirs: &context_dirs,
            images: &images,
            platform: &self.settings.platform,
            compression: self.settings.compression,
            timestamps: self.settings.timestamps,
            layer_encoder: self.settings.layer_encoder,
        })
        .map(Some)
        .map_err(|e| match e {
            FingerprintError::Missing { .. } => Error::Failed(format!("{}: {e}", base.path)),
            other => Error::Failed(format!(
                "reading the base's inputs for its fingerprint: {other}"
            )),
        })
    }

    /// Builds the base (when there is one and none is `kept`) and the release into OCI
    /// archives under `work`. The release's `FROM <image>:base` is pinned by digest to the
    /// base just built, or to the kept one.
    pub fn build(
        &self,
        docker: &Docker,
        work: &Path,
        release_name: &str,
        quiet: bool,
        progress: &dyn Fn(&str),
        kept: Option<BasePin>,
    ) -> Result<Vec<Built>> {
        let mut built = Vec::new();
        let mut base_pin = kept;
        if self.base.is_some() && base_pin.is_none() {
            let base = self.build_base(docker, work, quiet, false, progress)?;
            base_pin = Some(BasePin::archive(
                &base.archive,
                base.digest(),
                &work.join("base-layout"),
                base.layers(),
            )?);
            built.push(base);
        }
        built.push(self.build_release(
            docker,
            work,
            release_name,
            quiet,
            progress,
            base_pin.as_ref(),
        )?);
        Ok(built)
    }

    /// Builds the base Dockerfile into `work/base.tar`; with `leave_out_pulled`, without the
    /// blobs of the registry image it stands on (see [`Pulled`]).
    pub fn build_base(
        &self,
        docker: &Docker,
        work: &Path,
        quiet: bool,
        leave_out_pulled: bool,
        progress: &dyn Fn(&str),
    ) -> Result<Built> {
        let base = self
            .base
            .as_ref()
            .ok_or_else(|| Error::Failed("internal error: this release has no base".into()))?;
        progress(&format!("building {} from {}", self.base_tag(), base.path));
        let archive = work.join("base.tar");
        let pulled = self.build_stage(
            docker,
            &self.spec(base, &archive, self.base_tag(), BTreeMap::new()),
            quiet,
            None,
            leave_out_pulled,
            progress,
        )?;
        Ok(Built {
            pulled,
            ..read_built(Role::Base, archive, &self.settings.platform)?
        })
    }

    /// Builds the release Dockerfile into `work/release.tar`, its `FROM <image>:base` pinned to
    /// `base` (the base just built, or the locked one).
    pub fn build_release(
        &self,
        docker: &Docker,
        work: &Path,
        release_name: &str,
        quiet: bool,
        progress: &dyn Fn(&str),
        base: Option<&BasePin>,
    ) -> Result<Built> {
        let mut pins = BTreeMap::new();
        if let Some(base) = base {
            for external in &self.release.parsed.externals {
                if is_built_base(&self.settings.image, &external.image) {
                    pins.insert(external.image.clone(), base.target.clone());
                }
            }
        }
        progress(&format!(
            "building {release_name} from {}",
            self.release.path
        ));
        let archive = work.join("release.tar");
        self.build_stage(
            docker,
            &self.spec(&self.release, &archive, release_name.to_string(), pins),
            quiet,
            base,
            false,
            progress,
        )?;
        read_built(Role::Release, archive, &self.settings.platform)
    }
}

/// A link of a name no other build has, beside the build's output, to the build context: what
/// buildx is given as the context. BuildKit keeps a copy of every context it was sent, shared
/// between builds under a key buildx makes of the context directory's name (`src`, or the
/// project's folder), and sends again only the files whose size, time or mode differ from that
/// copy. A materialised commit gives every file the same time, so a file of another commit or
/// project with the same name and size but other bytes would be built from the old copy; a
/// name of its own gives each build a fresh copy. The link goes when the build ends.
struct ContextLink(tempfile::NamedTempFile<()>);

impl ContextLink {
    /// Links to `context` from the directory of `output`.
    fn new(context: &Path, output: &Path) -> Result<ContextLink> {
        // A relative link would be read from where it is, not from here.
        let context = std::env::current_dir()
            .map_err(|e| Error::io(context, e))?
            .join(context);
        let beside = output
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let link = tempfile::Builder::new()
            .prefix("context-")
            .make_in(beside, |path| std::os::unix::fs::symlink(&context, path))
            .map_err(|e| Error::io(beside, e))?;
        Ok(ContextLink(link))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

/// The longest instruction text a step line shows.
const STEP_TEXT_MAX: usize = 100;

/// A sink for BuildKit's plain log that shows each Dockerfile step once, when it starts, with
/// the time since the build started: `[base 2/4] RUN pip install … (0:12)`. BuildKit's own
/// steps (`[internal] load …`) and the lines of a step's output are not shown.
fn step_lines() -> LineSink {
    let started = std::time::Instant::now();
    let seen = std::sync::Mutex::new(BTreeSet::new());
    LineSink(std::sync::Arc::new(move |line: &str| {
        let Some((id, step, text)) = step_of(line) else {
            return;
        };
        if !seen
            .lock()
            .map(|mut s| s.insert(id.to_string()))
            .unwrap_or(false)
        {
            return;
        }
        let mut shown: String = text.chars().take(STEP_TEXT_MAX).collect();
        if shown.len() < text.len() {
            shown.push('…');
        }
        let at = crate::ui::clock(started.elapsed());
        Ui { quiet: false }.step(&format!("[{step}] {shown} ({at})"));
    }))
}

/// `#7 [base 2/4] RUN pip install x`: the vertex `#7`, the step `base 2/4` and its text; `None`
/// for any other line of the log.
fn step_of(line: &str) -> Option<(&str, &str, &str)> {
    let (id, rest) = line.split_once(' ')?;
    if !id.starts_with('#') || !id[1..].chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (step, text) = rest.strip_prefix('[')?.split_once("] ")?;
    let (done, total) = step.rsplit(' ').next()?.split_once('/')?;
    let numbers = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    (numbers(done) && numbers(total)).then_some((id, step, text))
}

/// The id of a `--secret` value as [`crate::project::Secret::buildx_value`] writes it.
fn secret_id(value: &str) -> &str {
    let rest = value.strip_prefix("id=").unwrap_or(value);
    rest.split(',').next().unwrap_or(rest)
}

/// The id of an `--ssh` value as [`crate::project::Ssh::buildx_value`] writes it.
fn ssh_id(value: &str) -> &str {
    value.split('=').next().unwrap_or(value)
}

/// A registry image a build stands on, pinned by its platform's manifest digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryImage {
    /// `REPO@DIGEST`.
    pub pinned: String,
    pub manifest_digest: String,
    /// Its layers, bottom first, as its manifest lists them.
    pub layers: Vec<String>,
}

/// What the release's `FROM <image>:base` is pinned to: a named context buildx takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasePin {
    /// `oci-layout://DIR@DIGEST` or `docker-image://REPO@DIGEST`.
    pub target: String,
    /// The base's layers (of every platform): built or locked with their times clamped to the
    /// release's epoch, so the release's clamp need not read them.
    pub layers: BTreeSet<String>,
    /// The base's history by platform, from its configs (see [`Configs::Canonical`]); `None`
    /// for a base in a registry, whose configs are read from there when needed.
    ///
    /// [`Configs::Canonical`]: crate::image::retime::Configs::Canonical
    pub histories: Option<BTreeMap<String, Vec<serde_json::Value>>>,
    /// Where the release's archive gets the base's blobs.
    pub blobs: BaseBlobs,
}

/// Where a release's archive gets the blobs of the base it is built on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseBlobs {
    /// BuildKit exports them with the release's own.
    Exported,
    /// From the OCI archive `archive` (a base just built), byte for byte: BuildKit does not
    /// export them. Those in `in_engine` (a registry image's, left out of the base's archive
    /// too) are not there: the engine's store holds them, and the release's archive lacks them.
    CopiedFrom {
        archive: PathBuf,
        in_engine: BTreeSet<String>,
    },
    /// Nowhere: the engine's store holds them (a kept base named in place). The archive lacks
    /// them; the release is loaded without them and its inventory takes the base's files from
    /// their merged scan ([`crate::inventory::layers::Merged`]). Not for `--archive`.
    InEngine,
}

impl BasePin {
    /// The image `digest` of an OCI archive (an image index of several platforms, or one
    /// manifest), unpacked into `layout` for BuildKit to read; `layers` are its layers, as its
    /// build or its lock lists them.
    pub fn archive(
        archive: &Path,
        digest: &str,
        layout: &Path,
        layers: BTreeSet<String>,
    ) -> Result<BasePin> {
        oci::unpack(archive, layout)?;
        Ok(BasePin {
            target: format!("oci-layout://{}@{digest}", layout.display()),
            layers,
            histories: Some(archive_histories(archive)?),
            blobs: BaseBlobs::Exported,
        })
    }

    /// The image `digest` in the OCI layout `layout`, which holds only its manifest and
    /// `config` (see [`crate::ops::kept::engine_pin`]): BuildKit takes its layers from the
    /// engine's store.
    pub fn documents_only(
        layout: &str,
        digest: &str,
        layers: BTreeSet<String>,
        config: &serde_json::Value,
    ) -> BasePin {
        BasePin {
            target: format!("oci-layout://{layout}@{digest}"),
            layers,
            histories: Some(BTreeMap::from([(
                crate::image::canonical::config_platform(config),
                history_of(config),
            )])),
            blobs: BaseBlobs::Exported,
        }
    }

    /// The image `digest` in the registry of `name`, whose `layers` the lock lists: BuildKit
    /// pulls it by digest, and so checks every byte against it.
    pub fn registry(name: &str, digest: &str, layers: BTreeSet<String>) -> BasePin {
        BasePin {
            target: format!(
                "docker-image://{}",
                crate::image::reference::pinned(name, digest)
            ),
            layers,
            histories: None,
            blobs: BaseBlobs::Exported,
        }
    }
}

/// Makes the directory `directory` an OCI layout that holds, as far as BuildKit's exporter can
/// tell, the blobs `layers`: an empty file under each digest. Returns the files made.
fn seed_layout(directory: &Path, layers: &BTreeSet<String>) -> Result<BTreeSet<PathBuf>> {
    let blobs = directory.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
    let mut seeded = BTreeSet::new();
    for layer in layers {
        let Some(hex) = layer
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        else {
            continue;
        };
        let path = blobs.join(hex);
        std::fs::write(&path, b"").map_err(|e| Error::io(&path, e))?;
        seeded.insert(path);
    }
    Ok(seeded)
}

/// Writes the OCI layout `directory` that BuildKit exported into the archive `out`, each blob
/// seeded by [`seed_layout`] and left as it was (empty) taken from the OCI archive `blobs`;
/// returns how many were.
fn archive_layout(
    directory: &Path,
    seeded: &BTreeSet<PathBuf>,
    from: Option<&Path>,
    absent: &BTreeSet<String>,
    out: &Path,
) -> Result<usize> {
    use std::io::{Read, Seek};
    // Where the seeded blobs are copied from, when they are.
    let source = match from {
        Some(archive) => {
            let (members, _, _) = crate::image::archive::archive_documents(archive)
                .map_err(|e| scan_error(archive, e))?;
            let file = std::fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
            Some((archive, members, file))
        }
        None => None,
    };
    let file = std::fs::File::create(out).map_err(|e| Error::io(out, e))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let mut append = |name: &str, size: u64, data: &mut dyn Read| -> Result<()> {
        crate::image::archive::append_member(&mut tar, name, data, size)
            .map_err(|e| Error::io(out, e))
    };
    let blob_dir = directory.join("blobs").join("sha256");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&blob_dir)
        .map_err(|e| Error::io(&blob_dir, e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(&blob_dir, e))?;
    names.sort();
    let mut copied = 0;
    for top in ["oci-layout", "index.json"] {
        let path = directory.join(top);
        let mut file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let size = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        append(top, size, &mut file)?;
    }
    for path in names {
        let hex = path.file_name().unwrap_or_default().to_string_lossy();
        let member = format!("blobs/sha256/{hex}");
        let mut file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let size = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        if size > 0 || !seeded.contains(&path) {
            append(&member, size, &mut file)?;
            continue;
        }
        // Left out by the export: the base's own blob, byte for byte, or nothing where the
        // engine's store holds it.
        let copy = source
            .as_ref()
            .and_then(|(archive, members, file)| Some((archive, members.get(&member)?, file)));
        let Some((archive, &(offset, size), base_archive)) = copy else {
            if absent.contains(&format!("sha256:{hex}")) {
                continue;
            }
            return Err(Error::Failed(format!(
                "{}: the base's layer sha256:{hex} is not in it; nothing was written",
                from.unwrap_or(out).display()
            )));
        };
        // `&File` reads and seeks: the tuple stays borrowed, not moved.
        let mut base_archive: &std::fs::File = base_archive;
        base_archive
            .seek(std::io::SeekFrom::Start(offset))
            .map_err(|e| Error::io(archive, e))?;
        append(&member, size, &mut base_archive.take(size))?;
        copied += 1;
    }
    tar.into_inner()
        .and_then(|mut w| std::io::Write::flush(&mut w))
        .map_err(|e| Error::io(out, e))?;
    Ok(copied)
}

/// The history of every image config in the OCI archive `archive`, by platform.
fn archive_histories(archive: &Path) -> Result<BTreeMap<String, Vec<serde_json::Value>>> {
    let (_, json, _) =
        crate::image::archive::archive_documents(archive).map_err(|e| scan_error(archive, e))?;
    let mut histories = BTreeMap::new();
    for bytes in json.values() {
        let Ok(document) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            continue;
        };
        if document.get("rootfs").is_some() {
            histories.insert(
                crate::image::canonical::config_platform(&document),
                history_of(&document),
            );
        }
    }
    Ok(histories)
}

/// The history of a base pinned in its registry (`docker-image://REPO@DIGEST`).
fn pin_histories(
    docker: &Docker,
    pin: &BasePin,
) -> Result<BTreeMap<String, Vec<serde_json::Value>>> {
    let pinned = pin
        .target
        .strip_prefix("docker-image://")
        .unwrap_or(&pin.target);
    config_histories(docker, pinned)
}

/// The history of the image `pinned` (`REPO@DIGEST`, a manifest or an index), by platform, from
/// its config in its registry.
fn config_histories(
    docker: &Docker,
    pinned: &str,
) -> Result<BTreeMap<String, Vec<serde_json::Value>>> {
    let configs = docker.image_configs(pinned).map_err(|e| match e {
        Error::Failed(why) => Error::Failed(format!(
            "reading the history of {pinned} from its image config, to write the image's own config in its canonical form: {why}"
        )),
        other => other,
    })?;
    Ok(configs
        .iter()
        .map(|config| {
            (
                crate::image::canonical::config_platform(config),
                history_of(config),
            )
        })
        .collect())
}

fn history_of(config: &serde_json::Value) -> Vec<serde_json::Value> {
    config
        .get("history")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The proxy variables set (not empty) in this environment, by name: BuildKit's predefined
/// arguments the builds get without their values being recorded or shown.
pub fn proxies_from_env() -> Vec<String> {
    crate::lock::PROXY_ARGS
        .iter()
        .filter(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
        .map(|name| name.to_string())
        .collect()
}

/// Whether `reference` names the base this release builds (`<image>:base`).
pub fn is_built_base(image: &str, reference: &str) -> bool {
    normalise_ref(reference) == normalise_ref(&format!("{image}:base"))
}

/// Whether BuildKit takes `reference` from one of the named `contexts`: it looks a `FROM` or
/// `COPY --from` image up by its familiar name without `:latest` (`deps`,
/// `docker.io/library/deps:latest`), which is a context's name.
fn is_named_context(contexts: &BTreeMap<String, String>, reference: &str) -> bool {
    let reference = normalise_ref(reference);
    contexts.keys().any(|name| normalise_ref(name) == reference)
}

/// The named contexts as buildx takes them: an image as locked, a directory by its path, every
/// link resolved, which must be a directory inside `root`: a directory from elsewhere cannot be
/// rebuilt from the commit.
fn named_contexts(
    contexts: &BTreeMap<String, String>,
    root: &Path,
    project: &Path,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, value) in contexts {
        if value.starts_with(crate::lock::IMAGE_CONTEXT) {
            out.insert(name.clone(), value.clone());
            continue;
        }
        let outside = |e: Error| match e {
            Error::Failed(why) => {
                Error::Failed(format!("the named context {name} cannot be rebuilt: {why}"))
            }
            other => other,
        };
        let dir = confine(root, project, Path::new(value), "its directory").map_err(outside)?;
        if !dir.is_dir() {
            return Err(Error::Failed(format!(
                "the named context {name}: {} is not a directory in the committed source; commit it (git keeps no empty directory: add a file to it), or name another",
                clip(value)
            )));
        }
        confine(root, &dir, Path::new(".dockerignore"), "its .dockerignore").map_err(outside)?;
        out.insert(name.clone(), dir.to_string_lossy().into_owned());
    }
    Ok(out)
}

/// The named contexts of a release as the lock records them: each `docker-image://REF`
/// resolved in its registry for every platform of the build and pinned by its digest (an image
/// only this engine has cannot be pulled by a reviewer); directories as given.
pub fn pin_contexts(
    docker: &Docker,
    contexts: &BTreeMap<String, crate::project::ContextSource>,
    platforms: &str,
    progress: &dyn Fn(&str),
) -> Result<BTreeMap<String, String>> {
    use crate::project::ContextSource;
    let mut out = BTreeMap::new();
    for (name, source) in contexts {
        let reference = match source {
            ContextSource::Dir(dir) => {
                out.insert(name.clone(), dir.clone());
                continue;
            }
            ContextSource::Image(reference) => reference,
        };
        progress(&format!("resolving the named context {name} ({reference})"));
        let mut digest = None;
        for platform in split_platforms(platforms) {
            let resolved = match docker.resolve(reference, platform) {
                Ok(Ok(resolved)) => resolved,
                Ok(Err(why)) | Err(Error::Failed(why)) => {
                    return Err(Error::Failed(format!(
                        "--build-context {name}=docker-image://{reference}: cannot resolve it in its registry ({why}); check the name, push the image to a registry a reviewer can pull from, and check that it is reachable (`docker login` if it is private)"
                    )))
                }
                Err(other) => return Err(other),
            };
            match &digest {
                Some(first) if *first != resolved.index_digest => {
                    return Err(Error::Failed(format!(
                        "--build-context {name}=docker-image://{reference}: the tag moved while it was resolved ({first}, then {}); release again once it stays put",
                        resolved.index_digest
                    )))
                }
                _ => digest = Some(resolved.index_digest),
            }
        }
        let digest = digest.unwrap_or_default();
        let pinned = match reference.split_once('@') {
            Some((_, given)) if given != digest => {
                return Err(Error::Failed(format!(
                    "--build-context {name}=docker-image://{reference}: the registry serves it as {digest}, not {given}"
                )))
            }
            Some(_) => reference.clone(),
            None => format!("{reference}@{digest}"),
        };
        out.insert(
            name.clone(),
            format!("{}{pinned}", crate::lock::IMAGE_CONTEXT),
        );
    }
    Ok(out)
}

fn read_stage(
    role: Role,
    root: &Path,
    project: &Path,
    path: &str,
    settings: &Settings,
    platform: &str,
) -> Result<Stage> {
    let what = if role == Role::Base {
        "the base Dockerfile"
    } else {
        "the Dockerfile"
    };
    let full = confine(root, project, Path::new(path), what)?;
    // BuildKit also reads `<Dockerfile>.dockerignore` beside it.
    let mut ignore = full.clone().into_os_string();
    ignore.push(".dockerignore");
    confine(
        root,
        root,
        Path::new(&ignore),
        &format!("{what}'s .dockerignore"),
    )?;
    let bytes = crate::limits::read(&full, crate::limits::DOCKERFILE).map_err(|e| match e {
        crate::limits::ReadError::NotFound { .. } => Error::Failed(format!(
            "{}: no such Dockerfile in the committed source; commit it, or name another with --file/--base-file",
            clip(path)
        )),
        other => other.into(),
    })?;
    let parsed = parse_bytes(role, path, &bytes, settings, platform)?;
    let sha256 = crate::lock::FileSha256::of(&bytes);
    Ok(Stage {
        role,
        path: path.to_string(),
        file: full,
        sha256,
        parsed,
    })
}

/// The stage's Dockerfile parsed for another platform of the build.
fn parse_stage(stage: &Stage, settings: &Settings, platform: &str) -> Result<Dockerfile> {
    let bytes = crate::limits::read(&stage.file, crate::limits::DOCKERFILE)?;
    parse_bytes(stage.role, &stage.path, &bytes, settings, platform)
}

fn parse_bytes(
    role: Role,
    path: &str,
    bytes: &[u8],
    settings: &Settings,
    platform: &str,
) -> Result<Dockerfile> {
    // Only the stages the build's target reaches pull images, so only theirs are pinned.
    let target = Some(settings.target.as_str()).filter(|t| role == Role::Release && !t.is_empty());
    dockerfile::parse_target(bytes, &settings.args, platform, target)
        .map_err(|e| Error::Failed(format!("{}:{}: {}", clip(path), e.line, e.message)))
}

/// Checks that each platform's release image starts with the locked base's layers of that
/// platform, blob for blob (`base`: platform, layers; an empty platform for one). BuildKit
/// exports a layer from whichever variant of it the engine holds: a release whose base layer
/// came out as another blob than the locked one is not built on the locked base, and is
/// refused rather than locked.
pub fn check_on_base(base: &[(String, Vec<String>)], release: &Built) -> Result<()> {
    for one in &release.images {
        let Some((_, layers)) = base.iter().find(|(platform, _)| {
            platform.is_empty() || one.platform.is_empty() || *platform == one.platform
        }) else {
            continue;
        };
        let found = &one.image.layers;
        if let Some((i, (want, got))) = layers
            .iter()
            .zip(found.iter().chain(std::iter::repeat(&String::new())))
            .enumerate()
            .find(|(_, (want, got))| want != got)
        {
            return Err(Error::Failed(format!(
                "the release's layer {} is {}, not the base's locked blob {want}: the builder exported another variant of the base's layer (or another base), so the release is not built on the locked base; nothing was written. Clear the builder's cache (`docker buildx prune`) and release again",
                i + 1,
                if got.is_empty() { "missing" } else { got.as_str() },
            )));
        }
    }
    Ok(())
}

/// What a build of `platforms` (one, or several joined by `,`) wrote: one manifest, or an
/// image index listing exactly those platforms, in that order.
pub fn read_built(role: Role, archive: PathBuf, platforms: &str) -> Result<Built> {
    let wanted = split_platforms(platforms);
    let index =
        crate::image::archive::image_index(&archive, None).map_err(|e| scan_error(&archive, e))?;
    let Some(index) = index else {
        if wanted.len() > 1 {
            return Err(Error::Failed(format!(
                "{}: the build of {platforms} wrote one image, not an image index of those platforms",
                archive.display()
            )));
        }
        let image = read_image(&archive, &Select::Only)?;
        return Ok(Built {
            role,
            archive,
            pulled: Pulled::default(),
            index: None,
            images: vec![PlatformImage {
                platform: String::new(),
                image,
            }],
        });
    };
    let listed: Vec<&str> = index.platforms.iter().map(|(p, _)| p.as_str()).collect();
    if listed != wanted {
        return Err(Error::Failed(format!(
            "{}: the build of {platforms} wrote an image index of {}; expected exactly the platforms asked for",
            archive.display(),
            listed.join(",")
        )));
    }
    let mut images = Vec::new();
    for (platform, manifest) in &index.platforms {
        let image = read_image(&archive, &Select::Manifest(manifest.clone()))?;
        images.push(PlatformImage {
            platform: if wanted.len() > 1 {
                platform.clone()
            } else {
                String::new()
            },
            image,
        });
    }
    Ok(Built {
        role,
        archive,
        index: (wanted.len() > 1).then_some(index.digest),
        images,
        pulled: Pulled::default(),
    })
}

/// The one archive reader, with its errors in this module's terms.
fn read_image(archive: &Path, select: &Select) -> Result<OciImage> {
    crate::image::archive::read_image(archive, select).map_err(|e| scan_error(archive, e))
}

/// The base `dev` builds: the working tree's base Dockerfile with the release's inputs, built
/// with the build cache (an unchanged base takes seconds) into the engine as `tag`.
pub struct DevBase {
    pub spec: BuildSpec,
    /// The base Dockerfile as the lock names it (relative to the project), and the sha256 of
    /// its bytes (hex), to tell it from the locked one.
    pub path: String,
    pub sha256: String,
}

/// What every build of a project is given from `repro.toml` and the flags: secrets and SSH
/// agents, network, hosts, shm, ulimits and proxies by name, with the named `contexts` as
/// buildx takes them.
pub fn build_inputs(
    inputs: &crate::project::Inputs,
    contexts: BTreeMap<String, String>,
) -> BuildInputs {
    BuildInputs {
        secrets: inputs.secrets.iter().map(|s| s.buildx_value()).collect(),
        ssh: inputs.ssh.iter().map(|s| s.buildx_value()).collect(),
        network: inputs.network.buildx_value().to_string(),
        add_hosts: inputs.add_hosts.clone(),
        shm_size: inputs.shm_size.clone(),
        ulimits: inputs.ulimits.clone(),
        contexts,
        proxies: proxies_from_env(),
    }
}

/// The input fingerprint the working tree's base would have, to tell `dev` whether it is the
/// locked base: the working tree's base Dockerfile, the files its `COPY`/`ADD` read, the build
/// arguments, secret and SSH ids and build settings of `repro.toml`, with the base images, named
/// contexts, platforms, compression and timestamps as `lock` pinned them (dev resolves no
/// registry digest). `None` when the lock records no fingerprint (cut before fingerprints).
pub fn dev_fingerprint(
    inputs: &crate::project::Inputs,
    root: &Path,
    project: &Path,
    base_file: &str,
    lock: &crate::lock::Lock,
) -> Result<Option<crate::project::fingerprint::Fingerprint>> {
    use crate::project::fingerprint::{fingerprint, BaseInputs, FingerprintError};
    if lock.build.base_fingerprint.is_none() {
        return Ok(None);
    }
    let context = confine(
        root,
        project,
        Path::new(&inputs.context),
        "the build context",
    )?;
    let file = confine(root, project, Path::new(base_file), "the base Dockerfile")?;
    let contexts: BTreeMap<String, String> = lock
        .build
        .contexts
        .iter()
        .map(|(name, c)| (name.to_string(), c.to_string()))
        .collect();
    let mut context_dirs = BTreeMap::new();
    for (name, c) in &lock.build.contexts {
        if let crate::lock::LockedContext::Dir(dir) = c {
            let path = confine(root, project, Path::new(dir), "a named context")?;
            context_dirs.insert(name.to_string(), path);
        }
    }
    let images: Vec<Base> = lock
        .bases
        .iter()
        .filter(|b| b.dockerfile == base_file)
        .cloned()
        .collect();
    let secrets: Vec<String> = inputs.secrets.iter().map(|s| s.id.clone()).collect();
    let ssh: Vec<String> = inputs.ssh.iter().map(|s| s.id.clone()).collect();
    fingerprint(&BaseInputs {
        dockerfile: &file,
        context: &context,
        args: &inputs.args,
        secrets: &secrets,
        ssh: &ssh,
        network: inputs.network.buildx_value(),
        add_hosts: &inputs.add_hosts,
        shm_size: &inputs.shm_size,
        ulimits: &inputs.ulimits,
        contexts: &contexts,
        context_dirs: &context_dirs,
        images: &images,
        platform: &lock.build.platform,
        compression: lock.build.compression,
        timestamps: lock.build.timestamps,
        layer_encoder: lock.build.layer_encoder,
    })
    .map(Some)
    .map_err(|e| match e {
        FingerprintError::Missing { .. } => Error::Failed(format!("{}: {e}", clip(base_file))),
        other => Error::Failed(other.to_string()),
    })
}

/// Plans [`DevBase`]: the base Dockerfile and the context resolved inside `root` (the working
/// tree) as a release confines them; the named contexts as given (an image context is not
/// resolved: dev reads what a plain build would); `source_date_epoch` stays put between runs
/// so that it does not defeat the cache.
#[allow(clippy::too_many_arguments)]
pub fn dev_base(
    inputs: &crate::project::Inputs,
    root: &Path,
    project: &Path,
    base_file: &str,
    platform: &str,
    source_date_epoch: i64,
    tag: &str,
) -> Result<DevBase> {
    use crate::project::ContextSource;
    let context = confine(
        root,
        project,
        Path::new(&inputs.context),
        "the build context",
    )?;
    let file = confine(root, project, Path::new(base_file), "the base Dockerfile")?;
    let bytes = crate::limits::read(&file, crate::limits::DOCKERFILE).map_err(|e| match e {
        crate::limits::ReadError::NotFound { .. } => Error::Failed(format!(
            "{}: no such base Dockerfile; dev builds the environment from it (docker repro init writes one), or set base_file in repro.toml",
            clip(base_file)
        )),
        other => other.into(),
    })?;
    dockerfile::parse(&bytes, &inputs.args, platform)
        .map_err(|e| Error::Failed(format!("{}:{}: {}", clip(base_file), e.line, e.message)))?;
    let given: BTreeMap<String, String> = inputs
        .contexts
        .iter()
        .map(|(name, source)| {
            let value = match source {
                ContextSource::Image(reference) => {
                    format!("{}{reference}", crate::lock::IMAGE_CONTEXT)
                }
                ContextSource::Dir(dir) => dir.clone(),
            };
            (name.clone(), value)
        })
        .collect();
    let spec = BuildSpec {
        dockerfile: file,
        context,
        platform: platform.to_string(),
        target: String::new(),
        builder: inputs.builder.clone(),
        source_date_epoch,
        args: inputs.args.clone(),
        pins: BTreeMap::new(),
        output: PathBuf::new(),
        name: tag.to_string(),
        use_cache: true,
        compression: inputs.compression,
        rewrite_timestamp: false,
        // Stored in the engine to be run, never locked: compressed as the engine likes.
        export_uncompressed: false,
        annotations: Default::default(),
        output_directory: false,
        inputs: build_inputs(inputs, named_contexts(&given, root, project)?),
    };
    Ok(DevBase {
        spec,
        path: base_file.to_string(),
        sha256: crate::lock::FileSha256::of(&bytes).to_string(),
    })
}

fn scan_error(archive: &Path, e: crate::image::archive::ScanError) -> Error {
    match e {
        crate::image::archive::ScanError::Interrupted => Error::Interrupted,
        other => Error::Failed(format!("{}: {other}", archive.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release_with_layers(layers: &[&str]) -> Built {
        Built {
            role: Role::Release,
            archive: PathBuf::from("release.tar"),
            pulled: Pulled::default(),
            index: None,
            images: vec![PlatformImage {
                platform: String::new(),
                image: OciImage {
                    manifest_digest: "sha256:m".into(),
                    config_digest: "sha256:c".into(),
                    layers: layers.iter().map(|l| l.to_string()).collect(),
                    layer_instructions: Vec::new(),
                },
            }],
        }
    }

    #[test]
    fn a_release_must_start_with_the_locked_base_blobs() {
        let on_base = [(
            String::new(),
            vec!["sha256:b1".to_string(), "sha256:b2".to_string()],
        )];
        check_on_base(
            &on_base,
            &release_with_layers(&["sha256:b1", "sha256:b2", "sha256:r"]),
        )
        .unwrap();
        // Another variant of the base's second layer: refused, naming both blobs.
        let err = check_on_base(
            &on_base,
            &release_with_layers(&["sha256:b1", "sha256:zz", "sha256:r"]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("layer 2 is sha256:zz, not the base's locked blob sha256:b2"),
            "{err}"
        );
        let err = check_on_base(&on_base, &release_with_layers(&["sha256:b1"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("layer 2 is missing"), "{err}");
    }

    const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn a_step_line_is_a_dockerfile_step_of_buildkits_plain_log() {
        assert_eq!(
            step_of("#7 [base 2/4] RUN pip install x==1"),
            Some(("#7", "base 2/4", "RUN pip install x==1"))
        );
        assert_eq!(
            step_of("#5 [1/2] FROM docker.io/library/busybox@sha256:abc"),
            Some(("#5", "1/2", "FROM docker.io/library/busybox@sha256:abc"))
        );
        for other in [
            "#1 [internal] load build definition from Dockerfile",
            "#7 0.512 Collecting x==1",
            "#7 DONE 3.1s",
            "#7 CACHED",
            "[2/4] RUN x",
            "#x [1/2] RUN y",
        ] {
            assert_eq!(step_of(other), None, "{other}");
        }
    }

    fn settings(contexts: &[(&str, &str)]) -> Settings {
        Settings {
            image: "paper".into(),
            platform: "linux/amd64".into(),
            source_date_epoch: 1,
            base_source_date_epoch: None,
            target: String::new(),
            builder: String::new(),
            args: BTreeMap::new(),
            context: ".".into(),
            use_cache: false,
            inputs: BuildInputs::default(),
            compression: Default::default(),
            timestamps: Default::default(),
            full_log: false,
            image_config: Default::default(),
            layer_encoder: Default::default(),
            annotations: Default::default(),
            contexts: contexts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A committed source with a Dockerfile that names `deps` (twice, as BuildKit would
    /// match it), the directory context `data` and one registry base.
    fn source() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("src");
        std::fs::create_dir_all(root.join("vendor/data")).unwrap();
        std::fs::write(root.join("vendor/data/x"), "x\n").unwrap();
        std::fs::write(
            root.join("Dockerfile"),
            "FROM deps AS one\nFROM docker.io/library/deps:latest AS two\nFROM busybox:1\n\
             COPY --from=data /x /x\nCOPY --from=one / /one\nCOPY --from=two / /two\n",
        )
        .unwrap();
        (tmp, root)
    }

    fn plan_of(root: &Path, contexts: &[(&str, &str)]) -> (Result<Plan>, Vec<String>) {
        let mut asked = Vec::new();
        let plan = Plan::new(
            settings(contexts),
            root,
            root,
            None,
            "Dockerfile",
            |external, dockerfile, _| {
                asked.push(external.image.clone());
                Ok(Base {
                    reference: crate::image::reference::ImageRef::try_from(external.image.clone())
                        .unwrap(),
                    dockerfile: dockerfile.to_string(),
                    platform: None,
                    index_digest: crate::image::digest::Digest::parse(DIGEST).unwrap(),
                    platform_digest: crate::image::digest::Digest::parse(DIGEST).unwrap(),
                })
            },
        );
        (plan, asked)
    }

    #[test]
    fn an_image_a_context_names_is_the_contexts_and_not_a_pinned_base() {
        let (_tmp, root) = source();
        let deps = format!("docker-image://127.0.0.1:5000/lab/deps:1@{DIGEST}");
        let (plan, asked) = plan_of(&root, &[("deps", &deps), ("data", "vendor/data")]);
        let plan = plan.unwrap();
        assert_eq!(asked, ["busybox:1"]);
        let real = root.canonicalize().unwrap();
        assert_eq!(
            plan.settings.inputs.contexts,
            [
                (
                    "data".to_string(),
                    real.join("vendor/data").to_string_lossy().into_owned()
                ),
                ("deps".to_string(), deps.clone()),
            ]
            .into()
        );
        let argv = plan
            .spec(
                &plan.release,
                Path::new("/o.tar"),
                "paper:1".into(),
                BTreeMap::new(),
            )
            .argv();
        let contexts: Vec<&String> = argv
            .iter()
            .zip(argv.iter().skip(1))
            .filter(|(flag, _)| *flag == "--build-context")
            .map(|(_, value)| value)
            .collect();
        assert_eq!(
            contexts,
            [
                &format!("data={}", real.join("vendor/data").display()),
                &format!("deps={deps}"),
                &format!("busybox:1=docker-image://busybox:1@{DIGEST}"),
            ]
        );
        // Without the contexts, the same Dockerfile pins `deps` and `data` as registry images.
        let (_, asked) = plan_of(&root, &[]);
        assert_eq!(
            asked,
            ["deps", "docker.io/library/deps:latest", "busybox:1", "data"]
        );
    }

    #[test]
    fn a_pin_is_never_passed_beside_a_context_of_the_same_name() {
        let (_tmp, root) = source();
        let deps = format!("docker-image://127.0.0.1:5000/lab/deps:1@{DIGEST}");
        let plan = plan_of(&root, &[("deps", &deps), ("data", "vendor/data")])
            .0
            .unwrap();
        let pins: BTreeMap<String, String> = [
            ("deps".to_string(), "oci-layout:///x@sha256:1".to_string()),
            (
                "deps:latest".to_string(),
                "oci-layout:///y@sha256:2".to_string(),
            ),
        ]
        .into();
        let argv = plan
            .spec(&plan.release, Path::new("/o.tar"), "paper:1".into(), pins)
            .argv();
        assert!(!argv.iter().any(|a| a.contains("oci-layout")), "{argv:?}");
        assert_eq!(
            argv.iter().filter(|a| a.starts_with("deps=")).count(),
            1,
            "{argv:?}"
        );
    }

    #[test]
    fn a_context_directory_must_be_a_directory_inside_the_commit() {
        let (tmp, root) = source();
        let outside = tmp.path().join("home");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("linked")).unwrap();
        let err = plan_of(&root, &[("data", "linked")])
            .0
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "the named context data cannot be rebuilt: its directory \"linked\" resolves to "
            ) && err.contains("outside the committed source (through the link linked -> "),
            "{err}"
        );
        std::os::unix::fs::symlink(outside.join("x"), root.join("vendor/data/.dockerignore"))
            .unwrap();
        let err = plan_of(&root, &[("data", "vendor/data")])
            .0
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the named context data cannot be rebuilt: its .dockerignore"),
            "{err}"
        );
        for (missing, what) in [("absent", "absent"), ("Dockerfile", "Dockerfile")] {
            let err = plan_of(&root, &[("data", missing)])
                .0
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!("the named context data: {what} is not a directory in the committed source; commit it (git keeps no empty directory: add a file to it), or name another")
            );
        }
    }

    #[test]
    fn each_build_is_given_its_context_under_a_name_of_its_own_that_goes_when_it_ends() {
        let work = tempfile::tempdir().unwrap();
        let context = work.path().join("src");
        std::fs::create_dir(&context).unwrap();
        let output = work.path().join("release.tar");
        let first = ContextLink::new(&context, &output).unwrap();
        let second = ContextLink::new(&context, &output).unwrap();
        assert_ne!(first.path().file_name(), second.path().file_name());
        for link in [&first, &second] {
            assert_eq!(link.path().parent(), Some(work.path()));
            assert_eq!(std::fs::read_link(link.path()).unwrap(), context);
            assert!(link.path().is_dir());
        }
        let gone = first.path().to_path_buf();
        drop(first);
        assert!(gone.symlink_metadata().is_err(), "the link is left behind");
        assert!(context.is_dir(), "the context went with its link");
    }
}
