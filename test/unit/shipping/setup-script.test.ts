/**
 * plugin/dcos/setup-service-account.sh: valid bash, strict mode, and — run against a stand-in `dcos`
 * that records its arguments — the dcos security commands of the DC/OS docs, in order, with the names
 * the Marathon app expects.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readRepo, repoPath, tempDir } from './files.js';

const SCRIPT = 'plugin/dcos/setup-service-account.sh';
const dir = tempDir('pxa-shipping-script-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A stand-in for the DC/OS CLI: logs each call, remembers created accounts, writes key files.
const FAKE_DCOS = `#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$DCOS_LOG"
case "$1 $2 $3 $4" in
  "security org service-accounts show") [ -e "$DCOS_STATE/account-$5" ] || { echo "unknown user" >&2; exit 1; } ;;
  "security org service-accounts create") for a; do last=$a; done; touch "$DCOS_STATE/account-$last" ;;
  "security org service-accounts keypair") echo private > "$5"; echo public > "$6" ;;
esac
exit 0
`;

function run(name: string, env: Record<string, string>): { status: number | null; stderr: string; calls: string[]; cwd: string } {
  const cwd = path.join(dir, name);
  const bin = path.join(cwd, 'bin');
  const state = path.join(cwd, 'state');
  spawnSync('mkdir', ['-p', bin, state]);
  writeFileSync(path.join(bin, 'dcos'), FAKE_DCOS);
  chmodSync(path.join(bin, 'dcos'), 0o755);
  const log = path.join(cwd, 'dcos.log');
  writeFileSync(log, '');
  const r = spawnSync('bash', [repoPath(SCRIPT)], {
    cwd,
    env: { PATH: `${bin}:${process.env.PATH}`, HOME: cwd, DCOS_LOG: log, DCOS_STATE: state, ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stderr: r.stderr, calls: readFileSync(log, 'utf8').split('\n').filter(Boolean), cwd };
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
    const calls = r.calls.filter((c) => c !== 'security --help' && !c.startsWith('security org service-accounts show'));
    expect(calls).toEqual([
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

  it('changes nothing when the account exists already', () => {
    const first = run('twice', {});
    expect(first.status).toBe(0);
    const state = path.join(first.cwd, 'state');
    const second = spawnSync('bash', [repoPath(SCRIPT)], {
      cwd: first.cwd,
      env: {
        PATH: `${path.join(first.cwd, 'bin')}:${process.env.PATH}`,
        HOME: first.cwd,
        DCOS_LOG: path.join(first.cwd, 'again.log'),
        DCOS_STATE: state,
        KEY_DIR: 'other',
      },
      encoding: 'utf8',
    });
    expect(second.status).not.toBe(0);
    expect(second.stderr).toMatch(/service account pxd-auth-proxy exists already/);
    const calls = readFileSync(path.join(first.cwd, 'again.log'), 'utf8');
    expect(calls).not.toMatch(/keypair|create|grant/);
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
