//! Bytecode compiled outside pip: `compileall-without-epoch`.

use super::{Acc, Described, Invocation, RunFacts};

/// `python -m compileall` writes .pyc whose header holds each source file's mtime (the time of
/// the checkout, or of the COPY) unless it is told to hash the source: with
/// `--invalidation-mode checked-hash` (or `unchecked-hash`), or by SOURCE_DATE_EPOCH in its
/// environment, which makes checked-hash its default (Python 3.7 and later).
pub(in crate::check) fn lint_compileall(acc: &mut Acc, c: &Invocation, facts: &RunFacts) {
    let args = &c.args;
    let module = args
        .iter()
        .position(|a| *a == "-m")
        .and_then(|i| args.get(i + 1).copied())
        .or_else(|| args.iter().find_map(|a| a.strip_prefix("-m")))
        .filter(|m| !m.is_empty());
    if module != Some("compileall") {
        return;
    }
    let mode = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--invalidation-mode=").or_else(|| {
            (*a == "--invalidation-mode")
                .then(|| args.get(i + 1).copied())
                .flatten()
        })
    });
    let hashed = matches!(mode, Some("checked-hash" | "unchecked-hash"));
    let epoch = c.state.sde || facts.sde || c.prefixed("SOURCE_DATE_EPOCH");
    let timestamps = mode == Some("timestamp");
    if !hashed && (timestamps || !epoch) {
        acc.add(
            c.at,
            "compileall-without-epoch",
            format!("{} -m compileall", c.r.program),
        );
    }
}

pub(super) fn describe(rule: &str, items: &[String]) -> Option<Described> {
    use crate::check::Severity::Warning;
    let first = items.first().cloned().unwrap_or_default();
    Some(match rule {
        "compileall-without-epoch" => (
            Warning,
            format!("`{first}` writes .pyc that record each source file's modification time, which differs between checkouts"),
            "add `--invalidation-mode checked-hash` (the .pyc then holds a hash of the source), or `ARG SOURCE_DATE_EPOCH` in this stage before the RUN (compileall then hashes by default)".into(),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint;

    fn lines(dockerfile_rest: &str) -> Vec<usize> {
        let df = format!("FROM a:1@sha256:{}\n{dockerfile_rest}\n", "1".repeat(64));
        let dir = tempfile::tempdir().unwrap();
        lint(df.as_bytes(), dir.path(), false)
            .into_iter()
            .filter(|f| f.rule == "compileall-without-epoch")
            .map(|f| f.line)
            .collect()
    }

    #[test]
    fn compileall_without_a_hash_or_an_epoch() {
        for df in [
            "RUN python -m compileall /app",
            "RUN python3 -O -m compileall -q -j 0 /opt/venv",
            "RUN python3.11 -mcompileall /app",
            "RUN /opt/conda/bin/python -m compileall --invalidation-mode timestamp /app",
            "ARG SOURCE_DATE_EPOCH\nRUN python -m compileall --invalidation-mode=timestamp /app",
        ] {
            let last = df.lines().count() + 1;
            assert_eq!(lines(df), [last], "{df}");
        }
    }

    #[test]
    fn a_hash_or_an_epoch_makes_it_reproducible() {
        for df in [
            "RUN python -m compileall --invalidation-mode checked-hash /app",
            "RUN python -m compileall --invalidation-mode=unchecked-hash /app",
            "ARG SOURCE_DATE_EPOCH\nRUN python -m compileall /app",
            "ENV SOURCE_DATE_EPOCH=0\nRUN python -m compileall /app",
            "RUN SOURCE_DATE_EPOCH=0 python -m compileall /app",
            "RUN export SOURCE_DATE_EPOCH=0 && python -m compileall /app",
            "RUN python -m pip install --no-cache-dir --no-compile x==1",
            "RUN python -m py_compile /app/x.py && echo compileall",
        ] {
            assert_eq!(lines(df), Vec::<usize>::new(), "{df}");
        }
    }
}
