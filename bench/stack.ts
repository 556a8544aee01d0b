/**
 * The processes a benchmark run measures, each on its own unix socket:
 *   - the trivial backend (bench/backend.ts), its own process;
 *   - the DC/OS double (IAM + Secret Store over HTTPS with a CA), in this process: it only works on
 *     the cold path, and its counters are read directly;
 *   - pxd-auth-proxy itself: the built bin (dist/bin/pxd-auth-proxy.js serve), started as the shipped systemd
 *     unit starts it (a YAML file like plugin/pxd-auth-proxy.yaml, the DC/OS service account in the
 *     environment), logging in to DC/OS, its admin listener on, and writing its JSON log lines to a
 *     file;
 *   - the load generator (bench/load.ts, autocannon), its own process.
 * CPU time and RSS of a process are read from /proc/<pid>, so nothing is added to what is measured.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDcosDouble, type DcosDouble } from '../test/doubles/dcos/server.js';
import { makeRsaKeyPair, makeTestPki, type TestPki } from '../test/doubles/dcos/pki.js';
import { WebSocket } from 'undici';
import type { LoadJob, LoadResult } from './load.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The proxy measured: this checkout's build, or another one's (PXA_BENCH_BIN, to compare two builds). */
export const BIN = process.env.PXA_BENCH_BIN ?? path.resolve(HERE, '..', 'dist', 'bin', 'pxd-auth-proxy.js');
export const ISSUER = 'bench.pxd-auth.example';
/** A shared secret of the bench's own (HS256), as an operator would configure with PORTWORX_AUTH_JWT_SHAREDSECRET. */
export const SHARED_SECRET = 'bench-shared-secret-0123456789abcdef';
const SA = 'pxd-auth-bench';
/** The secret every hot-path Mount names. */
export const SECRET_PATH = 'pwx/secrets/bench-token';
/** Another secret, read to warm a proxy up before the cold burst names SECRET_PATH. */
export const WARM_SECRET_PATH = 'pwx/secrets/warm-token';

const CLK_TCK = 100; // Linux USER_HZ

/** user + system CPU of a process, in microseconds, from /proc/<pid>/stat (10 ms ticks). */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the comm field: state is [0], utime is field 14 of the line ([11] here), stime [12].
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
}

/** Resident set size of a process in MiB, from /proc/<pid>/status. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : NaN;
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

function stopper(proc: ChildProcess): () => Promise<void> {
  return async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
  };
}

/** Resolves once `socket` answers Plugin.Activate; the time it took is measured by the caller. */
export async function waitForActivate(socket: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  const req = 'POST /Plugin.Activate HTTP/1.1\r\nHost: plugin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(socket);
      let text = '';
      c.setEncoding('utf8');
      c.on('connect', () => c.write(req));
      c.on('data', (d: string) => (text += d));
      c.on('end', () => resolve(text.startsWith('HTTP/1.1 200') && text.includes('VolumeDriver')));
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`${socket} did not answer Plugin.Activate within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export async function startBackend(socket: string, mountsRoot: string): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(HERE, 'backend.ts'), socket, mountsRoot], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.once('data', () => resolve());
    proc.once('exit', (code) => reject(new Error(`bench backend exited (${code})`)));
  });
  return { proc, pid: proc.pid!, stop: stopper(proc) };
}

export interface Load {
  run(job: LoadJob): Promise<LoadResult>;
  stop(): Promise<void>;
}

export async function startLoad(): Promise<Load> {
  const proc = fork(path.join(HERE, 'load.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    proc.once('message', () => resolve());
    proc.once('exit', (code) => reject(new Error(`load generator exited (${code})`)));
  });
  let next = 0;
  return {
    run: (job) =>
      new Promise((resolve, reject) => {
        const id = ++next;
        const on = (m: { id: number; result?: LoadResult; error?: string }): void => {
          if (m.id !== id) return;
          proc.off('message', on);
          if (m.error) reject(new Error(m.error));
          else resolve(m.result!);
        };
        proc.on('message', on);
        proc.send({ id, job });
      }),
    stop: stopper(proc),
  };
}

export interface BenchWorld {
  dir: string;
  mountsRoot: string;
  backendSocket: string;
  pki: TestPki;
  dcos: DcosDouble;
  /** The bench user's token (HS256, valid for a day). Never printed. */
  token: string;
  /** Arguments and environment that run the proxy against this world. */
  proxyArgs(socket: string, extra?: string[]): { args: string[]; env: NodeJS.ProcessEnv };
  close(): Promise<void>;
}

export async function makeWorld(token: string, dcosLatencyMs: number): Promise<BenchWorld> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-perf-'));
  const mountsRoot = path.join(dir, 'mounts');
  mkdirSync(mountsRoot);
  const pki = makeTestPki();
  const sa = makeRsaKeyPair();
  const keyFile = path.join(dir, 'sa.pem');
  writeFileSync(keyFile, sa.pkcs8Pem, { mode: 0o600 });
  const dcos = await startDcosDouble({
    tls: { serverKeyPem: pki.serverKeyPem, serverCertPem: pki.serverCertPem },
    serviceAccounts: { [SA]: sa.publicKeyPem },
    secrets: { [SECRET_PATH]: token, [WARM_SECRET_PATH]: token },
    grants: { [SA]: ['dcos:secrets:default:/pwx/secrets/* read', 'dcos:secrets:default:/pxd-auth-proxy/volumes/* full'] },
    slowMs: dcosLatencyMs,
  });
  // The shipped configuration (plugin/pxd-auth-proxy.yaml and .env), pointed at this world.
  const sharedSecretFile = path.join(dir, 'shared-secret');
  writeFileSync(sharedSecretFile, SHARED_SECRET, { mode: 0o600 });
  const configFile = path.join(dir, 'pxd-auth-proxy.yaml');
  writeFileSync(
    configFile,
    shippedYaml({
      backendSocket: path.join(dir, 'backend.sock'),
      mountsRoot,
      sharedSecretFile,
      dcosUrl: dcos.url,
      caFile: pki.ca.certFile,
    }),
  );
  let n = 0;
  return {
    dir,
    mountsRoot,
    backendSocket: path.join(dir, 'backend.sock'),
    pki,
    dcos,
    token,
    proxyArgs(socket, extra = []) {
      n++;
      return {
        // What differs between the proxies of one run: socket, state and admin listener (on, as shipped).
        args: [
          'serve',
          '--config',
          configFile,
          '--socket',
          socket,
          '--state-dir',
          path.join(dir, `state-${n}`),
          '--admin-listen',
          `unix:${path.join(dir, `admin-${n}.sock`)}`,
          ...extra,
        ],
        env: { PATH: process.env.PATH, DCOS_SERVICE_ACCOUNT: SA, DCOS_SERVICE_ACCOUNT_PRIVATE_KEY_FILE: keyFile },
      };
    },
    async close() {
      await dcos.close();
      pki.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ProxyChild extends Child {
  /** ms from spawn until the socket answered Plugin.Activate. */
  startupMs: number;
  logFile: string;
}

/** The real bin, its log lines (JSON, info) going to a file as they would go to journald. */
export async function startProxy(
  world: BenchWorld,
  socket: string,
  opts: { nodeArgs?: string[]; extra?: string[]; env?: NodeJS.ProcessEnv; bin?: string } = {},
): Promise<ProxyChild> {
  const { args, env: baseEnv } = world.proxyArgs(socket, opts.extra);
  const env = { ...baseEnv, ...opts.env };
  const logFile = `${socket}.log`;
  const fd = openSync(logFile, 'a');
  const t0 = performance.now();
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.bin ?? BIN, ...args], {
    env,
    stdio: ['ignore', fd, fd],
    cwd: world.dir,
  });
  closeSync(fd);
  const died = new Promise<never>((_r, reject) =>
    proc.once('exit', (code) =>
      reject(new Error(`proxy exited (${code}); see ${logFile}:\n${readFileSync(logFile, 'utf8').slice(-2000)}`)),
    ),
  );
  await Promise.race([waitForActivate(socket), died]);
  const startupMs = performance.now() - t0;
  died.catch(() => undefined);
  return { proc, pid: proc.pid!, stop: stopper(proc), startupMs, logFile };
}

/**
 * A full garbage collection in a running proxy, through Node's own inspector: SIGUSR1 opens it
 * (on the port given with --inspect-port=0, which changes nothing until then), and the DevTools
 * command HeapProfiler.collectGarbage runs a full GC. The proxy's code is not changed. What V8
 * would free at its next major GC is then not counted as growth, and what is retained still is.
 */
export async function fullGc(proxy: ProxyChild): Promise<void> {
  const log = () => readFileSync(proxy.logFile, 'utf8');
  let m = /Debugger listening on (ws:\/\/\S+)/.exec(log());
  if (!m) {
    process.kill(proxy.pid, 'SIGUSR1');
    for (let i = 0; i < 500 && !(m = /Debugger listening on (ws:\/\/\S+)/.exec(log())); i++) await new Promise((r) => setTimeout(r, 10));
    if (!m) throw new Error(`the proxy's inspector did not open; see ${proxy.logFile}`);
  }
  const ws = new WebSocket(m[1]!);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
    ws.onmessage = (ev) => {
      if (JSON.parse(String(ev.data)).id === 1) {
        ws.close();
        resolve();
      }
    };
    ws.onerror = () => reject(new Error('could not reach the proxy inspector'));
  });
}

/**
 * The shipped configuration (plugin/pxd-auth-proxy.yaml, as on an agent) pointed at a bench world:
 * the DC/OS store, one shared-secret issuer, pxd's default roles.
 */
export function shippedYaml(o: {
  backendSocket: string;
  mountsRoot: string;
  sharedSecretFile: string;
  dcosUrl: string;
  caFile: string;
  secretsBasePath?: string;
  cacheTtlSec?: number;
  logLevel?: string;
}): string {
  return [
    `backend: unix://${o.backendSocket}`,
    `mountsRoot: ${o.mountsRoot}`,
    'backendTimeout: 90',
    'secrets: dcos',
    ...(o.secretsBasePath ? [`secretsBasePath: ${o.secretsBasePath}`] : []),
    'issuers:',
    `  - name: ${ISSUER}`,
    `    sharedSecretFile: ${o.sharedSecretFile}`,
    'usernameClaim: sub',
    'clockTolerance: 0',
    'requiredClaims: [iss, sub, exp, iat, name, email]',
    'tokenCacheSize: 10000',
    'policy:',
    '  roles:',
    '    system.admin: [create, remove, mount]',
    '    system.user: [create, remove, mount]',
    '    system.view: []',
    '  bindings: []',
    'volumeSecrets: []',
    `logLevel: ${o.logLevel ?? 'info'}`,
    'logPretty: false',
    'dcos:',
    `  DCOS_CLUSTER_URL: ${o.dcosUrl}`,
    `  DCOS_SECRETS_CA_CERT_FILE: ${o.caFile}`,
    `  PXD_AUTH_SECRET_CACHE_TTL: ${o.cacheTtlSec ?? 60}`,
    '  PXD_AUTH_SECRET_MAX_STALE: 300',
    '  PXD_AUTH_DCOS_TIMEOUT: 20',
    '',
  ].join('\n');
}
