#!/usr/bin/env bash
# Benchmark: `docker repro release` of the bundled example (examples/curvenet) with its base
# kept, and from cold, against plain `docker buildx build` of the same Dockerfiles, measured in
# the same run.
#
# Contenders:
#   kept:   a release of a commit that changes only the code, the base's inputs unchanged (the
#           last lock's base is kept, found by digest in the engine), against a plain
#           `docker buildx build -f docker/Dockerfile.release` with the base present
#           (goal: within 2 s);
#   cold:   a release from an empty build cache without the images, against a plain
#           `--no-cache` build of both Dockerfiles plus one `docker save` of the two images
#           (goal: <= 1.3 x); twice: first with the tool's own cache empty (a machine's first
#           release), then with what that release left in it (the registry image's manifest
#           and merged files: a release of another base on the same registry image). The
#           releases use a cache directory of their own (XDG_CACHE_HOME), never the user's.
#           BENCH_ROUNDS rounds (3 unless set) of the three; the medians are the result.
# Prints each time, the ratios, and where the releases' time went (the time of each of their
# progress lines). Needs the test bed (scripts/testbed.sh). Not a test: the numbers depend on
# the machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/stamp.sh
. "$root/bench/stamp.sh"
image=keptbench
cd "$root"
cargo build --release --locked --quiet
bin="$root/target/release/docker-repro"

# The engine tests' lock: no test prunes the build cache or loads images in the middle of a run.
exec 9>"${TMPDIR:-/tmp}/docker-repro-engine-tests.lock"
flock 9

work=$(mktemp -d)
cleanup() {
  docker image ls --format '{{.Repository}}:{{.Tag}}' | grep "^$image:" | xargs -r docker rmi --force >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

project="$work/$image"
cp -a examples/curvenet "$project"
sed -i "s/curvenet:base/$image:base/" "$project/docker/Dockerfile.release"
python3 tests/fixtures/make_wheel.py "$project/wheels" 0.1.0
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
elapsed() { echo "$2 - $1" | bc -l | xargs printf '%.2f'; }
build() { docker buildx build --progress=plain --provenance=false "$@" >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; exit 1; }; }

# A release, its progress lines stamped with the seconds since its start.
release() {
  local name=$1 start end status
  start=$EPOCHREALTIME
  set +e
  (cd "$project" && NO_COLOR=1 "$bin" release 2>&1 >/dev/null) | stamp "$start" "$work/release-$name.log" 2
  status=${PIPESTATUS[0]}
  end=$EPOCHREALTIME
  set -e
  [ "$status" = 0 ] || { tail -30 "$work/release-$name.log" >&2; exit 1; }
  elapsed "$start" "$end"
}

# Cold: plain --no-cache of both, loaded, plus one docker save of the two; then the release.
# Cold, BENCH_ROUNDS times (3 unless set), each round timing the peer and then both releases,
# so that a slow moment of the machine falls on all three: plain --no-cache of both, loaded,
# plus one docker save of the two; a release with the tool's cache empty; one with the cache
# as that release left it. The medians are the result.
export XDG_CACHE_HOME="$work/cache"
rounds=${BENCH_ROUNDS:-3}
# Every cold release of the one commit must lock the same images, whatever its cache held.
digests=""
same_digests() {
  local now
  now=$(grep -E '^(manifest|config)_digest = ' "$project/repro.lock")
  [ -z "$digests" ] && digests=$now
  [ "$now" = "$digests" ] || { echo "bench: release $1 locked other digests than the first" >&2; exit 1; }
}
plain_colds=() firsts=() colds=()
for round in $(seq "$rounds"); do
  fresh
  start=$(now)
  build --no-cache -f "$project/docker/Dockerfile.base" -t "$image:base" "$project"
  build --no-cache -f "$project/docker/Dockerfile.release" -t "$image:plain" "$project"
  docker save -o "$work/plain.tar" "$image:base" "$image:plain"
  plain_colds+=("$(elapsed "$start" "$(now)")")
  rm -f "$work/plain.tar"
  fresh
  rm -rf "$XDG_CACHE_HOME" "$project/repro.lock"
  firsts+=("$(release "first-$round")")
  same_digests "first-$round"
  fresh
  rm -f "$project/repro.lock"
  colds+=("$(release "cold-$round")")
  same_digests "cold-$round"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
plain_cold=$(median "${plain_colds[@]}")
first=$(median "${firsts[@]}")
cold=$(median "${colds[@]}")

# Kept: the code changes; the base stays (the cold release left it in the engine).
echo "print('changed')" >>"$project/curvenet/train.py"
git -C "$project" -c user.name=Bench -c user.email=bench@example.org commit -qam "code only" --date=2024-06-01T12:00:00Z
kept=$(release kept)
grep -q "base unchanged (fingerprint" "$work/release-kept.log" || { echo "bench: the base was not kept" >&2; cat "$work/release-kept.log" >&2; exit 1; }
# Plain: the release Dockerfile alone, the base present (as kept: the same image).
start=$(now)
build -f "$project/docker/Dockerfile.release" -t "$image:plain" "$project"
plain_release=$(elapsed "$start" "$(now)")
start=$(now)
build --no-cache -f "$project/docker/Dockerfile.release" -t "$image:plain" "$project"
plain_release_no_cache=$(elapsed "$start" "$(now)")

echo "cold, $rounds rounds (seconds of each round; median); every cold release locked the same digests:"
printf 'cold: plain --no-cache of both + docker save %s; %6.2fs\n' "${plain_colds[*]}" "$plain_cold"
printf 'cold: docker repro release, its cache empty %s; %6.2fs   %.2f x plain   (goal <= 1.3)\n' "${firsts[*]}" "$first" "$(echo "$first / $plain_cold" | bc -l)"
printf 'cold: docker repro release, its cache kept  %s; %6.2fs   %.2f x plain   (goal <= 1.3)\n' "${colds[*]}" "$cold" "$(echo "$cold / $plain_cold" | bc -l)"
printf 'kept: plain buildx build of the release     %6.2fs   (--no-cache: %.2fs)\n' "$plain_release" "$plain_release_no_cache"
printf 'kept: docker repro release, base kept       %6.2fs   +%.2fs over plain   (goal <= 2 s)\n' "$kept" "$(echo "$kept - $plain_release" | bc -l)"
echo "where the kept release spent its time (seconds since its start, at each step):"
cat "$work/release-kept.log"
echo "where the last round's cold release spent its time, its cache empty:"
grep -v '^ *[0-9.]*s  #' "$work/release-first-$rounds.log" || true
echo "where the last round's cold release spent its time, its cache kept:"
grep -v '^ *[0-9.]*s  #' "$work/release-cold-$rounds.log" || true
