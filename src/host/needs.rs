//! What an image needs from a GPU host: the newest CUDA release any of its parts was built for,
//! and the drivers that run it, from the CUDA facts of its inventory. Deep-learning images keep
//! CUDA in many places besides `/usr/local/cuda`: PyTorch's build, NVIDIA's `nvidia-*-cu12`
//! wheels (what `pip install torch`, `jax[cuda12]` and `tensorflow[and-cuda]` bring), CuPy's and
//! JAX's CUDA builds, conda's CUDA packages, and the base image's `NVIDIA_REQUIRE_CUDA`.

use crate::host::cuda_compat::{major_minor, minor_compat_driver, toolkit_driver};
use crate::inventory::LockedInventory;
use crate::lock::CudaNeeds;

/// A CUDA release (major, minor).
type Release = (u32, u32);

/// How a CUDA fact of the inventory tells the release it was built for.
enum Reading {
    /// Its version is the CUDA release (`12.4.127` of `nvidia-cuda-runtime-cu12`).
    Exact,
    /// Only its name tells the major release (`nvidia-cublas-cu12 12.4.5.8` is cuBLAS's own
    /// version; `cupy-cuda12x`); the version must not say another major release.
    Major(u32),
    /// Its name tells the release (`cupy-cuda113`: 11.3).
    Named(Release),
    /// A requirement, `cuda>=12.1 brand=tesla,driver>=470`.
    Requirement,
}

/// How to read the fact `name` of `[image.inventory.cuda]`, if it says anything about CUDA.
fn reading(name: &str) -> Option<Reading> {
    const EXACT: &[&str] = &[
        "cuda",
        "torch-cuda",
        "cudart",
        "cuda-version",
        "cudatoolkit",
        "cuda-cudart",
        "cuda-runtime",
        "cuda-nvrtc",
        "pytorch-cuda",
    ];
    if EXACT.contains(&name) {
        return Some(Reading::Exact);
    }
    if name == "require-cuda" {
        return Some(Reading::Requirement);
    }
    // NVIDIA's toolkit wheels carry the CUDA version; its libraries' wheels their own.
    if let Some(rest) = name.strip_prefix("nvidia-") {
        let (component, suffix) = rest.rsplit_once("-cu")?;
        let major = suffix.parse().ok()?;
        let exact = matches!(
            component,
            "cuda-runtime" | "cuda-nvrtc" | "cuda-nvcc" | "cuda-cupti"
        );
        return Some(if exact {
            Reading::Exact
        } else {
            Reading::Major(major)
        });
    }
    if let Some(suffix) = name.strip_prefix("cupy-cuda") {
        // `cupy-cuda12x`, `cupy-cuda11x`; before CuPy 10 one package per release: `cupy-cuda113`.
        if let Some(major) = suffix.strip_suffix('x') {
            return major.parse().ok().map(Reading::Major);
        }
        let digits: u32 = suffix.parse().ok()?;
        return Some(Reading::Named((digits / 10, digits % 10)));
    }
    if let Some(rest) = name.strip_prefix("jax-cuda") {
        let major = rest.split('-').next()?.parse().ok()?;
        return Some(Reading::Major(major));
    }
    None
}

/// The CUDA an image needs, or why its facts cannot be trusted to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub cuda: Release,
    /// The fact that decided it: `nvidia-cuda-runtime-cu12 12.4.127`.
    pub from: String,
}

/// The newest CUDA release the image's parts need (the driver must run the newest); `Ok(None)`
/// when nothing in the image uses CUDA. A fact that contradicts itself (a `cu12` wheel whose
/// version is a CUDA 11 release) is an error naming it: no verdict rests on it.
pub fn cuda_need(inventory: &LockedInventory) -> Result<Option<Need>, String> {
    let mut best: Option<Need> = None;
    for (name, versions) in &inventory.cuda {
        let Some(reading) = reading(name) else {
            continue;
        };
        for version in versions.split(", ") {
            let fact = format!("{name} {version}");
            let release = match &reading {
                Reading::Exact | Reading::Requirement => major_minor(version)
                    .ok_or_else(|| format!("{fact}: no CUDA release in this version"))?,
                Reading::Major(major) => {
                    if let Some((theirs, _)) = major_minor(version).filter(|_| {
                        // Only NVIDIA's toolkit-version wheels share the CUDA numbering.
                        name.starts_with("nvidia-cuda-")
                    }) {
                        if theirs != *major {
                            return Err(format!(
                                "{fact}: a CUDA {major} build whose version is CUDA {theirs}'s; the image's CUDA cannot be judged"
                            ));
                        }
                    }
                    (*major, 0)
                }
                Reading::Named(release) => *release,
            };
            if let (Reading::Exact, Some(major)) = (&reading, wheel_major(name)) {
                if release.0 != major {
                    return Err(format!(
                        "{fact}: a CUDA {major} wheel whose version is no CUDA {major} release; the image's CUDA cannot be judged"
                    ));
                }
            }
            if best.as_ref().map_or(true, |b| release > b.cuda) {
                best = Some(Need {
                    cuda: release,
                    from: fact,
                });
            }
        }
    }
    Ok(best)
}

/// `12` of `nvidia-cuda-runtime-cu12`.
fn wheel_major(name: &str) -> Option<u32> {
    name.strip_prefix("nvidia-")?
        .rsplit_once("-cu")?
        .1
        .parse()
        .ok()
}

/// What the lock says an image needs from a GPU host; `None` when it needs no GPU or the facts
/// cannot tell (the verdict then says why).
pub fn for_lock(inventory: &LockedInventory) -> Option<CudaNeeds> {
    let need = cuda_need(inventory).ok()??;
    let all_features = toolkit_driver(need.cuda)?;
    Some(CudaNeeds {
        cuda: format!("{}.{}", need.cuda.0, need.cuda.1),
        from: need.from,
        driver: minor_compat_driver(need.cuda)
            .unwrap_or(all_features)
            .to_string(),
        driver_all_features: all_features.to_string(),
    })
}

/// `needs CUDA 12.4 (driver >= 525.60.13 with minor-version compatibility; >= 550.54.14 for
/// all features)`.
pub fn describe(needs: &CudaNeeds) -> String {
    if needs.driver == needs.driver_all_features {
        format!(
            "needs CUDA {} (driver >= {}; from {})",
            needs.cuda, needs.driver, needs.from
        )
    } else {
        format!(
            "needs CUDA {} (driver >= {} with minor-version compatibility; >= {} for all features; from {})",
            needs.cuda, needs.driver, needs.driver_all_features, needs.from
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(facts: &[(&str, &str)]) -> LockedInventory {
        let mut inv = LockedInventory::default();
        for (k, v) in facts {
            inv.cuda.insert(k.to_string(), v.to_string());
        }
        inv
    }

    fn need(facts: &[(&str, &str)]) -> Option<(Release, String)> {
        cuda_need(&inventory(facts))
            .unwrap()
            .map(|n| (n.cuda, n.from))
    }

    /// Inventories as real deep-learning images list them.
    #[test]
    fn the_newest_cuda_of_any_part_is_what_the_image_needs() {
        // `pip install torch==2.5.1` on python:3.11: no system CUDA at all.
        let torch_wheels = [
            ("torch", "2.5.1"),
            ("torch-cuda", "12.4"),
            ("nvidia-cuda-runtime-cu12", "12.4.127"),
            ("nvidia-cublas-cu12", "12.4.5.8"),
            ("nvidia-cudnn-cu12", "9.1.0.70"),
            ("nvidia-nccl-cu12", "2.21.5"),
        ];
        assert_eq!(
            need(&torch_wheels),
            Some(((12, 4), "nvidia-cuda-runtime-cu12 12.4.127".into()))
        );
        // The test bed's mirror: the runtime wheel alone.
        assert_eq!(
            need(&[("nvidia-cuda-runtime-cu12", "12.4.127")]).unwrap().0,
            (12, 4)
        );
        // nvidia/cuda:12.1.1-runtime with a cu124 torch on top: the newer runtime decides.
        let mixed = [
            ("cuda", "12.1.1"),
            (
                "require-cuda",
                "cuda>=12.1 brand=tesla,driver>=470,driver<471",
            ),
            ("torch-cuda", "12.4"),
        ];
        assert_eq!(need(&mixed), Some(((12, 4), "torch-cuda 12.4".into())));
        // JAX, TensorFlow and CuPy on NVIDIA's wheels: the library wheels tell the major only.
        assert_eq!(
            need(&[
                ("nvidia-cudnn-cu12", "9.1.0.70"),
                ("jax-cuda12-plugin", "0.4.35")
            ])
            .unwrap()
            .0,
            (12, 0)
        );
        assert_eq!(need(&[("cupy-cuda11x", "13.3.0")]).unwrap().0, (11, 0));
        assert_eq!(need(&[("cupy-cuda113", "9.6.0")]).unwrap().0, (11, 3));
        // A conda environment: conda-forge's pin and PyTorch's build string.
        let conda = [
            ("cuda-version", "12.0"),
            ("cudatoolkit", "11.8.0"),
            ("torch-cuda", "12.1"),
        ];
        assert_eq!(need(&conda), Some(((12, 1), "torch-cuda 12.1".into())));
        // Several versions of one fact (two environments): the newest.
        assert_eq!(need(&[("cuda", "11.8.0, 12.2.2")]).unwrap().0, (12, 2));
        // Nothing CUDA, and facts that are not CUDA releases.
        assert_eq!(need(&[]), None);
        assert_eq!(
            need(&[
                ("torch", "2.5.1+cpu"),
                ("cudnn", "8.9.2"),
                ("nccl", "2.18.1")
            ]),
            None
        );
    }

    #[test]
    fn a_fact_that_contradicts_itself_is_named_and_judges_nothing() {
        for facts in [
            [("nvidia-cuda-runtime-cu12", "11.8.89")],
            [("nvidia-cuda-nvrtc-cu11", "12.1.105")],
            [("cuda", "unknown")],
        ] {
            let err = cuda_need(&inventory(&facts)).unwrap_err();
            assert!(
                err.starts_with(&format!("{} {}", facts[0].0, facts[0].1)),
                "{err}"
            );
            assert_eq!(for_lock(&inventory(&facts)), None);
        }
    }

    #[test]
    fn the_lock_states_both_minimum_drivers() {
        let needs = for_lock(&inventory(&[("nvidia-cuda-runtime-cu12", "12.4.127")])).unwrap();
        assert_eq!(
            needs,
            CudaNeeds {
                cuda: "12.4".into(),
                from: "nvidia-cuda-runtime-cu12 12.4.127".into(),
                driver: "525.60.13".into(),
                driver_all_features: "550.54.14".into(),
            }
        );
        assert_eq!(
            describe(&needs),
            "needs CUDA 12.4 (driver >= 525.60.13 with minor-version compatibility; >= 550.54.14 for all features; from nvidia-cuda-runtime-cu12 12.4.127)"
        );
        // CUDA 11.0 predates minor-version compatibility: one driver.
        let old = for_lock(&inventory(&[("cuda", "11.0.3")])).unwrap();
        assert_eq!(
            (old.driver.as_str(), old.driver_all_features.as_str()),
            ("450.36.06", "450.36.06")
        );
        assert_eq!(
            describe(&old),
            "needs CUDA 11.0 (driver >= 450.36.06; from cuda 11.0.3)"
        );
        let cuda13 = for_lock(&inventory(&[("cuda", "13.0.1")])).unwrap();
        assert_eq!(cuda13.driver, "580.65.06");
        // A release newer than the table: no claim, rather than a wrong one.
        assert_eq!(for_lock(&inventory(&[("cuda", "14.1.0")])), None);
    }
}
