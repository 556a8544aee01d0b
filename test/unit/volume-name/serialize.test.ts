import { describe, it, expect } from 'vitest';
import { forwardNameForPxd, parseName, redactName, serializeOptions } from '../../../src/volume-name/index.js';
import { catchProxyError, fakeJwt } from './helpers.js';

const JWT = fakeJwt();

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

describe('forwardNameForPxd', () => {
  it('a bare name → name=<volume>,token=<jwt>', () => {
    expect(forwardNameForPxd(parseName('mnt1'), JWT)).toBe(`name=mnt1,token=${JWT}`);
  });

  it('puts name= first so pxd\'s leftmost match reads the real name', () => {
    const out = forwardNameForPxd(parseName('sharedv4_svc_name=abc,name=real'), JWT);
    expect(out.startsWith('name=real,token=')).toBe(true);
    expect(out).toBe(`name=real,token=${JWT},sharedv4_svc_name=abc`);
    // pxd's own regex now reads "real".
    expect(/name=([0-9A-Za-z_-]+)/.exec(out)?.[1]).toBe('real');
  });

  it('drops the user\'s token keys and keeps the other options in order', () => {
    const parsed = parseName('token_secret=pwx/secrets/user1-token,repl=3,token_secret_namespace=ns,name=myvol1,io_profile=db');
    expect(forwardNameForPxd(parsed, JWT)).toBe(`name=myvol1,token=${JWT},repl=3,io_profile=db`);
    const withToken = parseName(`size=5,token=${fakeJwt('other')},name=v`);
    expect(forwardNameForPxd(withToken, JWT)).toBe(`name=v,token=${JWT},size=5`);
  });

  it('merges extra Opts not already present, skipping token keys and name', () => {
    const extra = new Map([
      ['repl', '2'],
      ['size', '10'],
      ['token', 'x.y.z'],
      ['token_secret', 'a/b'],
      ['token_secret_namespace', 'ns'],
      ['name', 'other'],
      ['shared', 'true'],
    ]);
    expect(forwardNameForPxd(parseName('repl=3,name=v'), JWT, extra)).toBe(`name=v,token=${JWT},repl=3,size=10,shared=true`);
    expect(forwardNameForPxd(parseName('mnt1'), JWT, extra)).toBe(`name=mnt1,token=${JWT},repl=2,size=10,shared=true`);
  });

  it('refuses extra values with "," (cannot be expressed inline)', () => {
    const err = catchProxyError(
      () => forwardNameForPxd(parseName('mnt1'), JWT, new Map([['nodes', 'a,b']])),
      'OPTS_INVALID',
    );
    expect(err.message).toContain('"nodes"');
  });

  it('refuses extra keys pxd could not read inline', () => {
    catchProxyError(() => forwardNameForPxd(parseName('mnt1'), JWT, new Map([['Size', '1']])), 'OPTS_INVALID');
  });

  it('refuses a token that cannot travel inline, without quoting it', () => {
    const err = catchProxyError(() => forwardNameForPxd(parseName('v'), 'abc,secretpart'), 'TOKEN_MALFORMED');
    expect(err.message).not.toContain('secretpart');
    catchProxyError(() => forwardNameForPxd(parseName('v'), ''), 'TOKEN_MALFORMED');
  });

  it('refuses a volume name pxd would cut short', () => {
    catchProxyError(() => forwardNameForPxd(parseName('my.vol'), JWT), 'NAME_UNSUPPORTED');
  });

  it('round-trips through parseName', () => {
    const parsed = parseName('token_secret=a/b,repl=3,name=myvol1');
    const again = parseName(forwardNameForPxd(parsed, JWT));
    expect(again.volumeName).toBe('myvol1');
    expect(again.token).toBe(JWT);
    expect(again.tokenSecret).toBeUndefined();
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
