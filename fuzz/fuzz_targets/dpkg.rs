//! A dpkg `status` database (and `status.d/` file): no panic, whether or not a `Status:` field
//! is required; requiring it only leaves packages out.
#![no_main]

use docker_repro::inventory::catalog::parse_dpkg_status;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let installed = parse_dpkg_status(data, true);
    let listed = parse_dpkg_status(data, false);
    if let (Ok(installed), Ok(listed)) = (installed, listed) {
        assert!(
            installed.iter().all(|p| listed.contains(p)),
            "a package only Status: lists"
        );
    }
});
