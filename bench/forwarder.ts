/**
 * One forwarder under measurement (bench/forwarders.ts), in its own process so that its CPU time is
 * its own. Prints `ready` once it listens.
 *
 *   node --import tsx bench/forwarder.ts <mode> <socket> <backend socket>
 *
 * modes:
 *   lean        the proxy's transport alone: node:http (createPluginServer), the body parsed and
 *               re-serialized, undici Pool (BackendClient)
 *   http-proxy  http-proxy with a keep-alive agent, the body streamed through unparsed
 *   express     the obvious way: express + express.json() + http-proxy writing the parsed body back
 */
import http from 'node:http';
import express from 'express';
import httpProxy from 'http-proxy';
import { BackendClient } from '../src/backend/client.js';
import { createPluginServer, listenPlugin } from '../src/plugin/server.js';

const [mode, socket, backendSocket] = process.argv.slice(2) as [string, string, string];

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
  } else if (mode === 'http-proxy') {
    // The body streams through untouched: nothing parsed, nothing checked.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const proxy = httpProxy.createProxyServer({ target: { socketPath: backendSocket } as unknown as string, agent });
    proxy.on('error', (_e, _req, res) => {
      const r = res as http.ServerResponse;
      if (!r.headersSent) r.writeHead(502);
      r.end(JSON.stringify({ Err: 'backend error' }));
    });
    // Connection is hop-by-hop, but http-proxy passes it on when it has an agent: the bench's first
    // probe (Connection: close) then had the backend close the agent's socket under it (EPIPE).
    proxy.on('proxyReq', (proxyReq) => proxyReq.removeHeader('connection'));
    const server = http.createServer((req, res) => proxy.web(req, res));
    await new Promise<void>((resolve) => server.listen(socket, () => resolve()));
  } else if (mode === 'express') {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const proxy = httpProxy.createProxyServer({ target: { socketPath: backendSocket } as unknown as string, agent });
    proxy.on('proxyReq', (proxyReq, req) => {
      proxyReq.removeHeader('connection'); // hop-by-hop: see http-proxy above
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
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  process.stdout.write('ready\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`forwarder ${mode}: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
