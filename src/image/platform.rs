//! A platform as buildx and the OCI image index name it: `os/arch[/variant]`, parsed once.

use std::fmt;
use std::str::FromStr;

/// `os/arch[/variant]`, e.g. `linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

/// Why a platform name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a platform: write os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm64/v8"
)]
pub struct PlatformError(pub String);

impl Platform {
    /// The platform this program runs on, as an engine on this host would pick it from an
    /// image index: the host's architecture under the names Go's GOARCH gives it.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "arm" => "arm",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    /// From the fields of an index's descriptor (empty strings are left as they are: a
    /// descriptor's platform is data to compare, not a name a user typed).
    pub fn from_parts(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant: variant.filter(|v| !v.is_empty()).map(String::from),
        }
    }

    /// Whether an image for `other` is what a user asking for `self` gets: the same OS and
    /// architecture, and the same variant when `self` names one (`linux/arm64` takes
    /// `linux/arm64/v8`, as containerd's matcher does; `linux/arm/v7` does not take `v6`).
    pub fn accepts(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = || PlatformError(s.chars().take(64).collect());
        let mut parts = s.split('/');
        let (Some(os), Some(architecture)) = (parts.next(), parts.next()) else {
            return Err(refuse());
        };
        let variant = parts.next();
        let word = |w: &str| {
            !w.is_empty()
                && w.len() <= 32
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if parts.next().is_some()
            || !word(os)
            || !word(architecture)
            || variant.is_some_and(|v| !word(v))
        {
            return Err(refuse());
        }
        Ok(Platform::from_parts(os, architecture, variant))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_buildx_names_and_refuses_the_rest() {
        for ok in [
            "linux/amd64",
            "linux/arm64/v8",
            "linux/arm/v7",
            "windows/amd64",
            "linux/386",
        ] {
            assert_eq!(ok.parse::<Platform>().unwrap().to_string(), ok);
        }
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "Linux/AMD64",
            "linux/am d64",
            "linux/amd64/",
        ] {
            let err = bad.parse::<Platform>().unwrap_err().to_string();
            assert!(
                err.contains("is not a platform") && err.contains("linux/amd64"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_platform_without_variant_accepts_any_variant_and_not_the_reverse() {
        let arm64: Platform = "linux/arm64".parse().unwrap();
        let v8: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(arm64.accepts(&v8) && arm64.accepts(&arm64) && v8.accepts(&v8));
        assert!(!v8.accepts(&arm64));
        let v7: Platform = "linux/arm/v7".parse().unwrap();
        assert!(!v7.accepts(&"linux/arm/v6".parse().unwrap()));
        assert!(!arm64.accepts(&"linux/amd64".parse().unwrap()));
        assert!(!arm64.accepts(&Platform::from_parts("unknown", "unknown", None)));
    }

    #[test]
    fn the_host_is_a_linux_platform_named_as_go_names_it() {
        let host = Platform::host();
        assert_eq!(host.os, "linux");
        assert!(!host.architecture.contains('_'), "{host}");
        assert_eq!(host.to_string().parse::<Platform>().unwrap(), host);
    }
}
