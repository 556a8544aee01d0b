/**
 * A tool needs only the settings of its job (`needsSecretStore: false`), and a broken YAML file is
 * reported alone, with its file and line, without the problems that would follow from its absence.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/config/load.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-tool-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SECRET = 'a-shared-secret-of-at-least-32-bytes-0123456789';

function yaml(name: string, lines: string[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** An agent's file with DC/OS-only settings: the fleet document, the references folder, the dcos: section. */
const dcosAgent = yaml('dcos-agent.yaml', [
  'secrets: dcos',
  'fleetConfig: pxd-auth-proxy/fleet',
  'referencesPath: pxd-auth-proxy/volumes',
  'secretsBasePath: pwx/secrets',
  'dcos:',
  '  DCOS_CLUSTER_URL: https://master.mesos',
  '  DCOS_SECRETS_CA_CERT_FILE: /no/such/ca.crt',
  'issuers:',
  '  - name: portworx.com',
  `    sharedSecret: ${SECRET}`,
  'policy:',
  '  bindings:',
  '    - secretPrefix: tenant-a',
  '      volumes: ["a-*"]',
]);

describe('needsSecretStore: false', () => {
  it('loads an agent file with DC/OS settings and a fleet document, though no DC/OS login is configured', () => {
    // The secret store's view of the same file: its login is missing, its CA file too.
    const full = loadConfig({ flags: { config: dcosAgent }, env: {} });
    expect(full.config).toBeUndefined();
    expect(full.problems.join('\n')).toMatch(/no DC\/OS login/);

    const { config, problems } = loadConfig({ flags: { config: dcosAgent }, env: {}, needsSecretStore: false });
    expect(problems).toEqual([]);
    expect(config!.verifier.issuers.map((i) => i.name)).toEqual(['portworx.com']);
    // What the tool does need is read as always: bindings under the base path.
    expect(config!.policy.bindings).toEqual([{ secretPrefix: 'pwx/secrets/tenant-a', volumes: ['a-*'] }]);
    expect(config).not.toHaveProperty('secrets');
    expect(config).not.toHaveProperty('fleetConfig');
    expect(config).not.toHaveProperty('referencesPath');
  });

  it('neither reads nor checks the store settings themselves', () => {
    const { problems } = loadConfig({
      flags: { jwtIssuer: 'p', jwtSharedSecret: SECRET, secrets: 'vault', fleetConfig: '../up' },
      env: { PXD_AUTH_DCOS_TIMEOUT: '999' },
      needsSecretStore: false,
    });
    expect(problems).toEqual([]);
  });

  it('still checks the settings of the job: the issuers', () => {
    const { problems } = loadConfig({ flags: { config: dcosAgent, jwtRsaPubkeyFile: '/no/such.pem' }, env: {}, needsSecretStore: false });
    expect(problems).toEqual([expect.stringMatching(/^--jwt-rsa-pubkey-file: cannot read the file \/no\/such\.pem/)]);
  });
});

describe('a broken YAML file', () => {
  const follow = /no DC\/OS login|no trusted issuer/;

  it('that does not parse: its problem alone, with the file and line', () => {
    const file = yaml('syntax.yaml', ['secrets: dcos', 'issuers:', '  - name: p', `    sharedSecret: ${SECRET}`, '  bad: [', '']);
    const { config, problems, basics } = loadConfig({ flags: { config: file }, env: {} });
    expect(config).toBeUndefined();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${file}: not valid YAML \\(.*at line \\d+, column \\d+`));
    expect(problems[0]).not.toContain(SECRET);
    // The socket and the backend are still known (doctor checks them), from the flags, environment and defaults.
    expect(basics).toMatchObject({
      socket: '/run/docker/plugins/pxd-auth.sock',
      backendUrl: 'unix:///run/docker/plugins/pxd.sock',
      withoutFile: true,
    });
  });

  it('with the wrong types: each problem with its line, and no follow-on problems', () => {
    const file = yaml('types.yaml', [
      'secrets: dcos',
      'issuers: portworx.com',
      'dcos:',
      '  - DCOS_CLUSTER_URL',
      'policy:',
      '  strict: "yes"',
    ]);
    const { config, problems } = loadConfig({ flags: { config: file }, env: {} });
    expect(config).toBeUndefined();
    expect(problems).toEqual([
      `${file}:2: issuers: Invalid input: expected array, received string`,
      `${file}:6: policy.strict: Invalid input: expected boolean, received string`,
      // The line of the wrong value.
      `${file}:4: dcos: Invalid input: expected record, received array`,
    ]);
    expect(problems.join('\n')).not.toMatch(follow);
  });

  it('that is not a mapping, or cannot be read: its problem alone', () => {
    const list = yaml('list.yaml', ['- a', '- b']);
    expect(loadConfig({ flags: { config: list }, env: {} }).problems).toEqual([
      `${list}:1: (top level): Invalid input: expected object, received array`,
    ]);
    const missing = path.join(dir, 'missing.yaml');
    expect(loadConfig({ flags: { config: missing }, env: {} }).problems).toEqual([`--config: cannot read the file ${missing} (ENOENT)`]);
  });
});
