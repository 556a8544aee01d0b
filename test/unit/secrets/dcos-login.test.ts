import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../src/errors.js';
import type { LoginBody } from '../../../src/secrets/dcos/client.js';
import { SecretText, type DcosLogin } from '../../../src/secrets/dcos/config.js';
import { DcosAuth, makeLoginBody, renewalDelayMs } from '../../../src/secrets/dcos/login.js';
import type { DcosLogger } from '../../../src/secrets/dcos/log.js';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

function authToken(uid: string, expSec?: number): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(expSec === undefined ? { uid } : { uid, exp: expSec })}.sig${Math.random().toString(36).slice(2)}`;
}

function setup(opts: { lifetimeMs?: number | undefined; backoffMs?: number } = {}) {
  let now = Date.UTC(2030, 0, 1);
  const bodies: LoginBody[] = [];
  const lines: string[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push(JSON.stringify({ level, ...obj, msg }));
  const logger: DcosLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  let answer: (body: LoginBody) => Promise<string> = async (body) =>
    authToken(
      body.uid,
      'lifetimeMs' in opts && opts.lifetimeMs === undefined ? undefined : Math.floor((now + (opts.lifetimeMs ?? 5 * DAY)) / 1000),
    );
  const login: DcosLogin = { kind: 'password', uid: 'alice', password: new SecretText('pw-secret') };
  const auth = new DcosAuth({
    login,
    transport: {
      login: (body) => {
        bodies.push(body);
        return answer(body);
      },
    },
    loginUrl: 'https://dcos.example/acs/api/v1/auth/login',
    now: () => now,
    random: () => 0.5,
    logger,
    backoffMs: opts.backoffMs ?? 30_000,
    renewTimer: false,
  });
  return {
    auth,
    bodies,
    lines,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
    answer: (f: (body: LoginBody) => Promise<string>) => {
      answer = f;
    },
  };
}

describe('renewalDelayMs', () => {
  it('renews at 80 % of a long lifetime', () => {
    expect(renewalDelayMs(5 * DAY, () => 0.5)).toBe(4 * DAY);
  });
  it('renews 10 min before exp when that is sooner than 80 %', () => {
    expect(renewalDelayMs(40 * MIN, () => 0.5)).toBe(30 * MIN); // 80 % = 32 min, exp − 10 min = 30 min
  });
  it('never before half the lifetime', () => {
    expect(renewalDelayMs(10 * MIN, () => 0.5)).toBe(5 * MIN);
    expect(renewalDelayMs(60_000, () => 0.5)).toBe(30_000);
  });
  it('jitters by ±5 % of the lifetime, at most ±5 min, and stays before 90 %', () => {
    expect(renewalDelayMs(5 * DAY, () => 0)).toBe(4 * DAY - 5 * MIN);
    expect(renewalDelayMs(5 * DAY, () => 0.999999)).toBeCloseTo(4 * DAY + 5 * MIN, -2);
    expect(renewalDelayMs(60 * MIN, () => 0)).toBe(48 * MIN - 3 * MIN);
    for (let i = 0; i < 100; i++) {
      const d = renewalDelayMs(20 * MIN, Math.random);
      expect(d).toBeGreaterThanOrEqual(9 * MIN);
      expect(d).toBeLessThanOrEqual(18 * MIN);
    }
  });
});

describe('DcosAuth', () => {
  it('logs in once for many concurrent callers', async () => {
    const t = setup();
    const tokens = await Promise.all(Array.from({ length: 50 }, () => t.auth.token()));
    expect(new Set(tokens).size).toBe(1);
    expect(t.bodies).toEqual([{ uid: 'alice', password: 'pw-secret' }]);
  });

  it('reuses the token until its renewal time, then renews in the background while handing out the current one', async () => {
    const t = setup();
    const first = await t.auth.token();
    const { renewAt } = t.auth.status();
    expect(renewAt! - t.now()).toBeCloseTo(4 * DAY, -4);
    t.advance(4 * DAY - MIN);
    expect(await t.auth.token()).toBe(first);
    expect(t.bodies).toHaveLength(1);
    t.advance(2 * MIN);
    expect(await t.auth.token()).toBe(first); // still valid: no waiting
    await expect.poll(() => t.bodies.length).toBe(2);
    await expect.poll(() => t.auth.status().renewAt! > t.now()).toBe(true);
    expect(await t.auth.token()).not.toBe(first);
  });

  it('renewIfDue() renews only when due', async () => {
    const t = setup();
    await t.auth.token();
    expect(await t.auth.renewIfDue()).toBe(false);
    t.advance(4 * DAY + 1);
    expect(await t.auth.renewIfDue()).toBe(true);
    expect(t.bodies).toHaveLength(2);
    expect(t.lines.some((l) => l.includes('renewed the DC/OS auth token'))).toBe(true);
  });

  it('a failed renewal keeps the current token and tries again later, not in a loop', async () => {
    const t = setup();
    const first = await t.auth.token();
    t.answer(async () => {
      throw new ProxyError('SECRET_STORE_UNAVAILABLE', 'down');
    });
    t.advance(4 * DAY + 1);
    await t.auth.renewIfDue();
    expect(await t.auth.token()).toBe(first);
    expect(await t.auth.renewIfDue()).toBe(false); // next try 30 s later
    expect(t.bodies).toHaveLength(2);
    t.advance(30_000);
    expect(await t.auth.renewIfDue()).toBe(true);
    expect(t.bodies).toHaveLength(3);
  });

  it('logs in before handing out a token that is about to expire', async () => {
    const t = setup({ lifetimeMs: 10 * MIN });
    const first = await t.auth.token();
    t.advance(10 * MIN - 20_000); // inside the 30 s safety margin before exp
    const second = await t.auth.token();
    expect(second).not.toBe(first);
    expect(t.bodies).toHaveLength(2);
  });

  it('a token without exp is used until DC/OS refuses it (no renewal)', async () => {
    const t = setup({ lifetimeMs: undefined });
    const first = await t.auth.token();
    expect(t.auth.status().renewAt).toBeUndefined();
    t.advance(30 * DAY);
    expect(await t.auth.token()).toBe(first);
    expect(t.auth.invalidate(first)).toBe(true);
    expect(await t.auth.token()).not.toBe(first);
  });

  it('invalidate() only drops the token it was given (a later 401 for an old token changes nothing)', async () => {
    const t = setup();
    const first = await t.auth.token();
    expect(t.auth.invalidate(first)).toBe(true);
    const second = await t.auth.token();
    expect(t.auth.invalidate(first)).toBe(false);
    expect(await t.auth.token()).toBe(second);
    expect(t.bodies).toHaveLength(2);
  });

  it('refused credentials: one attempt, fail fast during the backoff, then one more attempt', async () => {
    const t = setup({ backoffMs: 30_000 });
    t.answer(async () => {
      throw new ProxyError('SECRET_STORE_LOGIN_FAILED', 'DC/OS refused the login of alice: invalid credentials (HTTP 401)', {
        uid: 'alice',
        status: 401,
      });
    });
    await expect(t.auth.token()).rejects.toMatchObject({ code: 'SECRET_STORE_LOGIN_FAILED' });
    t.advance(10_000);
    const again = t.auth.token();
    await expect(again).rejects.toMatchObject({ code: 'SECRET_STORE_LOGIN_FAILED', details: { uid: 'alice', failFast: true } });
    await expect(t.auth.token()).rejects.toThrow(/10 s ago; not trying again for 20 s/);
    expect(t.auth.status().failingUntil).toBe(t.now() + 20_000);
    expect(t.bodies).toHaveLength(1);
    t.advance(20_000);
    await expect(t.auth.token()).rejects.toMatchObject({ code: 'SECRET_STORE_LOGIN_FAILED' });
    expect(t.bodies).toHaveLength(2);
    expect(t.lines.filter((l) => l.includes('DC/OS login failed'))).toHaveLength(2);
  });

  it('a freshly issued token that DC/OS refuses is remembered like refused credentials: fail fast, then one more attempt', async () => {
    const t = setup({ backoffMs: 30_000 });
    const token = await t.auth.token();
    t.auth.refused(
      token,
      new ProxyError(
        'SECRET_STORE_LOGIN_FAILED',
        'DC/OS at https://dcos.example refused an auth token of alice right after issuing it (HTTP 401)',
        { uid: 'alice', status: 401 },
      ),
    );
    expect(t.auth.status()).toMatchObject({ loggedIn: false, failingUntil: t.now() + 30_000 });
    t.advance(5_000);
    await expect(t.auth.token()).rejects.toMatchObject({
      code: 'SECRET_STORE_LOGIN_FAILED',
      message: expect.stringMatching(/right after issuing it \(HTTP 401\) \(5 s ago; not trying again for 25 s\)$/),
      details: { uid: 'alice', status: 401, failFast: true },
    });
    expect(t.bodies).toHaveLength(1);
    expect(t.lines.filter((l) => l.includes('"level":"error"') && l.includes('refused a freshly issued auth token'))).toHaveLength(1);
    t.advance(25_000);
    await expect(t.auth.token()).resolves.not.toBe(token);
    expect(t.bodies).toHaveLength(2);
    expect(t.auth.status().failingUntil).toBeUndefined();
    expect(t.lines.join('\n')).not.toContain(token.split('.')[2]!);
  });

  it('transient failures are not remembered', async () => {
    const t = setup();
    t.answer(async () => {
      throw new ProxyError('SECRET_STORE_UNAVAILABLE', 'down');
    });
    await expect(t.auth.token()).rejects.toMatchObject({ code: 'SECRET_STORE_UNAVAILABLE' });
    await expect(t.auth.token()).rejects.toMatchObject({ code: 'SECRET_STORE_UNAVAILABLE' });
    expect(t.bodies).toHaveLength(2);
  });

  it('a waiter that gives up does not cancel the shared login', async () => {
    const t = setup();
    let release!: () => void;
    t.answer((body) => new Promise((res) => (release = () => res(authToken(body.uid, Math.floor(t.now() / 1000) + 3600)))));
    const ac = new AbortController();
    const impatient = t.auth.token(ac.signal);
    const patient = t.auth.token();
    ac.abort();
    await expect(impatient).rejects.toMatchObject({ code: 'SECRET_STORE_TIMEOUT' });
    release();
    await expect(patient).resolves.toMatch(/^ey/);
    expect(t.bodies).toHaveLength(1);
  });

  it('close() drops the token and refuses further logins', async () => {
    const t = setup();
    await t.auth.token();
    t.auth.close();
    expect(t.auth.status().loggedIn).toBe(false);
    await expect(t.auth.token()).rejects.toMatchObject({ code: 'SECRET_STORE_UNAVAILABLE' });
  });

  it('logs uid and url, never the password', async () => {
    const t = setup();
    await t.auth.token();
    expect(t.lines.join('\n')).not.toContain('pw-secret');
    expect(t.lines.some((l) => l.includes('"uid":"alice"') && l.includes('https://dcos.example'))).toBe(true);
  });
});

describe('makeLoginBody', () => {
  it('signs a service login token: RS256, claims exactly {uid, exp = now + 5 min}', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = Date.UTC(2030, 0, 1, 12, 0, 0, 500);
    const body = await makeLoginBody({ kind: 'service-account', uid: 'pwx-proxy', privateKey, source: 'key-file' }, now);
    expect(Object.keys(body).sort()).toEqual(['token', 'uid']);
    const token = (body as { token: string }).token;
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'RS256', typ: 'JWT' });
    expect(decodeJwt(token)).toEqual({ uid: 'pwx-proxy', exp: Math.floor(now / 1000) + 300 });
    await expect(jwtVerify(token, publicKey, { currentDate: new Date(now) })).resolves.toBeTruthy();
  });

  it('sends the password for a user', async () => {
    expect(await makeLoginBody({ kind: 'password', uid: 'u', password: new SecretText('p') }, 0)).toEqual({ uid: 'u', password: 'p' });
  });
});

describe('DcosLogger', () => {
  it('a pino logger fits (type check) and receives uid and url', async () => {
    const { pino } = await import('pino');
    const out: string[] = [];
    const logger: DcosLogger = pino({ level: 'debug' }, { write: (s: string) => void out.push(s) });
    const auth = new DcosAuth({
      login: { kind: 'password', uid: 'alice', password: new SecretText('pino-pw') },
      transport: { login: async () => authToken('alice', Math.floor(Date.now() / 1000) + 3600) },
      loginUrl: 'https://dcos.example/acs/api/v1/auth/login',
      logger,
      renewTimer: false,
    });
    await auth.token();
    expect(out.some((l) => JSON.parse(l).uid === 'alice' && JSON.parse(l).msg === 'logged in to DC/OS')).toBe(true);
    expect(out.join('')).not.toContain('pino-pw');
  });
});
