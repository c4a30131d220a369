#!/usr/bin/env bash
# The main job on the bundled example (examples/curvenet, the seed's base/release layout):
# bring up the test bed, install the plugin, cut a release as the author, then verify it by
# rebuild as a reviewer from a fresh clone with the build cache pruned, then as a reviewer who
# cannot rebuild the base: the release rebuilt on the base kept in the paper's archive.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

bash "$root/scripts/testbed.sh"
bash "$root/install.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
author="$work/curvenet"
cp -r "$root/examples/curvenet" "$author"
python3 "$root/tests/fixtures/make_wheel.py" "$author/wheels" >/dev/null
export GIT_AUTHOR_DATE=2024-05-01T12:00:00Z GIT_COMMITTER_DATE=2024-05-01T12:00:00Z
git -C "$author" init -q -b main
git -C "$author" add -A
git -C "$author" -c user.name=Author -c user.email=author@example.org commit -qm "curvenet: paper release"

echo "== author: docker repro release, with the paper's archive" >&2
(cd "$author" && docker repro release --archive "$work/curvenet-paper.oci.tar")
echo "== the release runs:" >&2
docker run --rm --network none "curvenet:$(git -C "$author" rev-parse --short=12 HEAD)"

echo "== reviewer: fresh clone, empty build cache, docker repro verify --rebuild" >&2
git clone -q "$author" "$work/review"
cp "$author/repro.lock" "$work/review/repro.lock"
docker buildx prune --all --force >/dev/null
(cd "$work/review" && docker repro verify --rebuild --quiet)

echo "== reviewer, years later: the mirrors are gone; rebuild the release on the archived base" >&2
(cd "$work/review" && docker repro verify --rebuild --base locked --archive "$work/curvenet-paper.oci.tar" --quiet)
