//! The integration test bed: the real docker CLI with the plugin installed in a temporary
//! DOCKER_CONFIG, a real engine with buildx, and the loopback registry that
//! scripts/testbed.sh brings up.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

pub const REGISTRY: &str = "127.0.0.1:5000";

pub fn busybox() -> String {
    format!("{REGISTRY}/repro-test/busybox:1")
}

pub fn bookworm_python() -> String {
    format!("{REGISTRY}/repro-test/bookworm-python:1")
}

/// Held while an engine test runs: the process's lock and the machine's.
pub struct Serial {
    _thread: MutexGuard<'static, ()>,
    _machine: std::fs::File,
}

/// Engine tests share one engine and prune its build cache, so they run one at a time: within
/// a test binary, and across test binaries or checkouts running at once on the same engine
/// (an advisory lock on a file in the temp directory, released when the guard drops).
pub fn serial() -> Serial {
    static LOCK: Mutex<()> = Mutex::new(());
    let thread = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = std::env::temp_dir().join("docker-repro-engine-tests.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function owns; it blocks until the lock is free.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "cannot lock {}", path.display());
    // Every engine test starts here: check the test bed before anything else, once the engine
    // is this test's (another checkout's test may have stopped the registry for a while).
    docker_config();
    Serial {
        _thread: thread,
        _machine: file,
    }
}

/// The temporary DOCKER_CONFIG holding the plugin; set up once per test binary.
pub fn docker_config() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        // Without a test bed every engine test would fail deep inside itself; stop the whole
        // test binary at once with one line instead (never a silent skip).
        let fail = |line: String| -> ! {
            // Straight to the process's stderr: the test harness would swallow eprintln!.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "error: {line}");
            std::process::exit(1)
        };
        let ok = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output().map(|o| o.status.success()).unwrap_or(false);
        if !ok {
            fail("no engine: run `bash scripts/testbed.sh` as root first (it starts the engine and the loopback registry)".into());
        }
        let reg = Command::new("docker").args(["buildx", "imagetools", "inspect", "--raw", &busybox()]).output();
        if !reg.is_ok_and(|r| r.status.success()) {
            fail(format!("the loopback registry does not serve {}: run `bash scripts/testbed.sh`", busybox()));
        }
        // A static is never dropped, so this folder outlives the test binary: keep it inside
        // the build's own temporary folder (not /tmp) and link the plugin rather than copy it.
        let dir = tempfile::Builder::new()
            .prefix("docker-config-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let plugins = dir.path().join("cli-plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_docker-repro"), plugins.join("docker-repro")).unwrap();
        dir
    })
    .path()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// `docker ARGS` with the plugin's DOCKER_CONFIG, in `dir`.
pub fn docker_in(dir: &Path, args: &[&str]) -> Run {
    Run::from(docker_cmd(dir, args).output().unwrap())
}

pub fn docker_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("docker");
    cmd.args(args)
        .current_dir(dir)
        .env("DOCKER_CONFIG", docker_config())
        .env("XDG_STATE_HOME", state_home())
        .env("XDG_CACHE_HOME", cache_home())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// The XDG_STATE_HOME the plugin runs with: `run` records go there without `--out`, beside
/// the plugin in the test binary's DOCKER_CONFIG, never in the user's own.
pub fn state_home() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = docker_config().join("state");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// The XDG_CACHE_HOME the plugin runs with: the image documents of the bases the tests build
/// are kept there, beside the plugin, never in the user's own cache.
pub fn cache_home() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = docker_config().join("cache");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// The run records `run` wrote without `--out` for the image `digest` (their names hold its
/// first 12 hex digits, so tests running at once do not see each other's).
pub fn run_records(digest: &str) -> Vec<PathBuf> {
    let short = &digest.trim_start_matches("sha256:")[..12];
    let dir = state_home().join("docker-repro/runs");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.file_name().unwrap().to_string_lossy().contains(short))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The one run record of `digest`, read and removed.
#[track_caller]
pub fn take_run_record(digest: &str) -> serde_json::Value {
    let records = run_records(digest);
    assert_eq!(records.len(), 1, "run records of {digest}: {records:?}");
    let record = serde_json::from_str(&std::fs::read_to_string(&records[0]).unwrap()).unwrap();
    std::fs::remove_file(&records[0]).unwrap();
    record
}

/// Plain docker (the user's config), for setting up fixtures.
pub fn docker(args: &[&str]) -> Run {
    Run::from(Command::new("docker").args(args).output().unwrap()).expect(0)
}

pub fn prune_build_cache() {
    docker(&["buildx", "prune", "--all", "--force"]);
}

/// A git project in a temporary directory, committed with fixed dates so commits are stable.
pub struct Project {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Project {
    /// `name` becomes the directory name and so the default image name; keep it unique per test.
    pub fn new(name: &str, files: &[(&str, &str)]) -> Project {
        let tmp = tempfile::Builder::new()
            .prefix("repro-e2e-")
            .tempdir()
            .unwrap();
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let p = Project { _tmp: tmp, dir };
        p.write(files);
        p.git(&["init", "-q", "-b", "main"]);
        p.commit("initial");
        p
    }

    pub fn image(&self) -> String {
        self.dir.file_name().unwrap().to_string_lossy().into_owned()
    }

    pub fn write(&self, files: &[(&str, &str)]) {
        for (path, content) in files {
            let full = self.dir.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, content).unwrap();
        }
    }

    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.dir, args)
    }

    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
    }

    pub fn repro(&self, args: &[&str]) -> Run {
        let mut full = vec!["repro"];
        full.extend(args);
        docker_in(&self.dir, &full)
    }

    pub fn lock_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("repro.lock")).unwrap()
    }

    /// A fresh clone elsewhere, with the lock copied in: a reviewer's checkout.
    pub fn clone_with_lock(&self) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::Builder::new()
            .prefix("repro-clone-")
            .tempdir()
            .unwrap();
        let dest = tmp.path().join("review");
        git_in(
            tmp.path(),
            &[
                "clone",
                "-q",
                self.dir.to_str().unwrap(),
                dest.to_str().unwrap(),
            ],
        );
        std::fs::copy(self.dir.join("repro.lock"), dest.join("repro.lock")).unwrap();
        (tmp, dest)
    }
}

pub fn git_in(dir: &Path, args: &[&str]) -> String {
    git_at(dir, args, "2024-05-01T12:00:00Z")
}

/// `git ARGS` in `dir` as the test user, with `date` as the author and committer date.
pub fn git_at(dir: &Path, args: &[&str], date: &str) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Repro Test",
            "-c",
            "user.email=test@example.org",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Replaces what legitimately varies between machines and runs in lock and report text.
pub fn filters() -> Vec<(String, String)> {
    // Image names carry no process id, so table widths in reports are stable.
    [
        (r"sha256:[0-9a-f]{64}", "sha256:[digest]"),
        (r"sha256:[0-9a-f]{12}", "sha256:[short]"),
        (
            r#"(docker_client|docker_engine|buildx|buildkit|buildkit_note|containerd|engine_go) = "[^"]*""#,
            r#"$1 = "[version]""#,
        ),
        // Temporary directories of the tests and of docker repro (not paths inside images).
        (r#"/tmp/(?:\.tmp|repro-|docker-repro-)[^\s"`,]*"#, "[path]"),
        // The toolchain in a lock's summary comment.
        (r"(?m)^#   builder .*$", "#   builder    [versions]"),
        // The verdict on this machine's GPU depends on the machine.
        (r"(?m)^host: .*$", "host: [this host's verdict]"),
        // The evidence of a random file's content changes on every run.
        (r#": "[^"]*" vs "[^"]*""#, r#": "[a]" vs "[b]""#),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

pub fn snapshot(name: &str, value: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    for (pattern, replacement) in filters() {
        settings.add_filter(&pattern, replacement);
    }
    settings.bind(|| insta::assert_snapshot!(name, value));
}

/// Stops the loopback registry for the life of the guard, then starts it again as
/// scripts/testbed.sh does.
pub struct RegistryStopped;

impl RegistryStopped {
    pub fn new() -> RegistryStopped {
        Command::new("pkill")
            .args(["-f", "docker-registry serve"])
            .status()
            .unwrap();
        for _ in 0..50 {
            if !registry_up() {
                return RegistryStopped;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the registry did not stop");
    }
}

impl Drop for RegistryStopped {
    fn drop(&mut self) {
        let status = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/testbed.sh"))
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success() && registry_up(),
            "the registry did not come back"
        );
    }
}

fn registry_up() -> bool {
    Command::new("docker")
        .args(["buildx", "imagetools", "inspect", "--raw", &busybox()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A directory with a fake `nvidia-smi` that reports one GPU, to put first on PATH.
pub fn fake_nvidia_smi(line: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nvidia-smi");
    std::fs::write(
        &path,
        format!("#!/bin/sh\ncase \"$*\" in *--query-gpu=*) echo '{line}' ;; *) exit 9 ;; esac\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// PATH with `dir` first.
pub fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut parts = vec![dir.to_path_buf()];
    parts.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(parts).unwrap()
}

/// Pushes `image` under `tag` in the loopback registry.
/// Pushes `image` under `tag`; the engine keeps no name for it afterwards (a test leaves no
/// tag behind, and a build must find the image in the registry, not the engine).
pub fn publish(image: &str, tag: &str) {
    docker(&["tag", image, tag]);
    docker(&["push", "-q", tag]);
    docker(&["image", "rm", tag]);
}

/// Builds `context` as users build and push it (an index with the `mode=min` provenance
/// attestation that buildx adds by default to a push, though not to an archive, so it is asked
/// for here; `platforms` when not empty) and pushes it to the loopback registry as `tag`,
/// leaving nothing in the engine. Returns the repository and the digest pushed.
///
/// The build is exported as an OCI archive and pushed from it one request at a time: blobs,
/// then each manifest by digest, children first, then the tag on the root. `docker push` or
/// buildx's `--push` would send every manifest of the index to the tag, several at once
/// (containerd 1.7's pusher, under Docker 26), and the registry rewrites a tag's link file in
/// place (truncate, then write): a HEAD of the tag that lands between the two reads it empty
/// and gets a 500, which fails the push. (The docker driver cannot push by digest.)
pub fn push_built(context: &Path, tag: &str, platforms: &[&str]) -> (String, String) {
    let (repository, tag_name) = tag.rsplit_once(':').unwrap();
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("image.tar");
    let output = format!("type=oci,dest={}", archive.display());
    let mut args = vec!["buildx", "build", "-q", "--provenance=mode=min"];
    args.extend(["--output", &output]);
    let platform_list = platforms.join(",");
    if !platforms.is_empty() {
        args.extend(["--platform", &platform_list]);
    }
    args.push(context.to_str().unwrap());
    docker(&args);
    let blobs = tar_members(&archive);
    let index: serde_json::Value = serde_json::from_slice(&blobs["index.json"]).unwrap();
    let root = &index["manifests"][0];
    let path = repository.strip_prefix(&format!("{REGISTRY}/")).unwrap();
    let pusher = LayoutPusher {
        base: format!("http://{REGISTRY}/v2/{path}"),
        blobs,
    };
    let digest = pusher.manifest(root);
    pusher.put_manifest(root, tag_name);
    (repository.to_string(), digest)
}

/// The members of the tar archive at `path`, by path.
pub fn tar_members(path: &Path) -> std::collections::HashMap<String, Vec<u8>> {
    let mut members = std::collections::HashMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        members.insert(name, bytes);
    }
    members
}

/// An OCI layout's files (by path in its archive) and the repository they are pushed to.
struct LayoutPusher {
    base: String,
    blobs: std::collections::HashMap<String, Vec<u8>>,
}

impl LayoutPusher {
    fn bytes(&self, descriptor: &serde_json::Value) -> &[u8] {
        let digest = descriptor["digest"].as_str().unwrap();
        &self.blobs[&format!("blobs/{}", digest.replace(':', "/"))]
    }

    /// Pushes what `descriptor` names and everything under it; returns its digest.
    fn manifest(&self, descriptor: &serde_json::Value) -> String {
        let manifest: serde_json::Value = serde_json::from_slice(self.bytes(descriptor)).unwrap();
        for child in manifest["manifests"].as_array().into_iter().flatten() {
            self.manifest(child);
        }
        let blobs = manifest["layers"].as_array().into_iter().flatten();
        for blob in blobs.chain(manifest.get("config")) {
            self.blob(blob);
        }
        let digest = descriptor["digest"].as_str().unwrap();
        self.put_manifest(descriptor, digest);
        digest.to_string()
    }

    fn put_manifest(&self, descriptor: &serde_json::Value, reference: &str) {
        ureq::put(&format!("{}/manifests/{reference}", self.base))
            .set("Content-Type", descriptor["mediaType"].as_str().unwrap())
            .send_bytes(self.bytes(descriptor))
            .unwrap();
    }

    fn blob(&self, descriptor: &serde_json::Value) {
        let digest = descriptor["digest"].as_str().unwrap();
        if ureq::head(&format!("{}/blobs/{digest}", self.base))
            .call()
            .is_ok()
        {
            return;
        }
        let started = ureq::post(&format!("{}/blobs/uploads/", self.base))
            .call()
            .unwrap();
        let location = started.header("Location").unwrap();
        let location = if location.starts_with('/') {
            format!("http://{REGISTRY}{location}")
        } else {
            location.to_string()
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        ureq::put(&format!("{location}{separator}digest={digest}"))
            .set("Content-Type", "application/octet-stream")
            .send_bytes(self.bytes(descriptor))
            .unwrap();
    }
}

/// The manifest types the registry is asked for (an Accept header).
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// A directory with a `docker` that answers the arms of a shell `case "$*"` in `cases` itself
/// and passes every other command to the real docker: one failure of the real path, for a test
/// that puts the directory first on PATH.
pub fn docker_failing_on(cases: &str) -> tempfile::TempDir {
    let real = which::which("docker").unwrap();
    let bin = tempfile::tempdir().unwrap();
    let wrapper = bin.path().join("docker");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$*\" in\n{cases}\nesac\nexec '{}' \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    bin
}

/// Someone pushes another image (`from` plus a file at `marker`) under an existing tag.
pub fn move_tag(tag: &str, from: &str, marker: &str) {
    let other = tempfile::tempdir().unwrap();
    std::fs::write(
        other.path().join("Dockerfile"),
        format!("FROM {from}\nRUN echo moved > {marker}\n"),
    )
    .unwrap();
    docker(&[
        "buildx",
        "build",
        "-q",
        "--provenance=false",
        "-t",
        tag,
        "--push",
        other.path().to_str().unwrap(),
    ]);
    docker(&["image", "rm", tag]);
}

/// Writes the test wheel (tests/fixtures/make_wheel.py) at `version` into `dir`.
pub fn make_wheel(dir: &Path, version: &str) {
    let out = Command::new("python3")
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/make_wheel.py"),
            dir.to_str().unwrap(),
            version,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository of the loopback registry that a test pushes to: when the guard drops (the
/// test passed or failed), every tag of it is deleted by its manifest's digest, the
/// `sha256-<hex>` tags of attached documents included.
pub struct PushedRepository(pub String);

impl Drop for PushedRepository {
    fn drop(&mut self) {
        let Some(path) = self.0.strip_prefix(&format!("{REGISTRY}/")) else {
            return;
        };
        let base = format!("http://{REGISTRY}/v2/{path}");
        let tags: serde_json::Value = match ureq::get(&format!("{base}/tags/list"))
            .call()
            .map(|r| r.into_string())
        {
            Ok(Ok(text)) => serde_json::from_str(&text).unwrap_or_default(),
            _ => return,
        };
        for tag in tags["tags"].as_array().into_iter().flatten() {
            let Some(tag) = tag.as_str() else { continue };
            // A tag whose manifest went with an earlier tag's delete is gone already.
            let Ok(head) = ureq::head(&format!("{base}/manifests/{tag}"))
                .set("Accept", MANIFEST_TYPES)
                .call()
            else {
                continue;
            };
            if let Some(digest) = head.header("docker-content-digest") {
                let _ = ureq::delete(&format!("{base}/manifests/{digest}")).call();
            }
        }
    }
}
