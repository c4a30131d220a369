//! Properties of the Dockerfile reader, the shell lexer and the lint on generated input: they
//! never panic, stay within bounded time and memory, and answer the same way twice. The quick
//! run is part of the test suite; `bench/dockerfile-props.sh` runs many more cases.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use docker_repro::check::{self, Options};
use docker_repro::dockerfile::{self, lex::Lex};
use proptest::prelude::*;

/// Pieces real Dockerfiles are made of, with the characters that matter to BuildKit's rules.
const TOKENS: &[&str] = &[
    "FROM ",
    "from ",
    "ARG ",
    "RUN ",
    "COPY ",
    "ADD ",
    "ENV ",
    "ONBUILD ",
    "AS ",
    " as ",
    "scratch",
    "alpine:3.19",
    "ubuntu",
    "nvidia/cuda:12.1",
    "@sha256:",
    "0123456789abcdef",
    "stage",
    "s1",
    "$",
    "${",
    "}",
    "{",
    ":-",
    ":+",
    ":?",
    "-",
    "+",
    "?",
    "#",
    "##",
    "%",
    "%%",
    "/",
    "//",
    "*",
    "\\",
    "`",
    "'",
    "\"",
    "<<",
    "<<-",
    "EOF",
    "\n",
    "\n",
    "\n",
    " ",
    " ",
    "\t",
    "\r",
    "=",
    ",",
    "--from=",
    "--mount=type=bind,from=",
    "--mount=type=cache,target=/root/.cache/pip ",
    "--platform=$BUILDPLATFORM ",
    "--checksum=sha256:",
    "0",
    "1",
    "[",
    "]",
    "\"a\"",
    "# escape=`\n",
    "# syntax=docker/dockerfile:1\n",
    "\u{feff}",
    "é",
    "pip install ",
    "apt-get update && ",
    "apt-get install -y ",
    "curl -fsSL https://x | sh",
    "git clone https://x",
    "&&",
    "||",
    ";",
    "|",
    "$(",
    ")",
    "(",
    "sh -c '",
    "uv sync",
    "conda install ",
    "TARGETARCH",
    "BASE",
    "\\\n",
    "case ",
    " in ",
    "x) ",
    ";;",
    "esac",
    "PKGS=(",
    "\"${PKGS[@]}\"",
    "bash -c \"",
    "python -mpip install ",
    "python3 get-pip.py ",
    "dnf install -y a-1.2-3 ",
    "==",
    ".*",
    ":+==",
];

fn dockerfile_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|t| t.concat())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn read_everything(source: &[u8]) {
    let args = BTreeMap::new();
    let first = dockerfile::parse(source, &args, "linux/amd64");
    let again = dockerfile::parse(source, &args, "linux/amd64");
    assert_eq!(first, again);
    let _ = dockerfile::parse_target(source, &args, "linux/arm64/v8", Some("s1"));
    let _ = dockerfile::nodes(source);
    let report = check::check_file(
        source,
        Path::new("/nonexistent"),
        false,
        &Options::default(),
    );
    // Either BuildKit's reason, or the images; never both.
    assert!(report.error.is_none() || report.bases.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn dockerfile_like_text_never_panics(text in dockerfile_text()) {
        read_everything(text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        read_everything(&bytes);
    }

    #[test]
    fn the_lexer_never_panics(word in dockerfile_text(), escape in prop::sample::select(vec!['\\', '`'])) {
        let env: BTreeMap<String, String> =
            [("BASE".to_string(), "a/b:c-d".to_string()), ("s1".to_string(), String::new())].into();
        for (raw_quotes, raw_escapes, skip_unset) in [(false, false, false), (true, true, true)] {
            let mut lex = Lex::new(escape);
            lex.raw_quotes = raw_quotes;
            lex.raw_escapes = raw_escapes;
            lex.skip_unset_env = skip_unset;
            let _ = lex.process_word(&word, &env);
            let _ = lex.process_words(&word, &env);
        }
    }
}

fn timed(source: &str) -> Duration {
    let start = Instant::now();
    read_everything(source.as_bytes());
    start.elapsed()
}

/// Doubling the input must not much more than double the time: nothing quadratic.
fn roughly_linear(make: impl Fn(usize) -> String, n: usize) {
    // Warm up, then take the best of three of each size.
    timed(&make(n / 4));
    let best = |size: usize| (0..3).map(|_| timed(&make(size))).min().unwrap();
    let (small, large) = (best(n), best(4 * n));
    assert!(
        large < small * 10 + Duration::from_millis(50),
        "4x the input took {large:?} against {small:?}"
    );
}

#[test]
fn many_stages_copies_and_mounts_scale_linearly() {
    roughly_linear(
        |n| {
            let mut s = String::from("ARG V=1\n");
            for i in 0..n {
                s.push_str(&format!("FROM alpine:3.19 AS s{i}\n"));
                if i > 0 {
                    s.push_str(&format!(
                        "COPY --from=s{} /a /a\nRUN --mount=from=s{},target=/m pip install numpy\n",
                        i - 1,
                        i - 1
                    ));
                }
            }
            s
        },
        1_000,
    );
}

#[test]
fn a_chain_of_stages_with_their_env_scales_linearly() {
    roughly_linear(
        |n| {
            let mut s = String::from("FROM alpine:3.19 AS s0\n");
            for i in 1..n {
                s.push_str(&format!(
                    "FROM s{} AS s{i}\nENV A{i}=1\nRUN pip install x==1\n",
                    i - 1
                ));
            }
            s
        },
        1_000,
    );
}

#[test]
fn long_lines_continuations_and_heredocs_scale_linearly() {
    roughly_linear(
        |n| {
            let mut s = String::from("FROM a\nRUN echo \\\n");
            for _ in 0..n {
                s.push_str("  x && y \\\n");
            }
            s.push_str("  z\nRUN <<EOF cat <<EOT\n");
            for _ in 0..n {
                s.push_str("line\n");
            }
            s.push_str("EOF\nEOT\n");
            s
        },
        5_000,
    );
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let depth = 100_000;
    let word = format!("{}x{}", "${A:-".repeat(depth), "}".repeat(depth));
    let err = Lex::new('\\')
        .process_word(&word, &BTreeMap::new())
        .unwrap_err();
    assert!(err.0.contains("nested too deeply"), "{err}");
    let script = format!(
        "FROM a\nRUN {}true{}\n",
        "$(".repeat(depth),
        ")".repeat(depth)
    );
    read_everything(script.as_bytes());
    let parens = format!("FROM a\nRUN {}\n", "(".repeat(depth));
    read_everything(parens.as_bytes());
}

#[test]
fn a_line_over_buildkits_limit_is_refused() {
    let source = format!("FROM a\nRUN echo {}\n", "x".repeat(70_000));
    let err = dockerfile::parse(source.as_bytes(), &BTreeMap::new(), "linux/amd64").unwrap_err();
    assert!(err.message.contains("max allowed size"), "{err}");
}
