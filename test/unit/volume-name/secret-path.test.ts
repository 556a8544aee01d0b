import { describe, it, expect } from 'vitest';
import { resolveSecretPath, type SecretPathInput } from '../../../src/volume-name/index.js';
import type { ErrorCode } from '../../../src/errors.js';
import { catchProxyError } from './helpers.js';

describe('resolveSecretPath: accepted', () => {
  const cases: Array<{ input: SecretPathInput; out: string }> = [
    { input: { path: 'pwx/secrets/user1-token' }, out: 'pwx/secrets/user1-token' },
    { input: { path: 'a/b.c' }, out: 'a/b.c' },
    { input: { path: '/pwx/secrets/user1_token/' }, out: 'pwx/secrets/user1_token' },
    { input: { path: '/pwx/secrets/user1_token' }, out: 'pwx/secrets/user1_token' },
    { input: { path: 'tok/' }, out: 'tok' },
    { input: { path: '...' }, out: '...' },
    { input: { path: '.hidden/x' }, out: '.hidden/x' },
    // namespace joining, as pxd does (ns/path)
    { input: { path: 'tok', namespace: 'ns1' }, out: 'ns1/tok' },
    { input: { path: 'tok/', namespace: '/ns1/' }, out: 'ns1/tok' },
    { input: { path: 'a/tok', namespace: 'ns1/sub' }, out: 'ns1/sub/a/tok' },
    // base path: joined once, never twice
    { input: { path: 'user1-token', basePath: 'pwx/secrets' }, out: 'pwx/secrets/user1-token' },
    { input: { path: 'pwx/secrets/user1-token', basePath: 'pwx/secrets' }, out: 'pwx/secrets/user1-token' },
    { input: { path: 'pwx/secrets/user1-token', basePath: '/pwx/secrets/' }, out: 'pwx/secrets/user1-token' },
    { input: { path: 'pwx/secretsX/t', basePath: 'pwx/secrets' }, out: 'pwx/secrets/pwx/secretsX/t' },
    { input: { path: 'pwx', basePath: 'pwx' }, out: 'pwx/pwx' },
    { input: { path: 'tok', namespace: 'ns1', basePath: 'pwx' }, out: 'pwx/ns1/tok' },
    { input: { path: 'tok', namespace: 'pwx', basePath: 'pwx' }, out: 'pwx/tok' },
    // absolute under the base
    { input: { path: '/pwx/secrets/user1-token', basePath: 'pwx/secrets' }, out: 'pwx/secrets/user1-token' },
    { input: { path: '/pwx/secrets/a/b/', basePath: '/pwx' }, out: 'pwx/secrets/a/b' },
    // no base: "" and "/" mean the whole store
    { input: { path: '/etc/passwd', basePath: '' }, out: 'etc/passwd' },
    { input: { path: '/etc/passwd', basePath: '/' }, out: 'etc/passwd' },
    { input: { path: 'x'.repeat(1024) }, out: 'x'.repeat(1024) },
  ];
  it.each(cases)('$input → $out', ({ input, out }) => {
    expect(resolveSecretPath(input)).toBe(out);
  });
});

describe('resolveSecretPath: refused', () => {
  const cases: Array<{ input: SecretPathInput; code: ErrorCode; includes: string[] }> = [
    { input: { path: '' }, code: 'SECRET_PATH_INVALID', includes: ['empty'] },
    { input: { path: '/' }, code: 'SECRET_PATH_INVALID', includes: ['empty'] },
    { input: { path: '//' }, code: 'SECRET_PATH_INVALID', includes: ['empty'] },
    { input: { path: '//pwx/x' }, code: 'SECRET_PATH_INVALID', includes: ['empty segment', 'segment 1'] },
    { input: { path: 'pwx//x' }, code: 'SECRET_PATH_INVALID', includes: ['empty segment', 'segment 2'] },
    { input: { path: 'pwx/x//' }, code: 'SECRET_PATH_INVALID', includes: ['empty segment'] },
    { input: { path: '../etc/passwd' }, code: 'SECRET_PATH_INVALID', includes: ['".." segment'] },
    { input: { path: 'pwx/secrets/../../etc' }, code: 'SECRET_PATH_INVALID', includes: ['".." segment', 'segment 3'] },
    { input: { path: 'pwx/./x' }, code: 'SECRET_PATH_INVALID', includes: ['"." segment'] },
    { input: { path: 'pwx/%2e%2e/x' }, code: 'SECRET_PATH_INVALID', includes: ['"%" (U+0025)'] },
    { input: { path: 'pwx/x\u0000y' }, code: 'SECRET_PATH_INVALID', includes: ['a NUL (U+0000)'] },
    { input: { path: 'pwx/x\ny' }, code: 'SECRET_PATH_INVALID', includes: ['a newline (U+000A)'] },
    { input: { path: 'pwx\u2215..\u2215etc' }, code: 'SECRET_PATH_INVALID', includes: ['U+2215'] },
    { input: { path: 'pwx\uff0fetc' }, code: 'SECRET_PATH_INVALID', includes: ['U+FF0F'] },
    { input: { path: 'pwx\\..\\etc' }, code: 'SECRET_PATH_INVALID', includes: ['"\\" (U+005C)'] },
    { input: { path: 'my secret' }, code: 'SECRET_PATH_INVALID', includes: ['a space (U+0020)'] },
    { input: { path: 'x'.repeat(1025) }, code: 'SECRET_PATH_INVALID', includes: ['1025 characters'] },
    { input: { path: 'x'.repeat(1000), basePath: 'y'.repeat(100) }, code: 'SECRET_PATH_INVALID', includes: ['resolved'] },
    { input: { path: 'tok', namespace: '' }, code: 'SECRET_PATH_INVALID', includes: ['token_secret_namespace is empty'] },
    { input: { path: 'tok', namespace: '..' }, code: 'SECRET_PATH_INVALID', includes: ['token_secret_namespace', '".."'] },
    { input: { path: 'tok', namespace: 'a/../..' }, code: 'SECRET_PATH_INVALID', includes: ['".."'] },
    {
      input: { path: '/pwx/tok', namespace: 'ns1' },
      code: 'SECRET_PATH_INVALID',
      includes: ['token_secret_namespace cannot be combined with an absolute token_secret'],
    },
    { input: { path: 'tok', basePath: 'pwx/../x' }, code: 'SECRET_PATH_INVALID', includes: ['base path'] },
    {
      input: { path: '/etc/passwd', basePath: 'pwx/secrets' },
      code: 'SECRET_PATH_OUTSIDE_BASE',
      includes: ['"/etc/passwd"', '"/pwx/secrets"'],
    },
    { input: { path: '/pwx/secretsX/t', basePath: 'pwx/secrets' }, code: 'SECRET_PATH_OUTSIDE_BASE', includes: ['/pwx/secretsX/t'] },
    { input: { path: '/pwx/secrets', basePath: 'pwx/secrets' }, code: 'SECRET_PATH_OUTSIDE_BASE', includes: [] },
    { input: { path: '/pwx/', basePath: 'pwx/secrets' }, code: 'SECRET_PATH_OUTSIDE_BASE', includes: [] },
  ];
  it.each(cases)('$input → $code', ({ input, code, includes }) => {
    const err = catchProxyError(() => resolveSecretPath(input), code);
    for (const s of includes) expect(err.message).toContain(s);
    // Control characters are described, never printed.
    expect(err.message).not.toMatch(/[\u0000-\u001f\u2215\uff0f]/);
  });

  it('names the resolved path in the details of SECRET_PATH_OUTSIDE_BASE', () => {
    const err = catchProxyError(() => resolveSecretPath({ path: '/etc/passwd', basePath: 'pwx' }), 'SECRET_PATH_OUTSIDE_BASE');
    expect(err.details.secretPath).toBe('etc/passwd');
  });
});

describe('resolveSecretPath: a token given where a path belongs', () => {
  // pxd reads `-o token_secret=<jwt>` as the token itself, so users put tokens here.
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJpZC91c2VyMSJ9.c2lnbmF0dXJlLXBhcnQ';
  it.each([
    { path: jwt },
    { path: `pwx/secrets/${jwt}` },
    { path: `${jwt}=` }, // a character the path checks would otherwise quote
    { path: 'tok', namespace: jwt },
  ])('is refused without being quoted: %#', (input) => {
    const e = catchProxyError(() => resolveSecretPath(input), 'SECRET_PATH_INVALID');
    expect(e.message).toMatch(/holds a token \(a JWT\), not a secret path/);
    expect(e.message).not.toContain('eyJ');
  });
});
