//! `docker repro verify`: are the locked images here, and does the locked commit rebuild to them?

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::cli::{BaseChoice, Format, LockSource, VerifyArgs};
use crate::engine::docker::BuildInputs;
use crate::engine::docker::Docker;
use crate::engine::docker::VerifiedLoad;
use crate::engine::git::Git;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::explain;
use crate::host;
use crate::image::archive::Select;
use crate::image::oci::OciImage;
use crate::inventory::Inventory;
use crate::lock::{self, Lock, Role};
use crate::ops::build::{proxies_from_env, BasePin, Built, Plan, Settings};
use crate::ops::read;
use crate::ops::report::{
    BaseReport, BuiltOn, ImageReport, Input, Mode, Overridden, Report, Source, Status, TagState,
    Verdict,
};
use crate::project::confine::confine;
use crate::ui::Ui;

pub fn run(args: &VerifyArgs, globals: Vec<String>) -> Result<Exit> {
    let ui = Ui { quiet: args.quiet };
    check_flags(args)?;
    // Kept until the end: a fetched lock is read from a file in it.
    let work = crate::scratch::work_dir("verify-lock")?;
    let (lock_path, shown) = lock_file(args, work.path(), &ui)?;
    // Read and validate the whole lock before any process starts.
    let lock = Lock::read(&lock_path)?;
    let platforms = chosen_platforms(&lock, args.platform.as_deref(), args.load)?;
    if args.rebuild && lock.source.dirty {
        return Err(Error::Failed(format!(
            "{}: released with uncommitted changes (dirty = true); that source is in no commit, so it can never be verified by rebuild. Verify the image by digest (drop --rebuild), or cut a release from a clean commit",
            lock_path.display()
        )));
    }
    // The reviewer's secrets, keys and overrides, checked against the lock before anything runs.
    let inputs = if args.rebuild {
        rebuild_inputs(args, &lock)?
    } else {
        RebuildInputs::default()
    };
    let needs_docker = args.archive.is_none() || args.load || args.rebuild;
    let docker = if needs_docker {
        Some(Docker::new(globals)?)
    } else {
        None
    };
    let mut not_checked = Vec::new();
    let base_choice = args.base.unwrap_or(BaseChoice::Rebuild);
    let (mode, images) = match (&args.archive, &docker) {
        (Some(archive), _) if !args.rebuild => {
            let reports = verify_archive(&lock, &platforms, archive, args.quiet, &mut not_checked)?;
            if let Some(docker) = &docker {
                load_archive(docker, &lock, archive, &reports, &ui)?;
            }
            (Mode::Archive, reports)
        }
        (_, Some(docker)) if args.rebuild => (
            Mode::Rebuild,
            rebuild(
                &lock,
                &lock_path,
                Rebuild {
                    source: args.source.as_deref(),
                    base: base_choice,
                    archive: args.archive.as_deref(),
                    inputs: &inputs,
                    platforms: &platforms,
                    offline: args.offline,
                },
                docker,
                &ui,
                args.quiet,
            )?,
        ),
        (None, Some(docker)) => (
            Mode::Digests,
            verify_digests(docker, &lock, &platforms, args.offline, &mut not_checked)?,
        ),
        _ => unreachable!("docker is found whenever no archive is given or a rebuild is asked"),
    };
    let bases = base_tags(docker.as_ref(), args, &lock, &mut not_checked)?;
    // A lookup that Ctrl-C cut short may have been taken for an answer above: stop here,
    // before anything is printed as a verdict.
    if crate::engine::process::interrupted() {
        return Err(Error::Interrupted);
    }
    let (gpus, driver) = crate::engine::gpu::read_host();
    let mut report = Report {
        lock: shown,
        mode,
        commit: lock.source.commit.to_string(),
        verdict: Verdict::Identical,
        images,
        bases,
        host: Some(host::judge(&lock, gpus, driver)),
        not_checked,
        overridden: inputs.overridden.clone(),
    };
    report.verdict = Verdict::of(&report.images);
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        ),
        Format::Human => crate::ui::print_human(&report.render_human()),
    }
    Ok(exit_of(&report))
}

/// The lock file to read, and how the report names it: the one given, the one attached to a
/// pushed image (fetched into `work`), `./repro.lock`, or the one inside `--archive`.
fn lock_file(args: &VerifyArgs, work: &Path, ui: &Ui) -> Result<(PathBuf, String)> {
    let fetched = |bytes: Vec<u8>, shown: String| {
        let path = work.join("repro.lock");
        lock::write_atomic(&path, &bytes)?;
        Ok((path, shown))
    };
    match &args.lock {
        Some(LockSource::File(path)) => Ok((path.clone(), path.display().to_string())),
        Some(LockSource::Pushed { repository, digest }) => {
            let shown = format!("{repository}@{digest}");
            ui.progress(&format!("fetching the lock attached to {shown}"));
            let registry = crate::engine::registry::Registry::new(repository)?;
            let bytes = crate::ops::referrer::fetch_lock(&registry, digest, &shown)?;
            // Judged here first, so that a message about it names the image, not a temp file.
            let named = PathBuf::from(format!("the lock attached to {shown}"));
            let text = String::from_utf8(bytes.clone()).map_err(|_| {
                Error::Failed(format!("{}: not UTF-8 text; refusing it", named.display()))
            })?;
            let lock = Lock::from_toml(&text, &named)?;
            crate::ops::referrer::check_names(&lock, repository, digest)?;
            fetched(bytes, shown)
        }
        None => {
            let default = PathBuf::from(lock::DEFAULT_PATH);
            match &args.archive {
                Some(archive) if !default.exists() => {
                    let bytes = crate::ops::referrer::lock_in_archive(archive)?;
                    ui.progress(&format!("using the lock inside {}", archive.display()));
                    fetched(bytes, format!("{} (its attached lock)", archive.display()))
                }
                _ => Ok((default.clone(), default.display().to_string())),
            }
        }
    }
}

/// Each locked image (of the chosen platforms) by digest, in the engine or else its registry
/// (not asked with `offline`, which is then said in `not_checked`).
fn verify_digests(
    docker: &Docker,
    lock: &Lock,
    platforms: &[String],
    offline: bool,
    not_checked: &mut Vec<String>,
) -> Result<Vec<ImageReport>> {
    if offline {
        not_checked.push("the registry, for images missing from the engine (--offline)".into());
    }
    let work = crate::scratch::work_dir("verify")?;
    // Each role's index is found and tied once, for all its platforms.
    let mut indexes: HashMap<(Role, &str), FoundIndex> = HashMap::new();
    lock.images
        .iter()
        .filter(|image| checked(image, platforms))
        .map(|image| {
            let Some(index) = &image.index_digest else {
                return check_present(docker, image, &lock.build.platform, offline);
            };
            let key = (image.role, index.as_str());
            let found = match indexes.get(&key) {
                Some(found) => found.clone(),
                None => {
                    let found = find_index(docker, lock, image, offline, work.path())?;
                    indexes.insert(key, found.clone());
                    found
                }
            };
            check_index_present(docker, image, found)
        })
        .collect()
}

/// Where a role's locked image index was found, and whether it ties to the lock; `Err` when
/// neither the engine nor the registry has it, with the registry's answer (`None`: the registry
/// was not asked, `--offline`).
type FoundIndex = std::result::Result<(Source, crate::ops::tie::Tied), Option<String>>;

/// The locked image index of `image`'s role, from the engine (its image ID), else its
/// registry, tied to every locked platform of that role.
fn find_index(
    docker: &Docker,
    lock: &Lock,
    image: &lock::Image,
    offline: bool,
    work: &Path,
) -> Result<FoundIndex> {
    let images = crate::ops::tie::role_images(lock, image.role);
    // Asked only of an image of a multi-platform lock, whose engine digest is its index.
    let index = image.engine_digest();
    if docker.image_id(index)?.is_some() {
        let tied = crate::ops::tie::in_engine(docker, index, &images, work)?;
        return Ok(Ok((Source::Engine, tied)));
    }
    if offline {
        return Ok(Err(None));
    }
    let asked =
        crate::ops::tie::in_registry(docker, &image.name, index, &images).map_err(|e| match e {
            Error::Failed(why) => Error::Failed(format!(
                "could not check {}{}: it is not in the engine, and {why}",
                image.name,
                image.on_platform()
            )),
            other => other,
        })?;
    Ok(match asked {
        Ok(tied) => Ok((Source::Registry, tied)),
        Err(why) => Err(Some(why)),
    })
}

/// The report of one platform of a multi-platform lock: identical only when its role's locked
/// index was found and ties to the lock (it lists exactly the locked manifest for each locked
/// platform, each with the locked config and layers).
fn check_index_present(
    docker: &Docker,
    image: &lock::Image,
    found: FoundIndex,
) -> Result<ImageReport> {
    let mut report = ImageReport::of(image, None);
    match found {
        Ok((source, tied)) => {
            report.source = Some(source);
            match tied {
                Ok(()) => report.found = Some(image.manifest_digest.to_string()),
                Err(why) => {
                    report.status = Status::Different;
                    report.detail = Some(why);
                }
            }
            Ok(report)
        }
        Err(registry) => {
            let pinned = crate::image::reference::pinned(&image.name, image.engine_digest());
            not_found(docker, image, report, &pinned, registry.map(Err))
        }
    }
}

/// The platforms to check: every locked one, or those `--platform` names (each must be
/// locked). `--load` loads whole image indexes, so it checks every platform.
fn chosen_platforms(lock: &Lock, asked: Option<&str>, load: bool) -> Result<Vec<String>> {
    let locked: Vec<String> = lock
        .build
        .platforms()
        .iter()
        .map(|p| p.to_string())
        .collect();
    let Some(asked) = asked else {
        return Ok(locked.iter().map(|p| p.to_string()).collect());
    };
    asked
        .parse::<crate::image::platform::Platforms>()
        .map_err(|why| Error::Usage(format!("--platform {why}")))?;
    let asked = lock::split_platforms(asked);
    if let Some(other) = asked.iter().find(|p| !locked.iter().any(|l| l == *p)) {
        return Err(Error::Usage(format!(
            "--platform {other}: the lock has no image for it (it was released for {}); name locked platforms only",
            locked.join(",")
        )));
    }
    if load && asked.len() < locked.len() {
        return Err(Error::Usage(format!(
            "--load loads each image whole, every platform ({}): drop --platform to load",
            locked.join(",")
        )));
    }
    // In the lock's order, so that a rebuild of them all is the locked index.
    Ok(locked
        .iter()
        .filter(|p| asked.contains(&p.as_str()))
        .map(|p| p.to_string())
        .collect())
}

/// Whether a locked image is one of the platforms checked (always, in a single-platform lock).
fn checked(image: &lock::Image, platforms: &[String]) -> bool {
    image.platform.is_none() || platforms.contains(&image.platform_name())
}

/// The exit status of a printed report: a difference first, then a drifted base, then a host
/// that cannot run the image.
fn exit_of(report: &Report) -> Exit {
    match (
        report.verdict,
        report.host.as_ref().is_some_and(|h| h.cannot_run()),
    ) {
        (Verdict::Different, _) => Exit::Different,
        (Verdict::BaseDrifted, _) => Exit::BaseDrifted,
        (Verdict::Equivalent, _) => Exit::Equivalent,
        (Verdict::Identical, true) => Exit::HostCannotRun,
        (Verdict::Identical, false) => Exit::Ok,
    }
}

/// Loads the verified images of an archive (only when every one is identical), tagged only as
/// the lock names them.
fn load_archive(
    docker: &Docker,
    lock: &Lock,
    archive: &Path,
    reports: &[ImageReport],
    ui: &Ui,
) -> Result<()> {
    if !reports.iter().all(|r| r.status == Status::Identical) {
        return Ok(());
    }
    let loads: Vec<VerifiedLoad> = reports
        .iter()
        .map(|r| VerifiedLoad {
            archive: archive.to_path_buf(),
            digest: r.locked.clone(),
            index: lock
                .images
                .iter()
                .find(|i| i.role == r.role && i.manifest_digest == r.locked)
                .and_then(|i| i.index_digest.as_ref())
                .map(|i| i.to_string()),
            tags: vec![r.name.clone()],
        })
        .collect();
    let mut names: Vec<&str> = reports.iter().map(|r| r.name.as_str()).collect();
    names.dedup();
    ui.progress(&format!(
        "loading {} as {}",
        archive.display(),
        names.join(", ")
    ));
    docker.load_verified(&loads)
}

/// Whether each locked base tag moved, unless offline or checking an archive (then said so).
fn base_tags(
    docker: Option<&Docker>,
    args: &VerifyArgs,
    lock: &Lock,
    not_checked: &mut Vec<String>,
) -> Result<Vec<BaseReport>> {
    match docker {
        Some(docker) if !args.offline && args.archive.is_none() => {
            // A multi-platform lock has one [[base]] per platform, all of one index: its tag
            // is looked up once, for the first platform.
            let mut seen = std::collections::BTreeSet::new();
            lock.bases
                .iter()
                .filter(|b| seen.insert((&b.reference, &b.dockerfile, &b.index_digest)))
                .map(|b| {
                    let platform = match &b.platform {
                        Some(platform) => platform.to_string(),
                        None => lock.build.platform.to_string(),
                    };
                    check_base_tag(docker, b, &platform)
                })
                .collect()
        }
        _ => {
            if !lock.bases.is_empty() {
                not_checked.push(format!(
                    "whether the base tags moved ({})",
                    if args.offline {
                        "--offline"
                    } else {
                        "an archive is checked without the network"
                    }
                ));
            }
            Ok(Vec::new())
        }
    }
}

fn check_flags(args: &VerifyArgs) -> Result<()> {
    let conflict = |a: &str, b: &str, why: &str| {
        Err(Error::Usage(format!(
            "{a} cannot be combined with {b}: {why}"
        )))
    };
    if args.offline
        && args.rebuild
        && (args.archive.is_none() || args.base != Some(BaseChoice::Locked))
    {
        return conflict(
            "--offline",
            "--rebuild",
            "a rebuild fetches the pinned base images; offline, rebuild the release on the archived base: --rebuild --base locked --archive FILE --offline",
        );
    }
    if args.archive.is_some() && args.rebuild && args.base != Some(BaseChoice::Locked) {
        return conflict(
            "--archive",
            "--rebuild",
            "verify the archive, or rebuild from source, one at a time; or add --base locked to rebuild the release on the archive's base",
        );
    }
    if args.base.is_some() && !args.rebuild {
        return Err(Error::Usage(
            "--base says what a rebuild does with the base image: add --rebuild".into(),
        ));
    }
    if args.load && args.rebuild {
        return conflict(
            "--load",
            "--rebuild",
            "--load loads a verified archive; verify it without --rebuild to load it",
        );
    }
    if args.load && args.archive.is_none() {
        return Err(Error::Usage(
            "--load loads an archive: give --archive FILE".into(),
        ));
    }
    if args.offline && matches!(args.lock, Some(LockSource::Pushed { .. })) {
        return conflict(
            "--offline",
            "NAME@DIGEST",
            "the lock attached to a pushed image is fetched from its registry; give the lock file, or an --archive holding it",
        );
    }
    if args.source.is_some() && !args.rebuild {
        return Err(Error::Usage(
            "--source is the checkout to rebuild from: add --rebuild".into(),
        ));
    }
    for (flag, given) in [
        ("--secret", !args.secrets.is_empty()),
        ("--ssh", !args.ssh.is_empty()),
        ("--build-arg", !args.build_args.is_empty()),
        ("--add-host", !args.add_hosts.is_empty()),
    ] {
        if given && !args.rebuild {
            return Err(Error::Usage(format!(
                "{flag} is an input of a rebuild: add --rebuild"
            )));
        }
    }
    Ok(())
}

/// What the reviewer gives a rebuild besides the lock.
#[derive(Debug, Default)]
struct RebuildInputs {
    secrets: Vec<crate::project::Secret>,
    ssh: Vec<crate::project::Ssh>,
    args: std::collections::BTreeMap<String, String>,
    add_hosts: Vec<String>,
    overridden: Vec<Overridden>,
}

/// The secrets and SSH ids the lock names, given again by the reviewer (every missing one named
/// at once, and none the release did not have: a build gets no more than the author's did),
/// and the locked build arguments and hosts the reviewer overrides. Usage errors, before any
/// process starts.
fn rebuild_inputs(args: &VerifyArgs, lock: &Lock) -> Result<RebuildInputs> {
    let dir = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let env = |k: &str| std::env::var(k).ok();
    let secret_values = shown("--secret", &args.secrets);
    let secrets = crate::project::secrets(
        secret_values.iter().map(|(s, v)| (s.clone(), v.as_str())),
        &dir,
        &env,
    )?;
    let ssh_values = shown("--ssh", &args.ssh);
    let ssh = crate::project::ssh(
        ssh_values.iter().map(|(s, v)| (s.clone(), v.as_str())),
        &dir,
        &env,
    )?;
    check_locked_ids(
        lock,
        args.base.unwrap_or(BaseChoice::Rebuild),
        &secrets,
        &ssh,
    )?;
    let mut overridden = Vec::new();
    let args_used = overridden_args(args, lock, &env, &mut overridden)?;
    let add_hosts = overridden_hosts(args, lock, &mut overridden)?;
    overridden.sort_by(|a, b| (a.input, &a.name).cmp(&(b.input, &b.name)));
    Ok(RebuildInputs {
        secrets,
        ssh,
        args: args_used,
        add_hosts,
        overridden,
    })
}

/// Each value with the flag that gave it, for errors.
fn shown(flag: &str, values: &[String]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| (format!("{flag} {}", crate::error::quote(v)), v.clone()))
        .collect()
}

/// Every secret and SSH id the Dockerfiles to be built were given (the release's alone with
/// `--base locked`) is given again, all missing ones named at once, and none that the release
/// did not have: a rebuild gets no more than the author's build did.
fn check_locked_ids(
    lock: &Lock,
    base: BaseChoice,
    secrets: &[crate::project::Secret],
    ssh: &[crate::project::Ssh],
) -> Result<()> {
    let roles: &[Role] = match base {
        BaseChoice::Rebuild => &[Role::Base, Role::Release],
        BaseChoice::Locked => &[Role::Release],
    };
    let mut missing = Vec::new();
    let mut only_base = true;
    for (flag, locked, needed, given) in [
        (
            "--secret",
            &lock.build.secrets,
            roles
                .iter()
                .flat_map(|r| lock.secrets_of(*r))
                .collect::<Vec<_>>(),
            secrets.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ),
        (
            "--ssh",
            &lock.build.ssh,
            roles.iter().flat_map(|r| lock.ssh_of(*r)).collect(),
            ssh.iter().map(|s| s.id.as_str()).collect(),
        ),
    ] {
        if let Some(extra) = given.iter().find(|id| !locked.iter().any(|l| l == *id)) {
            return Err(Error::Usage(format!(
                "{flag} {extra}: the lock names no such id ({}); a rebuild gets only what the release had",
                if locked.is_empty() { "it names none".to_string() } else { format!("it names {}", locked.join(", ")) }
            )));
        }
        let release_needs = match flag {
            "--secret" => lock.secrets_of(Role::Release),
            _ => lock.ssh_of(Role::Release),
        };
        for id in locked.iter().filter(|id| needed.contains(id)) {
            if !given.contains(&id.as_str()) {
                only_base &= !release_needs.contains(id);
                missing.push(match flag {
                    "--secret" => (format!("secret {id}"), format!("--secret id={id},src=PATH")),
                    _ => (format!("ssh {id}"), format!("--ssh {id}[=PATH]")),
                });
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let (names, flags): (Vec<String>, Vec<String>) = missing.into_iter().unzip();
    // Ids only the base's build read: the release can be verified on the locked base instead.
    let alternative = if only_base && base == BaseChoice::Rebuild {
        ", or verify the release on the locked base without rebuilding it (--base locked needs none of them)"
    } else {
        ""
    };
    Err(Error::Usage(format!(
        "the locked build used {}, not given here: add {} (the lock records ids only; ask the author what each one holds){alternative}; nothing was built",
        names.join(", "),
        flags.join(" ")
    )))
}

/// The locked build arguments with the reviewer's `--build-arg` over them (a locked key only),
/// each value that differs from the lock recorded as overridden.
fn overridden_args(
    args: &VerifyArgs,
    lock: &Lock,
    env: &dyn Fn(&str) -> Option<String>,
    overridden: &mut Vec<Overridden>,
) -> Result<std::collections::BTreeMap<String, String>> {
    let mut build_args = lock.build.args_text();
    for raw in &args.build_args {
        let (key, value) = match raw.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (
                raw.clone(),
                env(raw).ok_or_else(|| {
                    Error::Usage(format!(
                        "--build-arg {}: no `=` and ${} is not set; write --build-arg {}=VALUE",
                        crate::error::clip(raw),
                        crate::error::clip(raw),
                        crate::error::clip(raw)
                    ))
                })?,
            ),
        };
        // Before anything quotes the value: a proxy URL can hold a password.
        crate::project::refuse_proxy_arg(
            &format!("--build-arg {}", crate::error::quote(&key)),
            &key,
        )?;
        let flag = format!("--build-arg {}", crate::error::quote(raw));
        crate::project::check_build_arg(&key, &value)
            .map_err(|why| Error::Usage(format!("{flag} {why}")))?;
        let Some(locked) = lock.build.args.get(key.as_str()) else {
            return Err(Error::Usage(format!(
                "{flag}: the lock has no build argument {key}; a rebuild can only override a locked one"
            )));
        };
        if *locked != value {
            overridden.push(Overridden {
                input: Input::BuildArg,
                name: key.clone(),
                locked: locked.to_string(),
                used: value.clone(),
            });
        }
        build_args.insert(key, value);
    }
    Ok(build_args)
}

/// The locked hosts with the reviewer's `--add-host` over them (a locked name only), each
/// address that differs from the lock recorded as overridden.
fn overridden_hosts(
    args: &VerifyArgs,
    lock: &Lock,
    overridden: &mut Vec<Overridden>,
) -> Result<Vec<String>> {
    let host_values = shown("--add-host", &args.add_hosts);
    let given_hosts =
        crate::project::add_hosts(host_values.iter().map(|(s, v)| (s.clone(), v.as_str())))?;
    let mut add_hosts: Vec<String> = lock.build.add_hosts.iter().map(|h| h.to_string()).collect();
    for given in given_hosts {
        let name = lock::host_name(&given).to_string();
        let Some(slot) = add_hosts.iter_mut().find(|h| lock::host_name(h) == name) else {
            return Err(Error::Usage(format!(
                "--add-host {}: the lock has no host {name}; a rebuild can only override a locked one",
                crate::error::quote(&given)
            )));
        };
        if *slot != given {
            overridden.push(Overridden {
                input: Input::AddHost,
                name: name.clone(),
                locked: slot[name.len() + 1..].to_string(),
                used: given[name.len() + 1..].to_string(),
            });
            *slot = given;
        }
    }
    Ok(add_hosts)
}

/// An OCI archive written by `release --archive`: every blob of each locked image it holds
/// against its digest, the image against the lock, and its packages against the lock's
/// inventory. No network. The release must be there; a base the archive does not hold (an
/// archive of the release alone) is listed as not checked.
fn verify_archive(
    lock: &Lock,
    platforms: &[String],
    archive: &Path,
    quiet: bool,
    not_checked: &mut Vec<String>,
) -> Result<Vec<ImageReport>> {
    let mut reports = Vec::new();
    let mut known = HashMap::new();
    let mut indexes: HashMap<Role, crate::ops::tie::Tied> = HashMap::new();
    for locked in lock.images.iter().filter(|i| checked(i, platforms)) {
        let held = holds(archive, locked)?;
        if !held && locked.role == Role::Base {
            not_checked.push(missing_base(archive, locked)?);
            continue;
        }
        // Of several platforms, the archive's locked index is tied to the lock first: it is
        // what `--load` and `run --archive` give the engine, so it decides what runs.
        if let Some(index) = &locked.index_digest {
            let tied = match indexes.get(&locked.role) {
                Some(tied) => tied.clone(),
                None => {
                    let images = crate::ops::tie::role_images(lock, locked.role);
                    let tied = crate::ops::tie::in_archive(archive, index, &images)?;
                    indexes.insert(locked.role, tied.clone());
                    tied
                }
            };
            if let Err(why) = tied {
                let mut report = ImageReport::of(locked, Some(Source::Archive));
                report.status = Status::Different;
                report.detail = Some(why);
                reports.push(report);
                continue;
            }
        }
        if held {
            let select = Select::Manifest(locked.manifest_digest.to_string());
            let (scan, inventory) = read::inventory_of_file(archive, &select, quiet, &mut known)?;
            reports.push(archive_report(locked, &scan, inventory));
        } else {
            // Another image than the locked one: compared, if it is the archive's only image.
            match read::inventory_of_file(archive, &Select::Only, quiet, &mut known) {
                Ok((scan, inventory)) => reports.push(archive_report(locked, &scan, inventory)),
                Err(Error::Failed(why)) => {
                    let mut report = ImageReport::of(locked, None);
                    report.status = Status::Missing;
                    report.detail = Some(format!(
                        "the archive does not hold the locked image, nor one other image to compare ({why})"
                    ));
                    reports.push(report);
                }
                Err(other) => return Err(other),
            }
        }
    }
    Ok(reports)
}

/// Why the locked base was not checked in an archive that lacks it: the archive holds another
/// image of its name (said with both digests, never as "the release only"), or none.
fn missing_base(archive: &Path, locked: &lock::Image) -> Result<String> {
    use crate::image::archive::{index_archive, ScanError};
    let name = crate::ui::escape(&locked.name);
    match index_archive(archive, &Select::Named(locked.name.to_string())) {
        Ok(found) => Ok(format!(
            "the base image {name}: the archive holds another image of that name (manifest {}; the lock has {}), so the locked base was not checked",
            found.manifest_digest.as_deref().unwrap_or("unnamed: a docker save archive"),
            locked.manifest_digest
        )),
        Err(ScanError::Interrupted) => Err(Error::Interrupted),
        Err(_) => Ok(format!(
            "the base image {name}: the archive does not hold it, nor another image of that name (an archive of the release alone: its layers are part of the release; `release --archive` writes both)"
        )),
    }
}

/// Does the archive hold the locked image at all (as opposed to holding it corrupt)?
fn holds(archive: &Path, locked: &lock::Image) -> Result<bool> {
    let select = Select::Manifest(locked.manifest_digest.to_string());
    match crate::image::archive::index_archive(archive, &select) {
        Err(crate::image::archive::ScanError::NotHeld(_)) => Ok(false),
        Err(crate::image::archive::ScanError::Interrupted) => Err(Error::Interrupted),
        _ => Ok(true),
    }
}

/// The report of one locked image read from an archive.
fn archive_report(
    locked: &lock::Image,
    scan: &crate::inventory::layers::ImageScan,
    inventory: Inventory,
) -> ImageReport {
    let config = serde_json::to_vec(&scan.config).unwrap_or_default();
    let layers: Vec<String> = scan.layers.iter().map(|(d, _)| d.clone()).collect();
    let image = OciImage {
        manifest_digest: scan.manifest_digest.clone().unwrap_or_default(),
        config_digest: scan.config_digest.clone().unwrap_or_default(),
        layer_instructions: crate::image::oci::layer_instructions(&config, layers.len()),
        layers,
    };
    let mut report = ImageReport::compare(locked, Some(&image));
    report.source = Some(Source::Archive);
    if scan.manifest_digest.is_none() {
        report.detail = Some("the archive has no OCI index, so no manifest digest ties its content to the lock; keep the archive `release --archive` wrote, or `docker save` with the containerd image store".into());
    }
    if report.status == Status::Different {
        add_package_drift(&mut report, locked, Ok(inventory));
    }
    report
}

/// Is the locked image in the engine (by ID) or in its registry (by digest)? Missing only
/// when both answered that they do not have it; an engine or registry that cannot be asked is
/// an error ("could not check"), never a verdict.
fn check_present(
    docker: &Docker,
    image: &lock::Image,
    platform: &str,
    offline: bool,
) -> Result<ImageReport> {
    let mut report = ImageReport::of(image, None);
    // With the containerd image store an image's ID is its manifest digest (its index digest
    // for several platforms); with the classic store it is the config digest.
    let by_id = match docker.image_id(image.engine_digest())? {
        Some(id) => Some(id),
        None if image.index_digest.is_none() => docker.image_id(&image.config_digest)?,
        None => None,
    };
    if by_id.is_some() {
        report.found = Some(image.manifest_digest.to_string());
        report.source = Some(Source::Engine);
        return Ok(report);
    }
    let pinned = crate::image::reference::pinned(&image.name, &image.manifest_digest);
    let registry = if offline {
        None
    } else {
        Some(docker.resolve(&pinned, platform).map_err(|e| match e {
            Error::Failed(why) => Error::Failed(format!(
                "could not check {}{}: it is not in the engine, and {why}",
                image.name,
                image.on_platform()
            )),
            other => other,
        })?)
    };
    if let Some(Ok(_)) = &registry {
        report.found = Some(image.manifest_digest.to_string());
        report.source = Some(Source::Registry);
        return Ok(report);
    }
    not_found(
        docker,
        image,
        report,
        &pinned,
        registry.map(|answer| answer.map(|_| ())),
    )
}

/// The locked image is in neither the engine nor (as `pinned`) its registry, which answered
/// `registry` (`None`: not asked): another image under its tag is compared, else it is missing.
fn not_found(
    docker: &Docker,
    image: &lock::Image,
    mut report: ImageReport,
    pinned: &str,
    registry: Option<std::result::Result<(), String>>,
) -> Result<ImageReport> {
    match docker.image_id(&image.name)? {
        Some(other) => {
            report.status = Status::Different;
            report.found = Some(other);
            report.source = Some(Source::Engine);
            report.detail = Some(format!("the engine's {} is another image; the locked one is neither in the engine nor at {pinned}", image.name));
            let mut known = HashMap::new();
            let inventory = read::inventory_of_image(docker, &image.name, None, true, &mut known)
                .map(|(_, inv)| inv);
            add_package_drift(&mut report, image, inventory);
        }
        None => {
            report.status = Status::Missing;
            report.detail = Some(match registry {
                Some(Err(why)) => format!("not in the engine, and the registry answered: {why}"),
                _ => "not in the engine (the registry was not asked: --offline)".into(),
            });
        }
    }
    Ok(report)
}

/// Has the base tag moved? A lookup that fails leaves the tag "unknown" (it is not part of
/// the verdict), but an interrupt stops the command.
fn check_base_tag(docker: &Docker, base: &lock::Base, platform: &str) -> Result<BaseReport> {
    let mut report = BaseReport {
        reference: base.reference.to_string(),
        dockerfile: base.dockerfile.clone(),
        locked: base.index_digest.to_string(),
        current: None,
        tag: TagState::Unchanged,
        detail: None,
    };
    if base.reference.contains('@') {
        report.current = Some(base.index_digest.to_string());
        return Ok(report);
    }
    match docker.resolve(&base.reference, platform) {
        Ok(Ok(now)) => {
            if base.index_digest != now.index_digest {
                report.tag = TagState::Moved;
            }
            report.current = Some(now.index_digest);
        }
        Ok(Err(why)) => {
            report.tag = TagState::Unknown;
            report.detail = Some(why);
        }
        Err(Error::Failed(why)) => {
            report.tag = TagState::Unknown;
            report.detail = Some(why);
        }
        Err(e) => return Err(e),
    }
    Ok(report)
}

/// How a rebuild is asked for: where the commit comes from, what is done with the base, and
/// the reviewer's inputs.
struct Rebuild<'a> {
    source: Option<&'a Path>,
    base: BaseChoice,
    /// An archive holding the locked base, for `--base locked`.
    archive: Option<&'a Path>,
    inputs: &'a RebuildInputs,
    /// The platforms to rebuild and compare (of a multi-platform lock, maybe some only).
    platforms: &'a [String],
    /// `--offline`: nothing fetched (with `--archive` and `--base locked`, the only rebuild that
    /// can be done so): no clone, and no image the release Dockerfile would pull.
    offline: bool,
}

fn rebuild(
    lock: &Lock,
    lock_path: &Path,
    how: Rebuild,
    docker: &Docker,
    ui: &Ui,
    quiet: bool,
) -> Result<Vec<ImageReport>> {
    let git = Git::new()?;
    let work = crate::scratch::work_dir("verify")?;
    let (mut plan, ignore) = locked_plan(lock, lock_path, &how, &git, work.path(), ui)?;
    plan.logged = true;
    let explainer = Explainer {
        docker,
        work: work.path(),
        ignore: &ignore,
        ui,
        quiet,
        built_by: crate::ops::equivalent::engine_words(
            &lock.builder.docker_engine,
            &lock.builder.engine_go,
        ),
        builder: &plan.settings.builder,
        rebuilt_by: std::cell::OnceCell::new(),
    };
    // Only a note, for a lock cut with BuildKit's rewrite-timestamp: asking the builder costs
    // three processes, so only when there is a base, and a builder that cannot be asked here
    // fails the build itself, with its own error.
    if plan.base.is_some() && plan.settings.timestamps == lock::Timestamps::RewriteTimestamp {
        if let Ok(builder) = docker.facts(&plan.settings.builder) {
            plan.note_base_rewrite(&builder, &|m| ui.progress(m));
        }
    }
    let (mut reports, base_pin, built_on) = if plan.base.is_some() {
        base_for_release(lock, lock_path, &plan, &how, &explainer)?
    } else {
        (Vec::new(), None, None)
    };
    let release_name = lock
        .image(Role::Release)
        .map(|i| i.name.to_string())
        .unwrap_or_default();
    let built = plan.build_release(
        docker,
        work.path(),
        &release_name,
        quiet,
        &|m| ui.progress(m),
        base_pin.as_ref(),
    )?;
    for locked in lock
        .images
        .iter()
        .filter(|i| i.role == Role::Release && checked(i, how.platforms))
    {
        let mut report = ImageReport::compare(locked, built.image_for(&locked.platform_name()));
        report.built_on = built_on;
        explainer.explain(&mut report, locked, &built);
        reports.push(report);
    }
    tie_rebuilt_index(
        lock,
        &built,
        how.platforms,
        &mut reports,
        docker,
        work.path(),
    )?;
    Ok(reports)
}

/// Of several platforms, every locked platform rebuilt identical must also rebuild the locked
/// image index: the lock's `index_digest` is what the engine loads and runs, and an index
/// that is not the rebuilt one may list another manifest. Where the engine or the registry
/// has the locked index, the report says which platform it lists which manifest for. (A
/// rebuild of some platforms makes another index and cannot check the locked one.)
fn tie_rebuilt_index(
    lock: &Lock,
    built: &Built,
    platforms: &[String],
    reports: &mut [ImageReport],
    docker: &Docker,
    work: &Path,
) -> Result<()> {
    let Some(rebuilt) = &built.index else {
        return Ok(());
    };
    let all = crate::ops::tie::role_images(lock, built.role);
    let Some(locked) = all.first().and_then(|i| i.index_digest.as_deref()) else {
        return Ok(());
    };
    let of_role = |r: &&mut ImageReport| r.role == built.role;
    if rebuilt == locked
        || all.iter().any(|i| !checked(i, platforms))
        || reports
            .iter_mut()
            .filter(of_role)
            .any(|r| r.status != Status::Identical)
    {
        return Ok(());
    }
    let mut why = format!(
        "the lock's image index is {locked}, not the rebuilt {rebuilt} that lists the locked manifests"
    );
    let listed = if docker.image_id(locked)?.is_some() {
        Some(crate::ops::tie::in_engine(docker, locked, &all, work)?)
    } else if crate::image::reference::repository(&all[0].name).contains('/') {
        match crate::ops::tie::in_registry(docker, &all[0].name, locked, &all) {
            Ok(Ok(tied)) => Some(tied),
            Ok(Err(_)) | Err(Error::Failed(_)) | Err(Error::Process(_)) => None,
            Err(other) => return Err(other),
        }
    } else {
        None
    };
    match listed {
        Some(Err(untied)) => why = format!("{why}: {untied}"),
        Some(Ok(())) => {}
        None => why.push_str(" (the locked index is neither in the engine nor in its registry, to say what it lists)"),
    }
    for report in reports.iter_mut().filter(|r| r.role == built.role) {
        report.status = Status::Different;
        report.detail = Some(why.clone());
    }
    Ok(())
}

/// The locked commit, materialised under `work`, and the build plan the lock describes (every
/// Dockerfile checked against its locked sha256); with the accepted noise of its repro.toml.
fn locked_plan(
    lock: &Lock,
    lock_path: &Path,
    how: &Rebuild,
    git: &Git,
    work: &Path,
    ui: &Ui,
) -> Result<(Plan, Vec<String>)> {
    let repo = source_repository(lock, lock_path, how.source, how.offline, git, work, ui)?;
    ui.progress(&format!(
        "copying commit {} into a clean build directory",
        lock.short_commit()
    ));
    let checkout = work.join("src");
    for warning in git
        .materialise(
            &repo,
            &lock.source.commit,
            &checkout,
            lock.build.source_files_epoch(),
        )?
        .warnings()
    {
        ui.warn(&warning);
    }
    // Every path the lock names must resolve inside the commit, links included.
    let project = confine(
        &checkout,
        &checkout,
        lock.source.path.as_ref(),
        "the lock's source.path",
    )?;
    // Accepted noise, as the locked commit's repro.toml says.
    let ignore = crate::project::Config::load(&checkout, &project)?
        .verify
        .ignore;

    let settings = locked_settings(lock, how);
    let file = |role: Role| {
        lock.dockerfiles
            .iter()
            .find(|d| d.role == role)
            .map(|d| d.path.as_str())
    };
    let release_file = file(Role::Release).ok_or_else(|| {
        Error::Failed(format!(
            "{}: no [[dockerfile]] with role = \"release\"",
            lock_path.display()
        ))
    })?;
    let plan = Plan::new(
        settings,
        &checkout,
        &project,
        file(Role::Base),
        release_file,
        |external, dockerfile, platform| {
            lock.bases
                .iter()
                .find(|b| {
                    b.reference == external.image
                        && b.dockerfile == dockerfile
                        && b.platform.as_ref().map_or(true, |p| *p == *platform)
                })
                .cloned()
                .ok_or_else(|| {
                    Error::Failed(format!(
                "{dockerfile}:{}: {} is not pinned in {}; the lock does not match commit {}",
                external.line, external.image, lock_path.display(), lock.short_commit()
            ))
                })
        },
    )?;
    check_locked_dockerfiles(&plan, lock, lock_path)?;
    if how.offline {
        let pulled = plan
            .release
            .parsed
            .externals
            .iter()
            .find(|e| !crate::ops::build::is_built_base(&lock.build.image, &e.image));
        if let Some(pulled) = pulled {
            return Err(Error::Failed(format!(
                "--offline fetches nothing, but {} line {} pulls {}, which only its registry has; drop --offline",
                plan.release.path,
                pulled.line,
                crate::ui::escape(&crate::error::clip(&pulled.image))
            )));
        }
    }
    Ok((plan, ignore))
}

/// The build settings a rebuild uses: the lock's, with the verifier's inputs (secrets, SSH,
/// hosts and arguments, some overridden) and the proxies of this environment.
fn locked_settings(lock: &Lock, how: &Rebuild) -> Settings {
    Settings {
        image: lock.build.image.to_string(),
        platform: how.platforms.join(","),
        source_date_epoch: lock.build.source_date_epoch,
        base_source_date_epoch: lock.build.base_source_date_epoch,
        target: lock.build.target.as_deref().unwrap_or_default().to_string(),
        builder: String::new(),
        args: how.inputs.args.clone(),
        context: lock.build.context.to_string(),
        use_cache: false,
        compression: lock.build.compression,
        timestamps: lock.build.timestamps,
        // A rebuild shows BuildKit's whole log, as it did before release had step lines.
        full_log: true,
        image_config: lock.build.image_config,
        layer_encoder: lock.build.layer_encoder,
        annotations: lock.build.annotations.clone(),
        inputs: BuildInputs {
            secrets: how
                .inputs
                .secrets
                .iter()
                .map(|s| s.buildx_value())
                .collect(),
            ssh: how.inputs.ssh.iter().map(|s| s.buildx_value()).collect(),
            network: lock.build.network.buildx_value().to_string(),
            add_hosts: how.inputs.add_hosts.clone(),
            shm_size: lock
                .build
                .shm_size
                .as_deref()
                .unwrap_or_default()
                .to_string(),
            ulimits: lock.build.ulimits.iter().map(|u| u.to_string()).collect(),
            contexts: Default::default(),
            proxies: proxies_from_env(),
        },
        // Used as locked: images by digest, directories inside the materialised commit.
        contexts: lock
            .build
            .contexts
            .iter()
            .map(|(name, context)| (name.to_string(), context.to_string()))
            .collect(),
    }
}

/// Every Dockerfile the plan builds has the sha256 the lock records for it.
fn check_locked_dockerfiles(plan: &Plan, lock: &Lock, lock_path: &Path) -> Result<()> {
    for entry in plan.dockerfile_entries()? {
        let locked = lock.dockerfiles.iter().find(|d| d.path == entry.path);
        if locked.map(|d| &d.sha256) != Some(&entry.sha256) {
            return Err(Error::Failed(format!(
                "{}: {} at commit {} does not have the locked sha256; the lock was not written for this commit",
                lock_path.display(), entry.path, lock.short_commit()
            )));
        }
    }
    Ok(())
}

/// What a differing image is explained with: the packages, then the files of the differing
/// layers when the locked image can be read from the engine.
struct Explainer<'a> {
    docker: &'a Docker,
    work: &'a Path,
    ignore: &'a [String],
    ui: &'a Ui,
    quiet: bool,
    /// The engine the lock says built the images, in words.
    built_by: String,
    /// The builder the rebuild used, asked for its engine once, when an image differs.
    builder: &'a str,
    rebuilt_by: std::cell::OnceCell<Option<String>>,
}

impl Explainer<'_> {
    /// The engines that built and rebuilt the images, for an equivalence judgement.
    fn engines(&self) -> Option<(String, String)> {
        let rebuilt = self.rebuilt_by.get_or_init(|| {
            self.docker
                .facts(self.builder)
                .ok()
                .map(|f| crate::ops::equivalent::engine_words(&f.engine, &f.engine_go))
        });
        rebuilt.clone().map(|r| (self.built_by.clone(), r))
    }

    fn explain(&self, report: &mut ImageReport, locked: &lock::Image, built: &Built) {
        if report.status != Status::Different {
            return;
        }
        let Some(found) = report.found.clone() else {
            return;
        };
        let rebuilt = if built.index.is_some() {
            Select::Manifest(found)
        } else {
            Select::Only
        };
        self.ui.progress(&format!(
            "comparing the packages inside {}{}",
            locked.name,
            locked.on_platform()
        ));
        let mut known = HashMap::new();
        let inventory = read::inventory_of_file(&built.archive, &rebuilt, self.quiet, &mut known)
            .map(|(_, inv)| inv);
        add_package_drift(report, locked, inventory);
        self.ui.progress(&format!(
            "comparing the files of the differing layers of {}{}",
            locked.name,
            locked.on_platform()
        ));
        add_file_causes(
            report,
            locked,
            (&built.archive, &rebuilt),
            self.docker,
            self.work,
            self.ignore,
            &|| self.engines(),
        );
    }
}

/// The base the release is rebuilt on, how it came, and the base's report: the locked base
/// by digest (`--base locked`); else the base rebuilt, and when that differs, the locked base
/// if it is here.
fn base_for_release(
    lock: &Lock,
    lock_path: &Path,
    plan: &Plan,
    how: &Rebuild,
    explainer: &Explainer,
) -> Result<(Vec<ImageReport>, Option<BasePin>, Option<BuiltOn>)> {
    let (docker, work, ui) = (explainer.docker, explainer.work, explainer.ui);
    let platform = &lock.build.platform;
    // Every platform of the locked base (the pin names its whole index), and those checked.
    let all: Vec<&lock::Image> = lock
        .images
        .iter()
        .filter(|i| i.role == Role::Base)
        .collect();
    let checked_bases: Vec<&lock::Image> = all
        .iter()
        .copied()
        .filter(|i| checked(i, how.platforms))
        .collect();
    let Some(first) = checked_bases.first().copied() else {
        return Err(Error::Failed(format!(
            "{}: the lock names a base Dockerfile but no [[image]] with role = \"base\"",
            lock_path.display()
        )));
    };
    // The locked base is named in place only where the builder reads the engine's store.
    let in_place = || match docker.facts(&plan.settings.builder) {
        Ok(facts) => docker.builder_reads_engine_store(&facts).unwrap_or(false),
        Err(_) => false,
    };
    if how.base == BaseChoice::Locked {
        let (pin, source) = crate::ops::kept::locked_base(&all, platform, how.archive, how.archive.is_none() && in_place(), docker, work, ui)?
            .map_err(|why| {
                Error::Failed(format!(
                    "the locked base {} ({}) {why}; give the paper's archive with --archive FILE, or rebuild the base too (drop --base locked)",
                    first.name, first.engine_digest()
                ))
            })?;
        let reports = checked_bases
            .iter()
            .map(|locked| {
                let mut report = ImageReport::of(locked, Some(source));
                report.found = Some(locked.manifest_digest.to_string());
                report.config_identical = Some(true);
                report.detail = Some(format!(
                    "verified by digest ({}), not rebuilt: --base locked",
                    source.as_str()
                ));
                report
            })
            .collect();
        return Ok((reports, Some(pin), Some(BuiltOn::LockedBase)));
    }
    let built = plan
        .build_base(docker, work, explainer.quiet, false, &|m| ui.progress(m))
        .map_err(|e| match e {
            Error::Process(failure)
                if failure
                    .downcast_ref::<crate::engine::buildlog::BuildFailure>()
                    .is_some() =>
            {
                Error::Failed(format!(
                    "{failure}; to verify the release on the locked base without rebuilding the base, add --base locked"
                ))
            }
            other => other,
        })?;
    let mut reports = Vec::new();
    for locked in &checked_bases {
        let mut report = ImageReport::compare(locked, built.image_for(&locked.platform_name()));
        explainer.explain(&mut report, locked, &built);
        reports.push(report);
    }
    tie_rebuilt_index(lock, &built, how.platforms, &mut reports, docker, work)?;
    let rebuilt = || {
        BasePin::archive(
            &built.archive,
            built.digest(),
            &work.join("base-layout"),
            built.layers(),
        )
    };
    if reports.iter().all(|r| r.status == Status::Identical) {
        return Ok((reports, Some(rebuilt()?), Some(BuiltOn::RebuiltBase)));
    }
    // The base does not rebuild identical (a mirror moved, say): the release can still be
    // checked on the base that was locked, if it is here.
    ui.progress(&format!(
        "the base differs; looking for the locked base {} to rebuild the release on",
        first.engine_digest()
    ));
    match crate::ops::kept::locked_base(&all, platform, None, in_place(), docker, work, ui)? {
        Ok((pin, _)) => Ok((reports, Some(pin), Some(BuiltOn::LockedBase))),
        Err(why) => {
            let note = format!("the release was rebuilt on the rebuilt base, so it differs too: the locked base {why} (load the paper's archive, or pull it, to check the release on it)");
            for report in reports.iter_mut().filter(|r| r.status != Status::Identical) {
                report.detail = Some(match report.detail.take() {
                    Some(d) => format!("{d}; {note}"),
                    None => note.clone(),
                });
            }
            Ok((reports, Some(rebuilt()?), Some(BuiltOn::RebuiltBase)))
        }
    }
}

/// Where the locked commit comes from: `--source DIR`; else the repository holding the lock,
/// when it has the commit; else a clone of the lock's recorded remote.
fn source_repository(
    lock: &Lock,
    lock_path: &Path,
    source: Option<&Path>,
    offline: bool,
    git: &Git,
    work: &Path,
    ui: &Ui,
) -> Result<PathBuf> {
    let commit = &lock.source.commit;
    if let Some(dir) = source {
        let repo = git.toplevel(dir)?;
        if !git.has_commit(&repo, commit) {
            return Err(Error::Failed(format!(
                "--source {}: commit {} is not in that repository; fetch it there (git fetch --all) or point --source at the paper's repository",
                dir.display(),
                lock.short_commit()
            )));
        }
        return Ok(repo);
    }
    let lock_dir = match lock_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Ok(repo) = git.toplevel(&lock_dir) {
        if git.has_commit(&repo, commit) {
            return Ok(repo);
        }
    }
    let remote = &lock.source.remote;
    if remote.is_empty() {
        return Err(Error::Failed(format!(
            "{}: commit {} is not in a repository here and the lock records no remote; pass --source DIR (a checkout holding that commit)",
            lock_path.display(),
            lock.short_commit()
        )));
    }
    if offline {
        return Err(Error::Failed(format!(
            "{}: commit {} is not in a repository here, and --offline fetches nothing (no clone of {remote}); pass --source DIR (a checkout holding that commit)",
            lock_path.display(),
            lock.short_commit()
        )));
    }
    ui.progress(&format!(
        "cloning {remote} for commit {}",
        lock.short_commit()
    ));
    let clone = work.join("remote");
    git.clone_no_checkout(remote, &clone)?;
    if !git.has_commit(&clone, commit) {
        return Err(Error::Failed(format!(
            "commit {commit} is not in {remote}; it may have been rewritten or not pushed. Pass --source DIR with a checkout that has it"
        )));
    }
    Ok(clone)
}

/// Explains a different image file by file, when the locked image can be read from the engine.
fn add_file_causes(
    report: &mut ImageReport,
    locked: &lock::Image,
    (rebuilt, rebuilt_select): (&Path, &Select),
    docker: &Docker,
    work: &Path,
    ignore: &[String],
    engines: &dyn Fn() -> Option<(String, String)>,
) {
    let note = |report: &mut ImageReport, note: String| {
        report.detail = Some(match report.detail.take() {
            Some(d) => format!("{d}; {note}"),
            None => note,
        });
    };
    let engine_digest = locked.engine_digest();
    if !matches!(docker.image_id(engine_digest), Ok(Some(_))) {
        note(report, format!("files not compared: the locked image {engine_digest} is not in the engine (pull or load it to see which files differ, and whether the rebuild is equivalent)"));
        return;
    }
    // One platform of a saved image index is read by its locked manifest digest.
    let locked_select = if locked.index_digest.is_none() {
        Select::Only
    } else {
        Select::Manifest(locked.manifest_digest.to_string())
    };
    let saved = work.join(format!("locked-{}.tar", locked.role));
    let result = docker
        .save_to(engine_digest, &saved)
        .map_err(|e| e.to_string())
        .and_then(|_| {
            Ok((
                explain::index(&saved, &locked_select)?,
                explain::index(rebuilt, rebuilt_select)?,
            ))
        })
        .and_then(|(a, b)| {
            crate::ops::equivalent::settle(
                report,
                (
                    &a.config,
                    &locked
                        .layers
                        .iter()
                        .map(|l| l.to_string())
                        .collect::<Vec<_>>(),
                ),
                (&b.config, &b.layer_names()),
                engines(),
            );
            // Same diff IDs: every layer holds the same files, and reading them shows nothing.
            if report.status == Status::Equivalent {
                return Ok(Vec::new());
            }
            explain::compare_layers(
                (&saved, &a),
                (rebuilt, &b),
                ignore,
                explain::Bases::default(),
            )
        });
    match result {
        Ok(mut layers) => {
            explain::claim_package_files(&mut layers, &report.packages);
            report.causes = explain::rank_causes(&layers);
            report.files = layers;
        }
        Err(e) => note(report, format!("files not compared: {e}")),
    }
}

/// Explains a different image by its packages: added, removed, or at another version.
fn add_package_drift(report: &mut ImageReport, locked: &lock::Image, found: Result<Inventory>) {
    match found {
        Ok(inventory) => report.packages = locked.inventory.drift(&inventory.to_lock()),
        Err(e) => {
            let note = format!("packages not compared: {e}");
            report.detail = Some(match report.detail.take() {
                Some(d) => format!("{d}; {note}"),
                None => note,
            });
        }
    }
}
