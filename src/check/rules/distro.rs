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
fn rpm_versioned(spec: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::rpm_versioned;
    use crate::check::testutil::{only, BASE};

    #[test]
    fn rpm_versions_are_not_numbers_in_names() {
        let df = format!(
            "{BASE}RUN dnf install -y gcc-toolset-13-gcc gcc-toolset-13-gcc-c++\n\
             RUN dnf install -y cuda-toolkit-12-8\n\
             RUN dnf install -y make-4.2.1 bash-5.1.8-6.el9.x86_64 cuda-toolkit-12-8-12.8.1-1 tar-2:1.34-6.el9\n\
             RUN yum install -y java-1.8.0-openjdk\n"
        );
        assert_eq!(only(&df, "dnf-unpinned"), [3, 4, 6]);
        for (spec, pinned) in [
            ("make-4.2.1", true),
            ("make-4.2.1-1.el8", true),
            ("tar-2:1.34-6.el9", true),
            ("gcc-toolset-13-gcc", false),
            ("libcudnn9-cuda-13", false),
            ("java-1.8.0-openjdk", false),
            ("python3.11", false),
        ] {
            assert_eq!(rpm_versioned(spec), pinned, "{spec}");
        }
    }
}
