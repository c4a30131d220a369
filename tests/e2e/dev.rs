//! `docker repro dev`: the base built from the working tree, run with the code bind-mounted.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use crate::common::*;

/// Removes the images a test made, whatever happened to it.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = Command::new("docker")
                .args(["rmi", "--force", image])
                .output();
        }
    }
}

/// A seed-layout project (what `docker repro init` writes), committed.
fn seed(name: &str) -> Project {
    let p = Project::new(name, &[("README.md", "an experiment\n")]);
    p.repro(&["init", "--base", &bookworm_python()]).expect(0);
    p.commit("environment");
    p
}

/// `docker repro dev ARGS` in the project, as the user sudo names (tests run as root), with
/// `env` and an empty TMPDIR of its own.
fn dev(p: &Project, args: &[&str], env: &[(&str, &str)], tmp: &Path) -> Run {
    let mut full = vec!["repro", "dev"];
    full.extend(args);
    let mut cmd = docker_cmd(&p.dir, &full);
    cmd.env("SUDO_UID", "4321")
        .env("SUDO_GID", "4322")
        .env("TMPDIR", tmp);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The `docker run` line dev prints, as words.
fn run_line(stderr: &str) -> Vec<String> {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("==> docker run "))
        .unwrap_or_else(|| panic!("no docker run line:\n{stderr}"));
    line.split(' ')
        .map(|w| w.trim_matches('\'').to_string())
        .collect()
}

/// The `==> dev runs …` line, without the elapsed time every progress line ends with.
fn dev_runs_line(stderr: &str) -> &str {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("==> dev runs "))
        .unwrap_or_else(|| panic!("no dev runs line:\n{stderr}"));
    match line.rsplit_once(" [") {
        Some((text, clock)) if clock.ends_with(']') => text,
        _ => line,
    }
}

fn has(words: &[String], pair: [&str; 2]) -> bool {
    words.windows(2).any(|w| w[0] == pair[0] && w[1] == pair[1])
}

#[test]
fn dev_runs_the_command_in_the_bind_mounted_code_as_the_invoking_user_with_the_base_cached() {
    let _serial = serial();
    let p = seed("devloop");
    let image = p.image();
    let _images = Images(vec![format!("{image}:dev"), format!("{image}:base")]);
    let tmp = tempfile::tempdir().unwrap();
    // The user's own code directory, as in their clone.
    let code = p.dir.join("devloop");
    std::os::unix::fs::chown(&code, Some(4321), Some(4322)).unwrap();

    let first = dev(
        &p,
        &[
            "--",
            "sh",
            "-c",
            "pwd; id -u; echo $HOME; python3 train.py > result.txt; df -k /dev/shm | tail -n 1",
        ],
        &[],
        tmp.path(),
    )
    .expect(0);
    let mut lines = first.stdout.lines();
    assert_eq!(
        lines.next(),
        Some("/workspace/devloop"),
        "the release's WORKDIR"
    );
    assert_eq!(lines.next(), Some("4321"));
    assert_eq!(lines.next(), Some("/tmp"), "a HOME the user can write");
    let shm_kib: u64 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(shm_kib, 8 * 1024 * 1024);
    let result = code.join("result.txt");
    assert_eq!(std::fs::read_to_string(&result).unwrap(), "training\n");
    let owner = std::fs::metadata(&result).unwrap();
    assert_eq!((owner.uid(), owner.gid()), (4321, 4322), "not root's");
    assert!(
        dev_runs_line(&first.stderr).ends_with(
            ", built from docker/Dockerfile.base: no repro.lock yet: the first release builds this base"
        ),
        "{}",
        first.stderr
    );
    let argv = run_line(&first.stderr);
    for pair in [
        ["--user", "4321:4322"],
        ["--shm-size", "8g"],
        ["--workdir", "/workspace/devloop"],
    ] {
        assert!(has(&argv, pair), "{pair:?} in {argv:?}");
    }
    let bind = format!(
        "type=bind,source={},target=/workspace/devloop",
        code.display()
    );
    assert!(has(&argv, ["--mount", &bind]), "{argv:?}");
    assert!(
        !argv.iter().any(|a| a == "--tty" || a == "--gpus"),
        "{argv:?}"
    );
    assert!(
        docker(&["image", "ls", "-q", &format!("{image}:base")])
            .stdout
            .is_empty(),
        "dev never tags {image}:base, which release owns"
    );

    // Again: the base comes from the build cache, and is the same image.
    let again = dev(&p, &["--", "true"], &[], tmp.path()).expect(0);
    assert!(
        again.stderr.contains("RUN pip install") && again.stderr.contains("CACHED"),
        "{}",
        again.stderr
    );
    let id = |stderr: &str| {
        dev_runs_line(stderr)
            .split(['(', ')'])
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(id(&first.stderr), id(&again.stderr));
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing left in TMPDIR"
    );

    // Released, the base is the lock's; a changed base Dockerfile is said to make a new one.
    std::fs::remove_file(&result).unwrap();
    p.repro(&["release", "-q"]).expect(0);
    let release_tag = format!("{image}:{}", &p.git(&["rev-parse", "HEAD"])[..12]);
    let _release = Images(vec![release_tag]);
    let locked = dev(&p, &["--", "true"], &[], tmp.path()).expect(0);
    assert!(
        dev_runs_line(&locked.stderr).ends_with(": the base of repro.lock"),
        "{}",
        locked.stderr
    );
    // A file the base copies changes, not the Dockerfile: the fingerprint tells it.
    let changed_line = "your base inputs changed since repro.lock (the base Dockerfile, the files it copies, its arguments or build settings: fingerprint base-";
    let requirements = std::fs::read_to_string(p.dir.join("requirements.txt")).unwrap();
    p.write(&[(
        "requirements.txt",
        &format!("{requirements}# pinned for the paper\n"),
    )]);
    let copied = dev(&p, &["--", "true"], &[], tmp.path()).expect(0);
    assert!(
        dev_runs_line(&copied.stderr).contains(changed_line),
        "{}",
        copied.stderr
    );
    p.write(&[("requirements.txt", &requirements)]);
    let base = std::fs::read_to_string(p.dir.join("docker/Dockerfile.base")).unwrap();
    p.write(&[("docker/Dockerfile.base", &format!("{base}ENV STAGE=dev\n"))]);
    let changed = dev(&p, &["--", "sh", "-c", "echo $STAGE"], &[], tmp.path()).expect(0);
    assert_eq!(
        changed.stdout, "dev\n",
        "the working tree's base, not the commit's"
    );
    assert!(
        dev_runs_line(&changed.stderr).contains(changed_line)
            && dev_runs_line(&changed.stderr)
                .ends_with(" locked): the next release makes a new base"),
        "{}",
        changed.stderr
    );
}

#[test]
fn dev_passes_gpus_and_a_terminal_as_run_decides_them() {
    let _serial = serial();
    let p = seed("devgpus");
    let image = p.image();
    let _images = Images(vec![format!("{image}:dev")]);
    let tmp = tempfile::tempdir().unwrap();
    // An NVIDIA GPU on this host, and no lock to say what the base needs: the GPU host gets it.
    let a100 = fake_nvidia_smi("NVIDIA A100-SXM4-80GB, 550.54.15, 8.0");
    let path = path_with(a100.path());
    let path = path.to_str().unwrap();
    let with_gpu = dev(&p, &["--", "true"], &[("PATH", path)], tmp.path());
    let argv = run_line(&with_gpu.stderr);
    assert!(has(&argv, ["--gpus", "all"]), "{argv:?}");
    // Without an NVIDIA runtime in the engine (the test bed has none) docker cannot start the
    // container: said in one line, and nothing is left behind.
    let runtimes = docker(&["info", "--format", "{{json .Runtimes}}"]).stdout;
    if runtimes.contains("nvidia") {
        assert_eq!(with_gpu.code, 0, "{}", with_gpu.stderr);
    } else {
        assert_eq!(with_gpu.code, 1, "{}", with_gpu.stderr);
        assert!(
            with_gpu
                .stderr
                .contains("error: the dev container did not run: docker run exited 125 (docker could not create or start it, as it said above)"),
            "{}",
            with_gpu.stderr
        );
    }
    let containers = docker(&["ps", "-a", "-q", "--filter", "name=docker-repro-dev-"]).stdout;
    assert_eq!(containers, "", "no container left");
    let without = dev(
        &p,
        &["--no-gpus", "--", "true"],
        &[("PATH", path)],
        tmp.path(),
    )
    .expect(0);
    assert!(!run_line(&without.stderr).contains(&"--gpus".to_string()));
    // No terminal here: --tty asks for one all the same, and docker says it has none.
    let tty = dev(&p, &["--tty", "--", "true"], &[], tmp.path());
    let argv = run_line(&tty.stderr);
    assert!(
        has(&argv, ["--interactive", "--tty"]) && !argv.contains(&"--gpus".to_string()),
        "{argv:?}"
    );
    let root = dev(&p, &["--user", "0", "--", "id", "-u"], &[], tmp.path()).expect(0);
    assert_eq!(root.stdout, "0\n");
}

#[test]
fn dev_refuses_what_it_cannot_run_in_one_line_and_leaves_nothing_behind() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let leftovers = |name: &str| {
        let containers = docker(&["ps", "-a", "-q", "--filter", "name=docker-repro-dev-"]).stdout;
        let images = docker(&["image", "ls", "-q", &format!("{name}:dev")]).stdout;
        (containers, images)
    };
    let error_lines = |stderr: &str| stderr.lines().filter(|l| l.starts_with("error:")).count();

    // A single Dockerfile has no base to work in.
    let single = crate::one_stage("devsingle");
    let refused = dev(&single, &["--", "true"], &[], tmp.path());
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert_eq!(refused.stderr.lines().count(), 1, "{}", refused.stderr);
    assert!(
        refused.stderr.starts_with("error: Dockerfile: a single Dockerfile has no base to work in; dev needs the base/release layout"),
        "{}",
        refused.stderr
    );
    assert_eq!(leftovers("devsingle"), (String::new(), String::new()));

    // The release Dockerfile without its base.
    let p = seed("devbroken");
    let _images = Images(vec!["devbroken:dev".into()]);
    let base = std::fs::read_to_string(p.dir.join("docker/Dockerfile.base")).unwrap();
    std::fs::remove_file(p.dir.join("docker/Dockerfile.base")).unwrap();
    let missing = dev(&p, &["--", "true"], &[], tmp.path());
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert_eq!(missing.stderr.lines().count(), 1, "{}", missing.stderr);
    assert!(
        missing
            .stderr
            .contains("docker/Dockerfile.base: no such base Dockerfile"),
        "{}",
        missing.stderr
    );

    // The code the release copies is not in the working tree: refused before anything is built.
    p.write(&[("docker/Dockerfile.base", &base)]);
    std::fs::rename(p.dir.join("devbroken"), p.dir.join("moved")).unwrap();
    let no_code = dev(&p, &["--", "true"], &[], tmp.path());
    assert_eq!(no_code.code, 1, "{}", no_code.stderr);
    assert_eq!(no_code.stderr.lines().count(), 1, "{}", no_code.stderr);
    assert!(
        no_code
            .stderr
            .contains("the release copies devbroken, which is not in the working tree"),
        "{}",
        no_code.stderr
    );
    std::fs::rename(p.dir.join("moved"), p.dir.join("devbroken")).unwrap();

    // A base that does not build tags nothing.
    p.write(&[("docker/Dockerfile.base", &format!("{base}RUN exit 3\n"))]);
    let failed = dev(&p, &["--", "true"], &[], tmp.path());
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert_eq!(error_lines(&failed.stderr), 1, "{}", failed.stderr);
    assert_eq!(leftovers("devbroken"), (String::new(), String::new()));

    // A command the image does not have: the container cannot start.
    p.write(&[("docker/Dockerfile.base", &base)]);
    let absent = dev(&p, &["--", "no-such-command"], &[], tmp.path());
    assert_eq!(absent.code, 1, "{}", absent.stderr);
    assert_eq!(error_lines(&absent.stderr), 1, "{}", absent.stderr);
    assert!(
        absent.stderr.contains("error: the dev container did not run: docker run exited 127 (the command was not found in the image)"),
        "{}",
        absent.stderr
    );
    let (containers, _) = leftovers("devbroken");
    assert_eq!(containers, "", "no container left");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
