//! Splits a RUN script into simple commands for the lint: quotes, escapes, line continuations,
//! comments, `&&` `||` `;` `|` `&` and newlines, `( )` groups, redirections (their targets are
//! not arguments), `$(…)` and backquotes (read again as scripts of their own), and here-documents
//! inside the script (their bodies are data, not commands).
//!
//! It is a reader for a lint, not a shell: a word keeps its quotes (the caller expands it).

/// One simple command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    /// Its words, quotes and `$…` kept, redirections removed.
    pub words: Vec<String>,
    /// 0-based line of the script where it starts.
    pub line: usize,
    /// Its output goes through `|` into the next command.
    pub piped: bool,
    /// Its output is redirected into a file (`> f`, `>> f`, `&> f`; not `/dev/null`, not `>&2`).
    pub to_file: bool,
    /// Redirections glued to the word before them whose target starts like a version
    /// (`numpy>=1.24`, `torch<2`), as written: a requirement the shell took for a redirection.
    pub version_redirects: Vec<String>,
    /// The bodies of its here-documents whose delimiter is unquoted: the shell expands `$…`
    /// and `$(…)` in them before the command reads them.
    pub expanded_heredocs: Vec<String>,
}

/// The simple commands of `script`, those inside `$(…)` and backquotes included (after the
/// command that holds them).
pub fn commands(script: &str) -> Vec<Command> {
    let mut out = Vec::new();
    split(script, 0, &mut out, 0);
    out
}

const MAX_DEPTH: usize = 16;

struct Reader<'a> {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    out: &'a mut Vec<Command>,
    subs: Vec<(String, usize)>,
}

fn split(script: &str, first_line: usize, out: &mut Vec<Command>, depth: usize) {
    let mut r = Reader {
        chars: script.chars().collect(),
        pos: 0,
        line: first_line,
        out,
        subs: Vec::new(),
    };
    r.run();
    let subs = std::mem::take(&mut r.subs);
    if depth < MAX_DEPTH {
        for (sub, line) in subs {
            split(&sub, line, out, depth + 1);
        }
    }
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn run(&mut self) {
        let mut cmd = Command {
            line: self.line,
            ..Default::default()
        };
        let mut word = String::new();
        let mut in_word = false;
        // Each pending here-document: its delimiter, `<<-`, whether it is expanded, and the
        // index its command will have in `out`.
        let mut heredocs: Vec<(String, bool, bool, usize)> = Vec::new();
        macro_rules! end_word {
            () => {
                if in_word {
                    cmd.words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            };
        }
        macro_rules! end_command {
            ($piped:expr) => {
                end_word!();
                if !cmd.words.is_empty() {
                    cmd.piped = $piped;
                    self.out.push(std::mem::take(&mut cmd));
                }
                cmd = Command {
                    line: self.line,
                    ..Default::default()
                };
            };
        }
        while let Some(c) = self.peek() {
            match c {
                '#' if !in_word => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                '\\' => {
                    self.bump();
                    match self.bump() {
                        Some('\n') => {}
                        Some(next) => {
                            word.push('\\');
                            word.push(next);
                            in_word = true;
                        }
                        None => {}
                    }
                }
                '\'' => {
                    self.bump();
                    word.push('\'');
                    while let Some(c) = self.bump() {
                        word.push(c);
                        if c == '\'' {
                            break;
                        }
                    }
                    in_word = true;
                }
                '"' => {
                    self.bump();
                    word.push('"');
                    self.double_quoted(&mut word);
                    in_word = true;
                }
                '`' => {
                    self.bump();
                    let line = self.line;
                    let mut inner = String::new();
                    while let Some(c) = self.bump() {
                        if c == '\\' {
                            if let Some(n) = self.bump() {
                                inner.push(n);
                            }
                            continue;
                        }
                        if c == '`' {
                            break;
                        }
                        inner.push(c);
                    }
                    word.push('`');
                    word.push_str(&inner);
                    word.push('`');
                    self.subs.push((inner, line));
                    in_word = true;
                }
                '$' if matches!(self.peek_at(1), Some('(' | '{')) => {
                    self.dollar(&mut word);
                    in_word = true;
                }
                ' ' | '\t' | '\r' => {
                    self.bump();
                    end_word!();
                }
                '\n' => {
                    self.bump();
                    end_command!(false);
                    for (delimiter, strip_tabs, expanded, owner) in std::mem::take(&mut heredocs) {
                        let body = self.skip_heredoc(&delimiter, strip_tabs);
                        if let Some(owner) = self.out.get_mut(owner).filter(|_| expanded) {
                            owner.expanded_heredocs.push(body);
                        }
                    }
                    cmd.line = self.line;
                }
                // An array assignment `NAME=(a b c)` is one word.
                '(' if in_word && is_array_assignment_start(&word) => {
                    self.bump();
                    let inner = self.balanced(')');
                    word.push('(');
                    word.push_str(&inner);
                    word.push(')');
                }
                ';' | '(' | ')' => {
                    self.bump();
                    end_command!(false);
                }
                '&' => {
                    self.bump();
                    if self.peek() == Some('>') {
                        end_word!();
                        self.bump();
                        if self.peek() == Some('>') {
                            self.bump();
                        }
                        let target = self.redirect_target();
                        cmd.to_file |= writes_file(&target);
                    } else {
                        if self.peek() == Some('&') {
                            self.bump();
                        }
                        end_command!(false);
                    }
                }
                '|' => {
                    self.bump();
                    match self.peek() {
                        Some('|') => {
                            self.bump();
                            end_command!(false);
                        }
                        Some('&') => {
                            self.bump();
                            end_command!(true);
                        }
                        _ => {
                            end_command!(true);
                        }
                    }
                }
                '>' | '<' => {
                    // A word of digits just before is a file descriptor.
                    let fd =
                        in_word && !word.is_empty() && word.chars().all(|c| c.is_ascii_digit());
                    let fd_number = if fd { word.clone() } else { String::new() };
                    let glued_to = (in_word && !fd).then(|| word.clone());
                    if fd {
                        word.clear();
                        in_word = false;
                    }
                    end_word!();
                    self.bump();
                    if c == '<' && self.peek() == Some('(') {
                        // Process substitution <(…): a script of its own.
                        self.bump();
                        let line = self.line;
                        let inner = self.balanced(')');
                        cmd.words.push(format!("<({inner})"));
                        self.subs.push((inner, line));
                        continue;
                    }
                    if c == '<' && self.peek() == Some('<') {
                        self.bump();
                        if self.peek() == Some('<') {
                            self.bump();
                            self.redirect_target();
                            continue;
                        }
                        let strip_tabs = self.peek() == Some('-');
                        if strip_tabs {
                            self.bump();
                        }
                        let target = self.redirect_target();
                        let delimiter: String = target
                            .chars()
                            .filter(|c| !matches!(c, '\'' | '"' | '\\'))
                            .collect();
                        if !delimiter.is_empty() {
                            let expanded = delimiter.len() == target.len();
                            heredocs.push((delimiter, strip_tabs, expanded, self.out.len()));
                        }
                        continue;
                    }
                    let doubled = self.peek().filter(|n| matches!(n, '>' | '|' | '&'));
                    if doubled.is_some() {
                        self.bump();
                    }
                    let target = self.redirect_target();
                    // `>&2`, `>&-`: a descriptor duplicated or closed, no file.
                    let duplicates = doubled == Some('&')
                        && (target == "-" || target.chars().all(|t| t.is_ascii_digit()));
                    if let Some(before) = glued_to.filter(|_| doubled.is_none()) {
                        if target.starts_with(|t: char| t == '=' || t.is_ascii_digit()) {
                            cmd.version_redirects.push(format!("{before}{c}{target}"));
                        }
                    }
                    if c == '>' && fd_number != "2" && !duplicates {
                        cmd.to_file |= writes_file(&target);
                    }
                }
                _ => {
                    self.bump();
                    word.push(c);
                    in_word = true;
                }
            }
        }
        if in_word {
            cmd.words.push(word);
        }
        if !cmd.words.is_empty() {
            self.out.push(cmd);
        }
    }

    /// After an opening `"`: to the closing one, `$(…)` read as a script.
    fn double_quoted(&mut self, word: &mut String) {
        while let Some(c) = self.peek() {
            match c {
                '\\' => {
                    self.bump();
                    word.push('\\');
                    if let Some(n) = self.bump() {
                        word.push(n);
                    }
                }
                '"' => {
                    self.bump();
                    word.push('"');
                    return;
                }
                '$' if matches!(self.peek_at(1), Some('(' | '{')) => self.dollar(word),
                '`' => {
                    self.bump();
                    let line = self.line;
                    let mut inner = String::new();
                    while let Some(c) = self.bump() {
                        if c == '`' {
                            break;
                        }
                        inner.push(c);
                    }
                    word.push('`');
                    word.push_str(&inner);
                    word.push('`');
                    self.subs.push((inner, line));
                }
                _ => {
                    self.bump();
                    word.push(c);
                }
            }
        }
    }

    /// At `$(` or `${`: the balanced text, kept in the word; a command substitution is also
    /// read as a script.
    fn dollar(&mut self, word: &mut String) {
        self.bump();
        let open = self.bump().unwrap_or('(');
        let close = if open == '(' { ')' } else { '}' };
        let line = self.line;
        let inner = self.balanced(close);
        word.push('$');
        word.push(open);
        word.push_str(&inner);
        word.push(close);
        if open == '(' && !inner.starts_with('(') {
            self.subs.push((inner, line));
        }
    }

    /// Up to the `close` that balances, quotes respected; the text inside. Inside `$(…)`, the
    /// `)` ending a pattern of a `case … in … esac` closes nothing.
    fn balanced(&mut self, close: char) -> String {
        let open = if close == ')' { '(' } else { '{' };
        let mut depth = 1usize;
        let mut inner = String::new();
        // The `case`s open inside, each with the depth it was opened at; a word is a keyword
        // only where a command starts.
        let mut cases: Vec<usize> = Vec::new();
        let mut name = String::new();
        let mut command_start = true;
        let mut name_at_start = false;
        while let Some(c) = self.bump() {
            if close == ')' {
                if c.is_ascii_alphanumeric() || c == '_' {
                    if name.is_empty() {
                        name_at_start = command_start;
                    }
                    name.push(c);
                } else {
                    if !name.is_empty() {
                        command_start = name_at_start
                            && matches!(
                                name.as_str(),
                                "then" | "do" | "else" | "elif" | "if" | "while" | "until" | "esac"
                            );
                        if name_at_start && name == "case" {
                            cases.push(depth);
                        } else if name_at_start && name == "esac" && cases.last() == Some(&depth) {
                            cases.pop();
                        }
                        name.clear();
                    }
                    if matches!(c, ';' | '&' | '|' | '(' | '\n') {
                        command_start = true;
                    } else if !matches!(c, ' ' | '\t') {
                        command_start = false;
                    }
                }
                if c == ')' && cases.last() == Some(&depth) {
                    inner.push(c);
                    // A pattern ends: a command starts.
                    command_start = true;
                    continue;
                }
            }
            match c {
                '\\' => {
                    inner.push(c);
                    if let Some(n) = self.bump() {
                        inner.push(n);
                    }
                    continue;
                }
                '\'' | '"' => {
                    inner.push(c);
                    while let Some(q) = self.bump() {
                        inner.push(q);
                        if q == '\\' && c == '"' {
                            if let Some(n) = self.bump() {
                                inner.push(n);
                            }
                            continue;
                        }
                        if q == c {
                            break;
                        }
                    }
                    continue;
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return inner;
                    }
                }
                _ => {}
            }
            inner.push(c);
        }
        inner
    }

    /// The word after a redirection operator.
    fn redirect_target(&mut self) -> String {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
        let mut target = String::new();
        while let Some(c) = self.peek() {
            if matches!(
                c,
                ' ' | '\t' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>'
            ) {
                break;
            }
            self.bump();
            if c == '\'' || c == '"' {
                target.push(c);
                while let Some(q) = self.bump() {
                    target.push(q);
                    if q == c {
                        break;
                    }
                }
                continue;
            }
            target.push(c);
        }
        target
    }

    /// Reads a here-document's body up to its delimiter line; the body.
    fn skip_heredoc(&mut self, delimiter: &str, strip_tabs: bool) -> String {
        let mut body = String::new();
        loop {
            let start = self.pos;
            if start >= self.chars.len() {
                return body;
            }
            while self.peek().is_some_and(|c| c != '\n') {
                self.bump();
            }
            let mut text: String = self.chars[start..self.pos].iter().collect();
            self.bump();
            if strip_tabs {
                text = text.trim_start_matches('\t').to_string();
            }
            if text.trim_end_matches('\r') == delimiter {
                return body;
            }
            body.push_str(&text);
            body.push('\n');
        }
    }
}

/// `NAME=` or `NAME+=`, just before a `(`.
fn is_array_assignment_start(word: &str) -> bool {
    let name = word
        .strip_suffix("+=")
        .or_else(|| word.strip_suffix('='))
        .unwrap_or("");
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The elements of a bash array literal `(a "b" # comment\n c)`, written as `NAME=(…)`.
pub fn array_elements(word: &str) -> Option<(&str, Vec<String>)> {
    let (name, value) = word.split_once('=')?;
    let name = name.strip_suffix('+').unwrap_or(name);
    let inner = value.strip_prefix('(')?.strip_suffix(')')?;
    if !is_array_assignment_start(&format!("{name}=")) {
        return None;
    }
    let mut elements = Vec::new();
    for line in inner.lines() {
        for w in line.split_whitespace() {
            if w.starts_with('#') {
                break;
            }
            elements.push(w.trim_matches(['"', '\'']).to_string());
        }
    }
    Some((name, elements))
}

fn writes_file(target: &str) -> bool {
    !(target.is_empty() || target.starts_with('&') || target == "/dev/null")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(script: &str) -> Vec<(usize, Vec<String>, bool)> {
        commands(script)
            .into_iter()
            .map(|c| (c.line, c.words, c.piped))
            .collect()
    }

    fn w(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn operators_quotes_comments_and_lines() {
        assert_eq!(
            words("a 'b c' && d \"e;f\" || g; h | i # j k\nl\\\n m 2>&1 > /tmp/x"),
            [
                (0, w(&["a", "'b c'"]), false),
                (0, w(&["d", "\"e;f\""]), false),
                (0, w(&["g"]), false),
                (0, w(&["h"]), true),
                (0, w(&["i"]), false),
                (1, w(&["l", "m"]), false),
            ]
        );
        let c = commands("curl -o- x > f");
        assert!(c[0].to_file);
        assert!(!commands("echo x > /dev/null")[0].to_file);
        assert!(!commands("echo x >&2")[0].to_file);
        assert!(!commands("echo x 1>&2")[0].to_file);
        assert!(commands("echo x >& /tmp/log")[0].to_file);
        let doc =
            commands("cat > f <<EOF && true\nat $(date)\nEOF\ncat > g <<'EOF'\n$(date)\nEOF\n");
        assert_eq!(doc[0].expanded_heredocs, ["at $(date)\n"]);
        assert!(doc.iter().skip(1).all(|c| c.expanded_heredocs.is_empty()));
        let c = commands("pip install numpy>=1.24 'scipy>=1' torch<2 x >=1 2>err a>>b");
        assert_eq!(c[0].version_redirects, ["numpy>=1.24", "torch<2"]);
        assert_eq!(
            c[0].words,
            w(&["pip", "install", "numpy", "'scipy>=1'", "torch", "x", "a"])
        );
    }

    #[test]
    fn substitutions_and_heredocs() {
        assert_eq!(
            words("bash -c \"$(curl -fsSL https://x/install.sh)\"\ncat > f <<'EOF'\npip install x\nEOF\necho done"),
            [
                (0, w(&["bash", "-c", "\"$(curl -fsSL https://x/install.sh)\""]), false),
                (1, w(&["cat"]), false),
                (4, w(&["echo", "done"]), false),
                (0, w(&["curl", "-fsSL", "https://x/install.sh"]), false),
            ]
        );
        assert_eq!(
            words("sh <(wget -qO- u)")[0].1,
            w(&["sh", "<(wget -qO- u)"])
        );
    }

    #[test]
    fn an_array_literal_is_one_word_not_commands() {
        let c = commands("PKGS=(\n  curl\n  # for the build\n  git \"make\"\n)\napt-get install -y \"${PKGS[@]}\"");
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[1].line, 5);
        let (name, elements) = array_elements(&c[0].words[0]).unwrap();
        assert_eq!((name, elements), ("PKGS", w(&["curl", "git", "make"])));
        // A subshell is still a subshell.
        assert_eq!(words("(cd x && make)")[0].1, w(&["cd", "x"]));
    }

    #[test]
    fn a_case_pattern_inside_a_substitution_closes_nothing() {
        let script = "curl -fsSL https://x/go.linux-$(case $(uname -m) in x86_64) echo amd64 ;; aarch64) echo arm64 ;; esac).tar.gz | tar xz";
        let c = commands(script);
        assert_eq!(
            (c[0].words.len(), c[0].piped),
            (3, true),
            "{:?}",
            c[0].words
        );
        assert!(c[0].words[2].ends_with("esac).tar.gz"), "{:?}", c[0].words);
        assert_eq!(c[1].words, w(&["tar", "xz"]));
        // A case word that is part of another word opens nothing.
        let c = commands("echo $(showcase x) y");
        assert_eq!(c[0].words, w(&["echo", "$(showcase x)", "y"]));
        let c = commands("echo $(echo case) y");
        assert_eq!(c[0].words, w(&["echo", "$(echo case)", "y"]));
    }
}
