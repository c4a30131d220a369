//! Small inputs that must not cost unbounded time or memory: each is built here, read by the
//! real binary with a deadline (killed past it), and judged by its exit code, its one-line
//! error, its wall time and its own peak memory. No engine is needed.
//!
//! Peak memory is the child's VmHWM, read from /proc while it runs: wait4's ru_maxrss would
//! count the test process's own memory, which a spawned child's address space starts as.

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// What a run of the binary cost.
pub(crate) struct Cost {
    /// None when the deadline killed it.
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) secs: f64,
    pub(crate) peak_kb: u64,
}

impl Cost {
    /// The one line of a refusal, and the exit code.
    #[track_caller]
    pub(crate) fn refused(&self, code: i32) -> &str {
        assert_eq!(
            self.code,
            Some(code),
            "exit code after {:.1} s (None: killed by a signal or at the deadline)\n{}",
            self.secs,
            self.stderr
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line:\n{}", self.stderr);
        lines[0]
    }
}

/// Runs `docker-repro ARGS` (stdin from `stdin`, or none), killing it after `deadline`.
pub(crate) fn run_bounded(args: &[&str], stdin: Option<&Path>, deadline: Duration) -> Cost {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_docker-repro"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match stdin {
        Some(p) => cmd.stdin(std::fs::File::open(p).unwrap()),
        None => cmd.stdin(Stdio::null()),
    };
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status_file = format!("/proc/{}/status", child.id());
    let mut killed = false;
    let mut peak_kb = 0;
    let status = loop {
        // After exec the child has an address space of its own; until then, a copy of ours.
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            let exec_done = text
                .lines()
                .any(|l| l.starts_with("Name:") && l.contains("docker-repro"));
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok());
            if let (true, Some(kb)) = (exec_done, hwm) {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if !killed && start.elapsed() > deadline {
            let _ = child.kill();
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let secs = start.elapsed().as_secs_f64();
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    let code = status.code().filter(|_| !killed);
    Cost {
        code,
        stdout,
        stderr,
        secs,
        peak_kb,
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// A plain tar header block (ustar), with `size` written in the octal field.
pub(crate) fn header(path: &str, typeflag: u8, size: u64, link: &str) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).unwrap();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::new(typeflag));
    if !link.is_empty() {
        h.set_link_name(link).unwrap();
    }
    h.set_cksum();
    h
}

/// A `docker save` archive around one layer blob (written as given: plain tar, gzip or zstd).
pub(crate) fn save_archive(dir: &Path, name: &str, layer: &[u8]) -> std::path::PathBuf {
    let config = br#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let (l, c) = (sha256(layer), sha256(config));
    let manifest =
        format!(r#"[{{"Config":"blobs/sha256/{c}","RepoTags":[],"Layers":["blobs/sha256/{l}"]}}]"#);
    let path = dir.join(name);
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    for (member, data) in [
        (format!("blobs/sha256/{l}"), layer),
        (format!("blobs/sha256/{c}"), &config[..]),
        ("manifest.json".to_string(), manifest.as_bytes()),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, member, data).unwrap();
    }
    b.finish().unwrap();
    path
}

fn str_path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A PAX `size` of 2^64 - 1536 used to wrap into a seek 1536 bytes back, onto the PAX header
/// itself: the archive reader looped forever, and with no read in between ignored Ctrl-C and
/// SIGTERM. It is a one-line error now, at once, from a file or a pipe.
#[test]
fn a_pax_size_near_two_to_the_64_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    {
        let mut b = tar::Builder::new(&mut bytes);
        b.append_pax_extensions([("size", &b"18446744073709550080"[..])])
            .unwrap();
        b.finish().unwrap();
    }
    bytes.truncate(bytes.len() - 1024); // the end-of-archive blocks
    bytes.extend_from_slice(
        header(&format!("blobs/sha256/{}", "a".repeat(64)), b'0', 0, "").as_bytes(),
    );
    bytes.extend_from_slice(&[0u8; 1024]);
    let file = dir.path().join("pax.tar");
    std::fs::write(&file, &bytes).unwrap();

    let cost = run_bounded(
        &["inspect", "--archive", str_path(&file)],
        None,
        Duration::from_secs(20),
    );
    let line = cost.refused(1);
    assert!(
        line.contains("declares 18446744073709550080 bytes") && line.contains("limit"),
        "{line}"
    );
    assert!(cost.secs < 20.0);

    let cost = run_bounded(&["inspect", "-"], Some(&file), Duration::from_secs(20));
    let line = cost.refused(1);
    assert!(
        line.contains("declares 18446744073709550080 bytes"),
        "{line}"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// 120,000 hard links to one dpkg database (a 400 KB archive) took 76 s, each link searching
/// every record before it, and copied the database's records once per link. Linear now: one
/// lookup per link and one shared record, listed once.
#[test]
fn a_hundred_thousand_hard_links_cost_linear_time_and_no_copies() {
    let dir = tempfile::tempdir().unwrap();
    let mut status = String::new();
    for i in 0..200 {
        status.push_str(&format!(
            "Package: pkg{i}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.{i}\n\n"
        ));
    }
    let mut layer = Vec::new();
    let base = "var/lib/dpkg/status.d/base";
    layer.extend_from_slice(header(base, b'0', status.len() as u64, "").as_bytes());
    layer.extend_from_slice(status.as_bytes());
    layer.resize(layer.len().div_ceil(512) * 512, 0);
    for i in 0..120_000 {
        let h = header(&format!("var/lib/dpkg/status.d/l{i}"), b'1', 0, base);
        layer.extend_from_slice(h.as_bytes());
    }
    layer.extend_from_slice(&[0u8; 1024]);
    let file = save_archive(dir.path(), "links.tar", &gzip(&layer));
    assert!(std::fs::metadata(&file).unwrap().len() < 2 << 20);

    let cost = run_bounded(
        &["inspect", "--archive", str_path(&file), "--format", "json"],
        None,
        Duration::from_secs(20),
    );
    assert_eq!(
        cost.code,
        Some(0),
        "after {:.1} s: {}",
        cost.secs,
        cost.stderr
    );
    let inv: serde_json::Value = serde_json::from_str(&cost.stdout).unwrap();
    assert_eq!(inv["apt"].as_array().unwrap().len(), 200);
    // 120,000 copies of 200 records were about 2 GB.
    assert!(cost.peak_kb < 256 << 10, "peak {} KB", cost.peak_kb);
    eprintln!("hard links: {:.2} s, peak {} KB", cost.secs, cost.peak_kb);
}

/// A layer of `n` whiteouts (`.wh.` entries of long, distinct paths), zstd-compressed as it
/// is written: about 1.5 MB for a million.
pub(crate) fn whiteout_layer(n: usize, salt: &str) -> Vec<u8> {
    let mut z = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    for i in 0..n {
        let path = format!(
            "usr/share/doc/package-{}/{salt}.wh.changelog-{i}.Debian.gz",
            i % 1000
        );
        z.write_all(header(&path, b'0', 0, "").as_bytes()).unwrap();
    }
    z.write_all(&[0u8; 1024]).unwrap();
    z.finish().unwrap()
}

/// A million whiteouts (a 1.5 MB archive) made `inspect` keep every deleted path as a String:
/// 317 MB. The inventory keeps a 16-byte keyed hash each now, and asks it only for the
/// paths of package records. Half a million here (117 MB before), to keep the test quick.
#[test]
fn half_a_million_whiteouts_cost_the_inventory_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let file = save_archive(dir.path(), "whiteouts.tar", &whiteout_layer(500_000, ""));
    assert!(std::fs::metadata(&file).unwrap().len() < 4 << 20);
    let cost = run_bounded(
        &["inspect", "--archive", str_path(&file), "-q"],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(
        cost.code,
        Some(0),
        "after {:.1} s: {}",
        cost.secs,
        cost.stderr
    );
    // The paths alone are 30 MB; their hashes 8 MB.
    assert!(cost.peak_kb < 48 << 10, "peak {} KB", cost.peak_kb);
    eprintln!(
        "whiteouts, inspect: {:.2} s, peak {} KB",
        cost.secs, cost.peak_kb
    );
}

/// Zeros, for bombs that are never held in memory.
struct Zeros(u64);

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.0) as usize;
        buf[..n].fill(0);
        self.0 -= n as u64;
        Ok(n)
    }
}

/// A zstd layer holding one file of `size` zeros: a few hundred KB that inflate to `size`.
fn zstd_bomb(size: u64) -> Vec<u8> {
    let mut z = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    z.write_all(header("bomb", b'0', size, "").as_bytes())
        .unwrap();
    io::copy(&mut Zeros(size), &mut z).unwrap();
    z.write_all(&[0u8; 1024]).unwrap();
    z.finish().unwrap()
}

pub(crate) fn small_layer() -> Vec<u8> {
    let mut layer = header("etc/hostname", b'0', 3, "").as_bytes().to_vec();
    layer.extend_from_slice(b"box");
    layer.resize(512 + 512 + 1024, 0);
    layer
}

/// `diff` inflated a zstd bomb to the end (6 GiB from a small archive), with no limit: it
/// opens layers as the inventory does now, and stops where the inventory stops (1000:1 plus
/// 1 GiB). A 2 GiB bomb here.
#[test]
fn diff_stops_a_decompression_bomb_where_the_inventory_does() {
    let dir = tempfile::tempdir().unwrap();
    let a = save_archive(dir.path(), "a.tar", &small_layer());
    let bomb = zstd_bomb(2 << 30);
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let b = save_archive(dir.path(), "b.tar", &bomb);

    let cost = run_bounded(
        &["diff", str_path(&a), str_path(&b)],
        None,
        Duration::from_secs(60),
    );
    let line = cost.refused(1);
    eprintln!(
        "bomb, diff: {:.2} s, peak {} KB: {line}",
        cost.secs, cost.peak_kb
    );
    assert!(
        line.contains(&format!("layer sha256:{}", sha256(&bomb)))
            && line.contains("decompression bomb"),
        "{line}"
    );
    let cost = run_bounded(
        &["inspect", "--archive", str_path(&b)],
        None,
        Duration::from_secs(60),
    );
    assert!(cost.refused(1).contains("decompression bomb"));
}

/// `diff` read layers without checking their digests: a layer stored under another digest
/// was compared as if it were that layer.
#[test]
fn diff_refuses_a_layer_that_does_not_match_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let a = save_archive(dir.path(), "a.tar", &small_layer());
    let b = save_archive(dir.path(), "b.tar", &gzip(&small_layer()));
    // Swap one byte of B's layer inside the gzip header's mtime: still a valid gzip stream.
    let mut bytes = std::fs::read(&b).unwrap();
    let at = bytes
        .windows(3)
        .position(|w| w == [0x1f, 0x8b, 0x08])
        .unwrap()
        + 4;
    bytes[at] ^= 1;
    std::fs::write(&b, &bytes).unwrap();
    let cost = run_bounded(
        &["diff", str_path(&a), str_path(&b)],
        None,
        Duration::from_secs(20),
    );
    let line = cost.refused(1);
    assert!(line.contains("hash to sha256:"), "{line}");
}

/// Two layers of 200,000 whiteouts each, none alike: 400,000 differing files. `diff` held
/// both listings at about 350 bytes an entry, every difference, and the JSON text of the
/// report even when printing the human one (327 MB here). Now one listing of about 120 bytes
/// an entry plus the path, the other layer compared as it is read, and the report written as
/// it is serialised (156 MB).
#[test]
fn diff_of_two_layers_of_many_files_costs_less_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = save_archive(dir.path(), "a.tar", &whiteout_layer(200_000, "a"));
    let b = save_archive(dir.path(), "b.tar", &whiteout_layer(200_000, "b"));
    let cost = run_bounded(
        &["diff", str_path(&a), str_path(&b)],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(
        cost.code,
        Some(2),
        "after {:.1} s: {}",
        cost.secs,
        cost.stderr
    );
    eprintln!(
        "whiteouts, diff: {:.2} s, peak {} KB",
        cost.secs, cost.peak_kb
    );
    assert!(cost.peak_kb < 200 << 10, "peak {} KB", cost.peak_kb);
}
