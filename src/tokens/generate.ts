/**
 * Token generation compatible with `pxctl auth token generate` / `openstorage-sdk-auth`:
 * the same auth config YAML, the same `--token-duration` grammar and the same claim layout
 * (`sub, iss, email, name, roles, groups (if set), iat, exp`; HS256 / RS256 / ES256 by key type).
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { parseDocument } from 'yaml';
import { algorithmsOf, ecCurveOf, importSharedSecret, keyOfType } from './keys.js';

/**
 * The shortest shared secret that is not called weak: the one threshold of `serve` (a warning at
 * start), `doctor` (a warning) and `token generate` (a warning on stderr). None refuses a shorter one:
 * pxd accepts it, and the proxy must verify the tokens pxd's own secret signs.
 */
export const SHARED_SECRET_MIN_LENGTH = 16;

/** What to do about a weak shared secret. */
export const WEAK_SHARED_SECRET_FIX =
  'replace it, in pxd and here alike, with a random secret of 32 characters or more (openssl rand -base64 32)';

/** Why a shared secret is weak, in words that never hold it (nor its exact length); undefined when it is not. */
export function weakSharedSecret(secret: string): string | undefined {
  if (secret === '' || secret.length >= SHARED_SECRET_MIN_LENGTH) return undefined;
  return (
    `the shared secret is shorter than ${SHARED_SECRET_MIN_LENGTH} characters, which is weak: anyone holding one token it ` +
    'signed can guess so short an HMAC key offline, then sign tokens for any user and role (pxd accepts it, so the proxy does too)'
  );
}

/** The auth config file of `pxctl auth token generate --auth-config`. */
export interface AuthConfigClaims {
  name: string;
  email: string;
  /** Default: base64("openstorage.io/" + name + "/" + email). */
  sub?: string;
  roles?: string[];
  groups?: string[];
}

export type GenerateKey = { sharedSecret: string } | { rsaPrivateKeyPem: string } | { ecdsaPrivateKeyPem: string };

export interface GenerateTokenInput {
  claims: AuthConfigClaims;
  issuer: string;
  key: GenerateKey;
  /** Token lifetime in seconds (see parseDuration). */
  durationSec: number;
  /** Clock in milliseconds since the epoch (default Date.now). */
  now?: () => number;
  /** Override the algorithm; it must belong to the key's family (and, for EC, match the curve). */
  algorithm?: string;
}

/** Sign a token the way openstorage-sdk-auth does. Throws Error on bad input (never echoing key material). */
export async function generateToken(input: GenerateTokenInput): Promise<string> {
  const claims = checkClaims(input.claims);
  if (typeof input.issuer !== 'string' || input.issuer === '') {
    throw new Error('token generation: the issuer must be a non-empty string');
  }
  if (!Number.isSafeInteger(input.durationSec) || input.durationSec < 0) {
    throw new Error('token generation: the duration must be a whole number of seconds >= 0');
  }
  const nowMs = (input.now ?? Date.now)();
  const iat = Math.floor(nowMs / 1000);
  const exp = iat + input.durationSec;
  if (!Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) {
    throw new Error('token generation: the expiry time is out of range (the duration is too long)');
  }

  const { key, alg } = signingKey(input.key, input.algorithm);

  // Claim order as openstorage writes them.
  const payload: Record<string, unknown> = {
    sub: claims.sub !== undefined && claims.sub !== '' ? claims.sub : defaultSubject(claims.name, claims.email),
    iss: input.issuer,
    email: claims.email,
    name: claims.name,
    roles: claims.roles ?? [],
  };
  if (claims.groups !== undefined) payload.groups = claims.groups;
  payload.iat = iat;
  payload.exp = exp;

  return new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
}

/** base64("openstorage.io/" + name + "/" + email), standard alphabet with padding. */
function defaultSubject(name: string, email: string): string {
  return Buffer.from(`openstorage.io/${name}/${email}`, 'utf8').toString('base64');
}

function signingKey(key: GenerateKey, algorithm: string | undefined): { key: KeyObject; alg: string } {
  if (key === null || typeof key !== 'object') throw new Error('token generation: no signing key given');
  if ('sharedSecret' in key) {
    return {
      key: importSharedSecret(key.sharedSecret, 'token generation'),
      alg: pickAlg(algorithm, algorithmsOf('hs'), 'a shared secret'),
    };
  }
  if ('rsaPrivateKeyPem' in key) {
    const k = keyOfType(importPrivatePem(key.rsaPrivateKeyPem, 'RSA'), 'rsa', 'token generation: the RSA private key');
    return { key: k, alg: pickAlg(algorithm, algorithmsOf('rsa'), 'an RSA key') };
  }
  if ('ecdsaPrivateKeyPem' in key) {
    const k = keyOfType(importPrivatePem(key.ecdsaPrivateKeyPem, 'ECDSA'), 'ec', 'token generation: the ECDSA private key');
    const curve = ecCurveOf(k);
    if (!curve) throw new Error('token generation: the ECDSA key is on an unsupported curve (use P-256, P-384 or P-521)');
    return { key: k, alg: pickAlg(algorithm, [curve.alg], 'this ECDSA key') };
  }
  throw new Error('token generation: the key must be one of sharedSecret, rsaPrivateKeyPem, ecdsaPrivateKeyPem');
}

function pickAlg(requested: string | undefined, allowed: string[], what: string): string {
  if (requested === undefined) return allowed[0] as string;
  if (!allowed.includes(requested)) {
    throw new Error(`token generation: algorithm ${JSON.stringify(requested)} cannot be used with ${what} (use ${allowed.join(', ')})`);
  }
  return requested;
}

function importPrivatePem(pem: string, what: string): KeyObject {
  if (typeof pem !== 'string' || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new Error(`token generation: the ${what} private key is not a PEM private key`);
  }
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    // No cause: parse errors may quote key material.
    throw new Error(`token generation: the ${what} private key could not be read (encrypted keys are not supported)`);
  }
}

function checkClaims(c: AuthConfigClaims): AuthConfigClaims {
  if (c === null || typeof c !== 'object') throw new Error('token generation: claims are required');
  if (typeof c.name !== 'string' || c.name === '') throw new Error('token generation: claim name must be a non-empty string');
  if (typeof c.email !== 'string' || c.email === '') throw new Error('token generation: claim email must be a non-empty string');
  if (c.sub !== undefined && typeof c.sub !== 'string') throw new Error('token generation: claim sub must be a string');
  for (const field of ['roles', 'groups'] as const) {
    const v = c[field];
    if (v !== undefined && (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))) {
      throw new Error(`token generation: claim ${field} must be a list of strings`);
    }
  }
  return c;
}

const DURATION = /^([0-9]+)(s|m|h|d|y)$/;
const DURATION_GRAMMAR = '^[0-9]+(s|m|h|d|y)$';
const DURATION_UNITS: Record<string, bigint> = { s: 1n, m: 60n, h: 3600n, d: 86_400n, y: 365n * 86_400n };

/** `--token-duration`: `^[0-9]+(s|m|h|d|y)$` (d = 24h, y = 365d) → seconds. */
export function parseDuration(s: string): number {
  const m = typeof s === 'string' ? DURATION.exec(s) : null;
  if (!m) {
    throw new Error(
      `invalid token duration ${JSON.stringify(String(s))}: expected a whole number followed by one unit, ` +
        `matching ${DURATION_GRAMMAR} (s, m, h, d = 24h, y = 365d), e.g. 30m, 12h, 1d, 1y`,
    );
  }
  const seconds = BigInt(m[1] as string) * (DURATION_UNITS[m[2] as string] as bigint);
  if (seconds > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error(`invalid token duration ${JSON.stringify(s)}: it is too long (at most ${Number.MAX_SAFE_INTEGER} seconds)`);
  }
  return Number(seconds);
}

const AUTH_CONFIG_FIELDS = ['name', 'email', 'sub', 'roles', 'groups'] as const;

/** The YAML auth config (`name`, `email`, `sub`, `roles`, `groups`); unknown fields and wrong types are errors. */
export function parseAuthConfig(yamlText: string): AuthConfigClaims {
  const doc = parseDocument(yamlText, { uniqueKeys: true, prettyErrors: true });
  const first = doc.errors[0];
  if (first) {
    throw new Error(`auth config: not valid YAML: ${first.message.split('\n')[0]}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new Error(`auth config: not valid YAML: ${e instanceof Error ? e.message.split('\n')[0] : 'unreadable'}`);
  }
  if (value === null || value === undefined) throw new Error('auth config: the file is empty');
  if (typeof value !== 'object' || Array.isArray(value) || value instanceof Map) {
    throw new Error(`auth config: expected a mapping of ${AUTH_CONFIG_FIELDS.join(', ')}, found ${typeName(value)}`);
  }
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (!(AUTH_CONFIG_FIELDS as readonly string[]).includes(k)) {
      throw new Error(`auth config: unknown field ${JSON.stringify(k)} (allowed: ${AUTH_CONFIG_FIELDS.join(', ')})`);
    }
  }
  const out: AuthConfigClaims = {
    name: requiredString(obj, 'name'),
    email: requiredString(obj, 'email'),
  };
  const sub = obj.sub;
  if (sub !== undefined && sub !== null) {
    if (typeof sub !== 'string') throw new Error(`auth config: sub must be a string, found ${typeName(sub)}`);
    out.sub = sub;
  }
  for (const field of ['roles', 'groups'] as const) {
    const v = obj[field];
    if (v === undefined || v === null) continue;
    if (!Array.isArray(v)) throw new Error(`auth config: ${field} must be a list of strings, found ${typeName(v)}`);
    v.forEach((item: unknown, i: number) => {
      if (typeof item !== 'string') {
        throw new Error(`auth config: ${field} must be a list of strings, but item ${i + 1} is ${typeName(item)}`);
      }
    });
    out[field] = [...(v as string[])];
  }
  return out;
}

function requiredString(obj: Record<string, unknown>, field: string): string {
  const v = obj[field];
  if (v === undefined || v === null) throw new Error(`auth config: ${field} is required`);
  if (typeof v !== 'string') throw new Error(`auth config: ${field} must be a string, found ${typeName(v)}`);
  if (v === '') throw new Error(`auth config: ${field} must not be empty`);
  return v;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return 'a date';
  switch (typeof v) {
    case 'string':
      return 'a string';
    case 'number':
    case 'bigint':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'a mapping';
    default:
      return typeof v;
  }
}
