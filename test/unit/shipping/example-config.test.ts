/**
 * plugin/pxd-auth-proxy.yaml and plugin/pxd-auth-proxy.env: they load in the real config loader, and
 * the YAML example documents every key the loader accepts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../../src/config/load.js';
import { SERVE_OPTIONS } from '../../../src/config/options.js';
import { bindingSchema, issuerSchema, policySchema, yamlSchema } from '../../../src/config/schema.js';
import { DCOS_OPTIONS } from '../../../src/config/options.js';
import { SHARED_SECRET, credentialJson, readRepo, repoPath, rsaPrivateKeyPem, tempDir, writeCaCert, writeFile } from './files.js';

const YAML_FILE = 'plugin/pxd-auth-proxy.yaml';
const ENV_FILE = 'plugin/pxd-auth-proxy.env';

const dir = tempDir('pxa-shipping-cfg-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const caFile = writeCaCert(dir);
const sharedSecretFile = writeFile(dir, 'shared-secret', `${SHARED_SECRET}\n`);
const privateKeyFile = writeFile(dir, 'private-key.pem', rsaPrivateKeyPem());
const credentialFile = writeFile(dir, 'dcos-credential.json', credentialJson('pxd-auth-proxy'));

/** Every environment variable the proxy reads. */
const KNOWN_ENV = new Set<string>([...SERVE_OPTIONS.flatMap((o) => o.env), ...DCOS_OPTIONS.flatMap((o) => (o.env ? [o.env] : []))]);

/** The env file's lines: active `KEY=value` and commented-out `#KEY=value`. */
function envLines(text: string): Array<{ key: string; value: string; active: boolean; line: string }> {
  const out: Array<{ key: string; value: string; active: boolean; line: string }> = [];
  for (const line of text.split('\n')) {
    const m = /^(#?)([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out.push({ active: m[1] === '', key: m[2]!, value: m[3]!, line });
  }
  return out;
}

describe(`${YAML_FILE}`, () => {
  it('is valid YAML whose keys the loader accepts', () => {
    const doc = parseYaml(readRepo(YAML_FILE)) as unknown;
    const parsed = yamlSchema.safeParse(doc);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
  });

  it('loads in the real config loader with no problem (key files given through flags and the environment)', () => {
    const { config, problems } = loadConfig({
      // The YAML's issuer portworx.com reads /etc/pxd-auth-proxy/shared-secret: the flag issuer of the
      // same name replaces it with a test file.
      flags: { config: repoPath(YAML_FILE), jwtIssuer: 'portworx.com', jwtSharedSecretFile: sharedSecretFile },
      env: { DCOS_SECRETS_CA_CERT_FILE: caFile, DCOS_SERVICE_ACCOUNT_CREDENTIAL_FILE: credentialFile },
    });
    expect(problems).toEqual([]);
    expect(config!.socket).toBe('/run/docker/plugins/pxd-auth.sock');
    expect(config!.backend).toEqual({ kind: 'unix', socketPath: '/run/docker/plugins/pxd.sock' });
    expect(config!.mountsRoot).toBe('/var/lib/osd/mounts');
    expect(config!.secretsBasePath).toBe('pwx/secrets');
    expect(config!.stateDir).toBe('/var/lib/pxd-auth-proxy');
    expect(config!.adminListen).toBe('127.0.0.1:9102');
    expect(config!.verifier.clockToleranceSec).toBe(0);
    expect(config!.verifier.requiredClaims).toEqual(['iss', 'sub', 'exp', 'iat', 'name', 'email']);
    expect(config!.policy.roles['system.view']).toEqual([]);
    expect(config!.policy.bindings).toEqual([]);
    expect(config!.secrets.kind).toBe('dcos');
    if (config!.secrets.kind !== 'dcos') return;
    expect(config!.secrets.dcos.url).toBe('https://master.mesos');
    expect(config!.secrets.dcos.caFile).toBe(caFile);
    expect(config!.secrets.dcos.cacheTtlSec).toBe(60);
    expect(config!.secrets.dcos.maxStaleSec).toBe(300);
    expect(config!.secrets.dcos.timeoutSec).toBe(20);
    expect(config!.secrets.dcos.login).toMatchObject({ kind: 'service-account', uid: 'pxd-auth-proxy', source: 'credential' });
  });

  it('loads with its own issuer entry when its files exist (the same file, relocated to a temp dir)', () => {
    const relocated = readRepo(YAML_FILE)
      .replaceAll('/etc/pxd-auth-proxy/', `${dir}/`)
      .replaceAll('/run/dcos/pki/CA/ca-bundle.crt', caFile);
    const file = writeFile(dir, 'relocated.yaml', relocated);
    const { config, problems } = loadConfig({
      flags: { config: file },
      env: { DCOS_SERVICE_ACCOUNT: 'pxd-auth-proxy', DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: privateKeyFile },
    });
    expect(problems).toEqual([]);
    expect(config!.verifier.issuers.map((i) => i.name)).toEqual(['portworx.com']);
    expect(config!.verifier.issuers[0]!.sharedSecret).toBe(SHARED_SECRET);
  });

  it('documents every key of the YAML schema (active or commented out)', () => {
    const text = readRepo(YAML_FILE);
    const mentioned = (key: string) => new RegExp(`^\\s*#?\\s*(- )?${key.replace(/\./g, '\\.')}:`, 'm').test(text);
    const keys = [
      ...Object.keys(yamlSchema.shape),
      ...Object.keys(issuerSchema.shape),
      ...Object.keys(policySchema.shape),
      ...Object.keys(bindingSchema.shape),
    ];
    expect(keys.filter((k) => !mentioned(k))).toEqual([]);
    for (const o of SERVE_OPTIONS) if (o.key !== 'config') expect(mentioned(o.key), o.key).toBe(true);
    // DC/OS settings go in the dcos: section under their environment names.
    const dcosEnv = DCOS_OPTIONS.flatMap((o) => (o.env ? [o.env] : []));
    expect(dcosEnv.filter((e) => !mentioned(e))).toEqual([]);
  });

  it('holds no secret value inline', () => {
    const doc = parseYaml(readRepo(YAML_FILE)) as Record<string, unknown>;
    expect(doc.jwtSharedSecret).toBeUndefined();
    for (const i of (doc.issuers as Array<Record<string, unknown>>) ?? []) expect(i.sharedSecret).toBeUndefined();
    const dcos = (doc.dcos ?? {}) as Record<string, unknown>;
    for (const k of ['DCOS_SECRETS_PASSWORD', 'DCOS_SERVICE_ACCOUNT_CREDENTIAL']) expect(dcos[k]).toBeUndefined();
  });
});

describe(`${ENV_FILE}`, () => {
  const lines = envLines(readRepo(ENV_FILE));

  it('names only variables the proxy reads, in a form both systemd and docker --env-file read alike', () => {
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.map((l) => l.key).filter((k) => !KNOWN_ENV.has(k))).toEqual([]);
    for (const l of lines) {
      // No quotes, spaces, backslashes or inline comments: docker keeps them literally, systemd does not.
      expect(l.value, l.line).toMatch(/^[A-Za-z0-9_.:/@+-]+$/);
    }
  });

  it('configures exactly one DC/OS login and no key material inline', () => {
    const active = lines.filter((l) => l.active).map((l) => l.key);
    const logins = [
      active.some((k) => k.startsWith('DCOS_SECRETS_USERNAME') || k.startsWith('DCOS_SECRETS_PASSWORD')),
      active.some((k) => k === 'DCOS_SERVICE_ACCOUNT' || k === 'DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE'),
      active.some((k) => k.startsWith('DCOS_SERVICE_ACCOUNT_CREDENTIAL')),
    ];
    expect(logins.filter(Boolean)).toHaveLength(1);
    for (const k of [
      'DCOS_SECRETS_PASSWORD',
      'DCOS_SERVICE_ACCOUNT_CREDENTIAL',
      'PORTWORX_AUTH_JWT_SHAREDSECRET',
      'OPENSTORAGE_AUTH_SHAREDSECRET',
    ]) {
      expect(active).not.toContain(k);
    }
  });

  it('loads together with the YAML file (its file paths relocated to a temp dir)', () => {
    const files: Record<string, string> = {
      '/etc/pxd-auth-proxy/private-key.pem': privateKeyFile,
      '/etc/pxd-auth-proxy/dcos-credential.json': credentialFile,
      '/etc/pxd-auth-proxy/shared-secret': sharedSecretFile,
      '/run/dcos/pki/CA/ca-bundle.crt': caFile,
    };
    const env: Record<string, string> = { DCOS_SECRETS_CA_CERT_FILE: caFile };
    for (const l of lines.filter((x) => x.active)) env[l.key] = files[l.value] ?? l.value;
    const { config, problems } = loadConfig({
      flags: { config: repoPath(YAML_FILE), jwtIssuer: 'portworx.com', jwtSharedSecretFile: sharedSecretFile },
      env,
    });
    expect(problems).toEqual([]);
    expect(config!.secrets.kind === 'dcos' && config!.secrets.dcos.login.uid).toBe('pxd-auth-proxy');
  });

  it('also loads with each commented-out login alternative instead', () => {
    const alternatives: Array<Record<string, string>> = [
      { DCOS_SERVICE_ACCOUNT_CREDENTIAL_FILE: credentialFile },
      { DCOS_SECRETS_USERNAME: 'pxd-auth-proxy', DCOS_SECRETS_PASSWORD_FILE: writeFile(dir, 'dcos-password', 'a password\n') },
    ];
    const commented = new Set(lines.filter((l) => !l.active).map((l) => l.key));
    for (const alt of alternatives) {
      for (const k of Object.keys(alt)) expect(commented.has(k), k).toBe(true);
      const { problems } = loadConfig({
        flags: { config: repoPath(YAML_FILE), jwtIssuer: 'portworx.com', jwtSharedSecretFile: sharedSecretFile },
        env: { DCOS_SECRETS_CA_CERT_FILE: caFile, ...alt },
      });
      expect(problems).toEqual([]);
    }
  });
});
