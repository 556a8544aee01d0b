/**
 * Where the proxy's time goes on one call: runs the real bin under `node --cpu-prof`, drives it with
 * the load generator, and prints the functions with the most self time (and the .cpuprofile path,
 * which Chrome DevTools or speedscope open).
 *
 *   npx tsx bench/profile.ts [mount|get|mix|burst] [seconds] [connections]
 *
 * mix: the steady-state cycle of bench/requests.ts.
 *
 * burst: after [seconds] of Mounts, 20 bursts of [connections] new connections, each sending one Mount.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cpuMicros, makeWorld, startBackend, startLoad, startProxy, SECRET_PATH } from './stack.js';
import { benchToken } from './tokens.js';
import { MOUNT_ID, steadyCycle } from './requests.js';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const [what = 'mount', secs = '8', conns = '16'] = process.argv.slice(2);
const token = await benchToken();
const world = await makeWorld(token, 0);
const backend = await startBackend(world.backendSocket, world.mountsRoot);
const socket = path.join(world.dir, 'proxy.sock');
const profDir = path.join(world.dir, 'prof');
const proxy = await startProxy(world, socket, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] });
const load = await startLoad();
const mount = { path: '/VolumeDriver.Mount', body: JSON.stringify({ Name: `token_secret=${SECRET_PATH},name=benchvol`, ID: MOUNT_ID }) };
const get = { path: '/VolumeDriver.Get', body: JSON.stringify({ Name: `token_secret=${SECRET_PATH},name=benchvol` }) };
const requests = what === 'get' ? [get] : what === 'mix' ? steadyCycle(token) : [mount];
await load.run({ socketPath: socket, requests, connections: Number(conns), durationSec: 1 }); // warm-up
const cpu0 = cpuMicros(proxy.pid);
let r = await load.run({ socketPath: socket, requests, connections: what === 'burst' ? 16 : Number(conns), durationSec: Number(secs) });
if (what === 'burst') {
  const walls: number[] = [];
  for (let i = 0; i < 20; i++) {
    r = await load.run({ socketPath: socket, requests, connections: Number(conns), burst: true });
    walls.push(Math.round(r.seconds * 1000));
  }
  process.stdout.write(`bursts of ${conns}: ${walls.join(', ')} ms\n`);
}
const cpu = (cpuMicros(proxy.pid) - cpu0) / r.requests;
process.stdout.write(`${JSON.stringify(r)}\nproxy CPU per request: ${cpu.toFixed(1)} µs\n`);
await proxy.stop();
await load.stop();
await backend.stop();

const file = path.join(profDir, readdirSync(profDir)[0]!);
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const self = new Map<number, number>();
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const byFn = new Map<string, number>();
for (const n of prof.nodes) {
  const t = self.get(n.id) ?? 0;
  const where = n.callFrame.url
    ? `${n.callFrame.url.replace(/^.*node_modules\//, '~/').replace(/^.*\/main\//, '')}:${n.callFrame.lineNumber + 1}`
    : '';
  const key = `${n.callFrame.functionName || '(anonymous)'} ${where}`;
  byFn.set(key, (byFn.get(key) ?? 0) + t);
}
const rows = [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, 45);
for (const [k, t] of rows) process.stdout.write(`${((t / total) * 100).toFixed(1).padStart(5)}%  ${k}\n`);
process.stdout.write(`\n${r.requests} requests; profile: ${file}\n`);

// PXA_PROFILE_INCLUSIVE=1: time with each function on the stack (its callees included).
if (process.env.PXA_PROFILE_INCLUSIVE) {
  const parent = new Map<number, Node>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const keyOf = (n: Node): string =>
    `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*node_modules\//, '~/').replace(/^.*\/main\//, '')}:${n.callFrame.lineNumber + 1}`;
  const incl = new Map<string, number>();
  for (const [id, t] of self) {
    const seen = new Set<string>();
    for (let n = byId.get(id); n; n = parent.get(n.id)) {
      const k = keyOf(n);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + t);
    }
  }
  process.stdout.write('\ninclusive:\n');
  for (const [k, t] of [...incl.entries()].sort((a, b) => b[1] - a[1]).slice(0, 60))
    process.stdout.write(`${((t / total) * 100).toFixed(1).padStart(5)}%  ${k}\n`);
}

// PXA_PROFILE_CALLERS=fnName: who calls it (self time of fnName by caller).
const wanted = process.env.PXA_PROFILE_CALLERS;
if (wanted) {
  const parent = new Map<number, Node>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const callers = new Map<string, number>();
  for (const n of prof.nodes) {
    if (n.callFrame.functionName !== wanted) continue;
    const chain: string[] = [];
    for (let p = parent.get(n.id); p && chain.length < 4; p = parent.get(p.id)) chain.push(p.callFrame.functionName || '(anonymous)');
    const key = chain.join(' < ');
    callers.set(key, (callers.get(key) ?? 0) + (self.get(n.id) ?? 0));
  }
  for (const [k, t] of [...callers.entries()].sort((a, b) => b[1] - a[1]))
    process.stdout.write(`${((t / total) * 100).toFixed(2).padStart(6)}%  ${wanted} < ${k}\n`);
}
