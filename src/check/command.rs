//! A command of a RUN with its wrappers removed (`sudo`, `env X=1`, `conda run -n env`,
//! `xargs`, `python -m pip`, `${PIP}`), and the words of a script expanded as the shell would.

use std::collections::BTreeMap;

use crate::dockerfile::lex::Lex;

/// A command with its wrappers removed: `sudo -E env X=1 conda run -n e python -m pip install x`
/// is `pip` with `install x`.
#[derive(Debug, Default)]
pub(in crate::check) struct Resolved {
    pub(in crate::check) program: String,
    pub(in crate::check) args: Vec<String>,
    /// `X=1` prefixes and `env X=1`.
    pub(in crate::check) env: Vec<(String, String)>,
    /// Its arguments come from stdin (`xargs`).
    pub(in crate::check) xargs: bool,
    /// `sh -c SCRIPT`.
    pub(in crate::check) script: Option<String>,
}

pub(in crate::check) const SHELLS: [&str; 6] = ["sh", "bash", "dash", "zsh", "ash", "ksh"];

pub(in crate::check) fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

pub(in crate::check) fn is_assignment(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once('=')?;
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some((name, value))
}

pub(in crate::check) fn is_python(word: &str) -> bool {
    let b = basename(word);
    b == "python"
        || b.strip_prefix("python")
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

pub(in crate::check) fn is_pip(word: &str) -> bool {
    let b = basename(word);
    b == "pip"
        || b.strip_prefix("pip")
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Expands a word of the script with what the stage knows; what it cannot know stays `$NAME`.
/// An unquoted word is split on whitespace after expansion, as the shell splits fields.
pub(in crate::check) fn expand_word(
    raw: &str,
    vars: &BTreeMap<String, String>,
    expander: &Lex,
) -> Vec<String> {
    if raw.contains("$(") || raw.contains('`') || raw.starts_with("<(") {
        // Kept as written, less the quotes around the whole word (`sh -c "… $(ls) …"`).
        return vec![unquote_whole(raw).to_string()];
    }
    if !raw.contains(['"', '\'', '\\']) {
        // BuildKit's own word splitting drops text before a nested `${…}` (a quirk of its
        // shared buffer that decides no image but would hide `${PKG}${VER:+==$VER}`), so the
        // whole expansion is split here instead.
        return match expander.process_word(raw, vars) {
            Ok(word) => word.split_whitespace().map(str::to_string).collect(),
            Err(_) => vec![raw.to_string()],
        };
    }
    match expander.process_words(raw, vars) {
        Ok(words) if !words.is_empty() => words,
        Ok(_) => Vec::new(),
        Err(_) => vec![raw.trim_matches(['"', '\'']).to_string()],
    }
}

/// The inside of a word that is one quoted string, `$(…)` in it included; else the word.
pub(in crate::check) fn unquote_whole(word: &str) -> &str {
    let Some(q) = word.chars().next().filter(|c| matches!(c, '"' | '\'')) else {
        return word;
    };
    if word.len() < 2 || !word.ends_with(q) {
        return word;
    }
    let inner = &word[1..word.len() - 1];
    let mut depth = 0usize;
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if q == '"' => {
                chars.next();
            }
            '$' if q == '"' && chars.peek() == Some(&'(') => {
                chars.next();
                depth += 1;
            }
            ')' if depth > 0 => depth -= 1,
            c if c == q && depth == 0 => return word,
            _ => {}
        }
    }
    inner
}

/// `"${NAME[@]}"` or `${NAME[*]}`: the name of the array it expands.
pub(in crate::check) fn array_reference(word: &str) -> Option<&str> {
    let inner = word
        .trim_matches('"')
        .strip_prefix("${")?
        .strip_suffix('}')?;
    inner
        .strip_suffix("[@]")
        .or_else(|| inner.strip_suffix("[*]"))
}

pub(in crate::check) fn resolve(words: &[String]) -> Resolved {
    let mut r = Resolved::default();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        if let Some((k, v)) = is_assignment(w) {
            r.env.push((k.into(), v.into()));
            i += 1;
            continue;
        }
        match basename(w) {
            "sudo" => {
                let with_value = ["-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U"];
                i = skip_options(words, i + 1, &with_value, true);
            }
            "env" => i = skip_options(words, i + 1, &["-u", "-C", "--unset", "--chdir"], false),
            // Shell keywords before a command: `if pip install x; then …`.
            "if" | "then" | "else" | "elif" | "do" | "while" | "until" | "{" | "!" | "fi"
            | "done" | "}" => i += 1,
            "nohup" | "time" | "exec" | "command" | "builtin" => i += 1,
            "nice" | "ionice" | "stdbuf" | "timeout" | "chronic" => {
                i = skip_options(words, i + 1, &["-n", "-c", "-s", "-k"], false);
                if basename(w) == "timeout" && i < words.len() {
                    i += 1;
                }
            }
            "xargs" => {
                r.xargs = true;
                let with_value = ["-n", "-I", "-L", "-P", "-d", "-a", "-E", "-s"];
                i = skip_options(words, i + 1, &with_value, false);
            }
            "conda" | "mamba" | "micromamba" | "poetry" | "pipenv" | "pdm" | "hatch" | "uv"
                if words.get(i + 1).map(String::as_str) == Some("run") =>
            {
                let with_value = [
                    "-n",
                    "--name",
                    "-p",
                    "--prefix",
                    "--cwd",
                    "--with",
                    "--python",
                    "-e",
                    "--env",
                    "--extra",
                    "--group",
                    "--package",
                ];
                i = skip_options(words, i + 2, &with_value, false);
            }
            b if SHELLS.contains(&b) => return resolve_shell(r, words, i, b),
            b if is_python(b) => return resolve_python(r, words, i, b),
            b => {
                r.program = if is_pip(b) {
                    "pip".into()
                } else {
                    b.to_string()
                };
                r.args = words[i + 1..].to_vec();
                return r;
            }
        }
    }
    r
}

/// The index after the options from `i` on, and after the value of each option in
/// `with_value`; `--` ends them when `dashdash`.
pub(in crate::check) fn skip_options(
    words: &[String],
    mut i: usize,
    with_value: &[&str],
    dashdash: bool,
) -> usize {
    while i < words.len() && words[i].starts_with('-') {
        let f = words[i].as_str();
        i += 1;
        if dashdash && f == "--" {
            break;
        }
        if with_value.contains(&f) {
            i += 1;
        }
    }
    i
}

/// A shell at `words[i]` (`b`): its `-c` script, or the script file and arguments it runs.
pub(in crate::check) fn resolve_shell(
    mut r: Resolved,
    words: &[String],
    i: usize,
    b: &str,
) -> Resolved {
    let mut j = i + 1;
    while j < words.len() && words[j].starts_with('-')
        || words.get(j).is_some_and(|w| w.starts_with('+'))
    {
        let f = words[j].as_str();
        if f == "-o" || f == "+o" {
            j += 2;
            continue;
        }
        if !f.starts_with("--") && f.contains('c') {
            r.program = b.to_string();
            r.script = words.get(j + 1).cloned();
            return r;
        }
        j += 1;
    }
    r.program = b.to_string();
    r.args = words[j.min(words.len())..].to_vec();
    r
}

/// A Python interpreter at `words[i]` (`b`): `-m pip`, `-m uv`, `-m conda` and `get-pip.py`
/// are those tools; anything else is the interpreter with its arguments.
pub(in crate::check) fn resolve_python(
    mut r: Resolved,
    words: &[String],
    i: usize,
    b: &str,
) -> Resolved {
    // Options of the interpreter, then `-m pip`, `-mpip` or `get-pip.py`.
    let mut j = i + 1;
    while let Some(f) = words.get(j).map(String::as_str) {
        if matches!(f, "-X" | "-W") {
            j += 2;
        } else if f.len() > 1
            && f.starts_with('-')
            && !f.starts_with("--")
            && f[1..].chars().all(|c| "bBdEhiIOqsSuvx".contains(c))
        {
            j += 1;
        } else {
            break;
        }
    }
    let module = match words.get(j).map(String::as_str) {
        Some("-m") => words.get(j + 1).map(|m| (m.as_str(), j + 2)),
        Some(m) if m.len() > 2 && m.starts_with("-m") => Some((&m[2..], j + 1)),
        _ => None,
    };
    match module {
        Some((m, rest)) if m == "pip" || m == "uv" || m == "conda" => {
            r.program = m.to_string();
            r.args = words[rest.min(words.len())..].to_vec();
        }
        // get-pip.py installs the newest pip (and setuptools and wheel on older
        // Pythons) unless pins are given, with pip's own options.
        _ if words
            .get(j)
            .is_some_and(|w| basename(w.trim_matches(['"', '\''])) == "get-pip.py") =>
        {
            let rest = &words[j + 1..];
            let pinned = rest.iter().any(|a| {
                a.strip_prefix("pip")
                    .is_some_and(|v| v.starts_with(['=', '<', '>', '~', '!']))
            });
            r.program = "pip".into();
            r.args = std::iter::once("install".to_string())
                .chain((!pinned).then(|| "pip".to_string()))
                .chain(rest.iter().cloned())
                .collect();
        }
        _ => {
            r.program = b.to_string();
            r.args = words[i + 1..].to_vec();
        }
    }
    r
}
