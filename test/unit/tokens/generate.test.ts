import { describe, expect, it } from 'vitest';

import { generateToken, parseAuthConfig, parseDuration, type AuthConfigClaims } from '../../../src/tokens/generate.js';
import { PXD_REQUIRED_CLAIMS, TokenVerifier } from '../../../src/tokens/verify.js';
import type { IssuerConfig } from '../../../src/tokens/types.js';
import { decodePart, ecKey, rsaKey, T0, T0S } from './helpers.js';

const SECRET = 'generate-test-secret';
const rsa = rsaKey();
const ec = ecKey('P-256');
const ec384 = ecKey('P-384');
const ec521 = ecKey('P-521');
const now = (): number => T0 + 999; // milliseconds are dropped

const ADMIN: AuthConfigClaims = {
  name: 'Storage Administrator',
  email: 'admin@example.com',
  sub: 'id/admin',
  roles: ['system.admin'],
  groups: ['*'],
};

function verifier(issuer: IssuerConfig, clock = T0 + 1000): TokenVerifier {
  return new TokenVerifier({
    issuers: [issuer],
    requiredClaims: [...PXD_REQUIRED_CLAIMS],
    usernameClaim: 'sub',
    clockToleranceSec: 0,
    maxTokenLength: 16_384,
    cacheSize: 0,
    now: () => clock,
  });
}

describe('generateToken', () => {
  it('writes the openstorage claim layout with HS256 for a shared secret', async () => {
    const t = await generateToken({ claims: ADMIN, issuer: 'portworx.com', key: { sharedSecret: SECRET }, durationSec: 86_400, now });
    expect(decodePart(t, 0)).toEqual({ alg: 'HS256', typ: 'JWT' });
    const payload = decodePart(t, 1);
    expect(Object.keys(payload)).toEqual(['sub', 'iss', 'email', 'name', 'roles', 'groups', 'iat', 'exp']);
    expect(payload).toEqual({
      sub: 'id/admin',
      iss: 'portworx.com',
      email: 'admin@example.com',
      name: 'Storage Administrator',
      roles: ['system.admin'],
      groups: ['*'],
      iat: T0S,
      exp: T0S + 86_400,
    });
    const r = await verifier({ name: 'portworx.com', sharedSecret: SECRET }).verify(t);
    expect(r).toMatchObject({ username: 'id/admin', roles: ['system.admin'], groups: ['*'], algorithm: 'HS256', keySlot: 'shared-secret' });
  });

  it('defaults sub to base64("openstorage.io/" + name + "/" + email) and omits unset groups', async () => {
    const t = await generateToken({
      claims: { name: 'User One', email: 'user1@example.com', roles: ['system.user'] },
      issuer: 'openstorage.io',
      key: { sharedSecret: SECRET },
      durationSec: 60,
      now,
    });
    const payload = decodePart(t, 1);
    expect(payload.sub).toBe(Buffer.from('openstorage.io/User One/user1@example.com').toString('base64'));
    expect(payload.sub).toBe('b3BlbnN0b3JhZ2UuaW8vVXNlciBPbmUvdXNlcjFAZXhhbXBsZS5jb20=');
    expect(Object.keys(payload)).toEqual(['sub', 'iss', 'email', 'name', 'roles', 'iat', 'exp']);
    // An empty sub also falls back to the default, as in openstorage.
    const t2 = await generateToken({
      claims: { name: 'User One', email: 'user1@example.com', sub: '' },
      issuer: 'openstorage.io',
      key: { sharedSecret: SECRET },
      durationSec: 60,
      now,
    });
    expect(decodePart(t2, 1)).toMatchObject({ sub: payload.sub, roles: [] });
  });

  it('signs RS256 with an RSA key and ES256/384/512 by curve', async () => {
    const rt = await generateToken({
      claims: ADMIN,
      issuer: 'portworx.com',
      key: { rsaPrivateKeyPem: rsa.privatePem },
      durationSec: 60,
      now,
    });
    expect(decodePart(rt, 0)).toEqual({ alg: 'RS256', typ: 'JWT' });
    await expect(verifier({ name: 'portworx.com', rsaPublicKeyPem: rsa.publicPem }).verify(rt)).resolves.toMatchObject({ keySlot: 'rsa' });

    for (const [k, alg] of [
      [ec, 'ES256'],
      [ec384, 'ES384'],
      [ec521, 'ES512'],
    ] as const) {
      const t = await generateToken({
        claims: ADMIN,
        issuer: 'portworx.com',
        key: { ecdsaPrivateKeyPem: k.privatePem },
        durationSec: 60,
        now,
      });
      expect(decodePart(t, 0).alg).toBe(alg);
      await expect(verifier({ name: 'portworx.com', ecdsaPublicKeyPem: k.publicPem }).verify(t)).resolves.toMatchObject({ algorithm: alg });
    }
  });

  it('accepts SEC1 / PKCS1 private keys and an algorithm of the right family', async () => {
    const sec1 = ec.privateKey.export({ type: 'sec1', format: 'pem' }).toString();
    const pkcs1 = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const t1 = await generateToken({ claims: ADMIN, issuer: 'i', key: { ecdsaPrivateKeyPem: sec1 }, durationSec: 60, now });
    expect(decodePart(t1, 0).alg).toBe('ES256');
    const t2 = await generateToken({
      claims: ADMIN,
      issuer: 'i',
      key: { rsaPrivateKeyPem: pkcs1 },
      durationSec: 60,
      now,
      algorithm: 'RS512',
    });
    expect(decodePart(t2, 0).alg).toBe('RS512');
    const t3 = await generateToken({ claims: ADMIN, issuer: 'i', key: { sharedSecret: SECRET }, durationSec: 60, now, algorithm: 'HS384' });
    expect(decodePart(t3, 0).alg).toBe('HS384');
  });

  it('rejects mismatched algorithms, wrong key types and bad input', async () => {
    const base = { claims: ADMIN, issuer: 'portworx.com', durationSec: 60, now };
    await expect(generateToken({ ...base, key: { sharedSecret: SECRET }, algorithm: 'RS256' })).rejects.toThrow(
      'token generation: algorithm "RS256" cannot be used with a shared secret (use HS256, HS384, HS512)',
    );
    await expect(generateToken({ ...base, key: { ecdsaPrivateKeyPem: ec.privatePem }, algorithm: 'ES384' })).rejects.toThrow(
      'token generation: algorithm "ES384" cannot be used with this ECDSA key (use ES256)',
    );
    await expect(generateToken({ ...base, key: { rsaPrivateKeyPem: ec.privatePem } })).rejects.toThrow(
      'token generation: the RSA private key PEM holds a ec key, not an RSA key',
    );
    await expect(generateToken({ ...base, key: { rsaPrivateKeyPem: rsa.publicPem } })).rejects.toThrow(
      'token generation: the RSA private key is not a PEM private key',
    );
    await expect(generateToken({ ...base, key: { sharedSecret: '' } })).rejects.toThrow('token generation: the shared secret is empty');
    await expect(generateToken({ ...base, issuer: '', key: { sharedSecret: SECRET } })).rejects.toThrow(
      'token generation: the issuer must be a non-empty string',
    );
    await expect(generateToken({ ...base, durationSec: -1, key: { sharedSecret: SECRET } })).rejects.toThrow(
      'token generation: the duration must be a whole number of seconds >= 0',
    );
    await expect(generateToken({ ...base, durationSec: Number.MAX_SAFE_INTEGER, key: { sharedSecret: SECRET } })).rejects.toThrow(
      'token generation: the expiry time is out of range (the duration is too long)',
    );
    await expect(generateToken({ ...base, claims: { name: 'x', email: '' }, key: { sharedSecret: SECRET } })).rejects.toThrow(
      'token generation: claim email must be a non-empty string',
    );
  });

  it('a token generated with a duration of 0s is already expired for the verifier', async () => {
    const t = await generateToken({ claims: ADMIN, issuer: 'p', key: { sharedSecret: SECRET }, durationSec: parseDuration('0s'), now });
    await expect(verifier({ name: 'p', sharedSecret: SECRET }, T0).verify(t)).rejects.toMatchObject({ code: 'TOKEN_EXPIRED' });
  });
});

describe('parseDuration', () => {
  it.each([
    ['0s', 0],
    ['1s', 1],
    ['90s', 90],
    ['30m', 1800],
    ['12h', 43_200],
    ['1d', 86_400],
    ['7d', 604_800],
    ['1y', 31_536_000],
    ['10y', 315_360_000],
    ['007m', 420],
  ])('accepts %s as %d seconds', (s, n) => {
    expect(parseDuration(s)).toBe(n);
  });

  it.each(['1w', '1d2h', '1.5h', '', '-1d', '+1d', 'd', '1', '1D', ' 1d', '1d ', '1d\n', '1 d', '1ms', '１d', 'Infinityd'])(
    'rejects %j naming the grammar',
    (s) => {
      expect(() => parseDuration(s)).toThrow(
        `invalid token duration ${JSON.stringify(s)}: expected a whole number followed by one unit, matching ^[0-9]+(s|m|h|d|y)$ (s, m, h, d = 24h, y = 365d), e.g. 30m, 12h, 1d, 1y`,
      );
    },
  );

  it('rejects values beyond Number.MAX_SAFE_INTEGER seconds', () => {
    expect(() => parseDuration('99999999999999999999s')).toThrow(/too long/);
    expect(() => parseDuration('300000000y')).toThrow(
      'invalid token duration "300000000y": it is too long (at most 9007199254740991 seconds)',
    );
    expect(parseDuration(`${Number.MAX_SAFE_INTEGER}s`)).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('parseAuthConfig', () => {
  it('reads the documented example', () => {
    const yaml = [
      'name: Storage Administrator',
      'email: admin@example.com',
      'sub: id/admin          # comment',
      'roles: ["system.admin"]',
      'groups: ["*"]',
    ].join('\n');
    expect(parseAuthConfig(yaml)).toEqual(ADMIN);
  });

  it('accepts block lists and leaves out absent / null optional fields', () => {
    expect(parseAuthConfig('name: a\nemail: b\nroles:\n  - system.user\n  - x\ngroups:\nsub: ~\n')).toEqual({
      name: 'a',
      email: 'b',
      roles: ['system.user', 'x'],
    });
  });

  it.each([
    ['', 'auth config: the file is empty'],
    ['# only a comment\n', 'auth config: the file is empty'],
    ['- a\n- b\n', 'auth config: expected a mapping of name, email, sub, roles, groups, found a list'],
    ['just text', 'auth config: expected a mapping of name, email, sub, roles, groups, found a string'],
    ['name: a\nemail: b\nrole: [x]\n', 'auth config: unknown field "role" (allowed: name, email, sub, roles, groups)'],
    ['name: a\nemail: b\n__proto__: {}\n', 'auth config: unknown field "__proto__" (allowed: name, email, sub, roles, groups)'],
    ['email: b\n', 'auth config: name is required'],
    ['name: a\n', 'auth config: email is required'],
    ['name: 12\nemail: b\n', 'auth config: name must be a string, found a number'],
    ['name: a\nemail: true\n', 'auth config: email must be a string, found a boolean'],
    ['name: ""\nemail: b\n', 'auth config: name must not be empty'],
    ['name: a\nemail: b\nsub: [x]\n', 'auth config: sub must be a string, found a list'],
    ['name: a\nemail: b\nroles: system.admin\n', 'auth config: roles must be a list of strings, found a string'],
    ['name: a\nemail: b\nroles: [system.admin, 3]\n', 'auth config: roles must be a list of strings, but item 2 is a number'],
    ['name: a\nemail: b\ngroups: {a: 1}\n', 'auth config: groups must be a list of strings, found a mapping'],
    ['name: a\nemail: b\ngroups: [[x]]\n', 'auth config: groups must be a list of strings, but item 1 is a list'],
  ])('rejects %j', (text, message) => {
    expect(() => parseAuthConfig(text)).toThrow(message);
  });

  it('rejects invalid YAML, duplicate keys and several documents', () => {
    expect(() => parseAuthConfig('name: [a\nemail: b\n')).toThrow(/^auth config: not valid YAML: /);
    expect(() => parseAuthConfig('name: a\nname: b\nemail: c\n')).toThrow(/^auth config: not valid YAML: Map keys must be unique/);
    expect(() => parseAuthConfig('name: a\nemail: b\n---\nname: c\nemail: d\n')).toThrow(/^auth config: not valid YAML: /);
  });
});
