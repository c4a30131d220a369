//! The reviewer's host: its GPUs and driver, and whether it can run the locked image's CUDA.

pub mod cuda_compat;
pub mod gpu;
pub mod needs;

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
    /// The CUDA release the image needs (`major.minor`), from the lock's inventory.
    pub image_cuda: Option<String>,
    /// What the image needs from a GPU host: its CUDA and the minimum drivers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs: Option<crate::lock::CudaNeeds>,
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

/// The CUDA release an image needs (`12.4`): the newest any of its parts was built for (see
/// [`needs`]); `Err` names a fact that cannot be trusted to tell.
pub fn image_cuda(inventory: &LockedInventory) -> std::result::Result<Option<String>, String> {
    Ok(needs::cuda_need(inventory)?.map(|n| format!("{}.{}", n.cuda.0, n.cuda.1)))
}

/// Judges whether this host can run the lock's release image.
pub fn judge(lock: &Lock, gpus: Vec<Gpu>, driver: Option<String>) -> HostReport {
    let inventory = lock
        .image(Role::Release)
        .map(|i| i.inventory.clone())
        .unwrap_or_default();
    let need = image_cuda(&inventory);
    let needs = needs::for_lock(&inventory);
    let image_cuda = need.clone().ok().flatten();
    let release_gpus = lock.host.gpu.clone();
    let verdict = match (&need, &driver) {
        // Never "any host will do" on facts that contradict each other.
        (Err(why), _) => Verdict::Unknown {
            reason: why.clone(),
        },
        (Ok(None), _) => Verdict::NoCudaInImage,
        (Ok(Some(cuda)), None) => {
            let cut_on = match release_gpus.first() {
                Some(g) => format!(
                    "; the release was cut on {} (driver {})",
                    g.name, g.driver_version
                ),
                None => String::new(),
            };
            let wants = match &needs {
                Some(n) => needs::describe(n),
                None => format!("needs CUDA {cuda}"),
            };
            Verdict::NoGpu { reason: format!("no NVIDIA GPU or driver on this host (no nvidia-smi, no /proc/driver/nvidia/version); the image {wants}{cut_on}") }
        }
        (Ok(Some(cuda)), Some(driver)) => {
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
        needs,
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
    fn image_cuda_is_the_newest_any_part_needs() {
        let mut inv = LockedInventory::default();
        assert_eq!(image_cuda(&inv), Ok(None));
        inv.cuda
            .insert("require-cuda".into(), "cuda>=11.8 brand=tesla".into());
        assert_eq!(image_cuda(&inv).unwrap().as_deref(), Some("11.8"));
        inv.cuda.insert("torch-cuda".into(), "12.1".into());
        assert_eq!(image_cuda(&inv).unwrap().as_deref(), Some("12.1"));
        inv.cuda.insert("cuda".into(), "12.1.1, 12.1.1".into());
        assert_eq!(image_cuda(&inv).unwrap().as_deref(), Some("12.1"));
        inv.cuda
            .insert("nvidia-cuda-runtime-cu12".into(), "12.4.127".into());
        assert_eq!(image_cuda(&inv).unwrap().as_deref(), Some("12.4"));
    }

    fn lock_with_cuda(facts: &[(&str, &str)]) -> Lock {
        let mut lock: Lock =
            toml::from_str(include_str!("../../tests/fixtures/sample.lock")).unwrap();
        let release = lock
            .images
            .iter_mut()
            .find(|i| i.role == Role::Release)
            .unwrap();
        release.inventory.cuda.clear();
        for (k, v) in facts {
            release.inventory.cuda.insert(k.to_string(), v.to_string());
        }
        lock
    }

    /// The verdicts of `verify` and `run` on images whose CUDA lives only in wheels, on the
    /// real H200 host's answers and on a host without a GPU.
    #[test]
    fn cuda_from_wheels_is_judged_and_never_any_host() {
        let h200 =
            gpu::parse_query(include_str!("../../tests/fixtures/host/h200-query.txt")).unwrap();
        let wheels = lock_with_cuda(&[("nvidia-cuda-runtime-cu12", "12.4.127")]);
        let here = judge(&wheels, h200.clone(), Some("580.159.04".into()));
        assert_eq!(here.verdict, Verdict::Runs);
        assert_eq!(here.image_cuda.as_deref(), Some("12.4"));
        assert_eq!(here.needs.as_ref().unwrap().driver, "525.60.13");
        let old = judge(&wheels, vec![], Some("470.82.01".into()));
        assert!(old.cannot_run(), "{old:?}");
        let minor = judge(&wheels, vec![], Some("535.104.05".into()));
        assert!(
            matches!(minor.verdict, Verdict::RunsMinorCompat { .. }),
            "{minor:?}"
        );
        let none = judge(&wheels, vec![], None);
        assert!(
            none.line().contains("the image needs CUDA 12.4 (driver >= 525.60.13 with minor-version compatibility; >= 550.54.14 for all features; from nvidia-cuda-runtime-cu12 12.4.127)"),
            "{}",
            none.line()
        );
        // A wheel that lies about its release: no verdict rests on it.
        let lying = lock_with_cuda(&[("nvidia-cuda-runtime-cu12", "11.8.89")]);
        let judged = judge(&lying, vec![], None);
        assert!(
            matches!(judged.verdict, Verdict::Unknown { .. }),
            "{judged:?}"
        );
        assert!(
            judged
                .line()
                .contains("cannot judge: nvidia-cuda-runtime-cu12 11.8.89"),
            "{}",
            judged.line()
        );
        let cpu = lock_with_cuda(&[("torch", "2.5.1+cpu")]);
        assert_eq!(judge(&cpu, vec![], None).verdict, Verdict::NoCudaInImage);
    }
}
