/**
 * The DC/OS Secret Store as a SecretStore: cache (single-flight, TTL, stale-if-error) → auth token
 * (login, renewal) → GET, with one re-login and retry after a 401.
 */
import type { Dispatcher } from 'undici';
import { ProxyError } from '../../errors.js';
import { SingleFlight } from '../../lib/single-flight.js';
import { SecretCache, type SecretCacheOptions, type SecretCacheStats, type SecretLoader } from '../cache.js';
import type { SecretRead, SecretStore, SecretStoreStats } from '../types.js';
import { DcosClient } from './client.js';
import { describeDcosConfig, type DcosConfig } from './config.js';
import { silentLogger, type DcosLogger } from './log.js';
import { DcosAuth } from './login.js';

/** The start-up login of every agent lands at a random moment within this window (see warm()). */
export const WARM_JITTER_MS = 10_000;

export interface DcosSecretStoreOptions {
  logger?: DcosLogger;
  /** Milliseconds since epoch; tests move it (token exp, renewal, cache TTL, backoff, outage durations). */
  now?: () => number;
  /** [0, 1): renewal jitter. */
  random?: () => number;
  /** Run the auth token renewal timer (default true). */
  renewTimer?: boolean;
  /** Longest random delay of the background login at start (default WARM_JITTER_MS; 0: at once). */
  warmJitterMs?: number;
  /** Use this undici dispatcher instead of an own Agent built from the config's TLS settings. */
  dispatcher?: Dispatcher;
}

export class DcosSecretStore implements SecretStore {
  readonly description: string;
  readonly config: DcosConfig;
  readonly auth: DcosAuth;
  readonly client: DcosClient;
  readonly #cache: SecretCache;
  /** The proxy's own records (volume references): no expiry of their own, so TTL and staleness bound them. */
  readonly #records: SecretCache;
  readonly #random: () => number;
  readonly #warmJitterMs: number;
  readonly #now: () => number;
  readonly #log: DcosLogger;
  #ready: { value: boolean; until: number } | undefined;
  readonly #readyFlight = new SingleFlight<boolean>();
  #closed = false;

  constructor(config: DcosConfig, options: DcosSecretStoreOptions = {}) {
    this.config = config;
    this.description = describeDcosConfig(config);
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#warmJitterMs = options.warmJitterMs ?? WARM_JITTER_MS;
    this.#log = options.logger ?? silentLogger;
    const uid = config.login.uid;
    if (config.insecure) {
      this.#log.warn(
        { url: config.url, uid },
        'TLS VERIFICATION OF DC/OS IS DISABLED (--dcos-insecure): the DC/OS password or service account login and every secret can be intercepted. Use --dcos-ca-file with the cluster CA instead',
      );
    }
    this.client = new DcosClient({
      url: config.url,
      loginUrl: config.loginUrl,
      uid,
      caPem: config.caPem,
      caFile: config.caFile,
      insecure: config.insecure,
      timeoutMs: config.timeoutSec * 1000,
      readBudgetMs: config.readBudgetSec * 1000,
      now: this.#now,
      logger: this.#log,
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
    this.auth = new DcosAuth({
      login: config.login,
      transport: this.client,
      loginUrl: this.client.loginUrl,
      now: this.#now,
      logger: this.#log,
      backoffMs: config.loginBackoffSec * 1000,
      ...(options.random ? { random: options.random } : {}),
      ...(options.renewTimer !== undefined ? { renewTimer: options.renewTimer } : {}),
    });
    // Secrets and the proxy's own records share the cache settings; records carry no exp of their own.
    const cache = (what: string, loader: SecretLoader, expiry?: Pick<SecretCacheOptions, 'expiryOf'>): SecretCache =>
      new SecretCache(loader, {
        ttlMs: config.cacheTtlSec * 1000,
        maxStaleMs: config.maxStaleSec * 1000,
        maxEntries: config.cacheMaxEntries,
        loadTimeoutMs: config.readBudgetSec * 1000,
        now: this.#now,
        ...expiry,
        onStale: ({ path, code, ageMs }) =>
          this.#log.debug({ url: config.url, path, code, ageMs }, `serving a cached ${what} while DC/OS fails`),
      });
    this.#cache = cache('secret', (path, signal) => this.#fetch(path, signal));
    this.#records = cache('record', (path, signal) => this.#fetchRecord(path, signal), { expiryOf: () => undefined });
    const given = config.credentialLoginEndpoint;
    if (given !== undefined && config.loginUrlFrom === 'credential' && given.startsWith('http:')) {
      this.#log.warn(
        { uid, credentialLoginEndpoint: given, loginUrl: config.loginUrl },
        "the service account credential's login_endpoint is http:// (made without create-sa-secret --strict); logging in over https:// at the same address instead",
      );
    } else if (given !== undefined && config.loginUrlFrom === 'cluster-url' && given !== config.loginUrl) {
      this.#log.info(
        { uid, credentialLoginEndpoint: given, loginUrl: config.loginUrl },
        "logging in through the configured DC/OS cluster URL, not the credential's login_endpoint",
      );
    }
    this.#log.info(
      {
        url: config.url,
        uid,
        login: config.login.kind,
        loginUrl: config.loginUrl,
        ca: config.caFile ?? (config.insecure ? 'none (insecure)' : 'default trust store'),
      },
      'DC/OS secret store configured',
    );
  }

  read(path: string, signal?: AbortSignal): Promise<SecretRead> {
    if (this.#closed)
      return Promise.reject(new ProxyError('SECRET_STORE_UNAVAILABLE', 'the DC/OS secret store is closed', { secretPath: path }));
    return this.#cache.get(path, signal);
  }

  /** Log in now (the readiness probe), instead of on the first read. */
  /**
   * Log in in the background, at a random moment within WARM_JITTER_MS: when a whole fleet starts at
   * once, its logins spread over that window instead of landing on the IAM in the same second. A
   * request that needs DC/OS before then logs in at once.
   */
  warm(): void {
    if (this.#closed) return;
    const delay = Math.floor(this.#random() * this.#warmJitterMs);
    if (delay <= 0) void this.ready();
    else setTimeout(() => void (this.#closed ? undefined : this.ready()), delay).unref();
  }

  peek(path: string): SecretRead | undefined {
    return this.#closed ? undefined : this.#cache.peek(path);
  }

  invalidate(path: string): void {
    this.#cache.invalidate(path);
  }

  /** The cache's counters, the logins (successful and failed) and the soonest exp (Unix s) among cached tokens. */
  stats(): SecretCacheStats & SecretStoreStats {
    const { loginsOk, loginFailures } = this.auth.status();
    const soonest = this.#cache.soonestExpiryMs();
    return {
      ...this.#cache.stats(),
      logins: loginsOk,
      loginFailures,
      ...(soonest !== undefined ? { soonestExpiry: Math.floor(soonest / 1000) } : {}),
    };
  }

  /** Whether login works (reused for a few seconds; never throws). During an outage it tries a fresh login. */
  ready(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    const now = this.#now();
    if (this.#ready && now < this.#ready.until) return Promise.resolve(this.#ready.value);
    return this.#readyFlight.join('ready', () =>
      this.#probe().then((value) => {
        this.#ready = { value, until: this.#now() + this.config.readyCacheSec * 1000 };
        return value;
      }),
    ).promise;
  }

  async #probe(): Promise<boolean> {
    try {
      const signal = AbortSignal.timeout(this.config.timeoutSec * 1000);
      if (this.client.failingSince !== undefined) await this.auth.refresh(signal);
      else await this.auth.token(signal);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.auth.close();
    this.#cache.clear();
    this.#records.clear();
    await this.client.close();
  }

  /** One uncached read: auth token, GET; after a 401 one re-login and one retry. */
  async #fetch(path: string, signal: AbortSignal): Promise<string> {
    const reply = await this.#authorized(`reading secret ${path}`, path, (token) => this.client.getSecret(path, token, signal), signal);
    return reply.value;
  }

  /** A call with the auth token; after a 401 one re-login and one retry, and a refused fresh token is remembered. */
  async #authorized<R extends { kind: string }>(
    what: string,
    path: string,
    call: (token: string) => Promise<R | { kind: 'unauthorized' }>,
    signal?: AbortSignal,
  ): Promise<R> {
    let token = await this.auth.token(signal);
    let reply = await call(token);
    if (reply.kind === 'unauthorized') {
      this.auth.invalidate(token);
      token = await this.auth.token(signal);
      reply = await call(token);
      if (reply.kind === 'unauthorized') {
        const check = 'check that the clocks of this host and of the DC/OS masters agree';
        // Remembered without the path: the reads that fail fast after it are about other secrets too.
        this.auth.refused(
          token,
          new ProxyError(
            'SECRET_STORE_LOGIN_FAILED',
            `DC/OS at ${this.config.url} refused an auth token of ${this.auth.uid} right after issuing it (HTTP 401); ${check}`,
            { uid: this.auth.uid, status: 401 },
          ),
        );
        throw new ProxyError(
          'SECRET_STORE_LOGIN_FAILED',
          `DC/OS at ${this.config.url} refused a freshly issued auth token of ${this.auth.uid} while ${what} (HTTP 401); ${check}`,
          { secretPath: path, uid: this.auth.uid, status: 401 },
        );
      }
    }
    return reply as R;
  }

  /**
   * One of the proxy's own records (a JSON text), cached like secrets (TTL, single-flight,
   * stale-if-error): undefined when there is none.
   */
  async readRecord(path: string, signal?: AbortSignal): Promise<SecretRead | undefined> {
    if (this.#closed) throw new ProxyError('SECRET_STORE_UNAVAILABLE', 'the DC/OS secret store is closed', { secretPath: path });
    try {
      return await this.#records.get(path, signal);
    } catch (e) {
      if (e instanceof ProxyError && e.code === 'SECRET_NOT_FOUND' && e.details.secretPath === path && e.details.absent === true)
        return undefined;
      throw e;
    }
  }

  /**
   * A document read whole and never cached (the fleet configuration: a change must be seen at the next
   * read, and a failure must not serve an old text as new): its text, or undefined when there is none.
   */
  async readDocument(path: string, signal?: AbortSignal): Promise<string | undefined> {
    if (this.#closed) throw new ProxyError('SECRET_STORE_UNAVAILABLE', 'the DC/OS secret store is closed', { secretPath: path });
    const budget = AbortSignal.timeout(this.config.readBudgetSec * 1000);
    const s = signal ? AbortSignal.any([signal, budget]) : budget;
    const reply = await this.#authorized(`reading document ${path}`, path, (token) => this.client.getDocument(path, token, s), s);
    return reply.kind === 'absent' ? undefined : reply.value;
  }

  /** Create a record unless one exists; `exists` leaves the existing one as it is. */
  async createRecord(path: string, value: string, signal?: AbortSignal): Promise<'created' | 'exists'> {
    const reply = await this.#authorized(
      `creating record ${path}`,
      path,
      (token) => this.client.createRecord(path, value, token, signal),
      signal,
    );
    this.#records.invalidate(path);
    return reply.kind as 'created' | 'exists';
  }

  async deleteRecord(path: string, signal?: AbortSignal): Promise<'deleted' | 'absent'> {
    const reply = await this.#authorized(`deleting record ${path}`, path, (token) => this.client.deleteRecord(path, token, signal), signal);
    this.#records.invalidate(path);
    return reply.kind as 'deleted' | 'absent';
  }

  /** Forget a cached record (it was just found to be out of date). */
  forgetRecord(path: string): void {
    this.#records.invalidate(path);
  }

  async #fetchRecord(path: string, signal: AbortSignal): Promise<string> {
    const reply = await this.#authorized(`reading record ${path}`, path, (token) => this.client.getRecord(path, token, signal), signal);
    // Not cached: a record created on another agent must be seen at once.
    if (reply.kind === 'absent') throw new ProxyError('SECRET_NOT_FOUND', `no record at ${path}`, { secretPath: path, absent: true });
    return reply.value!;
  }
}
