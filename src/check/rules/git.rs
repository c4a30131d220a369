//! git: `git-clone-unpinned`.

use super::{Acc, Described, Invocation, RunFacts};

/// git: notes a clone not fixed to a tag or commit, and a checkout that fixes one.
pub(in crate::check) fn lint_git(c: &Invocation, facts: &mut RunFacts) {
    let at = c.at;
    let args = &c.args;
    // `git -C DIR checkout REF`: skip the options of git itself.
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        i += if matches!(args[i], "-C" | "-c") { 2 } else { 1 };
    }
    let sub = args.get(i).copied();
    let rest = &args[(i + 1).min(args.len())..];
    match sub {
        Some("clone") => {
            let mut url = None;
            let mut fixed = false;
            let mut j = 0;
            while j < rest.len() {
                let a = rest[j];
                if matches!(a, "-b" | "--branch") {
                    fixed |= rest.get(j + 1).is_some_and(|r| is_fixed_ref(r));
                    j += 2;
                    continue;
                }
                if let Some(b) = a.strip_prefix("--branch=") {
                    fixed |= is_fixed_ref(b);
                } else if matches!(
                    a,
                    "--depth"
                        | "-o"
                        | "--origin"
                        | "--reference"
                        | "-c"
                        | "--config"
                        | "-j"
                        | "--jobs"
                        | "--filter"
                        | "--shallow-since"
                        | "--separate-git-dir"
                        | "-u"
                        | "--upload-pack"
                ) {
                    j += 2;
                    continue;
                } else if !a.starts_with('-') && url.is_none() {
                    url = Some(a.to_string());
                }
                j += 1;
            }
            if !fixed {
                let url = url.unwrap_or_else(|| "REPOSITORY".into());
                facts.clones.push((at, url));
            }
        }
        Some("checkout" | "switch" | "reset" | "fetch" | "pull") => {
            let refs: Vec<&&str> = rest.iter().filter(|a| !a.starts_with('-')).collect();
            if refs.iter().any(|r| is_fixed_ref(r)) {
                facts.pinned_checkout = true;
            }
        }
        _ => {}
    }
}

/// `…repo.git#<commit>`: an ADD of a git source at a commit.
pub(in crate::check) fn git_ref_pinned(url: &str) -> bool {
    url.split_once('#')
        .map(|(_, r)| r.split(':').next().unwrap_or(r))
        .is_some_and(is_commit)
}

pub(in crate::check) fn is_commit(s: &str) -> bool {
    (7..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A ref a release would name: a commit, or a version tag (`v1.2.3`, `2.1.0`).
pub(in crate::check) fn is_fixed_ref(s: &str) -> bool {
    let s = s.trim_matches(['"', '\'']);
    if is_commit(s) || s.starts_with('$') {
        return true;
    }
    let v = s.rsplit('/').next().unwrap_or(s);
    let v = v.trim_start_matches(|c: char| c.is_ascii_alphabetic() || c == '-' || c == '_');
    v.chars().next().is_some_and(|c| c.is_ascii_digit()) && v.contains('.')
}

/// A RUN's clones that no checkout in it fixes to a commit or a version tag.
pub(in crate::check) fn judge_run(acc: &mut Acc, facts: &RunFacts) {
    if !facts.pinned_checkout {
        for (at, url) in &facts.clones {
            acc.add(*at, "git-clone-unpinned", url.clone());
        }
    }
}

/// The message and the fix of a finding of this family, for exactly the items it is about;
/// `None` for another family's rule.
pub(super) fn describe(rule: &str, items: &[String]) -> Option<Described> {
    use crate::check::Severity::Warning;
    let first = items.first().cloned().unwrap_or_default();
    Some(match rule {
        "git-clone-unpinned" => (
            Warning,
            format!("`git clone {first}` takes whatever the branch points at today"),
            format!(
                "check out a commit: git clone {first} DIR && git -C DIR checkout <40-hex commit>"
            ),
        ),
        _ => return None,
    })
}
