#!/usr/bin/env bash
# Fuzzes every parser of untrusted bytes for a fixed budget each (FUZZ_SECONDS, default 30)
# and prints executions, panics and slow inputs per target (bench/fuzz.rs says how). Exits 1
# when an input panicked; the inputs are kept in target/fuzz-findings/. Not a test: the
# numbers depend on the machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds=${FUZZ_SECONDS:-30}
cargo build --release --locked --quiet --example fuzz
echo "fuzzing each target for ${seconds} s (seed ${FUZZ_SEED:-24301})" >&2
exec "$root/target/release/examples/fuzz" --seconds "$seconds" --seed "${FUZZ_SEED:-24301}" "$@"
