//! `docker repro diff`: two locks, two releases, a moved base.

use crate::common::*;

#[test]
fn diff_of_two_releases_reads_like_a_package_update_and_names_a_moved_base() {
    let _serial = serial();
    let moving = format!("{REGISTRY}/repro-test/diffbase-{}:1", std::process::id());
    publish(&bookworm_python(), &moving);
    let p = Project::new(
        "upgrade",
        &[(
            "Dockerfile",
            &format!("FROM {moving}\nARG SOURCE_DATE_EPOCH\nCOPY wheels /tmp/wheels\nRUN pip3 install --no-index --no-cache-dir --break-system-packages /tmp/wheels/*.whl\n"),
        )],
    );
    make_wheel(&p.dir.join("wheels"), "0.1.0");
    p.commit("v1");
    let commit_v1 = p.git(&["rev-parse", "HEAD"]);
    let v1 = p
        .repro(&["release", "-q", "--lock", "v1.lock", "--format", "json"])
        .expect(0)
        .json();

    // The wheel is upgraded and the base tag moves.
    std::fs::remove_dir_all(p.dir.join("wheels")).unwrap();
    make_wheel(&p.dir.join("wheels"), "0.2.0");
    p.write(&[(".gitignore", "*.lock\n")]);
    p.commit("v2: reprohello 0.2.0");
    let commit_v2 = p.git(&["rev-parse", "HEAD"]);
    move_tag(&moving, &bookworm_python(), "/etc/moved");
    let v2 = p
        .repro(&["release", "-q", "--lock", "v2.lock", "--format", "json"])
        .expect(0)
        .json();

    let diff = p.repro(&["diff", "v1.lock", "v2.lock"]).expect(2);
    assert!(
        diff.stdout.contains(&format!("base {moving} (Dockerfile)")),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains(
            "changed  pip /usr/local/lib/python3.11/dist-packages reprohello 0.1.0 -> 0.2.0"
        ),
        "{}",
        diff.stdout
    );
    snapshot(
        "diff_locks_upgrade",
        // The Dockerfile names a per-run base, so the commits differ from run to run.
        &diff
            .stdout
            .replace(&moving, "[moving-base]")
            .replace(&commit_v1, "[commit v1]")
            .replace(&commit_v2, "[commit v2]"),
    );
    p.repro(&["diff", "v1.lock", "v1.lock"]).expect(0);

    // The two release images, file by file.
    let (a, b) = (
        v1["images"][0]["name"].as_str().unwrap(),
        v2["images"][0]["name"].as_str().unwrap(),
    );
    let images = p
        .repro(&["diff", a, b, "--format", "json"])
        .expect(2)
        .json();
    let causes: Vec<&str> = images["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cause"].as_str().unwrap())
        .collect();
    assert!(causes.contains(&"package-drift"), "{causes:?}");
    assert!(images["layers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["identical"] == false));
}

#[test]
fn a_moved_registry_base_explains_the_base_layers_of_two_seed_releases() {
    let _serial = serial();
    let moving = format!("{REGISTRY}/repro-test/seedbase-{}:1", std::process::id());
    publish(&busybox(), &moving);
    let p = Project::new(
        "basedrift",
        &[
            (
                "docker/Dockerfile.base",
                &format!("FROM {moving}\nRUN echo env > /env.txt\n"),
            ),
            (
                "docker/Dockerfile.release",
                "FROM basedrift:base\nCOPY app /app\n",
            ),
            ("app/run.sh", "echo run\n"),
            (".gitignore", "*.lock\n"),
        ],
    );
    let v1 = p
        .repro(&["release", "-q", "--lock", "v1.lock", "--format", "json"])
        .expect(0)
        .json();
    // The second release of the same commit takes over the tag; keep the first image.
    docker(&[
        "tag",
        v1["images"][1]["name"].as_str().unwrap(),
        "kept/basedrift:v1",
    ]);
    move_tag(&moving, &busybox(), "/moved.txt");
    p.repro(&["release", "-q", "--lock", "v2.lock"]).expect(0);

    let diff = p
        .repro(&["diff", "v1.lock", "v2.lock", "--format", "json"])
        .expect(2)
        .json();
    assert!(
        diff["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"]
                .as_str()
                .unwrap()
                .starts_with(&format!("base {moving}"))),
        "{diff}"
    );
    let images = &diff["images"];
    let causes: Vec<&str> = images["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cause"].as_str().unwrap())
        .collect();
    assert_eq!(causes.first(), Some(&"base-drift"), "{images}");
    // The release's own layer is the same instruction on either side, and it is not blamed on the base.
    let files: Vec<&serde_json::Value> = images["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["files"].as_array().unwrap())
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f["path"] == "/moved.txt" && f["cause"] == "base-drift"),
        "{images}"
    );
    assert!(
        files.iter().all(
            |f| !f["path"].as_str().unwrap().starts_with("/app/") || f["cause"] != "base-drift"
        ),
        "{images}"
    );
    let human = p.repro(&["diff", "v1.lock", "v2.lock"]).expect(2);
    assert!(
        human.stdout.contains("release images:") && human.stdout.contains("base-drift ("),
        "{}",
        human.stdout
    );
}
