//! The command line. Every subcommand's `--help` is written to teach the workflow.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::image::digest::Digest;
use crate::image::platform::Platform;

const AFTER_HELP: &str = "\
The workflow (base image for the environment, release image = base + code):
  docker repro init                 write a new project's layout (base and release Dockerfiles)
  docker repro release              cut a release from HEAD and write ./repro.lock
  docker repro verify               check the locked images are present with the locked digests
  docker repro verify --rebuild     rebuild the locked commit from scratch and compare byte for byte
  docker repro inspect IMAGE        list the apt/pip/conda packages and CUDA facts inside an image
  docker repro dev [-- CMD]         work in the base built from the working tree, code bind-mounted
  docker repro run [-- CMD]         run the locked image by digest, judged against this host's GPU
  docker repro check                lint the Dockerfiles for what makes rebuilds differ
  docker repro diff A B             explain what differs between two locks or images

Exit codes: 0 ok/identical, 1 error, 2 verified different (or missing), 3 verified but this host
cannot run it, 4 the base drifted but the release is identical on the locked base, 5 rebuilt
equivalent (other bytes, same files and runtime), 125 usage, 130 interrupted; `run` exits with the
command's status.
Limits (see \"Limits\" in the README): a Dockerfile is at most 4 MiB, a repro.lock 16 MiB, a
repro.toml 1 MiB, each a regular file (exit 1 otherwise). Each registry lookup may take 60s
(DOCKER_REPRO_LOOKUP_TIMEOUT), each docker pull or push and git clone 2h
(DOCKER_REPRO_TRANSFER_TIMEOUT); then it is stopped (exit 1). Values: seconds or 90s, 10m, 1h.
Docker's global flags (--context, -H, --config, -D, --tls*) given before `repro` are passed on to
every docker command docker repro runs.";

#[derive(Debug, Parser)]
#[command(
    name = "docker repro",
    version,
    about = "Reproducible releases of research images: lock, rebuild and verify byte for byte",
    after_help = AFTER_HELP,
    disable_help_subcommand = false,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    Release(ReleaseArgs),
    Verify(VerifyArgs),
    Inspect(InspectArgs),
    Run(RunArgs),
    Dev(DevArgs),
    Check(CheckArgs),
    Diff(DiffArgs),
    Init(InitArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A short table and a one-line verdict.
    Human,
    /// The same report as JSON on stdout (keys documented in the README).
    Json,
}

/// `check`'s report on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// Each finding with its fix, and a one-line count.
    Human,
    /// The report as JSON (keys documented in the README).
    Json,
    /// A SARIF 2.1.0 log, as hadolint writes it and code-scanning tools read it.
    Sarif,
}

/// The layers' compression (see [`crate::lock::Compression`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    /// What every engine and registry takes.
    Gzip,
    /// Several times faster; Docker Engine 23+, containerd 1.5+ and podman 4+ pull it.
    Zstd,
}

impl From<CompressionArg> for crate::lock::Compression {
    fn from(c: CompressionArg) -> Self {
        match c {
            CompressionArg::Gzip => crate::lock::Compression::Gzip,
            CompressionArg::Zstd => crate::lock::Compression::Zstd,
        }
    }
}

impl From<&ReleaseArgs> for crate::project::ReleaseFlags {
    fn from(a: &ReleaseArgs) -> Self {
        crate::project::ReleaseFlags {
            image: a.image.clone(),
            file: a.file.clone(),
            base_file: a.base_file.clone(),
            context: a.context.clone(),
            tags: a.tags.clone(),
            build_args: a.build_args.clone(),
            secrets: a.secrets.clone(),
            ssh: a.ssh.clone(),
            network: a.network.clone(),
            add_hosts: a.add_hosts.clone(),
            shm_size: a.shm_size.clone(),
            ulimits: a.ulimits.clone(),
            build_contexts: a.build_contexts.clone(),
            target: a.target.clone(),
            platform: a.platform.clone(),
            builder: a.builder.clone(),
            lock: a.lock.clone(),
            compression: a.compression.map(Into::into),
        }
    }
}

/// What `verify --rebuild` does with the base image of a base + release layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BaseChoice {
    /// Rebuild the base from its Dockerfile, then the release on it.
    Rebuild,
    /// Take the locked base by digest and rebuild only the release on it.
    Locked,
}

/// Cut a release that can be rebuilt byte for byte, and write repro.lock.
#[derive(Debug, Args)]
#[command(
    long_about = "Cut a release that can be rebuilt byte for byte, and write repro.lock.\n\n\
Builds from a clean copy of the committed source (HEAD), never from the working tree: a dirty \
tree is refused (name the files, or pass --allow-dirty). SOURCE_DATE_EPOCH is the commit time. \
Every external base image is resolved in its registry and pinned by digest with \
`--build-context`, so the Dockerfiles are not rewritten. Builds run with buildx, attestations \
off, OCI output; then every layer holding a file time later than SOURCE_DATE_EPOCH is rewritten \
with its times clamped (the rest, the base's layers among them, are kept byte for byte), and the \
images are loaded into the engine.\n\n\
Layouts: docker/Dockerfile.base + docker/Dockerfile.release (the base is tagged <image>:base and \
the release's `FROM <image>:base` is pinned to the base just built), or a single ./Dockerfile. \
A base whose inputs have the fingerprint of the last lock's base is kept, not built: taken by \
the locked digest from the engine or its registry. Where the engine holds it, it is neither \
saved, exported nor read again: its manifest, config and merged package files are kept in \
$XDG_CACHE_HOME/docker-repro (~/.cache/docker-repro) by the release that built or read it. \
Where the builder reads the engine's store (the docker driver on the containerd store) and no \
--archive is asked for, a single-platform base just built is exported and loaded without the \
layers of the registry image it stands on, which BuildKit has pulled into the engine; their \
packages are read from the builder while the base is built, and kept there too, so once per \
machine. \
Defaults can be set in repro.toml under [release] (image, file, base_file, context, tags, target, \
platform, builder, lock, build_args, secrets, ssh, network, add_hosts, shm_size, ulimits, \
build_contexts); flags override it.\n\n\
Build inputs: --secret and --ssh reach each build (base, release) whose RUN --mounts read them, \
and the lock records their ids only, per Dockerfile; --network, --add-host, --shm-size and --ulimit are recorded in the lock. \
--build-context NAME=docker-image://REF is resolved in its registry and locked by digest (a \
Dockerfile's FROM NAME is then that image, not a registry base); NAME=DIR must be a directory \
inside the committed project, locked by its relative path; other kinds (oci-layout://, URLs, \
git, target:) cannot be rebuilt from the lock and are refused. HTTP_PROXY, HTTPS_PROXY, NO_PROXY and \
ALL_PROXY (and lower case) from the environment reach the builds as BuildKit's predefined build \
arguments, by name only: their values are never in an argv, an output or the lock.",
    after_help = "Exit codes: 0 released, 2 --strict and check found a warning or an error in the Dockerfiles (nothing built), 1 error, 125 usage, 130 interrupted.\n\nExamples:\n  docker repro release\n  docker repro release --strict\n  docker repro release --tag paper-v1 --archive paper-v1.oci.tar\n  docker repro release --image 127.0.0.1:5000/lab/curvenet --push\n  docker repro release --file Dockerfile --build-arg PYTHON=3.11 --platform linux/amd64\n  docker repro release --platform linux/amd64,linux/arm64\n  http_proxy=http://proxy.lab:3128 docker repro release --secret id=pip_index,src=$HOME/.netrc\n  docker repro release --shm-size 2g --ulimit nofile=65536:65536 --ulimit memlock=-1\n  docker repro release --build-context deps=docker-image://ghcr.io/lab/deps:1\n  docker repro release --build-context data=vendor/data"
)]
pub struct ReleaseArgs {
    /// The release Dockerfile [default: docker/Dockerfile.release, else Dockerfile]
    #[arg(long, short = 'f', value_name = "PATH")]
    pub file: Option<String>,
    /// The base (environment) Dockerfile, built first and tagged <image>:base [default: docker/Dockerfile.base when the release file is docker/Dockerfile.release]
    #[arg(long, value_name = "PATH")]
    pub base_file: Option<String>,
    /// The build context, relative to the project directory [default: .]
    #[arg(long, value_name = "DIR")]
    pub context: Option<String>,
    /// The image name (repository) [default: the project directory's name]
    #[arg(long, value_name = "NAME")]
    pub image: Option<String>,
    /// Extra tags for the release image, besides <image>:<short commit> (repeatable)
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    pub tags: Vec<String>,
    /// A build argument, recorded in the lock (repeatable; KEY alone takes $KEY)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// A BuildKit secret for the builds whose RUN --mounts read it, as buildx takes it; the lock records its id only (repeatable)
    #[arg(long = "secret", value_name = "id=ID[,src=PATH|,env=VAR]")]
    pub secrets: Vec<String>,
    /// An SSH agent or key for every build (`default`, or ID=PATH); the lock records its id only (repeatable)
    #[arg(long = "ssh", value_name = "default|ID[=PATH]")]
    pub ssh: Vec<String>,
    /// The network of the builds' RUN steps, recorded in the lock [default: default]
    #[arg(long, value_name = "default|host|none")]
    pub network: Option<String>,
    /// An /etc/hosts entry for the builds, recorded in the lock (repeatable)
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_hosts: Vec<String>,
    /// The size of /dev/shm in the builds' RUN steps (2g, 512m, bytes), recorded in the lock
    #[arg(long, value_name = "SIZE")]
    pub shm_size: Option<String>,
    /// A resource limit of the builds' RUN steps (nofile, nproc, memlock, stack, core...; -1 for unlimited), recorded in the lock (repeatable)
    #[arg(long = "ulimit", value_name = "TYPE=SOFT[:HARD]")]
    pub ulimits: Vec<String>,
    /// A named context for FROM NAME or COPY --from=NAME: docker-image://REF (resolved and pinned by digest in the lock) or a directory of the committed project (repeatable)
    #[arg(long = "build-context", value_name = "NAME=docker-image://REF|DIR")]
    pub build_contexts: Vec<String>,
    /// The stage of the release Dockerfile to build
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// The platform to build for, os/arch; several, comma-separated, build one image index (RUN steps of another architecture need QEMU in binfmt_misc) [default: the engine's]
    #[arg(long, value_name = "OS/ARCH[,OS/ARCH...]")]
    pub platform: Option<String>,
    /// The buildx builder to use [default: the current one]
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,
    /// Where to write the lockfile [default: ./repro.lock]
    #[arg(long, value_name = "PATH")]
    pub lock: Option<PathBuf>,
    /// Override SOURCE_DATE_EPOCH (seconds) instead of the commit time
    #[arg(long, value_name = "SECONDS")]
    pub source_date_epoch: Option<i64>,
    /// Release from a tree with uncommitted changes; the lock records dirty = true and can never be verified by rebuild
    #[arg(long)]
    pub allow_dirty: bool,
    /// Push the release (and base) image to its registry under every tag after building, each checked to serve the locked digest, and attach the lock and SBOMs to them as OCI referrers
    #[arg(long)]
    pub push: bool,
    /// Also write the images (base and release) as one OCI archive to FILE, for archiving with a paper
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// Also write each image's SBOM into DIR, as CycloneDX 1.6 (ROLE.cdx.json) and SPDX 2.3 (ROLE.spdx.json)
    #[arg(long, value_name = "DIR")]
    pub sbom: Option<PathBuf>,
    /// The layers' compression, recorded in the lock, written on every core (the same bytes for
    /// any number of cores): zstd is several times faster to write and read, and is pulled by
    /// Docker Engine 23+, containerd 1.5+ and podman 4+ [default: gzip]
    #[arg(long, value_enum, value_name = "gzip|zstd")]
    pub compression: Option<CompressionArg>,
    /// Reuse the build cache. Faster, but a cached layer built before the commit keeps its older
    /// file times (only newer ones are clamped), and then the release does not rebuild
    /// identically. Without it every layer is built fresh.
    #[arg(long)]
    pub use_cache: bool,
    /// Refuse the release, before anything is built, when `check` finds a warning or an error in
    /// its Dockerfiles (not silenced by repro.toml's [check] ignore or a # repro:ignore= comment);
    /// exit 2. Without it the findings are printed as warnings and the release goes on
    #[arg(long)]
    pub strict: bool,
    /// How builds show their progress on stderr (-q shows none)
    #[arg(long, value_enum, default_value_t = ProgressArg::Phases)]
    pub progress: ProgressArg,
    /// Build the base even when the last lock's base has the same input fingerprint (it is
    /// kept otherwise), and say whether it came out identical to the kept one
    #[arg(long)]
    pub rebuild_base: bool,
    /// Hide build progress
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Output format of the summary on stdout
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// How `release` shows a build's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    /// One line per phase with the time since the start, and one per Dockerfile step as it
    /// starts
    Phases,
    /// BuildKit's whole log, as buildx writes it
    Plain,
}

/// Where `verify` takes the lock from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockSource {
    File(PathBuf),
    /// A pushed image by digest, `name@sha256:<hex>`: its attached lock.
    Pushed {
        repository: String,
        digest: Digest,
    },
}

/// A lock's path, or (when no such file exists) a pushed image pinned by digest.
fn parse_lock_source(value: &str) -> Result<LockSource, String> {
    let path = PathBuf::from(value);
    let Some((name, digest)) = value.split_once('@') else {
        return Ok(LockSource::File(path));
    };
    if path.exists() {
        return Ok(LockSource::File(path));
    }
    let digest = Digest::parse(digest).map_err(|why| {
        format!("the image digest after @ {why}; give NAME@sha256:<64 hex digits>, or the path of a lock")
    })?;
    crate::image::reference::Reference::parse(name)
        .map_err(|why| format!("{why}; give NAME@sha256:<64 hex digits>, or the path of a lock"))?;
    Ok(LockSource::Pushed {
        repository: name.to_string(),
        digest,
    })
}

/// Check images against a repro.lock, by digest or by rebuilding from source.
#[derive(Debug, Args)]
#[command(
    long_about = "Check images against a repro.lock, by digest or by rebuilding from source.\n\n\
Without --rebuild: checks that each locked image is present in the engine (or in its registry) \
with exactly the locked digest. Reads digests only.\n\n\
With --rebuild: copies the locked commit out of the lock's git repository into a temporary \
directory (your working tree is never touched), rebuilds it exactly as the lock says (same base \
digests, build args, platform, SOURCE_DATE_EPOCH, no build cache), and compares manifest, config and layer \
digests. A difference names the layer and the Dockerfile instruction that produced it. The secrets and \
SSH ids of the Dockerfiles rebuilt must be given again (--secret, --ssh; with --base locked only the \
release's); every missing one is named before anything is built. A build that fails is one line \
naming the step and the cause, with buildx's full log kept in a file. --build-arg and --add-host override locked values (a mirror near you), and the \
report lists what was overridden. The locked network, shm size, ulimits and named contexts are used \
as locked: an image context by its digest, a directory context inside the locked commit. Proxies come from the environment, as for release.\n\n\
Given NAME@sha256:DIGEST instead of a lock: fetches the lock that `release --push` attached to \
that image as an OCI referrer, refuses it unless it names that digest, and verifies as with the \
lock in hand; --rebuild then clones the locked remote at the locked commit (or takes --source).\n\n\
With --archive FILE: checks an OCI archive written by `release --archive` (each locked image it \
holds, base and release, every blob against its digest, the image against the lock, its packages \
against the lock's inventory) with no registry and no network; --load then loads them into the \
engine. With no lock named and no ./repro.lock, the lock inside the archive is used.\n\n\
The base image of a base + release layout is built from mirrors that move: years later it may not \
rebuild. `--rebuild --base locked` takes the locked base by digest (from --archive FILE, else the \
engine, else its registry), checks it, and rebuilds only the release on it; the report says the \
base was verified by digest, not rebuilt. A full --rebuild whose base comes out different goes on \
to rebuild the release on the locked base when it is here, and gives both answers: exit 4 when \
the base's packages drifted and the release is identical on the locked base.\n\n\
A multi-platform lock (release --platform linux/amd64,linux/arm64) is checked platform by \
platform, every locked one or those of --platform: one report line per image and platform.\n\n\
Unless --offline or --archive, each locked base tag is looked up again: if it now points elsewhere \
the report says so (old -> new digest); a rebuild still uses the pinned digest.\n\n\
The report ends with this host's verdict: its NVIDIA driver and GPUs against the image's CUDA \
(NVIDIA's compatibility tables), exit 3 when the image verified but the host cannot run it.\n\n\
When the rebuilt image differs and the locked image is in the engine, the differing layers are \
compared file by file, each difference given a cause and a fix, causes ranked by differing \
bytes; `[verify] ignore = [\"/var/log/**\"]` in repro.toml lists accepted noise as ignored.\n\n\
A release cut now rebuilds byte for byte on another Docker (its lock says image_config = \
\"canonical/1\"): every layer the build makes is compressed by docker repro and every image \
config written in one canonical form, so no byte depends on the BuildKit or the Go of the \
engine. A lock cut before that is rebuilt as it was cut, and on another Docker its BuildKit \
writes the history otherwise and its dockerd's Go compresses gzip otherwise. When the locked image is in the \
engine and the rebuilt one has the same files (the config's diff IDs) and the same runtime config \
(env, cmd, entrypoint, user, workdir, labels, ports, volumes, stop signal, platform), the result \
is `equivalent`, exit 5, and each differing config field is named with both values and what \
writes it. `identical` stays the only result for equal bytes.",
    after_help = "Exit codes: 0 verified identical, 2 different or missing, 3 verified but this host cannot run it, 4 the base's packages drifted but the release is identical on the locked base, 5 rebuilt equivalent (other bytes, same files and runtime), 1 error (a lock over 16 MiB; a registry lookup past DOCKER_REPRO_LOOKUP_TIMEOUT, 60s; a clone past DOCKER_REPRO_TRANSFER_TIMEOUT, 2h), 125 usage, 130 interrupted.\n\nExamples:\n  docker repro verify\n  docker repro verify registry.example/lab/curvenet@sha256:<digest> --rebuild\n  docker repro verify --archive paper-v1.oci.tar\n  docker repro verify --rebuild\n  docker repro verify path/to/repro.lock --rebuild --format json\n  docker repro verify --rebuild --secret id=pip_index,src=$HOME/.netrc --build-arg PIP_INDEX_URL=https://mirror.example/simple\n  docker repro verify --rebuild --base locked --archive paper-v1.oci.tar\n  docker repro verify --rebuild --platform linux/arm64\n  docker -H unix:///var/run/other.sock repro verify --rebuild"
)]
pub struct VerifyArgs {
    /// The lockfile, or a pushed release as NAME@sha256:DIGEST whose attached lock is fetched [default: ./repro.lock; with --archive and no ./repro.lock, the lock inside the archive]
    #[arg(value_name = "LOCK|REF@DIGEST", value_parser = parse_lock_source)]
    pub lock: Option<LockSource>,
    /// Rebuild the locked commit from source and compare byte for byte
    #[arg(long)]
    pub rebuild: bool,
    /// With --rebuild: the checkout holding the locked commit [default: the repository holding the lock, else a clone of the lock's remote]
    #[arg(long, visible_alias = "repo", value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// Verify an OCI archive written by `release --archive`, with no registry and no network
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// With --rebuild: a secret the lock names by id, given as to release (repeatable; every id of the Dockerfiles rebuilt is needed)
    #[arg(long = "secret", value_name = "id=ID[,src=PATH|,env=VAR]")]
    pub secrets: Vec<String>,
    /// With --rebuild: an SSH agent or key the lock names by id (repeatable; every id of the Dockerfiles rebuilt is needed)
    #[arg(long = "ssh", value_name = "default|ID[=PATH]")]
    pub ssh: Vec<String>,
    /// With --rebuild: override a locked build argument (a mirror near you); reported as overridden (repeatable)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// With --rebuild: override a locked /etc/hosts entry by its NAME; reported as overridden (repeatable)
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_hosts: Vec<String>,
    /// With --rebuild: `rebuild` builds the base image again too; `locked` takes the locked base
    /// by digest (from --archive FILE, the engine, or its registry) and rebuilds only the
    /// release on it, for a reviewer whose mirrors have moved [default: rebuild]
    #[arg(long, value_enum, value_name = "rebuild|locked")]
    pub base: Option<BaseChoice>,
    /// With --archive: load the verified images into the engine, tagged as in the lock
    #[arg(long)]
    pub load: bool,
    /// Of a multi-platform lock, check only these platforms (comma-separated) [default: every locked platform]
    #[arg(long, value_name = "OS/ARCH[,OS/ARCH...]")]
    pub platform: Option<String>,
    /// Contact no registry: use only the engine, archives and the lock, and say what was not checked
    #[arg(long)]
    pub offline: bool,
    /// Hide build progress
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Output format of the report on stdout
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// List the apt, pip and conda packages and CUDA facts inside an image, read from its layers.
#[derive(Debug, Args)]
#[command(
    long_about = "List the apt, pip and conda packages and CUDA facts inside an image, read from its layers.\n\n\
Nothing is run: the layers are streamed once (gzip, zstd or plain), whiteouts applied, and the \
package databases read: dpkg status (and status.d), every *.dist-info and *.egg-info under a \
site-packages or dist-packages directory, conda-meta of every environment, CUDA toolkit, cuDNN, \
NCCL and torch versions, nvidia-*-cu1X wheels, and the CUDA variables of the image config. So it \
works for FROM scratch, distroless and other-architecture images. Memory stays small whatever \
the image size, and nothing is written to disk.\n\n\
--format conda-explicit writes one conda environment as an @EXPLICIT file, each package's URL with \
its sha256 (its MD5 when that is all its record holds), which `conda create --file` or rattler \
re-creates the environment from; an image with several environments needs --env PREFIX, and a \
package whose record has no URL is refused (exit 1) rather than left out.",
    after_help = "Examples:\n  docker repro inspect curvenet:base\n  docker repro inspect --archive paper-v1.oci.tar curvenet:base --format json\n  docker save curvenet:base | docker repro inspect - --list\n  docker repro inspect ghcr.io/lab/env@sha256:… --format spdx\n  docker repro inspect lab/env:1 --format conda-explicit --env /opt/conda > env.txt"
)]
pub struct InspectArgs {
    /// A local image (read with `docker save`); NAME@sha256:… the engine lacks is read from its
    /// registry by digest, without pulling it; - for a `docker save` stream on stdin; with
    /// --archive, the image of the archive to read (by name or manifest digest) when it holds several
    #[arg(value_name = "IMAGE")]
    pub image: Option<String>,
    /// Read an OCI or docker-save archive instead (as written by `release --archive`)
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// Of an image index of several platforms, read this one (os/arch[/variant]) [default: this host's; an index of one image gives it]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<Platform>,
    /// List every package, not just the counts
    #[arg(long)]
    pub list: bool,
    /// Hide the progress bar
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Output format on stdout; json has the keys image, manifest_digest, os, apt, pip, conda, cuda
    #[arg(long, value_enum, default_value_t = InspectFormat::Human)]
    pub format: InspectFormat,
    /// With --format conda-explicit, the conda environment to write (its prefix, e.g. /opt/conda) when the image has several
    #[arg(long, value_name = "PREFIX")]
    pub env: Option<String>,
}

/// What `inspect` writes on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InspectFormat {
    /// Counts per package manager and the CUDA facts (every package with --list).
    Human,
    /// The inventory as JSON (keys documented in the README).
    Json,
    /// A CycloneDX 1.6 JSON SBOM, with package URLs and the CUDA facts as properties.
    Cyclonedx,
    /// An SPDX 2.3 JSON SBOM, with package URLs and the CUDA facts as annotations.
    Spdx,
    /// A conda environment as an @EXPLICIT file (URL#sha256 a line); --env picks one of several.
    CondaExplicit,
}

/// Run the locked release image, by digest, with a verdict on this host's GPU and a run record.
#[derive(Debug, Args)]
#[command(
    long_about = "Run the locked release image, by digest, with a verdict on this host's GPU and a run record.\n\n\
The image is run by its locked digest, never by tag. When the engine does not have it, it is \
loaded from --archive FILE or pulled from its registry by digest; if it still is not there the \
run is refused (--no-verify runs whatever the lock's tag names). The host's driver and GPUs \
(nvidia-smi) are judged against the image's CUDA with NVIDIA's compatibility tables; a host that \
cannot run it is refused (--force tries anyway). --gpus all is added when the image needs CUDA \
and this host has an NVIDIA GPU that can run it, wherever the release was cut.\n\n\
Of a multi-platform lock, the locked image index is first checked to list exactly the locked \
manifest for each locked platform (exit 2 if it does not; nothing is loaded or run), and this \
platform's manifest is run by its own digest, NAME@sha256:MANIFEST, never the index.\n\n\
A run record, repro-run.json (image digest, lock sha256, host facts and verdict, command, exit \
status, start and end times), is written to --out DIR; without --out to \
$XDG_STATE_HOME/docker-repro/runs/TIME-DIGEST-PID.json (~/.local/state/... by default), never into \
the clone. stderr says where.",
    after_help = "Exit codes: the command's own exit status; 1 error, 2 the locked image index does not list the locked manifests, 3 this host cannot run the image, 125 usage, 130 interrupted.\n\nExamples:\n  docker repro run\n  docker repro run paper/repro.lock --archive paper/paper-v1.oci.tar --data ./inputs --out ./results\n  docker repro run -- python3 train.py --epochs 1"
)]
pub struct RunArgs {
    /// The lockfile [default: ./repro.lock]
    #[arg(value_name = "LOCK")]
    pub lock: Option<PathBuf>,
    /// Load the image from this OCI archive (from `release --archive`) when the engine lacks it
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// Mount DIR read-only at PATH [default PATH: /data/<name of DIR>] (repeatable)
    #[arg(long, value_name = "DIR[:PATH]")]
    pub data: Vec<String>,
    /// Mount DIR writable at /out for results; the run record is written there
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run even if the locked image cannot be found by digest
    #[arg(long)]
    pub no_verify: bool,
    /// Run even if this host's verdict is "will not run"
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub container: ContainerArgs,
    /// Hide progress messages
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// The command to run instead of the image's own (after --)
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Work in the base: build it from the working tree (cached), run it with the code bind-mounted.
#[derive(Debug, Args)]
#[command(
    long_about = "Work in the base: build it from the working tree (cached), run it with the code bind-mounted.\n\n\
The daily loop of the base/release layout. The base Dockerfile of the working tree (not a commit) is \
built with repro.toml's inputs (build arguments, secrets, SSH, network, add-hosts, ulimits, named \
contexts; proxies from the environment) and the build cache, so an unchanged base takes seconds, \
and stored as <image>:dev (never <image>:base, which release owns); a failed build tags nothing. \
Then it runs, removed on exit, with each directory docker/Dockerfile.release copies bind-mounted \
where the release copies it and the release's WORKDIR as the working directory: files written \
there land in the working tree. No image is built on top: what runs is the base itself.\n\n\
The container runs as the invoking user (SUDO_UID:SUDO_GID under sudo, else this process's \
owner; root stays root) with HOME=/tmp, so what it writes into the working tree is yours \
(--user chooses). A terminal when stdin and stdout are terminals, /dev/shm of 8g, -e, -p and \
--mount as for `run`. --gpus all when this host has an NVIDIA GPU and the image needs CUDA: as \
the lock's inventory says when the base is the locked one, else whenever the host has an \
NVIDIA GPU (--gpus / --no-gpus choose).\n\n\
One line on stderr names the base it runs and whether it is the base of repro.lock (today \
compared by the base Dockerfile's sha256 and the build arguments). A single-Dockerfile project \
has no base to work in: dev refuses it.",
    after_help = "Exit codes: the command's own exit status; 1 error (no base Dockerfile, a failed build, a container that could not start: docker run's 125, 126 or 127), 125 usage, 130 interrupted.\n\nExamples:\n  docker repro dev\n  docker repro dev -- python3 train.py --epochs 1\n  docker repro dev -p 127.0.0.1:8888:8888 -- jupyter lab --ip 0.0.0.0\n  sudo -E docker repro dev --mount type=volume,source=pip-cache,target=/tmp/.cache -- bash"
)]
pub struct DevArgs {
    #[command(flatten)]
    pub container: ContainerArgs,
    /// Hide build progress and messages
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// The command to run instead of the image's own (after --)
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// How a container is run: what a deep-learning job needs from `docker run`.
#[derive(Debug, Args)]
pub struct ContainerArgs {
    /// Allocate a terminal and keep stdin open (-it) [default: when stdin and stdout are terminals]
    #[arg(long, short = 't', conflicts_with = "no_tty")]
    pub tty: bool,
    /// Never allocate a terminal
    #[arg(long)]
    pub no_tty: bool,
    /// Size of /dev/shm (docker's 64m kills PyTorch DataLoader workers with "Bus error")
    #[arg(long, value_name = "SIZE", default_value = "8g")]
    pub shm_size: String,
    /// Run as UID[:GID], with HOME=/tmp [default: the invoking user where the container writes to this host: run --out, dev]
    #[arg(long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Set an environment variable in the container (repeatable)
    #[arg(long, short = 'e', value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Publish a container's port, as docker run -p does (repeatable)
    #[arg(long, short = 'p', value_name = "[IP:]HOST:CONTAINER")]
    pub publish: Vec<String>,
    /// Pass a docker --mount spec through, such as type=volume,source=cache,target=/root/.cache (repeatable)
    #[arg(long, value_name = "SPEC")]
    pub mount: Vec<String>,
    /// Add --gpus all whatever the image and this host's verdict
    #[arg(long, conflicts_with = "no_gpus")]
    pub gpus: bool,
    /// Never add --gpus all
    #[arg(long)]
    pub no_gpus: bool,
}

/// Write a new project's layout: base and release Dockerfiles, requirements, repro.toml.
#[derive(Debug, Args)]
#[command(
    long_about = "Write a new project's layout: base and release Dockerfiles, requirements, repro.toml.

The layout of the workflow: docker/Dockerfile.base (the environment: Python and the requirements, no code), docker/Dockerfile.release (the base plus a COPY of the code), requirements.txt, CODE/train.py, .dockerignore, .gitignore and repro.toml. `docker repro check` finds nothing in it, and `docker repro release` cuts it once committed. A file that exists is never overwritten: it is kept and named. --cuda adds PyTorch (its Linux wheels bring CUDA 12.4).",
    after_help = "Exit codes: 0 written (or every file already there), 1 error, 125 usage.

Examples:
  docker repro init
  docker repro init paper --cuda
  docker repro init --image lab/curvenet --code curvenet --base python:3.12-slim-bookworm

Then:
  git init -q && git add -A && git commit -qm environment
  docker repro release"
)]
pub struct InitArgs {
    /// The project directory, made if missing [default: the current directory]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The image name [default: the directory's name]
    #[arg(long, value_name = "NAME")]
    pub image: Option<String>,
    /// The directory of the code, copied by the release [default: the image name's last part, with _ for -]
    #[arg(long, value_name = "DIR")]
    pub code: Option<String>,
    /// The image the environment starts from
    #[arg(long, value_name = "IMAGE", default_value = crate::project::scaffold::DEFAULT_BASE)]
    pub base: String,
    /// A GPU project: PyTorch and its CUDA 12.4 wheels in requirements.txt
    #[arg(long)]
    pub cuda: bool,
}

/// Lint Dockerfiles for what makes rebuilds differ, with a fix for each finding.
#[derive(Debug, Args)]
#[command(
    long_about = "Lint Dockerfiles for what makes rebuilds differ, with a fix for each finding, and \
say which images a build pulls.\n\n\
Fast and offline: reads the Dockerfile text only, with BuildKit's own parsing and variable \
expansion rules, for the stages the target (--target, else the last stage) needs. Rules: \
from-latest, from-unpinned (FROM, COPY --from and RUN --mount from= images without a digest), \
apt-without-snapshot (apt-get update in a RUN that installs a package without an exact pkg=ver \
pin), apt-unpinned, apt-cache-left, apt-logs-left, pip-unpinned (also VCS installs \
without a commit), pip-cache-left, uv-unlocked, conda-unlocked, conda-cache-left, \
python-without-sde (Python packages installed without ARG SOURCE_DATE_EPOCH in scope), \
compileall-without-epoch (python -m compileall without --invalidation-mode checked-hash or \
SOURCE_DATE_EPOCH), shell-redirect-version (an unquoted pip install numpy>=1.24, which the shell \
redirects), apk-unpinned, dnf-unpinned, npm-unlocked, gem-unpinned, git-clone-unpinned, \
download-no-checksum, add-url-no-checksum, curl-pipe-shell, build-time-content (the date, the host \
name, $RANDOM, uuidgen or a mktemp name written to a file), copy-all-without-dockerignore, \
dockerfile-invalid (BuildKit refuses the file).",
    after_help = "Exit codes: 0 no finding at or above --severity, 2 findings, 1 error (a Dockerfile that is not a regular file, or over 4 MiB), 125 usage, 130 interrupted.\n\nExamples:\n  docker repro check\n  docker repro check docker/Dockerfile.base --severity error\n  docker repro check Dockerfile --format json\n  docker repro check --format sarif > check.sarif\n  docker repro check --ignore apt-without-snapshot"
)]
pub struct CheckArgs {
    /// The Dockerfiles [default: docker/Dockerfile.base and docker/Dockerfile.release, else ./Dockerfile]
    #[arg(value_name = "DOCKERFILE")]
    pub dockerfiles: Vec<PathBuf>,
    /// The build context, where a .dockerignore would be [default: the project root]
    #[arg(long, value_name = "DIR")]
    pub context: Option<PathBuf>,
    /// Exit 2 when a finding is at or above this severity
    #[arg(long, value_enum, default_value_t = crate::check::Severity::Warning)]
    pub severity: crate::check::Severity,
    /// Output format on stdout; json is a list of {file, bases: [{line, ref, via}], error, findings: [{line, rule, severity, message, fix}], suppressed: [same, only when some are]}; sarif is a SARIF 2.1.0 log for code scanning
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
    /// Silence a rule (repeatable); its findings are counted as suppressed, never failing the check
    #[arg(long = "ignore", value_name = "RULE")]
    pub ignore: Vec<String>,
    /// A build argument, as for docker build (repeatable); it decides which images a build pulls
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// The stage to build; bases lists the images a build of it pulls [default: the last stage]
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// The platform of the build (TARGETPLATFORM, TARGETARCH...) [default: linux/amd64]
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
}

/// Explain what differs between two lockfiles, two images, or an image and a lock.
#[derive(Debug, Args)]
#[command(
    long_about = "Explain what differs between two lockfiles, two images, or an image and a lock.\n\n\
Each of A and B is a repro.lock, an OCI or docker-save archive, or an image in the engine (saved \
to a temporary file once). Two locks: what changed in git, build inputs, bases, builder, images \
and packages (added, removed, version changed). Two images: config differences, each layer \
identical or not with the instruction that made it, then, in the layers whose digests differ \
only, file by file (added, removed, content, mode, owner, mtime, symlink target, xattrs) with a \
cause and a fix for each class, ranked by the bytes they explain. An image against a lock reads \
the lock's release image from the engine by digest.",
    after_help = "Exit codes: 0 identical, 2 different, 1 error, 125 usage.\n\nExamples:\n  docker repro diff old/repro.lock repro.lock\n  docker repro diff curvenet:paper-v1 curvenet:paper-v2\n  docker repro diff paper-v1.oci.tar repro.lock --format json"
)]
pub struct DiffArgs {
    /// A lockfile, an archive, or an image
    pub a: String,
    /// A lockfile, an archive, or an image
    pub b: String,
    /// A path pattern whose differences are accepted noise (/var/log/**; repeatable)
    #[arg(long, value_name = "PATTERN")]
    pub ignore: Vec<String>,
    /// Of an image index of several platforms, compare this one (os/arch[/variant]) [default: this host's; an index of one image gives it]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<Platform>,
    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}
