//! Documents attached to a pushed image by someone else: a lock about another image, a
//! referrers list naming an artifact about another image, a digest the registry does not
//! serve, a "lock" over the bound. Each is refused by `verify NAME@DIGEST` in one line, exit 1,
//! with no verdict on stdout. They are pushed to the test bed's registry with the crate's own
//! registry client, as an attacker with push access would.

use docker_repro::engine::registry::Registry;
use docker_repro::image::digest::Digest;
use docker_repro::image::referrer::{self, Attachment, LOCK_TYPE};
use docker_repro::ops::referrer as ops;
use sha2::Digest as _;

use crate::common::*;

/// `busybox` pushed to a repository of this test's own: `(repository, digest, registry)`.
/// The repository is emptied when `pushed` drops.
fn own_image(name: &str, pushed: &mut Vec<PushedRepository>) -> (String, Digest, Registry) {
    let repository = format!("{REGISTRY}/repro-test/{name}-{}", std::process::id());
    pushed.push(PushedRepository(repository.clone()));
    publish(&busybox(), &format!("{repository}:1"));
    let out = std::process::Command::new("docker")
        .args([
            "buildx",
            "imagetools",
            "inspect",
            "--raw",
            &format!("{repository}:1"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let digest = Digest::parse(&format!("sha256:{:x}", sha2::Sha256::digest(&out.stdout))).unwrap();
    let registry = Registry::new(&repository).unwrap();
    (repository, digest, registry)
}

fn lock(content: Vec<u8>) -> Attachment {
    Attachment {
        artifact_type: LOCK_TYPE,
        title: "repro.lock".into(),
        content,
    }
}

/// `verify NAME@DIGEST` from an empty directory: refused in one line containing `words`.
fn refused(pinned: &str, words: &str) {
    let empty = tempfile::tempdir().unwrap();
    let run = docker_in(empty.path(), &["repro", "verify", pinned]).expect(1);
    assert_eq!(run.stdout, "", "no verdict");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.starts_with("==>"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].contains(words), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}

#[test]
fn a_lock_attached_to_another_image_is_refused() {
    let _serial = serial();
    let mut pushed = Vec::new();
    // A real lock, of a release pushed elsewhere.
    let p = Project::new(
        "foreignlock",
        &[
            (
                "Dockerfile",
                &format!("FROM {}\nCOPY app /app\n", busybox()),
            ),
            ("app/a.txt", &format!("foreign {}\n", std::process::id())),
            (".dockerignore", ".git\n"),
        ],
    );
    let release = p.repro(&["release", "-q", "--format", "json"]).expect(0);
    let released = release.json()["images"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();

    let (repository, digest, registry) = own_image("foreign-lock", &mut pushed);
    let subject = ops::subject(&registry, &digest, &repository).unwrap();
    ops::attach(
        &registry,
        &subject,
        &lock(p.lock_text().into_bytes()),
        "2024-01-01T00:00:00Z",
    )
    .unwrap();
    refused(&format!("{repository}@{digest}"), "names other images");
    docker(&["image", "rm", &released]);
}

#[test]
fn a_referrers_list_naming_an_artifact_about_another_image_is_refused() {
    let _serial = serial();
    let mut pushed = Vec::new();
    let (repository, digest, registry) = own_image("foreign-artifact", &mut pushed);
    // A lock artifact whose subject is another image, listed under this image's tag.
    let other = referrer::Descriptor::of(referrer::MANIFEST_TYPE, b"another image");
    let artifact = referrer::artifact(
        &lock(b"version = 1\n".to_vec()),
        &other,
        "2024-01-01T00:00:00Z",
    );
    for (d, bytes) in &artifact.blobs {
        registry.push_blob(d, bytes).unwrap();
    }
    registry
        .push_manifest(
            &artifact.descriptor.digest,
            referrer::MANIFEST_TYPE,
            &artifact.manifest,
        )
        .unwrap();
    let index = referrer::with_added(None, &artifact.descriptor)
        .unwrap()
        .unwrap();
    registry
        .push_manifest(
            &referrer::fallback_tag(&digest),
            referrer::INDEX_TYPE,
            &index,
        )
        .unwrap();
    refused(
        &format!("{repository}@{digest}"),
        "refusing an artifact attached to another image",
    );
}

#[test]
fn an_archived_lock_whose_bytes_are_not_its_digest_is_refused() {
    let _serial = serial();
    let p = Project::new(
        "tamperedlock",
        &[
            (
                "Dockerfile",
                &format!("FROM {}\nCOPY app /app\n", busybox()),
            ),
            ("app/a.txt", &format!("tampered {}\n", std::process::id())),
            (".dockerignore", ".git\n"),
        ],
    );
    let archive = p.dir.join("../paper.oci.tar");
    let release = p
        .repro(&[
            "release",
            "-q",
            "--archive",
            archive.to_str().unwrap(),
            "--format",
            "json",
        ])
        .expect(0);
    let released = release.json()["images"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let lock = p.lock_text();
    let empty = tempfile::tempdir().unwrap();
    let verify = |archive: &std::path::Path| {
        docker_in(
            empty.path(),
            &["repro", "verify", "--archive", archive.to_str().unwrap()],
        )
    };
    verify(&archive).expect(0);

    // The same archive with one byte of the attached lock changed, its name kept.
    let lock_member = format!("blobs/sha256/{:x}", sha2::Sha256::digest(lock.as_bytes()));
    let tampered = p.dir.join("../tampered.oci.tar");
    let mut out = tar::Builder::new(std::fs::File::create(&tampered).unwrap());
    let mut input = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    let mut seen = false;
    for entry in input.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        if path == lock_member {
            // One bit of its first byte: whatever the lock's version or text, its bytes are no
            // longer its digest's.
            bytes[0] ^= 0x01;
            assert_ne!(bytes, lock.as_bytes());
            seen = true;
        }
        let mut header = entry.header().clone();
        header.set_size(bytes.len() as u64);
        header.set_cksum();
        out.append_data(&mut header, &path, bytes.as_slice())
            .unwrap();
    }
    out.finish().unwrap();
    assert!(seen, "the archive holds the lock as {lock_member}");
    let run = verify(&tampered).expect(1);
    assert_eq!(run.stdout, "", "no verdict");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.starts_with("==>"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].contains("hashes to"), "{}", run.stderr);
    docker(&["image", "rm", &released]);
}

#[test]
fn a_lock_over_the_bound_is_refused_without_reading_it() {
    let _serial = serial();
    let mut pushed = Vec::new();
    let (repository, digest, registry) = own_image("huge-lock", &mut pushed);
    let subject = ops::subject(&registry, &digest, &repository).unwrap();
    // 17 MiB, past the 16 MiB a repro.lock may have: refused from its descriptor.
    let huge = vec![b'#'; 17 << 20];
    ops::attach(
        &registry,
        &subject,
        &lock(huge.clone()),
        "2024-01-01T00:00:00Z",
    )
    .unwrap();
    refused(&format!("{repository}@{digest}"), "over the 16 MiB limit");

    // The same bytes under a descriptor that lies about their size (the registry takes it):
    // refused from the size the registry announces, and never read past the bound.
    let (repository, digest, registry) = own_image("lying-lock", &mut pushed);
    let subject = ops::subject(&registry, &digest, &repository).unwrap();
    let honest = referrer::artifact(&lock(huge), &subject, "2024-01-01T00:00:00Z");
    let mut manifest: serde_json::Value = serde_json::from_slice(&honest.manifest).unwrap();
    manifest["layers"][0]["size"] = 100.into();
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let mut descriptor = referrer::Descriptor::of(referrer::MANIFEST_TYPE, &bytes);
    descriptor.artifact_type = Some(LOCK_TYPE.into());
    for (d, blob) in &honest.blobs {
        registry.push_blob(d, blob).unwrap();
    }
    registry
        .push_manifest(&descriptor.digest, referrer::MANIFEST_TYPE, &bytes)
        .unwrap();
    let index = referrer::with_added(None, &descriptor).unwrap().unwrap();
    registry
        .push_manifest(
            &referrer::fallback_tag(&digest),
            referrer::INDEX_TYPE,
            &index,
        )
        .unwrap();
    refused(&format!("{repository}@{digest}"), "over the 16 MiB limit");
}
