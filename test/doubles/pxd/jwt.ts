/**
 * pxd's token checks (openstorage pkg/auth/token.go, pkg/auth/selfsigned.go with golang-jwt/jwt v4,
 * api/server/sdk/server_interceptors.go), re-implemented; jose only checks the signature.
 *
 *  1. TokenIssuer: split on `.` (>= 3 parts), base64url-decode part 2, json.Unmarshal into pxd's Claims
 *     struct {iss, sub, name, email string; roles, groups []string}; an empty iss or ANY decode/type error
 *     → Unauthenticated "Unable to obtain token issuer from authorization token".
 *     NB: this is why `roles`/`groups` that are not string arrays (or a non-string sub/name/email) end up as
 *     Unauthenticated here and not as PermissionDenied — that is what pxd's source does (Claims are
 *     unmarshalled before the issuer is read). The pxd.md spec only says they "must be arrays of strings".
 *  2. iss must equal a configured issuer → else Unauthenticated "<iss> is not a trusted issuer".
 *  3. AuthenticateToken (any failure → PermissionDenied "Unable to authenticate token"): exactly 3 parts;
 *     header alg by family HS*→shared secret, RS*→RSA key, ES*→ECDSA key (none, PS256.., EdDSA and others rejected);
 *     signature; exp/iat/nbf with NO leeway at whole-second precision (exp must be > now, iat/nbf <= now;
 *     a value of 0 counts as absent, a non-number fails); required claims iss, sub, exp, iat, name, email
 *     present (by exact key); the username claim non-empty.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { compactVerify } from 'jose';
import { fieldFor, goDecodeFirst, goUnmarshal, type GoValue } from './gojson.js';

export interface PxdIssuerConfig {
  name: string;
  sharedSecret?: string;
  rsaPublicKeyPem?: string;
  ecdsaPublicKeyPem?: string;
}

export type UsernameClaim = 'sub' | 'email' | 'name';

export interface Claims {
  iss: string;
  sub: string;
  name: string;
  email: string;
  roles: string[] | null;
  groups: string[] | null;
}

export interface Authenticator {
  name: string;
  hmac?: Uint8Array;
  rsa?: KeyObject;
  ec?: KeyObject;
}

export function makeAuthenticator(cfg: PxdIssuerConfig): Authenticator {
  const a: Authenticator = { name: cfg.name };
  if (cfg.sharedSecret) a.hmac = new TextEncoder().encode(cfg.sharedSecret);
  if (cfg.rsaPublicKeyPem) {
    const k = createPublicKey(cfg.rsaPublicKeyPem);
    if (k.asymmetricKeyType !== 'rsa') throw new Error(`Unable to parse rsa public key for issuer ${cfg.name}`);
    a.rsa = k;
  }
  if (cfg.ecdsaPublicKeyPem) {
    const k = createPublicKey(cfg.ecdsaPublicKeyPem);
    if (k.asymmetricKeyType !== 'ec') throw new Error(`Unable to parse ecds public key for issuer ${cfg.name}`);
    a.ec = k;
  }
  if (!a.hmac && !a.rsa && !a.ec) {
    throw new Error('Server was passed empty authentication information with no shared secret or pem files set');
  }
  return a;
}

/** golang-jwt v4 DecodeSegment: base64.RawURLEncoding (no padding, URL alphabet; \r and \n are skipped). */
function decodeSegment(seg: string): string {
  const s = seg.replace(/[\r\n]/g, '');
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw new Error('illegal base64 data');
  return Buffer.from(s, 'base64url').toString('utf8');
}

/** json.Unmarshal(claimBytes, &claims) into pxd's Claims struct; throws on syntax or type errors. */
function unmarshalClaims(text: string): Claims {
  const v = goUnmarshal(text);
  const c: Claims = { iss: '', sub: '', name: '', email: '', roles: null, groups: null };
  if (v.t === 'null') {
    // json.Unmarshal of `null` into a *Claims leaves it nil and pxd then dereferences it (a panic in osd):
    // treat as "no issuer".
    throw new Error('nil claims');
  }
  if (v.t !== 'obj') throw new Error('json: cannot unmarshal into Go value of type auth.Claims');
  let bad = false;
  for (const [key, val] of v.v) {
    const f = fieldFor(key, ['iss', 'sub', 'name', 'email', 'roles', 'groups']);
    if (f === undefined) continue;
    if (f === 'roles' || f === 'groups') {
      if (val.t === 'null') c[f] = null;
      else if (val.t === 'arr') {
        const list: string[] = [];
        for (const x of val.v) {
          if (x.t === 'str') list.push(x.v);
          else if (x.t === 'null') list.push('');
          else bad = true;
        }
        c[f] = list;
      } else bad = true;
    } else if (val.t === 'str') c[f as 'iss' | 'sub' | 'name' | 'email'] = val.v;
    else if (val.t !== 'null') bad = true;
  }
  // Go keeps decoding after a type error but still returns it.
  if (bad) throw new Error('json: cannot unmarshal into Go struct field');
  return c;
}

/** auth.TokenIssuer: returns the issuer and the struct claims, or throws. */
export function tokenIssuer(token: string): { iss: string; claims: Claims } {
  const parts = token.split('.');
  if (parts.length < 3) throw new Error('Token is invalid');
  const claims = unmarshalClaims(decodeSegment(parts[1] as string));
  if (claims.iss.length === 0) throw new Error('Issuer was not specified in the token');
  return { iss: claims.iss, claims };
}

/** map[string]interface{} view (jwt.MapClaims / token.Header): exact keys, last duplicate wins. */
function toMap(v: GoValue): Map<string, GoValue> | undefined {
  if (v.t === 'null') return new Map();
  if (v.t !== 'obj') return undefined;
  return new Map(v.v);
}

/** A Go float64 from a JSON number (interface{} decoding), or undefined when it overflows (a Go error). */
function float(v: GoValue): number | undefined {
  if (v.t !== 'num') return undefined;
  const n = Number(v.raw);
  return Number.isFinite(n) ? n : undefined;
}

function hasOverflow(v: GoValue): boolean {
  if (v.t === 'num') return !Number.isFinite(Number(v.raw));
  if (v.t === 'arr') return v.v.some(hasOverflow);
  if (v.t === 'obj') return v.v.some(([, x]) => hasOverflow(x));
  return false;
}

const ALGS = new Set(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512']);

/**
 * JwtAuthenticator.AuthenticateToken. Returns the claims on success, or undefined on any failure (pxd
 * hides the reason). `now` is in milliseconds.
 */
export async function authenticateToken(
  a: Authenticator,
  token: string,
  usernameClaim: UsernameClaim,
  now: number,
): Promise<Claims | undefined> {
  try {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const header = toMap(goUnmarshal(decodeSegment(parts[0] as string)));
    if (!header) return undefined;
    const payloadValue = goDecodeFirst(decodeSegment(parts[1] as string)); // jwt v4 uses a json.Decoder here
    if (hasOverflow(payloadValue)) return undefined;
    const mapClaims = toMap(payloadValue);
    if (!mapClaims) return undefined;
    const algV = header.get('alg');
    if (!algV || algV.t !== 'str' || !ALGS.has(algV.v)) return undefined;
    const alg = algV.v;
    const key = alg.startsWith('HS') ? a.hmac : alg.startsWith('RS') ? a.rsa : a.ec;
    if (!key) return undefined; // nil key for that family → ErrInvalidKeyType
    // Signature by jose. Differences from golang-jwt v4 (accepted for a test double): jose refuses RSA keys
    // under 2048 bits and honours `crit`/`b64` header parameters, which Go ignores.
    await compactVerify(token, key, { algorithms: [alg] });

    // MapClaims.Valid(): whole-second times, no leeway.
    const nowSec = Math.floor(now / 1000);
    const timeOk = (k: string, check: (t: number) => boolean): boolean => {
      const v = mapClaims.get(k);
      if (v === undefined) return true;
      const f = float(v);
      if (f === undefined) return false; // null / string / overflow: Verify* returns false
      if (f === 0) return true; // golang-jwt v4 treats 0 as "not set"
      return check(Math.floor(f));
    };
    if (!timeOk('exp', (t) => nowSec < t)) return undefined;
    if (!timeOk('iat', (t) => nowSec >= t)) return undefined;
    if (!timeOk('nbf', (t) => nowSec >= t)) return undefined;

    for (const req of ['iss', 'sub', 'exp', 'iat', 'name', 'email']) {
      if (!mapClaims.has(req)) return undefined;
    }
    const claims = unmarshalClaims(decodeSegment(parts[1] as string));
    if (username(claims, usernameClaim) === '') return undefined;
    return claims;
  } catch {
    return undefined;
  }
}

export function username(c: Claims, claim: UsernameClaim): string {
  return claim === 'email' ? c.email : claim === 'name' ? c.name : c.sub;
}
