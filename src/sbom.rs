//! The inventory as a software bill of materials the ecosystem reads: CycloneDX 1.6 JSON and
//! SPDX 2.3 JSON, with package URLs (purl) for every apt, pip and conda package, the image's
//! CUDA facts and what it needs from a GPU host as properties, and the image digest as the
//! subject. Deterministic: no wall-clock time (the image's creation time, which a release sets
//! to `SOURCE_DATE_EPOCH`), no random serial number, everything sorted.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::inventory::{Inventory, OsRelease};

/// What a package URL leaves as it is: letters, digits and `.-_~` (RFC 3986's unreserved), and
/// `:`, which the purl spec says is never encoded (a Debian epoch: `tzdata@1:2024a-0`).
const PURL_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b':')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

const TOOL: &str = "docker-repro";
const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The image the bill describes.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// What the user named (a tag, or an archive and the image in it).
    pub name: &'a str,
    /// The image manifest's digest, when known (a legacy `docker save` archive has none).
    pub digest: Option<&'a str>,
    /// The image config's `created` (RFC 3339), when it has one.
    pub created: Option<&'a str>,
}

/// One package of the bill.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Package {
    purl: String,
    name: String,
    version: String,
    /// Where it is installed (a Python or conda environment), for pip and conda.
    environment: Option<String>,
    /// Hashes of the package archive, `(CycloneDX algorithm, hex)`: a conda record's sha256
    /// and MD5, when they are hex of the right length.
    hashes: Vec<(&'static str, String)>,
    /// Where the package archive was fetched from: a conda record's URL.
    download: Option<String>,
}

/// The hashes a conda record holds that are what they claim to be (hex of their length).
fn conda_hashes(sha256: &str, md5: &str) -> Vec<(&'static str, String)> {
    let hex = |v: &str, n: usize| v.len() == n && v.bytes().all(|b| b.is_ascii_hexdigit());
    let mut out = Vec::new();
    if hex(sha256, 64) {
        out.push(("SHA-256", sha256.to_ascii_lowercase()));
    }
    if hex(md5, 32) {
        out.push(("MD5", md5.to_ascii_lowercase()));
    }
    out
}

fn escape(text: &str) -> String {
    utf8_percent_encode(text, PURL_ESCAPE).to_string()
}

/// `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS`, qualifiers sorted by key, empty ones left out.
fn purl(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    version: &str,
    qualifiers: &[(&str, &str)],
) -> String {
    let mut out = format!("pkg:{kind}/");
    if let Some(ns) = namespace {
        out.push_str(&escape(ns));
        out.push('/');
    }
    out.push_str(&escape(name));
    if !version.is_empty() {
        out.push('@');
        out.push_str(&escape(version));
    }
    let mut qualifiers: Vec<&(&str, &str)> =
        qualifiers.iter().filter(|(_, v)| !v.is_empty()).collect();
    qualifiers.sort();
    for (i, (k, v)) in qualifiers.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&escape(v));
    }
    out
}

/// `conda-forge` and `linux-64` of a conda record's channel or URL
/// (`https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-….conda`).
fn conda_channel_and_subdir(channel: &str, url: &str) -> (String, String) {
    let subdir_of = |s: &str| {
        s.split('/')
            .rev()
            .find(|part| {
                part.starts_with("linux-")
                    || part.starts_with("osx-")
                    || part.starts_with("win-")
                    || *part == "noarch"
            })
            .unwrap_or("")
            .to_string()
    };
    let subdir = match subdir_of(url) {
        s if !s.is_empty() => s,
        _ => subdir_of(channel),
    };
    let name = if channel.contains("://") {
        let trimmed = channel.trim_end_matches('/');
        let trimmed = trimmed
            .strip_suffix(&format!("/{subdir}"))
            .unwrap_or(trimmed);
        trimmed.rsplit('/').next().unwrap_or("").to_string()
    } else {
        channel.to_string()
    };
    (name, subdir)
}

fn packages(inventory: &Inventory) -> Vec<Package> {
    let mut out = Vec::new();
    let os: Option<&OsRelease> = inventory.os.as_ref();
    let namespace = os.map_or("debian", |o| o.id.as_str());
    let distro = os
        .map(|o| {
            if o.version_id.is_empty() {
                o.id.clone()
            } else {
                format!("{}-{}", o.id, o.version_id)
            }
        })
        .unwrap_or_default();
    for p in &inventory.apt {
        out.push(Package {
            purl: purl(
                "deb",
                Some(namespace),
                &p.name,
                &p.version,
                &[("arch", &p.architecture), ("distro", &distro)],
            ),
            name: p.name.clone(),
            version: p.version.clone(),
            environment: None,
            hashes: Vec::new(),
            download: None,
        });
    }
    for p in &inventory.pip {
        out.push(Package {
            purl: purl("pypi", None, &p.normalized, &p.version, &[]),
            name: p.name.clone(),
            version: p.version.clone(),
            environment: Some(p.environment.clone()),
            hashes: Vec::new(),
            download: None,
        });
    }
    for c in &inventory.conda {
        let p = &c.package;
        let (channel, subdir) = conda_channel_and_subdir(&p.channel, &p.url);
        out.push(Package {
            purl: purl(
                "conda",
                None,
                &p.name,
                &p.version,
                &[
                    ("build", &p.build),
                    ("channel", &channel),
                    ("subdir", &subdir),
                ],
            ),
            name: p.name.clone(),
            version: p.version.clone(),
            environment: Some(c.environment.clone()),
            hashes: conda_hashes(&p.sha256, &p.md5),
            download: Some(p.url.clone()).filter(|u| {
                !u.is_empty() && !u.contains(|c: char| c.is_whitespace() || c.is_control())
            }),
        });
    }
    out.sort();
    out.dedup();
    out
}

/// The image's CUDA facts and GPU needs, as `(name, value)` properties, sorted.
fn cuda_properties(inventory: &Inventory) -> Vec<(String, String)> {
    let locked = inventory.to_lock();
    let mut props: Vec<(String, String)> = locked
        .cuda
        .iter()
        .map(|(k, v)| (format!("{TOOL}:cuda:{k}"), v.clone()))
        .collect();
    if let Some(needs) = crate::host::needs::for_lock(&locked) {
        props.push((format!("{TOOL}:needs:cuda"), needs.cuda));
        props.push((format!("{TOOL}:needs:driver"), needs.driver));
        props.push((
            format!("{TOOL}:needs:driver_all_features"),
            needs.driver_all_features,
        ));
    }
    props.sort();
    props
}

/// RFC 3339 to the second, in UTC (`2024-05-01T12:00:00Z`), as SPDX wants it; the epoch when
/// the image says no time or one that is not RFC 3339.
fn seconds(created: Option<&str>) -> String {
    let time = created
        .and_then(|c| {
            humantime::parse_rfc3339_weak(c.trim_end_matches('Z'))
                .ok()
                .or_else(|| humantime::parse_rfc3339(c).ok())
        })
        .unwrap_or(std::time::UNIX_EPOCH);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// A name-based UUID (version 5 layout, from SHA-256) for the bill: the same image and packages
/// give the same serial number.
fn stable_uuid(subject: &Subject, packages: &[Package]) -> String {
    let mut hash = Sha256::new();
    hash.update(subject.name.as_bytes());
    hash.update([0]);
    hash.update(subject.digest.unwrap_or("").as_bytes());
    for p in packages {
        hash.update([0]);
        hash.update(p.purl.as_bytes());
    }
    let mut b: [u8; 16] = hash.finalize()[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// CycloneDX 1.6 JSON.
pub fn cyclonedx(subject: &Subject, inventory: &Inventory) -> Value {
    let packages = packages(inventory);
    let mut seen = std::collections::BTreeSet::new();
    let components: Vec<Value> = packages
        .iter()
        .map(|p| {
            // One purl installed in two environments is two components: refs stay unique.
            let mut bom_ref = p.purl.clone();
            if !seen.insert(bom_ref.clone()) {
                bom_ref = format!("{}#{}", p.purl, p.environment.as_deref().unwrap_or(""));
            }
            let mut c = json!({
                "type": "library",
                "bom-ref": bom_ref,
                "name": p.name,
                "version": p.version,
                "purl": p.purl,
            });
            if let Some(env) = &p.environment {
                c["properties"] = json!([{"name": format!("{TOOL}:environment"), "value": env}]);
            }
            if !p.hashes.is_empty() {
                c["hashes"] = p
                    .hashes
                    .iter()
                    .map(|(alg, hex)| json!({"alg": alg, "content": hex}))
                    .collect();
            }
            if let Some(url) = &p.download {
                c["externalReferences"] = json!([{"type": "distribution", "url": url}]);
            }
            c
        })
        .collect();
    let mut image = json!({
        "type": "container",
        "bom-ref": "image",
        "name": subject.name,
    });
    if let Some(d) = subject.digest {
        image["version"] = json!(d);
        image["hashes"] = json!([{"alg": "SHA-256", "content": d.trim_start_matches("sha256:")}]);
    }
    let props: Vec<Value> = cuda_properties(inventory)
        .into_iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    if !props.is_empty() {
        image["properties"] = Value::Array(props);
    }
    let refs: Vec<Value> = components.iter().map(|c| c["bom-ref"].clone()).collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", stable_uuid(subject, &packages)),
        "version": 1,
        "metadata": {
            "timestamp": seconds(subject.created),
            "tools": {"components": [{"type": "application", "name": TOOL, "version": TOOL_VERSION}]},
            "component": image,
        },
        "components": components,
        "dependencies": [{"ref": "image", "dependsOn": refs}],
    })
}

/// SPDX 2.3 JSON.
pub fn spdx(subject: &Subject, inventory: &Inventory) -> Value {
    let packages = packages(inventory);
    let created = seconds(subject.created);
    let tool = format!("Tool: {TOOL}-{TOOL_VERSION}");
    let annotations: Vec<Value> = cuda_properties(inventory)
        .into_iter()
        .map(|(name, value)| {
            json!({
                "annotator": tool,
                "annotationDate": created,
                "annotationType": "OTHER",
                "comment": format!("{name}={value}"),
            })
        })
        .collect();
    let mut image = json!({
        "SPDXID": "SPDXRef-Image",
        "name": subject.name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
    });
    if let Some(d) = subject.digest {
        image["versionInfo"] = json!(d);
        image["checksums"] =
            json!([{"algorithm": "SHA256", "checksumValue": d.trim_start_matches("sha256:")}]);
    }
    if !annotations.is_empty() {
        image["annotations"] = Value::Array(annotations);
    }
    let mut all = vec![image];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    for (n, p) in packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{}", n + 1);
        let mut package = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl}],
        });
        if let Some(env) = &p.environment {
            package["comment"] = json!(format!("installed in {env}"));
        }
        if !p.hashes.is_empty() {
            package["checksums"] = p
                .hashes
                .iter()
                .map(|(alg, hex)| json!({"algorithm": alg.replace('-', ""), "checksumValue": hex}))
                .collect();
        }
        // SPDX's download location is a URL of a network protocol; a local channel's
        // `file://` stays NOASSERTION.
        if let Some(url) = p
            .download
            .as_ref()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        {
            package["downloadLocation"] = json!(url);
        }
        all.push(package);
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": subject.name,
        "documentNamespace": format!("urn:uuid:{}", stable_uuid(subject, &packages)),
        "creationInfo": {"created": created, "creators": [tool]},
        "packages": all,
        "relationships": relationships,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{AptPackage, CondaPackage, CondaRecord, CudaComponent, PipPackage};

    fn sample() -> Inventory {
        Inventory {
            os: Some(OsRelease { id: "debian".into(), version_id: "12".into() }),
            apt: vec![
                AptPackage { name: "libstdc++6".into(), version: "12.2.0-14".into(), architecture: "amd64".into(), source: "gcc-12".into() },
                AptPackage { name: "bash".into(), version: "5.2.15-2+b2".into(), architecture: "amd64".into(), source: "bash".into() },
                AptPackage { name: "tzdata".into(), version: "1:2024a-0+deb12u1".into(), architecture: "all".into(), source: "tzdata".into() },
            ],
            pip: vec![
                PipPackage { name: "NumPy".into(), normalized: "numpy".into(), version: "1.26.4".into(), environment: "/usr/lib/python3/dist-packages".into(), installer: "pip".into(), direct_url: None },
                PipPackage { name: "torch".into(), normalized: "torch".into(), version: "2.5.1+cu124".into(), environment: "/opt/venv/lib/python3.11/site-packages".into(), installer: "pip".into(), direct_url: None },
                PipPackage { name: "numpy".into(), normalized: "numpy".into(), version: "1.26.4".into(), environment: "/opt/venv/lib/python3.11/site-packages".into(), installer: "pip".into(), direct_url: None },
            ],
            conda: vec![CondaPackage {
                package: CondaRecord {
                    name: "numpy".into(),
                    version: "1.26.4".into(),
                    build: "py311h64a7726_0".into(),
                    channel: "https://conda.anaconda.org/conda-forge/linux-64".into(),
                    url: "https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-py311h64a7726_0.conda".into(),
                    sha256: "3F4C".repeat(16),
                    md5: "not hex".into(),
                },
                environment: "/opt/conda".into(),
            }],
            cuda: vec![CudaComponent { name: "torch-cuda".into(), version: "12.4".into(), source: "/x".into() }],
        }
    }

    #[test]
    fn package_urls_follow_the_purl_spec() {
        let sub = Subject {
            name: "lab/img:1",
            digest: Some("sha256:abcd"),
            created: Some("2024-05-01T12:00:00.123456789Z"),
        };
        let bom = cyclonedx(&sub, &sample());
        let purls: Vec<&str> = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["purl"].as_str().unwrap())
            .collect();
        assert_eq!(
            purls,
            [
                "pkg:conda/numpy@1.26.4?build=py311h64a7726_0&channel=conda-forge&subdir=linux-64",
                "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12",
                "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64&distro=debian-12",
                "pkg:deb/debian/tzdata@1:2024a-0%2Bdeb12u1?arch=all&distro=debian-12",
                "pkg:pypi/numpy@1.26.4",
                "pkg:pypi/numpy@1.26.4",
                "pkg:pypi/torch@2.5.1%2Bcu124",
            ]
        );
        let refs: std::collections::BTreeSet<&str> = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["bom-ref"].as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), 7, "bom-refs are unique: {refs:?}");
        // A conda package carries its archive's hash (the MD5 that is not hex left out) and URL.
        let conda = &bom["components"][0];
        assert_eq!(
            conda["hashes"],
            json!([{"alg": "SHA-256", "content": "3f4c".repeat(16)}])
        );
        assert_eq!(
            conda["externalReferences"][0]["url"],
            "https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-py311h64a7726_0.conda"
        );
        let doc = spdx(&sub, &sample());
        let package = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "numpy" && p["comment"] == "installed in /opt/conda")
            .unwrap();
        assert_eq!(
            package["checksums"],
            json!([{"algorithm": "SHA256", "checksumValue": "3f4c".repeat(16)}])
        );
        assert_eq!(
            package["downloadLocation"],
            conda["externalReferences"][0]["url"]
        );
        assert_eq!(bom["metadata"]["timestamp"], "2024-05-01T12:00:00Z");
        let props = &bom["metadata"]["component"]["properties"];
        assert_eq!(
            props[0],
            json!({"name": "docker-repro:cuda:torch-cuda", "value": "12.4"})
        );
        assert!(
            props
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "docker-repro:needs:driver" && p["value"] == "525.60.13"),
            "{props}"
        );
    }

    #[test]
    fn the_same_image_gives_the_same_bytes_and_another_image_another_serial() {
        let sub = Subject {
            name: "img",
            digest: Some("sha256:abcd"),
            created: None,
        };
        let a = serde_json::to_string(&cyclonedx(&sub, &sample())).unwrap();
        let mut shuffled = sample();
        shuffled.apt.reverse();
        shuffled.pip.reverse();
        assert_eq!(
            a,
            serde_json::to_string(&cyclonedx(&sub, &shuffled)).unwrap()
        );
        assert_eq!(spdx(&sub, &sample()), spdx(&sub, &shuffled));
        let other = Subject {
            digest: Some("sha256:ef01"),
            ..sub.clone()
        };
        assert_ne!(
            cyclonedx(&sub, &sample())["serialNumber"],
            cyclonedx(&other, &sample())["serialNumber"]
        );
        let serial = cyclonedx(&sub, &sample())["serialNumber"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            serial.starts_with("urn:uuid:") && serial.len() == 45 && serial.as_bytes()[23] == b'5',
            "{serial}"
        );
        assert_eq!(
            spdx(&sub, &sample())["creationInfo"]["created"],
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn an_image_with_no_os_release_nor_packages_is_still_a_valid_bill() {
        let sub = Subject {
            name: "scratch",
            digest: None,
            created: None,
        };
        let bom = cyclonedx(&sub, &Inventory::default());
        assert_eq!(bom["components"], json!([]));
        assert!(bom["metadata"]["component"].get("version").is_none());
        let doc = spdx(&sub, &Inventory::default());
        assert_eq!(doc["packages"].as_array().unwrap().len(), 1);
    }
}
