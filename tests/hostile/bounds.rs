//! Files read whole and work that grows with its input have bounds: a Dockerfile and a lock
//! past their size limit, and anything that is not a regular file, are refused in one line at
//! once; `check` costs the same per line at 100,000 lines as at 10,000 and stops on Ctrl-C.
//! No engine is needed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::dos::run_bounded;

fn str_path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(str_path(path)).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path inside the test's temp dir.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// `check /dev/zero` grew to 24 GB; a FIFO with no writer blocked forever, deaf to SIGINT and
/// SIGTERM; a 5 MB file was read whole. Each is one line and exit 1 now, at once.
#[test]
fn check_refuses_devices_fifos_and_oversized_dockerfiles_before_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("Dockerfile.fifo");
    mkfifo(&fifo);
    let big = dir.path().join("Dockerfile.big");
    let mut text = String::from("FROM busybox:1.36\n");
    while text.len() <= 5 << 20 {
        text.push_str("RUN echo padding padding padding padding padding\n");
    }
    std::fs::write(&big, text).unwrap();
    for (path, expected) in [
        (Path::new("/dev/zero"), "/dev/zero: a character device, not a regular file; a Dockerfile is read only from a regular file"),
        (fifo.as_path(), "Dockerfile.fifo: a FIFO, not a regular file"),
        (dir.path(), "a directory, not a regular file"),
        (big.as_path(), "bytes, over the 4 MiB limit on a Dockerfile"),
    ] {
        let cost = run_bounded(&["check", str_path(path)], None, Duration::from_secs(20));
        let line = cost.refused(1);
        assert!(line.contains(expected), "{line}");
        assert!(cost.secs < 5.0, "{:.1} s for {}", cost.secs, path.display());
        assert!(cost.peak_kb < 64 << 10, "{} kB for {}", cost.peak_kb, path.display());
    }
}

/// One `apt-get install` continued over 100,000 lines: every operand was searched for among
/// those before it (20,000 operands took 2.8 s, 100,000 over a minute). Each costs the same
/// now, and so does each line of 100,000 one-line instructions.
#[test]
fn check_costs_about_the_same_per_line_at_a_hundred_thousand_lines() {
    let dir = tempfile::tempdir().unwrap();
    let write = |n: usize| {
        let path = dir.path().join(format!("Dockerfile.{n}"));
        let mut text = String::from("FROM busybox:1.36\nRUN apt-get install -y \\\n");
        for i in 0..n {
            text.push_str(&format!("    lib{i} \\\n"));
        }
        text.push_str("    last\n");
        std::fs::write(&path, text).unwrap();
        path
    };
    let (small, large) = (write(10_000), write(100_000));
    let per_line = |path: &Path, n: usize| {
        let cost = run_bounded(&["check", str_path(path)], None, Duration::from_secs(60));
        assert_eq!(cost.code, Some(2), "{:.1} s\n{}", cost.secs, cost.stderr);
        assert!(cost.stdout.contains("apt-unpinned") || cost.stdout.contains("lib99"));
        cost.secs / n as f64
    };
    let (small_cost, large_cost) = (per_line(&small, 10_000), per_line(&large, 100_000));
    // Linear is a ratio near 1; the quadratic search was about 10. Start-up costs the small
    // file more per line, so the bound is loose only upwards.
    let ratio = large_cost / small_cost;
    assert!(
        ratio < 3.0,
        "per line: {:.1} us at 10k, {:.1} us at 100k (ratio {ratio:.2})",
        small_cost * 1e6,
        large_cost * 1e6
    );
}

/// The lint loop over a long Dockerfile never asked for Ctrl-C: SIGINT waited for the whole
/// check (9 s for 100,000 lines in a debug build). It stops at the next instruction now.
#[test]
fn check_stops_on_ctrl_c_in_a_long_dockerfile() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Dockerfile");
    let mut text = String::from("FROM busybox:1.36\n");
    for i in 0..120_000 {
        text.push_str(&format!("RUN pip install p{i}==1\n"));
    }
    assert!(text.len() < 4 << 20);
    std::fs::write(&path, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_docker-repro"))
        .args(["check", str_path(&path)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "check ended before the signal: the file is too small to show anything"
    );
    // SAFETY: kill(2) on the child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if sent.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let waited = sent.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_eq!(stderr.trim(), "error: interrupted; nothing was written");
    assert!(waited < Duration::from_secs(2), "{waited:?} after SIGINT");
}

/// sample-multi.lock with `packages` apt packages in each of its four images.
fn lock_with_packages(packages: usize) -> String {
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sample-multi.lock"
    ))
    .unwrap();
    let mut blocks = sample.split("[[image]]");
    let mut out = blocks.next().unwrap().to_string();
    for (n, block) in blocks.enumerate() {
        out.push_str("[[image]]");
        out.push_str(block.trim_end());
        if !block.contains("[image.inventory.apt]") {
            out.push_str("\n\n[image.inventory.apt]");
        }
        out.push('\n');
        for i in 0..packages {
            out.push_str(&format!(
                "\"libpackage-{i}-dev\" = \"{n}.{i}.3-1+deb12u1 amd64\"\n"
            ));
        }
        out.push('\n');
    }
    out
}

/// A valid 220 MB lock made `verify` use 3.4 GB. A lock over 16 MiB is refused before it is
/// parsed, in one line, by every command that reads one; a lock of 4 images with 20,000
/// packages each (4 MiB) is read.
#[test]
fn a_lock_over_its_size_limit_is_refused_before_it_is_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.lock");
    let text = lock_with_packages(90_000);
    assert!(text.len() > 16 << 20, "{} bytes", text.len());
    std::fs::write(&big, &text).unwrap();
    for args in [
        vec!["verify", "--archive", "/nonexistent.tar", str_path(&big)],
        vec!["run", str_path(&big)],
        vec!["diff", str_path(&big), str_path(&big)],
    ] {
        let cost = run_bounded(&args, None, Duration::from_secs(30));
        let line = cost.refused(1);
        assert!(
            line.contains("big.lock: ")
                && line.contains("bytes, over the 16 MiB limit on a repro.lock"),
            "{args:?}: {line}"
        );
        assert!(cost.secs < 5.0, "{args:?}: {:.1} s", cost.secs);
        assert!(cost.peak_kb < 64 << 10, "{args:?}: {} kB", cost.peak_kb);
    }

    let fine = dir.path().join("fine.lock");
    let text = lock_with_packages(20_000);
    assert!(text.len() > 3 << 20 && text.len() < 16 << 20);
    std::fs::write(&fine, &text).unwrap();
    let cost = run_bounded(
        &["verify", "--archive", "/nonexistent.tar", str_path(&fine)],
        None,
        Duration::from_secs(60),
    );
    let line = cost.refused(1);
    assert!(line.contains("/nonexistent.tar"), "{line}");

    let fifo = dir.path().join("fifo.lock");
    mkfifo(&fifo);
    let cost = run_bounded(&["verify", str_path(&fifo)], None, Duration::from_secs(20));
    let line = cost.refused(1);
    assert!(
        line.contains("fifo.lock: a FIFO, not a regular file"),
        "{line}"
    );
}
