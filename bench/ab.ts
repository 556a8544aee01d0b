/**
 * A/B of two builds in one run: Mount through each at the given connections, alternating, several
 * rounds, proxy CPU per request from /proc. For deciding a change by measurement.
 *
 *   npx tsx bench/ab.ts <connections> <bin A> <bin B> [rounds] [seconds]
 */
import path from 'node:path';
import { cpuMicros, makeWorld, startBackend, startLoad, startProxy } from './stack.js';
import { benchToken } from './tokens.js';
import { MOUNT } from './requests.js';

const [conns = '16', binA, binB, rounds = '4', secs = '3'] = process.argv.slice(2);
if (!binA || !binB) throw new Error('usage: ab.ts <connections> <bin A> <bin B> [rounds] [seconds]');
const world = await makeWorld(await benchToken(), 0);
const backend = await startBackend(world.backendSocket, world.mountsRoot);
const load = await startLoad();
const results: Record<string, number[]> = { A: [], B: [] };
try {
  for (let round = 0; round < Number(rounds); round++) {
    for (const [label, bin] of (round % 2
      ? [
          ['B', binB],
          ['A', binA],
        ]
      : [
          ['A', binA],
          ['B', binB],
        ]) as Array<[string, string]>) {
      const socket = path.join(world.dir, `${label}${round}.sock`);
      const proxy = await startProxy(world, socket, { bin });
      try {
        await load.run({ socketPath: socket, requests: [MOUNT], connections: Number(conns), durationSec: 1 });
        const c0 = cpuMicros(proxy.pid);
        const r = await load.run({ socketPath: socket, requests: [MOUNT], connections: Number(conns), durationSec: Number(secs) });
        const cpu = (cpuMicros(proxy.pid) - c0) / r.requests;
        results[label]!.push(cpu);
        process.stdout.write(
          `${label}: ${r.requestsPerSecond}/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, ${cpu.toFixed(1)} µs CPU/request\n`,
        );
      } finally {
        await proxy.stop();
      }
    }
  }
} finally {
  await load.stop();
  await backend.stop();
  await world.close();
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
process.stdout.write(`median CPU per request: A ${med(results.A!).toFixed(1)} µs, B ${med(results.B!).toFixed(1)} µs\n`);
