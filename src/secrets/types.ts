/** Contract of a secret store: the raw value of one secret, or a ProxyError with a SECRET_* code. */

export interface SecretRead {
  /** Trimmed text value (a token). Never log it. */
  value: string;
  /** true when served from cache while the store was failing (stale-if-error). */
  stale?: boolean;
}

export interface SecretStore {
  /** Short description for logs and `doctor` (`file:/dir`, `dcos https://master.mesos as pwx-proxy`). */
  readonly description: string;
  /**
   * Read the secret at an already-resolved path (no leading or trailing `/`, no `..`).
   * Throws ProxyError with codes SECRET_NOT_FOUND, SECRET_FORBIDDEN, SECRET_NOT_TEXT, SECRET_EMPTY,
   * SECRET_STORE_UNAVAILABLE, SECRET_STORE_TIMEOUT, SECRET_STORE_LOGIN_FAILED, SECRET_STORE_TLS.
   */
  read(path: string, signal?: AbortSignal): Promise<SecretRead>;
  /** A fresh cached value, without any I/O (the hot path's shortcut); undefined means: read() it. */
  peek?(path: string): SecretRead | undefined;
  /** Forget a cached value (e.g. the token in it failed verification). */
  invalidate?(path: string): void;
  /** Cache and login counters for /metrics, when the store keeps any. */
  stats?(): SecretStoreStats;
  /**
   * Get ready in the background (log in), so that the first read waits for the read alone. Called
   * once when the proxy starts with this store; never throws, failures are logged by the store.
   */
  warm?(): void;
  /** Whether the store is usable now (readiness); must not throw. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

export interface SecretStoreStats {
  hits: number;
  misses: number;
  stale: number;
  logins?: number;
  loginFailures?: number;
  /** Unix time (s) of the soonest exp among cached tokens. */
  soonestExpiry?: number;
}

/** Which token secret a volume was created with, as the cluster remembers it. Never a token. */
export interface VolumeReference {
  secretPath: string;
  /** The username claim of the token that created the volume. */
  subject?: string;
  /** ISO time of the Create. */
  createdAt?: string;
}

/**
 * The cluster's memory of volume references (the DC/OS Secret Store), shared by every agent: a
 * volume created with -o token_secret on one agent can be mounted on any other.
 */
export interface ReferenceRegistry {
  /** For logs and doctor: where the records live. */
  readonly description: string;
  /** The record of a volume (cached, single-flight, stale-if-error); undefined when there is none. */
  get(volume: string, signal?: AbortSignal): Promise<{ reference: VolumeReference; stale: boolean } | undefined>;
  /** Record a volume unless a record exists; the existing record is returned either way. */
  createIfAbsent(volume: string, reference: VolumeReference): Promise<{ created: boolean; existing: VolumeReference }>;
  /** Delete a volume's record (none is fine). */
  remove(volume: string): Promise<void>;
}
