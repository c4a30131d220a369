//! The canonical form of an image config (`image_config = "canonical/1"` in the lock): what
//! BuildKit versions write differently for the same Dockerfile and the same files, written one
//! way, so that a commit gives the same config digest on Docker 26 (BuildKit 0.13) and Docker 28
//! (BuildKit 0.25). Measured on the test bed, field by field, the two configs differ only in the
//! history:
//!
//! 1. The entries the base image gave: BuildKit before 0.24 sets their `created` to
//!    `SOURCE_DATE_EPOCH` when it is later (a base pinned as a named context is not handed to its
//!    exporter as a base); 0.24 and later keep the base's own. The canonical entries are the
//!    base's own, taken from the base's config.
//! 2. The `created_by` of an `ARG` line: BuildKit 0.14 and later write each argument with the
//!    value it had in the build (`ARG SOURCE_DATE_EPOCH=1714564800`, `ARG FOO=foo`), 0.13 as the
//!    Dockerfile wrote it (`ARG SOURCE_DATE_EPOCH`, `ARG BAR=default`). The canonical line names
//!    the arguments only (`ARG SOURCE_DATE_EPOCH`); the values a `RUN` saw are in that `RUN`'s
//!    own line, which both write alike.
//!
//! Nothing a container sees at run time (the config's `config`: env, cmd, entrypoint, user,
//! workdir, labels, ports, volumes; the platform; the diff IDs) is ever changed, and the config
//! is written with its keys sorted, by this tool's serialiser.

use serde_json::Value;

/// The comment BuildKit's Dockerfile frontend gives the history entries it writes.
const DOCKERFILE_FRONTEND: &str = "buildkit.dockerfile.v0";

/// Why a config cannot be put into the canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonError {
    #[error("it is not a JSON object")]
    NotAnObject,
    #[error("its history is not a list of objects")]
    History,
    #[error("its history has {found} entries, fewer than the {base} its base image gave it")]
    ShorterThanBase { found: usize, base: usize },
    #[error("its history entry {index} is not its base image's ({field} differs): the image was not built on that base")]
    NotTheBase { index: usize, field: String },
}

/// Puts `config` into the canonical form. `base_history` is the history of the image the
/// built stage stands on (its `FROM`), as that image's own config lists it; `None` when it
/// stands on none (`scratch`) or on one whose config is not known here.
pub fn canonicalise(config: &mut Value, base_history: Option<&[Value]>) -> Result<(), CanonError> {
    let object = config.as_object_mut().ok_or(CanonError::NotAnObject)?;
    let history = match object.get_mut("history") {
        None | Some(Value::Null) => {
            return match base_history {
                Some(base) if !base.is_empty() => Err(CanonError::ShorterThanBase {
                    found: 0,
                    base: base.len(),
                }),
                _ => Ok(()),
            }
        }
        Some(Value::Array(history)) => history,
        Some(_) => return Err(CanonError::History),
    };
    if !history.iter().all(Value::is_object) {
        return Err(CanonError::History);
    }
    if let Some(base) = base_history {
        if !base.iter().all(Value::is_object) {
            return Err(CanonError::History);
        }
        if history.len() < base.len() {
            return Err(CanonError::ShorterThanBase {
                found: history.len(),
                base: base.len(),
            });
        }
        for (index, (entry, own)) in history.iter_mut().zip(base).enumerate() {
            if let Some(field) = differs_beyond_time(entry, own) {
                return Err(CanonError::NotTheBase { index, field });
            }
            *entry = own.clone();
        }
    }
    let from_base = base_history.map_or(0, <[Value]>::len);
    for entry in history.iter_mut().skip(from_base) {
        let from_frontend =
            entry.get("comment").and_then(Value::as_str) == Some(DOCKERFILE_FRONTEND);
        let Some(line) = entry.get("created_by").and_then(Value::as_str) else {
            continue;
        };
        if let Some(names) = from_frontend.then(|| arg_names(line)).flatten() {
            entry["created_by"] = Value::from(names);
        }
    }
    Ok(())
}

/// The first field other than `created` in which two history entries differ, if any: a base
/// entry BuildKit copied into the image differs from the base's own in its time alone.
fn differs_beyond_time(entry: &Value, own: &Value) -> Option<String> {
    let (Some(entry), Some(own)) = (entry.as_object(), own.as_object()) else {
        return Some("its type".into());
    };
    entry
        .keys()
        .chain(own.keys())
        .filter(|key| *key != "created")
        .find(|key| entry.get(*key) != own.get(*key))
        .cloned()
}

/// `ARG A=1 B` → `ARG A B`: an `ARG` line with each argument's value left out; `None` for a
/// line that is not an `ARG` line. A name is what precedes `=` in a word, when it reads as a
/// build argument's name; the rest of a value holding a space is dropped unless it reads as
/// one too. Such a value can leave the two forms apart: the verdict is then `equivalent`, never
/// a false `identical`.
fn arg_names(line: &str) -> Option<String> {
    let rest = line.strip_prefix("ARG ")?;
    let names: Vec<&str> = rest
        .split_whitespace()
        .map(|word| word.split_once('=').map_or(word, |(name, _)| name))
        .filter(|name| is_arg_name(name))
        .collect();
    if names.is_empty() {
        return None;
    }
    Some(format!("ARG {}", names.join(" ")))
}

fn is_arg_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The platform a config is for, `os/architecture[/variant]`, as a build names its platforms.
pub fn config_platform(config: &Value) -> String {
    let field = |key: &str| config.get(key).and_then(Value::as_str).unwrap_or("");
    let mut platform = format!("{}/{}", field("os"), field("architecture"));
    if !field("variant").is_empty() {
        platform = format!("{platform}/{}", field("variant"));
    }
    platform
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The configs BuildKit 0.13 (Docker 26.1.5) and 0.25 (Docker 28.5.2) wrote for one
    /// Dockerfile on the test bed's busybox, with `--build-arg FOO=foo BAZ=over QUX=q` and
    /// `SOURCE_DATE_EPOCH=1714564800` (the diff IDs left out: the file times were not clamped).
    fn built(old: bool) -> Value {
        let entry = |created_by: &str| {
            json!({"comment": DOCKERFILE_FRONTEND, "created": "2024-05-01T12:00:00Z",
                   "created_by": created_by, "empty_layer": true})
        };
        let pick = |a: &str, b: &str| if old { a.to_string() } else { b.to_string() };
        json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin:/bin", "A=b"], "WorkingDir": "/app"},
            "created": "2024-05-01T12:00:00Z",
            "history": [
                {"comment": "Imported from -",
                 "created": pick("2024-05-01T12:00:00Z", "2026-12-05T23:41:34.821689076Z")},
                entry(&pick("ARG SOURCE_DATE_EPOCH", "ARG SOURCE_DATE_EPOCH=1714564800")),
                entry(&pick("ARG FOO", "ARG FOO=foo")),
                entry("ARG BAR=dflt"),
                entry(&pick("ARG BAZ=dflt2 QUX", "ARG BAZ=over QUX=q")),
                {"comment": DOCKERFILE_FRONTEND, "created": "2024-05-01T12:00:00Z", "created_by": "WORKDIR /app"},
                {"comment": DOCKERFILE_FRONTEND, "created": "2024-05-01T12:00:00Z",
                 "created_by": "RUN |5 SOURCE_DATE_EPOCH=1714564800 FOO=foo BAR=dflt BAZ=over QUX=q /bin/sh -c echo $FOO > /x # buildkit"},
            ],
            "rootfs": {"type": "layers", "diff_ids": ["sha256:df52"]},
        })
    }

    fn busybox_history() -> Vec<Value> {
        vec![json!({"created": "2026-12-05T23:41:34.821689076Z", "comment": "Imported from -"})]
    }

    #[test]
    fn what_buildkit_0_13_and_0_25_write_differently_comes_out_the_same() {
        let base = busybox_history();
        let mut old = built(true);
        let mut new = built(false);
        assert_ne!(old, new);
        canonicalise(&mut old, Some(&base)).unwrap();
        canonicalise(&mut new, Some(&base)).unwrap();
        assert_eq!(old, new);
        let lines: Vec<&str> = old["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|h| h["created_by"].as_str())
            .collect();
        assert_eq!(
            lines[..4],
            ["ARG SOURCE_DATE_EPOCH", "ARG FOO", "ARG BAR", "ARG BAZ QUX"]
        );
        assert_eq!(old["history"][0], base[0]);
        // What a container sees is untouched.
        assert_eq!(old["config"], built(true)["config"]);
        assert_eq!(old["rootfs"], built(true)["rootfs"]);
        assert_eq!(config_platform(&old), "linux/amd64");
    }

    #[test]
    fn the_canonical_form_is_a_fixed_point() {
        let mut once = built(false);
        canonicalise(&mut once, Some(&busybox_history())).unwrap();
        let mut twice = once.clone();
        canonicalise(&mut twice, Some(&busybox_history())).unwrap();
        assert_eq!(once, twice);
    }

    #[test]
    fn a_config_not_built_on_the_base_is_refused_with_the_field_that_differs() {
        let mut config = built(false);
        let other = vec![json!({"created": "2020-01-01T00:00:00Z", "comment": "another base"})];
        assert_eq!(
            canonicalise(&mut config, Some(&other)).unwrap_err().to_string(),
            "its history entry 0 is not its base image's (comment differs): the image was not built on that base"
        );
        let long = vec![busybox_history()[0].clone(); 9];
        assert_eq!(
            canonicalise(&mut config, Some(&long)).unwrap_err(),
            CanonError::ShorterThanBase { found: 7, base: 9 }
        );
        for bad in [json!([]), json!({"history": {}}), json!({"history": [1]})] {
            let mut bad = bad;
            assert!(canonicalise(&mut bad, None).is_err(), "{bad}");
        }
        // A config with no history and no base is left as it is.
        let mut bare = json!({"os": "linux"});
        canonicalise(&mut bare, None).unwrap();
        assert_eq!(bare, json!({"os": "linux"}));
    }

    #[test]
    fn only_the_dockerfile_frontends_arg_lines_lose_their_values() {
        assert_eq!(arg_names("ARG A=1 B"), Some("ARG A B".into()));
        assert_eq!(arg_names("ARG A=a b C=c"), Some("ARG A b C".into()));
        assert_eq!(arg_names("ARG =x"), None);
        assert_eq!(arg_names("RUN echo ARG A=1"), None);
        let mut config = json!({"history": [
            {"created_by": "ARG A=1", "comment": "not the frontend"},
            {"created_by": "ARG A=1", "comment": DOCKERFILE_FRONTEND},
        ]});
        canonicalise(&mut config, None).unwrap();
        assert_eq!(config["history"][0]["created_by"], "ARG A=1");
        assert_eq!(config["history"][1]["created_by"], "ARG A");
    }
}
