//! `docker repro diff A B`: two lockfiles, two images, or an image and a lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{DiffArgs, Format};
use crate::engine::docker::Docker;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::explain::{
    compare_layers, config_diff, rank_causes, Bases, CauseReport, ConfigDiff, LayerFiles,
};
use crate::image::archive::Select;
use crate::image::reference::check_user_ref;
use crate::inventory::Drift;
use crate::lock::{Lock, Role};

enum Operand {
    Lock(PathBuf, Box<Lock>),
    /// An archive file, with what it was given as.
    Archive(PathBuf, String),
}

#[derive(Serialize)]
struct FieldChange {
    field: String,
    a: Option<String>,
    b: Option<String>,
}

#[derive(Serialize)]
struct LockReport {
    kind: &'static str,
    a: String,
    b: String,
    identical: bool,
    changes: Vec<FieldChange>,
    /// Per image role.
    packages: BTreeMap<Role, Vec<Drift>>,
    /// The two release images compared, when both are in the engine.
    images: Option<ImageDiffReport>,
    /// What the differences amount to, when one thing explains them all.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[derive(Serialize)]
struct ImageDiffReport {
    kind: &'static str,
    a: String,
    b: String,
    identical: bool,
    manifest: (Option<String>, Option<String>),
    config: Vec<ConfigDiff>,
    /// Per layer position: identical or not, with the instruction.
    layers: Vec<LayerLine>,
    files: Vec<LayerFiles>,
    causes: Vec<CauseReport>,
}

#[derive(Serialize)]
struct LayerLine {
    index: usize,
    a: Option<String>,
    b: Option<String>,
    identical: bool,
    instruction: String,
}

/// The lock as flat `field = value` pairs, for a readable change list.
fn flatten(lock: &Lock) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("source.commit".into(), lock.source.commit.to_string());
    m.insert(
        "source.commit_time".into(),
        lock.source.commit_time.to_string(),
    );
    m.insert("source.remote".into(), lock.source.remote.to_string());
    m.insert("source.dirty".into(), lock.source.dirty.to_string());
    m.insert("build.image".into(), lock.build.image.to_string());
    m.insert(
        "build.source_date_epoch".into(),
        lock.build.source_date_epoch.to_string(),
    );
    if let Some(epoch) = lock.build.base_source_date_epoch {
        m.insert("build.base_source_date_epoch".into(), epoch.to_string());
    }
    if let Some(fingerprint) = &lock.build.base_fingerprint {
        m.insert("build.base_fingerprint".into(), fingerprint.to_string());
    }
    m.insert("build.platform".into(), lock.build.platform.to_string());
    m.insert(
        "build.target".into(),
        lock.build.target.as_deref().unwrap_or_default().to_string(),
    );
    for (k, v) in &lock.build.args {
        m.insert(format!("build.args.{k}"), v.to_string());
    }
    if !lock.build.compression.is_gzip() {
        m.insert(
            "build.compression".into(),
            lock.build.compression.as_str().into(),
        );
    }
    // Absent for the single-stream encoder, as in the lock: a release cut before the key and one
    // cut after it differ in their layers' bytes, and this names why.
    if !lock.build.layer_encoder.is_single_stream() {
        m.insert(
            "build.layer_encoder".into(),
            lock.build.layer_encoder.as_str().into(),
        );
    }
    if !lock.build.network.is_default() {
        m.insert("build.network".into(), lock.build.network.as_str().into());
    }
    for host in &lock.build.add_hosts {
        let name = crate::lock::host_name(host);
        m.insert(
            format!("build.add_hosts.{name}"),
            host[name.len() + 1..].to_string(),
        );
    }
    for id in &lock.build.secrets {
        m.insert(format!("build.secrets.{id}"), "given".into());
    }
    for id in &lock.build.ssh {
        m.insert(format!("build.ssh.{id}"), "given".into());
    }
    if let Some(size) = &lock.build.shm_size {
        m.insert("build.shm_size".into(), size.to_string());
    }
    for limit in &lock.build.ulimits {
        let kind = crate::lock::ulimit_type(limit);
        m.insert(
            format!("build.ulimits.{kind}"),
            limit[kind.len() + 1..].to_string(),
        );
    }
    for (name, value) in &lock.build.contexts {
        m.insert(format!("build.contexts.{name}"), value.to_string());
    }
    let b = &lock.builder;
    for (k, v) in [
        ("docker_client", &b.docker_client),
        ("docker_engine", &b.docker_engine),
        ("buildx", &b.buildx),
        ("buildkit", &b.buildkit),
        ("buildkit_note", &b.buildkit_note),
        ("containerd", &b.containerd),
        ("engine_go", &b.engine_go),
        ("driver", &b.driver),
        ("name", &b.name),
    ] {
        m.insert(format!("builder.{k}"), v.clone());
    }
    for d in &lock.dockerfiles {
        m.insert(
            format!("dockerfile {} ({})", d.path, d.role),
            d.sha256.to_string(),
        );
    }
    let on = |platform: &str| {
        if platform.is_empty() {
            String::new()
        } else {
            format!(" {platform}")
        }
    };
    for base in &lock.bases {
        m.insert(
            format!(
                "base {} ({}){}",
                base.reference,
                base.dockerfile,
                on(&crate::lock::platform_name(&base.platform))
            ),
            base.index_digest.to_string(),
        );
    }
    for i in &lock.images {
        m.insert(
            format!("image {}{}", i.role, on(&i.platform_name())),
            i.manifest_digest.to_string(),
        );
        if let Some(index) = &i.index_digest {
            m.insert(format!("image {} index", i.role), index.to_string());
        }
    }
    m
}

fn lock_report(a: (&Path, &Lock), b: (&Path, &Lock)) -> LockReport {
    let (fa, fb) = (flatten(a.1), flatten(b.1));
    let keys: std::collections::BTreeSet<&String> = fa.keys().chain(fb.keys()).collect();
    let changes: Vec<FieldChange> = keys
        .into_iter()
        .filter(|k| fa.get(*k) != fb.get(*k))
        .map(|k| FieldChange {
            field: k.clone(),
            a: fa.get(k).cloned(),
            b: fb.get(k).cloned(),
        })
        .collect();
    let mut packages = BTreeMap::new();
    for image in &a.1.images {
        let other =
            b.1.image_for(image.role, &image.platform_name())
                .map(|i| i.inventory.clone())
                .unwrap_or_default();
        let drift = image.inventory.drift(&other);
        if !drift.is_empty() {
            packages.insert(image.role, drift);
        }
    }
    let identical = changes.is_empty() && packages.is_empty();
    let note = base_epoch_only(a.1, b.1, &changes, &packages).map(|(ea, eb)| {
        format!(
            "the bases differ only by their SOURCE_DATE_EPOCH ({ea} -> {eb}): the same base Dockerfile, base images, build settings, builder and packages; {}",
            crate::explain::Cause::BaseEpoch.fix()
        )
    });
    LockReport {
        note,
        kind: "locks",
        a: a.0.display().to_string(),
        b: b.0.display().to_string(),
        identical,
        changes,
        packages,
        images: None,
    }
}

/// The two bases' epochs, when the bases of two locks differ by nothing else: every other
/// change is of the commit, the release's epoch, the release Dockerfile or the image digests,
/// and no package of the base moved.
fn base_epoch_only(
    a: &Lock,
    b: &Lock,
    changes: &[FieldChange],
    packages: &BTreeMap<Role, Vec<Drift>>,
) -> Option<(i64, i64)> {
    let (ea, eb) = (a.build.base_epoch(), b.build.base_epoch());
    if ea == eb
        || a.image(Role::Base).is_none()
        || b.image(Role::Base).is_none()
        || packages.contains_key(&Role::Base)
    {
        return None;
    }
    let of_epoch_or_identity = |field: &str| {
        field.starts_with("source.")
            || field == "build.source_date_epoch"
            || field == "build.base_source_date_epoch"
            || field.starts_with("image ")
            || (field.starts_with("dockerfile ") && field.ends_with("(release)"))
    };
    changes
        .iter()
        .all(|c| of_epoch_or_identity(&c.field))
        .then_some((ea, eb))
}

fn render_lock(r: &LockReport) -> String {
    let mut out = String::new();
    for c in &r.changes {
        let show = |v: &Option<String>| {
            v.as_deref()
                .map(|s| {
                    let short = s.get(..19).filter(|_| s.starts_with("sha256:"));
                    crate::ui::escape(short.unwrap_or(s)).into_owned()
                })
                .unwrap_or_else(|| "(none)".into())
        };
        out.push_str(&format!(
            "{:<40} {} -> {}\n",
            c.field,
            show(&c.a),
            show(&c.b)
        ));
    }
    for (role, drift) in &r.packages {
        out.push_str(&format!("packages of the {role} image:\n"));
        for d in drift {
            let (a, b) = (
                d.locked.as_deref().unwrap_or("-"),
                d.found.as_deref().unwrap_or("-"),
            );
            out.push_str(&format!(
                "  {:<8} {} {} {} -> {}\n",
                d.change,
                d.kind,
                crate::ui::escape(&d.package),
                crate::ui::escape(a),
                crate::ui::escape(b)
            ));
        }
    }
    if let Some(note) = &r.note {
        out.push_str(&format!("{note}\n"));
    }
    if let Some(images) = &r.images {
        out.push_str("release images:\n");
        out.push_str(&render_images(images));
    } else {
        out.push_str(if r.identical {
            "identical\n"
        } else {
            "different\n"
        });
    }
    out
}

/// The bottom layers a lock's base image gave its release (the seed layout records the base
/// image), and the registry bases it stands on. A base image that changed only by its own
/// Dockerfile is not drift: its files are classified one by one.
fn base_facts(lock: &Lock) -> (Option<usize>, Vec<String>) {
    let layers = lock.image(Role::Base).map(|i| i.layers.len());
    let ids = lock
        .bases
        .iter()
        .map(|b| format!("{}@{}", b.reference, b.index_digest))
        .collect();
    (layers, ids)
}

fn operand(
    raw: &str,
    docker: &mut Option<Docker>,
    globals: &[String],
    work: &Path,
    n: usize,
) -> Result<Operand> {
    let path = Path::new(raw);
    if path.is_file() {
        // The first block tells a lock from an archive: a tar header pads its name with NULs,
        // a lock is text. Only that block is read here; a lock is read through its size limit.
        let mut head = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 4096), &mut head))
            .map_err(|e| Error::io(path, e))?;
        let looks_toml = !head.is_empty() && head.iter().all(|b| *b != 0);
        if looks_toml {
            return Ok(Operand::Lock(
                path.to_path_buf(),
                Box::new(Lock::read(path)?),
            ));
        }
        return Ok(Operand::Archive(path.to_path_buf(), raw.to_string()));
    }
    check_user_ref("IMAGE", raw)?;
    save(raw, docker, globals, work, n).map(|p| Operand::Archive(p, raw.to_string()))
}

fn save(
    reference: &str,
    docker: &mut Option<Docker>,
    globals: &[String],
    work: &Path,
    n: usize,
) -> Result<PathBuf> {
    if docker.is_none() {
        *docker = Some(Docker::new(globals.to_vec())?);
    }
    let file = work.join(format!("image-{n}.tar"));
    docker
        .as_ref()
        .expect("set above")
        .save_to(reference, &file)
        .map_err(|e| match e {
            Error::Process(p) => Error::Failed(format!(
                "{reference}: not a lockfile, an archive, or an image in the engine ({p})"
            )),
            other => other,
        })?;
    Ok(file)
}

pub fn run(args: &DiffArgs, globals: Vec<String>) -> Result<Exit> {
    let work = crate::scratch::work_dir("diff")?;
    let mut docker = None;
    let a = operand(&args.a, &mut docker, &globals, work.path(), 1)?;
    let b = operand(&args.b, &mut docker, &globals, work.path(), 2)?;
    // An image against a lock: the lock's release image, read from the engine by digest.
    let to_archive = |op: Operand,
                      docker: &mut Option<Docker>,
                      n: usize|
     -> Result<(PathBuf, String)> {
        match op {
            Operand::Archive(p, label) => Ok((p, label)),
            Operand::Lock(p, lock) => {
                let digest = lock
                    .image(Role::Release)
                    .expect("a validated lock has a release image")
                    .manifest_digest
                    .clone();
                let file = save(&digest, docker, &globals, work.path(), n).map_err(|_| {
                    Error::Failed(format!("{}: its release image {digest} is not in the engine; load or pull it to compare it with an image", p.display()))
                })?;
                Ok((file, format!("{} (release {digest})", p.display())))
            }
        }
    };
    let identical = match (a, b) {
        (Operand::Lock(pa, la), Operand::Lock(pb, lb)) => {
            let mut r = lock_report((&pa, &la), (&pb, &lb));
            let digest = |l: &Lock| {
                l.image(Role::Release)
                    .map(|i| i.manifest_digest.to_string())
                    .unwrap_or_default()
            };
            if digest(&la) != digest(&lb) {
                // When both release images are here, explain them too; otherwise the lock
                // differences are the whole report.
                let saved = (
                    save(&digest(&la), &mut docker, &globals, work.path(), 3),
                    save(&digest(&lb), &mut docker, &globals, work.path(), 4),
                );
                if let (Ok(fa), Ok(fb)) = saved {
                    let ((ka, ida), (kb, idb)) = (base_facts(&la), base_facts(&lb));
                    let bases = Bases {
                        a_layers: ka,
                        b_layers: kb,
                        changed: ida != idb,
                        epoch_only: r.note.is_some(),
                    };
                    let drift: Vec<Drift> =
                        r.packages.get(&Role::Release).cloned().unwrap_or_default();
                    let mut images = image_report(
                        (&fa, format!("{} (release)", pa.display()), Select::Only),
                        (&fb, format!("{} (release)", pb.display()), Select::Only),
                        &args.ignore,
                        bases,
                    )?;
                    crate::explain::claim_package_files(&mut images.files, &drift);
                    images.causes = rank_causes(&images.files);
                    r.images = Some(images);
                }
            }
            emit(args.format, &r, render_lock)?;
            r.identical
        }
        (a, b) => {
            // An archive of base and release, against a lock: the image the lock releases.
            let release_of = |op: &Operand| match op {
                Operand::Lock(_, lock) => lock
                    .image(Role::Release)
                    .map(|i| Select::Manifest(i.manifest_digest.to_string())),
                Operand::Archive(..) => None,
            };
            let (sa, sb) = (release_of(&b), release_of(&a));
            let (pa, la) = to_archive(a, &mut docker, 3)?;
            let (pb, lb) = to_archive(b, &mut docker, 4)?;
            let only = match &args.platform {
                Some(platform) => Select::ForPlatform {
                    name: None,
                    platform: platform.clone(),
                },
                None => Select::Only,
            };
            let r = image_report(
                (&pa, la, held_or_only(&pa, sa, &only)),
                (&pb, lb, held_or_only(&pb, sb, &only)),
                &args.ignore,
                Bases::default(),
            )?;
            emit(args.format, &r, render_images)?;
            r.identical
        }
    };
    Ok(if identical { Exit::Ok } else { Exit::Different })
}

/// Prints the report in the one format asked for; JSON is written as it is serialised, so a
/// report of a million differing files is never also held as text.
fn emit<T: Serialize>(format: Format, report: &T, human: fn(&T) -> String) -> Result<()> {
    // A comparison that Ctrl-C cut short (a save stopped mid-way) is no report.
    if crate::cancel::requested() {
        return Err(Error::Interrupted);
    }
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = match format {
        Format::Json => serde_json::to_writer_pretty(&mut out, report)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out)),
        Format::Human => out.write_all(crate::ui::escape_lines(&human(report)).as_bytes()),
    };
    written
        .and_then(|_| out.flush())
        .map_err(|e| Error::Failed(format!("could not write the report to stdout: {e}")))
}

/// `wanted` when the archive holds it, else its only image (`only`).
fn held_or_only(archive: &Path, wanted: Option<Select>, only: &Select) -> Select {
    match wanted {
        Some(select)
            if !matches!(
                crate::image::archive::index_archive(archive, &select),
                Err(crate::image::archive::ScanError::NotHeld(_))
            ) =>
        {
            select
        }
        _ => only.clone(),
    }
}

fn image_report(
    a: (&Path, String, Select),
    b: (&Path, String, Select),
    ignore: &[String],
    bases: Bases,
) -> Result<ImageDiffReport> {
    // Ctrl-C stops a read with an error; it is an interruption, not a failure.
    let failed = |e: String| {
        if crate::engine::process::interrupted() {
            Error::Interrupted
        } else {
            Error::Failed(e)
        }
    };
    let ia = crate::explain::index(a.0, &a.2).map_err(failed)?;
    let ib = crate::explain::index(b.0, &b.2).map_err(failed)?;
    let config = config_diff(&ia.config, &ib.config);
    let (na, nb) = (ia.layer_names(), ib.layer_names());
    let instr = {
        let bytes = serde_json::to_vec(&ib.config).unwrap_or_default();
        crate::image::oci::layer_instructions(&bytes, nb.len())
    };
    let layers: Vec<LayerLine> = crate::explain::align(&na, &nb)
        .into_iter()
        .enumerate()
        .map(|(position, (i, j))| LayerLine {
            index: position + 1,
            a: i.map(|i| na[i].clone()),
            b: j.map(|j| nb[j].clone()),
            identical: i.is_some() && i.map(|i| &na[i]) == j.map(|j| &nb[j]),
            instruction: j
                .and_then(|j| instr.get(j))
                .cloned()
                .unwrap_or_else(|| "(no layer in B)".into()),
        })
        .collect();
    let files = compare_layers((a.0, &ia), (b.0, &ib), ignore, bases).map_err(failed)?;
    let causes = rank_causes(&files);
    let identical = ia.manifest_digest.is_some() && ia.manifest_digest == ib.manifest_digest
        || (config.is_empty() && layers.iter().all(|l| l.identical));
    Ok(ImageDiffReport {
        kind: "images",
        a: a.1,
        b: b.1,
        identical,
        manifest: (ia.manifest_digest, ib.manifest_digest),
        config,
        layers,
        files,
        causes,
    })
}

fn render_images(r: &ImageDiffReport) -> String {
    let mut out = format!("A  {}\nB  {}\n", r.a, r.b);
    for c in &r.config {
        out.push_str(&format!(
            "config {}: {} -> {}\n",
            crate::ui::escape(&c.field),
            &c.a,
            &c.b
        ));
    }
    for l in &r.layers {
        let verdict = if l.identical {
            "identical"
        } else {
            "DIFFERENT"
        };
        out.push_str(&format!(
            "layer {:<3} {:<9}  {}\n",
            l.index,
            verdict,
            crate::ui::escape(&l.instruction)
        ));
    }
    out.push_str(&crate::explain::render_layers(&r.files, &r.causes, "", 20));
    out.push_str(if r.identical {
        "identical\n"
    } else {
        "different\n"
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each change of a lock report as `FIELD A B`, in its order.
    fn field_changes(report: &LockReport) -> Vec<String> {
        report
            .changes
            .iter()
            .map(|c| format!("{} {:?} {:?}", c.field, c.a, c.b))
            .collect()
    }

    #[test]
    fn build_inputs_are_fields_of_a_lock_diff_by_id_and_host_name() {
        let a = crate::lock::tests::sample();
        let mut b = a.clone();
        b.build.network = crate::lock::Network::None;
        b.build.add_hosts = vec!["pypi.lab:10.0.0.5".into()];
        b.build.secrets = vec!["pip_index".into()];
        b.build.ssh = vec!["default".into()];
        let report = lock_report((Path::new("a.lock"), &a), (Path::new("b.lock"), &b));
        let changes = field_changes(&report);
        assert_eq!(
            changes,
            [
                "build.add_hosts.pypi.lab None Some(\"10.0.0.5\")",
                "build.network None Some(\"none\")",
                "build.secrets.pip_index None Some(\"given\")",
                "build.ssh.default None Some(\"given\")",
            ]
        );
        assert!(!report.identical);
    }

    #[test]
    fn the_layer_encoder_is_a_field_of_a_lock_diff() {
        let a = crate::lock::tests::sample();
        let mut b = a.clone();
        b.build.layer_encoder = crate::lock::LayerEncoder::Parallel1;
        let report = lock_report((Path::new("a.lock"), &a), (Path::new("b.lock"), &b));
        let changes = field_changes(&report);
        assert_eq!(changes, ["build.layer_encoder None Some(\"parallel/1\")"]);
    }

    #[test]
    fn two_releases_whose_bases_differ_only_by_their_epoch_say_so_with_the_fix() {
        let a = crate::lock::tests::sample();
        let mut b = a.clone();
        b.source.commit = crate::lock::CommitId::try_from("f".repeat(40)).unwrap();
        b.source.commit_time += 60;
        b.build.source_date_epoch += 60;
        for image in &mut b.images {
            image.manifest_digest = crate::lock::tests::digest('e');
        }
        let report = lock_report((Path::new("a.lock"), &a), (Path::new("b.lock"), &b));
        let note = report.note.as_deref().expect("an epoch-only note");
        assert!(
            note.starts_with(&format!(
                "the bases differ only by their SOURCE_DATE_EPOCH ({} -> {})",
                a.build.source_date_epoch, b.build.source_date_epoch
            )),
            "{note}"
        );
        assert!(note.contains("keeps a base whose input fingerprint is unchanged"));
        assert!(!note.contains("--use-cache"), "{note}");
        assert!(render_lock(&report).contains(note));

        // Another argument, or the same epoch, is not "only the epoch".
        let mut c = b.clone();
        c.build.args.insert("X".into(), "1".into());
        assert!(lock_report((Path::new("a"), &a), (Path::new("c"), &c))
            .note
            .is_none());
        let mut d = b.clone();
        d.build.base_source_date_epoch = Some(a.build.source_date_epoch);
        assert!(lock_report((Path::new("a"), &a), (Path::new("d"), &d))
            .note
            .is_none());
    }

    #[test]
    fn shm_size_ulimits_and_named_contexts_are_fields_of_a_lock_diff() {
        use crate::lock::LockedContext;
        let digest = crate::lock::tests::digest;
        let mut a = crate::lock::tests::sample();
        a.build.ulimits = vec!["nofile=1024:4096".into(), "stack=8192".into()];
        a.build.contexts = [
            (
                "deps".into(),
                LockedContext::Image {
                    reference: "r.lab/deps:1".into(),
                    digest: digest('a'),
                },
            ),
            ("data".into(), LockedContext::Dir("vendor/data".into())),
        ]
        .into();
        let mut b = a.clone();
        b.build.shm_size = Some("2g".into());
        b.build.ulimits = vec![
            "memlock=-1".into(),
            "nofile=65536".into(),
            "stack=8192".into(),
        ];
        b.build.contexts.insert(
            "deps".into(),
            LockedContext::Image {
                reference: "r.lab/deps:1".into(),
                digest: digest('b'),
            },
        );
        b.build.contexts.remove("data");
        let report = lock_report((Path::new("a.lock"), &a), (Path::new("b.lock"), &b));
        let changes = field_changes(&report);
        assert_eq!(
            changes,
            [
                "build.contexts.data Some(\"vendor/data\") None".to_string(),
                format!(
                    "build.contexts.deps Some(\"docker-image://r.lab/deps:1@{}\") Some(\"docker-image://r.lab/deps:1@{}\")",
                    digest('a'),
                    digest('b')
                ),
                "build.shm_size None Some(\"2g\")".to_string(),
                "build.ulimits.memlock None Some(\"-1\")".to_string(),
                "build.ulimits.nofile Some(\"1024:4096\") Some(\"65536\")".to_string(),
            ]
        );
        let text = render_lock(&report);
        assert!(
            text.contains("build.shm_size                           (none) -> 2g\n"),
            "{text}"
        );
        assert!(text.ends_with("different\n"), "{text}");
        assert!(lock_report((Path::new("a"), &a), (Path::new("b"), &a)).identical);
    }
}
