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
# Prints each time, the ratios, and where the kept release's time went (the time of each of its
# progress lines). Needs the test bed (scripts/testbed.sh). Not a test: the numbers depend on
# the machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
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

# A release, its progress lines stamped with the seconds since its start. The stamps are
# taken with bash's own clock ($EPOCHREALTIME, no process per line) and turned into seconds
# afterwards: on a machine of two cores a `date` per line would slow the release it times.
release() {
  local name=$1 start end status
  start=$EPOCHREALTIME
  set +e
  (cd "$project" && NO_COLOR=1 "$bin" release 2>&1 >/dev/null) |
    while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$work/release-$name.stamped"
  status=${PIPESTATUS[0]}
  end=$EPOCHREALTIME
  set -e
  awk -v start="$start" '{ stamp = $1; sub(/^[^ ]* /, ""); printf "%7.2fs  %s\n", stamp - start, $0 }' \
    "$work/release-$name.stamped" >"$work/release-$name.log"
  [ "$status" = 0 ] || { tail -30 "$work/release-$name.log" >&2; exit 1; }
  elapsed "$start" "$end"
}

# Cold: plain --no-cache of both, loaded, plus one docker save of the two; then the release.
fresh
start=$(now)
build --no-cache -f "$project/docker/Dockerfile.base" -t "$image:base" "$project"
build --no-cache -f "$project/docker/Dockerfile.release" -t "$image:plain" "$project"
docker save -o "$work/plain.tar" "$image:base" "$image:plain"
plain_cold=$(elapsed "$start" "$(now)")
rm -f "$work/plain.tar"
export XDG_CACHE_HOME="$work/cache"
fresh
first=$(release first)
fresh
rm -f "$project/repro.lock"
cold=$(release cold)

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

printf 'cold: plain --no-cache of both + docker save %6.2fs\n' "$plain_cold"
printf 'cold: docker repro release, its cache empty %6.2fs   %.2f x plain   (goal <= 1.3)\n' "$first" "$(echo "$first / $plain_cold" | bc -l)"
printf 'cold: docker repro release, its cache kept  %6.2fs   %.2f x plain   (goal <= 1.3)\n' "$cold" "$(echo "$cold / $plain_cold" | bc -l)"
printf 'kept: plain buildx build of the release     %6.2fs   (--no-cache: %.2fs)\n' "$plain_release" "$plain_release_no_cache"
printf 'kept: docker repro release, base kept       %6.2fs   +%.2fs over plain   (goal <= 2 s)\n' "$kept" "$(echo "$kept - $plain_release" | bc -l)"
echo "where the kept release spent its time (seconds since its start, at each step):"
cat "$work/release-kept.log"
echo "where the cold release spent its time, its cache empty:"
grep -v '^ *[0-9.]*s  #' "$work/release-first.log" || true
echo "where the cold release spent its time, its cache kept:"
grep -v '^ *[0-9.]*s  #' "$work/release-cold.log" || true
