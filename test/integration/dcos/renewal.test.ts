/** Auth token lifecycle against the double: proactive renewal before exp, re-login after a 401 (clock moved, never waited). */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDcosSecretStore, type DcosSecretStore } from '../../../src/secrets/dcos/index.js';
import { startDcosDouble, type DcosDouble } from '../../doubles/dcos/server.js';
import { captureLogger, configFrom, fakeJwt, makeFixture, SA, type CapturedLogger, type Fixture } from './helpers.js';

const DAY = 24 * 3600_000;
const PATH = 'pwx/secrets/user1-token';
const TOKEN = fakeJwt({ sub: 'user1', exp: Math.floor(Date.now() / 1000) + 365 * 24 * 3600 });

describe('DC/OS auth token renewal', () => {
  let fx: Fixture;
  let dcos: DcosDouble;
  let store: DcosSecretStore;
  let log: CapturedLogger;

  beforeAll(async () => {
    fx = makeFixture();
    dcos = await startDcosDouble({
      tls: fx.pki,
      serviceAccounts: { [SA]: fx.sa.publicKeyPem },
      grants: { [SA]: ['dcos:secrets:default:/pwx/* read'] },
    });
    for (let i = 0; i < 20; i++)
      dcos.setSecret(`pwx/many/s${i}`, fakeJwt({ sub: `u${i}`, exp: Math.floor(Date.now() / 1000) + 365 * 24 * 3600 }));
    dcos.setSecret(PATH, TOKEN);
  });
  beforeEach(() => {
    dcos.clock.set(Date.now());
    dcos.authTokenLifetimeSec = 5 * 24 * 3600;
    log = captureLogger();
    const keyFile = fx.file('sa.pem', fx.sa.pkcs8Pem);
    store = createDcosSecretStore(
      configFrom({
        DCOS_CLUSTER_URL: dcos.url,
        DCOS_SECRETS_CA_CERT_FILE: fx.pki.ca.certFile,
        DCOS_SERVICE_ACCOUNT: SA,
        DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile,
      }),
      log.logger,
      { now: dcos.clock.now, random: () => 0.5, renewTimer: false },
    );
  });
  afterEach(async () => {
    await store.close();
    dcos.resetCounters();
  });
  afterAll(async () => {
    await dcos.close();
    fx.cleanup();
  });

  it('plans the renewal at 80 % of a 5-day lifetime and renews there, before exp', async () => {
    const t0 = dcos.clock.now();
    await store.read(PATH);
    const { expiresAt, renewAt } = store.auth.status();
    expect(expiresAt).toBe(Math.floor(t0 / 1000) * 1000 + 5 * DAY);
    expect(renewAt! - t0).toBeCloseTo(0.8 * (expiresAt! - t0), 0); // random 0.5: no jitter

    dcos.clock.set(renewAt! - 1000);
    expect(await store.auth.renewIfDue()).toBe(false);
    expect(dcos.counters.loginsOk).toBe(1);

    dcos.clock.set(renewAt! + 1000);
    expect(await store.auth.renewIfDue()).toBe(true);
    expect(dcos.counters.loginsOk).toBe(2);
    expect(store.auth.status().expiresAt).toBeGreaterThan(expiresAt!);
    expect(log.lines.some((l) => l.includes('renewed the DC/OS auth token') && l.includes(SA))).toBe(true);

    // The new token works without another login.
    store.invalidate(PATH);
    await expect(store.read(PATH)).resolves.toEqual({ value: TOKEN });
    expect(dcos.counters.loginsOk).toBe(2);
    expect(dcos.counters.unauthorized).toBe(0);
  });

  it('renews in the background when a read finds the token due, while still using it', async () => {
    await store.read(PATH);
    const { renewAt } = store.auth.status();
    dcos.clock.set(renewAt! + 1);
    store.invalidate(PATH);
    await expect(store.read(PATH)).resolves.toEqual({ value: TOKEN });
    await expect.poll(() => dcos.counters.loginsOk).toBe(2);
    expect(dcos.counters.unauthorized).toBe(0);
  });

  it('logs in again before the GET once the token is (about to be) expired, instead of collecting a 401', async () => {
    dcos.authTokenLifetimeSec = 600;
    await store.read(PATH);
    dcos.clock.advance(600_000 - 10_000); // 10 s before exp: inside the safety margin
    store.invalidate(PATH);
    await expect(store.read(PATH)).resolves.toEqual({ value: TOKEN });
    expect(dcos.counters.loginsOk).toBe(2);
    expect(dcos.counters.unauthorized).toBe(0);
  });

  it('plans a short-lived token no later than exp − 10 min, and not before half its lifetime', async () => {
    dcos.authTokenLifetimeSec = 3600;
    const t0 = dcos.clock.now();
    await store.read(PATH);
    const { renewAt } = store.auth.status();
    expect(renewAt! - t0).toBeGreaterThanOrEqual(30 * 60_000 - 1000);
    expect(renewAt! - t0).toBeLessThanOrEqual(50 * 60_000);
  });

  it('after a 401 logs in once more and retries the call once', async () => {
    await store.read(PATH);
    dcos.revokeAll();
    store.invalidate(PATH);
    await expect(store.read(PATH)).resolves.toEqual({ value: TOKEN });
    expect(dcos.counters.loginsOk).toBe(2);
    expect(dcos.counters.unauthorized).toBe(1);
    expect(dcos.counters.secretGets.get(PATH)).toBe(3);
    expect(log.lines.some((l) => l.includes('rejected the auth token (401)'))).toBe(true);
  });

  it('20 reads of different secrets all answered 401 cause exactly one new login', async () => {
    await store.read(PATH);
    dcos.revokeAll();
    const reads = await Promise.all(Array.from({ length: 20 }, (_, i) => store.read(`pwx/many/s${i}`)));
    expect(reads.every((r) => r.value.length > 0)).toBe(true);
    expect(dcos.counters.loginsOk).toBe(2);
    // Reads that start after the new login already use the new token.
    expect(dcos.counters.unauthorized).toBeGreaterThanOrEqual(1);
    expect(dcos.counters.unauthorized).toBeLessThanOrEqual(20);
  });

  it('a token refused again right after a fresh login fails with SECRET_STORE_LOGIN_FAILED (no loop)', async () => {
    await store.read(PATH);
    // The double issues tokens that are already expired by its clock (as with skewed clocks).
    dcos.authTokenLifetimeSec = -60;
    dcos.revokeAll();
    store.invalidate(PATH);
    await expect(store.read(PATH)).rejects.toMatchObject({
      code: 'SECRET_STORE_LOGIN_FAILED',
      message: expect.stringContaining('refused a freshly issued auth token of pwx-proxy'),
    });
    expect(dcos.counters.secretGets.get(PATH)).toBe(3);
    expect(dcos.counters.loginsOk).toBe(2);
  });

  it('after such a refusal, reads fail fast for the login backoff instead of two logins each', async () => {
    await store.read(PATH);
    dcos.authTokenLifetimeSec = -60;
    dcos.revokeAll();
    store.invalidate(PATH);
    await expect(store.read(PATH)).rejects.toMatchObject({ code: 'SECRET_STORE_LOGIN_FAILED' });
    expect(log.lines.some((l) => l.includes('"level":"error"') && l.includes('refused a freshly issued auth token'))).toBe(true);
    dcos.resetCounters();
    for (let i = 0; i < 10; i++) {
      await expect(store.read(`pwx/many/s${i}`)).rejects.toMatchObject({
        code: 'SECRET_STORE_LOGIN_FAILED',
        message: expect.stringMatching(/refused an auth token of pwx-proxy right after issuing it \(HTTP 401\).*not trying again for/),
        details: { failFast: true },
      });
    }
    expect(dcos.counters.logins).toBe(0);
    expect(dcos.counters.totalSecretGets).toBe(0);
    await expect(store.ready()).resolves.toBe(false);
    expect(store.auth.status().failingUntil).toBeGreaterThan(dcos.clock.now());

    // After the backoff: one more attempt (re-login and retry included), then fail fast again.
    dcos.clock.advance(31_000);
    await expect(store.read(PATH)).rejects.toMatchObject({ code: 'SECRET_STORE_LOGIN_FAILED' });
    await expect(store.read(PATH)).rejects.toMatchObject({ details: { failFast: true } });
    expect(dcos.counters.logins).toBe(2);
    expect(dcos.counters.totalSecretGets).toBe(2);

    // Once DC/OS issues tokens it accepts, the next attempt after the backoff works.
    dcos.authTokenLifetimeSec = 5 * 24 * 3600;
    dcos.clock.advance(31_000);
    await expect(store.read(PATH)).resolves.toEqual({ value: TOKEN });
  });
});
