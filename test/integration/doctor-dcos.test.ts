import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startDcosDouble, type DcosDouble } from '../doubles/dcos/server.js';
import { makeRsaKeyPair, makeTestPki, type TestPki, type RsaKeyPair } from '../doubles/dcos/pki.js';
import { startPxdDouble, type PxdDouble } from '../doubles/pxd/server.js';
import { loadConfig } from '../../src/config/load.js';
import { referencesProbePath, runDoctor, type DoctorCheck } from '../../src/cli/doctor.js';
import { ISSUER, SHARED_SECRET } from '../helpers/tokens.js';

/** doctor's DC/OS checks against the DC/OS double: each misconfiguration it claims to catch. */
const FOLDER = 'pxd-auth-proxy/volumes';
const HOST = 'agent-1';
let pki: TestPki;
let sa: RsaKeyPair;
let dcos: DcosDouble;
let pxd: PxdDouble;

beforeAll(async () => {
  pki = makeTestPki();
  sa = makeRsaKeyPair();
  dcos = await startDcosDouble({
    tls: { serverKeyPem: pki.serverKeyPem, serverCertPem: pki.serverCertPem },
    serviceAccounts: {
      'pwx-proxy': sa.publicKeyPem,
      'no-grants': sa.publicKeyPem,
      reader: sa.publicKeyPem,
      'no-delete': sa.publicKeyPem,
      'no-read': sa.publicKeyPem,
    },
    secrets: { 'pwx/secrets/user1-token': 'x.y.z' },
    grants: {
      'pwx-proxy': [
        'dcos:secrets:list:default:/pwx/secrets read',
        'dcos:secrets:default:/pwx/secrets/* read',
        `dcos:secrets:default:/${FOLDER}/* full`,
      ],
      // The read grant alone, as before the cluster's references: no list, nothing on the folder.
      reader: ['dcos:secrets:default:/pwx/secrets/* read'],
      'no-delete': [
        'dcos:secrets:default:/pwx/secrets/* read',
        `dcos:secrets:default:/${FOLDER}/* create`,
        `dcos:secrets:default:/${FOLDER}/* read`,
      ],
      'no-read': [
        'dcos:secrets:default:/pwx/secrets/* read',
        `dcos:secrets:default:/${FOLDER}/* create`,
        `dcos:secrets:default:/${FOLDER}/* delete`,
      ],
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

async function doctor(
  env: Record<string, string>,
  now?: () => number,
  flags: Record<string, unknown> = {},
): Promise<Map<string, DoctorCheck>> {
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
      ...flags,
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
  const checks = await runDoctor({ config, problems, now, hostname: HOST });
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

describe("doctor: the cluster's volume references", () => {
  const probe = (uid: string, folder = FOLDER) => referencesProbePath(folder, uid, HOST);

  it('proves the grant with a probe record under the folder: created, read back and deleted', async () => {
    dcos.resetCounters();
    const c = await doctor({});
    expect(probe('pwx-proxy')).toBe(`${FOLDER}/.doctor-pwx-proxy-${HOST}`);
    expect(c.get('volume references')).toEqual({
      name: 'volume references',
      ok: true,
      detail: `pwx-proxy can create, read and delete the records under /${FOLDER} (probe ${probe('pwx-proxy')} created, read back and deleted)`,
    });
    expect(dcos.counters.secretWrites.get(`PUT ${probe('pwx-proxy')}`)).toBe(1);
    expect(dcos.counters.secretGets.get(probe('pwx-proxy'))).toBe(1);
    expect(dcos.counters.secretWrites.get(`DELETE ${probe('pwx-proxy')}`)).toBe(1);
    expect(dcos.secret(probe('pwx-proxy'))).toBeUndefined();
  });

  it('names the missing permission and the grant command when the account has nothing on the folder', async () => {
    const c = await doctor({ DCOS_SERVICE_ACCOUNT: 'reader' });
    const r = c.get('volume references')!;
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(
      new RegExp(`^reader may not create records under /${FOLDER}: missing dcos:secrets:default:/${FOLDER}/\\* create \\(HTTP 403`),
    );
    expect(r.detail).not.toMatch(/left behind/);
    expect(r.fix).toBe(`dcos security org users grant reader 'dcos:secrets:default:/${FOLDER}/*' full`);
    expect(dcos.secret(probe('reader'))).toBeUndefined();
  });

  it('names a missing delete, says the probe stayed, and the next run after the grant deletes it', async () => {
    const c = await doctor({ DCOS_SERVICE_ACCOUNT: 'no-delete' });
    const r = c.get('volume references')!;
    expect(r).toMatchObject({ ok: false, fix: `dcos security org users grant no-delete 'dcos:secrets:default:/${FOLDER}/*' full` });
    expect(r.detail).toContain(`missing dcos:secrets:default:/${FOLDER}/* delete`);
    expect(r.detail).toContain(`the probe record ${probe('no-delete')} is left behind`);
    expect(dcos.secret(probe('no-delete'))).toBeDefined();

    dcos.grant('no-delete', `dcos:secrets:default:/${FOLDER}/*`, 'full');
    const again = await doctor({ DCOS_SERVICE_ACCOUNT: 'no-delete' });
    expect(again.get('volume references')).toMatchObject({ ok: true });
    expect(dcos.secret(probe('no-delete'))).toBeUndefined();
  });

  it('names a missing read, and deletes the probe it could not read', async () => {
    const c = await doctor({ DCOS_SERVICE_ACCOUNT: 'no-read' });
    const r = c.get('volume references')!;
    expect(r.ok).toBe(false);
    expect(r.detail).toContain(`no-read may not read records under /${FOLDER}: missing dcos:secrets:default:/${FOLDER}/* read`);
    expect(r.detail).not.toMatch(/left behind/);
    expect(dcos.secret(probe('no-read'))).toBeUndefined();
  });

  it('probes the folder --references-path names', async () => {
    const c = await doctor({}, undefined, { referencesPath: '/acme/refs/' });
    expect(c.get('volume references')).toMatchObject({
      ok: false,
      detail: expect.stringContaining('missing dcos:secrets:default:/acme/refs/* create'),
      fix: "dcos security org users grant pwx-proxy 'dcos:secrets:default:/acme/refs/*' full",
    });
    dcos.grant('pwx-proxy', 'dcos:secrets:default:/acme/refs/*', 'full');
    const again = await doctor({}, undefined, { referencesPath: 'acme/refs' });
    expect(again.get('volume references')).toMatchObject({
      ok: true,
      detail: expect.stringContaining('under /acme/refs (probe acme/refs/.doctor-'),
    });
  });

  it('skips the check when the references are off (--references-path none)', async () => {
    dcos.resetCounters();
    const c = await doctor({ DCOS_SERVICE_ACCOUNT: 'reader' }, undefined, { referencesPath: 'none' });
    expect(c.get('volume references')).toEqual({
      name: 'volume references',
      ok: true,
      detail: expect.stringMatching(
        /^not checked: --references-path is none, so a -o token_secret reference is remembered only by the agent/,
      ),
    });
    expect(dcos.counters.secretWrites.size).toBe(0);
  });

  it('skips the check with file: secrets: only the state file remembers there', async () => {
    const secretsDir = path.join(pki.dir, 'file-secrets');
    mkdirSync(secretsDir, { recursive: true });
    const { config, problems } = loadConfig({
      flags: {
        secrets: `file:${secretsDir}`,
        jwtIssuer: ISSUER,
        jwtSharedSecret: SHARED_SECRET,
        backend: `unix://${pxd.socketPath}`,
        socket: path.join(pki.dir, 'p.sock'),
      },
      env: {},
    });
    expect(problems).toEqual([]);
    const c = new Map((await runDoctor({ config, problems })).map((x) => [x.name, x]));
    expect(c.get('volume references')).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/^not checked: .*needs the DC\/OS store; with file: secrets only this agent's state file remembers/),
    });
  });

  it('says DC/OS, not a permission, when the Secret Store fails', async () => {
    dcos.sealed = true;
    try {
      const c = await doctor({});
      expect(c.get('DC/OS login')).toMatchObject({ ok: true });
      expect(c.get('volume references')).toMatchObject({
        ok: false,
        detail: expect.stringMatching(
          /^SECRET_STORE_UNAVAILABLE: DC\/OS at .* is sealed, starting or unavailable \(HTTP 503 for creating record /,
        ),
      });
    } finally {
      dcos.sealed = false;
    }
  });
});
