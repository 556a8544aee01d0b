import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDcosDouble, type DcosDouble } from '../doubles/dcos/server.js';
import { makeRsaKeyPair, makeTestPki, type TestPki, type RsaKeyPair } from '../doubles/dcos/pki.js';
import { startPxdDouble, type PxdDouble } from '../doubles/pxd/server.js';
import { loadConfig } from '../../src/config/load.js';
import { runDoctor, type DoctorCheck } from '../../src/cli/doctor.js';
import { ISSUER, SHARED_SECRET } from '../helpers/tokens.js';

/** doctor's DC/OS checks against the DC/OS double: each misconfiguration it claims to catch. */
let pki: TestPki;
let sa: RsaKeyPair;
let dcos: DcosDouble;
let pxd: PxdDouble;

beforeAll(async () => {
  pki = makeTestPki();
  sa = makeRsaKeyPair();
  dcos = await startDcosDouble({
    tls: { serverKeyPem: pki.serverKeyPem, serverCertPem: pki.serverCertPem },
    serviceAccounts: { 'pwx-proxy': sa.publicKeyPem, 'no-grants': sa.publicKeyPem, reader: sa.publicKeyPem },
    secrets: { 'pwx/secrets/user1-token': 'x.y.z' },
    grants: {
      'pwx-proxy': ['dcos:secrets:list:default:/pwx/secrets read', 'dcos:secrets:default:/pwx/secrets/* read'],
      // The documented least privilege (docs/dcos-permissions.md): read, no list.
      reader: ['dcos:secrets:default:/pwx/secrets/* read'],
    },
  });
  pxd = await startPxdDouble({
    socketPath: path.join(pki.dir, 'pxd.sock'),
    auth: { issuers: [{ name: ISSUER, sharedSecret: SHARED_SECRET }] },
  });
});
afterAll(async () => {
  await pxd.close();
  await dcos.close();
  pki.cleanup();
});

async function doctor(env: Record<string, string>, now?: () => number): Promise<Map<string, DoctorCheck>> {
  const keyFile = path.join(pki.dir, 'key.pem');
  writeFileSync(keyFile, sa.pkcs8Pem, { mode: 0o600 });
  const { config, problems } = loadConfig({
    flags: {
      secrets: 'dcos',
      jwtIssuer: ISSUER,
      jwtSharedSecret: SHARED_SECRET,
      backend: `unix://${pxd.socketPath}`,
      secretsBasePath: 'pwx/secrets',
      socket: path.join(pki.dir, 'p.sock'),
    },
    env: {
      DCOS_CLUSTER_URL: dcos.url,
      DCOS_SECRETS_CA_CERT_FILE: pki.ca.certFile,
      DCOS_SERVICE_ACCOUNT: 'pwx-proxy',
      DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile,
      ...env,
    },
  });
  expect(problems).toEqual([]);
  const checks = await runDoctor({ config, problems, now });
  return new Map(checks.map((c) => [c.name, c]));
}

describe('doctor: DC/OS', () => {
  it('passes a working setup: TLS with the CA, login, clock, base path', async () => {
    const c = await doctor({});
    expect(c.get('DC/OS reachable')).toMatchObject({ ok: true, detail: expect.stringContaining(pki.ca.certFile) });
    expect(c.get('DC/OS login')).toMatchObject({ ok: true, detail: 'logged in as pwx-proxy (service-account)' });
    expect(c.get('clock skew')).toMatchObject({ ok: true });
    expect(c.get('secret base path')).toMatchObject({ ok: true, detail: 'pwx-proxy can list /pwx/secrets' });
  });

  it('catches a wrong CA', async () => {
    const c = await doctor({ DCOS_SECRETS_CA_CERT_FILE: pki.otherCa.certFile });
    expect(c.get('DC/OS reachable')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/SECRET_STORE_TLS/),
      fix: expect.stringMatching(/DCOS_SECRETS_CA_CERT_FILE/),
    });
  });

  it('catches a key the IAM does not know', async () => {
    const other = makeRsaKeyPair();
    const wrong = path.join(pki.dir, 'wrong.pem');
    writeFileSync(wrong, other.pkcs8Pem, { mode: 0o600 });
    const c = await doctor({ DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: wrong });
    expect(c.get('DC/OS login')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/SECRET_STORE_LOGIN_FAILED/),
      fix: expect.stringMatching(/public key registered must match/),
    });
  });

  it('passes the least-privilege grant: a 403 on listing is "not checked", naming the list permission', async () => {
    const c = await doctor({ DCOS_SERVICE_ACCOUNT: 'reader' });
    expect(c.get('DC/OS login')).toMatchObject({ ok: true });
    expect(c.get('clock skew')).toMatchObject({ ok: true });
    const base = c.get('secret base path');
    expect(base).toMatchObject({ ok: true, detail: expect.stringMatching(/^not checked: /) });
    expect(base!.detail).toContain('dcos:secrets:list:default:/pwx/secrets read');
    expect(base!.fix).toBeUndefined();
  });

  it('cannot tell a missing read grant from a missing list grant: also "not checked", not a failure', async () => {
    const c = await doctor({ DCOS_SERVICE_ACCOUNT: 'no-grants' });
    expect(c.get('secret base path')).toMatchObject({
      ok: true,
      detail: expect.stringContaining('dcos:secrets:default:/pwx/secrets/* read'),
    });
  });

  it('catches clock skew against the Date header', async () => {
    const c = await doctor({}, () => Date.now() + 10 * 60_000);
    expect(c.get('clock skew')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/60\d s ahead of DC\/OS/),
      fix: expect.stringMatching(/chrony|ntp/),
    });
  });

  it('catches DC/OS unreachable', async () => {
    const c = await doctor({ DCOS_CLUSTER_URL: 'https://127.0.0.1:1' });
    expect(c.get('DC/OS reachable')).toMatchObject({ ok: false, detail: expect.stringMatching(/SECRET_STORE_UNAVAILABLE/) });
  });
});
