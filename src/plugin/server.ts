import http from 'node:http';
import net from 'node:net';
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ProxyError } from '../errors.js';
import { isEndpoint, type Endpoint } from './protocol.js';

/** Docker bodies are small (a name, a few options); 1 MiB leaves room for long tokens and nothing else. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface PluginHandler {
  handle(endpoint: Endpoint, body: Buffer): Promise<Record<string, unknown>>;
}

/**
 * How long a plugin connection may spend in each state, and how many may be open at once. A limit
 * closes only the connection that broke it; 0 turns a limit off.
 */
export interface ConnectionLimits {
  /** From a request's first byte to its complete head (a slow-loris head). */
  headersTimeoutMs: number;
  /** From the complete head to the complete body: the whole body, however slowly it trickles. */
  bodyTimeoutMs: number;
  /**
   * A connection with no request in progress (after a reply, or opened and never used yet) is
   * closed after this long. Must stay longer than any client's own idle pooling: see IDLE_TIMEOUT_MS.
   */
  idleTimeoutMs: number;
  /** A reply the client does not take (socket buffer full) may wait this long. */
  sendTimeoutMs: number;
  /** Most connections open at once; one more is accepted and closed at once (see MAX_CONNECTIONS). */
  maxConnections: number;
  /** How often the limits are checked: each fires between its value and its value plus this. */
  checkIntervalMs: number;
}

/**
 * dockerd writes a whole request in one go over a local socket (a name and a few options), so a
 * head or a body that takes seconds is a stuck or hostile client. 10 s each is generous even for a
 * starved host; the time a handler takes (a Mount may legitimately take ~2 min) is never counted.
 */
export const HEADERS_TIMEOUT_MS = 10_000;
export const BODY_TIMEOUT_MS = 10_000;

/**
 * Longer than every client's own idle pooling, so the proxy never closes a connection a client is
 * about to reuse (losing that race makes dockerd resend the call with an empty body: moby
 * pkg/plugins/client.go callWithRetry reuses the drained body buffer):
 * - dockerd >= 29.4.1: its plugin client (moby pkg/plugins/client.go newTransport: `&http.Transport{}`
 *   passed to go-connections sockets.ConfigureTransport, which since go-connections v0.7.0 sets
 *   MaxIdleConns 6 and IdleConnTimeout 30 s) closes an idle connection after 30 s, before we do.
 * - Go's http.DefaultTransport (other Go clients): IdleConnTimeout 90 s.
 * - dockerd <= 29.4.0, 20.10.24 included (go-connections <= v0.6.0): a zero http.Transport, whose
 *   IdleConnTimeout 0 means no limit. No finite value outlasts it; after 127 s idle the connection
 *   is closed and the next call dials a new one. A race needs that call to arrive within the same
 *   instant, so the figure is deliberately not a multiple of a minute (cron-driven `docker volume
 *   ls` every N minutes would otherwise land on it). Set 0 to keep idle connections forever.
 * - dvdcli: one connection per run, closed when it exits.
 * A connection opened but not used yet counts as idle (Go dials ahead and pools a connection a
 * waiting call no longer needed), not as a slow head.
 */
export const IDLE_TIMEOUT_MS = 127_000;

/** Replies are small and dockerd reads them at once: a client that leaves one unread this long is stuck. */
export const SEND_TIMEOUT_MS = 30_000;

/**
 * dockerd opens one connection per call in flight and no more (Go's Transport, MaxConnsPerHost 0):
 * a handful normally, and at its start one Get per volume of this driver that it knows, all at
 * once (moby volume/service/restore.go: a goroutine per volume). A refused connection is retried by
 * dockerd with an EMPTY body (an Err, and a Get Err at start makes it forget the volume), so the
 * cap must sit far above that: 4096, or fewer if the open-file limit is lower (see fdCeiling).
 */
export const MAX_CONNECTIONS = 4096;

/** Check each connection every second: limits fire within a second of their value. */
export const CHECK_INTERVAL_MS = 1_000;

export function defaultConnectionLimits(): ConnectionLimits {
  return {
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: BODY_TIMEOUT_MS,
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    sendTimeoutMs: SEND_TIMEOUT_MS,
    maxConnections: Math.min(MAX_CONNECTIONS, fdCeiling() ?? MAX_CONNECTIONS),
    checkIntervalMs: CHECK_INTERVAL_MS,
  };
}

/**
 * Half the open-file limit (node raises the soft limit to the hard one at start), less a reserve:
 * each plugin connection may hold a backend connection too, and the state file, the secret store
 * and the log need a few. Past the cap a connection is refused; past the file limit everything
 * (pxd calls included) would fail with EMFILE.
 */
function fdCeiling(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Math.max(16, Math.floor(Number(m[1]) / 2) - 64) : undefined;
  } catch {
    return undefined;
  }
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
 * `limits` overrides the connection limits (defaultConnectionLimits); setConnectionLimits changes
 * them later.
 */
export function createPluginServer(
  handler: PluginHandler,
  onError?: (e: unknown) => void,
  limits: Partial<ConnectionLimits> = {},
): http.Server {
  let guard: ConnectionGuard | undefined = undefined;
  // Host is "" from dockerd 20.10 and plugin.moby.localhost from later ones; a client that sends
  // none at all would get node's bare 400 otherwise. Node's own header/request checks are off
  // (ConnectionGuard does them): they count a connection opened but not used yet as a slow head.
  // keepAliveTimeout 0 and timeout 0: no socket inactivity timer, which would also fire during a
  // long handler; the guard closes idle connections instead, and never one with a call in flight.
  const server = http.createServer({ requireHostHeader: false, headersTimeout: 0, requestTimeout: 0, keepAliveTimeout: 0 }, (req, res) => {
    guard!.onRequest(req, res);
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
  server.timeout = 0;
  guard = new ConnectionGuard(server, { ...defaultConnectionLimits(), ...limits });
  guards.set(server, guard);
  return server;
}

const guards = new WeakMap<http.Server, ConnectionGuard>();

/**
 * Change a plugin server's limits while it runs (a reload, or tests that cannot wait two minutes).
 * Connections already open are held to the new limits from the next check on.
 */
export function setConnectionLimits(server: http.Server, limits: Partial<ConnectionLimits>): void {
  const guard = guards.get(server);
  if (!guard) throw new Error('not a plugin server');
  guard.update(limits);
}

export function connectionLimits(server: http.Server): Readonly<ConnectionLimits> | undefined {
  return guards.get(server)?.current;
}

/** What the guard knows of one connection. */
interface Conn {
  socket: net.Socket;
  /** Requests whose head arrived and whose reply is not finished. */
  open: number;
  /** The latest request and its reply. */
  req?: http.IncomingMessage;
  res?: http.ServerResponse;
  /** When the latest request's head was complete (its body time starts there). */
  bodySince: number;
  /** When the connection last had no request in progress, and how many bytes it had read then. */
  idleSince: number;
  idleBytes: number;
  /** When bytes of a next request were first seen (its head time starts there). */
  headSince?: number;
  /** Since when the socket has held reply bytes the client does not take. */
  stallSince?: number;
}

/**
 * Header, body, idle and send limits for each connection, and the connection cap. One timer checks
 * every connection each checkIntervalMs. A connection is in one of these states:
 * - a body arriving (head complete, body not): bodyTimeoutMs from the complete head;
 * - a call in flight (handler running, or its reply being written): no limit, however long the
 *   handler takes, unless the client stops taking the reply (sendTimeoutMs);
 * - nothing in progress: idleTimeoutMs, until a first byte of the next request arrives, from which
 *   headersTimeoutMs runs until its head is complete.
 * A head or body timeout answers 408 with an Err (when no reply was started) and closes; an idle or
 * send timeout just closes. Time the event loop itself was stalled is not counted against clients.
 */
class ConnectionGuard {
  private limits: ConnectionLimits;
  private readonly conns = new Map<net.Socket, Conn>();
  private timer: NodeJS.Timeout | undefined;
  private last = performance.now();

  constructor(
    private readonly server: http.Server,
    limits: ConnectionLimits,
  ) {
    this.limits = checkLimits(limits);
    this.applyCap();
    server.on('connection', (socket: net.Socket) => {
      const now = performance.now();
      this.conns.set(socket, { socket, open: 0, bodySince: now, idleSince: now, idleBytes: socket.bytesRead });
      socket.once('close', () => this.conns.delete(socket));
    });
    server.once('close', () => this.stop());
    this.start();
  }

  get current(): Readonly<ConnectionLimits> {
    return { ...this.limits };
  }

  update(limits: Partial<ConnectionLimits>): void {
    this.limits = checkLimits({ ...this.limits, ...limits });
    this.applyCap();
    this.stop();
    this.start();
  }

  onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const c = this.conns.get(req.socket);
    if (!c) return;
    c.open++;
    c.req = req;
    c.res = res;
    c.bodySince = performance.now();
    c.headSince = undefined;
    res.once('close', () => {
      c.open--;
      this.settle(c);
    });
    // A reply may finish before its body has arrived (404, 405): the connection is idle once both are done.
    req.once('end', () => this.settle(c));
  }

  /** Nothing in progress any more: the idle time starts, and a next request's head is whatever arrives from here. */
  private settle(c: Conn): void {
    if (c.open > 0 || (c.req && !c.req.complete)) return;
    c.idleSince = performance.now();
    c.idleBytes = c.socket.bytesRead;
    c.headSince = undefined;
    c.stallSince = undefined;
  }

  private applyCap(): void {
    // Node accepts the connection and closes it at once ('drop' event): the client sees EOF or
    // ECONNRESET on its first read, or EPIPE on its write; connections already open are untouched.
    this.server.maxConnections = this.limits.maxConnections;
  }

  private start(): void {
    this.last = performance.now();
    this.timer = setInterval(() => this.check(), this.limits.checkIntervalMs);
    this.timer.unref();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const now = performance.now();
    const { headersTimeoutMs, bodyTimeoutMs, idleTimeoutMs, sendTimeoutMs, checkIntervalMs } = this.limits;
    // A check that comes late means the event loop was blocked: the bytes a client sent meanwhile
    // may be unread yet. That time is not the client's: move every clock forward by it.
    const late = now - this.last - checkIntervalMs;
    this.last = now;
    const credit = late > checkIntervalMs ? late : 0;
    for (const c of this.conns.values()) {
      if (credit) {
        c.bodySince += credit;
        c.idleSince += credit;
        if (c.headSince !== undefined) c.headSince += credit;
        if (c.stallSince !== undefined) c.stallSince += credit;
      }
      const s = c.socket;
      if (s.destroyed) continue;
      if (c.req && !c.req.complete) {
        // No 408 when a reply is already under way on this connection (it would corrupt it).
        const replying = c.open > 1 || c.res?.headersSent === true;
        if (bodyTimeoutMs && now - c.bodySince >= bodyTimeoutMs)
          this.expire(c, `the request body did not arrive within ${seconds(bodyTimeoutMs)}`, !replying);
      } else if (c.open > 0) {
        if (s.writableLength === 0) c.stallSince = undefined;
        else if (c.stallSince === undefined) c.stallSince = now;
        else if (sendTimeoutMs && now - c.stallSince >= sendTimeoutMs) s.destroy();
      } else if (c.headSince === undefined) {
        if (s.bytesRead > c.idleBytes) c.headSince = now;
        else if (idleTimeoutMs && now - c.idleSince >= idleTimeoutMs) s.destroy();
      } else if (headersTimeoutMs && now - c.headSince >= headersTimeoutMs) {
        this.expire(c, `the request head did not arrive within ${seconds(headersTimeoutMs)}`, true);
      }
    }
  }

  private expire(c: Conn, why: string, reply: boolean): void {
    const s = c.socket;
    if (reply && s.writable) {
      // dockerd reads Err from a non-200 reply and does not retry: better than a bare close,
      // after which it would resend the call with an empty body.
      const body =
        JSON.stringify({
          Err: new ProxyError('REQUEST_TIMEOUT', `${why}; nothing was done and the connection was closed`).toDockerText(),
        }) + '\n';
      s.write(
        `HTTP/1.1 408 Request Timeout\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    s.destroy();
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function checkLimits(l: ConnectionLimits): ConnectionLimits {
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`connection limit ${k} must be a whole number >= 0, not ${String(v)}`);
  }
  if (l.checkIntervalMs < 1) throw new RangeError('connection limit checkIntervalMs must be at least 1');
  return { ...l };
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
