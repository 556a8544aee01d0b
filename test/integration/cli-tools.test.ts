/**
 * The tools an operator runs on an agent (`doctor`, `token check`, `token generate`) and `serve`, as the
 * real CLI (the shipped bundle in dist/bin: `npm run build` first): each needs only the settings of its
 * job, finds the installed configuration, reports a broken YAML file alone, and calls a short shared
 * secret weak without refusing it (or ever printing it).
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, startProxyProcess } from '../helpers/proxy-process.js';
import { startPxdDouble, type PxdDouble } from '../doubles/pxd/server.js';
import { loadConfig } from '../../src/config/load.js';
import { oneAttempt, runDoctor } from '../../src/cli/doctor.js';
import { DcosSecretStore } from '../../src/secrets/dcos/index.js';

const SECRET = 'a-shared-secret-of-at-least-32-bytes-0123456789';
/** Shorter than 16 characters: accepted, called weak, never printed. */
const SHORT = 'sh0rt-s3cret';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the bin with PATH and `env` only (no DC/OS login unless given). */
function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

let dir: string;
let authConfig: string;
let pxd: PxdDouble;
/** An installed-configuration folder that does not exist: the tools must not read the real /etc/pxd-auth-proxy. */
let noInstall: string[];
let jwt: string;

function file(name: string, lines: string[]): string {
  const p = path.join(dir, name);
  writeFileSync(p, lines.join('\n') + '\n', { mode: 0o600 });
  return p;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-cli-tools-'));
  authConfig = file('auth.yaml', ['name: alice', 'email: alice@example.com', 'sub: alice', 'roles: [system.admin]']);
  noInstall = ['--installed-config-dir', path.join(dir, 'not-installed')];
  pxd = await startPxdDouble({ socketPath: path.join(dir, 'pxd.sock') });
  const gen = await run(['token', 'generate', '--auth-config', authConfig, '--issuer', 'portworx.com', '--shared-secret', SECRET]);
  expect(gen.code).toBe(0);
  jwt = gen.stdout.trim();
});
afterAll(async () => {
  await pxd.close();
  rmSync(dir, { recursive: true, force: true });
});

const FOLLOW_ON = /no DC\/OS login|no trusted issuer/;

describe('token check --token needs no secret store', () => {
  it('with a YAML file that sets the fleet document and DC/OS settings, and no DC/OS login anywhere', async () => {
    const yaml = file('dcos-agent.yaml', [
      'secrets: dcos',
      'fleetConfig: pxd-auth-proxy/fleet',
      'secretsBasePath: pwx/secrets',
      'dcos:',
      '  DCOS_CLUSTER_URL: https://master.mesos',
      '  DCOS_SECRETS_CA_CERT_FILE: /no/such/ca.crt',
      'issuers:',
      '  - name: portworx.com',
      `    sharedSecret: ${SECRET}`,
    ]);
    const r = await run(['token', 'check', '--token', jwt, '--config', yaml, ...noInstall]);
    expect(r.stderr).not.toMatch(/DC\/OS|fleet/);
    expect(r.stdout).toMatch(/^ok +signature and claims/m);
    expect(r.stdout).toMatch(/allowed: mount/);
    expect(r.code).toBe(0);

    // The same with the issuer from flags and the DC/OS settings in the environment.
    const flags = await run(
      ['token', 'check', '--token', jwt, '--jwt-issuer', 'portworx.com', '--jwt-shared-secret', SECRET, ...noInstall],
      { PXD_AUTH_FLEET_CONFIG: 'pxd-auth-proxy/fleet', PXD_AUTH_SECRETS: 'dcos', DCOS_SECRETS_CA_CERT_FILE: '/no/such/ca.crt' },
    );
    expect(flags.stdout).toMatch(/allowed: mount/);
    expect(flags.code).toBe(0);

    // --secret reads a secret: the store, and its login, are needed.
    const secret = await run(['token', 'check', '--secret', 'pwx/alice', '--config', yaml, ...noInstall]);
    expect(secret.stderr).toMatch(/no DC\/OS login is configured/);
    expect(secret.code).toBe(1);
  });
});

describe('a shared secret shorter than 16 characters', () => {
  const weak = /shorter than 16 characters, which is weak/;

  it('serve starts, with one warn line at start that never prints it', async () => {
    const p = startProxyProcess([
      'serve',
      '--socket',
      path.join(dir, 'serve', 'pxd-auth.sock'),
      '--backend',
      `local:${path.join(dir, 'serve', 'backend')}`,
      '--secrets',
      `file:${path.join(dir, 'serve', 'secrets')}`,
      '--state-dir',
      path.join(dir, 'serve', 'state'),
      '--jwt-issuer',
      'portworx.com',
      '--jwt-shared-secret',
      SHORT,
    ]);
    try {
      await p.waitFor(/pxd-auth-proxy listening/);
      const warnings = p.lines.filter((l) => weak.test(l));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 'warn', setting: 'jwtSharedSecret' });
      expect(warnings[0]).toMatch(/--jwt-shared-secret: issuer portworx.com: .*openssl rand/);
      expect(p.lines.join('\n')).not.toContain(SHORT);
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });

  it('doctor flags it as a warning with a fix, not a failure, and never prints it', async () => {
    const r = await run([
      'doctor',
      '--jwt-issuer',
      'portworx.com',
      '--jwt-shared-secret',
      SHORT,
      '--secrets',
      `file:${dir}`,
      '--backend',
      `unix://${pxd.socketPath}`,
      '--socket',
      path.join(dir, 'doctor', 'pxd-auth.sock'),
      ...noInstall,
    ]);
    expect(r.stdout).toMatch(/^WARN issuer keys +portworx\.com: shared secret loaded .*shorter than 16 characters, which is weak/m);
    expect(r.stdout).toMatch(/^ +fix: replace it, in pxd and here alike/m);
    expect(r.stdout).not.toMatch(/^FAIL (configuration|issuer keys)/m);
    // The only failure: the socket is not where dockerd looks (no spec file on this machine).
    expect(r.stdout).toMatch(/\n1 check\(s\) failed, 1 warning\(s\)\n$/);
    expect(r.stdout + r.stderr).not.toContain(SHORT);
  });

  it('token generate signs with it, and warns on stderr without printing it', async () => {
    const r = await run(['token', 'generate', '--auth-config', authConfig, '--shared-secret', SHORT]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(r.stderr).toMatch(/^pxd-auth-proxy: warning: the shared secret is shorter than 16 characters, which is weak.*openssl rand/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toContain(SHORT);
    // A long one: no word.
    const ok = await run(['token', 'generate', '--auth-config', authConfig, '--shared-secret', SECRET]);
    expect(ok.stderr).toBe('');
  });
});

describe('the installed configuration', () => {
  let installed: string;
  beforeAll(() => {
    installed = path.join(dir, 'etc-pxd-auth-proxy');
    mkdirSync(installed);
    file('etc-pxd-auth-proxy/pxd-auth-proxy.yaml', [
      'issuers:',
      '  - name: portworx.com',
      '    sharedSecretFile: ' + file('shared-secret', [SECRET]),
      `backend: unix://${pxd.socketPath}`,
      `socket: ${path.join(dir, 'from-yaml', 'pxd-auth.sock')}`,
    ]);
    // systemd's EnvironmentFile= syntax: comments, quotes, blanks.
    file('etc-pxd-auth-proxy/pxd-auth-proxy.env', [
      '# the file store, for this test',
      `PXD_AUTH_SECRETS="file:${dir}"`,
      '',
      `PXD_AUTH_SOCKET='${path.join(dir, 'from-env-file', 'pxd-auth.sock')}'`,
      'PXD_AUTH_LOG_LEVEL = warn   ',
    ]);
  });

  it('doctor run bare uses it, says which files, and real environment variables win over the env file', async () => {
    const real = path.join(dir, 'from-real-env', 'pxd-auth.sock');
    const r = await run(['doctor', '--installed-config-dir', installed], { PXD_AUTH_SOCKET: real });
    expect(r.stderr).toBe(
      `pxd-auth-proxy: using the installed configuration: ${installed}/pxd-auth-proxy.yaml and ` +
        `${installed}/pxd-auth-proxy.env (variables set in the environment win over it)\n`,
    );
    expect(r.stdout).toMatch(
      new RegExp(`^ok +configuration +valid \\(${installed}/pxd-auth-proxy.yaml with flags and environment\\)`, 'm'),
    );
    expect(r.stdout).toMatch(/^ok +secret store /m); // file: from the env file
    expect(r.stdout).toMatch(/^ok +backend +unix:\/\/.*answers Activate/m); // from the YAML file
    expect(r.stdout).toContain(real);
    expect(r.stdout).not.toContain('from-env-file');
  });

  it('token check run bare uses it', async () => {
    const r = await run(['token', 'check', '--token', jwt, '--installed-config-dir', installed]);
    expect(r.stderr).toMatch(/^pxd-auth-proxy: using the installed configuration: /);
    expect(r.stdout).toMatch(/allowed: mount/);
    expect(r.code).toBe(0);
  });

  it('when it is not there, doctor and token check say exactly how to pass the files', async () => {
    const none = path.join(dir, 'not-installed');
    const command = (c: string) => `pxd-auth-proxy ${c} --config ${none}/pxd-auth-proxy.yaml --env-file ${none}/pxd-auth-proxy.env`;
    const doctor = await run(['doctor', ...noInstall]);
    expect(doctor.stderr).toContain(command('doctor'));
    expect(doctor.code).toBe(1);
    const check = await run(['token', 'check', '--token', jwt, ...noInstall]);
    expect(check.stderr).toContain(command('token check'));
    // And the files, passed that way, are read as the installed ones.
    const passed = await run([
      'doctor',
      '--config',
      `${installed}/pxd-auth-proxy.yaml`,
      '--env-file',
      `${installed}/pxd-auth-proxy.env`,
      ...noInstall,
    ]);
    expect(passed.stderr).toBe('');
    expect(passed.stdout).toMatch(/^ok +secret store /m);
    expect(passed.stdout).toContain(path.join(dir, 'from-env-file'));
  });
});

describe('a broken YAML file is reported alone, with its file and line', () => {
  let broken: string;
  let wrongTypes: string;
  beforeAll(() => {
    broken = file('broken.yaml', ['secrets: dcos', 'issuers:', '  - name: portworx.com', `    sharedSecret: ${SECRET}`, '  oops: [', '']);
    wrongTypes = file('wrong-types.yaml', ['secrets: dcos', 'issuers: portworx.com', 'dcos: yes']);
  });

  it('by serve', async () => {
    const r = await run(['serve', '--config', broken, '--socket', path.join(dir, 'x.sock')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/has 1 problem\(s\):\n {2}- .*broken\.yaml: not valid YAML \(.*at line \d+, column \d+/);
    expect(r.stderr).not.toMatch(FOLLOW_ON);
    expect(r.stderr).not.toContain(SECRET);
    const types = await run(['serve', '--config', wrongTypes]);
    expect(types.stderr).toContain(`${wrongTypes}:2: issuers: Invalid input: expected array, received string`);
    expect(types.stderr).toContain(`${wrongTypes}:3: dcos: `);
    expect(types.stderr).not.toMatch(FOLLOW_ON);
  });

  it('by token check', async () => {
    for (const yaml of [broken, wrongTypes]) {
      const r = await run(['token', 'check', '--token', jwt, '--config', yaml, ...noInstall]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(yaml);
      expect(r.stderr).not.toMatch(FOLLOW_ON);
    }
  });

  it('by doctor, which still checks the plugin socket and pxd', async () => {
    const socket = path.join(dir, 'doctor-broken', 'pxd-auth.sock');
    for (const yaml of [broken, wrongTypes]) {
      const r = await run(['doctor', '--config', yaml, '--backend', `unix://${pxd.socketPath}`, '--socket', socket, ...noInstall]);
      expect(r.code).toBe(1);
      expect(r.stdout).not.toMatch(FOLLOW_ON);
      expect(r.stdout).toMatch(new RegExp(`^FAIL configuration +${yaml}`, 'm'));
      expect(r.stdout).toMatch(
        /^ok +plugin socket +.* is writable \(the YAML file could not be used: checked with the flags, environment and defaults\)/m,
      );
      expect(r.stdout).toMatch(/^ok +backend +unix:\/\/.*pxd\.sock answers Activate as a volume driver/m);
    }
  });

  it('doctor keeps checking when the configuration has other problems too', async () => {
    const r = await run(['doctor', '--backend-timeout', '500', '--backend', `unix://${path.join(dir, 'absent.sock')}`, ...noInstall]);
    expect(r.stdout).toMatch(/^FAIL configuration +--backend-timeout: must be between 1 and 110/m);
    expect(r.stdout).toMatch(/^(ok|FAIL) +plugin socket /m);
    expect(r.stdout).toMatch(/^FAIL backend +unix:\/\/.*absent\.sock is unreachable/m);
  });
});

describe('doctor against an unreachable DC/OS', () => {
  it('does not say how long "the proxy has been trying": it tried once, just now', async () => {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const keyFile = file('sa-key.pem', [key]);
    const { config, problems } = loadConfig({
      flags: {
        secrets: 'dcos',
        jwtIssuer: 'p',
        jwtSharedSecret: SECRET,
        backend: `unix://${pxd.socketPath}`,
        socket: path.join(dir, 'u.sock'),
      },
      env: { DCOS_CLUSTER_URL: 'https://127.0.0.1:1', DCOS_SERVICE_ACCOUNT: 'sa', DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile },
    });
    expect(problems).toEqual([]);
    // What the store itself says (the proxy's wording, right for a long-running process).
    const store = new DcosSecretStore(config!.secrets.kind === 'dcos' ? config!.secrets.dcos : (undefined as never));
    const raw = await store.auth.token().then(
      () => '',
      (e: Error) => e.message,
    );
    await store.close();
    expect(raw).toMatch(/failing since \S+ \(just now\)/);
    expect(raw).not.toMatch(/trying for 0 s/);

    const checks = await runDoctor({ config, problems });
    const reach = checks.find((c) => c.name === 'DC/OS reachable')!;
    expect(reach.ok).toBe(false);
    expect(reach.detail).toMatch(/^SECRET_STORE_UNAVAILABLE: DC\/OS at https:\/\/127\.0\.0\.1:1 is unreachable \(ECONNREFUSED/);
    expect(reach.detail).not.toMatch(/trying for|0 s|failing since/);
  });

  it('oneAttempt drops only the outage clause', () => {
    expect(oneAttempt('DC/OS at x is unreachable (E); failing since 2026-01-01T00:00:00.000Z (just now); more')).toBe(
      'DC/OS at x is unreachable (E); more',
    );
    expect(oneAttempt('DC/OS at x is unreachable (E); the proxy has been trying for 0 s (since 2026-01-01T00:00:00.000Z)')).toBe(
      'DC/OS at x is unreachable (E)',
    );
    expect(
      oneAttempt(
        'did not answer within 500 ms (--dcos-timeout); the proxy has been trying for 12 ms (since 2026-01-01T00:00:00.000Z); more',
      ),
    ).toBe('did not answer within 500 ms (--dcos-timeout); more');
  });
});
