/**
 * pxd must do exactly what the proxy checked (issue 12, sections 1, 2, 3 and 6). Every case is driven
 * over the plugin socket against the pxd double, and judged by the double's own record of what pxd
 * stored or received, never by the proxy's account of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack, type Stack } from '../helpers/stack.js';
import { SHARED_SECRET, signHs256, userClaims } from '../helpers/tokens.js';
import { loadConfig } from '../../src/config/load.js';

const ID = 'c0ffee'.padEnd(64, '0');

async function stackWith(policyYaml: string[]): Promise<Stack> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-agree-'));
  const config = path.join(dir, 'proxy.yaml');
  writeFileSync(config, [...policyYaml, ''].join('\n'));
  const stack = await startStack({ dir, flags: { config, secretsBasePath: 'pwx/secrets' } });
  // The double's secrets are the proxy's files: tokens for two tenants, an operator and an unbound one.
  stack.writeSecret('pwx/secrets/tenant-a/token', await signHs256(SHARED_SECRET, userClaims('alice')));
  stack.writeSecret('pwx/secrets/tenant-b/token', await signHs256(SHARED_SECRET, userClaims('bob')));
  stack.writeSecret('pwx/secrets/tenant-x/token', await signHs256(SHARED_SECRET, userClaims('mallory')));
  stack.writeSecret('pwx/secrets/ops/admin', await signHs256(SHARED_SECRET, userClaims('ops', ['system.admin'], { groups: ['*'] })));
  return stack;
}

const POLICY = [
  'policy:',
  '  bindings:',
  '    - secretPrefix: tenant-a',
  '      volumes: ["a-*"]',
  '    - secretPrefix: pwx/secrets/tenant-b',
  '      volumes: ["b*"]',
  '    - secretPrefix: ops',
  '      volumes: ["ops-*"]',
];

function received(stack: Stack, endpoint: string, from: number): unknown[] {
  return stack.pxd.requests
    .slice(from)
    .filter((r) => r.endpoint === `/VolumeDriver.${endpoint}`)
    .map((r) => r.parsed);
}

describe('pxd reads what the proxy checked', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await stackWith(POLICY);
  });
  afterAll(async () => stack.close());

  it('an option hidden in another value does not turn encryption off', async () => {
    const r = await stack.call('VolumeDriver.Create', {
      Name: 'token_secret=tenant-a/token,zz=secure=false,secure=true,name=a-sec',
      Opts: null,
    });
    expect(r.json).toEqual({ Err: '' });
    const vol = stack.pxd.volumes.get('a-sec')!;
    expect(vol.spec.secure).toBe('true');
    expect(vol.labels.zz).toBe('secure=false');
  });

  it('block_size is not read as size', async () => {
    const r = await stack.call('VolumeDriver.Create', { Name: 'token_secret=tenant-a/token,block_size=4096,name=a-bs', Opts: null });
    expect(r.json).toEqual({ Err: '' });
    const vol = stack.pxd.volumes.get('a-bs')!;
    expect(vol.spec.block_size).toBe('4096');
    expect(vol.spec.size).toBeUndefined();
  });

  it('values pxd would cut inside a name reach pxd whole, and -o options join an inline name', async () => {
    const r = await stack.call('VolumeDriver.Create', {
      Name: 'token_secret=tenant-a/token,zones=useast,name=a-z',
      Opts: { io_profile: 'db_remote', nodes: 'n1.example.com' },
    });
    expect(r.json).toEqual({ Err: '' });
    const vol = stack.pxd.volumes.get('a-z')!;
    expect(vol.labels.zones).toBe('useast');
    expect(vol.spec.io_profile).toBe('db_remote');
    expect(vol.spec.nodes).toBe('n1.example.com');
  });

  it('an encrypted volume mounts with its passphrase in the name pxd reads, and a passphrase pxd would cut is refused at create', async () => {
    const name = 'token_secret=tenant-a/token,secret_key=pass.w0rd,name=a-enc';
    expect((await stack.call('VolumeDriver.Create', { Name: name, Opts: null })).json).toEqual({ Err: '' });
    const before = stack.pxd.requests.length;
    const m = await stack.call('VolumeDriver.Mount', { Name: name, ID });
    expect(m.json).toMatchObject({ Err: '' });
    expect(received(stack, 'Mount', before)).toEqual([
      { Name: expect.stringMatching(/^name=a-enc,token=[^,]+,secret_key=pass\.w0rd$/), ID },
    ]);

    const bad = await stack.call('VolumeDriver.Create', {
      Name: 'token_secret=tenant-a/token,secret_key=pass w0rd!,name=a-enc2',
      Opts: null,
    });
    expect(bad.json.Err).toMatch(/^pxd-auth PXD_READS_DIFFERENTLY: secret_key=/);
    expect(bad.json.Err).not.toContain('w0rd');
    expect(stack.pxd.volumes.has('a-enc2')).toBe(false);
  });
});

describe('policy covers every volume a request touches', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await stackWith(POLICY);
    const bob = await stack.call('VolumeDriver.Create', { Name: 'token_secret=tenant-b/token,name=bvolx', Opts: null });
    expect(bob.json).toEqual({ Err: '' });
  });
  afterAll(async () => stack.close());

  it('a secret bound to ops-* cannot clone a volume outside its binding, inline or with -o parent', async () => {
    const inline = await stack.call('VolumeDriver.Create', { Name: 'token_secret=ops/admin,name=ops-steal,parent=bvolx', Opts: null });
    expect(inline.json.Err).toMatch(/^pxd-auth POLICY_BINDING_DENIED: .*parent="bvolx"/);
    const bare = await stack.call('VolumeDriver.Create', { Name: 'ops-steal2', Opts: { token_secret: 'ops/admin', parent: 'bvolx' } });
    expect(bare.json.Err).toMatch(/^pxd-auth POLICY_BINDING_DENIED: .*parent="bvolx"/);
    expect(stack.pxd.volumes.has('ops-steal')).toBe(false);
    expect(stack.pxd.volumes.has('ops-steal2')).toBe(false);
  });

  it('clones still work when the binding covers both names', async () => {
    expect((await stack.call('VolumeDriver.Create', { Name: 'token_secret=ops/admin,name=ops-src', Opts: null })).json).toEqual({
      Err: '',
    });
    const clone = await stack.call('VolumeDriver.Create', { Name: 'token_secret=ops/admin,parent=ops-src,name=ops-clone', Opts: null });
    expect(clone.json).toEqual({ Err: '' });
    expect(stack.pxd.volumes.get('ops-clone')?.parent).toBe('ops-src');
  });
});

describe('Mount and Unmount IDs are identifiers', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await stackWith([]);
    expect((await stack.call('VolumeDriver.Create', { Name: 'token_secret=tenant-a/token,name=a-m1', Opts: null })).json).toEqual({
      Err: '',
    });
  });
  afterAll(async () => stack.close());

  it.each(['/../../../../../etc', '../x', 'A'.repeat(64), 'a'.repeat(63), `${'a'.repeat(63)}/`, ' '])(
    'refuses ID %j before it reaches pxd',
    async (bad) => {
      const before = stack.pxd.requests.length;
      const m = await stack.call('VolumeDriver.Mount', { Name: 'token_secret=tenant-a/token,name=a-m1', ID: bad });
      expect(m.json.Err).toMatch(/^pxd-auth BODY_INVALID: VolumeDriver.Mount "ID" must be 64 lowercase hex/);
      const u = await stack.call('VolumeDriver.Unmount', { Name: 'token_secret=tenant-a/token,name=a-m1', ID: bad });
      expect(u.json.Err).toMatch(/^pxd-auth BODY_INVALID: VolumeDriver.Unmount "ID"/);
      expect(stack.pxd.requests.slice(before)).toEqual([]);
    },
  );

  it("accepts dockerd's 64 hex characters and dvdcli's missing ID", async () => {
    const docker = await stack.call('VolumeDriver.Mount', { Name: 'token_secret=tenant-a/token,name=a-m1', ID });
    expect(docker.json).toEqual({ Mountpoint: path.join(stack.mountsRoot, `a-m1${ID}`), Err: '' });
    expect((await stack.call('VolumeDriver.Unmount', { Name: 'token_secret=tenant-a/token,name=a-m1', ID })).json).toEqual({ Err: '' });
    const dvdcli = await stack.call('VolumeDriver.Mount', { Name: 'token_secret=tenant-a/token,name=a-m1' });
    expect(dvdcli.json).toEqual({ Mountpoint: path.join(stack.mountsRoot, 'a-m1'), Err: '' });
  });
});

describe('bindings mean what the operator wrote', () => {
  it('a secretPrefix written relative to the base path binds', async () => {
    const stack = await stackWith(POLICY);
    try {
      const r = await stack.call('VolumeDriver.Create', { Name: 'token_secret=tenant-a/token,name=not-a', Opts: null });
      expect(r.json.Err).toMatch(/^pxd-auth POLICY_BINDING_DENIED: secret pwx\/secrets\/tenant-a\/token may only be used for volumes a-\*/);
      expect(stack.pxd.volumes.has('not-a')).toBe(false);
    } finally {
      await stack.close();
    }
  });

  it('a secretPrefix that could never match is refused at start', () => {
    for (const prefix of ['pwx', '/elsewhere/tenant-a']) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-agree-'));
      const config = path.join(dir, 'proxy.yaml');
      writeFileSync(config, ['policy:', '  bindings:', `    - secretPrefix: ${prefix}`, '      volumes: ["a-*"]', ''].join('\n'));
      const { config: cfg, problems } = loadConfig({
        flags: { config, secrets: `file:${dir}`, secretsBasePath: 'pwx/secrets', jwtIssuer: 'i', jwtSharedSecret: 'x'.repeat(32) },
        env: {},
      });
      expect(cfg).toBeUndefined();
      expect(problems.join('\n')).toMatch(/policy\.bindings\[0\]\.secretPrefix: .*(above|outside) the secrets base path/);
    }
  });

  it('without strict mode a bare name can be squatted (the documented risk)', async () => {
    const stack = await stackWith(POLICY);
    try {
      const squat = await stack.call('VolumeDriver.Create', { Name: 'webdata', Opts: { token_secret: 'tenant-x/token' } });
      expect(squat.json).toEqual({ Err: '' });
      const victim = await stack.call('VolumeDriver.Mount', { Name: 'webdata', ID });
      expect(victim.json.Err).toBe('');
      expect(stack.pxd.volumes.get('webdata')?.owner).toBe('id/mallory');
    } finally {
      await stack.close();
    }
  });

  it('strict mode: an unbound secret is refused, and the squat is closed', async () => {
    const stack = await stackWith([...POLICY, '  strict: true']);
    try {
      const unbound = await stack.call('VolumeDriver.Create', { Name: 'webdata', Opts: { token_secret: 'tenant-x/token' } });
      expect(unbound.json.Err).toMatch(
        /^pxd-auth POLICY_BINDING_DENIED: secret pwx\/secrets\/tenant-x\/token is not covered by any binding/,
      );
      const bound = await stack.call('VolumeDriver.Create', { Name: 'webdata', Opts: { token_secret: 'tenant-b/token' } });
      expect(bound.json.Err).toMatch(
        /^pxd-auth POLICY_BINDING_DENIED: secret pwx\/secrets\/tenant-b\/token may only be used for volumes b\*/,
      );
      expect(stack.pxd.volumes.has('webdata')).toBe(false);
      const victim = await stack.call('VolumeDriver.Mount', { Name: 'webdata', ID });
      expect(victim.json.Err).toMatch(/^pxd-auth TOKEN_MISSING/);
      // A bound secret still works in its own names.
      expect((await stack.call('VolumeDriver.Create', { Name: 'bdata', Opts: { token_secret: 'tenant-b/token' } })).json).toEqual({
        Err: '',
      });
    } finally {
      await stack.close();
    }
  });
});
