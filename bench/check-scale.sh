#!/usr/bin/env bash
# Does `check` cost the same per line at 10,000 and at 100,000 lines? Writes Dockerfiles of
# both sizes in two shapes (one instruction per line; one `apt-get install` continued over
# every line, whose findings all land on one line) and prints the time per line and the ratio
# 100k/10k of that per-line time: about 1 is linear, about 10 is quadratic. Each time is the
# fastest of three runs.
#
#   bench/check-scale.sh      (REPRO_BIN: the binary, default target/release/docker-repro)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${REPRO_BIN:-$root/target/release/docker-repro}
[ -x "$bin" ] || (cd "$root" && cargo build --release --locked --quiet)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir" <<'PY'
import sys
d = sys.argv[1]
for n in (10_000, 100_000):
    with open(f"{d}/lines-{n}", "w") as f:
        f.write("FROM busybox:1.36\n")
        for i in range(n - 1):
            f.write(f"RUN pip install pkg{i}==1.{i}\n")
    with open(f"{d}/operands-{n}", "w") as f:
        f.write("FROM busybox:1.36\nRUN apt-get install -y \\\n")
        for i in range(n - 3):
            f.write(f"    lib{i} \\\n")
        f.write("    last\n")
PY
# The fastest of three runs: the machine's other load only ever adds time.
seconds() {
    local best=
    for _ in 1 2 3; do
        local t
        t=$(one_run "$1")
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    done
    echo "$best"
}
one_run() {
    local start end
    start=$(date +%s.%N)
    local rc=0
    "$bin" check "$1" >/dev/null 2>"$dir/stderr" || rc=$?
    end=$(date +%s.%N)
    # Exit 2 is "findings"; anything else is a failure of the bench.
    if [ "$rc" -ne 2 ]; then
        echo "check $1: exit $rc: $(cat "$dir/stderr")" >&2
        exit 1
    fi
    echo "$end - $start" | bc -l
}
printf '%-10s %12s %14s %14s %7s\n' shape 'size(bytes)' '10k us/line' '100k us/line' ratio
for shape in lines operands; do
    small=$(seconds "$dir/$shape-10000")
    large=$(seconds "$dir/$shape-100000")
    per_small=$(echo "$small * 1000000 / 10000" | bc -l)
    per_large=$(echo "$large * 1000000 / 100000" | bc -l)
    printf '%-10s %12s %14.1f %14.1f %7.2f\n' "$shape" "$(stat -c %s "$dir/$shape-100000")" \
        "$per_small" "$per_large" "$(echo "$per_large / $per_small" | bc -l)"
done
