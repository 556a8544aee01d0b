/**
 * One cluster, one memory (issue 14): several proxies, each with its own state folder (an agent),
 * share one DC/OS double and one pxd double. A volume created with -o token_secret on one agent is
 * mounted and removed on another that never saw the Create, as dvdcli does it (Get, then Mount with
 * no ID). Judged by the doubles' own records: what DC/OS stores, what pxd received.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack, type Stack } from '../helpers/stack.js';
import { callPlugin } from '../helpers/plugin-client.js';
import { signHs256, userClaims, SHARED_SECRET } from '../helpers/tokens.js';
import { startDcosDouble, type DcosDouble } from '../doubles/dcos/server.js';
import { makeRsaKeyPair, makeTestPki, type TestPki } from '../doubles/dcos/pki.js';

const FOLDER = 'pxd-auth-proxy/volumes';
let pki: TestPki;
let dcos: DcosDouble;
let keyFile: string;
let user1: string;
let first: Stack;
const agents: Stack[] = [];

/** An agent: its own socket and state folder, the shared pxd double (first's) and DC/OS double. */
async function agent(flags: Record<string, unknown> = {}): Promise<Stack> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-agent-'));
  const shared = first ? { backend: `unix://${path.join(first.dir, 'pxd.sock')}`, mountsRoot: first.mountsRoot } : {};
  const stack = await startStack({
    dir,
    flags: {
      secrets: 'dcos',
      secretsBasePath: 'pwx/secrets',
      dcosUrl: dcos.url,
      dcosCaFile: pki.ca.certFile,
      dcosServiceAccount: 'pwx-proxy',
      dcosPrivateKeyFile: keyFile,
      ...shared,
      ...flags,
    },
  });
  agents.push(stack);
  return stack;
}

const pxd = () => first.pxd;
const record = (volume: string) => {
  const v = dcos.secret(`${FOLDER}/${volume}`);
  return v === undefined ? undefined : (JSON.parse(String(v)) as Record<string, unknown>);
};

/** dvdcli's mount: Get, then Mount{Name} with no ID, on one keep-alive connection per run. */
async function dvdcliMount(stack: Stack, name: string) {
  const get = await stack.call('VolumeDriver.Get', { Name: name });
  const mount = await stack.call('VolumeDriver.Mount', { Name: get.json.Volume?.Name ?? name });
  return { get, mount };
}

beforeAll(async () => {
  pki = makeTestPki();
  const sa = makeRsaKeyPair();
  user1 = await signHs256(SHARED_SECRET, userClaims('user1'));
  dcos = await startDcosDouble({
    tls: { serverKeyPem: pki.serverKeyPem, serverCertPem: pki.serverCertPem },
    serviceAccounts: { 'pwx-proxy': sa.publicKeyPem },
    secrets: {
      'pwx/secrets/user1-token': user1,
      'pwx/secrets/user2-token': await signHs256(SHARED_SECRET, userClaims('user2')),
    },
    grants: { 'pwx-proxy': ['dcos:secrets:default:/pwx/secrets/* read', `dcos:secrets:default:/${FOLDER}/* full`] },
  });
  keyFile = path.join(pki.dir, 'sa.pem');
  writeFileSync(keyFile, sa.pkcs1Pem, { mode: 0o600 });
  first = await agent();
});

afterAll(async () => {
  for (const a of agents.reverse()) await a.close();
  await dcos?.close();
  pki?.cleanup();
});

describe('a reference given at Create on one agent serves every agent', () => {
  it('is recorded in DC/OS before pxd creates anything: the secret path and who, never a token', async () => {
    const c = await first.call('VolumeDriver.Create', { Name: 'mnt1', Opts: { token_secret: 'user1-token' } });
    expect(c.json).toEqual({ Err: '' });
    const r = record('mnt1')!;
    expect(r.secretPath).toBe('pwx/secrets/user1-token');
    expect(r.subject).toBe('id/user1');
    expect(typeof r.createdAt).toBe('string');
    expect(String(dcos.secret(`${FOLDER}/mnt1`))).not.toContain(user1.split('.')[2]!);
    expect(pxd().volumes.get('mnt1')?.owner).toBe('id/user1');
  });

  it('an agent that never saw the Create mounts it as dvdcli does (Get, Mount without ID), and removes it', async () => {
    const b = await agent();
    const { get, mount } = await dvdcliMount(b, 'mnt1');
    expect(get.json.Err).toBe('');
    expect(mount.json).toEqual({ Mountpoint: path.join(first.mountsRoot, 'mnt1'), Err: '' });
    expect(pxd().lastToken('Mount')).toBe(user1);
    expect((await b.call('VolumeDriver.Unmount', { Name: 'mnt1' })).json).toEqual({ Err: '' });
    const rm = await b.call('VolumeDriver.Remove', { Name: 'mnt1' });
    expect(rm.json).toEqual({ Err: '' });
    expect(pxd().volumes.has('mnt1')).toBe(false);
    // Removed after pxd accepted the Remove, not before.
    expect(dcos.secret(`${FOLDER}/mnt1`)).toBeUndefined();
  });

  it('works again on an agent that lost its local state', async () => {
    expect((await first.call('VolumeDriver.Create', { Name: 'mnt2', Opts: { token_secret: 'user1-token' } })).json).toEqual({ Err: '' });
    const b = await agent();
    expect((await dvdcliMount(b, 'mnt2')).mount.json.Err).toBe('');
    await b.close();
    agents.splice(agents.indexOf(b), 1);
    rmSync(path.join(b.dir, 'state'), { recursive: true, force: true });
    const again = await agent({ stateDir: path.join(b.dir, 'state') });
    expect((await dvdcliMount(again, 'mnt2')).mount.json.Err).toBe('');
  });

  it('a burst of 200 Mounts of one volume on a fresh agent costs one registry read', async () => {
    expect((await first.call('VolumeDriver.Create', { Name: 'burst1', Opts: { token_secret: 'user1-token' } })).json).toEqual({ Err: '' });
    const fresh = await agent();
    const before = dcos.counters.secretGets.get(`${FOLDER}/burst1`) ?? 0;
    const replies = await Promise.all(
      Array.from({ length: 200 }, () => callPlugin(fresh.socket, 'VolumeDriver.Mount', { Name: 'burst1' }, { freshConnection: true })),
    );
    expect(replies.every((r) => r.json?.Err === '')).toBe(true);
    expect((dcos.counters.secretGets.get(`${FOLDER}/burst1`) ?? 0) - before).toBe(1);
  });
});

describe('create-if-absent, never retargeted, put back when pxd refuses', () => {
  it('a repeated Create with the same reference changes nothing; another secret is refused on any agent', async () => {
    expect((await first.call('VolumeDriver.Create', { Name: 'keep1', Opts: { token_secret: 'user1-token' } })).json).toEqual({ Err: '' });
    const written = dcos.secret(`${FOLDER}/keep1`);
    expect((await first.call('VolumeDriver.Create', { Name: 'keep1', Opts: { token_secret: 'user1-token' } })).json).toEqual({ Err: '' });
    expect(dcos.secret(`${FOLDER}/keep1`)).toBe(written);
    const b = await agent();
    const other = await b.call('VolumeDriver.Create', { Name: 'keep1', Opts: { token_secret: 'user2-token' } });
    expect(other.json.Err).toMatch(
      /^pxd-auth REFERENCE_CONFLICT: volume keep1 is recorded in the cluster .* with token secret pwx\/secrets\/user1-token, not pwx\/secrets\/user2-token/,
    );
    expect(dcos.secret(`${FOLDER}/keep1`)).toBe(written);
    expect(pxd().volumes.get('keep1')?.owner).toBe('id/user1');
  });

  it('a Create pxd refuses leaves no record behind', async () => {
    const r = await first.call('VolumeDriver.Create', { Name: 'bad1', Opts: { token_secret: 'user1-token', size: 'not-a-size' } });
    expect(r.json.Err).toMatch(/^pxd-auth BACKEND_ERROR/);
    expect(dcos.secret(`${FOLDER}/bad1`)).toBeUndefined();
    expect(first.proxy.state.get('bad1')).toBeUndefined();
  });
});

describe('outages', () => {
  it('with DC/OS down, a Create that needs a record is refused and nothing reaches pxd', async () => {
    const before = pxd().requests.length;
    dcos.down = true;
    try {
      const r = await first.call('VolumeDriver.Create', { Name: 'down1', Opts: { token_secret: 'user1-token' } });
      expect(r.json.Err).toMatch(/^pxd-auth SECRET_STORE_(UNAVAILABLE|TIMEOUT): .*DC\/OS/);
    } finally {
      dcos.down = false;
    }
    expect(
      pxd()
        .requests.slice(before)
        .filter((q) => q.endpoint === '/VolumeDriver.Create'),
    ).toEqual([]);
  });

  it('a fresh agent cannot mount a volume it has no record of, and says DC/OS; Get, Path, List and Unmount still answer', async () => {
    expect((await first.call('VolumeDriver.Create', { Name: 'out1', Opts: { token_secret: 'user1-token' } })).json).toEqual({ Err: '' });
    const fresh = await agent();
    const before = pxd().requests.length;
    dcos.down = true;
    try {
      const m = await fresh.call('VolumeDriver.Mount', { Name: 'out1' });
      expect(m.json.Err).toMatch(
        /^pxd-auth SECRET_STORE_(UNAVAILABLE|TIMEOUT): mount of volume out1: the cluster's record of its token secret .* could not be read/,
      );
      expect((await fresh.call('VolumeDriver.Get', { Name: 'out1' })).json.Err).toBe('');
      expect((await fresh.call('VolumeDriver.List', {})).json.Err).toBe('');
      expect((await fresh.call('VolumeDriver.Unmount', { Name: 'out1' })).json.Err).toBeDefined();
    } finally {
      dcos.down = false;
    }
    expect(
      pxd()
        .requests.slice(before)
        .filter((q) => q.endpoint === '/VolumeDriver.Mount'),
    ).toEqual([]);
  });

  it('the agent that created a volume mounts it through an outage from the reference it remembers (never read from DC/OS)', async () => {
    const a = await agent();
    expect((await a.call('VolumeDriver.Create', { Name: 'out2', Opts: { token_secret: 'user1-token' } })).json).toEqual({ Err: '' });
    dcos.down = true;
    try {
      expect((await a.call('VolumeDriver.Mount', { Name: 'out2' })).json.Err).toBe('');
    } finally {
      dcos.down = false;
    }
  });

  it('an agent that already read the record keeps mounting through an outage (cached)', async () => {
    const b = await agent();
    expect((await dvdcliMount(b, 'out1')).mount.json.Err).toBe('');
    dcos.down = true;
    try {
      expect((await b.call('VolumeDriver.Mount', { Name: 'out1' })).json.Err).toBe('');
    } finally {
      dcos.down = false;
    }
  });
});
