//! Version ranges the shell reads as redirections: `shell-redirect-version`.

use super::{Acc, Described, Resolved};
use crate::check::shell;

/// Installers whose requirements take `>=`, `<` and `>` ranges.
const RANGE_INSTALLERS: [&str; 9] = [
    "pip",
    "uv",
    "pipx",
    "conda",
    "mamba",
    "micromamba",
    "poetry",
    "pdm",
    "npm",
];

/// `pip install numpy>=1.24` unquoted: the shell installs the newest numpy and writes pip's
/// output into a file named `=1.24`; `torch<2` reads stdin from a file named `2`.
pub(in crate::check) fn lint_redirected_version(
    acc: &mut Acc,
    at: usize,
    r: &Resolved,
    cmd: &shell::Command,
) {
    if RANGE_INSTALLERS.contains(&r.program.as_str()) {
        for written in &cmd.version_redirects {
            acc.add(at, "shell-redirect-version", written.clone());
        }
    }
}

pub(super) fn describe(rule: &str, items: &[String]) -> Option<Described> {
    use crate::check::Severity::Error;
    let first = items.first().cloned().unwrap_or_default();
    let quoted_items = items
        .iter()
        .map(|i| format!("'{i}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let redirect_at = first.find(['>', '<']).unwrap_or(first.len());
    Some(match rule {
        "shell-redirect-version" => (
            Error,
            format!(
                "the shell reads `{first}` as `{}` and a redirection to or from the file `{}`: the range never reaches the installer",
                &first[..redirect_at],
                first.get(redirect_at + 1..).unwrap_or_default()
            ),
            format!("quote each requirement: {quoted_items} (or list them in a requirements file)"),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint;

    fn found(run: &str) -> Vec<(usize, String)> {
        let df = format!("FROM a:1@sha256:{}\n{run}\n", "1".repeat(64));
        let dir = tempfile::tempdir().unwrap();
        lint(df.as_bytes(), dir.path(), false)
            .into_iter()
            .filter(|f| f.rule == "shell-redirect-version")
            .map(|f| (f.line, f.message))
            .collect()
    }

    #[test]
    fn an_unquoted_range_is_a_redirection() {
        for run in [
            "RUN pip install numpy>=1.24",
            "RUN python3 -m pip install --no-cache-dir 'scipy==1.11.4' torch<2",
            "RUN uv pip install transformers>4.40",
            "RUN conda install -y python>=3.10",
            "RUN apt-get update && pip install numpy>=1.24 && rm -rf /var/lib/apt/lists/*",
        ] {
            assert_eq!(found(run).len(), 1, "{run}");
        }
        let message = &found("RUN pip install numpy>=1.24")[0].1;
        assert!(
            message.contains("`numpy` and a redirection to or from the file `=1.24`"),
            "{message}"
        );
    }

    #[test]
    fn a_quoted_or_spaced_range_is_no_redirection() {
        for run in [
            "RUN pip install 'numpy>=1.24' \"torch<2\"",
            "RUN pip install numpy\\>=1.24",
            "RUN pip install -r requirements.txt > /tmp/pip.log",
            "RUN pip install numpy==1.26.4 2>/dev/null",
            "RUN pip install numpy==1.26.4 >>/tmp/log",
            "RUN echo numpy>=1.24",
            "RUN pip install numpy==1.26.4 &>/tmp/log",
        ] {
            assert_eq!(found(run), [], "{run}");
        }
    }
}
