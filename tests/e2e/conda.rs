//! `docker repro inspect --format conda-explicit` on a real conda environment made offline: a
//! local channel that py-rattler-build assembled and py-rattler indexed (scripts/testbed.sh),
//! an environment py-rattler solved and installed from it, copied into an image; the explicit
//! file `inspect` writes must re-create the same environment with the same installer.

use std::path::Path;
use std::process::Command;

use crate::common::*;

const CACHE: &str = "/var/cache/docker-repro-testbed";

/// `scripts/conda-env.py ARGS` with the test bed's py-rattler; a missing tool or channel is a
/// failure naming the fix, never a skip.
fn conda_env(args: &[&str]) -> String {
    let python = format!("{CACHE}/conda-venv/bin/python");
    assert!(
        Path::new(&format!("{CACHE}/conda-channel/.made")).exists(),
        "no local conda channel at {CACHE}/conda-channel: run `bash scripts/testbed.sh` as root"
    );
    let out = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/conda-env.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "conda-env.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Tags made by a test, removed from the engine when it ends, passed or failed.
struct Tags(Vec<String>);

impl Drop for Tags {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", tag]).output();
        }
    }
}

#[test]
fn an_explicit_file_recreates_a_real_conda_environment() {
    let _serial = serial();
    let channel = format!("{CACHE}/conda-channel");
    let work = tempfile::tempdir().unwrap();
    let context = work.path().join("context");
    let env = context.join("opt/env");
    conda_env(&[
        "install",
        &channel,
        env.to_str().unwrap(),
        "lab-tools",
        "cuda-version",
    ]);
    // A second environment whose records lost their URL, as a package installed from a local
    // tarball has none: its explicit file cannot be complete.
    let broken = context.join("opt/broken");
    conda_env(&["install", &channel, broken.to_str().unwrap(), "lab-zlib"]);
    for meta in std::fs::read_dir(broken.join("conda-meta")).unwrap() {
        let path = meta.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let mut record: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            record.as_object_mut().unwrap().remove("url");
            std::fs::write(&path, record.to_string()).unwrap();
        }
    }
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {}\nCOPY opt /opt\n", busybox()),
    )
    .unwrap();
    let tag = "repro-test/conda-env:explicit".to_string();
    let _tags = Tags(vec![tag.clone()]);
    // As users build: buildx's defaults, a provenance attestation beside the image.
    docker(&[
        "buildx",
        "build",
        "-q",
        "-t",
        &tag,
        context.to_str().unwrap(),
    ]);

    let dir = work.path();
    let inspect = |extra: &[&str]| {
        let mut args = vec!["repro", "inspect", &tag, "--format", "conda-explicit"];
        args.extend(extra);
        docker_in(dir, &args)
    };
    // Two environments: which one is the user's choice, both named.
    let several = inspect(&[]).expect(125);
    assert!(several.stdout.is_empty());
    assert_eq!(
        several.stderr.trim(),
        "error: the image has 2 conda environments (/opt/broken, /opt/env); choose one with --env PREFIX"
    );
    let missing_url = inspect(&["--env", "/opt/broken"]).expect(1);
    assert!(missing_url.stdout.is_empty(), "{}", missing_url.stdout);
    assert_eq!(missing_url.stderr.trim().lines().count(), 1);
    assert!(
        missing_url
            .stderr
            .contains("conda package lab-zlib 1.3.1 h1a2b3c4_0 in /opt/broken has no URL"),
        "{}",
        missing_url.stderr
    );

    let explicit = inspect(&["--env", "/opt/env"]).expect(0).stdout;
    let body: Vec<&str> = explicit.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(body[0], "@EXPLICIT", "{explicit}");
    assert_eq!(body.len(), 5, "four packages: {explicit}");
    assert!(
        body[1..].iter().all(|l| l.contains("#sha256:")),
        "{explicit}"
    );
    assert!(explicit.contains("\n# platform: linux-64\n"), "{explicit}");

    let file = work.path().join("env.txt");
    std::fs::write(&file, &explicit).unwrap();
    let recreated = work.path().join("recreated/opt/env");
    conda_env(&[
        "recreate",
        &channel,
        file.to_str().unwrap(),
        recreated.to_str().unwrap(),
    ]);
    let original = conda_env(&["records", env.to_str().unwrap()]);
    assert_eq!(
        conda_env(&["records", recreated.to_str().unwrap()]),
        original
    );
    let names: Vec<String> = serde_json::from_str::<serde_json::Value>(&original)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["name"].as_str().unwrap(),
                r["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "cuda-version 12.4",
            "lab-data 1.0",
            "lab-tools 2.0",
            "lab-zlib 1.3.1"
        ]
    );

    // The inventory keeps each record's URL and hashes, and the environment's CUDA.
    let inventory = docker_in(dir, &["repro", "inspect", &tag, "--format", "json"])
        .expect(0)
        .json();
    let tools = inventory["conda"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "lab-tools" && p["environment"] == "/opt/env")
        .unwrap_or_else(|| panic!("{inventory}"));
    assert!(tools["url"]
        .as_str()
        .unwrap()
        .ends_with("/linux-64/lab-tools-2.0-h5d6e7f8_0.conda"));
    assert_eq!(tools["sha256"].as_str().unwrap().len(), 64);
    assert!(
        inventory["cuda"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "cuda-version" && c["version"] == "12.4"),
        "{inventory}"
    );

    // The SBOMs carry each conda archive's hash and URL, and validate against their schemas.
    let sbom = |format: &str| {
        docker_in(dir, &["repro", "inspect", &tag, "--format", format])
            .expect(0)
            .stdout
    };
    let cdx = sbom("cyclonedx");
    crate::inspect::validate_sbom("cyclonedx", &cdx);
    let spdx = sbom("spdx");
    crate::inspect::validate_sbom("spdx", &spdx);
    let cdx: serde_json::Value = serde_json::from_str(&cdx).unwrap();
    let component = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "lab-tools")
        .unwrap();
    assert_eq!(component["hashes"][0]["alg"], "SHA-256");
    assert_eq!(component["hashes"][0]["content"], tools["sha256"]);
    assert_eq!(component["externalReferences"][0]["url"], tools["url"]);
    let spdx: serde_json::Value = serde_json::from_str(&spdx).unwrap();
    let package = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "lab-tools")
        .unwrap();
    assert_eq!(package["checksums"][0]["checksumValue"], tools["sha256"]);
}
