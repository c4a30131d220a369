//! A base kept across releases: the locked base image found by its digest (never by a tag) in
//! an archive, the engine or its registry, checked blob by blob, for a release to be built on.

use std::path::Path;

use crate::engine::docker::Docker;
use crate::error::{Error, Result};
use crate::image::archive::{LayoutImage, Select};
use crate::lock;
use crate::ops::build::BasePin;
use crate::ops::report::Source;
use crate::ui::Ui;

/// The locked base image, by its digest, as a pin for the release build and where it was
/// found: the archive given, else the engine (saved, then checked blob by blob), else its
/// registry (BuildKit pulls it by digest). The inner `Err` says why it is not here.
pub fn locked_base(
    all: &[&lock::Image],
    platform: &str,
    archive: Option<&Path>,
    docker: &Docker,
    work: &Path,
    ui: &Ui,
) -> Result<std::result::Result<(BasePin, Source), String>> {
    let locked = all[0];
    // The image index of several platforms (each platform's manifest copied and checked),
    // else the one manifest.
    let digest = &locked.engine_digest().to_string();
    let locked_platform = locked.platform_name();
    let platform = if locked.platform.is_none() {
        platform
    } else {
        &locked_platform
    };
    let locked_layers = || {
        all.iter()
            .flat_map(|i| i.layers.iter().map(|l| l.to_string()))
            .collect()
    };
    let layout = work.join("locked-base-layout");
    let verified = work.join("locked-base.tar");
    let copy = |from: &Path| -> Result<()> {
        // The release is built on the index the pin names: it must list the locked manifests.
        if locked.index_digest.is_some() {
            crate::ops::tie::in_archive(from, digest, all)?.map_err(|why| {
                Error::Different(format!(
                    "the locked base {}: {why}; nothing was rebuilt on it",
                    locked.name
                ))
            })?;
        }
        let images: Vec<LayoutImage> = all
            .iter()
            .map(|i| LayoutImage {
                archive: from,
                select: Select::Manifest(i.manifest_digest.to_string()),
                name: i.name.to_string(),
                index: i.index_digest.as_ref().map(|d| d.to_string()),
            })
            .collect();
        crate::image::archive::write_verified_layout(&verified, &images)
            .map(|_| ())
            .map_err(|e| match e {
                crate::image::archive::ScanError::Interrupted => Error::Interrupted,
                other => Error::Failed(format!("{}: {other}", from.display())),
            })
    };
    if let Some(archive) = archive {
        ui.progress(&format!(
            "checking the locked base {} in {}",
            locked.name,
            archive.display()
        ));
        copy(archive)?;
        return Ok(Ok((
            BasePin::archive(&verified, digest, &layout, locked_layers())?,
            Source::Archive,
        )));
    }
    if docker.image_id(digest)?.is_some() {
        ui.progress(&format!("taking the locked base {digest} from the engine"));
        let saved = work.join("engine-base.tar");
        docker.save_to(digest, &saved)?;
        copy(&saved)?;
        return Ok(Ok((
            BasePin::archive(&verified, digest, &layout, locked_layers())?,
            Source::Engine,
        )));
    }
    if !crate::image::reference::repository(&locked.name).contains('/') {
        return Ok(Err(
            "is not in the engine and its name has no registry to pull it from".into(),
        ));
    }
    let pinned = crate::image::reference::pinned(&locked.name, digest);
    if locked.index_digest.is_some() {
        return match crate::ops::tie::in_registry(docker, &locked.name, digest, all)? {
            Ok(Ok(())) => Ok(Ok((
                BasePin::registry(&locked.name, digest, locked_layers()),
                Source::Registry,
            ))),
            Ok(Err(why)) => Err(Error::Different(format!(
                "the locked base {pinned}: {why}; nothing was rebuilt on it"
            ))),
            Err(why) => Ok(Err(format!(
                "is neither in the engine nor in its registry ({why})"
            ))),
        };
    }
    match docker.resolve(&pinned, platform)? {
        Ok(_) => Ok(Ok((
            BasePin::registry(&locked.name, digest, locked_layers()),
            Source::Registry,
        ))),
        Err(why) => Ok(Err(format!(
            "is neither in the engine nor in its registry ({why})"
        ))),
    }
}
