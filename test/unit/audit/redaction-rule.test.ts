/**
 * One redaction rule everywhere (issue 12, section 7): the logs' scrubber, error texts, volume names
 * (state file, List, messages) hide the same things. These use the names other code imports
 * (`scrub`, `scrubDeep`, `redactName`, `quote`, ProxyError's Docker text), so they also hold for
 * whichever module implements the rule.
 */
import { describe, expect, it } from 'vitest';
import { scrub, scrubDeep } from '../../../src/audit/scrub.js';
import { redactName } from '../../../src/volume-name/index.js';
import { quote } from '../../../src/volume-name/serialize.js';
import { ProxyError } from '../../../src/errors.js';

const PASS = 'hunter2passphrase';
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJpZC91c2VyMSJ9.JS4B6EvWsq3r6mu2B9cicE3uaMdIgxZcgf_4dY598l0';
const SIG = JWT.split('.')[2]!;

/** Every way the proxy renders text: they must agree, character for character. */
const renderers: Array<[string, (s: string) => string]> = [
  ['scrub', scrub],
  ['redactName', redactName],
  ['scrubDeep', (s) => scrubDeep(s) as string],
  ['toDockerText', (s) => new ProxyError('INTERNAL', s).toDockerText().slice('pxd-auth INTERNAL: '.length)],
];

const cases: Array<[string, string]> = [
  [`name=enc1,secret_key=${PASS}`, 'name=enc1,secret_key=***'],
  [`token_secret=pwx/secrets/user1-token,secret_key=${PASS},name=enc1`, 'token_secret=pwx/secrets/user1-token,secret_key=***,name=enc1'],
  // pxd reads every key with an unanchored regex: `xsecret_key=` and a value holding `secret_key=` give it the passphrase.
  [`xsecret_key=${PASS},name=v`, 'xsecret_key=***,name=v'],
  [`name=v,mount_options=secret_key=${PASS}`, 'name=v,mount_options=secret_key=***'],
  [`name=v,my_token=${PASS}`, 'name=v,my_token=***'],
  // The whole value pxd would read ([0-9A-Za-z_@./#&+-]+ for secret_key), not only up to `&` or `;`.
  [`name=v,secret_key=a&b#c@d/e.f+g-h;${PASS}`, 'name=v,secret_key=***'],
  [`name=v,SECRET_KEY=${PASS}`, 'name=v,SECRET_KEY=***'],
  // A value ends at `,` only: a space, a quote or `;` can be part of a passphrase sent in Opts.
  [`name=v,password=${PASS} and more`, 'name=v,password=***'],
  [`name=v,secret_key=pass "word;${PASS}",size=1G`, 'name=v,secret_key=***,size=1G'],
  [`error: secret_key=${PASS} is wrong, retry`, 'error: secret_key=***, retry'],
  [`name=v,passphrase=${PASS}`, 'name=v,passphrase=***'],
  [`token=${JWT},name=vol1`, 'token=***,name=vol1'],
  [`rpc error for ${JWT} here`, 'rpc error for *** here'],
  ['token=abc.def.ghi,name=v', 'token=***,name=v'],
  // Secret *paths* are not secret.
  [
    'token_secret=pwx/secrets/user1-token,token_secret_namespace=team-a,name=v',
    'token_secret=pwx/secrets/user1-token,token_secret_namespace=team-a,name=v',
  ],
  ['name=vol1,size=1G', 'name=vol1,size=1G'],
  ['portworx.com', 'portworx.com'],
];

describe('one redaction rule', () => {
  it.each(renderers)('%s hides secret_key, token, JWTs the same way, and nothing else', (_n, render) => {
    for (const [raw, out] of cases) expect(render(raw), raw).toBe(out);
    const clean = [
      'mnt1',
      'name=v1,size=10G,repl=3',
      'token_secret=a/b,name=v',
      'name=my-vol_2,io_profile=db',
      'secretary=x,name=v',
      'tokens=3,name=v',
    ];
    for (const n of clean) expect(render(n)).toBe(n);
    for (const glue of ['', 'token=', 'name=v,token=', 'xtoken=', ' ', '"', 'secret_key='])
      expect(render(`a${glue}${JWT}b`)).not.toContain(SIG);
  });

  it('quote never shows a passphrase', () => {
    expect(quote(`name=v,secret_key=${PASS}`)).toBe('"name=v,secret_key=***"');
    expect(quote(`xsecret_key=${PASS}`)).not.toContain(PASS);
  });

  it('censors secret field names at any depth, whatever they hold', () => {
    const out = scrubDeep({
      Opts: { secret_key: PASS, size: '1G' },
      nested: { passphrase: PASS, secretKey: PASS, 'x-auth-token': PASS, accessToken: PASS, Authorization: 'Basic dXNlcjpwYXNz' },
      tokenSource: 'name-secret',
      secretPath: 'pwx/secrets/a',
      tokenSecret: 'pwx/secrets/a',
    }) as Record<string, Record<string, unknown>>;
    expect(JSON.stringify(out)).not.toMatch(new RegExp(`${PASS}|dXNlcjpwYXNz`));
    expect(out.Opts).toEqual({ secret_key: '***', size: '1G' });
    expect(out.tokenSource).toBe('name-secret');
    expect(out.secretPath).toBe('pwx/secrets/a');
    expect(out.tokenSecret).toBe('pwx/secrets/a');
  });

  it('is linear: no quadratic regex over attacker-sized text', () => {
    // 'eyJ' runs with no dot made the former scrubber's JWT regex rescan to the end from every 'eyJ' (seconds).
    const big = 'eyJ'.repeat(50_000) + ' x.y';
    const many = `${'secret_key'.repeat(20_000)}=${'token='.repeat(20_000)}`;
    for (const [name, render] of renderers) {
      const t0 = performance.now();
      render(big);
      render(many);
      render('eyJ'.repeat(50_000) + '.');
      expect(performance.now() - t0, name).toBeLessThan(1_000);
    }
  });

  it('never throws', () => {
    for (const [, render] of renderers) {
      expect(() => render('\ud800\u0000eyJ.secret_key=\ud800')).not.toThrow();
      expect(() => render(undefined as unknown as string)).not.toThrow();
    }
    expect(
      scrub({
        toString: () => {
          throw new Error('x');
        },
      } as unknown as string),
    ).toBe('***');
  });
});
