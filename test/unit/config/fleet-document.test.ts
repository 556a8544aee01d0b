/**
 * The fleet document in the loader: read with the YAML file's schema and checks, its sections in place
 * of the file's, anything else refused, every problem naming the document and never quoting a value.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type FleetDocument } from '../../../src/config/load.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-fleet-doc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECRET_IN_FILE = 'file-issuer-secret-0123456789';
const SECRET_IN_DOC = 'fleet-issuer-secret-0123456789';
const yamlFile = path.join(dir, 'agent.yaml');
writeFileSync(
  yamlFile,
  [
    'secretsBasePath: pwx/secrets',
    'issuers:',
    '  - name: file-issuer',
    `    sharedSecret: ${SECRET_IN_FILE}`,
    'policy:',
    '  strict: false',
    '  bindings:',
    '    - secretPrefix: tenant-file',
    '      volumes: ["f-*"]',
    'volumeSecrets:',
    '  - volumes: ["ucr-*"]',
    '    tokenSecret: file-token',
    '',
  ].join('\n'),
);

const NAME = 'fleet document pxd-auth-proxy/fleet';
const flags = { config: yamlFile, secrets: 'file:/tmp/x' };
const load = (text: string | undefined, extra: Record<string, unknown> = {}) =>
  loadConfig({
    flags: { ...flags, ...extra },
    env: {},
    ...(text === undefined ? {} : { fleet: { name: NAME, text } satisfies FleetDocument }),
  });

describe('the fleet document in loadConfig', () => {
  it("replaces the file's sections it holds, and keeps the others from the file", () => {
    const { config, problems } = load(
      ['policy:', '  strict: true', '  bindings:', '    - secretPrefix: tenant-a', '      volumes: ["a-*"]', ''].join('\n'),
    );
    expect(problems).toEqual([]);
    // The document's policy, read under the base path as the file's would be.
    expect(config!.policy.strict).toBe(true);
    expect(config!.policy.bindings).toEqual([{ secretPrefix: 'pwx/secrets/tenant-a', volumes: ['a-*'] }]);
    // Not in the document: the file's issuers and volumeSecrets.
    expect(config!.verifier.issuers.map((i) => i.name)).toEqual(['file-issuer']);
    expect(config!.volumeSecrets).toEqual([{ volumes: ['ucr-*'], secretPath: 'pwx/secrets/file-token' }]);
  });

  it('reads a JSON document too, issuers with their shared secret included', () => {
    const doc = JSON.stringify({
      issuers: [{ name: 'fleet-issuer', sharedSecret: SECRET_IN_DOC }],
      volumeSecrets: [{ volumes: ['pg-*'], tokenSecret: 'pg-token' }],
    });
    const { config, problems } = load(doc);
    expect(problems).toEqual([]);
    expect(config!.verifier.issuers.map((i) => [i.name, i.sharedSecret])).toEqual([['fleet-issuer', SECRET_IN_DOC]]);
    expect(config!.volumeSecrets).toEqual([{ volumes: ['pg-*'], secretPath: 'pwx/secrets/pg-token' }]);
    expect(config!.policy.bindings).toEqual([{ secretPrefix: 'pwx/secrets/tenant-file', volumes: ['f-*'] }]);
  });

  it("an empty document changes nothing: the file's sections apply", () => {
    const withDoc = load('');
    const without = load(undefined);
    expect(withDoc.problems).toEqual([]);
    expect(withDoc.config!.policy).toEqual(without.config!.policy);
    expect(withDoc.config!.verifier.issuers).toEqual(without.config!.verifier.issuers);
  });

  it('refuses any key outside policy, issuers and volumeSecrets, naming the document and the key', () => {
    const { config, problems } = load('socket: /tmp/other.sock\npolicy:\n  strict: true\ndcos:\n  DCOS_CLUSTER_URL: https://x\n');
    expect(config).toBeUndefined();
    expect(problems).toEqual([
      `${NAME}: socket: the fleet document holds only policy, issuers, volumeSecrets; set the other settings on each agent (flags, environment or the YAML file)`,
      `${NAME}: dcos: the fleet document holds only policy, issuers, volumeSecrets; set the other settings on each agent (flags, environment or the YAML file)`,
    ]);
  });

  it('checks the sections with the same schema and rules as the file', () => {
    const { config, problems } = load(
      [
        'policy:',
        '  bindings:',
        '    - secretPrefix: /elsewhere',
        '      volumes: ["x-*"]',
        'issuers:',
        '  - name: short',
        '    sharedSecret: too-short',
        '',
      ].join('\n'),
    );
    expect(config).toBeUndefined();
    expect(load('policy:\n  strict: "yes"\n').problems).toEqual([
      `${NAME}: policy.strict: Invalid input: expected boolean, received string`,
    ]);
    // A rule beyond the schema (the binding prefix under the base path) names the document too.
    expect(problems).toContainEqual(
      expect.stringMatching(new RegExp(`^${NAME}: policy.bindings\\[0\\].secretPrefix: .*outside the secrets base path`)),
    );
    // A short shared secret is accepted (pxd accepts it) with a warning naming the document, never the value.
    const short = load('issuers:\n  - name: short\n    sharedSecret: too-short\n');
    expect(short.problems).toEqual([]);
    expect(short.warnings!.map((w) => w.text)).toEqual([
      expect.stringMatching(new RegExp(`^${NAME}: issuers\\[0\\].sharedSecret: issuer short: the shared secret is shorter than 16`)),
    ]);
    expect(problems.join('\n') + JSON.stringify(short.warnings)).not.toContain('too-short');
  });

  it('refuses a document that does not parse without quoting it', () => {
    const { config, problems } = load(`issuers:\n  - name: x\n    sharedSecret: ${SECRET_IN_DOC}\n  bad: [\n`);
    expect(config).toBeUndefined();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${NAME}: not valid YAML \\(`));
    expect(problems[0]).not.toContain(SECRET_IN_DOC);
  });

  it('refuses a document that is not a mapping', () => {
    const { config, problems } = load('- policy\n- issuers\n');
    expect(config).toBeUndefined();
    expect(problems).toEqual([expect.stringMatching(new RegExp(`^${NAME}: \\(top level\\): `))]);
  });

  it('--fleet-config is a Secret Store path, read with the DC/OS store only', () => {
    const dcosOnly = loadConfig({ flags: { ...flags, fleetConfig: 'pxd-auth-proxy/fleet' }, env: {} });
    expect(dcosOnly.problems).toEqual(['--fleet-config: the fleet document is read from the DC/OS Secret Store: it needs --secrets dcos']);
    const bad = loadConfig({ flags: { ...flags, fleetConfig: '../fleet' }, env: {} });
    expect(bad.problems).toEqual(['--fleet-config: "../fleet" is not a clean secret path (letters, digits, _ . - and single /)']);
    const login = { DCOS_SECRETS_PASSWORD: 'p' };
    const dcos = { ...flags, secrets: 'dcos', dcosUsername: 'u', fleetConfig: 'pwx/secrets/fleet' };
    expect(loadConfig({ flags: dcos, env: login }).problems).toEqual([
      '--fleet-config: pwx/secrets/fleet overlaps the secrets base path pwx/secrets: keep the fleet document outside it',
    ]);
    expect(loadConfig({ flags: { ...dcos, fleetConfig: 'pxd-auth-proxy/volumes/fleet' }, env: login }).problems).toEqual([
      "--fleet-config: pxd-auth-proxy/volumes/fleet overlaps the volume records' folder pxd-auth-proxy/volumes: keep the fleet document outside it",
    ]);
    expect(loadConfig({ flags: { ...dcos, fleetConfig: 'pxd-auth-proxy/fleet' }, env: login }).config!.fleetConfig).toBe(
      'pxd-auth-proxy/fleet',
    );
    const interval = loadConfig({ flags, env: { PXD_AUTH_FLEET_CONFIG_INTERVAL: '0' } });
    expect(interval.problems).toEqual(['PXD_AUTH_FLEET_CONFIG_INTERVAL: must be between 1 and 86400 seconds']);
    expect(loadConfig({ flags, env: {} }).config).toMatchObject({ fleetConfigIntervalSec: 60 });
    expect(loadConfig({ flags, env: {} }).config!.fleetConfig).toBeUndefined();
  });
});
