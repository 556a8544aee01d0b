/** The cache in front of DC/OS: single-flight, TTL, stale-if-error bounded by max-stale and by the token's exp. */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ProxyError } from '../../../src/errors.js';
import { createDcosSecretStore, type DcosSecretStore } from '../../../src/secrets/dcos/index.js';
import { startDcosDouble, type DcosDouble } from '../../doubles/dcos/server.js';
import { captureLogger, configFrom, fakeJwt, makeFixture, PASSWORD, USER, type CapturedLogger, type Fixture } from './helpers.js';

const PATH = 'pwx/secrets/user1-token';

describe('DC/OS secret cache', () => {
  let fx: Fixture;
  let dcos: DcosDouble;
  let store: DcosSecretStore;
  let log: CapturedLogger;
  let token: string;

  beforeAll(async () => {
    fx = makeFixture();
    dcos = await startDcosDouble({
      tls: fx.pki,
      users: { [USER]: PASSWORD },
      grants: { [USER]: ['dcos:secrets:default:/pwx/* read'] },
    });
  });
  beforeEach(() => {
    dcos.clock.set(Date.now());
    token = fakeJwt({ sub: 'user1', exp: Math.floor(dcos.clock.now() / 1000) + 30 * 24 * 3600 });
    dcos.setSecret(PATH, token);
    log = captureLogger();
    store = createDcosSecretStore(
      configFrom(
        {
          DCOS_CLUSTER_URL: dcos.url,
          DCOS_SECRETS_CA_CERT_FILE: fx.pki.ca.certFile,
          DCOS_SECRETS_USERNAME: USER,
          DCOS_SECRETS_PASSWORD: PASSWORD,
        },
        { secretCacheTtl: '60', secretMaxStale: '300' },
      ),
      log.logger,
      { now: dcos.clock.now, renewTimer: false },
    );
  });
  afterEach(async () => {
    await store.close();
    dcos.down = false;
    dcos.sealed = false;
    dcos.resetCounters();
  });
  afterAll(async () => {
    await dcos.close();
    fx.cleanup();
  });

  it('100 concurrent reads of one secret: exactly 1 GET and 1 login', async () => {
    const reads = await Promise.all(Array.from({ length: 100 }, () => store.read(PATH)));
    expect(reads.every((r) => r.value === token && r.stale === undefined)).toBe(true);
    expect(dcos.counters.secretGets.get(PATH)).toBe(1);
    expect(dcos.counters.logins).toBe(1);
    expect(store.stats()).toMatchObject({ misses: 1, inflightJoins: 99, hits: 0 });
  });

  it('serves from cache within the TTL, reads again after it, and again after invalidate()', async () => {
    await store.read(PATH);
    dcos.clock.advance(59_000);
    await store.read(PATH);
    expect(dcos.counters.totalSecretGets).toBe(1);
    dcos.clock.advance(2_000);
    await store.read(PATH);
    expect(dcos.counters.totalSecretGets).toBe(2);
    store.invalidate(PATH);
    await store.read(PATH);
    expect(dcos.counters.totalSecretGets).toBe(3);
    expect(store.stats()).toMatchObject({ hits: 1, misses: 3, invalidations: 1 });
  });

  it('DC/OS down: the cached token keeps working until max-stale, then a clear error with the outage duration', async () => {
    await store.read(PATH);
    dcos.down = true;
    dcos.clock.advance(61_000); // stale now
    await expect(store.read(PATH)).resolves.toEqual({ value: token, stale: true });
    dcos.clock.advance(298_000); // 359 s after the fetch: within 60 + 300
    await expect(store.read(PATH)).resolves.toEqual({ value: token, stale: true });
    dcos.clock.advance(2_000); // 361 s
    const err = (await store.read(PATH).catch((e: unknown) => e)) as ProxyError;
    expect(err).toBeInstanceOf(ProxyError);
    expect(err.code).toBe('SECRET_STORE_UNAVAILABLE');
    expect(err.message).toContain(`DC/OS at ${dcos.url} is unreachable`);
    expect(err.message).toContain('the proxy has been trying for 5 min'); // first failure at 61 s, now 361 s
    expect(store.stats().stale).toBe(2);
    expect(log.warnings().some((l) => l.includes('DC/OS is unreachable or failing') && l.includes(dcos.url))).toBe(true);

    // Recovery is logged with the outage length.
    dcos.down = false;
    await expect(store.read(PATH)).resolves.toEqual({ value: token });
    expect(log.lines.some((l) => l.includes('DC/OS answers again after 5 min'))).toBe(true);
  });

  it('a sealed store also serves stale within max-stale', async () => {
    await store.read(PATH);
    dcos.sealed = true;
    dcos.clock.advance(120_000);
    await expect(store.read(PATH)).resolves.toEqual({ value: token, stale: true });
  });

  it('never serves a token past its own exp, even within max-stale', async () => {
    const shortLived = fakeJwt({ sub: 'user1', exp: Math.floor(dcos.clock.now() / 1000) + 90 });
    dcos.setSecret(PATH, shortLived);
    await store.read(PATH);
    dcos.down = true;
    dcos.clock.advance(61_000);
    await expect(store.read(PATH)).resolves.toEqual({ value: shortLived, stale: true });
    dcos.clock.advance(30_000); // past exp (90 s), well within 60 + 300
    await expect(store.read(PATH)).rejects.toMatchObject({ code: 'SECRET_STORE_UNAVAILABLE' });
  });

  it('a secret that is gone is gone: no stale value after a 404', async () => {
    await store.read(PATH);
    dcos.deleteSecret(PATH);
    dcos.clock.advance(61_000);
    await expect(store.read(PATH)).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
    dcos.down = true;
    await expect(store.read(PATH)).rejects.toMatchObject({ code: 'SECRET_STORE_UNAVAILABLE' });
  });

  it('ready() probes a fresh login during an outage', async () => {
    await expect(store.ready()).resolves.toBe(true);
    await store.read(PATH);
    dcos.down = true;
    await store.read(PATH); // fresh from cache: no request, outage not noticed
    dcos.clock.advance(61_000);
    await store.read(PATH); // stale: the failure is noticed
    dcos.clock.advance(10_000);
    await expect(store.ready()).resolves.toBe(false);
    dcos.down = false;
    dcos.clock.advance(10_000);
    await expect(store.ready()).resolves.toBe(true);
  });
});
