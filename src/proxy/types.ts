/** What the volume proxy is built from, and the few facts its parts share. */
import type { Logger } from 'pino';
import type { Endpoint } from '../plugin/protocol.js';
import type { PxdOperation } from '../volume-name/index.js';
import type { TokenSource, VerifiedToken } from '../tokens/types.js';
import type { Operation } from '../operations.js';
import type { PolicyConfig } from '../policy/types.js';
import type { ReferenceRegistry, SecretStore } from '../secrets/types.js';
import type { BackendClient } from '../backend/client.js';
import type { StateStore } from '../state/store.js';

export interface Verifier {
  verify(token: string, ctx?: { source?: TokenSource }): Promise<VerifiedToken>;
}

/**
 * allow: the operation was done. deny: refused, by the proxy (token, policy, bad input) or by pxd.
 * error: it could not be decided or done (a store or pxd unreachable, state not written).
 */
export type Verdict = 'allow' | 'deny' | 'error';

/** Counters the admin listener exposes; all optional so the proxy runs without them. */
export interface ProxyObserver {
  request?(endpoint: Endpoint, outcome: string, seconds: number): void;
  decision?(operation: Operation, decision: Verdict, reason: string): void;
  backend?(endpoint: Endpoint, outcome: string, seconds: number): void;
}

export interface ProxySettings {
  mountsRoot: string;
  backendTimeoutMs: number;
  secretsBasePath?: string;
  /** Overrides the backend's Capabilities scope. */
  scope?: 'global' | 'local';
  policy: PolicyConfig;
  volumeSecrets?: ReadonlyArray<{ volumes: readonly string[]; secretPath: string }>;
}

export interface ProxyDeps {
  settings: ProxySettings;
  verifier: Verifier;
  secrets: SecretStore;
  /** The cluster's volume references (DC/OS store only). */
  registry?: ReferenceRegistry;
  backend: BackendClient;
  state: StateStore;
  logger: Logger;
  observer?: ProxyObserver;
  now?: () => number;
}

export type Reply = Record<string, unknown>;

/** The calls that need a token, and the operation each is. */
export const AUTHENTICATED: Partial<Record<Endpoint, Operation & PxdOperation>> = {
  'VolumeDriver.Create': 'create',
  'VolumeDriver.Remove': 'remove',
  'VolumeDriver.Mount': 'mount',
};

/** Docker gives Create and Mount 2 minutes and the rest 1: finish well inside, with a clear Err. */
export function budgetMs(endpoint: Endpoint): number {
  return endpoint === 'VolumeDriver.Create' || endpoint === 'VolumeDriver.Mount' ? 110_000 : 55_000;
}
