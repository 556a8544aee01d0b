/**
 * Issue 13, bug 1: an issuer key the verifier refuses (a 1024-bit RSA key) passed loadConfig, and
 * `doctor` called it ok; the proxy then failed at start. Keys are now imported at load by the
 * verifier's own importers, so load and verifier agree on every key.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { runDoctor } from '../../../src/cli/doctor.js';
import { TokenVerifier } from '../../../src/tokens/verify.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-cfg-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, pem: string | Buffer): string => {
  const file = path.join(dir, name);
  writeFileSync(file, pem);
  return file;
};
const spki = (k: { publicKey: { export(o: { type: 'spki'; format: 'pem' }): string | Buffer } }) =>
  k.publicKey.export({ type: 'spki', format: 'pem' });
const rsa1024 = write('rsa-1024.pem', spki(generateKeyPairSync('rsa', { modulusLength: 1024 })));
const rsa2048 = write('rsa-2048.pem', spki(generateKeyPairSync('rsa', { modulusLength: 2048 })));
const base = { secrets: `file:${dir}`, socket: path.join(dir, 'pxd-auth.sock'), backend: `unix://${path.join(dir, 'no-pxd.sock')}` };

describe("issuer keys are checked at load by the verifier's importer", () => {
  it('refuses a 1024-bit RSA key, naming where it came from: flag, environment or YAML file', () => {
    const fromFlag = loadConfig({ flags: { ...base, jwtIssuer: 'p', jwtRsaPubkeyFile: rsa1024 }, env: {} });
    expect(fromFlag.config).toBeUndefined();
    expect(fromFlag.problems).toEqual([expect.stringMatching(/^--jwt-rsa-pubkey-file: .*rsa-1024\.pem: .*1024 bits; at least 2048/)]);

    const fromEnv = loadConfig({ flags: base, env: { PORTWORX_AUTH_JWT_RSA_PUBKEY_FILE: rsa1024 } });
    expect(fromEnv.problems).toEqual([expect.stringMatching(/^PORTWORX_AUTH_JWT_RSA_PUBKEY_FILE: .*1024 bits/)]);

    const yaml = write('keys.yaml', `issuers:\n  - name: corp\n    rsaPublicKeyFile: ${rsa1024}\n`);
    const fromYaml = loadConfig({ flags: { ...base, config: yaml }, env: {} });
    expect(fromYaml.problems).toEqual([
      `${yaml}: issuers[0].rsaPublicKeyFile: ${rsa1024}: the RSA public key has 1024 bits; at least 2048 are required`,
    ]);
  });

  it('doctor reports the configuration as failed, not the key as ok', async () => {
    const { config, problems } = loadConfig({ flags: { ...base, jwtIssuer: 'p', jwtRsaPubkeyFile: rsa1024 }, env: {} });
    const checks = await runDoctor({ config, problems, specDir: dir, pluginDir: dir });
    expect(checks.find((c) => c.name === 'issuer keys')).toBeUndefined();
    expect(checks).toContainEqual(
      expect.objectContaining({ name: 'configuration', ok: false, detail: expect.stringMatching(/1024 bits/) }),
    );
  });

  it('accepts exactly the keys the verifier accepts', () => {
    const keys: Array<[string, 'rsa' | 'ec', string]> = [
      ['RSA 1024', 'rsa', rsa1024],
      ['RSA 2048', 'rsa', rsa2048],
      ['EC P-256', 'ec', write('p256.pem', spki(generateKeyPairSync('ec', { namedCurve: 'P-256' })))],
      ['EC P-521', 'ec', write('p521.pem', spki(generateKeyPairSync('ec', { namedCurve: 'P-521' })))],
      ['EC secp256k1', 'ec', write('k1.pem', spki(generateKeyPairSync('ec', { namedCurve: 'secp256k1' })))],
      ['Ed25519 as ECDSA', 'ec', write('ed.pem', spki(generateKeyPairSync('ed25519')))],
      [
        'RSA private key',
        'rsa',
        write('priv.pem', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' })),
      ],
      ['not PEM', 'rsa', write('junk.pem', 'hello')],
    ];
    for (const [what, family, file] of keys) {
      const flag = family === 'rsa' ? 'jwtRsaPubkeyFile' : 'jwtEcdsPubkeyFile';
      const loaded = loadConfig({ flags: { ...base, jwtIssuer: 'p', [flag]: file }, env: {} });
      const pem = (loaded.config?.verifier.issuers[0] ?? {}) as { rsaPublicKeyPem?: string; ecdsaPublicKeyPem?: string };
      let verifierTakes = true;
      try {
        const text = readFileSync(file, 'utf8');
        new TokenVerifier({
          issuers: [{ name: 'p', ...(family === 'rsa' ? { rsaPublicKeyPem: text } : { ecdsaPublicKeyPem: text }) }],
          requiredClaims: [],
          usernameClaim: 'sub',
          clockToleranceSec: 0,
          maxTokenLength: 16_384,
          cacheSize: 0,
        });
      } catch {
        verifierTakes = false;
      }
      expect(loaded.config !== undefined, `${what}: ${loaded.problems.join('; ')}`).toBe(verifierTakes);
      if (verifierTakes) expect(pem.rsaPublicKeyPem ?? pem.ecdsaPublicKeyPem, what).toBeDefined();
    }
  });
});
