/**
 * Section 6 of the benchmark: ways to forward a plugin call, each in its own process in front of the
 * same trivial backend, driven with the same Get at 16 connections. It is why the proxy forwards with
 * node:http + undici and keeps express and http-proxy off its hot path.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMicros, type BenchWorld, type Load } from './stack.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface ForwarderRow {
  forwarder: string;
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number };
  cpuMicrosPerRequest: number;
}

const MODES: Array<[string, string]> = [
  ['lean', 'node:http + parse and rewrite + undici Pool (the proxy transport)'],
  ['http-proxy', 'http-proxy, keep-alive agent, no parsing'],
  ['express', 'express 5 + express.json + http-proxy, parse and rewrite'],
];

export async function forwarderRows(o: {
  world: BenchWorld;
  load: Load;
  seconds: number;
  warmSec: number;
  log: (l: string) => void;
}): Promise<ForwarderRow[]> {
  const rows: ForwarderRow[] = [];
  const r = { path: '/VolumeDriver.Get', body: JSON.stringify({ Name: 'name=benchvol' }) };
  for (const [mode, label] of MODES) {
    const socket = path.join(o.world.dir, `fwd-${mode}.sock`);
    const proc = spawn(process.execPath, ['--import', 'tsx', path.join(HERE, 'forwarder.ts'), mode, socket, o.world.backendSocket], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      proc.stdout!.once('data', () => resolve());
      proc.once('exit', (code) => reject(new Error(`forwarder ${mode} exited (${code})`)));
    });
    try {
      const first = await o.load.run({ socketPath: socket, requests: [r], connections: 1, burst: true, capture: true });
      const expect = first.sample ?? '';
      if (!expect.includes('"Err":""')) throw new Error(`forwarder ${mode}: not a success: ${expect}`);
      if (o.warmSec > 0) await o.load.run({ socketPath: socket, requests: [r], connections: 16, durationSec: o.warmSec, expect });
      const c0 = cpuMicros(proc.pid!);
      const res = await o.load.run({ socketPath: socket, requests: [r], connections: 16, durationSec: o.seconds, expect });
      if (res.bad || res.errors) throw new Error(`forwarder ${mode}: ${res.bad} bad replies, ${res.errors} errors (${res.sample ?? '-'})`);
      const row: ForwarderRow = {
        forwarder: label,
        requestsPerSecond: res.requestsPerSecond,
        latencyMs: { p50: res.latencyMs.p50, p99: res.latencyMs.p99 },
        cpuMicrosPerRequest: Math.round(((cpuMicros(proc.pid!) - c0) / res.requests) * 10) / 10,
      };
      rows.push(row);
      o.log(
        `forwarders: ${label}: ${row.requestsPerSecond}/s, p50 ${row.latencyMs.p50} ms, p99 ${row.latencyMs.p99} ms, ${row.cpuMicrosPerRequest} µs CPU/request`,
      );
    } finally {
      const exited = new Promise<void>((res) => proc.once('exit', () => res()));
      proc.kill('SIGKILL');
      await exited;
    }
  }
  return rows;
}
