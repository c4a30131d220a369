//! Ruby gems: `gem-unpinned`.

use super::{operands, Acc, Described, Invocation};

/// `gem install`: gems without a version.
pub(in crate::check) fn lint_gem(acc: &mut Acc, c: &Invocation) {
    let at = c.at;
    let args = &c.args;
    let versioned = args
        .iter()
        .any(|a| matches!(*a, "-v" | "--version") || a.starts_with("--version="));
    if !versioned {
        let with_value = [
            "-i",
            "--install-dir",
            "-n",
            "--bindir",
            "--source",
            "-s",
            "-p",
        ];
        for a in operands(args, &["install"], &with_value) {
            if !a.starts_with('-') && !a.contains(':') && !a.contains('$') && !a.ends_with(".gem") {
                acc.add(at, "gem-unpinned", a);
            }
        }
    }
}

/// The message and the fix of a finding of this family, for exactly the items it is about;
/// `None` for another family's rule.
pub(super) fn describe(rule: &str, items: &[String]) -> Option<Described> {
    use crate::check::Severity::Warning;
    let list = items.join(", ");
    Some(match rule {
        "gem-unpinned" => (
            Warning,
            format!("gems without versions: {list}"),
            "name the version (gem install NAME -v 1.2.3), or bundle install with a committed Gemfile.lock".into(),
        ),
        _ => return None,
    })
}
