//! `docker repro inspect NAME@DIGEST` of an image that is only in a registry: read from the
//! loopback registry by digest, never pulled into the engine; and what it refuses.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;

use crate::common::*;

fn in_engine(reference: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", reference])
        .output()
        .unwrap()
        .status
        .success()
}

/// An image with a Python distribution in it, built as users build (buildx's defaults: an
/// index with a provenance attestation), pushed to the loopback registry and removed from the
/// engine. Returns the repository and the index digest.
fn pushed_only(dir: &std::path::Path, tag: &str) -> (String, String) {
    let site = "usr/lib/python3/dist-packages";
    std::fs::create_dir_all(dir.join("meta")).unwrap();
    std::fs::write(
        dir.join("meta/METADATA"),
        "Metadata-Version: 2.1\nName: remote-only\nVersion: 3.1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {}\nCOPY meta /{site}/remote_only-3.1.dist-info\n",
            busybox()
        ),
    )
    .unwrap();
    push_built(dir, tag, &[])
}

/// A registry that answers as the loopback one does (through curl), except that the blob
/// `tampered` comes back with one byte changed: a registry, or a path to it, not to be trusted.
fn tampering_registry(tampered: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut accept = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("accept:") {
                    accept = v.trim().to_string();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut body = Command::new("curl")
                .args(["-fsS", "-H", &format!("Accept: {accept}")])
                .arg(format!("http://{REGISTRY}{path}"))
                .output()
                .unwrap()
                .stdout;
            if path.ends_with(&tampered) {
                let last = body.len() - 1;
                body[last] ^= 1;
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    port
}

#[test]
fn an_image_only_in_a_registry_is_read_by_digest_without_pulling_it() {
    let _serial = serial();
    let work = tempfile::tempdir().unwrap();
    let tag = format!("{REGISTRY}/repro-test/remote-only:inspect");
    let (repository, digest) = pushed_only(work.path(), &tag);
    let pinned = format!("{repository}@{digest}");
    let _pushed = PushedIndex(repository.clone(), digest.clone());
    assert!(!in_engine(&pinned) && !in_engine(&tag));
    let dir = work.path();

    let remote = docker_in(dir, &["repro", "inspect", &pinned, "--format", "json"])
        .expect(0)
        .json();
    assert!(
        !in_engine(&pinned),
        "inspect pulled the image into the engine"
    );
    assert!(
        remote["pip"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "remote-only" && p["version"] == "3.1"),
        "{remote}"
    );
    // The same image, pulled and read from the engine, gives the same inventory and manifest.
    docker(&["pull", "-q", &pinned]);
    let _pulled = PulledImage(pinned.clone());
    let local = docker_in(dir, &["repro", "inspect", &pinned, "--format", "json"])
        .expect(0)
        .json();
    for key in ["manifest_digest", "os", "apt", "pip", "conda", "cuda"] {
        assert_eq!(remote[key], local[key], "{key}");
    }
    let _ = Command::new("docker").args(["rmi", "-f", &pinned]).output();

    // A tag the engine lacks: the digest it names now, to pin.
    let tag_only = docker_in(dir, &["repro", "inspect", &tag]).expect(125);
    assert_eq!(
        tag_only.stderr.trim().lines().count(),
        1,
        "{}",
        tag_only.stderr
    );
    assert!(
        tag_only
            .stderr
            .contains(&format!("its registry has it as {pinned}")),
        "{}",
        tag_only.stderr
    );

    // No registry there: one line, exit 1.
    let nowhere = format!("127.0.0.1:1/repro-test/remote-only@{digest}");
    let refused = docker_in(dir, &["repro", "inspect", &nowhere]).expect(1);
    assert_eq!(
        refused.stderr.trim().lines().count(),
        1,
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("could not read"),
        "{}",
        refused.stderr
    );

    // A registry that accepts and never answers: stopped at the lookup deadline.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_ref = format!(
        "127.0.0.1:{}/repro-test/remote-only@{digest}",
        silent.local_addr().unwrap().port()
    );
    let started = std::time::Instant::now();
    let stalled = docker_cmd(dir, &["repro", "inspect", &silent_ref])
        .env("DOCKER_REPRO_LOOKUP_TIMEOUT", "2s")
        .output()
        .unwrap();
    assert_eq!(stalled.status.code(), Some(1));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    drop(silent);

    // A layer whose bytes are not its digest's: refused, naming the layer, no inventory.
    let manifest: serde_json::Value = serde_json::from_str(
        &docker(&["buildx", "imagetools", "inspect", "--raw", &pinned]).stdout,
    )
    .unwrap();
    let amd64 = manifest["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let image: serde_json::Value = serde_json::from_str(
        &docker(&[
            "buildx",
            "imagetools",
            "inspect",
            "--raw",
            &format!("{repository}@{amd64}"),
        ])
        .stdout,
    )
    .unwrap();
    let top_layer = image["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    // Of an index of two platforms, --platform picks one, read from the registry too.
    let multi = work.path().join("multi");
    std::fs::create_dir_all(multi.join("meta-arm64")).unwrap();
    std::fs::create_dir_all(multi.join("meta-amd64")).unwrap();
    for arch in ["amd64", "arm64"] {
        std::fs::write(
            multi.join(format!("meta-{arch}/METADATA")),
            format!("Metadata-Version: 2.1\nName: per-arch\nVersion: 1.0+{arch}\n"),
        )
        .unwrap();
    }
    std::fs::write(
        multi.join("Dockerfile"),
        format!("FROM {REGISTRY}/repro-test/busybox-multi:1\nARG TARGETARCH\nCOPY meta-$TARGETARCH /usr/lib/python3/dist-packages/per_arch-1.0.dist-info\n"),
    )
    .unwrap();
    let multi_tag = format!("{repository}:multi");
    // COPY only: no step runs, so no emulation is needed.
    let (_, multi_digest) = push_built(&multi, &multi_tag, &["linux/amd64", "linux/arm64"]);
    let _multi_pushed = PushedIndex(repository.clone(), multi_digest.clone());
    let multi_raw = docker(&["buildx", "imagetools", "inspect", "--raw", &multi_tag]).stdout;
    assert_eq!(
        multi_digest,
        {
            use sha2::Digest as _;
            format!("sha256:{:x}", sha2::Sha256::digest(multi_raw.as_bytes()))
        },
        "the tag names the index pushed"
    );
    let multi_pinned = format!("{repository}@{multi_digest}");
    assert!(!in_engine(&multi_pinned));
    let arm64_manifest = serde_json::from_str::<serde_json::Value>(&multi_raw).unwrap()
        ["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "arm64")
        .unwrap()["digest"]
        .clone();
    let arm64 = docker_in(
        dir,
        &[
            "repro",
            "inspect",
            &multi_pinned,
            "--platform",
            "linux/arm64",
            "--format",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(arm64["manifest_digest"], arm64_manifest);
    assert_eq!(arm64["pip"][0]["version"], "1.0+arm64", "{arm64}");

    let port = tampering_registry(top_layer.clone());
    let tampered = format!("127.0.0.1:{port}/repro-test/remote-only@{digest}");
    let bad = docker_in(dir, &["repro", "inspect", &tampered, "--format", "json"]).expect(1);
    assert!(bad.stdout.is_empty(), "{}", bad.stdout);
    assert_eq!(bad.stderr.trim().lines().count(), 1, "{}", bad.stderr);
    assert!(bad.stderr.contains(&top_layer), "{}", bad.stderr);
}

/// A registry that wants a login: every request without `Authorization: Basic <auth>` gets a
/// 401 with a Basic challenge; the others are answered as the loopback registry answers them
/// (through curl). Returns the port and the number of requests that carried the credentials.
fn login_registry(auth: String) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let authorized = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = authorized.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let (mut accept, mut credentials) = (String::new(), String::new());
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("accept:") {
                    accept = v.trim().to_string();
                }
                if lower.starts_with("authorization:") {
                    credentials = line["authorization:".len()..].trim().to_string();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            if credentials != format!("Basic {auth}") {
                let _ = write!(
                    stream,
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"lab\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                continue;
            }
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let body = Command::new("curl")
                .args(["-fsS", "-H", &format!("Accept: {accept}")])
                .arg(format!("http://{REGISTRY}{path}"))
                .output()
                .unwrap()
                .stdout;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    (port, authorized)
}

#[test]
fn an_image_in_a_registry_that_wants_a_login_is_read_with_what_docker_login_stored() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let _serial = serial();
    let work = tempfile::tempdir().unwrap();
    let raw = docker(&["buildx", "imagetools", "inspect", "--raw", &busybox()]).stdout;
    let digest = format!("sha256:{:x}", sha2::Sha256::digest(raw.as_bytes()));
    let auth = base64::engine::general_purpose::STANDARD.encode("lab:secret");
    let (port, authorized) = login_registry(auth.clone());
    let pinned = format!("127.0.0.1:{port}/repro-test/busybox@{digest}");

    // Without stored credentials: refused in one line that says to log in, exit 1.
    let anonymous = docker_in(work.path(), &["repro", "inspect", &pinned]).expect(1);
    assert_eq!(
        anonymous.stderr.trim().lines().count(),
        1,
        "{}",
        anonymous.stderr
    );
    assert!(
        anonymous.stderr.contains("docker login"),
        "{}",
        anonymous.stderr
    );
    assert_eq!(authorized.load(std::sync::atomic::Ordering::SeqCst), 0);

    // With what `docker login` stores inline in the docker config: read, as from the engine.
    let config = work.path().join("config");
    std::fs::create_dir_all(config.join("cli-plugins")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_docker-repro"),
        config.join("cli-plugins/docker-repro"),
    )
    .unwrap();
    std::fs::write(
        config.join("config.json"),
        serde_json::json!({"auths": {format!("127.0.0.1:{port}"): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let logged_in = docker_cmd(
        work.path(),
        &["repro", "inspect", &pinned, "--format", "json"],
    )
    .env("DOCKER_CONFIG", &config)
    .output()
    .unwrap();
    assert_eq!(
        logged_in.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&logged_in.stderr)
    );
    let inventory: serde_json::Value = serde_json::from_slice(&logged_in.stdout).unwrap();
    assert!(inventory["manifest_digest"].is_string(), "{inventory}");
    assert!(authorized.load(std::sync::atomic::Ordering::SeqCst) > 0);
}

/// An image pulled by a test, removed when it ends.
struct PulledImage(String);

impl Drop for PulledImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

/// An index a test pushed to the loopback registry, deleted from it when the test ends (the
/// test bed's registry accepts deletes), so that nothing is left behind.
struct PushedIndex(String, String);

impl Drop for PushedIndex {
    fn drop(&mut self) {
        let path = self.0.trim_start_matches(&format!("{REGISTRY}/"));
        let _ = Command::new("curl")
            .args(["-fsS", "-X", "DELETE"])
            .arg(format!("http://{REGISTRY}/v2/{path}/manifests/{}", self.1))
            .output();
    }
}
