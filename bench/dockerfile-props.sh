#!/usr/bin/env bash
# The property tests of the Dockerfile reader, lexer and lint (tests/dockerfile_props.rs), with
# many more generated cases than the quick run of the test suite, optimised.
#   bench/dockerfile-props.sh [CASES]   (default 20000 per property)
set -euo pipefail
cd "$(dirname "$0")/.."
PROPTEST_CASES=${1:-20000} cargo test --release --test dockerfile_props -- --nocapture
