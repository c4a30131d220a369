//! Across Docker versions: a release cut on the test bed's first engine (Debian trixie's Docker
//! 26.1, BuildKit 0.13, dockerd built with Go 1.24) is rebuilt on the second (Debian sid's
//! Docker 28.5, BuildKit 0.25, Go 1.27), reached as a remote engine with docker's global flag
//! `-H`, and the other way round. Every layer the builds make is written by the tool's own
//! encoder and every image config in its canonical form (`image_config = "canonical/1"`), so
//! the rebuild is `identical` (exit 0): the same digests, byte for byte.
//!
//! The matrix: each of the three projects (a busybox COPY + RUN, a pip install that
//! writes `.pyc` files, the bundled example in its base + release layout) is released once on
//! each engine, and its two directions use the two compressions: six release-and-rebuild runs
//! cover every project in both directions and every compression in both directions, where the
//! full product (twelve) would double the file's time for no claim the six do not check.

use crate::common::*;
use std::path::Path;
use std::process::{Command, Stdio};

/// The second engine's address, as scripts/testbed.sh publishes it; a test bed without it
/// fails the test with the fix (never a silent skip).
fn sid_host() -> String {
    let host = std::env::var("REPRO_TESTBED_SID_HOST")
        .unwrap_or_else(|_| "unix:///var/run/docker-repro-sid.sock".into());
    let ok = Command::new("docker")
        .args(["-H", &host, "info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "no second engine at {host}: run `bash scripts/testbed.sh` as root (it starts Debian sid's engine), or set REPRO_TESTBED_SID_HOST"
    );
    host
}

/// `docker [-H host] ARGS` with the plugin's DOCKER_CONFIG, in `dir`.
fn docker_on(host: Option<&str>, dir: &Path, args: &[&str]) -> Run {
    let mut full: Vec<&str> = Vec::new();
    if let Some(host) = host {
        full.extend(["-H", host]);
    }
    full.extend(args);
    docker_in(dir, &full)
}

/// Copies an image from one engine to the other (`docker save | docker load`), as a reviewer
/// pulls the paper's image: the digests are kept.
fn copy_image(name: &str, from: Option<&str>, to: Option<&str>) {
    let with_host = |host: Option<&str>| {
        let mut cmd = Command::new("docker");
        if let Some(host) = host {
            cmd.args(["-H", host]);
        }
        cmd
    };
    let mut save = with_host(from)
        .args(["save", name])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let load = with_host(to)
        .arg("load")
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(save.wait().unwrap().success(), "docker save {name}");
    assert!(
        load.status.success(),
        "docker load {name}: {}",
        String::from_utf8_lossy(&load.stderr)
    );
}

/// Removes the images a test made from both engines, and the second engine's build cache, when
/// the test ends (passed or failed): the first engine's tests prune only their own engine.
struct Cleanup {
    sid: String,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for host in [None, Some(self.sid.as_str())] {
            let mut cmd = Command::new("docker");
            if let Some(host) = host {
                cmd.args(["-H", host]);
            }
            let _ = cmd.args(["rmi", "--force"]).args(&self.images).output();
        }
        let _ = Command::new("docker")
            .args(["-H", &self.sid, "buildx", "prune", "--all", "--force"])
            .output();
    }
}

/// The release's name and manifest digest in a lock.
fn locked_images(lock: &str) -> Vec<(String, String)> {
    let lock: toml::Value = toml::from_str(lock).unwrap();
    lock["image"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["manifest_digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Releases on `author`, copies the locked images to `reviewer` (as a reviewer pulls the
/// paper's image), verifies by rebuild there, and checks the verdict: identical, exit 0.
fn release_and_verify_across(
    p: &Project,
    author: Option<&str>,
    reviewer: Option<&str>,
    release_args: &[&str],
    cleanup: &mut Cleanup,
) {
    let mut release = vec!["repro", "release", "-q"];
    release.extend(release_args);
    docker_on(author, &p.dir, &release).expect(0);
    let lock = p.lock_text();
    cleanup
        .images
        .extend(locked_images(&lock).into_iter().map(|(name, _)| name));
    for key in [
        "containerd = ",
        "engine_go = \"go1.",
        "image_config = \"canonical/1\"\n",
        "layer_encoder = \"parallel/1\"\n",
        "timestamps = \"encoded\"\n",
    ] {
        assert!(lock.contains(key), "{key} in\n{lock}");
    }
    assert_release_annotated(&lock, author);
    for (name, _) in locked_images(&lock) {
        copy_image(&name, author, reviewer);
    }
    let (_tmp, review) = p.clone_with_lock();
    let json = docker_on(
        reviewer,
        &review,
        &["repro", "verify", "--rebuild", "--format", "json"],
    );
    eprintln!("{}\n{}", json.stdout, json.stderr);
    let report = json.expect(0).json();
    assert_eq!(report["verdict"], "identical", "{report:#}");
    for image in report["images"].as_array().unwrap() {
        assert_eq!(image["status"], "identical", "{report:#}");
    }
}

/// The release's manifest, as the engine `host` saves it, carries the annotations the lock
/// records: its commit and its epoch as an RFC 3339 time (`org.opencontainers.image.*`).
fn assert_release_annotated(lock: &str, host: Option<&str>) {
    let parsed: toml::Value = toml::from_str(lock).unwrap();
    let locked = parsed["build"]["annotations"].clone();
    let commit = parsed["source"]["commit"].as_str().unwrap();
    assert_eq!(
        locked["org.opencontainers.image.revision"].as_str(),
        Some(commit),
        "{lock}"
    );
    assert!(
        locked["org.opencontainers.image.created"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
        "{lock}"
    );
    let release = parsed["image"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["role"].as_str() == Some("release"))
        .unwrap();
    let name = release["name"].as_str().unwrap();
    let digest = release["manifest_digest"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("saved.tar");
    let mut save = Command::new("docker");
    if let Some(host) = host {
        save.args(["-H", host]);
    }
    let saved = save
        .args(["save", "--output"])
        .arg(&archive)
        .arg(name)
        .output()
        .unwrap();
    assert!(saved.status.success(), "docker save {name}");
    let blob = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    let manifest = Command::new("tar")
        .arg("-xOf")
        .arg(&archive)
        .arg(&blob)
        .output()
        .unwrap();
    assert!(manifest.status.success(), "{blob} in the saved {name}");
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.stdout).unwrap();
    if let Some(remote) = parsed["source"]["remote"]
        .as_str()
        .filter(|r| !r.is_empty())
    {
        assert_eq!(
            locked["org.opencontainers.image.source"].as_str(),
            Some(remote),
            "{lock}"
        );
    }
    for (key, value) in locked.as_table().unwrap() {
        assert_eq!(
            manifest["annotations"][key].as_str(),
            value.as_str(),
            "{key} on {name}@{digest}: {manifest:#}"
        );
    }
}

fn busybox_project(name: &str) -> Project {
    let p = Project::new(
        name,
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nARG SOURCE_DATE_EPOCH\nWORKDIR /app\nCOPY app /app\nRUN echo built > /app/stamp\nCMD [\"cat\", \"/app/hello.txt\"]\n",
                    busybox()
                ),
            ),
            ("app/hello.txt", "hello across engines\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    // A remote with a comma: the source annotation passes through buildx's comma-separated
    // `--output` quoted, and comes back as written.
    p.git(&[
        "remote",
        "add",
        "origin",
        "https://example.org/lab/busy,box.git",
    ]);
    p
}

/// A pip install of a committed wheel, with `ARG SOURCE_DATE_EPOCH` in scope so that pip
/// writes hash-based `.pyc` files, and an `ARG` with a default a build argument overrides
/// (BuildKit 0.14 and later write the value into the ARG's history line, 0.13 does not).
fn pip_project(name: &str) -> Project {
    let p = Project::new(
        name,
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nARG SOURCE_DATE_EPOCH\nARG MODE=train\nCOPY wheels /tmp/wheels\nRUN pip3 install --no-index --no-cache-dir --break-system-packages /tmp/wheels/*.whl\nWORKDIR /workspace\n",
                    bookworm_python()
                ),
            ),
            (".dockerignore", ".git\n"),
            ("repro.toml", "[release.build_args]\nMODE = \"eval\"\n"),
        ],
    );
    make_wheel(&p.dir.join("wheels"), "0.1.0");
    p.commit("wheels");
    p
}

/// The bundled example, its release's `FROM` renamed to this project's base.
fn example_project(name: &str) -> Project {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/curvenet");
    let p = Project::new(name, &[(".dockerignore", ".git\nwheels/*.tmp\n")]);
    copy_dir(&example, &p.dir);
    let release = p.dir.join("docker/Dockerfile.release");
    let text = std::fs::read_to_string(&release).unwrap();
    std::fs::write(
        &release,
        text.replace("curvenet:base", &format!("{name}:base")),
    )
    .unwrap();
    make_wheel(&p.dir.join("wheels"), "0.1.0");
    p.commit("the bundled example");
    p
}

/// Runs one project both ways: cut on Docker 26 with `there`, rebuilt on 28; cut on 28 with
/// `back`, rebuilt on 26.
fn both_ways(make: fn(&str) -> Project, name: &str, there: &[&str], back: &[&str]) {
    let _serial = serial();
    let sid = sid_host();
    let mut cleanup = Cleanup {
        sid: sid.clone(),
        images: Vec::new(),
    };
    let p = make(&format!("{name}a"));
    release_and_verify_across(&p, None, Some(&sid), there, &mut cleanup);
    let q = make(&format!("{name}b"));
    release_and_verify_across(&q, Some(&sid), None, back, &mut cleanup);
}

#[test]
fn a_busybox_copy_and_run_is_identical_across_docker_26_and_28() {
    both_ways(busybox_project, "xbusy", &[], &["--compression", "zstd"]);
}

#[test]
fn a_pip_install_with_pyc_files_is_identical_across_docker_26_and_28() {
    both_ways(pip_project, "xpip", &["--compression", "zstd"], &[]);
}

#[test]
fn the_bundled_example_is_identical_across_docker_26_and_28() {
    both_ways(example_project, "xcurve", &[], &["--compression", "zstd"]);
}

/// A layer of 10.9 MB of text, written by a RUN: many of the parallel gzip encoder's 1 MiB
/// blocks and two of libzstd's jobs, compressed on every core of each engine's machine, so the
/// single-stream and parallel encoders write other bytes of it.
pub(crate) fn numbers_project(name: &str) -> Project {
    Project::new(
        name,
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nARG SOURCE_DATE_EPOCH\nRUN seq 1 1500000 > /numbers\nCMD [\"wc\", \"-l\", \"/numbers\"]\n",
                    busybox()
                ),
            ),
            (".dockerignore", ".git\n"),
        ],
    )
}

#[test]
fn a_layer_of_many_encoder_blocks_is_identical_across_docker_26_and_28() {
    both_ways(numbers_project, "xblocks", &[], &["--compression", "zstd"]);
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// BuildKit exports a layer from whichever compressed variant of it the engine already holds
/// (measured: after an uncompressed export of the same build on Docker 28, a gzip release there
/// carried an uncompressed `WORKDIR` layer; the issue saw zstd base layers in a gzip release on
/// Docker 26). A release on an engine with no build cache, and the same commit released again
/// once the engine holds only an uncompressed variant of its layers, have the same digests.
#[test]
fn a_fresh_engine_and_one_holding_other_variants_give_the_same_digests() {
    let _serial = serial();
    let sid = sid_host();
    let mut cleanup = Cleanup {
        sid: sid.clone(),
        images: Vec::new(),
    };
    let prune = || {
        let prune = Command::new("docker")
            .args(["-H", &sid, "buildx", "prune", "--all", "--force"])
            .output()
            .unwrap();
        assert!(
            prune.status.success(),
            "{}",
            String::from_utf8_lossy(&prune.stderr)
        );
    };
    prune();
    let p = busybox_project("xvariant");
    docker_on(Some(&sid), &p.dir, &["repro", "release", "-q"]).expect(0);
    let fresh = p.lock_text();
    cleanup
        .images
        .extend(locked_images(&fresh).into_iter().map(|(name, _)| name));
    // The same build exported uncompressed on an engine with no other variant of its layers:
    // BuildKit then exports that variant into a gzip release.
    prune();
    let epoch = toml::from_str::<toml::Value>(&fresh).unwrap()["build"]["source_date_epoch"]
        .as_integer()
        .unwrap()
        .to_string();
    let out = tempfile::tempdir().unwrap();
    let dest = format!(
        "type=oci,dest={},compression=uncompressed",
        out.path().join("x.tar").display()
    );
    let plain = Command::new("docker")
        .args(["-H", &sid, "buildx", "build", "-q", "--no-cache"])
        .args(["--provenance=false", "--sbom=false"])
        .args(["--build-arg", &format!("SOURCE_DATE_EPOCH={epoch}")])
        .args(["--output", &dest, "."])
        .env("SOURCE_DATE_EPOCH", &epoch)
        .current_dir(&p.dir)
        .output()
        .unwrap();
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    docker_on(Some(&sid), &p.dir, &["repro", "release", "-q"]).expect(0);
    assert_eq!(p.lock_text(), fresh, "the busy engine's release differs");
}

/// A build context the engine's BuildKit (0.25 here) keeps from the previous release is never
/// what the next one is built from (see the first engine's test of the same name).
#[test]
fn releases_in_a_row_with_equal_size_equal_time_files_each_build_their_own_on_sid() {
    let _serial = serial();
    let sid = sid_host();
    let _cleanup = Cleanup {
        sid: sid.clone(),
        images: Vec::new(),
    };
    crate::release::releases_in_a_row_build_their_own_files(Some(&sid), "sidsamesize");
}

/// The `ACTION IMAGE` image events of the engine at `host` between two Unix times.
fn image_events(host: Option<&str>, since: u64, until: u64) -> Vec<String> {
    let mut cmd = Command::new("docker");
    if let Some(host) = host {
        cmd.args(["-H", host]);
    }
    let out = cmd
        .args(["events", "--filter", "type=image", "--format"])
        .arg("{{.Action}} {{.Actor.ID}}")
        .args(["--since", &since.to_string(), "--until", &until.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A release on a kept base the engine holds, on each engine: BuildKit takes the base's layers
/// from the engine's store, so the engine never saves it (its `save` events say so, not a
/// timing), and the release is loaded without them; the base's digest and the release's are
/// those of a release that saved it. Without the base's manifest and config on this machine
/// (another cache directory), the release falls back to saving and checking it, with the same
/// lock.
#[test]
fn a_release_on_a_kept_base_does_not_save_it_on_either_engine() {
    let _serial = serial();
    let sid = sid_host();
    for (host, name) in [(None, "keptnosave"), (Some(sid.as_str()), "keptnosavesid")] {
        let mut cleanup = Cleanup {
            sid: sid.clone(),
            images: Vec::new(),
        };
        let p = Project::new(
            name,
            &[
                (
                    "docker/Dockerfile.base",
                    &format!(
                        "FROM {}\nARG SOURCE_DATE_EPOCH\nCOPY requirements.txt /env/requirements.txt\nRUN cp /env/requirements.txt /env/installed\n",
                        busybox()
                    ),
                ),
                (
                    "docker/Dockerfile.release",
                    &format!("FROM {name}:base\nCOPY code /workspace/code\nWORKDIR /workspace/code\n"),
                ),
                ("requirements.txt", "numpy==1.26.4\n"),
                ("code/train.py", "print('v1')\n"),
                (".dockerignore", ".git\n"),
            ],
        );
        let cache = tempfile::tempdir().unwrap();
        let release_with = |cache: &Path, extra: &[&str]| {
            let mut args = Vec::new();
            if let Some(host) = host {
                args.extend(["-H", host]);
            }
            args.extend(["repro", "release"]);
            args.extend(extra);
            let out = docker_cmd(&p.dir, &args)
                .env("XDG_CACHE_HOME", cache)
                .output()
                .unwrap();
            Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        };
        let release = |cache: &Path| release_with(cache, &[]);
        let cold = release(cache.path()).expect(0);
        let first = p.lock_text();
        // The base just built: BuildKit exported it without the registry image's layer, whose
        // files were read from the builder beside the build, and the release without any of
        // the base's layers: that one is in the engine, the others were copied from the base's
        // own archive.
        let base_layers = toml::from_str::<toml::Value>(&first).unwrap()["image"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["role"].as_str() == Some("base"))
            .unwrap()["layers"]
            .as_array()
            .unwrap()
            .len();
        let registry_read = "the registry image the base stands on, as the builder pulls it";
        let registry_left_out = "exported without the registry image's 1 layer(s)";
        assert!(
            cold.stderr.contains(registry_read)
                && cold.stderr.contains(registry_left_out)
                && cold.stderr.contains(&format!(
                    "exported without the base's layers: {} copied from the base's archive",
                    base_layers - 1
                )),
            "{}",
            cold.stderr
        );
        cleanup
            .images
            .extend(locked_images(&first).into_iter().map(|(name, _)| name));
        let base = locked_images(&first)
            .into_iter()
            .find(|(n, _)| n.contains(":base-"))
            .unwrap()
            .1;

        p.write(&[("code/train.py", "print('v2')\n")]);
        p.git(&["add", "-A"]);
        git_at(
            &p.dir,
            &["commit", "-q", "-m", "code only"],
            "2024-06-01T12:00:00Z",
        );
        let since = unix_now();
        let kept = release(cache.path()).expect(0);
        // The engine writes an event up to a second after it; `--until` is exclusive.
        std::thread::sleep(std::time::Duration::from_secs(2));
        let events = image_events(host, since, unix_now());
        assert!(
            kept.stderr.contains(&format!(
                "taking the locked base {base} from the engine's store by its digest (not saved"
            )),
            "{}",
            kept.stderr
        );
        assert!(
            !events.contains(&format!("save {base}")),
            "the engine saved the kept base: {events:?}"
        );
        // The events are there to be read: the release itself was loaded.
        assert!(
            events.iter().any(|e| e.starts_with("load ")),
            "no load event of the release: {events:?}\n{}",
            kept.stderr
        );
        let lean = p.lock_text();
        cleanup
            .images
            .extend(locked_images(&lean).into_iter().map(|(name, _)| name));
        assert!(lean.contains(&base), "{lean}");
        // Nothing of the kept base is read again: BuildKit leaves its blobs out of the export,
        // and the release's inventory takes its files as the cold release merged them.
        let left_out = |run: &Run| {
            run.stderr.contains(&format!(
                "exported without the base's layers: the engine holds them ({base_layers} left out)"
            )) && run
                .stderr
                .contains(&format!("(the base's {base_layers} layers not read:"))
        };
        assert!(left_out(&kept), "{}", kept.stderr);

        // Another machine's cache: the kept base is saved and checked, and the lock is the same.
        let empty = tempfile::tempdir().unwrap();
        let since = unix_now();
        let saved = release(empty.path()).expect(0);
        std::thread::sleep(std::time::Duration::from_secs(2));
        let events = image_events(host, since, unix_now());
        assert!(
            saved
                .stderr
                .contains(&format!("taking the locked base {base} from the engine"))
                && !saved.stderr.contains("not saved"),
            "{}",
            saved.stderr
        );
        assert!(
            events.contains(&format!("save {base}")),
            "no save event of the kept base: {events:?}"
        );
        assert!(!left_out(&saved), "{}", saved.stderr);
        assert_eq!(p.lock_text(), lean, "{}", saved.stderr);
        // That release read the base's layers and kept them merged: the next reads none.
        let again = release(empty.path()).expect(0);
        assert!(left_out(&again), "{}", again.stderr);
        assert_eq!(p.lock_text(), lean, "{}", again.stderr);

        // A new base on the same registry image, whose files the first cache keeps merged:
        // that image's blobs are neither exported, copied, loaded nor read again. The lock is
        // the one a machine without the cache writes, which reads them from the builder, and
        // the one a release that reads them from the base's archive (`--archive`) writes.
        p.write(&[("requirements.txt", "numpy==2.0.0\n")]);
        p.git(&["add", "-A"]);
        git_at(
            &p.dir,
            &["commit", "-q", "-m", "requirements"],
            "2024-07-01T12:00:00Z",
        );
        let new_base = release(cache.path()).expect(0);
        assert!(
            new_base.stderr.contains(registry_left_out) && !new_base.stderr.contains(registry_read),
            "{}",
            new_base.stderr
        );
        let with_cache = p.lock_text();
        cleanup
            .images
            .extend(locked_images(&with_cache).into_iter().map(|(name, _)| name));
        let elsewhere = tempfile::tempdir().unwrap();
        let from_builder = release_with(elsewhere.path(), &["--rebuild-base"]).expect(0);
        assert!(
            from_builder.stderr.contains(registry_read)
                && from_builder.stderr.contains("came out identical"),
            "{}",
            from_builder.stderr
        );
        assert_eq!(p.lock_text(), with_cache, "{}", from_builder.stderr);
        let archived = tempfile::tempdir().unwrap();
        let archive = archived.path().join("release.oci.tar");
        let from_archive = release_with(
            archived.path(),
            &["--rebuild-base", "--archive", archive.to_str().unwrap()],
        )
        .expect(0);
        assert!(
            !from_archive.stderr.contains(registry_left_out)
                && !from_archive.stderr.contains(registry_read)
                && from_archive.stderr.contains("came out identical"),
            "{}",
            from_archive.stderr
        );
        assert_eq!(p.lock_text(), with_cache, "{}", from_archive.stderr);
    }
}
