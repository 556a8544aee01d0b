import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startStack, type Stack } from '../helpers/stack.js';
import { mountId } from '../helpers/plugin-client.js';
import { signHs256, userClaims, SHARED_SECRET } from '../helpers/tokens.js';
import { startDcosDouble, type DcosDouble } from '../doubles/dcos/server.js';
import { WARM_JITTER_MS } from '../../src/secrets/dcos/index.js';
import { makeRsaKeyPair, makeTestPki, type TestPki } from '../doubles/dcos/pki.js';

/**
 * The whole path of issue 3: Docker-style calls on the proxy socket, the token read from the DC/OS
 * double over HTTPS (service-account login, the cluster CA), pxd double behind.
 */
let pki: TestPki;
let dcos: DcosDouble;
let stack: Stack;
let user1: string;
let user2: string;

beforeAll(async () => {
  pki = makeTestPki();
  const sa = makeRsaKeyPair();
  user1 = await signHs256(SHARED_SECRET, userClaims('user1'));
  user2 = await signHs256(SHARED_SECRET, userClaims('user2'));
  dcos = await startDcosDouble({
    tls: { serverKeyPem: pki.serverKeyPem, serverCertPem: pki.serverCertPem },
    serviceAccounts: { 'pwx-proxy': sa.publicKeyPem },
    secrets: {
      'pwx/secrets/user1-token': user1 + '\n',
      'pwx/secrets/user2-token': user2,
      'pwx/secrets/user1': 'decoy-not-a-token',
      'other/secret': user2,
    },
    grants: { 'pwx-proxy': ['dcos:secrets:default:/pwx/secrets/* read', 'dcos:secrets:default:/pxd-auth-proxy/volumes/* full'] },
  });
  const keyFile = path.join(pki.dir, 'sa.pem');
  writeFileSync(keyFile, sa.pkcs1Pem, { mode: 0o600 });
  stack = await startStack({
    flags: {
      secrets: 'dcos',
      dcosUrl: dcos.url,
      dcosCaFile: pki.ca.certFile,
      dcosServiceAccount: 'pwx-proxy',
      dcosPrivateKeyFile: keyFile,
    },
  });
});

afterAll(async () => {
  await stack?.close();
  await dcos?.close();
  pki?.cleanup();
});

describe('token_secret from the DC/OS Secret Store, through the proxy socket', () => {
  it('logs in to DC/OS as it starts (within WARM_JITTER_MS, so a fleet does not log in in one second), before any request', async () => {
    const until = Date.now() + WARM_JITTER_MS + 3_000;
    while (dcos.counters.loginsOk < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    expect(dcos.counters.loginsOk).toBe(1);
    expect(dcos.counters.totalSecretGets).toBe(0);
  });

  it('creates, mounts and removes token_secret=pwx/secrets/user1-token,repl=3,name=myvol1', async () => {
    const name = 'token_secret=pwx/secrets/user1-token,repl=3,name=myvol1';
    const c = await stack.call('VolumeDriver.Create', { Name: name, Opts: null });
    expect(c.json).toEqual({ Err: '' });
    expect(stack.pxd.volumes.get('myvol1')).toMatchObject({ owner: 'id/user1' });
    expect(dcos.counters.secretGets.get('pwx/secrets/user1-token')).toBe(1);
    expect(dcos.counters.secretGets.has('pwx/secrets/user1')).toBe(false);

    const m = await stack.call('VolumeDriver.Mount', { Name: name, ID: mountId('c1') });
    expect(m.json).toEqual({ Mountpoint: `${stack.mountsRoot}/myvol1${mountId('c1')}`, Err: '' });
    expect(stack.pxd.lastToken('VolumeDriver.Mount')).toBe(user1);
    // Served from the cache: one GET for the whole lifecycle, one login.
    expect(dcos.counters.secretGets.get('pwx/secrets/user1-token')).toBe(1);
    expect(dcos.counters.loginsOk).toBe(1);

    expect((await stack.call('VolumeDriver.Unmount', { Name: name, ID: mountId('c1') })).json).toEqual({ Err: '' });
    expect((await stack.call('VolumeDriver.Remove', { Name: name })).json).toEqual({ Err: '' });
    expect(stack.pxd.volumes.has('myvol1')).toBe(false);

    const everything = stack.logs.join('');
    expect(everything).not.toContain(user1.split('.')[2]!);
    for (const t of dcos.issuedTokens()) expect(everything).not.toContain(t.split('.')[2]!);
  });

  it('names the permission to grant when the account may not read the secret, and the path when missing', async () => {
    const denied = await stack.call('VolumeDriver.Create', { Name: 'token_secret=/other/secret,name=v403' });
    expect(denied.json.Err).toMatch(
      /^pxd-auth SECRET_FORBIDDEN: create of volume v403: .*pwx-proxy.*dcos:secrets:default:\/other\/secret read/,
    );
    const missing = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/nobody,name=v404' });
    expect(missing.json.Err).toMatch(/^pxd-auth SECRET_NOT_FOUND: create of volume v404: .*pwx\/secrets\/nobody/);
    expect(stack.pxd.requests.filter((r) => /Create/.test(r.endpoint))).toHaveLength(1);
  });

  it('keeps Get and List answering while DC/OS is down, and mounts from the cached token', async () => {
    const name = 'token_secret=pwx/secrets/user2-token,name=cached';
    expect((await stack.call('VolumeDriver.Create', { Name: name })).json).toEqual({ Err: '' });
    dcos.down = true;
    try {
      expect((await stack.call('VolumeDriver.Get', { Name: name })).json.Volume.Name).toBe(name);
      expect((await stack.call('VolumeDriver.List', {})).json.Err).toBe('');
      const m = await stack.call('VolumeDriver.Mount', { Name: name, ID: mountId('x') });
      expect(m.json.Err).toBe('');
      const fresh = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/never-read,name=v5' });
      expect(fresh.json.Err).toMatch(/SECRET_STORE_(UNAVAILABLE|TIMEOUT)/);
    } finally {
      dcos.down = false;
    }
  });
});
