import path from 'node:path';
import type http from 'node:http';
import type { Logger } from 'pino';
import type { Config } from './config/load.js';
import { TokenVerifier } from './tokens/verify.js';
import { BackendClient } from './backend/client.js';
import { LocalDriver } from './backend/local/driver.js';
import { FileSecretStore } from './secrets/file.js';
import type { SecretStore } from './secrets/types.js';
import { createDcosSecretStore } from './secrets/dcos/index.js';
import { StateStore } from './state/store.js';
import { VolumeProxy, type ProxyObserver } from './proxy/volume-proxy.js';
import { createPluginServer, listenPlugin, systemdListenFd } from './plugin/server.js';

/** Everything a running proxy is made of, so it can be inspected (admin, doctor) and stopped. */
export interface RunningProxy {
  config: Readonly<Config>;
  proxy: VolumeProxy;
  server: http.Server;
  backend: BackendClient;
  secrets: SecretStore;
  state: StateStore;
  verifier: TokenVerifier;
  localDriver?: LocalDriver;
  close(): Promise<void>;
}

export function createSecretStore(config: Readonly<Config>, logger: Logger): SecretStore {
  if (config.secrets.kind === 'file') return new FileSecretStore(config.secrets.dir);
  return createDcosSecretStore(config.secrets.dcos, logger.child({ component: 'dcos' }));
}

export interface StartOptions {
  observer?: ProxyObserver;
  /** Use an fd from systemd instead of binding the socket (default: from LISTEN_FDS). */
  listenFd?: number;
  /** A secret store to use instead of the configured one (tests, embedding). */
  secrets?: SecretStore;
  /** Longest wait for in-flight requests on close (default 10 s). */
  drainMs?: number;
}

export async function startProxy(config: Readonly<Config>, logger: Logger, opts: StartOptions = {}): Promise<RunningProxy> {
  const verifier = new TokenVerifier(config.verifier);
  const secrets = opts.secrets ?? createSecretStore(config, logger);
  const { store: state, movedAside } = await StateStore.open(path.join(config.stateDir, 'state.json'));
  if (movedAside) logger.error({ file: movedAside }, 'the state file was unreadable and was moved aside; volumes created with -o token_secret need their reference again');

  let localDriver: LocalDriver | undefined;
  let backend: BackendClient;
  if (config.backend.kind === 'local') {
    // The embedded driver checks tokens like pxd does; it shares the proxy's trusted issuers.
    const driverVerifier = new TokenVerifier({ ...config.verifier, cacheSize: 0 });
    localDriver = new LocalDriver({ dir: config.backend.dir, verify: (t) => driverVerifier.verify(t), logger: logger.child({ component: 'local-driver' }) });
    await localDriver.start();
    backend = new BackendClient(localDriver.socketPath, `local driver at ${localDriver.socketPath}`);
  } else {
    backend = new BackendClient(config.backend.socketPath, config.backendUrl);
  }

  const proxy = new VolumeProxy({
    settings: {
      mountsRoot: config.mountsRoot,
      backendTimeoutMs: config.backendTimeoutMs,
      secretsBasePath: config.secretsBasePath,
      scope: config.scope,
      policy: config.policy,
    },
    verifier,
    secrets,
    backend,
    state,
    logger,
    observer: opts.observer,
  });
  const server = createPluginServer(proxy, (e) => logger.error({ err: e }, 'unhandled error in a plugin request'));
  const fd = opts.listenFd ?? systemdListenFd();
  await listenPlugin(server, { socketPath: config.socket, group: config.socketGroup, fd });

  let closed = false;
  return {
    config,
    proxy,
    server,
    backend,
    secrets,
    state,
    verifier,
    localDriver,
    async close() {
      if (closed) return;
      closed = true;
      // Stop accepting; idle keep-alive connections close now, in-flight requests get a bounded drain.
      const drained = new Promise<void>((r) => server.close(() => r()));
      await Promise.race([drained, new Promise((r) => setTimeout(r, opts.drainMs ?? 10_000).unref())]);
      server.closeAllConnections();
      await state.flush();
      await backend.close();
      await secrets.close();
      await localDriver?.close();
    },
  };
}
