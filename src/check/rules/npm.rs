//! npm and yarn: `npm-unlocked`.

use super::{Acc, Described, Invocation};

/// npm and yarn: installs with no lock copied, packages without an exact version.
pub(in crate::check) fn lint_node(acc: &mut Acc, c: &Invocation) {
    let at = c.at;
    let r = c.r;
    let args = &c.args;
    let sub = c.sub;
    let state = c.state;
    match (r.program.as_str(), sub) {
        ("npm", Some("install" | "i" | "add")) => {
            let packages: Vec<&&str> = args
                .iter()
                .skip_while(|a| !matches!(**a, "install" | "i" | "add"))
                .skip(1)
                .filter(|a| !a.starts_with('-') && !a.contains('$'))
                .collect();
            if packages.is_empty() {
                let lock = state.copied.contains("package-lock.json")
                    || state.copied.contains("npm-shrinkwrap.json")
                    || state
                        .copied
                        .iter()
                        .any(|c| c.starts_with("package") && c.contains('*'))
                    || state.copied_context;
                if !lock {
                    acc.add(
                        at,
                        "npm-unlocked",
                        "npm install (no package-lock.json copied)",
                    );
                }
            }
            for p in packages {
                if !exact_npm(p) {
                    acc.add(at, "npm-unlocked", *p);
                }
            }
        }
        ("yarn", Some("add")) | ("yarn", Some("global")) => {
            for p in args
                .iter()
                .skip(1)
                .filter(|a| !a.starts_with('-') && **a != "add" && !a.contains('$'))
            {
                if !exact_npm(p) {
                    acc.add(at, "npm-unlocked", *p);
                }
            }
        }
        _ => {}
    }
}

pub(in crate::check) fn exact_npm(spec: &str) -> bool {
    let spec = spec.trim_matches(['"', '\'']);
    let version = match spec.strip_prefix('@') {
        Some(scoped) => scoped.split_once('@').map(|(_, v)| v),
        None => spec.split_once('@').map(|(_, v)| v),
    };
    version.is_some_and(|v| {
        v.chars().next().is_some_and(|c| c.is_ascii_digit())
            && !v.contains(['^', '~', '*', 'x', '>', '<'])
    }) || spec.contains('/') && !spec.starts_with('@')
        || spec.starts_with('.')
}

/// The message and the fix of a finding of this family, for exactly the items it is about;
/// `None` for another family's rule.
pub(super) fn describe(rule: &str, items: &[String]) -> Option<Described> {
    use crate::check::Severity::Warning;
    let list = items.join(", ");
    Some(match rule {
        "npm-unlocked" => (
            Warning,
            format!("npm installs without a lockfile or an exact version: {list}"),
            "COPY package-lock.json and run `npm ci`; name exact versions (pkg@1.2.3)".into(),
        ),
        _ => return None,
    })
}
