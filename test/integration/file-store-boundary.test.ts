/**
 * Issue 12 §4: with `--secrets file:<dir> --secrets-base-path pwx/secrets`, a symlink under the base
 * that leads out of it must not let a request use the token it leads to. Driven over the plugin
 * socket; what pxd received is read from the pxd double's own records.
 */
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers/stack.js';
import { ISSUER, SHARED_SECRET, signHs256, userClaims } from '../helpers/tokens.js';

let stack: Stack;
let admin: string;
let tenant: string;

beforeAll(async () => {
  stack = await startStack({ flags: { secretsBasePath: 'pwx/secrets' } });
  admin = await signHs256(SHARED_SECRET, userClaims('admin', ['system.admin']));
  tenant = await signHs256(SHARED_SECRET, userClaims('tenant-a'));
  stack.writeSecret('pwx/outside/x', admin);
  stack.writeSecret('pwx/secrets/tenant-a/tok', tenant);
  const secrets = path.join(stack.dir, 'secrets');
  symlinkSync('../../outside', path.join(secrets, 'pwx/secrets/tenant-a/lnk'));
  mkdirSync(path.join(secrets, 'pwx/secrets/tenant-b'), { recursive: true });
  symlinkSync('../tenant-a/tok', path.join(secrets, 'pwx/secrets/tenant-b/alias'));
});

afterAll(async () => {
  await stack?.close();
});

const reachedPxd = (volume: string) => stack.pxd.requests.filter((r) => r.body.includes(volume));

describe('file store behind --secrets-base-path', () => {
  it('the stack is configured as the issue describes', () => {
    expect(stack.proxy.config.secretsBasePath).toBe('pwx/secrets');
    expect(stack.proxy.config.secrets).toMatchObject({ kind: 'file' });
    expect(ISSUER).toBe(userClaims('x').iss);
  });

  it('refuses a Create whose token_secret leads out of the base path through a symlink; pxd receives nothing', async () => {
    const r = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/tenant-a/lnk/x,name=a-lnk', Opts: {} });
    expect(r.status).toBe(200);
    expect(r.json.Err).toMatch(/^pxd-auth SECRET_PATH_OUTSIDE_BASE: /);
    expect(r.json.Err).toContain('pwx/secrets/tenant-a/lnk/x');
    expect(r.text).not.toContain(admin);
    expect(r.text).not.toContain(admin.split('.')[2]!);
    expect(reachedPxd('a-lnk')).toEqual([]);
    expect(stack.pxd.volumes.has('a-lnk')).toBe(false);
    expect(stack.pxd.lastToken('Create')).toBeUndefined();
  });

  it('refuses a Mount through the same symlink, and never logs the token', async () => {
    const r = await stack.call('VolumeDriver.Mount', { Name: 'token_secret=pwx/secrets/tenant-a/lnk/x,name=a-lnk', ID: 'c1'.repeat(32) });
    expect(r.json.Err).toMatch(/SECRET_PATH_OUTSIDE_BASE/);
    expect(reachedPxd('a-lnk')).toEqual([]);
    const logs = stack.logs.join('');
    expect(logs).not.toContain(admin);
    expect(logs).not.toContain(admin.split('.')[2]!);
  });

  it('still serves tokens under the base path, symlinks that stay inside included', async () => {
    const a = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/tenant-a/tok,name=a-ok', Opts: {} });
    expect(a.json.Err).toBe('');
    const b = await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/secrets/tenant-b/alias,name=b-ok', Opts: {} });
    expect(b.json.Err).toBe('');
    expect(stack.pxd.volumes.has('a-ok')).toBe(true);
    expect(stack.pxd.volumes.has('b-ok')).toBe(true);
    expect(stack.pxd.lastToken('Create')).toBe(tenant);
  });
});
