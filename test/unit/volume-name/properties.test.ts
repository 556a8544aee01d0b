import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ProxyError } from '../../../src/errors.js';
import {
  PXD_NAME_RE,
  assertExpressibleForPxd,
  createSpec,
  forwardedBody,
  mountSpec,
  parseName,
  parseOpts,
  redactName,
  resolveSecretPath,
  serializeOptions,
} from '../../../src/volume-name/index.js';
import { b64url } from './helpers.js';

const NUM_RUNS = 500;

/** Runs fn; passes if it returns or throws a ProxyError, fails on anything else. */
function onlyProxyErrors<T>(fn: () => T): T | ProxyError {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ProxyError) {
      // Messages are shown at a terminal: never a raw control character.
      expect(e.message).not.toMatch(/[\u0000-\u001f\u007f]/);
      return e;
    }
    throw e;
  }
}

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
/** Pieces that exercise the tokenizer and path rules. */
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
  'name',
  'name=',
  'token=',
  'token_secret=',
  'token_secret_namespace=',
  'eyJ',
  '\u0000',
  '\n',
  '\\',
  '\u2215',
  '\uff0f',
  '\u00e9',
);
const anyString = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'binary-ascii' }),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: fc.oneof(interesting, loneSurrogate) }),
  fc.string({ unit: interesting, maxLength: 60 }),
);

describe('properties: only ProxyError escapes', () => {
  it('parseName, assertExpressibleForPxd, createSpec and forwardedBody', () => {
    fc.assert(
      fc.property(anyString, (raw) => {
        const parsed = onlyProxyErrors(() => parseName(raw));
        if (parsed instanceof ProxyError) return;
        expect(parsed.raw).toBe(raw);
        if (parsed.inline) expect(parsed.volumeName).toMatch(PXD_NAME_RE);
        else expect(parsed.volumeName).toBe(raw);
        const ok = onlyProxyErrors(() => assertExpressibleForPxd(parsed));
        if (ok instanceof ProxyError) return;
        const spec = onlyProxyErrors(() => createSpec(parsed, new Map()));
        if (spec instanceof ProxyError) return;
        const checked = { volume: parsed.volumeName, token: 'eyJh.eyJw.c2ln' };
        onlyProxyErrors(() => forwardedBody('create', { ...checked, spec }));
        onlyProxyErrors(() => forwardedBody('mount', { ...checked, spec: mountSpec(parsed) }));
        onlyProxyErrors(() => forwardedBody('remove', { ...checked, spec: new Map() }));
      }),
      { numRuns: NUM_RUNS * 4 },
    );
  });

  it('parseOpts on arbitrary values and on objects of arbitrary values', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.dictionary(anyString, fc.oneof(anyString, fc.anything()))), (opts) => {
        const m = onlyProxyErrors(() => parseOpts(opts));
        if (m instanceof ProxyError) return;
        for (const [k, v] of m) {
          expect(k).not.toBe('');
          expect(typeof v).toBe('string');
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('resolveSecretPath on arbitrary strings', () => {
    fc.assert(
      fc.property(
        anyString,
        fc.option(anyString, { nil: undefined }),
        fc.option(anyString, { nil: undefined }),
        (path, namespace, basePath) => {
          onlyProxyErrors(() => resolveSecretPath({ path, namespace, basePath }));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('properties: resolveSecretPath stays inside its base', () => {
  // Mostly valid segments (so many paths resolve), with the dangerous ones mixed in.
  const segment = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('a', 'b', 'pwx', 'secrets', 'x-y', 'a.b', '...', 'ns1') },
    { weight: 1, arbitrary: fc.constantFrom('.', '..', '', '%2e%2e', 'a\u2215b', 'a\\b', 'a\u0000') },
  );
  const slashy = fc
    .tuple(fc.boolean(), fc.array(segment, { minLength: 0, maxLength: 6 }), fc.boolean())
    .map(([lead, segs, trail]) => `${lead ? '/' : ''}${segs.join('/')}${trail ? '/' : ''}`);
  const base = fc.constantFrom(undefined, '', '/', 'pwx', '/pwx', 'pwx/secrets', '/pwx/secrets/', 'a/b');

  it('never returns a path outside the base, nor empty, "." or ".." segments', () => {
    fc.assert(
      fc.property(slashy, fc.option(slashy, { nil: undefined }), base, (path, namespace, basePath) => {
        const out = onlyProxyErrors(() => resolveSecretPath({ path, namespace, basePath }));
        if (out instanceof ProxyError) {
          expect(['SECRET_PATH_INVALID', 'SECRET_PATH_OUTSIDE_BASE']).toContain(out.code);
          return;
        }
        const segs = out.split('/');
        for (const s of segs) {
          expect(s).toMatch(/^[A-Za-z0-9_.-]+$/);
          expect(s).not.toBe('.');
          expect(s).not.toBe('..');
        }
        const b = (basePath ?? '').replace(/^\//, '').replace(/\/$/, '');
        if (b !== '') expect(out.startsWith(`${b}/`)).toBe(true);
      }),
      { numRuns: NUM_RUNS * 4 },
    );
  });
});

describe('properties: round trips', () => {
  const key = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_'), minLength: 1, maxLength: 20 });
  // Any value without ',' (the separator), '=' allowed, unicode included.
  const value = fc
    .string({
      unit: fc.oneof(fc.constantFrom('=', '/', '.', '-'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
      minLength: 1,
      maxLength: 30,
    })
    .filter((v) => !v.includes(','));
  const volumeName = fc.string({ unit: fc.constantFrom(...'abcXYZ019_-'), minLength: 1, maxLength: 40 });
  const validInline = fc
    .tuple(fc.uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, maxLength: 8 }), volumeName, fc.nat())
    .map(([others, name, at]) => {
      const opts: Array<[string, string]> = others.filter(([k]) => k !== 'name');
      opts.splice(at % (opts.length + 1), 0, ['name', name]);
      return opts;
    });

  it('parseName(serializeOptions(options)) gives the same options back', () => {
    fc.assert(
      fc.property(validInline, (options) => {
        const parsed = parseName(serializeOptions(options));
        expect(parsed.inline).toBe(true);
        expect(parsed.options).toEqual(options);
        expect(parseName(serializeOptions(parsed.options)).options).toEqual(options);
        const byKey = new Map(options);
        expect(parsed.volumeName).toBe(byKey.get('name'));
        expect(parsed.token).toBe(byKey.get('token'));
        expect(parsed.tokenSecret).toBe(byKey.get('token_secret'));
        expect(parsed.tokenSecretNamespace).toBe(byKey.get('token_secret_namespace'));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('properties: redactName', () => {
  const jwt = fc
    .record({
      alg: fc.constantFrom('HS256', 'RS256', 'ES384', 'none'),
      kid: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }),
      claims: fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.integer())),
      sig: fc.uint8Array({ minLength: 16, maxLength: 96 }).map((b) => Buffer.from(b).toString('base64url')),
    })
    .map(({ alg, kid, claims, sig }) => ({
      token: `${b64url(JSON.stringify({ alg, typ: 'JWT', kid }))}.${b64url(JSON.stringify(claims))}.${sig}`,
      sig,
    }));

  it('never leaves the signature of an embedded JWT', () => {
    fc.assert(
      fc.property(
        anyString,
        jwt,
        anyString,
        fc.constantFrom('', 'token=', 'name=v,token=', ' ', '"'),
        (before, { token, sig }, after, glue) => {
          const out = redactName(`${before}${glue}${token}${after}`);
          expect(out).not.toContain(sig);
        },
      ),
      { numRuns: NUM_RUNS * 2 },
    );
  });

  it('never throws and leaves strings without tokens alone', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        const out = redactName(s);
        if (!/(?:token|secret_key|password|passphrase)=/i.test(s) && !s.includes('.')) expect(out).toBe(s);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
