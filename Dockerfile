# pxd-auth-proxy: the Docker volume driver pxd-auth in front of Portworx pxd.
#
#   DOCKER_BUILDKIT=0 docker build --network host -t pxd-auth-proxy:0.1.0 .
#
# Works with the legacy builder (dockerd 20.10) and BuildKit alike: no heredocs, no RUN --mount, no
# HEALTHCHECK --start-interval. Build arguments (docs/install.md, "Build the image"):
#   BASE_IMAGE          Node.js 20 on Debian bookworm: builds the proxy and gives the runtime its node
#                       binary (/usr/local/bin/node). Pin it: node:20-bookworm-slim@sha256:<digest>.
#   RUNTIME_BASE_IMAGE  the run-time root file system, the Debian release BASE_IMAGE is built on
#                       (node's glibc and libstdc++). Pin it: debian:bookworm-slim@sha256:<digest>.
# Behind a TLS-intercepting proxy, put its CA certificate(s), PEM, in ./build-ca.pem: `npm ci` trusts
# them (NODE_EXTRA_CA_CERTS) in the build stage only; they never reach the image.
#
# Run it on the agent, next to pxd: the `docker run` of docs/install.md.
# /var/lib/osd/mounts is not mounted: the proxy only checks the mountpoint strings pxd returns;
# dockerd, not the proxy, bind-mounts them into containers.

ARG BASE_IMAGE=node:20-bookworm-slim
ARG RUNTIME_BASE_IMAGE=debian:bookworm-slim

# ---- build: compile TypeScript, bundle, and install the few packages the bundle loads -----------
FROM ${BASE_IMAGE} AS build
WORKDIR /src
# build-ca.pe[m]: the optional CA file (a pattern, so that the COPY does not fail without it).
COPY package.json package-lock.json build-ca.pe[m] ./
# The registry is checked first: with a missing or wrong CA, npm ci would fail only after about 70 s,
# saying nothing but "Exit handler never called!". --ignore-scripts: "prepare" would compile before
# the sources are here; the build runs below.
RUN if [ -f build-ca.pem ]; then export NODE_EXTRA_CA_CERTS=/src/build-ca.pem; fi \
 && node -e "const u=process.env.npm_config_registry||'https://registry.npmjs.org/';fetch(u,{signal:AbortSignal.timeout(20000)}).then(r=>console.log('npm registry',u,'answers',r.status),e=>{console.error('cannot reach the npm registry',u,'-',(e.cause&&e.cause.message)||e.message);console.error('behind a TLS-intercepting proxy? put its CA certificate (PEM) in build-ca.pem next to the Dockerfile');process.exit(1)})" \
 && npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# tsc, then esbuild bundles dist/bin/pxd-auth-proxy.js (scripts/bundle.mjs): one file plus its chunks.
RUN npm run build
# The bundle holds every dependency except its externals (scripts/bundle.mjs lists them in
# dist/bin/externals.json: pino and pino-pretty, which start a worker thread from a file of their own).
# Only those, at the versions of package-lock.json, from npm's cache of the npm ci above (no network):
# about 2 MB instead of 20.
RUN mkdir /runtime && cd /runtime && cp /src/package-lock.json . \
 && node -e "const p=require('/src/package.json');const keep=require('/src/dist/bin/externals.json');require('fs').writeFileSync('package.json',JSON.stringify({name:p.name,version:p.version,private:true,type:p.type,dependencies:Object.fromEntries(keep.map(k=>[k,p.dependencies[k]]))}))" \
 && npm install --offline --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm ls --omit=dev >/dev/null

# ---- runtime: Debian, the node binary, the bundled proxy, its two externals, the example files ----
# Not FROM the node image: a later `rm` of npm, npx, corepack and yarn only hides them in a layer of
# its own, the image keeps them. Copying the one binary leaves them out for real (no package manager
# at run time: a smaller image, fewer tools for an intruder).
FROM ${RUNTIME_BASE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="pxd-auth-proxy" \
      org.opencontainers.image.description="Docker volume plugin pxd-auth: token_secret resolution, JWT verification and policy in front of Portworx pxd" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /usr/local/bin/node /usr/local/bin/node
# The admin listener (/healthz, /readyz, /metrics) is set here, not in CMD, so that the HEALTHCHECK
# reads the same value: change it with -e PXD_AUTH_ADMIN_LISTEN=host:port|unix:<path> (or in the
# env file), never with --admin-listen, which the health check cannot see.
ENV NODE_ENV=production \
    PXD_AUTH_ADMIN_LISTEN=127.0.0.1:9102
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /runtime/node_modules ./node_modules
COPY --from=build /src/dist/bin ./dist/bin
COPY plugin ./plugin
# Runs as root, on purpose: it must create its socket in /run/docker/plugins (root-owned, where
# dockerd looks) and connect to pxd's root-owned socket there. Both are host folders mounted in;
# a non-root user could do neither without loosening their permissions on the host.
USER root
# `healthcheck` finds the admin listener as `serve` does (PXD_AUTH_ADMIN_LISTEN, then the file named by
# PXD_AUTH_CONFIG) and asks /healthz, on host:port or a unix: socket; exit 0 or 1. dockerd 20.10 runs
# the first check one interval after the start, so the interval is also the time to `healthy`.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/dist/bin/pxd-auth-proxy.js", "healthcheck"]
ENTRYPOINT ["node", "/app/dist/bin/pxd-auth-proxy.js"]
CMD ["serve"]
