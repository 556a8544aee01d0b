/**
 * Property-based fuzzing over the real socket (the unit properties in test/unit/volume-name cover the
 * parser in-process; these send the same kind of input through the whole proxy):
 *  - names and bodies: the proxy never crashes or hangs, every reply is JSON with a string Err or a
 *    success shape, nothing unvalidated reaches the backend as Create/Mount/Remove, and no path
 *    outside the base path is ever read (the store is wrapped to record every read);
 *  - valid inline names: serialize(parse(x)) round-trips, Get echoes x, and the Name pxd receives is
 *    `name=<vol>,token=<jwt>` followed by the user's other options in the user's order.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENDPOINTS } from '../../src/plugin/protocol.js';
import { FileSecretStore } from '../../src/secrets/file.js';
import { PXD_NAME_RE, parseName, serializeOptions } from '../../src/volume-name/index.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { SHARED_SECRET } from '../helpers/tokens.js';
import { dockerRequest, hmacJwt, leaks, needlesOf, nowSec, rawHttp, RecordingStore, writeFigures, type RawResult } from './helpers.js';
import { userClaims } from '../helpers/tokens.js';

const RUNS = { names: 400, bodies: 400, roundTrip: 150 };
const PASS_THROUGH = new Set([
  'VolumeDriver.Get',
  'VolumeDriver.Path',
  'VolumeDriver.Unmount',
  'VolumeDriver.List',
  'VolumeDriver.Capabilities',
]);
const AUTH = new Set(['/VolumeDriver.Create', '/VolumeDriver.Mount', '/VolumeDriver.Remove']);

let dir: string;
let stack: Stack;
let store: RecordingStore;
let validToken: string;
let forgedToken: string;
let checkedForwards = 0;
let forwardedOk = 0;
const counts = { names: 0, bodies: 0, roundTrips: 0, replies: 0 };

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-fuzz-'));
  mkdirSync(path.join(dir, 'secrets'), { recursive: true });
  store = new RecordingStore(new FileSecretStore(path.join(dir, 'secrets')));
  stack = await startStack({ dir, flags: { secretsBasePath: 'pwx', logLevel: 'info' }, start: { secrets: store } });
  validToken = hmacJwt({ alg: 'HS256' }, { ...userClaims('fuzzer'), iat: nowSec(), exp: nowSec() + 3600 }, SHARED_SECRET);
  forgedToken = hmacJwt(
    { alg: 'HS256' },
    { ...userClaims('fuzzer', ['system.admin']), iat: nowSec(), exp: nowSec() + 3600 },
    'not-the-real-secret-0123456789',
  );
  stack.writeSecret('pwx/good/user1', validToken);
  stack.writeSecret('pwx/forged/user1', forgedToken);
  // Decoys a path escape would find.
  stack.writeSecret('etc/passwd', validToken);
  stack.writeSecret('good/user1', validToken);
});

afterAll(async () => {
  await stack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  writeFigures('fuzz', {
    nameRuns: counts.names,
    bodyRuns: counts.bodies,
    roundTripRuns: counts.roundTrips,
    replies: counts.replies,
    authenticatedForwardsChecked: checkedForwards,
    forwardsWithValidatedToken: forwardedOk,
    secretReads: store?.paths.length ?? 0,
    readsOutsideBase: store?.paths.filter((p) => !p.startsWith('pwx/')).length ?? 0,
  });
});

/** Every Create/Mount/Remove the backend received since `from` carries a validated name and the valid token. */
function checkForwards(from: number): void {
  for (const r of stack.pxd.requests.slice(from)) {
    if (!AUTH.has(r.endpoint)) continue;
    checkedForwards++;
    const body = r.parsed as { Name?: unknown; Opts?: Record<string, unknown> | null };
    expect(typeof body?.Name).toBe('string');
    const name = body.Name as string;
    const inline = /^name=([0-9A-Za-z_-]{1,191}),token=([^,]+)(,|$)/.exec(name);
    if (inline) {
      expect(inline[2]).toBe(validToken);
      // After the token, at most the passphrase a Mount needs: nothing else pxd could read.
      const rest = name.slice(inline[0].length);
      expect(rest).toMatch(/^(secret_key=[0-9A-Za-z_@./#&+-]+)?$/);
    } else {
      // A bare name (Create with -o): the name pxd reads whole, the token in Opts.
      expect(r.endpoint).toBe('/VolumeDriver.Create');
      expect(name).toMatch(PXD_NAME_RE);
      expect(name.length).toBeLessThanOrEqual(191);
      expect(body.Opts?.token).toBe(validToken);
      expect(body.Opts).not.toHaveProperty('token_secret');
    }
    forwardedOk++;
  }
}

function checkReply(endpoint: string, r: RawResult, sentText: string): void {
  counts.replies++;
  expect(r.error, `transport ${r.error}`).toBeUndefined();
  expect([200, 404, 405, 413]).toContain(r.status);
  expect(r.json, r.text.slice(0, 200)).toBeTypeOf('object');
  expect(r.json).not.toBeNull();
  const j = r.json as Record<string, unknown>;
  if ('Err' in j) expect(typeof j.Err).toBe('string');
  const err = (j.Err as string | undefined) ?? '';
  if (r.status !== 200 || err !== '') {
    // Refusals are ours (pxd-auth CODE: ...) except pass-through calls, which relay the backend's (scrubbed) Err.
    if (!PASS_THROUGH.has(endpoint) || r.status !== 200) expect(err).toMatch(/^pxd-auth [A-Z_]+: /);
    return;
  }
  switch (endpoint) {
    case 'Plugin.Activate':
      expect(j).toEqual({ Implements: ['VolumeDriver'] });
      break;
    case 'VolumeDriver.Capabilities':
      expect(['global', 'local']).toContain((j.Capabilities as { Scope: string }).Scope);
      break;
    case 'VolumeDriver.List':
      expect(Array.isArray(j.Volumes)).toBe(true);
      break;
    case 'VolumeDriver.Get':
      expect(typeof (j.Volume as { Name: unknown }).Name).toBe('string');
      break;
    case 'VolumeDriver.Mount':
    case 'VolumeDriver.Path': {
      const mp = j.Mountpoint as string;
      expect(typeof mp).toBe('string');
      if (endpoint === 'VolumeDriver.Mount' || mp !== '') expect(mp.startsWith(`${stack.mountsRoot}/`)).toBe(true);
      break;
    }
    default:
      expect(j).toEqual({ Err: '' });
  }
  // A token the request did not carry never comes back.
  if (!sentText.includes(validToken)) expect(leaks(r.text, needlesOf(validToken))).toEqual([]);
}

const interesting = fc.constantFrom(
  '=',
  ',',
  '/',
  '.',
  '-',
  '_',
  'a',
  'Z',
  '9',
  ' ',
  '%2e',
  '..',
  '//',
  '\\',
  'name=',
  'token=',
  'token_secret=',
  'token_secret_namespace=',
  'good/user1',
  '/etc/passwd',
  'forged/user1',
  '\u0000',
  '\n',
  '\u2215',
  '\uff0f',
  '\u00e9',
  '\ud800',
  'eyJ',
);
const fuzzString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: interesting, maxLength: 40 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 80 }),
);
/** Near-valid inline specs: mostly good keys and values, with hostile ones mixed in. */
const piece = fc.tuple(
  fc.constantFrom(
    'name',
    'name',
    'token',
    'token_secret',
    'token_secret',
    'token_secret_namespace',
    'repl',
    'size',
    'sharedv4_svc_name',
    'Name',
    'lbl1',
    '',
  ),
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('v1', 'vol_2', 'good/user1', '/pwx/good/user1', 'forged/user1', '3', '2G', 'good') },
    { weight: 1, arbitrary: fc.constantFrom('VALID', 'FORGED') },
    { weight: 2, arbitrary: fuzzString },
  ),
);
const nameArb = fc.oneof(
  fuzzString,
  fc.array(piece, { minLength: 1, maxLength: 5 }).map((ps) => ps.map(([k, v]) => `${k}=${v}`).join(',')),
  fc
    .tuple(
      fc.array(piece, { maxLength: 3 }),
      fc.constantFrom('good/user1', '/pwx/good/user1', 'forged/user1', '../etc/passwd'),
      fc.stringMatching(/^[a-z0-9_-]{1,12}$/),
    )
    .map(([ps, secret, vol]) => [...ps.map(([k, v]) => `${k}=${v}`), `token_secret=${secret}`, `name=${vol}`].join(',')),
);
const withTokens = (s: string): string => s.replace(/VALID/g, validToken).replace(/FORGED/g, forgedToken);
const optsArb = fc.oneof(
  fc.constant(null),
  fc.constant({ token_secret: 'good/user1' }),
  fc.record(
    {
      token_secret: fc.oneof(fuzzString, fc.constantFrom('good/user1', '/etc/passwd', '../good/user1')),
      size: fc.constantFrom('1G', '2G'),
    },
    { requiredKeys: [] },
  ),
  fc.dictionary(fuzzString, fc.oneof(fuzzString, fc.jsonValue()), { maxKeys: 4 }),
  fc.jsonValue(),
);

describe('fuzzing over the socket', () => {
  it('names: precise Err or a success shape, only validated forwards, no reads outside the base', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          'VolumeDriver.Create',
          'VolumeDriver.Create',
          'VolumeDriver.Mount',
          'VolumeDriver.Remove',
          'VolumeDriver.Get',
          'VolumeDriver.Path',
          'VolumeDriver.Unmount',
        ),
        nameArb,
        optsArb,
        fc.option(fc.oneof(fc.stringMatching(/^[0-9a-f]{1,64}$/), fuzzString), { nil: undefined }),
        async (endpoint, rawName, opts, id) => {
          counts.names++;
          const Name = withTokens(rawName);
          const body: Record<string, unknown> = { Name };
          if (endpoint === 'VolumeDriver.Create') body.Opts = opts;
          if (id !== undefined) body.ID = id;
          const text = JSON.stringify(body) + '\n';
          const before = stack.pxd.requests.length;
          const r = await rawHttp(stack.socket, dockerRequest(endpoint, text), 5_000);
          checkReply(endpoint, r, text);
          checkForwards(before);
          expect(store.paths.filter((p) => !p.startsWith('pwx/'))).toEqual([]);
        },
      ),
      { numRuns: RUNS.names },
    );
    expect(forwardedOk).toBeGreaterThan(0);
  });

  it('bodies: arbitrary bytes and JSON to any endpoint never crash, hang or forward unvalidated', async () => {
    const bodyArb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.json({ maxDepth: 4 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc
        .record({ Name: fc.oneof(nameArb, fc.jsonValue()), Opts: optsArb, ID: fc.oneof(fuzzString, fc.jsonValue()) }, { requiredKeys: [] })
        .map((o) => withTokens(JSON.stringify(o))),
    );
    const endpointArb = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...ENDPOINTS) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'VolumeDriver.Nope',
          'Plugin.Deactivate',
          '',
          'VolumeDriver.Create/x',
          'volumedriver.mount',
          '%2e%2e/VolumeDriver.Create',
        ),
      },
    );
    await fc.assert(
      fc.asyncProperty(endpointArb, bodyArb, fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT'), async (endpoint, b, method) => {
        counts.bodies++;
        const before = stack.pxd.requests.length;
        const r = await rawHttp(stack.socket, dockerRequest(endpoint, b, { method }), 5_000);
        checkReply(method === 'POST' ? endpoint : 'none', r, Buffer.isBuffer(b) ? b.toString('latin1') : b);
        checkForwards(before);
      }),
      { numRuns: RUNS.bodies },
    );
    expect(store.paths.filter((p) => !p.startsWith('pwx/'))).toEqual([]);
    const alive = await rawHttp(stack.socket, dockerRequest('Plugin.Activate', ''));
    expect(alive.json).toEqual({ Implements: ['VolumeDriver'] });
  });

  it('valid inline names round-trip: serialize(parse(x)) = x, Get echoes x, pxd gets a plain name and the options in Opts', async () => {
    // Label keys ending in a digit after "lbl": no pxd key regex (size=, fs=, repl=, ...) can match inside them.
    const key = fc.stringMatching(/^lbl[0-9]{1,3}$/);
    const value = fc.stringMatching(/^[A-Za-z0-9_.+/-]{1,16}$/);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, maxLength: 6 }),
        fc.nat(),
        fc.nat(),
        fc.constantFrom('good/user1', '/pwx/good/user1'),
        async (others, atName, atSecret, secretRef) => {
          counts.roundTrips++;
          const vol = `rt${++n}_${Date.now().toString(36)}`;
          const opts: Array<[string, string]> = [...others];
          opts.splice(atSecret % (opts.length + 1), 0, ['token_secret', secretRef]);
          opts.splice(atName % (opts.length + 1), 0, ['name', vol]);
          const x = opts.map(([k, v]) => `${k}=${v}`).join(',');
          const parsed = parseName(x);
          expect(serializeOptions(parsed.options)).toBe(x);
          expect(parsed.volumeName).toBe(vol);

          const before = stack.pxd.requests.length;
          const c = await rawHttp(stack.socket, dockerRequest('VolumeDriver.Create', JSON.stringify({ Name: x, Opts: null }) + '\n'));
          expect(c.json).toEqual({ Err: '' });
          const sent = stack.pxd.requests.slice(before).find((r) => r.endpoint === '/VolumeDriver.Create')!.parsed as {
            Name: string;
            Opts: Record<string, string>;
          };
          // A plain name, and the options with the token in Opts: an exact map, where pxd cannot find one key inside another.
          expect(sent).toEqual({ Name: vol, Opts: { ...Object.fromEntries(others), token: validToken } });

          const g = await rawHttp(stack.socket, dockerRequest('VolumeDriver.Get', JSON.stringify({ Name: x }) + '\n'));
          expect(g.json.Err).toBe('');
          expect(g.json.Volume.Name).toBe(x);

          const id = 'a'.repeat(64);
          const m = await rawHttp(stack.socket, dockerRequest('VolumeDriver.Mount', JSON.stringify({ Name: x, ID: id }) + '\n'));
          expect(m.json).toEqual({ Mountpoint: `${stack.mountsRoot}/${vol}${id}`, Err: '' });
          checkForwards(before);
        },
      ),
      { numRuns: RUNS.roundTrip },
    );
  });

  it('no valid or forged token ever reached a log line', () => {
    expect(leaks(stack.logs.join(''), [...needlesOf(validToken), ...needlesOf(forgedToken)])).toEqual([]);
  });
});
