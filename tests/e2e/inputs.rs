//! Build inputs on the test bed's mirrors: a BuildKit secret (the wheel index's token), a proxy
//! from the environment, a locked build argument overridden by the reviewer.

use crate::common::*;
use std::path::{Path, PathBuf};

const MIRROR: &str = "/var/cache/docker-repro-testbed/mirror";
const PROXY_LOG: &str = "/var/log/docker-repro-proxy.log";
const PROXY_NAMES: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "FTP_PROXY",
    "ftp_proxy",
];

/// tests/fixtures/mirror-lab as a committed project (its release is `FROM mirror-lab:base`, so
/// the directory, and the image, is `mirror-lab`).
fn mirror_lab() -> Project {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mirror-lab");
    let read = |p: &str| std::fs::read_to_string(fixture.join(p)).unwrap();
    let files: Vec<(&str, String)> = [
        "docker/Dockerfile.base",
        "docker/Dockerfile.release",
        "lab/probe.py",
        "requirements.txt",
    ]
    .into_iter()
    .map(|p| (p, read(p)))
    .collect();
    let mut all: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    all.push((".dockerignore", ".git\n"));
    Project::new("mirror-lab", &all)
}

/// The test bed's netrc for the wheel index, and the token inside it.
fn index_credentials() -> (PathBuf, String) {
    let netrc = Path::new(MIRROR).join("pip.netrc");
    let token = std::fs::read_to_string(Path::new(MIRROR).join("pypi-token"))
        .unwrap_or_else(|e| panic!("{MIRROR}/pypi-token ({e}): run `bash scripts/testbed.sh`"));
    assert!(
        netrc.is_file(),
        "{}: run `bash scripts/testbed.sh`",
        netrc.display()
    );
    (netrc, token.trim().to_string())
}

/// `docker repro ARGS` in `dir` with no proxy in the environment but `proxy`, if any.
fn repro_with(dir: &Path, args: &[&str], proxy: Option<&str>) -> Run {
    let mut full = vec!["repro"];
    full.extend(args);
    let mut cmd = docker_cmd(dir, &full);
    for name in PROXY_NAMES {
        cmd.env_remove(name);
    }
    if let Some(proxy) = proxy {
        cmd.env("http_proxy", proxy);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Requests for the Debian mirror that went through the proxy so far.
fn proxied_debian_requests() -> usize {
    std::fs::read_to_string(PROXY_LOG)
        .unwrap_or_else(|e| panic!("{PROXY_LOG} ({e}): run `bash scripts/testbed.sh`"))
        .lines()
        .filter(|l| l.contains("Request (file descriptor") && l.contains("http://172.17.0.1:8081/"))
        .count()
}

#[test]
fn a_secret_and_a_proxy_reach_the_build_and_only_the_secret_id_reaches_the_lock() {
    let _serial = serial();
    let p = mirror_lab();
    let (netrc, token) = index_credentials();
    let secret = format!("id=pip_index,src={}", netrc.display());
    // A password in the proxy URL: it must show up nowhere (tinyproxy ignores it).
    let password = format!("proxy-pw-{}", std::process::id());
    let proxy = format!("http://lab:{password}@172.17.0.1:8888");
    let leaks = |what: &str, text: &str| {
        for needle in [password.as_str(), token.as_str()] {
            assert!(!text.contains(needle), "{what} shows a credential:\n{text}");
        }
    };

    // A proxy that is not there: the build fails in apt's RUN, which proves the proxy reaches
    // it; the error (stderr captured with -q) names no credential, and no lock is written.
    let dead = format!("http://lab:{password}@172.17.0.1:9");
    let failed = repro_with(&p.dir, &["release", "-q", "--secret", &secret], Some(&dead)).expect(1);
    leaks(
        "a failed release",
        &format!("{}{}", failed.stdout, failed.stderr),
    );
    assert_eq!(failed.stderr.lines().count(), 1, "{}", failed.stderr);
    // By name only, and it is apt's RUN that failed.
    assert!(
        failed.stderr.contains("--build-arg http_proxy --secret"),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("apt-get update"),
        "{}",
        failed.stderr
    );
    assert!(!p.dir.join("repro.lock").exists());

    // The release: build progress shown (no -q), proxy from the environment, the index's token
    // as the secret pip_index, a build argument a reviewer will override.
    let before = proxied_debian_requests();
    let release = repro_with(
        &p.dir,
        &[
            "release",
            "--secret",
            &secret,
            "--build-arg",
            "LAB_MIRROR=http://172.17.0.1:8082/simple/",
            "--format",
            "json",
        ],
        Some(&proxy),
    )
    .expect(0);
    leaks(
        "the release",
        &format!("{}{}", release.stdout, release.stderr),
    );
    assert!(
        proxied_debian_requests() > before,
        "apt fetched nothing through the proxy"
    );
    let lock = p.lock_text();
    assert!(lock.contains("secrets = [\"pip_index\"]"), "{lock}");
    leaks("the lock", &lock);
    // The proxy's address, not its port alone: "8888" also turns up in digests and times.
    for absent in ["pip.netrc", MIRROR, "172.17.0.1:8888", "proxy", "PROXY"] {
        assert!(!lock.contains(absent), "the lock records {absent}:\n{lock}");
    }
    assert!(
        lock.contains("LAB_MIRROR = \"http://172.17.0.1:8082/simple/\""),
        "{lock}"
    );
    // numpy came from the token-protected index.
    let numpy = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "mirror-lab:base",
        "python3",
        "-c",
        "import numpy; print(numpy.__version__)",
    ]);
    assert_eq!(numpy.stdout.trim(), "1.26.4");
    // BuildKit keeps the predefined proxy argument out of the images' history and config.
    for image in release.json()["images"].as_array().unwrap() {
        let name = image["name"].as_str().unwrap();
        let history = docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", name]);
        let config = docker(&["image", "inspect", name]);
        for text in [&history.stdout, &config.stdout] {
            leaks(name, text);
            assert!(
                !text.contains("172.17.0.1:8888") && !text.contains("http_proxy"),
                "{name}:\n{text}"
            );
        }
    }

    // A reviewer, in a fresh clone, with no proxy: without the secret, the missing id is named
    // in one line and nothing is built.
    let (_tmp, review) = p.clone_with_lock();
    let missing = repro_with(&review, &["verify", "--rebuild"], None).expect(125);
    assert_eq!(
        missing.stderr,
        "error: the locked build used secret pip_index, not given here: add --secret id=pip_index,src=PATH (the lock records ids only; ask the author what each one holds), or verify the release on the locked base without rebuilding it (--base locked needs none of them); nothing was built\n"
    );
    assert!(missing.stdout.is_empty(), "{}", missing.stdout);
    // Only the base's RUN reads the token, and the lock says so per Dockerfile: the release
    // rebuilt on the locked base needs no secret (it used to need a dummy file for it).
    let parsed: toml::Value = toml::from_str(&lock).unwrap();
    let per_dockerfile: Vec<(String, String)> = parsed["dockerfile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["role"].to_string(), d["secrets"].to_string()))
        .collect();
    assert_eq!(
        per_dockerfile,
        [
            ("\"base\"".to_string(), "[\"pip_index\"]".to_string()),
            ("\"release\"".to_string(), "[]".to_string())
        ],
        "{lock}"
    );
    let on_locked_base = repro_with(
        &review,
        &["verify", "--rebuild", "--base", "locked", "-q"],
        None,
    )
    .expect(0);
    assert!(
        on_locked_base.stdout.contains("verdict: identical"),
        "{}",
        on_locked_base.stdout
    );

    // With the same secret id, and another address for the mirror argument: identical (the
    // proxy left no trace in the images), and the override is reported.
    prune_build_cache();
    let verify = repro_with(
        &review,
        &[
            "verify",
            "--rebuild",
            "-q",
            "--secret",
            &secret,
            "--build-arg",
            "LAB_MIRROR=http://127.0.0.1:8082/simple/",
            "--format",
            "json",
        ],
        None,
    )
    .expect(0);
    let report = verify.json();
    assert_eq!(report["verdict"], "identical", "{report:#}");
    assert_eq!(
        report["overridden"],
        serde_json::json!([{
            "input": "build-arg",
            "name": "LAB_MIRROR",
            "locked": "http://172.17.0.1:8082/simple/",
            "used": "http://127.0.0.1:8082/simple/",
        }])
    );
    leaks(
        "the verify report",
        &format!("{}{}", verify.stdout, verify.stderr),
    );
}

#[test]
fn network_and_hosts_reach_the_build_are_locked_and_a_host_address_can_be_overridden() {
    let _serial = serial();
    // The RUN fails unless the build has the host entry and no network but loopback.
    let p = Project::new(
        "netinputs",
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nRUN grep -q 'pypi.lab' /etc/hosts && test \"$(ls /sys/class/net)\" = lo && echo ok > /checked\n",
                busybox()
            ),
        )],
    );
    p.repro(&["release", "-q"]).expect(1);
    p.repro(&[
        "release",
        "-q",
        "--network",
        "none",
        "--add-host",
        "pypi.lab:10.0.0.5",
    ])
    .expect(0);
    let lock = p.lock_text();
    assert!(lock.contains("network = \"none\""), "{lock}");
    assert!(
        lock.contains("add_hosts = [\"pypi.lab:10.0.0.5\"]"),
        "{lock}"
    );

    // The reviewer's mirror has another address: /etc/hosts is no part of the image, so the
    // rebuild is identical, and the report says what was overridden.
    let (_tmp, review) = p.clone_with_lock();
    let verify = docker_in(
        &review,
        &[
            "repro",
            "verify",
            "--rebuild",
            "-q",
            "--add-host",
            "pypi.lab:192.168.1.20",
        ],
    )
    .expect(0);
    assert!(
        verify
            .stdout
            .contains("overridden: --add-host pypi.lab: 192.168.1.20 (locked: 10.0.0.5)\n"),
        "{}",
        verify.stdout
    );
    assert!(
        verify.stdout.contains("verdict: identical"),
        "{}",
        verify.stdout
    );
    // Only a locked host can be overridden.
    let other = docker_in(
        &review,
        &[
            "repro",
            "verify",
            "--rebuild",
            "--add-host",
            "deb.lab:10.0.0.6",
        ],
    )
    .expect(125);
    assert!(
        other.stderr.contains("the lock has no host deb.lab"),
        "{}",
        other.stderr
    );
}

#[test]
fn an_ssh_key_reaches_the_build_by_id_and_a_rebuild_needs_it_again() {
    let _serial = serial();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("id_ed25519");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(made.success());
    // The RUN fails unless an agent holding the key is mounted.
    let p = Project::new(
        "sshinputs",
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nRUN --mount=type=ssh,required=true test -S \"$SSH_AUTH_SOCK\" && echo ok > /ssh-ok\n",
                busybox()
            ),
        )],
    );
    let ssh = format!("default={}", key.display());
    // No agent in this environment: without --ssh the RUN has no socket.
    let no_ssh = docker_cmd(&p.dir, &["repro", "release", "-q"])
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    assert_eq!(no_ssh.status.code(), Some(1));
    p.repro(&["release", "-q", "--ssh", &ssh]).expect(0);
    let lock = p.lock_text();
    assert!(lock.contains("ssh = [\"default\"]"), "{lock}");
    assert!(!lock.contains("id_ed25519"), "{lock}");

    let (_tmp, review) = p.clone_with_lock();
    let missing = docker_in(&review, &["repro", "verify", "--rebuild"]).expect(125);
    assert!(
        missing.stderr.starts_with(
            "error: the locked build used ssh default, not given here: add --ssh default[=PATH]"
        ),
        "{}",
        missing.stderr
    );
    docker_in(
        &review,
        &["repro", "verify", "--rebuild", "-q", "--ssh", &ssh],
    )
    .expect(0);
}

#[test]
fn shm_size_and_ulimits_reach_the_build_are_locked_and_rebuilt_as_locked() {
    let _serial = serial();
    // The RUN fails unless /dev/shm is 256 MiB and the open-files limits are 1024 and 2048;
    // what it saw is written into the image.
    let p = Project::new(
        "limitinputs",
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nRUN set -- $(df -k /dev/shm | tail -n 1) && test \"$2\" = 262144 \\\n && test \"$(ulimit -n)\" = 1024 && test \"$(ulimit -Hn)\" = 2048 \\\n && printf '%s\\n' \"$2\" \"$(ulimit -n)\" \"$(ulimit -Hn)\" > /limits\n",
                busybox()
            ),
        )],
    );
    p.repro(&["release", "-q"]).expect(1);
    let release = p
        .repro(&[
            "release",
            "-q",
            "--shm-size",
            "256m",
            "--ulimit",
            "nofile=1024:2048",
            "--format",
            "json",
        ])
        .expect(0);
    let lock = p.lock_text();
    assert!(lock.contains("shm_size = \"256m\"\n"), "{lock}");
    assert!(
        lock.contains("ulimits = [\"nofile=1024:2048\"]\n"),
        "{lock}"
    );
    let name = release.json()["images"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let seen = docker(&["run", "--rm", "--network", "none", &name, "cat", "/limits"]);
    assert_eq!(seen.stdout, "262144\n1024\n2048\n");

    // A bad value is one line naming the flag and the fix, exit 125, the lock untouched.
    for (flag, value, says) in [
        ("--shm-size", "2x", "--shm-size \"2x\" is not a size: write a whole number of bytes, or of k, m or g (2g, 512m, 1073741824)"),
        ("--ulimit", "nofile=4096:1024", "--ulimit \"nofile=4096:1024\" has a soft limit above its hard limit"),
        ("--ulimit", "openfiles=1", "names the limit \"openfiles\", which docker does not know: use one of core, cpu,"),
    ] {
        let bad = p.repro(&["release", "-q", flag, value]).expect(125);
        assert!(bad.stderr.contains(says), "{}", bad.stderr);
        assert_eq!(bad.stderr.lines().count(), 1, "{}", bad.stderr);
        assert_eq!(p.lock_text(), lock);
    }

    // The reviewer gives nothing: the rebuild uses the locked size and limits, and is identical.
    let (_tmp, review) = p.clone_with_lock();
    prune_build_cache();
    let verify = docker_in(&review, &["repro", "verify", "--rebuild", "-q"]).expect(0);
    assert!(
        verify.stdout.contains("verdict: identical"),
        "{}",
        verify.stdout
    );
}

/// The digest `docker buildx imagetools inspect` gives for a reference in the registry.
fn registry_digest(reference: &str) -> String {
    docker(&["buildx", "imagetools", "inspect", reference])
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Digest:"))
        .unwrap_or_else(|| panic!("no digest for {reference}"))
        .trim()
        .to_string()
}

#[test]
fn named_contexts_an_image_pinned_by_digest_and_a_committed_directory_rebuild_identical() {
    let _serial = serial();
    let tools = format!("{REGISTRY}/repro-test/ctx-tools-{}:1", std::process::id());
    publish(&busybox(), &tools);
    let digest = registry_digest(&tools);
    // `FROM tools` and `COPY --from=vendor` name contexts, not registry images.
    let p = Project::new(
        "ctxinputs",
        &[
            (
                "Dockerfile",
                "FROM tools\nCOPY --from=vendor notes.txt /vendor/notes.txt\nRUN cat /vendor/notes.txt > /checked\n",
            ),
            ("vendor/notes.txt", "a committed directory context\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    let image_context = format!("tools=docker-image://{tools}");
    // Without the contexts, `tools` is a registry image that does not exist.
    let without = p.repro(&["release", "-q"]).expect(1);
    assert!(
        without.stderr.contains("cannot resolve base image tools"),
        "{}",
        without.stderr
    );
    let release = p
        .repro(&[
            "release",
            "-q",
            "--build-context",
            &image_context,
            "--build-context",
            "vendor=vendor",
            "--format",
            "json",
        ])
        .expect(0);
    let lock = p.lock_text();
    assert!(
        lock.contains(&format!(
            "[build.contexts]\ntools = \"docker-image://{tools}@{digest}\"\nvendor = \"vendor\"\n"
        )),
        "{lock}"
    );
    // The context is no registry base of the lock.
    assert!(!lock.contains("[[base]]"), "{lock}");
    let name = release.json()["images"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let seen = docker(&["run", "--rm", "--network", "none", &name, "cat", "/checked"]);
    assert_eq!(seen.stdout, "a committed directory context\n");

    // Someone pushes another image under the context's tag: the rebuild uses the locked digest
    // and the locked commit's directory, and is identical.
    move_tag(&tools, &busybox(), "/moved");
    let (_tmp, review) = p.clone_with_lock();
    prune_build_cache();
    let verify = docker_in(&review, &["repro", "verify", "--rebuild", "-q"]).expect(0);
    assert!(
        verify.stdout.contains("verdict: identical"),
        "{}",
        verify.stdout
    );

    // Refused, each in one line, the lock untouched: a directory reached through a committed
    // link out of the repository, a path outside the project, a form that cannot be locked, an
    // image the registry does not have.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("notes.txt"), "not committed\n").unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), p.dir.join("linked")).unwrap();
    p.commit("a link out of the repository");
    let linked = p
        .repro(&[
            "release",
            "-q",
            "--build-context",
            &image_context,
            "--build-context",
            "vendor=linked",
        ])
        .expect(1);
    assert!(
        linked.stderr.starts_with(
            "error: the named context vendor cannot be rebuilt: its directory \"linked\" resolves to "
        ) && linked.stderr.contains("outside the committed source (through the link linked -> "),
        "{}",
        linked.stderr
    );
    let outside = elsewhere.path().display().to_string();
    let missing = format!("tools=docker-image://{REGISTRY}/repro-test/no-such-context:1");
    for (tools, vendor, code, says) in [
        (
            image_context.clone(),
            format!("vendor={outside}"),
            125,
            "outside the project: a directory outside the committed source cannot be rebuilt",
        ),
        (
            image_context.clone(),
            "vendor=../vendor".to_string(),
            125,
            "outside the project: a directory outside the committed source cannot be rebuilt",
        ),
        (
            image_context.clone(),
            format!("vendor=oci-layout://{outside}"),
            125,
            "is a kind of context docker repro cannot lock (oci-layout://, a URL, a git repository or target:); use NAME=docker-image://REF (an image, pinned by digest) or NAME=DIR (a directory of the committed project)",
        ),
        (
            missing.clone(),
            "vendor=vendor".to_string(),
            1,
            "cannot resolve it in its registry",
        ),
    ] {
        let refused = p
            .repro(&["release", "-q", "--build-context", &tools, "--build-context", &vendor])
            .expect(code);
        assert!(refused.stderr.contains(says), "{vendor}: {}", refused.stderr);
        assert_eq!(refused.stderr.lines().count(), 1, "{}", refused.stderr);
        assert_eq!(p.lock_text(), lock);
    }
}

/// The tags a test's release made, removed when it ends however it ends.
struct Tags(Vec<String>);

impl Drop for Tags {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rmi", "--force"])
            .args(&self.0)
            .output();
    }
}

#[test]
fn a_base_rebuild_whose_mirror_is_gone_is_one_line_naming_the_step_the_cause_and_base_locked() {
    let _serial = serial();
    // The base fetches from the lab's Debian mirror, whose address is a build argument.
    let p = Project::new(
        "gonemirror",
        &[
            (
                "docker/Dockerfile.base",
                &format!(
                    "FROM {}\nARG MIRROR\nRUN wget -q -O /Packages \"$MIRROR/Packages\"\n",
                    busybox()
                ),
            ),
            (
                "docker/Dockerfile.release",
                "FROM gonemirror:base\nRUN true\n",
            ),
        ],
    );
    let release = p
        .repro(&[
            "release",
            "-q",
            "--build-arg",
            "MIRROR=http://172.17.0.1:8081",
            "--format",
            "json",
        ])
        .expect(0);
    let _tags = Tags(
        release.json()["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect(),
    );
    let (_tmp, review) = p.clone_with_lock();
    let logs_before = build_logs();
    for (mirror, cause) in [
        // A port nobody serves, then a path the mirror does not have.
        ("http://172.17.0.1:9", "a mirror or server is unreachable (\"wget: can't connect to remote host (172.17.0.1): Connection refused\")"),
        ("http://172.17.0.1:8081/gone", "the server has no such path (HTTP 404)"),
    ] {
        for quiet in [true, false] {
            let arg = format!("MIRROR={mirror}");
            let mut args = vec!["repro", "verify", "--rebuild", "--build-arg", &arg];
            if quiet {
                args.push("-q");
            }
            let failed = docker_in(&review, &args).expect(1);
            let last = failed.stderr.lines().last().unwrap_or_default();
            assert!(
                last.starts_with("error: building gonemirror:base failed at \"[")
                    && last.contains(&format!(
                        "] RUN wget -q -O /Packages \\\"{mirror}/Packages\\\"\": {cause}"
                    ))
                    && last.ends_with("; to verify the release on the locked base without rebuilding the base, add --base locked"),
                "{}",
                failed.stderr
            );
            if quiet {
                assert_eq!(failed.stderr.lines().count(), 1, "{}", failed.stderr);
            } else {
                // Without -q buildx's progress is shown as it comes, then the one line.
                assert!(failed.stderr.contains("#0 building with"), "{}", failed.stderr);
            }
            // The full log is kept where the line says, and it is the only thing left behind.
            let log = last
                .split("buildx's full log is in ")
                .nth(1)
                .and_then(|rest| rest.split(';').next())
                .unwrap();
            let text = std::fs::read_to_string(log).unwrap();
            assert!(text.contains("ERROR: failed to solve"), "{text}");
            std::fs::remove_file(log).unwrap();
        }
    }
    assert_eq!(build_logs(), logs_before);
    // The hint works: the release is verified on the locked base, which needs no mirror.
    let on_locked = docker_in(
        &review,
        &[
            "repro",
            "verify",
            "--rebuild",
            "--base",
            "locked",
            "-q",
            "--build-arg",
            "MIRROR=http://172.17.0.1:9",
        ],
    )
    .expect(0);
    assert!(
        on_locked.stdout.contains("verdict: identical"),
        "{}",
        on_locked.stdout
    );
}

/// The build logs in the temporary directory.
fn build_logs() -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("docker-repro-build-"))
        })
        .collect();
    logs.sort();
    logs
}
