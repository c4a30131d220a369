//! The command line without an engine: plugin protocol, help text, usage errors, and the
//! global flags forwarded to a recording fake `docker` (for the error paths only; the real
//! path is covered by tests/e2e.rs against a real engine).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_docker-repro")
}

fn run(args: &[&str], dir: &Path, path_env: Option<&Path>) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1");
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn snapshot(name: &str, value: &str) {
    insta::with_settings!({snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, value);
    });
}

#[test]
fn metadata_matches_the_reference_json_exactly() {
    let dir = tempfile::tempdir().unwrap();
    // An empty PATH proves the answer needs no docker, git or anything else.
    let out = run(
        &["docker-cli-plugin-metadata"],
        dir.path(),
        Some(Path::new("/nonexistent")),
    );
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reference =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin-metadata/metadata.json"))
            .unwrap();
    let want: serde_json::Value = serde_json::from_slice(&reference).unwrap();
    assert_eq!(got, want);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no side effects"
    );
}

#[test]
fn help_of_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("help_root", vec!["repro", "--help"]),
        ("help_release", vec!["repro", "release", "--help"]),
        ("help_verify", vec!["repro", "verify", "--help"]),
        ("help_inspect", vec!["repro", "inspect", "--help"]),
    ] {
        let out = run(&args, dir.path(), None);
        assert_eq!(out.status.code(), Some(0), "{name}");
        snapshot(name, &text(&out.stdout));
    }
    // `docker help repro verify` reaches the plugin as `help repro verify`.
    let via_docker_help = run(&["help", "repro", "verify"], dir.path(), None);
    let direct = run(&["verify", "--help"], dir.path(), None);
    assert_eq!(via_docker_help.stdout, direct.stdout);
}

#[test]
fn usage_errors_exit_125_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["repro", "release", "--no-such-flag"], dir.path(), None);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("--no-such-flag"));
    let out = run(&["repro", "verify", "--format", "yaml"], dir.path(), None);
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn missing_or_broken_lock_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["repro", "verify"], dir.path(), None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: repro.lock: no such lockfile; run `docker repro release` first, or pass the lock's path\n"
    );
    std::fs::write(dir.path().join("bad.lock"), "version = 1\n[source\n").unwrap();
    let out = run(&["repro", "verify", "bad.lock"], dir.path(), None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: bad.lock: not a valid lockfile"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr).lines().count(), 1);
}

/// A fake `docker` that records each argv and fails like an engine that is down.
fn recording_docker(dir: &Path) -> (PathBuf, PathBuf) {
    let bin_dir = dir.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let record = dir.join("calls.txt");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n",
        record.display()
    );
    let fake = bin_dir.join("docker");
    std::fs::write(&fake, script).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin_dir, record)
}

#[test]
fn global_flags_are_forwarded_verbatim_to_every_docker_call() {
    let dir = tempfile::tempdir().unwrap();
    let (bin_dir, record) = recording_docker(dir.path());
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample.lock");
    let out = run(
        &[
            "--context",
            "lab",
            "-D",
            "-H=unix:///x.sock",
            "repro",
            "verify",
            lock.to_str().unwrap(),
            "--format",
            "json",
        ],
        dir.path(),
        Some(&bin_dir),
    );
    // Nothing could be found, so the verdict is "different" (exit 2), not a crash.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["images"][0]["status"], "missing");
    assert_eq!(report["bases"][0]["tag"], "unknown");
    let calls = std::fs::read_to_string(&record).unwrap();
    assert!(calls.lines().count() >= 3, "{calls}");
    for call in calls.lines() {
        assert!(
            call.starts_with("--context lab -D -H=unix:///x.sock "),
            "{call}"
        );
        assert!(
            call.contains(" -- "),
            "user-supplied refs come after --: {call}"
        );
    }
}

#[test]
fn engine_down_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let (bin_dir, _) = recording_docker(dir.path());
    let status = Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    for args in [
        vec!["add", "-A"],
        vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "x",
        ],
    ] {
        assert!(Command::new("git")
            .args(&args)
            .current_dir(dir.path())
            .status()
            .unwrap()
            .success());
    }
    let git_dir = PathBuf::from(
        String::from_utf8(
            Command::new("sh")
                .args(["-c", "dirname $(command -v git)"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim(),
    );
    let path = std::env::join_paths([bin_dir, git_dir]).unwrap();
    let out = run(&["repro", "release"], dir.path(), Some(Path::new(&path)));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(
            "error: cannot reach the Docker engine (Cannot connect to the Docker daemon)"
        ),
        "{stderr}"
    );
    assert!(!dir.path().join("repro.lock").exists());
}
