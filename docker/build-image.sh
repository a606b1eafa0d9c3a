#!/usr/bin/env bash
# Builds the agent's image from the Dockerfile with buildah (root, no container registry needed): on bases made here
# by docker/base-image.sh unless NODE_IMAGE and DEBIAN_IMAGE name others, with npm's cache directory mounted into the RUN steps so
# `npm ci --prefer-offline` finds every package without the network (run `npm ci` on this machine first).
#
#   docker/build-image.sh [TAG]      default TAG: localhost/k8snet-checker:<package.json version>
#   NODE_IMAGE=..., DEBIAN_IMAGE=...  the bases (default: docker/base-image.sh's, built when missing)
#   VERSION, REVISION, CREATED        the image's labels (default: package.json, git HEAD, now)
#
# Prints the image's name last. With Docker and a registry instead: docker build -t k8snet-checker .
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -nE 's/^  "version": "([^"]+)".*/\1/p' package.json)
tag=${1:-localhost/k8snet-checker:${version}}
if [ -z "${NODE_IMAGE:-}" ] || [ -z "${DEBIAN_IMAGE:-}" ]; then
  node_version=$(sed -nE '/"node_modules\/node": \{/,/"version"/ s/.*"version": "([^"]+)".*/\1/p' package-lock.json | head -n 1)
  export NODE_IMAGE="localhost/node-base:${node_version}-bookworm-slim" DEBIAN_IMAGE="localhost/debian-base:bookworm-slim"
  if ! podman image exists "$NODE_IMAGE" || ! podman image exists "$DEBIAN_IMAGE"; then docker/base-image.sh >/dev/null; fi
fi
cache=$(npm config get cache)
mkdir -p "$cache"

buildah bud --quiet --isolation chroot --layers \
  --ulimit nofile=20000:20000 --ulimit nproc=1024:1024 \
  -v "$cache:/root/.npm" \
  --build-arg "NODE_IMAGE=$NODE_IMAGE" --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" \
  --build-arg "VERSION=${VERSION:-$version}" \
  --build-arg "REVISION=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}" \
  --build-arg "CREATED=${CREATED:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}" \
  -t "$tag" . >&2
echo "$tag"
