/**
 * The verified-token cache: bounded (LRU), successes only, and a hit's exp/nbf/iat checked again on
 * the verifier's clock, so a cached token is never served once pxd would refuse it. Concurrent
 * verifications of one token (a burst of Mounts naming the same secret) share one run.
 *
 * It is keyed by the token itself: the token is in this process's memory anyway (the secret cache
 * holds it), and a string key is a Map lookup where a SHA-256 took a microsecond (bench/README.md).
 */
import { LRUCache } from 'lru-cache';
import { SingleFlight } from '../lib/single-flight.js';
import type { VerifiedToken } from './types.js';

export interface VerifierStats {
  hits: number;
  misses: number;
  size: number;
}

/** The time claims of a verified token, checked again on every hit. */
export interface TimeClaims {
  exp?: number | undefined;
  nbf?: number | undefined;
  iat?: number | undefined;
}

interface Entry extends TimeClaims {
  token: VerifiedToken;
}

export interface VerifiedTokenCacheOptions {
  /** Entries kept (> 0). */
  max: number;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** Seconds of leeway on exp/nbf/iat. */
  toleranceSec: number;
}

export class VerifiedTokenCache {
  readonly #entries: LRUCache<string, Entry>;
  readonly #now: () => number;
  readonly #toleranceSec: number;
  /** Verifications under way, by flight key (see get). */
  readonly #running = new SingleFlight<VerifiedToken>();
  #hits = 0;
  #misses = 0;

  constructor(opts: VerifiedTokenCacheOptions) {
    this.#entries = new LRUCache<string, Entry>({ max: opts.max });
    this.#now = opts.now;
    this.#toleranceSec = opts.toleranceSec;
  }

  /**
   * The cached verification of `token` while its time claims still hold, else one run of `verify`
   * shared by every concurrent caller with the same `flightKey`. Each caller gets its own copy.
   */
  async get(token: string, flightKey: string, verify: () => Promise<VerifiedToken>): Promise<VerifiedToken> {
    const entry = this.#entries.get(token);
    if (entry && this.#timeProblem(entry) === undefined) {
      this.#hits++;
      return copyToken(entry.token);
    }
    // A stale entry falls through to a full verification, which reports the precise reason.
    if (entry) this.#entries.delete(token);
    this.#misses++;
    return copyToken(await this.#running.join(flightKey, verify).promise);
  }

  /** Remember a successful verification. */
  set(token: string, verified: VerifiedToken, time: TimeClaims): void {
    this.#entries.set(token, { token: copyToken(verified), exp: time.exp, nbf: time.nbf, iat: time.iat });
  }

  stats(): VerifierStats {
    return { hits: this.#hits, misses: this.#misses, size: this.#entries.size };
  }

  /** undefined when exp/nbf/iat are all fine at the current clock. */
  #timeProblem({ exp, nbf, iat }: TimeClaims): string | undefined {
    const now = Math.floor(this.#now() / 1000);
    const tol = this.#toleranceSec;
    if (exp !== undefined && exp <= now - tol) return 'exp';
    if (nbf !== undefined && nbf > now + tol) return 'nbf';
    if (iat !== undefined && iat > now + tol) return 'iat';
    return undefined;
  }
}

function copyToken(t: VerifiedToken): VerifiedToken {
  return { ...t, roles: [...t.roles], groups: [...t.groups] };
}
