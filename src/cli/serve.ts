import type http from 'node:http';
import { Option, type Command } from 'commander';
import { loadConfig, type Config, type ConfigBasics, type ConfigIssue, type FleetDocument, type StorelessConfig } from '../config/load.js';
import { OPTIONS } from '../config/options.js';
import { installedFiles, toolConfigSources, type ToolSources } from '../config/installed.js';
import { peekOption } from '../config/settings.js';
import { createLogger, type Logger } from '../audit/logger.js';
import { RunningProxy } from '../app.js';
import { DeferredObserver } from '../admin/deferred-observer.js';
import { prepareEmbedded, embeddedBanner, removeDockerLink, type EmbeddedSetup } from './embedded.js';

export interface Resolved<C = Config> {
  config?: Readonly<C>;
  problems: string[];
  issues: ConfigIssue[];
  /** Accepted but weak settings (never a value): serve logs them, doctor flags them. */
  warnings: ConfigIssue[];
  /** The socket and the backend, also when the configuration has problems. */
  basics?: ConfigBasics;
  embedded?: EmbeddedSetup;
}

/** Resolve the configuration the way `serve` does (embedded defaults included; the fleet document's sections, when read). */
export async function resolveConfig(flags: Record<string, unknown>, env?: NodeJS.ProcessEnv, fleet?: FleetDocument): Promise<Resolved>;
/** The same, for a tool that reads no secret: the secret store's settings are neither read nor checked. */
export async function resolveConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  fleet: undefined,
  needs: { secretStore: false },
): Promise<Resolved<StorelessConfig>>;
export async function resolveConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
  fleet?: FleetDocument,
  needs?: { secretStore: false },
): Promise<Resolved | Resolved<StorelessConfig>> {
  // Read as the loader reads it (the same words for true), before the loader: it supplies the defaults.
  const embeddedOn = peekOption('embedded', { flags, env })?.value === true;
  const embedded = embeddedOn ? await prepareEmbedded(process.cwd()) : undefined;
  const input = { flags, env, defaults: embedded?.defaults, ...(fleet ? { fleet } : {}) };
  const r = needs ? loadConfig({ ...input, needsSecretStore: false }) : loadConfig(input);
  return { ...r, warnings: r.warnings ?? [], embedded };
}

/** The options of a tool run on an agent (doctor, token check) to find its configuration as the service does. */
export function addToolConfigOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--env-file <file>',
        `environment file as systemd's EnvironmentFile= reads it (KEY=VALUE lines); variables set in the environment win over it. ` +
          `Without --config and --env-file, the installed ${installedFiles().yaml} and ${installedFiles().env} are read`,
      ),
    )
    .addOption(new Option('--installed-config-dir <dir>', 'where the installed configuration is looked for (tests)').hideHelp());
}

/** Every option that has a flag, with its environment names and default in the help text, from the one option table. */
export function addServeOptions(cmd: Command): Command {
  for (const o of OPTIONS) {
    if (!o.flag) continue; // environment-only settings (passwords) are listed in the README
    const env = o.env.length ? ` [env ${o.env.join(', ')}]` : '';
    cmd.addOption(new Option(o.flag, `${o.description}${env}${o.sensitive ? '' : ` (default: ${o.defaultText})`}`));
  }
  return cmd;
}

/** Where a tool run on an agent takes its configuration from: the flags, --env-file, or the installed files. */
export function toolSources(flags: Record<string, unknown>, command: string): ToolSources {
  return toolConfigSources({
    flags,
    env: process.env,
    command,
    ...(typeof flags.envFile === 'string' ? { envFile: flags.envFile } : {}),
    ...(typeof flags.installedConfigDir === 'string' ? { installedDir: flags.installedConfigDir } : {}),
  });
}

/** A tool's configuration, with the sources it came from (read once: a second use, the fleet document's build, reuses them). */
export type ToolResolved<C = Config> = Resolved<C> & { sources: ToolSources };

/**
 * The configuration of a tool run on an agent: the installed files when none is given (or how to
 * pass them, on stderr), then resolved as serve resolves it. A file that cannot be read is a problem.
 */
export async function resolveToolConfig(flags: Record<string, unknown>, command: string): Promise<ToolResolved>;
export async function resolveToolConfig(
  flags: Record<string, unknown>,
  command: string,
  needs: { secretStore: false },
): Promise<ToolResolved<StorelessConfig>>;
export async function resolveToolConfig(
  flags: Record<string, unknown>,
  command: string,
  needs?: { secretStore: false },
): Promise<ToolResolved | ToolResolved<StorelessConfig>> {
  const sources = toolSources(flags, command);
  for (const note of sources.notes) process.stderr.write(`pxd-auth-proxy: ${note}\n`);
  const r = needs ? await resolveConfig(sources.flags, sources.env, undefined, needs) : await resolveConfig(sources.flags, sources.env);
  if (!sources.problems.length) return { ...r, sources };
  // The environment file's problem comes first: what follows from its missing settings is not a problem of its own.
  const issues = [...sources.problems, ...r.issues];
  const { config: _dropped, ...rest } = r;
  return { ...rest, issues, problems: issues.map((i) => i.text), sources };
}

/** Each accepted but weak setting, once per text: one warn line, never the value. */
export function warnOnce(logger: Logger, warned: Set<string>, warnings: readonly ConfigIssue[]): void {
  for (const w of warnings) {
    if (warned.has(w.text)) continue;
    warned.add(w.text);
    logger.warn({ setting: w.option }, w.text);
  }
}

export async function runServe(flags: Record<string, unknown>): Promise<number> {
  const { config, problems, embedded, warnings } = await resolveConfig(flags);
  if (!config) {
    process.stderr.write(
      `pxd-auth-proxy: the configuration has ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}\n`,
    );
    return 2;
  }
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty });
  // A weak shared secret is accepted (pxd accepts it): said loudly at start, and when a fleet document brings one.
  const warned = new Set<string>();
  warnOnce(logger, warned, warnings);
  let running: RunningProxy | undefined;
  // Metrics exist only to be scraped: without the admin listener nothing is counted.
  const observer = config.adminListen ? new DeferredObserver() : undefined;
  let admin: http.Server | undefined;
  try {
    running = await RunningProxy.start(config, logger, {
      observer,
      fleet: {
        build: async (doc) => {
          const r = await resolveConfig(flags, process.env, doc);
          if (r.config) warnOnce(logger, warned, r.warnings);
          return r;
        },
      },
    });
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

  process.on('SIGHUP', () => {
    // With a fleet document, it is read again too, in turn with its periodic reads.
    const reloaded = proxy.fleet
      ? proxy.fleet.refresh(true)
      : resolveConfig(flags).then(({ config: c, problems: p, warnings: w }) => {
          const refused = c ? proxy.reload(c) : p;
          if (c && !refused.length) warnOnce(logger, warned, w);
          return { problems: refused, ...(c ? { config: c } : {}) };
        });
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
      // npm start's banner told the user to link the socket into dockerd's plugin folder: a dangling
      // link makes every docker volume command wait about 15 s, so take it away with the socket.
      if (embedded) removeDockerLink(config.socket, logger);
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
    // Only now that the handlers are in place: whoever waits for these lines may signal at once, and a
    // signal before its handler would kill the process outright, leaving the socket (and the banner's
    // link) behind.
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
  });
}
