//! `docker repro verify`: by digest, by rebuild and from an archive, and what a difference is explained by.

use crate::common::*;
use crate::one_stage;
use std::process::Command;
use std::time::Duration;

#[test]
fn nondeterministic_run_is_reported_with_its_layer_and_instruction() {
    let _serial = serial();
    let p = Project::new(
        "nondet",
        &[("Dockerfile", &format!("FROM {}\nRUN echo stable > /stable\nRUN od -An -N8 -tx8 /dev/urandom > /stamp\nCMD [\"cat\", \"/stamp\"]\n", busybox()))],
    );
    p.repro(&["release", "-q"]).expect(0);
    prune_build_cache();
    let verify = p
        .repro(&["verify", "--rebuild", "-q", "--format", "json"])
        .expect(2);
    let report = verify.json();
    assert_eq!(report["verdict"], "different");
    let layers = report["images"][0]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "only the date layer differs: {layers:?}");
    assert_eq!(layers[0]["index"], 3);
    assert_eq!(
        layers[0]["instruction"],
        "RUN /bin/sh -c od -An -N8 -tx8 /dev/urandom > /stamp"
    );
    let human = p.repro(&["verify", "--rebuild", "-q"]).expect(2);
    snapshot("verify_nondeterministic_run", &human.stdout);
}

#[test]
fn moved_base_tag_is_reported_and_the_rebuild_uses_the_pinned_digest() {
    let _serial = serial();
    let moving = format!("{REGISTRY}/repro-test/moving-{}:stable", std::process::id());
    publish(&busybox(), &moving);
    let p = Project::new(
        "movedbase",
        &[(
            "Dockerfile",
            &format!("FROM {moving}\nCOPY Dockerfile /Dockerfile\n"),
        )],
    );
    p.repro(&["release", "-q"]).expect(0);

    // Someone pushes a different image under the same tag.
    move_tag(&moving, &busybox(), "/moved");

    prune_build_cache();
    let verify = p
        .repro(&["verify", "--rebuild", "-q", "--format", "json"])
        .expect(0);
    let report = verify.json();
    assert_eq!(report["verdict"], "identical");
    assert_eq!(report["bases"][0]["tag"], "moved");
    assert_ne!(report["bases"][0]["current"], report["bases"][0]["locked"]);
    let human = p.repro(&["verify"]).expect(0);
    assert!(
        human
            .stdout
            .contains(&format!("base {moving} moved: sha256:")),
        "{}",
        human.stdout
    );
}

#[test]
fn verify_reports_a_missing_image_and_a_retagged_one() {
    let _serial = serial();
    let p = one_stage("presence");
    p.write(&[("app/unique.txt", "presence\n")]);
    p.commit("content no other test has");
    // Named in the loopback registry, so that the registry can answer "not found".
    let image = format!("{REGISTRY}/repro-test/presence");
    let release = p
        .repro(&["release", "-q", "--format", "json", "--image", &image])
        .expect(0);
    let tag = release.json()["images"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // The tag now names another image, and the locked one is gone.
    docker(&[
        "rmi",
        "--force",
        release.json()["images"][0]["manifest_digest"]
            .as_str()
            .unwrap(),
    ]);
    docker(&["tag", &busybox(), &tag]);
    let verify = p.repro(&["verify", "--format", "json"]).expect(2);
    assert_eq!(verify.json()["images"][0]["status"], "different");
    docker(&["rmi", &tag]);
    let verify = p.repro(&["verify"]).expect(2);
    assert!(verify.stdout.contains("MISSING"), "{}", verify.stdout);
    assert!(
        verify
            .stdout
            .contains(&format!("verdict: DIFFERENT: {tag} is missing")),
        "{}",
        verify.stdout
    );
    assert!(
        verify.stdout.contains("the registry answered"),
        "{}",
        verify.stdout
    );
    let offline = p.repro(&["verify", "--offline"]).expect(2);
    assert!(offline.stdout.contains("MISSING"), "{}", offline.stdout);

    // A registry that cannot be reached has not answered: "could not check", not missing.
    let _stopped = RegistryStopped::new();
    let unreachable = p.repro(&["verify"]).expect(1);
    assert!(unreachable.stdout.is_empty(), "{}", unreachable.stdout);
    assert!(
        unreachable
            .stderr
            .contains(&format!("could not check {tag}"))
            && unreachable.stderr.contains("could not ask the registry"),
        "{}",
        unreachable.stderr
    );
}

#[test]
fn a_rebuild_that_differs_names_the_package_that_moved() {
    let _serial = serial();
    let site = "/usr/lib/python3/dist-packages";
    let p = Project::new(
        "drift",
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nRUN mkdir -p {site}/stamp-1.dist-info && cd {site}/stamp-1.dist-info && echo 'Name: stamp' > METADATA && echo \"Version: 1.$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')\" >> METADATA\n",
                busybox()
            ),
        )],
    );
    p.repro(&["release", "-q"]).expect(0);
    let locked = p.lock_text();
    assert!(
        locked.contains("[image.inventory.pip.\"/usr/lib/python3/dist-packages\"]\nstamp = \"1."),
        "{locked}"
    );
    let verify = p
        .repro(&["verify", "--rebuild", "-q", "--format", "json"])
        .expect(2);
    let packages = verify.json()["images"][0]["packages"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(packages.len(), 1, "{packages:?}");
    assert_eq!(packages[0]["kind"], "pip");
    assert_eq!(packages[0]["package"], format!("{site} stamp"));
    assert_eq!(packages[0]["change"], "changed");
    assert_ne!(packages[0]["locked"], packages[0]["found"]);
    let human = p.repro(&["verify", "--rebuild", "-q"]).expect(2);
    assert!(
        human
            .stdout
            .contains(&format!("pip {site} stamp changed: 1.")),
        "{}",
        human.stdout
    );
}

#[test]
fn an_archive_verifies_with_the_registry_stopped_and_loads() {
    let _serial = serial();
    let p = one_stage("archived");
    p.write(&[("app/unique.txt", "archived\n")]);
    p.commit("content no other test has");
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
    let digest = release.json()["images"][0]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string();
    docker(&["rmi", "--force", &digest]);

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
            "--format",
            "json",
        ],
    )
    .expect(0);
    let report = verify.json();
    assert_eq!(report["mode"], "archive");
    assert_eq!(report["images"][0]["status"], "identical");
    assert_eq!(report["images"][0]["source"], "archive");
    assert!(
        report["not_checked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("base tags")),
        "{report}"
    );
    // Loaded and tagged as in the lock.
    let id = docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        release.json()["images"][0]["name"].as_str().unwrap(),
    ])
    .stdout;
    assert_eq!(id.trim(), digest);

    // A tampered archive is refused, naming what is wrong.
    let tampered = p.dir.join("../tampered.oci.tar");
    let mut bytes = std::fs::read(&archive).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&tampered, bytes).unwrap();
    let bad = docker_in(
        reviewer.path(),
        &["repro", "verify", "--archive", tampered.to_str().unwrap()],
    )
    .expect(1);
    assert!(
        bad.stderr.contains("corrupt") || bad.stderr.contains("hash"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_lock_alone_verifies_by_cloning_its_bare_remote() {
    let _serial = serial();
    let p = one_stage("remote");
    let bare = p.dir.join("../remote.git");
    git_in(
        &p.dir,
        &[
            "clone",
            "-q",
            "--bare",
            p.dir.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    p.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
    p.repro(&["release", "-q"]).expect(0);
    assert!(p
        .lock_text()
        .contains(&format!("remote = \"{}\"", bare.display())));

    // Only the lock, in a directory that is no repository.
    let reviewer = tempfile::tempdir().unwrap();
    let lock = reviewer.path().join("paper.lock");
    std::fs::copy(p.dir.join("repro.lock"), &lock).unwrap();
    prune_build_cache();
    let verify = docker_in(
        reviewer.path(),
        &[
            "repro",
            "verify",
            "paper.lock",
            "--rebuild",
            "--format",
            "json",
        ],
    )
    .expect(0);
    assert_eq!(verify.json()["verdict"], "identical");
    assert!(
        verify
            .stderr
            .contains(&format!("cloning {}", bare.display())),
        "{}",
        verify.stderr
    );

    // A commit the remote does not have is a clear error.
    let text = std::fs::read_to_string(&lock).unwrap();
    let commit = p.git(&["rev-parse", "HEAD"]);
    std::fs::write(&lock, text.replace(&commit, &"0".repeat(40))).unwrap();
    let missing = docker_in(
        reviewer.path(),
        &["repro", "verify", "paper.lock", "--rebuild"],
    )
    .expect(1);
    assert!(
        missing.stderr.contains(&format!(
            "commit {} is not in {}",
            "0".repeat(40),
            bare.display()
        )),
        "{}",
        missing.stderr
    );
}

#[test]
fn pip_without_source_date_epoch_is_diagnosed_as_pyc_timestamps() {
    let _serial = serial();
    let p = Project::new(
        "pycstamp",
        &[(
            "Dockerfile",
            &format!("FROM {}\nCOPY wheels /tmp/wheels\nRUN pip3 install --no-index --no-cache-dir --break-system-packages /tmp/wheels/*.whl\n", bookworm_python()),
        )],
    );
    make_wheel(&p.dir.join("wheels"), "0.1.0");
    p.commit("wheel");
    p.repro(&["release", "-q"]).expect(0);
    // Another second, so that a new install stamps other mtimes into the .pyc headers.
    std::thread::sleep(Duration::from_millis(1100));
    let verify = p
        .repro(&["verify", "--rebuild", "-q", "--format", "json"])
        .expect(2);
    let report = verify.json();
    let causes = report["images"][0]["causes"].as_array().unwrap();
    assert_eq!(causes[0]["cause"], "pyc-timestamp", "{causes:?}");
    assert!(causes[0]["fix"]
        .as_str()
        .unwrap()
        .contains("ARG SOURCE_DATE_EPOCH"));
    assert!(causes[0]["instructions"][0]
        .as_str()
        .unwrap()
        .starts_with("RUN /bin/sh -c pip3 install"));
    let files = report["images"][0]["files"][0]["files"].as_array().unwrap();
    assert!(
        files.iter().any(|f| f["path"]
            .as_str()
            .unwrap()
            .ends_with("reprohello/__pycache__/__init__.cpython-311.pyc")),
        "{files:?}"
    );
}

/// A .deb built here with dpkg-deb, installed offline in the image.
fn make_deb(dir: &std::path::Path, version: &str) {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.path().join("usr/share/repro-hello")).unwrap();
    std::fs::write(root.path().join("DEBIAN/control"), format!("Package: repro-hello\nVersion: {version}\nArchitecture: all\nMaintainer: Repro <repro@example.org>\nDescription: test package\n")).unwrap();
    std::fs::write(
        root.path().join("usr/share/repro-hello/hello.txt"),
        "hello\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("dpkg-deb")
        .args([
            "--root-owner-group",
            "--build",
            root.path().to_str().unwrap(),
            dir.join("repro-hello.deb").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn apt_logs_and_aux_cache_are_diagnosed_and_ignore_lists_them_as_ignored() {
    let _serial = serial();
    let p = Project::new(
        "aptlogs",
        &[
            ("Dockerfile", &format!("FROM {}\nCOPY debs /tmp/debs\nRUN dpkg -i /tmp/debs/repro-hello.deb && ldconfig\n", bookworm_python())),
            ("repro.toml", "[verify]\nignore = [\"/var/log/**\"]\n"),
        ],
    );
    make_deb(&p.dir.join("debs"), "1.0");
    p.commit("deb");
    p.repro(&["release", "-q"]).expect(0);
    std::thread::sleep(Duration::from_millis(1100));
    let verify = p
        .repro(&["verify", "--rebuild", "-q", "--format", "json"])
        .expect(2);
    let report = verify.json();
    assert_eq!(
        report["verdict"], "different",
        "ignored noise never makes an image identical"
    );
    let files: Vec<serde_json::Value> = report["images"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["files"].as_array().unwrap().clone())
        .collect();
    let dpkg_log = files
        .iter()
        .find(|f| f["path"] == "/var/log/dpkg.log")
        .expect("dpkg.log differs");
    assert_eq!(dpkg_log["cause"], "package-logs");
    assert_eq!(dpkg_log["ignored"], true);
    // ldconfig's cache differs when the library set's inode data does; when it does, it is named.
    if let Some(aux) = files
        .iter()
        .find(|f| f["path"] == "/var/cache/ldconfig/aux-cache")
    {
        assert_eq!(
            (aux["cause"].as_str(), aux["ignored"].as_bool()),
            (Some("package-logs"), Some(false))
        );
    }
    let causes = report["images"][0]["causes"].as_array().unwrap();
    let logs = causes
        .iter()
        .find(|c| c["cause"] == "package-logs")
        .expect("a package-logs cause");
    assert!(logs["ignored_files"].as_u64().unwrap() >= 1, "{logs}");
    assert!(
        logs["instructions"][0]
            .as_str()
            .unwrap()
            .contains("dpkg -i"),
        "{logs}"
    );
    let human = p.repro(&["verify", "--rebuild", "-q"]).expect(2);
    assert!(
        human
            .stdout
            .contains("/var/log/dpkg.log content [package-logs] (ignored)"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("fix: remove them in the same RUN"),
        "{}",
        human.stdout
    );
}
