import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { ProxyError, type ErrorCode } from '../../../src/errors.js';
import { PXD_REQUIRED_CLAIMS, TokenVerifier } from '../../../src/tokens/verify.js';
import type { IssuerConfig, TokenSource, VerifierOptions } from '../../../src/tokens/types.js';
import { b64, claims, craft, ecKey, rsaKey, sign, T0, T0S } from './helpers.js';

const SECRET = 'pxd-shared-secret-0123456789abcdef';
const rsa = rsaKey();
const rsaOther = rsaKey();
const ec = ecKey('P-256');
const ec384 = ecKey('P-384');
const enc = new TextEncoder();

const SECRET_SOURCE: TokenSource = { kind: 'name-secret', secretPath: 'pwx/secrets/user1-token' };

let clock = T0;
const now = (): number => clock;
afterEach(() => {
  clock = T0;
  vi.restoreAllMocks();
});

function verifier(over: Partial<VerifierOptions> = {}, issuers?: IssuerConfig[]): TokenVerifier {
  return new TokenVerifier({
    issuers: issuers ?? [
      { name: 'portworx.com', sharedSecret: SECRET, rsaPublicKeyPem: rsa.publicPem, ecdsaPublicKeyPem: ec.publicPem },
      { name: 'other.io', rsaPublicKeyPem: rsaOther.publicPem },
    ],
    requiredClaims: [...PXD_REQUIRED_CLAIMS],
    usernameClaim: 'sub',
    clockToleranceSec: 0,
    maxTokenLength: 16_384,
    cacheSize: 0,
    now,
    ...over,
  });
}

/** HS256 over hand-made header and payload (payload may be raw JSON text). */
function hmacToken(header: unknown, payload: unknown): string {
  const h = b64(header);
  const p = b64(payload);
  return `${h}.${p}.${createHmac('sha256', SECRET).update(`${h}.${p}`).digest('base64url')}`;
}

const hs = (c: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> =>
  sign(c, enc.encode(SECRET), { alg: 'HS256', ...header });
const rs = (c: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> =>
  sign(c, rsa.privateKey, { alg: 'RS256', ...header });

/** Expect a ProxyError with this code and message; also check the token never leaks into it. */
async function rejects(
  v: TokenVerifier,
  token: string,
  code: ErrorCode,
  message: string | RegExp,
  source?: TokenSource,
): Promise<ProxyError> {
  let err: unknown;
  try {
    await v.verify(token, source ? { source } : undefined);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ProxyError);
  const pe = err as ProxyError;
  expect(pe.code).toBe(code);
  if (typeof message === 'string') expect(pe.message).toBe(message);
  else expect(pe.message).toMatch(message);
  // Never the token or its signature, in the message or in any property.
  const everything = `${pe.message} ${JSON.stringify(pe.details)} ${pe.toDockerText()} ${String(pe.cause ?? '')}`;
  const signature = token.split('.')[2];
  if (token.length > 0) expect(everything).not.toContain(token);
  if (signature && signature.length >= 8) expect(everything).not.toContain(signature);
  expect(pe.cause).toBeUndefined();
  return pe;
}

describe('TokenVerifier: accepted tokens', () => {
  it('verifies HS256 / HS384 / HS512 with the shared secret', async () => {
    const v = verifier();
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      const t = await sign(claims(), enc.encode(SECRET), { alg });
      const r = await v.verify(t);
      expect(r).toEqual({
        issuer: 'portworx.com',
        username: 'id/user1',
        subject: 'id/user1',
        email: 'user1@example.com',
        displayName: 'User One',
        roles: ['system.user'],
        groups: ['g1'],
        expiresAt: T0S + 3600,
        issuedAt: T0S - 60,
        algorithm: alg,
        keySlot: 'shared-secret',
      });
    }
  });

  it('verifies RS256/384/512 with the RSA key and ES256 with the EC key', async () => {
    const v = verifier();
    for (const alg of ['RS256', 'RS384', 'RS512']) {
      const r = await v.verify(await sign(claims(), rsa.privateKey, { alg }));
      expect(r.algorithm).toBe(alg);
      expect(r.keySlot).toBe('rsa');
    }
    const r = await v.verify(await sign(claims(), ec.privateKey, { alg: 'ES256' }));
    expect(r).toMatchObject({ algorithm: 'ES256', keySlot: 'ecdsa' });
  });

  it('verifies ES384 with a P-384 issuer key', async () => {
    const v = verifier({}, [{ name: 'portworx.com', ecdsaPublicKeyPem: ec384.publicPem }]);
    const r = await v.verify(await sign(claims(), ec384.privateKey, { alg: 'ES384' }));
    expect(r).toMatchObject({ algorithm: 'ES384', keySlot: 'ecdsa' });
  });

  it('absent (or null) roles and groups become empty lists', async () => {
    const c = claims();
    delete c.roles;
    c.groups = null;
    const r = await verifier().verify(await hs(c));
    expect(r.roles).toEqual([]);
    expect(r.groups).toEqual([]);
  });

  it('uses the issuer username claim over the global one', async () => {
    const v = verifier({ usernameClaim: 'sub' }, [{ name: 'portworx.com', sharedSecret: SECRET, usernameClaim: 'email' }]);
    expect((await v.verify(await hs(claims()))).username).toBe('user1@example.com');
    const v2 = verifier({ usernameClaim: 'name' }, [{ name: 'portworx.com', sharedSecret: SECRET }]);
    expect((await v2.verify(await hs(claims()))).username).toBe('User One');
  });

  it('ignores kid, jku, x5u and jwk headers and never fetches them', async () => {
    let requests = 0;
    const server: Server = createServer((_req, res) => {
      requests++;
      res.end('{"keys":[]}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    try {
      const v = verifier();
      const t1 = await rs(claims(), { kid: 'some-other-key', jku: 'http://127.0.0.1:1/jwks.json' });
      const t2 = await rs(claims(), {
        kid: 'k',
        jku: `http://127.0.0.1:${port}/jwks.json`,
        x5u: `http://127.0.0.1:${port}/cert.pem`,
      });
      // An embedded jwk pointing at an attacker key must not be used either.
      const attacker = rsaKey();
      const t3 = await sign(claims(), attacker.privateKey, {
        alg: 'RS256',
        jwk: attacker.publicKey.export({ format: 'jwk' }) as Record<string, unknown>,
      });
      expect((await v.verify(t1)).username).toBe('id/user1');
      expect((await v.verify(t2)).username).toBe('id/user1');
      await rejects(
        v,
        t3,
        'TOKEN_SIGNATURE_INVALID',
        'token: the signature does not verify with the RSA public key of issuer portworx.com (RS256)',
      );
      await new Promise((r) => setTimeout(r, 50));
      expect(requests).toBe(0);
      expect(fetchSpy).not.toHaveBeenCalled();
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('applies clockToleranceSec to exp, nbf and iat', async () => {
    const v = verifier({ clockToleranceSec: 30 });
    await expect(v.verify(await hs(claims({ exp: T0S - 10 })))).resolves.toBeTruthy();
    await expect(v.verify(await hs(claims({ nbf: T0S + 10 })))).resolves.toBeTruthy();
    await expect(v.verify(await hs(claims({ iat: T0S + 10 })))).resolves.toBeTruthy();
    await rejects(v, await hs(claims({ exp: T0S - 31 })), 'TOKEN_EXPIRED', 'token expired 2026-11-20T08:59:29Z');
  });
});

describe('TokenVerifier: size and shape', () => {
  it('TOKEN_TOO_LARGE for a 100 KB token', async () => {
    const big = await hs(claims({ pad: 'x'.repeat(100 * 1024) }));
    await rejects(verifier(), big, 'TOKEN_TOO_LARGE', `token is too large: ${big.length} characters (the limit is 16384)`);
  });

  it('TOKEN_MALFORMED for wrong part counts', async () => {
    const v = verifier();
    const expectParts = (n: number): string =>
      `token is not a well-formed JWT: expected three base64url parts separated by dots, found ${n}`;
    await rejects(v, 'a.b', 'TOKEN_MALFORMED', expectParts(2));
    await rejects(v, 'a.b.c.d', 'TOKEN_MALFORMED', expectParts(4));
    await rejects(v, '', 'TOKEN_MALFORMED', expectParts(1));
    await rejects(v, 'justonepart', 'TOKEN_MALFORMED', expectParts(1));
  });

  it('TOKEN_MALFORMED for undecodable header or payload', async () => {
    const v = verifier();
    const good = await hs(claims());
    const [h, p, s] = good.split('.') as [string, string, string];
    const header = 'token is not a well-formed JWT: its header is not a base64url-encoded JSON object';
    const payload = 'token is not a well-formed JWT: its payload is not a base64url-encoded JSON object';
    await rejects(v, `abc.${p}.${s}`, 'TOKEN_MALFORMED', header);
    await rejects(v, `${h}+.${p}.${s}`, 'TOKEN_MALFORMED', header);
    await rejects(v, `.${p}.${s}`, 'TOKEN_MALFORMED', header);
    await rejects(v, `${b64('[1,2]')}.${p}.${s}`, 'TOKEN_MALFORMED', header);
    await rejects(v, `${h}.${b64('not json')}.${s}`, 'TOKEN_MALFORMED', payload);
    await rejects(v, `${h}.${b64('[1]')}.${s}`, 'TOKEN_MALFORMED', payload);
    await rejects(v, `${h}.${b64('"str"')}.${s}`, 'TOKEN_MALFORMED', payload);
    await rejects(v, `${h}.${b64('null')}.${s}`, 'TOKEN_MALFORMED', payload);
    await rejects(v, `${h}.${p}=.${s}`, 'TOKEN_MALFORMED', payload);
    await rejects(v, `${h}.${p}.${s}/`, 'TOKEN_MALFORMED', 'token is not a well-formed JWT: its signature is not base64url');
  });
});

describe('TokenVerifier: algorithms', () => {
  const accepted = 'HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, ES512';

  it('TOKEN_ALG_UNSUPPORTED for alg none (with and without a signature)', async () => {
    const v = verifier();
    const msg = `token is signed with algorithm "none", which is not accepted (accepted: ${accepted})`;
    await rejects(v, craft({ alg: 'none', typ: 'JWT' }, claims(), ''), 'TOKEN_ALG_UNSUPPORTED', msg);
    await rejects(v, craft({ alg: 'none' }, claims()), 'TOKEN_ALG_UNSUPPORTED', msg);
  });

  it('TOKEN_ALG_UNSUPPORTED for PS256, EdDSA, odd values and a missing alg', async () => {
    const v = verifier();
    const ps = await sign(claims(), rsa.privateKey, { alg: 'PS256' });
    await rejects(v, ps, 'TOKEN_ALG_UNSUPPORTED', `token is signed with algorithm "PS256", which is not accepted (accepted: ${accepted})`);
    await rejects(v, craft({ alg: 'EdDSA' }, claims()), 'TOKEN_ALG_UNSUPPORTED', /algorithm "EdDSA", which is not accepted/);
    await rejects(v, craft({ alg: 'hs256' }, claims()), 'TOKEN_ALG_UNSUPPORTED', /algorithm "hs256"/);
    await rejects(v, craft({ alg: 7 }, claims()), 'TOKEN_ALG_UNSUPPORTED', /algorithm 7, which/);
    await rejects(v, craft({ alg: '__proto__' }, claims()), 'TOKEN_ALG_UNSUPPORTED', /algorithm "__proto__"/);
    await rejects(
      v,
      craft({ typ: 'JWT' }, claims()),
      'TOKEN_ALG_UNSUPPORTED',
      `token has no "alg" header; accepted algorithms: ${accepted}`,
    );
  });

  it('refuses HS256 signed with the RSA public key PEM as HMAC secret (algorithm confusion)', async () => {
    const confused = await sign(claims({ iss: 'other.io' }), enc.encode(rsaOther.publicPem), { alg: 'HS256' });
    // The issuer has only an RSA key: no shared-secret slot at all.
    await rejects(
      verifier(),
      confused,
      'TOKEN_KEY_MISSING',
      'token: issuer other.io has no shared secret configured; the token is signed with HS256',
    );
    // The issuer has an RSA key and a shared secret: HS256 is checked with the secret only.
    const confused2 = await sign(claims(), enc.encode(rsa.publicPem), { alg: 'HS256' });
    await rejects(
      verifier(),
      confused2,
      'TOKEN_SIGNATURE_INVALID',
      'token: the signature does not verify with the shared secret of issuer portworx.com (HS256)',
    );
    // Even with a trailing newline stripped or the key in another encoding.
    const confused3 = await sign(claims(), enc.encode(rsa.publicPem.trim()), { alg: 'HS256' });
    await rejects(verifier(), confused3, 'TOKEN_SIGNATURE_INVALID', /shared secret of issuer portworx.com/);
  });

  it('TOKEN_KEY_MISSING names the family and the algorithm', async () => {
    const v = verifier({}, [
      { name: 'portworx.com', sharedSecret: SECRET },
      { name: 'other.io', rsaPublicKeyPem: rsaOther.publicPem },
    ]);
    await rejects(
      v,
      await rs(claims()),
      'TOKEN_KEY_MISSING',
      'token: issuer portworx.com has no RSA public key configured; the token is signed with RS256',
    );
    await rejects(
      v,
      await sign(claims(), ec.privateKey, { alg: 'ES256' }),
      'TOKEN_KEY_MISSING',
      'token: issuer portworx.com has no ECDSA public key configured; the token is signed with ES256',
    );
  });

  it('TOKEN_SIGNATURE_INVALID for a wrong key, a tampered payload, a stripped signature and an EC curve mismatch', async () => {
    const v = verifier();
    const other = await sign(claims(), rsaOther.privateKey, { alg: 'RS256' });
    const rsaMsg = 'token: the signature does not verify with the RSA public key of issuer portworx.com (RS256)';
    await rejects(v, other, 'TOKEN_SIGNATURE_INVALID', rsaMsg);

    const good = await rs(claims());
    const [h, , s] = good.split('.') as [string, string, string];
    await rejects(v, `${h}.${b64(claims({ roles: ['system.admin'] }))}.${s}`, 'TOKEN_SIGNATURE_INVALID', rsaMsg);
    await rejects(v, `${h}.${good.split('.')[1]}.`, 'TOKEN_SIGNATURE_INVALID', rsaMsg);

    await rejects(
      v,
      await sign(claims(), enc.encode('wrong-secret'), { alg: 'HS512' }),
      'TOKEN_SIGNATURE_INVALID',
      'token: the signature does not verify with the shared secret of issuer portworx.com (HS512)',
    );

    await rejects(
      v,
      await sign(claims(), ec384.privateKey, { alg: 'ES384' }),
      'TOKEN_SIGNATURE_INVALID',
      'token: the token is signed with ES384 but the ECDSA public key of issuer portworx.com is on curve P-256 (ES256)',
    );
    const ecOther = ecKey('P-256');
    await rejects(
      v,
      await sign(claims(), ecOther.privateKey, { alg: 'ES256' }),
      'TOKEN_SIGNATURE_INVALID',
      'token: the signature does not verify with the ECDSA public key of issuer portworx.com (ES256)',
    );
  });

  it('TOKEN_MALFORMED for unsupported crit extensions', async () => {
    const msg = 'token is not a well-formed JWT for pxd: its header uses JWS extensions that are not supported (crit, b64)';
    await rejects(verifier(), hmacToken({ alg: 'HS256', crit: ['x-unknown'], 'x-unknown': 1 }, claims()), 'TOKEN_MALFORMED', msg);
    await rejects(verifier(), hmacToken({ alg: 'HS256', crit: ['b64'], b64: false }, claims()), 'TOKEN_MALFORMED', msg);
  });
});

describe('TokenVerifier: issuer', () => {
  const trusted = '(trusted: portworx.com, other.io)';
  it('TOKEN_ISSUER_UNTRUSTED for an unknown issuer, a case difference or whitespace', async () => {
    const v = verifier();
    await rejects(v, await hs(claims({ iss: 'foo' })), 'TOKEN_ISSUER_UNTRUSTED', `token: issuer "foo" is not trusted ${trusted}`);
    await rejects(
      v,
      await hs(claims({ iss: 'Portworx.com' })),
      'TOKEN_ISSUER_UNTRUSTED',
      `token: issuer "Portworx.com" is not trusted ${trusted}`,
    );
    await rejects(
      v,
      await hs(claims({ iss: 'portworx.com ' })),
      'TOKEN_ISSUER_UNTRUSTED',
      `token: issuer "portworx.com " is not trusted ${trusted}`,
    );
    await rejects(
      v,
      await hs(claims({ iss: ' portworx.com' })),
      'TOKEN_ISSUER_UNTRUSTED',
      `token: issuer " portworx.com" is not trusted ${trusted}`,
    );
    const e = await rejects(
      v,
      await hs(claims({ iss: 'toString' })),
      'TOKEN_ISSUER_UNTRUSTED',
      `token: issuer "toString" is not trusted ${trusted}`,
    );
    expect(e.details.issuer).toBe('toString');
  });

  it('bounds a long issuer in the message', async () => {
    const long = 'i'.repeat(500);
    await rejects(
      verifier(),
      await hs(claims({ iss: long })),
      'TOKEN_ISSUER_UNTRUSTED',
      `token: issuer "${'i'.repeat(64)}…" is not trusted ${trusted}`,
    );
  });

  it('TOKEN_CLAIM_MISSING without iss; TOKEN_CLAIM_INVALID for a non-string iss', async () => {
    const c = claims();
    delete c.iss;
    const e = await rejects(verifier(), await hs(c), 'TOKEN_CLAIM_MISSING', 'token is missing the required claim iss (the token issuer)');
    expect(e.details.claim).toBe('iss');
    await rejects(verifier(), await hs(claims({ iss: ['portworx.com'] })), 'TOKEN_CLAIM_INVALID', 'token: claim iss must be a string');
  });
});

describe('TokenVerifier: time', () => {
  it('TOKEN_EXPIRED names the source and the ISO expiry (no milliseconds)', async () => {
    const exp = Date.UTC(2026, 10, 20, 10, 0, 0) / 1000;
    const t = await hs(claims({ exp }));
    clock = Date.UTC(2026, 10, 20, 11, 0, 0);
    const e = await rejects(
      verifier(),
      t,
      'TOKEN_EXPIRED',
      'token from secret pwx/secrets/user1-token expired 2026-11-20T10:00:00Z',
      SECRET_SOURCE,
    );
    expect(e.details).toMatchObject({ secretPath: 'pwx/secrets/user1-token', claim: 'exp' });
    expect(e.toDockerText()).toBe('pxd-auth TOKEN_EXPIRED: token from secret pwx/secrets/user1-token expired 2026-11-20T10:00:00Z');
  });

  it('exp exactly now is expired; one second later still valid', async () => {
    const v = verifier();
    await rejects(v, await hs(claims({ exp: T0S })), 'TOKEN_EXPIRED', 'token expired 2026-11-20T09:00:00Z');
    await expect(v.verify(await hs(claims({ exp: T0S + 1 })))).resolves.toBeTruthy();
  });

  it('names other sources', async () => {
    const t = await hs(claims({ exp: T0S - 1 }));
    await rejects(verifier(), t, 'TOKEN_EXPIRED', 'token in the volume name expired 2026-11-20T08:59:59Z', { kind: 'name-token' });
    await rejects(verifier(), t, 'TOKEN_EXPIRED', 'token in the -o options expired 2026-11-20T08:59:59Z', { kind: 'opts-token' });
  });

  it('TOKEN_NOT_YET_VALID for nbf or iat in the future', async () => {
    const v = verifier();
    await rejects(
      v,
      await hs(claims({ nbf: T0S + 120 })),
      'TOKEN_NOT_YET_VALID',
      'token is not valid before 2026-11-20T09:02:00Z (nbf); check the clocks of the token issuer and this host',
    );
    await rejects(
      v,
      await hs(claims({ iat: T0S + 1 })),
      'TOKEN_NOT_YET_VALID',
      'token was issued in the future (iat 2026-11-20T09:00:01Z); check the clocks of the token issuer and this host',
    );
    await expect(v.verify(await hs(claims({ iat: T0S, nbf: T0S })))).resolves.toBeTruthy();
  });

  it('TOKEN_CLAIM_INVALID for non-numeric or infinite exp / iat / nbf', async () => {
    const v = verifier();
    for (const claim of ['exp', 'iat', 'nbf']) {
      await rejects(
        v,
        await hs(claims({ [claim]: String(T0S + 10) })),
        'TOKEN_CLAIM_INVALID',
        `token: claim ${claim} must be a number (seconds since the epoch)`,
      );
    }
    const raw = JSON.stringify(claims()).replace(`"exp":${T0S + 3600}`, '"exp":1e400');
    await rejects(
      v,
      hmacToken({ alg: 'HS256' }, raw),
      'TOKEN_CLAIM_INVALID',
      'token: claim exp must be a number (seconds since the epoch)',
    );
  });
});

describe('TokenVerifier: claims', () => {
  it.each(PXD_REQUIRED_CLAIMS.filter((c) => c !== 'iss'))('TOKEN_CLAIM_MISSING without %s', async (claim) => {
    const c = claims();
    delete c[claim];
    const e = await rejects(verifier(), await hs(c), 'TOKEN_CLAIM_MISSING', `token is missing the required claim ${claim}`);
    expect(e.details.claim).toBe(claim);
  });

  it('honours a custom requiredClaims list', async () => {
    const c = claims();
    delete c.name;
    delete c.email;
    const v = verifier({ requiredClaims: ['iss', 'sub', 'exp', 'roles'] });
    await expect(v.verify(await hs(c))).resolves.toMatchObject({ username: 'id/user1' });
    const c2 = claims();
    delete c2.roles;
    await rejects(v, await hs(c2), 'TOKEN_CLAIM_MISSING', 'token is missing the required claim roles');
  });

  it('TOKEN_CLAIM_INVALID for non-string sub, name, email', async () => {
    for (const claim of ['sub', 'name', 'email']) {
      await rejects(verifier(), await hs(claims({ [claim]: 42 })), 'TOKEN_CLAIM_INVALID', `token: claim ${claim} must be a string`);
    }
  });

  it('TOKEN_USERNAME_EMPTY for an empty username claim', async () => {
    const e = await rejects(
      verifier(),
      await hs(claims({ sub: '' })),
      'TOKEN_USERNAME_EMPTY',
      'token: the username claim sub is empty; pxd needs it to identify the volume owner',
    );
    expect(e.details.claim).toBe('sub');
    const v = verifier({}, [{ name: 'portworx.com', sharedSecret: SECRET, usernameClaim: 'email' }]);
    await rejects(
      v,
      await hs(claims({ email: '' })),
      'TOKEN_USERNAME_EMPTY',
      'token: the username claim email is empty; pxd needs it to identify the volume owner',
    );
    const c = claims();
    delete c.name;
    const v2 = verifier({ usernameClaim: 'name', requiredClaims: ['iss', 'sub'] });
    await rejects(
      v2,
      await hs(c),
      'TOKEN_USERNAME_EMPTY',
      'token: the username claim name is missing; pxd needs it to identify the volume owner',
    );
  });

  it('TOKEN_CLAIM_INVALID for roles or groups that are not arrays of strings', async () => {
    const v = verifier();
    await rejects(v, await hs(claims({ roles: 'system.admin' })), 'TOKEN_CLAIM_INVALID', 'token: claim roles must be an array of strings');
    await rejects(
      v,
      await hs(claims({ roles: ['system.admin', 1] })),
      'TOKEN_CLAIM_INVALID',
      'token: claim roles must be an array of strings',
    );
    await rejects(
      v,
      await hs(claims({ roles: { 0: 'system.admin' } })),
      'TOKEN_CLAIM_INVALID',
      'token: claim roles must be an array of strings',
    );
    await rejects(v, await hs(claims({ groups: '*' })), 'TOKEN_CLAIM_INVALID', 'token: claim groups must be an array of strings');
    const e = await rejects(
      v,
      await hs(claims({ groups: [null] })),
      'TOKEN_CLAIM_INVALID',
      'token from secret pwx/secrets/user1-token: claim groups must be an array of strings',
      SECRET_SOURCE,
    );
    expect(e.details).toEqual({ secretPath: 'pwx/secrets/user1-token', claim: 'groups' });
  });

  it('checks in pxd order: signature before claims, claims before username', async () => {
    const c = claims({ sub: '', roles: 'x' });
    delete c.email;
    // Bad signature wins over the claim problems.
    await rejects(verifier(), await sign(c, enc.encode('nope'), { alg: 'HS256' }), 'TOKEN_SIGNATURE_INVALID', /signature does not verify/);
    await rejects(verifier(), await hs(c), 'TOKEN_CLAIM_MISSING', 'token is missing the required claim email');
  });
});

describe('TokenVerifier: cache', () => {
  it('returns a cached result without re-verifying, and counts hits and misses', async () => {
    const v = verifier({ cacheSize: 10 });
    const t = await rs(claims());
    const first = await v.verify(t);
    expect(v.stats()).toEqual({ hits: 0, misses: 1, size: 1 });
    first.roles.push('system.admin'); // callers cannot poison the cache
    const second = await v.verify(t);
    expect(second.roles).toEqual(['system.user']);
    expect(v.stats()).toEqual({ hits: 1, misses: 1, size: 1 });
    // A cache hit does not touch the crypto at all.
    const subtle = vi.spyOn(crypto.subtle, 'verify');
    await v.verify(t);
    expect(subtle).not.toHaveBeenCalled();
    expect(v.stats().hits).toBe(2);
  });

  it('refuses an expired cached token once the clock moves past exp', async () => {
    const v = verifier({ cacheSize: 10 });
    const exp = Date.UTC(2026, 10, 20, 10, 0, 0) / 1000;
    const t = await hs(claims({ exp }));
    await v.verify(t);
    await v.verify(t);
    expect(v.stats().hits).toBe(1);
    clock = exp * 1000;
    await rejects(v, t, 'TOKEN_EXPIRED', 'token from secret pwx/secrets/user1-token expired 2026-11-20T10:00:00Z', SECRET_SOURCE);
    expect(v.stats()).toEqual({ hits: 1, misses: 2, size: 0 });
  });

  it('verifies a token once for concurrent calls (a burst of Mounts naming one secret)', async () => {
    const v = verifier({ cacheSize: 10 });
    const t = await rs(claims());
    const subtle = vi.spyOn(crypto.subtle, 'verify');
    const all = await Promise.all(Array.from({ length: 50 }, () => v.verify(t, { source: SECRET_SOURCE })));
    expect(subtle).toHaveBeenCalledTimes(1);
    expect(all.every((x) => x.username === 'id/user1')).toBe(true);
    all[0]!.roles.push('system.admin'); // each caller has its own copy
    expect(all[1]!.roles).toEqual(['system.user']);
    expect(v.stats()).toEqual({ hits: 0, misses: 50, size: 1 });
  });

  it('shares a failure among concurrent calls, with the message of their source', async () => {
    const v = verifier({ cacheSize: 10 });
    const t = await hs(claims({ iss: 'foo' }));
    const results = await Promise.allSettled([v.verify(t, { source: SECRET_SOURCE }), v.verify(t, { source: SECRET_SOURCE }), v.verify(t)]);
    const messages = results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'allowed'));
    expect(messages[0]).toBe(messages[1]);
    expect(messages[0]).toMatch(/^token from secret pwx\/secrets\/user1-token: issuer "foo" is not trusted/);
    expect(messages[2]).toMatch(/^token: issuer "foo" is not trusted/);
  });

  it('does not cache failures and evicts beyond cacheSize', async () => {
    const v = verifier({ cacheSize: 2 });
    const bad = await hs(claims({ iss: 'foo' }));
    await rejects(v, bad, 'TOKEN_ISSUER_UNTRUSTED', /not trusted/);
    await rejects(v, bad, 'TOKEN_ISSUER_UNTRUSTED', /not trusted/);
    expect(v.stats()).toEqual({ hits: 0, misses: 2, size: 0 });
    for (let i = 0; i < 3; i++) await v.verify(await hs(claims({ jti: String(i) })));
    expect(v.stats().size).toBe(2);
  });

  it('cacheSize 0 disables caching', async () => {
    const v = verifier({ cacheSize: 0 });
    const t = await hs(claims());
    await v.verify(t);
    await v.verify(t);
    expect(v.stats()).toEqual({ hits: 0, misses: 0, size: 0 });
  });
});

describe('TokenVerifier: construction', () => {
  const make = (issuers: IssuerConfig[]): TokenVerifier => verifier({}, issuers);
  it('rejects a PEM of the wrong key type', () => {
    expect(() => make([{ name: 'a', rsaPublicKeyPem: ec.publicPem }])).toThrow(
      'issuer a: the RSA public key PEM holds a ec key, not an RSA key',
    );
    expect(() => make([{ name: 'a', ecdsaPublicKeyPem: rsa.publicPem }])).toThrow(
      'issuer a: the ECDSA public key PEM holds a rsa key, not an EC key',
    );
  });
  it('rejects private keys, garbage and small RSA keys', () => {
    expect(() => make([{ name: 'a', rsaPublicKeyPem: rsa.privatePem }])).toThrow(
      'issuer a: the RSA public key is a private key; configure the public key instead',
    );
    expect(() => make([{ name: 'a', rsaPublicKeyPem: 'hello' }])).toThrow('issuer a: the RSA public key is not PEM text');
    expect(() => make([{ name: 'a', rsaPublicKeyPem: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' }])).toThrow(
      /issuer a: the RSA public key could not be read/,
    );
    expect(() => make([{ name: 'a', rsaPublicKeyPem: rsaKey(1024).publicPem }])).toThrow(
      'issuer a: the RSA public key has 1024 bits; at least 2048 are required',
    );
  });
  it('rejects key-less issuers, duplicates and empty lists', () => {
    expect(() => make([{ name: 'a' }])).toThrow('issuer a has no key configured');
    expect(() => make([{ name: 'a', sharedSecret: '' }])).toThrow('issuer a: the shared secret is empty');
    expect(() =>
      make([
        { name: 'a', sharedSecret: 'x' },
        { name: 'a', sharedSecret: 'y' },
      ]),
    ).toThrow('issuer a is configured twice');
    expect(() => make([])).toThrow('at least one trusted issuer');
  });
});

describe('TokenVerifier: never leaks the token', () => {
  it('keeps the signature out of every error in a batch of failures', async () => {
    const tokens = [
      await hs(claims({ exp: T0S - 5 })),
      await hs(claims({ iss: 'nope' })),
      await sign(claims(), enc.encode('bad'), { alg: 'HS256' }),
      await hs(claims({ roles: 'x' })),
    ];
    const v = verifier();
    for (const t of tokens) {
      const err = await v.verify(t).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ProxyError);
      const pe = err as ProxyError;
      const all = JSON.stringify({ m: pe.message, d: pe.details, s: pe.stack });
      expect(all).not.toContain(t.split('.')[2]);
      expect(all).not.toContain(t.split('.')[1]);
    }
  });
});
