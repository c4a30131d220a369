//! `check --format sarif`: the findings as a SARIF 2.1.0 log, the form hadolint writes and CI
//! code-scanning tools read: every rule in `tool.driver.rules`, one result per finding with its
//! rule, level, message and the file and line it is on; silenced findings are results with a
//! suppression, so a scanner shows them as dismissed rather than losing them.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::Serialize;

use super::suppress::RULES;
use super::{Finding, Severity};

/// The schema the log conforms to, as OASIS publishes it.
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// How a finding of one file was silenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silenced {
    /// By a `# repro:ignore=` comment in the Dockerfile.
    InSource,
    /// By `--ignore` or `[check] ignore` in repro.toml.
    External,
}

/// One Dockerfile's part of the log.
pub struct FileFindings<'a> {
    pub path: &'a str,
    pub findings: &'a [Finding],
    pub suppressed: Vec<(&'a Finding, Silenced)>,
}

#[derive(Serialize)]
pub struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run; 1],
}

#[derive(Serialize)]
struct Run {
    tool: Tool,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: &'static str,
    short_description: Text,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: [Location; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
}

#[derive(Serialize)]
struct Suppression {
    kind: &'static str,
}

/// Characters a path keeps in a URI reference; the rest (spaces, `#`, `%`, `?`, non-ASCII) are
/// percent-encoded.
const URI_ESCAPED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A Dockerfile's path as a URI reference: relative paths stay relative (to the directory
/// check ran in, where a scanner's checkout is), absolute ones become `file://` URIs.
fn uri(path: &str) -> String {
    let encoded = utf8_percent_encode(path, URI_ESCAPED).to_string();
    if path.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded.trim_start_matches("./").to_string()
    }
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn result(finding: &Finding, path: &str, silenced: Option<Silenced>) -> SarifResult {
    SarifResult {
        rule_id: finding.rule,
        rule_index: RULES.iter().position(|r| *r == finding.rule).unwrap_or(0),
        level: level(finding.severity),
        message: Text {
            text: format!("{} (fix: {})", finding.message, finding.fix),
        },
        locations: [Location {
            physical_location: PhysicalLocation {
                artifact_location: ArtifactLocation { uri: uri(path) },
                region: Region {
                    start_line: finding.line.max(1),
                },
            },
        }],
        suppressions: silenced
            .map(|s| Suppression {
                kind: match s {
                    Silenced::InSource => "inSource",
                    Silenced::External => "external",
                },
            })
            .into_iter()
            .collect(),
    }
}

impl Log {
    /// The log of a check over `files`: a valid log with no results when nothing was found.
    pub fn new(files: &[FileFindings]) -> Log {
        let mut results = Vec::new();
        for file in files {
            results.extend(file.findings.iter().map(|f| result(f, file.path, None)));
            results.extend(
                file.suppressed
                    .iter()
                    .map(|(f, how)| result(f, file.path, Some(*how))),
            );
        }
        Log {
            schema: SCHEMA,
            version: "2.1.0",
            runs: [Run {
                tool: Tool {
                    driver: Driver {
                        name: "docker-repro",
                        version: env!("CARGO_PKG_VERSION"),
                        information_uri: env!("CARGO_PKG_REPOSITORY"),
                        rules: RULES
                            .iter()
                            .map(|id| Rule {
                                id,
                                short_description: Text {
                                    text: super::rules::summary(id).to_string(),
                                },
                            })
                            .collect(),
                    },
                },
                results,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_a_summary_and_results_point_at_their_rule() {
        for rule in RULES {
            assert!(!super::super::rules::summary(rule).is_empty(), "{rule}");
        }
        let finding = Finding {
            line: 3,
            rule: "apt-unpinned",
            severity: Severity::Warning,
            message: "m".into(),
            fix: "f".into(),
        };
        let findings = [finding.clone()];
        let log = Log::new(&[FileFindings {
            path: "./docker/my Dockerfile",
            findings: &findings,
            suppressed: vec![(&finding, Silenced::InSource)],
        }]);
        let json = serde_json::to_value(&log).unwrap();
        let result = &json["runs"][0]["results"][0];
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            json["runs"][0]["tool"]["driver"]["rules"][index]["id"],
            "apt-unpinned"
        );
        assert_eq!(
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "docker/my%20Dockerfile"
        );
        assert!(result.get("suppressions").is_none());
        assert_eq!(
            json["runs"][0]["results"][1]["suppressions"][0]["kind"],
            "inSource"
        );
        assert_eq!(uri("/tmp/a#b/Dockerfile"), "file:///tmp/a%23b/Dockerfile");
    }
}
