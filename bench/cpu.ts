/**
 * CPU per request of the forwarding path, each forwarder in its own process (bench/forwarder.ts)
 * in front of the same pxd double, driven with the same load: the proxy's lean transport
 * (node:http + undici Pool), express.json + http-proxy, and the whole pxd-auth-proxy on a
 * pass-through Get and on an authenticated Mount. CPU is the child's process.cpuUsage() delta over
 * the measured requests; latency is measured separately, one request at a time.
 *
 *   tsx bench/cpu.ts [requests per mode]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { startPxdDouble } from '../test/doubles/pxd/server.js';
import { ISSUER, SHARED_SECRET, userClaims } from '../test/helpers/tokens.js';
import { hmacJwt, nowSec, percentile, writeFigures } from '../test/hardening/helpers.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface CpuRow {
  forwarder: string;
  call: string;
  requests: number;
  cpuMicrosPerRequest: number;
  latencyMs: { p50: number; p99: number };
  requestsPerSecond: number;
}

export interface CpuResult {
  node: string;
  cpus: number;
  concurrency: number;
  rows: CpuRow[];
  /** express+http-proxy CPU ÷ lean CPU on the same Get. */
  ratio: number;
}

interface Child {
  proc: ChildProcess;
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

async function startForwarder(mode: string, socket: string, backend: string, work: string): Promise<Child> {
  const proc = fork(path.join(HERE, 'forwarder.ts'), [mode, socket, backend, work], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    proc.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
    proc.once('exit', (code) => reject(new Error(`forwarder ${mode} exited (${code})`)));
  });
  return {
    proc,
    cpu: () =>
      new Promise<number>((resolve) => {
        proc.once('message', (m) => {
          const u = (m as { cpu: NodeJS.CpuUsage }).cpu;
          resolve(u.user + u.system);
        });
        proc.send('cpu');
      }),
    stop: async () => {
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

export async function runCpuBench(opts: { requests?: number; concurrency?: number; log?: (l: string) => void } = {}): Promise<CpuResult> {
  const N = opts.requests ?? 20_000;
  const C = opts.concurrency ?? 8;
  const log = opts.log ?? (() => undefined);
  const work = mkdtempSync(path.join(os.tmpdir(), 'pxa-bench-'));
  mkdirSync(path.join(work, 'mounts'));
  mkdirSync(path.join(work, 'secrets', 'pwx'), { recursive: true });
  const backendSock = path.join(work, 'pxd.sock');
  const pxd = await startPxdDouble({
    socketPath: backendSock,
    auth: { issuers: [{ name: ISSUER, sharedSecret: SHARED_SECRET }] },
    mountsRoot: path.join(work, 'mounts'),
    defaultSize: '1G',
  });
  const token = hmacJwt({ alg: 'HS256' }, { ...userClaims('bench'), iat: nowSec(), exp: nowSec() + 24 * 3600 }, SHARED_SECRET);
  writeFileSync(path.join(work, 'secrets', 'pwx', 'bench'), token);
  const rows: CpuRow[] = [];
  try {
    // The volume every Get and Mount is about.
    const direct = new Pool('http://localhost', { socketPath: backendSock, connections: 1 });
    const c = await direct.request({ path: '/VolumeDriver.Create', method: 'POST', body: JSON.stringify({ Name: `name=benchvol,token=${token}` }) });
    if ((await c.body.text()).trim() !== '{"Err":""}') throw new Error('bench set-up: create failed');
    await direct.close();

    const get = { endpoint: 'VolumeDriver.Get', body: { Name: 'benchvol' } };
    const mount = { endpoint: 'VolumeDriver.Mount', body: { Name: 'token_secret=pwx/bench,name=benchvol', ID: 'b1' } };
    const plan: Array<[string, string, typeof get]> = [
      ['lean', 'node:http + undici Pool (the proxy transport)', get],
      ['express', 'express.json + http-proxy', get],
      ['proxy', 'pxd-auth-proxy, pass-through', get],
      ['proxy', 'pxd-auth-proxy, authenticated', mount],
    ];
    for (const [mode, label, call] of plan) {
      const socket = path.join(work, `${mode}.sock`);
      const child = await startForwarder(mode, socket, backendSock, work);
      const pool = new Pool('http://localhost', { socketPath: socket, connections: C, pipelining: 1 });
      const payload = JSON.stringify(call.body) + '\n';
      const once = async (): Promise<void> => {
        const res = await pool.request({ path: `/${call.endpoint}`, method: 'POST', headers: { accept: 'application/vnd.docker.plugins.v1.2+json' }, body: payload });
        const text = await res.body.text();
        const j = JSON.parse(text) as { Err?: string; Volume?: unknown; Mountpoint?: unknown };
        if (res.statusCode !== 200 || j.Err || !(j.Volume || j.Mountpoint)) throw new Error(`${label}: unexpected reply ${res.statusCode} ${text.slice(0, 200)}`);
      };
      const load = async (count: number, conc: number): Promise<void> => {
        let left = count;
        await Promise.all(
          Array.from({ length: conc }, async () => {
            while (left-- > 0) await once();
          }),
        );
      };
      try {
        await load(Math.min(3_000, N), C); // warm-up: JIT, pools, caches
        const cpu0 = await child.cpu();
        const t0 = performance.now();
        await load(N, C);
        const wall = performance.now() - t0;
        const cpu1 = await child.cpu();
        const lat: number[] = [];
        for (let i = 0; i < 1_000; i++) {
          const s = performance.now();
          await once();
          lat.push(performance.now() - s);
        }
        lat.sort((a, b) => a - b);
        const row: CpuRow = {
          forwarder: label,
          call: call.endpoint.replace('VolumeDriver.', ''),
          requests: N,
          cpuMicrosPerRequest: Math.round(((cpu1 - cpu0) / N) * 10) / 10,
          latencyMs: { p50: Math.round(percentile(lat, 50) * 1000) / 1000, p99: Math.round(percentile(lat, 99) * 1000) / 1000 },
          requestsPerSecond: Math.round((N / wall) * 1000),
        };
        rows.push(row);
        log(`cpu: ${label} ${row.call}: ${row.cpuMicrosPerRequest} µs CPU/request, p50 ${row.latencyMs.p50} ms, p99 ${row.latencyMs.p99} ms (one at a time), ${row.requestsPerSecond}/s at ${C} in flight`);
      } finally {
        await pool.close();
        await child.stop();
        pxd.requests.length = 0;
      }
    }
  } finally {
    await pxd.close();
    rmSync(work, { recursive: true, force: true });
  }
  const lean = rows.find((r) => r.forwarder.startsWith('node:http'))!;
  const expr = rows.find((r) => r.forwarder.startsWith('express'))!;
  return { node: process.version, cpus: os.cpus().length, concurrency: C, rows, ratio: Math.round((expr.cpuMicrosPerRequest / lean.cpuMicrosPerRequest) * 10) / 10 };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await runCpuBench({ requests: Number(process.argv[2] ?? 20_000), log: (l) => process.stdout.write(`${l}\n`) });
  process.stdout.write(`express+http-proxy uses ${r.ratio}× the CPU of the lean path per request\n`);
  writeFigures('benchCpu', r);
}
