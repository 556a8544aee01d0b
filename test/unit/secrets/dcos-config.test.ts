import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDcosConfig, sameDcosConfig, SecretText } from '../../../src/secrets/dcos/config.js';
import { dcosConfigFromEnv } from '../../../src/config/dcos.js';
import { DCOS_OPTIONS } from '../../../src/config/options.js';
import { makeRsaKeyPair, makeTestPki, type RsaKeyPair, type TestPki } from '../../doubles/dcos/pki.js';

const PASSWORD = 'config-test-password-9f2';

describe('dcosConfigFromEnv', () => {
  let dir: string;
  let pki: TestPki;
  let rsa: RsaKeyPair;
  const f: Record<string, string> = {};
  const file = (name: string, content: string): string => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pxd-auth-dcos-config-'));
    pki = makeTestPki();
    rsa = makeRsaKeyPair();
    f.pkcs8 = file('pkcs8.pem', rsa.pkcs8Pem);
    f.pkcs1 = file('pkcs1.pem', rsa.pkcs1Pem);
    f.public = file('public.pem', rsa.publicKeyPem);
    f.ec = file(
      'ec.pem',
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    );
    f.small = file(
      'small.pem',
      generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    );
    f.encrypted = file(
      'enc.pem',
      generateKeyPairSync('rsa', { modulusLength: 2048 })
        .privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' })
        .toString(),
    );
    f.password = file('password', `${PASSWORD}\n`);
    f.username = file('username', 'alice\n');
    f.notCert = file('not-a-cert.pem', 'hello');
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    pki.cleanup();
  });

  it('defaults: https://master.mesos, 60 s TTL, 300 s max-stale, 20 s timeout, verified TLS', () => {
    const { config, problems } = dcosConfigFromEnv({ DCOS_SECRETS_USERNAME: 'alice', DCOS_SECRETS_PASSWORD: PASSWORD });
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      url: 'https://master.mesos',
      loginUrl: 'https://master.mesos/acs/api/v1/auth/login',
      insecure: false,
      cacheTtlSec: 60,
      maxStaleSec: 300,
      timeoutSec: 20,
      readBudgetSec: 45,
      login: { kind: 'password', uid: 'alice' },
    });
    expect(config!.caPem).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
    expect(config!.login.kind === 'password' && config!.login.password.reveal()).toBe(PASSWORD);
  });

  it('flags win over the environment', () => {
    const { config } = dcosConfigFromEnv(
      {
        DCOS_CLUSTER_URL: 'https://env.example',
        DCOS_SECRETS_USERNAME: 'env-user',
        DCOS_SECRETS_PASSWORD: 'x',
        PXD_AUTH_SECRET_CACHE_TTL: '5',
      },
      {
        dcosUrl: 'https://flag.example/',
        dcosUsername: 'flag-user',
        dcosPasswordFile: f.password,
        secretCacheTtl: '7',
        secretMaxStale: 0,
        dcosTimeout: '2.5',
        dcosCaFile: pki.ca.certFile,
      },
    );
    expect(config).toMatchObject({
      url: 'https://flag.example',
      cacheTtlSec: 7,
      maxStaleSec: 0,
      timeoutSec: 2.5,
      caFile: pki.ca.certFile,
      caPem: pki.ca.certPem,
      login: { kind: 'password', uid: 'flag-user' },
    });
    expect(config!.login.kind === 'password' && config!.login.password.reveal()).toBe(PASSWORD); // one trailing newline dropped
  });

  it('reads the _FILE variants', () => {
    const { config, problems } = dcosConfigFromEnv({ DCOS_SECRETS_USERNAME_FILE: f.username!, DCOS_SECRETS_PASSWORD_FILE: f.password! });
    expect(problems).toEqual([]);
    expect(config!.login.uid).toBe('alice');
  });

  it.each(['pkcs8', 'pkcs1'])('accepts a service account with a %s key file', (form) => {
    const { config, problems } = dcosConfigFromEnv({ DCOS_SERVICE_ACCOUNT: 'pwx-proxy', DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: f[form] });
    expect(problems).toEqual([]);
    expect(config!.login).toMatchObject({ kind: 'service-account', uid: 'pwx-proxy', source: 'key-file' });
  });

  it('accepts the credential JSON as DC/OS injects it, and takes its login_endpoint', () => {
    const credential = JSON.stringify({
      login_endpoint: 'https://leader.mesos/acs/api/v1/auth/login',
      private_key: rsa.pkcs1Pem,
      scheme: 'RS256',
      uid: 'pwx-proxy',
    });
    const { config, problems } = dcosConfigFromEnv({ DCOS_SERVICE_ACCOUNT_CREDENTIAL: credential });
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      url: 'https://master.mesos',
      loginUrl: 'https://leader.mesos/acs/api/v1/auth/login',
      login: { kind: 'service-account', uid: 'pwx-proxy', source: 'credential' },
    });
    const fromFile = dcosConfigFromEnv({}, { dcosCredentialFile: file('cred.json', credential) });
    expect(fromFile.problems).toEqual([]);
  });

  it('requires exactly one login', () => {
    expect(dcosConfigFromEnv({}).problems).toEqual([expect.stringContaining('no DC/OS login is configured')]);
    const two = dcosConfigFromEnv({
      DCOS_SECRETS_USERNAME: 'a',
      DCOS_SECRETS_PASSWORD: 'b',
      DCOS_SERVICE_ACCOUNT: 'c',
      DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: f.pkcs8,
    });
    expect(two.config).toBeUndefined();
    expect(two.problems).toEqual([expect.stringMatching(/more than one DC\/OS login.*a user.*a service account/)]);
  });

  it('names the missing half of a login', () => {
    expect(dcosConfigFromEnv({ DCOS_SECRETS_USERNAME: 'a' }).problems).toEqual([expect.stringContaining('no password')]);
    expect(dcosConfigFromEnv({ DCOS_SECRETS_PASSWORD: 'p' }).problems).toEqual([expect.stringContaining('no user name')]);
    expect(dcosConfigFromEnv({ DCOS_SERVICE_ACCOUNT: 'a' }).problems).toEqual([expect.stringContaining('no key')]);
    expect(dcosConfigFromEnv({ DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: f.pkcs8 }).problems).toEqual([expect.stringContaining('no account')]);
  });

  it('refuses keys that are not unencrypted RSA ≥ 2048 bits', () => {
    const problem = (file: string) =>
      dcosConfigFromEnv({ DCOS_SERVICE_ACCOUNT: 'a', DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: file }).problems.join('\n');
    expect(problem(f.ec!)).toMatch(/is ec; DC\/OS service accounts sign with RSA/);
    expect(problem(f.small!)).toMatch(/1024 bits; RS256 needs at least 2048/);
    expect(problem(f.encrypted!)).toMatch(/no readable private key/);
    expect(problem(f.public!)).toMatch(/no readable private key/);
    expect(problem(join(dir, 'missing.pem'))).toMatch(/cannot read the file .*missing\.pem \(ENOENT\)/);
  });

  it('checks the credential JSON', () => {
    const problems = (v: string) => dcosConfigFromEnv({ DCOS_SERVICE_ACCOUNT_CREDENTIAL: v }).problems.join('\n');
    expect(problems('{not json')).toMatch(/is not JSON/);
    expect(problems('{}')).toMatch(/no "uid"[\s\S]*no "private_key"/);
    expect(problems(JSON.stringify({ uid: 'a', private_key: rsa.pkcs8Pem, scheme: 'HS256' }))).toMatch(/"scheme" is not RS256/);
    expect(problems(JSON.stringify({ uid: 'a', private_key: rsa.pkcs8Pem, login_endpoint: 42 }))).toMatch(
      /"login_endpoint" is not a string/,
    );
    expect(problems(JSON.stringify({ uid: 'a', private_key: rsa.pkcs8Pem, login_endpoint: 'leader.mesos' }))).toMatch(
      /"login_endpoint" is not a URL/,
    );
    expect(problems(JSON.stringify({ uid: 'a', private_key: rsa.pkcs8Pem, login_endpoint: 'ftp://leader.mesos/x' }))).toMatch(
      /"login_endpoint" must be an https:\/\/ URL/,
    );
  });

  it("upgrades a permissive-mode credential's http:// login_endpoint to https:// (same host and path), TLS still verified", () => {
    const credential = JSON.stringify({
      login_endpoint: 'http://master.mesos/acs/api/v1/auth/login',
      private_key: rsa.pkcs8Pem,
      scheme: 'RS256',
      uid: 'pwx-proxy',
    });
    const { config, problems } = dcosConfigFromEnv({ DCOS_SERVICE_ACCOUNT_CREDENTIAL: credential });
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      url: 'https://master.mesos',
      loginUrl: 'https://master.mesos/acs/api/v1/auth/login',
      loginUrlFrom: 'credential',
      credentialLoginEndpoint: 'http://master.mesos/acs/api/v1/auth/login',
      insecure: false,
    });
  });

  it("logs in through an explicitly set cluster URL, not the credential's login_endpoint", () => {
    const credential = JSON.stringify({
      login_endpoint: 'https://leader.mesos/acs/api/v1/auth/login',
      private_key: rsa.pkcs8Pem,
      scheme: 'RS256',
      uid: 'pwx-proxy',
    });
    for (const [env, flags] of [
      [{ DCOS_CLUSTER_URL: 'https://10.0.0.5:8443/', DCOS_SERVICE_ACCOUNT_CREDENTIAL: credential }, {}],
      [{ DCOS_SERVICE_ACCOUNT_CREDENTIAL: credential }, { dcosUrl: 'https://10.0.0.5:8443' }],
    ] as const) {
      const { config, problems } = dcosConfigFromEnv(env, flags);
      expect(problems).toEqual([]);
      expect(config).toMatchObject({
        url: 'https://10.0.0.5:8443',
        loginUrl: 'https://10.0.0.5:8443/acs/api/v1/auth/login',
        loginUrlFrom: 'cluster-url',
        credentialLoginEndpoint: 'https://leader.mesos/acs/api/v1/auth/login',
      });
    }
    // An http:// endpoint that is not used is no problem either.
    const http = JSON.stringify({
      login_endpoint: 'http://master.mesos/acs/api/v1/auth/login',
      private_key: rsa.pkcs8Pem,
      uid: 'pwx-proxy',
    });
    expect(dcosConfigFromEnv({ DCOS_CLUSTER_URL: 'https://10.0.0.5', DCOS_SERVICE_ACCOUNT_CREDENTIAL: http }).config?.loginUrl).toBe(
      'https://10.0.0.5/acs/api/v1/auth/login',
    );
  });

  it('trims DCOS_SECRETS_USERNAME and DCOS_SECRETS_PASSWORD given directly, as their _FILE variants', () => {
    // Values injected from a DC/OS secret written from a file end with a newline.
    const { config, problems } = dcosConfigFromEnv({ DCOS_SECRETS_USERNAME: ' alice\n', DCOS_SECRETS_PASSWORD: `${PASSWORD}\n` });
    expect(problems).toEqual([]);
    expect(config!.login.uid).toBe('alice');
    expect(config!.login.kind === 'password' && config!.login.password.reveal()).toBe(PASSWORD);
    // As for the file: one trailing newline dropped, nothing else (a password may end with spaces).
    const spaces = dcosConfigFromEnv({ DCOS_SECRETS_USERNAME: 'alice', DCOS_SECRETS_PASSWORD: 'pw  \r\n' }).config!;
    expect(spaces.login.kind === 'password' && spaces.login.password.reveal()).toBe('pw  ');
    expect(dcosConfigFromEnv({ DCOS_SECRETS_USERNAME: 'alice', DCOS_SECRETS_PASSWORD: '\n' }).problems).toEqual([
      'DCOS_SECRETS_PASSWORD: the password is empty',
    ]);
  });

  it('lists every problem at once, echoing no value', () => {
    const { config, problems } = dcosConfigFromEnv({
      DCOS_CLUSTER_URL: `ftp://user:${PASSWORD}@x`,
      DCOS_SECRETS_CA_CERT_FILE: f.notCert!,
      DCOS_SECRETS_USERNAME: 'alice',
      DCOS_SECRETS_PASSWORD: PASSWORD,
      DCOS_SECRETS_PASSWORD_FILE: f.password!,
      PXD_AUTH_SECRET_CACHE_TTL: 'soon',
      PXD_AUTH_SECRET_MAX_STALE: '-1',
      PXD_AUTH_DCOS_TIMEOUT: '60',
    });
    expect(config).toBeUndefined();
    expect(problems).toHaveLength(6);
    expect(problems.join('\n')).toMatch(/DCOS_CLUSTER_URL must be an https:\/\/ URL/);
    expect(problems.join('\n')).toMatch(/holds no PEM certificate/);
    expect(problems.join('\n')).toMatch(/both DCOS_SECRETS_PASSWORD and DCOS_SECRETS_PASSWORD_FILE are set/);
    expect(problems.join('\n')).toMatch(/PXD_AUTH_SECRET_CACHE_TTL must be a number of seconds ≥ 0/);
    expect(problems.join('\n')).toMatch(/PXD_AUTH_DCOS_TIMEOUT must be a number of seconds > 0 and ≤ 45/);
    expect(problems.join('\n')).not.toContain(PASSWORD);
    expect(problems.join('\n')).not.toContain('soon');
  });

  it('--dcos-insecure excludes a CA file, and allows http://', () => {
    const env = { DCOS_SECRETS_USERNAME: 'a', DCOS_SECRETS_PASSWORD: 'b' };
    expect(dcosConfigFromEnv({ ...env, DCOS_SECRETS_CA_CERT_FILE: pki.ca.certFile }, { dcosInsecure: true }).problems).toEqual([
      expect.stringContaining('exclude each other'),
    ]);
    expect(dcosConfigFromEnv({ ...env, DCOS_CLUSTER_URL: 'http://dcos.local' }).problems).toEqual([expect.stringContaining('https://')]);
    expect(dcosConfigFromEnv({ ...env, DCOS_CLUSTER_URL: 'http://dcos.local' }, { dcosInsecure: true }).config?.insecure).toBe(true);
  });

  it('keeps secrets out of inspect() and JSON', () => {
    const pw = dcosConfigFromEnv({ DCOS_SECRETS_USERNAME: 'a', DCOS_SECRETS_PASSWORD: PASSWORD }).config!;
    const sa = dcosConfigFromEnv({ DCOS_SERVICE_ACCOUNT: 'a', DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: f.pkcs8 }).config!;
    const keyLine = rsa.pkcs8Pem.split('\n')[1]!;
    for (const text of [
      inspect(pw, { depth: 9 }),
      JSON.stringify(pw),
      `${pw.login.kind === 'password' ? pw.login.password : ''}`,
      inspect(sa, { depth: 9 }),
      JSON.stringify(sa),
    ]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(keyLine);
    }
    expect(String(new SecretText('x'))).toBe('[redacted]');
  });

  it('sameDcosConfig() tells a changed password or key apart, although both print redacted', () => {
    const pw = (p: string) => dcosConfigFromEnv({ DCOS_SECRETS_USERNAME: 'a', DCOS_SECRETS_PASSWORD: p }).config!;
    expect(JSON.stringify(pw('old'))).toBe(JSON.stringify(pw('new')));
    expect(sameDcosConfig(pw('old'), pw('old'))).toBe(true);
    expect(sameDcosConfig(pw('old'), pw('new'))).toBe(false);
    const sa = (keyFile: string) =>
      dcosConfigFromEnv({ DCOS_SERVICE_ACCOUNT: 'a', DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile }).config!;
    const other = file('other.pem', makeRsaKeyPair().pkcs8Pem);
    expect(sameDcosConfig(sa(f.pkcs8!), sa(f.pkcs1!))).toBe(true); // the same key in another form
    expect(sameDcosConfig(sa(f.pkcs8!), sa(other))).toBe(false);
    expect(sameDcosConfig(pw('old'), sa(f.pkcs8!))).toBe(false);
    const url = dcosConfigFromEnv({
      DCOS_CLUSTER_URL: 'https://elsewhere',
      DCOS_SECRETS_USERNAME: 'a',
      DCOS_SECRETS_PASSWORD: 'old',
    }).config!;
    expect(sameDcosConfig(pw('old'), url)).toBe(false);
  });

  it('makeDcosConfig validates a config built in code and fills defaults', () => {
    const c = makeDcosConfig({
      url: 'https://x',
      loginUrl: 'https://x/acs/api/v1/auth/login',
      login: { kind: 'password', uid: 'u', password: new SecretText('p') },
    });
    expect(c).toMatchObject({ cacheTtlSec: 60, maxStaleSec: 300, timeoutSec: 20, loginBackoffSec: 30, readyCacheSec: 5 });
    expect(() =>
      makeDcosConfig({ url: 'https://x', loginUrl: 'y', login: { kind: 'password', uid: 'u', password: 'plain' as never } }),
    ).toThrow();
  });
});

describe('DCOS_OPTIONS', () => {
  it('lists every flag of the brief with its environment variable and default', () => {
    const flags = DCOS_OPTIONS.map((o) => o.flag).filter(Boolean);
    expect(flags).toEqual([
      '--dcos-url',
      '--dcos-ca-file',
      '--dcos-insecure',
      '--dcos-username',
      '--dcos-password-file',
      '--dcos-service-account',
      '--dcos-private-key-file',
      '--dcos-credential-file',
      '--secret-cache-ttl',
      '--secret-max-stale',
      '--dcos-timeout',
    ]);
    const envs = DCOS_OPTIONS.map((o) => o.env);
    for (const e of [
      'DCOS_CLUSTER_URL',
      'DCOS_SECRETS_CA_CERT_FILE',
      'DCOS_SECRETS_USERNAME',
      'DCOS_SECRETS_PASSWORD',
      'DCOS_SECRETS_PASSWORD_FILE',
      'DCOS_SERVICE_ACCOUNT',
      'DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE',
      'DCOS_SERVICE_ACCOUNT_CREDENTIAL',
    ]) {
      expect(envs).toContain(e);
    }
    expect(DCOS_OPTIONS.find((o) => o.flag === '--dcos-url')?.default).toBe('https://master.mesos');
    for (const o of DCOS_OPTIONS) {
      expect(o.description.length).toBeGreaterThan(10);
      // the commander attribute name is the camelCase of the flag
      if (o.flag) expect(o.key).toBe(o.flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()));
    }
  });
});
