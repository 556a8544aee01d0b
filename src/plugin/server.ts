import http from 'node:http';
import net from 'node:net';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ProxyError } from '../errors.js';
import { isEndpoint, type Endpoint } from './protocol.js';

/** Docker bodies are small (a name, a few options); 1 MiB leaves room for long tokens and nothing else. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface PluginHandler {
  handle(endpoint: Endpoint, body: Buffer): Promise<Record<string, unknown>>;
}

export interface ListenOptions {
  socketPath: string;
  /** Group (name or gid) for the socket; its mode is 0660 either way. */
  group?: string | number;
  /** A listening fd handed over by systemd (LISTEN_FDS); the socket file is then systemd's. */
  fd?: number;
}

const JSON_TYPE = 'application/vnd.docker.plugins.v1.2+json';

function send(res: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function errBody(e: ProxyError): Record<string, unknown> {
  return { Err: e.toDockerText() };
}

/**
 * The plugin's HTTP side: plain node:http (the volume protocol is nine fixed POST routes; a router
 * would only add cost, see bench/). Ignores Host and Content-Type as dockerd sends neither reliably.
 */
export function createPluginServer(handler: PluginHandler, onError?: (e: unknown) => void): http.Server {
  // Host is "" from dockerd 20.10 and plugin.moby.localhost from later ones; a client that sends
  // none at all would get node's bare 400 otherwise.
  const server = http.createServer({ requireHostHeader: false }, (req, res) => {
    const name = (req.url ?? '').split('?')[0]!.replace(/^\/+/, '');
    if (!isEndpoint(name)) {
      req.resume();
      send(res, 404, errBody(new ProxyError('ENDPOINT_UNKNOWN', `no such plugin endpoint /${name.slice(0, 100)}`)));
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      res.setHeader('Allow', 'POST');
      send(res, 405, errBody(new ProxyError('METHOD_NOT_ALLOWED', `${req.method} /${name}: plugin endpoints only accept POST`)));
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      res.setHeader('Connection', 'close');
      send(res, 413, errBody(new ProxyError('BODY_TOO_LARGE', `${name} body is ${declared} bytes; the limit is ${MAX_BODY_BYTES}`)));
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        if (!tooLarge) {
          tooLarge = true;
          res.setHeader('Connection', 'close');
          send(res, 413, errBody(new ProxyError('BODY_TOO_LARGE', `${name} body is larger than ${MAX_BODY_BYTES} bytes`)));
          req.destroy();
        }
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (tooLarge) return;
      handler.handle(name, Buffer.concat(chunks)).then(
        (reply) => send(res, 200, reply),
        (e) => {
          onError?.(e);
          send(res, 200, { Err: new ProxyError('INTERNAL', 'internal error in pxd-auth-proxy; see its log').toDockerText() });
        },
      );
    });
  });
  // dockerd keeps one connection and reuses it for as long as it runs; closing it idle makes the
  // daemon's next call race the close, fail, and retry with an empty body. pxd (Go's net/http)
  // never closes an idle connection either: 0 keeps them open.
  server.keepAliveTimeout = 0;
  server.headersTimeout = 60_000;
  server.requestTimeout = 130_000;
  return server;
}

/**
 * Bind the plugin socket safely: refuse to steal a live socket, remove a stale one, create it under
 * a restrictive umask so it never exists with loose permissions, then set group and mode 0660.
 */
export async function listenPlugin(server: http.Server, opts: ListenOptions): Promise<void> {
  if (opts.fd !== undefined) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd: opts.fd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return;
  }
  const sock = opts.socketPath;
  await fsp.mkdir(path.dirname(sock), { recursive: true, mode: 0o755 });
  await removeStaleSocket(sock);
  const old = process.umask(0o117);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The bind happens synchronously inside listen(), so the umask covers exactly this socket.
      server.listen(sock, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(old);
  }
  if (opts.group !== undefined) {
    const gid = typeof opts.group === 'number' || /^\d+$/.test(opts.group) ? Number(opts.group) : await groupId(opts.group);
    await fsp.chown(sock, process.getuid?.() ?? 0, gid);
  }
  await fsp.chmod(sock, 0o660);
}

async function removeStaleSocket(sock: string): Promise<void> {
  let st;
  try {
    st = await fsp.lstat(sock);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isSocket()) throw new Error(`${sock} exists and is not a socket; refusing to replace it`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(sock);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another process is already listening on ${sock}`);
  await fsp.unlink(sock);
}

async function groupId(name: string): Promise<number> {
  const text = await fsp.readFile('/etc/group', 'utf8');
  for (const line of text.split('\n')) {
    const [g, , gid] = line.split(':');
    if (g === name && gid !== undefined) return Number(gid);
  }
  throw new Error(`--socket-group: no group named ${name} in /etc/group`);
}

/** systemd socket activation: LISTEN_PID must be us, and the first passed fd is 3. */
export function systemdListenFd(env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (env.LISTEN_PID && Number(env.LISTEN_PID) !== process.pid) return undefined;
  const n = Number(env.LISTEN_FDS ?? 0);
  return n >= 1 ? 3 : undefined;
}
