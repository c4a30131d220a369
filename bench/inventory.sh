#!/usr/bin/env bash
# Benchmark: inventory of a synthetic >= 2 GB deep-learning image (350 dpkg packages, 220
# Python distributions, a CUDA tree), built as users build (buildx's defaults: an image index
# with a provenance attestation beside the image), against peers measured in the same run:
#   engine path:  docker save IMAGE > /dev/null (the floor: every byte must come out of the
#                 engine), docker repro inspect IMAGE, syft IMAGE
#   archive path: docker repro inspect --archive FILE (what release does on buildx's OCI
#                 output), syft docker-archive:FILE
#   SBOMs:        docker repro inspect IMAGE --format cyclonedx and --format spdx
# Prints the ratios the goals are stated in, peak RSS, and the temporary files left behind.
# Needs the test bed (scripts/testbed.sh). Not a test: the numbers depend on the machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
image=${BENCH_IMAGE:-repro-bench/synthetic-dl:3}
runs=${BENCH_RUNS:-3}
cd "$root"
cargo build --release --locked --quiet
bin="$root/target/release/docker-repro"
command -v /usr/bin/time >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null
export SYFT_CHECK_FOR_APP_UPDATE=false

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! docker image inspect "$image" >/dev/null 2>&1; then
  echo "generating $image (once)" >&2
  python3 bench/make_synthetic_image.py "$work/ctx"
  docker buildx build -q -t "$image" --load "$work/ctx" >/dev/null
  rm -rf "$work/ctx"
fi
bytes=$(docker image inspect -f '{{index .Config.Labels "org.docker-repro.bench.uncompressed-bytes"}}' "$image")

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Prints "seconds peak-RSS-KB" of a command whose stdout is discarded.
measure() { /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; cat "$work/time"; }

docker save -o "$work/image.tar" "$image"
cat "$work/image.tar" >/dev/null # every contender starts from a warm page cache
scratch="$work/tmp"; mkdir "$scratch"
save=(); via_save=(); via_archive=(); rss=()
for _ in $(seq "$runs"); do
  save+=("$(measure docker save "$image" | cut -d' ' -f1)")
  read -r t m < <(TMPDIR="$scratch" measure "$bin" inspect "$image" -q --format json); via_save+=("$t"); rss+=("$m")
  read -r t m < <(TMPDIR="$scratch" measure "$bin" inspect --archive "$work/image.tar" -q --format json); via_archive+=("$t"); rss+=("$m")
done
read -r cdx cdx_rss < <(TMPDIR="$scratch" measure "$bin" inspect "$image" -q --format cyclonedx); rss+=("$cdx_rss")
read -r spdx spdx_rss < <(TMPDIR="$scratch" measure "$bin" inspect "$image" -q --format spdx); rss+=("$spdx_rss")
leftover=$(find "$scratch" -mindepth 1 | wc -l)
attestations=$(python3 - "$work/image.tar" <<'PY'
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    top = json.load(t.extractfile("index.json"))
    count = 0
    for m in top["manifests"]:
        doc = json.load(t.extractfile("blobs/sha256/" + m["digest"][7:]))
        count += sum(1 for e in doc.get("manifests", []) if e.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest")
    print(count)
PY
)
syft_image=$(measure syft scan "docker:$image" -o json -q | cut -d' ' -f1)
syft_archive=$(measure syft scan "docker-archive:$work/image.tar" -o json -q | cut -d' ' -f1)

m() { printf '%s\n' "$@" | median; }
save_m=$(m "${save[@]}"); via_save_m=$(m "${via_save[@]}"); via_archive_m=$(m "${via_archive[@]}")
rss_max=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
"$bin" inspect "$image" -q | head -4 >&2
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
printf 'attestation manifests          %s (buildx defaults)\n' "$attestations"
printf 'image                          %s: %.2f GB of layers uncompressed, %.2f GB as saved\n' "$image" "$(echo "$bytes / 1000000000" | bc -l)" "$(echo "$(stat -c %s "$work/image.tar") / 1000000000" | bc -l)"
printf 'docker save > /dev/null        %6.2fs  (median of %s)\n' "$save_m" "$runs"
printf 'docker repro inspect IMAGE     %6.2fs  (median of %s)\n' "$via_save_m" "$runs"
printf 'docker repro inspect --archive %6.2fs  (median of %s)\n' "$via_archive_m" "$runs"
printf 'inspect IMAGE --format cyclonedx %4.2fs  (peak RSS %s MB)\n' "$cdx" "$((cdx_rss / 1024))"
printf 'inspect IMAGE --format spdx    %6.2fs  (peak RSS %s MB)\n' "$spdx" "$((spdx_rss / 1024))"
printf 'syft IMAGE                     %6.2fs\n' "$syft_image"
printf 'syft docker-archive:FILE       %6.2fs\n' "$syft_archive"
printf 'peak RSS of docker repro       %s MB   (goal <= 64)\n' "$((rss_max / 1024))"
printf 'temporary files left           %s      (goal 0)\n' "$leftover"
printf 'inspect IMAGE / docker save    %s    (goal <= 1.2)\n' "$(ratio "$via_save_m" "$save_m")"
printf 'inspect --archive / docker save %s   (goal <= 1.2)\n' "$(ratio "$via_archive_m" "$save_m")"
printf 'syft IMAGE / inspect IMAGE     %s    (goal >= 5)\n' "$(ratio "$syft_image" "$via_save_m")"
printf 'syft archive / inspect archive %s    (goal >= 5)\n' "$(ratio "$syft_archive" "$via_archive_m")"
