/**
 * A fault harness that breaks everything around the proxy: the DC/OS Secret Store (down, slow, 500,
 * sealed, tokens revoked, a wrong CA), the backend (down, gone, slow, resetting, garbage, unsafe
 * mountpoints, another Name from Get), the proxy process itself (SIGKILL mid-Create) and its disk
 * (full while writing the state file). Each fault must get the right answer to Docker, the right log
 * line, and recovery without a restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  closeSync,
  openSync,
  writeSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { startPxdDouble, type PxdDouble } from '../doubles/pxd/server.js';
import { startDcosDouble, type DcosDouble } from '../doubles/dcos/server.js';
import { makeFixture, PASSWORD, USER, type Fixture } from '../integration/dcos/helpers.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { callPlugin, mountId } from '../helpers/plugin-client.js';
import { ISSUER, SHARED_SECRET, signHs256, userClaims } from '../helpers/tokens.js';
import { leaks, needlesOf, REPO_ROOT, sleep, writeFigures } from './helpers.js';

interface FaultRecord {
  fault: string;
  answer: string;
  logLine: string;
  recovered: boolean;
}
const survived: FaultRecord[] = [];
const tried: string[] = [];
const allTokens: string[] = [];

afterAll(() => {
  writeFigures('faults', {
    faultsTried: tried.length,
    faultsSurvived: survived.filter((f) => f.recovered).length,
    faults: survived,
  });
});

/** Log lines written since `from` that match `re` (JSON text). */
function linesSince(stack: Stack, from: number, re: RegExp): string[] {
  return stack.logs.slice(from).filter((l) => re.test(l));
}

/**
 * The audit lines since `from` with this reason: at least one, each with the expected decision and
 * forwarded flag. Returns how the line reads, for the figures.
 */
function expectAudit(stack: Stack, from: number, reason: string, decision: 'deny' | 'error', forwarded: boolean): string {
  const lines = stack.logs
    .slice(from)
    .filter((l) => l.includes('"audit":true'))
    .map((l) => JSON.parse(l) as { decision: string; forwarded: boolean; reason: string; level: string; msg: string })
    .filter((a) => a.reason === reason);
  expect(lines.length, `an audit line with reason ${reason}`).toBeGreaterThan(0);
  for (const a of lines) {
    expect(a.decision).toBe(decision);
    expect(a.forwarded).toBe(forwarded);
    expect(a.level).toBe('warn');
  }
  return `audit warn decision=${decision} reason=${reason} forwarded=${forwarded}`;
}

function expectErr(reply: { json?: any; text: string }, code: string, fragment: string | RegExp): string {
  const err = reply.json?.Err as string;
  expect(typeof err, reply.text.slice(0, 300)).toBe('string');
  expect(err.startsWith(`pxd-auth ${code}: `), err).toBe(true);
  if (typeof fragment === 'string') expect(err).toContain(fragment);
  else expect(err).toMatch(fragment);
  return err;
}

/** Temp folders and ports change every run: keep them out of figures.json. */
const stable = (s: string): string =>
  s
    .replaceAll(os.tmpdir(), '<tmp>')
    .replace(/<tmp>\/[^/\s"]+/g, '<tmp>/…')
    .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>');

function record(fault: string, answer: string, logLine: string): void {
  survived.push({ fault, answer: stable(answer).slice(0, 200), logLine: stable(logLine).slice(0, 160), recovered: true });
}

/** The flags startStack uses, so a reload can rebuild the same configuration with a change. */
function stackFlags(stack: Stack, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    socket: stack.socket,
    backend: `unix://${path.join(stack.dir, 'pxd.sock')}`,
    mountsRoot: stack.mountsRoot,
    secrets: `file:${path.join(stack.dir, 'secrets')}`,
    stateDir: path.join(stack.dir, 'state'),
    jwtIssuer: ISSUER,
    jwtSharedSecret: SHARED_SECRET,
    backendTimeout: 5,
    logLevel: 'debug',
    ...extra,
  };
}

// =================================================================================================
describe('DC/OS faults', () => {
  const SECRET = 'pwx/secrets/user1-token';
  let fx: Fixture;
  let dcos: DcosDouble;
  let stack: Stack;
  let dcosFlags: Record<string, unknown>;
  let n = 0;
  const create = (vol = `dc${++n}`) => stack.call('VolumeDriver.Create', { Name: `token_secret=${SECRET},name=${vol}` });

  beforeAll(async () => {
    fx = makeFixture();
    const token = await signHs256(SHARED_SECRET, userClaims('user1'));
    allTokens.push(token);
    dcos = await startDcosDouble({
      tls: fx.pki,
      users: { [USER]: PASSWORD },
      grants: { [USER]: ['dcos:secrets:default:/pwx/* read', 'dcos:secrets:default:/pxd-auth-proxy/volumes/* full'] },
      secrets: { [SECRET]: token },
    });
    dcosFlags = {
      secrets: 'dcos',
      dcosUrl: dcos.url,
      dcosCaFile: fx.pki.ca.certFile,
      dcosUsername: USER,
      dcosPasswordFile: fx.file('dcos-password', PASSWORD),
      dcosTimeout: 1,
      // Every read goes to DC/OS: no cache to hide a fault.
      secretCacheTtl: 0,
      secretMaxStale: 0,
    };
    stack = await startStack({ flags: dcosFlags });
    expect((await create('warm')).json).toEqual({ Err: '' });
  });
  afterAll(async () => {
    const haystack = stack?.logs.join('') ?? '';
    await stack?.close();
    await dcos?.close();
    fx?.cleanup();
    // Neither the user's token, nor DC/OS auth tokens, nor the password in any log line.
    const needles = [...allTokens.flatMap(needlesOf), ...dcos.issuedTokens().flatMap(needlesOf), PASSWORD];
    expect(leaks(haystack, needles)).toEqual([]);
  });

  it('DC/OS down: SECRET_STORE_UNAVAILABLE, Get unaffected, back without a restart', async () => {
    tried.push('dcos-down');
    const from = stack.logs.length;
    dcos.down = true;
    const r = await create();
    const err = expectErr(r, 'SECRET_STORE_UNAVAILABLE', /DC\/OS at https:\/\/127\.0\.0\.1:\d+ is unreachable/);
    expect(stack.pxd.requests.filter((q) => q.endpoint === '/VolumeDriver.Create')).toHaveLength(1);
    const g = await stack.call('VolumeDriver.Get', { Name: `token_secret=${SECRET},name=warm` });
    expect(g.json.Err).toBe('');
    const warn = linesSince(stack, from, /DC\/OS is unreachable or failing/);
    expect(warn).toHaveLength(1);
    const audit = expectAudit(stack, from, 'SECRET_STORE_UNAVAILABLE', 'error', false);
    dcos.down = false;
    expect((await create()).json).toEqual({ Err: '' });
    expect(linesSince(stack, from, /DC\/OS answers again after/)).toHaveLength(1);
    record('DC/OS down', err, `${audit}; warn "DC/OS is unreachable or failing"; info "DC/OS answers again after …"`);
  });

  it('DC/OS slow past --dcos-timeout: SECRET_STORE_TIMEOUT within the timeout, back when fast again', async () => {
    tried.push('dcos-slow');
    const from = stack.logs.length;
    dcos.slowMs = 2_500;
    const t0 = Date.now();
    const r = await create();
    const took = Date.now() - t0;
    const err = expectErr(r, 'SECRET_STORE_TIMEOUT', 'did not answer reading secret pwx/secrets/user1-token within 1 s (--dcos-timeout)');
    expect(took).toBeLessThan(2_400);
    const audit = expectAudit(stack, from, 'SECRET_STORE_TIMEOUT', 'error', false);
    dcos.slowMs = 0;
    expect((await create()).json).toEqual({ Err: '' });
    record('DC/OS slow past the timeout', err, `${audit}; warn "DC/OS is unreachable or failing"`);
  });

  it('DC/OS answering 500: SECRET_STORE_UNAVAILABLE naming HTTP 500', async () => {
    tried.push('dcos-500');
    const from = stack.logs.length;
    dcos.status500 = true;
    const err = expectErr(await create(), 'SECRET_STORE_UNAVAILABLE', 'is failing (HTTP 500 for reading secret pwx/secrets/user1-token)');
    expect(
      linesSince(
        stack,
        from,
        /DC\/OS is unreachable or failing.*"reason":"HTTP 500"|"reason":"HTTP 500".*DC\/OS is unreachable or failing/,
      ),
    ).toHaveLength(1);
    const audit = expectAudit(stack, from, 'SECRET_STORE_UNAVAILABLE', 'error', false);
    dcos.status500 = false;
    expect((await create()).json).toEqual({ Err: '' });
    record('DC/OS answering 500', err, `${audit}; warn "DC/OS is unreachable or failing" (reason HTTP 500)`);
  });

  it('DC/OS sealed (503): SECRET_STORE_UNAVAILABLE saying sealed', async () => {
    tried.push('dcos-sealed');
    const from = stack.logs.length;
    dcos.sealed = true;
    const err = expectErr(await create(), 'SECRET_STORE_UNAVAILABLE', 'is sealed, starting or unavailable (HTTP 503');
    expect(linesSince(stack, from, /"reason":"HTTP 503"/)).toHaveLength(1);
    const audit = expectAudit(stack, from, 'SECRET_STORE_UNAVAILABLE', 'error', false);
    dcos.sealed = false;
    expect((await create()).json).toEqual({ Err: '' });
    record('DC/OS sealed (503)', err, `${audit}; warn "DC/OS is unreachable or failing" (reason HTTP 503)`);
  });

  it('401 mid-run (every auth token revoked): one re-login, the request still succeeds', async () => {
    tried.push('dcos-401');
    const from = stack.logs.length;
    const before = dcos.counters.loginsOk;
    dcos.revokeAll();
    const r = await create();
    expect(r.json).toEqual({ Err: '' });
    expect(dcos.counters.loginsOk).toBe(before + 1);
    expect(dcos.counters.unauthorized).toBeGreaterThan(0);
    const line = linesSince(stack, from, /DC\/OS rejected the auth token \(401\); logging in again/);
    expect(line).toHaveLength(1);
    // And it stays healthy.
    expect((await create()).json).toEqual({ Err: '' });
    expect(dcos.counters.loginsOk).toBe(before + 1);
    record(
      'DC/OS 401 mid-run (tokens revoked)',
      '{"Err":""} (re-login, retried once)',
      'info "DC/OS rejected the auth token (401); logging in again"',
    );
  });

  it('TLS with a wrong CA: SECRET_STORE_TLS naming the CA file; a reload with the right CA recovers without a restart', async () => {
    tried.push('dcos-wrong-ca');
    const wrong = await startStack({ flags: { ...dcosFlags, dcosCaFile: fx.pki.otherCa.certFile } });
    try {
      const from = wrong.logs.length;
      const r = await wrong.call('VolumeDriver.Create', { Name: `token_secret=${SECRET},name=tls1` });
      const err = expectErr(r, 'SECRET_STORE_TLS', `could not be verified with the CA in ${fx.pki.otherCa.certFile}`);
      // Said once: the proxy logs in as it starts, so the operator sees it then, before any request.
      expect(linesSince(wrong, 0, /DC\/OS is unreachable or failing/).length).toBe(1);
      const audit = expectAudit(wrong, from, 'SECRET_STORE_TLS', 'error', false);
      // Nothing was sent in clear: the login (with the password) never completed.
      expect(wrong.logs.join('')).not.toContain(PASSWORD);
      // SIGHUP's path: a new configuration with the right CA, swapped in while running.
      const { config, problems } = loadConfig({ flags: stackFlags(wrong, { ...dcosFlags }), env: {} });
      expect(problems).toEqual([]);
      expect(wrong.proxy.reload(config!)).toEqual([]);
      const ok = await wrong.call('VolumeDriver.Create', { Name: `token_secret=${SECRET},name=tls1` });
      expect(ok.json).toEqual({ Err: '' });
      record(
        'DC/OS TLS with a wrong CA',
        err,
        `${audit}; warn "DC/OS is unreachable or failing"; recovered by a reload (SIGHUP) with the right CA`,
      );
    } finally {
      await wrong.close();
    }
  });
});

// =================================================================================================
describe('backend faults', () => {
  let stack: Stack;
  let token: string;
  const NAME = (v: string) => `token_secret=pwx/secrets/user1-token,name=${v}`;
  let n = 0;

  beforeAll(async () => {
    stack = await startStack({ flags: { backendTimeout: 1 } });
    token = await signHs256(SHARED_SECRET, userClaims('user1'));
    allTokens.push(token);
    stack.writeSecret('pwx/secrets/user1-token', token);
    expect((await stack.call('VolumeDriver.Create', { Name: NAME('known') })).json).toEqual({ Err: '' });
    // The state learns volumes through Get (and Create).
    expect((await stack.call('VolumeDriver.Get', { Name: NAME('known') })).json.Err).toBe('');
    await stack.proxy.state.flush();
  });
  afterEach(() => {
    // A failed case must not leave its fault on for the next one.
    for (const k of Object.keys(stack.pxd.faults) as Array<keyof PxdDouble['faults']>) delete stack.pxd.faults[k];
  });
  afterAll(async () => {
    const haystack = stack?.logs.join('') ?? '';
    await stack?.close();
    expect(leaks(haystack, allTokens.flatMap(needlesOf))).toEqual([]);
  });

  it('backend down: BACKEND_UNREACHABLE, a known volume still answers Get, back without a restart', async () => {
    tried.push('backend-down');
    const from = stack.logs.length;
    stack.pxd.faults.down = true;
    const err = expectErr(await stack.call('VolumeDriver.Create', { Name: NAME(`b${++n}`) }), 'BACKEND_UNREACHABLE', 'is unreachable');
    const g = await stack.call('VolumeDriver.Get', { Name: NAME('known') });
    expect(g.json).toEqual({ Volume: { Name: NAME('known'), Mountpoint: '' }, Err: '' });
    expect(linesSince(stack, from, /answering Get for a known volume from state/)).toHaveLength(1);
    expectErr(await stack.call('VolumeDriver.Get', { Name: 'never-seen' }), 'BACKEND_UNREACHABLE', 'is unreachable');
    const audit = expectAudit(stack, from, 'BACKEND_UNREACHABLE', 'error', true);
    stack.pxd.faults.down = false;
    expect((await stack.call('VolumeDriver.Create', { Name: NAME(`b${n}`) })).json).toEqual({ Err: '' });
    record('backend down (connections dropped)', err, `${audit}; warn "backend unavailable: answering Get for a known volume from state"`);
  });

  it('backend gone (socket removed) and restarted: BACKEND_UNREACHABLE with a hint, then works', async () => {
    tried.push('backend-gone');
    const volumes = stack.pxd.volumes;
    await stack.pxd.close();
    const from = stack.logs.length;
    const err = expectErr(
      await stack.call('VolumeDriver.Mount', { Name: NAME('known'), ID: mountId('g1') }),
      'BACKEND_UNREACHABLE',
      /\((ENOENT|ECONNREFUSED)\): is the volume driver running\?/,
    );
    const fresh: PxdDouble = await startPxdDouble({
      socketPath: path.join(stack.dir, 'pxd.sock'),
      auth: { issuers: [{ name: ISSUER, sharedSecret: SHARED_SECRET }] },
      mountsRoot: stack.mountsRoot,
      defaultSize: '1G',
    });
    const audit = expectAudit(stack, from, 'BACKEND_UNREACHABLE', 'error', true);
    for (const [k, v] of volumes) fresh.volumes.set(k, v);
    stack.pxd = fresh;
    const m = await stack.call('VolumeDriver.Mount', { Name: NAME('known'), ID: mountId('g1') });
    expect(m.json).toEqual({ Mountpoint: `${stack.mountsRoot}/known${mountId('g1')}`, Err: '' });
    record('backend gone and restarted', err, audit);
  });

  it('backend slow past --backend-timeout: BACKEND_TIMEOUT in about that time; Create again is idempotent', async () => {
    tried.push('backend-slow');
    const from = stack.logs.length;
    stack.pxd.faults.delayMs = 2_500;
    const vol = `slow${++n}`;
    const t0 = Date.now();
    const err = expectErr(
      await stack.call('VolumeDriver.Create', { Name: NAME(vol) }),
      'BACKEND_TIMEOUT',
      'did not answer VolumeDriver.Create within 1 s',
    );
    expect(Date.now() - t0).toBeLessThan(2_400);
    const g = await stack.call('VolumeDriver.Get', { Name: NAME('known') });
    expect(g.json.Err).toBe('');
    const audit = expectAudit(stack, from, 'BACKEND_TIMEOUT', 'error', true);
    stack.pxd.faults.delayMs = 0;
    // pxd finished the first Create late; the retry must simply succeed.
    expect((await stack.call('VolumeDriver.Create', { Name: NAME(vol) })).json).toEqual({ Err: '' });
    record('backend slow past backendTimeout', err, audit);
  });

  it('backend resetting connections: BACKEND_UNREACHABLE, then works', async () => {
    tried.push('backend-reset');
    stack.pxd.faults.reset = true;
    const err = expectErr(
      await stack.call('VolumeDriver.Mount', { Name: NAME('known'), ID: mountId('r1') }),
      'BACKEND_UNREACHABLE',
      'is unreachable',
    );
    const from = stack.logs.length;
    expectErr(await stack.call('VolumeDriver.Remove', { Name: NAME('known') }), 'BACKEND_UNREACHABLE', 'is unreachable');
    const audit = expectAudit(stack, from, 'BACKEND_UNREACHABLE', 'error', true);
    stack.pxd.faults.reset = false;
    expect((await stack.call('VolumeDriver.Mount', { Name: NAME('known'), ID: mountId('r1') })).json.Err).toBe('');
    expect(stack.pxd.volumes.has('known')).toBe(true);
    record('backend resetting connections', err, audit);
  });

  it('backend answering garbage: BACKEND_BAD_REPLY on every call, never the garbage itself', async () => {
    tried.push('backend-garbage');
    const from = stack.logs.length;
    stack.pxd.faults.garbage = true;
    const err = expectErr(await stack.call('VolumeDriver.Create', { Name: NAME(`gb${++n}`) }), 'BACKEND_BAD_REPLY', 'not a plugin reply');
    expectErr(await stack.call('VolumeDriver.Mount', { Name: NAME('known'), ID: mountId('x') }), 'BACKEND_BAD_REPLY', 'not a plugin reply');
    expectErr(
      await stack.call('VolumeDriver.Unmount', { Name: NAME('known'), ID: mountId('x') }),
      'BACKEND_BAD_REPLY',
      'not a plugin reply',
    );
    expectErr(await stack.call('VolumeDriver.Path', { Name: NAME('known') }), 'BACKEND_BAD_REPLY', 'not a plugin reply');
    expectErr(await stack.call('VolumeDriver.List', {}), 'BACKEND_BAD_REPLY', 'not a plugin reply');
    expectErr(await stack.call('VolumeDriver.Capabilities', {}), 'BACKEND_BAD_REPLY', 'not a plugin reply');
    expectErr(await stack.call('VolumeDriver.Get', { Name: 'never-seen' }), 'BACKEND_BAD_REPLY', 'not a plugin reply');
    // A volume the proxy knows is not reported absent because pxd babbles (dockerd would forget it).
    const g = await stack.call('VolumeDriver.Get', { Name: NAME('known') });
    expect(g.json).toEqual({ Volume: { Name: NAME('known'), Mountpoint: '' }, Err: '' });
    const audit = expectAudit(stack, from, 'BACKEND_BAD_REPLY', 'error', true);
    expect(linesSince(stack, from, /answering Get for a known volume from state/)).toHaveLength(1);
    expect(stack.logs.slice(from).join('')).not.toContain('garbage, not JSON');
    stack.pxd.faults.garbage = false;
    expect((await stack.call('VolumeDriver.Create', { Name: NAME(`gb${n}`) })).json).toEqual({ Err: '' });
    record('backend answering garbage', err, `${audit}; warn "backend unavailable: answering Get for a known volume from state"`);
  });

  for (const [label, mp, why] of [
    ['an empty', '', 'it is empty'],
    ['a relative', 'relative/x', 'it is not an absolute path'],
    ['an escaping', '@ROOT@/../../etc', 'it is not a normalized path'],
    ['an outside-the-root', '/etc', 'it is not under'],
  ] as const) {
    it(`backend answering ${label} Mountpoint: MOUNTPOINT_INVALID, never passed to Docker`, async () => {
      tried.push(`mountpoint-${label}`);
      const from = stack.logs.length;
      const value = mp.replace('@ROOT@', stack.mountsRoot);
      stack.pxd.faults.mountpoint = value;
      const m = await stack.call('VolumeDriver.Mount', { Name: NAME('known'), ID: mountId('mp') });
      const err = expectErr(m, 'MOUNTPOINT_INVALID', why);
      expect(m.json).not.toHaveProperty('Mountpoint');
      if (value !== '') expectErr(await stack.call('VolumeDriver.Path', { Name: NAME('known') }), 'MOUNTPOINT_INVALID', why);
      const audit = expectAudit(stack, from, 'MOUNTPOINT_INVALID', 'deny', true);
      stack.pxd.faults.mountpoint = undefined;
      expect((await stack.call('VolumeDriver.Mount', { Name: NAME('known'), ID: mountId('mp') })).json).toEqual({
        Mountpoint: `${stack.mountsRoot}/known${mountId('mp')}`,
        Err: '',
      });
      record(`backend answering ${label} Mountpoint`, err, audit);
    });
  }

  it('backend answering Get with a different Name: the requested Name is echoed (Docker keeps what Get says)', async () => {
    tried.push('get-other-name');
    const from = stack.logs.length;
    stack.pxd.faults.getName = 'known';
    const g = await stack.call('VolumeDriver.Get', { Name: NAME('known') });
    expect(g.json.Err).toBe('');
    expect(g.json.Volume.Name).toBe(NAME('known'));
    expect(linesSince(stack, from, /backend Get answered another Name; echoing the requested one/)).toHaveLength(1);
    stack.pxd.faults.getName = undefined;
    record(
      'backend answering Get with a different Name',
      'Volume.Name = the requested Name',
      'debug "backend Get answered another Name; echoing the requested one"',
    );
  });
});

// =================================================================================================
const MAIN = path.join(REPO_ROOT, 'dist', 'bin', 'pxd-auth-proxy.js');

class Child {
  proc: ChildProcess | undefined;
  log = '';
  constructor(readonly args: string[]) {}
  async start(socket: string): Promise<void> {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env))
      if (!/^(PXD_AUTH_|PORTWORX_|OPENSTORAGE_|DCOS_|LISTEN_|NODE_OPTIONS)/.test(k)) env[k] = v;
    const p = spawn(process.execPath, [MAIN, 'serve', ...this.args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = p;
    p.stdout!.on('data', (c: Buffer) => (this.log += c.toString()));
    p.stderr!.on('data', (c: Buffer) => (this.log += c.toString()));
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) throw new Error(`proxy exited early: ${this.log}`);
      if (this.log.includes('pxd-auth-proxy listening')) {
        const r = await callPlugin(socket, 'Plugin.Activate').catch(() => undefined);
        if (r?.status === 200) return;
      }
      await sleep(30);
    }
    throw new Error(`proxy did not start: ${this.log}`);
  }
  async kill(signal: NodeJS.Signals): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    await exited;
  }
}

describe('the proxy process killed with SIGKILL', () => {
  let dir: string;
  let pxd: PxdDouble;
  let child: Child;
  let socket: string;
  let stateDir: string;

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
    dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-kill-'));
    const mountsRoot = path.join(dir, 'mounts');
    mkdirSync(mountsRoot);
    stateDir = path.join(dir, 'state');
    socket = path.join(dir, 'pxd-auth.sock');
    pxd = await startPxdDouble({
      socketPath: path.join(dir, 'pxd.sock'),
      auth: { issuers: [{ name: ISSUER, sharedSecret: SHARED_SECRET }] },
      mountsRoot,
      defaultSize: '1G',
    });
    const token = await signHs256(SHARED_SECRET, userClaims('user1'));
    allTokens.push(token);
    mkdirSync(path.join(dir, 'secrets', 'pwx'), { recursive: true });
    writeFileSync(path.join(dir, 'secrets', 'pwx', 'user1'), token);
    const secretFile = path.join(dir, 'shared-secret');
    writeFileSync(secretFile, SHARED_SECRET, { mode: 0o600 });
    child = new Child([
      '--socket',
      socket,
      '--backend',
      `unix://${path.join(dir, 'pxd.sock')}`,
      '--mounts-root',
      mountsRoot,
      '--secrets',
      `file:${path.join(dir, 'secrets')}`,
      '--state-dir',
      stateDir,
      '--jwt-issuer',
      ISSUER,
      '--jwt-shared-secret-file',
      secretFile,
      '--backend-timeout',
      '30',
      '--log-level',
      'info',
    ]);
    await child.start(socket);
  });
  afterAll(async () => {
    await child?.kill('SIGTERM');
    await pxd?.close();
    expect(leaks(child?.log ?? '', allTokens.flatMap(needlesOf))).toEqual([]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const stateFile = () => path.join(stateDir, 'state.json');
  const leftovers = () => readdirSync(stateDir).filter((f) => f.includes('.tmp-'));
  const readState = () =>
    JSON.parse(readFileSync(stateFile(), 'utf8')) as { version: number; volumes: Record<string, { secretPath?: string }> };

  it('mid-Create: state intact, no temp file, the retried Create succeeds, and the volume mounts by its short name', async () => {
    tried.push('sigkill-mid-create');
    expect((await callPlugin(socket, 'VolumeDriver.Create', { Name: 'k0', Opts: { token_secret: 'pwx/user1' } })).json).toEqual({
      Err: '',
    });
    expect(readState().volumes.k0?.secretPath).toBe('pwx/user1');

    pxd.faults.delayMs = 1_500;
    const inflight = callPlugin(socket, 'VolumeDriver.Create', { Name: 'k1', Opts: { token_secret: 'pwx/user1', size: '2G' } }).then(
      (r) => ({ ok: true as const, r }),
      (e: NodeJS.ErrnoException) => ({ ok: false as const, code: e.code }),
    );
    const deadline = Date.now() + 5_000;
    while (!pxd.requests.some((q) => q.endpoint === '/VolumeDriver.Create' && q.body.includes('"k1"')) && Date.now() < deadline)
      await sleep(5);
    await child.kill('SIGKILL');
    const outcome = await inflight;
    // Docker sees the connection drop (and would retry with an empty body, which the proxy refuses).
    expect(outcome.ok).toBe(false);
    expect(readState().version).toBe(1);
    // The -o token_secret reference is on disk before pxd sees the Create, so it survives the kill.
    expect(Object.keys(readState().volumes)).toEqual(['k0', 'k1']);
    expect(leftovers()).toEqual([]);

    pxd.faults.delayMs = 0;
    await child.start(socket);
    expect(leftovers()).toEqual([]);
    const again = await callPlugin(socket, 'VolumeDriver.Create', { Name: 'k1', Opts: { token_secret: 'pwx/user1', size: '2G' } });
    expect(again.json).toEqual({ Err: '' });
    expect(readState().volumes.k1?.secretPath).toBe('pwx/user1');
    const m = await callPlugin(socket, 'VolumeDriver.Mount', { Name: 'k1', ID: mountId('z') });
    expect(m.json.Err).toBe('');
    expect(m.json.Mountpoint).toMatch(new RegExp(`/k1${mountId('z')}$`));
    record(
      'proxy SIGKILLed mid-Create, restarted',
      'connection dropped; after restart Create {"Err":""}',
      'state.json parsed, no *.tmp-* left',
    );
  });

  it('during a burst of Creates (state writes in flight): the state file always parses and no temp file is left', async () => {
    tried.push('sigkill-burst');
    let killedWithTemp = 0;
    for (let round = 0; round < 3; round++) {
      const names = Array.from({ length: 40 }, (_, i) => `burst${round}x${i}`);
      const calls = names.map((name) =>
        callPlugin(socket, 'VolumeDriver.Create', { Name: name, Opts: { token_secret: 'pwx/user1' } }).catch(() => undefined),
      );
      await sleep(20 + round * 25);
      await child.kill('SIGKILL');
      await Promise.all(calls);
      const state = readState();
      expect(state.version).toBe(1);
      expect(state.volumes.k0?.secretPath).toBe('pwx/user1');
      killedWithTemp += leftovers().length;
      await child.start(socket);
      // A temp file cut off mid-write is cleaned up when the proxy starts again.
      expect(leftovers()).toEqual([]);
      // Whatever was cut off is simply created again.
      const redo = await Promise.all(
        names.map((name) => callPlugin(socket, 'VolumeDriver.Create', { Name: name, Opts: { token_secret: 'pwx/user1' } })),
      );
      expect(redo.every((r) => r.json?.Err === '')).toBe(true);
      expect(names.every((name) => readState().volumes[name]?.secretPath === 'pwx/user1')).toBe(true);
    }
    record(
      'proxy SIGKILLed during a burst of state writes (3 rounds)',
      'every Create retried {"Err":""}',
      `state.json parsed each time; ${killedWithTemp} temp file(s) cut off mid-write, removed at restart`,
    );
  });
});

// =================================================================================================
describe('disk full while writing the state file', () => {
  let dir: string;
  let stack: Stack;
  let stateDir: string;
  let mounted = false;
  let method = '';

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-full-'));
    stateDir = path.join(dir, 'state');
    mkdirSync(stateDir);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k,mode=0700', 'tmpfs', stateDir], { stdio: 'pipe' });
      mounted = true;
      method = 'tmpfs of 16 KiB filled up (ENOSPC)';
    } catch {
      method = 'a folder where the temp file goes (EISDIR): mount -t tmpfs is not permitted here';
    }
    stack = await startStack({ dir, flags: { stateDir } });
    stack.writeSecret('pwx/user1', await signHs256(SHARED_SECRET, userClaims('user1')));
  });
  afterAll(async () => {
    await stack?.close();
    if (mounted) execFileSync('umount', [stateDir]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('STATE_WRITE_FAILED with a clear message, the old state kept, and recovery once space is back', async () => {
    tried.push('disk-full');
    const create = (name: string) => stack.call('VolumeDriver.Create', { Name: name, Opts: { token_secret: 'pwx/user1' } });
    expect((await create('f0')).json).toEqual({ Err: '' });
    const stateFile = path.join(stateDir, 'state.json');
    const before = readFileSync(stateFile, 'utf8');
    const filler = path.join(stateDir, 'filler');
    const blocker = `${stateFile}.tmp-${process.pid}`;
    if (mounted) {
      const fd = openSync(filler, 'w');
      const chunk = Buffer.alloc(1024, 0x41);
      try {
        for (let i = 0; i < 64; i++) writeSync(fd, chunk);
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        closeSync(fd);
      }
    } else {
      mkdirSync(blocker);
    }
    const from = stack.logs.length;
    const r = await create('f1');
    const err = expectErr(
      r,
      'STATE_WRITE_FAILED',
      /could not write the state file .*state\.json \((ENOSPC|EISDIR)\); the previous state is kept/,
    );
    // The old state is intact on disk and in memory; no temp file left behind.
    expect(readFileSync(stateFile, 'utf8')).toBe(before);
    expect(stack.proxy.state.get('f1')).toBeUndefined();
    expect(stack.proxy.state.get('f0')?.secretPath).toBe('pwx/user1');
    expect(readdirSync(stateDir).filter((f) => f.includes('.tmp-') && (mounted || f !== path.basename(blocker)))).toEqual([]);
    // Refused before pxd saw it: nothing was created without its reference on disk.
    const audit = expectAudit(stack, from, 'STATE_WRITE_FAILED', 'error', false);
    // The proxy keeps serving.
    expect((await stack.call('VolumeDriver.Mount', { Name: 'f0', ID: mountId('a') })).json.Err).toBe('');
    // Space back: the same Create (idempotent at pxd) records the reference.
    if (mounted) rmSync(filler);
    else rmSync(blocker, { recursive: true });
    expect((await create('f1')).json).toEqual({ Err: '' });
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).volumes.f1.secretPath).toBe('pwx/user1');
    expect((await stack.call('VolumeDriver.Mount', { Name: 'f1', ID: mountId('b') })).json.Err).toBe('');
    record(`disk full writing the state file (${method})`, err, audit);
  });
});
