import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/config/load.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-cfg-'));
const base = { secrets: 'file:/tmp/x', jwtIssuer: 'portworx.com', jwtSharedSecret: 'a-shared-secret-of-some-length' };

describe('loadConfig', () => {
  it('applies pxd defaults', () => {
    const { config, problems } = loadConfig({ flags: base, env: {} });
    expect(problems).toEqual([]);
    expect(config!.socket).toBe('/run/docker/plugins/pxd-auth.sock');
    expect(config!.backend).toEqual({ kind: 'unix', socketPath: '/run/docker/plugins/pxd.sock' });
    expect(config!.mountsRoot).toBe('/var/lib/osd/mounts');
    expect(config!.verifier.clockToleranceSec).toBe(0);
    expect(config!.verifier.requiredClaims).toEqual(['iss', 'sub', 'exp', 'iat', 'name', 'email']);
    expect(config!.policy.roles['system.view']).toEqual([]);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config!.verifier.issuers)).toBe(true);
  });

  it('takes flags over environment over YAML', () => {
    const yamlFile = path.join(dir, 'prec.yaml');
    writeFileSync(yamlFile, 'socket: /yaml.sock\nmountsRoot: /yaml/mounts\nbackendTimeout: 30\n');
    const { config } = loadConfig({
      flags: { ...base, config: yamlFile, socket: '/flag.sock' },
      env: { PXD_AUTH_SOCKET: '/env.sock', PXD_AUTH_MOUNTS_ROOT: '/env/mounts' },
    });
    expect(config!.socket).toBe('/flag.sock');
    expect(config!.mountsRoot).toBe('/env/mounts');
    expect(config!.backendTimeoutMs).toBe(30_000);
  });

  it('trusts keys given without --jwt-issuer for openstorage.io, as osd does', () => {
    const { config, problems } = loadConfig({
      flags: { secrets: 'file:/x' },
      env: { PORTWORX_AUTH_JWT_SHAREDSECRET: 'portworx-env-secret-12' },
    });
    expect(problems).toEqual([]);
    expect(config!.verifier.issuers.map((i) => i.name)).toEqual(['openstorage.io']);
  });

  it('reads the shared secret from the pxd environment names', () => {
    const { config } = loadConfig({
      flags: { secrets: 'file:/x', jwtIssuer: 'p' },
      env: { OPENSTORAGE_AUTH_SHAREDSECRET: 'from-openstorage-env-1234' },
    });
    expect(config!.verifier.issuers[0]!.sharedSecret).toBe('from-openstorage-env-1234');
    const both = loadConfig({
      flags: { secrets: 'file:/x', jwtIssuer: 'p' },
      env: { PORTWORX_AUTH_JWT_SHAREDSECRET: 'portworx-env-secret-12', OPENSTORAGE_AUTH_SHAREDSECRET: 'ignored-env-secret-123' },
    });
    expect(both.config!.verifier.issuers[0]!.sharedSecret).toBe('portworx-env-secret-12');
  });

  it('reports every problem at once, never echoing a secret', () => {
    const rsa = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ecFile = path.join(dir, 'ec.pem');
    writeFileSync(ecFile, rsa.publicKey.export({ type: 'spki', format: 'pem' }));
    const { config, problems, warnings } = loadConfig({
      flags: {
        backend: 'http://nope',
        secrets: 'vault',
        usernameClaim: 'uid',
        clockTolerance: 'soon',
        jwtIssuer: 'p',
        jwtSharedSecret: 'tiny-s3cr',
        jwtRsaPubkeyFile: ecFile,
        logLevel: 'loud',
      },
      env: {},
    });
    expect(config).toBeUndefined();
    const text = problems.join('\n');
    expect(text).toMatch(/--backend: "http:\/\/nope" is neither/);
    expect(text).toMatch(/--secrets: "vault" is neither dcos nor file/);
    expect(text).toMatch(/--username-claim: must be sub, email or name/);
    expect(text).toMatch(/--clock-tolerance: expected a whole number/);
    // A short shared secret is no problem (pxd accepts it): a warning, which never quotes it either.
    expect(text).not.toMatch(/shared secret/);
    expect(warnings!.map((w) => w.text).join('\n')).toMatch(/^--jwt-shared-secret: issuer p: the shared secret is shorter than 16/);
    expect(text).toMatch(/holds an ec key, expected an RSA public key/);
    expect(text).toMatch(/--log-level/);
    expect(text + JSON.stringify(warnings)).not.toContain('tiny-s3cr');
  });

  it('rejects unknown YAML keys (a typo must not switch a check off)', () => {
    const yamlFile = path.join(dir, 'typo.yaml');
    writeFileSync(yamlFile, 'issuers:\n  - name: a\n    sharedSecret: 0123456789abcdef0\n    usernameClaim: sub\npolicy:\n  rolez: {}\n');
    const { problems } = loadConfig({ flags: { secrets: 'file:/x', config: yamlFile }, env: {} });
    expect(problems.join('\n')).toMatch(/policy: Unrecognized key.*rolez/);
  });

  describe('the YAML dcos: section', () => {
    const dcosYaml = (extra: string): string => {
      const file = path.join(dir, `dcos-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(
        file,
        [
          'secrets: dcos',
          'jwtIssuer: portworx.com',
          'jwtSharedSecret: a-shared-secret-of-some-length',
          'dcos:',
          '  DCOS_CLUSTER_URL: https://127.0.0.1:1',
          '  DCOS_SECRETS_USERNAME: alice',
          extra,
        ].join('\n'),
      );
      return file;
    };
    const login = { DCOS_SECRETS_PASSWORD: 'pw-from-the-env' };

    it('takes DCOS_SECRETS_BASE_PATH from it, below the environment and the flags', () => {
      const file = dcosYaml('  DCOS_SECRETS_BASE_PATH: /pwx/secrets/');
      const fromYaml = loadConfig({ flags: { config: file }, env: login });
      expect(fromYaml.problems).toEqual([]);
      expect(fromYaml.config!.secretsBasePath).toBe('pwx/secrets');
      const fromEnv = loadConfig({ flags: { config: file }, env: { ...login, DCOS_SECRETS_BASE_PATH: 'env/base' } });
      expect(fromEnv.config!.secretsBasePath).toBe('env/base');
      const fromFlag = loadConfig({
        flags: { config: file, secretsBasePath: 'flag/base' },
        env: { ...login, DCOS_SECRETS_BASE_PATH: 'env/base' },
      });
      expect(fromFlag.config!.secretsBasePath).toBe('flag/base');
    });

    it('checks the base path given there like any other', () => {
      const { problems } = loadConfig({ flags: { config: dcosYaml('  DCOS_SECRETS_BASE_PATH: ../up') }, env: login });
      expect(problems.join('\n')).toMatch(/dcos\.DCOS_SECRETS_BASE_PATH: "\.\.\/up" is not a clean secret path/);
    });

    it('refuses two different base paths in the same file', () => {
      const file = dcosYaml('  DCOS_SECRETS_BASE_PATH: pwx/secrets\nsecretsBasePath: other/path');
      expect(loadConfig({ flags: { config: file }, env: login }).problems).toEqual([
        expect.stringMatching(/secretsBasePath and dcos\.DCOS_SECRETS_BASE_PATH differ/),
      ]);
      const same = dcosYaml('  DCOS_SECRETS_BASE_PATH: pwx/secrets\nsecretsBasePath: pwx/secrets');
      expect(loadConfig({ flags: { config: same }, env: login }).config!.secretsBasePath).toBe('pwx/secrets');
    });

    it('refuses a key that is not a DC/OS setting, naming it and the known ones', () => {
      const { config, problems } = loadConfig({ flags: { config: dcosYaml('  DCOS_SECRETS_PASWORD_TYPO: x') }, env: login });
      expect(config).toBeUndefined();
      const line = problems.find((p) => p.includes('DCOS_SECRETS_PASWORD_TYPO'));
      expect(line).toMatch(
        /dcos\.DCOS_SECRETS_PASWORD_TYPO: not a DC\/OS setting; known: DCOS_CLUSTER_URL, .*DCOS_SECRETS_PASSWORD_FILE, .*DCOS_SECRETS_BASE_PATH/,
      );
      expect(problems.join('\n')).not.toContain('pw-from-the-env');
    });
  });

  it('loads several issuers, roles and bindings from YAML', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = path.join(dir, 'rsa.pem');
    writeFileSync(pem, publicKey.export({ type: 'spki', format: 'pem' }));
    const yamlFile = path.join(dir, 'multi.yaml');
    writeFileSync(
      yamlFile,
      [
        'issuers:',
        '  - name: portworx.com',
        '    sharedSecret: 0123456789abcdef0123',
        '  - name: corp.example.com',
        `    rsaPublicKeyFile: ${pem}`,
        '    usernameClaim: email',
        'policy:',
        '  roles:',
        '    system.view: [mount]',
        '  bindings:',
        '    - secretPrefix: /pwx/secrets/tenant-a/',
        '      volumes: ["a-*"]',
      ].join('\n'),
    );
    const { config, problems } = loadConfig({ flags: { secrets: 'file:/x', config: yamlFile }, env: {} });
    expect(problems).toEqual([]);
    expect(config!.verifier.issuers.map((i) => i.name)).toEqual(['portworx.com', 'corp.example.com']);
    expect(config!.verifier.issuers[1]!.usernameClaim).toBe('email');
    expect(config!.policy.roles['system.view']).toEqual(['mount']);
    expect(config!.policy.roles['system.admin']).toEqual(['create', 'remove', 'mount']);
    expect(config!.policy.bindings).toEqual([{ secretPrefix: 'pwx/secrets/tenant-a', volumes: ['a-*'] }]);
  });

  it('resolves volumeSecrets under the base path and reports a bad one', () => {
    const good = path.join(dir, 'vs.yaml');
    writeFileSync(good, 'volumeSecrets:\n  - volumes: ["a-*", "b"]\n    tokenSecret: tenant-a/token\n');
    const { config } = loadConfig({ flags: { ...base, config: good, secretsBasePath: '/pwx/secrets/' }, env: {} });
    expect(config!.volumeSecrets).toEqual([{ volumes: ['a-*', 'b'], secretPath: 'pwx/secrets/tenant-a/token' }]);
    const bad = path.join(dir, 'vs-bad.yaml');
    writeFileSync(bad, 'volumeSecrets:\n  - volumes: ["a-*"]\n    tokenSecret: ../escape\n');
    expect(loadConfig({ flags: { ...base, config: bad }, env: {} }).problems.join('\n')).toMatch(/volumeSecrets\[0\]\.tokenSecret: .*\.\./);
  });

  it('derives the mounts root of the local backend', () => {
    const { config } = loadConfig({ flags: { ...base, backend: 'local:/srv/vols' }, env: {} });
    expect(config!.backend).toEqual({ kind: 'local', dir: '/srv/vols' });
    expect(config!.mountsRoot).toBe('/srv/vols/mounts');
  });
});
