/** Every Secret Store answer and transport failure maps to one code with a text written for the operator. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProxyError } from '../../../src/errors.js';
import { createDcosSecretStore, type DcosSecretStore } from '../../../src/secrets/dcos/index.js';
import { startDcosDouble, type DcosDouble } from '../../doubles/dcos/server.js';
import { captureLogger, configFrom, fakeJwt, makeFixture, PASSWORD, SA, USER, type Fixture } from './helpers.js';

const TOKEN = fakeJwt({ sub: 'user1', exp: Math.floor(Date.now() / 1000) + 3600 });

async function failure(p: Promise<unknown>): Promise<ProxyError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ProxyError);
    return e as ProxyError;
  }
  throw new Error('expected a failure');
}

describe('DC/OS Secret Store errors', () => {
  let fx: Fixture;
  let dcos: DcosDouble;
  const stores: DcosSecretStore[] = [];

  beforeAll(async () => {
    fx = makeFixture();
    dcos = await startDcosDouble({
      tls: { ...fx.pki, ca: fx.pki.ca },
      users: { [USER]: PASSWORD },
      serviceAccounts: { [SA]: fx.sa.publicKeyPem },
      secrets: {
        'pwx/secrets/user1-token': TOKEN,
        'pwx/secrets/binary': Buffer.from([0xde, 0xad, 0xbe, 0xef]),
        'pwx/secrets/credential': JSON.stringify({ uid: 'x', private_key: 'y' }),
        'pwx/secrets/blank': ' \n ',
        'pwx/secrets/with space/and%percent': 'odd-path-token',
        'other/secret': 'nope',
      },
      grants: { [USER]: ['dcos:secrets:default:/pwx/secrets/* read'], [SA]: ['dcos:secrets:default:/pwx/secrets/user1-token read'] },
    });
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    dcos.slowMs = 0;
    dcos.down = false;
    dcos.status500 = false;
    dcos.sealed = false;
    dcos.resetCounters();
  });
  afterAll(async () => {
    await dcos.close();
    fx.cleanup();
  });

  const open = (env: NodeJS.ProcessEnv = {}, flags = {}, opts = {}): DcosSecretStore => {
    const s = createDcosSecretStore(
      configFrom(
        {
          DCOS_CLUSTER_URL: dcos.url,
          DCOS_SECRETS_CA_CERT_FILE: fx.pki.ca.certFile,
          DCOS_SECRETS_USERNAME: USER,
          DCOS_SECRETS_PASSWORD: PASSWORD,
          ...env,
        },
        flags,
      ),
      undefined,
      { now: dcos.clock.now, ...opts },
    );
    stores.push(s);
    return s;
  };

  it('403 names the account and the exact permission to grant', async () => {
    const keyFile = fx.file('sa.pem', fx.sa.pkcs1Pem);
    const store = open({
      DCOS_SECRETS_USERNAME: '',
      DCOS_SECRETS_PASSWORD: '',
      DCOS_SERVICE_ACCOUNT: SA,
      DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile,
    });
    dcos.setSecret('pwx/secrets/user2-token', 'x');
    const err = await failure(store.read('pwx/secrets/user2-token'));
    expect(err.code).toBe('SECRET_FORBIDDEN');
    expect(err.message).toBe(
      'account pwx-proxy may not read secret pwx/secrets/user2-token: grant dcos:secrets:default:/pwx/secrets/user2-token read ' +
        '(e.g. dcos security org users grant pwx-proxy dcos:secrets:default:/pwx/secrets/user2-token read)',
    );
    expect(err.details.secretPath).toBe('pwx/secrets/user2-token');
    expect(dcos.counters.loginsOk).toBe(1); // a 403 is not a reason to log in again
  });

  it('404 names the path', async () => {
    const err = await failure(open().read('pwx/secrets/nobody'));
    expect(err.code).toBe('SECRET_NOT_FOUND');
    expect(err.message).toContain('no secret at pwx/secrets/nobody');
    expect(err.toDockerText()).toMatch(/^pxd-auth SECRET_NOT_FOUND: /);
  });

  it('percent-encodes each path segment', async () => {
    await expect(open().read('pwx/secrets/with space/and%percent')).resolves.toEqual({ value: 'odd-path-token' });
    expect(dcos.requests.some((r) => r.url === '/secrets/v1/secret/default/pwx/secrets/with%20space/and%25percent')).toBe(true);
  });

  it('a binary secret holding real binary data is SECRET_NOT_TEXT', async () => {
    const err = await failure(open().read('pwx/secrets/binary'));
    expect(err.code).toBe('SECRET_NOT_TEXT');
    expect(err.message).toBe(
      'secret pwx/secrets/binary is a binary secret (application/octet-stream), not a plain-text token; ' +
        'store the token as a text secret (dcos security secrets create --value=<token> pwx/secrets/binary)',
    );
  });

  it('a binary secret holding a UTF-8 token (created with -f file) is read, trimmed, like a text secret', async () => {
    dcos.setSecret('pwx/secrets/from-file', Buffer.from(`${TOKEN}\n`, 'utf8'));
    await expect(open().read('pwx/secrets/from-file')).resolves.toEqual({ value: TOKEN });
    expect(dcos.requests.some((r) => r.url === '/secrets/v1/secret/default/pwx/secrets/from-file')).toBe(true);
  });

  it.each([
    ['a JSON document', Buffer.from(JSON.stringify({ uid: 'x', private_key: 'y' })), 'SECRET_NOT_TEXT', 'holds a JSON document'],
    ['control characters', Buffer.from('tok\u0007en'), 'SECRET_NOT_TEXT', 'holds control characters'],
    ['nothing but whitespace', Buffer.from(' \n'), 'SECRET_EMPTY', 'is empty'],
    [
      'invalid UTF-8 after a text start',
      Buffer.concat([Buffer.from('eyJhbGciOi'), Buffer.from([0xc3, 0x28])]),
      'SECRET_NOT_TEXT',
      'is a binary secret',
    ],
  ] as const)('a binary secret holding %s gets the checks of a text secret', async (_what, bytes, code, text) => {
    dcos.setSecret('pwx/secrets/odd-binary', bytes);
    const err = await failure(open().read('pwx/secrets/odd-binary'));
    expect(err.code).toBe(code);
    expect(err.message).toContain(text);
  });

  it('a JSON document (e.g. a service account credential) is SECRET_NOT_TEXT', async () => {
    const err = await failure(open().read('pwx/secrets/credential'));
    expect(err.code).toBe('SECRET_NOT_TEXT');
    expect(err.message).toContain('JSON');
  });

  it('a blank secret is SECRET_EMPTY', async () => {
    expect((await failure(open().read('pwx/secrets/blank'))).code).toBe('SECRET_EMPTY');
  });

  it('5xx is SECRET_STORE_UNAVAILABLE; a sealed store says so', async () => {
    const store = open();
    dcos.status500 = true;
    const e500 = await failure(store.read('pwx/secrets/user1-token'));
    expect(e500.code).toBe('SECRET_STORE_UNAVAILABLE');
    expect(e500.message).toContain('HTTP 500');
    dcos.status500 = false;
    dcos.sealed = true;
    const e503 = await failure(store.read('pwx/secrets/user1-token'));
    expect(e503.code).toBe('SECRET_STORE_UNAVAILABLE');
    expect(e503.message).toMatch(/sealed.*HTTP 503/);
  });

  it('a slow DC/OS is SECRET_STORE_TIMEOUT after --dcos-timeout', async () => {
    const store = open({}, { dcosTimeout: '0.3' });
    dcos.slowMs = 2000;
    const t0 = Date.now();
    const err = await failure(store.read('pwx/secrets/user1-token'));
    expect(err.code).toBe('SECRET_STORE_TIMEOUT');
    expect(err.message).toContain('did not answer the login of alice within 300 ms');
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('DC/OS down is SECRET_STORE_UNAVAILABLE saying unreachable', async () => {
    const store = open();
    dcos.down = true;
    const err = await failure(store.read('pwx/secrets/user1-token'));
    expect(err.code).toBe('SECRET_STORE_UNAVAILABLE');
    expect(err.message).toContain(`DC/OS at ${dcos.url} is unreachable`);
    expect(err.message).toMatch(/failing since \S+ \(just now\)|the proxy has been trying for/);
  });

  it('a wrong CA is SECRET_STORE_TLS naming the CA file', async () => {
    const err = await failure(open({ DCOS_SECRETS_CA_CERT_FILE: fx.pki.otherCa.certFile }).read('pwx/secrets/user1-token'));
    expect(err.code).toBe('SECRET_STORE_TLS');
    expect(err.message).toContain(fx.pki.otherCa.certFile);
    expect(dcos.counters.logins).toBe(0); // nothing was sent to an unverified peer
  });

  it('no CA file means the default trust store, not "unverified"', async () => {
    const err = await failure(open({ DCOS_SECRETS_CA_CERT_FILE: '' }).read('pwx/secrets/user1-token'));
    expect(err.code).toBe('SECRET_STORE_TLS');
    expect(err.message).toContain('default trust store');
    expect(err.message).toContain('DCOS_SECRETS_CA_CERT_FILE');
  });

  it('--dcos-insecure works without a CA and logs a loud warning at start', async () => {
    const log = captureLogger();
    const s = createDcosSecretStore(
      configFrom({ DCOS_CLUSTER_URL: dcos.url, DCOS_SECRETS_USERNAME: USER, DCOS_SECRETS_PASSWORD: PASSWORD }, { dcosInsecure: true }),
      log.logger,
    );
    stores.push(s);
    expect(log.warnings().some((l) => l.includes('TLS VERIFICATION OF DC/OS IS DISABLED'))).toBe(true);
    await expect(s.read('pwx/secrets/user1-token')).resolves.toEqual({ value: TOKEN });
  });

  it('bad credentials: one login attempt, then fail fast for the backoff period, then one more attempt', async () => {
    const store = open({ DCOS_SECRETS_PASSWORD: 'wrong-password' });
    const first = await failure(store.read('pwx/secrets/user1-token'));
    expect(first.code).toBe('SECRET_STORE_LOGIN_FAILED');
    expect(first.message).toContain('refused the login of alice: invalid credentials (HTTP 401, ERR_INVALID_CREDENTIALS)');
    for (let i = 0; i < 5; i++) {
      const again = await failure(store.read(`pwx/secrets/user1-token`));
      expect(again.code).toBe('SECRET_STORE_LOGIN_FAILED');
      expect(again.message).toMatch(/not trying again for/);
    }
    expect(dcos.counters.logins).toBe(1);
    dcos.clock.advance(31_000);
    await failure(store.read('pwx/secrets/user1-token'));
    expect(dcos.counters.logins).toBe(2);
  });

  it('an unknown service account is SECRET_STORE_LOGIN_FAILED naming the uid', async () => {
    const keyFile = fx.file('sa2.pem', fx.sa.pkcs8Pem);
    const store = open({
      DCOS_SECRETS_USERNAME: '',
      DCOS_SECRETS_PASSWORD: '',
      DCOS_SERVICE_ACCOUNT: 'ghost',
      DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile,
    });
    const err = await failure(store.read('pwx/secrets/user1-token'));
    expect(err.code).toBe('SECRET_STORE_LOGIN_FAILED');
    expect(err.message).toContain('ghost');
  });

  it('a caller that gives up gets SECRET_STORE_TIMEOUT while the shared read goes on', async () => {
    const store = open();
    dcos.slowMs = 300;
    const err = await failure(store.read('pwx/secrets/user1-token', AbortSignal.timeout(50)));
    expect(err.code).toBe('SECRET_STORE_TIMEOUT');
    await expect.poll(() => store.stats().size, { timeout: 3000 }).toBe(1);
    await expect(store.read('pwx/secrets/user1-token')).resolves.toEqual({ value: TOKEN });
    expect(dcos.counters.totalSecretGets).toBe(1);
  });
});
