//! A conda environment of an image as an explicit file (`@EXPLICIT`, one package URL a line,
//! with its hash), the form `conda create --file` and rattler re-create an environment from
//! without solving. Refused rather than written incomplete: an explicit file missing a
//! package re-creates another environment.

use crate::inventory::{CondaPackage, CondaRecord, Inventory};
use crate::ui::escape;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplicitError {
    #[error("the image has no conda environment (no conda-meta/*.json record); there is no explicit file to write")]
    NoEnvironment,
    #[error("the image has {} conda environments ({}); choose one with --env PREFIX", .0.len(), .0.join(", "))]
    SeveralEnvironments(Vec<String>),
    #[error("the image has no conda environment {asked}; it has {}; give one of them to --env", .known.join(", "))]
    UnknownEnvironment { asked: String, known: Vec<String> },
    #[error("conda package {package} in {environment} has no URL in its conda-meta record, so an explicit file could not re-create the environment; install it from a channel (not a local tarball) or write the environment another way")]
    NoUrl {
        package: String,
        environment: String,
    },
    #[error("conda package {package} in {environment} has a URL an explicit file cannot hold ({url}): it has spaces, control characters or a # in it")]
    UnusableUrl {
        package: String,
        environment: String,
        url: String,
    },
    #[error("conda package {package} in {environment} has a {algorithm} that is not {digits} hex digits ({value}); its conda-meta record is damaged")]
    BadHash {
        package: String,
        environment: String,
        algorithm: &'static str,
        digits: usize,
        value: String,
    },
}

impl ExplicitError {
    /// A choice the user makes (`--env`), as opposed to what the image holds.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ExplicitError::SeveralEnvironments(_) | ExplicitError::UnknownEnvironment { .. }
        )
    }
}

/// The conda environments of an inventory, sorted.
pub fn environments(inventory: &Inventory) -> Vec<String> {
    let mut envs: Vec<String> = inventory
        .conda
        .iter()
        .map(|p| p.environment.clone())
        .collect();
    envs.sort();
    envs.dedup();
    envs
}

/// The explicit file of one conda environment: `env` names it, or the image has only one.
/// `image` is what the header comment says it was read from.
pub fn explicit_file(
    inventory: &Inventory,
    env: Option<&str>,
    image: &str,
) -> Result<String, ExplicitError> {
    let known = environments(inventory);
    let environment = match (env, known.as_slice()) {
        (_, []) => return Err(ExplicitError::NoEnvironment),
        (Some(asked), _) => {
            // `--env opt/conda/` and `/opt/conda` name the same directory.
            let asked_path = format!("/{}", asked.trim_matches('/'));
            known
                .iter()
                .find(|k| **k == asked_path)
                .cloned()
                .ok_or_else(|| ExplicitError::UnknownEnvironment {
                    asked: escape(asked).into_owned(),
                    known: known.iter().map(|k| escape(k).into_owned()).collect(),
                })?
        }
        (None, [only]) => only.clone(),
        (None, several) => {
            return Err(ExplicitError::SeveralEnvironments(
                several.iter().map(|k| escape(k).into_owned()).collect(),
            ))
        }
    };
    let mut lines = Vec::new();
    let mut subdirs: Vec<&str> = Vec::new();
    for CondaPackage { package, .. } in inventory
        .conda
        .iter()
        .filter(|p| p.environment == environment)
    {
        let line = explicit_line(package, &environment)?;
        if let Some(subdir) = subdir_of(&package.url).filter(|s| *s != "noarch") {
            if !subdirs.contains(&subdir) {
                subdirs.push(subdir);
            }
        }
        lines.push(line);
    }
    lines.sort();
    let mut out = format!(
        "# conda environment {} of {}, written by docker repro inspect --format conda-explicit\n\
         # re-create it with: conda create --prefix DIR --file THIS_FILE (or rattler's explicit install)\n",
        escape(&environment),
        escape(image)
    );
    // The platform line names the environment's one architecture; an environment of noarch
    // packages only has none, and one mixing architectures is written without it.
    if let [subdir] = subdirs.as_slice() {
        out.push_str(&format!("# platform: {subdir}\n"));
    }
    out.push_str("@EXPLICIT\n");
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// `URL#sha256:HEX`, or `URL#MD5` (the form every conda reads) when the record holds only an
/// MD5, or the bare URL when it holds neither.
fn explicit_line(p: &CondaRecord, environment: &str) -> Result<String, ExplicitError> {
    let package = || escape(&format!("{} {} {}", p.name, p.version, p.build)).into_owned();
    let environment = || escape(environment).into_owned();
    if p.url.is_empty() {
        return Err(ExplicitError::NoUrl {
            package: package(),
            environment: environment(),
        });
    }
    if p.url
        .contains(|c: char| c.is_whitespace() || c.is_control() || c == '#')
    {
        return Err(ExplicitError::UnusableUrl {
            package: package(),
            environment: environment(),
            url: escape(&p.url).into_owned(),
        });
    }
    let check = |algorithm: &'static str, value: &str, digits: usize| {
        if value.len() == digits && value.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(value.to_ascii_lowercase())
        } else {
            Err(ExplicitError::BadHash {
                package: package(),
                environment: environment(),
                algorithm,
                digits,
                value: escape(value).into_owned(),
            })
        }
    };
    Ok(match (p.sha256.as_str(), p.md5.as_str()) {
        ("", "") => p.url.clone(),
        ("", md5) => format!("{}#{}", p.url, check("md5", md5, 32)?),
        (sha256, _) => format!("{}#sha256:{}", p.url, check("sha256", sha256, 64)?),
    })
}

/// `linux-64` of `https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-0.conda`.
fn subdir_of(url: &str) -> Option<&str> {
    let mut parts = url.rsplit('/');
    parts.next()?;
    parts.next().filter(|s| !s.is_empty())
}

/// The lock's record of where a conda package came from: the line the explicit file holds.
pub fn lock_source(p: &CondaRecord) -> Option<String> {
    explicit_line(p, "").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, url: &str, sha256: &str, md5: &str) -> CondaRecord {
        CondaRecord {
            name: name.into(),
            version: "1.0".into(),
            build: "h0_0".into(),
            channel: "file:///srv/channel".into(),
            url: url.into(),
            sha256: sha256.into(),
            md5: md5.into(),
        }
    }

    fn inventory(packages: &[(&str, CondaRecord)]) -> Inventory {
        Inventory {
            conda: packages
                .iter()
                .map(|(env, p)| CondaPackage {
                    package: p.clone(),
                    environment: env.to_string(),
                })
                .collect(),
            ..Default::default()
        }
    }

    const SHA: &str = "3f4c0b1f8d3b5c1e6a7d2e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3";
    const MD5: &str = "a5021b2c3d4e5f60718293a4b5c6d7e8";

    #[test]
    fn one_environment_with_sha256_md5_and_platform() {
        let inv = inventory(&[
            (
                "/opt/env",
                record(
                    "zlib",
                    "file:///srv/channel/linux-64/zlib-1.0-h0_0.conda",
                    SHA,
                    MD5,
                ),
            ),
            (
                "/opt/env",
                record(
                    "data",
                    "file:///srv/channel/noarch/data-1.0-h0_0.conda",
                    "",
                    MD5,
                ),
            ),
        ]);
        let text = explicit_file(&inv, None, "lab/env:1").unwrap();
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with("# ")).collect();
        let zlib = format!("file:///srv/channel/linux-64/zlib-1.0-h0_0.conda#sha256:{SHA}");
        let data = format!("file:///srv/channel/noarch/data-1.0-h0_0.conda#{MD5}");
        assert_eq!(body, ["@EXPLICIT", zlib.as_str(), data.as_str()]);
        assert!(text.contains("\n# platform: linux-64\n"), "{text}");
        assert!(text.contains("/opt/env of lab/env:1"), "{text}");
    }

    #[test]
    fn several_environments_need_env_and_env_is_matched_by_path() {
        let url = "https://conda.anaconda.org/conda-forge/linux-64/a-1.0-h0_0.conda";
        let inv = inventory(&[
            ("/opt/conda", record("a", url, SHA, "")),
            ("/opt/conda/envs/train", record("a", url, SHA, "")),
        ]);
        let err = explicit_file(&inv, None, "x").unwrap_err();
        assert!(err.is_usage());
        assert_eq!(
            err.to_string(),
            "the image has 2 conda environments (/opt/conda, /opt/conda/envs/train); choose one with --env PREFIX"
        );
        let text = explicit_file(&inv, Some("opt/conda/envs/train/"), "x").unwrap();
        assert!(text.contains("environment /opt/conda/envs/train of x"));
        let err = explicit_file(&inv, Some("/opt/other"), "x").unwrap_err();
        assert!(err.is_usage());
        assert!(err.to_string().contains("no conda environment /opt/other"));
        assert_eq!(
            explicit_file(&Inventory::default(), None, "x").unwrap_err(),
            ExplicitError::NoEnvironment
        );
    }

    #[test]
    fn a_record_without_url_or_with_a_damaged_hash_is_refused_not_left_out() {
        let good = "https://conda.anaconda.org/conda-forge/linux-64/a-1.0-h0_0.conda";
        let inv = inventory(&[
            ("/opt/env", record("a", good, SHA, "")),
            ("/opt/env", record("local", "", "", MD5)),
        ]);
        let err = explicit_file(&inv, None, "x").unwrap_err();
        assert!(!err.is_usage());
        assert!(
            err.to_string()
                .starts_with("conda package local 1.0 h0_0 in /opt/env has no URL"),
            "{err}"
        );
        let bad_hash = inventory(&[("/opt/env", record("a", good, "abc", ""))]);
        assert!(matches!(
            explicit_file(&bad_hash, None, "x").unwrap_err(),
            ExplicitError::BadHash {
                algorithm: "sha256",
                ..
            }
        ));
        let newline = inventory(&[(
            "/opt/env",
            record("a", "https://x/linux-64/a.conda\n@EXPLICIT", SHA, ""),
        )]);
        let err = explicit_file(&newline, None, "x").unwrap_err();
        assert!(matches!(err, ExplicitError::UnusableUrl { .. }));
        assert!(!err.to_string().contains('\n'));
    }
}
