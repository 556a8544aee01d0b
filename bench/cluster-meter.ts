/**
 * What the DC/OS double is asked, and when: every request it receives is time-stamped as it arrives
 * (before the double's own latency), classified by kind, and a window of time is summed up as requests
 * per second, the busiest second, and how the logins are spread.
 *
 * The double's source is not changed: the meter wraps `push` on the double's own `requests` array
 * (the double appends one record per request as it arrives), so it sees every request the double sees.
 */
import type { DcosDouble } from '../test/doubles/dcos/server.js';

const LOGIN_PATH = '/acs/api/v1/auth/login';
const SECRET_PREFIX = '/secrets/v1/secret/default/';

/**
 * `registry`: reads (GET) of the volume reference registry, the records the proxy keeps in the Secret
 * Store (`pxd-auth-proxy/volumes/<volume>`); `registryWrite`: its records created (PUT, at Create) and
 * deleted (DELETE, at Remove). Counted apart once the registry's path prefix is given to the meter;
 * without it they count as secret reads and `other`.
 */
export type DcosKind = 'login' | 'secret' | 'registry' | 'registryWrite' | 'other';

export interface DcosHit {
  /** performance.now() when the request reached the double. */
  t: number;
  kind: DcosKind;
}

export interface DcosCounts {
  requests: number;
  logins: number;
  secretReads: number;
  /** Reads of the volume reference registry (each agent's first meeting with a volume, then once per TTL). */
  registryReads: number;
  /** Registry records created or deleted (Create, Remove). */
  registryWrites: number;
  other: number;
}

export interface DcosWindow extends DcosCounts {
  seconds: number;
  /** 401 answers of the double in the window (revoked or expired auth tokens). */
  unauthorized: number;
  /** Logins the double accepted / refused in the window. */
  loginsOk: number;
  loginsRefused: number;
  /** All requests ÷ seconds. */
  meanPerSecond: number;
  /** The most requests in any 1-second interval of the window (sliding, not whole clock seconds). */
  peakPerSecond: number;
  /** When that busiest second began, seconds after the window's start. */
  peakAtSec: number;
  secretReadsPeakPerSecond: number;
  registryReadsPeakPerSecond: number;
  /** The most logins in any 1-second interval, and their share of the window's logins. */
  loginsBusiestSecond: number;
  loginsBusiestShare: number;
  /** First to last login, and the shortest interval holding 90 % of them (seconds). */
  loginSpreadSec: { firstToLast: number; shortest90: number };
  /** Per whole second since the window's start (`other` includes registry writes). */
  timeline: { logins: number[]; secretReads: number[]; registryReads: number[]; other: number[] };
}

/** `registryPrefix`: the registry's folder under the Secret Store, with its trailing slash (`pxd-auth-proxy/volumes/`). */
export function classify(method: string, url: string, registryPrefix?: string): DcosKind {
  const p = url.split('?')[0]!;
  if (p === LOGIN_PATH) return 'login';
  if (registryPrefix !== undefined && p.startsWith(`${SECRET_PREFIX}${registryPrefix}`))
    return method === 'GET' ? 'registry' : 'registryWrite';
  if (p.startsWith(SECRET_PREFIX) && method === 'GET') return 'secret';
  return 'other';
}

/** The most timestamps (sorted, ms) within any interval of `spanMs`, and where that interval starts. */
export function busiest(ts: number[], spanMs = 1000): { count: number; at: number } {
  let best = { count: 0, at: ts[0] ?? 0 };
  let i = 0;
  for (let j = 0; j < ts.length; j++) {
    while (ts[j]! - ts[i]! >= spanMs) i++;
    if (j - i + 1 > best.count) best = { count: j - i + 1, at: ts[i]! };
  }
  return best;
}

/** The shortest interval (ms) that holds `share` of the sorted timestamps. */
export function shortestHolding(ts: number[], share: number): number {
  if (ts.length === 0) return 0;
  const k = Math.max(1, Math.ceil(share * ts.length));
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i + k - 1 < ts.length; i++) best = Math.min(best, ts[i + k - 1]! - ts[i]!);
  return best;
}

const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

export class DcosMeter {
  readonly hits: DcosHit[] = [];
  readonly #dcos: DcosDouble;

  constructor(dcos: DcosDouble, opts: { registryPrefix?: string } = {}) {
    this.#dcos = dcos;
    const requests = dcos.requests;
    const push = requests.push.bind(requests);
    const hits = this.hits;
    requests.push = (...items) => {
      const t = performance.now();
      for (const r of items) hits.push({ t, kind: classify(r.method, r.url, opts.registryPrefix) });
      // The double's own list is not needed here: keep it from growing over a long run.
      if (requests.length > 10_000) requests.splice(0, requests.length - 1_000);
      return push(...items);
    };
  }

  /** The double's counters now, to subtract at the end of a window. */
  mark(): { t: number; unauthorized: number; loginsOk: number; loginsRefused: number } {
    const c = this.#dcos.counters;
    return { t: performance.now(), unauthorized: c.unauthorized, loginsOk: c.loginsOk, loginsRefused: c.loginsRefused };
  }

  /** Everything the double received between `from` (a mark()) and now. */
  window(from: ReturnType<DcosMeter['mark']>): DcosWindow {
    const to = this.mark();
    const inWindow = this.hits.filter((h) => h.t >= from.t && h.t < to.t);
    const times = (k?: DcosKind): number[] =>
      inWindow
        .filter((h) => k === undefined || h.kind === k)
        .map((h) => h.t)
        .sort((a, b) => a - b);
    const all = times();
    const logins = times('login');
    const secrets = times('secret');
    const registry = times('registry');
    const seconds = (to.t - from.t) / 1000;
    const bins = Math.max(1, Math.ceil(seconds));
    const timeline = {
      logins: new Array<number>(bins).fill(0),
      secretReads: new Array<number>(bins).fill(0),
      registryReads: new Array<number>(bins).fill(0),
      other: new Array<number>(bins).fill(0),
    };
    for (const h of inWindow) {
      const b = Math.min(bins - 1, Math.floor((h.t - from.t) / 1000));
      if (h.kind === 'login') timeline.logins[b]!++;
      else if (h.kind === 'secret') timeline.secretReads[b]!++;
      else if (h.kind === 'registry') timeline.registryReads[b]!++;
      else timeline.other[b]!++;
    }
    const peak = busiest(all);
    const lb = busiest(logins);
    const count = (k: DcosKind): number => inWindow.filter((h) => h.kind === k).length;
    return {
      seconds: r1(seconds),
      requests: all.length,
      logins: logins.length,
      secretReads: count('secret'),
      registryReads: registry.length,
      registryWrites: count('registryWrite'),
      other: count('other'),
      unauthorized: to.unauthorized - from.unauthorized,
      loginsOk: to.loginsOk - from.loginsOk,
      loginsRefused: to.loginsRefused - from.loginsRefused,
      meanPerSecond: r1(all.length / seconds),
      peakPerSecond: peak.count,
      peakAtSec: r1((peak.at - from.t) / 1000),
      secretReadsPeakPerSecond: busiest(secrets).count,
      registryReadsPeakPerSecond: busiest(registry).count,
      loginsBusiestSecond: lb.count,
      loginsBusiestShare: logins.length ? r3(lb.count / logins.length) : 0,
      loginSpreadSec: {
        firstToLast: logins.length ? r3((logins[logins.length - 1]! - logins[0]!) / 1000) : 0,
        shortest90: r3(shortestHolding(logins, 0.9) / 1000),
      },
      timeline,
    };
  }
}
