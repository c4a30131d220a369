//! A Dockerfile through `docker repro check`'s lint, which reads it on its own path (the
//! instruction nodes, its own variable expansion and shell-word split of every RUN): no panic,
//! no blow-up, and the same findings twice.
#![no_main]

use std::path::Path;

use docker_repro::check::{check_file, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A context with no .dockerignore in it.
    let context = Path::new("/nonexistent-fuzz-context");
    let options = Options::default();
    let first = check_file(data, context, true, &options);
    let second = check_file(data, context, true, &options);
    assert_eq!(
        format!("{first:?}"),
        format!("{second:?}"),
        "check is not deterministic"
    );
});
