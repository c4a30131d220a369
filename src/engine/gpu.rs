//! The host's NVIDIA GPUs and driver, read from `nvidia-smi` (else `/proc/driver/nvidia`).

use crate::engine::process::Tool;
use crate::host::gpu::{parse_query, Gpu, QUERY, QUERY_OLD_DRIVER};
use crate::host::parse_proc_driver_version;

/// The GPUs of this host; empty when there is no `nvidia-smi` or it finds no GPU.
pub fn host_gpus() -> Vec<Gpu> {
    let Ok(smi) = Tool::find("nvidia-smi", "") else {
        return Vec::new();
    };
    let out = smi
        .run(&[QUERY, "--format=csv,noheader"])
        .or_else(|_| smi.run(&[QUERY_OLD_DRIVER, "--format=csv,noheader"]));
    out.ok()
        .and_then(|o| parse_query(&o.stdout_text()).ok())
        .unwrap_or_default()
}

/// Facts of this host, read now.
pub fn read_host() -> (Vec<Gpu>, Option<String>) {
    let gpus = host_gpus();
    let driver = gpus.first().map(|g| g.driver_version.clone()).or_else(|| {
        std::fs::read_to_string("/proc/driver/nvidia/version")
            .ok()
            .and_then(|t| parse_proc_driver_version(&t))
    });
    (gpus, driver)
}
