/**
 * Issue 12 §5 over the real plugin socket: a validly signed token that pxd decodes differently from the
 * proxy. pxd's Go decoder matches claim names regardless of case (last match wins), JSON.parse keeps the
 * last of two equal keys: `{"sub":"id/eve",...,"SUB":"id/alice"}` is audited as eve but makes alice the
 * owner in pxd. The pxd double's own model of that decoding (test/doubles/pxd) shows what pxd would read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers/stack.js';
import { ISSUER, SHARED_SECRET, userClaims } from '../helpers/tokens.js';
import { hmacJwt, nowSec } from '../hardening/helpers.js';
import { authenticateToken, makeAuthenticator, tokenIssuer } from '../doubles/pxd/jwt.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack.close();
});

/** eve's valid claims as JSON text, with `extra` members appended verbatim (hmacJwt signs a string as is). */
function evePayload(extra: string): string {
  const text = JSON.stringify({ ...userClaims('eve'), iat: nowSec() - 10, exp: nowSec() + 3600 });
  return `${text.slice(0, -1)},${extra}}`;
}

const jwt = (payload: string): string => hmacJwt({ alg: 'HS256' }, payload, SHARED_SECRET);

function expectNoLeak(token: string, text: string): void {
  expect(text).not.toContain(token);
  expect(text).not.toContain(token.split('.')[2] as string);
  expect(text).not.toContain('id/alice');
}

describe('tokens that pxd decodes differently', () => {
  it('refuses "sub":"id/eve" with "SUB":"id/alice" on Create: no volume is made, for anyone', async () => {
    const token = jwt(evePayload('"SUB":"id/alice"'));

    // What pxd would make of it: signed by a trusted issuer, and alice (not eve) as the owner.
    const pxdSees = await authenticateToken(makeAuthenticator({ name: ISSUER, sharedSecret: SHARED_SECRET }), token, 'sub', Date.now());
    expect(pxdSees?.sub).toBe('id/alice');
    expect(tokenIssuer(token).claims.sub).toBe('id/alice');
    // ... while JSON.parse (and so jose) reads eve.
    expect(JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')).sub).toBe('id/eve');

    const before = stack.pxd.requests.length;
    const r = await stack.call('VolumeDriver.Create', { Name: `token=${token},name=v1`, Opts: {} });
    expect(r.status).toBe(200);
    expect(r.json.Err).toMatch(
      /^pxd-auth TOKEN_MALFORMED: .*its payload has the claims "sub" and "SUB", whose names differ only in letter case; pxd reads claim names regardless of case/,
    );
    expect(stack.pxd.volumes.has('v1')).toBe(false);
    expect([...stack.pxd.volumes.values()].some((v) => v.owner === 'id/alice' || v.owner === 'id/eve')).toBe(false);
    // Refused before anything reached pxd.
    expect(stack.pxd.requests.slice(before).some((q) => q.endpoint.includes('Create'))).toBe(false);
    expectNoLeak(token, r.text + stack.logs.join(''));
  });

  it('refuses the long s: "ſub" is sub to pxd', async () => {
    const token = jwt(evePayload('"\u017fub":"id/alice"'));
    expect(tokenIssuer(token).claims.sub).toBe('id/alice');
    const r = await stack.call('VolumeDriver.Create', { Name: `token=${token},name=v2`, Opts: {} });
    expect(r.json.Err).toMatch(/^pxd-auth TOKEN_MALFORMED: .*the claims "sub" and "\\u017fub"/);
    expect(stack.pxd.volumes.has('v2')).toBe(false);
  });

  it('refuses a duplicate "sub" key', async () => {
    const token = jwt(evePayload('"sub":"id/alice"'));
    const r = await stack.call('VolumeDriver.Create', { Name: `token=${token},name=v3`, Opts: {} });
    expect(r.json.Err).toBe(
      'pxd-auth TOKEN_MALFORMED: token in the volume name is not a well-formed JWT: its payload gives the claim "sub" twice; each claim may appear only once',
    );
    expect(stack.pxd.volumes.has('v3')).toBe(false);
    expectNoLeak(token, r.text + stack.logs.join(''));
  });

  it('still creates the volume with a normal token, owned by its subject', async () => {
    const token = jwt(JSON.stringify({ ...userClaims('eve'), iat: nowSec() - 10, exp: nowSec() + 3600 }));
    const r = await stack.call('VolumeDriver.Create', { Name: `token=${token},name=v4`, Opts: {} });
    expect(r.json).toEqual({ Err: '' });
    expect(stack.pxd.volumes.get('v4')?.owner).toBe('id/eve');
  });
});
