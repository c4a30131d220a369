#!/usr/bin/env bash
# BuildKit agreement on generated Dockerfiles: writes COUNT files with bench/gen-dockerfiles.py
# (seed SEED) and compares what `check` says each build pulls with BuildKit's answer, as
# bench/dockerfile-agreement.sh does for the corpora.
#
#   bench/dockerfile-generated.sh [COUNT] [SEED]    (default 6000 files, seed 1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
count=${1:-6000}
seed=${2:-1}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 "$here/gen-dockerfiles.py" "$dir" "$seed" "$count"
"$here/dockerfile-agreement.sh" "$dir"
