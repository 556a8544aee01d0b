/**
 * End-to-end harness: a private dockerd (its own data root, exec root, pidfile and API socket in a
 * temp folder), the docker CLI pointed at it, an offline busybox image, and the bookkeeping to leave
 * the machine as it was: every process we start is killed by pid (SIGTERM, then SIGKILL), every file
 * we create outside our temp folder is removed — only if it did not exist before.
 *
 * Availability: `prepareE2e()` decides, before any test is declared, whether this machine can run the
 * suite (Linux, root, docker.io + busybox-static installed or installable with apt, the plugin socket
 * free, a probe dockerd that starts). In CI (`CI=true`) an answer of "no" must fail the suite; outside
 * CI the suite is skipped loudly with the reason.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  rmdirSync,
  symlinkSync,
  copyFileSync,
  chmodSync,
  statSync,
  unlinkSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const PLUGIN_DIR = '/run/docker/plugins';
export const PLUGIN_NAME = 'pxd-auth';
export const PLUGIN_SOCKET = `${PLUGIN_DIR}/${PLUGIN_NAME}.sock`;
export const IMAGE = 'pxa-busybox:e2e';

const APT_PACKAGES = ['docker.io', 'busybox-static'];

// ---------------------------------------------------------------------------------------------------
// Small process utilities

export function isCI(): boolean {
  const v = (process.env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== 'false' && v !== '0' && v !== 'no';
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The command line, for assertion messages. */
  cmd: string;
}

/** execFile that never throws on a non-zero exit: the caller asserts on code, stdout and stderr. */
export function run(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; input?: string } = {},
): Promise<RunResult> {
  const cmd = [file, ...args].join(' ');
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      {
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        cwd: opts.cwd,
        killSignal: 'SIGKILL',
      },
      (err, stdout, stderr) => {
        let code = 0;
        if (err) {
          const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
          code = typeof e.code === 'number' ? e.code : -1;
          if (e.killed) stderr += `\n[harness] ${cmd} was killed after ${opts.timeoutMs ?? 120_000} ms`;
          else if (typeof e.code === 'string') stderr += `\n[harness] ${cmd}: ${e.message}`;
        }
        resolve({ code, stdout: String(stdout), stderr: String(stderr), cmd });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Absolute path of an executable found on PATH (plus the sbin folders root normally has), or undefined. */
export function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, name);
    try {
      const st = statSync(p);
      if (st.isFile() && (st.mode & 0o111) !== 0) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped) counts as gone.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Every pid this harness started and has not seen exit, plus pids found later (dockerd's containerd):
 * killed with SIGKILL if the test worker exits before the suite's own cleanup ran.
 */
const livePids = new Set<number>();
const lateVictims = new Set<() => number | undefined>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    const pids = [...livePids];
    for (const f of lateVictims) {
      const p = f();
      if (p !== undefined) pids.push(p);
    }
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
}
function trackPid(pid: number): void {
  livePids.add(pid);
  installExitHook();
}
function untrackPid(pid: number): void {
  livePids.delete(pid);
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL and wait again. Only ever one pid. */
export async function killPid(pid: number, graceMs = 15_000): Promise<'exited' | 'killed' | 'stuck'> {
  if (!isAlive(pid)) {
    untrackPid(pid);
    return 'exited';
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* raced with its exit */
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) {
      untrackPid(pid);
      return 'exited';
    }
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  for (let i = 0; i < 100; i++) {
    if (!isAlive(pid)) {
      untrackPid(pid);
      return 'killed';
    }
    await sleep(50);
  }
  return 'stuck';
}

/** A long-running child with its output in a log file. */
export class Daemon {
  readonly child: ChildProcess;
  readonly pid: number;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    file: string,
    args: string[],
    readonly logFile: string,
    env: NodeJS.ProcessEnv,
  ) {
    const fd = openSync(logFile, 'a');
    try {
      this.child = spawn(file, args, { stdio: ['ignore', fd, fd], env });
    } finally {
      closeSync(fd);
    }
    if (this.child.pid === undefined) throw new Error(`${name}: could not start ${file}`);
    this.pid = this.child.pid;
    trackPid(this.pid);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        untrackPid(this.pid);
        resolve();
      });
      this.child.once('error', () => resolve());
    });
  }

  get running(): boolean {
    return this.exitInfo === undefined && isAlive(this.pid);
  }

  describeExit(): string {
    if (!this.exitInfo) return 'still running';
    return this.exitInfo.signal ? `killed by ${this.exitInfo.signal}` : `exited with code ${this.exitInfo.code}`;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  logTail(lines = 30): string {
    return this.log().split('\n').slice(-lines).join('\n');
  }

  async stop(graceMs = 15_000): Promise<'exited' | 'killed' | 'stuck'> {
    if (this.exitInfo) return 'exited';
    const r = await killPid(this.pid, graceMs);
    await Promise.race([this.exited, sleep(2_000)]);
    return r;
  }
}

// ---------------------------------------------------------------------------------------------------
// Host leftovers: what dockerd (and our proxy) create outside the temp folder

/** Paths outside our temp folder that a daemon run may create. Removed at the end only if absent at the start. */
const HOST_PATHS = ['/run/docker', PLUGIN_DIR, '/etc/docker', '/etc/docker/key.json', '/run/containerd', '/run/containerd/s'] as const;

export class HostLeftovers {
  private readonly existed = new Map<string, boolean>();
  constructor() {
    for (const p of HOST_PATHS) this.existed.set(p, existsSync(p));
  }

  /** Remove what we created: files first, then folders if empty (never a folder someone else filled). */
  cleanup(): string[] {
    const notes: string[] = [];
    if (!this.existed.get('/etc/docker/key.json')) tryRm('/etc/docker/key.json', notes);
    // Deepest first; a folder is removed only when it did not exist before and is now empty.
    for (const dir of ['/run/containerd/s', '/run/containerd', PLUGIN_DIR, '/run/docker', '/etc/docker']) {
      if (this.existed.get(dir)) continue;
      if (!existsSync(dir)) continue;
      try {
        rmdirSync(dir);
      } catch (e) {
        notes.push(`left ${dir} in place (${(e as NodeJS.ErrnoException).code}: ${safeList(dir)})`);
      }
    }
    return notes;
  }
}

function tryRm(p: string, notes: string[]): void {
  try {
    unlinkSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') notes.push(`could not remove ${p}: ${(e as Error).message}`);
  }
}

function safeList(dir: string): string {
  try {
    return readdirSync(dir).join(', ') || 'empty';
  } catch {
    return '?';
  }
}

// ---------------------------------------------------------------------------------------------------
// Availability

export interface E2eTools {
  dockerd: string;
  /** The docker CLI; /usr/bin/docker (docker.io's, same version as the daemon) when present. */
  docker: string;
  /** A statically linked busybox for the offline image. */
  busybox: string;
  /** What setup did (installed packages, a stale socket, ...). */
  notes: string[];
}

export type Availability = ({ ok: true } & E2eTools) | { ok: false; reason: string };

/** True when an ELF executable has no PT_INTERP program header (statically linked). */
export function isStaticElf(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const h = Buffer.alloc(64);
    if (readSync(fd, h, 0, 64, 0) < 64) return false;
    if (h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return false; // ELF64 little-endian only
    const phoff = Number(h.readBigUInt64LE(0x20));
    const phentsize = h.readUInt16LE(0x36);
    const phnum = h.readUInt16LE(0x38);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false; // PT_INTERP
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function findTools(): { tools?: Omit<E2eTools, 'notes'>; missing: string[] } {
  const missing: string[] = [];
  const dockerd = which('dockerd');
  if (!dockerd) missing.push('dockerd');
  if (!which('containerd')) missing.push('containerd');
  if (!which('runc')) missing.push('runc');
  const docker = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : which('docker');
  if (!docker) missing.push('docker (CLI)');
  const busybox = ['/bin/busybox', '/usr/bin/busybox', '/usr/local/bin/busybox'].find((p) => existsSync(p) && isStaticElf(p));
  if (!busybox) missing.push('a statically linked busybox');
  if (missing.length || !dockerd || !docker || !busybox) return { missing };
  return { tools: { dockerd, docker, busybox }, missing };
}

const POLICY_RC_D = '/usr/sbin/policy-rc.d';

/**
 * apt-get update, then install `packages` (call it under withInstallLock): undefined when done, else why
 * not. No service starts meanwhile.
 */
export async function aptInstall(notes: string[], packages: readonly string[] = APT_PACKAGES): Promise<string | undefined> {
  if (!which('apt-get')) return `apt-get is not available to install ${packages.join(' ')}`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const tail = (r: RunResult) => (r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ');
  // Installing docker.io must not start a system dockerd (it would share /run/docker with ours):
  // forbid service starts for the duration, as container images do, unless a policy is already there.
  let policyWritten = false;
  if (!existsSync(POLICY_RC_D)) {
    writeFileSync(
      POLICY_RC_D,
      '#!/bin/sh\n# written by pxd-auth-proxy e2e tests while installing docker.io; removed afterwards\nexit 101\n',
      { mode: 0o755 },
    );
    policyWritten = true;
  }
  try {
    const upd = await run('apt-get', ['update'], { env, timeoutMs: 300_000 });
    if (upd.code !== 0) return `apt-get update failed (exit ${upd.code}): ${tail(upd)}`;
    const inst = await run('apt-get', ['-o', 'DPkg::Lock::Timeout=120', 'install', '-y', '--no-install-recommends', ...packages], {
      env,
      timeoutMs: 600_000,
    });
    if (inst.code !== 0) return `apt-get install ${packages.join(' ')} failed (exit ${inst.code}): ${tail(inst)}`;
    notes.push(`installed ${packages.join(', ')} with apt-get`);
    return undefined;
  } finally {
    if (policyWritten) rmSync(POLICY_RC_D, { force: true });
  }
}

/** Is a unix socket accepting connections? */
export function socketAnswers(p: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.end();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/** One apt-get at a time: suites run in parallel, and apt's own lock makes a second apt-get fail rather than wait. */
const INSTALL_LOCK = path.join(os.tmpdir(), 'pxa-e2e-apt.lock');

/** One apt-get at a time, across the suites. */
export function withInstallLock<T>(f: () => Promise<T>): Promise<T> {
  return withLock(INSTALL_LOCK, f);
}

/** A lock folder holding its owner's pid; taken over when that owner is dead (a worker that died holding it). */
export async function withLock<T>(lock: string, f: () => Promise<T>, timeoutMs = 900_000): Promise<T> {
  const pidFile = path.join(lock, 'pid');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(pidFile, String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(readFileSync(pidFile, 'utf8'));
      } catch {
        /* its owner has not written its pid yet */
      }
      if (Number.isSafeInteger(owner) && owner > 0 && !isAlive(owner)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${lock} is still held (pid ${owner}) after ${timeoutMs} ms`);
      await sleep(500);
    }
  }
  try {
    return await f();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Linux, root, and dockerd, containerd, runc, the docker CLI and a static busybox, installed with apt
 * (one suite at a time) when missing. Starts nothing and checks no socket.
 */
export async function ensureE2eTools(): Promise<Availability> {
  const notes: string[] = [];
  if (process.platform !== 'linux') return { ok: false, reason: `dockerd needs Linux (this is ${process.platform})` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { ok: false, reason: 'not running as root: a private dockerd and a plugin socket in /run/docker/plugins need root' };
  }
  let found = findTools();
  if (!found.tools) {
    const missing = found.missing;
    const why = await withInstallLock(async () => {
      // Another suite may have installed them while this one waited.
      found = findTools();
      return found.tools ? undefined : aptInstall(notes);
    });
    if (why) return { ok: false, reason: `missing ${missing.join(', ')}; ${why}` };
    found = findTools();
    if (!found.tools) return { ok: false, reason: `still missing after apt-get install: ${found.missing.join(', ')}` };
  }
  return { ok: true, ...found.tools, notes };
}

/**
 * Can this machine run the e2e suite? Installs docker.io and busybox-static (as root, with apt) when
 * missing, checks the plugin socket is free, and starts and stops a probe dockerd.
 */
export async function prepareE2e(): Promise<Availability> {
  const found = await ensureE2eTools();
  if (!found.ok) return found;
  const notes = found.notes;
  if (existsSync(PLUGIN_SOCKET)) {
    if (await socketAnswers(PLUGIN_SOCKET)) {
      return {
        ok: false,
        reason: `${PLUGIN_SOCKET} is in use by another process (a real pxd-auth plugin?); the suite will not take it over`,
      };
    }
    notes.push(`${PLUGIN_SOCKET} existed but nobody answered on it (stale): the proxy replaces it and the suite removes it at the end`);
  }
  // Probe: can a dockerd start here at all (cgroups, mounts, capabilities)?
  const leftovers = new HostLeftovers();
  const probeDir = mkdtempSync(path.join(os.tmpdir(), 'pxa-e2e-probe-'));
  const probe = new Dockerd(probeDir, found);
  try {
    await probe.start(30_000);
  } catch (e) {
    return { ok: false, reason: `dockerd does not start on this machine: ${(e as Error).message}` };
  } finally {
    await probe.stop();
    notes.push(...probe.cleanupDir());
    notes.push(...leftovers.cleanup());
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------
// dockerd and the docker CLI

export interface DockerdOptions {
  /** A command that runs dockerd for us and execs it (its pid stays dockerd's), e.g. nsenter into a mount namespace. */
  launcher?: string[];
  /** More dockerd arguments (e.g. --config-file). */
  extraArgs?: string[];
}

export class Dockerd {
  readonly socket: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly pidFile: string;
  readonly logFile: string;
  readonly cliConfig: string;
  daemon: Daemon | undefined;
  /** Every pid of dockerd and its containerd seen, for the final check. */
  readonly pids: number[] = [];

  constructor(
    readonly dir: string,
    readonly tools: Pick<E2eTools, 'dockerd' | 'docker'>,
    readonly options: DockerdOptions = {},
  ) {
    this.socket = path.join(dir, 'docker.sock');
    this.dataRoot = path.join(dir, 'data');
    this.execRoot = path.join(dir, 'exec');
    this.pidFile = path.join(dir, 'docker.pid');
    this.logFile = path.join(dir, 'dockerd.log');
    this.cliConfig = path.join(dir, 'cli');
    mkdirSync(this.cliConfig, { recursive: true });
  }

  /** Start dockerd (again, on the same data root after a stop) and wait until it answers /_ping. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.daemon?.running) throw new Error('dockerd is already running');
    const args = [
      '--data-root',
      this.dataRoot,
      '--exec-root',
      this.execRoot,
      '--pidfile',
      this.pidFile,
      '-H',
      `unix://${this.socket}`,
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--storage-driver=vfs',
      ...(this.options.extraArgs ?? []),
    ];
    const env = { ...process.env };
    for (const k of ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'NOTIFY_SOCKET', 'LISTEN_FDS', 'LISTEN_PID'])
      delete env[k];
    const [file, ...pre] = [...(this.options.launcher ?? []), this.tools.dockerd];
    const d = new Daemon('dockerd', file!, [...pre, ...args], this.logFile, env);
    this.daemon = d;
    // dockerd's own containerd is not our child: find it by its pidfile if the worker dies first.
    lateVictims.add(this.exitVictim);
    installExitHook();
    this.pids.push(d.pid);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!d.running) throw new Error(`dockerd ${d.describeExit()} before it was ready; its log ends:\n${d.logTail()}`);
      if (await this.ping()) return;
      await sleep(100);
    }
    throw new Error(`dockerd did not answer on ${this.socket} within ${timeoutMs} ms; its log ends:\n${d.logTail()}`);
  }

  private readonly exitVictim = (): number | undefined => {
    const p = this.containerdPid();
    return p !== undefined && isAlive(p) && ownedByUs(p, this.execRoot) ? p : undefined;
  };

  /** dockerd's own containerd (started by dockerd under the exec root). */
  containerdPid(): number | undefined {
    try {
      const n = Number(readFileSync(path.join(this.execRoot, 'containerd', 'containerd.pid'), 'utf8').trim());
      return Number.isSafeInteger(n) && n > 1 ? n : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stop dockerd by pid (SIGTERM, then SIGKILL), then its containerd if it outlived it. */
  async stop(): Promise<string[]> {
    const notes: string[] = [];
    const d = this.daemon;
    if (!d) return notes;
    const ctrd = this.containerdPid();
    if (ctrd !== undefined) this.pids.push(ctrd);
    const r = await d.stop(20_000);
    if (r !== 'exited')
      notes.push(`dockerd (pid ${d.pid}) had to be ${r === 'killed' ? 'killed with SIGKILL' : 'abandoned: it did not die'}`);
    if (ctrd !== undefined && isAlive(ctrd) && ownedByUs(ctrd, this.execRoot)) {
      const c = await killPid(ctrd, 10_000);
      notes.push(`containerd (pid ${ctrd}) outlived dockerd and was ${c}`);
    }
    this.daemon = undefined;
    lateVictims.delete(this.exitVictim);
    return notes;
  }

  ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = http.request({ socketPath: this.socket, path: '/_ping', method: 'GET', timeout: 2_000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  }

  cliEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: this.cliConfig };
    for (const k of ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH']) delete env[k];
    // A client newer than the daemon negotiates down by itself; an explicit version only when asked.
    if (process.env.PXA_E2E_DOCKER_API_VERSION) env.DOCKER_API_VERSION = process.env.PXA_E2E_DOCKER_API_VERSION;
    return env;
  }

  /** `docker -H unix://<ours> ...args`. Never throws on a non-zero exit. */
  cli(args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
    return run(this.tools.docker, ['-H', `unix://${this.socket}`, ...args], { env: this.cliEnv(), timeoutMs: opts.timeoutMs ?? 150_000 });
  }

  /** Like cli() but fails with the command's output when it exits non-zero. */
  async ok(args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
    const r = await this.cli(args, opts);
    if (r.code !== 0) throw new Error(`${r.cmd} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Remove the temp folder (data root included). Returns notes for what could not be removed. */
  cleanupDir(): string[] {
    const notes: string[] = [];
    try {
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (e) {
      notes.push(`could not remove ${this.dir}: ${(e as Error).message}`);
    }
    return notes;
  }
}

/** The pid's command line mentions our exec root (so we never kill someone else's containerd). */
function ownedByUs(pid: number, execRoot: string): boolean {
  try {
    // containerd started by dockerd reads its config file under the exec root.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(execRoot);
  } catch {
    return false;
  }
}

/**
 * An image made offline: the static busybox in /bin with applet symlinks, imported with `docker import`.
 */
export async function buildBusyboxImage(dockerd: Dockerd, busybox: string, workDir: string, tag = IMAGE): Promise<void> {
  const rootfs = path.join(workDir, 'rootfs');
  for (const d of ['bin', 'data', 'tmp', 'etc', 'proc', 'sys', 'dev']) mkdirSync(path.join(rootfs, d), { recursive: true });
  copyFileSync(busybox, path.join(rootfs, 'bin', 'busybox'));
  chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of [
    'sh',
    'cat',
    'echo',
    'ls',
    'mkdir',
    'touch',
    'sleep',
    'test',
    'rm',
    'stat',
    'wc',
    'id',
    'env',
    'grep',
    'sync',
    'true',
  ]) {
    symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  }
  writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  const tarFile = path.join(workDir, 'rootfs.tar');
  const t = await run('tar', ['-C', rootfs, '-cf', tarFile, '.']);
  if (t.code !== 0) throw new Error(`tar failed: ${t.stderr}`);
  await dockerd.ok(['import', '--change', 'CMD ["/bin/sh"]', tarFile, tag]);
  rmSync(rootfs, { recursive: true, force: true });
  rmSync(tarFile, { force: true });
}
