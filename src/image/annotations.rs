//! The OCI annotations a release's manifests (and its index) carry: where the image came from,
//! written by the build itself, so that the digest the lock pins already includes them and a
//! rebuild from the lock writes them again byte for byte.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The commit the image was built from.
pub const REVISION: &str = "org.opencontainers.image.revision";
/// The repository the commit is fetched from.
pub const SOURCE: &str = "org.opencontainers.image.source";
/// When the image was made: its `SOURCE_DATE_EPOCH`, never the wall clock.
pub const CREATED: &str = "org.opencontainers.image.created";

/// Annotation keys and values that parsed: keys are reverse-domain names (`a-z`, `0-9`, `.`,
/// `-`), values text without control characters. buildx is given them quoted as one field of
/// its comma-separated `--output` ([`Annotations::output_fields`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct Annotations(BTreeMap<String, String>);

impl Annotations {
    /// The annotations of a release of `commit` from `remote` (none when it is empty) at
    /// `epoch`.
    pub fn of_release(commit: &str, remote: &str, epoch: i64) -> Result<Annotations, String> {
        let mut map = BTreeMap::from([(REVISION.to_string(), commit.to_string())]);
        if !remote.is_empty() {
            map.insert(SOURCE.into(), remote.into());
        }
        if let Ok(secs) = u64::try_from(epoch) {
            let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            map.insert(
                CREATED.into(),
                humantime::format_rfc3339_seconds(time).to_string(),
            );
        }
        Annotations::try_from(map)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The fields of buildx's `--output` that put them on every manifest, and on the image
    /// index when `index` (a multi-platform build): `annotation.KEY=VALUE` and
    /// `annotation-index.KEY=VALUE`, each quoted as a CSV field when it holds a comma or quote.
    pub fn output_fields(&self, index: bool) -> Vec<String> {
        let prefixes: &[&str] = if index {
            &["annotation", "annotation-index"]
        } else {
            &["annotation"]
        };
        prefixes
            .iter()
            .flat_map(|prefix| {
                self.0
                    .iter()
                    .map(move |(key, value)| csv_field(&format!("{prefix}.{key}={value}")))
            })
            .collect()
    }
}

/// `field` as one field of a comma-separated line: quoted, its quotes doubled, when it holds a
/// comma or a quote.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// The longest key or value kept: far beyond any commit, URL or time.
const MAX_LEN: usize = 2048;

impl TryFrom<BTreeMap<String, String>> for Annotations {
    type Error = String;

    fn try_from(map: BTreeMap<String, String>) -> Result<Self, String> {
        for (key, value) in &map {
            let key_ok = !key.is_empty()
                && key.len() <= MAX_LEN
                && key.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !key_ok {
                return Err(format!(
                    "the annotation key {:?} is not a reverse-domain name (a-z, 0-9, '.', '-')",
                    crate::error::clip(key)
                ));
            }
            let value_ok = value.len() <= MAX_LEN && !value.chars().any(char::is_control);
            if !value_ok {
                return Err(format!(
                    "the annotation {key} = {:?} holds a control character or is longer than {MAX_LEN} bytes",
                    crate::error::clip(value)
                ));
            }
        }
        Ok(Annotations(map))
    }
}

impl From<Annotations> for BTreeMap<String, String> {
    fn from(annotations: Annotations) -> Self {
        annotations.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_is_annotated_with_its_commit_remote_and_epoch() {
        let a = Annotations::of_release("ab12", "https://example.org/lab/x.git", 1_714_564_800)
            .unwrap();
        assert_eq!(a.get(REVISION), Some("ab12"));
        assert_eq!(a.get(SOURCE), Some("https://example.org/lab/x.git"));
        assert_eq!(a.get(CREATED), Some("2024-05-01T12:00:00Z"));
        // No remote: no source, rather than an empty one.
        let a = Annotations::of_release("ab12", "", 0).unwrap();
        assert_eq!(a.get(SOURCE), None);
        assert_eq!(a.get(CREATED), Some("1970-01-01T00:00:00Z"));
    }

    #[test]
    fn output_fields_quote_what_buildx_would_split() {
        let a = Annotations::of_release("ab12", "/srv/git/a,b\"c", 1).unwrap();
        assert_eq!(
            a.output_fields(false),
            [
                "annotation.org.opencontainers.image.created=1970-01-01T00:00:01Z",
                "annotation.org.opencontainers.image.revision=ab12",
                "\"annotation.org.opencontainers.image.source=/srv/git/a,b\"\"c\"",
            ]
        );
        let both = a.output_fields(true);
        assert_eq!(both.len(), 6);
        assert!(both[3].starts_with("annotation-index.org.opencontainers.image.created="));
    }

    #[test]
    fn values_with_control_characters_and_odd_keys_are_refused() {
        for bad in ["a\nb", "a\u{1b}b", "a\tb"] {
            let map = BTreeMap::from([(REVISION.to_string(), bad.to_string())]);
            assert!(Annotations::try_from(map).is_err(), "{bad:?}");
        }
        for bad in ["", "Org.x", "a b", "a=b"] {
            let map = BTreeMap::from([(bad.to_string(), "v".to_string())]);
            assert!(Annotations::try_from(map).is_err(), "{bad:?}");
        }
        let long = BTreeMap::from([(REVISION.to_string(), "a".repeat(MAX_LEN + 1))]);
        assert!(Annotations::try_from(long).is_err());
    }

    #[test]
    fn annotations_read_back_from_toml_as_written() {
        #[derive(Serialize, Deserialize)]
        struct Table {
            annotations: Annotations,
        }
        let a = Annotations::of_release("ab12", "git@example.org:lab/x.git", 1).unwrap();
        let text = toml::to_string(&Table {
            annotations: a.clone(),
        })
        .unwrap();
        let back: Table = toml::from_str(&text).unwrap();
        assert_eq!(back.annotations, a);
        let bad = "[annotations]\n\"Org.x\" = \"v\"\n";
        assert!(toml::from_str::<Table>(bad).is_err());
    }
}
