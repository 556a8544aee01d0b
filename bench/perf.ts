/**
 * `npm run bench`: what pxd-auth-proxy costs, measured side by side in one run over real unix sockets.
 * Prints a table and writes every figure to bench/results.json. See bench/README.md.
 *
 *   npm run bench                         the whole benchmark (about three minutes)
 *   npm run bench -- --smoke              every section with tiny sizes (a few seconds, for CI)
 *   npm run bench -- --only hot,cold      some sections: hot, cold, steady, startup, verify, forwarders, filestore, cluster
 *   npm run bench -- --only cluster --agents 100   the cluster section with another number of agents (default 50)
 *   npm run bench -- --out /tmp/r.json    write the results elsewhere (--smoke writes to a temp file)
 *   npm run bench -- --dcos-latency 0     the cold path without DC/OS latency (what the proxy itself costs)
 *   npm run bench -- --only steady --steady 300000   a longer steady state (does RSS level off?)
 *   PXA_BENCH_BIN=/other/dist/bin/pxd-auth-proxy.js  measure another build (to compare before and after)
 *
 * Processes (bench/stack.ts): the load generator (autocannon), the trivial backend and the proxy (the
 * built bin, as an operator runs it) each in their own process; the DC/OS double here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { TokenVerifier } from '../src/tokens/verify.js';
import type { LoadJob, LoadRequest, LoadResult } from './load.js';
import {
  BIN,
  cpuMicros,
  fullGc,
  ISSUER,
  makeWorld,
  rssMiB,
  SECRET_PATH,
  SHARED_SECRET,
  startBackend,
  startLoad,
  startProxy,
  WARM_SECRET_PATH,
  type BenchWorld,
  type Load,
  type ProxyChild,
} from './stack.js';
import { benchToken } from './tokens.js';
import { forwarderRows, type ForwarderRow } from './forwarders.js';
import { containerId, DOCKER_NAME, GET, MOUNT, req, steadyCycle } from './requests.js';
import { clusterReport, runCluster, type ClusterResult } from './cluster.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const README = path.join(HERE, 'README.md');

/** bench/README.md with the report between `<!-- results:start -->` and `<!-- results:end -->`. */
export function spliceResults(doc: string, when: string, machine: Record<string, unknown>, report: string): string {
  const START = '<!-- results:start -->';
  const END = '<!-- results:end -->';
  const s = doc.indexOf(START);
  const e = doc.indexOf(END);
  if (s < 0 || e < s) throw new Error(`bench/README.md has no ${START} ... ${END} section`);
  const head = `Run of ${when.slice(0, 16).replace('T', ' ')} UTC on ${machine.cpus} × ${machine.cpu}, Node ${machine.node}; all figures in bench/results.json.`;
  return `${doc.slice(0, s)}${START}\n${head}\n\n\`\`\`\n${report}\n\`\`\`\n${doc.slice(e)}`;
}
const SECTIONS = ['hot', 'cold', 'steady', 'startup', 'verify', 'forwarders', 'filestore', 'cluster'] as const;
type Section = (typeof SECTIONS)[number];

const { values: argv } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    'dcos-latency': { type: 'string' },
    steady: { type: 'string' },
    agents: { type: 'string' },
  },
});
const smoke = argv.smoke === true;
const only = new Set<Section>((argv.only ? argv.only.split(',') : SECTIONS) as Section[]);
for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section ${s} (sections: ${SECTIONS.join(', ')})`);
const outFile =
  argv.out ?? (smoke ? path.join(mkdtempSync(path.join(os.tmpdir(), 'pxa-bench-')), 'results.json') : path.join(HERE, 'results.json'));

/** Sizes: the full run, or a smoke that only proves every section still works. */
const SIZE = smoke
  ? {
      connections: [16],
      warmSec: 0,
      runSec: 0.3,
      rounds: 1,
      burst: 20,
      warmBursts: 1,
      steady: 1_000,
      steadyWarm: 0,
      startups: 1,
      verifySec: 0.05,
    }
  : {
      connections: [1, 16],
      warmSec: 1,
      runSec: 4,
      rounds: 3,
      burst: 200,
      warmBursts: 10,
      steady: 100_000,
      steadyWarm: 5_000,
      startups: 7,
      verifySec: 1,
    };
const DCOS_LATENCY_MS = Number(argv['dcos-latency'] ?? 20);
if (argv.steady) SIZE.steady = Number(argv.steady);

const out = (l = ''): void => void process.stdout.write(`${l}\n`);
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Target {
  what: string;
  measured: number;
  unit: string;
  limit: number;
  /** 'max': measured must be ≤ limit; 'min': ≥ limit. */
  kind: 'max' | 'min';
  met: boolean;
}
const targets: Target[] = [];
function target(what: string, measured: number, unit: string, kind: 'max' | 'min', limit: number): void {
  targets.push({ what, measured, unit, limit, kind, met: kind === 'max' ? measured <= limit : measured >= limit });
}

// ---- requests ---------------------------------------------------------------------------------

/** One call, its whole reply body (what every reply of a run must then equal). */
async function once(load: Load, socketPath: string, r: LoadRequest): Promise<string> {
  const res = await load.run({ socketPath, requests: [r], connections: 1, burst: true, capture: true });
  const body = res.sample ?? '';
  const j = JSON.parse(body) as { Err?: string; Mountpoint?: string; Volume?: unknown };
  if (j.Err !== '' || !(j.Mountpoint || j.Volume)) throw new Error(`${r.path} through ${socketPath}: not a success: ${body}`);
  return body;
}

function checkRun(label: string, r: LoadResult): void {
  if (r.bad || r.errors || r.timeouts)
    throw new Error(`${label}: ${r.bad} bad replies, ${r.errors} errors, ${r.timeouts} timeouts (first: ${r.sample ?? '-'})`);
}

// ---- 1. pass-through and hot path -------------------------------------------------------------

interface HotRow {
  call: 'Get' | 'Mount';
  connections: number;
  direct: LoadResult;
  proxied: LoadResult;
  proxyCpuMicrosPerRequest: number;
  /** proxied ÷ direct requests per second. */
  ratio: number;
  addedP50Ms: number;
}

async function hot(world: BenchWorld, load: Load, proxySocket: string, proxyPid: number): Promise<HotRow[]> {
  const rows: HotRow[] = [];
  for (const [call, r] of [
    ['Get', GET],
    ['Mount', MOUNT],
  ] as const) {
    const expectDirect = await once(load, world.backendSocket, r);
    const expectProxied = await once(load, proxySocket, r);
    for (const connections of SIZE.connections) {
      const job = (socketPath: string, expect: string, durationSec: number): LoadJob => ({
        socketPath,
        requests: [r],
        connections,
        durationSec,
        expect,
      });
      // Warm both paths (JIT, pools, caches) before anything counts.
      if (SIZE.warmSec > 0) {
        await load.run(job(world.backendSocket, expectDirect, SIZE.warmSec));
        await load.run(job(proxySocket, expectProxied, SIZE.warmSec));
      }
      const runs: Array<{ direct: LoadResult; proxied: LoadResult; cpu: number }> = [];
      for (let round = 0; round < SIZE.rounds; round++) {
        // Alternate which goes first so that drift in the machine falls on both.
        const directFirst = round % 2 === 0;
        let direct!: LoadResult;
        let proxied!: LoadResult;
        let cpu = 0;
        for (const which of directFirst ? ['direct', 'proxied'] : ['proxied', 'direct']) {
          if (which === 'direct') {
            direct = await load.run(job(world.backendSocket, expectDirect, SIZE.runSec));
            checkRun(`direct ${call} at ${connections}`, direct);
          } else {
            const c0 = cpuMicros(proxyPid);
            proxied = await load.run(job(proxySocket, expectProxied, SIZE.runSec));
            cpu = (cpuMicros(proxyPid) - c0) / proxied.requests;
            checkRun(`proxied ${call} at ${connections}`, proxied);
          }
        }
        runs.push({ direct, proxied, cpu });
      }
      // The round with the median proxied throughput, with the direct run beside it.
      const pick = [...runs].sort((a, b) => a.proxied.requestsPerSecond - b.proxied.requestsPerSecond)[runs.length >> 1]!;
      const row: HotRow = {
        call,
        connections,
        direct: pick.direct,
        proxied: pick.proxied,
        proxyCpuMicrosPerRequest: r1(median(runs.map((x) => x.cpu))),
        ratio: r3(pick.proxied.requestsPerSecond / pick.direct.requestsPerSecond),
        addedP50Ms: r3(pick.proxied.latencyMs.p50 - pick.direct.latencyMs.p50),
      };
      rows.push(row);
      out(
        `hot: ${call} at ${connections}: direct ${row.direct.requestsPerSecond}/s p50 ${row.direct.latencyMs.p50} p99 ${row.direct.latencyMs.p99} ms | ` +
          `proxied ${row.proxied.requestsPerSecond}/s p50 ${row.proxied.latencyMs.p50} p99 ${row.proxied.latencyMs.p99} ms | ` +
          `${row.proxyCpuMicrosPerRequest} µs proxy CPU/request`,
      );
    }
  }
  const mount16 = rows.find((r) => r.call === 'Mount' && r.connections === 16)!;
  const mount1 = rows.find((r) => r.call === 'Mount' && r.connections === 1);
  const get16 = rows.find((r) => r.call === 'Get' && r.connections === 16)!;
  target('Mount (token_secret) through the proxy at 16 connections', mount16.proxied.requestsPerSecond, 'req/s', 'min', 10_000);
  target('Mount through the proxy at 16 connections, p99', mount16.proxied.latencyMs.p99, 'ms', 'max', 3);
  target('Mount: proxy CPU per request at 16 connections', mount16.proxyCpuMicrosPerRequest, 'µs', 'max', 100);
  if (mount1) target('Mount at 1 connection: p50 added by the proxy', mount1.addedP50Ms, 'ms', 'max', 0.2);
  target('Get pass-through at 16 connections', get16.proxied.requestsPerSecond, 'req/s', 'min', 12_000);
  return rows;
}

// ---- 2. cold path -----------------------------------------------------------------------------

interface Burst {
  wallMs: number;
  /** DC/OS calls made during the burst. */
  dcosSecretGets: number;
  dcosLogins: number;
  ok: number;
  latencyMs: { p50: number; p99: number; max: number };
}

interface ColdResult {
  burst: number;
  dcosLatencyMs: number;
  /** Logins when the proxy started (in the background, before any request). */
  loginsAtStart: number;
  /** A proxy that has served Mounts (and bursts) of another secret meets a secret it never read. */
  running: Burst;
  /** A proxy just started: its code has never run (no JIT yet) and nothing is cached. */
  fresh: Burst;
}

async function burst(world: BenchWorld, load: Load, socket: string, name: string): Promise<Burst> {
  world.dcos.resetCounters();
  const r = await load.run({
    socketPath: socket,
    requests: [req('VolumeDriver.Mount', { Name: name, ID: containerId('b0') })],
    connections: SIZE.burst,
    burst: true,
  });
  checkRun('cold burst', r);
  return {
    wallMs: r3(r.seconds * 1000),
    dcosSecretGets: world.dcos.counters.totalSecretGets,
    dcosLogins: world.dcos.counters.logins,
    ok: r.requests - r.bad,
    latencyMs: { p50: r.latencyMs.p50, p99: r.latencyMs.p99, max: r.latencyMs.max },
  };
}

/** A fresh proxy, once its start-up login has finished. */
async function loggedInProxy(world: BenchWorld, socket: string): Promise<{ proxy: ProxyChild; logins: number }> {
  world.dcos.resetCounters();
  const proxy = await startProxy(world, socket);
  const until = Date.now() + 10_000;
  while (world.dcos.counters.loginsOk < 1) {
    if (Date.now() > until) throw new Error('the proxy did not log in to DC/OS at start');
    await new Promise((r) => setTimeout(r, 5));
  }
  return { proxy, logins: world.dcos.counters.logins };
}

async function cold(world: BenchWorld, load: Load): Promise<ColdResult> {
  world.dcos.slowMs = DCOS_LATENCY_MS;
  try {
    // 1. A running proxy: a second of Mounts naming another secret, then the burst on SECRET_PATH.
    const a = await loggedInProxy(world, path.join(world.dir, 'cold-running.sock'));
    let running: Burst;
    try {
      // In service, a proxy has met bursts before: warm it with Mounts of another secret, kept-alive
      // and in bursts of new connections (the first bursts a process meets take up to three times
      // as long while its connection handling is compiled; the fresh proxy below shows that case).
      const warm = req('VolumeDriver.Mount', { Name: `token_secret=${WARM_SECRET_PATH},name=warmvol`, ID: containerId('e0') });
      const sock = path.join(world.dir, 'cold-running.sock');
      if (SIZE.warmSec > 0)
        checkRun('cold warm-up', await load.run({ socketPath: sock, requests: [warm], connections: 16, durationSec: SIZE.warmSec }));
      for (let i = 0; i < SIZE.warmBursts; i++)
        checkRun('cold warm-up burst', await load.run({ socketPath: sock, requests: [warm], connections: SIZE.burst, burst: true }));
      running = await burst(world, load, path.join(world.dir, 'cold-running.sock'), `token_secret=${SECRET_PATH},name=coldvol`);
    } finally {
      await a.proxy.stop();
    }
    // 2. A proxy just started.
    const b = await loggedInProxy(world, path.join(world.dir, 'cold-fresh.sock'));
    let fresh: Burst;
    try {
      fresh = await burst(world, load, path.join(world.dir, 'cold-fresh.sock'), `token_secret=${SECRET_PATH},name=coldvol`);
    } finally {
      await b.proxy.stop();
    }
    const res: ColdResult = { burst: SIZE.burst, dcosLatencyMs: DCOS_LATENCY_MS, loginsAtStart: a.logins, running, fresh };
    for (const [label, x] of [
      ['running proxy', running],
      ['fresh proxy', fresh],
    ] as const) {
      out(
        `cold: ${label}: ${res.burst} concurrent Mounts of a secret never read in ${x.wallMs} ms; DC/OS (${DCOS_LATENCY_MS} ms latency): ${x.dcosSecretGets} secret GET(s), ${x.dcosLogins} login(s) during the burst`,
      );
    }
    target(`Cold burst of ${res.burst}: DC/OS secret GETs`, Math.max(running.dcosSecretGets, fresh.dcosSecretGets), 'GETs', 'max', 1);
    target(`Cold burst of ${res.burst}: DC/OS logins`, Math.max(running.dcosLogins, fresh.dcosLogins), 'logins', 'max', 1);
    // The DC/OS latency the burst must wait for: one secret GET, plus a login if one was needed.
    const dcosMs = DCOS_LATENCY_MS * (running.dcosSecretGets + running.dcosLogins);
    target(`Cold burst of ${res.burst} (running proxy): wall time, DC/OS ${dcosMs} ms + 50 ms`, running.wallMs, 'ms', 'max', dcosMs + 50);
    return res;
  } finally {
    world.dcos.slowMs = 0;
  }
}

// ---- 3. steady state --------------------------------------------------------------------------

interface SteadyResult {
  requests: number;
  mix: Record<string, number>;
  requestsPerSecond: number;
  /** As read, garbage V8 has not collected yet included. */
  rssMiB: { atStart: number; afterWarmUp: number; atEnd: number };
  /** Read right after a full GC (what the proxy retains), after the warm-up and at the end. */
  rssAfterGcMiB: { afterWarmUp: number; atEnd: number };
  /** Growth over the run, each point read after a full GC: what the target judges. */
  growthMiB: number;
  /** Growth over the run as read, without forcing a GC. */
  rawGrowthMiB: number;
  latencyMs: { p50: number; p99: number };
  proxyCpuMicrosPerRequest: number;
}

async function steady(world: BenchWorld, load: Load, token: string): Promise<SteadyResult> {
  const socket = path.join(world.dir, 'steady.sock');
  // --inspect-port=0 only names the port Node's inspector takes if SIGUSR1 opens it (fullGc()).
  const proxy = await startProxy(world, socket, { nodeArgs: ['--inspect-port=0'] });
  try {
    const cycle = steadyCycle(token);
    const mix: Record<string, number> = {};
    for (const c of cycle) mix[c.path.slice(14)] = (mix[c.path.slice(14)] ?? 0) + 1;
    const atStart = rssMiB(proxy.pid);
    if (SIZE.steadyWarm > 0)
      checkRun('steady warm-up', await load.run({ socketPath: socket, requests: cycle, connections: 16, amount: SIZE.steadyWarm }));
    const afterWarmUp = rssMiB(proxy.pid);
    await fullGc(proxy);
    const afterWarmUpGc = rssMiB(proxy.pid);
    const c0 = cpuMicros(proxy.pid);
    const r = await load.run({ socketPath: socket, requests: cycle, connections: 16, amount: SIZE.steady });
    const cpu = (cpuMicros(proxy.pid) - c0) / r.requests;
    checkRun('steady', r);
    const atEnd = rssMiB(proxy.pid);
    await fullGc(proxy);
    const atEndGc = rssMiB(proxy.pid);
    const res: SteadyResult = {
      requests: r.requests,
      mix,
      requestsPerSecond: r.requestsPerSecond,
      rssMiB: { atStart, afterWarmUp, atEnd },
      rssAfterGcMiB: { afterWarmUp: afterWarmUpGc, atEnd: atEndGc },
      growthMiB: r1(atEndGc - afterWarmUpGc),
      rawGrowthMiB: r1(atEnd - afterWarmUp),
      latencyMs: { p50: r.latencyMs.p50, p99: r.latencyMs.p99 },
      proxyCpuMicrosPerRequest: r1(cpu),
    };
    out(
      `steady: ${res.requests} mixed requests at ${res.requestsPerSecond}/s; RSS ${atStart} MiB at start, ${afterWarmUp} after ${SIZE.steadyWarm} warm-up requests ` +
        `(${afterWarmUpGc} after a full GC), ${atEnd} at the end (${atEndGc} after a full GC)`,
    );
    target(`RSS growth over ${res.requests} mixed requests (after a full GC at both points)`, res.growthMiB, 'MiB', 'max', 10);
    return res;
  } finally {
    await proxy.stop();
  }
}

// ---- 4. start-up ------------------------------------------------------------------------------

interface StartupResult {
  runs: number[];
  medianMs: number;
  /** `node -e 0` from spawn to exit: what Node itself costs before any of our code runs. */
  nodeAloneMs: number;
}

async function startup(world: BenchWorld): Promise<StartupResult> {
  const runs: number[] = [];
  for (let i = 0; i < SIZE.startups; i++) {
    const p = await startProxy(world, path.join(world.dir, `startup-${i}.sock`));
    runs.push(r1(p.startupMs));
    await p.stop();
  }
  const alone: number[] = [];
  for (let i = 0; i < SIZE.startups; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    alone.push(performance.now() - t0);
  }
  const res = { runs, medianMs: r1(median(runs)), nodeAloneMs: r1(median(alone)) };
  out(
    `startup: ${res.medianMs} ms from spawn to the first Activate answered (median of ${runs.length}; node -e 0 alone: ${res.nodeAloneMs} ms)`,
  );
  target('Start-up: spawn until the socket answers Activate (median)', res.medianMs, 'ms', 'max', 500);
  return res;
}

// ---- 5. token verification --------------------------------------------------------------------

interface VerifyRow {
  algorithm: string;
  uncachedPerSecond: number;
  cachedPerSecond: number;
  cachedMicros: number;
}

async function verify(): Promise<VerifyRow[]> {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pem = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }).toString();
  const claims = { name: 'Bench', email: 'bench@example.com', roles: ['system.user'], groups: [] };
  const sign = (alg: string, key: KeyObject | Uint8Array): Promise<string> =>
    new SignJWT(claims).setProtectedHeader({ alg }).setIssuer(ISSUER).setSubject('bench').setIssuedAt().setExpirationTime('1h').sign(key);
  const cases: Array<[string, string]> = [
    ['HS256', await sign('HS256', new TextEncoder().encode(SHARED_SECRET))],
    ['RS256', await sign('RS256', rsa.privateKey)],
    ['ES256', await sign('ES256', ec.privateKey)],
  ];
  const issuers = [
    { name: ISSUER, sharedSecret: SHARED_SECRET, rsaPublicKeyPem: pem(rsa.publicKey), ecdsaPublicKeyPem: pem(ec.publicKey) },
  ];
  const make = (cacheSize: number): TokenVerifier =>
    new TokenVerifier({
      issuers,
      requiredClaims: ['iss', 'sub', 'exp', 'iat', 'name', 'email'],
      usernameClaim: 'sub',
      clockToleranceSec: 0,
      maxTokenLength: 16_384,
      cacheSize,
    });
  const rate = async (v: TokenVerifier, token: string): Promise<number> => {
    for (let i = 0; i < 200; i++) await v.verify(token); // warm
    let n = 0;
    const t0 = performance.now();
    const until = t0 + SIZE.verifySec * 1000;
    while (performance.now() < until) {
      for (let i = 0; i < 50; i++) await v.verify(token);
      n += 50;
    }
    return n / ((performance.now() - t0) / 1000);
  };
  const rows: VerifyRow[] = [];
  for (const [alg, token] of cases) {
    const uncached = await rate(make(0), token);
    const cached = await rate(make(10_000), token);
    rows.push({
      algorithm: alg,
      uncachedPerSecond: Math.round(uncached),
      cachedPerSecond: Math.round(cached),
      cachedMicros: r3(1e6 / cached),
    });
    out(`verify: ${alg} ${Math.round(uncached)}/s uncached, ${Math.round(cached)}/s cached (${r3(1e6 / cached)} µs a hit), one in flight`);
  }
  return rows;
}

// ---- 7. file store against the DC/OS cache ----------------------------------------------------

interface FileStoreSide {
  requestsPerSecond: number;
  p50Ms: number;
  proxyCpuMicrosPerRequest: number;
}

interface FileStoreResult {
  connections: number;
  /** `--secrets file:<dir>`: one stat of the token file per Mount. */
  file: FileStoreSide;
  /** `--secrets dcos`, the token cached (TTL 60 s): no I/O for the secret. */
  dcos: FileStoreSide;
  /** file ÷ DC/OS proxy CPU per Mount. */
  cpuRatio: number;
}

/** The file store stats its file once per Mount; the DC/OS store answers from memory. Both with the same base path. */
async function fileStore(world: BenchWorld, load: Load): Promise<FileStoreResult> {
  const secretsDir = path.join(world.dir, 'file-secrets');
  const file = path.join(secretsDir, SECRET_PATH);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${world.token}\n`, { mode: 0o600 });
  const written = Date.now();
  const base = ['--secrets-base-path', 'pwx/secrets'];
  const sides = [
    { key: 'file' as const, socket: path.join(world.dir, 'fs-file.sock'), extra: [...base, '--secrets', `file:${secretsDir}`] },
    { key: 'dcos' as const, socket: path.join(world.dir, 'fs-dcos.sock'), extra: base },
  ];
  const procs: ProxyChild[] = [];
  try {
    const running: Array<(typeof sides)[number] & { pid: number; expect: string }> = [];
    for (const s of sides) {
      const proxy = await startProxy(world, s.socket, { extra: s.extra });
      procs.push(proxy);
      await once(load, s.socket, req('VolumeDriver.Create', { Name: DOCKER_NAME, Opts: null })).catch(() => undefined);
      running.push({ ...s, pid: proxy.pid, expect: await once(load, s.socket, MOUNT) });
    }
    // A file changed in the last 2 s is read again on every Mount (its stat cannot be trusted yet):
    // measure a settled file, as in service.
    await new Promise((r) => setTimeout(r, Math.max(0, written + 2_500 - Date.now())));
    const connections = SIZE.connections[SIZE.connections.length - 1]!;
    const job = (s: (typeof running)[number], durationSec: number): LoadJob => ({
      socketPath: s.socket,
      requests: [MOUNT],
      connections,
      durationSec,
      expect: s.expect,
    });
    if (SIZE.warmSec > 0) for (const s of running) await load.run(job(s, SIZE.warmSec));
    const runs: Record<'file' | 'dcos', Array<{ r: LoadResult; cpu: number }>> = { file: [], dcos: [] };
    for (let round = 0; round < SIZE.rounds; round++) {
      for (const s of round % 2 === 0 ? running : [...running].reverse()) {
        const c0 = cpuMicros(s.pid);
        const r = await load.run(job(s, SIZE.runSec));
        const cpu = (cpuMicros(s.pid) - c0) / r.requests;
        checkRun(`filestore: Mount through the ${s.key} store`, r);
        runs[s.key].push({ r, cpu });
      }
    }
    const side = (xs: Array<{ r: LoadResult; cpu: number }>): FileStoreSide => {
      const pick = [...xs].sort((a, b) => a.r.requestsPerSecond - b.r.requestsPerSecond)[xs.length >> 1]!;
      return {
        requestsPerSecond: pick.r.requestsPerSecond,
        p50Ms: pick.r.latencyMs.p50,
        proxyCpuMicrosPerRequest: r1(median(xs.map((x) => x.cpu))),
      };
    };
    const res: FileStoreResult = { connections, file: side(runs.file), dcos: side(runs.dcos), cpuRatio: 0 };
    res.cpuRatio = r3(res.file.proxyCpuMicrosPerRequest / res.dcos.proxyCpuMicrosPerRequest);
    for (const p of procs) {
      const log = readFileSync(p.logFile, 'utf8');
      if (log.includes(world.token) || log.includes(world.token.split('.')[2]!)) throw new Error('the proxy log holds the bench token');
    }
    out(
      `filestore: Mount at ${connections}: file store ${res.file.requestsPerSecond}/s, ${res.file.proxyCpuMicrosPerRequest} µs proxy CPU/request | ` +
        `DC/OS cached ${res.dcos.requestsPerSecond}/s, ${res.dcos.proxyCpuMicrosPerRequest} µs | file ÷ DC/OS CPU ${res.cpuRatio}× (${res.cpuRatio <= 1.3 ? 'within' : 'OVER'} 1.3×)`,
    );
    target(`Mount at ${connections} connections: proxy CPU, file store ÷ DC/OS cached`, res.cpuRatio, '×', 'max', 1.3);
    return res;
  } finally {
    for (const p of procs) await p.stop();
  }
}

// ---- the run ----------------------------------------------------------------------------------

function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? c.toLocaleString('en-US') : c)))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  const line = (r: Array<string | number>): string =>
    r.map((c, i) => (i === 0 ? String(c).padEnd(w[i]!) : String(c).padStart(w[i]!))).join('  ');
  return [line(cells[0]!), w.map((x) => '-'.repeat(x)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

if (!existsSync(BIN)) throw new Error(`${BIN} is missing: npm run build first (npm run bench does)`);
const started = Date.now();
const token = await benchToken();
const world = await makeWorld(token, 0);
const backend = await startBackend(world.backendSocket, world.mountsRoot);
const load = await startLoad();
const results: Record<string, unknown> = {
  when: new Date().toISOString(),
  smoke,
  machine: {
    node: process.version,
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    platform: `${os.platform()} ${os.release()}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  },
};
let failure: unknown;
try {
  if (only.has('hot')) {
    const socket = path.join(world.dir, 'hot.sock');
    const proxy = await startProxy(world, socket);
    try {
      await once(load, socket, req('VolumeDriver.Create', { Name: DOCKER_NAME, Opts: null })).catch(() => undefined);
      results.hot = await hot(world, load, socket, proxy.pid);
      const log = readFileSync(proxy.logFile, 'utf8');
      if (log.includes(token) || log.includes(token.split('.')[2]!)) throw new Error('the proxy log holds the bench token');
    } finally {
      await proxy.stop();
    }
  }
  if (only.has('cold')) results.cold = await cold(world, load);
  if (only.has('steady')) results.steady = await steady(world, load, token);
  if (only.has('startup')) results.startup = await startup(world);
  if (only.has('verify')) results.verify = await verify();
  if (only.has('forwarders'))
    results.forwarders = await forwarderRows({ world, load, seconds: SIZE.runSec, warmSec: SIZE.warmSec, log: out });
  if (only.has('filestore')) results.filestore = await fileStore(world, load);
  if (only.has('cluster'))
    results.cluster = await runCluster({
      smoke,
      agents: argv.agents ? Number(argv.agents) : undefined,
      dcosLatencyMs: DCOS_LATENCY_MS,
      log: out,
      target,
    });
} catch (e) {
  failure = e;
} finally {
  await load.stop();
  await backend.stop();
  await world.close();
}
if (failure) throw failure;
results.targets = targets;
results.seconds = Math.round((Date.now() - started) / 1000);
writeFileSync(outFile, JSON.stringify(results, null, 2) + '\n');

// ---- the report -------------------------------------------------------------------------------
// Printed, and (for a full run into bench/results.json) put in bench/README.md under "Latest results".
const report: string[] = [];
const print = out;
const outReport = (l = ''): void => {
  report.push(...l.split('\n'));
  print(l);
};
{
  const out = outReport;
  out();
  const hotRows = results.hot as HotRow[] | undefined;
  if (hotRows) {
    out('1. Pass-through and hot path (trivial backend; load from a separate process)');
    out(
      table(
        [
          'call',
          'conns',
          'direct req/s',
          'p50 ms',
          'p99 ms',
          'proxied req/s',
          'p50 ms',
          'p99 ms',
          'proxied/direct',
          '+p50 ms',
          'proxy CPU µs/req',
        ],
        hotRows.map((r) => [
          r.call === 'Get' ? 'Get (pass-through)' : 'Mount token_secret',
          r.connections,
          r.direct.requestsPerSecond,
          r.direct.latencyMs.p50,
          r.direct.latencyMs.p99,
          r.proxied.requestsPerSecond,
          r.proxied.latencyMs.p50,
          r.proxied.latencyMs.p99,
          r.ratio,
          r.addedP50Ms,
          r.proxyCpuMicrosPerRequest,
        ]),
      ),
    );
    out();
  }
  const c = results.cold as ColdResult | undefined;
  if (c) {
    out(
      `2. Cold path: ${c.burst} concurrent Mounts naming one token_secret never read before; DC/OS latency ${c.dcosLatencyMs} ms; the proxy logged in at start (${c.loginsAtStart} login)`,
    );
    out(
      table(
        ['proxy', 'wall ms', 'DC/OS GETs', 'logins', 'p50 ms', 'p99 ms'],
        [
          [
            'running (served another secret first)',
            c.running.wallMs,
            c.running.dcosSecretGets,
            c.running.dcosLogins,
            c.running.latencyMs.p50,
            c.running.latencyMs.p99,
          ],
          [
            'just started (no JIT yet)',
            c.fresh.wallMs,
            c.fresh.dcosSecretGets,
            c.fresh.dcosLogins,
            c.fresh.latencyMs.p50,
            c.fresh.latencyMs.p99,
          ],
        ],
      ),
    );
    out();
  }
  const s = results.steady as SteadyResult | undefined;
  if (s) {
    const sign = (x: number): string => `${x >= 0 ? '+' : ''}${x}`;
    out(
      `3. Steady state: ${s.requests.toLocaleString('en-US')} mixed requests at ${s.requestsPerSecond}/s, ${s.proxyCpuMicrosPerRequest} µs proxy CPU/request\n` +
        `   RSS after a full GC: ${s.rssAfterGcMiB.afterWarmUp} (warm) → ${s.rssAfterGcMiB.atEnd} MiB: ${sign(s.growthMiB)} MiB over the run\n` +
        `   RSS as read: ${s.rssMiB.atStart} (start) → ${s.rssMiB.afterWarmUp} (warm) → ${s.rssMiB.atEnd} MiB: ${sign(s.rawGrowthMiB)} MiB, garbage not yet collected included\n`,
    );
  }
  const st = results.startup as StartupResult | undefined;
  if (st)
    out(
      `4. Start-up: ${st.medianMs} ms from spawn to the first Activate answered (runs: ${st.runs.join(', ')}; node -e 0 alone: ${st.nodeAloneMs} ms)\n`,
    );
  const v = results.verify as VerifyRow[] | undefined;
  if (v) {
    out('5. Token verification (TokenVerifier, one in flight)');
    out(
      table(
        ['algorithm', 'uncached /s', 'cached /s', 'µs per cached hit'],
        v.map((x) => [x.algorithm, x.uncachedPerSecond, x.cachedPerSecond, x.cachedMicros]),
      ),
    );
    out();
  }
  const f = results.forwarders as ForwarderRow[] | undefined;
  if (f) {
    out('6. Forwarders on the same trivial backend, Get at 16 connections');
    out(
      table(
        ['forwarder', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req'],
        f.map((x) => [x.forwarder, x.requestsPerSecond, x.latencyMs.p50, x.latencyMs.p99, x.cpuMicrosPerRequest]),
      ),
    );
    out();
  }
  const fs7 = results.filestore as FileStoreResult | undefined;
  if (fs7) {
    out(`7. File store against the DC/OS cache: Mount token_secret at ${fs7.connections} connections, --secrets-base-path pwx/secrets`);
    out(
      table(
        ['secret store', 'req/s', 'p50 ms', 'proxy CPU µs/req'],
        [
          ['file:<dir> (one stat per Mount)', fs7.file.requestsPerSecond, fs7.file.p50Ms, fs7.file.proxyCpuMicrosPerRequest],
          ['dcos, token cached', fs7.dcos.requestsPerSecond, fs7.dcos.p50Ms, fs7.dcos.proxyCpuMicrosPerRequest],
        ],
      ),
    );
    out(`   file ÷ DC/OS proxy CPU: ${fs7.cpuRatio}× (target ≤ 1.3×)`);
    out();
  }
  const cl = results.cluster as ClusterResult | undefined;
  if (cl) out(`${clusterReport(cl)}\n`);
  if (targets.length) {
    out(smoke ? 'Targets (a smoke run measures too little to judge them)' : 'Targets');
    out(
      table(
        ['target', 'measured', 'limit', ''],
        targets.map((t) => [
          t.what,
          `${t.measured} ${t.unit}`,
          `${t.kind === 'max' ? '≤' : '≥'} ${t.limit.toLocaleString('en-US')} ${t.unit}`,
          t.met ? 'met' : 'MISSED',
        ]),
      ),
    );
  }
}
if (!smoke && !argv.out && only.size === SECTIONS.length) {
  writeFileSync(
    README,
    spliceResults(
      readFileSync(README, 'utf8'),
      results.when as string,
      results.machine as Record<string, unknown>,
      report.join('\n').trim(),
    ),
  );
  out(`results also written into ${path.relative(process.cwd(), README)} (Latest results)`);
}
out(`\nresults: ${path.relative(process.cwd(), outFile) || outFile} (${results.seconds} s)`);
