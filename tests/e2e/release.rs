//! `docker repro release`: pinning, determinism, layouts, refusals and interrupts.

use crate::common::*;
use crate::one_stage;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn one_stage_release_is_deterministic_and_verifies_by_rebuild_from_a_clone() {
    let _serial = serial();
    let p = one_stage("onestage");
    let release = p
        .repro(&["release", "--tag", "paper-v1", "--format", "json"])
        .expect(0);
    let summary = release.json();
    let first_lock = p.lock_text();
    snapshot("lock_one_stage", &first_lock);
    let commit = p.git(&["rev-parse", "HEAD"]);
    let tag = format!("{}:{}", p.image(), &commit[..12]);
    assert_eq!(summary["images"][0]["name"], tag);

    // The release runs and both tags name the locked digest.
    let out = docker(&["run", "--rm", "--network", "none", &tag]);
    assert_eq!(out.stdout, "hello from a release\n");
    let id = docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        &format!("{}:paper-v1", p.image()),
    ])
    .stdout;
    assert_eq!(
        id.trim(),
        summary["images"][0]["manifest_digest"].as_str().unwrap()
    );

    // The same commit released again gives the same lock, byte for byte.
    p.repro(&["release", "-q", "--tag", "paper-v1"]).expect(0);
    assert_eq!(p.lock_text(), first_lock);

    p.repro(&["verify"]).expect(0);
    let (_tmp, review) = p.clone_with_lock();
    prune_build_cache();
    let verify = docker_in(&review, &["repro", "verify", "--rebuild"]).expect(0);
    snapshot("verify_one_stage_identical", &verify.stdout);
}

#[test]
fn file_times_are_clamped_after_the_build_and_a_lock_from_before_is_rebuilt_as_it_was_cut() {
    let _serial = serial();
    // The commit's files already carry the epoch; the RUN writes a file at build time.
    let p = Project::new(
        "clamptimes",
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nCOPY app /app\nRUN echo built > /built\n",
                    busybox()
                ),
            ),
            ("app/hello.txt", "hello from a release\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    let release = p.repro(&["release", "--format", "json"]).expect(0);
    assert!(
        release.stderr.contains(
            "file times clamped to SOURCE_DATE_EPOCH: 2 layer(s) rewritten, 0 left as built, 1 of the base kept as they are (pulled, or built and clamped already)"
        ),
        "{}",
        release.stderr
    );
    let lock =
        docker_repro::lock::Lock::from_toml(&p.lock_text(), std::path::Path::new("repro.lock"))
            .unwrap();
    assert_eq!(
        lock.build.timestamps,
        docker_repro::lock::Timestamps::Encoded
    );
    // The registry base's layer holds no later time: kept byte for byte.
    let raw = docker(&["buildx", "imagetools", "inspect", "--raw", &busybox()]).stdout;
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        lock.images[0].layers[0],
        manifest["layers"][0]["digest"].as_str().unwrap()
    );
    // The files the COPY added carry the commit's time, not the checkout's or the build's.
    let tag = release.json()["images"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let times = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &tag,
        "sh",
        "-c",
        "date -r /app +%s; date -r /app/hello.txt +%s; date -r /built +%s",
    ]);
    let epoch = lock.build.source_date_epoch.to_string();
    assert_eq!(times.stdout, format!("{epoch}\n{epoch}\n{epoch}\n"));

    // A lock written before the key existed is rebuilt with BuildKit's rewrite-timestamp, as it
    // was cut: here, where the lock's bytes came from the clamp, that gives other bytes for the
    // same files, and verify says so.
    let (_tmp, review) = p.clone_with_lock();
    let text = std::fs::read_to_string(review.join("repro.lock")).unwrap();
    let older = text.replace("timestamps = \"encoded\"\n", "");
    assert_ne!(older, text);
    std::fs::write(review.join("repro.lock"), older).unwrap();
    prune_build_cache();
    let verify = docker_in(
        &review,
        &["repro", "verify", "--rebuild", "--format", "json"],
    )
    .expect(2);
    let report = verify.json();
    assert_eq!(report["verdict"], "different", "{report:#}");
    let files = report["images"][0]["files"].as_array().unwrap();
    assert!(!files.is_empty(), "{report:#}");
    for layer in files {
        assert!(
            layer["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("no file differs")),
            "{report:#}"
        );
    }
}

#[test]
fn seed_layout_with_pip_installed_wheel_verifies_by_rebuild() {
    let _serial = serial();
    let p = Project::new(
        "seedproj",
        &[
            (
                "docker/Dockerfile.base",
                &format!(
                    "FROM {}\nARG SOURCE_DATE_EPOCH\nENV LANG=C.UTF-8\nCOPY wheels /tmp/wheels\nRUN pip3 install --no-index --no-cache-dir --break-system-packages /tmp/wheels/*.whl\nWORKDIR /workspace\n",
                    bookworm_python()
                ),
            ),
            (
                "docker/Dockerfile.release",
                "FROM seedproj:base\nCOPY curvenet /workspace/curvenet\nWORKDIR /workspace/curvenet\nCMD [\"python3\", \"train.py\"]\n",
            ),
            ("curvenet/train.py", "import reprohello\nprint(reprohello.GREETING)\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    make_wheel(&p.dir.join("wheels"), "0.1.0");
    p.commit("seed layout");

    let release = p.repro(&["release", "--format", "json"]).expect(0);
    let images = release.json()["images"].as_array().unwrap().clone();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["role"], "base");
    // The lock names the base by its immutable tag.
    let base_name = images[0]["name"].as_str().unwrap();
    assert!(
        base_name.starts_with(&format!("{}:base-", p.image())),
        "{base_name}"
    );
    let lock = p.lock_text();
    assert!(
        lock.contains("role = \"base\"") && lock.contains("path = \"docker/Dockerfile.base\""),
        "{lock}"
    );
    // The release's FROM <image>:base is the base just built, not a registry base.
    assert_eq!(lock.matches("[[base]]").count(), 1, "{lock}");
    // The release is the base's layers, byte for byte, and then its own: BuildKit's second
    // rewrite of the base's layers (before 0.24) costs time, not bytes.
    let locked: toml::Value = toml::from_str(&lock).unwrap();
    let layers = |role: &str| -> Vec<String> {
        let image = locked["image"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["role"].as_str() == Some(role))
            .unwrap();
        image["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    };
    let (base_layers, release_layers) = (layers("base"), layers("release"));
    // Its own: the COPY, and WORKDIR's empty layer.
    assert_eq!(release_layers.len(), base_layers.len() + 2, "{lock}");
    assert_eq!(
        release_layers[..base_layers.len()],
        base_layers[..],
        "{lock}"
    );

    let tag = images[1]["name"].as_str().unwrap();
    let out = docker(&["run", "--rm", "--network", "none", tag]);
    assert_eq!(out.stdout, "hello from a locked environment\n");

    let (_tmp, review) = p.clone_with_lock();
    prune_build_cache();
    let verify = docker_in(
        &review,
        &["repro", "verify", "--rebuild", "--format", "json"],
    )
    .expect(0);
    let report = verify.json();
    assert_eq!(report["verdict"], "identical");
    assert_eq!(report["images"].as_array().unwrap().len(), 2);
}

#[test]
fn arg_built_multi_stage_froms_are_pinned_and_rebuild() {
    let _serial = serial();
    let p = Project::new(
        "argstages",
        &[(
            "Dockerfile",
            "ARG REGISTRY=example.invalid\nARG BASE=${REGISTRY}/repro-test/busybox:1\nFROM ${BASE} AS build\nRUN echo built > /out\nFROM build AS again\nFROM $BASE\nCOPY --from=again /out /out\nCMD [\"cat\", \"/out\"]\n",
        )],
    );
    p.repro(&[
        "release",
        "-q",
        "--build-arg",
        &format!("REGISTRY={REGISTRY}"),
    ])
    .expect(0);
    let lock = p.lock_text();
    assert!(lock.contains(&format!("ref = \"{}\"", busybox())), "{lock}");
    assert!(
        lock.contains(&format!("REGISTRY = \"{REGISTRY}\"")),
        "{lock}"
    );
    assert_eq!(
        lock.matches("[[base]]").count(),
        1,
        "one base, used twice:\n{lock}"
    );
    prune_build_cache();
    p.repro(&["verify", "--rebuild", "-q"]).expect(0);
}

#[test]
fn dirty_tree_is_refused_then_recorded_and_never_verifies_by_rebuild() {
    let _serial = serial();
    let p = one_stage("dirty");
    p.write(&[("app/hello.txt", "edited\n"), ("notes.txt", "untracked\n")]);
    let refused = p.repro(&["release", "-q"]).expect(1);
    assert!(
        refused
            .stderr
            .contains("uncommitted changes: app/hello.txt;"),
        "{}",
        refused.stderr
    );
    assert!(!p.dir.join("repro.lock").exists());

    let allowed = p.repro(&["release", "-q", "--allow-dirty"]).expect(0);
    assert!(
        allowed.stderr.contains("can never be verified by rebuild"),
        "{}",
        allowed.stderr
    );
    assert!(p.lock_text().contains("dirty = true"));
    // The dirty build used the working tree.
    let tag = format!("{}:{}", p.image(), &p.git(&["rev-parse", "HEAD"])[..12]);
    assert_eq!(
        docker(&["run", "--rm", "--network", "none", &tag]).stdout,
        "edited\n"
    );
    let verify = p.repro(&["verify", "--rebuild"]).expect(1);
    assert!(
        verify.stderr.contains("can never be verified by rebuild"),
        "{}",
        verify.stderr
    );
}

#[test]
fn interrupted_release_leaves_the_old_lock_intact() {
    let _serial = serial();
    let p = one_stage("interrupt");
    p.repro(&["release", "-q"]).expect(0);
    let before = p.lock_text();
    p.write(&[(
        "Dockerfile",
        &format!("FROM {}\nRUN sleep 60\nCOPY app /app\n", busybox()),
    )]);
    p.commit("slow build");
    let stderr_path = p.dir.join("../release.stderr");
    let mut child = docker_cmd(&p.dir, &["repro", "release"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    // Wait until this build's slow RUN is underway (its own progress says so), then Ctrl-C
    // the plugin, the docker CLI's child.
    let started = Instant::now();
    let underway = || {
        std::fs::read_to_string(&stderr_path)
            .unwrap_or_default()
            .contains("RUN sleep 60")
            && build_running("sleep 60")
    };
    while !underway() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(underway(), "the slow build never started");
    let plugin = Command::new("pgrep")
        .args(["-P", &child.id().to_string()])
        .output()
        .unwrap();
    let plugin = String::from_utf8(plugin.stdout).unwrap();
    assert_eq!(
        plugin.split_whitespace().count(),
        1,
        "one plugin process under docker: {plugin:?}"
    );
    Command::new("kill")
        .args(["-INT", plugin.trim()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "exit code after Ctrl-C; stderr:\n{stderr}"
    );
    assert!(
        stderr.ends_with("error: interrupted; nothing was written\n"),
        "{stderr}"
    );
    assert_eq!(p.lock_text(), before, "the old lock is byte-identical");
    let leftovers: Vec<String> = std::fs::read_dir(&p.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".docker-repro-tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // BuildKit cancels a build whose client went away asynchronously: give it a few seconds,
    // far less than the minute the RUN would take.
    let stopping = Instant::now();
    while build_running("sleep 60") && stopping.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!build_running("sleep 60"), "the build was stopped");
}

fn build_running(pattern: &str) -> bool {
    Command::new("pgrep")
        .args(["-f", pattern])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn a_base_that_exists_only_locally_is_refused_with_a_hint() {
    let _serial = serial();
    let local = format!("repro-local-only-{}:1", std::process::id());
    docker(&["tag", &busybox(), &local]);
    let p = Project::new("localbase", &[("Dockerfile", &format!("FROM {local}\n"))]);
    let run = p.repro(&["release", "-q"]).expect(1);
    assert!(
        run.stderr.contains(&format!(
            "Dockerfile:1: base image {local} exists only in the local engine"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("push it to a registry"),
        "{}",
        run.stderr
    );
    docker(&["rmi", &local]);
}

#[test]
fn push_by_digest_and_archive_then_verify_from_the_registry() {
    let _serial = serial();
    let p = one_stage("pushed");
    p.write(&[("app/unique.txt", "pushed\n")]);
    p.commit("content no other test has");
    let repo = format!("{REGISTRY}/repro-test/pushed-{}", std::process::id());
    let archive = p.dir.join("../paper.oci.tar");
    let release = p
        .repro(&[
            "release",
            "-q",
            "--image",
            &repo,
            "--push",
            "--archive",
            archive.to_str().unwrap(),
            "--format",
            "json",
        ])
        .expect(0);
    let locked = release.json()["images"][0]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string();

    // The archive holds exactly the locked image.
    let image = docker_repro::image::archive::read_image(
        &archive,
        &docker_repro::image::archive::Select::Only,
    )
    .unwrap();
    assert_eq!(image.manifest_digest, locked);

    // The registry serves the locked digest.
    let pinned = format!("{repo}@{locked}");
    docker(&["buildx", "imagetools", "inspect", "--raw", &pinned]);

    // With the engine's copy gone, verify finds it in the registry.
    docker(&["rmi", "--force", &locked]);
    let verify = p.repro(&["verify", "--format", "json"]).expect(0);
    assert_eq!(verify.json()["images"][0]["source"], "registry");
}

#[test]
fn zstd_layers_are_locked_and_a_rebuild_compresses_as_locked() {
    let _serial = serial();
    let p = Project::new(
        "zstdrel",
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nRUN echo environment > /env.txt\nCOPY app /app\n",
                    busybox()
                ),
            ),
            ("app/hello.txt", "zstd\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    let archive = p.dir.join("../zstd.oci.tar");
    let release = p
        .repro(&[
            "release",
            "-q",
            "--compression",
            "zstd",
            "--archive",
            archive.to_str().unwrap(),
            "--format",
            "json",
        ])
        .expect(0);
    let lock = p.lock_text();
    assert!(lock.contains("compression = \"zstd\"\n"), "{lock}");
    // Every layer the build made is zstd; the registry base's layer is kept as the registry
    // serves it (gzip), so that it stays the layer the image shares with its base.
    let digest = release.json()["images"][0]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mut entries = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    let wanted = format!("blobs/sha256/{}", &digest[7..]);
    let mut manifest = String::new();
    for entry in entries.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_string_lossy() == wanted {
            std::io::Read::read_to_string(&mut entry, &mut manifest).unwrap();
        }
    }
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let types: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(types.len(), 3, "{manifest}");
    assert!(types[0].ends_with("tar+gzip"), "{types:?}");
    assert!(
        types[1..].iter().all(|t| t.ends_with("tar+zstd")),
        "{types:?}"
    );
    let pulled: serde_json::Value = serde_json::from_str(
        &docker(&["buildx", "imagetools", "inspect", "--raw", &busybox()]).stdout,
    )
    .unwrap();
    assert_eq!(
        manifest["layers"][0]["digest"], pulled["layers"][0]["digest"],
        "{manifest}"
    );
    // The inventory reads it, and a rebuild from a clone compresses as locked: identical.
    docker_in(
        &p.dir,
        &["repro", "inspect", "--archive", archive.to_str().unwrap()],
    )
    .expect(0);
    let (_tmp, review) = p.clone_with_lock();
    prune_build_cache();
    docker_in(&review, &["repro", "verify", "--rebuild", "-q"]).expect(0);
}

#[test]
fn a_stage_the_target_does_not_reach_pulls_nothing_and_is_not_pinned() {
    let _serial = serial();
    // An internal tool image nobody can pull: a build of the last stage never reaches it.
    let p = Project::new(
        "unreached",
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {REGISTRY}/repro-test/no-such-internal-tool:1 AS devtools\nRUN exit 1\n\nFROM {} AS release\nCOPY app /app\n",
                    busybox()
                ),
            ),
            ("app/hello.txt", "reached\n"),
        ],
    );
    p.repro(&["release", "-q"]).expect(0);
    let lock = p.lock_text();
    assert!(lock.contains(&format!("ref = \"{}\"", busybox())), "{lock}");
    assert!(!lock.contains("no-such-internal-tool"), "{lock}");
    // Asked for, the stage is built, and its base cannot be resolved: one line, exit 1.
    let refused = p
        .repro(&["release", "-q", "--target", "devtools"])
        .expect(1);
    assert!(
        refused.stderr.contains("no-such-internal-tool:1") && refused.stderr.lines().count() == 1,
        "{}",
        refused.stderr
    );
}

#[test]
fn untracked_files_never_block_a_release_and_compiled_bytecode_rebuilds_identical() {
    let _serial = serial();
    // `python -m compileall` writes each source file's time into its .pyc; without an ARG
    // SOURCE_DATE_EPOCH the build does not make it hash-based.
    let p = Project::new(
        "bytecode",
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nCOPY app /app\nRUN python3 -m compileall -q /app\n",
                    bookworm_python()
                ),
            ),
            ("app/train.py", "print('training')\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    // What the daily loop leaves behind: bytecode and outputs nobody committed.
    p.write(&[
        ("app/__pycache__/train.cpython-311.pyc", "stale"),
        ("outputs/run1.log", "loss 0.1\n"),
    ]);
    let release = p.repro(&["release", "-q"]).expect(0);
    assert!(
        release.stderr.contains("untracked files are not in the release, which is built from the commit: app/__pycache__/train.cpython-311.pyc, outputs/run1.log; `git add` what belongs to it, and list generated files (__pycache__/, outputs) in .gitignore"),
        "{}",
        release.stderr
    );
    let lock = p.lock_text();
    assert!(lock.contains("dirty = false"), "{lock}");
    // The untracked .pyc never reached the image: the one there was compiled in the build.
    let tag = format!("{}:{}", p.image(), &p.git(&["rev-parse", "HEAD"])[..12]);
    let pyc = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &tag,
        "cat",
        "/app/__pycache__/train.cpython-311.pyc",
    ]);
    assert_ne!(pyc.stdout, "stale");
    // A reviewer's clone is checked out at another time; the bytecode is the same.
    let (_tmp, clone) = p.clone_with_lock();
    prune_build_cache();
    let verify = docker_in(&clone, &["repro", "verify", "--rebuild"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(verify.stdout.contains("identical"), "{}", verify.stdout);
}

/// Commits everything at `date` (the test projects' own commits all share one date).
fn commit_at(p: &Project, message: &str, date: &str) {
    p.git(&["add", "-A"]);
    git_at(&p.dir, &["commit", "-q", "-m", message], date);
}

fn digest_of(lock: &str, role: &str) -> String {
    let lock: toml::Value = toml::from_str(lock).unwrap();
    lock["image"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["role"].as_str() == Some(role))
        .unwrap()["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn commits_that_change_only_code_build_the_same_base() {
    let _serial = serial();
    let _tags = RemoveTags("kept-base");
    let p = Project::new(
        "kept-base",
        &[
            (
                "docker/Dockerfile.base",
                &format!(
                    "FROM {}\nARG SOURCE_DATE_EPOCH\nCOPY requirements.txt /env/requirements.txt\nRUN mkdir -p /env/site && cp /env/requirements.txt /env/site/installed\n",
                    busybox()
                ),
            ),
            (
                "docker/Dockerfile.release",
                "FROM kept-base:base\nCOPY code /workspace/code\nWORKDIR /workspace/code\n",
            ),
            ("requirements.txt", "numpy==1.26.4\n"),
            ("code/train.py", "print('v1')\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    p.repro(&["release", "-q"]).expect(0);
    let first = p.lock_text();
    assert!(
        !first.contains("base_source_date_epoch"),
        "one commit: one epoch\n{first}"
    );

    // A lock as releases cut before base fingerprints wrote it (no fingerprint, the base named
    // by :base) still verifies by rebuild, and the next release builds the base rather than
    // keeping it.
    let fingerprint_line = first
        .lines()
        .find(|l| l.starts_with("base_fingerprint = "))
        .expect("a fingerprint");
    let immutable = first
        .lines()
        .find(|l| l.starts_with("name = \"kept-base:base-"))
        .expect("an immutable base tag");
    let old = first
        .replace(&format!("{fingerprint_line}\n"), "")
        .replace(immutable, "name = \"kept-base:base\"");
    std::fs::write(p.dir.join("repro.lock"), &old).unwrap();
    let (_old_tmp, old_clone) = p.clone_with_lock();
    let verify_old = docker_in(&old_clone, &["repro", "verify", "--rebuild", "-q"]);
    assert_eq!(
        verify_old.code, 0,
        "{}{}",
        verify_old.stdout, verify_old.stderr
    );

    // A month later, only the code changes: the same base, by digest.
    p.write(&[("code/train.py", "print('v2')\n")]);
    commit_at(&p, "code only", "2024-06-01T12:00:00Z");
    let release = p.repro(&["release"]).expect(0);
    assert!(
        release.stderr.contains("records no fingerprint"),
        "{}",
        release.stderr
    );
    let second = p.lock_text();
    assert_eq!(
        digest_of(&second, "base"),
        digest_of(&first, "base"),
        "{}",
        release.stderr
    );
    assert_ne!(digest_of(&second, "release"), digest_of(&first, "release"));
    assert!(
        second.contains("source_date_epoch = 1717243200\n"),
        "{second}"
    );
    assert!(
        second.contains("base_source_date_epoch = 1714564800\n"),
        "{second}"
    );
    // A reviewer rebuilds both from a clone, the base with its own epoch.
    let (_tmp, clone) = p.clone_with_lock();
    prune_build_cache();
    let verify = docker_in(&clone, &["repro", "verify", "--rebuild"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);

    // The environment's inputs change: a new base.
    p.write(&[("requirements.txt", "numpy==2.0.0\n")]);
    commit_at(&p, "numpy 2", "2024-07-01T12:00:00Z");
    p.repro(&["release", "-q"]).expect(0);
    let third = p.lock_text();
    assert_ne!(digest_of(&third, "base"), digest_of(&first, "base"));
    assert!(!third.contains("base_source_date_epoch"), "{third}");
}

/// A release shows one line per phase with the time since it started, and one line per
/// Dockerfile step as the step starts, not BuildKit's log; `--progress plain` shows BuildKit's
/// whole log instead, and `-q` neither.
#[test]
fn release_progress_is_a_line_per_phase_and_step_and_plain_keeps_buildkits_log() {
    let _serial = serial();
    let p = Project::new(
        "progresslines",
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nRUN echo built > /built\nCOPY app /app\n",
                    busybox()
                ),
            ),
            ("app/hello.txt", "hello\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    let phases = p.repro(&["release", "--format", "json"]).expect(0);
    let names: Vec<String> = phases.json()["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    let stderr = &phases.stderr;
    let building = stderr
        .lines()
        .find(|l| l.starts_with("==> building "))
        .unwrap_or_else(|| panic!("no building phase:\n{stderr}"));
    assert!(
        building.ends_with(']') && building.contains(" [0:"),
        "{building}"
    );
    let step = |text: &str| {
        stderr
            .lines()
            .any(|l| l.starts_with("    [") && l.contains(&format!("/3] {text} (0:")))
    };
    assert!(step("RUN echo built > /built"), "{stderr}");
    assert!(step("COPY app /app"), "{stderr}");
    assert!(!stderr.lines().any(|l| l.starts_with('#')), "{stderr}");

    let plain = p
        .repro(&["release", "--progress", "plain", "--format", "json"])
        .expect(0);
    assert!(
        plain
            .stderr
            .lines()
            .any(|l| l.starts_with('#') && l.contains("DONE")),
        "{}",
        plain.stderr
    );
    assert!(
        !plain.stderr.contains("/3] RUN echo built > /built (0:"),
        "{}",
        plain.stderr
    );

    let quiet = p.repro(&["release", "-q"]).expect(0);
    assert!(
        !quiet.stderr.contains("==>") && !quiet.stderr.contains("/3] RUN"),
        "{}",
        quiet.stderr
    );
    for name in names {
        docker(&["image", "rm", &name]);
    }
}

/// Removes every tag of a repository when dropped: the kept-base tests make several.
struct RemoveTags(&'static str);

impl Drop for RemoveTags {
    fn drop(&mut self) {
        let listed = Command::new("docker")
            .args([
                "image",
                "ls",
                "--format",
                "{{.Repository}}:{{.Tag}}",
                self.0,
            ])
            .output()
            .unwrap();
        for tag in String::from_utf8_lossy(&listed.stdout).lines() {
            let _ = Command::new("docker")
                .args(["image", "rm", "--force", tag])
                .output();
        }
    }
}

fn base_fingerprint(lock: &str) -> String {
    let lock: toml::Value = toml::from_str(lock).unwrap();
    lock["build"]["base_fingerprint"]
        .as_str()
        .unwrap()
        .to_string()
}

fn engine_id(reference: &str) -> String {
    docker(&["image", "inspect", "--format", "{{.Id}}", reference])
        .stdout
        .trim()
        .to_string()
}

#[test]
fn a_base_with_unchanged_inputs_is_kept_by_its_digest_and_never_taken_by_its_tag() {
    let _serial = serial();
    let _tags = RemoveTags("kept-fp");
    let p = Project::new(
        "kept-fp",
        &[
            (
                "docker/Dockerfile.base",
                &format!(
                    "FROM {}\nARG SOURCE_DATE_EPOCH\nCOPY requirements.txt /env/requirements.txt\nRUN mkdir -p /env/site && cp /env/requirements.txt /env/site/installed\n",
                    busybox()
                ),
            ),
            (
                "docker/Dockerfile.release",
                "FROM kept-fp:base\nCOPY code /workspace/code\nWORKDIR /workspace/code\n",
            ),
            ("requirements.txt", "numpy==1.26.4\n"),
            ("code/train.py", "print('v1')\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    let first = p.repro(&["release"]).expect(0);
    assert!(
        first
            .stderr
            .contains("building kept-fp:base from docker/Dockerfile.base"),
        "{}",
        first.stderr
    );
    let lock1 = p.lock_text();
    let fingerprint = base_fingerprint(&lock1);
    let base = digest_of(&lock1, "base");
    // The lock names the base by its immutable tag, which the engine has beside :base.
    let immutable = format!("kept-fp:base-{}", &fingerprint["sha256:".len()..][..12]);
    assert!(
        lock1.contains(&format!("name = \"{immutable}\"\n")),
        "{lock1}"
    );
    assert_eq!(engine_id(&immutable), base);
    assert_eq!(engine_id("kept-fp:base"), base);

    // Only the code changes, and someone points the immutable tag at another image: the base
    // is kept by the lock's digest, not built, and the tag names it again.
    let release1 = format!("kept-fp:{}", &p.git(&["rev-parse", "HEAD"])[..12]);
    let release1_id = engine_id(&release1);
    docker(&["tag", &release1, &immutable]);
    p.write(&[("code/train.py", "print('v2')\n")]);
    commit_at(&p, "code only", "2024-06-01T12:00:00Z");
    let second = p.repro(&["release"]).expect(0);
    assert!(
        second.stderr.contains(&format!(
            "base unchanged (fingerprint {fingerprint}): kept {base} (engine), not built"
        )),
        "{}",
        second.stderr
    );
    assert!(
        !second.stderr.contains("building kept-fp:base from"),
        "{}",
        second.stderr
    );
    assert!(
        second
            .stderr
            .contains(&format!("{immutable} named {release1_id}")),
        "{}",
        second.stderr
    );
    let lock2 = p.lock_text();
    assert_eq!(digest_of(&lock2, "base"), base);
    assert_eq!(base_fingerprint(&lock2), fingerprint);
    assert!(
        lock2.contains("base_source_date_epoch = 1714564800\n"),
        "{lock2}"
    );
    assert_eq!(engine_id(&immutable), base);
    // A reviewer rebuilds the release built on the kept base, and the base with its epoch.
    let (_tmp, clone) = p.clone_with_lock();
    let verify = docker_in(&clone, &["repro", "verify", "--rebuild", "-q"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);

    // --rebuild-base builds it all the same and says it came out identical.
    let rebuilt = p.repro(&["release", "--rebuild-base"]).expect(0);
    assert!(
        rebuilt
            .stderr
            .contains("building kept-fp:base from docker/Dockerfile.base"),
        "{}",
        rebuilt.stderr
    );
    assert!(
        rebuilt.stderr.contains(&format!(
            "--rebuild-base: the base came out identical to the kept one ({base})"
        )),
        "{}",
        rebuilt.stderr
    );
    // The same commit, its base built rather than kept: the same lock, byte for byte.
    assert_eq!(p.lock_text(), lock2);

    // The kept base is gone from the engine and both its tags name another image: that image
    // is never used; the base is built again, and comes out as the locked one.
    // By its names, then by its digest (a dangling record of it may be left).
    docker(&["image", "rm", "--force", &immutable, "kept-fp:base"]);
    let _ = Command::new("docker")
        .args(["image", "rm", "--force", &base])
        .output();
    let gone = Command::new("docker")
        .args(["image", "inspect", &base])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "{base} is still in the engine");
    docker(&["tag", &release1, &immutable]);
    docker(&["tag", &release1, "kept-fp:base"]);
    p.write(&[("code/train.py", "print('v3')\n")]);
    commit_at(&p, "code again", "2024-06-15T12:00:00Z");
    let tampered = p.repro(&["release"]).expect(0);
    assert!(
        tampered.stderr.contains(&format!(
            "base unchanged (fingerprint {fingerprint}), but the kept base {base} is not in the engine"
        )),
        "{}",
        tampered.stderr
    );
    assert!(
        tampered
            .stderr
            .contains("building kept-fp:base from docker/Dockerfile.base"),
        "{}",
        tampered.stderr
    );
    assert_eq!(digest_of(&p.lock_text(), "base"), base);
    assert_eq!(engine_id(&immutable), base);

    // The environment's inputs change: a new base, and progress says why.
    p.write(&[("requirements.txt", "numpy==2.0.0\n")]);
    commit_at(&p, "numpy 2", "2024-07-01T12:00:00Z");
    let changed = p.repro(&["release"]).expect(0);
    assert!(
        changed.stderr.contains(&format!(
            "base inputs changed (fingerprint {fingerprint} in"
        )),
        "{}",
        changed.stderr
    );
    let lock3 = p.lock_text();
    assert_ne!(digest_of(&lock3, "base"), base);
    assert_ne!(base_fingerprint(&lock3), fingerprint);
}

#[test]
fn a_base_input_outside_the_commit_is_named_before_anything_is_built() {
    let _serial = serial();
    let p = Project::new(
        "kept-missing",
        &[
            (
                "docker/Dockerfile.base",
                &format!(
                    "FROM {}\nCOPY requirements.txt /env/requirements.txt\n",
                    busybox()
                ),
            ),
            (
                "docker/Dockerfile.release",
                "FROM kept-missing:base\nCOPY code /workspace/code\n",
            ),
            ("code/train.py", "print('v1')\n"),
        ],
    );
    // Written after the commit: in the working tree, never in the release.
    p.write(&[("requirements.txt", "numpy==1.26.4\n")]);
    let refused = p.repro(&["release", "-q"]).expect(1);
    // The untracked file is warned about; the refusal is one line.
    let errors: Vec<&str> = refused
        .stderr
        .lines()
        .filter(|l| !l.starts_with("warning: "))
        .collect();
    assert_eq!(errors.len(), 1, "{}", refused.stderr);
    let message = errors[0];
    assert!(
        message.contains("docker/Dockerfile.base: the base Dockerfile copies requirements.txt, which is not in its build context (not committed, or left out by .dockerignore); commit it (git add), or take it out of the Dockerfile"),
        "{message}"
    );
    assert!(!p.dir.join("repro.lock").exists());
}

/// Releases two projects and then a second commit of one, each holding `app/x.txt` of the same
/// size and the same commit time but other bytes, one after the other on the engine `host`,
/// then rebuilds the first: each image must hold its own file. BuildKit keeps a copy of each
/// build context between builds and sends only the files whose size, time or mode changed,
/// and a materialised commit gives every file the same time.
pub(crate) fn releases_in_a_row_build_their_own_files(host: Option<&str>, prefix: &str) {
    let on = |dir: &std::path::Path, args: &[&str]| -> Run {
        let mut full: Vec<&str> = Vec::new();
        if let Some(host) = host {
            full.extend(["-H", host]);
        }
        full.extend(args);
        docker_in(dir, &full)
    };
    let project = |name: &str, value: &str| {
        Project::new(
            &format!("{prefix}{name}"),
            &[
                (
                    "Dockerfile",
                    &format!(
                        "FROM {}\nCOPY app /app\nCMD [\"cat\", \"/app/x.txt\"]\n",
                        busybox()
                    ),
                ),
                ("app/x.txt", value),
                (".dockerignore", ".git\n"),
            ],
        )
    };
    let release_and_run = |p: &Project| -> (String, String) {
        on(&p.dir, &["repro", "release", "-q"]).expect(0);
        let lock: toml::Value = toml::from_str(&p.lock_text()).unwrap();
        let image = &lock["image"][0];
        let name = image["name"].as_str().unwrap().to_string();
        let printed = on(&p.dir, &["run", "--rm", "--network", "none", &name])
            .expect(0)
            .stdout;
        (
            printed,
            image["manifest_digest"].as_str().unwrap().to_string(),
        )
    };
    let first = project("one", "value = 0.1\n");
    let second = project("two", "value = 0.2\n");
    let (printed, first_digest) = release_and_run(&first);
    assert_eq!(printed, "value = 0.1\n");
    let (printed, second_digest) = release_and_run(&second);
    assert_eq!(
        printed, "value = 0.2\n",
        "built from the first project's files"
    );
    assert_ne!(first_digest, second_digest);

    // A second commit of one project, at the same commit time.
    second.write(&[("app/x.txt", "value = 0.3\n")]);
    second.commit("the next value");
    let (printed, _) = release_and_run(&second);
    assert_eq!(
        printed, "value = 0.3\n",
        "built from the previous commit's files"
    );

    // The first project rebuilt after the others: its own bytes, so identical to its lock.
    on(&first.dir, &["repro", "verify", "--rebuild", "-q"]).expect(0);
    for p in [&first, &second] {
        let lock: toml::Value = toml::from_str(&p.lock_text()).unwrap();
        let name = lock["image"][0]["name"].as_str().unwrap().to_string();
        let _ = on(&p.dir, &["rmi", "--force", &name]);
    }
}

#[test]
fn releases_in_a_row_with_equal_size_equal_time_files_each_build_their_own() {
    let _serial = serial();
    releases_in_a_row_build_their_own_files(None, "samesize");
}

/// A release whose new base was loaded into the engine (to build the release on it there)
/// but whose release build then fails moves no tag: `:base` and `:base-<fingerprint>` name
/// what they named before, and the old lock is left as it was.
#[test]
fn a_release_that_fails_after_its_new_base_was_loaded_puts_the_base_tags_back() {
    let _serial = serial();
    let _tags = RemoveTags("tags-back");
    let p = Project::new(
        "tags-back",
        &[
            (
                "docker/Dockerfile.base",
                &format!(
                    "FROM {}\nARG SOURCE_DATE_EPOCH\nCOPY requirements.txt /env/requirements.txt\n",
                    busybox()
                ),
            ),
            (
                "docker/Dockerfile.release",
                "FROM tags-back:base\nCOPY code /workspace/code\n",
            ),
            ("requirements.txt", "numpy==1.26.4\n"),
            ("code/train.py", "print('v1')\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    p.repro(&["release", "-q"]).expect(0);
    let first = p.lock_text();
    let base_before = engine_id("tags-back:base");
    assert!(!base_before.is_empty(), "the first release tagged its base");

    // New base inputs, and a release step that fails: the new base is built and loaded,
    // then the release build stops.
    p.write(&[
        ("requirements.txt", "numpy==2.0.0\n"),
        (
            "docker/Dockerfile.release",
            "FROM tags-back:base\nCOPY code /workspace/code\nRUN false\n",
        ),
    ]);
    commit_at(&p, "numpy 2, broken release", "2024-07-01T12:00:00Z");
    let failed = p.repro(&["release"]);
    assert_eq!(failed.code, 1, "{}{}", failed.stdout, failed.stderr);
    assert!(
        failed.stderr.contains("loading tags-back:base"),
        "the new base was loaded before the release was built on it: {}",
        failed.stderr
    );
    assert_eq!(
        engine_id("tags-back:base"),
        base_before,
        "{}",
        failed.stderr
    );
    let new_fingerprint_tag = docker(&[
        "image",
        "ls",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "tags-back",
    ])
    .stdout;
    assert!(
        new_fingerprint_tag
            .lines()
            .filter(|t| t.starts_with("tags-back:base-"))
            .count()
            == 1,
        "only the first release's immutable base tag: {new_fingerprint_tag}"
    );
    assert_eq!(p.lock_text(), first, "the old lock is left as it was");
}

/// A machine's first release reads the registry image its base stands on from the builder,
/// beside the base's build. Where that export fails (here a `docker` on PATH that fails it and
/// passes every other command to the real one), the release stops in one line that names the
/// image and the builder's error, exit 1: no lock, and the base's tags are put back.
#[test]
fn a_first_release_whose_registry_image_cannot_be_read_says_so_and_writes_nothing() {
    let _serial = serial();
    let _tags = RemoveTags("regread");
    let p = Project::new(
        "regread",
        &[
            (
                "docker/Dockerfile.base",
                &format!(
                    "FROM {}\nARG SOURCE_DATE_EPOCH\nCOPY requirements.txt /env/requirements.txt\n",
                    busybox()
                ),
            ),
            (
                "docker/Dockerfile.release",
                "FROM regread:base\nCOPY code /workspace/code\n",
            ),
            ("requirements.txt", "numpy==1.26.4\n"),
            ("code/train.py", "print('v1')\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    let bin = docker_failing_on(
        "*\"--file - \"*) echo 'ERROR: failed to solve: the export broke' >&2; exit 1;;",
    );
    // A cache of its own, empty: this machine has never read the registry image.
    let cache = tempfile::tempdir().unwrap();
    let out = docker_cmd(&p.dir, &["repro", "release"])
        .env("PATH", path_with(bin.path()))
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "error: reading the packages of 127.0.0.1:5000/repro-test/busybox@sha256:"
        ) && last.contains(", the registry image the base stands on, from the builder: ")
            && last.contains("ERROR: failed to solve: the export broke"),
        "{stderr}"
    );
    assert!(!p.dir.join("repro.lock").exists(), "{stderr}");
    let tags = docker(&[
        "image",
        "ls",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "regread",
    ])
    .stdout;
    assert!(tags.trim().is_empty(), "tags left behind: {tags}");
    // The export's argv names its context inside the release's work directory: gone too.
    let context = last
        .split_whitespace()
        .find(|word| word.ends_with("/registry-context`"))
        .map(|word| word.trim_end_matches('`'))
        .unwrap_or_else(|| panic!("no context in: {last}"));
    let work = std::path::Path::new(context).parent().unwrap();
    assert!(!work.exists(), "{} left behind", work.display());
}

/// Ctrl-C while the release is built on a new base the engine holds already: the base's tags
/// are put back (the commands that do it run after the interrupt), exit 130, the old lock kept.
#[test]
fn an_interrupted_release_on_a_new_loaded_base_puts_the_base_tags_back() {
    let _serial = serial();
    let _tags = RemoveTags("tags-int");
    let p = Project::new(
        "tags-int",
        &[
            (
                "docker/Dockerfile.base",
                &format!(
                    "FROM {}\nARG SOURCE_DATE_EPOCH\nCOPY requirements.txt /env/requirements.txt\n",
                    busybox()
                ),
            ),
            (
                "docker/Dockerfile.release",
                "FROM tags-int:base\nCOPY code /workspace/code\n",
            ),
            ("requirements.txt", "numpy==1.26.4\n"),
            ("code/train.py", "print('v1')\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    p.repro(&["release", "-q"]).expect(0);
    let first = p.lock_text();
    let base_before = engine_id("tags-int:base");
    p.write(&[
        ("requirements.txt", "numpy==2.0.0\n"),
        (
            "docker/Dockerfile.release",
            "FROM tags-int:base\nCOPY code /workspace/code\nRUN sleep 61\n",
        ),
    ]);
    commit_at(&p, "numpy 2, slow release", "2024-07-01T12:00:00Z");
    let stderr_path = p.dir.join("../tags-int.stderr");
    let mut child = docker_cmd(&p.dir, &["repro", "release"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let underway = || {
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        stderr.contains("loading tags-int:base")
            && stderr.contains("RUN sleep 61")
            && build_running("sleep 61")
    };
    while !underway() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        underway(),
        "the release build on the loaded base never started: {}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    assert_ne!(
        engine_id("tags-int:base"),
        base_before,
        "the new base was loaded under :base before the release was built on it"
    );
    let plugin = Command::new("pgrep")
        .args(["-P", &child.id().to_string()])
        .output()
        .unwrap();
    let plugin = String::from_utf8(plugin.stdout).unwrap();
    Command::new("kill")
        .args(["-INT", plugin.trim()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_eq!(engine_id("tags-int:base"), base_before, "{stderr}");
    assert_eq!(p.lock_text(), first, "the old lock is left as it was");
    let stopping = Instant::now();
    while build_running("sleep 61") && stopping.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(200));
    }
}
