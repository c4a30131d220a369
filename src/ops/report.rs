//! The verify report: one data structure, printed as a short table or as JSON.

use crate::image::oci::OciImage;
use crate::lock::{self, Role};
use crate::ui::escape;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Identical,
    /// Other bytes, the same files and runtime config (see [`crate::explain::equivalence`]).
    Equivalent,
    Different,
    Missing,
}

/// How `verify` looked for the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Digests,
    Rebuild,
    Archive,
}

/// The verdict of a completed comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Identical,
    /// Every image identical or equivalent, and at least one equivalent.
    Equivalent,
    Different,
    /// A full rebuild: the base came out different with packages that drifted (its mirrors
    /// moved), and the release rebuilt on the locked base is identical.
    BaseDrifted,
}

impl Verdict {
    /// Identical when every image is; base-drifted when the only difference is a base whose
    /// packages drifted and the release rebuilt on the locked base is identical; else different.
    pub fn of(images: &[ImageReport]) -> Verdict {
        if images.iter().all(|i| i.status == Status::Identical) {
            return Verdict::Identical;
        }
        if images
            .iter()
            .all(|i| matches!(i.status, Status::Identical | Status::Equivalent))
        {
            return Verdict::Equivalent;
        }
        let base_drifted = images.iter().any(|i| {
            i.role == Role::Base && i.status == Status::Different && !i.packages.is_empty()
        });
        let others_identical = images
            .iter()
            .filter(|i| i.role != Role::Base)
            .all(|i| i.status == Status::Identical && i.built_on == Some(BuiltOn::LockedBase));
        if base_drifted && others_identical {
            Verdict::BaseDrifted
        } else {
            Verdict::Different
        }
    }
}

/// What a rebuilt release was built on, in the base + release layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuiltOn {
    /// The base rebuilt from its Dockerfile in the same run.
    RebuiltBase,
    /// The locked base image, taken by digest (from an archive, the engine or its registry).
    LockedBase,
}

/// Where an image was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Engine,
    Registry,
    Rebuild,
    Archive,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Engine => "engine",
            Source::Registry => "registry",
            Source::Rebuild => "rebuild",
            Source::Archive => "archive",
        }
    }
}

/// Whether a base's tag still names the locked digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TagState {
    Unchanged,
    Moved,
    Unknown,
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// The lockfile checked.
    pub lock: String,
    pub mode: Mode,
    pub commit: String,
    /// Identical when every image is.
    pub verdict: Verdict,
    pub images: Vec<ImageReport>,
    pub bases: Vec<BaseReport>,
    /// Whether this host can run the release image.
    pub host: Option<crate::host::HostReport>,
    /// Checks this run could not do, and why.
    pub not_checked: Vec<String>,
    /// Locked build inputs the rebuild replaced with the verifier's (a mirror near them).
    pub overridden: Vec<Overridden>,
}

/// A locked build input a rebuild used another value for.
/// The locked build inputs a verifier may override: they name a place, not what is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Input {
    /// `--add-host NAME:IP` (the mirror's address on another machine).
    AddHost,
    /// `--build-arg KEY=VALUE` (a mirror in another country).
    BuildArg,
}

impl Input {
    pub fn flag(self) -> &'static str {
        match self {
            Input::BuildArg => "--build-arg",
            Input::AddHost => "--add-host",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overridden {
    /// `build-arg` or `add-host`.
    pub input: Input,
    /// The build argument's key, or the host name.
    pub name: String,
    pub locked: String,
    pub used: String,
}

#[derive(Debug, Serialize)]
pub struct ImageReport {
    pub role: crate::lock::Role,
    pub name: String,
    /// The platform of a multi-platform lock's image; null for a single-platform lock.
    pub platform: Option<String>,
    pub status: Status,
    /// The locked manifest digest.
    pub locked: String,
    /// The manifest digest found (engine/registry) or rebuilt; null when missing.
    pub found: Option<String>,
    /// Null when missing.
    pub source: Option<Source>,
    /// Why it is missing or different, in words.
    pub detail: Option<String>,
    /// Whether the config digest matches; null when unknown.
    pub config_identical: Option<bool>,
    /// The layers that differ (rebuild only).
    pub layers: Vec<LayerDiff>,
    /// Packages that differ from the lock's inventory (when the image differs).
    pub packages: Vec<crate::inventory::Drift>,
    /// File by file, in each differing layer (when both images can be read).
    pub files: Vec<crate::explain::LayerFiles>,
    /// The causes of the file differences, ranked by differing bytes, with fixes.
    pub causes: Vec<crate::explain::CauseReport>,
    /// A rebuilt release of the base + release layout: which base it was built on; null
    /// otherwise.
    pub built_on: Option<BuiltOn>,
    /// For an image whose bytes differ: whether its files and runtime are the same, and each
    /// config field that differs; null when not judged (same bytes, or the locked image is not
    /// here to read).
    pub equivalence: Option<crate::explain::equivalence::Equivalence>,
}

impl ImageReport {
    /// A locked image, not yet compared: identical until a check finds otherwise.
    pub fn of(locked: &crate::lock::Image, source: Option<Source>) -> ImageReport {
        ImageReport {
            role: locked.role,
            name: locked.name.to_string(),
            platform: locked.platform.as_ref().map(|p| p.to_string()),
            status: Status::Identical,
            locked: locked.manifest_digest.to_string(),
            found: None,
            source,
            detail: None,
            config_identical: None,
            layers: vec![],
            packages: vec![],
            files: vec![],
            causes: vec![],
            built_on: None,
            equivalence: None,
        }
    }

    /// A locked image against a rebuilt one (or none): identical when the manifests are; else
    /// each layer that differs, with the instruction that made it, or why nothing does.
    pub fn compare(locked: &lock::Image, rebuilt: Option<&OciImage>) -> ImageReport {
        let mut report = ImageReport::of(locked, Some(Source::Rebuild));
        let Some(rebuilt) = rebuilt else {
            report.status = Status::Missing;
            report.source = None;
            report.detail = Some("the rebuild produced no such image".into());
            return report;
        };
        report.found = Some(rebuilt.manifest_digest.clone());
        report.config_identical = Some(rebuilt.config_digest == locked.config_digest);
        if rebuilt.manifest_digest == locked.manifest_digest {
            return report;
        }
        report.status = Status::Different;
        let count = locked.layers.len().max(rebuilt.layers.len());
        for i in 0..count {
            let (a, b) = (locked.layers.get(i), rebuilt.layers.get(i));
            if a.map(|d| d.as_str()) != b.map(String::as_str) {
                report.layers.push(LayerDiff {
                    index: i + 1,
                    locked: a.map(|d| d.to_string()),
                    found: b.cloned(),
                    instruction: rebuilt
                        .layer_instructions
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| "(no layer in the rebuild)".into()),
                });
            }
        }
        if report.layers.is_empty() {
            report.detail = Some(if report.config_identical == Some(false) {
                "all layers are identical; the image config differs (env, labels, history or created time)".into()
            } else {
                "layers and config are identical; the manifest differs (annotations or media types)"
                    .into()
            });
        }
        report
    }
}

#[derive(Debug, Serialize)]
pub struct LayerDiff {
    /// 1-based position in the manifest.
    pub index: usize,
    pub locked: Option<String>,
    pub found: Option<String>,
    /// The Dockerfile instruction that produced the layer, from the image history.
    pub instruction: String,
}

#[derive(Debug, Serialize)]
pub struct BaseReport {
    #[serde(rename = "ref")]
    pub reference: String,
    pub dockerfile: String,
    pub locked: String,
    /// What the reference resolves to now; null when it could not be looked up.
    pub current: Option<String>,
    pub tag: TagState,
    pub detail: Option<String>,
}

/// A digest as tables show it ([`Digest::short`]); anything else, escaped and clipped.
fn short(digest: &str) -> String {
    match crate::image::digest::Digest::parse(digest) {
        Ok(d) => d.short(),
        Err(_) => escape(&digest.chars().take(19).collect::<String>()).into_owned(),
    }
}

impl Report {
    pub fn identical(&self) -> bool {
        self.images.iter().all(|i| i.status == Status::Identical)
    }

    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let width = self
            .images
            .iter()
            .map(|i| i.name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        // A PLATFORM column only for a multi-platform lock: a single-platform report is as before.
        let platform_width = self
            .images
            .iter()
            .filter_map(|i| i.platform.as_deref().map(str::len))
            .max()
            .map(|w| w.max(8));
        let platform_cell = |p: &str| match platform_width {
            Some(w) => format!("{:<w$}  ", escape(p)),
            None => String::new(),
        };
        out.push_str(&format!(
            "{:<8} {:<width$}  {}{:<19}  {:<19}  RESULT\n",
            "ROLE",
            "IMAGE",
            platform_cell("PLATFORM"),
            "LOCKED",
            "FOUND"
        ));
        for i in &self.images {
            let found = i.found.as_deref().map(short).unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "{:<8} {:<width$}  {}{:<19}  {:<19}  {}\n",
                i.role,
                i.name,
                platform_cell(i.platform.as_deref().unwrap_or("")),
                short(&i.locked),
                found,
                self.result_cell(i)
            ));
            out.push_str(&explanation(i));
        }
        out.push_str(&self.base_lines());
        for o in &self.overridden {
            out.push_str(&format!(
                "overridden: {} {}: {} (locked: {})\n",
                o.input.flag(),
                escape(&o.name),
                escape(&o.used),
                escape(&o.locked)
            ));
        }
        for skipped in &self.not_checked {
            out.push_str(&format!("not checked: {skipped}\n"));
        }
        if let Some(host) = &self.host {
            // One line, whatever the lock says its CUDA or its GPUs are called.
            out.push_str(&escape(&host.line()));
            out.push('\n');
        }
        out.push_str(&format!("verdict: {}\n", self.verdict_line()));
        out
    }

    /// The RESULT cell of an image's line.
    fn result_cell(&self, i: &ImageReport) -> String {
        let mut result = match (i.status, i.source) {
            (Status::Identical, Some(src)) if self.mode == Mode::Digests => {
                format!("identical ({})", src.as_str())
            }
            (Status::Identical, Some(src))
                if self.mode == Mode::Rebuild && src != Source::Rebuild =>
            {
                format!("identical (by digest, {}; not rebuilt)", src.as_str())
            }
            (Status::Identical, _) => "identical".into(),
            (Status::Equivalent, _) => "equivalent".into(),
            (Status::Different, _) => "DIFFERENT".into(),
            (Status::Missing, _) => "MISSING".into(),
        };
        if i.built_on == Some(BuiltOn::LockedBase) {
            result.push_str(" on the locked base");
        }
        result
    }

    /// A line for each base tag that moved or could not be looked up.
    fn base_lines(&self) -> String {
        let mut out = String::new();
        for b in &self.bases {
            match (b.tag, &b.current) {
                (TagState::Moved, Some(current)) => out.push_str(&format!(
                    "base {} moved: {} -> {} (the lock pins {}; a rebuild uses it)\n",
                    escape(&b.reference),
                    short(&b.locked),
                    short(current),
                    short(&b.locked)
                )),
                (TagState::Unknown, _) => out.push_str(&format!(
                    "base {}: could not look up the tag now ({})\n",
                    escape(&b.reference),
                    escape(b.detail.as_deref().unwrap_or("no answer"))
                )),
                _ => {}
            }
        }
        out
    }

    fn verdict_line(&self) -> String {
        let release_on_locked_base = self
            .images
            .iter()
            .find(|i| i.built_on == Some(BuiltOn::LockedBase) && i.status == Status::Identical);
        if self.verdict == Verdict::BaseDrifted {
            let drifted: Vec<String> = self
                .images
                .iter()
                .filter(|i| i.role == crate::lock::Role::Base)
                .flat_map(|i| &i.packages)
                .map(|p| {
                    format!(
                        "{} {}",
                        escape(&p.package),
                        match (&p.locked, &p.found) {
                            (Some(a), Some(b)) => format!("{} -> {}", escape(a), escape(b)),
                            (Some(a), None) => format!("{} removed", escape(a)),
                            (None, Some(b)) => format!("{} added", escape(b)),
                            (None, None) => p.change.to_string(),
                        }
                    )
                })
                .collect();
            let shown = drifted
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            let more = if drifted.len() > 3 { ", ..." } else { "" };
            return format!(
                "base: not reproducible today: {} package(s) drifted ({shown}{more}); release: identical on the locked base",
                drifted.len()
            );
        }
        if self.identical() && self.mode == Mode::Rebuild {
            if let Some(base) = self.images.iter().find(|i| {
                i.role == crate::lock::Role::Base && i.source.is_some_and(|s| s != Source::Rebuild)
            }) {
                return format!(
                    "identical: the release rebuilt on the locked base {}; the base was verified by digest ({}), not rebuilt",
                    base.name,
                    base.source.map_or("", Source::as_str)
                );
            }
        }
        let what = match self.mode {
            Mode::Rebuild => "rebuilt",
            Mode::Archive => "in the archive",
            Mode::Digests => "present",
        };
        if self.identical() {
            let n = self.images.len();
            let images = if n == 1 { "image" } else { "images" };
            return format!("identical: {n} {images} {what} with the locked digests");
        }
        if self.verdict == Verdict::Equivalent {
            return crate::ops::equivalent::verdict_line(&self.images);
        }
        let bad: Vec<String> = self
            .images
            .iter()
            .filter(|i| i.status != Status::Identical)
            .map(|i| match i.layers.first() {
                Some(l) => {
                    let cause = match i.causes.first() {
                        Some(c) => format!("; main cause: {} ({})", c.cause, c.what),
                        None => String::new(),
                    };
                    format!(
                        "{} differs in {} layer(s), first layer {} ({}){cause}",
                        i.name,
                        i.layers.len(),
                        l.index,
                        escape(&l.instruction)
                    )
                }
                None if i.status == Status::Missing => {
                    format!("{}{} is missing", i.name, on_platform(i))
                }
                None => format!("{}{} differs", i.name, on_platform(i)),
            })
            .collect();
        let also = match release_on_locked_base {
            Some(r) => format!("; {} is identical on the locked base", r.name),
            None => String::new(),
        };
        format!("DIFFERENT: {}{also}", bad.join("; "))
    }
}

/// ` (linux/arm64)` for an image of a multi-platform lock, else nothing: one verdict line
/// names each platform that is not identical, not the same image twice.
fn on_platform(i: &ImageReport) -> String {
    i.platform
        .as_deref()
        .map(|p| format!(" ({})", escape(p)))
        .unwrap_or_default()
}

/// Under an image's line: why it differs, in words, layer by layer, package by package and
/// file by file.
fn explanation(i: &ImageReport) -> String {
    let mut out = String::new();
    if let Some(detail) = &i.detail {
        out.push_str(&format!("           {}\n", escape(detail)));
    }
    for l in &i.layers {
        let locked = l
            .locked
            .as_deref()
            .map(short)
            .unwrap_or_else(|| "(none)".into());
        let found = l
            .found
            .as_deref()
            .map(short)
            .unwrap_or_else(|| "(none)".into());
        out.push_str(&format!(
            "           layer {} {locked} -> {found}  {}\n",
            l.index,
            escape(&l.instruction)
        ));
    }
    for p in &i.packages {
        let locked = p.locked.as_deref().unwrap_or("-");
        let found = p.found.as_deref().unwrap_or("-");
        out.push_str(&format!(
            "           {} {} {}: {} -> {}\n",
            p.kind,
            escape(&p.package),
            p.change,
            escape(locked),
            escape(found)
        ));
    }
    if let Some(e) = &i.equivalence {
        out.push_str(&crate::ops::equivalent::render(e, "           "));
    }
    out.push_str(&crate::explain::render_layers(
        &i.files,
        &i.causes,
        "         ",
        10,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(role: Role, layers: &[char]) -> lock::Image {
        let d = crate::lock::tests::digest;
        lock::Image {
            role,
            name: format!("p:{role}").as_str().into(),
            platform: None,
            index_digest: None,
            manifest_digest: d('f'),
            config_digest: d('c'),
            layers: layers.iter().map(|c| d(*c)).collect(),
            needs: None,
            inventory: Default::default(),
            inventory_over: None,
            inventory_removed: Default::default(),
        }
    }

    #[test]
    fn a_rebuilt_image_is_compared_layer_by_layer_with_the_lock() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let lock = locked(Role::Release, &['1', '2']);
        let same = OciImage {
            manifest_digest: lock.manifest_digest.to_string(),
            config_digest: lock.config_digest.to_string(),
            layers: lock.layers.iter().map(|l| l.to_string()).collect(),
            layer_instructions: vec!["FROM".into(), "COPY app /app".into()],
        };
        let r = ImageReport::compare(&lock, Some(&same));
        assert_eq!(
            (r.status, r.config_identical),
            (Status::Identical, Some(true))
        );
        let other = OciImage {
            manifest_digest: d('9'),
            config_digest: d('8'),
            layers: vec![d('1'), d('3'), d('4')],
            ..same.clone()
        };
        let r = ImageReport::compare(&lock, Some(&other));
        assert_eq!(r.status, Status::Different);
        let changed: Vec<(usize, &str)> = r
            .layers
            .iter()
            .map(|l| (l.index, l.instruction.as_str()))
            .collect();
        assert_eq!(
            changed,
            [(2, "COPY app /app"), (3, "(no layer in the rebuild)")]
        );
        let config_only = OciImage {
            manifest_digest: d('9'),
            config_digest: d('8'),
            ..same.clone()
        };
        let r = ImageReport::compare(&lock, Some(&config_only));
        assert!(r.detail.unwrap().contains("the image config differs"));
        let r = ImageReport::compare(&lock, None);
        assert_eq!((r.status, r.source), (Status::Missing, None));
    }

    #[test]
    fn a_drifted_base_under_an_identical_release_is_its_own_verdict() {
        let drift = crate::inventory::Drift {
            kind: "pip",
            package: "numpy".into(),
            change: crate::inventory::Change::Changed,
            locked: Some("1.26.4".into()),
            found: Some("2.0.0".into()),
        };
        let report = |role, status, built_on, packages: Vec<crate::inventory::Drift>| {
            let mut r = ImageReport::of(&locked(role, &['1']), Some(Source::Rebuild));
            r.status = status;
            r.built_on = built_on;
            r.packages = packages;
            r
        };
        let identical = report(
            Role::Release,
            Status::Identical,
            Some(BuiltOn::LockedBase),
            vec![],
        );
        let drifted = report(Role::Base, Status::Different, None, vec![drift.clone()]);
        assert_eq!(Verdict::of(&[identical]), Verdict::Identical);
        let identical = report(
            Role::Release,
            Status::Identical,
            Some(BuiltOn::LockedBase),
            vec![],
        );
        assert_eq!(Verdict::of(&[drifted, identical]), Verdict::BaseDrifted);
        // A base that differs with no package drift is a reproducibility failure, not drift.
        let differs = report(Role::Base, Status::Different, None, vec![]);
        let identical = report(
            Role::Release,
            Status::Identical,
            Some(BuiltOn::LockedBase),
            vec![],
        );
        assert_eq!(Verdict::of(&[differs, identical]), Verdict::Different);
        // A release built on the rebuilt base proves nothing about the locked one.
        let drifted = report(Role::Base, Status::Different, None, vec![drift]);
        let on_rebuilt = report(
            Role::Release,
            Status::Identical,
            Some(BuiltOn::RebuiltBase),
            vec![],
        );
        assert_eq!(Verdict::of(&[drifted, on_rebuilt]), Verdict::Different);
    }

    #[test]
    fn verdict_names_the_first_differing_layer() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let report = Report {
            lock: "repro.lock".into(),
            mode: Mode::Rebuild,
            commit: "0".repeat(40),
            verdict: Verdict::Different,
            images: vec![ImageReport {
                role: crate::lock::Role::Release,
                name: "x:0123".into(),
                platform: None,
                status: Status::Different,
                locked: d('a'),
                found: Some(d('b')),
                source: Some(Source::Rebuild),
                detail: None,
                config_identical: Some(false),
                packages: vec![],
                files: vec![],
                causes: vec![],
                built_on: None,
                equivalence: None,
                layers: vec![LayerDiff {
                    index: 2,
                    locked: Some(d('c')),
                    found: Some(d('d')),
                    instruction: "RUN /bin/sh -c date > /stamp".into(),
                }],
            }],
            bases: vec![],
            host: None,
            not_checked: vec![],
            overridden: vec![Overridden {
                input: Input::BuildArg,
                name: "PIP_INDEX_URL".into(),
                locked: "https://a.example/simple".into(),
                used: "https://b.example/simple".into(),
            }],
        };
        let text = report.render_human();
        assert!(
            text.contains(
                "layer 2 sha256:cccccccccccc -> sha256:dddddddddddd  RUN /bin/sh -c date > /stamp"
            ),
            "{text}"
        );
        assert!(
            text.contains("overridden: --build-arg PIP_INDEX_URL: https://b.example/simple (locked: https://a.example/simple)\n"),
            "{text}"
        );
        assert!(text.ends_with("verdict: DIFFERENT: x:0123 differs in 1 layer(s), first layer 2 (RUN /bin/sh -c date > /stamp)\n"), "{text}");
    }

    #[test]
    fn verdict_names_each_platform_that_differs() {
        let mut amd = ImageReport::of(&locked(Role::Release, &['a']), Some(Source::Engine));
        amd.platform = Some("linux/amd64".into());
        amd.status = Status::Different;
        amd.detail = Some(
            "the image index sha256:e lists sha256:x for linux/amd64, the lock names sha256:a"
                .into(),
        );
        let mut arm = ImageReport::of(&locked(Role::Release, &['a']), None);
        arm.platform = Some("linux/arm64".into());
        arm.status = Status::Missing;
        let mut report = Report {
            lock: "repro.lock".into(),
            mode: Mode::Digests,
            commit: "0".repeat(40),
            verdict: Verdict::Different,
            images: vec![amd, arm],
            bases: vec![],
            host: None,
            not_checked: vec![],
            overridden: vec![],
        };
        report.verdict = Verdict::of(&report.images);
        let text = report.render_human();
        assert!(
            text.contains("           the image index sha256:e lists sha256:x for linux/amd64, the lock names sha256:a\n"),
            "{text}"
        );
        assert!(
            text.ends_with("verdict: DIFFERENT: p:release (linux/amd64) differs; p:release (linux/arm64) is missing\n"),
            "{text}"
        );
    }
}
