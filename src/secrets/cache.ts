/**
 * The secret cache, for any store: bounded (LRU), single-flight per path, positive results only,
 * stale-if-error for a bounded time (never past the token's own `exp`), and a sequence guard so a
 * slow answer started before an `invalidate()` or a newer fetch never overwrites a newer entry
 * (the same shape as jose's remote JWK set). Its clock is injectable.
 */
import { decodeJwt } from 'jose';
import { LRUCache } from 'lru-cache';
import { asProxyError, isProxyError, ProxyError, staleServableCodes, type ErrorCode } from '../errors.js';
import { raceAbort, SingleFlight } from '../lib/single-flight.js';
import type { SecretRead } from './types.js';

/** Fetches the value at a path; `signal` bounds the whole fetch (shared by every caller waiting on it). */
export type SecretLoader = (path: string, signal: AbortSignal) => Promise<string>;

export interface SecretCacheOptions {
  /** How long a fetched value is used without asking the store again. 0: always ask (still single-flight). */
  ttlMs: number;
  /** How long past its TTL a value may be served while the store fails with a `staleOn` error. */
  maxStaleMs: number;
  /** Entries kept (LRU). Default 1000. */
  maxEntries?: number;
  /** Time allowed for one shared fetch (login and retries included). Default 45 s. */
  loadTimeoutMs?: number;
  /** Milliseconds since epoch; tests move it. */
  now?: () => number;
  /** Expiry of a value in ms since epoch, bounding freshness and staleness. Default: a JWT's `exp`, read without verifying. */
  expiryOf?: (value: string) => number | undefined;
  /** Errors after which a cached value may be served stale. Default: the store is failing, not answering "no". */
  staleOn?: readonly ErrorCode[];
  /** Called when a stale value is served (for a log line). */
  onStale?: (info: { path: string; code: ErrorCode; ageMs: number }) => void;
}

export interface SecretCacheStats {
  /** Served from a fresh entry. */
  hits: number;
  /** Started a fetch. */
  misses: number;
  /** Served a stale entry because the store failed. */
  stale: number;
  /** Joined a fetch already in flight for the same path. */
  inflightJoins: number;
  /** Fetches that failed. */
  errors: number;
  invalidations: number;
  size: number;
}

/** Answers that say the store is failing, not that the secret is absent or refused (the catalogue's `staleServable`). */
export const STALE_ON_DEFAULT: readonly ErrorCode[] = Object.freeze(staleServableCodes());

/** Authoritative answers: the cached value must not be served any more. */
const DROP_ON: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['SECRET_NOT_FOUND', 'SECRET_FORBIDDEN', 'SECRET_NOT_TEXT', 'SECRET_EMPTY']);

/** A JWT's `exp` in ms since epoch, decoded WITHOUT verification (only to bound caching); undefined when not a JWT or no exp. */
export function jwtExpiryMs(value: string): number | undefined {
  if (value.split('.').length !== 3) return undefined;
  try {
    const { exp } = decodeJwt(value);
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The error a caller gets when its own signal gave up while the shared fetch goes on. */
export function cancelledError(path: string, reason: unknown): ProxyError {
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
  return new ProxyError(
    'SECRET_STORE_TIMEOUT',
    `reading secret ${path} was abandoned before the secret store answered (${timedOut ? "the caller's time ran out" : 'the request was cancelled'})`,
    { secretPath: path },
  );
}

interface Entry {
  value: string;
  fetchedAt: number;
  freshUntil: number;
  staleUntil: number;
}

export class SecretCache {
  readonly #loader: SecretLoader;
  readonly #ttlMs: number;
  readonly #maxStaleMs: number;
  readonly #loadTimeoutMs: number;
  readonly #now: () => number;
  readonly #expiryOf: (value: string) => number | undefined;
  readonly #staleOn: ReadonlySet<ErrorCode>;
  readonly #onStale: SecretCacheOptions['onStale'];
  readonly #entries: LRUCache<string, Entry>;
  /** Its sequence guard: a load stores its answer only while no invalidate() or clear() came after it. */
  readonly #flights = new SingleFlight<string>();
  readonly #stats = { hits: 0, misses: 0, stale: 0, inflightJoins: 0, errors: 0, invalidations: 0 };

  constructor(loader: SecretLoader, options: SecretCacheOptions) {
    if (!(options.ttlMs >= 0) || !(options.maxStaleMs >= 0)) throw new RangeError('ttlMs and maxStaleMs must be ≥ 0');
    this.#loader = loader;
    this.#ttlMs = options.ttlMs;
    this.#maxStaleMs = options.maxStaleMs;
    this.#loadTimeoutMs = options.loadTimeoutMs ?? 45_000;
    this.#now = options.now ?? Date.now;
    this.#expiryOf = options.expiryOf ?? jwtExpiryMs;
    this.#staleOn = new Set(options.staleOn ?? STALE_ON_DEFAULT);
    this.#onStale = options.onStale;
    this.#entries = new LRUCache<string, Entry>({ max: options.maxEntries ?? 1000 });
  }

  /** The value if it is cached and fresh (counted as a hit), else undefined. No load is started. */
  peek(path: string): SecretRead | undefined {
    const entry = this.#entries.get(path);
    if (!entry || this.#now() >= entry.freshUntil) return undefined;
    this.#stats.hits++;
    return { value: entry.value };
  }

  async get(path: string, signal?: AbortSignal): Promise<SecretRead> {
    const now = this.#now();
    const entry = this.#entries.get(path);
    if (entry && now < entry.freshUntil) {
      this.#stats.hits++;
      return { value: entry.value };
    }
    if (entry && now >= entry.staleUntil) this.#entries.delete(path);

    const flight = this.#flights.join(path, (seq) => this.#load(path, seq));
    if (flight.joined) this.#stats.inflightJoins++;
    else this.#stats.misses++;
    try {
      return { value: await raceAbort(flight.promise, signal, (reason) => cancelledError(path, reason)) };
    } catch (e) {
      const err = asProxyError(e, 'SECRET_STORE_UNAVAILABLE');
      if (signal?.aborted) throw err; // the caller gave up: no answer, not even a stale one
      const cur = this.#entries.get(path);
      const at = this.#now();
      if (cur && this.#staleOn.has(err.code) && at < cur.staleUntil) {
        this.#stats.stale++;
        this.#onStale?.({ path, code: err.code, ageMs: at - cur.fetchedAt });
        return { value: cur.value, stale: true };
      }
      throw err;
    }
  }

  /** One shared load; its answer is applied only while it is the current load of `path`. */
  #load(path: string, seq: number): Promise<string> {
    let loading: Promise<string>;
    try {
      loading = this.#loader(path, AbortSignal.timeout(this.#loadTimeoutMs));
    } catch (e) {
      loading = Promise.reject(e);
    }
    return loading.then(
      (value) => {
        if (this.#flights.isCurrent(path, seq)) this.#store(path, value);
        return value;
      },
      (e: unknown) => {
        this.#stats.errors++;
        if (isProxyError(e) && DROP_ON.has(e.code) && this.#flights.isCurrent(path, seq)) this.#entries.delete(path);
        throw e;
      },
    );
  }

  #store(path: string, value: string): void {
    const now = this.#now();
    const exp = this.#expiryOf(value);
    if (exp !== undefined && exp <= now) {
      this.#entries.delete(path); // an expired token is handed on (the verifier says why) but never cached
      return;
    }
    const bound = exp ?? Number.POSITIVE_INFINITY;
    this.#entries.set(path, {
      value,
      fetchedAt: now,
      freshUntil: Math.min(now + this.#ttlMs, bound),
      staleUntil: Math.min(now + this.#ttlMs + this.#maxStaleMs, bound),
    });
  }

  /** Forget the value at `path`; a fetch already in flight will not store its (older) answer. */
  invalidate(path: string): boolean {
    this.#stats.invalidations++;
    this.#flights.forget(path);
    return this.#entries.delete(path);
  }

  stats(): SecretCacheStats {
    return { ...this.#stats, size: this.#entries.size };
  }

  /** The soonest expiry (ms since epoch) among the values held that have one and have not passed it. */
  soonestExpiryMs(): number | undefined {
    const now = this.#now();
    let soonest: number | undefined;
    for (const entry of this.#entries.values()) {
      const exp = this.#expiryOf(entry.value);
      if (exp !== undefined && exp > now && (soonest === undefined || exp < soonest)) soonest = exp;
    }
    return soonest;
  }

  clear(): void {
    this.#flights.clear();
    this.#entries.clear();
  }
}
