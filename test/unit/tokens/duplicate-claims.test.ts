/**
 * Issue 12 §5: tokens that pxd decodes differently. JSON.parse keeps the last of two equal keys, and pxd's
 * Go decoder (encoding/json into its Claims struct) matches claim names regardless of case, the last match
 * winning. A validly signed token must not read as one user here and as another in pxd.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { ProxyError } from '../../../src/errors.js';
import { PXD_REQUIRED_CLAIMS, TokenVerifier } from '../../../src/tokens/verify.js';
import type { VerifierOptions } from '../../../src/tokens/types.js';
import { b64, claims, T0 } from './helpers.js';

const SECRET = 'pxd-shared-secret-0123456789abcdef';

function verifier(over: Partial<VerifierOptions> = {}): TokenVerifier {
  return new TokenVerifier({
    issuers: [{ name: 'portworx.com', sharedSecret: SECRET }],
    requiredClaims: [...PXD_REQUIRED_CLAIMS],
    usernameClaim: 'sub',
    clockToleranceSec: 0,
    maxTokenLength: 1_000_000,
    cacheSize: 0,
    now: () => T0,
    ...over,
  });
}

/** HS256 over the exact header and payload texts given (raw JSON strings keep their duplicate keys). */
function signed(payload: string, header = '{"alg":"HS256","typ":"JWT"}'): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

/** The valid claims of user eve as JSON text, with `extra` members appended verbatim. */
function payload(extra = '', over: Record<string, unknown> = {}): string {
  const text = JSON.stringify(claims({ sub: 'id/eve', name: 'Eve', email: 'eve@example.com', ...over }));
  return extra === '' ? text : `${text.slice(0, -1)},${extra}}`;
}

async function refused(v: TokenVerifier, token: string): Promise<ProxyError> {
  let err: unknown;
  try {
    await v.verify(token);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ProxyError);
  const pe = err as ProxyError;
  // Claim names may be shown; claim values, the token and its signature never.
  const everything = `${pe.message} ${JSON.stringify(pe.details)} ${pe.toDockerText()}`;
  for (const secret of [token, token.split('.')[2] as string, 'id/alice', 'id/eve', 'eve@example.com']) {
    expect(everything).not.toContain(secret);
  }
  expect(pe.cause).toBeUndefined();
  return pe;
}

describe('claim names that collide under Go case folding', () => {
  it('refuses "sub" and "SUB": eve here, alice in pxd', async () => {
    const v = verifier();
    const token = signed(payload('"SUB":"id/alice"'));
    const pe = await refused(v, token);
    expect(pe.code).toBe('TOKEN_MALFORMED');
    expect(pe.message).toBe(
      'token is not a well-formed JWT: its payload has the claims "sub" and "SUB", whose names differ only in letter case; ' +
        'pxd reads claim names regardless of case, so it could take another value than the one checked here. Give each claim once',
    );
    expect(pe.details).toEqual({ claim: 'sub', claims: ['sub', 'SUB'] });
    expect(pe.toDockerText()).toMatch(
      /^pxd-auth TOKEN_MALFORMED: token is not a well-formed JWT: its payload has the claims "sub" and "SUB"/,
    );
  });

  it('refuses the collision whichever comes first', async () => {
    const text = `{"SUB":"id/alice",${payload().slice(1)}`;
    const pe = await refused(verifier(), signed(text));
    expect(pe.code).toBe('TOKEN_MALFORMED');
    expect(pe.message).toContain('the claims "SUB" and "sub"');
  });

  it('refuses mixed case and the case variants of every pxd claim', async () => {
    for (const [extra, first, second] of [
      ['"Sub":"id/alice"', 'sub', 'Sub'],
      ['"ISS":"portworx.com"', 'iss', 'ISS'],
      ['"Email":"alice@example.com"', 'email', 'Email'],
      ['"NAME":"Alice"', 'name', 'NAME'],
      ['"Roles":["system.admin"]', 'roles', 'Roles'],
      ['"GROUPS":["admins"]', 'groups', 'GROUPS'],
      ['"Exp":1', 'exp', 'Exp'],
    ] as const) {
      const pe = await refused(verifier(), signed(payload(extra)));
      expect(pe.code, extra).toBe('TOKEN_MALFORMED');
      expect(pe.message, extra).toContain(`the claims "${first}" and "${second}"`);
    }
  });

  it('refuses the long s (U+017F), which Go folds to s: "ſub" is sub to pxd', async () => {
    const pe = await refused(verifier(), signed(payload('"\u017fub":"id/alice"')));
    expect(pe.code).toBe('TOKEN_MALFORMED');
    // Shown escaped, so that the person at the CLI sees why two names that look alike collide.
    expect(pe.message).toContain('the claims "sub" and "\\u017fub"');
  });

  it('refuses the Kelvin sign (U+212A), which Go folds to k', async () => {
    const pe = await refused(verifier(), signed(payload('"k8s":"a","\u212a8S":"b"')));
    expect(pe.code).toBe('TOKEN_MALFORMED');
    expect(pe.message).toContain('the claims "k8s" and "\\u212a8S"');
  });

  it('refuses other Unicode simple folds (final sigma, micro sign)', async () => {
    expect((await refused(verifier(), signed(payload('"σx":1,"ςX":2')))).code).toBe('TOKEN_MALFORMED');
    expect((await refused(verifier(), signed(payload('"\u00b5":1,"\u039c":2')))).code).toBe('TOKEN_MALFORMED');
  });

  it('compares names after unescaping: "s\\u0055b" is "sUb"', async () => {
    const pe = await refused(verifier(), signed(payload('"s\\u0055b":"id/alice"')));
    expect(pe.code).toBe('TOKEN_MALFORMED');
    expect(pe.message).toContain('the claims "sub" and "sUb"');
  });

  it('accepts the dotless ı (U+0131) beside i: Go folds it only to itself', async () => {
    const t = await verifier().verify(signed(payload('"\u0131ss":"x"')));
    expect(t.username).toBe('id/eve');
  });

  it('accepts case variants inside a nested object (pxd decodes no nested claim into a struct)', async () => {
    const t = await verifier().verify(signed(payload('"ext":{"tier":"gold","TIER":"silver"}')));
    expect(t.username).toBe('id/eve');
  });
});

describe('duplicate keys', () => {
  it('refuses a duplicate "sub" (JSON.parse would keep the last one without a word)', async () => {
    const pe = await refused(verifier(), signed(payload('"sub":"id/alice"')));
    expect(pe.code).toBe('TOKEN_MALFORMED');
    expect(pe.message).toBe('token is not a well-formed JWT: its payload gives the claim "sub" twice; each claim may appear only once');
    expect(pe.details).toEqual({ claim: 'sub' });
  });

  it('compares keys after unescaping: "s\\u0075b" is "sub"', async () => {
    const pe = await refused(verifier(), signed(payload('"s\\u0075b":"id/alice"')));
    expect(pe.code).toBe('TOKEN_MALFORMED');
    expect(pe.message).toContain('gives the claim "sub" twice');
  });

  it('takes lone surrogates for U+FFFD, as Go does: "\\ud800" and "\\udc00" are one key to pxd', async () => {
    const pe = await refused(verifier(), signed(payload('"\\ud800":1,"\\udc00":2')));
    expect(pe.code).toBe('TOKEN_MALFORMED');
    expect(pe.message).toContain('gives the claim "\\ufffd" twice');
  });

  it('refuses a duplicate key at any depth, in objects and in arrays of objects', async () => {
    let pe = await refused(verifier(), signed(payload('"ext":{"tier":"gold","tier":"silver"}')));
    expect(pe.code).toBe('TOKEN_MALFORMED');
    expect(pe.message).toBe(
      'token is not a well-formed JWT: its payload gives the key "tier" twice inside the claim "ext"; a key may appear only once in an object',
    );
    expect(pe.details).toEqual({ claim: 'ext' });
    pe = await refused(verifier(), signed(payload('"ext":[1,{"a":{"b":[{"c":1,"c":1}]}}]')));
    expect(pe.message).toContain('gives the key "c" twice inside the claim "ext"');
  });

  it('refuses a duplicate header parameter, alg included', async () => {
    const pe = await refused(verifier(), signed(payload(), '{"alg":"none","typ":"JWT","alg":"HS256"}'));
    expect(pe.code).toBe('TOKEN_MALFORMED');
    expect(pe.message).toBe(
      'token is not a well-formed JWT: its header gives the parameter "alg" twice; each parameter may appear only once',
    );
    expect(pe.details).toEqual({ parameter: 'alg' });
    expect((await refused(verifier(), signed(payload(), '{"alg":"HS256","typ":"JWT","typ":"JWT"}'))).code).toBe('TOKEN_MALFORMED');
  });

  it('accepts header parameters that differ in case only (jose and golang-jwt both read "alg" by its exact name)', async () => {
    const t = await verifier().verify(signed(payload(), '{"alg":"HS256","typ":"JWT","ALG":"none"}'));
    expect(t.algorithm).toBe('HS256');
  });

  it('is not fooled by key-like text inside string values', async () => {
    const t = await verifier().verify(signed(payload('"note":"\\"sub\\":\\"id/alice\\",{\\"SUB\\":1}","list":["sub","SUB"]')));
    expect(t.username).toBe('id/eve');
  });

  it('refuses nesting deeper than 64 levels and accepts 60', async () => {
    const deep = (n: number): string => `"deep":${'['.repeat(n)}${']'.repeat(n)}`;
    const pe = await refused(verifier(), signed(payload(deep(64))));
    expect(pe.code).toBe('TOKEN_MALFORMED');
    expect(pe.message).toBe('token is not a well-formed JWT: its payload nests objects or arrays more than 64 levels deep');
    expect((await verifier().verify(signed(payload(deep(60))))).username).toBe('id/eve');
  });
});

describe('ordinary tokens and the cache', () => {
  it('still verifies a normal token, with nested objects and names that merely look alike', async () => {
    const t = await verifier().verify(signed(payload('"ext":{"a":1,"b":{"a":2}},"subject":"x","sub_2":"y"')));
    expect(t.username).toBe('id/eve');
    expect(t.subject).toBe('id/eve');
  });

  it('never caches a refused token: every call is checked again', async () => {
    const v = verifier({ cacheSize: 100 });
    const good = signed(payload());
    const bad = signed(payload('"SUB":"id/alice"'));
    await v.verify(good);
    await v.verify(good);
    expect(v.stats()).toMatchObject({ hits: 1, size: 1 });
    for (let i = 0; i < 3; i++) expect((await refused(v, bad)).code).toBe('TOKEN_MALFORMED');
    expect(v.stats()).toMatchObject({ hits: 1, size: 1 });
    // Concurrent calls share one run: all of them are refused.
    const all = await Promise.allSettled([v.verify(bad), v.verify(bad), v.verify(bad)]);
    expect(all.every((r) => r.status === 'rejected' && (r.reason as ProxyError).code === 'TOKEN_MALFORMED')).toBe(true);
    expect(v.stats().size).toBe(1);
  });

  it('checks a large payload in linear time', async () => {
    // 20,000 distinct top-level claims, each with a non-ASCII letter: about 400 KB of JSON.
    const members: string[] = [];
    for (let i = 0; i < 20_000; i++) members.push(`"\u00e9${i.toString(36)}":${i}`);
    const text = payload(members.join(','));
    const token = signed(text);
    const start = performance.now();
    const t = await verifier().verify(token);
    expect(t.username).toBe('id/eve');
    expect(performance.now() - start).toBeLessThan(5_000);
    // The same, with the last claim colliding with the first: found, and named.
    const pe = await refused(verifier(), signed(`${text.slice(0, -1)},"\u00c90":1}`));
    expect(pe.message).toContain('the claims "\\u00e90" and "\\u00c90"');
  });
});
