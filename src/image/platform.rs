//! A platform as buildx and the OCI image index name it: `os/arch[/variant]`, parsed once.

use std::fmt;
use std::str::FromStr;

/// `os/arch[/variant]`, e.g. `linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`. Read by serde
/// through its [`FromStr`], so a lock naming anything else is refused as it is read.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
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

impl TryFrom<String> for Platform {
    type Error = String;

    fn try_from(text: String) -> Result<Platform, String> {
        text.parse().map_err(|e: PlatformError| e.to_string())
    }
}

impl From<Platform> for String {
    fn from(platform: Platform) -> String {
        platform.to_string()
    }
}

impl PartialEq<str> for Platform {
    fn eq(&self, other: &str) -> bool {
        let mut parts = other.splitn(3, '/');
        parts.next() == Some(self.os.as_str())
            && parts.next() == Some(self.architecture.as_str())
            && parts.next() == self.variant.as_deref()
    }
}

impl PartialEq<&str> for Platform {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialEq<String> for Platform {
    fn eq(&self, other: &String) -> bool {
        *self == **other
    }
}

/// The platforms of a multi-platform build, in the order given: one or more, none twice, at
/// most [`Platforms::MAX`], written `linux/amd64,linux/arm64` as buildx's `--platform` takes
/// them. Its text is what it reads as (`Deref<Target = str>`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Platforms {
    text: String,
    list: Vec<Platform>,
}

impl Platforms {
    pub const MAX: usize = 16;

    /// The platforms, in order.
    pub fn list(&self) -> &[Platform] {
        &self.list
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Platforms {
    type Err = String;

    fn from_str(text: &str) -> Result<Platforms, String> {
        let refuse = |why: &str| format!("{:?} {why}", text.chars().take(64).collect::<String>());
        let list = text
            .split(',')
            .map(Platform::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| refuse("is not a platform (os/arch[/variant], such as linux/amd64) or a comma-separated list of them"))?;
        if list.len() > Platforms::MAX {
            return Err(refuse(&format!(
                "names more than {} platforms",
                Platforms::MAX
            )));
        }
        let twice = (1..list.len()).find(|n| list[..*n].contains(&list[*n]));
        if let Some(n) = twice {
            return Err(refuse(&format!("names {} twice", list[n])));
        }
        Ok(Platforms {
            text: text.to_string(),
            list,
        })
    }
}

/// For tests' literals: a value that is none panics.
#[cfg(test)]
impl From<&str> for Platforms {
    fn from(text: &str) -> Platforms {
        text.parse().expect("valid test platforms")
    }
}

/// For tests' literals: a value that is none panics.
#[cfg(test)]
impl From<&str> for Platform {
    fn from(text: &str) -> Platform {
        text.parse().expect("a valid test platform")
    }
}

impl TryFrom<String> for Platforms {
    type Error = String;

    fn try_from(text: String) -> Result<Platforms, String> {
        text.parse()
    }
}

impl From<Platforms> for String {
    fn from(platforms: Platforms) -> String {
        platforms.text
    }
}

impl std::ops::Deref for Platforms {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Platforms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
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
    fn a_list_of_platforms_is_its_text_and_names_each_once() {
        let both: Platforms = "linux/amd64,linux/arm64/v8".parse().unwrap();
        assert_eq!(&*both, "linux/amd64,linux/arm64/v8");
        assert_eq!(both.list().len(), 2);
        assert!(both.list()[1] == "linux/arm64/v8" && both.list()[0] != "linux/amd64/v1");
        assert_eq!(
            serde_json::to_string(&both).unwrap(),
            "\"linux/amd64,linux/arm64/v8\""
        );
        for (bad, why) in [
            ("", "is not a platform"),
            ("linux/amd64,", "is not a platform"),
            ("linux/amd64, linux/arm64", "is not a platform"),
            ("linux/amd64,--privileged", "is not a platform"),
            ("linux/amd64,linux/amd64", "names linux/amd64 twice"),
        ] {
            let err = bad.parse::<Platforms>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let many = vec!["linux/amd64"; 17].join(",");
        assert!(many
            .parse::<Platforms>()
            .unwrap_err()
            .contains("more than 16"));
        let one: Platform = serde_json::from_str("\"linux/arm/v7\"").unwrap();
        assert_eq!(one, "linux/arm/v7");
        assert!(serde_json::from_str::<Platform>("\"linux\"").is_err());
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
