//! Explaining differences: between two images layer by layer and file by file, with causes
//! and fixes, and between two lockfiles. Used by `docker repro diff` and by `verify`.

pub mod equivalence;
pub mod files;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::image::archive::{self as layers, ArchiveIndex};
pub use crate::inventory::Change;
use crate::ui::escape;
pub use files::Cause;
use files::FileDiff;

/// One layer position where two images differ.
#[derive(Debug, Clone, Serialize)]
pub struct LayerFiles {
    /// 1-based position in the aligned layer lists (see [`align`]).
    pub index: usize,
    pub a: Option<String>,
    pub b: Option<String>,
    /// The instruction that produced the layer (from B's history, else A's).
    pub instruction: String,
    pub files: Vec<FileDiff>,
    /// Why a differing layer lists no file: the same files, encoded or compressed otherwise.
    pub note: Option<String>,
}

/// A cause with the differences it explains, ranked by bytes.
#[derive(Debug, Clone, Serialize)]
pub struct CauseReport {
    pub cause: Cause,
    pub what: &'static str,
    pub fix: &'static str,
    pub files: usize,
    pub bytes: u64,
    /// Differences under this cause matched `[verify] ignore`.
    pub ignored_files: usize,
    /// The instructions of the layers involved.
    pub instructions: Vec<String>,
}

fn instructions(index: &ArchiveIndex) -> Vec<String> {
    let config = serde_json::to_vec(&index.config).unwrap_or_default();
    crate::image::oci::layer_instructions(&config, index.layer_paths.len())
}

/// What is known of the two images' bases: how many bottom layers each base image gave its
/// image (from a lock's base image), and whether the bases differ.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bases {
    pub a_layers: Option<usize>,
    pub b_layers: Option<usize>,
    pub changed: bool,
    /// The two base images were built from the same inputs with another `SOURCE_DATE_EPOCH`:
    /// that explains their layers.
    pub epoch_only: bool,
}

impl Bases {
    /// Whether layer `i` of A or `j` of B is one of a base image's layers.
    fn within(&self, i: Option<usize>, j: Option<usize>) -> bool {
        let within =
            |k: Option<usize>, n: Option<usize>| matches!((k, n), (Some(k), Some(n)) if k < n);
        within(i, self.a_layers) || within(j, self.b_layers)
    }

    fn explains(&self, i: Option<usize>, j: Option<usize>) -> bool {
        self.changed && self.within(i, j)
    }
}

/// Compares two indexed archives layer by layer, listing only the layers whose digests differ.
pub fn compare_layers(
    a: (&Path, &ArchiveIndex),
    b: (&Path, &ArchiveIndex),
    ignore: &[String],
    bases: Bases,
) -> Result<Vec<LayerFiles>, String> {
    let (names_a, names_b) = (a.1.layer_names(), b.1.layer_names());
    let (instr_a, instr_b) = (instructions(a.1), instructions(b.1));
    let mut out = Vec::new();
    for (position, (i, j)) in align(&names_a, &names_b).into_iter().enumerate() {
        let (x, y) = (i.map(|i| &names_a[i]), j.map(|j| &names_b[j]));
        if x.is_some() && x == y {
            continue;
        }
        let list_a = match i {
            Some(i) => files::list_layer(a.0, a.1, i)?,
            None => files::Listing::new(),
        };
        // A is listed; B is compared with it as it is read, so one listing is ever held.
        let mut diffs = match j {
            Some(j) => files::diff_layer(&list_a, b.0, b.1, j)?,
            None => files::diff_listings(&list_a, &files::Listing::new()),
        };
        drop(list_a);
        for d in &mut diffs {
            d.ignored = ignore.iter().any(|p| files::glob_match(p, &d.path));
            if bases.explains(i, j) {
                d.cause = Cause::BaseDrift;
            } else if bases.epoch_only && bases.within(i, j) {
                d.cause = Cause::BaseEpoch;
            } else if x.is_none() || y.is_none() {
                d.cause = Cause::LayerMissing;
            }
        }
        let note = diffs.is_empty().then(|| "no file differs: the same files, with another tar encoding or compression (another builder or exporter, or a docker repro whose compressor changed)".to_string());
        let instruction = j
            .and_then(|j| instr_b.get(j))
            .or(i.and_then(|i| instr_a.get(i)))
            .cloned()
            .unwrap_or_default();
        out.push(LayerFiles {
            index: position + 1,
            a: x.cloned(),
            b: y.cloned(),
            instruction,
            files: diffs,
            note,
        });
    }
    Ok(out)
}

/// Pairs the layers of two images: identical layers by their longest common subsequence, so
/// that a layer added or removed (a base with one more layer) does not shift every later one;
/// between two matches the surplus layers come first, unpaired, and the rest pair in order.
pub fn align(a: &[String], b: &[String]) -> Vec<(Option<usize>, Option<usize>)> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut matches = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            matches.push((i, j));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    matches.push((n, m));
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    for (mi, mj) in matches {
        // In a gap, the surplus layers stand at its start: a base that gained or lost layers
        // changes the bottom of the image, and the instructions above still pair.
        while mi - i > mj - j {
            out.push((Some(i), None));
            i += 1;
        }
        while mj - j > mi - i {
            out.push((None, Some(j)));
            j += 1;
        }
        while i < mi {
            out.push((Some(i), Some(j)));
            i += 1;
            j += 1;
        }
        if mi < n && mj < m {
            out.push((Some(mi), Some(mj)));
        }
        i = mi + 1;
        j = mj + 1;
    }
    out
}

/// Files that belong to a drifted pip package (its import package directory) are explained by
/// that drift, whatever they look like one by one.
pub fn claim_package_files(layers: &mut [LayerFiles], drift: &[crate::inventory::Drift]) {
    let prefixes: Vec<String> = drift
        .iter()
        .filter(|d| d.kind == "pip")
        .filter_map(|d| d.package.rsplit_once(' '))
        .map(|(env, name)| format!("{env}/{}/", name.replace('-', "_")))
        .collect();
    for f in layers.iter_mut().flat_map(|l| l.files.iter_mut()) {
        if !matches!(f.cause, Cause::BaseDrift | Cause::BaseEpoch)
            && prefixes.iter().any(|p| f.path.starts_with(p.as_str()))
        {
            f.cause = Cause::PackageDrift;
        }
    }
}

/// Causes ranked by the bytes they explain (ignored differences are counted apart).
pub fn rank_causes(layers: &[LayerFiles]) -> Vec<CauseReport> {
    let mut by: BTreeMap<&'static str, CauseReport> = BTreeMap::new();
    for layer in layers {
        for f in &layer.files {
            let c = f.cause;
            // Keyed by id, so that causes explaining as many bytes keep their id order.
            let entry = by.entry(c.id()).or_insert_with(|| CauseReport {
                cause: c,
                what: c.what(),
                fix: c.fix(),
                files: 0,
                bytes: 0,
                ignored_files: 0,
                instructions: vec![],
            });
            if f.ignored {
                entry.ignored_files += 1;
            } else {
                entry.files += 1;
                entry.bytes += f.bytes;
            }
            if !entry.instructions.contains(&layer.instruction) {
                entry.instructions.push(layer.instruction.clone());
            }
        }
    }
    let mut out: Vec<CauseReport> = by.into_values().collect();
    out.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then(b.files.cmp(&a.files))
            .then(a.cause.id().cmp(b.cause.id()))
    });
    out
}

/// A field of the image config that differs.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigDiff {
    pub field: String,
    pub a: serde_json::Value,
    pub b: serde_json::Value,
}

/// Env, Cmd, Entrypoint, Labels, User, WorkingDir, ExposedPorts, Volumes and the history.
pub fn config_diff(a: &serde_json::Value, b: &serde_json::Value) -> Vec<ConfigDiff> {
    let mut out = Vec::new();
    for field in [
        "Env",
        "Cmd",
        "Entrypoint",
        "Labels",
        "User",
        "WorkingDir",
        "ExposedPorts",
        "Volumes",
        "StopSignal",
    ] {
        let pointer = format!("/config/{field}");
        let (x, y) = (
            a.pointer(&pointer).cloned().unwrap_or_default(),
            b.pointer(&pointer).cloned().unwrap_or_default(),
        );
        if x != y {
            out.push(ConfigDiff {
                field: field.to_string(),
                a: x,
                b: y,
            });
        }
    }
    let history = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v.get("history")
            .and_then(|h| h.as_array())
            .into_iter()
            .flatten()
            .map(|h| h.get("created_by").cloned().unwrap_or_default())
            .collect()
    };
    if history(a) != history(b) {
        out.push(ConfigDiff {
            field: "history".into(),
            a: history(a).into(),
            b: history(b).into(),
        });
    }
    for field in ["created", "architecture", "os"] {
        let (x, y) = (
            a.get(field).cloned().unwrap_or_default(),
            b.get(field).cloned().unwrap_or_default(),
        );
        if x != y {
            out.push(ConfigDiff {
                field: field.to_string(),
                a: x,
                b: y,
            });
        }
    }
    out
}

/// Indexes the image `select` names in an archive file, with a one-line error.
pub fn index(path: &Path, select: &layers::Select) -> Result<ArchiveIndex, String> {
    layers::index_archive(path, select).map_err(|e| format!("{}: {e}", path.display()))
}

/// Human lines for differing layers and their causes, indented under an image line.
pub fn render_layers(
    layers: &[LayerFiles],
    causes: &[CauseReport],
    indent: &str,
    max_files: usize,
) -> String {
    let mut out = String::new();
    for l in layers {
        let shown: Vec<&FileDiff> = l.files.iter().take(max_files).collect();
        for f in &shown {
            let what = if f.aspects.is_empty() {
                f.change.to_string()
            } else {
                f.aspects.join("+")
            };
            let ignored = if f.ignored { " (ignored)" } else { "" };
            let detail = f
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "{indent}  layer {} {} {what} [{}]{ignored}{}\n",
                l.index,
                escape(&f.path),
                f.cause,
                escape(&detail)
            ));
        }
        if let Some(note) = &l.note {
            out.push_str(&format!("{indent}  layer {}: {}\n", l.index, escape(note)));
        }
        if l.files.len() > shown.len() {
            out.push_str(&format!(
                "{indent}  layer {}: and {} more files\n",
                l.index,
                l.files.len() - shown.len()
            ));
        }
    }
    if !causes.is_empty() {
        out.push_str(&format!("{indent}causes, by differing bytes:\n"));
        for c in causes {
            let ignored = if c.ignored_files > 0 {
                format!(", {} ignored", c.ignored_files)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "{indent}  {} ({} files, {} bytes{ignored}) in `{}`: {}\n",
                c.cause,
                c.files,
                c.bytes,
                escape(&c.instructions.join("`, `")),
                c.what
            ));
            out.push_str(&format!("{indent}    fix: {}\n", c.fix));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn a_drifted_pip_package_claims_its_files() {
        let file = |path: &str| FileDiff {
            path: path.into(),
            change: Change::Changed,
            aspects: vec!["content"],
            bytes: 10,
            cause: Cause::BuildTimeContent,
            ignored: false,
            detail: None,
        };
        let mut layers = vec![LayerFiles {
            index: 3,
            a: None,
            b: None,
            instruction: "RUN pip install".into(),
            files: vec![
                file("/usr/lib/python3/dist-packages/typing_extensions/core.py"),
                file("/etc/stamp"),
            ],
            note: None,
        }];
        let drift = [crate::inventory::Drift {
            kind: "pip",
            package: "/usr/lib/python3/dist-packages typing-extensions".into(),
            change: Change::Changed,
            locked: Some("4.1".into()),
            found: Some("4.2".into()),
        }];
        claim_package_files(&mut layers, &drift);
        assert_eq!(layers[0].files[0].cause, Cause::PackageDrift);
        assert_eq!(layers[0].files[1].cause, Cause::BuildTimeContent);
    }

    #[test]
    fn alignment_survives_an_inserted_layer() {
        // A base that gained a layer: the release layers still pair with themselves.
        let got = align(&names("base app pip"), &names("base moved app2 pip"));
        assert_eq!(
            got,
            [
                (Some(0), Some(0)),
                (None, Some(1)),
                (Some(1), Some(2)),
                (Some(2), Some(3))
            ]
        );
        assert_eq!(
            align(&names("a b c"), &names("a x c")),
            [(Some(0), Some(0)), (Some(1), Some(1)), (Some(2), Some(2))]
        );
        assert_eq!(
            align(&names("a b"), &names("")),
            [(Some(0), None), (Some(1), None)]
        );
        assert_eq!(
            align(&names("a b"), &names("c d e")),
            [(None, Some(0)), (Some(0), Some(1)), (Some(1), Some(2))]
        );
    }
}
