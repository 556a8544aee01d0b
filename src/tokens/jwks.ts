import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { SingleFlight } from '../lib/single-flight.js';

/** Least time between two fetches of a JWK set for unknown `kid`s, and between two failed discoveries. */
const COOLDOWN_MS = 30_000;

/**
 * The keys of an OIDC-style issuer, fetched from its JWK set. jose's remote set does the caching:
 * one shared in-flight fetch, a refetch when a token names an unknown `kid` (at most once per
 * cooldown), and — with no maximum age — the keys already fetched keep verifying while the JWKS
 * endpoint is down. With `discover`, the JWKS address comes from the issuer's
 * `/.well-known/openid-configuration`, fetched once (retried after a failure, with the same cooldown).
 */
export interface RemoteKeysOptions {
  issuer: string;
  jwksUrl?: string;
  discover?: boolean;
  timeoutMs?: number;
}

export class RemoteKeys {
  private set?: JWTVerifyGetKey;
  private readonly discovery = new SingleFlight<JWTVerifyGetKey>();
  private lastFailure = 0;
  private readonly timeoutMs: number;

  constructor(private readonly opts: RemoteKeysOptions) {
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    if (opts.jwksUrl) this.set = this.makeSet(new URL(opts.jwksUrl));
    else if (!opts.discover) throw new Error(`issuer ${opts.issuer}: set jwksUrl, or oidc: true to discover it`);
  }

  /** The jose key resolver, after discovery if needed. Throws an Error with a readable message. */
  async resolver(): Promise<JWTVerifyGetKey> {
    if (this.set) return this.set;
    if (Date.now() - this.lastFailure < COOLDOWN_MS)
      throw new Error(`the OpenID configuration of ${this.opts.issuer} could not be fetched recently; retrying after a cooldown`);
    return this.discovery.join('discovery', () =>
      this.discover().then(
        (set) => {
          this.set = set;
          return set;
        },
        (e: unknown) => {
          this.lastFailure = Date.now();
          throw e;
        },
      ),
    ).promise;
  }

  private async discover(): Promise<JWTVerifyGetKey> {
    const url = new URL(this.opts.issuer.replace(/\/+$/, '') + '/.well-known/openid-configuration');
    const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), redirect: 'error' });
    if (!res.ok) throw new Error(`${url} answered HTTP ${res.status}`);
    const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (doc.issuer !== this.opts.issuer) throw new Error(`${url} names issuer ${JSON.stringify(doc.issuer)}, not ${this.opts.issuer}`);
    if (typeof doc.jwks_uri !== 'string') throw new Error(`${url} has no jwks_uri`);
    return this.makeSet(new URL(doc.jwks_uri));
  }

  private makeSet(url: URL): JWTVerifyGetKey {
    return createRemoteJWKSet(url, { cooldownDuration: COOLDOWN_MS, cacheMaxAge: Infinity, timeoutDuration: this.timeoutMs });
  }
}
