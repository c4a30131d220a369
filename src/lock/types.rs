//! The build settings a lock records, one type each, read by serde through the check of its
//! kind: a lock whose value would become another option of docker, buildx or git (or name a
//! path outside the project) is refused as it is read, and what a [`super::Lock`] holds is
//! always valid. Each is its text as written (`Deref<Target = str>`), so the lock's bytes do
//! not change and a call site reads it as the string it was.

use std::borrow::Borrow;

use serde::{Deserialize, Serialize};

use std::path::Path;

use super::{is_proxy_arg, parse_size, parse_ulimit, remote_helper};
use crate::error::{clip, quote};

/// A text value checked once, as it is made or read. `check` returns why a value is refused,
/// starting with the quoted value (the lock's reader adds the key).
macro_rules! checked_text {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(value: String) -> Result<$name, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(&value).map(|()| $name(value))
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(value: &str) -> Result<$name, String> {
                $name::try_from(value.to_string())
            }
        }

        /// For tests' literals: a value that is none panics.
        #[cfg(test)]
        impl From<&str> for $name {
            fn from(value: &str) -> $name {
                value.parse().expect("a valid test value")
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

checked_text!(
    /// A word passed to buildx as one argument (`build.target`): not empty, no leading `-`, no
    /// whitespace or control character.
    Word,
    check_word
);

checked_text!(
    /// The name of a build argument (`[build.args]`): a word, and never one of BuildKit's proxy
    /// arguments, which come from the environment of the build and are never recorded.
    ArgName,
    |name| {
        check_word(name)?;
        if is_proxy_arg(name) {
            return Err(format!(
                "{} is a proxy setting, which a lock never records: proxies come from the environment of the build",
                quote(name)
            ));
        }
        Ok(())
    }
);

checked_text!(
    /// The value of a build argument: one line, no control character. Its error does not
    /// quote it (a value can hold a password).
    ArgValue,
    |value| {
        if value.chars().any(char::is_control) {
            Err("is a value with a control character; a build argument is one line without control characters".into())
        } else {
            Ok(())
        }
    }
);

checked_text!(
    /// A secret's or an SSH agent's id (`build.secrets`, `build.ssh`): a plain word, so that it
    /// can never become another option or another field of buildx's `id=...,src=...`.
    BuildId,
    check_id
);

checked_text!(
    /// An `/etc/hosts` entry of the builds, `NAME:IP` (`build.add_hosts`).
    AddHost,
    check_add_host
);

impl AddHost {
    /// The NAME of `NAME:IP`.
    pub fn name(&self) -> &str {
        super::host_name(&self.0)
    }
}

checked_text!(
    /// The size of `/dev/shm` in the builds' RUN steps, as `--shm-size` takes it (`2g`).
    ShmSize,
    check_shm_size
);

checked_text!(
    /// A resource limit of the builds' RUN steps, `TYPE=SOFT[:HARD]` (`build.ulimits`).
    UlimitSetting,
    check_ulimit
);

impl UlimitSetting {
    /// The TYPE of `TYPE=SOFT[:HARD]`.
    pub fn kind(&self) -> &str {
        super::ulimit_type(&self.0)
    }
}

checked_text!(
    /// The name of a named build context, as a Dockerfile's `FROM NAME` uses it.
    ContextName,
    check_context_name
);

checked_text!(
    /// A path relative to the project, inside it (`source.path`, `build.context`,
    /// `dockerfile.path`): not absolute, no `..`, no leading `-`, no control character.
    RelativePath,
    check_relative
);

impl AsRef<std::path::Path> for RelativePath {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

checked_text!(
    /// The git remote a release was cut from (`source.remote`), credentials stripped: a path or
    /// a URL git takes as nothing else (no leading `-`, no `helper::` that runs a program).
    /// Empty when the repository has none.
    Remote,
    check_remote
);

// The rule of each kind of value: why a value is refused, starting with it quoted.

/// The remote a lock records: git must be able to take it as a URL and nothing else.
fn check_remote(remote: &str) -> std::result::Result<(), String> {
    if remote.starts_with('-') || remote.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "{} is not allowed (leading `-`, whitespace or control character)",
            quote(remote)
        ));
    }
    if let Some(helper) = remote_helper(remote) {
        return Err(format!(
            "{} names the git remote helper `{}::`, which can run a program; a lock's remote must be a path, https://, ssh:// or git:// URL (or pass --source DIR)",
            quote(remote),
            clip(helper)
        ));
    }
    Ok(())
}

/// A word that will be passed to docker: not empty, no leading `-`, no whitespace or controls.
fn check_word(value: &str) -> std::result::Result<(), String> {
    if value.is_empty()
        || value.starts_with('-')
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        Err(format!(
            "{} is not allowed (empty, leading `-`, whitespace or control character)",
            quote(value)
        ))
    } else {
        Ok(())
    }
}

pub(super) fn check_relative(value: &str) -> std::result::Result<(), String> {
    let path = Path::new(value);
    if value.is_empty()
        || path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        || value.starts_with('-')
        || value.chars().any(char::is_control)
    {
        Err(format!(
            "{} must be a relative path inside the project",
            quote(value)
        ))
    } else {
        Ok(())
    }
}

/// A secret or SSH id: a plain word (letters, digits, `_ . -`, not starting with `-` or `.`),
/// so that it can never become another option or another field of buildx's `id=...,src=...`.
fn check_id(value: &str) -> std::result::Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a plain id: use letters, digits and _ . - (starting with a letter or digit), at most 128",
            quote(value)
        ))
    }
}

/// `NAME:IP`, as `--add-host` takes it: a host name, then an IPv4 or IPv6 address.
fn check_add_host(value: &str) -> std::result::Result<(), String> {
    let why = || {
        format!(
            "{} is not NAME:IP (a host name, then an IPv4 or IPv6 address, e.g. pypi.lab:10.0.0.5)",
            quote(value)
        )
    };
    let (name, ip) = value.split_once(':').ok_or_else(why)?;
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    let ip_ok = ip.parse::<std::net::IpAddr>().is_ok();
    if name_ok && ip_ok {
        Ok(())
    } else {
        Err(why())
    }
}

fn check_ulimit(value: &str) -> std::result::Result<(), String> {
    parse_ulimit(value)
        .map(|_| ())
        .map_err(|why| format!("{} {why}", quote(value)))
}

fn check_shm_size(value: &str) -> std::result::Result<(), String> {
    parse_size(value)
        .map(|_| ())
        .map_err(|why| format!("{} {why}", quote(value)))
}

/// The name of a named context, as a Dockerfile's `FROM NAME` or `COPY --from=NAME` uses it: a
/// plain word of docker's reference grammar (lowercase letters and digits, joined by `.`, `_`,
/// `__` or dashes), so that BuildKit matches it as written and it can be no option.
fn check_context_name(name: &str) -> std::result::Result<(), String> {
    if name.len() <= 128 && crate::image::reference::is_path_component(name) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a context name: use lowercase letters and digits, joined by . _ or - (as a Dockerfile names it in FROM NAME), at most 128",
            quote(name)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setting_is_its_text_and_refuses_what_would_become_an_option() {
        let id: BuildId = "pip_index".parse().unwrap();
        assert_eq!(id, "pip_index");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"pip_index\"");
        assert_eq!(
            serde_json::from_str::<BuildId>("\"pip_index\"").unwrap(),
            id
        );
        let err = serde_json::from_str::<BuildId>("\"id=x,src=/etc/shadow\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("\"id=x,src=/etc/shadow\" is not a plain id"),
            "{err}"
        );
        assert_eq!(
            "pypi.lab:10.0.0.5".parse::<AddHost>().unwrap().name(),
            "pypi.lab"
        );
        assert_eq!(
            "nofile=1024:4096".parse::<UlimitSetting>().unwrap().kind(),
            "nofile"
        );
        for bad in ["--privileged", "pypi.lab", "a b:10.0.0.5"] {
            assert!(bad.parse::<AddHost>().is_err(), "{bad}");
        }
        assert!("--privileged".parse::<ShmSize>().is_err());
        assert!("0".parse::<ShmSize>().is_err());
        assert!("nofile=1 --privileged".parse::<UlimitSetting>().is_err());
        assert!("Data".parse::<ContextName>().is_err());
        assert!("../x".parse::<RelativePath>().is_err());
        assert!("/x".parse::<RelativePath>().is_err());
        assert!("-x".parse::<Word>().is_err());
        assert!("".parse::<Word>().is_err());
        assert!("ext::sh -c x".parse::<Remote>().is_err());
        assert!("fd::3".parse::<Remote>().is_err());
        assert_eq!("".parse::<Remote>().unwrap(), "");
    }
}
