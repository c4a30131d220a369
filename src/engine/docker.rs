//! The docker and buildx commands docker repro runs, with pure parsers for what they print.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::engine::process::{Deadline, LineSink, Options, ProcessError, Tool};
use crate::error::{Error, Result};
use crate::image::archive as layers;
use crate::image::oci::{self, Resolved};

pub struct Docker {
    tool: Tool,
    /// Read from the environment once, when docker is found: a bad value stops the command
    /// before anything runs.
    lookup: Deadline,
    transfer: Deadline,
}

/// A build log with every proxy URL and its credentials redacted, written back in place when
/// it held one.
fn redacted_log(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8_lossy(&bytes);
    let redacted = crate::engine::process::redact(&text, &crate::engine::process::proxy_values());
    if redacted != text {
        std::fs::write(path, &redacted).map_err(|e| Error::io(path, e))?;
    }
    Ok(redacted)
}

/// The last `max` bytes of `text` or fewer, cut at a character boundary.
fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// One `docker buildx build`, as plain data: the same spec gives the same argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    pub dockerfile: PathBuf,
    pub context: PathBuf,
    pub platform: String,
    pub target: String,
    pub builder: String,
    pub source_date_epoch: i64,
    pub args: BTreeMap<String, String>,
    /// Named contexts: the `FROM` reference as written, and what it is pinned to.
    pub pins: BTreeMap<String, String>,
    /// Where the OCI archive goes.
    pub output: PathBuf,
    /// Written into the archive's index so that `docker load` names the image.
    pub name: String,
    /// Cached layers keep the file times of the build that made them, and rewrite-timestamp
    /// only clamps times newer than SOURCE_DATE_EPOCH; a cache older than the commit would
    /// leave older times in the image. So release and rebuild run without the cache.
    pub use_cache: bool,
    pub inputs: BuildInputs,
    /// The layers' compression; zstd is forced on every layer, the base's included, so that
    /// the image does not depend on how BuildKit had cached them.
    pub compression: crate::lock::Compression,
    /// Whether BuildKit clamps the layers' file times (`rewrite-timestamp=true`); off when
    /// they are clamped after the build (`crate::image::retime`).
    pub rewrite_timestamp: bool,
    /// Whether BuildKit exports uncompressed (`compression=uncompressed`, nothing forced): the
    /// layers the build makes are then compressed once, by `crate::image::retime`, in the
    /// lock's compression, and layers it pulled or was given keep their blobs.
    pub export_uncompressed: bool,
    /// OCI annotations for every manifest, and the index of a multi-platform build.
    pub annotations: crate::image::annotations::Annotations,
    /// Whether BuildKit writes an OCI layout directory at `output` (`tar=false`) rather than
    /// an archive: it then leaves out every blob the directory holds already (measured on
    /// Docker 26 and 28), which is how a release is exported without its base's layers.
    pub output_directory: bool,
}

/// What a build is given besides its Dockerfile, context and arguments, as buildx takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInputs {
    /// `--secret` values (`id=ID,src=PATH`, `id=ID,env=VAR`), built from checked parts.
    pub secrets: Vec<String>,
    /// `--ssh` values (`default`, `ID=PATH`).
    pub ssh: Vec<String>,
    /// `host` or `none`; empty for buildx's default (no flag).
    pub network: String,
    /// `--add-host` values, `NAME:IP`.
    pub add_hosts: Vec<String>,
    /// The size of `/dev/shm` (`2g`); empty for buildx's default (no flag).
    pub shm_size: String,
    /// `--ulimit` values, `TYPE=SOFT[:HARD]`.
    pub ulimits: Vec<String>,
    /// Named contexts the user gave: NAME and what buildx reads, `docker-image://REF@DIGEST`
    /// or a directory's path. Never one of the same name as a pin.
    pub contexts: BTreeMap<String, String>,
    /// Proxy variables set in this environment, passed as `--build-arg NAME` without a value:
    /// buildx takes the value from its environment, so it is in no argv and no error message.
    pub proxies: Vec<String>,
}

/// What a build shows on stderr.
#[derive(Debug, Clone)]
pub enum BuildLog {
    /// Nothing (`--quiet`).
    Quiet,
    /// BuildKit's whole log, as buildx shows it.
    Full,
    /// BuildKit's plain log, line by line, to a sink (which shows one line per step).
    Lines(LineSink),
}

impl BuildSpec {
    pub fn argv(&self) -> Vec<String> {
        let compression = match self.compression {
            _ if self.export_uncompressed => ",compression=uncompressed",
            crate::lock::Compression::Gzip => "",
            crate::lock::Compression::Zstd => ",compression=zstd,force-compression=true",
        };
        let rewrite = if self.rewrite_timestamp {
            ",rewrite-timestamp=true"
        } else {
            ""
        };
        let directory = if self.output_directory {
            ",tar=false"
        } else {
            ""
        };
        let mut output = format!(
            "type=oci,dest={}{directory}{rewrite},name={}{compression}",
            self.output.to_string_lossy(),
            self.name
        );
        for field in self.annotations.output_fields(self.platform.contains(',')) {
            output.push(',');
            output.push_str(&field);
        }
        self.argv_to(output)
    }

    /// The build with its image stored in the engine under `name` (`type=docker`, what
    /// `--load` does), not written to `output`: for an image that is run here, never locked.
    pub fn engine_argv(&self) -> Vec<String> {
        self.argv_to(format!("type=docker,name={}", self.name))
    }

    fn argv_to(&self, output: String) -> Vec<String> {
        let mut argv: Vec<String> = vec!["buildx".into(), "build".into()];
        if !self.builder.is_empty() {
            argv.extend(["--builder".into(), self.builder.clone()]);
        }
        argv.extend([
            "--file".into(),
            self.dockerfile.to_string_lossy().into_owned(),
            "--platform".into(),
            self.platform.clone(),
            "--provenance=false".into(),
            "--sbom=false".into(),
        ]);
        if !self.use_cache {
            argv.push("--no-cache".into());
        }
        argv.extend([
            "--build-arg".into(),
            format!("SOURCE_DATE_EPOCH={}", self.source_date_epoch),
        ]);
        for (key, value) in &self.args {
            argv.extend(["--build-arg".into(), format!("{key}={value}")]);
        }
        for name in &self.inputs.proxies {
            argv.extend(["--build-arg".into(), name.clone()]);
        }
        for secret in &self.inputs.secrets {
            argv.extend(["--secret".into(), secret.clone()]);
        }
        for ssh in &self.inputs.ssh {
            argv.extend(["--ssh".into(), ssh.clone()]);
        }
        if !self.inputs.network.is_empty() {
            argv.extend(["--network".into(), self.inputs.network.clone()]);
        }
        for host in &self.inputs.add_hosts {
            argv.extend(["--add-host".into(), host.clone()]);
        }
        if !self.inputs.shm_size.is_empty() {
            argv.extend(["--shm-size".into(), self.inputs.shm_size.clone()]);
        }
        for limit in &self.inputs.ulimits {
            argv.extend(["--ulimit".into(), limit.clone()]);
        }
        for (name, target) in self.inputs.contexts.iter().chain(&self.pins) {
            argv.extend(["--build-context".into(), format!("{name}={target}")]);
        }
        if !self.target.is_empty() {
            argv.extend(["--target".into(), self.target.clone()]);
        }
        argv.extend([
            "--output".into(),
            output,
            "--".into(),
            self.context.to_string_lossy().into_owned(),
        ]);
        argv
    }
}

/// One image to load from an archive: the manifest `digest` a lock names, and its tags (the
/// first is the name it is loaded under).
#[derive(Debug, Clone)]
pub struct VerifiedLoad {
    pub archive: PathBuf,
    pub digest: String,
    /// The image index this manifest is one platform of (a multi-platform lock): the index is
    /// loaded, under the tags, and becomes the image ID.
    pub index: Option<String>,
    pub tags: Vec<String>,
}

/// What `docker info` lists as the driver type of an engine with the containerd image store.
const CONTAINERD_SNAPSHOTTER: &str = "io.containerd.snapshotter.v1";

/// Versions and driver of the engine and builder, recorded in the lock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuilderFacts {
    pub client: String,
    pub engine: String,
    pub engine_platform: String,
    pub buildx: String,
    pub buildkit: String,
    pub driver: String,
    pub name: String,
    /// The engine's containerd, as `docker version` names it.
    pub containerd: String,
    /// The Go version dockerd was built with: gzip's bytes depend on it (compress/flate).
    pub engine_go: String,
}

impl BuilderFacts {
    /// Why the lock has no real BuildKit version, when the builder does not say it: `None` when
    /// it does. A distribution's dockerd (Debian's, Ubuntu's) is built without BuildKit's
    /// version stamp, answers `v0.0.0+unknown`, and may carry fixes taken from other BuildKit
    /// releases, so no version can be told from outside; the engine's package version pins it.
    pub fn buildkit_note(&self) -> Option<String> {
        let version = self.buildkit.strip_prefix('v').unwrap_or(&self.buildkit);
        let known = version
            .split(['.', '-', '+'])
            .take(2)
            .map(|p| p.parse::<u32>().unwrap_or(0))
            .any(|n| n > 0);
        if known {
            return None;
        }
        let what = if self.buildkit.is_empty() {
            "no version".to_string()
        } else {
            self.buildkit.clone()
        };
        Some(if self.driver == "docker" {
            format!("not reported: the BuildKit built into this dockerd answers {what} (a distribution's build, without BuildKit's version stamp, maybe with fixes from other BuildKit releases); docker_engine and engine_go name the build")
        } else {
            format!("not reported: the builder answers {what}")
        })
    }

    /// Whether this builder's BuildKit exports the layers of a base pinned as a named context
    /// again. Before BuildKit 0.24 (its Dockerfile frontend before 1.18, moby/buildkit
    /// 986ff4e87) a base given as a named context reaches the exporter without its config, so
    /// rewrite-timestamp cannot tell the base's layers from the build's and rewrites them all:
    /// the same bytes come out, after about as long again as the base's own export. `None`
    /// when the builder does not say its version (a distribution's build says `v0.0.0+unknown`).
    pub fn rewrites_pinned_base_layers(&self) -> Option<bool> {
        let version = self.buildkit.strip_prefix('v').unwrap_or(&self.buildkit);
        let mut parts = version.split(['.', '-', '+']);
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts.next()?.parse().ok()?;
        if (major, minor) == (0, 0) {
            return None;
        }
        Some((major, minor) < (0, 24))
    }
}

impl Docker {
    pub fn new(globals: Vec<String>) -> Result<Self> {
        let tool = Tool::find(
            "docker",
            "install the docker CLI (see https://docs.docker.com/engine/install/)",
        )?;
        Ok(Docker {
            tool: tool.with_prefix(globals),
            lookup: Deadline::lookup()?,
            transfer: Deadline::transfer("a docker pull or push")?,
        })
    }

    pub fn facts(&self, builder: &str) -> Result<BuilderFacts> {
        let version = self.tool.run(&["version", "--format", "{{json .}}"]).map_err(|e| match e {
            ProcessError::Failed { stderr, .. } => Error::Failed(format!(
                "cannot reach the Docker engine ({}); start it (`systemctl start docker`, or see scripts/testbed.sh) or pick a context with `docker --context NAME repro`",
                stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no answer").trim()
            )),
            other => other.into(),
        })?;
        let mut facts = parse_version_json(&version.stdout)?;
        let buildx = self.tool.run(&["buildx", "version"]).map_err(|_| {
            Error::Failed("docker buildx is not installed; install it (apt-get install docker-buildx, or docker-buildx-plugin)".into())
        })?;
        facts.buildx = parse_buildx_version(&buildx.stdout_text());
        let mut args = vec!["buildx", "inspect"];
        if !builder.is_empty() {
            args.extend(["--", builder]);
        }
        let inspect = self.tool.run(&args)?;
        let (name, driver, buildkit) = parse_buildx_inspect(&inspect.stdout_text());
        facts.name = name;
        facts.driver = driver;
        facts.buildkit = buildkit;
        Ok(facts)
    }

    /// Resolves a reference in its registry (never the local engine). The inner `Err` is the
    /// registry's own answer (no such image, access refused, no such platform); the outer one
    /// means the registry could not be asked (unreachable, interrupted), which is never an
    /// answer about the image.
    pub fn resolve(
        &self,
        reference: &str,
        platform: &str,
    ) -> Result<std::result::Result<Resolved, String>> {
        let raw = match self.raw(reference)? {
            Ok(raw) => raw,
            Err(why) => return Ok(Err(why)),
        };
        Ok(oci::resolve_raw(&raw, platform).map_err(|e| format!("{reference} {e}")))
    }

    /// The bytes of the manifest or index a reference names in its registry, as the registry
    /// sent them (never the local engine); the inner and outer errors as for [`Docker::resolve`].
    pub fn raw(&self, reference: &str) -> Result<std::result::Result<Vec<u8>, String>> {
        let opts = Options {
            deadline: Some(self.lookup),
            ..Default::default()
        };
        let raw = match self.tool.run_with(
            &["buildx", "imagetools", "inspect", "--raw", "--", reference],
            &opts,
        ) {
            Ok(raw) => raw,
            // No answer in time is no answer about the image, as an unreachable registry is.
            Err(e @ ProcessError::TimedOut { .. }) => return Err(Error::Failed(e.to_string())),
            Err(ProcessError::Failed { stderr, .. })
                if registry_answer(&stderr, reference) == RegistryAnswer::Absent =>
            {
                return Ok(Err(format!("{reference}: {}", last_line(&stderr))))
            }
            Err(ProcessError::Failed { stderr, .. })
                if registry_answer(&stderr, reference) == RegistryAnswer::Denied =>
            {
                return Err(Error::Failed(format!(
                    "the registry would not say whether it has {reference} ({}); `docker login` to that registry with an account that may read it (or pass --offline where the command has it)",
                    last_line(&stderr)
                )))
            }
            Err(ProcessError::Failed { stderr, .. }) => {
                return Err(Error::Failed(format!(
                    "could not ask the registry about {reference}: {}; check the network and the registry (or pass --offline where the command has it)",
                    last_line(&stderr)
                )))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Ok(raw.stdout))
    }

    /// The image configs of `pinned` (`REPO@DIGEST`) in its registry: one for a manifest, one
    /// per platform for an index, as buildx reads them (the JSON of Go's image type).
    pub fn image_configs(&self, pinned: &str) -> Result<Vec<serde_json::Value>> {
        let opts = Options {
            deadline: Some(self.lookup),
            ..Default::default()
        };
        let out = match self.tool.run_with(
            &[
                "buildx",
                "imagetools",
                "inspect",
                "--format",
                "{{json .Image}}",
                "--",
                pinned,
            ],
            &opts,
        ) {
            Ok(out) => out,
            Err(ProcessError::Failed { stderr, .. }) => {
                return Err(Error::Failed(format!(
                    "the registry did not give it ({}); check the network and the registry",
                    last_line(&stderr)
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            Error::Failed(format!(
                "`docker buildx imagetools inspect` printed no JSON ({e})"
            ))
        })?;
        image_configs_of(parsed).ok_or_else(|| {
            Error::Failed("`docker buildx imagetools inspect` printed no image config".into())
        })
    }

    /// The engine's `os/arch` (what it runs without `--platform`).
    pub fn engine_platform(&self) -> Result<String> {
        let out = self
            .tool
            .run(&["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"])?;
        let platform = out.stdout_text();
        platform
            .parse::<crate::image::platform::Platform>()
            .map(|_| platform.clone())
            .map_err(|_| {
                Error::Failed(format!(
                    "the Docker engine named its platform {}, not os/arch; check `docker version`",
                    crate::error::quote(&platform)
                ))
            })
    }

    /// Whether a build with the builder of `facts` reads the engine's own content store, so
    /// that it can take an image's layers there by digest: buildx's `docker` driver (BuildKit
    /// inside dockerd) on an engine with the containerd image store. The classic store keeps
    /// layers where BuildKit does not look, and a `docker-container` builder has a store of
    /// its own.
    pub fn builder_reads_engine_store(&self, facts: &BuilderFacts) -> Result<bool> {
        if facts.driver != "docker" {
            return Ok(false);
        }
        let out = self.tool.run(&[
            "info",
            "--format",
            "{{range .DriverStatus}}{{index . 1}} {{end}}",
        ])?;
        Ok(out
            .stdout_text()
            .split_whitespace()
            .any(|v| v == CONTAINERD_SNAPSHOTTER))
    }

    /// The ID of a local image. `Ok(None)` only when the engine answered that it has no such
    /// image: an engine that cannot be reached is an error, never a missing image.
    pub fn image_id(&self, reference: &str) -> Result<Option<String>> {
        match self
            .tool
            .run(&["image", "inspect", "--format", "{{.Id}}", "--", reference])
        {
            Ok(out) => Ok(Some(out.stdout_text())),
            Err(ProcessError::Failed { stderr, .. })
                if stderr.to_ascii_lowercase().contains("no such image")
                    || stderr.to_ascii_lowercase().contains("no such object") =>
            {
                Ok(None)
            }
            Err(ProcessError::Failed { stderr, .. }) => Err(Error::Failed(format!(
                "cannot ask the Docker engine about {reference} ({}); start it (`systemctl start docker`, or see scripts/testbed.sh) or pick a context with `docker --context NAME repro`",
                last_line(&stderr)
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub fn build(&self, spec: &BuildSpec, log: BuildLog) -> Result<()> {
        self.build_argv(spec, spec.argv(), log)
    }

    /// [`Docker::build`] into the engine: see [`BuildSpec::engine_argv`]. A build that fails
    /// tags nothing.
    pub fn build_into_engine(&self, spec: &BuildSpec, log: BuildLog) -> Result<()> {
        self.build_argv(spec, spec.engine_argv(), log)
    }

    fn build_argv(&self, spec: &BuildSpec, mut argv: Vec<String>, log: BuildLog) -> Result<()> {
        let mut opts = Options {
            env: vec![(
                "SOURCE_DATE_EPOCH".into(),
                spec.source_date_epoch.to_string(),
            )],
            ..Default::default()
        };
        match log {
            BuildLog::Quiet => argv.insert(2, "--quiet".into()),
            BuildLog::Full => opts.show_stderr = true,
            BuildLog::Lines(sink) => {
                // Plain, so that each step starts a line of its own even on a terminal.
                argv.insert(2, "--progress=plain".into());
                opts.stderr_lines = Some(sink);
            }
        }
        // A failed build's stderr can quote a proxy URL and its password: the process module
        // redacts them from every command's stderr.
        self.tool.run_with(&argv, &opts)?;
        Ok(())
    }

    /// [`Docker::build`] with buildx's plain progress written to a log file (shown as it is
    /// written, unless `quiet`): a failure is one line naming the failing step, the cause when
    /// its output tells it, and the log, which is kept (proxy credentials redacted) as the only
    /// thing left behind; after a success the log is removed.
    pub fn build_logged(&self, spec: &BuildSpec, quiet: bool) -> Result<()> {
        let log = tempfile::Builder::new()
            .prefix("docker-repro-build-")
            .suffix(".log")
            .tempfile()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let opts = Options {
            env: vec![(
                "SOURCE_DATE_EPOCH".into(),
                spec.source_date_epoch.to_string(),
            )],
            show_stderr: !quiet,
            stderr_file: Some(log.path().to_path_buf()),
            ..Default::default()
        };
        let mut argv = spec.argv();
        argv.insert(2, "--progress=plain".into());
        match self.tool.run_with(&argv, &opts) {
            Err(ProcessError::Failed { .. }) => {}
            done => return done.map(|_| ()).map_err(Error::from),
        }
        let text = redacted_log(log.path())?;
        let (step, cause) = crate::engine::buildlog::read_failure(tail(&text, 1 << 20));
        let (_, path) = log
            .keep()
            .map_err(|e| Error::io(std::env::temp_dir(), e.error))?;
        Err(Error::Process(Box::new(
            crate::engine::buildlog::BuildFailure {
                name: crate::ui::escape(&spec.name).into_owned(),
                step,
                cause,
                log: path,
            },
        )))
    }

    /// `docker tag SOURCE TARGET`: `source` is an image ID or name the engine has.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        self.tool.run(&["tag", "--", source, target])?;
        Ok(())
    }

    /// `docker tag SOURCE TARGET`, run even after Ctrl-C: to put a tag back as it was when a
    /// release stops.
    pub fn tag_even_after_interrupt(&self, source: &str, target: &str) -> Result<()> {
        let opts = Options {
            cleanup: true,
            ..Default::default()
        };
        self.tool.run_with(&["tag", "--", source, target], &opts)?;
        Ok(())
    }

    /// Removes the tag `tag` (the image goes with its last tag); runs even after Ctrl-C, to put
    /// tags back as they were when a release stops.
    pub fn untag(&self, tag: &str) -> Result<()> {
        let opts = Options {
            cleanup: true,
            ..Default::default()
        };
        self.tool.run_with(&["image", "rm", "--", tag], &opts)?;
        Ok(())
    }

    /// Loads an OCI archive, whose index names the image `tags[0]`, and adds the other tags.
    pub fn load(&self, archive: &Path, tags: &[String]) -> Result<()> {
        self.tool
            .run(&["load", "--quiet", "--input", &archive.to_string_lossy()])?;
        for tag in tags.iter().skip(1) {
            self.tool.run(&["tag", "--", &tags[0], tag])?;
        }
        Ok(())
    }

    /// Loads the images of a stranger's archive that a lock names, each by its locked manifest
    /// digest, as its `tags[0]` plus the other tags and nothing else; see
    /// [`layers::write_verified_layout`]. The archive's own tags never reach the engine.
    /// A tag that already names another image is never moved: the name comes from a lock a
    /// stranger wrote, and could be one of the reviewer's own tags.
    pub fn load_verified(&self, images: &[VerifiedLoad]) -> Result<()> {
        for image in images {
            let id = image.index.as_ref().unwrap_or(&image.digest);
            for tag in &image.tags {
                if let Some(other) = self.image_id(tag)?.filter(|found| found != id) {
                    return Err(Error::Failed(format!(
                        "{} already names another image ({}); loading the locked image under that name would move it, so nothing was loaded. Remove or rename that tag first (docker rmi {})",
                        crate::ui::escape(tag),
                        crate::ui::escape(&other),
                        crate::ui::escape(tag)
                    )));
                }
            }
        }
        let dir = crate::scratch::work_dir("load")?;
        let copy = dir.path().join("image.tar");
        let layout: Vec<layers::LayoutImage> = images
            .iter()
            .map(|i| layers::LayoutImage {
                archive: &i.archive,
                select: layers::Select::Manifest(i.digest.clone()),
                name: i.tags[0].clone(),
                index: i.index.clone(),
            })
            .collect();
        layers::write_verified_layout(&copy, &layout).map_err(|e| match e {
            layers::ScanError::Interrupted => Error::Interrupted,
            other => Error::Failed(format!(
                "{}: {other}; nothing was loaded",
                images
                    .first()
                    .map(|i| i.archive.display().to_string())
                    .unwrap_or_default()
            )),
        })?;
        self.tool
            .run(&["load", "--quiet", "--input", &copy.to_string_lossy()])?;
        for image in images {
            for tag in image.tags.iter().skip(1) {
                self.tool.run(&["tag", "--", &image.tags[0], tag])?;
            }
        }
        Ok(())
    }

    fn transfer(&self) -> Options {
        Options {
            deadline: Some(self.transfer),
            ..Default::default()
        }
    }

    pub fn pull(&self, reference: &str) -> Result<()> {
        self.tool
            .run_with(&["pull", "--quiet", "--", reference], &self.transfer())?;
        Ok(())
    }

    /// `docker run ...` with the terminal's stdio; the container's exit status.
    pub fn run_attached(&self, argv: &[String]) -> std::result::Result<i32, ProcessError> {
        self.tool.run_attached(argv)
    }

    /// Stops and removes a container; runs even after Ctrl-C, which is when it is needed.
    pub fn remove_container(&self, name: &str) -> Result<()> {
        let opts = Options {
            cleanup: true,
            ..Default::default()
        };
        self.tool.run_with(&["rm", "--force", "--", name], &opts)?;
        Ok(())
    }

    /// `docker save -o FILE IMAGE`.
    pub fn save_to(&self, reference: &str, file: &Path) -> Result<()> {
        self.tool
            .run(&["save", "--output", &file.to_string_lossy(), "--", reference])?;
        Ok(())
    }

    /// `docker save IMAGE` as a stream to read.
    pub fn save(&self, reference: &str) -> Result<crate::engine::process::Stream> {
        Ok(self.tool.stream(&["save", "--", reference])?)
    }

    /// The registry image `pinned` (`REPO@DIGEST` of one platform's manifest) as `builder`
    /// holds it, streamed as an OCI archive: a build of `FROM pinned` alone, from the empty
    /// directory `context`, whose layers are the blobs BuildKit pulled (nothing is compressed
    /// again, nothing is forced). Started beside a build on that image, it shares that build's
    /// pull: the image is fetched from its registry once.
    pub fn export_pulled(
        &self,
        pinned: &str,
        platform: &str,
        builder: &str,
        context: &Path,
    ) -> Result<crate::engine::process::Stream> {
        let argv = export_pulled_argv(platform, builder, context);
        let dockerfile = format!("FROM {pinned}\n").into_bytes();
        let opts = Options {
            stoppable: true,
            ..Default::default()
        };
        Ok(self.tool.stream_with(&argv, &opts, Some(dockerfile))?)
    }

    /// Pushes `reference`. A push the registry failed with a server error (5xx) is tried
    /// again, [`PUSH_TRIES`] times in all, and `retrying` is told the status each time: a push
    /// is idempotent, and a registry can fail one of the requests a push makes at once (Docker
    /// 26, through containerd 1.7's pusher, sends every manifest of an index to the tag
    /// together, and distribution 2.8 rewrites a tag's link file in place, so a read of the tag
    /// between the truncate and the write fails with a 500).
    pub fn push(&self, reference: &str, retrying: &dyn Fn(u16, u32)) -> Result<()> {
        let argv = ["push", "--quiet", "--", reference];
        let mut tries = 1;
        loop {
            let failure = match self.tool.run_with(&argv, &self.transfer()) {
                Ok(_) => return Ok(()),
                Err(failure) => failure,
            };
            let status = match &failure {
                ProcessError::Failed { stderr, .. } => registry_server_error(stderr),
                _ => None,
            };
            match status {
                Some(status) if tries < PUSH_TRIES => {
                    retrying(status, PUSH_TRIES - tries);
                    std::thread::sleep(PUSH_PAUSE * tries);
                    if crate::engine::process::interrupted() {
                        return Err(Error::Interrupted);
                    }
                    tries += 1;
                }
                _ => return Err(failure.into()),
            }
        }
    }
}

/// How many times a push is tried in all when its registry answers with a server error.
pub const PUSH_TRIES: u32 = 3;

/// The pause before a push's second try (twice that before its third): a registry that failed
/// a request gets a moment. Short in unit tests, which try on a fake docker.
#[cfg(not(test))]
const PUSH_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);
#[cfg(test)]
const PUSH_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

/// The server error (5xx) a registry answered a failed push's request with, from what docker
/// printed: containerd's "unexpected status from HEAD request to URL: 500 Internal Server
/// Error", or the classic store's "received unexpected HTTP status: 502 Bad Gateway". A port
/// in the URL (`:5000/`) is not a status: the status follows ": ".
pub fn registry_server_error(stderr: &str) -> Option<u16> {
    stderr
        .lines()
        .filter(|line| line.to_ascii_lowercase().contains("unexpected"))
        .flat_map(|line| line.match_indices(": ").map(move |(at, _)| &line[at + 2..]))
        .find_map(|after| {
            let code = after.get(..3)?;
            let ends = matches!(after[3..].chars().next(), None | Some(' '));
            let status: u16 = code.parse().ok()?;
            ((500..600).contains(&status) && ends && code.bytes().all(|b| b.is_ascii_digit()))
                .then_some(status)
        })
}

/// What a failed registry lookup means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryAnswer {
    /// The registry answered: no such image.
    Absent,
    /// The registry refused to answer without credentials (or with these): the image may well
    /// be there, so this is no answer about it either.
    Denied,
    /// The registry was not reached, or said something else: nothing is known of the image.
    NoAnswer,
}

/// Classifies the stderr of a failed `docker buildx imagetools inspect`. Anything that is
/// not plainly the registry's "not found" counts as no answer (a refusal to say, too), so that a network
/// failure can never be reported as a missing image.
pub fn registry_answer(stderr: &str, reference: &str) -> RegistryAnswer {
    // The words are looked for in what the registry and buildx said, not in the names they
    // quote: a repository called `lab/access-denied-study` must not read as "denied". URLs
    // go, and so does the reference, whole and as its repository.
    let repository = crate::image::reference::repository(reference);
    let said: Vec<&str> = stderr
        .split_whitespace()
        .filter(|w| !w.contains("://"))
        .collect();
    let mut text = said.join(" ");
    for name in [reference, repository] {
        if !name.is_empty() {
            text = text.replace(name, " ");
        }
    }
    let text = text.to_ascii_lowercase();
    let network = [
        "dial tcp",
        "connection refused",
        "no such host",
        "i/o timeout",
        "tls:",
        "x509",
        "proxyconnect",
        "connection reset",
        "network is unreachable",
        "deadline exceeded",
    ];
    if network.iter().any(|n| text.contains(n)) {
        return RegistryAnswer::NoAnswer;
    }
    let denied = ["unauthorized", "denied", "insufficient_scope", "forbidden"];
    if denied.iter().any(|d| text.contains(d)) {
        return RegistryAnswer::Denied;
    }
    let absent = [
        ": not found",
        "manifest unknown",
        "name unknown",
        "manifest_unknown",
        "name_unknown",
    ];
    if absent.iter().any(|a| text.contains(a)) {
        RegistryAnswer::Absent
    } else {
        RegistryAnswer::NoAnswer
    }
}

/// The argv of [`Docker::export_pulled`]: the Dockerfile on stdin, the archive on stdout,
/// BuildKit's plain log on stderr (`--quiet` could print an image ID into the archive).
fn export_pulled_argv(platform: &str, builder: &str, context: &Path) -> Vec<String> {
    let mut argv: Vec<String> = vec!["buildx".into(), "build".into()];
    if !builder.is_empty() {
        argv.extend(["--builder".into(), builder.into()]);
    }
    argv.extend([
        "--progress=plain".into(),
        "--file".into(),
        "-".into(),
        "--platform".into(),
        platform.into(),
        "--provenance=false".into(),
        "--sbom=false".into(),
        "--output".into(),
        "type=oci,dest=-,compression=uncompressed".into(),
        "--".into(),
        context.to_string_lossy().into_owned(),
    ]);
    argv
}

/// The configs in what `imagetools inspect --format '{{json .Image}}'` prints: one config (it
/// has `rootfs`), or an object of configs by platform.
fn image_configs_of(parsed: serde_json::Value) -> Option<Vec<serde_json::Value>> {
    match parsed {
        config @ serde_json::Value::Object(_) if config.get("rootfs").is_some() => {
            Some(vec![config])
        }
        serde_json::Value::Object(by_platform) => {
            let configs: Vec<serde_json::Value> = by_platform
                .into_iter()
                .map(|(_, config)| config)
                .filter(|config| config.get("rootfs").is_some())
                .collect();
            (!configs.is_empty()).then_some(configs)
        }
        _ => None,
    }
}

fn last_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no answer");
    let line: String = line.chars().take(300).collect();
    crate::ui::escape(&line).into_owned()
}

fn parse_version_json(stdout: &[u8]) -> Result<BuilderFacts> {
    let v: serde_json::Value = serde_json::from_slice(stdout).map_err(|e| {
        Error::Failed(format!(
            "`docker version` printed no JSON ({e}); is this a Docker CLI?"
        ))
    })?;
    let s = |p: &str| {
        v.pointer(p)
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string()
    };
    // The lock records the engine that built a release; an answer without the engine's version
    // (no `Server`, as from an API proxy or a CLI that reached no engine) cannot say it.
    let engine = s("/Server/Version");
    if engine.trim().is_empty() {
        return Err(Error::Failed(
            "the Docker engine did not say its version (`docker version` has no Server.Version), which the lock records; point docker at a Docker engine (DOCKER_HOST, `docker context use`) and check `docker version`".into(),
        ));
    }
    let containerd = v
        .pointer("/Server/Components")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .find(|c| c.get("Name").and_then(|n| n.as_str()) == Some("containerd"))
        .and_then(|c| c.get("Version"))
        .and_then(|x| x.as_str())
        .unwrap_or("")
        .to_string();
    Ok(BuilderFacts {
        client: s("/Client/Version"),
        engine,
        engine_platform: format!("{}/{}", s("/Server/Os"), s("/Server/Arch")),
        containerd,
        engine_go: s("/Server/GoVersion"),
        ..Default::default()
    })
}

/// `github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3` → `0.13.1+ds1`.
pub fn parse_buildx_version(text: &str) -> String {
    text.split_whitespace()
        .nth(1)
        .unwrap_or("unknown")
        .to_string()
}

/// The builder's name, driver and BuildKit version from `docker buildx inspect`.
pub fn parse_buildx_inspect(text: &str) -> (String, String, String) {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    (field("Name:"), field("Driver:"), field("BuildKit version:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_server_error_is_read_from_what_docker_printed() {
        let containerd = "failed to push 127.0.0.1:5000/lab/exp:1: unexpected status from HEAD request to http://127.0.0.1:5000/v2/lab/exp/manifests/1: 500 Internal Server Error";
        assert_eq!(registry_server_error(containerd), Some(500));
        let classic = "received unexpected HTTP status: 502 Bad Gateway";
        assert_eq!(registry_server_error(classic), Some(502));
        assert_eq!(registry_server_error("unexpected status: 503"), Some(503));
        // Not a server error: the registry refused, or did not find, or a port looks like one.
        let refused = "unexpected status from PUT request to http://127.0.0.1:5000/v2/x/blobs/uploads/: 401 Unauthorized";
        assert_eq!(registry_server_error(refused), None);
        let port = "unexpected status from HEAD request to http://lab:5000/v2/x/manifests/1: 404 Not Found";
        assert_eq!(registry_server_error(port), None);
        assert_eq!(registry_server_error("denied: 500 MB quota exceeded"), None);
        assert_eq!(registry_server_error("unexpected status: 5000 parts"), None);
        assert_eq!(registry_server_error(""), None);
    }

    /// A docker whose first `fails` pushes print `message` and exit 1; each call is counted.
    fn docker_failing(fails: u32, message: &str) -> (tempfile::TempDir, Docker) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("calls");
        let script = format!(
            "#!/bin/sh\necho x >> '{}'\n[ $(wc -l < '{}') -gt {fails} ] && exit 0\necho '{message}' >&2\nexit 1\n",
            count.display(),
            count.display()
        );
        let path = dir.path().join("docker");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let docker = Docker {
            tool: Tool::at(&path, "docker"),
            lookup: Deadline::lookup().unwrap(),
            transfer: Deadline::transfer("a push").unwrap(),
        };
        (dir, docker)
    }

    fn calls(dir: &tempfile::TempDir) -> usize {
        std::fs::read_to_string(dir.path().join("calls"))
            .unwrap()
            .lines()
            .count()
    }

    const SERVER_ERROR: &str =
        "unexpected status from HEAD request to http://lab/v2/x/manifests/1: 500 Internal Server Error";

    #[test]
    fn a_push_the_registry_failed_with_a_server_error_is_tried_again() {
        let (dir, docker) = docker_failing(2, SERVER_ERROR);
        let told = std::sync::Mutex::new(Vec::new());
        docker
            .push("lab/x:1", &|status, left| {
                told.lock().unwrap().push((status, left))
            })
            .unwrap();
        assert_eq!(calls(&dir), 3);
        assert_eq!(*told.lock().unwrap(), [(500, 2), (500, 1)]);
    }

    #[test]
    fn a_push_fails_after_its_last_try_with_the_registry_answer() {
        let (dir, docker) = docker_failing(PUSH_TRIES, SERVER_ERROR);
        let failure = docker.push("lab/x:1", &|_, _| {}).unwrap_err().to_string();
        assert_eq!(calls(&dir), PUSH_TRIES as usize);
        assert!(failure.contains("500 Internal Server Error"), "{failure}");
    }

    #[test]
    fn a_push_refused_for_another_reason_is_tried_once() {
        let (dir, docker) = docker_failing(1, "unauthorized: authentication required");
        let told = std::sync::Mutex::new(0);
        let failure = docker
            .push("lab/x:1", &|_, _| *told.lock().unwrap() += 1)
            .unwrap_err()
            .to_string();
        assert_eq!((calls(&dir), *told.lock().unwrap()), (1, 0));
        assert!(failure.contains("unauthorized"), "{failure}");
    }

    #[test]
    fn export_pulled_reads_the_dockerfile_from_stdin_and_forces_no_compression() {
        let argv = export_pulled_argv("linux/amd64", "lab", Path::new("/w/empty"));
        assert_eq!(
            argv.join(" "),
            "buildx build --builder lab --progress=plain --file - --platform linux/amd64 \
             --provenance=false --sbom=false --output type=oci,dest=-,compression=uncompressed -- /w/empty"
        );
        assert!(!export_pulled_argv("linux/amd64", "", Path::new("/w"))
            .contains(&"--builder".to_string()));
    }

    #[test]
    fn build_argv_pins_bases_and_disables_attestations() {
        let spec = BuildSpec {
            dockerfile: "/w/docker/Dockerfile.base".into(),
            context: "/w".into(),
            platform: "linux/amd64".into(),
            target: "".into(),
            builder: "".into(),
            source_date_epoch: 1_700_000_000,
            args: [(
                "PIP_INDEX_URL".to_string(),
                "http://mirror/simple".to_string(),
            )]
            .into(),
            pins: [(
                "ubuntu:22.04".to_string(),
                "docker-image://ubuntu:22.04@sha256:ab".to_string(),
            )]
            .into(),
            output: "/tmp/out/base.tar".into(),
            name: "curvenet:base".into(),
            use_cache: false,
            compression: Default::default(),
            rewrite_timestamp: true,
            export_uncompressed: false,
            output_directory: false,
            inputs: BuildInputs::default(),
            annotations: Default::default(),
        };
        assert_eq!(
            spec.argv().join(" "),
            "buildx build --file /w/docker/Dockerfile.base --platform linux/amd64 --provenance=false --sbom=false --no-cache \
             --build-arg SOURCE_DATE_EPOCH=1700000000 --build-arg PIP_INDEX_URL=http://mirror/simple \
             --build-context ubuntu:22.04=docker-image://ubuntu:22.04@sha256:ab \
             --output type=oci,dest=/tmp/out/base.tar,rewrite-timestamp=true,name=curvenet:base -- /w"
        );
        let zstd = BuildSpec {
            compression: crate::lock::Compression::Zstd,
            ..spec
        };
        assert!(zstd.argv().join(" ").contains(
            "--output type=oci,dest=/tmp/out/base.tar,rewrite-timestamp=true,name=curvenet:base,compression=zstd,force-compression=true -- /w"
        ));
        let clamped_after = BuildSpec {
            rewrite_timestamp: false,
            ..zstd
        };
        assert!(clamped_after.argv().join(" ").ends_with(
            "--output type=oci,dest=/tmp/out/base.tar,name=curvenet:base,compression=zstd,force-compression=true -- /w"
        ));
        let compressed_after = BuildSpec {
            export_uncompressed: true,
            ..clamped_after.clone()
        };
        assert!(compressed_after.argv().join(" ").ends_with(
            "--output type=oci,dest=/tmp/out/base.tar,name=curvenet:base,compression=uncompressed -- /w"
        ));
        // A release's annotations: on every manifest, and on the index of several platforms.
        let annotated = BuildSpec {
            annotations: crate::image::annotations::Annotations::of_release("ab12", "", 1).unwrap(),
            ..compressed_after.clone()
        };
        assert!(annotated.argv().join(" ").ends_with(
            "compression=uncompressed,annotation.org.opencontainers.image.created=1970-01-01T00:00:01Z,annotation.org.opencontainers.image.revision=ab12 -- /w"
        ));
        let several = BuildSpec {
            platform: "linux/amd64,linux/arm64".into(),
            ..annotated
        };
        assert!(several
            .argv()
            .join(" ")
            .contains(",annotation-index.org.opencontainers.image.revision=ab12 -- /w"));
        let into_directory = BuildSpec {
            output_directory: true,
            ..compressed_after.clone()
        };
        assert!(into_directory.argv().join(" ").ends_with(
            "--output type=oci,dest=/tmp/out/base.tar,tar=false,name=curvenet:base,compression=uncompressed -- /w"
        ));
        // dev's base: the same build, cached, stored in the engine under its name.
        let dev = BuildSpec {
            use_cache: true,
            name: "curvenet:dev".into(),
            ..clamped_after
        };
        let argv = dev.engine_argv().join(" ");
        assert!(
            argv.ends_with("--output type=docker,name=curvenet:dev -- /w")
                && !argv.contains("--no-cache")
                && argv.contains("--build-arg SOURCE_DATE_EPOCH=1700000000"),
            "{argv}"
        );
    }

    #[test]
    fn build_inputs_are_flags_with_their_values_after_them_and_proxies_by_name_only() {
        let spec = BuildSpec {
            dockerfile: "/w/Dockerfile".into(),
            context: "/w".into(),
            platform: "linux/amd64".into(),
            target: "".into(),
            builder: "".into(),
            source_date_epoch: 1,
            args: BTreeMap::new(),
            pins: BTreeMap::new(),
            output: "/o.tar".into(),
            name: "x:base".into(),
            use_cache: false,
            compression: Default::default(),
            rewrite_timestamp: true,
            export_uncompressed: false,
            annotations: Default::default(),
            output_directory: false,
            inputs: BuildInputs {
                secrets: vec![
                    "id=pip_index,src=/k/pip.netrc".into(),
                    "id=tok,env=TOK".into(),
                ],
                ssh: vec!["default".into()],
                network: "none".into(),
                add_hosts: vec!["pypi.lab:10.0.0.5".into()],
                shm_size: "2g".into(),
                ulimits: vec!["memlock=-1".into(), "nofile=1024:4096".into()],
                contexts: [
                    (
                        "deps".to_string(),
                        "docker-image://r.lab/deps:1@sha256:ab".to_string(),
                    ),
                    ("data".to_string(), "/w/src/data".to_string()),
                ]
                .into(),
                proxies: vec!["HTTP_PROXY".into(), "no_proxy".into()],
            },
        };
        let argv = spec.argv().join(" ");
        assert!(
            argv.contains(
                "--build-arg SOURCE_DATE_EPOCH=1 --build-arg HTTP_PROXY --build-arg no_proxy \
                 --secret id=pip_index,src=/k/pip.netrc --secret id=tok,env=TOK --ssh default \
                 --network none --add-host pypi.lab:10.0.0.5 --shm-size 2g \
                 --ulimit memlock=-1 --ulimit nofile=1024:4096 \
                 --build-context data=/w/src/data \
                 --build-context deps=docker-image://r.lab/deps:1@sha256:ab --output"
            ),
            "{argv}"
        );
        assert!(argv.ends_with("-- /w"), "{argv}");
        // Each value is one argv item after its own flag, whatever it holds.
        let argv = spec.argv();
        for (flag, value) in [
            ("--shm-size", "2g"),
            ("--ulimit", "memlock=-1"),
            ("--build-context", "data=/w/src/data"),
        ] {
            let at = argv.iter().position(|a| a == value).unwrap();
            assert_eq!(argv[at - 1], flag);
        }
    }

    #[test]
    fn buildkit_before_0_24_rewrites_a_pinned_base_again() {
        let facts = |buildkit: &str| BuilderFacts {
            buildkit: buildkit.into(),
            ..BuilderFacts::default()
        };
        assert_eq!(facts("v0.13.2").rewrites_pinned_base_layers(), Some(true));
        assert_eq!(facts("v0.23.1").rewrites_pinned_base_layers(), Some(true));
        assert_eq!(facts("v0.24.0").rewrites_pinned_base_layers(), Some(false));
        assert_eq!(
            facts("v0.25.0-rc1").rewrites_pinned_base_layers(),
            Some(false)
        );
        assert_eq!(facts("v1.0.0").rewrites_pinned_base_layers(), Some(false));
        assert_eq!(facts("v0.0.0+unknown").rewrites_pinned_base_layers(), None);
        assert_eq!(facts("").rewrites_pinned_base_layers(), None);
    }

    #[test]
    fn engine_versions_come_from_docker_version() {
        // `docker version --format '{{json .}}'` of Debian sid's engine, cut to what is read.
        let json = br#"{"Client":{"Version":"28.2.2"},"Server":{"Components":[{"Name":"Engine","Version":"28.5.2+dfsg4"},{"Name":"containerd","Version":"2.1.9+unknown"},{"Name":"runc","Version":"1.3.6+ds1"}],"Version":"28.5.2+dfsg4","GoVersion":"go1.27.1","Os":"linux","Arch":"amd64"}}"#;
        let facts = parse_version_json(json).unwrap();
        assert_eq!(facts.client, "28.2.2");
        assert_eq!(facts.engine, "28.5.2+dfsg4");
        assert_eq!(facts.containerd, "2.1.9+unknown");
        assert_eq!(facts.engine_go, "go1.27.1");
        // An engine that names no containerd (or an older API) leaves the keys empty.
        let facts =
            parse_version_json(br#"{"Client":{"Version":"1"},"Server":{"Version":"2"}}"#).unwrap();
        assert_eq!(
            (facts.containerd.as_str(), facts.engine_go.as_str()),
            ("", "")
        );
    }

    #[test]
    fn a_builder_without_its_buildkit_version_says_why() {
        let facts = |buildkit: &str, driver: &str| BuilderFacts {
            buildkit: buildkit.into(),
            driver: driver.into(),
            ..BuilderFacts::default()
        };
        assert_eq!(facts("v0.13.2", "docker").buildkit_note(), None);
        assert_eq!(
            facts("v0.25.0-rc1", "docker-container").buildkit_note(),
            None
        );
        let note = facts("v0.0.0+unknown", "docker").buildkit_note().unwrap();
        assert!(
            note.starts_with(
                "not reported: the BuildKit built into this dockerd answers v0.0.0+unknown"
            ),
            "{note}"
        );
        assert_eq!(
            facts("", "remote").buildkit_note().as_deref(),
            Some("not reported: the builder answers no version")
        );
    }

    #[test]
    fn buildx_outputs() {
        assert_eq!(
            parse_buildx_version("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3\n"),
            "0.13.1+ds1"
        );
        let inspect = "Name:   default\nDriver: docker\n\nNodes:\nName:             default\nEndpoint:         default\nStatus:           running\nBuildKit version: v0.0.0+unknown\nPlatforms:        linux/amd64\n";
        assert_eq!(
            parse_buildx_inspect(inspect),
            ("default".into(), "docker".into(), "v0.0.0+unknown".into())
        );
    }

    #[test]
    fn an_engine_that_does_not_say_its_version_is_one_clear_error() {
        for json in [
            &br#"{"Client":{"Version":"28.2.2"},"Server":null}"#[..],
            br#"{"Client":{"Version":"28.2.2"},"Server":{"Version":" ","Os":"linux"}}"#,
            br#"{"Client":{"Version":"28.2.2"}}"#,
        ] {
            let err = parse_version_json(json).unwrap_err().to_string();
            assert!(
                err.starts_with("the Docker engine did not say its version (`docker version` has no Server.Version)"),
                "{err}"
            );
        }
    }

    #[test]
    fn version_json() {
        let json = br#"{"Client":{"Version":"28.2.2"},"Server":{"Version":"26.1.5+dfsg1","Os":"linux","Arch":"amd64"}}"#;
        let f = parse_version_json(json).unwrap();
        assert_eq!(
            (
                f.client.as_str(),
                f.engine.as_str(),
                f.engine_platform.as_str()
            ),
            ("28.2.2", "26.1.5+dfsg1", "linux/amd64")
        );
    }

    #[test]
    fn a_registry_failure_is_no_answer_whatever_the_repository_is_called() {
        let reference = "127.0.0.1:5000/lab/access-denied-study:1";
        let bad_gateway = "ERROR: failed to do request: Head \"http://127.0.0.1:5000/v2/lab/access-denied-study/manifests/1\": unexpected status 502 Bad Gateway";
        assert_eq!(
            registry_answer(bad_gateway, reference),
            RegistryAnswer::NoAnswer
        );
        let named = "ERROR: 127.0.0.1:5000/lab/unauthorized-name_unknown:1: 502 Bad Gateway";
        assert_eq!(
            registry_answer(named, "127.0.0.1:5000/lab/unauthorized-name_unknown:1"),
            RegistryAnswer::NoAnswer
        );
        let missing = format!("ERROR: {reference}: not found");
        assert_eq!(registry_answer(&missing, reference), RegistryAnswer::Absent);
        let denied = "ERROR: failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized";
        // A registry that wants credentials says nothing about the image: never "missing".
        assert_eq!(
            registry_answer(denied, "ghcr.io/lab/private:1"),
            RegistryAnswer::Denied
        );
        let refused = "ERROR: dial tcp 127.0.0.1:5000: connect: connection refused";
        assert_eq!(
            registry_answer(refused, reference),
            RegistryAnswer::NoAnswer
        );
    }
}
