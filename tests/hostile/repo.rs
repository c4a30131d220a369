//! Hostile repositories: nothing outside the materialised commit reaches a build.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// The reviewer's (or author's) private files, outside any repository, with a marker that must
/// never show up in any output.
struct Host {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    marker: String,
}

impl Host {
    fn new() -> Host {
        let tmp = tempfile::Builder::new()
            .prefix("repro-host-")
            .tempdir()
            .unwrap();
        let dir = tmp.path().join("private");
        std::fs::create_dir_all(dir.join("docker")).unwrap();
        let marker = format!("PRIVATE-{}-MARKER", std::process::id());
        std::fs::write(dir.join("private.txt"), format!("{marker}\n")).unwrap();
        // Files that would build if followed, each printing the marker.
        let dockerfile = format!(
            "FROM {}\nCOPY . /ctx\nRUN cat /ctx/private.txt; echo {marker}\n",
            busybox()
        );
        std::fs::write(dir.join("Dockerfile"), &dockerfile).unwrap();
        std::fs::write(dir.join("docker/Dockerfile.release"), &dockerfile).unwrap();
        std::fs::write(dir.join("repro.toml"), format!("{marker} = \n")).unwrap();
        Host {
            _tmp: tmp,
            dir,
            marker,
        }
    }

    #[track_caller]
    fn assert_unseen(&self, run: &Run) {
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains(&self.marker),
                "a private file reached the build:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
}

/// A project whose commit holds the given links (name, target) beside `files`.
fn project_with_links(name: &str, files: &[(&str, &str)], links: &[(&str, &Path)]) -> Project {
    let p = Project::new(name, files);
    for (link, target) in links {
        let at = p.dir.join(link);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        symlink(target, at).unwrap();
    }
    p.commit("links");
    p
}

/// The test base as a lock pins it: (index digest, linux/amd64 manifest digest).
fn busybox_pin() -> (String, String) {
    use sha2::Digest;
    let digest = |bytes: &[u8]| format!("sha256:{:x}", sha2::Sha256::digest(bytes));
    let raw = docker(&["buildx", "imagetools", "inspect", "--raw", &busybox()]).stdout;
    let value: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let index = digest(raw.as_bytes());
    let platform = match value["manifests"].as_array() {
        Some(manifests) => manifests
            .iter()
            .find(|m| m["platform"]["architecture"] == "amd64")
            .and_then(|m| m["digest"].as_str())
            .unwrap()
            .to_string(),
        None => index.clone(),
    };
    (index, platform)
}

/// A lock for HEAD of `p` as a release would write it, but with the given context, project path,
/// Dockerfile and remote: what a hostile author can put in a lock. The Dockerfile's hash and
/// base pin are those of the file the path reaches in the working tree, links followed, so a
/// build that follows the links goes ahead and shows what it reads.
fn lock_for(p: &Project, context: &str, path: &str, dockerfile: &str, remote: &str) -> String {
    use sha2::Digest;
    let commit = p.git(&["rev-parse", "HEAD"]);
    let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let content = std::fs::read(p.dir.join(path).join(dockerfile)).unwrap_or_default();
    let sha = format!("{:x}", sha2::Sha256::digest(&content));
    let base = if String::from_utf8_lossy(&content).contains(&busybox()) {
        let (index, platform) = busybox_pin();
        format!(
            "\n[[base]]\nref = \"{}\"\ndockerfile = \"{dockerfile}\"\nindex_digest = \"{index}\"\nplatform_digest = \"{platform}\"\n",
            busybox()
        )
    } else {
        String::new()
    };
    let text = format!(
        r#"version = 1

[source]
commit = "{commit}"
commit_time = 1714564800
remote = "{remote}"
path = "{path}"
dirty = false

[build]
image = "{image}"
source_date_epoch = 1714564800
platform = "linux/amd64"
context = "{context}"

[builder]
docker_client = "28.2.2"
docker_engine = "26.1.5"
buildx = "0.13.1"
buildkit = "v0.13.1"
driver = "docker"
name = "default"

[[dockerfile]]
role = "release"
path = "{dockerfile}"
sha256 = "{sha}"

[[image]]
role = "release"
name = "{image}:{short}"
manifest_digest = "{m}"
config_digest = "{c}"
layers = ["{l}"]
"#,
        image = p.image(),
        short = &commit[..12],
        m = d('1'),
        c = d('2'),
        l = d('3'),
    );
    text + &base
}

fn write_lock(p: &Project, text: &str) -> PathBuf {
    let path = p.dir.join("repro.lock");
    std::fs::write(&path, text).unwrap();
    path
}

#[track_caller]
fn assert_refused(run: &Run, needle: &str) {
    assert!(
        run.stderr.contains(needle),
        "expected {needle:?} in stderr:\n{}",
        run.stderr
    );
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line:\n{}", run.stderr);
    assert!(errors[0].contains(needle), "{}", errors[0]);
}

#[test]
fn a_committed_context_link_out_of_the_repository_is_refused_by_verify() {
    let host = Host::new();
    let p = project_with_links(
        "ctxlink",
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nCOPY . /ctx\nRUN cat /ctx/private.txt\n",
                busybox()
            ),
        )],
        &[("ctx", &host.dir)],
    );
    let lock = write_lock(&p, &lock_for(&p, "ctx", ".", "Dockerfile", ""));
    let before = std::fs::read(&lock).unwrap();
    let run = p.repro(&["verify", "--rebuild"]).expect(1);
    assert_refused(
        &run,
        &format!(
            "the build context \"ctx\" resolves to {}, outside the committed source (through the link ctx -> {})",
            host.dir.display(),
            host.dir.display()
        ),
    );
    host.assert_unseen(&run);
    assert_eq!(std::fs::read(&lock).unwrap(), before);
}

#[test]
fn a_lock_source_path_through_a_link_is_refused() {
    let host = Host::new();
    let p = project_with_links("pathlink", &[("README", "x\n")], &[("sub", &host.dir)]);
    let lock = write_lock(&p, &lock_for(&p, ".", "sub", "Dockerfile", ""));
    let before = std::fs::read(&lock).unwrap();
    let run = p.repro(&["verify", "--rebuild"]).expect(1);
    assert_refused(
        &run,
        &format!(
            "the lock's source.path \"sub\" resolves to {}, outside the committed source",
            host.dir.display()
        ),
    );
    host.assert_unseen(&run);
    assert_eq!(std::fs::read(&lock).unwrap(), before);
}

#[test]
fn a_dockerfile_link_to_a_host_file_is_refused_by_verify_and_release() {
    let host = Host::new();
    let target = host.dir.join("Dockerfile");
    let p = project_with_links("dflink", &[("README", "x\n")], &[("Dockerfile", &target)]);
    let lock = write_lock(&p, &lock_for(&p, ".", ".", "Dockerfile", ""));
    let before = std::fs::read(&lock).unwrap();
    let needle = format!(
        "the Dockerfile \"Dockerfile\" resolves to {}, outside the committed source",
        target.display()
    );
    let run = p.repro(&["verify", "--rebuild"]).expect(1);
    assert_refused(&run, &needle);
    host.assert_unseen(&run);
    assert_eq!(std::fs::read(&lock).unwrap(), before);

    // The author's side: the lock is committed, release is refused before any build.
    p.commit("lock");
    let run = p.repro(&["release"]).expect(1);
    assert_refused(&run, &needle);
    host.assert_unseen(&run);
    assert_eq!(std::fs::read(&lock).unwrap(), before);
}

#[test]
fn a_docker_directory_link_and_a_config_link_are_refused_by_release() {
    let host = Host::new();
    let p = project_with_links(
        "dirlink",
        &[("repro.lock", "# the old lock\n")],
        &[("docker", &host.dir.join("docker"))],
    );
    let before = p.lock_text();
    let run = p.repro(&["release"]).expect(1);
    assert_refused(
        &run,
        &format!(
            "the base Dockerfile \"docker/Dockerfile.base\" resolves to {}, outside the committed source (through the link docker -> {})",
            host.dir.join("docker/Dockerfile.base").display(),
            host.dir.join("docker").display()
        ),
    );
    host.assert_unseen(&run);
    assert_eq!(p.lock_text(), before);

    // A committed repro.toml that is a link is not read (its text would be quoted in errors).
    let p = project_with_links(
        "tomllink",
        &[("Dockerfile", &format!("FROM {}\n", busybox()))],
        &[("repro.toml", &host.dir.join("repro.toml"))],
    );
    let run = p.repro(&["release"]).expect(1);
    assert_refused(&run, "the configuration file \"repro.toml\" resolves to ");
    host.assert_unseen(&run);
    assert!(!p.dir.join("repro.lock").exists());
}

/// A global git config for the reviewer, as GIT_CONFIG_GLOBAL points to it.
fn git_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("gitconfig");
    std::fs::write(&path, text).unwrap();
    path
}

/// `docker repro ARGS` in `dir` with extra environment, killed after `limit`.
fn repro_env(dir: &Path, args: &[&str], env: &[(&str, &Path)], limit: Duration) -> (Run, Duration) {
    let mut full = vec!["repro"];
    full.extend(args);
    let mut cmd = docker_cmd(dir, &full);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out_path = dir.join(".out");
    let err_path = dir.join(".err");
    cmd.stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("docker repro {args:?} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out_path).unwrap(),
        stderr: std::fs::read_to_string(&err_path).unwrap(),
    };
    (run, start.elapsed())
}

#[test]
fn ext_and_fd_remotes_are_refused_without_running_anything_even_when_git_allows_them() {
    let tmp = tempfile::Builder::new()
        .prefix("repro-remote-")
        .tempdir()
        .unwrap();
    let marker = tmp.path().join("pwned");
    let script = tmp.path().join("evil.sh");
    std::fs::write(&script, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // A reviewer whose git allows every transport, and rewrites one https URL to ext::.
    let config = git_config(
        tmp.path(),
        &format!(
            "[protocol]\n\tallow = always\n[protocol \"ext\"]\n\tallow = always\n[protocol \"fd\"]\n\tallow = always\n[url \"ext::{}\"]\n\tinsteadOf = https://hostile.example/paper.git\n",
            script.display()
        ),
    );
    // The lock alone, in a directory that is no repository: verify clones the lock's remote.
    let p = Project::new("remotes", &[("README", "x\n")]);
    let reviewer = tmp.path().join("review");
    std::fs::create_dir(&reviewer).unwrap();
    let env = [("GIT_CONFIG_GLOBAL", config.as_path())];
    let cases = [
        (
            format!("ext::{}", script.display()),
            "names the git remote helper `ext::`",
        ),
        (
            "ext::sh -c touch% /tmp/pwned".to_string(),
            "is not allowed (leading `-`, whitespace",
        ),
        ("fd::0".to_string(), "names the git remote helper `fd::`"),
        ("fd::3,4".to_string(), "names the git remote helper `fd::`"),
        // Passes the lock's checks; git itself rewrites it to ext:: and must refuse.
        (
            "https://hostile.example/paper.git".to_string(),
            "transport 'ext' not allowed",
        ),
    ];
    for (remote, needle) in cases {
        let text = lock_for(&p, ".", ".", "Dockerfile", &remote.replace('\\', "\\\\"));
        let lock = reviewer.join("paper.lock");
        std::fs::write(&lock, &text).unwrap();
        let (run, took) = repro_env(
            &reviewer,
            &["verify", "paper.lock", "--rebuild"],
            &env,
            Duration::from_secs(60),
        );
        let run = run.expect(1);
        assert_refused(&run, needle);
        assert!(took < Duration::from_secs(20), "{remote}: took {took:?}");
        assert!(!marker.exists(), "{remote}: the remote ran a command");
        assert!(!Path::new("/tmp/pwned").exists(), "{remote}: ran a command");
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), text);
    }
}

#[test]
fn a_reviewer_with_autocrlf_and_smudge_filters_rebuilds_the_committed_bytes() {
    let _serial = serial();
    let p = Project::new(
        "crlf",
        &[
            (".gitattributes", "*.dat filter=upper\n*.id ident\n"),
            ("Dockerfile", &format!("FROM {}\nCOPY . /src\n", busybox())),
            ("data.dat", "lower case\n"),
            ("notes.txt", "line one\nline two\n"),
            ("stamp.id", "$Id$\n"),
            (".dockerignore", ".git\nrepro.lock\n"),
        ],
    );
    p.repro(&["release", "-q"]).expect(0);
    let (tmp, review) = p.clone_with_lock();
    let config = git_config(
        tmp.path(),
        "[core]\n\tautocrlf = true\n\teol = crlf\n[filter \"upper\"]\n\tsmudge = tr a-z A-Z\n\tclean = cat\n",
    );
    prune_build_cache();
    let (run, _) = repro_env(
        &review,
        &["verify", "--rebuild", "--format", "json"],
        &[("GIT_CONFIG_GLOBAL", &config)],
        Duration::from_secs(300),
    );
    let run = run.expect(0);
    assert_eq!(run.json()["verdict"], "identical", "{}", run.stderr);
}

#[test]
fn links_that_stay_inside_build_and_a_link_inside_the_context_is_not_followed() {
    let _serial = serial();
    let host = Host::new();
    let p = project_with_links(
        "insidelinks",
        &[
            (
                "build/app.Dockerfile",
                &format!("FROM {}\nCOPY app /app\n", busybox()),
            ),
            ("app/hello.txt", "hello\n"),
            ("repro.toml", "[release]\nfile = \"docker/Dockerfile\"\n"),
        ],
        &[
            // BuildKit alone refuses a Dockerfile linking out of its own directory.
            ("docker/Dockerfile", Path::new("../build/app.Dockerfile")),
            ("app/leak", &host.dir.join("private.txt")),
        ],
    );
    let run = p.repro(&["release"]).expect(0);
    host.assert_unseen(&run);
    let tag = format!("{}:{}", p.image(), &p.git(&["rev-parse", "HEAD"])[..12]);
    let link = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &tag,
        "busybox",
        "readlink",
        "/app/leak",
    ]);
    assert_eq!(
        link.stdout.trim(),
        host.dir.join("private.txt").to_str().unwrap()
    );
    let cat = Command::new("docker")
        .args(["run", "--rm", "--network", "none", &tag, "cat", "/app/leak"])
        .output()
        .unwrap();
    assert!(!cat.status.success());
    assert!(!String::from_utf8_lossy(&cat.stdout).contains(&host.marker));
    let (_tmp, review) = p.clone_with_lock();
    let verify = docker_in(&review, &["repro", "verify", "--rebuild"]).expect(0);
    host.assert_unseen(&verify);
}

fn pid_namespace() -> String {
    let link = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let text = link.to_string_lossy().into_owned();
    text.trim_start_matches("pid:[")
        .trim_end_matches(']')
        .to_string()
}

fn children(pid: u32) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

fn names_in(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

#[test]
fn a_release_killed_with_sigkill_is_cleaned_up_by_the_next_and_files_are_not_private() {
    use std::os::unix::fs::PermissionsExt;
    let _serial = serial();
    let p = Project::new(
        "sigkill",
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nARG DELAY=0\nRUN sleep $DELAY\nCOPY app /app\n",
                    busybox()
                ),
            ),
            ("app/hello.txt", "hello\n"),
            (".dockerignore", ".git\n"),
        ],
    );
    // This test's own temp dir, so that only this test's runs are in it.
    let tmp = p.dir.join("../tmp");
    std::fs::create_dir(&tmp).unwrap();
    let stderr_path = p.dir.join("../release.stderr");
    let mut child = docker_cmd(&p.dir, &["repro", "release", "--build-arg", "DELAY=61"])
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let underway = || {
        std::fs::read_to_string(&stderr_path)
            .unwrap_or_default()
            .contains("RUN sleep 61")
    };
    while !underway() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(underway(), "the slow build never started");
    let plugin = children(child.id());
    assert_eq!(plugin.len(), 1, "one plugin process under docker");
    // SIGKILL: no destructor, no handler. Its buildx child goes too, as with a killed group.
    for pid in children(plugin[0])
        .into_iter()
        .chain(plugin.iter().copied())
    {
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
    }
    child.wait().unwrap();
    let killed = names_in(&tmp, "docker-repro-");
    assert_eq!(
        killed.len(),
        1,
        "the killed run left its work dir: {killed:?}"
    );
    assert!(!p.dir.join("repro.lock").exists());

    // What a kill between the lock's create and rename leaves, named as that run named it; and
    // a concurrent run, alive, with its work dir and its temporary lock.
    let ns = pid_namespace();
    let stale_lock = format!(".docker-repro-tmp-{ns}-{}-Ab3dE9", plugin[0]);
    std::fs::write(p.dir.join(&stale_lock), "half a lock").unwrap();
    let mut concurrent = Command::new("sleep").arg("120").spawn().unwrap();
    let live_dir = format!("docker-repro-verify-{ns}-{}-Zz9yX8", concurrent.id());
    std::fs::create_dir(tmp.join(&live_dir)).unwrap();
    let live_lock = format!(".docker-repro-tmp-{ns}-{}-Qq1wE2", concurrent.id());
    std::fs::write(p.dir.join(&live_lock), "being written").unwrap();

    let mut cmd = docker_cmd(
        &p.dir,
        &["repro", "release", "-q", "--archive", "../paper.tar"],
    );
    let out = cmd.env("TMPDIR", &tmp).output().unwrap();
    concurrent.kill().unwrap();
    concurrent.wait().unwrap();
    assert!(
        out.status.success(),
        "the next release is not refused:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        names_in(&tmp, "docker-repro-"),
        [live_dir],
        "only the live run's dir is left"
    );
    assert_eq!(
        names_in(&p.dir, ".docker-repro-tmp-"),
        [live_lock],
        "only the live run's temporary file is left"
    );

    // The lock and the archive are files like any other: 0644 under the usual umask, not 0600.
    let plain = p.dir.join("../plain");
    std::fs::write(&plain, "x").unwrap();
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let expected = mode(&plain) & 0o644;
    assert_eq!(mode(&p.dir.join("repro.lock")), expected);
    assert_eq!(mode(&p.dir.join("../paper.tar")), expected);
}

#[test]
fn bad_repro_toml_values_are_usage_errors_before_any_build() {
    let cases = [
        (
            "platform = \"linux/amd64,linux/amd64\"",
            "[release] platform = \"linux/amd64,linux/amd64\" in repro.toml is not a platform (os/arch[/variant], such as linux/amd64) or a comma-separated list of different ones",
        ),
        (
            "platform = \"a,b\"",
            "[release] platform = \"a,b\" in repro.toml is not a platform",
        ),
        (
            "image = \"UPPER\"",
            "[release] image = \"UPPER\" in repro.toml is not a valid image name",
        ),
        (
            "[release.build_args]\n\"A B\" = \"1\"",
            "[release.build_args] \"A B\" in repro.toml has the name \"A B\", which is not a valid ARG name",
        ),
        (
            "[release.build_args]\n\"\" = \"1\"",
            "[release.build_args] \"\" in repro.toml has the name \"\", which is not a valid ARG name",
        ),
        (
            "lock = \"/tmp/elsewhere.lock\"",
            "[release] lock = \"/tmp/elsewhere.lock\" in repro.toml must be a relative path",
        ),
    ];
    for (i, (toml_text, needle)) in cases.iter().enumerate() {
        let p = Project::new(
            &format!("badtoml{i}"),
            &[
                (
                    "Dockerfile",
                    &format!("FROM {}\nRUN echo built\n", busybox()),
                ),
                ("repro.toml", &format!("[release]\n{toml_text}\n")),
                ("repro.lock", "# the old lock\n"),
            ],
        );
        let before = p.lock_text();
        let run = p.repro(&["release"]).expect(125);
        assert_refused(&run, needle);
        assert!(!run.stderr.contains("==> building"), "{}", run.stderr);
        assert_eq!(p.lock_text(), before);
    }
    // And the same on the command line.
    let p = Project::new(
        "badflags",
        &[("Dockerfile", &format!("FROM {}\n", busybox()))],
    );
    for (args, needle) in [
        (
            &["--platform", "a,b"][..],
            "--platform \"a,b\" is not a platform (os/arch[/variant]",
        ),
        (
            &["--image", "UPPER"],
            "--image \"UPPER\" is not a valid image name",
        ),
        (
            &["--build-arg", "A B=1"],
            "--build-arg \"A B=1\" has the name \"A B\"",
        ),
    ] {
        let mut full = vec!["release"];
        full.extend(args);
        let run = p.repro(&full).expect(125);
        assert_refused(&run, needle);
        assert!(!p.dir.join("repro.lock").exists());
    }
}

#[test]
fn a_huge_one_line_lock_gives_a_short_error() {
    let tmp = tempfile::Builder::new()
        .prefix("repro-hugelock-")
        .tempdir()
        .unwrap();
    let lock = tmp.path().join("repro.lock");
    // Under the lock's size limit the parser's error quotes a clipped line; over it (50 MiB)
    // the lock is refused before it is parsed.
    for (size, refusal) in [
        (8 << 20, "not a valid lockfile"),
        (50 << 20, "bytes, over the 16 MiB limit on a repro.lock"),
    ] {
        let text = format!("version = 1\ncommit = \"{}", "a".repeat(size));
        std::fs::write(&lock, &text).unwrap();
        let run = docker_in(tmp.path(), &["repro", "verify", "--rebuild"]).expect(1);
        assert!(
            run.stderr.len() < 1000,
            "{} bytes of error: {}…",
            run.stderr.len(),
            &run.stderr[..300.min(run.stderr.len())]
        );
        assert_refused(&run, refusal);
        if size < 16 << 20 {
            assert!(run.stderr.contains("(line 2, column"), "{}", run.stderr);
        }
    }
}

#[test]
fn a_dirty_file_name_with_a_newline_stays_on_one_line() {
    let p = Project::new(
        "dirtyname",
        &[("Dockerfile", &format!("FROM {}\n", busybox()))],
    );
    p.write(&[("evil\nerror: forged line\u{1b}[2J", "x")]);
    p.commit("a tracked file with a hostile name");
    p.write(&[("evil\nerror: forged line\u{1b}[2J", "changed")]);
    let run = p.repro(&["release"]).expect(1);
    assert_refused(
        &run,
        "uncommitted changes: evil\\nerror: forged line\\x1b[2J; commit them",
    );
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}

#[test]
fn submodules_and_lfs_pointers_are_named_in_a_warning() {
    let p = Project::new(
        "gitlinks",
        &[
            ("Dockerfile", "FROM scratch\nCOPY . /src\n"),
            (
                "weights/model.bin",
                "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
            ),
        ],
    );
    let commit = p.git(&["rev-parse", "HEAD"]);
    p.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{commit},vendor/lib"),
    ]);
    p.git(&["commit", "-q", "-m", "a submodule"]);
    // A lock whose Dockerfile hash does not match stops verify after the commit is copied and
    // before any build: enough to see the warnings.
    let text = lock_for(&p, ".", ".", "Dockerfile", "");
    let sha = text.split("sha256 = \"").nth(1).unwrap()[..64].to_string();
    write_lock(&p, &text.replace(&sha, &"a".repeat(64)));
    let run = p.repro(&["verify", "--rebuild"]).expect(1);
    assert!(
        run.stderr.contains(
            "warning: submodules are not part of the commit's files and are built as empty directories: vendor/lib;"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "warning: Git LFS files are built as their pointer text, not their content: weights/model.bin;"
        ),
        "{}",
        run.stderr
    );
    assert_refused(&run, "does not have the locked sha256");
}
