//! `docker repro run`: run the locked release image, by digest, on a host judged able to run
//! it, and leave a run record a reviewer can attach to a review.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::RunArgs;
use crate::engine::docker::{Docker, VerifiedLoad};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::host::{self, HostReport};
use crate::image::oci::sha256_digest;
use crate::image::reference;
use crate::lock::{self, Lock, Role};
use crate::ops::container::{
    check_mount_path, container_options, gpus_due, run_argv_with, run_container, use_gpus,
    ContainerOptions,
};
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
    let options = container_options(&args.container, args.out.is_some())?;
    let out = out_dir(args.out.as_deref(), options.user.as_deref())?;
    let records = match &out {
        Some(_) => None,
        None => Some(records_dir()?),
    };
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
    let use_gpus = use_gpus(&args.container, gpus_due(&host));

    let name = format!("docker-repro-run-{}", std::process::id());
    let argv = run_argv_with(
        &name,
        use_gpus,
        &mounts,
        out.as_deref(),
        (
            &image,
            Some(release.platform_name().as_str()).filter(|p| verified && !p.is_empty()),
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
        platform: &release.platform_name(),
        index_digest: release.index_digest.as_deref().unwrap_or_default(),
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
    let record_path = match (&out, &records) {
        (Some(out), _) => out.join(RECORD_FILE),
        (None, Some(dir)) => dir.join(record_name(started, &release.manifest_digest)),
        (None, None) => unreachable!("a records directory is made when there is no --out"),
    };
    let json = serde_json::to_string_pretty(&record).expect("record serializes") + "\n";
    lock::write_atomic(&record_path, json.as_bytes())?;
    if out.is_some() {
        give_to(&record_path, options.user.as_deref());
    }
    ui.progress(&format!("wrote the run record {}", record_path.display()));
    match status {
        Ok(0) => Ok(Exit::Ok),
        Ok(code) => Ok(Exit::Command(code)),
        Err(e) => Err(e.into()),
    }
}

/// Where run records go without `--out`: `$XDG_STATE_HOME/docker-repro/runs`, by default
/// `~/.local/state/docker-repro/runs`, never the clone, whose `git status` a record would
/// dirty. Made before the run, so that a run is never lost for want of a place to record it.
fn records_dir() -> Result<PathBuf> {
    let dir = records_dir_of(
        std::env::var_os("XDG_STATE_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
    .ok_or_else(|| {
        Error::Failed(
            "no place for the run record: neither XDG_STATE_HOME nor HOME is an absolute path; set one, or pass --out DIR".into(),
        )
    })?;
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// [`records_dir`] of these variables; a relative `XDG_STATE_HOME` is ignored, as the XDG
/// base directory specification says.
fn records_dir_of(xdg_state_home: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let state = xdg_state_home.filter(|p| p.is_absolute()).or_else(|| {
        home.filter(|p| p.is_absolute())
            .map(|h| h.join(".local/state"))
    })?;
    Some(state.join("docker-repro").join("runs"))
}

/// A record's file name: when the run started (UTC) and which image ran, `20261206T031500Z-
/// b5e1cab0f9cb-4242.json`; the process id keeps two runs of one second apart.
fn record_name(started: std::time::SystemTime, digest: &str) -> String {
    let stamp: String = humantime::format_rfc3339_seconds(started)
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let short = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!(
        "{stamp}-{}-{}.json",
        &short[..short.len().min(12)],
        std::process::id()
    )
}

/// Gives a file or folder this tool made to the container's user, when that is a numeric
/// `UID:GID` other than ours (root running for `sudo`'s user); best effort, since the
/// container reports its own failure to write.
fn give_to(path: &Path, user: Option<&str>) {
    let Some((uid, gid)) = user.and_then(|u| u.split_once(':')) else {
        return;
    };
    if let (Ok(uid), Ok(gid)) = (uid.parse::<u32>(), gid.parse::<u32>()) {
        let _ = std::os::unix::fs::chown(path, Some(uid), Some(gid));
    }
}

/// The lock, validated, and its bytes (the run record holds their sha256).
fn read_lock(lock_path: &Path) -> Result<(Lock, Vec<u8>)> {
    let lock_bytes = Lock::read_bytes(lock_path, "pass the paper's repro.lock")?;
    let lock = Lock::from_toml(&String::from_utf8_lossy(&lock_bytes), lock_path)?;
    Ok((lock, lock_bytes))
}

/// The `--out` directory, created and resolved, its path checked before anything is created:
/// `res,source=/x` must not even make a folder. The folders made for it belong to `user` (the
/// container's numeric `UID:GID`), who must be able to write there.
fn out_dir(dir: Option<&Path>, user: Option<&str>) -> Result<Option<PathBuf>> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let spec = dir.to_string_lossy();
    check_mount_path("--out", &spec, &spec)?;
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .take_while(|a| std::fs::symlink_metadata(a).is_err())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for made in &missing {
        give_to(made, user);
    }
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
        .find(|i| i.role == Role::Release && same_platform(&host, &i.platform_name()))
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
    if let Some(index) = &release.index_digest {
        return locked_platform_image(docker, lock, release, index, args, ui);
    }
    let digest = release.engine_digest();
    if docker.image_id(digest)?.is_none() {
        if let Some(archive) = &args.archive {
            ui.progress(&format!("checking and loading {}", archive.display()));
            docker.load_verified(&[VerifiedLoad {
                archive: archive.clone(),
                digest: release.manifest_digest.to_string(),
                index: None,
                tags: vec![release.name.to_string()],
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
    Ok((release.name.to_string(), false))
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
    index: &str,
    args: &RunArgs,
    ui: &Ui,
) -> Result<(String, bool)> {
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
            digest: manifest.to_string(),
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
                return Ok((release.name.to_string(), false));
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
        return Ok((release.name.to_string(), false));
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

    #[test]
    fn run_records_go_to_the_users_state_directory_never_the_clone() {
        let state = |xdg: Option<&str>, home: Option<&str>| {
            records_dir_of(xdg.map(PathBuf::from), home.map(PathBuf::from))
        };
        assert_eq!(
            state(Some("/x/state"), Some("/home/r")),
            Some(PathBuf::from("/x/state/docker-repro/runs"))
        );
        assert_eq!(
            state(None, Some("/home/r")),
            Some(PathBuf::from("/home/r/.local/state/docker-repro/runs"))
        );
        // A relative XDG_STATE_HOME would land in the clone: ignored, as XDG says.
        assert_eq!(
            state(Some("state"), Some("/home/r")),
            Some(PathBuf::from("/home/r/.local/state/docker-repro/runs"))
        );
        assert_eq!(state(Some("state"), Some("home")), None);
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_527_500);
        let name = record_name(at, "sha256:b5e1cab0f9cb0123456789");
        assert!(
            name.starts_with("20261206T032500Z-b5e1cab0f9cb-") && name.ends_with(".json"),
            "{name}"
        );
    }

    #[test]
    fn the_host_platform_matches_by_os_and_architecture() {
        assert!(same_platform("linux/amd64", "linux/amd64"));
        assert!(same_platform("linux/arm64", "linux/arm64/v8"));
        assert!(!same_platform("linux/amd64", "linux/arm64"));
        assert!(!same_platform("linux/arm", "linux/arm64"));
    }
}
