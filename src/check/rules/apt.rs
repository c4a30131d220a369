//! apt, apt-get and aptitude: `apt-without-snapshot`, `apt-unpinned`, `apt-cache-left`,
//! `apt-logs-left`.

use super::{operands, Acc, Described, Invocation, RunFacts};

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
            acc.add(at, "apt-without-snapshot", format!("{} update", r.program));
        }
    }
    if matches!(
        sub,
        Some("install" | "upgrade" | "dist-upgrade" | "full-upgrade")
    ) {
        facts.apt_install.push(at);
    }
    if sub == Some("install") && !facts.snapshot {
        for a in operands(args, &["install"], &["-o", "-t", "--target-release", "-c"]) {
            let known = !a.contains('$') && !a.contains('`') && !a.contains('*');
            if !a.starts_with('-')
                && !a.contains('=')
                && !a.starts_with('/')
                && !a.starts_with('.')
                && !a.ends_with(".deb")
                && known
                && !r.xargs
            {
                acc.add(at, "apt-unpinned", a);
            }
        }
    }
}

/// Sources pointing at a snapshot (a date).
pub(in crate::check) fn mentions_snapshot(text: &str) -> bool {
    text.contains("snapshot.debian.org") || text.contains("snapshot.ubuntu.com")
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
            "point sources at snapshot.debian.org (or snapshot.ubuntu.com) for a fixed date, or use apt-get --snapshot on apt >= 2.7".into(),
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
