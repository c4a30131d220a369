//! The lock's text across versions: a version 1 lock written by the release before version 2
//! still verifies by rebuild, and the same commit released now writes version 2, whose release
//! inventory is only what it changes over the base's.

use crate::common::*;
use std::path::Path;

/// The project tests/fixtures/v1/base-release.lock was released from (same files, same dates,
/// so the same commit).
fn lockvone() -> Project {
    Project::new(
        "lockvone",
        &[
            (
                "docker/Dockerfile.base",
                "FROM 127.0.0.1:5000/repro-test/bookworm-python:1\nENV LANG=C.UTF-8\nWORKDIR /workspace\n",
            ),
            (
                "docker/Dockerfile.release",
                "FROM lockvone:base\nCOPY app /workspace/app\nCMD [\"cat\", \"/workspace/app/hello.txt\"]\n",
            ),
            ("app/hello.txt", "hello from a lock of version 1, as released before version 2\n"),
            (".dockerignore", ".git\n"),
        ],
    )
}

/// The tags a test made, removed when it ends however it ends.
struct Tags(Vec<String>);

impl Drop for Tags {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rmi", "--force"])
            .args(&self.0)
            .output();
    }
}

#[test]
fn a_version_1_lock_still_verifies_and_the_same_release_now_writes_version_2() {
    let _serial = serial();
    let v1 = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/base-release.lock"),
    )
    .unwrap();
    let p = lockvone();
    let commit = p.git(&["rev-parse", "HEAD"]);
    assert!(
        v1.contains(&format!("commit = \"{commit}\"")),
        "the fixture was released from another commit than {commit}"
    );
    let _tags = Tags(vec![
        "lockvone:base".into(),
        format!("lockvone:{}", &commit[..12]),
    ]);

    // A reviewer holding the version 1 lock rebuilds both images, identical to it.
    std::fs::write(p.dir.join("repro.lock"), &v1).unwrap();
    let (_tmp, review) = p.clone_with_lock();
    let verify = docker_in(&review, &["repro", "verify", "--rebuild", "-q"]).expect(0);
    assert!(
        verify.stdout.contains("verdict: identical"),
        "{}",
        verify.stdout
    );

    // The same commit released now: the same images, a version 2 lock that reads at a glance
    // and lists the base's packages once.
    let release = p.repro(&["release", "-q"]).expect(0);
    assert!(
        release
            .stderr
            .contains("warning: the repository has no remote"),
        "{}",
        release.stderr
    );
    let v2 = p.lock_text();
    let old = docker_repro::lock::Lock::from_toml(&v1, Path::new("v1.lock")).unwrap();
    let new = docker_repro::lock::Lock::from_toml(&v2, Path::new("repro.lock")).unwrap();
    assert_eq!(new.version, 2);
    // The same layers, byte for byte; the configs (and so the manifests) are written in the
    // canonical form now, which the v1 lock, cut before it, does not record.
    let layers =
        |lock: &docker_repro::lock::Lock| -> Vec<Vec<docker_repro::image::digest::Digest>> {
            lock.images.iter().map(|i| i.layers.clone()).collect()
        };
    assert_eq!(layers(&new), layers(&old), "{v2}");
    assert!(!v1.contains("image_config"), "{v1}");
    assert!(v2.contains("\nimage_config = \"canonical/1\"\n"), "{v2}");
    assert!(!v1.contains("layer_encoder"), "{v1}");
    assert!(v2.contains("\nlayer_encoder = \"parallel/1\"\n"), "{v2}");
    // The same packages, read back whole from the difference.
    for (n, o) in new.images.iter().zip(&old.images) {
        assert_eq!(
            (&n.inventory.apt, &n.inventory.pip),
            (&o.inventory.apt, &o.inventory.pip)
        );
    }
    assert!(v2.contains("\nversion = 2\n"), "{v2}");
    assert!(v2.contains("#   OS         debian 12\n"), "{v2}");
    assert!(v2.contains("#   Python     3.11"), "{v2}");
    assert!(
        v2.contains("committed 2024-05-01T12:00:00Z, no remote recorded"),
        "{v2}"
    );
    let release_block = &v2[v2.rfind("[[image]]").unwrap()..];
    assert!(
        release_block.contains("role = \"release\"")
            && release_block.contains("inventory_over = \"base\"")
            && !release_block.contains("[image.inventory.apt]"),
        "{release_block}"
    );
    let apt_lines = |text: &str| text.lines().filter(|l| l.ends_with(" amd64\"")).count();
    assert_eq!(apt_lines(&v2) * 2, apt_lines(&v1), "{v2}");
    eprintln!(
        "lock lines: version 1 {}, version 2 {}",
        v1.lines().count(),
        v2.lines().count()
    );
    snapshot("lock_v2_base_release", &v2);
}

/// A lock written before `layer_encoder` existed (by the release of the commit before it, with
/// the canonical config and every layer written by the tool's single-stream encoder) is rebuilt
/// with that encoder: identical. The same commit released now records the parallel encoder, and
/// its gzip layer has other bytes of the same tar.
#[test]
fn a_lock_without_the_layer_encoder_is_rebuilt_with_the_single_stream_one() {
    let _serial = serial();
    let old = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/single-stream/numbers.lock"),
    )
    .unwrap();
    // The project tests/fixtures/single-stream/numbers.lock was released from.
    let p = crate::engines::numbers_project("locknumbers");
    let commit = p.git(&["rev-parse", "HEAD"]);
    assert!(
        old.contains(&format!("commit = \"{commit}\"")),
        "the fixture was released from another commit than {commit}"
    );
    let _tags = Tags(vec![format!("locknumbers:{}", &commit[..12])]);
    assert!(old.contains("\nimage_config = \"canonical/1\"\n"), "{old}");
    assert!(!old.contains("layer_encoder"), "{old}");

    std::fs::write(p.dir.join("repro.lock"), &old).unwrap();
    let (_tmp, review) = p.clone_with_lock();
    let verify = docker_in(&review, &["repro", "verify", "--rebuild", "-q"]).expect(0);
    assert!(
        verify.stdout.contains("verdict: identical"),
        "{}",
        verify.stdout
    );

    p.repro(&["release", "-q"]).expect(0);
    let new = p.lock_text();
    assert!(new.contains("\nlayer_encoder = \"parallel/1\"\n"), "{new}");
    let read = |text: &str, name: &str| {
        docker_repro::lock::Lock::from_toml(text, Path::new(name)).unwrap()
    };
    let (old, new) = (read(&old, "old.lock"), read(&new, "repro.lock"));
    let busybox_layers = 1;
    assert_eq!(old.images[0].layers.len(), busybox_layers + 1);
    assert_eq!(
        old.images[0].layers[..busybox_layers],
        new.images[0].layers[..busybox_layers],
        "the registry base's layer is kept as pulled"
    );
    assert_ne!(
        old.images[0].layers[busybox_layers], new.images[0].layers[busybox_layers],
        "the parallel encoder wrote the same bytes as the single stream"
    );
}
