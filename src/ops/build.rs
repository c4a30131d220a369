//! The build both `release` and `verify --rebuild` run. A [`Plan`] is plain data derived from
//! the source tree and the recorded inputs; building the same plan is how a rebuild is "exactly
//! as the lock says".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::dockerfile::{self, Dockerfile, ExternalRef};
use crate::engine::docker::{BuildInputs, BuildSpec, Docker};
use crate::error::{clip, Error, Result};
use crate::image::oci::{self, sha256_digest, OciImage};

use crate::image::reference::normalise_ref;
use crate::inventory::layers::Select;
use crate::lock::{split_platforms, Base, DockerfileEntry, Role};
use crate::project::confine::confine;

/// Inputs that are the same for every image of a release.
#[derive(Debug, Clone)]
pub struct Settings {
    pub image: String,
    pub platform: String,
    pub source_date_epoch: i64,
    pub target: String,
    pub builder: String,
    pub args: BTreeMap<String, String>,
    /// Relative to the project directory.
    pub context: String,
    /// Reuse the build cache (faster, but see [`BuildSpec::use_cache`]).
    pub use_cache: bool,
    /// The build inputs of every build (base and release); see [`BuildSpec`].
    pub inputs: BuildInputs,
    pub compression: crate::lock::Compression,
}

/// One Dockerfile to build.
#[derive(Debug, Clone)]
pub struct Stage {
    pub role: Role,
    pub path: String,
    /// Where the Dockerfile is, every link resolved (inside the committed source); BuildKit is
    /// given this path, so it builds the bytes hashed here.
    pub file: PathBuf,
    pub sha256: String,
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
    pub fn new(
        settings: Settings,
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
                    let mut pinned = pin(external, &stage.path, platform)?;
                    if multi {
                        pinned.platform = platform.to_string();
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
        })
    }

    pub fn dockerfile_entries(&self) -> Vec<DockerfileEntry> {
        self.base
            .iter()
            .chain(std::iter::once(&self.release))
            .map(|s| DockerfileEntry {
                role: s.role,
                path: s.path.clone(),
                sha256: s.sha256.clone(),
            })
            .collect()
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
                    b.reference.clone(),
                    format!("docker-image://{}@{}", b.reference, b.index_digest),
                )
            })
            .collect();
        pins.extend(extra_pins);
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
            source_date_epoch: self.settings.source_date_epoch,
            args: self.settings.args.clone(),
            pins,
            output: output.to_path_buf(),
            name,
            use_cache: self.settings.use_cache,
            compression: self.settings.compression,
            inputs: self.settings.inputs.clone(),
        }
    }

    /// Builds the base (when there is one) and the release into OCI archives under `work`.
    /// The release's `FROM <image>:base` is pinned to the base just built, by digest.
    pub fn build(
        &self,
        docker: &Docker,
        work: &Path,
        release_name: &str,
        quiet: bool,
        progress: &dyn Fn(&str),
    ) -> Result<Vec<Built>> {
        let mut built = Vec::new();
        let mut base_pin = None;
        if self.base.is_some() {
            let base = self.build_base(docker, work, quiet, progress)?;
            base_pin = Some(BasePin::archive(
                &base.archive,
                base.digest(),
                &work.join("base-layout"),
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

    /// Builds the base Dockerfile into `work/base.tar`.
    pub fn build_base(
        &self,
        docker: &Docker,
        work: &Path,
        quiet: bool,
        progress: &dyn Fn(&str),
    ) -> Result<Built> {
        let base = self
            .base
            .as_ref()
            .ok_or_else(|| Error::Failed("internal error: this release has no base".into()))?;
        progress(&format!("building {} from {}", self.base_tag(), base.path));
        let archive = work.join("base.tar");
        docker.build(
            &self.spec(base, &archive, self.base_tag(), BTreeMap::new()),
            quiet,
        )?;
        read_built(Role::Base, archive, &self.settings.platform)
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
        docker.build(
            &self.spec(&self.release, &archive, release_name.to_string(), pins),
            quiet,
        )?;
        read_built(Role::Release, archive, &self.settings.platform)
    }
}

/// What the release's `FROM <image>:base` is pinned to: a named context buildx takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasePin {
    /// `oci-layout://DIR@DIGEST` or `docker-image://REPO@DIGEST`.
    pub target: String,
}

impl BasePin {
    /// The image `digest` of an OCI archive, unpacked into `layout` for BuildKit to read.
    pub fn archive(archive: &Path, digest: &str, layout: &Path) -> Result<BasePin> {
        oci::unpack(archive, layout)?;
        Ok(BasePin {
            target: format!("oci-layout://{}@{digest}", layout.display()),
        })
    }

    /// The image `digest` in the registry of `name`: BuildKit pulls it by digest, and so
    /// checks every byte against it.
    pub fn registry(name: &str, digest: &str) -> BasePin {
        BasePin {
            target: format!(
                "docker-image://{}",
                crate::image::reference::pinned(name, digest)
            ),
        }
    }
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

fn is_built_base(image: &str, reference: &str) -> bool {
    normalise_ref(reference) == normalise_ref(&format!("{image}:base"))
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
    let bytes = std::fs::read(&full).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Failed(format!(
            "{}: no such Dockerfile in the committed source; commit it, or name another with --file/--base-file",
            clip(path)
        )),
        _ => Error::io(&full, e),
    })?;
    let parsed = parse_bytes(role, path, &bytes, settings, platform)?;
    let sha256 = sha256_digest(&bytes)
        .trim_start_matches("sha256:")
        .to_string();
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
    let bytes = std::fs::read(&stage.file).map_err(|e| Error::io(&stage.file, e))?;
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

/// What a build of `platforms` (one, or several joined by `,`) wrote: one manifest, or an
/// image index listing exactly those platforms, in that order.
fn read_built(role: Role, archive: PathBuf, platforms: &str) -> Result<Built> {
    let wanted = split_platforms(platforms);
    let index = crate::inventory::layers::image_index(&archive, None)
        .map_err(|e| scan_error(&archive, e))?;
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
    })
}

/// The one archive reader, with its errors in this module's terms.
fn read_image(archive: &Path, select: &Select) -> Result<OciImage> {
    crate::inventory::layers::read_image(archive, select).map_err(|e| scan_error(archive, e))
}

fn scan_error(archive: &Path, e: crate::inventory::layers::ScanError) -> Error {
    match e {
        crate::inventory::layers::ScanError::Interrupted => Error::Interrupted,
        other => Error::Failed(format!("{}: {other}", archive.display())),
    }
}
