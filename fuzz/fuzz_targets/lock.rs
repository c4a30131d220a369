//! `repro.lock` text: no panic, and a lock that reads is written as text that reads back to
//! the same text (nothing lost between a release and a verify).
#![no_main]

use std::path::Path;

use docker_repro::lock::Lock;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.lock");
    let Ok(lock) = Lock::from_toml(&String::from_utf8_lossy(data), path) else {
        return;
    };
    let written = lock.to_toml();
    let again = Lock::from_toml(&written, path).expect("a written lock reads back");
    assert_eq!(
        again.to_toml(),
        written,
        "a lock read back is written differently"
    );
});
