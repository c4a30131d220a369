//! Other distributions' package managers: `apk-unpinned`, `dnf-unpinned` (yum, dnf, microdnf,
//! tdnf, zypper).

use super::{operands, Acc, Described, Invocation};

/// `apk add`: packages without a version.
pub(in crate::check) fn lint_apk(acc: &mut Acc, c: &Invocation) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let with_value = [
        "-X",
        "--repository",
        "-t",
        "--virtual",
        "--root",
        "-p",
        "--arch",
        "--repositories-file",
        "--cache-dir",
        "--keys-dir",
    ];
    for a in operands(args, &["add"], &with_value) {
        if !a.starts_with('-')
            && !a.contains('=')
            && !a.contains('$')
            && !a.ends_with(".apk")
            && !r.xargs
        {
            acc.add(at, "apk-unpinned", a);
        }
    }
}

/// yum, dnf, microdnf, tdnf and zypper installs: packages without a version.
pub(in crate::check) fn lint_rpm_install(acc: &mut Acc, c: &Invocation) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let with_value = [
        "-x",
        "--exclude",
        "--setopt",
        "--installroot",
        "--releasever",
        "--enablerepo",
        "--disablerepo",
    ];
    for a in operands(args, &["install", "groupinstall", "in"], &with_value) {
        if !a.starts_with('-')
            && !rpm_versioned(a)
            && !a.contains('$')
            && !a.contains('/')
            && !a.ends_with(".rpm")
            && !a.starts_with('@')
            && !r.xargs
        {
            acc.add(at, "dnf-unpinned", a);
        }
    }
}

/// `name-version` or `name-version-release` (`make-4.2.1`, `bash-5.1.8-6.el9.x86_64`,
/// `cuda-toolkit-12-8-12.8.1-1`): after some `-`, one or two parts that start with a digit, one
/// with a dot. A number in the name (`gcc-toolset-13-gcc`, `cuda-toolkit-12-8`) is no version.
pub(in crate::check) fn rpm_versioned(spec: &str) -> bool {
    // An epoch (`name-1:2.3-4`) is part of the version.
    let without_epoch = spec.split_once(':').and_then(|(before, after)| {
        let (name, epoch) = before.rsplit_once('-')?;
        epoch
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| format!("{name}-{after}"))
    });
    let spec = without_epoch.as_deref().unwrap_or(spec);
    let parts: Vec<&str> = spec.split('-').collect();
    (1..parts.len()).any(|i| {
        let tail = &parts[i..];
        tail.len() <= 2
            && tail
                .iter()
                .all(|p| p.starts_with(|c: char| c.is_ascii_digit()))
            && tail.iter().any(|p| p.contains('.'))
    })
}

/// The message and the fix of a finding of this family, for exactly the items it is about;
/// `None` for another family's rule.
pub(super) fn describe(rule: &str, items: &[String]) -> Option<Described> {
    use crate::check::Severity::Warning;
    let list = items.join(", ");
    Some(match rule {
        "apk-unpinned" => (
            Warning,
            format!("apk packages without versions: {list}"),
            "pin each package (apk add pkg=1.2.3-r0, from `apk policy pkg`)".into(),
        ),
        "dnf-unpinned" => (
            Warning,
            format!("yum/dnf packages without versions: {list}"),
            "pin each package as name-version-release (from `dnf list --showduplicates name`)"
                .into(),
        ),
        _ => return None,
    })
}
