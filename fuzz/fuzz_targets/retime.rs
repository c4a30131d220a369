//! A layer's tar stream through the time clamp: no panic; what the clamp writes, clamped again,
//! is unchanged; and the scan says "later time" exactly when the clamp changed something.
#![no_main]

use docker_repro::image::retime::{clamp_times, holds_later_time};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

const EPOCH: u64 = 1_700_000_000;

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    docker_repro_fuzz::mutate_tar(data, size, max_size, seed, 0)
});

fuzz_target!(|data: &[u8]| {
    let mut clamped = Vec::new();
    let Ok(changed) = clamp_times(data, &mut clamped, EPOCH) else {
        return;
    };
    let mut again = Vec::new();
    let changed_again =
        clamp_times(&clamped[..], &mut again, EPOCH).expect("a clamped stream reads again");
    assert!(!changed_again, "a second clamp changed something");
    assert_eq!(again, clamped, "a second clamp changed the bytes");
    assert_eq!(
        holds_later_time(data, EPOCH).ok(),
        Some(changed),
        "the scan disagrees with the clamp"
    );
});
