/**
 * Connections that never end (issue 12, section 8): header, body, idle and send limits, and the
 * connection cap, on the real plugin socket of a proxy started as the app starts it. The limits are
 * shortened with setConnectionLimits (production: 10 s, 10 s, 127 s, 30 s, 4096 connections);
 * every wait below is on an event (a reply, a close, a server event) or is the scenario itself
 * (a client staying idle, a slow pxd).
 *
 * Each limit must close only the connection that broke it: other clients, a call in flight however
 * long, and an idle keep-alive connection within its window are never touched.
 */
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BODY_TIMEOUT_MS,
  connectionLimits,
  defaultConnectionLimits,
  HEADERS_TIMEOUT_MS,
  IDLE_TIMEOUT_MS,
  MAX_CONNECTIONS,
  setConnectionLimits,
  type ConnectionLimits,
} from '../../src/plugin/server.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { signHs256, SHARED_SECRET, userClaims } from '../helpers/tokens.js';

/** Short limits for the tests; each test may change them. */
const LIMITS: ConnectionLimits = {
  headersTimeoutMs: 300,
  bodyTimeoutMs: 300,
  idleTimeoutMs: 900,
  sendTimeoutMs: 300,
  maxConnections: 64,
  checkIntervalMs: 20,
};
/** How late a limit may fire on a busy machine (two shared cores). */
const SLACK_MS = 3_000;

let stack: Stack;
const MOUNT_ID = 'ab'.repeat(32);

beforeAll(async () => {
  stack = await startStack();
  stack.writeSecret('pwx/secrets/user1-token', await signHs256(SHARED_SECRET, userClaims('user1')));
  const created = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/user1-token,name=conn1' });
  expect(created.json).toEqual({ Err: '' });
});

afterAll(async () => {
  await stack?.close();
});

beforeEach(() => {
  setConnectionLimits(stack.proxy.server, LIMITS);
});

const opened: RawConn[] = [];
afterEach(() => {
  delete stack.pxd.faults.hold;
  for (const c of opened.splice(0)) c.sock.destroy();
  vi.restoreAllMocks();
});

// ---- a raw client that keeps its connection ---------------------------------------------------

interface Reply {
  status: number;
  head: string;
  body: string;
  json?: any;
  at: number;
}

interface RawConn {
  sock: net.Socket;
  /** Resolves when the proxy's end of the connection closed (for clients that do not read). */
  serverClosed: Promise<number>;
  /** Every byte received so far. */
  received(): Buffer;
  /** Complete replies received so far, in order. */
  replies(): Reply[];
  /** Resolves with the n-th complete reply (1-based). */
  reply(n: number): Promise<Reply>;
  /** Resolves when the server closed the connection, with the time and every byte received. */
  closed: Promise<{ at: number; text: string }>;
  send(bytes: string | Buffer): number;
}

function parseReplies(buf: Buffer, at: number[]): Reply[] {
  const out: Reply[] = [];
  let off = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off);
    if (end < 0) break;
    const head = buf.subarray(off, end).toString('latin1');
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (buf.length < end + 4 + len) break;
    const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    const i = out.length;
    out.push({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body, json, at: at[i] ?? performance.now() });
    off = end + 4 + len;
  }
  return out;
}

/**
 * Open a connection to the plugin socket; resolves once the proxy has accepted it (unless `dropped`:
 * then once connected). Connections are opened one at a time, so the next server-side socket is ours.
 */
async function connect(opts: { dropped?: boolean } = {}): Promise<RawConn> {
  const serverSide = opts.dropped ? undefined : (once(stack.proxy.server, 'connection') as Promise<[net.Socket]>);
  const sock = net.connect(stack.socket);
  const chunks: Buffer[] = [];
  /** When each complete reply was first seen. */
  const seenAt: number[] = [];
  const waiters: Array<{ n: number; resolve: (r: Reply) => void }> = [];
  const closed = new Promise<{ at: number; text: string }>((resolve) => {
    sock.on('close', () => resolve({ at: performance.now(), text: Buffer.concat(chunks).toString('utf8') }));
  });
  sock.on('error', () => undefined);
  sock.on('data', (c: Buffer) => {
    chunks.push(c);
    const all = parseReplies(Buffer.concat(chunks), seenAt);
    while (seenAt.length < all.length) seenAt.push(performance.now());
    for (const w of waiters.splice(0)) {
      if (all.length >= w.n) w.resolve({ ...all[w.n - 1]!, at: seenAt[w.n - 1]! });
      else waiters.push(w);
    }
  });
  await once(sock, 'connect');
  const server = serverSide ? (await serverSide)[0] : undefined;
  const serverClosed = server
    ? new Promise<number>((resolve) => server.once('close', () => resolve(performance.now())))
    : Promise.resolve(0);
  const conn: RawConn = {
    sock,
    serverClosed,
    received: () => Buffer.concat(chunks),
    replies: () => parseReplies(Buffer.concat(chunks), seenAt),
    reply: (n) =>
      new Promise<Reply>((resolve, reject) => {
        const all = parseReplies(Buffer.concat(chunks), seenAt);
        if (all.length >= n) return resolve(all[n - 1]!);
        waiters.push({ n, resolve });
        void closed.then(() =>
          reject(new Error(`connection closed before reply ${n}: ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`)),
        );
      }),
    closed,
    send: (bytes) => {
      sock.write(bytes);
      return performance.now();
    },
  };
  opened.push(conn);
  return conn;
}

/** A keep-alive request as dockerd writes it (no Connection: close). */
function request(endpoint: string, body: unknown = undefined, extraHead = ''): string {
  const text = body === undefined ? '' : JSON.stringify(body) + '\n';
  return (
    `POST /${endpoint} HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n` +
    `Content-Length: ${Buffer.byteLength(text)}\r\n${extraHead}\r\n${text}`
  );
}

/** Poll a condition (state with no event of its own, such as pxd's count of calls in flight). */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `p`, or a clear failure when it has not settled within `ms` (instead of the test's own timeout). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function hold(): () => void {
  let release!: () => void;
  stack.pxd.faults.hold = new Promise<void>((r) => (release = r));
  return () => {
    delete stack.pxd.faults.hold;
    release();
  };
}

/**
 * What a client that keeps writing sees: the 408, or nothing when its next write hit the closed
 * socket (EPIPE) before it read the 408 already waiting for it.
 */
const DRIPPER_SAW = /^(HTTP\/1\.1 408 [^]*)?$/;

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function stillAnswers(): Promise<void> {
  const c = await connect();
  c.send(request('Plugin.Activate'));
  expect((await c.reply(1)).json).toEqual({ Implements: ['VolumeDriver'] });
  c.sock.destroy();
}

// ---- the tests ------------------------------------------------------------------------------------

describe('production limits', () => {
  it('are the documented figures, with the idle limit longer than dockerd (30 s) and Go (90 s) pool idle connections', () => {
    const defaults = defaultConnectionLimits();
    expect(defaults.maxConnections).toBeLessThanOrEqual(MAX_CONNECTIONS);
    expect(defaults.maxConnections).toBeGreaterThanOrEqual(16);
    expect(defaults.idleTimeoutMs).toBe(IDLE_TIMEOUT_MS);
    expect(HEADERS_TIMEOUT_MS).toBe(10_000);
    expect(BODY_TIMEOUT_MS).toBe(10_000);
    expect(IDLE_TIMEOUT_MS).toBeGreaterThan(90_000 + 5_000);
    expect(IDLE_TIMEOUT_MS % 60_000).not.toBe(0);
    expect(MAX_CONNECTIONS).toBe(4096);
  });
});

describe('a slow head', () => {
  it('is answered 408 with an Err and closed after the header timeout, not before', async () => {
    const c = await connect();
    const t0 = c.send('POST /VolumeDriver.Get HTTP/1.1\r\nHost: \r\nContent-Le');
    const { at, text } = await within(c.closed, LIMITS.headersTimeoutMs + SLACK_MS, 'the slow head closed');
    expect(at - t0).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs - 1);
    expect(at - t0).toBeLessThan(LIMITS.headersTimeoutMs + SLACK_MS);
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    const reply = parseReplies(Buffer.from(text), [])[0]!;
    expect(reply.json.Err).toContain('request head did not arrive within 300 ms');
    await stillAnswers();
  });

  it('cannot be stretched by trickling header bytes', async () => {
    const c = await connect();
    const t0 = c.send('POST /VolumeDriver.Get HTTP/1.1\r\nHost: \r\nX-Filler: ');
    // One byte every 20 ms: every gap is far below the limit, the whole head never arrives.
    const drip = setInterval(() => c.sock.writable && c.sock.write('a'), 20);
    try {
      const { at, text } = await within(c.closed, LIMITS.headersTimeoutMs + SLACK_MS, 'the dripping head closed');
      expect(at - t0).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs - 1);
      expect(at - t0).toBeLessThan(LIMITS.headersTimeoutMs + SLACK_MS);
      expect(text).toMatch(DRIPPER_SAW);
    } finally {
      clearInterval(drip);
    }
  });
});

describe('a slow body', () => {
  it('is answered 408 and closed after the body timeout, and the call never runs', async () => {
    const handle = vi.spyOn(stack.proxy.proxy, 'handle');
    const pxdCalls = stack.pxd.requests.length;
    const c = await connect();
    const body = JSON.stringify({ Name: 'token_secret=pwx/secrets/user1-token,name=conn1', ID: MOUNT_ID }) + '\n';
    const head = `POST /VolumeDriver.Mount HTTP/1.1\r\nHost: \r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const t0 = c.send(head + body.slice(0, 20));
    const { at, text } = await within(c.closed, LIMITS.bodyTimeoutMs + SLACK_MS, 'the slow body closed');
    expect(at - t0).toBeGreaterThanOrEqual(LIMITS.bodyTimeoutMs - 1);
    expect(at - t0).toBeLessThan(LIMITS.bodyTimeoutMs + SLACK_MS);
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(parseReplies(Buffer.from(text), [])[0]!.json.Err).toContain('request body did not arrive within 300 ms');
    expect(handle).not.toHaveBeenCalled();
    expect(stack.pxd.requests.length).toBe(pxdCalls);
    await stillAnswers();
  });

  it('cannot be stretched by trickling body bytes (the limit is on the whole body)', async () => {
    const handle = vi.spyOn(stack.proxy.proxy, 'handle');
    const c = await connect();
    const t0 = c.send('POST /VolumeDriver.Create HTTP/1.1\r\nHost: \r\nContent-Length: 100000\r\n\r\n');
    const drip = setInterval(() => c.sock.writable && c.sock.write('x'), 20);
    try {
      const { at, text } = await within(c.closed, LIMITS.bodyTimeoutMs + SLACK_MS, 'the dripping body closed');
      expect(at - t0).toBeGreaterThanOrEqual(LIMITS.bodyTimeoutMs - 1);
      expect(at - t0).toBeLessThan(LIMITS.bodyTimeoutMs + SLACK_MS);
      expect(text).toMatch(DRIPPER_SAW);
      expect(handle).not.toHaveBeenCalled();
    } finally {
      clearInterval(drip);
    }
  });
});

describe('a reply sent before its body arrived (404)', () => {
  it('holds the connection to the body limit, then to the idle one: it is not taken for a slow head', async () => {
    const c = await connect();
    c.send('POST /NoSuch.Endpoint HTTP/1.1\r\nHost: \r\nContent-Length: 10\r\n\r\n12345');
    expect((await c.reply(1)).status).toBe(404);
    c.send('67890');
    // Well past the header and body limits, well inside the idle one.
    await wait(LIMITS.headersTimeoutMs * 2);
    expect(c.sock.destroyed).toBe(false);
    c.send(request('Plugin.Activate'));
    expect((await c.reply(2)).json).toEqual({ Implements: ['VolumeDriver'] });
  });
});

describe('an idle keep-alive connection', () => {
  it('is reused just inside the window, and closed (plainly) one idle timeout after its last reply', async () => {
    const c = await connect();
    c.send(request('Plugin.Activate'));
    const first = await c.reply(1);
    expect(first.json).toEqual({ Implements: ['VolumeDriver'] });
    // Idle for most of the window (and far past the header and body limits), then reuse it.
    await wait(LIMITS.idleTimeoutMs * 0.7);
    c.send(request('VolumeDriver.List', {}));
    const second = await c.reply(2);
    expect(second.json.Err).toBe('');
    expect(second.json.Volumes.length).toBeGreaterThanOrEqual(1);
    // The window starts again from the second reply.
    const { at, text } = await within(c.closed, LIMITS.idleTimeoutMs + SLACK_MS, 'the idle connection closed');
    // (The proxy's idle clock starts as it finishes the reply, a moment before the client reads it.)
    expect(at - second.at).toBeGreaterThanOrEqual(LIMITS.idleTimeoutMs - 50);
    expect(at - second.at).toBeLessThan(LIMITS.idleTimeoutMs + SLACK_MS);
    // Nothing unsolicited on an idle connection: a Go client just sees it closed and dials anew.
    expect(c.replies()).toHaveLength(2);
    expect(text.endsWith(second.body)).toBe(true);
  });

  it('a connection opened and not used yet is idle, not a slow head: it outlives the header timeout', async () => {
    // Go's Transport dials ahead for a waiting call and pools the connection when another one freed
    // first: dockerd may hold a connection it has never written to.
    const used = await connect();
    const unused = await connect();
    const t0 = performance.now();
    await wait(LIMITS.headersTimeoutMs * 2);
    used.send(request('Plugin.Activate'));
    expect((await used.reply(1)).json).toEqual({ Implements: ['VolumeDriver'] });
    const { at, text } = await within(unused.closed, LIMITS.idleTimeoutMs + SLACK_MS, 'the unused connection closed');
    expect(at - t0).toBeGreaterThanOrEqual(LIMITS.idleTimeoutMs - 50);
    expect(at - t0).toBeLessThan(LIMITS.idleTimeoutMs + SLACK_MS);
    expect(text).toBe('');
  });
});

describe('a call slower than every limit', () => {
  it('still gets its reply (a slow pxd Mount), and the connection stays usable', async () => {
    setConnectionLimits(stack.proxy.server, { idleTimeoutMs: 400 });
    const release = hold();
    const c = await connect();
    const calls = stack.pxd.requests.length;
    c.send(request('VolumeDriver.Mount', { Name: 'token_secret=pwx/secrets/user1-token,name=conn1', ID: MOUNT_ID }));
    await until(() => stack.pxd.requests.slice(calls).some((r) => r.endpoint.endsWith('.Mount')), 'the Mount to reach pxd');
    // pxd takes longer than the header, body, idle and send limits together.
    await wait(LIMITS.headersTimeoutMs + LIMITS.bodyTimeoutMs + 400 + LIMITS.sendTimeoutMs + 100);
    expect(c.sock.destroyed).toBe(false);
    expect(c.received().length).toBe(0);
    release();
    const r = await c.reply(1);
    expect(r.status).toBe(200);
    expect(r.json.Err).toBe('');
    expect(r.json.Mountpoint).toMatch(/^\//);
    c.send(request('Plugin.Activate'));
    expect((await c.reply(2)).json).toEqual({ Implements: ['VolumeDriver'] });
  });
});

describe('a client that does not read its replies', () => {
  it('is closed after the send timeout; a client reading in parallel is answered meanwhile', async () => {
    const c = await connect();
    // Pipelined calls whose replies overflow the socket buffers, never read.
    c.sock.pause();
    const burst = request('Plugin.Activate').repeat(20_000);
    const t0 = c.send(burst);
    const other = await connect();
    const sent = other.send(request('Plugin.Activate'));
    const r = await other.reply(1);
    expect(r.json).toEqual({ Implements: ['VolumeDriver'] });
    expect(r.at - sent).toBeLessThan(1_000);
    const elapsed = (await within(c.serverClosed, LIMITS.sendTimeoutMs + SLACK_MS + 2_000, 'the non-reading client closed')) - t0;
    expect(elapsed).toBeGreaterThanOrEqual(LIMITS.sendTimeoutMs - 1);
    expect(elapsed).toBeLessThan(LIMITS.sendTimeoutMs + SLACK_MS + 2_000);
    // It got some replies, never all of them.
    expect(c.replies().length).toBeLessThan(20_000);
  });
});

describe('the connection cap', () => {
  it('closes a connection past the cap at once, while the established ones keep working', async () => {
    setConnectionLimits(stack.proxy.server, { maxConnections: 3, idleTimeoutMs: 30_000 });
    const busy = await connect();
    const fresh = await connect();
    const idle = await connect();
    // One call in flight, one idle keep-alive connection, one not used yet.
    idle.send(request('Plugin.Activate'));
    await idle.reply(1);
    const release = hold();
    const calls = stack.pxd.requests.length;
    busy.send(request('VolumeDriver.List', {}));
    await until(() => stack.pxd.requests.slice(calls).some((r) => r.endpoint.endsWith('.List')), 'the List to reach pxd');

    const dropped = once(stack.proxy.server, 'drop');
    const extra = await connect({ dropped: true });
    const t0 = extra.send(request('Plugin.Activate'));
    await within(dropped, 1_000, "the server's drop event");
    const { at, text } = await within(extra.closed, 1_000, 'the connection past the cap closed');
    expect(text).toBe('');
    expect(at - t0).toBeLessThan(1_000);

    // The three established connections are untouched.
    fresh.send(request('Plugin.Activate'));
    expect((await fresh.reply(1)).json).toEqual({ Implements: ['VolumeDriver'] });
    idle.send(request('Plugin.Activate'));
    expect((await idle.reply(2)).json).toEqual({ Implements: ['VolumeDriver'] });
    release();
    expect((await busy.reply(1)).json.Err).toBe('');

    // A slot freed is a slot taken again.
    const gone = once(fresh.sock, 'close');
    fresh.sock.destroy();
    await gone;
    const count = (): Promise<number> =>
      new Promise((resolve, reject) => stack.proxy.server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
    while ((await count()) >= 3) await new Promise((r) => setImmediate(r));
    const next = await connect();
    next.send(request('Plugin.Activate'));
    expect((await next.reply(1)).json).toEqual({ Implements: ['VolumeDriver'] });
  });
});

describe('misbehaving clients', () => {
  it('never delay or disturb another client, and each is closed by its own limit', async () => {
    setConnectionLimits(stack.proxy.server, { idleTimeoutMs: 1_500 });
    const release = hold();
    // A dockerd-like connection with a slow Mount in flight.
    const mount = await connect();
    const calls = stack.pxd.requests.length;
    mount.send(request('VolumeDriver.Mount', { Name: 'token_secret=pwx/secrets/user1-token,name=conn1', ID: MOUNT_ID }));
    await until(() => stack.pxd.requests.slice(calls).some((r) => r.endpoint.endsWith('.Mount')), 'the Mount to reach pxd');
    // A keep-alive connection that will call every 100 ms throughout.
    const steady = await connect();

    const slowHead = await connect();
    slowHead.send('POST /VolumeDriver.Get HTTP/1.1\r\nHost: \r\n');
    const slowBody = await connect();
    slowBody.send('POST /VolumeDriver.Create HTTP/1.1\r\nHost: \r\nContent-Length: 5000\r\n\r\n{"Name":');
    const drip = setInterval(() => slowBody.sock.writable && slowBody.sock.write(' '), 25);
    const nonReader = await connect();
    nonReader.sock.pause();
    nonReader.send(request('Plugin.Activate').repeat(20_000));

    const latencies: number[] = [];
    let stop = false;
    const steadyLoop = (async () => {
      let n = 0;
      while (!stop) {
        const sent = steady.send(request('Plugin.Activate'));
        const r = await steady.reply(++n);
        expect(r.json).toEqual({ Implements: ['VolumeDriver'] });
        latencies.push(r.at - sent);
        await wait(100);
      }
    })();
    try {
      const [h, b] = await within(
        Promise.all([slowHead.closed, slowBody.closed]),
        LIMITS.bodyTimeoutMs + SLACK_MS,
        'the slow head and body closed',
      );
      await within(nonReader.serverClosed, LIMITS.sendTimeoutMs + SLACK_MS + 2_000, 'the non-reader closed');
      expect(h.text).toMatch(/^HTTP\/1\.1 408 /);
      expect(b.text).toMatch(DRIPPER_SAW);
      await until(() => latencies.length >= 3, 'a few calls on the steady connection');
    } finally {
      clearInterval(drip);
      stop = true;
      await steadyLoop;
    }
    expect(latencies.length).toBeGreaterThanOrEqual(3);
    // Answered at once throughout (well under a second), never held up by the misbehaving clients.
    expect(Math.max(...latencies)).toBeLessThan(1_000);

    // The slow Mount was never cut, and the steady connection is still the same one.
    expect(mount.sock.destroyed).toBe(false);
    release();
    expect((await mount.reply(1)).json.Err).toBe('');
    expect(steady.sock.destroyed).toBe(false);
    steady.send(request('Plugin.Activate'));
    expect((await steady.reply(latencies.length + 1)).json).toEqual({ Implements: ['VolumeDriver'] });
  });
});

describe('setConnectionLimits', () => {
  it('refuses limits that are not whole non-negative numbers', () => {
    expect(() => setConnectionLimits(stack.proxy.server, { idleTimeoutMs: -1 })).toThrow(RangeError);
    expect(() => setConnectionLimits(stack.proxy.server, { headersTimeoutMs: 1.5 })).toThrow(RangeError);
    expect(() => setConnectionLimits(stack.proxy.server, { checkIntervalMs: 0 })).toThrow(RangeError);
    expect(connectionLimits(stack.proxy.server)).toEqual(LIMITS);
  });
});
