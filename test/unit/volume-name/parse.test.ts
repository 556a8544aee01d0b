import { describe, it, expect } from 'vitest';
import { assertExpressibleForPxd, parseName, type ParsedName } from '../../../src/volume-name/index.js';
import type { ErrorCode } from '../../../src/errors.js';
import { catchProxyError, fakeJwt } from './helpers.js';

describe('parseName: bare names', () => {
  it.each(['mnt1', 'my-vol_2', 'my.vol', '../../etc', '/etc', 'a b;$(id)', '', 'a,b', 'x'.repeat(5000)])(
    '%j is a bare name, accepted verbatim',
    (raw) => {
      expect(parseName(raw)).toEqual({ raw, inline: false, volumeName: raw, options: [] });
    },
  );
});

describe('parseName: inline specs', () => {
  const cases: Array<{ raw: string; volumeName: string; options: Array<[string, string]>; extra?: Partial<ParsedName> }> = [
    {
      raw: 'token_secret=pwx/secrets/user1-token,repl=3,name=myvol1',
      volumeName: 'myvol1',
      options: [
        ['token_secret', 'pwx/secrets/user1-token'],
        ['repl', '3'],
        ['name', 'myvol1'],
      ],
      extra: { tokenSecret: 'pwx/secrets/user1-token' },
    },
    {
      raw: 'name=v,token_secret=a/b.c',
      volumeName: 'v',
      options: [
        ['name', 'v'],
        ['token_secret', 'a/b.c'],
      ],
      extra: { tokenSecret: 'a/b.c' },
    },
    {
      raw: 'sharedv4_svc_name=abc,name=real',
      volumeName: 'real',
      options: [
        ['sharedv4_svc_name', 'abc'],
        ['name', 'real'],
      ],
    },
    {
      raw: 'name=v,token_secret=tok,token_secret_namespace=ns1',
      volumeName: 'v',
      options: [
        ['name', 'v'],
        ['token_secret', 'tok'],
        ['token_secret_namespace', 'ns1'],
      ],
      extra: { tokenSecret: 'tok', tokenSecretNamespace: 'ns1' },
    },
    {
      // Values are split at the FIRST '=': padding and nested '=' stay in the value.
      raw: 'name=v,mount_options=a=b,secret_key=abc==',
      volumeName: 'v',
      options: [
        ['name', 'v'],
        ['mount_options', 'a=b'],
        ['secret_key', 'abc=='],
      ],
    },
  ];
  it.each(cases)('$raw', ({ raw, volumeName, options, extra }) => {
    const parsed = parseName(raw);
    expect(parsed).toEqual({ raw, inline: true, volumeName, options, ...extra });
  });

  it('keeps an inline token verbatim (including "=")', () => {
    const jwt = `${fakeJwt()}==`;
    const parsed = parseName(`name=v,token=${jwt}`);
    expect(parsed.token).toBe(jwt);
    expect(parsed.options).toEqual([
      ['name', 'v'],
      ['token', jwt],
    ]);
  });

  it('accepts a 5000-character name= (the length is checked for pxd separately)', () => {
    const long = 'a'.repeat(5000);
    expect(parseName(`name=${long}`).volumeName).toBe(long);
  });
});

describe('parseName: malformed inline specs', () => {
  const jwt = fakeJwt();
  const cases: Array<{ raw: string; code: ErrorCode; includes: string[] }> = [
    { raw: 'a=b,,name=d', code: 'NAME_INVALID', includes: ['option 2 of 3', 'two commas in a row'] },
    { raw: ',name=d', code: 'NAME_INVALID', includes: ['option 1 of 2', 'leading comma'] },
    { raw: 'name=d,', code: 'NAME_INVALID', includes: ['option 2 of 2', 'trailing comma'] },
    { raw: 'name=d,repl', code: 'NAME_INVALID', includes: ['option 2 of 2', 'after "name"', 'no "="'] },
    { raw: 'name=d,Size=3', code: 'NAME_INVALID', includes: ['"Size"', 'lowercase'] },
    { raw: 'name=d, repl=3', code: 'NAME_INVALID', includes: ['" repl"'] },
    { raw: 'name=d,=3', code: 'NAME_INVALID', includes: ['key ""'] },
    { raw: 'name=d,token-secret=x', code: 'NAME_INVALID', includes: ['"token-secret"'] },
    { raw: 'name=', code: 'NAME_INVALID', includes: ['"name"', 'empty value'] },
    { raw: 'repl=3,name=', code: 'NAME_INVALID', includes: ['"name"', 'empty value'] },
    { raw: 'name=a,token_secret=', code: 'NAME_INVALID', includes: ['"token_secret"', 'empty value'] },
    {
      raw: 'token_secret=a,name=v,token_secret=b',
      code: 'NAME_DUPLICATE_KEY',
      includes: ['option "token_secret" is given twice in the volume name'],
    },
    { raw: 'name=a,name=b', code: 'NAME_DUPLICATE_KEY', includes: ['"name"'] },
    { raw: `name=a,token=${jwt},token=${jwt}`, code: 'NAME_DUPLICATE_KEY', includes: ['"token"'] },
    { raw: 'token_secret=pwx/x,repl=3', code: 'NAME_INVALID', includes: ['no name=<volume>', 'add name=<volume>'] },
    { raw: `token=${jwt}`, code: 'NAME_INVALID', includes: ['no name=<volume>'] },
    { raw: 'name=my.vol', code: 'NAME_UNSUPPORTED', includes: ['"." (U+002E)', 'position 3', '[0-9A-Za-z_-]', '"my"'] },
    { raw: 'name=.vol', code: 'NAME_UNSUPPORTED', includes: ['find no volume name'] },
    { raw: 'name=a b', code: 'NAME_UNSUPPORTED', includes: ['a space (U+0020)'] },
    { raw: 'name=a\nb', code: 'NAME_UNSUPPORTED', includes: ['a newline (U+000A)'] },
    { raw: 'name=caf\u00e9', code: 'NAME_UNSUPPORTED', includes: ['U+00E9'] },
  ];
  it.each(cases)('$raw → $code', ({ raw, code, includes }) => {
    const err = catchProxyError(() => parseName(raw), code);
    for (const s of includes) expect(err.message).toContain(s);
    expect(err.message).not.toContain('\n');
  });

  it('never puts a token in an error message', () => {
    const sig = 'SuperSecretSignatureValue0123456789abcdef';
    const jwt = fakeJwt(sig);
    const raws = [
      `token=${jwt}`,
      `name=a,token=${jwt},token=${jwt}`,
      `name=a,${jwt}`,
      `name=a,${jwt}=x`,
      `name=${jwt}`,
      `name=a,token=${jwt},,`,
      `name=a,token=${jwt}.x`.replace('name=a', 'name=a.b'),
    ];
    for (const raw of raws) {
      let message = '';
      try {
        parseName(raw);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message, raw).not.toBe('');
      expect(message).not.toContain(sig);
    }
  });

  it('refuses a token longer than maxTokenLength without quoting it', () => {
    const token = 'a'.repeat(100);
    const err = catchProxyError(() => parseName(`name=v,token=${token}`, { maxTokenLength: 99 }), 'TOKEN_TOO_LARGE');
    expect(err.message).not.toContain(token);
    expect(err.message).toContain('99');
    expect(() => parseName(`name=v,token=${token}`, { maxTokenLength: 100 })).not.toThrow();
    catchProxyError(() => parseName(`name=v,token=${'a'.repeat(16385)}`), 'TOKEN_TOO_LARGE');
    expect(parseName(`name=v,token=${'a'.repeat(16384)}`).token).toHaveLength(16384);
  });

  it('throws a ProxyError for a non-string input', () => {
    catchProxyError(() => parseName(42 as unknown as string), 'NAME_INVALID');
  });
});

describe('assertExpressibleForPxd', () => {
  it.each(['mnt1', 'my-vol_2', 'A', 'x'.repeat(191)])('accepts %j', (name) => {
    expect(() => assertExpressibleForPxd(parseName(name))).not.toThrow();
    expect(() => assertExpressibleForPxd(parseName(`repl=2,name=${name}`))).not.toThrow();
  });

  const refused: Array<{ name: string; includes: string[] }> = [
    { name: '', includes: ['empty'] },
    { name: 'my.vol', includes: ['"." (U+002E)', 'name=<volume>,token=', '[0-9A-Za-z_-]'] },
    { name: '../../etc', includes: ['"." (U+002E)', 'position 1'] },
    { name: '/etc', includes: ['"/" (U+002F)'] },
    { name: 'a b;$(id)', includes: ['a space (U+0020)'] },
    { name: 'a\u0000b', includes: ['a NUL (U+0000)'] },
    { name: 'a,b', includes: ['"," (U+002C)'] },
    { name: 'x'.repeat(192), includes: ['192 characters', 'at most 191'] },
    { name: 'x'.repeat(5000), includes: ['5000 characters'] },
  ];
  it.each(refused)('refuses bare name $name', ({ name, includes }) => {
    const err = catchProxyError(() => assertExpressibleForPxd(parseName(name)), 'NAME_UNSUPPORTED');
    for (const s of includes) expect(err.message).toContain(s);
    expect(err.message.length).toBeLessThan(400);
    expect(err.message).not.toMatch(/[\u0000-\u001f]/);
  });

  it('checks the length of an inline name=', () => {
    catchProxyError(() => assertExpressibleForPxd(parseName(`name=${'a'.repeat(5000)}`)), 'NAME_UNSUPPORTED');
  });

  it('honours maxNameLength', () => {
    expect(() => assertExpressibleForPxd(parseName('abcd'), { maxNameLength: 4 })).not.toThrow();
    catchProxyError(() => assertExpressibleForPxd(parseName('abcde'), { maxNameLength: 4 }), 'NAME_UNSUPPORTED');
  });

  it('does not leak a JWT used as a bare name', () => {
    const sig = 'SuperSecretSignatureValue0123456789abcdef';
    const err = catchProxyError(() => assertExpressibleForPxd(parseName(fakeJwt(sig))), 'NAME_UNSUPPORTED');
    expect(err.message).not.toContain(sig);
    expect(JSON.stringify(err.details)).not.toContain(sig);
  });
});
