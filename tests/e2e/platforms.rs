//! Several platforms: `release --platform linux/amd64,linux/arm64` locks one image index and
//! each platform's manifest and inventory; verify checks every platform, or some; run picks
//! the host's. The arm64 RUN steps execute under QEMU (qemu-aarch64 in binfmt_misc, which
//! scripts/testbed.sh registers); where it is missing these tests fail saying so, never pass.

use crate::common::*;
use std::time::Instant;

const PLATFORMS: &str = "linux/amd64,linux/arm64";

fn busybox_multi() -> String {
    format!("{REGISTRY}/repro-test/busybox-multi:1")
}

/// arm64 RUN steps need qemu-aarch64 registered with binfmt_misc: say so loudly, and fail.
fn require_arm64_emulation() {
    if !std::path::Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (counted as a failure): no qemu-aarch64 in /proc/sys/fs/binfmt_misc, so arm64 RUN steps cannot run here; run `bash scripts/testbed.sh` as root (it registers QEMU) and see its warnings"
        );
        panic!("no arm64 emulation (qemu-aarch64 in binfmt_misc): the multi-platform tests cannot run here");
    }
}

/// A base + release project on the amd64+arm64 busybox; the base's RUN writes a dpkg status
/// naming the architecture it ran on, so each platform has its own inventory.
fn two_platform_project(name: &str) -> Project {
    Project::new(
        name,
        &[
            (
                "docker/Dockerfile.base",
                &format!(
                    "FROM {}\nRUN uname -m > /arch && mkdir -p /var/lib/dpkg && printf 'Package: hello\\nStatus: install ok installed\\nVersion: 1.0\\nArchitecture: %s\\n\\n' \"$(uname -m)\" > /var/lib/dpkg/status\n",
                    busybox_multi()
                ),
            ),
            (
                "docker/Dockerfile.release",
                &format!("FROM {name}:base\nCOPY app /app\nCMD [\"cat\", \"/arch\"]\n"),
            ),
            ("app/hello.txt", "hello from two platforms\n"),
        ],
    )
}

fn lock_value(p: &Project) -> toml::Value {
    toml::from_str(&p.lock_text()).unwrap()
}

fn image_id(reference: &str) -> String {
    docker(&["image", "inspect", "--format", "{{.Id}}", reference])
        .stdout
        .trim()
        .to_string()
}

/// (role, platform, status) of each image of a verify report.
fn statuses(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["role"].as_str().unwrap().to_string(),
                i["platform"].as_str().unwrap_or("null").to_string(),
                i["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn two_platform_release_locks_each_platform_and_verifies_every_way() {
    let _serial = serial();
    require_arm64_emulation();
    let p = two_platform_project("twoplat");
    let image = p.image();
    let archive = p.dir.join("../twoplat.oci.tar");
    let archive = archive.to_str().unwrap();

    let started = Instant::now();
    p.repro(&[
        "release",
        "-q",
        "--platform",
        PLATFORMS,
        "--archive",
        archive,
    ])
    .expect(0);
    eprintln!(
        "two-platform release (base + release): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let first_lock = p.lock_text();
    let lock = lock_value(&p);
    assert_eq!(lock["build"]["platform"].as_str(), Some(PLATFORMS));
    let images = lock["image"].as_array().unwrap();
    let mut seen = Vec::new();
    for i in images {
        let role = i["role"].as_str().unwrap();
        let platform = i["platform"].as_str().unwrap();
        let arch = if platform == "linux/arm64" {
            "aarch64"
        } else {
            "x86_64"
        };
        if role == "base" {
            // Each platform's inventory was read from its own manifest.
            assert_eq!(
                i["inventory"]["apt"]["hello"].as_str(),
                Some(format!("1.0 {arch}").as_str()),
                "{first_lock}"
            );
        }
        seen.push((role.to_string(), platform.to_string()));
    }
    assert_eq!(seen.len(), 4, "{first_lock}");
    for role in ["base", "release"] {
        let of_role: Vec<&toml::Value> = images
            .iter()
            .filter(|i| i["role"].as_str() == Some(role))
            .collect();
        assert_ne!(of_role[0]["manifest_digest"], of_role[1]["manifest_digest"]);
        assert_eq!(of_role[0]["index_digest"], of_role[1]["index_digest"]);
    }
    let bases = lock["base"].as_array().unwrap();
    assert_eq!(bases.len(), 2, "one [[base]] per platform: {first_lock}");
    assert_ne!(bases[0]["platform_digest"], bases[1]["platform_digest"]);

    // The engine holds each role as its image index, with both platforms runnable.
    let commit = p.git(&["rev-parse", "HEAD"]);
    let release_tag = format!("{image}:{}", &commit[..12]);
    let release_index = images
        .iter()
        .find(|i| i["role"].as_str() == Some("release"))
        .unwrap()["index_digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(image_id(&release_tag), release_index);
    let arm = docker(&["run", "--rm", "--platform", "linux/arm64", &release_tag]);
    assert_eq!(arm.stdout, "aarch64\n");

    // Released again: the same lock, byte for byte.
    p.repro(&["release", "-q", "--platform", PLATFORMS])
        .expect(0);
    assert_eq!(p.lock_text(), first_lock);

    // By digest: one report line per image and platform, each with its platform.
    let by_digest = p.repro(&["verify", "--format", "json"]).expect(0).json();
    assert_eq!(
        statuses(&by_digest),
        [
            ("base".into(), "linux/amd64".into(), "identical".into()),
            ("base".into(), "linux/arm64".into(), "identical".into()),
            ("release".into(), "linux/amd64".into(), "identical".into()),
            ("release".into(), "linux/arm64".into(), "identical".into()),
        ]
    );
    let human = p.repro(&["verify"]).expect(0).stdout;
    assert!(
        human.contains("PLATFORM") && human.contains("linux/arm64"),
        "{human}"
    );

    // The archive: every platform, with no network.
    let from_archive = p
        .repro(&["verify", "--archive", archive, "--format", "json"])
        .expect(0)
        .json();
    assert_eq!(statuses(&from_archive).len(), 4, "{from_archive}");
    // The release's index and each platform's manifest carry the locked annotations; the
    // base's, shared by many commits, none.
    let blob = |digest: &str| -> serde_json::Value {
        let out = std::process::Command::new("tar")
            .args(["-xOf", archive])
            .arg(format!(
                "blobs/sha256/{}",
                digest.trim_start_matches("sha256:")
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{digest} in {archive}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(
        lock["build"]["annotations"]["org.opencontainers.image.revision"].as_str(),
        Some(commit.as_str()),
        "{first_lock}"
    );
    for i in images {
        let annotated = i["role"].as_str() == Some("release");
        for key in ["index_digest", "manifest_digest"] {
            let document = blob(i[key].as_str().unwrap());
            let revision = document["annotations"]["org.opencontainers.image.revision"].as_str();
            if annotated {
                assert_eq!(revision, Some(commit.as_str()), "{key}: {document:#}");
            } else {
                assert!(document.get("annotations").is_none(), "{key}: {document:#}");
            }
        }
    }

    // run picks the engine's platform (amd64 here).
    let host = docker(&["version", "--format", "{{.Server.Arch}}"]).stdout;
    let ran = p.repro(&["run", "-q"]).expect(0);
    let expected = if host.trim() == "arm64" {
        "aarch64\n"
    } else {
        "x86_64\n"
    };
    assert_eq!(ran.stdout, expected);
    assert!(
        !p.dir.join("repro-run.json").exists(),
        "the clone is left as it was"
    );

    // A reviewer's clone, with an empty build cache: every platform rebuilds identical.
    let (_tmp, review) = p.clone_with_lock();
    prune_build_cache();
    let started = Instant::now();
    let rebuilt = docker_in(
        &review,
        &["repro", "verify", "--rebuild", "-q", "--format", "json"],
    )
    .expect(0)
    .json();
    eprintln!(
        "two-platform verify --rebuild: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(statuses(&rebuilt).len(), 4, "{rebuilt}");
    assert_eq!(rebuilt["verdict"], "identical");

    // Only arm64: one platform built and compared, for base and release.
    let arm_only = docker_in(
        &review,
        &[
            "repro",
            "verify",
            "--rebuild",
            "-q",
            "--platform",
            "linux/arm64",
            "--format",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(
        statuses(&arm_only),
        [
            ("base".into(), "linux/arm64".into(), "identical".into()),
            ("release".into(), "linux/arm64".into(), "identical".into()),
        ]
    );

    // The release on the archived base index, without rebuilding the base.
    let on_locked = docker_in(
        &review,
        &[
            "repro",
            "verify",
            "--rebuild",
            "-q",
            "--base",
            "locked",
            "--archive",
            archive,
            "--format",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(statuses(&on_locked).len(), 4, "{on_locked}");

    // A platform the lock does not have is a usage error.
    let refused = p
        .repro(&["verify", "--platform", "linux/s390x"])
        .expect(125);
    assert!(refused.stderr.contains("linux/s390x"), "{}", refused.stderr);
}
