//! Reads an image's inventory (from the engine through `docker save`, or from an archive
//! file) with a progress bar on stderr; shared by `inspect`, `release` and `verify`.

use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::path::Path;

use crate::engine::docker::Docker;
use crate::error::{Error, Result};
use crate::image::archive::ScanError;
use crate::image::platform::Platform;
use crate::inventory::layers::{self, ImageScan, LayerScan};
use crate::inventory::{self, Inventory};

/// The largest manifest or config `inspect NAME@DIGEST` reads from a registry; real ones are a
/// few KiB, and archives hold them to the same bound.
const MAX_REGISTRY_DOCUMENT: u64 = 4 << 20;

/// Reads an image archive with a progress bar on stderr (drawn only on a terminal).
pub fn read_inventory<R: Read>(
    reader: R,
    select: &layers::Select,
    label: &str,
    quiet: bool,
    known: &mut HashMap<String, LayerScan>,
) -> Result<(ImageScan, Inventory)> {
    let bar = progress_bar(None, label, quiet);
    let result =
        inventory::from_archive_selected(reader, select, known, &mut |n| bar.set_position(n));
    bar.finish_and_clear();
    result.map_err(|e| scan_error(label, e.0))
}

/// A progress bar on stderr, drawn only on a terminal; a spinner when the size is unknown.
pub fn progress_bar(total: Option<u64>, label: &str, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(n) => (
            indicatif::ProgressBar::new(n),
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} {msg} {bytes} {bytes_per_sec}",
        ),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("reading {label}"));
    bar
}

/// Catalogues a local image through `docker save`.
pub fn inventory_of_image(
    docker: &Docker,
    reference: &str,
    platform: Option<&Platform>,
    quiet: bool,
    known: &mut HashMap<String, LayerScan>,
) -> Result<(ImageScan, Inventory)> {
    let select = match platform {
        Some(p) => layers::Select::ForPlatform {
            name: None,
            platform: p.clone(),
        },
        None => layers::Select::Only,
    };
    let mut stream = docker.save(reference)?;
    let result = read_inventory(&mut stream, &select, reference, quiet, known);
    // A failed save explains a broken stream better than the stream does.
    stream.finish()?;
    result
}

/// The files of the registry image `image`, merged, read from `stream`: an OCI archive of an
/// image of its layers as a builder exports it ([`Docker::export_pulled`]). Each layer is
/// checked against its digest as it is read, and the layers against those `image`'s manifest
/// lists, in order.
pub fn registry_files_from(
    mut stream: crate::engine::process::Stream,
    image: &crate::ops::build::RegistryImage,
) -> Result<layers::Merged> {
    let scan = match layers::scan_archive(&mut stream, &HashMap::new(), &mut |_| {}) {
        Ok(scan) => {
            stream.finish()?;
            scan
        }
        // Stopped by Ctrl-C, whatever the export says after.
        Err(_) if crate::cancel::requested() => return Err(Error::Interrupted),
        Err(e) => {
            // A failed export explains a broken stream better than the stream does; one still
            // running is stopped when the stream is dropped.
            if let Err(failed @ crate::engine::process::ProcessError::Failed { .. }) =
                stream.finish()
            {
                return Err(failed.into());
            }
            return Err(scan_error("its export", e));
        }
    };
    let read: Vec<&String> = scan.layers.iter().map(|(digest, _)| digest).collect();
    if !read.iter().copied().eq(&image.layers) {
        return Err(Error::Failed(format!(
            "the builder exported other layers than the image's manifest lists ({} read, {} listed; it may hold them in another compression)",
            read.len(),
            image.layers.len()
        )));
    }
    Ok(layers::Merged::of(&scan.layers))
}

/// Catalogues an archive file, reading its layers in parallel.
pub fn inventory_of_file(
    path: &Path,
    select: &layers::Select,
    quiet: bool,
    known: &mut HashMap<String, LayerScan>,
) -> Result<(ImageScan, Inventory)> {
    inventory_of_file_on(path, select, None, quiet, known)
}

/// [`inventory_of_file`] of an image built on `base`, whose layers are not read (see
/// [`layers::scan_archive_file_on`]).
pub fn inventory_of_file_on(
    path: &Path,
    select: &layers::Select,
    base: Option<&layers::Merged>,
    quiet: bool,
    known: &mut HashMap<String, LayerScan>,
) -> Result<(ImageScan, Inventory)> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let label = path.display().to_string();
    let bar = progress_bar(Some(len), &label, quiet);
    let result = layers::scan_archive_file_on(path, select, base, known, &|n| bar.set_position(n));
    bar.finish_and_clear();
    let scan = result.map_err(|e| scan_error(&label, e))?;
    for (digest, layer) in &scan.layers {
        known.entry(digest.clone()).or_insert_with(|| layer.clone());
    }
    let inventory = Inventory::from_scan(&scan);
    Ok((scan, inventory))
}

pub fn scan_error(label: &str, e: ScanError) -> Error {
    match e {
        ScanError::Interrupted => Error::Interrupted,
        other => Error::Failed(format!(
            "{label}: {other}; the inventory is incomplete, so none is reported"
        )),
    }
}

/// Catalogues an image that is only in a registry, `NAME@sha256:…`, without pulling it into the
/// engine: its manifests and configs are fetched by digest and each checked against it, the
/// selection (attestations skipped, this host's platform or `select`'s) is the archive reader's
/// own, and the chosen image's layers are streamed from the registry once, each checked
/// against its digest as it is read.
pub fn inventory_of_registry(
    reference: &str,
    select: &layers::Select,
    quiet: bool,
    known: &mut HashMap<String, LayerScan>,
) -> Result<(ImageScan, Inventory)> {
    use crate::image::archive::{digest_of_blob_path, manifest_layers};

    let digest = crate::image::reference::Reference::split(reference)
        .digest
        .ok_or_else(|| {
            Error::Usage(format!(
                "{reference} names no digest; pin it as NAME@sha256:…"
            ))
        })?
        .to_string();
    crate::image::digest::Digest::parse(&digest)
        .map_err(|e| Error::Usage(format!("{}: {e}", crate::ui::escape(reference))))?;
    let registry = crate::engine::registry::Registry::new(reference)?;
    let shown = crate::ui::escape(reference).into_owned();
    let repository =
        crate::ui::escape(crate::image::reference::Reference::split(reference).repository());
    // Every document fetched by digest comes back checked against it.
    let manifest = |wanted: &str| -> Result<Vec<u8>> {
        registry
            .manifest(wanted, MAX_REGISTRY_DOCUMENT)?
            .map(|document| document.bytes)
            .ok_or_else(|| {
                Error::Failed(format!(
                    "the registry of {repository} has no manifest {wanted}; check the digest (`docker buildx imagetools inspect {repository}:TAG` shows the one a tag has)"
                ))
            })
    };
    let blob_path = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Descriptor {
        digest: String,
        #[serde(default)]
        size: u64,
    }
    #[derive(serde::Deserialize)]
    struct Document {
        #[serde(default, rename = "mediaType")]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Vec<Descriptor>,
        config: Option<Descriptor>,
        #[serde(default)]
        layers: Vec<Descriptor>,
    }
    let parse = |d: &str, bytes: &[u8]| -> Result<Document> {
        serde_json::from_slice(bytes).map_err(|e| {
            Error::Failed(format!(
                "{shown}: {d} is not an image manifest or index ({e})"
            ))
        })
    };

    // The documents the archive reader decides from: an index.json naming the one digest, the
    // index or manifest, every manifest an index lists (attestations included, so that the
    // reader can check what they are about), and each manifest's config.
    let mut json: HashMap<String, Vec<u8>> = HashMap::new();
    let top = manifest(&digest)?;
    let top_doc = parse(&digest, &top)?;
    let media_type = top_doc.media_type.clone().unwrap_or_else(|| {
        if top_doc.manifests.is_empty() {
            "application/vnd.oci.image.manifest.v1+json".into()
        } else {
            "application/vnd.oci.image.index.v1+json".into()
        }
    });
    let index_json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": media_type, "digest": digest, "size": top.len()}],
    });
    json.insert("index.json".into(), index_json.to_string().into_bytes());
    let mut manifests = vec![(digest.clone(), top_doc)];
    json.insert(blob_path(&digest), top);
    if manifests[0].1.manifests.len() > 64 {
        crate::fail!(
            "{shown} is an index of {} manifests, more than 64; refusing it",
            manifests[0].1.manifests.len()
        );
    }
    let children: Vec<String> = manifests[0]
        .1
        .manifests
        .iter()
        .map(|m| m.digest.clone())
        .collect();
    for child in children {
        crate::image::digest::Digest::parse(&child)
            .map_err(|e| Error::Failed(format!("{shown}: {e}")))?;
        let bytes = manifest(&child)?;
        manifests.push((child.clone(), parse(&child, &bytes)?));
        json.insert(blob_path(&child), bytes);
    }
    for (_, doc) in &manifests {
        if let Some(config) = &doc.config {
            let digest = crate::image::digest::Digest::parse(&config.digest)
                .map_err(|e| Error::Failed(format!("{shown}: {e}")))?;
            if let std::collections::hash_map::Entry::Vacant(slot) =
                json.entry(blob_path(&config.digest))
            {
                slot.insert(registry.blob(
                    &digest,
                    MAX_REGISTRY_DOCUMENT,
                    &format!("the config {digest} of {shown}"),
                )?);
            }
        }
    }
    let entry =
        manifest_layers(&json, &HashMap::new(), select).map_err(|e| scan_error(&shown, e))?;
    let sizes: HashMap<String, u64> = manifests
        .iter()
        .flat_map(|(_, doc)| doc.layers.iter())
        .map(|l| (blob_path(&l.digest), l.size))
        .collect();
    let total = entry.layer_paths.iter().filter_map(|p| sizes.get(p)).sum();
    let bar = progress_bar(Some(total), &shown, quiet);
    let mut read = 0;
    let mut scanned = Vec::new();
    for path in &entry.layer_paths {
        let layer = digest_of_blob_path(path).unwrap_or_else(|| path.clone());
        let scan = match known.get(&layer) {
            Some(scan) => scan.clone(),
            None => {
                let size = sizes.get(path).copied().unwrap_or(0);
                let digest = crate::image::digest::Digest::parse(&layer)
                    .map_err(|e| Error::Failed(format!("{shown}: {e}")))?;
                let stream = registry.layer(&digest)?;
                let scan = layers::scan_layer_blob(stream, size, Some(&layer), &layer)
                    .map_err(|e| scan_error(&shown, e))?;
                known.insert(layer.clone(), scan.clone());
                scan
            }
        };
        read += sizes.get(path).copied().unwrap_or(0);
        bar.set_position(read);
        scanned.push((layer, scan));
    }
    bar.finish_and_clear();
    let scan = ImageScan {
        manifest_digest: entry.manifest_digest,
        config_digest: entry.config_digest,
        config: entry.config,
        layers: scanned,
    };
    let inventory = Inventory::from_scan(&scan);
    Ok((scan, inventory))
}
