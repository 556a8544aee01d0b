/**
 * The tools on an agent judge with the fleet document (--fleet-config) as serve does: `token check`
 * reads it through the DC/OS Secret Store and builds the configuration with it, and `doctor` reports
 * its version, its absence or why serve would refuse it, never quoting its text. The CLI's commands run
 * in this process, registered as main.ts registers them, against the DC/OS double.
 */
import { Command } from 'commander';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { addServeOptions } from '../../src/cli/serve.js';
import { registerDoctorCommand } from '../../src/cli/doctor.js';
import { registerTokenCommands } from '../../src/cli/token.js';
import { startDcosDouble, type DcosDouble } from '../doubles/dcos/server.js';
import { makeRsaKeyPair, makeTestPki, type TestPki } from '../doubles/dcos/pki.js';
import { startPxdDouble, type PxdDouble } from '../doubles/pxd/server.js';
import { ISSUER, SHARED_SECRET, signHs256, userClaims } from '../helpers/tokens.js';

const FLEET = 'pxd-auth-proxy/fleet';
/** The version serve shows (/readyz, the log): the first 12 hex digits of the text's SHA-256. */
const versionOf = (t: string) => createHash('sha256').update(t).digest('hex').slice(0, 12);
/** Tenant A's secret only for a-* volumes (strict); the local configuration has no binding at all. */
const DOC_A = ['policy:', '  strict: true', '  bindings:', '    - secretPrefix: tenant-a', '      volumes: ["a-*"]', ''].join('\n');
/** A user may only create volumes: a mount is refused by role, with --secret alone. */
const DOC_CREATE_ONLY = JSON.stringify({ policy: { roles: { 'system.user': ['create'] } } });
const DOC_SECRET = 'fleet-shared-secret-never-printed-0123';
/** Valid sections, plus a key set on each agent only, and an issuer with an inline shared secret. */
const BROKEN = `${DOC_A}socket: /tmp/elsewhere.sock\nissuers:\n  - name: x\n    sharedSecret: ${DOC_SECRET}\n`;

let pki: TestPki;
let dcos: DcosDouble;
let pxd: PxdDouble;
let dir: string;
let keyFile: string;
let token: string;

beforeAll(async () => {
  pki = makeTestPki();
  const sa = makeRsaKeyPair();
  token = await signHs256(SHARED_SECRET, userClaims('ua'));
  dcos = await startDcosDouble({
    tls: { serverKeyPem: pki.serverKeyPem, serverCertPem: pki.serverCertPem },
    serviceAccounts: { 'pwx-proxy': sa.publicKeyPem, 'no-fleet': sa.publicKeyPem },
    secrets: { 'pwx/secrets/tenant-a/token': token },
    grants: {
      'pwx-proxy': [
        'dcos:secrets:default:/pwx/secrets/* read',
        'dcos:secrets:default:/pxd-auth-proxy/volumes/* full',
        `dcos:secrets:default:/${FLEET} read`,
      ],
      'no-fleet': ['dcos:secrets:default:/pwx/secrets/* read', 'dcos:secrets:default:/pxd-auth-proxy/volumes/* full'],
    },
  });
  dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-fleet-tools-'));
  keyFile = path.join(dir, 'sa.pem');
  writeFileSync(keyFile, sa.pkcs1Pem, { mode: 0o600 });
  pxd = await startPxdDouble({
    socketPath: path.join(dir, 'pxd.sock'),
    auth: { issuers: [{ name: ISSUER, sharedSecret: SHARED_SECRET }] },
  });
});
afterAll(async () => {
  await pxd?.close();
  await dcos?.close();
  pki?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => dcos.deleteSecret(FLEET));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The CLI's own commands, run in this process (so that coverage sees them) as main.ts runs them: the
 * environment replaced for the run, stdout and stderr captured, an error from an action printed as
 * main.ts prints it, and the exit code taken from process.exitCode.
 */
async function run(args: string[], env: Record<string, string>): Promise<Run> {
  const program = new Command().name('pxd-auth-proxy').exitOverride();
  registerTokenCommands(program, addServeOptions);
  registerDoctorCommand(program, addServeOptions);
  const savedEnv = process.env;
  process.env = { PATH: savedEnv.PATH, ...env };
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  process.exitCode = undefined;
  let code: number;
  try {
    await program.parseAsync(['node', 'pxd-auth-proxy', ...args]);
    code = Number(process.exitCode ?? 0);
  } catch (e) {
    stderr += `pxd-auth-proxy: ${(e as Error).message}\n`;
    code = 1;
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.env = savedEnv;
    process.exitCode = undefined;
  }
  return { code, stdout, stderr };
}

/** This agent's configuration: DC/OS store, the fleet document set, no policy of its own. */
const AGENT = [
  '--secrets',
  'dcos',
  '--secrets-base-path',
  'pwx/secrets',
  '--jwt-issuer',
  ISSUER,
  '--jwt-shared-secret',
  SHARED_SECRET,
  '--fleet-config',
  FLEET,
  '--installed-config-dir',
  '/nonexistent/pxd-auth-proxy',
];
const login = (account = 'pwx-proxy'): Record<string, string> => ({
  DCOS_CLUSTER_URL: dcos.url,
  DCOS_SECRETS_CA_CERT_FILE: pki.ca.certFile,
  DCOS_SERVICE_ACCOUNT: account,
  DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile,
});
const check = (args: string[], env = login()) => run(['token', 'check', ...args, ...AGENT, '--state-dir', path.join(dir, 'state')], env);
const doctor = (env = login()) =>
  run(['doctor', ...AGENT, '--backend', `unix://${pxd.socketPath}`, '--socket', path.join(dir, 'p', 'pxd-auth.sock')], env);
const line = (out: string, name: string) => out.split('\n').find((l) => l.slice(5).startsWith(name));
const never = (r: Run) => {
  for (const s of [DOC_SECRET, SHARED_SECRET, token]) expect(r.stdout + r.stderr).not.toContain(s);
};

describe('token check judges with the fleet document, as serve does', () => {
  it('--volume: denied by a document binding the local configuration lacks, allowed where the document allows', async () => {
    dcos.setSecret(FLEET, DOC_A);
    const denied = await check(['--volume', 'token_secret=tenant-a/token,name=x-1']);
    expect(line(denied.stdout, 'fleet document')).toMatch(new RegExp(`^ok +fleet document +${FLEET} version ${versionOf(DOC_A)}: `));
    expect(denied.stdout).toMatch(/^FAIL binding +POLICY_BINDING_DENIED: /m);
    expect(denied.stdout).toMatch(/denied: mount/);
    expect(denied.code).toBe(1);
    never(denied);

    const allowed = await check(['--volume', 'token_secret=tenant-a/token,name=a-1']);
    expect(allowed.stdout).toMatch(/^ok +binding +secret bound to a-\*/m);
    expect(allowed.stdout).toMatch(/allowed: mount/);
    expect(allowed.code).toBe(0);
    never(allowed);
  });

  it("--secret: denied by the document's roles, allowed with the local policy when there is no document", async () => {
    dcos.setSecret(FLEET, DOC_CREATE_ONLY);
    const denied = await check(['--secret', 'tenant-a/token']);
    expect(denied.stdout).toMatch(/^FAIL role decision +POLICY_ROLE_DENIED: /m);
    expect(denied.code).toBe(1);
    const create = await check(['--secret', 'tenant-a/token', '--op', 'create']);
    expect(create.stdout).toMatch(/allowed: create/);

    dcos.deleteSecret(FLEET);
    const absent = await check(['--secret', 'tenant-a/token']);
    expect(line(absent.stdout, 'fleet document')).toMatch(/^ok +fleet document +none at pxd-auth-proxy\/fleet: the YAML file's policy/);
    expect(absent.stdout).toMatch(/allowed: mount/);
    expect(absent.code).toBe(0);
  });

  it('--secret: gives no verdict when the document cannot be read or does not build, naming the fix', async () => {
    dcos.setSecret(FLEET, DOC_A);
    const forbidden = await check(['--secret', 'tenant-a/token'], login('no-fleet'));
    expect(line(forbidden.stdout, 'fleet document')).toMatch(/^FAIL fleet document +cannot read pxd-auth-proxy\/fleet: SECRET_FORBIDDEN: /);
    expect(forbidden.stdout).toContain(`fix: dcos security org users grant no-fleet 'dcos:secrets:default:/${FLEET}' read`);
    expect(forbidden.stdout).toMatch(/not checked: mount/);
    expect(forbidden.code).toBe(1);

    dcos.setSecret(FLEET, BROKEN);
    const broken = await check(['--secret', 'tenant-a/token']);
    expect(line(broken.stdout, 'fleet document')).toMatch(
      /^FAIL fleet document +pxd-auth-proxy\/fleet version \w{12} does not build .*socket/,
    );
    expect(broken.code).toBe(1);
    never(broken);
  });

  it('--token reads the document when the DC/OS login is configured, and says plainly when it is not', async () => {
    dcos.setSecret(FLEET, DOC_CREATE_ONLY);
    const read = await check(['--token', token]);
    expect(line(read.stdout, 'fleet document')).toMatch(new RegExp(`^ok +fleet document +${FLEET} version ${versionOf(DOC_CREATE_ONLY)}`));
    expect(read.stdout).toMatch(/denied: mount/);
    never(read);

    const notRead = await check(['--token', token], {});
    const note = line(notRead.stdout, 'fleet document');
    expect(note).toMatch(/^WARN fleet document +pxd-auth-proxy\/fleet holds this cluster's policy and was not read/);
    expect(note).toContain("this verdict uses the local configuration's policy");
    expect(notRead.stdout.split('\n').filter((l) => l.includes('fleet'))).toHaveLength(1);
    expect(notRead.stdout).toMatch(/allowed: mount/);
    expect(notRead.stderr).not.toMatch(/DC\/OS login/);
    expect(notRead.code).toBe(0);
    never(notRead);
  });
});

describe('doctor checks the fleet document', () => {
  it('reports its version when it builds with this configuration', async () => {
    dcos.setSecret(FLEET, DOC_A);
    const r = await doctor();
    expect(line(r.stdout, 'fleet document')).toMatch(
      new RegExp(`^ok +fleet document +${FLEET} version ${versionOf(DOC_A)} read and built with this agent's configuration`),
    );
    // After the login check.
    expect(r.stdout.indexOf('DC/OS login')).toBeLessThan(r.stdout.indexOf('fleet document'));
    never(r);
  });

  it('says when there is none: the agents use their YAML file', async () => {
    dcos.deleteSecret(FLEET);
    const r = await doctor();
    expect(line(r.stdout, 'fleet document')).toMatch(
      /^WARN fleet document +there is no document at pxd-auth-proxy\/fleet \(HTTP 404\): every agent falls back to its YAML file/,
    );
    expect(r.stdout).toContain(`fix: create it: dcos security secrets create -f fleet.yaml ${FLEET}`);
  });

  it('fails a broken document, naming its problems and never quoting it', async () => {
    dcos.setSecret(FLEET, BROKEN);
    const r = await doctor();
    const l = line(r.stdout, 'fleet document')!;
    expect(l).toMatch(new RegExp(`^FAIL fleet document +${FLEET} version ${versionOf(BROKEN)} does not build`));
    expect(l).toContain(`fleet document ${FLEET}: socket`);
    expect(r.code).toBe(1);
    never(r);
  });

  it('fails a document the account may not read, with the grant', async () => {
    dcos.setSecret(FLEET, DOC_A);
    const r = await doctor(login('no-fleet'));
    expect(line(r.stdout, 'fleet document')).toMatch(/^FAIL fleet document +cannot read pxd-auth-proxy\/fleet: SECRET_FORBIDDEN: /);
    expect(r.stdout).toContain(`fix: dcos security org users grant no-fleet 'dcos:secrets:default:/${FLEET}' read`);
  });
});
