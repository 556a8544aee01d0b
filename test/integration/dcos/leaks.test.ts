/**
 * No secret value, password, private key or auth token in any error text or log line: run every
 * failure (and success) we can provoke, collect every message and log line, and scan them.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isProxyError } from '../../../src/errors.js';
import { createDcosSecretStore, type DcosSecretStore } from '../../../src/secrets/dcos/index.js';
import { dcosConfigFromEnv } from '../../../src/config/dcos.js';
import { startDcosDouble, type DcosDouble } from '../../doubles/dcos/server.js';
import { captureLogger, configFrom, fakeJwt, makeFixture, PASSWORD, SA, USER, type Fixture } from './helpers.js';

const VALUE_TEXT = fakeJwt({ sub: 'leaky', exp: Math.floor(Date.now() / 1000) + 3600 }, 'U0VDUkVULVNJR05BVFVSRS1sZWFr');
const VALUE_JSON = JSON.stringify({ uid: 'json-secret-uid-zz9', private_key: 'json-secret-material-qq7' });
const VALUE_BINARY = Buffer.from('binary-secret-material-xx3');
const WRONG_PASSWORD = 'wrong-Password-Also-Secret-41';

describe('no secret material in errors or logs', () => {
  let fx: Fixture;
  let dcos: DcosDouble;

  beforeAll(async () => {
    fx = makeFixture();
    dcos = await startDcosDouble({
      tls: fx.pki,
      users: { [USER]: PASSWORD },
      serviceAccounts: { [SA]: fx.sa.publicKeyPem },
      secrets: { 'pwx/text': VALUE_TEXT, 'pwx/json': VALUE_JSON, 'pwx/binary': VALUE_BINARY, 'pwx/blank': '  ' },
      grants: { [USER]: ['dcos:secrets:default:/pwx/* read'], [SA]: ['dcos:secrets:default:/pwx/text read'] },
    });
  });
  afterAll(async () => {
    await dcos.close();
    fx.cleanup();
  });

  it('scans every message and log line', async () => {
    const log = captureLogger();
    const texts: string[] = [];
    const keyFile = fx.file('sa.pem', fx.sa.pkcs1Pem);
    const credential = JSON.stringify({
      uid: SA,
      private_key: fx.sa.pkcs8Pem,
      scheme: 'RS256',
      login_endpoint: `${dcos.url}/acs/api/v1/auth/login`,
    });
    const base = { DCOS_CLUSTER_URL: dcos.url, DCOS_SECRETS_CA_CERT_FILE: fx.pki.ca.certFile };
    const envs: NodeJS.ProcessEnv[] = [
      { ...base, DCOS_SECRETS_USERNAME: USER, DCOS_SECRETS_PASSWORD: PASSWORD },
      { ...base, DCOS_SECRETS_USERNAME: USER, DCOS_SECRETS_PASSWORD: WRONG_PASSWORD },
      { ...base, DCOS_SERVICE_ACCOUNT: SA, DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile },
      { ...base, DCOS_SERVICE_ACCOUNT_CREDENTIAL: credential },
      { ...base, DCOS_SECRETS_CA_CERT_FILE: fx.pki.otherCa.certFile, DCOS_SECRETS_USERNAME: USER, DCOS_SECRETS_PASSWORD: PASSWORD },
    ];
    const collect = (e: unknown): void => {
      if (isProxyError(e)) texts.push(e.message, e.toDockerText(), JSON.stringify(e.details), inspect(e.details));
      else texts.push(String(e), inspect(e));
    };
    const exercise = async (store: DcosSecretStore): Promise<void> => {
      for (const p of ['pwx/text', 'pwx/json', 'pwx/binary', 'pwx/blank', 'pwx/missing', 'elsewhere/x']) {
        await store.read(p).catch(collect);
      }
      await store.ready();
      dcos.revokeAll();
      store.invalidate('pwx/text');
      await store.read('pwx/text').catch(collect);
      dcos.sealed = true;
      store.invalidate('pwx/text');
      await store.read('pwx/text').catch(collect);
      dcos.sealed = false;
      dcos.down = true;
      dcos.clock.advance(3_600_000);
      await store.read('pwx/text').catch(collect);
      await store.ready();
      dcos.down = false;
      dcos.status500 = true;
      store.invalidate('pwx/text');
      await store.read('pwx/text').catch(collect);
      dcos.status500 = false;
    };
    for (const [i, env] of envs.entries()) {
      // Timeouts once (they take real time), every other failure with every login mode.
      for (const flags of i === 0 ? [{}, { dcosTimeout: 0.1 }] : [{}]) {
        const config = configFrom(env, flags);
        texts.push(
          inspect(config, { depth: 10 }),
          JSON.stringify(config),
          String(config.login.kind === 'password' ? config.login.password : ''),
        );
        const store = createDcosSecretStore(config, log.logger, { now: dcos.clock.now });
        texts.push(inspect(store.auth.status()), store.description);
        if ('dcosTimeout' in flags) dcos.slowMs = 300;
        await exercise(store);
        dcos.slowMs = 0;
        await store.close();
      }
    }
    // Config problems do not echo values either.
    const bad = dcosConfigFromEnv({
      DCOS_SECRETS_USERNAME: USER,
      DCOS_SECRETS_PASSWORD: PASSWORD,
      DCOS_SERVICE_ACCOUNT_CREDENTIAL: `{"uid":"${SA}","private_key":"${PASSWORD}"`,
      DCOS_CLUSTER_URL: `https://user:${PASSWORD}@example.com`,
      PXD_AUTH_SECRET_CACHE_TTL: PASSWORD,
    });
    texts.push(...bad.problems);
    const badKey = dcosConfigFromEnv({
      DCOS_SERVICE_ACCOUNT_CREDENTIAL: JSON.stringify({ uid: SA, private_key: `${PASSWORD}\n${fx.sa.pkcs8Pem.slice(0, 200)}` }),
    });
    texts.push(...badKey.problems);
    expect(bad.problems.length).toBeGreaterThan(2);

    const haystack = [...texts, ...log.lines].join('\n');
    expect(texts.length).toBeGreaterThan(100);
    expect(log.lines.length).toBeGreaterThan(20);

    const needles: Array<[string, string]> = [
      ['password', PASSWORD],
      ['wrong password', WRONG_PASSWORD],
      ['text secret', VALUE_TEXT],
      ['text secret signature', 'U0VDUkVULVNJR05BVFVSRS1sZWFr'],
      ['json secret', 'json-secret-material-qq7'],
      ['binary secret', VALUE_BINARY.toString('utf8')],
    ];
    for (const pem of [fx.sa.pkcs8Pem, fx.sa.pkcs1Pem]) {
      for (const line of pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'))) needles.push(['private key', line]);
    }
    for (const t of dcos.issuedTokens()) needles.push(['auth token', t], ['auth token signature', t.split('.')[2]!]);
    expect(dcos.issuedTokens().length).toBeGreaterThanOrEqual(3);
    for (const [what, needle] of needles) {
      if (haystack.includes(needle)) throw new Error(`${what} leaked into an error text or log line`);
    }
  });
});
