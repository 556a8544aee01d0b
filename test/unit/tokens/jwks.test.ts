import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import http from 'node:http';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT, exportJWK } from 'jose';
import { TokenVerifier } from '../../../src/tokens/verify.js';

/** A small OIDC issuer on loopback: discovery document and a JWK set that can rotate or go down. */
let server: http.Server;
let base = '';
let published: Array<{ kid: string; pub: KeyObject }> = [];
let jwksFetches = 0;
let down = false;

const keyA = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyB = generateKeyPairSync('ec', { namedCurve: 'P-256' });

beforeAll(async () => {
  server = http.createServer(async (req, res) => {
    if (down) return res.destroy();
    if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks` }));
    }
    if (req.url === '/jwks') {
      jwksFetches++;
      const keys = await Promise.all(published.map(async (k) => ({ ...(await exportJWK(k.pub)), kid: k.kid, use: 'sig' })));
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ keys }));
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => server.close());
afterEach(() => {
  vi.useRealTimers();
});

async function sign(priv: KeyObject, alg: string, kid: string) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: base,
    sub: 'id/oidc-user',
    name: 'O',
    email: 'o@example.com',
    roles: ['system.user'],
    iat: now,
    exp: now + 600,
  })
    .setProtectedHeader({ alg, kid })
    .sign(priv);
}

describe('OIDC/JWKS issuers', () => {
  it('discovers the JWK set, picks up a rotated key without a restart, and keeps known keys while the endpoint is down', async () => {
    // Only Date is faked (the loopback server stays real): it moves past jose's refetch cooldown (30 s).
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    published = [{ kid: 'a', pub: keyA.publicKey }];
    const v = new TokenVerifier({
      issuers: [{ name: base, oidcDiscovery: true }],
      requiredClaims: ['iss', 'sub', 'exp', 'iat'],
      usernameClaim: 'sub',
      clockToleranceSec: 0,
      maxTokenLength: 16384,
      cacheSize: 0,
    });
    const tA = await sign(keyA.privateKey, 'RS256', 'a');
    const ok = await v.verify(tA);
    expect(ok).toMatchObject({ username: 'id/oidc-user', keySlot: 'jwks', algorithm: 'RS256' });
    expect(jwksFetches).toBe(1);

    // Rotation: the issuer publishes key b; a token signed with it triggers one refetch.
    published = [
      { kid: 'a', pub: keyA.publicKey },
      { kid: 'b', pub: keyB.publicKey },
    ];
    vi.setSystemTime(Date.now() + 31_000);
    const tB = await sign(keyB.privateKey, 'ES256', 'b');
    expect((await v.verify(tB)).algorithm).toBe('ES256');
    expect(jwksFetches).toBe(2);

    // The endpoint goes down: known keys still verify.
    down = true;
    expect((await v.verify(tA)).username).toBe('id/oidc-user');
    // An unknown kid cannot be fetched: a precise error, not a crash.
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await expect(v.verify(await sign(other.privateKey, 'RS256', 'zzz'))).rejects.toMatchObject({
      code: expect.stringMatching(/TOKEN_KEY_MISSING|TOKEN_SIGNATURE_INVALID/),
    });
    down = false;
  });

  it('refuses HS tokens for a JWKS issuer (no algorithm confusion)', async () => {
    published = [{ kid: 'a', pub: keyA.publicKey }];
    const v = new TokenVerifier({
      issuers: [{ name: base, jwksUrl: `${base}/jwks` }],
      requiredClaims: ['iss'],
      usernameClaim: 'sub',
      clockToleranceSec: 0,
      maxTokenLength: 16384,
      cacheSize: 0,
    });
    const pem = keyA.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ iss: base, sub: 'x', iat: now, exp: now + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: 'a' })
      .sign(new TextEncoder().encode(pem));
    await expect(v.verify(forged)).rejects.toMatchObject({ code: 'TOKEN_KEY_MISSING' });
  });
});
