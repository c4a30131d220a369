//! Pure parsers for the package databases found in image layers: dpkg `status`, Python
//! `METADATA`/`PKG-INFO`, `direct_url.json`, conda-meta records, and CUDA version markers.
//! Each takes the file's bytes and returns records or a one-line reason it is malformed.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AptPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The source package (`Source:`, without its version), or the name itself.
    pub source: String,
}

/// Installed packages from a dpkg `status` file. With `require_status` false (distroless
/// `status.d/*` files carry no `Status:`), every paragraph counts.
pub fn parse_dpkg_status(bytes: &[u8], require_status: bool) -> Result<Vec<AptPackage>, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut first_line = 1;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().chain(std::iter::once(&"")).enumerate() {
        if line.trim().is_empty() {
            if !fields.is_empty() {
                if let Some(pkg) = dpkg_paragraph(&fields, require_status)
                    .map_err(|m| format!("line {first_line}: {m}"))?
                {
                    out.push(pkg);
                }
                fields.clear();
            }
            first_line = i + 2;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if fields.is_empty() {
                return Err(format!(
                    "line {}: continuation line outside a paragraph",
                    i + 1
                ));
            }
            continue;
        }
        let (key, value) = line.split_once(':').ok_or_else(|| {
            format!(
                "line {}: `{}` is not a `Field: value` line",
                i + 1,
                line.chars().take(40).collect::<String>()
            )
        })?;
        fields.push((key.to_ascii_lowercase(), value.trim().to_string()));
    }
    out.sort();
    Ok(out)
}

fn dpkg_paragraph(
    fields: &[(String, String)],
    require_status: bool,
) -> Result<Option<AptPackage>, String> {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let name = get("package").ok_or("a paragraph without `Package:`")?;
    if require_status {
        let installed = get("status").map(|s| s.split_whitespace().collect::<Vec<_>>());
        if installed.as_deref() != Some(&["install", "ok", "installed"][..]) {
            return Ok(None);
        }
    }
    let version = get("version").ok_or_else(|| format!("package {name} has no `Version:`"))?;
    let source = get("source")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or(name);
    Ok(Some(AptPackage {
        name: name.to_string(),
        version: version.to_string(),
        architecture: get("architecture").unwrap_or("").to_string(),
        source: source.to_string(),
    }))
}

/// `Name` and `Version` from a core-metadata file (`METADATA` or `PKG-INFO`).
pub fn parse_python_metadata(bytes: &[u8]) -> Result<(String, String), String> {
    let text = String::from_utf8_lossy(bytes);
    let mut name = None;
    let mut version = None;
    for line in text.lines() {
        if line.is_empty() {
            break; // the headers end here; the description follows
        }
        if let Some((key, value)) = line.split_once(':') {
            match key.to_ascii_lowercase().as_str() {
                "name" if name.is_none() => name = Some(value.trim().to_string()),
                "version" if version.is_none() => version = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    match (name, version) {
        (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => Ok((n, v)),
        _ if text.trim().is_empty() => Err("empty metadata".into()),
        _ => Err("no `Name:` and `Version:` headers".into()),
    }
}

/// PEP 503 normalisation: lower case, runs of `-`, `_`, `.` become one `-`.
pub fn normalise_python_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut last_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !last_sep {
                out.push('-');
            }
            last_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            last_sep = false;
        }
    }
    out
}

/// Where a package came from, per PEP 610 `direct_url.json`, in one line: the URL, plus the
/// VCS commit or archive hash when recorded.
pub fn parse_direct_url(bytes: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct DirectUrl {
        url: String,
        #[serde(default)]
        vcs_info: Option<VcsInfo>,
        #[serde(default)]
        archive_info: Option<ArchiveInfo>,
    }
    #[derive(Deserialize)]
    struct VcsInfo {
        vcs: String,
        commit_id: String,
    }
    #[derive(Deserialize)]
    struct ArchiveInfo {
        #[serde(default)]
        hash: Option<String>,
        #[serde(default)]
        hashes: std::collections::BTreeMap<String, String>,
    }
    let d: DirectUrl =
        serde_json::from_slice(bytes).map_err(|e| format!("not valid direct_url.json: {e}"))?;
    let mut out = d.url;
    if let Some(v) = d.vcs_info {
        out.push_str(&format!(" ({}@{})", v.vcs, v.commit_id));
    }
    if let Some(a) = d.archive_info {
        if let Some((algo, h)) = a.hashes.iter().next() {
            out.push_str(&format!(" ({algo}={h})"));
        } else if let Some(h) = a.hash {
            out.push_str(&format!(" ({h})"));
        }
    }
    Ok(out)
}

/// The fields of a `conda-meta/*.json` record that identify the package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CondaRecord {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub build: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub md5: String,
}

/// The distribution an image is built on, from `os-release(5)`: what a package URL names as
/// its namespace and `distro` (`pkg:deb/debian/jq@1.6-2.1?distro=debian-12`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OsRelease {
    /// `ID`: `debian`, `ubuntu`…
    pub id: String,
    /// `VERSION_ID`: `12`, `22.04`; empty for a rolling release.
    pub version_id: String,
}

/// `ID` and `VERSION_ID` of an `os-release` file (shell-style `KEY=value` lines, values maybe
/// quoted); a file without `ID` is no answer.
pub fn parse_os_release(bytes: &[u8]) -> Result<OsRelease, String> {
    let text = String::from_utf8_lossy(bytes);
    let value = |key: &str| {
        text.lines().find_map(|line| {
            let v = line.trim().strip_prefix(key)?.strip_prefix('=')?;
            Some(v.trim_matches(|c| c == '"' || c == '\'').to_string())
        })
    };
    let id = value("ID").filter(|v| !v.is_empty()).ok_or("no ID= line")?;
    Ok(OsRelease {
        id,
        version_id: value("VERSION_ID").unwrap_or_default(),
    })
}

/// One `conda-meta/*.json` record (its file lists and other fields are skipped).
pub fn parse_conda_meta(bytes: &[u8]) -> Result<CondaRecord, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("not a conda-meta record: {e}"))
}

/// The toolkit version from `cuda/version.json` (`{"cuda": {"version": "12.1.1"}}`) or
/// `version.txt` (`CUDA Version 11.8.0`).
pub fn parse_cuda_version(file_name: &str, bytes: &[u8]) -> Result<String, String> {
    if file_name.ends_with(".json") {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
        return v
            .pointer("/cuda/version")
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .ok_or_else(|| "no cuda.version".into());
    }
    let text = String::from_utf8_lossy(bytes);
    text.split_whitespace()
        .skip_while(|w| !w.eq_ignore_ascii_case("version"))
        .nth(1)
        .map(str::to_string)
        .ok_or_else(|| "no `CUDA Version X.Y.Z`".into())
}

/// `X.Y.Z` from `#define CUDNN_MAJOR X` / `CUDNN_MINOR` / `CUDNN_PATCHLEVEL`; `None` when the
/// header has no such defines (the version lives in another header).
pub fn parse_cudnn_header(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let define = |name: &str| {
        text.lines().find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("#define") && words.next() == Some(name))
                .then(|| words.next().map(str::to_string))
                .flatten()
        })
    };
    Some(format!(
        "{}.{}.{}",
        define("CUDNN_MAJOR")?,
        define("CUDNN_MINOR")?,
        define("CUDNN_PATCHLEVEL")?
    ))
}

/// The version in a versioned shared-library name: `libcudnn.so.8.9.7` → `8.9.7` for `libcudnn`.
pub fn library_version(file_name: &str, library: &str) -> Option<String> {
    let rest = file_name.strip_prefix(library)?.strip_prefix(".so.")?;
    (rest.split('.').count() >= 2
        && rest
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
    .then(|| rest.to_string())
}

/// `__version__` and `cuda` from `torch/version.py`.
pub fn parse_torch_version(bytes: &[u8]) -> Result<(String, Option<String>), String> {
    let text = String::from_utf8_lossy(bytes);
    let value = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            // `cuda: Optional[str] = '12.1'` carries a type annotation.
            let k = k
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .trim_start_matches("__")
                .trim_end_matches("__");
            (k == name).then(|| {
                v.split('#')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches(['\'', '"'])
                    .to_string()
            })
        })
    };
    let version = value("version")
        .filter(|v| !v.is_empty())
        .ok_or("no __version__")?;
    let cuda = value("cuda").filter(|v| !v.is_empty() && v != "None");
    Ok((version, cuda))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two paragraphs recorded from Debian bookworm's /var/lib/dpkg/status, plus one removed
    // package that must not count.
    const STATUS: &str = "Package: base-files\nEssential: yes\nStatus: install ok installed\nPriority: required\nSection: admin\nInstalled-Size: 340\nMaintainer: Santiago Vila <sanvila@debian.org>\nArchitecture: amd64\nMultiArch: foreign\nVersion: 12.4+deb12u5\nReplaces: base, dpkg (<= 1.15.0), miscutils\nProvides: base\nConffiles:\n /etc/debian_version 1d13ca41a4c9a3a5e3bf5bcc8bd0e0c3\n /etc/dpkg/origins/debian c47b6815f67ad1aeccb0d4529bd0b990\nDescription: Debian base system miscellaneous files\n This package contains the basic filesystem hierarchy of a Debian system, and\n .\n several important miscellaneous files.\n\nPackage: libpython3.11-minimal\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nSource: python3.11\nVersion: 3.11.2-6+deb12u2\nDescription: Minimal subset of the Python language (version 3.11)\n\nPackage: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0\n";

    #[test]
    fn dpkg_status_keeps_only_installed_packages() {
        let pkgs = parse_dpkg_status(STATUS.as_bytes(), true).unwrap();
        assert_eq!(pkgs.len(), 2);
        assert_eq!(
            pkgs[0],
            AptPackage {
                name: "base-files".into(),
                version: "12.4+deb12u5".into(),
                architecture: "amd64".into(),
                source: "base-files".into()
            }
        );
        assert_eq!(pkgs[1].source, "python3.11");
        // status.d files (distroless) carry no Status field.
        let distroless = "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n";
        assert_eq!(
            parse_dpkg_status(distroless.as_bytes(), false).unwrap()[0].name,
            "tzdata"
        );
        assert!(parse_dpkg_status(distroless.as_bytes(), true)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn malformed_dpkg_status_says_where() {
        assert_eq!(
            parse_dpkg_status(b"Package: a\nthis is not a field\n", true).unwrap_err(),
            "line 2: `this is not a field` is not a `Field: value` line"
        );
        assert_eq!(
            parse_dpkg_status(b"Status: install ok installed\nVersion: 1\n", true).unwrap_err(),
            "line 1: a paragraph without `Package:`"
        );
        assert!(
            parse_dpkg_status(b"Package: a\nStatus: install ok installed\n", true)
                .unwrap_err()
                .contains("no `Version:`")
        );
        assert!(parse_dpkg_status(b" orphan continuation\n", true).is_err());
    }

    #[test]
    fn python_metadata_and_names() {
        let meta = b"Metadata-Version: 2.1\nName: Typing_Extensions\nVersion: 4.12.2\nSummary: x\n\nName: not-a-header\n";
        assert_eq!(
            parse_python_metadata(meta).unwrap(),
            ("Typing_Extensions".into(), "4.12.2".into())
        );
        assert_eq!(
            normalise_python_name("Typing_Extensions"),
            "typing-extensions"
        );
        assert_eq!(
            normalise_python_name("zope.interface__x"),
            "zope-interface-x"
        );
        assert!(parse_python_metadata(b"Metadata-Version: 2.1\nSummary: x\n").is_err());
        assert!(parse_python_metadata(b"").is_err());
    }

    #[test]
    fn direct_url_forms() {
        assert_eq!(parse_direct_url(br#"{"url": "file:///tmp/wheels/x-0.1-py3-none-any.whl", "archive_info": {"hashes": {"sha256": "ab"}}}"#).unwrap(), "file:///tmp/wheels/x-0.1-py3-none-any.whl (sha256=ab)");
        assert_eq!(parse_direct_url(br#"{"url": "https://github.com/a/b", "vcs_info": {"vcs": "git", "commit_id": "0123"}}"#).unwrap(), "https://github.com/a/b (git@0123)");
        assert!(parse_direct_url(b"{").is_err());
    }

    #[test]
    fn conda_meta_record() {
        let rec = br#"{"build": "py311h64a7726_0", "build_number": 0, "channel": "https://conda.anaconda.org/conda-forge/linux-64", "name": "numpy", "version": "1.26.4", "url": "https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-py311h64a7726_0.conda", "md5": "a502", "sha256": "3f4", "files": ["bin/f2py"]}"#;
        let r = parse_conda_meta(rec).unwrap();
        assert_eq!(
            (r.name.as_str(), r.version.as_str(), r.build.as_str()),
            ("numpy", "1.26.4", "py311h64a7726_0")
        );
        assert!(parse_conda_meta(br#"{"name": "x"}"#)
            .unwrap_err()
            .contains("version"));
    }

    #[test]
    fn cuda_markers() {
        assert_eq!(parse_cuda_version("version.json", br#"{"cuda": {"name": "CUDA SDK", "version": "12.1.1"}, "cuda_cudart": {"version": "12.1.105"}}"#).unwrap(), "12.1.1");
        assert_eq!(
            parse_cuda_version("version.txt", b"CUDA Version 11.8.89\n").unwrap(),
            "11.8.89"
        );
        assert!(parse_cuda_version("version.txt", b"garbage").is_err());
        let header = b"#define CUDNN_MAJOR 8\n#define CUDNN_MINOR 9\n#define CUDNN_PATCHLEVEL 7\n#define CUDNN_VERSION (CUDNN_MAJOR * 1000)\n";
        assert_eq!(parse_cudnn_header(header).as_deref(), Some("8.9.7"));
        assert_eq!(parse_cudnn_header(b"#include <cudnn_version.h>\n"), None);
        assert_eq!(
            library_version("libcudnn.so.8.9.7", "libcudnn").as_deref(),
            Some("8.9.7")
        );
        assert_eq!(
            library_version("libnccl.so.2.18.3", "libnccl").as_deref(),
            Some("2.18.3")
        );
        assert_eq!(library_version("libcudnn.so.8", "libcudnn"), None);
        assert_eq!(library_version("libcudnn_ops.so.8.9.7", "libcudnn"), None);
        let torch = b"__version__ = '2.1.0+cu121'\ndebug = False\ncuda: Optional[str] = '12.1'\ngit_version = 'abc'\n";
        assert_eq!(
            parse_torch_version(torch).unwrap(),
            ("2.1.0+cu121".into(), Some("12.1".into()))
        );
        let cpu = b"__version__ = '2.1.0+cpu'\ncuda = None\n";
        assert_eq!(
            parse_torch_version(cpu).unwrap(),
            ("2.1.0+cpu".into(), None)
        );
    }
}
