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

/// Catalogues an archive file, reading its layers in parallel.
pub fn inventory_of_file(
    path: &Path,
    select: &layers::Select,
    quiet: bool,
    known: &mut HashMap<String, LayerScan>,
) -> Result<(ImageScan, Inventory)> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let label = path.display().to_string();
    let bar = progress_bar(Some(len), &label, quiet);
    let result = layers::scan_archive_file(path, select, known, &|n| bar.set_position(n));
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
