import path from 'node:path';
import type http from 'node:http';
import type { Logger } from 'pino';
import type { Config } from './config/load.js';
import { FleetConfig, type FleetConfigOptions } from './config/fleet.js';
import { flagName, option, type OptionKey } from './config/options.js';
import { TokenVerifier } from './tokens/verify.js';
import { BackendClient } from './backend/client.js';
import { LocalDriver } from './backend/local/driver.js';
import { FileSecretStore } from './secrets/file.js';
import type { SecretStore } from './secrets/types.js';
import { DcosReferenceRegistry, DcosSecretStore, createDcosSecretStore, sameDcosConfig } from './secrets/dcos/index.js';
import { StateStore } from './state/store.js';
import { VolumeProxy, type ProxyObserver } from './proxy/volume-proxy.js';
import { createPluginServer, listenPlugin, systemdListenFd } from './plugin/server.js';
import type { Endpoint } from './plugin/protocol.js';

export function createSecretStore(config: Readonly<Config>, logger: Logger): SecretStore {
  if (config.secrets.kind === 'file') return new FileSecretStore(config.secrets.dir, { basePath: config.secretsBasePath });
  return createDcosSecretStore(config.secrets.dcos, logger.child({ component: 'dcos' }));
}

/**
 * Whether a reload may keep the running secret store. Not JSON: a password and a key serialise
 * redacted, so a rotated one would compare equal and the old credential stay in use.
 */
function sameSecretStore(a: Readonly<Config>, b: Readonly<Config>): boolean {
  if (a.secrets.kind === 'dcos' && b.secrets.kind === 'dcos') return sameDcosConfig(a.secrets.dcos, b.secrets.dcos);
  // The file store enforces the base path itself: a new base needs a new store.
  return (
    a.secrets.kind === 'file' && b.secrets.kind === 'file' && a.secrets.dir === b.secrets.dir && a.secretsBasePath === b.secretsBasePath
  );
}

export interface StartOptions {
  observer?: ProxyObserver;
  /** Use an fd from systemd instead of binding the socket (default: from LISTEN_FDS). */
  listenFd?: number;
  /** A secret store to use instead of the configured one (tests, embedding). */
  secrets?: SecretStore;
  /** Longest wait for in-flight requests on close (default 10 s). */
  drainMs?: number;
  /**
   * With `--fleet-config`: how to build the whole configuration again with the fleet document (the
   * CLI's loader). Without it the document is not read.
   */
  fleet?: Pick<FleetConfigOptions, 'build' | 'random'> & {
    /** Longest wait for the first read before the socket listens (default FLEET_FIRST_WAIT_MS). */
    firstWaitMs?: number;
  };
}

/**
 * The proxy listens once the fleet document is in force, or after this long with the YAML file's
 * sections (DC/OS slow or down: the document is applied when it comes).
 */
export const FLEET_FIRST_WAIT_MS = 5_000;

/** One configuration's worth of request-path objects. A reload builds a new one and swaps it in. */
interface Generation {
  config: Readonly<Config>;
  verifier: TokenVerifier;
  secrets: SecretStore;
  backend: BackendClient;
  proxy: VolumeProxy;
}

/** Settings that a reload cannot change: the process would have to give up its socket or state. */
const RESTART_ONLY: Array<[keyof Config, OptionKey]> = [
  ['socket', 'socket'],
  ['socketGroup', 'socketGroup'],
  ['stateDir', 'stateDir'],
  ['backendUrl', 'backend'],
  ['adminListen', 'adminListen'],
  ['fleetConfig', 'fleetConfig'],
];

/** Everything a running proxy is made of, so it can be inspected (admin, doctor), reloaded and stopped. */
export class RunningProxy {
  private gen: Generation;
  /** Generations replaced by a reload whose secret store may still serve in-flight calls. */
  private readonly retired: Generation[] = [];
  /** The fleet document's reader (--fleet-config), if any. */
  private fleetConfig: FleetConfig | undefined;

  private constructor(
    gen: Generation,
    readonly server: http.Server,
    readonly state: StateStore,
    readonly logger: Logger,
    private readonly opts: StartOptions,
    readonly localDriver?: LocalDriver,
  ) {
    this.gen = gen;
  }

  get config(): Readonly<Config> {
    return this.gen.config;
  }
  get proxy(): VolumeProxy {
    return this.gen.proxy;
  }
  get verifier(): TokenVerifier {
    return this.gen.verifier;
  }
  get secrets(): SecretStore {
    return this.gen.secrets;
  }
  get backend(): BackendClient {
    return this.gen.backend;
  }
  get fleet(): FleetConfig | undefined {
    return this.fleetConfig;
  }

  static async start(config: Readonly<Config>, logger: Logger, opts: StartOptions = {}): Promise<RunningProxy> {
    const { store: state, movedAside } = await StateStore.open(path.join(config.stateDir, 'state.json'));
    if (movedAside)
      logger.error(
        { file: movedAside },
        'the state file was unreadable and was moved aside; volumes created with -o token_secret need their reference again',
      );
    let localDriver: LocalDriver | undefined;
    if (config.backend.kind === 'local') {
      // The embedded driver checks tokens like pxd does; it trusts the issuers of the start-up configuration.
      const driverVerifier = new TokenVerifier({ ...config.verifier, cacheSize: 0 });
      localDriver = new LocalDriver({
        dir: config.backend.dir,
        verify: (t) => driverVerifier.verify(t),
        logger: logger.child({ component: 'local-driver' }),
      });
      await localDriver.start();
    }
    const gen = RunningProxy.build(config, logger, state, opts, localDriver);
    // Each request runs on the generation current when it arrived: a reload never changes a request midway.
    const server = createPluginServer({ handle: (ep: Endpoint, body: Buffer) => self.gen.proxy.handle(ep, body) }, (e) =>
      logger.error({ err: e }, 'unhandled error in a plugin request'),
    );
    const self = new RunningProxy(gen, server, state, logger, opts, localDriver);
    try {
      if (config.fleetConfig && opts.fleet) {
        self.fleetConfig = self.readFleet(config.fleetConfig, opts.fleet);
        await self.fleetConfig.start(opts.fleet.firstWaitMs ?? FLEET_FIRST_WAIT_MS);
      }
      await listenPlugin(server, { socketPath: config.socket, group: config.socketGroup, fd: opts.listenFd ?? systemdListenFd() });
    } catch (e) {
      self.fleetConfig?.stop();
      await self.gen.backend.close();
      await self.gen.secrets.close();
      await localDriver?.close();
      throw e;
    }
    // Log in to the secret store now, once the socket answers: a burst of first Mounts then waits
    // for one secret read only, and a bad CA or credential shows in the log before any request.
    if (!opts.secrets) gen.secrets.warm?.();
    return self;
  }

  /** The fleet document, read through the secret store in use, applied through reload(). */
  private readFleet(path: string, o: NonNullable<StartOptions['fleet']>): FleetConfig {
    return new FleetConfig({
      path,
      intervalSec: () => this.config.fleetConfigIntervalSec,
      read: (p, signal) => {
        const store = this.secrets;
        if (!(store instanceof DcosSecretStore)) return Promise.reject(new Error('the fleet document needs the DC/OS secret store'));
        return store.readDocument(p, signal);
      },
      build: o.build,
      apply: (c) => this.reload(c),
      logger: this.logger.child({ component: 'fleet-config' }),
      ...(o.random ? { random: o.random } : {}),
    });
  }

  private static build(
    config: Readonly<Config>,
    logger: Logger,
    state: StateStore,
    opts: StartOptions,
    localDriver: LocalDriver | undefined,
    reuse?: Generation,
  ): Generation {
    const verifier = new TokenVerifier(config.verifier);
    const sameSecrets = reuse !== undefined && sameSecretStore(reuse.config, config);
    const secrets = opts.secrets ?? (sameSecrets ? reuse.secrets : createSecretStore(config, logger));
    // A store made by a reload logs in at once (at start, once the socket listens: see start()).
    if (reuse && !opts.secrets && !sameSecrets) secrets.warm?.();
    const backend =
      reuse?.backend ??
      (localDriver
        ? new BackendClient(localDriver.socketPath, `local driver at ${localDriver.socketPath}`)
        : new BackendClient((config.backend as { socketPath: string }).socketPath, config.backendUrl));
    // The cluster's memory of -o token_secret references lives beside the secrets it names.
    const registry =
      secrets instanceof DcosSecretStore && config.referencesPath ? new DcosReferenceRegistry(secrets, config.referencesPath) : undefined;
    const proxy = new VolumeProxy({
      ...(registry ? { registry } : {}),
      settings: {
        mountsRoot: config.mountsRoot,
        backendTimeoutMs: config.backendTimeoutMs,
        secretsBasePath: config.secretsBasePath,
        scope: config.scope,
        policy: config.policy,
        volumeSecrets: config.volumeSecrets,
      },
      verifier,
      secrets,
      backend,
      state,
      logger,
      observer: opts.observer,
    });
    return { config, verifier, secrets, backend, proxy };
  }

  /**
   * Swap in a new configuration (SIGHUP). Keys and issuers, policy, base path, claims and timeouts
   * change at once; requests already running finish on the old ones. A configuration that cannot be
   * built is refused and the old one kept. Returns the problems, empty on success.
   */
  reload(config: Readonly<Config>): string[] {
    const problems: string[] = [];
    for (const [key, optionKey] of RESTART_ONLY) {
      if (JSON.stringify(config[key]) === JSON.stringify(this.gen.config[key])) continue;
      problems.push(`${flagName(option(optionKey)) ?? optionKey} cannot change while running: restart the proxy for it`);
    }
    if (problems.length) return problems;
    let next: Generation;
    try {
      next = RunningProxy.build(config, this.logger, this.state, this.opts, this.localDriver, this.gen);
    } catch (e) {
      return [(e as Error).message];
    }
    const old = this.gen;
    this.gen = next;
    // Old clients may still serve in-flight calls: close them once Docker's longest call is over.
    if (old.secrets !== next.secrets) {
      this.retired.push(old);
      setTimeout(() => void old.secrets.close().catch(() => undefined), 130_000).unref();
    }
    return [];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fleetConfig?.stop();
    // Stop accepting; idle keep-alive connections close now, in-flight requests get a bounded drain.
    const drained = new Promise<void>((r) => this.server.close(() => r()));
    await Promise.race([drained, new Promise((r) => setTimeout(r, this.opts.drainMs ?? 10_000).unref())]);
    this.server.closeAllConnections();
    await this.state.flush();
    await this.gen.backend.close();
    await this.gen.secrets.close();
    for (const r of this.retired) await r.secrets.close().catch(() => undefined);
    await this.localDriver?.close();
  }

  private closed = false;
}
