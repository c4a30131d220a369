//! Across Docker versions: a release cut on the test bed's first engine (Debian trixie's Docker
//! 26.1, BuildKit 0.13, dockerd built with Go 1.24) is rebuilt on the second (Debian sid's
//! Docker 28.5, BuildKit 0.25, Go 1.27), reached as a remote engine with docker's global flag
//! `-H`, and the other way round. Not one file differs, but the bytes do: the verdict is
//! `equivalent` (exit 5), each differing config field named, never `DIFFERENT`.

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

/// Releases on `author`, copies the locked images to `reviewer`, verifies by rebuild there, and
/// checks the verdict: equivalent, each image's differing fields named with their writer.
fn release_and_verify_across(
    p: &Project,
    author: Option<&str>,
    reviewer: Option<&str>,
    release_args: &[&str],
    cleanup: &mut Cleanup,
) -> serde_json::Value {
    let mut release = vec!["repro", "release", "-q"];
    release.extend(release_args);
    docker_on(author, &p.dir, &release).expect(0);
    let lock = p.lock_text();
    cleanup
        .images
        .extend(locked_images(&lock).into_iter().map(|(name, _)| name));
    for key in ["containerd = ", "engine_go = \"go1."] {
        assert!(lock.contains(key), "{key} in\n{lock}");
    }
    for (name, _) in locked_images(&lock) {
        copy_image(&name, author, reviewer);
    }
    let (_tmp, review) = p.clone_with_lock();
    let human = docker_on(reviewer, &review, &["repro", "verify", "--rebuild"]);
    eprintln!("{}\n{}", human.stdout, human.stderr);
    let human = human.expect(5);
    assert!(
        human.stdout.contains("verdict: equivalent: "),
        "{}",
        human.stdout
    );
    assert!(!human.stdout.contains("DIFFERENT"), "{}", human.stdout);
    assert!(
        human.stdout.contains("built by Docker Engine "),
        "{}",
        human.stdout
    );
    let json = docker_on(
        reviewer,
        &review,
        &["repro", "verify", "--rebuild", "--format", "json"],
    )
    .expect(5);
    let report = json.json();
    assert_eq!(report["verdict"], "equivalent", "{report:#}");
    for image in report["images"].as_array().unwrap() {
        let status = image["status"].as_str().unwrap();
        assert!(
            status == "equivalent" || status == "identical",
            "{report:#}"
        );
        if status == "equivalent" {
            let e = &image["equivalence"];
            assert_eq!(e["equivalent"], true, "{report:#}");
            let named =
                e["fields"].as_array().unwrap().len() + e["recompressed"].as_array().unwrap().len();
            assert!(
                named > 0,
                "an equivalent image names what differs: {report:#}"
            );
            for f in e["fields"].as_array().unwrap() {
                assert!(
                    f["written_by"].as_str().is_some_and(|w| !w.is_empty()),
                    "{f:#}"
                );
            }
        }
    }
    report
}

fn busybox_project(name: &str) -> Project {
    Project::new(
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
    )
}

#[test]
fn a_release_cut_on_docker_26_is_equivalent_when_rebuilt_on_docker_28_and_back() {
    let _serial = serial();
    let sid = sid_host();
    let mut cleanup = Cleanup {
        sid: sid.clone(),
        images: Vec::new(),
    };
    let p = busybox_project("crossengine");
    let report = release_and_verify_across(&p, None, Some(&sid), &[], &mut cleanup);
    eprintln!("26 -> 28: {report:#}");
    // And a release cut on the newer engine, rebuilt on the older.
    let q = busybox_project("crossback");
    let report = release_and_verify_across(&q, Some(&sid), None, &[], &mut cleanup);
    eprintln!("28 -> 26: {report:#}");
}

#[test]
fn a_zstd_release_cut_on_docker_26_is_equivalent_when_rebuilt_on_docker_28_and_back() {
    let _serial = serial();
    let sid = sid_host();
    let mut cleanup = Cleanup {
        sid: sid.clone(),
        images: Vec::new(),
    };
    for (name, author, reviewer) in [
        ("crosszstd", None, Some(sid.as_str())),
        ("crosszback", Some(sid.as_str()), None),
    ] {
        let p = busybox_project(name);
        let report = release_and_verify_across(
            &p,
            author,
            reviewer,
            &["--compression", "zstd"],
            &mut cleanup,
        );
        eprintln!("{name}: {report:#}");
    }
}

#[test]
fn the_bundled_example_cut_on_docker_26_is_equivalent_on_docker_28_and_back() {
    let _serial = serial();
    let sid = sid_host();
    let mut cleanup = Cleanup {
        sid: sid.clone(),
        images: Vec::new(),
    };
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/curvenet");
    for (name, author, reviewer) in [
        ("curvexa", None, Some(sid.as_str())),
        ("curvexb", Some(sid.as_str()), None),
    ] {
        let p = Project::new(name, &[(".dockerignore", ".git\nwheels/*.tmp\n")]);
        copy_dir(&example, &p.dir);
        // The release's FROM names the base by the project's image name.
        let release = p.dir.join("docker/Dockerfile.release");
        let text = std::fs::read_to_string(&release).unwrap();
        std::fs::write(
            &release,
            text.replace("curvenet:base", &format!("{name}:base")),
        )
        .unwrap();
        make_wheel(&p.dir.join("wheels"), "0.1.0");
        p.commit("the bundled example");
        let report = release_and_verify_across(&p, author, reviewer, &[], &mut cleanup);
        eprintln!("{name}: {report:#}");
    }
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
