/**
 * Test PKI for the DC/OS double: a CA and a server certificate for 127.0.0.1/localhost, made with the
 * `openssl` CLI (Node has no API to create X.509 certificates). EC P-256 keys keep it fast (~50 ms).
 * Generate once per test file; `cleanup()` removes the temp dir.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  certPem: string;
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  /** The CA that signed the server certificate (what DCOS_SECRETS_CA_CERT_FILE should hold). */
  ca: TestCa;
  /** An unrelated CA, for "wrong CA" tests. */
  otherCa: TestCa;
  serverKeyPem: string;
  serverCertPem: string;
  cleanup(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): TestCa {
  openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '3',
    '-subj',
    `/CN=pxd-auth-proxy test ${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const certFile = join(dir, `${name}.crt`);
  return { certFile, keyFile: join(dir, `${name}.key`), certPem: readFileSync(certFile, 'utf8') };
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'pxd-auth-dcos-pki-'));
  const ca = makeCa(dir, 'ca');
  const otherCa = makeCa(dir, 'other-ca');
  writeFileSync(
    join(dir, 'server.ext'),
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  openssl(dir, [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=localhost',
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '3',
    '-extfile',
    'server.ext',
  ]);
  return {
    dir,
    ca,
    otherCa,
    serverKeyPem: readFileSync(join(dir, 'server.key'), 'utf8'),
    serverCertPem: readFileSync(join(dir, 'server.crt'), 'utf8'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface RsaKeyPair {
  /** PKCS#8 (`BEGIN PRIVATE KEY`). */
  pkcs8Pem: string;
  /** PKCS#1 (`BEGIN RSA PRIVATE KEY`). */
  pkcs1Pem: string;
  /** SPKI (`BEGIN PUBLIC KEY`), what DC/OS stores for a service account. */
  publicKeyPem: string;
}

/** An RSA key pair for a service account, in every PEM form the proxy accepts. */
export function makeRsaKeyPair(): RsaKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    pkcs8Pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pkcs1Pem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
