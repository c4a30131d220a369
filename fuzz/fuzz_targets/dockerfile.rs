//! A Dockerfile through the reader a release and a verify use (`dockerfile::parse`, with a
//! build argument and a platform set): no panic, no blow-up in time or memory.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let build_args = BTreeMap::from([("PY".to_string(), "3.11".to_string())]);
    let _ = docker_repro::dockerfile::parse(data, &build_args, "linux/amd64");
});
