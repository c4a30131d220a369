//! What differs on every build, written into the image: `build-time-content` (the date, the
//! builder's host name, `$RANDOM`, a `uuidgen` or a `mktemp` name in a file).

use super::{Acc, Described};
use crate::check::command::{basename, Resolved};
use crate::check::shell;

/// Programs whose output differs on every build (and `date` unless it is given a fixed time).
const VARYING_PROGRAMS: [&str; 4] = ["date", "hostname", "uuidgen", "mktemp"];

/// Variables whose value differs on every build.
const VARYING_VARIABLES: [&str; 2] = ["RANDOM", "HOSTNAME"];

/// A command that writes into a file what differs on every build: `echo "$(date)" > f`,
/// `date > f`, `uuidgen | tee f`, `sed -i "s/X/$RANDOM/" f`. `words` are its words expanded
/// (a variable set to `$(date)` earlier in the script is `$(date)` here).
pub(in crate::check) fn lint_build_time(
    acc: &mut Acc,
    at: usize,
    r: &Resolved,
    cmd: &shell::Command,
    next: Option<&shell::Command>,
) {
    let into_tee = next.is_some_and(|n| {
        let words: Vec<&str> = n.words.iter().map(String::as_str).collect();
        words.first().is_some_and(|p| basename(p) == "tee")
            && words[1..]
                .iter()
                .any(|w| !w.starts_with('-') && *w != "/dev/null")
    });
    let in_place = r.program == "sed" && r.args.iter().any(|a| a.starts_with("-i"));
    let tee_to_file = r.program == "tee" && r.args.iter().any(|a| !a.starts_with('-'));
    if !(cmd.to_file || into_tee || in_place || tee_to_file) {
        return;
    }
    if VARYING_PROGRAMS.contains(&r.program.as_str())
        && !(r.program == "date" && fixed_date(&r.args.join(" ")))
    {
        let shown: Vec<&str> = std::iter::once(r.program.as_str())
            .chain(r.args.iter().map(String::as_str))
            .collect();
        acc.add(at, "build-time-content", shown.join(" "));
    }
    // What the script writes between single quotes is text, not a command or a variable: the
    // file gets `$(date)` as written, the same on every build.
    let (literal, live): (Vec<String>, Vec<String>) =
        cmd.words.iter().map(|w| single_quoted(w)).fold(
            (Vec::new(), Vec::new()),
            |(mut l, mut o), (inside, outside)| {
                l.extend(varying_parts(&inside));
                o.extend(varying_parts(&outside));
                (l, o)
            },
        );
    for arg in &r.args {
        for source in varying_parts(arg) {
            if !literal.contains(&source) || live.contains(&source) {
                acc.add(at, "build-time-content", source);
            }
        }
    }
    // `cat > f <<EOF` with `$(date)` in the body: an unquoted delimiter expands it.
    let writes_heredoc = cmd.to_file || into_tee || tee_to_file;
    for body in cmd.expanded_heredocs.iter().filter(|_| writes_heredoc) {
        for source in varying_parts(body) {
            acc.add(at, "build-time-content", source);
        }
    }
}

/// A word as the script wrote it, split into what is inside single quotes and what is not.
fn single_quoted(word: &str) -> (String, String) {
    let (mut inside, mut outside) = (String::new(), String::new());
    let (mut quoted, mut double) = (false, false);
    for c in word.chars() {
        match c {
            '\'' if !double => {
                quoted = !quoted;
                inside.push(' ');
                outside.push(' ');
            }
            '"' if !quoted => {
                double = !double;
                outside.push(c);
            }
            c if quoted => inside.push(c),
            c => outside.push(c),
        }
    }
    (inside, outside)
}

/// The parts of a word that differ on every build: `$(date -u)`, `` `hostname` ``, `$RANDOM`,
/// `${HOSTNAME}`.
fn varying_parts(word: &str) -> Vec<String> {
    let mut parts = Vec::new();
    for (i, _) in word.match_indices(['$', '`']) {
        let rest = &word[i..];
        if let Some(inner) = rest.strip_prefix("$(").or_else(|| rest.strip_prefix('`')) {
            let close = if rest.starts_with('`') { '`' } else { ')' };
            let body = inner.split(close).next().unwrap_or(inner);
            let program = body.split_whitespace().next().unwrap_or("");
            let fixed = program == "date" && fixed_date(body);
            if VARYING_PROGRAMS.contains(&basename(program)) && !fixed {
                let open = if close == '`' { "`" } else { "$(" };
                parts.push(format!("{open}{body}{close}"));
            }
            continue;
        }
        let name: String = rest
            .trim_start_matches('$')
            .trim_start_matches('{')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if VARYING_VARIABLES.contains(&name.as_str()) {
            parts.push(format!("${name}"));
        }
    }
    parts
}

/// `date` told which time to print (`-d @$SOURCE_DATE_EPOCH`, `--date=…`, `-r FILE`): the
/// same output on every build.
fn fixed_date(args: &str) -> bool {
    args.split_whitespace().any(|a| {
        a == "-d"
            || a == "-r"
            || a.starts_with("--date")
            || a.starts_with("--reference")
            || a.starts_with("-d@")
    }) || args.contains("SOURCE_DATE_EPOCH")
}

pub(super) fn describe(rule: &str, items: &[String]) -> Option<Described> {
    use crate::check::Severity::Warning;
    let list = items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(match rule {
        "build-time-content" => (
            Warning,
            format!("writes into the image what differs on every build: {list}"),
            "write a value that names the build instead: an ARG the release passes (ARG GIT_COMMIT, ARG VERSION), or the fixed time `date -u -d @$SOURCE_DATE_EPOCH` with ARG SOURCE_DATE_EPOCH; put build metadata in a LABEL, and remove a mktemp file in the same RUN".into(),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint;

    fn lines(run: &str) -> Vec<usize> {
        let df = format!("FROM a:1@sha256:{}\n{run}\n", "1".repeat(64));
        let dir = tempfile::tempdir().unwrap();
        lint(df.as_bytes(), dir.path(), false)
            .into_iter()
            .filter(|f| f.rule == "build-time-content")
            .map(|f| f.line)
            .collect()
    }

    #[test]
    fn the_date_a_host_name_or_a_random_value_written_to_a_file() {
        for run in [
            "RUN echo \"built $(date -u)\" > /etc/build-info",
            "RUN date > /build-date",
            "RUN date +%s >> /etc/stamp",
            "RUN echo `hostname` > /etc/builder",
            "RUN echo $HOSTNAME > /etc/builder",
            "RUN echo ${RANDOM} > /seed",
            "RUN uuidgen > /etc/machine-id",
            "RUN uuidgen | tee /etc/machine-id",
            "RUN STAMP=$(date +%Y%m%d) && echo \"$STAMP\" > /version",
            "RUN sed -i \"s/@BUILD@/$(date)/\" /app/version.py",
            "RUN printf '%s' \"$(mktemp -d)\" > /etc/workdir",
            "RUN python -c 'print(1)' && echo $(date) | tee -a /log.txt",
            "RUN echo 'built on' \"$(hostname)\" > /etc/builder",
            "RUN echo \"it's $(date)\" > /etc/stamp",
            "RUN cat > /etc/build-info <<EOF\nbuilt: $(date -u)\nEOF",
            "RUN tee /etc/build-info <<-END >/dev/null\n\thost: $HOSTNAME\n\tEND",
        ] {
            assert_eq!(lines(run), [2], "{run}");
        }
    }

    #[test]
    fn what_only_the_log_sees_or_a_fixed_time_is_fine() {
        for run in [
            "RUN date",
            "RUN echo \"built $(date -u)\"",
            "RUN date > /dev/null",
            "RUN echo $(hostname) >&2",
            "RUN date -u -d @$SOURCE_DATE_EPOCH > /build-date",
            "RUN echo \"$(date -d @0 +%F)\" > /build-date",
            "RUN echo \"$(date --date=@${SOURCE_DATE_EPOCH})\" > /build-date",
            "RUN TMP=$(mktemp -d) && cd $TMP && make && rm -rf $TMP",
            "RUN sleep $((RANDOM % 3))",
            "RUN echo 'RANDOM' > /notes",
            "RUN echo \"$HOSTNAME_PREFIX\" > /etc/x",
            "RUN echo 'export STAMP=$(date)' >> /etc/profile",
            "RUN echo 'HOST=$HOSTNAME' >> /etc/environment",
            "RUN printf '%s\\n' 'seed=$RANDOM' > /etc/conf",
            "RUN cat > /etc/profile.d/stamp.sh <<'EOF'\nexport STAMP=$(date)\nEOF",
            "RUN cat <<EOF\nbuilt: $(date)\nEOF",
        ] {
            assert_eq!(lines(run), Vec::<usize>::new(), "{run}");
        }
    }
}
