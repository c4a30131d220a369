//! The locked image index of a role tied to the lock ([`crate::image::tie::tie`]), read from
//! wherever it is: an archive (a paper's, a rebuild's, or one the engine saved) or a registry.
//! Every command that takes an index's word for which manifest runs comes through here.

use std::path::Path;

use crate::engine::docker::Docker;
use crate::error::{Error, Result};
use crate::image::archive::{ScanError, Select};
use crate::image::tie::{self, LockedManifest, ManifestFacts};
use crate::lock::{self, Lock, Role};

/// Whether an index ties to the lock: `Ok(())`, or the one line that says how it does not.
pub type Tied = std::result::Result<(), String>;

/// Every locked image of `role` (one per platform of its index).
pub fn role_images(lock: &Lock, role: Role) -> Vec<&lock::Image> {
    lock.images.iter().filter(|i| i.role == role).collect()
}

fn manifests<'a>(images: &[&'a lock::Image]) -> Vec<LockedManifest<'a>> {
    images
        .iter()
        .map(|i| LockedManifest {
            platform: i.platform_name(),
            manifest: &i.manifest_digest,
            config: &i.config_digest,
            layers: &i.layers,
        })
        .collect()
}

fn scan(archive: &Path, e: ScanError) -> Error {
    match e {
        ScanError::Interrupted => Error::Interrupted,
        other => Error::Failed(format!("{}: {other}", archive.display())),
    }
}

/// The index `index_digest` in an OCI archive against `images`, each manifest read from the
/// archive by the one archive reader (every document checked against its digest).
pub fn in_archive(archive: &Path, index_digest: &str, images: &[&lock::Image]) -> Result<Tied> {
    let bytes = match crate::image::archive::index_document(archive, index_digest) {
        Ok(bytes) => bytes,
        Err(ScanError::NotHeld(_)) => {
            return Ok(Err(format!(
                "{} holds no image index {index_digest}",
                archive.display()
            )))
        }
        Err(e) => return Err(scan(archive, e)),
    };
    let read = |manifest: &str| -> Result<ManifestFacts> {
        let image =
            crate::image::archive::read_image(archive, &Select::Manifest(manifest.to_string()))
                .map_err(|e| scan(archive, e))?;
        Ok(ManifestFacts {
            config: image.config_digest,
            layers: image.layers,
        })
    };
    Ok(tie::tie(index_digest, &bytes, &manifests(images), read)?.map_err(|u| u.to_string()))
}

/// The index the engine holds as `index_digest` (its image ID), saved to `work` and tied there.
pub fn in_engine(
    docker: &Docker,
    index_digest: &str,
    images: &[&lock::Image],
    work: &Path,
) -> Result<Tied> {
    let saved = work.join(format!(
        "engine-{}.tar",
        index_digest.trim_start_matches("sha256:")
    ));
    docker.save_to(index_digest, &saved)?;
    let tied = in_archive(&saved, index_digest, images);
    let _ = std::fs::remove_file(&saved);
    tied
}

/// The index `name@index_digest` in its registry, each manifest fetched by its digest and its
/// bytes checked against it. The middle `Err` is the registry's answer that it has no such
/// index.
pub fn in_registry(
    docker: &Docker,
    name: &str,
    index_digest: &str,
    images: &[&lock::Image],
) -> Result<std::result::Result<Tied, String>> {
    let pinned = crate::image::reference::pinned(name, index_digest);
    let bytes = match docker.raw(&pinned)? {
        Ok(bytes) => bytes,
        Err(why) => return Ok(Err(why)),
    };
    let read = |manifest: &str| -> Result<ManifestFacts> {
        let reference = crate::image::reference::pinned(name, manifest);
        let bytes = docker.raw(&reference)?.map_err(|why| {
            Error::Failed(format!(
                "the registry lists {reference} in {pinned} but does not serve it: {why}"
            ))
        })?;
        tie::manifest_facts(manifest, &bytes).map_err(|why| {
            Error::Failed(format!(
                "{reference}: {why}; the registry is not to be trusted"
            ))
        })
    };
    Ok(Ok(tie::tie(
        index_digest,
        &bytes,
        &manifests(images),
        read,
    )?
    .map_err(|u| u.to_string())))
}
