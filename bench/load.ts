/**
 * The load generator, in its own process so that the proxy and the backend are measured without it:
 * autocannon over a unix socket, driven over IPC by bench/perf.ts.
 *
 * autocannon's own latency histogram counts whole milliseconds, too coarse for a proxy that should
 * add a fraction of one; every reply's time (autocannon's `response` event, in fractional ms) is
 * recorded here into a node:perf_hooks histogram in microseconds instead.
 *
 * Every reply is checked: `expect` is the exact body each reply must have (a plugin answers 200 with
 * an Err text, so a status code proves nothing), or, for a mix, every reply must carry `"Err":""`.
 */
import net from 'node:net';
import { createHistogram } from 'node:perf_hooks';
import autocannon from 'autocannon';

export interface LoadRequest {
  /** `/VolumeDriver.Mount` */
  path: string;
  body: string;
}

export interface LoadJob {
  socketPath: string;
  requests: LoadRequest[];
  connections: number;
  /** Seconds to run; or `amount` requests. */
  durationSec?: number;
  amount?: number;
  /** The body every reply must have (single-request runs). Without it, no reply may carry a non-empty Err. */
  expect?: string;
  /** Keep the first reply's body in `sample` (to learn what `expect` should be). */
  capture?: boolean;
  /**
   * A burst instead of a run: `connections` connections are opened first, then each sends
   * `requests[0]` once, all in the same tick; `seconds` is from the first write to the last reply.
   */
  burst?: boolean;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Replies that were not the expected one (wrong body, an Err, a non-200). */
  bad: number;
  errors: number;
  timeouts: number;
  /** First bad reply, for the report (bodies hold no token: the proxy answers none). */
  sample?: string;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

export async function runLoad(job: LoadJob): Promise<LoadResult> {
  if (job.burst) return runBurst(job);
  const hist = createHistogram({ lowest: 1, highest: 60_000_000, figures: 3 });
  let bad = 0;
  let sample: string | undefined;
  const onResponse = job.capture
    ? (_status: number, body: string) => {
        sample ??= body;
      }
    : job.expect
      ? undefined
      : (status: number, body: string) => {
          if (status !== 200 || !isSuccess(body)) {
            bad++;
            sample ??= `${status} ${body.slice(0, 300)}`;
          }
        };
  let done!: (r: autocannon.Result) => void;
  let failed!: (e: Error) => void;
  const finished = new Promise<autocannon.Result>((res, rej) => {
    done = res;
    failed = rej;
  });
  const headers = { accept: 'application/vnd.docker.plugins.v1.2+json', 'content-type': 'application/json' };
  // autocannon checks expectBody only for a single request given at the top level.
  const single = job.expect !== undefined && job.requests.length === 1 ? job.requests[0]! : undefined;
  const instance = autocannon(
    {
      url: `http://localhost${single?.path ?? ''}`,
      socketPath: job.socketPath,
      connections: job.connections,
      pipelining: 1,
      timeout: 30,
      ...(job.amount ? { amount: job.amount } : { duration: job.durationSec ?? 5 }),
      ...(single
        ? { method: 'POST' as const, headers, body: single.body, expectBody: job.expect }
        : {
            requests: job.requests.map((r) => ({
              method: 'POST' as const,
              path: r.path,
              headers,
              body: r.body,
              ...(onResponse ? { onResponse } : {}),
            })),
          }),
    },
    (err, result) => (err ? failed(err as Error) : done(result)),
  );
  instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
    hist.record(Math.max(1, Math.round(ms * 1000)));
  });
  const r = await finished;
  const total = r.requests.total;
  const us = (p: number): number => round3(hist.percentile(p) / 1000);
  return {
    requests: total,
    seconds: round3(r.duration),
    requestsPerSecond: Math.round(total / r.duration),
    latencyMs: { p50: us(50), p90: us(90), p99: us(99), max: round3(hist.max / 1000), mean: round3(hist.mean / 1000) },
    bad: bad + r.mismatches + r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    ...(sample ? { sample } : {}),
  };
}

/** A plugin reply that is not an error: JSON, and no Err or an empty one. */
function isSuccess(body: string): boolean {
  try {
    const j = JSON.parse(body) as { Err?: unknown };
    return j !== null && typeof j === 'object' && (j.Err === undefined || j.Err === '');
  } catch {
    return false;
  }
}

/** See LoadJob.burst. Plain sockets, so that all requests leave in one tick. */
async function runBurst(job: LoadJob): Promise<LoadResult> {
  const r = job.requests[0]!;
  const head = `POST ${r.path} HTTP/1.1\r\nHost: plugin\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(r.body)}\r\nConnection: close\r\n\r\n`;
  const wire = Buffer.from(head + r.body);
  const sockets = await Promise.all(
    Array.from(
      { length: job.connections },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(job.socketPath, () => resolve(s));
          s.once('error', reject);
        }),
    ),
  );
  const times: number[] = [];
  let bad = 0;
  let errors = 0;
  let sample: string | undefined;
  const t0 = performance.now();
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          const chunks: Buffer[] = [];
          s.on('data', (c: Buffer) => chunks.push(c));
          s.on('error', () => {
            errors++;
            resolve();
          });
          s.on('close', () => {
            times.push(performance.now() - t0);
            const text = Buffer.concat(chunks).toString('utf8');
            const body = text.slice(text.indexOf('\r\n\r\n') + 4);
            if (job.capture) sample ??= body;
            else if (!text.startsWith('HTTP/1.1 200') || !isSuccess(body)) {
              bad++;
              sample ??= text.slice(0, 300);
            }
            resolve();
          });
          s.write(wire);
        }),
    ),
  );
  const wall = performance.now() - t0;
  times.sort((a, b) => a - b);
  const at = (p: number): number => round3(times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)] ?? 0);
  return {
    requests: job.connections,
    seconds: round3(wall / 1000),
    requestsPerSecond: Math.round(job.connections / (wall / 1000)),
    latencyMs: {
      p50: at(50),
      p90: at(90),
      p99: at(99),
      max: round3(times.at(-1) ?? 0),
      mean: round3(times.reduce((a, b) => a + b, 0) / Math.max(1, times.length)),
    },
    bad,
    errors,
    timeouts: 0,
    ...(sample ? { sample } : {}),
  };
}

// As a child: one job per IPC message, answered with { id, result } or { id, error }.
if (process.send) {
  process.on('message', (m: { id: number; job: LoadJob }) => {
    runLoad(m.job).then(
      (result) => process.send!({ id: m.id, result }),
      (e: unknown) => process.send!({ id: m.id, error: (e as Error).stack ?? String(e) }),
    );
  });
  process.send('ready');
}
