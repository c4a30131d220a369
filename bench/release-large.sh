#!/usr/bin/env bash
# Benchmark: `docker repro release` of a real, large deep-learning environment against a plain
# `docker buildx build` of the same two Dockerfiles, measured in the same run.
#
# The environment is torch 2.5.1 with its CUDA 12.4 wheels (bench/torch-requirements.txt,
# hash-pinned: 2.8 GB of wheels, about 7 GB installed), installed the way a lab does it, with
# `pip install -r requirements.txt` from a mirror: the wheels are downloaded from PyPI once
# (into $BENCH_CACHE) and served on the engine's bridge address, which build containers reach.
# The project has the seed layout: docker/Dockerfile.base (the environment) and
# docker/Dockerfile.release (FROM <image>:base + COPY of the code).
#
# Contenders, each from an empty build cache and without the images:
#   plain:   docker buildx build --no-cache of the base (loaded), then of the release
#   release: docker repro release (no cache, pinned, OCI export, file times clamped by
#            docker repro, load, inventory, lock), with gzip layers (the default) and with zstd
# Then a commit that changes only the code, released on the base the last release left (kept:
# goal within 2 s of a plain build of the release's Dockerfile, whatever the base's size), and a
# reviewer's `verify --rebuild` of that lock, from a fresh clone (it must say identical). BENCH_COMPRESSIONS picks the releases ("gzip zstd" by default, in that order).
# Prints each time, the ratios (goal: release <= 1.3 x plain), and where release's time went
# (the time of each of its progress lines). Needs the test bed (scripts/testbed.sh) and about
# 40 GB of free disk. Not a test: the numbers depend on the machine.
#
# BENCH_SYNTHETIC_MB=N replaces the torch environment with N MB of generated files (seeded, half
# random bytes and half text, so they compress about 2:1 like libraries do), written by one RUN
# in the same base Dockerfile: no PyPI, no mirror, N MB times four of disk. For a machine that
# cannot fetch the wheels or hold the torch images.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/stamp.sh
. "$root/bench/stamp.sh"
cache=${BENCH_CACHE:-/var/cache/docker-repro-bench}
port=${BENCH_PORT:-8090}
bridge=${BENCH_BRIDGE:-172.17.0.1}
image=torchbench
cd "$root"
cargo build --release --locked --quiet
bin="$root/target/release/docker-repro"

synthetic=${BENCH_SYNTHETIC_MB:-}
if [ -n "$synthetic" ]; then
  environment="$synthetic MB of generated files"
else
environment="torch 2.5.1 + CUDA 12.4 wheels"
mkdir -p "$cache/wheels"
if ! pip download --quiet --no-deps --require-hashes --only-binary :all: \
    --python-version 3.11 --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux1_x86_64 \
    -r bench/torch-requirements.txt -d "$cache/wheels"; then
  echo "bench: could not download the wheels of bench/torch-requirements.txt from PyPI" >&2
  exit 1
fi
fi

work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  docker rmi --force "$image:base" "$image:plain" >/dev/null 2>&1 || true
  docker image ls --format '{{.Repository}}:{{.Tag}}' | grep "^$image:" | xargs -r docker rmi --force >/dev/null 2>&1 || true
  # The last build's cache holds the environment twice over (about 16 GB).
  docker buildx prune --all --force >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
if [ -z "$synthetic" ]; then
python3 -m http.server "$port" --bind "$bridge" --directory "$cache/wheels" >"$work/mirror.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -fsS "http://$bridge:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
fi

project="$work/$image"
mkdir -p "$project/docker" "$project/code"
grep -v '^#' bench/torch-requirements.txt >"$project/requirements.txt"
if [ -n "$synthetic" ]; then
cat >"$project/docker/Dockerfile.base" <<EOF
FROM 127.0.0.1:5000/repro-test/bookworm-python:1
ARG SOURCE_DATE_EPOCH
RUN python3 -c 'import os, random; os.makedirs("/opt/env"); [open(f"/opt/env/lib{i}.so", "wb").write(random.Random(i).randbytes(1 << 19) + (b"symbol_table_entry_%d " % i) * 24966) for i in range($synthetic)]'
WORKDIR /workspace
EOF
else
cat >"$project/docker/Dockerfile.base" <<EOF
FROM 127.0.0.1:5000/repro-test/bookworm-python:1
ARG SOURCE_DATE_EPOCH
ENV PYTHONDONTWRITEBYTECODE=1
COPY requirements.txt /tmp/requirements.txt
RUN pip3 install --no-cache-dir --break-system-packages --no-index --require-hashes \\
      --trusted-host $bridge --find-links http://$bridge:$port/ -r /tmp/requirements.txt
WORKDIR /workspace
EOF
fi
cat >"$project/docker/Dockerfile.release" <<EOF
FROM $image:base
COPY code /workspace/code
CMD ["python3", "/workspace/code/train.py"]
EOF
echo 'import torch; print(torch.__version__, torch.version.cuda)' >"$project/code/train.py"
printf '.git\n' >"$project/.dockerignore"
export GIT_AUTHOR_DATE=2024-05-01T12:00:00Z GIT_COMMITTER_DATE=2024-05-01T12:00:00Z
git -C "$project" init -q -b main
git -C "$project" add -A
git -C "$project" -c user.name=Bench -c user.email=bench@example.org commit -qm bench

fresh() {
  docker image ls --format '{{.Repository}}:{{.Tag}}' | grep "^$image:" | xargs -r docker rmi --force >/dev/null 2>&1 || true
  docker buildx prune --all --force >/dev/null
  sync
}
now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l | xargs printf '%.1f'; }

fresh
start=$(now)
build() { docker buildx build --progress=plain --no-cache --provenance=false "$@" >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; exit 1; }; }
build -f "$project/docker/Dockerfile.base" -t "$image:base" "$project"
base_done=$(now)
build -f "$project/docker/Dockerfile.release" -t "$image:plain" "$project"
plain_done=$(now)
plain=$(elapsed "$start" "$plain_done")
plain_base=$(elapsed "$start" "$base_done")

# docker repro release with the given compression; its time, and each of its steps stamped
# with the seconds since its start (its own steps, ==>, and BuildKit's export steps, which say
# how long they took): where the time goes.
release() {
  local compression=$1
  fresh
  local start end status
  start=$EPOCHREALTIME
  set +e
  (cd "$project" && NO_COLOR=1 "$bin" release --compression "$compression" --format json 2>&1 >"$work/summary.json") |
    stamp "$start" "$work/release-$compression.log" 1
  status=${PIPESTATUS[0]}
  end=$EPOCHREALTIME
  set -e
  if [ "$status" != 0 ] || ! jq -e '.images | length == 2' "$work/summary.json" >/dev/null; then
    tail -30 "$work/release-$compression.log" >&2
    exit 1
  fi
  grep -E '  ==>|exporting layers .*s done|rewriting layers .*s done|sending tarball .*s done|RUN pip3 install.*DONE' \
    "$work/release-$compression.log" >"$work/phases-$compression" || true
  elapsed "$start" "$end"
}
compressions=${BENCH_COMPRESSIONS:-gzip zstd}
declare -A took
for c in $compressions; do took[$c]=$(release "$c"); last=$c; done
size=$(docker image inspect -f '{{.Size}}' "$image:base")

# A commit that changes only the code, on the base the last release left in the engine: the
# base is kept and never read again, so this costs what it costs on a small base. Timed against
# a plain build of the release's Dockerfile with that base present.
echo "print('changed')" >>"$project/code/train.py"
git -C "$project" -c user.name=Bench -c user.email=bench@example.org commit -qam "code only" --date=2024-06-01T12:00:00Z
start=$EPOCHREALTIME
set +e
(cd "$project" && NO_COLOR=1 "$bin" release --compression "$last" 2>&1 >/dev/null) |
  stamp "$start" "$work/release-kept.log" 1
status=${PIPESTATUS[0]}
kept_end=$EPOCHREALTIME
set -e
kept_time=$(elapsed "$start" "$kept_end")
if [ "$status" != 0 ] || ! grep -q "base unchanged (fingerprint" "$work/release-kept.log"; then
  tail -30 "$work/release-kept.log" >&2
  exit 1
fi
start=$(now)
docker buildx build --progress=plain --provenance=false -f "$project/docker/Dockerfile.release" -t "$image:plain" "$project" >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; exit 1; }
plain_kept=$(elapsed "$start" "$(now)")

# The kept release's lock, checked by a reviewer's `verify --rebuild` from a fresh clone, from
# an empty build cache and without the images: it must say identical.
git clone -q "$project" "$work/review"
cp "$project/repro.lock" "$work/review/repro.lock"
fresh
start=$(now)
set +e
(cd "$work/review" && NO_COLOR=1 "$bin" verify --rebuild --format json 2>"$work/verify.log" >"$work/verify.json")
status=$?
set -e
verify_time=$(elapsed "$start" "$(now)")
if [ "$status" != 0 ] || ! jq -e '.verdict == "identical"' "$work/verify.json" >/dev/null; then
  tail -30 "$work/verify.log" >&2
  jq '.verdict, (.images[] | {role, status, detail})' "$work/verify.json" >&2 || true
  exit 1
fi

printf 'environment                 %s; base image %.2f GB in the engine\n' "$environment" "$(echo "$size / 1000000000" | bc -l)"
printf 'plain buildx build          %7.1fs  (base %.1fs)\n' "$plain" "$plain_base"
for c in $compressions; do
  printf 'release --compression %s %7.1fs   %.2f x plain   (goal <= 1.3)\n' "$c" "${took[$c]}" "$(echo "${took[$c]} / $plain" | bc -l)"
done
printf 'release, base kept (%s)    %7.1fs   +%.1fs over a plain build of the release on it (%.1fs; goal <= 2 s, as on a small base)\n' "$last" "$kept_time" "$(echo "$kept_time - $plain_kept" | bc -l)" "$plain_kept"
printf 'verify --rebuild (%s lock) %6.1fs   %.2f x plain   identical\n' "$last" "$verify_time" "$(echo "$verify_time / $plain" | bc -l)"
for c in $compressions; do
  echo "where release --compression $c spent its time (seconds since its start, at each step):"
  cat "$work/phases-$c"
done
echo "where the release on the kept base spent its time:"
grep -v '^ *[0-9.]*s  #' "$work/release-kept.log" || true
