//! What a release carries beside its images: the lock and the SBOMs, attached as OCI 1.1
//! referrers (an artifact manifest whose `subject` is the release's index or manifest). The
//! documents are written here, byte for byte the same for the same release, so that a second
//! push of one release makes no second referrer; and the referrer lists a registry or an
//! archive answers with are read here, each entry judged before anything it names is fetched.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::image::digest::Digest;

/// The artifact type of an attached `repro.lock` (ours: no standard type exists for it).
pub const LOCK_TYPE: &str = "application/vnd.docker-repro.lock.v1+toml";
/// The artifact type of an attached CycloneDX SBOM (the format's registered media type).
pub const CYCLONEDX_TYPE: &str = "application/vnd.cyclonedx+json";
/// The artifact type of an attached SPDX SBOM (the format's registered media type).
pub const SPDX_TYPE: &str = "application/spdx+json";

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// The OCI empty descriptor's media type, the config of an artifact that has none.
pub const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty config's bytes, `{}`, as the image spec defines it.
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// The annotation that ties an entry of an OCI layout's `index.json` to the image it refers
/// to, as containerd and buildx record referrers in a layout.
pub const LAYOUT_SUBJECT: &str = "io.containerd.manifest.subject";
/// The file name an artifact's one blob carries (`org.opencontainers.image.title`).
pub const TITLE: &str = "org.opencontainers.image.title";
pub const CREATED: &str = "org.opencontainers.image.created";

/// A referrers list never names more artifacts than this: a release attaches a lock and two
/// SBOMs per image; other tools add a few signatures. A longer list is refused unread.
pub const MAX_REFERRERS: usize = 256;
/// The most bytes an artifact manifest or a referrers list may take: a few KiB in truth.
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// An OCI content descriptor, as much of it as referrers use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// The descriptor of `bytes` of `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: Digest::of(bytes).to_string(),
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// One document to attach to an image: what it is and its bytes.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub artifact_type: &'static str,
    /// The file name a reviewer's tool saves it as (`repro.lock`, `release.cdx.json`).
    pub title: String,
    pub content: Vec<u8>,
}

/// An artifact manifest ready to push or archive: its bytes, and the blobs it names.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub manifest: Vec<u8>,
    /// The descriptor a referrers list gives it (with its artifact type).
    pub descriptor: Descriptor,
    /// The empty config and the attached document, each `(digest, bytes)`.
    pub blobs: Vec<(String, Vec<u8>)>,
}

#[derive(Serialize, Deserialize)]
struct ArtifactManifest {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: String,
    #[serde(rename = "artifactType")]
    artifact_type: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
    subject: Descriptor,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// The artifact manifest attaching `attachment` to `subject`. `created` is the release's
/// epoch in RFC 3339, so the manifest (and its digest) is the same at every push.
pub fn artifact(attachment: &Attachment, subject: &Descriptor, created: &str) -> Artifact {
    let mut config = Descriptor::of(EMPTY_TYPE, EMPTY_CONFIG);
    config.annotations.clear();
    let mut layer = Descriptor::of(attachment.artifact_type, &attachment.content);
    layer
        .annotations
        .insert(TITLE.to_string(), attachment.title.clone());
    let manifest = ArtifactManifest {
        schema_version: 2,
        media_type: MANIFEST_TYPE.to_string(),
        artifact_type: attachment.artifact_type.to_string(),
        config: config.clone(),
        layers: vec![layer.clone()],
        subject: Descriptor {
            artifact_type: None,
            annotations: BTreeMap::new(),
            ..subject.clone()
        },
        annotations: BTreeMap::from([(CREATED.to_string(), created.to_string())]),
    };
    let bytes = serde_json::to_vec(&manifest).expect("a manifest serializes");
    let mut descriptor = Descriptor::of(MANIFEST_TYPE, &bytes);
    descriptor.artifact_type = Some(attachment.artifact_type.to_string());
    descriptor.annotations = manifest.annotations.clone();
    Artifact {
        manifest: bytes,
        descriptor,
        blobs: vec![
            (config.digest, EMPTY_CONFIG.to_vec()),
            (layer.digest, attachment.content.clone()),
        ],
    }
}

/// Why a referrer or a referrers list is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferrerError {
    #[error("is not an OCI image index ({0})")]
    NotAnIndex(String),
    #[error("lists {0} artifacts, more than the {MAX_REFERRERS} read")]
    TooMany(usize),
    #[error("lists {0}, whose digest is not a sha256 digest")]
    BadDigest(String),
    #[error("is not an OCI artifact manifest ({0})")]
    NotAnArtifact(String),
    #[error(
        "refers to {found}, not to {expected}; refusing an artifact attached to another image"
    )]
    ForeignSubject { found: String, expected: String },
    #[error("holds {0} blobs where an attached document has exactly one")]
    NotOneBlob(usize),
    #[error("is of type {found}, where its list said {listed}")]
    TypeMismatch { found: String, listed: String },
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// The entries of a referrers list (the referrers API's answer, or the index under the
/// `sha256-<hex>` tag) of type `artifact_type`, each digest checked. Bounded in length.
pub fn listed(index: &[u8], artifact_type: &str) -> Result<Vec<Descriptor>, ReferrerError> {
    let index: Index =
        serde_json::from_slice(index).map_err(|e| ReferrerError::NotAnIndex(e.to_string()))?;
    if index.manifests.len() > MAX_REFERRERS {
        return Err(ReferrerError::TooMany(index.manifests.len()));
    }
    let mut found = Vec::new();
    for entry in index.manifests {
        if Digest::parse(&entry.digest).is_err() {
            return Err(ReferrerError::BadDigest(
                crate::ui::escape(&crate::error::clip(&entry.digest)).into_owned(),
            ));
        }
        if entry.artifact_type.as_deref() == Some(artifact_type) {
            found.push(entry);
        }
    }
    Ok(found)
}

/// Every descriptor of a referrers list, with `artifact` added unless it is listed already:
/// `None` when nothing is to be written (a second push of the same release).
pub fn with_added(
    index: Option<&[u8]>,
    artifact: &Descriptor,
) -> Result<Option<Vec<u8>>, ReferrerError> {
    let mut manifests = match index {
        Some(bytes) => {
            let index: Index = serde_json::from_slice(bytes)
                .map_err(|e| ReferrerError::NotAnIndex(e.to_string()))?;
            if index.manifests.len() >= MAX_REFERRERS {
                return Err(ReferrerError::TooMany(index.manifests.len()));
            }
            index.manifests
        }
        None => Vec::new(),
    };
    if manifests.iter().any(|m| m.digest == artifact.digest) {
        return Ok(None);
    }
    manifests.push(artifact.clone());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": manifests,
    });
    Ok(Some(
        serde_json::to_vec(&index).expect("an index serializes"),
    ))
}

/// The one blob an artifact manifest attaches, once the manifest is found to refer to
/// `subject` and to be of the type its list said.
pub fn attached_blob(
    manifest: &[u8],
    subject: &str,
    listed_type: &str,
) -> Result<Descriptor, ReferrerError> {
    let parsed: ArtifactManifest = serde_json::from_slice(manifest)
        .map_err(|e| ReferrerError::NotAnArtifact(e.to_string()))?;
    if parsed.subject.digest != subject {
        return Err(ReferrerError::ForeignSubject {
            found: crate::ui::escape(&crate::error::clip(&parsed.subject.digest)).into_owned(),
            expected: subject.to_string(),
        });
    }
    if parsed.artifact_type != listed_type {
        return Err(ReferrerError::TypeMismatch {
            found: crate::ui::escape(&crate::error::clip(&parsed.artifact_type)).into_owned(),
            listed: listed_type.to_string(),
        });
    }
    let [blob] = <[Descriptor; 1]>::try_from(parsed.layers)
        .map_err(|layers| ReferrerError::NotOneBlob(layers.len()))?;
    if Digest::parse(&blob.digest).is_err() {
        return Err(ReferrerError::BadDigest(
            crate::ui::escape(&crate::error::clip(&blob.digest)).into_owned(),
        ));
    }
    Ok(blob)
}

/// The tag the distribution spec's fallback lists the referrers of `subject` under, for
/// registries without the referrers API: `sha256-<hex>`.
pub fn fallback_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Descriptor {
        Descriptor::of(INDEX_TYPE, b"{\"manifests\":[]}")
    }

    fn lock_attachment(text: &str) -> Attachment {
        Attachment {
            artifact_type: LOCK_TYPE,
            title: "repro.lock".into(),
            content: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_same_release_makes_the_same_artifact_bytes() {
        let a = artifact(
            &lock_attachment("version = 1\n"),
            &subject(),
            "2024-05-01T12:00:00Z",
        );
        let b = artifact(
            &lock_attachment("version = 1\n"),
            &subject(),
            "2024-05-01T12:00:00Z",
        );
        assert_eq!(a.manifest, b.manifest);
        assert_eq!(a.descriptor.digest, Digest::of(&a.manifest).to_string());
        assert_eq!(a.descriptor.artifact_type.as_deref(), Some(LOCK_TYPE));
        let text = String::from_utf8(a.manifest.clone()).unwrap();
        assert!(
            text.contains("\"subject\":{\"mediaType\":\"application/vnd.oci.image.index.v1+json\""),
            "{text}"
        );
        assert!(text.contains(EMPTY_TYPE), "{text}");
        // The empty config is the spec's: `{}`, sha256:44136fa3...
        assert_eq!(
            a.blobs[0].0,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn an_artifact_listed_already_is_not_added_again() {
        let a = artifact(
            &lock_attachment("version = 1\n"),
            &subject(),
            "2024-05-01T12:00:00Z",
        );
        let first = with_added(None, &a.descriptor)
            .unwrap()
            .expect("added to no list");
        assert_eq!(with_added(Some(&first), &a.descriptor).unwrap(), None);
        let other = artifact(
            &lock_attachment("version = 1\n#\n"),
            &subject(),
            "2024-05-01T12:00:00Z",
        );
        let second = with_added(Some(&first), &other.descriptor)
            .unwrap()
            .expect("a new one");
        assert_eq!(listed(&second, LOCK_TYPE).unwrap().len(), 2);
        assert_eq!(listed(&second, SPDX_TYPE).unwrap().len(), 0);
    }

    #[test]
    fn an_artifact_about_another_image_is_refused() {
        let a = artifact(
            &lock_attachment("version = 1\n"),
            &subject(),
            "2024-05-01T12:00:00Z",
        );
        let wanted = subject().digest;
        assert!(attached_blob(&a.manifest, &wanted, LOCK_TYPE).is_ok());
        let other = Digest::of(b"another").to_string();
        assert!(matches!(
            attached_blob(&a.manifest, &other, LOCK_TYPE),
            Err(ReferrerError::ForeignSubject { .. })
        ));
        assert!(matches!(
            attached_blob(&a.manifest, &wanted, SPDX_TYPE),
            Err(ReferrerError::TypeMismatch { .. })
        ));
    }

    #[test]
    fn a_list_with_a_bad_digest_or_too_many_entries_is_refused() {
        let bad = br#"{"manifests":[{"mediaType":"x","digest":"sha256:../../etc","size":1,"artifactType":"t"}]}"#;
        assert!(matches!(listed(bad, "t"), Err(ReferrerError::BadDigest(_))));
        let one =
            serde_json::json!({"mediaType": "x", "digest": Digest::of(b"").to_string(), "size": 0});
        let many = serde_json::json!({"manifests": vec![one; MAX_REFERRERS + 1]});
        assert!(matches!(
            listed(&serde_json::to_vec(&many).unwrap(), "t"),
            Err(ReferrerError::TooMany(_))
        ));
        assert!(matches!(
            listed(b"[", "t"),
            Err(ReferrerError::NotAnIndex(_))
        ));
    }

    #[test]
    fn the_fallback_tag_is_the_subjects_digest_with_a_dash() {
        let d = Digest::of(b"x");
        assert_eq!(fallback_tag(&d), format!("sha256-{}", d.hex()));
    }
}
