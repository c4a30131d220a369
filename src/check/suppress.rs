//! Silencing findings by rule name: the names a lab may ignore, and the one-line error that
//! names a misspelled one with the valid names close to it.

/// Every rule `check` reports, in the order the README's rule table lists them.
pub const RULES: [&str; 25] = [
    "from-latest",
    "from-unpinned",
    "apt-without-snapshot",
    "apt-unpinned",
    "apt-cache-left",
    "apt-logs-left",
    "pip-unpinned",
    "pip-cache-left",
    "uv-unlocked",
    "conda-unlocked",
    "conda-cache-left",
    "python-without-sde",
    "compileall-without-epoch",
    "shell-redirect-version",
    "apk-unpinned",
    "dnf-unpinned",
    "npm-unlocked",
    "gem-unpinned",
    "git-clone-unpinned",
    "download-no-checksum",
    "add-url-no-checksum",
    "curl-pipe-shell",
    "build-time-content",
    "copy-all-without-dockerignore",
    "dockerfile-invalid",
];

/// A rule name `check` knows, as `[check] ignore` in repro.toml lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule(pub &'static str);

/// A rule name that `check` does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule {name:?}{}", close_hint(.close))]
pub struct UnknownRule {
    pub name: String,
    /// The valid names within a few edits of it, closest first.
    pub close: Vec<&'static str>,
}

fn close_hint(close: &[&str]) -> String {
    if close.is_empty() {
        format!("; valid rules: {}", unique_rules().join(", "))
    } else {
        format!("; did you mean {}?", close.join(" or "))
    }
}

fn unique_rules() -> Vec<&'static str> {
    RULES.to_vec()
}

/// The rule named `name`, or an error naming the close valid names.
pub fn parse_rule(name: &str) -> Result<&'static str, UnknownRule> {
    if let Some(rule) = RULES.iter().find(|r| **r == name) {
        return Ok(rule);
    }
    let mut close: Vec<(usize, &'static str)> = unique_rules()
        .into_iter()
        .map(|r| (strsim::levenshtein(name, r), r))
        .filter(|(d, _)| *d <= 3)
        .collect();
    close.sort();
    Err(UnknownRule {
        name: name.to_string(),
        close: close.into_iter().map(|(_, r)| r).collect(),
    })
}

/// A `# repro:ignore=` comment naming a rule `check` does not know, at its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: repro:ignore: {rule}")]
pub struct BadComment {
    pub line: usize,
    pub rule: UnknownRule,
}

/// The rules each `# repro:ignore=RULE[,RULE]` comment silences, by the 1-based line of the
/// instruction it stands before (the next line that is neither blank nor a comment).
pub fn inline_ignores(source: &[u8]) -> Result<Vec<(usize, &'static str)>, BadComment> {
    let text = String::from_utf8_lossy(source);
    let mut silenced = Vec::new();
    let mut pending: Vec<&'static str> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(names) = trimmed
            .strip_prefix('#')
            .map(str::trim_start)
            .and_then(|c| c.strip_prefix("repro:ignore="))
        {
            for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let rule = parse_rule(name).map_err(|rule| BadComment {
                    line: index + 1,
                    rule,
                })?;
                pending.push(rule);
            }
        } else if !trimmed.is_empty() && !trimmed.starts_with('#') {
            silenced.extend(pending.drain(..).map(|rule| (index + 1, rule)));
        }
    }
    Ok(silenced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_silences_the_next_instruction_only() {
        let source = b"FROM a\n# repro:ignore=apt-unpinned, apt-cache-left\n\nRUN apt-get install x\nRUN y\n";
        assert_eq!(
            inline_ignores(source),
            Ok(vec![(4, "apt-unpinned"), (4, "apt-cache-left")])
        );
        let err = inline_ignores(b"FROM a\n#repro:ignore=apt-unpined\nRUN x\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2: repro:ignore: unknown rule \"apt-unpined\"; did you mean apt-unpinned or apk-unpinned?"
        );
    }

    /// The names a lab may ignore are the rules the README's table documents, in its order: a
    /// rule added to one and not the other fails here.
    #[test]
    fn the_rule_names_are_the_readme_table() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("### `docker repro check")
            .nth(1)
            .expect("check section");
        let documented: Vec<&str> = table
            .lines()
            .skip_while(|l| !l.starts_with("| `from-latest`"))
            .take_while(|l| l.starts_with("| `"))
            .map(|l| l.split('`').nth(1).unwrap())
            .collect();
        assert_eq!(documented, RULES);
    }

    #[test]
    fn every_rule_is_known() {
        for rule in RULES {
            assert_eq!(parse_rule(rule), Ok(rule));
        }
    }

    #[test]
    fn a_typo_names_the_close_rule() {
        let err = parse_rule("apt-without-snapshto").unwrap_err();
        assert_eq!(err.close, vec!["apt-without-snapshot"]);
        assert_eq!(
            err.to_string(),
            "unknown rule \"apt-without-snapshto\"; did you mean apt-without-snapshot?"
        );
    }

    #[test]
    fn a_far_name_lists_every_rule() {
        let err = parse_rule("nonsense-rule-name-here").unwrap_err();
        assert!(err.close.is_empty());
        assert!(err
            .to_string()
            .contains("valid rules: from-latest, from-unpinned,"));
    }
}
