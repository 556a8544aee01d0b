import { Pool, errors as undiciErrors } from 'undici';
import { ProxyError } from '../errors.js';

export interface BackendReply {
  status: number;
  /** Parsed body when it was a JSON object. */
  json?: Record<string, unknown>;
  /** Raw body text (may hold anything the backend said: scrub before showing). */
  text: string;
}

const MAX_REPLY_BYTES = 4 * 1024 * 1024;

/**
 * Forwards plugin calls to the backend volume driver over its unix socket with a keep-alive pool
 * (measured by `npm run bench`: about a third of the CPU of express.json + http-proxy per request, and
 * http-proxy without an agent closes every connection; the figures are in docs/security.md).
 */
export class BackendClient {
  private readonly pool: Pool;

  constructor(
    readonly socketPath: string,
    /** How the backend is named in error texts (`unix:///run/docker/plugins/pxd.sock`). */
    readonly label: string,
  ) {
    this.pool = new Pool('http://plugin', {
      socketPath,
      connections: 32,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connect: { timeout: 5_000 },
    });
  }

  async call(endpoint: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<BackendReply> {
    const payload = JSON.stringify(body) + '\n';
    try {
      const res = await this.pool.request({
        path: `/${endpoint}`,
        method: 'POST',
        headers: {
          accept: 'application/vnd.docker.plugins.v1.2+json',
          'content-type': 'application/json',
        },
        body: payload,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_REPLY_BYTES) {
          res.body.destroy();
          throw new ProxyError('BACKEND_BAD_REPLY', `${this.label} sent a reply larger than ${MAX_REPLY_BYTES} bytes to ${endpoint}`);
        }
        chunks.push(chunk as Buffer);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> | undefined;
      const trimmed = text.trim();
      if (trimmed.startsWith('{')) {
        try {
          const v = JSON.parse(trimmed) as unknown;
          if (v && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>;
        } catch {
          // Not JSON: the caller decides what a text reply means.
        }
      }
      return { status: res.statusCode, json, text };
    } catch (e) {
      throw this.mapError(e, endpoint, timeoutMs);
    }
  }

  private mapError(e: unknown, endpoint: string, timeoutMs: number): ProxyError {
    if (e instanceof ProxyError) return e;
    const err = e as NodeJS.ErrnoException & { name?: string };
    const timedOut =
      e instanceof undiciErrors.HeadersTimeoutError ||
      e instanceof undiciErrors.BodyTimeoutError ||
      e instanceof undiciErrors.ConnectTimeoutError ||
      err?.name === 'TimeoutError' ||
      err?.name === 'AbortError';
    if (timedOut) {
      return new ProxyError('BACKEND_TIMEOUT', `${this.label} did not answer ${endpoint} within ${Math.round(timeoutMs / 1000)} s`, {}, { cause: e });
    }
    const code = err?.code ?? (e instanceof undiciErrors.SocketError ? 'connection closed' : 'error');
    const hint = code === 'ENOENT' || code === 'ECONNREFUSED' ? ': is the volume driver running?' : '';
    return new ProxyError('BACKEND_UNREACHABLE', `${this.label} is unreachable (${code})${hint}`, {}, { cause: e });
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => this.pool.destroy());
  }
}
