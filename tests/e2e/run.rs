//! `docker repro run` and the GPU host verdict.

use crate::common::*;
use crate::one_stage;

#[test]
fn run_uses_the_locked_digest_mounts_data_and_writes_a_run_record() {
    let _serial = serial();
    let p = one_stage("reviewrun");
    p.write(&[("app/unique.txt", "reviewrun\n")]);
    p.commit("content no other test has");
    let release = p.repro(&["release", "-q", "--format", "json"]).expect(0);
    let digest = release.json()["images"][0]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string();
    let tag = release.json()["images"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // The tag now names another image (the locked one is kept under a second name): run must
    // still use the locked digest.
    docker(&["tag", &tag, "kept/reviewrun:locked"]);
    let other = tempfile::tempdir().unwrap();
    std::fs::write(
        other.path().join("Dockerfile"),
        format!("FROM {}\nCMD [\"echo\", \"impostor\"]\n", busybox()),
    )
    .unwrap();
    docker(&[
        "buildx",
        "build",
        "-q",
        "--provenance=false",
        "-t",
        &tag,
        "--load",
        other.path().to_str().unwrap(),
    ]);

    let inputs = tempfile::tempdir().unwrap();
    std::fs::write(inputs.path().join("x.txt"), "input data\n").unwrap();
    let results = p.dir.join("../results");
    let data = format!("{}:/in", inputs.path().display());
    let out = p
        .repro(&["run", "--data", &data, "--out", results.to_str().unwrap()])
        .expect(0);
    assert_eq!(out.stdout, "hello from a release\n");
    let with_cmd = p.repro(&[
        "run",
        "--data",
        &data,
        "--out",
        results.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "cat /in/x.txt > /out/copy.txt; touch /in/nope",
    ]);
    assert_eq!(
        with_cmd.code, 1,
        "the command's own status: /in is read-only\n{}",
        with_cmd.stderr
    );
    assert_eq!(
        std::fs::read_to_string(results.join("copy.txt")).unwrap(),
        "input data\n"
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("repro-run.json")).unwrap())
            .unwrap();
    assert_eq!(record["image_digest"], digest);
    assert_eq!(record["exit_status"], 1);
    assert_eq!(
        record["command"],
        serde_json::json!(["sh", "-c", "cat /in/x.txt > /out/copy.txt; touch /in/nope"])
    );
    assert!(record["docker_argv"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(digest)));
    assert!(record["lock_sha256"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(
        record["started"].as_str().unwrap().ends_with('Z')
            && record["finished"].as_str().unwrap().ends_with('Z')
    );
}

#[test]
fn the_gpu_host_verdict_uses_the_driver_and_the_image_cuda() {
    let _serial = serial();
    let p = Project::new(
        "cudaimage",
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nENV CUDA_VERSION=12.4.1\nCMD [\"echo\", \"trained\"]\n",
                busybox()
            ),
        )],
    );
    // Released on a GPU host: the lock records it.
    let a100 = fake_nvidia_smi("NVIDIA A100-SXM4-40GB, 550.54.15, 8.0");
    let mut release = docker_cmd(&p.dir, &["repro", "release", "-q"]);
    release.env("PATH", path_with(a100.path()));
    assert!(release.status().unwrap().success());
    let lock = p.lock_text();
    assert!(
        lock.contains("[[host.gpu]]\nname = \"NVIDIA A100-SXM4-40GB\""),
        "{lock}"
    );
    assert!(lock.contains("cuda = \"12.4.1\""), "{lock}");
    // What it needs from a GPU host, for a reviewer reading the lock.
    assert!(
        lock.contains("[image.needs]\ncuda = \"12.4\"\nfrom = \"cuda 12.4.1\"\ndriver = \"525.60.13\"\ndriver_all_features = \"550.54.14\"\n"),
        "{lock}"
    );

    let verify_with = |line: Option<&str>, args: &[&str]| {
        let smi = fake_nvidia_smi(line.unwrap_or("unused"));
        let mut cmd = docker_cmd(&p.dir, args);
        if line.is_some() {
            cmd.env("PATH", path_with(smi.path()));
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = verify_with(
        Some("NVIDIA H100 80GB HBM3, 550.54.15, 9.0"),
        &["repro", "verify"],
    );
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains(
            "host: NVIDIA H100 80GB HBM3 (compute 9.0), driver 550.54.15, image CUDA 12.4: runs\n"
        ),
        "{stdout}"
    );
    let (code, stdout, _) = verify_with(
        Some("NVIDIA A100-SXM4-40GB, 535.104.05, 8.0"),
        &["repro", "verify", "--format", "json"],
    );
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["host"]["verdict"], "runs-minor-compat");
    let (code, stdout, _) = verify_with(
        Some("Tesla V100-SXM2-16GB, 470.82.01, 7.0"),
        &["repro", "verify"],
    );
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("will not run: driver 470.82.01 is too old for CUDA 12.4: it needs >= 550.54.14 (or >= 525.60.13 through minor-version compatibility)"), "{stdout}");
    let (code, _, stderr) = verify_with(
        Some("Tesla V100-SXM2-16GB, 470.82.01, 7.0"),
        &["repro", "run"],
    );
    assert_eq!(code, 3, "run refuses: {stderr}");
    assert!(stderr.contains("pass --force"), "{stderr}");
    let (code, stdout, _) = verify_with(
        Some("Tesla V100-SXM2-16GB, 470.82.01, 7.0"),
        &[
            "repro",
            "run",
            "--force",
            "--out",
            p.dir.join("../forced").to_str().unwrap(),
        ],
    );
    assert_eq!((code, stdout.as_str()), (0, "trained\n"));
    // No GPU here, but the release used one: said plainly, exit 3.
    let (code, stdout, _) = verify_with(None, &["repro", "verify"]);
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains("no NVIDIA GPU or driver on this host"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the release was cut on NVIDIA A100-SXM4-40GB (driver 550.54.15)"),
        "{stdout}"
    );
}
