import type http from 'node:http';
import { loadConfig, type Config, type ConfigIssue, type FleetDocument } from '../config/load.js';
import { peekOption } from '../config/settings.js';
import { createLogger } from '../audit/logger.js';
import { RunningProxy } from '../app.js';
import { DeferredObserver } from '../admin/deferred-observer.js';
import { prepareEmbedded, embeddedBanner, type EmbeddedSetup } from './embedded.js';

/** Resolve the configuration the way `serve` does (embedded defaults included; the fleet document's sections, when read). */
export async function resolveConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
  fleet?: FleetDocument,
): Promise<{ config?: Readonly<Config>; problems: string[]; issues: ConfigIssue[]; embedded?: EmbeddedSetup }> {
  // Read as the loader reads it (the same words for true), before the loader: it supplies the defaults.
  const embeddedOn = peekOption('embedded', { flags, env })?.value === true;
  const embedded = embeddedOn ? await prepareEmbedded(process.cwd()) : undefined;
  const r = loadConfig({ flags, env, defaults: embedded?.defaults, ...(fleet ? { fleet } : {}) });
  return { ...r, embedded };
}

export async function runServe(flags: Record<string, unknown>): Promise<number> {
  const { config, problems, embedded } = await resolveConfig(flags);
  if (!config) {
    process.stderr.write(
      `pxd-auth-proxy: the configuration has ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}\n`,
    );
    return 2;
  }
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty });
  let running: RunningProxy | undefined;
  // Metrics exist only to be scraped: without the admin listener nothing is counted.
  const observer = config.adminListen ? new DeferredObserver() : undefined;
  let admin: http.Server | undefined;
  try {
    running = await RunningProxy.start(config, logger, { observer, fleet: { build: (doc) => resolveConfig(flags, process.env, doc) } });
    if (config.adminListen && observer) {
      const { startAdmin } = await import('../admin/start.js');
      admin = await startAdmin(running, observer, config.adminListen, logger);
    }
  } catch (e) {
    logger.fatal({ err: e }, 'could not start');
    process.stderr.write(`pxd-auth-proxy: could not start: ${(e as Error).message}\n`);
    await running?.close();
    return 1;
  }
  const proxy = running;
  logger.info(
    {
      socket: config.socket,
      backend: config.backendUrl,
      secrets: proxy.secrets.description,
      issuers: config.verifier.issuers.map((i) => i.name),
      mountsRoot: config.mountsRoot,
    },
    'pxd-auth-proxy listening',
  );
  if (embedded) process.stdout.write(embeddedBanner(embedded, config.socket));

  process.on('SIGHUP', () => {
    // With a fleet document, it is read again too, in turn with its periodic reads.
    const reloaded = proxy.fleet
      ? proxy.fleet.refresh(true)
      : resolveConfig(flags).then(({ config: c, problems: p }) => ({ problems: c ? proxy.reload(c) : p, ...(c ? { config: c } : {}) }));
    void reloaded.then(({ config: next, problems: refused }) => {
      if (refused.length) {
        logger.error({ problems: refused }, 'SIGHUP: the new configuration was refused; the running one is kept');
        return;
      }
      if (!next) return; // stopping
      logger.level = next.logLevel;
      logger.info({ issuers: next.verifier.issuers.map((i) => i.name) }, 'SIGHUP: configuration and keys reloaded');
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
