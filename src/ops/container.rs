//! How a container is run, shared by `run` (the locked release) and `dev` (the base with the
//! code bind-mounted): the `docker run` argv, and the options a deep-learning job needs from it
//! (a terminal, `/dev/shm`, the invoking user, GPUs, env, ports, mounts), decided in one place.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::cli::ContainerArgs;
use crate::engine::docker::Docker;
use crate::engine::process::ProcessError;
use crate::error::{Error, Result};
use crate::host::HostReport;
use crate::ui::Ui;

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
    /// `--workdir`; none keeps the image's.
    pub workdir: Option<String>,
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
    if let Some(workdir) = &options.workdir {
        argv.extend(["--workdir".into(), workdir.clone()]);
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

/// Whether the container gets `--gpus all`: the image needs CUDA and this host has an NVIDIA GPU
/// judged able to run it. Where the release was cut does not count: a release cut on a CPU-only
/// CI machine still needs the reviewer's GPU.
pub fn gpus_due(host: &HostReport) -> bool {
    host.image_cuda.is_some() && !host.gpus.is_empty() && !host.cannot_run()
}

/// Whether the container gets `--gpus all`: `--gpus` / `--no-gpus` when given, else `due`
/// (see [`gpus_due`]).
pub fn use_gpus(args: &ContainerArgs, due: bool) -> bool {
    match (args.gpus, args.no_gpus) {
        (true, _) => true,
        (_, true) => false,
        _ => due,
    }
}

/// The [`ContainerOptions`] of the flags: a terminal when stdin and stdout are ones, and, when
/// `as_invoking_user` (an output directory or the project is mounted), the invoking user
/// (`SUDO_UID`/`SUDO_GID` under sudo, else this process's owner; none for root), so that what
/// the job writes there is not root's.
pub fn container_options(args: &ContainerArgs, as_invoking_user: bool) -> Result<ContainerOptions> {
    use std::io::IsTerminal;
    let tty = args.tty
        || (!args.no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal());
    let user = match &args.user {
        Some(user) => Some(parse_user(user)?),
        None if as_invoking_user => invoking_user(),
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
        workdir: None,
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
pub fn invoking_user() -> Option<String> {
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
pub fn run_container(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn host(
        image_cuda: Option<&str>,
        gpus: usize,
        verdict: crate::host::cuda_compat::Verdict,
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
        use crate::host::cuda_compat::Verdict;
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
            workdir: Some("/workspace/code".into()),
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
                "--workdir",
                "/workspace/code",
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
}
