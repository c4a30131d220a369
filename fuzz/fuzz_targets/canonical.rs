//! An image config (and the base history it is built on, after a NUL byte) through the
//! canonicaliser: no panic; a config it accepts comes out in a form it leaves as it is when
//! asked again, and with what a container sees (`config`, `rootfs`, the platform) unchanged.
#![no_main]

use docker_repro::image::canonical::canonicalise;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let (config, base) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let Ok(mut config) = serde_json::from_slice::<Value>(config) else {
        return;
    };
    let base: Option<Vec<Value>> = match base.map(serde_json::from_slice::<Vec<Value>>) {
        Some(Ok(base)) => Some(base),
        Some(Err(_)) => return,
        None => None,
    };
    let before = config.clone();
    if canonicalise(&mut config, base.as_deref()).is_err() {
        return;
    }
    for key in ["config", "rootfs", "os", "architecture", "variant"] {
        assert_eq!(config.get(key), before.get(key), "the canonical form changed {key}");
    }
    let mut again = config.clone();
    canonicalise(&mut again, base.as_deref()).expect("a canonical config reads again");
    assert_eq!(again, config, "the canonical form is not a fixed point");
});
