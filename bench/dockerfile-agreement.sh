#!/usr/bin/env bash
# Compares the images `docker repro check --format json` says a build pulls ("bases", or
# "error" when BuildKit would refuse the file) with BuildKit's own answer, from the oracle in
# ../shared/dockerfile-oracle (BuildKit's parser and shell lexer), on every file of a corpus.
#
#   bench/dockerfile-agreement.sh [CORPUS_DIR...]   (default: ../shared/dockerfile-corpus)
#
# A file agrees when both accept it and list the same (line, image, via) for the default
# target, or both refuse it. Prints each disagreement, then "agree N/M".
# Needs python3 and Go >= 1.21 (apt-get install golang-1.24-go, or golang-1.23-go from
# bookworm-backports: then the oracle is built from a copy whose go.mod asks for 1.23).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${REPRO_SHARED:-$here/../shared}
oracle=${ORACLE_BIN:-/tmp/dockerfile-oracle}
bin=${REPRO_BIN:-$here/target/release/docker-repro}
[ $# -gt 0 ] || set -- "$shared/dockerfile-corpus"
for dir in "$@"; do
    [ -d "$dir" ] || { echo "dockerfile-agreement: no corpus at $dir (other people's Dockerfiles are not in this repository): pass a directory or set REPRO_SHARED" >&2; exit 1; }
done

if [ ! -x "$oracle" ]; then
    go=$(ls -d /usr/lib/go-1.2[1-9]/bin/go 2>/dev/null | sort -V | tail -1 || true)
    [ -n "$go" ] || { echo "no Go toolchain: apt-get install golang-1.24-go" >&2; exit 1; }
    src=$(mktemp -d)
    cp -r "$shared/dockerfile-oracle/." "$src"
    version=$("$go" env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')
    # Only the go directive changes, so an older toolchain builds the same code.
    find "$src" -name go.mod -exec sed -i -E "s/^go 1\.[0-9]+(\.[0-9]+)?$/go $version/" {} +
    (cd "$src" && GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local GOCACHE=${GOCACHE:-/tmp/go-cache-oracle} \
        "$go" build -o "$oracle" .)
    rm -rf "$src"
fi
if [ ! -x "$bin" ]; then
    (cd "$here" && cargo build --release --quiet)
fi

list=$(mktemp)
trap 'rm -f "$list" "$list.o" "$list.r"' EXIT
find "$@" -type f ! -name README.md ! -name SOURCES ! -name '*.labels' ! -name '*.md' | sort > "$list"
mapfile -t files < "$list"
"$oracle" "${files[@]}" > "$list.o"
start=$(date +%s.%N)
status=0
"$bin" check --format json "${files[@]}" > "$list.r" || status=$?
end=$(date +%s.%N)
[ "$status" -eq 0 ] || [ "$status" -eq 2 ] || { echo "check exited $status" >&2; exit 1; }
python3 - "$list.o" "$list.r" "$start" "$end" <<'PY'
import json, sys
oracle = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    oracle[d["file"]] = d
ours = {r["file"]: r for r in json.load(open(sys.argv[2]))}
via = {"FROM": "from", "COPY --from": "copy-from", "RUN --mount": "run-mount"}
agree = 0
for name, o in sorted(oracle.items()):
    r = ours.get(name)
    if r is None:
        print(f"MISSING {name}")
        continue
    if not o["ok"]:
        if "error" in r:
            agree += 1
        else:
            print(f"DIFF {name}\n  buildkit refuses: {o['error']}\n  ours: {r['bases']}")
        continue
    want = sorted((e["line"], e["image"], via[e["instruction"]])
                  for e in o["externals"] + o["mounts"] if e["stage"] in o["reachable"])
    got = sorted((b["line"], b["ref"], b["via"]) for b in r["bases"])
    if "error" not in r and want == got:
        agree += 1
    else:
        print(f"DIFF {name}\n  buildkit: {want}\n  ours:     {got} {r.get('error', '')}")
total = len(oracle)
print(f"agree {agree}/{total} ({100.0 * agree / max(total, 1):.1f} %); check took "
      f"{float(sys.argv[4]) - float(sys.argv[3]):.2f} s for {total} files")
PY
