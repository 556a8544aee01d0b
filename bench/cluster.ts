/**
 * Section 8 of `npm run bench`, cluster scale: what a DC/OS cluster of pxd-auth-proxy agents asks of
 * DC/OS. N agents (default 50) run in this process against one DC/OS double and one pxd double, each
 * with a small steady stream of Mounts (bench/cluster-fleet.ts). Volumes are created once with
 * `-o token_secret` and mounted everywhere by their bare names, so each agent finds their references in
 * the volume reference registry (pxd-auth-proxy/volumes/ in the Secret Store). The DC/OS requests are
 * counted as they arrive (bench/cluster-meter.ts), registry reads apart from token secret reads:
 *   - the first start of every agent at once, before any request: the logins of warm() alone (jittered);
 *   - a burst of Mounts on a fresh agent: one registry read per volume, one secret read per secret;
 *   a. steady state: agents that have been running for a while (their cached secrets and records
 *      expire at moments of their own), for one cache TTL;
 *   b. every DC/OS auth token revoked at once (the double's revokeAll(): 401 to every token issued so
 *      far, as after an IAM key rotation): each agent logs in again when it next reads DC/OS;
 *   c. every agent restarted at once (close all, then start all together) while the Mount streams go
 *      on: each agent logs in when warm() fires or when its first Mount needs DC/OS, whichever is first,
 *      and the report says which.
 * It reports requests per second (mean and busiest second) by kind, and how the logins are spread.
 *
 *   npx tsx bench/perf.ts --only cluster [--agents N]     as a section of the bench (results.json: `cluster`)
 *   npx tsx bench/cluster.ts [--agents N] [--ttl S] [--every MS] [--jitter MS] [--names inline] [--smoke] [--aligned] [--json]
 *     alone, to try other sizes (--aligned: a fourth window, every token revoked again right after the restart;
 *     --names inline: token_secret in every Name, no registry, as before the registry)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WARM_JITTER_MS } from '../src/secrets/dcos/index.js';
import { DcosMeter, busiest, shortestHolding, type DcosWindow } from './cluster-meter.js';
import { Fleet, REGISTRY_FOLDER, type BurstResult, type FleetOptions, type LoginCause } from './cluster-fleet.js';

/**
 * The path prefix of the volume reference registry in the Secret Store (under
 * /secrets/v1/secret/default/), so that its reads are counted apart from token reads.
 */
const REGISTRY_PREFIX = `${REGISTRY_FOLDER}/`;
/** Mounts of each volume in the fresh-agent burst. */
const BURST_PER_VOLUME = 50;

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
  /** Longest start-up login delay of each agent (default: the shipped WARM_JITTER_MS, 10 s; 1 s in a smoke run). */
  warmJitterMs?: number;
  /** Bare names through the registry (default), or token_secret inline in every Name. */
  names?: FleetOptions['names'];
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

/** The logins after a start of every agent, by what asked for them (Fleet.loginCauses()). */
export interface LoginCauses {
  /** warm()'s jittered login fired before the agent's first Mount. */
  warm: CauseFigures;
  /** The agent's first Mount needed DC/OS before warm() fired: it logged in at once. */
  request: CauseFigures;
  /** Seconds from each agent's start to its first Mount (min, median, max); none before the streams. */
  firstMountAfterStartSec?: { min: number; p50: number; max: number };
}

export interface CauseFigures {
  logins: number;
  /** The most of them asked for within any 1-second interval. */
  busiestSecond: number;
  /** First to last, and the shortest interval holding 90 % of them (seconds). */
  firstToLastSec: number;
  shortest90Sec: number;
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
  /** The longest start-up login delay the agents ran with (warm()). */
  warmJitterMs: number;
  /** The first start of all agents at once, before any request: the logins of warm() alone. */
  firstStart: {
    startAllMs: number;
    logins: number;
    loginsBusiestSecond: number;
    loginsBusiestShare: number;
    loginSpreadSec: DcosWindow['loginSpreadSec'];
    loginCauses: LoginCauses;
  };
  /** Fresh agent (started, logged in, never mounted): every one of its volumes mounted BURST_PER_VOLUME times at once. */
  burst: BurstResult;
  steady: ClusterWindow;
  revoked: ClusterWindow;
  restart: ClusterWindow & { stopAllMs: number; startAllMs: number; loginCauses: LoginCauses };
  revokedAfterRestart?: ClusterWindow;
  /** Linear scaling of the measured figures to 1,000 agents (not measured: see bench/README.md, section 8). */
  extrapolatedTo1000: {
    steady: { secretReadsPerSecond: number; registryReadsPerSecond: number; requestsPerSecondPeakUpTo: number };
    restart: {
      logins: number;
      loginsInBusiestSecond: number;
      loginsFromWarm: number;
      loginsForcedByRequest: number;
      secretReads: number;
      registryReads: number;
      requestsPerSecondPeakUpTo: number;
    };
    /** warm() alone (the first start, no request): logins per second on average over the jitter. */
    startBeforeAnyRequest: { logins: number; loginsPerSecondMean: number; loginsInBusiestSecondUpTo: number };
    revoked: {
      logins: number;
      loginsPerSecondMean: number;
      loginsInBusiestSecondUpTo: number;
      unauthorized: number;
      registryReads: number;
    };
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

/** Logins by cause, from each agent's moment (ms, performance.now()). */
function causes(list: LoginCause[], fleet: Fleet): LoginCauses {
  const figures = (cause: LoginCause['cause']): CauseFigures => {
    const ts = list
      .filter((c) => c.cause === cause)
      .map((c) => c.t)
      .sort((a, b) => a - b);
    return {
      logins: ts.length,
      busiestSecond: busiest(ts).count,
      firstToLastSec: ts.length ? r3((ts[ts.length - 1]! - ts[0]!) / 1000) : 0,
      shortest90Sec: r3(shortestHolding(ts, 0.9) / 1000),
    };
  };
  const after = fleet.agents.filter((a) => a.firstMountAt !== undefined).map((a) => (a.firstMountAt! - a.startedAt) / 1000);
  return {
    warm: figures('warm'),
    request: figures('request'),
    ...(after.length
      ? { firstMountAfterStartSec: { min: r3(Math.min(...after)), p50: r3(pct(after, 0.5)), max: r3(Math.max(...after)) } }
      : {}),
  };
}

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
  const warmJitterMs = opts.warmJitterMs ?? (opts.smoke ? 1_000 : WARM_JITTER_MS);
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
    warmJitterMs,
    names: opts.names ?? 'bare',
  });
  const meter = new DcosMeter(fleet.dcos, { registryPrefix: REGISTRY_PREFIX });
  try {
    // The cluster boots: every agent at once, and no request until all have logged in: each logs in
    // when its warm() fires, at a random moment within the jitter.
    const boot = meter.mark();
    let t0 = performance.now();
    await fleet.startAll();
    const bootStartMs = performance.now() - t0;
    await until(`${agents} logins`, () => fleet.dcos.counters.loginsOk >= agents, 60_000 + warmJitterMs);
    const bootWindow = meter.window(boot);
    const firstStart = {
      startAllMs: r1(bootStartMs),
      logins: bootWindow.logins,
      loginsBusiestSecond: bootWindow.loginsBusiestSecond,
      loginsBusiestShare: bootWindow.loginsBusiestShare,
      loginSpreadSec: bootWindow.loginSpreadSec,
      loginCauses: causes(fleet.loginCauses(), fleet),
    };
    log(
      `cluster: ${agents} agents started at once in ${firstStart.startAllMs} ms, no request yet: ${firstStart.logins} logins over ${firstStart.loginSpreadSec.firstToLast} s ` +
        `(start-up jitter ${warmJitterMs / 1000} s), ${firstStart.loginsBusiestSecond} in the busiest second`,
    );
    await fleet.createVolumes();

    // A burst on a fresh agent (started and logged in, never mounted anything): one registry read per
    // volume and one secret read per token secret, however many Mounts. The agent chosen created none
    // of its volumes when there is one such (with 20 volumes: agents 21 and up, and agent 0).
    const fresh =
      [...fleet.agents].reverse().find((a) => a.volumes.every((v) => v.owner !== a.index)) ?? fleet.agents[fleet.agents.length - 1]!;
    const burst = await fleet.burst(fresh, BURST_PER_VOLUME);
    log(
      `cluster: burst of ${burst.mounts} Mounts (${BURST_PER_VOLUME} of each of ${burst.volumes} volumes, at once) on fresh agent ${burst.agent}: ` +
        `${burst.registryReads} registry reads (at most ${burst.registryReadsMaxPerVolume} per volume), ${burst.secretReads} secret reads, ${burst.wallMs} ms`,
    );

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

    // c. Every agent restarted at once. The streams go on: each agent's next Mount comes 0.5–1.5 ×
    // mountEveryMs after its previous turn, so most agents get one before their warm() fires.
    t0 = performance.now();
    await fleet.stopAll();
    const stopAllMs = performance.now() - t0;
    w = openWindow(meter, fleet);
    t0 = performance.now();
    await fleet.startAll();
    const startAllMs = performance.now() - t0;
    await sleep(restartMs);
    const restart = { ...w.end(), stopAllMs: r1(stopAllMs), startAllMs: r1(startAllMs), loginCauses: causes(fleet.loginCauses(), fleet) };
    log(line('restart', restart));
    log(
      `cluster: restart: ${restart.loginCauses.warm.logins} logins from warm() (${restart.loginCauses.warm.busiestSecond} in its busiest second), ` +
        `${restart.loginCauses.request.logins} forced by a first Mount (${restart.loginCauses.request.busiestSecond} in its busiest second)`,
    );

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
      warmJitterMs,
      firstStart,
      burst,
      steady,
      revoked,
      restart,
      ...(revokedAfterRestart ? { revokedAfterRestart } : {}),
      extrapolatedTo1000: {
        steady: {
          secretReadsPerSecond: r1((steady.dcos.secretReads / steady.dcos.seconds) * k),
          registryReadsPerSecond: r1((steady.dcos.registryReads / steady.dcos.seconds) * k),
          requestsPerSecondPeakUpTo: Math.round(steady.dcos.peakPerSecond * k),
        },
        restart: {
          logins: Math.round(restart.dcos.logins * k),
          loginsInBusiestSecond: Math.round(restart.dcos.loginsBusiestSecond * k),
          loginsFromWarm: Math.round(restart.loginCauses.warm.logins * k),
          loginsForcedByRequest: Math.round(restart.loginCauses.request.logins * k),
          secretReads: Math.round(restart.dcos.secretReads * k),
          registryReads: Math.round(restart.dcos.registryReads * k),
          requestsPerSecondPeakUpTo: Math.round(restart.dcos.peakPerSecond * k),
        },
        startBeforeAnyRequest: {
          logins: Math.round(firstStart.logins * k),
          loginsPerSecondMean: r1((firstStart.logins * k) / (warmJitterMs / 1000)),
          loginsInBusiestSecondUpTo: Math.round(firstStart.loginsBusiestSecond * k),
        },
        revoked: {
          logins: Math.round(revoked.dcos.logins * k),
          loginsPerSecondMean: r1((revoked.dcos.logins * k) / revoked.dcos.seconds),
          loginsInBusiestSecondUpTo: Math.round(revoked.dcos.loginsBusiestSecond * k),
          unauthorized: Math.round(revoked.dcos.unauthorized * k),
          registryReads: Math.round(revoked.dcos.registryReads * k),
        },
        renewalLoginsPerSecond: r3(1000 / renewalSec),
      },
      warnings: fleet.warnings.length,
      seconds: Math.round((performance.now() - started) / 1000),
    };
    // "Spread the load with jitter: logins must not all arrive in the same second." Judged as: at most
    // a quarter of a window's logins in its busiest second (what a start-up jitter of ~10 s would give).
    // Judged twice for a start of all agents at once: before any request (warm() alone), and while
    // the Mount streams go on (most logins then come with each agent's first Mount, not from warm()).
    opts.target?.(
      `Cluster: all ${agents} agents started at once, no request yet: logins in the busiest second`,
      r1(firstStart.loginsBusiestShare * 100),
      '%',
      'max',
      25,
    );
    opts.target?.(
      `Cluster: all ${agents} agents restarted at once, Mounts going on: logins in the busiest second`,
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
    if (fleet.opts.names === 'bare') {
      opts.target?.(
        `Cluster: burst of ${burst.mounts} Mounts on a fresh agent: registry reads per volume`,
        burst.registryReadsMaxPerVolume,
        'reads',
        'max',
        1,
      );
    }
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
    `${d.secretReads} secret reads, ${d.registryReads} registry reads, ${d.unauthorized} 401s; ${w.mounts.count} Mounts, ${w.mounts.failed} failed, p99 ${w.mounts.p99Ms} ms`
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
    w.dcos.registryReads,
    w.dcos.unauthorized,
    w.mounts.count,
    w.mounts.p99Ms,
    w.benchProcess.eventLoopBusy,
  ];
  const x = c.extrapolatedTo1000;
  const fs = c.firstStart;
  const rc = c.restart.loginCauses;
  const b = c.burst;
  const names =
    c.names === 'bare' ? 'bare names, created once with -o token_secret (registry)' : 'token_secret inline in every name (no registry)';
  return [
    `8. Cluster scale: ${c.agents} agents in one process, one DC/OS double (${c.dcosLatencyMs} ms latency); secret cache TTL ${c.cacheTtlSec} s; start-up jitter ${c.warmJitterMs / 1000} s;`,
    `   each agent Mounts one of its ${c.volumesPerAgent} volumes (${c.secretsPerAgent} token secrets; ${names}) every ${c.mountEveryMs / 1000} s ± 50 %`,
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
        'registry reads',
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
    `   first start of all ${c.agents} at once, no request yet (warm() alone): ${fs.logins} logins over ${fs.loginSpreadSec.firstToLast} s, ` +
      `${fs.loginsBusiestSecond} (${Math.round(fs.loginsBusiestShare * 100)} %) in the busiest second, 90 % within ${fs.loginSpreadSec.shortest90} s`,
    `   restart at once, Mounts going on: ${rc.warm.logins} logins from warm() (${rc.warm.busiestSecond} in one second), ` +
      `${rc.request.logins} forced by the agent's first Mount (${rc.request.busiestSecond} in one second, 90 % within ${rc.request.shortest90Sec} s)` +
      (rc.firstMountAfterStartSec
        ? `; first Mount ${rc.firstMountAfterStartSec.min}–${rc.firstMountAfterStartSec.max} s after an agent's start (median ${rc.firstMountAfterStartSec.p50})`
        : '') +
      `; stop all ${c.restart.stopAllMs} ms, start all ${c.restart.startAllMs} ms`,
    `   burst on fresh agent ${b.agent}: ${b.mounts} Mounts of ${b.volumes} volumes at once, ${b.failed} failed, ${b.wallMs} ms: ` +
      `${b.registryReads} registry reads (at most ${b.registryReadsMaxPerVolume} per volume), ${b.secretReads} secret reads (at most ${b.secretReadsMaxPerSecret} per secret)`,
    `   1,000 agents, scaled linearly (not measured): steady ${x.steady.secretReadsPerSecond} secret + ${x.steady.registryReadsPerSecond} registry reads/s; ` +
      `start before any request: ${x.startBeforeAnyRequest.logins} logins, ${x.startBeforeAnyRequest.loginsPerSecondMean}/s over the jitter; ` +
      `restart at once: ${x.restart.logins} logins (${x.restart.loginsForcedByRequest} forced by a Mount), ${x.restart.loginsInBusiestSecond} in the busiest second, ` +
      `${x.restart.secretReads} secret + ${x.restart.registryReads} registry reads; all tokens revoked: ${x.revoked.logins} logins over ${c.revoked.dcos.seconds} s ` +
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
      jitter: { type: 'string' },
      names: { type: 'string' },
      aligned: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const num = (s: string | undefined): number | undefined => (s === undefined ? undefined : Number(s));
  const names = (s: string | undefined): FleetOptions['names'] => {
    if (s === undefined || s === 'bare' || s === 'inline') return s ?? 'bare';
    throw new Error(`--names: ${s} is neither bare nor inline`);
  };
  const res = await runCluster({
    smoke: values.smoke === true,
    agents: num(values.agents),
    cacheTtlSec: num(values.ttl),
    mountEveryMs: num(values.every),
    dcosLatencyMs: num(values['dcos-latency']),
    warmJitterMs: num(values.jitter),
    names: names(values.names),
    revokeAfterRestart: values.aligned === true,
  });
  process.stdout.write(`\n${clusterReport(res)}\n`);
  if (values.json) process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
}
