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

    // Without --out, a reviewer's clone stays as it was: the record goes to the user's state
    // directory, and stderr says where.
    p.commit("the lock");
    let plain = p.repro(&["run"]).expect(0);
    assert_eq!(p.git(&["status", "--porcelain", "--ignored"]), "");
    let records = run_records(&digest);
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(
        records[0].starts_with(state_home().join("docker-repro/runs")),
        "{records:?}"
    );
    assert!(
        plain
            .stderr
            .contains(&format!("wrote the run record {}", records[0].display())),
        "{}",
        plain.stderr
    );
    assert_eq!(take_run_record(&digest)["image_digest"], digest);
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

#[test]
fn run_gives_a_job_room_in_dev_shm_its_env_and_outputs_owned_by_the_invoking_user() {
    let _serial = serial();
    let p = one_stage("dljobrun");
    p.write(&[("app/unique.txt", "dljobrun\n")]);
    p.commit("content no other test has");
    p.repro(&["release", "-q"]).expect(0);
    let results = p.dir.join("../dljob-results");
    // Tests run as root: the invoking user is simulated as sudo names it, with an output
    // directory of that user's own.
    std::fs::create_dir_all(&results).unwrap();
    std::os::unix::fs::chown(&results, Some(4321), Some(4322)).unwrap();
    let mut repro = docker_cmd(
        &p.dir,
        &[
            "repro",
            "run",
            "-q",
            "--out",
            results.to_str().unwrap(),
            "-e",
            "GREETING=hello there; not a shell",
            "--",
            "sh",
            "-c",
            "df -k /dev/shm | tail -n 1 > /out/shm.txt; echo \"$GREETING $HOME\" > /out/env.txt",
        ],
    );
    repro.env("SUDO_UID", "4321").env("SUDO_GID", "4322");
    let ran = repro.output().unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    use std::os::unix::fs::MetadataExt;
    let env_file = results.join("env.txt");
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        "hello there; not a shell /tmp\n"
    );
    let owner = std::fs::metadata(&env_file).unwrap();
    assert_eq!((owner.uid(), owner.gid()), (4321, 4322), "not root's");
    let shm = std::fs::read_to_string(results.join("shm.txt")).unwrap();
    let kib: u64 = shm.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(kib, 8 * 1024 * 1024, "{shm}");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("repro-run.json")).unwrap())
            .unwrap();
    let argv: Vec<&str> = record["docker_argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        argv.windows(2).any(|w| w == ["--user", "4321:4322"]),
        "{argv:?}"
    );
    assert!(
        argv.windows(2).any(|w| w == ["--shm-size", "8g"]),
        "{argv:?}"
    );
    assert!(!argv.contains(&"--tty"), "no terminal in a test: {argv:?}");

    // An output directory the tool makes belongs to the invoking user, who runs the job: the
    // job can write there, and so can the user afterwards.
    let made = p.dir.join("../made-by-run");
    let deeper = made.join("epoch-1");
    let mut repro = docker_cmd(
        &p.dir,
        &[
            "repro",
            "run",
            "-q",
            "--out",
            deeper.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "echo done > /out/result.txt",
        ],
    );
    repro.env("SUDO_UID", "4321").env("SUDO_GID", "4322");
    let ran = repro.output().unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    for path in [
        &made,
        &deeper,
        &deeper.join("result.txt"),
        &deeper.join("repro-run.json"),
    ] {
        let owner = std::fs::metadata(path).unwrap();
        assert_eq!(
            (owner.uid(), owner.gid()),
            (4321, 4322),
            "{}",
            path.display()
        );
    }
}
