/** The one option table and the one schema built from it. */
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OPTIONS, SERVE_OPTIONS, optionFix } from '../../../src/config/options.js';
import { optionsSchema } from '../../../src/config/schema.js';
import { loadConfig } from '../../../src/config/load.js';
import { runDoctor } from '../../../src/cli/doctor.js';

describe('the option table', () => {
  it('names each setting once: flags, environment names and YAML keys are all distinct', () => {
    const names = OPTIONS.flatMap((o) => [o.flag?.split(' ')[0], ...o.env, ...o.yaml]).filter(Boolean);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    for (const o of OPTIONS) {
      expect(o.flag !== null || o.env.length > 0, o.key).toBe(true);
      // commander's attribute name is the camelCase of the flag, and the key of the checked values
      if (o.flag)
        expect(o.key).toBe(
          o.flag
            .split(' ')[0]!
            .slice(2)
            .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
        );
      expect(o.description.length, o.key).toBeGreaterThan(10);
    }
  });

  it('holds the DC/OS settings too, their YAML keys in the dcos: section', () => {
    const dcos = OPTIONS.filter((o) => o.group === 'dcos');
    expect(dcos.map((o) => o.env[0] ?? o.flag)).toContain('DCOS_SERVICE_ACCOUNT_CREDENTIAL');
    for (const o of dcos) expect(o.yaml).toEqual(o.env.map((e) => `dcos.${e}`));
    expect(SERVE_OPTIONS.every((o) => o.group === 'serve')).toBe(true);
  });

  it('keeps every default in the schema: parsing nothing gives what the reference shows and the loader uses', () => {
    const defaults = optionsSchema.parse({});
    for (const o of OPTIONS) {
      const d: unknown = defaults[o.key];
      if (d === undefined) continue;
      expect(o.defaultText.startsWith(Array.isArray(d) ? d.join(',') : String(d)), o.key).toBe(true);
    }
    const { config } = loadConfig({
      flags: { secrets: 'file:/x', jwtIssuer: 'p', jwtSharedSecret: 'a-shared-secret-of-some-length' },
      env: {},
    });
    expect(config!.socket).toBe(defaults.socket);
    expect(config!.backendUrl).toBe(defaults.backend);
    expect(config!.backendTimeoutMs).toBe(defaults.backendTimeout * 1000);
    expect(config!.verifier.cacheSize).toBe(defaults.tokenCacheSize);
    expect(config!.verifier.requiredClaims).toEqual(defaults.requiredClaims);
  });
});

describe('problems', () => {
  it('name where each value came from: --flag, ENV_NAME or <file>: key, all reported together', () => {
    const { problems } = loadConfig({
      flags: { secrets: 'file:/x', jwtIssuer: 'p', jwtSharedSecret: 'a-shared-secret-of-some-length', backendTimeout: '0' },
      env: { PXD_AUTH_SCOPE: 'cluster', PXD_AUTH_TOKEN_CACHE_SIZE: 'many', PXD_AUTH_LOG_PRETTY: 'perhaps' },
    });
    expect(problems).toEqual([
      '--backend-timeout: must be between 1 and 110 seconds (Docker gives up after 120)',
      'PXD_AUTH_SCOPE: must be global or local, got "cluster"',
      'PXD_AUTH_TOKEN_CACHE_SIZE: expected a whole number ≥ 0, got "many"',
      'PXD_AUTH_LOG_PRETTY: expected true or false, got "perhaps"',
    ]);
  });

  it('never echo a sensitive value (a short shared secret is a warning, naming its setting only)', () => {
    const { problems, warnings, config } = loadConfig({
      flags: { secrets: 'file:/x', jwtIssuer: 'p' },
      env: { PORTWORX_AUTH_JWT_SHAREDSECRET: 'short-s3cret' },
    });
    expect(problems).toEqual([]);
    expect(config!.verifier.issuers[0]!.sharedSecret).toBe('short-s3cret');
    expect(warnings).toEqual([
      {
        text: expect.stringMatching(
          /^PORTWORX_AUTH_JWT_SHAREDSECRET: issuer p: the shared secret is shorter than 16 characters, which is weak/,
        ),
        option: 'jwtSharedSecret',
      },
    ]);
    expect(JSON.stringify(warnings)).not.toContain('short-s3cret');
  });

  it("get a doctor fix from the option's row: its names, meaning and default", async () => {
    const r = loadConfig({
      flags: { secrets: 'file:/x', jwtIssuer: 'p', jwtSharedSecret: 'a-shared-secret-of-some-length' },
      env: { PXD_AUTH_BACKEND_TIMEOUT: '500' },
    });
    const checks = await runDoctor({ config: r.config, problems: r.problems, issues: r.issues });
    expect(checks).toEqual([
      {
        name: 'configuration',
        ok: false,
        detail: 'PXD_AUTH_BACKEND_TIMEOUT: must be between 1 and 110 seconds (Docker gives up after 120)',
        fix: optionFix('backendTimeout'),
      },
    ]);
    expect(optionFix('backendTimeout')).toBe(
      'correct --backend-timeout, PXD_AUTH_BACKEND_TIMEOUT or backendTimeout: in the YAML file ' +
        "(longest wait for one backend call (always kept inside Docker's own 1 and 2 minute limits); default: 90)",
    );
  });
});

describe('the loaded configuration', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-cfg-freeze-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is frozen all the way down, key objects still usable', () => {
    const key = path.join(dir, 'sa.pem');
    writeFileSync(key, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const { config, problems } = loadConfig({
      flags: { secrets: 'dcos', jwtIssuer: 'p', jwtSharedSecret: 'a-shared-secret-of-some-length' },
      env: { DCOS_SERVICE_ACCOUNT: 'sa', DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: key },
    });
    expect(problems).toEqual([]);
    const frozen = (o: unknown) => Object.isFrozen(o);
    expect(frozen(config)).toBe(true);
    expect(frozen(config!.verifier.requiredClaims)).toBe(true);
    expect(frozen(config!.verifier.issuers[0])).toBe(true);
    expect(frozen(config!.policy.roles)).toBe(true);
    expect(frozen(config!.policy.roles['system.admin'])).toBe(true);
    if (config!.secrets.kind !== 'dcos') throw new Error('expected dcos');
    expect(frozen(config!.secrets.dcos)).toBe(true);
    expect(frozen(config!.secrets.dcos.login)).toBe(true);
    const login = config!.secrets.dcos.login;
    expect(login.kind === 'service-account' && login.privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });
});
