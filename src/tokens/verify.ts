/**
 * Token verification, exactly as pxd checks a token (issuer, key by algorithm family, required claims,
 * username claim, roles/groups shapes) but with a precise, stable error code and a message written for
 * the person at the Docker CLI for every failure.
 *
 * The token itself, and any part of its signature, never appears in a message or an error property.
 */
import type { KeyObject } from 'node:crypto';
import { jwtVerify, type JWTVerifyGetKey } from 'jose';
import { RemoteKeys } from './jwks.js';
import { findJsonKeyProblem, type JsonKeyProblem } from './json-keys.js';
import { ACCEPTED_ALGS, ALGORITHMS, importEcdsaPublicKey, importRsaPublicKey, importSharedSecret, type Alg, type Family } from './keys.js';
import { VerifiedTokenCache, type VerifierStats } from './verified-cache.js';

import { ProxyError, type DetailsParam, type ErrorCode, type ProxyErrorDetails } from '../errors.js';
import {
  describeSource,
  type IssuerConfig,
  type TokenSource,
  type UsernameClaim,
  type VerifiedToken,
  type VerifierOptions,
} from './types.js';

/** pxd's required claims. */
export const PXD_REQUIRED_CLAIMS: readonly string[] = Object.freeze(['iss', 'sub', 'exp', 'iat', 'name', 'email']);

const FAMILY_KEY_TEXT: Record<Family, string> = {
  hs: 'shared secret',
  rsa: 'RSA public key',
  ec: 'ECDSA public key',
};
const FAMILY_SLOT: Record<Family, VerifiedToken['keySlot']> = {
  hs: 'shared-secret',
  rsa: 'rsa',
  ec: 'ecdsa',
};

const USERNAME_CLAIMS: readonly UsernameClaim[] = ['sub', 'email', 'name'];
const B64URL = /^[A-Za-z0-9_-]*$/;
/** Nesting of objects and arrays allowed in a header or payload (real tokens use two or three levels). */
const MAX_JSON_DEPTH = 64;

interface IssuerKeys {
  config: IssuerConfig;
  hs?: KeyObject;
  rsa?: KeyObject;
  ec?: { key: KeyObject; alg: Alg; curve: string };
  /** JWK set of an OIDC-style issuer: RS and ES tokens only, the key chosen by `kid`. */
  remote?: RemoteKeys;
}

export type { VerifierStats } from './verified-cache.js';

type Claims = Record<string, unknown>;
type FailFn = <C extends ErrorCode>(code: C, message: string, ...details: DetailsParam<C>) => never;

export class TokenVerifier {
  readonly #issuers = new Map<string, IssuerKeys>();
  readonly #requiredClaims: readonly string[];
  readonly #usernameClaim: UsernameClaim;
  readonly #toleranceSec: number;
  readonly #maxTokenLength: number;
  readonly #now: () => number;
  readonly #cache: VerifiedTokenCache | undefined;

  constructor(opts: VerifierOptions) {
    if (!Array.isArray(opts.issuers) || opts.issuers.length === 0) {
      throw new Error('token verifier: at least one trusted issuer must be configured');
    }
    for (const issuer of opts.issuers) {
      if (typeof issuer.name !== 'string' || issuer.name === '') {
        throw new Error('token verifier: every issuer needs a non-empty name');
      }
      if (this.#issuers.has(issuer.name)) {
        throw new Error(`token verifier: issuer ${issuer.name} is configured twice`);
      }
      this.#issuers.set(issuer.name, importIssuerKeys(issuer));
    }

    this.#requiredClaims = [...(opts.requiredClaims ?? PXD_REQUIRED_CLAIMS)];
    this.#usernameClaim = opts.usernameClaim ?? 'sub';
    if (!USERNAME_CLAIMS.includes(this.#usernameClaim)) {
      throw new Error(`token verifier: username claim must be one of ${USERNAME_CLAIMS.join(', ')}`);
    }
    this.#toleranceSec = opts.clockToleranceSec ?? 0;
    if (!Number.isFinite(this.#toleranceSec) || this.#toleranceSec < 0) {
      throw new Error('token verifier: clockToleranceSec must be a finite number >= 0');
    }
    this.#maxTokenLength = opts.maxTokenLength;
    if (!Number.isInteger(this.#maxTokenLength) || this.#maxTokenLength <= 0) {
      throw new Error('token verifier: maxTokenLength must be a positive integer');
    }
    this.#now = opts.now ?? Date.now;
    const cacheSize = opts.cacheSize ?? 0;
    if (!Number.isInteger(cacheSize) || cacheSize < 0) {
      throw new Error('token verifier: cacheSize must be an integer >= 0');
    }
    this.#cache = cacheSize > 0 ? new VerifiedTokenCache({ max: cacheSize, now: this.#now, toleranceSec: this.#toleranceSec }) : undefined;
  }

  /** Cache counters for metrics. */
  stats(): VerifierStats {
    return this.#cache?.stats() ?? { hits: 0, misses: 0, size: 0 };
  }

  /** Verify a token, or answer from the verified-token cache (see verified-cache.ts). */
  async verify(token: string, ctx?: { source?: TokenSource }): Promise<VerifiedToken> {
    if (!this.#cache || typeof token !== 'string') return this.#verifyFully(token, ctx);
    // Messages name the token's source: only calls from the same source share a run.
    const flightKey = `${ctx?.source ? describeSource(ctx.source) : ''}\u0000${token}`;
    return this.#cache.get(token, flightKey, () => this.#verifyFully(token, ctx));
  }

  async #verifyFully(token: string, ctx?: { source?: TokenSource }): Promise<VerifiedToken> {
    const src = ctx?.source ? describeSource(ctx.source) : 'token';
    const baseDetails: ProxyErrorDetails = {};
    if (ctx?.source && 'secretPath' in ctx.source) baseDetails.secretPath = ctx.source.secretPath;
    const fail: FailFn = (code, message, ...[details]) => {
      throw new ProxyError<ErrorCode>(code, message, { ...baseDetails, ...details });
    };

    if (typeof token !== 'string') fail('TOKEN_MALFORMED', `${src} is not a well-formed JWT: it is not text`);
    if (token.length > this.#maxTokenLength) {
      fail('TOKEN_TOO_LARGE', `${src} is too large: ${token.length} characters (the limit is ${this.#maxTokenLength})`);
    }

    // 1. Shape: three base64url parts; header and payload JSON objects.
    const parts = token.split('.');
    if (parts.length !== 3) {
      fail('TOKEN_MALFORMED', `${src} is not a well-formed JWT: expected three base64url parts separated by dots, found ${parts.length}`);
    }
    const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
    if (!B64URL.test(signaturePart) || signaturePart.length % 4 === 1) {
      fail('TOKEN_MALFORMED', `${src} is not a well-formed JWT: its signature is not base64url`);
    }
    const headerJson = decodeJsonObject(headerPart);
    if (!headerJson) fail('TOKEN_MALFORMED', `${src} is not a well-formed JWT: its header is not a base64url-encoded JSON object`);
    const payloadJson = decodeJsonObject(payloadPart);
    if (!payloadJson) fail('TOKEN_MALFORMED', `${src} is not a well-formed JWT: its payload is not a base64url-encoded JSON object`);
    const header = (headerJson as DecodedPart).value;
    const claims = (payloadJson as DecodedPart).value;

    // 1b. One value per name, as pxd will read it. JSON.parse keeps the last of two equal keys, and pxd's
    // Go decoder matches claim names to its Claims struct regardless of case (encoding/json folds them):
    // `{"sub":"id/eve","SUB":"id/alice"}` would be eve here and alice in pxd. So: no key twice in any
    // object of the header or the payload, and no two top-level claims equal under Go's case folding.
    // The header needs no folding: jose and golang-jwt (a map) both read its parameters by exact name.
    const headerProblem = findJsonKeyProblem((headerJson as DecodedPart).text, { foldTopLevel: false, maxDepth: MAX_JSON_DEPTH });
    if (headerProblem) keyProblem(src, 'header', headerProblem, fail);
    const payloadProblem = findJsonKeyProblem((payloadJson as DecodedPart).text, { foldTopLevel: true, maxDepth: MAX_JSON_DEPTH });
    if (payloadProblem) keyProblem(src, 'payload', payloadProblem, fail);

    // 2. Algorithm: only the three families pxd knows. kid/jku/x5u/jwk headers are ignored.
    const rawAlg = (header as Claims).alg;
    if (rawAlg === undefined) {
      fail('TOKEN_ALG_UNSUPPORTED', `${src} has no "alg" header; accepted algorithms: ${ACCEPTED_ALGS}`);
    }
    if (typeof rawAlg !== 'string' || !Object.hasOwn(ALGORITHMS, rawAlg)) {
      fail(
        'TOKEN_ALG_UNSUPPORTED',
        `${src} is signed with algorithm ${quote(rawAlg)}, which is not accepted (accepted: ${ACCEPTED_ALGS})`,
        {
          algorithm: typeof rawAlg === 'string' ? truncate(rawAlg) : undefined,
        },
      );
    }
    const alg = rawAlg as Alg;
    const family = ALGORITHMS[alg];

    // 3. Issuer: exact, byte-for-byte match.
    if (!Object.hasOwn(claims, 'iss')) {
      fail('TOKEN_CLAIM_MISSING', `${src} is missing the required claim iss (the token issuer)`, { claim: 'iss' });
    }
    if (typeof claims.iss !== 'string') {
      fail('TOKEN_CLAIM_INVALID', `${src}: claim iss must be a string`, { claim: 'iss' });
    }
    const iss = claims.iss as string;
    const issuer = this.#issuers.get(iss);
    if (!issuer) {
      fail('TOKEN_ISSUER_UNTRUSTED', `${src}: issuer ${quote(iss)} is not trusted (trusted: ${[...this.#issuers.keys()].join(', ')})`, {
        issuer: truncate(iss),
      });
    }
    const keys = issuer as IssuerKeys;

    // 4. The key of that family (a JWK set serves the asymmetric families only).
    let usedRemote = false;
    let key: KeyObject | JWTVerifyGetKey | undefined = family === 'hs' ? keys.hs : family === 'rsa' ? keys.rsa : keys.ec?.key;
    if (!key && keys.remote && family !== 'hs') {
      try {
        usedRemote = true;
        key = await keys.remote.resolver();
      } catch (e) {
        fail('TOKEN_KEY_MISSING', `${src}: the keys of issuer ${iss} cannot be fetched (${(e as Error).message})`, { issuer: iss });
      }
    }
    if (!key) {
      fail('TOKEN_KEY_MISSING', `${src}: issuer ${iss} has no ${FAMILY_KEY_TEXT[family]} configured; the token is signed with ${alg}`, {
        issuer: iss,
        algorithm: alg,
      });
    }
    if (family === 'ec' && keys.ec && keys.ec.alg !== alg) {
      fail(
        'TOKEN_SIGNATURE_INVALID',
        `${src}: the token is signed with ${alg} but the ECDSA public key of issuer ${iss} is on curve ${keys.ec.curve} (${keys.ec.alg})`,
        { issuer: iss, algorithm: alg },
      );
    }

    // 5 + 6. Signature (restricted to this one algorithm), then exp/nbf on our clock.
    const nowMs = this.#now();
    try {
      await jwtVerify(token, key as KeyObject & JWTVerifyGetKey, {
        algorithms: [alg],
        currentDate: new Date(nowMs),
        clockTolerance: this.#toleranceSec,
      });
    } catch (e) {
      this.#mapJoseError(e, { src, iss, alg, family, claims, fail });
    }
    // jose does not reject an iat in the future: pxd does.
    if (typeof claims.iat === 'number' && claims.iat > epochSec(nowMs) + this.#toleranceSec) {
      fail(
        'TOKEN_NOT_YET_VALID',
        `${src} was issued in the future (iat ${isoSeconds(claims.iat)}); check the clocks of the token issuer and this host`,
        {
          claim: 'iat',
        },
      );
    }

    // 7. Required claims, then the types of the claims pxd reads.
    for (const claim of this.#requiredClaims) {
      if (!Object.hasOwn(claims, claim)) {
        fail('TOKEN_CLAIM_MISSING', `${src} is missing the required claim ${claim}`, { claim });
      }
    }
    for (const claim of ['exp', 'iat', 'nbf'] as const) {
      if (Object.hasOwn(claims, claim) && !isFiniteNumber(claims[claim])) {
        fail('TOKEN_CLAIM_INVALID', `${src}: claim ${claim} must be a number (seconds since the epoch)`, { claim });
      }
    }
    for (const claim of ['sub', 'name', 'email'] as const) {
      if (Object.hasOwn(claims, claim) && typeof claims[claim] !== 'string') {
        fail('TOKEN_CLAIM_INVALID', `${src}: claim ${claim} must be a string`, { claim });
      }
    }

    // 8. The username claim (pxd's owner identity).
    const usernameClaim = keys.config.usernameClaim ?? this.#usernameClaim;
    const username = claims[usernameClaim];
    if (typeof username !== 'string' || username === '') {
      fail(
        'TOKEN_USERNAME_EMPTY',
        `${src}: the username claim ${usernameClaim} is ${username === undefined ? 'missing' : 'empty'}; pxd needs it to identify the volume owner`,
        {
          claim: usernameClaim,
        },
      );
    }

    // 9. roles and groups: arrays of strings (absent or null → none, as pxd decodes them).
    const roles = stringArrayClaim(claims, 'roles');
    if (!roles) fail('TOKEN_CLAIM_INVALID', `${src}: claim roles must be an array of strings`, { claim: 'roles' });
    const groups = stringArrayClaim(claims, 'groups');
    if (!groups) fail('TOKEN_CLAIM_INVALID', `${src}: claim groups must be an array of strings`, { claim: 'groups' });

    const exp = claims.exp as number | undefined;
    const iat = claims.iat as number | undefined;
    const nbf = claims.nbf as number | undefined;
    const verified: VerifiedToken = {
      issuer: iss,
      username: username as string,
      subject: typeof claims.sub === 'string' ? claims.sub : '',
      roles: roles as string[],
      groups: groups as string[],
      expiresAt: exp ?? Number.POSITIVE_INFINITY,
      issuedAt: iat ?? 0,
      algorithm: alg,
      keySlot: usedRemote ? 'jwks' : FAMILY_SLOT[family],
    };
    if (typeof claims.email === 'string') verified.email = claims.email;
    if (typeof claims.name === 'string') verified.displayName = claims.name;

    this.#cache?.set(token, verified, { exp, nbf, iat });
    return verified;
  }

  #mapJoseError(
    e: unknown,
    c: {
      src: string;
      iss: string;
      alg: Alg;
      family: Family;
      claims: Claims;
      fail: FailFn;
    },
  ): never {
    // jose errors are never attached as a cause: they carry the claims set.
    const code = (e as { code?: unknown } | null)?.code;
    const claim = (e as { claim?: unknown } | null)?.claim;
    const reason = (e as { reason?: unknown } | null)?.reason;
    const { src, iss, alg, family, claims, fail } = c;
    switch (code) {
      case 'ERR_JWT_EXPIRED':
        fail('TOKEN_EXPIRED', `${src} expired ${isoSeconds(claims.exp as number)}`, {
          claim: 'exp',
          expiresAt: claims.exp,
        });
        break;
      case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
        if (typeof claim === 'string' && reason === 'check_failed' && claim === 'nbf') {
          fail(
            'TOKEN_NOT_YET_VALID',
            `${src} is not valid before ${isoSeconds(claims.nbf as number)} (nbf); check the clocks of the token issuer and this host`,
            {
              claim: 'nbf',
            },
          );
        }
        if (claim === 'exp' || claim === 'iat' || claim === 'nbf') {
          fail('TOKEN_CLAIM_INVALID', `${src}: claim ${claim} must be a number (seconds since the epoch)`, { claim });
        }
        break;
      case 'ERR_JWS_INVALID':
      case 'ERR_JWT_INVALID':
      case 'ERR_JOSE_NOT_SUPPORTED':
        fail(
          'TOKEN_MALFORMED',
          `${src} is not a well-formed JWT for pxd: its header uses JWS extensions that are not supported (crit, b64)`,
        );
        break;
      case 'ERR_JOSE_ALG_NOT_ALLOWED':
        fail('TOKEN_ALG_UNSUPPORTED', `${src} is signed with algorithm ${quote(alg)}, which is not accepted (accepted: ${ACCEPTED_ALGS})`);
        break;
      case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
        break;
      case 'ERR_JWKS_NO_MATCHING_KEY':
      case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
        fail(
          'TOKEN_SIGNATURE_INVALID',
          `${src}: no key of issuer ${iss} matches the token (${alg}, kid ${quote((e as { kid?: unknown }).kid ?? 'none')}); the issuer may have rotated keys not yet published`,
          { issuer: iss, algorithm: alg },
        );
        break;
      case 'ERR_JWKS_TIMEOUT':
      case 'ERR_JWKS_INVALID':
      case 'ERR_JOSE_GENERIC':
        fail('TOKEN_KEY_MISSING', `${src}: the key set of issuer ${iss} could not be fetched or read`, { issuer: iss, algorithm: alg });
        break;
      default:
        break;
    }
    return fail(
      'TOKEN_SIGNATURE_INVALID',
      `${src}: the signature does not verify with the ${FAMILY_KEY_TEXT[family]} of issuer ${iss} (${alg})`,
      {
        issuer: iss,
        algorithm: alg,
      },
    );
  }
}

function importIssuerKeys(issuer: IssuerConfig): IssuerKeys {
  const where = `issuer ${issuer.name}`;
  const keys: IssuerKeys = { config: issuer };
  if (issuer.jwksUrl !== undefined || issuer.oidcDiscovery) {
    keys.remote = new RemoteKeys({ issuer: issuer.name, jwksUrl: issuer.jwksUrl, discover: issuer.oidcDiscovery });
  }
  if (issuer.sharedSecret !== undefined) keys.hs = importSharedSecret(issuer.sharedSecret, where);
  if (issuer.rsaPublicKeyPem !== undefined) keys.rsa = importRsaPublicKey(issuer.rsaPublicKeyPem, where);
  if (issuer.ecdsaPublicKeyPem !== undefined) keys.ec = importEcdsaPublicKey(issuer.ecdsaPublicKeyPem, where);
  if (!keys.hs && !keys.rsa && !keys.ec && !keys.remote) {
    throw new Error(`${where} has no key configured (set a shared secret, an RSA or an ECDSA public key)`);
  }
  return keys;
}

interface DecodedPart {
  /** The JSON text, exactly as decoded from base64url (the key check reads it). */
  text: string;
  value: Claims;
}

function decodeJsonObject(part: string): DecodedPart | undefined {
  if (part === '' || !B64URL.test(part) || part.length % 4 === 1) return undefined;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(part, 'base64url'));
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    return { text, value: value as Claims };
  } catch {
    return undefined;
  }
}

/** Refuse a header or payload whose keys pxd could read otherwise than this proxy (TOKEN_MALFORMED). */
function keyProblem(src: string, part: 'header' | 'payload', p: JsonKeyProblem, fail: FailFn): never {
  const what = part === 'header' ? 'parameter' : 'claim';
  const detail = (name: string): ProxyErrorDetails => (part === 'header' ? { parameter: truncate(name) } : { claim: truncate(name) });
  const lead = `${src} is not a well-formed JWT: its ${part}`;
  switch (p.kind) {
    case 'duplicate':
      if (p.within === undefined) {
        return fail(
          'TOKEN_MALFORMED',
          `${lead} gives the ${what} ${keyName(p.key)} twice; each ${what} may appear only once`,
          detail(p.key),
        );
      }
      return fail(
        'TOKEN_MALFORMED',
        `${lead} gives the key ${keyName(p.key)} twice inside the ${what} ${keyName(p.within)}; a key may appear only once in an object`,
        detail(p.within),
      );
    case 'fold':
      return fail(
        'TOKEN_MALFORMED',
        `${lead} has the claims ${keyName(p.first)} and ${keyName(p.second)}, whose names differ only in letter case; ` +
          'pxd reads claim names regardless of case, so it could take another value than the one checked here. Give each claim once',
        { claim: truncate(p.first), claims: [truncate(p.first), truncate(p.second)] },
      );
    case 'depth':
      return fail('TOKEN_MALFORMED', `${lead} nests objects or arrays more than ${p.limit} levels deep`);
    case 'syntax':
      return fail('TOKEN_MALFORMED', `${lead} is not a base64url-encoded JSON object`);
  }
}

/** A claim or parameter name for a message: quoted, bounded, anything but printable ASCII escaped (ſ → \u017f). */
function keyName(name: string): string {
  return JSON.stringify(truncate(name)).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function stringArrayClaim(claims: Claims, name: string): string[] | undefined {
  const value = claims[name];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) return undefined;
  return [...(value as string[])];
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function epochSec(ms: number): number {
  return Math.floor(ms / 1000);
}

/** ISO 8601 without milliseconds; falls back to the raw number when it is out of Date's range. */
function isoSeconds(sec: number): string {
  const ms = Math.floor(sec) * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return `${sec} (seconds since the epoch)`;
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function truncate(s: string, max = 64): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** A value from the token, quoted and bounded for a message. */
function quote(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(truncate(v));
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    text = undefined;
  }
  return truncate(text ?? String(v));
}
