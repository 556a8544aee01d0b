import { describe, it, expect } from 'vitest';
import { redactName, serializeOptions } from '../../../src/volume-name/index.js';
import { catchProxyError, fakeJwt } from './helpers.js';

describe('serializeOptions', () => {
  it('writes k=v,k=v', () => {
    expect(
      serializeOptions([
        ['name', 'v'],
        ['repl', '3'],
        ['mount_options', 'a=b'],
      ]),
    ).toBe('name=v,repl=3,mount_options=a=b');
    expect(serializeOptions([])).toBe('');
  });

  it('refuses a "," in a value, naming the key', () => {
    const err = catchProxyError(() => serializeOptions([['labels', 'a,b']]), 'OPTS_INVALID');
    expect(err.message).toContain('"labels"');
    expect(err.message).not.toContain('a,b');
  });

  it.each(['Size', 'a=b', 'a,b', ''])('refuses the key %j', (key) => {
    catchProxyError(() => serializeOptions([[key, 'x']]), 'OPTS_INVALID');
  });
});

describe('redactName', () => {
  const sig = 'SuperSecretSignatureValue0123456789abcdef';
  const jwt = fakeJwt(sig);
  it.each([
    { raw: `name=v,token=${jwt}`, out: 'name=v,token=***' },
    { raw: `token=${jwt},name=v,repl=3`, out: 'token=***,name=v,repl=3' },
    { raw: `name=v,token=opaque-not-a-jwt,repl=3`, out: 'name=v,token=***,repl=3' },
    { raw: `name=v,TOKEN=${jwt}`, out: 'name=v,TOKEN=***' },
    { raw: `Bearer ${jwt}`, out: 'Bearer ***' },
    { raw: `{"Name":"x${jwt}"}`, out: '{"Name":"x***"}' },
    { raw: `name=v,mount_options=${jwt}`, out: 'name=v,mount_options=***' },
    { raw: 'token_secret=pwx/secrets/user1-token,repl=3,name=myvol1', out: 'token_secret=pwx/secrets/user1-token,repl=3,name=myvol1' },
    { raw: 'name=my.vol,token_secret=a/b.c.d', out: 'name=my.vol,token_secret=a/b.c.d' },
    { raw: 'keyJar.v2', out: 'keyJar.v2' },
    { raw: '', out: '' },
  ])('$raw → $out', ({ raw, out }) => {
    expect(redactName(raw)).toBe(out);
  });

  it('redacts JWT-shaped strings without an eyJ header', () => {
    const generic = 'QUFBQUFBQUFBQUFBQUFBQUFB.QkJCQkJCQkJCQkJCQkJCQkJC.c2lnc2lnc2ln';
    expect(redactName(`x ${generic} y`)).toBe('x *** y');
  });

  it('never throws, even on odd input', () => {
    expect(redactName('\ud800\u0000eyJ.')).toBe('\ud800\u0000eyJ.');
    expect(redactName(undefined as unknown as string)).toBe('undefined');
    expect(redactName('eyJ'.repeat(100000) + '.')).toBe('***');
  });
});
