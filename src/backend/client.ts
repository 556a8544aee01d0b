import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import { ProxyError } from '../errors.js';

export interface BackendReply {
  status: number;
  /** Parsed body when it was a JSON object. */
  json?: Record<string, unknown>;
  /** Raw body text (may hold anything the backend said: scrub before showing). */
  text: string;
}

const MAX_REPLY_BYTES = 4 * 1024 * 1024;
const HEADERS = { accept: 'application/vnd.docker.plugins.v1.2+json', 'content-type': 'application/json' };

/** The reply as a JSON object, when it is one (a text reply is for the caller to judge). */
function parseObject(text: string): Record<string, unknown> | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(trimmed) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Forwards plugin calls to the backend volume driver over its unix socket with a keep-alive pool
 * (undici: `npm run bench` compares it with express.json + http-proxy, which costs about three times
 * the CPU per request; http-proxy without an agent closes every connection; bench/README.md).
 */
export class BackendClient {
  private readonly pool: Pool;

  constructor(
    readonly socketPath: string,
    /** How the backend is named in error texts (`unix:///run/docker/plugins/pxd.sock`). */
    readonly label: string,
    /**
     * Most connections to the backend; default none. dockerd's own plugin client has no cap: a burst
     * of Mounts (pxd takes seconds each) reaches pxd at once instead of queueing behind each other.
     * The calls in flight are bounded by the callers anyway, one per request Docker has open.
     */
    maxConnections: number | null = null,
  ) {
    this.pool = new Pool('http://plugin', {
      socketPath,
      connections: maxConnections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connect: { timeout: 5_000 },
      maxResponseSize: MAX_REPLY_BYTES,
    });
  }

  /**
   * One call. Uses the pool's dispatch() with a handler that collects the reply: undici's leanest API
   * (no Readable body, no async iterator, no AbortSignal). The timeout covers the whole call, waiting
   * for a free connection included, with one timer cleared at the end. The request() form with an
   * AbortSignal.timeout() per call grew RSS by 95 MiB over 100,000 requests (bench/README.md).
   */
  call(endpoint: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<BackendReply> {
    const payload = JSON.stringify(body) + '\n';
    return new Promise<BackendReply>((resolve, reject) => {
      let controller: Dispatcher.DispatchController | undefined;
      let stopped: Error | undefined;
      let status = 0;
      const chunks: Buffer[] = [];
      let settled = false;
      const settle = (e: unknown, reply?: BackendReply): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (reply) resolve(reply);
        else reject(this.mapError(e, endpoint, timeoutMs));
      };
      const stop = (reason: Error): void => {
        stopped ??= reason;
        if (controller && !controller.aborted) controller.abort(reason);
        settle(reason);
      };
      const timer = setTimeout(() => stop(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
      const onAbort = (): void => stop(signal!.reason instanceof Error ? signal!.reason : new DOMException('cancelled', 'AbortError'));
      if (signal) {
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
      }
      try {
        this.dispatch(endpoint, payload, timeoutMs, {
          onRequestStart: (c) => {
            controller = c;
            // Given up while it waited for a connection: never send it.
            if (stopped) c.abort(stopped);
          },
          onResponseStart: (_c, statusCode) => {
            status = statusCode;
          },
          onResponseData: (_c, chunk) => {
            chunks.push(chunk);
          },
          onResponseEnd: () => {
            const text = Buffer.concat(chunks).toString('utf8');
            settle(undefined, { status, json: parseObject(text), text });
          },
          onResponseError: (_c, err) => settle(err),
        });
      } catch (e) {
        settle(e);
      }
    });
  }

  private dispatch(endpoint: string, payload: string, timeoutMs: number, handler: Dispatcher.DispatchHandler): void {
    this.pool.dispatch(
      { path: `/${endpoint}`, method: 'POST', headers: HEADERS, body: payload, headersTimeout: timeoutMs, bodyTimeout: timeoutMs },
      handler,
    );
  }

  private mapError(e: unknown, endpoint: string, timeoutMs: number): ProxyError {
    if (e instanceof ProxyError) return e;
    if (e instanceof undiciErrors.ResponseExceededMaxSizeError) {
      return new ProxyError('BACKEND_BAD_REPLY', `${this.label} sent a reply larger than ${MAX_REPLY_BYTES} bytes to ${endpoint}`);
    }
    const err = e as NodeJS.ErrnoException & { name?: string };
    const timedOut =
      e instanceof undiciErrors.HeadersTimeoutError ||
      e instanceof undiciErrors.BodyTimeoutError ||
      e instanceof undiciErrors.ConnectTimeoutError ||
      err?.name === 'TimeoutError' ||
      err?.name === 'AbortError';
    if (timedOut) {
      return new ProxyError(
        'BACKEND_TIMEOUT',
        `${this.label} did not answer ${endpoint} within ${Math.round(timeoutMs / 1000)} s`,
        {},
        { cause: e },
      );
    }
    const code = err?.code ?? (e instanceof undiciErrors.SocketError ? 'connection closed' : 'error');
    const hint = code === 'ENOENT' || code === 'ECONNREFUSED' ? ': is the volume driver running?' : '';
    return new ProxyError('BACKEND_UNREACHABLE', `${this.label} is unreachable (${code})${hint}`, {}, { cause: e });
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => this.pool.destroy());
  }
}
