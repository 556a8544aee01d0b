/**
 * Section 8 of `npm run bench`, cluster scale: what a DC/OS cluster of pxd-auth-proxy agents asks of
 * DC/OS. N agents (default 50) run in this process against one DC/OS double and one pxd double, each
 * with a small steady stream of Mounts (bench/cluster-fleet.ts). The DC/OS requests are counted as they
 * arrive (bench/cluster-meter.ts) over three windows:
 *   a. steady state: agents that have been running for a while (their cached secrets expire at
 *      moments of their own), for one cache TTL;
 *   b. every DC/OS auth token revoked at once (the double's revokeAll(): 401 to every token issued so
 *      far, as after an IAM key rotation): each agent logs in again when it next reads a secret;
 *   c. every agent restarted at once (close all, then start all together).
 * It reports requests per second (mean and busiest second) by kind, and how the logins are spread.
 *
 *   npx tsx bench/perf.ts --only cluster [--agents N]     as a section of the bench (results.json: `cluster`)
 *   npx tsx bench/cluster.ts [--agents N] [--ttl S] [--every MS] [--smoke] [--aligned] [--json]   alone, to try other sizes
 *     (--aligned: a fourth window, every token revoked again right after the restart)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DcosMeter, type DcosWindow } from './cluster-meter.js';
import { Fleet, type FleetOptions } from './cluster-fleet.js';

/**
 * REGISTRY (issue 14, next step): the path prefix of the volume reference registry in the Secret Store
 * (under /secrets/v1/secret/default/), so that its reads are counted apart from token reads.
 */
const REGISTRY_PREFIX: string | undefined = undefined;

export type TargetFn = (what: string, measured: number, unit: string, kind: 'max' | 'min', limit: number) => void;

export interface ClusterOptions {
  smoke: boolean;
  /** Agents (default 50; 5 in a smoke run). */
  agents?: number;
  /** Latency of every DC/OS answer (default 20 ms). */
  dcosLatencyMs?: number;
  /** Secret cache TTL of the agents (default: the shipped 60 s; 2 s in a smoke run). */
  cacheTtlSec?: number;
  /** Mean time between two Mounts on one agent (default 1.5 s; 0.2 s in a smoke run). */
  mountEveryMs?: number;
  /**
   * Also revoke every token once more right after the restart (the agents' cached secrets then expire
   * in step): a fourth window, `revokedAfterRestart`. Off in `npm run bench`; `--aligned` alone.
   */
  revokeAfterRestart?: boolean;
  log?: (line: string) => void;
  /** Judged targets (bench/perf.ts's table). */
  target?: TargetFn;
}

export interface MountFigures {
  count: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface ClusterWindow {
  dcos: DcosWindow;
  /** The agents' Mounts that ended in the window. */
  mounts: MountFigures;
  /** This process (every agent, both doubles, the load): event-loop busy share and CPU cores used. */
  benchProcess: { eventLoopBusy: number; cpuCores: number };
}

export interface ClusterResult {
  agents: number;
  tenants: number;
  volumes: number;
  volumesPerAgent: number;
  /** Distinct token secrets each agent reads (mean). */
  secretsPerAgent: number;
  names: FleetOptions['names'];
  cacheTtlSec: number;
  dcosLatencyMs: number;
  mountEveryMs: number;
  /** The first start of all agents at once (before the streams): its logins only. */
  firstStart: { startAllMs: number; logins: number; loginsBusiestSecond: number; loginSpreadSec: DcosWindow['loginSpreadSec'] };
  steady: ClusterWindow;
  revoked: ClusterWindow;
  restart: ClusterWindow & { stopAllMs: number; startAllMs: number };
  revokedAfterRestart?: ClusterWindow;
  /** Linear scaling of the measured figures to 1,000 agents (not measured: see bench/README.md, section 8). */
  extrapolatedTo1000: {
    steady: { secretReadsPerSecond: number; requestsPerSecondPeakUpTo: number };
    restart: { logins: number; loginsInBusiestSecond: number; secretReads: number; requestsPerSecondPeakUpTo: number };
    revoked: { logins: number; loginsPerSecondMean: number; loginsInBusiestSecondUpTo: number; unauthorized: number };
    /** 5-day DC/OS tokens renewed at 80 % of their life: logins per second, on average. */
    renewalLoginsPerSecond: number;
  };
  warnings: number;
  seconds: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const pct = (xs: number[], p: number): number => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};

/** A window of the run: DC/OS requests, the agents' Mounts and this process's load, from now until end(). */
function openWindow(meter: DcosMeter, fleet: Fleet): { end(): ClusterWindow } {
  const from = meter.mark();
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  return {
    end() {
      const dcos = meter.window(from);
      const mounts = fleet.mounts.filter((m) => m.t >= from.t);
      const ms = mounts.map((m) => m.ms);
      const used = process.cpuUsage(cpu);
      return {
        dcos,
        mounts: {
          count: mounts.length,
          failed: mounts.filter((m) => !m.ok).length,
          p50Ms: r3(pct(ms, 0.5)),
          p99Ms: r3(pct(ms, 0.99)),
          maxMs: r3(Math.max(0, ...ms)),
        },
        benchProcess: {
          eventLoopBusy: r3(performance.eventLoopUtilization(elu).utilization),
          cpuCores: r3((used.user + used.system) / 1000 / (dcos.seconds * 1000)),
        },
      };
    },
  };
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`cluster: ${what} did not happen within ${timeoutMs} ms`);
    await sleep(10);
  }
}

export async function runCluster(opts: ClusterOptions): Promise<ClusterResult> {
  const log = opts.log ?? ((l: string) => void process.stdout.write(`${l}\n`));
  const started = performance.now();
  const agents = opts.agents ?? (opts.smoke ? 5 : 50);
  const cacheTtlSec = opts.cacheTtlSec ?? (opts.smoke ? 2 : 60);
  const mountEveryMs = opts.mountEveryMs ?? (opts.smoke ? 200 : 1_500);
  const dcosLatencyMs = opts.dcosLatencyMs ?? 20;
  const volumesPerAgent = 4;
  const ttlMs = cacheTtlSec * 1000;
  /** Long enough for every agent to have mounted each of its volumes once more. */
  const settleMs = volumesPerAgent * mountEveryMs * 1.5;
  const restartMs = opts.smoke ? 2_000 : 20_000;
  if (!(agents >= 1)) throw new Error(`--agents: ${agents} is not a number of agents`);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'pxa-cluster-'));
  const fleet = await Fleet.create({
    dir,
    agents,
    tenants: 10,
    volumes: 20,
    volumesPerAgent,
    cacheTtlSec,
    dcosLatencyMs,
    mountEveryMs,
    names: 'inline', // REGISTRY: 'bare' once the volume reference registry is in (see volumeName()).
  });
  const meter = new DcosMeter(fleet.dcos, REGISTRY_PREFIX === undefined ? {} : { registryPrefix: REGISTRY_PREFIX });
  try {
    // The cluster boots: every agent at once; each logs in as it starts.
    const boot = meter.mark();
    let t0 = performance.now();
    await fleet.startAll();
    const bootStartMs = performance.now() - t0;
    await until(`${agents} logins`, () => fleet.dcos.counters.loginsOk >= agents, 60_000);
    const bootWindow = meter.window(boot);
    const firstStart = {
      startAllMs: r1(bootStartMs),
      logins: bootWindow.logins,
      loginsBusiestSecond: bootWindow.loginsBusiestSecond,
      loginSpreadSec: bootWindow.loginSpreadSec,
    };
    log(
      `cluster: ${agents} agents started at once in ${firstStart.startAllMs} ms; ${firstStart.logins} logins, ${firstStart.loginsBusiestSecond} in the busiest second`,
    );
    await fleet.createVolumes();

    // The Mount streams begin at random moments over one TTL, then run a while before anything counts.
    fleet.startStreams(ttlMs);
    log(`cluster: Mount streams starting over ${cacheTtlSec} s, then ${r1(settleMs / 1000)} s more before the steady window`);
    await sleep(ttlMs + settleMs);

    // a. Steady state, one TTL.
    let w = openWindow(meter, fleet);
    await sleep(ttlMs);
    const steady = w.end();
    log(line('steady', steady));

    // b. Every DC/OS auth token revoked: one TTL and the settling time, for every agent to meet it.
    w = openWindow(meter, fleet);
    fleet.dcos.revokeAll();
    await sleep(ttlMs + settleMs);
    const revoked = w.end();
    log(line('revoked', revoked));

    // c. Every agent restarted at once.
    t0 = performance.now();
    await fleet.stopAll();
    const stopAllMs = performance.now() - t0;
    w = openWindow(meter, fleet);
    t0 = performance.now();
    await fleet.startAll();
    const startAllMs = performance.now() - t0;
    await sleep(restartMs);
    const restart = { ...w.end(), stopAllMs: r1(stopAllMs), startAllMs: r1(startAllMs) };
    log(line('restart', restart));

    // d. (optional) Every token revoked again, while the cached secrets still expire in step from the restart.
    let revokedAfterRestart: ClusterWindow | undefined;
    if (opts.revokeAfterRestart) {
      w = openWindow(meter, fleet);
      fleet.dcos.revokeAll();
      await sleep(ttlMs + settleMs);
      revokedAfterRestart = w.end();
      log(line('revoked after the restart', revokedAfterRestart));
    }

    await fleet.stopStreams();
    if (fleet.failures.length)
      throw new Error(`cluster: ${fleet.failures.length}+ Docker calls failed, first: ${fleet.failures.join(' | ')}`);

    const k = 1000 / agents;
    const secretsPerAgent = r1(fleet.agents.reduce((n, a) => n + new Set(a.volumes.map((v) => v.tenant)).size, 0) / agents);
    const renewalSec = 0.8 * fleet.dcos.authTokenLifetimeSec;
    const res: ClusterResult = {
      agents,
      tenants: 10,
      volumes: 20,
      volumesPerAgent,
      secretsPerAgent,
      names: fleet.opts.names,
      cacheTtlSec,
      dcosLatencyMs,
      mountEveryMs,
      firstStart,
      steady,
      revoked,
      restart,
      ...(revokedAfterRestart ? { revokedAfterRestart } : {}),
      extrapolatedTo1000: {
        steady: {
          secretReadsPerSecond: r1((steady.dcos.secretReads / steady.dcos.seconds) * k),
          requestsPerSecondPeakUpTo: Math.round(steady.dcos.peakPerSecond * k),
        },
        restart: {
          logins: Math.round(restart.dcos.logins * k),
          loginsInBusiestSecond: Math.round(restart.dcos.loginsBusiestSecond * k),
          secretReads: Math.round(restart.dcos.secretReads * k),
          requestsPerSecondPeakUpTo: Math.round(restart.dcos.peakPerSecond * k),
        },
        revoked: {
          logins: Math.round(revoked.dcos.logins * k),
          loginsPerSecondMean: r1((revoked.dcos.logins * k) / revoked.dcos.seconds),
          loginsInBusiestSecondUpTo: Math.round(revoked.dcos.loginsBusiestSecond * k),
          unauthorized: Math.round(revoked.dcos.unauthorized * k),
        },
        renewalLoginsPerSecond: r3(1000 / renewalSec),
      },
      warnings: fleet.warnings.length,
      seconds: Math.round((performance.now() - started) / 1000),
    };
    // "Spread the load with jitter: logins must not all arrive in the same second." Judged as: at most
    // a quarter of a window's logins in its busiest second (what a start-up jitter of ~10 s would give).
    opts.target?.(
      `Cluster: all ${agents} agents restarted at once: logins in the busiest second`,
      r1(restart.dcos.loginsBusiestShare * 100),
      '%',
      'max',
      25,
    );
    opts.target?.(
      `Cluster: every DC/OS token revoked: logins in the busiest second`,
      r1(revoked.dcos.loginsBusiestShare * 100),
      '%',
      'max',
      25,
    );
    return res;
  } finally {
    await fleet.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function line(label: string, w: ClusterWindow): string {
  const d = w.dcos;
  return (
    `cluster: ${label}: ${d.requests} DC/OS requests in ${d.seconds} s (${d.meanPerSecond}/s, busiest second ${d.peakPerSecond}): ` +
    `${d.logins} logins (${d.loginsBusiestSecond} in the busiest second, 90 % within ${d.loginSpreadSec.shortest90} s), ` +
    `${d.secretReads} secret reads, ${d.unauthorized} 401s; ${w.mounts.count} Mounts, ${w.mounts.failed} failed, p99 ${w.mounts.p99Ms} ms`
  );
}

function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? c.toLocaleString('en-US') : c)))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  const fmt = (r: Array<string | number>): string =>
    r.map((c, i) => (i === 0 ? String(c).padEnd(w[i]!) : String(c).padStart(w[i]!))).join('  ');
  return [fmt(cells[0]!), w.map((x) => '-'.repeat(x)).join('  '), ...cells.slice(1).map(fmt)].join('\n');
}

/** The section's part of the report (bench/perf.ts prints it, and puts it in bench/README.md). */
export function clusterReport(c: ClusterResult): string {
  const row = (label: string, w: ClusterWindow): Array<string | number> => [
    label,
    w.dcos.seconds,
    w.dcos.requests,
    w.dcos.meanPerSecond,
    w.dcos.peakPerSecond,
    w.dcos.logins,
    `${w.dcos.loginsBusiestSecond} (${Math.round(w.dcos.loginsBusiestShare * 100)} %)`,
    w.dcos.loginSpreadSec.shortest90,
    w.dcos.secretReads,
    w.dcos.unauthorized,
    w.mounts.count,
    w.mounts.p99Ms,
    w.benchProcess.eventLoopBusy,
  ];
  const x = c.extrapolatedTo1000;
  return [
    `8. Cluster scale: ${c.agents} agents in one process, one DC/OS double (${c.dcosLatencyMs} ms latency); secret cache TTL ${c.cacheTtlSec} s;`,
    `   each agent Mounts one of its ${c.volumesPerAgent} volumes (${c.secretsPerAgent} token secrets) every ${c.mountEveryMs / 1000} s ± 50 %`,
    table(
      [
        'window',
        's',
        'DC/OS req',
        'req/s',
        'busiest s',
        'logins',
        'logins busiest s',
        '90 % logins in s',
        'secret reads',
        '401s',
        'Mounts',
        'Mount p99 ms',
        'loop busy',
      ],
      [
        row('steady state', c.steady),
        row('every DC/OS token revoked', c.revoked),
        row('all agents restarted at once', c.restart),
        ...(c.revokedAfterRestart ? [row('revoked again after the restart', c.revokedAfterRestart)] : []),
      ],
    ),
    `   first start of all ${c.agents} at once: ${c.firstStart.logins} logins, ${c.firstStart.loginsBusiestSecond} in the busiest second; restart: stop all ${c.restart.stopAllMs} ms, start all ${c.restart.startAllMs} ms`,
    `   1,000 agents, scaled linearly (not measured): steady ${x.steady.secretReadsPerSecond} secret reads/s; restart at once: ${x.restart.logins} logins, ` +
      `${x.restart.loginsInBusiestSecond} in the busiest second, ${x.restart.secretReads} secret reads; all tokens revoked: ${x.revoked.logins} logins over ${c.revoked.dcos.seconds} s ` +
      `(${x.revoked.loginsPerSecondMean}/s, busiest second up to ${x.revoked.loginsInBusiestSecondUpTo}); renewals ${x.renewalLoginsPerSecond} logins/s`,
  ].join('\n');
}

// ---- alone: npx tsx bench/cluster.ts ---------------------------------------------------------------
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      agents: { type: 'string' },
      ttl: { type: 'string' },
      every: { type: 'string' },
      'dcos-latency': { type: 'string' },
      aligned: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const num = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s));
  const res = await runCluster({
    smoke: values.smoke === true,
    agents: num(values.agents),
    cacheTtlSec: num(values.ttl),
    mountEveryMs: num(values.every),
    dcosLatencyMs: num(values['dcos-latency']),
    revokeAfterRestart: values.aligned === true,
  });
  process.stdout.write(`\n${clusterReport(res)}\n`);
  if (values.json) process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
}
