//! Can this host run that image's CUDA? NVIDIA's published compatibility rules, kept as data.
//!
//! Sources (NVIDIA CUDA Toolkit Release Notes, "CUDA Driver" section):
//! - Table 3, "CUDA Toolkit and Corresponding Driver Versions": the minimum Linux x86_64 driver
//!   of each toolkit's GA release. Later updates of the same minor release may name a slightly
//!   newer driver; minor-version compatibility covers those.
//! - Table 2, "CUDA Toolkit and Minimum Required Driver Version for CUDA Minor Version
//!   Compatibility": 11.1-11.8 need >= 450.80.02, 12.x >= 525.60.13, 13.x >= 580.65.06.
//!
//! Compute capabilities per toolkit: CUDA C++ Programming Guide and the toolkit release notes
//! (sm_89/sm_90 arrive in 11.8, sm_100/sm_120 (Blackwell) in 12.8; 12.x drops Kepler, 13.0
//! drops Maxwell, Pascal and Volta).

use serde::Serialize;

/// (major, minor) → minimum driver of the GA release.
const TOOLKIT_DRIVER: &[((u32, u32), &str)] = &[
    ((10, 0), "410.48"),
    ((10, 1), "418.39"),
    ((10, 2), "440.33"),
    ((11, 0), "450.36.06"),
    ((11, 1), "455.23"),
    ((11, 2), "460.27.03"),
    ((11, 3), "465.19.01"),
    ((11, 4), "470.42.01"),
    ((11, 5), "495.29.05"),
    ((11, 6), "510.39.01"),
    ((11, 7), "515.43.04"),
    ((11, 8), "520.61.05"),
    ((12, 0), "525.60.13"),
    ((12, 1), "530.30.02"),
    ((12, 2), "535.54.03"),
    ((12, 3), "545.23.06"),
    ((12, 4), "550.54.14"),
    ((12, 5), "555.42.02"),
    ((12, 6), "560.28.03"),
    ((12, 8), "570.26"),
    ((12, 9), "575.51.03"),
    ((13, 0), "580.65.06"),
];

/// Major release → (first minor covered, minimum driver) for minor-version compatibility.
const MINOR_COMPAT: &[(u32, u32, &str)] = &[
    (11, 1, "450.80.02"),
    (12, 0, "525.60.13"),
    (13, 0, "580.65.06"),
];

/// A (major, minor) version pair: a compute capability or a CUDA release.
type Pair = (u32, u32);

/// Compute capability (major, minor) → first CUDA release that can build for it.
const CC_INTRODUCED: &[(Pair, Pair)] = &[
    ((12, 0), (12, 8)),
    ((10, 3), (12, 8)),
    ((10, 0), (12, 8)),
    ((9, 0), (11, 8)),
    ((8, 9), (11, 8)),
    ((8, 7), (11, 4)),
    ((8, 6), (11, 1)),
    ((8, 0), (11, 0)),
    ((7, 5), (10, 0)),
    ((7, 2), (10, 0)),
    ((7, 0), (9, 0)),
];

/// CUDA major release → oldest compute capability it still supports.
const CC_DROPPED_BELOW: &[(u32, (u32, u32))] = &[(11, (3, 5)), (12, (5, 0)), (13, (7, 5))];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// The driver is new enough for the image's CUDA release.
    Runs,
    /// Older driver, same major release: runs through minor-version compatibility.
    RunsMinorCompat { caveat: String },
    /// It will not run here, and why.
    WillNotRun { reason: String },
    /// The image has no CUDA; any host will do.
    NoCudaInImage,
    /// The host has no NVIDIA GPU.
    NoGpu { reason: String },
    /// Not enough facts to judge.
    Unknown { reason: String },
}

impl Verdict {
    pub fn cannot_run(&self) -> bool {
        matches!(self, Verdict::WillNotRun { .. })
    }

    pub fn line(&self) -> String {
        match self {
            Verdict::Runs => "runs".into(),
            Verdict::RunsMinorCompat { caveat } => {
                format!("runs through CUDA minor-version compatibility ({caveat})")
            }
            Verdict::WillNotRun { reason } => format!("will not run: {reason}"),
            Verdict::NoCudaInImage => "no CUDA in the image; any host will do".into(),
            Verdict::NoGpu { reason } => reason.clone(),
            Verdict::Unknown { reason } => format!("cannot judge: {reason}"),
        }
    }
}

/// Parses `12.1.1`, `12.1`, `cuda>=12.1` into (major, minor).
pub fn major_minor(version: &str) -> Option<(u32, u32)> {
    let digits = version.trim_start_matches(|c: char| !c.is_ascii_digit());
    let mut parts = digits.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Compares dotted driver versions numerically (`535.104.05` > `535.54.03`).
pub fn driver_at_least(driver: &str, minimum: &str) -> bool {
    let parse = |v: &str| {
        v.split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    parse(driver) >= parse(minimum)
}

/// The minimum driver of a toolkit release; a minor release missing from the table (12.7 was
/// never released) takes the next one listed within the same major.
pub fn toolkit_driver((major, minor): (u32, u32)) -> Option<&'static str> {
    TOOLKIT_DRIVER
        .iter()
        .find(|((ma, mi), _)| *ma == major && *mi >= minor)
        .map(|(_, d)| *d)
}

/// The oldest driver that runs a toolkit release through minor-version compatibility (11.1 and
/// later); `None` before it existed (10.x, 11.0).
pub fn minor_compat_driver((major, minor): (u32, u32)) -> Option<&'static str> {
    MINOR_COMPAT
        .iter()
        .find(|(ma, first_minor, _)| *ma == major && minor >= *first_minor)
        .map(|(_, _, d)| *d)
}

/// Judges whether a host with `driver` and a GPU of `compute_capability` (`9.0`; empty when
/// unknown) can run an image built against CUDA `cuda` (`12.1.1`).
pub fn judge(cuda: &str, driver: &str, compute_capability: &str) -> Verdict {
    let Some(version) = major_minor(cuda) else {
        return Verdict::Unknown {
            reason: format!("cannot read the image's CUDA version {cuda:?}"),
        };
    };
    if let Some(cc) = major_minor(compute_capability).filter(|_| !compute_capability.is_empty()) {
        if let Some((_, first)) = CC_INTRODUCED.iter().find(|(c, _)| *c == cc) {
            if version < *first {
                return Verdict::WillNotRun {
                    reason: format!(
                        "the GPU's compute capability {}.{} (sm_{}{}) needs CUDA >= {}.{}; the image has CUDA {cuda}",
                        cc.0, cc.1, cc.0, cc.1, first.0, first.1
                    ),
                };
            }
        }
        if let Some((_, oldest)) = CC_DROPPED_BELOW.iter().find(|(m, _)| *m == version.0) {
            if cc < *oldest {
                return Verdict::WillNotRun {
                    reason: format!(
                        "CUDA {}.x supports compute capability >= {}.{}; this GPU is {}.{}",
                        version.0, oldest.0, oldest.1, cc.0, cc.1
                    ),
                };
            }
        }
    }
    let Some(full) = toolkit_driver(version) else {
        return Verdict::Unknown {
            reason: format!(
                "CUDA {cuda} is not in docker repro's driver table; see NVIDIA's release notes"
            ),
        };
    };
    if driver_at_least(driver, full) {
        return Verdict::Runs;
    }
    let compat = MINOR_COMPAT
        .iter()
        .find(|(major, first_minor, _)| *major == version.0 && version.1 >= *first_minor);
    match compat {
        Some((_, _, minimum)) if driver_at_least(driver, minimum) => Verdict::RunsMinorCompat {
            caveat: format!(
                "driver {driver} is older than {full}, the driver of CUDA {}.{}; code that JIT-compiles PTX built by the newer toolkit, or uses APIs newer than the driver, fails. A driver >= {full} removes the caveat",
                version.0, version.1
            ),
        },
        Some((_, _, minimum)) => Verdict::WillNotRun {
            reason: format!("driver {driver} is too old for CUDA {cuda}: it needs >= {full} (or >= {minimum} through minor-version compatibility)"),
        },
        None => Verdict::WillNotRun { reason: format!("driver {driver} is too old for CUDA {cuda}: it needs >= {full}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_and_version_parsing() {
        assert_eq!(major_minor("12.1.1"), Some((12, 1)));
        assert_eq!(major_minor("cuda>=11.8"), Some((11, 8)));
        assert_eq!(major_minor("12"), Some((12, 0)));
        assert!(driver_at_least("535.104.05", "535.54.03"));
        assert!(!driver_at_least("450.36.06", "450.80.02"));
        assert!(driver_at_least("570.26", "570.26"));
        assert_eq!(
            toolkit_driver((12, 7)),
            Some("570.26"),
            "12.7 was never released"
        );
        assert_eq!(toolkit_driver((14, 0)), None);
    }

    /// (image CUDA, host driver, GPU compute capability) → expected verdict kind.
    #[test]
    fn verdict_table() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("12.1.1", "550.54.15", "9.0", "runs"),
            ("12.1.1", "530.30.02", "8.0", "runs"),
            ("12.4.1", "535.104.05", "9.0", "minor"),
            ("12.8.0", "525.60.13", "8.6", "minor"),
            ("12.1.1", "470.82.01", "8.0", "no"),
            ("11.8.0", "470.82.01", "8.6", "minor"),
            ("11.8.0", "450.36.06", "8.0", "no"),
            ("11.0.3", "450.36.06", "8.0", "runs"),
            ("11.0.3", "440.33", "7.0", "no"),
            ("11.7.1", "550.54.15", "9.0", "no"), // H100 needs CUDA >= 11.8
            ("11.7.1", "550.54.15", "8.9", "no"), // Ada needs CUDA >= 11.8
            ("12.4.1", "570.86.10", "12.0", "no"), // Blackwell needs CUDA >= 12.8
            ("12.8.0", "570.86.10", "12.0", "runs"),
            ("12.8.0", "560.35.03", "12.0", "minor"),
            ("12.1.1", "550.54.15", "3.7", "no"), // Kepler dropped in 12.x
            ("11.8.0", "520.61.05", "3.7", "runs"),
            ("12.1.1", "550.54.15", "", "runs"), // old driver, no compute_cap field
            ("10.2.89", "440.33", "7.5", "runs"),
            ("10.2.89", "418.87.00", "7.5", "no"),
        ];
        for (cuda, driver, cc, want) in cases {
            let got = judge(cuda, driver, cc);
            let kind = match got {
                Verdict::Runs => "runs",
                Verdict::RunsMinorCompat { .. } => "minor",
                Verdict::WillNotRun { .. } => "no",
                _ => "other",
            };
            assert_eq!(
                kind, *want,
                "CUDA {cuda}, driver {driver}, cc {cc}: {got:?}"
            );
        }
        let Verdict::WillNotRun { reason } = judge("12.1.1", "470.82.01", "8.0") else {
            panic!()
        };
        assert_eq!(reason, "driver 470.82.01 is too old for CUDA 12.1.1: it needs >= 530.30.02 (or >= 525.60.13 through minor-version compatibility)");
        let Verdict::WillNotRun { reason } = judge("11.7.1", "550.54.15", "9.0") else {
            panic!()
        };
        assert!(reason.contains("(sm_90) needs CUDA >= 11.8"), "{reason}");
    }
}
