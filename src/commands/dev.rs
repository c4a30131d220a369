//! `docker repro dev`: the daily loop. Builds the base from the working tree with the release's
//! inputs and the build cache, then runs it with the code bind-mounted where the release copies
//! it, as the invoking user, with the options a deep-learning job needs.

use std::path::{Path, PathBuf};

use crate::cli::DevArgs;
use crate::dockerfile::workspace::{workspace, Workspace};
use crate::engine::docker::Docker;
use crate::engine::git::Git;
use crate::error::{clip, Error, Result};
use crate::exit::Exit;
use crate::lock::Lock;
use crate::ops::build::dev_base;
use crate::ops::container::{
    check_mount_path, container_options, gpus_due, run_argv_with, run_container, use_gpus,
};
use crate::project::base_state::{base_state, BaseState};
use crate::project::confine::confine;
use crate::project::{self, Config, ReleaseFlags};
use crate::ui::Ui;

/// The `SOURCE_DATE_EPOCH` of a dev base without a lock: 1980-01-01, the earliest time a zip
/// (a wheel) can hold. It stays put, so it never invalidates the build cache.
const UNLOCKED_EPOCH: i64 = 315_532_800;

pub fn run(args: &DevArgs, globals: Vec<String>) -> Result<Exit> {
    let ui = Ui { quiet: args.quiet };
    let project = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    // The working tree, not a commit: a project outside git is its own root.
    let root = Git::new()
        .and_then(|git| git.toplevel(&project))
        .unwrap_or_else(|_| project.clone());
    let config = Config::load(&root, &project)?;
    let inputs = project::inputs(&project, &ReleaseFlags::default(), config, &|k| {
        std::env::var(k).ok()
    })?;
    let Some(base_file) = inputs.base_file.clone() else {
        return Err(Error::Failed(format!(
            "{}: a single Dockerfile has no base to work in; dev needs the base/release layout: docker/Dockerfile.base (the environment) and docker/Dockerfile.release (FROM <image>:base + COPY of the code), as `docker repro init` writes it",
            clip(&inputs.release_file)
        )));
    };
    let lock = read_lock(&inputs.lock, &ui);
    let mut options = container_options(&args.container, true)?;
    let context = confine(
        &root,
        &project,
        Path::new(&inputs.context),
        "the build context",
    )?;
    let code = code_of(&root, &project, &inputs)?;
    options.workdir = code.workdir.clone();
    options.mounts.extend(code_mounts(&root, &context, &code)?);

    let docker = Docker::new(globals)?;
    let platform = docker.engine_platform()?;
    let epoch = lock
        .as_ref()
        .map(|l| l.build.base_epoch())
        .unwrap_or(UNLOCKED_EPOCH);
    let tag = format!("{}:dev", inputs.image);
    let base = dev_base(&inputs, &root, &project, &base_file, &platform, epoch, &tag)?;
    ui.progress(&format!(
        "building {tag} from {base_file} in the working tree (cached)"
    ));
    // BuildKit's whole log: a dev build is mostly CACHED steps, and the log says which.
    let log = match args.quiet {
        true => crate::engine::docker::BuildLog::Quiet,
        false => crate::engine::docker::BuildLog::Full,
    };
    docker.build_into_engine(&base.spec, log)?;
    let image = docker.image_id(&tag)?.ok_or_else(|| {
        Error::Failed(format!(
            "{tag} is not in the engine after its build; is the builder's output loaded into this engine (`docker buildx ls`)?"
        ))
    })?;

    let fingerprint = match &lock {
        Some(lock) => {
            crate::ops::build::dev_fingerprint(&inputs, &root, &project, &base_file, lock)?
        }
        None => None,
    };
    let state = base_state(
        lock.as_ref(),
        fingerprint.as_ref(),
        &base.path,
        &base.sha256,
        &inputs.args,
    );
    let (gpus_here, driver) = crate::engine::gpu::read_host();
    let due = match (&lock, &state) {
        (Some(lock), BaseState::Locked) => gpus_due(&crate::host::judge(lock, gpus_here, driver)),
        // What this base needs is not known without reading its layers: a GPU host gets it.
        _ => !gpus_here.is_empty(),
    };
    let gpus = use_gpus(&args.container, due);
    ui.progress(&format!(
        "dev runs {tag} ({}), built from {base_file}: {}",
        short(&image),
        state.line()
    ));

    let name = format!("docker-repro-dev-{}", std::process::id());
    let argv = run_argv_with(
        &name,
        gpus,
        &[],
        None,
        (&image, None),
        &args.command,
        &options,
    );
    let shown = shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "));
    ui.progress(&format!("docker {shown}"));
    let (status, _, _) = run_container(&docker, &name, &argv, &ui)?;
    match status {
        Ok(0) => Ok(Exit::Ok),
        Ok(code @ 125..=127) => {
            // A container that never started may stay behind, `--rm` or not.
            let _ = docker.remove_container(&name);
            Err(Error::Failed(format!(
                "the dev container did not run: docker run exited {code} ({}); check the command after --, or look around with `docker repro dev -- sh`",
                match code {
                    125 => "docker could not create or start it, as it said above",
                    126 => "the command cannot be executed",
                    _ => "the command was not found in the image",
                }
            )))
        }
        Ok(code) => Ok(Exit::Command(code)),
        Err(e) => Err(e.into()),
    }
}

/// The lock, when there is one that can be read; one that cannot is named and not compared.
fn read_lock(path: &Path, ui: &Ui) -> Option<Lock> {
    if !path.exists() {
        return None;
    }
    match Lock::read(path) {
        Ok(lock) => Some(lock),
        Err(e) => {
            ui.warn(&format!("{e}; the base is not compared with it"));
            None
        }
    }
}

/// Where the release Dockerfile puts the code and where it runs.
fn code_of(root: &Path, project: &Path, inputs: &project::Inputs) -> Result<Workspace> {
    let file = confine(
        root,
        project,
        Path::new(&inputs.release_file),
        "the release Dockerfile",
    )?;
    let bytes = crate::limits::read(&file, crate::limits::DOCKERFILE)?;
    let target = Some(inputs.target.as_str()).filter(|t| !t.is_empty());
    workspace(&bytes, target)
        .map_err(|why| Error::Failed(format!("{}: {why}", clip(&inputs.release_file))))
}

/// A bind mount, writable, for each context path the release copies, at the place it copies
/// it to; each must be in the working tree.
fn code_mounts(root: &Path, context: &Path, code: &Workspace) -> Result<Vec<String>> {
    let mut mounts = Vec::new();
    for copy in &code.copies {
        let source: PathBuf = confine(root, context, Path::new(&copy.source), "the code")?;
        let metadata = std::fs::metadata(&source).map_err(|e| {
            Error::Failed(format!(
                "the release copies {}, which is not in the working tree ({e}); create it, or change the COPY",
                clip(&copy.source)
            ))
        })?;
        let target = copy.target(metadata.is_dir());
        let shown = source.to_string_lossy();
        check_mount_path("the code", &copy.source, &shown)?;
        check_mount_path("the code", &copy.source, &target)?;
        mounts.push(format!("type=bind,source={shown},target={target}"));
    }
    Ok(mounts)
}

/// `sha256:0123456789ab` of an image ID.
fn short(id: &str) -> &str {
    &id[..id.len().min("sha256:".len() + 12)]
}
