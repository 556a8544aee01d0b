import type http from 'node:http';
import { loadConfig, type Config } from '../config/load.js';
import { createLogger } from '../audit/logger.js';
import { startProxy, type RunningProxy } from '../app.js';
import { ProxyMetrics } from '../admin/metrics.js';
import { createAdminApp, listenAdmin } from '../admin/server.js';
import { prepareEmbedded, embeddedBanner, type EmbeddedSetup } from './embedded.js';

/** Resolve the configuration the way `serve` does (embedded defaults included). */
export async function resolveConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ config?: Readonly<Config>; problems: string[]; embedded?: EmbeddedSetup }> {
  const embeddedOn = flags.embedded === true || /^(1|true|yes|on)$/i.test(env.PXD_AUTH_EMBEDDED ?? '');
  const embedded = embeddedOn ? await prepareEmbedded(process.cwd()) : undefined;
  const r = loadConfig({ flags, env, defaults: embedded?.defaults });
  return { ...r, embedded };
}

export async function runServe(flags: Record<string, unknown>): Promise<number> {
  const { config, problems, embedded } = await resolveConfig(flags);
  if (!config) {
    process.stderr.write(`pxd-auth-proxy: the configuration has ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    return 2;
  }
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty });
  let running: RunningProxy | undefined;
  const metrics = new ProxyMetrics({
    verifierStats: () => running?.verifier.stats() ?? { hits: 0, misses: 0, size: 0 },
    secretStats: () => running?.secrets.stats?.(),
  });
  let admin: http.Server | undefined;
  try {
    running = await startProxy(config, logger, { observer: metrics.observer });
    if (config.adminListen) {
      const r = running;
      const app = createAdminApp(metrics, {
        listening: () => r.server.listening,
        backend: backendProbe(r),
        secrets: () => r.secrets.ready(),
      });
      admin = await listenAdmin(app, config.adminListen, logger);
    }
  } catch (e) {
    logger.fatal({ err: e }, 'could not start');
    process.stderr.write(`pxd-auth-proxy: could not start: ${(e as Error).message}\n`);
    await running?.close();
    return 1;
  }
  const proxy = running;
  logger.info(
    { socket: config.socket, backend: config.backendUrl, secrets: proxy.secrets.description, issuers: config.verifier.issuers.map((i) => i.name), mountsRoot: config.mountsRoot },
    'pxd-auth-proxy listening',
  );
  if (embedded) process.stdout.write(embeddedBanner(embedded, config.socket));

  process.on('SIGHUP', () => {
    void resolveConfig(flags).then(({ config: next, problems: p }) => {
      const refused = next ? proxy.reload(next) : p;
      if (refused.length) {
        logger.error({ problems: refused }, 'SIGHUP: the new configuration was refused; the running one is kept');
        return;
      }
      logger.level = next!.logLevel;
      logger.info({ issuers: next!.verifier.issuers.map((i) => i.name) }, 'SIGHUP: configuration and keys reloaded');
    });
  });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping: no new requests, finishing those in flight');
      admin?.close();
      admin?.closeAllConnections();
      proxy.close().then(
        () => {
          logger.info('stopped');
          resolve(0);
        },
        (e) => {
          logger.error({ err: e }, 'error while stopping');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
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
