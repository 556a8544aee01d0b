/**
 * Hostile input, table-driven. Every case must get a precise Err (its exact code and a fragment of
 * its message), forward nothing authenticated to the backend, leave the process answering, and
 * never show a token (nor its signature) in the reply or in any log line.
 *
 * The issuer trusts a shared secret AND an RSA public key (so algorithm confusion has something to
 * confuse), secrets live under the base path `pwx` (a valid token sits at `etc/passwd` in the same
 * store, as a decoy that only a path escape could reach), and a binding ties `pwx/tenant-a` to `a-*`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../src/errors.js';
import { FileSecretStore } from '../../src/secrets/file.js';
import { mountId } from '../helpers/plugin-client.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { ISSUER, SHARED_SECRET, userClaims } from '../helpers/tokens.js';
import {
  b64u,
  dockerRequest,
  hmacJwt,
  leaks,
  needlesOf,
  nowSec,
  rawHttp,
  RecordingStore,
  rsaJwt,
  writeFigures,
  type RawResult,
} from './helpers.js';

// ---- keys and tokens ----------------------------------------------------------------------------

const issuerRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const attackerRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const issuerRsaPem = issuerRsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const issuerRsaDer = issuerRsa.publicKey.export({ type: 'spki', format: 'der' });
const attackerJwk = attackerRsa.publicKey.export({ format: 'jwk' });

const HS = { alg: 'HS256' };
/** A complete, valid claim set (iat now, exp in an hour). */
const claims = (extra: Record<string, unknown> = {}, id = 'mallory'): Record<string, unknown> => ({
  ...userClaims(id),
  iat: nowSec(),
  exp: nowSec() + 3600,
  ...extra,
});
const without = (key: string): Record<string, unknown> => {
  const c = claims();
  delete c[key];
  return c;
};
const good = (extra: Record<string, unknown> = {}): string => hmacJwt(HS, claims(extra), SHARED_SECRET);

/** The jku/x5u target: it must never be asked anything. */
let jkuHits = 0;
let jkuUrl = 'http://127.0.0.1:9/unset';

// ---- the case table -----------------------------------------------------------------------------

interface Req {
  endpoint: string;
  method?: string;
  /** JSON-encoded with a trailing newline, as dockerd sends it. */
  body?: unknown;
  /** Exact bytes (overrides body). */
  raw?: Buffer | string;
  /** A complete request (headers included), for transport-level cases. */
  request?: Buffer;
  /** Token strings involved (scanned for in replies and logs). */
  tokens?: string[];
  /** Secrets to write first: path under the store → value. */
  secrets?: Record<string, string>;
}

interface Case {
  name: string;
  code: ErrorCode;
  fragment: string | RegExp;
  status?: number;
  /** The store must not be asked for anything during this case. */
  noSecretRead?: boolean;
  req: () => Req;
}

const cases: Case[] = [];
let seq = 0;

type Via = 'name' | 'secret' | 'opts' | 'remove' | 'mount';

/** One token, delivered the ways a Docker user can deliver it. */
function tokenCase(name: string, make: () => string, code: ErrorCode, fragment: string | RegExp, vias: Via[] = ['name', 'secret']): void {
  for (const via of vias) {
    const n = ++seq;
    const vol = `hv${n}`;
    cases.push({
      name: `token ${name} (via ${via})`,
      code,
      fragment,
      req: () => {
        const t = make();
        switch (via) {
          case 'name':
            return { endpoint: 'VolumeDriver.Create', body: { Name: `token=${t},repl=1,name=${vol}`, Opts: null }, tokens: [t] };
          case 'mount':
            return { endpoint: 'VolumeDriver.Mount', body: { Name: `name=${vol},token=${t}`, ID: mountId('c0ffee') }, tokens: [t] };
          case 'remove':
            return { endpoint: 'VolumeDriver.Remove', body: { Name: `token=${t},name=${vol}` }, tokens: [t] };
          case 'opts':
            return { endpoint: 'VolumeDriver.Create', body: { Name: vol, Opts: { token: t, size: '1G' } }, tokens: [t] };
          case 'secret':
            return {
              endpoint: 'VolumeDriver.Mount',
              body: { Name: `token_secret=hostile/h${n},name=${vol}`, ID: mountId('c0ffee') },
              secrets: { [`pwx/hostile/h${n}`]: t },
              tokens: [t],
            };
        }
      },
    });
  }
}

// Algorithms
tokenCase(
  'alg none, empty signature',
  () => `${b64u({ alg: 'none', typ: 'JWT' })}.${b64u(claims())}.`,
  'TOKEN_ALG_UNSUPPORTED',
  '"none", which is not accepted',
  ['name', 'secret', 'opts', 'remove'],
);
tokenCase(
  'alg none with a signature',
  () => `${b64u({ alg: 'none' })}.${b64u(claims())}.c2lnbmF0dXJlLWZvci1ub25l`,
  'TOKEN_ALG_UNSUPPORTED',
  'not accepted',
);
tokenCase('alg None', () => `${b64u({ alg: 'None' })}.${b64u(claims())}.`, 'TOKEN_ALG_UNSUPPORTED', '"None"');
tokenCase(
  'alg missing',
  () => `${b64u({ typ: 'JWT' })}.${b64u(claims())}.c2lnbmF0dXJlLW1pc3Npbmc`,
  'TOKEN_ALG_UNSUPPORTED',
  'no "alg" header',
);
tokenCase('alg hs256 (lower case)', () => hmacJwt({ alg: 'hs256' }, claims(), SHARED_SECRET), 'TOKEN_ALG_UNSUPPORTED', '"hs256"');
tokenCase('alg PS256', () => `${b64u({ alg: 'PS256' })}.${b64u(claims())}.c2lnbmF0dXJlLXBzMjU2LXh4`, 'TOKEN_ALG_UNSUPPORTED', '"PS256"');
tokenCase(
  'alg as an array',
  () => `${b64u({ alg: ['HS256'] })}.${b64u(claims())}.c2lnbmF0dXJlLWFycmF5LXh4`,
  'TOKEN_ALG_UNSUPPORTED',
  'not accepted',
);
tokenCase(
  'HS256 signed with the RSA public key PEM (algorithm confusion)',
  () => hmacJwt(HS, claims(), issuerRsaPem),
  'TOKEN_SIGNATURE_INVALID',
  'does not verify with the shared secret',
  ['name', 'secret', 'mount'],
);
tokenCase(
  'HS256 signed with the RSA public key DER (algorithm confusion)',
  () => hmacJwt(HS, claims(), issuerRsaDer),
  'TOKEN_SIGNATURE_INVALID',
  'does not verify with the shared secret',
);
tokenCase(
  'HS512 signed with the RSA public key PEM',
  () => hmacJwt({ alg: 'HS512' }, claims(), issuerRsaPem),
  'TOKEN_SIGNATURE_INVALID',
  '(HS512)',
);
tokenCase(
  'RS256 signed with HMAC of the public key',
  () => hmacJwt({ alg: 'RS256' }, claims(), issuerRsaPem),
  'TOKEN_SIGNATURE_INVALID',
  'does not verify with the RSA public key',
);
tokenCase(
  'ES256 with no ECDSA key configured',
  () => `${b64u({ alg: 'ES256' })}.${b64u(claims())}.${b64u('x'.repeat(64))}`,
  'TOKEN_KEY_MISSING',
  'no ECDSA public key',
);
// kid / jku / x5u / jwk: ignored, never fetched
tokenCase(
  'RS256 by an attacker key with jku to a local server',
  () => rsaJwt({ kid: 'attacker', jku: `${jkuUrl}/jwks.json` }, claims(), attackerRsa.privateKey),
  'TOKEN_SIGNATURE_INVALID',
  'RSA public key',
  ['name', 'secret', 'mount'],
);
tokenCase(
  'RS256 by an attacker key with x5u',
  () => rsaJwt({ x5u: `${jkuUrl}/cert.pem` }, claims(), attackerRsa.privateKey),
  'TOKEN_SIGNATURE_INVALID',
  'RSA public key',
);
tokenCase(
  'RS256 by an attacker key with an embedded jwk',
  () => rsaJwt({ jwk: attackerJwk }, claims(), attackerRsa.privateKey),
  'TOKEN_SIGNATURE_INVALID',
  'RSA public key',
);
tokenCase(
  'HS256 with kid pointing at /dev/null and an empty key',
  () => hmacJwt({ alg: 'HS256', kid: '../../../../../dev/null' }, claims(), ''),
  'TOKEN_SIGNATURE_INVALID',
  'shared secret',
);
tokenCase(
  'HS256 with kid and jku pointing at a local server',
  () => hmacJwt({ alg: 'HS256', kid: `${jkuUrl}/k`, jku: `${jkuUrl}/jwks.json` }, claims(), 'attacker-chosen-secret-123456'),
  'TOKEN_SIGNATURE_INVALID',
  'shared secret',
);
// Issuers
tokenCase(
  'valid token from an untrusted issuer',
  () => hmacJwt(HS, claims({ iss: 'evil.example' }), 'evil-issuer-secret-0123456789'),
  'TOKEN_ISSUER_UNTRUSTED',
  'issuer "evil.example" is not trusted',
  ['name', 'secret', 'mount', 'opts'],
);
tokenCase(
  'untrusted issuer signed with the real secret',
  () => hmacJwt(HS, claims({ iss: 'evil.example' }), SHARED_SECRET),
  'TOKEN_ISSUER_UNTRUSTED',
  'is not trusted',
);
for (const [label, iss] of [
  ['iss in another case', 'Portworx.com'],
  ['iss upper case', 'PORTWORX.COM'],
  ['iss with a trailing space', `${ISSUER} `],
  ['iss with a leading space', ` ${ISSUER}`],
  ['iss with a zero-width space', `${ISSUER}\u200b`],
  ['iss with a newline', `${ISSUER}\n`],
  ['iss with a full-width dot', 'portworx\uff0ecom'],
] as const) {
  tokenCase(label, () => hmacJwt(HS, claims({ iss }), SHARED_SECRET), 'TOKEN_ISSUER_UNTRUSTED', 'is not trusted', ['name']);
}
tokenCase('iss not a string', () => hmacJwt(HS, claims({ iss: [ISSUER] }), SHARED_SECRET), 'TOKEN_CLAIM_INVALID', 'iss must be a string');
// Time
tokenCase(
  'expired an hour ago',
  () => hmacJwt(HS, claims({ iat: nowSec() - 7200, exp: nowSec() - 3600 }), SHARED_SECRET),
  'TOKEN_EXPIRED',
  'expired',
  ['name', 'secret', 'opts', 'remove'],
);
tokenCase(
  'expired a second ago',
  () => hmacJwt(HS, claims({ iat: nowSec() - 60, exp: nowSec() - 1 }), SHARED_SECRET),
  'TOKEN_EXPIRED',
  'expired',
);
tokenCase(
  'nbf in the future',
  () => hmacJwt(HS, claims({ nbf: nowSec() + 3600 }), SHARED_SECRET),
  'TOKEN_NOT_YET_VALID',
  'not valid before',
);
tokenCase(
  'iat in the future',
  () => hmacJwt(HS, claims({ iat: nowSec() + 3600 }), SHARED_SECRET),
  'TOKEN_NOT_YET_VALID',
  'issued in the future',
);
tokenCase(
  'exp a string',
  () => hmacJwt(HS, claims({ exp: String(nowSec() + 3600) }), SHARED_SECRET),
  'TOKEN_CLAIM_INVALID',
  'exp must be a number',
);
tokenCase(
  'exp 1e400 (Infinity)',
  () => {
    const payload = JSON.stringify(claims()).replace(/"exp":\d+/, '"exp":1e400');
    return hmacJwt(HS, payload, SHARED_SECRET);
  },
  'TOKEN_CLAIM_INVALID',
  'exp must be a number',
);
// Claims
for (const c of ['iss', 'sub', 'exp', 'iat', 'name', 'email']) {
  tokenCase(`missing ${c}`, () => hmacJwt(HS, without(c), SHARED_SECRET), 'TOKEN_CLAIM_MISSING', `missing the required claim ${c}`);
}
tokenCase('roles a string', () => good({ roles: 'system.admin' }), 'TOKEN_CLAIM_INVALID', 'roles must be an array of strings', [
  'name',
  'secret',
  'mount',
]);
tokenCase('roles holding a number', () => good({ roles: ['system.user', 1] }), 'TOKEN_CLAIM_INVALID', 'roles must be an array');
tokenCase('roles nested', () => good({ roles: [['system.admin']] }), 'TOKEN_CLAIM_INVALID', 'roles must be an array');
tokenCase('groups a string', () => good({ groups: '*' }), 'TOKEN_CLAIM_INVALID', 'groups must be an array');
tokenCase('sub empty', () => good({ sub: '' }), 'TOKEN_USERNAME_EMPTY', 'username claim sub is empty', ['name', 'secret', 'mount']);
tokenCase('sub a number', () => good({ sub: 42 }), 'TOKEN_CLAIM_INVALID', 'sub must be a string');
// Policy
tokenCase('role system.view', () => good({ roles: ['system.view'] }), 'POLICY_ROLE_DENIED', 'role system.view may not', ['name', 'mount']);
tokenCase('no roles', () => good({ roles: [] }), 'POLICY_ROLE_DENIED', 'the token has no roles');
tokenCase('roles null', () => good({ roles: null }), 'POLICY_ROLE_DENIED', 'the token has no roles', ['name']);
tokenCase('role in upper case', () => good({ roles: ['SYSTEM.ADMIN'] }), 'POLICY_ROLE_DENIED', 'SYSTEM.ADMIN may not', ['name']);
tokenCase('role with a trailing space', () => good({ roles: ['system.admin '] }), 'POLICY_ROLE_DENIED', 'may not', ['name']);
// Shape
const hugeToken = (kb: number) => () => `${b64u(HS)}.${b64u({ ...claims(), pad: 'A'.repeat(kb * 1024) })}.c2lnbmF0dXJlLWh1Z2UtdG9rZW4`;
tokenCase('100 KB token', hugeToken(100), 'TOKEN_TOO_LARGE', 'the limit is 16384', ['secret']);
tokenCase('100 KB token', hugeToken(100), 'TOKEN_TOO_LARGE', 'at most 16384 are accepted', ['opts']);
// In the Name, 100 KB of token makes the whole Name too long before the token is even looked at.
tokenCase('100 KB token', hugeToken(100), 'BODY_INVALID', '"Name" is longer than 65536 characters', ['name', 'mount']);
tokenCase('20 KB token', hugeToken(20), 'TOKEN_TOO_LARGE', 'at most 16384 are accepted', ['name', 'mount']);
tokenCase('three dots (four parts)', () => `${good()}.ZXh0cmEtcGFydC14eHg`, 'TOKEN_MALFORMED', 'found 4', ['name', 'secret', 'mount']);
tokenCase('two segments', () => `${b64u(HS)}.${b64u(claims())}`, 'TOKEN_MALFORMED', 'found 2', ['name', 'secret', 'mount']);
tokenCase('one segment', () => 'bm90LWEtand0LWF0LWFsbC14eHh4', 'TOKEN_MALFORMED', 'found 1');
tokenCase(
  'five segments (JWE-shaped)',
  () => `${b64u({ alg: 'dir', enc: 'A256GCM' })}..aXYtaXYtaXYtaXY.Y2lwaGVydGV4dA.dGFnLXRhZy10YWc`,
  'TOKEN_MALFORMED',
  'found 5',
);
tokenCase('header not JSON', () => `${b64u('not json at all')}.${b64u(claims())}.c2lnbmF0dXJlLWhkcg`, 'TOKEN_MALFORMED', 'header is not');
tokenCase('payload a JSON array', () => hmacJwt(HS, ['iss', ISSUER], SHARED_SECRET), 'TOKEN_MALFORMED', 'payload is not');
tokenCase('signature not base64url', () => `${b64u(HS)}.${b64u(claims())}.abc+/def=ghi`, 'TOKEN_MALFORMED', 'signature is not base64url', [
  'secret',
  'opts',
]);
tokenCase(
  'payload tampered (roles → admin, signature kept)',
  () => {
    const [h, , s] = good().split('.');
    return `${h}.${b64u(claims({ roles: ['system.admin'], groups: ['*'] }))}.${s}`;
  },
  'TOKEN_SIGNATURE_INVALID',
  'does not verify',
  ['name', 'secret', 'mount', 'remove'],
);
tokenCase('signature stripped', () => `${good().split('.').slice(0, 2).join('.')}.`, 'TOKEN_SIGNATURE_INVALID', 'does not verify');
tokenCase('crit header', () => hmacJwt({ alg: 'HS256', crit: ['exp'] }, claims(), SHARED_SECRET), 'TOKEN_MALFORMED', 'JWS extensions');
tokenCase(
  'b64=false header',
  () => hmacJwt({ alg: 'HS256', b64: false, crit: ['b64'] }, claims(), SHARED_SECRET),
  'TOKEN_MALFORMED',
  'JWS extensions',
  ['name'],
);

// token_secret paths (base path `pwx`; a valid decoy token sits at etc/passwd in the same store)
function pathCase(
  label: string,
  secretRef: string,
  code: ErrorCode,
  fragment: string | RegExp,
  where: 'name' | 'opts' | 'mount' = 'name',
  extra = '',
): void {
  const n = ++seq;
  cases.push({
    name: `token_secret ${label} (${where})`,
    code,
    fragment,
    noSecretRead: true,
    req: () =>
      where === 'opts'
        ? {
            endpoint: 'VolumeDriver.Create',
            body: { Name: `hp${n}`, Opts: { token_secret: secretRef, ...(extra ? { token_secret_namespace: extra } : {}) } },
          }
        : {
            endpoint: where === 'mount' ? 'VolumeDriver.Mount' : 'VolumeDriver.Create',
            body: { Name: `token_secret=${secretRef},${extra}name=hp${n}` },
          },
  });
}
pathCase('with ..', '../etc/passwd', 'SECRET_PATH_INVALID', 'has a ".." segment');
pathCase('with .. in the middle', 'good/../../etc/passwd', 'SECRET_PATH_INVALID', '".." segment', 'mount');
pathCase('with %2e%2e', '%2e%2e/%2e%2e/etc/passwd', 'SECRET_PATH_INVALID', '"%" (U+0025)');
pathCase('with %2F', 'good%2F..%2F..%2Fetc%2Fpasswd', 'SECRET_PATH_INVALID', 'U+0025');
pathCase('/etc/passwd', '/etc/passwd', 'SECRET_PATH_OUTSIDE_BASE', 'is not under the allowed base path "/pwx"');
pathCase('/etc/passwd', '/etc/passwd', 'SECRET_PATH_OUTSIDE_BASE', 'not under the allowed base path', 'opts');
pathCase('/etc/shadow', '/etc/shadow', 'SECRET_PATH_OUTSIDE_BASE', 'not under the allowed base path', 'mount');
pathCase('the base folder itself', '/pwx', 'SECRET_PATH_OUTSIDE_BASE', 'not under the allowed base path');
pathCase('a sibling of the base sharing its prefix', '/pwxevil/tok', 'SECRET_PATH_OUTSIDE_BASE', 'not under the allowed base path');
pathCase('absolute with ..', '/pwx/../etc/passwd', 'SECRET_PATH_INVALID', '".." segment');
pathCase('with //', 'good//user1', 'SECRET_PATH_INVALID', 'empty segment');
pathCase('starting with //', '//etc/passwd', 'SECRET_PATH_INVALID', 'empty segment');
pathCase('with a NUL', 'good/user1\u0000.txt', 'SECRET_PATH_INVALID', 'a NUL (U+0000)');
pathCase('with a NUL', 'good/user1\u0000', 'SECRET_PATH_INVALID', 'a NUL', 'opts');
pathCase('with a newline', 'good/user1\n/etc/passwd', 'SECRET_PATH_INVALID', 'a newline (U+000A)');
pathCase('with a carriage return', 'good/user1\r', 'SECRET_PATH_INVALID', 'a carriage return', 'mount');
pathCase('with U+2215 division slashes', '..\u2215..\u2215etc\u2215passwd', 'SECRET_PATH_INVALID', 'U+2215');
pathCase('with U+FF0F full-width slashes', '..\uff0f..\uff0fetc\uff0fpasswd', 'SECRET_PATH_INVALID', 'U+FF0F');
pathCase('with U+2044 fraction slashes', 'good\u2044user1', 'SECRET_PATH_INVALID', 'U+2044');
pathCase('with backslashes', '..\\..\\etc\\passwd', 'SECRET_PATH_INVALID', 'U+005C');
pathCase('with a . segment', './good/user1', 'SECRET_PATH_INVALID', '"." segment');
pathCase('2,000 characters long', `good/${'a'.repeat(2000)}`, 'SECRET_PATH_INVALID', 'at most 1024');
pathCase('.. in the namespace', 'user1', 'SECRET_PATH_INVALID', 'token_secret_namespace', 'name', 'token_secret_namespace=..,');
pathCase('.. in the namespace', 'user1', 'SECRET_PATH_INVALID', 'token_secret_namespace', 'opts', '../..');
pathCase(
  'absolute with a namespace',
  '/pwx/good/user1',
  'SECRET_PATH_INVALID',
  'cannot be combined',
  'name',
  'token_secret_namespace=good,',
);
pathCase('with ..', '../../etc/passwd', 'SECRET_PATH_INVALID', '".." segment', 'opts');

// What the secret holds
function secretCase(label: string, secretPath: string, code: ErrorCode, fragment: string | RegExp): void {
  const n = ++seq;
  cases.push({
    name: `secret ${label}`,
    code,
    fragment,
    req: () => ({ endpoint: 'VolumeDriver.Create', body: { Name: `token_secret=${secretPath},name=hs${n}` } }),
  });
}
secretCase('missing', 'nope/none', 'SECRET_NOT_FOUND', 'pwx/nope/none');
secretCase('holding JSON', 'bad/json', 'SECRET_NOT_TEXT', 'JSON');
secretCase('blank', 'bad/blank', 'SECRET_EMPTY', 'is empty');
secretCase('binary', 'bad/binary', 'SECRET_NOT_TEXT', 'binary');
secretCase('a folder', 'bad/folder', 'SECRET_NOT_FOUND', 'was not found');
secretCase('a symlink to /etc/passwd', 'bad/link', 'SECRET_NOT_FOUND', 'resolves outside');

// The volume name
function nameCase(label: string, code: ErrorCode, fragment: string | RegExp, body: () => unknown, endpoint = 'VolumeDriver.Create'): void {
  cases.push({ name: `name ${label}`, code, fragment, noSecretRead: true, req: () => ({ endpoint, body: body() }) });
}
nameCase('token_secret twice', 'NAME_DUPLICATE_KEY', 'option "token_secret" is given twice', () => ({
  Name: 'token_secret=good/user1,token_secret=/etc/passwd,name=d1',
}));
nameCase('name twice', 'NAME_DUPLICATE_KEY', 'option "name" is given twice', () => ({
  Name: 'name=d2,token_secret=good/user1,name=other',
}));
nameCase('token twice', 'NAME_DUPLICATE_KEY', 'option "token" is given twice', () => ({ Name: `token=${good()},token=${good()},name=d3` }));
nameCase(
  'token_secret twice on Mount',
  'NAME_DUPLICATE_KEY',
  'given twice',
  () => ({ Name: 'token_secret=good/user1,name=d4,token_secret=good/user1' }),
  'VolumeDriver.Mount',
);
nameCase('name= empty', 'NAME_INVALID', 'option "name" in the volume name has an empty value', () => ({
  Name: 'token_secret=good/user1,name=',
}));
nameCase('name= empty on Remove', 'NAME_INVALID', 'empty value', () => ({ Name: 'name=,token_secret=good/user1' }), 'VolumeDriver.Remove');
nameCase('token= empty', 'NAME_INVALID', 'option "token" in the volume name has an empty value', () => ({ Name: 'token=,name=e1' }));
nameCase('no name= in an inline spec', 'NAME_INVALID', 'no name=<volume>', () => ({
  Name: 'sharedv4_svc_name=abc,token_secret=good/user1',
}));
nameCase('5,000-character bare name', 'NAME_UNSUPPORTED', 'at most 191 are accepted', () => ({
  Name: 'v'.repeat(5000),
  Opts: { token_secret: 'good/user1' },
}));
nameCase('5,000-character name=', 'NAME_UNSUPPORTED', 'at most 191 are accepted', () => ({
  Name: `token_secret=good/user1,name=${'v'.repeat(5000)}`,
}));
nameCase(
  '5,000-character bare name on Mount',
  'NAME_UNSUPPORTED',
  'at most 191',
  () => ({ Name: 'm'.repeat(5000), ID: mountId('x') }),
  'VolumeDriver.Mount',
);
nameCase('leading comma', 'NAME_INVALID', 'leading comma', () => ({ Name: ',token_secret=good/user1,name=c1' }));
nameCase('trailing comma', 'NAME_INVALID', 'trailing comma', () => ({ Name: 'token_secret=good/user1,name=c2,' }));
nameCase('two commas', 'NAME_INVALID', 'two commas in a row', () => ({ Name: 'token_secret=good/user1,,name=c3' }));
nameCase('a piece with no =', 'NAME_INVALID', 'has no "="', () => ({ Name: 'token_secret=good/user1,name=c4,junk' }));
nameCase('an empty key', 'NAME_INVALID', 'has the key ""', () => ({ Name: '=x,token_secret=good/user1,name=c5' }));
nameCase('a capitalised key', 'NAME_INVALID', 'has the key "Token_secret"', () => ({ Name: 'Token_secret=/etc/passwd,name=c6' }));
nameCase('an upper-case TOKEN key', 'NAME_INVALID', 'has the key "TOKEN"', () => ({ Name: `TOKEN=${good()},name=c7` }));
nameCase('name=my.vol (pxd would cut it at the dot)', 'NAME_UNSUPPORTED', 'contains "." (U+002E)', () => ({
  Name: 'token_secret=good/user1,name=my.vol',
}));
nameCase('name= with a Greek omicron', 'NAME_UNSUPPORTED', 'U+03BF', () => ({ Name: 'token_secret=good/user1,name=v\u03bfl' }));
nameCase('name= with a space', 'NAME_UNSUPPORTED', 'a space (U+0020)', () => ({ Name: 'token_secret=good/user1,name=a b' }));
nameCase('name= with a NUL', 'NAME_UNSUPPORTED', 'a NUL', () => ({ Name: 'token_secret=good/user1,name=a\u0000b' }), 'VolumeDriver.Mount');
nameCase('bare ../../etc', 'NAME_UNSUPPORTED', '"." (U+002E)', () => ({ Name: '../../etc', Opts: { token_secret: 'good/user1' } }));
nameCase('bare a b;$(id)', 'NAME_UNSUPPORTED', 'a space', () => ({ Name: 'a b;$(id)', Opts: { token_secret: 'good/user1' } }));
nameCase('bare name with no token on Create', 'TOKEN_MISSING', 'no token for create of volume lonely', () => ({
  Name: 'lonely',
  Opts: null,
}));
nameCase('inline spec with no token on Create', 'TOKEN_MISSING', 'no token for create of volume t1', () => ({ Name: 'repl=3,name=t1' }));
nameCase(
  'unknown bare name on Mount',
  'TOKEN_MISSING',
  'Docker sends options only on create',
  () => ({ Name: 'stranger', ID: mountId('x') }),
  'VolumeDriver.Mount',
);
nameCase(
  'Opts smuggled into a Mount',
  'TOKEN_MISSING',
  'no token for mount',
  () => ({ Name: 'smuggle', ID: mountId('x'), Opts: { token_secret: 'good/user1' } }),
  'VolumeDriver.Mount',
);
nameCase(
  'Opts token smuggled into a Remove (pxd would read it)',
  'TOKEN_MISSING',
  'no token for remove',
  () => ({ Name: 'smuggle2', Opts: { token: good() } }),
  'VolumeDriver.Remove',
);

// Bodies and the protocol
function bodyCase(
  label: string,
  code: ErrorCode,
  fragment: string | RegExp,
  raw: () => Buffer | string,
  endpoint = 'VolumeDriver.Create',
  status = 200,
): void {
  cases.push({
    name: `body ${label} (${endpoint.split('.')[1]})`,
    code,
    fragment,
    status,
    noSecretRead: true,
    req: () => ({ endpoint, raw: raw() }),
  });
}
for (const ep of ['VolumeDriver.Create', 'VolumeDriver.Mount', 'VolumeDriver.Remove'])
  bodyCase('empty', 'BODY_EMPTY', 'empty body', () => '', ep);
bodyCase('a lone newline', 'BODY_EMPTY', 'empty body', () => '\n');
bodyCase('null', 'BODY_INVALID', 'got null', () => 'null\n');
bodyCase('an array', 'BODY_INVALID', 'got an array', () => '[{"Name":"token_secret=good/user1,name=x"}]\n', 'VolumeDriver.Mount');
bodyCase('a string', 'BODY_INVALID', 'got string', () => '"token_secret=good/user1,name=x"\n');
bodyCase('a number', 'BODY_INVALID', 'got number', () => '42\n', 'VolumeDriver.Remove');
bodyCase('truncated JSON', 'BODY_NOT_JSON', 'is not JSON', () => '{"Name":"token_secret=good/user1,na');
bodyCase('JSON then garbage', 'BODY_NOT_JSON', 'is not JSON', () => '{"Name":"token_secret=good/user1,name=g1"} {"Name":"x"}');
bodyCase('a UTF-8 BOM before the JSON', 'BODY_NOT_JSON', 'is not JSON', () => '\ufeff{"Name":"token_secret=good/user1,name=b1"}');
bodyCase('invalid UTF-8 inside Name', 'BODY_NOT_JSON', 'not valid UTF-8', () =>
  Buffer.concat([Buffer.from('{"Name":"token_secret=good/user1,name=u'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
);
bodyCase(
  'a 0xFF byte',
  'BODY_NOT_JSON',
  'not valid UTF-8',
  () => Buffer.concat([Buffer.from('{"Name":"token_secret=good/user1,name=u2'), Buffer.from([0xff]), Buffer.from('"}')]),
  'VolumeDriver.Mount',
);
bodyCase('a lone surrogate escape', 'NAME_UNSUPPORTED', 'U+D800', () => '{"Name":"token_secret=good/user1,name=s\\ud800"}');
bodyCase('Name a number', 'BODY_INVALID', 'needs "Name" as a string, got number', () => '{"Name":5}');
bodyCase('Name null', 'BODY_INVALID', 'got null', () => '{"Name":null}', 'VolumeDriver.Mount');
bodyCase('Name an array', 'BODY_INVALID', 'got object', () => '{"Name":["token_secret=good/user1,name=x"]}');
bodyCase('Name an object', 'BODY_INVALID', 'got object', () => '{"Name":{"toString":"x"}}', 'VolumeDriver.Remove');
bodyCase('no Name', 'BODY_INVALID', 'needs "Name" as a string', () => '{"name":"token_secret=good/user1,name=x"}');
bodyCase('Name empty (pxd would remove the first volume)', 'BODY_INVALID', 'empty "Name"', () => '{"Name":""}', 'VolumeDriver.Remove');
bodyCase('Name 70,000 characters', 'BODY_INVALID', 'longer than 65536', () => JSON.stringify({ Name: 'n'.repeat(70_000) }));
bodyCase('Opts an array', 'OPTS_INVALID', 'not an array', () => '{"Name":"o1","Opts":["token_secret=good/user1"]}');
bodyCase('Opts a string', 'OPTS_INVALID', 'not a string', () => '{"Name":"o2","Opts":"token_secret=good/user1"}');
bodyCase(
  'Opts with a number value',
  'OPTS_INVALID',
  'must be a string, not a number',
  () => '{"Name":"o3","Opts":{"token_secret":"good/user1","size":5}}',
);
bodyCase(
  'Opts with __proto__',
  'OPTS_INVALID',
  '"__proto__" must be a string',
  () => '{"Name":"o4","Opts":{"__proto__":{"token_secret":"good/user1"}}}',
);
bodyCase('Opts with an empty key', 'OPTS_INVALID', 'empty key', () => '{"Name":"o5","Opts":{"":"x","token_secret":"good/user1"}}');
bodyCase(
  'Opts 10,000 levels deep',
  'OPTS_INVALID',
  'not an array',
  () => `{"Name":"o6","Opts":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
);
// pxd builds the mountpoint as <root>/<volume><ID>: only dockerd's 64 lowercase hex characters (or no ID, as dvdcli) pass.
const ID_RULE = 'VolumeDriver.Mount "ID" must be 64 lowercase hex characters, as dockerd sends, or absent';
bodyCase(
  'Mount ID a number',
  'BODY_INVALID',
  `${ID_RULE}; got a number`,
  () => '{"Name":"token_secret=good/user1,name=i1","ID":7}',
  'VolumeDriver.Mount',
);
bodyCase(
  'Mount ID 300 characters',
  'BODY_INVALID',
  `${ID_RULE}; got 300 characters that are not all lowercase hex`,
  () => JSON.stringify({ Name: 'token_secret=good/user1,name=i2', ID: 'i'.repeat(300) }),
  'VolumeDriver.Mount',
);
bodyCase(
  'Mount ID a path',
  'BODY_INVALID',
  `${ID_RULE}; got 12 characters`,
  () => JSON.stringify({ Name: 'token_secret=good/user1,name=i3', ID: '/../../../..' }),
  'VolumeDriver.Mount',
);
bodyCase(
  'Mount ID 64 upper-case hex',
  'BODY_INVALID',
  `${ID_RULE}; got 64 characters`,
  () => JSON.stringify({ Name: 'token_secret=good/user1,name=i4', ID: mountId('i4').toUpperCase() }),
  'VolumeDriver.Mount',
);
bodyCase(
  'Unmount ID 63 hex characters',
  'BODY_INVALID',
  '"ID" must be 64 lowercase hex characters',
  () => JSON.stringify({ Name: 'token_secret=good/user1,name=i5', ID: mountId('i5').slice(1) }),
  'VolumeDriver.Unmount',
);
bodyCase(
  '2 MB',
  'BODY_TOO_LARGE',
  'the limit is 1048576',
  () => JSON.stringify({ Name: 'token_secret=good/user1,name=big', Opts: { pad: 'p'.repeat(2 * 1024 * 1024) } }),
  'VolumeDriver.Create',
  413,
);
cases.push({
  name: 'body 2 MB chunked, no Content-Length (Create)',
  code: 'BODY_TOO_LARGE',
  fragment: 'larger than 1048576 bytes',
  status: 413,
  noSecretRead: true,
  req: () => {
    const head = 'POST /VolumeDriver.Create HTTP/1.1\r\nHost: \r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n';
    const chunk = 'x'.repeat(64 * 1024);
    const body = `${chunk.length.toString(16)}\r\n${chunk}\r\n`.repeat(32) + '0\r\n\r\n';
    return { endpoint: 'VolumeDriver.Create', request: Buffer.from(head + body) };
  },
});
function endpointCase(label: string, code: ErrorCode, fragment: string | RegExp, status: number, endpoint: string, method = 'POST'): void {
  cases.push({
    name: `protocol ${label}`,
    code,
    fragment,
    status,
    noSecretRead: true,
    req: () => ({ endpoint, method, raw: JSON.stringify({ Name: 'token_secret=good/user1,name=p1' }) }),
  });
}
endpointCase('unknown endpoint', 'ENDPOINT_UNKNOWN', 'no such plugin endpoint /VolumeDriver.Nope', 404, 'VolumeDriver.Nope');
endpointCase('endpoint in the wrong case', 'ENDPOINT_UNKNOWN', 'no such plugin endpoint', 404, 'volumedriver.create');
endpointCase(
  'endpoint with a trailing path',
  'ENDPOINT_UNKNOWN',
  'no such plugin endpoint',
  404,
  'VolumeDriver.Create/../../VolumeDriver.Remove',
);
endpointCase('endpoint with ../', 'ENDPOINT_UNKNOWN', 'no such plugin endpoint', 404, '../VolumeDriver.Create');
endpointCase('the root path', 'ENDPOINT_UNKNOWN', 'no such plugin endpoint', 404, '');
endpointCase('GET instead of POST', 'METHOD_NOT_ALLOWED', 'GET /VolumeDriver.Create', 405, 'VolumeDriver.Create', 'GET');
endpointCase('PUT instead of POST', 'METHOD_NOT_ALLOWED', 'PUT /VolumeDriver.Mount', 405, 'VolumeDriver.Mount', 'PUT');
endpointCase('DELETE instead of POST', 'METHOD_NOT_ALLOWED', 'DELETE /VolumeDriver.Remove', 405, 'VolumeDriver.Remove', 'DELETE');

// Binding policy: a tenant's secret for another tenant's volume
cases.push({
  name: 'policy tenant-a secret for a b-* volume (binding)',
  code: 'POLICY_BINDING_DENIED',
  fragment: 'secret pwx/tenant-a/tok may only be used for volumes a-*',
  req: () => ({ endpoint: 'VolumeDriver.Create', body: { Name: 'token_secret=tenant-a/tok,name=b-data' } }),
});
cases.push({
  name: 'policy tenant-a secret for a b-* volume on Mount (binding)',
  code: 'POLICY_BINDING_DENIED',
  fragment: 'may only be used for volumes a-*',
  req: () => ({ endpoint: 'VolumeDriver.Mount', body: { Name: 'token_secret=/pwx/tenant-a/tok,name=b-data', ID: mountId('z') } }),
});

// ---- the run ------------------------------------------------------------------------------------

let dir: string;
let stack: Stack;
let store: RecordingStore;
let jku: http.Server;
const allNeedles = new Set<string>();
const results: Array<{ name: string; code: string; ok: boolean }> = [];
const AUTH = new Set(['/VolumeDriver.Create', '/VolumeDriver.Mount', '/VolumeDriver.Remove']);

const authForwards = (): number => stack.pxd.requests.filter((r) => AUTH.has(r.endpoint)).length;

beforeAll(async () => {
  jku = http.createServer((_req, res) => {
    jkuHits++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [{ ...attackerJwk, kid: 'attacker', alg: 'RS256', use: 'sig' }] }));
  });
  await new Promise<void>((r) => jku.listen(0, '127.0.0.1', r));
  jkuUrl = `http://127.0.0.1:${(jku.address() as AddressInfo).port}`;

  dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-hostile-'));
  const pubFile = path.join(dir, 'issuer-rsa.pub.pem');
  writeFileSync(pubFile, issuerRsaPem);
  const yamlFile = path.join(dir, 'config.yaml');
  writeFileSync(yamlFile, ['policy:', '  bindings:', '    - secretPrefix: pwx/tenant-a', '      volumes: ["a-*"]', ''].join('\n'));
  const secretsDir = path.join(dir, 'secrets');
  mkdirSync(secretsDir, { recursive: true });
  store = new RecordingStore(new FileSecretStore(secretsDir));
  stack = await startStack({
    dir,
    flags: { jwtRsaPubkeyFile: pubFile, secretsBasePath: 'pwx', config: yamlFile },
    start: { secrets: store },
  });
  const valid = hmacJwt(HS, claims({}, 'user1'), SHARED_SECRET);
  for (const t of [valid]) needlesOf(t).forEach((n) => allNeedles.add(n));
  stack.writeSecret('pwx/good/user1', valid);
  stack.writeSecret('pwx/tenant-a/tok', hmacJwt(HS, claims({}, 'tenant-a'), SHARED_SECRET));
  // Decoys: valid tokens where only an escape from the base path could find them.
  stack.writeSecret('etc/passwd', valid);
  stack.writeSecret('etc/shadow', valid);
  stack.writeSecret('pwxevil/tok', valid);
  stack.writeSecret('pwx/bad/json', '{"token":"eyJhbGciOiJub25lIn0.e30."}');
  stack.writeSecret('pwx/bad/blank', '  \n\t ');
  writeFileSync(path.join(secretsDir, 'pwx/bad/binary'), Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]));
  mkdirSync(path.join(secretsDir, 'pwx/bad/folder'), { recursive: true });
  symlinkSync('/etc/passwd', path.join(secretsDir, 'pwx/bad/link'));
});

afterAll(async () => {
  await stack?.close();
  await new Promise<void>((r) => jku?.close(() => r()));
  if (dir) rmSync(dir, { recursive: true, force: true });
  const byCode: Record<string, number> = {};
  for (const r of results) byCode[r.code] = (byCode[r.code] ?? 0) + 1;
  writeFigures('hostile', {
    casesTried: results.length,
    casesPassed: results.filter((r) => r.ok).length,
    distinctCodes: Object.keys(byCode).length,
    byCode,
    readsOutsideBase: store?.paths.filter((p) => !p.startsWith('pwx/')).length ?? 0,
    jkuFetches: jkuHits,
  });
});

async function send(r: Req): Promise<RawResult> {
  if (r.request) return rawHttp(stack.socket, r.request);
  const raw = r.raw ?? (r.body === undefined ? '' : JSON.stringify(r.body) + '\n');
  return rawHttp(stack.socket, dockerRequest(r.endpoint, raw, { method: r.method }));
}

describe('control', () => {
  it('the stack accepts a valid token (so the refusals below mean something)', async () => {
    const r = await send({ endpoint: 'VolumeDriver.Create', body: { Name: 'token_secret=good/user1,name=control1' } });
    expect(r.json).toEqual({ Err: '' });
    const rs = await send({ endpoint: 'VolumeDriver.Create', body: { Name: 'token_secret=/pwx/tenant-a/tok,name=a-data' } });
    expect(rs.json).toEqual({ Err: '' });
    expect(stack.pxd.volumes.get('control1')?.owner).toBe('id/user1');
    expect(store.paths).toEqual(['pwx/good/user1', 'pwx/tenant-a/tok']);
  });
});

describe(`hostile input (${cases.length} cases)`, () => {
  it('has at least 60 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const req = c.req();
      for (const [p, v] of Object.entries(req.secrets ?? {})) stack.writeSecret(p, v);
      const needles = (req.tokens ?? []).flatMap(needlesOf);
      needles.forEach((n) => allNeedles.add(n));
      const forwardsBefore = authForwards();
      const requestsBefore = stack.pxd.requests.length;
      const readsBefore = store.paths.length;
      const logsBefore = stack.logs.length;
      let ok = false;
      try {
        const r = await send(req);
        expect(r.error, `transport: ${r.error}`).toBeUndefined();
        expect(r.status).toBe(c.status ?? 200);
        expect(r.json, r.text.slice(0, 300)).toBeTypeOf('object');
        expect(Object.keys(r.json)).toEqual(['Err']);
        const err = r.json.Err as string;
        expect(err.startsWith(`pxd-auth ${c.code}: `), err.slice(0, 300)).toBe(true);
        if (typeof c.fragment === 'string') expect(err).toContain(c.fragment);
        else expect(err).toMatch(c.fragment);
        // Nothing reached the backend at all (these are Create/Mount/Remove or malformed calls).
        expect(authForwards()).toBe(forwardsBefore);
        expect(stack.pxd.requests.length).toBe(requestsBefore);
        if (c.noSecretRead) expect(store.paths.slice(readsBefore)).toEqual([]);
        expect(store.paths.every((p) => p.startsWith('pwx/'))).toBe(true);
        // Still answering.
        const alive = await rawHttp(stack.socket, dockerRequest('Plugin.Activate', ''));
        expect(alive.json).toEqual({ Implements: ['VolumeDriver'] });
        // No token anywhere.
        expect(leaks(r.text, needles)).toEqual([]);
        expect(leaks(stack.logs.slice(logsBefore).join(''), needles)).toEqual([]);
        ok = true;
      } finally {
        results.push({ name: c.name, code: c.code, ok });
      }
    });
  }
});

describe('after the barrage', () => {
  it('never fetched a jku/x5u/kid URL', () => {
    expect(jkuHits).toBe(0);
  });

  it('never read a secret outside the base path, and never the decoys', () => {
    expect(store.paths.length).toBeGreaterThan(10);
    expect(store.paths.filter((p) => !p.startsWith('pwx/'))).toEqual([]);
  });

  it('no token or signature of any case appears in any log line', () => {
    expect(stack.logs.length).toBeGreaterThan(100);
    expect(leaks(stack.logs.join(''), allNeedles)).toEqual([]);
  });

  it('every refusal of an authenticated call left an audit line with its reason', () => {
    const audits = stack.logs.filter((l) => l.includes('"audit":true') && l.includes('"decision":"deny"'));
    const reasons = new Set(audits.map((l) => (JSON.parse(l) as { reason: string }).reason));
    for (const code of [
      'TOKEN_ALG_UNSUPPORTED',
      'TOKEN_SIGNATURE_INVALID',
      'TOKEN_EXPIRED',
      'SECRET_PATH_OUTSIDE_BASE',
      'POLICY_BINDING_DENIED',
      'NAME_DUPLICATE_KEY',
    ]) {
      expect(reasons).toContain(code);
    }
    // Refused by the proxy itself: none of them reached pxd.
    const refused = stack.logs
      .filter((l) => l.includes('"audit":true'))
      .map((l) => JSON.parse(l) as { decision: string; forwarded: boolean });
    expect(refused.filter((a) => a.decision !== 'allow').every((a) => a.decision === 'deny' && a.forwarded === false)).toBe(true);
  });

  it('a half-sent body (connection dropped mid-request) is survived', async () => {
    const partial = dockerRequest('VolumeDriver.Create', '{"Name":"token_secret=good/user1,name=half"}', { contentLength: 500 });
    const r = await rawHttp(stack.socket, partial, 300);
    expect(r.status).toBe(0); // no reply: the body never completed
    const alive = await rawHttp(stack.socket, dockerRequest('Plugin.Activate', ''));
    expect(alive.json).toEqual({ Implements: ['VolumeDriver'] });
    expect(stack.pxd.volumes.has('half')).toBe(false);
  });
});
