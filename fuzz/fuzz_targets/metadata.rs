//! A Python core-metadata file (`METADATA`, `PKG-INFO`): no panic; a name and version it reads
//! are not empty, and the PEP 503 normal form of the name is its own normal form.
#![no_main]

use docker_repro::inventory::catalog::{normalise_python_name, parse_python_metadata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((name, version)) = parse_python_metadata(data) {
        assert!(!name.is_empty() && !version.is_empty());
        let normal = normalise_python_name(&name);
        assert_eq!(normalise_python_name(&normal), normal);
    }
});
