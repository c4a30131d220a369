//! `docker repro release`: build from the committed source with every input pinned, load and
//! tag the images, then write `repro.lock` (last, atomically).

use crate::image::platform::Platform;
use crate::image::reference::ImageRef;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{Format, ProgressArg, ReleaseArgs};
use crate::engine::docker::Docker;
use crate::engine::git::Git;
use crate::engine::process::Stopper;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::image::archive::Select;
use crate::image::digest::Digest;
use crate::image::reference::{self, normalise_ref};
use crate::inventory::layers::Merged;
use crate::lock::{self, Base, Lock, Role};
use crate::ops::build::{pin_contexts, Plan, Settings};
use crate::ops::lint;
use crate::ops::read;
use crate::ops::report::Source;
use crate::project::confine::confine;
use crate::project::fingerprint::Fingerprint;
use crate::project::{self, Config};
use crate::ui::Ui;

#[derive(Serialize)]
struct Summary<'a> {
    lock: String,
    commit: &'a str,
    dirty: bool,
    images: Vec<SummaryImage<'a>>,
}

#[derive(Serialize)]
struct SummaryImage<'a> {
    role: Role,
    name: &'a str,
    /// Of a multi-platform release only.
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<&'a Platform>,
    #[serde(skip_serializing_if = "str::is_empty")]
    index_digest: &'a str,
    manifest_digest: &'a str,
}

pub fn run(args: &ReleaseArgs, globals: Vec<String>) -> Result<Exit> {
    let ui = Ui { quiet: args.quiet };
    let project = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let git = Git::new()?;
    let toplevel = git.toplevel(&project)?;
    let config = Config::load(&toplevel, &project)?;
    let ignored: Vec<&'static str> = config.check.ignore.iter().map(|rule| rule.0).collect();
    let inputs = project::inputs(&project, &args.into(), config, &|k| std::env::var(k).ok())?;
    lint_first(&inputs, &ignored, args.strict, &ui)?;

    let facts = source_facts(&git, &project, &inputs.lock, args.allow_dirty)?;
    let dirty = !facts.dirty_files.is_empty();
    if dirty {
        ui.warn("releasing with uncommitted changes (--allow-dirty): the lock records dirty = true and can never be verified by rebuild");
    } else if !facts.untracked_files.is_empty() {
        ui.warn(&format!(
            "untracked files are not in the release, which is built from the commit: {}; `git add` what belongs to it, and list generated files (__pycache__/, outputs) in .gitignore",
            crate::engine::git::list_names(&facts.untracked_files)
        ));
    }
    let rel_path = relative_path(&facts.toplevel, &project)?;

    let docker = Docker::new(globals)?;
    let builder = docker.facts(&inputs.builder)?;
    let platform = inputs
        .platform
        .clone()
        .unwrap_or_else(|| builder.engine_platform.clone());
    let source_date_epoch = args.source_date_epoch.unwrap_or(facts.commit_time);
    // Given explicitly, one epoch is the base's and the release's alike.
    let base_source_date_epoch = match args.source_date_epoch {
        Some(_) => None,
        None => base_epoch(&git, &facts, &project, &rel_path, &inputs)?
            .filter(|epoch| *epoch < source_date_epoch),
    };
    if let Some(epoch) = base_source_date_epoch {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch as u64);
        ui.progress(&format!(
            "the base's inputs last changed in a commit of {}: that is the base's SOURCE_DATE_EPOCH ({epoch}), so every commit since builds the same base",
            humantime::format_rfc3339_seconds(when)
        ));
    }
    let contexts = pin_contexts(&docker, &inputs.contexts, &platform, &|m| ui.progress(m))?;
    let mut settings = build_settings(
        &inputs,
        &platform,
        source_date_epoch,
        args.use_cache,
        &contexts,
    );
    settings.base_source_date_epoch = base_source_date_epoch;
    settings.full_log = args.progress == ProgressArg::Plain;
    settings.annotations = crate::image::annotations::Annotations::of_release(
        &facts.commit,
        &facts.remote,
        source_date_epoch,
    )
    .map_err(|why| {
        Error::Failed(format!(
            "the release's image annotations: {why}; set a remote URL git can record (git remote set-url origin URL)"
        ))
    })?;

    let work = crate::scratch::work_dir("release")?;
    let (root, source) = build_source(
        &git,
        &facts,
        &project,
        &rel_path,
        work.path(),
        // A release with a base fingerprints it: see lock::Build::source_files_epoch.
        source_date_epoch,
        &ui,
    )?;

    let base_tag = format!("{}:base", inputs.image);
    let plan = Plan::new(
        settings,
        &root,
        &source,
        inputs.base_file.as_deref(),
        &inputs.release_file,
        |external, dockerfile, build_platform| {
            let platform = external.platform.as_deref().unwrap_or(build_platform);
            resolve_base(&docker, external, dockerfile, platform, &base_tag, &ui)
        },
    )?;
    warn_unpinned_frontends(&plan, &ui);

    let secret_ids: Vec<String> = inputs.secrets.iter().map(|s| s.id.clone()).collect();
    let ssh_ids: Vec<String> = inputs.ssh.iter().map(|s| s.id.clone()).collect();
    let fingerprint = plan.base_fingerprint(&secret_ids, &ssh_ids)?;
    let immutable_tag = fingerprint
        .as_ref()
        .map(|f| format!("{}:{}", inputs.image, f.tag()));
    let last = fingerprint
        .as_ref()
        .and_then(|f| last_base(&inputs.lock, f, &ui));
    // A base the engine holds is named in place, not saved and sent again, where the builder
    // reads the engine's store and no archive needs its bytes.
    let engine_store = plan.base.is_some() && docker.builder_reads_engine_store(&builder)?;
    let in_place = engine_store && args.archive.is_none();
    let kept = match (&last, args.rebuild_base) {
        (Some(last), false) => keep_base(&docker, last, &platform, in_place, work.path(), &ui)?,
        (Some(last), true) => {
            ui.progress(&format!(
                "base unchanged (fingerprint {}), rebuilt as --rebuild-base asks: it is compared with the kept {}",
                last.fingerprint,
                last.digest()
            ));
            None
        }
        (None, _) => None,
    };

    let release_tag = format!("{}:{}", inputs.image, &facts.commit[..12]);
    let tags = |role: Role| {
        image_tags(
            role,
            &base_tag,
            immutable_tag.as_deref(),
            &release_tag,
            &inputs.image,
            &inputs.tags,
        )
    };
    // A base kept where the engine holds it, whose files this machine keeps merged, is left
    // out of the release's archive altogether: nothing of it is read again.
    let kept_files = match (&kept, &last) {
        (Some(kept), Some(last)) if in_place && kept.source == Source::Engine => {
            match &last.images[..] {
                [one] if one.index_digest.is_none() => crate::ops::kept::MergedScans::open()
                    .zip(crate::ops::kept::Documents::open())
                    .and_then(|(scans, documents)| scans.agreeing(one, &documents)),
                _ => None,
            }
        }
        _ => None,
    };
    // The registry image a base to be built stands on: its blobs are left out of the base's
    // export and archive (the engine's store holds them once BuildKit has pulled them), and
    // its files are taken merged as this machine keeps them, or read from the builder beside
    // the base's build where it keeps none.
    let registry = match (&kept, in_place) {
        (None, true) => plan.base_registry_image(&docker)?.map(|image| {
            let files =
                crate::ops::kept::MergedScans::open().and_then(|scans| scans.registry(&image));
            (image, files)
        }),
        _ => None,
    };
    let BuiltImages {
        built,
        in_engine,
        moved: moved_base_tags,
        base_read,
        registry_export: _registry_export,
    } = build_images(
        &plan,
        &docker,
        work.path(),
        &release_tag,
        &tags,
        args.quiet,
        &ui,
        kept.as_ref().map(|k| (k, kept_files)),
        registry.as_ref(),
        engine_store,
    )?;
    // Every base layer in the release is the locked (or just built) blob, checked by digest.
    if plan.release_stands_on_base() {
        let release = built.iter().find(|b| b.role == Role::Release);
        let base: Vec<(String, Vec<String>)> = match (&last, kept.is_some()) {
            (Some(last), true) => last
                .images
                .iter()
                .map(|i| {
                    (
                        i.platform
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        i.layers.iter().map(ToString::to_string).collect(),
                    )
                })
                .collect(),
            _ => built
                .iter()
                .filter(|b| b.role == Role::Base)
                .flat_map(|b| &b.images)
                .map(|i| (i.platform.clone(), i.image.layers.clone()))
                .collect(),
        };
        if let Some(release) = release {
            crate::ops::build::check_on_base(&base, release)?;
        }
    }
    if let (Some(last), true, Some(rebuilt)) = (
        &last,
        args.rebuild_base,
        built.iter().find(|b| b.role == Role::Base),
    ) {
        if rebuilt.digest() == last.digest() {
            ui.progress(&format!(
                "--rebuild-base: the base came out identical to the kept one ({})",
                last.digest()
            ));
        } else {
            ui.warn(&format!(
                "--rebuild-base: the base came out as {}, not as the kept {} with the same inputs (a mirror or a base image moved, or the builder differs); the lock now names the rebuilt one",
                rebuilt.digest(),
                last.digest()
            ));
        }
    }
    let (mut images, sboms) = load_and_read(
        &docker,
        &built,
        &tags,
        in_engine.as_ref(),
        base_read,
        work.path(),
        args.quiet,
        &ui,
    )?;
    let mut base_epoch_of_lock = base_source_date_epoch;
    if let (Some(kept), Some(last)) = (&kept, &last) {
        tag_kept(&docker, kept, last, &tags(Role::Base), &ui)?;
        // First, where a built base stands: a kept base gives the lock the same bytes.
        let kept_name: Option<ImageRef> = immutable_tag
            .as_deref()
            .map(|tag| lock::recorded("image.name", tag))
            .transpose()?;
        let kept_images = last.images.iter().map(|i| lock::Image {
            name: kept_name.clone().unwrap_or_else(|| i.name.clone()),
            ..i.clone()
        });
        images.splice(0..0, kept_images);
        base_epoch_of_lock = Some(last.epoch).filter(|e| *e != source_date_epoch);
        if args.sbom.is_some() {
            ui.warn("--sbom: the kept base's SBOM is not written again (the release's is); its packages are in repro.lock, or pass --rebuild-base");
        }
    }

    let lock = assemble_lock(
        &facts,
        &rel_path,
        lock::Build {
            base_source_date_epoch: base_epoch_of_lock,
            base_fingerprint: fingerprint.clone(),
            annotations: plan.settings.annotations.clone(),
            ..locked_build(&inputs, &platform, source_date_epoch, contexts)?
        },
        builder,
        (plan.dockerfile_entries()?, plan.bases.clone()),
        images,
        crate::engine::gpu::host_gpus(),
    )?;
    // Checked before anything leaves this machine: the lock is attached as it will be written.
    lock.validate().map_err(|m| {
        Error::Failed(format!(
            "internal error: the new lock is invalid ({m}); nothing was written"
        ))
    })?;
    if let Some(dest) = &args.archive {
        let mut all = Vec::new();
        if let Some(saved) = kept.as_ref().and_then(|k| k.saved.as_ref()) {
            all.push(crate::ops::build::read_built(
                Role::Base,
                saved.clone(),
                &platform,
            )?);
        } else if kept.is_some() {
            return Err(Error::Failed(format!(
                "--archive: the kept base is only in its registry, so its bytes are not here to archive; pull {} first, or pass --rebuild-base",
                immutable_tag.as_deref().unwrap_or(&base_tag)
            )));
        }
        all.extend(built);
        write_archive(&all, &lock, &sboms, dest, work.path())?;
        ui.progress(&format!("wrote OCI archive {}", dest.display()));
    }
    // The images are in the registry once pushed: a registry that refuses the attachments
    // (one without OCI 1.1 artifacts) must not cost the author the lock of what it holds.
    let attached = if args.push {
        push_and_check(&docker, &lock.images, &tags, &platform, kept.is_some(), &ui)?;
        attach_to_pushed(&lock, &sboms, &ui)
    } else {
        Ok(())
    };
    if let Some(dir) = &args.sbom {
        write_sboms(dir, &sboms, &ui)?;
    }
    // The last moment Ctrl-C can still leave the old lock as it was.
    if crate::cancel::requested() {
        return Err(Error::Interrupted);
    }
    write_lock(&lock, &inputs.lock, &ui)?;
    // The lock names the base the tags now name.
    moved_base_tags.keep();
    print_summary(args.format, &inputs.lock, &lock);
    if lock.source.remote.is_empty() {
        ui.warn(&format!(
            "the repository has no remote, so {} records remote = \"\": a reviewer holding only the lock cannot fetch commit {} to rebuild it. Add the repository you publish (git remote add origin URL) and release again, or hand reviewers the repository with the lock (verify --rebuild --source DIR)",
            inputs.lock.display(),
            lock.short_commit()
        ));
    }
    attached.map_err(|e| {
        Error::Failed(format!(
            "the images are pushed and {} is written, but the lock and SBOMs are not attached to them: {e}; a reviewer holding only the image reference cannot find the lock, so publish it with the paper, or release again once the registry takes OCI artifacts",
            inputs.lock.display()
        ))
    })?;
    Ok(Exit::Ok)
}

/// Lints the base and release Dockerfiles as `check` does, before anything is built: each
/// warning or error (not silenced by repro.toml or an ignore comment) is printed as a warning;
/// with `strict` any of them refuses the release. A Dockerfile that is not a regular file here
/// (missing, or a link, which may point out of the repository) is left to the build plan, which
/// names it or refuses it before reading it.
fn lint_first(
    inputs: &project::Inputs,
    ignored: &[&'static str],
    strict: bool,
    ui: &Ui,
) -> Result<()> {
    let files = inputs
        .base_file
        .iter()
        .map(|f| (f, None))
        .chain(std::iter::once((
            &inputs.release_file,
            Some(&inputs.target),
        )));
    let mut found = 0;
    for (file, target) in files {
        let path = Path::new(file);
        let regular = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file());
        if !regular {
            continue;
        }
        let opts = crate::check::Options {
            build_args: inputs.args.clone(),
            target: target.filter(|t| !t.is_empty()).cloned(),
            platform: inputs
                .platform
                .as_deref()
                .and_then(|p| p.split(',').next())
                .unwrap_or("linux/amd64")
                .to_string(),
            contexts: inputs.contexts.keys().cloned().collect(),
        };
        let mut report = lint::check_one(path, Some(Path::new(&inputs.context)), &opts)?;
        lint::set_apart(&mut report, ignored);
        for f in report
            .findings
            .iter()
            .filter(|f| f.severity >= crate::check::Severity::Warning)
        {
            found += 1;
            ui.warn(&format!(
                "{file}:{}: [{}] {}; fix: {}",
                f.line, f.rule, f.message, f.fix
            ));
        }
    }
    if strict && found > 0 {
        return Err(Error::Lint(format!(
            "--strict: check found {found} problem(s) in the Dockerfiles (above); nothing was built. Fix them, or silence a rule that does not apply with [check] ignore in repro.toml or a # repro:ignore=RULE comment"
        )));
    }
    Ok(())
}

/// The base's own `SOURCE_DATE_EPOCH`: the newest commit time of what the base Dockerfile
/// reads (itself, its `.dockerignore`s, the context files its COPY and ADD name, the whole
/// context when that cannot be told), so that commits changing only code build the same base.
/// `None` without a base, or when the base Dockerfile cannot be read here (the build then
/// says why).
fn base_epoch(
    git: &Git,
    facts: &crate::engine::git::Facts,
    project: &Path,
    rel_path: &Path,
    inputs: &project::Inputs,
) -> Result<Option<i64>> {
    use crate::dockerfile::sources::{context_sources, ContextSources};
    let Some(base_file) = &inputs.base_file else {
        return Ok(None);
    };
    // Within the Dockerfile limit, a regular file only: what is not is refused, with its
    // reason, when the build plan reads it.
    let Ok(bytes) = crate::limits::read(&project.join(base_file), crate::limits::DOCKERFILE) else {
        return Ok(None);
    };
    let Ok(sources) = context_sources(&bytes) else {
        return Ok(None);
    };
    let in_repo = |parts: &[&str]| -> String {
        let mut path = PathBuf::new();
        path.push(rel_path);
        for p in parts {
            path.push(p);
        }
        let words: Vec<String> = path
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(w) => Some(w.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        if words.is_empty() {
            ".".into()
        } else {
            words.join("/")
        }
    };
    let context = inputs.context.as_str();
    let mut paths = vec![
        in_repo(&[base_file]),
        in_repo(&[&format!("{base_file}.dockerignore")]),
        in_repo(&[context, ".dockerignore"]),
    ];
    match sources {
        ContextSources::Whole => paths.push(in_repo(&[context])),
        ContextSources::Paths(sources) => {
            paths.extend(sources.iter().map(|s| in_repo(&[context, s])));
        }
    }
    git.newest_change(&facts.toplevel, &facts.commit, &paths)
}

/// The base of the last lock, when its inputs had the fingerprint the base's inputs have now.
struct LastBase {
    fingerprint: Fingerprint,
    /// Its `[[image]]` entries (one per platform).
    images: Vec<lock::Image>,
    /// The `SOURCE_DATE_EPOCH` it was built with, which the new lock records for it.
    epoch: i64,
}

impl LastBase {
    /// What the engine knows it by: its image index, or its one manifest.
    fn digest(&self) -> &str {
        self.images[0].engine_digest()
    }
}

/// The last lock's base, when it has `fingerprint`; else says on stderr why the base is built.
/// A lock that cannot be read is named in a warning and replaced: it cannot keep a base.
fn last_base(path: &Path, fingerprint: &Fingerprint, ui: &Ui) -> Option<LastBase> {
    if !path.exists() {
        ui.progress(&format!(
            "building the base (fingerprint {fingerprint}): there is no {} to keep one from",
            path.display()
        ));
        return None;
    }
    let last = match Lock::read(path) {
        Ok(last) => last,
        Err(e) => {
            ui.warn(&format!(
                "{e}; the base is built rather than kept, and the new lock replaces it"
            ));
            return None;
        }
    };
    let images: Vec<lock::Image> = last
        .images
        .iter()
        .filter(|i| i.role == Role::Base)
        .cloned()
        .collect();
    match &last.build.base_fingerprint {
        Some(f) if f == fingerprint && !images.is_empty() => {
            return Some(LastBase {
                fingerprint: f.clone(),
                images,
                epoch: last.build.base_epoch(),
            })
        }
        Some(f) if f == fingerprint => ui.progress(&format!(
            "building the base (fingerprint {fingerprint}): {} names no base image to keep",
            path.display()
        )),
        Some(f) => ui.progress(&format!(
            "base inputs changed (fingerprint {f} in {}, now {fingerprint}): building a new base",
            path.display()
        )),
        None => ui.progress(&format!(
            "building the base (fingerprint {fingerprint}): {} records no fingerprint (it was cut before they existed)",
            path.display()
        )),
    }
    None
}

/// The kept base, found by the last lock's digest and checked blob by blob.
struct Kept {
    pin: crate::ops::build::BasePin,
    /// Its bytes, checked, when they came from the engine (for --archive).
    saved: Option<PathBuf>,
    source: Source,
    /// A single-platform base's manifest digest and layers, bottom first.
    order: Option<(String, Vec<String>)>,
}

/// Keeps the last lock's base when the engine or its registry has it by its locked digest
/// (never by a tag, which anyone can move); else says why it is built again.
/// `in_place`: the base may be named where the engine holds it (see
/// [`crate::ops::kept::locked_base`]).
fn keep_base(
    docker: &Docker,
    last: &LastBase,
    platform: &str,
    in_place: bool,
    work: &Path,
    ui: &Ui,
) -> Result<Option<Kept>> {
    let all: Vec<&lock::Image> = last.images.iter().collect();
    match crate::ops::kept::locked_base(&all, platform, None, in_place, docker, work, ui) {
        Ok(Ok((pin, source))) => {
            ui.progress(&format!(
                "base unchanged (fingerprint {}): kept {} ({}), not built",
                last.fingerprint,
                last.digest(),
                source.as_str()
            ));
            let saved = (source == Source::Engine)
                .then(|| work.join("locked-base.tar"))
                .filter(|saved| saved.exists());
            let order = match &last.images[..] {
                [one] if one.index_digest.is_none() => Some((
                    one.manifest_digest.to_string(),
                    one.layers.iter().map(ToString::to_string).collect(),
                )),
                _ => None,
            };
            Ok(Some(Kept {
                pin,
                saved,
                source,
                order,
            }))
        }
        Ok(Err(why)) => {
            ui.progress(&format!(
                "base unchanged (fingerprint {}), but the kept base {} {why}: building it again",
                last.fingerprint,
                last.digest()
            ));
            Ok(None)
        }
        Err(Error::Different(why)) => {
            ui.warn(&format!("{why}: building the base again"));
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

/// Points the base's tags at the kept base in the engine; a tag that named another image is
/// moved back, and said so. A base kept in its registry only is not pulled for its tags.
fn tag_kept(docker: &Docker, kept: &Kept, last: &LastBase, tags: &[String], ui: &Ui) -> Result<()> {
    if kept.source != Source::Engine {
        return Ok(());
    }
    for tag in tags {
        match docker.image_id(tag)? {
            Some(id) if id == last.digest() => continue,
            Some(other) => ui.warn(&format!(
                "{tag} named {other}, not the kept base {}: it names the kept base again",
                last.digest()
            )),
            None => {}
        }
        docker.tag(last.digest(), tag)?;
    }
    Ok(())
}

/// The settings every build of this release shares, from the checked inputs.
fn build_settings(
    inputs: &project::Inputs,
    platform: &str,
    source_date_epoch: i64,
    use_cache: bool,
    contexts: &std::collections::BTreeMap<String, String>,
) -> Settings {
    Settings {
        image: inputs.image.clone(),
        platform: platform.to_string(),
        source_date_epoch,
        base_source_date_epoch: None,
        target: inputs.target.clone(),
        builder: inputs.builder.clone(),
        args: inputs.args.clone(),
        context: inputs.context.clone(),
        use_cache,
        compression: inputs.compression,
        timestamps: crate::ops::build::RELEASE_TIMESTAMPS,
        full_log: false,
        image_config: crate::ops::build::RELEASE_IMAGE_CONFIG,
        layer_encoder: crate::ops::build::RELEASE_LAYER_ENCODER,
        annotations: Default::default(),
        inputs: crate::ops::build::build_inputs(inputs, Default::default()),
        contexts: contexts.clone(),
    }
}

/// What the build may read, and the project directory in it: the working tree of a dirty
/// release, else a clean copy of the commit under `work`.
fn build_source(
    git: &Git,
    facts: &crate::engine::git::Facts,
    project: &Path,
    rel_path: &Path,
    work: &Path,
    epoch: i64,
    ui: &Ui,
) -> Result<(PathBuf, PathBuf)> {
    if !facts.dirty_files.is_empty() {
        return Ok((facts.toplevel.clone(), project.to_path_buf()));
    }
    ui.progress(&format!(
        "copying commit {} into a clean build directory",
        &facts.commit[..12]
    ));
    let checkout = work.join("src");
    for warning in git
        .materialise(&facts.toplevel, &facts.commit, &checkout, epoch)?
        .warnings()
    {
        ui.warn(&warning);
    }
    let source = confine(&checkout, &checkout, rel_path, "the project directory")?;
    Ok((checkout, source))
}

/// An image's bills of materials, named for `--sbom DIR`: `release.cdx.json`,
/// `base-linux-arm64.spdx.json`.
struct Sboms {
    stem: String,
    /// The image manifest they describe, which they are attached to.
    manifest_digest: String,
    cyclonedx: serde_json::Value,
    spdx: serde_json::Value,
}

/// Writes each image's CycloneDX and SPDX documents into `dir` (made if missing), each file
/// atomically.
fn write_sboms(dir: &Path, sboms: &[Sboms], ui: &Ui) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for s in sboms {
        for (suffix, doc) in [("cdx.json", &s.cyclonedx), ("spdx.json", &s.spdx)] {
            let path = dir.join(format!("{}.{suffix}", s.stem));
            let mut text = serde_json::to_string_pretty(doc).expect("an SBOM serializes");
            text.push('\n');
            lock::write_atomic(&path, text.as_bytes())?;
            ui.progress(&format!("wrote {}", path.display()));
        }
    }
    Ok(())
}

/// The name the lock records of an image tagged `tags`: a base's immutable tag (its last),
/// a release's commit tag (its first).
fn locked_name(role: Role, tags: &[String]) -> String {
    match role {
        Role::Base => tags.last(),
        Role::Release => tags.first(),
    }
    .cloned()
    .unwrap_or_default()
}

/// Loads each built image into the engine under its tags, and reads the packages inside each
/// of its platforms: the lock's images, and their bills of materials.
/// `in_engine`: the base the engine holds already (loaded before the release was built on it,
/// or kept there); it is not loaded again, and the release is loaded without its layers.
#[allow(clippy::too_many_arguments)]
fn load_and_read(
    docker: &Docker,
    built: &[crate::ops::build::Built],
    tags: &dyn Fn(Role) -> Vec<String>,
    in_engine: Option<&InEngine>,
    mut base_read: Option<BaseRead>,
    work: &Path,
    quiet: bool,
    ui: &Ui,
) -> Result<(Vec<lock::Image>, Vec<Sboms>)> {
    let mut images = Vec::new();
    let mut sboms = Vec::new();
    let mut known_layers = std::collections::HashMap::new();
    let mut base_scans = None;
    // The files of the base just read, merged.
    let mut base_merged: Option<Merged> = None;
    // The files of the registry image under the base just read, where they were not read
    // from its archive.
    let mut registry_files: Option<Merged> = None;
    for b in built {
        let tags = tags(b.role);
        match (b.role, in_engine) {
            (Role::Base, Some(_)) => {}
            (Role::Release, Some(base)) => {
                ui.progress(&format!(
                    "loading {} ({}) onto the base the engine holds ({} of its layers not sent again)",
                    tags.join(", "),
                    b.digest(),
                    base.layers.len()
                ));
                let lean = work.join("release-load.tar");
                crate::ops::kept::without_blobs(&b.archive, &base.layers, &lean)?;
                docker.load(&lean, &tags)?;
                let _ = std::fs::remove_file(&lean);
            }
            _ => {
                ui.progress(&format!("loading {} ({})", tags.join(", "), b.digest()));
                docker.load(&b.archive, &tags)?;
            }
        }
        // The base's packages, read while it was built on and loaded.
        if let (Role::Base, Some(reading)) = (b.role, base_read.take()) {
            let read = joined(
                crate::cancel::join(reading).ok_or(Error::Interrupted)?,
                "the base's packages",
            )?;
            known_layers.extend(read.known);
            base_scans = Some(read.scans.into_iter());
            registry_files = read.below;
        }
        for one in &b.images {
            let on = if one.platform.is_empty() {
                String::new()
            } else {
                format!(" for {}", one.platform)
            };
            let read_already = match (b.role, &mut base_scans) {
                (Role::Base, Some(scans)) => scans.next(),
                _ => None,
            };
            let (scan, inventory) = match read_already {
                Some(read) => read,
                None => {
                    // A base kept, or one just built without its registry image's blobs: the
                    // release's archive lacks the base's, whose files are merged already.
                    let merged = match (b.role, in_engine) {
                        (Role::Release, Some(base)) => base
                            .merged
                            .as_ref()
                            .or(base_merged.as_ref().filter(|_| base.registry_left_out)),
                        _ => None,
                    };
                    ui.progress(&match merged {
                        Some(base) => format!(
                            "reading the packages inside {}{on} (the base's {} layers not read: their files as this machine kept them when it last read them, which give the lock's inventory of the base)",
                            tags[0],
                            base.layers.len()
                        ),
                        None => format!("reading the packages inside {}{on}", tags[0]),
                    });
                    let select = Select::Manifest(one.image.manifest_digest.clone());
                    read::inventory_of_file_on(
                        &b.archive,
                        &select,
                        merged,
                        quiet,
                        &mut known_layers,
                    )?
                }
            };
            if let Some(merged) = remember_files(
                b.role,
                &one.image,
                &scan,
                in_engine,
                registry_files.as_ref(),
            ) {
                base_merged = Some(merged);
            }
            let subject = crate::sbom::Subject {
                name: &tags[0],
                digest: Some(&one.image.manifest_digest),
                created: scan.config.get("created").and_then(|c| c.as_str()),
            };
            sboms.push(Sboms {
                stem: match one.platform.as_str() {
                    "" => b.role.to_string(),
                    p => format!("{}-{}", b.role, p.replace('/', "-")),
                },
                manifest_digest: one.image.manifest_digest.clone(),
                cyclonedx: crate::sbom::cyclonedx(&subject, &inventory),
                spdx: crate::sbom::spdx(&subject, &inventory),
            });
            images.push(lock::Image {
                role: b.role,
                name: lock::recorded("image.name", locked_name(b.role, &tags))?,
                platform: lock::recorded_unless_empty("image.platform", &one.platform)?,
                index_digest: b.index.as_deref().map(lock::built_digest).transpose()?,
                manifest_digest: lock::built_digest(&one.image.manifest_digest)?,
                config_digest: lock::built_digest(&one.image.config_digest)?,
                layers: one
                    .image
                    .layers
                    .iter()
                    .map(|l| lock::built_digest(l))
                    .collect::<Result<_>>()?,
                needs: crate::host::needs::for_lock(&inventory.to_lock()),
                inventory: inventory.to_lock(),
                inventory_over: None,
                inventory_removed: Default::default(),
            });
        }
    }
    Ok((images, sboms))
}

/// Keeps merged files for the next release ([`MergedScans`]): of a base just read, on the
/// files of the registry image it stands on where they were read apart (returned, for the
/// release on it); or, where a release on a base the engine holds read the base's layers, of
/// those. The registry image's own are kept where they are read ([`read_registry_image`]).
fn remember_files(
    role: Role,
    image: &crate::image::oci::OciImage,
    scan: &crate::inventory::layers::ImageScan,
    in_engine: Option<&InEngine>,
    below: Option<&Merged>,
) -> Option<Merged> {
    let scans = crate::ops::kept::MergedScans::open();
    // The scan's layers `layers.len()` lowest, when they are those layers.
    let lowest = |layers: &[String]| {
        let lowest = &scan.layers[..layers.len().min(scan.layers.len())];
        lowest
            .iter()
            .map(|(digest, _)| digest)
            .eq(layers)
            .then_some(lowest)
    };
    match (role, in_engine) {
        (Role::Base, _) => {
            let merged = Merged::of_image(&image.layers, &scan.layers, below);
            if let Some(scans) = &scans {
                scans.put(&image.manifest_digest, &merged);
            }
            Some(merged)
        }
        (Role::Release, Some(base)) if base.merged.is_none() && !base.registry_left_out => {
            if let (Some(scans), Some((manifest, layers))) = (&scans, &base.order) {
                if let Some(lowest) = lowest(layers) {
                    scans.put(manifest, &Merged::of(lowest));
                }
            }
            None
        }
        _ => None,
    }
}

/// A base just built, read on a thread of its own.
type BaseRead = std::thread::JoinHandle<Result<BaseScans>>;

/// What reading a base just built gives.
struct BaseScans {
    /// The packages of each of its platform images, in the order of its images.
    scans: Vec<(
        crate::inventory::layers::ImageScan,
        crate::inventory::Inventory,
    )>,
    /// The scans of its layers.
    known: std::collections::HashMap<String, crate::inventory::layers::LayerScan>,
    /// The files of the registry image it stands on, merged, where they were not read from
    /// its archive.
    below: Option<Merged>,
}

/// Starts reading the packages of the base just built, from its archive, while the engine
/// loads it and the release is built on it: the three use other cores, and the release's
/// inventory then finds the base's layers read.
fn read_beside(
    base: &crate::ops::build::Built,
    below: Below,
    tags: &[String],
    ui: &Ui,
) -> BaseRead {
    ui.progress(&format!(
        "reading the packages inside {} while it is loaded and the release built",
        tags[0]
    ));
    let archive = base.archive.clone();
    let manifests: Vec<String> = base
        .images
        .iter()
        .map(|one| one.image.manifest_digest.clone())
        .collect();
    std::thread::spawn(move || {
        let below = match below {
            Below::None => None,
            Below::Kept(files) => Some(files),
            Below::Reading(reading) => Some(joined(reading.join(), REGISTRY_PACKAGES)?),
        };
        let mut known = std::collections::HashMap::new();
        let scans = manifests
            .into_iter()
            .map(|manifest| {
                read::inventory_of_file_on(
                    &archive,
                    &Select::Manifest(manifest),
                    below.as_ref(),
                    true,
                    &mut known,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BaseScans {
            scans,
            known,
            below,
        })
    })
}

/// What a thread that read `what` returned, or an internal error where it panicked.
fn joined<T>(result: std::thread::Result<Result<T>>, what: &str) -> Result<T> {
    result.unwrap_or_else(|_| {
        Err(Error::Failed(format!(
            "internal error: reading {what} stopped"
        )))
    })
}

const REGISTRY_PACKAGES: &str = "the registry image's packages";

/// The files of the registry image a base just built stands on, merged, for the base's scan:
/// none (the base's archive holds that image's blobs, read with its own), kept on this
/// machine, or being read from the builder beside the base's build.
enum Below {
    None,
    Kept(Merged),
    Reading(std::thread::JoinHandle<Result<Merged>>),
}

/// Starts reading the files of the registry image `image` from the builder, beside the build
/// of the base on it (whose pull the export shares: the image is fetched from its registry
/// once), so that the base is exported, loaded and built on without that image's blobs.
/// What it reads is kept for the next base on the same image. The stopper ends the export
/// where the release stops first.
fn read_registry_image(
    plan: &Plan,
    docker: &Docker,
    image: &crate::ops::build::RegistryImage,
    work: &Path,
    ui: &Ui,
) -> Result<(Stopper, std::thread::JoinHandle<Result<Merged>>)> {
    let context = work.join("registry-context");
    std::fs::create_dir_all(&context).map_err(|e| Error::io(&context, e))?;
    let scans = crate::ops::kept::MergedScans::open();
    ui.progress(&format!(
        "reading the packages of {}, the registry image the base stands on, as the builder pulls it ({})",
        crate::ui::escape(&image.pinned),
        match scans {
            Some(_) => "once: this machine keeps them for the next base on it",
            None => "neither XDG_CACHE_HOME nor HOME names a directory to keep them in for the next base on it",
        }
    ));
    let stream = docker.export_pulled(
        &image.pinned,
        &plan.settings.platform,
        &plan.settings.builder,
        &context,
    )?;
    let stopper = stream.stopper();
    let image = image.clone();
    let reading = std::thread::spawn(move || {
        let files = read::registry_files_from(stream, &image).map_err(|e| match e {
            Error::Interrupted => Error::Interrupted,
            why => Error::Failed(format!(
                "reading the packages of {}, the registry image the base stands on, from the builder: {why}; release with --archive FILE to have them read from the base's own archive instead",
                crate::ui::escape(&image.pinned)
            )),
        })?;
        if let Some(scans) = &scans {
            scans.put(&image.manifest_digest, &files);
        }
        Ok(files)
    });
    Ok((stopper, reading))
}

/// The base the engine holds by its digest while the release is built and loaded.
struct InEngine {
    /// Its layers (the locked blobs, which the engine's content store holds).
    layers: std::collections::BTreeSet<String>,
    /// Its files, merged, when the release's archive was made without its blobs
    /// ([`crate::ops::build::BaseBlobs::InEngine`]).
    merged: Option<Merged>,
    /// A kept single-platform base's manifest digest and layers, bottom first: where the
    /// release read them, their merged files are kept for the next release.
    order: Option<(String, Vec<String>)>,
    /// A base just built without the blobs of the registry image it stands on, whose files
    /// its scan takes merged ([`BaseScans::below`]): the release's archive lacks them too.
    registry_left_out: bool,
}

/// Builds the base (unless one is `kept`) and the release. Where the builder reads the
/// engine's store (`engine_store`), a single-platform base just built is loaded into the engine
/// first, and the release is built on it there by digest (see
/// [`crate::ops::kept::engine_pin`]), so BuildKit neither reads it from an unpacked copy nor
/// sends it again; any other is given as an OCI layout of its archive. Also says which base
/// the engine's store holds, if any: the release is then loaded without its blobs.
#[allow(clippy::too_many_arguments)]
fn build_images<'a>(
    plan: &Plan,
    docker: &'a Docker,
    work: &Path,
    release_tag: &str,
    tags: &dyn Fn(Role) -> Vec<String>,
    quiet: bool,
    ui: &Ui,
    kept: Option<(&Kept, Option<Merged>)>,
    registry: Option<&(crate::ops::build::RegistryImage, Option<Merged>)>,
    engine_store: bool,
) -> Result<BuiltImages<'a>> {
    let progress = |m: &str| ui.progress(m);
    if plan.base.is_none() || kept.is_some() {
        let mut pin = kept.as_ref().map(|(k, _)| k.pin.clone());
        let in_engine = match kept {
            Some((k, merged)) if engine_store && k.source == Source::Engine => {
                if let (Some(pin), Some(_)) = (&mut pin, &merged) {
                    pin.blobs = crate::ops::build::BaseBlobs::InEngine;
                }
                Some(InEngine {
                    layers: k.pin.layers.clone(),
                    merged,
                    order: k.order.clone(),
                    registry_left_out: false,
                })
            }
            _ => None,
        };
        let built = plan.build(docker, work, release_tag, quiet, &progress, pin)?;
        return Ok(BuiltImages {
            built,
            in_engine,
            moved: MovedTags::none(docker),
            base_read: None,
            registry_export: None,
        });
    }
    // The registry image's files: kept on this machine, or read from the builder while the
    // base is built. Either way the base is exported and loaded without that image's blobs.
    let registry_read = match registry {
        Some((image, None)) if engine_store && plan.keeps_pulled_blobs() => {
            Some(read_registry_image(plan, docker, image, work, ui)?)
        }
        _ => None,
    };
    let registry_files = registry.and_then(|(_, files)| files.as_ref());
    let base = plan.build_base(
        docker,
        work,
        quiet,
        engine_store && (registry_files.is_some() || registry_read.is_some()),
        &progress,
    )?;
    let (registry_export, below) = match (registry_read, registry_files) {
        // An export that failed at once stops the release before the release is built.
        (Some((_, reading)), _) if base.pulled.left_out && reading.is_finished() => (
            None,
            Below::Kept(joined(reading.join(), REGISTRY_PACKAGES)?),
        ),
        (Some((stopper, reading)), _) if base.pulled.left_out => {
            (Some(stopper), Below::Reading(reading))
        }
        (None, Some(files)) if base.pulled.left_out => (None, Below::Kept(files.clone())),
        // Not left out after all (the base pulled none of them): the base's archive holds that
        // image's blobs, read with its own, and an export still running is stopped.
        _ => (None, Below::None),
    };
    let base_read = read_beside(&base, below, &tags(Role::Base), ui);
    // The base's tags as they were before it was loaded: put back if the release stops before
    // its lock is written (a failed build, a refused layer, Ctrl-C), so that it moves no tag.
    let mut moved = MovedTags::none(docker);
    let (pin, in_engine) = match &base.images[..] {
        [one] if engine_store && base.index.is_none() => {
            let base_tags = tags(Role::Base);
            ui.progress(&format!(
                "loading {} ({})",
                base_tags.join(", "),
                base.digest()
            ));
            let before = base_tags
                .iter()
                .map(|tag| Ok((tag.clone(), docker.image_id(tag)?)))
                .collect::<Result<Vec<_>>>()?;
            moved.before = before;
            load_base(
                docker,
                &base,
                registry.map(|(image, _)| image),
                &base_tags,
                work,
                ui,
            )?;
            let named = crate::ops::kept::Named {
                manifest_digest: &one.image.manifest_digest,
                config_digest: &one.image.config_digest,
                layers: &one.image.layers,
            };
            let documents = crate::ops::kept::Documents::open();
            if let Some(documents) = &documents {
                documents.keep_from_archive(
                    &base.archive,
                    &[(named.manifest_digest, named.config_digest)],
                );
            }
            let pin = match &documents {
                Some(documents) => {
                    crate::ops::kept::engine_pin(&named, documents, &work.join("base-documents"))?
                }
                None => None,
            };
            let in_engine = Some(InEngine {
                layers: base.layers(),
                merged: None,
                order: None,
                registry_left_out: base.pulled.left_out,
            });
            let pin = match pin {
                Some(pin) => pin,
                None => archive_pin(&base, work)?,
            };
            // The release is exported without the base's blobs, copied from its archive.
            let pin = crate::ops::build::BasePin {
                blobs: crate::ops::build::BaseBlobs::CopiedFrom {
                    archive: base.archive.clone(),
                    in_engine: match base.pulled.left_out {
                        true => base.pulled.layers.clone(),
                        false => Default::default(),
                    },
                },
                ..pin
            };
            (pin, in_engine)
        }
        _ => (archive_pin(&base, work)?, None),
    };
    let release = plan.build_release(docker, work, release_tag, quiet, &progress, Some(&pin))?;
    Ok(BuiltImages {
        built: vec![base, release],
        in_engine,
        moved,
        base_read: Some(base_read),
        registry_export,
    })
}

/// Loads the base just built without the registry image's layers it stands on, which the
/// engine's store holds once BuildKit has pulled them (they are neither sent nor hashed
/// again); where the store no longer has them (its garbage collection ran in between), with
/// them.
fn load_base(
    docker: &Docker,
    base: &crate::ops::build::Built,
    registry: Option<&crate::ops::build::RegistryImage>,
    tags: &[String],
    work: &Path,
    ui: &Ui,
) -> Result<()> {
    let pulled = &base.pulled.layers;
    if base.pulled.left_out {
        // The archive lacks them: where the store lost them, the engine pulls them again.
        return match docker.load(&base.archive, tags) {
            Err(Error::Interrupted) => Err(Error::Interrupted),
            Err(e) => match registry {
                Some(image) => {
                    ui.progress(&format!(
                        "the engine no longer holds the {} pulled layer(s) of {} ({e}): pulling it by its digest",
                        pulled.len(),
                        image.pinned
                    ));
                    docker.pull(&image.pinned)?;
                    docker.load(&base.archive, tags)
                }
                None => Err(e),
            },
            Ok(()) => Ok(()),
        };
    }
    if !pulled.is_empty() {
        let lean = work.join("base-load.tar");
        crate::ops::kept::without_blobs(&base.archive, pulled, &lean)?;
        let loaded = docker.load(&lean, tags);
        let _ = std::fs::remove_file(&lean);
        match loaded {
            Ok(()) => return Ok(()),
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(e) => ui.progress(&format!(
                "the engine no longer holds the {} pulled layer(s) of the base's registry image ({e}): loading them too",
                pulled.len()
            )),
        }
    }
    docker.load(&base.archive, tags)
}

/// What [`build_images`] built, and what it leaves to do.
struct BuiltImages<'a> {
    built: Vec<crate::ops::build::Built>,
    /// The base the engine holds, if any: the release is loaded without its blobs.
    in_engine: Option<InEngine>,
    /// The base's tags as they were, put back unless the lock is written.
    moved: MovedTags<'a>,
    /// The base's packages being read, when it was just built.
    base_read: Option<BaseRead>,
    /// Ends the export of the registry image being read, where the release stops before its
    /// base has been read.
    registry_export: Option<Stopper>,
}

/// Tags a release moved before its lock was written, with what each named before (`None`:
/// nothing): put back when dropped, unless [`MovedTags::keep`] was called. Putting back runs
/// even after Ctrl-C.
struct MovedTags<'a> {
    docker: &'a Docker,
    before: Vec<(String, Option<String>)>,
}

impl<'a> MovedTags<'a> {
    fn none(docker: &'a Docker) -> Self {
        MovedTags {
            docker,
            before: Vec::new(),
        }
    }

    /// The release is complete: the tags stay where they are.
    fn keep(mut self) {
        self.before.clear();
    }
}

impl Drop for MovedTags<'_> {
    fn drop(&mut self) {
        for (tag, before) in self.before.drain(..) {
            let _ = match before {
                Some(id) => self.docker.tag_even_after_interrupt(&id, &tag),
                None => self.docker.untag(&tag),
            };
        }
    }
}

/// The base just built, as an OCI layout of its whole archive.
fn archive_pin(base: &crate::ops::build::Built, work: &Path) -> Result<crate::ops::build::BasePin> {
    crate::ops::build::BasePin::archive(
        &base.archive,
        base.digest(),
        &work.join("base-layout"),
        base.layers(),
    )
}

/// Pushes each image under every tag it has (an index once per tag, with all its platforms)
/// and checks that the registry serves exactly the locked digests under each. A kept base the
/// registry serves already by its digest is not pushed again.
fn push_and_check(
    docker: &Docker,
    images: &[lock::Image],
    tags: &dyn Fn(Role) -> Vec<String>,
    platform: &str,
    base_kept: bool,
    ui: &Ui,
) -> Result<()> {
    let mut pushed_names = std::collections::HashSet::new();
    for image in images {
        if base_kept && image.role == Role::Base && !pushed_names.contains(&image.name) {
            let pinned = reference::pinned(&image.name, image.engine_digest());
            if docker.resolve(&pinned, platform)?.is_ok() {
                ui.progress(&format!(
                    "the kept base is in its registry already ({pinned}): not pushed again"
                ));
                pushed_names.insert(image.name.clone());
            }
        }
        if pushed_names.insert(image.name.clone()) {
            for tag in tags(image.role) {
                ui.progress(&format!("pushing {tag}"));
                docker.push(&tag, &|status, left| {
                    ui.warn(&format!(
                        "the registry answered {status} (a server error) while {tag} was pushed; pushing it again ({left} {} left)",
                        if left == 1 { "try" } else { "tries" }
                    ))
                })?;
                if tag != image.name {
                    check_tag_served(docker, &tag, image, platform)?;
                }
            }
        }
        let image_platform = image.platform_name();
        let (pushed, on) = if image.platform.is_none() {
            (
                reference::pinned(&image.name, &image.manifest_digest),
                platform,
            )
        } else {
            (
                reference::pinned(&image.name, image.engine_digest()),
                image_platform.as_str(),
            )
        };
        let served = docker.resolve(&pushed, on)?.map_err(|why| {
            Error::Failed(format!(
                "pushed {} but the registry does not serve {pushed}: {why}",
                image.name
            ))
        })?;
        if image.platform.is_some() && served.platform_digest != image.manifest_digest {
            return Err(Error::Failed(format!(
                "pushed {} but the registry's {pushed} lists {} for {on}, not the built {}; nothing was written",
                image.name, served.platform_digest, image.manifest_digest
            )));
        }
    }
    Ok(())
}

/// A further tag of a pushed image must name the locked image in the registry, as its first does.
fn check_tag_served(docker: &Docker, tag: &str, image: &lock::Image, platform: &str) -> Result<()> {
    let image_platform = image.platform_name();
    let on = if image.platform.is_none() {
        platform
    } else {
        image_platform.as_str()
    };
    let served = docker.resolve(tag, on)?.map_err(|why| {
        Error::Failed(format!(
            "pushed {tag} but the registry does not serve it: {why}"
        ))
    })?;
    if served.index_digest != image.engine_digest() {
        return Err(Error::Failed(format!(
            "pushed {tag} but the registry's {tag} is {}, not the locked {}; another push moved it meanwhile; nothing was written",
            served.index_digest,
            image.engine_digest()
        )));
    }
    Ok(())
}

/// What a release attaches to its images, each with the digest it refers to: the lock to each
/// image (its index and each of its manifests), each SBOM to the manifest it describes. A reviewer
/// holding `name@digest` gets from it to the lock, and so to the commit, the remote and every
/// digest.
fn attachments(lock: &Lock, sboms: &[Sboms]) -> Vec<(crate::image::referrer::Attachment, String)> {
    use crate::image::referrer::{Attachment, CYCLONEDX_TYPE, LOCK_TYPE, SPDX_TYPE};
    let lock_text = lock.to_toml().into_bytes();
    let mut subjects = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    // To each platform's manifest too: a paper may cite either digest.
    let digests = lock
        .images
        .iter()
        .flat_map(|i| [i.engine_digest(), i.manifest_digest.as_str()]);
    for digest in digests {
        if subjects.insert(digest.to_string()) {
            let attachment = Attachment {
                artifact_type: LOCK_TYPE,
                title: "repro.lock".into(),
                content: lock_text.clone(),
            };
            out.push((attachment, digest.to_string()));
        }
    }
    for s in sboms {
        for (artifact_type, suffix, doc) in [
            (CYCLONEDX_TYPE, "cdx.json", &s.cyclonedx),
            (SPDX_TYPE, "spdx.json", &s.spdx),
        ] {
            let attachment = Attachment {
                artifact_type,
                title: format!("{}.{suffix}", s.stem),
                content: serde_json::to_vec(doc).expect("an SBOM serializes"),
            };
            out.push((attachment, s.manifest_digest.clone()));
        }
    }
    out
}

/// The release's epoch as the artifacts' creation time, RFC 3339.
fn created(lock: &Lock) -> String {
    let epoch = std::time::Duration::from_secs(lock.build.source_date_epoch.max(0) as u64);
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + epoch).to_string()
}

/// Attaches the lock and the SBOMs to the pushed images as OCI referrers.
fn attach_to_pushed(lock: &Lock, sboms: &[Sboms], ui: &Ui) -> Result<()> {
    use crate::ops::referrer::{self as referrer, Attached};
    let created = created(lock);
    for (attachment, subject_digest) in attachments(lock, sboms) {
        let Some(image) = lock
            .images
            .iter()
            .find(|i| *i.engine_digest() == subject_digest || i.manifest_digest == subject_digest)
        else {
            continue;
        };
        let registry = crate::engine::registry::Registry::new(reference::repository(&image.name))?;
        let digest = crate::image::digest::Digest::parse(&subject_digest)
            .map_err(|why| Error::Failed(format!("{}: the locked digest {why}", image.name)))?;
        let pinned = reference::pinned(&image.name, &subject_digest);
        let subject = referrer::subject(&registry, &digest, &pinned)?;
        let how = match referrer::attach(&registry, &subject, &attachment, &created)? {
            Attached::Added => "attached",
            Attached::AlreadyThere => "already attached",
        };
        ui.progress(&format!("{}: {how} to {pinned}", attachment.title));
    }
    Ok(())
}

/// What the lock records of the build: ids, never secrets' paths or values; no proxy.
fn locked_build(
    inputs: &project::Inputs,
    platform: &str,
    source_date_epoch: i64,
    contexts: std::collections::BTreeMap<String, String>,
) -> Result<lock::Build> {
    // Pinned here: an image by the digest just resolved, a directory checked inside the project.
    let contexts = contexts
        .into_iter()
        .map(|(name, value)| {
            lock::LockedContext::try_from(value)
                .map_err(|why| Error::Failed(format!("a named context cannot be locked: {why}")))
                .and_then(|context| Ok((lock::recorded("build.contexts", name)?, context)))
        })
        .collect::<Result<_>>()?;
    Ok(lock::Build {
        image: lock::recorded("build.image", &inputs.image)?,
        source_date_epoch,
        base_source_date_epoch: None,
        base_fingerprint: None,
        platform: lock::recorded("build.platform", platform)?,
        context: lock::recorded("build.context", &inputs.context)?,
        target: lock::recorded_unless_empty("build.target", &inputs.target)?,
        network: inputs.network,
        add_hosts: lock::recorded_all("build.add_hosts", &inputs.add_hosts)?,
        // Ids only: where a secret or key is read from is the author's business.
        secrets: lock::recorded_all("build.secrets", inputs.secrets.iter().map(|s| &s.id))?,
        ssh: lock::recorded_all("build.ssh", inputs.ssh.iter().map(|s| &s.id))?,
        shm_size: lock::recorded_unless_empty("build.shm_size", &inputs.shm_size)?,
        ulimits: lock::recorded_all("build.ulimits", &inputs.ulimits)?,
        args: inputs
            .args
            .iter()
            .map(|(name, value)| {
                Ok((
                    lock::recorded("build.args", name)?,
                    lock::recorded(&format!("build.args.{name}"), value)?,
                ))
            })
            .collect::<Result<_>>()?,
        contexts,
        compression: inputs.compression,
        timestamps: crate::ops::build::RELEASE_TIMESTAMPS,
        image_config: crate::ops::build::RELEASE_IMAGE_CONFIG,
        layer_encoder: crate::ops::build::RELEASE_LAYER_ENCODER,
        annotations: Default::default(),
    })
}

/// The lock, checked as a reviewer's verify will check it, written last and atomically.
fn write_lock(lock: &Lock, path: &Path, ui: &Ui) -> Result<()> {
    lock.validate().map_err(|m| {
        Error::Failed(format!(
            "internal error: the new lock is invalid ({m}); nothing was written"
        ))
    })?;
    lock.write_atomic(path)?;
    ui.progress(&format!("wrote {}", path.display()));
    Ok(())
}

/// A `# syntax=` frontend named by tag can change under a rebuild; the lock cannot pin it.
fn warn_unpinned_frontends(plan: &Plan, ui: &Ui) {
    for stage in plan.base.iter().chain(std::iter::once(&plan.release)) {
        if let Some(syntax) = stage.parsed.syntax.as_deref().filter(|s| !s.contains('@')) {
            ui.warn(&format!("{}: `# syntax={syntax}` names a frontend image by tag; pin it with @sha256:... so rebuilds use the same frontend", stage.path));
        }
    }
}

/// Writes the base (when there is one) and the release into one OCI archive, each blob checked
/// against its digest and a layer they share stored once, named as the lock names them: what a
/// reviewer with no network needs for `verify --archive` and `verify --rebuild --base locked`,
/// with the lock and SBOMs attached to the images (so the archive alone is enough).
fn write_archive(
    built: &[crate::ops::build::Built],
    lock: &Lock,
    sboms: &[Sboms],
    dest: &Path,
    work: &Path,
) -> Result<()> {
    let images = &lock.images;
    use crate::image::archive::{self as layers, LayoutImage, Select};
    let layout: Vec<LayoutImage> = images
        .iter()
        .filter_map(|image| {
            let b = built.iter().find(|b| b.role == image.role)?;
            Some(LayoutImage {
                archive: &b.archive,
                select: Select::Manifest(image.manifest_digest.to_string()),
                name: image.name.to_string(),
                index: b.index.clone(),
            })
        })
        .collect();
    let staged = work.join("archive.tar");
    let attached = attachments(lock, sboms);
    layers::write_layout_with(&staged, &layout, &attached, &created(lock)).map_err(
        |e| match e {
            layers::ScanError::Interrupted => Error::Interrupted,
            other => Error::Failed(format!("writing {}: {other}", dest.display())),
        },
    )?;
    let mut source = std::fs::File::open(&staged).map_err(|e| Error::io(&staged, e))?;
    lock::copy_atomic(&mut source, dest)
}

/// The commit to release, refused when the tree is dirty (unless allowed) or its remote
/// cannot be recorded: everything the lock records is checked before the build.
fn source_facts(
    git: &Git,
    project: &Path,
    lock_path: &Path,
    allow_dirty: bool,
) -> Result<crate::engine::git::Facts> {
    if let Some(dir) = lock_path.parent() {
        crate::scratch::remove_stale_files(dir);
    }
    let mut facts = git.facts(project, &[lock_path.to_path_buf()])?;
    // The temporary file of a lock or archive write (a concurrent run's, or one left by a run
    // killed before its rename) is never built and does not make the tree dirty.
    facts
        .dirty_files
        .retain(|f| !crate::scratch::is_temp_file(f));
    if !facts.dirty_files.is_empty() && !allow_dirty {
        // Names are escaped: a file name with a newline must not split this one-line error.
        return Err(Error::Failed(format!(
            "the working tree has uncommitted changes: {}; commit them (a release is built from a commit), or pass --allow-dirty",
            crate::engine::git::list_names(&facts.dirty_files)
        )));
    }
    facts
        .untracked_files
        .retain(|f| !crate::scratch::is_temp_file(f));
    lock::Remote::try_from(facts.remote.clone()).map_err(|why| {
        Error::Failed(format!(
            "the repository's remote URL cannot be recorded in a lock: {why}; set one that can (git remote set-url origin URL), or remove the remote"
        ))
    })?;
    Ok(facts)
}

/// Resolves one base in its registry; a base only the local engine has is refused with a hint.
fn resolve_base(
    docker: &Docker,
    external: &crate::dockerfile::ExternalRef,
    dockerfile: &str,
    platform: &str,
    base_tag: &str,
    ui: &Ui,
) -> Result<Base> {
    ui.progress(&format!(
        "resolving {} ({dockerfile}:{})",
        external.image, external.line
    ));
    // The registry's answer, or why it could not be asked (an interrupt stops here).
    let answer = match docker.resolve(&external.image, platform) {
        Ok(answer) => answer,
        Err(Error::Failed(why)) => Err(why),
        Err(other) => return Err(other),
    };
    let digest = |text: &str| {
        Digest::try_from(text.to_string()).map_err(|why| {
            Error::Failed(format!(
                "{dockerfile}:{}: the registry of {} answered {why}",
                external.line,
                crate::ui::escape(&external.image)
            ))
        })
    };
    match answer {
        Ok(resolved) => Ok(Base {
            reference: crate::image::reference::ImageRef::try_from(external.image.clone())
                .map_err(|why| Error::Failed(format!("{dockerfile}:{}: {why}", external.line)))?,
            dockerfile: dockerfile.to_string(),
            platform: None,
            index_digest: digest(&resolved.index_digest)?,
            platform_digest: digest(&resolved.platform_digest)?,
        }),
        Err(why) if docker.image_id(&external.image)?.is_some() => Err(Error::Failed(format!(
            "{dockerfile}:{}: base image {} exists only in the local engine, so nobody else can pull it; push it to a registry and use that reference{} ({why})",
            external.line,
            external.image,
            if normalise_ref(&external.image).ends_with(":base") { format!(", or name the base {base_tag} and use the docker/Dockerfile.base layout") } else { String::new() },
        ))),
        Err(why) => Err(Error::Failed(format!(
            "{dockerfile}:{}: cannot resolve base image {} in its registry ({why}); check the name and that the registry is reachable (`docker login` if it is private)",
            external.line, external.image
        ))),
    }
}

/// The tags a built image gets: the base its moving `:base` tag (the name its archive gives it)
/// and its immutable `:base-<fingerprint>` tag (the name the lock records); the release its
/// commit tag first (the name the lock records), then each `--tag`.
fn image_tags(
    role: Role,
    base_tag: &str,
    immutable_base_tag: Option<&str>,
    release_tag: &str,
    image: &str,
    extra: &[String],
) -> Vec<String> {
    if role == Role::Base {
        std::iter::once(base_tag)
            .chain(immutable_base_tag)
            .map(str::to_string)
            .collect()
    } else {
        std::iter::once(release_tag.to_string())
            .chain(extra.iter().map(|t| format!("{image}:{t}")))
            .collect()
    }
}

/// The lock of a release, from what was recorded along the way. Pure: the same inputs give
/// the same lock, and so the same bytes.
#[allow(clippy::too_many_arguments)]
fn assemble_lock(
    facts: &crate::engine::git::Facts,
    rel_path: &Path,
    build: lock::Build,
    builder: crate::engine::docker::BuilderFacts,
    (dockerfiles, bases): (Vec<lock::DockerfileEntry>, Vec<Base>),
    images: Vec<lock::Image>,
    gpu: Vec<crate::host::gpu::Gpu>,
) -> Result<Lock> {
    let buildkit_note = builder.buildkit_note().unwrap_or_default();
    let commit = lock::CommitId::try_from(facts.commit.clone())
        .map_err(|why| Error::Failed(format!("git named the commit to release {why}")))?;
    Ok(Lock {
        version: lock::VERSION,
        source: lock::Source {
            commit,
            commit_time: facts.commit_time,
            remote: lock::recorded("source.remote", &facts.remote)?,
            path: lock::recorded("source.path", rel_path.to_string_lossy())?,
            dirty: !facts.dirty_files.is_empty(),
        },
        build,
        builder: lock::Builder {
            docker_client: builder.client,
            docker_engine: builder.engine,
            buildx: builder.buildx,
            buildkit_note,
            buildkit: builder.buildkit,
            containerd: builder.containerd,
            engine_go: builder.engine_go,
            driver: builder.driver,
            name: builder.name,
        },
        dockerfiles,
        bases,
        images,
        host: lock::Host { gpu },
    })
}

/// What a release prints on stdout: the images it locked, or the summary as JSON.
fn print_summary(format: Format, lock_path: &Path, lock: &Lock) {
    let summary = Summary {
        lock: lock_path.display().to_string(),
        commit: &lock.source.commit,
        dirty: lock.source.dirty,
        images: lock
            .images
            .iter()
            .map(|i| SummaryImage {
                role: i.role,
                name: &i.name,
                platform: i.platform.as_ref(),
                index_digest: i.index_digest.as_deref().unwrap_or_default(),
                manifest_digest: &i.manifest_digest,
            })
            .collect(),
    };
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("summary serializes")
        ),
        Format::Human => {
            for i in &summary.images {
                // An image index is one line, naming its platforms.
                if i.platform.is_none() {
                    crate::ui::print_human(&format!(
                        "{:<8} {}@{}\n",
                        i.role, i.name, i.manifest_digest
                    ));
                } else if summary
                    .images
                    .iter()
                    .find(|o| o.role == i.role)
                    .map(|o| o.platform)
                    == Some(i.platform)
                {
                    crate::ui::print_human(&format!(
                        "{:<8} {}@{} ({})\n",
                        i.role, i.name, i.index_digest, lock.build.platform
                    ));
                }
            }
        }
    }
}

fn relative_path(toplevel: &Path, project: &Path) -> Result<PathBuf> {
    let project = project.canonicalize().map_err(|e| Error::io(project, e))?;
    let rel = project.strip_prefix(toplevel).map_err(|_| {
        Error::Failed(format!(
            "{} is not inside the git repository {}",
            project.display(),
            toplevel.display()
        ))
    })?;
    Ok(if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel.to_path_buf()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(dirty: &[&str]) -> crate::engine::git::Facts {
        crate::engine::git::Facts {
            toplevel: PathBuf::from("/w"),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            commit_time: 1_700_000_000,
            remote: "https://example.org/lab/paper.git".into(),
            dirty_files: dirty.iter().map(|d| d.to_string()).collect(),
            untracked_files: vec![],
        }
    }

    fn assembled(dirty: &[&str], bases: Vec<Base>) -> Lock {
        let image = |role: Role| lock::Image {
            role,
            name: format!("paper:{role}").as_str().into(),
            platform: None,
            index_digest: None,
            manifest_digest: lock::tests::digest('6'),
            config_digest: lock::tests::digest('7'),
            layers: vec![lock::tests::digest('8')],
            needs: None,
            inventory: Default::default(),
            inventory_over: None,
            inventory_removed: Default::default(),
        };
        assemble_lock(
            &facts(dirty),
            Path::new("."),
            lock::Build {
                image: "paper".into(),
                source_date_epoch: 1_700_000_000,
                base_source_date_epoch: None,
                base_fingerprint: None,
                platform: "linux/amd64".into(),
                context: ".".into(),
                target: None,
                network: lock::Network::Default,
                add_hosts: vec![],
                secrets: vec![],
                ssh: vec![],
                shm_size: None,
                ulimits: vec![],
                args: [("B".into(), "2".into()), ("A".into(), "1".into())].into(),
                contexts: Default::default(),
                compression: Default::default(),
                timestamps: Default::default(),
                image_config: Default::default(),
                layer_encoder: Default::default(),
                annotations: crate::image::annotations::Annotations::of_release(
                    &facts(dirty).commit,
                    &facts(dirty).remote,
                    1_700_000_000,
                )
                .unwrap(),
            },
            Default::default(),
            (vec![], bases),
            vec![image(Role::Release), image(Role::Base)],
            vec![],
        )
        .unwrap()
    }

    fn base(reference: &str) -> Base {
        Base {
            reference: crate::image::reference::ImageRef::try_from(reference.to_string()).unwrap(),
            dockerfile: "Dockerfile".into(),
            platform: None,
            index_digest: Digest::parse(&format!("sha256:{}", "1".repeat(64))).unwrap(),
            platform_digest: Digest::parse(&format!("sha256:{}", "2".repeat(64))).unwrap(),
        }
    }

    #[test]
    fn the_lock_is_assembled_the_same_whatever_the_order_things_were_found_in() {
        let a = assembled(&[], vec![base("z.io/b:1"), base("a.io/a:1")]);
        let b = assembled(&[], vec![base("a.io/a:1"), base("z.io/b:1")]);
        assert_eq!(a.to_toml(), b.to_toml());
        assert!(a.validate().is_ok(), "{:?}", a.validate());
        assert!(!a.source.dirty);
        assert!(assembled(&["x.txt"], vec![]).source.dirty);
    }

    #[test]
    fn only_a_last_lock_with_the_same_fingerprint_and_a_base_image_keeps_its_base() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repro.lock");
        let ui = Ui { quiet: true };
        let fingerprint =
            |c: &str| Fingerprint::try_from(format!("sha256:{}", c.repeat(64))).unwrap();
        assert!(
            last_base(&path, &fingerprint("a"), &ui).is_none(),
            "no lock"
        );

        let mut lock = crate::lock::tests::sample();
        lock.build.base_source_date_epoch = Some(1_690_000_000);
        lock.write_atomic(&path).unwrap();
        assert!(
            last_base(&path, &fingerprint("a"), &ui).is_none(),
            "a lock cut before fingerprints"
        );

        lock.build.base_fingerprint = Some(fingerprint("a"));
        lock.write_atomic(&path).unwrap();
        let kept = last_base(&path, &fingerprint("a"), &ui).expect("the same inputs");
        assert_eq!(
            kept.digest(),
            lock.image(Role::Base).unwrap().manifest_digest.as_str()
        );
        assert_eq!(kept.epoch, 1_690_000_000, "the base keeps its own epoch");
        assert!(
            last_base(&path, &fingerprint("b"), &ui).is_none(),
            "other inputs"
        );

        lock.images.retain(|i| i.role != Role::Base);
        lock.write_atomic(&path).unwrap();
        assert!(
            last_base(&path, &fingerprint("a"), &ui).is_none(),
            "no base image"
        );

        std::fs::write(&path, "not a lock").unwrap();
        assert!(
            last_base(&path, &fingerprint("a"), &ui).is_none(),
            "an unreadable lock"
        );
    }

    #[test]
    fn the_release_is_named_by_its_commit_tag_first() {
        assert_eq!(
            image_tags(
                Role::Release,
                "p:base",
                Some("p:base-0123456789ab"),
                "p:0123456789ab",
                "p",
                &["v1".into()]
            ),
            ["p:0123456789ab", "p:v1"]
        );
        assert_eq!(
            image_tags(
                Role::Base,
                "p:base",
                Some("p:base-0123456789ab"),
                "p:0123",
                "p",
                &["v1".into()]
            ),
            ["p:base", "p:base-0123456789ab"]
        );
    }

    #[test]
    fn the_lock_goes_to_every_index_and_manifest_and_each_sbom_to_its_manifest() {
        use crate::image::referrer::{CYCLONEDX_TYPE, LOCK_TYPE, SPDX_TYPE};
        let lock = crate::lock::tests::sample_multi();
        let sboms: Vec<Sboms> = lock
            .images
            .iter()
            .map(|i| Sboms {
                stem: format!("{}-{}", i.role, i.platform_name().replace('/', "-")),
                manifest_digest: i.manifest_digest.to_string(),
                cyclonedx: serde_json::json!({}),
                spdx: serde_json::json!({}),
            })
            .collect();
        let attached = attachments(&lock, &sboms);
        let of = |kind: &str| -> std::collections::BTreeSet<String> {
            attached
                .iter()
                .filter(|(a, _)| a.artifact_type == kind)
                .map(|(_, subject)| subject.clone())
                .collect()
        };
        let indexes_and_manifests: std::collections::BTreeSet<String> = lock
            .images
            .iter()
            .flat_map(|i| [i.index_digest.clone(), Some(i.manifest_digest.clone())])
            .flatten()
            .map(String::from)
            .collect();
        let manifests: std::collections::BTreeSet<String> = lock
            .images
            .iter()
            .map(|i| i.manifest_digest.to_string())
            .collect();
        // Two roles, each an index of two platforms: six subjects, one lock each.
        assert_eq!(indexes_and_manifests.len(), 6);
        assert_eq!(of(LOCK_TYPE), indexes_and_manifests);
        assert_eq!(
            attached
                .iter()
                .filter(|(a, _)| a.artifact_type == LOCK_TYPE)
                .count(),
            6
        );
        assert_eq!(of(CYCLONEDX_TYPE), manifests);
        assert_eq!(of(SPDX_TYPE), manifests);
        let text = lock.to_toml().into_bytes();
        assert!(attached
            .iter()
            .filter(|(a, _)| a.artifact_type == LOCK_TYPE)
            .all(|(a, _)| a.content == text && a.title == "repro.lock"));
    }
}
