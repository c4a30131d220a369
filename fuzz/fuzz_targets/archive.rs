//! A whole image archive (docker save or OCI layout; layers plain, gzip or zstd) through the
//! scan and the inventory: no panic, no endless loop, memory bounded by the archive.
#![no_main]

use std::collections::HashMap;

use docker_repro::inventory::{layers, Inventory};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    docker_repro_fuzz::mutate_tar(data, size, max_size, seed, 0)
});

fuzz_target!(|data: &[u8]| {
    if let Ok(scan) = layers::scan_archive(data, &HashMap::new(), &mut |_| {}) {
        let _ = Inventory::from_scan(&scan);
    }
});
