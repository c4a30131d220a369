//! The reviewer who cannot rebuild the base: a paper's archive holds base and release, the
//! release is rebuilt on the locked base (`verify --rebuild --base locked`), and a full rebuild
//! whose base drifted still gives the release's answer.

use crate::common::*;
use std::path::Path;

/// A base + release project whose base is `base_run` on busybox.
fn seed(name: &str, base_run: &str) -> Project {
    Project::new(
        name,
        &[
            (
                "docker/Dockerfile.base",
                &format!("FROM {}\n{base_run}\n", busybox()),
            ),
            (
                "docker/Dockerfile.release",
                &format!("FROM {name}:base\nCOPY app /app\nCMD [\"cat\", \"/app/hello.txt\"]\n"),
            ),
            ("app/hello.txt", &format!("{name}: the paper's code\n")),
            (".dockerignore", ".git\n"),
        ],
    )
}

/// Removes an image from the engine, by tag and by digest (either may be gone already).
fn remove_image(name: &str, digest: &str) {
    for reference in [name, digest] {
        let _ = std::process::Command::new("docker")
            .args(["rmi", "--force", reference])
            .output();
    }
    let left = std::process::Command::new("docker")
        .args(["image", "inspect", digest])
        .output()
        .unwrap();
    assert!(!left.status.success(), "{digest} is still in the engine");
}

#[test]
fn an_archive_of_base_and_release_verifies_both_offline_and_rebuilds_the_release_on_its_base() {
    let _serial = serial();
    let p = seed("archseed", "RUN echo environment > /env.txt");
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
    let images = release.json()["images"].as_array().unwrap().clone();
    assert_eq!(images.len(), 2, "{images:?}");
    let (base_name, base_digest) = (
        images[0]["name"].as_str().unwrap().to_string(),
        images[0]["manifest_digest"].as_str().unwrap().to_string(),
    );
    let (release_name, release_digest) = (
        images[1]["name"].as_str().unwrap().to_string(),
        images[1]["manifest_digest"].as_str().unwrap().to_string(),
    );
    assert!(base_name.starts_with("archseed:base-"), "{base_name}");
    remove_image(&base_name, &base_digest);
    remove_image(&release_name, &release_digest);

    // A reviewer with the lock, the archive and no network: both images check, and load.
    let reviewer = tempfile::tempdir().unwrap();
    std::fs::copy(p.dir.join("repro.lock"), reviewer.path().join("repro.lock")).unwrap();
    let _stopped = RegistryStopped::new();
    let verify = docker_in(
        reviewer.path(),
        &[
            "repro",
            "verify",
            "--archive",
            archive.to_str().unwrap(),
            "--load",
            "-q",
            "--format",
            "json",
        ],
    )
    .expect(0);
    let report = verify.json();
    let checked: Vec<(&str, &str, &str)> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["role"].as_str().unwrap(),
                i["status"].as_str().unwrap(),
                i["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        checked,
        [
            ("base", "identical", "archive"),
            ("release", "identical", "archive")
        ]
    );
    assert!(
        !report["not_checked"].to_string().contains("base image"),
        "{report}"
    );
    for (name, digest) in [(&base_name, &base_digest), (&release_name, &release_digest)] {
        let id = docker(&["image", "inspect", "--format", "{{.Id}}", name]).stdout;
        assert_eq!(id.trim(), digest.as_str(), "{name} loaded as locked");
    }

    // A lock whose base is not the archive's: the base is not checked, and the report says
    // what the archive holds instead (it used to say the archive held the release only).
    let other = format!("sha256:{}", "0".repeat(64));
    let other_lock = reviewer.path().join("other-base.lock");
    let text = std::fs::read_to_string(reviewer.path().join("repro.lock")).unwrap();
    let locked_base = format!("manifest_digest = \"{base_digest}\"");
    assert!(text.contains(&locked_base), "{text}");
    std::fs::write(
        &other_lock,
        text.replacen(&locked_base, &format!("manifest_digest = \"{other}\""), 1),
    )
    .unwrap();
    let verify = docker_in(
        reviewer.path(),
        &[
            "repro",
            "verify",
            "--archive",
            archive.to_str().unwrap(),
            "-q",
            "--format",
            "json",
            other_lock.to_str().unwrap(),
        ],
    )
    .expect(0);
    let report = verify.json();
    assert_eq!(
        report["not_checked"][0],
        format!("the base image {base_name}: the archive holds another image of that name (manifest {base_digest}; the lock has {other}), so the locked base was not checked"),
        "{report}"
    );

    // The archive against the lock: its release is what the lock names.
    let lock_file = reviewer.path().join("repro.lock");
    let diff = docker_in(
        reviewer.path(),
        &[
            "repro",
            "diff",
            archive.to_str().unwrap(),
            lock_file.to_str().unwrap(),
            "--format",
            "json",
        ],
    )
    .expect(0);
    assert_eq!(diff.json()["manifest"][0], release_digest.as_str());

    // The same reviewer rebuilds the release on the archive's base: no registry, and the base
    // is not in the engine either, so it can only come from the archive.
    remove_image(&base_name, &base_digest);
    let (_tmp, review) = p.clone_with_lock();
    prune_build_cache();
    // `verify --rebuild --base locked --archive ARCHIVE -q`, and more arguments.
    let on_archived_base = |archive: &Path, more: &[&str]| {
        let mut argv = vec![
            "repro",
            "verify",
            "--rebuild",
            "--base",
            "locked",
            "--archive",
            archive.to_str().unwrap(),
            "-q",
        ];
        argv.extend(more);
        docker_in(&review, &argv)
    };
    let report = on_archived_base(&archive, &["--format", "json"])
        .expect(0)
        .json();
    assert_eq!(report["verdict"], "identical", "{report}");
    assert_eq!(report["images"][0]["role"], "base");
    assert_eq!(report["images"][0]["source"], "archive");
    assert_eq!(report["images"][1]["source"], "rebuild");
    assert_eq!(report["images"][1]["built_on"], "locked-base");
    // With the registry stopped, --offline says so and fetches nothing: the same verdict.
    let offline = on_archived_base(&archive, &["--offline"]).expect(0);
    assert!(
        offline.stdout.contains("verdict: identical"),
        "{}",
        offline.stdout
    );
    let human = on_archived_base(&archive, &[]).expect(0);
    assert!(
        human.stdout.contains("identical (by digest, archive; not rebuilt)")
            && human.stdout.contains(&format!(
                "verdict: identical: the release rebuilt on the locked base {base_name}; the base was verified by digest (archive), not rebuilt"
            )),
        "{}",
        human.stdout
    );

    // An archive that is not the paper's: the locked base is not in it.
    let other = seed("archother", "RUN echo other > /env.txt");
    let other_archive = other.dir.join("../other.oci.tar");
    drop(_stopped);
    other
        .repro(&[
            "release",
            "-q",
            "--archive",
            other_archive.to_str().unwrap(),
        ])
        .expect(0);
    let refused = on_archived_base(&other_archive, &[]).expect(1);
    assert!(
        refused
            .stderr
            .contains(&format!("the archive does not hold image {base_digest}")),
        "{}",
        refused.stderr
    );
    // --archive with --rebuild rebuilds on the archive's base only when asked.
    let usage = docker_in(
        &review,
        &[
            "repro",
            "verify",
            "--rebuild",
            "--archive",
            archive.to_str().unwrap(),
        ],
    )
    .expect(125);
    assert!(usage.stderr.contains("--base locked"), "{}", usage.stderr);
}

#[test]
fn a_base_whose_packages_drifted_still_verifies_the_release_on_the_locked_base() {
    let _serial = serial();
    let site = "/usr/lib/python3/dist-packages";
    // Each build of the base installs another version of `stamp`: a mirror that moved.
    let p = seed(
        "driftseed",
        &format!("RUN mkdir -p {site}/stamp-1.dist-info && cd {site}/stamp-1.dist-info && echo 'Name: stamp' > METADATA && echo \"Version: 1.$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')\" >> METADATA"),
    );
    let release = p.repro(&["release", "-q", "--format", "json"]).expect(0);
    let base_digest = release.json()["images"][0]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string();

    let (_tmp, review) = p.clone_with_lock();
    let verify = docker_in(
        &review,
        &["repro", "verify", "--rebuild", "-q", "--format", "json"],
    )
    .expect(4);
    let report = verify.json();
    assert_eq!(report["verdict"], "base-drifted", "{report}");
    assert_eq!(report["images"][0]["role"], "base");
    assert_eq!(report["images"][0]["status"], "different");
    assert_eq!(
        report["images"][0]["packages"][0]["package"],
        format!("{site} stamp")
    );
    assert_eq!(report["images"][1]["status"], "identical");
    assert_eq!(report["images"][1]["built_on"], "locked-base");
    let human = docker_in(&review, &["repro", "verify", "--rebuild", "-q"]).expect(4);
    assert!(
        human.stdout.contains(&format!(
            "verdict: base: not reproducible today: 1 package(s) drifted ({site} stamp 1."
        )) && human
            .stdout
            .contains("; release: identical on the locked base\n"),
        "{}",
        human.stdout
    );

    // Asked to take the locked base, the rebuild does not build it at all.
    docker_in(
        &review,
        &["repro", "verify", "--rebuild", "--base", "locked", "-q"],
    )
    .expect(0);

    // Without the locked base anywhere (not in the engine, no registry in its name), a full
    // rebuild says so and is different; --base locked cannot run.
    remove_image("driftseed:base", &base_digest);
    let verify = docker_in(
        &review,
        &["repro", "verify", "--rebuild", "-q", "--format", "json"],
    )
    .expect(2);
    let report = verify.json();
    assert_eq!(report["verdict"], "different");
    assert_eq!(report["images"][1]["built_on"], "rebuilt-base");
    assert!(
        report["images"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("is not in the engine and its name has no registry"),
        "{report}"
    );
    let refused = docker_in(
        &review,
        &["repro", "verify", "--rebuild", "--base", "locked", "-q"],
    )
    .expect(1);
    assert!(
        refused
            .stderr
            .contains("give the paper's archive with --archive FILE"),
        "{}",
        refused.stderr
    );
}
