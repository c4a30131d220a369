//! A host's NVIDIA GPUs, as `nvidia-smi` reports them (the parser; engine::gpu runs it).
//! Recorded as information about where a release was cut; never an input of the build.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gpu {
    pub name: String,
    pub driver_version: String,
    /// `8.9`, `9.0`; empty when the driver is too old to report it.
    pub compute_capability: String,
}

pub const QUERY: &str = "--query-gpu=name,driver_version,compute_cap";
pub const QUERY_OLD_DRIVER: &str = "--query-gpu=name,driver_version";

/// Parses `nvidia-smi --query-gpu=... --format=csv,noheader` output.
pub fn parse_query(text: &str) -> Result<Vec<Gpu>, String> {
    let mut gpus = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        match fields.as_slice() {
            [name, driver] => gpus.push(Gpu {
                name: name.to_string(),
                driver_version: driver.to_string(),
                compute_capability: String::new(),
            }),
            [name, driver, cc] => gpus.push(Gpu {
                name: name.to_string(),
                driver_version: driver.to_string(),
                compute_capability: cc.to_string(),
            }),
            _ => return Err(format!("unexpected nvidia-smi line {line:?}")),
        }
    }
    Ok(gpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_current_and_old_driver_answers() {
        let gpus = parse_query(
            "NVIDIA H100 80GB HBM3, 550.54.15, 9.0\nNVIDIA A100-SXM4-40GB, 550.54.15, 8.0\n",
        )
        .unwrap();
        assert_eq!(
            gpus[0],
            Gpu {
                name: "NVIDIA H100 80GB HBM3".into(),
                driver_version: "550.54.15".into(),
                compute_capability: "9.0".into()
            }
        );
        assert_eq!(gpus.len(), 2);
        assert_eq!(
            parse_query("Tesla V100-SXM2-16GB, 450.80.02\n").unwrap()[0].compute_capability,
            ""
        );
        assert!(parse_query("No devices were found, x, y, z\n").is_err());
        assert!(parse_query("").unwrap().is_empty());
    }
}
