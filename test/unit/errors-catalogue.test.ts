/**
 * The error catalogue is the one place for each fact about a code: every entry has its summary, its
 * verdict, whether a cached secret may be served stale after it, and its fix; docs/troubleshooting.md
 * has the long form of each. The rest of the proxy derives from it.
 */
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ProxyError, asProxyError, fixFor, staleServableCodes, verdictOf, type ErrorCode } from '../../src/errors.js';
import { STALE_ON_DEFAULT } from '../../src/secrets/cache.js';
import { readRepo } from './shipping/files.js';

const CODES = Object.keys(ERROR_CODES) as ErrorCode[];
const TROUBLESHOOTING = readRepo('docs/troubleshooting.md');

/** The text of the `#### \`CODE\`` section, or undefined. */
function docsSection(code: string): string | undefined {
  const parts = TROUBLESHOOTING.split(new RegExp(`^#### \`${code}\`$`, 'm'));
  return parts.length === 2 ? parts[1]!.split(/^#{2,4} /m)[0] : undefined;
}

describe('the error catalogue', () => {
  it.each(CODES)('%s has a summary, a verdict, stale-servability, a fix and a docs section with a fix', (code) => {
    const entry = ERROR_CODES[code];
    expect(entry.summary).toMatch(/^[a-z-].{8,}[^.]$/);
    expect(['deny', 'error']).toContain(entry.verdict);
    expect(typeof entry.staleServable).toBe('boolean');
    expect(entry.fix).toMatch(/^[a-z].{8,}[^.]$/);
    const section = docsSection(code);
    expect(section, `docs/troubleshooting.md has no #### \`${code}\` section`).toBeDefined();
    expect(section).toMatch(/\*\*Fix:\*\*/);
  });

  it('serves stale only after an outage: every stale-servable code has the verdict error', () => {
    expect(CODES.filter((c) => ERROR_CODES[c].staleServable && ERROR_CODES[c].verdict !== 'error')).toEqual([]);
  });

  it('records store, backend and state outages and bugs as errors, everything else as a denial', () => {
    expect(CODES.filter((c) => verdictOf(c) === 'error')).toEqual([
      'SECRET_STORE_UNAVAILABLE',
      'SECRET_STORE_TIMEOUT',
      'SECRET_STORE_LOGIN_FAILED',
      'SECRET_STORE_TLS',
      'BACKEND_UNREACHABLE',
      'BACKEND_TIMEOUT',
      'BACKEND_BAD_REPLY',
      'STATE_WRITE_FAILED',
      'INTERNAL',
    ]);
    for (const c of CODES) expect(verdictOf(c)).toBe(ERROR_CODES[c].verdict);
  });

  it('gives the secret cache its stale-if-error list', () => {
    expect(staleServableCodes()).toEqual([
      'SECRET_STORE_UNAVAILABLE',
      'SECRET_STORE_TIMEOUT',
      'SECRET_STORE_LOGIN_FAILED',
      'SECRET_STORE_TLS',
    ]);
    expect(STALE_ON_DEFAULT).toEqual(staleServableCodes());
  });

  it('fills the placeholders of a fix, and names the missing ones', () => {
    const placeholders = new Set(CODES.flatMap((c) => [...ERROR_CODES[c].fix.matchAll(/\{(\w+)\}/g)].map((m) => m[1])));
    expect([...placeholders].sort()).toEqual(['uid', 'url']);
    expect(fixFor('SECRET_STORE_LOGIN_FAILED', { uid: 'pxd-auth-proxy' })).toBe(
      'check the credentials of pxd-auth-proxy (dcos security org service-accounts show pxd-auth-proxy; the public key registered must match the private key)',
    );
    expect(fixFor('SECRET_STORE_TIMEOUT', { url: 'https://master.mesos' })).toBe('check the network path to https://master.mesos');
    expect(fixFor('SECRET_STORE_TIMEOUT')).toBe('check the network path to <url>');
    expect(fixFor('NAME_DUPLICATE_KEY')).toBe(ERROR_CODES.NAME_DUPLICATE_KEY.fix);
  });

  it('uses the summary when a thrown value is wrapped, never its message', () => {
    const err = asProxyError(new Error('token=eyJhbGciOi.secret'), 'SECRET_STORE_UNAVAILABLE');
    expect(err.message).toBe(ERROR_CODES.SECRET_STORE_UNAVAILABLE.summary);
    expect(err.toDockerText()).toBe(`pxd-auth SECRET_STORE_UNAVAILABLE: ${ERROR_CODES.SECRET_STORE_UNAVAILABLE.summary}`);
    expect(err.details).toEqual({});
  });

  it('types the details of each code (checked by tsc)', () => {
    const build = (): ProxyError[] => [
      new ProxyError('POLICY_BINDING_DENIED', 'm', { volume: 'v1' }),
      new ProxyError('SECRET_NOT_FOUND', 'm', { secretPath: 'pwx/secrets/t', uid: 'u' }, { cause: new Error('x') }),
      new ProxyError('TOKEN_CLAIM_MISSING', 'm', { claim: 'sub' }),
      new ProxyError('BODY_EMPTY', 'm'),
      // @ts-expect-error a binding denial names its volume
      new ProxyError('POLICY_BINDING_DENIED', 'm'),
      // @ts-expect-error a secret error names its path
      new ProxyError('SECRET_FORBIDDEN', 'm', { volume: 'v1' }),
      // @ts-expect-error a claim error names its claim, as a string
      new ProxyError('TOKEN_CLAIM_INVALID', 'm', { claim: 1 }),
    ];
    const claim: string = new ProxyError('TOKEN_CLAIM_MISSING', 'm', { claim: 'iss' }).details.claim;
    expect(claim).toBe('iss');
    expect(build().map((e) => e.code)).toContain('BODY_EMPTY');
  });
});
