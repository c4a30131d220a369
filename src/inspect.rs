//! `docker repro inspect`: what is inside an image, read from its layers.

use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::path::Path;

use serde::Serialize;

use crate::cli::{Format, InspectArgs};
use crate::docker::{check_user_ref, Docker};
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::inventory::layers::{self, ImageScan, LayerScan, ScanError};
use crate::inventory::{self, Inventory};

/// Reads an image archive with a progress bar on stderr (drawn only on a terminal).
pub fn read_inventory<R: Read>(
    reader: R,
    label: &str,
    quiet: bool,
    known: &mut HashMap<String, LayerScan>,
) -> Result<(ImageScan, Inventory)> {
    let bar = progress_bar(None, label, quiet);
    let result = inventory::from_archive(reader, known, &mut |n| bar.set_position(n));
    bar.finish_and_clear();
    result.map_err(|e| scan_error(label, e.0))
}

/// A progress bar on stderr, drawn only on a terminal; a spinner when the size is unknown.
fn progress_bar(total: Option<u64>, label: &str, quiet: bool) -> indicatif::ProgressBar {
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
    quiet: bool,
    known: &mut HashMap<String, LayerScan>,
) -> Result<(ImageScan, Inventory)> {
    let mut stream = docker.save(reference)?;
    let result = read_inventory(&mut stream, reference, quiet, known);
    // A failed save explains a broken stream better than the stream does.
    stream.finish()?;
    result
}

/// Catalogues an archive file, reading its layers in parallel.
pub fn inventory_of_file(
    path: &Path,
    quiet: bool,
    known: &mut HashMap<String, LayerScan>,
) -> Result<(ImageScan, Inventory)> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let label = path.display().to_string();
    let bar = progress_bar(Some(len), &label, quiet);
    let result = layers::scan_archive_file(path, known, &|n| bar.set_position(n));
    bar.finish_and_clear();
    let scan = result.map_err(|e| scan_error(&label, e))?;
    for (digest, layer) in &scan.layers {
        known.entry(digest.clone()).or_insert_with(|| layer.clone());
    }
    let inventory = Inventory::from_scan(&scan);
    Ok((scan, inventory))
}

fn scan_error(label: &str, e: ScanError) -> Error {
    match e {
        ScanError::Interrupted => Error::Interrupted,
        other => Error::Failed(format!(
            "{label}: {other}; the inventory is incomplete, so none is reported"
        )),
    }
}

#[derive(Serialize)]
struct Output<'a> {
    image: String,
    manifest_digest: Option<String>,
    #[serde(flatten)]
    inventory: &'a Inventory,
}

pub fn run(args: &InspectArgs, globals: Vec<String>) -> Result<Exit> {
    let mut known = HashMap::new();
    let (label, (scan, inventory)) = match (&args.image, &args.archive) {
        (Some(_), Some(_)) => {
            return Err(Error::Usage(
                "give an IMAGE or --archive FILE, not both".into(),
            ))
        }
        (None, None) => {
            return Err(Error::Usage(
                "give an IMAGE (or - for a `docker save` stream on stdin) or --archive FILE".into(),
            ))
        }
        (None, Some(path)) => (
            path.display().to_string(),
            inventory_of_file(path, args.quiet, &mut known)?,
        ),
        (Some(image), None) if image == "-" => {
            if std::io::stdin().is_terminal() {
                return Err(Error::Usage("stdin is a terminal; pipe a stream into it: docker save IMAGE | docker repro inspect -".into()));
            }
            let stdin = std::io::stdin().lock();
            (
                "stdin".to_string(),
                read_inventory(
                    std::io::BufReader::with_capacity(1 << 20, stdin),
                    "stdin",
                    args.quiet,
                    &mut known,
                )?,
            )
        }
        (Some(image), None) => {
            check_user_ref("IMAGE", image)?;
            let docker = Docker::new(globals)?;
            (
                image.clone(),
                inventory_of_image(&docker, image, args.quiet, &mut known)?,
            )
        }
    };
    match args.format {
        Format::Json => {
            let out = Output {
                image: label,
                manifest_digest: scan.manifest_digest.clone(),
                inventory: &inventory,
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&out).expect("inventory serializes")
            );
        }
        Format::Human => {
            crate::ui::print_human(&render_human(&label, &scan, &inventory, args.list))
        }
    }
    Ok(Exit::Ok)
}

fn count_by_env<'a>(envs: impl Iterator<Item = &'a str>) -> Vec<(&'a str, usize)> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for env in envs {
        match counts.iter_mut().find(|(e, _)| *e == env) {
            Some((_, n)) => *n += 1,
            None => counts.push((env, 1)),
        }
    }
    counts.sort();
    counts
}

pub fn render_human(label: &str, scan: &ImageScan, inv: &Inventory, list: bool) -> String {
    use crate::ui::escape as e;
    let mut out = format!("image   {}", e(label));
    if let Some(d) = &scan.manifest_digest {
        out.push_str(&format!(" ({d})"));
    }
    out.push_str(&format!("\nlayers  {}\n", scan.layers.len()));
    out.push_str(&format!("apt     {} packages\n", inv.apt.len()));
    if list {
        for p in &inv.apt {
            out.push_str(&format!(
                "          {} {} {}\n",
                e(&p.name),
                e(&p.version),
                e(&p.architecture)
            ));
        }
    }
    out.push_str(&format!("pip     {} packages\n", inv.pip.len()));
    for (env, n) in count_by_env(inv.pip.iter().map(|p| p.environment.as_str())) {
        out.push_str(&format!("          {}: {n}\n", e(env)));
        if list {
            for p in inv.pip.iter().filter(|p| p.environment == env) {
                let from = p
                    .direct_url
                    .as_deref()
                    .map(|u| format!("  from {}", e(u)))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "            {} {}{from}\n",
                    e(&p.name),
                    e(&p.version)
                ));
            }
        }
    }
    out.push_str(&format!("conda   {} packages\n", inv.conda.len()));
    for (env, n) in count_by_env(inv.conda.iter().map(|p| p.environment.as_str())) {
        out.push_str(&format!("          {}: {n}\n", e(env)));
        if list {
            for p in inv.conda.iter().filter(|p| p.environment == env) {
                out.push_str(&format!(
                    "            {} {} {}\n",
                    e(&p.package.name),
                    e(&p.package.version),
                    e(&p.package.build)
                ));
            }
        }
    }
    if inv.cuda.is_empty() {
        out.push_str("cuda    none found\n");
    } else {
        out.push_str("cuda\n");
        for c in &inv.cuda {
            out.push_str(&format!(
                "          {:<22} {:<16} {}\n",
                e(&c.name),
                e(&c.version),
                e(&c.source)
            ));
        }
    }
    out
}
