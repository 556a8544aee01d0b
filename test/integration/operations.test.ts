import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startPxdDouble, type PxdDouble } from '../doubles/pxd/server.js';
import { startProxyProcess, BIN, type ProxyProcess } from '../helpers/proxy-process.js';
import { callPlugin, mountId } from '../helpers/plugin-client.js';
import { signHs256, userClaims, ISSUER, SHARED_SECRET } from '../helpers/tokens.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { ProxyMetrics } from '../../src/admin/metrics.js';
import { createAdminApp } from '../../src/admin/server.js';
import { TokenVerifier } from '../../src/tokens/verify.js';
import { loadConfig } from '../../src/config/load.js';
import { checkToken } from '../../src/cli/token-check.js';
import { runDoctor } from '../../src/cli/doctor.js';
import { FileSecretStore } from '../../src/secrets/file.js';

const run = promisify(execFile);
const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-ops-'));
let pxd: PxdDouble;

beforeAll(async () => {
  pxd = await startPxdDouble({
    socketPath: path.join(dir, 'pxd.sock'),
    auth: {
      issuers: [
        { name: ISSUER, sharedSecret: SHARED_SECRET },
        { name: 'rotated.example', sharedSecret: 'second-shared-secret-0123456789' },
      ],
    },
    mountsRoot: path.join(dir, 'mounts'),
    defaultSize: '1G',
  });
});
afterAll(async () => {
  await pxd.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('token generate (pxctl auth token generate compatible)', () => {
  it('signs tokens the proxy verifies, with pxd claim layout', async () => {
    const cfg = path.join(dir, 'user.yaml');
    writeFileSync(cfg, 'name: Tenant One\nemail: t1@example.com\nroles: ["system.user"]\ngroups: ["g1"]\n');
    const { stdout } = await run(
      process.execPath,
      [BIN, 'token', 'generate', '--auth-config', cfg, '--issuer', ISSUER, '--token-duration', '2h'],
      {
        env: { PATH: process.env.PATH, PORTWORX_AUTH_SHARED_SECRET: SHARED_SECRET },
      },
    );
    const token = stdout.trim();
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    const claims = decodeJwt(token);
    expect(Object.keys(claims)).toEqual(['sub', 'iss', 'email', 'name', 'roles', 'groups', 'iat', 'exp']);
    expect(claims.sub).toBe(Buffer.from('openstorage.io/Tenant One/t1@example.com').toString('base64'));
    expect(claims.exp! - claims.iat!).toBe(7200);
    const v = new TokenVerifier({
      issuers: [{ name: ISSUER, sharedSecret: SHARED_SECRET }],
      requiredClaims: ['iss', 'sub', 'exp', 'iat', 'name', 'email'],
      usernameClaim: 'sub',
      clockToleranceSec: 0,
      maxTokenLength: 16384,
      cacheSize: 0,
    });
    expect((await v.verify(token)).roles).toEqual(['system.user']);
  });

  it('rejects durations outside ^[0-9]+(s|m|h|d|y)$ with the grammar in the error', async () => {
    const cfg = path.join(dir, 'user2.yaml');
    writeFileSync(cfg, 'name: A\nemail: a@example.com\n');
    for (const d of ['1w', '1d2h', '1.5h']) {
      const r = await run(process.execPath, [
        BIN,
        'token',
        'generate',
        '--auth-config',
        cfg,
        '--shared-secret',
        SHARED_SECRET,
        '--token-duration',
        d,
      ]).catch((e) => e);
      expect(r.code, d).toBe(1);
      expect(r.stderr, d).toMatch(/\^\[0-9\]\+\(s\|m\|h\|d\|y\)\$/);
    }
  });
});

describe('token check explains each failure kind', () => {
  const secrets = path.join(dir, 'check-secrets');
  const { config } = loadConfig({
    flags: { secrets: `file:${secrets}`, jwtIssuer: ISSUER, jwtSharedSecret: SHARED_SECRET, stateDir: path.join(dir, 'check-state') },
    env: {},
  });
  const put = (p: string, v: string) => {
    mkdirSync(path.dirname(path.join(secrets, p)), { recursive: true });
    writeFileSync(path.join(secrets, p), v);
  };
  const check = (o: { token?: string; secret?: string; volume?: string; op?: 'create' | 'mount' | 'remove' }) =>
    checkToken({
      config: config!,
      secrets: new FileSecretStore(secrets),
      state: { get: () => undefined },
      operation: o.op ?? 'mount',
      ...o,
    });

  it('passes a good token and never prints it', async () => {
    const t = await signHs256(SHARED_SECRET, userClaims('u1'));
    put('pwx/ok', t);
    const r = await check({ volume: 'token_secret=pwx/ok,name=v1', op: 'create' });
    expect(r.allowed).toBe(true);
    expect(r.steps.map((s) => s.step)).toEqual([
      'source',
      'issuer',
      'algorithm',
      'expiry',
      'signature and claims',
      'identity',
      'role decision',
      'binding',
    ]);
    expect(r.steps.find((s) => s.step === 'expiry')!.detail).toMatch(/expires .* \(in 5\d minutes\)/);
    expect(JSON.stringify(r)).not.toContain(t.split('.')[2]);
  });

  it.each([
    [
      'expired',
      async () => ({ token: await signHs256(SHARED_SECRET, userClaims('u1'), { iatSec: 1_700_000_000, expSec: 1_700_000_100 }) }),
      /TOKEN_EXPIRED/,
      'signature and claims',
    ],
    [
      'untrusted issuer',
      async () => ({ token: await signHs256(SHARED_SECRET, { ...userClaims('u1'), iss: 'evil' }) }),
      /TOKEN_ISSUER_UNTRUSTED/,
      'signature and claims',
    ],
    [
      'bad signature',
      async () => ({ token: await signHs256('another-secret-entirely-000', userClaims('u1')) }),
      /TOKEN_SIGNATURE_INVALID/,
      'signature and claims',
    ],
    [
      'missing claim',
      async () => ({ token: await signHs256(SHARED_SECRET, { ...userClaims('u1'), email: undefined }) }),
      /TOKEN_CLAIM_MISSING.*email/,
      'signature and claims',
    ],
    [
      'view role creating',
      async () => ({ token: await signHs256(SHARED_SECRET, userClaims('v', ['system.view'])), op: 'create' as const }),
      /POLICY_ROLE_DENIED/,
      'role decision',
    ],
    ['missing secret', async () => ({ secret: 'pwx/none' }), /SECRET_NOT_FOUND/, 'source'],
    ['malformed path', async () => ({ secret: 'pwx/../x' }), /SECRET_PATH_INVALID/, 'source'],
  ])('%s', async (_name, make, re, step) => {
    const r = await check(await make());
    expect(r.allowed).toBe(false);
    const last = r.steps.at(-1)!;
    expect(last.step).toBe(step);
    expect(last.ok).toBe(false);
    expect(last.detail).toMatch(re);
  });
});

describe('doctor', () => {
  it('catches each misconfiguration it claims to', async () => {
    const bad = await runDoctor({ config: undefined, problems: ['--backend: "x" is neither'] });
    expect(bad).toEqual([{ name: 'configuration', ok: false, detail: '--backend: "x" is neither', fix: expect.any(String) }]);

    const specDir = path.join(dir, 'specs');
    mkdirSync(specDir, { recursive: true });
    const base = {
      secrets: `file:${path.join(dir, 'no-such-secrets')}`,
      jwtIssuer: ISSUER,
      jwtSharedSecret: SHARED_SECRET,
      socket: path.join(dir, 'doc', 'pxd-auth.sock'),
    };
    const { config: c1 } = loadConfig({ flags: { ...base, backend: `unix://${path.join(dir, 'absent.sock')}` }, env: {} });
    const checks = await runDoctor({ config: c1, problems: [], specDir, pluginDir: path.join(dir, 'plugins') });
    const by = (n: string) => checks.find((c) => c.name === n)!;
    expect(by('configuration').ok).toBe(true);
    expect(by('discoverable by dockerd')).toMatchObject({ ok: false, fix: expect.stringContaining('pxd-auth.spec') });
    expect(by('backend')).toMatchObject({ ok: false, detail: expect.stringMatching(/absent\.sock is unreachable/) });
    expect(by('secret store')).toMatchObject({ ok: false });

    // Fixed: a spec file names the socket, the backend answers Activate, the secrets folder exists.
    writeFileSync(path.join(specDir, 'pxd-auth.spec'), `unix://${base.socket}\n`);
    mkdirSync(path.join(dir, 'no-such-secrets'), { recursive: true });
    const { config: c2 } = loadConfig({ flags: { ...base, backend: `unix://${pxd.socketPath}` }, env: {} });
    const good = await runDoctor({ config: c2, problems: [], specDir, pluginDir: path.join(dir, 'plugins') });
    expect(good.filter((c) => !c.ok)).toEqual([]);
  });
});

describe('metrics', () => {
  let stack: Stack;
  afterEach(async () => stack?.close());

  it('counters move with traffic', async () => {
    const metrics = new ProxyMetrics({});
    stack = await startStack({ start: { observer: metrics.observer } });
    const app = createAdminApp(metrics, { listening: () => true, backend: async () => true, secrets: async () => false });
    stack.writeSecret('pwx/u1', await signHs256(SHARED_SECRET, userClaims('u1')));
    stack.writeSecret('pwx/view', await signHs256(SHARED_SECRET, userClaims('v', ['system.view'])));
    await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/u1,name=m1' });
    await stack.call('VolumeDriver.Create', { Name: 'token_secret=pwx/view,name=m2' });
    await stack.call('VolumeDriver.Get', { Name: 'token_secret=pwx/u1,name=m1' });
    const text = (await request(app).get('/metrics')).text;
    expect(text).toMatch(/pxd_auth_requests_total\{endpoint="VolumeDriver.Create",outcome="ok"\} 1/);
    expect(text).toMatch(/pxd_auth_requests_total\{endpoint="VolumeDriver.Create",outcome="POLICY_ROLE_DENIED"\} 1/);
    expect(text).toMatch(/pxd_auth_decisions_total\{operation="create",decision="deny",reason="POLICY_ROLE_DENIED"\} 1/);
    expect(text).toMatch(/pxd_auth_backend_duration_seconds_count\{endpoint="VolumeDriver.Get",outcome="ok"\} 1/);
    expect((await request(app).get('/healthz')).status).toBe(200);
    const ready = await request(app).get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks).toEqual({ socket: true, backend: true, secrets: false });
  });
});

describe('the admin listener of the real process', () => {
  let proc: ProxyProcess | undefined;
  afterEach(async () => proc?.stop('SIGKILL'));

  function httpGet(socketPath: string, p: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      http
        .get({ socketPath, path: p }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        })
        .on('error', reject);
    });
  }

  it('starts after the plugin socket and still counts the requests served before it was up', async () => {
    const socket = path.join(dir, 'adm.sock');
    const adminSocket = path.join(dir, 'adm-admin.sock');
    proc = startProxyProcess(
      [
        'serve',
        '--socket',
        socket,
        '--backend',
        `unix://${pxd.socketPath}`,
        '--mounts-root',
        path.join(dir, 'mounts'),
        '--secrets',
        `file:${path.join(dir, 'secrets')}`,
        '--state-dir',
        path.join(dir, 'adm-state'),
        '--jwt-issuer',
        ISSUER,
        '--admin-listen',
        `unix:${adminSocket}`,
      ],
      { PORTWORX_AUTH_JWT_SHAREDSECRET: SHARED_SECRET },
    );
    // As dockerd would: call as soon as the socket answers, without waiting for any log line.
    let activates = 0;
    for (;;) {
      const ok = await callPlugin(socket, 'Plugin.Activate').then(
        () => true,
        () => false,
      );
      if (ok) break;
      activates++;
      if (activates > 500) throw new Error(`the plugin socket never answered:\n${proc.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const gets = await Promise.all([1, 2, 3, 4, 5].map(() => callPlugin(socket, 'VolumeDriver.Get', { Name: 'no-such-volume' })));
    expect(gets.every((g) => typeof g.json.Err === 'string' && g.json.Err !== '')).toBe(true);
    await proc.waitFor(/admin listener on/);
    const metrics = await httpGet(adminSocket, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/pxd_auth_requests_total\{endpoint="Plugin.Activate",outcome="ok"\} 1\n/);
    expect(metrics.text).toMatch(/pxd_auth_requests_total\{endpoint="VolumeDriver.Get",outcome="backend_err"\} 5\n/);
    expect(metrics.text).toMatch(/pxd_auth_backend_duration_seconds_count\{endpoint="VolumeDriver.Get",outcome="ok"\} 5\n/);
    expect((await httpGet(adminSocket, '/healthz')).status).toBe(200);
  });
});

describe('signals on the real process', () => {
  let proc: ProxyProcess | undefined;
  afterEach(async () => {
    await proc?.stop('SIGKILL');
    pxd.faults.delayMs = 0;
  });

  /** Resolves once the pxd double has received a Create for that volume (a plain Name, token in Opts): the request is in flight. */
  async function reachedPxd(volume: string) {
    for (let i = 0; i < 200; i++) {
      if (pxd.requests.some((r) => /Create$/.test(r.endpoint) && (r.parsed as { Name?: unknown } | undefined)?.Name === volume)) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`pxd never received the Create for ${volume}`);
  }

  function startWithYaml(name: string, secret: string, extraYaml = '') {
    const yamlFile = path.join(dir, `${name}.yaml`);
    const write = (s: string, extra = '') => writeFileSync(yamlFile, `issuers:\n  - name: ${ISSUER}\n    sharedSecret: ${s}\n${extra}`);
    write(secret, extraYaml);
    const socket = path.join(dir, `${name}.sock`);
    proc = startProxyProcess([
      'serve',
      '--config',
      yamlFile,
      '--socket',
      socket,
      '--backend',
      `unix://${pxd.socketPath}`,
      '--mounts-root',
      path.join(dir, 'mounts'),
      '--secrets',
      `file:${path.join(dir, 'secrets')}`,
      '--state-dir',
      path.join(dir, `${name}-state`),
    ]);
    return { socket, write };
  }

  it('SIGHUP swaps the shared secret without dropping an in-flight request, and refuses a broken file', async () => {
    const { socket, write } = startWithYaml('hup', SHARED_SECRET);
    await proc!.waitFor(/pxd-auth-proxy listening/);
    const oldToken = await signHs256(SHARED_SECRET, userClaims('h1'));
    const newSecret = 'second-shared-secret-0123456789';
    const newToken = await signHs256(newSecret, { ...userClaims('h1'), iss: ISSUER });

    pxd.faults.delayMs = 800;
    const inflight = callPlugin(socket, 'VolumeDriver.Create', { Name: `token=${oldToken},name=hup1` });
    await reachedPxd('hup1');
    write(newSecret);
    proc!.child.kill('SIGHUP');
    await proc!.waitFor(/configuration and keys reloaded/);
    expect((await inflight).json).toEqual({ Err: '' });
    pxd.faults.delayMs = 0;

    const withOld = await callPlugin(socket, 'VolumeDriver.Mount', { Name: `token=${oldToken},name=hup1`, ID: mountId('a') });
    expect(withOld.json.Err).toMatch(/TOKEN_SIGNATURE_INVALID/);
    // The pxd double still trusts the old secret, so the proxy is the only one refusing here.
    const withNew = await callPlugin(socket, 'VolumeDriver.Create', { Name: `token=${newToken},name=hup2` });
    expect(withNew.json.Err).toMatch(/^pxd-auth BACKEND_DENIED: pxd refused the token the proxy accepted/);

    writeFileSync(path.join(dir, 'hup.yaml'), 'issuers: [ {');
    proc!.child.kill('SIGHUP');
    await proc!.waitFor(/new configuration was refused/);
    const still = await callPlugin(socket, 'VolumeDriver.Mount', { Name: `token=${oldToken},name=hup1`, ID: mountId('b') });
    expect(still.json.Err).toMatch(/TOKEN_SIGNATURE_INVALID/);
  });

  it('takes its socket from systemd (LISTEN_FDS) and leaves it in place on stop', async () => {
    const socket = path.join(dir, 'activated.sock');
    const yamlFile = path.join(dir, 'activated.yaml');
    writeFileSync(yamlFile, `issuers:\n  - name: ${ISSUER}\n    sharedSecret: ${SHARED_SECRET}\n`);
    // What systemd does: bind and listen, pass the socket as fd 3 with LISTEN_FDS/LISTEN_PID, exec.
    const script = [
      'import os, socket, sys',
      's = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(16)',
      'os.dup2(s.fileno(), 3); os.set_inheritable(3, True)',
      "os.environ['LISTEN_FDS'] = '1'; os.environ['LISTEN_PID'] = str(os.getpid())",
      'os.execv(sys.argv[2], sys.argv[2:])',
    ].join('\n');
    const { spawn } = await import('node:child_process');
    const child = spawn(
      'python3',
      [
        '-c',
        script,
        socket,
        process.execPath,
        BIN,
        'serve',
        '--config',
        yamlFile,
        '--socket',
        path.join(dir, 'unused.sock'),
        '--backend',
        `unix://${pxd.socketPath}`,
        '--secrets',
        `file:${dir}`,
        '--state-dir',
        path.join(dir, 'activated-state'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const out: string[] = [];
    child.stdout.on('data', (b) => out.push(String(b)));
    child.stderr.on('data', (b) => out.push(String(b)));
    try {
      for (let i = 0; i < 100 && !out.join('').includes('pxd-auth-proxy listening'); i++) await new Promise((r) => setTimeout(r, 50));
      const a = await callPlugin(socket, 'Plugin.Activate');
      expect(a.json).toEqual({ Implements: ['VolumeDriver'] });
      expect(existsSync(path.join(dir, 'unused.sock'))).toBe(false);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    // The socket is systemd's: it stays for the next activation.
    expect(existsSync(socket)).toBe(true);
  });

  it('SIGTERM stops accepting, finishes the request in flight, removes the socket and exits 0', async () => {
    const { socket } = startWithYaml('term', SHARED_SECRET);
    await proc!.waitFor(/pxd-auth-proxy listening/);
    const token = await signHs256(SHARED_SECRET, userClaims('t1'));
    pxd.faults.delayMs = 1000;
    const inflight = callPlugin(socket, 'VolumeDriver.Create', { Name: `token=${token},name=term1` });
    await reachedPxd('term1');
    proc!.child.kill('SIGTERM');
    expect((await inflight).json).toEqual({ Err: '' });
    expect(await proc!.exited).toBe(0);
    expect(existsSync(socket)).toBe(false);
    expect(pxd.volumes.has('term1')).toBe(true);
  });
});
