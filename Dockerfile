# syntax=docker/dockerfile:1
# The k8snet-checker agent: one image, run by the DaemonSet in deploy/. Build: docker build -t k8snet-checker .
#
# Stages: `build` installs every dependency and compiles src/ to dist/ (tsc); `deps` installs the production
# dependencies alone from the same lock file; `runtime` is a slim Node 24 LTS image with Debian's fping, the
# compiled code and the production node_modules, run as a non-root user.
# test/deploy.test.ts runs the RUN steps of `build` and `deps` in temporary directories and assembles the
# runtime tree from the COPY --from lines below, then starts the agent from it: keep those lines plain.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --prefer-offline --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --prefer-offline --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
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
      org.opencontainers.image.base.name="docker.io/library/node:24-bookworm-slim"

# ICMP: Debian's fping (its package also pulls netbase, whose /etc/protocols fping needs to open an ICMP socket,
# and libcap2-bin, with which its postinst gives /usr/bin/fping the file capability cap_net_raw+ep).
# How ICMP works for a non-root agent with allowPrivilegeEscalation: false (no_new_privs):
#   - file capabilities and setuid do not apply under no_new_privs, and Kubernetes never passes an added
#     capability as ambient, so fping never holds CAP_NET_RAW and cannot open a raw socket;
#   - fping then opens an unprivileged ICMP datagram socket, which the kernel allows to the groups in
#     net.ipv4.ping_group_range: the DaemonSet sets that namespaced, "safe" sysctl for the pod;
#   - NET_RAW must still be in the container's capability set (the DaemonSet drops ALL and adds NET_RAW):
#     the kernel refuses to exec a binary whose file capabilities are "+ep" and not all in the bounding set
#     (spawn fping EPERM, so every ping would read "unknown");
#   - bookworm's fping 5.1 ignores the replies on a datagram socket unless it is given a source address
#     (fixed upstream in 5.2): docker/fping, first on PATH, adds -S "$POD_IP".
# Checked by test/deploy.test.ts (uid 10001, no_new_privs, bounding set {NET_RAW}, in a network namespace).
# The agent writes nothing to disk, so it runs with a read-only root filesystem.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fping netbase \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 k8snet \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin k8snet
COPY --chmod=0755 docker/fping /usr/local/bin/fping

WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /deps/package.json ./package.json
COPY --from=deps /deps/node_modules ./node_modules
COPY --from=build /build/dist ./dist

USER 10001:10001
# api (REST API), health (GET /health, the pod-level probe target), gossip (libp2p TCP)
EXPOSE 8080/tcp 6100/tcp 6200/tcp
# IMAGE_NODE_FLAGS in src/node/launcher.ts (the benchmarks run the agent with the same): a 2 MB young generation
# (RSS stays near the heap, and no 150-330 ms compacting collection shrinks a grown one two minutes after start), and
# scavenges without helper threads (they never wait for threads a busy node schedules late)
ENTRYPOINT ["node", "--max-semi-space-size=2", "--no-parallel-scavenge", "dist/src/node/main.js"]
