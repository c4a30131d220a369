#!/usr/bin/env bash
# Builds docker-repro and installs it as a Docker CLI plugin, then checks that this machine can
# cut reproducible releases: docker, buildx >= 0.13, and an engine that can export OCI images
# (the containerd image store, or a docker-container builder). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
say() { printf 'install: %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null; then
  say "cargo is missing: install Rust (https://rustup.rs), then run ./install.sh again"; exit 1
fi
cargo build --release --locked --quiet
mkdir -p "$plugins"
# Copy then rename, so a running docker never sees a half-written plugin.
cp target/release/docker-repro "$plugins/.docker-repro.new"
chmod 755 "$plugins/.docker-repro.new"
mv -f "$plugins/.docker-repro.new" "$plugins/docker-repro"
say "installed $plugins/docker-repro"

problems=0
problem() { say "MISSING: $*"; problems=$((problems + 1)); }

if ! command -v docker >/dev/null; then
  problem "the docker CLI; install Docker (Debian: apt-get install docker.io)"
else
  if ! docker repro docker-cli-plugin-metadata >/dev/null 2>&1 && ! docker --help 2>/dev/null | grep -q 'repro\*'; then
    problem "docker does not list the plugin; check that $plugins is the cli-plugins directory of your DOCKER_CONFIG"
  fi
  buildx=$(docker buildx version 2>/dev/null | awk '{print $2}' | sed 's/^v//; s/[+-].*//')
  if [ -z "$buildx" ]; then
    problem "docker buildx; install it (Debian: apt-get install docker-buildx; Docker's packages: docker-buildx-plugin)"
  elif [ "$(printf '%s\n0.13.0\n' "$buildx" | sort -V | head -n1)" != 0.13.0 ]; then
    problem "buildx >= 0.13 (found $buildx), needed for rewrite-timestamp; upgrade docker-buildx"
  fi
  if ! docker info >/dev/null 2>&1; then
    problem "a running Docker engine; start it (systemctl start docker, or: dockerd &), or select one with docker context use"
  else
    store=$(docker info --format '{{json .DriverStatus}}' 2>/dev/null || true)
    driver=$(docker buildx inspect 2>/dev/null | awk '/^Driver:/ {print $2; exit}')
    if ! grep -q 'io.containerd.snapshotter' <<<"$store" && [ "$driver" != docker-container ]; then
      problem "an engine that can export OCI images: turn on the containerd image store (add {\"features\":{\"containerd-snapshotter\":true}} to /etc/docker/daemon.json and restart dockerd), or create a builder: docker buildx create --use --driver docker-container"
    fi
  fi
fi

if [ "$problems" -gt 0 ]; then
  say "$problems prerequisite(s) missing; docker repro is installed but cannot cut releases until they are fixed"
  exit 1
fi
say "ready: try 'docker repro --help'"
