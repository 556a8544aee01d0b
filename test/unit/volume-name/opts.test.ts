import { describe, it, expect } from 'vitest';
import { parseOpts } from '../../../src/volume-name/index.js';
import { catchProxyError } from './helpers.js';

describe('parseOpts', () => {
  it.each([null, undefined])('%j → empty map', (opts) => {
    expect(parseOpts(opts).size).toBe(0);
  });

  it('keeps string options in order', () => {
    const m = parseOpts({ size: '10', repl: '3', token_secret: 'pwx/secrets/user1-token', Weird: 'x,y' });
    expect([...m]).toEqual([
      ['size', '10'],
      ['repl', '3'],
      ['token_secret', 'pwx/secrets/user1-token'],
      ['Weird', 'x,y'],
    ]);
  });

  it('treats a JSON "__proto__" key as a plain key', () => {
    const m = parseOpts(JSON.parse('{"__proto__":"x","a":"b"}'));
    expect(m.get('__proto__')).toBe('x');
    expect(m.get('a')).toBe('b');
  });

  it.each([
    { opts: 'size=3', includes: 'not a string' },
    { opts: 3, includes: 'not a number' },
    { opts: true, includes: 'not a boolean' },
    { opts: ['size=3'], includes: 'not an array' },
  ])('refuses Opts $opts', ({ opts, includes }) => {
    const err = catchProxyError(() => parseOpts(opts), 'OPTS_INVALID');
    expect(err.message).toContain(includes);
  });

  it.each([
    { opts: { size: 3 }, includes: ['"size"', 'a number'] },
    { opts: { size: null }, includes: ['"size"', 'null'] },
    { opts: { repl: ['3'] }, includes: ['"repl"', 'an array'] },
    { opts: { shared: { a: 'b' } }, includes: ['"shared"', 'an object'] },
    { opts: { '': 'x' }, includes: ['empty key'] },
  ])('refuses option values $opts', ({ opts, includes }) => {
    const err = catchProxyError(() => parseOpts(opts), 'OPTS_INVALID');
    for (const s of includes) expect(err.message).toContain(s);
  });

  it('limits the token length without quoting the token', () => {
    const token = 'b'.repeat(16385);
    const err = catchProxyError(() => parseOpts({ token }), 'TOKEN_TOO_LARGE');
    expect(err.message).not.toContain('bbbbbbbb');
    expect(parseOpts({ token: 'b'.repeat(16384) }).get('token')).toHaveLength(16384);
    catchProxyError(() => parseOpts({ token: 'abc' }, { maxTokenLength: 2 }), 'TOKEN_TOO_LARGE');
  });

  it('turns an exotic object that throws into OPTS_INVALID', () => {
    const evil = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('boom');
        },
      },
    );
    catchProxyError(() => parseOpts(evil), 'OPTS_INVALID');
  });
});
