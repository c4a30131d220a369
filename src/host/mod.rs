//! The reviewer's host: its GPUs and driver, and whether it can run the locked image's CUDA.

pub mod cuda_compat;
pub mod gpu;

use serde::Serialize;

use crate::inventory::LockedInventory;
use crate::lock::{Lock, Role};
use cuda_compat::Verdict;
use gpu::Gpu;

#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    /// This host's GPUs (from nvidia-smi).
    pub gpus: Vec<Gpu>,
    /// The driver version, from nvidia-smi or /proc/driver/nvidia/version.
    pub driver: Option<String>,
    /// The CUDA release the image was built against, from the lock's inventory.
    pub image_cuda: Option<String>,
    /// The GPUs the release was cut on, from the lock.
    pub release_gpus: Vec<Gpu>,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// `NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 ...` → `550.54.15`.
pub fn parse_proc_driver_version(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("NVRM version"))?;
    line.split_whitespace()
        .find(|w| {
            w.split('.').count() >= 2
                && w.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// The CUDA version an image needs: its toolkit, else torch's CUDA, else NVIDIA_REQUIRE_CUDA.
pub fn image_cuda(inventory: &LockedInventory) -> Option<String> {
    let first = |key: &str| {
        inventory
            .cuda
            .get(key)
            .and_then(|v| v.split(", ").next())
            .map(str::to_string)
    };
    first("cuda").or_else(|| first("torch-cuda")).or_else(|| {
        let require = first("require-cuda")?;
        cuda_compat::major_minor(&require).map(|(a, b)| format!("{a}.{b}"))
    })
}

/// Judges whether this host can run the lock's release image.
pub fn judge(lock: &Lock, gpus: Vec<Gpu>, driver: Option<String>) -> HostReport {
    let inventory = lock
        .image(Role::Release)
        .map(|i| i.inventory.clone())
        .unwrap_or_default();
    let image_cuda = image_cuda(&inventory);
    let release_gpus = lock.host.gpu.clone();
    let verdict = match (&image_cuda, &driver) {
        (None, _) => Verdict::NoCudaInImage,
        (Some(cuda), None) => {
            let cut_on = match release_gpus.first() {
                Some(g) => format!(
                    "; the release was cut on {} (driver {})",
                    g.name, g.driver_version
                ),
                None => String::new(),
            };
            Verdict::NoGpu { reason: format!("no NVIDIA GPU or driver on this host (no nvidia-smi, no /proc/driver/nvidia/version); the image needs CUDA {cuda}{cut_on}") }
        }
        (Some(cuda), Some(driver)) => {
            let mut verdicts: Vec<Verdict> = if gpus.is_empty() {
                vec![cuda_compat::judge(cuda, driver, "")]
            } else {
                gpus.iter()
                    .map(|g| cuda_compat::judge(cuda, driver, &g.compute_capability))
                    .collect()
            };
            // The worst verdict over the GPUs decides.
            verdicts.sort_by_key(|v| match v {
                Verdict::WillNotRun { .. } => 0,
                Verdict::Unknown { .. } => 1,
                Verdict::RunsMinorCompat { .. } => 2,
                _ => 3,
            });
            verdicts.remove(0)
        }
    };
    HostReport {
        gpus,
        driver,
        image_cuda,
        release_gpus,
        verdict,
    }
}

impl HostReport {
    /// The exit-3 case: the host cannot run the image as the author did.
    pub fn cannot_run(&self) -> bool {
        self.verdict.cannot_run()
            || (matches!(self.verdict, Verdict::NoGpu { .. }) && !self.release_gpus.is_empty())
    }

    pub fn line(&self) -> String {
        let gpu = match self.gpus.first() {
            Some(g) => format!(
                "{} (compute {}), driver {}",
                g.name,
                if g.compute_capability.is_empty() {
                    "?"
                } else {
                    &g.compute_capability
                },
                g.driver_version
            ),
            None => match &self.driver {
                Some(d) => format!("driver {d}"),
                None => "no GPU".into(),
            },
        };
        let cuda = self
            .image_cuda
            .as_deref()
            .map(|c| format!(", image CUDA {c}"))
            .unwrap_or_default();
        format!("host: {gpu}{cuda}: {}", self.verdict.line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_driver_version() {
        let text = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n";
        assert_eq!(
            parse_proc_driver_version(text).as_deref(),
            Some("550.54.15")
        );
        assert_eq!(parse_proc_driver_version("nothing"), None);
    }

    /// What a real H200 host answered (driver 580, CUDA 13.0, NVIDIA's open kernel module,
    /// whose /proc line names no plain `x86_64` word before the version).
    #[test]
    fn a_real_h200_hosts_answers_and_their_verdicts() {
        use crate::host::cuda_compat::{judge as judge_cuda, Verdict};
        use crate::host::gpu::{parse_query, Gpu};
        let h200 = Gpu {
            name: "NVIDIA H200".into(),
            driver_version: "580.159.04".into(),
            compute_capability: "9.0".into(),
        };
        let gpus = parse_query(include_str!("../../tests/fixtures/host/h200-query.txt")).unwrap();
        assert_eq!(gpus, std::slice::from_ref(&h200));
        let old = parse_query(include_str!(
            "../../tests/fixtures/host/h200-query-old-driver.txt"
        ))
        .unwrap();
        assert_eq!(old[0].driver_version, h200.driver_version);
        assert_eq!(old[0].compute_capability, "");
        let proc = include_str!("../../tests/fixtures/host/h200-proc-driver-version.txt");
        assert_eq!(
            parse_proc_driver_version(proc).as_deref(),
            Some("580.159.04")
        );
        // CUDA 12.x and 13.0 images run on it; CUDA 11.7 predates Hopper.
        for cuda in ["12.4.1", "12.8.0", "13.0.0"] {
            assert_eq!(
                judge_cuda(cuda, "580.159.04", "9.0"),
                Verdict::Runs,
                "{cuda}"
            );
        }
        assert!(judge_cuda("11.7.1", "580.159.04", "9.0").cannot_run());
    }

    #[test]
    fn image_cuda_prefers_the_toolkit() {
        let mut inv = LockedInventory::default();
        assert_eq!(image_cuda(&inv), None);
        inv.cuda
            .insert("require-cuda".into(), "cuda>=11.8 brand=tesla".into());
        assert_eq!(image_cuda(&inv).as_deref(), Some("11.8"));
        inv.cuda.insert("torch-cuda".into(), "12.1".into());
        assert_eq!(image_cuda(&inv).as_deref(), Some("12.1"));
        inv.cuda.insert("cuda".into(), "12.1.1, 12.1.1".into());
        assert_eq!(image_cuda(&inv).as_deref(), Some("12.1.1"));
    }
}
