import express from 'express';
import http from 'node:http';
import { promises as fsp } from 'node:fs';
import type { Logger } from 'pino';
import type { ProxyMetrics } from './metrics.js';
import type { FleetStatus } from '../config/fleet.js';

export interface ReadinessProbe {
  /** The plugin socket accepts connections. */
  listening(): boolean;
  /** The backend answers Activate. */
  backend(): Promise<boolean>;
  /** The secret store is usable (DC/OS login works). */
  secrets(): Promise<boolean>;
  /**
   * The fleet document (--fleet-config), if one is configured: a detail, not a check. A refused or
   * unreadable document leaves the proxy serving with the configuration it had, so it stays ready.
   */
  fleetConfig?(): FleetStatus | undefined;
}

/**
 * The admin listener (off by default): /metrics for Prometheus, /healthz (the process serves),
 * /readyz (socket listening, backend answering, secret store usable; the fleet document's state as a
 * detail). express serves it: it is off
 * the request path, so its per-request cost does not matter and its routing reads plainly.
 */
export function createAdminApp(metrics: ProxyMetrics, probe: ReadinessProbe): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const [backend, secrets] = await Promise.all([probe.backend().catch(() => false), probe.secrets().catch(() => false)]);
    const checks = { socket: probe.listening(), backend, secrets };
    const ready = checks.socket && checks.backend && checks.secrets;
    const fleetConfig = probe.fleetConfig?.();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks, ...(fleetConfig ? { fleetConfig } : {}) });
  });
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found: try /metrics, /healthz or /readyz' });
  });
  return app;
}

/** Listen on `host:port` or `unix:<path>`. */
export async function listenAdmin(app: express.Express, addr: string, logger: Logger): Promise<http.Server> {
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (addr.startsWith('unix:')) {
      const p = addr.slice('unix:'.length);
      fsp.rm(p, { force: true }).then(() => server.listen(p, () => resolve()), reject);
    } else {
      const i = addr.lastIndexOf(':');
      server.listen(Number(addr.slice(i + 1)), addr.slice(0, i) || '127.0.0.1', () => resolve());
    }
  });
  const a = server.address();
  logger.info({ admin: typeof a === 'string' ? a : `${a?.address}:${a?.port}` }, 'admin listener on /metrics, /healthz, /readyz');
  return server;
}
