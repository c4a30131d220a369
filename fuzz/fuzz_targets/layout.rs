//! An OCI layout of a base and a release under an image index of two platforms, read for the
//! manifest digest a lock names, for a name, and as its only image. The input's first line is
//! the wanted manifest digest, the rest the archive (the seeds put the release's digest there).
#![no_main]

use std::collections::HashMap;

use docker_repro::image::archive::Select;
use docker_repro::inventory::layers;
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

/// Where the archive starts: after the first line.
fn archive_start(data: &[u8]) -> usize {
    data.iter().position(|b| *b == b'\n').map_or(0, |n| n + 1)
}

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let skip = archive_start(&data[..size.min(data.len())]);
    docker_repro_fuzz::mutate_tar(data, size, max_size, seed, skip)
});

fuzz_target!(|data: &[u8]| {
    let (wanted, archive) = data.split_at(archive_start(data));
    let wanted = String::from_utf8_lossy(wanted).trim_end().to_string();
    for select in [
        Select::Manifest(wanted),
        Select::Named("paper:base".into()),
        Select::Only,
    ] {
        let _ = layers::scan_archive_selected(archive, &select, &HashMap::new(), &mut |_| {});
    }
});
