//! The lock travels with the paper: `release --push` publishes every tag and attaches the lock
//! and SBOMs; a reviewer verifies from the image reference alone, or from the archive alone.

use crate::common::*;

use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// The bytes the registry serves for `reference`, as docker's own client fetches them.
fn served(reference: &str) -> Vec<u8> {
    let out = std::process::Command::new("docker")
        .args(["buildx", "imagetools", "inspect", "--raw", reference])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The artifact types the `sha256-<hex>` tag of `digest` in `repository` lists, with digests.
fn attached(repository: &str, digest: &str) -> Vec<(String, String)> {
    let tag = format!("{repository}:sha256-{}", &digest["sha256:".len()..]);
    let index: serde_json::Value = serde_json::from_slice(&served(&tag)).unwrap();
    let mut found: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["artifactType"].as_str().unwrap().to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_pushed_release_verifies_from_its_reference_alone_and_from_its_archive_alone() {
    let _serial = serial();
    let pid = std::process::id();
    let repo = format!("{REGISTRY}/repro-test/published-{pid}");
    let _pushed = PushedRepository(repo.clone());
    // A base and a release: both are pushed, both carry the lock.
    let p = Project::new(
        "published",
        &[
            (
                "docker/Dockerfile.base",
                &format!(
                    "FROM {}\nRUN echo environment {pid} > /env.txt\n",
                    busybox()
                ),
            ),
            (
                "docker/Dockerfile.release",
                &format!("FROM {repo}:base\nCOPY app /app\n"),
            ),
            ("app/unique.txt", &format!("published {pid}\n")),
            ("repro.toml", "[release]\ntags = [\"paper-v1\"]\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    // The remote a reviewer clones: a bare repository the lock records.
    let remote = p.dir.join("../remote.git");
    git_in(
        &p.dir,
        &["clone", "-q", "--bare", ".", remote.to_str().unwrap()],
    );
    p.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
    let archive = p.dir.join("../paper.oci.tar");
    let release = |extra: &[&str]| {
        let mut args = vec!["release", "--image", &repo, "--push", "--tag", "extra"];
        args.extend(extra);
        p.repro(&args).expect(0)
    };
    let first = release(&["--archive", archive.to_str().unwrap(), "--format", "json"]);
    let summary = first.json();
    let digest_of = |role: &str| -> String {
        summary["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["role"] == role)
            .unwrap()["manifest_digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (digest, base_digest) = (digest_of("release"), digest_of("base"));
    let lock = p.lock_text();
    let commit = p.git(&["rev-parse", "HEAD"]);

    // Every tag is in the registry, each naming the locked digest: the release's commit tag,
    // repro.toml's tag and --tag's; the base's.
    for tag in [&commit[..12], "paper-v1", "extra"] {
        assert_eq!(sha256(&served(&format!("{repo}:{tag}"))), digest, "{tag}");
    }
    assert_eq!(sha256(&served(&format!("{repo}:base"))), base_digest);
    // The lock and both SBOMs are attached to each image, once each.
    for subject in [&digest, &base_digest] {
        let types: Vec<String> = attached(&repo, subject)
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(
            types,
            [
                "application/spdx+json",
                "application/vnd.cyclonedx+json",
                "application/vnd.docker-repro.lock.v1+toml"
            ]
        );
    }
    assert!(
        first.stderr.contains("repro.lock: attached to"),
        "{}",
        first.stderr
    );

    // The same release pushed again attaches nothing new. Its registry fails the first push
    // with a server error, as a registry can fail one of the requests a push makes at once:
    // the push is tried again, and says so.
    let before = attached(&repo, &digest);
    let flaky = docker_failing_on(&format!(
        "*\"push --quiet\"*) [ -e '{marker}' ] || {{ touch '{marker}'; echo 'failed to push: unexpected status from HEAD request to http://{REGISTRY}/v2/x/manifests/1: 500 Internal Server Error' >&2; exit 1; }};;",
        marker = p.dir.join("../failed-once").display()
    ));
    let second = Run::from(
        docker_cmd(
            &p.dir,
            &[
                "repro", "release", "--image", &repo, "--push", "--tag", "extra",
            ],
        )
        .env("PATH", path_with(flaky.path()))
        .output()
        .unwrap(),
    )
    .expect(0);
    let retried = "warning: the registry answered 500 (a server error) while";
    assert_eq!(
        second.stderr.matches(retried).count(),
        1,
        "{}",
        second.stderr
    );
    assert!(p.dir.join("../failed-once").exists());
    assert!(
        second.stderr.contains("repro.lock: already attached to"),
        "{}",
        second.stderr
    );
    assert!(
        !second.stderr.contains("repro.lock: attached to"),
        "{}",
        second.stderr
    );
    assert_eq!(attached(&repo, &digest), before);
    assert_eq!(p.lock_text(), lock);

    // A reviewer with nothing but the reference: the engine's copies are gone, and the
    // directory is empty.
    docker(&["image", "rm", "--force", &digest, &base_digest]);
    let empty = tempfile::tempdir().unwrap();
    let pinned = format!("{repo}@{digest}");
    let by_reference = docker_in(
        empty.path(),
        &["repro", "verify", &pinned, "--format", "json"],
    )
    .expect(0)
    .json();
    assert_eq!(by_reference["lock"], pinned.as_str());
    assert_eq!(by_reference["verdict"], "identical");
    assert_eq!(by_reference["commit"], commit.as_str());
    for image in by_reference["images"].as_array().unwrap() {
        assert_eq!(image["source"], "registry", "{by_reference:#}");
    }
    // The base's digest leads to the same lock.
    let base_pinned = format!("{repo}@{base_digest}");
    let by_base = docker_in(
        empty.path(),
        &["repro", "verify", &base_pinned, "--format", "json"],
    )
    .expect(0)
    .json();
    assert_eq!(by_base["commit"], commit.as_str());

    // The rebuild clones the locked remote at the locked commit.
    let rebuilt = docker_in(
        empty.path(),
        &["repro", "verify", &pinned, "--rebuild", "--format", "json"],
    )
    .expect(0);
    assert_eq!(rebuilt.json()["verdict"], "identical");
    assert!(rebuilt.stderr.contains("cloning"), "{}", rebuilt.stderr);

    // The archive alone, in an empty directory, carries its lock.
    let from_archive = docker_in(
        empty.path(),
        &[
            "repro",
            "verify",
            "--archive",
            archive.to_str().unwrap(),
            "--format",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(from_archive["verdict"], "identical");
    assert_eq!(from_archive["mode"], "archive");
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);

    // Offline, the reference cannot lead to its lock: a usage error before anything runs.
    let offline = docker_in(empty.path(), &["repro", "verify", &pinned, "--offline"]).expect(125);
    assert_eq!(offline.stderr.lines().count(), 1, "{}", offline.stderr);

    for tag in [&commit[..12], "paper-v1", "extra", "base"] {
        let _ = std::process::Command::new("docker")
            .args(["image", "rm", &format!("{repo}:{tag}")])
            .output();
    }
}
