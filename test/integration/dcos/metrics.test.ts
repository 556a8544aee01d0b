/**
 * Issue 15 §3: the secret-store gauges of /metrics move. pxd_auth_secret_store_logins,
 * pxd_auth_secret_store_login_failures and pxd_auth_cached_token_soonest_expiry_seconds used to read 0
 * whatever happened: the DC/OS store's stats() returned the cache's counters alone.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { ProxyMetrics } from '../../../src/admin/metrics.js';
import { createAdminApp } from '../../../src/admin/server.js';
import { createDcosSecretStore, type DcosSecretStore } from '../../../src/secrets/dcos/index.js';
import { startDcosDouble, type DcosDouble } from '../../doubles/dcos/server.js';
import { configFrom, fakeJwt, makeFixture, PASSWORD, USER, type Fixture } from './helpers.js';

const DAY = 24 * 3600;

describe('secret-store metrics of the DC/OS store', () => {
  let fx: Fixture;
  let dcos: DcosDouble;
  let store: DcosSecretStore;
  let metrics: ProxyMetrics;
  let nowSec: number;

  /** The value of an unlabelled gauge, as a scrape of the registry shows it. */
  async function gauge(name: string): Promise<number> {
    const text = await metrics.registry.metrics();
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    if (!m) throw new Error(`${name} not in /metrics`);
    return Number(m[1]);
  }

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
    nowSec = Math.floor(dcos.clock.now() / 1000);
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
      undefined,
      { now: dcos.clock.now, renewTimer: false },
    );
    // As src/admin/start.ts wires it.
    metrics = new ProxyMetrics({ secretStats: () => store.stats() });
  });
  afterEach(async () => {
    await store.close();
    dcos.addUser(USER, PASSWORD);
    dcos.resetCounters();
  });
  afterAll(async () => {
    await dcos.close();
    fx.cleanup();
  });

  it('pxd_auth_secret_store_logins counts the logins that got a token', async () => {
    expect(await gauge('pxd_auth_secret_store_logins')).toBe(0);
    dcos.setSecret('pwx/a', fakeJwt({ sub: 'a', exp: nowSec + 30 * DAY }));
    await store.read('pwx/a');
    expect(await gauge('pxd_auth_secret_store_logins')).toBe(1);
    // A rejected auth token: one more login.
    dcos.revokeAll();
    dcos.setSecret('pwx/b', fakeJwt({ sub: 'b', exp: nowSec + 30 * DAY }));
    await store.read('pwx/b');
    expect(await gauge('pxd_auth_secret_store_logins')).toBe(2);
    expect(await gauge('pxd_auth_secret_store_login_failures')).toBe(0);
    expect(dcos.counters.loginsOk).toBe(2);
  });

  it('pxd_auth_secret_store_login_failures counts refused logins and logins DC/OS did not answer', async () => {
    expect(await gauge('pxd_auth_secret_store_login_failures')).toBe(0);
    dcos.addUser(USER, 'not-the-password-any-more');
    dcos.setSecret('pwx/a', fakeJwt({ sub: 'a', exp: nowSec + 30 * DAY }));
    await expect(store.read('pwx/a')).rejects.toMatchObject({ code: 'SECRET_STORE_LOGIN_FAILED' });
    expect(await gauge('pxd_auth_secret_store_login_failures')).toBe(1);
    // Failing fast during the backoff is not another login.
    await expect(store.read('pwx/a')).rejects.toMatchObject({ code: 'SECRET_STORE_LOGIN_FAILED' });
    expect(await gauge('pxd_auth_secret_store_login_failures')).toBe(1);
    expect(await gauge('pxd_auth_secret_store_logins')).toBe(0);
  });

  it('pxd_auth_cached_token_soonest_expiry_seconds is the soonest exp among cached tokens (Unix s), 0 when none', async () => {
    expect(await gauge('pxd_auth_cached_token_soonest_expiry_seconds')).toBe(0);
    const later = nowSec + 30 * DAY;
    const sooner = nowSec + 2 * DAY;
    dcos.setSecret('pwx/later', fakeJwt({ sub: 'l', exp: later }));
    dcos.setSecret('pwx/sooner', fakeJwt({ sub: 's', exp: sooner }));
    dcos.setSecret('pwx/opaque', 'not-a-jwt');
    await store.read('pwx/later');
    expect(await gauge('pxd_auth_cached_token_soonest_expiry_seconds')).toBe(later);
    await store.read('pwx/opaque');
    await store.read('pwx/sooner');
    expect(await gauge('pxd_auth_cached_token_soonest_expiry_seconds')).toBe(sooner);
    // Dropped from the cache (its token failed verification): no longer counted.
    store.invalidate('pwx/sooner');
    expect(await gauge('pxd_auth_cached_token_soonest_expiry_seconds')).toBe(later);
    // Deleted in DC/OS and read again after the TTL: the cache drops it, so does the gauge.
    dcos.deleteSecret('pwx/later');
    dcos.clock.advance(61_000);
    await expect(store.read('pwx/later')).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
    expect(await gauge('pxd_auth_cached_token_soonest_expiry_seconds')).toBe(0);
    // A token past its exp is not counted.
    dcos.setSecret('pwx/short', fakeJwt({ sub: 'x', exp: Math.floor(dcos.clock.now() / 1000) + 120 }));
    await store.read('pwx/short');
    expect(await gauge('pxd_auth_cached_token_soonest_expiry_seconds')).toBeGreaterThan(0);
    dcos.clock.advance(121_000);
    expect(await gauge('pxd_auth_cached_token_soonest_expiry_seconds')).toBe(0);
  });

  it('all three are on /metrics of the admin listener', async () => {
    dcos.setSecret('pwx/a', fakeJwt({ sub: 'a', exp: nowSec + 3 * DAY }));
    await store.read('pwx/a');
    const app = createAdminApp(metrics, { listening: () => true, backend: async () => true, secrets: async () => true });
    const text = (await request(app).get('/metrics')).text;
    expect(text).toMatch(/^pxd_auth_secret_store_logins 1$/m);
    expect(text).toMatch(/^pxd_auth_secret_store_login_failures 0$/m);
    expect(text).toMatch(new RegExp(`^pxd_auth_cached_token_soonest_expiry_seconds ${nowSec + 3 * DAY}$`, 'm'));
  });
});
