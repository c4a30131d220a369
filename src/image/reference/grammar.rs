//! The check BuildKit makes on an image name (`reference.ParseNormalizedNamed` of
//! distribution/reference, with go-digest's validation), so a name BuildKit refuses is refused
//! here too, with its reason.

use std::sync::OnceLock;

use regex::Regex;

const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// distribution/reference's `ReferenceRegexp` and `anchoredNameRegexp` (Go's `\w` is ASCII).
fn regexps() -> &'static (Regex, Regex) {
    static RE: OnceLock<(Regex, Regex)> = OnceLock::new();
    RE.get_or_init(|| {
        let alphanumeric = "[a-z0-9]+";
        let separator = "(?:[._]|__|[-]+)";
        let component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        let domain_name = format!(r"{component}(?:\.{component})*");
        let host = format!(r"(?:{domain_name}|\[(?:[a-fA-F0-9:]+)\])");
        let domain_and_port = format!("{host}(?::[0-9]+)?");
        let path_component = format!("{alphanumeric}(?:{separator}{alphanumeric})*");
        let remote_name = format!("{path_component}(?:/{path_component})*");
        let name = format!("(?:{domain_and_port}/)?{remote_name}");
        let tag = "[0-9A-Za-z_][0-9A-Za-z_.-]{0,127}";
        let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}";
        let reference =
            Regex::new(&format!("^({name})(?::({tag}))?(?:@({digest}))?$")).expect("valid regex");
        let anchored_name = Regex::new(&format!("^(?:({domain_and_port})/)?({remote_name})$"))
            .expect("valid regex");
        (reference, anchored_name)
    })
}

/// `ParseNormalizedNamed(s)`: `Ok` when BuildKit accepts `s` as an image to pull.
pub fn check(s: &str) -> Result<(), String> {
    if s.len() == 64 && s.bytes().all(|b| matches!(b, b'a'..=b'f' | b'0'..=b'9')) {
        return Err(format!(
            "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        ));
    }
    let (domain, remainder) = split_docker_domain(s);
    let remote = remainder.split(':').next().unwrap_or("");
    if remote.to_lowercase() != remote {
        return Err(format!(
            "invalid reference format: repository name ({remote}) must be lowercase"
        ));
    }
    parse(&format!("{domain}/{remainder}"))
}

fn split_docker_domain(name: &str) -> (String, String) {
    let (domain, mut remote) = match name.split_once('/') {
        None => return ("docker.io".into(), format!("library/{name}")),
        Some((maybe_domain, maybe_remote)) => {
            if maybe_domain == "localhost"
                || maybe_domain.contains(['.', ':'])
                || maybe_domain.to_lowercase() != maybe_domain
            {
                (maybe_domain.to_string(), maybe_remote.to_string())
            } else if maybe_domain == "index.docker.io" {
                ("docker.io".to_string(), maybe_remote.to_string())
            } else {
                ("docker.io".to_string(), name.to_string())
            }
        }
    };
    if domain == "docker.io" && !remote.contains('/') {
        remote = format!("library/{remote}");
    }
    (domain, remote)
}

fn parse(s: &str) -> Result<(), String> {
    let (re, anchored_name) = regexps();
    let Some(caps) = re.captures(s) else {
        if s.is_empty() {
            return Err("repository name must have at least one component".into());
        }
        if re.is_match(&s.to_lowercase()) {
            return Err("repository name must be lowercase".into());
        }
        return Err("invalid reference format".into());
    };
    let name = caps.get(1).map_or("", |m| m.as_str());
    let path = match anchored_name.captures(name) {
        Some(n) => n.get(2).map_or("", |m| m.as_str()),
        None => name,
    };
    if path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(format!(
            "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        ));
    }
    if let Some(digest) = caps.get(3) {
        validate_digest(digest.as_str())?;
    }
    Ok(())
}

/// go-digest's `Validate`. Only sha256 is linked into BuildKit's reference check here (the
/// oracle imports crypto/sha256 alone), so sha384/sha512 are "unsupported", as BuildKit says.
fn validate_digest(d: &str) -> Result<(), String> {
    let i = d.find(':').unwrap_or(0);
    if i == 0 || i + 1 == d.len() {
        return Err("invalid checksum digest format".into());
    }
    let (algorithm, encoded) = (&d[..i], &d[i + 1..]);
    if algorithm != "sha256" {
        return Err("unsupported digest algorithm".into());
    }
    if encoded.len() != 64 {
        return Err("invalid checksum digest length".into());
    }
    if !encoded
        .bytes()
        .all(|b| matches!(b, b'a'..=b'f' | b'0'..=b'9'))
    {
        return Err("invalid checksum digest format".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_buildkit_accepts_and_refuses() {
        for ok in [
            "ubuntu",
            "ubuntu:22.04",
            "nvidia/cuda:12.1.0-devel-ubuntu22.04",
            "localhost:5000/a/b:c",
            "127.0.0.1:5000/repro-test/bookworm-python:1",
            "[::1]:5000/a",
            "ghcr.io/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "Registry.Example.com/a",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "invalid reference format"),
            ("Ubuntu", "must be lowercase"),
            ("nvidia/cuda:", "invalid reference format"),
            ("a:b:c", "invalid reference format"),
            ("a@sha256:abc", "invalid reference format"),
            (
                "a@sha256:00000000000000000000000000000000000000000000000000000000000000",
                "length",
            ),
            ("a@sha512:00000000000000000000000000000000", "unsupported"),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "64-byte",
            ),
            ("-a", "invalid reference format"),
        ] {
            let got = check(bad).unwrap_err();
            assert!(got.contains(why), "{bad}: {got}");
        }
    }
}
