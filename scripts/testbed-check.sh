#!/usr/bin/env bash
# Proves the test bed's real-environment parts with plain docker and buildx, no plugin:
#   mirror     builds tests/fixtures/mirror-lab the way a lab does (debs through the proxy, wheels
#              from the token-protected index with the token as a BuildKit secret), checks what
#              the image holds and that the proxy saw the apt requests, then builds base and
#              release twice each with --no-cache to OCI with rewrite-timestamp and compares
#              manifest digests;
#   platforms  runs the arm64 busybox and builds tests/fixtures/multiplatform for amd64 and arm64.
# Usage: scripts/testbed-check.sh [mirror|platforms]... (both by default). Run scripts/testbed.sh first.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
CACHE=${REPRO_TESTBED_CACHE:-/var/cache/docker-repro-testbed}
REGISTRY=${REPRO_TEST_REGISTRY:-127.0.0.1:5000}
HOST=172.17.0.1
PROXY=http://$HOST:${REPRO_TESTBED_PROXY_PORT:-8888}
NETRC=$CACHE/mirror/pip.netrc
PROXY_LOG=/var/log/docker-repro-proxy.log
SDE=${SOURCE_DATE_EPOCH:-1700000000}
say() { printf 'testbed-check: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# buildx_oci NAME FILE [build options]: a --no-cache build to $work/NAME.tar; prints the image
# manifest's digest. One retry: on an engine other test runs prune at the same time, an export
# now and then ends in "failed to solve: not found".
buildx_oci() {
  local name=$1 file=$2; shift 2
  local try
  for try in 1 2; do
    if docker buildx build --no-cache --provenance=false -f "$file" "$@" \
        --output "type=oci,dest=$work/$name.tar,rewrite-timestamp=true" . >"$work/$name.log" 2>&1; then
      tar -xOf "$work/$name.tar" index.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["digest"])'
      return 0
    fi
    say "build $name (try $try) failed: $(grep ERROR "$work/$name.log" | tail -1)"
  done
  tail -20 "$work/$name.log" >&2; return 1
}

# compare KIND DIGEST1 DIGEST2 TAR1 TAR2: says whether two builds are the same, and where not, which files differ.
compare() {
  local kind=$1 d1=$2 d2=$3
  if [ "$d1" = "$d2" ]; then
    say "$kind: two --no-cache builds give the same manifest $d1$(cmp -s "$4" "$5" && echo ', byte-identical OCI tarballs')"
    return 0
  fi
  say "$kind: the two builds differ: $d1 vs $d2"
  return 1
}

check_mirror() {
  local lab=$root/tests/fixtures/mirror-lab
  [ -s "$NETRC" ] || fail "no $NETRC: run scripts/testbed.sh (the mirrors need the engine's bridge at $HOST)"
  cd "$lab"
  local secret=(--secret "id=pip_index,src=$NETRC")
  local args=(--build-arg "http_proxy=$PROXY" --build-arg "SOURCE_DATE_EPOCH=$SDE")

  local before; before=$(grep -c "Request .*$HOST:8081/" "$PROXY_LOG" 2>/dev/null || true)
  say "building mirror-lab:base (debs through $PROXY, wheels from the index with the secret pip_index)"
  docker buildx build --no-cache -f docker/Dockerfile.base -t mirror-lab:base "${secret[@]}" "${args[@]}" \
    --load . >"$work/base.log" 2>&1 || { tail -20 "$work/base.log" >&2; fail "the base build failed"; }
  local after; after=$(grep -c "Request .*$HOST:8081/" "$PROXY_LOG" 2>/dev/null || true)
  [ "${after:-0}" -gt "${before:-0}" ] || fail "the proxy log $PROXY_LOG shows no request for the Debian repository"
  say "the proxy served $((after - before)) requests for the Debian repository"

  local got
  got=$(docker run --rm mirror-lab:base python3 -c 'import numpy; print(numpy.__version__)')
  [ "$got" = 1.26.4 ] || fail "numpy in the image: $got"
  docker run --rm mirror-lab:base sh -c 'dpkg -l jq tree | grep -q "^ii  jq" && dpkg -l tree | grep -q "^ii  tree"' \
    || fail "jq or tree is not installed in the image"
  got=$(docker run --rm mirror-lab:base python3 -c 'import importlib.metadata as m; print(m.version("nvidia-nvtx-cu12"), m.version("nvidia-cuda-runtime-cu12"))')
  [ "$got" = "12.4.127 12.4.127" ] || fail "nvidia wheels in the image: $got"
  docker run --rm mirror-lab:base sh -c 'test ! -e /root/.netrc && ! grep -rqs testbed /root /etc/pip.conf' \
    || fail "the token left a trace in the image"
  say "mirror-lab:base holds numpy 1.26.4, nvidia-nvtx-cu12 and nvidia-cuda-runtime-cu12 12.4.127, jq and tree"

  docker buildx build -f docker/Dockerfile.release -t mirror-lab:release --load . >"$work/release.log" 2>&1 \
    || { tail -20 "$work/release.log" >&2; fail "the release build failed"; }
  docker run --rm mirror-lab:release >/dev/null || fail "mirror-lab:release does not run"

  local rc=0 b1 b2 r1 r2
  b1=$(buildx_oci base-1 docker/Dockerfile.base "${secret[@]}" "${args[@]}")
  b2=$(buildx_oci base-2 docker/Dockerfile.base "${secret[@]}" "${args[@]}")
  compare base "$b1" "$b2" "$work/base-1.tar" "$work/base-2.tar" || rc=1
  r1=$(buildx_oci release-1 docker/Dockerfile.release --build-arg "SOURCE_DATE_EPOCH=$SDE")
  r2=$(buildx_oci release-2 docker/Dockerfile.release --build-arg "SOURCE_DATE_EPOCH=$SDE")
  compare release "$r1" "$r2" "$work/release-1.tar" "$work/release-2.tar" || rc=1
  [ "$rc" = 0 ] || fail "mirror-lab does not rebuild to the same digests"
}

check_platforms() {
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    say "SKIP: no qemu-aarch64 in binfmt_misc (see scripts/testbed.sh's output): arm64 cannot run here"
    return 0
  fi
  local got
  got=$(docker run --rm --platform linux/arm64 "$REGISTRY/repro-test/busybox-multi:1" uname -m)
  [ "$got" = aarch64 ] || fail "uname -m in the arm64 busybox: $got"
  got=$(docker run --rm --platform linux/amd64 "$REGISTRY/repro-test/busybox-multi:1" busybox uname -m)
  [ "$got" = x86_64 ] || fail "uname -m in the amd64 busybox: $got"
  cd "$root/tests/fixtures/multiplatform"
  docker buildx build --no-cache --platform linux/amd64,linux/arm64 --output "type=local,dest=$work/mp" . \
    >"$work/mp.log" 2>&1 || { tail -20 "$work/mp.log" >&2; fail "the multi-platform build failed"; }
  [ "$(cat "$work/mp/linux_amd64/arch")" = x86_64 ] && [ "$(cat "$work/mp/linux_arm64/arch")" = aarch64 ] \
    || fail "the RUN step ran as $(cat "$work"/mp/*/arch | tr '\n' ' ')"
  say "busybox-multi:1 runs as aarch64 and x86_64; a RUN step built for linux/amd64,linux/arm64 ran on both"
}

[ $# -gt 0 ] || set -- mirror platforms
for part in "$@"; do
  case $part in
    mirror) check_mirror ;;
    platforms) check_platforms ;;
    *) fail "unknown part $part (mirror, platforms)" ;;
  esac
done
say "ok"
