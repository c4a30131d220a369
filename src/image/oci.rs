//! OCI and Docker manifests as a registry returns them (an index resolved to a platform's
//! manifest), an image config's history mapped to its layers, and unpacking buildx's own OCI
//! output as a build context. Image archives are read by `inventory::layers`, the one reader.

use std::fs::File;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

pub const INDEX_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// The digest of `bytes`, as text: [`crate::image::digest::Digest::of`].
pub fn sha256_digest(bytes: &[u8]) -> String {
    crate::image::digest::Digest::of(bytes).into()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl Platform {
    fn matches(&self, wanted: &str) -> bool {
        let mut parts = wanted.split('/');
        let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
        Some(self.os.as_str()) == os
            && Some(self.architecture.as_str()) == arch
            && (variant.is_none() || self.variant.as_deref() == variant)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default)]
    config: Option<Descriptor>,
}

/// What a registry reference resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Digest of the document the tag points at (an index, or a single manifest).
    pub index_digest: String,
    /// Digest of the manifest for the wanted platform.
    pub platform_digest: String,
}

/// Picks the manifest for `platform` from a raw index or manifest, as returned by
/// `docker buildx imagetools inspect --raw`.
pub fn resolve_raw(raw: &[u8], platform: &str) -> std::result::Result<Resolved, String> {
    let index_digest = sha256_digest(raw);
    let doc: Document =
        serde_json::from_slice(raw).map_err(|e| format!("not a manifest or index: {e}"))?;
    let is_index = INDEX_TYPES.contains(&doc.media_type.as_str())
        || (doc.config.is_none() && !doc.manifests.is_empty());
    if !is_index {
        return Ok(Resolved {
            platform_digest: index_digest.clone(),
            index_digest,
        });
    }
    let found = doc
        .manifests
        .iter()
        .find(|m| m.platform.as_ref().is_some_and(|p| p.matches(platform)))
        .ok_or_else(|| {
            let offered: Vec<String> = doc
                .manifests
                .iter()
                .filter_map(|m| m.platform.as_ref())
                .filter(|p| p.os != "unknown")
                .map(|p| format!("{}/{}", p.os, p.architecture))
                .collect();
            format!(
                "has no manifest for {platform} (it offers: {})",
                offered.join(", ")
            )
        })?;
    Ok(Resolved {
        index_digest,
        platform_digest: found.digest.clone(),
    })
}

/// One image as read from an OCI archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciImage {
    pub manifest_digest: String,
    pub config_digest: String,
    pub layers: Vec<String>,
    /// For each layer, the instruction that produced it (from the config's history).
    pub layer_instructions: Vec<String>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    history: Vec<History>,
}

#[derive(Deserialize)]
struct History {
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    empty_layer: bool,
}

/// Maps each layer to the history entry that created it; entries marked `empty_layer` made no
/// layer. BuildKit appends ` # buildkit` to `created_by`; that is dropped.
pub fn layer_instructions(config: &[u8], layer_count: usize) -> Vec<String> {
    let history: Vec<History> = serde_json::from_slice::<Config>(config)
        .map(|c| c.history)
        .unwrap_or_default();
    let mut out: Vec<String> = history
        .into_iter()
        .filter(|h| !h.empty_layer)
        .map(|h| {
            let text = h
                .created_by
                .trim_end_matches(" # buildkit")
                .trim()
                .to_string();
            match (text.is_empty(), h.comment.is_empty()) {
                (false, _) => text,
                (true, false) => format!("({})", h.comment),
                (true, true) => "(no history)".into(),
            }
        })
        .collect();
    out.resize(layer_count, "(no history)".into());
    out
}

/// Unpacks an OCI archive into a directory, for use as an `oci-layout://` build context.
pub fn unpack(archive: &Path, dir: &Path) -> Result<()> {
    let file = File::open(archive).map_err(|e| Error::io(archive, e))?;
    // tar::Archive::unpack refuses absolute paths and `..`, so nothing lands outside `dir`.
    tar::Archive::new(file)
        .unpack(dir)
        .map_err(|e| Error::io(archive, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from `docker buildx imagetools inspect --raw` and buildx's OCI output.
    const INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":1,"platform":{"architecture":"amd64","os":"linux"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":1,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","size":1,"platform":{"architecture":"unknown","os":"unknown"}}]}"#;
    const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:7f8d15f089a8c514dfa31b7854fd406e3854f835c2a6672c5ee1f734bbcaad29","size":308},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:e1a0746b147b4a6c822df710ae37b130d31495a007a69f9b6277f5f9eeb2700f","size":1064758}]}"#;
    const CONFIG: &str = r#"{"architecture":"amd64","os":"linux","history":[
      {"created":"2023-11-14T22:13:20Z","comment":"Imported from -"},
      {"created":"2023-11-14T22:13:20Z","created_by":"RUN /bin/sh -c echo base > /base.txt # buildkit","comment":"buildkit.dockerfile.v0"},
      {"created":"2023-11-14T22:13:20Z","created_by":"ENV A=1","comment":"buildkit.dockerfile.v0","empty_layer":true},
      {"created":"2023-11-14T22:13:20Z","created_by":"COPY app /app # buildkit","comment":"buildkit.dockerfile.v0"}]}"#;

    #[test]
    fn index_resolves_to_platform_manifest() {
        let r = resolve_raw(INDEX.as_bytes(), "linux/arm64").unwrap();
        assert_eq!(r.index_digest, sha256_digest(INDEX.as_bytes()));
        assert!(r.platform_digest.starts_with("sha256:2222"));
        let err = resolve_raw(INDEX.as_bytes(), "linux/s390x").unwrap_err();
        assert_eq!(
            err,
            "has no manifest for linux/s390x (it offers: linux/amd64, linux/arm64)"
        );
    }

    #[test]
    fn single_manifest_is_its_own_platform_digest() {
        let r = resolve_raw(MANIFEST.as_bytes(), "linux/amd64").unwrap();
        assert_eq!(
            r.index_digest,
            "sha256:c4f14fb2b3d79c5f625a0be1983dd6d8aa079ea44cec0305e6191c57b60be15d"
        );
        assert_eq!(r.platform_digest, r.index_digest);
        assert!(resolve_raw(b"<html>", "linux/amd64").is_err());
    }

    #[test]
    fn history_maps_to_layers_skipping_empty_ones() {
        let got = layer_instructions(CONFIG.as_bytes(), 3);
        assert_eq!(
            got,
            [
                "(Imported from -)",
                "RUN /bin/sh -c echo base > /base.txt",
                "COPY app /app"
            ]
        );
        assert_eq!(layer_instructions(b"{}", 1), ["(no history)"]);
    }
}
