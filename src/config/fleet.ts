/**
 * The fleet document (`--fleet-config`): one text in the DC/OS Secret Store with the `policy`,
 * `issuers` and `volumeSecrets` of every agent. It is read at start and then every interval (±10 %,
 * so that a fleet does not read in the same second). When its text changed, the configuration is
 * built again with it (loadConfig: the YAML file's schema and checks, the document's sections in place
 * of the file's) and handed to the running proxy's reload, which drops no request. A document that
 * does not build is refused: the running configuration stays, one error line says why, and status()
 * tells /readyz. The document's text is never logged: it may hold an issuer's shared secret.
 */
import { createHash } from 'node:crypto';
import type { Config, FleetDocument, LoadResult } from './load.js';

/** What /readyz shows of the fleet document. */
export interface FleetStatus {
  path: string;
  /** The document read last is the one in force, and nothing failed since. */
  ok: boolean;
  /**
   * `applied`: the document's sections are in force; `absent`: there is no document, the YAML file's
   * sections are; `pending`: not read yet, the YAML file's sections are.
   */
  state: 'pending' | 'applied' | 'absent';
  /** The document in force: the first 12 hex digits of its SHA-256 (`sha256sum fleet.yaml`), and since when. */
  version?: string;
  appliedAt?: string;
  /** The last time the document was read. */
  lastReadAt?: string;
  /** Why the document is not in force, or could not be read: named, never quoted. */
  problem?: string;
  /** Since when that is so. */
  since?: string;
}

/** The outcome of one refresh: the configuration now running when it changed, or why nothing changed. */
export interface FleetRefresh {
  config?: Readonly<Config>;
  problems: string[];
}

export interface FleetLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface FleetConfigOptions {
  /** The document's Secret Store path. */
  path: string;
  /** The interval between reads, from the configuration running now. */
  intervalSec: () => number;
  /** The document's text, or undefined when there is none (404). */
  read: (path: string, signal: AbortSignal) => Promise<string | undefined>;
  /** The whole configuration, with the document's sections (undefined: the YAML file's alone). */
  build: (fleet: FleetDocument | undefined) => LoadResult | Promise<LoadResult>;
  /** Swap it in (RunningProxy.reload): the problems, empty when it runs. */
  apply: (config: Readonly<Config>) => string[];
  logger: FleetLogger;
  now?: () => number;
  /** [0, 1): the jitter of the interval. */
  random?: () => number;
}

/** A read that failed is tried again sooner (5 s, 10 s, 20 s... up to the interval): the file's sections may be in force meanwhile. */
const RETRY_FIRST_SEC = 5;
const JITTER = 0.1;

/** The document's version as /readyz and the log show it: a prefix of its SHA-256, enough to tell versions apart across agents. */
export function versionOf(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 12);
}

export class FleetConfig {
  readonly path: string;
  readonly #o: FleetConfigOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  /** The document in the running configuration (none: the YAML file's sections). */
  #inForce: { text?: string; version?: string; at?: number } = {};
  #state: FleetStatus['state'] = 'pending';
  #lastReadAt: number | undefined;
  #failure: { text: string; since: number } | undefined;
  #absentSince: number | undefined;
  /** The last refusal or read failure logged loudly, so that an unchanged one is not logged every interval. */
  #logged: string | undefined;
  #failedReads = 0;
  #chain: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #abort = new AbortController();

  constructor(options: FleetConfigOptions) {
    this.#o = options;
    this.path = options.path;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** The name problems are given under. */
  get documentName(): string {
    return `fleet document ${this.path}`;
  }

  /**
   * The first read, awaited at most `waitMs` (the proxy then serves with the document already in force
   * when DC/OS answers in time), and the periodic reads after it.
   */
  async start(waitMs: number): Promise<void> {
    const first = this.refresh(false).then(() => this.#schedule());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([first, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  /**
   * Read the document and apply it when it changed; with `force` (SIGHUP) build and apply in any case,
   * with the document in force when it cannot be read. One refresh at a time.
   */
  refresh(force: boolean): Promise<FleetRefresh> {
    const run = this.#chain.then(() => this.#refresh(force));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  status(): FleetStatus {
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
    const absent =
      this.#state === 'absent'
        ? {
            text: `no document at ${this.path}: the YAML file's policy, issuers and volumeSecrets apply`,
            since: this.#absentSince!,
          }
        : undefined;
    const problem = this.#failure ?? absent;
    return {
      path: this.path,
      ok: problem === undefined && this.#state !== 'pending',
      state: this.#state,
      ...(this.#inForce.version !== undefined ? { version: this.#inForce.version, appliedAt: iso(this.#inForce.at) } : {}),
      ...(this.#lastReadAt !== undefined ? { lastReadAt: iso(this.#lastReadAt) } : {}),
      ...(problem ? { problem: problem.text, since: iso(problem.since) } : {}),
    };
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort.abort();
  }

  #schedule(): void {
    if (this.#stopped) return;
    const interval = this.#o.intervalSec();
    const base = this.#failedReads > 0 ? Math.min(interval, RETRY_FIRST_SEC * 2 ** (this.#failedReads - 1)) : interval;
    const delayMs = base * 1000 * (1 - JITTER + 2 * JITTER * this.#random());
    this.#timer = setTimeout(
      () =>
        void this.refresh(false)
          .catch(() => undefined)
          .then(() => this.#schedule()),
      delayMs,
    );
    this.#timer.unref();
  }

  async #refresh(force: boolean): Promise<FleetRefresh> {
    if (this.#stopped) return { problems: [] };
    let text: string | undefined;
    try {
      text = await this.#o.read(this.path, this.#abort.signal);
    } catch (e) {
      if (this.#stopped) return { problems: [] };
      const problem = `cannot read the ${this.documentName}: ${(e as Error).message}`;
      this.#failedReads++;
      this.#fail(problem);
      const keeps =
        this.#state === 'pending'
          ? "the YAML file's policy, issuers and volumeSecrets apply until it is read"
          : 'the running configuration is kept';
      this.#loud('warn', problem, { fleetConfig: this.path, problem }, `the fleet document could not be read; ${keeps}`);
      if (!force) return { problems: [problem] };
      // SIGHUP: the files again, with the document in force.
      return this.#build(this.#inForce.text, false);
    }
    this.#failedReads = 0;
    this.#lastReadAt = this.#now();
    return this.#build(text, true, force);
  }

  /** Build with `text` (undefined: no document) and apply it if it differs from the one in force, or if forced. */
  async #build(text: string | undefined, read: boolean, force = true): Promise<FleetRefresh> {
    const version = text === undefined ? undefined : versionOf(text);
    const changed = version !== this.#inForce.version;
    if (!changed && !force) {
      this.#settled();
      return { problems: [] };
    }
    let result: FleetRefresh;
    try {
      const built = await this.#o.build(text === undefined ? undefined : { name: this.documentName, text });
      const problems = built.config ? this.#o.apply(built.config) : built.problems;
      result = problems.length ? { problems } : { config: built.config!, problems: [] };
    } catch (e) {
      result = { problems: [(e as Error).message] };
    }
    if (this.#stopped) return result;
    if (result.problems.length) {
      // A refused document: the running configuration stays. (A forced rebuild of the same document
      // that fails is SIGHUP's to report: the problem is in the files, the document read is in force.)
      if (read && !changed) this.#settled();
      if (changed && read) {
        const what = text === undefined ? `the removal of the ${this.documentName}` : `the ${this.documentName} (version ${version})`;
        this.#fail(`${what} was refused: ${result.problems.join('; ')}`);
        this.#loud(
          'error',
          `${version}:${result.problems.join('\n')}`,
          { fleetConfig: this.path, version, problems: result.problems },
          'the fleet document was refused; the running configuration is kept',
        );
      }
      return result;
    }
    if (changed) {
      this.#inForce = { text, version, at: this.#now() };
      if (version !== undefined) this.#o.logger.info({ fleetConfig: this.path, version }, 'fleet document applied');
    }
    if (read) this.#settled();
    return result;
  }

  /** The document read last is the one in force. */
  #settled(): void {
    const absent = this.#inForce.version === undefined;
    if (absent && this.#state !== 'absent') {
      this.#absentSince = this.#now();
      this.#o.logger.warn(
        { fleetConfig: this.path },
        `there is no fleet document at ${this.path}: the YAML file's policy, issuers and volumeSecrets apply (create it: dcos security secrets create -f fleet.yaml ${this.path})`,
      );
    }
    this.#state = absent ? 'absent' : 'applied';
    this.#failure = undefined;
    this.#logged = undefined;
  }

  #fail(text: string): void {
    this.#failure = { text, since: this.#failure?.since ?? this.#now() };
  }

  /** An error or warning once for each new problem; the same one again at debug level. */
  #loud(level: 'warn' | 'error', key: string, fields: object, msg: string): void {
    if (this.#logged === key) {
      this.#o.logger.debug(fields, msg);
      return;
    }
    this.#logged = key;
    this.#o.logger[level](fields, msg);
  }
}
