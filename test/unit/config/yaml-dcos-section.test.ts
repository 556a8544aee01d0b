/**
 * Issue 13, bug 2: a bad value in the YAML `dcos:` section was reported under the environment
 * variable's name, without naming the file. It is now `<file>: dcos.<NAME>`, as any YAML key is;
 * the environment variable is named only when the value came from the environment.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/config/load.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-cfg-dcos-yaml-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function yaml(...dcosLines: string[]): string {
  const file = path.join(dir, `dcos-${++n}.yaml`);
  writeFileSync(
    file,
    [
      'secrets: dcos',
      'jwtIssuer: portworx.com',
      'jwtSharedSecret: a-shared-secret-of-some-length',
      'dcos:',
      '  DCOS_SECRETS_USERNAME: alice',
      ...dcosLines.map((l) => `  ${l}`),
    ].join('\n'),
  );
  return file;
}
const login = { DCOS_SECRETS_PASSWORD: 'pw-from-the-env' };

describe('a bad value in the YAML dcos: section', () => {
  it('is reported as <file>: dcos.<NAME>, for a number of seconds', () => {
    const file = yaml('PXD_AUTH_DCOS_TIMEOUT: 60');
    const { config, problems } = loadConfig({ flags: { config: file }, env: login });
    expect(config).toBeUndefined();
    expect(problems).toEqual([`${file}: dcos.PXD_AUTH_DCOS_TIMEOUT must be a number of seconds > 0 and ≤ 45`]);
  });

  it('is reported as <file>: dcos.<NAME>, for a URL and a file', () => {
    const file = yaml('DCOS_CLUSTER_URL: http://master.mesos', 'DCOS_SECRETS_CA_CERT_FILE: /nonexistent/ca.crt');
    const { problems } = loadConfig({ flags: { config: file }, env: login });
    expect(problems).toEqual([
      `${file}: dcos.DCOS_SECRETS_CA_CERT_FILE: cannot read the file /nonexistent/ca.crt (ENOENT)`,
      `${file}: dcos.DCOS_CLUSTER_URL must be an https:// URL (http:// only with --dcos-insecure)`,
    ]);
  });

  it('names both sources when the file and the environment give a login twice', () => {
    const file = yaml('DCOS_SECRETS_PASSWORD_FILE: /etc/pxd-auth-proxy/password');
    const { problems } = loadConfig({ flags: { config: file }, env: login });
    expect(problems).toEqual([`both DCOS_SECRETS_PASSWORD and ${file}: dcos.DCOS_SECRETS_PASSWORD_FILE are set: set only one`]);
  });

  it('names the environment variable when the environment gave the value (it wins over the file)', () => {
    const file = yaml('PXD_AUTH_DCOS_TIMEOUT: 10');
    const { problems } = loadConfig({ flags: { config: file }, env: { ...login, PXD_AUTH_DCOS_TIMEOUT: '60' } });
    expect(problems).toEqual(['PXD_AUTH_DCOS_TIMEOUT must be a number of seconds > 0 and ≤ 45']);
    const ok = loadConfig({ flags: { config: file }, env: login });
    expect(ok.problems).toEqual([]);
    expect(ok.config!.secrets.kind === 'dcos' && ok.config!.secrets.dcos.timeoutSec).toBe(10);
  });
});
