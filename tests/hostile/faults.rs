//! Faults at the worst moment: Ctrl-C during a registry lookup or a container run is exit 130
//! with nothing printed as a verdict, and no container left behind. The docker here is a
//! recording fake, because the point is to hold a call open until the interrupt lands.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A fake `docker` on PATH: `case "$*"` arms given by the test, recording every call.
fn fake_docker(dir: &Path, arms: &str) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = dir.join("calls.txt");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\ncase \"$*\" in\n{arms}\n*) echo \"unexpected: $*\" >&2; exit 1;;\nesac\n",
        record.display()
    );
    std::fs::write(bin.join("docker"), script).unwrap();
    std::fs::set_permissions(bin.join("docker"), std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, record)
}

fn start(dir: &Path, bin: &Path, args: &[&str]) -> Child {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    Command::new(env!("CARGO_BIN_EXE_docker-repro"))
        .arg("repro")
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `record` shows a call containing `marker`, then sends SIGINT.
fn interrupt_during(child: &Child, record: &Path, marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(record).is_ok_and(|c| c.contains(marker)) {
        assert!(Instant::now() < deadline, "never reached `{marker}`");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn sample_lock(dir: &Path) -> PathBuf {
    let path = dir.join("repro.lock");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample.lock"),
        &path,
    )
    .unwrap();
    path
}

#[test]
fn ctrl_c_during_a_registry_lookup_is_130_not_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, record) = fake_docker(
        dir.path(),
        "*'image inspect'*) echo 'Error response from daemon: No such image: x' >&2; exit 1;;\n*imagetools*) exec sleep 30;;",
    );
    sample_lock(dir.path());
    let child = start(dir.path(), &bin, &["verify"]);
    interrupt_during(&child, &record, "imagetools");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "no report: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !stderr.contains("MISSING") && !stderr.contains("verdict"),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_while_release_resolves_bases_is_130_and_keeps_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(["-c", "user.name=A", "-c", "user.email=a@example.org"])
            .args(args)
            .current_dir(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM 127.0.0.1:5000/lab/base:1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("repro.lock"), "old lock\n").unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-qm", "x"]);
    // The fake lives outside the repository, which must stay clean.
    let tools = tempfile::tempdir().unwrap();
    let (bin, record) = fake_docker(
        tools.path(),
        r#"*'version --format'*) echo '{"Client":{"Version":"28"},"Server":{"Version":"26","Os":"linux","Arch":"amd64"}}';;
*'buildx version'*) echo 'github.com/docker/buildx 0.13.1 x';;
*'buildx inspect'*) printf 'Name: default\nDriver: docker\nBuildKit version: v0.13.2\n';;
*imagetools*) exec sleep 30;;"#,
    );
    let child = start(dir.path(), &bin, &["release"]);
    interrupt_during(&child, &record, "imagetools");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("repro.lock")).unwrap(),
        "old lock\n"
    );
}

#[test]
fn ctrl_c_during_run_removes_the_container_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, record) = fake_docker(
        dir.path(),
        "*'image inspect'*) echo sha256:6666666666666666666666666666666666666666666666666666666666666666;;\n*' run '*|run*) exec sleep 30;;\n*'rm --force'*) exit 0;;",
    );
    sample_lock(dir.path());
    let out_dir = dir.path().join("results");
    let child = start(
        dir.path(),
        &bin,
        &["run", "--out", out_dir.to_str().unwrap(), "--force"],
    );
    let pid = child.id();
    interrupt_during(&child, &record, "run --rm");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let calls = std::fs::read_to_string(&record).unwrap();
    assert!(
        calls.contains(&format!("rm --force -- docker-repro-run-{pid}")),
        "the container was not removed:\n{calls}"
    );
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert!(
        !out_dir.join("repro-run.json").exists() && !dir.path().join("repro-run.json").exists(),
        "a record of an unfinished run was written"
    );
}

#[test]
fn a_release_on_an_engine_that_does_not_say_its_version_is_one_line_and_writes_nothing() {
    let p = crate::common::Project::new("noversion", &[("Dockerfile", "FROM scratch\n")]);
    // What `docker version` prints when it reached something that answers no engine version.
    let (bin, record) = fake_docker(
        &p.dir,
        "'version --format {{json .}}') echo '{\"Client\":{\"Version\":\"28.2.2\"},\"Server\":null}';;",
    );
    // The fake's record sits in the project: commit it so that the tree stays clean.
    std::fs::write(p.dir.join(".gitignore"), "bin/\ncalls.txt\n").unwrap();
    p.commit("ignore the fake");
    let out = start(&p.dir, &bin, &["release"])
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "error: the Docker engine did not say its version (`docker version` has no Server.Version), which the lock records; point docker at a Docker engine (DOCKER_HOST, `docker context use`) and check `docker version`"
    );
    assert!(!p.dir.join("repro.lock").exists());
    // Nothing was built: `docker version` was the only call.
    let calls = std::fs::read_to_string(record).unwrap();
    assert_eq!(calls.lines().count(), 1, "{calls}");
}
