/** Helpers for the checks of shipped files: paths from the repository root, and material to load them with. */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function repoPath(rel: string): string {
  return path.join(ROOT, rel);
}

export function readRepo(rel: string): string {
  return readFileSync(repoPath(rel), 'utf8');
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** A self-signed CA certificate in PEM (what DCOS_SECRETS_CA_CERT_FILE holds), made with the openssl CLI. */
export function writeCaCert(dir: string): string {
  const cert = path.join(dir, 'ca-bundle.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      path.join(dir, 'ca.key'),
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=pxd-auth-proxy shipping test CA',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return cert;
}

export function rsaPrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A service-account credential as `dcos security secrets create-sa-secret --strict` makes it. */
export function credentialJson(uid: string): string {
  return JSON.stringify({
    login_endpoint: 'https://leader.mesos/acs/api/v1/auth/login',
    private_key: rsaPrivateKeyPem(),
    scheme: 'RS256',
    uid,
  });
}

export function writeFile(dir: string, name: string, content: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}

export const SHARED_SECRET = 'shipping-test-shared-secret-0123456789';
