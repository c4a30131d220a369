//! `docker repro verify`: are the locked images here, and does the locked commit rebuild to them?

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::cli::{Format, VerifyArgs};
use crate::docker::Docker;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::git::Git;
use crate::inspect;
use crate::inventory::Inventory;
use crate::lockfile::{self, Lock};
use crate::oci::OciImage;
use crate::pipeline::{Plan, Settings};
use crate::report::{BaseReport, ImageReport, LayerDiff, Report, Status};
use crate::ui::Ui;

pub fn run(args: &VerifyArgs, globals: Vec<String>) -> Result<Exit> {
    let ui = Ui { quiet: args.quiet };
    let lock_path = args
        .lock
        .clone()
        .unwrap_or_else(|| PathBuf::from(lockfile::DEFAULT_PATH));
    let lock = Lock::read(&lock_path)?;
    if args.rebuild && lock.source.dirty {
        return Err(Error::Failed(format!(
            "{}: released with uncommitted changes (dirty = true); that source is in no commit, so it can never be verified by rebuild. Verify the image by digest (drop --rebuild), or cut a release from a clean commit",
            lock_path.display()
        )));
    }
    let docker = Docker::new(globals)?;
    let images = if args.rebuild {
        rebuild(&lock, &lock_path, &docker, &ui, args.quiet)?
    } else {
        lock.images
            .iter()
            .map(|image| check_present(&docker, image, &lock.build.platform))
            .collect()
    };
    let bases = lock
        .bases
        .iter()
        .map(|b| check_base_tag(&docker, b, &lock.build.platform))
        .collect();
    let mut report = Report {
        lock: lock_path.display().to_string(),
        mode: if args.rebuild { "rebuild" } else { "digests" },
        commit: lock.source.commit.clone(),
        verdict: "identical",
        images,
        bases,
    };
    if !report.identical() {
        report.verdict = "different";
    }
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        ),
        Format::Human => print!("{}", report.render_human()),
    }
    Ok(if report.identical() {
        Exit::Ok
    } else {
        Exit::Different
    })
}

/// Is the locked image in the engine (by ID) or in its registry (by digest)?
fn check_present(docker: &Docker, image: &lockfile::Image, platform: &str) -> ImageReport {
    let mut report = ImageReport {
        role: image.role.clone(),
        name: image.name.clone(),
        status: Status::Identical,
        locked: image.manifest_digest.clone(),
        found: None,
        source: None,
        detail: None,
        config_identical: None,
        layers: vec![],
        packages: vec![],
    };
    // With the containerd image store an image's ID is its manifest digest; with the classic
    // store it is the config digest.
    let by_id = docker
        .image_id(&image.manifest_digest)
        .or_else(|| docker.image_id(&image.config_digest));
    if by_id.is_some() {
        report.found = Some(image.manifest_digest.clone());
        report.source = Some("engine");
        return report;
    }
    let repo = image
        .name
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or(image.name.as_str(), |(r, _)| r);
    let pinned = format!("{repo}@{}", image.manifest_digest);
    let registry = docker.resolve(&pinned, platform);
    if registry.is_ok() {
        report.found = Some(image.manifest_digest.clone());
        report.source = Some("registry");
        return report;
    }
    match docker.image_id(&image.name) {
        Some(other) => {
            report.status = Status::Different;
            report.found = Some(other);
            report.source = Some("engine");
            report.detail = Some(format!("the engine's {} is another image; the locked one is neither in the engine nor at {pinned}", image.name));
            let mut known = HashMap::new();
            let inventory = inspect::inventory_of_image(docker, &image.name, true, &mut known)
                .map(|(_, inv)| inv);
            add_package_drift(&mut report, image, inventory);
        }
        None => {
            report.status = Status::Missing;
            report.detail = Some(format!(
                "not in the engine, and not in the registry at {pinned}"
            ));
        }
    }
    report
}

fn check_base_tag(docker: &Docker, base: &lockfile::Base, platform: &str) -> BaseReport {
    let mut report = BaseReport {
        reference: base.reference.clone(),
        dockerfile: base.dockerfile.clone(),
        locked: base.index_digest.clone(),
        current: None,
        tag: "unchanged",
        detail: None,
    };
    if base.reference.contains('@') {
        report.current = Some(base.index_digest.clone());
        return report;
    }
    match docker.resolve(&base.reference, platform) {
        Ok(now) => {
            if now.index_digest != base.index_digest {
                report.tag = "moved";
            }
            report.current = Some(now.index_digest);
        }
        Err(why) => {
            report.tag = "unknown";
            report.detail = Some(why);
        }
    }
    report
}

fn rebuild(
    lock: &Lock,
    lock_path: &Path,
    docker: &Docker,
    ui: &Ui,
    quiet: bool,
) -> Result<Vec<ImageReport>> {
    let git = Git::new()?;
    let lock_dir = match lock_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let repo = git.toplevel(&lock_dir).map_err(|_| {
        Error::Failed(format!(
            "{}: not inside a git repository that holds commit {}; run verify from a clone of the paper's repository",
            lock_path.display(),
            lock.short_commit()
        ))
    })?;
    let work = tempfile::Builder::new()
        .prefix("docker-repro-verify-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    ui.progress(&format!(
        "copying commit {} into a clean build directory",
        lock.short_commit()
    ));
    let checkout = work.path().join("src");
    git.materialise(&repo, &lock.source.commit, &checkout)?;
    let project = checkout.join(&lock.source.path);

    let settings = Settings {
        image: lock.build.image.clone(),
        platform: lock.build.platform.clone(),
        source_date_epoch: lock.build.source_date_epoch,
        target: lock.build.target.clone(),
        builder: String::new(),
        args: lock.build.args.clone(),
        context: lock.build.context.clone(),
        use_cache: false,
    };
    let file = |role: &str| {
        lock.dockerfiles
            .iter()
            .find(|d| d.role == role)
            .map(|d| d.path.as_str())
    };
    let release_file = file("release").ok_or_else(|| {
        Error::Failed(format!(
            "{}: no [[dockerfile]] with role = \"release\"",
            lock_path.display()
        ))
    })?;
    let plan = Plan::new(
        settings,
        &project,
        file("base"),
        release_file,
        |external, dockerfile| {
            lock.bases
                .iter()
                .find(|b| b.reference == external.image && b.dockerfile == dockerfile)
                .cloned()
                .ok_or_else(|| {
                    Error::Failed(format!(
                "{dockerfile}:{}: {} is not pinned in {}; the lock does not match commit {}",
                external.line, external.image, lock_path.display(), lock.short_commit()
            ))
                })
        },
    )?;
    for entry in plan.dockerfile_entries() {
        let locked = lock.dockerfiles.iter().find(|d| d.path == entry.path);
        if locked.map(|d| &d.sha256) != Some(&entry.sha256) {
            return Err(Error::Failed(format!(
                "{}: {} at commit {} does not have the locked sha256; the lock was not written for this commit",
                lock_path.display(), entry.path, lock.short_commit()
            )));
        }
    }
    let release_name = lock
        .image("release")
        .map(|i| i.name.clone())
        .unwrap_or_default();
    let built = plan.build(docker, work.path(), &release_name, quiet, &|m| {
        ui.progress(m)
    })?;
    let mut known = HashMap::new();
    Ok(lock
        .images
        .iter()
        .map(|locked| {
            let rebuilt = built.iter().find(|b| b.role == locked.role);
            let mut report = compare(locked, rebuilt.map(|b| &b.image));
            if let (Status::Different, Some(b)) = (report.status, rebuilt) {
                ui.progress(&format!("comparing the packages inside {}", locked.name));
                let inventory =
                    inspect::inventory_of_file(&b.archive, quiet, &mut known).map(|(_, inv)| inv);
                add_package_drift(&mut report, locked, inventory);
            }
            report
        })
        .collect())
}

/// Explains a different image by its packages: added, removed, or at another version.
fn add_package_drift(report: &mut ImageReport, locked: &lockfile::Image, found: Result<Inventory>) {
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

fn compare(locked: &lockfile::Image, rebuilt: Option<&OciImage>) -> ImageReport {
    let mut report = ImageReport {
        role: locked.role.clone(),
        name: locked.name.clone(),
        status: Status::Identical,
        locked: locked.manifest_digest.clone(),
        found: None,
        source: Some("rebuild"),
        detail: None,
        config_identical: None,
        layers: vec![],
        packages: vec![],
    };
    let Some(rebuilt) = rebuilt else {
        report.status = Status::Missing;
        report.source = None;
        report.detail = Some("the rebuild produced no such image".into());
        return report;
    };
    report.found = Some(rebuilt.manifest_digest.clone());
    report.config_identical = Some(rebuilt.config_digest == locked.config_digest);
    if rebuilt.manifest_digest == locked.manifest_digest {
        return report;
    }
    report.status = Status::Different;
    let count = locked.layers.len().max(rebuilt.layers.len());
    for i in 0..count {
        let (a, b) = (locked.layers.get(i), rebuilt.layers.get(i));
        if a != b {
            report.layers.push(LayerDiff {
                index: i + 1,
                locked: a.cloned(),
                found: b.cloned(),
                instruction: rebuilt
                    .layer_instructions
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| "(no layer in the rebuild)".into()),
            });
        }
    }
    if report.layers.is_empty() {
        report.detail = Some(if report.config_identical == Some(false) {
            "all layers are identical; the image config differs (env, labels, history or created time)".into()
        } else {
            "layers and config are identical; the manifest differs (annotations or media types)"
                .into()
        });
    }
    report
}
