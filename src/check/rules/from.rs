//! The images a build pulls: `from-latest`, `from-unpinned`.

use super::{Acc, Described};

/// `repo` of `repo:tag` (a registry port is no tag).
pub(in crate::check) fn strip_tag(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => &image[..slash + i],
        None => image,
    }
}

/// Lints one image reference pulled by `instr` (`FROM `, `COPY --from=`…).
pub(in crate::check) fn lint_image(acc: &mut Acc, line: usize, instr: &str, image: &str) {
    if image.contains('@') {
        return;
    }
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    let tag = image[slash..].rsplit_once(':').map(|(_, t)| t);
    let rule = match tag {
        None => "from-latest",
        Some(t) if moving_tag(t) => "from-latest",
        Some(_) => "from-unpinned",
    };
    acc.add(line, rule, format!("{instr}\u{1f}{image}"));
}

/// A tag that names no release but whatever is newest: `latest`, `rolling`, `nightly`,
/// `latest-gpu`, `3.12-nightly`, a branch (`main-base`, `master`), `stable-slim`. A date in it
/// names one build (`nightly_3.10_tpuvm_20250124`, `nightly-2024-05-01`).
fn moving_tag(tag: &str) -> bool {
    let t = tag.to_ascii_lowercase();
    if dated(&t) {
        return false;
    }
    const WHOLE: [&str; 8] = [
        "edge", "devel", "dev", "develop", "testing", "unstable", "sid", "trunk",
    ];
    WHOLE.contains(&t.as_str())
        || t.split(['-', '_', '.']).any(|part| {
            matches!(
                part,
                "latest" | "nightly" | "rolling" | "main" | "master" | "stable"
            )
        })
}

/// `20250124`, `2024-05-01`, `2024.05.01` in a tag.
pub(in crate::check) fn dated(tag: &str) -> bool {
    let b = tag.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    (0..b.len()).any(|i| {
        let year = b.get(i..i + 4).is_some_and(|y| {
            (y[0] == b'1' && y[1] == b'9' || y[0] == b'2' && y[1] == b'0') && digits(y)
        });
        year && (b.get(i + 4..i + 8).is_some_and(digits)
            || b.get(i + 4..i + 10).is_some_and(|r| {
                matches!(r[0], b'-' | b'.' | b'_')
                    && r[3] == r[0]
                    && digits(&r[1..3])
                    && digits(&r[4..6])
            }))
    })
}

/// A `FROM` image that is no stage: linted as a base, unless it is `scratch`, empty, or still
/// holds a variable no argument sets.
pub(in crate::check) fn lint_base(acc: &mut Acc, line: usize, image: &str) {
    if image != "scratch" && !image.is_empty() && !image.contains('$') {
        lint_image(acc, line, "FROM ", image);
    }
}

/// The message and the fix of a finding of this family, for exactly the items it is about;
/// `None` for another family's rule.
pub(super) fn describe(rule: &str, items: &[String]) -> Option<Described> {
    use crate::check::Severity::{Error, Info};
    let first = items.first().cloned().unwrap_or_default();
    Some(match rule {
        "from-latest" | "from-unpinned" => {
            // Items are `INSTRUCTION\u{1f}IMAGE`.
            let (instr, image) = first.split_once('\u{1f}').unwrap_or(("FROM ", &first));
            let repo = strip_tag(image);
            if rule == "from-latest" {
                let moving = if repo == image {
                    "has no tag, so it is :latest, which moves".to_string()
                } else {
                    format!("follows a moving tag ({})", &image[repo.len() + 1..])
                };
                (
                    Error,
                    format!("`{instr}{image}` {moving}"),
                    format!("name a version tag and pin its digest: {instr}{repo}:TAG@sha256:... (`docker buildx imagetools inspect {repo}:TAG` prints it)"),
                )
            } else {
                // `release` pins every image a build pulls in the lock, so for a release the
                // tag moving is no hazard: advice for plain `docker build`s, not a warning.
                (
                    Info,
                    format!("`{instr}{image}` has no digest; the tag can move"),
                    format!("pin the digest: {instr}{image}@sha256:... (`docker buildx imagetools inspect {image}` prints it; docker repro release pins it in the lock, but a plain docker build does not)"),
                )
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::moving_tag;
    use crate::check::testutil::rules;
    use crate::check::{check_file, Options};

    #[test]
    fn images_from_args_copy_from_and_mounts() {
        let df = "ARG CUDA=12.1.0\nARG BASE=nvidia/cuda:${CUDA}-devel-ubuntu22.04\nFROM ${BASE} AS build\n\
                  FROM ubuntu\nCOPY --from=busybox:1.36 /bin/busybox /bin/\nCOPY --from=build /a /a\n\
                  RUN --mount=type=bind,from=ghcr.io/astral-sh/uv:latest,source=/uv,target=/bin/uv true\n\
                  FROM pytorch/pytorch:latest-gpu\n";
        let report = check_file(
            df.as_bytes(),
            Path::new("/nonexistent"),
            false,
            &Options::default(),
        );
        let f: Vec<(usize, &str, &str)> = report
            .findings
            .iter()
            .map(|f| (f.line, f.rule, f.fix.as_str()))
            .collect();
        assert!(f.contains(&(3, "from-unpinned", "pin the digest: FROM nvidia/cuda:12.1.0-devel-ubuntu22.04@sha256:... (`docker buildx imagetools inspect nvidia/cuda:12.1.0-devel-ubuntu22.04` prints it; docker repro release pins it in the lock, but a plain docker build does not)")), "{f:?}");
        assert!(f
            .iter()
            .any(|x| x.0 == 4 && x.1 == "from-latest" && x.2.contains("FROM ubuntu:TAG@sha256")));
        assert!(f.iter().any(|x| x.0 == 5
            && x.1 == "from-unpinned"
            && x.2.contains("COPY --from=busybox:1.36@sha256")));
        assert!(f.iter().any(|x| x.0 == 7
            && x.1 == "from-latest"
            && x.2
                .contains("RUN --mount=from=ghcr.io/astral-sh/uv:TAG@sha256")));
        assert!(f.iter().any(|x| x.0 == 8 && x.1 == "from-latest"));
        let message = |line: usize| {
            report
                .findings
                .iter()
                .find(|f| f.line == line)
                .map(|f| f.message.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            message(4),
            "`FROM ubuntu` has no tag, so it is :latest, which moves"
        );
        assert_eq!(
            message(8),
            "`FROM pytorch/pytorch:latest-gpu` follows a moving tag (latest-gpu)"
        );
        assert!(!f.iter().any(|x| x.0 == 6));
        let bases: Vec<(usize, &str, &str)> = report
            .bases
            .iter()
            .map(|b| (b.line, b.reference.as_str(), b.via))
            .collect();
        assert_eq!(bases, [(8, "pytorch/pytorch:latest-gpu", "from")]);
    }

    #[test]
    fn branch_tags_move_and_dated_tags_do_not() {
        for (tag, moving) in [
            ("latest", true),
            ("latest-gpu", true),
            ("3.12-nightly", true),
            ("main-base", true),
            ("master", true),
            ("stable-slim", true),
            ("edge", true),
            ("rolling", true),
            ("nightly_3.10_tpuvm_20250124", false),
            ("nightly-2024-05-01", false),
            ("12.1.0-devel-ubuntu22.04", false),
            ("2.3.0-cuda12.1-cudnn8-devel", false),
            ("24.02-py3", false),
            ("3.19", false),
        ] {
            assert_eq!(moving_tag(tag), moving, "{tag}");
        }
        let df = "FROM axolotlai/axolotl-base-uv:main-base\nFROM us-docker.pkg.dev/p/xla:nightly_3.10_tpuvm_20250124\n";
        assert_eq!(rules(df), [(1, "from-latest"), (2, "from-unpinned")]);
    }
}
