import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { createDcosSecretStore, type DcosSecretStore } from '../../../src/secrets/dcos/index.js';
import { startDcosDouble, type DcosDouble } from '../../doubles/dcos/server.js';
import { captureLogger, configFrom, fakeJwt, makeFixture, PASSWORD, SA, USER, type Fixture } from './helpers.js';

const TOKEN = fakeJwt({ sub: 'user1', exp: Math.floor(Date.now() / 1000) + 3600 });

describe('DC/OS login', () => {
  let fx: Fixture;
  let dcos: DcosDouble;
  let store: DcosSecretStore | undefined;

  beforeAll(async () => {
    fx = makeFixture();
    dcos = await startDcosDouble({
      tls: fx.pki,
      users: { [USER]: PASSWORD },
      serviceAccounts: { [SA]: fx.sa.publicKeyPem },
      secrets: { 'pwx/secrets/user1-token': `${TOKEN}\n` },
      grants: { [USER]: ['dcos:secrets:default:/pwx/secrets/* read'], [SA]: ['dcos:secrets:default:/pwx/secrets/user1-token full'] },
    });
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    dcos.resetCounters();
  });
  afterAll(async () => {
    await dcos.close();
    fx.cleanup();
  });

  const base = () => ({ DCOS_CLUSTER_URL: dcos.url, DCOS_SECRETS_CA_CERT_FILE: fx.pki.ca.certFile });

  it('logs in as a user with a password and reads a trimmed secret, sending Authorization: token=', async () => {
    const log = captureLogger();
    store = createDcosSecretStore(configFrom({ ...base(), DCOS_SECRETS_USERNAME: USER, DCOS_SECRETS_PASSWORD: PASSWORD }), log.logger);
    expect(store.description).toBe(`dcos ${dcos.url} as ${USER}`);
    await expect(store.read('pwx/secrets/user1-token')).resolves.toEqual({ value: TOKEN });
    expect(dcos.counters.loginsOk).toBe(1);
    expect(dcos.requests.filter((r) => r.url.startsWith('/secrets/')).map((r) => r.authScheme)).toEqual(['token']);
    expect(log.lines.some((l) => l.includes('logged in to DC/OS') && l.includes(USER) && l.includes(dcos.url))).toBe(true);
  });

  it('reads the password from DCOS_SECRETS_PASSWORD_FILE', async () => {
    const pw = fx.file('password', `${PASSWORD}\n`);
    store = createDcosSecretStore(configFrom({ ...base(), DCOS_SECRETS_USERNAME: USER, DCOS_SECRETS_PASSWORD_FILE: pw }));
    await expect(store.read('pwx/secrets/user1-token')).resolves.toEqual({ value: TOKEN });
  });

  it.each([
    ['PKCS#8', 'pkcs8Pem'],
    ['PKCS#1', 'pkcs1Pem'],
  ] as const)('logs in as a service account with a %s key file', async (_label, form) => {
    const keyFile = fx.file(`sa-${form}.pem`, fx.sa[form]);
    store = createDcosSecretStore(configFrom({ ...base(), DCOS_SERVICE_ACCOUNT: SA, DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile }));
    await expect(store.read('pwx/secrets/user1-token')).resolves.toEqual({ value: TOKEN });
    expect(dcos.counters.loginsOk).toBe(1);
    // The auth token DC/OS issued is {uid, exp} only; the proxy read its exp and planned a renewal.
    const [authToken] = dcos.issuedTokens().slice(-1);
    expect(Object.keys(decodeJwt(authToken!)).sort()).toEqual(['exp', 'uid']);
    expect(decodeProtectedHeader(authToken!).alg).toBe('RS256');
    const st = store.auth.status();
    expect(st.expiresAt).toBe(decodeJwt(authToken!).exp! * 1000);
    expect(st.renewAt).toBeLessThan(st.expiresAt!);
  });

  it('logs in with the credential JSON from DCOS_SERVICE_ACCOUNT_CREDENTIAL', async () => {
    const credential = JSON.stringify({
      login_endpoint: `${dcos.url}/acs/api/v1/auth/login`,
      private_key: fx.sa.pkcs8Pem,
      scheme: 'RS256',
      uid: SA,
    });
    store = createDcosSecretStore(configFrom({ ...base(), DCOS_SERVICE_ACCOUNT_CREDENTIAL: credential }));
    expect(store.config.loginUrl).toBe(`${dcos.url}/acs/api/v1/auth/login`);
    await expect(store.read('pwx/secrets/user1-token')).resolves.toEqual({ value: TOKEN });
    expect(dcos.counters.loginsOk).toBe(1);
  });

  it("logs in through an explicitly set cluster URL, not the credential's login_endpoint host, and says so", async () => {
    const log = captureLogger();
    // What DC/OS injects: a host only resolvable inside the cluster.
    const credential = JSON.stringify({
      login_endpoint: 'https://leader.mesos/acs/api/v1/auth/login',
      private_key: fx.sa.pkcs8Pem,
      scheme: 'RS256',
      uid: SA,
    });
    store = createDcosSecretStore(configFrom({ ...base(), DCOS_SERVICE_ACCOUNT_CREDENTIAL: credential }), log.logger);
    await expect(store.read('pwx/secrets/user1-token')).resolves.toEqual({ value: TOKEN });
    expect(dcos.counters.loginsOk).toBe(1);
    const line = log.lines.find((l) => l.includes("not the credential's login_endpoint"));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({
      level: 'info',
      loginUrl: `${dcos.url}/acs/api/v1/auth/login`,
      credentialLoginEndpoint: 'https://leader.mesos/acs/api/v1/auth/login',
    });
    expect(log.lines.join('\n')).not.toContain(fx.sa.pkcs8Pem.split('\n')[1]!);
  });

  it("upgrades a permissive-mode credential's http:// login_endpoint to https:// with a warning, verifying TLS", async () => {
    const log = captureLogger();
    const http = `http://127.0.0.1:${dcos.port}/acs/api/v1/auth/login`;
    const credential = JSON.stringify({ login_endpoint: http, private_key: fx.sa.pkcs1Pem, scheme: 'RS256', uid: SA });
    // The cluster URL is left at its default: the credential's endpoint is the login URL.
    store = createDcosSecretStore(
      configFrom({ DCOS_SECRETS_CA_CERT_FILE: fx.pki.ca.certFile, DCOS_SERVICE_ACCOUNT_CREDENTIAL: credential }),
      log.logger,
    );
    expect(store.config).toMatchObject({ insecure: false, loginUrl: `${dcos.url}/acs/api/v1/auth/login` });
    await expect(store.auth.token()).resolves.toMatch(/^ey/);
    expect(dcos.counters.loginsOk).toBe(1);
    const warning = log.warnings().find((l) => l.includes('http://'));
    expect(warning).toBeDefined();
    expect(JSON.parse(warning!)).toMatchObject({
      level: 'warn',
      credentialLoginEndpoint: http,
      loginUrl: `${dcos.url}/acs/api/v1/auth/login`,
    });
  });

  it('logs in with the credential JSON from --dcos-credential-file', async () => {
    const file = fx.file('credential.json', JSON.stringify({ uid: SA, private_key: fx.sa.pkcs1Pem, scheme: 'RS256' }));
    store = createDcosSecretStore(configFrom(base(), { dcosCredentialFile: file }));
    await expect(store.read('pwx/secrets/user1-token')).resolves.toEqual({ value: TOKEN });
  });

  it('ready() is true when login works and false (never throwing) when it does not', async () => {
    store = createDcosSecretStore(configFrom({ ...base(), DCOS_SECRETS_USERNAME: USER, DCOS_SECRETS_PASSWORD: PASSWORD }));
    await expect(store.ready()).resolves.toBe(true);
    await store.close();
    store = createDcosSecretStore(configFrom({ ...base(), DCOS_SECRETS_USERNAME: USER, DCOS_SECRETS_PASSWORD: 'wrong' }));
    await expect(store.ready()).resolves.toBe(false);
    await expect(store.ready()).resolves.toBe(false);
    expect(dcos.counters.loginsRefused).toBe(1); // the answer is reused for a few seconds
  });
});
