import type http from 'node:http';
import type { Logger } from 'pino';
import type { RunningProxy } from '../app.js';
import type { DeferredObserver } from './deferred-observer.js';

/**
 * Load the metrics and the admin listener (express, prom-client) and start it on `addr`. Called
 * once the plugin socket listens: nothing here is on the plugin's path, so dockerd's first calls do
 * not wait for these modules.
 */
export async function startAdmin(proxy: RunningProxy, observer: DeferredObserver, addr: string, logger: Logger): Promise<http.Server> {
  const [{ ProxyMetrics }, { createAdminApp, listenAdmin }] = await Promise.all([import('./metrics.js'), import('./server.js')]);
  const metrics = new ProxyMetrics({
    verifierStats: () => proxy.verifier.stats(),
    secretStats: () => proxy.secrets.stats?.(),
  });
  observer.attach(metrics.observer);
  if (observer.dropped)
    logger.warn({ dropped: observer.dropped }, 'metrics: events from before the admin listener started were not counted');
  const app = createAdminApp(metrics, {
    listening: () => proxy.server.listening,
    backend: backendProbe(proxy),
    secrets: () => proxy.secrets.ready(),
    fleetConfig: () => proxy.fleet?.status(),
  });
  return listenAdmin(app, addr, logger);
}

/** Readiness of the backend: it answers Activate within 2 s (cached 5 s so scrapes stay cheap). */
function backendProbe(r: RunningProxy): () => Promise<boolean> {
  let last = { at: 0, ok: false };
  return async () => {
    if (Date.now() - last.at < 5_000) return last.ok;
    const ok = await r.backend.call('Plugin.Activate', {}, 2_000).then(
      (reply) => reply.status === 200 && Array.isArray(reply.json?.Implements),
      () => false,
    );
    last = { at: Date.now(), ok };
    return ok;
  };
}
