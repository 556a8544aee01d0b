import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ProxyObserver } from '../proxy/volume-proxy.js';
import type { Endpoint } from '../plugin/protocol.js';
import type { Operation } from '../policy/types.js';
import type { SecretStoreStats } from '../secrets/types.js';

/** Sources read at scrape time (caches keep their own counters). */
export interface MetricSources {
  verifierStats?: () => { hits: number; misses: number; size: number };
  secretStats?: () => SecretStoreStats | undefined;
}

/** Seconds: a plugin request or a backend call, from a cached answer to Docker's 2-minute limit. */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120];

/** prom-client metrics for the proxy; `observer` plugs into the request pipeline. */
export class ProxyMetrics {
  readonly registry = new Registry();
  readonly observer: ProxyObserver;
  private readonly requests: Counter<'endpoint' | 'outcome'>;
  private readonly decisions: Counter<'operation' | 'decision' | 'reason'>;
  private readonly requestSeconds: Histogram<'endpoint'>;
  private readonly backendSeconds: Histogram<'endpoint' | 'outcome'>;

  constructor(sources: MetricSources = {}) {
    collectDefaultMetrics({ register: this.registry, prefix: 'pxd_auth_' });
    this.requests = new Counter({
      name: 'pxd_auth_requests_total',
      help: 'Plugin requests by endpoint and outcome (ok, backend_err, or an error code)',
      labelNames: ['endpoint', 'outcome'],
      registers: [this.registry],
    });
    this.decisions = new Counter({
      name: 'pxd_auth_decisions_total',
      help: 'Create/Remove/Mount decisions by reason code',
      labelNames: ['operation', 'decision', 'reason'],
      registers: [this.registry],
    });
    this.requestSeconds = new Histogram({
      name: 'pxd_auth_request_duration_seconds',
      help: 'Plugin request latency',
      labelNames: ['endpoint'],
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
    this.backendSeconds = new Histogram({
      name: 'pxd_auth_backend_duration_seconds',
      help: 'Backend (pxd) call latency',
      labelNames: ['endpoint', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
    const v = sources.verifierStats;
    const s = sources.secretStats;
    // Read at scrape time from the caches' and the store's own counters; 0 when there are none.
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read() ?? 0);
        },
      });
    gauge('pxd_auth_token_cache_hits', 'Verified-token cache hits since start', () => v?.().hits);
    gauge('pxd_auth_token_cache_misses', 'Verified-token cache misses since start', () => v?.().misses);
    gauge('pxd_auth_secret_cache_hits', 'Secret cache hits since start', () => s?.()?.hits);
    gauge('pxd_auth_secret_cache_misses', 'Secret cache misses (store reads) since start', () => s?.()?.misses);
    gauge('pxd_auth_secret_cache_stale', 'Cached tokens served while the secret store was failing', () => s?.()?.stale);
    gauge('pxd_auth_secret_store_logins', 'Successful logins to the secret store since start', () => s?.()?.logins);
    gauge(
      'pxd_auth_secret_store_login_failures',
      'Failed logins to the secret store since start (and fresh tokens it refused at once)',
      () => s?.()?.loginFailures,
    );
    gauge(
      'pxd_auth_cached_token_soonest_expiry_seconds',
      'Unix time (s) of the soonest exp among cached secret tokens (0 when none)',
      () => s?.()?.soonestExpiry,
    );
    // Label children are looked up once per label set: prom-client hashes the labels on every call otherwise.
    const requests = children((endpoint: string, outcome: string) => this.requests.labels(endpoint, outcome));
    const requestSeconds = children((endpoint: string) => this.requestSeconds.labels(endpoint));
    const decisions = children((operation: string, decision: string, reason: string) => this.decisions.labels(operation, decision, reason));
    const backendSeconds = children((endpoint: string, outcome: string) => this.backendSeconds.labels(endpoint, outcome));
    this.observer = {
      request: (endpoint: Endpoint, outcome: string, seconds: number) => {
        requests(endpoint, outcome).inc();
        requestSeconds(endpoint).observe(seconds);
      },
      decision: (operation: Operation, decision: string, reason: string) => decisions(operation, decision, reason).inc(),
      backend: (endpoint: Endpoint, outcome: string, seconds: number) => backendSeconds(endpoint, outcome).observe(seconds),
    };
  }
}

/** Memoize `make` by its label values (a small, bounded set: endpoints × outcome codes). */
function children<A extends string[], T>(make: (...labels: A) => T): (...labels: A) => T {
  const root = new Map<string, unknown>();
  return (...labels: A) => {
    let level = root;
    for (let i = 0; i < labels.length - 1; i++) {
      let next = level.get(labels[i]!) as Map<string, unknown> | undefined;
      if (!next) {
        next = new Map();
        level.set(labels[i]!, next);
      }
      level = next;
    }
    const last = labels[labels.length - 1]!;
    let child = level.get(last) as T | undefined;
    if (child === undefined) {
      child = make(...labels);
      level.set(last, child);
    }
    return child;
  };
}
