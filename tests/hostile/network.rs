//! A remote that accepts a connection and never answers: a registry a lock names, the daemon's
//! pull from it, and a git remote (git://). Each used to hold the command forever; each is stopped at
//! its deadline now, with one line naming the command, what timed out and the variable that
//! allows longer. The server is a thread of this test listening on 127.0.0.1 only; the real
//! docker CLI, buildx, engine and git do the talking.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common;

/// Listens on a free loopback port, accepts every connection and never reads or writes.
fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

/// tests/fixtures/sample.lock with its release image and its remote on the silent server.
fn lock_on(dir: &Path, port: u16) -> std::path::PathBuf {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sample.lock"
    ))
    .unwrap()
    .replace(
        "name = \"curvenet:0123456789ab\"",
        &format!("name = \"127.0.0.1:{port}/lab/curvenet:0123456789ab\""),
    )
    .replace(
        "https://example.org/lab/curvenet.git",
        &format!("git://127.0.0.1:{port}/lab/curvenet.git"),
    );
    assert!(text.contains(&format!("127.0.0.1:{port}/lab/curvenet:")));
    let path = dir.join("repro.lock");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `docker repro ARGS` in `dir` with `env`; its exit code, last stderr line and time.
/// Past 90 s it is killed (exit -1): without its own deadline it would never end.
fn repro(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, Duration) {
    let mut cmd = common::docker_cmd(dir, &["repro"]);
    cmd.args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr_pipe, &mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    // A child docker left running would hold the pipe: read it only after a real exit.
    let stderr = match status {
        Some(_) => reader.join().unwrap(),
        None => "killed at the test's deadline".to_string(),
    };
    let last = stderr.lines().last().unwrap_or("").to_string();
    (status.and_then(|s| s.code()).unwrap_or(-1), last, took)
}

#[test]
fn a_registry_that_never_answers_stops_verify_at_the_lookup_deadline() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let port = silent_server();
    let lock = lock_on(dir.path(), port);
    let (code, line, took) = repro(
        dir.path(),
        &["verify", "--quiet", lock.to_str().unwrap()],
        &[("DOCKER_REPRO_LOOKUP_TIMEOUT", "3s")],
    );
    assert_eq!(code, 1, "{line}");
    assert!(
        line.starts_with("error: could not check 127.0.0.1:")
            && line.contains("`docker buildx imagetools inspect --raw -- 127.0.0.1:")
            && line.contains("gave no answer in 3s (a registry lookup) and was stopped")
            && line.contains("DOCKER_REPRO_LOOKUP_TIMEOUT=DURATION"),
        "{line}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");

    let (code, line, _) = repro(
        dir.path(),
        &["verify", "--quiet", lock.to_str().unwrap()],
        &[("DOCKER_REPRO_LOOKUP_TIMEOUT", "soon")],
    );
    assert_eq!(code, 125, "{line}");
    assert_eq!(
        line,
        "error: DOCKER_REPRO_LOOKUP_TIMEOUT=\"soon\": not a duration; set seconds (90) or a duration (90s, 10m, 1h), more than 0"
    );
}

#[test]
fn a_pull_from_a_registry_that_never_answers_stops_run_at_the_transfer_deadline() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let port = silent_server();
    let lock = lock_on(dir.path(), port);
    let (code, line, took) = repro(
        dir.path(),
        &["run", lock.to_str().unwrap(), "--", "true"],
        &[("DOCKER_REPRO_TRANSFER_TIMEOUT", "3")],
    );
    assert_eq!(code, 1, "{line}");
    assert!(
        line.contains("`docker pull --quiet -- 127.0.0.1:")
            && line.contains("gave no answer in 3s (a docker pull or push) and was stopped"),
        "{line}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn a_git_remote_that_never_answers_stops_verify_rebuild_at_the_transfer_deadline() {
    let _serial = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let port = silent_server();
    let lock = lock_on(dir.path(), port);
    let (code, line, took) = repro(
        dir.path(),
        &["verify", "--rebuild", "--quiet", lock.to_str().unwrap()],
        &[("DOCKER_REPRO_TRANSFER_TIMEOUT", "3s")],
    );
    assert_eq!(code, 1, "{line}");
    assert!(
        line.contains(&format!(
            "cannot clone the lock's remote git://127.0.0.1:{port}/lab/curvenet.git"
        )) && line.contains("gave no answer in 3s (a git clone) and was stopped"),
        "{line}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}
