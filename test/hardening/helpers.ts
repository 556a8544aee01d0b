/**
 * Shared pieces of the hardening suites: hand-made JWTs (any header, any signature), a raw HTTP
 * client over a unix socket that survives the server hanging up mid-body, a secret store wrapper
 * that records every path read, leak scanning, and the figures file the suites write.
 */
import { createHmac, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SecretRead, SecretStore } from '../../src/secrets/types.js';

export const HARDENING_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HARDENING_DIR, '..', '..');
export const FIGURES_FILE = path.join(HARDENING_DIR, 'figures.json');

// ---- tokens -------------------------------------------------------------------------------------

export const b64u = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
export const nowSec = (): number => Math.floor(Date.now() / 1000);

const HS: Record<string, string> = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

/** HMAC-signed JWT with any header and payload (the algorithm comes from header.alg, default HS256). */
export function hmacJwt(header: Record<string, unknown>, payload: unknown, key: string | Buffer): string {
  const h: Record<string, unknown> = { typ: 'JWT', ...header };
  const input = `${b64u(h)}.${b64u(payload)}`;
  const sig = createHmac(HS[String(h.alg ?? 'HS256')] ?? 'sha256', key)
    .update(input)
    .digest('base64url');
  return `${input}.${sig}`;
}

/** RS256-signed JWT with any header and payload. */
export function rsaJwt(header: Record<string, unknown>, payload: unknown, privateKey: KeyObject): string {
  const h = { alg: 'RS256', typ: 'JWT', ...header };
  const input = `${b64u(h)}.${b64u(payload)}`;
  const sig = cryptoSign('sha256', Buffer.from(input), privateKey).toString('base64url');
  return `${input}.${sig}`;
}

/** Substrings that must never appear in a reply or a log: the token and its signature part. */
export function needlesOf(token: string): string[] {
  const out = new Set<string>();
  if (token.length >= 12) out.add(token);
  const parts = token.split('.');
  const sig = parts.length >= 3 ? parts[parts.length - 1]! : '';
  if (sig.length >= 12) out.add(sig);
  // A huge token: look for a distinctive slice instead of the whole megabyte.
  if (token.length > 4096) out.add(token.slice(token.length - 64));
  return [...out];
}

/** The needles found in `haystack` (none expected). */
export function leaks(haystack: string, needles: Iterable<string>): string[] {
  const found: string[] = [];
  for (const n of needles) if (n.length >= 8 && haystack.includes(n)) found.push(n.length > 40 ? `${n.slice(0, 20)}…${n.slice(-12)}` : n);
  return found;
}

// ---- raw HTTP over a unix socket ----------------------------------------------------------------

export interface RawResult {
  status: number;
  text: string;
  json?: any;
  /** The connection failed before any reply arrived. */
  error?: string;
}

/**
 * Send exact bytes to a unix socket and read what comes back until the server closes or a full
 * Content-Length reply arrived. Write errors (EPIPE after a 413) are ignored: the reply counts.
 */
export function rawHttp(socketPath: string, request: Buffer | string, timeoutMs = 10_000): Promise<RawResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const sock = net.connect(socketPath);
    const finish = (error?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(parseHttpReply(Buffer.concat(chunks), error));
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      const r = parseHttpReply(Buffer.concat(chunks));
      if (r.status && r.complete) finish();
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (chunks.length === 0 && e.code !== 'EPIPE' && e.code !== 'ECONNRESET') finish(e.code ?? 'error');
    });
    sock.on('close', () => finish(chunks.length ? undefined : 'closed'));
    sock.write(request, () => undefined);
  });
}

function parseHttpReply(buf: Buffer, error?: string): RawResult & { complete?: boolean } {
  const text = buf.toString('utf8');
  const head = text.indexOf('\r\n\r\n');
  if (head < 0) return { status: 0, text, ...(error ? { error } : { error: 'no reply' }) };
  const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
  const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, head));
  const body = buf.subarray(Buffer.byteLength(text.slice(0, head)) + 4).toString('utf8');
  const complete = len ? Buffer.byteLength(body) >= Number(len[1]) : false;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status: m ? Number(m[1]) : 0, text: body, json, complete };
}

/** A request the way dockerd writes it (POST, no Content-Type, empty Host), with any body bytes. */
export function dockerRequest(endpoint: string, body: Buffer | string, opts: { method?: string; contentLength?: number } = {}): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const head =
    `${opts.method ?? 'POST'} /${endpoint} HTTP/1.1\r\nHost: \r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n` +
    `Content-Length: ${opts.contentLength ?? b.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}

// ---- secret store wrapper -----------------------------------------------------------------------

/** Records every path the proxy asks the store for, then delegates. */
export class RecordingStore implements SecretStore {
  readonly paths: string[] = [];
  constructor(private readonly inner: SecretStore) {}
  get description(): string {
    return `recording ${this.inner.description}`;
  }
  read(p: string, signal?: AbortSignal): Promise<SecretRead> {
    this.paths.push(p);
    return this.inner.read(p, signal);
  }
  invalidate(p: string): void {
    this.inner.invalidate?.(p);
  }
  ready(): Promise<boolean> {
    return this.inner.ready();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

// ---- figures ------------------------------------------------------------------------------------

/**
 * Merge one section into test/hardening/figures.json (suites run in parallel: a mkdir lock guards it).
 * Only when recording (PXA_RECORD_FIGURES=1, set by `npm run bench:hardening`): a plain test run leaves the
 * repository as it found it.
 */
export function writeFigures(section: string, data: unknown, file = FIGURES_FILE): void {
  if (process.env.PXA_RECORD_FIGURES !== '1') return;
  const lock = `${file}.lock`;
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) break; // a stale lock: write anyway
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    let all: Record<string, unknown> = {};
    try {
      all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
      all = {};
    }
    all[section] = data;
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(all, null, 2) + '\n');
    renameSync(tmp, file);
  } finally {
    try {
      rmdirSync(lock);
    } catch {
      /* already gone */
    }
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
