//! What a failed `docker buildx build --progress=plain` says, in one line: the step that
//! failed and, where its output shows it, why (a refused credential, a path the server does not
//! have, a server nobody answers for, a secret not given).

use std::path::PathBuf;

/// A build that failed, as its log tells it; the log itself is kept at `log`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("building {name} failed at {step}{}; buildx's full log is in {}", .cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default(), .log.display())]
pub struct BuildFailure {
    /// The image the build makes (`lab:base`).
    pub name: String,
    /// The failing step as BuildKit names it, quoted and escaped (`"[2/3] RUN apt-get update"`).
    pub step: String,
    /// Why, when the step's output says it in a way that is known; escaped.
    pub cause: Option<String>,
    pub log: PathBuf,
}

/// The failing step and the cause, when known, of a plain-progress build log (its tail is
/// enough: BuildKit repeats the failing step and its last output at the end).
pub fn read_failure(log: &str) -> (String, Option<String>) {
    let lines: Vec<&str> = log.lines().collect();
    // BuildKit's summary of the failure: "------", " > STEP:", its last output lines, "------".
    let summary = lines
        .iter()
        .rposition(|l| l.starts_with(" > ") && l.ends_with(':'))
        .map(|at| {
            let step = lines[at][3..lines[at].len() - 1].to_string();
            let output: Vec<&str> = lines[at + 1..]
                .iter()
                .take_while(|l| !l.starts_with("------"))
                .copied()
                .collect();
            (step, output)
        });
    let last_error = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("ERROR: "))
        .unwrap_or("");
    let (step, output) = match summary {
        Some((step, output)) => (Some(step), output),
        None => (failed_vertex(&lines), Vec::new()),
    };
    let step = match step {
        Some(step) => quote(&step),
        None => "a step buildx did not name".to_string(),
    };
    let cause = output
        .iter()
        .rev()
        .chain(std::iter::once(&last_error))
        .find_map(|line| cause_of(line));
    (step, cause)
}

/// The name of the vertex of the last `#N ERROR:` line, from its `#N NAME` header.
fn failed_vertex(lines: &[&str]) -> Option<String> {
    let failed = lines.iter().rev().find_map(|l| {
        let (id, rest) = l.split_once(' ')?;
        (id.starts_with('#') && rest.starts_with("ERROR:")).then_some(id)
    })?;
    lines.iter().find_map(|l| {
        let rest = l.strip_prefix(failed)?.strip_prefix(' ')?;
        // The header is the vertex's first line; later ones start with a time or a word.
        (!rest.starts_with(|c: char| c.is_ascii_digit())).then(|| rest.to_string())
    })
}

/// What a line of output says went wrong, when it is one of the failures a mirror, an index or
/// a registry gives; the line itself is quoted after it.
fn cause_of(line: &str) -> Option<String> {
    let lower = line.to_ascii_lowercase();
    let has = |needle: &str| lower.contains(needle);
    let what = if has("secret") && has("not found") {
        "a secret the build needs was not given"
    } else if has("401") || has("unauthorized") {
        "the server refused the credentials (HTTP 401): a token or secret that is wrong or expired"
    } else if has("403 forbidden") || has("error 403") {
        "the server refused access (HTTP 403)"
    } else if has("404") {
        "the server has no such path (HTTP 404): a mirror that moved or was removed"
    } else if has("connection refused")
        || has("can't connect")
        || has("could not connect")
        || has("failed to connect")
        || has("no route to host")
        || has("network is unreachable")
        || has("connection timed out")
        || has("temporary failure in name resolution")
        || has("could not resolve")
        || has("name or service not known")
        || has("no such host")
        || has("bad address")
    {
        "a mirror or server is unreachable"
    } else {
        return None;
    };
    // Output lines start with the time of the step (`0.245 wget: ...`).
    let text = line
        .split_once(' ')
        .filter(|(time, _)| time.parse::<f64>().is_ok())
        .map_or(line, |(_, rest)| rest)
        .trim();
    Some(format!("{what} ({})", quote(text)))
}

fn quote(text: &str) -> String {
    crate::ui::escape(&crate::error::quote(text)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFUSED: &str = "#0 building with \"default\" instance using docker driver\n\n\
#5 [2/2] RUN wget -q -O /Packages \"$MIRROR/Packages\"\n\
#5 0.231 wget: can't connect to remote host (172.17.0.1): Connection refused\n\
#5 ERROR: process \"/bin/sh -c wget -q -O /Packages \\\"$MIRROR/Packages\\\"\" did not complete successfully: exit code: 1\n\
------\n > [2/2] RUN wget -q -O /Packages \"$MIRROR/Packages\":\n\
0.231 wget: can't connect to remote host (172.17.0.1): Connection refused\n------\n\
Dockerfile.base:3\n--------------------\n   3 | >>> RUN wget -q -O /Packages \"$MIRROR/Packages\"\n--------------------\n\
ERROR: failed to solve: process \"/bin/sh -c wget -q -O /Packages \\\"$MIRROR/Packages\\\"\" did not complete successfully: exit code: 1\n";

    #[test]
    fn the_failing_step_and_an_unreachable_mirror() {
        let (step, cause) = read_failure(REFUSED);
        assert_eq!(
            step,
            r#""[2/2] RUN wget -q -O /Packages \"$MIRROR/Packages\"""#
        );
        assert_eq!(
            cause.unwrap(),
            r#"a mirror or server is unreachable ("wget: can't connect to remote host (172.17.0.1): Connection refused")"#
        );
    }

    #[test]
    fn http_errors_a_missing_secret_and_an_unknown_cause() {
        let with = |output: &str| {
            read_failure(&format!(
                "------\n > [3/4] RUN pip install -r r.txt:\n1.02 {output}\n------\nERROR: failed to solve: exit code: 1\n"
            ))
            .1
        };
        assert!(with("wget: server returned error: HTTP/1.1 404 Not Found")
            .unwrap()
            .starts_with("the server has no such path (HTTP 404)"));
        assert!(
            with("ERROR: HTTP error 401 while getting http://172.17.0.1:8082/simple/numpy/")
                .unwrap()
                .starts_with("the server refused the credentials (HTTP 401)")
        );
        assert!(
            with("E: Failed to fetch http://deb.lab/x  Temporary failure in name resolution")
                .unwrap()
                .starts_with("a mirror or server is unreachable")
        );
        assert_eq!(with("make: *** [all] Error 2"), None);
        let (step, cause) = read_failure(
            "#3 [1/2] RUN --mount=type=secret,id=tok,required=true true\n\
             #3 ERROR: secret tok: not found\nERROR: failed to solve: secret tok: not found\n",
        );
        assert_eq!(
            step,
            r#""[1/2] RUN --mount=type=secret,id=tok,required=true true""#
        );
        assert!(cause
            .unwrap()
            .starts_with("a secret the build needs was not given"));
        // Nothing to go by: the step is said to be unnamed, and no cause is made up.
        assert_eq!(
            read_failure("garbage\n"),
            ("a step buildx did not name".to_string(), None)
        );
    }

    #[test]
    fn control_characters_of_the_output_are_escaped() {
        let (step, cause) =
            read_failure("------\n > [1/1] RUN \u{1b}[31mx:\n0.1 curl: (7) Failed to connect \u{1b}]0;t\u{7}\n------\n");
        assert!(!step.contains('\u{1b}') && !cause.as_deref().unwrap().contains('\u{1b}'));
    }
}
