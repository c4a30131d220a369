//! `docker repro inspect`: what is inside an image, read from its layers.

use std::collections::HashMap;
use std::io::IsTerminal;

use serde::Serialize;

use crate::cli::{InspectArgs, InspectFormat};
use crate::engine::docker::Docker;
use crate::error::{Error, Result};
use crate::exit::Exit;
use crate::image::archive::Select;
use crate::image::oci::sha256_digest;
use crate::image::reference::check_user_ref;
use crate::image::reference::Reference;
use crate::inventory::explicit::explicit_file;
use crate::inventory::layers::ImageScan;
use crate::inventory::Inventory;
use crate::ops::read::{
    inventory_of_file, inventory_of_image, inventory_of_registry, read_inventory,
};

#[derive(Serialize)]
struct Output<'a> {
    image: String,
    manifest_digest: Option<String>,
    #[serde(flatten)]
    inventory: &'a Inventory,
}

pub fn run(args: &InspectArgs, globals: Vec<String>) -> Result<Exit> {
    if args.env.is_some() && args.format != InspectFormat::CondaExplicit {
        return Err(Error::Usage(
            "--env picks the conda environment of --format conda-explicit; add --format conda-explicit or drop --env".into(),
        ));
    }
    let mut known = HashMap::new();
    // An image index of several platforms (and buildx's attestations beside them): the one
    // asked for, else this host's.
    let select = |name: Option<&String>| match (&args.platform, name) {
        (Some(platform), name) => Select::ForPlatform {
            name: name.cloned(),
            platform: platform.clone(),
        },
        (None, Some(name)) => Select::Named(name.clone()),
        (None, None) => Select::Only,
    };
    let (label, (scan, inventory)) = match (&args.image, &args.archive) {
        (Some(name), Some(path)) => {
            // An archive holding several images (base and release): IMAGE names one of them.
            check_user_ref("IMAGE", name)?;
            (
                format!("{} ({name})", path.display()),
                inventory_of_file(path, &select(Some(name)), args.quiet, &mut known)?,
            )
        }
        (None, None) => {
            return Err(Error::Usage(
                "give an IMAGE (or - for a `docker save` stream on stdin) or --archive FILE".into(),
            ))
        }
        (None, Some(path)) => (
            path.display().to_string(),
            inventory_of_file(path, &select(None), args.quiet, &mut known)?,
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
                    &select(None),
                    "stdin",
                    args.quiet,
                    &mut known,
                )?,
            )
        }
        (Some(image), None) => {
            check_user_ref("IMAGE", image)?;
            let docker = Docker::new(globals)?;
            let pinned = Reference::split(image).digest.is_some();
            if docker.image_id(image)?.is_none() {
                if pinned {
                    // Only in its registry: read from there by digest, the engine untouched.
                    let read = inventory_of_registry(image, &select(None), args.quiet, &mut known)?;
                    return write(args, image.clone(), read);
                }
                not_in_engine(&docker, image)?;
            }
            (
                image.clone(),
                inventory_of_image(
                    &docker,
                    image,
                    args.platform.as_ref(),
                    args.quiet,
                    &mut known,
                )?,
            )
        }
    };
    write(args, label, (scan, inventory))
}

/// A tag the engine does not have: read from a registry only by digest, so that what is
/// reported is one image; the digest the tag names now is said when the registry answers.
fn not_in_engine(docker: &Docker, image: &str) -> Result<()> {
    let shown = crate::ui::escape(image);
    match docker.raw(image) {
        Ok(Ok(bytes)) => Err(Error::Usage(format!(
            "{shown} is not in the engine; its registry has it as {}: inspect that (a tag can move, a digest names one image), or `docker pull {shown}` first",
            crate::ui::escape(&Reference::split(image).pinned(&sha256_digest(&bytes)))
        ))),
        // The engine's own answer (docker save) names what is missing.
        _ => Ok(()),
    }
}

fn write(
    args: &InspectArgs,
    label: String,
    (scan, inventory): (ImageScan, Inventory),
) -> Result<Exit> {
    let created = scan.config.get("created").and_then(|c| c.as_str());
    let subject = crate::sbom::Subject {
        name: &label,
        digest: scan.manifest_digest.as_deref(),
        created,
    };
    match args.format {
        InspectFormat::Cyclonedx => print_json(&crate::sbom::cyclonedx(&subject, &inventory)),
        InspectFormat::Spdx => print_json(&crate::sbom::spdx(&subject, &inventory)),
        InspectFormat::CondaExplicit => {
            let text = explicit_file(&inventory, args.env.as_deref(), &label).map_err(|e| {
                if e.is_usage() {
                    Error::Usage(e.to_string())
                } else {
                    Error::Failed(e.to_string())
                }
            })?;
            print!("{text}");
        }
        InspectFormat::Json => {
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
        InspectFormat::Human => {
            crate::ui::print_human(&render_human(&label, &scan, &inventory, args.list))
        }
    }
    Ok(Exit::Ok)
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("an SBOM serializes")
    );
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
