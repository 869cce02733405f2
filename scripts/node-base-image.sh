#!/usr/bin/env bash
# Builds a local Node.js 20 base image for Dockerfile.agent on machines that reach no image registry (so
# `node:20-bookworm-slim` cannot be pulled). Debian bookworm's own `nodejs` package is Node 18, too old for the agent
# (engines: >=20.18.1, undici 7), so the image is the local debian:bookworm-slim (made by scripts/provision.sh) plus
# this host's own Node 20: the `node` binary and its npm, copied in. scripts/provision.sh runs it as
#   bash scripts/node-base-image.sh node:20-bookworm-slim     # when no image of that name is present
# so that Dockerfile.agent builds unchanged; the tests' own default tag is podflame-node:20-bookworm-slim.
# npm inside the image trusts the same certificate authorities as npm on this host (its `cafile`, else the system
# bundle): `npm ci` in the agent build must reach the registry through whatever TLS proxy the host trusts.
set -euo pipefail

TAG="${1:-podflame-node:20-bookworm-slim}"
say() { printf 'node-base-image: %s\n' "$*" >&2; }

node_bin="$(readlink -f "$(command -v node)")" || { say "no node on PATH; install Node.js 20 first"; exit 1; }
version="$("$node_bin" --version)"
case "$version" in
  v20.*) ;;
  *) say "host node is $version; the agent needs Node 20 (>=20.18.1)"; exit 1 ;;
esac
# npm lives next to node: <prefix>/bin/node and <prefix>/lib/node_modules/npm.
prefix="$(dirname "$(dirname "$node_bin")")"
npm_dir="$prefix/lib/node_modules/npm"
[ -f "$npm_dir/bin/npm-cli.js" ] || { say "npm not found at $npm_dir"; exit 1; }
docker image inspect debian:bookworm-slim >/dev/null 2>&1 \
  || { say "base image debian:bookworm-slim missing; run bash scripts/provision.sh (as root)"; exit 1; }

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$node_bin" "$ctx/node"
cp -a "$npm_dir" "$ctx/npm"
cafile="$(npm config get cafile 2>/dev/null || true)"
case "$cafile" in ''|null|undefined) cafile=/etc/ssl/certs/ca-certificates.crt ;; esac
[ -f "$cafile" ] || { say "no CA bundle at $cafile"; exit 1; }
cp "$cafile" "$ctx/host-ca.crt"
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm-slim
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY host-ca.crt /usr/local/share/podflame/host-ca.crt
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/podflame/host-ca.crt \
    npm_config_cafile=/usr/local/share/podflame/host-ca.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
DOCKERFILE
say "building $TAG from debian:bookworm-slim with host node $version ($node_bin)"
docker build --network host -q -t "$TAG" "$ctx" >/dev/null
say "built $TAG"
