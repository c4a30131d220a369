//! A port of BuildKit's shell lexer (`frontend/dockerfile/shell/lex.go`, moby/buildkit 73ed6825):
//! word splitting, quotes, escapes and variable expansion, `${V:-x}` `${V-x}` `${V:+x}` `${V+x}`
//! `${V:?msg}` `${V?msg}` `${V#p}` `${V##p}` `${V%p}` `${V%%p}` `${V/a/b}` `${V//a/b}`, nested.
//!
//! It follows the Go code statement by statement, quirks included (a nested `${…}` resets the
//! word buffer of the enclosing word, as BuildKit's shared `wordsBuffer` does), because the
//! images a build pulls are decided by exactly these rules. Go's `text/scanner` is read as a
//! sequence of chars, with a leading U+FEFF skipped as it does.

use std::fmt;

use regex::Regex;

/// What a variable name resolves to; `None` when unset.
pub trait Env {
    fn get(&self, name: &str) -> Option<&str>;
}

/// No variables at all.
pub struct NoEnv;

impl Env for NoEnv {
    fn get(&self, _: &str) -> Option<&str> {
        None
    }
}

impl<S: std::hash::BuildHasher> Env for std::collections::HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        std::collections::HashMap::get(self, name).map(String::as_str)
    }
}

impl Env for std::collections::BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        std::collections::BTreeMap::get(self, name).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError(pub String);

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LexError {}

fn err<T>(message: impl Into<String>) -> Result<T, LexError> {
    Err(LexError(message.into()))
}

/// The lexer's settings (`shell.Lex`).
#[derive(Debug, Clone, Copy)]
pub struct Lex {
    pub escape: char,
    pub raw_quotes: bool,
    pub raw_escapes: bool,
    pub skip_process_quotes: bool,
    pub skip_unset_env: bool,
}

impl Lex {
    pub fn new(escape: char) -> Lex {
        Lex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// `ProcessWord`: the word with quotes removed and variables expanded.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, LexError> {
        self.process(word, env).map(|(result, _)| result)
    }

    /// `ProcessWords`: the same, split into words after expansion.
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, LexError> {
        self.process(word, env).map(|(_, words)| words)
    }

    fn process(&self, word: &str, env: &dyn Env) -> Result<(String, Vec<String>), LexError> {
        let mut chars: Vec<char> = word.chars().collect();
        if chars.first() == Some(&'\u{feff}') {
            chars.remove(0);
        }
        let mut sw = ShellWord {
            lex: self,
            chars,
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            words_buffer: String::new(),
            depth: 0,
        };
        let raw = sw.raw_escapes;
        sw.process_stop_on(None, raw)
            .map_err(|e| LexError(format!("failed to process {word:?}: {e}")))
    }
}

/// Nesting deeper than this is refused rather than risking the stack (BuildKit has no limit,
/// but no real Dockerfile nests `${…}` more than a few levels).
const MAX_DEPTH: usize = 200;

struct ShellWord<'a> {
    lex: &'a Lex,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    raw_escapes: bool,
    /// Shared by every nested `process_stop_on`, as in Go.
    words_buffer: String,
    depth: usize,
}

struct Words {
    words: Vec<String>,
    in_word: bool,
}

/// Go's `unicode.IsSpace`.
pub fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Go's `unicode.IsLetter` (exact for ASCII; Rust's Alphabetic property beyond it).
fn is_letter(c: char) -> bool {
    c.is_alphabetic() && !c.is_numeric()
}

/// Go's `unicode.IsDigit` (exact for ASCII; Rust's Numeric property beyond it).
fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn add_char(&mut self, w: &mut Words, ch: char) {
        if is_space(ch) && w.in_word {
            if !self.words_buffer.is_empty() {
                w.words.push(std::mem::take(&mut self.words_buffer));
                w.in_word = false;
            }
        } else if !is_space(ch) {
            self.add_raw_char(w, ch);
        }
    }

    fn add_raw_char(&mut self, w: &mut Words, ch: char) {
        self.words_buffer.push(ch);
        w.in_word = true;
    }

    fn add_string(&mut self, w: &mut Words, s: &str) {
        for ch in s.chars() {
            self.add_char(w, ch);
        }
    }

    fn add_raw_string(&mut self, w: &mut Words, s: &str) {
        self.words_buffer.push_str(s);
        w.in_word = true;
    }

    fn get_words(&mut self, mut w: Words) -> Vec<String> {
        if !self.words_buffer.is_empty() {
            w.words.push(std::mem::take(&mut self.words_buffer));
        }
        w.words
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), LexError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("expansion nested too deeply");
        }
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let out = self.stop_on(stop);
        self.raw_escapes = saved;
        self.depth -= 1;
        out
    }

    fn stop_on(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), LexError> {
        let mut result = String::new();
        self.words_buffer.clear();
        let mut words = Words {
            words: Vec::new(),
            in_word: false,
        };
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, self.get_words(words)));
            }
            let special = match ch {
                '$' | '<' => true,
                '\'' | '"' => !self.lex.skip_process_quotes,
                _ => false,
            };
            if special {
                let tmp = match ch {
                    '$' => self.process_dollar()?,
                    '<' => self.process_possible_heredoc(),
                    '\'' => self.process_single_quote()?,
                    _ => self.process_double_quote()?,
                };
                result.push_str(&tmp);
                if ch == '$' {
                    self.add_string(&mut words, &tmp);
                } else {
                    self.add_raw_string(&mut words, &tmp);
                }
            } else {
                let mut ch = self.next().expect("peeked");
                if ch == self.lex.escape {
                    if self.raw_escapes {
                        self.add_raw_char(&mut words, ch);
                        result.push(ch);
                    }
                    match self.next() {
                        None => break,
                        Some(c) => ch = c,
                    }
                    self.add_raw_char(&mut words, ch);
                } else {
                    self.add_char(&mut words, ch);
                }
                result.push(ch);
            }
        }
        if let Some(stop) = stop {
            return err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, self.get_words(words)))
    }

    fn process_single_quote(&mut self) -> Result<String, LexError> {
        let mut result = String::new();
        let ch = self.next().expect("peeked");
        if self.lex.raw_quotes {
            result.push(ch);
        }
        loop {
            match self.next() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching single-quote",
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, LexError> {
        let mut result = String::new();
        let ch = self.next().expect("peeked");
        if self.lex.raw_quotes {
            result.push(ch);
        }
        loop {
            match self.peek() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching double-quote",
                    )
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                }
                Some(_) => {
                    let mut ch = self.next().expect("peeked");
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                ch = self.next().expect("peeked");
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn get_env(&self, name: &str) -> Option<String> {
        self.env.get(name).map(str::to_string)
    }

    fn process_dollar(&mut self) -> Result<String, LexError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return err("syntax error: missing '}'"),
            Some('{' | '}' | ':') => return err("syntax error: bad substitution"),
            _ => {}
        }
        let name = self.process_name();
        let first = self.next();
        // Go's string(rune(-1)) for EOF is U+FFFD.
        let mut chs = first.unwrap_or('\u{fffd}').to_string();
        match first {
            Some('}') => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                let mut ch = first;
                let mut null_is_unset = false;
                if first == Some(':') {
                    null_is_unset = true;
                    ch = self.next();
                    chs.push(ch.unwrap_or('\u{fffd}'));
                }
                let raw = matches!(ch, Some('#' | '%'));
                if null_is_unset && raw {
                    return err(format!("unsupported modifier ({chs}) in substitution"));
                }
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return err("syntax error: missing '}'");
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let set = value.is_some();
                let value = value.unwrap_or_default();
                match ch {
                    Some('-') => Ok(if !set || (null_is_unset && value.is_empty()) {
                        word
                    } else {
                        value
                    }),
                    Some('+') => Ok(if !set || (null_is_unset && value.is_empty()) {
                        String::new()
                    } else {
                        word
                    }),
                    Some('?') => {
                        if !set {
                            let message = if word.is_empty() {
                                "is not allowed to be unset".to_string()
                            } else {
                                word
                            };
                            return err(format!("{name}: {message}"));
                        }
                        if null_is_unset && value.is_empty() {
                            let message = if word.is_empty() {
                                "is not allowed to be empty".to_string()
                            } else {
                                word
                            };
                            return err(format!("{name}: {message}"));
                        }
                        Ok(value)
                    }
                    Some(c @ ('%' | '#')) => {
                        let (greedy, pattern) = match word.strip_prefix(c) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        if c == '%' {
                            trim_suffix(&pattern, &value, greedy)
                        } else {
                            trim_prefix(&pattern, &value, greedy)
                        }
                    }
                    _ => err(format!("unsupported modifier ({chs}) in substitution")),
                }
            }
            Some('/') => {
                let replace_all = self.peek() == Some('/');
                if replace_all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((p, _)) => p,
                    Err(e) => {
                        if self.peek().is_none() {
                            return err("syntax error: missing '/' in ${}");
                        }
                        return Err(e);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((r, _)) => r,
                    Err(e) => {
                        if self.peek().is_none() {
                            return err("syntax error: missing '}'");
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                let value = value.unwrap_or_default();
                let re = shell_pattern_to_regex(&pattern, true, false).map_err(|e| {
                    LexError(format!("invalid pattern ({pattern}) in substitution: {e}"))
                })?;
                if replace_all {
                    Ok(re
                        .replace_all(&value, |caps: &regex::Captures| {
                            go_expand(&replacement, &caps[0])
                        })
                        .into_owned())
                } else {
                    Ok(match re.find(&value) {
                        Some(m) => format!(
                            "{}{}{}",
                            &value[..m.start()],
                            replacement,
                            &value[m.end()..]
                        ),
                        None => value,
                    })
                }
            }
            _ => err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && is_digit(ch) {
                while let Some(c) = self.peek().filter(|c| is_digit(*c)) {
                    self.next();
                    name.push(c);
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.next();
                return ch.to_string();
            }
            if !is_letter(ch) && !is_digit(ch) && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut result = String::from("<<");
        while let Some(c) = self.peek().filter(|c| matches!(c, '\t' | '\r' | ' ')) {
            result.push(c);
            self.next();
        }
        result
    }
}

fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

/// `convertShellPatternToRegex`: `*` and `?` wildcards, without bracket expressions.
fn shell_pattern_to_regex(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, String> {
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let mut tok = chars[i];
        i += 1;
        match tok {
            '*' => {
                out.push_str(star);
                continue;
            }
            '?' => {
                out.push('.');
                continue;
            }
            '\\' => {
                if matches!(chars.get(i), Some('}' | '/')) {
                    continue;
                }
                out.push('\\');
                match chars.get(i) {
                    Some(&c @ ('*' | '?' | '\\')) => {
                        tok = c;
                        i += 1;
                    }
                    Some(&c) => return Err(format!("invalid escape '\\{c}'")),
                    None => return Err("invalid escape '\\\u{fffd}'".into()),
                }
            }
            '[' | ']' | '{' | '}' | '.' | '+' | '(' | ')' | '|' | '^' | '$' => out.push('\\'),
            _ => {}
        }
        out.push(tok);
    }
    regex::RegexBuilder::new(&out)
        .size_limit(1 << 24)
        .build()
        .map_err(|e| e.to_string())
}

/// Go's `Regexp.ReplaceAllString` template: `$0`/`${0}` is the match, `$$` a dollar, any other
/// group is empty (the pattern has none), a malformed `$` is kept.
fn go_expand(template: &str, whole: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let (name, after) = if let Some(r) = rest.strip_prefix('{') {
            match r.find('}') {
                Some(end) if end > 0 && r[..end].chars().all(is_name) => (&r[..end], &r[end + 1..]),
                _ => ("", rest),
            }
        } else {
            let end = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        if name.is_empty() {
            out.push('$');
            continue;
        }
        rest = after;
        let mut num: i64 = 0;
        for c in name.chars() {
            match c.to_digit(10) {
                Some(d) if num >= 0 => {
                    num = num * 10 + i64::from(d);
                    if num >= 100_000_000 {
                        num = -1;
                    }
                }
                _ => num = -1,
            }
        }
        if name.len() > 1 && name.starts_with('0') {
            num = -1;
        }
        if num == 0 {
            out.push_str(whole);
        }
    }
    out.push_str(rest);
    out
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, LexError> {
    let re = shell_pattern_to_regex(pattern, greedy, true)
        .map_err(|e| LexError(format!("invalid pattern ({pattern}) in substitution: {e}")))?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

fn reverse_pattern(pattern: &str) -> String {
    let runes: Vec<char> = pattern.chars().collect();
    let mut out = vec!['\0'; runes.len()];
    let Some(last) = runes.len().checked_sub(1) else {
        return String::new();
    };
    let mut i = 0;
    while i <= last {
        let tok = runes[i];
        let at = last - i;
        if tok == '\\' && i != last {
            out[at - 1] = tok;
            out[at] = runes[i + 1];
            i += 2;
        } else {
            out[at] = tok;
            i += 1;
        }
    }
    out.into_iter().collect()
}

fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, LexError> {
    let pattern = reverse_pattern(pattern);
    let reversed: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&pattern, &reversed, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn word(w: &str, e: &BTreeMap<String, String>) -> Result<String, LexError> {
        Lex::new('\\').process_word(w, e)
    }

    #[test]
    fn every_modifier() {
        let e = env(&[("V", "nvidia/cuda:12.1-devel"), ("E", ""), ("B", "12.1")]);
        let cases = [
            ("${V:-x}", "nvidia/cuda:12.1-devel"),
            ("${U:-x}", "x"),
            ("${E:-x}", "x"),
            ("${E-x}", ""),
            ("${U-x}", "x"),
            ("${V:+x}", "x"),
            ("${E:+x}", ""),
            ("${E+x}", "x"),
            ("${U+x}", ""),
            ("${V#*/}", "cuda:12.1-devel"),
            ("${V##*[}", "nvidia/cuda:12.1-devel"),
            ("${V##*-}", "devel"),
            ("${V#*-}", "devel"),
            ("${V%-*}", "nvidia/cuda:12.1"),
            ("${V%%:*}", "nvidia/cuda"),
            ("${V%:*}", "nvidia/cuda"),
            ("${V/1/X}", "nvidia/cuda:X2.1-devel"),
            ("${V//1/X}", "nvidia/cuda:X2.X-devel"),
            ("${V//[0-9]/X}", "nvidia/cuda:12.1-devel"),
            ("${E:+nvidia/cuda:${B}-devel}", ""),
            ("${B:+nvidia/cuda:${B}-devel}", "nvidia/cuda:12.1-devel"),
            ("a\\$B\"$B\"'$B'", "a$B12.1$B"),
            ("$", "$"),
            ("${V:?}", "nvidia/cuda:12.1-devel"),
        ];
        for (w, want) in cases {
            assert_eq!(word(w, &e).unwrap(), want, "{w}");
        }
    }

    #[test]
    fn errors_like_buildkit() {
        let e = env(&[("E", "")]);
        for (w, want) in [
            ("${U:?must be set}", "U: must be set"),
            ("${U?}", "U: is not allowed to be unset"),
            ("${E:?}", "E: is not allowed to be empty"),
            ("${X", "unsupported modifier"),
            ("${", "missing '}'"),
            ("${}", "bad substitution"),
            ("${X:#a}", "unsupported modifier (:#)"),
            ("${X:-a", "missing '}'"),
            ("'open", "single-quote"),
            ("\"open", "double-quote"),
            ("${X/a}", "missing '/'"),
        ] {
            let got = word(w, &e).unwrap_err().0;
            assert!(got.contains(want), "{w}: {got}");
        }
    }

    #[test]
    fn words_and_heredoc_markers() {
        let lex = Lex::new('\\');
        assert_eq!(
            lex.process_words("a \"b c\" d\\ e << EOF", &NoEnv).unwrap(),
            ["a", "b c", "d e", "<< EOF"]
        );
        let e = env(&[("P", "x y")]);
        assert_eq!(
            lex.process_words("$P \"$P\"", &e).unwrap(),
            ["x", "y", "x y"]
        );
        // BuildKit's shared word buffer: a nested ${…} drops what the word had so far.
        assert_eq!(lex.process_words("ab${U:-c}d", &e).unwrap(), ["cd"]);
        let mut raw = Lex::new('\\');
        raw.raw_quotes = true;
        raw.raw_escapes = true;
        raw.skip_unset_env = true;
        assert_eq!(
            raw.process_words("sed 's/<<x>>/y/' $U ${U:-z}", &NoEnv)
                .unwrap(),
            ["sed", "'s/<<x>>/y/'", "$U", "${U:-z}"]
        );
    }

    #[test]
    fn replacement_templates_and_patterns() {
        assert_eq!(go_expand("<$0>$$-$1-${x}-$", "m"), "<m>$---$");
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
        assert_eq!(trim_suffix("*.gz", "a.tar.gz", false).unwrap(), "a.tar");
        assert_eq!(trim_suffix("*.*", "a.tar.gz", true).unwrap(), "");
    }
}
