import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startDcosDouble, type DcosDouble } from '../doubles/dcos/server.js';
import { makeRsaKeyPair, makeTestPki, type RsaKeyPair, type TestPki } from '../doubles/dcos/pki.js';
import { loadConfig, type Config } from '../../src/config/load.js';
import { RunningProxy } from '../../src/app.js';
import { ISSUER, SHARED_SECRET } from '../helpers/tokens.js';

/**
 * SIGHUP (RunningProxy.reload) with the DC/OS store: a rotated password, key or credential takes
 * effect, although secrets print redacted and a JSON comparison of the configurations cannot see it.
 */
const PATH = 'pwx/secrets/user1-token';
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyMSJ9.reload-test-sig';

let pki: TestPki;
let sa: RsaKeyPair;
let dcos: DcosDouble;
let dir: string;
let proxy: RunningProxy | undefined;
const logger = pino({ level: 'silent' });

beforeAll(async () => {
  pki = makeTestPki();
  sa = makeRsaKeyPair();
  dcos = await startDcosDouble({
    tls: { serverKeyPem: pki.serverKeyPem, serverCertPem: pki.serverCertPem },
    users: { alice: 'old-pw' },
    serviceAccounts: { 'pwx-proxy': sa.publicKeyPem },
    secrets: { [PATH]: TOKEN },
    grants: { alice: ['dcos:secrets:default:/pwx/secrets/* read'], 'pwx-proxy': ['dcos:secrets:default:/pwx/secrets/* read'] },
  });
});
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-reload-'));
});
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  rmSync(dir, { recursive: true, force: true });
  dcos.addUser('alice', 'old-pw');
  dcos.addServiceAccount('pwx-proxy', sa.publicKeyPem);
  dcos.resetCounters();
});
afterAll(async () => {
  await dcos.close();
  pki.cleanup();
});

function load(flags: Record<string, unknown>): Readonly<Config> {
  const { config, problems } = loadConfig({
    flags: {
      secrets: 'dcos',
      backend: `local:${path.join(dir, 'backend')}`,
      socket: path.join(dir, 'pxd-auth.sock'),
      stateDir: path.join(dir, 'state'),
      jwtIssuer: ISSUER,
      jwtSharedSecret: SHARED_SECRET,
      dcosUrl: dcos.url,
      dcosCaFile: pki.ca.certFile,
      ...flags,
    },
    env: {},
  });
  if (!config) throw new Error(`test config invalid: ${problems.join('; ')}`);
  return config;
}

describe('reload with the DC/OS secret store', () => {
  it('picks up a rotated password file', async () => {
    const pwFile = path.join(dir, 'password');
    writeFileSync(pwFile, 'old-pw\n', { mode: 0o600 });
    const flags = { dcosUsername: 'alice', dcosPasswordFile: pwFile };
    proxy = await RunningProxy.start(load(flags), logger);
    await expect(proxy.secrets.read(PATH)).resolves.toEqual({ value: TOKEN });
    const before = proxy.secrets;

    // The operator rotates the password: in DC/OS, then in the file, then SIGHUP.
    dcos.addUser('alice', 'new-pw');
    dcos.revokeAll();
    writeFileSync(pwFile, 'new-pw\n');
    dcos.resetCounters();
    expect(proxy.reload(load(flags))).toEqual([]);
    expect(proxy.secrets).not.toBe(before);
    await expect(proxy.secrets.read(PATH)).resolves.toEqual({ value: TOKEN });
    expect(dcos.counters.loginsRefused).toBe(0);
    expect(dcos.counters.loginsOk).toBe(1);
    // The retired store still answers calls already running (here from its cache) until it is closed.
    await expect(before.read(PATH)).resolves.toEqual({ value: TOKEN });
  });

  it('picks up a rotated private key file', async () => {
    const keyFile = path.join(dir, 'key.pem');
    writeFileSync(keyFile, sa.pkcs8Pem, { mode: 0o600 });
    const flags = { dcosServiceAccount: 'pwx-proxy', dcosPrivateKeyFile: keyFile };
    proxy = await RunningProxy.start(load(flags), logger);
    await expect(proxy.secrets.read(PATH)).resolves.toEqual({ value: TOKEN });
    const before = proxy.secrets;

    const rotated = makeRsaKeyPair();
    dcos.addServiceAccount('pwx-proxy', rotated.publicKeyPem);
    dcos.revokeAll();
    writeFileSync(keyFile, rotated.pkcs1Pem);
    dcos.resetCounters();
    expect(proxy.reload(load(flags))).toEqual([]);
    expect(proxy.secrets).not.toBe(before);
    await expect(proxy.secrets.read(PATH)).resolves.toEqual({ value: TOKEN });
    expect(dcos.counters.loginsRefused).toBe(0);
  });

  it('keeps the store, its login and its cache when the DC/OS settings did not change', async () => {
    const keyFile = path.join(dir, 'key.pem');
    writeFileSync(keyFile, sa.pkcs8Pem, { mode: 0o600 });
    proxy = await RunningProxy.start(load({ dcosServiceAccount: 'pwx-proxy', dcosPrivateKeyFile: keyFile }), logger);
    await proxy.secrets.read(PATH);
    const before = proxy.secrets;
    // The same key in another PEM form, and a change elsewhere (the policy of the next generation).
    writeFileSync(keyFile, sa.pkcs1Pem);
    dcos.resetCounters();
    expect(proxy.reload(load({ dcosServiceAccount: 'pwx-proxy', dcosPrivateKeyFile: keyFile, clockTolerance: 5 }))).toEqual([]);
    expect(proxy.secrets).toBe(before);
    await expect(proxy.secrets.read(PATH)).resolves.toEqual({ value: TOKEN });
    expect(dcos.counters.logins).toBe(0);
    expect(dcos.counters.totalSecretGets).toBe(0);
  });

  it('keeps a file store whose folder is the same, and replaces it when the folder changes', async () => {
    proxy = await RunningProxy.start(load({ secrets: `file:${path.join(dir, 'secrets-a')}` }), logger);
    const before = proxy.secrets;
    expect(proxy.reload(load({ secrets: `file:${path.join(dir, 'secrets-a')}`, clockTolerance: 5 }))).toEqual([]);
    expect(proxy.secrets).toBe(before);
    expect(proxy.reload(load({ secrets: `file:${path.join(dir, 'secrets-b')}` }))).toEqual([]);
    expect(proxy.secrets).not.toBe(before);
    expect(proxy.secrets.description).toBe(`file:${path.join(dir, 'secrets-b')}`);
  });
});
