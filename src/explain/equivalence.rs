//! Whether two images whose bytes differ are still the same image to run: the same files (the
//! configs' diff IDs, the digests of the uncompressed layer tars) and the same runtime settings
//! (everything under the config's `config`, and the platform). What may differ then is what
//! the toolchain writes around them: the creation time, the history's times and text, and how
//! each layer's tar is compressed. Each such difference is named with both values and the
//! component that writes it, since that is what changes from one Docker to another.

use serde::Serialize;
use serde_json::Value;

/// What a difference is about. Only the last four leave two images equivalent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The layers' uncompressed tars (`rootfs`): other files.
    Files,
    /// What a container runs with: env, cmd, entrypoint, user, workdir, labels, ports,
    /// volumes, stop signal, health check, shell, platform.
    Runtime,
    /// A field of the config this judgement does not know: never taken as harmless.
    Unknown,
    /// The image's `created` time.
    CreationTime,
    /// A history entry's `created` time.
    HistoryTime,
    /// A history entry's text (`created_by`, `comment`, `author`, `empty_layer`) or their number.
    HistoryText,
    /// The image's `author` or `comment`.
    Metadata,
}

impl Kind {
    /// Whether an image that differs only in this is still equivalent.
    pub fn harmless(self) -> bool {
        !matches!(self, Kind::Files | Kind::Runtime | Kind::Unknown)
    }

    fn words(self) -> &'static str {
        match self {
            Kind::Files => "files",
            Kind::Runtime => "runtime settings",
            Kind::Unknown => "other config fields",
            Kind::CreationTime => "creation time",
            Kind::HistoryTime => "history times",
            Kind::HistoryText => "history text",
            Kind::Metadata => "author or comment",
        }
    }
}

/// One config field that differs, with both values and what writes it.
#[derive(Debug, Clone, Serialize)]
pub struct FieldDifference {
    /// `created`, `history[0].created`, `config.Env`, `rootfs.diff_ids`, ...
    pub field: String,
    pub kind: Kind,
    pub locked: Value,
    pub found: Value,
    pub written_by: String,
}

/// A layer whose compressed bytes differ over the same uncompressed tar.
#[derive(Debug, Clone, Serialize)]
pub struct Recompressed {
    /// 1-based position in the manifest.
    pub index: usize,
    /// The digest of the tar both blobs hold.
    pub diff_id: String,
    pub locked: String,
    pub found: String,
}

/// The judgement on two images whose manifests differ.
#[derive(Debug, Clone, Serialize)]
pub struct Equivalence {
    /// Same files and runtime: every difference is harmless.
    pub equivalent: bool,
    /// `differs in history text and compression`, or why it is not equivalent.
    pub summary: String,
    pub fields: Vec<FieldDifference>,
    pub recompressed: Vec<Recompressed>,
    /// What writes the compressed bytes, when some layer is recompressed.
    pub compression_written_by: Option<String>,
    /// The engines that built and rebuilt the image, when known (`Docker Engine 26.1.5 (go1.24.4)`).
    pub engines: Option<(String, String)>,
}

const CREATED_BY: &str = "BuildKit: the image's creation time (SOURCE_DATE_EPOCH when set)";
const HISTORY_TIME: &str = "BuildKit: a history entry's time; before 0.24 BuildKit also sets the base image's entries to SOURCE_DATE_EPOCH when the base is pinned as a named context, 0.24 and later keep the base's own";
const HISTORY_ARG: &str = "BuildKit's Dockerfile frontend: 0.14 and later write a build argument's value into its history line (`ARG SOURCE_DATE_EPOCH=...`), earlier versions its name only";
const HISTORY_TEXT: &str =
    "BuildKit's Dockerfile frontend: how an instruction is written into the history differs between versions";
const HISTORY_COUNT: &str =
    "BuildKit's Dockerfile frontend: which instructions get a history entry differs between versions";
const COMPRESSION: &str = "the layer compressor: the same tar compresses to other bytes when the compressor differs: gzip's bytes depend on the Go version it was built with (for BuildKit inside dockerd, dockerd's Go: Go 1.27 changed compress/flate), zstd's on the zstd encoder BuildKit vendors, and BuildKit before 0.14 reuses whichever compressed variant of a base layer the engine already holds";

/// Compares two image configs (and their manifests' layer digests) field by field.
pub fn judge(
    locked_config: &Value,
    found_config: &Value,
    locked_layers: &[String],
    found_layers: &[String],
) -> Equivalence {
    let mut fields = Vec::new();
    let empty = serde_json::Map::new();
    let (a, b) = (
        locked_config.as_object().unwrap_or(&empty),
        found_config.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let (x, y) = (
            a.get(key).unwrap_or(&Value::Null),
            b.get(key).unwrap_or(&Value::Null),
        );
        if x == y {
            continue;
        }
        match key.as_str() {
            "config" => object_fields(x, y, "config", &mut fields),
            "history" => history_fields(x, y, &mut fields),
            "rootfs" => fields.push(FieldDifference {
                field: "rootfs.diff_ids".into(),
                kind: Kind::Files,
                locked: x.get("diff_ids").cloned().unwrap_or_default(),
                found: y.get("diff_ids").cloned().unwrap_or_default(),
                written_by: "the build: the layers hold other files".into(),
            }),
            "architecture" | "os" | "variant" | "os.version" | "os.features" => {
                fields.push(FieldDifference {
                    field: key.clone(),
                    kind: Kind::Runtime,
                    locked: x.clone(),
                    found: y.clone(),
                    written_by: "the build's platform".into(),
                })
            }
            "created" => fields.push(FieldDifference {
                field: key.clone(),
                kind: Kind::CreationTime,
                locked: x.clone(),
                found: y.clone(),
                written_by: CREATED_BY.into(),
            }),
            "author" | "comment" => fields.push(FieldDifference {
                field: key.clone(),
                kind: Kind::Metadata,
                locked: x.clone(),
                found: y.clone(),
                written_by: "the Dockerfile or the builder".into(),
            }),
            _ => fields.push(FieldDifference {
                field: key.clone(),
                kind: Kind::Unknown,
                locked: x.clone(),
                found: y.clone(),
                written_by: "unknown".into(),
            }),
        }
    }
    // Same tars, other blobs: only where the diff IDs agree, position by position.
    let same_files = !fields.iter().any(|f| f.kind == Kind::Files);
    let mut recompressed = Vec::new();
    if same_files && locked_layers.len() == found_layers.len() {
        let diff_ids = diff_ids(found_config);
        for (i, (l, f)) in locked_layers.iter().zip(found_layers).enumerate() {
            if l != f {
                recompressed.push(Recompressed {
                    index: i + 1,
                    diff_id: diff_ids.get(i).cloned().unwrap_or_default(),
                    locked: l.clone(),
                    found: f.clone(),
                });
            }
        }
    } else if same_files {
        // The configs agree on the files, but the manifests list another number of layers.
        fields.push(FieldDifference {
            field: "layers".into(),
            kind: Kind::Files,
            locked: locked_layers.len().into(),
            found: found_layers.len().into(),
            written_by: "the build: the manifest lists another number of layers".into(),
        });
    }
    let equivalent = fields.iter().all(|f| f.kind.harmless());
    let summary = summary(equivalent, &fields, !recompressed.is_empty());
    Equivalence {
        equivalent,
        summary,
        compression_written_by: (!recompressed.is_empty()).then(|| COMPRESSION.to_string()),
        fields,
        recompressed,
        engines: None,
    }
}

fn diff_ids(config: &Value) -> Vec<String> {
    config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| d.as_str().unwrap_or_default().to_string())
        .collect()
}

/// `differs in history text and compression`, or `not equivalent: other files, runtime settings`.
fn summary(equivalent: bool, fields: &[FieldDifference], recompressed: bool) -> String {
    let mut kinds: Vec<Kind> = fields
        .iter()
        .map(|f| f.kind)
        .filter(|k| k.harmless() == equivalent)
        .collect();
    kinds.sort();
    kinds.dedup();
    let mut words: Vec<&str> = kinds.iter().map(|k| k.words()).collect();
    if equivalent {
        if recompressed {
            words.push("compression");
        }
        if words.is_empty() {
            return "same files and runtime; differs in the manifest only (annotations or media types)".into();
        }
        format!("same files and runtime; differs in {}", join(&words))
    } else {
        format!("not equivalent: other {}", join(&words))
    }
}

fn join(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Every key of the runtime `config` object that differs, as `config.KEY`.
fn object_fields(x: &Value, y: &Value, prefix: &str, out: &mut Vec<FieldDifference>) {
    let empty = serde_json::Map::new();
    let (a, b) = (
        x.as_object().unwrap_or(&empty),
        y.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let (p, q) = (
            a.get(key).unwrap_or(&Value::Null),
            b.get(key).unwrap_or(&Value::Null),
        );
        // An empty list or map and none at all run the same.
        if p == q || (is_empty(p) && is_empty(q)) {
            continue;
        }
        out.push(FieldDifference {
            field: format!("{prefix}.{key}"),
            kind: Kind::Runtime,
            locked: p.clone(),
            found: q.clone(),
            written_by: "the Dockerfile (or a base image's config)".into(),
        });
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// The history entry by entry: times, text, and how many entries there are.
fn history_fields(x: &Value, y: &Value, out: &mut Vec<FieldDifference>) {
    let none = Vec::new();
    let (a, b) = (x.as_array().unwrap_or(&none), y.as_array().unwrap_or(&none));
    if a.len() != b.len() {
        out.push(FieldDifference {
            field: "history".into(),
            kind: Kind::HistoryText,
            locked: format!("{} entries", a.len()).into(),
            found: format!("{} entries", b.len()).into(),
            written_by: HISTORY_COUNT.into(),
        });
        return;
    }
    for (i, (p, q)) in a.iter().zip(b).enumerate() {
        let empty = serde_json::Map::new();
        let (p, q) = (
            p.as_object().unwrap_or(&empty),
            q.as_object().unwrap_or(&empty),
        );
        let mut keys: Vec<&String> = p.keys().chain(q.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let (v, w) = (
                p.get(key).unwrap_or(&Value::Null),
                q.get(key).unwrap_or(&Value::Null),
            );
            if v == w || (key == "empty_layer" && !truthy(v) && !truthy(w)) {
                continue;
            }
            let (kind, written_by) = match key.as_str() {
                "created" => (Kind::HistoryTime, HISTORY_TIME),
                "created_by" if mentions_argument(v) || mentions_argument(w) => {
                    (Kind::HistoryText, HISTORY_ARG)
                }
                _ => (Kind::HistoryText, HISTORY_TEXT),
            };
            out.push(FieldDifference {
                field: format!("history[{i}].{key}"),
                kind,
                locked: v.clone(),
                found: w.clone(),
                written_by: written_by.into(),
            });
        }
    }
}

fn truthy(v: &Value) -> bool {
    v.as_bool().unwrap_or(false)
}

/// A history line of an `ARG` (`ARG SOURCE_DATE_EPOCH`, `ARG SOURCE_DATE_EPOCH=1714564800`).
fn mentions_argument(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.trim_start().starts_with("ARG ") || s.contains("SOURCE_DATE_EPOCH"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(created: &str, base_time: &str, arg_line: &str, env: &[&str]) -> Value {
        json!({
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": {"Env": env, "Cmd": ["/bin/sh"], "WorkingDir": "/app", "Labels": null},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:aa", "sha256:bb"]},
            "history": [
                {"created": base_time, "created_by": "BusyBox", "comment": "Imported from -"},
                {"created": created, "created_by": arg_line, "comment": "buildkit.dockerfile.v0", "empty_layer": true},
                {"created": created, "created_by": "WORKDIR /app", "comment": "buildkit.dockerfile.v0"}
            ]
        })
    }

    fn layers(a: &str, b: &str) -> Vec<String> {
        vec![a.to_string(), b.to_string()]
    }

    #[test]
    fn same_files_and_runtime_with_other_history_and_compression_is_equivalent() {
        // What Docker 26.1 (BuildKit 0.13) and 28.5 (BuildKit 0.25) write for one commit.
        let old = config(
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00Z",
            "ARG SOURCE_DATE_EPOCH",
            &["PATH=/bin"],
        );
        let new = config(
            "2024-05-01T12:00:00Z",
            "2023-01-01T00:00:00Z",
            "ARG SOURCE_DATE_EPOCH=1714564800",
            &["PATH=/bin"],
        );
        let e = judge(
            &old,
            &new,
            &layers("sha256:1", "sha256:2"),
            &layers("sha256:1", "sha256:3"),
        );
        assert!(e.equivalent, "{e:?}");
        assert_eq!(
            e.summary,
            "same files and runtime; differs in history times, history text and compression"
        );
        let names: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["history[0].created", "history[1].created_by"]);
        assert_eq!(e.fields[0].locked, json!("2024-05-01T12:00:00Z"));
        assert_eq!(e.fields[0].found, json!("2023-01-01T00:00:00Z"));
        assert!(e.fields[0].written_by.contains("before 0.24"));
        assert!(e.fields[1].written_by.contains("0.14 and later"));
        assert_eq!(e.recompressed.len(), 1);
        assert_eq!(e.recompressed[0].index, 2);
        assert_eq!(e.recompressed[0].diff_id, "sha256:bb");
        assert!(e.compression_written_by.unwrap().contains("Go version"));
    }

    #[test]
    fn another_env_or_other_files_is_not_equivalent() {
        let a = config("t", "t", "ARG X", &["PATH=/bin"]);
        let env = config("t", "t", "ARG X", &["PATH=/usr/bin"]);
        let e = judge(&a, &env, &layers("1", "2"), &layers("1", "2"));
        assert!(!e.equivalent);
        assert_eq!(e.summary, "not equivalent: other runtime settings");
        assert_eq!(e.fields[0].field, "config.Env");
        assert_eq!(e.fields[0].found, json!(["PATH=/usr/bin"]));

        let mut files = a.clone();
        files["rootfs"]["diff_ids"][1] = json!("sha256:cc");
        let e = judge(&a, &files, &layers("1", "2"), &layers("1", "3"));
        assert!(!e.equivalent);
        assert_eq!(e.summary, "not equivalent: other files");
        assert!(
            e.recompressed.is_empty(),
            "other tars are not a recompression"
        );

        let mut unknown = a.clone();
        unknown["container_config"] = json!({"Hostname": "x"});
        assert!(!judge(&a, &unknown, &layers("1", "2"), &layers("1", "2")).equivalent);

        let mut platform = a.clone();
        platform["architecture"] = json!("arm64");
        let e = judge(&a, &platform, &layers("1", "2"), &layers("1", "2"));
        assert_eq!(e.fields[0].kind, Kind::Runtime);
    }

    #[test]
    fn an_empty_list_and_none_run_the_same() {
        let a = config("t", "t", "ARG X", &[]);
        let mut b = a.clone();
        b["config"]["Labels"] = json!({});
        b["config"]["Volumes"] = json!(null);
        b["config"]["Env"] = json!(null);
        let e = judge(&a, &b, &layers("1", "2"), &layers("1", "4"));
        assert!(e.equivalent, "{e:?}");
        assert_eq!(e.summary, "same files and runtime; differs in compression");
    }
}
