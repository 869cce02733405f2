#!/usr/bin/env bash
# Installs and starts what podflame's demo and end-to-end tests need on a Debian machine (run as root):
# Debian packages (Docker engine, perf, JDK 17, jattach, debootstrap, Chromium), a running dockerd with no bridge
# network, a local debian:bookworm-slim base image (no registry is reachable on these machines), and a local Debian
# sid base image, podflame-base:sid, for the image that holds JDK 8, 11, 17, 21 and 25 (test/workloads/jdks/).
# Idempotent: each step says what it does and skips what is already there.
set -euo pipefail

say() { printf 'podflame provision: %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    say "must run as root (installs Debian packages and starts dockerd)"; exit 1
  fi
}

PACKAGES=(docker.io linux-perf openjdk-17-jdk-headless jattach debootstrap chromium iproute2 procps time gcc libc6-dev)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then say "Debian packages present"; return; fi
  say "installing Debian packages: ${missing[*]} (apt-get, a few minutes the first time)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start_dockerd() {
  if docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1; then say "Docker engine running"; return; fi
  # The VM has no bridge networking: containers run with network mode none, builds with --network host.
  say "starting dockerd (--bridge=none --iptables=false --ip-masq=false), log in /var/log/podflame-dockerd.log"
  nohup dockerd --bridge=none --iptables=false --ip-masq=false >/var/log/podflame-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1 && { say "Docker engine up"; return; }
    sleep 0.5
  done
  say "dockerd did not answer within 30 s; see /var/log/podflame-dockerd.log"; exit 1
}

base_image() {
  if docker image inspect debian:bookworm-slim >/dev/null 2>&1; then say "base image debian:bookworm-slim present"; return; fi
  local dir; dir=$(mktemp -d /tmp/podflame-rootfs.XXXXXX)
  say "building base image debian:bookworm-slim with debootstrap (about a minute)"
  debootstrap --variant=minbase bookworm "$dir" http://deb.debian.org/debian >/tmp/podflame-debootstrap.log 2>&1 \
    || { say "debootstrap failed; see /tmp/podflame-debootstrap.log"; exit 1; }
  tar -C "$dir" -c . | docker import - debian:bookworm-slim >/dev/null
  rm -rf "$dir"
  say "base image debian:bookworm-slim imported"
}

# The multi-JDK test image (test/workloads/jdks/Dockerfile) starts FROM podflame-base:sid: only sid packages JDK 8,
# 11, 17, 21 and 25 side by side. A podflame- name rather than debian:sid, because this is a snapshot of the mirror
# made once, not Docker Hub's image, and must not be mistaken for it. debootstrap needs no extra flag: it checks the
# Release signature against debian-archive-keyring but not its Valid-Until date, which on this mirror's sid has
# passed; apt-get inside the image does check it, hence `apt-get -o Acquire::Check-Valid-Until=false update` in the
# Dockerfile. minbase keeps downloaded .debs (no docker-clean hook), so images built on it run `apt-get clean`.
SID_BASE_IMAGE=podflame-base:sid

sid_base_image() {
  if docker image inspect "$SID_BASE_IMAGE" >/dev/null 2>&1; then say "base image $SID_BASE_IMAGE present"; return; fi
  local dir; dir=$(mktemp -d /tmp/podflame-rootfs-sid.XXXXXX)
  say "building base image $SID_BASE_IMAGE with debootstrap from Debian sid (about a minute)"
  debootstrap --variant=minbase sid "$dir" http://deb.debian.org/debian >/tmp/podflame-debootstrap-sid.log 2>&1 \
    || { say "debootstrap of sid failed; see /tmp/podflame-debootstrap-sid.log"; rm -rf "$dir"; exit 1; }
  tar -C "$dir" -c . | docker import - "$SID_BASE_IMAGE" >/dev/null
  rm -rf "$dir"
  say "base image $SID_BASE_IMAGE imported"
}

# Dockerfile.agent starts FROM node:20-bookworm-slim. With no registry to pull it from, make a local image of that
# name the same way as debian:bookworm-slim: the local Debian base plus this machine's own Node 20 and npm
# (scripts/node-base-image.sh), so `docker build -f Dockerfile.agent .` works here unchanged. An image of that name
# already present (pulled on a normal machine) is left alone.
node_base_image() {
  if docker image inspect node:20-bookworm-slim >/dev/null 2>&1; then say "base image node:20-bookworm-slim present"; return; fi
  say "making base image node:20-bookworm-slim locally: debian:bookworm-slim plus this machine's Node 20 (no registry to pull it from)"
  bash "$(dirname "$0")/node-base-image.sh" node:20-bookworm-slim
}

need_root
install_packages
start_dockerd
base_image
sid_base_image
node_base_image
say "ready"
