//! apt, apt-get and aptitude: `apt-without-snapshot`, `apt-unpinned`, `apt-cache-left`,
//! `apt-logs-left`.

use super::{operands, Acc, Cached, Described, Invocation, RunFacts};

/// apt, apt-get and aptitude: an index update without a snapshot, packages without a version; notes
/// installs for the whole RUN.
pub(in crate::check) fn lint_apt(acc: &mut Acc, c: &Invocation, facts: &mut RunFacts) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let sub = c.sub;
    if sub == Some("update") {
        facts.apt_update.get_or_insert(at);
        let snapshot = args
            .iter()
            .any(|a| a.starts_with("--snapshot") || *a == "-S");
        if !snapshot && !facts.snapshot {
            facts
                .apt_live_update
                .get_or_insert((at, format!("{} update", r.program)));
        }
    }
    if matches!(
        sub,
        Some("install" | "upgrade" | "dist-upgrade" | "full-upgrade")
    ) {
        facts.apt_install.push(at);
    }
    if matches!(sub, Some("upgrade" | "dist-upgrade" | "full-upgrade")) {
        facts.apt_floating_install = true;
    }
    if sub == Some("install") && !facts.snapshot {
        if r.xargs {
            facts.apt_floating_install = true;
        }
        for a in operands(args, &["install"], &["-o", "-t", "--target-release", "-c"]) {
            let known = !a.contains('$') && !a.contains('`') && !a.contains('*');
            let local = a.starts_with('/') || a.starts_with('.') || a.ends_with(".deb");
            if a.starts_with('-') || local {
                continue;
            }
            if known && exact_pin(a) {
                facts.apt_pinned_install = true;
            } else {
                facts.apt_floating_install = true;
            }
            if !a.contains('=') && known && !r.xargs {
                acc.add(at, "apt-unpinned", a);
            }
        }
    }
}

/// `pkg=1.2-3`: one version of the package, as a lab's own mirror keeps it.
fn exact_pin(operand: &str) -> bool {
    operand
        .split_once('=')
        .is_some_and(|(name, version)| !name.is_empty() && !version.is_empty())
}

/// An `apt-get update` that reads today's mirror, unless every package the RUN installs is
/// pinned to an exact version (the versions a lab's mirror keeps, which no later index moves).
fn judge_update(acc: &mut Acc, facts: &RunFacts) {
    if let Some((at, update)) = &facts.apt_live_update {
        if facts.apt_floating_install || !facts.apt_pinned_install {
            acc.add(*at, "apt-without-snapshot", update.clone());
        }
    }
}

/// Sources pointing at a snapshot (a date).
pub(in crate::check) fn mentions_snapshot(text: &str) -> bool {
    text.contains("snapshot.debian.org") || text.contains("snapshot.ubuntu.com")
}

/// A RUN's apt lists and logs left in its layer.
pub(in crate::check) fn judge_run(acc: &mut Acc, facts: &RunFacts, cached: &Cached) {
    judge_update(acc, facts);
    if let Some(at) = facts.apt_update {
        if !facts.lists_cleaned && !cached.holds("/var/lib/apt/lists") {
            acc.add(at, "apt-cache-left", "");
        }
    }
    for at in &facts.apt_install {
        if !facts.logs_cleaned {
            acc.add(*at, "apt-logs-left", "");
        }
    }
}

/// The message and the fix of a finding of this family, for exactly the items it is about;
/// `None` for another family's rule.
pub(super) fn describe(rule: &str, items: &[String]) -> Option<Described> {
    use crate::check::Severity::{Info, Warning};
    let list = items.join(", ");
    let first = items.first().cloned().unwrap_or_default();
    Some(match rule {
        "apt-without-snapshot" => (
            Warning,
            format!("`{first}` reads today's mirror; a rebuild later gets other versions"),
            "read a dated snapshot: of the lab's own mirror (an aptly snapshot, or `apt-get update --snapshot DATE` with apt >= 2.7 where the mirror serves snapshots), or of snapshot.debian.org / snapshot.ubuntu.com; or pin every package the RUN installs exactly (pkg=1.2-3)".into(),
        ),
        "apt-unpinned" => (
            Warning,
            format!("apt packages without versions: {list}"),
            "pin each package (pkg=1.2-3, from `apt-cache policy pkg`) or install from a snapshot.debian.org date".into(),
        ),
        "apt-cache-left" => (
            Warning,
            "apt lists stay in the layer (/var/lib/apt/lists)".into(),
            "end the same RUN with `rm -rf /var/lib/apt/lists/*`, or mount them as a cache: RUN --mount=type=cache,target=/var/lib/apt/lists,sharing=locked".into(),
        ),
        "apt-logs-left" => (
            Info,
            "dpkg and apt logs and ldconfig's aux-cache record the build (/var/log/dpkg.log, /var/log/apt, /var/cache/ldconfig/aux-cache)".into(),
            "end the same RUN with `rm -rf /var/log/dpkg.log /var/log/apt /var/log/alternatives.log /var/cache/ldconfig/aux-cache`".into(),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::check::testutil::rules;
    use crate::check::{check_file, lint, Options};

    fn updates(run: &str) -> Vec<(usize, String)> {
        let df = format!("FROM debian:12@sha256:{}\n{run}\n", "1".repeat(64));
        let dir = tempfile::tempdir().unwrap();
        lint(df.as_bytes(), dir.path(), false)
            .into_iter()
            .filter(|f| f.rule == "apt-without-snapshot")
            .map(|f| (f.line, f.fix))
            .collect()
    }

    #[test]
    fn exact_pins_from_the_mirror_need_no_snapshot() {
        for run in [
            "RUN apt-get update && apt-get install -y --no-install-recommends curl=7.88.1-10+deb12u5 git=1:2.39.2-1.1",
            "RUN apt-get update && apt-get install -y -t bookworm-backports python3=3.11.2-1+b1",
            "RUN apt-get update --snapshot 20240501T000000Z && apt-get install -y curl",
        ] {
            assert_eq!(updates(run), [], "{run}");
        }
    }

    #[test]
    fn one_floating_package_or_an_upgrade_reads_todays_index() {
        for run in [
            "RUN apt-get update && apt-get install -y curl=7.88.1-10+deb12u5 git",
            "RUN apt-get update && apt-get install -y curl=",
            "RUN apt-get update && apt-get upgrade -y && apt-get install -y curl=7.88.1-10+deb12u5",
            "RUN apt-get update && apt-get install -y \"curl=$CURL_VERSION\"",
            "RUN apt-get update && apt-get install -y curl=7.88*",
            "RUN apt-get update",
            "RUN apt-get update && xargs apt-get install -y < /pkgs.txt",
        ] {
            assert_eq!(updates(run).len(), 1, "{run}");
        }
    }

    #[test]
    fn the_fix_names_the_labs_own_mirror_beside_the_public_snapshots() {
        let fix = &updates("RUN apt-get update")[0].1;
        for part in [
            "lab's own mirror",
            "aptly",
            "--snapshot",
            "apt >= 2.7",
            "snapshot.debian.org",
            "pkg=1.2-3",
        ] {
            assert!(fix.contains(part), "{part} in {fix}");
        }
    }

    /// Ray's base image lists its apt packages in a bash array inside a heredoc.
    #[test]
    fn packages_in_a_bash_array_are_linted_and_its_elements_are_no_commands() {
        let df = "FROM ubuntu:24.04@sha256:1111111111111111111111111111111111111111111111111111111111111111\n\
                  RUN <<EOF\n#!/bin/bash\nAPT_PKGS=(\n    sudo\n    # a comment\n    wget\n    curl=8.5.0-2ubuntu10\n)\napt-get install -y \"${APT_PKGS[@]}\"\nEOF\n";
        let report = check_file(
            df.as_bytes(),
            Path::new("/nonexistent"),
            false,
            &Options::default(),
        );
        let apt = report
            .findings
            .iter()
            .find(|f| f.rule == "apt-unpinned")
            .expect("apt-unpinned");
        assert_eq!(apt.line, 10);
        assert!(apt.message.ends_with(": sudo, wget"), "{}", apt.message);
        assert_eq!(
            rules(df),
            [(10, "apt-logs-left"), (10, "apt-unpinned")],
            "wget alone on a line is an element, not a download"
        );
    }
}
