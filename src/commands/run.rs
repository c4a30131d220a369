//! `docker repro run`: run the locked release image, by digest, on a host judged able to run
//! it, and leave a run record a reviewer can attach to a review.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::cli::RunArgs;
use crate::engine::docker::{Docker, VerifiedLoad};
use crate::engine::process::ProcessError;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::host::{self, HostReport};
use crate::image::oci::sha256_digest;
use crate::image::reference;
use crate::lock::{self, Lock, Role};
use crate::ops::tie;
use crate::ui::Ui;

pub const RECORD_FILE: &str = "repro-run.json";

#[derive(Serialize)]
struct RunRecord<'a> {
    image: &'a str,
    image_digest: &'a str,
    /// The platform run, of a multi-platform lock (absent for one platform).
    #[serde(skip_serializing_if = "str::is_empty")]
    platform: &'a str,
    /// The locked image index that `image_digest` was verified in (it lists that manifest for
    /// `platform` and the other locked manifests for theirs), of a multi-platform lock.
    #[serde(skip_serializing_if = "str::is_empty")]
    index_digest: &'a str,
    lock: String,
    lock_sha256: String,
    commit: &'a str,
    host: &'a HostReport,
    gpus: bool,
    /// The command run in the container; empty for the image's own.
    command: &'a [String],
    docker_argv: &'a [String],
    exit_status: Option<i32>,
    started: String,
    finished: String,
}

/// A path that goes into a `--mount` field. docker reads `--mount` as comma-separated
/// `key=value` fields (with CSV quoting), so a `,` `=` or `"` in a path could add fields of its
/// own, such as a second `source=`; control characters have no place in a path either.
pub fn check_mount_path(flag: &str, spec: &str, path: &str) -> Result<()> {
    match path
        .chars()
        .find(|c| matches!(c, ',' | '=' | '"') || c.is_control())
    {
        Some(c) => Err(Error::Usage(format!(
            "{flag} {}: {:?} cannot be part of a mounted path (docker would read it as a mount option); rename the directory",
            crate::ui::escape(spec),
            c
        ))),
        None => Ok(()),
    }
}

/// `--data DIR[:PATH]` → (absolute host dir, container path).
pub fn parse_data(spec: &str) -> Result<(PathBuf, String)> {
    let (dir, target) = match spec.rsplit_once(':') {
        Some((d, t)) if t.starts_with('/') => (d, t.to_string()),
        _ => {
            let name = Path::new(spec)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "data".into());
            (spec, format!("/data/{name}"))
        }
    };
    check_mount_path("--data", spec, dir)?;
    check_mount_path("--data", spec, &target)?;
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| Error::Usage(format!("--data {spec}: {dir}: {e}")))?;
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "--data {spec}: {} is not a directory",
            dir.display()
        )));
    }
    check_mount_path("--data", spec, &dir.to_string_lossy())?;
    Ok((dir, target))
}

/// The `docker run` argv: by digest, removed on exit, read-only data, a writable `/out`,
/// GPUs only when due. Pure; every path in it was checked by [`check_mount_path`].
pub fn run_argv(
    name: &str,
    use_gpus: bool,
    data: &[(PathBuf, String)],
    out: Option<&Path>,
    (image, platform): (&str, Option<&str>),
    command: &[String],
) -> Vec<String> {
    run_argv_with(
        name,
        use_gpus,
        data,
        out,
        (image, platform),
        command,
        &ContainerOptions::default(),
    )
}

/// The shared memory a container gets unless told otherwise. docker's own 64 MiB is what
/// PyTorch DataLoader workers die of ("Bus error"), since they pass batches through
/// `/dev/shm`; 8 GiB is a size, not a reservation (tmpfs takes pages only as written), and
/// keeps the container's IPC namespace its own, which `--ipc host` would not.
pub const DEFAULT_SHM_SIZE: &str = "8g";

/// How the container is run, besides what it runs: the options a deep-learning job needs.
#[derive(Debug, Default, Clone)]
pub struct ContainerOptions {
    /// `-it`: stdin kept open and a terminal, for an interactive shell or a progress bar.
    pub tty: bool,
    /// `--shm-size`; none leaves docker's default.
    pub shm_size: Option<String>,
    /// `--user UID:GID`, with `HOME=/tmp` so that a user the image does not know can write
    /// its caches.
    pub user: Option<String>,
    /// `--env KEY=VALUE`, each checked by [`parse_env`].
    pub env: Vec<String>,
    /// `--publish` specs, passed as one argv element each.
    pub publish: Vec<String>,
    /// `--mount` specs the user gave, each checked by [`parse_mount`].
    pub mounts: Vec<String>,
}

/// A `--mount` spec passed through to docker: one argv element with a target, and no control
/// characters (docker reads the fields itself; no shell ever sees it).
pub fn parse_mount(spec: &str) -> Result<String> {
    let has_target = spec.split(',').any(|field| {
        ["target=", "dst=", "destination="]
            .iter()
            .any(|key| field.trim_start().starts_with(key))
    });
    if has_target && !spec.chars().any(char::is_control) {
        Ok(spec.to_string())
    } else {
        Err(Error::Usage(format!(
            "--mount {}: expected a docker mount spec with a target, such as type=volume,source=cache,target=/root/.cache",
            crate::ui::escape(spec)
        )))
    }
}

/// `KEY=VALUE` for `--env`: a name docker can set (no `=` in it, not empty), and a value,
/// which may hold anything; it travels as one argv element, never through a shell.
pub fn parse_env(spec: &str) -> Result<String> {
    match spec.split_once('=') {
        Some((key, _)) if !key.is_empty() && !key.chars().any(|c| c.is_control() || c == ' ') => {
            Ok(spec.to_string())
        }
        _ => Err(Error::Usage(format!(
            "--env {}: expected KEY=VALUE, such as --env WANDB_MODE=offline",
            crate::ui::escape(spec)
        ))),
    }
}

/// The [`run_argv`] with the container's [`ContainerOptions`].
pub fn run_argv_with(
    name: &str,
    use_gpus: bool,
    data: &[(PathBuf, String)],
    out: Option<&Path>,
    (image, platform): (&str, Option<&str>),
    command: &[String],
    options: &ContainerOptions,
) -> Vec<String> {
    let mut argv: Vec<String> = vec!["run".into(), "--rm".into(), "--name".into(), name.into()];
    if let Some(platform) = platform {
        argv.extend(["--platform".into(), platform.into()]);
    }
    if use_gpus {
        argv.extend(["--gpus".into(), "all".into()]);
    }
    if options.tty {
        argv.extend(["--interactive".into(), "--tty".into()]);
    }
    if let Some(size) = &options.shm_size {
        argv.extend(["--shm-size".into(), size.clone()]);
    }
    if let Some(user) = &options.user {
        argv.extend([
            "--user".into(),
            user.clone(),
            "--env".into(),
            "HOME=/tmp".into(),
        ]);
    }
    for env in &options.env {
        argv.extend(["--env".into(), env.clone()]);
    }
    for publish in &options.publish {
        argv.extend(["--publish".into(), publish.clone()]);
    }
    for mount in &options.mounts {
        argv.extend(["--mount".into(), mount.clone()]);
    }
    for (dir, target) in data {
        argv.extend([
            "--mount".into(),
            format!(
                "type=bind,source={},target={target},readonly",
                dir.display()
            ),
        ]);
    }
    if let Some(out) = out {
        argv.extend([
            "--mount".into(),
            format!("type=bind,source={},target=/out", out.display()),
        ]);
    }
    argv.push("--".into());
    argv.push(image.into());
    argv.extend(command.iter().cloned());
    argv
}

pub fn run(args: &RunArgs, globals: Vec<String>) -> Result<Exit> {
    let ui = Ui { quiet: args.quiet };
    let lock_path = args
        .lock
        .clone()
        .unwrap_or_else(|| PathBuf::from(lock::DEFAULT_PATH));
    let (lock, lock_bytes) = read_lock(&lock_path)?;
    let mounts = args
        .data
        .iter()
        .map(|d| parse_data(d))
        .collect::<Result<Vec<_>>>()?;
    let out = out_dir(args.out.as_deref())?;
    let options = container_options(&args.container, out.is_some())?;
    let docker = Docker::new(globals)?;
    let release = release_for_host(&lock, &docker)?;
    let (image, verified) = locked_image(&docker, &lock, release, args, &ui)?;

    let (gpus_here, driver) = crate::engine::gpu::read_host();
    let host = host::judge(&lock, gpus_here, driver);
    if host.cannot_run() && !args.force {
        ui.warn(&host.line());
        return Err(Error::HostCannotRun(format!(
            "this host cannot run {}: {}; pass --force to try anyway",
            release.name,
            host.verdict.line()
        )));
    }
    let use_gpus = match (args.container.gpus, args.container.no_gpus) {
        (true, _) => true,
        (_, true) => false,
        _ => gpus_due(&host),
    };

    let name = format!("docker-repro-run-{}", std::process::id());
    let argv = run_argv_with(
        &name,
        use_gpus,
        &mounts,
        out.as_deref(),
        (
            &image,
            Some(release.platform.as_str()).filter(|p| verified && !p.is_empty()),
        ),
        &args.command,
        &options,
    );

    ui.progress(&format!(
        "{} ({})",
        host.line(),
        if use_gpus {
            "with --gpus all"
        } else {
            "without GPUs"
        }
    ));
    let (status, started, finished) = run_container(&docker, &name, &argv, &ui)?;
    let exit_status = status.as_ref().ok().copied();
    let record = RunRecord {
        image: &release.name,
        image_digest: &release.manifest_digest,
        platform: &release.platform,
        index_digest: &release.index_digest,
        lock: lock_path.display().to_string(),
        lock_sha256: sha256_digest(&lock_bytes),
        commit: &lock.source.commit,
        host: &host,
        gpus: use_gpus,
        command: &args.command,
        docker_argv: &argv,
        exit_status,
        started: humantime::format_rfc3339_seconds(started).to_string(),
        finished: humantime::format_rfc3339_seconds(finished).to_string(),
    };
    let record_path = out.as_deref().unwrap_or(Path::new(".")).join(RECORD_FILE);
    let json = serde_json::to_string_pretty(&record).expect("record serializes") + "\n";
    lock::write_atomic(&record_path, json.as_bytes())?;
    ui.progress(&format!("wrote {}", record_path.display()));
    match status {
        Ok(0) => Ok(Exit::Ok),
        Ok(code) => Ok(Exit::Command(code)),
        Err(e) => Err(e.into()),
    }
}

/// Whether the container gets `--gpus all`: the image needs CUDA and this host has an NVIDIA GPU
/// judged able to run it. Where the release was cut does not count: a release cut on a CPU-only
/// CI machine still needs the reviewer's GPU.
fn gpus_due(host: &HostReport) -> bool {
    host.image_cuda.is_some() && !host.gpus.is_empty() && !host.cannot_run()
}

/// The [`ContainerOptions`] of the flags: a terminal when stdin and stdout are ones, and, when
/// an output directory is mounted, the invoking user (`SUDO_UID`/`SUDO_GID` under sudo, else
/// this process's owner; none for root), so that what the job writes there is not root's.
pub fn container_options(
    args: &crate::cli::ContainerArgs,
    mounts_output: bool,
) -> Result<ContainerOptions> {
    use std::io::IsTerminal;
    let tty = args.tty
        || (!args.no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal());
    let user = match &args.user {
        Some(user) => Some(parse_user(user)?),
        None if mounts_output => invoking_user(),
        None => None,
    };
    Ok(ContainerOptions {
        tty,
        shm_size: Some(args.shm_size.clone()),
        user,
        env: args
            .env
            .iter()
            .map(|e| parse_env(e))
            .collect::<Result<_>>()?,
        publish: args.publish.clone(),
        mounts: args
            .mount
            .iter()
            .map(|m| parse_mount(m))
            .collect::<Result<_>>()?,
    })
}

/// `UID[:GID]`, numbers or names docker resolves in the image; nothing else.
pub fn parse_user(spec: &str) -> Result<String> {
    let part = |p: &str| {
        !p.is_empty()
            && !p.starts_with('-')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let ok = match spec.split_once(':') {
        Some((u, g)) => part(u) && part(g),
        None => part(spec),
    };
    if ok {
        Ok(spec.to_string())
    } else {
        Err(Error::Usage(format!(
            "--user {}: expected UID[:GID] such as --user 1000:1000",
            crate::ui::escape(spec)
        )))
    }
}

/// The user who asked for the run, as `UID:GID`: under sudo the one sudo names, else the
/// owner of this process; `None` for root, whose files are root's anyway.
fn invoking_user() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let number = |key: &str| {
        std::env::var(key)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    };
    if let (Some(uid), Some(gid)) = (number("SUDO_UID"), number("SUDO_GID")) {
        return (uid != "0").then(|| format!("{uid}:{gid}"));
    }
    let me = std::fs::metadata("/proc/self").ok()?;
    (me.uid() != 0).then(|| format!("{}:{}", me.uid(), me.gid()))
}

/// Runs the container attached, and when and how it ended. Ctrl-C stops and removes it (the
/// container outlives a killed client) and is an interruption, so that no record is written of
/// a run that did not finish and "nothing was written" is true.
#[allow(clippy::type_complexity)]
fn run_container(
    docker: &Docker,
    name: &str,
    argv: &[String],
    ui: &Ui,
) -> Result<(
    std::result::Result<i32, ProcessError>,
    SystemTime,
    SystemTime,
)> {
    let started = SystemTime::now();
    let status = docker.run_attached(argv);
    let finished = SystemTime::now();
    if let Err(ProcessError::Interrupted { .. }) = &status {
        ui.progress(&format!("stopping container {name}"));
        if let Err(e) = docker.remove_container(name) {
            ui.warn(&format!(
                "could not remove container {name} ({e}); remove it with `docker rm --force {name}`"
            ));
        }
        return Err(Error::Interrupted);
    }
    Ok((status, started, finished))
}

/// The lock, validated, and its bytes (the run record holds their sha256).
fn read_lock(lock_path: &Path) -> Result<(Lock, Vec<u8>)> {
    let lock_bytes = Lock::read_bytes(lock_path, "pass the paper's repro.lock")?;
    let lock = Lock::from_toml(&String::from_utf8_lossy(&lock_bytes), lock_path)?;
    Ok((lock, lock_bytes))
}

/// The `--out` directory, created and resolved, its path checked before anything is created:
/// `res,source=/x` must not even make a folder.
fn out_dir(dir: Option<&Path>) -> Result<Option<PathBuf>> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let spec = dir.to_string_lossy();
    check_mount_path("--out", &spec, &spec)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let resolved = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    check_mount_path("--out", &spec, &resolved.to_string_lossy())?;
    Ok(Some(resolved))
}

/// The release image this host runs: of a multi-platform lock, the manifest of the engine's
/// platform.
fn release_for_host<'a>(lock: &'a Lock, docker: &Docker) -> Result<&'a lock::Image> {
    if !lock.is_multi_platform() {
        return Ok(lock
            .image(Role::Release)
            .expect("a validated lock has a release image"));
    }
    let host = docker.engine_platform()?;
    lock.images
        .iter()
        .find(|i| i.role == Role::Release && same_platform(&host, &i.platform))
        .ok_or_else(|| {
            Error::Failed(format!(
                "this engine runs {host}, and the lock has the release for {} only; run it on a host of one of those platforms",
                lock.build.platform
            ))
        })
}

/// The image to run, and whether it is the locked one: by digest (the engine's ID for it is
/// the locked manifest digest), loaded from `--archive` or pulled when the engine lacks it;
/// else, with `--no-verify`, the lock's tag. Of a multi-platform lock, see
/// [`locked_platform_image`].
fn locked_image(
    docker: &Docker,
    lock: &Lock,
    release: &lock::Image,
    args: &RunArgs,
    ui: &Ui,
) -> Result<(String, bool)> {
    if !release.index_digest.is_empty() {
        return locked_platform_image(docker, lock, release, args, ui);
    }
    let digest = release.engine_digest();
    if docker.image_id(digest)?.is_none() {
        if let Some(archive) = &args.archive {
            ui.progress(&format!("checking and loading {}", archive.display()));
            docker.load_verified(&[VerifiedLoad {
                archive: archive.clone(),
                digest: release.manifest_digest.clone(),
                index: None,
                tags: vec![release.name.clone()],
            }])?;
        } else if reference::repository(&release.name).contains('/') {
            let pinned = reference::pinned(&release.name, digest);
            ui.progress(&format!("pulling {pinned}"));
            docker.pull(&pinned)?;
        }
    }
    if docker.image_id(digest)?.is_some() {
        return Ok((digest.to_string(), true));
    }
    if !args.no_verify {
        return Err(Error::Failed(format!(
            "the locked image {} ({digest}) is not in the engine and could not be pulled; load the paper's archive with --archive FILE, or pass --no-verify to run whatever {} is",
            release.name, release.name
        )));
    }
    Ok((release.name.clone(), false))
}

/// Of a multi-platform lock: the locked image index (from the engine, else `--archive`, else
/// its registry) tied to the lock first, since an index that lists another manifest for this
/// platform would run that one; then this platform's verified manifest, and nothing else,
/// made an image of its own, `name@MANIFEST`, which is what runs. The engine never picks a
/// manifest out of an index, so the run record's `image_digest` is what ran.
fn locked_platform_image(
    docker: &Docker,
    lock: &Lock,
    release: &lock::Image,
    args: &RunArgs,
    ui: &Ui,
) -> Result<(String, bool)> {
    let index = &release.index_digest;
    let manifest = &release.manifest_digest;
    let images = tie::role_images(lock, Role::Release);
    let pinned = reference::pinned(&release.name, manifest);
    let refuse = |why: String| {
        Error::Different(format!(
            "{}{}: {why}; nothing was run",
            release.name,
            release.on_platform()
        ))
    };
    let work = crate::scratch::work_dir("run")?;
    // Loaded once: a second run finds the manifest's own image, after the index is tied again.
    let load = |archive: &Path| -> Result<()> {
        if docker.image_id(&pinned)?.as_deref() == Some(manifest.as_str()) {
            return Ok(());
        }
        docker.load_verified(&[VerifiedLoad {
            archive: archive.to_path_buf(),
            digest: manifest.clone(),
            index: None,
            tags: vec![pinned.clone()],
        }])
    };
    if docker.image_id(index)?.is_some() {
        ui.progress(&format!("checking the locked image index {index}"));
        let saved = work.path().join("release.tar");
        docker.save_to(index, &saved)?;
        tie::in_archive(&saved, index, &images)?.map_err(refuse)?;
        load(&saved)?;
    } else if let Some(archive) = &args.archive {
        ui.progress(&format!("checking and loading {}", archive.display()));
        tie::in_archive(archive, index, &images)?.map_err(refuse)?;
        load(archive)?;
    } else if reference::repository(&release.name).contains('/') {
        ui.progress(&format!(
            "checking the locked image index {}",
            reference::pinned(&release.name, index)
        ));
        match tie::in_registry(docker, &release.name, index, &images)? {
            Ok(tied) => tied.map_err(refuse)?,
            Err(why) if args.no_verify => {
                ui.warn(&format!("the locked image is not here ({why}); running {} unverified (--no-verify)", release.name));
                return Ok((release.name.clone(), false));
            }
            Err(why) => {
                return Err(Error::Failed(format!(
                    "the locked image {} ({index}) is neither in the engine nor in its registry ({why}); load the paper's archive with --archive FILE, or pass --no-verify to run whatever {} is",
                    release.name, release.name
                )))
            }
        }
        if docker.image_id(&pinned)?.as_deref() != Some(manifest.as_str()) {
            ui.progress(&format!("pulling {pinned}"));
            docker.pull(&pinned)?;
        }
    } else if args.no_verify {
        return Ok((release.name.clone(), false));
    } else {
        return Err(Error::Failed(format!(
            "the locked image {} ({index}) is not in the engine and its name has no registry to pull it from; load the paper's archive with --archive FILE, or pass --no-verify to run whatever {} is",
            release.name, release.name
        )));
    }
    match docker.image_id(&pinned)? {
        Some(id) if id == *manifest => Ok((pinned, true)),
        other => Err(Error::Failed(format!(
            "{pinned} is {} in the engine after loading it, not the locked manifest; nothing was run",
            other.as_deref().unwrap_or("missing")
        ))),
    }
}

/// Whether the engine's `os/arch` runs a locked `os/arch[/variant]`: the engine names no
/// variant, so os and architecture decide.
fn same_platform(host: &str, locked: &str) -> bool {
    let two = |p: &str| {
        let mut parts = p.split('/');
        (
            parts.next().map(str::to_string),
            parts.next().map(str::to_string),
        )
    };
    two(host) == two(locked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_argv_is_by_digest_with_read_only_data_and_a_writable_out() {
        let argv = run_argv(
            "docker-repro-run-7",
            true,
            &[(PathBuf::from("/d/in"), "/data/in".into())],
            Some(Path::new("/d/out")),
            ("sha256:abc", None),
            &["python".into(), "train.py".into()],
        );
        assert_eq!(
            argv,
            [
                "run",
                "--rm",
                "--name",
                "docker-repro-run-7",
                "--gpus",
                "all",
                "--mount",
                "type=bind,source=/d/in,target=/data/in,readonly",
                "--mount",
                "type=bind,source=/d/out,target=/out",
                "--",
                "sha256:abc",
                "python",
                "train.py"
            ]
        );
        let plain = run_argv("n", false, &[], None, ("sha256:abc", None), &[]);
        assert_eq!(plain, ["run", "--rm", "--name", "n", "--", "sha256:abc"]);
        let arm = run_argv(
            "n",
            false,
            &[],
            None,
            ("sha256:abc", Some("linux/arm64")),
            &[],
        );
        assert_eq!(
            arm,
            [
                "run",
                "--rm",
                "--name",
                "n",
                "--platform",
                "linux/arm64",
                "--",
                "sha256:abc"
            ]
        );
    }

    fn host(
        image_cuda: Option<&str>,
        gpus: usize,
        verdict: host::cuda_compat::Verdict,
    ) -> HostReport {
        let a100 = crate::host::gpu::Gpu {
            name: "NVIDIA A100-SXM4-80GB".into(),
            driver_version: "550.54.15".into(),
            compute_capability: "8.0".into(),
        };
        HostReport {
            gpus: vec![a100; gpus],
            driver: (gpus > 0).then(|| "550.54.15".into()),
            image_cuda: image_cuda.map(str::to_string),
            needs: None,
            // A release cut on a CPU-only CI machine: no GPU in the lock.
            release_gpus: vec![],
            verdict,
        }
    }

    #[test]
    fn gpus_follow_the_images_cuda_and_this_hosts_gpu_not_where_the_release_was_cut() {
        use host::cuda_compat::Verdict;
        assert!(gpus_due(&host(Some("12.4"), 1, Verdict::Runs)));
        assert!(!gpus_due(&host(None, 1, Verdict::NoCudaInImage)));
        assert!(!gpus_due(&host(
            Some("12.4"),
            0,
            Verdict::NoGpu {
                reason: "none".into()
            }
        )));
        assert!(!gpus_due(&host(
            Some("12.4"),
            1,
            Verdict::WillNotRun {
                reason: "old driver".into()
            }
        )));
    }

    #[test]
    fn the_container_options_go_into_the_argv_each_as_one_element() {
        let options = ContainerOptions {
            tty: true,
            shm_size: Some(DEFAULT_SHM_SIZE.into()),
            user: Some("4321:4321".into()),
            env: vec!["A=b; rm -rf /".into()],
            publish: vec!["127.0.0.1:8888:8888".into()],
            mounts: vec!["type=volume,source=cache,target=/root/.cache".into()],
        };
        let argv = run_argv_with("n", false, &[], None, ("sha256:abc", None), &[], &options);
        assert_eq!(
            argv,
            [
                "run",
                "--rm",
                "--name",
                "n",
                "--interactive",
                "--tty",
                "--shm-size",
                "8g",
                "--user",
                "4321:4321",
                "--env",
                "HOME=/tmp",
                "--env",
                "A=b; rm -rf /",
                "--publish",
                "127.0.0.1:8888:8888",
                "--mount",
                "type=volume,source=cache,target=/root/.cache",
                "--",
                "sha256:abc"
            ]
        );
    }

    #[test]
    fn env_and_user_are_parsed_or_refused_in_one_line() {
        assert_eq!(
            parse_env("WANDB_MODE=offline").unwrap(),
            "WANDB_MODE=offline"
        );
        assert_eq!(parse_env("EMPTY=").unwrap(), "EMPTY=");
        for bad in ["NOVALUE", "=x", "A B=c", "\u{1b}[2J=x"] {
            let e = parse_env(bad).unwrap_err().to_string();
            assert!(
                e.contains("expected KEY=VALUE") && !e.contains('\u{1b}'),
                "{e}"
            );
        }
        assert_eq!(parse_user("1000:1000").unwrap(), "1000:1000");
        assert_eq!(parse_user("researcher").unwrap(), "researcher");
        for bad in ["", ":", "1000:", "a b", "1000:1000:1", "--privileged"] {
            assert!(parse_user(bad).is_err(), "{bad}");
        }
        assert!(parse_mount("type=bind,source=/d,dst=/d,readonly").is_ok());
        for bad in ["type=volume,source=cache", "target=/x\n", ""] {
            assert!(parse_mount(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_host_platform_matches_by_os_and_architecture() {
        assert!(same_platform("linux/amd64", "linux/amd64"));
        assert!(same_platform("linux/arm64", "linux/arm64/v8"));
        assert!(!same_platform("linux/amd64", "linux/arm64"));
        assert!(!same_platform("linux/arm", "linux/arm64"));
    }
}
