#!/usr/bin/env bash
# The whole test suite: formatting and lints first (cheap, and a red CI should say why at
# once), then the test bed (engine, buildx, loopback registry, base images; installs nothing
# on a machine where they already work), then unit, CLI, hostile-input and end-to-end tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
bash "$root/scripts/testbed.sh"
cargo test --locked
