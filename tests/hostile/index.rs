//! A genuine two-platform lock with only the release's `index_digest` changed, to an index that
//! lists an attacker's amd64 image beside the genuine arm64 manifest. The engine runs an index
//! by platform, so that index would run the attacker's image under a lock that verifies: every
//! path that reads the index (verify from the engine, the registry and an archive, verify
//! --rebuild, run, run --archive) must refuse it, naming the platform and both manifests, with
//! exit 2. The release has no RUN step, so its arm64 half builds without emulation.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::common::*;

const PLATFORMS: &str = "linux/amd64,linux/arm64";

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Every member of a tar file, by path.
fn members(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            out.push((name, bytes));
        }
    }
    out
}

/// The amd64 manifest the attacker's index lists.
fn evil_amd64(archive: &Path, evil: &str) -> String {
    let all = members(archive);
    let doc: serde_json::Value = serde_json::from_slice(member(&all, &blob(evil))).unwrap();
    doc["manifests"][0]["digest"].as_str().unwrap().to_string()
}

fn member<'a>(all: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &all.iter().find(|(n, _)| n == name).unwrap().1
}

fn blob(digest: &str) -> String {
    format!("blobs/sha256/{}", &digest[7..])
}

/// The attacker's amd64 image: the genuine base with another /app/hello.txt, built by buildx
/// into an OCI archive; its manifest descriptor (with its platform) and its blobs.
fn attacker_image(dir: &Path) -> (serde_json::Value, Vec<(String, Vec<u8>)>) {
    let ctx = dir.join("attacker");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hello.txt"), "ATTACKER CODE RAN\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {REGISTRY}/repro-test/busybox-multi:1\nCOPY hello.txt /app/hello.txt\nCMD [\"cat\", \"/app/hello.txt\"]\n"
        ),
    )
    .unwrap();
    let out = dir.join("attacker.tar");
    docker(&[
        "buildx",
        "build",
        "-q",
        "--platform",
        "linux/amd64",
        "--provenance=false",
        "--sbom=false",
        "--output",
        &format!("type=oci,dest={}", out.display()),
        ctx.to_str().unwrap(),
    ]);
    let all = members(&out);
    let index: serde_json::Value = serde_json::from_slice(member(&all, "index.json")).unwrap();
    let mut descriptor = index["manifests"][0].clone();
    descriptor["platform"] = serde_json::json!({"architecture": "amd64", "os": "linux"});
    descriptor.as_object_mut().unwrap().remove("annotations");
    let blobs = all
        .into_iter()
        .filter(|(n, _)| n.starts_with("blobs/"))
        .collect();
    (descriptor, blobs)
}

/// The attacker's index (their amd64 image, the genuine arm64 manifest) and an OCI archive
/// holding it as the only image, with every blob it leads to.
fn attacker_archive(
    dir: &Path,
    genuine: &Path,
    genuine_index: &str,
    evil_name: &str,
) -> (String, PathBuf) {
    let genuine = members(genuine);
    let index: serde_json::Value =
        serde_json::from_slice(member(&genuine, &blob(genuine_index))).unwrap();
    let arm = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "arm64")
        .unwrap()
        .clone();
    let (evil_amd, evil_blobs) = attacker_image(dir);
    let evil = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [evil_amd, arm],
    }))
    .unwrap();
    let evil_digest = sha256(&evil);
    let top = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": evil_digest,
            "size": evil.len(),
            "annotations": {"io.containerd.image.name": evil_name},
        }],
    }))
    .unwrap();
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        (
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".into(), top),
        (blob(&evil_digest), evil),
    ];
    for (name, bytes) in genuine.into_iter().chain(evil_blobs) {
        if name.starts_with("blobs/") && !entries.iter().any(|(n, _)| *n == name) {
            entries.push((name, bytes));
        }
    }
    let path = dir.join("attacker-index.oci.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    for (name, data) in &entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
    (evil_digest, path)
}

/// A role's amd64 manifest, index and name, from the lock.
fn role_of(lock: &str, role: &str) -> (String, String, String) {
    let lock: toml::Value = toml::from_str(lock).unwrap();
    let release: Vec<&toml::Value> = lock["image"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["role"].as_str() == Some(role))
        .collect();
    let of = |platform: &str| {
        release
            .iter()
            .find(|i| i["platform"].as_str() == Some(platform))
            .unwrap()["manifest_digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    (
        of("linux/amd64"),
        release[0]["index_digest"].as_str().unwrap().to_string(),
        release[0]["name"].as_str().unwrap().to_string(),
    )
}

/// A refusal: exit 2, and the one line that names the platform and both manifests.
#[track_caller]
fn assert_untied(run: &Run, line: &str, what: &str) {
    assert_eq!(
        run.code, 2,
        "{what}: exit code\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.contains(line) || run.stderr.contains(line),
        "{what}: no line {line:?}\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        !run.stdout.contains("ATTACKER CODE RAN"),
        "{what}: the attacker's image ran\n{}",
        run.stdout
    );
}

fn image_present(reference: &str) -> bool {
    std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", reference])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn an_index_digest_that_lists_another_manifest_is_refused_by_verify_and_run() {
    let _serial = serial();
    let image = format!("{REGISTRY}/repro-test/indextie");
    let p = Project::new(
        "indextie",
        &[
            (
                "Dockerfile",
                &format!("FROM {REGISTRY}/repro-test/busybox-multi:1\nCOPY app /app\nCMD [\"cat\", \"/app/hello.txt\"]\n"),
            ),
            ("app/hello.txt", "the locked release\n"),
        ],
    );
    let work = p.dir.parent().unwrap().to_path_buf();
    let genuine_archive = work.join("genuine.oci.tar");
    p.repro(&[
        "release",
        "-q",
        "--platform",
        PLATFORMS,
        "--image",
        &image,
        "--push",
        "--archive",
        genuine_archive.to_str().unwrap(),
    ])
    .expect(0);
    let genuine_lock = p.lock_text();
    let (amd, index, name) = role_of(&genuine_lock, "release");

    // The genuine lock: identical, and run runs the amd64 manifest by its own digest.
    p.repro(&["verify"]).expect(0);
    let ran = p.repro(&["run", "-q"]).expect(0);
    assert_eq!(ran.stdout, "the locked release\n");
    assert!(
        !p.dir.join("repro-run.json").exists(),
        "the clone is left as it was"
    );
    let record = take_run_record(&amd);
    assert_eq!(record["image_digest"], amd.as_str());
    assert_eq!(record["index_digest"], index.as_str());
    let argv: Vec<&str> = record["docker_argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let by_manifest = format!("{}@{amd}", name.rsplit_once(':').unwrap().0);
    assert!(argv.contains(&by_manifest.as_str()), "{argv:?}");
    assert!(!argv.iter().any(|a| a.contains(&index[7..])), "{argv:?}");
    // Again: the manifest's own image is there now, and the index is checked again.
    let again = p.repro(&["run"]).expect(0);
    assert_eq!(again.stdout, "the locked release\n");
    assert!(
        again.stderr.contains("checking the locked image index"),
        "{}",
        again.stderr
    );
    take_run_record(&amd);

    // The attack: only the release's index_digest changed.
    let evil_tag = format!("{image}:evil");
    let (evil, evil_archive) = attacker_archive(&work, &genuine_archive, &index, &evil_tag);
    let evil_archive = evil_archive.to_str().unwrap();
    std::fs::write(
        p.dir.join("repro.lock"),
        genuine_lock.replace(&index, &evil),
    )
    .unwrap();
    let evil_amd = evil_amd64(Path::new(evil_archive), &evil);
    let line =
        format!("the image index {evil} lists {evil_amd} for linux/amd64, the lock names {amd}");
    assert!(!image_present(&evil), "the engine already holds {evil}");

    // The archive: verify, and run --archive, which must load nothing.
    let from_archive = p.repro(&["verify", "--archive", evil_archive]);
    assert_untied(&from_archive, &line, "verify --archive");
    let run_archive = p.repro(&["run", "--archive", evil_archive]);
    assert_untied(&run_archive, &line, "run --archive");
    assert!(
        !image_present(&evil),
        "run --archive loaded the attacker's index"
    );
    assert!(!p.dir.join("repro-run.json").exists() && run_records(&amd).is_empty());

    // The registry: the attacker's index pushed there, not in the engine.
    docker(&["load", "-q", "-i", evil_archive]);
    docker(&["push", "-q", &evil_tag]);
    docker(&["image", "rm", &evil_tag]);
    assert!(!image_present(&evil));
    let from_registry = p.repro(&["verify"]);
    assert_untied(&from_registry, &line, "verify from the registry");
    let run_registry = p.repro(&["run"]);
    assert_untied(&run_registry, &line, "run from the registry");
    assert!(!p.dir.join("repro-run.json").exists() && run_records(&amd).is_empty());

    // The engine: the attacker's index loaded, as the lock's index_digest names it.
    docker(&["load", "-q", "-i", evil_archive]);
    assert!(image_present(&evil));
    let from_engine = p.repro(&["verify", "--format", "json"]);
    assert_untied(&from_engine, &line, "verify from the engine");
    let report = from_engine.json();
    assert_eq!(report["images"][0]["source"], "engine", "{report}");
    assert_eq!(report["verdict"], "different", "{report}");
    let run_engine = p.repro(&["run"]);
    assert_untied(&run_engine, &line, "run from the engine");
    assert!(!p.dir.join("repro-run.json").exists() && run_records(&amd).is_empty());

    // A rebuild makes the genuine index, which is not the locked one; the engine's locked
    // index says what it lists instead.
    let rebuilt = p.repro(&["verify", "--rebuild", "-q"]);
    assert_untied(&rebuilt, &line, "verify --rebuild");
    assert!(
        rebuilt.stdout.contains(&format!(
            "the lock's image index is {evil}, not the rebuilt {index}"
        )),
        "{}",
        rebuilt.stdout
    );

    docker(&["image", "rm", &evil_tag]);
}

#[test]
fn a_base_index_digest_that_lists_another_manifest_is_refused_and_nothing_is_built_on_it() {
    let _serial = serial();
    let p = Project::new(
        "indextiebase",
        &[
            (
                "docker/Dockerfile.base",
                &format!("FROM {REGISTRY}/repro-test/busybox-multi:1\nCOPY base.txt /base.txt\n"),
            ),
            (
                "docker/Dockerfile.release",
                "FROM indextiebase:base\nCOPY app /app\nCMD [\"cat\", \"/app/hello.txt\"]\n",
            ),
            ("base.txt", "the locked base\n"),
            ("app/hello.txt", "the locked release\n"),
        ],
    );
    let work = p.dir.parent().unwrap().to_path_buf();
    let genuine_archive = work.join("genuine.oci.tar");
    p.repro(&[
        "release",
        "-q",
        "--platform",
        PLATFORMS,
        "--archive",
        genuine_archive.to_str().unwrap(),
    ])
    .expect(0);
    let genuine_lock = p.lock_text();
    let (amd, index, _) = role_of(&genuine_lock, "base");
    p.repro(&["verify", "--rebuild", "-q", "--base", "locked"])
        .expect(0);

    // Only the base's index_digest changed.
    let evil_tag = "indextiebase:evil";
    let (evil, evil_archive) = attacker_archive(
        &work,
        &genuine_archive,
        &index,
        &format!("docker.io/library/{evil_tag}"),
    );
    std::fs::write(
        p.dir.join("repro.lock"),
        genuine_lock.replace(&index, &evil),
    )
    .unwrap();
    let line = format!(
        "the image index {evil} lists {} for linux/amd64, the lock names {amd}",
        evil_amd64(&evil_archive, &evil)
    );
    let evil_archive = evil_archive.to_str().unwrap();

    // From the paper's archive: the release is not rebuilt on it.
    let on_archive = p.repro(&[
        "verify",
        "--rebuild",
        "-q",
        "--base",
        "locked",
        "--archive",
        evil_archive,
    ]);
    assert_untied(
        &on_archive,
        &line,
        "verify --rebuild --base locked --archive",
    );
    assert!(
        on_archive.stderr.contains("nothing was rebuilt on it"),
        "{}",
        on_archive.stderr
    );

    // From the engine.
    docker(&["load", "-q", "-i", evil_archive]);
    let by_digest = p.repro(&["verify"]);
    assert_untied(&by_digest, &line, "verify of the base from the engine");
    let on_engine = p.repro(&["verify", "--rebuild", "-q", "--base", "locked"]);
    assert_untied(&on_engine, &line, "verify --rebuild --base locked");
    docker(&["image", "rm", evil_tag]);
}
