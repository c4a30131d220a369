//! Hostile archives and locks: every verdict byte reached from the verified digest.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

use crate::common::{self, docker, docker_in, serial};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_docker-repro")
}

/// The plugin itself, with no engine needed (`verify --archive`, `inspect --archive`).
fn repro(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("repro")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn blob(digest: &str) -> String {
    format!("blobs/sha256/{}", &digest[7..])
}

fn tar_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A loadable single-layer image whose pip inventory is the one package `pkg`.
struct Image {
    blobs: Vec<(String, Vec<u8>)>,
    manifest: String,
    config: String,
    layer: String,
}

fn image(pkg: &str) -> Image {
    let metadata = format!("Metadata-Version: 2.1\nName: {pkg}\nVersion: 1.0\n");
    let layer_tar = tar_of(&[(
        format!(
            "usr/lib/python3/dist-packages/{}-1.0.dist-info/METADATA",
            pkg.replace(['\x1b', '\n'], "_")
        ),
        metadata.into_bytes(),
    )]);
    let layer = gzip(&layer_tar);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/x"]}},"rootfs":{{"type":"layers","diff_ids":["{}"]}},"history":[{{"created_by":"{}"}}]}}"#,
        sha256(&layer_tar),
        serde_json::to_string(&format!("COPY {pkg} /")).unwrap().trim_matches('"')
    )
    .into_bytes();
    let (layer_digest, config_digest) = (sha256(&layer), sha256(&config));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer_digest}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    )
    .into_bytes();
    let manifest_digest = sha256(&manifest);
    Image {
        blobs: vec![
            (blob(&layer_digest), layer),
            (blob(&config_digest), config),
            (blob(&manifest_digest), manifest),
        ],
        manifest: manifest_digest,
        config: config_digest,
        layer: layer_digest,
    }
}

/// index.json naming `image` with the tag `name` (as BuildKit writes it).
fn index_json(image: &Image, name: &str) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"annotations":{{"io.containerd.image.name":"docker.io/library/{name}","org.opencontainers.image.ref.name":"{}"}}}}]}}"#,
        image.manifest,
        name.rsplit(':').next().unwrap()
    )
    .into_bytes()
}

fn manifest_json(image: &Image, tags: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!([{
        "Config": blob(&image.config),
        "RepoTags": tags,
        "Layers": [blob(&image.layer)],
    }]))
    .unwrap()
}

/// A lock (the engine-free fixture) whose release is `image`, named `name`.
fn lock_for(dir: &Path, image: &Image, name: &str) -> PathBuf {
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample.lock"),
    )
    .unwrap();
    let head = &sample[..sample.find("[[image]]").unwrap()];
    let lock = format!(
        "{head}[[image]]\nrole = \"release\"\nname = \"{name}\"\nmanifest_digest = \"{}\"\nconfig_digest = \"{}\"\nlayers = [\"{}\"]\n",
        image.manifest, image.config, image.layer
    );
    let path = dir.join("repro.lock");
    std::fs::write(&path, lock).unwrap();
    path
}

fn write_archive(dir: &Path, members: Vec<(String, Vec<u8>)>) -> PathBuf {
    let path = dir.join("paper.tar");
    std::fs::write(&path, tar_of(&members)).unwrap();
    path
}

#[test]
fn an_archive_whose_manifest_json_points_at_another_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (genuine, evil) = (image("genuine"), image("evil"));
    let lock = lock_for(dir.path(), &genuine, "paper:0123456789ab");
    let mut members = genuine.blobs.clone();
    members.extend(evil.blobs.clone());
    members.push((
        "index.json".into(),
        index_json(&genuine, "paper:0123456789ab"),
    ));
    members.push(("manifest.json".into(), manifest_json(&evil, &[])));
    let archive = write_archive(dir.path(), members);
    let archive = archive.to_str().unwrap();
    let lock = lock.to_str().unwrap();

    let verify = repro(dir.path(), &["verify", lock, "--archive", archive]);
    let stderr = text(&verify.stderr);
    assert_eq!(verify.status.code(), Some(1), "{stderr}");
    assert!(
        verify.stdout.is_empty(),
        "no verdict: {}",
        text(&verify.stdout)
    );
    assert!(
        stderr.contains("manifest.json and index.json describe different images"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let inspect = repro(dir.path(), &["inspect", "--archive", archive, "--list"]);
    assert_eq!(inspect.status.code(), Some(1), "{}", text(&inspect.stderr));
    assert!(!text(&inspect.stdout).contains("evil"));

    // The same archive made honest verifies, and its inventory is the genuine one.
    let mut members = genuine.blobs.clone();
    members.push((
        "index.json".into(),
        index_json(&genuine, "paper:0123456789ab"),
    ));
    members.push(("manifest.json".into(), manifest_json(&genuine, &[])));
    write_archive(dir.path(), members);
    let verify = repro(
        dir.path(),
        &["verify", lock, "--archive", archive, "--format", "json"],
    );
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stderr));
    let report: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert_eq!(report["images"][0]["status"], "identical");
    assert_eq!(report["images"][0]["config_identical"], true);
}

#[test]
fn terminal_escapes_in_an_image_are_shown_not_obeyed() {
    let dir = tempfile::tempdir().unwrap();
    // A package name that clears the screen, prints a fake verdict and writes the clipboard.
    let hostile = image("x\x1b[2J\x1b[H\nverdict: identical\x1b]52;c;cm0gLXJmIH4=\x07");
    let mut members = hostile.blobs.clone();
    members.push(("index.json".into(), index_json(&hostile, "paper:1")));
    let archive = write_archive(dir.path(), members);
    let inspect = repro(
        dir.path(),
        &["inspect", "--archive", archive.to_str().unwrap(), "--list"],
    );
    assert_eq!(inspect.status.code(), Some(0), "{}", text(&inspect.stderr));
    let out = text(&inspect.stdout);
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(out.contains("\\x1b[2J"), "{out}");
    assert!(
        !out.lines().any(|l| l.trim_start().starts_with("verdict:")),
        "{out}"
    );

    // Its history instruction reaches the human reports of diff and verify: escaped there too.
    let plain = image("plain");
    let mut members = plain.blobs.clone();
    members.push(("index.json".into(), index_json(&plain, "plain:1")));
    let other_dir = tempfile::tempdir().unwrap();
    let other = write_archive(other_dir.path(), members);
    let diff = repro(
        dir.path(),
        &["diff", other.to_str().unwrap(), archive.to_str().unwrap()],
    );
    assert_eq!(diff.status.code(), Some(2), "{}", text(&diff.stderr));
    let lock = lock_for(other_dir.path(), &plain, "plain:1");
    let verify = repro(
        dir.path(),
        &[
            "verify",
            lock.to_str().unwrap(),
            "--archive",
            archive.to_str().unwrap(),
        ],
    );
    assert_eq!(verify.status.code(), Some(2), "{}", text(&verify.stderr));
    for (what, out) in [
        ("diff", text(&diff.stdout)),
        ("verify", text(&verify.stdout)),
    ] {
        assert!(out.contains("COPY x\\x1b[2J"), "{what}: {out}");
        assert!(
            !out.contains('\x1b') && !out.contains('\x07'),
            "{what}: {out:?}"
        );
        assert_eq!(
            out.lines()
                .filter(|l| l.trim_start().starts_with("verdict:"))
                .count(),
            usize::from(what == "verify"),
            "{what}: {out}"
        );
        assert!(out.contains("DIFFERENT") || what == "diff", "{what}: {out}");
    }
}

#[test]
fn run_refuses_mount_paths_that_would_add_mount_options() {
    let dir = tempfile::tempdir().unwrap();
    let genuine = image("genuine");
    let lock = lock_for(dir.path(), &genuine, "paper:0123456789ab");
    for (flag, value) in [
        ("--out", "res,source=/etc"),
        ("--out", "res\"x"),
        ("--data", "data,readonly=false:/d"),
        ("--data", "data:/d,source=/etc"),
    ] {
        let run = repro(dir.path(), &["run", lock.to_str().unwrap(), flag, value]);
        let stderr = text(&run.stderr);
        assert_eq!(run.status.code(), Some(125), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains("cannot be part of a mounted path"),
            "{stderr}"
        );
    }
    let mut made: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    made.sort();
    assert_eq!(
        made,
        ["repro.lock"],
        "nothing was created for the refused paths"
    );
}

fn verify_and_load(dir: &Path, lock: &Path, archive: &Path) -> common::Run {
    docker_in(
        dir,
        &[
            "repro",
            "verify",
            lock.to_str().unwrap(),
            "--archive",
            archive.to_str().unwrap(),
            "--load",
        ],
    )
}

/// `verify --archive --load` loads only what it verified, named only as the lock says: the
/// tags the archive names (in index.json and manifest.json) never move.
#[test]
fn an_archive_cannot_choose_which_tags_it_moves() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let victim = "repro-hostile-victim:latest";
    docker(&["tag", &common::busybox(), victim]);
    let before = docker(&["image", "inspect", "--format", "{{.Id}}", victim]).stdout;

    let genuine = image("loaded");
    let name = "repro-hostile-loaded:0123456789ab";
    let lock = lock_for(dir.path(), &genuine, name);
    let mut members = genuine.blobs.clone();
    members.push(("index.json".into(), index_json(&genuine, victim)));
    members.push(("manifest.json".into(), manifest_json(&genuine, &[victim])));
    let archive = write_archive(dir.path(), members);
    let verify = verify_and_load(dir.path(), &lock, &archive).expect(0);
    assert!(
        verify.stdout.contains("verdict: identical"),
        "{}",
        verify.stdout
    );
    let after = docker(&["image", "inspect", "--format", "{{.Id}}", victim]).stdout;
    assert_eq!(before, after, "the archive moved {victim}");
    let loaded = docker(&["image", "inspect", "--format", "{{.Id}}", name]).stdout;
    assert_eq!(loaded.trim(), genuine.manifest);

    // An archive that is not the locked image loads nothing at all.
    docker(&["rmi", name]);
    let other = image("other");
    let mut members = other.blobs.clone();
    members.push(("index.json".into(), index_json(&other, name)));
    write_archive(dir.path(), members);
    let run = docker_in(
        dir.path(),
        &[
            "repro",
            "run",
            lock.to_str().unwrap(),
            "--archive",
            archive.to_str().unwrap(),
        ],
    )
    .expect(1);
    assert!(run.stderr.contains("nothing was loaded"), "{}", run.stderr);
    let absent = Command::new("docker")
        .args(["image", "inspect", name])
        .output()
        .unwrap();
    assert!(
        !absent.status.success(),
        "{name} was loaded from a wrong archive"
    );

    // A lock whose name is one of the reviewer's own tags does not move it either.
    let mut members = genuine.blobs.clone();
    members.push(("index.json".into(), index_json(&genuine, name)));
    write_archive(dir.path(), members);
    let lock = lock_for(dir.path(), &genuine, victim);
    let verify = verify_and_load(dir.path(), &lock, &archive).expect(1);
    assert!(
        verify.stderr.contains("already names another image"),
        "{}",
        verify.stderr
    );
    let after = docker(&["image", "inspect", "--format", "{{.Id}}", victim]).stdout;
    assert_eq!(before, after, "the lock's name moved {victim}");
    let _ = Command::new("docker").args(["rmi", victim]).output();
}
