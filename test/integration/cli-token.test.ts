// The real CLI (the shipped bundle in dist/bin): `npm run build` first.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/proxy-process.js';

const SECRET = 'a-shared-secret-of-at-least-32-bytes-0123456789';

/** Run the bin with only PATH in its environment (no DC/OS login, no secret store settings). */
function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

let dir: string;
let authConfig: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-cli-token-'));
  authConfig = path.join(dir, 'auth.yaml');
  writeFileSync(authConfig, 'name: alice\nemail: alice@example.com\nsub: alice\nroles: [system.admin]\ngroups: [ops]\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** Not this machine's /etc/pxd-auth-proxy, should it have one. */
const noInstall = () => ['--installed-config-dir', path.join(dir, 'not-installed')];

describe('token check --token', () => {
  it('needs no secret store: the DC/OS login is not asked for', async () => {
    const gen = await run(['token', 'generate', '--auth-config', authConfig, '--issuer', 'test-issuer', '--shared-secret', SECRET]);
    expect(gen.stderr).toBe('');
    expect(gen.code).toBe(0);
    const jwt = gen.stdout.trim();

    const r = await run(['token', 'check', '--token', jwt, '--jwt-issuer', 'test-issuer', '--jwt-shared-secret', SECRET, ...noInstall()]);
    expect(r.stderr).not.toMatch(/DC\/OS login/);
    expect(r.stdout).toMatch(/^ok +signature and claims/m);
    expect(r.stdout).toMatch(/allowed: mount/);
    expect(r.code).toBe(0);
  });

  it('still needs the secret store for --secret, which reads a secret', async () => {
    const r = await run([
      'token',
      'check',
      '--secret',
      'pwx/alice',
      '--jwt-issuer',
      'test-issuer',
      '--jwt-shared-secret',
      SECRET,
      ...noInstall(),
    ]);
    expect(r.stderr).toMatch(/no DC\/OS login is configured/);
    expect(r.code).toBe(1);
  });
});

describe('command-line mistakes', () => {
  it('a mistyped flag prints the suggestion and one line on where to find help, not the whole help', async () => {
    const r = await run(['token', 'check', '--tokn', 'x']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown option '--tokn'/);
    expect(r.stderr).toMatch(/Did you mean --token\?/);
    expect(r.stderr).toMatch(/pxd-auth-proxy token check --help/);
    expect(r.stderr).not.toMatch(/Usage:/);
    expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(3);
  });

  it('a mistyped flag of the default command points to the top-level help', async () => {
    const r = await run(['--socet', '/tmp/x.sock']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Did you mean --socket\?/);
    expect(r.stderr).toMatch(/pxd-auth-proxy --help/);
    expect(r.stderr).not.toMatch(/Usage:/);
    expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(3);
  });

  it('token generate with a missing file names the option, not a raw ENOENT', async () => {
    const missing = path.join(dir, 'nope.yaml');
    const r = await run(['token', 'generate', '--auth-config', missing, '--shared-secret', SECRET]);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/ENOENT/);
    expect(r.stderr).toContain(`--auth-config ${missing}: no such file`);
  });

  it('token generate with a missing key file names that option', async () => {
    const missing = path.join(dir, 'nope.pem');
    const r = await run(['token', 'generate', '--auth-config', authConfig, '--rsa-private-keyfile', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/ENOENT/);
    expect(r.stderr).toContain(`--rsa-private-keyfile ${missing}: no such file`);
  });
});
