#!/usr/bin/env bash
# The whole test suite: brings the test bed up when it is not (engine, buildx, loopback
# registry, base images; installs nothing on a machine where they already work), then runs
# unit, CLI and end-to-end tests against it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/testbed.sh"
cd "$root"
cargo test --locked
