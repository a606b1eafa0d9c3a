#!/usr/bin/env bash
# Builds local equivalents of the Dockerfile's two bases from Debian's packages and the npm registry alone (for
# machines that reach no container registry):
#   - DEBIAN_IMAGE, for debian:bookworm-slim: Debian bookworm by mmdebstrap (minbase, without docs, man pages and
#     locales, as the slim image);
#   - NODE_IMAGE, for node:24-bookworm-slim: that plus the Node binary of exactly the version package-lock.json pins
#     (the `node` package's platform package, node-linux-<arch>) and npm (NPM_VERSION, default the 11 line).
# Needs root, mmdebstrap, podman and buildah. Prints "NODE_IMAGE=..." and "DEBIAN_IMAGE=..." (defaults:
# localhost/node-base:<node version>-bookworm-slim and localhost/debian-base:bookworm-slim); docker/build-image.sh
# passes them to the build.
set -euo pipefail
cd "$(dirname "$0")/.."

lock_version () { sed -nE "/\"node_modules\/$1\": \{/,/\"version\"/ s/.*\"version\": \"([^\"]+)\".*/\1/p" package-lock.json | head -n 1; }
node_version=$(lock_version node)
[ -n "$node_version" ] || { echo "package-lock.json pins no version of the node package" >&2; exit 1; }
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
node_image=${NODE_IMAGE:-localhost/node-base:${node_version}-bookworm-slim}
debian_image=${DEBIAN_IMAGE:-localhost/debian-base:bookworm-slim}
npm_line=${NPM_VERSION:-11}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# the platform package of the pinned node version, and npm, as tarballs from the npm registry (npm checks integrity)
(cd "$work" && npm pack --silent "node-linux-${arch}@${node_version}" "npm@${npm_line}" >/dev/null)
stage="$work/stage"
mkdir -p "$stage/usr/local/bin" "$stage/usr/local/lib/node_modules/npm"
tar -xzf "$work"/node-linux-${arch}-*.tgz -C "$work" package/bin/node
mv "$work/package/bin/node" "$stage/usr/local/bin/node"
rm -rf "$work/package"
tar -xzf "$work"/npm-*.tgz -C "$stage/usr/local/lib/node_modules/npm" --strip-components=1
npm_version=$(sed -nE 's/^  "version": "([^"]+)".*/\1/p' "$stage/usr/local/lib/node_modules/npm/package.json")
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
chmod 0755 "$stage/usr/local/bin/node" "$stage/usr/local/lib/node_modules/npm/bin/npm-cli.js" "$stage/usr/local/lib/node_modules/npm/bin/npx-cli.js"

slim=()
for p in /usr/share/doc/ /usr/share/man/ /usr/share/info/ /usr/share/locale/ /usr/share/lintian/ /usr/share/linda/; do
  slim+=(--dpkgopt="path-exclude=${p}*")
done
slim+=(--dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-include=/usr/share/locale/locale.alias')
# merged /usr made by the hook, not by the usrmerge package (which pulls in perl: about 47 MB)
mmdebstrap --quiet --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "${slim[@]}" bookworm "$work/rootfs.tar"
podman import --quiet \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change 'CMD ["bash"]' \
  --message "Debian bookworm (minbase, slim) from Debian's packages, built by docker/base-image.sh" \
  "$work/rootfs.tar" "$debian_image" >/dev/null

c=$(buildah from --quiet "$debian_image")
buildah copy --quiet "$c" "$stage" / >/dev/null
buildah run "$c" -- node --version >/dev/null
buildah config --env "NODE_VERSION=${node_version}" --cmd node \
  --created-by "docker/base-image.sh: node ${node_version} and npm ${npm_version} from the npm registry" "$c"
buildah commit --quiet --rm "$c" "$node_image" >/dev/null
echo "NODE_IMAGE=$node_image"
echo "DEBIAN_IMAGE=$debian_image"
