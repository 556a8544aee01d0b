/**
 * One forwarder under measurement, run as a child process so that its CPU time (process.cpuUsage)
 * is its own: the load generator and the pxd double live in the parent.
 *
 *   node --import tsx bench/forwarder.ts <mode> <socket> <backend socket> <work dir>
 *
 * modes:
 *   lean     the proxy's transport path alone: node:http (createPluginServer) + undici Pool (BackendClient)
 *   express  the obvious alternative: express + express.json() + http-proxy
 *   proxy    the whole pxd-auth-proxy (parse, secrets with cache, verify with cache, policy, audit log)
 */
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import httpProxy from 'http-proxy';
import { pino } from 'pino';
import { BackendClient } from '../src/backend/client.js';
import { createPluginServer, listenPlugin } from '../src/plugin/server.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/audit/logger.js';
import { startProxy } from '../src/app.js';
import { FileSecretStore } from '../src/secrets/file.js';
import { SecretCache } from '../src/secrets/cache.js';
import type { SecretStore } from '../src/secrets/types.js';
import { ISSUER, SHARED_SECRET } from '../test/helpers/tokens.js';

const [mode, socket, backendSocket, workDir] = process.argv.slice(2) as [string, string, string, string];

async function main(): Promise<void> {
  if (mode === 'lean') {
    const backend = new BackendClient(backendSocket, 'pxd');
    const server = createPluginServer({
      handle: async (endpoint, body) => {
        const reply = await backend.call(endpoint, body.length ? JSON.parse(body.toString('utf8')) : {}, 10_000);
        return reply.json ?? { Err: `HTTP ${reply.status}` };
      },
    });
    await listenPlugin(server, { socketPath: socket });
  } else if (mode === 'express') {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const proxy = httpProxy.createProxyServer({ target: { socketPath: backendSocket } as unknown as string, agent });
    proxy.on('proxyReq', (proxyReq, req) => {
      const parsed = (req as unknown as { body?: unknown }).body;
      if (parsed === undefined) return;
      const text = JSON.stringify(parsed);
      proxyReq.setHeader('Content-Type', 'application/json');
      proxyReq.setHeader('Content-Length', Buffer.byteLength(text));
      proxyReq.write(text);
    });
    proxy.on('error', (_e, _req, res) => {
      const r = res as http.ServerResponse;
      if (!r.headersSent) r.writeHead(502);
      r.end(JSON.stringify({ Err: 'backend error' }));
    });
    const app = express();
    app.use(express.json({ type: () => true, limit: '1mb' }));
    app.post('/:endpoint', (req, res) => proxy.web(req, res));
    await new Promise<void>((resolve) => app.listen(socket, () => resolve()));
  } else if (mode === 'proxy') {
    const { config, problems } = loadConfig({
      flags: {
        socket,
        backend: `unix://${backendSocket}`,
        mountsRoot: path.join(workDir, 'mounts'),
        secrets: `file:${path.join(workDir, 'secrets')}`,
        stateDir: path.join(workDir, 'state'),
        jwtIssuer: ISSUER,
        jwtSharedSecret: SHARED_SECRET,
        backendTimeout: 10,
      },
      env: {},
    });
    if (!config) throw new Error(problems.join('; '));
    // JSON lines at info (an audit line per Mount), written as in production, to /dev/null.
    const logger = createLogger({ level: 'info', destination: pino.destination({ dest: '/dev/null', sync: false }) });
    // As with DC/OS: secrets through the same cache the DC/OS store uses, over local files.
    const files = new FileSecretStore(path.join(workDir, 'secrets'));
    const cache = new SecretCache(async (p) => (await files.read(p)).value, { ttlMs: 60_000, maxStaleMs: 0 });
    const secrets: SecretStore = {
      description: `cached ${files.description}`,
      read: (p, signal) => cache.get(p, signal),
      invalidate: (p) => cache.invalidate(p),
      ready: () => files.ready(),
      close: async () => cache.clear(),
    };
    await startProxy(config, logger, { secrets });
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  process.on('message', (m) => {
    if (m === 'cpu') process.send!({ cpu: process.cpuUsage(), rss: process.memoryUsage().rss });
  });
  process.send!('ready');
}

main().catch((e: unknown) => {
  process.stderr.write(`forwarder ${mode}: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
