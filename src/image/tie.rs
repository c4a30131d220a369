//! Ties a locked image index to the locked manifests. A lock of several platforms names one
//! index per role and one manifest per platform; the engine runs and loads the index, so an
//! index digest that is not bound to those manifests would let another image run under a lock
//! that verifies. Every path that reads an index (engine, registry, archive, rebuild, run)
//! calls [`tie`]: the index's bytes against its digest, its platform → manifest map against the
//! lock's, and each manifest's config and layers against the lock's.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::image::digest::Digest;

/// The annotation that marks an attestation manifest in an index (BuildKit's provenance and
/// SBOM): not a runnable image, and attached to the manifest its subject annotation names.
const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
const ATTESTATION: &str = "attestation-manifest";

/// What the lock says one platform of a role is.
#[derive(Debug, Clone)]
pub struct LockedManifest<'a> {
    /// `os/arch[/variant]`.
    pub platform: String,
    pub manifest: &'a str,
    pub config: &'a str,
    pub layers: &'a [crate::image::digest::Digest],
}

/// What a manifest, read and checked against its digest, names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFacts {
    pub config: String,
    pub layers: Vec<String>,
}

/// How an index is not the one the lock describes. Each message is one line that names the
/// index, the platform and both manifests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untied {
    #[error("the image index read as {index} has the digest {actual}; its bytes are not the locked index")]
    IndexBytes { index: String, actual: String },
    #[error("the locked image index {index} is not an image index: {why}")]
    NotAnIndex { index: String, why: String },
    #[error("the image index {index} lists {listed} for {platform}, the lock names {locked}: the index does not run the locked image")]
    OtherManifest {
        index: String,
        platform: String,
        listed: String,
        locked: String,
    },
    #[error("the image index {index} lists no manifest for {platform}, the lock names {locked}")]
    MissingPlatform {
        index: String,
        platform: String,
        locked: String,
    },
    #[error("the image index {index} lists {platform} twice ({first} and {second}): which one runs is the engine's choice, not the lock's")]
    TwoForOnePlatform {
        index: String,
        platform: String,
        first: String,
        second: String,
    },
    #[error(
        "the image index {index} lists {listed} for {platform}, a platform the lock does not name"
    )]
    ExtraPlatform {
        index: String,
        platform: String,
        listed: String,
    },
    #[error("the image index {index} lists {listed} without a platform; the lock can tie no manifest to it")]
    NoPlatform { index: String, listed: String },
    #[error("the image index {index} lists an attestation {listed} of {subject}, a manifest it does not list")]
    DanglingAttestation {
        index: String,
        listed: String,
        subject: String,
    },
    #[error("manifest {manifest} ({platform}) names config {found}, the lock names {locked}")]
    Config {
        manifest: String,
        platform: String,
        found: String,
        locked: String,
    },
    #[error("manifest {manifest} ({platform}) names {found} as layer {position}, the lock names {locked}")]
    Layers {
        manifest: String,
        platform: String,
        position: usize,
        found: String,
        locked: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexDoc {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Entry>>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Entry {
    digest: String,
    #[serde(default)]
    platform: Option<EntryPlatform>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct EntryPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl EntryPlatform {
    fn name(&self) -> String {
        match self.variant.as_deref() {
            Some(v) if !v.is_empty() => format!("{}/{}/{v}", self.os, self.architecture),
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// `linux/arm64/v8` is what containerd calls `linux/arm64`: one platform, two spellings.
fn same_platform(a: &str, b: &str) -> bool {
    let canonical = |p: &str| {
        p.strip_suffix("/v8")
            .filter(|s| s.ends_with("/arm64"))
            .map(str::to_string)
            .unwrap_or_else(|| p.to_string())
    };
    canonical(a) == canonical(b)
}

/// Text from a document to be quoted in a message: clipped and with control characters escaped.
fn shown(text: &str) -> String {
    crate::ui::escape(&crate::error::clip(text)).into_owned()
}

/// The platform → manifest map of an index's runnable images, attestations left out by their
/// annotation (and only when they carry the `unknown/unknown` platform BuildKit gives them).
fn runnable(index: &str, bytes: &[u8]) -> Result<Vec<(String, String)>, Untied> {
    let not_index = |why: String| Untied::NotAnIndex {
        index: index.to_string(),
        why,
    };
    let doc: IndexDoc = serde_json::from_slice(bytes)
        .map_err(|e| not_index(format!("not JSON of an index ({e})")))?;
    let is_manifest = doc.config.is_some()
        || doc
            .media_type
            .as_deref()
            .is_some_and(|t| !crate::image::oci::INDEX_TYPES.contains(&t));
    let entries = match doc.manifests {
        Some(entries) if !is_manifest => entries,
        _ => return Err(not_index("it is a single image manifest".into())),
    };
    let listed: Vec<&str> = entries.iter().map(|e| e.digest.as_str()).collect();
    let mut map: Vec<(String, String)> = Vec::new();
    for entry in &entries {
        let digest = shown(&entry.digest);
        let platform = entry.platform.as_ref().map(EntryPlatform::name);
        let attestation = entry.annotations.get(REFERENCE_TYPE).map(String::as_str)
            == Some(ATTESTATION)
            && platform.as_deref() == Some("unknown/unknown");
        if attestation {
            let subject = entry
                .annotations
                .get(REFERENCE_DIGEST)
                .map(String::as_str)
                .unwrap_or("");
            if !listed.contains(&subject) || subject == entry.digest {
                return Err(Untied::DanglingAttestation {
                    index: index.to_string(),
                    listed: digest,
                    subject: shown(subject),
                });
            }
            continue;
        }
        let Some(platform) = platform else {
            return Err(Untied::NoPlatform {
                index: index.to_string(),
                listed: digest,
            });
        };
        if let Some((_, first)) = map.iter().find(|(p, _)| same_platform(p, &platform)) {
            return Err(Untied::TwoForOnePlatform {
                index: index.to_string(),
                platform: shown(&platform),
                first: first.clone(),
                second: digest,
            });
        }
        map.push((platform, digest));
    }
    Ok(map)
}

/// Whether the index `bytes` are the locked index `index_digest` and run exactly the locked
/// manifests: every locked platform's manifest is the one the index lists for it, the index
/// lists no other runnable manifest, and each manifest (read by `read`, which checks its bytes
/// against its digest) names the locked config and layers. `locked` holds every platform the
/// index was built for. The outer `Err` is `read`'s own failure, never a verdict.
pub fn tie<E>(
    index_digest: &str,
    bytes: &[u8],
    locked: &[LockedManifest],
    mut read: impl FnMut(&str) -> Result<ManifestFacts, E>,
) -> Result<Result<(), Untied>, E> {
    let actual = Digest::of(bytes);
    if actual.as_str() != index_digest {
        return Ok(Err(Untied::IndexBytes {
            index: index_digest.to_string(),
            actual: actual.into(),
        }));
    }
    let map = match runnable(index_digest, bytes) {
        Ok(map) => map,
        Err(untied) => return Ok(Err(untied)),
    };
    for want in locked {
        let Some((_, listed)) = map.iter().find(|(p, _)| same_platform(p, &want.platform)) else {
            return Ok(Err(Untied::MissingPlatform {
                index: index_digest.to_string(),
                platform: want.platform.to_string(),
                locked: want.manifest.to_string(),
            }));
        };
        if listed != want.manifest {
            return Ok(Err(Untied::OtherManifest {
                index: index_digest.to_string(),
                platform: want.platform.to_string(),
                listed: listed.clone(),
                locked: want.manifest.to_string(),
            }));
        }
    }
    if let Some((platform, listed)) = map
        .iter()
        .find(|(p, _)| !locked.iter().any(|l| same_platform(p, &l.platform)))
    {
        return Ok(Err(Untied::ExtraPlatform {
            index: index_digest.to_string(),
            platform: shown(platform),
            listed: listed.clone(),
        }));
    }
    for want in locked {
        if let Err(untied) = tie_manifest(want, &read(want.manifest)?) {
            return Ok(Err(untied));
        }
    }
    Ok(Ok(()))
}

/// Whether a manifest names the locked config and layers, in order.
pub fn tie_manifest(want: &LockedManifest, found: &ManifestFacts) -> Result<(), Untied> {
    if found.config != want.config {
        return Err(Untied::Config {
            manifest: want.manifest.to_string(),
            platform: want.platform.to_string(),
            found: shown(&found.config),
            locked: want.config.to_string(),
        });
    }
    let count = found.layers.len().max(want.layers.len());
    for position in 0..count {
        let (a, b) = (found.layers.get(position), want.layers.get(position));
        if a.map(String::as_str) != b.map(|d| d.as_str()) {
            return Err(Untied::Layers {
                manifest: want.manifest.to_string(),
                platform: want.platform.to_string(),
                position: position + 1,
                found: a.map(|d| shown(d)).unwrap_or_else(|| "nothing".into()),
                locked: b.map_or_else(|| "nothing".into(), |d| d.to_string()),
            });
        }
    }
    Ok(())
}

/// The config and layers a manifest's bytes name (bytes read from a registry, checked here
/// against the digest they were asked for).
pub fn manifest_facts(digest: &str, bytes: &[u8]) -> Result<ManifestFacts, String> {
    #[derive(Deserialize)]
    struct Descriptor {
        digest: String,
    }
    #[derive(Deserialize)]
    struct Manifest {
        config: Descriptor,
        #[serde(default)]
        layers: Vec<Descriptor>,
    }
    let actual = Digest::of(bytes);
    if actual.as_str() != digest {
        return Err(format!(
            "the bytes read for manifest {digest} have the digest {actual}"
        ));
    }
    let manifest: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| format!("manifest {digest} is not an image manifest ({e})"))?;
    Ok(ManifestFacts {
        config: manifest.config.digest,
        layers: manifest.layers.into_iter().map(|l| l.digest).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn entry(d: &str, platform: &str) -> String {
        let mut parts = platform.split('/');
        let (os, arch) = (parts.next().unwrap(), parts.next().unwrap());
        let variant = parts
            .next()
            .map(|v| format!(",\"variant\":\"{v}\""))
            .unwrap_or_default();
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":1,"platform":{{"os":"{os}","architecture":"{arch}"{variant}}}}}"#
        )
    }

    fn attestation(d: &str, subject: &str) -> String {
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":1,"annotations":{{"vnd.docker.reference.digest":"{subject}","vnd.docker.reference.type":"attestation-manifest"}},"platform":{{"os":"unknown","architecture":"unknown"}}}}"#
        )
    }

    fn index(entries: &[String]) -> Vec<u8> {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
            entries.join(",")
        )
        .into_bytes()
    }

    struct Locked {
        amd: String,
        arm: String,
        layers: Vec<crate::image::digest::Digest>,
    }

    fn locked() -> Locked {
        Locked {
            amd: digest('a'),
            arm: digest('b'),
            layers: vec![crate::image::digest::Digest::parse(&digest('1')).unwrap()],
        }
    }

    impl Locked {
        fn manifests(&self) -> Vec<LockedManifest<'_>> {
            vec![
                LockedManifest {
                    platform: "linux/amd64".into(),
                    manifest: &self.amd,
                    config: "sha256:cfg",
                    layers: &self.layers,
                },
                LockedManifest {
                    platform: "linux/arm64".into(),
                    manifest: &self.arm,
                    config: "sha256:cfg",
                    layers: &self.layers,
                },
            ]
        }
    }

    /// Every manifest names the locked config and layers.
    fn reader(_: &str) -> Result<ManifestFacts, String> {
        Ok(ManifestFacts {
            config: "sha256:cfg".into(),
            layers: vec![digest('1')],
        })
    }

    fn check(bytes: &[u8]) -> Result<(), Untied> {
        let l = locked();
        tie(Digest::of(bytes).as_str(), bytes, &l.manifests(), reader).unwrap()
    }

    #[test]
    fn the_locked_index_ties() {
        let l = locked();
        let bytes = index(&[entry(&l.amd, "linux/amd64"), entry(&l.arm, "linux/arm64")]);
        assert_eq!(check(&bytes), Ok(()));
        // containerd's spelling of arm64 is the same platform.
        let v8 = index(&[
            entry(&l.amd, "linux/amd64"),
            entry(&l.arm, "linux/arm64/v8"),
        ]);
        assert_eq!(check(&v8), Ok(()));
    }

    #[test]
    fn an_index_whose_bytes_are_not_the_locked_digest_is_refused() {
        let l = locked();
        let bytes = index(&[entry(&l.amd, "linux/amd64"), entry(&l.arm, "linux/arm64")]);
        let got = tie(&digest('f'), &bytes, &l.manifests(), reader).unwrap();
        assert!(matches!(got, Err(Untied::IndexBytes { .. })), "{got:?}");
    }

    #[test]
    fn another_image_for_a_locked_platform_is_named_with_both_manifests() {
        let l = locked();
        let evil = digest('e');
        let bytes = index(&[entry(&evil, "linux/amd64"), entry(&l.arm, "linux/arm64")]);
        let err = check(&bytes).unwrap_err();
        let index = Digest::of(&bytes).to_string();
        assert_eq!(
            err.to_string(),
            format!("the image index {index} lists {evil} for linux/amd64, the lock names {}: the index does not run the locked image", l.amd)
        );
    }

    #[test]
    fn swapped_platforms_are_refused() {
        let l = locked();
        let bytes = index(&[entry(&l.arm, "linux/amd64"), entry(&l.amd, "linux/arm64")]);
        assert!(matches!(
            check(&bytes),
            Err(Untied::OtherManifest { platform, listed, .. }) if platform == "linux/amd64" && listed == l.arm
        ));
    }

    #[test]
    fn a_platform_listed_twice_is_refused_whichever_comes_first() {
        let l = locked();
        let evil = digest('e');
        for entries in [
            [
                entry(&l.amd, "linux/amd64"),
                entry(&evil, "linux/amd64"),
                entry(&l.arm, "linux/arm64"),
            ],
            [
                entry(&evil, "linux/amd64"),
                entry(&l.amd, "linux/amd64"),
                entry(&l.arm, "linux/arm64"),
            ],
            [
                entry(&l.amd, "linux/amd64"),
                entry(&l.arm, "linux/arm64"),
                entry(&evil, "linux/arm64/v8"),
            ],
        ] {
            let err = check(&index(&entries)).unwrap_err();
            assert!(matches!(err, Untied::TwoForOnePlatform { .. }), "{err}");
            assert!(err.to_string().contains(" twice "), "{err}");
        }
    }

    #[test]
    fn an_extra_runnable_manifest_is_refused() {
        let l = locked();
        let evil = digest('e');
        let bytes = index(&[
            entry(&l.amd, "linux/amd64"),
            entry(&l.arm, "linux/arm64"),
            entry(&evil, "linux/s390x"),
        ]);
        assert!(matches!(
            check(&bytes),
            Err(Untied::ExtraPlatform { platform, listed, .. }) if platform == "linux/s390x" && listed == evil
        ));
        // unknown/unknown without the attestation annotation is not taken for an attestation.
        let unmarked = index(&[
            entry(&l.amd, "linux/amd64"),
            entry(&l.arm, "linux/arm64"),
            entry(&evil, "unknown/unknown"),
        ]);
        assert!(matches!(
            check(&unmarked),
            Err(Untied::ExtraPlatform { .. })
        ));
        let no_platform = index(&[
            entry(&l.amd, "linux/amd64"),
            entry(&l.arm, "linux/arm64"),
            format!(r#"{{"digest":"{evil}","size":1}}"#),
        ]);
        assert!(matches!(
            check(&no_platform),
            Err(Untied::NoPlatform { .. })
        ));
    }

    #[test]
    fn a_missing_platform_is_refused() {
        let l = locked();
        let bytes = index(&[entry(&l.amd, "linux/amd64")]);
        let err = check(&bytes).unwrap_err();
        assert!(
            matches!(&err, Untied::MissingPlatform { platform, locked, .. } if platform == "linux/arm64" && *locked == l.arm),
            "{err}"
        );
        assert!(matches!(
            check(&index(&[])),
            Err(Untied::MissingPlatform { .. })
        ));
    }

    #[test]
    fn attestations_are_left_out_by_annotation_and_must_attest_a_listed_manifest() {
        let l = locked();
        let bytes = index(&[
            entry(&l.amd, "linux/amd64"),
            entry(&l.arm, "linux/arm64"),
            attestation(&digest('c'), &l.amd),
            attestation(&digest('d'), &l.arm),
        ]);
        assert_eq!(check(&bytes), Ok(()));
        let dangling = index(&[
            entry(&l.amd, "linux/amd64"),
            entry(&l.arm, "linux/arm64"),
            attestation(&digest('c'), &digest('9')),
        ]);
        let err = check(&dangling).unwrap_err();
        assert!(matches!(err, Untied::DanglingAttestation { .. }), "{err}");
        // The annotation on a runnable platform does not hide a manifest from the check.
        let disguised = index(&[
            entry(&l.amd, "linux/amd64"),
            entry(&l.arm, "linux/arm64"),
            attestation(&digest('e'), &l.amd).replace("unknown", "s390x"),
        ]);
        assert!(check(&disguised).is_err());
    }

    #[test]
    fn a_manifest_instead_of_an_index_is_refused() {
        let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:x"},"layers":[]}"#;
        assert!(matches!(check(manifest), Err(Untied::NotAnIndex { .. })));
        assert!(matches!(check(b"<html>"), Err(Untied::NotAnIndex { .. })));
    }

    #[test]
    fn each_manifest_must_name_the_locked_config_and_layers() {
        let l = locked();
        let bytes = index(&[entry(&l.amd, "linux/amd64"), entry(&l.arm, "linux/arm64")]);
        let index_digest = Digest::of(&bytes).to_string();
        let other_config = |m: &str| -> Result<ManifestFacts, String> {
            Ok(ManifestFacts {
                config: if m == l.arm {
                    "sha256:other".into()
                } else {
                    "sha256:cfg".into()
                },
                layers: vec![digest('1')],
            })
        };
        let err = tie(&index_digest, &bytes, &l.manifests(), other_config)
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(&err, Untied::Config { platform, .. } if platform == "linux/arm64"),
            "{err}"
        );
        let more_layers = |_: &str| -> Result<ManifestFacts, String> {
            Ok(ManifestFacts {
                config: "sha256:cfg".into(),
                layers: vec![digest('1'), digest('2')],
            })
        };
        let err = tie(&index_digest, &bytes, &l.manifests(), more_layers)
            .unwrap()
            .unwrap_err();
        assert!(matches!(&err, Untied::Layers { position: 2, .. }), "{err}");
        // A reader that fails is an error, not a verdict.
        let broken = |_: &str| -> Result<ManifestFacts, String> { Err("unreadable".into()) };
        assert_eq!(
            tie(&index_digest, &bytes, &l.manifests(), broken).unwrap_err(),
            "unreadable"
        );
    }

    #[test]
    fn registry_manifest_bytes_are_checked_against_their_digest() {
        let bytes = br#"{"schemaVersion":2,"config":{"digest":"sha256:c"},"layers":[{"digest":"sha256:l1"},{"digest":"sha256:l2"}]}"#;
        let d = Digest::of(bytes).to_string();
        assert_eq!(
            manifest_facts(&d, bytes).unwrap(),
            ManifestFacts {
                config: "sha256:c".into(),
                layers: vec!["sha256:l1".into(), "sha256:l2".into()]
            }
        );
        assert!(manifest_facts(&digest('a'), bytes).is_err());
    }
}
