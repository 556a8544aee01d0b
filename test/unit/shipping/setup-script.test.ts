/**
 * plugin/dcos/setup-service-account.sh: valid bash, strict mode, and — run against a stand-in `dcos`
 * that records its arguments — the dcos security commands of the DC/OS docs, in order, with the names
 * the Marathon app expects.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readRepo, repoPath, tempDir } from './files.js';
import { calls, dcosState, fakeDcos, runWithFake, type DcosState, type FakeDcos } from './fake-dcos.js';

const SCRIPT = 'plugin/dcos/setup-service-account.sh';
const dir = tempDir('pxa-shipping-script-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(name: string, env: Record<string, string>): { status: number | null; stderr: string; calls: string[]; cwd: string } {
  const fake = fakeDcos(path.join(dir, name));
  const r = runWithFake(fake, repoPath(SCRIPT), env);
  return { status: r.status, stderr: r.stderr, calls: calls(fake), cwd: fake.cwd };
}

const marathon = JSON.parse(readRepo('plugin/dcos/pxd-auth-proxy.marathon.json')) as {
  env: Record<string, unknown>;
  secrets: Record<string, { source: string }>;
};
const secretOf = (envName: string) => marathon.secrets[(marathon.env[envName] as { secret: string }).secret]!.source;

describe(SCRIPT, () => {
  it('is valid bash, in strict mode, and executable', () => {
    const r = spawnSync('bash', ['-n', repoPath(SCRIPT)], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const text = readRepo(SCRIPT);
    expect(text.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    expect(text).toMatch(/^set -euo pipefail$/m);
    expect(statSync(repoPath(SCRIPT)).mode & 0o111).not.toBe(0);
  });

  it("creates the key pair, the account, the credential secret, the read grant and the references grant, with the Marathon app's names", () => {
    writeFileSync(path.join(dir, 'shared-secret'), 'a-shared-secret-for-the-test\n');
    const r = run('defaults', { SHARED_SECRET_FILE: path.join(dir, 'shared-secret') });
    expect(r.status, r.stderr).toBe(0);
    const keys = './pxd-auth-proxy-keys';
    const changes = r.calls.filter(
      (c) => c !== 'security --help' && !c.startsWith('security org service-accounts show') && !c.startsWith('security secrets get'),
    );
    expect(changes).toEqual([
      `security org service-accounts keypair ${keys}/private-key.pem ${keys}/public-key.pem`,
      `security org service-accounts create -p ${keys}/public-key.pem -d pxd-auth-proxy: reads token secrets under /pwx/secrets pxd-auth-proxy`,
      `security secrets create-sa-secret --strict ${keys}/private-key.pem pxd-auth-proxy ${secretOf('DCOS_SERVICE_ACCOUNT_CREDENTIAL')}`,
      'security org users grant pxd-auth-proxy dcos:secrets:default:/pwx/secrets/* read',
      'security org users grant pxd-auth-proxy dcos:secrets:default:/pxd-auth-proxy/volumes/* full',
      'security org users grant pxd-auth-proxy dcos:secrets:default:/pxd-auth-proxy/fleet read',
      `security secrets create --value=a-shared-secret-for-the-test ${secretOf('PORTWORX_AUTH_JWT_SHAREDSECRET')}`,
    ]);
    // The private key is written under umask 077.
    expect(statSync(path.join(r.cwd, keys, 'private-key.pem')).mode & 0o077).toBe(0);
    expect(statSync(path.join(r.cwd, keys)).mode & 0o077).toBe(0);
  });

  it('takes its parameters from the environment', () => {
    const r = run('params', {
      SERVICE_ACCOUNT: 'px-proxy',
      SECRETS_BASE_PATH: '/acme/pwx/',
      REFERENCES_PATH: '/acme/px-refs/',
      CREDENTIAL_SECRET: 'px-proxy/cred',
      KEY_DIR: 'k',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls).toContain('security org users grant px-proxy dcos:secrets:default:/acme/pwx/* read');
    expect(r.calls).toContain('security org users grant px-proxy dcos:secrets:default:/acme/px-refs/* full');
    expect(r.calls).toContain('security secrets create-sa-secret --strict k/private-key.pem px-proxy px-proxy/cred');
    expect(r.calls.some((c) => c.startsWith('security secrets create --value'))).toBe(false);
  });

  it('keeps an account that exists with its credential: no new key, account or credential', () => {
    const first = run('twice', {});
    expect(first.status).toBe(0);
    const fake = fakeDcos(first.cwd);
    const second = runWithFake(fake, repoPath(SCRIPT), { KEY_DIR: 'other' });
    expect(second.status, second.stderr).toBe(0);
    const again = calls(fake).join('\n');
    expect(again).not.toMatch(/keypair|service-accounts create|create-sa-secret|secrets delete/);
    expect(second.stdout).toMatch(/The service account pxd-auth-proxy exists: kept/);
  });

  it('grants nothing on a references folder with REFERENCES_PATH=none', () => {
    const r = run('norefs', { REFERENCES_PATH: 'none', FLEET_CONFIG: 'none' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls.filter((c) => c.includes(' grant '))).toEqual([
      'security org users grant pxd-auth-proxy dcos:secrets:default:/pwx/secrets/* read',
    ]);
  });

  it.each([
    ['empty (full on the whole store)', '/', /REFERENCES_PATH is empty/],
    ['the base path', 'pwx/secrets', /REFERENCES_PATH=pwx\/secrets overlaps pwx\/secrets/],
    ['above the base path', 'pwx', /REFERENCES_PATH=pwx overlaps pwx\/secrets/],
    ['inside the base path', 'pwx/secrets/volumes', /overlaps pwx\/secrets/],
    ["around the proxy's own credential", 'pxd-auth-proxy', /overlaps pxd-auth-proxy\/service-account-secret/],
  ])('refuses a references folder %s, before changing anything', (_what, folder, message) => {
    const r = run(`refs-${folder.replace(/\W/g, '_')}`, { REFERENCES_PATH: folder });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.calls.join('\n')).not.toMatch(/keypair|create|grant/);
  });

  it('refuses an empty base path (the proxy must not read the whole store)', () => {
    const r = run('nobase', { SECRETS_BASE_PATH: '/' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/SECRETS_BASE_PATH is empty/);
    expect(r.calls.join('\n')).not.toMatch(/grant/);
  });
});

describe(`${SCRIPT} run again`, () => {
  const shared = path.join(dir, 'shared-secret-again');
  writeFileSync(shared, 'another-shared-secret-for-the-test\n');
  const env = { SHARED_SECRET_FILE: shared };
  const changesOf = (fake: FakeDcos) => readFileSync(path.join(fake.state, 'changes'), 'utf8').split('\n').filter(Boolean);

  /** What must hold at the end, whatever the history: the account's key is the one in its credential. */
  function expectConsistent(state: DcosState): void {
    const credential = JSON.parse(state.secrets['pxd-auth-proxy/service-account-secret']!) as { uid: string; private_key: string };
    expect(credential.uid).toBe('pxd-auth-proxy');
    expect(state.accounts['pxd-auth-proxy']!.trim()).toBe(credential.private_key.trim().replace(/^PRIVATE/, 'PUBLIC'));
  }

  const reference = fakeDcos(path.join(dir, 'again-reference'));
  const first = runWithFake(reference, repoPath(SCRIPT), env);
  const expected = dcosState(reference);
  const steps = changesOf(reference);

  it('a full run creates the account, its credential, the shared secret and three grants', () => {
    expect(first.status, first.stderr).toBe(0);
    expect(Object.keys(expected.accounts)).toEqual(['pxd-auth-proxy']);
    expect(Object.keys(expected.secrets).sort()).toEqual(['pxd-auth-proxy/jwt-shared-secret', 'pxd-auth-proxy/service-account-secret']);
    expect(expected.grants).toEqual([
      'pxd-auth-proxy dcos:secrets:default:/pwx/secrets/* read',
      'pxd-auth-proxy dcos:secrets:default:/pxd-auth-proxy/fleet read',
      'pxd-auth-proxy dcos:secrets:default:/pxd-auth-proxy/volumes/* full',
    ]);
    expectConsistent(expected);
    expect(steps).toHaveLength(7);
  });

  it('a second run over a complete setup changes nothing and succeeds', () => {
    const again = runWithFake(reference, repoPath(SCRIPT), env);
    expect(again.status, again.stderr).toBe(0);
    expect(changesOf(reference)).toEqual(steps);
    expect(dcosState(reference)).toEqual(expected);
  });

  it.each(steps.map((step, i) => [i + 1, step] as const))('fails at change %i (%s), then a re-run completes the same setup', (n) => {
    const fake = fakeDcos(path.join(dir, `again-fail-${n}`));
    const failed = runWithFake(fake, repoPath(SCRIPT), { ...env, DCOS_FAIL_AT: String(n) });
    expect(failed.status).not.toBe(0);
    const rerun = runWithFake(fake, repoPath(SCRIPT), env);
    expect(rerun.status, rerun.stderr).toBe(0);
    expect(rerun.stderr).toBe('');
    const state = dcosState(fake);
    expect(Object.keys(state.accounts)).toEqual(Object.keys(expected.accounts));
    expect(Object.keys(state.secrets).sort()).toEqual(Object.keys(expected.secrets).sort());
    expect(state.secrets['pxd-auth-proxy/jwt-shared-secret'] === expected.secrets['pxd-auth-proxy/jwt-shared-secret']).toBe(true);
    expect(state.grants).toEqual(expected.grants);
    expectConsistent(state);
    // Nothing was created twice: every change after the failure is one the first run had not made.
    const made = changesOf(fake).filter((_, i) => i !== n - 1);
    expect(new Set(made).size).toBe(made.length);
    expect([...made].sort()).toEqual([...steps].sort());
  });

  it('replaces a credential left by an earlier account of the same name', () => {
    const fake = fakeDcos(path.join(dir, 'again-stale-credential'));
    expect(runWithFake(fake, repoPath(SCRIPT), env).status).toBe(0);
    // The account is deleted (as in "Rotating the key") but its credential is not; a new key is made.
    expect(
      spawnSync('dcos', ['security', 'org', 'service-accounts', 'delete', 'pxd-auth-proxy'], { env: { ...process.env, ...fake.env } })
        .status,
    ).toBe(0);
    const r = runWithFake(fake, repoPath(SCRIPT), { ...env, KEY_DIR: 'new-keys' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/replacing it/);
    expectConsistent(dcosState(fake));
  });

  it('stops, naming the way out, when the account exists without its credential or key', () => {
    const fake = fakeDcos(path.join(dir, 'again-no-key'));
    expect(runWithFake(fake, repoPath(SCRIPT), { ...env, DCOS_FAIL_AT: '3' }).status).not.toBe(0); // keypair, account; the credential failed
    const r = runWithFake(fake, repoPath(SCRIPT), { ...env, KEY_DIR: 'elsewhere' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(
      /exists, but neither the secret pxd-auth-proxy\/service-account-secret nor its private key .*KEY_DIR.*service-accounts delete pxd-auth-proxy/,
    );
    expect(changesOf(fake)).toHaveLength(3);
  });
});
