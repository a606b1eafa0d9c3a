# syntax=docker/dockerfile:1
# The k8snet-checker agent: one image, run by the DaemonSet in deploy/. Build: docker build -t k8snet-checker .
#
# Stages: `build` installs every dependency and bundles the agent with all it imports into one ES module
# (dist/agent.mjs, esbuild: tools/build.ts); `node` takes the Node binary out of the Node image, without its symbol
# tables; `runtime` is Debian bookworm slim (glibc, Debian's fping) with that binary and the bundle, run as a non-root
# user. No node_modules, npm, corepack, yarn or C headers ship.
# Without a container registry: docker/build-image.sh builds both bases from Debian's packages and the npm registry.
# test/container.test.ts builds this file with buildah and runs the DaemonSet's pods from it. test/deploy.test.ts
# replays the RUN steps of `build` in a temporary directory and assembles the runtime tree from the COPY --from
# lines below, then starts the agent from it: keep those lines plain.

ARG NODE_IMAGE=node:24-bookworm-slim
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --prefer-offline --no-audit --no-fund
COPY tools/build.ts tools/build-plugins.ts ./tools/
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS node
# strip: the symbol and debug tables (127 MB -> 109 MB); JavaScript stack traces are unchanged, and the dynamic
# symbols native addons link against stay
RUN apt-get update \
 && apt-get install -y --no-install-recommends binutils \
 && strip -o /node "$(command -v node)" \
 && /node --version

FROM ${DEBIAN_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="k8snet-checker" \
      org.opencontainers.image.description="Kubernetes network-connectivity checker: one DaemonSet, a gossip-replicated view, the original REST API on every pod" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# ICMP: Debian's fping (its package also pulls netbase, whose /etc/protocols fping needs to open an ICMP socket).
# The pod holds no capability at all (Pod Security "restricted": drop ALL, nothing added):
#   - fping opens an unprivileged ICMP datagram socket, which the kernel allows to the groups in
#     net.ipv4.ping_group_range: the DaemonSet sets that namespaced, "safe" sysctl for the pod;
#   - Debian's fping postinst gives /usr/bin/fping the file capability cap_net_raw+ep, and the kernel refuses to exec
#     a file whose "+ep" capabilities are not all in the bounding set (spawn fping EPERM, every ping "unknown"):
#     copying the binary over itself drops that extended attribute, so it runs with an empty bounding set;
#   - bookworm's fping 5.1 ignores the replies on a datagram socket unless it is given a source address
#     (fixed upstream in 5.2): docker/fping, first on PATH, adds -S "$POD_IP".
# apt's package cache and lists go in the same layer (about 77 MB otherwise); useradd --no-log-init writes no lastlog.
# Checked by test/deploy.test.ts and run for real by test/container.test.ts (uid 10001, no capability, a netns).
# The agent writes nothing to disk, so it runs with a read-only root filesystem.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fping netbase \
 && cp /usr/bin/fping /usr/bin/fping.plain && mv /usr/bin/fping.plain /usr/bin/fping \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 k8snet \
 && useradd --system --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin k8snet
COPY --chmod=0755 docker/fping /usr/local/bin/fping
COPY --from=node /node /usr/local/bin/node

WORKDIR /app
# the source revision the image was built from, for k8snet_build_info (build metadata, not configuration)
ENV NODE_ENV=production K8SNET_REVISION=${REVISION}
# IMAGE_ENV in tools/launcher.ts: one glibc malloc arena (Node's helper threads would each grow their own): 5 MB less
# RSS per agent, no CPU cost measured (bench/notes/log/agent-memory.md)
ENV MALLOC_ARENA_MAX=1
COPY --from=build /build/package.json ./package.json
COPY --from=build /build/dist ./dist

USER 10001:10001
# api (REST API), health (GET /health, the pod-level probe target), gossip (libp2p TCP)
EXPOSE 8080/tcp 6100/tcp 6200/tcp
# IMAGE_NODE_FLAGS in tools/launcher.ts (the benchmarks run the agent with the same): a 2 MB young generation
# (RSS stays near the heap, and no 150-330 ms compacting collection shrinks a grown one two minutes after start), and
# scavenges without helper threads (they never wait for threads a busy node schedules late)
ENTRYPOINT ["node", "--max-semi-space-size=2", "--no-parallel-scavenge", "dist/agent.mjs"]
