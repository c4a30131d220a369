//! A port of BuildKit's Dockerfile parser (`frontend/dockerfile/parser/`, moby/buildkit
//! 73ed6825): lines and continuations, the `# escape=`/`# syntax=`/`# check=` directives, a UTF-8
//! BOM, comments and empty lines inside continuations, instruction flags, the per-instruction
//! argument rules (JSON arrays, `ENV`/`LABEL` pairs, `ARG` words, `ONBUILD`), and heredocs
//! (`<<EOF`, `<<-EOF`, `<<"EOF"`, `<< EOF`, several per line), detected with the shell lexer
//! exactly as BuildKit does, so a `<<` inside quotes is not one.

use super::lex::{is_space, Lex, NoEnv};

/// Go's `bufio.MaxScanTokenSize`: a longer line makes BuildKit refuse the file.
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub chomp: bool,
    pub expand: bool,
    /// The body, each line with its newline, leading tabs kept.
    pub content: String,
    /// 1-based line of the body's first line.
    pub first_line: usize,
}

/// One instruction (BuildKit's `Node` flattened): keyword as written, flags, arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    pub value: String,
    /// `--name=value` words before the arguments, as BuildKit's parser leaves them.
    pub flags: Vec<String>,
    /// The argument chain (`node.Next...`): one string for shell-form RUN/CMD, the words of
    /// FROM/ARG/COPY, key/value/separator triples for ENV and LABEL.
    pub args: Vec<String>,
    /// `ONBUILD`'s instruction.
    pub sub: Option<Box<Node>>,
    pub json: bool,
    pub heredocs: Vec<Heredoc>,
    /// The instruction's text, continuation lines joined and comments dropped.
    pub original: String,
    pub start_line: usize,
    pub end_line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub nodes: Vec<Node>,
    pub escape: char,
    /// `# syntax=` / `# escape=` / `# check=` values, lower-case names.
    pub directives: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
    /// What was read before the error, for a linter that goes on anyway.
    pub partial: Vec<Node>,
    pub escape: char,
}

struct Directives {
    escape: char,
    line: usize,
    done: bool,
    seen: Vec<(String, String)>,
}

impl Directives {
    /// `possibleParserDirective`: a directive is a `#` comment at the very top.
    fn possible(&mut self, line: &str) -> Result<bool, String> {
        self.line += 1;
        if self.done {
            return Ok(false);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(false);
        };
        let rest = rest.trim_start_matches(is_space);
        let Some((key, value)) = directive(rest) else {
            self.done = true;
            return Ok(false);
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.iter().any(|(k, _)| *k == key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push((key.clone(), value.to_string()));
        if key == "escape" {
            match value {
                "`" => self.escape = '`',
                "\\" => self.escape = '\\',
                _ => {
                    return Err(format!(
                        "invalid escape token '{value}' does not match ` or \\"
                    ))
                }
            }
        }
        Ok(true)
    }
}

/// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` with Go's ASCII `\s`.
fn directive(line: &str) -> Option<(&str, &str)> {
    let go_space = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
    let first = line.chars().next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let key_end = line
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(line.len());
    let key = &line[..key_end];
    let rest = line[key_end..].trim_start_matches(go_space);
    let rest = rest.strip_prefix('=')?;
    let value = rest.trim_start_matches(go_space).trim_end_matches(go_space);
    if value.is_empty() || value.contains('\n') {
        return None;
    }
    Some((key, value))
}

fn is_comment(line: &str) -> bool {
    line.trim_start_matches(is_space).starts_with('#')
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// `trimContinuationCharacter`: BuildKit's regex `([^E])E[ \t]*$|^E[ \t]*$` for escape E.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    let Some(head) = trimmed.strip_suffix(escape) else {
        return (line.to_string(), true);
    };
    match head.chars().next_back() {
        None => (String::new(), false),
        Some(c) if c != escape => (head.to_string(), false),
        Some(_) => (line.to_string(), true),
    }
}

/// Splits like Go's `bufio.Scanner` with BuildKit's `scanLines` (newlines kept); a line too long
/// for the scanner ends the input, with the error BuildKit reports after parsing what came before.
fn scan_lines(text: &str) -> (Vec<&str>, Option<String>) {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, more) = match rest.find('\n') {
            Some(i) => rest.split_at(i + 1),
            None => (rest, ""),
        };
        let too_long = if line.ends_with('\n') {
            line.len() > MAX_LINE
        } else {
            line.len() >= MAX_LINE
        };
        if too_long {
            return (
                lines,
                Some(format!(
                    "dockerfile line greater than max allowed size of {}",
                    MAX_LINE - 1
                )),
            );
        }
        lines.push(line);
        rest = more;
    }
    (lines, None)
}

/// `Parse`: the instructions of a Dockerfile, as BuildKit reads them.
pub fn parse(source: &[u8]) -> Result<Parsed, SyntaxError> {
    let source = source.strip_prefix(b"\xef\xbb\xbf").unwrap_or(source);
    let text = String::from_utf8_lossy(source);
    let (lines, scan_error) = scan_lines(&text);
    let mut d = Directives {
        escape: '\\',
        line: 0,
        done: false,
        seen: Vec::new(),
    };
    let mut nodes: Vec<Node> = Vec::new();
    let mut current = 0usize;
    let mut it = lines.into_iter();
    let fail = |line: usize, message: String, nodes: &Vec<Node>, escape: char| SyntaxError {
        line,
        message,
        partial: nodes.clone(),
        escape,
    };
    while let Some(raw) = it.next() {
        // Ctrl-C ends a long read; the caller tells it from a syntax error by the flag.
        if crate::cancel::requested() {
            return Err(fail(current + 1, "interrupted".into(), &nodes, d.escape));
        }
        let token = trim_newline(raw).trim_start_matches(is_space);
        d.possible(token)
            .map_err(|m| fail(current + 1, m, &nodes, d.escape))?;
        let read = if is_comment(token) { "" } else { token };
        current += 1;
        let start = current;
        let (read, mut end_of_line) = trim_continuation(read, d.escape);
        if end_of_line && read.is_empty() {
            continue;
        }
        let mut buf = read;
        while !end_of_line {
            let Some(next) = it.next() else { break };
            d.line += 1;
            current += 1;
            if is_comment(next) {
                continue;
            }
            let token = trim_newline(next);
            if token.trim_start_matches(is_space).is_empty() {
                continue;
            }
            let (read, eol) = trim_continuation(token, d.escape);
            end_of_line = eol;
            buf.push_str(&read);
        }
        let mut node =
            node_from_line(&buf, d.escape).map_err(|m| fail(start, m, &nodes, d.escape))?;
        if can_contain_heredoc(&node) && buf.contains("<<") {
            let docs = heredocs_from_line(&buf).map_err(|m| fail(start, m, &nodes, d.escape))?;
            for mut doc in docs {
                doc.first_line = current + 1;
                let mut terminated = false;
                let mut content = String::new();
                for body in it.by_ref() {
                    current += 1;
                    let mut candidate = trim_newline(body);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(body);
                }
                if !terminated {
                    return Err(fail(start, "unterminated heredoc".into(), &nodes, d.escape));
                }
                doc.content = content;
                node.heredocs.push(doc);
            }
        }
        node.start_line = start;
        node.end_line = current;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(fail(
            current,
            "file with no instructions".into(),
            &nodes,
            d.escape,
        ));
    }
    if let Some(message) = scan_error {
        return Err(fail(current, message, &nodes, d.escape));
    }
    Ok(Parsed {
        nodes,
        escape: d.escape,
        directives: d.seen,
    })
}

fn can_contain_heredoc(node: &Node) -> bool {
    let node = match &node.sub {
        Some(sub) if node.value.eq_ignore_ascii_case("onbuild") => sub,
        _ => node,
    };
    let v = node.value.to_ascii_lowercase();
    matches!(v.as_str(), "add" | "copy" | "run") && !node.json
}

/// Go's `reWhitespace` (`[\t\v\f\r ]+`).
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

fn split_re_whitespace(s: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        if n > 0 && out.len() + 1 == n {
            out.push(rest);
            return out;
        }
        match rest.find(is_re_space) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = rest[i..].trim_start_matches(is_re_space);
            }
            None => {
                out.push(rest);
                return out;
            }
        }
    }
}

/// `newNodeFromLine`.
pub fn node_from_line(line: &str, escape: char) -> Result<Node, String> {
    let trimmed = line.trim_matches(is_space);
    let parts = split_re_whitespace(trimmed, 2);
    let cmd = parts[0].to_string();
    let (args, flags) = match parts.get(1) {
        Some(rest) => extract_builder_flags(rest, escape),
        None => (String::new(), Vec::new()),
    };
    let args = args.trim_matches(is_space).to_string();
    let mut node = Node {
        value: cmd.clone(),
        flags,
        original: line.to_string(),
        ..Default::default()
    };
    match cmd.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => {
            let (list, json) = parse_maybe_json_to_list(&args)?;
            node.args = list;
            node.json = json;
        }
        "arg" => node.args = parse_words(&args, escape),
        "cmd" | "entrypoint" | "run" | "shell" => {
            let (list, json) = parse_maybe_json(&args)?;
            node.args = list;
            node.json = json;
        }
        "env" => node.args = parse_name_val(&args, "ENV", escape)?,
        "label" => node.args = parse_name_val(&args, "LABEL", escape)?,
        "expose" | "from" => node.args = parse_strings_whitespace_delimited(&args),
        "healthcheck" => {
            let sep = args.find(is_space_byte_char).unwrap_or(args.len());
            if sep > 0 {
                let next = args[sep..].trim_start_matches(is_space_byte_char);
                let (list, json) = parse_maybe_json(next)?;
                node.args = std::iter::once(args[..sep].to_string())
                    .chain(list)
                    .collect();
                node.json = json;
            }
        }
        "maintainer" | "stopsignal" | "user" | "workdir" if !args.is_empty() => {
            node.args = vec![args];
        }
        "onbuild" if !args.is_empty() => {
            node.sub = Some(Box::new(node_from_line(&args, escape)?));
        }
        _ => {}
    }
    Ok(node)
}

/// `unicode.IsSpace(rune(rest[i]))` on a byte, as parseHealthConfig does.
fn is_space_byte_char(c: char) -> bool {
    c.is_ascii() && is_space(c)
}

/// `extractBuilderFlags`: Go walks bytes here, so a non-ASCII byte is read as a Latin-1 char.
fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
    let bytes = line.as_bytes();
    let escape = escape as u32 as u8;
    let mut words = Vec::new();
    let mut word = String::new();
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let mut phase = Phase::Spaces;
    let mut quote = 0u8;
    let mut blank_ok = false;
    let space = |b: u8| is_space(char::from(b));
    let rest_at = |pos: usize| String::from_utf8_lossy(&bytes[pos..]).into_owned();
    let mut pos = 0;
    while pos <= bytes.len() {
        let ch = bytes.get(pos).copied().unwrap_or(0);
        if phase == Phase::Spaces {
            if pos == bytes.len() {
                break;
            }
            if space(ch) {
                pos += 1;
                continue;
            }
            if ch != b'-' || pos + 1 == bytes.len() || bytes[pos + 1] != b'-' {
                return (rest_at(pos), words);
            }
            phase = Phase::Word;
        }
        if pos == bytes.len() {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if space(ch) {
                phase = Phase::Spaces;
                if word == "--" {
                    return (rest_at(pos), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            let mut c = ch;
            if ch == escape {
                if pos + 1 == bytes.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                c = bytes[pos];
            }
            word.push(char::from(c));
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        let mut c = ch;
        if ch == escape {
            if pos + 1 == bytes.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            c = bytes[pos];
        }
        word.push(char::from(c));
        pos += 1;
    }
    (String::new(), words)
}

/// `parseWords`: words with their quotes kept (the lexer removes them later).
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut pos = 0;
    while pos <= chars.len() {
        let mut ch = chars.get(pos).copied().unwrap_or('\0');
        if phase == Phase::Spaces {
            if pos == chars.len() {
                break;
            }
            if is_space(ch) {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if pos == chars.len() {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if is_space(ch) {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(ch);
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let parts = split_re_whitespace(rest, 2);
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(vec![parts[0].into(), parts[1].into(), String::new()]);
    }
    let mut out = Vec::new();
    for word in &words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ));
        };
        out.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(out)
}

fn parse_strings_whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    split_re_whitespace(rest, 0)
        .into_iter()
        .map(str::to_string)
        .collect()
}

enum JsonError {
    NotArray,
    NotStrings,
}

fn parse_json(rest: &str) -> Result<Vec<String>, JsonError> {
    let rest = rest.trim_start_matches(is_space);
    if !rest.starts_with('[') {
        return Err(JsonError::NotArray);
    }
    let values: Vec<serde_json::Value> =
        serde_json::from_str(rest).map_err(|_| JsonError::NotArray)?;
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(JsonError::NotStrings),
        })
        .collect()
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

fn parse_maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match parse_json(rest) {
        Ok(list) => Ok((list, true)),
        Err(JsonError::NotStrings) => Err(NOT_STRINGS.into()),
        Err(JsonError::NotArray) => Ok((vec![rest.to_string()], false)),
    }
}

fn parse_maybe_json_to_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    match parse_json(rest) {
        Ok(list) => Ok((list, true)),
        Err(JsonError::NotStrings) => Err(NOT_STRINGS.into()),
        Err(JsonError::NotArray) => Ok((parse_strings_whitespace_delimited(rest), false)),
    }
}

/// `heredocsFromLine`: the heredocs an instruction line opens, in order.
pub fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let mut lex = Lex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    lex.skip_unset_env = true;
    let words = lex.process_words(line, &NoEnv).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// `ParseHeredoc`: `^(\d*)<<(-?)\s*([^<]*)$`, then the word must lex to exactly one word.
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches(['\t', '\n', '\x0c', '\r', ' ']);
    if rest.contains('<') || rest.is_empty() {
        return Ok(None);
    }
    let mut lex = Lex::new('\\');
    lex.skip_unset_env = true;
    let words = lex.process_words(rest, &NoEnv).map_err(|e| e.0)?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &NoEnv).map_err(|e| e.0)?;
    if raw.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    Ok(Some(Heredoc {
        name: words[0].clone(),
        chomp,
        expand: quotes(&words[0]) == quotes(&raw[0]),
        content: String::new(),
        first_line: 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(src: &str) -> Vec<(usize, String)> {
        parse(src.as_bytes())
            .unwrap()
            .nodes
            .iter()
            .map(|n| (n.start_line, n.value.to_ascii_uppercase()))
            .collect()
    }

    #[test]
    fn continuations_comments_and_escaped_backslashes() {
        let src = "FROM a \\\n  # comment\n\n  AS b\nRUN echo \\\\\nFROM c\n";
        assert_eq!(
            lines(src),
            [(1, "FROM".into()), (5, "RUN".into()), (6, "FROM".into())]
        );
        let p = parse(src.as_bytes()).unwrap();
        assert_eq!(p.nodes[0].args, ["a", "AS", "b"]);
    }

    #[test]
    fn bom_and_escape_directive() {
        let p = parse("\u{feff}# escape=`\nFROM a `\n AS b\nRUN dir c:\\\n".as_bytes()).unwrap();
        assert_eq!(p.escape, '`');
        assert_eq!(p.nodes.len(), 2);
        assert_eq!(p.nodes[0].args, ["a", "AS", "b"]);
        assert_eq!(p.nodes[1].args, ["dir c:\\"]);
        // A directive after an instruction or a blank line is a comment.
        let p = parse(b"\n# escape=`\nFROM a \\\n AS b\n").unwrap();
        assert_eq!(p.escape, '\\');
        assert!(parse(b"# escape=x\nFROM a\n").is_err());
        assert!(parse(b"# syntax=a\n# syntax=b\nFROM a\n").is_err());
    }

    #[test]
    fn heredocs_every_form() {
        let src = "FROM a\nRUN <<EOF cat <<-\"TWO\" && cat << THREE\nFROM x\nEOF\n\tTWO body\n\tTWO\nthree\nTHREE\nRUN sed 's/<<x>>/y/' f \"<<Q\"\nFROM b\n";
        let p = parse(src.as_bytes()).unwrap();
        let names: Vec<_> = p.nodes[1]
            .heredocs
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(names, ["EOF", "TWO", "THREE"]);
        assert_eq!(p.nodes[1].heredocs[0].content, "FROM x\n");
        assert_eq!(p.nodes[1].heredocs[0].first_line, 3);
        assert_eq!(p.nodes[1].heredocs[1].content, "\tTWO body\n");
        assert!(!p.nodes[1].heredocs[1].expand);
        assert_eq!(lines(src).last().unwrap(), &(10, "FROM".into()));
        assert!(parse(b"FROM a\nRUN <<EOF\nnever ends\n")
            .unwrap_err()
            .message
            .contains("unterminated heredoc"));
        // JSON form never has heredocs.
        let p = parse(b"FROM a\nRUN [\"cat\", \"<<EOF\"]\nFROM b\n").unwrap();
        assert_eq!(p.nodes.len(), 3);
    }

    #[test]
    fn flags_and_json() {
        let n = node_from_line("COPY --from=\"a b\" --chmod=644 -- x y", '\\').unwrap();
        assert_eq!(n.flags, ["--from=a b", "--chmod=644"]);
        // `--` ends the flags and is dropped.
        assert_eq!(n.args, ["x", "y"]);
        let n = node_from_line("RUN --mount=type=cache,target=/r -- echo", '\\').unwrap();
        assert_eq!(n.flags, ["--mount=type=cache,target=/r"]);
        assert_eq!(n.args, ["echo"]);
        assert!(node_from_line("CMD [1]", '\\').is_err());
        assert!(node_from_line("ENV A", '\\').is_err());
        assert!(node_from_line("ENV A=1 B", '\\').is_err());
        assert_eq!(
            node_from_line("ENV A B C", '\\').unwrap().args,
            ["A", "B C", ""]
        );
    }
}
