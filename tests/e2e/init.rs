//! `docker repro init`: a new project's layout that check passes and release cuts as written.

use crate::common::*;

#[test]
fn init_writes_a_layout_that_check_passes_and_release_cuts() {
    let _serial = serial();
    let p = Project::new("fresh-lab", &[("README.md", "my experiment\n")]);
    let init = p.repro(&["init", "--base", &bookworm_python()]).expect(0);
    for file in [
        "docker/Dockerfile.base",
        "docker/Dockerfile.release",
        "requirements.txt",
        "fresh_lab/train.py",
        ".dockerignore",
        ".gitignore",
        "repro.toml",
    ] {
        assert!(
            init.stdout.contains(&format!("wrote {file}\n")),
            "{file}: {}",
            init.stdout
        );
    }
    // check finds nothing at or above a warning; the one piece of advice is the base's digest,
    // which release pins in the lock.
    let check = p.repro(&["check", "--format", "json"]).expect(0);
    let rules: Vec<String> = check
        .json()
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["findings"].as_array().unwrap().clone())
        .map(|f| {
            format!(
                "{} {}",
                f["rule"].as_str().unwrap(),
                f["severity"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(rules, ["from-unpinned info"]);

    p.commit("environment");
    let release = p.repro(&["release", "-q", "--format", "json"]).expect(0);
    let image = release.json()["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["role"] == "release")
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(image.starts_with("fresh-lab:"), "{image}");
    let ran = docker(&["run", "--rm", "--network", "none", &image]);
    assert_eq!(ran.stdout, "training\n");

    // A second init, after edits, keeps every file as it is.
    p.write(&[("requirements.txt", "numpy==1.26.4\n")]);
    let again = p.repro(&["init"]).expect(0);
    assert!(again.stdout.is_empty(), "{}", again.stdout);
    assert!(
        again
            .stderr
            .contains("kept requirements.txt: it exists, and init never overwrites a file"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(p.dir.join("requirements.txt")).unwrap(),
        "numpy==1.26.4\n"
    );
    let bad = p.repro(&["init", "--code", "../elsewhere"]);
    assert_eq!(bad.code, 125, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("name a directory inside the project"),
        "{}",
        bad.stderr
    );
}
