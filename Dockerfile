# pxd-auth-proxy: the Docker volume driver pxd-auth in front of Portworx pxd.
#
#   docker build -t pxd-auth-proxy:0.1.0 .
#
# Run it on the agent, next to pxd (docs/install.md):
#   docker run -d --name pxd-auth-proxy --restart unless-stopped --network host \
#     -v /run/docker/plugins:/run/docker/plugins \
#     -v /var/lib/pxd-auth-proxy:/var/lib/pxd-auth-proxy \
#     -v /etc/pxd-auth-proxy:/etc/pxd-auth-proxy:ro \
#     -v /run/dcos/pki/CA:/run/dcos/pki/CA:ro \
#     --env-file /etc/pxd-auth-proxy/pxd-auth-proxy.env \
#     pxd-auth-proxy:0.1.0 serve --config /etc/pxd-auth-proxy/pxd-auth-proxy.yaml --admin-listen 127.0.0.1:9102
#
# /var/lib/osd/mounts is not mounted: the proxy only checks the mountpoint strings pxd returns;
# dockerd, not the proxy, bind-mounts them into containers.

# ---- build: compile TypeScript, bundle, then keep production dependencies only -------------
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: "prepare" would compile before the sources are here; the build runs below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# tsc, then esbuild bundles dist/bin/pxd-auth-proxy.js (scripts/bundle.mjs: start-up).
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime: node, the bundled proxy, its production dependencies, the example files --------
FROM node:20-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="pxd-auth-proxy" \
      org.opencontainers.image.description="Docker volume plugin pxd-auth: token_secret resolution, JWT verification and policy in front of Portworx pxd" \
      org.opencontainers.image.licenses="Apache-2.0"
# No package manager is needed at run time: drop npm, npx, corepack and yarn (smaller image,
# fewer tools for an intruder).
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY plugin ./plugin
# Runs as root, on purpose: it must create its socket in /run/docker/plugins (root-owned, where
# dockerd looks) and connect to pxd's root-owned socket there. Both are host folders mounted in;
# a non-root user could do neither without loosening their permissions on the host.
USER root
# The admin listener (on by default through CMD) answers /healthz while the process serves.
# node itself makes the call: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9102/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/bin/pxd-auth-proxy.js"]
CMD ["serve", "--admin-listen", "127.0.0.1:9102"]
